"""Series -> packet schedules: when each packet of a trace is sent, how large it is, which way.

A *schedule* is what a capture needs before any header is built: for one trace, the send time
(microseconds from the trace origin), the IP-level size (IP total length in bytes, the unit in
which ``prepare`` counts bytes per bin) and the direction of every packet.

Five series kinds are turned into schedules:

``bytes``
    Bytes per bin, one or two channels (one per direction). Every bin's integer byte count is
    split into packets whose sizes sum to it exactly: sizes are drawn from the class's packet-size
    histogram (or, without one, MTU-sized packets plus one remainder packet), always within
    ``[min_size, mtu]``. A bin holding fewer bytes than one minimal packet cannot be written as
    is; its bytes are carried into the next non-empty bin of the same channel (the trace total is
    kept), and a remainder left at the end of a trace is added to its last packets.
``packets``
    Packets per bin; sizes are drawn as above (no byte total to match).
``sizes``
    Signed packet-size sequences, one channel: ``+s`` is a packet of ``s`` bytes from the client
    (the traced device), ``-s`` one towards it, ``0`` is padding and is skipped. Sizes outside
    ``[min_size, mtu]`` are clipped into it. Packets are spaced by exponential gaps with mean
    ``packet_gap_s`` (a sizes series carries no timing).
``iat``
    Inter-arrival times in seconds, one channel: ``T`` gaps give ``T + 1`` packets from the
    client; trailing zeros are padding. Gaps are rounded to microseconds (the pcap resolution);
    sizes are drawn as for ``packets``.
``sequence``
    Joint packet sequences, two channels: each position with a non-zero size is one packet with
    its own size and direction (channel 0, signed as ``sizes``) and time (channel 1, its gap in
    seconds to the packet before it; the first packet is at the trace origin). A size of 0 is
    padding: nothing is written, its gap is not used. Each packet's time, the sum of the gaps up to
    it, is rounded to microseconds, so every time is within half a microsecond of the series',
    however long the trace; a gap that is the float32 of whole microseconds (as ``prepare`` keeps
    a capture's gaps) counts as those microseconds, so that the float32 errors of a long trace do
    not add up and a prepared capture is written back at its own times. Sizes are clipped into
    ``[min_size, mtu]``.

Inside a bin, send times follow the class's intra-bin offset histogram (arrival offset as a
fraction of the bin width) or, without one, are uniform. Times stay ``guard_us`` away from bin
edges so that any reader bins them the same way, except the first packet of a trace, which sits
exactly on the start of its bin: a reader that starts its bins at a trace's first packet then
lands on the same bin grid.

Examples
--------
>>> import numpy as np
>>> s = schedule_binned(np.array([[3000, 0, 100]]), kind="bytes", directions=[0],
...                     bin_edges_us=np.array([0, 500_000, 1_000_000, 1_500_000]),
...                     size_samplers=[None], offset_sampler=None, min_size=40, mtu=1500,
...                     control=True, rng=np.random.default_rng(0))
>>> s.size.tolist(), s.written.tolist()
([40, 1500, 1460, 60, 40], [[3000, 0, 100]])
>>> int(s.time_us[0])
0
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from netdiffus.errors import ConfigError, DatasetError
from netdiffus.features.series import FEATURES, Direction, Feature
from netdiffus.io.capture_stats import CountHistogram

__all__ = [
    "FeatureKind",
    "Histogram",
    "Schedule",
    "resolve_feature",
    "channel_directions",
    "integer_series",
    "schedule_binned",
    "schedule_sizes",
    "schedule_iat",
    "schedule_sequence",
    "gaps_us",
    "FORWARD",
    "REVERSE",
    "DIRECTION_OF",
    "check_feature",
    "GUARD_US",
]

log = logging.getLogger(__name__)

# The series kinds are those that prepare builds.
FeatureKind = Feature
FEATURE_KINDS: tuple[FeatureKind, ...] = FEATURES

#: Direction codes: FORWARD is client -> server (sent by the traced device / the initiator),
#: REVERSE is server -> client.
FORWARD = 0
REVERSE = 1
#: The direction of each code in the convention of the capture statistics ("up": from the client).
DIRECTION_OF: dict[int, Direction] = {FORWARD: "up", REVERSE: "down"}

_FORWARD_WORDS = {"up", "ul", "uplink", "upload", "out", "outgoing", "tx", "sent", "send", "from",
                  "fwd", "forward", "src", "egress", "c2s"}
_REVERSE_WORDS = {"down", "dl", "downlink", "download", "in", "incoming", "rx", "received", "recv",
                  "to", "bwd", "backward", "reverse", "dst", "ingress", "s2c"}


@dataclass
class Histogram:
    """A histogram to draw values from: ``counts[k]`` values in ``[edges[k], edges[k+1])``.

    Parameters
    ----------
    edges : ndarray, shape [K + 1]
        Increasing bucket edges.
    counts : ndarray, shape [K]
        Non-negative counts (weights), not all zero.
    """

    edges: np.ndarray
    counts: np.ndarray

    def __post_init__(self) -> None:
        self.edges = np.asarray(self.edges, dtype=np.float64)
        self.counts = np.asarray(self.counts, dtype=np.float64)
        cdf = np.cumsum(self.counts)
        self._cdf = cdf / cdf[-1]

    @classmethod
    def from_json(cls, obj: Any, *, what: str) -> Histogram:
        """Read ``{"edges": [...], "counts": [...]}``; raise :class:`DatasetError` naming ``what``."""
        return cls.of(CountHistogram.from_json(obj, what=what, allow_empty=False))

    @classmethod
    def of(cls, counts: CountHistogram) -> Histogram:
        """The histogram of kept counts (not all zero) to draw from."""
        return cls(edges=np.asarray(counts.edges), counts=np.asarray(counts.counts))

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw ``n`` values: a bucket by its count, then uniformly inside it. Shape ``[n]``."""
        u = rng.random((2, n))
        k = np.minimum(np.searchsorted(self._cdf, u[0], side="right"), len(self.counts) - 1)
        return self.edges[k] + u[1] * (self.edges[k + 1] - self.edges[k])

    def mean(self) -> float:
        mid = 0.5 * (self.edges[1:] + self.edges[:-1])
        return float((mid * self.counts).sum() / self.counts.sum())


