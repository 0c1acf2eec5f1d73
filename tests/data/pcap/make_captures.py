"""Write the small golden captures of tests/data/pcap (run once; the files are committed).

    python tests/data/pcap/make_captures.py

Every capture is built with dpkt from one packet list (:func:`golden_packets`), so the tests can
count bytes and packets independently of the reader under test.
"""

from __future__ import annotations

import gzip
import io
import struct
from pathlib import Path

import dpkt

HERE = Path(__file__).parent
T0_NS = 1_700_000_000 * 10**9  # timestamps are integer nanoseconds
DEVICE_MAC = bytes.fromhex("020000000001")
ROUTER_MAC = bytes.fromhex("020000000002")
OTHER_MAC = bytes.fromhex("020000000003")
DEVICE_IP = bytes([192, 168, 1, 10])
SERVER_IP = bytes([93, 184, 216, 34])
DEVICE_IP6 = bytes.fromhex("fd000000000000000000000000000010")
SERVER_IP6 = bytes.fromhex("20010db8000000000000000000000001")


def _ip4(src, dst, p, payload):
    ip = dpkt.ip.IP(src=src, dst=dst, p=p, ttl=64, data=payload)
    ip.len = 20 + len(bytes(payload))
    return ip


def _ip6(src, dst, nh, payload):
    ip6 = dpkt.ip6.IP6(src=src, dst=dst, nxt=nh, hlim=64, data=payload)
    ip6.plen = len(bytes(payload))
    return ip6


def golden_packets():
    """(time offset s, from_device, l3 packet object or None for ARP, ethertype)."""
    pk = []
    tcp = lambda sp, dp, n: dpkt.tcp.TCP(sport=sp, dport=dp, flags=dpkt.tcp.TH_ACK, data=b"x" * n)  # noqa: E731
    udp = lambda sp, dp, n: dpkt.udp.UDP(sport=sp, dport=dp, ulen=8 + n, data=b"u" * n)  # noqa: E731
    # flow 1: TCP device:40000 -> server:443, packets in bins 0, 0, 1, 3 (bin 0.25 s)
    pk.append((0.000, True, _ip4(DEVICE_IP, SERVER_IP, 6, tcp(40000, 443, 0)), 0x0800))
    pk.append((0.100, False, _ip4(SERVER_IP, DEVICE_IP, 6, tcp(443, 40000, 0)), 0x0800))
    pk.append((0.260, True, _ip4(DEVICE_IP, SERVER_IP, 6, tcp(40000, 443, 300)), 0x0800))
    pk.append((0.800, False, _ip4(SERVER_IP, DEVICE_IP, 6, tcp(443, 40000, 1400)), 0x0800))
    # flow 2: UDP DNS
    pk.append((0.300, True, _ip4(DEVICE_IP, SERVER_IP, 17, udp(5353, 53, 33)), 0x0800))
    pk.append((0.310, False, _ip4(SERVER_IP, DEVICE_IP, 17, udp(53, 5353, 120)), 0x0800))
    # ICMP echo and reply
    icmp = dpkt.icmp.ICMP(type=8, code=0, data=dpkt.icmp.ICMP.Echo(id=1, seq=1, data=b"p" * 56))
    pk.append((0.500, True, _ip4(DEVICE_IP, SERVER_IP, 1, icmp), 0x0800))
    pk.append((0.510, False, _ip4(SERVER_IP, DEVICE_IP, 1, icmp), 0x0800))
    # GRE (protocol 47): counted by IP length
    pk.append((1.000, True, _ip4(DEVICE_IP, SERVER_IP, 47, b"g" * 24), 0x0800))
    # IPv6 UDP
    pk.append((1.100, True, _ip6(DEVICE_IP6, SERVER_IP6, 17, udp(6000, 7000, 10)), 0x86DD))
    pk.append((1.600, False, _ip6(SERVER_IP6, DEVICE_IP6, 17, udp(7000, 6000, 90)), 0x86DD))
    # ARP request from the device (not IP: counted by link payload length 28)
    pk.append((2.000, True, None, 0x0806))
    # TCP flow 1 again after 1.5 s (same flow with a 120 s idle timeout)
    pk.append((2.400, True, _ip4(DEVICE_IP, SERVER_IP, 6, tcp(40000, 443, 10)), 0x0800))
    return pk


