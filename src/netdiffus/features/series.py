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
    Inter-arrival times (seconds) between the first ``length + 1`` packets in capture order (0 for
    a packet stamped before its predecessor); zero padded.
``sequence``
    Joint packet sequences: the first ``length`` packets, two channels generated together.
    Channel 0 ``size``: the IP length signed by direction, as ``sizes`` (positive *from* the host /
    flow initiator, negative *to* it); channel 1 ``iat``: the packet's gap to the packet before it
    in seconds, as ``iat`` measures gaps (0 for the first packet, and for one stamped before its
    predecessor). Position ``k`` is packet ``k``: its time from the trace's first packet is the
    sum of the gaps up to ``k``. Zero padded in both channels; a real packet never has size 0, so
    a size of 0 marks the padding.

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

import mmap
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np

from netdiffus.errors import ConfigError

__all__ = [
    "Feature",
    "FEATURES",
    "SEQUENCE_CHANNELS",
    "TraceUnit",
    "TRACE_UNITS",
    "Transport",
    "TRANSPORTS",
    "Direction",
    "DIRECTION_ROWS",
    "SeriesSpec",
    "SeriesBuilder",
    "TraceTable",
    "TraceStats",
    "LOG_PACKETS",
    "LOG_TRACE_BYTES",
    "mapped_zeros",
    "parse_duration",
    "SIZE_EDGES",
    "OFFSET_EDGES",
    "histogram_json",
]

#: What a series holds (see the module docstring).
Feature = Literal["bytes", "packets", "sizes", "iat", "sequence"]
FEATURES: tuple[Feature, ...] = get_args(Feature)
#: What one trace of a capture is (see :mod:`netdiffus.io.assembly`).
TraceUnit = Literal["flow", "host", "file"]
TRACE_UNITS: tuple[TraceUnit, ...] = get_args(TraceUnit)
#: The channels of a ``sequence`` series: signed IP length (bytes), gap to the previous packet (s).
SEQUENCE_CHANNELS: tuple[str, str] = ("size", "iat")
#: Transport classes counted per trace, in this order.
Transport = Literal["tcp", "udp", "other"]
TRANSPORTS: tuple[Transport, ...] = get_args(Transport)
#: The one direction convention: "up" is from the host / flow initiator, "down" is to it.
Direction = Literal["up", "down"]
#: The direction of channel k of a split series and of row k of ``TraceStats.size_hist``
#: (the row of a packet is ``int(up)``).
DIRECTION_ROWS: tuple[Direction, Direction] = ("down", "up")

