"""The user's verbs: ``fit``, ``sample``, ``save``, ``load``.

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
import hashlib
import json
import logging
import numbers
import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from netdiffus import __version__
from netdiffus.checkpoint import CONFIG_FILE, load_checkpoint, save_checkpoint
from netdiffus.config import NetDiffusConfig, SampleConfig, check_seed, load_config
from netdiffus.diffusion.process import GaussianDiffusion
from netdiffus.diffusion.samplers import sample as run_sampler
from netdiffus.diffusion.unet import UNet
from netdiffus.distributed import gather_shares, is_main_process, process_share, resolve_device
from netdiffus.errors import CheckpointError, ConfigError, DatasetError
from netdiffus.imaging.gaf import GramianAngularField
from netdiffus.io.dataset import MIN_TRACES_PER_CLASS, DatasetMeta, TraceDataset, require_dataset
from netdiffus.postprocess import TotalsCalibration, ValueLexicon, snap_zeros, zero_thresholds
from netdiffus.training import TRAIN_STATE_FILE, TrainProgress, read_train_state_info, train

__all__ = ["TrafficSynthesizer", "MIN_TRACES_PER_CLASS", "resolve_device"]

log = logging.getLogger(__name__)


#: Above this fraction of empty training bins, ``model.gasf_head = "auto"`` picks the per-bin GASF
#: head (and ``fit`` advises it when "patch" is set): on B2 iot-bins (83 % empty) the patch head
#: scored TSTR 0.23 against 0.61; on B1 (19 % empty) it scored better (docs/model.md).
SPARSE_EMPTY_FRACTION = 0.5

#: The volume calibration's reference draw: per class twice its training count, clipped to this
#: range (on B1 a draw of one training count moved the fitted map as much as it corrected), from
#: this sample seed (traces ``seed * 1_000_003 + k`` as in ``sample``; the largest valid seed).
CALIBRATION_DRAW = (32, 512)
CALIBRATION_SEED = 2**32 - 1

LabelSpec = str | Sequence[str] | Mapping[str, int] | None

#: Configuration keys a resumed run may change: the step count (to extend a run), how often it
#: checkpoints and logs, speed-only switches, sampling, and the preset's name. Any other difference
#: would continue a different training run from the saved weights.
RESUME_MAY_CHANGE = ("preset", "train.steps", "train.checkpoint_every", "train.log_every", "train.num_threads",
                     "train.compile", "train.channels_last", "sample.", "imaging.snap_zeros",
                     "imaging.snap_values", "imaging.calibrate_totals")


def _flat(data: Mapping, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out = {}
    for k, v in data.items():
        if isinstance(v, Mapping):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _tqdm_train(total: int):
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc="train", unit="step", dynamic_ncols=True, leave=True, mininterval=0.5)

    def cb(p: TrainProgress) -> None:
        bar.set_postfix(loss=f"{p.loss:.4f}", img_s=f"{p.images_per_s:.0f}", refresh=False)
        bar.update(p.step - bar.n)  # redraws at most every mininterval
        if p.step >= p.steps:
            bar.close()

    return cb


def _check_image_memory(n: int, c: int, size: int, *, memory_bytes: int | None = None) -> None:
    """Refuse a training set whose GASF images ``[n, c, size, size]`` (float64 while imaged, then
    float32) would need more than half of the machine's memory: a one-line error, not a crash."""
    if memory_bytes is None:
        try:
            memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):  # not a POSIX system: no check
            return
    need = 12 * n * c * size * size
    if need > memory_bytes / 2:
        raise ConfigError(
            f"the GASF images of {n} traces ({c} x {size} x {size} each) need {need / 2**30:.1f} GiB, over half "
            f"of this machine's {memory_bytes / 2**30:.0f} GiB; shrink them with imaging.image_size (PAA), "
            "e.g. --set imaging.image_size=64")


