"""Header metadata of a trace: what its packets' headers say, never its addresses (a versioned record).

A trace (a flow, or a device's session holding many flows) is summarised per flow, as
:func:`netdiffus.io.flow_records.flow_records` cuts flows: the transport, the responder's port
(the *server port*), the initiator's port as a class (a well-known port as it is, else the lower
bound of its IANA range: ``1024`` registered, ``49152`` dynamic), the packets of the flow (its
share of the trace), the TTL / hop limit each side sends most often, the TCP window of each
side's first packet, the share of its TCP data packets that carry PSH, a *server id*: a small
integer naming the responder's address within the captures read together (:class:`ServerIds`),
so traces that share a server share an id, (since version 2) the flow's duration as a
power-of-two class of microseconds and the share of its TCP packets that are pure ACKs
(header-only, no SYN, FIN or RST), and (since version 3) the TCP options of the initiator's SYN
and of the responder's SYN-ACK: MSS, window-scale shift, SACK-permitted, timestamps, and (since
version 4) the flow's IP bytes, both directions, as a power-of-two class. No address is kept.

:class:`TraceHeader` is the contract between ``prepare``-time reading and ``export``; its JSON
(:meth:`TraceHeader.to_json`) carries ``version`` (:data:`HEADER_VERSION`); a version-1 record
(without duration and pure-ACK share), a version-2 one (without the SYN options) and a version-3 one
(without the bytes) still read, with those fields -1 (unknown).

Examples
--------
>>> import io, struct
>>> from netdiffus.io.flow_records import concat_batches
>>> from netdiffus.io.pcap import iter_packet_batches
>>> hdr = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)        # raw IP link type
>>> def udp(src, dst, sport, dport, ttl):
...     ip = bytes([0x45, 0, 0, 28, 0, 0, 0, 0, ttl, 17]) + bytes(2) + bytes(src) + bytes(dst)
...     return ip + struct.pack(">HHHH", sport, dport, 8, 0)
>>> pkts = [udp([10, 0, 0, 1], [10, 0, 0, 2], 50000, 53, 64), udp([10, 0, 0, 2], [10, 0, 0, 1], 53, 50000, 255)]
>>> recs = b"".join(struct.pack("<IIII", 1, i, len(p), len(p)) + p for i, p in enumerate(pkts))
>>> h = trace_header(concat_batches(iter_packet_batches(io.BytesIO(hdr + recs))), servers=ServerIds())
>>> [f] = h.flows
>>> h.ip_version, f.transport, f.server_port, f.client_port, f.packets, f.ttl_fwd, f.ttl_bwd, f.psh_percent
(4, 'udp', 53, 49152, 2, 64, 255, -1)
>>> f.duration_us, f.ack_percent, f.bytes_class                    # 1 us apart; not TCP; 2 x 28 bytes
(1, -1, 32)
>>> f.mss_fwd, f.wscale_fwd, f.sack_ok_fwd, f.timestamps_fwd        # no SYN: no options
(-1, -1, -1, -1)
>>> TraceHeader.from_json(h.to_json()) == h
True
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import numpy as np

from netdiffus.errors import DatasetError
from netdiffus.io.assembly import FlowKey, HostKey
from netdiffus.io.flow_records import SynOptions, flow_records
from netdiffus.io.pcap import PacketBatch

__all__ = ["FlowHeader", "TraceHeader", "ServerIds", "TraceSpan", "trace_header", "capture_headers",
           "client_port_class", "duration_class", "HEADER_VERSION", "TRANSPORTS", "HeaderTransport", "MAX_FLOWS"]

#: The version :meth:`TraceHeader.to_json` writes.
HEADER_VERSION = 4
#: Fields of a flow header per record version (version 1 lacks duration and pure-ACK share, version 2
#: the eight SYN option fields, version 3 the bytes).
_FLOW_FIELDS = {1: 10, 2: 12, 3: 20, 4: 21}
HeaderTransport = Literal["tcp", "udp", "icmp", "icmpv6", "igmp", "other"]
#: The transports a record names (since version 2 ICMP, ICMPv6 and IGMP; before, ``other``).
TRANSPORTS: tuple[str, ...] = ("tcp", "udp", "icmp", "icmpv6", "igmp", "other")
_TRANSPORT_OF = {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6", 2: "igmp"}
#: Flows kept per trace: the largest; the packets of the others count to the largest one.
MAX_FLOWS = 32
_V4_MAPPED = np.uint64(0xFFFF00000000)


def client_port_class(port: int) -> int:
    """A client port as a class: well-known ports (< 1024) as they are, else the lower bound of
    their IANA range (1024 registered, 49152 dynamic).

    >>> client_port_class(123), client_port_class(5353), client_port_class(60000)
    (123, 1024, 49152)
    """
    return port if port < 1024 else 1024 if port < 49152 else 49152


@dataclass(frozen=True)
class FlowHeader:
    """The header fields of one flow of a trace (-1: not seen, e.g. no packet back, not TCP).

    Attributes
    ----------
    transport : {"tcp", "udp", "icmp", "icmpv6", "igmp", "other"}
        The IP protocol (``other``: any other one, and ICMP, ICMPv6, IGMP in a version-1 record).
    server_port : int
        The responder's port (0 for protocols without ports).
    client_port : int
        The initiator's port class (:func:`client_port_class`).
    packets : int
        Packets of the flow, both directions.
    ttl_fwd, ttl_bwd : int
        Most frequent TTL / hop limit sent by the initiator, by the responder.
    window_fwd, window_bwd : int
        TCP window (unscaled) of the initiator's, the responder's first TCP packet.
    server_id : int
        The responder's address as a small integer (:class:`ServerIds`); -1: not shared.
    psh_percent : int
        Share of the flow's TCP packets carrying payload that have PSH set, in percent rounded to
        a multiple of 10; -1 without such packets.
    duration_us : int
        Time from the flow's first to its last packet, in microseconds, as the power of two at or
        below it (:func:`duration_class`; 0 for a flow of one packet or of one instant); -1:
        unknown (a version-1 record).
    ack_percent : int
        Share of the flow's TCP packets that are pure ACKs (no payload, no SYN, FIN or RST), in
        percent rounded to a multiple of 10; -1 for a flow not TCP (or unknown).
    mss_fwd, mss_bwd : int
        MSS option (bytes) of the initiator's SYN, of the responder's SYN-ACK; -1: absent, no
        SYN (SYN-ACK) seen, or unknown (a record before version 3).
    wscale_fwd, wscale_bwd : int
        Window-scale shift of the SYN, of the SYN-ACK; -1: absent (or unknown).
    sack_ok_fwd, sack_ok_bwd : int
        SACK-permitted in the SYN, in the SYN-ACK: 1 or 0; -1: no SYN (SYN-ACK) seen (or unknown).
        ``sack_ok_fwd`` is -2 where it is unknown whether a SYN was seen (a record before version
        3, or one built without the options): :attr:`opened` tells a TCP flow that started before
        its trace (no SYN seen: -1) from one of an older record.
    timestamps_fwd, timestamps_bwd : int
        The timestamps option in the SYN, in the SYN-ACK: 1 or 0; -1 as for SACK-permitted.
    bytes_class : int
        The flow's IP bytes, both directions, as the power of two at or below them
        (:func:`duration_class`); -1: unknown (a record before version 4).
    """

    transport: HeaderTransport
    server_port: int
    client_port: int
    packets: int
    ttl_fwd: int = -1
    ttl_bwd: int = -1
    window_fwd: int = -1
    window_bwd: int = -1
    server_id: int = -1
    psh_percent: int = -1
    duration_us: int = -1
    ack_percent: int = -1
    mss_fwd: int = -1
    mss_bwd: int = -1
    wscale_fwd: int = -1
    wscale_bwd: int = -1
    sack_ok_fwd: int = -2
    sack_ok_bwd: int = -1
    timestamps_fwd: int = -1
    timestamps_bwd: int = -1
    bytes_class: int = -1

    def to_json(self) -> list[Any]:
        return [getattr(self, f.name) for f in dataclasses.fields(self)]

    @property
    def opened(self) -> bool:
        """False for a TCP flow whose record saw no SYN (it started before its trace), else True."""
        return not (self.transport == "tcp" and self.sack_ok_fwd == -1)

    @property
    def syn_options(self) -> tuple[SynOptions, SynOptions]:
        """The SYN's and the SYN-ACK's options."""
        return (SynOptions(self.mss_fwd, self.wscale_fwd, self.sack_ok_fwd, self.timestamps_fwd),
                SynOptions(self.mss_bwd, self.wscale_bwd, self.sack_ok_bwd, self.timestamps_bwd))

    @classmethod
    def from_json(cls, obj: Any, *, version: int = HEADER_VERSION) -> FlowHeader:
        """Read :meth:`to_json`'s list as a record of ``version`` wrote it (1: without duration and
        pure-ACK share; 1 and 2: without the SYN options; 1 to 3: without the bytes)."""
        n = _FLOW_FIELDS.get(version, 0)
        known = TRANSPORTS if version > 1 else ("tcp", "udp", "other")
        if not isinstance(obj, list) or len(obj) != n or obj[0] not in known \
                or not all(isinstance(v, int) and not isinstance(v, bool) for v in obj[1:]):
            raise DatasetError(f"a flow header of version {version} must be [transport, {n - 1} integers] "
                               f"(got {obj!r:.80})")
        return cls(*obj)


@dataclass(frozen=True)
class TraceHeader:
    """The header metadata of one trace: its IP version and its flows, largest first.

    Attributes
    ----------
    ip_version : {4, 6}
    flows : tuple of FlowHeader
        At most :data:`MAX_FLOWS`, by packets (largest first, then by first packet).
    """

    ip_version: Literal[4, 6]
    flows: tuple[FlowHeader, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {"version": HEADER_VERSION, "ip_version": self.ip_version, "flows": [f.to_json() for f in self.flows]}

    @classmethod
    def from_json(cls, obj: Any) -> TraceHeader:
        if not isinstance(obj, Mapping) or obj.get("version") not in _FLOW_FIELDS \
                or obj.get("ip_version") not in (4, 6):
            raise DatasetError(f"a trace header must be {{'version': 1 to {HEADER_VERSION}, 'ip_version': 4 or 6, "
                               f"'flows': [...]}} (got {str(obj):.80})")
        flows = obj.get("flows")
        if not isinstance(flows, list) or not flows:
            raise DatasetError(f"a trace header needs a non-empty list of flows (got {flows!r:.80})")
        return cls(obj["ip_version"], tuple(FlowHeader.from_json(f, version=obj["version"]) for f in flows))

    @property
    def packets(self) -> int:
        return sum(f.packets for f in self.flows)


class ServerIds:
    """Small integers for server addresses, the same for one address across the traces read with it.

    The addresses are held in memory while captures are read, never written.
    """

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def __call__(self, address: str) -> int:
        return self.ids.setdefault(address, len(self.ids))

    @property
    def addresses(self) -> list[str]:
        """The address of each id, in id order."""
        return list(self.ids)


class TraceSpan(NamedTuple):
    """Where a trace's packets are in its capture: its flow (unit ``flow``) or host, and its times."""

    first_ns: int
    last_ns: int
    flow: FlowKey | None = None
    host: HostKey | None = None