class SizeSampler:
    """Integer IP packet sizes drawn from a histogram, bounded to ``[min_size, mtu]``."""

    def __init__(self, hist: Histogram, *, min_size: int, mtu: int) -> None:
        self.hist = hist
        self.min_size = min_size
        self.mtu = mtu
        self.mean = float(np.clip(hist.mean(), min_size, mtu))

    def __call__(self, rng: np.random.Generator, n: int) -> np.ndarray:
        x = np.floor(self.hist.sample(rng, n))
        return np.clip(x, self.min_size, self.mtu).astype(np.int64)


@dataclass
class Schedule:
    """The packets of one trace, sorted by send time.

    Attributes
    ----------
    time_us : ndarray of int64, shape [P]
        Send time in microseconds from the trace origin (start of bin 0).
    size : ndarray of int64, shape [P]
        IP total length in bytes.
    direction : ndarray of int8, shape [P]
        ``FORWARD`` (client -> server) or ``REVERSE``.
    written : ndarray of int64, shape [C, T]
        What the packets amount to per channel and bin, in the series' unit (bytes or packets per
        bin; for ``sizes``, the signed sizes written, zero where skipped).
    carried : int
        Bytes moved to another bin than their own (bins too small for one packet).
    dropped : int
        Bytes (or packets) that could not be written at all.
    """

    time_us: np.ndarray
    size: np.ndarray
    direction: np.ndarray
    written: np.ndarray
    carried: int = 0
    dropped: int = 0


# -- feature and channel resolution ------------------------------------------------------------
def check_feature(feature: object) -> None:
    """:class:`ConfigError` unless ``feature`` is one of :data:`FEATURE_KINDS`."""
    if feature not in FEATURE_KINDS:
        raise ConfigError(f"feature must be one of {', '.join(FEATURE_KINDS)} (got {feature!r})")


