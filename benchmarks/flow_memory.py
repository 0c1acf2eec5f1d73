"""Flow-assembly memory benchmark (not a test): peak RSS of ``prepare --unit flow`` on a scan.

    python -m benchmarks.flow_memory                    # 600,000 one-packet flows
    python -m benchmarks.flow_memory --flows 100000 --out benchmarks/results/flow-memory.md

A SYN scan is the worst case of flow assembly: every packet opens a flow, and with the default
120 s idle timeout every flow is still open when the capture ends, so memory grows with the
number of flows. This script writes such a capture (Ethernet, IPv4, one TCP SYN of 54 bytes per
flow from one scanner to ``--flows`` distinct (address, port) targets, 10,000 packets per second),
then runs ``netdiffus prepare CAPTURE -o OUT --unit flow`` (the command line, default options) in
a child process and reports its wall time and peak resident memory (the child's ``VmHWM``).
"""

from __future__ import annotations

import argparse
import platform
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def write_scan(path: Path, *, flows: int, rate_pps: float = 10000.0) -> int:
    """Write a pcap of ``flows`` TCP SYNs, each to its own (address, port); returns the file size."""
    n = flows
    t = 1_700_000_000 * 1_000_000 + (np.arange(n, dtype=np.int64) * 1_000_000 / rate_pps).astype(np.int64)
    rec = np.zeros((n, 16 + 54), np.uint8)
    hdr = rec[:, :16].view("<u4")
    hdr[:, 0], hdr[:, 1], hdr[:, 2], hdr[:, 3] = t // 1_000_000, t % 1_000_000, 54, 54
    rec[:, 16:30] = np.frombuffer(bytes.fromhex("020000000002020000000001") + b"\x08\x00", np.uint8)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 40, 0, 0, 64, 6, 0, bytes([10, 0, 0, 1]), bytes(4))
    rec[:, 30:50] = np.frombuffer(ip, np.uint8)
    k = np.arange(n, dtype=np.int64)
    dst = (198 << 24) + (18 << 16) + k // 1000  # 1,000 ports on each target address
    rec[:, 46:50] = dst.astype(">u4").view(np.uint8).reshape(n, 4)
    rec[:, 50:52] = np.full(n, 40000, ">u2").view(np.uint8).reshape(n, 2)
    rec[:, 52:54] = (1 + k % 1000).astype(">u2").view(np.uint8).reshape(n, 2)
    rec[:, 62] = 0x50  # data offset
    rec[:, 63] = 0x02  # SYN
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        fh.write(rec.tobytes())
    return path.stat().st_size


def run_prepare(capture: Path, out: Path, extra: list[str]) -> dict:
    """``netdiffus prepare`` in a child process: wall seconds, peak RSS (MB), its stdout."""
    args = ["prepare", str(capture), "-o", str(out), "--unit", "flow", "--no-progress", *extra]
    # the command line in a child that reports its own peak (VmHWM: ru_maxrss would keep the RSS of
    # the forked parent across exec)
    code = ("import sys\nfrom netdiffus.cli.main import main\ntry:\n    code = main(sys.argv[1:])\nfinally:\n"
            "    hwm = next(x for x in open('/proc/self/status') if x.startswith('VmHWM'))\n"
            "    print(hwm.split()[1], file=sys.stderr)\nsys.exit(code)\n")
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"prepare failed ({proc.returncode}): {proc.stderr.strip()}")
    rss_mb = int(proc.stderr.strip().splitlines()[-1]) / 1024
    return {"wall_s": wall, "rss_mb": rss_mb, "stdout": proc.stdout.strip(),
            "command": "-m netdiffus " + " ".join(args)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--flows", type=int, default=600_000, help="flows (packets) in the scan (default 600000)")
    ap.add_argument("--out", type=Path, help="also write the markdown table here")
    ap.add_argument("--label", default="", help="a note for the table, e.g. the commit")
    ap.add_argument("prepare_args", nargs="*", help="more options for prepare (after --)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        capture = Path(tmp) / "scan" / "scan.pcap"
        capture.parent.mkdir()
        size = write_scan(capture, flows=args.flows)
        res = run_prepare(capture, Path(tmp) / "scan.parquet", args.prepare_args)
    lines = [
        f"# Flow assembly memory: `prepare --unit flow` on a {args.flows:,}-flow SYN scan",
        "",
        f"{args.label}".strip(),
        "",
        f"- capture: {size / 1e6:.1f} MB, {args.flows:,} packets, one TCP SYN per flow (written by "
        "`benchmarks/flow_memory.py`)",
        f"- command: `python {res['command'].replace(str(tmp), '$TMP')}`",
        f"- machine: {platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
        "",
        "| flows | wall (s) | peak RSS (MB) |",
        "|---:|---:|---:|",
        f"| {args.flows:,} | {res['wall_s']:.1f} | {res['rss_mb']:.0f} |",
        "",
        "prepare's summary:",
        "",
        "```",
        res["stdout"],
        "```",
    ]
    text = "\n".join(line for line in lines) + "\n"
    sys.stdout.write(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
