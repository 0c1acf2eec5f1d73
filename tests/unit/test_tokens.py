"""The tokens representation with the transformer and masked diffusion (the packets preset)."""

import numpy as np
import pytest
import torch

from conftest import toy_dataset
from netdiffus import TrafficSynthesizer
from netdiffus.diffusion.masked import MaskedDiffusion, sample_masked
from netdiffus.diffusion.transformer import TokenTransformer
from netdiffus.errors import ConfigError

TINY_TOKENS = ["model.base_channels=16", "model.layers=1", "model.heads=2", "train.steps=30", "sample.steps=4",
               "train.batch_size=16"]


def _packets(n_per_class=6, length=8, seed=0):
    """Signed packet sizes from two patterns per class, sessions of 5 to 8 packets, zero padded."""
    ds = toy_dataset(n_per_class=n_per_class, length=length, seed=seed)
    rng = np.random.default_rng(seed)
    patterns = {"a": ([60, -342, 590, -60], [60, -342, 1500, -60]), "b": ([74, -74, 120, -800], [74, 201, -74, 120])}
    for k, lab in enumerate(ds.labels):
        p = patterns[lab][k % 2]
        n = int(rng.integers(5, length + 1))
        ds.series[k, 0] = 0
        ds.series[k, 0, :n] = (p * 2)[:n]
    return ds


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    run = tmp_path_factory.mktemp("tokens") / "run"
    synth = TrafficSynthesizer.from_preset("packets", overrides=TINY_TOKENS, progress=False)
    return synth.fit(_packets(), run_dir=run), run


def test_tokens_generate_only_training_values_and_end_where_sessions_end(fitted):
    synth, _ = fitted
    fake = synth.sample(20, seed=1).series[:, 0]
    held = set(np.unique(_packets().series).tolist())
    exact = set(np.concatenate(synth.representation_.vocabulary_.exact).tolist()) | {0.0}
    assert exact <= held
    lo, hi = np.abs(_packets().series[_packets().series != 0]).min(), np.abs(_packets().series).max()
    nonzero = np.abs(fake[fake != 0])
    assert (nonzero >= lo - 1e-3).all() and (nonzero <= hi + 1e-3).all()  # no size below the smallest seen
    ended = np.cumsum(fake == 0, axis=1) > 0
    assert (fake[ended] == 0).all()  # padding only at the end of a session


def test_a_token_run_samples_the_same_trace_at_any_batch_size_and_after_reloading(fitted):
    synth, run = fitted
    a = synth.sample(5, seed=3)
    b = TrafficSynthesizer.load(run, progress=False).sample(5, seed=3, batch_size=2)
    np.testing.assert_array_equal(a.series, b.series)
    assert a.labels == b.labels


def test_masked_training_loss_falls_and_sampling_is_per_sample_deterministic():
    torch.manual_seed(0)
    net = TokenTransformer(vocab_sizes=[5, 3], length=6, num_classes=2, width=16, layers=1, heads=2, dropout=0.0)
    process = MaskedDiffusion(timesteps=10)
    x_0 = torch.tensor([[[1, 2, 3, 4, 0, 0], [1, 2, 1, 2, 0, 0]]] * 8, dtype=torch.float32)
    y = torch.zeros(8, dtype=torch.long)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(40):
        t = torch.randint(0, 10, (8,), generator=g)
        loss = process.training_loss(net, x_0, y=y, t=t, eps=torch.randn(x_0.shape, generator=g))
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
    net.eval()
    both = sample_masked(net, process, shape=(2, 6), y=torch.tensor([0, 1]), seeds=[5, 6], null_class=2, steps=6)
    alone = sample_masked(net, process, shape=(2, 6), y=torch.tensor([1]), seeds=[6], null_class=2, steps=6)
    torch.testing.assert_close(both[1:], alone)
    assert (both < torch.tensor([5, 3])[None, :, None]).all()  # no mask token left


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["imaging.representation=gasf"],
         "imaging.representation 'tokens', model.network 'transformer' and diffusion.process 'masked' go together "
         "(got 'gasf', 'transformer', 'masked')"),
        (["model.heads=3"], "model.heads must be in [1, 64] and divide model.base_channels=64 (got 3)"),
    ],
)
def test_the_token_family_goes_together(overrides, message):
    from netdiffus.config import load_config

    with pytest.raises(ConfigError) as exc:
        load_config(preset="packets", overrides=overrides)
    assert str(exc.value) == message
