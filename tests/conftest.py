"""Shared fixtures: paths to the real data (when present) and tiny synthetic datasets."""

from __future__ import annotations

import os
import signal
import struct
from pathlib import Path

import numpy as np
import pytest

from netdiffus.io.dataset import DatasetMeta, TraceDataset

# As the command line does (netdiffus.cli.main.set_thread_policy): the tests share the cores.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# A suite started in the background of a non-interactive shell inherits SIGINT ignored, and so
# would every command it starts: the interrupt tests need Ctrl-C to mean KeyboardInterrupt (a
# handler is reset to the default in the commands they start; an ignored signal would stay ignored).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = (REPO / ".." / "shared" / "data").resolve()


@pytest.fixture
def shared_data() -> Path:
    """``../shared/data`` from the repository root; the test is skipped when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip("../shared/data is not present")
    return SHARED_DATA


def toy_dataset(n_per_class: int = 6, length: int = 8, classes=("a", "b"), seed: int = 0) -> TraceDataset:
    """Small positive traces ``[N, 1, length]`` (bytes per bin) with distinct class levels."""
    rng = np.random.default_rng(seed)
    series, labels = [], []
    for i, c in enumerate(classes):
        series.append(rng.gamma(2.0, 1e3 * (i + 1), size=(n_per_class, 1, length)))
        labels += [c] * n_per_class
    n = len(labels)
    return TraceDataset(series=np.concatenate(series).astype(np.float32), labels=labels,
                        ids=[f"t{i}" for i in range(n)], sources=["toy"] * n,
                        meta=DatasetMeta(feature="bytes", unit="bytes", bin_width_s=0.5, channels=["bytes"]))


TINY = ["train.steps=3", "model.base_channels=8", "model.channel_mult=[1, 2]", "model.patch_size=1",
        "sample.steps=3", "train.batch_size=4", "train.warmup_steps=1"]


@pytest.fixture
def tiny_overrides() -> list[str]:
    """Config overrides that make a model train in well under a second."""
    return list(TINY)


def ones_complement_sum(data: bytes) -> int:
    """RFC 1071 sum, written out plainly (independent of the code under test)."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total
