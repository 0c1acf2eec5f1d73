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

import json
import time

import numpy as np
from sklearn.neighbors import NearestNeighbors

from benchmarks.privacy_levers import lever_parser, score, start, with_series, write_table
from netdiffus.evaluation.features import log_series
from netdiffus.evaluation.privacy import nearest_distances
from netdiffus.synthesizer import TrafficSynthesizer


def leave_one_out_distances(x: np.ndarray) -> np.ndarray:
    """Distance (log space) from each trace of ``x`` ``[N, C, T]`` to its nearest other trace -> ``[N]``."""
    z = log_series(x)
    dist, _ = NearestNeighbors(n_neighbors=2).fit(z).kneighbors(z)
    return dist[:, 1]


def main() -> None:
    ap = lever_parser(__doc__, name="distance-filter-B1")
    ap.add_argument("--oversample", type=int, default=4, help="traces sampled per training trace (default 4)")
    ap.add_argument("--quantiles", default="0.25,0.5,0.75,0.9")
    args, b, need = start(ap)
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
        idx = np.concatenate([np.flatnonzero((pool_labels == c) & keep)[:n] for c, n in need.items()])
        kept = with_series(pool, pool.series[idx], idx)
        rows.append({"threshold_quantile": q, "threshold": round(threshold, 2), "passed": round(float(keep.mean()), 3),
                     "kept": len(idx), **score(b.train, b.test, kept, threads=args.threads,
                                               forest_repeats=args.forest_repeats)})
        print(json.dumps(rows[-1]), flush=True)
    write_table(args.out, name="distance-filter-B1", title="B1: a distance filter against the membership attack",
                intro=(f"Command: `python -m benchmarks.distance_filter --from-run {args.from_run} --oversample "
                       f"{args.oversample} --quantiles {args.quantiles} --forest-repeats {args.forest_repeats} "
                       f"--threads {args.threads}`. {len(pool)} traces sampled in {sample_s:.0f} s; "
                       f"{2 * len(b.train)} kept at most. Median distance of a training trace to its nearest other "
                       f"one {np.median(d_loo):.2f}, of a sampled trace to its nearest training trace "
                       f"{np.median(d_pool):.2f}."),
                columns=["threshold_quantile", "threshold", "passed", "kept"], rows=rows)


if __name__ == "__main__":
    main()
