"""What prepare, split, export and evaluate leave behind: no replaced file without --force (checked
at the rename, so two runs racing to one name cannot both succeed), no two outputs on one file, a
set of outputs complete or absent (a failure or an interrupt mid-way), one line for a full disk."""

from __future__ import annotations

import errno
import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import toy_dataset
from netdiffus.cli.main import Terminated, main
from netdiffus.io.dataset import DatasetMeta, TraceDataset, read_dataset, write_dataset

PCAP = Path(__file__).parents[1] / "data" / "pcap"


def _dataset(tmp_path: Path) -> Path:
    path = tmp_path / "d.parquet"
    write_dataset(toy_dataset(n_per_class=8, length=8), path)
    return path


def _appears_meanwhile(monkeypatch, module, name: str, target: Path, text: str = "the other run's") -> None:
    """Make ``module.name`` write ``target`` first, as another run racing to the same name would,
    after this run's up-front check passed."""
    real = getattr(module, name)

    def racing(*args, **kwargs):
        target.write_text(text)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, racing)


def _no_temporaries(folder: Path) -> None:
    assert [p.name for p in folder.rglob(".*.tmp")] == []


# -- check-then-replace races: refused at the rename ----------------------------------------------------
def test_prepare_does_not_replace_a_dataset_written_while_it_ran(tmp_path, monkeypatch, capsys):
    import netdiffus.cli.prepare as cli_prepare

    (tmp_path / "caps" / "dev").mkdir(parents=True)
    shutil.copy(PCAP / "golden.pcap", tmp_path / "caps" / "dev" / "a.pcap")
    out = tmp_path / "out.parquet"
    _appears_meanwhile(monkeypatch, cli_prepare, "write_dataset", out)
    assert main(["prepare", str(tmp_path / "caps"), "-o", str(out), "--unit", "file", "--no-progress"]) == 1
    assert capsys.readouterr().err == f"error: output path {out} exists (use --force to replace it)\n"
    assert out.read_text() == "the other run's"
    _no_temporaries(tmp_path)


def test_split_does_not_replace_files_written_while_it_ran(tmp_path, monkeypatch, capsys):
    import netdiffus.io.dataset as dataset_mod

    ds = _dataset(tmp_path)
    _appears_meanwhile(monkeypatch, dataset_mod, "write_dataset", tmp_path / "te.parquet")
    argv = ["split", str(ds), "--train", str(tmp_path / "tr.parquet"), "--test", str(tmp_path / "te.parquet")]
    assert main(argv) == 1
    assert capsys.readouterr().err.startswith("error: output path ")
    assert (tmp_path / "te.parquet").read_text() == "the other run's"
    assert not (tmp_path / "tr.parquet").exists()  # both files or neither
    _no_temporaries(tmp_path)


def test_export_does_not_replace_a_capture_written_while_it_ran(tmp_path, monkeypatch, capsys):
    import netdiffus.export.pcap as pcap_mod

    ds = _dataset(tmp_path)
    out = tmp_path / "out.pcap"
    _appears_meanwhile(monkeypatch, pcap_mod, "export_pcap", out)
    assert main(["export", str(ds), "--pcap", str(out), "--flows", str(tmp_path / "f.csv")]) == 1
    assert capsys.readouterr().err == f"error: output path {out} exists (use --force to replace it)\n"
    assert out.read_text() == "the other run's" and not (tmp_path / "f.csv").exists()
    _no_temporaries(tmp_path)


def test_evaluate_does_not_mix_its_report_with_one_written_while_it_ran(tmp_path, monkeypatch, capsys):
    import netdiffus.evaluation.report as report_mod

    ds = _dataset(tmp_path)
    out = tmp_path / "eval"
    out.mkdir()
    _appears_meanwhile(monkeypatch, report_mod, "_page", out / "report.html", "<p>the other run's</p>")
    argv = ["evaluate", "--real", str(ds), "--synthetic", str(ds), "-o", str(out), "--metrics", "fidelity"]
    assert main(argv) == 1
    assert capsys.readouterr().err.endswith(f"{out / 'report.html'} exists (use --force to replace it)\n")
    assert sorted(p.name for p in out.iterdir()) == ["report.html"]  # no lone metrics.json beside it


