"""Foundation round trip: a real trace -> GASF -> inverse returns bytes per bin to 1e-6 (float64)."""

import numpy as np

from netdiffus.demo import load_demo_dataset
from netdiffus.imaging import GramianAngularField


def test_real_traces_round_trip_through_gasf():
    ds = load_demo_dataset()
    x = ds.series.astype(np.float64)
    gaf = GramianAngularField().fit(x)
    images = gaf.transform(x)
    assert images.shape == (163, 1, 60, 60) and images.dtype == np.float64
    back = gaf.inverse_transform(images)
    rel = np.abs(back - x) / np.maximum(np.abs(x), 1.0)
    assert rel.max() < 1e-6
