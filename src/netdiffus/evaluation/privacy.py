"""Privacy metrics: distance to closest record (DCR) ratio and a membership-inference attack.

Distances are Euclidean on log series ``log1p(|x|)`` flattened channel-major (``[N, C * T]``).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> train = rng.lognormal(5, 1, size=(40, 1, 30))
>>> test = rng.lognormal(5, 1, size=(40, 1, 30))
>>> round(dcr_ratio(train, train, test), 3)      # a copied training set
0.0
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import roc_auc_score
from sklearn.neighbors import NearestNeighbors

from netdiffus.errors import DatasetError
from netdiffus.evaluation.features import log_series

__all__ = ["nearest_distances", "dcr_ratio", "mia_auc"]


def nearest_distances(queries: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Distance (log space) from each trace of ``queries`` ``[N, C, T]`` to its nearest in ``reference`` -> ``[N]``."""
    if len(reference) == 0 or len(queries) == 0:
        raise DatasetError(
            f"distances need non-empty sets (got {len(queries)} queries, {len(reference)} references)"
        )
    nn = NearestNeighbors(n_neighbors=1).fit(log_series(reference))
    dist, _ = nn.kneighbors(log_series(queries))
    return dist[:, 0]


def dcr_ratio(train: np.ndarray, synthetic: np.ndarray, test: np.ndarray) -> float:
    """``DCR ratio``: median DCR of synthetic traces to ``train`` over the same for real ``test`` traces.

    Parameters
    ----------
    train, synthetic, test : ndarray ``[N, C, T]`` in original units

    Returns
    -------
    float
        Below 1: synthetic traces sit closer to training records than unseen real traces do; a
        copied training set gives 0. The benchmark protocol aims for 0.9 or above; on B1, real
        unseen sessions of the training videos score about 0.83 (docs/evaluation.md).
    """
    syn = float(np.median(nearest_distances(synthetic, train)))
    ref = float(np.median(nearest_distances(test, train)))
    if ref == 0:
        return float("inf") if syn > 0 else 1.0
    return syn / ref


def mia_auc(train: np.ndarray, test: np.ndarray, synthetic: np.ndarray) -> float:
    """``MIA AUC``: distance-to-synthetic membership attack, training (members) vs test traces.

    The attack scores each real trace by minus its distance to the nearest synthetic trace and
    calls close traces members. Returns the ROC AUC of that score (0.5 is best: the synthetic set
    reveals nothing about membership; 1 means every training trace has a closer synthetic twin than
    any test trace).
    """
    d_train = nearest_distances(train, synthetic)
    d_test = nearest_distances(test, synthetic)
    y = np.r_[np.ones(len(d_train)), np.zeros(len(d_test))]
    return float(roc_auc_score(y, -np.r_[d_train, d_test]))
