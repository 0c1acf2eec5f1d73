"""The cost of DP-SGD's per-trace gradients: training steps per second with and without DP (not a test).

    python -m benchmarks.dp_cost [--preset cpu] [--steps 8] [--threads 1]
        [--out benchmarks/results/2026-12-07-dp-cost.md]

Trains the preset's network with :func:`netdiffus.training.train` on random GASF-sized images
(B1: 442 training traces of 60 bins, so 60 x 60 images), once as configured and once with
``train.dp_epsilon = 10`` resolved for 442 traces over the preset's steps
(:func:`netdiffus.privacy.resolve_private`: Poisson batches of expected size ``batch_size``, Opacus's
per-trace gradients, clipping and noise). Reports the median seconds per step after the first
(warm-up) step. Speed only: random data, no scores.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path

import torch

from netdiffus.config import load_config
from netdiffus.diffusion.networks import build_network, build_process
from netdiffus.privacy import resolve_private
from netdiffus.training import TrainProgress, train

N_TRACES, SIZE = 442, 60


def seconds_per_step(preset: str, *, steps: int, dp: bool) -> float:
    """Median wall seconds of a training step (after the first) of ``preset``'s network."""
    cfg = load_config(preset=preset, overrides=["imaging.scaling=\"global-log\"", "imaging.range_max=1e7",
                                                "train.checkpoint_every=0", "model.gasf_head=\"bin\""])
    if dp:
        cfg.train.dp_epsilon = 10.0
        cfg = resolve_private(cfg, n_traces=N_TRACES)  # the noise for the preset's full run
    cfg.train.steps = steps
    g = torch.Generator().manual_seed(0)
    x_0 = torch.rand((N_TRACES, 1, SIZE, SIZE), generator=g) * 2 - 1
    y = torch.randint(0, 4, (N_TRACES,), generator=g)
    model = build_network(cfg, num_classes=4, in_channels=1, dims=2)
    stamps: list[float] = []

    def tick(p: TrainProgress) -> None:
        stamps.append(time.perf_counter())

    train(model, build_process(cfg.diffusion), x_0, y, cfg=cfg.train, null_class=4, progress=tick)
    return statistics.median(b - a for a, b in zip(stamps, stamps[1:], strict=False))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="cpu")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    plain = seconds_per_step(args.preset, steps=args.steps, dp=False)
    private = seconds_per_step(args.preset, steps=args.steps, dp=True)
    lines = [f"# Cost of DP-SGD per step: preset {args.preset}", "",
             f"`python -m benchmarks.dp_cost --preset {args.preset} --steps {args.steps} --threads {args.threads}`", "",
             f"Machine: {platform.processor() or platform.machine()}, torch {torch.__version__}, "
             f"{args.threads} thread(s); random 60 x 60 images, N = {N_TRACES}, median of {args.steps - 1} steps.", "",
             "| training | s / step | steps / s | relative |", "|---|---|---|---|",
             f"| without DP | {plain:.2f} | {1 / plain:.3f} | 1 |",
             f"| DP-SGD (epsilon 10, Opacus per-trace gradients) | {private:.2f} | {1 / private:.3f} | "
             f"{private / plain:.1f}x |", ""]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
