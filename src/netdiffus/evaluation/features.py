"""Shared feature views of traces for the metrics: log values, per-trace totals, classifier features.

"log" is ``log1p(abs(x))`` everywhere (values are bytes or signed packet sizes). Multi-channel
series ``[N, C, T]`` are flattened channel-major to ``[N, C * T]`` for distances and classifiers;
per-channel statistics are appended for the random forest.

Examples
--------
>>> import numpy as np
>>> x = np.array([[[0.0, 1.0, 3.0]]])
>>> np.round(log_series(x), 3).tolist()
[[0.0, 0.693, 1.386]]
>>> np.round(log_totals(x), 3).tolist()
[1.609]
"""

from __future__ import annotations

import numpy as np

__all__ = ["log1p_abs", "log_series", "log_totals", "rf_features", "as_nct"]


def as_nct(x: np.ndarray) -> np.ndarray:
    """Return ``x`` as float64 ``[N, C, T]`` (a 2-D ``[N, T]`` array is read as C = 1)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x = x[:, None, :]
    return x


def log1p_abs(x: np.ndarray) -> np.ndarray:
    """``log1p(|x|)``, elementwise (float64)."""
    return np.log1p(np.abs(np.asarray(x, dtype=np.float64)))


def log_series(x: np.ndarray) -> np.ndarray:
    """Traces ``[N, C, T]`` -> log values flattened channel-major ``[N, C * T]``."""
    x = as_nct(x)
    return log1p_abs(x).reshape(x.shape[0], -1)


def log_totals(x: np.ndarray) -> np.ndarray:
    """Per-trace log total ``log1p(sum |x|)`` over all channels and bins -> ``[N]``.

    For byte series this is the log of the bytes per session; for signed packet sizes the total
    volume regardless of direction.
    """
    x = as_nct(x)
    return np.log1p(np.abs(x).sum(axis=(1, 2)))


def rf_features(x: np.ndarray) -> np.ndarray:
    """Random-forest features ``[N, C * T + 9 * C + 1]``: log series plus simple statistics.

    Per channel, on log values: mean, std, min, max, median, 10th and 90th percentile, fraction of
    empty bins (value 0), log total of the channel; then the log total of the trace.
    """
    x = as_nct(x)
    lx = log1p_abs(x)
    stats = [
        lx.mean(axis=2),
        lx.std(axis=2),
        lx.min(axis=2),
        lx.max(axis=2),
        np.median(lx, axis=2),
        np.percentile(lx, 10, axis=2),
        np.percentile(lx, 90, axis=2),
        (x == 0).mean(axis=2),
        np.log1p(np.abs(x).sum(axis=2)),
    ]
    return np.concatenate(
        [lx.reshape(x.shape[0], -1), *stats, log_totals(x)[:, None]], axis=1
    ).astype(np.float32)
