"""The dataset format every netdiffus command reads and writes.

A dataset is a set of labelled fixed-length traces ``series`` of shape ``[N, C, T]`` (N traces,
C channels, T bins) in original units (for example bytes per bin), with one id, label and source
per trace, plus :class:`DatasetMeta` describing what the numbers are.

On disk it is one Parquet file, one row per trace::

    id: string, label: string, source: string, series: list<float32>[, length: int32][, header: string]

``series`` holds the C * T values of the trace, channel-major (channel 0 first). The optional
``length`` column holds how many of its T positions hold data (packets, or bins from the first
packet's to the last one's; the rest is zero padding), where the writer knew it. The optional
``header`` column holds each trace's header metadata as JSON
(:class:`~netdiffus.io.headers.TraceHeader`, null where a trace has none). The schema
metadata key ``netdiffus`` holds :class:`DatasetMeta` as JSON (feature, unit, bin width, length,
channel names, and free-form ``extra`` such as packet-size histograms kept for pcap export).

Examples
--------
>>> import numpy as np
>>> ds = TraceDataset(
...     series=np.arange(12, dtype=np.float32).reshape(2, 1, 6),
...     labels=["a", "b"], ids=["t0", "t1"], sources=["x.csv", "y.csv"],
...     meta=DatasetMeta(feature="bytes", unit="bytes", bin_width_s=0.5))
>>> ds.n_traces, ds.n_channels, ds.length, ds.classes
(2, 1, 6, ['a', 'b'])
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from netdiffus.errors import DatasetError, InputError
from netdiffus.files import atomic_path
from netdiffus.io.headers import TraceHeader

__all__ = [
    "DatasetMeta",
    "TraceDataset",
    "read_dataset",
    "write_dataset",
    "require_dataset",
    "default_channel_names",
    "dataset_table",
    "table_dataset",
    "row_group_rows",
    "TRACE_COLUMNS",
    "LENGTH_COLUMN",
    "LENGTHS_KEPT",
    "MIN_TRACES_PER_CLASS",
    "trailing_lengths",
]

FORMAT_VERSION = 1
META_KEY = b"netdiffus"
#: The per-trace metadata columns, in order: of the Parquet file (then ``series``) and of the wide
#: CSV that netdiffus writes (then one column per bin and channel). Readers of such a CSV treat
#: exactly these columns as metadata, never as values.
TRACE_COLUMNS: tuple[str, ...] = ("id", "label", "source")
#: The optional per-trace column of the Parquet file: positions that hold data (the rest is padding).
LENGTH_COLUMN = "length"
#: The ``meta.extra`` key a fitted run sets to true when its training traces kept their lengths:
#: the sets it generates then carry :func:`trailing_lengths`.
LENGTHS_KEPT = "lengths_kept"
#: The optional column of per-trace header metadata (JSON text, see :mod:`netdiffus.io.headers`).
HEADER_COLUMN = "header"
#: Values per Parquet row group written (bounds the writer's memory).
ROW_GROUP_VALUES = 1 << 20
#: Training traces a class needs: ``fit`` refuses fewer; ``prepare`` and ``split`` warn earlier.
MIN_TRACES_PER_CLASS = 2


@dataclass
class DatasetMeta:
    """What the numbers of a dataset mean.

    Parameters
    ----------
    feature : str
        Series kind, e.g. ``"bytes"`` (bytes per bin), ``"packets"``, ``"sizes"``, ``"iat"``,
        ``"sequence"``, or the source CSV column name.
    unit : str
        Unit of one value, e.g. ``"bytes"``, ``"packets"``, ``"seconds"``.
    bin_width_s : float or None
        Width of one bin in seconds (None for non-binned series such as packet sizes).
    channels : list of str
        Channel names, length C (``["value"]`` for single-channel series).
    extra : dict
        Free-form JSON-serialisable information (source layout, aggregation, packet-size
        histograms per label, ...).
    """

    feature: str = "value"
    unit: str = ""
    bin_width_s: float | None = None
    channels: list[str] = field(default_factory=lambda: ["value"])
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"format_version": FORMAT_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> DatasetMeta:
        """The metadata :meth:`to_json` wrote, each field's type and bounds checked (a dataset's
        metadata is untrusted input).

        Raises
        ------
        DatasetError
            A field of the wrong type or out of bounds: ``bin_width_s must be a finite number > 0
            or null (got 'x')``.
        """
        known = {k: data[k] for k in ("feature", "unit", "bin_width_s", "channels", "extra") if k in data}
        for name, ok, want in _META_FIELDS:
            if name in known and not ok(known[name]):
                shown = repr(known[name]) if len(repr(known[name])) <= 60 else type(known[name]).__name__
                raise DatasetError(f"{name} must be {want} (got {shown})")
        return cls(**known)


def _positive_or_none(v: Any) -> bool:
    return v is None or (isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v) and float(v) > 0)


def _names(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, str) for x in v)


#: The metadata fields :meth:`DatasetMeta.from_json` checks: name, test, what it must be.
_META_FIELDS = (
    ("feature", lambda v: isinstance(v, str), "a string"),
    ("unit", lambda v: isinstance(v, str), "a string"),
    ("bin_width_s", _positive_or_none, "a finite number > 0 or null"),
    ("channels", _names, "a non-empty list of strings"),
    ("extra", lambda v: isinstance(v, dict), "an object"),
)


@dataclass
class TraceDataset:
    """Labelled traces ``series`` ``[N, C, T]`` float32 in original units.

    Parameters
    ----------
    series : ndarray, shape [N, C, T] (or [N, T], read as C = 1)
    labels, ids, sources : sequences of str, length N
    meta : DatasetMeta
    lengths : ndarray of int, shape [N], optional
        Per trace, how many of its T positions hold data (the rest is zero padding); None where
        unknown (a dataset written before lengths were kept, a set generated from one without
        them). A generated trace's length is the position after its last non-zero value.
    headers : list of TraceHeader or None, length N, optional
        Per trace, its header metadata (``prepare --headers``, or drawn by a header model); None
        for the whole set where none was kept, a None item for a trace without one.
    """

    series: np.ndarray
    labels: list[str]
    ids: list[str]
    sources: list[str]
    meta: DatasetMeta = field(default_factory=DatasetMeta)
    lengths: np.ndarray | None = None
    headers: list[TraceHeader | None] | None = None

    def __post_init__(self) -> None:
        series = np.asarray(self.series, dtype=np.float32)
        if series.ndim == 2:
            series = series[:, None, :]
        if series.ndim != 3:
            raise DatasetError(f"series must have shape [N, C, T] (got shape {tuple(series.shape)})")
        self.series = series
        self.labels = _strings(self.labels)
        self.ids = _strings(self.ids)
        self.sources = _strings(self.sources)
        n = series.shape[0]
        for name in ("labels", "ids", "sources"):
            if len(getattr(self, name)) != n:
                raise DatasetError(f"{name} must have one entry per trace ({n}) (got {len(getattr(self, name))})")
        if len(self.meta.channels) != series.shape[1]:
            if self.meta.channels == ["value"]:
                self.meta.channels = default_channel_names(series.shape[1])
            else:
                raise DatasetError(
                    f"the series have {series.shape[1]} channel(s) [N, C, T] = {list(series.shape)} but "
                    f"meta.channels names {len(self.meta.channels)} ({self.meta.channels}): series and metadata "
                    "disagree"
                )
        if self.lengths is not None:
            self.lengths = _trace_lengths(self.lengths, n=n, t=series.shape[2])
        if self.headers is not None:
            self.headers = list(self.headers)
            if len(self.headers) != n or not all(h is None or isinstance(h, TraceHeader) for h in self.headers):
                raise DatasetError(f"headers must hold a TraceHeader or None per trace ({n}) "
                                   f"(got {len(self.headers)} items)")

    # -- shape ---------------------------------------------------------------------------------
    @property
    def n_traces(self) -> int:
        return int(self.series.shape[0])

    @property
    def n_channels(self) -> int:
        return int(self.series.shape[1])

    @property
    def length(self) -> int:
        return int(self.series.shape[2])

    @property
    def classes(self) -> list[str]:
        """Sorted distinct labels."""
        return sorted(set(self.labels))

    def class_counts(self) -> dict[str, int]:
        counts = Counter(self.labels)
        return {c: counts[c] for c in self.classes}

    def __len__(self) -> int:
        return self.n_traces

    # -- selection -----------------------------------------------------------------------------
    def subset(self, index: Sequence[int] | np.ndarray) -> TraceDataset:
        """Return the traces at ``index`` (integer positions or a boolean mask)."""
        idx = np.asarray(index)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        return TraceDataset(
            series=self.series[idx].copy(),
            labels=[self.labels[i] for i in idx],
            ids=[self.ids[i] for i in idx],
            sources=[self.sources[i] for i in idx],
            meta=DatasetMeta.from_json(self.meta.to_json()),
            lengths=None if self.lengths is None else self.lengths[idx].copy(),
            headers=None if self.headers is None else [self.headers[i] for i in idx],
        )

    def padding_share(self) -> float | None:
        """The share of the positions that are padding, ``1 - sum(lengths) / (N T)`` (None if the
        lengths are unknown)."""
        if self.lengths is None or not self.series.size:
            return None
        return 1.0 - float(self.lengths.sum()) / (self.n_traces * self.length)

    def label_array(self) -> np.ndarray:
        return np.asarray(self.labels, dtype=object)

    def digest(self) -> str:
        """SHA-256 (hex) of what the dataset file holds: ids, labels, sources, series (float32),
        lengths, headers and metadata, in trace order. Equal digests: the same dataset, however it was made
        (one process, workers, a cluster).

        >>> ds = TraceDataset(series=np.zeros((1, 1, 4)), labels=["a"], ids=["t0"], sources=["x"])
        >>> ds.digest() == TraceDataset(series=np.zeros((1, 1, 4)), labels=["a"], ids=["t0"], sources=["x"]).digest()
        True
        >>> ds.digest() == TraceDataset(series=np.ones((1, 1, 4)), labels=["a"], ids=["t0"], sources=["x"]).digest()
        False
        """
        h = hashlib.sha256()
        for name, values in (("id", self.ids), ("label", self.labels), ("source", self.sources)):
            h.update(f"{name}:{len(values)}\0".encode())
            for v in values:
                h.update(v.encode() + b"\0")
        h.update(f"series:{list(self.series.shape)}\0".encode())
        h.update(np.ascontiguousarray(self.series, dtype="<f4").data.cast("B"))
        lengths = b"none" if self.lengths is None else np.ascontiguousarray(self.lengths, dtype="<i4").tobytes()
        h.update(b"lengths\0" + lengths)
        headers = None if self.headers is None else [None if x is None else x.to_json() for x in self.headers]
        h.update(b"headers\0" + json.dumps(headers, sort_keys=True).encode())
        h.update(json.dumps(self.meta.to_json(), sort_keys=True).encode())
        return h.hexdigest()

    def validate(self, *, what: str = "dataset") -> None:
        """Raise :class:`DatasetError` if any value is NaN or infinite."""
        bad = ~np.isfinite(self.series)
        if bad.any():
            i = int(np.flatnonzero(bad.reshape(self.n_traces, -1).any(axis=1))[0])
            raise DatasetError(
                f"{what} has {int(bad.sum())} NaN or infinite values (first in trace {self.ids[i]!r} "
                f"from {self.sources[i]})"
            )


def _strings(values: Sequence[Any]) -> list[str]:
    """``values`` as a list of str: the list itself when it is one (no copy of a million ids)."""
    if isinstance(values, list) and all(type(v) is str for v in values):
        return values
    return [str(v) for v in values]


def trailing_lengths(series: np.ndarray) -> np.ndarray:
    """Per trace of ``series`` ``[N, C, T]``: the position after its last non-zero value (any
    channel), 0 for an all-zero trace ``[N]``. A generated trace's length: what follows is padding.

    >>> trailing_lengths(np.array([[[5.0, 0.0, 3.0, 0.0]], [[0.0, 0.0, 0.0, 0.0]]])).tolist()
    [3, 0]
    """
    active = (np.asarray(series) != 0).any(axis=1)  # [N, T]
    last = active.shape[1] - np.argmax(active[:, ::-1], axis=1)
    return np.where(active.any(axis=1), last, 0)


def _trace_lengths(lengths: Sequence[int] | np.ndarray, *, n: int, t: int) -> np.ndarray:
    """``lengths`` as int32 ``[n]``, each from 0 to ``t``; :class:`DatasetError` otherwise."""
    arr = np.asarray(lengths)
    if arr.shape != (n,) or (arr.size and not np.issubdtype(arr.dtype, np.integer)):
        raise DatasetError(f"lengths must be {n} integers, one per trace (got {arr.dtype} of shape {arr.shape})")
    bad = (arr < 0) | (arr > t)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DatasetError(f"lengths must be from 0 to the series length {t} (got {int(arr[i])} for trace {i})")
    return arr.astype(np.int32)


def default_channel_names(n_channels: int) -> list[str]:
    """The names of channels nobody named: ``["value"]`` for one, ``["ch0", "ch1", ...]`` for more."""
    return [f"ch{i}" for i in range(n_channels)] if n_channels > 1 else ["value"]


# -- Parquet I/O -------------------------------------------------------------------------------
def require_dataset(obj: object, name: str) -> TraceDataset:
    """``obj`` if it is a :class:`TraceDataset`; :class:`InputError` naming ``name`` otherwise.

    >>> require_dataset("train.parquet", "dataset")
    Traceback (most recent call last):
    ...
    netdiffus.errors.InputError: dataset must be a TraceDataset (got str 'train.parquet');
    read a file with read_dataset(path)
    """
    if isinstance(obj, TraceDataset):
        return obj
    shown = f" {obj!r}" if isinstance(obj, (str, os.PathLike)) else ""
    raise InputError(f"{name} must be a TraceDataset (got {type(obj).__name__}{shown}); "
                     "read a file with read_dataset(path)")


def dataset_table(dataset: TraceDataset) -> pa.Table:
    """``dataset`` as the Arrow table of the file format (columns ``id, label, source, series``,
    the :class:`DatasetMeta` in the schema metadata)."""
    n, c, t = dataset.series.shape
    flat = np.ascontiguousarray(dataset.series.reshape(n, c * t), dtype=np.float32)
    values = pa.array(flat.reshape(-1), type=pa.float32())
    offsets = pa.array(np.arange(0, (n + 1) * c * t, c * t, dtype=np.int32) if n else np.zeros(1, np.int32))
    series = pa.ListArray.from_arrays(offsets, values)
    columns = {
        "id": pa.array(dataset.ids, type=pa.string()),
        "label": pa.array(dataset.labels, type=pa.string()),
        "source": pa.array(dataset.sources, type=pa.string()),
        "series": series,
    }
    if dataset.lengths is not None:
        columns["length"] = pa.array(dataset.lengths, type=pa.int32())
    if dataset.headers is not None:
        columns[HEADER_COLUMN] = pa.array([None if h is None else json.dumps(h.to_json(), separators=(",", ":"))
                                           for h in dataset.headers], type=pa.string())
    table = pa.table(columns)
    meta = dataset.meta.to_json()
    meta["length"] = t
    return table.replace_schema_metadata({META_KEY: json.dumps(meta).encode()})


def row_group_rows(values_per_trace: int) -> int:
    """Traces per Parquet row group: about :data:`ROW_GROUP_VALUES` values, so that the writer's
    buffers (list levels, pages) stay small whatever the number of traces.

    >>> row_group_rows(60)
    17476
    """
    return max(1, ROW_GROUP_VALUES // max(values_per_trace, 1))


def write_dataset(dataset: TraceDataset, path: str | os.PathLike[str]) -> Path:
    """Write ``dataset`` to a Parquet file at ``path`` (atomically) and return the path.

    Raises
    ------
    InputError
        If ``path`` is a folder, lies under a file, or cannot be written (see :func:`atomic_path`).
    OSError
        Writing failed (a full disk): ``filename`` names ``path``; no file is left at ``path``.
    """
    require_dataset(dataset, "dataset")
    path = Path(path)
    table = dataset_table(dataset)
    rows = row_group_rows(dataset.n_channels * dataset.length)
    with atomic_path(path) as tmp:
        try:
            pq.write_table(table, tmp, compression="zstd", row_group_size=rows)
        except OSError as exc:  # a full disk: name the file (its write error names none)
            exc.filename = str(path)
            raise
    return path


def read_dataset(path: str | os.PathLike[str]) -> TraceDataset:
    """Read a dataset written by :func:`write_dataset`.

    Raises
    ------
    InputError
        If the file does not exist, is not Parquet, lacks the netdiffus columns, or is malformed:
        its ``netdiffus`` schema metadata is not a JSON object, or its ``series`` column does not
        hold lists of numbers.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"dataset file {path} does not exist")
    if path.is_dir():
        raise InputError(f"dataset path {path} is a folder, expected a .parquet file")
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path} is not a readable Parquet dataset ({str(exc).splitlines()[0]})") from None
    return table_dataset(table, path)


