"""Novelty: copies score 0, new real-like traces about 1, and training stops when draws turn to copies."""

import numpy as np
import pytest
import torch

from conftest import toy_dataset
from netdiffus import TrafficSynthesizer
from netdiffus.novelty import NoveltyMonitor, novelty, training_spacing


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
