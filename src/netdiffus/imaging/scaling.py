"""Invertible scaling of traces to [0, 1], and a model of the per-trace scale.

The GASF needs values in [0, 1] (so that ``phi = arccos(x)`` lies in ``[0, pi/2]`` and the
diagonal ``cos(2 phi) = 2 x**2 - 1`` determines ``x`` without a sign ambiguity). Scaling modes:

- ``global-log`` (default): ``log1p`` of the value, then min-max fitted per channel on the
  training set. Values outside the fitted range are clipped to [0, 1] and counted in
  ``n_clipped_``.
- ``global-linear``: the same min-max on the raw values (also for signed series).
- ``per-series``: the paper's per-trace min-max on the raw values. Every trace keeps its own
  scale ``[min, max]`` per channel (:meth:`SeriesScaler.trace_scale`); turning a generated image
  back into bytes needs a scale for it, which :class:`TraceScaleModel` samples given the class.
- ``per-series-log``: per-trace min-max after ``log1p``.

A trace scale is an array ``[N, C, 2]`` holding ``(min, max)`` of each trace and channel, always
in original units (e.g. bytes per bin), whatever the mode.

Examples
--------
>>> import numpy as np
>>> x = np.array([[[0.0, 9.0, 99.0]]])
>>> s = SeriesScaler(mode="global-log").fit(x)
>>> np.round(s.transform(x), 3).tolist()
[[[0.0, 0.5, 1.0]]]
>>> np.allclose(s.inverse_transform(s.transform(x)), x)
True

Per-trace scaling with a generated scale:

>>> x = np.array([[[2.0, 4.0, 6.0]], [[10.0, 30.0, 20.0]]])     # [N=2, C=1, T=3]
>>> s = SeriesScaler(mode="per-series").fit(x)
>>> s.transform(x).tolist()
[[[0.0, 0.5, 1.0]], [[0.0, 1.0, 0.5]]]
>>> model = TraceScaleModel().fit(s.trace_scale(x), labels=["a", "a"])
>>> scale = model.sample(["a", "a", "a"], seed=0)                 # [3, 1, 2]
>>> bool(np.all(scale[..., 0] <= scale[..., 1]))
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, TypeVar

import numpy as np
import torch

from netdiffus.errors import ConfigError, DatasetError
from netdiffus.imaging.kernels import numpy_call

__all__ = [
    "SeriesScaler",
    "TraceScaleModel",
    "ScalingMode",
    "SCALING_MODES",
    "DEFAULT_SCALING",
    "symlog",
    "symexp",
    "shape_features",
]

ScalingMode = Literal["global-log", "global-linear", "per-series", "per-series-log"]
SCALING_MODES: tuple[str, ...] = ("global-log", "global-linear", "per-series", "per-series-log")
#: The default mode: what ``ImagingConfig.scaling = "auto"`` resolves to at fit for series without
#: negative values (``auto`` needs the data, so it is resolved before a scaler or field is built).
DEFAULT_SCALING: ScalingMode = "global-log"
ScaleModelKind = Literal["gaussian"]


def symlog(x: np.ndarray) -> np.ndarray:
    """``sign(x) * log1p(|x|)``: the log of bytes that also takes signed values."""
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.log1p(np.abs(x))


def symexp(y: np.ndarray) -> np.ndarray:
    """Inverse of :func:`symlog`."""
    y = np.asarray(y, dtype=np.float64)
    return np.sign(y) * np.expm1(np.abs(y))


class SeriesScaler:
    """Min-max scaling of ``[N, C, T]`` traces to [0, 1], optionally after ``log1p``.

    Parameters
    ----------
    mode : {"global-log", "global-linear", "per-series", "per-series-log"}
        Global modes fit one range per channel on the training set; per-series modes scale every
        trace by its own ``[min, max]`` (the trace scale).

    Attributes
    ----------
    min_, max_ : ndarray ``[C]``
        Range of the training set per channel, in the transformed domain (after ``log1p`` for the
        log modes). Used for scaling in global modes; informative in per-series modes.
    n_clipped_ : int
        Values clipped to [0, 1] by the last :meth:`transform` (global modes only).
    """

    def __init__(self, *, mode: ScalingMode = DEFAULT_SCALING) -> None:
        self.mode = mode

    # -- mode properties ---------------------------------------------------------------------
    @property
    def per_trace(self) -> bool:
        """True for the per-series modes, whose inverse needs a trace scale."""
        return self.mode in ("per-series", "per-series-log")

    @property
    def log(self) -> bool:
        """True for the modes that apply ``log1p`` before min-max."""
        return self.mode in ("global-log", "per-series-log")

    def _check_mode(self) -> None:
        if self.mode not in SCALING_MODES:
            raise ConfigError(f"scaling must be one of {', '.join(SCALING_MODES)} (got {self.mode!r})")

    def _check_log_domain(self, minimum: float) -> None:
        if self.log and minimum < 0:
            raise DatasetError(
                f"scaling {self.mode!r} needs values >= 0 (got minimum {minimum}); "
                "use scaling 'global-linear' or 'per-series' for signed series"
            )

    def _check_fitted(self) -> None:
        if not hasattr(self, "min_"):
            raise ConfigError("scaler is not fitted: call fit(x) first")

    # -- fitting -----------------------------------------------------------------------------
    def fit(self, x: np.ndarray) -> SeriesScaler:
        """Fit on training traces ``x`` ``[N, C, T]`` in original units.

        Sets ``min_`` and ``max_`` ``[C]`` in the transformed domain.
        """
        self._check_mode()
        x = _as_nct(x)
        if not np.all(np.isfinite(x)):
            raise DatasetError("cannot fit scaling: series contain NaN or infinite values")
        x = x.astype(np.float64)
        self._check_log_domain(float(np.min(x)))
        y = np.log1p(x) if self.log else x
        self.min_ = y.min(axis=(0, 2))
        self.max_ = y.max(axis=(0, 2))
        self.n_clipped_ = 0
        return self

    def trace_scale(self, x: np.ndarray) -> np.ndarray:
        """Per-trace scale ``[N, C, 2]``: ``(min, max)`` of each trace and channel, original units."""
        return numpy_call(_trace_scale_torch, _as_nct(x))

    # -- torch kernels -----------------------------------------------------------------------
    def _bounds(self, x: torch.Tensor, scale: torch.Tensor | np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Lower bound and span ``[N or 1, C, 1]`` in the transformed domain, in ``x``'s dtype and device.

        A trace scale given as an array (host data) is checked in full; one given as a tensor
        only for its shape, since reading its values would wait for the device.
        """
        n, c = x.shape[0], x.shape[1]
        if not self.per_trace:
            if scale is not None:
                raise ConfigError(f"scale is only used by the per-series scaling modes (scaling is {self.mode!r})")
            if self.min_.shape[0] != c:
                raise DatasetError(f"series must have {self.min_.shape[0]} channels as fitted (got {c})")
            lo, span = self.min_[None, :, None], (self.max_ - self.min_)[None, :, None]
            return torch.as_tensor(lo, dtype=x.dtype, device=x.device), torch.as_tensor(span, dtype=x.dtype,
                                                                                         device=x.device)
        if scale is None:
            raise ConfigError(
                f"scaling {self.mode!r} needs scale [N, C, 2] (the per-trace min and max) to map "
                "images back to original units: pass trace_scale(x) or TraceScaleModel.sample(...)"
            )
        host = not isinstance(scale, torch.Tensor)
        scale = torch.as_tensor(np.asarray(scale, dtype=np.float64) if host else scale, dtype=x.dtype)
        if tuple(scale.shape) != (n, c, 2):
            raise DatasetError(f"scale must have shape [N, C, 2] = {[n, c, 2]} (got shape {list(scale.shape)})")
        if host:
            if bool((scale[..., 0] > scale[..., 1]).any()):
                raise DatasetError("scale must have min <= max for every trace and channel")
            self._check_log_domain(float(scale.min()))
        scale = scale.to(x.device)
        f = torch.log1p(scale) if self.log else scale
        return f[..., 0:1], f[..., 1:2] - f[..., 0:1]

    def transform_torch(self, x: torch.Tensor, *, scale: torch.Tensor | np.ndarray | None = None) -> torch.Tensor:
        """Scale ``x`` ``[N, C, T]`` to [0, 1], on its device and dtype.

        Global modes clip out-of-range values and count them in ``n_clipped_``. Per-series modes
        use ``scale`` ``[N, C, 2]`` (default: the trace's own :meth:`trace_scale`).
        """
        self._check_fitted()
        x = _as_nct(x)
        if self.per_trace and scale is None:
            scale = _trace_scale_torch(x)
        lo, span = self._bounds(x, scale)
        if self.log:
            self._check_log_domain(float(x.min()))
        y = torch.log1p(x) if self.log else x
        z = (y - lo) / torch.where(span > 0, span, torch.ones_like(span))
        self.n_clipped_ = int(((z < 0) | (z > 1)).sum())
        return z.clamp(0.0, 1.0)

    def inverse_transform_torch(
        self, z: torch.Tensor, *, scale: torch.Tensor | np.ndarray | None = None
    ) -> torch.Tensor:
        """Map scaled values ``[N, C, T]`` in [0, 1] back to original units, on their device and dtype.

        Per-series modes need ``scale`` ``[N, C, 2]`` (:meth:`trace_scale` of the real traces, or
        a generated one from :meth:`TraceScaleModel.sample`).
        """
        self._check_fitted()
        z = _as_nct(z)
        lo, span = self._bounds(z, scale)
        y = z.clamp(0.0, 1.0) * span + lo
        return torch.expm1(y) if self.log else y

    # -- numpy adapters: arrays in, float64 through the torch kernels above, arrays out ---------
    def transform(self, x: np.ndarray, *, scale: np.ndarray | None = None) -> np.ndarray:
        """Scale ``x`` ``[N, C, T]`` to [0, 1] (float64); see :meth:`transform_torch`."""
        self._check_fitted()
        return numpy_call(self.transform_torch, _as_nct(x), scale=scale)

    def inverse_transform(self, z: np.ndarray, *, scale: np.ndarray | None = None) -> np.ndarray:
        """Map scaled values ``[N, C, T]`` in [0, 1] back to original units (float64); see
        :meth:`inverse_transform_torch`."""
        self._check_fitted()
        return numpy_call(self.inverse_transform_torch, _as_nct(z), scale=scale)

    # -- serialisation -----------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """Fitted state as JSON-serialisable data."""
        self._check_fitted()
        return {"mode": self.mode, "min": self.min_.tolist(), "max": self.max_.tolist()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SeriesScaler:
        """Rebuild a fitted scaler from :meth:`to_json` output."""
        s = cls(mode=data["mode"])
        s._check_mode()
        s.min_ = np.asarray(data["min"], dtype=np.float64)
        s.max_ = np.asarray(data["max"], dtype=np.float64)
        s.n_clipped_ = 0
        return s


class TraceScaleModel:
    """Class-conditional model of the per-trace scale, for generating traces in per-series modes.

    Each trace scale ``(min, max)`` per channel becomes a feature vector of ``2 C`` values
    ``symlog(min), symlog(max)`` (``symlog = sign * log1p|.|``). Traffic often has a minimum of
    exactly 0 (a bin without traffic) in some traces and not in others, so the model is a
    zero-inflated Gaussian: within each class, traces are grouped by which features are exactly
    0 (their *zero pattern*); each group is a mixture component with weight = its share of the
    class, a mean, and a covariance shrunk towards the pooled within-group covariance with weight
    ``prior_strength / (n_group - 1 + prior_strength)`` (so even a one-trace group gets a spread).
    A draw picks a component, draws the Gaussian, clips each feature to the component mean +- 3
    standard deviations and to the range observed over all training traces, sets the component's
    zero features to exactly 0, and sorts each ``(min, max)`` pair. No training trace's scale is
    copied.

    **Conditioning on the shape** (optional): when ``series01`` (the per-series scaled traces,
    ``[N, C, T]`` in [0, 1]) is passed to :meth:`fit`, three shape features per channel (mean,
    standard deviation, and share of bins below 0.02) join the Gaussian, and :meth:`sample` given
    the scaled series of the generated images draws from the conditional Gaussian (component
    chosen by its posterior given the shape). A scale drawn independently of the shape loses the
    link between, e.g., a bursty shape and a high maximum; conditioning keeps it.

    Parameters
    ----------
    kind : {"gaussian"}
        The model family (zero-inflated Gaussian per class).
    prior_strength : float
        Pseudo-count of the pooled covariance in each component covariance (>= 0).

    Attributes
    ----------
    classes_ : list of str
    n_channels_ : int
    n_shape_features_ : int
        ``3 C`` when fitted with ``series01``, else 0.
    components_ : list of dict
        One per (class, zero pattern): ``class``, ``weight`` (share of the class), ``zero``
        (``[2C]`` bool), ``mean`` ``[D]``, ``cov`` ``[D, D]`` (``D = 2C + n_shape_features_``;
        scale features first, in the symlog domain), ``low`` and ``high`` ``[2C]`` (clipping
        bounds).

    Examples
    --------
    >>> import numpy as np
    >>> scale = np.array([[[0.0, 1e5]], [[10.0, 2e5]], [[5.0, 5e6]], [[1.0, 9e6]]])   # [4, 1, 2]
    >>> m = TraceScaleModel().fit(scale, labels=["web", "web", "video", "video"])
    >>> m.sample(["video", "web"], seed=1).shape
    (2, 1, 2)
    >>> TraceScaleModel.from_json(m.to_json()).sample(["web"], seed=3).tolist() == m.sample(["web"], seed=3).tolist()
    True
    """

    def __init__(self, *, kind: ScaleModelKind = "gaussian", prior_strength: float = 4.0) -> None:
        self.kind = kind
        self.prior_strength = prior_strength

    def fit(self, scale: np.ndarray, *, labels: Sequence[str], series01: np.ndarray | None = None) -> TraceScaleModel:
        """Fit on training trace scales ``[N, C, 2]`` (original units) and their ``labels`` ``[N]``.

        ``series01`` ``[N, C, T]`` (optional): the traces scaled per series to [0, 1], to condition
        the scale on the shape.
        """
        if self.kind != "gaussian":
            raise ConfigError(f"kind must be 'gaussian' (got {self.kind!r})")
        if not self.prior_strength >= 0:
            raise ConfigError(f"prior_strength must be >= 0 (got {self.prior_strength})")
        scale = np.asarray(scale, dtype=np.float64)
        if scale.ndim != 3 or scale.shape[-1] != 2:
            raise DatasetError(f"scale must have shape [N, C, 2] (got shape {list(scale.shape)})")
        labels = [str(v) for v in labels]
        if len(labels) != scale.shape[0]:
            raise DatasetError(f"labels must have one entry per trace ({scale.shape[0]}) (got {len(labels)})")
        if not np.all(np.isfinite(scale)):
            raise DatasetError("cannot fit scale model: scale contains NaN or infinite values")
        n, c, _ = scale.shape
        d = 2 * c
        f = symlog(scale).reshape(n, d)
        zero = f == 0.0
        self.n_shape_features_ = 0
        if series01 is not None:
            _check_series01(series01, n, c)
            phi = shape_features(series01)
            self.n_shape_features_ = phi.shape[1]
            f = np.concatenate([f, phi], axis=1)
        dd = f.shape[1]
        lab = np.asarray(labels, dtype=object)
        self.classes_ = sorted(set(labels))
        self.n_channels_ = c
        groups = []  # (class, zero pattern, features, share)
        for k in self.classes_:
            in_class = lab == k
            patterns = sorted({tuple(z) for z in zero[in_class]})
            for zeros in patterns:
                member = in_class & np.all(zero == np.asarray(zeros), axis=1)
                groups.append((k, np.asarray(zeros, dtype=bool), f[member], member.sum() / in_class.sum()))
        covs = [
            np.cov(fg, rowvar=False, ddof=1).reshape(dd, dd) if len(fg) > 1 else np.zeros((dd, dd))
            for *_, fg, _ in groups
        ]
        dof = np.asarray([len(fg) - 1.0 for *_, fg, _ in groups])
        pooled = sum(df * cv for df, cv in zip(dof, covs, strict=True)) / max(float(dof.sum()), 1.0)
        lo_all, hi_all = f[:, :d].min(axis=0), f[:, :d].max(axis=0)
        self.components_ = []
        for (k, pat, fg, share), cv, df in zip(groups, covs, dof, strict=True):
            w = df / (df + self.prior_strength) if df + self.prior_strength > 0 else 0.0
            cov = w * cv + (1.0 - w) * pooled
            cov[:d][pat, :] = 0.0
            cov[:, :d][:, pat] = 0.0
            mean = fg.mean(axis=0)
            sd = np.sqrt(np.clip(np.diag(cov)[:d], 0.0, None))
            self.components_.append(
                {
                    "class": k,
                    "weight": float(share),
                    "zero": pat,
                    "mean": mean,
                    "cov": cov,
                    "low": np.maximum(mean[:d] - 3.0 * sd, lo_all),
                    "high": np.minimum(mean[:d] + 3.0 * sd, hi_all),
                }
            )
        return self

    def sample(
        self,
        labels: Sequence[str],
        *,
        seed: int | np.random.Generator | None = 0,
        series01: np.ndarray | None = None,
    ) -> np.ndarray:
        """Draw one trace scale per label: ``[len(labels), C, 2]`` (min, max) in original units.

        Parameters
        ----------
        labels : sequence of str
            The class of each generated trace (classes seen in :meth:`fit`).
        seed : int or numpy Generator
            Seed of the draw; the same seed, labels (and ``series01``) give the same scales.
        series01 : ndarray ``[len(labels), C, T]``, optional
            Scaled series of the generated traces (the inverted images, in [0, 1]): draw each
            scale given its shape. Needs a model fitted with ``series01``; without it the scale is
            drawn from the class alone.
        """
        if not hasattr(self, "components_"):
            raise ConfigError("scale model is not fitted: call fit(scale, labels=...) first")
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        labels = [str(v) for v in labels]
        unknown = sorted(set(labels) - set(self.classes_))
        if unknown:
            raise ConfigError(f"labels must be classes seen in fit ({', '.join(self.classes_)}) (got {unknown[0]!r})")
        d = 2 * self.n_channels_
        phi = None
        if series01 is not None:
            if self.n_shape_features_ == 0:
                raise ConfigError("series01 needs a scale model fitted with series01 (this one was fitted without)")
            _check_series01(series01, len(labels), self.n_channels_)
            phi = shape_features(series01)
        comps = self.components_
        # draws in a fixed order (component choice, then normals) so a seed fixes the whole output
        u = rng.random(len(labels))
        eps = rng.standard_normal((len(labels), d))
        lab = np.asarray(labels, dtype=object)
        out = np.empty((len(labels), d))
        for k in self.classes_:
            rows = np.flatnonzero(lab == k)
            if rows.size == 0:
                continue
            idx = [i for i, cp in enumerate(comps) if cp["class"] == k]
            parts = [_conditional(comps[i], d, rows.size, None if phi is None else phi[rows]) for i in idx]
            # component probabilities: the class shares, times the shape likelihood if given
            logp = np.stack([np.log(comps[i]["weight"]) + ll for i, (_, _, ll) in zip(idx, parts, strict=True)], axis=1)
            prob = np.exp(logp - logp.max(axis=1, keepdims=True))
            cum = np.cumsum(prob / prob.sum(axis=1, keepdims=True), axis=1)
            pick = np.minimum((cum < u[rows, None]).sum(axis=1), len(idx) - 1)
            for j, i in enumerate(idx):
                sel = pick == j
                if not sel.any():
                    continue
                mean, factor, _ = parts[j]
                v = mean[sel] + eps[rows[sel]] @ factor.T
                v = np.clip(v, comps[i]["low"], comps[i]["high"])
                v[:, comps[i]["zero"]] = 0.0
                out[rows[sel]] = v
        return symexp(np.sort(out.reshape(len(labels), self.n_channels_, 2), axis=-1))

    def to_json(self) -> dict[str, Any]:
        """Fitted state as JSON-serialisable data (no pickles)."""
        if not hasattr(self, "components_"):
            raise ConfigError("scale model is not fitted: call fit(scale, labels=...) first")
        return {
            "kind": self.kind,
            "prior_strength": self.prior_strength,
            "n_channels": self.n_channels_,
            "n_shape_features": self.n_shape_features_,
            "classes": list(self.classes_),
            "components": [
                {
                    "class": cp["class"],
                    "weight": cp["weight"],
                    "zero": cp["zero"].tolist(),
                    "mean": cp["mean"].tolist(),
                    "cov": cp["cov"].tolist(),
                    "low": cp["low"].tolist(),
                    "high": cp["high"].tolist(),
                }
                for cp in self.components_
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TraceScaleModel:
        """Rebuild a fitted model from :meth:`to_json` output."""
        m = cls(kind=data["kind"], prior_strength=float(data["prior_strength"]))
        m.n_channels_ = int(data["n_channels"])
        m.n_shape_features_ = int(data.get("n_shape_features", 0))
        m.classes_ = [str(k) for k in data["classes"]]
        d = 2 * m.n_channels_
        dd = d + m.n_shape_features_
        m.components_ = [
            {
                "class": str(cp["class"]),
                "weight": float(cp["weight"]),
                "zero": np.asarray(cp["zero"], dtype=bool).reshape(d),
                "mean": np.asarray(cp["mean"], dtype=np.float64).reshape(dd),
                "cov": np.asarray(cp["cov"], dtype=np.float64).reshape(dd, dd),
                "low": np.asarray(cp["low"], dtype=np.float64).reshape(d),
                "high": np.asarray(cp["high"], dtype=np.float64).reshape(d),
            }
            for cp in data["components"]
        ]
        return m


def shape_features(series01: np.ndarray) -> np.ndarray:
    """Shape features of scaled traces ``[N, C, T]`` in [0, 1] -> ``[N, 3 C]``.

    Per channel: mean, standard deviation, and share of bins below 0.02 (near the trace minimum).
    """
    z = _as_nct(np.asarray(series01, dtype=np.float64))
    feats = np.stack([z.mean(axis=2), z.std(axis=2), (z < 0.02).mean(axis=2)], axis=2)  # [N, C, 3]
    return feats.reshape(z.shape[0], -1)


def _check_series01(series01: np.ndarray, n: int, c: int) -> None:
    shape = np.shape(series01)
    if len(shape) != 3 or shape[0] != n or shape[1] != c:
        raise DatasetError(f"series01 must have shape [N, C, T] = [{n}, {c}, T] (got shape {list(shape)})")


def _conditional(
    comp: dict[str, Any], d: int, m: int, phi: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean ``[M, d]``, covariance factor ``[d, d]`` and shape log-likelihood ``[M]`` of the
    scale features of one component, given shape features ``phi`` ``[M, F]`` (or marginal)."""
    mean, cov = comp["mean"], comp["cov"]
    if phi is None:
        return np.broadcast_to(mean[:d], (m, d)), _psd_factor(cov[:d, :d]), np.zeros(m)
    mf, mp = mean[:d], mean[d:]
    cff, cfp, cpp = cov[:d, :d], cov[:d, d:], cov[d:, d:]
    # a small ridge keeps the shape covariance invertible (constant features within a component)
    cpp = cpp + (1e-6 * np.trace(cpp) / cpp.shape[0] + 1e-9) * np.eye(cpp.shape[0])
    gain = np.linalg.solve(cpp, cfp.T).T  # [d, F]
    diff = phi - mp
    cond_mean = mf + diff @ gain.T
    cond_cov = cff - gain @ cfp.T
    _, logdet = np.linalg.slogdet(cpp)
    maha = np.einsum("mi,mi->m", diff, np.linalg.solve(cpp, diff.T).T)
    ll = -0.5 * (maha + logdet + cpp.shape[0] * np.log(2 * np.pi))
    return cond_mean, _psd_factor(0.5 * (cond_cov + cond_cov.T)), ll


def _psd_factor(cov: np.ndarray) -> np.ndarray:
    """A matrix ``L`` with ``L @ L.T == cov`` for a symmetric PSD ``cov`` (eigen-based, rank-safe)."""
    w, v = np.linalg.eigh(cov)
    return v * np.sqrt(np.clip(w, 0.0, None))[None, :]


def _trace_scale_torch(x: torch.Tensor) -> torch.Tensor:
    """``(min, max)`` of each trace and channel: ``[N, C, T]`` -> ``[N, C, 2]``."""
    return torch.stack([x.amin(dim=2), x.amax(dim=2)], dim=-1)


ArrayOrTensor = TypeVar("ArrayOrTensor", np.ndarray, torch.Tensor)
"""An ndarray or a tensor, and the same type back (imaging functions that take either)."""


def _as_nct(x: ArrayOrTensor) -> ArrayOrTensor:
    """Series ``[N, C, T]``, or ``[N, T]`` read as one channel -> ``[N, C, T]`` (an array stays an
    array, a tensor a tensor)."""
    if not isinstance(x, torch.Tensor):
        x = np.asarray(x)
    if x.ndim == 2:
        x = x[:, None, :]
    if x.ndim != 3:
        raise DatasetError(f"series must have shape [N, C, T] (got shape {tuple(x.shape)})")
    return x
