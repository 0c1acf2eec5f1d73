"""Gramian Angular Fields: the NetDiffus imaging step, invertible.

A series ``x`` scaled to [0, 1] becomes angles ``phi = arccos(x)`` in ``[0, pi/2]``; the
Gramian Angular Summation Field is ``G[i, j] = cos(phi_i + phi_j)`` (``[T] -> [T, T]``) and the
Difference Field is ``sin(phi_i - phi_j)``. The GASF diagonal ``cos(2 phi_i) = 2 x_i**2 - 1``
gives the series back exactly. Arrays stay float throughout: no PNG, no resize, no flip.

Examples
--------
>>> import numpy as np
>>> x = np.array([[[0.0, 3.0, 15.0]]])             # [N=1, C=1, T=3] bytes per bin
>>> gaf = GramianAngularField().fit(x)
>>> gasf = gaf.transform(x)                         # [1, 1, 3, 3]
>>> gasf.shape
(1, 1, 3, 3)
>>> np.allclose(gaf.inverse_transform(gasf), x)
True
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import torch

from netdiffus.errors import ConfigError, DatasetError
from netdiffus.imaging.scaling import ScalingMode, SeriesScaler

__all__ = [
    "GramianAngularField",
    "gasf",
    "gadf",
    "series_from_gasf_diagonal",
    "gasf_torch",
    "series_from_gasf_torch",
]

GafMethod = Literal["summation", "difference"]


def gasf(x01: np.ndarray) -> np.ndarray:
    """GASF of scaled series ``x01`` ``[..., T]`` in [0, 1] -> ``[..., T, T]``.

    ``cos(phi_i + phi_j) = x_i x_j - sqrt(1 - x_i^2) sqrt(1 - x_j^2)``.
    """
    x = np.clip(np.asarray(x01, dtype=np.float64), 0.0, 1.0)
    s = np.sqrt(np.clip(1.0 - x * x, 0.0, None))
    return x[..., :, None] * x[..., None, :] - s[..., :, None] * s[..., None, :]


def gadf(x01: np.ndarray) -> np.ndarray:
    """GADF of scaled series ``x01`` ``[..., T]`` -> ``[..., T, T]``: ``sin(phi_i - phi_j)``."""
    x = np.clip(np.asarray(x01, dtype=np.float64), 0.0, 1.0)
    s = np.sqrt(np.clip(1.0 - x * x, 0.0, None))
    return s[..., :, None] * x[..., None, :] - x[..., :, None] * s[..., None, :]


def series_from_gasf_diagonal(images: np.ndarray) -> np.ndarray:
    """Invert GASF images ``[..., T, T]`` from their diagonal -> scaled series ``[..., T]`` in [0, 1]."""
    d = np.diagonal(np.asarray(images, dtype=np.float64), axis1=-2, axis2=-1)
    return np.sqrt(np.clip((d + 1.0) / 2.0, 0.0, 1.0))


def gasf_torch(x01: torch.Tensor) -> torch.Tensor:
    """Torch twin of :func:`gasf`: ``[..., T]`` in [0, 1] -> ``[..., T, T]`` on the same device."""
    x = x01.clamp(0.0, 1.0)
    s = (1.0 - x * x).clamp_min(0.0).sqrt()
    return x.unsqueeze(-1) * x.unsqueeze(-2) - s.unsqueeze(-1) * s.unsqueeze(-2)


def series_from_gasf_torch(images: torch.Tensor) -> torch.Tensor:
    """Torch twin of :func:`series_from_gasf_diagonal`: ``[..., T, T]`` -> ``[..., T]``."""
    d = torch.diagonal(images, dim1=-2, dim2=-1)
    return ((d + 1.0) / 2.0).clamp(0.0, 1.0).sqrt()


class GramianAngularField:
    """Fitted, invertible Gramian Angular Field of ``[N, C, T]`` traces.

    Parameters
    ----------
    method : {"summation", "difference"}
        GASF (invertible) or GADF (not invertible from the image alone).
    scaling : {"global-log", "global-linear"}
        How traces are mapped to [0, 1] before imaging, fitted in :meth:`fit`.

    Attributes
    ----------
    scaler_ : SeriesScaler
        The fitted scaling.
    """

    def __init__(self, *, method: GafMethod = "summation", scaling: ScalingMode = "global-log") -> None:
        self.method = method
        self.scaling = scaling

    def fit(self, x: np.ndarray) -> "GramianAngularField":
        """Fit the scaling on training traces ``x`` ``[N, C, T]`` in original units."""
        if self.method not in ("summation", "difference"):
            raise ConfigError(f"method must be 'summation' or 'difference' (got {self.method!r})")
        self.scaler_ = SeriesScaler(mode=self.scaling).fit(x)
        return self

    def scale(self, x: np.ndarray) -> np.ndarray:
        """Original units ``[N, C, T]`` -> [0, 1] (float64)."""
        return self.scaler_.transform(x)

    def unscale(self, x01: np.ndarray) -> np.ndarray:
        """[0, 1] ``[N, C, T]`` -> original units (float64)."""
        return self.scaler_.inverse_transform(x01)

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Traces ``[N, C, T]`` in original units -> images ``[N, C, T, T]`` in [-1, 1] (float64)."""
        z = self.scale(x)
        return gasf(z) if self.method == "summation" else gadf(z)

    def inverse_transform(self, images: np.ndarray) -> np.ndarray:
        """Images ``[N, C, T, T]`` -> traces ``[N, C, T]`` in original units (float64)."""
        if self.method != "summation":
            raise ConfigError("method 'difference' (GADF) is not invertible: use method 'summation'")
        images = np.asarray(images)
        if images.ndim != 4 or images.shape[-1] != images.shape[-2]:
            raise DatasetError(f"images must have shape [N, C, T, T] (got shape {tuple(images.shape)})")
        return self.unscale(series_from_gasf_diagonal(images))

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "scaling": self.scaling, "scaler": self.scaler_.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "GramianAngularField":
        g = cls(method=data["method"], scaling=data["scaling"])
        g.scaler_ = SeriesScaler.from_json(data["scaler"])
        return g
