"""Downstream utility: classifiers trained on real / synthetic / both, the discriminative score,
novelty detection (B3) and augmentation curves.

The random forest works on :func:`~netdiffus.evaluation.features.rf_features` (log series plus
simple statistics). The GASF CNN lives in :mod:`netdiffus.evaluation.cnn` and plugs into the same
train-on / test-on protocol through :func:`train_test_scores`'s ``model`` argument.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> x = np.concatenate([rng.lognormal(3, 0.3, (30, 1, 20)), rng.lognormal(6, 0.3, (30, 1, 20))])
>>> y = np.array(["a"] * 30 + ["b"] * 30)
>>> s = rf_scores(x, y, x, y, n_estimators=20, seed=0)
>>> s["accuracy"], s["macro_f1"]
(1.0, 1.0)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Literal

import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score, f1_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler

from netdiffus.errors import ConfigError, DatasetError
from netdiffus.evaluation.features import rf_features

__all__ = [
    "rf_scores",
    "fit_forest",
    "discriminative_score",
    "novelty_auroc",
    "train_test_scores",
    "augmentation_curve",
    "TrainOn",
    "DEFAULT_N_ESTIMATORS",
    "reporting_trees",
]

#: Trees of every random forest of the benchmark protocol.
DEFAULT_N_ESTIMATORS = 300

TrainOn = Literal["TRTR", "TSTR", "TRSTR"]

# A classifier as a function: (x_train [N, C, T], y_train [N], x_test [M, C, T], seed) -> y_pred [M]
Classifier = Callable[[np.ndarray, np.ndarray, np.ndarray, int], np.ndarray]


def _forest(n_estimators: int, seed: int, n_jobs: int | None) -> RandomForestClassifier:
    return RandomForestClassifier(n_estimators=n_estimators, random_state=seed, n_jobs=n_jobs)


#: Told the number of trees grown as each part of a forest is grown (see :func:`reporting_trees`).
_TREES: ContextVar[Callable[[int], None] | None] = ContextVar("netdiffus_forest_trees", default=None)


@contextmanager
def reporting_trees(callback: Callable[[int], None]) -> Iterator[None]:
    """Within this block every random forest is grown a tenth at a time, ``callback(k)`` told of
    each ``k`` trees grown (a forest of 300 trees on 100,000 traces takes minutes). A warm start
    grows the same trees as one fit: the scores do not change."""
    token = _TREES.set(callback)
    try:
        yield
    finally:
        _TREES.reset(token)


def _fit(x: np.ndarray, y: np.ndarray, *, n_estimators: int, seed: int, n_jobs: int | None) -> RandomForestClassifier:
    """A random forest fitted on features ``x`` (grown in parts when progress is reported)."""
    clf = _forest(n_estimators, seed, n_jobs)
    report = _TREES.get()
    if report is None:
        return clf.fit(x, y)
    clf.set_params(warm_start=True)
    step, grown = max(1, n_estimators // 10), 0
    while grown < n_estimators:
        k = min(grown + step, n_estimators)
        clf.set_params(n_estimators=k).fit(x, y)
        report(k - grown)
        grown = k
    return clf


def fit_forest(x_train: np.ndarray, y_train: np.ndarray, *, seed: int, n_estimators: int = DEFAULT_N_ESTIMATORS,
               n_jobs: int | None = -1) -> RandomForestClassifier:
    """The random forest of the protocol fitted on traces ``x_train`` ``[N, C, T]`` (its features:
    :func:`rf_features`) and labels ``y_train`` ``[N]``."""
    return _fit(rf_features(x_train), np.asarray(y_train), n_estimators=n_estimators, seed=seed, n_jobs=n_jobs)


def rf_predict(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    seed: int,
    *,
    n_estimators: int = DEFAULT_N_ESTIMATORS,
    n_jobs: int | None = -1,
) -> np.ndarray:
    """Fit a random forest on traces ``x_train`` ``[N, C, T]`` and predict labels of ``x_test``."""
    clf = _fit(rf_features(x_train), np.asarray(y_train), n_estimators=n_estimators, seed=seed, n_jobs=n_jobs)
    return clf.predict(rf_features(x_test))


def _scores(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str] | None = None) -> dict[str, float]:
    labels = sorted(set(y_true)) if labels is None else list(labels)
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
    }


def rf_scores(
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    n_estimators: int = DEFAULT_N_ESTIMATORS,
    seed: int = 0,
    n_jobs: int | None = -1,
) -> dict[str, float]:
    """Test accuracy and macro-F1 (over the test classes) of a random forest; see :func:`rf_predict`."""
    pred = rf_predict(x_train, y_train, x_test, seed, n_estimators=n_estimators, n_jobs=n_jobs)
    return _scores(np.asarray(y_test), pred)


def train_test_scores(
    real_train: tuple[np.ndarray, np.ndarray],
    synthetic: tuple[np.ndarray, np.ndarray],
    real_test: tuple[np.ndarray, np.ndarray],
    *,
    classifier: Classifier,
    seed: int = 0,
    which: Sequence[TrainOn] = ("TRTR", "TSTR", "TRSTR"),
) -> dict[str, dict[str, float]]:
    """TRTR / TSTR / TRSTR: accuracy and macro-F1 on ``real_test`` of ``classifier`` trained on
    real-train, synthetic, or both.

    Each argument is a pair ``(series [N, C, T], labels [N])``. Returns
    ``{"TRTR": {"accuracy": ..., "macro_f1": ...}, ...}``.
    """
    (xr, yr), (xs, ys), (xt, yt) = real_train, synthetic, real_test
    sources = {
        "TRTR": (xr, yr),
        "TSTR": (xs, ys),
        "TRSTR": (np.concatenate([xr, xs]), np.concatenate([np.asarray(yr), np.asarray(ys)])),
    }
    out: dict[str, dict[str, float]] = {}
    for name in which:
        x, y = sources[name]
        out[name] = _scores(np.asarray(yt), classifier(x, np.asarray(y), xt, seed))
    return out


def discriminative_score(
    real: np.ndarray,
    synthetic: np.ndarray,
    *,
    n_estimators: int = DEFAULT_N_ESTIMATORS,
    folds: int = 5,
    seed: int = 0,
    n_jobs: int | None = -1,
) -> float:
    """``discriminative``: |accuracy - 0.5| of a random forest telling real from synthetic traces.

    The larger set is subsampled (seeded) to the size of the smaller one; the accuracy is the mean
    over ``folds`` stratified cross-validation folds. 0 is best (indistinguishable), 0.5 worst.
    """
    rng = np.random.default_rng(seed)
    n = min(len(real), len(synthetic))
    if n < folds:
        raise DatasetError(f"discriminative score needs at least {folds} traces per side (got {n})")
    r = real[rng.choice(len(real), n, replace=False)]
    s = synthetic[rng.choice(len(synthetic), n, replace=False)]
    x = rf_features(np.concatenate([r, s]))
    y = np.r_[np.zeros(n, dtype=int), np.ones(n, dtype=int)]
    accs = []
    for tr, te in StratifiedKFold(folds, shuffle=True, random_state=seed).split(x, y):
        clf = _fit(x[tr], y[tr], n_estimators=n_estimators, seed=seed, n_jobs=n_jobs)
        accs.append(accuracy_score(y[te], clf.predict(x[te])))
    return float(abs(np.mean(accs) - 0.5))


def novelty_auroc(
    train_normal: np.ndarray,
    test_normal: np.ndarray,
    test_anomalous: np.ndarray,
    *,
    method: Literal["knn", "classifier"] = "knn",
    train_labels: Sequence[str] | None = None,
    k: int = 5,
    n_estimators: int = DEFAULT_N_ESTIMATORS,
    seed: int = 0,
    n_jobs: int | None = -1,
) -> float:
    """``AUROC (B3)``: a novelty detector trained on normal traces only.

    Methods:

    - ``"knn"``: the anomaly score of a trace is its mean distance to the ``k`` nearest training
      traces in the standardised random-forest feature space (fitted on ``train_normal``).
    - ``"classifier"``: a random forest learns the normal classes (``train_labels``); the anomaly
      score is ``1 - max class probability`` (a trace no normal class claims is novel).

    Returns the ROC AUC of anomalous vs normal test traces (1 is a perfect detector, 0.5 chance).
    """
    if len(train_normal) == 0 or len(test_normal) == 0 or len(test_anomalous) == 0:
        raise DatasetError(
            "novelty detection needs normal training, normal test and anomalous test traces (got "
            f"{len(train_normal)}, {len(test_normal)}, {len(test_anomalous)})"
        )
    if method == "classifier":
        if train_labels is None or len(train_labels) != len(train_normal):
            raise DatasetError("novelty method 'classifier' needs one train label per normal training trace")
        clf = _fit(rf_features(train_normal), np.asarray(train_labels), n_estimators=n_estimators, seed=seed,
                   n_jobs=n_jobs)

        def score(x: np.ndarray) -> np.ndarray:
            return 1.0 - clf.predict_proba(rf_features(x)).max(axis=1)

    elif method == "knn":
        scaler = StandardScaler().fit(rf_features(train_normal))
        ftrain = scaler.transform(rf_features(train_normal))
        nn = NearestNeighbors(n_neighbors=min(k, len(ftrain))).fit(ftrain)

        def score(x: np.ndarray) -> np.ndarray:
            d, _ = nn.kneighbors(scaler.transform(rf_features(x)))
            return d.mean(axis=1)

    else:
        raise ConfigError(f"novelty method must be 'knn' or 'classifier' (got {method!r})")

    y = np.r_[np.zeros(len(test_normal)), np.ones(len(test_anomalous))]
    return float(roc_auc_score(y, np.r_[score(test_normal), score(test_anomalous)]))


def augmentation_curve(
    real_train: tuple[np.ndarray, np.ndarray],
    synthetic: tuple[np.ndarray, np.ndarray],
    real_test: tuple[np.ndarray, np.ndarray],
    *,
    classifier: Classifier,
    factors: Sequence[int] = (0, 1, 2, 4),
    seed: int = 0,
) -> dict[int, dict[str, float]]:
    """Accuracy and macro-F1 on ``real_test`` when training on real + k x |real| synthetic traces.

    For each ``k`` in ``factors``, ``k * len(real_train)`` synthetic traces are drawn (seeded, with
    replacement only when the synthetic set is too small) and added to the real training set.
    """
    (xr, yr), (xs, ys), (xt, yt) = real_train, synthetic, real_test
    yr, ys = np.asarray(yr), np.asarray(ys)
    rng = np.random.default_rng(seed)
    out = {}
    for k in factors:
        m = int(k) * len(xr)
        if m == 0:
            x, y = xr, yr
        else:
            idx = rng.choice(len(xs), m, replace=m > len(xs))
            x, y = np.concatenate([xr, xs[idx]]), np.concatenate([yr, ys[idx]])
        out[int(k)] = _scores(np.asarray(yt), classifier(x, y, xt, seed))
    return out
