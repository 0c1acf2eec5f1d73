"""Ingestion benchmark (not a test): packets/s per core and peak memory of ``prepare``.

    python -m benchmarks.ingest_pcap                 # IoT Sentinel + a 1 GB generated capture
    python -m benchmarks.ingest_pcap --skip-large    # IoT Sentinel only
    python -m benchmarks.ingest_pcap --large-gb 2

1. IoT Sentinel (../shared/data/iot-sentinel), ``unit=host``, bytes per 0.25 s split by direction,
   end to end (reading, decoding, assembly, series, labels), one worker process: packets per
   second of wall time and of CPU time, with the vectorised fast path and with dpkt decoding.
2. A capture of ``--large-gb`` GB written by this script (Ethernet, IPv4 TCP/UDP, many flows that
   come and go), prepared with ``unit=flow`` in a child process: packets/s and the child's peak
   resident memory (must stay < 500 MB).

Prints a markdown table; ``--out FILE`` also writes it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
IOT = (ROOT / ".." / "shared" / "data" / "iot-sentinel" / "captures").resolve()


def _run_prepare(inputs: list[str], kwargs: dict) -> dict:
    """prepare() in a fresh child process; returns its figures (wall, cpu, packets, peak RSS)."""
    code = f"""
import json, time, sys
from netdiffus.prepare import prepare
t, c = time.perf_counter(), time.process_time()
ds, s = prepare({inputs!r}, **{kwargs!r})
wall, cpu = time.perf_counter() - t, time.process_time() - c
# VmHWM: ru_maxrss would keep the RSS of the forked parent (this script, or pytest) across exec
rss = int(next(x for x in open("/proc/self/status") if x.startswith("VmHWM")).split()[1]) / 1024
print(json.dumps(dict(wall=wall, cpu=cpu, packets=s.packets, traces=ds.n_traces, shape=list(ds.series.shape),
                      files=s.files_read, rss_mb=rss)))
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_large_capture(path: Path, *, gigabytes: float, rotate: int = 1, seed: int = 0) -> int:
    """Write a pcap of about ``gigabytes`` GB; returns its packet count.

    Blocks of 4096 packets in 2 s over 256 flows (TCP and UDP, sizes 60-1514 bytes); every
    ``rotate`` blocks the flows are replaced by new ones (new client ports), so flows start and
    end all along and about 256 * 60 / rotate flows are open at once (120 s idle timeout).
    """
    rng = np.random.default_rng(seed)
    n = 4096
    sizes = rng.choice(np.r_[np.full(6, 60), np.full(3, 576), np.full(8, 1514), rng.integers(60, 1514, 8)], size=n)
    flow = rng.integers(0, 256, size=n)
    down = rng.random(n) < 0.6
    records = []
    for i in range(n):
        proto = 6 if flow[i] % 3 else 17
        client = bytes([10, 0, flow[i] // 200, 1 + flow[i] % 200])
        server = bytes([192, 0, 2, 1 + flow[i] % 50])
        src, dst = (server, client) if down[i] else (client, server)
        ip_len = int(sizes[i]) - 14
        l4 = (struct.pack(">HHIIBBHHH", 0, 0, 0, 0, 0x50, 0x10, 65535, 0, 0) if proto == 6
              else struct.pack(">HHHH", 0, 0, ip_len - 20, 0))
        ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, ip_len, 0, 0, 64, proto, 0, src, dst)
        payload = l4 + bytes(ip_len - 20 - len(l4))
        eth = bytes.fromhex("020000000002020000000001") + b"\x08\x00"
        records.append(struct.pack("<IIII", 0, 0, len(eth) + len(ip) + len(payload), len(eth) + len(ip) + len(payload))
                       + eth + ip + payload)
    template = bytearray(b"".join(records))
    starts = np.cumsum([0] + [len(r) for r in records[:-1]])
    t_off = starts  # ts_sec at +0, ts_usec at +4
    port_off = starts + 16 + 14 + 20  # TCP/UDP ports: sport at +0, dport at +2
    arr = np.frombuffer(template, dtype=np.uint8)
    total = int(gigabytes * 1e9)
    written = 24
    packets = 0
    t_us = 1_700_000_000 * 1_000_000
    with open(path, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        block = 0
        while written < total:
            ts = t_us + np.sort(rng.integers(0, 2_000_000, size=n))  # 4096 packets in 2 s
            t_us += 2_000_000
            sec, usec = (ts // 1_000_000).astype("<u4"), (ts % 1_000_000).astype("<u4")
            for k, v in ((0, sec), (4, usec)):
                arr[(t_off + k)[:, None] + np.arange(4)] = v.view(np.uint8).reshape(n, 4)
            base = 1024 + (256 * (block // rotate)) % 64000
            cport = (base + flow).astype(">u2")
            sport_v = np.where(down, 443, cport).astype(">u2")
            dport_v = np.where(down, cport, 443).astype(">u2")
            arr[port_off[:, None] + np.arange(2)] = sport_v.view(np.uint8).reshape(n, 2)
            arr[(port_off + 2)[:, None] + np.arange(2)] = dport_v.view(np.uint8).reshape(n, 2)
            fh.write(template)
            written += len(template)
            packets += n
            block += 1
    return packets


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--large-gb", type=float, default=1.0)
    ap.add_argument("--skip-large", action="store_true")
    ap.add_argument("--skip-dpkt", action="store_true")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    rows = []
    if IOT.is_dir():
        iot_kw = dict(unit="host", feature="bytes", bin_width="0.25s", length=64, split_direction=True, workers=1)
        for decoder in ("fast",) + (() if args.skip_dpkt else ("dpkt",)):
            r = _run_prepare([str(IOT)], {**iot_kw, "decoder": decoder})
            rows.append((f"IoT Sentinel, host, {decoder}", r))
        r = _run_prepare([str(IOT)], {**iot_kw, "workers": 2})
        rows.append(("IoT Sentinel, host, fast, 2 workers", r))
    else:
        print(f"{IOT} is absent: IoT Sentinel skipped", file=sys.stderr)
    if not args.skip_large:
        with tempfile.TemporaryDirectory(prefix="netdiffus-bench-") as tmp:
            path = Path(tmp) / "large.pcap"
            t = time.perf_counter()
            n = write_large_capture(path, gigabytes=args.large_gb)
            size_gb = path.stat().st_size / 1e9
            print(f"wrote {path} ({size_gb:.2f} GB, {n} packets) in {time.perf_counter() - t:.1f} s", file=sys.stderr)
            r = _run_prepare([str(path)], dict(unit="flow", feature="bytes", bin_width="0.5s", length=64,
                                               split_direction=True, workers=1))
            rows.append((f"generated {size_gb:.2f} GB pcap, flow", r))
    lines = [
        f"# Ingestion benchmark ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} cores, python {platform.python_version()})",
        "",
        "| run | packets | traces | wall s | packets/s (wall) | packets/s per core (CPU) | peak RSS MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, r in rows:
        # with worker processes the parent's CPU time and RSS leave the workers out
        single = "workers" not in name
        per_core = f"{r['packets'] / r['cpu']:,.0f}" if single else "-"
        rss = f"{r['rss_mb']:.0f}" if single else "-"
        lines.append(f"| {name} | {r['packets']:,} | {r['traces']:,} | {r['wall']:.2f} "
                     f"| {r['packets'] / r['wall']:,.0f} "
                     f"| {per_core} | {rss} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
