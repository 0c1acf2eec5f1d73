"""Speed against quality of each sampler on a fitted run (not a test).

    python -m benchmarks.sampler_tradeoff RUN [--b1] [--threads N] [--out benchmarks/results/sampler-tradeoff.md]

RUN is a run folder with ``data/train.parquet`` and ``data/test.parquet`` beside the model (as
``netdiffus demo`` writes), or, with ``--b1``, a model fitted on the B1 training split (as
``python -m benchmarks.preset_b1 --run RUN`` keeps), scored against the B1 split with the full
evaluation (300 trees). For DDPM-1000, DDIM-50, DDIM-20 and DPM-Solver++(2M)-20 it samples
twice the training set with the same seed, and reports series/s (wall clock, this machine) and
the fidelity and utility metrics of ``netdiffus.evaluation`` against the real split.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from netdiffus.evaluation import evaluate
from netdiffus.io.dataset import read_dataset
from netdiffus.synthesizer import TrafficSynthesizer

SAMPLERS = (("ddpm", 1000), ("ddim", 50), ("ddim", 20), ("dpmpp2m", 20))
KEYS = ("W1_values", "W1_totals", "ACF", "discriminative", "TSTR_acc", "DCR_ratio")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/sampler-tradeoff.md"))
    ap.add_argument("--skip-ddpm", action="store_true")
    ap.add_argument("--b1", action="store_true", help="score against the B1 benchmark split")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.b1:
        from benchmarks.datasets import load_b1

        b = load_b1()
        train, test = b.train, b.test
    else:
        train = read_dataset(args.run / "data" / "train.parquet")
        test = read_dataset(args.run / "data" / "test.parquet")
    synth = TrafficSynthesizer.load(args.run, progress=False)
    n = 2 * len(train)
    lines = [f"# Sampler speed and quality: run `{args.run}`", "",
             f"{n} synthetic traces against {len(train)} real training / {len(test)} real test traces; "
             f"{torch.get_num_threads()} torch threads; {time.strftime('%Y-%m-%d')}.", "",
             "| sampler | steps | series/s | " + " | ".join(KEYS) + " |",
             "|---|---|---|" + "---|" * len(KEYS)]
    for sampler, steps in SAMPLERS:
        if sampler == "ddpm" and args.skip_ddpm:
            continue
        t0 = time.perf_counter()
        fake = synth.sample(n, seed=0, sampler=sampler, steps=steps)
        rate = n / (time.perf_counter() - t0)
        r = evaluate(train, fake, real_test=test, seed=0, fast=not args.b1, n_jobs=args.threads or -1,
                     reference=False)  # fmt: skip
        lines.append(f"| {sampler} | {steps} | {rate:.1f} | " + " | ".join(f"{r.overall[k]:.3f}" for k in KEYS) + " |")
        print(lines[-1], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
