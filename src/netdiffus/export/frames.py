"""Ethernet / IPv4 / IPv6 / TCP / UDP / ICMP frames and pcap records, built many at a time with numpy.

Every packet is a header (Ethernet, IP, TCP, UDP, ICMP, ICMPv6 or IGMP) followed by a zero-filled
payload, so the transport checksum depends on the headers and lengths only: it is computed over
the header words and the pseudo-header (ICMP and IGMP: the header alone), which makes building a
million records a handful of array operations. An ICMP or ICMPv6 packet is an echo request or
reply (its type given as ``tcp_flags``; identifier ``sport``, sequence number ``seq``); an IGMP
packet a version 2 membership report for the group ``dst_ip``.
Records are classic pcap (microsecond timestamps, link type Ethernet), readable by Wireshark,
tcpdump, tcpreplay and dpkt.

Examples
--------
>>> import dpkt
>>> import numpy as np
>>> buf = encode_records(
...     ts_us=np.array([1_000_000]), ip_len=np.array([100]), proto=np.array([TCP]),
...     src_ip=np.array([[192, 0, 2, 1]], np.uint8), dst_ip=np.array([[198, 51, 100, 1]], np.uint8),
...     sport=np.array([49152]), dport=np.array([443]),
...     src_mac=np.zeros((1, 6), np.uint8), dst_mac=np.zeros((1, 6), np.uint8),
...     ip_id=np.array([7]), seq=np.array([1]), ack=np.array([0]), tcp_flags=np.array([0x02]),
...     flow_label=np.array([0]), ip_version=4)
>>> eth = dpkt.ethernet.Ethernet(buf[16:].tobytes())
>>> ip = eth.data
>>> ip.len, ip.data.sport, ip.data.dport, ip.data.flags, len(ip.data.data)
(100, 49152, 443, 2, 60)
"""

from __future__ import annotations

import struct
from typing import Literal

import numpy as np

__all__ = [
    "TCP",
    "UDP",
    "ICMP",
    "ICMPV6",
    "IGMP",
    "ICMP_TYPES",
    "LINKTYPE_ETHERNET",
    "header_size",
    "pcap_file_header",
    "encode_records",
]

TCP = 6
UDP = 17
ICMP = 1
IGMP = 2
ICMPV6 = 58
#: ICMP types written (forward, reverse): echo request and reply; IGMP: a version 2 report.
ICMP_TYPES = {ICMP: (8, 0), ICMPV6: (128, 129), IGMP: (0x16, 0x16)}
LINKTYPE_ETHERNET = 1
ETH_HEADER = 14
PCAP_RECORD_HEADER = 16
IP_HEADER = {4: 20, 6: 40}
L4_HEADER = {TCP: 20, UDP: 8, ICMP: 8, IGMP: 8, ICMPV6: 8}
ETHERTYPE = {4: 0x0800, 6: 0x86DD}
TTL = 64
TCP_WINDOW = 65535

_PCAP = [("ts_sec", "<u4"), ("ts_usec", "<u4"), ("incl", "<u4"), ("orig", "<u4")]
_ETH = [("eth_dst", "u1", (6,)), ("eth_src", "u1", (6,)), ("eth_type", ">u2")]
_IP4 = [("ip_vhl", "u1"), ("ip_tos", "u1"), ("ip_len", ">u2"), ("ip_id", ">u2"), ("ip_off", ">u2"),
        ("ip_ttl", "u1"), ("ip_p", "u1"), ("ip_sum", ">u2"), ("ip_src", "u1", (4,)), ("ip_dst", "u1", (4,))]
_IP6 = [("ip6_flow", ">u4"), ("ip6_plen", ">u2"), ("ip6_nxt", "u1"), ("ip6_hlim", "u1"),
        ("ip_src", "u1", (16,)), ("ip_dst", "u1", (16,))]
_TCP = [("sport", ">u2"), ("dport", ">u2"), ("seq", ">u4"), ("ack", ">u4"), ("off", "u1"), ("flags", "u1"),
        ("win", ">u2"), ("sum", ">u2"), ("urp", ">u2")]
