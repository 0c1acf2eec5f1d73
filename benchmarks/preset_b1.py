"""One netdiffus preset on B1 alone (not a test): fit, sample twice the training set, evaluate.

    python -m benchmarks.preset_b1 [--preset cpu] [--set section.key=value ...] [--threads 1]
        [--device cpu] [--sampling ddim:50:1.0[:ETA] ...] [--forest-repeats N] [--run RUN]
        [--from-run RUN] [--out FILE] [--jsonl FILE]

Uses the benchmark's B1 split (442 / 194) and ``netdiffus.evaluation.evaluate`` with its default
settings (300 trees), as ``benchmarks.run`` does for its netdiffus row, without the baselines.
``--set`` changes the preset (the same overrides as ``netdiffus fit --set``); each ``--sampling``
``SAMPLER:STEPS:GUIDANCE[:ETA]`` samples and scores the one fitted model again (default: the
preset's own sample section), so a variant costs one fit. ``--from-run RUN`` scores a run folder
kept earlier with ``--run`` instead of fitting (``--preset`` / ``--set`` are then ignored).
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


def parse_sampling(text: str) -> tuple[str, int, float, float | None]:
    """``"ddim:50:1.0"`` -> ``("ddim", 50, 1.0, None)``; ``"ddim:50:1:1"`` sets eta = 1."""
    parts = text.split(":")
    if len(parts) not in (3, 4):
        raise argparse.ArgumentTypeError(f"--sampling must be SAMPLER:STEPS:GUIDANCE[:ETA] (got {text!r})")
    return parts[0], int(parts[1]), float(parts[2]), float(parts[3]) if len(parts) == 4 else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sampling", action="append", type=parse_sampling, default=[],
                    metavar="SAMPLER:STEPS:GUIDANCE[:ETA]")
    ap.add_argument("--forest-repeats", type=int, default=1,
                    help="random forests per utility / discriminative score, averaged (default 1)")
    ap.add_argument("--eval-jobs", type=int, default=-1, help="parallel jobs of the random forests")
    ap.add_argument("--run", type=Path, default=None, help="also keep the fitted run folder here")
    ap.add_argument("--from-run", type=Path, default=None, help="score this run folder instead of fitting")
    ap.add_argument("--out", type=Path, default=None,
                    help="results markdown (default benchmarks/results/<date>-<preset>-B1.md; '-' for none)")
    ap.add_argument("--jsonl", type=Path, default=None, help="append one JSON line per sampling here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    b = load_b1()
    if args.from_run is not None:
        synth = TrafficSynthesizer.load(args.from_run, progress=False, device=args.device)
        fit_s = synth.fit_seconds_
    else:
        synth = TrafficSynthesizer.from_preset(args.preset, overrides=args.overrides, progress=False,
                                               device=args.device)
        t0 = time.perf_counter()
        synth.fit(b.train, run_dir=args.run)
        fit_s = time.perf_counter() - t0
    sc = synth.config.sample
    samplings = args.sampling or [(sc.sampler, sc.steps, sc.guidance_scale, None)]
    rows = []
    for sampler, steps, w, eta in samplings:
        t0 = time.perf_counter()
        fake = synth.sample(2 * len(b.train), seed=0, sampler=sampler, steps=steps, guidance_scale=w, eta=eta)
        sample_s = time.perf_counter() - t0
        r = evaluate(b.train, fake, real_test=b.test, seed=0, n_jobs=args.eval_jobs, forest_repeats=args.forest_repeats)
        spec = f"{sampler}:{steps}:{w:g}" + (f":{eta:g}" if eta is not None else "")
        row = {"preset": args.preset, "set": args.overrides, "sampling": spec, "fit_s": round(fit_s or 0),
               "sample_s": round(sample_s), **{k: round(v, 3) for k, v in r.overall.items()}}
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.jsonl is not None:
            with args.jsonl.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
    if str(args.out) == "-":
        return
    out = args.out or Path("benchmarks/results") / f"{time.strftime('%Y-%m-%d')}-{args.preset}-B1.md"
    keys = [k for k in rows[0] if k not in ("preset", "set", "sampling", "fit_s", "sample_s")]
    sets = "".join(f" --set {o}" for o in args.overrides)
    text = "\n".join([
        f"# Preset `{args.preset}` on B1", "",
        f"Command: `python -m benchmarks.preset_b1 --preset {args.preset}{sets} --threads {args.threads}"
        + (f" --forest-repeats {args.forest_repeats}" if args.forest_repeats > 1 else "")
        + "".join(f" --sampling {r['sampling']}" for r in rows) + f"` on {args.device}. "
        f"{len(b.train)} train / {len(b.test)} test traces, {2 * len(b.train)} synthetic. Fit {rows[0]['fit_s']} s.", "",
        "| sampling | sample s | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys),
        *("| " + r["sampling"] + f" | {r['sample_s']} | " + " | ".join(f"{r[k]:.3f}" for k in keys) + " |"
          for r in rows), ""])  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)


if __name__ == "__main__":
    main()
