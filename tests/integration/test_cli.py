"""The CLI end to end, and its one-line errors on bad input (exit 1, no traceback, no output file)."""

import json
import os
import shutil
import signal
import time

import numpy as np
import pytest

from conftest import TINY
from netdiffus.cli.main import main
from netdiffus.demo import demo_data_path
from netdiffus.io.dataset import read_dataset


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _csv_tree(root, classes=("a", "b"), n=3, header="bytes", rows=None):
    for c in classes:
        (root / c).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            values = rows if rows is not None else [str(10 * (i + 1) + k) for k in range(8)]
            (root / c / f"t{i}.csv").write_text(header + "\n" + "\n".join(values) + "\n")
    return root


def test_prepare_fit_sample_evaluate_info(capsys, tmp_path):
    src = tmp_path / "videotrain"
    shutil.copytree(demo_data_path(), src)
    ds_path = tmp_path / "ds.parquet"
    code, out, err = run_cli(capsys, "prepare", str(src), "--column", "frame_sum_dl", "--length", "16",
                             "--aggregate", "4", "--bin-width", "0.5s", "-o", str(ds_path))
    assert code == 0, err
    ds = read_dataset(ds_path)
    assert ds.series.shape == (163, 1, 16) and ds.classes == ["Facebook/V360", "Facebook/VNormal",
                                                               "YouTube/V360", "YouTube/VNormal"]
    assert ds.meta.bin_width_s == 2.0
    run = tmp_path / "run"
    sets = [a for o in TINY for a in ("--set", o)]
    code, out, err = run_cli(capsys, "fit", str(ds_path), "-o", str(run), "--no-progress", *sets)
    assert code == 0, err
    assert {"config.json", "model.safetensors", "model.json", "metrics.jsonl"} <= {p.name for p in run.iterdir()}
    assert json.loads((run / "config.json").read_text())["train"]["steps"] == 3
    syn = tmp_path / "syn.parquet"
    code, out, err = run_cli(capsys, "sample", str(run), "-n", "8", "-o", str(syn), "--csv", str(tmp_path / "syn.csv"),
                             "--no-progress")
    assert code == 0, err
    assert out.startswith("wrote 8 traces (")
    s = read_dataset(syn)
    assert s.series.shape == (8, 1, 16) and np.isfinite(s.series).all()
    assert (tmp_path / "syn.csv").read_text().splitlines()[0].startswith("id,label,source,frame_sum_dl_0,")
    # no recurring values: no value snap
    assert s.meta.extra["synthetic"]["postprocess"] == ["calibrate_totals", "snap_zeros", "possible_values"]
    code, out, err = run_cli(capsys, "sample", str(run), "-n", "8", "-o", str(tmp_path / "raw.parquet"), "--raw",
                             "--no-progress")
    raw = read_dataset(tmp_path / "raw.parquet")
    assert code == 0 and raw.meta.extra["synthetic"]["postprocess"] == []
    assert not np.array_equal(raw.series, s.series)
    code, out, err = run_cli(capsys, "info", str(run), "--json")
    assert code == 0 and json.loads(out)["shape"] == [1, 16]
    assert json.loads(out)["value_snap"] == "none (no channel's values recur across training traces)"
    assert json.loads(out)["volume_calibration"].startswith("spread x Facebook/V360 ")


