"""The user's verbs: ``fit``, ``sample``, ``save``, ``load``.

A façade over parts that each fit, apply and serialise themselves: the configuration resolved
for the data (:mod:`netdiffus.resolve`), the representation the model sees
(:mod:`netdiffus.representation`), the network and the diffusion process (:mod:`netdiffus.diffusion`),
the training loop (:mod:`netdiffus.training`), the draw (:mod:`netdiffus.sampling`), the
post-processing chain (:mod:`netdiffus.postprocess`) and the run folder (:mod:`netdiffus.manifest`,
:mod:`netdiffus.checkpoint`, :mod:`netdiffus.run_folder`).

Examples
--------
>>> import numpy as np
>>> from netdiffus import TraceDataset, DatasetMeta
>>> rng = np.random.default_rng(0)
>>> ds = TraceDataset(series=rng.gamma(2.0, 1e4, size=(16, 1, 8)).astype("float32"),
...                   labels=["a"] * 8 + ["b"] * 8, ids=[str(i) for i in range(16)],
...                   sources=["toy"] * 16, meta=DatasetMeta(feature="bytes", unit="bytes"))
>>> synth = TrafficSynthesizer.from_preset(
...     "demo", overrides=["train.steps=2", "model.base_channels=8", "sample.steps=2"], progress=False)
>>> fake = synth.fit(ds).sample(4, seed=0)
>>> fake.series.shape, sorted(set(fake.labels))
((4, 1, 8), ['a', 'b'])
"""

from __future__ import annotations

import dataclasses
import logging
import numbers
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from netdiffus._version import __version__
from netdiffus.checkpoint import save_checkpoint
from netdiffus.config import NetDiffusConfig, PostprocessConfig, SampleConfig, check_seed, load_config
from netdiffus.diffusion.networks import (
    Process,
    build_network,
    build_process,
    network_config,
    network_from_json,
)
from netdiffus.distributed import is_main_process, resolve_device
from netdiffus.errors import CheckpointError, ConfigError
from netdiffus.io.dataset import DatasetMeta, TraceDataset, require_dataset
from netdiffus.manifest import RunManifest, read_run
from netdiffus.novelty import check_fit, monitor_for_fit
from netdiffus.postprocess import CALIBRATION_SEED, Postprocessor
from netdiffus.progress import train_bar
from netdiffus.representation import Representation
from netdiffus.resolve import check_training_set, resolve_config
from netdiffus.run_folder import RunFolderGuard, check_run_folder
from netdiffus.sampling import LabelSpec, draw, resolve_labels
from netdiffus.train_state import check_resumable, state_meta
from netdiffus.training import TrainProgress, train

__all__ = ["TrafficSynthesizer"]

log = logging.getLogger(__name__)


