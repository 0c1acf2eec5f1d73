"""One netdiffus preset on B1 (or one B2 view) alone (not a test): fit, sample twice the training
set, evaluate.

    python -m benchmarks.preset_b1 [--benchmark B1|iot-bins|iot-packets] [--preset cpu]
        [--set section.key=value ...] [--threads 1] [--device cpu] [--sampling ddim:50:1.0[:ETA] ...]
        [--forest-repeats N] [--value-snap config|both] [--calibrate-totals config|both] [--per-class]
        [--run RUN] [--from-run RUN]
        [--out FILE] [--jsonl FILE]

Uses the benchmark's split (B1: 442 / 194) and ``netdiffus.evaluation.evaluate`` with its default
settings (300 trees), as ``benchmarks.run`` does for its netdiffus row, without the baselines.
``--per-class`` adds each class's W1_totals, with the real test split's own, to the markdown.
``--set`` changes the preset (the same overrides as ``netdiffus fit --set``); each ``--sampling``
``SAMPLER:STEPS:GUIDANCE[:ETA]`` samples and scores the one fitted model again (default: the
preset's own sample section), so a variant costs one fit. ``--from-run RUN`` scores a run folder
kept earlier with ``--run`` instead of fitting (``--preset`` / ``--set`` are then ignored).
``--value-snap both`` and ``--calibrate-totals both`` score each sampling with that post-process on
and off (a run saved before the volume calibration is calibrated first).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from benchmarks.datasets import load_b1, load_b2
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
    ap.add_argument("--benchmark", default="B1", choices=["B1", "iot-bins", "iot-packets"])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--sampling", action="append", type=parse_sampling, default=[],
                    metavar="SAMPLER:STEPS:GUIDANCE[:ETA]")
    ap.add_argument("--forest-repeats", type=int, default=1,
                    help="random forests per utility / discriminative score, averaged (default 1)")
    ap.add_argument("--eval-jobs", type=int, default=-1, help="parallel jobs of the random forests")
    ap.add_argument("--value-snap", choices=["config", "both"], default="config",
                    help="both: score every sampling with postprocess.snap_values on and off")
    ap.add_argument("--calibrate-totals", choices=["config", "both"], default="config",
                    help="both: score every sampling with postprocess.calibrate_totals on and off")
    ap.add_argument("--per-class", action="store_true", help="per-class W1_totals in the markdown")
    ap.add_argument("--run", type=Path, default=None, help="also keep the fitted run folder here")
    ap.add_argument("--from-run", type=Path, default=None, help="score this run folder instead of fitting")
    ap.add_argument("--out", type=Path, default=None,
                    help="results markdown (default benchmarks/results/<date>-<preset>-B1.md; '-' for none)")
    ap.add_argument("--jsonl", type=Path, default=None, help="append one JSON line per sampling here")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    b = load_b1() if args.benchmark == "B1" else load_b2(args.benchmark)
    holdout = None
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
    snaps = [True, False] if args.value_snap == "both" else [synth.config.postprocess.snap_values]
    calibrations = [True, False] if args.calibrate_totals == "both" else [synth.config.postprocess.calibrate_totals]
    if True in calibrations and synth.postprocess_.totals_calibration is None:
        synth.fit_totals_calibration(b.train)
    for (sampler, steps, w, eta), snap, cal in [(s, v, c) for s in samplings for v in snaps for c in calibrations]:
        synth.config.postprocess.snap_values = snap
        synth.config.postprocess.calibrate_totals = cal
        t0 = time.perf_counter()
        fake = synth.sample(2 * len(b.train), seed=0, sampler=sampler, steps=steps, guidance_scale=w, eta=eta)
        sample_s = time.perf_counter() - t0
        r = evaluate(b.train, fake, real_test=b.test, seed=0, n_jobs=args.eval_jobs, forest_repeats=args.forest_repeats,
                     reference=False)  # fmt: skip
        spec = f"{sampler}:{steps}:{w:g}" + (f":{eta:g}" if eta is not None else "")
        spec += "" if args.value_snap == "config" else (" snap" if snap else " no snap")
        spec += "" if args.calibrate_totals == "config" else (" calibrated" if cal else " raw")
        row = {"benchmark": args.benchmark, "preset": args.preset, "set": args.overrides, "sampling": spec,
               "fit_s": round(fit_s or 0), "sample_s": round(sample_s),
               **{k: round(v, 3) for k, v in r.overall.items()}}
        if args.per_class:
            if holdout is None:
                holdout = evaluate(b.train, b.test, metrics=["fidelity"], seed=0).per_class
            row["W1_totals_per_class"] = {c: (round(m["W1_totals"], 2), round(holdout[c]["W1_totals"], 2))
                                          for c, m in r.per_class.items() if c in holdout}
        rows.append(row)
        print(json.dumps(row), flush=True)
        if args.jsonl is not None:
            with args.jsonl.open("a") as fh:
                fh.write(json.dumps(row) + "\n")
    if str(args.out) == "-":
        return
    out = args.out or Path("benchmarks/results") / f"{time.strftime('%Y-%m-%d')}-{args.preset}-{args.benchmark}.md"
    keys = [k for k in rows[0] if k not in ("benchmark", "preset", "set", "sampling", "fit_s", "sample_s",
                                            "W1_totals_per_class")]
    sets = "".join(f" --set {o}" for o in args.overrides)
    bench = "" if args.benchmark == "B1" else f" --benchmark {args.benchmark}"
    text = "\n".join([
        f"# Preset `{args.preset}` on {args.benchmark}", "",
        f"Command: `python -m benchmarks.preset_b1{bench} "
        + (f"--from-run {args.from_run}" if args.from_run else f"--preset {args.preset}{sets}")
        + f" --threads {args.threads}" + (" --per-class" if args.per_class else "")
        + (f" --value-snap {args.value_snap}" if args.value_snap != "config" else "")
        + (f" --calibrate-totals {args.calibrate_totals}" if args.calibrate_totals != "config" else "")
        + (f" --forest-repeats {args.forest_repeats}" if args.forest_repeats > 1 else "")
        + "".join(f" --sampling {spec}" for spec in dict.fromkeys(r["sampling"].split()[0] for r in rows))
        + f"` on {args.device}. "
        f"{len(b.train)} train / {len(b.test)} test traces, {2 * len(b.train)} synthetic. "
        f"Fit {rows[0]['fit_s']} s.", "",
        "| sampling | sample s | " + " | ".join(keys) + " |", "|---|---|" + "---|" * len(keys),
        *("| " + r["sampling"] + f" | {r['sample_s']} | " + " | ".join(f"{r[k]:.3f}" for k in keys) + " |"
          for r in rows), "", *per_class_table(rows)])  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)


def per_class_table(rows: list[dict]) -> list[str]:
    """Markdown lines: each class's W1_totals per sampling, and the real test split's, worst first."""
    if "W1_totals_per_class" not in rows[0]:
        return []
    first = rows[0]["W1_totals_per_class"]
    lines = ["W1_totals per class (the real test split scored as synthetic in the last column):", "",
             "| class | " + " | ".join(r["sampling"] for r in rows) + " | real test |",
             "|---|" + "---|" * (len(rows) + 1)]
    for c in sorted(first, key=lambda c: -first[c][0]):
        lines.append(f"| {c} | " + " | ".join(f"{r['W1_totals_per_class'][c][0]:.2f}" for r in rows)
                     + f" | {first[c][1]:.2f} |")
    return [*lines, ""]


if __name__ == "__main__":
    main()