_UDP = [("sport", ">u2"), ("dport", ">u2"), ("ulen", ">u2"), ("sum", ">u2")]
_ICMP = [("type", "u1"), ("code", "u1"), ("sum", ">u2"), ("rest", ">u4")]


def header_size(*, ip_version: Literal[4, 6], proto: int) -> int:
    """Smallest IP packet (IP + transport header, no payload) in bytes: 40 for IPv4 TCP, 28 for UDP or ICMP."""
    return IP_HEADER[ip_version] + L4_HEADER[proto]


def pcap_file_header(*, snaplen: int = 65535) -> bytes:
    """The 24-byte classic pcap file header (little-endian, microseconds, Ethernet)."""
    return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, LINKTYPE_ETHERNET)


def _dtype(ip_version: int, proto: int, options: int = 0) -> np.dtype:
    return np.dtype(_PCAP + _ETH + (_IP4 if ip_version == 4 else _IP6)
                    + (_TCP if proto == TCP else _UDP if proto == UDP else _ICMP)
                    + ([("opts", "u1", (options,))] if options else []))


def _fold(total: np.ndarray) -> np.ndarray:
    """Ones'-complement fold of 64-bit sums of 16-bit words -> 16-bit."""
    for _ in range(3):
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _word_sum(b: np.ndarray) -> np.ndarray:
    """Sum of big-endian 16-bit words of ``b`` ``[n, 2k]`` (uint8) -> ``[n]`` uint64."""
    w = b.reshape(len(b), -1, 2).astype(np.uint64)
    return (w[:, :, 0] << np.uint64(8) | w[:, :, 1]).sum(axis=1)


