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