def resolve_feature(feature: str, override: str | None = None, *, unit: str = "", binned: bool = True) -> FeatureKind:
    """Decide how to read a dataset's series: ``bytes``, ``packets``, ``sizes``, ``iat`` or ``sequence``.

    ``override`` wins when given. Otherwise ``meta.feature`` is used as is when it is one of
    those; a CSV column name counts as bytes per bin when it contains ``sum`` or ``bytes``, as
    packets per bin when it contains ``count`` or ``pkt``; else the metadata's ``unit`` decides:
    ``packets`` per bin, ``bytes`` per bin (packet ``sizes`` when the series are not ``binned``:
    no bin width), ``seconds`` between packets (``iat``).

    >>> resolve_feature("frame_sum_dl"), resolve_feature("pkt_count_ul"), resolve_feature("bytes", "packets")
    ('bytes', 'packets', 'packets')
    >>> resolve_feature("value", unit="packets"), resolve_feature("value", unit="bytes", binned=False)
    ('packets', 'sizes')
    """
    if override is not None:
        check_feature(override)
        chosen = next(k for k in FEATURE_KINDS if k == override)
        try:
            known = resolve_feature(feature, unit=unit, binned=binned)
        except ConfigError:  # the metadata does not say: nothing to contradict
            known = chosen
        if known != chosen:
            log.warning("reading the series as %s although the dataset says they are %s%s", chosen, known,
                        "" if feature == known else f" ({feature})")
        return chosen
    name = (feature or "").lower()
    for kind in FEATURE_KINDS:
        if name == kind:
            return kind
    if "sum" in name or "bytes" in name:
        return "bytes"
    if "count" in name or "pkt" in name:
        return "packets"
    by_unit: dict[str, FeatureKind] = {"packets": "packets", "bytes": "bytes" if binned else "sizes",
                                       "seconds": "iat"}
    if unit.lower() in by_unit:
        return by_unit[unit.lower()]
    said = f" (unit {unit!r})" if unit else ""
    raise ConfigError(
        f"cannot tell whether series {feature!r}{said} are bytes, packets, sizes, iat or sequence; "
        f"pass --feature {'|'.join(FEATURE_KINDS)}"
    )


def channel_directions(channels: Sequence[str]) -> list[int]:
    """Map channel names to directions (``FORWARD`` = client -> server, ``REVERSE``).

    A name is split into words; ``up/ul/out/tx/from/sent/fwd/...`` mean forward (sent by the
    client, i.e. the traced device), ``down/dl/in/rx/to/recv/bwd/...`` mean reverse. One channel
    without such a word is forward. Two channels whose names do not decide it are read as
    ``[forward, reverse]`` in order.

    >>> channel_directions(["frame_sum_dl"]), channel_directions(["from_device", "to_device"])
    ([1], [0, 1])
    >>> channel_directions(["to_device", "from_device"]), channel_directions(["a", "b"])
    ([1, 0], [0, 1])
    """
    if len(channels) not in (1, 2):
        raise DatasetError(
            f"pcap export needs 1 or 2 channels (one per direction) (got {len(channels)}: {list(channels)})"
        )
    guesses = []
    for name in channels:
        words = set(w for w in re.split(r"[^a-z0-9]+", name.lower()) if w)
        fwd, rev = bool(words & _FORWARD_WORDS), bool(words & _REVERSE_WORDS)
        guesses.append(FORWARD if fwd and not rev else REVERSE if rev and not fwd else None)
    if len(channels) == 1:
        return [guesses[0] if guesses[0] is not None else FORWARD]
    a, b = guesses
    if a is not None and b is not None and a != b:
        return [a, b]
    if a is not None and b is None:
        return [a, 1 - a]
    if b is not None and a is None:
        return [1 - b, b]
    return [FORWARD, REVERSE]


