"""Reference outputs of pyts (a test-only dependency) for the imaging tests.

``import pyts`` compiles its numba kernels on every start (about 30 s here), so the default tests
compare against ``data/pyts_golden.npz`` written by this module, and the ``slow`` tests run pyts
live on the same inputs. Regenerate with::

    python tests/unit/imaging/pyts_reference.py
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

GOLDEN = Path(__file__).with_name("data") / "pyts_golden.npz"

# (key, kind, parameters): the cases compared with pyts
CASES = [
    ("gasf_full", "gaf", {"method": "summation", "image_size": 24}),
    ("gadf_full", "gaf", {"method": "difference", "image_size": 24}),
    ("gasf_paa8", "gaf", {"method": "summation", "image_size": 8}),
    ("gadf_paa6", "gaf", {"method": "difference", "image_size": 6}),
    ("mtf_full", "mtf", {"n_bins": 4, "image_size": 24}),
    ("mtf_paa8", "mtf", {"n_bins": 5, "image_size": 8}),
    ("paa8", "paa", {"image_size": 8}),
]


def inputs() -> np.ndarray:
    """Random series ``[10, 24]`` shared by every case (continuous: no tied quantiles)."""
    return np.random.default_rng(1).normal(size=(10, 24))


def pyts_outputs() -> dict[str, np.ndarray]:
    """Run pyts on :func:`inputs` for every case in :data:`CASES`."""
    from pyts.approximation import PiecewiseAggregateApproximation
    from pyts.image import GramianAngularField, MarkovTransitionField

    x = inputs()
    out = {}
    for key, kind, p in CASES:
        if kind == "gaf":
            est = GramianAngularField(image_size=p["image_size"], sample_range=(0, 1), method=p["method"])
        elif kind == "mtf":
            est = MarkovTransitionField(image_size=p["image_size"], n_bins=p["n_bins"], strategy="quantile")
        else:
            est = PiecewiseAggregateApproximation(window_size=None, output_size=p["image_size"])
        out[key] = est.fit_transform(x)
    return out


if __name__ == "__main__":
    GOLDEN.parent.mkdir(exist_ok=True)
    np.savez_compressed(GOLDEN, x=inputs(), **pyts_outputs())
