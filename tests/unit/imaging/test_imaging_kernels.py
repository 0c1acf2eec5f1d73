"""The field kernels: hand-computed 3x3 cases, gradients, the numpy adapter, and the layering rule
(imaging sits below diffusion, which imports only imaging.kernels from it)."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from netdiffus.imaging.kernels import (
    cos_sin,
    gadf_from_cos_sin,
    gasf_from_angles,
    gasf_from_cos_sin,
    gasf_torch,
    numpy_call,
    series_from_gasf_torch,
)

SRC = Path(__file__).resolve().parents[3] / "src" / "netdiffus"
PHI = torch.tensor([math.pi / 2, math.pi / 3, 0.0], dtype=torch.float64)  # x = cos(phi) = [0, 1/2, 1]
R3 = math.sqrt(3.0) / 2.0


def test_hand_computed_3x3():
    gasf = [[-1.0, -R3, 0.0], [-R3, -0.5, 0.5], [0.0, 0.5, 1.0]]  # cos(phi_i + phi_j)
    gadf = [[0.0, 0.5, 1.0], [-0.5, 0.0, R3], [-1.0, -R3, 0.0]]  # sin(phi_i - phi_j)
    torch.testing.assert_close(gasf_from_angles(PHI), torch.tensor(gasf, dtype=torch.float64), atol=1e-15, rtol=0)
    c, s = cos_sin(torch.cos(PHI))
    torch.testing.assert_close(gadf_from_cos_sin(c, s), torch.tensor(gadf, dtype=torch.float64), atol=1e-15, rtol=0)
    torch.testing.assert_close(series_from_gasf_torch(gasf_torch(torch.cos(PHI))), torch.cos(PHI), atol=1e-15, rtol=0)


def test_batched_and_differentiable():
    phi = torch.rand(2, 3, 5, dtype=torch.float64, requires_grad=True)
    g = gasf_from_angles(phi)
    assert g.shape == (2, 3, 5, 5)
    torch.testing.assert_close(g, torch.cos(phi[..., :, None] + phi[..., None, :]))
    g.sum().backward()
    # d/dphi_k sum_ij cos(phi_i + phi_j) = -2 sum_j sin(phi_k + phi_j)
    torch.testing.assert_close(phi.grad, -2 * torch.sin(phi[..., :, None] + phi[..., None, :]).sum(-1))
    c, s = torch.cos(phi.detach()), torch.sin(phi.detach())
    assert torch.equal(gasf_from_cos_sin(c, s), c[..., :, None] * c[..., None, :] - s[..., :, None] * s[..., None, :])


def test_numpy_adapter_is_float64_in_and_out():
    out = numpy_call(gasf_torch, np.array([[0, 1]], dtype=np.int64))
    assert isinstance(out, np.ndarray) and out.dtype == np.float64 and out.tolist() == [[[-1.0, 0.0], [0.0, 1.0]]]
    assert numpy_call(lambda a, b, k: a + (b is None) + k, np.zeros(2), None, k=2).tolist() == [3.0, 3.0]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    return names | {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}


@pytest.mark.parametrize("path", sorted(SRC.joinpath("imaging").glob("*.py")), ids=lambda p: p.name)
def test_imaging_does_not_import_diffusion(path):
    assert not [m for m in _imports(path) if m.startswith("netdiffus.diffusion")]
    if path.name == "kernels.py":  # the bottom: torch and numpy only
        assert not [m for m in _imports(path) if m.startswith("netdiffus")]


@pytest.mark.parametrize("path", sorted(SRC.joinpath("diffusion").glob("*.py")), ids=lambda p: p.name)
def test_diffusion_imports_only_the_kernels_from_imaging(path):
    assert {m for m in _imports(path) if m.startswith("netdiffus.imaging")} <= {"netdiffus.imaging.kernels"}
