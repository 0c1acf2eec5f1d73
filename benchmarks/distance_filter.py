"""Does a distance filter lower B1's membership-attack AUC? (not a test)

    python -m benchmarks.distance_filter --from-run RUN [--oversample 4] [--quantiles 0.25,0.5,0.75,0.9]
        [--forest-repeats 3] [--threads 2] [--out FILE]

A common privacy post-process drops every synthetic trace that sits closer to a training trace
than a threshold. This samples ``--oversample`` x the training class counts from a fitted run
(seed 0, the run's sampler), sets each threshold at a quantile of the training traces' distances
to their nearest other training trace (data the generator owns; the test split is not used), keeps
the first 2 x class count traces of each class that pass it, and scores what is kept with the
project's ``evaluate`` (B1 split, real test for utility and privacy).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.neighbors import NearestNeighbors

from benchmarks.datasets import load_b1
from netdiffus.evaluation import evaluate
from netdiffus.evaluation.features import log_series
from netdiffus.evaluation.privacy import nearest_distances
from netdiffus.io.dataset import TraceDataset
from netdiffus.synthesizer import TrafficSynthesizer

KEYS = ("W1_values", "W1_totals", "ACF", "discriminative", "TSTR_acc", "TRSTR_acc", "DCR_ratio", "MIA_AUC")


def leave_one_out_distances(x: np.ndarray) -> np.ndarray:
    """Distance (log space) from each trace of ``x`` ``[N, C, T]`` to its nearest other trace -> ``[N]``."""
    z = log_series(x)
    dist, _ = NearestNeighbors(n_neighbors=2).fit(z).kneighbors(z)
    return dist[:, 1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from-run", type=Path, required=True, help="a run folder fitted on B1's training split")
    ap.add_argument("--oversample", type=int, default=4, help="traces sampled per training trace (default 4)")
    ap.add_argument("--quantiles", default="0.25,0.5,0.75,0.9")
    ap.add_argument("--forest-repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None,
                    help="results markdown (default benchmarks/results/<date>-distance-filter-B1.md; '-' for none)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    b = load_b1()
    labels = np.asarray(b.train.labels)
    classes = sorted(set(b.train.labels))
    need = {c: int((labels == c).sum()) * 2 for c in classes}
    synth = TrafficSynthesizer.load(args.from_run, progress=False)
    t0 = time.perf_counter()
    pool = synth.sample(sum(need.values()) * args.oversample // 2,
                        labels={c: n * args.oversample // 2 for c, n in need.items()}, seed=0)
    sample_s = time.perf_counter() - t0
    pool_labels = np.asarray(pool.labels)
    d_pool = nearest_distances(pool.series, b.train.series)
    d_loo = leave_one_out_distances(b.train.series)
    rows = []
    for q in [None, *(float(v) for v in args.quantiles.split(","))]:
        threshold = 0.0 if q is None else float(np.quantile(d_loo, q))
        keep = d_pool >= threshold
        idx = np.concatenate([np.flatnonzero((pool_labels == c) & keep)[: need[c]] for c in classes])
        kept = TraceDataset(series=pool.series[idx], labels=[pool.labels[i] for i in idx],
                            ids=[pool.ids[i] for i in idx], sources=[pool.sources[i] for i in idx], meta=pool.meta)
        r = evaluate(b.train, kept, real_test=b.test, seed=0, n_jobs=args.threads, forest_repeats=args.forest_repeats)
        row = {"quantile": q, "threshold": round(threshold, 2), "passed": round(float(keep.mean()), 3),
               "n": len(idx), **{k: round(r.overall[k], 3) for k in KEYS}}
        rows.append(row)
        print(json.dumps(row), flush=True)
    if str(args.out) == "-":
        return
    out = args.out or Path("benchmarks/results") / f"{time.strftime('%Y-%m-%d')}-distance-filter-B1.md"
    text = "\n".join([
        "# B1: a distance filter against the membership attack", "",
        (f"Command: `python -m benchmarks.distance_filter --from-run {args.from_run} --oversample {args.oversample} "
         f"--quantiles {args.quantiles} --forest-repeats {args.forest_repeats} --threads {args.threads}`. "
         f"{len(pool)} traces sampled in {sample_s:.0f} s; {2 * len(b.train)} kept at most. Median distance of a "
         f"training trace to its nearest other one {np.median(d_loo):.2f}, of a sampled trace to its nearest "
         f"training trace {np.median(d_pool):.2f}."), "",
        "| threshold quantile | threshold | passed | kept | " + " | ".join(KEYS) + " |",
        "|---|---|---|---|" + "---|" * len(KEYS),
        *(f"| {'none' if r['quantile'] is None else r['quantile']} | {r['threshold']} | {r['passed']} | {r['n']} | "
          + " | ".join(f"{r[k]:.3f}" for k in KEYS) + " |" for r in rows), ""])  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)


if __name__ == "__main__":
    main()
