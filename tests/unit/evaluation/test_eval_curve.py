"""Accuracy against the number of real training traces (netdiffus.evaluation.curve)."""

from __future__ import annotations

import numpy as np
import pytest

from netdiffus.errors import ConfigError, DatasetError
from netdiffus.evaluation.curve import AccuracyCurve, accuracy_curve, curve_sizes


def pairs(n: int, seed: int, *, spread: float = 0.5, classes: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """``n`` traces per class, class k around level 4 + k (log space): overlapping when spread is large."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.lognormal(4 + k, spread, (n, 1, 16)) for k in range(classes)])
    return x, np.repeat(np.arange(classes).astype(str), n)


@pytest.mark.parametrize("counts, sizes", [
    ([3, 3], [3]),
    ([5, 2], [5]),
    ([6, 40], [5, 10, 25, 40]),
    ([100, 100], [5, 10, 25, 50, 100]),
])  # fmt: skip
def test_curve_sizes(counts, sizes):
    assert curve_sizes(counts) == sizes


def test_points_count_real_traces_and_repeats_give_a_spread():
    real, syn, test = pairs(30, 0, spread=2.0), pairs(60, 1, spread=2.0), pairs(40, 2, spread=2.0)
    c = accuracy_curve(real, syn, test, repeats=3, n_estimators=10, n_jobs=1)
    assert c.per_class == [5, 10, 25, 30] and c.n_real == [15, 30, 75, 90]
    assert c.n_synthetic == 180 and c.repeats == 3
    assert all(0 <= v <= 1 for v in [*c.real, *c.real_synthetic, c.synthetic])
    assert c.real_sd[0] > 0  # three draws of 5 traces per class disagree on overlapping classes
    assert c.real_sd[-1] == 0 or c.real_sd[-1] < c.real_sd[0]  # all traces: only the forest seed differs


def test_synthetic_traces_lift_the_few_real_ones():
    # a real set of 5 per class where classes overlap; many clean synthetic traces help
    real, test = pairs(5, 0, spread=1.5), pairs(100, 2, spread=0.3)
    syn = pairs(50, 1, spread=0.3)
    c = accuracy_curve(real, syn, test, repeats=2, n_estimators=30, n_jobs=1)
    assert c.real_synthetic[0] > c.real[0] and c.synthetic == 1.0


def test_seeded_and_roundtrips():
    args = pairs(10, 0), pairs(10, 1), pairs(10, 2)
    a = accuracy_curve(*args, repeats=2, n_estimators=5, seed=4, n_jobs=1)
    assert a == accuracy_curve(*args, repeats=2, n_estimators=5, seed=4, n_jobs=1)
    assert AccuracyCurve.from_dict(a.to_dict()) == a


def test_the_largest_seed_wraps():
    c = accuracy_curve(pairs(5, 0), pairs(5, 1), pairs(5, 2), repeats=2, n_estimators=3, seed=2**32 - 1, n_jobs=1)
    assert len(c.real) == 1


@pytest.mark.parametrize("kwargs, error, message", [
    ({"repeats": 0}, ConfigError, "repeats must be an int >= 1 (got 0)"),
    ({"repeats": True}, ConfigError, "repeats must be an int >= 1 (got True)"),
    ({"sizes": [0, 5]}, ConfigError, "sizes must be traces per class >= 1 (got [0, 5])"),
    ({"sizes": []}, ConfigError, "sizes must be traces per class >= 1 (got [])"),
    ({"empty": "synthetic"}, DatasetError,
     "an accuracy curve needs real training, synthetic and real test traces (got 15, 0, 15)"),
])  # fmt: skip
def test_errors_name_the_value(kwargs, error, message):
    real, syn, test = pairs(5, 0), pairs(5, 1), pairs(5, 2)
    if kwargs.pop("empty", None):
        syn = (syn[0][:0], syn[1][:0])
    with pytest.raises(error) as err:
        accuracy_curve(real, syn, test, n_estimators=3, **kwargs)
    assert str(err.value) == message
