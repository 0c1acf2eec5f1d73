"""Agreement with pyts to 1e-6: GASF, GADF (with PAA), MTF and PAA on random series.

The default tests read pyts' outputs from a golden file (see ``pyts_reference.py``); the slow
test runs pyts itself on the same inputs.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from netdiffus.imaging import GramianAngularField, MarkovTransitionField, paa

# the reference module sits next to this file; loaded by path (works in any pytest import mode)
_spec = importlib.util.spec_from_file_location("imaging_pyts_reference", Path(__file__).with_name("pyts_reference.py"))
ref_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ref_module)
CASES, GOLDEN, inputs = ref_module.CASES, ref_module.GOLDEN, ref_module.inputs


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
    ref = ref_module.pyts_outputs()
    for key, kind, params in CASES:
        np.testing.assert_allclose(_ours(kind, params, inputs()), ref[key], atol=1e-6, err_msg=key)
