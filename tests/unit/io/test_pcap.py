"""Capture reader: containers, link types, header fields against dpkt, broken inputs, fuzzing."""

from __future__ import annotations

import gzip
import io
import struct
from pathlib import Path

import dpkt
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netdiffus.io.pcap import (
    CaptureError,
    PacketBatch,
    decode_batch,
    decode_batch_dpkt,
    iter_packet_batches,
    iter_raw_batches,
)

DATA = Path(__file__).parents[2] / "data" / "pcap"
GOLDEN = ["golden.pcap", "golden-be-ns.pcap", "golden.pcap.gz", "golden.pcapng", "golden-vlan.pcap",
          "golden-qinq.pcap", "golden-sll.pcap", "golden-sll2.pcap"]
IP_ONLY = ["golden-raw.pcap", "golden-null.pcap"]


def _concat(batches: list[PacketBatch]) -> PacketBatch:
    return PacketBatch(**{k: np.concatenate([getattr(b, k) for b in batches]) for k in PacketBatch.empty().__dict__})


def read(path: Path, **kw) -> PacketBatch:
    return _concat(list(iter_packet_batches(path, **kw)))


def _dpkt_reference(path: Path) -> list[tuple[int, int, int, int, int]]:
    """(ts_ns, ip length, proto, sport, dport) of every packet, read and decoded by dpkt alone."""
    out = []
    with open(path, "rb") as fh:
        for ts, buf in dpkt.pcap.Reader(fh):
            eth = dpkt.ethernet.Ethernet(buf)
            ip = eth.data
            ts_ns = round(float(ts) * 1e6) * 1000
            if isinstance(ip, dpkt.ip.IP):
                l4 = ip.data
                ports = (l4.sport, l4.dport) if ip.p in (6, 17) else (0, 0)
                out.append((ts_ns, ip.len, ip.p, *ports))
            elif isinstance(ip, dpkt.ip6.IP6):
                out.append((ts_ns, 40 + ip.plen, ip.nxt, ip.data.sport, ip.data.dport))
            else:
                out.append((ts_ns, len(buf) - 14, -1, 0, 0))
    return out


def test_golden_fields_match_dpkt_alone():
    b = read(DATA / "golden.pcap")
    got = list(zip(b.ts_ns.tolist(), b.length.tolist(), b.proto.tolist(), b.sport.tolist(), b.dport.tolist(),
                   strict=True))
    assert got == _dpkt_reference(DATA / "golden.pcap")
    assert len(b) == 14


@pytest.mark.parametrize("name", GOLDEN + IP_ONLY)
def test_every_container_and_link_type_gives_the_same_packets(name):
    ref = read(DATA / "golden.pcap")
    b = read(DATA / name)
    keep = ref.is_ip if name in IP_ONLY else np.ones(len(ref), bool)
    for field in ("ts_ns", "length", "is_ip", "proto", "src_hi", "src_lo", "dst_hi", "dst_lo", "sport", "dport"):
        np.testing.assert_array_equal(getattr(b, field), getattr(ref, field)[keep], err_msg=field)
    if name in ("golden.pcap", "golden-vlan.pcap", "golden-qinq.pcap", "golden.pcapng"):
        np.testing.assert_array_equal(b.src_mac, ref.src_mac)
        np.testing.assert_array_equal(b.dst_mac, ref.dst_mac)
    if name in ("golden-sll.pcap", "golden-sll2.pcap"):  # cooked captures carry the source MAC only
        np.testing.assert_array_equal(b.src_mac, ref.src_mac)
        assert (b.dst_mac == -1).all()


@pytest.mark.parametrize("name", GOLDEN + IP_ONLY + ["unknown-block.pcapng"])
def test_fast_decoder_equals_dpkt_decoder(name):
    for raw in iter_raw_batches(DATA / name):
        fast, ref = decode_batch(raw), decode_batch_dpkt(raw)
        for field, value in fast.__dict__.items():
            np.testing.assert_array_equal(value, getattr(ref, field), err_msg=f"{name}: {field}")


