"""SeriesScaler modes and the class-conditional TraceScaleModel."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from netdiffus.errors import ConfigError, DatasetError
from netdiffus.imaging import SeriesScaler, TraceScaleModel


@pytest.mark.parametrize(
    ("mode", "x", "expected"),
    [
        ("global-log", [[[0.0, 9.0, 99.0]]], [[[0.0, 0.5, 1.0]]]),
        ("global-linear", [[[-2.0, 0.0, 2.0]]], [[[0.0, 0.5, 1.0]]]),
        ("per-series", [[[2.0, 4.0, 6.0]], [[1.0, 0.0, -1.0]]], [[[0.0, 0.5, 1.0]], [[1.0, 0.5, 0.0]]]),
        ("per-series-log", [[[0.0, 9.0, 99.0]], [[9.0, 99.0, 9.0]]], [[[0.0, 0.5, 1.0]], [[0.0, 1.0, 0.0]]]),
        ("per-series", [[[3.0, 3.0, 3.0]]], [[[0.0, 0.0, 0.0]]]),  # constant trace
    ],
)
def test_transform_hand_computed(mode, x, expected):
    x = np.array(x)
    s = SeriesScaler(mode=mode).fit(x)
    np.testing.assert_allclose(s.transform(x), expected, atol=1e-15)
    scale = s.trace_scale(x) if s.per_trace else None
    np.testing.assert_allclose(s.inverse_transform(s.transform(x), scale=scale), x, atol=1e-12)
    xt = torch.from_numpy(x)
    np.testing.assert_allclose(s.transform_torch(xt).numpy(), expected, atol=1e-15)
    back = s.inverse_transform_torch(s.transform_torch(xt), scale=None if scale is None else torch.from_numpy(scale))
    np.testing.assert_allclose(back.numpy(), x, atol=1e-12)


def test_trace_scale_is_min_max_in_original_units():
    x = np.array([[[5.0, 1.0, 3.0], [0.0, 7.0, 2.0]]])
    np.testing.assert_array_equal(SeriesScaler(mode="per-series-log").fit(x).trace_scale(x), [[[1.0, 5.0], [0.0, 7.0]]])


def test_per_series_transform_with_given_scale():
    x = np.array([[[2.0, 4.0, 6.0]]])
    s = SeriesScaler(mode="per-series").fit(x)
    np.testing.assert_allclose(s.transform(x, scale=np.array([[[0.0, 8.0]]])), [[[0.25, 0.5, 0.75]]])
    np.testing.assert_allclose(
        s.inverse_transform(np.array([[[0.0, 1.0]]]), scale=np.array([[[10.0, 20.0]]])), [[[10.0, 20.0]]]
    )


@pytest.mark.parametrize(
    ("mode", "x", "scale", "exc", "message"),
    [
        (
            "global-log",
            [[[-1.0, 2.0]]],
            None,
            DatasetError,
            "scaling 'global-log' needs values >= 0 (got minimum -1.0); "
            "use scaling 'global-linear' or 'per-series' for signed series",
        ),
        (
            "per-series",
            [[[1.0, 2.0]]],
            [[[3.0, 2.0]]],
            DatasetError,
            "scale must have min <= max for every trace and channel",
        ),
        (
            "per-series",
            [[[1.0, 2.0]]],
            [[3.0, 2.0]],
            DatasetError,
            "scale must have shape [N, C, 2] = [1, 1, 2] (got shape [1, 2])",
        ),
        (
            "global-linear",
            [[[1.0, 2.0]]],
            [[[1.0, 2.0]]],
            ConfigError,
            "scale is only used by the per-series scaling modes (scaling is 'global-linear')",
        ),
    ],
)
def test_transform_errors(mode, x, scale, exc, message):
    s = SeriesScaler(mode=mode).fit(np.abs(np.array(x)))
    with pytest.raises(exc) as err:
        s.transform(np.array(x), scale=None if scale is None else np.array(scale))
    assert str(err.value) == message


def test_fit_errors():
    with pytest.raises(
        ConfigError,
        match=r"^scaling must be one of global-log, global-linear, per-series, per-series-log \(got 'log'\)$",
    ):
        SeriesScaler(mode="log").fit(np.ones((1, 1, 3)))
    with pytest.raises(DatasetError, match=r"^cannot fit scaling: series contain NaN or infinite values$"):
        SeriesScaler().fit(np.array([[[1.0, np.nan]]]))
    with pytest.raises(DatasetError, match=r"^series must have shape \[N, C, T\] \(got shape \(3,\)\)$"):
        SeriesScaler().fit(np.ones(3))


def test_json_round_trip_of_scaler():
    x = np.random.default_rng(0).lognormal(5, 2, size=(4, 2, 7))
    s = SeriesScaler().fit(x)
    again = SeriesScaler.from_json(json.loads(json.dumps(s.to_json())))
    np.testing.assert_array_equal(again.transform(x), s.transform(x))


# -- TraceScaleModel --------------------------------------------------------------------------


def _two_classes(seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """Scales [40, 2, 2]: class 'small' around 1e2..1e4 bytes, class 'big' around 1e4..1e7."""
    rng = np.random.default_rng(seed)
    lo = np.concatenate([rng.normal(2.0, 0.3, (20, 2)), rng.normal(4.0, 0.3, (20, 2))])
    hi = lo + np.concatenate([rng.normal(2.0, 0.2, (20, 2)), rng.normal(3.0, 0.2, (20, 2))])
    scale = np.stack([10.0**lo, 10.0**hi], axis=-1)
    return scale, ["small"] * 20 + ["big"] * 20


def test_scale_model_samples_per_class():
    scale, labels = _two_classes()
    m = TraceScaleModel().fit(scale, labels=labels)
    s = m.sample(["small"] * 500 + ["big"] * 500, seed=0)
    assert s.shape == (1000, 2, 2)
    assert np.all(s[..., 0] <= s[..., 1]) and np.all(s >= 0)
    # class means recovered in the log domain
    for cls, sl in (("small", slice(0, 500)), ("big", slice(500, 1000))):
        real = np.log1p(scale[np.array(labels) == cls])
        np.testing.assert_allclose(np.log1p(s[sl]).mean(axis=0), real.mean(axis=0), atol=0.15)
        # within 3 standard deviations of the class mean (the component's clipping bounds)
        (comp,) = [cp for cp in m.components_ if cp["class"] == cls]
        flat = np.log1p(s[sl]).reshape(500, -1)
        assert np.all(flat >= comp["low"] - 1e-12) and np.all(flat <= comp["high"] + 1e-12)
        assert np.all(comp["high"] - comp["mean"] <= 3.0 * np.sqrt(np.diag(comp["cov"])) + 1e-12)
    # no scale is a copy of a training scale
    flat_real = {tuple(r) for r in scale.reshape(40, -1).round(6)}
    assert not any(tuple(r) in flat_real for r in s.reshape(1000, -1).round(6))


def test_scale_model_is_seeded():
    scale, labels = _two_classes()
    m = TraceScaleModel().fit(scale, labels=labels)
    a, b, c = m.sample(labels, seed=7), m.sample(labels, seed=7), m.sample(labels, seed=8)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    np.testing.assert_array_equal(m.sample(labels, seed=np.random.default_rng(7)), a)


def test_scale_model_small_class_gets_pooled_spread():
    scale, labels = _two_classes()
    scale = np.concatenate([scale, scale[:1] * 3.0])
    m = TraceScaleModel().fit(scale, labels=labels + ["single"])
    s = m.sample(["single"] * 200, seed=0)
    (comp,) = [cp for cp in m.components_ if cp["class"] == "single"]
    assert np.all(np.linalg.eigvalsh(comp["cov"]) > 0)
    # spread around the single trace's scale, never a copy of it
    assert np.all(np.abs(s - scale[-1]) > 0)
    np.testing.assert_allclose(np.log1p(s).mean(axis=0), np.log1p(scale[-1]), atol=0.2)
    assert np.log1p(s).std(axis=0).min() > 0.05


def test_scale_model_json_round_trip():
    scale, labels = _two_classes()
    m = TraceScaleModel().fit(scale, labels=labels)
    again = TraceScaleModel.from_json(json.loads(json.dumps(m.to_json())))
    np.testing.assert_array_equal(again.sample(labels, seed=1), m.sample(labels, seed=1))


@pytest.mark.parametrize(
    ("call", "exc", "message"),
    [
        (lambda m: m.sample(["huge"]), ConfigError, "labels must be classes seen in fit (big, small) (got 'huge')"),
        (
            lambda m: TraceScaleModel().sample(["big"]),
            ConfigError,
            "scale model is not fitted: call fit(scale, labels=...) first",
        ),
        (
            lambda m: TraceScaleModel().fit(np.ones((2, 1, 3)), labels=["a", "b"]),
            DatasetError,
            "scale must have shape [N, C, 2] (got shape [2, 1, 3])",
        ),
        (
            lambda m: TraceScaleModel().fit(np.ones((2, 1, 2)), labels=["a"]),
            DatasetError,
            "labels must have one entry per trace (2) (got 1)",
        ),
        (
            lambda m: TraceScaleModel(kind="kde").fit(np.ones((2, 1, 2)), labels=["a", "b"]),
            ConfigError,
            "kind must be 'gaussian' (got 'kde')",
        ),
        (
            lambda m: TraceScaleModel(prior_strength=-1).fit(np.ones((2, 1, 2)), labels=["a", "b"]),
            ConfigError,
            "prior_strength must be >= 0 (got -1)",
        ),
    ],
)
def test_scale_model_errors(call, exc, message):
    scale, labels = _two_classes()
    m = TraceScaleModel().fit(scale, labels=labels)
    with pytest.raises(exc) as err:
        call(m)
    assert str(err.value) == message


def test_scale_model_zero_inflation():
    # 3 of 4 traces of class 'a' have a minimum of exactly 0 bytes; the channel-1 maximum of
    # class 'b' is always 0 (a silent direction)
    rng = np.random.default_rng(0)
    n = 400
    lo = np.where(rng.random(n) < 0.75, 0.0, rng.lognormal(8, 1, n))
    hi = rng.lognormal(14, 0.3, n)
    scale_a = np.stack([np.stack([lo, hi], -1), np.stack([lo * 0, hi / 10], -1)], axis=1)  # [n, 2, 2]
    scale_b = scale_a.copy()
    scale_b[:, 1] = 0.0
    m = TraceScaleModel().fit(np.concatenate([scale_a, scale_b]), labels=["a"] * n + ["b"] * n)
    s = m.sample(["a"] * 4000 + ["b"] * 4000, seed=0)
    zero_share = (s[:4000, 0, 0] == 0).mean()
    assert abs(zero_share - (lo == 0).mean()) < 0.03
    positive = s[:4000, 0, 0][s[:4000, 0, 0] > 0]
    assert abs(np.log1p(positive).mean() - np.log1p(lo[lo > 0]).mean()) < 0.1
    assert np.all(s[4000:, 1] == 0.0) and np.all(s[:4000, 1, 0] == 0.0)
    assert np.all(s[..., 0] <= s[..., 1])


def _shape_linked(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Scaled series [n, 1, 20] whose mean sets the trace maximum (bursty shape <-> high max)."""
    rng = np.random.default_rng(seed)
    level = rng.uniform(0.1, 0.9, n)
    z = np.clip(level[:, None, None] + rng.normal(0, 0.05, (n, 1, 20)), 0, 1)
    z[:, :, 0], z[:, :, 1] = 0.0, 1.0  # per-series: min 0, max 1
    log_max = 14.0 - 4.0 * level + rng.normal(0, 0.1, n)
    scale = np.stack([np.full(n, 100.0), np.expm1(log_max)], axis=-1)[:, None, :]
    return z, scale, ["a"] * n


