"""Nearest valid GASF: robust inversion of noisy images and a consistency score.

A valid GASF of a series scaled to [0, 1] is ``G[i, j] = cos(phi_i + phi_j)`` with angles
``phi`` in ``[0, pi/2]``. A generated image ``A`` ``[T, T]`` is never exactly of that form. The
*projection* finds the angles that minimise the squared error over all ``T x T`` entries::

    min_phi  sum_ij (cos(phi_i + phi_j) - A_ij)**2,     0 <= phi_i <= pi/2

The asymmetric part of ``A`` cannot be matched by any GASF, so ``A`` is first symmetrised (this
changes the objective by a constant only). The start is the diagonal inversion
``phi_i = arccos(A_ii) / 2``; each step is a damped Gauss-Newton (Levenberg-Marquardt) step,
with the angles clamped back into ``[0, pi/2]``. With ``S_ij = sin(phi_i + phi_j)`` and residual
``R = G(phi) - A``, the normal equations are ``(diag(sum_j S_kj**2) + S**2) d = sum_j R_kj S_kj``;
``S**2`` has rank 3, so each step costs one ``[T, T] @ [T, 2]`` product per image and ``O(T)``
work (see :func:`_gauss_newton_step`).

The diagonal holds ``T`` of the ``T**2`` entries; the projection uses all of them, so noise on
the image averages out over each row instead of landing on the series unchanged.

:func:`gasf_consistency` is the root-mean-square distance from an image to its projection:
0 for a valid GASF, growing with the noise; usable as a fidelity signal for generated images.

Examples
--------
>>> import numpy as np
>>> from netdiffus.imaging.gaf import gasf
>>> x = np.array([[0.1, 0.5, 0.9, 0.3]])                  # [N=1, T=4] scaled to [0, 1]
>>> np.allclose(series_from_gasf_projection(gasf(x)), x)
True
>>> float(gasf_consistency(gasf(x))[0]) < 1e-12
True
>>> noisy = gasf(x) + np.random.default_rng(0).normal(0, 0.1, (1, 4, 4))
>>> float(gasf_consistency(noisy)[0]) > 0.01
True
"""

from __future__ import annotations

import math

import numpy as np
import torch

from netdiffus.errors import ConfigError, DatasetError
from netdiffus.imaging.kernels import gasf_from_angles, numpy_call

__all__ = [
    "DEFAULT_PROJECTION_STEPS",
    "gasf_angles_torch",
    "project_gasf_torch",
    "project_gasf",
    "series_from_gasf_projection_torch",
    "series_from_gasf_projection",
    "gasf_consistency_torch",
    "gasf_consistency",
]

DEFAULT_PROJECTION_STEPS = 3
# Levenberg-Marquardt damping: relative to the diagonal of the normal matrix, plus an absolute
# floor that keeps the all-zero-sine case (every phi at 0, or every phi at pi/2) solvable.
_DAMPING_REL = 1e-3
_DAMPING_ABS = 1e-9


def _check_images(images: torch.Tensor) -> None:
    if images.ndim < 2 or images.shape[-1] != images.shape[-2]:
        raise DatasetError(f"images must have shape [..., T, T] (got shape {tuple(images.shape)})")


def _check_steps(steps: int) -> None:
    if not (isinstance(steps, (int, np.integer)) and steps >= 0):
        raise ConfigError(f"steps must be an integer >= 0 (got {steps!r})")


def gasf_angles_torch(images: torch.Tensor, *, steps: int = DEFAULT_PROJECTION_STEPS) -> torch.Tensor:
    """Least-squares GASF angles of ``images`` ``[..., T, T]`` -> ``phi`` ``[..., T]`` in ``[0, pi/2]``.

    ``steps=0`` gives the diagonal inversion. Works batched on any device; float32 or float64.
    Each step costs one batched ``[T, T] @ [T, 2]`` product per image plus ``O(T)`` work.
    """
    _check_images(images)
    _check_steps(steps)
    if not images.is_floating_point():
        images = images.to(torch.get_default_dtype())
    t = images.shape[-1]
    batch = images.shape[:-2]
    a = images.reshape(-1, t, t)  # symmetrised inside each step, never copied
    phi = 0.5 * torch.acos(torch.diagonal(a, dim1=-2, dim2=-1).clamp(-1.0, 1.0))
    for _ in range(steps):
        phi = phi + _gauss_newton_step(a, phi)
        phi = phi.clamp(0.0, math.pi / 2)
    return phi.reshape(*batch, t)


