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
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Literal

import numpy as np

from netdiffus.errors import ConfigError
from netdiffus.features.series import SeriesBuilder, SeriesSpec
from netdiffus.io.pcap import PacketBatch

__all__ = ["Trace", "HostKey", "assemble", "count_hosts", "format_mac", "format_ip", "FlowKey"]

Unit = Literal["flow", "host", "file"]
UNITS: tuple[str, ...] = ("flow", "host", "file")

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
    def parse_mac(cls, text: str) -> "HostKey":
        digits = text.strip().replace(":", "").replace("-", "").replace(".", "")
        if len(digits) != 12:
            raise ConfigError(f"host MAC must have 6 bytes, e.g. 20:f8:5e:ca:91:52 (got {text.strip()!r})")
        try:
            return cls("mac", 0, int(digits, 16))
        except ValueError:
            raise ConfigError(f"host MAC must be hexadecimal, e.g. 20:f8:5e:ca:91:52 (got {text.strip()!r})") from None

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
            macs.update(dict(zip(vals.tolist(), counts.tolist())))
        for hi, lo in ((b.src_hi, b.src_lo), (b.dst_hi, b.dst_lo)):
            pair = np.stack([hi[b.is_ip], lo[b.is_ip]], axis=1)
            if len(pair):
                vals, counts = np.unique(pair, axis=0, return_counts=True)
                ips.update({(int(h), int(lo_)): int(c) for (h, lo_), c in zip(vals, counts)})
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
    """One trace of a capture.

    Attributes
    ----------
    index : int
        Order of creation within the capture (traces are sorted by it).
    builder : SeriesBuilder
        Its series and statistics.
    flow : FlowKey or None
        The 5-tuple (unit ``flow``).
    host : HostKey or None
        The host (unit ``host``, and ``file`` when given).
    """

    index: int
    builder: SeriesBuilder
    flow: FlowKey | None = None
    host: HostKey | None = None
    _init_fwd: bool = field(default=True, repr=False)

    @property
    def n_packets(self) -> int:
        return self.builder.n_packets

    @property
    def start_s(self) -> float:
        return self.builder.first_ns / 1e9

    @property
    def duration_s(self) -> float:
        return (self.builder.last_ns - self.builder.first_ns) / 1e9


def _add(trace: Trace, b: PacketBatch, idx: np.ndarray | slice, up: np.ndarray) -> None:
    trace.builder.add(ts_ns=b.ts_ns[idx], length=b.length[idx], up=up, proto=b.proto[idx])


def assemble(
    batches: Iterable[PacketBatch],
    *,
    unit: Unit,
    spec: SeriesSpec,
    host: HostKey | None = None,
    idle_timeout_s: float = 120.0,
    active_timeout_s: float = 1800.0,
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
        Flow timeouts in seconds (``flow`` only).

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
    if not idle_timeout_s > 0 or not active_timeout_s > 0:
        raise ConfigError(f"flow timeouts must be > 0 (got idle {idle_timeout_s}, active {active_timeout_s})")
    if unit == "flow":
        yield from _assemble_flows(batches, spec, int(idle_timeout_s * 1e9), int(active_timeout_s * 1e9))
        return
    trace = Trace(index=0, builder=SeriesBuilder(spec), host=host)
    for b in batches:
        if host is None:
            _add(trace, b, slice(None), np.zeros(len(b), bool))
            continue
        up, down = host.masks(b)
        if unit == "host":
            sel = np.flatnonzero(up | down)
            _add(trace, b, sel, up[sel])
        else:
            _add(trace, b, slice(None), up)
    if trace.n_packets:
        yield trace


def _assemble_flows(batches: Iterable[PacketBatch], spec: SeriesSpec, idle_ns: int, active_ns: int) -> Iterator[Trace]:
    open_flows: dict[tuple, Trace] = {}
    created = 0
    for b in batches:
        sel = np.flatnonzero(b.is_ip)
        if len(sel) == 0:
            continue
        proto = b.proto[sel]
        s_hi, s_lo, sp = b.src_hi[sel], b.src_lo[sel], b.sport[sel]
        d_hi, d_lo, dp = b.dst_hi[sel], b.dst_lo[sel], b.dport[sel]
        # fwd: the source is the lower endpoint (hi, lo, port) of the canonical key
        fwd = (s_hi < d_hi) | ((s_hi == d_hi) & ((s_lo < d_lo) | ((s_lo == d_lo) & (sp <= dp))))
        a_hi, a_lo, a_p = np.where(fwd, s_hi, d_hi), np.where(fwd, s_lo, d_lo), np.where(fwd, sp, dp)
        z_hi, z_lo, z_p = np.where(fwd, d_hi, s_hi), np.where(fwd, d_lo, s_lo), np.where(fwd, dp, sp)
        cols = (proto, a_hi, a_lo, a_p, z_hi, z_lo, z_p)
        order = np.lexsort(cols[::-1])  # stable: capture order within a flow
        starts = np.ones(len(order), bool)
        starts[1:] = np.logical_or.reduce([c[order][1:] != c[order][:-1] for c in cols])
        bounds = np.append(np.flatnonzero(starts), len(order))
        ts_all = b.ts_ns[sel]
        # groups in the order of their first packet, so flows are numbered by start
        by_start = np.argsort(order[bounds[:-1]], kind="stable")
        for g0, g1 in zip(bounds[:-1][by_start], bounds[1:][by_start]):
            grp = order[g0:g1]
            first = int(grp[0])
            key = tuple(int(c[first]) for c in cols)
            ts = ts_all[grp]
            i = 0
            while i < len(grp):
                tr = open_flows.get(key)
                t_i = int(ts[i])
                if tr is not None and (t_i - tr.builder.last_ns > idle_ns or t_i - tr.builder.first_ns >= active_ns):
                    del open_flows[key]
                    yield tr
                    tr = None
                if tr is None:
                    j0 = int(grp[i])
                    init_fwd = bool(fwd[j0])
                    src = (int(s_hi[j0]), int(s_lo[j0]))
                    dst = (int(d_hi[j0]), int(d_lo[j0]))
                    tr = Trace(
                        index=created,
                        builder=SeriesBuilder(spec),
                        flow=FlowKey(int(proto[j0]), format_ip(*src), int(sp[j0]), format_ip(*dst), int(dp[j0])),
                        _init_fwd=init_fwd,
                    )
                    created += 1
                    open_flows[key] = tr
                    start = t_i
                else:
                    start = tr.builder.first_ns
                # this flow takes packets i..j-1: up to the next idle gap or the active timeout
                rest = ts[i:]
                gap = np.zeros(len(rest), bool)
                gap[1:] = np.diff(rest) > idle_ns
                gap |= rest - start >= active_ns
                gap[0] = False
                brk = np.flatnonzero(gap)
                j = i + (int(brk[0]) if len(brk) else len(rest))
                part = sel[grp[i:j]]
                _add(tr, b, part, fwd[grp[i:j]] == tr._init_fwd)
                i = j
        # close flows idle since before this batch's last packet: bounds memory on long captures
        now = int(b.ts_ns.max())
        if len(open_flows) > 256:
            for key in [k for k, tr in open_flows.items() if now - tr.builder.last_ns > idle_ns]:
                yield open_flows.pop(key)
    yield from open_flows.values()
