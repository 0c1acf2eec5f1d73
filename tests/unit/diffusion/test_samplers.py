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
from netdiffus.diffusion.steps import SAMPLERS, SamplerName, StepState
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
    with pytest.raises(ConfigError, match=r"sampler must be one of ddim, ddpm, dpmpp2m \(got 'euler'\)"):
        sample(lambda x, t, y: x, GaussianDiffusion(timesteps=10), shape=(1, 2), y=torch.tensor([0]), seeds=[0],
               null_class=1, sampler="euler")


def test_a_step_sees_the_state_and_returns_the_next_x():
    # a registered step is a plain function of the state: DDIM with eta 0 lands on x_0 at the last step
    x, x_0 = torch.ones(2, 3), torch.full((2, 3), 0.5)
    state = StepState(x=x, x_0=x_0, v_sigma=None, ab_t=0.5, ab_prev=1.0, i=0, n=1, eta=0.0,
                      process=GaussianDiffusion(timesteps=10), noise=lambda: torch.zeros(2, 3))
    for name in SAMPLERS:
        assert torch.allclose(SAMPLERS[name](dataclasses.replace(state, memory={})), x_0), name