def test_fit_dry_run_prints_resolved_config(capsys, tmp_path):
    code, out, err = run_cli(capsys, "fit", "x.parquet", "-o", str(tmp_path / "r"), "--preset", "cpu",
                             "--set", "train.steps=9", "--dry-run")
    assert code == 0
    cfg = json.loads(out)
    assert cfg["preset"] == "cpu" and cfg["train"]["steps"] == 9
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    "case, expected",
    [
        ("empty-folder", "error: no .csv files found under {root}"),
        ("missing-column", "error: {root}/a/t0.csv: no column 'frame_sum_dl' (columns: bytes)"),
        ("nan", "error: {root}/a/t0.csv:4: column 'bytes' has a NaN or infinite value"),
        ("no-such-path", "error: input path {root}/nope does not exist"),
    ],
)
def test_prepare_bad_input(capsys, tmp_path, case, expected):
    root = tmp_path / "in"
    root.mkdir()
    column = "bytes"
    target = root
    if case == "missing-column":
        _csv_tree(root)
        column = "frame_sum_dl"
    elif case == "nan":
        _csv_tree(root, rows=["1", "2", "nan", "4"])
    elif case == "no-such-path":
        target = root / "nope"
    out_path = tmp_path / "out.parquet"
    code, out, err = run_cli(capsys, "prepare", str(target), "--column", column, "--format", "csv", "--strict",
                             "-o", str(out_path))
    assert code == 1
    assert err.strip() == expected.format(root=root)
    assert "Traceback" not in err
    assert not out_path.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.parquet")]


def test_prepare_skips_a_bad_file_and_says_why(capsys, tmp_path):
    root = _csv_tree(tmp_path / "in")
    (root / "a" / "bad.csv").write_text("bytes\n1\nnan\n3\n")
    out_path = tmp_path / "out.parquet"
    code, out, err = run_cli(capsys, "prepare", str(root), "--column", "bytes", "-o", str(out_path))
    assert code == 0
    assert f"{root}/a/bad.csv: line 3: column 'bytes' has a NaN or infinite value" in out
    assert read_dataset(out_path).class_counts() == {"a": 3, "b": 3}


def test_fit_and_sample_a_single_class(capsys, tmp_path):
    root = _csv_tree(tmp_path / "in", classes=("only",))
    ds_path = tmp_path / "ds.parquet"
    assert run_cli(capsys, "prepare", str(root), "--column", "bytes", "-o", str(ds_path))[0] == 0
    run = tmp_path / "run"
    sets = [a for o in TINY for a in ("--set", o)]
    assert run_cli(capsys, "fit", str(ds_path), "-o", str(run), "--no-progress", *sets)[0] == 0
    code, out, err = run_cli(capsys, "sample", str(run), "-n", "3", "-o", str(tmp_path / "s.parquet"), "--no-progress")
    assert code == 0 and "(only: 3)" in out


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["fit", "{tmp}/missing.parquet", "-o", "{tmp}/r"], "error: dataset file {tmp}/missing.parquet does not exist"),
        (["sample", "{tmp}/norun", "-n", "3", "-o", "{tmp}/s.parquet"], "error: run folder {tmp}/norun does not exist"),
        (["fit", "{tmp}/x.parquet", "-o", "{tmp}/r", "--set", "train.steps=-2"],
         "error: train.steps must be in [1, 10**9] (got -2)"),
        (["info", "{tmp}/nothing"], "error: path {tmp}/nothing does not exist"),
    ],
)
def test_one_line_errors(capsys, tmp_path, argv, expected):
    code, out, err = run_cli(capsys, *[a.format(tmp=tmp_path) for a in argv])
    assert code == 1
    assert err.strip() == expected.format(tmp=tmp_path)


def test_fit_refuses_a_non_empty_folder(capsys, tmp_path):
    root = _csv_tree(tmp_path / "in")
    ds_path = tmp_path / "ds.parquet"
    assert run_cli(capsys, "prepare", str(root), "--column", "bytes", "-o", str(ds_path))[0] == 0
    run = tmp_path / "run"
    run.mkdir()
    (run / "keep.txt").write_text("x")
    code, out, err = run_cli(capsys, "fit", str(ds_path), "-o", str(run))
    assert code == 1 and err.strip() == f"error: output folder {run} is not empty (use --force to write into it)"


