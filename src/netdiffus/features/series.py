"""One trace's packets -> one fixed-length series (the features of ``netdiffus prepare``).

A trace is a sequence of packets (time, IP length, direction, transport). :class:`SeriesBuilder`
accumulates them, batch by batch, into a series of ``length`` values per channel, aligned at the
first packet of the trace:

``bytes``
    Bytes per bin (IP total length summed over the packets whose arrival falls in the bin).
``packets``
    Packets per bin.
``sizes``
    IP lengths of the first ``length`` packets, positive *from* the host / flow initiator ("up"),
    negative *to* it ("down"); zero padded.
``iat``
    Inter-arrival times (seconds) between the first ``length + 1`` packets; zero padded.

With ``split_direction`` the binned features get two channels: channel 0 the traffic *to* the
host (device) or flow initiator ("down"), channel 1 the traffic *from* it ("up"); names
``<feature>_to_host`` / ``<feature>_from_host`` (unit host or file) or ``<feature>_to_initiator`` /
``<feature>_from_initiator`` (unit flow).

Each builder also keeps what the pcap exporter needs to turn series back into packets: a histogram
of IP packet sizes per direction (:data:`SIZE_EDGES`), a histogram of arrival offsets within a bin
as a fraction of the bin width (:data:`OFFSET_EDGES`) and packet counts per transport. Only the
packets that enter the series are counted (inside the ``length`` bins, or the first ``length``
packets).

Examples
--------
>>> import numpy as np
>>> spec = SeriesSpec(feature="bytes", bin_width_s=0.5, length=4, split_direction=True)
>>> b = SeriesBuilder(spec)
>>> ts = np.array([0, 100, 600, 1700], dtype=np.int64) * 1_000_000    # ms -> ns
>>> b.add(ts_ns=ts, length=np.array([100, 40, 60, 1500]), up=np.array([True, False, True, True]),
...       proto=np.array([6, 6, 6, 17]))
>>> b.series().tolist()
[[40.0, 0.0, 0.0, 0.0], [100.0, 60.0, 0.0, 1500.0]]
>>> spec.channels(unit="host")
['bytes_to_host', 'bytes_from_host']
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from netdiffus.errors import ConfigError

__all__ = [
    "Feature",
    "SeriesSpec",
    "SeriesBuilder",
    "parse_duration",
    "SIZE_EDGES",
    "OFFSET_EDGES",
    "histogram_json",
]

Feature = Literal["bytes", "packets", "sizes", "iat"]
FEATURES: tuple[str, ...] = ("bytes", "packets", "sizes", "iat")
TraceUnit = Literal["flow", "host", "file"]

#: Edges (bytes) of the packet-size histograms: 8-byte bins up to 1520, then one bin to 65536.
SIZE_EDGES = np.concatenate([np.arange(0, 1521, 8), [65536]]).astype(np.int64)
#: Edges of the intra-bin arrival-offset histograms (fraction of the bin width).
OFFSET_EDGES = np.linspace(0.0, 1.0, 21)
#: Transport classes counted per trace, in this order.
TRANSPORTS = ("tcp", "udp", "other")

_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ns|us|ms|s|m|min)?\s*$")
_UNIT_S = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "min": 60.0, None: 1.0}


def parse_duration(value: str | float, *, name: str = "bin_width") -> float:
    """Seconds in ``value``: a number (seconds) or a string such as ``"100ms"``, ``"0.5s"``, ``"2"``.

    >>> parse_duration("100ms"), parse_duration("0.5s"), parse_duration(2)
    (0.1, 0.5, 2.0)
    """
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        m = _DURATION.match(value)
        if not m:
            raise ConfigError(f"{name} must be a duration such as 100ms or 0.5s (got {value!r})")
        seconds = float(m.group(1)) * _UNIT_S[m.group(2)]
    if not seconds > 0 or not np.isfinite(seconds):
        raise ConfigError(f"{name} must be > 0 (got {value!r})")
    return seconds


@dataclass(frozen=True)
class SeriesSpec:
    """What series to build from a trace.

    Parameters
    ----------
    feature : {"bytes", "packets", "sizes", "iat"}
    bin_width_s : float
        Bin width in seconds (``bytes`` and ``packets``; ignored otherwise).
    length : int
        T: bins kept from the first packet (``bytes``, ``packets``) or packets kept (``sizes``,
        ``iat``). Shorter traces are zero padded, longer ones truncated.
    split_direction : bool
        Two channels (to, from the host or initiator) for ``bytes`` and ``packets``.
    """

    feature: Feature = "bytes"
    bin_width_s: float = 0.5
    length: int = 64
    split_direction: bool = False

    def __post_init__(self) -> None:
        if self.feature not in FEATURES:
            raise ConfigError(f"feature must be one of {', '.join(FEATURES)} (got {self.feature!r})")
        if not self.bin_width_s > 0:
            raise ConfigError(f"bin_width must be > 0 (got {self.bin_width_s})")
        if self.length < 1:
            raise ConfigError(f"length must be >= 1 (got {self.length})")
        if self.split_direction and not self.binned:
            raise ConfigError(
                f"split_direction applies to the bytes and packets features (got feature {self.feature!r}; "
                "sizes are already signed by direction)"
            )

    @property
    def binned(self) -> bool:
        return self.feature in ("bytes", "packets")

    @property
    def bin_ns(self) -> int:
        return max(int(round(self.bin_width_s * 1e9)), 1)

    @property
    def n_channels(self) -> int:
        return 2 if self.split_direction else 1

    @property
    def unit(self) -> str:
        """Unit of one value: ``bytes``, ``packets`` or ``seconds``."""
        return {"bytes": "bytes", "packets": "packets", "sizes": "bytes", "iat": "seconds"}[self.feature]

    @property
    def signed_by_direction(self) -> bool:
        """True when the direction of packets matters (split channels or signed sizes)."""
        return self.split_direction or self.feature == "sizes"

    def channels(self, *, unit: TraceUnit) -> list[str]:
        """Channel names, e.g. ``["bytes"]`` or ``["bytes_to_host", "bytes_from_host"]``."""
        if not self.split_direction:
            return [self.feature]
        who = "initiator" if unit == "flow" else "host"
        return [f"{self.feature}_to_{who}", f"{self.feature}_from_{who}"]


class SeriesBuilder:
    """Accumulates the packets of one trace into its series, aligned at its first packet.

    Packets arrive in batches (:meth:`add`); a packet earlier than the first one (out of order in
    the capture) falls in bin 0.

    Attributes
    ----------
    n_packets : int
        Packets of the trace (all of them, also those past the series' end).
    first_ns, last_ns : int
        Times of the first and last packet (ns).
    size_hist : ndarray [2, len(SIZE_EDGES) - 1] int64
        Sizes of the packets in the series, row 0 down (to), row 1 up (from).
    offset_hist : ndarray [len(OFFSET_EDGES) - 1] int64
        Arrival offsets within their bin (binned features only).
    transport : ndarray [3] int64
        Packets of the series per transport (tcp, udp, other).
    """

    __slots__ = ("spec", "values", "n_packets", "first_ns", "last_ns", "size_hist", "offset_hist", "transport",
                 "_filled", "_seq_ts")

    def __init__(self, spec: SeriesSpec) -> None:
        self.spec = spec
        self.values = np.zeros((spec.n_channels, spec.length), np.float64)
        self.n_packets = 0
        self.first_ns = 0
        self.last_ns = 0
        self.size_hist = np.zeros((2, len(SIZE_EDGES) - 1), np.int64)
        self.offset_hist = np.zeros(len(OFFSET_EDGES) - 1, np.int64)
        self.transport = np.zeros(len(TRANSPORTS), np.int64)
        self._filled = 0  # values filled (sizes) or timestamps seen (iat)
        self._seq_ts = np.zeros(spec.length + 1, np.int64) if spec.feature == "iat" else None

    def add(self, *, ts_ns: np.ndarray, length: np.ndarray, up: np.ndarray, proto: np.ndarray) -> None:
        """Add packets of this trace (arrays [n], in capture order).

        Parameters
        ----------
        ts_ns : int64 nanoseconds; length : IP bytes; up : bool, True from the host / initiator;
        proto : IP protocol number (-1 for non-IP frames)
        """
        n = len(ts_ns)
        if n == 0:
            return
        if self.n_packets == 0:
            self.first_ns = int(ts_ns[0])
        self.n_packets += n
        self.last_ns = max(self.last_ns, int(ts_ns.max()))
        spec = self.spec
        if spec.binned:
            rel = ts_ns - self.first_ns
            np.maximum(rel, 0, out=rel)
            b = rel // spec.bin_ns
            keep = b < spec.length
            if not keep.any():
                return
            if not keep.all():
                b, rel, length, up, proto = b[keep], rel[keep], length[keep], up[keep], proto[keep]
            w = length.astype(np.float64) if spec.feature == "bytes" else None
            if spec.split_direction:
                for ch, mask in ((0, ~up), (1, up)):
                    if mask.any():
                        self.values[ch] += np.bincount(b[mask], None if w is None else w[mask], minlength=spec.length)
            else:
                self.values[0] += np.bincount(b, w, minlength=spec.length)
            frac = (rel - b * spec.bin_ns) / spec.bin_ns
            self.offset_hist += np.bincount(
                np.minimum((frac * (len(OFFSET_EDGES) - 1)).astype(np.int64), len(OFFSET_EDGES) - 2),
                minlength=len(OFFSET_EDGES) - 1,
            )
        else:
            room = spec.length + (1 if spec.feature == "iat" else 0) - self._filled
            if room <= 0:
                return
            ts_ns, length, up, proto = ts_ns[:room], length[:room], up[:room], proto[:room]
            k = len(ts_ns)
            if spec.feature == "sizes":
                self.values[0, self._filled : self._filled + k] = np.where(up, length, -length)
            else:
                self._seq_ts[self._filled : self._filled + k] = ts_ns
            self._filled += k
        self._count(length, up, proto)

    def _count(self, length: np.ndarray, up: np.ndarray, proto: np.ndarray) -> None:
        idx = np.searchsorted(SIZE_EDGES, length, side="right") - 1
        np.clip(idx, 0, len(SIZE_EDGES) - 2, out=idx)
        nb = len(SIZE_EDGES) - 1
        self.size_hist += np.bincount(idx + nb * up.astype(np.int64), minlength=2 * nb).reshape(2, nb)
        cls = np.where(proto == 6, 0, np.where(proto == 17, 1, 2))
        self.transport += np.bincount(cls, minlength=3)

    def series(self) -> np.ndarray:
        """The series, ``[C, length]`` float32 in :attr:`SeriesSpec.unit`."""
        if self.spec.feature == "iat":
            out = np.zeros((1, self.spec.length), np.float64)
            k = max(self._filled - 1, 0)
            out[0, :k] = np.diff(self._seq_ts[: self._filled]) / 1e9
            return out.astype(np.float32)
        return self.values.astype(np.float32)


def histogram_json(counts: np.ndarray, edges: np.ndarray) -> dict[str, list]:
    """``{"edges": [...], "counts": [...]}`` with plain Python numbers (JSON-ready)."""
    return {"edges": [float(e) if isinstance(e, np.floating) else int(e) for e in edges],
            "counts": [int(c) for c in counts]}
