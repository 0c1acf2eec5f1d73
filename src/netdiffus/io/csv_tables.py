"""CSV inputs of ``netdiffus prepare`` in three layouts -> a :class:`TraceDataset`.

``per-trace``
    One CSV file per trace, one row per bin (:func:`netdiffus.io.csv_traces.read_csv_traces`).
``wide``
    One table, one row per trace: an optional id column (``id``, ``trace_id``, ``trace``), an
    optional ``label`` column (else the table's folder label), an optional ``source`` column
    (ignored: the source of a trace is the table) and the values ``v_0 .. v_{T-1}`` in all the other
    columns, in column order. This is also the CSV that netdiffus writes (``sample --csv``,
    ``export --csv``): its metadata columns are :data:`~netdiffus.io.dataset.TRACE_COLUMNS` and its
    value columns ``<channel>_<bin>``; when every value column is named so, with bins ``0 .. T-1``
    for each channel in turn, each channel becomes one channel of the dataset, named as in the
    table (``column`` then picks channels by name).
``long``
    One table of (trace id, time, value) rows: columns ``id`` / ``trace_id`` / ``trace`` /
    ``flow_id``, ``time`` / ``t`` / ``timestamp`` / ``ts`` (seconds) and the value column
    (``column``, default ``value``), optional ``label``. With a bin width the values are summed per
    bin of ``time`` from each trace's first row; without one the values are taken in time order.

``auto`` picks ``per-trace`` for folders, and for a single file ``long`` if it has an id and a
time column, ``wide`` if it starts with the columns netdiffus writes (``id, label, source``) or
has more than two columns and no ``column`` is asked for, ``per-trace`` otherwise.

A file that is not UTF-8 text raises :class:`~netdiffus.errors.InputError` (a bad file inside a
folder is skipped, see ``strict``).

Examples
--------
>>> from pathlib import Path; import tempfile
>>> p = Path(tempfile.mkdtemp()) / "long.csv"
>>> _ = p.write_text("id,time,value,label\\na,0.0,5,x\\na,0.3,1,x\\na,1.2,2,x\\nb,3.0,7,y\\n")
>>> ds, _ = prepare_csv([p], bin_width_s=0.5, length=3)
>>> ds.ids, ds.labels, ds.series[:, 0].tolist()
(['a', 'b'], ['x', 'y'], [[6.0, 0.0, 2.0], [7.0, 0.0, 0.0]])
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

import numpy as np

from netdiffus.errors import ConfigError, InputError
from netdiffus.io.csv_common import format_columns, open_csv, skip_file, unescape_csv_text
from netdiffus.io.csv_traces import aggregate_bins, data_length, fit_length, read_csv_traces, warn_short_default
from netdiffus.io.dataset import TRACE_COLUMNS, DatasetMeta, TraceDataset
from netdiffus.io.labels import ColumnLabels, FolderLabels, Labeler, common_folder, parse_label_from
from netdiffus.io.summary import PrepareSummary, RepeatedWarnings, note_padding

__all__ = ["prepare_csv", "detect_layout", "read_wide_table", "read_long_table", "wide_channels", "DEFAULT_VALUE_UNIT",
           "CsvLayout", "CSV_LAYOUTS"]

log = logging.getLogger(__name__)

#: The layout of one CSV input (see the module docstring), and what ``layout="auto"`` picks from.
DetectedLayout = Literal["per-trace", "wide", "long"]
CsvLayout = Literal["auto", DetectedLayout]
CSV_LAYOUTS: tuple[CsvLayout, ...] = get_args(CsvLayout)
ID_COLUMNS = ("id", "trace_id", "trace", "flow_id")
TIME_COLUMNS = ("time", "t", "timestamp", "ts")
#: Unit stored (and printed) for CSV values when none is given.
DEFAULT_VALUE_UNIT = "values"
_BIN_COLUMN = re.compile(r"^(.+)_(\d+)$")


def _header(path: Path) -> list[str]:
    with open_csv(path) as reader:
        try:
            return [h.strip() for h in next(reader)]
        except StopIteration:
            raise InputError(f"{path}: file is empty") from None


def _find(header: list[str], names: Sequence[str]) -> int | None:
    low = [h.lower() for h in header]
    return next((low.index(n) for n in names if n in low), None)


def detect_layout(path: Path, *, column: str | None) -> DetectedLayout:
    """The layout of one CSV input (see the module docstring)."""
    if path.is_dir():
        return "per-trace"
    header = _header(path)
    if [h.lower() for h in header[: len(TRACE_COLUMNS)]] == list(TRACE_COLUMNS):
        return "wide"
    if _find(header, ID_COLUMNS) is not None and _find(header, TIME_COLUMNS) is not None:
        return "long"
    if column is None and len(header) > 2:
        return "wide"
    return "per-trace"


def _rows(path: Path) -> tuple[list[str], list[list[str]]]:
    with open_csv(path) as reader:
        try:
            header = [h.strip() for h in next(reader)]
        except StopIteration:
            raise InputError(f"{path}: file is empty") from None
        return header, [r for r in reader if r]


def wide_channels(names: Sequence[str]) -> list[tuple[str, int]] | None:
    """The channels of wide-table value columns named ``<channel>_<bin>``: [(channel, T), ...].

    None unless every name is ``<channel>_<k>`` with ``k`` running ``0 .. T-1`` for each channel
    in turn and every channel has the same T (the layout netdiffus writes).

    >>> wide_channels(["up_0", "up_1", "down_0", "down_1"])
    [('up', 2), ('down', 2)]
    >>> wide_channels(["v0", "v1"]) is None
    True
    """
    channels: list[tuple[str, int]] = []
    for name in names:
        m = _BIN_COLUMN.match(name)
        if m is None:
            return None
        ch, k = m.group(1), int(m.group(2))
        if channels and channels[-1][0] == ch and k == channels[-1][1]:
            channels[-1] = (ch, k + 1)
        elif k == 0 and ch not in (c for c, _ in channels):
            channels.append((ch, 1))
        else:
            return None
    if not channels or len({t for _, t in channels}) > 1:
        return None
    return channels


def _table_label(labeler: Labeler, trace_id: str, row: list[str], *, j_label: int | None, j_column: int | None,
                 default: str) -> str | None:
    """The label of a table row: from ``column:NAME``, else from another label source than
    ``folder`` (the trace id), else the table's ``label`` column, else ``default``."""
    if j_column is not None:
        return unescape_csv_text(row[j_column].strip()) if j_column < len(row) and row[j_column].strip() else None
    if not isinstance(labeler, FolderLabels):
        return labeler.label_trace(trace_id)
    if j_label is not None and j_label < len(row):
        return unescape_csv_text(row[j_label].strip())
    return default