def integer_series(series: np.ndarray, kind: FeatureKind) -> tuple[np.ndarray, int]:
    """Round float series to integers (half to even) and clip negative counts to zero (iat: as is).

    Parameters
    ----------
    series : ndarray, shape [N, C, T]
        Series in original units.
    kind : {"bytes", "packets", "sizes", "iat", "sequence"}
        Signed sizes keep their sign; bytes and packets per bin are clipped at zero; gaps (``iat``,
        channel 1 of ``sequence``) stay floats.

    Returns
    -------
    ints : ndarray of int64 (float64 for ``iat`` and ``sequence``), shape [N, C, T]
    n_clipped : int
        How many values were negative and set to zero.

    Raises
    ------
    DatasetError
        A NaN or infinite value, or one no capture can hold (a count or a gap beyond 2**53),
        naming where the first is.
    """
    x = np.asarray(series, dtype=np.float64)
    if not np.all(np.isfinite(x)):
        raise DatasetError(f"series have {int((~np.isfinite(x)).sum())} NaN or infinite values "
                           f"(first at {_where(~np.isfinite(x))})")
    gap = np.zeros(x.shape, bool)  # the values that are gaps in seconds
    if kind == "iat":
        gap[:] = True
    elif kind == "sequence":
        gap[:, 1:] = True
    huge = np.abs(x) > np.where(gap, MAX_GAP_S, MAX_VALUE)
    if huge.any():
        first = tuple(int(i) for i in np.argwhere(huge)[0])
        limit = f"{MAX_GAP_S:g} s, as pcap time ends in 2106" if gap[first] else f"{MAX_VALUE:g}"
        raise DatasetError(f"series value {x[first]:g} at {_where(huge)} is beyond what a capture can hold as {kind} "
                           f"(at most {limit}): check the series")
    if kind in ("iat", "sequence"):  # seconds: kept as floats (rounded to microseconds when written)
        return np.where(gap, x, np.rint(x)), 0
    x = np.rint(x)
    n_clipped = 0
    if kind in ("bytes", "packets"):
        neg = x < 0
        n_clipped = int(neg.sum())
        x[neg] = 0
    return x.astype(np.int64), n_clipped


#: Distance (microseconds) kept between a packet's send time and its bin's edges.
GUARD_US = 2
#: The largest count (bytes or packets per bin, a packet size) a series value may hold for export.
MAX_VALUE = float(2**53)
#: The largest gap (seconds) of an iat series: a pcap's timestamps end in 2106.
MAX_GAP_S = float(2**32)


def _where(mask: np.ndarray) -> str:
    """``trace 3, channel 0, bin 17``: where the first true value of ``mask`` [N, C, T] is."""
    n, c, t = (int(i) for i in np.argwhere(mask)[0])
    return f"trace {n}, channel {c}, bin {t}"


# -- bytes and packets per bin -----------------------------------------------------------------
def _fill_mtu(total: int, *, min_size: int, mtu: int) -> list[int]:
    """MTU-sized packets plus one remainder packet summing to ``total`` (``total >= min_size``)."""
    q, r = divmod(total, mtu)
    sizes = [mtu] * q
    if r >= min_size:
        sizes.append(r)
    elif r > 0:  # q >= 1 here: borrow from the last full packet
        sizes[-1] = mtu - (min_size - r)
        sizes.append(min_size)
    return sizes


class _SizePool:
    """Sizes drawn ahead in blocks and handed out bin by bin (one draw call per block, not per bin)."""

    def __init__(self, sampler: SizeSampler, rng: np.random.Generator) -> None:
        self.sampler = sampler
        self.rng = rng
        self.draws = np.zeros(0, np.int64)
        self.cs = np.zeros(0, np.int64)  # cumulative sums of draws[pos:]
        self.pos = 0

    def _refill(self, need_bytes: int) -> None:
        rest = self.draws[self.pos :]
        n = max(1024, int(need_bytes / self.sampler.mean * 1.2) + 8)
        self.draws = np.concatenate([rest, self.sampler(self.rng, n)])
        self.cs = np.cumsum(self.draws)
        self.pos = 0

    def draws_exactly(self, n: int) -> list[int]:
        """The next ``n`` sizes of the pool."""
        if self.pos + n > len(self.draws):
            self._refill(int(n * self.sampler.mean))
            while self.pos + n > len(self.draws):
                self._refill(int(2 * n * self.sampler.mean))
        out = self.draws[self.pos : self.pos + n].tolist()
        self.pos += n
        return out

    def take(self, total: int) -> list[int]:
        """Sizes summing exactly to ``total`` (``total >= min_size``), all in ``[min_size, mtu]``."""
        lo, hi = self.sampler.min_size, self.sampler.mtu
        while True:
            base = int(self.cs[self.pos - 1]) if self.pos else 0
            end = int(np.searchsorted(self.cs, base + total, side="right"))
            if end < len(self.draws):
                break
            self._refill(total)
        sizes = self.draws[self.pos : end].copy()
        acc = int(self.cs[end - 1]) - base if end > self.pos else 0
        self.pos = end
        r = total - acc
        if r == 0:
            return sizes.tolist()
        if r >= lo:
            out = sizes.tolist()
            out.append(r)  # r < the next draw <= mtu
            return out
        # 0 < r < min_size: spread r over packets with room below the MTU, last packets first
        room = hi - sizes
        if room.sum() >= r:
            for i in range(len(sizes) - 1, -1, -1):
                step = min(int(room[i]), r)
                sizes[i] += step
                r -= step
                if r == 0:
                    break
            return sizes.tolist()
        out = sizes.tolist()  # every packet is full: split the last one (mtu + r >= 2 * min_size)
        last = out.pop() + r
        return out + [last - lo, lo]




