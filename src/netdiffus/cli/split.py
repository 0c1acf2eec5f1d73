"""``netdiffus split``: a dataset -> real train and test datasets, related traces on one side."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

EXAMPLE = r"""example:
  # unseen videos in test: the group of a trace is the video number in its id
  netdiffus split video.parquet --train train.parquet --test test.parquet --group 'Vid_(\d+)_'

--group is a regular expression searched in each trace id ('netdiffus info' shows the first ids); its first
capture group, else the whole match, names the trace's group, and all traces of one (label, group)
pair land on the same side. Without it every trace is its own group. Each class's pairs are
split apart, so every class with two or more groups has test traces; --pooled shuffles all pairs
together instead (the B1 benchmark protocol: 442 train / 194 test sessions of videoTrain)."""


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("split", help="split a dataset into real train and test sets",
                       description="Split a dataset into train and test datasets by (label, group) "
                       "pairs, so that related traces (sessions of one video, captures of one device "
                       "run) never sit on both sides.",
                       epilog=EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dataset", type=Path, help="dataset .parquet to split")
    p.add_argument("--train", type=Path, required=True, metavar="TRAIN.parquet", help="train dataset to write")
    p.add_argument("--test", type=Path, required=True, metavar="TEST.parquet", help="test dataset to write")
    p.add_argument("--force", action="store_true", help="replace existing --train / --test files")
    p.add_argument("--test-fraction", type=float, default=0.3, metavar="F",
                   help="share of the (label, group) pairs in test (default 0.3)")
    p.add_argument("--group", metavar="REGEX", default=None,
                   help="regular expression on the trace id naming its group (default: each trace alone)")
    p.add_argument("--seed", type=int, default=0, help="seed of the shuffle (default 0)")
    p.add_argument("--pooled", action="store_true",
                   help="shuffle the pairs of all classes together (the B1 benchmark protocol) instead of "
                   "splitting each class's groups apart")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from netdiffus.cli._common import check_new_file, outputs_guard, printable
    from netdiffus.files import check_distinct
    from netdiffus.io.dataset import read_dataset, write_dataset
    from netdiffus.io.outputs import output_files
    from netdiffus.io.split import split_dataset

    check_distinct({"--train": args.train, "--test": args.test})
    check_new_file(args.train, force=args.force, what="--train", dataset=True)
    check_new_file(args.test, force=args.force, what="--test", dataset=True)
    train, test = split_dataset(read_dataset(args.dataset), test_fraction=args.test_fraction,
                                group=args.group, seed=args.seed, stratify=not args.pooled)
    # both files or neither, replacing nothing without --force (checked at the rename)
    with outputs_guard(args), output_files([args.train, args.test]) as out:
        for i, ds in enumerate((train, test)):
            with out.writing(i) as tmp:
                write_dataset(ds, tmp)
    for name, ds, path in (("train", train, args.train), ("test", test, args.test)):
        counts = ", ".join(f"{k} {v}" for k, v in sorted(Counter(ds.labels).items()))
        print(printable(f"wrote {path}: {name} {ds.n_traces} traces ({counts})"))
    return 0
