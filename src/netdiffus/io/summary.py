"""What ``netdiffus prepare`` did with its inputs: :class:`PrepareSummary`, and
:class:`RepeatedWarnings`, which keeps a warning given for many files from filling the log.

Both readers of ``prepare`` fill them in, the capture path (:mod:`netdiffus.prepare`) and the CSV
path (:mod:`netdiffus.io.csv_tables`), so they live below both of them in the io layer.

Examples
--------
>>> s = PrepareSummary(files_read=2, traces_per_label={"cam": 3, "plug": 1})
>>> print(s.format_text())
files read: 2
files skipped: 0
traces: 4 in 2 label(s)
  cam: 3
  plug: 1 (fit needs at least 2 per class)
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from netdiffus.io.dataset import MIN_TRACES_PER_CLASS, TraceDataset
from netdiffus.io.pcap import ReadStats

__all__ = ["PrepareSummary", "RepeatedWarnings", "note_padding", "PADDING_WARN_SHARE"]

log = logging.getLogger(__name__)

#: Files listed one by one under "files skipped" and "warnings"; the rest are counted.
SHOWN_FILES = 10
#: A dataset more padding than this (a share of its values) is warned about by ``prepare``.
PADDING_WARN_SHARE = 0.5


class RepeatedWarnings:
    """Warnings of one kind logged the first ``first`` times, then only counted.

    ``warn(kind, message)`` logs ``message`` (on ``log``) while fewer than ``first`` warnings of
    ``kind`` were logged; :meth:`close` then logs one line per kind saying how many more there
    were (a summary, when the run ends well, lists them all). One mechanism for every warning given
    per file: a wrong ``--column`` over 616 files logs three lines and a count, not 616.

    >>> import logging
    >>> w = RepeatedWarnings(logging.getLogger("doc"), first=2)
    >>> for i in range(5):
    ...     w.warn("skipped", f"skipped f{i}.csv: no column 'x'")
    >>> w.counts["skipped"], w.hidden("skipped")
    (5, 3)
    """

    def __init__(self, log: logging.Logger, *, first: int = 3) -> None:
        self.log = log
        self.first = first
        self.counts: Counter[str] = Counter()

    def warn(self, kind: str, message: str) -> None:
        self.counts[kind] += 1
        if self.counts[kind] <= self.first:
            self.log.warning("%s", message)

    def hidden(self, kind: str) -> int:
        """Warnings of ``kind`` counted but not logged."""
        return max(self.counts[kind] - self.first, 0)

    def close(self) -> None:
        """Log how many warnings of each kind were not logged."""
        for kind in self.counts:
            if self.hidden(kind):
                self.log.warning("... and %d more %s, not shown", self.hidden(kind), kind)


@dataclass
class PrepareSummary:
    """What ``prepare`` did.

    Attributes
    ----------
    files_read : int
    skipped : list of (path, reason)
        Files not used, with the reason (unreadable, truncated, no label, no host, ...).
    warnings : list of (path, message)
        Recoverable problems in files that were used.
    traces_per_label : dict
    packets : int
        Packets read from the captures used.
    reading : ReadStats
        Over the captures used: records with implausible timestamps or lengths (mended),
        oversized records and corrupt pcapng blocks (skipped), ...
    flows_closed_early : int
        Flows closed before their idle timeout: the open flows reached the ``flow_memory`` limit.
    traces_too_short : int
        Traces dropped by ``min_packets``.
    traces_unlabelled : int
        Flows without a row in a ``csv:`` flow table.
    traces_labelled : int
        Flows matched to a row of a ``csv:`` flow table.
    label_gap_median_s : float
        Median time between a matched flow's start and its row's time (NaN without times). Hours
        mean the table's clock is in another time zone: see ``label_utc_offset_h``.
    padding_share : float
        The share of the dataset's values that are zero padding after a trace's end (NaN if the
        trace lengths are unknown); see :func:`note_padding`.
    traces_padded : int
        Traces shorter than the series length (their end is padded).
    median_data_length : float
        Median positions holding data per trace (packets, or bins up to the last packet's).
    elapsed_s : float
    """

    files_read: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    traces_per_label: dict[str, int] = field(default_factory=dict)
    packets: int = 0
    reading: ReadStats = field(default_factory=ReadStats)
    flows_closed_early: int = 0
    traces_too_short: int = 0
    traces_unlabelled: int = 0
    traces_labelled: int = 0
    label_gap_median_s: float = math.nan
    padding_share: float = math.nan
    traces_padded: int = 0
    median_data_length: float = math.nan
    elapsed_s: float = 0.0

    def format_text(self) -> str:
        """The summary as lines of text (the CLI prints it)."""
        n = sum(self.traces_per_label.values())
        lines = [f"files read: {self.files_read}", f"files skipped: {len(self.skipped)}"]
        lines += _grouped(self.skipped)
        if self.warnings:
            lines.append(f"warnings: {len(self.warnings)}")
            lines += [f"  {m}" for _, m in self.warnings[:SHOWN_FILES]]
            if len(self.warnings) > SHOWN_FILES:
                lines.append(f"  ... and {len(self.warnings) - SHOWN_FILES} more")
        if self.packets:
            rate = self.packets / self.elapsed_s if self.elapsed_s > 0 else 0.0
            lines.append(f"packets: {self.packets} ({rate:,.0f}/s)")
        lines += _reading_lines(self.reading)
        if self.flows_closed_early:
            lines.append(f"flows closed early (open flows reached --flow-memory): {self.flows_closed_early}")
        if self.traces_too_short:
            lines.append(f"traces dropped (fewer than min_packets): {self.traces_too_short}")
        if self.traces_labelled or self.traces_unlabelled:
            lines.append(
                f"flows matched to a label row: {self.traces_labelled} of "
                f"{self.traces_labelled + self.traces_unlabelled} (unmatched dropped)"
                + (f", median {self.label_gap_median_s:,.0f} s from the row's time"
                   if math.isfinite(self.label_gap_median_s) else "")
            )
        if math.isfinite(self.padding_share):
            lines.append(f"padding: {100 * self.padding_share:.1f} % of the values ({self.traces_padded} of {n} "
                         f"traces end before the series length; median {self.median_data_length:g} positions of "
                         "data)")
        lines.append(f"traces: {n} in {len(self.traces_per_label)} label(s)")
        lines += [f"  {lab}: {c}" + (f" (fit needs at least {MIN_TRACES_PER_CLASS} per class)"
                                     if c < MIN_TRACES_PER_CLASS else "")
                  for lab, c in sorted(self.traces_per_label.items())]
        return "\n".join(lines)


def note_padding(dataset: TraceDataset, summary: PrepareSummary) -> None:
    """Put how much of ``dataset`` is padding in ``summary``; warn when most of it is.

    Nothing is noted when the dataset does not know its trace lengths.

    >>> ds = TraceDataset(series=np.zeros((2, 1, 4)), labels=["a", "a"], ids=["x", "y"], sources=["s", "s"],
    ...                   lengths=np.array([1, 4]))
    >>> s = PrepareSummary()
    >>> note_padding(ds, s)
    >>> s.padding_share, s.traces_padded, s.median_data_length
    (0.375, 1, 2.5)
    """
    share = dataset.padding_share()
    if share is None or dataset.lengths is None:
        return
    t = dataset.length
    summary.padding_share = share
    summary.traces_padded = int((dataset.lengths < t).sum())
    summary.median_data_length = float(np.median(dataset.lengths))
    if share > PADDING_WARN_SHARE:
        log.warning("%.0f %% of the dataset is zero padding: %d of %d traces end before the series length %d "
                    "(median %g positions of data); a smaller length (--length) keeps less padding",
                    100 * share, summary.traces_padded, dataset.n_traces, t, summary.median_data_length)


def _grouped(skipped: list[tuple[str, str]]) -> list[str]:
    """The skipped files, one line per reason: the file when it is the only one, else a count and the first."""
    by_reason: dict[str, list[str]] = {}
    for path, reason in skipped:
        by_reason.setdefault(reason, []).append(path)
    lines = []
    for reason, paths in list(by_reason.items())[:SHOWN_FILES]:
        lines.append(f"  {paths[0]}: {reason}" if len(paths) == 1 else
                     f"  {len(paths)} files: {reason} (first: {paths[0]})")
    if len(by_reason) > SHOWN_FILES:
        rest = sum(len(p) for p in list(by_reason.values())[SHOWN_FILES:])
        lines.append(f"  ... and {rest} more file(s) for {len(by_reason) - SHOWN_FILES} other reason(s)")
    return lines


def _reading_lines(r: ReadStats) -> list[str]:
    """One line per kind of record the readers mended or skipped."""
    kinds = ((r.retimed, "records with an implausible timestamp (timed as their neighbour)"),
             (r.length_fixed, "records with an implausible original length (counted at their captured length)"),
             (r.oversized, "records skipped: longer than 256 KiB"),
             (r.bad_blocks, "corrupt pcapng blocks skipped"),
             (r.undecoded, "packets dpkt could not decode (outer headers used)"))
    return [f"{what}: {count}" for count, what in kinds if count]