def _fill_drawn(total: int, sampler: SizeSampler, rng: np.random.Generator) -> list[int]:
    """Drawn sizes summing exactly to ``total`` (``total >= min_size``)."""
    return _SizePool(sampler, rng).take(total)


def schedule_binned(
    values: np.ndarray,
    *,
    kind: Literal["bytes", "packets"],
    directions: Sequence[int],
    bin_edges_us: np.ndarray,
    size_samplers: Sequence[SizeSampler | None],
    offset_sampler: Histogram | None,
    min_size: int,
    mtu: int,
    control: bool,
    rng: np.random.Generator,
    guard_us: int = GUARD_US,
) -> Schedule:
    """Packets for one trace of bytes or packets per bin.

    Parameters
    ----------
    values : ndarray of int, shape [C, T]
        Non-negative bytes (or packets) per bin, one channel per direction.
    kind : {"bytes", "packets"}
    directions : sequence of int, length C
        Direction of each channel.
    bin_edges_us : ndarray of int64, shape [T + 1]
        Bin edges in microseconds from the trace origin.
    size_samplers : sequence, length C
        Size distribution per channel, or None for MTU-sized packets.
    offset_sampler : Histogram or None
        Arrival offset within a bin as a fraction of the bin width; None for uniform.
    min_size, mtu : int
        Smallest and largest IP packet size in bytes.
    control : bool
        Prefer header-only packets (``min_size``) as the first and last packet of each direction
        (TCP SYN / SYN-ACK / FIN), when the bin's count allows it.
    rng : numpy Generator
    guard_us : int
        Distance kept from bin edges, in microseconds.
    """
    c, t = values.shape
    if len(bin_edges_us) != t + 1:
        raise ValueError(f"bin_edges_us must have T + 1 = {t + 1} entries (got {len(bin_edges_us)})")
    values = values.astype(np.int64)
    written = np.zeros((c, t), np.int64)
    times: list[np.ndarray] = []
    sizes: list[np.ndarray] = []
    dirs: list[np.ndarray] = []
    bins_of: list[np.ndarray] = []
    carried = dropped = 0
    for ch in range(c):
        sampler = size_samplers[ch]
        pool = _SizePool(sampler, rng) if sampler is not None else None
        row = values[ch]
        if not row.any():
            continue
        if kind == "packets":
            ch_sizes = _packets_in_bins(row, pool=pool, min_size=min_size, mtu=mtu, control=control)
        else:
            ch_sizes, moved, carry = _bytes_in_bins(row, pool=pool, min_size=min_size, mtu=mtu, control=control,
                                                    rng=rng)
            carried += moved
            if carry:  # bytes left at the end of the trace
                lost = _spread_leftover(ch_sizes, carry, min_size=min_size, mtu=mtu)
                dropped += lost
                carried += carry - lost
        counts = np.array([len(x) for x in ch_sizes], np.int64)
        written[ch] = counts if kind == "packets" else [sum(x) for x in ch_sizes]
        m = int(counts.sum())
        if m == 0:
            continue
        ch_times, k_of = _bin_times(counts, bin_edges_us, offset_sampler=offset_sampler, guard_us=guard_us, rng=rng)
        times.append(ch_times)
        sizes.append(np.fromiter((v for x in ch_sizes for v in x), np.int64, count=m))
        dirs.append(np.full(m, directions[ch], np.int8))
        bins_of.append(k_of)
    if not times:
        return Schedule(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int8), written, carried, dropped)
    time_us = np.concatenate(times)
    size = np.concatenate(sizes)
    direction = np.concatenate(dirs)
    _open_conversation(time_us, direction, np.concatenate(bins_of), bin_edges_us)
    order = np.argsort(time_us, kind="stable")
    return Schedule(time_us[order], size[order], direction[order], written, carried, dropped)


