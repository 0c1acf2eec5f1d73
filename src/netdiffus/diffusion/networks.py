"""The families of network and process, declared once: which network a run trains and which
diffusion process trains and samples it.

- ``model.network = "unet"`` (:class:`~netdiffus.diffusion.unet.UNet`) with Gaussian diffusion
  (:class:`~netdiffus.diffusion.process.GaussianDiffusion`, sampled by
  :func:`~netdiffus.diffusion.samplers.sample`), for GASF images and scaled series;
- ``model.network = "transformer"`` (:class:`~netdiffus.diffusion.transformer.TokenTransformer`)
  with masked diffusion (:class:`~netdiffus.diffusion.masked.MaskedDiffusion`, sampled by
  :func:`~netdiffus.diffusion.masked.sample_masked`), for tokens.

Examples
--------
>>> from netdiffus.config import load_config
>>> cfg = load_config(preset="demo", overrides=["model.gasf_head=patch"])
>>> net = build_network(cfg, num_classes=3, in_channels=1, dims=2)
>>> type(net).__name__, type(network_from_json(net.config)).__name__
('UNet', 'UNet')
>>> type(build_process(cfg.diffusion)).__name__
'GaussianDiffusion'
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

import torch
from torch import nn

from netdiffus.config import DiffusionConfig, NetDiffusConfig, SampleConfig
from netdiffus.diffusion.masked import MaskedDiffusion, sample_masked
from netdiffus.diffusion.process import GaussianDiffusion
from netdiffus.diffusion.samplers import sample as sample_gaussian
from netdiffus.diffusion.transformer import TokenTransformer
from netdiffus.diffusion.unet import UNet

__all__ = ["build_network", "network_from_json", "network_config", "build_process", "sampling_loop", "Process"]

Process = GaussianDiffusion | MaskedDiffusion

_NETWORKS: dict[str, type[nn.Module]] = {"unet": UNet, "transformer": TokenTransformer}
_PROCESSES: dict[str, type[GaussianDiffusion] | type[MaskedDiffusion]] = {
    "gaussian": GaussianDiffusion, "masked": MaskedDiffusion}


def _gaussian_loop(model: nn.Module, process: GaussianDiffusion, *, sample: SampleConfig, **kw: Any) -> torch.Tensor:
    return sample_gaussian(model, process, sampler=sample.sampler, steps=sample.steps, eta=sample.eta,
                           guidance_scale=sample.guidance_scale, **kw)


def _masked_loop(model: nn.Module, process: MaskedDiffusion, *, sample: SampleConfig, **kw: Any) -> torch.Tensor:
    kw.pop("x0_transform", None)  # tokens have no x_0 hook
    return sample_masked(model, process, steps=sample.steps, guidance_scale=sample.guidance_scale,
                         temperature=sample.temperature, **kw)


_LOOPS: dict[type, Callable[..., torch.Tensor]] = {GaussianDiffusion: _gaussian_loop, MaskedDiffusion: _masked_loop}


def build_network(cfg: NetDiffusConfig, *, num_classes: int, **shape: Any) -> nn.Module:
    """The network ``cfg.model.network`` for ``num_classes`` classes and the inputs ``shape``
    describes (:meth:`netdiffus.representation.Representation.network_shape`)."""
    if cfg.model.network == "transformer":
        return TokenTransformer.from_config(cfg.model, num_classes=num_classes, **shape)
    return UNet.from_config(cfg.model, num_classes=num_classes, learn_sigma=cfg.diffusion.learn_sigma, **shape)


def network_from_json(config: dict[str, Any]) -> nn.Module:
    """Rebuild a network from the constructor arguments it recorded (``net.config``; without a
    ``network`` key, a UNet as saved by netdiffus 0.1.0)."""
    args = {k: v for k, v in config.items() if k != "network"}
    return _NETWORKS[config.get("network", "unet")](**args)


def network_config(net: nn.Module) -> dict[str, Any]:
    """The constructor arguments a network recorded (what :func:`network_from_json` reads)."""
    return cast(dict[str, Any], net.config)


def build_process(cfg: DiffusionConfig) -> Process:
    """The process ``cfg.process`` of a run's ``[diffusion]`` section."""
    return _PROCESSES[cfg.process].from_config(cfg)


def sampling_loop(process: Process) -> Callable[..., torch.Tensor]:
    """The function that draws ``x_0`` with ``process``, with the same keywords for every process:
    ``loop(model, process, shape=, y=, seeds=, null_class=, sample=SampleConfig, x0_transform=)``."""
    return _LOOPS[type(process)]
