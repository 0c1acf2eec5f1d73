"""Few-step sampling on B1: every sampler and step count of a teacher and its students, side by side
(not a test).

    python -m benchmarks.few_step_b1 --run NAME=RUN[:SAMPLER:STEPS] ... [--threads 1] [--eval-jobs 1]
        [--forest-repeats 10] [--batch-size 256] [--jsonl FILE] [--out FILE]

Each ``--run`` is a run folder (a teacher kept by ``python -m benchmarks.preset_b1 --run RUN``, or a
student written by ``netdiffus distill``) with the sampler and step count to draw it with (default:
its own ``sample`` section). In one process, one after another, each draws twice the B1 training
set (884 traces, seed 0, the training class balance, post-processed as its run says) with
``TrafficSynthesizer.sample``, timed on the wall clock, and is scored by
``netdiffus.evaluation.evaluate`` against the B1 split (300 trees, ``--forest-repeats`` forests per
random-forest score). Rows go to stdout and ``--jsonl`` as they come; the markdown table to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import torch

from benchmarks.datasets import load_b1
from netdiffus.evaluation import evaluate
from netdiffus.synthesizer import TrafficSynthesizer

KEYS = ("W1_values", "W1_totals", "ACF", "discriminative", "TSTR_acc", "TRSTR_acc", "DCR_ratio", "MIA_AUC")


def parse_run(text: str) -> tuple[str, Path, str | None, int | None]:
    name, _, rest = text.partition("=")
    path, *spec = rest.split(":")
    if spec and len(spec) != 2:
        raise argparse.ArgumentTypeError(f"expected NAME=RUN[:SAMPLER:STEPS] (got {text!r})")
    return name, Path(path), spec[0] if spec else None, int(spec[1]) if spec else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", action="append", type=parse_run, required=True, metavar="NAME=RUN[:SAMPLER:STEPS]")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--eval-jobs", type=int, default=1)
    ap.add_argument("--forest-repeats", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=None, help="sampling batch (default: each run's)")
    ap.add_argument("--jsonl", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    b = load_b1()
    n = 2 * len(b.train)
    rows = []
    for name, path, sampler, steps in args.run:
        synth = TrafficSynthesizer.load(path, progress=False)
        sc = synth.config.sample
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        fake = synth.sample(n, seed=0, sampler=sampler, steps=steps, batch_size=args.batch_size)
        seconds = time.perf_counter() - t0
        r = evaluate(b.train, fake, real_test=b.test, seed=0, n_jobs=args.eval_jobs, forest_repeats=args.forest_repeats,
                     reference=False)  # fmt: skip
        row = {"name": name, "run": str(path), "sampler": sampler or sc.sampler, "steps": steps or sc.steps,
               "series_per_s": round(n / seconds, 1), "load": round(load, 2),
               **{k: round(v, 4) for k, v in r.overall.items()}}
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.jsonl is not None:
            with args.jsonl.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
    if args.out is not None:
        lines = ["| run | sampler | steps | series/s | load | " + " | ".join(KEYS) + " |",
                 "|---|---|---|---|---|" + "---|" * len(KEYS)]
        lines += [f"| {r['name']} | {r['sampler']} | {r['steps']} | {r['series_per_s']} | {r['load']} | "
                  + " | ".join(f"{r[k]:.3f}" for k in KEYS) + " |" for r in rows]
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
