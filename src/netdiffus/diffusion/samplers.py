"""Samplers: plain functions that turn noise into ``x_0`` with a trained model.

Every sampler draws its noise from one :class:`torch.Generator` per sample, seeded by that
sample's seed, so sample k is the same whatever the batch size. Classifier-free guidance mixes
the conditional and the unconditional (null-class) outputs: ``out = out_u + w (out_c - out_u)``.

- ``ddim``: DDIM (Song et al.) with ``eta`` (0 = deterministic).
- ``ddpm``: ancestral sampling, with the learned variance when the model has one, else with the
  posterior variance, i.e. DDIM with ``eta = 1`` (over all T steps when ``steps = T``, the
  original DDPM sampler).
- ``dpmpp2m``: DPM-Solver++(2M), a 2nd-order multistep solver (Lu et al.), deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch

from netdiffus.diffusion.process import GaussianDiffusion
from netdiffus.errors import ConfigError

__all__ = ["sample", "SamplerName", "SAMPLERS"]

SamplerName = Literal["ddim", "ddpm", "dpmpp2m"]
SAMPLERS: tuple[str, ...] = ("ddim", "ddpm", "dpmpp2m")


class _PerSampleNoise:
    """One generator per sample: ``draw()`` returns ``[N, *shape]`` standard normal noise."""

    def __init__(self, seeds: Sequence[int], shape: tuple[int, ...], device: torch.device):
        self.gens = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]
        self.shape = shape
        self.device = device

    def draw(self) -> torch.Tensor:
        return torch.stack([torch.randn(self.shape, generator=g) for g in self.gens]).to(self.device)


def _guided(model, process: GaussianDiffusion, x_t, t, y, null_class: int, w: float):
    """Guided mean output and ``v_sigma`` (None unless the variance is learned)."""
    tt = torch.full((x_t.shape[0],), int(t), dtype=torch.long, device=x_t.device)
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
    sampler: SamplerName = "ddim",
    steps: int = 50,
    eta: float = 0.0,
    guidance_scale: float = 1.0,
    clip_x0: bool = True,
    x0_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Draw ``x_0`` ``[N, *shape]`` for class indices ``y`` ``[N]``.

    Parameters
    ----------
    shape : tuple
        Shape of one sample, e.g. ``(C, T, T)``.
    seeds : sequence of int, length N
        One seed per sample.
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
    if sampler == "ddpm":
        eta = 1.0
    device = y.device
    noise = _PerSampleNoise(seeds, tuple(shape), device)
    ts = process.timestep_spacing(steps)
    ab = process.alpha_bar_np
    x = noise.draw()

    v_sigma = None

    def x0_of(x_t: torch.Tensor, t: int) -> torch.Tensor:
        nonlocal v_sigma
        out, v_sigma = _guided(model, process, x_t, t, y, null_class, guidance_scale)
        tt = torch.full((x_t.shape[0],), t, dtype=torch.long, device=device)
        x_0 = process.predict_x0(x_t, tt, out)
        if clip_x0:
            x_0 = x_0.clamp(-1.0, 1.0)
        if x0_transform is not None:
            x_0 = x0_transform(x_0)
        return x_0

    prev_x0 = None
    prev_h = None
    for i, t in enumerate(ts):
        t = int(t)
        ab_t = float(ab[t])
        ab_prev = float(ab[ts[i + 1]]) if i + 1 < len(ts) else 1.0
        x_0 = x0_of(x, t)
        if sampler == "ddpm" and v_sigma is not None:
            # Ancestral step with the learned variance (improved DDPM).
            mean, _ = process.posterior(x_0, x, ab_t, ab_prev)
            x = mean
            if i + 1 < len(ts):
                logvar = process.model_log_variance(v_sigma, ab_t, ab_prev)
                x = x + torch.exp(0.5 * logvar) * noise.draw()
        elif sampler in ("ddim", "ddpm"):
            # eps consistent with the (clipped) x_0, then the DDIM update (eq. 12 of Song et al.).
            eps = (x - ab_t**0.5 * x_0) / (1 - ab_t) ** 0.5
            sigma = eta * ((1 - ab_prev) / (1 - ab_t) * (1 - ab_t / ab_prev)) ** 0.5
            x = ab_prev**0.5 * x_0 + max(1 - ab_prev - sigma**2, 0.0) ** 0.5 * eps
            if sigma > 0:
                x = x + sigma * noise.draw()
        else:
            # DPM-Solver++(2M) in log-SNR time lambda = log(alpha / sigma).
            alpha_t, sigma_t = ab_t**0.5, (1 - ab_t) ** 0.5
            alpha_n, sigma_n = ab_prev**0.5, (1 - ab_prev) ** 0.5
            if sigma_n == 0.0:
                x = x_0  # the last step lands on the data prediction
            else:
                h = np.log(alpha_n / sigma_n) - np.log(alpha_t / sigma_t)
                if prev_x0 is None or i + 2 >= len(ts):
                    d = x_0
                else:
                    r = prev_h / h
                    d = (1 + 1 / (2 * r)) * x_0 - (1 / (2 * r)) * prev_x0
                x = (sigma_n / sigma_t) * x - alpha_n * np.expm1(-h) * d
                prev_h = h
            prev_x0 = x_0
        if progress is not None:
            progress(i + 1, len(ts))
    return x