def _gauss_newton_step(a: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
    """One damped Gauss-Newton step ``d`` ``[B, T]`` for targets ``a`` ``[B, T, T]`` (symmetrised).

    With ``theta_kj = phi_k + phi_j``, ``G = cos(theta)``, ``S = sin(theta)`` and ``R = G - a``:
    solve ``(D + S**2) d = sum_j R_kj S_kj`` with ``D = diag(sum_j S_kj**2)`` (the Gauss-Newton
    normal equations, halved). No ``T x T`` matrix is formed: by the double-angle formulas

    - ``sum_j G_kj S_kj = (sin 2phi_k sum_j cos 2phi_j + cos 2phi_k sum_j sin 2phi_j) / 2``,
    - ``sum_j a_kj S_kj = sin phi_k (a cos phi)_k + cos phi_k (a sin phi)_k``,
    - ``S**2 = (1 1^T - c2 c2^T + s2 s2^T) / 2`` with ``c2 = cos 2phi``, ``s2 = sin 2phi``,

    so ``D + S**2`` is diagonal plus rank 3, and preconditioned conjugate gradients solve it
    exactly in 4 iterations (5 run, for rounding).
    """
    c, s = torch.cos(phi), torch.sin(phi)
    c2, s2 = c * c - s * s, 2.0 * s * c
    t = phi.shape[-1]
    sum_c2, sum_s2 = c2.sum(-1, keepdim=True), s2.sum(-1, keepdim=True)
    cs = torch.stack([c, s], dim=-1)  # [B, T, 2]
    av = 0.5 * (torch.bmm(a, cs) + torch.bmm(a.transpose(-1, -2), cs))  # (a + a^T) / 2 @ [c, s]
    rhs = 0.5 * (s2 * sum_c2 + c2 * sum_s2) - (s * av[..., 0] + c * av[..., 1])
    # diagonal: row sums of S**2 (the D term) plus diag(S**2) = sin^2(2 phi), then damping
    row = 0.5 * (t - c2 * sum_c2 + s2 * sum_s2)
    diag = row + s2 * s2
    d_full = row + _DAMPING_REL * diag + _DAMPING_ABS  # damped D
    d_inv = 1.0 / d_full

    def matvec(v: torch.Tensor) -> torch.Tensor:
        # (D + S**2) v with S**2 = (1 1^T - c2 c2^T + s2 s2^T) / 2
        low = 0.5 * (
            v.sum(-1, keepdim=True) - c2 * (c2 * v).sum(-1, keepdim=True) + s2 * (s2 * v).sum(-1, keepdim=True)
        )
        return d_full * v + low

    # preconditioned conjugate gradients (Jacobi preconditioner D^-1), batched
    x = torch.zeros_like(rhs)
    r = rhs
    z = d_inv * r
    p = z
    rz = (r * z).sum(-1, keepdim=True)
    tiny = torch.finfo(rhs.dtype).tiny
    for _ in range(5):
        hp = matvec(p)
        alpha = rz / (p * hp).sum(-1, keepdim=True).clamp_min(tiny)
        x = x + alpha * p
        r = r - alpha * hp
        z = d_inv * r
        rz_new = (r * z).sum(-1, keepdim=True)
        p = z + (rz_new / rz.clamp_min(tiny)) * p
        rz = rz_new
    return torch.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)


def project_gasf_torch(images: torch.Tensor, *, steps: int = DEFAULT_PROJECTION_STEPS) -> torch.Tensor:
    """Nearest valid GASF (least squares) of ``images`` ``[..., T, T]`` -> ``[..., T, T]``.

    Batched and on the images' device, for use on the predicted ``x0`` inside a sampler.
    """
    return gasf_from_angles(gasf_angles_torch(images, steps=steps))


def series_from_gasf_projection_torch(images: torch.Tensor, *, steps: int = DEFAULT_PROJECTION_STEPS) -> torch.Tensor:
    """Invert ``images`` ``[..., T, T]`` by projection -> scaled series ``[..., T]`` in [0, 1]."""
    return torch.cos(gasf_angles_torch(images, steps=steps)).clamp(0.0, 1.0)


def gasf_consistency_torch(images: torch.Tensor, *, steps: int = DEFAULT_PROJECTION_STEPS) -> torch.Tensor:
    """Distance of ``images`` to the nearest valid GASF: ``[N, T, T]`` or ``[N, C, T, T]`` -> ``[N]``.

    The root mean square of ``images - project_gasf_torch(images)`` over all channels and entries
    of each image (the asymmetric part included). 0 for a valid GASF.
    """
    if images.ndim not in (3, 4):
        raise DatasetError(f"images must have shape [N, T, T] or [N, C, T, T] (got shape {tuple(images.shape)})")
    if not images.is_floating_point():
        images = images.to(torch.get_default_dtype())
    diff = images - project_gasf_torch(images, steps=steps)
    return diff.reshape(images.shape[0], -1).pow(2).mean(-1).sqrt()


def project_gasf(images: np.ndarray, *, steps: int = DEFAULT_PROJECTION_STEPS) -> np.ndarray:
    """Numpy adapter of :func:`project_gasf_torch` (float64)."""
    return numpy_call(project_gasf_torch, images, steps=steps)


def series_from_gasf_projection(images: np.ndarray, *, steps: int = DEFAULT_PROJECTION_STEPS) -> np.ndarray:
    """Numpy adapter of :func:`series_from_gasf_projection_torch`: ``[..., T, T]`` -> ``[..., T]`` (float64)."""
    return numpy_call(series_from_gasf_projection_torch, images, steps=steps)


def gasf_consistency(images: np.ndarray, *, steps: int = DEFAULT_PROJECTION_STEPS) -> np.ndarray:
    """Numpy adapter of :func:`gasf_consistency_torch`: ``[N, T, T]`` or ``[N, C, T, T]`` -> ``[N]`` (float64)."""
    return numpy_call(gasf_consistency_torch, images, steps=steps)
