"""Make the run-folder fixtures saved by netdiffus 0.1.0 before the architecture change."""
import json
import sys
from pathlib import Path

import numpy as np

from netdiffus import TrafficSynthesizer
from netdiffus.demo import load_demo_dataset

out = Path(sys.argv[1])
ds = load_demo_dataset()
# 6 traces per class, in order
idx = []
for c in ds.classes:
    idx += [i for i, lab in enumerate(ds.labels) if lab == c][:6]
small = ds.subset(idx)
cases = {
    "gasf": ("demo", ["train.steps=30", "model.base_channels=8", "sample.steps=4", "train.log_every=10"]),
    "series": ("demo", ["train.steps=30", "model.base_channels=8", "sample.steps=4", "train.log_every=10",
                        "imaging.representation=series", "model.output=image", "diffusion.prediction=v",
                        "imaging.scaling=per-series-log", "model.gasf_head=patch"]),
}
for name, (preset, ov) in cases.items():
    synth = TrafficSynthesizer.from_preset(preset, overrides=ov, progress=False)
    synth.fit(small, run_dir=out / name)
    fake = synth.sample(10, seed=3)
    raw = synth.sample(6, seed=5, raw=True, labels=[small.classes[1]] * 6)
    np.save(out / name / "expected_sample_seed3.npy", fake.series, allow_pickle=False)
    np.save(out / name / "expected_raw_seed5.npy", raw.series, allow_pickle=False)
    (out / name / "expected_labels_seed3.json").write_text(json.dumps(fake.labels))
    (out / name / "metrics.jsonl").unlink()
