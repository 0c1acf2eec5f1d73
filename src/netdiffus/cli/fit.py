"""``netdiffus fit``: train a class-conditional diffusion model on a dataset."""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from netdiffus.cli._common import add_config_args, check_output_dir, show_progress

EXAMPLE = """example:
  netdiffus fit data/train.parquet --preset cpu -o runs/b1
  netdiffus fit data/train.parquet --set train.steps=300 --dry-run"""


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
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from netdiffus.config import load_config
    from netdiffus.distributed import distributed_run, is_main_process, resolve_device
    from netdiffus.errors import ConfigError
    from netdiffus.io.dataset import read_dataset
    from netdiffus.synthesizer import TrafficSynthesizer

    config = load_config(preset=args.preset, file=args.config, overrides=args.overrides)
    if args.dry_run:
        print(config.to_json())
        return 0
    if args.output is None:
        raise ConfigError("-o/--output is required (only --dry-run runs without a run folder)")
    device = resolve_device(args.device)  # a bad option fails before the dataset is read
    if args.resume:
        check_resumable(args.output, force=args.force)
    # under torchrun: this process's device (cuda -> cuda:LOCAL_RANK) and its process group
    with distributed_run(device) as device:
        dataset = read_dataset(args.dataset)
        if is_main_process() and not args.resume:
            check_output_dir(args.output, force=args.force)
        synth = TrafficSynthesizer(config, device=device, progress=show_progress(args) and is_main_process())
        created = not args.output.exists()
        fresh = not args.resume and (created or not any(args.output.iterdir()))
        try:
            synth.fit(dataset, run_dir=args.output, resume=args.resume)
        except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: say what the run folder keeps
            if not is_main_process():
                raise
            raise type(exc)(after_interrupt(args.output, fresh=fresh, created=created)) from None
        if is_main_process():
            print(f"trained {config.train.steps} steps on {len(dataset)} traces "
                  f"({len(synth.classes_)} classes) in {synth.fit_seconds_:.1f} s -> {args.output}")
    return 0


def after_interrupt(run: Path, *, fresh: bool, created: bool) -> str:
    """What an interrupted ``fit`` leaves in ``run``: its saved training state, to continue with
    ``--resume``; without one, a folder that was new (or empty) is removed (or emptied) so that
    the same command can run again."""
    from netdiffus.training import TRAIN_STATE_FILE, read_train_state_info

    state = run / TRAIN_STATE_FILE
    if state.is_file():
        step, _ = read_train_state_info(state)
        return f"{run} keeps the training state of step {step}; continue with the same command and --resume"
    if not fresh or not run.is_dir():
        return ""
    if created:
        shutil.rmtree(run, ignore_errors=True)
        return f"no training state was saved yet; {run} removed"
    for entry in run.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    return f"no training state was saved yet; {run} emptied"


def check_resumable(run: Path, *, force: bool) -> None:
    """``--resume`` needs a saved training state in ``run``; without one, training would start
    afresh and overwrite the run, which only ``--force`` allows."""
    from netdiffus.errors import CheckpointError
    from netdiffus.training import TRAIN_STATE_FILE

    if run.exists() and not run.is_dir():
        raise CheckpointError(f"cannot resume {run}: it is a file, not a run folder")
    if (run / TRAIN_STATE_FILE).is_file() or force:
        return
    if not run.exists():
        raise CheckpointError(f"cannot resume {run}: the folder does not exist (leave out --resume to start a run)")
    raise CheckpointError(f"cannot resume {run}: no {TRAIN_STATE_FILE} in it (one is written every "
                          "train.checkpoint_every steps, never with the default 0; use --force to train again)")
