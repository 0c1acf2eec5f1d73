"""One call that scores a synthetic dataset against real data: :func:`evaluate`.

Examples
--------
>>> import numpy as np
>>> from netdiffus.io.dataset import TraceDataset
>>> rng = np.random.default_rng(0)
>>> def make(n, seed):
...     r = np.random.default_rng(seed)
...     x = np.concatenate([r.lognormal(3, 0.5, (n, 1, 12)), r.lognormal(6, 0.5, (n, 1, 12))])
...     labels = ["a"] * n + ["b"] * n
...     return TraceDataset(series=x, labels=labels, ids=[str(i) for i in range(2 * n)], sources=[""] * (2 * n))
>>> result = evaluate(make(20, 0), make(20, 0), metrics=["fidelity"])
>>> result.overall["W1_values"], result.per_class["a"]["ACF"]
(0.0, 0.0)

With real test traces, the same metrics of those real traces in place of the synthetic set come
beside them (:mod:`netdiffus.evaluation.reference`): the floor a generator is to be read against.

>>> result = evaluate(make(20, 0), make(20, 1), real_test=make(20, 2), metrics=["fidelity"])
>>> result.reference["W1_values"] < 0.5, set(result.reference_per_class) == {"a", "b"}
(True, True)
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from netdiffus.config import MAX_SEED, check_seed
from netdiffus.errors import ConfigError, DatasetError
from netdiffus.evaluation import fidelity, packets, privacy, utility
from netdiffus.evaluation.curve import AccuracyCurve, accuracy_curve, curve_sizes
from netdiffus.evaluation.names import DEFAULT_METRICS, LOWER_IS_BETTER, METRIC_GROUPS, MetricGroup, MetricPreset
from netdiffus.evaluation.reference import NOT_IN_REFERENCE, REFERENCE_GROUPS, SPLIT_GROUPS, split_halves
from netdiffus.features.series import FEATURES
from netdiffus.io.dataset import TraceDataset, default_channel_names, require_dataset

__all__ = ["evaluate", "EvaluationResult", "MetricGroup", "METRIC_GROUPS", "DEFAULT_METRICS", "LOWER_IS_BETTER"]

log = logging.getLogger(__name__)

#: Traces ``[N, C, T]`` and their labels ``[N]``.
Labelled = tuple[np.ndarray, np.ndarray]
#: Trees of the random forests with ``fast=True``.
FAST_N_ESTIMATORS = 100
#: Draws of the real training traces at each point of the accuracy curve.
CURVE_REPEATS = 3
#: Metric groups that need a real test set.
TEST_GROUPS = ("rf", "privacy", "curve", "cnn")


@dataclass
class EvaluationResult:
    """Scores of one synthetic dataset.

    Attributes
    ----------
    overall : dict of str to float
        Mean over classes of the per-class fidelity metrics, plus the whole-set metrics
        (``discriminative``, ``TRTR_acc`` ... ``TRSTR_f1``, ``DCR_ratio``, ``MIA_AUC``,
        ``CNN_*``, ``FD``). NaN where a metric could not be computed.
    per_class : dict of str to dict of str to float
        ``{class: {"W1_values": ..., "W1_totals": ..., "JSD": ..., "ACF": ..., "n_real": ...,
        "n_synthetic": ...}}`` for each class of the real training set.
    info : dict
        Settings, sizes and the wall time of the evaluation.
    curve : AccuracyCurve or None
        Accuracy against the number of real training traces (metric group ``curve``, with a real
        test set; :mod:`netdiffus.evaluation.curve`).
    reference : dict of str to float or None
        The real held-out reference: the metrics of ``overall`` with the real test traces in place
        of the synthetic set (:mod:`netdiffus.evaluation.reference`); None without a real test set
        or with ``reference=False``. A metric it cannot give honestly is absent.
    reference_per_class : dict of str to dict of str to float or None
        The same for ``per_class`` (``n_synthetic`` counts the real test traces of the class).
    """

    overall: dict[str, float] = field(default_factory=dict)
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    curve: AccuracyCurve | None = None
    reference: dict[str, float] | None = None
    reference_per_class: dict[str, dict[str, float]] | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN and infinities become None)."""
        out = {
            "overall": {k: _json_float(v) for k, v in self.overall.items()},
            "per_class": {c: {k: _json_float(v) for k, v in m.items()} for c, m in self.per_class.items()},
            "info": self.info,
        }
        if self.curve is not None:
            out["accuracy_curve"] = self.curve.to_dict()
        if self.reference is not None:
            out["reference"] = {
                "overall": {k: _json_float(v) for k, v in self.reference.items()},
                "per_class": {c: {k: _json_float(v) for k, v in m.items()}
                              for c, m in (self.reference_per_class or {}).items()},
            }  # fmt: skip
        return out

    def to_json(self, *, indent: int | None = 2) -> str:
        """The result as a JSON string (see :meth:`to_dict`)."""
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EvaluationResult:
        """The result of :meth:`to_dict` (``null`` becomes NaN; a file without ``reference`` has none)."""

        def f(v: Any) -> float:
            return float("nan") if v is None else float(v)

        ref = data.get("reference")
        return cls(
            overall={k: f(v) for k, v in data.get("overall", {}).items()},
            per_class={c: {k: f(v) for k, v in m.items()} for c, m in data.get("per_class", {}).items()},
            info=dict(data.get("info", {})),
            curve=AccuracyCurve.from_dict(data["accuracy_curve"]) if data.get("accuracy_curve") else None,
            reference=None if ref is None else {k: f(v) for k, v in ref.get("overall", {}).items()},
            reference_per_class=None if ref is None else {
                c: {k: f(v) for k, v in m.items()} for c, m in ref.get("per_class", {}).items()},
        )  # fmt: skip


