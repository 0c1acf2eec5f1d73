"""Series -> packet schedules: exact byte totals, timing inside bins, feature and channel rules."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netdiffus.errors import ConfigError, DatasetError
from netdiffus.export.traffic import (
    FORWARD,
    REVERSE,
    Histogram,
    SizeSampler,
    _fill_drawn,
    _fill_mtu,
    channel_directions,
    integer_series,
    resolve_feature,
    schedule_binned,
    schedule_iat,
    schedule_sizes,
)

SIZE_HIST = Histogram(np.array([40.0, 100.0, 600.0, 1400.0, 1501.0]), np.array([5.0, 1.0, 1.0, 5.0]))
EDGES = np.arange(0, 9) * 500_000  # 8 bins of 0.5 s, microseconds


@pytest.mark.parametrize(
    "feature, override, expected, warning",
    [
        ("bytes", None, "bytes", None),
        ("packets", None, "packets", None),
        ("sizes", None, "sizes", None),
        ("iat", None, "iat", None),
        ("frame_sum_dl", None, "bytes", None),
        ("total_bytes", None, "bytes", None),
        ("pkt_count_ul", None, "packets", None),
        ("flow_count", None, "packets", None),
        # an override that contradicts the metadata is followed, and said
        ("frame_sum_dl", "packets", "packets",
         "reading the series as packets although the dataset says they are bytes (frame_sum_dl)"),
        ("bytes", "iat", "iat", "reading the series as iat although the dataset says they are bytes"),
        ("bytes", "bytes", "bytes", None),
        ("frame_avg_dl", "sizes", "sizes", None),  # the metadata does not say
    ],
)
def test_resolve_feature(caplog, feature, override, expected, warning):
    assert resolve_feature(feature, override) == expected
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == ([warning] if warning else [])


@pytest.mark.parametrize(
    "feature, override, message",
    [
        ("frame_avg_dl", None, "cannot tell whether series 'frame_avg_dl' are bytes, packets, sizes, iat or sequence; "
                               "pass --feature bytes|packets|sizes|iat|sequence"),
        ("bytes", "flows", "feature must be one of bytes, packets, sizes, iat, sequence (got 'flows')"),
    ],
)
def test_resolve_feature_errors(feature, override, message):
    with pytest.raises(ConfigError) as exc:
        resolve_feature(feature, override)
    assert str(exc.value) == message


@pytest.mark.parametrize(
    "channels, expected",
    [
        (["bytes"], [FORWARD]),
        (["frame_sum_dl"], [REVERSE]),
        (["frame_sum_ul"], [FORWARD]),
        (["bytes_to_host", "bytes_from_host"], [REVERSE, FORWARD]),
        (["packets_to_initiator", "packets_from_initiator"], [REVERSE, FORWARD]),
        (["up", "down"], [FORWARD, REVERSE]),
        (["x", "rx"], [FORWARD, REVERSE]),
        (["rx", "x"], [REVERSE, FORWARD]),
        (["a", "b"], [FORWARD, REVERSE]),
        (["in", "in"], [FORWARD, REVERSE]),
    ],
)
def test_channel_directions(channels, expected):
    assert channel_directions(channels) == expected


def test_channel_directions_too_many():
    with pytest.raises(DatasetError) as exc:
        channel_directions(["a", "b", "c"])
    assert str(exc.value) == "pcap export needs 1 or 2 channels (one per direction) (got 3: ['a', 'b', 'c'])"


def test_integer_series_rounds_half_to_even_and_clips_negatives():
    x = np.array([[[0.5, 1.5, 2.4, -3.0, 99.6]]], np.float32)
    ints, clipped = integer_series(x, "bytes")
    assert ints.tolist() == [[[0, 2, 2, 0, 100]]] and clipped == 1
    ints, clipped = integer_series(x, "sizes")
    assert ints.tolist() == [[[0, 2, 2, -3, 100]]] and clipped == 0


@pytest.mark.parametrize(
    "total, expected",
    [
        (40, [40]),
        (1500, [1500]),
        (1501, [1461, 40]),  # remainder 1 < 40: borrowed from the full packet
        (1539, [1499, 40]),
        (1540, [1500, 40]),
        (3100, [1500, 1500, 100]),
    ],
)
def test_fill_mtu(total, expected):
    assert _fill_mtu(total, min_size=40, mtu=1500) == expected


@settings(max_examples=200, deadline=None)
@given(total=st.integers(40, 200_000), seed=st.integers(0, 2**16))
def test_fill_drawn_sums_exactly_within_bounds(total, seed):
    sampler = SizeSampler(SIZE_HIST, min_size=40, mtu=1500)
    sizes = _fill_drawn(total, sampler, np.random.default_rng(seed))
    assert sum(sizes) == total
    assert min(sizes) >= 40 and max(sizes) <= 1500


@settings(max_examples=100, deadline=None)
@given(total=st.integers(28, 20_000), seed=st.integers(0, 100))
def test_fill_drawn_all_full_packets(total, seed):
    # every drawn packet at the MTU: the remainder has to split the last one
    sampler = SizeSampler(Histogram(np.array([1500.0, 1501.0]), np.array([1.0])), min_size=28, mtu=1500)
    sizes = _fill_drawn(total, sampler, np.random.default_rng(seed))
    assert sum(sizes) == total and min(sizes) >= 28 and max(sizes) <= 1500


def _schedule(values, **kw):
    opts = dict(kind="bytes", directions=[FORWARD, REVERSE][: len(values)], bin_edges_us=EDGES,
                size_samplers=[None] * len(values), offset_sampler=None, min_size=40, mtu=1500,
                control=True, rng=np.random.default_rng(0))
    opts.update(kw)
    return schedule_binned(np.asarray(values, np.int64), **opts)


def _per_bin(s, n_channels=1, directions=(FORWARD, REVERSE), what="bytes"):
    out = np.zeros((n_channels, len(EDGES) - 1), np.int64)
    k = np.searchsorted(EDGES, s.time_us, side="right") - 1
    for ch in range(n_channels):
        m = s.direction == directions[ch]
        np.add.at(out[ch], k[m], s.size[m] if what == "bytes" else 1)
    return out


@pytest.mark.parametrize("sampler", [None, SizeSampler(SIZE_HIST, min_size=40, mtu=1500)])
def test_bytes_per_bin_are_exact(sampler):
    values = [[5000, 0, 40, 123_456, 80, 0, 1540, 41], [0, 3000, 0, 77, 1_000_000, 40, 0, 0]]
    s = _schedule(values, size_samplers=[sampler, sampler])
    assert s.written.tolist() == values
    assert _per_bin(s, 2).tolist() == values
    assert s.carried == 0 and s.dropped == 0
    assert np.all(np.diff(s.time_us) >= 0)
    assert s.size.min() >= 40 and s.size.max() <= 1500


def test_first_packet_on_bin_start_and_the_rest_off_the_edges():
    offsets = Histogram(np.array([0.0, 0.5, 1.0]), np.array([0.0, 1.0]))  # late half of the bin only
    s = _schedule([[0, 0, 9000, 9000, 0, 0, 0, 0]], offset_sampler=offsets)
    assert s.time_us[0] == EDGES[2]
    rel = s.time_us[1:] % 500_000
    assert rel.min() >= 250_000 - 2 and rel.max() <= 500_000 - 2


def test_tcp_control_packets_are_header_only():
    s = _schedule([[3000, 0, 100, 0, 0, 0, 0, 0]])
    assert s.size[0] == 40 and s.size[-1] == 40
    assert s.size.tolist()[-2] == 60


def test_small_bins_are_carried_forward():
    s = _schedule([[10, 0, 100, 0, 0, 0, 0, 0]], control=False)
    assert s.written.tolist() == [[0, 0, 110, 0, 0, 0, 0, 0]]
    assert s.carried == 10 and s.dropped == 0


@pytest.mark.parametrize(
    "values, sizes, written",
    [
        ([1000, 0, 0, 0, 0, 0, 0, 30], [1030], [1030, 0, 0, 0, 0, 0, 0, 0]),
        ([1500, 0, 0, 0, 0, 0, 0, 30], [1490, 40], [1530, 0, 0, 0, 0, 0, 0, 0]),
        ([1500, 0, 0, 300, 0, 0, 0, 30], [1500, 330], [1500, 0, 0, 330, 0, 0, 0, 0]),
    ],
)
def test_small_last_bin_joins_the_last_packets(values, sizes, written):
    s = _schedule([values], control=False)
    assert s.size.tolist() == sizes and s.written.tolist() == [written]
    assert s.carried == 30 and s.dropped == 0


def test_trace_below_one_packet_is_dropped():
    s = _schedule([[10, 0, 0, 0, 0, 0, 0, 5]])
    assert len(s.size) == 0 and s.dropped == 15 and s.written.sum() == 0


def test_packets_per_bin():
    values = [[3, 0, 1, 0, 0, 0, 0, 7]]
    s = _schedule(values, kind="packets", size_samplers=[SizeSampler(SIZE_HIST, min_size=40, mtu=1500)])
    assert _per_bin(s, 1, what="packets").tolist() == values
    assert s.written.tolist() == values
    assert s.size[0] == 40 and s.size[-1] == 40


def test_schedule_is_deterministic():
    values = [[5000, 200, 40, 123_456, 80, 0, 1540, 41]]
    a = _schedule(values, size_samplers=[SizeSampler(SIZE_HIST, min_size=40, mtu=1500)])
    b = _schedule(values, size_samplers=[SizeSampler(SIZE_HIST, min_size=40, mtu=1500)])
    assert np.array_equal(a.time_us, b.time_us) and np.array_equal(a.size, b.size)


def test_schedule_sizes():
    s, clipped = schedule_sizes(np.array([[100, -1500, 20, -2000, 0, 0]]), min_size=40, mtu=1500,
                                packet_gap_s=0.01, rng=np.random.default_rng(0))
    assert s.size.tolist() == [100, 1500, 40, 1500]
    assert s.direction.tolist() == [FORWARD, REVERSE, FORWARD, REVERSE]
    assert s.written.tolist() == [[100, -1500, 40, -1500, 0, 0]]
    assert clipped == 2 and s.time_us[0] == 0 and np.all(np.diff(s.time_us) >= 1)


@pytest.mark.parametrize(
    "obj, message",
    [
        ({"edges": [0, 1]}, "h must be a dict with 'edges' and 'counts' (got {'edges': [0, 1]})"),
        ({"edges": [0, 1], "counts": [1, 2]}, "h must have len(edges) == len(counts) + 1 >= 2 (got 2 edges, 2 counts)"),
        ({"edges": [1, 0], "counts": [1]}, "h edges must be finite and increasing (got [1.0, 0.0]...)"),
        ({"edges": [0, 1], "counts": [0]}, "h counts must be >= 0 and not all zero (got [0.0]...)"),
    ],
)
def test_histogram_errors(obj, message):
    with pytest.raises(DatasetError) as exc:
        Histogram.from_json(obj, what="h")
    assert str(exc.value) == message


def test_schedule_iat():
    x = np.array([[0.5, 0.0, 0.0000014, 1.25, 0.0, 0.0]])
    s, clipped = schedule_iat(x, size_sampler=None, min_size=40, mtu=1500, control=True,
                              rng=np.random.default_rng(0))
    assert s.time_us.tolist() == [0, 500_000, 500_000, 500_001, 1_750_001]
    assert s.size.tolist() == [40, 1500, 1500, 1500, 40]
    assert s.written.tolist() == [[0.5, 0.0, 0.000001, 1.25, 0.0, 0.0]] and clipped == 0
    s, _ = schedule_iat(np.zeros((1, 4)), size_sampler=None, min_size=40, mtu=1500, control=True,
                        rng=np.random.default_rng(0))
    assert s.time_us.tolist() == [0] and s.size.tolist() == [40]


@settings(max_examples=150, deadline=None)
@given(
    values=st.lists(st.lists(st.one_of(st.just(0), st.integers(1, 80), st.integers(81, 60_000)),
                             min_size=8, max_size=8),
                    min_size=1, max_size=2),
    kind=st.sampled_from(["bytes", "packets"]),
    control=st.booleans(),
    drawn=st.booleans(),
    seed=st.integers(0, 1000),
)
def test_schedule_invariants(values, kind, control, drawn, seed):
    v = np.asarray(values, np.int64)
    if kind == "packets":
        v = v % 7
    sampler = SizeSampler(SIZE_HIST, min_size=40, mtu=1500) if drawn else None
    s = _schedule(v, kind=kind, control=control, size_samplers=[sampler] * len(v),
                  offset_sampler=Histogram(np.array([0.0, 0.1, 1.0]), np.array([3.0, 1.0])),
                  rng=np.random.default_rng(seed))
    per_bin = _per_bin(s, len(v), what=kind)
    assert per_bin.tolist() == s.written.tolist()
    assert s.written.sum() + s.dropped == v.sum()
    if kind == "packets" or not np.any((v > 0) & (v < 40)):
        assert s.written.tolist() == v.tolist() and s.carried == 0
    if len(s.size):
        assert s.size.min() >= 40 and s.size.max() <= 1500
        assert np.all(np.diff(s.time_us) >= 0)
        first_bin = np.searchsorted(EDGES, s.time_us[0], side="right") - 1
        assert s.time_us[0] == EDGES[first_bin]
        rel = (s.time_us[1:] - EDGES[0]) % 500_000
        assert np.all((rel >= 2) & (rel <= 500_000 - 2))
