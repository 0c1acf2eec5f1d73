"""PAA (and its lossy inverse) and the Markov transition field."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from netdiffus.errors import ConfigError, DatasetError
from netdiffus.imaging import MarkovTransitionField, paa, paa_inverse, paa_inverse_torch, paa_torch
from netdiffus.imaging.paa import paa_bounds


@pytest.mark.parametrize(
    ("length", "size", "bounds"),
    [(6, 3, [0, 2, 4, 6]), (7, 3, [0, 2, 5, 7]), (5, 5, [0, 1, 2, 3, 4, 5]), (5, 1, [0, 5]), (10, 4, [0, 2, 5, 8, 10])],
)
def test_bounds(length, size, bounds):
    assert paa_bounds(length, size).tolist() == bounds


def test_paa_hand_computed():
    x = np.array([1.0, 3.0, 2.0, 4.0, 6.0, 9.0, 0.0])  # T=7, S=3: bins [0,2) [2,5) [5,7)
    np.testing.assert_allclose(paa(x, size=3), [2.0, 4.0, 4.5])
    np.testing.assert_allclose(paa_inverse(paa(x, size=3), length=7), [2.0, 2.0, 4.0, 4.0, 4.0, 4.5, 4.5])


@pytest.mark.parametrize(("length", "size"), [(60, 20), (61, 20), (13, 5), (8, 8)])
def test_paa_inverse_equals_paa_series(length, size):
    x = np.random.default_rng(0).lognormal(5, 2, size=(4, 2, length))
    p = paa(x, size=size)
    back = paa_inverse(p, length=length)
    assert back.shape == x.shape
    np.testing.assert_allclose(paa(back, size=size), p, rtol=1e-12)
    # the mean over each segment (so bytes per bin are kept on average) is preserved
    np.testing.assert_allclose(back.sum(-1), x.sum(-1), rtol=1e-12)
    xt = torch.from_numpy(x)
    np.testing.assert_allclose(paa_torch(xt, size=size).numpy(), p, rtol=1e-12)
    np.testing.assert_allclose(paa_inverse_torch(torch.from_numpy(p), length=length).numpy(), back)


def test_paa_errors():
    with pytest.raises(ConfigError) as err:
        paa(np.ones(4), size=5)
    assert str(err.value) == "image_size must be between 1 and the series length 4 (got 5)"


def test_mtf_hand_computed():
    x = np.array([[[1.0, 2.0, 1.0, 2.0]]])
    m = MarkovTransitionField(n_bins=2).fit(x).transform(x)
    assert m.shape == (1, 1, 4, 4)
    np.testing.assert_array_equal(m[0, 0], [[0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0]])
    # multi-channel input, PAA-averaged blocks
    x2 = np.random.default_rng(0).normal(size=(3, 2, 12))
    out = MarkovTransitionField(n_bins=3, image_size=4).fit(x2).transform(x2)
    assert out.shape == (3, 2, 4, 4) and np.all((out >= 0) & (out <= 1))


@pytest.mark.parametrize(
    ("call", "exc", "message"),
    [
        (
            lambda x: MarkovTransitionField().fit(x).inverse_transform(np.zeros((1, 1, 5, 5))),
            ConfigError,
            "the Markov transition field is not invertible (it keeps only quantile-bin transition frequencies): "
            "use GramianAngularField(method='summation') to generate traces",
        ),
        (lambda x: MarkovTransitionField(n_bins=1).fit(x), ConfigError, "n_bins must be an integer >= 2 (got 1)"),
        (
            lambda x: MarkovTransitionField().transform(x),
            ConfigError,
            "MarkovTransitionField is not fitted: call fit(x) first",
        ),
        (
            lambda x: MarkovTransitionField().fit(x).transform(x[..., :4]),
            DatasetError,
            "series must have 5 bins as fitted (got 4)",
        ),
    ],
)
def test_mtf_errors(call, exc, message):
    with pytest.raises(exc) as err:
        call(np.arange(5.0)[None, None])
    assert str(err.value) == message
