"""Frames built with numpy are byte-identical to frames dpkt builds, and their checksums verify."""

from __future__ import annotations

import struct

import dpkt
import numpy as np
import pytest

from conftest import ones_complement_sum
from netdiffus.export.frames import (
    ICMP,
    ICMPV6,
    IGMP,
    TCP,
    UDP,
    encode_records,
    header_size,
    pcap_file_header,
)


def transport_checksum_ok(ip) -> bool:
    seg = bytes(ip.data)
    if isinstance(ip, dpkt.ip.IP):
        pseudo = ip.src + ip.dst + struct.pack("!BBH", 0, ip.p, len(seg))
    else:
        pseudo = ip.src + ip.dst + struct.pack("!IxxxB", len(seg), ip.nxt)
    return ones_complement_sum(pseudo + seg) == 0xFFFF


CASES = [
    # ip_version, proto, ip_len, flags
    (4, TCP, 40, 0x02),
    (4, TCP, 1500, 0x18),
    (4, TCP, 41, 0x11),
    (4, UDP, 28, 0),
    (4, UDP, 1433, 0),
    (6, TCP, 60, 0x12),
    (6, TCP, 1500, 0x10),
    (6, UDP, 48, 0),
    (6, UDP, 999, 0),
]


def _addr(v, host):
    return np.array([[192, 0, 2, host]] if v == 4 else [[0x20, 0x01, 0x0D, 0xB8] + [0] * 11 + [host]], np.uint8)


def _encode(v, proto, ip_len, flags, *, seq=123456789, ack=987654321, ip_id=4242, sport=50000, dport=443,
            snaplen=None, ts_us=1_704_067_200_123_456):
    return encode_records(
        ts_us=np.array([ts_us]), ip_len=np.array([ip_len]), proto=np.array([proto]),
        src_ip=_addr(v, 1), dst_ip=_addr(v, 2), sport=np.array([sport]), dport=np.array([dport]),
        src_mac=np.array([[2, 0, 1, 2, 3, 4]], np.uint8), dst_mac=np.array([[0, 0, 0x5E, 0, 0x53, 1]], np.uint8),
        ip_id=np.array([ip_id]), seq=np.array([seq]), ack=np.array([ack]), tcp_flags=np.array([flags]),
        flow_label=np.array([77]), ip_version=v, snaplen=snaplen,
    ).tobytes()


def _dpkt_frame(v, proto, ip_len, flags):
    hdr = header_size(ip_version=v, proto=proto)
    payload = b"\0" * (ip_len - hdr)
    if proto == TCP:
        l4 = dpkt.tcp.TCP(sport=50000, dport=443, seq=123456789, ack=987654321, flags=flags, win=65535, data=payload)
    else:
        l4 = dpkt.udp.UDP(sport=50000, dport=443, data=payload)
        l4.ulen = len(l4)
    if v == 4:
        ip = dpkt.ip.IP(src=bytes(_addr(4, 1)[0]), dst=bytes(_addr(4, 2)[0]), p=proto, ttl=64, id=4242,
                        df=1 if proto == TCP else 0, data=l4)
        ip.len = len(ip)
        etype = dpkt.ethernet.ETH_TYPE_IP
    else:
        ip = dpkt.ip6.IP6(src=bytes(_addr(6, 1)[0]), dst=bytes(_addr(6, 2)[0]), nxt=proto, hlim=64, data=l4)
        ip.plen = len(l4)
        ip.flow = 77
        # dpkt fills the IPv6 transport checksum itself
        etype = dpkt.ethernet.ETH_TYPE_IP6
    eth = dpkt.ethernet.Ethernet(dst=bytes([0, 0, 0x5E, 0, 0x53, 1]), src=bytes([2, 0, 1, 2, 3, 4]), type=etype,
                                 data=ip)
    return bytes(eth)


@pytest.mark.parametrize("v, proto, ip_len, flags", CASES)
def test_frame_matches_dpkt_and_checksums_verify(v, proto, ip_len, flags):
    rec = _encode(v, proto, ip_len, flags)
    ts_sec, ts_usec, incl, orig = struct.unpack("<IIII", rec[:16])
    frame = rec[16:]
    assert (ts_sec, ts_usec) == (1_704_067_200, 123_456)
    assert incl == orig == len(frame) == 14 + ip_len
    assert frame == _dpkt_frame(v, proto, ip_len, flags)
    ip = dpkt.ethernet.Ethernet(frame).data
    if v == 4:
        assert ones_complement_sum(frame[14:34]) == 0xFFFF
        assert ip.len == ip_len
    else:
        assert 40 + ip.plen == ip_len
    assert transport_checksum_ok(ip)
    assert ip.data.sum != 0


