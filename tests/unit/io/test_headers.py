"""Header records of traces (netdiffus.io.headers): hand-built packets, table-driven."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import packet_batch
from netdiffus.errors import DatasetError, InputError
from netdiffus.io.dataset import DatasetMeta, TraceDataset, read_dataset, write_dataset
from netdiffus.io.headers import FlowHeader, ServerIds, TraceHeader, client_port_class, trace_header

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
        [FlowHeader("tcp", 443, 49152, 5, 64, 58, 29200, 65160, 0, 50, 262144, 20)]),  # 0.4 s; one pure ACK of 5
    "one-way udp, registered client port": (
        [(0.0, A, 5353, B, 53, 17, 60, 255, -1, -1, 32), (0.1, A, 5353, B, 53, 17, 60, 255, -1, -1, 32)],
        [FlowHeader("udp", 53, 1024, 2, 255, -1, -1, -1, 0, -1, 65536)]),
    "two flows, largest first, icmp": (
        [(0.0, A, 0, C, 0, 1, 84, 64, -1, -1, 64),
         (0.1, A, 123, B, 123, 17, 76, 64, -1, -1, 48), (0.2, B, 123, A, 123, 17, 76, 63, -1, -1, 48),
         (0.3, A, 123, B, 123, 17, 76, 64, -1, -1, 48)],
        [FlowHeader("udp", 123, 123, 3, 64, 63, -1, -1, 1, -1, 131072),
         FlowHeader("icmp", 0, 0, 1, 64, -1, -1, -1, 0, -1, 0)]),
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
    ({"version": 3, "ip_version": 4, "flows": []}, "a trace header must be"),
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
