"""``netdiffus evaluate``: score a synthetic dataset against real data and write the report."""

from __future__ import annotations

import argparse
import logging
import math
import sys
from pathlib import Path

from netdiffus.errors import ConfigError, InputError
from netdiffus.evaluation.names import FIELD_METRICS, METRIC_GROUPS

log = logging.getLogger(__name__)

EXAMPLE = """example:
  netdiffus evaluate --real runs/demo/data/train.parquet --real-test runs/demo/data/test.parquet \\
      --synthetic runs/demo/synthetic.parquet -o runs/demo/eval

writes DIR/metrics.json and DIR/report.html (self-contained, open it in any browser).
Without --real-test only the fidelity metrics and the discriminative score are computed.
With --real-test the real test traces are scored the same way, in place of the synthetic set:
the real held-out reference, shown [in brackets] and in the report's tables (--no-reference
skips it; it about doubles the time of every metric group but curve).
With --real-capture and --synthetic-capture (e.g. the output of 'netdiffus export') the header
fields and flow records of the captures are scored too (JSD_protocol ... W1_flow_duration)."""

SHOWN = ("W1_values", "W1_totals", "JSD", "ACF", "discriminative", "mode_coverage", "impossible", "TRTR_acc",
         "TSTR_acc", "TRSTR_acc", "CNN_TRTR_acc", "CNN_TSTR_acc", "CNN_TRSTR_acc", "FD", "DCR_ratio", "MIA_AUC",
         *FIELD_METRICS)  # fmt: skip


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "evaluate",
        help="score synthetic traces against real ones (fidelity, utility, privacy) and write a report",
        description="Score a synthetic dataset against the real training set (and a real test set) with "
        "the benchmark metrics, per class and overall; write metrics.json and a self-contained report.html.",
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--real", required=True, type=Path, metavar="R.parquet",
                   help="real traces the generator was trained on")
    p.add_argument("--real-test", type=Path, metavar="T.parquet",
                   help="real traces unseen by the generator (utility, privacy)")
    p.add_argument("--synthetic", required=True, type=Path, metavar="S.parquet", help="generated traces")
    p.add_argument("-o", "--output", required=True, type=Path, metavar="DIR", help="output folder")
    p.add_argument("--real-capture", type=Path, nargs="+", metavar="R.pcap",
                   help="real capture(s): score the header fields and flow records of --synthetic-capture against "
                        "them")
    p.add_argument("--synthetic-capture", type=Path, nargs="+", metavar="S.pcap",
                   help="synthetic capture(s), e.g. written by 'netdiffus export'")
    p.add_argument(
        "--metrics",
        default="default",
        help=f"'default' (all but the CNN), 'all', or a comma list of {','.join(METRIC_GROUPS)} (default: default)",
    )
    p.add_argument("--fast", action="store_true", help="fewer trees and CNN epochs (seconds, for a first look)")
    p.add_argument("--no-reference", action="store_true",
                   help="do not score the real test traces in place of the synthetic set (the real held-out "
                        "reference beside every score; it about doubles the time of every group but curve)")
    p.add_argument("--seed", type=int, default=0, help="seed of every classifier and sample (default 0)")
    p.add_argument(
        "--forest-repeats", type=int, default=1, metavar="N",
        help="fit each random forest N times (seeds SEED..SEED+N-1) and report the mean and *_sd (default 1)",
    )  # fmt: skip
    p.add_argument("--title", default="netdiffus evaluation", help="title of the HTML report (default: %(default)s)")
    p.add_argument("--force", action="store_true",
                   help="replace the metrics.json and report.html of an earlier evaluation")
    p.add_argument("--no-progress", action="store_true",
                   help="hide the progress bar (shown on a terminal only; elsewhere a log line every 30 s)")
    p.set_defaults(func=run)
    return p


def _metrics_arg(value: str) -> str | list[str]:
    value = value.strip()
    if value in ("default", "all"):
        return value
    parts = [v.strip() for v in value.split(",") if v.strip()]
    if not parts:
        raise ConfigError(f"--metrics must name at least one metric group (got {value!r})")
    return parts


