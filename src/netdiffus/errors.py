"""Domain exceptions of netdiffus.

Every error a user can cause (bad input, bad option) is a :class:`NetDiffusError`. Its message is a
single line that names the parameter, file or column at fault and the bad value, so the CLI can
print it as ``error: <message>`` and exit with code 1, without a traceback.
"""

from __future__ import annotations

__all__ = [
    "NetDiffusError",
    "ConfigError",
    "InputError",
    "DatasetError",
    "CheckpointError",
]


class NetDiffusError(Exception):
    """Base class of every user-facing error raised by netdiffus."""


class ConfigError(NetDiffusError, ValueError):
    """An option or configuration value is invalid (``bin_width must be > 0 (got -1)``)."""


class InputError(NetDiffusError):
    """An input path, file or column cannot be read or is not usable."""


class DatasetError(NetDiffusError, ValueError):
    """A dataset is unusable for the requested step (one class, too few traces, NaN values)."""


class CheckpointError(NetDiffusError):
    """A run folder or checkpoint is missing, incomplete or inconsistent."""
