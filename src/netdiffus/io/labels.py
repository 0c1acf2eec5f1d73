"""Where a trace's label comes from (``--label-from``).

``folder``
    The capture's (or CSV file's) folder relative to the input folder it was found under, e.g.
    ``Aria`` for ``captures/Aria/Setup-A-1-STA.pcap`` with input ``captures`` (``"."`` at the top).
``regex:PATTERN``
    :func:`re.search` of PATTERN on the file path (POSIX, relative to its input folder); the label
    is the first group if the pattern has one, else the whole match. No match: the file is skipped.
``csv:FILE``
    A table of labels. Either a file-name table (columns ``file`` (or ``filename``, ``name``,
    ``path``, ``id``, ``trace_id``) and ``label``): the capture's (or CSV file's) name, its path
    relative to the input, or the trace id of a row of a CSV table gives the label. Or a flow
    table with CICFlowMeter columns (``Source IP``, ``Source Port``, ``Destination IP``,
    ``Destination Port``, ``Protocol``, ``Timestamp``, ``Label``): a flow takes
    the label of the row with the same bidirectional 5-tuple whose timestamp is nearest to the
    flow's start (within ``time_window_s`` if given). CICFlowMeter timestamps are local time: give
    their offset from UTC with ``utc_offset_h`` (-3 for CIC-IDS2017). Flows without a row are
    dropped and counted as unmatched. The flow table ``netdiffus export --flows`` writes (the
    same 5-tuple columns and ``Label``, no ``Timestamp``; earlier versions wrote ``client``,
    ``client_port``, ``server``, ``server_port``, ``transport``, ``label``, still read) works the
    same way, so an exported capture can be prepared again with its labels.
``column:NAME``
    CSV inputs only: the value of column NAME of the trace (of its file, the same in every row;
    of its row in a wide table; of its rows in a long table), e.g. ``column:platform``.

For the rows of a wide or long CSV table, ``regex:`` is searched in the trace id and ``csv:`` looks
the trace id up; with ``folder`` a table's ``label`` column is used when it has one.

Labellers are small picklable objects so the worker processes can apply them.

Examples
--------
>>> from pathlib import Path
>>> parse_label_from("regex:Setup-(\\\\w)-").label_file(Path("Aria/Setup-A-1-STA.pcap"), Path("."))
'A'
>>> parse_label_from("folder").label_file(Path("/d/Aria/x.pcap"), Path("/d"))
'Aria'
"""

from __future__ import annotations

import math
import os
import re
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

from netdiffus.errors import ConfigError, InputError
from netdiffus.io.assembly import FlowKey, parse_ip
from netdiffus.io.csv_common import format_columns, open_csv, unescape_csv_text

__all__ = [
    "common_folder",
    "Labeler",
    "FolderLabels",
    "RegexLabels",
    "CsvFileLabels",
    "CsvFlowLabels",
    "ColumnLabels",
    "parse_label_from",
    "check_label_options",
]

FILE_COLUMNS = ("file", "filename", "file_name", "name", "path", "id", "trace_id", "trace")
FLOW_COLUMNS = ("source ip", "source port", "destination ip", "destination port", "protocol")
# The flow table ``netdiffus export --flows`` writes: the same 5-tuple under other names, no time.
EXPORT_FLOW_COLUMNS = ("client", "client_port", "server", "server_port", "transport")
_TRANSPORTS = {"tcp": 6, "udp": 17}
_TIME_FORMATS = (
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M:%S.%f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S.%f",
    "%d/%m/%Y %I:%M:%S %p",
)


class Labeler:
    """Base: ``label_file`` for file-level traces, ``label_flow`` for flows, ``label_trace`` for
    the rows of a CSV table (None = no label)."""

    per_flow = False

    def label_file(self, path: Path, root: Path) -> str | None:
        raise NotImplementedError

    def label_flow(self, path: Path, root: Path, flow: FlowKey, start_s: float) -> str | None:
        return self.label_file(path, root)

    def label_trace(self, trace_id: str) -> str | None:
        """The label of a row of a CSV table by its trace id (None: this source says nothing)."""
        return None

    def describe(self) -> str:
        return type(self).__name__


def common_folder(files: Sequence[Path]) -> Path | None:
    """The deepest folder holding all of ``files`` (given one by one, as a shell glob gives them):
    the root their ``folder`` labels and trace ids count from. None without files, or when
    relative and absolute paths are mixed.

    >>> common_folder([Path("captures/Aria/a.pcap"), Path("captures/Hue/b.pcap")])
    PosixPath('captures')
    """
    try:
        return Path(os.path.commonpath([str(f.parent) for f in files])) if files else None
    except ValueError:
        return None


