"""Flow records of a capture's packets: hand-computed flows, timeouts, directions, flags, CSV."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from conftest import packet_batch
from netdiffus.errors import ConfigError
from netdiffus.io.flow_records import COLUMNS, flow_records, write_flow_records_csv
from netdiffus.io.pcap import PacketBatch

A, B, C = 0xFFFF0A000001, 0xFFFF0A000002, 0xFFFF0A000003  # 10.0.0.1, .2, .3 as readers hold them


def batch(rows: list[tuple]) -> PacketBatch:
    """Packets from rows (t_s, src, sport, dst, dport, proto, length, tcp_flags, window, payload)."""
    return packet_batch(rows, "t_s src sport dst dport proto length tcp_flags window payload")


HANDSHAKE = [  # a TCP exchange from 10.0.0.1:40000 to 10.0.0.2:443, then one DNS query and its answer
    (0.0, A, 40000, B, 443, 6, 60, 0x02, 64240, 0),
    (0.1, B, 443, A, 40000, 6, 60, 0x12, 65160, 0),
    (0.2, A, 40000, B, 443, 6, 52, 0x10, 502, 0),
    (0.3, A, 40000, B, 443, 6, 152, 0x18, 502, 100),
    (0.5, C, 5353, B, 53, 17, 40, -1, -1, 12),
    (0.6, B, 53, C, 5353, 17, 90, -1, -1, 62),
    (0.9, B, 443, A, 40000, 6, 1052, 0x19, 510, 1000),
]


def test_hand_computed_records():
    records, first, of_packet = flow_records(batch(HANDSHAKE))
    tcp, dns = records
    assert first.tolist() == [0, 4] and of_packet.tolist() == [0, 0, 0, 0, 1, 1, 0]
    assert (tcp.src, tcp.sport, tcp.dst, tcp.dport, tcp.proto) == ("10.0.0.1", 40000, "10.0.0.2", 443, 6)
    assert (tcp.duration_us, tcp.fwd_packets, tcp.bwd_packets, tcp.fwd_bytes, tcp.bwd_bytes) == (900_000, 3, 2, 264,
                                                                                                  1112)
    assert (tcp.fwd_payload, tcp.bwd_payload, tcp.fwd_psh, tcp.bwd_psh) == (100, 1000, 1, 1)
    assert tcp.flags == (1, 2, 0, 2, 4, 0, 0, 0)  # FIN SYN RST PSH ACK URG CWE ECE
    assert (tcp.fwd_window, tcp.bwd_window) == (64240, 65160)
    assert (dns.src, dns.dport, dns.fwd_bytes, dns.bwd_bytes, dns.fwd_window, dns.flags) == (
        "10.0.0.3", 53, 40, 90, -1, (0,) * 8)


@pytest.mark.parametrize("gaps_s, idle_s, active_s, sizes", [
    ([1, 1, 1], 120, 1800, [4]),
    ([1, 121, 1], 120, 1800, [2, 2]),  # a gap longer than the idle timeout ends the flow
    ([1, 120, 1], 120, 1800, [4]),  # a gap of exactly the timeout does not
    ([10, 10, 10], 120, 20, [2, 2]),  # a packet 20 s after the flow's first starts a new one
    ([10, 10, 10], 120, 5, [1, 1, 1, 1]),
])
def test_timeouts_cut_flows_as_prepare_does(gaps_s, idle_s, active_s, sizes):
    t = np.concatenate([[0.0], np.cumsum(gaps_s)])
    rows = [(x, A, 1000, B, 53, 17, 40, -1, -1, 12) for x in t]
    records = flow_records(batch(rows), idle_timeout_s=idle_s, active_timeout_s=active_s).records
    assert [r.packets for r in records] == sizes


def test_the_first_sender_is_the_source_and_non_ip_frames_are_left_out():
    b = batch([(0.0, B, 53, A, 1000, 17, 90, -1, -1, 62), (0.1, A, 1000, B, 53, 17, 40, -1, -1, 12),
               (0.2, 0, 0, 0, 0, -1, 28, -1, -1, 0)])
    b.is_ip[2] = False
    [r], first, of_packet = flow_records(b)
    assert (r.src, r.sport, r.fwd_bytes, r.bwd_bytes, first.tolist()) == ("10.0.0.2", 53, 90, 40, [0])
    assert of_packet.tolist() == [0, 0, -1]


@pytest.mark.parametrize("kw, message", [
    ({"idle_timeout_s": 0}, "idle_timeout must be > 0 (got 0)"),
    ({"active_timeout_s": -1}, "active_timeout must be > 0 (got -1)"),
])
def test_bad_timeouts_name_the_option(kw, message):
    with pytest.raises(ConfigError) as exc:
        flow_records(batch(HANDSHAKE), **kw)
    assert str(exc.value) == message


def test_csv_has_the_columns_and_exact_times(tmp_path):
    records = flow_records(batch(HANDSHAKE)).records
    write_flow_records_csv(records, tmp_path / "f.csv")
    with open(tmp_path / "f.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == list(COLUMNS) and len(rows) == 2
    assert {k: rows[0][k] for k in ("Flow ID", "Start Time", "End Time", "Flow Duration", "Total Fwd Packets",
                                    "Total Length of Bwd Packets", "Bwd IP Bytes", "SYN Flag Count",
                                    "Init_Win_bytes_backward")} == {
        "Flow ID": "10.0.0.1-10.0.0.2-40000-443-6", "Start Time": "0.000000000", "End Time": "0.900000000",
        "Flow Duration": "900000", "Total Fwd Packets": "3", "Total Length of Bwd Packets": "1000",
        "Bwd IP Bytes": "1112", "SYN Flag Count": "2", "Init_Win_bytes_backward": "65160"}


def test_records_of_a_real_capture_cover_its_ip_packets(shared_data):
    from netdiffus.io.flow_records import read_flow_records

    records = read_flow_records(shared_data / "cic-ids2017-demo" / "demo.pcap")
    assert sum(r.packets for r in records) == 6000
    assert sum(r.proto == 6 for r in records) == 83  # the TCP conversations tshark -z conv,tcp lists
