"""Helpers shared by the CSV readers: opening a CSV file, listing columns, skipping a bad file.

Examples
--------
>>> format_columns(["a", "b", "c"], limit=4)
'a, b and 1 more'
>>> skip_reason(InputError("x.csv:7: column 'v' has a non-numeric value ''"), "x.csv")
"line 7: column 'v' has a non-numeric value ''"
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from netdiffus.errors import InputError

__all__ = ["open_csv", "format_columns", "skip_reason", "skip_file"]


@contextmanager
def open_csv(path: str | os.PathLike[str], *, what: str | None = None) -> Iterator[Iterator[list[str]]]:
    """A :func:`csv.reader` over the UTF-8 text file ``path`` (a byte-order mark is allowed).

    Parameters
    ----------
    path : path
    what : str, optional
        How the file is named in errors (default: the path itself), e.g. ``"label file x.csv"``.

    Raises
    ------
    InputError
        If the file is not UTF-8 text (``x.csv: not a UTF-8 text CSV file (undecodable byte
        0xe9)``) or not CSV. Errors raised in the caller's block pass through unchanged.
    """
    name = str(path) if what is None else what
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            yield csv.reader(fh)
    except UnicodeDecodeError as exc:
        bad = exc.object[exc.start : exc.start + 1]
        detail = f" (undecodable byte 0x{bad.hex()})" if bad else ""
        raise InputError(f"{name}: not a UTF-8 text CSV file{detail}") from None
    except csv.Error as exc:
        raise InputError(f"{name}: not a readable CSV file ({exc})") from None


def format_columns(names: Sequence[str], *, limit: int = 200) -> str:
    """``names`` joined by ", ", cut at a whole name to about ``limit`` characters ("... and N more").

    Empty names (an unnamed index column) are left out.
    """
    names = [n for n in names if n]
    shown: list[str] = []
    size = 0
    for i, n in enumerate(names):
        size += len(n) + (2 if shown else 0)
        if size > limit and shown:
            return f"{', '.join(shown)} and {len(names) - i} more"
        shown.append(n)
    return ", ".join(shown)


def skip_reason(exc: Exception, path: str | os.PathLike[str]) -> str:
    """The message of ``exc`` without its leading ``path``: the reason listed next to a skipped file.

    ``"x.csv: file is empty"`` -> ``"file is empty"``; ``"x.csv:7: bad value"`` -> ``"line 7: bad
    value"``.
    """
    msg = str(exc)
    prefix = str(path)
    if msg.startswith(prefix + ": "):
        return msg[len(prefix) + 2 :]
    m = re.match(r":(\d+): ", msg[len(prefix) :]) if msg.startswith(prefix) else None
    if m:
        return f"line {m.group(1)}: {msg[len(prefix) + m.end() :]}"
    return msg


def skip_file(exc: InputError, path: str | os.PathLike[str], skipped: list[tuple[str, str]], *, strict: bool,
              log: logging.Logger) -> None:
    """A file that cannot be used: raise ``exc`` with ``strict``; else add ``(path, reason)`` to
    ``skipped`` and log one warning (``skipped x.csv: line 7: ...``) on the reader's ``log``."""
    if strict:
        raise exc
    reason = skip_reason(exc, path)
    skipped.append((str(path), reason))
    log.warning("skipped %s: %s", path, reason)
