"""Torch kernels of the Gramian angular fields, and the one numpy adapter of the imaging API.

A series scaled to [0, 1] is ``x = cos(phi)`` with angles ``phi`` in ``[0, pi/2]``, so
``sqrt(1 - x**2) = sin(phi)``. With ``c = cos(phi)`` and ``s = sin(phi)``, both ``[..., T]``:

- GASF ``G[i, j] = cos(phi_i + phi_j) = c_i c_j - s_i s_j`` (:func:`gasf_from_cos_sin`),
  ``[..., T] -> [..., T, T]``;
- GADF ``sin(phi_i - phi_j) = s_i c_j - c_i s_j`` (:func:`gadf_from_cos_sin`);
- the GASF diagonal ``cos(2 phi_i) = 2 x_i**2 - 1`` gives ``x_i = sqrt((G_ii + 1) / 2)`` back.

This is the one place these formulas are written: the estimators of :mod:`netdiffus.imaging`,
the projection onto valid GASFs and the UNet's valid-GASF head all call them.

Layering: this module imports only torch and numpy. ``netdiffus.imaging`` is built on it, and
``netdiffus.diffusion`` may import it (and nothing else from imaging); nothing in
``netdiffus.imaging`` imports ``netdiffus.diffusion``. Imaging sits below diffusion.

Every function here is a batched torch kernel: any leading dimensions, the input's device and
dtype, autograd intact. The numpy API of imaging is :func:`numpy_call` around them: arrays in,
float64 tensors through the kernel, arrays out.

Examples
--------
>>> x = torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64)      # scaled series [T=3]
>>> gasf_torch(x).round(decimals=3).tolist()
[[-1.0, -0.866, 0.0], [-0.866, -0.5, 0.5], [0.0, 0.5, 1.0]]
>>> torch.allclose(gasf_from_angles(torch.arccos(x)), gasf_torch(x))
True
>>> series_from_gasf_torch(gasf_torch(x)).tolist()
[0.0, 0.5, 1.0]
>>> numpy_call(series_from_gasf_torch, np.eye(2)).tolist()
[1.0, 1.0]
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch

__all__ = [
    "gasf_from_cos_sin",
    "gadf_from_cos_sin",
    "gasf_from_angles",
    "cos_sin",
    "gasf_torch",
    "gadf_torch",
    "series_from_gasf_torch",
    "numpy_call",
]


def gasf_from_cos_sin(c: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """GASF ``cos(phi_i + phi_j) = c_i c_j - s_i s_j`` ``[..., T, T]`` of ``c, s = cos(phi), sin(phi)`` ``[..., T]``."""
    # in place: one [..., T, T] temporary fewer (the product is not kept for autograd)
    return (c.unsqueeze(-1) * c.unsqueeze(-2)).sub_(s.unsqueeze(-1) * s.unsqueeze(-2))


def gadf_from_cos_sin(c: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    """``sin(phi_i - phi_j) = s_i c_j - c_i s_j`` from ``c``, ``s`` ``[..., T]`` -> ``[..., T, T]``."""
    return (s.unsqueeze(-1) * c.unsqueeze(-2)).sub_(c.unsqueeze(-1) * s.unsqueeze(-2))


def gasf_from_angles(phi: torch.Tensor) -> torch.Tensor:
    """GASF ``cos(phi_i + phi_j)`` of angles ``phi`` ``[..., T]`` -> ``[..., T, T]``."""
    return gasf_from_cos_sin(torch.cos(phi), torch.sin(phi))


def cos_sin(x01: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(cos(phi), sin(phi)) = (x, sqrt(1 - x**2))`` of a scaled series ``x01`` ``[..., T]``, clipped to [0, 1]."""
    x = x01.clamp(0.0, 1.0)
    return x, (1.0 - x * x).clamp_min(0.0).sqrt()


def gasf_torch(x01: torch.Tensor) -> torch.Tensor:
    """GASF of scaled series ``x01`` ``[..., T]`` in [0, 1] -> ``[..., T, T]``."""
    return gasf_from_cos_sin(*cos_sin(x01))


def gadf_torch(x01: torch.Tensor) -> torch.Tensor:
    """GADF of scaled series ``x01`` ``[..., T]`` in [0, 1] -> ``[..., T, T]``."""
    return gadf_from_cos_sin(*cos_sin(x01))


def series_from_gasf_torch(images: torch.Tensor) -> torch.Tensor:
    """Invert GASF ``images`` ``[..., T, T]`` from their diagonal -> scaled series ``[..., T]`` in [0, 1]."""
    d = torch.diagonal(images, dim1=-2, dim2=-1)
    return ((d + 1.0) / 2.0).clamp(0.0, 1.0).sqrt()


def numpy_call(kernel: Callable[..., torch.Tensor], *arrays: Any, **kwargs: Any) -> np.ndarray:
    """``kernel`` on numpy data: each of ``arrays`` as a float64 tensor (None stays None), the
    result back as an ndarray (float64 for a float64 kernel). ``kwargs`` pass through unchanged."""
    tensors = [None if a is None else torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)) for a in arrays]
    return kernel(*tensors, **kwargs).numpy()
