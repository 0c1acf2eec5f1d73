"""UNet: one factory from the configuration, its defaults, the heads, and weights saved under the
names of 0.1.0 (before the heads were modules)."""

from __future__ import annotations

import dataclasses
import inspect

import pytest
import torch
from torch import nn

from netdiffus.config import DiffusionConfig, ImagingConfig, ModelConfig, SampleConfig
from netdiffus.diffusion.process import GaussianDiffusion
from netdiffus.diffusion.samplers import sample
from netdiffus.diffusion.unet import GasfBinHead, GasfPatchHead, ImageHead, UNet
from netdiffus.errors import ConfigError
from netdiffus.imaging import GramianAngularField

SMALL = ModelConfig(base_channels=8, channel_mult=(1, 2), patch_size=2)


@pytest.mark.parametrize(
    ("output", "gasf_head", "dims", "head"),
    [("image", "auto", 2, ImageHead), ("image", "patch", 1, ImageHead), ("gasf", "patch", 2, GasfPatchHead),
     ("gasf", "bin", 2, GasfBinHead)],
)
def test_from_config_builds_the_configured_network(output, gasf_head, dims, head):
    cfg = dataclasses.replace(SMALL, output=output, gasf_head=gasf_head)
    net = UNet.from_config(cfg, in_channels=2, num_classes=3, learn_sigma=output == "image", dims=dims)
    assert isinstance(net.head, head)
    c = net.config
    assert (c["in_channels"], c["num_classes"], c["dims"], c["output"]) == (2, 3, dims, output)
    assert c["out_channels"] == (4 if output == "image" else 2)
    assert (c["base_channels"], c["channel_mult"], c["patch_size"]) == (8, [1, 2], 2)
    x = torch.randn(2, 2, *([6] * dims))
    assert net(x, torch.tensor([1, 2]), y=torch.tensor([0, 3])).shape == (2, c["out_channels"], *([6] * dims))
    # the saved constructor arguments rebuild the same network
    assert UNet(**c).config == c and list(UNet(**c).state_dict()) == list(net.state_dict())


def test_from_config_needs_the_gasf_head_decided():
    with pytest.raises(ConfigError, match=r"model.gasf_head must be 'patch' or 'bin' to build the GASF head "
                                          r"\(got 'auto': 'auto' is decided from the training data at fit\)"):
        UNet.from_config(dataclasses.replace(SMALL, output="gasf"), in_channels=1, num_classes=2)


def test_defaults_are_the_configuration_defaults():
    config = UNet(in_channels=1, num_classes=2).config
    model = dataclasses.asdict(ModelConfig())
    for key in ("base_channels", "num_res_blocks", "dropout", "patch_size", "symmetric_output", "output"):
        assert config[key] == model[key], key
    assert tuple(config["channel_mult"]) == model["channel_mult"]
    assert tuple(config["attention_levels"]) == model["attention_levels"]
    p, d = GaussianDiffusion(), DiffusionConfig()
    assert (p.timesteps, p.prediction, p.learn_sigma) == (d.timesteps, d.prediction, d.learn_sigma)
    assert torch.equal(p.alpha_bar, GaussianDiffusion.from_config(d).alpha_bar)
    gaf, im = GramianAngularField(), ImagingConfig()
    assert (gaf.inversion, gaf.gamma) == (im.inversion, im.gamma)
    assert gaf.scaling == "global-log"  # what imaging.scaling "auto" resolves to without negative values
    defaults = inspect.signature(sample).parameters
    for key in ("sampler", "steps", "eta", "guidance_scale"):
        assert defaults[key].default == getattr(SampleConfig, key), key


def test_diffusion_from_config():
    cfg = DiffusionConfig(timesteps=20, schedule="linear", prediction="x0", learn_sigma=True)
    p = GaussianDiffusion.from_config(cfg)
    assert (p.timesteps, p.prediction, p.learn_sigma) == (20, "x0", True)
    assert torch.equal(p.alpha_bar, GaussianDiffusion(timesteps=20, schedule="linear").alpha_bar)


def _old_names(state: dict[str, torch.Tensor], prefix: str = "") -> dict[str, torch.Tensor]:
    """A state dict as 0.1.0 saved it: the head's weights at the top (``out.0.weight``)."""
    return {k.replace(f"{prefix}head.", prefix, 1): v for k, v in state.items()}


@pytest.mark.parametrize("gasf_head", ["patch", "bin"])
def test_weights_saved_under_the_0_1_0_names_load(gasf_head):
    torch.manual_seed(0)
    net = UNet.from_config(dataclasses.replace(SMALL, output="gasf", gasf_head=gasf_head), in_channels=1,
                           num_classes=2)
    for prm in net.parameters():
        prm.data.normal_(0, 0.1)
    old = _old_names(net.state_dict())
    assert "out.0.weight" in old and not any(k.startswith("head.") for k in old)
    if gasf_head == "bin":
        assert {"fine_in.weight", "fine_emb.weight", "fine.2.weight"} <= set(old)
    fresh = UNet(**net.config)
    fresh.load_state_dict(old)  # strict: every name found
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), net.state_dict().values(), strict=True))
    # inside a wrapper (a prefix), and the current names, load too
    wrapped = nn.Sequential(UNet(**net.config))
    wrapped.load_state_dict(_old_names(nn.Sequential(net).state_dict(), prefix="0."))
    UNet(**net.config).load_state_dict(net.state_dict())
    assert torch.equal(wrapped[0].head.out[0].weight, net.head.out[0].weight)
    # out_norm is the trunk's, not the head's
    assert "out_norm.weight" in old and "head.out_norm.weight" not in fresh.state_dict()
