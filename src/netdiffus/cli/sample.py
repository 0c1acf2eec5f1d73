"""``netdiffus sample``: draw synthetic traces from a fitted run."""

from __future__ import annotations

import argparse
from pathlib import Path

from netdiffus.diffusion.steps import SAMPLERS

EXAMPLE = """example:
  netdiffus sample runs/demo -n 200 -o synthetic.parquet
  netdiffus sample runs/demo -n 50 --label YouTube/V360 --steps 20 --csv yt360.csv -o yt360.parquet
  netdiffus sample runs/b1-fast -n 1000000 -o big.parquet            # written chunk by chunk
  netdiffus sample runs/b1-fast -n 1000000 -o big.parquet --resume   # after an interrupt: goes on
  netdiffus sample runs/iot -n 800 --filter-by train.parquet -o iot.parquet  # keep what a classifier recognises"""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("sample", help="draw synthetic traces from a fitted run",
                       description="Sample N traces (in original units) and write them in the dataset "
                       "format (Parquet), optionally also as a wide CSV. The traces are drawn and kept chunk by "
                       "chunk beside the output (.NAME.partial, .NAME.progress.json), so memory stays bounded "
                       "whatever N and an interrupted draw continues with --resume; the output appears when "
                       "the draw is complete.",
                       epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run", type=Path, help="run folder written by 'netdiffus fit'")
    p.add_argument("-n", type=int, required=True, help="number of traces")
    p.add_argument("-o", "--output", type=Path, required=True, help="output dataset (.parquet)")
    p.add_argument("--label", action="append", default=None,
                   help="only this class (repeatable: traces are spread evenly); default: training balance")
    p.add_argument("--seed", type=int, default=0, help="trace k uses seed SEED*1000003+k (default: 0)")
    p.add_argument("--sampler", choices=list(SAMPLERS),
                   help="sampler (default: the run's sample.sampler)")
    p.add_argument("--steps", type=int, help="sampling steps (default: the run's sample.steps)")
    p.add_argument("--guidance", type=float,
                   help="classifier-free guidance scale, 1 = none (default: the run's sample.guidance_scale)")
    p.add_argument("--batch-size", type=int, help="traces per batch (default: the run's sample.batch_size)")
    p.add_argument("--temperature", type=float,
                   help="softmax temperature of token draws (packets preset), below 1 more typical "
                        "(default: the run's sample.temperature)")
    p.add_argument("--raw", action="store_true",
                   help="the generator's output as inverted, without the volume calibration and the zero "
                   "and value snaps (docs/model.md)")
    p.add_argument("--filter-by", type=Path, metavar="DATASET",
                   help="draw --oversample candidates per trace and keep, per class, those that a random forest "
                        "fitted on these real labelled traces (e.g. the training set) recognises as their class "
                        "(not for a private run: the forest reads real traces)")
    p.add_argument("--oversample", type=int, default=2, metavar="K",
                   help="candidates drawn per trace kept with --filter-by (default: 2)")
    p.add_argument("--csv", type=Path, help="also write a wide CSV here")
    p.add_argument("--chunk-size", type=int, metavar="TRACES",
                   help="traces drawn and kept per chunk (one Parquet row group each), rounded up to whole "
                        "batches; memory grows with it (default: 16384)")
    p.add_argument("--resume", action="store_true",
                   help="continue the interrupted draw into -o: the same run and options are required; the "
                        "finished chunks are kept")
    p.add_argument("--force", action="store_true",
                   help="replace existing output files, and discard an interrupted draw into -o")
    p.add_argument("--device", default="cpu",
                   help="torch device (default: cpu); under torchrun each process draws its share of the traces, "
                        "cuda on the GPU of its local rank")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar (shown on a terminal only)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from collections import Counter

    from netdiffus.cli._common import check_new_file, outputs_guard, printable, show_progress
    from netdiffus.distributed import distributed_run, is_main_process, resolve_device
    from netdiffus.errors import ConfigError
    from netdiffus.files import check_distinct
    from netdiffus.io.dataset import read_dataset
    from netdiffus.sampling import weights_digest
    from netdiffus.selection import recognised_draw
    from netdiffus.stream import StreamOptions, check_stream, write_stream
    from netdiffus.synthesizer import TrafficSynthesizer

    if args.n < 1:
        raise ConfigError(f"-n must be >= 1 (got {args.n})")
    classes = list(dict.fromkeys(args.label or []))  # in the order given, each once
    if args.n < len(classes):
        raise ConfigError(f"-n {args.n} is fewer than the {len(classes)} classes given with --label; "
                          "every class given gets at least one trace")
    if args.oversample < 2:
        raise ConfigError(f"--oversample must be >= 2 (got {args.oversample})")
    if args.chunk_size is not None and args.chunk_size < 1:
        raise ConfigError(f"--chunk-size must be >= 1 (got {args.chunk_size})")
    # fail now, not after sampling (nor with the dataset written)
    check_new_file(args.output, force=args.force, dataset=True)
    outputs = {"-o": args.output}
    if args.csv:
        check_new_file(args.csv, force=args.force, what="--csv")
        outputs["--csv"] = args.csv
    check_distinct(outputs)
    check_stream(args.output, resume=args.resume, force=args.force)
    device = resolve_device(args.device)
    options = StreamOptions(chunk_size=args.chunk_size, resume=args.resume, force=args.force, csv=args.csv)
    # under torchrun: each process draws its share of each chunk on its device; rank 0 writes
    with distributed_run(device) as process_dev:
        synth = TrafficSynthesizer.load(args.run, device=process_dev,
                                        progress=show_progress(args) and is_main_process())
        labels = [classes[k % len(classes)] for k in range(args.n)] if classes else None
        plan = synth.plan(args.n, labels=labels, seed=args.seed, sampler=args.sampler, steps=args.steps,
                          guidance_scale=args.guidance, batch_size=args.batch_size, temperature=args.temperature,
                          raw=args.raw)
        recognised = None if args.filter_by is None else recognised_draw(synth, read_dataset(args.filter_by),
                                                                          oversample=args.oversample, seed=args.seed)
        # the outputs appear together, complete, or not at all, and replace nothing without --force
        with outputs_guard(args):
            if recognised is None:
                synth.sample_to_parquet(args.output, plan, options)
            else:
                write_stream(args.output, plan, recognised, model_digest=weights_digest(synth.model_) + "+filter:"
                             + recognised.digest(), options=options, progress=synth.progress)
        if is_main_process():
            counts = Counter(plan.labels)
            summary = ", ".join(f"{c}: {counts[c]}" for c in classes or sorted(counts))
            print(printable(f"wrote {plan.n} traces ({summary}) -> {args.output}"))
            if recognised is not None and recognised.drawn:
                print(printable(recognised.summary()))
    return 0
