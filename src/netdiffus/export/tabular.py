"""Series -> tables: Parquet (the dataset format) and a wide CSV.

The CSV has one row per trace: ``id, label, source``, then one column per bin and channel named
``<channel>_<bin>`` (``frame_sum_dl_0 ... frame_sum_dl_59``), values in original units with 9
significant digits (a float32 value reads back exactly).

Examples
--------
>>> import numpy as np, tempfile, pathlib
>>> from netdiffus.io.dataset import TraceDataset, DatasetMeta
>>> ds = TraceDataset(series=np.array([[[1.5, 2.0]]]), labels=["a"], ids=["t0"], sources=["s"],
...                   meta=DatasetMeta(channels=["bytes"]))
>>> p = write_csv(ds, pathlib.Path(tempfile.mkdtemp()) / "x.csv")
>>> p.read_text().splitlines()
['id,label,source,bytes_0,bytes_1', 't0,a,s,1.5,2']
"""

from __future__ import annotations

import csv
from pathlib import Path

from netdiffus.io.dataset import TraceDataset, atomic_path, write_dataset

__all__ = ["write_csv", "write_parquet"]

write_parquet = write_dataset


def write_csv(dataset: TraceDataset, path: str | Path) -> Path:
    """Write ``dataset`` as a wide CSV (one row per trace), atomically."""
    path = Path(path)
    n, c, t = dataset.series.shape
    header = ["id", "label", "source"] + [f"{ch}_{i}" for ch in dataset.meta.channels for i in range(t)]
    flat = dataset.series.reshape(n, c * t)
    with atomic_path(path) as tmp:
        with tmp.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            for i in range(n):
                w.writerow([dataset.ids[i], dataset.labels[i], dataset.sources[i]] + [f"{v:.9g}" for v in flat[i]])
    return path
