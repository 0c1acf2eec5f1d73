"""``fit`` and ``sample``: one-line errors (exit 1, no traceback) for bad options and run folders."""

import json
import shutil
from pathlib import Path

import pytest

from conftest import TINY, toy_dataset
from netdiffus.cli.main import main
from netdiffus.errors import InputError
from netdiffus.io.dataset import write_dataset

SETS = [a for o in TINY for a in ("--set", o)]


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def data(tmp_path):
    return write_dataset(toy_dataset(n_per_class=4, length=8), tmp_path / "ds.parquet")


@pytest.fixture
def finished_run(tmp_path, data, capsys):
    """A finished tiny run without train_state.safetensors (train.checkpoint_every = 0)."""
    run = tmp_path / "done"
    assert run_cli(capsys, "fit", data, "-o", run, "--no-progress", *SETS)[0] == 0
    return run


@pytest.mark.parametrize(
    "argv, expected",
    [
        # list values with a non-integer element, in fit and in demo
        (["fit", "{data}", "-o", "{tmp}/r", "--set", "model.channel_mult=abc"],
         "model.channel_mult must be a list of ints (got 'abc')"),
        (["fit", "{data}", "--dry-run", "--set", "model.attention_levels=x"],
         "model.attention_levels must be a list of ints (got 'x')"),
        (["demo", "-o", "{tmp}/demo", "--set", "model.channel_mult=abc"],
         "model.channel_mult must be a list of ints (got 'abc')"),
        # integer fields checked before training starts
        (["fit", "{data}", "-o", "{tmp}/r", "--set", "train.log_every=0"], "train.log_every must be >= 1 (got 0)"),
        # floats must be finite
        (["fit", "{data}", "-o", "{tmp}/r", "--set", "train.lr=inf"], "train.lr must be a finite number (got inf)"),
        (["fit", "{data}", "-o", "{tmp}/r", "--set", "train.seed=-1"],
         "train.seed must be an integer from 0 to 2**32 - 1 (got -1)"),
        # devices
        (["fit", "{data}", "-o", "{tmp}/r", "--device", "bogus"],
         "device 'bogus' is not a torch device (cpu, cuda, cuda:N, mps)"),
        (["demo", "-o", "{tmp}/demo", "--device", "bogus"],
         "device 'bogus' is not a torch device (cpu, cuda, cuda:N, mps)"),
        # the preset is chosen with --preset, not --set
        (["fit", "{data}", "-o", "{tmp}/r", "--set", "preset=paper"],
         "preset cannot be set with an override (got 'paper'); choose it with --preset"),
        # -o is needed to train
        (["fit", "{data}"], "-o/--output is required (only --dry-run runs without a run folder)"),
        # --resume needs a saved training state
        (["fit", "{data}", "-o", "{tmp}/nothing", "--resume"],
         "cannot resume {tmp}/nothing: the folder does not exist (leave out --resume to start a run)"),
        (["fit", "{data}", "-o", "{data}", "--resume"], "cannot resume {data}: it is a file, not a run folder"),
        # differential privacy: a budget it cannot meet, a range it would have to read from the data
        (["fit", "{data}", "-o", "{tmp}/r", "--dp-epsilon", "0.01", "--set", "imaging.range_max=1e5",
          "--set", "train.steps=100000", "--set", "train.batch_size=8"],
         "train.dp_epsilon 0.01 cannot be met in train.steps 100000 at train.batch_size 8 of N = 8 (the noise would "
         "exceed 1000 times the clipping norm); raise train.dp_epsilon or lower train.steps"),
        (["fit", "{data}", "-o", "{tmp}/r", "--dp-epsilon", "10"],
         "imaging.range_max 0.0 is not allowed with train.dp_epsilon > 0: the scaling's range must be given, not "
         "fitted (e.g. --set imaging.range_max=1e7, in dataset units)"),
        (["fit", "{data}", "-o", "{tmp}/r", "--dp-epsilon", "-1"], "train.dp_epsilon must be in [0, 1000] (0: no DP) "
                                                                   "(got -1.0)"),
        # sample: a dataset file is not a run folder
        (["sample", "{data}", "-n", "2", "-o", "{tmp}/s.parquet"],
         "{data} is a file, not a run folder (made by 'netdiffus fit')"),
    ],
)
def test_one_line_errors_leave_nothing_behind(capsys, tmp_path, data, argv, expected):
    before = sorted(tmp_path.iterdir())
    code, out, err = run_cli(capsys, *[a.format(tmp=tmp_path, data=data) for a in argv])
    assert (code, err.strip()) == (1, "error: " + expected.format(tmp=tmp_path, data=data))
    assert sorted(tmp_path.iterdir()) == before  # no run folder, no metrics.jsonl


