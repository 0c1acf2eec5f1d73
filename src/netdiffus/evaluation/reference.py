"""The real held-out reference: what real traces the generator never saw score on the same metrics.

A score means little without its floor: a discriminative score of 0.08 is good when unseen real
traces score 0.06 and poor when they score 0.0. With a real test set, :func:`~netdiffus.evaluation.evaluate`
scores the real held-out traces in place of the synthetic set (``result.reference``), per metric:

- fidelity (``W1_values``, ``W1_totals``, ``JSD``, ``ACF``, per class and overall) and
  ``discriminative``: the real test traces against the real training traces;
- metrics that need a third set (``TRTR`` / ``TSTR`` / ``TRSTR``, ``DCR_ratio``, ``MIA_AUC``, the
  GASF CNN and ``FD``): the real test traces are split in two halves by :func:`split_halves`; the
  first half plays the synthetic set, the second the test set, so no classifier is trained on the
  traces it is scored on;
- not computed (``"–"`` in the report, the reason in :data:`NOT_IN_REFERENCE`): the metrics whose
  inputs real traces do not have.

Examples
--------
>>> first, second = split_halves(["a", "a", "a", "b", "b", "c"], seed=0)
>>> sorted(first.tolist() + second.tolist()), [len(first), len(second)]
([0, 1, 2, 3, 4, 5], [2, 4])
>>> sorted({["a", "a", "a", "b", "b", "c"][i] for i in first})   # "c" has one trace: it only tests
['a', 'b']
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from netdiffus.config import check_seed

__all__ = ["split_halves", "NOT_IN_REFERENCE", "REFERENCE_GROUPS", "SPLIT_GROUPS", "REFERENCE_LABEL"]

#: The name of the reference in the report's tables and the command's summary.
REFERENCE_LABEL = "real held-out (reference)"
#: Metric groups scored with the whole real test set in place of the synthetic set.
REFERENCE_GROUPS = ("fidelity", "discriminative")
#: Metric groups scored on the two halves of the real test set (first half as synthetic, second as test).
SPLIT_GROUPS = ("rf", "privacy", "cnn")
#: Metrics (or groups) left out of the reference, and why.
NOT_IN_REFERENCE = {
    "curve": "its real-only line is the reference: it is the accuracy of real training traces alone",
    "GASF_consistency": "real traces have no generated GASF images",
    "JSD_<field>, W1_<field>": "score a second real capture in place of --synthetic-capture",
}


def split_halves(labels: Sequence[str] | np.ndarray, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split trace positions in two halves, per class: ``(first, second)``, each sorted.

    Each class's positions are shuffled with one ``numpy.random.default_rng(seed)`` (classes in
    sorted order) and the first ``n // 2`` go to ``first``: a class with one trace only is in
    ``second``, so ``second`` holds every class and ``first`` plays a synthetic set that lacks it.

    Parameters
    ----------
    labels : sequence of str, ``[N]``
        Class of each trace.
    seed : int
        Seed of the shuffle, in [0, 2**32 - 1].

    Returns
    -------
    first, second : ndarray of int, ``[N // 2 or fewer]`` and the rest
    """
    seed = check_seed(seed)
    y = np.asarray(labels, dtype=object)
    rng = np.random.default_rng(seed)
    first: list[np.ndarray] = []
    for c in sorted(set(y.tolist())):
        own = np.flatnonzero(y == c)
        first.append(rng.permutation(own)[: len(own) // 2])
    a = np.sort(np.concatenate(first)) if first else np.array([], dtype=int)
    b = np.setdiff1d(np.arange(len(y)), a)
    return a.astype(int), b.astype(int)
