"""Novelty: copies score 0, new real-like traces about 1, training stops when draws turn to copies, a
small training set trains fewer steps, and fit warns when its model replays its training traces."""

import json

import numpy as np
import pytest
import torch

from conftest import toy_dataset
from netdiffus import TrafficSynthesizer
from netdiffus.config import TrainConfig, load_config
from netdiffus.errors import ConfigError
from netdiffus.novelty import NOVELTY_SEED, NoveltyMonitor, check_fit, novelty, training_spacing
from netdiffus.resolve import training_budget


def test_novelty_of_copies_new_traces_and_a_mix():
    rng = np.random.default_rng(1)
    train = rng.lognormal(5, 1, size=(60, 1, 20))
    spacing = training_spacing(train)
    assert novelty(train[:20], train, spacing) == 0.0
    assert 0.8 < novelty(rng.lognormal(5, 1, size=(60, 1, 20)), train, spacing) < 1.3
    mix = np.concatenate([train[:40], rng.lognormal(5, 1, size=(20, 1, 20))])
    assert novelty(mix, train, spacing) < 1e-6  # the median draw is a copy


def test_the_monitor_stops_once_draws_are_copies_and_keeps_the_last_weights_that_passed():
    rng = np.random.default_rng(2)
    train = rng.lognormal(5, 1, size=(30, 1, 10))
    draws = iter([rng.lognormal(5, 1, size=(30, 1, 10)), train.copy()])
    net = torch.nn.Linear(2, 2)
    monitor = NoveltyMonitor(train, lambda model: next(draws), every=10, threshold=0.5)
    assert monitor(5, net) is False and monitor.history == []  # not a check step
    assert monitor(10, net) is False  # new traces: passes, weights kept
    kept = {k: v.clone() for k, v in net.state_dict().items()}
    with torch.no_grad():
        net.weight.add_(1.0)  # training goes on
    assert monitor(20, net) is True and monitor.stopped_at == 20  # copies
    torch.testing.assert_close(net.state_dict(), kept)
    assert [round(v, 6) for _, v in monitor.history][1] == 0.0


@pytest.mark.parametrize("min_novelty, stopped", [(0.0, False), (10.0, True)])
def test_fit_stops_early_on_novelty(tiny_overrides, caplog, min_novelty, stopped):
    over = [o for o in tiny_overrides if not o.startswith("train.steps")]
    over += ["train.steps=12", "train.novelty_every=4", f"train.min_novelty={min_novelty}"]
    with caplog.at_level("INFO", logger="netdiffus.novelty"):
        synth = TrafficSynthesizer.from_preset("demo", overrides=over, progress=False).fit(toy_dataset())
    checks = [r.getMessage() for r in caplog.records if r.getMessage().startswith("novelty at step")]
    assert len(checks) == (1 if stopped else 3)
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert bool(warned) == stopped
    if stopped:
        assert warned[0].startswith("training stopped at step 4: its draws came within")
    assert np.isfinite(synth.sample(2, seed=0).series).all()


@pytest.mark.parametrize("steps, batch, warmup, max_epochs, n_traces, expected", [
    (3000, 64, 150, 0.0, 40, (3000, 150)),      # no cap
    (3000, 64, 150, 500.0, 442, (3000, 150)),   # a large set does not reach the cap
    (3000, 64, 150, 500.0, 40, (313, 15)),      # ceil(500 * 40 / 64) steps, warm-up in proportion
    (3000, 64, 150, 0.01, 40, (1, 0)),          # at least one step
    (10, 4, 1, 2.0, 12, (6, 0)),
])  # fmt: skip
def test_training_budget_counts_passes_over_the_data(steps, batch, warmup, max_epochs, n_traces, expected):
    cfg = TrainConfig(steps=steps, batch_size=batch, warmup_steps=warmup, max_epochs=max_epochs)
    assert training_budget(cfg, n_traces) == expected


def test_fit_trains_the_budget_and_records_it(tiny_overrides, tmp_path, caplog):
    over = [o for o in tiny_overrides if not o.startswith("train.steps")]
    over += ["train.steps=50", "train.max_epochs=2", "train.checkpoint_every=1"]  # 12 traces, batch 4: 6 steps
    with caplog.at_level("INFO", logger="netdiffus.resolve"):
        synth = TrafficSynthesizer.from_preset("demo", overrides=over, progress=False)
        synth.fit(toy_dataset(), run_dir=tmp_path / "run")
    assert synth.config.train.steps == 6
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["steps"] == 6
    logged = [json.loads(line)["step"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert logged[-1] == 5
    assert "train.steps 50 -> 6 (train.max_epochs=2 passes over 12 traces of batches of 4)" in caplog.messages
    # a resume with the same preset and overrides decides the same budget: no config mismatch
    TrafficSynthesizer.from_preset("demo", overrides=over, progress=False).fit(
        toy_dataset(), run_dir=tmp_path / "run", resume=True)
    # a larger budget extends the run, as more train.steps would
    longer = TrafficSynthesizer.from_preset("demo", overrides=[*over, "train.max_epochs=3"], progress=False)
    longer.fit(toy_dataset(), run_dir=tmp_path / "run", resume=True)
    logged = [json.loads(line)["step"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert longer.config.train.steps == 9 and logged[-1] == 8


def test_max_epochs_must_not_be_negative():
    with pytest.raises(ConfigError) as err:
        load_config(preset="demo", overrides=["train.max_epochs=-1"])
    assert str(err.value) == "train.max_epochs must be >= 0 (0: no cap) (got -1.0)"


@pytest.mark.parametrize("copies, warned", [(True, True), (False, False)])
def test_check_fit_warns_when_draws_replay_the_training_traces(caplog, copies, warned):
    rng = np.random.default_rng(3)
    train = rng.lognormal(5, 1, size=(30, 1, 10))
    fresh = rng.lognormal(5, 1, size=(64, 1, 10))

    def draw(model, labels, seed):
        assert seed == NOVELTY_SEED and len(labels) == 64 and labels.count("b") == 43
        return train[np.arange(len(labels)) % 30] if copies else fresh[: len(labels)]

    with caplog.at_level("INFO", logger="netdiffus.novelty"):
        value = check_fit(train, {"a": 10, "b": 20}, draw, torch.nn.Linear(1, 1))
    assert (value == 0.0) if copies else (0.7 < value < 1.4)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == warned
    if warned:
        assert warnings[0].startswith("the trained model replays its training traces: its draws sit 0.00 of")


def test_fit_reports_the_novelty_of_its_model(tiny_overrides):
    synth = TrafficSynthesizer.from_preset("demo", overrides=tiny_overrides, progress=False).fit(toy_dataset())
    assert synth.novelty_ > 0  # three steps of a tiny model draw noise, not copies
