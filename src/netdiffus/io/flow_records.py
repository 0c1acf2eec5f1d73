"""Flow records of a capture: one NetFlow / IPFIX-like row per flow, with CICFlowMeter's column names.

A flow is what ``prepare --unit flow`` calls one (:mod:`netdiffus.io.assembly`): the IP packets of
one bidirectional 5-tuple, cut after ``idle_timeout_s`` of silence (a gap longer than it) or once
it has lasted ``active_timeout_s``; its *initiator* (the record's source, CICFlowMeter's
"forward" side) sends its first packet. :func:`flow_records` turns packet batches (as
:mod:`netdiffus.io.pcap` decodes them) into :class:`FlowRecord` s; it is the one code path behind
:func:`read_flow_records` (any capture) and ``netdiffus export --flows`` (the packets export
writes), so the records of a synthetic capture and of a real one compare column by column.

Columns (:data:`COLUMNS`): the 5-tuple, start and end time (Unix seconds), packets and bytes per
direction, TCP flag counts and each direction's first TCP window. Where CICFlowMeter has the
quantity its name is used, in its unit: ``Flow Duration`` in microseconds, ``Total Length of
Fwd Packets`` the transport payload bytes, ``Init_Win_bytes_forward`` -1 without TCP. The IP
bytes per direction (what ``prepare`` counts and ``export`` matches), ``Fwd IP Bytes`` and ``Bwd
IP Bytes``, and the times are columns of our own.

The header fields of every packet of the capture are held while the records are made (about
350 bytes per packet at the peak: 150 MB for 450,000 packets): meant for captures of up to some
millions of packets.

Examples
--------
>>> import io, struct
>>> hdr = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)        # raw IP link type
>>> def udp(src, dst, sport, dport, n):
...     ip = bytes([0x45, 0, 0, 28 + n]) + bytes(4) + bytes([64, 17]) + bytes(2) + bytes(src) + bytes(dst)
...     return ip + struct.pack(">HHHH", sport, dport, 8 + n, 0) + bytes(n)
>>> pkts = [udp([10, 0, 0, 1], [10, 0, 0, 2], 5353, 53, 20), udp([10, 0, 0, 2], [10, 0, 0, 1], 53, 5353, 60)]
>>> recs = b"".join(struct.pack("<IIII", 1, 250000 * i, len(p), len(p)) + p for i, p in enumerate(pkts))
>>> [r] = read_flow_records(io.BytesIO(hdr + recs))
>>> r.src, r.sport, r.dst, r.dport, r.proto, r.duration_us
('10.0.0.1', 5353, '10.0.0.2', 53, 17, 250000)
>>> r.fwd_packets, r.bwd_packets, r.fwd_bytes, r.bwd_bytes, r.fwd_payload, r.bwd_payload
(1, 1, 48, 88, 20, 60)
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np

from netdiffus.io.assembly import check_flow_timeouts, format_ip, key_runs
from netdiffus.io.pcap import PacketBatch, iter_packet_batches

__all__ = ["FlowRecord", "Flows", "SynOptions", "NO_SYN", "COLUMNS", "FLAG_BITS", "flow_records", "read_flow_records",
           "record_row", "write_flow_records_csv", "concat_batches"]

#: TCP flag counts in the order of :attr:`FlowRecord.flags`: (CICFlowMeter's name, bit).
#: CICFlowMeter calls CWR "CWE".
FLAG_BITS: tuple[tuple[str, int], ...] = (("FIN", 0x01), ("SYN", 0x02), ("RST", 0x04), ("PSH", 0x08),
                                          ("ACK", 0x10), ("URG", 0x20), ("CWE", 0x80), ("ECE", 0x40))

#: The CSV columns of a record, in order.
COLUMNS: tuple[str, ...] = (
    "Flow ID", "Source IP", "Source Port", "Destination IP", "Destination Port", "Protocol",
    "Start Time", "End Time", "Flow Duration", "Total Fwd Packets", "Total Backward Packets",
    "Total Length of Fwd Packets", "Total Length of Bwd Packets", "Fwd IP Bytes", "Bwd IP Bytes",
    "Fwd PSH Flags", "Bwd PSH Flags", *(f"{name} Flag Count" for name, _ in FLAG_BITS),
    "Init_Win_bytes_forward", "Init_Win_bytes_backward",
)


class SynOptions(NamedTuple):
    """The TCP options of a SYN (or SYN-ACK), as :class:`~netdiffus.io.pcap.PacketBatch` reads them.

    Attributes
    ----------
    mss : int
        Maximum segment size in bytes (option kind 2); -1: absent.
    wscale : int
        Window-scale shift (kind 3); -1: absent.
    sack_ok : int
        SACK permitted (kind 4): 1 or 0; -1: no SYN seen.
    timestamps : int
        Timestamps (kind 8): 1 or 0; -1: no SYN seen.
    """

    mss: int = -1
    wscale: int = -1
    sack_ok: int = -1
    timestamps: int = -1


#: The options of a flow direction without a SYN.
NO_SYN = SynOptions()


@dataclass(frozen=True)
class FlowRecord:
    """One flow: the source is its initiator ("forward" is from it, "backward" towards it).

    Attributes
    ----------
    src, dst : str
        Addresses (dotted IPv4 or compressed IPv6).
    sport, dport, proto : int
        Ports (0 for protocols without them) and IP protocol number.
    first_ns, last_ns : int
        Times of its first and last packet, nanoseconds since the epoch.
    fwd_packets, bwd_packets : int
    fwd_bytes, bwd_bytes : int
        IP total lengths summed, per direction.
    fwd_payload, bwd_payload : int
        Transport payload bytes summed, per direction.
    fwd_psh, bwd_psh : int
        Packets with PSH set, per direction.
    flags : tuple of int
        Packets with each flag of :data:`FLAG_BITS` set, both directions.
    fwd_window, bwd_window : int
        TCP window of each direction's first TCP packet; -1 if none.
    fwd_syn, bwd_syn : SynOptions
        The options of the initiator's first SYN and of the responder's first SYN-ACK (all -1:
        none seen, or not TCP).
    """

    src: str
    sport: int
    dst: str
    dport: int
    proto: int
    first_ns: int
    last_ns: int
    fwd_packets: int
    bwd_packets: int
    fwd_bytes: int
    bwd_bytes: int
    fwd_payload: int
    bwd_payload: int
    fwd_psh: int
    bwd_psh: int
    flags: tuple[int, ...]
    fwd_window: int
    bwd_window: int
    fwd_syn: SynOptions = field(default_factory=lambda: NO_SYN)
    bwd_syn: SynOptions = field(default_factory=lambda: NO_SYN)

    @property
    def duration_us(self) -> int:
        """Last packet time less first, microseconds (CICFlowMeter's ``Flow Duration``)."""
        return (self.last_ns - self.first_ns) // 1000

    @property
    def packets(self) -> int:
        return self.fwd_packets + self.bwd_packets

    @property
    def ip_bytes(self) -> int:
        return self.fwd_bytes + self.bwd_bytes


class Flows(NamedTuple):
    """What :func:`flow_records` gives: the records and where their packets are."""

    #: The records, ordered by their first packet.
    records: list[FlowRecord]
    #: [F] position of each record's first packet among the packets given.
    first: np.ndarray
    #: [P] the record (index in ``records``) of each packet given; -1 for non-IP frames.
    of_packet: np.ndarray


def concat_batches(batches: Iterable[PacketBatch]) -> PacketBatch:
    """One :class:`PacketBatch` of the packets of ``batches``, in order."""
    parts = list(batches)
    if not parts:
        return PacketBatch.empty()
    return PacketBatch(**{k: np.concatenate([getattr(b, k) for b in parts]) for k in PacketBatch.empty().__dict__})


def _active_cuts(ts: np.ndarray, starts: np.ndarray, ends: np.ndarray, active_ns: int) -> np.ndarray:
    """Flow starts: the run starts, and a cut wherever a packet comes ``active_ns`` or more after its
    flow's first packet (as :func:`netdiffus.io.assembly.assemble` cuts; runs that long are rare)."""
    long = np.maximum.reduceat(ts, starts) - ts[starts] >= active_ns
    out = []
    for p0, p1 in zip(starts[long].tolist(), ends[long].tolist(), strict=True):
        while True:
            over = np.flatnonzero(ts[p0:p1] - ts[p0] >= active_ns)
            if not len(over):
                break
            p0 += int(over[0])
            out.append(p0)
    return np.union1d(starts, np.array(out, np.int64))


def _per_flow(values: np.ndarray, slot: np.ndarray, n: int) -> np.ndarray:
    """Sums of ``values`` per ``slot`` in ``[0, n)``, as int64 (exact below 2**53)."""
    return np.bincount(slot, weights=values.astype(np.float64), minlength=n).astype(np.int64)


def _first_window(window: np.ndarray, slot: np.ndarray, n: int) -> np.ndarray:
    """Per slot, the window of its first packet that has one (-1: none); packets in flow order."""
    out = np.full(n, -1, np.int64)
    has = np.flatnonzero(window >= 0)
    slots, first = np.unique(slot[has], return_index=True)
    out[slots] = window[has[first]]
    return out


def _first_syns(b: PacketBatch, pkt: np.ndarray, slot: np.ndarray, n: int) -> np.ndarray:
    """Per slot (``2 * flow + backward``), the SYN options (:class:`SynOptions` order) of its first
    packet with SYN set, ACK clear forward and set backward: [n, 4], -1 where none; packets in flow order."""
    out = np.full((n, 4), -1, np.int64)
    flags = b.tcp_flags[pkt]
    syn = np.flatnonzero((flags >= 0) & ((flags & 0x02) != 0) & (((flags & 0x10) != 0) == (slot % 2 == 1)))
    if len(syn):
        slots, first = np.unique(slot[syn], return_index=True)
        at = pkt[syn[first]]
        out[slots] = np.stack([b.tcp_mss[at], b.tcp_wscale[at], b.tcp_sack_ok[at], b.tcp_timestamps[at]], axis=1)
    return out


def flow_records(
    batches: PacketBatch | Iterable[PacketBatch], *, idle_timeout_s: float = 120.0, active_timeout_s: float = 1800.0,
) -> Flows:
    """The flow records of a capture's packets, ordered by their first packet.

    Parameters
    ----------
    batches : PacketBatch or iterable of PacketBatch
        The capture's packets in capture order (non-IP frames are left out).
    idle_timeout_s, active_timeout_s : float
        Flow timeouts in seconds, > 0, as ``prepare``'s ``--idle-timeout`` / ``--active-timeout``.

    Returns
    -------
    Flows
        ``records``, the position of each one's first packet (``first``) and each packet's record
        (``of_packet``).

    Raises
    ------
    ConfigError
        A timeout <= 0 (``idle_timeout must be > 0 (got 0)``).
    """
    check_flow_timeouts(idle_timeout_s, active_timeout_s)
    b = batches if isinstance(batches, PacketBatch) else concat_batches(batches)
    sel = np.flatnonzero(b.is_ip)
    if not len(sel):
        return Flows([], np.zeros(0, np.int64), np.full(len(b), -1, np.int64))
    runs = key_runs(b, sel, int(idle_timeout_s * 1e9))
    ts = runs.ts
    starts = _active_cuts(ts, runs.starts, runs.ends, int(active_timeout_s * 1e9))
    n_flows = len(starts)
    flow = np.repeat(np.arange(n_flows), np.diff(np.append(starts, len(ts))))  # grouped order
    pkt = sel[runs.order]  # each grouped packet's position in ``b``
    fwd = runs.fwd[runs.order]
    backward = (fwd != fwd[starts][flow]).astype(np.int64)  # sent towards the initiator
    slot = 2 * flow + backward
    count = np.bincount(slot, minlength=2 * n_flows).reshape(n_flows, 2)
    ip_bytes = _per_flow(b.length[pkt], slot, 2 * n_flows).reshape(n_flows, 2)
    payload = _per_flow(b.payload[pkt], slot, 2 * n_flows).reshape(n_flows, 2)
    tcp_flags = np.where(b.tcp_flags[pkt] >= 0, b.tcp_flags[pkt], 0)
    psh = np.bincount(slot[(tcp_flags & 0x08) > 0], minlength=2 * n_flows).reshape(n_flows, 2)
    flags = np.stack([np.bincount(flow[(tcp_flags & bit) > 0], minlength=n_flows) for _, bit in FLAG_BITS], axis=1)
    window = _first_window(b.tcp_window[pkt], slot, 2 * n_flows).reshape(n_flows, 2)
    syns = _first_syns(b, pkt, slot, 2 * n_flows).reshape(n_flows, 2, 4).tolist()
    t0, t1 = np.minimum.reduceat(ts, starts), np.maximum.reduceat(ts, starts)
    head = pkt[starts]  # the initiator's first packet: its source is the record's
    records = [
        FlowRecord(src=format_ip(int(b.src_hi[p]), int(b.src_lo[p])), sport=int(b.sport[p]),
                   dst=format_ip(int(b.dst_hi[p]), int(b.dst_lo[p])), dport=int(b.dport[p]), proto=int(b.proto[p]),
                   first_ns=int(t0[f]), last_ns=int(t1[f]), fwd_packets=int(count[f, 0]),
                   bwd_packets=int(count[f, 1]), fwd_bytes=int(ip_bytes[f, 0]), bwd_bytes=int(ip_bytes[f, 1]),
                   fwd_payload=int(payload[f, 0]), bwd_payload=int(payload[f, 1]), fwd_psh=int(psh[f, 0]),
                   bwd_psh=int(psh[f, 1]), flags=tuple(int(x) for x in flags[f]), fwd_window=int(window[f, 0]),
                   bwd_window=int(window[f, 1]), fwd_syn=SynOptions(*syns[f][0]), bwd_syn=SynOptions(*syns[f][1]))
        for f, p in enumerate(head.tolist())
    ]
    by_start = np.argsort(head, kind="stable")
    rank = np.empty(n_flows, np.int64)
    rank[by_start] = np.arange(n_flows)
    of_packet = np.full(len(b), -1, np.int64)
    of_packet[pkt] = rank[flow]
    return Flows([records[i] for i in by_start.tolist()], head[by_start], of_packet)


def read_flow_records(
    source: str | os.PathLike[str] | BinaryIO, *, idle_timeout_s: float = 120.0, active_timeout_s: float = 1800.0,
) -> list[FlowRecord]:
    """The flow records of a capture file (pcap, pcapng, gzip of either), see :func:`flow_records`.

    Raises
    ------
    CaptureError
        The capture cannot be read (the message names the file and the reason).
    """
    return flow_records(iter_packet_batches(source), idle_timeout_s=idle_timeout_s,
                        active_timeout_s=active_timeout_s).records


def _seconds(ns: int) -> str:
    """Unix seconds of a nanosecond time, exact: ``1704067200.000250000``."""
    return f"{ns // 10**9}.{ns % 10**9:09d}"


def record_row(r: FlowRecord) -> list[object]:
    """The cells of ``r`` in the order of :data:`COLUMNS`."""
    return [f"{r.src}-{r.dst}-{r.sport}-{r.dport}-{r.proto}", r.src, r.sport, r.dst, r.dport, r.proto,
            _seconds(r.first_ns), _seconds(r.last_ns), r.duration_us, r.fwd_packets, r.bwd_packets, r.fwd_payload,
            r.bwd_payload, r.fwd_bytes, r.bwd_bytes, r.fwd_psh, r.bwd_psh, *r.flags, r.fwd_window, r.bwd_window]


def write_flow_records_csv(records: Sequence[FlowRecord], path: str | os.PathLike[str]) -> Path:
    """Write ``records`` as CSV (header :data:`COLUMNS`) to ``path`` (not atomically: callers that
    need it write to a temporary name, see :func:`netdiffus.files.atomic_path`)."""
    path = Path(path)
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(COLUMNS)
        w.writerows(record_row(r) for r in records)
    return path
