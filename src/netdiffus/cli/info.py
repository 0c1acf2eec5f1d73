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
    from netdiffus.checkpoint import load_checkpoint
    from netdiffus.errors import CheckpointError, InputError
    from netdiffus.io.dataset import read_dataset

    path: Path = args.path
    if path.is_dir():
        config, state, info = load_checkpoint(path)
        n_params = sum(int(v.numel()) for v in state.values())
        try:
            out = {
                "run": str(path), "preset": config.get("preset"), "classes": info["class_counts"],
                "shape": info["shape"], "representation": config["imaging"]["representation"],
                "scaling": config["imaging"]["scaling"], "parameters": n_params,
                "train_steps": config["train"]["steps"], "fit_seconds": info.get("fit_seconds"),
                "feature": info["dataset_meta"].get("feature"), "unit": info["dataset_meta"].get("unit"),
                "bin_width_s": info["dataset_meta"].get("bin_width_s"),
                "value_snap": _value_snap(info.get("value_lexicon"), config["imaging"].get("snap_values", True)),
                "volume_calibration": _volume_calibration(info.get("totals_calibration"),
                                                          config["imaging"].get("calibrate_totals", True)),
            }
        except (KeyError, TypeError, AttributeError) as exc:
            raise CheckpointError(
                f"{path}: config.json or model.json lacks {exc} (not written by netdiffus fit?)"
            ) from None
    elif path.exists():
        ds = read_dataset(path)
        out = {
            "dataset": str(path), "traces": len(ds), "channels": ds.meta.channels, "length": ds.length,
            "feature": ds.meta.feature, "unit": ds.meta.unit, "bin_width_s": ds.meta.bin_width_s,
            "classes": ds.class_counts(), "first_ids": ds.ids[:3],
        }
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


def _value_snap(lexicon: dict | None, on: bool) -> str:
    """One line on the run's value snap (netdiffus.postprocess.ValueLexicon)."""
    if lexicon is None:
        return "none (run saved before value snapping)"
    chans = [v for per_class in lexicon["values"].values() for v in per_class]
    used = [v for v in chans if v]
    if not used:
        return "none (no channel's values recur across training traces)"
    n = sum(map(len, used))
    return (f"{n} shared value{'' if n == 1 else 's'} in {len(used)} of {len(chans)} class channels"
            + ("" if on else " (off: imaging.snap_values=false)"))


def _volume_calibration(calibration: dict | None, on: bool) -> str:
    """One line on the run's volume calibration (netdiffus.postprocess.TotalsCalibration)."""
    from netdiffus.postprocess import TotalsCalibration

    if calibration is None:
        return "none (off when fitted, or run saved before volume calibration)"
    cal = TotalsCalibration.from_json(calibration)
    if not cal.classes:
        return "none (no class's reference draw had a spread)"
    return ("spread x " + ", ".join(f"{c} {cal.stretch(c):.2f}" for c in cal.classes)
            + ("" if on else " (off: imaging.calibrate_totals=false)"))
