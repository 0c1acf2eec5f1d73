"""Classic time-series augmentation: the baseline a practitioner tries first when labelled traces
are scarce (B4, ../shared/BENCHMARKS.md).

Each function takes series ``x`` ``[N, C, T]`` and a :class:`numpy.random.Generator` and returns
new series of the same shape; channels of a trace share the time axis (time warping and window
slicing move them together). The operations follow the usual definitions (Um et al. 2017,
"Data augmentation of wearable sensor data"; Le Guennec et al. 2016, "Data augmentation for time
series classification using convolutional neural networks"; Iwana and Uchida 2021, "An empirical
survey of data augmentation for time series classification"):

- :func:`jitter`: ``x + N(0, sigma)`` per value;
- :func:`scaling`: ``x * N(1, sigma)``, one factor per trace and channel;
- :func:`magnitude_warp`: ``x`` times a smooth curve (a cubic spline through ``knots`` random
  heights ``N(1, sigma)``), one curve per trace and channel;
- :func:`time_warp`: ``x`` resampled along a smooth random time axis (the cumulative sum of a
  spline through ``knots`` random speeds ``N(1, sigma)``, rescaled to span the trace);
- :func:`window_slice`: a random window of ``ratio * T`` bins stretched back to ``T``;
- :func:`mixup`: ``lam * x_i + (1 - lam) * x_j`` with ``x_j`` a random trace of the same class and
  ``lam ~ Beta(alpha, alpha)``.

:func:`augment` is the B4 generator (``generate(train, n_per_class, seed)``, as in
:mod:`benchmarks.generators`): each synthetic trace is one real trace of its class put through one
of the operations. Jitter, the warps in time and mixup work in the signed log space
``sign(x) log1p(|x|)`` (byte counts and packet sizes span orders of magnitude: additive noise there
is multiplicative noise on the values); scaling and magnitude warping multiply the values
themselves (in the log space a factor of 1.1 would raise 1e5 bytes to the power 1.1, three times
the volume).

Why not a library: aeon (maintained) has no augmentation module; tsaug's last release is from
2020; tsgm (maintained) brings 37 packages into this environment (keras, a pinned yfinance and
statsmodels, an older networkx than the one torch uses), loads a keras backend on import, draws
from the global numpy / ``random`` state (no seed or generator argument) and has no scaling,
window slicing or mixup. The operations are a few lines of numpy each.

Examples
--------
>>> import numpy as np
>>> x = np.arange(24, dtype=float).reshape(2, 1, 12)
>>> rng = np.random.default_rng(0)
>>> [f(x, rng).shape for f in (jitter, scaling, magnitude_warp, time_warp, window_slice)]
[(2, 1, 12), (2, 1, 12), (2, 1, 12), (2, 1, 12), (2, 1, 12)]
>>> mixup(x, np.array(["a", "a"]), rng, alpha=1.0).shape
(2, 1, 12)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy.interpolate import CubicSpline

from benchmarks.generators import _dataset
from netdiffus.io.dataset import TraceDataset

__all__ = ["jitter", "scaling", "magnitude_warp", "time_warp", "window_slice", "mixup", "augment", "augmenter",
           "METHODS"]  # fmt: skip


def _check(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 3:
        raise ValueError(f"series must have shape [N, C, T] (got shape {x.shape})")
    return x


def jitter(x: np.ndarray, rng: np.random.Generator, *, sigma: float = 0.05) -> np.ndarray:
    """``x + N(0, sigma)`` per value; ``x`` ``[N, C, T]``."""
    x = _check(x)
    return x + rng.normal(0.0, sigma, x.shape)


def scaling(x: np.ndarray, rng: np.random.Generator, *, sigma: float = 0.1) -> np.ndarray:
    """``x * N(1, sigma)``, one factor per trace and channel; ``x`` ``[N, C, T]``."""
    x = _check(x)
    return x * rng.normal(1.0, sigma, (*x.shape[:2], 1))


def _smooth_curves(rng: np.random.Generator, n: int, length: int, *, sigma: float, knots: int) -> np.ndarray:
    """``n`` smooth random curves ``[n, length]`` around 1: cubic splines through ``knots + 2``
    evenly spaced heights ``N(1, sigma)`` (the two ends included)."""
    at = np.linspace(0, length - 1, knots + 2)
    heights = rng.normal(1.0, sigma, (n, knots + 2))
    return CubicSpline(at, heights, axis=1)(np.arange(length))


def magnitude_warp(x: np.ndarray, rng: np.random.Generator, *, sigma: float = 0.2, knots: int = 4) -> np.ndarray:
    """``x`` times a smooth random curve (one per trace and channel); ``x`` ``[N, C, T]``."""
    x = _check(x)
    n, c, t = x.shape
    return x * _smooth_curves(rng, n * c, t, sigma=sigma, knots=knots).reshape(n, c, t)


def time_warp(x: np.ndarray, rng: np.random.Generator, *, sigma: float = 0.2, knots: int = 4) -> np.ndarray:
    """``x`` resampled along a smooth random time axis (one per trace, shared by its channels).

    The warped axis is the cumulative sum of a positive smooth random speed, rescaled to run from
    bin 0 to bin ``T - 1``; ``out[t] = x(warped[t])`` by linear interpolation. ``x`` ``[N, C, T]``.
    """
    x = _check(x)
    n, c, t = x.shape
    speed = np.clip(_smooth_curves(rng, n, t, sigma=sigma, knots=knots), 1e-3, None)
    warped = np.cumsum(speed, axis=1)
    warped = (warped - warped[:, :1]) / np.maximum(warped[:, -1:] - warped[:, :1], 1e-12) * (t - 1)
    grid = np.arange(t)
    return np.stack([np.stack([np.interp(warped[i], grid, x[i, j]) for j in range(c)]) for i in range(n)])


def window_slice(x: np.ndarray, rng: np.random.Generator, *, ratio: float = 0.9) -> np.ndarray:
    """A random window of ``ceil(ratio * T)`` bins of each trace, stretched back to ``T`` bins by
    linear interpolation (channels share the window); ``x`` ``[N, C, T]``."""
    x = _check(x)
    if not 0 < ratio <= 1:
        raise ValueError(f"ratio must be in (0, 1] (got {ratio})")
    n, c, t = x.shape
    w = max(2, int(np.ceil(ratio * t)))
    starts = rng.integers(0, t - w + 1, size=n)
    grid = np.linspace(0, w - 1, t)
    return np.stack([np.stack([np.interp(grid, np.arange(w), x[i, j, s : s + w]) for j in range(c)])
                     for i, s in enumerate(starts)])  # fmt: skip


def mixup(x: np.ndarray, labels: Sequence[str] | np.ndarray, rng: np.random.Generator, *,
          alpha: float = 0.2) -> np.ndarray:  # fmt: skip
    """Within-class mixup: ``lam x_i + (1 - lam) x_j``, ``x_j`` a random trace of the class of
    ``x_i`` (possibly ``x_i`` itself), ``lam ~ Beta(alpha, alpha)`` per trace; ``x`` ``[N, C, T]``."""
    x = _check(x)
    labels = np.asarray(labels)
    if len(labels) != len(x):
        raise ValueError(f"labels must have one entry per trace ({len(x)}) (got {len(labels)})")
    partner = np.empty(len(x), dtype=int)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        partner[idx] = rng.choice(idx, len(idx))
    lam = rng.beta(alpha, alpha, size=(len(x), 1, 1))
    return lam * x + (1 - lam) * x[partner]


Method = Callable[..., np.ndarray]
#: The operations :func:`augment` draws from, by name.
METHODS: dict[str, Method] = {"jitter": jitter, "scaling": scaling, "magnitude-warp": magnitude_warp,
                              "time-warp": time_warp, "window-slice": window_slice, "mixup": mixup}  # fmt: skip


#: The operations that multiply the values themselves (the others work in the signed log space).
_ON_VALUES = ("scaling", "magnitude-warp")


def _signed_log(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.log1p(np.abs(x))


def augment(train: TraceDataset, n_per_class: dict[str, int], seed: int, *,
            methods: Sequence[str] = tuple(METHODS)) -> TraceDataset:  # fmt: skip
    """``n_per_class[c]`` augmented traces of each class ``c``: real traces of the class drawn with
    replacement, each put through one of ``methods`` (in turn, in a seeded random order; scaling
    and magnitude warping on the values, the others in the signed log space); non-negative data
    stays non-negative. Deterministic given ``seed``."""
    unknown = [m for m in methods if m not in METHODS]
    if unknown or not methods:
        raise ValueError(f"augmentation methods must be among {', '.join(METHODS)} (got {list(methods)})")
    rng = np.random.default_rng(seed)
    lab = train.label_array()
    z_all = _signed_log(train.series)
    xs, ys = [], []
    for c, k in n_per_class.items():
        idx = np.flatnonzero(lab == c)
        if len(idx) == 0:
            raise RuntimeError(f"no trace of class {c!r} to augment")
        src = rng.choice(idx, k, replace=True)
        which = rng.permutation(np.resize(np.arange(len(methods)), k))
        z = np.empty((k, *train.series.shape[1:]))
        for m, name in enumerate(methods):
            sel = np.flatnonzero(which == m)
            if len(sel) == 0:
                continue
            if name == "mixup":  # partners among the drawn traces, all of class c
                z[sel] = mixup(z_all[src[sel]], np.full(len(sel), c), rng)
            elif name in _ON_VALUES:
                z[sel] = _signed_log(METHODS[name](train.series[src[sel]], rng))
            else:
                z[sel] = METHODS[name](z_all[src[sel]], rng)
        xs.append(z)
        ys += [c] * k
    z = np.concatenate(xs)
    x = np.sign(z) * np.expm1(np.abs(z))
    if not (train.series < 0).any():
        x = np.clip(x, 0.0, None)
    return _dataset(x, ys, train, "augment", methods=list(methods))


def augmenter(methods: Sequence[str] = tuple(METHODS)) -> Callable[[TraceDataset, dict[str, int], int], TraceDataset]:
    """:func:`augment` restricted to ``methods``, as a ``generate(train, n_per_class, seed)``."""

    def generate(train: TraceDataset, n_per_class: dict[str, int], seed: int) -> TraceDataset:
        return augment(train, n_per_class, seed, methods=methods)

    return generate
