"""How series meet the model: what the diffusion model sees of a trace, and back.

A :class:`Representation` is fitted on the training series, encodes series ``[N, C, T]`` (original
units) into the model's space, and decodes the model's ``x_0`` back into series in original units.
The synthesizer never asks which one it holds; each is declared once in ``REPRESENTATIONS`` (the
names of ``imaging.representation``):

- ``gasf`` (:class:`GasfRepresentation`, the paper's): GASF images ``[N, C, S, S]`` in [-1, 1];
  decoded by the diagonal or by projection onto the nearest valid GASF, which the sampler may also
  apply to every predicted ``x_0`` (:meth:`Representation.x0_hook`).
- ``series`` (:class:`SeriesRepresentation`, the 1-D baseline): the scaled series ``[N, C, S]``
  in [-1, 1].
- ``tokens`` (:class:`TokenRepresentation`): each value a token of its channel's vocabulary
  ``[N, C, T]``, for masked discrete diffusion (packet sequences, protocol byte counts).

The first two scale through a fitted :class:`~netdiffus.imaging.GramianAngularField` (PAA to ``S`` bins,
scaling to [0, 1]); with a per-series scaling, decoding draws each trace's scale from the fitted
class-conditional scale model with the trace's own seed.

Examples
--------
>>> import numpy as np
>>> from netdiffus.config import ImagingConfig
>>> x = np.array([[[0.0, 3.0, 15.0]], [[2.0, 0.0, 7.0]]])     # [N=2, C=1, T=3] bytes per bin
>>> rep = Representation.from_config(ImagingConfig(scaling="global-log")).fit(x, ["a", "b"])
>>> rep.encode(x).shape, rep.sample_shape
((2, 1, 3, 3), (1, 3, 3))
>>> back = rep.decode(torch.from_numpy(rep.encode(x)), ["a", "b"], seeds=[0, 1])
>>> np.allclose(back, x)
True
"""

from __future__ import annotations

import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from netdiffus.config import ImagingConfig, SampleConfig
from netdiffus.errors import ConfigError
from netdiffus.imaging.gaf import GramianAngularField
from netdiffus.vocab import SeriesVocabulary

log = logging.getLogger(__name__)

__all__ = ["Representation", "GasfRepresentation", "SeriesRepresentation", "TokenRepresentation", "REPRESENTATIONS",
           "check_image_memory", "MAX_PROJECTION_STEPS"]

#: Most Gauss-Newton steps a saved projection may ask for (3 reach the optimum on B1 images).
MAX_PROJECTION_STEPS = 100