def _label_column(path: Path, header: list[str], labeler: Labeler) -> int | None:
    """The column a ``column:NAME`` label source names (None for other sources)."""
    if not isinstance(labeler, ColumnLabels):
        return None
    if labeler.column not in header:
        raise InputError(f"{path}: no column {labeler.column!r} (columns: {format_columns(header)})")
    return header.index(labeler.column)


def read_wide_table(path: Path, *, label: str, labeler: Labeler | None = None,
                    ) -> tuple[np.ndarray, list[str], list[str | None], list[str] | None]:
    """(values [N, C, T], ids, labels, channel names) of a wide table (a row per trace).

    The id, ``label`` and ``source`` columns are metadata (see the module docstring), and so is the
    column of a ``column:NAME`` label source; every other column holds values (an empty cell is 0).
    A row's label comes from ``labeler`` (default ``folder``: the ``label`` column, else
    ``label``); None where it gives none. The channel names are those of ``<channel>_<bin>``
    value columns (see :func:`wide_channels`), else None (one unnamed channel).
    """
    labeler = FolderLabels() if labeler is None else labeler
    header, rows = _rows(path)
    j_id, j_label = _find(header, ID_COLUMNS), _find(header, ("label",))
    j_column = _label_column(path, header, labeler)
    meta_cols = {j_id, j_label, j_column} | {j for j, h in enumerate(header) if h.lower() in TRACE_COLUMNS}
    value_cols = [j for j in range(len(header)) if j not in meta_cols]
    if not rows:
        raise InputError(f"{path}: table has no rows")
    if not value_cols:
        raise InputError(f"{path}: table has no value columns (columns: {format_columns(header)})")
    values = np.zeros((len(rows), len(value_cols)), np.float64)
    for i, row in enumerate(rows):
        for k, j in enumerate(value_cols):
            cell = row[j].strip() if j < len(row) else ""
            try:
                values[i, k] = float(cell) if cell else 0.0
            except ValueError:
                raise InputError(f"{path}:{i + 2}: column {header[j]!r} has a non-numeric value {cell!r}") from None
    bad = np.argwhere(~np.isfinite(values))
    if len(bad):
        i, k = bad[0]
        more = f" (and {len(bad) - 1} more cell(s))" if len(bad) > 1 else ""
        raise InputError(f"{path}:{i + 2}: column {header[value_cols[k]]!r} has a NaN or infinite value{more}")
    ids = [unescape_csv_text(row[j_id].strip()) if j_id is not None and j_id < len(row) else f"{path.stem}#{i}"
           for i, row in enumerate(rows)]
    labels = [_table_label(labeler, tid, row, j_label=j_label, j_column=j_column, default=label)
              for tid, row in zip(ids, rows, strict=True)]
    channels = wide_channels([header[j] for j in value_cols])
    if channels is None:
        return values[:, None, :], ids, labels, None
    return values.reshape(len(rows), len(channels), -1), ids, labels, [c for c, _ in channels]


