"""Packet sizes that give a trace the packet count its learned header says.

A binned trace of bytes per bin is cut into packets whose sizes are drawn from its class's
packet-size histogram (:class:`~netdiffus.export.traffic.SizeSampler`). The class's histogram
counts every packet of the class, so a bulk transfer gets as many header-sized packets as a
chatty control flow and its flows hold several times the packets real ones do. A learned header
(:class:`~netdiffus.io.headers.TraceHeader`) carries the packets of each of the trace's flows, as
counted in a training trace of the same class and volume. :func:`match_packet_count` tilts the
class's histograms exponentially, weights ``counts[k] * exp(lam * mid[k] / mtu)`` with one ``lam``
for every channel, so that the trace's bytes are expected to fill the header's packets: the sizes
stay those the class sends, in the proportions its traffic of that volume has.

Examples
--------
>>> import numpy as np
>>> from netdiffus.export.traffic import Histogram, SizeSampler
>>> hist = Histogram(edges=np.array([40, 41, 1500, 1501]), counts=np.array([8, 0, 2]))
>>> plain = SizeSampler(hist, min_size=40, mtu=1500)
>>> round(plain.mean)                                 # 80 % header-only packets
332
>>> [bulk] = match_packet_count([plain], bytes_per_channel=[150_000], packets=110)
>>> round(bulk.mean)                                  # 150 kB in about 110 packets
1364
>>> [chatty] = match_packet_count([plain], bytes_per_channel=[4_000], packets=1_000)
>>> round(chatty.mean)                                # as small as the class's sizes go
40
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from netdiffus.export.traffic import Histogram, SizeSampler

__all__ = ["match_packet_count", "tilted"]

#: The bisection's bounds on the tilt (the sizes are scaled by the MTU: exp(60) leaves no weight
#: on the other side) and its iterations.
_LAM_MAX = 60.0
_ITERATIONS = 60


def _mids(sampler: SizeSampler) -> np.ndarray:
    """Each bucket's middle size, bounded to ``[min_size, mtu]``, shape [K]."""
    e = sampler.hist.edges
    return np.clip(0.5 * (e[1:] + e[:-1]), sampler.min_size, sampler.mtu)


def _weights(sampler: SizeSampler, lam: float, *, keep: int = 0) -> np.ndarray:
    """Tilted bucket weights, shape [K] (zero where the count is zero); the first ``keep`` buckets
    keep their weights and the others keep their total."""
    counts = sampler.hist.counts
    z = lam * _mids(sampler) / sampler.mtu
    kept = counts > 0
    kept[:keep] = False
    w = counts.copy()
    if kept.any():
        w[kept] = counts[kept] * np.exp(z[kept] - z[kept].max())
        w[kept] *= counts[kept].sum() / w[kept].sum()
    return w


def _mean(sampler: SizeSampler, lam: float, keep: int) -> float:
    w = _weights(sampler, lam, keep=keep)
    return float((w * _mids(sampler)).sum() / w.sum())


def tilted(sampler: SizeSampler, lam: float, *, keep: int = 0) -> SizeSampler:
    """``sampler`` with its histogram's weights tilted by ``lam`` (0: itself), but for its first
    ``keep`` buckets, whose weights stay."""
    if lam == 0.0:
        return sampler
    hist = Histogram(edges=sampler.hist.edges, counts=_weights(sampler, lam, keep=keep))
    return SizeSampler(hist, min_size=sampler.min_size, mtu=sampler.mtu)


def with_header_only(sampler: SizeSampler, share: float) -> SizeSampler:
    """``sampler`` drawing a header-only packet (exactly ``min_size``) with probability ``share``
    and otherwise a size of its buckets above the header bucket (the bucket holding ``min_size``
    and the one of its 8 bytes after it), in their proportions; itself without such buckets.
    """
    e, counts = sampler.hist.edges, sampler.hist.counts
    data = e[:-1] >= e[min(int(np.searchsorted(e, sampler.min_size, side="right")), len(e) - 1)]
    if not 0.0 < share < 1.0 or counts[data].sum() <= 0:
        return sampler
    first = int(np.argmax(data))
    edges = np.concatenate([[sampler.min_size, sampler.min_size + 1], e[first:]])
    rest = counts[first:] / counts[first:].sum() * (1.0 - share)
    return SizeSampler(Histogram(edges=edges, counts=np.concatenate([[share, 0.0], rest])),
                       min_size=sampler.min_size, mtu=sampler.mtu)


def match_packet_count(samplers: Sequence[SizeSampler | None], *, bytes_per_channel: Sequence[int],
                       packets: int, header_only: float = -1.0) -> list[SizeSampler | None]:
    """Size samplers, one per channel, tilted so that the bytes are expected to fill ``packets``.

    Parameters
    ----------
    samplers : sequence of SizeSampler or None, [C]
        The class's size distribution per channel (None: a channel without one, kept as it is;
        its bytes, if any, are not counted).
    bytes_per_channel : sequence of int, [C]
        The trace's bytes in each channel (all bins).
    packets : int
        The packets the trace's header counts (every flow, both directions).
    header_only : float
        The share of those packets that are header-only (TCP pure ACKs), in ``[0, 1)``; each
        sampler then draws exactly its ``min_size`` with that probability and tilts only its
        other sizes (:func:`with_header_only`). Negative: unknown, every size is tilted.

    Returns
    -------
    list of SizeSampler or None, [C]
        One tilt for every channel, chosen by bisection so that ``sum_c bytes_c / mean_c`` comes
        closest to ``packets``; the samplers as given when there are no bytes or no packets. A
        count the class's sizes cannot reach gets the largest (smallest) sizes it sends.
    """
    b = np.asarray(bytes_per_channel, np.float64)
    if packets <= 0 or not any(s is not None and bc > 0 for s, bc in zip(samplers, b, strict=True)):
        return list(samplers)
    mixed = [s if s is None or header_only <= 0 else with_header_only(s, header_only) for s in samplers]
    keep = [0 if m is None or m is s else 2 for m, s in zip(mixed, samplers, strict=True)]

    def expected(lam: float) -> float:  # decreasing in lam
        return float(sum(bc / _mean(s, lam, k) for s, bc, k in zip(mixed, b, keep, strict=True)
                         if s is not None and bc > 0))

    lo, hi = -_LAM_MAX, _LAM_MAX
    for _ in range(_ITERATIONS):
        mid = 0.5 * (lo + hi)
        if expected(mid) > packets:
            lo = mid
        else:
            hi = mid
    return [None if s is None else tilted(s, 0.5 * (lo + hi), keep=k) for s, k in zip(mixed, keep, strict=True)]
