"""netdiffus: synthetic network traffic from diffusion models on Gramian Angular Field images.

Implements the NetDiffus method (Sivaroopan et al., Computer Networks 2024): traces become 1-D
series, series become GASF images, a class-conditional diffusion model learns the images, and
sampled images are inverted back to series in original units.

Examples
--------
>>> from netdiffus import TrafficSynthesizer, read_dataset   # doctest: +SKIP
>>> ds = read_dataset("dataset.parquet")                      # doctest: +SKIP
>>> synth = TrafficSynthesizer.from_preset("demo").fit(ds)    # doctest: +SKIP
>>> fake = synth.sample(100, seed=0)                          # doctest: +SKIP
"""

from netdiffus.io.dataset import DatasetMeta, TraceDataset, read_dataset, write_dataset

__version__ = "0.1.0"

__all__ = ["DatasetMeta", "TraceDataset", "read_dataset", "write_dataset", "__version__"]
