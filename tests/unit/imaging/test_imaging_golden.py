"""Golden outputs of the imaging API, recorded before its numpy / torch twins became one torch
kernel each with numpy adapters; the numbers must stay the same to float64 rounding.

``data/imaging_golden.npz`` holds what every public function and :class:`GramianAngularField` /
:class:`SeriesScaler` method returned, in float64 (numpy and torch) and float32 (torch, as in a
sampler), for every scaling mode, gamma 1 and 0.25, with and without PAA, GASF and GADF. Recorded
on CPU with ``python tests/unit/imaging/test_imaging_golden.py --record``. The float32 casts of
the gamma-1 training images must stay the same to the bit.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from netdiffus.imaging import (
    GramianAngularField,
    SeriesScaler,
    gadf,
    gadf_torch,
    gamma_correct,
    gasf,
    gasf_consistency,
    gasf_consistency_torch,
    gasf_torch,
    paa,
    paa_inverse,
    paa_inverse_torch,
    paa_torch,
    project_gasf,
    project_gasf_torch,
    series_from_gasf_diagonal,
    series_from_gasf_projection,
    series_from_gasf_projection_torch,
    series_from_gasf_torch,
)
from netdiffus.imaging.scaling import SCALING_MODES

GOLDEN = Path(__file__).with_name("data") / "imaging_golden.npz"
LABELS = ["a", "b", "a", "b", "a"]


def _atol(key: str, want: np.ndarray) -> float:
    """How far a result may move, relative to the array's largest value.

    float64: rounding (torch's and numpy's ``sqrt``, ``log1p``, sums differ in the last bit),
    amplified at most a few hundred times by an inversion. With gamma 0.25, ``u ** 0.25`` of
    ``u = (G + 1) / 2`` turns one rounding of ``G`` near -1 (a bin at the minimum beside one just
    above it) into ~1e-8. float32 results (the sampler-side kernels): float32 rounding.
    """
    rel = 1e-6 if want.dtype == np.float32 else 1e-7 if "/g0.25/" in key else 1e-13
    return rel * max(1.0, float(np.abs(want).max(initial=0.0)))


def _traces(signed: bool = False) -> np.ndarray:
    """Bytes-like traces ``[5, 2, 8]`` with zeros, a burst and (``signed``) negative values."""
    rng = np.random.default_rng(0)
    x = np.round(rng.lognormal(6.0, 2.0, size=(5, 2, 8))) * (rng.random((5, 2, 8)) > 0.3)
    x[1, 1, 5] = 3.0e6
    return x - 400.0 if signed else x


def _noisy(images: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng(1)
    return np.clip(images + rng.normal(0, 0.05, images.shape), -1.2, 1.2)


def _kernels() -> Iterator[tuple[str, np.ndarray]]:
    x01 = np.random.default_rng(2).random((3, 2, 9))
    x01[0, 0, :3] = [0.0, 1.0, 0.5]
    t = torch.from_numpy(x01)
    g = gasf(x01)
    noisy = _noisy(g)
    yield "gasf", g
    yield "gadf", gadf(x01)
    yield "gasf_torch64", gasf_torch(t).numpy()
    yield "gasf_torch32", gasf_torch(t.float()).numpy()
    yield "gadf_torch32", gadf_torch(t.float()).numpy()
    yield "diag", series_from_gasf_diagonal(noisy)
    yield "diag_torch32", series_from_gasf_torch(torch.from_numpy(noisy).float()).numpy()
    yield "gamma", gamma_correct(noisy, gamma=0.25)
    for steps in (0, 3):
        yield f"project{steps}", project_gasf(noisy, steps=steps)
        yield f"project{steps}_torch32", project_gasf_torch(torch.from_numpy(noisy).float(), steps=steps).numpy()
        yield f"series_projection{steps}", series_from_gasf_projection(noisy, steps=steps)
        yield f"series_projection{steps}_torch32", series_from_gasf_projection_torch(
            torch.from_numpy(noisy).float(), steps=steps).numpy()
        yield f"consistency{steps}", gasf_consistency(noisy, steps=steps)
        yield f"consistency{steps}_torch32", gasf_consistency_torch(torch.from_numpy(noisy).float(),
                                                                     steps=steps).numpy()
    x = _traces()
    for size in (4, 5, 8):
        yield f"paa{size}", paa(x, size=size)
        yield f"paa{size}_torch64", paa_torch(torch.from_numpy(x), size=size).numpy()
        yield f"paa{size}_torch32", paa_torch(torch.from_numpy(x).float(), size=size).numpy()
        yield f"paa_inverse{size}", paa_inverse(paa(x, size=size), length=8)
        yield f"paa_inverse{size}_torch32", paa_inverse_torch(torch.from_numpy(paa(x, size=size)).float(),
                                                              length=8).numpy()


def _scaler(mode: str) -> Iterator[tuple[str, np.ndarray]]:
    x = _traces(signed=not mode.endswith("log"))
    s = SeriesScaler(mode=mode).fit(x[:3])  # traces 3 and 4 fall outside the fitted range
    scale = s.trace_scale(x) * np.array([0.5, 1.5]) if s.per_trace else None
    t_scale = None if scale is None else torch.from_numpy(scale)
    z = s.transform(x)
    yield "z", z
    yield "n_clipped", np.array(s.n_clipped_)
    yield "z_given_scale", s.transform(x, scale=scale) if s.per_trace else z
    yield "back", s.inverse_transform(z, scale=scale)
    yield "trace_scale", s.trace_scale(x)
    zt = s.transform_torch(torch.from_numpy(x))
    yield "z_torch64", zt.numpy()
    yield "n_clipped_torch", np.array(s.n_clipped_)
    yield "z_torch32", s.transform_torch(torch.from_numpy(x).float()).numpy()
    yield "back_torch64", s.inverse_transform_torch(zt, scale=t_scale).numpy()
    yield "back_torch32", s.inverse_transform_torch(zt.float(), scale=t_scale).numpy()


def _field(mode: str, gamma: float, size: int | None, method: str) -> Iterator[tuple[str, np.ndarray]]:
    x = _traces(signed=not mode.endswith("log"))
    # inversion: the default when these were recorded (now the configuration's "projection")
    gaf = GramianAngularField(scaling=mode, gamma=gamma, image_size=size, method=method,
                              inversion="diagonal").fit(x, labels=LABELS)
    images = gaf.transform(x)
    yield "transform", images
    yield "transform_torch64", gaf.transform_torch(torch.from_numpy(x)).numpy()
    yield "transform_torch32", gaf.transform_torch(torch.from_numpy(x).float()).numpy()
    yield "scale", gaf.scale(x)
    if method == "difference":
        return
    scale = gaf.trace_scale(x) if gaf.scaler_.per_trace else None
    if scale is not None:
        yield "trace_scale", scale
        yield "sample_scale", gaf.sample_scale(LABELS, seed=4)
        yield "sample_scale_images", gaf.sample_scale(LABELS, seed=4, images=_noisy(images))
    yield "unscale", gaf.unscale(gaf.scale(x), scale=scale)
    noisy = _noisy(images)
    t_scale = None if scale is None else torch.from_numpy(scale)
    for inv in ("diagonal", "projection"):
        yield f"inverse_{inv}", gaf.inverse_transform(noisy, scale=scale, inversion=inv)
        yield f"inverse_{inv}_torch64", gaf.inverse_transform_torch(torch.from_numpy(noisy), scale=t_scale,
                                                                    inversion=inv).numpy()
        yield f"inverse_{inv}_torch32", gaf.inverse_transform_torch(torch.from_numpy(noisy).float(), scale=t_scale,
                                                                    inversion=inv).numpy()
    yield "consistency", gaf.consistency(noisy)
    yield "consistency_torch32", gaf.consistency_torch(torch.from_numpy(noisy).float()).numpy()
    yield "project_torch64", gaf.project_torch(torch.from_numpy(noisy)).numpy()
    yield "project_torch32", gaf.project_torch(torch.from_numpy(noisy).float()).numpy()


def golden_arrays() -> Iterator[tuple[str, np.ndarray]]:
    """``(key, array)`` of every recorded output."""
    for key, a in _kernels():
        yield f"kernel/{key}", a
    for mode in SCALING_MODES:
        for key, a in _scaler(mode):
            yield f"scaler/{mode}/{key}", a
        for gamma, size, method in ((1.0, None, "summation"), (1.0, 5, "summation"), (0.25, None, "summation"),
                                    (1.0, None, "difference")):
            for key, a in _field(mode, gamma, size, method):
                yield f"field/{mode}/g{gamma}/s{size}/{method}/{key}", a


def record() -> None:
    GOLDEN.parent.mkdir(exist_ok=True)
    np.savez_compressed(GOLDEN, **dict(golden_arrays()))


def test_imaging_outputs_are_the_recorded_ones():
    with np.load(GOLDEN, allow_pickle=False) as golden:
        seen = []
        for key, a in golden_arrays():
            seen.append(key)
            want = golden[key]
            assert a.dtype == want.dtype and a.shape == want.shape, key
            if "n_clipped" in key:
                assert a == want, key
                continue
            np.testing.assert_allclose(a, want, err_msg=key, rtol=0, atol=_atol(key, want))
            if key.endswith("/transform") and "/g1.0/" in key:  # the float32 training images: to the bit
                np.testing.assert_array_equal(a.astype(np.float32), want.astype(np.float32), err_msg=key)
        assert sorted(seen) == sorted(golden.files)


if __name__ == "__main__" and sys.argv[1:] == ["--record"]:
    record()
