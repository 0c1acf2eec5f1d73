"""Does training on mixed sessions of different videos lower B1's membership-attack AUC? (not a test)

    python -m benchmarks.augment_b1 [--variants splice:1,mixlog:1] [--preset cpu] [--set KEY=VALUE]
        [--forest-repeats 3] [--threads 2] [--out FILE]

The attack (``MIA_AUC``) sees that generated traces sit nearer the training videos' sessions than
unseen videos' sessions. This adds made-up sessions to the training split, each mixing two
sessions of one class from different videos, fits the preset on the enlarged set, samples 2 x the
real training class counts (seed 0) and scores them against the real split (``evaluate``; members
are the real training sessions only):

- ``splice:F``: F x the class count of sessions, each the first bins of one session and the rest
  of another, cut at a uniform bin in ``[T/5, 4T/5]``;
- ``mixlog:F``: F x the class count of sessions, each ``expm1(lam log1p(a) + (1 - lam) log1p(b))``
  with ``lam`` uniform in ``[0.25, 0.75]``;
- ``none``: the preset on the real split alone (one more fit).
"""

from __future__ import annotations

import json
import time

import numpy as np

from benchmarks.datasets import video_id
from benchmarks.privacy_levers import lever_parser, score, start, write_table
from netdiffus.io.dataset import TraceDataset
from netdiffus.synthesizer import TrafficSynthesizer


def augment(train: TraceDataset, variant: str, rng: np.random.Generator) -> TraceDataset:
    """``train`` plus the mixed sessions of ``variant`` (``kind:F``, see the module docstring)."""
    kind, _, amount = variant.partition(":")
    if kind == "none":
        return train
    if kind not in ("splice", "mixlog"):
        raise SystemExit(f"--variants: unknown kind {kind!r} in {variant!r} (splice, mixlog or none)")
    x = train.series.astype(np.float64)
    labels = np.asarray(train.labels)
    videos = np.asarray([video_id(i) for i in train.ids])
    length = x.shape[-1]
    new_x, new_labels = [], []
    for c in sorted(set(train.labels)):
        idx = np.flatnonzero(labels == c)
        for _ in range(round(float(amount) * len(idx))):
            i, j = rng.choice(idx, 2, replace=False)
            while videos[i] == videos[j]:
                i, j = rng.choice(idx, 2, replace=False)
            if kind == "splice":
                cut = int(rng.integers(length // 5, 4 * length // 5 + 1))
                new_x.append(np.concatenate([x[i][..., :cut], x[j][..., cut:]], axis=-1))
            else:
                lam = rng.uniform(0.25, 0.75)
                new_x.append(np.expm1(lam * np.log1p(x[i]) + (1 - lam) * np.log1p(x[j])))
            new_labels.append(c)
    n = len(new_labels)
    return TraceDataset(series=np.concatenate([x, np.stack(new_x)]).astype(np.float32),
                        labels=[*train.labels, *new_labels], ids=[*train.ids, *(f"{kind}_{k}" for k in range(n))],
                        sources=[*train.sources, *([kind] * n)], meta=train.meta)


def main() -> None:
    ap = lever_parser(__doc__, name="augment-B1", from_run=False)
    ap.add_argument("--variants", default="splice:1,mixlog:1")
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args, b, need = start(ap)
    rows = []
    for variant in args.variants.split(","):
        enlarged = augment(b.train, variant, np.random.default_rng(0))
        synth = TrafficSynthesizer.from_preset(args.preset, overrides=args.overrides, progress=False)
        t0 = time.perf_counter()
        synth.fit(enlarged)
        fit_s = round(time.perf_counter() - t0)
        fake = synth.sample(sum(need.values()), labels=need, seed=0)
        rows.append({"variant": variant, "training_traces": len(enlarged), "fit_s": fit_s,
                     **score(b.train, b.test, fake, threads=args.threads, forest_repeats=args.forest_repeats)})
        print(json.dumps(rows[-1]), flush=True)
    sets = "".join(f" --set {o}" for o in args.overrides)
    write_table(args.out, name="augment-B1", title="B1: training on mixed sessions against the membership attack",
                intro=(f"Command: `python -m benchmarks.augment_b1 --variants {args.variants} --preset {args.preset}"
                       f"{sets} --forest-repeats {args.forest_repeats} --threads {args.threads}`. "
                       f"{sum(need.values())} traces sampled per fit, {len(b.train)} real train / {len(b.test)} "
                       "real test."),
                columns=["variant", "training_traces", "fit_s"], rows=rows)


if __name__ == "__main__":
    main()
