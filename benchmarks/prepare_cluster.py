"""``prepare`` on a Dask cluster against one process: wall time, peak memory, dataset digests.

    python -m benchmarks.prepare_cluster                      # IoT Sentinel + a 1 GB generated capture
    python -m benchmarks.prepare_cluster --skip-large --repeats 1
    python -m benchmarks.prepare_cluster --out benchmarks/results/2026-12-07-prepare-cluster.md

Inputs:

1. IoT Sentinel (../shared/data/iot-sentinel, 550 captures), the B2 view ``iot-bins``: ``unit=host``,
   bytes per 0.25 s, 64 bins, split by direction.
2. A capture of ``--large-gb`` GB (:func:`benchmarks.ingest_pcap.write_large_capture`: Ethernet,
   IPv4 TCP/UDP, many flows that come and go), ``unit=flow``, 64 bins of 0.5 s, split by direction;
   as one file (one task: a cluster cannot share it out), and cut at record boundaries into
   ``--parts`` files of equal size (a folder of captures: one task per file; the flows that cross
   a cut are cut too, so this dataset is not the one-file dataset).

Each input is prepared in a fresh child process by: one process (``workers=1``); the process pool
(``workers=2``); a local cluster started by ``prepare`` (``cluster="local"``, 1 and 2 worker
processes, start and stop included); and a local cluster started before (1 and 2 workers, reached
by its address as a real cluster would be: start excluded, reported apart, and a second
``prepare`` on the same workers timed too, their imports done). Per run: wall time of
``prepare()``, the dataset's digest (:meth:`TraceDataset.digest`) and the SHA-256 of the Parquet
file written, the child's peak RSS and the largest peak RSS of its worker processes. Medians over
``--repeats``; every digest of an input must be equal (the script exits 1 otherwise).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import mmap
import os
import platform
import resource
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# the real data: ../shared/data from the repository root, or $NETDIFFUS_BENCH_DATA (as benchmarks.datasets)
DATA = Path(os.environ.get("NETDIFFUS_BENCH_DATA", ROOT / ".." / "shared" / "data")).resolve()
IOT = DATA / "iot-sentinel" / "captures"
IOT_OPTIONS = dict(unit="host", feature="bytes", bin_width="0.25s", length=64, split_direction=True)
LARGE_OPTIONS = dict(unit="flow", feature="bytes", bin_width="0.5s", length=64, split_direction=True)
#: (name, prepare's workers, cluster: None, "local" (started by prepare) or "address" (started before))
MODES = [
    ("one process", 1, None),
    ("process pool, 2 workers", 2, None),
    ("cluster local, 1 worker", 1, "local"),
    ("cluster local, 2 workers", 2, "local"),
    ("cluster address, 1 worker", 1, "address"),
    ("cluster address, 2 workers", 2, "address"),
]


def _status_mb(key: str) -> float:
    with open("/proc/self/status") as f:
        return int(next(x for x in f if x.startswith(key)).split()[1]) / 1024


def _child(spec: dict) -> dict:
    """One run (in this fresh process): prepare, then write the dataset and hash the file."""
    from netdiffus.io.dataset import write_dataset
    from netdiffus.prepare import prepare

    kwargs = dict(spec["options"], workers=spec["workers"])
    cluster = None
    start_s = 0.0
    if spec["cluster"] == "address":
        import distributed

        t = time.perf_counter()
        cluster = distributed.LocalCluster(n_workers=spec["workers"], threads_per_worker=1, processes=True,
                                           dashboard_address=":0", silence_logs=40)
        start_s = time.perf_counter() - t
        kwargs["cluster"] = cluster.scheduler_address
    elif spec["cluster"] == "local":
        kwargs["cluster"] = "local"
    t = time.perf_counter()
    ds, summary = prepare(spec["inputs"], **kwargs)
    wall = time.perf_counter() - t
    warm_s = 0.0
    if cluster is not None:  # again on the same workers: their imports done, as on a long-running cluster
        t = time.perf_counter()
        again, _ = prepare(spec["inputs"], **kwargs)
        warm_s = time.perf_counter() - t
        assert again.digest() == ds.digest()
        del again
        cluster.close()
    with tempfile.TemporaryDirectory(prefix="netdiffus-bench-") as tmp:
        path = write_dataset(ds, Path(tmp) / "ds.parquet")
        file_sha = hashlib.sha256(path.read_bytes()).hexdigest()
    # workers (and the pool's processes) are children here, reaped by now: their largest peak
    children_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return dict(wall=wall, start_s=start_s, warm_s=warm_s, digest=ds.digest(), file_sha=file_sha, traces=ds.n_traces,
                packets=summary.packets, files=summary.files_read, rss_mb=_status_mb("VmHWM"),
                children_rss_mb=children_mb)


def _run(inputs: list[str], options: dict, workers: int, cluster: str | None) -> dict:
    spec = dict(inputs=inputs, options=options, workers=workers, cluster=cluster)
    load = os.getloadavg()[0]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-m", "benchmarks.prepare_cluster", "--child", json.dumps(spec)],
                         check=True, capture_output=True, text=True, cwd=ROOT, env=env)
    return dict(json.loads(out.stdout.strip().splitlines()[-1]), load=load)


def split_capture(path: Path, folder: Path, *, parts: int) -> list[Path]:
    """Cut a classic pcap at record boundaries into ``parts`` files of about equal size."""
    folder.mkdir(parents=True, exist_ok=True)
    size = path.stat().st_size
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as m:
        header = m[:24]
        endian = "<" if header[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        cuts, at, target = [24], 24, size / parts
        while at < size:
            if at - cuts[-1] >= target and len(cuts) < parts:
                cuts.append(at)
            (incl,) = struct.unpack_from(endian + "I", m, at + 8)
            at += 16 + incl
        cuts.append(size)
        out = []
        for k in range(len(cuts) - 1):
            p = folder / f"part-{k:02d}.pcap"
            p.write_bytes(header + m[cuts[k] : cuts[k + 1]])
            out.append(p)
    return out


def _measure(name: str, inputs: list[str], options: dict, repeats: int, modes: list) -> list[dict]:
    rows = []
    for mode, workers, cluster in modes:
        runs = [_run(inputs, options, workers, cluster) for _ in range(repeats)]
        med = {k: statistics.median(r[k] for r in runs) for k in ("wall", "start_s", "warm_s", "rss_mb",
                                                                    "children_rss_mb", "load")}
        rows.append(dict(input=name, mode=mode, runs=runs, **med, walls=[r["wall"] for r in runs],
                         digests={r["digest"] for r in runs}, file_shas={r["file_sha"] for r in runs},
                         traces=runs[0]["traces"], packets=runs[0]["packets"], files=runs[0]["files"]))
        print(f"{name} | {mode}: median {med['wall']:.2f} s ({', '.join(f'{w:.2f}' for w in rows[-1]['walls'])}), "
              f"{runs[0]['traces']} traces, digest {runs[0]['digest'][:12]}", file=sys.stderr, flush=True)
    return rows


def _table(rows: list[dict]) -> list[str]:
    lines = ["| input | how | wall s, median (runs) | cluster start s | again on the same cluster s | traces "
             "| peak RSS MB: client / largest worker | load avg | digest |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        start = f"{r['start_s']:.2f}" if "address" in r["mode"] else ("in wall" if "local" in r["mode"] else "-")
        warm = f"{r['warm_s']:.2f}" if "address" in r["mode"] else "-"
        worker = f"{r['children_rss_mb']:.0f}" if r["children_rss_mb"] > 1 else "-"
        lines.append(f"| {r['input']} | {r['mode']} | {r['wall']:.2f} ({', '.join(f'{w:.2f}' for w in r['walls'])}) "
                     f"| {start} | {warm} | {r['traces']:,} | {r['rss_mb']:.0f} / {worker} | {r['load']:.1f} "
                     f"| `{'/'.join(sorted(d[:12] for d in r['digests']))}` |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--large-gb", type=float, default=1.0)
    ap.add_argument("--parts", type=int, default=8, help="files the large capture is cut into (0: not cut)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-large", action="store_true")
    ap.add_argument("--skip-iot", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(_child(json.loads(args.child))))
        return 0
    from benchmarks.ingest_pcap import write_large_capture

    rows: list[dict] = []
    t0 = time.perf_counter()
    if not args.skip_iot:
        rows += _measure("IoT Sentinel (550 files)", [str(IOT)], IOT_OPTIONS, args.repeats, MODES)
    if not args.skip_large:
        with tempfile.TemporaryDirectory(prefix="netdiffus-bench-") as tmp:
            path = Path(tmp) / "large.pcap"
            n = write_large_capture(path, gigabytes=args.large_gb)
            gb = path.stat().st_size / 1e9
            rows += _measure(f"{gb:.2f} GB pcap, 1 file ({n:,} packets)", [str(path)], LARGE_OPTIONS, args.repeats,
                             MODES)
            if args.parts:
                parts = split_capture(path, Path(tmp) / "parts", parts=args.parts)
                path.unlink()
                rows += _measure(f"the same cut into {len(parts)} files", [str(parts[0].parent)], LARGE_OPTIONS,
                                 args.repeats, MODES)
    by_input: dict[str, set] = {}
    for r in rows:
        by_input.setdefault(r["input"], set()).update(r["digests"])
    equal = {name: len(d) == 1 for name, d in by_input.items()}
    load = os.getloadavg()
    lines = [f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {platform.processor() or platform.machine()}, "
             f"{os.cpu_count()} cores, python {platform.python_version()}, load average now {load[0]:.1f} "
             f"(1 min) {load[2]:.1f} (15 min); total {time.perf_counter() - t0:.0f} s", "", *_table(rows), "",
             *(f"- {name}: one digest for every run and way: {'yes' if ok else 'NO'}" for name, ok in equal.items()),
             "- Parquet files byte-identical within each input: "
             + ("yes" if all(len({s for r in rows if r["input"] == n for s in r["file_shas"]}) == 1 for n in equal)
                else "NO")]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0 if all(equal.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
