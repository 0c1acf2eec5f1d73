"""``netdiffus evaluate`` with captures: the header fields and flow records are scored too."""

from __future__ import annotations

import json

import pytest

from conftest import toy_dataset
from netdiffus.cli.main import main
from netdiffus.evaluation.names import FIELD_METRICS
from netdiffus.export.pcap import export_pcap
from netdiffus.io.dataset import write_dataset


def test_evaluate_scores_the_fields_of_two_captures(tmp_path, capsys):
    ds = toy_dataset(n_per_class=6, length=8)
    write_dataset(ds, tmp_path / "d.parquet")
    for seed in (0, 1):  # the same series, other packet sizes and times: the header fields are the same
        export_pcap(ds, tmp_path / f"{seed}.pcap", seed=seed)
    out = tmp_path / "eval"
    assert main(["evaluate", "--real", str(tmp_path / "d.parquet"), "--synthetic", str(tmp_path / "d.parquet"),
                 "-o", str(out), "--metrics", "fidelity", "--real-capture", str(tmp_path / "0.pcap"),
                 "--synthetic-capture", str(tmp_path / "1.pcap"), "--no-progress"]) == 0
    overall = json.loads((out / "metrics.json").read_text())["overall"]
    assert [k for k in overall if k in FIELD_METRICS] == list(FIELD_METRICS)
    assert overall["JSD_ttl"] == overall["JSD_protocol"] == overall["JSD_server_port"] == 0.0
    assert overall["JSD_tcp_window_bwd"] is None  # one-way traces: no responder window in either capture
    assert overall["W1_flow_bytes"] == 0.0  # bytes per trace are the series'
    assert "JSD_ttl" in capsys.readouterr().out and "W1_flow_duration" in (out / "report.html").read_text()


@pytest.mark.parametrize("given", ["--real-capture", "--synthetic-capture"])
def test_one_capture_without_the_other_is_refused(tmp_path, capsys, given):
    write_dataset(toy_dataset(n_per_class=3, length=8), tmp_path / "d.parquet")
    assert main(["evaluate", "--real", str(tmp_path / "d.parquet"), "--synthetic", str(tmp_path / "d.parquet"),
                 "-o", str(tmp_path / "eval"), given, str(tmp_path / "x.pcap")]) == 1
    assert capsys.readouterr().err == f"error: --real-capture and --synthetic-capture go together (got only {given})\n"
