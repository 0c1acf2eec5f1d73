"""A large generated capture: prepare streams it with bounded memory (slow: run with -m slow)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def _bench():
    spec = importlib.util.spec_from_file_location("ingest_pcap", ROOT / "benchmarks" / "ingest_pcap.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


@pytest.mark.slow
def test_large_capture_streams_with_bounded_memory(tmp_path):
    bench = _bench()
    path = tmp_path / "large.pcap"
    n = bench.write_large_capture(path, gigabytes=0.3)
    r = bench._run_prepare([str(path)], dict(unit="flow", length=64, split_direction=True))
    assert r["packets"] == n
    assert r["traces"] > 20_000
    assert r["rss_mb"] < 500


def test_a_scan_of_many_one_packet_flows_takes_little_memory(tmp_path):
    """Every packet of a SYN scan opens a flow, all open at the end: memory per open flow, not
    only per packet, must stay small (it was 4.6 KB: 1.45 GB for 300,000 flows)."""
    import subprocess
    import sys

    spec = importlib.util.spec_from_file_location("flow_memory", ROOT / "benchmarks" / "flow_memory.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)  # type: ignore[union-attr]
    path = tmp_path / "scan.pcap"
    n = 100_000
    bench.write_scan(path, flows=n)
    # VmHWM, not ru_maxrss: that one keeps the RSS of the forked parent (pytest) across exec
    code = f"""
from netdiffus.prepare import prepare
def status(key):
    with open("/proc/self/status") as f:
        return next(int(x.split()[1]) for x in f if x.startswith(key)) / 1024
base = status("VmRSS")
ds, s = prepare([{str(path)!r}], unit="flow", length=8)
print(ds.n_traces, status("VmHWM") - base)
"""
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True, cwd=ROOT)
    traces, grown_mb = out.stdout.split()
    assert int(traces) == n
    assert float(grown_mb) * 2**20 / n < 1024  # bytes per flow, all included (was about 4,600)
