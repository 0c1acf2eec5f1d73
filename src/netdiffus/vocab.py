"""Series values as tokens: a per-channel vocabulary for generators that draw discrete values.

Traffic values are discrete where protocols repeat themselves (the same packet sizes, handshake
byte counts and directions trace after trace) and continuous elsewhere (timing, bulk volumes). A
:class:`SeriesVocabulary` gives each channel

- token 0 for the value 0 (an empty bin, or the padding after a session's last packet);
- one token per exact value that at least ``min_traces`` training traces hold (no value of a
  single trace becomes a token), at most ``max_exact`` of them, the most widely held;
- ``bins`` tokens for every other value: quantile bins of ``sign(v) log1p|v|`` over the
  training values that are not exact tokens; decoding draws a value inside its bin (uniform in
  that log space) with the trace's own generator, so a bin token never replays a training value;
  where every training value of the channel is whole (bytes, packets), the drawn value is rounded.

A generated series then holds only values of the training range: exact values that recur, or
values between the smallest and largest others, never a size below the smallest header seen.

Examples
--------
>>> import numpy as np
>>> x = np.array([[[60.0, -342.0, 0.0]], [[60.0, -342.0, 1500.0]], [[60.0, 77.0, 0.0]]])  # [N, C, T]
>>> vocab = SeriesVocabulary.fit(x, bins=2)
>>> vocab.sizes, vocab.exact[0].tolist()
([5], [-342.0, 60.0])
>>> vocab.encode(x)[:, 0].tolist()
[[2, 1, 0], [2, 1, 4], [2, 3, 0]]
>>> back = vocab.decode(vocab.encode(x), rngs=[np.random.default_rng(k) for k in range(3)])
>>> back[:, 0, :2].tolist()[:2]     # exact tokens give their value back
[[60.0, -342.0], [60.0, -342.0]]
>>> bool(77.0 <= back[2, 0, 1] <= 1500.0)  # 77 falls in a bin: a value drawn inside it
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from netdiffus.errors import ConfigError

__all__ = ["SeriesVocabulary"]


def _signed_log(v: np.ndarray) -> np.ndarray:
    return np.sign(v) * np.log1p(np.abs(v))


def _signed_exp(s: np.ndarray) -> np.ndarray:
    return np.sign(s) * np.expm1(np.abs(s))


@dataclass
class SeriesVocabulary:
    """Per channel: the exact values (sorted) and the bins (in signed log space) of the tokens.

    Token layout of channel ``c``: 0 is the value 0; ``1 .. len(exact[c])`` the exact values;
    then one token per bin ``bins[c][b] = (lo, hi)`` (sorted, disjoint; a bin never holds values
    of both signs). ``integral[c]``: the channel's training values are all whole numbers, and so
    are the values decoded from its bins.
    """

    exact: list[np.ndarray]
    bins: list[np.ndarray]
    integral: list[bool]

    @classmethod
    def fit(cls, series: np.ndarray, *, bins: int = 32, min_traces: int = 2, max_exact: int = 1024) -> SeriesVocabulary:
        """Vocabularies of training ``series`` ``[N, C, T]``.

        Parameters
        ----------
        bins : int
            Quantile bins per channel for the values that are not exact tokens (>= 1), shared
            between negative and positive values in proportion to their counts.
        min_traces : int
            A value becomes an exact token when at least this many traces hold it (>= 2).
        max_exact : int
            Most exact tokens per channel (the most widely held are kept).
        """
        if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
            raise ConfigError(f"bins must be an integer >= 1 (got {bins!r})")
        if isinstance(min_traces, bool) or not isinstance(min_traces, int) or min_traces < 2:
            raise ConfigError(f"min_traces must be an integer >= 2 (got {min_traces!r})")
        series = np.asarray(series, dtype=np.float64)
        exact, all_bins = [], []
        for c in range(series.shape[1]):
            x = series[:, c]
            held = [np.unique(r[r != 0]) for r in x]
            u, n = np.unique(np.concatenate(held) if held else np.zeros(0), return_counts=True)
            keep = n >= min_traces
            values, counts = u[keep], n[keep]
            if len(values) > max_exact:  # the most widely held, ties to the smaller value
                values = np.sort(values[np.lexsort((values, -counts))[:max_exact]])
            exact.append(values)
            all_bins.append(_quantile_bins(_signed_log(x[(x != 0) & ~np.isin(x, values)]), bins))
        integral = [bool(np.all(series[:, c] == np.round(series[:, c]))) for c in range(series.shape[1])]
        return cls(exact=exact, bins=all_bins, integral=integral)

    @property
    def sizes(self) -> list[int]:
        """Tokens per channel (0, the exact values, the bins)."""
        return [1 + len(v) + len(b) for v, b in zip(self.exact, self.bins, strict=True)]

    def encode(self, series: np.ndarray) -> np.ndarray:
        """Series ``[N, C, T]`` -> tokens ``[N, C, T]`` (int64). A value outside every bin of its
        channel takes the nearest bin (or, without bins, the nearest exact value)."""
        series = np.asarray(series, dtype=np.float64)
        out = np.zeros(series.shape, dtype=np.int64)
        for c, (values, b) in enumerate(zip(self.exact, self.bins, strict=True)):
            x = series[:, c]
            pos = np.clip(np.searchsorted(values, x), 0, max(len(values) - 1, 0))
            hit = (x != 0) & (values[pos] == x) if len(values) else np.zeros(x.shape, dtype=bool)
            tok = np.where(hit, 1 + pos, 0)
            rest = (x != 0) & ~hit
            if rest.any():
                if len(b) == 0:  # no bins: the nearest exact value
                    tok[rest] = 1 + np.abs(values[None, :] - x[rest][:, None]).argmin(axis=1)
                else:
                    sl = _signed_log(x[rest])
                    gap = np.maximum(b[None, :, 0] - sl[:, None], 0) + np.maximum(sl[:, None] - b[None, :, 1], 0)
                    tok[rest] = 1 + len(values) + gap.argmin(axis=1)
            out[:, c] = tok
        return out

    def decode(self, tokens: np.ndarray, *, rngs: Sequence[np.random.Generator]) -> np.ndarray:
        """Tokens ``[N, C, T]`` -> series ``[N, C, T]`` (float64); bin tokens draw their value with
        the trace's generator ``rngs[k]`` (the same trace whatever else is decoded beside it)."""
        tokens = np.asarray(tokens)
        if len(rngs) != len(tokens):
            raise ConfigError(f"rngs must give one generator per trace ({len(tokens)}) (got {len(rngs)})")
        u = np.stack([rng.random(tokens.shape[1:]) for rng in rngs]) if len(tokens) else np.zeros(tokens.shape)
        out = np.zeros(tokens.shape, dtype=np.float64)
        for c, (values, b) in enumerate(zip(self.exact, self.bins, strict=True)):
            tok = np.clip(tokens[:, c], 0, self.sizes[c] - 1)
            is_exact = (tok >= 1) & (tok <= len(values))
            out[:, c][is_exact] = values[tok[is_exact] - 1]
            in_bin = tok > len(values)
            if in_bin.any():
                lo, hi = b[tok[in_bin] - 1 - len(values)].T
                value = _signed_exp(lo + (hi - lo) * u[:, c][in_bin])
                if self.integral[c]:  # whole numbers stay whole, and a value never rounds to 0
                    value = np.where(np.round(value) == 0, np.sign(lo + hi), np.round(value))
                out[:, c][in_bin] = value
        return out

    def to_json(self) -> dict[str, Any]:
        return {"exact": [v.tolist() for v in self.exact], "bins": [b.tolist() for b in self.bins],
                "integral": list(self.integral)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SeriesVocabulary:
        """Read :meth:`to_json`'s output.

        Raises
        ------
        ValueError
            A channel whose values or bins are not finite, sorted and disjoint (a tampered run folder).
        """
        exact = [np.asarray(v, dtype=np.float64) for v in data["exact"]]
        bins = [np.asarray(b, dtype=np.float64).reshape(-1, 2) for b in data["bins"]]
        integral = data["integral"]
        if not (len(exact) == len(bins) == len(integral)) or not all(isinstance(v, bool) for v in integral):
            raise ValueError("vocabulary: exact, bins and integral must have one entry per channel")
        for c, (v, b) in enumerate(zip(exact, bins, strict=True)):
            if v.ndim != 1 or not (np.isfinite(v).all() and np.isfinite(b).all()) or (np.diff(v) <= 0).any() \
                    or (0 in v) or (b[:, 1] < b[:, 0]).any() or (b[1:, 0] < b[:-1, 1]).any():
                raise ValueError(f"vocabulary of channel {c} must hold increasing finite values (no 0) and sorted, "
                                 "disjoint finite bins")
        return cls(exact=exact, bins=bins, integral=list(integral))


def _quantile_bins(s: np.ndarray, bins: int) -> np.ndarray:
    """``[B, 2]`` bins of signed log values ``s``: quantile bins of the negative and of the positive
    values apart (a bin never straddles 0), ``bins`` in all, split in proportion to their counts."""
    out: list[tuple[float, float]] = []
    neg, pos = s[s < 0], s[s > 0]
    n_neg = 0 if not len(neg) else (bins if not len(pos) else min(bins - 1, max(1, round(bins * len(neg) / len(s)))))
    for part, k in ((neg, n_neg), (pos, bins - n_neg)):
        if not len(part) or k < 1:
            continue
        edges = np.unique(np.quantile(part, np.linspace(0.0, 1.0, k + 1)))
        if len(edges) == 1:
            edges = np.array([edges[0], edges[0]])
        out.extend(zip(edges[:-1], edges[1:], strict=True))
    return np.array(out, dtype=np.float64).reshape(-1, 2)