def duration_class(duration_us: int) -> int:
    """A duration in microseconds (or a flow's bytes) as the power of two at or below it (0 stays 0).

    >>> duration_class(0), duration_class(1), duration_class(37_000), duration_class(1 << 20)
    (0, 1, 32768, 1048576)
    """
    return 0 if duration_us <= 0 else 1 << (int(duration_us).bit_length() - 1)


def _mode(values: np.ndarray) -> int:
    values = values[values >= 0]
    if not len(values):
        return -1
    v, c = np.unique(values, return_counts=True)
    return int(v[np.argmax(c)])


def trace_header(packets: PacketBatch, *, servers: ServerIds, max_flows: int = MAX_FLOWS) -> TraceHeader:
    """The header metadata of the packets of one trace (non-IP frames are ignored).

    Parameters
    ----------
    packets : PacketBatch
        The trace's packets, [P] each field, in capture order.
    servers : ServerIds
        Names each responder address (shared across the traces of one dataset).
    max_flows : int
        Flows kept: the largest; the packets of the others count to the largest.

    Raises
    ------
    DatasetError
        No IP packet.
    """
    flows = flow_records(packets)
    if not flows.records:
        raise DatasetError(f"a trace header needs IP packets (got {len(packets)} packets, none IP)")
    ip = packets.is_ip
    v6 = bool(np.any((packets.src_hi[ip] != 0) | ((packets.src_lo[ip] & ~np.uint64(0xFFFFFFFF)) != _V4_MAPPED)))
    of = flows.of_packet
    fwd = np.zeros(len(packets), bool)  # is each packet from its flow's initiator?
    first = flows.first
    have = of >= 0
    fwd[have] = (packets.src_hi[have] == packets.src_hi[first[of[have]]]) & \
        (packets.src_lo[have] == packets.src_lo[first[of[have]]])
    data = (packets.tcp_flags >= 0) & (packets.payload > 0)
    psh = data & ((packets.tcp_flags & 0x08) != 0)
    tcp = packets.tcp_flags >= 0
    pure_ack = tcp & (packets.payload == 0) & ((packets.tcp_flags & 0x07) == 0)  # no FIN, SYN, RST
    out = []
    for k, r in enumerate(flows.records):
        mine = of == k
        n_data = int(np.count_nonzero(mine & data))
        n_tcp = int(np.count_nonzero(mine & tcp))
        out.append(FlowHeader(
            transport=_TRANSPORT_OF.get(r.proto, "other"),  # type: ignore[arg-type]
            server_port=r.dport, client_port=client_port_class(r.sport), packets=r.packets,
            ttl_fwd=_mode(packets.ttl[mine & fwd]), ttl_bwd=_mode(packets.ttl[mine & ~fwd]),
            window_fwd=r.fwd_window, window_bwd=r.bwd_window, server_id=servers(r.dst),
            psh_percent=-1 if not n_data else 10 * int(round(10 * np.count_nonzero(mine & psh) / n_data)),
            duration_us=duration_class(r.duration_us),
            ack_percent=-1 if not n_tcp else 10 * int(round(10 * np.count_nonzero(mine & pure_ack) / n_tcp)),
            mss_fwd=r.fwd_syn.mss, mss_bwd=r.bwd_syn.mss, wscale_fwd=r.fwd_syn.wscale, wscale_bwd=r.bwd_syn.wscale,
            sack_ok_fwd=r.fwd_syn.sack_ok, sack_ok_bwd=r.bwd_syn.sack_ok, timestamps_fwd=r.fwd_syn.timestamps,
            timestamps_bwd=r.bwd_syn.timestamps, bytes_class=duration_class(r.fwd_bytes + r.bwd_bytes)))
    order = sorted(range(len(out)), key=lambda i: -out[i].packets)  # stable: ties by first packet
    kept = [out[i] for i in order[:max_flows]]
    rest = sum(out[i].packets for i in order[max_flows:])
    if rest:
        big = flows.records[order[0]]
        rest_bytes = sum(flows.records[i].fwd_bytes + flows.records[i].bwd_bytes for i in order[max_flows:])
        kept[0] = dataclasses.replace(kept[0], packets=kept[0].packets + rest,
                                      bytes_class=duration_class(big.fwd_bytes + big.bwd_bytes + rest_bytes))
    return TraceHeader(6 if v6 else 4, tuple(kept))



