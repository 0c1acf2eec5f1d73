"""The benchmark datasets and splits of ../shared/BENCHMARKS.md: B1 video, B2 iot (two views), B3.

Every loader returns real ``(train, test)`` :class:`~netdiffus.io.dataset.TraceDataset` pairs.
Prepared B2 captures are cached as Parquet under ``benchmarks/work/`` (git-ignored).
"""

from __future__ import annotations

import csv
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.model_selection import train_test_split

from netdiffus.io.csv_traces import aggregate_bins, read_csv_traces
from netdiffus.io.dataset import TraceDataset, read_dataset, write_dataset
from netdiffus.io.split import split_by_group, videotrain_video_id

log = logging.getLogger(__name__)

REPO = Path(__file__).resolve().parents[1]
# The real data: ../shared/data from the repository root, or $NETDIFFUS_BENCH_DATA.
DATA = Path(os.environ.get("NETDIFFUS_BENCH_DATA", REPO / ".." / "shared" / "data")).resolve()
WORK = REPO / "benchmarks" / "work"


@dataclass
class Benchmark:
    """One benchmark: real train / test splits and, for B3, the anomaly protocol."""

    name: str
    description: str
    train: TraceDataset
    test: TraceDataset
    # B3 only: the anomalous traces (all splits) that the detector must flag.
    anomalous: TraceDataset | None = None
    info: dict = field(default_factory=dict)


def video_id(trace_id: str) -> str:
    """``YouTube/V360/Vid_12_cc_345`` -> ``"12"``."""
    if not re.search(r"Vid_(\d+)_cc", trace_id):
        raise ValueError(f"not a videoTrain trace id: {trace_id!r}")
    return videotrain_video_id(trace_id)


def split_by_video(ds: TraceDataset, *, test_fraction: float = 0.3, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """B1 split (442 train / 194 test sessions): :func:`netdiffus.io.split.split_by_group` by video,
    all (class, video) pairs shuffled together as the protocol says (not per class)."""
    return split_by_group(ds.labels, [video_id(i) for i in ds.ids], test_fraction=test_fraction, seed=seed,
                          stratify=False)


def load_b1() -> Benchmark:
    ds, _ = read_csv_traces(DATA / "videotrain" / "traces", column="frame_sum_dl", length=60, aggregate=4,
                            bin_width_s=0.5, unit="bytes")  # fmt: skip
    tr, te = split_by_video(ds)
    return Benchmark("B1 video", "videoTrain frame_sum_dl, 60 bins of 2 s, 4 classes, split by video",
                     ds.subset(tr), ds.subset(te))  # fmt: skip


def videotrain_gan_traces(train: TraceDataset) -> TraceDataset:
    """The videoTrain GAN's traces whose source session is in ``train`` (5 per session, 60 bins)."""
    root = DATA / "videotrain-gan" / "traces"
    xs, labels, ids = [], [], []
    for tid, lab in zip(train.ids, train.labels, strict=True):
        path = root / f"{tid}.csv"
        if not path.exists():
            continue
        with path.open(newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader)
            j = header.index("frame_sum_dl")
            vals = np.array([float(r[j]) for r in reader if r])
        k = len(vals) // 241
        for s in range(k):
            raw = vals[241 * s : 241 * s + 240]
            xs.append(aggregate_bins(raw, 4))
            labels.append(lab)
            ids.append(f"{tid}#gan{s}")
    return TraceDataset(series=np.stack(xs)[:, None, :], labels=labels, ids=ids, sources=["videotrain-gan"] * len(ids),
                        meta=train.meta)  # fmt: skip


def _prepared(view: str) -> TraceDataset:
    from netdiffus.prepare import prepare

    WORK.mkdir(parents=True, exist_ok=True)
    cache = WORK / f"{view}.parquet"
    if cache.exists():
        return read_dataset(cache)
    captures = DATA / "iot-sentinel" / "captures"
    if view == "iot-bins":
        ds, _ = prepare(captures, unit="host", feature="bytes", bin_width="0.25s", length=64, split_direction=True,
                        workers=2)  # fmt: skip
    elif view == "iot-iat":
        ds, _ = prepare(captures, unit="host", feature="iat", length=64, workers=2)
    elif view == "iot-joint":
        ds, _ = prepare(captures, unit="host", feature="sequence", length=64, workers=2)
    else:
        ds, _ = prepare(captures, unit="host", feature="sizes", length=64, workers=2)
    write_dataset(ds, cache)
    return ds


def _stratified(ds: TraceDataset, seed: int = 0) -> tuple[TraceDataset, TraceDataset]:
    idx = np.arange(ds.n_traces)
    tr, te = train_test_split(idx, test_size=0.3, stratify=ds.label_array(), random_state=seed)
    return ds.subset(np.sort(tr)), ds.subset(np.sort(te))


def load_b2(view: str) -> Benchmark:
    """B2 iot: ``iot-bins`` (bytes per 0.25 s, 64 bins, 2 channels) or ``iot-packets`` (64 signed sizes)."""
    ds = _prepared(view)
    tr, te = _stratified(ds)
    desc = {"iot-bins": "IoT Sentinel bytes per 0.25 s bin, 64 bins, to/from the device, 31 classes",
            "iot-packets": "IoT Sentinel sizes of the first 64 packets, signed by direction, "
                           "31 classes"}[view]  # fmt: skip
    return Benchmark(f"B2 {view}", desc, tr, te)


def load_b2_joint() -> Benchmark:
    """B2 iot-joint: the first 64 packets of each session, two channels generated together, as
    ``prepare --feature sequence`` makes them in one pass: size (bytes, signed by direction:
    positive from the device, negative to it) and the gap to the packet before (s, 0 for the
    first); 0 in both after the session's last packet (each session's length is kept)."""
    ds = _prepared("iot-joint")
    tr, te = _stratified(ds)
    return Benchmark("B2 iot-joint", "IoT Sentinel first 64 packets: signed size (direction), inter-arrival time, "
                     "31 classes", tr, te)


def load_b3(view: str = "iot-bins") -> Benchmark:
    """B3 novelty: every 4th sorted class is anomalous and never trained on."""
    ds = _prepared(view)
    tr, te = _stratified(ds)
    classes = sorted(ds.classes)
    anomalous = {c for i, c in enumerate(classes) if i % 4 == 0}

    def keep(d: TraceDataset, normal: bool) -> TraceDataset:
        return d.subset(np.array([(lab in anomalous) != normal for lab in d.labels]))

    anom = ds.subset(np.array([lab in anomalous for lab in ds.labels]))
    return Benchmark(f"B3 anomaly ({view})", f"novelty detection on B2 {view}: {len(anomalous)} anomalous classes",
                     keep(tr, True), keep(te, True), anomalous=anom,
                     info={"anomalous_classes": sorted(anomalous)})  # fmt: skip
