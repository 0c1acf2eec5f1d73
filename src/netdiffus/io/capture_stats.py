"""What ``prepare`` keeps about captures for ``export``: :class:`CaptureStats`, a versioned contract.

Per class (label), counted over the packets that enter the series of the traces kept:

- the IP packet sizes (bytes, IP total length), one histogram per direction when the series know
  directions (split channels, signed sizes), else one for both;
- the arrival offsets of packets within their bin, as a fraction of the bin width (binned series
  only);
- the transport of most of the class's packets (``tcp``, ``udp`` or ``other``).

One direction convention holds throughout (:data:`~netdiffus.features.series.Direction`): ``up``
is from the host / flow initiator (what the exporter sends client -> server), ``down`` is to it.

On disk the statistics live in ``DatasetMeta.extra``, so in the ``netdiffus`` schema metadata of
the Parquet file, beside the other keys ``prepare`` writes there::

    capture_stats_version: 2
    packet_sizes:      {label: {"edges": [...], "counts": [...]}}                 # both directions
                       {label: {"down": {"edges", "counts"}, "up": {"edges", "counts"}}}
    transport:         {label: "tcp" | "udp" | "other"}
    intra_bin_offsets: {label: {"edges": [...], "counts": [...]}}                 # binned series

Versions
--------
1
    No ``capture_stats_version`` key (netdiffus 0.1.0). The same keys, and what the exporter of
    that version also read: a class's sizes keyed by channel name (``{"bytes_to_host": ...}``,
    taken as that channel's direction), offsets per direction (pooled), a side missing or
    empty, tables that are not dicts and transports other than ``tcp``, ``udp``, ``other``
    (ignored). :meth:`CaptureStats.from_json` migrates them.
2
    Adds ``capture_stats_version``; sizes are one histogram or ``{"down", "up"}``.

A histogram whose counts are all zero (no packet went that way) is kept as written and read as
absent.

Examples
--------
>>> stats = CaptureStats.from_json({
...     "packet_sizes": {"cam": {"down": {"edges": [0, 8, 16], "counts": [0, 3]},
...                              "up": {"edges": [0, 8, 16], "counts": [1, 1]}}},
...     "transport": {"cam": "udp"}})
>>> stats.version, stats.transport_of("cam"), stats.sizes("cam", "up").counts
(2, 'udp', (1, 1))
>>> stats.sizes("cam", None).counts          # both directions pooled
(1.0, 4.0)
>>> stats.to_json()["capture_stats_version"], stats.offsets("cam") is None
(2, True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from netdiffus.errors import DatasetError
from netdiffus.features.series import (
    DIRECTION_ROWS,
    OFFSET_EDGES,
    SIZE_EDGES,
    TRANSPORTS,
    Direction,
    Transport,
    histogram_json,
)
from netdiffus.io.dataset import DatasetMeta

__all__ = ["CaptureStats", "CountHistogram", "PacketSizes", "CAPTURE_STATS_VERSION", "VERSION_KEY"]

#: The version :meth:`CaptureStats.to_json` writes (see the module docstring).
CAPTURE_STATS_VERSION = 2
#: The ``DatasetMeta.extra`` key holding the version (absent: version 1).
VERSION_KEY = "capture_stats_version"
#: The ``DatasetMeta.extra`` keys of the statistics.
STATS_KEYS = ("packet_sizes", "transport", "intra_bin_offsets")


@dataclass(frozen=True)
class CountHistogram:
    """Counts of values in bins: ``counts[k]`` values in ``[edges[k], edges[k + 1])``.

    The numbers are kept as read or given (integers stay integers), so that the JSON written is
    the JSON read.

    Parameters
    ----------
    edges : tuple of float, length K + 1
        Finite, increasing bin edges.
    counts : tuple of float, length K
        Counts >= 0; all zero means nothing was seen.
    """

    edges: tuple[float, ...]
    counts: tuple[float, ...]

    @classmethod
    def from_json(cls, obj: Any, *, what: str, allow_empty: bool = True) -> CountHistogram:
        """Read ``{"edges": [...], "counts": [...]}``; raise :class:`DatasetError` naming ``what``.

        >>> CountHistogram.from_json({"edges": [0, 1], "counts": [0]}, what="h", allow_empty=False)
        Traceback (most recent call last):
        ...
        netdiffus.errors.DatasetError: h counts must be >= 0 and not all zero (got [0.0]...)
        """
        if not isinstance(obj, dict) or "edges" not in obj or "counts" not in obj:
            raise DatasetError(f"{what} must be a dict with 'edges' and 'counts' (got {str(obj)[:60]})")
        try:
            edges = np.asarray(obj["edges"], dtype=np.float64)
            counts = np.asarray(obj["counts"], dtype=np.float64)
        except (TypeError, ValueError):  # a value that is not a number (a tampered or hand-made file)
            raise DatasetError(f"{what} edges and counts must be lists of numbers (got {str(obj)[:60]})") from None
        if edges.ndim != 1 or counts.ndim != 1 or len(edges) != len(counts) + 1 or len(counts) == 0:
            raise DatasetError(
                f"{what} must have len(edges) == len(counts) + 1 >= 2 (got {len(edges)} edges, {len(counts)} counts)"
            )
        if not np.all(np.isfinite(edges)) or np.any(np.diff(edges) <= 0):
            raise DatasetError(f"{what} edges must be finite and increasing (got {edges[:6].tolist()}...)")
        if not np.all(np.isfinite(counts)) or np.any(counts < 0) or (counts.sum() <= 0 and not allow_empty):
            raise DatasetError(f"{what} counts must be >= 0 and not all zero (got {counts[:6].tolist()}...)")
        return cls(edges=tuple(obj["edges"]), counts=tuple(obj["counts"]))

    @classmethod
    def from_counts(cls, counts: np.ndarray, edges: np.ndarray) -> CountHistogram:
        """From numpy counts ``[K]`` and edges ``[K + 1]`` (as plain Python numbers)."""
        obj = histogram_json(counts, edges)
        return cls(edges=tuple(obj["edges"]), counts=tuple(obj["counts"]))

    def to_json(self) -> dict[str, list[float]]:
        return {"edges": list(self.edges), "counts": list(self.counts)}

    @property
    def empty(self) -> bool:
        """True when nothing was counted."""
        return not any(self.counts)


def _pooled(parts: list[CountHistogram | None]) -> CountHistogram | None:
    """The sum of the non-empty histograms of ``parts`` (None if none, or if their edges differ)."""
    seen = [p for p in parts if p is not None and not p.empty]
    if not seen or any(p.edges != seen[0].edges for p in seen):
        return None
    if len(seen) == 1:
        return seen[0]
    total = np.sum([np.asarray(p.counts, np.float64) for p in seen], axis=0)
    return CountHistogram(edges=seen[0].edges, counts=tuple(total.tolist()))


@dataclass(frozen=True)
class PacketSizes:
    """The IP packet sizes of one class: one histogram per direction, or one for both.

    Parameters
    ----------
    up, down : CountHistogram or None
        Sizes from / to the host or initiator (None: not kept).
    both : CountHistogram or None
        Sizes of both directions together, when the series did not tell directions apart.
    """

    up: CountHistogram | None = None
    down: CountHistogram | None = None
    both: CountHistogram | None = None

    def get(self, direction: Direction | None) -> CountHistogram | None:
        """The sizes of ``direction``, or of both directions (None, pooled); None if nothing was seen."""
        if self.both is not None:
            return None if self.both.empty else self.both
        if direction is not None:
            h = self.up if direction == "up" else self.down
            return None if h is None or h.empty else h
        return _pooled([self.down, self.up])

    def to_json(self) -> dict[str, Any]:
        if self.both is not None:
            return self.both.to_json()
        by_row = {d: getattr(self, d) for d in DIRECTION_ROWS}
        return {d: h.to_json() for d, h in by_row.items() if h is not None}


@dataclass(frozen=True)
class CaptureStats:
    """The capture statistics of a dataset, per class (see the module docstring).

    Parameters
    ----------
    packet_sizes : mapping of str to PacketSizes
    transport : mapping of str to {"tcp", "udp", "other"}
    intra_bin_offsets : mapping of str to CountHistogram, or None
        Arrival offsets within a bin (fractions of the bin width); None for series without bins.

    Attributes
    ----------
    version : int
        The version of the contract these statistics follow, :data:`CAPTURE_STATS_VERSION`
        (older versions are migrated when read).
    """

    version: ClassVar[int] = CAPTURE_STATS_VERSION
    packet_sizes: Mapping[str, PacketSizes] = field(default_factory=dict)
    transport: Mapping[str, Transport] = field(default_factory=dict)
    intra_bin_offsets: Mapping[str, CountHistogram] | None = None

    # -- reading ---------------------------------------------------------------------------------
    def sizes(self, label: str, direction: Direction | None) -> CountHistogram | None:
        """The packet sizes of ``label`` in ``direction`` (None: both); None if none were seen."""
        entry = self.packet_sizes.get(label)
        return None if entry is None else entry.get(direction)

    def offsets(self, label: str) -> CountHistogram | None:
        """The intra-bin offsets of ``label``; None if not kept or none were seen."""
        h = (self.intra_bin_offsets or {}).get(label)
        return None if h is None or h.empty else h

    def transport_of(self, label: str) -> Transport | None:
        return self.transport.get(label)

    # -- building --------------------------------------------------------------------------------
    @classmethod
    def from_counts(
        cls,
        *,
        size_hist: Mapping[str, np.ndarray],
        offset_hist: Mapping[str, np.ndarray] | None,
        transport_counts: Mapping[str, np.ndarray],
        by_direction: bool,
    ) -> CaptureStats:
        """Statistics from per-class counts as the series builders keep them.

        Parameters
        ----------
        size_hist : mapping of label to ndarray [2, len(SIZE_EDGES) - 1]
            Packet sizes, rows in :data:`~netdiffus.features.series.DIRECTION_ROWS` order.
        offset_hist : mapping of label to ndarray [len(OFFSET_EDGES) - 1], or None
            Intra-bin offsets (None: the series have no bins).
        transport_counts : mapping of label to ndarray [3]
            Packets per transport, in :data:`~netdiffus.features.series.TRANSPORTS` order.
        by_direction : bool
            Keep one size histogram per direction (the series tell directions apart).
        """
        def sizes(h: np.ndarray) -> PacketSizes:
            if not by_direction:
                return PacketSizes(both=CountHistogram.from_counts(h.sum(axis=0), SIZE_EDGES))
            rows = {d: CountHistogram.from_counts(h[k], SIZE_EDGES) for k, d in enumerate(DIRECTION_ROWS)}
            return PacketSizes(**rows)

        return cls(
            packet_sizes={lab: sizes(size_hist[lab]) for lab in sorted(size_hist)},
            transport={lab: TRANSPORTS[int(np.argmax(transport_counts[lab]))] for lab in sorted(transport_counts)},
            intra_bin_offsets=None if offset_hist is None else {
                lab: CountHistogram.from_counts(offset_hist[lab], OFFSET_EDGES) for lab in sorted(offset_hist)},
        )

    # -- JSON ------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The ``DatasetMeta.extra`` keys of these statistics (version first)."""
        out: dict[str, Any] = {
            VERSION_KEY: self.version,
            "packet_sizes": {lab: s.to_json() for lab, s in self.packet_sizes.items()},
            "transport": dict(self.transport),
        }
        if self.intra_bin_offsets is not None:
            out["intra_bin_offsets"] = {lab: h.to_json() for lab, h in self.intra_bin_offsets.items()}
        return out

    @classmethod
    def from_json(cls, extra: Mapping[str, Any], *,
                  channels: Mapping[str, Direction] | None = None) -> CaptureStats | None:
        """Read the statistics from ``DatasetMeta.extra``, migrating version 1 to the current one.

        Parameters
        ----------
        extra : mapping
            ``DatasetMeta.extra``; keys other than the statistics' are ignored.
        channels : mapping of channel name to direction, optional
            For version 1 sizes keyed by channel name: the direction of each channel.

        Returns
        -------
        CaptureStats or None
            None when ``extra`` holds no statistics (series not prepared from captures).

        Raises
        ------
        DatasetError
            A version newer than this netdiffus reads, or a malformed histogram (the message
            names it, e.g. ``meta.extra['packet_sizes']['cam']['up']``).
        """
        if not any(k in extra for k in (VERSION_KEY, *STATS_KEYS)):
            return None
        _check_version(extra.get(VERSION_KEY, 1))
        offsets = {lab: _read_pooled(entry, f"meta.extra['intra_bin_offsets'][{lab!r}]")
                   for lab, entry in _table(extra, "intra_bin_offsets").items()}
        return cls(
            packet_sizes={lab: _read_sizes(entry, f"meta.extra['packet_sizes'][{lab!r}]", channels or {})
                          for lab, entry in _table(extra, "packet_sizes").items()},
            transport={lab: t for lab, t in _table(extra, "transport").items() if t in TRANSPORTS},
            intra_bin_offsets=None if "intra_bin_offsets" not in extra else
            {lab: h for lab, h in offsets.items() if h is not None},
        )

    @classmethod
    def from_meta(cls, meta: DatasetMeta, *, channels: Mapping[str, Direction] | None = None) -> CaptureStats | None:
        """:meth:`from_json` of ``meta.extra``."""
        return cls.from_json(meta.extra or {}, channels=channels)


