"""Exact resume after SIGKILL, what SIGTERM / Ctrl-C leave, and DDP with 2 CPU processes against 1."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from conftest import toy_dataset
from netdiffus.io.dataset import write_dataset

BIN = Path(sys.executable).parent
SETS = ["train.steps=40", "train.checkpoint_every=4", "model.base_channels=8", "model.channel_mult=[1, 2]",
        "model.patch_size=1", "train.batch_size=4", "train.warmup_steps=2", "train.num_threads=1"]


def _fit_cmd(ds, run, *extra, sets=SETS, launcher=None):
    argv = [str(BIN / "netdiffus"), "fit", str(ds), "-o", str(run), "--no-progress", *extra]
    for s in sets:
        argv += ["--set", s]
    return (launcher or []) + argv


def _weights(run):
    return load_file(str(run / "model.safetensors"))


@pytest.fixture
def dataset_file(tmp_path):
    return write_dataset(toy_dataset(n_per_class=4, length=8), tmp_path / "ds.parquet")


def test_sigkill_then_resume_gives_the_same_weights(tmp_path, dataset_file):
    ref = tmp_path / "ref"
    subprocess.run(_fit_cmd(dataset_file, ref), check=True, capture_output=True)
    run = tmp_path / "killed"
    proc = subprocess.Popen(_fit_cmd(dataset_file, run), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while not (run / "train_state.safetensors").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (run / "model.safetensors").exists(), "the run finished before it could be killed"
    step = int(load_file(str(run / "train_state.safetensors"))["step"])
    assert 0 < step < 40
    subprocess.run(_fit_cmd(dataset_file, run, "--resume"), check=True, capture_output=True)
    a, b = _weights(ref), _weights(run)
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.parametrize(
    "sig, checkpoint_every, code, expected",
    [
        # no training state saved yet: the folder this command created goes
        (signal.SIGTERM, 0, 143, "error: terminated: no training state was saved yet; {run} removed"),
        (signal.SIGINT, 0, 130, "error: interrupted: no training state was saved yet; {run} removed"),
        # a saved state stays, to continue from
        (signal.SIGTERM, 2, 143, "error: terminated: {run} keeps the training state of step {step}; continue "
                                 "with the same command and --resume"),
    ],
)
def test_an_interrupted_fit_says_what_it_keeps(tmp_path, dataset_file, sig, checkpoint_every, code, expected):
    run = tmp_path / "run"
    sets = [s for s in SETS if not s.startswith(("train.steps", "train.checkpoint_every"))]
    sets += ["train.steps=100000", f"train.checkpoint_every={checkpoint_every}", "train.log_every=1"]
    proc = subprocess.Popen(_fit_cmd(dataset_file, run, sets=sets), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    wait_for = run / ("train_state.safetensors" if checkpoint_every else "metrics.jsonl")
    deadline = time.time() + 120
    while not wait_for.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    step = int(load_file(str(run / "train_state.safetensors"))["step"]) if checkpoint_every else None
    assert (proc.returncode, err.strip().splitlines()[-1]) == (code, expected.format(run=run, step=step))
    assert run.exists() == bool(checkpoint_every)


def test_ddp_two_processes_match_one(tmp_path, dataset_file):
    sets = [s for s in SETS if not s.startswith("train.steps")] + ["train.steps=6", "train.log_every=1"]
    one = tmp_path / "one"
    subprocess.run(_fit_cmd(dataset_file, one, sets=sets), check=True, capture_output=True)
    two = tmp_path / "two"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    launcher = [str(BIN / "torchrun"), "--standalone", "--nproc_per_node=2"]
    res = subprocess.run(_fit_cmd(dataset_file, two, sets=sets, launcher=launcher), capture_output=True, text=True,
                         env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    # Same global batch, noise and timesteps; only the order of the gradient sums differs. AdamW
    # normalises each step, so parameters whose gradients are ~0 (zero-initialised output layers)
    # can differ by up to lr per step; the losses, which the whole network shapes, agree closely.
    loss_one = [json.loads(line)["loss"] for line in (one / "metrics.jsonl").read_text().splitlines()]
    loss_two = [json.loads(line)["loss"] for line in (two / "metrics.jsonl").read_text().splitlines()]
    assert len(loss_one) == len(loss_two) == 6
    np.testing.assert_allclose(loss_one, loss_two, rtol=1e-4)
    a, b = _weights(one), _weights(two)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=0, atol=6 * 2e-3, err_msg=k)
    # the two processes each draw half of the volume calibration's reference set; rank 0 saves it
    cal_one, cal_two = (json.loads((r / "model.json").read_text())["postprocess"]["totals_calibration"]
                        for r in (one, two))
    assert cal_two["classes"].keys() == cal_one["classes"].keys() and cal_one["classes"]
    for c, q in cal_one["classes"].items():  # the same quantiles, up to the weights' tolerance
        for key in ("generated", "training"):
            np.testing.assert_allclose(cal_two["classes"][c][key], q[key], rtol=1e-5, err_msg=f"{c} {key}")


def test_two_processes_sample_what_one_samples(tmp_path, dataset_file):
    from netdiffus.io.dataset import read_dataset

    run = tmp_path / "run"
    sets = [s for s in SETS if not s.startswith("train.steps")] + ["train.steps=2", "sample.steps=3"]
    subprocess.run(_fit_cmd(dataset_file, run, sets=sets), check=True, capture_output=True)
    sample = [str(BIN / "netdiffus"), "sample", str(run), "-n", "7", "--seed", "3", "--no-progress",
              "--batch-size", "2", "--chunk-size", "4"]  # 2 chunks, each process drawing one batch of each
    subprocess.run([*sample, "-o", str(tmp_path / "one.parquet")], check=True, capture_output=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run([str(BIN / "torchrun"), "--standalone", "--nproc_per_node=2", *sample, "-o",
                          str(tmp_path / "two.parquet")], capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.count("wrote 7 traces") == 1  # rank 0 alone writes
    one, two = read_dataset(tmp_path / "one.parquet"), read_dataset(tmp_path / "two.parquet")
    assert two.ids == one.ids and two.labels == one.labels
    np.testing.assert_allclose(two.series, one.series, rtol=1e-5)  # trace k: its own seed, any process


# -- resuming a saved training state with another configuration or dataset ----------------------

TINY_CKPT = ["train.steps=3", "train.checkpoint_every=1", "model.base_channels=8", "model.channel_mult=[1, 2]",
             "model.patch_size=1", "train.batch_size=4", "train.warmup_steps=1", "sample.steps=2"]


def _synth(extra=()):
    from netdiffus.synthesizer import TrafficSynthesizer

    return TrafficSynthesizer.from_preset("demo", overrides=TINY_CKPT + list(extra), progress=False)


@pytest.fixture
def saved_run(tmp_path):
    """A finished tiny run that kept its train_state.safetensors (at step 3)."""
    run = tmp_path / "run"
    _synth().fit(toy_dataset(n_per_class=4, length=8), run_dir=run)
    assert (run / "train_state.safetensors").exists()
    return run


@pytest.mark.parametrize(
    "extra, data, message",
    [
        (["model.base_channels=16"], {}, "model.base_channels is 16 here but 8 in the checkpoint"),
        (["model.channel_mult=[1, 2, 2]"], {}, "model.channel_mult is (1, 2, 2) here but (1, 2) in the checkpoint"),
        (["train.lr=0.01"], {}, "train.lr is 0.01 here but 0.002 in the checkpoint"),
        (["train.steps=2"], {}, "the checkpoint is at step 3, beyond train.steps=2"),
        ([], dict(length=16), "the data shape [channels, length] is [1, 16] here but [1, 8] in the checkpoint"),
        ([], dict(classes=("a", "b", "c")), "the classes are ['a', 'b', 'c'] here but ['a', 'b'] in the checkpoint"),
        ([], dict(seed=1), "the training traces are not the checkpoint's (8 here, 8 there; resuming continues the "
                           "same training on the same traces)"),
        ([], dict(n_per_class=5), "the training traces are not the checkpoint's (10 here, 8 there; resuming "
                                  "continues the same training on the same traces)"),
    ],
)
def test_resume_refuses_another_config_or_dataset(saved_run, extra, data, message):
    from netdiffus.errors import CheckpointError

    before = (saved_run / "model.safetensors").read_bytes()
    with pytest.raises(CheckpointError) as exc:
        _synth(extra).fit(toy_dataset(**{"n_per_class": 4, "length": 8, **data}), run_dir=saved_run, resume=True)
    assert str(exc.value) == f"cannot resume {saved_run}: {message}"
    assert (saved_run / "model.safetensors").read_bytes() == before  # the run is left as it was


def test_resume_with_another_preset_names_the_run_s_preset(saved_run):
    from netdiffus.errors import CheckpointError
    from netdiffus.synthesizer import TrafficSynthesizer

    synth = TrafficSynthesizer.from_preset("cpu", overrides=[*TINY_CKPT, "model.attention_levels=[]"], progress=False)
    with pytest.raises(CheckpointError) as exc:
        synth.fit(toy_dataset(n_per_class=4, length=8), run_dir=saved_run, resume=True)
    assert str(exc.value).endswith(" in the checkpoint (the run was trained with --preset demo: resume with the "
                                   "preset and --set options it was trained with)")


def test_resume_of_a_state_without_metadata_is_one_line(saved_run):
    """train_state files written before the metadata existed: the shape mismatch in one line."""
    from safetensors.torch import load_file as load_torch
    from safetensors.torch import save_file

    from netdiffus.errors import CheckpointError

    path = saved_run / "train_state.safetensors"
    save_file(load_torch(str(path)), str(path))  # drops the metadata
    with pytest.raises(CheckpointError) as exc:
        _synth(["model.base_channels=16"]).fit(toy_dataset(n_per_class=4, length=8), run_dir=saved_run, resume=True)
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith(f"cannot resume {saved_run}: train_state.safetensors was written for another model "
                          "(size mismatch for ")


def _drop_step(path):
    from safetensors.torch import load_file as load_torch
    from safetensors.torch import save_file

    tensors = load_torch(str(path))
    del tensors["step"]
    save_file(tensors, str(path))


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (lambda p: p.write_bytes(b"\0" * 50),
         "train_state.safetensors is unreadable (Error while deserializing header: "),
        (_drop_step, "train_state.safetensors is unreadable (it holds no step)"),
    ],
)
def test_train_resume_from_an_unreadable_state(saved_run, corrupt, message):
    """``train(resume=True)`` called directly (no fit() check before it): a CheckpointError, not
    safetensors' own error or a KeyError."""
    import torch

    from netdiffus.errors import CheckpointError
    from netdiffus.synthesizer import TrafficSynthesizer
    from netdiffus.training import train

    synth = TrafficSynthesizer.load(saved_run, progress=False)
    corrupt(saved_run / "train_state.safetensors")
    with pytest.raises(CheckpointError) as exc:
        train(synth.model_, synth.process, torch.zeros(4, 1, 8, 8), torch.zeros(4, dtype=torch.long),
              cfg=synth.config.train, null_class=2, run_dir=saved_run, resume=True)
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(f"cannot resume {saved_run}: {message}")
