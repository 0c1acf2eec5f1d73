"""A class-conditional UNet for GASF images ``[N, C, T, T]`` (or 1-D series ``[N, C, T]``): a trunk
and a pluggable output head.

Weights only: no diffusion logic. The trunk (improved-diffusion style, made cheap for CPUs):

- an optional patchify stem folds ``p x p`` pixels into channels (``PixelUnshuffle``), so the
  first level runs at ``T / p`` and costs about ``1 / p**2`` of a full-resolution level;
- levels of residual blocks (GroupNorm, SiLU, 3x3 conv) with scale-shift conditioning on the sum
  of a sinusoidal time embedding and a class embedding (index ``num_classes`` is the null class
  used for classifier-free guidance); self-attention at chosen levels; stride-2 down, nearest up;
- a final GroupNorm + SiLU: features ``[N, ch, T/p, T/p]``.

The head turns the features into the output (``output`` and ``gasf_head``):

- :class:`ImageHead` (``"image"``): a free output, the patches unfolded back (``PixelShuffle``);
  ``symmetric_output`` returns ``(out + out^T) / 2``, since every GASF is symmetric.
- :class:`GasfPatchHead` (``"gasf"``, ``"patch"``) and :class:`GasfBinHead` (``"gasf"``,
  ``"bin"``): angles ``phi`` ``[N, C, T]`` in ``(0, pi/2)``, and the output is their GASF
  ``cos(phi_i + phi_j)`` (:func:`netdiffus.imaging.kernels.gasf_from_angles`), valid by
  construction.

Inputs whose size is not a multiple of ``p * 2**(levels - 1)`` are zero-padded and the output is
cropped back. Weights saved before the heads were modules (``out.0.weight``,
``fine_in.weight``: run folders of 0.1.0) load under the heads' names (``head.out.0.weight``).

Examples
--------
>>> import torch
>>> net = UNet(in_channels=1, num_classes=4, base_channels=8, channel_mult=(1, 2))
>>> x = torch.randn(3, 1, 10, 10)
>>> net(x, torch.tensor([1, 500, 999]), y=torch.tensor([0, 3, 4])).shape
torch.Size([3, 1, 10, 10])
>>> type(net.head).__name__, UNet(**net.config).config == net.config
('ImageHead', True)
"""

from __future__ import annotations

import math
from typing import Any, Literal, TypeVar, cast

import torch
import torch.nn.functional as F
from torch import nn

from netdiffus.config import ModelConfig
from netdiffus.errors import ConfigError
from netdiffus.imaging.kernels import gasf_from_angles

__all__ = ["UNet", "ImageHead", "GasfPatchHead", "GasfBinHead"]

_Layer = TypeVar("_Layer", bound=nn.Module)

Output = Literal["image", "gasf"]
GasfHead = Literal["patch", "bin"]


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of timesteps ``t`` ``[N]`` -> ``[N, dim]``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


def _norm(ch: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(8, ch), ch)


def _zero(layer: _Layer) -> _Layer:
    """Zero-initialise a layer's weight and bias (the block starts as the identity or zero)."""
    for p in layer.parameters():
        nn.init.zeros_(p)
    return layer


