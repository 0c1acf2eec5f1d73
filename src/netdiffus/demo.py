"""The end-to-end demo on the real videoTrain subset shipped inside the package.

``run_demo(out_dir)`` prepares 60-bin downlink series (bytes per 2 s bin), splits by video,
trains a class-conditional diffusion model on GASF images with a CPU preset, samples twice the
training set, evaluates against held-out real traces, and writes a run folder::

    out_dir/
      config.json  model.safetensors  model.json  metrics.jsonl     the fitted model
      data/train.parquet  data/test.parquet                          the real split
      synthetic.parquet  synthetic.csv  synthetic.pcap               the synthetic traffic
      metrics.json  report.html                                      evaluation
      demo.json                                                      timings and paths
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from netdiffus.config import NetDiffusConfig, load_config
from netdiffus.export.tabular import write_csv
from netdiffus.files import write_json
from netdiffus.io.csv_traces import read_csv_traces
from netdiffus.io.dataset import TraceDataset, write_dataset
from netdiffus.io.split import split_by_group, videotrain_video_id
from netdiffus.synthesizer import TrafficSynthesizer

__all__ = ["run_demo", "DemoResult", "demo_data_path", "load_demo_dataset", "DEMO_COLUMN"]

log = logging.getLogger(__name__)

DEMO_COLUMN = "frame_sum_dl"
DEMO_LENGTH = 60
DEMO_AGGREGATE = 4
DEMO_BIN_S = 0.5


def demo_data_path() -> Path:
    """Folder of the shipped videoTrain subset (per-trace CSV files, label = folder)."""
    return Path(str(resources.files("netdiffus").joinpath("data/demo/videotrain")))


def load_demo_dataset() -> TraceDataset:
    """The demo traces: ``[163, 1, 60]`` downlink bytes per 2 s bin, 4 classes."""
    ds, _ = read_csv_traces(
        demo_data_path(), column=DEMO_COLUMN, length=DEMO_LENGTH, aggregate=DEMO_AGGREGATE,
        bin_width_s=DEMO_BIN_S, unit="bytes",
    )
    return ds


@dataclass
class DemoResult:
    out_dir: Path
    n_train: int
    n_test: int
    n_synthetic: int
    metrics: dict[str, float]
    timings_s: dict[str, float]
    files: dict[str, str] = field(default_factory=dict)


def run_demo(
    out_dir: str | Path,
    *,
    preset: str = "demo",
    overrides: list[str] | None = None,
    seed: int = 0,
    progress: bool = True,
    export_pcap_traces: int = 4,
    device: str = "cpu",
) -> DemoResult:
    """Run the whole pipeline on the shipped demo data; see the module docstring for outputs.

    ``device`` trains and samples the diffusion model (``"cpu"`` or e.g. ``"cuda"``); the
    evaluation runs on the CPU."""
    out = Path(out_dir)
    timings: dict[str, float] = {}
    t_all = time.perf_counter()
    config: NetDiffusConfig = load_config(preset=preset, overrides=overrides)

    t0 = time.perf_counter()
    dataset = load_demo_dataset()
    groups = [videotrain_video_id(i) for i in dataset.ids]
    train_idx, test_idx = split_by_group(dataset.labels, groups, test_fraction=0.3, seed=seed)
    train, test = dataset.subset(train_idx), dataset.subset(test_idx)
    write_dataset(train, out / "data" / "train.parquet")
    write_dataset(test, out / "data" / "test.parquet")
    timings["prepare"] = time.perf_counter() - t0
    log.info("demo data: %d train, %d test traces of %d bins", len(train), len(test), train.length)

    t0 = time.perf_counter()
    synth = TrafficSynthesizer(config, device=device, progress=progress).fit(train, run_dir=out, force=True)
    timings["fit"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    synthetic = synth.sample(2 * len(train), seed=seed)
    timings["sample"] = time.perf_counter() - t0
    write_dataset(synthetic, out / "synthetic.parquet")
    write_csv(synthetic, out / "synthetic.csv")
    files = {"synthetic_parquet": "synthetic.parquet", "synthetic_csv": "synthetic.csv"}

    t0 = time.perf_counter()
    from netdiffus.evaluation import evaluate, write_report

    result = evaluate(train, synthetic, real_test=test, seed=seed, fast=True)
    timings["evaluate"] = time.perf_counter() - t0
    write_json(out / "metrics.json", result.to_dict())
    t0 = time.perf_counter()
    write_report(
        result, train, synthetic, out,
        title="netdiffus demo: videoTrain subset (downlink bytes per 2 s bin)",
        extra_info={"preset": preset, "real test traces": len(test), "fit (s)": round(timings["fit"], 1)},
    )
    timings["report"] = time.perf_counter() - t0
    files.update(metrics="metrics.json", report="report.html")

    if export_pcap_traces:
        from netdiffus.export.pcap import export_pcap

        t0 = time.perf_counter()
        # One trace per class; video bins hold megabytes, so keep headers only (snaplen) to keep
        # the file small: the capture still records each packet's full length.
        summary = export_pcap(synthetic, out / "synthetic.pcap", seed=seed, max_traces=export_pcap_traces,
                              feature="bytes", snaplen=96)
        timings["export_pcap"] = time.perf_counter() - t0
        pcap_info = {"packets": summary.n_packets, "packets_per_s": round(summary.packets_per_s)}
        files["pcap"] = "synthetic.pcap"

    timings["total"] = time.perf_counter() - t_all
    demo_info: dict[str, Any] = {
        "preset": preset, "seed": seed, "n_train": len(train), "n_test": len(test),
        "n_synthetic": len(synthetic), "timings_s": {k: round(v, 2) for k, v in timings.items()},
        "files": files,
    }
    if export_pcap_traces:
        demo_info["pcap"] = pcap_info
    write_json(out / "demo.json", demo_info)
    metrics = {k: float(v) for k, v in result.overall.items() if np.isfinite(v)}
    return DemoResult(out, len(train), len(test), len(synthetic), metrics, timings, files)


def summary_rows(result: DemoResult) -> list[tuple[str, str]]:
    """Rows (name, value) of the demo's summary table."""
    m = result.metrics
    rows = [
        ("train / test / synthetic traces", f"{result.n_train} / {result.n_test} / {result.n_synthetic}"),
    ]
    for key, label in [("W1_values", "W1 log values (lower is better)"),
                       ("W1_totals", "W1 log totals (lower is better)"),
                       ("ACF", "ACF distance (lower is better)"),
                       ("discriminative", "discriminative |acc-0.5| (lower)"),
                       ("TRTR_acc", "TRTR accuracy (real -> real)"),
                       ("TSTR_acc", "TSTR accuracy (synthetic -> real)"),
                       ("TRSTR_acc", "TRSTR accuracy (both -> real)"),
                       ("DCR_ratio", "DCR ratio (>= 0.9 is private)")]:
        if key in m:
            rows.append((label, f"{m[key]:.3f}"))
    t = result.timings_s
    rows.append(("wall time (fit / sample / total)", f"{t['fit']:.0f} s / {t['sample']:.0f} s / {t['total']:.0f} s"))
    rows.append(("report", str(result.out_dir / "report.html")))
    return rows


def format_table(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)


def demo_json(out_dir: str | Path) -> dict[str, Any]:
    return json.loads((Path(out_dir) / "demo.json").read_text())
