"""``netdiffus sample`` streamed: a draw killed mid-way and resumed is the uninterrupted draw."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import TINY, toy_dataset
from netdiffus.cli.main import main
from netdiffus.io.dataset import read_dataset
from netdiffus.stream import partial_paths
from netdiffus.synthesizer import TrafficSynthesizer

N, BATCH = 640, 32


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stream") / "run"
    TrafficSynthesizer.from_preset("demo", overrides=TINY, progress=False).fit(toy_dataset()).save(folder)
    return folder


def _sample(run, out, *extra):
    return ["sample", str(run), "-n", str(N), "-o", str(out), "--seed", "5", "--batch-size", str(BATCH),
            "--chunk-size", str(BATCH), "--no-progress", *extra]


def _kept(out) -> int:
    try:
        return len(json.loads(partial_paths(out)[1].read_text())["ends"])
    except (OSError, ValueError, KeyError):
        return 0


@pytest.mark.parametrize(
    "sig, code, said",
    [
        (signal.SIGKILL, -9, None),  # no clean-up at all: the record and the partial file are all there is
        (signal.SIGTERM, 143, "error: terminated: {out}: {kept} of 20 chunks kept; continue with the same "
                              "command and --resume"),
    ],
)
def test_a_killed_draw_resumes_to_the_uninterrupted_one(run, tmp_path, capsys, sig, code, said):
    out = tmp_path / "out.parquet"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "netdiffus", *_sample(run, out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.time() + 120
    while _kept(out) < 2 and proc.poll() is None and time.time() < deadline:
        time.sleep(0.005)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code and not out.exists(), "the draw ended before it could be stopped"
    kept = _kept(out)
    assert 2 <= kept < 20
    if said is not None:
        assert err.strip().splitlines()[-1] == said.format(out=out, kept=kept)
    assert main(_sample(run, out, "--resume")) == 0
    assert capsys.readouterr().out.strip() == f"wrote {N} traces (a: 320, b: 320) -> {out}"
    whole = TrafficSynthesizer.load(run, progress=False).sample(N, seed=5, batch_size=BATCH)
    got = read_dataset(out)
    np.testing.assert_array_equal(got.series, whole.series)  # value for value
    assert got.ids == whole.ids and got.labels == whole.labels
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet"]


@pytest.mark.parametrize(
    "second, message",
    [
        (["--seed", "6"], "error: cannot resume {out}: the interrupted draw has seed 5, this one 6; give the options "
                          "it was started with, or start again with --force (without --resume)"),
        (["--steps", "2"], "error: cannot resume {out}: the interrupted draw has sample.steps 3, this one 2; give "
                           "the options it was started with, or start again with --force (without --resume)"),
        (["--label", "a"], "error: cannot resume {out}: the interrupted draw has labels {{'a': 6, 'b': 6}}, this "
                           "one {{'a': 12}}; give the options it was started with, or start again with --force "
                           "(without --resume)"),
        ([], "error: an interrupted draw of {out} is kept (1 of 3 chunks); continue it with --resume, or start "
             "again with --force"),
    ],
)
def test_resume_refusals_are_one_line(run, tmp_path, capsys, monkeypatch, second, message):
    from netdiffus import stream

    out = tmp_path / "out.parquet"
    real = stream._Journal.append

    def append_once(self, part):  # the first chunk is kept, then the draw is interrupted
        if self.ends:
            raise KeyboardInterrupt
        real(self, part)

    monkeypatch.setattr(stream._Journal, "append", append_once)
    argv = ["sample", str(run), "-n", "12", "-o", str(out), "--batch-size", "4", "--chunk-size", "4", "--seed", "5"]
    assert main(argv) == 130
    monkeypatch.setattr(stream._Journal, "append", real)
    capsys.readouterr()
    assert main([*argv, *second] + (["--resume"] if second else [])) == 1
    assert capsys.readouterr().err.strip() == message.format(out=out)
    assert not out.exists() and _kept(out) == 1


def test_resume_needs_an_interrupted_draw(run, tmp_path, capsys):
    out = tmp_path / "out.parquet"
    assert main(["sample", str(run), "-n", "4", "-o", str(out), "--resume"]) == 1
    assert capsys.readouterr().err.strip() == (
        f"error: cannot resume {out}: no interrupted draw of it is kept (no .out.parquet.progress.json beside it); "
        "leave out --resume to start one")
