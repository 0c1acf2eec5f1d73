"""Conversation shaping of binned traces (netdiffus.export.flowshape): durations and pure ACKs
without moving a byte out of its bin and direction."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import dpkt
import numpy as np
import pytest

from netdiffus.export.flowshape import balance_bytes, make_pure_acks, retime_flows
from netdiffus.export.pcap import export_pcap
from netdiffus.io.dataset import DatasetMeta, TraceDataset
from netdiffus.io.flow_records import read_flow_records
from netdiffus.io.headers import FlowHeader, TraceHeader

EDGES = np.arange(0, 4_000_001, 1_000_000)  # four bins of 1 s


def trace(seed: int, n: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    time_us = np.sort(rng.integers(2, 3_999_997, n))
    time_us[0] = 0
    return time_us, rng.integers(0, 3, n), rng.integers(0, 2, n).astype(np.int8)


@pytest.mark.parametrize("seed", range(5))
def test_retime_keeps_bins_order_and_the_first_packet(seed: int) -> None:
    time_us, conv, _ = trace(seed)
    out = retime_flows(time_us, conv=conv, durations_us=[-1, 0, 1024], edges_us=EDGES, guard_us=2,
                       rng=np.random.default_rng(seed))
    bins = lambda t: np.searchsorted(EDGES, t, side="right") - 1  # noqa: E731
    assert np.array_equal(bins(out), bins(time_us)) and out[0] == 0
    assert np.array_equal(out[conv == 0], time_us[conv == 0])  # unknown duration: left as it is
    for k in (1, 2):
        t = out[conv == k]
        assert np.all(np.diff(t) >= 0)
        inner = (t - EDGES[bins(t)] >= 2) & (EDGES[bins(t) + 1] - t > 2)
        assert np.all(inner | (t == 0))
    one_bin = bins(time_us[conv == 2])
    if len(set(one_bin.tolist())) == 1:  # a flow inside one bin takes its drawn duration, [1024, 2048) us
        assert np.ptp(out[conv == 2]) < 2048


def test_retime_squeezes_a_flow_across_a_bin_edge() -> None:
    time_us = np.array([0, 100_000, 900_000, 1_100_000, 1_900_000])
    out = retime_flows(time_us, conv=np.array([0, 1, 1, 1, 0]), durations_us=[-1, 16], edges_us=EDGES,
                       guard_us=2, rng=np.random.default_rng(0))
    assert out[3] - out[1] < 300 and out[2] < 1_000_000 <= out[3]  # around the edge it crosses


@pytest.mark.parametrize("seed", range(5))
def test_pure_acks_keep_bytes_per_bin_and_direction(seed: int) -> None:
    time_us, conv, direction = trace(seed, n=60)
    bins = np.searchsorted(EDGES, time_us, side="right") - 1
    size = np.random.default_rng(seed).integers(41, 600, len(time_us))
    out = make_pure_acks(size, direction=direction, bins=bins, conv=conv, ack_percent=[50, -1, 80],
                         tcp=[True, True, False], hmin=40, mtu=1500, move_bytes=True, rng=np.random.default_rng(0))
    key = (bins * 2 + direction) * 3 + conv  # every conversation keeps its bytes per bin and direction
    assert np.array_equal(np.bincount(key, out, 24), np.bincount(key, size, 24))
    assert np.all((out >= 40) & (out <= 1500))
    assert np.array_equal(out[conv == 2], size[conv == 2]) or not np.any(out[conv == 2] == 40)  # not TCP
    assert np.mean(out[conv == 0] == 40) > np.mean(size[conv == 0] == 40)
    runs = (np.arange(len(size)) // 15 % 2).astype(np.int8)  # long runs of one direction: room to hand over
    out = make_pure_acks(size, direction=runs, bins=bins, conv=conv, ack_percent=[50, -1, 80],
                         tcp=[True, True, False], hmin=40, mtu=1500, move_bytes=True, rng=np.random.default_rng(0))
    assert abs(np.mean(out[conv == 0] == 40) - 0.5) < 0.1
    shrunk = make_pure_acks(size, direction=direction, bins=bins, conv=conv, ack_percent=[50, -1, 80],
                            tcp=[True, True, False], hmin=40, mtu=1500, move_bytes=False, rng=np.random.default_rng(0))
    assert np.array_equal(shrunk > 40, ~((shrunk == 40) & (size > 40)) & (size > 40))


def test_pure_acks_need_room() -> None:
    size = np.array([40, 1500, 1500, 1500, 40])
    out = make_pure_acks(size, direction=np.zeros(5, np.int8), bins=np.zeros(5, np.int64), conv=np.zeros(5, np.int64),
                         ack_percent=[100], tcp=[True], hmin=40, mtu=1500, move_bytes=True,
                         rng=np.random.default_rng(0))
    assert out.tolist() == size.tolist()  # every packet full: no payload can move


#: A web flow and a DNS exchange, the header of :func:`camera` 's trace.
WEB = FlowHeader("tcp", 443, 49152, 40, 64, 58, 8192, 29200, 0, 50)
DNS = FlowHeader("udp", 53, 49152, 2, 64, 64, -1, -1, 1, -1)


def camera() -> TraceDataset:
    """One trace of bytes per 0.5 s bin, both directions."""
    row = [[30000.0, 0.0, 12000.0, 800.0], [20000.0, 300.0, 9000.0, 400.0]]
    return TraceDataset(series=np.array([row]), labels=["cam"], ids=["t0"], sources=["s"],
                        meta=DatasetMeta(feature="bytes", unit="bytes", bin_width_s=0.5,
                                         channels=["bytes_to_host", "bytes_from_host"]))


def test_export_writes_learned_durations_and_pure_acks(tmp_path: Path) -> None:
    ds, web, dns = camera(), WEB, DNS
    plain = TraceHeader(4, (web, dns))
    shaped = TraceHeader(4, (dataclasses.replace(web, ack_percent=50, duration_us=0),
                             dataclasses.replace(dns, duration_us=1024)))
    a = export_pcap(ds, tmp_path / "a.pcap", seed=0, headers=[plain])
    b = export_pcap(ds, tmp_path / "b.pcap", seed=0, headers=[shaped])
    assert np.array_equal(a.written, b.written) and a.n_ip_bytes == b.n_ip_bytes
    dns_b = [r for r in read_flow_records(tmp_path / "b.pcap") if r.dport == 53]
    assert dns_b and all(r.duration_us < 2048 for r in dns_b)
    counted = dataclasses.replace(ds, series=np.array([[[10.0, 5, 8, 4], [6, 3, 5, 2]]]),
                                  meta=dataclasses.replace(ds.meta, feature="packets", unit="packets"))
    export_pcap(counted, tmp_path / "c.pcap", seed=0, headers=[plain])
    d = export_pcap(counted, tmp_path / "d.pcap", seed=0, headers=[shaped])  # packets per bin: shrunk in place
    assert d.written.tolist() == counted.series.astype(int).tolist()
    assert pure_ack_share(tmp_path / "d.pcap") > pure_ack_share(tmp_path / "c.pcap") + 0.2


def pure_ack_share(path: Path) -> float:
    """Share of a capture's TCP packets that are pure ACKs (no payload, flags ACK only)."""
    with open(path, "rb") as fh:
        tcp = [ip.data for ip in (dpkt.ethernet.Ethernet(b).data for _, b in dpkt.pcap.Reader(fh))
               if ip.p == dpkt.ip.IP_PROTO_TCP]
    return sum(len(t.data) == 0 and t.flags == dpkt.tcp.TH_ACK for t in tcp) / len(tcp)


