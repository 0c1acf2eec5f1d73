"""Distil a run fitted on the B1 training split, keeping every student as a run folder (not a test).

    python -m benchmarks.distill_b1 TEACHER --out-prefix runs/pd [--method progressive] [--steps 1]
        [--teacher-steps 16] [--iterations 400] [--lr 2e-4] [--batch-size 64] [--pairs 2048]
        [--seed 0] [--threads 1]

What ``netdiffus distill TEACHER train.parquet -o RUN`` does, with the B1 training split of
``benchmarks/datasets.py`` as the training set, and with every student kept: progressive
distillation writes the student of each halving to ``PREFIX-<steps>`` (reflow its one student),
each with its volume calibration fitted on its own draws and a ``distill.json``. Score them with
``python -m benchmarks.few_step_b1``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from benchmarks.datasets import load_b1
from netdiffus.distill import DistillConfig, as_student, distill_model, write_record
from netdiffus.synthesizer import TrafficSynthesizer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("teacher", type=Path)
    ap.add_argument("--out-prefix", required=True)
    d = DistillConfig()
    for f in dataclasses.fields(DistillConfig):
        ap.add_argument(f"--{f.name.replace('_', '-')}", type=type(getattr(d, f.name)), default=getattr(d, f.name))
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = DistillConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(DistillConfig)}).validate()
    b = load_b1()
    teacher = TrafficSynthesizer.load(args.teacher, progress=False)
    rep = teacher.representation_
    x_0 = torch.from_numpy(rep.encode(b.train.series).astype("float32"))
    index = {c: i for i, c in enumerate(teacher.classes_)}
    y = torch.tensor([index[lab] for lab in b.train.labels])
    t0 = time.perf_counter()
    log = []

    def keep(steps: int, model: torch.nn.Module) -> None:
        seconds = time.perf_counter() - t0
        student = as_student(teacher, model, b.train, sampler=cfg.sampler, steps=steps)
        out = Path(f"{args.out_prefix}-{steps}")
        student.save(out)
        write_record(out, cfg=dataclasses.replace(cfg, steps=steps), teacher=args.teacher, seconds=seconds)
        last = log[-1] if log else None
        print(json.dumps({"steps": steps, "seconds": round(seconds), "run": str(out), "loss": last}), flush=True)

    def progress(p) -> None:
        if p.step % 50 == 0 or p.step == p.steps:
            log.append(round(p.loss, 6))
            print(json.dumps({"iteration": p.step, "of": p.steps, "loss": round(p.loss, 6)}), flush=True)

    sc = teacher.config.sample
    distill_model(teacher.model_, teacher.process, x_0, y, cfg=cfg, null_class=len(teacher.classes_),
                  guidance_scale=sc.guidance_scale, x0_transform=rep.x0_hook(sc, teacher.model_), progress=progress,
                  on_student=keep)


if __name__ == "__main__":
    main()
