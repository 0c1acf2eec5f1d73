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
from typing import Literal, get_args

import numpy as np

from netdiffus.errors import ConfigError

__all__ = [
    "Feature",
    "FEATURES",
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
    "parse_duration",
    "SIZE_EDGES",
    "OFFSET_EDGES",
    "histogram_json",
]

#: What a series holds (see the module docstring).
Feature = Literal["bytes", "packets", "sizes", "iat"]
FEATURES: tuple[Feature, ...] = get_args(Feature)
#: What one trace of a capture is (see :mod:`netdiffus.io.assembly`).
TraceUnit = Literal["flow", "host", "file"]
TRACE_UNITS: tuple[TraceUnit, ...] = get_args(TraceUnit)
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


class TraceTable:
    """Series of many traces at once, one *slot* per open trace, updated batch by batch.

    All the packets of a batch, whatever trace they belong to, are added with a few numpy calls
    (:meth:`add`), so the cost per packet stays flat however many flows are open. A slot is taken
    with :meth:`open` and given back with :meth:`close`, which returns the trace's
    :class:`TraceStats`. Each trace is aligned at its first packet; a packet earlier than that (out
    of order in the capture) falls in bin 0. Memory: about ``(8 C T + 1.6 KB)`` per open slot.
    """

    def __init__(self, spec: SeriesSpec, capacity: int = 64) -> None:
        self.spec = spec
        self._free: list[int] = []
        self._size = 0
        self._alloc(max(capacity, 1))

    def _alloc(self, cap: int) -> None:
        spec = self.spec
        seq = spec.length + 1 if spec.feature == "iat" else spec.length
        fields = {
            "values": ((spec.n_channels, spec.length), np.float64),
            "n_packets": ((), np.int64),
            "first_ns": ((), np.int64),
            "last_ns": ((), np.int64),
            "filled": ((), np.int64),
            "seq_ts": ((seq if spec.feature == "iat" else 0,), np.int64),
            "size_hist": ((2, _N_SIZE), np.int32),
            "offset_hist": ((_N_OFFSET,), np.int32),
            "transport": ((len(TRANSPORTS),), np.int64),
            "in_use": ((), bool),
        }
        old = self.__dict__.get("_arrays")
        arrays = {k: np.zeros((cap, *shape), dtype) for k, (shape, dtype) in fields.items()}
        if old is not None:
            for k, a in old.items():
                arrays[k][: len(a)] = a
        self._arrays = arrays
        self._cap = cap

    def open(self) -> int:
        """A free slot (zeroed) for a new trace."""
        if self._free:
            slot = self._free.pop()
        else:
            if self._size == self._cap:
                self._alloc(self._cap * 2)
            slot = self._size
            self._size += 1
        self._arrays["in_use"][slot] = True
        return slot

    def idle_slots(self, before_ns: int) -> np.ndarray:
        """Open slots whose last packet is older than ``before_ns``."""
        a = self._arrays
        n = self._size
        return np.flatnonzero(a["in_use"][:n] & (a["last_ns"][:n] < before_ns) & (a["n_packets"][:n] > 0))

    def n_packets(self, slot: int) -> int:
        return int(self._arrays["n_packets"][slot])

    @property
    def first_ns(self) -> np.ndarray:
        return self._arrays["first_ns"]

    @property
    def last_ns(self) -> np.ndarray:
        return self._arrays["last_ns"]

    def close(self, slot: int) -> TraceStats:
        """Finish the trace in ``slot``: its stats; the slot is zeroed and reusable."""
        a = self._arrays
        stats = TraceStats(
            series=self._series(slot),
            n_packets=int(a["n_packets"][slot]),
            first_ns=int(a["first_ns"][slot]),
            last_ns=int(a["last_ns"][slot]),
            size_hist=a["size_hist"][slot].copy(),
            offset_hist=a["offset_hist"][slot].copy(),
            transport=a["transport"][slot].copy(),
        )
        for arr in a.values():
            arr[slot] = 0
        self._free.append(slot)
        return stats

    def _series(self, slot: int) -> np.ndarray:
        a = self._arrays
        if self.spec.feature == "iat":
            out = np.zeros((1, self.spec.length), np.float64)
            k = max(int(a["filled"][slot]) - 1, 0)
            # capture order; a packet stamped before its predecessor gives 0, not a negative gap
            out[0, :k] = np.maximum(np.diff(a["seq_ts"][slot, : k + 1]), 0) / 1e9
            return out.astype(np.float32)
        return a["values"][slot].astype(np.float32)

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
        a, spec, T = self._arrays, self.spec, self.spec.length
        slot = np.asarray(slot, np.int64)
        # first packet of each slot in this batch, and its rank within the slot
        order = np.argsort(slot, kind="stable")
        s_sorted = slot[order]
        head = np.ones(n, bool)
        head[1:] = s_sorted[1:] != s_sorted[:-1]
        starts = np.flatnonzero(head)
        seg = np.cumsum(head) - 1
        rank = np.empty(n, np.int64)
        rank[order] = np.arange(n) - starts[seg]
        slots_here = s_sorted[starts]
        new = a["n_packets"][slots_here] == 0
        a["first_ns"][slots_here[new]] = ts_ns[order[starts[new]]]
        a["n_packets"][slots_here] += np.diff(np.append(starts, n))
        np.maximum.at(a["last_ns"], slot, ts_ns)
        if spec.binned:
            rel = np.maximum(ts_ns - a["first_ns"][slot], 0)
            b = rel // spec.bin_ns
            keep = b < T
            if not keep.all():
                slot, rel, b, length, up, proto = slot[keep], rel[keep], b[keep], length[keep], up[keep], proto[keep]
            ch = up.astype(np.int64) if spec.split_direction else 0
            w = length.astype(np.float64) if spec.feature == "bytes" else 1.0
            np.add.at(a["values"].reshape(-1), (slot * spec.n_channels + ch) * T + b, w)
            frac = (rel - b * spec.bin_ns) * _N_OFFSET // spec.bin_ns
            np.add.at(a["offset_hist"], (slot, np.minimum(frac, _N_OFFSET - 1)), 1)
        else:
            room = T + 1 if spec.feature == "iat" else T
            pos = a["filled"][slot] + rank
            keep = pos < room
            if not keep.all():
                slot, pos, ts_ns, length, up, proto = (
                    slot[keep], pos[keep], ts_ns[keep], length[keep], up[keep], proto[keep]
                )
            if spec.feature == "sizes":
                a["values"][slot, 0, pos] = np.where(up, length, -length)
            else:
                a["seq_ts"][slot, pos] = ts_ns
            np.maximum.at(a["filled"], slot, pos + 1)
        np.add.at(a["size_hist"], (slot, up.astype(np.int64), _size_bin(length)), 1)
        np.add.at(a["transport"], (slot, np.where(proto == 6, 0, np.where(proto == 17, 1, 2))), 1)


