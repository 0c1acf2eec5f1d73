"""Golden outputs of the samplers and the UNet heads, recorded before the samplers became a
registry and the UNet a trunk with heads; both must keep them to the bit.

``data/golden.npz`` holds, for a tiny seeded UNet, the output of :func:`sample` for every sampler
with eta 0 and 0.7, guidance 1 and 2, the learned variance on and off, with and without an
``x0_transform`` (and a few edge cases); and for every head (image 1-D and 2-D, GASF patch and
per-bin) the seeded initial weights (per-parameter sums and first values, in the constructor's
registration order and under the 0.1.0 names) and the forward output with random weights.
Recorded on CPU with ``python tests/unit/diffusion/test_golden.py --record``; a change that moves
any of these numbers changes behaviour and must not re-record them silently.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from netdiffus.diffusion.process import GaussianDiffusion
from netdiffus.diffusion.samplers import sample
from netdiffus.diffusion.unet import UNet

GOLDEN = Path(__file__).with_name("data") / "golden.npz"
# The UNet's defaults when these were recorded (now ModelConfig's: patch 2, symmetric output)
RECORDED_DEFAULTS = dict(patch_size=1, symmetric_output=False)


def _symmetrise(x0: torch.Tensor) -> torch.Tensor:
    """A stand-in ``x0_transform`` (the projection onto GASFs has its own tests)."""
    return 0.5 * (x0 + x0.transpose(-1, -2)) * 0.9


def _sampler_net(learn_sigma: bool) -> UNet:
    torch.manual_seed(0)
    net = UNet(in_channels=1, out_channels=2 if learn_sigma else 1, num_classes=2, base_channels=8,
               channel_mult=(1, 2), **RECORDED_DEFAULTS).eval()
    for prm in net.parameters():  # non-zero output layer so the outputs see the network
        prm.data.normal_(0, 0.05)
    return net


def sampler_cases() -> list[tuple[str, dict]]:
    """``(key, arguments of sample besides model and process)``, plus ``learn_sigma`` and ``prediction``."""
    cases = []
    for sampler, eta, w, learn_sigma, transform in itertools.product(
            ("ddim", "ddpm", "dpmpp2m"), (0.0, 0.7), (1.0, 2.0), (False, True), (False, True)):
        key = f"sample/{sampler}/eta{eta}/w{w}/sigma{int(learn_sigma)}/tf{int(transform)}"
        cases.append((key, dict(sampler=sampler, eta=eta, guidance_scale=w, learn_sigma=learn_sigma,
                                prediction="eps" if learn_sigma else "v", steps=5,
                                x0_transform=_symmetrise if transform else None)))
    for sampler in ("ddim", "ddpm", "dpmpp2m"):
        cases.append((f"sample/{sampler}/x0-noclip", dict(sampler=sampler, prediction="x0", learn_sigma=False,
                                                          steps=5, clip_x0=False, eta=0.3)))
        cases.append((f"sample/{sampler}/steps1", dict(sampler=sampler, prediction="v", learn_sigma=False, steps=1)))
    # every step of T = 50: the original ancestral sampler, with the learned variance
    cases.append(("sample/ddpm/steps50", dict(sampler="ddpm", prediction="eps", learn_sigma=True, steps=50)))
    return cases


def run_sampler_case(kw: dict) -> torch.Tensor:
    kw = dict(kw)
    learn_sigma, prediction = kw.pop("learn_sigma"), kw.pop("prediction")
    process = GaussianDiffusion(timesteps=50, prediction=prediction, learn_sigma=learn_sigma)
    return sample(_sampler_net(learn_sigma), process, shape=(1, 6, 6), y=torch.tensor([0, 1, 1]),
                  seeds=[5, 6, 7], null_class=2, **kw)


UNET_CASES = {
    "image2d": (dict(in_channels=2, num_classes=3, base_channels=8, channel_mult=(1, 2, 2), patch_size=2,
                     symmetric_output=True, attention_levels=(1,)), (2, 2, 10, 10)),
    "image2d-p1-sigma": (dict(in_channels=2, out_channels=4, num_classes=3, base_channels=8, channel_mult=(1, 2),
                              num_res_blocks=2), (2, 2, 8, 8)),
    "image1d": (dict(in_channels=2, num_classes=3, dims=1, base_channels=8, channel_mult=(1, 2), patch_size=2),
                (2, 2, 14)),
    "image1d-p1": (dict(in_channels=1, num_classes=3, dims=1, base_channels=8, channel_mult=(1, 2, 2),
                        attention_levels=(0, 2)), (2, 1, 8)),
    "gasf-patch": (dict(in_channels=2, num_classes=3, base_channels=8, channel_mult=(1, 2), patch_size=2,
                        output="gasf", gasf_head="patch"), (2, 2, 10, 10)),
    "gasf-patch-p4": (dict(in_channels=1, num_classes=3, base_channels=8, channel_mult=(1, 2), patch_size=4,
                           output="gasf", gasf_head="patch", symmetric_output=True), (2, 1, 12, 12)),
    "gasf-bin": (dict(in_channels=2, num_classes=3, base_channels=8, channel_mult=(1, 2), patch_size=2,
                      output="gasf", gasf_head="bin"), (2, 2, 10, 10)),
    "gasf-bin-p4": (dict(in_channels=1, num_classes=3, base_channels=8, channel_mult=(1, 2, 2), patch_size=4,
                         output="gasf", gasf_head="bin", attention_levels=(2,)), (2, 1, 20, 20)),
}


def unet_case(name: str) -> tuple[UNet, dict[str, torch.Tensor], torch.Tensor]:
    """The seeded UNet of case ``name``, its initial state dict and its output with random weights."""
    kw, shape = UNET_CASES[name]
    kw = {**RECORDED_DEFAULTS, **kw}
    torch.manual_seed(1)
    net = UNet(**kw).eval()
    init = {k: v.clone() for k, v in net.state_dict().items()}
    torch.manual_seed(2)
    for prm in net.parameters():
        prm.data.normal_(0, 0.2)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(shape, generator=g)
    with torch.no_grad():
        out = net(x, torch.tensor([3, 700]), y=torch.tensor([0, 3]))
    return net, init, out


def _init_summary(init: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Per-parameter float64 sums and first 4 values, in order, under the state dict's names."""
    return {"keys": np.array(list(init)),
            "sums": np.array([float(v.double().sum()) for v in init.values()]),
            "heads": np.stack([np.pad(v.flatten()[:4].double().numpy(), (0, max(0, 4 - v.numel())))
                               for v in init.values()])}


