"""Sampler steps: one small function per sampler, and :data:`SAMPLERS`, the registry of them.

A sampler is its step (the contract of diffusers' ``scheduler.step``): given the
:class:`StepState` at step ``i`` of ``n`` (the current ``x_t``, the model's predicted ``x_0`` and
the schedule values), it returns the next ``x`` ``[N, *shape]``. The loop around the steps (model
calls, guidance, clipping, noise) is :func:`netdiffus.diffusion.samplers.sample`, the same for all.

:data:`SAMPLERS` maps each name to its step and is the one place the names are declared
(:data:`SamplerName`; the CLI's ``--sampler`` choices). This module imports no torch (tensors
come in through the state), so the CLI can read the names without loading it.

- ``ddim``: DDIM (Song et al.) with ``eta`` (0 = deterministic).
- ``ddpm``: ancestral sampling, with the learned variance when the model has one, else with the
  posterior variance, i.e. DDIM with ``eta = 1`` (over all T steps when ``steps = T``, the
  original DDPM sampler).
- ``dpmpp2m``: DPM-Solver++(2M), a 2nd-order multistep solver (Lu et al.), deterministic.
- ``distilled``: DDIM with ``eta`` on the trailing grid (the first step from pure noise at
  ``T - 1``): the sampler of a student distilled for 1 to a few steps (progressive
  distillation, Salimans & Ho; rectified-flow reflow, Liu et al.), see :mod:`netdiffus.distill`.
- ``consistency``: multistep consistency sampling (Song et al. 2023, Algorithm 1) on the
  trailing grid: each step's ``x_0`` noised afresh to the next step's level.

The two few-step samplers step through ``GaussianDiffusion.timestep_spacing(steps,
trailing=True)`` (:attr:`Sampler.trailing`): with one step the model is called once, at
``T - 1``, where the other grids would call it at 0.

Examples
--------
>>> list(SAMPLERS)
['ddim', 'ddpm', 'dpmpp2m', 'distilled', 'consistency']
>>> [name for name, s in SAMPLERS.items() if s.trailing]
['distilled', 'consistency']
>>> from typing import get_args
>>> get_args(SamplerName) == tuple(SAMPLERS)
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    import torch

    from netdiffus.diffusion.process import GaussianDiffusion

__all__ = ["SAMPLERS", "SamplerName", "Sampler", "StepState", "StepFunction", "ddim_step", "ddpm_step",
           "dpmpp2m_step", "consistency_step"]


@dataclass
class StepState:
    """What a sampler's step sees at step ``i`` of ``n`` (from ``x_t`` to the next, lower step).

    Attributes
    ----------
    x : Tensor ``[N, *shape]``
        The current sample ``x_t``.
    x_0 : Tensor ``[N, *shape]``
        The predicted ``x_0`` (guided, clipped and transformed).
    v_sigma : Tensor ``[N, *shape]`` or None
        The learned-variance output in [-1, 1], or None when the variance is not learned.
    ab_t, ab_prev : float
        ``alpha_bar`` at this step and at the next one (1 after the last step).
    i, n : int
        Index of this step and number of steps.
    eta : float
        DDIM's noise scale (0 = deterministic).
    process : GaussianDiffusion
    noise : callable () -> Tensor ``[N, *shape]``
        Draws standard normal noise, one generator per sample.
    memory : dict
        Kept from step to step for a multistep sampler's history.
    """

    x: torch.Tensor
    x_0: torch.Tensor
    v_sigma: torch.Tensor | None
    ab_t: float
    ab_prev: float
    i: int
    n: int
    eta: float
    process: GaussianDiffusion
    noise: Callable[[], torch.Tensor]
    memory: dict[str, Any] = field(default_factory=dict)


#: A sampler: the step from ``state.x`` to the next ``x`` ``[N, *shape]``.
StepFunction = Callable[[StepState], "torch.Tensor"]


def _ddim_update(s: StepState, eta: float) -> torch.Tensor:
    """eps consistent with the (clipped) x_0, then the DDIM update (eq. 12 of Song et al.)."""
    eps = (s.x - s.ab_t**0.5 * s.x_0) / (1 - s.ab_t) ** 0.5
    sigma = eta * ((1 - s.ab_prev) / (1 - s.ab_t) * (1 - s.ab_t / s.ab_prev)) ** 0.5
    x = s.ab_prev**0.5 * s.x_0 + max(1 - s.ab_prev - sigma**2, 0.0) ** 0.5 * eps
    if sigma > 0:
        x = x + sigma * s.noise()
    return x


def ddim_step(s: StepState) -> torch.Tensor:
    """DDIM with the state's ``eta``."""
    return _ddim_update(s, s.eta)


