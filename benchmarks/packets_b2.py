"""Packet-level traffic on B2 (IoT Sentinel): a preset trained with several seeds, scored side by side.

    python -m benchmarks.packets_b2 --views iot-packets,iot-joint,iot-bins --preset packets \\
        --seeds 0,1,2 --forest-repeats 10 --out benchmarks/results/2026-12-07-packets-B2.md

For each view of ../shared/BENCHMARKS.md's B2 (``iot-packets``: the first 64 signed packet
sizes; ``iot-joint``: size, direction (its sign) and inter-arrival time of the first 64 packets,
generated together (``prepare --feature sequence``); ``iot-bins``: bytes per 0.25 s to / from the
device) it trains the preset on the training split once per seed, draws twice the training set, and scores it with
:func:`netdiffus.evaluation.evaluate` (``forest_repeats`` forests per score) and the discrete
metrics of :mod:`netdiffus.evaluation.packets` (impossible values, length W1, mode coverage),
plus a random forest trained on real + k x synthetic traces. The real held-out traces are scored
the same way (the floor). Means over seeds, with their spread (max - min), go to a markdown table.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import resource
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from benchmarks.datasets import Benchmark, load_b2, load_b2_joint
from netdiffus import TrafficSynthesizer
from netdiffus.evaluation import evaluate
from netdiffus.evaluation.packets import impossible_share, length_w1, mode_coverage
from netdiffus.evaluation.utility import augmentation_curve, rf_predict
from netdiffus.files import atomic_path
from netdiffus.io.dataset import TraceDataset
from netdiffus.selection import RecognisedDraw

log = logging.getLogger("benchmarks.packets_b2")

KEYS = ("discriminative", "TSTR_acc", "TRSTR_acc", "TRTR_acc", "W1_values", "W1_totals", "ACF", "DCR_ratio",
        "MIA_AUC", "impossible", "length_W1", "mode_coverage", "W1_iat")
AUG = (1, 2, 4)


def _load(view: str) -> Benchmark:
    return load_b2_joint() if view == "iot-joint" else load_b2(view)


def _channel_w1(train: TraceDataset, syn: TraceDataset, name: str) -> float:
    """W1 of the log values of channel ``name`` (only where both hold a packet), normalised as W1_values is."""
    from scipy.stats import wasserstein_distance

    if name not in (train.meta.channels or []):
        return float("nan")
    c = train.meta.channels.index(name)
    active_r = (train.series != 0).any(axis=1)
    active_s = (syn.series != 0).any(axis=1)
    r = np.log1p(np.abs(train.series[:, c][active_r]))
    s = np.log1p(np.abs(syn.series[:, c][active_s]))
    return float(wasserstein_distance(r, s) / (r.std() or 1.0))


def score(train: TraceDataset, test: TraceDataset, syn: TraceDataset, *, seed: int, forest_repeats: int,
          threads: int) -> dict[str, float]:
    """Every score of a synthetic set (or of the real held-out traces as ``syn``)."""
    res = evaluate(train, syn, real_test=test, seed=seed, fast=True, forest_repeats=forest_repeats, n_jobs=threads,
                   reference=False)  # fmt: skip
    out = {k: float(v) for k, v in res.overall.items()}
    out["impossible"] = impossible_share(train.series, syn.series)
    out["length_W1"] = length_w1(train.series, train.labels, syn.series, syn.labels)
    out["mode_coverage"] = mode_coverage(train.series, train.labels, syn.series, syn.labels)
    out["W1_iat"] = _channel_w1(train, syn, "iat")

    def forest(x, y, xq, s):
        return rf_predict(x, y, xq, s, n_estimators=300, n_jobs=threads)

    curve = augmentation_curve((train.series, train.label_array()), (syn.series, syn.label_array()),
                               (test.series, test.label_array()), classifier=forest, factors=(0, *AUG), seed=seed)
    for k in AUG:
        out[f"aug_k{k}"] = curve[k]["accuracy"] - curve[0]["accuracy"]
    return out


def _fitted(b: Benchmark, *, preset: str, overrides: list[str], seed: int, threads: int,
            run: Path | None) -> tuple[TrafficSynthesizer, float]:
    """The preset fitted on ``b.train`` with ``seed`` (loaded from ``run`` when it holds this fit)."""
    if run is not None and (run / "model.json").exists():
        synth = TrafficSynthesizer.load(run, progress=False)
        return synth, synth.fit_seconds_
    synth = TrafficSynthesizer.from_preset(preset, overrides=[*overrides, f"train.seed={seed}",
                                                              f"train.num_threads={threads}"], progress=False)
    t0 = time.perf_counter()
    synth.fit(b.train)
    fit_s = time.perf_counter() - t0
    if run is not None:
        synth.save(run)
    return synth, fit_s


def reference_row(train: TraceDataset, test: TraceDataset, *, seed: int, forest_repeats: int,
                  threads: int) -> dict[str, float]:
    """The real held-out row, with no figure that trains and tests on the same traces: fidelity of
    the test traces against the training traces; TRTR / TSTR / TRSTR, DCR ratio, MIA AUC and the
    augmentation gains with the test traces split per class in two halves (one plays the
    synthetic set, the other the test set: ``netdiffus.evaluation.reference``)."""
    from netdiffus.evaluation.reference import split_halves

    res = evaluate(train, test, real_test=test, seed=seed, fast=True, forest_repeats=forest_repeats, n_jobs=threads)
    out = {k: float(v) for k, v in (res.reference or {}).items()}
    out["impossible"] = impossible_share(train.series, test.series)  # as score() computes them
    out["length_W1"] = length_w1(train.series, train.labels, test.series, test.labels)
    out["mode_coverage"] = mode_coverage(train.series, train.labels, test.series, test.labels)
    out["W1_iat"] = _channel_w1(train, test, "iat")
    first, second = split_halves(test.labels, seed=seed)
    half, rest = test.subset(first), test.subset(second)

    def forest(x, y, xq, s):
        return rf_predict(x, y, xq, s, n_estimators=300, n_jobs=threads)

    curve = augmentation_curve((train.series, train.label_array()), (half.series, half.label_array()),
                               (rest.series, rest.label_array()), classifier=forest, factors=(0, *AUG), seed=seed)
    for k in AUG:  # the half holds about 0.2x the training traces: every k adds all of it
        out[f"aug_k{k}"] = curve[k]["accuracy"] - curve[0]["accuracy"]
    return out


def run_view(view: str, *, preset: str, overrides: list[str], seeds: list[int], forest_repeats: int,
             threads: int, guidance: list[tuple[float, float]], filters: tuple[int, ...] = (),
             runs: Path | None = None) -> dict:
    b = _load(view)
    counts = b.train.class_counts()
    labels = {c: 2 * k for c, k in counts.items()}
    rows: dict[str, list[dict[str, float]]] = {"real held-out": []}
    rows["real held-out"].append(reference_row(b.train, b.test, seed=0, forest_repeats=forest_repeats,
                                               threads=threads))
    for seed in seeds:
        run = None if runs is None else runs / f"{view}-{preset}-{seed}"
        synth, fit_s = _fitted(b, preset=preset, overrides=overrides, seed=seed, threads=threads, run=run)
        for (w, temp), oversample in ((g, f) for g in guidance for f in (1, *filters)):
            t0 = time.perf_counter()
            plan = synth.plan(sum(labels.values()), labels=labels, seed=seed, guidance_scale=w, temperature=temp)
            draw = synth.sample_range if oversample == 1 else RecognisedDraw(
                synth.sample_range, b.train, shape=b.train.series.shape[1:], oversample=oversample, seed=seed,
                n_jobs=threads)
            syn = draw(plan, 0, plan.n)
            sample_s = time.perf_counter() - t0
            r = score(b.train, b.test, syn, seed=seed, forest_repeats=forest_repeats, threads=threads)
            r["fit_s"], r["sample_s"] = fit_s, sample_s
            name = f"netdiffus {preset}" + (f", guidance {w:g}, temperature {temp:g}" if len(guidance) > 1 else "")
            name += f", filtered ({oversample} candidates per trace)" if oversample > 1 else ""
            rows.setdefault(name, []).append(r)
            log.info("%s seed %d %s: %s", view, seed, name, {k: round(v, 3) for k, v in r.items() if k in KEYS})
    return {"view": view, "description": b.description, "n_train": len(b.train), "n_test": len(b.test),
            "rows": rows}


def _fmt(values: list[float]) -> str:
    v = np.array(values, dtype=float)
    if np.isnan(v).all():
        return "-"
    return f"{np.nanmean(v):.3f}" + (f" ({np.nanmax(v) - np.nanmin(v):.3f})" if len(v) > 1 else "")


def markdown(results: list[dict], args: argparse.Namespace, wall_s: float) -> str:
    cols = [*KEYS, *(f"aug_k{k}" for k in AUG), "fit_s", "sample_s"]
    lines = [f"# Packet-level traffic on B2 ({datetime.now(UTC):%Y-%m-%d})", "",
             f"Command: `python -m benchmarks.packets_b2 {' '.join(args.argv)}`  ",
             f"Machine: {platform.machine()}, {platform.processor() or 'cpu'}, {args.threads} thread(s); wall time "
             f"{wall_s / 60:.1f} min; peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB", "",
             "Means over training seeds (spread max - min in brackets); every random-forest score the mean of "
             f"{args.forest_repeats} forests. aug_kK: accuracy of a random forest on real + K x synthetic minus "
             "real alone. impossible: share of generated values a capture cannot hold; length_W1: W1 of session "
             "lengths (positions) per class; mode_coverage: histogram intersection of the first-8-value patterns "
             "per class; W1_iat: W1 of log inter-arrival times (iot-joint).", ""]
    for res in results:
        lines += [f"## {res['view']}: {res['description']} ({res['n_train']} train / {res['n_test']} test)", "",
                  "| generator | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
        for name, runs in res["rows"].items():
            lines.append(f"| {name} | " + " | ".join(_fmt([r.get(c, float('nan')) for r in runs]) for c in cols)
                         + " |")
        lines.append("")
    return "\n".join(lines) + "\n"


def _pair(text: str) -> tuple[float, float]:
    """``"2"`` -> (2.0, 1.0); ``"2:0.8"`` -> (2.0, 0.8): guidance and temperature."""
    w, _, t = text.partition(":")
    return float(w), float(t or 1.0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--views", default="iot-packets,iot-joint,iot-bins")
    p.add_argument("--preset", default="packets")
    p.add_argument("--set", dest="overrides", action="append", default=[])
    p.add_argument("--seeds", default="0,1,2")
    p.add_argument("--guidance", default="1",
                   help="guidance scales (or scale:temperature pairs) to sample each fit with, comma-separated")
    p.add_argument("--filter", default="",
                   help="also draw filtered sets: candidates per trace, comma-separated (netdiffus.selection)")
    p.add_argument("--runs", type=Path, help="keep the fitted runs here (and reuse those already there)")
    p.add_argument("--forest-repeats", type=int, default=10)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    args.argv = argv if argv is not None else __import__("sys").argv[1:]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    t0 = time.perf_counter()
    results = [run_view(v, preset=args.preset, overrides=args.overrides, seeds=[int(s) for s in args.seeds.split(",")],
                        forest_repeats=args.forest_repeats, threads=args.threads,
                        guidance=[_pair(g) for g in args.guidance.split(",")],
                        filters=tuple(int(f) for f in args.filter.split(",") if f), runs=args.runs)
               for v in args.views.split(",")]
    wall = time.perf_counter() - t0
    with atomic_path(args.out) as tmp:
        tmp.write_text(markdown(results, args, wall))
    with atomic_path(args.out.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(results, indent=1))
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
