"""Sampling: the one loop that turns noise into ``x_0`` with a trained model, for every sampler.

At each of the respaced timesteps :func:`sample` asks the model for its output (with
classifier-free guidance), turns it into a predicted ``x_0`` (clipped to [-1, 1], then
``x0_transform``-ed, e.g. projected onto valid GASFs), and hands a
:class:`~netdiffus.diffusion.steps.StepState` to the chosen sampler's step function, which
returns the next ``x``. The samplers and their registry, :data:`SAMPLERS`, live in
:mod:`netdiffus.diffusion.steps`.

Every sampler draws its noise from one :class:`torch.Generator` per sample, seeded by that
sample's seed, so sample k is the same whatever the batch size. Classifier-free guidance mixes
the conditional and the unconditional (null-class) outputs: ``out = out_u + w (out_c - out_u)``.

Examples
--------
>>> import torch
>>> from netdiffus.diffusion.unet import UNet
>>> net = UNet(in_channels=1, num_classes=2, base_channels=8, channel_mult=(1, 2)).eval()
>>> x_0 = sample(net, GaussianDiffusion(timesteps=50), shape=(1, 4, 4), y=torch.tensor([0, 1]),
...              seeds=[7, 8], null_class=2, sampler="dpmpp2m", steps=5)
>>> x_0.shape
torch.Size([2, 1, 4, 4])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from netdiffus.config import SampleConfig
from netdiffus.diffusion.process import GaussianDiffusion
from netdiffus.diffusion.steps import SAMPLERS, SamplerName, StepState
from netdiffus.errors import ConfigError

__all__ = ["sample", "guided_x0", "initial_noise", "SamplerName", "SAMPLERS"]


class _PerSampleNoise:
    """One generator per sample: ``draw()`` returns ``[N, *shape]`` standard normal noise."""

    def __init__(self, seeds: Sequence[int], shape: tuple[int, ...], device: torch.device):
        self.gens = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]
        self.shape = shape
        self.device = device

    def draw(self) -> torch.Tensor:
        return torch.stack([torch.randn(self.shape, generator=g) for g in self.gens]).to(self.device)


def initial_noise(seeds: Sequence[int], shape: tuple[int, ...], device: torch.device) -> torch.Tensor:
    """The ``x_T`` ``[N, *shape]`` that :func:`sample` starts from: each sample's first standard
    normal draw from its own generator (a distillation pairs it with the teacher's ``x_0``)."""
    return _PerSampleNoise(seeds, shape, device).draw()


def guided_x0(model: Callable[..., torch.Tensor], process: GaussianDiffusion, x_t: torch.Tensor,
              t: int | torch.Tensor, y: torch.Tensor, *, null_class: int, guidance_scale: float, clip_x0: bool = True,
              x0_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
              ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The predicted ``x_0`` ``[N, *shape]`` at timestep ``t`` (one for all, or ``[N]``) as every
    sampler step sees it (guided, clipped, transformed), and ``v_sigma`` (None unless the
    variance is learned)."""
    tt = _timesteps(t, x_t.shape[0], y.device)
    out, v_sigma = _guided(model, process, x_t, tt, y, null_class, guidance_scale)
    x_0 = process.predict_x0(x_t, tt, out)
    if clip_x0:
        x_0 = x_0.clamp(-1.0, 1.0)
    if x0_transform is not None:
        x_0 = x0_transform(x_0)
    return x_0, v_sigma


def _timesteps(t: int | torch.Tensor, n: int, device: torch.device) -> torch.Tensor:
    """Timesteps ``[n]`` (long) of one timestep for all or of one per sample."""
    if isinstance(t, torch.Tensor):
        return t.to(device=device, dtype=torch.long).expand(n)
    return torch.full((n,), int(t), dtype=torch.long, device=device)


def _guided(model, process: GaussianDiffusion, x_t, tt: torch.Tensor, y, null_class: int, w: float):
    """Guided mean output and ``v_sigma`` (None unless the variance is learned), at timesteps ``tt`` ``[N]``."""
    if w == 1.0:
        return process.split_output(model(x_t, tt, y=y).float())
    y_null = torch.full_like(y, null_class)
    out = model(torch.cat([x_t, x_t]), torch.cat([tt, tt]), y=torch.cat([y, y_null])).float()
    (mean_c, v_sigma), (mean_u, _) = (process.split_output(o) for o in out.chunk(2))
    return mean_u + w * (mean_c - mean_u), v_sigma


@torch.no_grad()
def sample(
    model: Callable[..., torch.Tensor],
    process: GaussianDiffusion,
    *,
    shape: tuple[int, ...],
    y: torch.Tensor,
    seeds: Sequence[int],
    null_class: int,
    sampler: SamplerName = SampleConfig.sampler,
    steps: int = SampleConfig.steps,
    eta: float = SampleConfig.eta,
    guidance_scale: float = SampleConfig.guidance_scale,
    clip_x0: bool = True,
    x0_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Draw ``x_0`` ``[N, *shape]`` for class indices ``y`` ``[N]`` (defaults: ``SampleConfig``'s).

    Parameters
    ----------
    shape : tuple
        Shape of one sample, e.g. ``(C, T, T)``.
    seeds : sequence of int, length N
        One seed per sample.
    sampler : {"ddim", "ddpm", "dpmpp2m", "distilled", "consistency"}
        A name in :data:`SAMPLERS`.
    clip_x0 : bool
        Clamp each predicted ``x_0`` to [-1, 1] (the data range).
    x0_transform : callable, optional
        Applied to each predicted ``x_0`` (after clipping), e.g. a projection onto valid GASFs.
    progress : callable(done, total), optional
    """
    if sampler not in SAMPLERS:
        raise ConfigError(f"sampler must be one of {', '.join(SAMPLERS)} (got {sampler!r})")
    if len(seeds) != y.shape[0]:
        raise ConfigError(f"seeds must have one entry per sample ({y.shape[0]}) (got {len(seeds)})")
    step = SAMPLERS[sampler]
    noise = _PerSampleNoise(seeds, tuple(shape), y.device)
    ts = process.timestep_spacing(steps, trailing=step.trailing)
    ab = process.alpha_bar_np
    x = noise.draw()
    memory: dict[str, Any] = {}
    for i, t in enumerate(ts):
        t = int(t)
        x_0, v_sigma = guided_x0(model, process, x, t, y, null_class=null_class, guidance_scale=guidance_scale,
                                 clip_x0=clip_x0, x0_transform=x0_transform)
        ab_prev = float(ab[ts[i + 1]]) if i + 1 < len(ts) else 1.0
        x = step(StepState(x=x, x_0=x_0, v_sigma=v_sigma, ab_t=float(ab[t]), ab_prev=ab_prev, i=i, n=len(ts),
                           eta=eta, process=process, noise=noise.draw, memory=memory))
        if progress is not None:
            progress(i + 1, len(ts))
    return x
