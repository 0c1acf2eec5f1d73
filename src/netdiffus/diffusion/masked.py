"""Masked (absorbing-state) discrete diffusion over tokens: the process and its sampler.

For series of discrete values (packet sizes, directions, protocol byte counts) the forward process
replaces each token of ``x_0`` ``[N, C, T]`` by its channel's mask token with probability
``rate(t) = (t + 1) / timesteps``; at the last step every token is masked. The network sees
``x_t`` and the class and predicts, for every masked token, a distribution over its channel's
vocabulary; the loss is the cross-entropy of the masked tokens (their mean). Like
:class:`~netdiffus.diffusion.process.GaussianDiffusion`, the process holds no weights and takes
the network as an argument.

Sampling (:func:`sample_masked`) starts from an all-masked ``x`` and, over ``steps`` steps from
``rate = 1`` to 0, draws each masked token from the network's distribution and reveals it with
probability ``(rate_now - rate_next) / rate_now``; revealed tokens stay. Every random draw of
sample k comes from its own generator, so sample k is the same at any batch size.
Classifier-free guidance mixes the conditional and the null-class logits.

Examples
--------
>>> import torch
>>> process = MaskedDiffusion(timesteps=10)
>>> process.mask_rate(torch.tensor([0, 4, 9])).tolist()
[0.1, 0.5, 1.0]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from netdiffus.config import DiffusionConfig
from netdiffus.errors import ConfigError

__all__ = ["MaskedDiffusion", "sample_masked"]


class MaskedDiffusion:
    """The masked diffusion process over ``timesteps`` steps (no weights).

    The network called by :meth:`training_loss` and :func:`sample_masked` takes tokens ``[N, C, T]``
    (long, the mask token of channel c being ``model.mask_tokens[c]``), timesteps ``[N]`` and
    classes ``y`` ``[N]`` and returns one logits tensor ``[N, T, V_c]`` per channel.
    """

    kind = "masked"

    def __init__(self, *, timesteps: int = DiffusionConfig.timesteps) -> None:
        if isinstance(timesteps, bool) or not isinstance(timesteps, int) or timesteps < 2:
            raise ConfigError(f"timesteps must be an integer >= 2 (got {timesteps!r})")
        self.timesteps = timesteps

    @classmethod
    def from_config(cls, cfg: DiffusionConfig) -> MaskedDiffusion:
        """The process of a run's ``[diffusion]`` section (``process = "masked"``)."""
        return cls(timesteps=cfg.timesteps)

    def mask_rate(self, t: torch.Tensor) -> torch.Tensor:
        """The share of masked tokens at step ``t`` ``[N]``: ``(t + 1) / timesteps``."""
        return (t.double() + 1.0) / self.timesteps

    def training_loss(self, model: Callable[..., Any], x_0: torch.Tensor, *, y: torch.Tensor,
                      t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of the masked tokens of ``x_0`` ``[N, C, T]`` (token ids, any dtype).

        ``eps`` ``[N, C, T]`` is standard normal noise (the training loop's draw): token (n, c, i)
        is masked when ``Phi(eps) < rate(t_n)``, so the masks follow the loop's seeded generator.
        """
        tokens = x_0.long()
        u = 0.5 * (1.0 + torch.erf(eps.double() / math.sqrt(2.0)))
        masked = u < self.mask_rate(t).to(u.device)[:, None, None]
        mask_ids = _mask_ids(model, tokens)
        x_t = torch.where(masked, mask_ids[None, :, None].expand_as(tokens), tokens)
        logits = model(x_t, t, y=y)
        total = torch.zeros((), device=tokens.device)
        for c, lg in enumerate(logits):
            m = masked[:, c]
            if m.any():
                total = total + F.cross_entropy(lg[m].float(), tokens[:, c][m], reduction="sum")
        return total / masked.sum().clamp_min(1)


def _mask_ids(model: object, like: torch.Tensor) -> torch.Tensor:
    """The mask token of each channel ``[C]`` (the network's ``mask_tokens`` buffer; a wrapper
    such as DistributedDataParallel keeps the network under ``.module``)."""
    net: Any = getattr(model, "module", model)
    net = getattr(net, "_orig_mod", net)  # torch.compile
    return net.mask_tokens.to(like.device)


@torch.no_grad()
def sample_masked(
    model: nn.Module,
    process: MaskedDiffusion,
    *,
    shape: tuple[int, ...],
    y: torch.Tensor,
    seeds: Sequence[int],
    null_class: int,
    steps: int = 32,
    guidance_scale: float = 1.0,
    temperature: float = 1.0,
    progress: Callable[[int, int], None] | None = None,
    **_: object,
) -> torch.Tensor:
    """Draw tokens ``[N, *shape]`` (``shape = (C, T)``, as float) for class indices ``y`` ``[N]``.

    Parameters
    ----------
    seeds : sequence of int, length N
        One seed per sample: its categorical draws and reveals come from its own generator.
    steps : int
        Unmasking steps (each reveals about ``1 / steps`` of the tokens).
    guidance_scale : float
        Classifier-free guidance on the logits (1 = none).
    temperature : float
        Softmax temperature of the draws (1 = the network's distribution).

    Other keyword arguments of the Gaussian samplers (``sampler``, ``eta``, ``x0_transform``)
    are accepted and ignored.
    """
    if len(seeds) != y.shape[0]:
        raise ConfigError(f"seeds must have one entry per sample ({y.shape[0]}) (got {len(seeds)})")
    if not temperature > 0:
        raise ConfigError(f"temperature must be > 0 (got {temperature!r})")
    n, (c, length) = y.shape[0], shape
    device = y.device
    gens = [torch.Generator(device="cpu").manual_seed(int(s)) for s in seeds]
    mask_ids = _mask_ids(model, y)
    x = mask_ids[None, :, None].expand(n, c, length).clone()
    for i in range(steps):
        rate_now, rate_next = 1.0 - i / steps, 1.0 - (i + 1) / steps
        t = torch.full((n,), max(0, math.ceil(rate_now * process.timesteps) - 1), dtype=torch.long, device=device)
        logits = _guided_logits(model, x, t, y, null_class, guidance_scale)
        # per sample: one uniform per token for the draw and one for the reveal, channel by channel
        u = torch.stack([torch.rand((2, c, length), generator=g) for g in gens]).to(device)  # [N, 2, C, T]
        for ch, lg in enumerate(logits):
            p = torch.softmax(lg.double() / temperature, dim=-1)  # [N, T, V]
            draw = (p.cumsum(-1) < u[:, 0, ch, :, None]).sum(-1).clamp_max(p.shape[-1] - 1)
            masked = x[:, ch] == mask_ids[ch]
            reveal = masked & (u[:, 1, ch] < (rate_now - rate_next) / rate_now)
            x[:, ch] = torch.where(reveal, draw, x[:, ch])
        if progress is not None:
            progress(i + 1, steps)
    return x.to(torch.get_default_dtype())


def _guided_logits(model: nn.Module, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor, null_class: int,
                   w: float) -> list[torch.Tensor]:
    """Per channel ``[N, T, V]``: ``l_u + w (l_c - l_u)`` (the conditional logits when ``w = 1``)."""
    if w == 1.0:
        return model(x, t, y=y)
    out = model(torch.cat([x, x]), torch.cat([t, t]), y=torch.cat([y, torch.full_like(y, null_class)]))
    return [lu + w * (lc - lu) for lc, lu in (o.chunk(2) for o in out)]
