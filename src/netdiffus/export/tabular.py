"""Series -> tables: Parquet (the dataset format) and a wide CSV.

The CSV has one row per trace: ``id, label, source``, then one column per bin and channel named
``<channel>_<bin>`` (``frame_sum_dl_0 ... frame_sum_dl_59``), values in original units with 9
significant digits (a float32 value reads back exactly). Ids, labels and sources are data: one that
starts like a spreadsheet formula (``=``, ``+``, ``-``, ``@``, tab, carriage return) is written
after a ``'``, shown as text by spreadsheets and taken away when netdiffus reads the file.

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
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from netdiffus.files import atomic_path
from netdiffus.io.csv_common import escape_csv_text
from netdiffus.io.dataset import TRACE_COLUMNS, TraceDataset, write_dataset
from netdiffus.io.outputs import naming

if TYPE_CHECKING:
    from netdiffus.export.pcap import ExportSummary

__all__ = ["write_csv", "write_csv_parts", "write_exported_csv", "write_parquet"]

write_parquet = write_dataset


def _write_wide(path: Path, channels: Sequence[str], length: int, rows: Iterable[list]) -> Path:
    """One header (``id, label, source, <channel>_<bin> ...``), then ``rows``, atomically."""
    header = [*TRACE_COLUMNS] + [escape_csv_text(f"{ch}_{i}") for ch in channels for i in range(length)]
    with naming(path), atomic_path(path) as tmp:
        with tmp.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(header)
            w.writerows(rows)
    return path


def _text_cells(dataset: TraceDataset, i: int) -> list[str]:
    """The id, label and source of trace ``i``, as cells a spreadsheet shows as text (see
    :func:`~netdiffus.io.csv_common.escape_csv_text`)."""
    return [escape_csv_text(dataset.ids[i]), escape_csv_text(dataset.labels[i]), escape_csv_text(dataset.sources[i])]


def write_csv(dataset: TraceDataset, path: str | Path) -> Path:
    """Write ``dataset`` as a wide CSV (one row per trace), atomically."""
    return write_csv_parts([dataset], path, channels=dataset.meta.channels, length=dataset.length)


def write_csv_parts(parts: Iterable[TraceDataset], path: str | Path, *, channels: Sequence[str],
                    length: int) -> Path:
    """Write the traces of ``parts`` (datasets of ``channels`` x ``length`` bins, in order) as one
    wide CSV, atomically, holding one part in memory at a time."""
    return _write_wide(Path(path), channels, length, (row for ds in parts for row in _rows(ds)))


def _rows(dataset: TraceDataset) -> Iterator[list[str]]:
    n, c, t = dataset.series.shape
    flat = dataset.series.reshape(n, c * t)
    return (_text_cells(dataset, i) + [f"{v:.9g}" for v in flat[i]] for i in range(n))


def write_exported_csv(dataset: TraceDataset, summary: ExportSummary, path: str | Path) -> Path:
    """Write the series a capture holds (``summary.written``, after rounding to whole packets and
    bytes) in the same wide layout, as exact integers, one row per exported trace."""
    w = summary.written
    rows = (_text_cells(dataset, i) + w[j].reshape(-1).tolist() for j, i in enumerate(summary.trace_index))
    return _write_wide(Path(path), dataset.meta.channels, w.shape[2], rows)
