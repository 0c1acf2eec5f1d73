"""``netdiffus fit``: train a class-conditional diffusion model on a dataset."""

from __future__ import annotations

import argparse
from pathlib import Path

from netdiffus.cli._common import add_config_args, check_output_dir

EXAMPLE = """example:
  netdiffus fit data/train.parquet --preset cpu -o runs/b1
  netdiffus fit data/train.parquet --set train.steps=300 --dry-run"""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("fit", help="train a diffusion model on a dataset (Parquet)",
                       description="Fit the GASF scaling and train a class-conditional diffusion model. "
                       "Writes config.json, model.safetensors, model.json and metrics.jsonl into the run folder.",
                       epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", type=Path, help="training dataset (.parquet written by 'netdiffus prepare')")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="RUN", help="run folder to write")
    add_config_args(p)
    p.add_argument("--resume", action="store_true", help="continue from RUN/train_state.safetensors")
    p.add_argument("--force", action="store_true", help="write into a non-empty run folder")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from netdiffus.config import load_config
    from netdiffus.io.dataset import read_dataset
    from netdiffus.synthesizer import TrafficSynthesizer
    from netdiffus.training import is_main_process, setup_distributed

    config = load_config(preset=args.preset, file=args.config, overrides=args.overrides)
    if args.dry_run:
        print(config.to_json())
        return 0
    distributed = setup_distributed()
    dataset = read_dataset(args.dataset)
    if is_main_process() and not args.resume:
        check_output_dir(args.output, force=args.force)
    synth = TrafficSynthesizer(config, device=args.device, progress=not args.no_progress and is_main_process())
    synth.fit(dataset, run_dir=args.output, resume=args.resume)
    if is_main_process():
        print(f"trained {config.train.steps} steps on {len(dataset)} traces "
              f"({len(synth.classes_)} classes) in {synth.fit_seconds_:.1f} s -> {args.output}")
    if distributed:
        import torch.distributed as dist

        dist.destroy_process_group()
    return 0
