"""Piecewise aggregate approximation (PAA): long series down to a chosen image size.

PAA splits ``T`` bins into ``S`` contiguous segments (bounds ``round(k * T / S)``, so segment
lengths differ by at most one bin when ``S`` does not divide ``T``) and keeps each segment's mean.
A series of bytes per bin stays in bytes per (original) bin. The inverse repeats each segment mean
over the bins of its segment: it is lossy (the within-segment shape is gone), but
``paa(paa_inverse(p, T), S) == p`` exactly.

Examples
--------
>>> import numpy as np
>>> x = np.array([1.0, 3.0, 5.0, 7.0, 9.0, 11.0])
>>> paa(x, size=3).tolist()
[2.0, 6.0, 10.0]
>>> paa_inverse(paa(x, size=3), length=6).tolist()
[2.0, 2.0, 6.0, 6.0, 10.0, 10.0]
"""

from __future__ import annotations

import numpy as np
import torch

from netdiffus.errors import ConfigError
from netdiffus.imaging.kernels import numpy_call

__all__ = ["paa_bounds", "paa", "paa_inverse", "paa_torch", "paa_inverse_torch"]


def paa_bounds(length: int, size: int) -> np.ndarray:
    """Segment bounds ``[size + 1]`` (int) splitting ``length`` bins into ``size`` segments.

    Raises
    ------
    ConfigError
        If ``size`` is not in ``1 .. length``.
    """
    if not 1 <= size <= length:
        raise ConfigError(f"image_size must be between 1 and the series length {length} (got {size})")
    return np.round(np.arange(size + 1) * (length / size)).astype(np.int64)


def _segment_ids(length: int, size: int) -> np.ndarray:
    """Segment index of every bin, ``[length]``."""
    bounds = paa_bounds(length, size)
    return np.repeat(np.arange(size), np.diff(bounds))


def paa_torch(x: torch.Tensor, *, size: int) -> torch.Tensor:
    """Segment means of ``x`` ``[..., T]`` -> ``[..., size]`` on the same device and dtype (same units per bin)."""
    t = x.shape[-1]
    bounds = paa_bounds(t, size)
    ids = torch.as_tensor(_segment_ids(t, size), device=x.device)
    sums = torch.zeros((*x.shape[:-1], size), dtype=x.dtype, device=x.device)
    sums.index_add_(x.ndim - 1, ids, x)
    counts = torch.as_tensor(np.diff(bounds), dtype=x.dtype, device=x.device)
    return sums / counts


def paa_inverse_torch(p: torch.Tensor, *, length: int) -> torch.Tensor:
    """Lossy inverse of :func:`paa_torch`: ``[..., S]`` -> ``[..., length]``, each mean repeated over its segment."""
    ids = torch.as_tensor(_segment_ids(length, p.shape[-1]), device=p.device)
    return p.index_select(p.ndim - 1, ids)


def paa(x: np.ndarray, *, size: int) -> np.ndarray:
    """Numpy adapter of :func:`paa_torch`: ``[..., T]`` -> ``[..., size]`` (float64)."""
    return numpy_call(paa_torch, x, size=size)


def paa_inverse(p: np.ndarray, *, length: int) -> np.ndarray:
    """Numpy adapter of :func:`paa_inverse_torch`: ``[..., S]`` -> ``[..., length]`` (float64)."""
    return numpy_call(paa_inverse_torch, p, length=length)
