"""Run folders are untrusted input: every field of model.json and config.json, tampered, gives a
one-line error or a run that samples finite traces; never an unexpected exception, never a hang.

The cases: each leaf of both files (the first 3 items of a list) set to a wrong type, NaN, a
negative and a huge number, in a copy of a small saved run; the default suite runs every 5th case,
``-m slow`` all of them.
"""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
from _tamper import VALUES, leaves

from netdiffus import TrafficSynthesizer
from netdiffus.errors import NetDiffusError

RUN = Path(__file__).resolve().parents[1] / "data" / "runs" / "v0.1.0" / "gasf"
SECONDS = 10


def _cases() -> list[tuple[str, tuple, str]]:
    out = []
    for file in ("config.json", "model.json"):
        data = json.loads((RUN / file).read_text())
        for path in leaves(data):
            out.extend((file, path, kind) for kind in VALUES)
    return out


CASES = _cases()


def _set(node, path, value):
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = value


class _Hang(Exception):
    pass


@pytest.fixture(scope="module", autouse=True)
def _warm_up():
    """Load and sample the untouched run once, outside the timed cases: the first load pays for
    imports and kernel set-up, which on a busy machine alone can pass the time limit."""
    TrafficSynthesizer.load(RUN, progress=False).sample(3, seed=1)


def _tampered_run_behaves(tmp_path: Path, file: str, path: tuple, kind: str) -> str:
    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    data = json.loads((run / file).read_text())
    _set(data, path, VALUES[kind])
    (run / file).write_text(json.dumps(data))  # NaN as JSON's NaN, which Python reads

    def alarm(signum, frame):
        raise _Hang(f"{file} {'.'.join(map(str, path))} = {kind}: over {SECONDS} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(SECONDS)
    try:
        fake = TrafficSynthesizer.load(run, progress=False).sample(3, seed=1)
    except NetDiffusError as exc:
        assert "\n" not in str(exc)
        return "refused"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert np.isfinite(fake.series).all(), f"{file} {path} = {kind}: non-finite traces"
    return "sampled"


@pytest.mark.parametrize("file, path, kind", CASES[::5], ids=lambda v: str(v))
def test_a_tampered_run_folder_is_refused_or_samples_finite_traces(tmp_path, file, path, kind):
    _tampered_run_behaves(tmp_path, file, path, kind)


@pytest.mark.slow
def test_every_tampered_field(tmp_path):
    outcomes = {"refused": 0, "sampled": 0}
    for i, case in enumerate(CASES):
        outcomes[_tampered_run_behaves(tmp_path / str(i), *case)] += 1
    assert sum(outcomes.values()) == len(CASES)


def test_weights_that_make_nan_are_refused_not_written(tmp_path):
    import torch
    from safetensors.torch import load_file, save_file

    from netdiffus.checkpoint import DIGESTS_KEY, WEIGHTS_FILE

    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    state = load_file(str(run / WEIGHTS_FILE))
    key = next(k for k in state if k.endswith("weight"))
    state[key] = torch.full_like(state[key], float("nan"))
    save_file(state, str(run / WEIGHTS_FILE))
    with pytest.raises(NetDiffusError) as exc:
        TrafficSynthesizer.load(run, progress=False).sample(3, seed=1)
    assert str(exc.value).startswith("3 of 3 generated traces hold non-finite or out-of-range values from the "
                                     "sampler")
    info = json.loads((run / "model.json").read_text())
    assert DIGESTS_KEY not in info  # a run of 0.1.0: no digest to catch the swap; the values are caught


def test_a_save_cut_short_or_another_runs_weights_are_refused(tmp_path, tiny_overrides):
    from conftest import toy_dataset
    from netdiffus.checkpoint import MODEL_FILE, WEIGHTS_FILE

    one, two = tmp_path / "one", tmp_path / "two"
    for run, seed in ((one, 0), (two, 1)):
        TrafficSynthesizer.from_preset("demo", overrides=[*tiny_overrides, f"train.seed={seed}"],
                                       progress=False).fit(toy_dataset(), run_dir=run)
    shutil.copy(two / WEIGHTS_FILE, one / WEIGHTS_FILE)  # weights of another run, same shapes
    with pytest.raises(NetDiffusError) as exc:
        TrafficSynthesizer.load(one, progress=False)
    assert str(exc.value) == (f"{one / WEIGHTS_FILE} is not the weights file model.json was saved with (another "
                              "run's, or changed since); fit the run again")
    (two / MODEL_FILE).unlink()  # a save of `fit --force` killed after the weights, before model.json
    with pytest.raises(NetDiffusError, match="is not a fitted run folder: missing model.json"):
        TrafficSynthesizer.load(two, progress=False)


def test_training_values_a_float32_trace_cannot_carry_are_refused(tiny_overrides):
    from conftest import toy_dataset

    ds = toy_dataset()
    ds.series[3, 0, 2] = 3e37
    with pytest.raises(NetDiffusError) as exc:
        TrafficSynthesizer.from_preset("demo", overrides=tiny_overrides, progress=False).fit(ds)
    assert str(exc.value) == (f"training trace {ds.ids[3]!r} holds 3e+37, beyond the 1e+18 a trace value may reach "
                              "to be generated in float32 (rescale the series, e.g. another unit)")


def test_a_scaler_of_another_channel_count_is_named_not_the_series(tmp_path):
    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    data = json.loads((run / "model.json").read_text())
    data["imaging"]["scaler"]["min"] = [0.0, 0.0, 0.0]  # the run has one channel
    (run / "model.json").write_text(json.dumps(data))
    with pytest.raises(NetDiffusError) as exc:
        TrafficSynthesizer.load(run, progress=False)
    assert str(exc.value) == (f"{run}: checkpoint is inconsistent (scaler.min must hold one value per channel, 1 "
                              "(got 3 values))")  # was, when sampling: 'series must have 3 channels as fitted'
