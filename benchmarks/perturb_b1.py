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

import json

import numpy as np

from benchmarks.privacy_levers import lever_parser, score, start, with_series, write_table
from netdiffus.synthesizer import TrafficSynthesizer


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
    ap = lever_parser(__doc__, name="perturb-B1")
    ap.add_argument("--variants", default="gain:0.1,gain:0.25,bin:0.1,shift:1,shift:3")
    args, b, need = start(ap)
    synth = TrafficSynthesizer.load(args.from_run, progress=False)
    s = synth.sample(sum(need.values()), labels=need, seed=0)
    rng = np.random.default_rng(0)
    rows = []
    for variant in ["none", *args.variants.split(",")]:
        x = s.series if variant == "none" else perturb(s.series.astype(np.float64), variant, rng)
        rows.append({"variant": variant, **score(b.train, b.test, with_series(s, x), threads=args.threads,
                                                 forest_repeats=args.forest_repeats)})
        print(json.dumps(rows[-1]), flush=True)
    write_table(args.out, name="perturb-B1", title="B1: perturbing generated traces against the membership attack",
                intro=(f"Command: `python -m benchmarks.perturb_b1 --from-run {args.from_run} "
                       f"--variants {args.variants} "
                       f"--forest-repeats {args.forest_repeats} --threads {args.threads}`. {len(s)} traces sampled, "
                       f"{len(b.train)} real train / {len(b.test)} real test."),
                columns=["variant"], rows=rows)


if __name__ == "__main__":
    main()
