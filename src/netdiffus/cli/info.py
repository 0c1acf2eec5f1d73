"""``netdiffus info``: describe a run folder or a dataset file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

EXAMPLE = """example:
  netdiffus info runs/demo
  netdiffus info data/train.parquet"""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("info", help="describe a run folder or a dataset",
                       description="Print what a run folder (model, classes, config) or a dataset "
                       "(traces, classes, shape, units) holds.",
                       epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("path", type=Path, help="run folder or .parquet dataset")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from netdiffus.describe import describe_dataset, describe_run
    from netdiffus.errors import InputError

    path: Path = args.path
    if path.is_dir():
        out = describe_run(path)
    elif path.exists():
        out = describe_dataset(path)
    else:
        raise InputError(f"path {path} does not exist")
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        width = max(len(k) for k in out)
        for k, v in out.items():
            if isinstance(v, dict):
                v = ", ".join(f"{a}: {b}" for a, b in v.items())
            elif isinstance(v, list):
                v = ", ".join(map(str, v))
            print(f"{k:<{width}}  {v}")
    return 0
