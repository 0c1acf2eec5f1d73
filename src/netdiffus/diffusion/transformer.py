"""A class-conditional transformer over token sequences: the network of masked diffusion.

Weights only, no diffusion logic. Each position ``i`` of a trace holds one token per channel
(a packet's size, direction and timing, or a bin's value per direction); the network embeds the
tokens of a position and sums them, adds a learned position embedding, prepends one token for the
class (index ``num_classes`` is the null class of classifier-free guidance) and one for the
timestep, runs pre-norm transformer encoder layers over the sequence, and reads one distribution
per channel and position over that channel's vocabulary. Channels are generated jointly: every
position attends to every other position and channel.

Examples
--------
>>> import torch
>>> net = TokenTransformer(vocab_sizes=[12, 3], length=8, num_classes=4, width=16, layers=1, heads=2)
>>> x = net.mask_tokens[None, :, None].expand(5, 2, 8)       # all masked
>>> [tuple(lg.shape) for lg in net(x, torch.zeros(5, dtype=torch.long), y=torch.tensor([0, 1, 2, 3, 4]))]
[(5, 8, 12), (5, 8, 3)]
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from netdiffus.config import ModelConfig

__all__ = ["TokenTransformer"]


class TokenTransformer(nn.Module):
    """Class-conditional transformer predicting every token of a ``[N, C, T]`` token sequence.

    Parameters
    ----------
    vocab_sizes : list of int
        Tokens of each channel ``V_c``; the mask token of channel c is ``V_c``.
    length : int
        Positions ``T``.
    num_classes : int
        Real classes; the class embedding has one more row, the null class.
    width, layers, heads, dropout
        Model width, encoder layers, attention heads (``width % heads == 0``), dropout.
    """

    def __init__(self, *, vocab_sizes: list[int], length: int, num_classes: int, width: int = 64, layers: int = 3,
                 heads: int = 4, dropout: float = ModelConfig.dropout) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"width {width} must be a multiple of heads {heads}")
        self.config: dict[str, Any] = dict(network="transformer", vocab_sizes=list(vocab_sizes), length=length,
                                           num_classes=num_classes, width=width, layers=layers, heads=heads,
                                           dropout=dropout)
        self.register_buffer("mask_tokens", torch.tensor(list(vocab_sizes), dtype=torch.long), persistent=False)
        self.embed = nn.ModuleList([nn.Embedding(v + 1, width) for v in vocab_sizes])
        self.position = nn.Parameter(torch.randn(length, width) * 0.02)
        self.class_emb = nn.Embedding(num_classes + 1, width)
        self.time_emb = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        layer = nn.TransformerEncoderLayer(width, heads, 4 * width, dropout, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)
        self.heads = nn.ModuleList([nn.Linear(width, v) for v in vocab_sizes])

    @classmethod
    def from_config(cls, model_cfg: ModelConfig, *, vocab_sizes: list[int], length: int,
                    num_classes: int) -> TokenTransformer:
        """The network of a run's ``[model]`` section (``network = "transformer"``): width
        ``base_channels``, ``layers`` encoder layers of ``heads`` heads."""
        return cls(vocab_sizes=vocab_sizes, length=length, num_classes=num_classes, width=model_cfg.base_channels,
                   layers=model_cfg.layers, heads=model_cfg.heads, dropout=model_cfg.dropout)

    def _time(self, t: torch.Tensor) -> torch.Tensor:
        half = self.position.shape[1] // 2
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
        args = t.float()[:, None] * freqs[None]
        emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
        return self.time_emb(nn.functional.pad(emb, (0, self.position.shape[1] - emb.shape[1])))

    def forward(self, x: torch.Tensor, t: torch.Tensor, *, y: torch.Tensor) -> list[torch.Tensor]:
        """Tokens ``x`` ``[N, C, T]``, timesteps ``t`` ``[N]``, classes ``y`` ``[N]`` -> logits
        ``[N, T, V_c]`` for each channel c."""
        x = x.long()
        h = sum(emb(x[:, c]) for c, emb in enumerate(self.embed)) + self.position  # [N, T, W]
        h = torch.cat([self.class_emb(y)[:, None], self._time(t)[:, None], h], dim=1)
        h = self.norm(self.encoder(h))[:, 2:]
        return [head(h) for head in self.heads]
