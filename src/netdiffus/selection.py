"""Keeping the draws that a classifier of real traces recognises as their class.

A class-conditional generator sometimes draws a trace of class ``a`` that looks like class ``b``:
added to a training set, it teaches a classifier the wrong boundary. :class:`RecognisedDraw` draws
``oversample`` candidates for every trace wanted, scores them with a random forest fitted on real
labelled traces (``reference``, usually the training set), and keeps per class the candidates the
forest assigns to their own class, in draw order; where too few are, it keeps those to which the
forest gives their class the highest probability. On B2 iot-packets (31 IoT device classes) two
candidates per trace lift TSTR from 0.774 to 0.822 without losing realism (discriminative 0.110,
``benchmarks/results/2026-12-07-packets-B2-filter.md``).

Candidate ``j`` of trace ``k`` is trace ``j * n + k`` of the draw whose labels are the plan's
repeated ``oversample`` times, with the plan's seed: candidate 0 of each trace is the unfiltered
draw's trace. The selection is made chunk by chunk (the traces ``start`` to ``stop - 1`` that
:func:`netdiffus.stream.write_stream` asks for), so a filtered set depends on the chunk size, and a
resumed draw equals an uninterrupted one.

The forest reads the reference traces: a private run (``train.dp_epsilon``) refuses it, since
its draws would no longer be covered by its guarantee.

Examples
--------
>>> import numpy as np
>>> pick_recognised(np.array(["a", "a", "a", "a"]), np.array(["b", "a", "a", "b"]),
...                 np.array([0.2, 0.9, 0.6, 0.4]), {"a": 2}).tolist()
[1, 2]
>>> pick_recognised(np.array(["a", "a", "a"]), np.array(["b", "b", "a"]), np.array([0.1, 0.4, 0.5]),
...                 {"a": 2}).tolist()
[1, 2]
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any

import numpy as np

from netdiffus.errors import ConfigError, DatasetError
from netdiffus.evaluation.features import rf_features
from netdiffus.evaluation.utility import DEFAULT_N_ESTIMATORS, fit_forest
from netdiffus.io.dataset import TraceDataset
from netdiffus.privacy import PrivacyRecord, refuse_private
from netdiffus.sampling import SamplePlan
from netdiffus.stream import DrawRange

__all__ = ["RecognisedDraw", "recognised_draw", "pick_recognised", "DEFAULT_OVERSAMPLE"]

log = logging.getLogger(__name__)

#: Candidates drawn per trace kept.
DEFAULT_OVERSAMPLE = 2


def pick_recognised(labels: np.ndarray, predicted: np.ndarray, own_probability: np.ndarray,
                    wanted: Mapping[str, int]) -> np.ndarray:
    """Indices of the candidates kept, ascending: per class c, ``wanted[c]`` of the candidates
    labelled c (``labels`` ``[M]``), first those ``predicted`` as c in draw order, then the others
    by ``own_probability`` (the classifier's probability of their own class) from the highest."""
    kept = []
    for c, m in wanted.items():
        idx = np.flatnonzero(labels == c)
        hit = idx[predicted[idx] == c]
        rest = idx[predicted[idx] != c]
        rest = rest[np.argsort(-own_probability[rest], kind="stable")]
        kept.append(np.concatenate([hit, rest])[:m])
    return np.sort(np.concatenate(kept)) if kept else np.zeros(0, dtype=int)


class RecognisedDraw:
    """A draw (:class:`netdiffus.stream.DrawRange`) that keeps the candidates a random forest of
    the ``reference`` traces recognises as their class (see the module).

    Parameters
    ----------
    draw_range : DrawRange
        The unfiltered draw (``TrafficSynthesizer.sample_range``).
    reference : TraceDataset
        Real labelled traces ``[N, C, T]`` of the run's shape, with every class to be drawn.
    shape : tuple of int
        The run's traces ``(C, T)``.
    oversample : int
        Candidates per trace kept (>= 2).
    seed : int
        Seed of the forest.
    privacy : PrivacyRecord or None
        The run's guarantee: a private run is refused.
    n_jobs : int or None
        Processes of the forest (None: one).

    Raises
    ------
    ConfigError
        A private run, ``oversample`` < 2, a reference with fewer than two classes.
    DatasetError
        A reference whose traces have another shape than ``shape``.
    """

    def __init__(self, draw_range: DrawRange, reference: TraceDataset, *, shape: tuple[int, int],
                 oversample: int = DEFAULT_OVERSAMPLE, seed: int = 0, privacy: PrivacyRecord | None = None,
                 n_jobs: int | None = None) -> None:
        refuse_private(privacy, "a classifier filter (--filter-by)")
        if isinstance(oversample, bool) or not isinstance(oversample, int) or oversample < 2:
            raise ConfigError(f"oversample must be an integer >= 2 (got {oversample!r})")
        if tuple(reference.series.shape[1:]) != tuple(shape):
            raise DatasetError(f"the reference traces are [C, T] = {list(reference.series.shape[1:])}, the run's "
                               f"{list(shape)}: filter with traces of the run's kind")
        if len(reference.classes) < 2:
            raise ConfigError(f"a classifier filter needs reference traces of two or more classes "
                              f"(got {reference.classes})")
        self.draw_range, self.oversample = draw_range, oversample
        self.classes = set(reference.classes)
        self.forest = fit_forest(reference.series, reference.label_array(), seed=seed, n_jobs=n_jobs)
        h = hashlib.sha256(np.ascontiguousarray(reference.series).tobytes())
        h.update("\0".join(reference.labels).encode())
        self.record: dict[str, Any] = {"classifier": f"random forest ({DEFAULT_N_ESTIMATORS} trees)",
                                       "reference_traces": reference.n_traces, "oversample": oversample, "seed": seed,
                                       "reference_sha256": h.hexdigest()}
        self.drawn = self.recognised = 0

    def digest(self) -> str:
        """What decides the selection besides the draw: a resume must match it."""
        return hashlib.sha256(repr(sorted(self.record.items())).encode()).hexdigest()

    def __call__(self, plan: SamplePlan, start: int, stop: int, *, bar: Any = None) -> TraceDataset:
        """Traces ``start`` to ``stop - 1`` of ``plan``, each the recognised candidate of its class."""
        missing = sorted(set(plan.labels[start:stop]) - self.classes)
        if missing:
            raise ConfigError(f"a classifier filter needs reference traces of every class drawn: none of {missing}")
        n, r = plan.n, self.oversample
        candidates = dataclasses.replace(plan, labels=plan.labels * r)
        part_bar = _Fraction(bar, r) if bar is not None else None
        parts = [self.draw_range(candidates, j * n + start, j * n + stop, bar=part_bar) for j in range(r)]
        series = np.concatenate([p.series for p in parts])
        labels = np.asarray([lab for p in parts for lab in p.labels])
        proba = self.forest.predict_proba(rf_features(series))
        column = {c: i for i, c in enumerate(self.forest.classes_)}
        predicted = self.forest.classes_[proba.argmax(axis=1)]
        own = proba[np.arange(len(labels)), [column[c] for c in labels]]
        wanted = Counter(plan.labels[start:stop])
        keep = pick_recognised(labels, predicted, own, wanted)
        self.drawn += len(labels)
        self.recognised += int(np.sum(predicted[keep] == labels[keep]))
        return self._in_plan_order(parts, keep, plan.labels[start:stop])

    def _in_plan_order(self, parts: list[TraceDataset], keep: np.ndarray, wanted: list[str]) -> TraceDataset:
        """The kept candidates placed where the plan has their class (each class in draw order)."""
        ids = [i for p in parts for i in p.ids]
        labels = [lab for p in parts for lab in p.labels]
        queue: dict[str, list[int]] = {}
        for k in keep:
            queue.setdefault(labels[k], []).append(int(k))
        order = [queue[lab].pop(0) for lab in wanted]
        series = np.concatenate([p.series for p in parts])[order]
        lengths = None if parts[0].lengths is None else np.concatenate([p.lengths for p in parts])[order]
        headers = None if parts[0].headers is None else [h for p in parts for h in p.headers or []]
        meta = dataclasses.replace(parts[0].meta, extra=dict(parts[0].meta.extra))
        meta.extra["synthetic"] = {**meta.extra.get("synthetic", {}), "filter": dict(self.record)}
        return TraceDataset(series=series, labels=list(wanted), ids=[ids[k] for k in order],
                            sources=[parts[0].sources[0]] * len(order) if order else [], meta=meta, lengths=lengths,
                            headers=None if headers is None else [headers[k] for k in order])

    def summary(self) -> str:
        """One line: how many of the traces kept the forest recognises as their class."""
        kept = self.drawn // self.oversample
        return (f"{self.recognised} of {kept} traces kept are recognised as their class by a forest of the "
                f"{self.record['reference_traces']} reference traces ({self.drawn} drawn)")


def recognised_draw(synth: Any, reference: TraceDataset, *, oversample: int = DEFAULT_OVERSAMPLE,
                    seed: int = 0, n_jobs: int | None = None) -> RecognisedDraw:
    """The filtered draw of a fitted ``synth`` (a ``TrafficSynthesizer``): its ``sample_range``, its
    traces' shape and its privacy guarantee, filtered by a forest of ``reference``."""
    return RecognisedDraw(synth.sample_range, reference, shape=synth.representation_.trace_shape,
                          oversample=oversample, seed=seed, privacy=getattr(synth, "privacy_", None), n_jobs=n_jobs)


class _Fraction:
    """A bar moved by 1 / ``parts`` of each update (``parts`` candidates drawn per trace)."""

    def __init__(self, bar: Any, parts: int) -> None:
        self.bar, self.parts, self.seen, self.shown = bar, parts, 0, 0

    def update(self, k: int) -> None:
        self.seen += k
        whole = self.seen // self.parts - self.shown
        if whole:
            self.bar.update(whole)
            self.shown += whole