def table_dataset(table: pa.Table, path: str | os.PathLike[str]) -> TraceDataset:
    """The dataset an Arrow table of the file format holds (:func:`dataset_table` is the inverse);
    ``path`` names it in errors (the :class:`InputError` that :func:`read_dataset` raises)."""
    missing = [c for c in (*TRACE_COLUMNS, "series") if c not in table.column_names]
    if missing:
        raise InputError(f"{path} is not a netdiffus dataset: missing column(s) {', '.join(missing)}")
    raw_meta = (table.schema.metadata or {}).get(META_KEY)
    try:
        meta_json = json.loads(raw_meta) if raw_meta else {}
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        raise InputError(f"{path}: the netdiffus schema metadata is not valid JSON ({exc})") from None
    if not isinstance(meta_json, dict):
        raise InputError(f"{path}: the netdiffus schema metadata must be a JSON object "
                         f"(got {type(meta_json).__name__})")
    try:
        meta = DatasetMeta.from_json(meta_json)
    except DatasetError as exc:
        raise InputError(f"{path}: the netdiffus schema metadata: {exc}") from None
    n = table.num_rows
    c = len(meta.channels)
    series_type = table.schema.field("series").type
    if not (pa.types.is_list(series_type) or pa.types.is_large_list(series_type)) or not (
            pa.types.is_floating(series_type.value_type) or pa.types.is_integer(series_type.value_type)):
        raise InputError(f"{path}: column series must hold lists of numbers (got {series_type})")
    col = table.column("series").combine_chunks()
    values = col.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    lengths = np.diff(col.offsets.to_numpy())
    if n and (lengths != lengths[0]).any():
        raise InputError(f"{path}: traces have different lengths ({lengths.min()} to {lengths.max()})")
    length = meta_json.get("length", 0)  # of a dataset without traces
    per_trace = int(lengths[0]) if n else (length if isinstance(length, int) and 0 <= length <= 2**31 else 0) * c
    if c and per_trace % c:
        raise InputError(f"{path}: {per_trace} values per trace do not split into {c} channels")
    series = values.reshape(n, c, per_trace // c if c else 0)
    data_lengths = _read_lengths(path, table, t=series.shape[2]) if LENGTH_COLUMN in table.column_names else None
    return TraceDataset(
        series=series,
        labels=table.column("label").to_pylist(),
        ids=table.column("id").to_pylist(),
        sources=table.column("source").to_pylist(),
        meta=meta,
        lengths=data_lengths,
        headers=_read_headers(path, table) if HEADER_COLUMN in table.column_names else None,
    )


def _read_headers(path: str | os.PathLike[str], table: pa.Table) -> list[TraceHeader | None]:
    """The ``header`` column: a trace header as JSON, or null, per trace; :class:`InputError` otherwise."""
    col = table.column(HEADER_COLUMN)
    if not pa.types.is_string(col.type):
        raise InputError(f"{path}: column {HEADER_COLUMN} must hold JSON text per trace (got {col.type})")
    out: list[TraceHeader | None] = []
    for k, text in enumerate(col.to_pylist()):
        try:
            out.append(None if text is None else TraceHeader.from_json(json.loads(text)))
        except (ValueError, DatasetError) as exc:
            raise InputError(f"{path}: column {HEADER_COLUMN}, trace {k}: {exc}") from None
    return out


def _read_lengths(path: str | os.PathLike[str], table: pa.Table, *, t: int) -> np.ndarray:
    """The ``length`` column: an integer from 0 to ``t`` per trace; :class:`InputError` otherwise."""
    col = table.column(LENGTH_COLUMN)
    if not pa.types.is_integer(col.type) or col.null_count:
        raise InputError(f"{path}: column {LENGTH_COLUMN} must hold an integer per trace (got {col.type}"
                         + (f", {col.null_count} missing" if col.null_count else "") + ")")
    try:
        return _trace_lengths(col.to_numpy(zero_copy_only=False), n=table.num_rows, t=t)
    except DatasetError as exc:
        raise InputError(f"{path}: column {LENGTH_COLUMN}: {exc}") from None
