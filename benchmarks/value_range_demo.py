"""The value range on and off, one fitted run sampled twice (not a test).

    python -m benchmarks.value_range_demo RUN

``RUN`` is a folder written by ``netdiffus demo -o RUN`` (it holds ``data/train.parquet`` and
``data/test.parquet``). The run is sampled as the demo samples it (twice the training count, seed
0) with ``postprocess.possible_values`` on and off, and each draw is scored as the demo scores
it (``evaluate(..., fast=True)``); one JSON line per setting.
"""

from __future__ import annotations

import argparse
import json

from netdiffus.evaluation import evaluate
from netdiffus.io.dataset import read_dataset
from netdiffus.synthesizer import TrafficSynthesizer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    args = ap.parse_args()
    train, test = (read_dataset(f"{args.run}/data/{part}.parquet") for part in ("train", "test"))
    synth = TrafficSynthesizer.load(args.run, progress=False)
    for on in (True, False):
        synth.config.postprocess.possible_values = on
        fake = synth.sample(2 * len(train), seed=0)
        r = evaluate(train, fake, real_test=test, seed=0, fast=True)
        print(json.dumps({"possible_values": on, **{k: round(v, 4) for k, v in r.overall.items()}}), flush=True)


if __name__ == "__main__":
    main()
