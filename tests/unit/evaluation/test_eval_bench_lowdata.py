"""B4, the low-data benchmark of benchmarks/lowdata.py: subsets, synthetic shares and the table."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import lowdata as L  # noqa: E402

from netdiffus.io.dataset import TraceDataset  # noqa: E402


def dataset(counts: dict[str, int]) -> TraceDataset:
    labels = [c for c, k in counts.items() for _ in range(k)]
    n = len(labels)
    x = np.arange(n, dtype=float).reshape(n, 1, 1) * np.ones((1, 1, 4))
    return TraceDataset(series=x, labels=labels, ids=[str(i) for i in range(n)], sources=["t"] * n)


@pytest.mark.parametrize("n, expected", [(None, {"a": 12, "b": 3}), (5, {"a": 5, "b": 3}), (1, {"a": 1, "b": 1})])
def test_subset_takes_n_per_class_or_all(n, expected):
    assert L.per_class_subset(dataset({"a": 12, "b": 3}), n, 0).class_counts() == expected


def test_subset_is_the_protocols_permutation():
    ds = dataset({"b": 3, "a": 12})
    rng = np.random.default_rng(7)  # classes in sorted order, one generator
    want = np.sort(np.concatenate([rng.permutation(np.arange(3, 15))[:4], rng.permutation(np.arange(3))[:4]]))
    assert L.per_class_subset(ds, 4, 7).ids == [str(i) for i in want]
    assert L.per_class_subset(ds, 4, 8).ids != L.per_class_subset(ds, 4, 7).ids


def test_subset_refuses_no_trace():
    with pytest.raises(ValueError) as err:
        L.per_class_subset(dataset({"a": 2}), 0, 0)
    assert str(err.value) == "n must be >= 1 traces per class (got 0)"


def test_first_per_class_nests_the_shares():
    syn = dataset({"a": 8, "b": 8})
    k1, k2 = L.first_per_class(syn, {"a": 2, "b": 3}), L.first_per_class(syn, {"a": 4, "b": 6})
    assert k1.class_counts() == {"a": 2, "b": 3} and set(k1.ids) <= set(k2.ids)


def test_unknown_generator_is_named():
    with pytest.raises(ValueError) as err:
        L.make_generator("gan", preset="cpu", overrides=[])
    assert str(err.value).endswith("(got 'gan')")


def test_table_gives_mean_spread_and_per_seed_gain():
    cells = [{"seed": s, "n_train": 8, "real": {"rf": r},
              "rows": {"g": {"status": "ok", "rf +k1": b, "rf syn": 0.5, "DCR": 0.9, "fit_seconds": 10.0}}}
             for s, r, b in ((0, 0.5, 0.6), (1, 0.7, 0.7))]  # fmt: skip
    (row,) = L.summary_rows(cells, [1])
    assert row == ["g (rf)", "0.600 ± 0.141", "0.650 ± 0.071", "0.050 ± 0.071", "0.500 ± 0.000", "0.900 ± 0.000",
                   "10.000 ± 0.000"]  # fmt: skip