def encode_records(
    *,
    ts_us: np.ndarray,
    ip_len: np.ndarray,
    proto: np.ndarray,
    src_ip: np.ndarray,
    dst_ip: np.ndarray,
    sport: np.ndarray,
    dport: np.ndarray,
    src_mac: np.ndarray,
    dst_mac: np.ndarray,
    ip_id: np.ndarray,
    seq: np.ndarray,
    ack: np.ndarray,
    tcp_flags: np.ndarray,
    flow_label: np.ndarray,
    ip_version: Literal[4, 6],
    snaplen: int | None = None,
    out: np.ndarray | None = None,
    ttl: np.ndarray | None = None,
    window: np.ndarray | None = None,
    tcp_options: np.ndarray | None = None,
    tcp_options_len: np.ndarray | None = None,
) -> np.ndarray:
    """Build the pcap records of ``n`` packets (record headers + frames), in the order given.

    Parameters
    ----------
    ts_us : ndarray of int64, shape [n]
        Timestamps, microseconds since the Unix epoch.
    ip_len : ndarray of int, shape [n]
        IP total length in bytes (IPv6: 40 + payload length), at least the header size.
    proto : ndarray of int, shape [n]
        ``TCP``, ``UDP``, ``ICMP``, ``IGMP`` (IPv4 only) or ``ICMPV6`` (IPv6 only).
    src_ip, dst_ip : ndarray of uint8, shape [n, 4] or [n, 16]
    sport, dport : ndarray of int, shape [n]
    src_mac, dst_mac : ndarray of uint8, shape [n, 6]
    ip_id : ndarray of int, shape [n]
        IPv4 identification (ignored for IPv6).
    seq, ack, tcp_flags : ndarray of int, shape [n]
        TCP fields (ignored for UDP); ICMP: ``seq`` the echo sequence number, ``tcp_flags`` the type.
    flow_label : ndarray of int, shape [n]
        IPv6 flow label (ignored for IPv4).
    ip_version : {4, 6}
    snaplen : int or None
        Bytes of each frame kept in the file (the headers always are); None keeps whole frames.
    out : ndarray of uint8 or None
        A buffer to build the records in when it is large enough (reusing one buffer across calls
        avoids the page faults of fresh memory, which otherwise dominate the cost).
    ttl, window : ndarray of int, shape [n], or None
        IPv4 TTL / IPv6 hop limit (1 to 255) and TCP window (0 to 65535) of each packet; None:
        ``TTL`` (64) and ``TCP_WINDOW`` (65535) for all.
    tcp_options : ndarray of uint8, shape [n, 40], or None
        TCP options of each packet (its first ``tcp_options_len`` bytes; see
        :mod:`netdiffus.export.tcp_options`); None: no options.
    tcp_options_len : ndarray of int, shape [n], or None
        Bytes of options of each TCP packet, a multiple of 4 up to 40 (the data offset grows by a
        word per 4; the options are part of ``ip_len``, taken from the payload).

    Returns
    -------
    ndarray of uint8
        The records, ready to append to a pcap file (a view of ``out`` when it was used).
    """
    n = len(ts_us)
    ip_len = np.asarray(ip_len, np.int64)
    frame_len = ETH_HEADER + ip_len
    incl = frame_len if snaplen is None else np.minimum(frame_len, snaplen)
    rec_len = PCAP_RECORD_HEADER + incl
    offsets = np.zeros(n, np.int64)
    np.cumsum(rec_len[:-1], out=offsets[1:])
    total_len = int(rec_len.sum())
    if out is not None and out.dtype == np.uint8 and out.ndim == 1 and len(out) >= total_len:
        buf = out[:total_len]
        buf.fill(0)
    else:
        buf = np.zeros(total_len, np.uint8)
    fields = {"ts_us": ts_us, "ip_len": ip_len, "incl": incl, "frame_len": frame_len, "src_ip": src_ip,
              "dst_ip": dst_ip, "sport": sport, "dport": dport, "src_mac": src_mac, "dst_mac": dst_mac,
              "ip_id": ip_id, "seq": seq, "ack": ack, "tcp_flags": tcp_flags, "flow_label": flow_label,
              "ttl": np.full(n, TTL, np.int64) if ttl is None else np.asarray(ttl, np.int64),
              "window": np.full(n, TCP_WINDOW, np.int64) if window is None else np.asarray(window, np.int64),
              "opts": np.zeros((n, 0), np.uint8) if tcp_options is None else tcp_options}
    opt_len = np.zeros(n, np.int64) if tcp_options_len is None else np.asarray(tcp_options_len, np.int64)
    if np.any((opt_len % 4 != 0) | (opt_len < 0) | (opt_len > 40)):
        raise ValueError(f"tcp_options_len must be multiples of 4 from 0 to 40 (got {opt_len[opt_len % 4 != 0][:1]})")
    proto = np.asarray(proto, np.int64)
    wrong = np.isin(proto, (ICMPV6,) if ip_version == 4 else (ICMP, IGMP)) | ~np.isin(proto, list(L4_HEADER))
    if wrong.any():
        raise ValueError(f"proto {int(proto[wrong][0])} cannot be written over IPv{ip_version}")
    groups = [(p, 0) for p in L4_HEADER if p != TCP] + [(TCP, k) for k in np.unique(opt_len[proto == TCP]).tolist()]
    for p, k in groups:  # TCP: one group per length of options
        sel = np.flatnonzero((proto == p) & (opt_len == k) if p == TCP else proto == p)
        if not len(sel):
            continue
        dt = _dtype(ip_version, p, k)
        h = _headers(dt, sel, fields, proto=p, ip_version=ip_version)
        b = h.view(np.uint8).reshape(len(sel), dt.itemsize)
        _checksums(h, b, l4_len=ip_len[sel] - IP_HEADER[ip_version], proto=p, ip_version=ip_version)
        cols = min(dt.itemsize, int(PCAP_RECORD_HEADER + incl[sel].min()))
        if cols < dt.itemsize:
            header = dt.itemsize - PCAP_RECORD_HEADER
            if snaplen is not None and snaplen < header:
                raise ValueError(f"snaplen must keep the {header} header bytes (got {snaplen})")
            raise ValueError(f"ip_len must be at least the {header - ETH_HEADER}-byte IP and transport header "
                             f"(got {int(ip_len[sel].min())})")
        idx = offsets[sel, None] + np.arange(dt.itemsize)
        buf[idx] = b
    return buf