def capture_headers(packets: PacketBatch, spans: Sequence[TraceSpan], *, servers: ServerIds,
                    window_ns: int | None = None) -> list[TraceHeader | None]:
    """The header of each trace of one capture, as ``prepare`` assembled them.

    Parameters
    ----------
    packets : PacketBatch
        Every packet of the capture, [P] each field.
    spans : sequence of TraceSpan, [N]
        The traces: a flow's packets are those of the flow (:func:`flow_records` cuts flows as
        ``prepare`` does) that starts at ``first_ns``; a host's (or, without either, the
        capture's) those it sent or received from ``first_ns`` to ``last_ns``.
    servers : ServerIds
    window_ns : int or None
        Keep only the packets sent within this many nanoseconds of a trace's first packet (the
        span a binned series describes).

    Returns
    -------
    list of TraceHeader or None, [N]
        None for a trace without an IP packet (in the window) or a flow not found.
    """
    by_flow: dict[tuple, np.ndarray] = {}
    if any(s.flow is not None for s in spans):
        flows = flow_records(packets)
        order = np.argsort(flows.of_packet, kind="stable")
        bounds = np.searchsorted(flows.of_packet[order], np.arange(len(flows.records) + 1))
        for k, r in enumerate(flows.records):
            by_flow[(r.proto, r.src, r.sport, r.dst, r.dport, r.first_ns)] = order[bounds[k] : bounds[k + 1]]
    out: list[TraceHeader | None] = []
    for s in spans:
        end = s.last_ns if window_ns is None else min(s.last_ns, s.first_ns + window_ns - 1)
        if s.flow is not None:
            f = s.flow
            idx = by_flow.get((f.proto, f.src, f.sport, f.dst, f.dport, s.first_ns), np.zeros(0, np.int64))
            idx = idx[packets.ts_ns[idx] <= end]
        else:
            mine = (packets.ts_ns >= s.first_ns) & (packets.ts_ns <= end)
            if s.host is not None:
                sent, received = s.host.masks(packets)
                mine &= sent | received
            idx = np.flatnonzero(mine)
        part = packets.take(idx)
        out.append(trace_header(part, servers=servers) if np.any(part.is_ip) else None)
    return out