class TrafficSynthesizer:
    """Class-conditional diffusion model of traffic traces through GASF images.

    Parameters
    ----------
    config : NetDiffusConfig, optional
        Defaults to the ``demo`` preset.
    device : str or torch.device, optional
        ``"cpu"`` (default) or e.g. ``"cuda"``; see :func:`netdiffus.distributed.resolve_device`.
    progress : bool
        Show progress bars for training and sampling.
    """

    def __init__(self, config: NetDiffusConfig | None = None, *, device: str | torch.device = "cpu",
                 progress: bool = True) -> None:
        self.config = config if config is not None else load_config(preset="demo")
        self.config.validate()
        self.device = resolve_device(device)
        self.progress = progress

    @classmethod
    def from_preset(cls, preset: str = "demo", *, overrides: list[str] | None = None, **kwargs) -> TrafficSynthesizer:
        """Build from a named preset plus ``section.key=value`` overrides."""
        return cls(load_config(preset=preset, overrides=overrides), **kwargs)

    @property
    def process(self) -> Process:
        return build_process(self.config.diffusion)

    def _check_fitted(self) -> None:  # every verb but fit; fitted attributes end in "_" (set by fit or load)
        if not hasattr(self, "model_"):
            raise CheckpointError("this synthesizer is not fitted: call fit() or TrafficSynthesizer.load()")

    def fit(self, dataset: TraceDataset, *, run_dir: str | Path | None = None, resume: bool = False,
            force: bool = False, progress: Callable[[TrainProgress], None] | None = None) -> TrafficSynthesizer:
        """Fit the representation and the post-processing, and train the model on ``dataset``.

        With ``run_dir``, the fitted run is saved there, as :mod:`netdiffus.run_folder` rules: a
        non-empty folder only with ``force``; ``resume=True`` continues from its saved training
        state (and needs one, unless ``force``); an interrupt leaves it as that module says.

        Raises
        ------
        DatasetError
            A training set :func:`netdiffus.resolve.check_training_set` refuses.
        ConfigError
            A bad configuration value, or training diverged (``training diverged at step 12 (loss
            nan); lower train.lr (got 0.5)``).
        InputError, CheckpointError
            A run folder the rules refuse, or a training state saved for another configuration
            (beyond ``netdiffus.train_state.RESUME_MAY_CHANGE``), data shape or classes.
        """
        require_dataset(dataset, "dataset")
        self.config.validate()
        counts = check_training_set(dataset)
        cfg = self.config = resolve_config(self.config, dataset)  # "auto" decided; config.json records it
        meta = state_meta(cfg, dataset)
        run = Path(run_dir) if run_dir is not None else None
        if run is not None:
            if is_main_process():
                check_run_folder(run, resume=resume, force=force)
            if resume:
                check_resumable(run, cfg, meta)
        torch.manual_seed(cfg.train.seed)
        self.classes_, self.class_counts_ = dataset.classes, counts
        self.meta_ = DatasetMeta.from_json(dataset.meta.to_json())
        self.shape_ = (dataset.n_channels, dataset.length)
        self.representation_ = Representation.from_config(cfg.imaging).fit(dataset.series, dataset.labels)
        self.postprocess_ = Postprocessor.fit(dataset.series, dataset.labels)
        self.representation_.check_memory(dataset.n_traces)
        x_0 = torch.from_numpy(self.representation_.encode(dataset.series).astype(np.float32)).to(self.device)
        index = {c: i for i, c in enumerate(self.classes_)}
        y = torch.tensor([index[lab] for lab in dataset.labels], dtype=torch.long, device=self.device)
        model = build_network(cfg, num_classes=len(self.classes_), **self.representation_.network_shape())
        if progress is None and self.progress:
            progress = train_bar(cfg.train.steps)
        monitor = monitor_for_fit(dataset.series, dataset.labels, counts, every=cfg.train.novelty_every,
                                  threshold=cfg.train.min_novelty, draw=self._draw_with)
        guard = RunFolderGuard(run, resume=resume, force=force) if run is not None and is_main_process() else None
        with guard or nullcontext():
            t0 = time.perf_counter()
            self.model_ = train(model.to(self.device), self.process, x_0, y, cfg=cfg.train,
                                null_class=len(self.classes_), run_dir=run, resume=resume, progress=progress,
                                state_meta=meta, monitor=monitor)
            self.fit_seconds_ = time.perf_counter() - t0
            log.debug("trained %d steps in %.1f s", cfg.train.steps, self.fit_seconds_)
            if guard is not None:  # the trained model is kept, whatever happens to the calibration's draw
                guard.model_saved = self.save(guard.run) is not None
            if cfg.postprocess.calibrate_totals:  # under torchrun every process draws its share
                self.fit_totals_calibration(dataset)
                if guard is not None:
                    self.save(guard.run)
        self.novelty_ = check_fit(dataset.series, counts, self._draw_with, self.model_)  # warns on copies
        return self

    def fit_totals_calibration(self, dataset: TraceDataset) -> TrafficSynthesizer:
        """Fit the volume calibration of a trained model to ``dataset``, its training set: ``fit``
        does this after training when ``postprocess.calibrate_totals`` is true; call it to
        calibrate a run saved by an earlier version (then ``save`` it again).

        Draws a reference set with the run's ``sample`` settings (per class twice its training
        count, within ``netdiffus.postprocess.CALIBRATION_DRAW``, seed ``CALIBRATION_SEED``) and
        fits :class:`netdiffus.postprocess.TotalsCalibration` on it. Classes the value snap holds
        are left as generated (:meth:`netdiffus.postprocess.Postprocessor.held_classes`).
        """
        self._check_fitted()
        require_dataset(dataset, "dataset")
        snap = self.config.postprocess.snap_values
        labels = self.postprocess_.calibration_labels(self.class_counts_, snap_values=snap)
        reference = (self._draw(labels, seed=CALIBRATION_SEED, sample=self.config.sample, desc="calibrate volumes")
                     if labels else np.zeros((0, *self.shape_)))
        self.postprocess_.fit_calibration(dataset.series, dataset.labels, reference, labels, snap_values=snap)
        return self

    def _draw(self, labels: list[str], *, seed: int, sample: SampleConfig, desc: str, model=None) -> np.ndarray:
        """Traces ``[len(labels), C, T]`` before post-processing (see :func:`netdiffus.sampling.draw`)."""
        return draw(model or self.model_, self.process, self.representation_, labels, classes=self.classes_,
                    seed=seed, sample=sample, device=self.device, progress=self.progress, desc=desc)

    def _draw_with(self, model, labels: list[str], seed: int) -> np.ndarray:  # the novelty checks' quick draw
        sample = dataclasses.replace(self.config.sample, steps=min(self.config.sample.steps, 20))
        return self._draw(labels, seed=seed, sample=sample, desc="novelty check", model=model)

    def sample(self, n: int, *, labels: LabelSpec = None, seed: int = 0, sampler: str | None = None,
               steps: int | None = None, eta: float | None = None, guidance_scale: float | None = None,
               batch_size: int | None = None, temperature: float | None = None, raw: bool = False) -> TraceDataset:
        """Draw ``n`` synthetic traces ``[n, C, T]`` in original units, post-processed as the
        ``[postprocess]`` section says (``raw=True``: as the generator made them).

        ``labels``: None (the training class balance), one class, one label per trace, or counts
        per class (:func:`netdiffus.sampling.resolve_labels`). Trace k uses seed ``seed * 1_000_003
        + k`` (``seed`` in [0, 2**32 - 1]): the same trace at any batch size. ``sampler``,
        ``steps``, ``eta``, ``guidance_scale``, ``batch_size`` and ``temperature`` override the
        config's ``sample`` section (None: the config's), checked by the config's rules.

        Raises
        ------
        ConfigError
            ``n`` < 1, a bad ``seed``, an override the config would refuse
            (``sample.steps must be in [1, ...]``), an unknown label or a negative count.
        """
        self._check_fitted()
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ConfigError(f"n must be an integer >= 1 (got {n!r})")
        seed = check_seed(seed)
        given = {"sampler": sampler, "steps": steps, "eta": eta, "guidance_scale": guidance_scale,
                 "batch_size": batch_size, "temperature": temperature}
        sc = dataclasses.replace(self.config.sample, **{k: v for k, v in given.items() if v is not None})
        dataclasses.replace(self.config, sample=sc).validate()
        labels_list = resolve_labels(n, labels, classes=self.classes_, class_counts=self.class_counts_)
        series = self._draw(labels_list, seed=seed, sample=sc, desc=f"sample ({sc.sampler}, {sc.steps} steps)")
        post = PostprocessConfig(False, False, False) if raw else self.config.postprocess
        series, applied = self.postprocess_.apply(series, labels_list, post)
        meta = DatasetMeta.from_json(self.meta_.to_json())
        meta.extra = {**meta.extra, "synthetic": {"generator": f"netdiffus {__version__}", "seed": seed,
                                                    "sampler": sc.sampler, "steps": sc.steps,
                                                    "guidance_scale": sc.guidance_scale, "postprocess": applied}}
        return TraceDataset(series=series.astype(np.float32), labels=labels_list,
                            ids=[f"syn-{seed}-{k:06d}" for k in range(n)], sources=["netdiffus"] * n, meta=meta)

    def save(self, path: str | Path) -> Path:
        """Write the fitted model to a run folder (config.json, model.safetensors, model.json)."""
        self._check_fitted()
        manifest = RunManifest(
            netdiffus_version=__version__, unet=network_config(self.model_), classes=self.classes_,
            class_counts=self.class_counts_, shape=self.shape_, imaging=self.representation_.to_json(),
            dataset_meta=self.meta_.to_json(), postprocess=self.postprocess_.to_json(),
            fit_seconds=round(getattr(self, "fit_seconds_", 0.0), 3))
        return save_checkpoint(path, config=self.config.to_dict(), state_dict=self.model_.state_dict(),
                               model_info=manifest.to_json())

    @classmethod
    def load(cls, path: str | Path, *, device: str | torch.device = "cpu", progress: bool = True) -> TrafficSynthesizer:
        """Load a run folder written by :meth:`save` (or by ``netdiffus fit``, of any earlier version).

        Raises
        ------
        ConfigError
            ``device`` is not usable (see :func:`netdiffus.distributed.resolve_device`).
        CheckpointError
            ``path`` is not a complete, consistent run folder, or its config.json holds a value
            this version refuses (``runs/x/config.json: train.seed must be ... (got -1)``).
        """
        device = resolve_device(device)  # before reading: a bad option is not the checkpoint's fault
        run = read_run(path)
        m = run.manifest
        synth = cls(run.config, device=device, progress=progress)
        try:
            synth.classes_, synth.class_counts_, synth.shape_ = list(m.classes), dict(m.class_counts), m.shape
            synth.representation_ = Representation.from_json(run.config.imaging.representation, m.imaging,
                                                             config=run.config.imaging, shape=m.shape)
            synth.meta_, synth.fit_seconds_ = DatasetMeta.from_json(m.dataset_meta), m.fit_seconds
            synth.postprocess_ = Postprocessor.from_json(m.postprocess, channels=m.shape[0], classes=m.classes)
            model = network_from_json(m.unet)
            model.load_state_dict(run.state)
        except (KeyError, TypeError, ValueError, RuntimeError, ConfigError) as exc:
            raise CheckpointError(f"{path}: checkpoint is inconsistent ({str(exc).splitlines()[0]})") from None
        synth.model_ = model.to(synth.device).eval()
        return synth
