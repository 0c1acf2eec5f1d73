"""Fidelity metrics of synthetic traces against real ones (../shared/BENCHMARKS.md definitions).

Every function takes two sets of traces ``[N, C, T]`` in original units (bytes or packet sizes
per bin) and returns a non-negative float, 0 for identical distributions. Per-class use and the
mean over classes are done by :func:`netdiffus.evaluation.evaluate`.

Multi-channel series: ``W1_values``, ``JSD`` and ``ACF`` are computed per channel and averaged
over channels (pooling channels would mix, e.g., upload and download volumes); ``W1_totals`` uses
the total over all channels and bins of a trace.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> real = rng.lognormal(5, 1, size=(50, 1, 20))
>>> w1_values(real, real), w1_totals(real, real), jsd(real, real), acf_distance(real, real)
(0.0, 0.0, 0.0, 0.0)
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.distance import jensenshannon
from scipy.stats import wasserstein_distance

from netdiffus.errors import DatasetError
from netdiffus.evaluation.features import as_nct, log1p_abs, log_totals

__all__ = ["w1_values", "w1_totals", "jsd", "normalised_w1", "acf", "acf_distance", "ACF_LAGS"]

#: Lags of the autocorrelation compared by :func:`acf_distance`.
ACF_LAGS = 10


def _check_pair(real: np.ndarray, synthetic: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    real, synthetic = as_nct(real), as_nct(synthetic)
    if real.shape[0] == 0 or synthetic.shape[0] == 0:
        raise DatasetError(
            f"fidelity needs at least one real and one synthetic trace (got {real.shape[0]} and {synthetic.shape[0]})"
        )
    if real.shape[1:] != synthetic.shape[1:]:
        raise DatasetError(
            f"real and synthetic traces must have the same [C, T] (got {list(real.shape[1:])} and "
            f"{list(synthetic.shape[1:])})"
        )
    return real, synthetic


def normalised_w1(a: np.ndarray, b: np.ndarray) -> float:
    """Wasserstein-1 of the values ``a`` (real) and ``b``, divided by the std of ``a`` (the plain
    W1 where ``a`` has no spread)."""
    std = float(np.std(a))
    d = float(wasserstein_distance(a, b))
    # Identical values give a std of rounding noise (~1e-15), not 0: treat that as no spread.
    return d / std if std > 1e-9 * max(1.0, float(np.max(np.abs(a)))) else d


def w1_values(real: np.ndarray, synthetic: np.ndarray) -> float:
    """``W1_values``: Wasserstein-1 of pooled log values, divided by the std of the real ones.

    Parameters
    ----------
    real, synthetic : ndarray ``[N, C, T]`` in original units

    Returns
    -------
    float
        Mean over channels of ``W1(log real, log synthetic) / std(log real)`` (the plain W1
        where the real std is 0).
    """
    real, synthetic = _check_pair(real, synthetic)
    lr, ls = log1p_abs(real), log1p_abs(synthetic)
    return float(np.mean([normalised_w1(lr[:, c].ravel(), ls[:, c].ravel()) for c in range(real.shape[1])]))


def w1_totals(real: np.ndarray, synthetic: np.ndarray) -> float:
    """``W1_totals``: normalised Wasserstein-1 of log per-trace totals (all channels and bins)."""
    real, synthetic = _check_pair(real, synthetic)
    return normalised_w1(log_totals(real), log_totals(synthetic))


def jsd(real: np.ndarray, synthetic: np.ndarray) -> float:
    """``JSD``: squared Jensen-Shannon distance (base 2) of log-value histograms.

    Bin edges come from the real values (``numpy.histogram_bin_edges(..., "auto")``), plus two
    open overflow bins below and above the real range where only synthetic values can fall (so
    that mass the real data never has is penalised, not dropped). Mean over channels. In [0, 1]:
    0 for identical histograms, 1 for disjoint ones.
    """
    real, synthetic = _check_pair(real, synthetic)
    lr, ls = log1p_abs(real), log1p_abs(synthetic)
    out = []
    for c in range(real.shape[1]):
        a, b = lr[:, c].ravel(), ls[:, c].ravel()
        if np.ptp(a) == 0:
            # One real value: one bin around it, and one for everything else.
            p = np.array([1.0, 0.0])
            same = np.isclose(b, a[0])
            q = np.array([same.mean(), 1.0 - same.mean()])
        else:
            edges = np.histogram_bin_edges(a, bins="auto")
            p, _ = np.histogram(a, bins=edges)
            q, _ = np.histogram(b, bins=edges)
            p = np.r_[0, p, 0]
            q = np.r_[(b < edges[0]).sum(), q, (b > edges[-1]).sum()]
        out.append(float(jensenshannon(p, q, base=2) ** 2))
    return float(np.mean(out))


def acf(x: np.ndarray, *, lags: int = ACF_LAGS) -> np.ndarray:
    """Autocorrelation of each trace and channel at lags 1..``lags`` -> ``[N, C, lags]``.

    ``r_k = sum_t (x_t - m)(x_{t+k} - m) / sum_t (x_t - m)^2`` on the values in original units;
    a constant trace has ``r_k = 0``. Lags at or beyond the series length are 0.
    """
    x = as_nct(x)
    t = x.shape[2]
    z = x - x.mean(axis=2, keepdims=True)
    denom = (z * z).sum(axis=2)
    out = np.zeros((*x.shape[:2], lags))
    safe = np.where(denom > 0, denom, 1.0)
    for k in range(1, min(lags, t - 1) + 1):
        out[..., k - 1] = np.where(denom > 0, (z[..., :-k] * z[..., k:]).sum(axis=2) / safe, 0.0)
    return out


def acf_distance(real: np.ndarray, synthetic: np.ndarray, *, lags: int = ACF_LAGS) -> float:
    """``ACF``: mean absolute difference of the mean autocorrelation over lags 1..``lags``.

    The mean is over traces, per channel; the absolute differences are averaged over lags and
    channels.
    """
    real, synthetic = _check_pair(real, synthetic)
    return float(np.mean(np.abs(acf(real, lags=lags).mean(axis=0) - acf(synthetic, lags=lags).mean(axis=0))))