def _rel(path: Path, root: Path) -> Path:
    try:
        return path.relative_to(root)
    except ValueError:
        return Path(path.name)


@dataclass
class FolderLabels(Labeler):
    def label_file(self, path: Path, root: Path) -> str | None:
        return _rel(path, root).parent.as_posix()

    def describe(self) -> str:
        return "folder"


@dataclass
class RegexLabels(Labeler):
    pattern: str
    _re: re.Pattern = field(init=False, repr=False)

    def __post_init__(self) -> None:
        try:
            self._re = re.compile(self.pattern)
        except re.error as exc:
            # the pattern as typed: a repr would double its backslashes
            raise ConfigError(f"label_from regex is invalid: {exc} (got '{self.pattern}')") from None

    def label_file(self, path: Path, root: Path) -> str | None:
        return self.label_trace(_rel(path, root).as_posix())

    def label_trace(self, trace_id: str) -> str | None:
        m = self._re.search(trace_id)
        if m is None:
            return None
        return m.group(1) if self._re.groups else m.group(0)

    def describe(self) -> str:
        return f"regex '{self.pattern}'"


@dataclass
class CsvFileLabels(Labeler):
    """Labels by file name (or relative path) from a two-column table."""

    table: dict[str, str]
    source: str = ""

    def label_file(self, path: Path, root: Path) -> str | None:
        rel = _rel(path, root).as_posix()
        for k in (rel, path.name, path.stem, _rel(path, root).with_suffix("").as_posix()):
            if k in self.table:
                return self.table[k]
        return None

    def label_trace(self, trace_id: str) -> str | None:
        return self.table.get(trace_id)

    def describe(self) -> str:
        return f"file names in {self.source}"


@dataclass
class ColumnLabels(Labeler):
    """CSV inputs: the label is the value of ``column`` (read by the CSV readers)."""

    column: str

    def label_file(self, path: Path, root: Path) -> str | None:
        return None

    def describe(self) -> str:
        return f"column {self.column!r}"


@dataclass
class CsvFlowLabels(Labeler):
    """Labels by bidirectional 5-tuple (+ time) from a CICFlowMeter-style table.

    ``rows`` maps the canonical 5-tuple to a sorted list of (start time in UTC seconds, label).
    """

    rows: dict[tuple, list[tuple[float, str]]]
    time_window_s: float | None = None
    source: str = ""
    timed: bool = True  # False: the table has no time column (every row at 0.0)
    per_flow = True

    def label_file(self, path: Path, root: Path) -> str | None:
        return None

    def match_flow(self, flow: FlowKey, start_s: float) -> tuple[str, float] | None:
        """The label of the row of ``flow`` whose time is nearest ``start_s`` (UTC seconds), and how
        far that time is from it in seconds (NaN for a table without times); None without a row
        (or none within ``time_window_s``)."""
        cands = self.rows.get(flow.canonical())
        if not cands:
            return None
        if not self.timed:
            return cands[-1][1], math.nan
        times = [t for t, _ in cands]
        i = bisect_left(times, start_s)
        best = min((c for c in cands[max(i - 1, 0) : i + 1]), key=lambda c: abs(c[0] - start_s))
        gap = abs(best[0] - start_s)
        if self.time_window_s is not None and gap > self.time_window_s:
            return None
        return best[1], gap

    def label_flow(self, path: Path, root: Path, flow: FlowKey, start_s: float) -> str | None:
        match = self.match_flow(flow, start_s)
        return None if match is None else match[0]

    def describe(self) -> str:
        return f"5-tuples in {self.source}"


def _parse_time(text: str, utc_offset_h: float) -> float | None:
    text = text.strip()
    try:
        return float(text)  # epoch seconds
    except ValueError:
        pass
    for fmt in _TIME_FORMATS:
        try:
            dt = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return dt.replace(tzinfo=timezone(timedelta(hours=utc_offset_h))).timestamp()
    return None


def check_label_options(*, time_window_s: float | None = None, utc_offset_h: float = 0.0) -> None:
    """Raise :class:`ConfigError` for a bad flow-table time window or UTC offset.

    ``time_window_s`` must be None or >= 0 (``label_window must be >= 0 (got -1)``);
    ``utc_offset_h`` strictly between -24 and 24 hours (``label_utc_offset must be strictly
    between -24 and 24 hours (got 99)``). The names are those of the command-line options.
    """
    if time_window_s is not None and not time_window_s >= 0:
        raise ConfigError(f"label_window must be >= 0 (got {time_window_s:g})")
    if not (math.isfinite(utc_offset_h) and -24 < utc_offset_h < 24):
        raise ConfigError(f"label_utc_offset must be strictly between -24 and 24 hours (got {utc_offset_h:g})")