def test_dry_run_needs_no_output(capsys, data):
    code, out, err = run_cli(capsys, "fit", data, "--set", "train.steps=300", "--dry-run")
    assert code == 0, err
    assert '"steps": 300' in out


def test_sample_device_is_blamed_not_the_run(capsys, tmp_path, finished_run):
    code, out, err = run_cli(capsys, "sample", finished_run, "-n", "2", "-o", tmp_path / "s.parquet",
                             "--device", "bogus")
    assert (code, err.strip()) == (1, "error: device 'bogus' is not a torch device (cpu, cuda, cuda:N, mps)")


@pytest.mark.parametrize(
    "option, expected",
    [
        (["--steps", "0"], "sample.steps must be in [1, diffusion.timesteps=1000] (got 0)"),
        (["--batch-size", "0"], "sample.batch_size must be in [1, 65536] (got 0)"),
        (["--guidance", "-1"], "sample.guidance_scale must be >= 0 (got -1.0)"),
        (["--guidance", "inf"], "sample.guidance_scale must be a finite number (got inf)"),
        (["--seed", "-1"], "seed must be an integer from 0 to 2**32 - 1 (got -1)"),
        (["--seed", "99999999999999999999999"],
         "seed must be an integer from 0 to 2**32 - 1 (got 99999999999999999999999)"),
    ],
)
def test_sample_options_follow_the_config_rules(capsys, tmp_path, finished_run, option, expected):
    out_path = tmp_path / "s.parquet"
    code, out, err = run_cli(capsys, "sample", finished_run, "-n", "2", "-o", out_path, "--no-progress", *option)
    assert (code, err.strip()) == (1, f"error: {expected}")
    assert not out_path.exists()


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["-o", "{tmp}/s.parquet", "--csv", "{tmp}"], "--csv {tmp} is a folder; give a file name"),
        (["-o", "{tmp}/s.parquet", "--csv", "{run}/model.json/s.csv"],
         "--csv {run}/model.json/s.csv is inside {run}/model.json, which is a file, not a folder"),
        (["-o", "{tmp}"], "output path {tmp} is a folder; give a file name"),
        (["-o", "{tmp}/s.parquet", "--csv", "{tmp}/s.parquet"],
         "-o and --csv name the same file ({tmp}/s.parquet); give each its own"),
        (["-o", "{tmp}/s.parquet", "--label", "a", "--label", "b", "-n", "1"],
         "-n 1 is fewer than the 2 classes given with --label; every class given gets at least one trace"),
    ],
)  # fmt: skip
def test_sample_output_paths_are_checked_before_sampling(capsys, tmp_path, finished_run, argv, expected):
    before = sorted(tmp_path.iterdir())
    argv = [a.format(tmp=tmp_path, run=finished_run) for a in argv]
    code, out, err = run_cli(capsys, "sample", finished_run, "-n", "2", "--no-progress", *argv)
    assert (code, err.strip()) == (1, "error: " + expected.format(tmp=tmp_path, run=finished_run))
    assert sorted(tmp_path.iterdir()) == before  # the dataset is not written when the CSV cannot be


GOLDEN = Path(__file__).parents[1] / "data" / "pcap" / "golden.pcap"


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["prepare", GOLDEN, "--unit", "file", "--no-progress", "-o", "{old}"],
         "output path {old} exists (use --force to replace it)"),
        (["split", "{data}", "--train", "{tmp}/train.parquet", "--test", "{old}"],
         "--test {old} exists (use --force to replace it)"),
        (["sample", "{run}", "-n", "2", "--no-progress", "-o", "{old}"],
         "output path {old} exists (use --force to replace it)"),
        (["sample", "{run}", "-n", "2", "--no-progress", "-o", "{tmp}/s.parquet", "--csv", "{old}"],
         "--csv {old} exists (use --force to replace it)"),
        (["evaluate", "--real", "{data}", "--synthetic", "{data}", "--fast", "-o", "{tmp}"],
         "output folder {tmp} already holds metrics.json (use --force to replace them)"),
        (["evaluate", "--real", "{data}", "--synthetic", "{data}", "--fast", "-o", "{old}"],
         "output path {old} exists and is not a folder; give a folder"),
        # a dataset is Parquet whatever its name says
        (["sample", "{run}", "-n", "2", "--no-progress", "-o", "{tmp}/s.csv"],
         "output path {tmp}/s.csv: datasets are written as Parquet; name it s.parquet"),
        (["prepare", GOLDEN, "--unit", "file", "--no-progress", "-o", "{tmp}/d.pcap"],
         "output path {tmp}/d.pcap: datasets are written as Parquet; name it d.parquet"),
    ],
)  # fmt: skip
def test_existing_outputs_are_kept_unless_force(capsys, tmp_path, data, finished_run, argv, expected):
    old = tmp_path / "old.parquet"
    old.write_bytes(b"keep")
    (tmp_path / "metrics.json").write_text("{}")
    before = sorted(tmp_path.iterdir())
    fmt = dict(tmp=tmp_path, data=data, run=finished_run, old=old)
    code, out, err = run_cli(capsys, *[str(a).format(**fmt) for a in argv])
    assert (code, err.strip()) == (1, "error: " + expected.format(**fmt))
    assert sorted(tmp_path.iterdir()) == before and old.read_bytes() == b"keep"


