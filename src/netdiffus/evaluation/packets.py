"""Metrics of discrete traffic: values a capture can hold, session lengths, and mode coverage.

Packet sequences and per-bin counts of protocol-driven traffic are discrete: the same sizes recur,
a packet is never smaller than its headers, a bin holds 0 bytes or at least one packet, and a
class's sessions follow a few patterns in some proportion. These metrics score a synthetic set
against the real training set on exactly that (lower is better for ``impossible`` and
``length_W1``, higher for ``mode_coverage``):

- :func:`impossible_share`: the share of generated values a capture cannot hold, judged from
  the real training set per channel: a non-zero magnitude below the smallest one seen (a packet
  smaller than any header, a bin with less than one packet), a fraction where every real value
  is whole (bytes, packets), a negative value where none is (times, counts).
- :func:`trace_lengths` / :func:`length_w1`: a session's length is its position after the last
  non-zero value (its packets, when the rest is padding); the Wasserstein-1 distance between the
  real and synthetic lengths, per class, averaged.
- :func:`mode_coverage`: a trace's pattern is its first ``prefix`` values of the discrete channels
  (those whose real values are all whole numbers: sizes, directions, counts; timing is left
  out), each rounded to the nearest value of the real training set; per class, the histogram
  intersection of the real and synthetic pattern frequencies (1: every real pattern, in its
  proportion; 0: none).

Examples
--------
>>> import numpy as np
>>> real = np.array([[[60.0, 342.0, 0.0]], [[60.0, 590.0, 90.0]]])
>>> impossible_share(real, np.array([[[60.0, 12.0, 0.0]], [[60.5, 342.0, 0.0]]]))  # 12 < 60; 60.5
0.5
>>> trace_lengths(real).tolist()
[2, 3]
>>> mode_coverage(real, ["a", "a"], real[[0, 0]], ["a", "a"], prefix=2)
0.5
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np
from scipy.stats import wasserstein_distance

from netdiffus.io.dataset import trailing_lengths as trace_lengths

__all__ = ["impossible_share", "trace_lengths", "length_w1", "length_w1_per_class", "mode_coverage",
           "mode_coverage_per_class"]


def impossible_share(real: np.ndarray, synthetic: np.ndarray) -> float:
    """The share of the non-zero values of ``synthetic`` ``[M, C, T]`` that a capture cannot hold,
    by the rules the real training set ``real`` ``[N, C, T]`` shows per channel (see the module)."""
    real, synthetic = np.asarray(real, dtype=np.float64), np.asarray(synthetic, dtype=np.float64)
    bad = total = 0
    for c in range(real.shape[1]):
        r, s = real[:, c], synthetic[:, c]
        r_nz, s_nz = r[r != 0], s[s != 0]
        total += s_nz.size
        if not r_nz.size or not s_nz.size:
            continue
        wrong = np.abs(s_nz) < np.abs(r_nz).min() - 1e-9
        if np.all(r_nz == np.round(r_nz)):
            wrong |= np.abs(s_nz - np.round(s_nz)) > 1e-6
        if (r_nz >= 0).all():
            wrong |= s_nz < 0
        bad += int(wrong.sum())
    return bad / total if total else 0.0


def length_w1(real: np.ndarray, real_labels: Sequence[str], synthetic: np.ndarray,
              synthetic_labels: Sequence[str]) -> float:
    """Wasserstein-1 distance (in positions: packets or bins) between the real and synthetic
    trace lengths of each class present in both, averaged over those classes."""
    per = length_w1_per_class(real, real_labels, synthetic, synthetic_labels)
    return float(np.mean(list(per.values()))) if per else np.nan


def length_w1_per_class(real: np.ndarray, real_labels: Sequence[str] | np.ndarray, synthetic: np.ndarray,
                        synthetic_labels: Sequence[str] | np.ndarray) -> dict[str, float]:
    """:func:`length_w1` of each class present in both sets."""
    lr, ls = trace_lengths(real), trace_lengths(synthetic)
    rl, sl = np.asarray(real_labels), np.asarray(synthetic_labels)
    classes = sorted(set(rl.tolist()) & set(sl.tolist()))
    return {c: float(wasserstein_distance(lr[rl == c], ls[sl == c])) for c in classes}


def _patterns(series: np.ndarray, vocab: list[np.ndarray], prefix: int) -> list[tuple]:
    out = []
    for trace in np.asarray(series, dtype=np.float64)[:, :, :prefix]:
        rounded = []
        for c, values in enumerate(vocab):
            if len(values) == 0:
                rounded.append(tuple(np.zeros(trace.shape[1])))
                continue
            idx = np.clip(np.searchsorted(values, trace[c]), 1, len(values) - 1) if len(values) > 1 else np.zeros(
                trace.shape[1], dtype=int)
            if len(values) > 1:
                left, right = values[idx - 1], values[idx]
                idx = np.where(np.abs(trace[c] - left) <= np.abs(trace[c] - right), idx - 1, idx)
            rounded.append(tuple(values[idx].tolist()))
        out.append(tuple(rounded))
    return out


def mode_coverage(real: np.ndarray, real_labels: Sequence[str], synthetic: np.ndarray,
                  synthetic_labels: Sequence[str], *, prefix: int = 8) -> float:
    """Per class, the histogram intersection of the real and synthetic frequencies of patterns
    (the first ``prefix`` values of the discrete channels, rounded to the nearest real value of
    their channel), averaged over the real classes (a class with no synthetic trace scores 0)."""
    per = mode_coverage_per_class(real, real_labels, synthetic, synthetic_labels, prefix=prefix)
    return float(np.mean([v for v, _ in per.values()]))


def mode_coverage_per_class(real: np.ndarray, real_labels: Sequence[str] | np.ndarray, synthetic: np.ndarray,
                            synthetic_labels: Sequence[str] | np.ndarray, *,
                            prefix: int = 8) -> dict[str, tuple[float, bool]]:
    """:func:`mode_coverage` of each real class, with whether the class's real patterns recur
    (some pattern held by two or more of its traces: where each trace has its own, as with byte
    volumes, the coverage of exact patterns says little)."""
    real, synthetic = np.asarray(real, dtype=np.float64), np.asarray(synthetic, dtype=np.float64)
    discrete = [c for c in range(real.shape[1]) if np.all(real[:, c] == np.round(real[:, c]))]
    keep = discrete or list(range(real.shape[1]))
    real, synthetic = real[:, keep], synthetic[:, keep]
    vocab = [np.unique(np.append(real[:, c], 0.0)) for c in range(real.shape[1])]
    rp, sp = _patterns(real, vocab, prefix), _patterns(synthetic, vocab, prefix)
    rl, sl = np.asarray(real_labels), np.asarray(synthetic_labels)
    out = {}
    for c in sorted(set(rl.tolist())):
        r = Counter(p for p, lab in zip(rp, rl, strict=True) if lab == c)
        s = Counter(p for p, lab in zip(sp, sl, strict=True) if lab == c)
        nr, ns = sum(r.values()), sum(s.values())
        out[c] = (sum(min(k / nr, s[p] / ns) for p, k in r.items()) if ns else 0.0, max(r.values()) > 1)
    return out