@pytest.mark.parametrize(
    "exc, verbose, expected",
    [
        (PermissionError(13, "Permission denied", "/x/out.parquet"), [], "error: /x/out.parquet: Permission denied"),
        (OSError(28, "No space left on device"), [], "error: No space left on device"),
        (RuntimeError("boom"), [],
         "error: unexpected RuntimeError: boom (a bug in netdiffus; -vv shows the traceback)"),
    ],
)
def test_unexpected_exceptions_are_one_line(capsys, monkeypatch, exc, verbose, expected):
    import netdiffus.cli.info as info

    def fail(args):
        raise exc

    monkeypatch.setattr(info, "run", fail)
    code, out, err = run_cli(capsys, *verbose, "info", "anything")
    assert code == 1
    assert err.strip() == expected


def test_unexpected_exception_traceback_with_vv(capsys, caplog, monkeypatch):
    import netdiffus.cli.info as info

    def fail(args):
        raise RuntimeError("boom")

    monkeypatch.setattr(info, "run", fail)
    code, out, err = run_cli(capsys, "-vv", "info", "anything")
    assert code == 1
    assert err.strip().endswith("-vv shows the traceback)")
    assert [r.exc_info[0] for r in caplog.records if r.exc_info] == [RuntimeError]


@pytest.mark.parametrize("sig, code, message", [(signal.SIGTERM, 143, "error: terminated"),
                                                 (signal.SIGINT, 130, "error: interrupted")])
def test_a_signal_unwinds_the_command_and_removes_its_temporary_file(capsys, monkeypatch, tmp_path, sig, code,
                                                                     message):
    import netdiffus.cli.info as info
    from netdiffus.files import atomic_path

    def write_then_get_signal(args):
        with atomic_path(tmp_path / "out.pcap") as tmp:
            tmp.write_bytes(b"half")
            os.kill(os.getpid(), sig)
            time.sleep(5)  # the handler raises before this ends

    monkeypatch.setattr(info, "run", write_then_get_signal)
    before = signal.getsignal(signal.SIGTERM)
    assert run_cli(capsys, "info", "anything")[::2] == (code, message + "\n")
    assert list(tmp_path.iterdir()) == []
    assert signal.getsignal(signal.SIGTERM) is before  # main() puts the handler back


def test_split_keeps_videos_apart_like_the_demo(capsys, tmp_path):
    src = tmp_path / "videotrain"
    shutil.copytree(demo_data_path(), src)
    ds = tmp_path / "v.parquet"
    assert run_cli(capsys, "prepare", str(src), "--column", "frame_sum_dl", "--length", "16", "-o", str(ds))[0] == 0
    code, out, err = run_cli(capsys, "split", str(ds), "--train", str(tmp_path / "tr.parquet"),
                             "--test", str(tmp_path / "te.parquet"), "--group", r"Vid_(\d+)_")
    assert code == 0, err
    train, test = read_dataset(tmp_path / "tr.parquet"), read_dataset(tmp_path / "te.parquet")
    assert (len(train), len(test)) == (117, 46)  # the demo's split of the same data (seed 0)
    assert sorted(set(test.labels)) == train.classes  # every class held out
    video = lambda t: (t.split("/")[0], t.split("/")[1], t.split("Vid_")[1].split("_")[0])  # noqa: E731
    assert not {video(i) for i in train.ids} & {video(i) for i in test.ids}
    assert out.splitlines()[1].startswith(f"wrote {tmp_path / 'te.parquet'}: test 46 traces (Facebook/V360 12, ")
    code, out, err = run_cli(capsys, "info", str(tmp_path / "tr.parquet"))
    assert out.splitlines()[-1] == "first_ids    " + ", ".join(train.ids[:3])


def test_split_refuses_one_file_for_both_sides(capsys, tmp_path):
    ds = tmp_path / "x.parquet"
    code, out, err = run_cli(capsys, "split", str(ds), "--train", str(ds), "--test", str(ds))
    assert (code, err.strip()) == (1, f"error: --train and --test name the same file ({ds}); give each its own")


@pytest.mark.parametrize("command", ["prepare", "split", "fit", "sample", "evaluate", "export", "info", "demo"])
def test_every_option_says_what_it_does(command):
    from netdiffus.cli.main import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices[command]
    silent = [a.option_strings[-1] for a in sub._actions if a.option_strings and not a.help]
    assert silent == []
    # an option with a default value states it
    unstated = [a.option_strings[-1] for a in sub._actions
                if a.option_strings and a.default not in (None, False, [], "==SUPPRESS==") and a.nargs != 0
                and "default" not in a.help]
    assert unstated == []


