"""Train / test splits that keep related traces together.

Examples
--------
>>> labels = ["a", "a", "a", "b", "b", "b"]
>>> groups = ["v1", "v1", "v2", "v3", "v4", "v4"]
>>> train, test = split_by_group(labels, groups, test_fraction=0.5, seed=0)
>>> sorted({labels[i] for i in test})      # every class with two groups is on both sides
['a', 'b']
>>> sorted(set(train) | set(test)) == list(range(6)), set(train) & set(test)
(True, set())
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from netdiffus.config import check_seed
from netdiffus.errors import ConfigError, DatasetError
from netdiffus.io.dataset import MIN_TRACES_PER_CLASS

if TYPE_CHECKING:
    from netdiffus.io.dataset import TraceDataset

__all__ = ["split_by_group", "split_dataset", "videotrain_video_id"]

log = logging.getLogger(__name__)


def split_by_group(
    labels: Sequence[str], groups: Sequence[str], *, test_fraction: float = 0.3, seed: int = 0,
    stratify: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Split trace indices so that no (label, group) pair is on both sides.

    ``stratify=True``: the pairs of each class (in sorted class order) are sorted, shuffled with
    one ``numpy.random.default_rng(seed)`` and the first ``round(test_fraction * pairs)`` go to
    the test side, at least one and never all, so every class with two or more groups is on both
    sides. ``stratify=False``: all distinct pairs are sorted, shuffled together and the first
    ``int(test_fraction * pairs)`` are test (the B1 protocol of the benchmarks, where a group is a
    video: 442 train / 194 test sessions; a class may then miss from one side). Returns
    ``(train_index, test_index)``, each sorted.
    """
    if not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction must be in (0, 1) (got {test_fraction})")
    check_seed(seed)
    pairs = sorted(set(zip(labels, groups, strict=True)))
    rng = np.random.default_rng(seed)
    if stratify:
        test_pairs = set()
        for c in sorted({lab for lab, _ in pairs}):
            own = [p for p in pairs if p[0] == c]
            if len(own) < 2:
                continue  # one group: it can only train
            n_test = min(max(round(test_fraction * len(own)), 1), len(own) - 1)
            test_pairs |= {own[i] for i in rng.permutation(len(own))[:n_test]}
    else:
        order = rng.permutation(len(pairs))
        test_pairs = {pairs[i] for i in order[: int(test_fraction * len(pairs))]}
    is_test = np.array([(lab, g) in test_pairs for lab, g in zip(labels, groups, strict=True)], dtype=bool)
    return np.flatnonzero(~is_test), np.flatnonzero(is_test)


def videotrain_video_id(trace_id: str) -> str:
    """The video of a videoTrain trace id (``.../Vid_12_cc_345`` -> ``"12"``); the id itself otherwise."""
    m = re.search(r"Vid_(\d+)_", trace_id)
    return m.group(1) if m else trace_id


def split_dataset(
    dataset: TraceDataset, *, test_fraction: float = 0.3, group: str | None = None, seed: int = 0,
    stratify: bool = True,
) -> tuple[TraceDataset, TraceDataset]:
    r"""Split a dataset into real train and test sets, keeping groups of related traces together.

    Parameters
    ----------
    dataset : TraceDataset
        Traces ``[N, C, T]`` with labels and ids.
    test_fraction : float
        Share of the (label, group) pairs that go to the test side, in (0, 1).
    group : str or None
        Regular expression searched in each trace id; its first capture group (else the whole
        match) names the trace's group, e.g. ``r"Vid_(\d+)_"`` keeps each video on one side.
        None: every trace is its own group.
    seed : int
        Seed of the shuffle of the pairs.
    stratify : bool
        Split each class's groups apart (every class with two or more groups on both sides);
        False shuffles all pairs together (see :func:`split_by_group`).

    Returns
    -------
    (train, test) : tuple of TraceDataset
        Both sides hold at least one trace.
    """
    from netdiffus.io.dataset import require_dataset

    require_dataset(dataset, "dataset")
    if group is None:
        groups = list(dataset.ids)
    else:
        try:
            pattern = re.compile(group)
        except re.error as exc:
            raise ConfigError(f"group '{group}' is not a regular expression ({exc})") from None
        groups = []
        for trace_id in dataset.ids:
            m = pattern.search(trace_id)
            if m is None:
                raise DatasetError(f"group '{group}' does not match trace id '{trace_id}'")
            groups.append(m.group(1) if pattern.groups else m.group(0))
    train_idx, test_idx = split_by_group(dataset.labels, groups, test_fraction=test_fraction, seed=seed,
                                         stratify=stratify)
    if len(test_idx) == 0 and stratify:
        raise DatasetError(f"no class has two or more groups{'' if group is None else f' (group {group!r})'}, "
                           "so none can be held out for test")
    if len(train_idx) == 0 or len(test_idx) == 0:
        n_pairs = len(set(zip(dataset.labels, groups, strict=True)))
        raise DatasetError(
            f"test_fraction {test_fraction} of {n_pairs} (label, group) pairs leaves an empty "
            f"{'test' if len(test_idx) == 0 else 'train'} side"
        )
    train_only = sorted(set(dataset.labels) - {dataset.labels[i] for i in test_idx})
    if train_only:  # with stratify, these classes have a single group: nothing of theirs can be held out
        log.warning("%d class(es) have no test traces (%s): test-set metrics will not cover them",
                    len(train_only), _first_names(train_only))
    train_counts = Counter(dataset.labels[i] for i in train_idx)
    few = sorted(c for c, k in train_counts.items() if k < MIN_TRACES_PER_CLASS)
    if few:
        log.warning("%d class(es) have fewer than %d training traces (%s): fit will refuse the training set",
                    len(few), MIN_TRACES_PER_CLASS, _first_names(few))
    return dataset.subset(train_idx), dataset.subset(test_idx)


def _first_names(names: list[str], k: int = 5) -> str:
    """``"a, b, c, d, e..."``: the first ``k`` names, for a one-line warning."""
    return ", ".join(names[:k]) + ("..." if len(names) > k else "")