def _json_float(v: float) -> float | None:
    v = float(v)
    return v if math.isfinite(v) else None


def _resolve_metrics(metrics: str | Iterable[str]) -> list[str]:
    if isinstance(metrics, str):
        if metrics == "default":
            return list(DEFAULT_METRICS)
        if metrics == "all":
            return list(METRIC_GROUPS)
        metrics = [metrics]
    chosen = list(metrics)
    if not chosen:
        raise ConfigError(f"metrics must name at least one of {', '.join(METRIC_GROUPS)} (got {metrics!r})")
    for m in chosen:
        if m not in METRIC_GROUPS:
            raise ConfigError(
                f"metrics must be 'default', 'all' or a list of {', '.join(METRIC_GROUPS)} (got {m!r})"
            )
    return [m for m in METRIC_GROUPS if m in chosen]


def _check_count(name: str, value: object) -> None:
    """Raise :class:`ConfigError` unless ``value`` is an int >= 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ConfigError(f"{name} must be int (got {value!r})")
    if value < 1:
        raise ConfigError(f"{name} must be >= 1 (got {value})")


def _check_compatible(real: TraceDataset, other: TraceDataset, what: str) -> None:
    if other.series.shape[1:] != real.series.shape[1:]:
        raise DatasetError(
            f"{what} traces must have the real traces' shape [C, T] = {list(real.series.shape[1:])} "
            f"(got {list(other.series.shape[1:])})"
        )
    _check_same_kind(real, other, what)
    other.validate(what=what)
    # Same shape, other meaning: channels in another order, or another bin width, score silently.
    unnamed = default_channel_names(real.n_channels)
    if unnamed not in (real.meta.channels, other.meta.channels) and other.meta.channels != real.meta.channels:
        log.warning("%s channels %s differ from the real ones %s: channels are compared by position", what,
                    other.meta.channels, real.meta.channels)
    w_real, w_other = real.meta.bin_width_s, other.meta.bin_width_s
    if w_real is not None and w_other is not None and not math.isclose(w_real, w_other):
        log.warning("%s bin width %g s differs from the real one, %g s", what, w_other, w_real)


def _check_same_kind(real: TraceDataset, other: TraceDataset, what: str) -> None:
    """Refuse series of another kind than the real ones (bytes against packets per bin): scores of
    the same shape would compare different quantities. Checked where both datasets say."""
    a, b = real.meta, other.meta
    feature_differs = a.feature in FEATURES and b.feature in FEATURES and a.feature != b.feature
    unit_differs = bool(a.unit) and bool(b.unit) and a.unit != b.unit
    if feature_differs or unit_differs:
        raise DatasetError(f"{what} series are {b.feature} ({b.unit or 'no unit'}), the real ones {a.feature} "
                           f"({a.unit or 'no unit'}): compare series prepared the same way")


def _check_test_set(real_train: TraceDataset, real_test: TraceDataset) -> None:
    """Refuse a test set with none of the training classes; warn about unseen classes and copies."""
    train_classes = set(real_train.labels)
    unknown = sorted(set(real_test.labels) - train_classes)
    if len(unknown) == len(set(real_test.labels)):
        raise DatasetError(
            f"real test set has none of the training classes (test: {', '.join(unknown[:5])}"
            f"{'...' if len(unknown) > 5 else ''}; train: {', '.join(sorted(train_classes)[:5])}"
            f"{'...' if len(train_classes) > 5 else ''})"
        )
    if unknown:
        n = sum(lab in unknown for lab in real_test.labels)
        log.warning("%d real test traces have classes not in training (%s): every classifier gets them wrong",
                    n, ", ".join(unknown[:5]))
    seen = {row.tobytes() for row in np.ascontiguousarray(real_train.series, dtype=np.float32)}
    copies = sum(row.tobytes() in seen for row in np.ascontiguousarray(real_test.series, dtype=np.float32))
    if copies:
        log.warning("%d of %d real test traces have a series identical to a real training trace: TRTR, DCR_ratio "
                    "and MIA_AUC assume unseen test traces", copies, real_test.n_traces)


def evaluate(
    real_train: TraceDataset,
    synthetic: TraceDataset,
    *,
    real_test: TraceDataset | None = None,
    seed: int = 0,
    metrics: MetricPreset | Sequence[MetricGroup] = "default",
    fast: bool = False,
    n_estimators: int | None = None,
    cnn_epochs: int | None = None,
    n_jobs: int | None = -1,
    synthetic_images: np.ndarray | None = None,
    forest_repeats: int = 1,
    progress_bar: bool = False,
    reference: bool = True,
) -> EvaluationResult:
    """Score ``synthetic`` against ``real_train`` (and ``real_test`` for utility and privacy).

    Parameters
    ----------
    real_train : TraceDataset
        The real traces the generator was trained on, ``[N, C, T]`` in original units.
    synthetic : TraceDataset
        Generated traces with the same ``[C, T]``.
    real_test : TraceDataset, optional
        Real traces unseen by the generator. Needed for TRTR / TSTR / TRSTR, ``DCR_ratio`` and
        ``MIA_AUC`` (skipped without it), and for the real held-out reference.
    seed : int
        Seeds every random forest, subsample and CNN; an integer in [0, 2**32 - 1].
    metrics : "default", "all" or list of {"fidelity", "discriminative", "rf", "privacy", "curve", "cnn"}
        ``"default"`` is everything but the GASF CNN (``"cnn"``: CNN TRTR / TSTR / TRSTR and the
        Frechet distance ``FD`` between real-test and synthetic embeddings of the real-trained CNN).
        ``"curve"``: random-forest accuracy against the number of real training traces per class,
        alone, with the synthetic traces added and synthetic only (``result.curve``, 3 draws).
    fast : bool
        Fewer trees (100 instead of 300) and CNN epochs, for interactive use (seconds).
    n_estimators : int, optional
        Trees of each random forest (default 300, or 100 with ``fast``).
    cnn_epochs : int, optional
        Training epochs of the GASF CNN, >= 1 (default from :mod:`netdiffus.evaluation.cnn`).
    n_jobs : int or None
        Parallel jobs of the random forests (-1: all cores).
    synthetic_images : ndarray ``[N, C, T, T]``, optional
        The generated GASF images before inversion (image space). Adds ``GASF_consistency``: the
        mean over images of the RMS distance to the nearest valid GASF
        (:func:`netdiffus.imaging.projection.gasf_consistency`; 0 for a valid GASF).
    forest_repeats : int
        Fit every random forest (the discriminative score and TRTR / TSTR / TRSTR) this many times,
        with seeds ``seed, seed + 1, ...``, and report the mean. With 194 test traces one forest's
        accuracy moves by about 0.01 between seeds, as much as the differences between good
        generators; the mean over 10 forests is about 3x steadier. Adds ``<metric>_sd``, the
        standard deviation over the repeats, when above 1.
    progress_bar : bool
        Show the random forests' progress as a bar (on a terminal); without it a log line (INFO)
        says how far they are at most every 30 seconds, so a long evaluation is never silent.
    reference : bool
        With ``real_test``, also score the real held-out traces in place of the synthetic set, with
        the same metric groups and settings (``result.reference``; rules per metric in
        :mod:`netdiffus.evaluation.reference`). About doubles the time of the groups other than
        ``curve``; ``False`` skips it.

    Returns
    -------
    EvaluationResult

    Raises
    ------
    DatasetError
        If the sets differ in shape or in kind (their metadata says bytes for one, packets for the
        other, or names other units), hold NaN values, or the synthetic set lacks every real class.
    ConfigError
        If ``metrics`` names an unknown group or none, ``seed`` is not an integer in
        [0, 2**32 - 1], or ``n_estimators``, ``cnn_epochs`` or ``forest_repeats`` is not an int >= 1.
    """
    t0 = time.perf_counter()
    groups = _resolve_metrics(metrics)
    seed = check_seed(seed)
    n_trees = (
        n_estimators if n_estimators is not None else (FAST_N_ESTIMATORS if fast else utility.DEFAULT_N_ESTIMATORS)
    )
    _check_count("n_estimators", n_trees)
    _check_count("forest_repeats", forest_repeats)
    if cnn_epochs is not None:
        _check_count("cnn_epochs", cnn_epochs)
    if seed + forest_repeats - 1 > MAX_SEED:  # forest k is seeded with seed + k
        raise ConfigError(f"seed + forest_repeats - 1 must be <= 2**32 - 1 (got seed={seed}, "
                          f"forest_repeats={forest_repeats})")
    if real_test is None and all(g in TEST_GROUPS for g in groups):
        raise ConfigError(f"metrics {', '.join(groups)} need a real test set (real_test, --real-test)")
    _check_datasets(real_train, synthetic, real_test)
    forest_seeds = [seed + k for k in range(forest_repeats)]
    result = EvaluationResult()
    result.info = _info(real_train, synthetic, real_test, groups=groups, seed=seed, n_trees=n_trees,
                        forest_repeats=forest_repeats)
    with_reference = reference and real_test is not None
    n_forests = (5 * ("discriminative" in groups) + 3 * ("rf" in groups and real_test is not None)) * (
        1 + with_reference)
    if "curve" in groups and real_test is not None:
        n_forests += CURVE_REPEATS * (2 * len(curve_sizes(list(real_train.class_counts().values()))) + 1)
    trees = n_trees * forest_repeats * n_forests
    with _TreeProgress(trees, bar=progress_bar) as grown, utility.reporting_trees(grown.update):
        _score_groups(result, real_train, synthetic, real_test, groups=groups, n_trees=n_trees, seed=seed,
                      forest_seeds=forest_seeds, n_jobs=n_jobs, fast=fast, cnn_epochs=cnn_epochs)
        if reference and real_test is not None:
            _score_reference(result, real_train, real_test, groups=groups, n_trees=n_trees, seed=seed,
                             forest_seeds=forest_seeds, n_jobs=n_jobs, fast=fast, cnn_epochs=cnn_epochs)
    if synthetic_images is not None:
        from netdiffus.imaging.projection import gasf_consistency

        result.overall["GASF_consistency"] = float(np.mean(gasf_consistency(np.asarray(synthetic_images))))
    result.info["seconds"] = round(time.perf_counter() - t0, 3)
    return result


def _score_groups(result: EvaluationResult, real_train: TraceDataset, synthetic: TraceDataset,
                  real_test: TraceDataset | None, *, groups: list[str], n_trees: int, seed: int,
                  forest_seeds: list[int], n_jobs: int | None, fast: bool, cnn_epochs: int | None) -> None:
    """The scores of the metric groups asked for, into ``result``."""
    xr, xs = real_train.series, synthetic.series
    ylab_r, ylab_s = real_train.label_array(), synthetic.label_array()
    if "fidelity" in groups:
        _fidelity(result, xr, ylab_r, xs, ylab_s, result.info["classes"])
    if "discriminative" in groups:
        log.info("discriminative score (%d trees, 5 folds, forests x%d)", n_trees, len(forest_seeds))
        try:
            _put_mean(result, "discriminative", [
                utility.discriminative_score(xr, xs, n_estimators=n_trees, seed=s, n_jobs=n_jobs) for s in forest_seeds
            ])  # fmt: skip
        except DatasetError as exc:
            log.warning("discriminative score skipped: %s", exc)
            result.overall["discriminative"] = float("nan")
    if real_test is not None:
        train, syn, test = (xr, ylab_r), (xs, ylab_s), (real_test.series, real_test.label_array())
        if "rf" in groups:
            _forest_scores(result, train, syn, test, n_trees=n_trees, forest_seeds=forest_seeds, n_jobs=n_jobs)
        if "privacy" in groups:
            result.overall["DCR_ratio"] = privacy.dcr_ratio(xr, xs, test[0])
            result.overall["MIA_AUC"] = privacy.mia_auc(xr, test[0], xs)
        if "curve" in groups:
            log.info("accuracy against real training traces (%d trees, %d draws)", n_trees, CURVE_REPEATS)
            result.curve = accuracy_curve(train, syn, test, repeats=CURVE_REPEATS, seed=seed, n_estimators=n_trees,
                                          n_jobs=n_jobs)  # fmt: skip
        if "cnn" in groups:
            _cnn_scores(result, train, syn, test, seed=seed, fast=fast, epochs=cnn_epochs)
    elif any(g in groups for g in TEST_GROUPS):
        log.info("no real test set: TRTR / TSTR / TRSTR, DCR ratio, MIA AUC and the accuracy curve skipped")


def _score_reference(result: EvaluationResult, real_train: TraceDataset, real_test: TraceDataset, *,
                     groups: list[str], n_trees: int, seed: int, forest_seeds: list[int], n_jobs: int | None,
                     fast: bool, cnn_epochs: int | None) -> None:
    """The real held-out reference into ``result.reference``: ``real_test`` in place of the synthetic
    set (fidelity, discriminative), or its first half in place of the synthetic set and its second
    half as the test set (metrics that need a third set); see :mod:`netdiffus.evaluation.reference`."""
    ref = EvaluationResult(info={"classes": result.info["classes"]})
    whole = [g for g in groups if g in REFERENCE_GROUPS]
    split = [g for g in groups if g in SPLIT_GROUPS]
    info: dict[str, Any] = {"whole_test_set": whole, "test_set_halves": split, "not_computed": dict(NOT_IN_REFERENCE)}
    if whole:
        log.info("reference: the real test traces in place of the synthetic set (%s)", ", ".join(whole))
        _score_groups(ref, real_train, real_test, None, groups=whole, n_trees=n_trees, seed=seed,
                      forest_seeds=forest_seeds, n_jobs=n_jobs, fast=fast, cnn_epochs=cnn_epochs)
    if split:
        first, second = split_halves(real_test.labels, seed=seed)
        info["n_first_half"], info["n_second_half"] = len(first), len(second)
        if len(first) == 0:
            log.warning("reference: every class has one real test trace, no half to play the synthetic set: the "
                        "reference of %s is left out", ", ".join(split))
            info["not_computed"][", ".join(split)] = "every class has one real test trace: no half to split off"
        else:
            log.info("reference: half the real test traces (%d) in place of the synthetic set, the other half (%d) "
                     "as the test set (%s)", len(first), len(second), ", ".join(split))
            _score_groups(ref, real_train, real_test.subset(first), real_test.subset(second), groups=split,
                          n_trees=n_trees, seed=seed, forest_seeds=forest_seeds, n_jobs=n_jobs, fast=fast,
                          cnn_epochs=cnn_epochs)
    result.reference, result.reference_per_class = ref.overall, ref.per_class
    result.info["reference"] = info


class _TreeProgress:
    """Trees grown by the random forests of an evaluation, out of ``total``: a bar, or a log line
    at most every ``every_s`` seconds."""

    def __init__(self, total: int, *, bar: bool, every_s: float = 30.0) -> None:
        self.total, self.every_s, self.done = total, every_s, 0
        self.t0 = self.last = time.perf_counter()
        self.bar = None
        if bar and total:
            from tqdm.auto import tqdm

            self.bar = tqdm(total=total, desc="evaluate", unit="tree", dynamic_ncols=True, leave=False)

    def __enter__(self) -> _TreeProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def update(self, k: int) -> None:
        self.done += k
        if self.bar is not None:
            self.bar.update(k)
            return
        now = time.perf_counter()
        if now - self.last >= self.every_s and self.done < self.total:
            self.last = now
            log.info("evaluate: %d of %d random-forest trees grown (%.0f s)", self.done, self.total, now - self.t0)


def _check_datasets(real_train: TraceDataset, synthetic: TraceDataset, real_test: TraceDataset | None) -> None:
    """Refuse sets that are not datasets, hold NaN values or differ in shape; check the test set."""
    require_dataset(real_train, "real_train")
    require_dataset(synthetic, "synthetic")
    if real_test is not None:
        require_dataset(real_test, "real_test")
    real_train.validate(what="real training set")
    _check_compatible(real_train, synthetic, "synthetic")
    if real_test is not None:
        _check_compatible(real_train, real_test, "real test")
        _check_test_set(real_train, real_test)


def _info(real_train: TraceDataset, synthetic: TraceDataset, real_test: TraceDataset | None, *, groups: list[str],
          seed: int, n_trees: int, forest_repeats: int) -> dict[str, Any]:
    """The settings and sizes of an evaluation; refuses a synthetic set with none of the real classes."""
    classes = real_train.classes
    ylab_s = synthetic.label_array()
    missing = [c for c in classes if not np.any(ylab_s == c)]
    if len(missing) == len(classes):
        raise DatasetError(
            f"synthetic set has none of the real classes ({', '.join(classes[:5])}{'...' if len(classes) > 5 else ''})"
        )
    if missing:
        log.warning("synthetic set lacks %d of %d real classes (%s%s): their per-class metrics are NaN and the "
                    "overall means cover the other classes", len(missing), len(classes), ", ".join(missing[:5]),
                    "..." if len(missing) > 5 else "")
    return {
        "metrics": groups,
        "seed": seed,
        "n_estimators": n_trees,
        "forest_repeats": forest_repeats,
        "n_real_train": real_train.n_traces,
        "n_synthetic": synthetic.n_traces,
        "n_real_test": None if real_test is None else real_test.n_traces,
        "classes": classes,
        "classes_missing_in_synthetic": missing,
        "classes_not_in_real": sorted(set(synthetic.labels) - set(classes)),
        "shape": list(real_train.series.shape[1:]),
    }


def _forest_scores(result: EvaluationResult, train: Labelled, syn: Labelled, test: Labelled, *, n_trees: int,
                   forest_seeds: list[int], n_jobs: int | None) -> None:
    """Random-forest TRTR / TSTR / TRSTR accuracy and macro F1, the mean over ``forest_seeds``."""
    log.info("random forest TRTR / TSTR / TRSTR (%d trees, forests x%d)", n_trees, len(forest_seeds))

    def rf(x: np.ndarray, y: np.ndarray, xq: np.ndarray, s: int) -> np.ndarray:
        return utility.rf_predict(x, y, xq, s, n_estimators=n_trees, n_jobs=n_jobs)

    runs = [utility.train_test_scores(train, syn, test, classifier=rf, seed=s) for s in forest_seeds]
    _put_scores(result, runs, prefix="")


def _cnn_scores(result: EvaluationResult, train: Labelled, syn: Labelled, test: Labelled, *, seed: int, fast: bool,
                epochs: int | None) -> None:
    """GASF CNN TRTR / TSTR / TRSTR and the Frechet distance; NaN when there are too few traces."""
    from netdiffus.evaluation import cnn

    log.info("GASF CNN TRTR / TSTR / TRSTR")
    try:
        cres = cnn.cnn_evaluation(train, syn, test, seed=seed, fast=fast, epochs=epochs)
    except DatasetError as exc:  # too few traces to train on: NaN, like the discriminative score
        log.warning("GASF CNN scores skipped: %s", exc)
        for key in ("CNN_TRTR_acc", "CNN_TSTR_acc", "CNN_TRSTR_acc", "CNN_TRTR_f1", "CNN_TSTR_f1", "CNN_TRSTR_f1",
                    "FD"):
            result.overall[key] = float("nan")
    else:
        _put_scores(result, [cres.scores], prefix="CNN_")
        result.overall["FD"] = cres.frechet
        result.info["cnn"] = cres.info


def _put_mean(result: EvaluationResult, key: str, values: list[float]) -> None:
    """``overall[key]`` = mean of ``values``; ``overall[key + "_sd"]`` = their deviation when several."""
    result.overall[key] = float(np.mean(values))
    if len(values) > 1:
        result.overall[f"{key}_sd"] = float(np.std(values))


def _put_scores(result: EvaluationResult, runs: list[dict[str, dict[str, float]]], *, prefix: str) -> None:
    """``<prefix><name>_acc`` / ``_f1`` (and ``_sd``) from one or more runs of ``{name: {"accuracy", "macro_f1"}}``."""
    for name in runs[0]:
        _put_mean(result, f"{prefix}{name}_acc", [r[name]["accuracy"] for r in runs])
        _put_mean(result, f"{prefix}{name}_f1", [r[name]["macro_f1"] for r in runs])


def _fidelity(
    result: EvaluationResult,
    xr: np.ndarray,
    ylab_r: np.ndarray,
    xs: np.ndarray,
    ylab_s: np.ndarray,
    classes: list[str],
) -> None:
    names = {"W1_values": fidelity.w1_values, "W1_totals": fidelity.w1_totals, "JSD": fidelity.jsd,
             "ACF": fidelity.acf_distance}
    per: dict[str, list[float]] = {k: [] for k in names}
    for c in classes:
        r, s = xr[ylab_r == c], xs[ylab_s == c]
        row: dict[str, float] = {"n_real": len(r), "n_synthetic": len(s)}
        for key, fn in names.items():
            row[key] = fn(r, s) if len(s) else float("nan")
            if len(s):
                per[key].append(row[key])
        result.per_class[c] = row
    for key in names:
        result.overall[key] = float(np.mean(per[key])) if per[key] else float("nan")
    _discrete(result, xr, ylab_r, xs, ylab_s)


def _discrete(result: EvaluationResult, xr: np.ndarray, ylab_r: np.ndarray, xs: np.ndarray,
              ylab_s: np.ndarray) -> None:
    """The metrics of discrete traffic (:mod:`netdiffus.evaluation.packets`): ``impossible``
    overall, ``length_W1`` and ``mode_coverage`` per class and their means. ``mode_coverage`` is
    given for the classes whose real patterns recur, and left out where each real trace follows a
    pattern of its own (byte volumes): exact patterns say nothing there."""
    result.overall["impossible"] = packets.impossible_share(xr, xs)
    lengths = packets.length_w1_per_class(xr, ylab_r, xs, ylab_s)
    coverage = packets.mode_coverage_per_class(xr, ylab_r, xs, ylab_s)
    for c, row in result.per_class.items():
        row["length_W1"] = lengths.get(c, float("nan"))
        value, recurs = coverage.get(c, (0.0, False))
        if recurs:
            row["mode_coverage"] = value
    for key in ("length_W1", "mode_coverage"):
        values = [row[key] for row in result.per_class.values() if np.isfinite(row.get(key, np.nan))]
        if values:
            result.overall[key] = float(np.mean(values))