def _pick_channels(path: Path, values: np.ndarray, channels: list[str] | None, column: str | None):
    """(values [N, C', T], names) of the channels ``column`` asks for in a wide table."""
    wanted = _columns(column)
    if channels is None:
        if len(wanted) > 1:
            raise ConfigError(f"{path} is a wide CSV table of one channel: give at most one column (got {column!r})")
        return values, wanted or ["value"]
    if not wanted:
        return values, channels
    missing = [w for w in wanted if w not in channels]
    if missing:
        raise InputError(f"{path}: no channel {missing[0]!r} (channels: {format_columns(channels)})")
    return values[:, [channels.index(w) for w in wanted]], wanted


def read_long_table(
    path: Path, *, column: str | None, bin_width_s: float | None, label: str, labeler: Labeler | None = None,
    max_bins: int | None = None,
) -> tuple[list[np.ndarray], list[str], list[str | None]]:
    """(series per trace ``[C, T_i]``, ids, labels) of a long table of (trace id, time, value) rows.

    With a bin width the values are summed per bin from each trace's first row, and only the
    bins a dataset can keep are made: the first ``max_bins`` (``length * aggregate``), else as many
    as the table's shortest trace spans (the dataset is cut to its shortest trace). Labels as
    :func:`read_wide_table` gives them (a trace's first row for ``column:NAME``).

    Raises
    ------
    InputError
        A missing column or a value that is not a number.
    ConfigError
        Bins that would not fit in memory: a bin width too small for the span, without a length
        (``x.csv: 12 traces of 86,400,000 bins of 0.001 s would take 8.3 GB: give --length ...``).
    """
    labeler = FolderLabels() if labeler is None else labeler
    header, rows = _rows(path)
    j_id, j_time, j_label = _find(header, ID_COLUMNS), _find(header, TIME_COLUMNS), _find(header, ("label",))
    if not rows:
        raise InputError(f"{path}: table has no rows")
    if j_id is None or j_time is None:
        raise InputError(f"{path}: a long table needs an id column ({', '.join(ID_COLUMNS)}) and a time column "
                         f"({', '.join(TIME_COLUMNS)}) (columns: {format_columns(header)})")
    j_column = _label_column(path, header, labeler)
    names = _columns(column) or ["value"]
    for name in names:
        if name not in header:
            raise InputError(f"{path}: no column {name!r} (columns: {format_columns(header)})")
    j_vals = [header.index(name) for name in names]
    traces: dict[str, list[list[float]]] = {}
    labels: dict[str, str | None] = {}
    for lineno, row in enumerate(rows, start=2):
        try:
            values = [float(row[j_time])] + [float(row[j]) for j in j_vals]
        except (ValueError, IndexError):
            raise InputError(f"{path}:{lineno}: time or {', '.join(names)} is not a number") from None
        if not np.isfinite(values).all():
            raise InputError(f"{path}:{lineno}: time or {', '.join(names)} is NaN or infinite")
        key = unescape_csv_text(row[j_id].strip())
        traces.setdefault(key, []).append(values)
        if key not in labels:
            labels[key] = _table_label(labeler, key, row, j_label=j_label, j_column=j_column, default=label)
    points = [np.asarray(sorted(pts), dtype=np.float64) for pts in traces.values()]  # [rows, 1 + C], by time
    if bin_width_s is None:
        series = [arr[:, 1:].T for arr in points]
    else:
        series = _binned(path, points, bin_width_s, n_channels=len(names), max_bins=max_bins)
    return series, list(traces), [labels[k] for k in traces]