def test_force_replaces_an_existing_output(capsys, tmp_path, data):
    train, test = tmp_path / "train.parquet", tmp_path / "test.parquet"
    test.write_bytes(b"old")
    argv = ["split", data, "--train", train, "--test", test, "--test-fraction", "0.5"]
    assert run_cli(capsys, *argv)[0] == 1
    assert run_cli(capsys, *argv, "--force")[0] == 0
    assert test.read_bytes()[:4] == b"PAR1"


def test_resume_without_train_state_keeps_the_run(capsys, data, finished_run):
    weights = (finished_run / "model.safetensors").read_bytes()
    code, out, err = run_cli(capsys, "fit", data, "-o", finished_run, "--resume", "--no-progress", *SETS)
    assert (code, err.strip()) == (1, f"error: cannot resume {finished_run}: no train_state.safetensors in it (one is "
                                      "written every train.checkpoint_every steps, never with the default 0; "
                                      "use --force to train again)")
    assert (finished_run / "model.safetensors").read_bytes() == weights


def test_resume_with_another_model_is_one_line(capsys, tmp_path, data):
    run = tmp_path / "r"
    sets = [*SETS, "--set", "train.checkpoint_every=1"]
    assert run_cli(capsys, "fit", data, "-o", run, "--no-progress", *sets)[0] == 0
    copy = tmp_path / "r2"
    shutil.copytree(run, copy)
    code, out, err = run_cli(capsys, "fit", data, "-o", copy, "--resume", "--no-progress", *sets,
                             "--set", "model.base_channels=16")
    assert (code, err.strip()) == (1, f"error: cannot resume {copy}: model.base_channels is 16 here but 8 in the "
                                      "checkpoint")


@pytest.mark.parametrize("argv", [["sample", "{run}", "-n", "2", "-o", "{tmp}/s.parquet"], ["info", "{run}"]])
def test_corrupt_weights_are_one_line(capsys, tmp_path, finished_run, argv):
    weights = finished_run / "model.safetensors"
    weights.write_bytes(b"\0" * 50)
    code, _, err = run_cli(capsys, *[a.format(run=finished_run, tmp=tmp_path) for a in argv])
    assert code == 1 and err.count("\n") == 1
    assert err.startswith(f"error: {weights} is not a readable safetensors file (")
    assert err.rstrip().endswith(")") and "unexpected" not in err
    assert not (tmp_path / "s.parquet").exists()


def test_info_on_a_run_with_a_stripped_model_json_is_one_line(capsys, finished_run):
    info = finished_run / "model.json"
    data = json.loads(info.read_text())
    del data["shape"]
    info.write_text(json.dumps(data))
    code, _, err = run_cli(capsys, "info", str(finished_run))
    assert (code, err.strip()) == (1, f"error: {finished_run}: config.json or model.json lacks 'shape' "
                                      "(not written by netdiffus fit?)")