def _packets_in_bins(row: np.ndarray, *, pool: _SizePool | None, min_size: int, mtu: int,
                     control: bool) -> list[list[int]]:
    """The packet sizes of each bin of one channel's packets per bin ``row`` ``[T]`` (not all zero).

    With ``control``, the channel's first and last packets are header-only (SYN, FIN).
    """
    nz = np.flatnonzero(row)
    last_bin = int(nz[-1])
    first_done = False
    out: list[list[int]] = [[] for _ in range(len(row))]
    for k in nz.tolist():
        v = int(row[k])
        if v <= 0:
            continue
        s = pool.draws_exactly(v) if pool is not None else [mtu] * v
        if control:
            if k == last_bin and (len(s) > 1 or first_done):
                s[-1] = min_size  # FIN
            if not first_done:
                s[0] = min_size  # SYN / SYN-ACK
        first_done = True
        out[k] = s
    return out


def _bytes_in_bins(row: np.ndarray, *, pool: _SizePool | None, min_size: int, mtu: int, control: bool,
                   rng: np.random.Generator) -> tuple[list[list[int]], int, int]:
    """The packet sizes of each bin of one channel's bytes per bin ``row`` ``[T]`` (not all zero).

    A bin's sizes sum to its bytes exactly; a bin smaller than one packet is carried into the next
    non-empty bin. With ``control``, the channel's first and last packets are header-only when the
    bin's bytes allow it. Returns (sizes per bin, bytes carried to a later bin, bytes left over at
    the end of the row).
    """
    t = len(row)
    nz = np.flatnonzero(row)
    last_bin = int(nz[-1])
    first_done = False
    carry = carried = 0
    out: list[list[int]] = [[] for _ in range(t)]
    for k in range(int(nz[0]), t):
        b = int(row[k]) + carry
        if b == 0:
            continue
        if b < min_size:
            carry = b
            continue
        carried += carry
        carry = 0
        head: list[int] = []
        tail: list[int] = []
        if control and not first_done and (b == min_size or b >= 2 * min_size):
            head = [min_size]
            b -= min_size
        if control and k >= last_bin and (b == min_size or b >= 2 * min_size) and (b > 0):
            tail = [min_size]
            b -= min_size
        mid = [] if b == 0 else (_fill_mtu(b, min_size=min_size, mtu=mtu) if pool is None else pool.take(b))
        if len(mid) > 1:
            mid = [mid[i] for i in rng.permutation(len(mid))]
        first_done = True
        out[k] = head + mid + tail
    return out, carried, carry


def _spread_leftover(sizes: list[list[int]], carry: int, *, min_size: int, mtu: int) -> int:
    """Add ``carry`` bytes to the last packets of ``sizes`` (per bin) with room below the MTU.

    When every packet is full the last one is split in two (``mtu + carry >= 2 * min_size``).
    Returns the bytes that could not be added (the channel has no packet).
    """
    for k in range(len(sizes) - 1, -1, -1):
        s = sizes[k]
        for i in range(len(s) - 1, -1, -1):
            take = min(mtu - s[i], carry)
            s[i] += take
            carry -= take
            if carry == 0:
                return 0
    filled = [k for k in range(len(sizes)) if sizes[k]]
    if not filled:
        return carry
    last = sizes[filled[-1]].pop() + carry
    sizes[filled[-1]] += [last - min_size, min_size]
    return 0


