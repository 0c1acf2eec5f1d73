"""What a configuration means for one training set: "auto" settings resolved, and the checks a
training set must pass before any work.

:func:`resolve_config` is a pure function of ``(config, dataset)``: it returns a new configuration
with every "auto" value decided by the data (the run's config.json records the decision), and
leaves the one it was given alone. :func:`check_training_set` refuses what cannot be trained.

Examples
--------
>>> import numpy as np
>>> from netdiffus.config import load_config
>>> from netdiffus.io.dataset import DatasetMeta, TraceDataset
>>> ds = TraceDataset(series=np.array([[[-60.0, 1500.0]], [[60.0, 0.0]]], dtype="float32"), labels=["a", "b"],
...                   ids=["0", "1"], sources=["x", "x"], meta=DatasetMeta(feature="sizes", unit="bytes"))
>>> cfg = load_config(preset="demo")
>>> resolved = resolve_config(cfg, ds)
>>> cfg.imaging.scaling, resolved.imaging.scaling, resolved.model.gasf_head
('auto', 'global-linear', 'patch')
"""

from __future__ import annotations

import logging
import math

import numpy as np

from netdiffus.config import NetDiffusConfig, TrainConfig
from netdiffus.errors import DatasetError
from netdiffus.io.dataset import MIN_TRACES_PER_CLASS, TraceDataset
from netdiffus.privacy import dp_enabled, resolve_private
from netdiffus.representation import REPRESENTATIONS

__all__ = ["resolve_config", "check_training_set", "empty_fraction", "training_budget", "SPARSE_EMPTY_FRACTION",
           "MAX_TRAINING_VALUE"]

log = logging.getLogger(__name__)

#: Above this fraction of empty training bins, ``model.gasf_head = "auto"`` picks the per-bin GASF
#: head (and ``fit`` advises it when "patch" is set): on B2 iot-bins (83 % empty) the patch head
#: scored TSTR 0.23 against 0.61; on B1 (19 % empty) it scored better (docs/model.md).
SPARSE_EMPTY_FRACTION = 0.5

#: Largest magnitude of a training value: generated traces are scaled by the volume calibration
#: (a few times the training range) and must still fit in float32 (3.4e38); no traffic counter
#: comes near (a petabyte per bin is 1e15).
MAX_TRAINING_VALUE = 1e18


def empty_fraction(dataset: TraceDataset) -> float:
    """The share of the dataset's bins (all traces and channels) that hold exactly 0."""
    return float((dataset.series == 0).mean())


def training_budget(train: TrainConfig, n_traces: int) -> tuple[int, int]:
    """``(steps, warmup_steps)`` of a training set of ``n_traces`` traces under ``train.max_epochs``.

    ``steps`` is at most ``ceil(max_epochs * n_traces / batch_size)`` (and at least 1): the number
    of passes over the data, not the number of steps, decides when a model starts to replay its
    training traces (the ``cpu`` preset's 3000 steps are 434 passes over B1's 442 traces, and 4800
    over 40 traces, where every draw copied one). The warm-up shrinks in proportion. With
    ``max_epochs`` 0, or a budget the data does not reach, both are as configured.

    >>> from netdiffus.config import TrainConfig
    >>> cfg = TrainConfig(steps=3000, batch_size=64, warmup_steps=150, max_epochs=400)
    >>> training_budget(cfg, 442), training_budget(cfg, 40), training_budget(TrainConfig(steps=3000), 40)
    ((2763, 138), (250, 12), (3000, 100))
    """
    if not train.max_epochs:
        return train.steps, train.warmup_steps
    steps = max(1, min(train.steps, math.ceil(train.max_epochs * n_traces / train.batch_size)))
    return steps, train.warmup_steps * steps // train.steps