#: The most values the bins of one long table may take (float64: 1 GiB).
MAX_TABLE_VALUES = 1 << 27


def _binned(path: Path, points: list[np.ndarray], bin_width_s: float, *, n_channels: int,
            max_bins: int | None) -> list[np.ndarray]:
    """Values summed per bin of each trace's (time, values) rows, from its first row: as many bins
    as a dataset can keep (see :func:`read_long_table`), refused when they would not fit."""
    with np.errstate(over="ignore"):
        spans = [float((arr[-1, 0] - arr[0, 0]) / bin_width_s) for arr in points]  # in bins (maybe inf)
    n_bins = min(float(max_bins) if max_bins is not None else min(spans) + 1, max(spans) + 1)
    if len(points) * n_channels * n_bins > MAX_TABLE_VALUES:
        fix = "a smaller --length" if max_bins is not None else "--length (the bins to keep)"
        raise ConfigError(
            f"{path}: {len(points)} traces of {n_bins:,.0f} bins of {bin_width_s:g} s would take "
            f"{len(points) * n_channels * n_bins * 8 / 1e9:,.1f} GB: give {fix} or a wider --bin-width")
    keep = max_bins if max_bins is not None else int(min(spans)) + 1
    out = []
    for arr, span in zip(points, spans, strict=True):
        with np.errstate(over="ignore"):
            rel = (arr[:, 0] - arr[0, 0]) / bin_width_s
        inside = rel < keep
        b = np.floor(rel[inside]).astype(np.int64)
        n = keep if span + 1 >= keep else int(span) + 1
        out.append(np.stack([np.bincount(b, arr[inside, 1 + c], minlength=n)[:n] for c in range(n_channels)]))
    return out


def _columns(column: str | None) -> list[str]:
    """Column names of ``column`` (comma-separated for several channels)."""
    return [c.strip() for c in column.split(",") if c.strip()] if column else []


@dataclass
class _Gathered:
    """The traces read from the CSV inputs so far, in input order."""

    series: list[np.ndarray] = field(default_factory=list)  # [C, T_i] each
    ids: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)  # bins of each trace holding data
    kinds: set[str] = field(default_factory=set)  # the layouts read
    channel_names: dict[tuple[str, ...], str] = field(default_factory=dict)  # channel names -> first input
    warnings: RepeatedWarnings = field(default_factory=lambda: RepeatedWarnings(log))
    labeler: Labeler = field(default_factory=FolderLabels)


