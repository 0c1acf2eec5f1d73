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
