"""Imaging: traces <-> Gramian Angular Field images, with a fitted, invertible scaling.

Every operation is one torch kernel (batched, on the caller's device and dtype); the numpy API is
an adapter at the edge (arrays in, float64 through the kernel, arrays out). Imaging sits below
diffusion: :mod:`netdiffus.imaging.kernels` (the field formulas) imports only torch and numpy and
is what the UNet's GASF head uses; nothing here imports :mod:`netdiffus.diffusion`.

- :mod:`~netdiffus.imaging.kernels`: GASF / GADF from angles, the diagonal inversion, the numpy
  adapter.
- :class:`GramianAngularField`: fit / transform / inverse_transform (numpy, and ``*_torch``),
  scaling modes, gamma correction, PAA, ``diagonal`` and ``projection`` inversion.
- :class:`SeriesScaler`, :class:`TraceScaleModel`: scaling to [0, 1]; a class-conditional model
  of the per-trace scale for the per-series modes.
- :func:`project_gasf_torch`, :func:`gasf_consistency`: nearest valid GASF and the distance to it.
- :class:`MarkovTransitionField`: transform only (not invertible).
"""

from netdiffus.imaging.gaf import (
    GramianAngularField,
    gadf,
    gadf_torch,
    gamma_correct,
    gamma_uncorrect,
    gasf,
    gasf_torch,
    series_from_gasf_diagonal,
    series_from_gasf_torch,
)
from netdiffus.imaging.kernels import gasf_from_angles, gasf_from_cos_sin
from netdiffus.imaging.mtf import MarkovTransitionField
from netdiffus.imaging.paa import paa, paa_inverse, paa_inverse_torch, paa_torch
from netdiffus.imaging.projection import (
    gasf_consistency,
    gasf_consistency_torch,
    project_gasf,
    project_gasf_torch,
    series_from_gasf_projection,
    series_from_gasf_projection_torch,
)
from netdiffus.imaging.scaling import SCALING_MODES, SeriesScaler, TraceScaleModel

__all__ = [
    "GramianAngularField",
    "MarkovTransitionField",
    "SeriesScaler",
    "TraceScaleModel",
    "SCALING_MODES",
    "gasf",
    "gadf",
    "gasf_torch",
    "gadf_torch",
    "gasf_from_angles",
    "gasf_from_cos_sin",
    "gamma_correct",
    "gamma_uncorrect",
    "series_from_gasf_diagonal",
    "series_from_gasf_torch",
    "series_from_gasf_projection",
    "series_from_gasf_projection_torch",
    "project_gasf",
    "project_gasf_torch",
    "gasf_consistency",
    "gasf_consistency_torch",
    "paa",
    "paa_inverse",
    "paa_torch",
    "paa_inverse_torch",
]
