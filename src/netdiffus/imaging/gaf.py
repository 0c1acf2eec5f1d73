"""Gramian Angular Fields: the NetDiffus imaging step, invertible.

A series ``x`` scaled to [0, 1] becomes angles ``phi = arccos(x)`` in ``[0, pi/2]``; the
Gramian Angular Summation Field is ``G[i, j] = cos(phi_i + phi_j)`` (``[T] -> [T, T]``) and the
Difference Field is ``sin(phi_i - phi_j)``. The GASF diagonal ``cos(2 phi_i) = 2 x_i**2 - 1``
gives the series back exactly (``diagonal`` inversion); the ``projection`` inversion fits the
angles to all ``T x T`` entries (:mod:`netdiffus.imaging.projection`), which is far less
sensitive to noise in generated images (the default, as in the configuration). Arrays stay
float throughout: no PNG, no 8-bit quantisation, no resize.

Each step is one torch kernel (:mod:`netdiffus.imaging.kernels`, :mod:`~netdiffus.imaging.paa`,
:class:`~netdiffus.imaging.scaling.SeriesScaler`); the ``*_torch`` methods run them on the
caller's device and dtype, and the numpy methods are adapters around them (arrays in, float64
through the kernels, arrays out).

The pipeline of :class:`GramianAngularField`, each step exactly invertible except PAA:

1. optional PAA to ``image_size`` bins (:mod:`netdiffus.imaging.paa`; lossy),
2. scaling to [0, 1] (:class:`~netdiffus.imaging.scaling.SeriesScaler`),
3. GASF (or GADF, not invertible),
4. optional gamma correction ``2 ((G + 1) / 2) ** gamma - 1`` (the paper used gamma = 0.25 on
   ``(G + 1) / 2``; here the result is mapped back to [-1, 1]).

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

Per-trace scaling (the paper's), gamma correction and projection inversion:

>>> x = np.array([[[2.0, 4.0, 6.0, 5.0]], [[10.0, 30.0, 20.0, 0.0]]])
>>> gaf = GramianAngularField(scaling="per-series", gamma=0.25, inversion="projection").fit(x)
>>> images = gaf.transform(x)
>>> np.allclose(gaf.inverse_transform(images, scale=gaf.trace_scale(x)), x)
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import torch

from netdiffus.config import ImagingConfig
from netdiffus.errors import ConfigError, DatasetError
from netdiffus.imaging.kernels import gadf_torch, gasf_torch, numpy_call, series_from_gasf_torch
from netdiffus.imaging.paa import paa, paa_bounds, paa_inverse_torch, paa_torch
from netdiffus.imaging.projection import (
    DEFAULT_PROJECTION_STEPS,
    gasf_consistency_torch,
    project_gasf_torch,
    series_from_gasf_projection_torch,
)
from netdiffus.imaging.scaling import (
    DEFAULT_SCALING,
    ArrayOrTensor,
    ScalingMode,
    SeriesScaler,
    TraceScaleModel,
    _as_nct,
)

__all__ = [
    "GramianAngularField",
    "GafMethod",
    "InversionMethod",
    "gasf",
    "gadf",
    "series_from_gasf_diagonal",
    "gasf_torch",
    "gadf_torch",
    "series_from_gasf_torch",
    "gamma_correct",
    "gamma_uncorrect",
]

GafMethod = Literal["summation", "difference"]
InversionMethod = Literal["diagonal", "projection"]
_METHODS = ("summation", "difference")
_INVERSIONS = ("diagonal", "projection")


def gasf(x01: np.ndarray) -> np.ndarray:
    """GASF of scaled series ``x01`` ``[..., T]`` in [0, 1] -> ``[..., T, T]`` (float64).

    ``cos(phi_i + phi_j) = x_i x_j - sqrt(1 - x_i^2) sqrt(1 - x_j^2)``; numpy adapter of
    :func:`~netdiffus.imaging.kernels.gasf_torch`.

    Examples
    --------
    >>> gasf(np.array([0.0, 0.5, 1.0])).round(3).tolist()
    [[-1.0, -0.866, 0.0], [-0.866, -0.5, 0.5], [0.0, 0.5, 1.0]]
    """
    return numpy_call(gasf_torch, x01)


def gadf(x01: np.ndarray) -> np.ndarray:
    """GADF of scaled series ``x01`` ``[..., T]`` -> ``[..., T, T]``: ``sin(phi_i - phi_j)`` (float64)."""
    return numpy_call(gadf_torch, x01)


def series_from_gasf_diagonal(images: np.ndarray) -> np.ndarray:
    """Invert GASF images ``[..., T, T]`` from their diagonal -> scaled series ``[..., T]`` in [0, 1]."""
    return numpy_call(series_from_gasf_torch, images)


def gamma_correct(g: ArrayOrTensor, *, gamma: float) -> ArrayOrTensor:
    """Gamma correction of a field ``g`` in [-1, 1]: ``2 ((g + 1) / 2) ** gamma - 1``, in [-1, 1].

    Works on numpy arrays and torch tensors. ``gamma=1`` is the identity.
    """
    if gamma == 1.0:
        return g
    u = ((g + 1.0) / 2.0).clip(0.0, 1.0)
    return 2.0 * u**gamma - 1.0


def gamma_uncorrect(images: ArrayOrTensor, *, gamma: float) -> ArrayOrTensor:
    """Exact inverse of :func:`gamma_correct` (values outside [-1, 1] are clipped first)."""
    return gamma_correct(images, gamma=1.0 / gamma)


class GramianAngularField:
    """Fitted, invertible Gramian Angular Field of ``[N, C, T]`` traces -> ``[N, C, S, S]`` images.

    Parameters
    ----------
    method : {"summation", "difference"}
        GASF (invertible) or GADF (not invertible: ``sin(phi_i - phi_j)`` fixes only angle
        differences, and its diagonal is 0).
    scaling : {"global-log", "global-linear", "per-series", "per-series-log"}
        How traces are mapped to [0, 1] before imaging (see :mod:`netdiffus.imaging.scaling`).
        Per-series modes need a trace scale ``[N, C, 2]`` to invert; for generated images sample
        it with :meth:`sample_scale` (fitted when ``labels`` are passed to :meth:`fit`). The
        default, ``global-log``, is what the configuration's ``auto`` resolves to for series
        without negative values (``auto`` is resolved before the field is built).
    gamma : float
        Gamma correction exponent (> 0) applied to ``(G + 1) / 2``; 1 (default) is none, the paper
        used 0.25. Inverted exactly.
    image_size : int, optional
        Image side ``S``: reduce series of ``T`` bins to ``S`` by PAA first (lossy). Default:
        ``S = T``.
    inversion : {"diagonal", "projection"}
        Default inversion of :meth:`inverse_transform`: the GASF diagonal (the paper's), or the
        nearest valid GASF over all entries (robust to noise; the default, as in
        :class:`~netdiffus.config.ImagingConfig`).
    projection_steps : int
        Gauss-Newton steps of the projection (3 reach the least-squares optimum on B1 images).

    Attributes
    ----------
    scaler_ : SeriesScaler
        The fitted scaling.
    n_timestamps_ : int
        Series length ``T`` seen in :meth:`fit` (the length :meth:`inverse_transform` returns).
    n_channels_ : int
    scale_model_ : TraceScaleModel or None
        Class-conditional model of the per-trace scale (per-series modes, fitted with labels).
    """

    def __init__(
        self,
        *,
        method: GafMethod = "summation",
        scaling: ScalingMode = DEFAULT_SCALING,
        gamma: float = ImagingConfig.gamma,
        image_size: int | None = None,
        inversion: InversionMethod = ImagingConfig.inversion,
        projection_steps: int = DEFAULT_PROJECTION_STEPS,
    ) -> None:
        self.method = method
        self.scaling = scaling
        self.gamma = gamma
        self.image_size = image_size
        self.inversion = inversion
        self.projection_steps = projection_steps

    # -- validation --------------------------------------------------------------------------
    def _check_params(self) -> None:
        if self.method not in _METHODS:
            raise ConfigError(f"method must be 'summation' or 'difference' (got {self.method!r})")
        if isinstance(self.gamma, bool) or not (
            isinstance(self.gamma, (int, float, np.integer, np.floating)) and self.gamma > 0 and np.isfinite(self.gamma)
        ):
            raise ConfigError(f"gamma must be a number > 0 (got {self.gamma!r})")
        if self.inversion not in _INVERSIONS:
            raise ConfigError(f"inversion must be 'diagonal' or 'projection' (got {self.inversion!r})")
        if not (isinstance(self.projection_steps, (int, np.integer)) and self.projection_steps >= 0):
            raise ConfigError(f"projection_steps must be an integer >= 0 (got {self.projection_steps!r})")
        if self.image_size is not None and not (
            isinstance(self.image_size, (int, np.integer)) and self.image_size >= 1
        ):
            raise ConfigError(f"image_size must be an integer >= 1 (got {self.image_size!r})")

    def _check_fitted(self) -> None:
        if not hasattr(self, "scaler_"):
            raise ConfigError("GramianAngularField is not fitted: call fit(x) first")

    @property
    def size_(self) -> int:
        """Image side ``S`` (``image_size``, or the fitted length)."""
        return self.n_timestamps_ if self.image_size is None else int(self.image_size)

    def _check_series(self, x: np.ndarray | torch.Tensor) -> None:
        if x.ndim != 3:
            raise DatasetError(f"series must have shape [N, C, T] (got shape {tuple(x.shape)})")
        if x.shape[1] != self.n_channels_ or x.shape[2] != self.n_timestamps_:
            raise DatasetError(
                f"series must have shape [N, {self.n_channels_}, {self.n_timestamps_}] as fitted "
                f"(got shape {tuple(x.shape)})"
            )

    def _check_images(self, images: np.ndarray | torch.Tensor) -> None:
        s = self.size_
        if images.ndim != 4 or tuple(images.shape[1:]) != (self.n_channels_, s, s):
            raise DatasetError(
                f"images must have shape [N, {self.n_channels_}, {s}, {s}] (got shape {tuple(images.shape)})"
            )

    def _resolve_inversion(self, inversion: InversionMethod | None, steps: int | None) -> tuple[str, int]:
        if self.method != "summation":
            raise ConfigError("method 'difference' (GADF) is not invertible: use method 'summation'")
        inv = self.inversion if inversion is None else inversion
        if inv not in _INVERSIONS:
            raise ConfigError(f"inversion must be 'diagonal' or 'projection' (got {inv!r})")
        st = self.projection_steps if steps is None else steps
        if not (isinstance(st, (int, np.integer)) and st >= 0):
            raise ConfigError(f"steps must be an integer >= 0 (got {st!r})")
        return inv, int(st)

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, x: np.ndarray, *, labels: Sequence[str] | None = None) -> GramianAngularField:
        """Fit the scaling on training traces ``x`` ``[N, C, T]`` in original units.

        Parameters
        ----------
        x : ndarray ``[N, C, T]``
            Training traces (e.g. bytes per bin); ``[N, T]`` is read as one channel.
        labels : sequence of str, optional
            Class of each trace. In per-series modes, fits :attr:`scale_model_` on the trace
            scales so that :meth:`sample_scale` can generate a scale for each generated image.
        """
        self._check_params()
        x = _as_nct(np.asarray(x, dtype=np.float64))
        self.n_channels_ = int(x.shape[1])
        self.n_timestamps_ = int(x.shape[2])
        if self.image_size is not None:
            paa_bounds(self.n_timestamps_, int(self.image_size))  # raises when image_size > T
        xr = self._reduce(x)
        self.scaler_ = SeriesScaler(mode=self.scaling).fit(xr)
        self.scale_model_: TraceScaleModel | None = None
        if labels is not None and self.scaler_.per_trace:
            self.scale_model_ = TraceScaleModel().fit(
                self.scaler_.trace_scale(xr), labels=labels, series01=self.scaler_.transform(xr)
            )
        return self

    def _reduce(self, x: np.ndarray) -> np.ndarray:
        return x if self.size_ == self.n_timestamps_ else paa(x, size=self.size_)

    def trace_scale(self, x: np.ndarray) -> np.ndarray:
        """Per-trace scale ``[N, C, 2]`` (min, max per channel, original units) of traces ``x`` (after PAA)."""
        self._check_fitted()
        x = _as_nct(np.asarray(x, dtype=np.float64))
        self._check_series(x)
        return self.scaler_.trace_scale(self._reduce(x))

    def sample_scale(
        self,
        labels: Sequence[str],
        *,
        seed: int | np.random.Generator | None = 0,
        images: np.ndarray | torch.Tensor | None = None,
    ) -> np.ndarray:
        """Generate a trace scale ``[len(labels), C, 2]`` (min, max, original units) per class label.

        For the per-series modes; requires ``fit(x, labels=...)``.

        Parameters
        ----------
        labels : sequence of str
            Class of each generated trace.
        seed : int or numpy Generator
            Seed of the draw.
        images : ndarray or tensor ``[len(labels), C, S, S]``, optional
            The generated images: each scale is then drawn given its image's shape (mean, spread
            and share of near-minimum bins of the inverted series), which keeps the link between
            shape and amplitude. Without images, the scale depends on the class only.
        """
        self._check_fitted()
        if self.scale_model_ is None:
            raise ConfigError(
                f"no scale model: sample_scale needs a per-series scaling fitted with labels "
                f"(scaling is {self.scaling!r})"
            )
        series01 = None
        if images is not None:
            inv, st = self._resolve_inversion(None, None)
            g = gamma_uncorrect(torch.as_tensor(images).detach().to("cpu", torch.float64), gamma=self.gamma)
            self._check_images(g)
            series01 = self._series01_torch(g, inv, st).numpy()
        return self.scale_model_.sample(labels, seed=seed, series01=series01)

    # -- torch kernels: ``[N, C, T]`` series <-> ``[N, C, S]`` scaled <-> ``[N, C, S, S]`` images
    def _scale_torch(self, x: torch.Tensor, scale: torch.Tensor | np.ndarray | None) -> torch.Tensor:
        """Original units ``[N, C, T]`` -> [0, 1] ``[N, C, S]`` (PAA first if ``image_size``)."""
        self._check_fitted()
        x = _as_nct(x)
        self._check_series(x)
        if not x.is_floating_point():
            x = x.to(torch.get_default_dtype())
        if self.size_ != self.n_timestamps_:
            x = paa_torch(x, size=self.size_)
        return self.scaler_.transform_torch(x, scale=scale)

    def _unscale_torch(self, z: torch.Tensor, scale: torch.Tensor | np.ndarray | None) -> torch.Tensor:
        """[0, 1] ``[N, C, S]`` -> original units ``[N, C, T]`` (PAA inverse if ``image_size``)."""
        self._check_fitted()
        y = self.scaler_.inverse_transform_torch(z, scale=scale)
        return y if self.size_ == self.n_timestamps_ else paa_inverse_torch(y, length=self.n_timestamps_)

    @staticmethod
    def _series01_torch(g: torch.Tensor, inversion: str, steps: int) -> torch.Tensor:
        """Fields ``G`` ``[N, C, S, S]`` -> scaled series ``[N, C, S]`` by the given inversion."""
        if inversion == "diagonal":
            return series_from_gasf_torch(g)
        return series_from_gasf_projection_torch(g, steps=steps)

    def transform_torch(self, x: torch.Tensor, *, scale: torch.Tensor | np.ndarray | None = None) -> torch.Tensor:
        """Traces ``[N, C, T]`` -> images ``[N, C, S, S]`` in [-1, 1], on the traces' device and dtype.

        ``scale`` (per-series modes only) overrides the traces' own ``[N, C, 2]`` scale.
        """
        z = self._scale_torch(x, scale)
        g = gasf_torch(z) if self.method == "summation" else gadf_torch(z)
        return gamma_correct(g, gamma=self.gamma)

    def inverse_transform_torch(
        self,
        images: torch.Tensor,
        *,
        scale: torch.Tensor | np.ndarray | None = None,
        inversion: InversionMethod | None = None,
        steps: int | None = None,
    ) -> torch.Tensor:
        """Images ``[N, C, S, S]`` -> traces ``[N, C, T]`` in original units, on the images' device.

        Parameters
        ----------
        images : tensor ``[N, C, S, S]``
            GASF images as returned by :meth:`transform_torch`, or generated ones.
        scale : tensor or ndarray ``[N, C, 2]``, optional
            Trace scales (min, max in original units); required by the per-series modes.
        inversion : {"diagonal", "projection"}, optional
            Overrides the ``inversion`` given at construction.
        steps : int, optional
            Overrides ``projection_steps``.

        No host synchronisation: safe to call inside a sampling loop on the GPU.
        """
        self._check_fitted()
        inv, st = self._resolve_inversion(inversion, steps)
        self._check_images(images)
        z = self._series01_torch(gamma_uncorrect(images, gamma=self.gamma), inv, st)
        return self._unscale_torch(z, scale)

    def project_torch(self, images: torch.Tensor, *, steps: int | None = None) -> torch.Tensor:
        """Nearest valid image ``[N, C, S, S]`` -> ``[N, C, S, S]``, in the model's (gamma-corrected) space.

        For a sampler: replace the predicted ``x0`` by ``project_torch(x0)`` at each step. Undoes
        the gamma correction, projects onto valid GASFs (least squares over all entries), and
        applies the gamma correction again; batched, on the images' device and dtype.
        """
        _, st = self._resolve_inversion("projection", steps)
        g = project_gasf_torch(gamma_uncorrect(images, gamma=self.gamma), steps=st)
        return gamma_correct(g, gamma=self.gamma)

    def consistency_torch(self, images: torch.Tensor, *, steps: int | None = None) -> torch.Tensor:
        """Distance of images ``[N, C, S, S]`` to the nearest valid GASF -> ``[N]`` (0 = valid).

        The gamma correction is undone first. See :func:`~netdiffus.imaging.projection.gasf_consistency`.
        """
        _, st = self._resolve_inversion("projection", steps)
        return gasf_consistency_torch(gamma_uncorrect(images, gamma=self.gamma), steps=st)

    # -- numpy adapters: arrays in, float64 through the torch kernels above, arrays out ---------
    def scale(self, x: np.ndarray, *, scale: np.ndarray | None = None) -> np.ndarray:
        """Original units ``[N, C, T]`` -> [0, 1] ``[N, C, S]`` (float64; PAA first if ``image_size``)."""
        return numpy_call(self._scale_torch, x, scale=scale)

    def unscale(self, x01: np.ndarray, *, scale: np.ndarray | None = None) -> np.ndarray:
        """[0, 1] ``[N, C, S]`` -> original units ``[N, C, T]`` (float64; PAA inverse if ``image_size``)."""
        return numpy_call(self._unscale_torch, x01, scale=scale)

    def transform(self, x: np.ndarray, *, scale: np.ndarray | None = None) -> np.ndarray:
        """Traces ``[N, C, T]`` in original units -> images ``[N, C, S, S]`` in [-1, 1] (float64).

        ``scale`` (per-series modes only) overrides the traces' own ``[N, C, 2]`` scale.
        """
        return numpy_call(self.transform_torch, x, scale=scale)

    def to_gasf(self, images: np.ndarray) -> np.ndarray:
        """Undo the gamma correction: images ``[..., S, S]`` -> fields ``G`` in [-1, 1]."""
        return gamma_uncorrect(np.asarray(images, dtype=np.float64), gamma=self.gamma)

    def inverse_transform(
        self,
        images: np.ndarray,
        *,
        scale: np.ndarray | None = None,
        inversion: InversionMethod | None = None,
        steps: int | None = None,
    ) -> np.ndarray:
        """Images ``[N, C, S, S]`` -> traces ``[N, C, T]`` in original units (float64).

        The numpy form of :meth:`inverse_transform_torch` (same parameters).
        """
        return numpy_call(self.inverse_transform_torch, images, scale=scale, inversion=inversion, steps=steps)

    def consistency(self, images: np.ndarray, *, steps: int | None = None) -> np.ndarray:
        """Distance of images ``[N, C, S, S]`` to the nearest valid GASF -> ``[N]`` (0 = valid, float64)."""
        return numpy_call(self.consistency_torch, images, steps=steps)

    # -- serialisation -----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """Constructor arguments and fitted state as JSON-serialisable data (no pickles)."""
        self._check_fitted()
        return {
            "method": self.method,
            "scaling": self.scaling,
            "gamma": self.gamma,
            "image_size": self.image_size,
            "inversion": self.inversion,
            "projection_steps": self.projection_steps,
            "n_timestamps": self.n_timestamps_,
            "n_channels": self.n_channels_,
            "scaler": self.scaler_.to_json(),
            "scale_model": None if self.scale_model_ is None else self.scale_model_.to_json(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> GramianAngularField:
        """Rebuild a fitted field from :meth:`to_json` output."""
        g = cls(
            method=data["method"],
            scaling=data["scaling"],
            gamma=float(data.get("gamma", 1.0)),
            image_size=data.get("image_size"),
            inversion=data.get("inversion", "diagonal"),  # fields saved before it was recorded
            projection_steps=int(data.get("projection_steps", DEFAULT_PROJECTION_STEPS)),
        )
        g._check_params()
        g.scaler_ = SeriesScaler.from_json(data["scaler"])
        g.n_channels_ = int(data.get("n_channels", len(g.scaler_.min_)))
        for key, bound in (("min", g.scaler_.min_), ("max", g.scaler_.max_)):  # the scale of each channel
            if bound.shape != (g.n_channels_,):
                got = f"{bound.size} values" if bound.ndim == 1 else f"an array of shape {list(bound.shape)}"
                raise ConfigError(f"scaler.{key} must hold one value per channel, {g.n_channels_} (got {got})")
        if "n_timestamps" not in data:
            raise ConfigError("GramianAngularField JSON lacks 'n_timestamps' (saved by an older version)")
        g.n_timestamps_ = int(data["n_timestamps"])
        sm = data.get("scale_model")
        g.scale_model_ = None if sm is None else TraceScaleModel.from_json(sm)
        return g
