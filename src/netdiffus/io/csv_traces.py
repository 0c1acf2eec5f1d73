"""Per-trace CSV files -> a :class:`~netdiffus.io.dataset.TraceDataset`.

The videoTrain layout: one CSV file per trace under a folder tree, one row per time bin, one
column per feature. The label of a trace is its folder path relative to the input folder
(``--label-from folder``), e.g. ``YouTube/V360``.

Examples
--------
>>> from pathlib import Path; import tempfile
>>> root = Path(tempfile.mkdtemp())
>>> for cls in ("a", "b"):
...     (root / cls).mkdir()
...     _ = (root / cls / "t1.csv").write_text("bytes\\n1\\n2\\n3\\n4\\n")
>>> ds, summary = read_csv_traces(root, column="bytes", aggregate=2)
>>> ds.series[:, 0].tolist(), ds.labels
([[3.0, 7.0], [3.0, 7.0]], ['a', 'b'])
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np

from netdiffus.errors import ConfigError, InputError
from netdiffus.io.csv_common import format_columns, open_csv, skip_file, unescape_csv_text
from netdiffus.io.dataset import DatasetMeta, TraceDataset
from netdiffus.io.labels import ColumnLabels, Labeler, parse_label_from
from netdiffus.io.summary import RepeatedWarnings

__all__ = ["read_csv_traces", "CsvReadSummary", "aggregate_bins", "fit_length", "data_length",
           "warn_short_default", "SHORT_TRACE_SHARE"]

log = logging.getLogger(__name__)

#: Without a length every trace is cut to the shortest: warned about when the shortest is under this
#: share of the median trace.
SHORT_TRACE_SHARE = 0.5

Padding = Literal["zero", "drop"]


@dataclass
class CsvReadSummary:
    """What a CSV read did: files read, files skipped with their reasons, traces per label.

    ``skipped`` holds (path, reason) pairs; the reason does not repeat the path (``line 7: column
    'bytes' has a non-numeric value ''``).
    """

    files_read: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    traces_per_label: dict[str, int] = field(default_factory=dict)


def aggregate_bins(x: np.ndarray, k: int) -> np.ndarray:
    """Sum groups of ``k`` consecutive bins: ``[..., T] -> [..., T // k]`` (a trailing partial group is dropped)."""
    if k < 1:
        raise ConfigError(f"aggregate must be >= 1 (got {k})")
    t = x.shape[-1] // k
    return x[..., : t * k].reshape(*x.shape[:-1], t, k).sum(axis=-1)


def fit_length(x: np.ndarray, length: int | None) -> np.ndarray:
    """Truncate ``x`` ``[..., T]`` to ``length`` bins or pad it with zeros (no traffic) up to it."""
    if length is None:
        return x
    if length < 1:
        raise ConfigError(f"length must be >= 1 (got {length})")
    t = x.shape[-1]
    if t >= length:
        return x[..., :length]
    pad = np.zeros((*x.shape[:-1], length - t), dtype=x.dtype)
    return np.concatenate([x, pad], axis=-1)


def data_length(n_rows: int, *, length: int | None, aggregate: int) -> int:
    """Bins of a trace of ``n_rows`` rows that hold data once it is cut or padded to ``length``
    bins of ``aggregate`` rows (a last, partial group of rows counts when it is padded to ``length``
    and is dropped without one, as :func:`fit_length` and :func:`aggregate_bins` do).

    >>> data_length(10, length=None, aggregate=4), data_length(10, length=5, aggregate=4)
    (2, 3)
    >>> data_length(10, length=2, aggregate=4)
    2
    """
    if length is None:
        return n_rows // aggregate
    return -(-min(n_rows, length * aggregate) // aggregate)


def warn_short_default(lengths: Sequence[int], where: Sequence[str]) -> None:
    """Warn when the shortest of ``lengths`` (bins), which every trace is cut to without a length,
    is under :data:`SHORT_TRACE_SHARE` of the median; ``where`` names each trace (its file)."""
    if len(lengths) < 2:
        return
    arr = np.asarray(lengths)
    i = int(np.argmin(arr))
    median = float(np.median(arr))
    if arr[i] < SHORT_TRACE_SHARE * median:
        log.warning("%s is the shortest trace (%d bins, the median %g): without --length every trace is cut to it; "
                    "give --length to keep more (shorter traces are then zero padded, and their length kept)",
                    where[i], arr[i], median)


def _read_column(path: Path, column: str, *, label_column: str | None = None) -> tuple[np.ndarray, str | None]:
    """The values of ``column`` of one per-trace file, and (with ``label_column``) the trace's
    label: that column's value, the same in every row (None if it is empty in every row)."""
    with open_csv(path) as reader:
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise InputError(f"{path}: file is empty") from None
        for name in (column, label_column):
            if name is not None and name not in header:
                raise InputError(f"{path}: no column {name!r} (columns: {format_columns(header)})")
        j = header.index(column)
        j_label = None if label_column is None else header.index(label_column)
        values: list[float] = []
        labels: set[str] = set()
        for lineno, row in enumerate(reader, start=2):
            if not row:
                continue
            try:
                values.append(float(row[j]))
            except (ValueError, IndexError):
                cell = row[j] if j < len(row) else "<missing>"
                raise InputError(f"{path}:{lineno}: column {column!r} has a non-numeric value {cell!r}") from None
            if j_label is not None and j_label < len(row) and row[j_label].strip():
                labels.add(unescape_csv_text(row[j_label].strip()))
    if not values:
        raise InputError(f"{path}: column {column!r} has no rows")
    if len(labels) > 1:
        shown = ", ".join(sorted(labels)[:3])
        raise InputError(f"{path}: column {label_column!r} changes within the file ({shown}): a trace file has one "
                         "label")
    arr = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        bad = int(np.flatnonzero(~np.isfinite(arr))[0]) + 2
        raise InputError(f"{path}:{bad}: column {column!r} has a NaN or infinite value")
    return arr, (labels.pop() if labels else None)


def read_csv_traces(
    input_dir: str | Path,
    *,
    column: str,
    length: int | None = None,
    aggregate: int = 1,
    label_from: str | Labeler = "folder",
    bin_width_s: float | None = None,
    unit: str = "",
    strict: bool = True,
    progress: Callable[[int, int], None] | None = None,
    warnings: RepeatedWarnings | None = None,
    label_root: Path | None = None,
    warn_short: bool = True,
) -> tuple[TraceDataset, CsvReadSummary]:
    """Read every ``*.csv`` under ``input_dir`` as one trace of ``column``.

    Parameters
    ----------
    input_dir : path
        Folder holding per-trace CSV files (searched recursively).
    column : str
        The column holding the series (e.g. ``frame_sum_dl``: downlink bytes per bin).
    length : int, optional
        Bins kept after aggregation (truncate, or zero-pad shorter traces). Default: the shortest
        trace's length, so all traces share one length.
    aggregate : int
        Sum groups of this many bins (after truncation to ``length * aggregate`` raw bins).
    label_from : str or Labeler
        Where the label comes from (see :mod:`netdiffus.io.labels`): ``folder`` (default: the
        file's folder relative to ``input_dir``, ``"."`` for files at the top), ``regex:PATTERN``
        (searched in the file's path relative to ``input_dir``), ``csv:FILE`` (a table of file
        names or trace ids) or ``column:NAME`` (a column of the file, the same in every row). A
        file without a label is skipped.
    bin_width_s : float, optional
        Width of one raw bin in seconds; stored (times ``aggregate``) in the metadata.
    unit : str
        Unit of the values (e.g. ``"bytes"``), stored in the metadata as given.
    strict : bool
        If True (default) a bad file (not UTF-8 text, no such column, a non-numeric value, ...)
        raises :class:`InputError`; if False it is skipped with a logged warning and listed in the
        summary.
    progress : callable(done, total), optional
    warnings : RepeatedWarnings, optional
        Where a skipped file is warned about (default: this module's logger, every time).
    label_root : path, optional
        When ``input_dir`` is one file: the folder its label and id count from (default: its own).
    warn_short : bool
        Without a length, warn when the shortest trace, which all are cut to, is under half the
        median (:func:`warn_short_default`).

    Returns
    -------
    dataset : TraceDataset, series ``[N, 1, length]``, with the bins of each trace that hold data
        (``lengths``)
    summary : CsvReadSummary
    """
    root = Path(input_dir)
    if not root.exists():
        raise InputError(f"input path {root} does not exist")
    labeler = parse_label_from(label_from) if isinstance(label_from, str) else label_from
    if labeler.per_flow:
        raise ConfigError(f"label_from {labeler.describe()} labels flows of captures, not CSV traces")
    if aggregate < 1:
        raise ConfigError(f"aggregate must be >= 1 (got {aggregate})")
    if length is not None and length < 1:
        raise ConfigError(f"length must be >= 1 (got {length})")
    if bin_width_s is not None and bin_width_s <= 0:
        raise ConfigError(f"bin_width must be > 0 (got {bin_width_s})")
    files = [root] if root.is_file() else sorted(root.rglob("*.csv"))
    if not files:
        raise InputError(f"no .csv files found under {root}")

    summary = CsvReadSummary()
    series, labels, ids, sources, lengths = [], [], [], [], []
    label_column = labeler.column if isinstance(labeler, ColumnLabels) else None
    base = root if root.is_dir() else (label_root or root.parent)  # labels and ids count from here
    for i, path in enumerate(files):
        try:
            raw, label = _read_column(path, column, label_column=label_column)
            if label_column is None:
                label = labeler.label_file(path, base)
            if label is None:
                raise InputError(f"{path}: no label ({labeler.describe()} gives none for this file)")
        except InputError as exc:
            skip_file(exc, path, summary.skipped, strict=strict, log=log if warnings is None else warnings)
            continue
        lengths.append(data_length(len(raw), length=length, aggregate=aggregate))
        if length is not None:
            raw = fit_length(raw, length * aggregate)
        series.append(aggregate_bins(raw, aggregate))
        labels.append(label)
        ids.append(path.relative_to(base).with_suffix("").as_posix())
        sources.append(str(path))
        summary.files_read += 1
        if progress is not None:
            progress(i + 1, len(files))
    if not series:
        first = summary.skipped[0]
        raise InputError(f"no usable traces under {root} ({len(summary.skipped)} file(s) skipped; "
                         f"first: {first[0]}: {first[1]})")
    t = min(len(s) for s in series) if length is None else length
    if t < 1:
        raise InputError(f"traces under {root} are shorter than aggregate={aggregate} bins")
    if length is None and warn_short:
        warn_short_default(lengths, sources)
    arr = np.stack([s[:t] for s in series]).astype(np.float32)
    for lab in labels:
        summary.traces_per_label[lab] = summary.traces_per_label.get(lab, 0) + 1
    meta = DatasetMeta(
        feature=column,
        unit=unit,
        bin_width_s=None if bin_width_s is None else bin_width_s * aggregate,
        channels=[column],
        extra={"source_kind": "csv-per-trace", "aggregate": aggregate},
    )
    return TraceDataset(series=arr[:, None, :], labels=labels, ids=ids, sources=sources, meta=meta,
                        lengths=np.minimum(lengths, t)), summary
