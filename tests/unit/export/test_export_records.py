"""Flow records of an export: the packets export writes are the packets a reader decodes, and the
records export reports are the records read back from the capture."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_export_api import make_dataset, prepare_extra

from netdiffus.export.addresses import AddressPlan
from netdiffus.export.pcap import export_pcap
from netdiffus.io.flow_records import concat_batches, read_flow_records
from netdiffus.io.pcap import iter_packet_batches

CASES = [
    ("tcp, IPv4", {}, {}),
    ("udp, IPv4", {"transport": "udp"}, {}),
    ("tcp, IPv6", {"addresses": AddressPlan.parse(["client=2001:db8:aa::/64"])}, {}),
    ("tcp, snaplen", {"snaplen": 96}, {}),
    ("staggered", {"stagger_s": 0.3}, {}),
    ("one channel", {}, {"channels": ("bytes",)}),
    ("sizes", {}, {"channels": ("sizes",), "feature": "sizes"}),
]


def _dataset(data: dict):
    ds = make_dataset(n=5, extra=prepare_extra(), **data)
    if data.get("feature") == "sizes":  # signed packet sizes: +from the client, -towards it, 0 padding
        ds.series[:] = np.where(np.arange(16) % 3 == 1, -700.0, 300.0)
        ds.series[:, :, -3:] = 0
    return ds


@pytest.mark.parametrize("name, options, data", CASES, ids=[c[0] for c in CASES])
def test_export_records_equal_the_records_read_back_from_the_capture(tmp_path, name, options, data):
    s = export_pcap(_dataset(data), tmp_path / "x.pcap", flow_records=True, **options)
    assert s.records == read_flow_records(tmp_path / "x.pcap")
    assert len(s.records) == s.n_traces and s.record_traces == list(range(s.n_traces))
    assert sum(r.packets for r in s.records) == s.n_packets
    assert sum(r.ip_bytes for r in s.records) == s.n_ip_bytes
    for r, f in zip(s.records, s.flows, strict=True):
        assert (r.src, r.sport, r.dst, r.dport, r.packets, r.ip_bytes) == (
            f.client, f.client_port, f.server, f.server_port, f.n_packets, f.n_bytes)


@pytest.mark.parametrize("options", [{}, {"transport": "udp"}, {"snaplen": 96}])
def test_export_batch_is_the_batch_a_reader_decodes(tmp_path, monkeypatch, options):
    from netdiffus.export import records

    seen = []
    build = records.flow_records
    monkeypatch.setattr(records, "flow_records", lambda batch, **kw: seen.append(batch) or build(batch, **kw))
    export_pcap(make_dataset(n=4, extra=prepare_extra()), tmp_path / "x.pcap", flow_records=True, **options)
    decoded = concat_batches(iter_packet_batches(tmp_path / "x.pcap"))
    for field in dataclasses.fields(decoded):
        np.testing.assert_array_equal(getattr(seen[0], field.name), getattr(decoded, field.name), err_msg=field.name)


def test_tcp_records_count_the_handshake_and_the_fins(tmp_path):
    s = export_pcap(make_dataset(n=2, extra=prepare_extra()), tmp_path / "x.pcap", flow_records=True)
    for r in s.records:
        fin, syn, rst, psh, ack, urg, cwr, ece = r.flags
        assert (fin, syn, rst, urg, cwr, ece) == (2, 2, 0, 0, 0, 0)
        assert ack == r.packets - 1 and psh == r.fwd_psh + r.bwd_psh  # the opening SYN alone lacks ACK
        assert (r.fwd_window, r.bwd_window, r.proto) == (65535, 65535, 6)
        assert r.fwd_payload == r.fwd_bytes - 40 * r.fwd_packets


def test_a_trace_silent_longer_than_the_idle_timeout_gives_two_records(tmp_path):
    ds = make_dataset(n=1, t=400, extra=prepare_extra())
    ds.series[:] = 0
    ds.series[0, :, [0, 399]] = 3000.0  # 199.5 s apart: two flows for a flow meter (idle timeout 120 s)
    s = export_pcap(ds, tmp_path / "x.pcap", flow_records=True)
    assert len(s.records) == 2 and s.record_traces == [0, 0]
    assert s.records == read_flow_records(tmp_path / "x.pcap")
    assert [r.first_ns for r in s.records] == sorted(r.first_ns for r in s.records)


@pytest.mark.parametrize("chunk", [1, 50, 10**9])
def test_records_made_a_few_traces_at_a_time_are_the_same(tmp_path, monkeypatch, chunk):
    from netdiffus.export import records

    monkeypatch.setattr(records, "CHUNK_PACKETS", chunk)
    ds = make_dataset(n=7, extra=prepare_extra())
    s = export_pcap(ds, tmp_path / "x.pcap", flow_records=True, stagger_s=0.01, transport="udp")
    assert s.records == read_flow_records(tmp_path / "x.pcap") and s.record_traces == list(range(7))
