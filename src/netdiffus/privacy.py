"""Differential privacy of a fit: DP-SGD from Opacus, and what a private run may read of its data.

With ``train.dp_epsilon > 0`` a fit is ``(epsilon, delta)``-differentially private for one
training trace (one session with its label; docs/privacy.md says what that does and does not
protect):

- the network trains with DP-SGD (Opacus): per-trace gradients clipped to
  ``train.dp_max_grad_norm``, Gaussian noise of ``train.dp_noise_multiplier`` times that norm,
  batches drawn by Poisson sampling at rate ``batch_size / N``; Opacus's accountant gives the noise
  that meets the budget in ``train.steps`` steps (:func:`resolve_private`) and the epsilon of the
  steps run (:class:`PrivateTraining`, :func:`privacy_record`). The batch draws and the noise come
  from secret generators seeded by the operating system, never saved: a known seed would let the
  noise be replayed, and the sampling's amplification assumes the batches are secret;
- everything else a run keeps is data-independent (:func:`fit_released`): the scaling's range
  comes from ``imaging.range_min`` / ``imaging.range_max``, the post-processing steps that read the
  training traces (zero snap, value lexicon, volume calibration) are off, the class balance kept for
  ``sample`` is uniform, the dataset's capture statistics are not kept, no header model is fitted
  (:func:`netdiffus.headers.fit_header_model`: export writes its default header fields); the "auto"
  settings are decided without the data. The class names, the trace shape and N are public.

The EMA of the weights is post-processing of the private steps, so it is covered. Opacus is an
optional dependency (``pip install 'netdiffus[dp]'``), imported only by a private fit.

Examples
--------
>>> from netdiffus.config import load_config
>>> cfg = load_config(preset="demo", overrides=["train.dp_epsilon=10", "imaging.range_max=1e6"])
>>> private = resolve_private(cfg, n_traces=400)
>>> private.train.dp_delta, private.postprocess.calibrate_totals, private.train.dp_noise_multiplier > 0
(0.00025, False, True)
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import secrets
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from netdiffus.config import NetDiffusConfig, TrainConfig
from netdiffus.diffusion.networks import Process
from netdiffus.errors import ConfigError
from netdiffus.io.dataset import LENGTHS_KEPT, DatasetMeta, TraceDataset
from netdiffus.postprocess import Postprocessor, ValueRange, ZeroSnap
from netdiffus.representation import Representation

__all__ = ["dp_enabled", "resolve_private", "refuse_private", "PrivacyRecord", "privacy_record", "fit_released",
           "PrivateTraining", "DELTA_FRACTION"]

log = logging.getLogger(__name__)

#: ``train.dp_delta = 0`` resolves to ``1 / (DELTA_FRACTION * N)``: well below the ``1 / N`` at
#: which releasing one trace in the clear would meet the guarantee.
DELTA_FRACTION = 10
#: Above this noise multiplier a budget is refused as one it cannot meet: the noise would drown
#: any gradient (at 1e3 an expected batch of 64 averages to noise of std 15 clipping norms).
MAX_NOISE_MULTIPLIER = 1e3


def dp_enabled(train: TrainConfig) -> bool:
    """Whether ``train`` asks for a private fit (``dp_epsilon > 0``)."""
    return train.dp_epsilon > 0


def _opacus() -> Any:
    try:
        import opacus
    except ImportError:
        raise ConfigError("train.dp_epsilon > 0 needs Opacus (pip install 'netdiffus[dp]')") from None
    return opacus


def _refusals(cfg: NetDiffusConfig) -> list[tuple[str, object, str]]:
    """The settings a private fit cannot keep: ``(option, value, reason)``."""
    t, im = cfg.train, cfg.imaging
    return [(name, value, why) for name, value, bad, why in [
        ("imaging.representation", im.representation, im.representation == "tokens",
         "its vocabulary is fitted on the training values; use gasf or series"),
        ("imaging.scaling", im.scaling, im.scaling.startswith("per-series"),
         "its per-trace scale model is fitted on the training traces; use global-log or global-linear"),
        ("imaging.range_max", im.range_max, im.range_max == 0,
         "the scaling's range must be given, not fitted (e.g. --set imaging.range_max=1e7, in dataset units)"),
        ("train.novelty_every", t.novelty_every, t.novelty_every > 0, "the novelty check reads the training traces"),
        ("train.compile", t.compile, t.compile, "per-trace gradients are computed by hooks that compile drops"),
        ("train.precision", t.precision, t.precision != "fp32", "per-trace gradients are checked in fp32 only"),
    ] if bad]


def resolve_private(cfg: NetDiffusConfig, *, n_traces: int) -> NetDiffusConfig:
    """``cfg`` (``train.dp_epsilon > 0``) resolved for a private fit on ``n_traces`` traces,
    without reading them: "auto" settings fixed (scaling from the sign of ``imaging.range_min``,
    the GASF head "patch"), the post-processing that reads the data and the training checkpoints
    switched off, ``dp_delta`` 0 set to ``1 / (10 N)`` and ``dp_noise_multiplier`` to the noise
    that meets the budget in ``train.steps`` steps (a new object; ``cfg`` is left alone).

    Raises
    ------
    ConfigError
        A setting a private fit cannot keep (``train.novelty_every 10 is not allowed with
        train.dp_epsilon > 0: ...``), a ``dp_delta`` of at least ``1 / N``, a batch larger than N, or
        a budget no noise meets (``train.dp_epsilon 0.001 cannot be met ...``).
    """
    bad = _refusals(cfg)
    if bad:
        name, value, why = bad[0]
        raise ConfigError(f"{name} {value!r} is not allowed with train.dp_epsilon > 0: {why}")
    out = NetDiffusConfig.from_dict(cfg.to_dict())
    im, t, post = out.imaging, out.train, out.postprocess
    if im.scaling == "auto":
        im.scaling = "global-linear" if im.range_min < 0 else "global-log"
    if out.model.gasf_head == "auto":
        out.model.gasf_head = "patch"
    # possible_values stays: under DP its range is the one the units imply (fit_released), read from no trace
    switched = [k for k in ("calibrate_totals", "snap_zeros", "snap_values") if getattr(post, k)]
    for key in switched:
        setattr(post, key, False)
    if t.checkpoint_every:
        switched.append("train.checkpoint_every")
        t.checkpoint_every = 0  # a resume would need the secret generators' state
    if switched:
        log.info("private fit: %s off (they read the training traces or keep secrets)", ", ".join(switched))
    delta_max = 1.0 / n_traces
    if t.dp_delta == 0:
        t.dp_delta = delta_max / DELTA_FRACTION
    elif t.dp_delta >= delta_max:
        raise ConfigError(f"train.dp_delta must be below 1 / N = {delta_max:.3g} for N = {n_traces} training traces "
                          f"(got {t.dp_delta})")
    t.dp_noise_multiplier = _noise_for_budget(t, n_traces)
    return out


def _sample_rate(t: TrainConfig, n_traces: int) -> float:
    if t.batch_size > n_traces:
        raise ConfigError(f"train.batch_size must be at most N = {n_traces} training traces under train.dp_epsilon "
                          f"> 0 (Poisson sampling at rate batch_size / N; got {t.batch_size})")
    return t.batch_size / n_traces


def _noise_for_budget(t: TrainConfig, n_traces: int) -> float:
    """The noise multiplier that meets ``(dp_epsilon, dp_delta)`` in ``steps`` steps (Opacus)."""
    _opacus()
    from opacus.accountants.utils import get_noise_multiplier

    q = _sample_rate(t, n_traces)
    sigma = float("inf")
    most = dataclasses.replace(t, dp_noise_multiplier=MAX_NOISE_MULTIPLIER)
    if spent_epsilon(most, n_traces, t.steps) <= t.dp_epsilon:  # else no noise we allow meets it
        with warnings.catch_warnings():  # "optimal order is the largest alpha": a looser bound, still a bound
            warnings.simplefilter("ignore")
            sigma = get_noise_multiplier(target_epsilon=t.dp_epsilon, target_delta=t.dp_delta, sample_rate=q,
                                         steps=t.steps, accountant=t.dp_accountant, epsilon_tolerance=0.01)
    if sigma > MAX_NOISE_MULTIPLIER:
        raise ConfigError(f"train.dp_epsilon {t.dp_epsilon} cannot be met in train.steps {t.steps} at train."
                          f"batch_size {t.batch_size} of N = {n_traces} (the noise would exceed "
                          f"{MAX_NOISE_MULTIPLIER:g} times the clipping norm); raise train.dp_epsilon or lower "
                          "train.steps")
    return float(sigma)


def spent_epsilon(t: TrainConfig, n_traces: int, steps: int) -> float:
    """The accountant's epsilon after ``steps`` DP-SGD steps of ``t`` (resolved) on ``n_traces``."""
    _opacus()
    from opacus.accountants import create_accountant

    accountant = create_accountant(mechanism=t.dp_accountant)
    accountant.history = [(t.dp_noise_multiplier, _sample_rate(t, n_traces), steps)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(accountant.get_epsilon(delta=t.dp_delta))


@dataclass(frozen=True)
class PrivacyRecord:
    """The guarantee of a private run, as model.json, ``netdiffus info`` and the report show it.

    ``epsilon`` is the accountant's for the ``steps`` run (at most ``target_epsilon``), for one
    trace (``unit``) at ``delta``; ``sample_rate`` is ``batch_size / N``.
    """

    epsilon: float
    target_epsilon: float
    delta: float
    max_grad_norm: float
    noise_multiplier: float
    sample_rate: float
    steps: int
    accountant: str
    unit: str = "trace"

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PrivacyRecord:
        """Read :meth:`to_json`'s output; ValueError naming a missing or bad field."""
        fields = {f.name: f.type for f in dataclasses.fields(cls)}
        missing = [k for k in fields if k not in data and k != "unit"]
        if missing:
            raise ValueError(f"privacy lacks {missing[0]!r}")
        rec = cls(**{k: data[k] for k in fields if k in data})
        numbers = (rec.epsilon, rec.target_epsilon, rec.delta, rec.max_grad_norm, rec.noise_multiplier,
                   rec.sample_rate)
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) and v >= 0
                   for v in numbers) or not isinstance(rec.steps, int) or rec.steps < 0:
            raise ValueError("privacy must hold finite numbers >= 0 and an integer step count")
        return rec

    def summary(self) -> str:
        """One line: ``(epsilon 9.87, delta 2.3e-04) per trace; DP-SGD, clip 1, noise 0.83, ...``."""
        return (f"(epsilon {self.epsilon:.3g}, delta {self.delta:.2g}) per {self.unit}; DP-SGD, clipping norm "
                f"{self.max_grad_norm:g}, noise multiplier {self.noise_multiplier:.3g}, sample rate "
                f"{self.sample_rate:.3g}, {self.steps} steps, {self.accountant} accountant")


