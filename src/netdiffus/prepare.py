"""``prepare``: captures or CSV traces -> a labelled :class:`~netdiffus.io.dataset.TraceDataset`.

The library entry point behind ``netdiffus prepare``. For captures it chains the parts that live
apart: reading (:mod:`netdiffus.io.pcap`), trace assembly (:mod:`netdiffus.io.assembly`),
series building (:mod:`netdiffus.features.series`) and labels (:mod:`netdiffus.io.labels`); files
are processed in parallel by ``workers`` processes, each streaming its capture in bounded chunks.
With ``cluster``, the workers of a Dask cluster read them instead (:mod:`netdiffus.cluster`); the
traces are gathered in input order, so the dataset is the same wherever it was made. CSV inputs
go to :mod:`netdiffus.io.csv_traces` (one file per trace) or :mod:`netdiffus.io.csv_tables` (one
wide or long table).

Metadata kept for the pcap exporter (``DatasetMeta.extra``, captures only)
--------------------------------------------------------------------------
The capture statistics, :class:`~netdiffus.io.capture_stats.CaptureStats` (versioned:
``capture_stats_version``): per label, histograms of IP packet sizes (one per direction with
``split_direction`` or features ``sizes`` and ``sequence``: "down" = to the host / flow initiator =
channel 0, "up" = from it = channel 1), of arrival offsets within a bin (binned features) and the transport of most
packets. Beside them: ``source_kind`` (``"pcap"``), ``unit_of_trace``, ``length_bytes``
(``"ip_total_length"``), ``alignment`` (``"first_packet"``), ``non_ip_frames``, ``label_from``,
``flow_timeouts_s``, ``host_by_source`` (host units), ``labels_matched`` and ``channel_units`` (the
unit of each channel, e.g. ``["bytes", "seconds"]`` for ``sequence``). Each trace's data length
(packets, or bins up to its last packet's; the rest is padding) goes to ``TraceDataset.lengths``,
and the summary says how much of the dataset is padding (a warning past half).

Examples
--------
``captures/`` stands for your own folder of pcap files:

>>> from netdiffus.prepare import PrepareOptions, prepare
>>> options = PrepareOptions(unit="host", feature="bytes", bin_width="0.25s", length=64, split_direction=True)
>>> ds, summary = prepare(["captures/"], options)                             # doctest: +SKIP
>>> ds.series.shape, ds.meta.channels                                         # doctest: +SKIP
((550, 2, 64), ['bytes_to_host', 'bytes_from_host'])
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import socket
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from netdiffus.cluster import DEFAULT_CONNECT_TIMEOUT_S, LOCAL
from netdiffus.errors import ConfigError, InputError
from netdiffus.features.series import FEATURES, Feature, SeriesSpec, TraceStats, mapped_zeros, parse_duration
from netdiffus.io.assembly import (
    DEFAULT_FLOW_MEMORY_BYTES,
    UNITS,
    AssemblyStats,
    HostKey,
    Trace,
    Unit,
    assemble,
    check_flow_timeouts,
    count_hosts,
    is_loopback,
)
from netdiffus.io.capture_stats import CaptureStats
from netdiffus.io.csv_tables import CsvLayout, prepare_csv
from netdiffus.io.dataset import DatasetMeta, TraceDataset
from netdiffus.io.flow_records import concat_batches
from netdiffus.io.headers import ServerIds, TraceHeader, TraceSpan, capture_headers
from netdiffus.io.labels import (
    ColumnLabels,
    CsvFlowLabels,
    Labeler,
    check_label_options,
    common_folder,
    parse_label_from,
)
from netdiffus.io.pcap import (
    DECODERS,
    DEFAULT_MAX_GZIP_RATIO,
    CaptureError,
    Decoder,
    ReadStats,
    capture_kind,
    iter_packet_batches,
)
from netdiffus.io.summary import PrepareSummary, RepeatedWarnings, note_padding

__all__ = ["prepare", "PrepareOptions", "PrepareSummary", "choose_format", "find_inputs", "DEVICE_MAC_FILE",
           "InputFormat", "INPUT_FORMATS"]

log = logging.getLogger(__name__)

#: A median flow-to-label-row time beyond this (seconds) is warned about: a time-zone mismatch.
LABEL_GAP_WARN_S = 1800.0

#: The kind of an input set, and ``format``: that kind, or ``auto`` to tell it from the inputs.
InputKind = Literal["csv", "pcap"]
InputFormat = Literal["auto", InputKind]
INPUT_FORMATS: tuple[InputFormat, ...] = get_args(InputFormat)
Progress = Callable[[int, int], None]

CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap", ".dmp", ".pcap.gz", ".pcapng.gz", ".cap.gz")
#: File next to a capture naming the device MAC of a ``host`` trace (IoT Sentinel layout).
DEVICE_MAC_FILE = "_iotdevice-mac.txt"
DEFAULT_CAPTURE_LENGTH = 64


# -- input discovery ------------------------------------------------------------------------------
def _is_capture_name(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith(CAPTURE_SUFFIXES)


def find_inputs(inputs: Sequence[str | os.PathLike[str]], *, kind: InputKind) -> list[tuple[Path, Path]]:
    """(file, root) pairs: files given directly, and matching files found under given folders.

    ``root`` is the folder the label of a ``folder`` / ``regex:`` label and the trace id are relative
    to: a given folder, or for files given directly the deepest folder holding all of them (so a
    shell glob such as ``captures/*/*.pcap`` labels each capture by its folder, as ``captures``
    does). A file listed twice (or also found under a given folder) is read once.
    """
    out: list[tuple[Path, Path | None]] = []  # None: a file given directly
    for item in inputs:
        p = Path(item)
        if not p.exists():
            raise InputError(f"input path {p} does not exist")
        if p.is_file():
            out.append((p, None))
            continue
        if kind == "csv":
            found = sorted(p.rglob("*.csv"))
        else:
            found = sorted(f for f in p.rglob("*") if f.is_file() and _is_capture_name(f))
        out += [(f, p) for f in found]
    common = common_folder([f for f, root in out if root is None])
    seen: set[Path] = set()
    unique: list[tuple[Path, Path]] = []
    for f, given in out:
        if f.resolve() not in seen:
            seen.add(f.resolve())
            unique.append((f, given or common or f.parent))
    if len(unique) < len(out):
        log.warning("%d input file(s) given more than once (or also found under a given folder): read once",
                    len(out) - len(unique))
    if not unique:
        what = ".csv files" if kind == "csv" else f"captures ({', '.join(CAPTURE_SUFFIXES)})"
        raise InputError(f"no {what} found under {', '.join(str(i) for i in inputs)}")
    return unique


def _input_files(inputs: Sequence[str | os.PathLike[str]], *, exclude: set[Path]) -> dict[str, list[int]]:
    """{"pcap": [given, found], "csv": [given, found]}: files given, and files found under folders."""
    counts = {"pcap": [0, 0], "csv": [0, 0]}
    for item in inputs:
        p = Path(item)
        if p.is_file():
            if p.suffix.lower() == ".csv":
                counts["csv"][0] += 1
            elif _is_capture_name(p):
                counts["pcap"][0] += 1
            else:
                with open(p, "rb") as fh:
                    counts["pcap"][0] += capture_kind(fh.read(4)) is not None
            continue
        for f in p.rglob("*"):
            if not f.is_file() or f.resolve() in exclude:
                continue
            if _is_capture_name(f):
                counts["pcap"][1] += 1
            elif f.name.endswith(".csv"):  # what prepare reads under a folder (``*.csv``)
                counts["csv"][1] += 1
    return counts


def choose_format(
    inputs: Sequence[str | os.PathLike[str]], format: str = "auto", *, label_from: str = "folder"
) -> InputKind:
    """The input kind of the whole input set: ``format`` if given, else what the inputs hold.

    Captures are files named like a capture (``.pcap``, ``.pcapng``, ``.cap``, ... and their
    ``.gz``) or, given directly, starting like one; CSV files end in ``.csv`` (the table of a
    ``csv:FILE`` label source is not an input). With ``format="auto"``: ``"csv"`` if the inputs
    hold CSV files and no capture, ``"pcap"`` otherwise. With ``format`` given, files of the other
    kind found under the given folders are ignored, with one logged warning that counts them
    (files given directly are read as ``format``).

    Raises
    ------
    InputError
        An input path does not exist, or ``format="auto"`` and the inputs hold both kinds
        (``inputs mix pcap and CSV files (6 capture(s), 12 CSV file(s)); prepare one kind at a
        time or pass --format``).
    """
    for item in inputs:
        if not Path(item).exists():
            raise InputError(f"input path {item} does not exist")
    exclude = {Path(label_from[4:]).resolve()} if label_from.startswith("csv:") else set()
    counts = _input_files(inputs, exclude=exclude)
    if format in get_args(InputKind):
        other = "csv" if format == "pcap" else "pcap"
        ignored = counts[other][1]
        if ignored:
            log.warning("--format %s: ignoring %d %s file(s) found under the inputs", format, ignored,
                        "CSV" if other == "csv" else "capture")
        return format  # type: ignore[return-value]
    n_pcap, n_csv = sum(counts["pcap"]), sum(counts["csv"])
    if n_pcap and n_csv:
        raise InputError(
            f"inputs mix pcap and CSV files ({n_pcap} capture(s), {n_csv} CSV file(s)); prepare one kind at a time "
            "or pass --format"
        )
    return "csv" if n_csv else "pcap"


# -- per-capture work (runs in worker processes) -------------------------------------------------
@dataclass(frozen=True)
class _CaptureOptions:
    unit: Unit
    spec: SeriesSpec
    min_packets: int
    host: HostKey | None
    idle_timeout_s: float
    active_timeout_s: float
    decoder: Decoder
    strict: bool
    ip_only: bool = False
    flow_memory_bytes: int | None = DEFAULT_FLOW_MEMORY_BYTES
    max_gzip_ratio: float | None = DEFAULT_MAX_GZIP_RATIO
    headers: bool = False


@dataclass
class _FileResult:
    path: str
    series: np.ndarray | None = None  # [k, C, T] float32
    lengths: np.ndarray | None = None  # [k] positions of each series holding data
    ids: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    packets: int = 0
    skipped: str | None = None
    warnings: list[str] = field(default_factory=list)
    read: ReadStats = field(default_factory=ReadStats)
    closed_early: int = 0
    too_short: int = 0
    unlabelled: int = 0
    labelled: int = 0
    label_gaps_s: list[float] = field(default_factory=list)  # flow start to its label row's time
    host: str | None = None
    size_hist: dict[str, np.ndarray] = field(default_factory=dict)  # label -> [2, bins]
    offset_hist: dict[str, np.ndarray] = field(default_factory=dict)
    transport: dict[str, np.ndarray] = field(default_factory=dict)
    headers: list[TraceHeader | None] | None = None  # server ids local to the capture
    servers: list[str] = field(default_factory=list)  # the address of each local server id (in memory only)


_WORKER: dict[str, object] = {}


def _init_worker(options: _CaptureOptions, labeler: Labeler) -> None:
    _WORKER["options"] = options
    _WORKER["labeler"] = labeler


def _device_host(path: Path) -> HostKey | None:
    mac_file = path.parent / DEVICE_MAC_FILE
    if mac_file.is_file():
        return HostKey.parse_mac(mac_file.read_text(encoding="utf-8", errors="replace").split()[0])
    return None


def _most_frequent_host(path: Path, opts: _CaptureOptions) -> tuple[HostKey | None, int]:
    """The capture's most frequent MAC (on links that name both ends of a frame), else its most
    frequent IP address (not a loopback one, unless there is no other), and its number of packets."""
    read = ReadStats()
    # a cut last record and other oddities are warned about by the pass that reads the traces
    batches = iter_packet_batches(path, decoder=opts.decoder, on_warning=lambda msg: None, stats=read,
                                  max_gzip_ratio=opts.max_gzip_ratio)
    macs, ips = count_hosts(batches)
    if macs:
        return HostKey("mac", 0, max(macs.items(), key=lambda kv: (kv[1], -kv[0]))[0]), read.records
    ips = Counter({k: v for k, v in ips.items() if not is_loopback(*k)}) or ips
    if ips:
        (hi, lo), _ = max(ips.items(), key=lambda kv: (kv[1], (-kv[0][0], -kv[0][1])))
        return HostKey("ip", hi, lo), read.records
    return None, read.records


def _trace_base(path: Path, root: Path) -> str:
    """The id of a capture's trace: its path relative to the input (flows add ``#k``)."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def _process_capture(path: Path, root: Path, *, opts: _CaptureOptions, labeler: Labeler) -> _FileResult:
    res = _FileResult(path=str(path))
    try:
        _process_capture_into(res, path, root, opts, labeler)
    except CaptureError as exc:
        res.skipped = str(exc).removeprefix(f"{path}: ")
    except (InputError, ConfigError) as exc:
        res.skipped = str(exc)
    except MemoryError:
        res.skipped = "out of memory reading it (see --flow-memory, --workers)"
    except OSError as exc:
        res.skipped = f"cannot read ({exc.strerror or exc})"
    except Exception as exc:  # a reader bug must not lose the other files; keep the reason
        log.debug("unexpected error in %s", path, exc_info=True)
        res.skipped = f"unexpected error: {type(exc).__name__}: {exc}"
    if res.skipped is not None:
        res.series, res.lengths, res.ids, res.labels = None, None, [], []
        res.size_hist, res.offset_hist, res.transport = {}, {}, {}
    return res


def _capture_host(res: _FileResult, path: Path, opts: _CaptureOptions) -> tuple[HostKey | None, bool]:
    """The host of the capture's traces (None: none needed), and whether the capture can be used."""
    if not (opts.unit == "host" or (opts.unit == "file" and opts.spec.signed_by_direction)):
        return None, True
    host = opts.host or _device_host(path)
    if host is None:
        host, n_packets = _most_frequent_host(path, opts)
        if host is None and opts.unit == "host":
            res.skipped = "no host: the capture has no MAC or IP address" if n_packets else "no packets"
            return None, False
    res.host = None if host is None else str(host)
    return host, True


class _Column:
    """A 1-D array that grows by doubling (in mapped memory once large, see :func:`mapped_zeros`)."""

    def __init__(self, dtype: type) -> None:
        self.a: np.ndarray = np.zeros(1024, dtype)
        self.n = 0

    def __len__(self) -> int:
        return self.n

    def append(self, value: float) -> None:
        if self.n == len(self.a):
            self._grow(self.n + 1)
        self.a[self.n] = value
        self.n += 1

    def extend(self, values: np.ndarray) -> None:
        if self.n + len(values) > len(self.a):
            self._grow(self.n + len(values))
        self.a[self.n : self.n + len(values)] = values
        self.n += len(values)

    def _grow(self, need: int) -> None:
        new = mapped_zeros((max(2 * len(self.a), need),), self.a.dtype)
        new[: self.n] = self.a[: self.n]
        self.a = new

    def values(self) -> np.ndarray:
        return self.a[: self.n]


class _Kept:
    """The traces of one capture kept so far, without an object per trace.

    A mostly zero series (a short flow: a third of its values or fewer are not zero) is kept as
    its non-zero values (12 bytes each), any other in chunks of float32 rows; start, creation order
    and label go to compact columns. The dense array of all of them is made by :meth:`finish`, once
    the capture's flow table is freed.
    """

    CHUNK = 8192

    def __init__(self, spec: SeriesSpec) -> None:
        self.spec = spec
        self.shape = (spec.n_channels, spec.length)
        self.width = spec.n_channels * spec.length
        self.chunks: list[np.ndarray | None] = []
        self.n_rows = 0
        self.start, self.index, self.row = _Column(np.int64), _Column(np.int64), _Column(np.int64)
        self.code = _Column(np.int32)
        self.data_length = _Column(np.int32)  # positions holding data, the rest padding
        self.sp_trace, self.sp_pos, self.sp_val = _Column(np.int32), _Column(np.int32), _Column(np.float32)
        self.names: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self.start)

    def add(self, trace: Trace, label: str) -> None:
        values = trace.stats.series.reshape(-1)
        nz = np.flatnonzero(values)
        if 3 * len(nz) <= self.width:
            self.sp_trace.extend(np.full(len(nz), len(self.start), np.int32))
            self.sp_pos.extend(nz)
            self.sp_val.extend(values[nz])
            self.row.append(-1)
        else:
            i = self.n_rows % self.CHUNK
            if i == 0:
                self.chunks.append(mapped_zeros((self.CHUNK, self.width), np.float32))
            self.chunks[-1][i] = values  # type: ignore[index]  # the last chunk is never freed here
            self.row.append(self.n_rows)
            self.n_rows += 1
        self.start.append(trace.stats.first_ns)
        self.data_length.append(self.spec.data_length(n_packets=trace.stats.n_packets, first_ns=trace.stats.first_ns,
                                                      last_ns=trace.stats.last_ns))
        self.index.append(trace.index)
        self.code.append(self.names.setdefault(label, len(self.names)))

    def finish(self) -> tuple[np.ndarray, list[str], np.ndarray]:
        """The series ``[k, C, T]``, labels and data lengths ``[k]``, ordered by start (then
        creation); what was kept is freed as it is copied, so the series are held about once, not
        twice."""
        n = len(self.start)
        order = np.lexsort((self.index.values(), self.start.values()))
        rank = np.empty(n, np.int64)
        rank[order] = np.arange(n)
        out = mapped_zeros((n, self.width), np.float32)
        dense = np.flatnonzero(self.row.values() >= 0)  # traces in the order of their rows
        for c, chunk in enumerate(self.chunks):
            rows = dense[c * self.CHUNK : (c + 1) * self.CHUNK]
            out[rank[rows]] = chunk[: len(rows)]  # type: ignore[index]
            self.chunks[c] = None
        if len(self.sp_trace):
            out[rank[self.sp_trace.values()], self.sp_pos.values()] = self.sp_val.values()
        names = list(self.names)
        return (out.reshape(n, *self.shape), [names[k] for k in self.code.values()[order].tolist()],
                self.data_length.values()[order].copy())


def _flow_label(res: _FileResult, labeler: Labeler, path: Path, root: Path, tr: Trace) -> str | None:
    """The label of a flow from a per-flow label source (counted as labelled or not)."""
    assert tr.flow is not None
    if isinstance(labeler, CsvFlowLabels):
        match = labeler.match_flow(tr.flow, tr.start_s)
        label = None if match is None else match[0]
        if match is not None and math.isfinite(match[1]):
            res.label_gaps_s.append(match[1])
    else:
        label = labeler.label_flow(path, root, tr.flow, tr.start_s)
    if label is None:
        res.unlabelled += 1
    else:
        res.labelled += 1
    return label


def _count_stats(res: _FileResult, label: str, stats: TraceStats) -> None:
    for store, value in ((res.size_hist, stats.size_hist), (res.offset_hist, stats.offset_hist),
                         (res.transport, stats.transport)):
        if label in store:
            store[label] += value
        else:
            store[label] = value.astype(np.int64)


def _process_capture_into(res: _FileResult, path: Path, root: Path, opts: _CaptureOptions, labeler: Labeler) -> None:
    spec, unit = opts.spec, opts.unit
    file_label = None
    if not (labeler.per_flow and unit == "flow"):
        file_label = labeler.label_file(path, root)
        if file_label is None:
            res.skipped = f"no label ({labeler.describe()} gives none for this file)"
            return
    host, usable = _capture_host(res, path, opts)
    if not usable:
        return

    def warn(msg: str) -> None:
        if opts.strict:
            raise CaptureError(msg)
        res.warnings.append(msg)

    batches = iter_packet_batches(path, decoder=opts.decoder, on_warning=warn, stats=res.read,
                                  max_gzip_ratio=opts.max_gzip_ratio)
    # Each trace is reduced to its float32 series as soon as it ends: memory holds the open flows
    # (bounded by flow_memory_bytes) and the finished series, never packets or an object per trace.
    kept = _Kept(spec)
    spans: list[TraceSpan] = []
    asm = AssemblyStats()
    n_traces = 0
    for tr in assemble(batches, unit=unit, spec=spec, host=host, idle_timeout_s=opts.idle_timeout_s,
                       active_timeout_s=opts.active_timeout_s, ip_only=opts.ip_only,
                       flow_memory_bytes=opts.flow_memory_bytes, stats=asm):
        n_traces += 1
        if tr.n_packets < opts.min_packets:
            res.too_short += 1
            continue
        label = file_label if file_label is not None else _flow_label(res, labeler, path, root, tr)
        if label is not None:
            kept.add(tr, label)
            _count_stats(res, label, tr.stats)
            if opts.headers:
                spans.append(TraceSpan(tr.stats.first_ns, tr.stats.last_ns, tr.flow, tr.host))
    res.packets = res.read.records
    _assembly_warnings(res, asm, host, opts)
    if n_traces == 0:
        res.skipped = "no packets" if res.packets == 0 else (
            f"no packets of host {host}" if unit == "host" else "no IP packets (no flows)")
        return
    if not len(kept):
        res.skipped = (f"no trace matched a label ({res.unlabelled} unmatched, {res.too_short} too short)"
                       if res.unlabelled else f"all {n_traces} trace(s) have fewer than {opts.min_packets} packets")
        return
    # traces by start (then creation), numbered in that order: ids do not depend on the batching
    if opts.headers:  # in the order finish() sorts the traces: by start, then creation
        order = np.lexsort((kept.index.values(), kept.start.values())).tolist()
        res.headers, res.servers = _capture_headers(path, [spans[i] for i in order], opts)
    res.series, res.labels, res.lengths = kept.finish()
    base = _trace_base(path, root)
    res.ids = [f"{base}#{i}" for i in range(len(kept))] if unit == "flow" else [base] * len(kept)


def _capture_headers(path: Path, spans: list[TraceSpan], opts: _CaptureOptions) -> tuple[list[TraceHeader | None],
                                                                                        list[str]]:
    """The header of each kept trace of a capture (a second reading of it), and the server
    addresses its ids name (held in memory until the dataset's ids are made, never written)."""
    packets = concat_batches(iter_packet_batches(path, decoder=opts.decoder, max_gzip_ratio=opts.max_gzip_ratio))
    servers = ServerIds()
    window = int(round(opts.spec.bin_width_s * opts.spec.length * 1e9)) if opts.spec.binned else None
    return capture_headers(packets, spans, servers=servers, window_ns=window), servers.addresses


def _assembly_warnings(res: _FileResult, asm: AssemblyStats, host: HostKey | None, opts: _CaptureOptions) -> None:
    """Warn about flows closed early (memory bound) and packets a host sent to itself."""
    res.closed_early = asm.closed_early
    if asm.closed_early:
        mb = (opts.flow_memory_bytes or 0) / 2**20
        res.warnings.append(
            f"{res.path}: {asm.closed_early} flow(s) closed before their idle timeout: the open flows reached "
            f"--flow-memory {mb:g} MB (up to {asm.max_open_flows} open at once); a larger --flow-memory keeps them "
            "open")
    if asm.self_addressed and opts.spec.signed_by_direction:
        res.warnings.append(f"{res.path}: {asm.self_addressed} packet(s) of host {host} are addressed to itself "
                            "(loopback): their direction cannot be told, they count as sent by it")


def _prepare_captures(
    files: list[tuple[Path, Path]],
    *,
    options: _CaptureOptions,
    labeler: Labeler,
    workers: int,
    cluster: _Cluster | None = None,
    progress: Progress | None,
    summary: PrepareSummary,
) -> list[_FileResult]:
    results: list[_FileResult | None] = [None] * len(files)
    repeated = RepeatedWarnings(log)

    def take(i: int, res: _FileResult, done: int) -> None:
        results[i] = res
        if res.skipped is not None:
            if options.strict:  # an error, not a skip: no "skipped" warning before the error line
                raise InputError(f"{res.path}: {res.skipped}")
            repeated.warn("files skipped", f"skipped {res.path}: {res.skipped}")
        for w in res.warnings:
            repeated.warn("warnings", w)
        if progress is not None:
            progress(done, len(files))

    if cluster is None and (workers <= 1 or len(files) == 1):
        for i, (path, root) in enumerate(files):
            take(i, _process_capture(path, root, opts=options, labeler=labeler), i + 1)
    else:
        done = 0
        # results come in the order tasks end; each is placed by its file's index (take)
        for group, group_results in _parallel_results(files, options=options, labeler=labeler, workers=workers,
                                                      cluster=cluster):
            for i, res in zip(group, group_results, strict=True):
                done += 1
                take(i, res, done)
    repeated.close()
    return [r for r in results if r is not None]


@dataclass(frozen=True)
class _Cluster:
    """Where the tasks go: a scheduler address, or ``local`` with ``n_workers`` processes."""

    address: str
    n_workers: int
    timeout_s: float


def _task_groups(n_files: int, slots: int) -> list[list[int]]:
    """File indices in groups, in input order: small files go to the workers in groups, as one
    task per file costs more than a small capture (at least 8 groups per slot where possible)."""
    per_task = max(1, min(16, n_files // (slots * 8)))
    return [list(range(i, min(i + per_task, n_files))) for i in range(0, n_files, per_task)]


def _parallel_results(
    files: list[tuple[Path, Path]], *, options: _CaptureOptions, labeler: Labeler, workers: int,
    cluster: _Cluster | None,
) -> Iterator[tuple[list[int], list[_FileResult]]]:
    """(file indices, their results) of each group of files, as the groups end: on ``workers``
    processes of this machine, or on the cluster's workers."""
    if cluster is not None:
        from netdiffus._version import __version__
        from netdiffus.cluster import cluster_client, cluster_threads, require_package, run_tasks

        with cluster_client(address=cluster.address, n_workers=cluster.n_workers,
                            timeout_s=cluster.timeout_s) as client:
            require_package(client, package="netdiffus", version=__version__)  # the same reader everywhere
            groups = _task_groups(len(files), cluster_threads(client))
            tasks = [([(str(files[i][0]), str(files[i][1])) for i in g],) for g in groups]
            for k, res in run_tasks(client, _process_captures_task, tasks, shared=(options, labeler)):
                yield groups[k], res
        return
    groups = _task_groups(len(files), workers)
    with ProcessPoolExecutor(max_workers=workers, initializer=_init_worker, initargs=(options, labeler)) as pool:
        futures = {pool.submit(_process_captures_remote, [(str(files[i][0]), str(files[i][1])) for i in g]): g
                   for g in groups}
        try:
            for fut in as_completed(futures):
                yield futures[fut], fut.result()
        except BaseException:
            for f in futures:
                f.cancel()
            raise


def _process_captures_remote(pairs: list[tuple[str, str]]) -> list[_FileResult]:
    """A task of the process pool: the options and labeler came with the process (_init_worker)."""
    opts: _CaptureOptions = _WORKER["options"]  # type: ignore[assignment]
    labeler: Labeler = _WORKER["labeler"]  # type: ignore[assignment]
    return [_process_capture(Path(path), Path(root), opts=opts, labeler=labeler) for path, root in pairs]


def _process_captures_task(pairs: list[tuple[str, str]], options: _CaptureOptions,
                           labeler: Labeler) -> list[_FileResult]:
    """A cluster task: the captures ``pairs`` (path, root) read on a worker with these options (its
    own arguments, not a process global: a worker may run tasks of several runs)."""
    out = []
    for path, root in pairs:
        if not Path(path).exists():  # a worker of another machine: the path is not shared with it
            out.append(_FileResult(path=path, skipped=f"not found on the cluster worker {socket.gethostname()} "
                                   "(the workers must see the inputs at the paths given)"))
        else:
            out.append(_process_capture(Path(path), Path(root), opts=options, labeler=labeler))
    return out


def _capture_meta(results: list[_FileResult], *, spec: SeriesSpec, unit: Unit, label_from: str,
                  options: _CaptureOptions, summary: PrepareSummary) -> DatasetMeta:
    size: dict[str, np.ndarray] = {}
    offs: dict[str, np.ndarray] = {}
    trans: dict[str, np.ndarray] = {}
    for r in results:
        for dst, src in ((size, r.size_hist), (offs, r.offset_hist), (trans, r.transport)):
            for lab, v in src.items():
                dst[lab] = dst[lab] + v if lab in dst else v.copy()
    stats = CaptureStats.from_counts(size_hist=size, offset_hist=offs if spec.binned else None, transport_counts=trans,
                                     by_direction=spec.signed_by_direction)
    extra: dict[str, object] = {
        "source_kind": "pcap",
        "unit_of_trace": unit,
        "length_bytes": "ip_total_length",
        "alignment": "first_packet",
        "non_ip_frames": "excluded" if options.ip_only or unit == "flow" else "link_payload_length",
        "label_from": label_from,
        "channel_units": spec.channel_units,
        **stats.to_json(),
    }
    if unit == "flow":
        extra["flow_timeouts_s"] = {"idle": options.idle_timeout_s, "active": options.active_timeout_s}
        if summary.traces_labelled or summary.traces_unlabelled:
            extra["labels_matched"] = {"matched": summary.traces_labelled, "unmatched": summary.traces_unlabelled}
    hosts = {r.path: r.host for r in results if r.host is not None and r.series is not None}
    if hosts:
        extra["host_by_source"] = hosts
    return DatasetMeta(
        feature=spec.feature,
        unit=spec.unit,
        bin_width_s=spec.bin_width_s if spec.binned else None,
        channels=spec.channels(unit=unit),
        extra=extra,
    )


# -- options --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PrepareOptions:
    """Every option of :func:`prepare` (all but the inputs and the progress callback).

    Each value is checked on its own when the options are made; what concerns captures only
    (feature with ``split_direction``, the label source, the host) is checked before the first
    capture is read.

    Parameters
    ----------
    format : {"auto", "csv", "pcap"}
        ``auto``: CSV if the inputs hold ``.csv`` files, captures otherwise.
    unit : {"flow", "host", "file"}
        Captures: what one trace is (see :mod:`netdiffus.io.assembly`). For ``host`` the host is
        ``host``, else the MAC in ``_iotdevice-mac.txt`` next to the capture, else the most
        frequent unicast MAC (most frequent IP address on links without MACs).
    feature : {"bytes", "packets", "sizes", "iat", "sequence"}
        Captures: the series (see :mod:`netdiffus.features.series`); ``sequence``: joint packet
        sequences, each packet's size signed by direction and its gap to the packet before.
    bin_width : float (seconds) or str (``"100ms"``, ``"0.5s"``), optional
        Captures: bin width, default 0.5 s. CSV: width of one row, stored in the metadata.
    length : int, optional
        T after truncation / zero padding. Default: 64 for captures, the shortest trace for CSV
        (warned about, naming its file, when it is under half the median).
    aggregate : int
        CSV: sum groups of this many rows. Captures: bins are ``aggregate * bin_width`` wide.
    split_direction : bool
        Captures, bytes and packets: two channels, to and from the host / flow initiator.
    min_packets : int
        Captures: drop traces with fewer packets.
    label_from : str
        ``folder``, ``regex:PATTERN``, ``csv:FILE`` or, for CSV inputs, ``column:NAME`` (see
        :mod:`netdiffus.io.labels`).
    label_time_window_s, label_utc_offset_h : float
        ``csv:`` flow tables: the largest gap between a flow's start and its row's timestamp, and
        the table's offset from UTC in hours.
    host : str, optional
        The host (a MAC or an IP address) of ``unit="host"`` in every capture (overrides
        ``_iotdevice-mac.txt``); for ``unit="file"`` it sets the direction.
    idle_timeout_s, active_timeout_s : float
        Flow timeouts.
    ip_only : bool
        Leave non-IP frames (ARP, EAPOL, ...) out of ``host`` and ``file`` traces; by default they
        count with their link-layer payload length.
    column, csv_layout, value_unit :
        CSV: the value column, the layout (``per-trace`` files, one ``wide`` table with a row per
        trace, one ``long`` table of (trace id, time, value) rows) and the unit of the values.
    workers : int
        Processes reading captures in parallel (``0``: one per CPU core); with ``cluster="local"``,
        the worker processes of the local cluster.
    cluster : str, optional
        Captures: read them on a Dask cluster, one task per capture (small ones in groups), the
        traces gathered in input order, so the dataset is the one a single process makes. A
        scheduler address (``tcp://10.0.0.5:8786``: its workers must have netdiffus installed and
        see the inputs at the paths given), or ``"local"``: start a cluster of ``workers`` worker
        processes here. Needs the ``cluster`` extra (dask.distributed). None: no cluster.
    cluster_timeout_s : float
        Seconds to wait for the scheduler to answer (default 10).
    strict : bool
        Raise on the first unusable file (or pcapng oddity, or implausible record) instead of
        skipping (or mending) it.
    decoder : {"fast", "dpkt"}
        Header decoding of captures: the vectorised fast path, or dpkt (reference, slower).
    flow_memory_mb : float or None
        Captures, unit ``flow``: the most memory (MiB) the open flows of one capture may hold
        (default 256, about 1.5 million flows of up to four packets); past it the flows idle
        longest are closed early, counted in the summary. None or 0: no limit.
    max_gzip_ratio : float or None
        Refuse a gzip capture that expands more than this many times (a compression bomb;
        default 200). None or 0: no limit.
    headers : bool
        Captures: also keep each trace's header metadata (:mod:`netdiffus.io.headers`: per flow
        its transport, ports, TTLs, TCP windows, PSH share and shared-server ids, never an
        address), for the header model and ``export``. Each capture is read a second time, whole,
        in memory (about 350 bytes per packet). For binned series only the packets within the
        series' span of each trace count.

    Raises
    ------
    ConfigError
        A bad value: the message names the option, the rule and the value, e.g.
        ``bin_width must be > 0 (got -1)``.

    Examples
    --------
    >>> PrepareOptions(unit="host", bin_width="250ms").bin_width_s
    0.25
    >>> PrepareOptions(aggregate=0)
    Traceback (most recent call last):
    ...
    netdiffus.errors.ConfigError: aggregate must be >= 1 (got 0)
    """

    format: InputFormat = "auto"
    unit: Unit = "flow"
    feature: Feature = "bytes"
    bin_width: float | str | None = None
    length: int | None = None
    aggregate: int = 1
    split_direction: bool = False
    min_packets: int = 1
    label_from: str = "folder"
    label_time_window_s: float | None = None
    label_utc_offset_h: float = 0.0
    host: str | None = None
    idle_timeout_s: float = 120.0
    active_timeout_s: float = 1800.0
    ip_only: bool = False
    column: str | None = None
    csv_layout: CsvLayout = "auto"
    value_unit: str = ""
    workers: int = 1
    cluster: str | None = None
    cluster_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S
    strict: bool = False
    decoder: Decoder = "fast"
    flow_memory_mb: float | None = DEFAULT_FLOW_MEMORY_BYTES / 2**20
    max_gzip_ratio: float | None = DEFAULT_MAX_GZIP_RATIO
    headers: bool = False

    def __post_init__(self) -> None:
        if self.format not in INPUT_FORMATS:
            raise ConfigError(f"format must be {', '.join(INPUT_FORMATS[:-1])} or {INPUT_FORMATS[-1]} "
                              f"(got {self.format!r})")
        if self.aggregate < 1:
            raise ConfigError(f"aggregate must be >= 1 (got {self.aggregate})")
        if self.length is not None and self.length < 1:
            raise ConfigError(f"length must be >= 1 (got {self.length})")
        if self.min_packets < 0:
            raise ConfigError(f"min_packets must be >= 0 (got {self.min_packets})")
        if self.workers < 0:
            raise ConfigError(f"workers must be >= 0 (got {self.workers})")
        if self.cluster is not None and not self.cluster.strip():
            raise ConfigError(f"--cluster / cluster must be a scheduler address or {LOCAL!r} (got {self.cluster!r})")
        if not (math.isfinite(self.cluster_timeout_s) and self.cluster_timeout_s > 0):
            raise ConfigError(f"--cluster-timeout / cluster_timeout_s must be > 0 (got {self.cluster_timeout_s})")
        if self.decoder not in DECODERS:
            raise ConfigError(f"decoder must be {' or '.join(DECODERS)} (got {self.decoder!r})")
        if self.unit not in UNITS:
            raise ConfigError(f"unit must be one of {', '.join(UNITS)} (got {self.unit!r})")
        if self.feature not in FEATURES:
            raise ConfigError(f"feature must be one of {', '.join(FEATURES)} (got {self.feature!r})")
        if self.bin_width is not None:
            parse_duration(self.bin_width)
        for name, value in (("flow_memory_mb", self.flow_memory_mb), ("max_gzip_ratio", self.max_gzip_ratio)):
            if value is not None and not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"{name} must be >= 0 (0: no limit) (got {value})")
        check_flow_timeouts(self.idle_timeout_s, self.active_timeout_s)
        check_label_options(time_window_s=self.label_time_window_s, utc_offset_h=self.label_utc_offset_h)

    @property
    def bin_width_s(self) -> float | None:
        """``bin_width`` in seconds (None if not given)."""
        return None if self.bin_width is None else parse_duration(self.bin_width)

    def series_spec(self) -> SeriesSpec:
        """The series of each capture trace (bins of ``aggregate * bin_width``, default 0.5 s)."""
        width = parse_duration(0.5 if self.bin_width is None else self.bin_width) * self.aggregate
        return SeriesSpec(feature=self.feature, bin_width_s=width, length=self.length or DEFAULT_CAPTURE_LENGTH,
                          split_direction=self.split_direction)


# -- the entry point ------------------------------------------------------------------------------
def prepare(
    inputs: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    options: PrepareOptions | None = None,
    *,
    progress: Progress | None = None,
    **overrides: Any,
) -> tuple[TraceDataset, PrepareSummary]:
    """Turn captures or CSV traces into a labelled dataset.

    Parameters
    ----------
    inputs : path or list of paths
        Capture / CSV files and folders (searched recursively).
    options : PrepareOptions, optional
        What to build and how (default ``PrepareOptions()``).
    progress : callable(done, total), optional
        Called after each file.
    **overrides
        Fields of :class:`PrepareOptions` one by one (``unit="host", length=64``), over ``options``.

    Returns
    -------
    dataset : TraceDataset, series ``[N, C, T]`` float32
    summary : PrepareSummary

    Raises
    ------
    ConfigError
        A bad option (names the option and the value).
    InputError
        No input, or no usable trace (or, with ``strict``, the first unusable file).
    """
    t_start = time.perf_counter()
    items = [inputs] if isinstance(inputs, (str, os.PathLike)) else list(inputs)
    if not items:
        raise InputError("no input given")
    opts = PrepareOptions(**overrides) if options is None else dataclasses.replace(options, **overrides)
    for p in items:
        if not Path(p).exists():
            raise InputError(f"input path {p} does not exist")
    if choose_format(items, opts.format, label_from=opts.label_from) == "csv":
        if opts.cluster is not None:
            raise ConfigError(f"--cluster / cluster {opts.cluster!r}: only captures are read on a cluster; CSV "
                              "inputs are read here (leave it out)")
        return prepare_csv(
            items, column=opts.column, length=opts.length, aggregate=opts.aggregate, label_from=opts.label_from,
            bin_width_s=opts.bin_width_s, unit=opts.value_unit, layout=opts.csv_layout, strict=opts.strict,
            progress=progress, t_start=t_start,
        )
    spec = opts.series_spec()
    labeler = parse_label_from(opts.label_from, time_window_s=opts.label_time_window_s,
                               utc_offset_h=opts.label_utc_offset_h)
    if isinstance(labeler, ColumnLabels):
        raise ConfigError(f"label_from {opts.label_from} takes labels from a column of CSV traces; captures take "
                          "them from folder, regex:PATTERN or csv:FILE")
    if labeler.per_flow and opts.unit != "flow":
        raise ConfigError(f"label_from {opts.label_from!r} is a flow table: it needs unit 'flow' (got {opts.unit!r})")
    capture = _CaptureOptions(
        unit=opts.unit, spec=spec, min_packets=opts.min_packets,
        host=None if opts.host is None else HostKey.parse(opts.host), idle_timeout_s=opts.idle_timeout_s,
        active_timeout_s=opts.active_timeout_s, decoder=opts.decoder, strict=opts.strict, ip_only=opts.ip_only,
        flow_memory_bytes=max(1, int(opts.flow_memory_mb * 2**20)) if opts.flow_memory_mb else None,
        max_gzip_ratio=opts.max_gzip_ratio or None, headers=opts.headers,
    )
    files = find_inputs(items, kind="pcap")
    summary = PrepareSummary()
    n_workers = (os.cpu_count() or 1) if opts.workers == 0 else opts.workers
    cluster = None if opts.cluster is None else _Cluster(address=opts.cluster.strip(), n_workers=opts.workers,
                                                         timeout_s=opts.cluster_timeout_s)
    if cluster is not None and cluster.address != LOCAL and opts.workers != 1:
        log.warning("--workers %d is not used with a scheduler address: the cluster's workers read the captures",
                    opts.workers)
    results = _prepare_captures(files, options=capture, labeler=labeler, workers=n_workers, cluster=cluster,
                                progress=progress, summary=summary)
    ds = _capture_dataset(results, n_files=len(files), options=capture, label_from=opts.label_from,
                          summary=summary)
    summary.elapsed_s = time.perf_counter() - t_start
    return ds, summary


def _capture_dataset(results: list[_FileResult], *, n_files: int, options: _CaptureOptions, label_from: str,
                     summary: PrepareSummary) -> TraceDataset:
    """The traces of the captures read, in file order; the summary gets the counts."""
    used: list[str] = []
    labels: list[str] = []
    ids: list[str] = []
    sources: list[str] = []
    gaps: list[float] = []
    for r in results:
        if r.skipped is not None:
            summary.skipped.append((r.path, r.skipped))
            continue
        summary.files_read += 1
        summary.packets += r.packets
        summary.reading.add(r.read)
        summary.flows_closed_early += r.closed_early
        summary.warnings += [(r.path, w) for w in r.warnings]
        summary.traces_too_short += r.too_short
        summary.traces_unlabelled += r.unlabelled
        summary.traces_labelled += r.labelled
        gaps += r.label_gaps_s
        used.append(r.path)
        if len(used) == 1:  # the lists of the first capture, not copies (a capture may hold a million flows)
            labels, ids, sources = r.labels, r.ids, [r.path] * len(r.ids)
        else:
            labels += r.labels
            ids += r.ids
            sources += [r.path] * len(r.ids)
    if not used:
        raise InputError(
            f"no usable traces in {n_files} capture(s) ({len(summary.skipped)} skipped"
            + (f"; first: {summary.skipped[0][0]}: {summary.skipped[0][1]}" if summary.skipped else "")
            + ")"
        )
    if gaps:
        summary.label_gap_median_s = float(np.median(gaps))
        if summary.label_gap_median_s > LABEL_GAP_WARN_S:
            log.warning("flows matched label rows a median %.1f h from their start: is the table in another "
                        "time zone? (--label-utc-offset / label_utc_offset_h: -3 for CIC-IDS2017; --label-window "
                        "/ label_time_window_s keeps only rows that close)", summary.label_gap_median_s / 3600)
    summary.traces_per_label = dict(sorted(Counter(labels).items()))
    meta = _capture_meta(results, spec=options.spec, unit=options.unit, label_from=label_from, options=options,
                         summary=summary)
    lengths = np.concatenate([r.lengths for r in results if r.series is not None and r.lengths is not None])
    ds = TraceDataset(series=_joined(results), labels=labels, ids=ids, sources=sources, meta=meta, lengths=lengths,
                      headers=_dataset_headers(results) if options.headers else None)
    note_padding(ds, summary)
    return ds


def _dataset_headers(results: list[_FileResult]) -> list[TraceHeader | None]:
    """The headers of the traces of the captures used, their server ids made one numbering across
    captures (a server shared by traces of two captures gets one id); the addresses are dropped."""
    servers = ServerIds()
    out: list[TraceHeader | None] = []
    for r in results:
        if r.skipped is not None or r.headers is None:
            continue
        ids = [servers(a) for a in r.servers]
        out += [None if h is None else TraceHeader(h.ip_version, tuple(
            dataclasses.replace(f, server_id=ids[f.server_id]) for f in h.flows)) for h in r.headers]
        r.servers = []
    return out


def _joined(results: list[_FileResult]) -> np.ndarray:
    """The series of the captures used, in order, as one array; each capture's series are freed
    once copied (and one capture's are used as they are), so they are held about once, not twice."""
    pending = [r for r in results if r.series is not None]
    head = pending[0].series
    assert head is not None
    if len(pending) == 1:
        return head
    out = np.empty((sum(0 if r.series is None else len(r.series) for r in pending), *head.shape[1:]), np.float32)
    del head
    at = 0
    for r in pending:
        part, r.series = r.series, None
        if part is not None:
            out[at : at + len(part)] = part
            at += len(part)
    return out
