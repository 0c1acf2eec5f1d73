"""Data-parallel training on one CPU (not a test): one process with K threads against K torchrun
processes with one thread each, on the same preset and the same global batch.

    python -m benchmarks.ddp_cpu [--preset cpu] [--procs 2] [--steps 150] [--repeat 2] [--out FILE]

Trains the 163 shipped demo traces (``[163, 1, 60]``) with ``netdiffus fit`` both ways,
alternating, ``--repeat`` times. Reports the median training images/s of each run (from
``metrics.jsonl``, first two logged steps left out) and the wall time of the whole command
(start-up and the data read included). Both ways follow the same per-step batches
(``tests/integration/test_training_resume.py`` checks the losses), so only the speed differs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from netdiffus.demo import load_demo_dataset
from netdiffus.io.dataset import write_dataset

BIN = Path(sys.executable).parent


def fit(dataset: Path, run: Path, *, preset: str, steps: int, procs: int, threads: int) -> tuple[float, float]:
    """``(median images/s, wall s)`` of one ``netdiffus fit``; ``procs`` > 1 runs under torchrun."""
    argv = [str(BIN / "netdiffus"), "fit", str(dataset), "-o", str(run), "--no-progress", "--preset", preset]
    for s in (f"train.steps={steps}", "train.log_every=10", f"train.num_threads={threads}",
              "postprocess.calibrate_totals=false"):
        argv += ["--set", s]
    if procs > 1:
        argv = [str(BIN / "torchrun"), "--standalone", f"--nproc_per_node={procs}", *argv]
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True, env=env)
    wall = time.perf_counter() - t0
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return statistics.median(json.loads(line)["images_per_s"] for line in lines[2:]), wall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--procs", type=int, default=2, help="processes (and threads of the one-process run)")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None, help="also write the markdown table here")
    args = ap.parse_args()
    k = args.procs
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ds = write_dataset(load_demo_dataset(), Path(tmp) / "demo.parquet")
        for rep in range(args.repeat):
            for procs, threads in ((1, k), (k, 1)):
                ips, wall = fit(ds, Path(tmp) / f"r{rep}-{procs}", preset=args.preset, steps=args.steps,
                                procs=procs, threads=threads)
                rows.append((rep, procs, threads, ips, wall))
    lines = [f"# Data-parallel training on one CPU: preset `{args.preset}`, {args.steps} steps", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} cores. Date: {time.strftime('%Y-%m-%d')}. "
             f"Command: `python -m benchmarks.ddp_cpu --preset {args.preset} --procs {k} --steps {args.steps} "
             f"--repeat {args.repeat}`.", "",
             "| run | processes x threads | median images/s | wall s |", "|---|---|---|---|"]
    lines += [f"| {rep + 1} | {p} x {t} | {ips:.0f} | {wall:.1f} |" for rep, p, t, ips, wall in rows]
    one = statistics.median(r[3] for r in rows if r[1] == 1)
    many = statistics.median(r[3] for r in rows if r[1] == k)
    lines += ["", f"Median over runs: {one:.0f} images/s with 1 x {k}, {many:.0f} with {k} x 1 "
                  f"(ratio {many / one:.2f})."]
    text = "\n".join(lines) + "\n"
    if args.out is not None:
        args.out.write_text(text)
    sys.stdout.write(text)


if __name__ == "__main__":
    main()
