"""Trace -> fixed-length series: bytes or packets per bin, packet sizes signed by direction, inter-arrival times."""

from netdiffus.features.series import (
    OFFSET_EDGES,
    SIZE_EDGES,
    SeriesBuilder,
    SeriesSpec,
    TraceStats,
    TraceTable,
    parse_duration,
)

__all__ = ["SeriesSpec", "SeriesBuilder", "TraceTable", "TraceStats", "parse_duration", "SIZE_EDGES", "OFFSET_EDGES"]