@pytest.mark.parametrize("seed", range(5))
def test_many_random_frames_verify(seed):
    rng = np.random.default_rng(seed)
    n = 300
    v = 4 if seed % 2 else 6
    proto = rng.choice([TCP, UDP], n)
    ip_len = np.array([rng.integers(header_size(ip_version=v, proto=p), 1501) for p in proto])
    alen = 4 if v == 4 else 16
    buf = encode_records(
        ts_us=np.sort(rng.integers(0, 2**31, n)) * 1000, ip_len=ip_len, proto=proto,
        src_ip=rng.integers(0, 256, (n, alen), dtype=np.uint8), dst_ip=rng.integers(0, 256, (n, alen), dtype=np.uint8),
        sport=rng.integers(0, 65536, n), dport=rng.integers(0, 65536, n),
        src_mac=rng.integers(0, 256, (n, 6), dtype=np.uint8), dst_mac=rng.integers(0, 256, (n, 6), dtype=np.uint8),
        ip_id=rng.integers(0, 65536, n), seq=rng.integers(0, 2**32, n), ack=rng.integers(0, 2**32, n),
        tcp_flags=rng.integers(0, 64, n), flow_label=rng.integers(0, 2**20, n), ip_version=v,
    ).tobytes()
    pos = 0
    for i in range(n):
        incl = struct.unpack("<I", buf[pos + 8 : pos + 12])[0]
        ip = dpkt.ethernet.Ethernet(buf[pos + 16 : pos + 16 + incl]).data
        pos += 16 + incl
        if v == 4:
            assert ones_complement_sum(bytes(ip)[:20]) == 0xFFFF
            assert ip.len == ip_len[i]
        assert transport_checksum_ok(ip)
        assert ip.data.sport >= 0 and len(ip.data.data) == ip_len[i] - header_size(ip_version=v, proto=proto[i])
    assert pos == len(buf)


def test_snaplen_truncates_payload_only():
    rec = _encode(4, TCP, 1500, 0x10, snaplen=96)
    incl, orig = struct.unpack("<II", rec[8:16])
    assert (incl, orig, len(rec)) == (96, 1514, 16 + 96)
    with pytest.raises(ValueError, match="snaplen must keep the 74 header bytes"):
        _encode(6, TCP, 1500, 0x10, snaplen=60)


def test_pcap_file_header():
    assert pcap_file_header() == bytes.fromhex(
        "d4c3b2a1 0200 0400 00000000 00000000 ffff0000 01000000".replace(" ", "")
    )


@pytest.mark.parametrize("v, proto, size", [(4, TCP, 40), (4, UDP, 28), (6, TCP, 60), (6, UDP, 48)])
def test_header_size(v, proto, size):
    assert header_size(ip_version=v, proto=proto) == size


@pytest.mark.parametrize(("v", "proto", "ip_len", "kind"), [(4, ICMP, 28, 8), (4, ICMP, 84, 0), (4, IGMP, 28, 0x16),
                                                        (6, ICMPV6, 48, 128), (6, ICMPV6, 1280, 129)])
def test_icmp_and_igmp_frames_verify(v, proto, ip_len, kind):
    """Echo requests / replies (identifier ``sport``, sequence ``seq``) and IGMP reports for ``dst_ip``."""
    frame = _encode(v, proto, ip_len, kind, seq=7, sport=0x1234)[16:]
    ip = dpkt.ethernet.Ethernet(frame).data
    msg = bytes(ip.data)
    assert len(msg) == ip_len - (20 if v == 4 else 40) and msg[0] == kind
    if v == 4:
        assert ip.p == proto and ones_complement_sum(msg) == 0xFFFF  # ICMP, IGMP: their own message only
        assert ones_complement_sum(bytes(ip)[:20]) == 0xFFFF
        rest = bytes(_addr(4, 2)[0]) if proto == IGMP else struct.pack("!HH", 0x1234, 7)
    else:
        assert ip.nxt == ICMPV6 and transport_checksum_ok(ip)  # ICMPv6: with the pseudo-header
        rest = struct.pack("!HH", 0x1234, 7)
    assert msg[4:8] == rest


@pytest.mark.parametrize(("v", "proto"), [(4, ICMPV6), (6, ICMP), (6, IGMP), (4, 47)])
def test_a_protocol_the_ip_version_cannot_carry_is_refused(v, proto):
    with pytest.raises(ValueError, match=f"proto {proto} cannot be written over IPv{v}"):
        _encode(v, proto, 100, 0)
