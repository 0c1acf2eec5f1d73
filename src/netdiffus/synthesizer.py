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
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from netdiffus._version import __version__
from netdiffus.checkpoint import save_checkpoint
from netdiffus.config import NetDiffusConfig, SampleConfig, load_config
from netdiffus.diffusion.networks import (
    Process,
    build_network,
    build_process,
    network_config,
    network_from_json,
)
from netdiffus.distributed import is_main_process, resolve_device
from netdiffus.errors import CheckpointError, ConfigError, DatasetError
from netdiffus.headers import HeaderModel, fit_header_model
from netdiffus.io.dataset import DatasetMeta, TraceDataset, require_dataset
from netdiffus.manifest import RunManifest, read_run
from netdiffus.novelty import check_fit, monitor_for_fit
from netdiffus.postprocess import CALIBRATION_SEED, Postprocessor
from netdiffus.privacy import fit_released, privacy_record, refuse_private
from netdiffus.progress import train_bar
from netdiffus.representation import Representation
from netdiffus.resolve import check_training_set, resolve_config
from netdiffus.run_folder import RunFolderGuard, check_run_folder
from netdiffus.sampling import LabelSpec, SamplePlan, draw, plan_sample, synthetic_dataset, weights_digest
from netdiffus.stream import StreamOptions, write_stream
from netdiffus.train_state import check_resumable, state_meta
from netdiffus.training import TrainProgress, init_from_run, train, training_tensors

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
        self.classes_, self.shape_ = dataset.classes, (dataset.n_channels, dataset.length)
        self.representation_, self.postprocess_, self.meta_, self.class_counts_ = fit_released(cfg, dataset, counts)
        self.privacy_ = privacy_record(cfg, n_traces=dataset.n_traces)
        self.headers_ = fit_header_model(dataset, private=self.privacy_ is not None)  # None without records
        self.representation_.check_memory(dataset.n_traces)
        x_0, y = training_tensors(self.representation_, dataset, self.classes_, self.device)
        model = build_network(cfg, num_classes=len(self.classes_), **self.representation_.network_shape())
        if cfg.train.init_from:  # public pre-training, then (under DP) private fine-tuning
            init_from_run(model, cfg.train.init_from, classes=self.classes_)
        if progress is None and is_main_process():  # a bar on a terminal, else a log line every 30 s
            progress = train_bar(cfg.train.steps, bar=self.progress)
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
        # warns on copies; a private fit releases nothing of the training traces beyond the model
        self.novelty_ = None if self.privacy_ else check_fit(dataset.series, counts, self._draw_with, self.model_)
        return self

    def fit_totals_calibration(self, dataset: TraceDataset) -> TrafficSynthesizer:
        """Fit the volume calibration of a trained model to ``dataset``, its training set, as ``fit``
        does when ``postprocess.calibrate_totals`` is true (or for a run of an earlier version, then
        ``save`` it): a reference draw with the run's ``sample`` settings (per class twice its
        training count within ``postprocess.CALIBRATION_DRAW``, seed ``CALIBRATION_SEED``) fits
        :class:`netdiffus.postprocess.TotalsCalibration`, but for the classes the value snap holds.
        A private run refuses (ConfigError): the calibration reads the training traces."""
        self._check_fitted()
        refuse_private(getattr(self, "privacy_", None), "the volume calibration")
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

    def plan(self, n: int, *, labels: LabelSpec = None, seed: int = 0, sampler: str | None = None,
             steps: int | None = None, eta: float | None = None, guidance_scale: float | None = None,
             batch_size: int | None = None, temperature: float | None = None, raw: bool = False) -> SamplePlan:
        """The draw of ``n`` traces that :meth:`sample` makes with these arguments, checked; see
        :func:`netdiffus.sampling.plan_sample` for the arguments and the errors."""
        self._check_fitted()
        given = {"sampler": sampler, "steps": steps, "eta": eta, "guidance_scale": guidance_scale,
                 "batch_size": batch_size, "temperature": temperature}
        return plan_sample(n, labels, seed=seed, overrides=given, raw=raw, config=self.config,
                           classes=self.classes_, class_counts=self.class_counts_)

    def sample(self, n: int, *, labels: LabelSpec = None, seed: int = 0, sampler: str | None = None,
               steps: int | None = None, eta: float | None = None, guidance_scale: float | None = None,
               batch_size: int | None = None, temperature: float | None = None, raw: bool = False) -> TraceDataset:
        """Draw ``n`` synthetic traces ``[n, C, T]`` in original units, post-processed as the
        ``[postprocess]`` section says (``raw=True``: as generated); trace k uses seed ``seed *
        1_000_003 + k``, the same at any batch size. Arguments and errors: :meth:`plan`."""
        plan = self.plan(n, labels=labels, seed=seed, sampler=sampler, steps=steps, eta=eta,
                         guidance_scale=guidance_scale, batch_size=batch_size, temperature=temperature, raw=raw)
        return self.sample_range(plan, 0, plan.n)

    def sample_range(self, plan: SamplePlan, start: int, stop: int, *, bar=None) -> TraceDataset:
        """Traces ``start`` to ``stop - 1`` of ``plan``, post-processed (progress to ``bar``):
        value for value those of the whole draw when ``start`` is a multiple of the batch size."""
        self._check_fitted()
        labels, sc = plan.labels[start:stop], plan.sample
        series = draw(self.model_, self.process, self.representation_, labels, classes=self.classes_, seed=plan.seed,
                      sample=sc, device=self.device, progress=self.progress, first=start, bar=bar)
        series, applied = self.postprocess_.apply(series, labels, plan.postprocess, quiet=start > 0)
        return synthetic_dataset(series, plan, start=start, meta=self.meta_, applied=applied,
                                 privacy=getattr(self, "privacy_", None), headers=getattr(self, "headers_", None))

    def sample_to_parquet(self, path: str | Path, plan: SamplePlan, options: StreamOptions | None = None) -> Path:
        """Make the draw ``plan`` into the Parquet dataset ``path`` chunk by chunk, in memory bounded
        by the chunk, resumable (:func:`netdiffus.stream.write_stream`): the values of :meth:`sample`."""
        self._check_fitted()
        return write_stream(path, plan, self.sample_range, model_digest=weights_digest(self.model_), options=options,
                            progress=self.progress)

    def save(self, path: str | Path) -> Path:
        """Write the fitted model to a run folder (config.json, model.safetensors, model.json)."""
        self._check_fitted()
        return save_checkpoint(path, config=self.config.to_dict(), state_dict=self.model_.state_dict(),
                               model_info=_manifest(self).to_json())

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
            synth.privacy_, synth.headers_ = m.privacy, None if m.headers is None else HeaderModel.from_json(m.headers)
            synth.postprocess_ = Postprocessor.from_json(m.postprocess, channels=m.shape[0], classes=m.classes)
            model = network_from_json(m.unet)
            model.load_state_dict(run.state)
        except (KeyError, TypeError, ValueError, RuntimeError, ConfigError, DatasetError) as exc:
            raise CheckpointError(f"{path}: checkpoint is inconsistent ({str(exc).splitlines()[0]})") from None
        synth.model_ = model.to(synth.device).eval()
        return synth


def _manifest(synth: TrafficSynthesizer) -> RunManifest:
    """What a fitted synthesizer's model.json records beside its weights."""
    headers = getattr(synth, "headers_", None)
    return RunManifest(
        netdiffus_version=__version__, unet=network_config(synth.model_), classes=synth.classes_,
        class_counts=synth.class_counts_, shape=synth.shape_, imaging=synth.representation_.to_json(),
        dataset_meta=synth.meta_.to_json(), postprocess=synth.postprocess_.to_json(),
        fit_seconds=round(getattr(synth, "fit_seconds_", 0.0), 3), privacy=getattr(synth, "privacy_", None),
        headers=None if headers is None else headers.to_json())