@pytest.mark.parametrize(("seed", "classes"), [(0, [-1, 64, 2048]), (1, [-1, 256, 0]), (2, [-1, 1024, 128]),
                                               (3, [-1, -1, -1])])
def test_balance_keeps_bytes_per_bin_and_direction(seed: int, classes: list[int]) -> None:
    time_us, conv, direction = trace(seed, n=80)
    bins = np.searchsorted(EDGES, time_us, side="right") - 1
    size = np.random.default_rng(seed).integers(40, 1500, len(time_us))
    out = balance_bytes(size, direction=direction, bins=bins, conv=conv, bytes_class=classes, hmin=40, mtu=1500,
                        rng=np.random.default_rng(0))
    key = bins * 2 + direction  # every bin and direction keeps its bytes; every packet within its bounds
    assert np.array_equal(np.bincount(key, out, 8), np.bincount(key, size, 8))
    assert np.all((out >= 40) & (out <= 1500))
    for k, c in enumerate(classes):
        if k == 0 or c <= 0:  # conversation 0, and a class unknown: only conversation 0 gives or takes
            assert k == 0 or np.array_equal(out[conv == k], size[conv == k])
        else:  # nearer its drawn bytes [c, 2c) than before, as near as conversation 0's packets allow
            before, after = int(size[conv == k].sum()), int(out[conv == k].sum())
            assert abs(np.log(after / (1.5 * c))) <= abs(np.log(before / (1.5 * c))) + 0.5


def test_balance_reaches_the_class_where_conversation_0_has_room() -> None:
    size = np.array([100, 1400, 1400, 1400, 100, 100])
    out = balance_bytes(size, direction=np.zeros(6, np.int8), bins=np.zeros(6, np.int64),
                        conv=np.array([0, 1, 1, 1, 0, 0]), bytes_class=[-1, 256], hmin=40, mtu=1500,
                        rng=np.random.default_rng(0))
    assert 256 <= int(out[1:4].sum()) < 512 and int(out.sum()) == int(size.sum())


def test_export_gives_small_flows_their_bytes(tmp_path: Path) -> None:
    a = export_pcap(camera(), tmp_path / "a.pcap", seed=0, headers=[TraceHeader(4, (WEB, DNS))])
    b = export_pcap(camera(), tmp_path / "b.pcap", seed=0,
                    headers=[TraceHeader(4, (WEB, dataclasses.replace(DNS, bytes_class=128)))])
    assert np.array_equal(a.written, b.written) and a.n_ip_bytes == b.n_ip_bytes
    [before] = [r for r in read_flow_records(tmp_path / "a.pcap") if r.dport == 53]
    [after] = [r for r in read_flow_records(tmp_path / "b.pcap") if r.dport == 53]
    assert before.fwd_bytes + before.bwd_bytes > 512 and 128 <= after.fwd_bytes + after.bwd_bytes < 256
