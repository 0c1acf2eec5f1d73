"""One netdiffus preset on B1 alone (not a test): fit, sample twice the training set, evaluate.

    python -m benchmarks.preset_b1 [--preset cpu] [--threads 1] [--run RUN] [--out FILE]

Uses the benchmark's B1 split (442 / 194) and ``netdiffus.evaluation.evaluate`` with its default
settings (300 trees), as ``benchmarks.run`` does for its netdiffus row, without the baselines.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from benchmarks.datasets import load_b1
from netdiffus.evaluation import evaluate
from netdiffus.synthesizer import TrafficSynthesizer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--run", type=Path, default=None, help="also keep the fitted run folder here")
    ap.add_argument("--out", type=Path, default=None, help="results markdown (default benchmarks/results/<date>-<preset>-B1.md)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    b = load_b1()
    synth = TrafficSynthesizer.from_preset(args.preset, progress=False)
    t0 = time.perf_counter()
    synth.fit(b.train, run_dir=args.run)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    fake = synth.sample(2 * len(b.train), seed=0)
    sample_s = time.perf_counter() - t0
    r = evaluate(b.train, fake, real_test=b.test, seed=0)
    row = {"fit_s": round(fit_s), "sample_s": round(sample_s), **{k: round(v, 3) for k, v in r.overall.items()}}
    out = args.out or Path("benchmarks/results") / f"{time.strftime('%Y-%m-%d')}-{args.preset}-B1.md"
    keys = [k for k in row if k not in ("fit_s", "sample_s")]
    text = "\n".join([
        f"# Preset `{args.preset}` on B1", "",
        f"Command: `python -m benchmarks.preset_b1 --preset {args.preset} --threads {args.threads}`. "
        f"{len(b.train)} train / {len(b.test)} test traces, {len(fake)} synthetic. Fit {row['fit_s']} s, "
        f"sampling {row['sample_s']} s ({synth.config.sample.sampler}, {synth.config.sample.steps} steps).", "",
        "| " + " | ".join(keys) + " |", "|" + "---|" * len(keys),
        "| " + " | ".join(f"{row[k]:.3f}" for k in keys) + " |", ""])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(json.dumps(row))


if __name__ == "__main__":
    main()
