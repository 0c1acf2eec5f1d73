"""What ``netdiffus prepare`` did with its inputs: :class:`PrepareSummary`.

Both readers of ``prepare`` fill it in, the capture path (:mod:`netdiffus.prepare`) and the CSV
path (:mod:`netdiffus.io.csv_tables`), so it lives below both of them in the io layer.

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

import math
from dataclasses import dataclass, field

from netdiffus.io.dataset import MIN_TRACES_PER_CLASS

__all__ = ["PrepareSummary"]


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
    traces_too_short : int
        Traces dropped by ``min_packets``.
    traces_unlabelled : int
        Flows without a row in a ``csv:`` flow table.
    traces_labelled : int
        Flows matched to a row of a ``csv:`` flow table.
    label_gap_median_s : float
        Median time between a matched flow's start and its row's time (NaN without times). Hours
        mean the table's clock is in another time zone: see ``label_utc_offset_h``.
    elapsed_s : float
    """

    files_read: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    traces_per_label: dict[str, int] = field(default_factory=dict)
    packets: int = 0
    traces_too_short: int = 0
    traces_unlabelled: int = 0
    traces_labelled: int = 0
    label_gap_median_s: float = math.nan
    elapsed_s: float = 0.0

    def format_text(self) -> str:
        """The summary as lines of text (the CLI prints it)."""
        n = sum(self.traces_per_label.values())
        lines = [f"files read: {self.files_read}", f"files skipped: {len(self.skipped)}"]
        lines += [f"  {p}: {r}" for p, r in self.skipped]
        if self.warnings:
            lines.append(f"warnings: {len(self.warnings)}")
            lines += [f"  {m}" for _, m in self.warnings]
        if self.packets:
            rate = self.packets / self.elapsed_s if self.elapsed_s > 0 else 0.0
            lines.append(f"packets: {self.packets} ({rate:,.0f}/s)")
        if self.traces_too_short:
            lines.append(f"traces dropped (fewer than min_packets): {self.traces_too_short}")
        if self.traces_labelled or self.traces_unlabelled:
            lines.append(
                f"flows matched to a label row: {self.traces_labelled} of "
                f"{self.traces_labelled + self.traces_unlabelled} (unmatched dropped)"
                + (f", median {self.label_gap_median_s:,.0f} s from the row's time"
                   if math.isfinite(self.label_gap_median_s) else "")
            )
        lines.append(f"traces: {n} in {len(self.traces_per_label)} label(s)")
        lines += [f"  {lab}: {c}" + (f" (fit needs at least {MIN_TRACES_PER_CLASS} per class)"
                                     if c < MIN_TRACES_PER_CLASS else "")
                  for lab, c in sorted(self.traces_per_label.items())]
        return "\n".join(lines)
