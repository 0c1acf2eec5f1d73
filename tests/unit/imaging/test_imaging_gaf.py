"""GramianAngularField: hand-computed fields, pyts agreement, exact round trips, errors, JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from netdiffus.errors import ConfigError, DatasetError
from netdiffus.imaging import GramianAngularField, gadf, gasf, paa, paa_inverse
from netdiffus.imaging.scaling import SCALING_MODES

R3 = np.sqrt(3.0) / 2.0
# x01 = [0, 1/2, 1]  ->  phi = [pi/2, pi/3, 0]
GASF_3X3 = np.array([[-1.0, -R3, 0.0], [-R3, -0.5, 0.5], [0.0, 0.5, 1.0]])  # cos(phi_i + phi_j)
GADF_3X3 = np.array([[0.0, 0.5, 1.0], [-0.5, 0.0, R3], [-1.0, -R3, 0.0]])  # sin(phi_i - phi_j)


def _traces(n: int = 8, c: int = 2, t: int = 16, seed: int = 0) -> np.ndarray:
    """Positive bytes-like traces [N, C, T] with a wide range, a zero and a large value."""
    rng = np.random.default_rng(seed)
    x = np.round(rng.lognormal(8.0, 2.0, size=(n, c, t)))
    x[0, 0, 0] = 0.0
    x[1, -1, 3] = 5.0e6
    return x


@pytest.mark.parametrize(("fn", "expected"), [(gasf, GASF_3X3), (gadf, GADF_3X3)], ids=["gasf", "gadf"])
def test_hand_computed_3x3(fn, expected):
    np.testing.assert_allclose(fn(np.array([0.0, 0.5, 1.0])), expected, atol=1e-15)


@pytest.mark.parametrize(
    ("method", "scaling", "x", "expected"),
    [
        ("summation", "per-series", [2.0, 4.0, 6.0], GASF_3X3),
        ("difference", "per-series", [2.0, 4.0, 6.0], GADF_3X3),
        ("summation", "global-linear", [2.0, 4.0, 6.0], GASF_3X3),
        ("summation", "global-log", [0.0, 9.0, 99.0], GASF_3X3),  # log1p: 0, ln 10, ln 100
        ("summation", "per-series-log", [0.0, 9.0, 99.0], GASF_3X3),
    ],
)
def test_estimator_hand_computed_3x3(method, scaling, x, expected):
    x = np.array(x)[None, None, :]
    images = GramianAngularField(method=method, scaling=scaling).fit(x).transform(x)
    assert images.shape == (1, 1, 3, 3) and images.dtype == np.float64
    np.testing.assert_allclose(images[0, 0], expected, atol=1e-12)


def test_multichannel_shapes():
    x = _traces(n=5, c=3, t=10)
    gaf = GramianAngularField().fit(x)
    images = gaf.transform(x)
    assert images.shape == (5, 3, 10, 10)
    for ch in range(3):  # channels are imaged independently
        single = GramianAngularField().fit(x[:, ch : ch + 1]).transform(x[:, ch : ch + 1])
        np.testing.assert_array_equal(images[:, ch : ch + 1], single)


@pytest.mark.parametrize("scaling", SCALING_MODES)
@pytest.mark.parametrize("gamma", [1.0, 0.25])
@pytest.mark.parametrize("inversion", ["diagonal", "projection"])
def test_exact_round_trip(scaling, gamma, inversion):
    x = _traces()
    gaf = GramianAngularField(scaling=scaling, gamma=gamma, inversion=inversion).fit(x)
    scale = gaf.trace_scale(x) if scaling.startswith("per-series") else None
    # GASF values near -1 hold a small x only to float64 rounding (cos 2phi = 2x^2 - 1), so the
    # error is bounded relative to the range the scaling maps to [0, 1], not to each value
    atol = 1e-9 * _range(x, per_trace=scale is not None)
    back = gaf.inverse_transform(gaf.transform(x), scale=scale)
    np.testing.assert_array_less(np.abs(back - x), atol + 1e-9 * np.abs(x) + 1e-300)
    # the torch twin, float64 on CPU
    xt = torch.from_numpy(x)
    images_t = gaf.transform_torch(xt)
    np.testing.assert_allclose(images_t.numpy(), gaf.transform(x), atol=1e-12)
    back_t = gaf.inverse_transform_torch(images_t, scale=None if scale is None else torch.from_numpy(scale))
    np.testing.assert_array_less(np.abs(back_t.numpy() - x), atol + 1e-9 * np.abs(x) + 1e-300)


def _range(x: np.ndarray, *, per_trace: bool) -> np.ndarray:
    """Value range per trace and channel ``[N, C, 1]``, or per channel ``[1, C, 1]``."""
    axes = (2,) if per_trace else (0, 2)
    return x.max(axis=axes, keepdims=True) - x.min(axis=axes, keepdims=True)


def test_torch_float32_keeps_dtype_and_matches():
    x = _traces()
    gaf = GramianAngularField(gamma=0.25).fit(x)
    images = gaf.transform_torch(torch.from_numpy(x).float())
    assert images.dtype == torch.float32
    np.testing.assert_allclose(images.numpy(), gaf.transform(x), atol=1e-5)
    back = gaf.inverse_transform_torch(images, inversion="projection")
    assert back.dtype == torch.float32 and back.shape == (8, 2, 16)
    np.testing.assert_allclose(back.numpy(), x, rtol=1e-3)


def test_paa_inverse_equals_paa_series():
    x = _traces(t=16)
    gaf = GramianAngularField(image_size=6, scaling="global-log").fit(x)
    images = gaf.transform(x)
    assert images.shape == (8, 2, 6, 6)
    back = gaf.inverse_transform(images)
    assert back.shape == x.shape
    np.testing.assert_allclose(back, paa_inverse(paa(x, size=6), length=16), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(paa(back, size=6), paa(x, size=6), rtol=1e-9, atol=1e-9)
    back_t = gaf.inverse_transform_torch(gaf.transform_torch(torch.from_numpy(x)))
    np.testing.assert_allclose(back_t.numpy(), back, rtol=1e-9, atol=1e-9)


def test_projection_beats_diagonal_on_noisy_images():
    x = _traces(n=32, c=1, t=24)
    gaf = GramianAngularField().fit(x)
    rng = np.random.default_rng(0)
    noisy = gaf.transform(x) + rng.normal(0.0, 0.05, size=(32, 1, 24, 24))
    err = {inv: np.abs(gaf.inverse_transform(noisy, inversion=inv) - x).mean() for inv in ("diagonal", "projection")}
    assert err["projection"] < 0.5 * err["diagonal"]
    c_clean, c_noisy = gaf.consistency(gaf.transform(x)), gaf.consistency(noisy)
    assert c_clean.shape == (32,) and c_clean.max() < 1e-9 and c_noisy.min() > 0.01


def test_global_scaling_clips_and_counts():
    gaf = GramianAngularField(scaling="global-linear").fit(np.array([[[0.0, 10.0, 5.0]]]))
    z = gaf.scale(np.array([[[-5.0, 20.0, 5.0]]]))
    assert z.tolist() == [[[0.0, 1.0, 0.5]]]
    assert gaf.scaler_.n_clipped_ == 2


def test_per_series_sampled_scale_round_trip():
    x = _traces(n=12, c=1)
    labels = ["a"] * 6 + ["b"] * 6
    gaf = GramianAngularField(scaling="per-series-log").fit(x, labels=labels)
    scale = gaf.sample_scale(labels, seed=3)
    assert scale.shape == (12, 1, 2)
    back = gaf.inverse_transform(gaf.transform(x), scale=scale)
    # a generated trace spans exactly its sampled scale
    np.testing.assert_allclose(back.min(axis=2), scale[..., 0], rtol=1e-9)
    np.testing.assert_allclose(back.max(axis=2), scale[..., 1], rtol=1e-9)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "cosine"}, "method must be 'summation' or 'difference' (got 'cosine')"),
        (
            {"scaling": "minmax"},
            "scaling must be one of global-log, global-linear, per-series, per-series-log (got 'minmax')",
        ),
        ({"gamma": 0.0}, "gamma must be a number > 0 (got 0.0)"),
        ({"inversion": "svd"}, "inversion must be 'diagonal' or 'projection' (got 'svd')"),
        ({"projection_steps": -1}, "projection_steps must be an integer >= 0 (got -1)"),
        ({"image_size": 0}, "image_size must be an integer >= 1 (got 0)"),
        ({"image_size": 17}, "image_size must be between 1 and the series length 16 (got 17)"),
    ],
)
def test_fit_errors(kwargs, message):
    with pytest.raises(ConfigError) as exc:
        GramianAngularField(**kwargs).fit(_traces())
    assert str(exc.value) == message


def test_use_errors():
    x = _traces()
    with pytest.raises(ConfigError, match=r"^GramianAngularField is not fitted: call fit\(x\) first$"):
        GramianAngularField().transform(x)
    gadf_field = GramianAngularField(method="difference").fit(x)
    with pytest.raises(ConfigError) as exc:
        gadf_field.inverse_transform(gadf_field.transform(x))
    assert str(exc.value) == "method 'difference' (GADF) is not invertible: use method 'summation'"
    per = GramianAngularField(scaling="per-series").fit(x)
    with pytest.raises(ConfigError) as exc:
        per.inverse_transform(per.transform(x))
    assert str(exc.value).startswith("scaling 'per-series' needs scale [N, C, 2]")
    with pytest.raises(ConfigError) as exc:
        per.sample_scale(["a"])
    assert str(exc.value) == (
        "no scale model: sample_scale needs a per-series scaling fitted with labels (scaling is 'per-series')"
    )
    glob = GramianAngularField().fit(x)
    with pytest.raises(ConfigError) as exc:
        glob.inverse_transform(glob.transform(x), scale=glob.trace_scale(x))
    assert str(exc.value) == "scale is only used by the per-series scaling modes (scaling is 'global-log')"
    with pytest.raises(DatasetError) as exc:
        glob.inverse_transform(np.zeros((2, 2, 16, 15)))
    assert str(exc.value) == "images must have shape [N, 2, 16, 16] (got shape (2, 2, 16, 15))"
    with pytest.raises(DatasetError) as exc:
        glob.transform(x[:, :, :10])
    assert str(exc.value) == "series must have shape [N, 2, 16] as fitted (got shape (8, 2, 10))"
    with pytest.raises(DatasetError) as exc:
        glob.transform(-x)
    assert str(exc.value).startswith("scaling 'global-log' needs values >= 0 (got minimum")
    with pytest.raises(ConfigError) as exc:
        glob.inverse_transform(glob.transform(x), inversion="svd")
    assert str(exc.value) == "inversion must be 'diagonal' or 'projection' (got 'svd')"


@pytest.mark.parametrize("scaling", SCALING_MODES)
def test_json_round_trip(scaling):
    x = _traces()
    labels = ["a", "b"] * 4
    gaf = GramianAngularField(scaling=scaling, gamma=0.25, image_size=8, inversion="projection").fit(x, labels=labels)
    again = GramianAngularField.from_json(json.loads(json.dumps(gaf.to_json())))
    np.testing.assert_array_equal(again.transform(x), gaf.transform(x))
    scale = gaf.sample_scale(labels, seed=1) if scaling.startswith("per-series") else None
    if scale is not None:
        np.testing.assert_array_equal(again.sample_scale(labels, seed=1), scale)
    images = gaf.transform(x)
    np.testing.assert_array_equal(
        again.inverse_transform(images, scale=scale), gaf.inverse_transform(images, scale=scale)
    )


@pytest.mark.parametrize("key, value, message", [
    ("min", [0.0, 0.0, 0.0], "scaler.min must hold one value per channel, 1 (got 3 values)"),
    ("max", [], "scaler.max must hold one value per channel, 1 (got 0 values)"),
    ("max", 5.0, "scaler.max must hold one value per channel, 1 (got an array of shape [])"),
    ("min", [[0.0]], "scaler.min must hold one value per channel, 1 (got an array of shape [1, 1])"),
])  # fmt: skip
def test_a_saved_scale_that_does_not_follow_the_channels_is_named(key, value, message):
    data = GramianAngularField(scaling="global-log").fit(_traces()[:, :1]).to_json()
    data["scaler"][key] = value
    with pytest.raises(ConfigError) as exc:
        GramianAngularField.from_json(data)
    assert str(exc.value) == message


def test_float_only_no_png_or_uint8_path():
    # the rule: no PNG or uint8 path in imaging, training or sampling
    src = Path(__file__).resolve().parents[3] / "src" / "netdiffus"
    files = [*src.joinpath("imaging").glob("*.py"), *src.joinpath("diffusion").glob("*.py")]
    files += [p for p in (src / "training.py", src / "synthesizer.py") if p.exists()]
    for path in files:
        text = path.read_text().lower()
        for word in ("uint8", "import pil", "from pil", "imageio", "cv2", ".png", "imsave"):
            assert word not in text, f"{path.name}: {word}"


def test_two_dimensional_series_are_one_channel():
    x = _traces(c=1)
    gaf = GramianAngularField().fit(x[:, 0])
    np.testing.assert_array_equal(gaf.transform(x[:, 0]), gaf.transform(x))
    np.testing.assert_allclose(gaf.transform_torch(torch.from_numpy(x[:, 0])).numpy(), gaf.transform(x), atol=1e-12)


@pytest.mark.parametrize("gamma", [1.0, 0.25])
def test_project_torch_in_model_space(gamma):
    x = _traces(n=6, c=2, t=12)
    gaf = GramianAngularField(gamma=gamma).fit(x)
    images = gaf.transform_torch(torch.from_numpy(x))
    np.testing.assert_allclose(gaf.project_torch(images).numpy(), images.numpy(), atol=1e-9)
    noisy = images + 0.05 * torch.randn(images.shape, generator=torch.Generator().manual_seed(0), dtype=images.dtype)
    projected = gaf.project_torch(noisy)
    assert projected.shape == noisy.shape
    assert gaf.consistency_torch(projected).max() < 1e-6 < gaf.consistency_torch(noisy).min()
    # a projected image inverts the same way by either method
    np.testing.assert_allclose(
        gaf.inverse_transform_torch(projected, inversion="diagonal").numpy(),
        gaf.inverse_transform_torch(projected, inversion="projection").numpy(),
        rtol=1e-6,
        atol=1e-6,
    )


def test_sample_scale_given_images():
    x = _traces(n=40, c=2, t=16, seed=4)
    labels = ["a", "b"] * 20
    gaf = GramianAngularField(scaling="per-series-log", gamma=0.25, inversion="projection").fit(x, labels=labels)
    images = gaf.transform(x)
    by_image = gaf.sample_scale(labels, seed=2, images=images)
    assert by_image.shape == (40, 2, 2) and np.all(by_image[..., 0] <= by_image[..., 1])
    np.testing.assert_allclose(
        gaf.sample_scale(labels, seed=2, images=torch.from_numpy(images).float()), by_image, rtol=1e-3
    )
    assert not np.array_equal(by_image, gaf.sample_scale(labels, seed=2))
    back = gaf.inverse_transform(images, scale=by_image)
    np.testing.assert_allclose(back.max(axis=2), by_image[..., 1], rtol=1e-9)
