"""TraceTable (many traces at once) agrees with one SeriesBuilder per trace, whatever the batching."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from netdiffus.features.series import SeriesBuilder, SeriesSpec, TraceTable

SPECS = [
    SeriesSpec(feature="bytes", bin_width_s=0.1, length=8, split_direction=True),
    SeriesSpec(feature="packets", bin_width_s=0.05, length=5),
    SeriesSpec(feature="sizes", length=6),
    SeriesSpec(feature="iat", length=4),
]


@st.composite
def packets(draw):
    n = draw(st.integers(1, 60))
    slot = np.array(draw(st.lists(st.integers(0, 4), min_size=n, max_size=n)), np.int64)
    gaps = np.array(draw(st.lists(st.integers(0, 200_000_000), min_size=n, max_size=n)), np.int64)
    length = np.array(draw(st.lists(st.integers(20, 9000), min_size=n, max_size=n)), np.int64)
    up = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    proto = np.array(draw(st.lists(st.sampled_from([6, 17, 1, -1]), min_size=n, max_size=n)), np.int64)
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=4)))
    return slot, np.cumsum(gaps), length, up, proto, cuts


@settings(max_examples=80, deadline=None)
@given(data=packets(), spec_i=st.integers(0, len(SPECS) - 1))
def test_table_equals_one_builder_per_trace(data, spec_i):
    slot, ts, length, up, proto, cuts = data
    spec = SPECS[spec_i]
    table = TraceTable(spec, capacity=2)  # grows while adding
    slots = [table.open() for _ in range(5)]
    assert slots == [0, 1, 2, 3, 4]
    for a, b in zip([0, *cuts], [*cuts, len(ts)], strict=True):
        table.add(slot=slot[a:b], ts_ns=ts[a:b], length=length[a:b], up=up[a:b], proto=proto[a:b])
    for s in range(5):
        ref = SeriesBuilder(spec)
        m = slot == s
        ref.add(ts_ns=ts[m], length=length[m], up=up[m], proto=proto[m])
        got = table.close(s)
        np.testing.assert_allclose(got.series, ref.series(), rtol=1e-6)
        assert got.n_packets == ref.n_packets == int(m.sum())
        np.testing.assert_array_equal(got.size_hist, ref.size_hist)
        np.testing.assert_array_equal(got.offset_hist, ref.offset_hist)
        np.testing.assert_array_equal(got.transport, ref.transport)
    assert table.open() in range(5)  # closed slots are reused


def test_reference_single_trace_by_hand():
    b = SeriesBuilder(SeriesSpec(feature="bytes", bin_width_s=1.0, length=3))
    b.add(ts_ns=np.array([10, 20]) * 10**8, length=np.array([100, 50]), up=np.array([False, True]),
          proto=np.array([6, 6]))
    b.add(ts_ns=np.array([35]) * 10**8, length=np.array([7]), up=np.array([False]), proto=np.array([17]))
    assert b.series().tolist() == [[100, 50, 7]]  # aligned at the first packet (1.0 s)
    assert b.first_ns == 10**9 and b.last_ns == 35 * 10**8 and b.n_packets == 3
