"""Series features: hand-computed cases for every feature, options and errors."""

from __future__ import annotations

import numpy as np
import pytest

from netdiffus.errors import ConfigError
from netdiffus.features.series import OFFSET_EDGES, SIZE_EDGES, SeriesBuilder, SeriesSpec, parse_duration

MS = 1_000_000
TS = np.array([0, 100, 600, 1700, 1900], dtype=np.int64) * MS
LEN = np.array([100, 40, 60, 1500, 52])
UP = np.array([True, False, True, True, False])
PROTO = np.array([6, 6, 17, 17, 1])


def build(feature, length=4, split=False, width=0.5, batches=1):
    b = SeriesBuilder(SeriesSpec(feature=feature, bin_width_s=width, length=length, split_direction=split))
    for part in np.array_split(np.arange(len(TS)), batches):
        b.add(ts_ns=TS[part], length=LEN[part], up=UP[part], proto=PROTO[part])
    return b


@pytest.mark.parametrize(
    "feature, split, expected",
    [
        ("bytes", False, [[140, 60, 0, 1552]]),
        ("bytes", True, [[40, 0, 0, 52], [100, 60, 0, 1500]]),
        ("packets", False, [[2, 1, 0, 2]]),
        ("packets", True, [[1, 0, 0, 1], [1, 1, 0, 1]]),
        ("sizes", False, [[100, -40, 60, 1500]]),
        ("iat", False, [[0.1, 0.5, 1.1, 0.2]]),
        ("sequence", False, [[100, -40, 60, 1500], [0, 0.1, 0.5, 1.1]]),
    ],
)
def test_features_hand_computed(feature, split, expected):
    for batches in (1, 3):  # the same whatever the batching
        np.testing.assert_allclose(build(feature, split=split, batches=batches).series(), expected, rtol=1e-6)


def test_padding_truncation_and_first_packet_alignment():
    b = build("bytes", length=6, width=1.0)
    assert b.series().tolist() == [[200, 1552, 0, 0, 0, 0]]
    assert build("sizes", length=7).series().tolist() == [[100, -40, 60, 1500, -52, 0, 0]]
    assert build("bytes", length=2).series().tolist() == [[140, 60]]
    late = SeriesBuilder(SeriesSpec(feature="packets", bin_width_s=1.0, length=3))
    late.add(ts_ns=np.array([5_000, 5_999, 7_500], dtype=np.int64) * MS, length=LEN[:3], up=UP[:3], proto=PROTO[:3])
    assert late.series().tolist() == [[2, 0, 1]]


def test_statistics_count_only_packets_in_the_series():
    b = build("bytes", length=2)  # packets at 1.7 s and 1.9 s fall outside 2 x 0.5 s
    assert b.n_packets == 5
    assert b.transport.tolist() == [2, 1, 0]
    assert b.size_hist.sum() == 3
    assert b.size_hist[1, np.searchsorted(SIZE_EDGES, 100, side="right") - 1] == 1  # up, 100 bytes
    assert b.size_hist[0, np.searchsorted(SIZE_EDGES, 40, side="right") - 1] == 1  # down, 40 bytes
    # offsets within 0.5 s bins: 0.0, 0.2, 0.2 -> bins 0, 4, 4 of 20
    assert b.offset_hist.tolist() == [1, 0, 0, 0, 2] + [0] * 15
    assert len(b.offset_hist) == len(OFFSET_EDGES) - 1


@pytest.mark.parametrize(
    "value, seconds",
    [("100ms", 0.1), ("0.5s", 0.5), ("2", 2.0), (0.25, 0.25), ("1m", 60.0), ("250us", 0.00025)],
)
def test_parse_duration(value, seconds):
    assert parse_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(feature="flows"), "feature must be one of bytes, packets, sizes, iat, sequence (got 'flows')"),
        (dict(bin_width_s=0), "bin_width must be > 0 (got 0)"),
        (dict(length=0), "length must be >= 1 (got 0)"),
        (dict(feature="sizes", split_direction=True),
         "split_direction applies to the bytes and packets features (got feature 'sizes'; "
         "sizes are already signed by direction)"),
    ],
)
def test_spec_errors(kwargs, message):
    with pytest.raises(ConfigError) as exc:
        SeriesSpec(**kwargs)
    assert str(exc.value) == message


@pytest.mark.parametrize(
    "value, message",
    [("fast", "bin_width must be a duration such as 100ms or 0.5s (got 'fast')"), ("-1s", None), ("0", None)],
)
def test_parse_duration_errors(value, message):
    with pytest.raises(ConfigError) as exc:
        parse_duration(value)
    if message:
        assert str(exc.value) == message


@pytest.mark.parametrize(
    "feature, split, unit, channels, value_unit",
    [
        ("bytes", False, "host", ["bytes"], "bytes"),
        ("bytes", True, "host", ["bytes_to_host", "bytes_from_host"], "bytes"),
        ("packets", True, "flow", ["packets_to_initiator", "packets_from_initiator"], "packets"),
        ("iat", False, "flow", ["iat"], "seconds"),
        ("sizes", False, "file", ["sizes"], "bytes"),
        ("sequence", False, "host", ["size", "iat"], "bytes,seconds"),
    ],
)
def test_channel_names_and_units(feature, split, unit, channels, value_unit):
    spec = SeriesSpec(feature=feature, split_direction=split)
    assert spec.channels(unit=unit) == channels
    assert spec.unit == value_unit
    assert spec.channel_units == value_unit.split(",") * (2 if split else 1)


def test_sequence_pads_both_channels_and_its_gaps_sum_to_the_packet_times():
    b = build("sequence", length=7, batches=2)
    series = b.series()
    assert series[0].tolist() == [100, -40, 60, 1500, -52, 0, 0]
    np.testing.assert_allclose(np.cumsum(series[1, :5]), (TS - TS[0]) / 1e9, atol=1e-7)
    assert series[1, 5:].tolist() == [0, 0]


@pytest.mark.parametrize(
    "feature, length, expected",
    [
        ("bytes", 8, 4),  # packets from 0 to 1.9 s: bins 0..3 of 0.5 s
        ("bytes", 2, 2),  # truncated
        ("packets", 8, 4),
        ("sizes", 8, 5),
        ("sequence", 3, 3),
        ("iat", 8, 4),  # 5 packets, 4 gaps
    ],
)
def test_data_length_counts_positions_up_to_the_last_packet(feature, length, expected):
    spec = SeriesSpec(feature=feature, bin_width_s=0.5, length=length)
    assert spec.data_length(n_packets=len(TS), first_ns=int(TS[0]), last_ns=int(TS[-1])) == expected
    assert spec.data_length(n_packets=0, first_ns=0, last_ns=0) == 0
