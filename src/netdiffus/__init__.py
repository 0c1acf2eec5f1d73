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

from netdiffus._version import __version__
from netdiffus.io.dataset import DatasetMeta, TraceDataset, read_dataset, write_dataset

__all__ = ["DatasetMeta", "TraceDataset", "TrafficSynthesizer", "read_dataset", "write_dataset", "__version__"]


def __getattr__(name: str):
    # TrafficSynthesizer needs torch, which takes seconds to import: importing it on first use
    # keeps `import netdiffus` (and every `netdiffus --help`) free of it.
    if name == "TrafficSynthesizer":
        from netdiffus.synthesizer import TrafficSynthesizer

        return TrafficSynthesizer
    raise AttributeError(f"module 'netdiffus' has no attribute {name!r}")
