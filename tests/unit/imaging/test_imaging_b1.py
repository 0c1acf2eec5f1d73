"""On real B1 series (../shared/data): exact round trips and projection < diagonal under noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from netdiffus.imaging import GramianAngularField
from netdiffus.io.csv_traces import read_csv_traces

TRACES = Path(__file__).resolve().parents[3] / ".." / "shared" / "data" / "videotrain" / "traces"

pytestmark = [
    pytest.mark.data,
    pytest.mark.skipif(not TRACES.is_dir(), reason="../shared/data/videotrain is absent"),
]


@pytest.fixture(scope="module")
def b1() -> tuple[np.ndarray, list[str]]:
    ds, _ = read_csv_traces(TRACES, column="frame_sum_dl", length=60, aggregate=4, bin_width_s=0.5, unit="bytes")
    return ds.series.astype(np.float64), list(ds.labels)


def test_b1_round_trip_and_noise(b1):
    x, labels = b1
    assert x.shape == (636, 1, 60)
    gaf = GramianAngularField().fit(x)
    images = gaf.transform(x)
    np.testing.assert_allclose(gaf.inverse_transform(images), x, rtol=1e-9, atol=1e-6)
    rng = np.random.default_rng(0)
    x, images = x[::4], images[::4]  # 159 traces, all classes: enough, and quick
    for sigma in (0.02, 0.2):
        noisy = images + rng.normal(0.0, sigma, images.shape)
        diag = np.abs(gaf.inverse_transform(noisy, inversion="diagonal") - x).mean()
        proj = np.abs(gaf.inverse_transform(noisy, inversion="projection") - x).mean()
        assert proj < 0.5 * diag, (sigma, proj, diag)


def test_b1_per_series_with_generated_scale(b1):
    x, labels = b1
    gaf = GramianAngularField(scaling="per-series").fit(x, labels=labels)
    scale = gaf.sample_scale(labels, seed=0)
    back = gaf.inverse_transform(gaf.transform(x), scale=scale)
    assert np.all(np.isfinite(back)) and np.all(back >= 0)
    # per class, the sampled trace maxima follow the real ones in log space
    lab = np.array(labels)
    for cls in sorted(set(labels)):
        real, synth = np.log1p(x[lab == cls].max(axis=(1, 2))), np.log1p(back[lab == cls].max(axis=(1, 2)))
        assert abs(real.mean() - synth.mean()) < 0.15
