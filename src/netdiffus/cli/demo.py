"""``netdiffus demo``: the whole pipeline on the real videoTrain subset shipped with netdiffus."""

from __future__ import annotations

import argparse
from pathlib import Path

EXAMPLE = """example:
  netdiffus demo -o runs/demo
  netdiffus demo -o runs/quick --set train.steps=200"""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("demo", help="run the end-to-end demo on shipped real data",
                       description="Prepare the shipped videoTrain subset, train with a CPU preset, sample, "
                       "evaluate against held-out traces, and write a run folder with report.html.",
                       epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-o", "--output", type=Path, default=Path("runs/demo"), help="run folder (default: runs/demo)")
    p.add_argument("--preset", default="demo", help="configuration preset (default: demo)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override one configuration value (repeatable)")
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the split, sampling, evaluation and pcap export (default 0; training: "
                   "--set train.seed=K)")
    p.add_argument("--device", default="cpu", help="torch device of training and sampling (default: cpu)")
    p.add_argument("--force", action="store_true",
                   help="write into a non-empty folder (a folder an earlier demo wrote is replaced without it)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar (shown on a terminal only)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from netdiffus.cli._common import show_progress
    from netdiffus.config import load_config
    from netdiffus.demo import format_table, run_demo, summary_rows
    from netdiffus.distributed import resolve_device
    from netdiffus.run_folder import check_output_folder

    load_config(preset=args.preset, overrides=args.overrides)  # fail on a bad option before any work
    resolve_device(args.device)
    check_output_folder(args.output, force=args.force or _is_previous_demo(args.output))
    result = run_demo(args.output, preset=args.preset, overrides=args.overrides, seed=args.seed,
                      progress=show_progress(args), device=args.device)
    print()
    print(format_table(summary_rows(result)))
    return 0


def _is_previous_demo(path: Path) -> bool:
    """A folder written by an earlier demo run may be overwritten without --force."""
    return (path / "demo.json").exists()
