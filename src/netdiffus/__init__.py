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