def _headers(dt: np.dtype, sel: np.ndarray, f: dict[str, np.ndarray], *, proto: int,
             ip_version: Literal[4, 6]) -> np.ndarray:
    """Record, Ethernet, IP and transport headers of the packets ``sel`` (all of protocol ``proto``),
    checksums left at zero: a structured array of dtype ``dt``, shape [len(sel)]."""
    h = np.zeros(len(sel), dt)
    ts = np.asarray(f["ts_us"], np.int64)[sel]
    h["ts_sec"] = ts // 1_000_000
    h["ts_usec"] = ts % 1_000_000
    h["incl"] = f["incl"][sel]
    h["orig"] = f["frame_len"][sel]
    h["eth_dst"] = f["dst_mac"][sel]
    h["eth_src"] = f["src_mac"][sel]
    h["eth_type"] = ETHERTYPE[ip_version]
    l4_len = f["ip_len"][sel] - IP_HEADER[ip_version]
    if ip_version == 4:
        h["ip_vhl"] = 0x45
        h["ip_len"] = f["ip_len"][sel]
        h["ip_id"] = np.asarray(f["ip_id"])[sel] & 0xFFFF
        h["ip_off"] = 0x4000 if proto == TCP else 0  # don't fragment
        h["ip_ttl"] = f["ttl"][sel]
        h["ip_p"] = proto
    else:
        h["ip6_flow"] = (6 << 28) | (np.asarray(f["flow_label"], np.int64)[sel] & 0xFFFFF)
        h["ip6_plen"] = l4_len
        h["ip6_nxt"] = proto
        h["ip6_hlim"] = f["ttl"][sel]
    h["ip_src"] = f["src_ip"][sel]
    h["ip_dst"] = f["dst_ip"][sel]
    if proto in ICMP_TYPES:
        h["type"] = f["tcp_flags"][sel]
        h["rest"] = _word32(f["dst_ip"][sel]) if proto == IGMP else \
            (np.asarray(f["sport"], np.int64)[sel] & 0xFFFF) << 16 | (np.asarray(f["seq"], np.int64)[sel] & 0xFFFF)
        return h
    h["sport"] = f["sport"][sel]
    h["dport"] = f["dport"][sel]
    if proto == TCP:
        h["seq"] = np.asarray(f["seq"], np.int64)[sel] & 0xFFFFFFFF
        h["ack"] = np.asarray(f["ack"], np.int64)[sel] & 0xFFFFFFFF
        k = dt["opts"].shape[0] if "opts" in (dt.names or ()) else 0
        h["off"] = (5 + k // 4) << 4
        h["flags"] = f["tcp_flags"][sel]
        h["win"] = f["window"][sel]
        if k:
            h["opts"] = f["opts"][sel, :k]
    else:
        h["ulen"] = l4_len
    return h


def _word32(addr: np.ndarray) -> np.ndarray:
    """IPv4 addresses ``[n, 4]`` (bytes) as big-endian 32-bit integers ``[n]``."""
    a = addr.astype(np.int64)
    return a[:, 0] << 24 | a[:, 1] << 16 | a[:, 2] << 8 | a[:, 3]


def _checksums(h: np.ndarray, b: np.ndarray, *, l4_len: np.ndarray, proto: int, ip_version: Literal[4, 6]) -> None:
    """Fill in the IPv4 header and transport checksums of headers ``h`` (``b``: the same memory as bytes).

    The payload is zeros, so the transport checksum covers the pseudo-header (addresses, protocol,
    transport length) and the transport header only.
    """
    ip0 = PCAP_RECORD_HEADER + ETH_HEADER
    l4 = ip0 + IP_HEADER[ip_version]
    if ip_version == 4:
        h["ip_sum"] = (~_fold(_word_sum(b[:, ip0:l4]))) & 0xFFFF
        addr = b[:, ip0 + 12 : ip0 + 20]
    else:
        addr = b[:, ip0 + 8 : ip0 + 40]
    total = _word_sum(b[:, l4:])
    if proto not in (ICMP, IGMP):  # ICMP and IGMP sum their own message only
        total = total + _word_sum(addr) + np.uint64(proto) + l4_len.astype(np.uint64)
    csum = (~_fold(total)) & 0xFFFF
    if proto == UDP:
        csum[csum == 0] = 0xFFFF  # 0 means "no checksum" in UDP
    h["sum"] = csum