class Representation(ABC):
    """Series ``[N, C, T]`` <-> the model's space, fitted on training series."""

    #: ``imaging.representation`` value; whether ``imaging.scaling`` applies to it.
    name: ClassVar[str]
    uses_scaling: ClassVar[bool] = True

    @classmethod
    def from_config(cls, cfg: ImagingConfig) -> Representation:
        """An unfitted representation of the kind ``cfg.representation`` names."""
        return REPRESENTATIONS[cfg.representation]._from_config(cfg)

    @classmethod
    @abstractmethod
    def _from_config(cls, cfg: ImagingConfig) -> Representation: ...

    @classmethod
    def from_json(cls, name: str, data: dict[str, Any], *, config: ImagingConfig | None = None,
                  shape: tuple[int, int] | None = None) -> Representation:
        """A fitted representation of kind ``name`` from :meth:`to_json`; with ``config`` (the run's
        ``[imaging]`` section) and ``shape`` (``(C, T)`` of a trace), checked to follow them.

        Raises
        ------
        ValueError
            ``data`` does not follow ``config`` or ``shape`` (a tampered or mixed run folder).
        """
        rep = REPRESENTATIONS[name]._from_json(data, config)
        if shape is not None and rep.trace_shape != tuple(shape):
            raise ValueError(f"imaging is fitted to traces of {rep.trace_shape[0]} x {rep.trace_shape[1]}, not the "
                             f"run's {shape[0]} x {shape[1]}")
        return rep

    @classmethod
    @abstractmethod
    def _from_json(cls, data: dict[str, Any], config: ImagingConfig | None) -> Representation: ...

    @abstractmethod
    def to_json(self) -> dict[str, Any]:
        """The fitted state as JSON-able data (the run's model.json keeps it)."""

    @abstractmethod
    def fit(self, series: np.ndarray, labels: Sequence[str]) -> Representation:
        """Fit on training ``series`` ``[N, C, T]`` (and their class ``labels``)."""

    @property
    @abstractmethod
    def trace_shape(self) -> tuple[int, int]:
        """``(C, T)`` of one trace in original units."""

    @property
    @abstractmethod
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one model input: ``(C, S, S)``, ``(C, S)`` or ``(C, T)``."""

    @abstractmethod
    def network_shape(self) -> dict[str, Any]:
        """What the network needs to know of the inputs (keywords of its ``from_config``)."""

    @abstractmethod
    def encode(self, series: np.ndarray) -> np.ndarray:
        """Series ``[N, C, T]`` in original units -> model inputs ``[N, *sample_shape]``."""

    @abstractmethod
    def decode(self, x_0: torch.Tensor, labels: Sequence[str], seeds: Sequence[int]) -> np.ndarray:
        """Model outputs ``x_0`` ``[N, *sample_shape]`` -> series ``[N, C, T]`` in original units
        (float64); any randomness of trace k comes from its own seed ``seeds[k]``."""

    def x0_hook(self, sample: SampleConfig, model: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """What the sampler applies to each predicted ``x_0`` (None: nothing)."""
        return None

    def check_memory(self, n_traces: int, *, memory_bytes: int | None = None) -> None:
        """Raise :class:`ConfigError` if ``n_traces`` encoded traces would not fit in memory."""
        return None  # no more memory than the series themselves


class _ScaledRepresentation(Representation):
    """A representation through a fitted :class:`~netdiffus.imaging.GramianAngularField` (its
    PAA and scaling to [0, 1]); fitted by :meth:`fit`, or already fitted when read back."""

    #: The network's spatial dimensions.
    dims: ClassVar[int]

    def __init__(self, gaf: GramianAngularField, *, value_range: tuple[float, float] | None = None) -> None:
        self.gaf, self.value_range = gaf, value_range

    @classmethod
    def _from_config(cls, cfg: ImagingConfig) -> Representation:
        if cfg.scaling == "auto":
            raise ConfigError("imaging.scaling 'auto' must be resolved for a dataset before the "
                              "representation is built (netdiffus.resolve.resolve_config)")
        value_range = (cfg.range_min, cfg.range_max) if cfg.range_max != 0 else None
        if value_range is not None and cfg.scaling.startswith("per-series"):
            raise ConfigError(f"imaging.range_max is for the global scalings (got imaging.scaling {cfg.scaling!r})")
        return cls(GramianAngularField(method="summation", scaling=cfg.scaling, gamma=cfg.gamma,
                                       image_size=cfg.image_size or None, inversion=cfg.inversion),
                   value_range=value_range)

    @classmethod
    def _from_json(cls, data: dict[str, Any], config: ImagingConfig | None) -> Representation:
        gaf = GramianAngularField.from_json(data)
        if config is not None:
            want = {"method": "summation", "scaling": config.scaling, "gamma": config.gamma,
                    "image_size": config.image_size or None, "inversion": config.inversion}
            for key, value in want.items():
                if getattr(gaf, key) != value:
                    raise ValueError(f"imaging.{key} is {getattr(gaf, key)!r} but config.json's imaging makes it "
                                     f"{value!r}")
            if not 0 <= gaf.projection_steps <= MAX_PROJECTION_STEPS:
                raise ValueError(f"imaging.projection_steps must be in [0, {MAX_PROJECTION_STEPS}] "
                                 f"(got {gaf.projection_steps})")
        return cls(gaf)

    def to_json(self) -> dict[str, Any]:
        return self.gaf.to_json()

    def fit(self, series: np.ndarray, labels: Sequence[str]) -> Representation:
        """Fit the scaling (and the per-trace scale model) on training ``series`` ``[N, C, T]``;
        with a given ``imaging.range_max``, the scaling reads only the series' shape (it is fitted
        on two constant traces at the range's ends)."""
        if self.value_range is None:
            self.gaf.fit(series, labels=labels)
        else:  # the global scalings fit no per-class model
            ends = np.asarray(self.value_range, dtype=np.float64)[:, None, None]
            self.gaf.fit(np.broadcast_to(ends, (2, *np.shape(series)[1:])))
        return self

    @property
    def trace_shape(self) -> tuple[int, int]:
        return (self.gaf.n_channels_, self.gaf.n_timestamps_)

    @property
    def size(self) -> int:
        """Model-space length ``S`` (``imaging.image_size``, or the series length)."""
        return self.gaf.size_

    def network_shape(self) -> dict[str, Any]:
        return {"in_channels": self.gaf.n_channels_, "dims": self.dims}

    @abstractmethod
    def _decode(self, x_0: torch.Tensor, scale: np.ndarray | None) -> np.ndarray:
        """Model outputs (float64) -> series ``[N, C, T]`` in original units, given trace scales."""

    def _scale_images(self, x_0: torch.Tensor) -> torch.Tensor | None:
        """What the per-trace scale model reads of a generated ``x_0`` (None: the class alone)."""
        return None

    def decode(self, x_0: torch.Tensor, labels: Sequence[str], seeds: Sequence[int]) -> np.ndarray:
        """A per-series scaling draws each trace's scale from the fitted scale model, given its
        class and its output, with the trace's own seed."""
        x_0 = x_0.double()
        scale = None
        if self.gaf.scaling.startswith("per-series"):
            images = self._scale_images(x_0)
            scale = np.concatenate([
                self.gaf.sample_scale([lab], seed=s, images=None if images is None else images[k:k + 1])
                for k, (lab, s) in enumerate(zip(labels, seeds, strict=True))
            ])
        return self._decode(x_0, scale)


