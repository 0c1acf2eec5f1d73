"""Joint packet sequences -> packet schedules: hand-computed cases of :func:`schedule_sequence`."""

from __future__ import annotations

import numpy as np
import pytest

from netdiffus.errors import DatasetError
from netdiffus.export.traffic import REVERSE, gaps_us, integer_series, schedule_sequence


@pytest.mark.parametrize(
    "row, time_us, size, n_clipped, written",
    [
        # padding (size 0) writes nothing and its gap is not used; the first packet's gap neither
        ([[60, 0, -70], [5.0, 1.0, 0.5]], [0, 500_000], [60, 70], 0, [[60, 0, -70], [0, 0, 0.5]]),
        # times are the rounded sums of the gaps: 0.4 us + 0.4 us -> 0, 1 us
        ([[60, 60, 60], [0, 4e-7, 4e-7]], [0, 0, 1], [60, 60, 60], 0, [[60, 60, 60], [0, 0, 1e-6]]),
        # sizes clipped into [40, 1500], a negative gap set to 0
        ([[12, -9000, 41], [0, -1.0, 2e-6]], [0, 0, 2], [40, 1500, 41], 3, [[40, -1500, 41], [0, 0, 2e-6]]),
        ([[0, 0], [1.0, 2.0]], [], [], 0, [[0, 0], [0, 0]]),  # all padding: no packet
    ],
)
def test_schedule_sequence_hand_computed(row, time_us, size, n_clipped, written):
    s, n = schedule_sequence(np.array(row, np.float64), min_size=40, mtu=1500)
    assert s.time_us.tolist() == time_us and s.size.tolist() == size and n == n_clipped
    np.testing.assert_allclose(s.written, written, atol=1e-12)


def test_directions_follow_the_sign_of_size():
    s, _ = schedule_sequence(np.array([[-60.0, 52.0, -1500.0], [0, 0.1, 0.2]]), min_size=40, mtu=1500)
    assert s.direction.tolist() == [REVERSE, 0, REVERSE]


def test_integer_series_rounds_sizes_and_keeps_gaps():
    x = np.array([[[60.4, -59.6, 0.0], [0.0, 0.0123456, 1.5]]])
    ints, n = integer_series(x, "sequence")
    assert ints.tolist() == [[[60.0, -60.0, 0.0], [0.0, 0.0123456, 1.5]]] and n == 0


def test_a_series_of_one_channel_is_refused():
    with pytest.raises(DatasetError) as exc:
        schedule_sequence(np.zeros((1, 4)), min_size=40, mtu=1500)
    assert str(exc.value) == "a sequence series must have two channels (size, iat) (got 1)"


@pytest.mark.parametrize(
    "gap_s, us",
    [
        (np.float32(0.123457), 123457.0),  # a capture's gap kept as float32: its whole microseconds
        (np.float32(9.000001), 9000001.0),  # float32 steps of 0.95 us: still the capture's microsecond
        (0.1234567, 123456.7),  # a generated gap: as it is
        (np.float32(0.1234567), float(np.float32(0.1234567)) * 1e6),
        (0.0, 0.0),
    ],
)
def test_gaps_us_gives_a_capture_its_own_microseconds(gap_s, us):
    assert gaps_us(np.array([gap_s], np.float64))[0] == pytest.approx(us, abs=1e-6)


def test_a_prepared_trace_is_written_at_its_own_times_however_long():
    t_us = np.cumsum(np.r_[0, np.random.default_rng(0).integers(1, 3_000_000, size=63)])  # up to 3 s gaps
    gaps = np.diff(t_us, prepend=0) / 1e6
    row = np.array([np.full(64, 60.0), gaps.astype(np.float32)], np.float64)
    s, _ = schedule_sequence(row, min_size=40, mtu=1500)
    assert s.time_us.tolist() == t_us.tolist()
