"""Packet sizes tilted to the packet count a learned header says (netdiffus.export.packet_count)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from netdiffus.export.packet_count import match_packet_count, with_header_only
from netdiffus.export.pcap import export_pcap
from netdiffus.export.traffic import Histogram, SizeSampler
from netdiffus.io.capture_stats import CaptureStats
from netdiffus.io.dataset import DatasetMeta, TraceDataset
from netdiffus.io.flow_records import read_flow_records
from netdiffus.io.headers import FlowHeader, TraceHeader

EDGES = np.arange(0, 1521, 8.0)


def sampler(sizes: dict[int, float], *, min_size: int = 40) -> SizeSampler:
    """A sampler with ``counts`` at the 8-byte buckets holding the given sizes."""
    counts = np.zeros(len(EDGES) - 1)
    for s, c in sizes.items():
        counts[int(s // 8)] += c
    return SizeSampler(Histogram(edges=EDGES, counts=counts), min_size=min_size, mtu=1500)


def drawn_mean(s: SizeSampler, n: int = 20_000) -> float:
    return float(s(np.random.default_rng(0), n).mean())


CLASS = {40: 70, 600: 10, 1496: 20}   # mean about 388 bytes


@pytest.mark.parametrize(("bytes_", "packets", "expected_mean"), [
    ([100_000], 100, 1000),            # bulk: fewer, larger packets
    ([10_000, 30_000], 100, 400),      # both channels share one tilt; about the class's own mean
    ([3_900], 100, 40),                # more packets than the smallest sizes allow: the smallest
    ([300_000], 100, 1500),            # fewer than the largest allow: the largest
])
def test_the_tilt_meets_the_packet_count(bytes_: list[int], packets: int, expected_mean: float) -> None:
    out = match_packet_count([sampler(CLASS)] * len(bytes_), bytes_per_channel=bytes_, packets=packets)
    expected = sum(bytes_) / np.mean([drawn_mean(s) for s in out]) if len(bytes_) > 1 else None
    mean = drawn_mean(out[0])
    assert mean == pytest.approx(expected_mean, rel=0.06, abs=8)
    if expected is not None:
        assert expected == pytest.approx(packets, rel=0.06)
    assert set(np.unique(out[0](np.random.default_rng(1), 5000) // 8)) <= {5, 75, 187}  # the class's sizes only


@pytest.mark.parametrize(("bytes_", "packets"), [([0], 10), ([5000], 0)])
def test_nothing_to_match_keeps_the_samplers(bytes_: list[int], packets: int) -> None:
    s = sampler(CLASS)
    assert match_packet_count([s, None], bytes_per_channel=bytes_ + [0], packets=packets) == [s, None]


def test_header_only_share_is_drawn_exactly() -> None:
    [s] = match_packet_count([sampler(CLASS)], bytes_per_channel=[60_000], packets=100, header_only=0.5)
    x = s(np.random.default_rng(0), 20_000)
    assert np.mean(x == 40) == pytest.approx(0.5, abs=0.01)
    assert x.mean() == pytest.approx(600, rel=0.05)        # the data packets carry the rest
    assert with_header_only(sampler({40: 5}), 0.5).hist.counts.tolist() == sampler({40: 5}).hist.counts.tolist()


def bulk_dataset() -> TraceDataset:
    """Two traces of one class whose capture statistics are mostly header-sized packets."""
    row = [[60_000.0, 0.0, 40_000.0, 0.0]]
    sizes = {"edges": EDGES.tolist(), "counts": sampler(CLASS).hist.counts.tolist()}
    stats = CaptureStats.from_json({"packet_sizes": {"bulk": sizes}, "transport": {"bulk": "tcp"}})
    meta = DatasetMeta(feature="bytes", unit="bytes", bin_width_s=1.0, channels=["bytes"], extra=stats.to_json())
    return TraceDataset(series=np.array([row, row]), labels=["bulk"] * 2, ids=["a", "b"], sources=["s"] * 2,
                        meta=meta)


def test_export_writes_the_header_packet_count(tmp_path: Path) -> None:
    header = TraceHeader(4, (FlowHeader("tcp", 443, 49152, 80, 64, -1, 65535, -1, -1, 0),))
    plain = export_pcap(bulk_dataset(), tmp_path / "plain.pcap", seed=0, flow_records=True)
    learned = export_pcap(bulk_dataset(), tmp_path / "learned.pcap", seed=0, headers=[header, header],
                          flow_records=True)
    assert plain.n_packets > 2 * 80 * 2          # the class's sizes: about 260 packets per trace
    assert learned.n_packets == pytest.approx(2 * 80, rel=0.15)
    records = read_flow_records(tmp_path / "learned.pcap")
    assert sum(r.fwd_bytes for r in records) == 200_000 + learned.option_bytes  # the bytes kept, and a
    assert learned.option_bytes == 2 * 4  # window scale on each SYN: a 100 kB run needs more than 65535