def test_scale_model_conditioned_on_shape():
    z, scale, labels = _shape_linked()
    m = TraceScaleModel().fit(scale, labels=labels, series01=z)
    assert m.n_shape_features_ == 3
    z_new, scale_new, _ = _shape_linked(seed=1)
    cond = m.sample(labels, seed=0, series01=z_new)
    marg = m.sample(labels, seed=0)
    err = lambda s: np.abs(np.log1p(s[:, 0, 1]) - np.log1p(scale_new[:, 0, 1])).mean()  # noqa: E731
    assert err(cond) < 0.2 < err(marg)
    np.testing.assert_array_equal(m.sample(labels, seed=0, series01=z_new), cond)
    again = TraceScaleModel.from_json(json.loads(json.dumps(m.to_json())))
    np.testing.assert_array_equal(again.sample(labels, seed=0, series01=z_new), cond)
    with pytest.raises(DatasetError) as err_:
        m.sample(labels, seed=0, series01=z_new[:10])
    assert str(err_.value) == "series01 must have shape [N, C, T] = [300, 1, T] (got shape [10, 1, 20])"
    with pytest.raises(ConfigError) as err_:
        TraceScaleModel().fit(scale, labels=labels).sample(labels, series01=z_new)
    assert str(err_.value) == "series01 needs a scale model fitted with series01 (this one was fitted without)"
