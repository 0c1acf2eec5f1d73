"""Invertible scaling of traces to [0, 1], fitted on the training set.

The GASF needs values in [0, 1] (so that ``phi = arccos(x)`` lies in ``[0, pi/2]`` and the
diagonal ``cos(2 phi) = 2 x**2 - 1`` determines ``x`` without a sign ambiguity). Scaling modes:

- ``global-log`` (default): ``log1p`` of the value, then min-max fitted per channel on the
  training set.
- ``global-linear``: min-max per channel on the raw values.

Values outside the fitted range are clipped to [0, 1] and counted in ``n_clipped_``.

Examples
--------
>>> import numpy as np
>>> x = np.array([[[0.0, 9.0, 99.0]]])
>>> s = SeriesScaler(mode="global-log").fit(x)
>>> np.round(s.transform(x), 3).tolist()
[[[0.0, 0.5, 1.0]]]
>>> np.allclose(s.inverse_transform(s.transform(x)), x)
True
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from netdiffus.errors import ConfigError, DatasetError

__all__ = ["SeriesScaler", "ScalingMode", "SCALING_MODES"]

ScalingMode = Literal["global-log", "global-linear"]
SCALING_MODES: tuple[str, ...] = ("global-log", "global-linear")


class SeriesScaler:
    """Fit per-channel min-max scaling (optionally after ``log1p``) on ``[N, C, T]`` traces.

    Parameters
    ----------
    mode : {"global-log", "global-linear"}
    """

    def __init__(self, *, mode: ScalingMode = "global-log") -> None:
        self.mode = mode

    def _check_mode(self) -> None:
        if self.mode not in SCALING_MODES:
            raise ConfigError(f"scaling must be one of {', '.join(SCALING_MODES)} (got {self.mode!r})")

    def _forward(self, x: np.ndarray) -> np.ndarray:
        if self.mode == "global-log":
            if np.any(x < 0):
                raise DatasetError(
                    f"scaling 'global-log' needs values >= 0 (got minimum {float(np.min(x))}); "
                    "use scaling 'global-linear' for signed series"
                )
            return np.log1p(x)
        return x

    def _backward(self, y: np.ndarray) -> np.ndarray:
        return np.expm1(y) if self.mode == "global-log" else y

    def fit(self, x: np.ndarray) -> "SeriesScaler":
        """Fit on ``x`` ``[N, C, T]``; sets ``min_`` and ``max_`` ``[C]`` in the transformed domain."""
        self._check_mode()
        x = _as_nct(x)
        if not np.all(np.isfinite(x)):
            raise DatasetError("cannot fit scaling: series contain NaN or infinite values")
        y = self._forward(x.astype(np.float64))
        self.min_ = y.min(axis=(0, 2))
        self.max_ = y.max(axis=(0, 2))
        self.n_clipped_ = 0
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Scale ``x`` ``[N, C, T]`` to [0, 1] (float64), clipping and counting out-of-range values."""
        x = _as_nct(x).astype(np.float64)
        y = self._forward(x)
        span = np.where(self.max_ > self.min_, self.max_ - self.min_, 1.0)
        z = (y - self.min_[None, :, None]) / span[None, :, None]
        out = (z < 0) | (z > 1)
        self.n_clipped_ = int(out.sum())
        return np.clip(z, 0.0, 1.0)

    def inverse_transform(self, z: np.ndarray) -> np.ndarray:
        """Map scaled values ``[N, C, T]`` in [0, 1] back to original units (float64)."""
        z = _as_nct(np.asarray(z, dtype=np.float64))
        span = np.where(self.max_ > self.min_, self.max_ - self.min_, 1.0)
        y = np.clip(z, 0.0, 1.0) * span[None, :, None] + self.min_[None, :, None]
        return self._backward(y)

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "min": self.min_.tolist(), "max": self.max_.tolist()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "SeriesScaler":
        s = cls(mode=data["mode"])
        s.min_ = np.asarray(data["min"], dtype=np.float64)
        s.max_ = np.asarray(data["max"], dtype=np.float64)
        s.n_clipped_ = 0
        return s


def _as_nct(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 2:
        x = x[:, None, :]
    if x.ndim != 3:
        raise DatasetError(f"series must have shape [N, C, T] (got shape {tuple(x.shape)})")
    return x
