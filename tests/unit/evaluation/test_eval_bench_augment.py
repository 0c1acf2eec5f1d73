"""Classic time-series augmentation of benchmarks/augment.py (the B4 baseline)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import augment as A  # noqa: E402

from netdiffus.io.dataset import TraceDataset  # noqa: E402


def series(n: int = 4, c: int = 2, t: int = 16) -> np.ndarray:
    return np.random.default_rng(0).lognormal(5, 1, size=(n, c, t))


# with no randomness asked for, every operation gives back its input
@pytest.mark.parametrize("op, kwargs", [
    (A.jitter, {"sigma": 0.0}),
    (A.scaling, {"sigma": 0.0}),
    (A.magnitude_warp, {"sigma": 0.0}),
    (A.time_warp, {"sigma": 0.0}),
    (A.window_slice, {"ratio": 1.0}),
])  # fmt: skip
def test_identity_without_randomness(op, kwargs):
    x = series()
    np.testing.assert_allclose(op(x, np.random.default_rng(0), **kwargs), x, rtol=1e-12)


@pytest.mark.parametrize("op", [A.jitter, A.scaling, A.magnitude_warp, A.time_warp, A.window_slice])
def test_shape_kept_and_seeded(op):
    x = series()
    a, b = op(x, np.random.default_rng(3)), op(x, np.random.default_rng(3))
    assert a.shape == x.shape
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, x)


def test_scaling_is_one_factor_per_trace_and_channel():
    x = series()
    ratio = A.scaling(x, np.random.default_rng(0)) / x
    np.testing.assert_allclose(ratio, ratio[..., :1].repeat(x.shape[2], axis=2))


def test_time_warp_keeps_the_end_points_and_shares_the_axis_across_channels():
    x = np.stack([np.arange(16.0), 2 * np.arange(16.0)])[None]  # [1, 2, 16]
    out = A.time_warp(x, np.random.default_rng(0), sigma=0.5)
    assert out[0, 0, 0] == 0 and out[0, 0, -1] == pytest.approx(15)
    np.testing.assert_allclose(out[0, 1], 2 * out[0, 0])  # same warped axis
    assert (np.diff(out[0, 0]) >= 0).all()  # a ramp stays a ramp


def test_mixup_stays_within_the_class():
    x = np.array([[[0.0, 0.0]], [[10.0, 10.0]], [[100.0, 100.0]]])
    out = A.mixup(x, ["a", "a", "b"], np.random.default_rng(0), alpha=1.0)
    assert 0 <= out[0, 0, 0] <= 10 and 0 <= out[1, 0, 0] <= 10
    assert out[2, 0, 0] == 100  # the only trace of class b mixes with itself


RNG = np.random.default_rng(0)


@pytest.mark.parametrize("call, message", [
    (lambda: A.jitter(np.zeros((2, 3)), RNG), "series must have shape [N, C, T] (got shape (2, 3))"),
    (lambda: A.window_slice(series(), RNG, ratio=0.0), "ratio must be in (0, 1] (got 0.0)"),
    (lambda: A.mixup(series(), ["a"], RNG), "labels must have one entry per trace (4) (got 1)"),
])  # fmt: skip
def test_errors_name_the_value(call, message):
    with pytest.raises(ValueError) as err:
        call()
    assert str(err.value) == message


def dataset() -> TraceDataset:
    x = np.concatenate([series(6, 1, 20), 100 * series(6, 1, 20)])
    x[:, :, :3] = 0  # empty bins
    labels = ["a"] * 6 + ["b"] * 6
    return TraceDataset(series=x, labels=labels, ids=[str(i) for i in range(12)], sources=["t"] * 12)


def test_augment_counts_signs_and_seed():
    tr = dataset()
    out = A.augment(tr, {"a": 7, "b": 13}, 0)
    assert out.class_counts() == {"a": 7, "b": 13}
    assert out.series.shape == (20, 1, 20) and (out.series >= 0).all()
    np.testing.assert_array_equal(out.series, A.augment(tr, {"a": 7, "b": 13}, 0).series)
    assert out.meta.extra["generator"] == "augment"
    # class b is 100x class a: each augmented trace stays near its class's volume
    tot = out.series.sum(axis=(1, 2))
    assert tot[:7].max() < tot[7:].min()


def test_augment_scaling_multiplies_the_values():
    tr = dataset()
    out = A.augment(tr, {"a": 50}, 0, methods=["scaling"])
    ratio = out.series.sum(axis=(1, 2)) / tr.series[:6].sum(axis=(1, 2)).mean()
    assert 0.3 < ratio.min() and ratio.max() < 3  # about N(1, 0.1) times a trace of the class


def test_augment_signed_series_keep_their_signs_under_window_free_ops():
    tr = dataset()
    tr.series = tr.series * np.where(np.arange(20) % 2, 1, -1)
    out = A.augment(tr, {"a": 10}, 0, methods=["jitter", "scaling"])
    assert (out.series < 0).any() and (out.series > 0).any()


@pytest.mark.parametrize("methods, message", [
    (["nope"], "augmentation methods must be among jitter, scaling, magnitude-warp, time-warp, window-slice, mixup "
               "(got ['nope'])"),
    ([], "augmentation methods must be among jitter, scaling, magnitude-warp, time-warp, window-slice, mixup (got [])"),
])  # fmt: skip
def test_augment_refuses_unknown_methods(methods, message):
    with pytest.raises(ValueError) as err:
        A.augment(dataset(), {"a": 1}, 0, methods=methods)
    assert str(err.value) == message


def test_augmenter_is_a_generator():
    gen = A.augmenter(["jitter"])
    out = gen(dataset(), {"b": 3}, 1)
    assert out.class_counts() == {"b": 3}
