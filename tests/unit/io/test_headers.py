"""Header records of traces (netdiffus.io.headers): hand-built packets, table-driven."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import packet_batch
from netdiffus.errors import DatasetError, InputError
from netdiffus.io.dataset import DatasetMeta, TraceDataset, read_dataset, write_dataset
from netdiffus.io.flow_records import concat_batches
from netdiffus.io.headers import FlowHeader, ServerIds, TraceHeader, client_port_class, trace_header
from netdiffus.io.pcap import iter_packet_batches

A, B, C = 0xFFFF0A000001, 0xFFFF0A000002, 0xFFFF0A000003  # 10.0.0.1, .2, .3 as readers hold them
COLUMNS = "t_s src sport dst dport proto length ttl tcp_flags window payload"


def header(rows: list[tuple], servers: ServerIds | None = None) -> TraceHeader:
    return trace_header(packet_batch(rows, COLUMNS), servers=servers or ServerIds())


@pytest.mark.parametrize(("port", "cls"), [(0, 0), (68, 68), (1023, 1023), (1024, 1024), (49151, 1024),
                                           (49152, 49152), (65535, 49152)])
def test_client_port_class(port: int, cls: int) -> None:
    assert client_port_class(port) == cls


CASES = {
    "tcp handshake, data with and without PSH": (
        [(0.0, A, 50000, B, 443, 6, 60, 64, 0x02, 29200, 0),
         (0.1, B, 443, A, 50000, 6, 60, 58, 0x12, 65160, 0),
         (0.2, A, 50000, B, 443, 6, 100, 64, 0x18, 501, 48),
         (0.3, A, 50000, B, 443, 6, 100, 64, 0x10, 501, 48),
         (0.4, B, 443, A, 50000, 6, 52, 58, 0x10, 509, 0)],
        # 0.4 s; one pure ACK of 5; 372 bytes; no option columns in the batch: sack_ok -1
        [FlowHeader("tcp", 443, 49152, 5, 64, 58, 29200, 65160, 0, 50, 262144, 20, sack_ok_fwd=-1, bytes_class=256)]),
    "one-way udp, registered client port": (
        [(0.0, A, 5353, B, 53, 17, 60, 255, -1, -1, 32), (0.1, A, 5353, B, 53, 17, 60, 255, -1, -1, 32)],
        [FlowHeader("udp", 53, 1024, 2, 255, -1, -1, -1, 0, -1, 65536, sack_ok_fwd=-1, bytes_class=64)]),
    "two flows, largest first, icmp": (
        [(0.0, A, 0, C, 0, 1, 84, 64, -1, -1, 64),
         (0.1, A, 123, B, 123, 17, 76, 64, -1, -1, 48), (0.2, B, 123, A, 123, 17, 76, 63, -1, -1, 48),
         (0.3, A, 123, B, 123, 17, 76, 64, -1, -1, 48)],
        [FlowHeader("udp", 123, 123, 3, 64, 63, -1, -1, 1, -1, 131072, sack_ok_fwd=-1, bytes_class=128),
         FlowHeader("icmp", 0, 0, 1, 64, -1, -1, -1, 0, -1, 0, sack_ok_fwd=-1, bytes_class=64)]),
}


@pytest.mark.parametrize("name", CASES)
def test_trace_header(name: str) -> None:
    rows, flows = CASES[name]
    h = header(rows)
    assert h.ip_version == 4 and list(h.flows) == flows
    assert TraceHeader.from_json(h.to_json()) == h


def test_server_ids_are_shared_across_traces() -> None:
    servers = ServerIds()
    first = header([(0.0, A, 50000, B, 53, 17, 60, 64, -1, -1, 32)], servers)
    second = header([(0.0, C, 50001, A, 80, 17, 60, 64, -1, -1, 32), (0.1, C, 50001, B, 53, 17, 60, 64, -1, -1, 32)],
                    servers)
    assert first.flows[0].server_id == 0
    assert sorted(f.server_id for f in second.flows) == [0, 1]  # B again, then A


def test_max_flows_folds_the_rest_into_the_largest() -> None:
    rows = [(0.0, A, 50000, B, 443, 17, 60, 64, -1, -1, 32)] * 3 + \
        [(0.1 * k, A, 50001 + k, B, 53, 17, 60, 64, -1, -1, 32) for k in range(1, 4)]
    h = trace_header(packet_batch(rows, COLUMNS), servers=ServerIds(), max_flows=2)
    assert [f.packets for f in h.flows] == [5, 1] and h.packets == 6


@pytest.mark.parametrize(("obj", "message"), [
    ({"version": 5, "ip_version": 4, "flows": []}, "a trace header must be"),
    ({"version": 4, "ip_version": 4, "flows": [["udp", *[0] * 19]]}, "a flow header of version 4 must be"),
    ({"version": 3, "ip_version": 4, "flows": [["udp", *[0] * 11]]}, "a flow header of version 3 must be"),
    ({"version": 2, "ip_version": 4, "flows": [["udp", *[0] * 9]]}, "a flow header of version 2 must be"),
    ({"version": 1, "ip_version": 4, "flows": []}, "non-empty list of flows"),
    ({"version": 1, "ip_version": 4, "flows": [["tcp", 1]]}, "a flow header of version 1 must be"),
    ({"version": 1, "ip_version": 4, "flows": [["sctp", *[0] * 9]]}, "a flow header of version 1 must be"),
])
def test_bad_json(obj: dict, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        TraceHeader.from_json(obj)


def test_version_1_records_still_read() -> None:
    """A record written before durations and pure-ACK shares: those read as unknown (-1)."""
    old = {"version": 1, "ip_version": 4, "flows": [["tcp", 443, 49152, 5, 64, 58, 29200, 65160, 0, 50]]}
    [f] = TraceHeader.from_json(old).flows
    assert (f.psh_percent, f.duration_us, f.ack_percent) == (50, -1, -1)
    assert TraceHeader.from_json(TraceHeader.from_json(old).to_json()).flows == (f,)


def test_version_2_records_still_read() -> None:
    """A record written before the SYN options: they read as unknown (-1; whether a SYN was seen: -2), and
    write as version 3."""
    old = {"version": 2, "ip_version": 4,
           "flows": [["tcp", 443, 49152, 5, 64, 58, 29200, 65160, 0, 50, 262144, 20]]}
    [f] = TraceHeader.from_json(old).flows
    assert (f.duration_us, f.ack_percent) == (262144, 20)
    assert [*f.syn_options[0], *f.syn_options[1]] == [-1, -1, -2, -1, -1, -1, -1, -1] and f.opened
    again = TraceHeader.from_json(old).to_json()
    assert again["version"] == 4 and len(again["flows"][0]) == 21 and f.bytes_class == -1
    assert TraceHeader.from_json(again).flows == (f,)


def _tcp(src: bytes, dst: bytes, sport: int, dport: int, flags: int, options: bytes) -> bytes:
    """An IPv4 TCP packet with these options (padded by the caller to a multiple of 4 bytes)."""
    tcp = struct.pack(">HHIIBBHHH", sport, dport, 1, 0, (20 + len(options)) // 4 << 4, flags, 64240, 0, 0) + options
    return struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst) + tcp


def _capture(packets: list[bytes]) -> bytes:
    hdr = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)  # raw IP link type
    return hdr + b"".join(struct.pack("<IIII", 1, 1000 * i, len(p), len(p)) + p for i, p in enumerate(packets))


MSS, WS, SACK, TS, NOP, EOL = (lambda v: struct.pack(">BBH", 2, 4, v)), (lambda v: bytes([3, 3, v])), \
    bytes([4, 2]), struct.pack(">BBII", 8, 10, 12345, 0), b"\x01", b"\x00"
SYN_CASES = {  # SYN options, SYN-ACK options -> (mss, wscale, sack_ok, timestamps) of each
    "linux": (MSS(1460) + SACK + TS + NOP + WS(7), MSS(1400) + SACK + TS + NOP + WS(9),
              (1460, 7, 1, 1), (1400, 9, 1, 1)),
    "windows, no timestamps": (MSS(1460) + NOP + WS(8) + NOP + NOP + SACK, MSS(1460) + NOP + NOP + SACK,
                               (1460, 8, 1, 0), (1460, -1, 1, 0)),
    "no options": (b"", b"", (-1, -1, 0, 0), (-1, -1, 0, 0)),
    "end of list, then what looks like options": (MSS(536) + EOL + bytes([3, 3, 5]) + NOP * 3, EOL * 4,
                                                  (536, -1, 0, 0), (-1, -1, 0, 0)),
    "a wrong length is skipped, a cut option ends the list": (
        bytes([2, 3, 5]) + NOP + WS(14) + NOP, SACK + bytes([2, 8, 5, 180]), (-1, 14, 0, 0), (-1, -1, 1, 0)),
}


@pytest.mark.parametrize("name", SYN_CASES)
def test_syn_options_of_hand_built_packets(name: str) -> None:
    syn, syn_ack, want_fwd, want_bwd = SYN_CASES[name]
    a, b = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    packets = [_tcp(a, b, 50000, 443, 0x02, syn), _tcp(b, a, 443, 50000, 0x12, syn_ack),
               _tcp(a, b, 50000, 443, 0x10, MSS(9000) + NOP * 4 + TS)]  # options of a later segment are not read
    batch = concat_batches(iter_packet_batches(io.BytesIO(_capture(packets))))
    assert batch.tcp_mss.tolist()[2] == -1
    [f] = trace_header(batch, servers=ServerIds()).flows
    assert f.syn_options == (want_fwd, want_bwd)
    assert TraceHeader.from_json(TraceHeader(4, (f,)).to_json()).flows == (f,)


def test_syn_options_without_a_syn_ack_are_unknown_backwards() -> None:
    a, b = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
    batch = concat_batches(iter_packet_batches(io.BytesIO(_capture([_tcp(a, b, 50000, 443, 0x02, MSS(1460))]))))
    [f] = trace_header(batch, servers=ServerIds()).flows
    assert f.syn_options == ((1460, -1, 0, 0), (-1, -1, -1, -1))


def test_no_ip_packet() -> None:
    with pytest.raises(DatasetError, match="needs IP packets"):
        header([])


def test_dataset_keeps_headers(tmp_path: Path) -> None:
    h = header(CASES["two flows, largest first, icmp"][0])
    ds = TraceDataset(series=np.ones((3, 1, 4)), labels=["a", "b", "a"], ids=["x", "y", "z"], sources=["s"] * 3,
                      meta=DatasetMeta(feature="bytes"), headers=[h, None, h])
    back = read_dataset(write_dataset(ds, tmp_path / "h.parquet"))
    assert back.headers == [h, None, h] and back.subset([1, 2]).headers == [None, h]
    plain = read_dataset(write_dataset(TraceDataset(series=np.ones((1, 1, 4)), labels=["a"], ids=["x"],
                                                    sources=["s"]), tmp_path / "plain.parquet"))
    assert plain.headers is None  # a dataset without the column: no headers, as before
    table = pq.read_table(tmp_path / "h.parquet")
    bad = table.set_column(table.column_names.index("header"), "header", pa.array(["{}", None, "[1]"]))
    pq.write_table(bad, tmp_path / "bad.parquet")
    with pytest.raises(InputError, match="column header, trace 0: a trace header must be"):
        read_dataset(tmp_path / "bad.parquet")
    with pytest.raises(DatasetError, match=r"headers must hold a TraceHeader or None per trace \(3\) \(got 1"):
        TraceDataset(series=np.ones((3, 1, 4)), labels=["a"] * 3, ids=["x"] * 3, sources=["s"] * 3, headers=[h])
