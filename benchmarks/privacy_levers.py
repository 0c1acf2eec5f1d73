"""Shared parts of the B1 experiments that try to lower the membership-attack AUC (not a test).

:mod:`benchmarks.distance_filter`, :mod:`benchmarks.perturb_b1` and :mod:`benchmarks.augment_b1`
each change one thing (which traces are kept, the traces themselves, the training set), score the
result with the project's ``evaluate`` on the B1 split (real test for utility and privacy) and
write one markdown table; the parser options, the class counts, the scoring and the table live
here.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from benchmarks.datasets import Benchmark, load_b1
from netdiffus.evaluation import evaluate
from netdiffus.io.dataset import TraceDataset

KEYS = ("W1_values", "W1_totals", "ACF", "discriminative", "TSTR_acc", "TRSTR_acc", "DCR_ratio", "MIA_AUC")


def lever_parser(doc: str, *, name: str, from_run: bool = True) -> argparse.ArgumentParser:
    """The options every experiment takes: ``--from-run`` (when it scores a fitted run),
    ``--forest-repeats``, ``--threads`` and ``--out`` (default ``benchmarks/results/<date>-NAME.md``)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if from_run:
        ap.add_argument("--from-run", type=Path, required=True, help="a run folder fitted on B1's training split")
    ap.add_argument("--forest-repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None,
                    help=f"results markdown (default benchmarks/results/<date>-{name}.md; '-' for none)")
    return ap


def start(ap: argparse.ArgumentParser) -> tuple[argparse.Namespace, Benchmark, dict[str, int]]:
    """Parse the options, set the torch threads and load B1 -> ``(args, b1, class_counts(b1.train))``."""
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    b = load_b1()
    return args, b, class_counts(b.train)


def class_counts(train: TraceDataset, factor: int = 2) -> dict[str, int]:
    """``factor`` x each class's training count, the protocol's synthetic set (``factor=2``)."""
    labels = np.asarray(train.labels)
    return {c: int((labels == c).sum()) * factor for c in sorted(set(train.labels))}


def with_series(d: TraceDataset, series: np.ndarray, index: np.ndarray | None = None) -> TraceDataset:
    """``d``'s rows ``index`` (all when None) with new ``series`` ``[len(index), C, T]``."""
    idx = np.arange(len(d)) if index is None else np.asarray(index)
    return TraceDataset(series=np.asarray(series, dtype=np.float32), labels=[d.labels[i] for i in idx],
                        ids=[d.ids[i] for i in idx], sources=[d.sources[i] for i in idx], meta=d.meta)


def score(train: TraceDataset, test: TraceDataset, synthetic: TraceDataset, *, threads: int,
          forest_repeats: int) -> dict[str, float]:
    """The :data:`KEYS` of ``evaluate`` (seed 0), rounded to 3 decimals."""
    r = evaluate(train, synthetic, real_test=test, seed=0, n_jobs=threads, forest_repeats=forest_repeats,
                 reference=False)  # fmt: skip
    return {k: round(r.overall[k], 3) for k in KEYS}


def write_table(out: Path | None, *, name: str, title: str, intro: str, columns: Sequence[str],
                rows: Sequence[dict[str, Any]]) -> None:
    """Write ``rows`` (``columns`` first, then :data:`KEYS`) as a markdown table under ``title``
    and ``intro``; ``out`` ``-`` writes nothing, None the default path of :func:`lever_parser`."""
    if str(out) == "-":
        return
    path = out or Path("benchmarks/results") / f"{time.strftime('%Y-%m-%d')}-{name}.md"
    cols = [*columns, *KEYS]

    def cell(v: Any) -> str:
        return "none" if v is None else f"{v:.3f}" if isinstance(v, float) else str(v)

    text = "\n".join([f"# {title}", "", intro, "",
                      "| " + " | ".join(c.replace("_", " ") if c in columns else c for c in cols) + " |",
                      "|" + "---|" * len(cols),
                      *("| " + " | ".join(cell(r[c]) for c in cols) + " |" for r in rows), ""])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
