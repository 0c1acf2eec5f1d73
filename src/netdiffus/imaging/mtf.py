"""Markov transition field (MTF): an alternative imaging, transform only.

Each series is discretised into ``n_bins`` quantile bins of its own values; ``W[a, b]`` is the
frequency of a step from bin ``a`` to bin ``b`` (rows normalised to sum to 1) and the field is
``M[i, j] = W[q_i, q_j]``, ``[T] -> [T, T]``, optionally averaged over PAA blocks down to
``image_size``.

The MTF is **not invertible**: it keeps only which quantile bin each value falls in and the
transition frequencies, not the values, their scale or their order within a bin. Use
:class:`~netdiffus.imaging.gaf.GramianAngularField` with ``method="summation"`` to generate traces.

Examples
--------
>>> import numpy as np
>>> x = np.array([[[1.0, 2.0, 1.0, 2.0]]])           # [N=1, C=1, T=4]
>>> MarkovTransitionField(n_bins=2).fit(x).transform(x)[0, 0].tolist()
[[0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0], [1.0, 0.0, 1.0, 0.0]]
"""

from __future__ import annotations

import numpy as np

from netdiffus.errors import ConfigError, DatasetError
from netdiffus.imaging.paa import paa_bounds
from netdiffus.imaging.scaling import _as_nct

__all__ = ["MarkovTransitionField"]


class MarkovTransitionField:
    """Markov transition field of ``[N, C, T]`` traces -> ``[N, C, S, S]`` images in [0, 1].

    Parameters
    ----------
    n_bins : int
        Quantile bins per series (>= 2).
    image_size : int, optional
        Image side ``S``: the ``T x T`` field is averaged over ``S x S`` PAA blocks. Default ``T``.
    """

    def __init__(self, *, n_bins: int = 8, image_size: int | None = None) -> None:
        self.n_bins = n_bins
        self.image_size = image_size

    def fit(self, x: np.ndarray) -> MarkovTransitionField:
        """Validate parameters against ``x`` ``[N, C, T]`` (the field has no fitted state)."""
        if not (isinstance(self.n_bins, (int, np.integer)) and self.n_bins >= 2):
            raise ConfigError(f"n_bins must be an integer >= 2 (got {self.n_bins!r})")
        x = _as_nct(x)
        self.n_timestamps_ = int(x.shape[2])
        if self.image_size is not None:
            paa_bounds(self.n_timestamps_, int(self.image_size))
        return self

    def transform(self, x: np.ndarray) -> np.ndarray:
        """Traces ``[N, C, T]`` -> fields ``[N, C, S, S]`` (float64)."""
        if not hasattr(self, "n_timestamps_"):
            raise ConfigError("MarkovTransitionField is not fitted: call fit(x) first")
        x = _as_nct(x).astype(np.float64)
        n, c, t = x.shape
        if t != self.n_timestamps_:
            raise DatasetError(f"series must have {self.n_timestamps_} bins as fitted (got {t})")
        flat = x.reshape(n * c, t)
        q = self.n_bins
        edges = np.percentile(flat, np.linspace(0, 100, q + 1)[1:-1], axis=1).T  # [NC, q - 1]
        binned = np.stack([np.searchsorted(e, row, side="left") for e, row in zip(edges, flat, strict=True)])
        # transition counts W[a, b] per series, normalised by row
        w = np.zeros((n * c, q, q))
        rows = np.repeat(np.arange(n * c), t - 1)
        np.add.at(w, (rows, binned[:, :-1].ravel(), binned[:, 1:].ravel()), 1.0)
        total = w.sum(axis=2, keepdims=True)
        w /= np.where(total == 0, 1.0, total)
        field = w[np.arange(n * c)[:, None, None], binned[:, :, None], binned[:, None, :]]
        if self.image_size is not None and int(self.image_size) != t:
            b = paa_bounds(t, int(self.image_size))
            field = np.add.reduceat(np.add.reduceat(field, b[:-1], axis=1), b[:-1], axis=2)
            field /= np.diff(b)[None, :, None] * np.diff(b)[None, None, :]
        s = field.shape[-1]
        return field.reshape(n, c, s, s)

    def inverse_transform(self, images: np.ndarray) -> np.ndarray:
        """Always raises: a Markov transition field cannot be turned back into a series."""
        raise ConfigError(
            "the Markov transition field is not invertible (it keeps only quantile-bin transition "
            "frequencies): use GramianAngularField(method='summation') to generate traces"
        )
