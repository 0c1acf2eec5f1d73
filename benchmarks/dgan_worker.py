"""DoppelGANger worker, run inside the isolated venv made by :mod:`benchmarks.doppelganger`.

Usage: ``python dgan_worker.py IN.npz OUT.npz EPOCHS SEED``. ``IN.npz`` holds ``features``
``[N, T, C]`` (log1p series) and ``labels`` ``[N]`` (class indices, the discrete attribute) and
``n_out``; ``OUT.npz`` gets ``features`` ``[M, T, C]``, ``labels`` ``[M]`` and ``fit_seconds``.
Only numpy, torch and gretel-synthetics are used here (not netdiffus).
"""

import argparse
import os
import sys
import time

import numpy as np
import torch


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="dgan_worker.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", metavar="IN.npz", help="training features, labels and n_out")
    ap.add_argument("dst", metavar="OUT.npz", help="where the generated features and labels go")
    ap.add_argument("epochs", type=int, metavar="EPOCHS")
    ap.add_argument("seed", type=int, metavar="SEED")
    return ap.parse_args(argv)


def main() -> int:
    args = parse_args()
    src, dst, epochs, seed = args.src, args.dst, args.epochs, args.seed
    from gretel_synthetics.timeseries_dgan.config import DGANConfig, OutputType
    from gretel_synthetics.timeseries_dgan.dgan import DGAN

    torch.set_num_threads(int(os.environ.get("NETDIFFUS_BENCH_THREADS", "1")))
    data = np.load(src)
    features = data["features"].astype(np.float32)
    labels = data["labels"].astype(np.int64)
    n_out = int(data["n_out"])
    n, t, c = features.shape
    torch.manual_seed(seed)
    np.random.seed(seed)
    sample_len = next(s for s in (4, 5, 3, 2, 1) if t % s == 0)
    config = DGANConfig(
        max_sequence_len=t,
        sample_len=sample_len,
        batch_size=min(100, n),
        epochs=epochs,
        cuda=False,
        apply_feature_scaling=True,
        apply_example_scaling=False,
    )
    model = DGAN(config)
    t0 = time.perf_counter()
    model.train_numpy(
        features=features,
        feature_types=[OutputType.CONTINUOUS] * c,
        attributes=labels[:, None].astype(str),
        attribute_types=[OutputType.DISCRETE],
    )
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    attrs, feats = model.generate_numpy(n_out)
    sample_s = time.perf_counter() - t0
    feats = np.stack([np.asarray(f, dtype=np.float32) for f in feats])
    out_labels = np.asarray(attrs)[:, 0].astype(np.int64)
    np.savez(dst, features=feats, labels=out_labels, fit_seconds=fit_s, sample_seconds=sample_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
