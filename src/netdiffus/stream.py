"""A draw written to one Parquet file as it is made: chunk by chunk, in bounded memory, resumable.

A draw of ``n`` traces (a :class:`~netdiffus.sampling.SamplePlan`) is cut into chunks of
``chunk_size`` traces, a whole number of sampling batches of every process, so that each trace is
drawn in the very batch a one-shot draw puts it in: the file holds the values ``sample`` returns,
bit for bit. Each chunk is drawn, appended to a partial file beside the output and counted in a
progress record; after the last, the chunks are copied into the Parquet file (a row group each)
and the file is published as every output is (:func:`netdiffus.files.output_set`): complete or
not at all, replacing an existing file only where the caller allows it. Memory holds one chunk
(and the labels of the draw, one reference per trace), whatever ``n``.

Beside ``out.parquet`` while a draw runs, and after it was interrupted:

- ``.out.parquet.partial``: the finished chunks, each an Arrow IPC stream (zstd), back to back;
- ``.out.parquet.progress.json``: the request (netdiffus version, ``n``, seed, labels, sampler and
  post-processing settings, weights digest, chunk size, processes), its digest, and where each
  finished chunk ends in the partial file.

A draw interrupted in any way (Ctrl-C, a kill, a crash) continues with ``resume``: the request
must be the recorded one (a one-line error names what differs), bytes written after the last
recorded chunk are cut off, and the draw goes on from the next chunk. One draw at a time writes
a partial file (it holds a lock on it). Under torchrun every process draws its share of each
chunk and rank 0 writes.

Examples
--------
>>> chunk_traces(None, batch_size=256, processes=1)
16384
>>> chunk_traces(100, batch_size=64, processes=2)
128
>>> [p.name for p in partial_paths("runs/out.parquet")]
['.out.parquet.partial', '.out.parquet.progress.json']
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from netdiffus._version import __version__
from netdiffus.distributed import broadcast_from_main, dist_info, is_main_process
from netdiffus.errors import ConfigError, InputError, NetDiffusError
from netdiffus.export.tabular import write_csv_parts
from netdiffus.files import check_output_file, locked_file, read_json_object, write_json
from netdiffus.io.dataset import TraceDataset, dataset_table, row_group_rows, table_dataset
from netdiffus.io.outputs import output_files
from netdiffus.progress import trace_bar
from netdiffus.sampling import SamplePlan

__all__ = ["StreamOptions", "ChunkProgress", "chunk_traces", "partial_paths", "check_stream", "write_stream",
           "FORMAT_VERSION"]

log = logging.getLogger(__name__)

#: The layout of the progress record.
FORMAT_VERSION = 1
#: Traces per chunk when none is given (before rounding to whole batches): at 60 values a trace,
#: about 8 MB of float64 series in memory.
DEFAULT_CHUNK = 16384


@dataclass(frozen=True)
class ChunkProgress:
    """Where a streamed draw stands, after a chunk is written: ``chunks_done`` of ``chunks``,
    ``traces_done`` of ``n`` traces."""

    chunks_done: int
    chunks: int
    traces_done: int
    n: int


@dataclass(frozen=True)
class StreamOptions:
    """How a draw is streamed into its file.

    Parameters
    ----------
    chunk_size : int, optional
        Traces per chunk (and per row group), rounded up to whole batches of every process
        (:func:`chunk_traces`); default :data:`DEFAULT_CHUNK`. Memory grows with it.
    resume : bool
        Continue the interrupted draw of the same request (refused if there is none, or if it
        was of another request).
    force : bool
        Without ``resume``, discard an interrupted draw kept beside the output (refused without
        it, unless it had finished no chunk).
    csv : str or Path, optional
        Also write the traces here as a wide CSV (published together with the Parquet file).
    on_chunk : callable, optional
        Called with a :class:`ChunkProgress` after each chunk is kept (on rank 0).
    """

    chunk_size: int | None = None
    resume: bool = False
    force: bool = False
    csv: str | os.PathLike[str] | None = None
    on_chunk: Callable[[ChunkProgress], None] | None = None


class DrawRange(Protocol):
    """Traces ``start`` to ``stop - 1`` of a draw, post-processed (``TrafficSynthesizer.sample_range``)."""

    def __call__(self, plan: SamplePlan, start: int, stop: int, *, bar: Any = None) -> TraceDataset: ...


def chunk_traces(chunk_size: int | None, *, batch_size: int, processes: int) -> int:
    """Traces per chunk: ``chunk_size`` (default :data:`DEFAULT_CHUNK`) rounded up to a multiple of
    ``batch_size * processes``, so that every process draws whole batches, the batches of a
    one-shot draw.

    Raises
    ------
    ConfigError
        ``chunk_size`` is not an integer >= 1.
    """
    if chunk_size is not None and (isinstance(chunk_size, bool) or not isinstance(chunk_size, int)
                                   or chunk_size < 1):
        raise ConfigError(f"chunk_size must be an integer >= 1 (got {chunk_size!r})")
    step = batch_size * processes
    wanted = chunk_size if chunk_size is not None else DEFAULT_CHUNK
    return max(1, math.ceil(wanted / step)) * step


def partial_paths(path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """The partial file and the progress record of a streamed draw into ``path``."""
    path = Path(path)
    return path.with_name(f".{path.name}.partial"), path.with_name(f".{path.name}.progress.json")


def check_stream(path: str | os.PathLike[str], *, resume: bool, force: bool) -> None:
    """Refuse, before any work, a draw into ``path`` that :func:`write_stream` would refuse for
    what lies beside it: ``resume`` with no interrupted draw kept, or a kept draw that finished a
    chunk, without ``resume`` or ``force``.

    Raises
    ------
    InputError
        ``cannot resume out.parquet: no interrupted draw of it is kept (...)``, or ``an interrupted
        draw of out.parquet is kept (3 of 10 chunks); continue it with --resume, or start again
        with --force``.
    """
    path = check_output_file(path)
    _, record_path = partial_paths(path)
    if not record_path.exists():
        if resume:
            raise InputError(f"cannot resume {path}: no interrupted draw of it is kept (no {record_path.name} "
                             "beside it); leave out --resume to start one")
        return
    if resume or force:
        return
    record = read_json_object(record_path)
    ends = record.get("ends")
    done = len(ends) if isinstance(ends, list) else 0
    if done:
        raise InputError(f"an interrupted draw of {path} is kept ({done} of {record.get('chunks', '?')} chunks); "
                         "continue it with --resume, or start again with --force")


def write_stream(path: str | os.PathLike[str], plan: SamplePlan, draw_range: DrawRange, *, model_digest: str,
                 options: StreamOptions | None = None, progress: bool = True) -> Path:
    """Make the draw ``plan`` into the Parquet dataset ``path``, chunk by chunk (see the module).

    ``draw_range(plan, start, stop, bar=...)`` draws traces ``start`` to ``stop - 1``;
    ``model_digest`` names the weights that draw (:func:`netdiffus.sampling.weights_digest`), so a
    resume cannot mix two models. Under torchrun every process calls this; rank 0 writes.

    Raises
    ------
    ConfigError
        A bad ``chunk_size``.
    InputError
        What :func:`check_stream` refuses; a resume whose request differs from the recorded one
        (``cannot resume out.parquet: the interrupted draw has seed 0, this one seed 1; ...``); a
        partial file in use by another draw, or shorter than its record; an output that cannot
        be written (:func:`netdiffus.files.output_set`).
    """
    opts = options or StreamOptions()
    path = Path(path)
    processes = dist_info()[1]
    chunk = chunk_traces(opts.chunk_size, batch_size=plan.sample.batch_size, processes=processes)
    request = _request(plan, model_digest, chunk=chunk, processes=processes)
    journal, start = None, 0
    failure = None
    if is_main_process():
        try:
            journal = _Journal.open(path, request, chunks=math.ceil(plan.n / chunk), resume=opts.resume,
                                    force=opts.force)
            start = journal.chunks_done
        except NetDiffusError as exc:
            failure = exc
    shared = broadcast_from_main((start, None if failure is None else str(failure)))
    if failure is not None:
        raise failure
    if shared[1] is not None:
        raise InputError(shared[1])
    _draw_chunks(path, plan, draw_range, journal, start=shared[0], chunk=chunk, opts=opts, progress=progress)
    return path


def _draw_chunks(path: Path, plan: SamplePlan, draw_range: DrawRange, journal: _Journal | None, *, start: int,
                 chunk: int, opts: StreamOptions, progress: bool) -> None:
    """Draw chunks ``start`` on, keep each (rank 0), then publish the file; on any exception the
    journal keeps the finished chunks for a resume."""
    n, chunks = plan.n, math.ceil(plan.n / chunk)
    world = dist_info()[1]
    sc = plan.sample
    bar = trace_bar(n, f"sample ({sc.sampler}, {sc.steps} steps)", bar=progress, initial=min(n, start * chunk))
    try:
        for c in range(start, chunks):
            lo, hi = c * chunk, min(n, (c + 1) * chunk)
            part = draw_range(plan, lo, hi, bar=bar if world == 1 else _Scaled(bar, world))
            if journal is not None:
                journal.append(part)
                if opts.on_chunk is not None:
                    opts.on_chunk(ChunkProgress(c + 1, chunks, hi, n))
            del part
        if journal is not None:
            journal.publish(path, opts.csv)
    except KeyboardInterrupt as exc:  # say what is kept, as the command line prints it
        if journal is None:
            raise
        kept = journal.chunks_done
        raise type(exc)(f"{path}: {kept} of {chunks} chunks kept; continue with the same command and --resume"
                        if kept else f"{path}: no chunk was finished, nothing kept") from None
    finally:
        bar.close()
        if journal is not None:
            journal.close()


class _Scaled:
    """A bar that one of ``world`` processes updates with its share: counts every trace."""

    def __init__(self, bar: Any, world: int) -> None:
        self.bar, self.world = bar, world

    def update(self, k: int) -> None:
        self.bar.update(k * self.world)


def _request(plan: SamplePlan, model_digest: str, *, chunk: int, processes: int) -> dict[str, Any]:
    """What decides the values and the layout of the partial file: a resume must match it."""
    counts = Counter(plan.labels)
    settings = plan.settings()
    return {"netdiffus": __version__, "n": plan.n, "seed": plan.seed, "labels": dict(counts),
            "labels_sha256": plan.labels_sha256(),
            **{f"sample.{k}": v for k, v in settings["sample"].items()},
            **{f"postprocess.{k}": v for k, v in settings["postprocess"].items()},
            "model_sha256": model_digest, "chunk_size": chunk, "processes": processes}


def _digest(request: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()


def _differs(path: Path, kept: dict[str, Any], request: dict[str, Any]) -> str | None:
    """The one-line refusal of a resume whose request is not the recorded one (None: the same)."""
    for key, value in request.items():
        old = kept.get(key)
        if old != value:
            shown = {"labels_sha256": "labels in another order", "model_sha256": "other model weights"}
            if key in shown:
                return (f"cannot resume {path}: the interrupted draw was made with {shown[key]}; give the "
                        "options and run it was started with, or start again with --force (without --resume)")
            return (f"cannot resume {path}: the interrupted draw has {key} {old!r}, this one {value!r}; give the "
                    "options it was started with, or start again with --force (without --resume)")
    return None


class _Journal:
    """The partial file and the progress record of one draw (written by rank 0 only), locked."""

    def __init__(self, path: Path, request: dict[str, Any], chunks: int, fd: int, ends: list[int]) -> None:
        self.path, self.request, self.chunks, self.fd, self.ends = path, request, chunks, fd, ends
        self.partial, self.record = partial_paths(path)

    @property
    def chunks_done(self) -> int:
        return len(self.ends)

    @classmethod
    def open(cls, path: Path, request: dict[str, Any], *, chunks: int, resume: bool, force: bool) -> _Journal:
        """Lock the partial file, and check (``resume``) and keep its finished chunks, or start
        it empty."""
        check_stream(path, resume=resume, force=force)
        partial, record_path = partial_paths(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = locked_file(partial, busy=f"{path} is being drawn by another netdiffus sample; wait for it to end or "
                                       "choose another output")
        try:
            ends = _kept_ends(path, request, record_path, partial) if resume else []
            os.ftruncate(fd, ends[-1] if ends else 0)
        except BaseException:
            os.close(fd)
            raise
        journal = cls(path, request, chunks, fd, ends)
        journal._write_record()
        if ends:
            log.info("resuming the draw of %s: %d of %d chunks kept", path, len(ends), chunks)
        return journal

    def _write_record(self) -> None:
        write_json(self.record, {"format_version": FORMAT_VERSION, "output": self.path.name,
                                 "request": self.request, "config_sha256": _digest(self.request),
                                 "chunks": self.chunks, "ends": self.ends}, replace=True)

    def append(self, part: TraceDataset) -> None:
        """Keep one finished chunk: appended and flushed to disk, then counted in the record."""
        table = dataset_table(part)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as w:
            w.write_table(table)
        data = sink.getvalue()
        at = self.ends[-1] if self.ends else 0
        _write_at(self.fd, memoryview(data), at)  # over any bytes a killed draw left after the last kept chunk
        os.fsync(self.fd)
        self.ends.append(at + data.size)
        self._write_record()

    def tables(self) -> Iterator[pa.Table]:
        """The kept chunks, in order, one in memory at a time."""
        for a, b in zip([0, *self.ends[:-1]], self.ends, strict=True):
            yield pa.ipc.open_stream(pa.py_buffer(_read_at(self.fd, b - a, a))).read_all()

    def publish(self, path: Path, csv: str | os.PathLike[str] | None) -> None:
        """Copy the chunks into the Parquet file (and the CSV), publish them together, and remove
        the partial file and the record."""
        outputs = [path, *([Path(csv)] if csv is not None else [])]
        with output_files(outputs) as out:  # a failed write names its output and leaves none
            with out.writing(0) as tmp:
                writer = None
                try:
                    for table in self.tables():
                        if writer is None:
                            writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
                        values = len(table.column("series")[0]) if table.num_rows else 1
                        writer.write_table(table, row_group_size=row_group_rows(values))
                finally:
                    if writer is not None:
                        writer.close()
            if csv is not None:
                with out.writing(1) as tmp:
                    parts = (table_dataset(t, self.partial) for t in self.tables())
                    first = table_dataset(next(self.tables()), self.partial)
                    write_csv_parts(parts, tmp, channels=first.meta.channels, length=first.length)
        self.partial.unlink(missing_ok=True)
        self.record.unlink(missing_ok=True)
        self.ends = []

    def close(self) -> None:
        """Release the lock; a draw that kept no chunk leaves nothing behind."""
        if not self.ends:
            self.partial.unlink(missing_ok=True)
            self.record.unlink(missing_ok=True)
        os.close(self.fd)


def _kept_ends(path: Path, request: dict[str, Any], record_path: Path, partial: Path) -> list[int]:
    """The recorded ends of the finished chunks of the draw to resume, checked against
    ``request`` and the partial file."""
    record = read_json_object(record_path)
    if record.get("format_version") != FORMAT_VERSION or not isinstance(record.get("request"), dict):
        raise InputError(f"cannot resume {path}: {record_path.name} is not a progress record this version "
                         "reads; start again with --force (without --resume)")
    refusal = _differs(path, record["request"], request)
    if refusal is not None:
        raise InputError(refusal)
    ends = [int(e) for e in record.get("ends", [])]
    size = partial.stat().st_size
    if ends and size < ends[-1]:
        raise InputError(f"cannot resume {path}: {partial.name} holds {size} bytes, fewer than the {ends[-1]} "
                         "its record counts; start again with --force (without --resume)")
    return ends


def _write_at(fd: int, data: memoryview, at: int) -> None:
    os.lseek(fd, at, os.SEEK_SET)
    while data:
        data = data[os.write(fd, data):]


def _read_at(fd: int, size: int, at: int) -> bytes:
    os.lseek(fd, at, os.SEEK_SET)
    parts = []
    while size > 0:
        block = os.read(fd, size)
        if not block:
            raise InputError(f"partial file ended {size} bytes early (changed while the draw ran?)")
        parts.append(block)
        size -= len(block)
    return b"".join(parts)
