"""Trace assembly on the golden capture: flows (timeouts, initiator), host, file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from netdiffus.errors import ConfigError
from netdiffus.features.series import SeriesSpec
from netdiffus.io.assembly import FlowKey, HostKey, assemble, count_hosts, format_ip, parse_ip
from netdiffus.io.pcap import iter_packet_batches

GOLDEN = Path(__file__).parents[2] / "data" / "pcap" / "golden.pcap"
DEVICE = HostKey.parse_mac("02:00:00:00:00:01")
SPEC = SeriesSpec(feature="packets", bin_width_s=0.25, length=12, split_direction=True)


def flows(**kw):
    out = sorted(assemble(iter_packet_batches(GOLDEN, chunk_bytes=300), unit="flow", spec=SPEC, **kw),
                 key=lambda t: t.index)
    return [(t.flow.proto, t.flow.sport, t.flow.dport, t.n_packets) for t in out], out


def test_flows_bidirectional_five_tuple():
    got, traces = flows()
    assert got == [(6, 40000, 443, 5), (17, 5353, 53, 2), (17, 1, 2, 1), (1, 0, 0, 2), (47, 0, 0, 1),
                   (17, 6000, 7000, 2)]
    tcp = traces[0]
    assert tcp.flow == FlowKey(6, "192.168.1.10", 40000, "93.184.216.34", 443)
    # initiator = the device: channel 0 to it (0.1 s, 0.8 s), channel 1 from it (0, 0.26, 2.4 s)
    assert np.flatnonzero(tcp.stats.series[0]).tolist() == [0, 3]
    assert np.flatnonzero(tcp.stats.series[1]).tolist() == [0, 1, 9]


@pytest.mark.parametrize(
    "kw, tcp_parts",
    [
        (dict(idle_timeout_s=1.0), [4, 1]),  # 1.6 s gap before the last packet
        (dict(active_timeout_s=0.5), [3, 1, 1]),  # 0-0.26 | 0.8 | 2.4
        (dict(), [5]),
    ],
)
def test_flow_timeouts(kw, tcp_parts):
    got, _ = flows(**kw)
    assert [n for p, s, d, n in got if p == 6] == tcp_parts


def test_host_unit_keeps_the_device_frames_only():
    (trace,) = assemble(iter_packet_batches(GOLDEN), unit="host", spec=SPEC, host=DEVICE)
    assert trace.n_packets == 13  # all but the frame between two other hosts; ARP included
    s = trace.stats.series
    assert s[0].tolist() == [1, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0]  # to the device
    assert s[1].tolist() == [1, 2, 1, 0, 2, 0, 0, 0, 1, 1, 0, 0]  # from the device


def test_host_by_ip_and_file_unit():
    ip = HostKey("ip", *parse_ip("192.168.1.10"))
    (trace,) = assemble(iter_packet_batches(GOLDEN), unit="host", spec=SPEC, host=ip)
    assert trace.n_packets == 10  # IPv4 packets of the device (no IPv6, no ARP)
    (whole,) = assemble(iter_packet_batches(GOLDEN), unit="file", spec=SPEC)
    assert whole.n_packets == 14


def test_count_hosts():
    macs, ips = count_hosts(iter_packet_batches(GOLDEN))
    assert macs == {DEVICE.value: 13, DEVICE.value + 1: 14, DEVICE.value + 2: 1}  # the router sees one more
    assert format_ip(*ips.most_common(1)[0][0]) in ("192.168.1.10", "93.184.216.34")


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(unit="session"), "unit must be one of flow, host, file (got 'session')"),
        (dict(unit="host"), "unit 'host' needs a host (a MAC or IP address)"),
        (dict(unit="flow", idle_timeout_s=0), "idle_timeout must be > 0 (got 0)"),
        (dict(unit="host", host=DEVICE, idle_timeout_s=-1.0), "idle_timeout must be > 0 (got -1)"),
        (dict(unit="flow", active_timeout_s=float("nan")), "active_timeout must be > 0 (got nan)"),
    ],
)
def test_errors(kw, message):
    with pytest.raises(ConfigError) as exc:
        list(assemble([], spec=SPEC, **kw))
    assert str(exc.value) == message


def test_parse_mac_error():
    with pytest.raises(ConfigError) as exc:
        HostKey.parse_mac("02:00:00")
    assert str(exc.value) == "host MAC must have 6 bytes, e.g. 20:f8:5e:ca:91:52 (got '02:00:00')"


def _flow_table(chunk_bytes, **kw):
    out = sorted(assemble(iter_packet_batches(GOLDEN, chunk_bytes=chunk_bytes), unit="flow", spec=SPEC, **kw),
                 key=lambda t: (t.stats.first_ns, t.index))
    return [(t.flow, t.n_packets, t.stats.series.tolist()) for t in out]


@pytest.mark.parametrize("kw", [dict(), dict(idle_timeout_s=0.3), dict(active_timeout_s=0.25)])
def test_flows_do_not_depend_on_batching(kw):
    whole = _flow_table(1 << 20, **kw)
    for chunk in (40, 150, 700):
        assert _flow_table(chunk, **kw) == whole
    assert sum(n for _, n, _ in whole) == 13  # every IP packet in exactly one flow


# -- bounded memory ------------------------------------------------------------------------------
def _scan_batches(n_flows: int, per_batch: int = 500):
    """One TCP SYN from 10.0.0.1 to each of ``n_flows`` (address, port) targets, 1 ms apart."""
    from netdiffus.io.pcap import PacketBatch

    for a in range(0, n_flows, per_batch):
        k = np.arange(a, min(a + per_batch, n_flows), dtype=np.int64)
        n = len(k)
        src = np.full(n, 0xFFFF0A000001, np.uint64)
        yield PacketBatch(ts_ns=k * 1_000_000, length=np.full(n, 40), is_ip=np.ones(n, bool), proto=np.full(n, 6),
                          src_hi=np.zeros(n, np.uint64), src_lo=src, dst_hi=np.zeros(n, np.uint64),
                          dst_lo=(0xFFFFC6120000 + k // 1000).astype(np.uint64), sport=np.full(n, 40000),
                          dport=1 + k % 1000, src_mac=np.full(n, -1), dst_mac=np.full(n, -1), ttl=np.full(n, 64),
                          tcp_flags=np.full(n, 2), tcp_window=np.full(n, 1024), payload=np.zeros(n, np.int64))


def test_an_open_flow_of_a_few_packets_costs_a_few_hundred_bytes():
    from netdiffus.io.assembly import FLOW_BYTES, _FlowTable

    assert FLOW_BYTES < 250
    table = _FlowTable(SPEC)
    slots = table.open(np.zeros((10_000, 5), np.uint64), np.arange(10_000), np.ones(10_000, bool))
    table.table.add(slot=slots, ts_ns=np.arange(10_000), length=np.full(10_000, 40), up=np.ones(10_000, bool),
                    proto=np.full(10_000, 6))
    assert table.table.n_rows == 0  # no full row for a flow of one packet
    assert table.state_bytes() == 10_000 * FLOW_BYTES


def test_flow_memory_bounds_the_open_flows_and_counts_the_flows_closed_early():
    from netdiffus.io.assembly import FLOW_BYTES, AssemblyStats

    unbounded, bounded = AssemblyStats(), AssemblyStats()
    every = list(assemble(_scan_batches(20_000), unit="flow", spec=SPEC, flow_memory_bytes=None, stats=unbounded))
    budget = 2_000 * FLOW_BYTES
    capped = list(assemble(_scan_batches(20_000), unit="flow", spec=SPEC, flow_memory_bytes=budget, stats=bounded))
    assert unbounded.max_open_flows == 20_000 and unbounded.closed_early == 0
    # at most the budget's worth of flows (and one batch) open at once; the others were closed early
    assert bounded.max_open_flows * FLOW_BYTES <= budget + 500 * FLOW_BYTES
    assert bounded.closed_early >= 20_000 - bounded.max_open_flows - 500
    # one packet per flow: closing a flow early changes none of them
    key = lambda t: t.index  # noqa: E731
    assert [(t.flow, t.n_packets, t.stats.series.tolist()) for t in sorted(capped, key=key)] == \
        [(t.flow, t.n_packets, t.stats.series.tolist()) for t in sorted(every, key=key)]


def test_flows_closed_early_are_counted_in_the_prepare_summary(tmp_path):
    import importlib.util

    from netdiffus.prepare import prepare

    spec = importlib.util.spec_from_file_location("flow_memory", Path(__file__).parents[3] / "benchmarks" /
                                                  "flow_memory.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)  # type: ignore[union-attr]
    bench.write_scan(tmp_path / "scan.pcap", flows=5_000)
    ds, summary = prepare([tmp_path / "scan.pcap"], unit="flow", length=4, flow_memory_mb=0.1)
    assert ds.n_traces == 5_000
    assert summary.flows_closed_early > 4_000
    assert "flows closed early (open flows reached --flow-memory): " in summary.format_text()
    assert "closed before their idle timeout" in summary.warnings[0][1]