def _arp() -> bytes:
    return struct.pack(">HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, DEVICE_MAC, DEVICE_IP, b"\0" * 6, SERVER_IP)


def ethernet_frames(vlan: int = 0):
    """(ts, frame bytes) with 0, 1 (802.1Q) or 2 (QinQ) VLAN tags."""
    out = []
    for i, (dt, up, l3, et) in enumerate(golden_packets()):
        src, dst = (DEVICE_MAC, ROUTER_MAC) if up else (ROUTER_MAC, DEVICE_MAC)
        payload = _arp() if l3 is None else bytes(l3)
        tags = b""
        if vlan >= 2:
            tags += struct.pack(">HH", 0x88A8, 100)
        if vlan >= 1:
            tags += struct.pack(">HH", 0x8100, 10 + (i % 3))
        frame = dst + src + tags + struct.pack(">H", et) + payload
        out.append((T0_NS + round(dt * 1e6) * 1000, frame))
    # a frame between two other hosts (not the device): only in file/flow units
    other = _ip4(bytes([192, 168, 1, 20]), bytes([192, 168, 1, 21]), 17, dpkt.udp.UDP(sport=1, dport=2, ulen=8))
    out.insert(5, (T0_NS + 305_000_000, ROUTER_MAC + OTHER_MAC + struct.pack(">H", 0x0800) + bytes(other)))
    return out


def write_pcap(path, frames, *, linktype=1, nano=False, big_endian=False):
    e = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    buf = io.BytesIO()
    buf.write(struct.pack(e + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype))
    for ts, frame in frames:
        sec, ns = divmod(ts, 10**9)
        frac = ns if nano else ns // 1000
        buf.write(struct.pack(e + "IIII", sec, frac, len(frame), len(frame)) + frame)
    data = buf.getvalue()
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
    return data


def _opt(code, value):
    pad = (4 - len(value) % 4) % 4
    return struct.pack("<HH", code, len(value)) + value + b"\0" * pad


def _block(btype, body):
    n = 12 + len(body)
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def write_pcapng(path, frames, *, linktype=1, unknown_block=False, tsresol=9):
    out = _block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    out += _block(1, struct.pack("<HHI", linktype, 0, 65535) + _opt(9, bytes([tsresol])) + _opt(0, b""))
    for i, (ts, frame) in enumerate(frames):
        ticks = ts * 10**tsresol // 10**9
        pad = (4 - len(frame) % 4) % 4
        body = struct.pack("<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(frame), len(frame)) + frame + b"\0" * pad
        out += _block(6, body)
        if unknown_block and i == 3:
            out += _block(0x00000123, b"\x01\x02\x03\x04")
    path.write_bytes(out)


def main():
    eth = ethernet_frames()
    write_pcap(HERE / "golden.pcap", eth)
    write_pcap(HERE / "golden-be-ns.pcap", eth, nano=True, big_endian=True)
    write_pcap(HERE / "golden.pcap.gz", eth)
    write_pcapng(HERE / "golden.pcapng", eth)
    write_pcap(HERE / "golden-vlan.pcap", ethernet_frames(vlan=1))
    write_pcap(HERE / "golden-qinq.pcap", ethernet_frames(vlan=2))
    ip_only = [(ts, f[14:]) for ts, f in eth if f[12:14] in (b"\x08\x00", b"\x86\xdd")]
    write_pcap(HERE / "golden-raw.pcap", ip_only, linktype=101)
    fam = lambda f: struct.pack("<I", 2 if f[0] >> 4 == 4 else 30)  # noqa: E731
    write_pcap(HERE / "golden-null.pcap", [(ts, fam(f) + f) for ts, f in ip_only], linktype=0)
    sll = [(ts, struct.pack(">HHH", 4 if f[6:12] == DEVICE_MAC else 0, 1, 6) + f[6:12] + b"\0\0" + f[12:])
           for ts, f in eth]
    write_pcap(HERE / "golden-sll.pcap", sll, linktype=113)
    sll2 = [(ts, f[12:14] + b"\0\0" + struct.pack(">I", 1)
             + struct.pack(">HBB", 1, 4 if f[6:12] == DEVICE_MAC else 0, 6)
             + f[6:12] + b"\0\0" + f[14:]) for ts, f in eth]
    write_pcap(HERE / "golden-sll2.pcap", sll2, linktype=276)
    # broken inputs
    bad = HERE / "bad"
    bad.mkdir(exist_ok=True)
    data = write_pcap(bad / "truncated.pcap", eth)
    (bad / "truncated.pcap").write_bytes(data[: len(data) - 30])
    (bad / "empty.pcap").write_bytes(b"")
    import random

    rnd = random.Random(0)
    (bad / "random.pcap").write_bytes(bytes(rnd.randrange(256) for _ in range(512)))
    write_pcap(bad / "wifi.pcap", eth[:2], linktype=105)  # IEEE 802.11: unsupported
    write_pcapng(HERE / "unknown-block.pcapng", eth, unknown_block=True, tsresol=6)


if __name__ == "__main__":
    main()
