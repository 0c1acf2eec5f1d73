"""Series values as tokens: a per-channel vocabulary for generators that draw discrete values.

Traffic values are discrete where protocols repeat themselves (the same packet sizes, handshake
byte counts and directions trace after trace) and continuous elsewhere (timing, bulk volumes). A
:class:`SeriesVocabulary` gives each channel

- token 0 for the value 0 (an empty bin, or the padding after a session's last packet);
- one token per exact value that at least ``min_traces`` training traces hold (no value of a
  single trace becomes a token), at most ``max_exact`` of them, the most widely held;
- ``bins`` tokens for every other value: quantile bins of ``sign(v) log1p|v|`` over the
  training values that are not exact tokens; decoding draws a value inside its bin (uniform in
  that log space) with the trace's own generator, so a bin token never replays a training value.

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
    """Per channel: the exact values (sorted) and the bin edges (in signed log space) of the tokens.

    Token layout of channel ``c``: 0 is the value 0; ``1 .. len(exact[c])`` the exact values;
    then one token per bin ``[edges[c][b], edges[c][b + 1]]``.
    """

    exact: list[np.ndarray]
    edges: list[np.ndarray]

    @classmethod
    def fit(cls, series: np.ndarray, *, bins: int = 32, min_traces: int = 2, max_exact: int = 1024) -> SeriesVocabulary:
        """Vocabularies of training ``series`` ``[N, C, T]``.

        Parameters
        ----------
        bins : int
            Quantile bins per channel for the values that are not exact tokens (>= 1).
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
        exact, edges = [], []
        for c in range(series.shape[1]):
            x = series[:, c]
            held = [np.unique(r[r != 0]) for r in x]
            u, n = np.unique(np.concatenate(held) if held else np.zeros(0), return_counts=True)
            keep = n >= min_traces
            values, counts = u[keep], n[keep]
            if len(values) > max_exact:  # the most widely held, ties to the smaller value
                values = np.sort(values[np.lexsort((values, -counts))[:max_exact]])
            rest = _signed_log(x[(x != 0) & ~np.isin(x, values)])
            e = np.unique(np.quantile(rest, np.linspace(0.0, 1.0, bins + 1))) if len(rest) else np.zeros(0)
            if len(e) == 1:  # one distinct value: a bin of width 0
                e = np.array([e[0], e[0]])
            exact.append(values)
            edges.append(e)
        return cls(exact=exact, edges=edges)

    @property
    def sizes(self) -> list[int]:
        """Tokens per channel (0, the exact values, the bins)."""
        return [1 + len(v) + max(len(e) - 1, 0) for v, e in zip(self.exact, self.edges, strict=True)]

    def encode(self, series: np.ndarray) -> np.ndarray:
        """Series ``[N, C, T]`` -> tokens ``[N, C, T]`` (int64). A value outside a channel's bins
        takes the nearest bin."""
        series = np.asarray(series, dtype=np.float64)
        out = np.zeros(series.shape, dtype=np.int64)
        for c, (values, e) in enumerate(zip(self.exact, self.edges, strict=True)):
            x = series[:, c]
            pos = np.clip(np.searchsorted(values, x), 0, max(len(values) - 1, 0))
            hit = (x != 0) & (len(values) > 0) & (values[pos] == x if len(values) else False)
            tok = np.where(hit, 1 + pos, 0)
            rest = (x != 0) & ~hit
            if rest.any():
                if len(e) < 2:  # no bins: the nearest exact value
                    near = np.abs(values[None, :] - x[rest][:, None]).argmin(axis=1)
                    tok[rest] = 1 + near
                else:
                    b = np.clip(np.searchsorted(e, _signed_log(x[rest]), side="right") - 1, 0, len(e) - 2)
                    tok[rest] = 1 + len(values) + b
            out[:, c] = tok
        return out

    def decode(self, tokens: np.ndarray, *, rngs: Sequence[np.random.Generator]) -> np.ndarray:
        """Tokens ``[N, C, T]`` -> series ``[N, C, T]`` (float64); bin tokens draw their value with
        the trace's generator ``rngs[k]`` (the same trace whatever else is decoded beside it)."""
        tokens = np.asarray(tokens)
        if len(rngs) != len(tokens):
            raise ConfigError(f"rngs must give one generator per trace ({len(tokens)}) (got {len(rngs)})")
        out = np.zeros(tokens.shape, dtype=np.float64)
        for c, (values, e) in enumerate(zip(self.exact, self.edges, strict=True)):
            tok = np.clip(tokens[:, c], 0, self.sizes[c] - 1)
            is_exact = (tok >= 1) & (tok <= len(values))
            out[:, c][is_exact] = values[tok[is_exact] - 1]
            in_bin = tok > len(values)
            if in_bin.any():
                u = np.stack([rng.random(tokens.shape[-1]) for rng in rngs])  # [N, T], one draw per bin
                b = tok - 1 - len(values)
                s = e[np.clip(b, 0, len(e) - 2)] + (e[np.clip(b + 1, 1, len(e) - 1)] - e[np.clip(b, 0, len(e) - 2)]) * u
                out[:, c][in_bin] = _signed_exp(s)[in_bin]
        return out

    def to_json(self) -> dict[str, Any]:
        return {"exact": [v.tolist() for v in self.exact], "edges": [e.tolist() for e in self.edges]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SeriesVocabulary:
        """Read :meth:`to_json`'s output.

        Raises
        ------
        ValueError
            A channel whose values are not finite and increasing (a tampered run folder).
        """
        exact = [np.asarray(v, dtype=np.float64) for v in data["exact"]]
        edges = [np.asarray(e, dtype=np.float64) for e in data["edges"]]
        if len(exact) != len(edges):
            raise ValueError("vocabulary: exact and edges must have one entry per channel")
        for c, (v, e) in enumerate(zip(exact, edges, strict=True)):
            if v.ndim != 1 or e.ndim != 1 or not (np.isfinite(v).all() and np.isfinite(e).all()) \
                    or (np.diff(v) <= 0).any() or (np.diff(e) < 0).any() or (0 in v) or len(e) == 1:
                raise ValueError(f"vocabulary of channel {c} must hold increasing finite values (no 0) and "
                                 "increasing finite bin edges")
        return cls(exact=exact, edges=edges)