class SeriesBuilder:
    """The series of one trace: a :class:`TraceTable` with a single slot.

    Attributes (read-only views): ``n_packets``, ``first_ns``, ``last_ns``, ``size_hist``,
    ``offset_hist``, ``transport`` as in :class:`TraceStats`.
    """

    def __init__(self, spec: SeriesSpec) -> None:
        self.spec = spec
        self._table = TraceTable(spec, capacity=1)
        self._slot = self._table.open()

    def add(self, *, ts_ns: np.ndarray, length: np.ndarray, up: np.ndarray, proto: np.ndarray) -> None:
        """Add packets of this trace (arrays [n], in capture order); see :meth:`TraceTable.add`."""
        self._table.add(slot=np.full(len(ts_ns), self._slot, np.int64), ts_ns=ts_ns, length=length, up=up,
                        proto=proto)

    def _get(self, name: str):
        return self._table._arrays[name][self._slot]

    n_packets = property(lambda self: int(self._get("n_packets")))
    first_ns = property(lambda self: int(self._get("first_ns")))
    last_ns = property(lambda self: int(self._get("last_ns")))
    size_hist = property(lambda self: self._get("size_hist"))
    offset_hist = property(lambda self: self._get("offset_hist"))
    transport = property(lambda self: self._get("transport"))

    def series(self) -> np.ndarray:
        """The series, ``[C, length]`` float32 in :attr:`SeriesSpec.unit`."""
        return self._table._series(self._slot)


def histogram_json(counts: np.ndarray, edges: np.ndarray) -> dict[str, list]:
    """``{"edges": [...], "counts": [...]}`` with plain Python numbers (JSON-ready)."""
    return {"edges": [float(e) if isinstance(e, np.floating) else int(e) for e in edges],
            "counts": [int(c) for c in counts]}