def _bin_times(counts: np.ndarray, bin_edges_us: np.ndarray, *, offset_sampler: Histogram | None, guard_us: int,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Send times of ``counts[k]`` packets in each bin ``k`` (sorted), and the bin of each packet.

    One draw for the whole channel; sorting them all sorts each bin's times (bins are disjoint),
    and the j-th packet of a bin takes the bin's j-th time.
    """
    m = int(counts.sum())
    k_of = np.repeat(np.arange(len(counts)), counts)
    span = np.maximum(np.diff(bin_edges_us) - 2 * guard_us, 1)[k_of]
    frac = offset_sampler.sample(rng, m) if offset_sampler is not None else rng.random(m)
    frac = np.clip(frac, 0.0, np.nextafter(1.0, 0.0))
    return np.sort(bin_edges_us[k_of] + guard_us + np.floor(frac * span).astype(np.int64)), k_of


def _open_conversation(time_us: np.ndarray, direction: np.ndarray, bins: np.ndarray,
                       bin_edges_us: np.ndarray) -> None:
    """Move the trace's opening packets in place: the first sits on the start of its bin (sent
    forward when possible), and the other direction answers (SYN-ACK) before anything else there."""
    k0 = int(bins.min())
    in_k0 = np.flatnonzero(bins == k0)
    fwd = in_k0[direction[in_k0] == FORWARD]
    cand = fwd if len(fwd) else in_k0
    first = int(cand[np.argmin(time_us[cand])])
    time_us[first] = bin_edges_us[k0]
    rest = in_k0[in_k0 != first]
    other = rest[direction[rest] != direction[first]]
    if len(other):
        answer = int(other[np.argmin(time_us[other])])
        earliest = int(rest[np.argmin(time_us[rest])])
        time_us[answer], time_us[earliest] = time_us[earliest], time_us[answer]


# -- signed packet sizes -----------------------------------------------------------------------
def schedule_sizes(
    values: np.ndarray,
    *,
    min_size: int,
    mtu: int,
    packet_gap_s: float,
    rng: np.random.Generator,
) -> tuple[Schedule, int]:
    """Packets for one trace of signed packet sizes.

    Parameters
    ----------
    values : ndarray of int, shape [1, T]
        ``+s``: ``s`` bytes from the client; ``-s``: towards it; ``0``: padding (skipped).
    min_size, mtu : int
        Sizes are clipped into ``[min_size, mtu]``.
    packet_gap_s : float
        Mean gap between packets (exponential gaps, at least 1 microsecond).
    rng : numpy Generator

    Returns
    -------
    schedule : Schedule
        ``written`` holds the signed sizes actually written, shape [1, T].
    n_clipped : int
        How many sizes were clipped into ``[min_size, mtu]``.
    """
    if values.shape[0] != 1:
        raise DatasetError(f"a sizes series must have one channel (signed by direction) (got {values.shape[0]})")
    row = values[0].astype(np.int64)
    idx = np.flatnonzero(row)
    mag = np.abs(row[idx])
    clipped = np.clip(mag, min_size, mtu)
    n_clipped = int((clipped != mag).sum())
    direction = np.where(row[idx] > 0, FORWARD, REVERSE).astype(np.int8)
    gaps = np.maximum(np.round(rng.exponential(packet_gap_s * 1e6, size=len(idx))), 1).astype(np.int64)
    if len(gaps):
        gaps[0] = 0
    written = np.zeros_like(values, dtype=np.int64)
    written[0, idx] = np.where(row[idx] > 0, clipped, -clipped)
    return Schedule(np.cumsum(gaps), clipped, direction, written), n_clipped


# -- inter-arrival times -----------------------------------------------------------------------
def schedule_iat(
    values: np.ndarray,
    *,
    size_sampler: SizeSampler | None,
    min_size: int,
    mtu: int,
    control: bool,
    rng: np.random.Generator,
) -> tuple[Schedule, int]:
    """Packets for one trace of inter-arrival times.

    Parameters
    ----------
    values : ndarray of float, shape [1, T]
        Gaps in seconds between consecutive packets; trailing zeros are padding.
    size_sampler : SizeSampler or None
        Packet sizes; None for MTU-sized packets.
    min_size, mtu : int
    control : bool
        Header-only first and last packets (TCP SYN and FIN).
    rng : numpy Generator

    Returns
    -------
    schedule : Schedule
        All packets sent by the client; ``written`` holds the gaps written (seconds, float64,
        rounded to microseconds), shape [1, T].
    n_clipped : int
        Negative gaps set to zero.
    """
    if values.shape[0] != 1:
        raise DatasetError(f"an iat series must have one channel (got {values.shape[0]})")
    gaps = np.asarray(values[0], np.float64)
    n_clipped = int((gaps < 0).sum())
    gaps_us = np.rint(np.maximum(gaps, 0.0) * 1e6).astype(np.int64)
    nz = np.flatnonzero(gaps_us)
    n_gaps = int(nz[-1]) + 1 if len(nz) else 0
    time_us = np.concatenate([[0], np.cumsum(gaps_us[:n_gaps])]).astype(np.int64)
    n = len(time_us)
    size = (np.asarray(_SizePool(size_sampler, rng).draws_exactly(n), np.int64) if size_sampler is not None
            else np.full(n, mtu, np.int64))
    if control:
        size[0] = min_size
        if n > 1:
            size[-1] = min_size
    written = np.zeros(values.shape, np.float64)
    written[0, :n_gaps] = gaps_us[:n_gaps] / 1e6
    return Schedule(time_us, size, np.full(n, FORWARD, np.int8), written), n_clipped


# -- joint packet sequences --------------------------------------------------------------------
def schedule_sequence(values: np.ndarray, *, min_size: int, mtu: int) -> tuple[Schedule, int]:
    """Packets for one trace of a joint packet sequence: each with its own size, direction and time.

    Parameters
    ----------
    values : ndarray of float, shape [2, T]
        Channel 0: signed sizes (``+s``: ``s`` bytes from the client; ``-s``: towards it; ``0``:
        padding, nothing written). Channel 1: each packet's gap to the packet before it, seconds.
    min_size, mtu : int
        Sizes are clipped into ``[min_size, mtu]``.

    Returns
    -------
    schedule : Schedule
        Packet ``k`` is sent at the sum of the gaps of the packets after the first up to ``k``
        (see :func:`gaps_us`), rounded to microseconds; ``written`` [2, T] holds the signed sizes
        and the gaps written (seconds, between the rounded times; 0 for the first packet and for
        padding).
    n_clipped : int
        Sizes clipped into ``[min_size, mtu]`` and negative gaps set to 0.

    Examples
    --------
    >>> s, n = schedule_sequence(np.array([[60.0, -1500.0, 0.0, 52.0, 40.0], [0.0, 0.25, 9.0, 4e-7, 4e-7]]),
    ...                          min_size=40, mtu=1500)
    >>> s.time_us.tolist(), s.size.tolist(), s.direction.tolist(), n
    ([0, 250000, 250000, 250001], [60, 1500, 52, 40], [0, 1, 0, 0], 0)
    """
    if values.shape[0] != 2:
        raise DatasetError(f"a sequence series must have two channels (size, iat) (got {values.shape[0]})")
    signed = np.rint(np.asarray(values[0], np.float64)).astype(np.int64)
    idx = np.flatnonzero(signed)
    mag = np.abs(signed[idx])
    size = np.clip(mag, min_size, mtu)
    gaps = np.asarray(values[1, idx], np.float64)
    n_clipped = int((size != mag).sum()) + int((gaps[1:] < 0).sum())
    gaps = np.maximum(gaps, 0.0)
    if len(gaps):
        gaps[0] = 0.0  # the first packet opens the trace
    time_us = np.rint(np.cumsum(gaps_us(gaps))).astype(np.int64)
    direction = np.where(signed[idx] > 0, FORWARD, REVERSE).astype(np.int8)
    written = np.zeros(values.shape, np.float64)
    written[0, idx] = np.where(signed[idx] > 0, size, -size)
    written[1, idx] = np.diff(time_us, prepend=0) / 1e6
    return Schedule(time_us, size, direction, written), n_clipped


def gaps_us(gaps_s: np.ndarray) -> np.ndarray:
    """Gaps in seconds -> microseconds (float64), whole where a gap is the float32 of whole microseconds.

    A dataset holds gaps as float32 seconds: a capture's 0.123457 s gap is kept as the nearest
    float32, within half its float32 step of 123457 us. Such a gap is given back as exactly 123457;
    any other (a generated one) is kept as it is, so a sum of gaps is exact for a prepared
    capture and within rounding of the series for a generated one.

    >>> gaps_us(np.array([np.float32(0.123457), 0.1234567, 0.0])).tolist()
    [123457.0, 123456.7, 0.0]
    """
    us = np.asarray(gaps_s, np.float64) * 1e6
    whole = np.rint(us)
    half_step = np.spacing(np.abs(np.asarray(gaps_s, np.float64)).astype(np.float32)).astype(np.float64) * 0.5e6
    return np.where(np.abs(us - whole) <= half_step, whole, us)