def run(args: argparse.Namespace) -> int:
    from netdiffus.cli._common import outputs_guard, printable, show_progress
    from netdiffus.evaluation import evaluate, write_report
    from netdiffus.io.dataset import read_dataset

    metrics = _metrics_arg(args.metrics)
    if (args.real_capture is None) != (args.synthetic_capture is None):
        raise ConfigError("--real-capture and --synthetic-capture go together (got only "
                          f"{'--real-capture' if args.real_capture else '--synthetic-capture'})")
    check_report_dir(args.output, force=args.force)  # before the (long) scoring
    real = read_dataset(args.real)
    synthetic = read_dataset(args.synthetic)
    real_test = read_dataset(args.real_test) if args.real_test else None
    log.info("evaluating %d synthetic vs %d real traces", synthetic.n_traces, real.n_traces)
    result = evaluate(real, synthetic, real_test=real_test, seed=args.seed, metrics=metrics, fast=args.fast,
                      forest_repeats=args.forest_repeats, progress_bar=show_progress(args),
                      reference=not args.no_reference)  # fmt: skip
    if args.real_capture:
        from netdiffus.evaluation.fields import CaptureFields, field_scores

        log.info("scoring the header fields of %d synthetic against %d real capture(s)", len(args.synthetic_capture),
                 len(args.real_capture))
        result.overall.update(field_scores(CaptureFields.read(args.real_capture),
                                           CaptureFields.read(args.synthetic_capture)))
    log.info("writing the report (plots of %d classes)", min(len(real.classes), 8))
    # metrics.json and report.html together or neither, replacing nothing without --force (checked
    # at the rename: a second evaluation racing to the same folder fails instead of mixing them)
    with outputs_guard(args):
        path = write_report(
            result,
            real,
            synthetic,
            args.output,
            title=args.title,
            extra_info={
                "real": str(args.real),
                "real test": str(args.real_test) if args.real_test else "-",
                "synthetic": str(args.synthetic),
                **({"real capture": " ".join(map(str, args.real_capture)),
                    "synthetic capture": " ".join(map(str, args.synthetic_capture))} if args.real_capture else {}),
            },
            seed=args.seed,
        )
    lines = _summary(result.overall, result.reference)
    if result.curve is not None:
        c = result.curve
        lines.append("accuracy against real training traces per class (real only / + synthetic; synthetic only "
                     f"{c.synthetic:.3f}):")
        lines += [f"  {p:>5} ({k}): {r:.3f} / {b:.3f}" for p, k, r, b in zip(c.per_class, c.n_real, c.real,
                                                                             c.real_synthetic, strict=True)]
    lines.append(f"report: {path}")
    lines.append(f"metrics: {path.parent / 'metrics.json'}")
    sys.stdout.write("\n".join(printable(line) for line in lines) + "\n")
    return 0


def _summary(overall: dict[str, float], reference: dict[str, float] | None) -> list[str]:
    """Lines ``metric  value  [reference]`` of the metrics in :data:`SHOWN` (``–`` where NaN or absent)."""

    def fmt(v: float | None) -> str:
        return f"{v:.3f}" if v is not None and math.isfinite(v) else "–"

    width = max(len(k) for k in SHOWN)
    head = f"{'metric':<{width}}  value"
    lines = [head if reference is None else f"{head}  [real held-out]"]
    for key in SHOWN:
        if key in overall:
            line = f"{key:<{width}}  {fmt(overall[key])}"
            lines.append(line if reference is None else f"{line:<{width + 7}}  [{fmt(reference.get(key))}]")
    return lines


def check_report_dir(path: Path, *, force: bool) -> None:
    """The output folder must be a folder (or not exist yet) and hold no earlier report unless ``force``."""
    if path.exists() and not path.is_dir():
        raise InputError(f"output path {path} exists and is not a folder; give a folder")
    held = [name for name in ("metrics.json", "report.html") if (path / name).exists()]
    if held and not force:
        raise InputError(f"output folder {path} already holds {' and '.join(held)} (use --force to replace them)")