def record() -> None:
    arrays = {key: run_sampler_case(kw).numpy() for key, kw in sampler_cases()}
    for name in UNET_CASES:
        _, init, out = unet_case(name)
        arrays[f"unet/{name}/out"] = out.numpy()
        arrays.update({f"unet/{name}/init/{k}": v for k, v in _init_summary(init).items()})
    GOLDEN.parent.mkdir(exist_ok=True)
    np.savez_compressed(GOLDEN, **arrays)


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN, allow_pickle=False) as data:
        yield dict(data)


@pytest.mark.parametrize(("key", "kw"), sampler_cases(), ids=[k for k, _ in sampler_cases()])
def test_sampler_outputs_are_the_recorded_ones(golden, key, kw):
    assert torch.equal(run_sampler_case(kw), torch.from_numpy(golden[key]))


@pytest.mark.parametrize("name", list(UNET_CASES))
def test_unet_init_and_forward_are_the_recorded_ones(golden, name):
    net, init, out = unet_case(name)
    assert torch.equal(out, torch.from_numpy(golden[f"unet/{name}/out"]))
    summary = _init_summary(init)
    # the same parameters drawn in the same order (a seeded fit builds the same network) ...
    np.testing.assert_array_equal(summary["sums"], golden[f"unet/{name}/init/sums"])
    np.testing.assert_array_equal(summary["heads"], golden[f"unet/{name}/init/heads"])
    # ... and a state dict saved under the 0.1.0 names loads into it
    old = {k: v for k, v in zip(golden[f"unet/{name}/init/keys"].tolist(), init.values(), strict=True)}
    fresh = UNet(**net.config)
    fresh.load_state_dict(old)
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), init.values(), strict=True))


if __name__ == "__main__" and sys.argv[1:] == ["--record"]:
    record()