def _traces_digest(dataset: TraceDataset) -> str:
    """JSON ``{"n": N, "sha256": ...}`` of a training set's values and labels: a resumed run must
    continue on the traces it started with."""
    h = hashlib.sha256(np.ascontiguousarray(dataset.series, dtype=np.float32).tobytes())
    h.update("\0".join(dataset.labels).encode())
    return json.dumps({"n": dataset.n_traces, "sha256": h.hexdigest()})


class TrafficSynthesizer:
    """Class-conditional diffusion model of traffic traces through GASF images.

    Parameters
    ----------
    config : NetDiffusConfig, optional
        Defaults to the ``demo`` preset.
    device : str or torch.device, optional
        ``"cpu"`` (default) or e.g. ``"cuda"``; see :func:`resolve_device`.
    progress : bool
        Show progress bars for training and sampling.
    """

    def __init__(self, config: NetDiffusConfig | None = None, *, device: str | torch.device = "cpu",
                 progress: bool = True) -> None:
        self.config = config if config is not None else load_config(preset="demo")
        self.config.validate()
        self.device = resolve_device(device)
        self.progress = progress
        self.model_: UNet | None = None
        self.value_lexicon_: ValueLexicon | None = None
        self.totals_calibration_: TotalsCalibration | None = None

    @classmethod
    def from_preset(cls, preset: str = "demo", *, overrides: list[str] | None = None, **kwargs) -> TrafficSynthesizer:
        """Build from a named preset plus ``section.key=value`` overrides."""
        return cls(load_config(preset=preset, overrides=overrides), **kwargs)

    # -- helpers -------------------------------------------------------------------------------
    @property
    def process(self) -> GaussianDiffusion:
        d = self.config.diffusion
        return GaussianDiffusion(timesteps=d.timesteps, schedule=d.schedule, prediction=d.prediction,
                                 learn_sigma=d.learn_sigma)

    def _to_model_space(self, series: np.ndarray) -> np.ndarray:
        """Series ``[N, C, T]`` in original units -> model inputs in [-1, 1]:
        GASF ``[N, C, S, S]`` or the scaled series ``[N, C, S]``."""
        if self.config.imaging.representation == "gasf":
            return self.imaging_.transform(series)
        return 2.0 * self.imaging_.scale(series) - 1.0

    def _from_model_space(self, x_0: torch.Tensor, labels: list[str], seeds: list[int]) -> np.ndarray:
        """Model outputs -> series ``[N, C, T]`` in original units (float64).

        Per-series scalings draw each trace's scale from the fitted scale model, given its class and
        its image, with the trace's own seed.
        """
        gaf = self.imaging_
        x_0 = x_0.double()
        is_gasf = self.config.imaging.representation == "gasf"
        scale = None
        if gaf.scaling.startswith("per-series"):
            scale = np.concatenate([
                gaf.sample_scale([lab], seed=s, images=x_0[k:k + 1] if is_gasf else None)
                for k, (lab, s) in enumerate(zip(labels, seeds, strict=True))
            ])
        if is_gasf:
            return gaf.inverse_transform_torch(x_0, scale=scale, inversion=self.config.imaging.inversion).cpu().numpy()
        return gaf.unscale(((x_0 + 1.0) / 2.0).clamp(0.0, 1.0).cpu().numpy(), scale=scale)

    def _check_fitted(self) -> None:
        if self.model_ is None:
            raise CheckpointError("this synthesizer is not fitted: call fit() or TrafficSynthesizer.load()")

    # -- fit -----------------------------------------------------------------------------------
    def fit(
        self,
        dataset: TraceDataset,
        *,
        run_dir: str | Path | None = None,
        resume: bool = False,
        progress: Callable[[TrainProgress], None] | None = None,
    ) -> TrafficSynthesizer:
        """Fit the imaging scaling and train the diffusion model on ``dataset``.

        With ``resume=True``, training continues from ``run_dir/train_state.safetensors`` when that
        file is present (and starts afresh when it is not).

        Raises
        ------
        DatasetError
            Fewer than two classes, a class with fewer than ``MIN_TRACES_PER_CLASS`` traces, or
            NaN / infinite values.
        ConfigError
            An invalid configuration value, or training diverged (the loss became NaN or infinite:
            ``training diverged at step 12 (loss nan); lower train.lr (got 0.5)``).
        CheckpointError
            ``resume=True`` and the saved training state is for another configuration (see
            ``RESUME_MAY_CHANGE``), another data shape or other classes.
        """
        require_dataset(dataset, "dataset")
        self.config.validate()
        dataset.validate(what="training dataset")
        counts = dataset.class_counts()
        if len(counts) < 2:
            only = next(iter(counts), "<none>")
            raise DatasetError(
                f"training dataset has a single class ({only!r}, {dataset.n_traces} "
                f"trace{'' if dataset.n_traces == 1 else 's'}); "
                "class-conditional training needs at least 2 labels"
            )
        small = {c: k for c, k in counts.items() if k < MIN_TRACES_PER_CLASS}
        if small:
            c, k = next(iter(small.items()))
            raise DatasetError(f"class {c!r} has {k} trace(s); each class needs at least {MIN_TRACES_PER_CLASS}")
        cfg = self.config
        empty = float((dataset.series == 0).mean())
        if "auto" in (cfg.model.gasf_head, cfg.imaging.scaling):  # decided by the data; config.json records it
            cfg = self.config = NetDiffusConfig.from_dict(cfg.to_dict())
        if cfg.imaging.scaling == "auto":
            signed = bool((dataset.series < 0).any())
            cfg.imaging.scaling = "global-linear" if signed else "global-log"
            log.info("imaging.scaling auto -> %s%s", cfg.imaging.scaling, " (negative values)" if signed else "")
        if cfg.model.gasf_head == "auto":
            cfg.model.gasf_head = "bin" if empty > SPARSE_EMPTY_FRACTION else "patch"
            used = cfg.imaging.representation == "gasf" and cfg.model.output == "gasf"  # else no GASF head
            log.log(logging.INFO if used else logging.DEBUG, "model.gasf_head auto -> %s (%.0f %% of the training "
                    "bins are empty)", cfg.model.gasf_head, 100 * empty)
        if (empty > SPARSE_EMPTY_FRACTION and cfg.imaging.representation == "gasf" and cfg.model.output == "gasf"
                and cfg.model.gasf_head == "patch" and cfg.model.patch_size > 1):
            log.warning("%.0f %% of the training bins are empty: the patch GASF head blurs bursts one bin "
                        "wide; sparse series fit better with the per-bin head (--set model.gasf_head=bin, or "
                        "auto, the default; docs/model.md)", 100 * empty)
        state_meta = {"config": cfg.to_json(), "shape": json.dumps([dataset.n_channels, dataset.length]),
                      "classes": json.dumps(dataset.classes), "traces": _traces_digest(dataset)}
        if resume and run_dir is not None:
            self._check_resumable(Path(run_dir), state_meta)
        torch.manual_seed(cfg.train.seed)
        self.classes_ = dataset.classes
        self.class_counts_ = counts
        self.meta_ = DatasetMeta.from_json(dataset.meta.to_json())
        self.shape_ = (dataset.n_channels, dataset.length)
        im = cfg.imaging
        self.imaging_ = GramianAngularField(
            method="summation", scaling=im.scaling, gamma=im.gamma, image_size=im.image_size or None,
            inversion=im.inversion,
        ).fit(dataset.series, labels=dataset.labels)
        self.zero_threshold_ = zero_thresholds(dataset.series)
        self.value_lexicon_ = ValueLexicon.fit(dataset.series, dataset.labels)
        if cfg.imaging.representation == "gasf":
            _check_image_memory(dataset.n_traces, dataset.n_channels, self.imaging_.size_)
        x_0 = torch.from_numpy(self._to_model_space(dataset.series).astype(np.float32)).to(self.device)
        index = {c: i for i, c in enumerate(self.classes_)}
        y = torch.tensor([index[lab] for lab in dataset.labels], dtype=torch.long, device=self.device)
        m = cfg.model
        self.model_ = UNet(
            in_channels=dataset.n_channels,
            num_classes=len(self.classes_),
            out_channels=dataset.n_channels * (2 if cfg.diffusion.learn_sigma else 1),
            dims=2 if cfg.imaging.representation == "gasf" else 1,
            base_channels=m.base_channels,
            channel_mult=m.channel_mult,
            num_res_blocks=m.num_res_blocks,
            attention_levels=m.attention_levels,
            dropout=m.dropout,
            patch_size=m.patch_size,
            symmetric_output=m.symmetric_output,
            output=m.output,
            gasf_head=m.gasf_head,
        ).to(self.device)
        if progress is None and self.progress:
            progress = _tqdm_train(cfg.train.steps)
        t0 = time.perf_counter()
        ema = train(
            self.model_, self.process, x_0, y,
            cfg=cfg.train, null_class=len(self.classes_), class_dropout=m.class_dropout,
            run_dir=run_dir, resume=resume, progress=progress, state_meta=state_meta,
        )
        self.fit_seconds_ = time.perf_counter() - t0
        self.model_ = ema
        log.debug("trained %d steps in %.1f s", cfg.train.steps, self.fit_seconds_)
        self.totals_calibration_ = None
        if cfg.imaging.calibrate_totals:  # under torchrun every process draws its share
            self.fit_totals_calibration(dataset)
        if run_dir is not None and is_main_process():
            self.save(run_dir)
        return self

    def fit_totals_calibration(self, dataset: TraceDataset) -> TrafficSynthesizer:
        """Fit the volume calibration (``totals_calibration_``) of a trained model to ``dataset``,
        its training set: ``fit`` does this after training when ``imaging.calibrate_totals`` is
        true; call it to calibrate a run saved by an earlier version (then ``save`` it again).

        Draws a reference set (per class: twice its training count, within ``CALIBRATION_DRAW``,
        seed ``CALIBRATION_SEED``) with the run's ``sample`` settings and maps each class's log
        volumes onto the training ones (:class:`netdiffus.postprocess.TotalsCalibration`). A class
        whose values the value snap holds (``imaging.snap_values`` and recurring values in one of
        its channels: packet sizes, protocol byte counts) is left as generated: its volume is a
        count of those constants, and scaling would move them.
        """
        self._check_fitted()
        require_dataset(dataset, "dataset")
        lexicon = self.value_lexicon_ if self.config.imaging.snap_values else None
        held = set() if lexicon is None else {c for c, chans in lexicon.values.items() if any(len(v) for v in chans)}
        counts = {c: int(np.clip(2 * k, *CALIBRATION_DRAW)) for c, k in self.class_counts_.items() if c not in held}
        labels = [c for c, k in counts.items() for _ in range(k)]
        reference = np.zeros((0, *self.shape_))
        if labels:
            # Under torchrun each process draws every world_size-th trace (trace k keeps its own
            # seed, so the set is the one a single process draws) and all of them gather the set.
            share = process_share(len(labels))
            part = self._generate([labels[k] for k in share], seed=CALIBRATION_SEED, sc=self.config.sample,
                                  desc="calibrate volumes", indices=list(share))
            reference = gather_shares(len(labels), share, part)
        cal = self.totals_calibration_ = TotalsCalibration.fit(dataset.series, dataset.labels, reference, labels)
        kept = f"{len(held)} class(es) held by the value snap left as generated" if held else ""
        if not labels:
            log.info("volume calibration: no class to calibrate%s", f" ({kept})" if kept else "")
        else:
            log.info("volume calibration from %d reference traces: 5-95 %% range of log volume x %s%s", len(labels),
                     ", ".join(f"{c} {cal.stretch(c):.2f}" for c in cal.classes), f"; {kept}" if kept else "")
        return self

    def _check_resumable(self, run_dir: Path, meta: dict[str, str]) -> None:
        """Refuse to continue a saved training state that another configuration or dataset wrote."""
        path = run_dir / TRAIN_STATE_FILE
        if not path.is_file():
            return
        step, saved = read_train_state_info(path)
        where = f"cannot resume {run_dir}:"
        steps = self.config.train.steps
        if step > steps:
            raise CheckpointError(f"{where} the checkpoint is at step {step}, beyond train.steps={steps}")
        if "config" in saved:  # older files lack it: their weights' shapes are checked as they load
            raw = json.loads(saved["config"])
            try:  # the saved values as this version reads them (defaults filled in, lists as tuples)
                there = _flat(NetDiffusConfig.from_dict(raw).to_dict())
            except ConfigError:
                there = _flat(raw)
            here = _flat(self.config.to_dict())
            preset = there.get("preset")
            hint = (f" (the run was trained with --preset {preset}: resume with the preset and --set options "
                    "it was trained with)" if preset and preset != here.get("preset") else "")
            for key in [*here, *(k for k in there if k not in here)]:
                if key.startswith(RESUME_MAY_CHANGE) or here.get(key) == there.get(key):
                    continue
                if key not in there:
                    raise CheckpointError(f"{where} {key} is {here[key]!r} here but absent from the checkpoint{hint}")
                if key not in here:
                    raise CheckpointError(f"{where} the checkpoint sets {key} to {there[key]!r}, unknown here{hint}")
                raise CheckpointError(f"{where} {key} is {here[key]!r} here but {there[key]!r} in the checkpoint{hint}")
        for key, what in (("shape", "the data shape [channels, length] is"), ("classes", "the classes are")):
            if key in saved and json.loads(saved[key]) != json.loads(meta[key]):
                raise CheckpointError(f"{where} {what} {json.loads(meta[key])} here but "
                                      f"{json.loads(saved[key])} in the checkpoint")
        if "traces" in saved and saved["traces"] != meta["traces"]:  # older files lack it
            here_n, there_n = json.loads(meta["traces"])["n"], json.loads(saved["traces"])["n"]
            raise CheckpointError(f"{where} the training traces are not the checkpoint's ({here_n} here, {there_n} "
                                  "there; resuming continues the same training on the same traces)")

    # -- sample --------------------------------------------------------------------------------
    def _resolve_labels(self, n: int, labels: LabelSpec) -> list[str]:
        if labels is None:
            # Apportion n by the training class balance (largest remainder), classes in order.
            total = sum(self.class_counts_.values())
            quotas = np.array([self.class_counts_[c] * n / total for c in self.classes_])
            k = np.floor(quotas).astype(int)
            for i in np.argsort(-(quotas - k), kind="stable")[: n - int(k.sum())]:
                k[i] += 1
            return [c for c, ki in zip(self.classes_, k, strict=True) for _ in range(ki)]
        if isinstance(labels, str):
            labels = [labels] * n
        elif isinstance(labels, Mapping):
            for c, k in labels.items():
                if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 0:
                    raise ConfigError(f"labels[{c!r}] must be a count >= 0 (got {k!r})")
            labels = [c for c, k in labels.items() for _ in range(int(k))]
        labels = [str(x) for x in labels]
        unknown = sorted(set(labels) - set(self.classes_))
        if unknown:
            raise ConfigError(f"label {unknown[0]!r} is not a trained class (classes: {', '.join(self.classes_)})")
        if len(labels) != n:
            raise ConfigError(f"labels must give one label per sample ({n}) (got {len(labels)})")
        return labels

    def sample(
        self,
        n: int,
        *,
        labels: LabelSpec = None,
        seed: int = 0,
        sampler: str | None = None,
        steps: int | None = None,
        eta: float | None = None,
        guidance_scale: float | None = None,
        batch_size: int | None = None,
        raw: bool = False,
    ) -> TraceDataset:
        """Draw ``n`` synthetic traces ``[n, C, T]`` in original units.

        Each trace is then scaled by the run's volume calibration (``imaging.calibrate_totals``,
        fitted with the run's ``sample`` settings), and its values are snapped to what traffic
        counters can hold, as ``imaging.snap_zeros`` and ``imaging.snap_values`` say
        (:mod:`netdiffus.postprocess`).

        Parameters
        ----------
        n : int
            Number of traces.
        labels : None, str, sequence of str or mapping label -> count
            None: the training class balance; a str: all of that class; a sequence: one label per
            trace; a mapping: counts per class (summing to ``n``).
        seed : int
            Trace k uses seed ``seed * 1_000_003 + k``: the same trace at any batch size. An integer
            in [0, 2**32 - 1].
        sampler, steps, eta, guidance_scale, batch_size
            Override the config's ``sample`` section (None: the config's value); checked by the
            same rules as the config.
        raw : bool
            True: the generator's output as inverted from its images, without the volume
            calibration or the snaps (whatever ``imaging`` says).

        Raises
        ------
        ConfigError
            ``n`` < 1, a bad ``seed`` (``seed must be an integer from 0 to 2**32 - 1 (got -1)``),
            an override the config would refuse (``sample.steps must be in [1, ...]``), an unknown
            label or a negative count of one.
        """
        self._check_fitted()
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
            raise ConfigError(f"n must be an integer >= 1 (got {n!r})")
        seed = check_seed(seed)
        given = {"sampler": sampler, "steps": steps, "eta": eta, "guidance_scale": guidance_scale,
                 "batch_size": batch_size}
        sc = dataclasses.replace(self.config.sample, **{k: v for k, v in given.items() if v is not None})
        dataclasses.replace(self.config, sample=sc).validate()
        labels_list = self._resolve_labels(n, labels)
        # under torchrun each process draws every world_size-th trace (its own seed) and all gather them
        share = process_share(n)
        part = self._generate([labels_list[k] for k in share], seed=seed, sc=sc, indices=list(share),
                              desc=f"sample ({sc.sampler}, {sc.steps} steps)")
        series = gather_shares(n, share, part)
        im = self.config.imaging
        if raw:
            im = dataclasses.replace(im, calibrate_totals=False, snap_zeros=False, snap_values=False)
        applied = []
        if im.calibrate_totals and self.totals_calibration_ is not None:
            series = self.totals_calibration_.apply(series, labels_list)
            applied.append("calibrate_totals")
        if im.snap_zeros:
            series = snap_zeros(series, self.zero_threshold_)
            applied.append("snap_zeros")
        lexicon = self.value_lexicon_
        if im.snap_values and lexicon is not None and any(len(v) for ch in lexicon.values.values() for v in ch):
            series = lexicon.apply(series, labels_list)
            applied.append("snap_values")  # listed only where some values recur: where it can move one
        series = series.astype(np.float32)
        meta = DatasetMeta.from_json(self.meta_.to_json())
        meta.extra = {**meta.extra, "synthetic": {"generator": f"netdiffus {__version__}", "seed": seed,
                                                    "sampler": sc.sampler, "steps": sc.steps,
                                                    "guidance_scale": sc.guidance_scale, "postprocess": applied}}
        return TraceDataset(
            series=series, labels=labels_list, ids=[f"syn-{seed}-{k:06d}" for k in range(n)],
            sources=["netdiffus"] * n, meta=meta,
        )

    def _generate(self, labels_list: list[str], *, seed: int, sc: SampleConfig, desc: str,
                  indices: list[int] | None = None) -> np.ndarray:
        """Run the sampler for one trace per label and invert the images: ``[n, C, T]`` float64 in
        original units, before any calibration or snap. Trace ``j`` is sample ``indices[j]`` of the
        seed (default ``j``): the same trace whatever else is drawn beside it."""
        n = len(labels_list)
        if n == 0:  # e.g. a process's share of a small draw under torchrun
            return np.zeros((0, *self.shape_))
        sampler, steps, eta, w, bs = sc.sampler, sc.steps, sc.eta, sc.guidance_scale, sc.batch_size
        # The valid-GASF head's x_0 is already a valid GASF: projecting it again changes nothing.
        project = (sc.project_x0 and self.config.imaging.representation == "gasf"
                   and self.config.model.output == "image")
        index = {c: i for i, c in enumerate(self.classes_)}
        y_all = torch.tensor([index[lab] for lab in labels_list], dtype=torch.long, device=self.device)
        seeds = [seed * 1_000_003 + k for k in (range(n) if indices is None else indices)]
        c, size = self.shape_[0], self.imaging_.size_
        shape = (c, size, size) if self.config.imaging.representation == "gasf" else (c, size)
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=n, desc=desc, unit="trace", dynamic_ncols=True)
        process = self.process
        out = []
        self.model_.eval()
        for lo in range(0, n, bs):
            hi = min(n, lo + bs)
            x_0 = run_sampler(
                self.model_, process, shape=shape, y=y_all[lo:hi], seeds=seeds[lo:hi],
                null_class=len(self.classes_), sampler=sampler, steps=steps, eta=eta, guidance_scale=w,
                x0_transform=self.imaging_.project_torch if project else None,
            )
            out.append(self._from_model_space(x_0, labels_list[lo:hi], seeds[lo:hi]))
            if bar is not None:
                bar.update(hi - lo)
        if bar is not None:
            bar.close()
        return np.concatenate(out).astype(np.float64)

    # -- persistence ---------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the fitted model to a run folder (config.json, model.safetensors, model.json)."""
        self._check_fitted()
        info = {
            "netdiffus_version": __version__,
            "unet": self.model_.config,
            "classes": self.classes_,
            "class_counts": self.class_counts_,
            "shape": list(self.shape_),
            "imaging": self.imaging_.to_json(),
            "dataset_meta": self.meta_.to_json(),
            "fit_seconds": round(getattr(self, "fit_seconds_", 0.0), 3),
            "zero_threshold": self.zero_threshold_.tolist(),
            "value_lexicon": None if self.value_lexicon_ is None else self.value_lexicon_.to_json(),
            "totals_calibration": (None if self.totals_calibration_ is None
                                   else self.totals_calibration_.to_json()),
        }
        return save_checkpoint(path, config=self.config.to_dict(), state_dict=self.model_.state_dict(), model_info=info)

    @classmethod
    def load(cls, path: str | Path, *, device: str | torch.device = "cpu", progress: bool = True) -> TrafficSynthesizer:
        """Load a run folder written by :meth:`save` (or by ``netdiffus fit``).

        Raises
        ------
        ConfigError
            ``device`` is not usable (see :func:`resolve_device`).
        CheckpointError
            ``path`` is not a complete, consistent run folder, or its config.json holds a value
            this version refuses (``runs/x/config.json: train.seed must be ... (got -1)``).
        """
        device = resolve_device(device)  # before reading: a bad option is not the checkpoint's fault
        config, state, info = load_checkpoint(path)
        try:
            config = NetDiffusConfig.from_dict(config)
        except ConfigError as exc:  # a value this version refuses: the run folder's fault
            raise CheckpointError(f"{Path(path) / CONFIG_FILE}: {exc}") from None
        try:
            synth = cls(config, device=device, progress=progress)
            synth.classes_ = list(info["classes"])
            synth.class_counts_ = {k: int(v) for k, v in info["class_counts"].items()}
            synth.shape_ = tuple(info["shape"])
            synth.imaging_ = GramianAngularField.from_json(info["imaging"])
            synth.meta_ = DatasetMeta.from_json(info["dataset_meta"])
            synth.fit_seconds_ = float(info.get("fit_seconds", 0.0))
            synth.zero_threshold_ = np.asarray(info["zero_threshold"], dtype=np.float64)
            lexicon = info.get("value_lexicon")  # absent from runs of earlier versions: no value snap
            synth.value_lexicon_ = None if lexicon is None else ValueLexicon.from_json(lexicon)
            calibration = info.get("totals_calibration")  # absent from earlier runs: no calibration
            synth.totals_calibration_ = None if calibration is None else TotalsCalibration.from_json(calibration)
            model = UNet(**info["unet"])
            model.load_state_dict(state)
        except (KeyError, TypeError, RuntimeError) as exc:
            raise CheckpointError(f"{path}: checkpoint is inconsistent ({str(exc).splitlines()[0]})") from None
        synth.model_ = model.to(synth.device).eval()
        return synth