def test_small_chunks_give_the_same_packets():
    ref = read(DATA / "golden.pcap")
    for name in ("golden.pcap", "golden.pcapng", "golden.pcap.gz"):
        b = read(DATA / name, chunk_bytes=64)
        np.testing.assert_array_equal(b.ts_ns, ref.ts_ns)
        np.testing.assert_array_equal(b.length, ref.length)


def test_stream_input():
    data = (DATA / "golden.pcap").read_bytes()
    assert len(read(io.BytesIO(data), name="mem")) == 14  # type: ignore[arg-type]
    assert len(read(io.BytesIO(gzip.compress(data)), name="mem")) == 14  # type: ignore[arg-type]


def test_ip_lengths_and_non_ip_length():
    b = read(DATA / "golden.pcap")
    # SYN 40, ..., ARP: the 28-byte link payload
    assert b.length.tolist() == [40, 40, 340, 1440, 61, 28, 148, 84, 84, 44, 58, 138, 28, 50]
    assert b.proto.tolist() == [6, 6, 6, 6, 17, 17, 17, 1, 1, 47, 17, 17, -1, 6]
    assert b.is_ip.tolist() == [True] * 12 + [False, True]


@pytest.mark.parametrize(
    "name, message",
    [
        ("empty.pcap", "empty.pcap: file is empty"),
        ("random.pcap", "random.pcap: not a pcap or pcapng capture (first bytes c5d71484)"),
        ("truncated.pcap", "truncated.pcap: truncated capture: record at byte 2947 needs 80 bytes, only 50 left"),
        ("wifi.pcap", "wifi.pcap: unsupported link type 105 (supported: 0 BSD loopback (NULL), 1 Ethernet,"),
    ],
)
def test_broken_inputs_raise_capture_error_naming_file_and_reason(name, message):
    with pytest.raises(CaptureError) as exc:
        list(iter_packet_batches(DATA / "bad" / name))
    assert str(exc.value).startswith(f"{DATA / 'bad'}/{message}")


@pytest.mark.parametrize("name, cut", [("golden.pcap", 30), ("golden.pcapng", 10)])
def test_a_capture_cut_in_its_last_record_is_read_up_to_the_cut_with_a_warning(name, cut):
    data = (DATA / name).read_bytes()[:-cut]
    with pytest.raises(CaptureError) as exc:  # without a callback: an error
        read(io.BytesIO(data), name="mem")  # type: ignore[arg-type]
    warnings: list[str] = []
    b = read(io.BytesIO(data), name="mem", on_warning=warnings.append)  # type: ignore[arg-type]
    assert warnings == [str(exc.value)] and warnings[0].startswith("mem: truncated capture: record at byte ")
    whole = read(DATA / "golden.pcap")
    assert len(b) == len(whole) - 1
    np.testing.assert_array_equal(b.length, whole.length[:-1])


def test_unknown_pcapng_block_is_skipped_with_a_warning():
    warnings: list[str] = []
    b = read(DATA / "unknown-block.pcapng", on_warning=warnings.append)
    assert len(b) == 14
    assert warnings == [f"{DATA / 'unknown-block.pcapng'}: skipped pcapng block(s) of unknown type 0x00000123"]
    np.testing.assert_array_equal(b.ts_ns, read(DATA / "golden.pcap").ts_ns)  # if_tsresol 10^-6


def test_missing_file():
    with pytest.raises(CaptureError, match="nope.pcap: cannot open"):
        list(iter_packet_batches(DATA / "nope.pcap"))


