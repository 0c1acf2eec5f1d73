"""The flow records of an export: the packets ``export_pcap`` writes, as a capture reader decodes them.

:func:`export_batch` gives the packets of an export, in the order of the capture file, as the
:class:`~netdiffus.io.pcap.PacketBatch` that reading the file back gives (the tests check it
field by field); :func:`export_records` passes it through the one record builder,
:func:`netdiffus.io.flow_records.flow_records`, and ties each record to its trace. So the rows of
``netdiffus export --flows`` are what a flow meter reading the capture finds, and compare with
the records of a real capture column by column.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from netdiffus.export.frames import TCP, TCP_WINDOW, TTL, UDP
from netdiffus.export.tcp_options import SYN_OPTIONS, option_lengths
from netdiffus.io.flow_records import FlowRecord, flow_records
from netdiffus.io.pcap import SYN_OPTION_DTYPES, PacketBatch

__all__ = ["export_batch", "export_records", "V4_MAPPED", "CHUNK_PACKETS"]

#: IPv4 addresses as capture readers hold them: ``::ffff:a.b.c.d``.
V4_MAPPED = 0xFFFF00000000
#: Packets decoded at a time to make the records (whole traces, so about this many).
CHUNK_PACKETS = 1 << 16


def _halves(addresses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(hi, lo) uint64 halves of addresses given as bytes ``[n, 4]`` (IPv4, mapped) or ``[n, 16]``."""
    a = addresses.astype(np.uint64)
    word = lambda cols: np.bitwise_or.reduce(  # noqa: E731
        [a[:, c] << np.uint64(8 * (len(cols) - 1 - i)) for i, c in enumerate(cols)], axis=0)
    if a.shape[1] == 4:
        return np.zeros(len(a), np.uint64), word(range(4)) | np.uint64(V4_MAPPED)
    return word(range(8)), word(range(8, 16))


def export_batch(*, ts_us: np.ndarray, size: np.ndarray, flow: np.ndarray, flags: np.ndarray,
                 tables: dict[str, np.ndarray], ip_version: Literal[4, 6],
                 opt_kind: np.ndarray | None = None) -> PacketBatch:
    """The packets of an export as a capture reader decodes them, in the capture's order.

    Parameters
    ----------
    ts_us, size, flow, flags : ndarray of int64, shape [P]
        Send time (microseconds), IP total length, ``2 * conversation + direction`` and TCP flags of
        every packet, in any order (sorted here by time, stably, as the file is written).
    tables : dict
        Per flow ``2 * conversation + direction``: ``src_ip``, ``dst_ip`` (bytes), ``sport``,
        ``dport``, ``proto``, ``src_mac``, ``dst_mac`` (bytes), and optionally ``ttl``, ``window``
        (else 64 and 65535), ``trace`` (the conversation's trace; else a conversation is a
        trace) and ``syn`` (each side's SYN options, :func:`~netdiffus.export.tcp_options.syn_rows`),
        as ``export_pcap`` builds them.
    ip_version : {4, 6}
    opt_kind : ndarray of int, shape [P], or None
        The TCP options each packet carries (:func:`~netdiffus.export.tcp_options.packet_options`);
        None: none.
    """
    order = np.argsort(ts_us, kind="stable")
    f = flow[order]
    proto = tables["proto"][f]
    is_tcp = proto == TCP
    src_hi, src_lo = _halves(tables["src_ip"])
    dst_hi, dst_lo = _halves(tables["dst_ip"])
    mac = lambda m: np.bitwise_or.reduce(  # noqa: E731
        [m[:, i].astype(np.int64) << (8 * (5 - i)) for i in range(6)], axis=0)
    n = len(order)
    ip_header = 20 if ip_version == 4 else 40
    kind = np.zeros(n, np.int64) if opt_kind is None else opt_kind[order]
    syn_rows = tables["syn"][f] if "syn" in tables else np.full((n, 4), -1, np.int64)
    l4_header = np.where(is_tcp, 20, np.where(proto == UDP, 8, 0)) + option_lengths(kind, syn_rows)
    syn = is_tcp & ((flags[order] & 0x02) != 0)
    carried = syn & (kind == SYN_OPTIONS)
    options = np.where(syn[:, None], np.array([-1, -1, 0, 0]), -1)  # a SYN without options
    options[carried] = syn_rows[carried]
    return PacketBatch(
        ts_ns=ts_us[order].astype(np.int64) * 1000, length=size[order].astype(np.int64), is_ip=np.ones(n, bool),
        proto=proto.astype(np.int64), src_hi=src_hi[f], src_lo=src_lo[f], dst_hi=dst_hi[f], dst_lo=dst_lo[f],
        sport=tables["sport"][f].astype(np.int64), dport=tables["dport"][f].astype(np.int64),
        src_mac=mac(tables["src_mac"])[f], dst_mac=mac(tables["dst_mac"])[f],
        ttl=tables["ttl"][f] if "ttl" in tables else np.full(n, TTL, np.int64),
        tcp_flags=np.where(is_tcp, flags[order], -1).astype(np.int64),
        tcp_window=np.where(is_tcp, _windows(tables, f, flags[order]), -1).astype(np.int64),
        payload=np.maximum(size[order] - ip_header - l4_header, 0).astype(np.int64),
        **{k: options[:, j].astype(t) for j, (k, t) in enumerate(SYN_OPTION_DTYPES.items())},
    )


