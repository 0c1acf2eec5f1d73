"""Projection onto valid GASFs: exactness, optimality against scipy, noise, consistency score."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.optimize import least_squares

from netdiffus.errors import ConfigError, DatasetError
from netdiffus.imaging import (
    gasf,
    gasf_consistency,
    gasf_consistency_torch,
    project_gasf,
    project_gasf_torch,
    series_from_gasf_diagonal,
    series_from_gasf_projection,
    series_from_gasf_projection_torch,
)


def _x01(n: int = 16, t: int = 20, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).uniform(0.0, 1.0, size=(n, t))
    x[0, :3] = [0.0, 1.0, 0.5]  # both bounds of the angles
    return x


@pytest.mark.parametrize("steps", [0, 1, 3, 10])
def test_exact_on_valid_gasf(steps):
    x = _x01()
    np.testing.assert_allclose(series_from_gasf_projection(gasf(x), steps=steps), x, atol=1e-10)
    np.testing.assert_allclose(project_gasf(gasf(x), steps=steps), gasf(x), atol=1e-12)


@pytest.mark.parametrize("series", [np.zeros(8), np.ones(8), np.full(8, 0.3)], ids=["zeros", "ones", "constant"])
def test_degenerate_series_stay_finite(series):
    g = gasf(series[None])
    noisy = g + np.random.default_rng(0).normal(0.0, 0.1, g.shape)
    for a in (g, noisy):
        out = series_from_gasf_projection(a, steps=5)
        assert np.all(np.isfinite(out)) and np.all((out >= 0) & (out <= 1))
    np.testing.assert_allclose(series_from_gasf_projection(g), series[None], atol=1e-8)


def test_reaches_the_least_squares_optimum():
    # reference: scipy's bounded trust-region least squares on the angles, same objective
    rng = np.random.default_rng(3)
    x = rng.uniform(0.05, 0.95, size=12)
    a = gasf(x) + rng.normal(0.0, 0.1, (12, 12))
    a_sym = 0.5 * (a + a.T)

    def residual(phi):
        return (np.cos(phi[:, None] + phi[None, :]) - a_sym).ravel()

    phi0 = 0.5 * np.arccos(np.clip(np.diag(a_sym), -1, 1))
    ref = least_squares(residual, phi0, bounds=(0.0, np.pi / 2), xtol=1e-14, ftol=1e-14, gtol=1e-14)
    ours = np.arccos(series_from_gasf_projection(a[None], steps=10)[0])
    cost = lambda phi: 0.5 * np.sum(residual(phi) ** 2)  # noqa: E731
    assert cost(ours) <= cost(ref.x) + 1e-10
    np.testing.assert_allclose(ours, ref.x, atol=1e-6)
    # and the default 3 steps are already at the optimum to 1e-6 in cost
    three = np.arccos(series_from_gasf_projection(a[None])[0])
    assert cost(three) - cost(ref.x) < 1e-6 * cost(ref.x)


@pytest.mark.parametrize("sigma", [0.02, 0.05, 0.1, 0.2])
def test_projection_beats_diagonal_under_noise(sigma):
    x = _x01(n=64, t=30, seed=1)
    noisy = gasf(x) + np.random.default_rng(2).normal(0.0, sigma, (64, 30, 30))
    err_diag = np.abs(series_from_gasf_diagonal(noisy) - x).mean()
    err_proj = np.abs(series_from_gasf_projection(noisy) - x).mean()
    assert err_proj < 0.5 * err_diag
    # the projection is closer to the true image than the noisy image is
    assert np.abs(project_gasf(noisy) - gasf(x)).mean() < np.abs(noisy - gasf(x)).mean()


def test_consistency_score():
    x = _x01(n=32, t=16)
    clean = gasf(x)
    assert gasf_consistency(clean).shape == (32,)
    assert gasf_consistency(clean).max() < 1e-10
    rng = np.random.default_rng(0)
    means = [gasf_consistency(clean + rng.normal(0.0, s, clean.shape)).mean() for s in (0.01, 0.05, 0.1, 0.2)]
    assert means == sorted(means) and means[0] > 0.005
    # channels pool into one score per image: [N, C, T, T] -> [N]
    two = np.stack([clean, clean + 0.1], axis=1)
    assert gasf_consistency(two).shape == (32,)
    # an asymmetric perturbation cannot be matched by any GASF
    skew = clean.copy()
    skew[:, 0, 1] += 0.5
    skew[:, 1, 0] -= 0.5
    assert gasf_consistency(skew).min() > 0.5 / 16


def test_torch_twins_batched_float32():
    x = _x01(n=8, t=12)
    noisy = gasf(x) + np.random.default_rng(0).normal(0.0, 0.05, (8, 12, 12))
    a64 = torch.from_numpy(noisy).reshape(2, 4, 12, 12)
    out = project_gasf_torch(a64)
    assert out.shape == (2, 4, 12, 12) and out.dtype == torch.float64
    np.testing.assert_allclose(out.reshape(8, 12, 12).numpy(), project_gasf(noisy))
    a32 = a64.float()
    np.testing.assert_allclose(
        series_from_gasf_projection_torch(a32).reshape(8, 12).numpy(), series_from_gasf_projection(noisy), atol=1e-4
    )
    assert gasf_consistency_torch(a32.reshape(8, 1, 12, 12)).dtype == torch.float32


@pytest.mark.parametrize(
    ("call", "exc", "message"),
    [
        (
            lambda: project_gasf(np.zeros((2, 3, 4))),
            DatasetError,
            "images must have shape [..., T, T] (got shape (2, 3, 4))",
        ),
        (lambda: project_gasf(np.zeros((2, 3, 3)), steps=-1), ConfigError, "steps must be an integer >= 0 (got -1)"),
        (
            lambda: gasf_consistency(np.zeros((3, 3))),
            DatasetError,
            "images must have shape [N, T, T] or [N, C, T, T] (got shape (3, 3))",
        ),
    ],
)
def test_errors(call, exc, message):
    with pytest.raises(exc) as err:
        call()
    assert str(err.value) == message


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_pure_noise_images_stay_finite(dtype):
    # early sampler steps predict x0 far from any GASF: the projection must stay finite and valid
    gen = torch.Generator().manual_seed(0)
    a = (torch.rand(64, 2, 30, 30, generator=gen, dtype=dtype) * 4.0 - 2.0).requires_grad_(False)
    with torch.no_grad():
        out = project_gasf_torch(a, steps=10)
        z = series_from_gasf_projection_torch(a, steps=10)
        score = gasf_consistency_torch(a)
    assert out.dtype == dtype and torch.isfinite(out).all() and out.abs().max() <= 1.0 + 1e-6
    assert torch.isfinite(z).all() and (z >= 0).all() and (z <= 1).all()
    assert torch.isfinite(score).all() and score.shape == (64,)
    # the projection never ends farther from the target than the diagonal start
    start = project_gasf_torch(a, steps=0)
    err = lambda p: (p - 0.5 * (a + a.transpose(-1, -2))).pow(2).sum(dim=(-1, -2))  # noqa: E731
    assert (err(out) <= err(start) * (1 + 1e-4) + 1e-6).all()
