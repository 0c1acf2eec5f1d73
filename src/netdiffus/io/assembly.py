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

Traces come out of :func:`assemble` as :class:`Trace` objects holding a
:class:`~netdiffus.features.series.SeriesBuilder`; no packet is kept, so memory is bounded by the
number of flows open at once.

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
from typing import Literal

import numpy as np

from netdiffus.errors import ConfigError
from netdiffus.features.series import TRACE_UNITS, SeriesSpec, TraceStats, TraceTable, TraceUnit
from netdiffus.io.pcap import PacketBatch

__all__ = ["Trace", "HostKey", "assemble", "check_flow_timeouts", "count_hosts", "format_mac", "format_ip", "FlowKey"]

#: What one trace is (declared with the series that name their channels after it).
Unit = TraceUnit
UNITS: tuple[Unit, ...] = TRACE_UNITS

_BROADCAST = 0xFFFFFFFFFFFF
_GROUP_BIT = 1 << 40  # I/G bit of the first octet: multicast and broadcast MACs


def format_mac(value: int) -> str:
    """``aa:bb:cc:dd:ee:ff`` of a 48-bit integer."""
    return ":".join(f"{(value >> s) & 0xFF:02x}" for s in range(40, -8, -8))


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
    """Frames per unicast MAC and IP packets per IP address (sent or received) of a capture."""
    macs: Counter = Counter()
    ips: Counter = Counter()
    for b in batches:
        for col in (b.src_mac, b.dst_mac):
            ok = (col >= 0) & ((col & _GROUP_BIT) == 0)
            vals, counts = np.unique(col[ok], return_counts=True)
            macs.update(dict(zip(vals.tolist(), counts.tolist(), strict=True)))
        for hi, lo in ((b.src_hi, b.src_lo), (b.dst_hi, b.dst_lo)):
            pair = np.stack([hi[b.is_ip], lo[b.is_ip]], axis=1)
            if len(pair):
                vals, counts = np.unique(pair, axis=0, return_counts=True)
                ips.update({(int(h), int(lo_)): int(c) for (h, lo_), c in zip(vals, counts, strict=True)})
    return macs, ips


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
    if unit == "flow":
        yield from _assemble_flows(batches, spec, int(idle_timeout_s * 1e9), int(active_timeout_s * 1e9))
        return
    table = TraceTable(spec, capacity=1)
    slot = table.open()
    for b in batches:
        keep = b.is_ip if ip_only else np.ones(len(b), bool)
        if host is None:
            sel = np.flatnonzero(keep)
            up = np.zeros(len(sel), bool)
        else:
            from_host, to_host = host.masks(b)
            sel = np.flatnonzero(keep & (from_host | to_host) if unit == "host" else keep)
            up = from_host[sel]
        ts = b.ts_ns[sel]
        table.add(slot=np.full(len(ts), slot, np.int64), ts_ns=ts, length=b.length[sel], up=up, proto=b.proto[sel])
    if table.n_packets(slot):
        yield Trace(index=0, stats=table.close(slot), host=host)


@dataclass
class _OpenFlow:
    slot: int
    index: int
    key: FlowKey
    init_fwd: bool  # the initiator is the canonical key's lower endpoint


@dataclass
class _Runs:
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
    keys: list[tuple]  # [R] the run's canonical key, as exact Python ints


def _runs(b: PacketBatch, sel: np.ndarray, idle_ns: int) -> _Runs:
    """Group the IP packets ``sel`` of ``b`` by bidirectional 5-tuple with one sort, split at idle gaps."""
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
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(n), 0))[starts]
    return _Runs(order=order, fwd=fwd, ts=ts, starts=starts, ends=np.append(starts[1:], n),
                 last_ns=np.maximum.reduceat(ts, starts),
                 by_start=np.argsort(order[starts], kind="stable"),  # so flows are numbered by start
                 keys=list(zip(*(c[group_start].tolist() for c in sorted_cols), strict=True)))


def _assemble_flows(batches: Iterable[PacketBatch], spec: SeriesSpec, idle_ns: int, active_ns: int) -> Iterator[Trace]:
    """Flows by bidirectional 5-tuple. Per batch: group packets by key with one sort, split groups at
    idle gaps, give each run a table slot (Python work per run, not per packet), then add every
    packet of the batch to its flow's series with one :meth:`TraceTable.add`."""
    table = TraceTable(spec, capacity=1024)
    open_flows: dict[tuple, _OpenFlow] = {}
    by_slot: dict[int, tuple] = {}
    created = 0
    last_sweep = None

    def close(key: tuple) -> Trace:
        f = open_flows.pop(key)
        del by_slot[f.slot]
        return Trace(index=f.index, stats=table.close(f.slot), flow=f.key)

    def open_flow(key: tuple, b: PacketBatch, j: int, fwd: bool) -> _OpenFlow:
        nonlocal created
        src, dst = (int(b.src_hi[j]), int(b.src_lo[j])), (int(b.dst_hi[j]), int(b.dst_lo[j]))
        f = _OpenFlow(slot=table.open(), index=created, init_fwd=fwd,
                      key=FlowKey(int(b.proto[j]), format_ip(*src), int(b.sport[j]), format_ip(*dst), int(b.dport[j])))
        created += 1
        open_flows[key] = f
        by_slot[f.slot] = key
        return f

    for b in batches:
        sel = np.flatnonzero(b.is_ip)
        if len(sel) == 0:
            continue
        runs = _runs(b, sel, idle_ns)
        ts, order = runs.ts, runs.order
        pkt_slot = np.empty(len(order), np.int64)
        pkt_init = np.empty(len(order), bool)
        retired: list[_OpenFlow] = []  # flows of this batch that end inside it: closed after the add
        touched: set[tuple] = set()
        for r in runs.by_start.tolist():
            key = runs.keys[r]
            p0, p1 = int(runs.starts[r]), int(runs.ends[r])
            f = open_flows.get(key)
            if f is not None:
                if key in touched:  # a second run of this key in the batch: after an idle gap
                    retired.append(f)
                    f = None
                elif int(ts[p0]) - int(table.last_ns[f.slot]) > idle_ns or \
                        int(ts[p0]) - int(table.first_ns[f.slot]) >= active_ns:
                    yield close(key)
                    f = None
            touched.add(key)
            while True:
                if f is None:
                    f = open_flow(key, b, int(sel[order[p0]]), bool(runs.fwd[order[p0]]))
                start = int(table.first_ns[f.slot]) if table.n_packets(f.slot) else int(ts[p0])
                # the active timeout may cut this run (rare: test the run's last packet first)
                cut = p1
                if int(runs.last_ns[r]) - start >= active_ns:
                    over = np.flatnonzero(ts[p0:p1] - start >= active_ns)
                    if len(over) and over[0] > 0:
                        cut = p0 + int(over[0])
                pkt_slot[p0:cut] = f.slot
                pkt_init[p0:cut] = f.init_fwd
                if cut == p1:
                    break
                retired.append(f)
                p0, f = cut, None
        table.add(slot=pkt_slot, ts_ns=ts, length=b.length[sel][order], up=runs.fwd[order] == pkt_init,
                  proto=b.proto[sel][order])
        for f in retired:
            del by_slot[f.slot]
            yield Trace(index=f.index, stats=table.close(f.slot), flow=f.key)
        # close flows idle for longer than the timeout: bounds memory on long captures
        now = int(ts.max())
        if last_sweep is None or now - last_sweep >= idle_ns // 8:
            last_sweep = now
            for slot in table.idle_slots(now - idle_ns).tolist():
                yield close(by_slot[slot])
    for key in list(open_flows):
        yield close(key)
