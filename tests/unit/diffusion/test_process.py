import numpy as np
import pytest
import torch

from netdiffus.diffusion.process import GaussianDiffusion
from netdiffus.diffusion.samplers import sample
from netdiffus.diffusion.schedule import alpha_bar_schedule
from netdiffus.diffusion.unet import UNet
from netdiffus.errors import ConfigError


@pytest.mark.parametrize("name", ["cosine", "linear"])
def test_schedule_monotone_in_unit_interval(name):
    ab = alpha_bar_schedule(name, 200)
    assert ab.dtype == np.float64 and ab.shape == (200,)
    assert np.all(np.diff(ab) < 0) and 0 < ab[-1] < ab[0] < 1


def test_unknown_schedule_named():
    with pytest.raises(ConfigError, match=r"schedule must be 'cosine' or 'linear' \(got 'exp'\)"):
        alpha_bar_schedule("exp", 10)


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_predictions_recover_x0_and_eps(prediction):
    p = GaussianDiffusion(timesteps=100, prediction=prediction)
    g = torch.Generator().manual_seed(0)
    x_0 = torch.rand(5, 1, 4, 4, generator=g, dtype=torch.float64) * 2 - 1
    eps = torch.randn(5, 1, 4, 4, generator=g, dtype=torch.float64)
    t = torch.tensor([0, 10, 50, 90, 99])
    x_t = p.q_sample(x_0, t, eps)
    out = p.target(x_0, t, eps)
    assert torch.allclose(p.predict_x0(x_t, t, out), x_0, atol=1e-8)
    assert torch.allclose(p.predict_eps(x_t, t, out), eps, atol=1e-8)


def test_timestep_spacing():
    p = GaussianDiffusion(timesteps=1000)
    ts = p.timestep_spacing(5)
    assert ts.tolist() == [999, 749, 500, 250, 0]
    assert p.timestep_spacing(1000).tolist() == list(range(999, -1, -1))


@pytest.mark.parametrize("sampler", ["ddim", "ddpm", "dpmpp2m"])
def test_sample_k_is_the_same_at_any_batch_size(sampler):
    torch.manual_seed(0)
    net = UNet(in_channels=1, num_classes=2, base_channels=8, channel_mult=(1, 2)).eval()
    for prm in net.parameters():  # non-zero output layer so the test sees the network
        prm.data.normal_(0, 0.05)
    p = GaussianDiffusion(timesteps=50)
    y = torch.tensor([0, 1, 1, 0])
    seeds = [11, 12, 13, 14]
    kw = dict(shape=(1, 6, 6), null_class=2, sampler=sampler, steps=5, guidance_scale=1.5)
    full = sample(net, p, y=y, seeds=seeds, **kw)
    part = sample(net, p, y=y[2:], seeds=seeds[2:], **kw)
    assert full.shape == (4, 1, 6, 6)
    assert torch.allclose(full[2:], part, atol=1e-5)
    assert not torch.allclose(full[0], full[3])


def _random_unet(std: float, **kw) -> UNet:
    """A 2-channel, 3-class UNet with random (not zero-initialised) output weights."""
    net = UNet(in_channels=2, num_classes=3, base_channels=8, patch_size=2, **kw)
    for prm in net.parameters():
        prm.data.normal_(0, std)
    return net


T_Y = dict(t=torch.tensor([3, 700]), y=torch.tensor([0, 3]))


def test_unet_symmetric_output_and_padding():
    net = _random_unet(0.05, channel_mult=(1, 2, 2), symmetric_output=True)
    x = torch.randn(2, 2, 10, 10)
    out = net(x, T_Y["t"], y=T_Y["y"])
    assert out.shape == x.shape
    assert torch.allclose(out, out.transpose(-1, -2))


@pytest.mark.parametrize("head", ["patch", "bin"])
def test_unet_gasf_output_is_a_valid_gasf(head):
    net = _random_unet(0.2, channel_mult=(1, 2), output="gasf", gasf_head=head)
    x = torch.randn(2, 2, 10, 10)
    out = net(x, T_Y["t"], y=T_Y["y"])
    assert out.shape == x.shape
    phi = 0.5 * torch.arccos(torch.diagonal(out, dim1=-2, dim2=-1).clamp(-1, 1))  # cos(2 phi) on the diagonal
    rebuilt = torch.cos(phi.unsqueeze(-1) + phi.unsqueeze(-2))
    torch.testing.assert_close(out, rebuilt, atol=1e-4, rtol=0)
    # Changing one sample's input changes its output and leaves the other sample's alone.
    x2 = x.clone()
    x2[0, 0, 3, :] += 1
    x2[0, 0, :, 3] += 1
    out2 = net(x2, T_Y["t"], y=T_Y["y"])
    assert not torch.allclose(out2[0], out[0]) and torch.allclose(out2[1], out[1])
    with pytest.raises(ValueError, match="gasf_head must be 'patch' or 'bin' \\(got 'row'\\)"):
        UNet(in_channels=1, num_classes=2, output="gasf", gasf_head="row")


def test_unet_1d():
    net = UNet(in_channels=1, num_classes=2, dims=1, base_channels=8, channel_mult=(1, 2), patch_size=2)
    assert net(torch.randn(3, 1, 14), torch.tensor([1, 2, 3]), y=torch.tensor([0, 1, 2])).shape == (3, 1, 14)


def test_learned_variance_bounds_and_hybrid_loss():
    p = GaussianDiffusion(timesteps=100, prediction="eps", learn_sigma=True)
    ab_t, ab_prev = float(p.alpha_bar_np[50]), float(p.alpha_bar_np[49])
    beta = 1 - ab_t / ab_prev
    beta_tilde = beta * (1 - ab_prev) / (1 - ab_t)
    lo = p.model_log_variance(torch.tensor([-1.0]), ab_t, ab_prev)
    hi = p.model_log_variance(torch.tensor([1.0]), ab_t, ab_prev)
    assert np.isclose(float(lo), np.log(beta_tilde), rtol=1e-5) and np.isclose(float(hi), np.log(beta), rtol=1e-5)
    net = UNet(in_channels=1, out_channels=2, num_classes=2, base_channels=8, channel_mult=(1, 2))
    x_0 = torch.rand(4, 1, 6, 6) * 2 - 1
    loss = p.training_loss(net, x_0, y=torch.tensor([0, 1, 2, 0]), generator=torch.Generator().manual_seed(0))
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert all(prm.grad is not None for prm in net.parameters() if prm.requires_grad)


def test_ddpm_with_learned_variance_samples():
    torch.manual_seed(0)
    net = UNet(in_channels=1, out_channels=2, num_classes=2, base_channels=8, channel_mult=(1, 2)).eval()
    p = GaussianDiffusion(timesteps=50, prediction="eps", learn_sigma=True)
    out = sample(net, p, shape=(1, 6, 6), y=torch.tensor([0, 1]), seeds=[1, 2], null_class=2, sampler="ddpm",
                 steps=10, guidance_scale=2.0)
    assert out.shape == (2, 1, 6, 6) and torch.isfinite(out).all() and out.abs().max() <= 1.0 + 1e-6
