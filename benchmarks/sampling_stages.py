"""Where the time of a draw goes, stage by stage, on a fitted run (not a test).

    python -m benchmarks.sampling_stages RUN [--n 2048] [--threads 2] [--batch 64 256 1024]
        [--sampling distilled:1 ddim:50 ...] [--bf16] [--compile] [--repeats 3] [--out FILE]

For a draw of ``--n`` traces (the run's classes, training balance) it times, per batch size:
- ``noise``: the starting noise, one generator per trace (``initial_noise``);
- ``network``: one model call on a batch, fp32 (and in bf16 autocast with ``--bf16``; and
  ``torch.compile``'d with ``--compile``, after its compilation, which is reported apart);
- ``decode``: the representation's inverse (GASF -> scaled series -> original units);
- ``postprocess``: the run's post-processing chain (volume calibration, zero and value snaps);
- ``end to end``: ``TrafficSynthesizer.sample`` for each ``--sampling SAMPLER:STEPS``.

Each figure is the median of ``--repeats`` timings, in series per second (traces of the stage per
wall-clock second) on this machine, all in one run. The network's series/s is per model call: a
k-step sampler makes k of them per trace.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import torch

from netdiffus.diffusion.samplers import initial_noise
from netdiffus.sampling import resolve_labels, trace_seeds
from netdiffus.synthesizer import TrafficSynthesizer


def median_rate(fn: Callable[[], object], n: int, repeats: int) -> float:
    """Median over ``repeats`` of ``n / seconds`` of one call of ``fn``."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return n / statistics.median(times)


def stage_rates(synth: TrafficSynthesizer, n: int, batch: int, *, repeats: int, bf16: bool,
                compiled: Callable | None) -> dict[str, float]:
    """Series/s of each stage for a draw of ``n`` in batches of ``batch``."""
    rep, model = synth.representation_, synth.model_
    labels = resolve_labels(n, None, classes=synth.classes_, class_counts=synth.class_counts_)
    index = {c: i for i, c in enumerate(synth.classes_)}
    y = torch.tensor([index[c] for c in labels])
    seeds = trace_seeds(0, range(n))
    shape = rep.sample_shape
    t = torch.full((n,), 999, dtype=torch.long)
    x = initial_noise(seeds, shape, torch.device("cpu"))

    def batches(call):
        return [call(lo, min(n, lo + batch)) for lo in range(0, n, batch)]

    def net(m, autocast=nullcontext):
        def run():
            with torch.no_grad(), autocast():
                return batches(lambda lo, hi: m(x[lo:hi], t[lo:hi], y=y[lo:hi]))
        return run

    out = {"noise": median_rate(lambda: batches(lambda lo, hi: initial_noise(seeds[lo:hi], shape, x.device)),
                                n, repeats),
           "network fp32": median_rate(net(model), n, repeats)}
    if bf16:
        out["network bf16"] = median_rate(net(model, lambda: torch.autocast("cpu", dtype=torch.bfloat16)), n, repeats)
    if compiled is not None:
        out["network compiled"] = median_rate(net(compiled), n, repeats)
    with torch.no_grad():
        x_0 = torch.cat(net(model)()).float().clamp(-1, 1)
    decoded = np.concatenate(batches(lambda lo, hi: rep.decode(x_0[lo:hi], labels[lo:hi], seeds[lo:hi])))
    out["decode"] = median_rate(lambda: batches(lambda lo, hi: rep.decode(x_0[lo:hi], labels[lo:hi], seeds[lo:hi])),
                                n, repeats)
    out["postprocess"] = median_rate(lambda: synth.postprocess_.apply(decoded, labels, synth.config.postprocess),
                                     n, repeats)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path)
    ap.add_argument("--n", type=int, default=2048)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, nargs="+", default=[64, 256, 1024])
    ap.add_argument("--sampling", nargs="*", default=["distilled:1", "distilled:2", "ddim:50"],
                    metavar="SAMPLER:STEPS", help="end-to-end draws, each at every batch size")
    ap.add_argument("--bf16", action="store_true", help="also time the network in bf16 autocast")
    ap.add_argument("--compile", action="store_true", help="also time the network torch.compile'd")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None, help="append the markdown here (default: print only)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    synth = TrafficSynthesizer.load(args.run, progress=False)
    compiled, compile_s = None, 0.0
    if args.compile:
        t0 = time.perf_counter()
        compiled = torch.compile(synth.model_)
        with torch.no_grad():
            for b in sorted(set(args.batch)):  # compiles once per batch shape
                compiled(torch.zeros(b, *synth.representation_.sample_shape), torch.zeros(b, dtype=torch.long),
                         y=torch.zeros(b, dtype=torch.long))
        compile_s = time.perf_counter() - t0
    load = os.getloadavg()
    lines = [f"Run `{args.run}`, {args.n} traces, {args.threads} torch threads, torch {torch.__version__}, "
             f"{platform.machine()}; load average {load[0]:.2f} at the start; medians of {args.repeats}; "
             f"{time.strftime('%Y-%m-%d %H:%M')}."
             + (f" torch.compile took {compile_s:.0f} s." if args.compile else ""),
             ""]
    rows = {b: stage_rates(synth, args.n, b, repeats=args.repeats, bf16=args.bf16, compiled=compiled)
            for b in args.batch}
    for spec in args.sampling:
        sampler, steps = spec.split(":")
        for b in args.batch:
            rows[b][f"end to end {sampler}-{steps}"] = median_rate(
                lambda b=b, sampler=sampler, steps=steps: synth.sample(args.n, seed=0, sampler=sampler,
                                                                       steps=int(steps), batch_size=b),
                args.n, max(1, args.repeats if int(steps) <= 4 else 1))
    stages = list(rows[args.batch[0]])
    lines += ["| stage (series/s) | " + " | ".join(f"batch {b}" for b in args.batch) + " |",
              "|---|" + "---|" * len(args.batch)]
    lines += [f"| {s} | " + " | ".join(f"{rows[b][s]:.0f}" for b in args.batch) + " |" for s in stages]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out is not None:
        with open(args.out, "a") as fh:
            fh.write(text + "\n")


if __name__ == "__main__":
    main()
