"""pcap export benchmark (not a test): packets written per second by ``export_pcap``.

    python -m benchmarks.export_pcap                # all cases
    python -m benchmarks.export_pcap --quick        # smaller cases, one repeat
    python -m benchmarks.export_pcap --out benchmarks/results/export_pcap.md

1. ``encode``: frame building alone (:func:`netdiffus.export.frames.encode_records`), 1M TCP
   packets of 1500 bytes in 8k-packet chunks into one reused buffer, written to /dev/null.
2. ``video``: B1-shaped series (the videoTrain demo subset shipped with the package,
   ``frame_sum_dl`` summed to 2 s bins, 60 bins), ``--video-traces`` traces, end to end to a file
   (no statistics kept for CSV data: MTU fill, uniform timing). Large packets: disk-bound.
3. ``iot``: B2 ``iot-bins`` (../shared/data/iot-sentinel, bytes per 0.25 s to / from the
   device, 64 bins) prepared here, then every trace exported with the kept statistics
   (packet-size and intra-bin histograms, transport). Small packets: CPU-bound. Skipped when the
   data is absent.

Each case is the best of ``--repeat`` runs; prints a markdown table (``--out`` also writes it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from netdiffus.export.frames import TCP, encode_records
from netdiffus.export.pcap import export_pcap
from netdiffus.io.csv_traces import read_csv_traces

ROOT = Path(__file__).resolve().parents[1]
VIDEO = ROOT / "src" / "netdiffus" / "data" / "demo" / "videotrain"
IOT = (ROOT / ".." / "shared" / "data" / "iot-sentinel" / "captures").resolve()


def bench_encode(n: int, repeat: int) -> dict:
    chunk = 1 << 13
    kw = dict(
        ts_us=np.arange(chunk) + 1_704_067_200_000_000, ip_len=np.full(chunk, 1500), proto=np.full(chunk, TCP),
        src_ip=np.tile(np.array([192, 0, 2, 1], np.uint8), (chunk, 1)),
        dst_ip=np.tile(np.array([198, 51, 100, 1], np.uint8), (chunk, 1)),
        sport=np.full(chunk, 49152), dport=np.full(chunk, 443), src_mac=np.zeros((chunk, 6), np.uint8),
        dst_mac=np.zeros((chunk, 6), np.uint8), ip_id=np.arange(chunk), seq=np.arange(chunk) * 1460,
        ack=np.zeros(chunk, np.int64), tcp_flags=np.full(chunk, 0x10), flow_label=np.zeros(chunk, np.int64),
        ip_version=4,
    )
    buf = np.zeros(chunk * 1600, np.uint8)
    best = float("inf")
    for _ in range(repeat):
        with open(os.devnull, "wb") as fh:
            t = time.perf_counter()
            for _ in range(0, n, chunk):
                fh.write(memoryview(encode_records(**kw, out=buf)))
            best = min(best, time.perf_counter() - t)
    return {"case": "encode (frames only, /dev/null)", "traces": "-", "packets": n, "bytes": n * 1514, "wall": best}


def _export(ds, name: str, repeat: int, tmp: Path) -> dict:
    best, summary = float("inf"), None
    for _ in range(repeat):
        out = tmp / f"{name}.pcap"
        t = time.perf_counter()
        summary = export_pcap(ds, out, seed=0)
        best = min(best, time.perf_counter() - t)
        os.sync() if hasattr(os, "sync") else None
        out.unlink()
    return {"case": name, "traces": summary.n_traces, "packets": summary.n_packets, "bytes": summary.n_file_bytes,
            "wall": best, "timing": summary.timing, "sizes": summary.sizes}


def bench_video(n_traces: int, repeat: int, tmp: Path) -> dict:
    ds = read_csv_traces(VIDEO, column="frame_sum_dl", aggregate=4)
    ds = ds[0] if isinstance(ds, tuple) else ds
    ds.meta.bin_width_s = 2.0
    ds = ds.subset(np.arange(min(n_traces, ds.n_traces)))
    return _export(ds, "video (B1 shape, 2 s bins)", repeat, tmp)


def bench_iot(repeat: int, tmp: Path, quick: bool) -> dict | None:
    if not IOT.is_dir():
        return None
    from netdiffus.prepare import prepare

    inputs = sorted(IOT.iterdir())[: 6 if quick else None]
    ds, _ = prepare([str(p) for p in inputs], unit="host", feature="bytes", bin_width="0.25s", length=64,
                    split_direction=True)
    return _export(ds, "iot-bins (B2, real statistics)", repeat, tmp)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--video-traces", type=int, default=10)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args(argv)
    repeat = 1 if args.quick else args.repeat
    rows = [bench_encode(1 << (18 if args.quick else 20), repeat)]
    with tempfile.TemporaryDirectory(dir=ROOT) as d:
        rows.append(bench_video(2 if args.quick else args.video_traces, repeat, Path(d)))
        iot = bench_iot(repeat, Path(d), args.quick)
        if iot is not None:
            rows.append(iot)
    lines = [
        f"# pcap export: packets written per second ({dt.date.today()})",
        "",
        f"`python -m benchmarks.export_pcap {' '.join(argv or [])}`".replace(" `", "`"),
        f"machine: {platform.machine()}, {os.cpu_count()} cores, {platform.python_implementation()} "
        f"{platform.python_version()}, numpy {np.__version__}; best of {repeat}",
        "",
        "| case | traces | packets | file MB | wall s | packets/s | MB/s | timing / sizes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['case']} | {r['traces']} | {r['packets']:,} | {r['bytes'] / 1e6:,.1f} | {r['wall']:.2f} | "
            f"{r['packets'] / r['wall']:,.0f} | {r['bytes'] / 1e6 / r['wall']:,.0f} | "
            f"{r.get('timing', '-')} / {r.get('sizes', '-')} |"
        )
    if iot is None:
        lines.append("")
        lines.append("iot-bins skipped: ../shared/data/iot-sentinel is absent")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
