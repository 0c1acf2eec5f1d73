"""Run folders saved by earlier versions still load and sample what they sampled then.

``tests/data/runs/v0.1.0/`` holds two small runs (GASF images; 1-D series with a per-series
scaling) saved by netdiffus 0.1.0 before the architecture change, with the traces they sampled
(``make_fixture.py`` made them).
"""

import json
from pathlib import Path

import numpy as np
import pytest

from netdiffus import TrafficSynthesizer

RUNS = Path(__file__).resolve().parents[1] / "data" / "runs" / "v0.1.0"
#: float32 sums in another order (another thread count, another CPU) move a value by about 1e-6
#: of itself; any change of the math moves it by far more.
RTOL = 1e-5


@pytest.mark.parametrize("name", ["gasf", "series"])
def test_a_run_saved_by_0_1_0_samples_what_it_sampled_then(name):
    run = RUNS / name
    synth = TrafficSynthesizer.load(run, progress=False)
    fake = synth.sample(10, seed=3)
    assert fake.labels == json.loads((run / "expected_labels_seed3.json").read_text())
    np.testing.assert_allclose(fake.series, np.load(run / "expected_sample_seed3.npy"), rtol=RTOL, atol=0)
    raw = synth.sample(6, seed=5, raw=True, labels=[synth.classes_[1]] * 6)
    np.testing.assert_allclose(raw.series, np.load(run / "expected_raw_seed5.npy"), rtol=RTOL, atol=0)