def ddpm_step(s: StepState) -> torch.Tensor:
    """Ancestral step: with the learned variance (improved DDPM) if any, else DDIM with eta = 1."""
    if s.v_sigma is None:
        return _ddim_update(s, 1.0)
    mean, _ = s.process.posterior(s.x_0, s.x, s.ab_t, s.ab_prev)
    if s.i + 1 == s.n:  # the last step returns the mean
        return mean
    logvar = s.process.model_log_variance(s.v_sigma, s.ab_t, s.ab_prev)
    return mean + (0.5 * logvar).exp() * s.noise()


def dpmpp2m_step(s: StepState) -> torch.Tensor:
    """DPM-Solver++(2M) in log-SNR time ``lambda = log(alpha / sigma)``; first order at the
    first and the second-to-last step, the data prediction itself at the last."""
    prev_x0, prev_h = s.memory.get("x_0"), s.memory.get("h")
    s.memory["x_0"] = s.x_0
    alpha_t, sigma_t = s.ab_t**0.5, (1 - s.ab_t) ** 0.5
    alpha_n, sigma_n = s.ab_prev**0.5, (1 - s.ab_prev) ** 0.5
    if sigma_n == 0.0:
        return s.x_0  # the last step lands on the data prediction
    h = np.log(alpha_n / sigma_n) - np.log(alpha_t / sigma_t)
    s.memory["h"] = h
    if prev_x0 is None or s.i + 2 >= s.n:
        d = s.x_0
    else:
        r = prev_h / h
        d = (1 + 1 / (2 * r)) * s.x_0 - (1 / (2 * r)) * prev_x0
    return (sigma_n / sigma_t) * s.x - alpha_n * np.expm1(-h) * d


def consistency_step(s: StepState) -> torch.Tensor:
    """Multistep consistency sampling: the predicted ``x_0`` noised afresh to the next level,
    ``sqrt(ab_prev) x_0 + sqrt(1 - ab_prev) z`` with new noise ``z``; ``x_0`` itself at the last
    step (``ab_prev = 1``). ``x_t`` enters only through ``x_0``: no error carries over in ``x``."""
    if s.ab_prev >= 1.0:
        return s.x_0
    return s.ab_prev**0.5 * s.x_0 + (1 - s.ab_prev) ** 0.5 * s.noise()


@dataclass(frozen=True)
class Sampler:
    """A registered sampler: its step function, and the grid of timesteps it steps through.

    Attributes
    ----------
    step : StepFunction
    trailing : bool
        The few-step grid, ``timestep_spacing(steps, trailing=True)``: from ``T - 1`` down to about
        ``T / steps``, then to the data (else the grid from ``T - 1`` to 0).
    """

    step: StepFunction
    trailing: bool = False

    def __call__(self, s: StepState) -> torch.Tensor:
        return self.step(s)


#: The registry: every sampler's name, step function and grid (the one declaration of the names).
SAMPLERS: dict[str, Sampler] = {
    "ddim": Sampler(ddim_step),
    "ddpm": Sampler(ddpm_step),
    "dpmpp2m": Sampler(dpmpp2m_step),
    "distilled": Sampler(ddim_step, trailing=True),
    "consistency": Sampler(consistency_step, trailing=True),
}
#: The names of :data:`SAMPLERS` as a type, spelled out for the type checker (a ``Literal`` built
#: from the registry is not a static type); the doctest above and a unit test keep them equal.
SamplerName = Literal["ddim", "ddpm", "dpmpp2m", "distilled", "consistency"]
