"""``netdiffus sample``: draw synthetic traces from a fitted run."""

from __future__ import annotations

import argparse
from pathlib import Path

from netdiffus.diffusion.steps import SAMPLERS

EXAMPLE = """example:
  netdiffus sample runs/demo -n 200 -o synthetic.parquet
  netdiffus sample runs/demo -n 50 --label YouTube/V360 --steps 20 --csv yt360.csv -o yt360.parquet"""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("sample", help="draw synthetic traces from a fitted run",
                       description="Sample N traces (in original units) and write them in the dataset "
                       "format (Parquet), optionally also as a wide CSV.",
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
    p.add_argument("--csv", type=Path, help="also write a wide CSV here")
    p.add_argument("--force", action="store_true", help="replace existing output files")
    p.add_argument("--device", default="cpu",
                   help="torch device (default: cpu); under torchrun each process draws its share of the traces, "
                        "cuda on the GPU of its local rank")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar (shown on a terminal only)")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from netdiffus.cli._common import check_new_file, outputs_guard, printable, show_progress
    from netdiffus.distributed import distributed_run, is_main_process, resolve_device
    from netdiffus.errors import ConfigError
    from netdiffus.export.tabular import write_csv
    from netdiffus.files import check_distinct
    from netdiffus.io.dataset import write_dataset
    from netdiffus.io.outputs import output_files
    from netdiffus.synthesizer import TrafficSynthesizer

    if args.n < 1:
        raise ConfigError(f"-n must be >= 1 (got {args.n})")
    classes = list(dict.fromkeys(args.label or []))  # in the order given, each once
    if args.n < len(classes):
        raise ConfigError(f"-n {args.n} is fewer than the {len(classes)} classes given with --label; "
                          "every class given gets at least one trace")
    # fail now, not after sampling (nor with the dataset written)
    check_new_file(args.output, force=args.force, dataset=True)
    outputs = {"-o": args.output}
    if args.csv:
        check_new_file(args.csv, force=args.force, what="--csv")
        outputs["--csv"] = args.csv
    check_distinct(outputs)
    device = resolve_device(args.device)
    # under torchrun: each process draws its share of the traces on its device; rank 0 writes
    with distributed_run(device) as process_dev:
        synth = TrafficSynthesizer.load(args.run, device=process_dev,
                                        progress=show_progress(args) and is_main_process())
        labels = [classes[k % len(classes)] for k in range(args.n)] if classes else None
        ds = synth.sample(args.n, labels=labels, seed=args.seed, sampler=args.sampler, steps=args.steps,
                          guidance_scale=args.guidance, batch_size=args.batch_size, temperature=args.temperature,
                          raw=args.raw)
        if is_main_process():
            # the outputs appear together or not at all, replace nothing without --force, and a
            # failed write (a full disk) names its file
            with outputs_guard(args), output_files(list(outputs.values())) as out:
                with out.writing(0) as tmp:
                    write_dataset(ds, tmp)
                if args.csv:
                    with out.writing(1) as tmp:
                        write_csv(ds, tmp)
            counts = ds.class_counts()
            order = classes or list(counts)
            summary = ", ".join(f"{c}: {counts[c]}" for c in order)
            print(printable(f"wrote {len(ds)} traces ({summary}) -> {args.output}"))
    return 0
