"""prepare on a Dask cluster of 2 worker processes started here: the dataset of one process, and
the one-line errors (no scheduler, no dask, CSV inputs)."""

from __future__ import annotations

import hashlib
import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import netdiffus
from netdiffus.cli.main import main
from netdiffus.errors import ConfigError
from netdiffus.io.dataset import read_dataset
from netdiffus.prepare import PrepareOptions, prepare

distributed = pytest.importorskip("distributed", reason="the cluster extra (dask[distributed]) is not installed")

PCAP = Path(__file__).parents[1] / "data" / "pcap"
DEVICE = "02:00:00:00:00:01"
#: A port nothing listens on: connecting is refused at once.
NO_SCHEDULER = "tcp://127.0.0.1:1"


@pytest.fixture(scope="module")
def scheduler() -> str:
    """The address of a local cluster of 2 worker processes (one thread each), for this module."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
                                  silence_logs=40) as cluster:
        yield cluster.scheduler_address


@pytest.fixture(scope="module")
def captures(tmp_path_factory) -> Path:
    """21 golden captures in 3 labels (enough for one task each on 2 workers), and unusable ones:
    empty, not a capture, cut in its last record (a warning, read up to the cut)."""
    root = tmp_path_factory.mktemp("cluster") / "captures"
    goldens = sorted(PCAP.glob("golden*.pcap")) + [PCAP / "golden.pcapng"]
    for k, label in enumerate(["plug", "cam", "hub"]):
        d = root / label
        d.mkdir(parents=True)
        for j, src in enumerate(goldens[k : k + 7]):
            shutil.copy(src, d / f"{j:02d}-{src.name}")
        (d / "_iotdevice-mac.txt").write_text(DEVICE + "\n")
    for name in ("empty.pcap", "random.pcap", "truncated.pcap"):
        shutil.copy(PCAP / "bad" / name, root / "plug" / name)
    return root


def _same(one, other) -> None:
    np.testing.assert_array_equal(one.series, other.series)
    np.testing.assert_array_equal(one.lengths, other.lengths)
    assert (one.ids, one.labels, one.sources, one.meta) == (other.ids, other.labels, other.sources, other.meta)
    assert one.digest() == other.digest()


@pytest.mark.parametrize("options", [
    dict(unit="flow", length=8, split_direction=True),
    dict(unit="host", feature="sequence", length=16),
])
def test_the_cluster_makes_the_dataset_of_one_process(captures, scheduler, options):
    one, s1 = prepare(captures, **options)
    calls = []
    two, s2 = prepare(captures, cluster=scheduler, progress=lambda done, total: calls.append((done, total)),
                      **options)
    _same(one, two)
    n_files = s2.files_read + len(s2.skipped)
    assert calls == [(k, n_files) for k in range(1, n_files + 1)]  # one call per file, as the results come
    assert len(set(two.sources)) == s2.files_read >= 15
    # per-file warnings and skips come back from the workers, as the one process reports them
    assert s2.warnings == s1.warnings and len(s2.warnings) == 1 and "truncated capture" in s2.warnings[0][1]
    assert s2.skipped == s1.skipped and {Path(p).name for p, _ in s2.skipped} >= {"empty.pcap", "random.pcap"}
    assert (s2.files_read, s2.packets, s2.traces_per_label) == (s1.files_read, s1.packets, s1.traces_per_label)


def test_workers_with_a_scheduler_address_are_warned_about(captures, scheduler, caplog):
    with caplog.at_level(logging.WARNING, logger="netdiffus.prepare"):
        prepare(captures, cluster=scheduler, workers=3, unit="file", length=4)
    assert ("--workers 3 is not used with a scheduler address: the cluster's workers read the captures"
            in caplog.messages)


def test_cli_on_a_local_cluster_writes_the_same_file(captures, tmp_path, capsys):
    args = [str(captures), "--unit", "host", "--bin-width", "0.25s", "--length", "12", "--split-direction",
            "--no-progress"]
    assert main(["prepare", *args, "-o", str(tmp_path / "one.parquet")]) == 0
    one_text = capsys.readouterr().out
    assert main(["prepare", *args, "-o", str(tmp_path / "two.parquet"), "--cluster", "local", "--workers", "2"]) == 0
    two_text = capsys.readouterr().out
    untimed = [[line for line in text.splitlines()[:-1] if not line.startswith("packets: ")]  # a rate, per second
               for text in (one_text, two_text)]
    assert untimed[0] == untimed[1] and "files skipped: " in two_text
    _same(read_dataset(tmp_path / "one.parquet"), read_dataset(tmp_path / "two.parquet"))
    files = [hashlib.sha256((tmp_path / n).read_bytes()).hexdigest() for n in ("one.parquet", "two.parquet")]
    assert files[0] == files[1]


def test_an_unreachable_scheduler_is_one_line_naming_the_option(captures, tmp_path, capsys):
    message = r"^--cluster / cluster: cannot reach the scheduler at 'tcp://127\.0\.0\.1:1' \("
    with pytest.raises(ConfigError, match=message):
        prepare(captures, cluster=NO_SCHEDULER, cluster_timeout_s=1)
    code = main(["prepare", str(captures), "-o", str(tmp_path / "x.parquet"), "--cluster", "nowhere:port",
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and not (tmp_path / "x.parquet").exists()
    assert err.startswith("error: --cluster / cluster: 'nowhere:port' is not a scheduler address (")
    assert err.count("\n") == 1  # one line, no traceback


def test_workers_with_another_netdiffus_are_refused(scheduler):
    from netdiffus.cluster import cluster_client, require_package

    with cluster_client(address=scheduler) as client:
        require_package(client, package="netdiffus", version=netdiffus.__version__)
        with pytest.raises(ConfigError) as exc:
            require_package(client, package="netdiffus", version="0.0.0")
    assert str(exc.value).startswith("--cluster / cluster: 2 of 2 worker(s) have netdiffus ")
    assert str(exc.value).endswith(", this process 0.0.0: install netdiffus 0.0.0 on every worker")


def test_without_dask_the_error_says_which_extra_to_install(captures, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    with pytest.raises(ConfigError) as exc:
        prepare(captures, cluster="local", workers=2)
    assert str(exc.value) == ("--cluster / cluster needs dask.distributed, not installed: "
                              "pip install 'netdiffus[cluster]'")


@pytest.mark.parametrize("overrides, message", [
    (dict(cluster=" "), "--cluster / cluster must be a scheduler address or 'local' (got ' ')"),
    (dict(cluster="local", cluster_timeout_s=0.0), "--cluster-timeout / cluster_timeout_s must be > 0 (got 0.0)"),
])
def test_bad_cluster_options(overrides, message):
    with pytest.raises(ConfigError) as exc:
        PrepareOptions(**overrides)
    assert str(exc.value) == message


def test_csv_inputs_are_not_read_on_a_cluster(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "t.csv").write_text("v\n1\n2\n")
    with pytest.raises(ConfigError, match=r"^--cluster / cluster 'local': only captures are read on a cluster"):
        prepare(tmp_path, cluster="local")


def test_a_worker_that_cannot_see_a_capture_skips_it_with_the_reason(captures):
    from netdiffus.prepare import _process_captures_task

    (res,) = _process_captures_task([("/no/such/capture.pcap", "/no/such")], None, None)  # type: ignore[arg-type]
    assert res.skipped is not None and res.skipped.startswith("not found on the cluster worker ")