def _check_version(version: Any) -> None:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise DatasetError(f"meta.extra[{VERSION_KEY!r}] must be an integer >= 1 (got {version!r})")
    if version > CAPTURE_STATS_VERSION:
        raise DatasetError(f"the capture statistics are of version {version}, newer than this netdiffus reads "
                           f"(up to {CAPTURE_STATS_VERSION}): upgrade netdiffus")


def _table(extra: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """``extra[key]`` if it is a dict (version 1 readers ignored anything else), else empty."""
    table = extra.get(key)
    return table if isinstance(table, dict) else {}


def _is_histogram(entry: Any) -> bool:
    return not isinstance(entry, dict) or "edges" in entry


def _read_sizes(entry: Any, what: str, channels: Mapping[str, Direction]) -> PacketSizes:
    """One class's sizes: a histogram (both directions), or histograms by direction or by channel name."""
    if _is_histogram(entry):
        return PacketSizes(both=CountHistogram.from_json(entry, what=what))
    by_direction: dict[str, CountHistogram] = {}
    for key, direction in [(d, d) for d in DIRECTION_ROWS] + list(channels.items()):  # a channel's own wins
        if key in entry:
            by_direction[direction] = CountHistogram.from_json(entry[key], what=f"{what}[{key!r}]")
    return PacketSizes(**by_direction)


def _read_pooled(entry: Any, what: str) -> CountHistogram | None:
    """One class's histogram, or the pool of those it holds by direction or channel (None: nothing seen)."""
    if _is_histogram(entry):
        return CountHistogram.from_json(entry, what=what)
    return _pooled([CountHistogram.from_json(v, what=f"{what}[{k!r}]") for k, v in entry.items()])