@pytest.mark.parametrize(
    "lexicon, on, line",
    [
        (None, True, "none (run saved before value snapping)"),
        ({"values": {"a": [[]], "b": [[]]}}, True, "none (no channel's values recur across training traces)"),
        ({"values": {"a": [[60.0, 342.0], []], "b": [[], [1.0]]}}, True, "3 shared values in 2 of 4 class channels"),
        ({"values": {"a": [[60.0]]}}, False,
         "1 shared value in 1 of 1 class channels (off: postprocess.snap_values=false)"),
    ],
)
def test_info_value_snap_line(lexicon, on, line):
    from netdiffus.describe import _value_snap
    from netdiffus.postprocess import Postprocessor

    saved = None if lexicon is None else {"tolerance": 0.5, **lexicon}
    assert _value_snap(Postprocessor.from_json({"zero_threshold": [0.0], "value_lexicon": saved}), on) == line


def _cal(**ranges):
    """A saved calibration whose classes map [9, 9 + g] onto [10, 10 + t]."""
    return {"classes": {c: {"generated": [9.0, 9.0 + g], "training": [10.0, 10.0 + t]}
                        for c, (g, t) in ranges.items()}}


@pytest.mark.parametrize(
    "calibration, on, line",
    [
        (None, True, "none (off when fitted, or run saved before volume calibration)"),
        ({"classes": {}}, True, "none (no class's reference draw had a spread)"),
        (_cal(cam=(0.5, 0.6), tv=(0.3, 0.9)), True, "spread x cam 1.20, tv 3.00"),
        (_cal(cam=(0.5, 0.4)), False, "spread x cam 0.80 (off: postprocess.calibrate_totals=false)"),
    ],
)
def test_info_volume_calibration_line(calibration, on, line):
    from netdiffus.describe import _volume_calibration
    from netdiffus.postprocess import Postprocessor

    post = Postprocessor.from_json({"zero_threshold": [0.0], "totals_calibration": calibration})
    assert _volume_calibration(post, on) == line


_RANGE = {"floor": [60.0, 0.002], "zero_ok": [True, False], "unsigned": [False, True], "whole": [True, False]}


@pytest.mark.parametrize("span, on, line", [
    (None, True, "none (a run saved before the value range, or a private one without count channels)"),
    (_RANGE, True, "non-zero |value| >= 60, whole; non-zero |value| >= 0.002, >= 0"),
    (_RANGE, False, "non-zero |value| >= 60, whole; non-zero |value| >= 0.002, >= 0 "
                    "(off: postprocess.possible_values=false)"),
])  # fmt: skip
def test_info_value_range_line(span, on, line):
    from netdiffus.describe import _value_range
    from netdiffus.postprocess import Postprocessor

    post = Postprocessor.from_json({"zero_threshold": [0.0, 0.0], "value_range": span})
    assert _value_range(post, on) == line


@pytest.mark.parametrize(
    "argv, usage, message",
    [
        (["prepare", "x", "-o", "y.parquet", "--bogus"], "usage: netdiffus prepare ",
         "netdiffus prepare: error: unrecognized arguments: --bogus"),
        (["sample", "run", "-n", "2", "-o", "s.parquet", "--nope", "3"], "usage: netdiffus sample ",
         "netdiffus sample: error: unrecognized arguments: --nope 3"),
        (["--bogus"], "usage: netdiffus ", "netdiffus: error: unrecognized arguments: --bogus"),
        (["fit"], "usage: netdiffus fit ", "netdiffus fit: error: the following arguments are required: dataset"),
    ],
)
def test_a_usage_error_prints_the_usage_of_the_command_given(capsys, argv, usage, message):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert err.startswith(usage) and err.strip().splitlines()[-1] == message