def prepare_csv(
    inputs: Sequence[str | os.PathLike[str]],
    *,
    column: str | None = None,
    length: int | None = None,
    aggregate: int = 1,
    label_from: str = "folder",
    bin_width_s: float | None = None,
    unit: str = "",
    layout: CsvLayout = "auto",
    strict: bool = False,
    progress: Callable[[int, int], None] | None = None,
    t_start: float | None = None,
) -> tuple[TraceDataset, PrepareSummary]:
    """CSV inputs -> (TraceDataset ``[N, C, T]``, PrepareSummary). See the module docstring.

    ``column`` may name several columns, comma-separated (``frame_sum_dl,frame_sum_ul``): each is
    one channel (per-trace files and long tables; the channels of a wide table written by
    netdiffus). ``unit`` is stored in the metadata, :data:`DEFAULT_VALUE_UNIT` (``"values"``) if
    empty. A file that cannot be used (not UTF-8 text, a missing column, a non-numeric value) is
    skipped with a logged warning and listed in the summary, or raises with ``strict``. A folder
    without ``.csv`` files is passed over when other inputs have some.
    """
    t_start = time.perf_counter() if t_start is None else t_start
    labeler = parse_label_from(label_from)
    if labeler.per_flow:
        raise ConfigError(f"label_from {label_from} is a flow table (5-tuples): it labels flows of captures, "
                          "not CSV traces (a table of file names or trace ids and labels does)")
    if layout not in CSV_LAYOUTS:
        raise ConfigError(f"csv_layout must be {', '.join(CSV_LAYOUTS[:-1])} or {CSV_LAYOUTS[-1]} (got {layout!r})")
    if column is not None and not _columns(column):
        raise ConfigError(f"column must name at least one column (got {column!r})")
    summary = PrepareSummary()
    got = _Gathered(labeler=labeler)
    paths = [Path(item) for item in inputs]
    empty = [p for p in paths if p.is_dir() and next(p.rglob("*.csv"), None) is None]
    if empty and len(empty) == len(paths):
        raise InputError(f"no .csv files found under {', '.join(str(p) for p in empty)}")
    # per-trace files given directly (a shell glob): labelled by their folder below the deepest
    # folder holding all of them, as if that folder had been given
    files_root = common_folder([p for p in paths if p.is_file()])
    try:
        for path in paths:
            if path in empty:  # a folder without CSV files next to inputs with some
                log.debug("no .csv files under %s", path)
                continue
            kind = detect_layout(path, column=column) if layout == "auto" else layout
            got.kinds.add(kind)
            if kind == "per-trace":
                _read_per_trace(path, got, summary, column=column, length=length, aggregate=aggregate,
                                strict=strict, progress=progress, files_root=files_root)
            else:
                _read_table(path, got, summary, kind=kind, column=column, length=length, aggregate=aggregate,
                            bin_width_s=bin_width_s, strict=strict)
    finally:
        got.warnings.close()
    ds = _dataset(got, summary, inputs=inputs, column=column, length=length, aggregate=aggregate,
                  bin_width_s=bin_width_s, unit=unit)
    note_padding(ds, summary)
    summary.elapsed_s = time.perf_counter() - t_start
    return ds, summary


def _read_per_trace(path: Path, got: _Gathered, summary: PrepareSummary, *, column: str | None, length: int | None,
                    aggregate: int, strict: bool, progress: Callable[[int, int], None] | None,
                    files_root: Path | None) -> None:
    """Add the traces of per-trace CSV files (a folder, or one file given directly): one channel per column."""
    if column is None:
        if path.is_file():  # one file read as one trace: say which columns it has
            header = _header(path)
            raise ConfigError(
                f"{path} reads as one trace per file (columns: {format_columns(header)}): name its value "
                f"column (--column {header[-1] if header else 'NAME'}), or give --csv-layout wide or long")
        raise ConfigError("column is required for per-trace CSV files (e.g. --column frame_sum_dl)")
    datasets = []
    for k, name in enumerate(_columns(column)):  # one read per channel; files skipped for any channel drop out
        ds, s = read_csv_traces(path, column=name, length=length, aggregate=aggregate, strict=strict,
                                progress=progress, warnings=got.warnings, label_from=got.labeler,
                                label_root=files_root if path.is_file() else None, warn_short=k == 0)
        datasets.append(ds)
        summary.skipped += [x for x in s.skipped if x not in summary.skipped]
    rows = [{tid: k for k, tid in enumerate(ds.ids)} for ds in datasets]
    first = datasets[0]
    keep = [i for i, tid in enumerate(first.ids) if all(tid in r for r in rows)]
    summary.files_read += len(keep)
    for i in keep:
        tid = first.ids[i]
        rows_c = [ds.series[r[tid], 0].astype(np.float64) for ds, r in zip(datasets, rows, strict=True)]
        t_min = min(len(x) for x in rows_c)
        got.series.append(np.stack([x[:t_min] for x in rows_c]))
        got.ids.append(tid)
        got.labels.append(first.labels[i])
        got.sources.append(first.sources[i])
        got.lengths.append(min(int(ds.lengths[r[tid]]) if ds.lengths is not None else t_min
                               for ds, r in zip(datasets, rows, strict=True)))
    if keep:
        got.channel_names.setdefault(tuple(_columns(column)), str(path))