def refuse_private(privacy: PrivacyRecord | None, what: str) -> None:
    """Raise :class:`ConfigError` if ``privacy`` is a guarantee: ``what`` (a step that reads the
    training traces again, e.g. ``"distillation"``) would spend outside the budget."""
    if privacy is not None:
        raise ConfigError(f"a private run (train.dp_epsilon > 0) refuses {what}: it reads the training traces "
                          "outside the privacy budget")


def privacy_record(cfg: NetDiffusConfig, *, n_traces: int, steps: int | None = None) -> PrivacyRecord | None:
    """The record of a fit of resolved ``cfg`` on ``n_traces`` after ``steps`` (default: all);
    None without DP."""
    t = cfg.train
    if not dp_enabled(t):
        return None
    steps = t.steps if steps is None else steps
    return PrivacyRecord(epsilon=spent_epsilon(t, n_traces, steps), target_epsilon=t.dp_epsilon,
                         delta=t.dp_delta, max_grad_norm=t.dp_max_grad_norm, noise_multiplier=t.dp_noise_multiplier,
                         sample_rate=_sample_rate(t, n_traces), steps=steps, accountant=t.dp_accountant)


def fit_released(cfg: NetDiffusConfig, dataset: TraceDataset, counts: dict[str, int]
                 ) -> tuple[Representation, Postprocessor, DatasetMeta, dict[str, int]]:
    """What a run keeps of its training ``dataset`` besides the weights: the fitted representation,
    the post-processing chain, the dataset's metadata and the class balance of ``sample``.

    Without DP, all four are fitted on (or copied from) the data. Under DP they are
    data-independent: the representation is fitted on the given range alone
    (``imaging.range_max``), the post-processing holds no fitted value but the value range the
    channels' declared units imply (:meth:`ValueRange.public`: counts are whole and, unless
    ``imaging.range_min`` is negative, not negative), the metadata keeps the units and channels but
    not its ``extra`` (capture statistics, histograms), and every class counts 1 (``sample`` draws
    the classes evenly).
    """
    rep = Representation.from_config(cfg.imaging).fit(dataset.series, dataset.labels)
    kept = {LENGTHS_KEPT: True} if dataset.lengths is not None else {}  # a property of the format, not of a trace
    if not dp_enabled(cfg.train):
        meta = DatasetMeta.from_json(dataset.meta.to_json())
        meta.extra.update(kept)
        return rep, Postprocessor.fit(dataset.series, dataset.labels), meta, counts
    m = dataset.meta
    meta = DatasetMeta(feature=m.feature, unit=m.unit, bin_width_s=m.bin_width_s, channels=list(m.channels),
                       extra=kept)
    units = m.unit.split(",") if m.unit.count(",") == len(m.channels) - 1 else [m.unit] * len(m.channels)
    public = ValueRange.public(units, signed=cfg.imaging.range_min < 0)
    post = Postprocessor(zero_snap=ZeroSnap(np.zeros(dataset.n_channels)),
                         value_range=public if public.whole.any() else None)
    return rep, post, meta, dict.fromkeys(counts, 1)


