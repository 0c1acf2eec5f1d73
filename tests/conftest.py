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


def packet_batch(rows: list[tuple], columns: str):
    """A ``PacketBatch`` of IPv4 packets from ``rows``, each a tuple of the fields ``columns``
    names in order (of t_s, src, sport, dst, dport, proto, length, ttl, tcp_flags, window,
    payload; addresses as readers hold them); a field not named is ttl 64, else 0."""
    from netdiffus.io.pcap import PacketBatch

    n, names = len(rows), columns.split()
    cols = dict(zip(names, zip(*rows, strict=True), strict=True)) if rows else {k: () for k in names}
    col = lambda k, default=0: np.array(cols[k], np.int64) if k in cols else np.full(n, default, np.int64)  # noqa: E731
    return PacketBatch(ts_ns=np.array([round(t * 1e9) for t in cols["t_s"]], np.int64), length=col("length"),
                       is_ip=np.ones(n, bool), proto=col("proto"), src_hi=np.zeros(n, np.uint64),
                       src_lo=np.array(cols["src"], np.uint64), dst_hi=np.zeros(n, np.uint64),
                       dst_lo=np.array(cols["dst"], np.uint64), sport=col("sport"), dport=col("dport"),
                       src_mac=np.full(n, -1), dst_mac=np.full(n, -1), ttl=col("ttl", 64),
                       tcp_flags=col("tcp_flags"), tcp_window=col("window"), payload=col("payload"))
