"""``netdiffus fit``: train a class-conditional diffusion model on a dataset."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from netdiffus.cli._common import add_config_args, show_progress

EXAMPLE = """example:
  netdiffus fit data/train.parquet --preset cpu -o runs/b1
  netdiffus fit data/train.parquet --set train.steps=300 --dry-run
  netdiffus fit data/train.parquet --preset cpu --dp-epsilon 10 --set imaging.range_max=1e7 -o runs/b1-dp
  netdiffus fit data/private.parquet --init-from runs/public --dp-epsilon 10 --set imaging.range_max=1e7 -o runs/ft"""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("fit", help="train a diffusion model on a dataset (Parquet)",
                       description="Fit the GASF scaling and train a class-conditional diffusion model. "
                       "Writes config.json, model.safetensors, model.json and metrics.jsonl into the run folder.",
                       epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", type=Path, help="training dataset (.parquet written by 'netdiffus prepare')")
    p.add_argument("-o", "--output", type=Path, metavar="RUN", help="run folder to write (required unless --dry-run)")
    add_config_args(p)
    p.add_argument("--resume", action="store_true",
                   help="continue from RUN/train_state.safetensors (written with --set train.checkpoint_every=K)")
    p.add_argument("--force", action="store_true", help="write into a non-empty run folder")
    p.add_argument("--device", default="cpu",
                   help="torch device (default: cpu); under torchrun, cuda gives each process the GPU "
                        "of its local rank")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar (shown on a terminal only)")
    p.add_argument("--init-from", type=Path, metavar="RUN",
                   help="start from the weights of this run folder, trained on public traffic of the same kind "
                        "with the same classes and network (sets train.init_from)")
    dp = p.add_argument_group("differential privacy (DP-SGD; docs/privacy.md)")
    dp.add_argument("--dp-epsilon", type=float, metavar="EPS",
                    help="train with DP-SGD to (EPS, delta)-DP per trace (sets train.dp_epsilon; needs "
                         "imaging.range_max)")
    dp.add_argument("--dp-delta", type=float, metavar="DELTA",
                    help="delta of the guarantee (sets train.dp_delta; default 1 / (10 N))")
    dp.add_argument("--dp-max-grad-norm", type=float, metavar="C",
                    help="per-trace gradient clipping norm (sets train.dp_max_grad_norm; default 1)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from netdiffus.config import load_config
    from netdiffus.distributed import distributed_run, is_main_process, resolve_device
    from netdiffus.errors import ConfigError
    from netdiffus.io.dataset import read_dataset
    from netdiffus.run_folder import check_run_folder
    from netdiffus.synthesizer import TrafficSynthesizer

    given = {"dp_epsilon": args.dp_epsilon, "dp_delta": args.dp_delta, "dp_max_grad_norm": args.dp_max_grad_norm}
    dp_overrides = [f"train.{k}={v!r}" for k, v in given.items() if v is not None]
    if args.init_from is not None:
        dp_overrides.append(f"train.init_from={json.dumps(str(args.init_from))}")
    config = load_config(preset=args.preset, file=args.config, overrides=[*args.overrides, *dp_overrides])
    if args.dry_run:
        print(config.to_json())
        return 0
    if args.output is None:
        raise ConfigError("-o/--output is required (only --dry-run runs without a run folder)")
    device = resolve_device(args.device)  # a bad option fails before the dataset is read
    if args.resume:
        check_run_folder(args.output, resume=True, force=args.force)
    # under torchrun: this process's device (cuda -> cuda:LOCAL_RANK) and its process group
    with distributed_run(device) as device:
        dataset = read_dataset(args.dataset)
        synth = TrafficSynthesizer(config, device=device, progress=show_progress(args) and is_main_process())
        # the run folder's policy (non-empty, resume, interrupt) is the library's: netdiffus.run_folder
        synth.fit(dataset, run_dir=args.output, resume=args.resume, force=args.force)
        if is_main_process():
            print(f"trained {config.train.steps} steps on {len(dataset)} traces "
                  f"({len(synth.classes_)} classes) in {synth.fit_seconds_:.1f} s -> {args.output}")
            if synth.privacy_ is not None:
                print(f"privacy: {synth.privacy_.summary()}")
    return 0
