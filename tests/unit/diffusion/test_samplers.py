"""The sampler registry: the one declaration of the names, read by the config and the CLI."""

from __future__ import annotations

import argparse
import dataclasses
from typing import get_args, get_type_hints

import pytest
import torch

from netdiffus.config import SampleConfig
from netdiffus.diffusion.process import GaussianDiffusion
from netdiffus.diffusion.samplers import sample
from netdiffus.diffusion.steps import SAMPLERS, SamplerName, StepState, consistency_step
from netdiffus.errors import ConfigError


def test_config_lists_exactly_the_registered_samplers():
    assert get_args(get_type_hints(SampleConfig)["sampler"]) == tuple(SAMPLERS) == get_args(SamplerName)
    assert SampleConfig().sampler in SAMPLERS


def test_cli_choices_are_the_registered_samplers(capsys):
    from netdiffus.cli import sample as cli_sample

    parser = argparse.ArgumentParser(prog="netdiffus")
    sub = cli_sample.add_parser(parser.add_subparsers())
    assert "{" + ",".join(SAMPLERS) + "}" in sub.format_help()
    args = ["sample", "runs/x", "-n", "1", "-o", "x.parquet", "--sampler"]
    assert [parser.parse_args([*args, name]).sampler for name in SAMPLERS] == list(SAMPLERS)
    with pytest.raises(SystemExit):
        parser.parse_args([*args, "euler"])
    assert "invalid choice: 'euler'" in capsys.readouterr().err


def test_unknown_sampler_is_named():
    names = r"ddim, ddpm, dpmpp2m, distilled, consistency"
    with pytest.raises(ConfigError, match=rf"sampler must be one of {names} \(got 'euler'\)"):
        sample(lambda x, t, y: x, GaussianDiffusion(timesteps=10), shape=(1, 2), y=torch.tensor([0]), seeds=[0],
               null_class=1, sampler="euler")


def test_a_step_sees_the_state_and_returns_the_next_x():
    # a registered step is a plain function of the state: DDIM with eta 0 lands on x_0 at the last step
    x, x_0 = torch.ones(2, 3), torch.full((2, 3), 0.5)
    state = StepState(x=x, x_0=x_0, v_sigma=None, ab_t=0.5, ab_prev=1.0, i=0, n=1, eta=0.0,
                      process=GaussianDiffusion(timesteps=10), noise=lambda: torch.zeros(2, 3))
    for name in SAMPLERS:
        assert torch.allclose(SAMPLERS[name](dataclasses.replace(state, memory={})), x_0), name


def test_consistency_step_noises_the_prediction_afresh_to_the_next_level():
    # hand-computed: sqrt(0.36) * 0.5 + sqrt(1 - 0.36) * 1.0 = 0.3 + 0.8 = 1.1, whatever x_t was;
    # at the last step (ab_prev = 1) the prediction itself
    state = StepState(x=torch.full((1, 2), 7.0), x_0=torch.full((1, 2), 0.5), v_sigma=None, ab_t=0.1,
                      ab_prev=0.36, i=0, n=2, eta=0.0, process=GaussianDiffusion(timesteps=10),
                      noise=lambda: torch.ones(1, 2))
    assert torch.allclose(consistency_step(state), torch.full((1, 2), 1.1))
    last = dataclasses.replace(state, ab_prev=1.0, i=1)
    assert torch.equal(consistency_step(last), state.x_0)


@pytest.mark.parametrize(("sampler", "steps", "called_at"), [
    ("distilled", 1, [999]), ("consistency", 1, [999]), ("consistency", 2, [999, 500]),
    ("distilled", 4, [999, 749, 500, 250]), ("ddim", 2, [999, 0]),
])
def test_few_step_samplers_start_from_pure_noise_at_the_last_timestep(sampler, steps, called_at):
    seen = []

    def model(x, t, y):
        seen.append(int(t[0]))
        return torch.zeros_like(x)  # x0 prediction: the data mean

    x = sample(model, GaussianDiffusion(timesteps=1000, prediction="x0"), shape=(1, 3), y=torch.tensor([0, 1]),
               seeds=[3, 4], null_class=2, sampler=sampler, steps=steps)
    assert seen == called_at
    assert torch.equal(x, torch.zeros_like(x))  # both land on the last x_0


@pytest.mark.parametrize("sampler", ["distilled", "consistency"])
def test_few_step_sample_k_is_the_same_at_any_batch_size(sampler):
    torch.manual_seed(0)
    net = torch.nn.Linear(3, 3)
    model = lambda x, t, y: torch.tanh(net(x)) + 0.1 * y[:, None, None]  # noqa: E731
    kw = dict(shape=(1, 3), null_class=2, sampler=sampler, steps=3, eta=0.5)
    process = GaussianDiffusion(timesteps=100, prediction="x0")
    together = sample(model, process, y=torch.tensor([0, 1, 1]), seeds=[5, 6, 7], **kw)
    alone = sample(model, process, y=torch.tensor([1]), seeds=[6], **kw)
    assert torch.allclose(together[1], alone[0], atol=1e-6)
