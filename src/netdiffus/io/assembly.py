"""Trace assembly: packet batches of one capture -> traces (flows, one host, or the whole file).

Units
-----
``flow``
    Bidirectional 5-tuple (protocol, the two addresses and ports; ports are 0 for ICMP and other
    protocols). A flow ends after ``idle_timeout_s`` without packets or once it has lasted
    ``active_timeout_s``; the next packet of the same 5-tuple starts a new flow. The *initiator*
    is the sender of the flow's first packet; "up" is from the initiator. Non-IP frames are not
    part of any flow.
``host``
    All frames (IP or not) sent or received by one host of the capture: a MAC address, or an IP
    address on link types without MACs. "up" is from the host.
``file``
    Every frame of the capture. If a host is given, "up" is from it.

Traces come out of :func:`assemble` as :class:`Trace` objects holding their
:class:`~netdiffus.features.series.TraceStats`; no packet is kept. Memory is bounded by the state
of the flows open at once: :data:`FLOW_BYTES` (about 180 bytes) for a flow of at most four packets,
plus a full row of about ``8 C T + 1.6 KB`` for a longer one (``C`` channels of ``T`` bins), no
Python object per flow; and it never exceeds ``flow_memory_bytes`` (default
:data:`DEFAULT_FLOW_MEMORY_BYTES`, 256 MiB): past it the flows idle longest are closed early, and
counted (:class:`AssemblyStats`).

Examples
--------
>>> host = HostKey.parse_mac("20:f8:5e:ca:91:52")
>>> host, format_mac(host.value)
(HostKey(kind='mac', hi=0, value=36251114312018), '20:f8:5e:ca:91:52')
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from netdiffus.errors import ConfigError
from netdiffus.features.series import (
    LOG_TRACE_BYTES,
    TRACE_UNITS,
    SeriesSpec,
    TraceStats,
    TraceTable,
    TraceUnit,
    mapped_zeros,
)
from netdiffus.io.pcap import PacketBatch

__all__ = ["Trace", "HostKey", "assemble", "key_runs", "KeyRuns",
           "check_flow_timeouts", "count_hosts", "format_mac", "format_ip", "FlowKey",
           "AssemblyStats", "DEFAULT_FLOW_MEMORY_BYTES", "FLOW_BYTES", "is_loopback"]

#: What one trace is (declared with the series that name their channels after it).
Unit = TraceUnit
UNITS: tuple[Unit, ...] = TRACE_UNITS

#: Default bound of the state of the open flows of one capture (``--flow-memory``).
DEFAULT_FLOW_MEMORY_BYTES = 256 * 2**20

_BROADCAST = 0xFFFFFFFFFFFF
_GROUP_BIT = 1 << 40  # I/G bit of the first octet: multicast and broadcast MACs


def format_mac(value: int) -> str:
    """``aa:bb:cc:dd:ee:ff`` of a 48-bit integer."""
    return ":".join(f"{(value >> s) & 0xFF:02x}" for s in range(40, -8, -8))


@lru_cache(maxsize=1 << 16)  # a capture's addresses repeat: each is formatted once
def format_ip(hi: int, lo: int) -> str:
    """Dotted IPv4 (for IPv4-mapped values) or compressed IPv6 text of a (hi, lo) address."""
    if hi == 0 and (lo >> 32) == 0xFFFF:
        return str(ipaddress.IPv4Address(lo & 0xFFFFFFFF))
    return str(ipaddress.IPv6Address((hi << 64) | lo))


def parse_ip(text: str) -> tuple[int, int]:
    """(hi, lo) of an IPv4 or IPv6 address, IPv4 mapped as ``::ffff:a.b.c.d``."""
    addr = ipaddress.ip_address(text.strip())
    if addr.version == 4:
        return 0, 0xFFFF00000000 | int(addr)
    v = int(addr)
    return v >> 64, v & 0xFFFFFFFFFFFFFFFF


@dataclass(frozen=True)
class HostKey:
    """The host of a ``host`` trace: a MAC (``value``) or an IP address (``hi``, ``value`` = lo)."""

    kind: Literal["mac", "ip"]
    hi: int
    value: int

    @classmethod
    def parse_mac(cls, text: str) -> HostKey:
        digits = text.strip().replace(":", "").replace("-", "").replace(".", "")
        if len(digits) != 12:
            raise ConfigError(f"host MAC must have 6 bytes, e.g. 20:f8:5e:ca:91:52 (got {text.strip()!r})")
        try:
            return cls("mac", 0, int(digits, 16))
        except ValueError:
            raise ConfigError(f"host MAC must be hexadecimal, e.g. 20:f8:5e:ca:91:52 (got {text.strip()!r})") from None

    @classmethod
    def parse(cls, text: str) -> HostKey:
        """A MAC (``20:f8:5e:ca:91:52``) or an IPv4 / IPv6 address.

        >>> HostKey.parse("10.0.0.1").kind, HostKey.parse("02-00-00-00-00-01").kind
        ('ip', 'mac')
        """
        try:
            return cls("ip", *parse_ip(text))
        except ValueError:
            pass
        try:
            return cls.parse_mac(text)
        except ConfigError:
            raise ConfigError(f"host must be a MAC or an IP address (got {text.strip()!r})") from None

    def __str__(self) -> str:
        return format_mac(self.value) if self.kind == "mac" else format_ip(self.hi, self.value)

    def masks(self, b: PacketBatch) -> tuple[np.ndarray, np.ndarray]:
        """(from host, to host) boolean masks over the packets of ``b``."""
        if self.kind == "mac":
            return b.src_mac == self.value, b.dst_mac == self.value
        hi, lo = np.uint64(self.hi), np.uint64(self.value)
        return (b.is_ip & (b.src_hi == hi) & (b.src_lo == lo), b.is_ip & (b.dst_hi == hi) & (b.dst_lo == lo))


def count_hosts(batches: Iterable[PacketBatch]) -> tuple[Counter, Counter]:
    """Frames per unicast MAC and IP packets per IP address (sent or received) of a capture.

    MACs count only on links that name both ends of a frame (Ethernet): a Linux cooked capture
    names the sender only, so its MACs cannot tell which frames a host received. The all-zero
    MAC (loopback, an unset address) is no host.
    """
    macs: Counter = Counter()
    ips: Counter = Counter()
    for b in batches:
        both = (b.src_mac >= 0) & (b.dst_mac >= 0)
        for col in (b.src_mac, b.dst_mac):
            ok = both & (col > 0) & ((col & _GROUP_BIT) == 0)
            vals, counts = np.unique(col[ok], return_counts=True)
            macs.update(dict(zip(vals.tolist(), counts.tolist(), strict=True)))
        for hi, lo in ((b.src_hi, b.src_lo), (b.dst_hi, b.dst_lo)):
            pair = np.stack([hi[b.is_ip], lo[b.is_ip]], axis=1)
            if len(pair):
                vals, counts = np.unique(pair, axis=0, return_counts=True)
                ips.update({(int(h), int(lo_)): int(c) for (h, lo_), c in zip(vals, counts, strict=True)})
    return macs, ips


def is_loopback(hi: int, lo: int) -> bool:
    """True for 127.0.0.0/8 (IPv4-mapped) and ::1."""
    return hi == 0 and (lo >> 24 == 0xFFFF7F or lo == 1)


@dataclass(frozen=True)
class FlowKey:
    """A flow's 5-tuple in the initiator's direction (src = initiator)."""

    proto: int
    src: str
    sport: int
    dst: str
    dport: int

    def canonical(self) -> tuple:
        a, b = (self.src, self.sport), (self.dst, self.dport)
        return (self.proto, *min(a, b), *max(a, b))


@dataclass
class Trace:
    """One finished trace of a capture.

    Attributes
    ----------
    index : int
        Order of creation within the capture (traces are sorted by it).
    stats : TraceStats
        Its series and statistics.
    flow : FlowKey or None
        The 5-tuple (unit ``flow``).
    host : HostKey or None
        The host (unit ``host``, and ``file`` when given).
    """

    index: int
    stats: TraceStats
    flow: FlowKey | None = None
    host: HostKey | None = None

    @property
    def n_packets(self) -> int:
        return self.stats.n_packets

    @property
    def start_s(self) -> float:
        return self.stats.first_ns / 1e9

    @property
    def duration_s(self) -> float:
        return (self.stats.last_ns - self.stats.first_ns) / 1e9


def check_flow_timeouts(idle_timeout_s: float, active_timeout_s: float) -> None:
    """Raise :class:`ConfigError` unless both flow timeouts are > 0 seconds.

    The message names the command-line option: ``idle_timeout must be > 0 (got -1)``.
    """
    for name, value in (("idle_timeout", idle_timeout_s), ("active_timeout", active_timeout_s)):
        if not value > 0:
            raise ConfigError(f"{name} must be > 0 (got {value:g})")


def assemble(
    batches: Iterable[PacketBatch],
    *,
    unit: Unit,
    spec: SeriesSpec,
    host: HostKey | None = None,
    idle_timeout_s: float = 120.0,
    active_timeout_s: float = 1800.0,
    ip_only: bool = False,
    flow_memory_bytes: int | None = DEFAULT_FLOW_MEMORY_BYTES,
    stats: AssemblyStats | None = None,
) -> Iterator[Trace]:
    """Group the packets of one capture into traces.

    Parameters
    ----------
    batches : iterable of PacketBatch
        The capture's packets in capture order.
    unit : {"flow", "host", "file"}
    spec : SeriesSpec
        The series each trace builds.
    host : HostKey, optional
        Required for ``host``; for ``file`` it sets the direction ("up" = from the host).
    idle_timeout_s, active_timeout_s : float
        Flow timeouts in seconds, > 0 (used by ``flow`` only; checked for every unit).
    ip_only : bool
        Leave non-IP frames (ARP, EAPOL, ...) out of ``host`` and ``file`` traces (flows never
        have them).
    flow_memory_bytes : int or None
        Unit ``flow``: the most memory the open flows' state may take (None: no limit). Past it
        the flows idle longest are closed early (counted in ``stats.closed_early``).
    stats : AssemblyStats, optional
        Filled in with what the assembly did (open flows, flows closed early).

    Raises
    ------
    ConfigError
        A bad ``unit``, a missing ``host`` for ``host``, or a flow timeout <= 0.

    Yields
    ------
    Trace
        ``host`` and ``file`` yield one trace (none if no packet matched); ``flow`` yields flows as
        they end, in no fixed order (sort by :attr:`Trace.index`).
    """
    if unit not in UNITS:
        raise ConfigError(f"unit must be one of {', '.join(UNITS)} (got {unit!r})")
    if unit == "host" and host is None:
        raise ConfigError("unit 'host' needs a host (a MAC or IP address)")
    check_flow_timeouts(idle_timeout_s, active_timeout_s)
    if flow_memory_bytes is not None and flow_memory_bytes < 1:
        raise ConfigError(f"flow_memory must be > 0 (got {flow_memory_bytes})")
    stats = AssemblyStats() if stats is None else stats
    if unit == "flow":
        yield from _assemble_flows(batches, spec, int(idle_timeout_s * 1e9), int(active_timeout_s * 1e9),
                                   flow_memory_bytes, stats)
        return
    table = TraceTable(spec, capacity=1)
    slot = table.open(full=True)
    for b in batches:
        keep = b.is_ip if ip_only else np.ones(len(b), bool)
        if host is None:
            sel = np.flatnonzero(keep)
            up = np.zeros(len(sel), bool)
        else:
            from_host, to_host = host.masks(b)
            sel = np.flatnonzero(keep & (from_host | to_host) if unit == "host" else keep)
            up = from_host[sel]
            stats.self_addressed += int((from_host & to_host)[sel].sum())
        ts = b.ts_ns[sel]
        table.add(slot=np.full(len(ts), slot, np.int64), ts_ns=ts, length=b.length[sel], up=up, proto=b.proto[sel])
    if table.n_packets(slot):
        yield Trace(index=0, stats=table.close(slot), host=host)


@dataclass
class AssemblyStats:
    """What :func:`assemble` did beyond its traces (filled in as it runs).

    Attributes
    ----------
    max_open_flows : int
        The most flows open at once.
    closed_early : int
        Flows closed before their idle timeout because the open flows' state reached
        ``flow_memory_bytes`` (the flows idle longest go first; a later packet of the same 5-tuple
        starts a new flow).
    self_addressed : int
        Units ``host`` and ``file`` with a host: packets the host sent to itself (loopback), which
        count as sent by it.
    """

    max_open_flows: int = 0
    closed_early: int = 0
    self_addressed: int = 0


#: Bytes of the flow bookkeeping per open flow beside its series state (5-tuple, creation index,
#: initiator side, position and share of the hash index).
_FLOW_META_BYTES = 5 * 8 + 8 + 1 + 8 + 24
#: Bytes of an open flow of at most ``LOG_PACKETS`` packets (one with more also holds a full row,
#: :attr:`TraceTable.row_bytes`, about ``8 C T + 1.6 KB``).
FLOW_BYTES = LOG_TRACE_BYTES + _FLOW_META_BYTES
_EMPTY, _GONE = -1, -2  # hash index cells: never used, used by a flow since closed
_M1, _M2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9)


def _grown(a: np.ndarray, n: int) -> np.ndarray:
    """``a`` with room for ``n`` rows (the new ones zero)."""
    out = mapped_zeros((n, *a.shape[1:]), a.dtype)
    out[: len(a)] = a
    return out


def _hash(keys: np.ndarray) -> np.ndarray:
    """64-bit hashes of 5-tuples ``[n, 5]`` uint64."""
    h = np.full(len(keys), _M1, np.uint64)
    for j in range(keys.shape[1]):
        h ^= keys[:, j]
        h *= _M2
        h ^= h >> np.uint64(31)
    return h


class _FlowTable:
    """The open flows of one capture: their series (a :class:`TraceTable`), their 5-tuples and an
    index from 5-tuple to slot (an open-addressing hash table in numpy, looked up for a whole batch
    at once), so that an open flow costs a few hundred bytes and no Python object."""

    def __init__(self, spec: SeriesSpec) -> None:
        self.table = TraceTable(spec, capacity=1024)
        # per slot: the canonical 5-tuple as (proto << 32 | port_a << 16 | port_b, a_hi, a_lo, b_hi, b_lo)
        self.keys = np.zeros((0, 5), np.uint64)
        self.index = np.zeros(0, np.int64)  # creation order
        self.init_a = np.zeros(0, bool)  # the initiator is endpoint a (the canonical lower one)
        self.pos = np.full(0, -1, np.int64)  # cell of the hash index, -1: not indexed
        self.cells = np.full(1024, _EMPTY, np.int32)
        self.live = self.gone = 0

    def state_bytes(self) -> int:
        return self.table.state_bytes() + self.table.n_open * _FLOW_META_BYTES

    # -- hash index -------------------------------------------------------------------------------
    def find(self, keys: np.ndarray) -> np.ndarray:
        """The slot of each 5-tuple of ``keys`` [n, 5] (-1: no open flow)."""
        mask = len(self.cells) - 1
        cell = (_hash(keys) & np.uint64(mask)).astype(np.int64)
        out = np.full(len(keys), -1, np.int64)
        todo = np.arange(len(keys))
        while len(todo):
            s = self.cells[cell[todo]].astype(np.int64)
            hit = s >= 0
            hit[hit] = (self.keys[s[hit]] == keys[todo[hit]]).all(axis=1)
            out[todo[hit]] = s[hit]
            todo = todo[~(hit | (s == _EMPTY))]
            cell[todo] = (cell[todo] + 1) & mask
        return out

    def _insert(self, slots: np.ndarray) -> None:
        """Index ``slots`` (open, not indexed, with distinct 5-tuples)."""
        if self.live + self.gone + len(slots) > len(self.cells) // 2:
            self._rehash(self.live + len(slots))
        for c in range(0, len(slots), 1 << 16):  # a part at a time: small temporaries
            self._place(slots[c : c + (1 << 16)])

    def _place(self, slots: np.ndarray) -> None:
        mask = len(self.cells) - 1
        cell = (_hash(self.keys[slots]) & np.uint64(mask)).astype(np.int64)
        todo = np.arange(len(slots))
        while len(todo):
            free = todo[self.cells[cell[todo]] < 0]
            _, first = np.unique(cell[free], return_index=True)  # one flow per free cell and round
            won = free[first]
            self.gone -= int((self.cells[cell[won]] == _GONE).sum())
            self.cells[cell[won]] = slots[won]
            self.pos[slots[won]] = cell[won]
            placed = np.zeros(len(slots), bool)
            placed[won] = True
            todo = todo[~placed[todo]]
            cell[todo] = (cell[todo] + 1) & mask
        self.live += len(slots)

    def _rehash(self, need: int) -> None:
        indexed = np.flatnonzero(self.pos >= 0)
        self.cells = mapped_zeros((max(1024, 1 << int(3 * need).bit_length()),), np.int32)
        self.cells[:] = _EMPTY
        self.pos[indexed] = -1
        self.live = self.gone = 0
        if len(indexed):
            self._insert(indexed)

    def _unindex(self, slots: np.ndarray) -> None:
        slots = slots[self.pos[slots] >= 0]
        self.cells[self.pos[slots]] = _GONE
        self.pos[slots] = -1
        self.live -= len(slots)
        self.gone += len(slots)

    # -- flows --------------------------------------------------------------------------------------
    def open(self, keys: np.ndarray, index: np.ndarray, init_a: np.ndarray) -> np.ndarray:
        """Slots for new flows (not indexed yet)."""
        slots = np.array([self.table.open() for _ in range(len(keys))], np.int64)
        if len(slots) and int(slots.max()) >= len(self.index):
            cap = max(1024, 2 * len(self.index), int(slots.max()) + 1)
            grow = cap - len(self.index)
            self.keys, self.index, self.init_a, self.pos = (
                _grown(a, cap) for a in (self.keys, self.index, self.init_a, self.pos))
            self.pos[cap - grow :] = -1
        self.keys[slots], self.index[slots], self.init_a[slots] = keys, index, init_a
        return slots

    def close(self, slots: np.ndarray) -> Iterator[Trace]:
        """End the flows in ``slots``: their traces (a chunk at a time, so memory stays flat)."""
        for c in range(0, len(slots), 1024):
            part = np.asarray(slots[c : c + 1024], np.int64)
            self._unindex(part)
            stats = self.table.close_many(part)
            k = self.keys[part]
            c0 = k[:, 0]
            cols = ((c0 >> np.uint64(32)).tolist(), ((c0 >> np.uint64(16)) & np.uint64(0xFFFF)).tolist(),
                    (c0 & np.uint64(0xFFFF)).tolist(), k[:, 1].tolist(), k[:, 2].tolist(), k[:, 3].tolist(),
                    k[:, 4].tolist(), self.index[part].tolist(), self.init_a[part].tolist())
            for st, proto, pa, pb, ah, al, bh, bl, idx, init_a in zip(stats, *cols, strict=True):
                a, b = (format_ip(ah, al), pa), (format_ip(bh, bl), pb)
                (src, sport), (dst, dport) = (a, b) if init_a else (b, a)
                yield Trace(index=idx, stats=st, flow=FlowKey(proto, src, sport, dst, dport))


@dataclass
class KeyRuns:
    """The IP packets of a batch grouped by flow key, in key order, split into runs at idle gaps.

    Packet arrays are in grouped order (``order`` maps them back to the batch's IP packets); run
    arrays have one entry per run.
    """

    order: np.ndarray  # [P] position among the batch's IP packets of each grouped packet
    fwd: np.ndarray  # [P] (batch order) the source is the canonical key's lower endpoint
    ts: np.ndarray  # [P] times, grouped order
    starts: np.ndarray  # [R] first packet of each run
    ends: np.ndarray  # [R] one past its last packet
    last_ns: np.ndarray  # [R] time of its last packet
    by_start: np.ndarray  # [R] runs in the order of their first packet in the batch
    key_of_run: np.ndarray  # [R] the run's row in ``keys``
    keys: np.ndarray  # [K, 5] uint64: the batch's distinct canonical keys (see _FlowTable.keys)


def key_runs(b: PacketBatch, sel: np.ndarray, idle_ns: int) -> KeyRuns:
    """Group the IP packets ``sel`` of ``b`` by bidirectional 5-tuple with one sort, split at idle gaps
    (a gap of more than ``idle_ns``); capture order is kept within a group. Flow assembly and
    :mod:`netdiffus.io.flow_records` both cut their flows out of these runs."""
    proto = b.proto[sel]
    s_hi, s_lo, sp = b.src_hi[sel], b.src_lo[sel], b.sport[sel]
    d_hi, d_lo, dp = b.dst_hi[sel], b.dst_lo[sel], b.dport[sel]
    # fwd: the source is the lower endpoint (hi, lo, port) of the canonical key
    fwd = (s_hi < d_hi) | ((s_hi == d_hi) & ((s_lo < d_lo) | ((s_lo == d_lo) & (sp <= dp))))
    cols = (proto, np.where(fwd, s_hi, d_hi), np.where(fwd, s_lo, d_lo), np.where(fwd, sp, dp),
            np.where(fwd, d_hi, s_hi), np.where(fwd, d_lo, s_lo), np.where(fwd, dp, sp))
    order = np.lexsort(cols[::-1])  # stable: capture order within a flow
    n = len(order)
    sorted_cols = [c[order] for c in cols]
    new_group = np.ones(n, bool)
    new_group[1:] = np.logical_or.reduce([c[1:] != c[:-1] for c in sorted_cols])
    ts = b.ts_ns[sel][order]
    gap = np.zeros(n, bool)
    gap[1:] = (ts[1:] - ts[:-1] > idle_ns) & ~new_group[1:]
    starts = np.flatnonzero(new_group | gap)
    firsts = np.flatnonzero(new_group)
    p, a_hi, a_lo, a_port, b_hi, b_lo, b_port = (c[firsts] for c in sorted_cols)
    word = (p.astype(np.uint64) << np.uint64(32)) | (a_port.astype(np.uint64) << np.uint64(16)) | \
        b_port.astype(np.uint64)
    return KeyRuns(order=order, fwd=fwd, ts=ts, starts=starts, ends=np.append(starts[1:], n),
                 last_ns=np.maximum.reduceat(ts, starts),
                 by_start=np.argsort(order[starts], kind="stable"),  # so flows are numbered by start
                 key_of_run=(np.cumsum(new_group) - 1)[starts],
                 keys=np.stack([word, a_hi.astype(np.uint64), a_lo.astype(np.uint64), b_hi.astype(np.uint64),
                                b_lo.astype(np.uint64)], axis=1))


@dataclass
class _BatchFlows:
    """The flows that packets of one batch go to, numbered in the order they are met."""

    slot: list[int]  # an open flow's slot, or -1: a flow this batch starts
    key: list[int]  # its row in the batch's keys
    init_a: list[bool]
    start_ns: list[int]
    retired: list[int]  # flows (numbers) that end inside the batch
    timed_out: list[int]  # slots of open flows that ended before this batch's packets

    def add(self, slot: int, key: int, init_a: bool, start_ns: int) -> int:
        self.slot.append(slot)
        self.key.append(key)
        self.init_a.append(init_a)
        self.start_ns.append(start_ns)
        return len(self.slot) - 1


def _route(runs: KeyRuns, found: np.ndarray, ft: _FlowTable, idle_ns: int,
           active_ns: int) -> tuple[_BatchFlows, np.ndarray]:
    """Which flow each packet of the batch goes to: an open one, or one it starts (Python work per
    run, not per packet). Returns the flows and, per grouped packet, its flow's number."""
    flows = _BatchFlows([], [], [], [], [], [])
    ts = runs.ts
    pkt_flow = np.empty(len(ts), np.int64)
    starts, ends, last_run = runs.starts.tolist(), runs.ends.tolist(), runs.last_ns.tolist()
    key_of_run, ts_list = runs.key_of_run.tolist(), ts.tolist()
    fwd_grouped = runs.fwd[runs.order]
    current = [-1] * len(runs.keys)  # per key: its flow's number in this batch
    found_l = found.tolist()
    first_ns, last_ns, init_a = ft.table.first_ns, ft.table.last_ns, ft.init_a
    for r in runs.by_start.tolist():
        k, p0, p1 = key_of_run[r], starts[r], ends[r]
        f = -1
        if current[k] >= 0:  # a second run of this key in the batch: after an idle gap
            flows.retired.append(current[k])
        elif found_l[k] >= 0:
            s = found_l[k]
            t0, first = ts_list[p0], int(first_ns[s])
            if t0 - int(last_ns[s]) > idle_ns or t0 - first >= active_ns:
                flows.timed_out.append(s)
            else:
                f = flows.add(s, k, bool(init_a[s]), first)
        while True:
            if f < 0:
                f = flows.add(-1, k, bool(fwd_grouped[p0]), ts_list[p0])
            start = flows.start_ns[f]
            cut = p1
            if last_run[r] - start >= active_ns:  # the active timeout may cut this run (rare)
                over = np.flatnonzero(ts[p0:p1] - start >= active_ns)
                if len(over) and over[0] > 0:
                    cut = p0 + int(over[0])
            pkt_flow[p0:cut] = f
            if cut == p1:
                break
            flows.retired.append(f)
            p0, f = cut, -1
        current[k] = f
    return flows, pkt_flow


def _assemble_flows(batches: Iterable[PacketBatch], spec: SeriesSpec, idle_ns: int, active_ns: int,
                    budget: int | None, stats: AssemblyStats) -> Iterator[Trace]:
    """Flows by bidirectional 5-tuple. Per batch: group packets by key with one sort, split groups at
    idle gaps, find the open flows of the batch's keys with one lookup, route each run to its flow,
    then add every packet of the batch to its flow's series with one :meth:`TraceTable.add`."""
    ft = _FlowTable(spec)
    created = 0
    last_sweep = None
    for b in batches:
        sel = np.flatnonzero(b.is_ip)
        if len(sel) == 0:
            continue
        runs = key_runs(b, sel, idle_ns)
        flows, pkt_flow = _route(runs, ft.find(runs.keys), ft, idle_ns, active_ns)
        slot = np.array(flows.slot, np.int64)
        init_a = np.array(flows.init_a, bool)
        new = np.flatnonzero(slot < 0)
        slot[new] = ft.open(runs.keys[np.array(flows.key, np.int64)[new]], np.arange(created, created + len(new)),
                            init_a[new])
        created += len(new)
        ft.table.add(slot=slot[pkt_flow], ts_ns=runs.ts, length=b.length[sel][runs.order],
                     up=runs.fwd[runs.order] == init_a[pkt_flow], proto=b.proto[sel][runs.order])
        ending = np.array(flows.timed_out + slot[flows.retired].tolist(), np.int64)
        yield from ft.close(ending)
        staying = np.setdiff1d(slot[new], ending)
        ft._insert(staying)
        stats.max_open_flows = max(stats.max_open_flows, ft.table.n_open)
        # close flows idle for longer than the timeout: bounds memory on long captures
        now = int(runs.ts.max())
        if last_sweep is None or now - last_sweep >= idle_ns // 8:
            last_sweep = now
            yield from ft.close(ft.table.idle_slots(now - idle_ns))
        if budget is not None and ft.state_bytes() > budget:
            per_flow = ft.state_bytes() / max(ft.table.n_open, 1)
            victims = ft.table.oldest_slots(max(1, int((ft.state_bytes() - 0.8 * budget) / per_flow)))
            stats.closed_early += len(victims)
            yield from ft.close(victims)
    yield from ft.close(np.flatnonzero(ft.pos >= 0))
