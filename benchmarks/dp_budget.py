"""The noise DP-SGD needs on B1: noise multiplier per (epsilon, steps, batch) for N = 442 (not a test).

    python -m benchmarks.dp_budget [--preset cpu] [--range-max 2.5e7]

For each budget, :func:`netdiffus.privacy.resolve_private` resolves the preset as ``fit`` would
(delta 1 / (10 N), Opacus's RDP accountant) and prints the noise multiplier, the standard
deviation of the noise on the averaged gradient in clipping norms (noise multiplier / expected
batch) and the accountant's epsilon after the steps. Accounting only: no training.
"""

from __future__ import annotations

import argparse

from netdiffus.config import load_config
from netdiffus.errors import ConfigError
from netdiffus.privacy import privacy_record, resolve_private

#: B1's training split (benchmarks.datasets.load_b1).
N_TRACES = 442


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--range-max", type=float, default=2.5e7)
    args = ap.parse_args(argv)
    print("| epsilon | train.steps | batch | noise multiplier | noise std of the mean gradient (x C) | epsilon spent |")
    print("|---|---|---|---|---|---|")
    for eps in (1, 3, 10):
        for steps, batch in ((3000, 64), (1000, 64), (300, 64), (3000, 128)):
            cfg = load_config(preset=args.preset, overrides=[f"train.dp_epsilon={eps}", f"train.steps={steps}",
                                                             f"train.batch_size={batch}",
                                                             f"imaging.range_max={args.range_max}"])
            try:
                resolved = resolve_private(cfg, n_traces=N_TRACES)
            except ConfigError as exc:
                print(f"| {eps} | {steps} | {batch} | refused: {exc} | | |")
                continue
            rec = privacy_record(resolved, n_traces=N_TRACES)
            sigma = resolved.train.dp_noise_multiplier
            assert rec is not None
            print(f"| {eps} | {steps} | {batch} | {sigma:.2f} | {sigma / batch:.3f} | {rec.epsilon:.3f} "
                  f"(delta {resolved.train.dp_delta:.2g}) |")


if __name__ == "__main__":
    main()
