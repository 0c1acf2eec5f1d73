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

Both scale through a fitted :class:`~netdiffus.imaging.GramianAngularField` (PAA to ``S`` bins,
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

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import numpy as np
import torch

from netdiffus.config import ImagingConfig, SampleConfig
from netdiffus.errors import ConfigError
from netdiffus.imaging.gaf import GramianAngularField

__all__ = ["Representation", "GasfRepresentation", "SeriesRepresentation", "REPRESENTATIONS",
           "check_image_memory", "MAX_PROJECTION_STEPS"]

#: Most Gauss-Newton steps a saved projection may ask for (3 reach the optimum on B1 images).
MAX_PROJECTION_STEPS = 100


class Representation(ABC):
    """Series ``[N, C, T]`` <-> the model's space, fitted on training series.

    Parameters
    ----------
    gaf : GramianAngularField
        The scaling (and PAA) of the series; fitted by :meth:`fit`, or already fitted when read
        back by :meth:`from_json`.
    """

    #: ``imaging.representation`` value, and the network's spatial dimensions.
    name: ClassVar[str]
    dims: ClassVar[int]

    def __init__(self, gaf: GramianAngularField) -> None:
        self.gaf = gaf

    @classmethod
    def from_config(cls, cfg: ImagingConfig) -> Representation:
        """An unfitted representation of the kind ``cfg.representation`` names (scaling resolved:
        not "auto")."""
        if cfg.scaling == "auto":
            raise ConfigError("imaging.scaling 'auto' must be resolved for a dataset before the "
                              "representation is built (netdiffus.resolve.resolve_config)")
        gaf = GramianAngularField(method="summation", scaling=cfg.scaling, gamma=cfg.gamma,
                                  image_size=cfg.image_size or None, inversion=cfg.inversion)
        return REPRESENTATIONS[cfg.representation](gaf)

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
        if shape is not None and (gaf.n_channels_, gaf.n_timestamps_) != tuple(shape):
            raise ValueError(f"imaging is fitted to traces of {gaf.n_channels_} x {gaf.n_timestamps_}, not the "
                             f"run's {shape[0]} x {shape[1]}")
        return REPRESENTATIONS[name](gaf)

    def to_json(self) -> dict[str, Any]:
        """The fitted scaling as JSON-able data (the run's model.json keeps it)."""
        return self.gaf.to_json()

    def fit(self, series: np.ndarray, labels: Sequence[str]) -> Representation:
        """Fit the scaling (and the per-trace scale model) on training ``series`` ``[N, C, T]``."""
        self.gaf.fit(series, labels=labels)
        return self

    @property
    def size(self) -> int:
        """Model-space length ``S`` (``imaging.image_size``, or the series length)."""
        return self.gaf.size_

    @property
    @abstractmethod
    def sample_shape(self) -> tuple[int, ...]:
        """Shape of one model input: ``(C, S, S)`` or ``(C, S)``."""

    @abstractmethod
    def encode(self, series: np.ndarray) -> np.ndarray:
        """Series ``[N, C, T]`` in original units -> model inputs ``[N, *sample_shape]`` in [-1, 1]."""

    @abstractmethod
    def _decode(self, x_0: torch.Tensor, scale: np.ndarray | None) -> np.ndarray:
        """Model outputs (float64) -> series ``[N, C, T]`` in original units, given trace scales."""

    def _scale_images(self, x_0: torch.Tensor) -> torch.Tensor | None:
        """What the per-trace scale model reads of a generated ``x_0`` (None: the class alone)."""
        return None

    def decode(self, x_0: torch.Tensor, labels: Sequence[str], seeds: Sequence[int]) -> np.ndarray:
        """Model outputs ``x_0`` ``[N, *sample_shape]`` -> series ``[N, C, T]`` in original units
        (float64). A per-series scaling draws each trace's scale from the fitted scale model,
        given its class and its output, with the trace's own seed."""
        x_0 = x_0.double()
        scale = None
        if self.gaf.scaling.startswith("per-series"):
            images = self._scale_images(x_0)
            scale = np.concatenate([
                self.gaf.sample_scale([lab], seed=s, images=None if images is None else images[k:k + 1])
                for k, (lab, s) in enumerate(zip(labels, seeds, strict=True))
            ])
        return self._decode(x_0, scale)

    def x0_hook(self, sample: SampleConfig, model: torch.nn.Module) -> Callable[[torch.Tensor], torch.Tensor] | None:
        """What the sampler applies to each predicted ``x_0`` (None: nothing)."""
        return None

    def check_memory(self, n_traces: int, *, memory_bytes: int | None = None) -> None:
        """Raise :class:`ConfigError` if ``n_traces`` encoded traces would not fit in memory."""
        return None  # a scaled series takes no more memory than the series itself


class GasfRepresentation(Representation):
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


class SeriesRepresentation(Representation):
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


#: The representations, by their ``imaging.representation`` name.
REPRESENTATIONS: dict[str, type[Representation]] = {r.name: r for r in (GasfRepresentation, SeriesRepresentation)}


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