# -- one path given twice, and a capture named like another format ---------------------------------------
@pytest.mark.parametrize("argv, message", [
    (["--pcap", "{d}/x.pcap", "--flows", "{d}/x.pcap"], "error: --pcap and --flows name the same file ({d}/x.pcap); "
                                                        "give each its own"),
    (["--pcap", "{d}/x.pcap", "--flows", "{d}/f.csv", "--csv", "{d}/./f.csv"],
     "error: --flows and --csv name the same file ({d}/f.csv); give each its own"),
    (["--pcap", "{d}/x.csv"], "error: --pcap {d}/x.csv: captures are written as pcap; name it x.pcap"),
])
def test_export_refuses_colliding_or_misnamed_outputs_before_any_work(tmp_path, capsys, argv, message):
    ds = _dataset(tmp_path)
    assert main(["export", str(ds)] + [a.format(d=tmp_path) for a in argv]) == 1
    assert capsys.readouterr().err == message.format(d=tmp_path) + "\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.parquet"]


# -- sets of outputs: complete or absent ------------------------------------------------------------------
def _full_disk(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_on_the_flow_table_leaves_no_capture_and_says_so(tmp_path, monkeypatch, capsys):
    import netdiffus.export.pcap as pcap_mod

    ds = _dataset(tmp_path)
    monkeypatch.setattr(pcap_mod, "write_flows_csv", _full_disk)
    pcap, flows = tmp_path / "x.pcap", tmp_path / "x.flows.csv"
    assert main(["export", str(ds), "--pcap", str(pcap), "--flows", str(flows)]) == 1
    assert capsys.readouterr().err == (f"error: cannot write {flows}: No space left on device (no output written: "
                                       f"{pcap} and {flows} are written together or not at all)\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.parquet"]


def test_a_full_disk_while_prepare_writes_names_the_file(tmp_path, monkeypatch, capsys):
    import pyarrow.parquet as pq

    (tmp_path / "caps" / "dev").mkdir(parents=True)
    shutil.copy(PCAP / "golden.pcap", tmp_path / "caps" / "dev" / "a.pcap")
    monkeypatch.setattr(pq, "write_table", _full_disk)
    out = tmp_path / "out.parquet"
    assert main(["prepare", str(tmp_path / "caps"), "-o", str(out), "--unit", "file", "--no-progress"]) == 1
    assert capsys.readouterr().err == f"error: cannot write {out}: No space left on device (nothing written)\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["caps"]


def test_a_failed_first_evaluation_leaves_nothing_that_blocks_the_rerun(tmp_path, monkeypatch, capsys):
    import netdiffus.evaluation.report as report_mod

    ds = _dataset(tmp_path)
    out = tmp_path / "eval"
    argv = ["evaluate", "--real", str(ds), "--synthetic", str(ds), "-o", str(out), "--metrics", "fidelity"]
    real_page = report_mod._page
    monkeypatch.setattr(report_mod, "_page", _full_disk)
    assert main(argv) == 1
    assert not out.exists()  # was: a lone metrics.json that made the rerun ask for --force
    monkeypatch.setattr(report_mod, "_page", real_page)
    assert main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "report.html"]


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, Terminated])
def test_an_interrupted_evaluate_force_keeps_the_old_report_whole(tmp_path, monkeypatch, capsys, interrupt):
    import netdiffus.evaluation.report as report_mod

    ds = _dataset(tmp_path)
    out = tmp_path / "eval"
    argv = ["evaluate", "--real", str(ds), "--synthetic", str(ds), "-o", str(out), "--metrics", "fidelity", "--force"]
    assert main(argv) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def stopped(*args, **kwargs):
        raise interrupt()

    monkeypatch.setattr(report_mod, "_page", stopped)  # stopped while the plots are drawn
    assert main([*argv, "--seed", "3"]) in (130, 143)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    _no_temporaries(tmp_path)