# -- property-based tests -------------------------------------------------------------------------
_PCAP_BYTES = (DATA / "golden.pcap").read_bytes()
_PCAPNG_BYTES = (DATA / "golden.pcapng").read_bytes()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from([_PCAP_BYTES, _PCAPNG_BYTES, (DATA / "golden.pcap.gz").read_bytes()]),
    cut=st.integers(min_value=0, max_value=4000),
    flips=st.lists(st.tuples(st.integers(0, 3400), st.integers(0, 255)), max_size=8),
)
def test_fuzz_reader_raises_only_capture_error(base, cut, flips):
    data = bytearray(base[: max(cut, 1)] if cut < len(base) else base)
    for pos, val in flips:
        if pos < len(data):
            data[pos] = val
    try:
        for b in iter_packet_batches(io.BytesIO(bytes(data)), name="fuzz"):  # type: ignore[arg-type]
            assert len(b.ts_ns) == len(b.length)
            assert (b.length >= 0).all()
    except CaptureError as exc:
        assert str(exc).startswith("fuzz: ")


_ADDR4 = st.binary(min_size=4, max_size=4)
_ADDR6 = st.binary(min_size=16, max_size=16)


@st.composite
def _frames(draw):
    v6 = draw(st.booleans())
    proto = draw(st.sampled_from([6, 17, 1, 47, 132]))
    payload = draw(st.binary(max_size=64))
    sport, dport = draw(st.integers(0, 65535)), draw(st.integers(0, 65535))
    if proto == 6:
        l4 = bytes(dpkt.tcp.TCP(sport=sport, dport=dport, data=payload))
    elif proto in (17, 132):
        l4 = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload
    else:
        l4 = payload
    if v6:
        ip = dpkt.ip6.IP6(src=draw(_ADDR6), dst=draw(_ADDR6), nxt=proto, hlim=1, data=l4)
        ip.plen = len(l4)
        et = 0x86DD
    else:
        ip = dpkt.ip.IP(src=draw(_ADDR4), dst=draw(_ADDR4), p=proto, data=l4)
        ip.len = 20 + len(l4)
        et = 0x0800
    vlan = draw(st.integers(0, 2))
    tags = b"".join(struct.pack(">HH", 0x8100, 5) for _ in range(vlan))
    return draw(st.binary(min_size=12, max_size=12)) + tags + struct.pack(">H", et) + bytes(ip)


@settings(max_examples=60, deadline=None)
@given(frames=st.lists(_frames(), min_size=1, max_size=20))
def test_fast_decoder_equals_dpkt_on_random_packets(frames):
    buf = io.BytesIO()
    buf.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for i, f in enumerate(frames):
        buf.write(struct.pack("<IIII", 100 + i, 0, len(f), len(f)) + f)
    buf.seek(0)
    for raw in iter_raw_batches(buf, name="gen"):
        fast, ref = decode_batch(raw), decode_batch_dpkt(raw)
        for field, value in fast.__dict__.items():
            np.testing.assert_array_equal(value, getattr(ref, field), err_msg=field)