@pytest.mark.parametrize(
    "case, message, left",
    [
        ("created", "no training state was saved yet; {run} removed", None),
        # a new folder the user put a file in while the fit ran: the file and the folder stay
        ("created-user", "no training state was saved yet; the files this fit wrote in {run} removed", ["mine.txt"]),
        ("was-empty", "no training state was saved yet; the files this fit wrote in {run} removed", []),
        # --force into a folder with the user's file and an earlier run's: only what this fit wrote goes
        ("forced", "no training state was saved yet; the files this fit wrote in {run} removed",
         ["mine.txt", "config.json"]),
        ("state", "{run} keeps the training state of step 40; continue with the same command and --resume",
         ["metrics.jsonl", "train_state.safetensors"]),
        ("model", "{run} holds the trained model, saved before its volume calibration was fitted: sample draws "
                  "from it uncalibrated (fit again to calibrate)", ["metrics.jsonl", "model.json"]),
    ],
)
def test_after_an_interrupt_fit_leaves_what_it_says(tmp_path, case, message, left):
    import torch
    from safetensors.torch import save_file

    from netdiffus.run_folder import RunFolderGuard

    run = tmp_path / "run"
    if not case.startswith("created"):
        run.mkdir()
    if case == "forced":
        (run / "mine.txt").write_text("keep")
        (run / "config.json").write_text("{}")  # an earlier run's, not rewritten before the interrupt
    with pytest.raises(KeyboardInterrupt) as exc, RunFolderGuard(run, resume=False, force=True) as guard:
        (run / "metrics.jsonl").write_text("{}\n")  # what fit wrote before the interrupt
        if case == "created-user":
            (run / "mine.txt").write_text("keep")
        if case == "state":
            save_file({"step": torch.tensor(40)}, str(run / "train_state.safetensors"))
        if case == "model":
            (run / "model.json").write_text("{}")
            guard.model_saved = True
        raise KeyboardInterrupt
    assert str(exc.value) == message.format(run=run)
    if left is None:
        assert not run.exists()
    else:
        assert sorted(p.name for p in run.iterdir()) == sorted(left)


def test_a_second_fit_into_a_folder_in_use_is_refused(tmp_path):
    from netdiffus.run_folder import RunFolderGuard

    run = tmp_path / "run"
    with RunFolderGuard(run, resume=False, force=False):
        with pytest.raises(InputError) as exc, RunFolderGuard(run, resume=False, force=True):
            pass
        assert str(exc.value) == (f"run folder {run} is in use by another netdiffus fit; wait for it to end or "
                                  "choose another folder")
    with RunFolderGuard(run, resume=False, force=False):  # released, and the lock file gone
        pass
    assert list(run.iterdir()) == []


def test_a_fit_that_finds_the_folder_filled_after_its_check_is_refused(tmp_path):
    from netdiffus.run_folder import RunFolderGuard, check_run_folder

    run = tmp_path / "run"
    check_run_folder(run, resume=False, force=False)  # empty when checked ...
    run.mkdir()
    (run / "model.json").write_text("{}")  # ... filled by another fit before this one locked it
    with pytest.raises(InputError, match="is not empty"), RunFolderGuard(run, resume=False, force=False):
        pass
    assert [p.name for p in run.iterdir()] == ["model.json"]


def test_labels_are_printed_as_data_not_as_terminal_codes(capsys, tmp_path):
    ds = toy_dataset(n_per_class=4, length=8, classes=("cam\x1b[31m", "tv\nnext"))
    data = write_dataset(ds, tmp_path / "ds.parquet")
    run = tmp_path / "run"
    assert run_cli(capsys, "fit", data, "-o", run, "--no-progress", *SETS)[0] == 0
    code, out, err = run_cli(capsys, "sample", run, "-n", "2", "-o", tmp_path / "s.parquet", "--no-progress",
                             "--label", "tv\nnext", "--label", "cam\x1b[31m")
    assert code == 0 and "\x1b" not in out and out.count("\n") == 1
    assert "(tv\\nnext: 1, cam\\x1b[31m: 1)" in out  # escaped, in the order given
    code, out, err = run_cli(capsys, "sample", run, "-n", "2", "-o", tmp_path / "t.parquet", "--label", "x\x1b[0m")
    assert code == 1 and "\x1b" not in err and err.count("\n") == 1
    assert err.startswith("error: label 'x\\x1b[0m' is not a trained class")


def test_a_private_fit_from_the_command_line_says_its_guarantee(capsys, tmp_path, data):
    pytest.importorskip("opacus")
    run = tmp_path / "dp"
    code, out, err = run_cli(capsys, "fit", data, "-o", run, "--no-progress", *SETS, "--dp-epsilon", "8",
                             "--dp-delta", "1e-3", "--dp-max-grad-norm", "0.5", "--set", "imaging.range_max=1e5")
    assert code == 0, err
    assert out.splitlines()[-1].startswith("privacy: (epsilon ") and "delta 0.001) per trace" in out
    train = json.loads((run / "config.json").read_text())["train"]
    assert (train["dp_epsilon"], train["dp_delta"], train["dp_max_grad_norm"]) == (8.0, 1e-3, 0.5)
    privacy = json.loads((run / "model.json").read_text())["privacy"]
    assert privacy["epsilon"] <= 8 and privacy["noise_multiplier"] == train["dp_noise_multiplier"] > 0
    code, out, err = run_cli(capsys, "info", run)
    assert code == 0 and "privacy" in out and "clipping norm 0.5" in out


