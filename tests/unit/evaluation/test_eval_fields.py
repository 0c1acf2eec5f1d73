"""Field fidelity: JSD of header fields and W1 of flow records between two captures."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from conftest import packet_batch
from netdiffus.errors import DatasetError
from netdiffus.evaluation.fields import FIELD_KEYS, CaptureFields, field_scores, jsd_counts
from netdiffus.io.pcap import PacketBatch

A, B, C = 0xFFFF0A000001, 0xFFFF0A000002, 0xFFFF0A000003  # 10.0.0.1, .2, .3 as readers hold them


def packets(rows: list[tuple]) -> PacketBatch:
    """Packets from rows (t_s, src, sport, dst, dport, proto, length, ttl, tcp_flags, window)."""
    return packet_batch(rows, "t_s src sport dst dport proto length ttl tcp_flags window")


REAL = packets([
    (0.0, A, 50000, B, 443, 6, 60, 64, 0x02, 64240),
    (0.1, B, 443, A, 50000, 6, 60, 128, 0x12, 8192),
    (0.2, A, 50000, B, 443, 6, 1500, 64, 0x10, 502),
    (1.0, C, 123, B, 123, 17, 76, 64, -1, -1),
    (1.1, B, 123, C, 123, 17, 76, 255, -1, -1),
])


def with_syn_options(batch: PacketBatch, options: dict[int, tuple[int, int, int, int]]) -> PacketBatch:
    """``batch`` with the SYN options (mss, wscale, sack_ok, timestamps) of the packets at the given rows."""
    cols = [np.full(len(batch), -1, np.int64) for _ in range(4)]
    for row, values in options.items():
        for c, v in zip(cols, values, strict=True):
            c[row] = v
    return dataclasses.replace(batch, tcp_mss=cols[0], tcp_wscale=cols[1], tcp_sack_ok=cols[2],
                               tcp_timestamps=cols[3])


REAL_SYNS = {0: (1460, 7, 1, 1), 1: (1400, -1, 1, 0)}  # a SYN with four options, a SYN-ACK with two


def test_a_capture_scores_zero_against_itself():
    real = CaptureFields.of_batch(with_syn_options(REAL, REAL_SYNS))
    scores = field_scores(real, real)
    assert list(scores) == list(FIELD_KEYS)
    assert all(v == 0.0 for v in scores.values()), scores


def test_hand_computed_scores_of_changed_fields():
    syn = packets([  # REAL with TTL 64 and window 65535 everywhere
        (0.0, A, 50000, B, 443, 6, 60, 64, 0x02, 65535),
        (0.1, B, 443, A, 50000, 6, 60, 64, 0x12, 65535),
        (0.2, A, 50000, B, 443, 6, 1500, 64, 0x10, 65535),
        (1.0, C, 123, B, 123, 17, 76, 64, -1, -1),
        (1.1, B, 123, C, 123, 17, 76, 64, -1, -1),
    ])
    scores = field_scores(CaptureFields.of_batch(REAL), CaptureFields.of_batch(syn))
    # TTLs: real {64: 3, 128: 1, 255: 1}, synthetic {64: 5}
    p, q = np.array([3, 1, 1]) / 5, np.array([1.0, 0, 0])
    m = (p + q) / 2
    kl = lambda a: float(np.sum(a[a > 0] * np.log2(a[a > 0] / m[a > 0])))  # noqa: E731
    assert scores["JSD_ttl"] == pytest.approx((kl(p) + kl(q)) / 2)
    assert scores["JSD_tcp_window_fwd"] == 1.0 and scores["JSD_tcp_window_bwd"] == 1.0  # 64240 / 8192 vs 65535
    assert scores["JSD_protocol"] == scores["JSD_server_port"] == scores["JSD_tcp_flags"] == 0.0
    assert scores["W1_flow_bytes"] == 0.0


@pytest.mark.parametrize(("synthetic", "mss", "wscale", "sack_ok", "timestamps"), [
    (REAL_SYNS, 0.0, 0.0, 0.0, 0.0),
    ({0: (1460, 7, 1, 1), 1: (1400, 7, 1, 1)}, 0.0, 0.5, 0.0, 0.5),   # wscale {7, -1} vs {7}; timestamps {1, 0} vs {1}
    ({0: (-1, -1, 0, 0), 1: (-1, -1, 0, 0)}, 1.0, 0.5, 1.0, 0.5),      # SYNs without options
    ({}, 1.0, 1.0, 1.0, 1.0),                                          # no SYN seen: no value
])
def test_syn_option_scores(synthetic: dict, mss: float, wscale: float, sack_ok: float, timestamps: float):
    real = CaptureFields.of_batch(with_syn_options(REAL, REAL_SYNS))
    scores = field_scores(real, CaptureFields.of_batch(with_syn_options(REAL, synthetic)))
    half = 1.5 - 0.75 * np.log2(3)  # 0.5 above: squared JS distance (base 2) of (1/2, 1/2) and (1, 0)
    got = [scores[f"JSD_tcp_{k}"] for k in ("mss", "wscale", "sack_ok", "timestamps")]
    want = [half if v == 0.5 else v for v in (mss, wscale, sack_ok, timestamps)]
    assert got == pytest.approx(want)


@pytest.mark.parametrize("real, synthetic, expected", [
    ([1, 1, 2, 2], [2, 1, 2, 1], 0.0),
    ([1, 1], [2, 2], 1.0),
    # p = (1/2, 1/2), q = (1, 0), m = (3/4, 1/4): (KL(p || m) + KL(q || m)) / 2
    (["a", "a", "b", "b"], ["a", "a", "a", "a"],
     (0.5 * math.log2(0.5 / 0.75) + 0.5 * math.log2(0.5 / 0.25) + math.log2(1 / 0.75)) / 2),
    ([], [1], 1.0),
])
def test_jsd_counts(real, synthetic, expected):
    assert jsd_counts(real, synthetic) == pytest.approx(expected, abs=1e-12)


def test_jsd_counts_of_two_empty_lists_is_nan():
    assert math.isnan(jsd_counts([], []))


def test_client_ports_are_compared_by_range_above_1023():
    fields = CaptureFields.of_batch(packets([
        (0.0, A, 123, B, 123, 17, 76, 64, -1, -1), (1.0, A, 2000, B, 53, 17, 60, 64, -1, -1),
        (2.0, A, 60000, B, 53, 17, 60, 64, -1, -1)]))
    assert fields.categorical()["client_port"] == ["123", "1024-49151", "49152-65535"]


def test_subset_and_concat_keep_each_flow_with_its_packets():
    fields = CaptureFields.of_batch(REAL)
    udp = fields.subset([1])
    assert [r.proto for r in udp.records] == [17] and udp.packets.ttl.tolist() == [64, 255]
    both = CaptureFields.concat([udp, fields.subset([0])])
    assert both.flow.tolist() == [0, 0, 1, 1, 1] and [r.proto for r in both.records] == [17, 6]


def test_a_capture_without_ip_packets_is_refused():
    empty = CaptureFields.of_batch(PacketBatch.empty())
    with pytest.raises(DatasetError) as exc:
        field_scores(empty, CaptureFields.of_batch(REAL))
    assert str(exc.value) == "field fidelity needs IP packets in the real capture (got none)"


def test_read_cuts_each_capture_to_a_window_after_its_first_packet(tmp_path):
    from conftest import toy_dataset
    from netdiffus.export.pcap import export_pcap

    ds = toy_dataset(n_per_class=1, length=8)  # 8 bins of 0.5 s
    for i in range(2):
        export_pcap(ds.subset([i]), tmp_path / f"{i}.pcap", start_time=1e9 + 100 * i)
    whole = CaptureFields.read([tmp_path / "0.pcap", tmp_path / "1.pcap"])
    cut = CaptureFields.read([tmp_path / "0.pcap", tmp_path / "1.pcap"], window_s=1.0)
    assert len(cut.records) == len(whole.records) == 2 and cut.flow.tolist() == sorted(cut.flow.tolist())
    for f in (0, 1):
        ts = cut.packets.ts_ns[cut.flow == f]
        assert int(ts.max() - ts.min()) <= 10**9 < int(np.ptp(whole.packets.ts_ns[whole.flow == f]))