def resolve_config(cfg: NetDiffusConfig, dataset: TraceDataset) -> NetDiffusConfig:
    """``cfg`` with its "auto" settings decided by the training ``dataset`` (a new object when
    one is "auto"; ``cfg`` itself is never changed).

    - ``imaging.scaling``: "global-linear" when a training value is negative (signed packet
      sizes), else "global-log".
    - ``model.gasf_head``: "bin" when more than ``SPARSE_EMPTY_FRACTION`` of the training bins
      are empty, else "patch".
    - ``train.steps`` and ``train.warmup_steps``: cut to ``train.max_epochs`` passes over the
      training set (:func:`training_budget`).

    Logs each decision, and warns when the patch head is set on sparse series. A private fit
    (``train.dp_epsilon > 0``) reads only the number of traces: :func:`netdiffus.privacy.resolve_private`.
    """
    if dp_enabled(cfg.train):
        return resolve_private(cfg, n_traces=dataset.n_traces)
    empty = empty_fraction(dataset)
    steps, warmup = training_budget(cfg.train, dataset.n_traces)
    if "auto" in (cfg.model.gasf_head, cfg.imaging.scaling) or steps != cfg.train.steps:
        cfg = NetDiffusConfig.from_dict(cfg.to_dict())
    if steps != cfg.train.steps:
        log.info("train.steps %d -> %d (train.max_epochs=%g passes over %d traces of batches of %d)",
                 cfg.train.steps, steps, cfg.train.max_epochs, dataset.n_traces, cfg.train.batch_size)
        cfg.train.steps, cfg.train.warmup_steps = steps, warmup
    gasf_head_used = cfg.imaging.representation == "gasf" and cfg.model.output == "gasf"  # else no GASF head
    if cfg.imaging.scaling == "auto":
        signed = bool((dataset.series < 0).any())
        cfg.imaging.scaling = "global-linear" if signed else "global-log"
        scaled = REPRESENTATIONS[cfg.imaging.representation].uses_scaling  # else the choice is only recorded
        log.log(logging.INFO if scaled else logging.DEBUG, "imaging.scaling auto -> %s%s", cfg.imaging.scaling,
                " (negative values)" if signed else "")
    if cfg.model.gasf_head == "auto":
        cfg.model.gasf_head = "bin" if empty > SPARSE_EMPTY_FRACTION else "patch"
        log.log(logging.INFO if gasf_head_used else logging.DEBUG, "model.gasf_head auto -> %s (%.0f %% of the "
                "training bins are empty)", cfg.model.gasf_head, 100 * empty)
    if empty > SPARSE_EMPTY_FRACTION and gasf_head_used and cfg.model.gasf_head == "patch" and cfg.model.patch_size > 1:
        log.warning("%.0f %% of the training bins are empty: the patch GASF head blurs bursts one bin "
                    "wide; sparse series fit better with the per-bin head (--set model.gasf_head=bin, or "
                    "auto, the default; docs/model.md)", 100 * empty)
    return cfg


def check_training_set(dataset: TraceDataset) -> dict[str, int]:
    """Refuse a training set that cannot be trained; return its class counts.

    Raises
    ------
    DatasetError
        No trace, NaN or infinite values, a value beyond ``MAX_TRAINING_VALUE``, or a class with
        fewer than ``MIN_TRACES_PER_CLASS`` traces. A single class is fine: it is learned
        unconditionally (the usual case for anomaly detection: normal traffic only).
    """
    dataset.validate(what="training dataset")
    big = np.abs(dataset.series).reshape(dataset.n_traces, -1).max(axis=1, initial=0.0)
    if (big > MAX_TRAINING_VALUE).any():
        k = int(np.argmax(big > MAX_TRAINING_VALUE))
        raise DatasetError(f"training trace {dataset.ids[k]!r} holds {big[k]:.3g}, beyond the {MAX_TRAINING_VALUE:.0e} "
                           "a trace value may reach to be generated in float32 (rescale the series, e.g. another unit)")
    counts = dataset.class_counts()
    if not counts:
        raise DatasetError("training dataset holds no trace")
    if len(counts) == 1:  # only normal traffic, say: one class, so the model is in effect unconditional
        log.info("one class (%r): the model learns it unconditionally", next(iter(counts)))
    small = {c: k for c, k in counts.items() if k < MIN_TRACES_PER_CLASS}
    if small:
        c, k = next(iter(small.items()))
        raise DatasetError(f"class {c!r} has {k} trace(s); each class needs at least {MIN_TRACES_PER_CLASS}")
    return counts