class GasfRepresentation(_ScaledRepresentation):
    """GASF images ``[N, C, S, S]`` in [-1, 1] (NetDiffus)."""

    name = "gasf"
    dims = 2

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (self.gaf.n_channels_, self.size, self.size)

    def encode(self, series: np.ndarray) -> np.ndarray:
        return self.gaf.transform(series)

    def _scale_images(self, x_0: torch.Tensor) -> torch.Tensor:
        return x_0

    def _decode(self, x_0: torch.Tensor, scale: np.ndarray | None) -> np.ndarray:
        return self.gaf.inverse_transform_torch(x_0, scale=scale, inversion=self.gaf.inversion).cpu().numpy()

    def x0_hook(self, sample: SampleConfig, model: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """The projection onto valid GASFs (``sample.project_x0``), except for a network whose
        head already outputs a valid GASF (``model.output = "gasf"``): projecting it changes nothing."""
        head_is_valid = getattr(model, "config", {}).get("output") == "gasf"
        return self.gaf.project_torch if sample.project_x0 and not head_is_valid else None

    def check_memory(self, n_traces: int, *, memory_bytes: int | None = None) -> None:
        """Refuse a training set whose images (float64 while imaged, then float32) would need more
        than half of the machine's memory: a one-line error, not a crash."""
        check_image_memory(n_traces, self.gaf.n_channels_, self.size, memory_bytes=memory_bytes)


class SeriesRepresentation(_ScaledRepresentation):
    """The scaled series ``[N, C, S]`` in [-1, 1] (the 1-D baseline)."""

    name = "series"
    dims = 1

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return (self.gaf.n_channels_, self.size)

    def encode(self, series: np.ndarray) -> np.ndarray:
        return 2.0 * self.gaf.scale(series) - 1.0

    def _decode(self, x_0: torch.Tensor, scale: np.ndarray | None) -> np.ndarray:
        return self.gaf.unscale(((x_0 + 1.0) / 2.0).clamp(0.0, 1.0).cpu().numpy(), scale=scale)


class TokenRepresentation(Representation):
    """Each value a token of its channel's vocabulary (:class:`netdiffus.vocab.SeriesVocabulary`):
    tokens ``[N, C, T]`` for masked discrete diffusion.

    Where every training trace ends in padding (from some position on, every channel 0: the
    packets after a session's last), a generated trace ends at its first all-zero position too,
    so that it ends where a session can (its length is generated, not its holes).
    """

    name = "tokens"
    uses_scaling = False

    def __init__(self, *, bins: int = ImagingConfig.token_bins) -> None:
        self.bins = bins

    @classmethod
    def _from_config(cls, cfg: ImagingConfig) -> Representation:
        return cls(bins=cfg.token_bins)

    def fit(self, series: np.ndarray, labels: Sequence[str]) -> Representation:
        series = np.asarray(series, dtype=np.float64)
        self.vocabulary_ = SeriesVocabulary.fit(series, bins=self.bins)
        self.shape_ = (int(series.shape[1]), int(series.shape[2]))
        self.ends_in_padding_ = bool(_ends_in_padding(series).all())
        return self

    @property
    def trace_shape(self) -> tuple[int, int]:
        return self.shape_

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return self.shape_

    def network_shape(self) -> dict[str, Any]:
        return {"vocab_sizes": self.vocabulary_.sizes, "length": self.shape_[1]}

    def encode(self, series: np.ndarray) -> np.ndarray:
        return self.vocabulary_.encode(series).astype(np.float64)

    def decode(self, x_0: torch.Tensor, labels: Sequence[str], seeds: Sequence[int]) -> np.ndarray:
        tokens = x_0.detach().cpu().numpy().round().astype(np.int64)
        out = self.vocabulary_.decode(tokens, rngs=[np.random.default_rng(s) for s in seeds])
        if self.ends_in_padding_:
            silent = (out == 0).all(axis=1)  # [N, T]
            after = np.broadcast_to((np.cumsum(silent, axis=1) > 0)[:, None, :], out.shape)
            dropped = int((out[after] != 0).sum())
            if dropped:  # values after a gap: a session cannot resume after its end
                log.info("%d generated values after the end of their session dropped", dropped)
            out[after] = 0.0
        return out

    def to_json(self) -> dict[str, Any]:
        return {"bins": self.bins, "shape": list(self.shape_), "ends_in_padding": self.ends_in_padding_,
                "vocabulary": self.vocabulary_.to_json()}

    @classmethod
    def _from_json(cls, data: dict[str, Any], config: ImagingConfig | None) -> Representation:
        rep = cls(bins=int(data["bins"]))
        if config is not None and rep.bins != config.token_bins:
            raise ValueError(f"imaging.bins is {rep.bins} but config.json's imaging.token_bins is {config.token_bins}")
        rep.vocabulary_ = SeriesVocabulary.from_json(data["vocabulary"])
        c, t = (int(v) for v in data["shape"])
        rep.shape_, rep.ends_in_padding_ = (c, t), bool(data["ends_in_padding"])
        if len(rep.vocabulary_.exact) != c:
            raise ValueError(f"the vocabulary has {len(rep.vocabulary_.exact)} channels, not {c}")
        return rep


def _ends_in_padding(series: np.ndarray) -> np.ndarray:
    """Per trace ``[N]``: whether its all-zero positions (every channel 0) form its tail."""
    silent = (series == 0).all(axis=1)  # [N, T]
    after_first = np.cumsum(silent, axis=1) > 0
    return (silent == after_first).all(axis=1)


#: The representations, by their ``imaging.representation`` name.
REPRESENTATIONS: dict[str, type[Representation]] = {
    r.name: r for r in (GasfRepresentation, SeriesRepresentation, TokenRepresentation)}


def check_image_memory(n: int, c: int, size: int, *, memory_bytes: int | None = None) -> None:
    """Refuse ``n`` GASF images ``[n, c, size, size]`` (float64 while imaged, then float32) that
    would need more than half of the machine's memory (``memory_bytes``, default: this machine's).

    Raises
    ------
    ConfigError
        Naming the need, the memory and ``imaging.image_size``, the option that shrinks them.
    """
    if memory_bytes is None:
        try:
            memory_bytes = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):  # not a POSIX system: no check
            return
    need = 12 * n * c * size * size
    if need > memory_bytes / 2:
        raise ConfigError(
            f"the GASF images of {n} traces ({c} x {size} x {size} each) need {need / 2**30:.1f} GiB, over half "
            f"of this machine's {memory_bytes / 2**30:.0f} GiB; shrink them with imaging.image_size (PAA), "
            "e.g. --set imaging.image_size=64")