def export_records(*, ts_us: np.ndarray, size: np.ndarray, flow: np.ndarray, flags: np.ndarray,
                   tables: dict[str, np.ndarray], ip_version: Literal[4, 6],
                   opt_kind: np.ndarray | None = None) -> tuple[list[FlowRecord], list[int]]:
    """The flow records of an export (see :func:`export_batch` for the parameters; packets grouped by
    trace, in export order, as ``export_pcap`` holds them), and for each the trace (position in
    export order) it belongs to, ordered by their first packet in the capture.

    A trace whose packets fall silent for longer than the idle timeout (120 s) gives several
    records, as a flow meter splits it (a trace of several conversations, one record each at least).
    No flow spans two traces (each conversation has its own 5-tuple), so the
    traces are taken :data:`CHUNK_PACKETS` packets at a time: the records cost about 16 bytes per
    packet of the capture, not a decoded copy of it.
    """
    n = len(ts_us)
    position = np.empty(n, np.int64)  # each packet's place in the capture file
    position[np.argsort(ts_us, kind="stable")] = np.arange(n)
    trace = tables["trace"][flow] if "trace" in tables else flow // 2
    trace_starts = np.flatnonzero(np.diff(trace)) + 1
    found: list[tuple[int, FlowRecord, int]] = []
    a = 0
    while a < n:
        b = n if a + CHUNK_PACKETS >= n else int(np.append(trace_starts, n)[np.searchsorted(trace_starts,
                                                                                              a + CHUNK_PACKETS)])
        part = slice(a, b)
        batch = export_batch(ts_us=ts_us[part], size=size[part], flow=flow[part], flags=flags[part], tables=tables,
                             ip_version=ip_version, opt_kind=None if opt_kind is None else opt_kind[part])
        records, first, _ = flow_records(batch)
        in_capture = np.sort(position[part])[first]  # the batch is in capture order
        at = np.argsort(ts_us[part], kind="stable")[first]
        found += zip(in_capture.tolist(), records, trace[part][at].tolist(), strict=True)
        a = b
    found.sort(key=lambda x: x[0])
    return [r for _, r, _ in found], [t for _, _, t in found]


def _windows(tables: dict[str, np.ndarray], f: np.ndarray, flags: np.ndarray) -> np.ndarray | int:
    """Each packet's TCP window: its flow's ``syn_window`` on a SYN (where given), else ``window``."""
    if "window" not in tables:
        return TCP_WINDOW
    if "syn_window" not in tables:
        return tables["window"][f]
    return np.where(flags & 0x02, tables["syn_window"][f], tables["window"][f])
