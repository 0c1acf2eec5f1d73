"""Imaging: traces <-> Gramian Angular Field images, with a fitted, invertible scaling."""

from netdiffus.imaging.gaf import (
    GramianAngularField,
    gadf,
    gasf,
    gasf_torch,
    series_from_gasf_diagonal,
    series_from_gasf_torch,
)
from netdiffus.imaging.scaling import SeriesScaler

__all__ = [
    "GramianAngularField",
    "SeriesScaler",
    "gasf",
    "gadf",
    "gasf_torch",
    "series_from_gasf_diagonal",
    "series_from_gasf_torch",
]
