"""A class-conditional UNet for GASF images ``[N, C, T, T]`` (or 1-D series ``[N, C, T]``).

Weights only: no diffusion logic. Layout (improved-diffusion style, made cheap for CPUs):

- an optional patchify stem folds ``p x p`` pixels into channels (``PixelUnshuffle``), so the
  first level runs at ``T / p`` and costs about ``1 / p**2`` of a full-resolution level;
- levels of residual blocks (GroupNorm, SiLU, 3x3 conv) with scale-shift conditioning on the sum
  of a sinusoidal time embedding and a class embedding (index ``num_classes`` is the null class
  used for classifier-free guidance); self-attention at chosen levels; stride-2 down, nearest up;
- the head unfolds the patches back (``PixelShuffle``); ``symmetric_output`` returns
  ``(out + out^T) / 2``, since every GASF is symmetric.

Inputs whose size is not a multiple of ``p * 2**(levels - 1)`` are zero-padded and the output is
cropped back.

Examples
--------
>>> import torch
>>> net = UNet(in_channels=1, num_classes=4, base_channels=8, channel_mult=(1, 2))
>>> x = torch.randn(3, 1, 10, 10)
>>> net(x, torch.tensor([1, 500, 999]), y=torch.tensor([0, 3, 4])).shape
torch.Size([3, 1, 10, 10])
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from netdiffus.config import ModelConfig

__all__ = ["UNet"]


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of timesteps ``t`` ``[N]`` -> ``[N, dim]``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def _norm(ch: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, ch), ch)


class ResBlock(nn.Module):
    def __init__(self, conv, ch_in: int, ch_out: int, emb_dim: int, dropout: float):
        super().__init__()
        self.norm1 = _norm(ch_in)
        self.conv1 = conv(ch_in, ch_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * ch_out)
        self.norm2 = _norm(ch_out)
        self.drop = nn.Dropout(dropout)
        self.conv2 = conv(ch_out, ch_out, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = conv(ch_in, ch_out, 1) if ch_in != ch_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = self.emb(emb).reshape(emb.shape[0], -1, *([1] * (x.ndim - 2))).chunk(2, dim=1)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.drop(F.silu(h)))
        return self.skip(x) + h


class Attention(nn.Module):
    def __init__(self, ch: int, heads: int = 4):
        super().__init__()
        self.heads = heads if ch % heads == 0 else 1
        self.norm = _norm(ch)
        self.qkv = nn.Linear(ch, 3 * ch)
        self.proj = nn.Linear(ch, ch)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        n, c = x.shape[:2]
        h = self.norm(x).reshape(n, c, -1).transpose(1, 2)  # [N, L, C]
        q, k, v = self.qkv(h).reshape(n, -1, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        h = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, -1, c)
        return x + self.proj(h).transpose(1, 2).reshape(x.shape)


class UNet(nn.Module):
    """Class-conditional UNet.

    Parameters
    ----------
    in_channels : int
        Image channels C.
    out_channels : int, optional
        Output channels (default C; 2C when the process learns the variance).
    num_classes : int
        Number of real classes; the embedding has one more row, the null class.
    dims : {1, 2}
        2 for GASF images ``[N, C, T, T]``, 1 for series ``[N, C, T]``.
    base_channels, channel_mult, num_res_blocks, attention_levels, dropout
        Width ``base_channels * channel_mult[l]`` at level ``l``; attention at the listed levels.
    patch_size : int
        Patchify factor of the stem.
    symmetric_output : bool
        Symmetrise the output (2-D only).
    output : {"image", "gasf"}
        ``"image"``: a free ``[N, C_out, T, T]`` output (eps, v or x0). ``"gasf"``: a valid GASF by
        construction (2-D only): the features are pooled over rows and columns into ``[N, ch, T]``,
        a 1-D head predicts angles ``phi`` in ``[0, pi/2]`` and the output is
        ``cos(phi_i + phi_j)``, an ``x_0`` prediction whose inverse is exact.
    gasf_head : {"patch", "bin"}
        With ``output="gasf"``: ``"patch"`` predicts the ``p`` angles of each patch from that
        patch's pooled features; ``"bin"`` unfolds the pooled features to one vector per bin and
        refines them at the full resolution ``T`` with 1-D convolutions that also see the noisy
        image's diagonal and row means ``[N, C, T]`` and the time / class embedding (texture
        finer than a patch; a few 1-D convolutions over ``T``, negligible cost).
    """

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        out_channels: int | None = None,
        dims: int = 2,
        base_channels: int = 32,
        channel_mult: tuple[int, ...] = (1, 2, 2),
        num_res_blocks: int = 1,
        attention_levels: tuple[int, ...] = (),
        dropout: float = 0.0,
        patch_size: int = 1,
        symmetric_output: bool = False,
        output: str = "image",
        gasf_head: str = "patch",
    ):
        super().__init__()
        self.config: dict[str, Any] = dict(
            in_channels=in_channels, num_classes=num_classes, out_channels=out_channels, dims=dims,
            base_channels=base_channels, channel_mult=list(channel_mult), num_res_blocks=num_res_blocks,
            attention_levels=list(attention_levels), dropout=dropout, patch_size=patch_size,
            symmetric_output=symmetric_output, output=output, gasf_head=gasf_head,
        )
        if output not in ("image", "gasf") or (output == "gasf" and dims != 2):
            raise ValueError(f"output must be 'image', or 'gasf' with dims=2 (got {output!r}, dims={dims})")
        if gasf_head not in ("patch", "bin"):
            raise ValueError(f"gasf_head must be 'patch' or 'bin' (got {gasf_head!r})")
        self.output = output
        self.gasf_head = gasf_head
        conv = nn.Conv2d if dims == 2 else nn.Conv1d
        self.dims = dims
        self.patch_size = patch_size
        self.levels = len(channel_mult)
        self.symmetric_output = symmetric_output and dims == 2
        self.num_classes = num_classes
        emb_dim = 4 * base_channels
        self.base_channels = base_channels
        self.time_mlp = nn.Sequential(nn.Linear(base_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.class_emb = nn.Embedding(num_classes + 1, emb_dim)
        stem_in = in_channels * patch_size**dims
        self.stem = conv(stem_in, base_channels, 3, padding=1)

        self.down = nn.ModuleList()
        skips = [base_channels]
        ch = base_channels
        for lvl, mult in enumerate(channel_mult):
            for _ in range(num_res_blocks):
                blocks = nn.ModuleList([ResBlock(conv, ch, base_channels * mult, emb_dim, dropout)])
                ch = base_channels * mult
                if lvl in attention_levels:
                    blocks.append(Attention(ch))
                self.down.append(blocks)
                skips.append(ch)
            if lvl < self.levels - 1:
                self.down.append(nn.ModuleList([conv(ch, ch, 3, stride=2, padding=1)]))
                skips.append(ch)
        self.mid = nn.ModuleList([ResBlock(conv, ch, ch, emb_dim, dropout), Attention(ch),
                                  ResBlock(conv, ch, ch, emb_dim, dropout)])
        self.up = nn.ModuleList()
        for lvl, mult in reversed(list(enumerate(channel_mult))):
            for i in range(num_res_blocks + 1):
                blocks = nn.ModuleList([ResBlock(conv, ch + skips.pop(), base_channels * mult, emb_dim, dropout)])
                ch = base_channels * mult
                if lvl in attention_levels:
                    blocks.append(Attention(ch))
                if lvl > 0 and i == num_res_blocks:
                    blocks.append(_Upsample(conv, ch, dims))
                self.up.append(blocks)
        self.out_norm = _norm(ch)
        if output == "gasf" and gasf_head == "patch":
            # [N, ch, T/p] row features -> p angles per position and channel
            self.out = nn.Sequential(nn.Conv1d(ch, ch, 3, padding=1), nn.GroupNorm(min(8, ch), ch), nn.SiLU(),
                                     nn.Conv1d(ch, (out_channels or in_channels) * patch_size, 1))
            nn.init.zeros_(self.out[-1].weight)
            nn.init.zeros_(self.out[-1].bias)
        elif output == "gasf":
            # [N, ch, T/p] row features -> [N, hid, T] per-bin features, refined at full resolution
            # together with the noisy image's diagonal and row means (2 C inputs per bin).
            hid = base_channels
            self.out = nn.Sequential(nn.Conv1d(ch, ch, 3, padding=1), nn.GroupNorm(min(8, ch), ch), nn.SiLU(),
                                     nn.Conv1d(ch, hid * patch_size, 1))
            self.fine_in = nn.Conv1d(hid + 2 * in_channels, hid, 3, padding=1)
            self.fine_emb = nn.Linear(emb_dim, hid)
            self.fine = nn.Sequential(nn.GroupNorm(min(8, hid), hid), nn.SiLU(), nn.Conv1d(hid, hid, 3, padding=1),
                                      nn.GroupNorm(min(8, hid), hid), nn.SiLU(),
                                      nn.Conv1d(hid, out_channels or in_channels, 1))
            nn.init.zeros_(self.fine[-1].weight)
            nn.init.zeros_(self.fine[-1].bias)
        else:
            self.out = conv(ch, (out_channels or in_channels) * patch_size**dims, 3, padding=1)
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)

    @classmethod
    def from_config(cls, cfg: ModelConfig, *, in_channels: int, num_classes: int, learn_sigma: bool,
                    dims: int) -> UNet:
        """The network of a run's ``[model]`` section for ``in_channels`` channels, ``num_classes``
        classes and ``dims`` spatial dimensions (2 outputs per channel when the process learns the
        variance)."""
        return cls(in_channels=in_channels, num_classes=num_classes,
                   out_channels=in_channels * (2 if learn_sigma else 1), dims=dims,
                   base_channels=cfg.base_channels, channel_mult=cfg.channel_mult,
                   num_res_blocks=cfg.num_res_blocks, attention_levels=cfg.attention_levels, dropout=cfg.dropout,
                   patch_size=cfg.patch_size, symmetric_output=cfg.symmetric_output, output=cfg.output,
                   gasf_head=cfg.gasf_head)

    @property
    def multiple(self) -> int:
        """Spatial sizes must be multiples of this (inputs are padded to it)."""
        return self.patch_size * 2 ** (self.levels - 1)

    def _fold(self, x: torch.Tensor) -> torch.Tensor:
        p = self.patch_size
        if p == 1:
            return x
        if self.dims == 2:
            return F.pixel_unshuffle(x, p)
        n, c, t = x.shape
        return x.reshape(n, c, t // p, p).permute(0, 1, 3, 2).reshape(n, c * p, t // p)

    def _unfold(self, x: torch.Tensor) -> torch.Tensor:
        p = self.patch_size
        if p == 1:
            return x
        if self.dims == 2:
            return F.pixel_shuffle(x, p)
        n, cp, t = x.shape
        return x.reshape(n, cp // p, p, t).permute(0, 1, 3, 2).reshape(n, cp // p, t * p)

    def forward(self, x: torch.Tensor, t: torch.Tensor, *, y: torch.Tensor) -> torch.Tensor:
        """``x`` ``[N, C, H, W]`` (or ``[N, C, T]``), ``t`` ``[N]`` timesteps, ``y`` ``[N]`` classes."""
        size = x.shape[2:]
        m = self.multiple
        pads = [(-s) % m for s in size]
        if any(pads):
            pad_arg = []
            for p in reversed(pads):
                pad_arg += [0, p]
            x = F.pad(x, pad_arg)
        emb = self.time_mlp(timestep_embedding(t, self.base_channels)) + self.class_emb(y)
        h = self.stem(self._fold(x))
        hs = [h]
        for blocks in self.down:
            for b in blocks:
                h = b(h, emb) if isinstance(b, (ResBlock, Attention)) else b(h)
            hs.append(h)
        for b in self.mid:
            h = b(h, emb)
        for blocks in self.up:
            h = torch.cat([h, hs.pop()], dim=1)
            for b in blocks:
                h = b(h, emb)
        h = F.silu(self.out_norm(h))
        if self.output == "gasf":
            return self._gasf_head(h, size, x, emb)
        h = self._unfold(self.out(h))
        if any(pads):
            h = h[(..., *[slice(0, s) for s in size])]
        if self.symmetric_output:
            h = 0.5 * (h + h.transpose(-1, -2))
        return h


    def _gasf_head(self, h: torch.Tensor, size, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """Features ``[N, ch, T/p, T/p]`` (and the padded input ``x`` ``[N, C, T', T']``, the
        embedding ``[N, E]``) -> a valid GASF ``[N, C, T, T]``."""
        rows = 0.5 * (h.mean(dim=-1) + h.mean(dim=-2))  # symmetric pooling: [N, ch, T/p]
        a = self.out(rows)  # [N, C * p, T/p] ("patch") or [N, hid * p, T/p] ("bin")
        n, cp, tp = a.shape
        p = self.patch_size
        a = a.reshape(n, cp // p, p, tp).permute(0, 1, 3, 2).reshape(n, cp // p, tp * p)
        if self.gasf_head == "bin":
            diag = torch.diagonal(x, dim1=-2, dim2=-1)  # [N, C, T']
            row_mean = 0.5 * (x.mean(dim=-1) + x.mean(dim=-2))  # [N, C, T']
            f = self.fine_in(torch.cat([a, diag, row_mean], dim=1)) + self.fine_emb(F.silu(emb))[..., None]
            a = self.fine(f)  # [N, C, T']
        a = a[..., : size[-1]]
        phi = 0.5 * torch.pi * torch.sigmoid(a)  # angles in (0, pi/2): scaled series in (0, 1)
        c, s = torch.cos(phi), torch.sin(phi)
        return c.unsqueeze(-1) * c.unsqueeze(-2) - s.unsqueeze(-1) * s.unsqueeze(-2)


class _Upsample(nn.Module):
    def __init__(self, conv, ch: int, dims: int):
        super().__init__()
        self.conv = conv(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))