#: Edges (bytes) of the packet-size histograms: 8-byte bins up to 1520, then one bin to 65536.
SIZE_EDGES = np.concatenate([np.arange(0, 1521, 8), [65536]]).astype(np.int64)
#: Edges of the intra-bin arrival-offset histograms (fraction of the bin width).
OFFSET_EDGES = np.linspace(0.0, 1.0, 21)

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
    feature : {"bytes", "packets", "sizes", "iat", "sequence"}
    bin_width_s : float
        Bin width in seconds (``bytes`` and ``packets``; ignored otherwise).
    length : int
        T: bins kept from the first packet (``bytes``, ``packets``) or packets kept (``sizes``,
        ``iat``, ``sequence``). Shorter traces are zero padded, longer ones truncated.
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
        return 2 if self.split_direction or self.feature == "sequence" else 1

    @property
    def unit(self) -> str:
        """Unit of one value: ``bytes``, ``packets`` or ``seconds`` (``sequence``: ``bytes,seconds``,
        the unit of each channel, see :attr:`channel_units`)."""
        return ",".join(dict.fromkeys(self.channel_units))

    @property
    def channel_units(self) -> list[str]:
        """The unit of each channel (``["bytes", "seconds"]`` for ``sequence``)."""
        if self.feature == "sequence":
            return ["bytes", "seconds"]
        one = {"bytes": "bytes", "packets": "packets", "sizes": "bytes", "iat": "seconds"}[self.feature]
        return [one] * self.n_channels

    @property
    def signed_by_direction(self) -> bool:
        """True when the direction of packets matters (split channels or signed sizes)."""
        return self.split_direction or self.feature in ("sizes", "sequence")

    def data_length(self, *, n_packets: int, first_ns: int, last_ns: int) -> int:
        """How many values of a trace's series hold data, the rest being padding (at most ``length``).

        Packets kept (``sizes``, ``sequence``), gaps kept (``iat``: one fewer than the packets),
        or bins from the first packet's to the last packet's (``bytes``, ``packets``: an empty bin
        inside that span is silence, not padding).

        >>> spec = SeriesSpec(feature="bytes", bin_width_s=0.5, length=8)
        >>> spec.data_length(n_packets=3, first_ns=0, last_ns=1_200_000_000)   # bins 0, 1, 2
        3
        >>> SeriesSpec(feature="iat", length=8).data_length(n_packets=3, first_ns=0, last_ns=5)
        2
        >>> SeriesSpec(feature="sequence", length=8).data_length(n_packets=100, first_ns=0, last_ns=5)
        8
        """
        if self.binned:
            n = (max(last_ns - first_ns, 0) // self.bin_ns + 1) if n_packets else 0
        else:
            n = max(n_packets - 1, 0) if self.feature == "iat" else n_packets
        return int(min(n, self.length))

    def channels(self, *, unit: TraceUnit) -> list[str]:
        """Channel names, e.g. ``["bytes"]``, ``["bytes_to_host", "bytes_from_host"]`` or, for
        ``sequence``, ``["size", "iat"]``."""
        if self.feature == "sequence":
            return list(SEQUENCE_CHANNELS)
        if not self.split_direction:
            return [self.feature]
        who = "initiator" if unit == "flow" else "host"
        return [f"{self.feature}_to_{who}", f"{self.feature}_from_{who}"]


@dataclass
class TraceStats:
    """A finished trace: its series and the statistics kept for the exporter.

    Attributes
    ----------
    series : ndarray [C, length] float32
    n_packets : int
        Packets of the trace (all of them, also those past the series' end).
    first_ns, last_ns : int
        Times of the first and last packet (ns).
    size_hist : ndarray [2, len(SIZE_EDGES) - 1] int32
        Sizes of the packets in the series, row 0 down (to), row 1 up (from): see
        :data:`DIRECTION_ROWS`.
    offset_hist : ndarray [len(OFFSET_EDGES) - 1] int32
        Arrival offsets within their bin (binned features only).
    transport : ndarray [3] int64
        Packets of the series per transport (tcp, udp, other).
    """

    series: np.ndarray
    n_packets: int
    first_ns: int
    last_ns: int
    size_hist: np.ndarray
    offset_hist: np.ndarray
    transport: np.ndarray


_N_SIZE = len(SIZE_EDGES) - 1
_N_OFFSET = len(OFFSET_EDGES) - 1


def _size_bin(length: np.ndarray) -> np.ndarray:
    """Index in SIZE_EDGES of each length (8-byte bins, the last one from 1520 up)."""
    return np.minimum(length // 8, _N_SIZE - 1)


def mapped_zeros(shape: tuple[int, ...], dtype: type | np.dtype) -> np.ndarray:
    """Zeros of ``shape``; from 1 MiB up in their own anonymous memory map.

    Long-lived tables are allocated so: their pages are taken only when written, and given back
    to the system when the array is freed, never left in the heap among short-lived objects
    (where a freed table keeps the process's memory from shrinking).

    >>> mapped_zeros((3, 2), np.int64).tolist()
    [[0, 0], [0, 0], [0, 0]]
    """
    dt = np.dtype(dtype)
    size = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
    if size < 1 << 20:
        return np.zeros(shape, dt)
    return np.frombuffer(mmap.mmap(-1, size), dt).reshape(shape)


#: Packets a trace keeps in a short log before it gets a full row of series values and histograms
#: (a scan's flows, most DNS exchanges and many handshakes end within it).
LOG_PACKETS = 4
#: Bytes of the state of one open trace before it needs a full row (see :class:`TraceTable`).
LOG_TRACE_BYTES = 3 * 8 + 4 + 1 + 1 + LOG_PACKETS * (8 + 4 + 1 + 2)
#: Traces whose logs are turned into series at once when they close (bounds that step's memory).
_CLOSE_CHUNK = 1024


class _Rows:
    """Full per-trace state, one *row* per trace that needs it: series values, histograms."""

    def __init__(self, spec: SeriesSpec, capacity: int) -> None:
        self.spec = spec
        self._free: list[int] = []
        self._size = 0
        self._cap = 0
        self.arrays: dict[str, np.ndarray] = {}
        self._grow(max(capacity, 1))

    def _fields(self) -> dict[str, tuple[tuple[int, ...], type]]:
        spec = self.spec
        return {
            "values": ((spec.n_channels, spec.length) if spec.feature != "iat" else (0,), np.float64),
            "filled": ((), np.int64),
            "seq_ts": ((_timed_packets(spec),), np.int64),
            "size_hist": ((2, _N_SIZE), np.int32),
            "offset_hist": ((_N_OFFSET,), np.int32),
            "transport": ((len(TRANSPORTS),), np.int64),
        }

    @property
    def row_bytes(self) -> int:
        """Bytes of one row."""
        return sum(int(np.prod(shape, dtype=np.int64)) * np.dtype(dt).itemsize
                   for shape, dt in self._fields().values())

    @property
    def n_used(self) -> int:
        return self._size - len(self._free)

    def _grow(self, cap: int) -> None:
        new = {k: mapped_zeros((cap, *shape), dtype) for k, (shape, dtype) in self._fields().items()}
        for k, a in self.arrays.items():
            new[k][: len(a)] = a
        self.arrays, self._cap = new, cap

    def take(self, n: int) -> np.ndarray:
        """``n`` zeroed rows."""
        reuse = [self._free.pop() for _ in range(min(n, len(self._free)))]
        fresh = n - len(reuse)
        if self._size + fresh > self._cap:
            self._grow(max(2 * self._cap, self._size + fresh))
        out = np.array(reuse + list(range(self._size, self._size + fresh)), np.int64)
        self._size += fresh
        return out

    def give_back(self, rows: np.ndarray) -> None:
        for a in self.arrays.values():
            a[rows] = 0
        self._free.extend(np.asarray(rows).tolist())

    def series(self, row: int) -> np.ndarray:
        a, spec = self.arrays, self.spec
        if spec.feature == "iat":
            out = np.zeros((1, spec.length), np.float64)
            k = max(int(a["filled"][row]) - 1, 0)
            # capture order; a packet stamped before its predecessor gives 0, not a negative gap
            out[0, :k] = np.maximum(np.diff(a["seq_ts"][row, : k + 1]), 0) / 1e9
            return out.astype(np.float32)
        if spec.feature == "sequence":  # the gap of packet k is to packet k - 1 (0 for the first)
            out = a["values"][row].copy()
            k = int(a["filled"][row])
            out[1, 1:k] = np.maximum(np.diff(a["seq_ts"][row, :k]), 0) / 1e9
            return out.astype(np.float32)
        return a["values"][row].astype(np.float32)

    def add(self, *, row: np.ndarray, ts_ns: np.ndarray, first_ns: np.ndarray, length: np.ndarray, up: np.ndarray,
            proto: np.ndarray) -> None:
        """Add packets (arrays [n], in capture order) to the rows ``row`` [n]; ``first_ns``: the
        time of each packet's trace's first packet (the series are aligned there)."""
        a, spec, T = self.arrays, self.spec, self.spec.length
        if spec.binned:
            rel = np.maximum(ts_ns - first_ns, 0)
            b = rel // spec.bin_ns
            keep = b < T
            if not keep.all():
                row, rel, b, length, up, proto = row[keep], rel[keep], b[keep], length[keep], up[keep], proto[keep]
            ch = up.astype(np.int64) if spec.split_direction else 0
            w = length.astype(np.float64) if spec.feature == "bytes" else 1.0
            np.add.at(a["values"].reshape(-1), (row * spec.n_channels + ch) * T + b, w)
            frac = (rel - b * spec.bin_ns) * _N_OFFSET // spec.bin_ns
            np.add.at(a["offset_hist"], (row, np.minimum(frac, _N_OFFSET - 1)), 1)
        else:
            room = T + 1 if spec.feature == "iat" else T
            pos = a["filled"][row] + _rank(row)
            keep = pos < room
            if not keep.all():
                row, pos, ts_ns = row[keep], pos[keep], ts_ns[keep]
                length, up, proto = length[keep], up[keep], proto[keep]
            if spec.feature in ("sizes", "sequence"):
                a["values"][row, 0, pos] = np.where(up, length, -length)
            if spec.feature in ("iat", "sequence"):
                a["seq_ts"][row, pos] = ts_ns
            np.maximum.at(a["filled"], row, pos + 1)
        np.add.at(a["size_hist"], (row, up.astype(np.int64), _size_bin(length)), 1)
        np.add.at(a["transport"], (row, np.where(proto == 6, 0, np.where(proto == 17, 1, 2))), 1)


def _timed_packets(spec: SeriesSpec) -> int:
    """Packet times a row keeps: ``length + 1`` for ``iat`` (gaps between them), ``length`` for
    ``sequence`` (a gap per packet), none for the other features."""
    return {"iat": spec.length + 1, "sequence": spec.length}.get(spec.feature, 0)


def _rank(key: np.ndarray) -> np.ndarray:
    """The rank of each element among the equal elements before it (``[5, 7, 5] -> [0, 0, 1]``)."""
    n = len(key)
    order = np.argsort(key, kind="stable")
    k = key[order]
    head = np.ones(n, bool)
    head[1:] = k[1:] != k[:-1]
    starts = np.flatnonzero(head)
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n) - np.repeat(starts, np.diff(np.append(starts, n)))
    return rank


class TraceTable:
    """Series of many traces at once, one *slot* per open trace, updated batch by batch.

    All the packets of a batch, whatever trace they belong to, are added with a few numpy calls
    (:meth:`add`), so the cost per packet stays flat however many flows are open. A slot is taken
    with :meth:`open` and given back with :meth:`close` (or :meth:`close_many`), which returns the
    trace's :class:`TraceStats`. Each trace is aligned at its first packet; a packet earlier than
    that (out of order in the capture) falls in bin 0.

    Memory: a trace keeps its first :data:`LOG_PACKETS` packets in a short log,
    :data:`LOG_TRACE_BYTES` bytes a slot; from its next packet on it has a full row (the series
    and the histograms), :attr:`row_bytes` more, about ``8 C T + 1.6 KB``. Most flows of a scan
    or of DNS traffic never need the row.
    """

    def __init__(self, spec: SeriesSpec, capacity: int = 64) -> None:
        self.spec = spec
        self._free: list[int] = []
        self._size = 0
        self._cap = 0
        self._light: dict[str, np.ndarray] = {}
        self._grow(max(capacity, 1))
        self._rows = _Rows(spec, min(max(capacity, 1), 64))

    def _grow(self, cap: int) -> None:
        k = LOG_PACKETS
        fields: dict[str, tuple[tuple[int, ...], type]] = {
            "first_ns": ((), np.int64), "last_ns": ((), np.int64), "n_packets": ((), np.int64),
            "row": ((), np.int32), "nlog": ((), np.int8), "in_use": ((), bool),
            "log_ts": ((k,), np.int64), "log_len": ((k,), np.int32), "log_up": ((k,), bool),
            "log_proto": ((k,), np.int16),
        }
        new = {name: mapped_zeros((cap, *shape), dt) for name, (shape, dt) in fields.items()}
        new["row"][:] = -1
        for name, a in self._light.items():
            new[name][: len(a)] = a
        self._light, self._cap = new, cap

    @property
    def row_bytes(self) -> int:
        """Bytes of the full row a trace gets past its first :data:`LOG_PACKETS` packets."""
        return self._rows.row_bytes

    @property
    def n_open(self) -> int:
        """Traces open now."""
        return self._size - len(self._free)

    @property
    def n_rows(self) -> int:
        """Open traces that hold a full row."""
        return self._rows.n_used

    def state_bytes(self) -> int:
        """Bytes of the state of the open traces (logs and rows; not the spare capacity)."""
        return self.n_open * LOG_TRACE_BYTES + self.n_rows * self.row_bytes

    def open(self, *, full: bool = False) -> int:
        """A free slot (zeroed) for a new trace; ``full``: with its full row from the start."""
        if self._free:
            slot = self._free.pop()
        else:
            if self._size == self._cap:
                self._grow(self._cap * 2)
            slot = self._size
            self._size += 1
        self._light["in_use"][slot] = True
        if full:
            self._light["row"][slot] = self._rows.take(1)[0]
        return slot

    def idle_slots(self, before_ns: int) -> np.ndarray:
        """Open slots whose last packet is older than ``before_ns``."""
        a = self._light
        n = self._size
        return np.flatnonzero(a["in_use"][:n] & (a["last_ns"][:n] < before_ns) & (a["n_packets"][:n] > 0))

    def oldest_slots(self, k: int) -> np.ndarray:
        """The ``k`` open slots whose last packet is oldest (no order among them)."""
        a = self._light
        n = self._size
        open_ = np.flatnonzero(a["in_use"][:n] & (a["n_packets"][:n] > 0))
        if k >= len(open_):
            return open_
        return open_[np.argpartition(a["last_ns"][open_], k)[:k]]

    def n_packets(self, slot: int) -> int:
        return int(self._light["n_packets"][slot])

    @property
    def first_ns(self) -> np.ndarray:
        return self._light["first_ns"]

    @property
    def last_ns(self) -> np.ndarray:
        return self._light["last_ns"]

    def close(self, slot: int) -> TraceStats:
        """Finish the trace in ``slot``: its stats; the slot is zeroed and reusable."""
        return self.close_many(np.array([slot], np.int64))[0]

    def close_many(self, slots: np.ndarray | Sequence[int]) -> list[TraceStats]:
        """Finish the traces in ``slots`` (distinct): their stats, in that order; the slots are reusable."""
        slots = np.asarray(slots, np.int64)
        out: list[TraceStats | None] = [None] * len(slots)
        rows = self._light["row"][slots].astype(np.int64)
        full = np.flatnonzero(rows >= 0)
        for i in full.tolist():
            out[i] = self._stats(int(slots[i]), int(rows[i]), self._rows)
        if len(full):
            self._rows.give_back(rows[full])
        logged = np.flatnonzero(rows < 0)
        for c in range(0, len(logged), _CLOSE_CHUNK):
            part = logged[c : c + _CLOSE_CHUNK]
            scratch = _Rows(self.spec, len(part))
            self._replay(slots[part], np.arange(len(part)), scratch)
            for j, i in enumerate(part.tolist()):
                out[i] = self._stats(int(slots[i]), j, scratch)
        for a in self._light.values():
            a[slots] = 0
        self._light["row"][slots] = -1
        self._free.extend(slots.tolist())
        return out  # type: ignore[return-value]  # every entry is set above

    def _stats(self, slot: int, row: int, rows: _Rows) -> TraceStats:
        a, r = self._light, rows.arrays
        return TraceStats(series=rows.series(row), n_packets=int(a["n_packets"][slot]),
                          first_ns=int(a["first_ns"][slot]), last_ns=int(a["last_ns"][slot]),
                          size_hist=r["size_hist"][row].copy(), offset_hist=r["offset_hist"][row].copy(),
                          transport=r["transport"][row].copy())

    def _replay(self, slots: np.ndarray, rows: np.ndarray, into: _Rows) -> None:
        """Add the logged packets of ``slots`` to ``rows`` of ``into`` (in their order)."""
        a = self._light
        nlog = a["nlog"][slots].astype(np.int64)
        valid = np.arange(LOG_PACKETS)[None, :] < nlog[:, None]
        if not valid.any():
            return
        into.add(row=np.repeat(rows, nlog), ts_ns=a["log_ts"][slots][valid],
                 first_ns=np.repeat(a["first_ns"][slots], nlog), length=a["log_len"][slots][valid].astype(np.int64),
                 up=a["log_up"][slots][valid], proto=a["log_proto"][slots][valid].astype(np.int64))

    def add(self, *, slot: np.ndarray, ts_ns: np.ndarray, length: np.ndarray, up: np.ndarray,
            proto: np.ndarray) -> None:
        """Add packets (arrays [n], in capture order) to the traces in ``slot`` [n].

        Parameters
        ----------
        slot : int64 slot of each packet; ts_ns : int64 nanoseconds; length : IP bytes;
        up : bool, True from the host / initiator; proto : IP protocol number (-1 non-IP)
        """
        n = len(ts_ns)
        if n == 0:
            return
        a = self._light
        slot = np.asarray(slot, np.int64)
        ts_ns, length = np.asarray(ts_ns, np.int64), np.asarray(length, np.int64)
        up, proto = np.asarray(up, bool), np.asarray(proto, np.int64)
        order = np.argsort(slot, kind="stable")
        s_sorted = slot[order]
        head = np.ones(n, bool)
        head[1:] = s_sorted[1:] != s_sorted[:-1]
        starts = np.flatnonzero(head)
        counts = np.diff(np.append(starts, n))
        here = s_sorted[starts]
        rank = np.empty(n, np.int64)
        rank[order] = np.arange(n) - np.repeat(starts, counts)
        new = a["n_packets"][here] == 0
        a["first_ns"][here[new]] = ts_ns[order[starts[new]]]
        batch_last = np.maximum.reduceat(ts_ns[order], starts)
        a["last_ns"][here] = np.where(new, batch_last, np.maximum(a["last_ns"][here], batch_last))
        a["n_packets"][here] += counts
        # a trace whose log overflows gets its full row, its logged packets first
        promote = (a["row"][here] < 0) & (a["nlog"][here].astype(np.int64) + counts > LOG_PACKETS)
        if promote.any():
            grown = here[promote]
            rows = self._rows.take(len(grown))
            self._replay(grown, rows, self._rows)
            a["row"][grown] = rows
            for name in ("nlog", "log_ts", "log_len", "log_up", "log_proto"):
                a[name][grown] = 0
        row = a["row"][slot].astype(np.int64)
        full = row >= 0
        if full.any():
            self._rows.add(row=row[full], ts_ns=ts_ns[full], first_ns=a["first_ns"][slot[full]], length=length[full],
                           up=up[full], proto=proto[full])
        if not full.all():
            lg = ~full
            s = slot[lg]
            pos = a["nlog"][s].astype(np.int64) + rank[lg]
            a["log_ts"][s, pos] = ts_ns[lg]
            a["log_len"][s, pos] = length[lg]
            a["log_up"][s, pos] = up[lg]
            a["log_proto"][s, pos] = proto[lg]
            np.maximum.at(a["nlog"], s, (pos + 1).astype(np.int8))


class SeriesBuilder:
    """The series of one trace: a :class:`TraceTable` with a single slot (with its full row).

    Attributes (read-only views): ``n_packets``, ``first_ns``, ``last_ns``, ``size_hist``,
    ``offset_hist``, ``transport`` as in :class:`TraceStats`.
    """

    def __init__(self, spec: SeriesSpec) -> None:
        self.spec = spec
        self._table = TraceTable(spec, capacity=1)
        self._slot = self._table.open(full=True)
        self._row = int(self._table._light["row"][self._slot])

    def add(self, *, ts_ns: np.ndarray, length: np.ndarray, up: np.ndarray, proto: np.ndarray) -> None:
        """Add packets of this trace (arrays [n], in capture order); see :meth:`TraceTable.add`."""
        self._table.add(slot=np.full(len(ts_ns), self._slot, np.int64), ts_ns=ts_ns, length=length, up=up,
                        proto=proto)

    def _light(self, name: str) -> int:
        return int(self._table._light[name][self._slot])

    def _full(self, name: str) -> np.ndarray:
        return self._table._rows.arrays[name][self._row]

    n_packets = property(lambda self: self._light("n_packets"))
    first_ns = property(lambda self: self._light("first_ns"))
    last_ns = property(lambda self: self._light("last_ns"))
    size_hist = property(lambda self: self._full("size_hist"))
    offset_hist = property(lambda self: self._full("offset_hist"))
    transport = property(lambda self: self._full("transport"))

    def series(self) -> np.ndarray:
        """The series, ``[C, length]`` float32 in :attr:`SeriesSpec.unit`."""
        return self._table._rows.series(self._row)


def histogram_json(counts: np.ndarray, edges: np.ndarray) -> dict[str, list]:
    """``{"edges": [...], "counts": [...]}`` with plain Python numbers (JSON-ready)."""
    return {"edges": [float(e) if isinstance(e, np.floating) else int(e) for e in edges],
            "counts": [int(c) for c in counts]}
