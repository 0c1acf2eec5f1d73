"""The generators of the benchmark table, each ``generate(train, n_per_class, seed) -> TraceDataset``.

``train`` is the real training split, ``n_per_class`` the wanted synthetic traces per class (2x
the training size with the training class balance), ``seed`` the only source of randomness.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from netdiffus.io.dataset import DatasetMeta, TraceDataset

log = logging.getLogger(__name__)

Generator = Callable[[TraceDataset, dict[str, int], int], TraceDataset]


def _dataset(series: np.ndarray, labels: list[str], like: TraceDataset, name: str, **extra) -> TraceDataset:
    meta = DatasetMeta.from_json(like.meta.to_json())
    meta.extra = {"generator": name, **extra}
    n = len(labels)
    return TraceDataset(series=np.asarray(series, dtype=np.float32), labels=labels,
                        ids=[f"{name}-{i}" for i in range(n)], sources=[name] * n, meta=meta)  # fmt: skip


def _take(pool: TraceDataset, n_per_class: dict[str, int], seed: int, name: str) -> TraceDataset:
    """Draw ``n_per_class`` traces per class from ``pool`` (without replacement when it is large enough)."""
    rng = np.random.default_rng(seed)
    lab = pool.label_array()
    xs, ys = [], []
    for c, k in n_per_class.items():
        idx = np.flatnonzero(lab == c)
        if len(idx) == 0:
            raise RuntimeError(f"no trace of class {c!r} to draw from")
        pick = rng.choice(idx, k, replace=k > len(idx))
        xs.append(pool.series[pick])
        ys += [c] * k
    return _dataset(np.concatenate(xs), ys, pool, name)


def real_holdout(test: TraceDataset) -> Generator:
    """The real test split scored as if synthetic (as is: the floor of the metrics)."""

    def generate(train: TraceDataset, n_per_class: dict[str, int], seed: int) -> TraceDataset:
        return _dataset(test.series, list(test.labels), test, "real-holdout")

    return generate


def copy_noise(train: TraceDataset, n_per_class: dict[str, int], seed: int) -> TraceDataset:
    """Training traces resampled with replacement, times ``1 + 0.1 N(0, 1)`` per value (a memoriser)."""
    out = _take(train, n_per_class, seed, "copy+noise")
    rng = np.random.default_rng(seed + 1)
    x = out.series.astype(np.float64) * rng.normal(1.0, 0.1, out.series.shape)
    if not (train.series < 0).any():
        x = np.clip(x, 0.0, None)
    out.series = x.astype(np.float32)
    return out


def bin_shuffle(train: TraceDataset, n_per_class: dict[str, int], seed: int) -> TraceDataset:
    """Per class, bin t of each synthetic trace comes from a random training trace of that class
    (channels of a bin stay together): the right marginals per bin, no temporal structure."""
    rng = np.random.default_rng(seed)
    lab = train.label_array()
    xs, ys = [], []
    t = train.length
    for c, k in n_per_class.items():
        pool = train.series[lab == c]
        src = rng.integers(0, len(pool), size=(k, t))
        xs.append(pool[src, :, np.arange(t)[None, :]].transpose(0, 2, 1))  # [k, T, C] -> [k, C, T]
        ys += [c] * k
    return _dataset(np.concatenate(xs), ys, train, "bin-shuffle")


def videotrain_gan(train: TraceDataset, n_per_class: dict[str, int], seed: int) -> TraceDataset:
    """The published videoTrain GAN traces of training sessions only (B1)."""
    from benchmarks.datasets import videotrain_gan_traces

    pool = videotrain_gan_traces(train)
    return _take(pool, n_per_class, seed, "videotrain-gan")


def doppelganger(epochs: int, threads: int = 1) -> Generator:
    def generate(train: TraceDataset, n_per_class: dict[str, int], seed: int) -> TraceDataset:
        from benchmarks.doppelganger import generate as dgan

        return dgan(train, n_per_class, seed, epochs=epochs, threads=threads)

    return generate


#: Fitted runs of :func:`diffusion` in this process, by (training traces, seed, settings): the
#: filtered and unfiltered draws of one benchmark cell share one fit.
_FITS: dict[tuple, tuple[Any, float]] = {}


def diffusion(*, representation: str | None, preset: str, overrides: list[str], oversample: int = 1) -> Generator:
    """netdiffus (``representation=None``: the preset's own, GASF for ``cpu``, tokens for
    ``packets``) or the 1-D diffusion baseline (``"series"``);
    ``oversample`` > 1 keeps the draws a forest of the training traces recognises as their class
    (``sample --filter-by``, :mod:`netdiffus.selection`)."""

    def generate(train: TraceDataset, n_per_class: dict[str, int], seed: int) -> TraceDataset:
        from netdiffus.selection import recognised_draw
        from netdiffus.synthesizer import TrafficSynthesizer

        ov = [f"train.seed={seed}", "train.checkpoint_every=0"]
        if representation is not None:
            ov.insert(0, f"imaging.representation={representation}")
        if representation == "series":  # the valid-GASF head applies to images only
            ov += ["model.output=image", "diffusion.prediction=v"]
        ov += overrides
        if representation is not None and (train.series < 0).any():
            ov.append("imaging.scaling=global-linear")
        key = (tuple(train.ids), seed, preset, tuple(ov))
        if key not in _FITS:
            synth = TrafficSynthesizer.from_preset(preset, overrides=ov, progress=False)
            t0 = time.perf_counter()
            synth.fit(train)
            _FITS[key] = synth, time.perf_counter() - t0
        synth, fit_s = _FITS[key]
        n = sum(n_per_class.values())
        t0 = time.perf_counter()
        plan = synth.plan(n, labels=dict(n_per_class), seed=seed)
        draw = synth.sample_range if oversample == 1 else recognised_draw(synth, train, oversample=oversample,
                                                                          seed=seed, n_jobs=1)
        out = draw(plan, 0, plan.n)
        sample_s = time.perf_counter() - t0
        out.meta.extra = {**out.meta.extra, "fit_seconds": fit_s, "sample_seconds": sample_s,
                          "preset": preset, "overrides": ov, "train_steps": synth.config.train.steps,
                          "oversample": oversample}  # fmt: skip
        return out

    return generate