# -- implausible records: warned about, counted, mended; the rest of the capture survives ----------
def _udp_frame(payload: int = 60, *, version: int = 4, total: int | None = None) -> bytes:
    ip = struct.pack(">BBHHHBBH4s4s", (version << 4) | 5, 0, 28 + payload if total is None else total, 0, 0, 64, 17,
                     0, bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    udp = struct.pack(">HHHH", 1, 2, (8 + payload) & 0xFFFF, 0) + bytes(payload)
    return bytes.fromhex("020000000002020000000001") + b"\x08\x00" + ip + udp


def _pcap(records: list[tuple[int, bytes, int | None]]) -> bytes:
    """A classic pcap of (Unix seconds, frame, original length or None) records."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for ts, frame, orig in records:
        out.append(struct.pack("<IIII", ts, 0, len(frame), len(frame) if orig is None else orig) + frame)
    return b"".join(out)


T0 = 1_700_000_000


def _read_with(data: bytes, **kw):
    warnings: list[str] = []
    from netdiffus.io.pcap import ReadStats

    stats = ReadStats()
    b = read(io.BytesIO(data), name="mem", on_warning=warnings.append, stats=stats, **kw)  # type: ignore[arg-type]
    return b, warnings, stats


def test_a_first_record_stamped_zero_is_timed_as_the_next_one_with_a_warning():
    frames = [(0, _udp_frame(), None)] + [(T0 + i, _udp_frame(), None) for i in range(99)]
    b, warnings, stats = _read_with(_pcap(frames), chunk_bytes=1000)  # several batches
    assert b.ts_ns.min() == T0 * 10**9 and len(b) == 100
    assert stats.retimed == 1
    assert warnings == ["mem: 1 record(s) with an implausible timestamp (0, or a day or more from both neighbours): "
                        "timed as their neighbour"]


def test_lone_timestamps_far_from_both_neighbours_are_mended_a_clock_that_jumps_and_stays_is_not():
    lone = [(T0, _udp_frame(), None), (T0 + 1, _udp_frame(), None), (4_000_000_000, _udp_frame(), None),
            (T0 + 2, _udp_frame(), None), (0, _udp_frame(), None), (T0 + 3, _udp_frame(), None)]
    b, _, stats = _read_with(_pcap(lone))
    assert (b.ts_ns // 10**9).tolist() == [T0, T0 + 1, T0 + 1, T0 + 2, T0 + 2, T0 + 3] and stats.retimed == 2
    jump = [(1000 + i, _udp_frame(), None) for i in range(3)] + [(T0 + i, _udp_frame(), None) for i in range(3)]
    b, warnings, stats = _read_with(_pcap(jump))
    assert (b.ts_ns // 10**9).tolist() == [1000, 1001, 1002, T0, T0 + 1, T0 + 2] and stats.retimed == 0
    assert warnings == []


def test_an_original_length_of_4_gb_counts_the_bytes_captured():
    arp = bytes.fromhex("ffffffffffff020000000001") + b"\x08\x06" + bytes(28)
    tso = _udp_frame(100, total=0)  # IPv4 total length 0: the frame's length is used
    data = _pcap([(T0, arp, 0xFFFFFFFF), (T0, tso, 0xFFFFFFFF), (T0 + 1, _udp_frame(), None), (T0 + 2, arp, 10)])
    b, warnings, stats = _read_with(data)
    assert b.length.tolist() == [28, 128, 88, 28]
    assert stats.length_fixed == 3
    assert warnings == ["mem: 3 record(s) with an implausible original length (over 262144 bytes, or below the "
                        "bytes captured): counted at their captured length"]


def test_strict_prepare_refuses_an_implausible_record(tmp_path):
    from netdiffus.prepare import prepare

    arp = bytes.fromhex("ffffffffffff020000000001") + b"\x08\x06" + bytes(28)
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x.pcap").write_bytes(_pcap([(T0, arp, 0xFFFFFFFF)] + [(T0 + i, _udp_frame(), None)
                                                                           for i in range(3)]))
    ds, summary = prepare([tmp_path], unit="file")
    assert ds.series.sum() == 28 + 3 * 88 and summary.reading.length_fixed == 1
    assert "records with an implausible original length (counted at their captured length): 1" in \
        summary.format_text()
    from netdiffus.errors import InputError

    with pytest.raises(InputError, match="x.pcap: 1 record.s. with an implausible original length"):
        prepare([tmp_path], unit="file", strict=True)


def test_a_capture_whose_first_record_is_stamped_zero_keeps_its_bytes(tmp_path):
    (tmp_path / "dev").mkdir()
    frames = [(0, _udp_frame(), None)] + [(T0 + i // 10, _udp_frame(), None) for i in range(99)]
    (tmp_path / "dev" / "x.pcap").write_bytes(_pcap(frames))
    from netdiffus.prepare import prepare

    ds, summary = prepare([tmp_path], unit="file", length=64)
    assert ds.series.sum() == 100 * 88  # was 88: the other 99 packets fell past the last bin
    assert summary.reading.retimed == 1


def test_one_oversized_record_is_skipped_not_the_capture():
    big = _udp_frame(300_000 - 42, total=65535)
    data = _pcap([(T0, _udp_frame(), None), (T0, big, None), (T0 + 1, _udp_frame(), None)])
    b, warnings, stats = _read_with(data, chunk_bytes=4096)
    assert len(b) == 2 and stats.oversized == 1
    assert warnings == ["mem: skipped 1 record(s) of more than 262144 bytes"]


def test_a_12_byte_pcapng_block_at_the_end_is_a_warning_not_a_skipped_file():
    block = struct.pack("<III", 6, 12, 12)  # an enhanced packet block with no room for its fields
    b, warnings, stats = _read_with((DATA / "golden.pcapng").read_bytes() + block)
    assert len(b) == 14 and stats.bad_blocks == 1
    assert warnings == ["mem: skipped 1 corrupt pcapng block(s) (too short for their type)"]


def test_a_truncated_pcap_gz_is_read_up_to_the_cut_like_the_plain_capture():
    data = (DATA / "golden.pcap").read_bytes()
    plain, plain_warnings, _ = _read_with(data[:-30])
    packed = gzip.compress(data)
    b, warnings, stats = _read_with(packed[: len(packed) * 2 // 3])
    assert 0 < len(b) <= len(plain) and stats.cut_short
    np.testing.assert_array_equal(b.length, plain.length[: len(b)])
    assert len(warnings) == 1 and warnings[0].startswith("mem: truncated capture")
    b, warnings, _ = _read_with(gzip.compress(data[:-30]))  # the capture cut, then compressed
    assert len(b) == len(plain) and warnings == plain_warnings


def test_a_gzip_bomb_is_refused_early_naming_the_option(monkeypatch):
    monkeypatch.setattr("netdiffus.io.pcap._GZIP_RATIO_FLOOR", 1 << 20)  # judged from 1 MiB out (64 by default)
    header = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
    bomb = gzip.compress(header + bytes(16 << 20), compresslevel=9)  # ~1000:1
    with pytest.raises(CaptureError) as exc:
        list(iter_raw_batches(io.BytesIO(bomb), name="bomb.pcap.gz"))  # type: ignore[arg-type]
    assert str(exc.value).startswith("bomb.pcap.gz: gzip data expands more than 200 times (")
    assert str(exc.value).endswith("a compression bomb, or not a capture (--max-gzip-ratio 0 lifts the limit)")


def test_dpkt_decoder_gives_the_fields_of_the_fast_decoder_for_odd_ip_headers():
    frames = [_udp_frame(100, total=0), _udp_frame(version=5), _udp_frame(version=0)]
    raw = next(iter_raw_batches(io.BytesIO(_pcap([(T0, f, None) for f in frames])), name="m"))  # type: ignore[arg-type]
    fast, ref = decode_batch(raw), decode_batch_dpkt(raw)
    assert fast.length.tolist() == [128, 88 - 20 + 20, 88] and fast.is_ip.tolist() == [True, False, False]
    for field, value in fast.__dict__.items():
        np.testing.assert_array_equal(value, getattr(ref, field), err_msg=field)


def test_deep_ip_in_ip_with_dpkt_is_a_warning_with_the_fast_decoders_fields():
    inner = bytes([10, 0, 0, 1]) + bytes([10, 0, 0, 2])
    ip = b""
    for _ in range(2000):  # IP in IP (protocol 4), nested deeper than dpkt can recurse
        ip = struct.pack(">BBHHHBBH", 0x45, 0, 20 + len(ip), 0, 0, 64, 4, 0) + inner + ip
    frame = bytes.fromhex("020000000002020000000001") + b"\x08\x00" + ip[:60_000]
    data = _pcap([(T0, frame, None), (T0, _udp_frame(), None)])
    b, warnings, stats = _read_with(data, decoder="dpkt")
    fast, _, _ = _read_with(data)
    assert stats.undecoded == 1 and warnings == [
        "mem: 1 packet(s) nested too deeply for dpkt (IP in IP): their outer headers decoded as the fast decoder does"]
    for field, value in fast.__dict__.items():
        np.testing.assert_array_equal(value, getattr(b, field), err_msg=field)


def _tcp_frame(*, flags: int, window: int, payload: int, options: bytes = b"", ttl: int = 64) -> bytes:
    tcp = struct.pack(">HHIIBBHHH", 40000, 443, 1, 0, (5 + len(options) // 4) << 4, flags, window, 0, 0) + options
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp) + payload, 0, 0, ttl, 6, 0, bytes([10, 0, 0, 1]),
                     bytes([10, 0, 0, 2]))
    return bytes.fromhex("020000000002020000000001") + b"\x08\x00" + ip + tcp + bytes(payload)


@pytest.mark.parametrize("frame, fields", [
    # (ttl, tcp_flags, tcp_window, payload): hand-computed from the headers
    (_tcp_frame(flags=0x02, window=64240, payload=0, options=bytes([2, 4, 5, 180])), (64, 0x02, 64240, 0)),
    (_tcp_frame(flags=0x18, window=501, payload=100, options=bytes(12), ttl=128), (128, 0x18, 501, 100)),
    (_tcp_frame(flags=0xC2, window=0, payload=7), (64, 0xC2, 0, 7)),
    (_udp_frame(60), (64, -1, -1, 60)),
    (bytes.fromhex("ffffffffffff020000000001") + b"\x08\x06" + bytes(28), (-1, -1, -1, 0)),  # ARP: not IP
])
def test_ttl_tcp_flags_window_and_payload_of_both_decoders(frame, fields):
    raw = next(iter_raw_batches(io.BytesIO(_pcap([(T0, frame, None)])), name="m"))  # type: ignore[arg-type]
    for b in (decode_batch(raw), decode_batch_dpkt(raw)):
        assert (int(b.ttl[0]), int(b.tcp_flags[0]), int(b.tcp_window[0]), int(b.payload[0])) == fields


def _syn_frame(flags: int, options: bytes, *, caplen: int | None = None) -> bytes:
    tcp = struct.pack(">HHIIBBHHH", 50000, 443, 1, 0, (20 + len(options)) // 4 << 4, flags, 64240, 0, 0) + options
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0, bytes([10, 0, 0, 1]),
                     bytes([10, 0, 0, 2]))
    return (bytes.fromhex("020000000002020000000001") + b"\x08\x00" + ip + tcp)[:caplen]


@pytest.mark.parametrize(("frame", "options"), [  # (mss, wscale, sack_ok, timestamps)
    (_syn_frame(0x02, bytes.fromhex("020405b40402080a0000303900000000") + bytes.fromhex("01030307")),
     (1460, 7, 1, 1)),
    (_syn_frame(0x12, bytes.fromhex("020405b4010303080101040200000000")), (1460, 8, 1, 0)),
    (_syn_frame(0x02, bytes.fromhex("020405b4010303080101040200000000"), caplen=14 + 20 + 20 + 6), (1460, -1, 0, 0)),
    (_syn_frame(0x10, bytes.fromhex("020405b401010402")), (-1, -1, -1, -1)),  # not a SYN: not read
    (_syn_frame(0x02, b""), (-1, -1, 0, 0)),
])
def test_syn_options_fast_and_dpkt(frame: bytes, options: tuple[int, int, int, int]):
    raw = next(iter_raw_batches(io.BytesIO(_pcap([(T0, frame, None)])), name="m"))
    for b in (decode_batch(raw), decode_batch_dpkt(raw)):
        assert (int(b.tcp_mss[0]), int(b.tcp_wscale[0]), int(b.tcp_sack_ok[0]), int(b.tcp_timestamps[0])) == options