def read_label_csv(path: str | Path, *, time_window_s: float | None = None, utc_offset_h: float = 0.0) -> Labeler:
    """Read a label table (file-name or flow layout, see the module docstring).

    Raises
    ------
    ConfigError
        A bad ``time_window_s`` or ``utc_offset_h`` (see :func:`check_label_options`).
    InputError
        The file is missing, empty, not UTF-8 text, or lacks the needed columns.
    """
    check_label_options(time_window_s=time_window_s, utc_offset_h=utc_offset_h)
    path = Path(path)
    if not path.is_file():
        raise InputError(f"label file {path} does not exist")
    with open_csv(path, what=f"label file {path}") as reader:
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            raise InputError(f"label file {path} is empty") from None
        if "label" not in header:
            raise InputError(f"label file {path} has no 'label' column (columns: {format_columns(header)})")
        j_label = header.index("label")
        flow_columns = next((cs for cs in (FLOW_COLUMNS, EXPORT_FLOW_COLUMNS) if all(c in header for c in cs)), None)
        if flow_columns is not None:
            js = [header.index(c) for c in flow_columns]
            j_time = header.index("timestamp") if "timestamp" in header else None
            rows: dict[tuple, list[tuple[float, str]]] = {}
            for lineno, row in enumerate(reader, start=2):
                if len(row) <= max(js + [j_label]):
                    continue
                try:
                    src, sport, dst, dport, proto_text = (row[j].strip() for j in js)
                    proto = _TRANSPORTS.get(proto_text.lower()) or int(float(proto_text))
                    key = FlowKey(proto, _ip_text(src), int(float(sport)), _ip_text(dst), int(float(dport)))
                except ValueError:
                    raise InputError(f"{path}:{lineno}: bad address, port or protocol in {row[js[0]]!r}") from None
                t = _parse_time(row[j_time], utc_offset_h) if j_time is not None else None
                label = unescape_csv_text(row[j_label].strip())
                rows.setdefault(key.canonical(), []).append((t if t is not None else 0.0, label))
            for v in rows.values():
                v.sort()
            return CsvFlowLabels(rows=rows, time_window_s=time_window_s, source=str(path), timed=j_time is not None)
        j_file = next((header.index(c) for c in FILE_COLUMNS if c in header), None)
        if j_file is None:
            raise InputError(
                f"label file {path} needs a file column ({', '.join(FILE_COLUMNS)}) or the flow columns "
                f"({', '.join(FLOW_COLUMNS)}, or {', '.join(EXPORT_FLOW_COLUMNS)} as netdiffus export --flows "
                "writes them)"
            )
        table = {unescape_csv_text(row[j_file].strip()): unescape_csv_text(row[j_label].strip())
                 for row in reader if len(row) > max(j_file, j_label)}
        return CsvFileLabels(table=table, source=str(path))


def _ip_text(text: str) -> str:
    from netdiffus.io.assembly import format_ip

    return format_ip(*parse_ip(text))


def parse_label_from(spec: str, *, time_window_s: float | None = None, utc_offset_h: float = 0.0) -> Labeler:
    """A :class:`Labeler` from ``folder``, ``regex:PATTERN``, ``csv:FILE`` or ``column:NAME``.

    ``time_window_s`` and ``utc_offset_h`` apply to ``csv:`` flow tables; they are checked (see
    :func:`check_label_options`) whatever ``spec`` is, so a bad value fails before any work.

    Raises
    ------
    ConfigError
        A bad ``spec``, ``time_window_s`` or ``utc_offset_h``.
    InputError
        A ``csv:`` file that cannot be read (see :func:`read_label_csv`).
    """
    check_label_options(time_window_s=time_window_s, utc_offset_h=utc_offset_h)
    if spec == "folder":
        return FolderLabels()
    if spec.startswith("regex:") and len(spec) > 6:
        return RegexLabels(spec[6:])
    if spec.startswith("csv:") and len(spec) > 4:
        return read_label_csv(spec[4:], time_window_s=time_window_s, utc_offset_h=utc_offset_h)
    if spec.startswith("column:") and spec[7:].strip():
        return ColumnLabels(spec[7:].strip())
    raise ConfigError(f"label_from must be folder, regex:PATTERN, csv:FILE or column:NAME (got '{spec}')")