def _full_disk(*args, **kwargs):
    import errno

    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("failing, output", [("write_csv_parts", "csv"), ("ParquetWriter", "parquet")])
def test_a_full_disk_while_sample_writes_names_the_file_and_leaves_neither(capsys, tmp_path, monkeypatch,
                                                                         finished_run, failing, output):
    import netdiffus.stream as stream_mod

    monkeypatch.setattr(stream_mod if failing == "write_csv_parts" else stream_mod.pq, failing, _full_disk)
    paths = {"parquet": tmp_path / "s.parquet", "csv": tmp_path / "s.csv"}
    code, out, err = run_cli(capsys, "sample", finished_run, "-n", "2", "--no-progress", "-o", paths["parquet"],
                             "--csv", paths["csv"])
    assert (code, err) == (1, f"error: cannot write {paths[output]}: No space left on device (no output written: "
                              f"{paths['parquet']} and {paths['csv']} are written together or not at all)\n")
    # no temporaries; the drawn chunks stay beside the output for --resume
    assert sorted(p.name for p in tmp_path.iterdir()) == [".s.parquet.partial", ".s.parquet.progress.json", "done",
                                                          "ds.parquet"]


def test_sample_does_not_replace_a_dataset_written_while_it_ran(capsys, tmp_path, monkeypatch, finished_run):
    import netdiffus.stream as stream_mod

    out_path = tmp_path / "s.parquet"
    real = stream_mod.pq.ParquetWriter

    def racing(*args, **kwargs):  # another sample to the same name, after this one's up-front check
        out_path.write_text("the other run's")
        return real(*args, **kwargs)

    monkeypatch.setattr(stream_mod.pq, "ParquetWriter", racing)
    code, out, err = run_cli(capsys, "sample", finished_run, "-n", "2", "--no-progress", "-o", out_path)
    assert (code, err) == (1, f"error: output path {out_path} exists (use --force to replace it)\n")
    assert out_path.read_text() == "the other run's"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".s.parquet.partial", ".s.parquet.progress.json", "done",
                                                          "ds.parquet", "s.parquet"]


def _safetensors_full_disk(fail_at: int):
    """A ``save_file`` that fails as safetensors does on a full disk, at its ``fail_at``-th call."""
    from safetensors import SafetensorError
    from safetensors.torch import save_file

    calls = []

    def save(*args, **kwargs):
        calls.append(1)
        if len(calls) == fail_at:
            raise SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")
        return save_file(*args, **kwargs)

    return save


@pytest.mark.parametrize("fail_at, state", [
    (1, "no training state was saved yet"),  # the trained model's save
    (2, "the trained model could not be saved"),  # its save again with the volume calibration
])  # fmt: skip
def test_a_full_disk_while_fit_saves_names_the_file_and_what_the_folder_holds(capsys, tmp_path, monkeypatch, data,
                                                                            fail_at, state):
    import netdiffus.checkpoint as checkpoint_mod

    monkeypatch.setattr(checkpoint_mod, "save_file", _safetensors_full_disk(fail_at))
    run = tmp_path / "run"
    code, out, err = run_cli(capsys, "fit", data, "-o", run, "--no-progress", *SETS)
    assert (code, err.splitlines()[-1]) == (1, f"error: cannot write {run / 'model.safetensors'}: No space left on "
                                               f"device ({state}; {run} removed)")
    assert not run.exists()  # the same command runs again once there is room


def test_an_interrupt_while_the_model_is_saved_waits_for_model_json(tmp_path, monkeypatch):
    import os
    import signal

    import torch

    import netdiffus.checkpoint as checkpoint_mod

    real = checkpoint_mod.save_file

    def interrupted(*args, **kwargs):  # Ctrl-C arrives while the weights are written
        os.kill(os.getpid(), signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(checkpoint_mod, "save_file", interrupted)
    with pytest.raises(KeyboardInterrupt):
        checkpoint_mod.save_checkpoint(tmp_path, config={}, state_dict={"w": torch.ones(2)}, model_info={})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.json", "model.safetensors"]
