"""``netdiffus distill``: make a fitted run into a student run that samples in 1 to a few steps."""

from __future__ import annotations

import argparse
from pathlib import Path

from netdiffus.cli._common import show_progress

EXAMPLE = """example:
  netdiffus distill runs/b1 data/train.parquet -o runs/b1-fast
  netdiffus sample runs/b1-fast -n 100000 -o synthetic.parquet      # 1 model call per trace
  netdiffus distill runs/b1 data/train.parquet --method reflow --steps 2 -o runs/b1-reflow2"""


def add_parser(sub) -> argparse.ArgumentParser:
    from netdiffus.config import DISTILL_METHODS, DistillConfig

    d = DistillConfig()
    p = sub.add_parser("distill", help="distil a fitted run into a 1 to few-step sampler",
                       description="Distil the model of a fitted run (the teacher) into a student that samples "
                       "in --steps model calls, and write the student as a run folder (config.json, "
                       "model.safetensors, model.json, distill.json). 'netdiffus sample' draws from it as from "
                       "any run. The training set is needed: progressive distillation noises its traces, and the "
                       "volume calibration is fitted again on the student's own draws.",
                       epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, help="the teacher: a run folder written by 'netdiffus fit'")
    p.add_argument("dataset", type=Path, help="the teacher's training dataset (.parquet)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="FAST_RUN", help="student run folder to write")
    p.add_argument("--method", choices=list(DISTILL_METHODS), default=d.method,
                   help=f"progressive distillation or rectified-flow reflow (default: {d.method})")
    p.add_argument("--steps", type=int, default=d.steps, help=f"sampling steps of the student (default: {d.steps})")
    p.add_argument("--teacher-steps", type=int, default=d.teacher_steps,
                   help="progressive: the teacher's grid, steps times a power of 2; reflow: the DDIM steps that "
                        f"draw the pairs (default: {d.teacher_steps})")
    p.add_argument("--iterations", type=int, default=d.iterations,
                   help=f"optimizer steps per halving (progressive) or in all (reflow) (default: {d.iterations})")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help=f"(default: {d.batch_size})")
    p.add_argument("--lr", type=float, default=d.lr, help=f"peak learning rate (default: {d.lr:g})")
    p.add_argument("--pairs", type=int, default=d.pairs,
                   help=f"reflow: (noise, teacher sample) pairs to draw (default: {d.pairs})")
    p.add_argument("--seed", type=int, default=d.seed, help=f"(default: {d.seed})")
    p.add_argument("--threads", type=int, default=0, help="torch threads (default: 0, torch's choice)")
    p.add_argument("--force", action="store_true", help="write into a non-empty run folder")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar (shown on a terminal only)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    import time

    import torch

    from netdiffus.config import DistillConfig
    from netdiffus.distill import distill, write_record
    from netdiffus.distributed import resolve_device
    from netdiffus.io.dataset import read_dataset
    from netdiffus.progress import train_bar
    from netdiffus.run_folder import RunFolderGuard, check_output_folder
    from netdiffus.synthesizer import TrafficSynthesizer

    cfg = DistillConfig(method=args.method, steps=args.steps, teacher_steps=args.teacher_steps,
                        iterations=args.iterations, batch_size=args.batch_size, lr=args.lr, pairs=args.pairs,
                        seed=args.seed).validate()
    device = resolve_device(args.device)
    check_output_folder(args.output, force=args.force)  # fail now, not after the distillation
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    progress = show_progress(args)
    teacher = TrafficSynthesizer.load(args.run, device=device, progress=progress)
    dataset = read_dataset(args.dataset)
    t0 = time.perf_counter()
    student = distill(teacher, dataset, cfg=cfg, progress=train_bar(cfg.total_iterations, bar=progress))
    seconds = time.perf_counter() - t0
    with RunFolderGuard(args.output, resume=False, force=args.force):
        student.save(args.output)
        write_record(args.output, cfg=cfg, teacher=args.run, seconds=seconds)
    print(f"distilled {args.run} ({cfg.method}) into a {cfg.steps}-step {cfg.sampler} sampler in {seconds:.1f} s "
          f"-> {args.output}")
    return 0
