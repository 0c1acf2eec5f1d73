"""Do small perturbations of generated traces lower B1's membership-attack AUC? (not a test)

    python -m benchmarks.perturb_b1 --from-run RUN [--variants gain:0.1,gain:0.25,bin:0.1,shift:1,shift:3]
        [--forest-repeats 3] [--threads 2] [--out FILE]

The attack (``MIA_AUC``) ranks training against test traces by their distance to the nearest
synthetic trace, in log space. This samples 2 x the training class counts from a fitted run (seed
0, the run's own sampler) and scores the set as sampled and after each perturbation, with the
project's ``evaluate`` (B1 split, real test for utility and privacy):

- ``gain:S``: each trace times ``exp(N(0, S))`` (one factor per trace: its volume moves);
- ``bin:S``: each bin times ``exp(N(0, S))`` (independent per bin);
- ``shift:K``: each trace moved by a uniform whole number of bins in ``[-K, K]``, the edge bin
  repeated into the gap (its timing moves, its shape stays).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from benchmarks.datasets import load_b1
from netdiffus.evaluation import evaluate
from netdiffus.io.dataset import TraceDataset
from netdiffus.synthesizer import TrafficSynthesizer

KEYS = ("W1_values", "W1_totals", "ACF", "discriminative", "TSTR_acc", "TRSTR_acc", "DCR_ratio", "MIA_AUC")


def shift_bins(x: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Each trace of ``x`` ``[N, C, T]`` moved by a uniform shift in ``[-k, k]`` bins; the gap
    repeats the edge bin. -> ``[N, C, T]``."""
    out = np.empty_like(x)
    for i, d in enumerate(rng.integers(-k, k + 1, len(x))):
        out[i] = np.roll(x[i], d, axis=-1)
        if d > 0:
            out[i][..., :d] = x[i][..., :1]
        elif d < 0:
            out[i][..., d:] = x[i][..., -1:]
    return out


def perturb(x: np.ndarray, variant: str, rng: np.random.Generator) -> np.ndarray:
    """Apply one ``kind:amount`` variant (see the module docstring) to ``x`` ``[N, C, T]``."""
    kind, _, amount = variant.partition(":")
    if kind == "gain":
        return x * np.exp(rng.normal(0.0, float(amount), (len(x), 1, 1)))
    if kind == "bin":
        return x * np.exp(rng.normal(0.0, float(amount), x.shape))
    if kind == "shift":
        return shift_bins(x, int(amount), rng)
    raise SystemExit(f"--variants: unknown kind {kind!r} in {variant!r} (gain, bin or shift)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--from-run", type=Path, required=True, help="a run folder fitted on B1's training split")
    ap.add_argument("--variants", default="gain:0.1,gain:0.25,bin:0.1,shift:1,shift:3")
    ap.add_argument("--forest-repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None,
                    help="results markdown (default benchmarks/results/<date>-perturb-B1.md; '-' for none)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    b = load_b1()
    labels = np.asarray(b.train.labels)
    need = {c: int((labels == c).sum()) * 2 for c in sorted(set(b.train.labels))}
    synth = TrafficSynthesizer.load(args.from_run, progress=False)
    s = synth.sample(sum(need.values()), labels=need, seed=0)
    rng = np.random.default_rng(0)
    rows = []
    for variant in ["none", *args.variants.split(",")]:
        x = s.series if variant == "none" else perturb(s.series.astype(np.float64), variant, rng)
        d = TraceDataset(series=x.astype(np.float32), labels=s.labels, ids=s.ids, sources=s.sources, meta=s.meta)
        r = evaluate(b.train, d, real_test=b.test, seed=0, n_jobs=args.threads, forest_repeats=args.forest_repeats)
        rows.append({"variant": variant, **{k: round(r.overall[k], 3) for k in KEYS}})
        print(json.dumps(rows[-1]), flush=True)
    if str(args.out) == "-":
        return
    out = args.out or Path("benchmarks/results") / f"{time.strftime('%Y-%m-%d')}-perturb-B1.md"
    text = "\n".join([
        "# B1: perturbing generated traces against the membership attack", "",
        (f"Command: `python -m benchmarks.perturb_b1 --from-run {args.from_run} --variants {args.variants} "
         f"--forest-repeats {args.forest_repeats} --threads {args.threads}`. {len(s)} traces sampled, "
         f"{len(b.train)} real train / {len(b.test)} real test."), "",
        "| variant | " + " | ".join(KEYS) + " |",
        "|---|" + "---|" * len(KEYS),
        *(f"| {r['variant']} | " + " | ".join(f"{r[k]:.3f}" for k in KEYS) + " |" for r in rows), ""])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)


if __name__ == "__main__":
    main()