def fold_patches(x: torch.Tensor, p: int, dims: int) -> torch.Tensor:
    """``[N, C, *S]`` -> ``[N, C p**dims, *S/p]``: each ``p``-patch folded into channels."""
    if p == 1:
        return x
    if dims == 2:
        return F.pixel_unshuffle(x, p)
    n, c, t = x.shape
    return x.reshape(n, c, t // p, p).permute(0, 1, 3, 2).reshape(n, c * p, t // p)


def unfold_patches(x: torch.Tensor, p: int, dims: int) -> torch.Tensor:
    """Inverse of :func:`fold_patches`: ``[N, C p**dims, *S/p]`` -> ``[N, C, *S]``."""
    if p == 1:
        return x
    if dims == 2:
        return F.pixel_shuffle(x, p)
    n, cp, t = x.shape
    return x.reshape(n, cp // p, p, t).permute(0, 1, 3, 2).reshape(n, cp // p, t * p)


class ResBlock(nn.Module):
    def __init__(self, conv, ch_in: int, ch_out: int, emb_dim: int, dropout: float):
        super().__init__()
        self.norm1 = _norm(ch_in)
        self.conv1 = conv(ch_in, ch_out, 3, padding=1)
        self.emb = nn.Linear(emb_dim, 2 * ch_out)
        self.norm2 = _norm(ch_out)
        self.drop = nn.Dropout(dropout)
        self.conv2 = _zero(conv(ch_out, ch_out, 3, padding=1))
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
        self.proj = _zero(nn.Linear(ch, ch))

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        n, c = x.shape[:2]
        h = self.norm(x).reshape(n, c, -1).transpose(1, 2)  # [N, L, C]
        q, k, v = self.qkv(h).reshape(n, -1, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        h = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(n, -1, c)
        return x + self.proj(h).transpose(1, 2).reshape(x.shape)


class _Upsample(nn.Module):
    def __init__(self, conv, ch: int):
        super().__init__()
        self.conv = conv(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None = None) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


def _level_blocks(block: dict, ch_in: int, ch_out: int, lvl: int) -> nn.ModuleList:
    """One residual block of level ``lvl``, followed by self-attention at attention levels."""
    blocks = nn.ModuleList([ResBlock(block["conv"], ch_in, ch_out, block["emb_dim"], block["dropout"])])
    if lvl in block["attention_levels"]:
        blocks.append(Attention(ch_out))
    return blocks


def _down_path(block: dict, ch: int, widths: list[int], num_res_blocks: int) -> tuple[nn.ModuleList, list[int], int]:
    """Down levels from the stem's ``ch`` channels: residual blocks, then a stride-2 conv below all
    but the last level. Returns them, the channels of every skip connection (stem first) and the
    channels at the bottom."""
    down, skips = nn.ModuleList(), [ch]
    for lvl, width in enumerate(widths):
        for _ in range(num_res_blocks):
            down.append(_level_blocks(block, ch, width, lvl))
            ch = width
            skips.append(ch)
        if lvl < len(widths) - 1:
            down.append(nn.ModuleList([block["conv"](ch, ch, 3, stride=2, padding=1)]))
            skips.append(ch)
    return down, skips, ch


def _up_path(block: dict, ch: int, widths: list[int], num_res_blocks: int,
             skips: list[int]) -> tuple[nn.ModuleList, int]:
    """Up levels from the bottom's ``ch`` channels: ``num_res_blocks + 1`` residual blocks each (one
    per skip connection, popped), then a nearest 2x upsampling above all but the first level.
    Returns them and the channels at the top."""
    up = nn.ModuleList()
    for lvl, width in reversed(list(enumerate(widths))):
        for i in range(num_res_blocks + 1):
            blocks = _level_blocks(block, ch + skips.pop(), width, lvl)
            ch = width
            if lvl > 0 and i == num_res_blocks:
                blocks.append(_Upsample(block["conv"], ch))
            up.append(blocks)
    return up, ch


# -- heads ---------------------------------------------------------------------------------------
# A head's contract: ``head(h, *, x, emb, size)``: the trunk's features ``h`` ``[N, ch, *S'/p]``,
# the padded input ``x`` ``[N, C, *S']``, the embedding ``emb`` ``[N, E]`` and the unpadded size
# ``S`` -> the output ``[N, C_out, *S]``.
class ImageHead(nn.Module):
    """A free output ``[N, C_out, *S]`` (eps, v or x_0): a 3x3 convolution to ``C_out p**dims``
    channels, the patches unfolded, the padding cropped, and (2-D, ``symmetric``) symmetrised."""

    def __init__(self, conv, ch: int, out_channels: int, *, patch_size: int, dims: int, symmetric: bool):
        super().__init__()
        self.out = _zero(conv(ch, out_channels * patch_size**dims, 3, padding=1))
        self.patch_size, self.dims, self.symmetric = patch_size, dims, symmetric

    def forward(self, h: torch.Tensor, *, x: torch.Tensor, emb: torch.Tensor, size: torch.Size) -> torch.Tensor:
        h = unfold_patches(self.out(h), self.patch_size, self.dims)
        for d, s in enumerate(size):  # crop the padding
            h = h.narrow(2 + d, 0, s)
        if self.symmetric:
            h = 0.5 * (h + h.transpose(-1, -2))
        return h


def _row_readout(ch: int, out: int) -> nn.Sequential:
    """1-D readout of pooled row features ``[N, ch, T/p]`` -> ``[N, out, T/p]``."""
    return nn.Sequential(nn.Conv1d(ch, ch, 3, padding=1), _norm(ch), nn.SiLU(), nn.Conv1d(ch, out, 1))


def _pool_rows(h: torch.Tensor) -> torch.Tensor:
    """Symmetric pooling of features ``[N, ch, T/p, T/p]`` over rows and columns -> ``[N, ch, T/p]``."""
    return 0.5 * (h.mean(dim=-1) + h.mean(dim=-2))


def _gasf_of_logits(a: torch.Tensor, size: torch.Size) -> torch.Tensor:
    """Angle logits ``[N, C, T']`` -> the GASF ``[N, C, T, T]`` of angles in ``(0, pi/2)`` (scaled series in (0, 1))."""
    phi = 0.5 * torch.pi * torch.sigmoid(a[..., : size[-1]])
    return gasf_from_angles(phi)


class GasfPatchHead(nn.Module):
    """Valid GASF ``[N, C, T, T]``: the ``p`` angles of each patch from that patch's pooled features."""

    def __init__(self, ch: int, out_channels: int, *, patch_size: int):
        super().__init__()
        self.out = _row_readout(ch, out_channels * patch_size)
        _zero(self.out[-1])
        self.patch_size = patch_size

    def forward(self, h: torch.Tensor, *, x: torch.Tensor, emb: torch.Tensor, size: torch.Size) -> torch.Tensor:
        a = unfold_patches(self.out(_pool_rows(h)), self.patch_size, 1)  # [N, C, T']
        return _gasf_of_logits(a, size)


class GasfBinHead(nn.Module):
    """Valid GASF ``[N, C, T, T]``, its angles read out per bin: the pooled features unfolded to one
    vector per bin ``[N, hid, T']`` and refined at full resolution with 1-D convolutions that also
    see the noisy image's diagonal and row means ``[N, C, T']`` and the time / class embedding."""

    def __init__(self, ch: int, out_channels: int, *, in_channels: int, patch_size: int, hid: int, emb_dim: int):
        super().__init__()
        self.out = _row_readout(ch, hid * patch_size)
        self.fine_in = nn.Conv1d(hid + 2 * in_channels, hid, 3, padding=1)
        self.fine_emb = nn.Linear(emb_dim, hid)
        self.fine = nn.Sequential(_norm(hid), nn.SiLU(), nn.Conv1d(hid, hid, 3, padding=1),
                                  _norm(hid), nn.SiLU(), _zero(nn.Conv1d(hid, out_channels, 1)))
        self.patch_size = patch_size

    def forward(self, h: torch.Tensor, *, x: torch.Tensor, emb: torch.Tensor, size: torch.Size) -> torch.Tensor:
        a = unfold_patches(self.out(_pool_rows(h)), self.patch_size, 1)  # [N, hid, T']
        diag = torch.diagonal(x, dim1=-2, dim2=-1)  # [N, C, T']
        row_mean = 0.5 * (x.mean(dim=-1) + x.mean(dim=-2))  # [N, C, T']
        f = self.fine_in(torch.cat([a, diag, row_mean], dim=1)) + self.fine_emb(F.silu(emb))[..., None]
        return _gasf_of_logits(self.fine(f), size)


#: Names saved by 0.1.0 for what is now the head's (``out.0.weight`` -> ``head.out.0.weight``).
_HEAD_KEYS = ("out.", "fine_in.", "fine_emb.", "fine.")


def _migrate_head_keys(module: nn.Module, state_dict: dict, prefix: str, *args: Any) -> None:
    """``load_state_dict`` pre-hook: weights saved before the heads were modules load into them."""
    for key in [k for k in state_dict if k.startswith(prefix) and k[len(prefix):].startswith(_HEAD_KEYS)]:
        state_dict[f"{prefix}head.{key[len(prefix):]}"] = state_dict.pop(key)


class UNet(nn.Module):
    """Class-conditional UNet: trunk and head.

    Defaults are those of :class:`~netdiffus.config.ModelConfig` (built from it by
    :meth:`from_config`); ``config`` holds the constructor arguments, and ``UNet(**config)``
    rebuilds the network.

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
        Symmetrise the image output (2-D only).
    output : {"image", "gasf"}
        ``"image"``: a free ``[N, C_out, T, T]`` output (eps, v or x0), :class:`ImageHead`.
        ``"gasf"``: a valid GASF by construction (2-D only), an ``x_0`` prediction whose inverse
        is exact.
    gasf_head : {"patch", "bin"}
        With ``output="gasf"``: :class:`GasfPatchHead` predicts the ``p`` angles of each patch
        from that patch's pooled features; :class:`GasfBinHead` refines them per bin at the full
        resolution ``T`` (texture finer than a patch; a few 1-D convolutions, negligible cost).
        (The configuration's ``"auto"`` is decided from the data at fit; dense series get
        ``"patch"``, the default here.)
    """

    def __init__(
        self,
        *,
        in_channels: int,
        num_classes: int,
        out_channels: int | None = None,
        dims: int = 2,
        base_channels: int = ModelConfig.base_channels,
        channel_mult: tuple[int, ...] = ModelConfig.channel_mult,
        num_res_blocks: int = ModelConfig.num_res_blocks,
        attention_levels: tuple[int, ...] = ModelConfig.attention_levels,
        dropout: float = ModelConfig.dropout,
        patch_size: int = ModelConfig.patch_size,
        symmetric_output: bool = ModelConfig.symmetric_output,
        output: Output = ModelConfig.output,
        gasf_head: GasfHead = "patch",
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
        self.output, self.gasf_head, self.dims, self.patch_size = output, gasf_head, dims, patch_size
        self.levels, self.num_classes, self.base_channels = len(channel_mult), num_classes, base_channels
        self.symmetric_output = symmetric_output and dims == 2
        conv = nn.Conv2d if dims == 2 else nn.Conv1d
        emb_dim = 4 * base_channels
        self.time_mlp = nn.Sequential(nn.Linear(base_channels, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))
        self.class_emb = nn.Embedding(num_classes + 1, emb_dim)
        self.stem = conv(in_channels * patch_size**dims, base_channels, 3, padding=1)
        widths = [base_channels * m for m in channel_mult]
        block = dict(conv=conv, emb_dim=emb_dim, dropout=dropout, attention_levels=attention_levels)
        self.down, skips, ch = _down_path(block, base_channels, widths, num_res_blocks)
        self.mid = nn.ModuleList([ResBlock(conv, ch, ch, emb_dim, dropout), Attention(ch),
                                  ResBlock(conv, ch, ch, emb_dim, dropout)])
        self.up, ch = _up_path(block, ch, widths, num_res_blocks, skips)
        self.out_norm = _norm(ch)
        self.head = self._make_head(conv, ch, out_channels or in_channels, in_channels, emb_dim)
        self._register_load_state_dict_pre_hook(_migrate_head_keys, with_module=True)

    def _make_head(self, conv, ch: int, out_channels: int, in_channels: int, emb_dim: int) -> nn.Module:
        if self.output == "image":
            return ImageHead(conv, ch, out_channels, patch_size=self.patch_size, dims=self.dims,
                             symmetric=self.symmetric_output)
        if self.gasf_head == "patch":
            return GasfPatchHead(ch, out_channels, patch_size=self.patch_size)
        return GasfBinHead(ch, out_channels, in_channels=in_channels, patch_size=self.patch_size,
                           hid=self.base_channels, emb_dim=emb_dim)

    @classmethod
    def from_config(cls, model_cfg: ModelConfig, *, in_channels: int, num_classes: int, learn_sigma: bool = False,
                    dims: int = 2) -> UNet:
        """The network of configuration ``model_cfg`` for ``in_channels`` channels and ``num_classes``
        classes; ``2 in_channels`` outputs with ``learn_sigma``, ``dims`` 2 for images, 1 for series.

        ``model_cfg.gasf_head`` "auto" is decided from the data at fit, so a GASF output needs it
        resolved first; an image output does not use it.
        """
        m = model_cfg
        if m.gasf_head not in ("patch", "bin") and m.output == "gasf":
            raise ConfigError(f"model.gasf_head must be 'patch' or 'bin' to build the GASF head (got {m.gasf_head!r}: "
                              "'auto' is decided from the training data at fit)")
        head = {"gasf_head": m.gasf_head} if m.gasf_head in ("patch", "bin") else {}
        return cls(in_channels=in_channels, num_classes=num_classes, dims=dims,
                   out_channels=in_channels * (2 if learn_sigma else 1), base_channels=m.base_channels,
                   channel_mult=m.channel_mult, num_res_blocks=m.num_res_blocks,
                   attention_levels=m.attention_levels, dropout=m.dropout, patch_size=m.patch_size,
                   symmetric_output=m.symmetric_output, output=m.output, **head)

    @property
    def multiple(self) -> int:
        """Spatial sizes must be multiples of this (inputs are padded to it)."""
        return self.patch_size * 2 ** (self.levels - 1)

    def trunk(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """Padded input ``[N, C, *S]`` and embedding ``[N, E]`` -> features ``[N, ch, *S/p]``."""
        h = self.stem(fold_patches(x, self.patch_size, self.dims))
        hs = [h]
        for blocks in self.down:
            for b in cast(nn.ModuleList, blocks):
                h = b(h, emb) if isinstance(b, (ResBlock, Attention)) else b(h)
            hs.append(h)
        for b in self.mid:
            h = b(h, emb)
        for blocks in self.up:
            h = torch.cat([h, hs.pop()], dim=1)
            for b in cast(nn.ModuleList, blocks):
                h = b(h, emb)
        return F.silu(self.out_norm(h))

    def forward(self, x: torch.Tensor, t: torch.Tensor, *, y: torch.Tensor) -> torch.Tensor:
        """Noisy ``x`` ``[N, C, T, T]`` (or ``[N, C, T]``), timesteps ``t`` ``[N]``, classes ``y`` ``[N]``
        -> ``[N, C_out, T, T]`` (or ``[N, C_out, T]``)."""
        size = x.shape[2:]
        pads = [(-s) % self.multiple for s in size]
        if any(pads):
            x = F.pad(x, [q for p in reversed(pads) for q in (0, p)])
        emb = self.time_mlp(timestep_embedding(t, self.base_channels)) + self.class_emb(y)
        return self.head(self.trunk(x, emb), x=x, emb=emb, size=size)
