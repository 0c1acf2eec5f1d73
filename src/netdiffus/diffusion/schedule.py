"""Noise schedules: ``alpha_bar`` [T] as float64 numpy (improved-DDPM convention).

Examples
--------
>>> ab = alpha_bar_schedule("cosine", 1000)
>>> ab.shape, bool(ab[0] > 0.999), bool(ab[-1] < 1e-3), bool((np.diff(ab) < 0).all())
((1000,), True, True, True)
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from netdiffus.errors import ConfigError

__all__ = ["alpha_bar_schedule", "ScheduleName"]

ScheduleName = Literal["cosine", "linear"]


def alpha_bar_schedule(name: ScheduleName, timesteps: int, *, max_beta: float = 0.999) -> np.ndarray:
    """``alpha_bar[t]`` for ``t = 0 .. timesteps - 1`` (float64), the product of ``1 - beta``.

    ``cosine`` is Nichol & Dhariwal's ``cos((t/T + s) / (1 + s) * pi/2)**2`` with s = 0.008 and
    betas clipped at ``max_beta``; ``linear`` is DDPM's betas from 1e-4 to 0.02 (scaled to T).
    """
    if timesteps < 2:
        raise ConfigError(f"timesteps must be >= 2 (got {timesteps})")
    if name == "cosine":
        f = lambda t: math.cos((t / timesteps + 0.008) / 1.008 * math.pi / 2) ** 2  # noqa: E731
        betas = np.array([min(1 - f(i + 1) / f(i), max_beta) for i in range(timesteps)], dtype=np.float64)
    elif name == "linear":
        scale = 1000 / timesteps
        betas = np.linspace(scale * 1e-4, scale * 0.02, timesteps, dtype=np.float64)
    else:
        raise ConfigError(f"schedule must be 'cosine' or 'linear' (got {name!r})")
    return np.cumprod(1.0 - betas)
