"""Agreement with pyts to 1e-6: GASF, GADF (with PAA), MTF and PAA on random series.

The default tests read pyts' outputs from a golden file (see ``pyts_reference.py``); the slow
test runs pyts itself on the same inputs.
"""

from __future__ import annotations

import numpy as np
import pytest
from pyts_reference import CASES, GOLDEN, inputs

from netdiffus.imaging import GramianAngularField, MarkovTransitionField, paa


def _ours(kind: str, p: dict, x: np.ndarray) -> np.ndarray:
    if kind == "gaf":
        # pyts rescales each series to sample_range by its own min-max: our per-series mode
        gaf = GramianAngularField(method=p["method"], scaling="per-series", image_size=p["image_size"])
        return gaf.fit(x[:, None]).transform(x[:, None])[:, 0]
    if kind == "mtf":
        mtf = MarkovTransitionField(n_bins=p["n_bins"], image_size=p["image_size"])
        return mtf.fit(x[:, None]).transform(x[:, None])[:, 0]
    return paa(x, size=p["image_size"])


@pytest.mark.parametrize(("key", "kind", "params"), CASES, ids=[c[0] for c in CASES])
def test_agrees_with_pyts_golden(key, kind, params):
    with np.load(GOLDEN, allow_pickle=False) as golden:
        np.testing.assert_array_equal(golden["x"], inputs())
        np.testing.assert_allclose(_ours(kind, params, golden["x"]), golden[key], atol=1e-6)


@pytest.mark.slow
def test_agrees_with_pyts_live():
    pytest.importorskip("pyts")
    from pyts_reference import pyts_outputs

    ref = pyts_outputs()
    for key, kind, params in CASES:
        np.testing.assert_allclose(_ours(kind, params, inputs()), ref[key], atol=1e-6, err_msg=key)