def _read_table(path: Path, got: _Gathered, summary: PrepareSummary, *, kind: DetectedLayout, column: str | None,
                length: int | None, aggregate: int, bin_width_s: float | None, strict: bool) -> None:
    """Add the traces of one wide or long table (labelled ``.`` unless it has a label column)."""
    if path.is_dir():
        raise ConfigError(f"csv_layout {kind!r} needs a CSV file, not a folder (got {path})")
    here = "."
    try:
        if kind == "wide":
            values, tids, tlabels, table_channels = read_wide_table(path, label=here, labeler=got.labeler)
            values, names = _pick_channels(path, values, table_channels, column)
            rows = list(values)
        else:
            rows, tids, tlabels = read_long_table(path, column=column, bin_width_s=bin_width_s, label=here,
                                                  labeler=got.labeler,
                                                  max_bins=None if length is None else length * aggregate)
            names = _columns(column) or ["value"]
    except InputError as exc:
        skip_file(exc, path, summary.skipped, strict=strict, log=got.warnings)
        return
    unlabelled = [tid for tid, lab in zip(tids, tlabels, strict=True) if lab is None]
    if unlabelled:
        got.warnings.warn("warnings", f"{path}: {len(unlabelled)} of {len(tids)} trace(s) have no label "
                          f"({got.labeler.describe()} gives none; first: {unlabelled[0]}): left out")
        summary.warnings.append((str(path), f"{len(unlabelled)} trace(s) without a label left out"))
    got.channel_names.setdefault(tuple(names), str(path))
    for r, tid, lab in zip(rows, tids, tlabels, strict=True):
        if lab is None:
            continue
        got.lengths.append(data_length(r.shape[-1], length=length, aggregate=aggregate))
        if length is not None:
            r = fit_length(r, length * aggregate)
        got.series.append(aggregate_bins(r, aggregate))
        got.ids.append(tid)
        got.labels.append(lab)
        got.sources.append(str(path))
    summary.files_read += 1


def _dataset(got: _Gathered, summary: PrepareSummary, *, inputs: Sequence[str | os.PathLike[str]],
             column: str | None, length: int | None, aggregate: int, bin_width_s: float | None,
             unit: str) -> TraceDataset:
    """The traces gathered, cut (or padded) to one length; raise if there are none or they disagree."""
    series, channel_names = got.series, got.channel_names
    if not series:
        first = f"; first: {summary.skipped[0][0]}: {summary.skipped[0][1]}" if summary.skipped else ""
        raise InputError(f"no usable traces in {', '.join(str(i) for i in inputs)} "
                         f"({len(summary.skipped)} skipped{first})")
    t = min(s.shape[-1] for s in series) if length is None else length
    if t < 1:
        raise InputError(f"traces are shorter than aggregate={aggregate} bins")
    if len({s.shape[0] for s in series}) > 1:
        raise InputError("the CSV inputs have different numbers of channels")
    if length is None:
        warn_short_default([s.shape[-1] for s in series], [f"{src} (trace {tid})" if Path(src).stem != tid else src
                                                          for src, tid in zip(got.sources, got.ids, strict=True)])
    if len(channel_names) > 1:
        (a, pa_), (b, pb) = list(channel_names.items())[:2]
        raise InputError(f"the CSV inputs have different channels ({', '.join(a)} in {pa_}; {', '.join(b)} in {pb})")
    arr = np.stack([fit_length(s, t)[..., :t] for s in series]).astype(np.float32)  # [N, C, T]
    summary.traces_per_label = dict(sorted(Counter(got.labels).items()))
    names = list(next(iter(channel_names))) if channel_names else _columns(column) or ["value"]
    meta = DatasetMeta(
        feature=names[0] if len(names) == 1 else "+".join(names),
        unit=unit or DEFAULT_VALUE_UNIT,
        bin_width_s=None if bin_width_s is None else bin_width_s * aggregate,
        channels=names,
        extra={"source_kind": "csv-" + "+".join(sorted(got.kinds)), "aggregate": aggregate},
    )
    return TraceDataset(series=arr, labels=got.labels, ids=got.ids, sources=got.sources, meta=meta,
                        lengths=np.minimum(got.lengths, t))
