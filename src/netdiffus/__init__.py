"""netdiffus: synthetic network traffic from diffusion models on Gramian Angular Field images.

Implements the NetDiffus method (Sivaroopan et al., Computer Networks 2024): traces become 1-D
series, series become GASF images, a class-conditional diffusion model learns the images, and
sampled images are inverted back to series in original units.

Examples
--------
Your dataset comes from ``netdiffus prepare``; here the demo traces shipped with the package are
written to a temporary file to stand in for it:

>>> import tempfile
>>> from netdiffus import TrafficSynthesizer, read_dataset, write_dataset
>>> from netdiffus.demo import load_demo_dataset
>>> path = write_dataset(load_demo_dataset(), tempfile.mkdtemp() + "/dataset.parquet")
>>> ds = read_dataset(path)
>>> ds.series.shape, ds.classes
((163, 1, 60), ['Facebook/V360', 'Facebook/VNormal', 'YouTube/V360', 'YouTube/VNormal'])

The ``demo`` preset trains 1000 steps and samples with 50; two of each keep this example fast:

>>> synth = TrafficSynthesizer.from_preset(
...     "demo", overrides=["train.steps=2", "sample.steps=2"], progress=False).fit(ds)
>>> fake = synth.sample(100, seed=0)
>>> fake.series.shape, fake.classes == ds.classes
((100, 1, 60), True)
"""

import os as _os

# OpenMP threads that spin while waiting collapse when the cores are shared (another training
# run, a benchmark, CI neighbours): a 2-thread training step measured 13 s spinning against
# 0.6 s sleeping on a loaded 2-core machine. Threads that sleep cost little on an idle one.
# It only takes effect if set before torch starts its thread pool; a user's own setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from netdiffus.io.dataset import DatasetMeta, TraceDataset, read_dataset, write_dataset  # noqa: E402

__version__ = "0.1.0"

__all__ = ["DatasetMeta", "TraceDataset", "TrafficSynthesizer", "read_dataset", "write_dataset", "__version__"]


def __getattr__(name: str):
    # TrafficSynthesizer needs torch, which takes seconds to import: importing it on first use
    # keeps `import netdiffus` (and every `netdiffus --help`) free of it.
    if name == "TrafficSynthesizer":
        from netdiffus.synthesizer import TrafficSynthesizer

        return TrafficSynthesizer
    raise AttributeError(f"module 'netdiffus' has no attribute {name!r}")
