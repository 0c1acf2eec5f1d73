"""Streaming benchmark (not a test): ``netdiffus sample -n N -o out.parquet`` for a B1-shaped run.

    python -m benchmarks.stream_sample                          # N = 10000 and 40000, a fresh run
    python -m benchmarks.stream_sample -n 1000000 --run RUN     # the issue's target, on a fitted run
    python -m benchmarks.stream_sample --one-chunk 40000        # also one chunk of N: the whole draw held

Without ``--run``, fits a run on the B1 training split (``benchmarks/datasets.py``, 442 traces of
60 bins) with the ``--preset`` (default ``cpu``) for ``--train-steps`` steps and the sampler
``--sampler`` / ``--steps`` (default: ``consistency``, 1 step: one network call per trace, the
cost of a distilled 1-step student of the same network); speed and memory do not depend on how
well it is trained. Each N is drawn by the command line in a child process: wall time, series per
second, the child's peak resident memory (VmHWM; ``ru_maxrss`` would keep the RSS of this parent
across exec) and the file's size. Prints a markdown table; ``--out FILE`` also writes it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "work"


def fit_run(run: Path, *, preset: str, train_steps: int, sampler: str, steps: int, threads: int) -> float:
    """Fit a B1 run for ``train_steps`` steps, sampling with ``sampler`` / ``steps``; seconds taken."""
    import torch

    from benchmarks.datasets import load_b1
    from netdiffus.synthesizer import TrafficSynthesizer

    torch.set_num_threads(threads)
    overrides = [f"train.steps={train_steps}", f'sample.sampler="{sampler}"', f"sample.steps={steps}",
                 "train.checkpoint_every=0", "train.novelty_every=0"]
    t = time.perf_counter()
    TrafficSynthesizer.from_preset(preset, overrides=overrides, progress=False).fit(load_b1().train, run_dir=run,
                                                                                   force=True)
    return time.perf_counter() - t


def sample_child(run: Path, n: int, out: Path, *, threads: int, extra: list[str]) -> dict:
    """``netdiffus sample RUN -n N -o OUT`` in a fresh child process: its figures."""
    code = f"""
import json, time, torch
torch.set_num_threads({threads})
from netdiffus.cli.main import main
t, c = time.perf_counter(), time.process_time()
code = main(["sample", {str(run)!r}, "-n", "{n}", "-o", {str(out)!r}, "--no-progress", "--force", *{extra!r}])
wall, cpu = time.perf_counter() - t, time.process_time() - c
# VmHWM: ru_maxrss would keep the RSS of the forked parent (this script) across exec
rss = int(next(x for x in open("/proc/self/status") if x.startswith("VmHWM")).split()[1]) / 1024
print(json.dumps(dict(code=code, wall=wall, cpu=cpu, rss_mb=rss)))
"""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    res = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT, env=env)
    row = json.loads(res.stdout.strip().splitlines()[-1])
    row.update(n=n, rate=n / row["wall"], cpu_rate=n / row["cpu"], file_mb=out.stat().st_size / 2**20)
    out.unlink()
    return row


def _table(rows: list[dict], head: list[str]) -> str:
    lines = [*head, "", "| traces | chunk | wall (s) | series/s | CPU (s) | series per CPU-s | peak RSS (MB) | "
             "file (MB) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['n']:,} | {r['chunk']} | {r['wall']:.1f} | {r['rate']:.0f} | {r['cpu']:.1f} | "
                     f"{r['cpu_rate']:.0f} | {r['rss_mb']:.0f} | {r['file_mb']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, action="append", help="traces to draw (repeatable; default 10000 and 40000)")
    ap.add_argument("--run", type=Path, help="a fitted run (default: fit one on B1)")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--train-steps", type=int, default=20)
    ap.add_argument("--sampler", default="consistency")
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--chunk-size", type=int, help="--chunk-size of sample (default: its default)")
    ap.add_argument("--one-chunk", type=int, action="append", default=[],
                    help="also draw this N as one chunk (the whole draw in memory, as before streaming)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    sizes = args.n or [10000, 40000]
    head = [f"# netdiffus sample streamed to Parquet ({time.strftime('%Y-%m-%d')})", "",
            f"`python -m benchmarks.stream_sample {' '.join(argv if argv is not None else sys.argv[1:])}`", "",
            f"Machine: {platform.machine()}, {os.cpu_count()} CPUs, {args.threads} torch thread(s), "
            f"Python {platform.python_version()}."]
    run = args.run
    if run is None:
        run = WORK / f"stream-b1-{args.preset}-{args.sampler}{args.steps}"
        seconds = fit_run(run, preset=args.preset, train_steps=args.train_steps, sampler=args.sampler,
                          steps=args.steps, threads=args.threads)
        head.append(f"Run: B1 train split, preset `{args.preset}`, {args.train_steps} training steps "
                    f"({seconds:.0f} s), sampler `{args.sampler}`, {args.steps} step(s).")
    rows = []
    extra = ["--chunk-size", str(args.chunk_size)] if args.chunk_size else []
    with tempfile.TemporaryDirectory(dir=WORK if WORK.is_dir() else None) as tmp:
        for n in sizes:
            rows.append({**sample_child(run, n, Path(tmp) / "out.parquet", threads=args.threads, extra=extra),
                         "chunk": args.chunk_size or "default"})
            print(json.dumps(rows[-1]), flush=True)
        for n in args.one_chunk:
            rows.append({**sample_child(run, n, Path(tmp) / "out.parquet", threads=args.threads,
                                        extra=["--chunk-size", str(n)]), "chunk": f"{n:,} (one)"})
            print(json.dumps(rows[-1]), flush=True)
    text = _table(rows, head)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
