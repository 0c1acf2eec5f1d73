"""Distillation: a trained run (the teacher) made into a student that samples in 1 to a few steps.

The student is the teacher's network, fine-tuned so that one model call per step does what many
teacher steps did. It keeps the teacher's representation, classes and post-processing; its run
folder is like any other, with ``sample.sampler`` (a few-step sampler of
:data:`netdiffus.diffusion.steps.SAMPLERS`) and ``sample.steps`` set to what it was distilled
for, so ``sample`` draws from it unchanged (trace k still depends only on the seed, k and its
label). Two methods, each a function of :data:`METHODS`:

- ``progressive`` (Salimans & Ho, 2022): on the trailing grid, a student step from ``t`` to the
  next point learns to land where two deterministic DDIM steps of the teacher land (through the
  grid's midpoint), from real training images noised to ``t``; the student then becomes the
  teacher and the steps halve again, from ``teacher_steps`` down to ``steps``. Sampled with
  ``distilled`` (DDIM on the same grid).
- ``reflow`` (rectified flow, Liu et al., 2023, in the variance-preserving form DDIM follows):
  the teacher's deterministic sampler (DDIM, ``teacher_steps`` steps) couples ``pairs`` noise
  draws ``z`` with its samples ``x_0``; the student learns ``x_0`` from
  ``sqrt(ab_t) x_0 + sqrt(1 - ab_t) z`` at the points of its grid, the path along which DDIM
  moves when its prediction does not change: a straight path needs one step. Sampled with
  ``distilled``; with one step this is the direct distillation of Luhman & Luhman (2021).

Every iteration draws its batch from a generator seeded by ``(seed, iteration)``: a distillation
is repeatable. The pairs' noise comes from seeds above any ``sample`` seed, so no trace a user
draws starts from a noise the student was fitted on.

Examples
--------
>>> import torch
>>> from netdiffus.diffusion.process import GaussianDiffusion
>>> from netdiffus.diffusion.unet import UNet
>>> net = UNet(in_channels=1, num_classes=2, base_channels=8, channel_mult=(1, 2), output="gasf").eval()
>>> x_0, y = torch.rand(6, 1, 4, 4) * 2 - 1, torch.tensor([0, 1] * 3)
>>> cfg = DistillConfig(method="progressive", steps=1, teacher_steps=4, iterations=2, batch_size=4)
>>> student = distill_model(net, GaussianDiffusion(timesteps=50, prediction="x0"), x_0, y, cfg=cfg,
...                         null_class=2)
>>> cfg.sampler, type(student).__name__
('distilled', 'UNet')
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import torch
from torch import nn

from netdiffus.config import DistillConfig, DistillMethod, SampleConfig
from netdiffus.diffusion.process import MIN_SNR_GAMMA, GaussianDiffusion
from netdiffus.diffusion.samplers import guided_x0, initial_noise, sample
from netdiffus.diffusion.steps import SamplerName
from netdiffus.errors import CheckpointError, ConfigError, DatasetError
from netdiffus.files import write_json
from netdiffus.io.dataset import TraceDataset, require_dataset
from netdiffus.privacy import refuse_private
from netdiffus.training import TrainProgress

if TYPE_CHECKING:
    from netdiffus.synthesizer import TrafficSynthesizer

__all__ = ["DistillConfig", "DistillMethod", "METHODS", "distill", "distill_model", "as_student", "one_step_x0",
           "write_record", "RECORD_FILE"]

log = logging.getLogger(__name__)

#: What a distilled run folder records of its distillation (settings, teacher, wall time).
RECORD_FILE = "distill.json"

#: The pairs' noise seeds start here: above every ``sample`` seed (``seed * 1_000_003 + k`` with
#: ``seed < 2**32``), so the student meets no pair's noise when a user samples it.
PAIR_SEED_BASE = 2**62

Model = TypeVar("Model", bound=nn.Module)


@dataclass
class _Teacher:
    """The teacher's ``x_0`` as its sampler sees it (guided, clipped, transformed), no gradient."""

    model: nn.Module
    process: GaussianDiffusion
    null_class: int
    guidance_scale: float
    x0_transform: Callable[[torch.Tensor], torch.Tensor] | None

    @torch.no_grad()
    def x0(self, x_t: torch.Tensor, t: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return guided_x0(self.model, self.process, x_t, t, y, null_class=self.null_class,
                         guidance_scale=self.guidance_scale, x0_transform=self.x0_transform)[0]


def _bcast(v: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """Per-example values ``[B]`` -> ``[B, 1, ..., 1]`` in ``like``'s dtype and device."""
    return torch.as_tensor(v, dtype=like.dtype, device=like.device).reshape(-1, *([1] * (like.ndim - 1)))


def _ddim(x_t: torch.Tensor, x_0: torch.Tensor, ab_t: torch.Tensor, ab_next: torch.Tensor) -> torch.Tensor:
    """One deterministic DDIM step from level ``ab_t`` to ``ab_next`` (broadcast ``[B, 1, ...]``)."""
    eps = (x_t - ab_t.sqrt() * x_0) / (1 - ab_t).sqrt()
    return ab_next.sqrt() * x_0 + (1 - ab_next).sqrt() * eps


def one_step_x0(z_t: torch.Tensor, z_n: torch.Tensor, ab_t: torch.Tensor, ab_n: torch.Tensor) -> torch.Tensor:
    """The ``x_0`` from which one deterministic DDIM step from ``z_t`` (level ``ab_t``) lands on
    ``z_n`` (level ``ab_n``): progressive distillation's target (Salimans & Ho, Algorithm 2),
    ``(z_n - r z_t) / (sqrt(ab_n) - r sqrt(ab_t))`` with ``r = sqrt(1 - ab_n) / sqrt(1 - ab_t)``.

    >>> z_t, z_n, ab_t, ab_n = torch.tensor(0.5), torch.tensor(0.8), torch.tensor(0.36), torch.tensor(0.64)
    >>> x_0 = one_step_x0(z_t, z_n, ab_t, ab_n)    # r = 0.6 / 0.8 = 0.75: (0.8 - 0.375) / (0.8 - 0.45)
    >>> round(float(x_0), 6), round(float(_ddim(z_t, x_0, ab_t, ab_n)), 6)
    (1.214286, 0.8)
    """
    r = (1 - ab_n).sqrt() / (1 - ab_t).sqrt()
    return (z_n - r * z_t) / (ab_n.sqrt() - r * ab_t.sqrt())


def _weight(ab: torch.Tensor) -> torch.Tensor:
    """Loss weight of an ``x_0`` error at level ``ab``: the SNR ``ab / (1 - ab)`` truncated to
    [1, ``MIN_SNR_GAMMA``] (Salimans & Ho's floor of 1; the teacher's min-SNR cap)."""
    return (ab / (1 - ab)).clamp(1.0, MIN_SNR_GAMMA)


def _student_x0(student: nn.Module, process: GaussianDiffusion, x_t: torch.Tensor, t: torch.Tensor,
                y: torch.Tensor) -> torch.Tensor:
    out, _ = process.split_output(student(x_t, t, y=y).float())
    return process.predict_x0(x_t, t, out)


class _Optimizer:
    """AdamW with a cosine decay to 10 % over ``total`` steps, gradient clipping at 1, and the EMA
    (with warm-up) of the weights that the caller keeps."""

    def __init__(self, student: nn.Module, cfg: DistillConfig, total: int) -> None:
        student.train().requires_grad_(True)  # a copy of a teacher's EMA, which holds no gradient
        self.student, self.cfg, self.total = student, cfg, total
        self.opt = torch.optim.AdamW(student.parameters(), lr=cfg.lr, weight_decay=0.0)
        self.ema = copy.deepcopy(student).eval().requires_grad_(False)
        self.k = 0

    def step(self, loss: torch.Tensor) -> None:
        for group in self.opt.param_groups:
            group["lr"] = self.cfg.lr * (0.1 + 0.45 * (1 + math.cos(math.pi * self.k / max(1, self.total))))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(self.student.parameters(), 1.0)
        self.opt.step()
        decay = min(self.cfg.ema_decay, (1 + self.k) / (10 + self.k))
        with torch.no_grad():
            for pe, pm in zip(self.ema.parameters(), self.student.parameters(), strict=True):
                pe.lerp_(pm, 1 - decay)
        self.k += 1


def _generator(cfg: DistillConfig, iteration: int) -> torch.Generator:
    return torch.Generator().manual_seed(cfg.seed * 1_000_003 + iteration)


def _halving(teacher: _Teacher, student: nn.Module, x_0: torch.Tensor, y: torch.Tensor, *, n: int,
             cfg: DistillConfig, first: int, report: Callable[[int, float], None]) -> nn.Module:
    """One round of progressive distillation: the ``2 n``-step teacher into an ``n``-step student
    (trained in place); returns its EMA. Iterations are numbered from ``first``."""
    process = teacher.process
    ab_all = process.alpha_bar_np
    grid = process.timestep_spacing(n, trailing=True)
    fine = process.timestep_spacing(2 * n, trailing=True)
    ab_s, ab_f = np.append(ab_all[grid], 1.0), np.append(ab_all[fine], 1.0)  # clean data after the last point
    opt = _Optimizer(student, cfg, cfg.iterations)
    for k in range(cfg.iterations):
        g = _generator(cfg, first + k)
        idx = torch.randint(0, x_0.shape[0], (cfg.batch_size,), generator=g)
        i = torch.randint(0, len(grid), (cfg.batch_size,), generator=g).numpy()
        eps = torch.randn((cfg.batch_size, *x_0.shape[1:]), generator=g).to(x_0.device)
        x, y_b = x_0[idx.to(x_0.device)], y[idx.to(y.device)]
        a_t, a_m, a_n = _bcast(ab_s[i], x), _bcast(ab_f[2 * i + 1], x), _bcast(ab_s[i + 1], x)
        t = torch.as_tensor(grid[i], device=x.device)
        t_m = torch.as_tensor(np.append(fine, 0)[2 * i + 1], device=x.device)
        z_t = a_t.sqrt() * x + (1 - a_t).sqrt() * eps
        # two teacher steps, t -> midpoint -> next point (the data after the last point)
        z_m = _ddim(z_t, teacher.x0(z_t, t, y_b), a_t, a_m)
        z_n = _ddim(z_m, teacher.x0(z_m, t_m, y_b), a_m, a_n)
        err = (_student_x0(student, process, z_t, t, y_b) - one_step_x0(z_t, z_n, a_t, a_n)) ** 2
        loss = (_weight(a_t) * err).mean()
        opt.step(loss)
        report(first + k, float(loss.detach()))
    return opt.ema


def _progressive(teacher: _Teacher, x_0: torch.Tensor, y: torch.Tensor, *, cfg: DistillConfig,
                 report: Callable[[int, float], None], on_student: Callable[[int, nn.Module], None] | None,
                 ) -> nn.Module:
    """Halve the steps from ``cfg.teacher_steps`` to ``cfg.steps``; the last student (its EMA)."""
    student: nn.Module = copy.deepcopy(teacher.model)
    n, first = cfg.teacher_steps // 2, 0
    while n >= cfg.steps:
        ema = _halving(teacher, student, x_0, y, n=n, cfg=cfg, first=first, report=report)
        log.info("progressive distillation: %d-step student after %d iterations", n, first + cfg.iterations)
        if on_student is not None:
            on_student(n, ema)
        teacher = dataclasses.replace(teacher, model=ema, guidance_scale=1.0)  # guidance is in the student
        student, n, first = copy.deepcopy(ema), n // 2, first + cfg.iterations
    return teacher.model  # the last student


def _reflow(teacher: _Teacher, x_0: torch.Tensor, y: torch.Tensor, *, cfg: DistillConfig,
            report: Callable[[int, float], None], on_student: Callable[[int, nn.Module], None] | None,
            ) -> nn.Module:
    """Draw the pairs with the teacher, then fit the student on the paths between them."""
    process = teacher.process
    g = _generator(cfg, 0)
    y_p = y[torch.randint(0, y.shape[0], (cfg.pairs,), generator=g).to(y.device)]
    seeds = [PAIR_SEED_BASE + cfg.seed * 1_000_003 + j for j in range(cfg.pairs)]
    shape = tuple(x_0.shape[1:])
    z, x_p = [], []
    for lo in range(0, cfg.pairs, 256):
        s, yb = seeds[lo:lo + 256], y_p[lo:lo + 256]
        z.append(initial_noise(s, shape, x_0.device))
        x_p.append(sample(teacher.model, process, shape=shape, y=yb, seeds=s, null_class=teacher.null_class,
                          sampler="ddim", steps=cfg.teacher_steps, eta=0.0, guidance_scale=teacher.guidance_scale,
                          x0_transform=teacher.x0_transform))
    zs, xs = torch.cat(z), torch.cat(x_p)
    log.info("reflow: %d pairs drawn with DDIM-%d", cfg.pairs, cfg.teacher_steps)
    grid = process.timestep_spacing(cfg.steps, trailing=True)
    student: nn.Module = copy.deepcopy(teacher.model)
    opt = _Optimizer(student, cfg, cfg.iterations)
    for k in range(cfg.iterations):
        g = _generator(cfg, 1 + k)
        idx = torch.randint(0, cfg.pairs, (cfg.batch_size,), generator=g).to(xs.device)
        i = torch.randint(0, len(grid), (cfg.batch_size,), generator=g).numpy()
        x, zb, yb = xs[idx], zs[idx], y_p[idx]
        a_t = _bcast(process.alpha_bar_np[grid[i]], x)
        t = torch.as_tensor(grid[i], device=x.device)
        x_t = a_t.sqrt() * x + (1 - a_t).sqrt() * zb
        loss = (_weight(a_t) * (_student_x0(student, process, x_t, t, yb) - x) ** 2).mean()
        opt.step(loss)
        report(k, float(loss.detach()))
    if on_student is not None:
        on_student(cfg.steps, opt.ema)
    return opt.ema


#: The distillation methods, by the name ``DistillConfig.method`` takes.
METHODS: dict[str, Callable[..., nn.Module]] = {"progressive": _progressive, "reflow": _reflow}


def distill_model(teacher: Model, process: GaussianDiffusion, x_0: torch.Tensor, y: torch.Tensor, *,
                  cfg: DistillConfig, null_class: int, guidance_scale: float = SampleConfig.guidance_scale,
                  x0_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                  progress: Callable[[TrainProgress], None] | None = None,
                  on_student: Callable[[int, nn.Module], None] | None = None) -> Model:
    """The student of ``teacher``: a copy of it (the teacher is not changed) distilled by
    ``cfg.method`` for ``cfg.steps`` steps of ``cfg.sampler``.

    Parameters
    ----------
    x_0, y : Tensor ``[N, *shape]`` in [-1, 1], Tensor ``[N]``
        The training images and their class indices (progressive noises them; reflow draws its
        pairs' classes from ``y``).
    guidance_scale, x0_transform
        How the teacher samples (its ``sample.guidance_scale`` and ``x_0`` hook); the student
        learns the guided teacher and is sampled with guidance 1.
    progress : callable(TrainProgress), optional
        Called after every iteration.
    on_student : callable(steps, model), optional
        Called with each student made (progressive: every halving), e.g. to keep them.
    """
    cfg.validate()
    total, t_last = cfg.total_iterations, time.perf_counter()

    def report(k: int, loss: float) -> None:
        nonlocal t_last
        if not math.isfinite(loss):
            raise ConfigError(f"distillation diverged at iteration {k} (loss {loss}); lower distill.lr "
                              f"(got {cfg.lr})")
        now = time.perf_counter()
        if progress is not None:
            progress(TrainProgress(k + 1, total, loss, cfg.lr, cfg.batch_size / max(now - t_last, 1e-9)))
        t_last = now

    was_training = teacher.training
    teacher.eval()
    try:
        student = METHODS[cfg.method](_Teacher(teacher, process, null_class, guidance_scale, x0_transform), x_0, y,
                                      cfg=cfg, report=report, on_student=on_student)
    finally:
        teacher.train(was_training)
    return student.eval().requires_grad_(False)  # type: ignore[return-value]  # a copy of the teacher


def _check_data(teacher: TrafficSynthesizer, dataset: TraceDataset) -> None:
    if list(dataset.classes) != list(teacher.classes_) or (dataset.n_channels, dataset.length) != teacher.shape_:
        raise DatasetError(f"the dataset must be the teacher's training set: classes {teacher.classes_} and traces "
                           f"of {teacher.shape_[0]} x {teacher.shape_[1]} (got classes {dataset.classes} and "
                           f"{dataset.n_channels} x {dataset.length})")


def distill(teacher: TrafficSynthesizer, dataset: TraceDataset, *, cfg: DistillConfig,
            progress: Callable[[TrainProgress], None] | None = None,
            on_student: Callable[[int, nn.Module], None] | None = None) -> TrafficSynthesizer:
    """A fitted synthesizer whose model is ``teacher``'s student (``teacher`` is not changed).

    It keeps the teacher's configuration, representation, classes and post-processing, with
    ``sample.sampler`` / ``sample.steps`` set to the student's (guidance 1: the teacher's guidance
    is distilled into it); the volume calibration, when the configuration has one, is fitted
    again on the student's own draws. ``save`` writes it as a run folder like any other.

    Raises
    ------
    DatasetError
        ``dataset`` is not of the teacher's classes and trace shape.
    ConfigError
        A setting of ``cfg`` out of range, the distillation diverged, or the teacher is private
        (``train.dp_epsilon > 0``): distillation trains on ``dataset``, outside its budget, and the
        student would carry a guarantee it does not have.
    """
    if not hasattr(teacher, "model_"):
        raise CheckpointError("the teacher is not fitted: call fit() or TrafficSynthesizer.load()")
    refuse_private(getattr(teacher, "privacy_", None), "distillation")
    require_dataset(dataset, "dataset")
    _check_data(teacher, dataset)
    cfg.validate()
    rep, device = teacher.representation_, teacher.device
    x_0 = torch.from_numpy(rep.encode(dataset.series).astype(np.float32)).to(device)
    index = {c: i for i, c in enumerate(teacher.classes_)}
    y = torch.tensor([index[lab] for lab in dataset.labels], dtype=torch.long, device=device)
    sc, process = teacher.config.sample, teacher.process
    if not isinstance(process, GaussianDiffusion):
        raise ConfigError(f"diffusion.process={teacher.config.diffusion.process!r}: distillation needs a teacher "
                          "trained by Gaussian diffusion")
    model = distill_model(teacher.model_, process, x_0, y, cfg=cfg, null_class=len(teacher.classes_),
                          guidance_scale=sc.guidance_scale, x0_transform=rep.x0_hook(sc, teacher.model_),
                          progress=progress, on_student=on_student)
    return as_student(teacher, model, dataset, sampler=cfg.sampler, steps=cfg.steps)


def as_student(teacher: TrafficSynthesizer, model: nn.Module, dataset: TraceDataset, *, sampler: SamplerName,
               steps: int) -> TrafficSynthesizer:
    """``teacher`` with ``model`` in place of its network, sampled with ``sampler`` in ``steps``
    steps at guidance 1, its volume calibration (when configured) fitted again on its own draws
    against ``dataset``, the training set; ``teacher`` is not changed."""
    student = copy.copy(teacher)
    student.config = copy.deepcopy(teacher.config)
    student.config.sample = dataclasses.replace(teacher.config.sample, sampler=sampler, steps=steps, eta=0.0,
                                                guidance_scale=1.0)
    student.postprocess_ = copy.deepcopy(teacher.postprocess_)
    student.model_ = model.to(teacher.device).eval()
    if student.config.postprocess.calibrate_totals:
        student.fit_totals_calibration(dataset)
    return student


def write_record(run_dir: str | Path, *, cfg: DistillConfig, teacher: str | Path, seconds: float) -> Path:
    """Write ``distill.json`` into the student's run folder: the settings, the teacher's run folder
    and the distillation's wall time (what ``sample`` needs is in config.json and model.json)."""
    path = Path(run_dir) / RECORD_FILE
    record: dict[str, Any] = {"distill": dataclasses.asdict(cfg), "sampler": cfg.sampler,
                              "teacher": str(teacher), "seconds": round(seconds, 3)}
    write_json(path, record, replace=True)
    return path