def test_interrupts_wait_while_a_set_of_outputs_is_renamed_into_place(tmp_path, monkeypatch):
    import os
    import signal

    import netdiffus.files as files_mod
    from netdiffus.io.outputs import output_files

    real_publish = files_mod.publish
    published = []

    def publish(tmp, path, *, replace):
        if not published:
            os.kill(os.getpid(), signal.SIGINT)  # arrives between the first rename and the second
        real_publish(tmp, path, replace=replace)
        published.append(path.name)

    monkeypatch.setattr(files_mod, "publish", publish)
    with pytest.raises(KeyboardInterrupt):
        with output_files([tmp_path / "metrics.json", tmp_path / "report.html"]) as out:
            for i in range(2):
                with out.writing(i) as tmp:
                    tmp.write_text("new")
    assert published == ["metrics.json", "report.html"]  # the interrupt acted once both were in place
    assert sorted(p.read_text() for p in tmp_path.iterdir()) == ["new", "new"]


# -- labels are data ---------------------------------------------------------------------------------------
def _formula_dataset() -> TraceDataset:
    labels = ["=HYPERLINK(\"http://x\")", "+1+1", "-cmd", "@SUM(A1)", "\tab", "'quoted", "plain"]
    n = len(labels)
    return TraceDataset(series=np.full((n, 1, 4), 1500.0, np.float32), labels=labels, ids=[f"={i}" for i in range(n)],
                        sources=["src"] * n, meta=DatasetMeta(feature="bytes", unit="bytes", bin_width_s=0.5))


def test_labels_and_ids_in_csv_files_cannot_run_as_formulas_and_read_back_as_they_were(tmp_path):
    import csv

    from netdiffus.export.tabular import write_csv
    from netdiffus.io.csv_tables import prepare_csv

    ds = _formula_dataset()
    write_dataset(ds, tmp_path / "d.parquet")
    assert main(["export", str(tmp_path / "d.parquet"), "--pcap", str(tmp_path / "x.pcap"), "--flows",
                 str(tmp_path / "f.csv"), "--csv", str(tmp_path / "s.csv")]) == 0
    write_csv(ds, tmp_path / "w.csv")
    for name in ("f.csv", "s.csv", "w.csv"):
        rows = list(csv.reader(open(tmp_path / name, newline="")))[1:]
        cells = [c for r in rows for c in r[:2] + r[-1:]]  # id, label (first or last)
        assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")], name
    back, _ = prepare_csv([tmp_path / "w.csv"])
    assert back.labels == ds.labels and back.ids == ds.ids
    again = tmp_path / "again.parquet"  # the flow table labels the capture's flows as the dataset did
    assert main(["prepare", str(tmp_path / "x.pcap"), "-o", str(again), "--unit", "flow", "--label-from",
                 f"csv:{tmp_path / 'f.csv'}", "--no-progress"]) == 0
    assert sorted(read_dataset(again).labels) == sorted(ds.labels)


def test_a_label_with_dollar_signs_is_plotted_as_text(tmp_path):
    ds = toy_dataset(n_per_class=6, length=8, classes=("$x^2$ cam", "$\\frac{1$"))
    write_dataset(ds, tmp_path / "d.parquet")
    out = tmp_path / "eval"
    assert main(["evaluate", "--real", str(tmp_path / "d.parquet"), "--synthetic", str(tmp_path / "d.parquet"),
                 "-o", str(out), "--metrics", "fidelity"]) == 0  # mathtext made this an error
    assert "$\\frac{1$" in (out / "report.html").read_text()