def _secret_generator(device: torch.device) -> torch.Generator:
    """A generator seeded from the operating system's entropy (never saved)."""
    return torch.Generator(device=device).manual_seed(secrets.randbits(63))


class PrivateTraining:
    """DP-SGD around a model and its optimizer: Opacus's per-trace gradients (``module``), its
    clipping and noise (``optimizer``), Poisson batches (:meth:`batch`) and its accountant
    (:meth:`epsilon`). :meth:`close` takes Opacus's hooks off the model.

    Raises
    ------
    ConfigError
        Opacus is missing, the model has a layer Opacus cannot give per-trace gradients for, or
        training runs in several processes.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, cfg: TrainConfig, *, n_traces: int,
                 world: int, device: torch.device) -> None:
        opacus = _opacus()
        from opacus.accountants import create_accountant
        from opacus.validators import ModuleValidator

        if world > 1:
            raise ConfigError(f"train.dp_epsilon > 0 trains in one process (got {world}; run without torchrun)")
        errors = ModuleValidator.validate(model, strict=False)
        if errors:
            raise ConfigError(f"model.network {type(model).__name__} has a layer DP-SGD cannot train: {errors[0]}")
        if cfg.dp_noise_multiplier <= 0:
            raise ConfigError("train.dp_noise_multiplier must be set by resolve_private before a private fit")
        self.cfg, self.n, self.q = cfg, n_traces, _sample_rate(cfg, n_traces)
        self._sampling = torch.Generator().manual_seed(secrets.randbits(63))
        with warnings.catch_warnings():  # Opacus warns that its noise is not from a secure generator
            warnings.simplefilter("ignore")
            self.module = opacus.GradSampleModule(model, loss_reduction="mean")
            self.optimizer = opacus.optimizers.DPOptimizer(
                optimizer, noise_multiplier=cfg.dp_noise_multiplier, max_grad_norm=cfg.dp_max_grad_norm,
                expected_batch_size=cfg.batch_size, loss_reduction="mean", generator=_secret_generator(device))
        self.accountant = create_accountant(mechanism=cfg.dp_accountant)
        self.optimizer.attach_step_hook(self.accountant.get_optimizer_hook_fn(sample_rate=self.q))

    def batch(self, step: int, x_0: torch.Tensor, y: torch.Tensor, *, cfg: TrainConfig, process: Process,
              null_class: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Step ``step``'s Poisson batch: each training trace in it with probability ``q`` (from
        the secret generator; the batch may be empty), with its class (some dropped to
        ``null_class``), timestep and noise."""
        idx = torch.nonzero(torch.rand(self.n, generator=self._sampling) < self.q).flatten()
        b, g = len(idx), self._sampling
        drop = torch.rand(b, generator=g) < cfg.class_dropout
        t = torch.randint(0, process.timesteps, (b,), generator=g)
        eps = torch.randn((b, *x_0.shape[1:]), generator=g)
        dev = x_0.device
        idx, drop, t, eps = idx.to(dev), drop.to(dev), t.to(dev), eps.to(dev)
        y_b = torch.where(drop, torch.full_like(y[idx], null_class), y[idx])
        return x_0[idx], y_b, t, eps

    def empty_batch(self) -> torch.Tensor:
        """Per-trace gradients of an empty batch (none), so that the next optimizer step adds the
        noise alone, as DP-SGD's analysis requires; returns the batch's loss, taken as 0."""
        for p in self.module.parameters():
            if p.requires_grad:
                p.grad_sample = p.new_zeros((0, *p.shape))  # Opacus reads it in the next step
        return torch.zeros(())

    def epsilon(self) -> float:
        """The accountant's epsilon for the steps taken so far (0 before the first)."""
        if not self.accountant.history:
            return 0.0
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(self.accountant.get_epsilon(delta=self.cfg.dp_delta))

    @staticmethod
    @contextlib.contextmanager
    def quiet() -> Iterator[None]:
        """A context in which the training steps run: without torch's warning that Opacus's
        backward hooks fire on module outputs (the inputs need no gradient)."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Full backward hook is firing")
            yield

    def close(self) -> None:
        """Take Opacus's hooks and per-trace gradients off the model."""
        self.module._close()
