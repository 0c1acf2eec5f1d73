"""Accuracy against the number of real training traces: do the synthetic traces help a classifier
where real traces are scarce?

For ``n`` real training traces per class, ``n`` on a ladder up to all of them (a class with fewer
keeps all of its traces), a random forest is trained on

- ``real``: ``n`` real traces per class, a seeded draw of each class's traces;
- ``real+synthetic``: the same real traces plus every synthetic trace;
- ``synthetic``: the synthetic traces only (one value: it does not depend on ``n``);

and scored by its accuracy on the real test traces. Each point is the mean over ``repeats`` draws
of the real traces (and forest seeds), with their standard deviation.

The synthetic traces were generated from all the real training traces, so the curve says how many
real traces they are worth to a classifier, and whether adding them to a few real ones helps. It
does not say what a generator trained on ``n`` traces would give: the low-data benchmark (B4,
``benchmarks/lowdata.py``) trains one per subset.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> def make(n):
...     x = np.concatenate([rng.lognormal(3, 0.5, (n, 1, 12)), rng.lognormal(4, 0.5, (n, 1, 12))])
...     return x, np.array(["a"] * n + ["b"] * n)
>>> curve = accuracy_curve(make(30), make(60), make(40), repeats=2, n_estimators=20)
>>> curve.per_class, curve.n_real
([5, 10, 25, 30], [10, 20, 50, 60])
>>> len(curve.real), len(curve.real_synthetic), 0.5 < curve.synthetic <= 1
(4, 4, True)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from netdiffus.errors import ConfigError, DatasetError
from netdiffus.evaluation.utility import DEFAULT_N_ESTIMATORS, rf_predict

__all__ = ["AccuracyCurve", "accuracy_curve", "curve_sizes", "LADDER"]

#: Real training traces per class on the curve (those below the largest class), then all of them.
LADDER = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000)


@dataclass
class AccuracyCurve:
    """Test accuracy against real training traces per class (see the module docstring).

    ``per_class[i]`` real traces per class (at most; ``n_real[i]`` in all) give accuracy
    ``real[i]`` alone and ``real_synthetic[i]`` with the synthetic traces added (means over the
    repeats; ``*_sd`` their standard deviations); ``synthetic`` is the synthetic traces alone.
    """

    per_class: list[int]
    n_real: list[int]
    real: list[float]
    real_sd: list[float]
    real_synthetic: list[float]
    real_synthetic_sd: list[float]
    synthetic: float
    synthetic_sd: float
    n_synthetic: int
    repeats: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AccuracyCurve:
        return cls(**data)


def curve_sizes(class_counts: Sequence[int]) -> list[int]:
    """Traces per class on the curve: ``LADDER`` values below the largest class, then the largest
    class (every trace).

    >>> curve_sizes([30, 12]), curve_sizes([4, 4]), curve_sizes([25, 3])
    ([5, 10, 25, 30], [4], [5, 10, 25])
    """
    top = max(class_counts)
    return [n for n in LADDER if n < top] + [top]


def _subset(y: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of at most ``n`` traces of each class of ``y``, a draw from ``rng``."""
    return np.sort(np.concatenate([rng.permutation(np.flatnonzero(y == c))[:n] for c in np.unique(y)]))


def accuracy_curve(
    real_train: tuple[np.ndarray, np.ndarray],
    synthetic: tuple[np.ndarray, np.ndarray],
    real_test: tuple[np.ndarray, np.ndarray],
    *,
    sizes: Sequence[int] | None = None,
    repeats: int = 3,
    seed: int = 0,
    n_estimators: int = DEFAULT_N_ESTIMATORS,
    n_jobs: int | None = -1,
) -> AccuracyCurve:
    """Random-forest accuracy on ``real_test`` against the real training traces per class.

    Each argument is a pair ``(series [N, C, T], labels [N])``. ``sizes``: real traces per class
    (default :func:`curve_sizes`); repeat ``r`` draws its real traces with
    ``numpy.random.default_rng(s)`` and seeds its forests with ``s = (seed + r) % 2**32``.

    Raises
    ------
    ConfigError
        ``repeats`` or a size below 1.
    DatasetError
        An empty real training, synthetic or test set.
    """
    (xr, yr), (xs, ys), (xt, yt) = ((np.asarray(x), np.asarray(y)) for x, y in (real_train, synthetic, real_test))
    if min(len(xr), len(xs), len(xt)) == 0:
        raise DatasetError(f"an accuracy curve needs real training, synthetic and real test traces (got {len(xr)}, "
                           f"{len(xs)}, {len(xt)})")
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise ConfigError(f"repeats must be an int >= 1 (got {repeats!r})")
    counts = [int((yr == c).sum()) for c in np.unique(yr)]
    sizes = curve_sizes(counts) if sizes is None else [int(n) for n in sizes]
    if not sizes or min(sizes) < 1:
        raise ConfigError(f"sizes must be traces per class >= 1 (got {list(sizes)})")

    def accuracy(x: np.ndarray, y: np.ndarray, s: int) -> float:
        return float((rf_predict(x, y, xt, s, n_estimators=n_estimators, n_jobs=n_jobs) == yt).mean())

    seeds = [(seed + r) % 2**32 for r in range(repeats)]  # the seeds the forests take
    real, both = np.zeros((len(sizes), repeats)), np.zeros((len(sizes), repeats))
    for r, s in enumerate(seeds):
        rng = np.random.default_rng(s)
        for i, n in enumerate(sizes):
            idx = _subset(yr, n, rng)
            real[i, r] = accuracy(xr[idx], yr[idx], s)
            both[i, r] = accuracy(np.concatenate([xr[idx], xs]), np.concatenate([yr[idx], ys]), s)
    syn = [accuracy(xs, ys, s) for s in seeds]
    return AccuracyCurve(
        per_class=list(sizes), n_real=[int(sum(min(n, k) for k in counts)) for n in sizes],
        real=real.mean(axis=1).tolist(), real_sd=real.std(axis=1).tolist(),
        real_synthetic=both.mean(axis=1).tolist(), real_synthetic_sd=both.std(axis=1).tolist(),
        synthetic=float(np.mean(syn)), synthetic_sd=float(np.std(syn)), n_synthetic=len(xs), repeats=repeats)
