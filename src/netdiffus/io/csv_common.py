"""Helpers shared by the CSV readers and writers: opening a CSV file, listing columns, skipping a
bad file, and text cells that a spreadsheet will not run.

Labels and ids are data. Written to a CSV file, a text cell that starts with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return would run as a formula when the file is opened in a spreadsheet;
:func:`escape_csv_text` puts a ``'`` before such a cell (and before one that starts with ``'``),
which spreadsheets show as text and do not display, and :func:`unescape_csv_text` takes it away
when netdiffus reads the file back, so the text round-trips.

Examples
--------
>>> format_columns(["a", "b", "c"], limit=4)
'a, b and 1 more'
>>> skip_reason(InputError("x.csv:7: column 'v' has a non-numeric value ''"), "x.csv")
"line 7: column 'v' has a non-numeric value ''"
>>> escape_csv_text("=HYPERLINK(1)"), unescape_csv_text("'=HYPERLINK(1)"), escape_csv_text("cam")
("'=HYPERLINK(1)", '=HYPERLINK(1)', 'cam')
"""

from __future__ import annotations

import csv
import logging
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from netdiffus.errors import InputError
from netdiffus.io.summary import RepeatedWarnings

__all__ = ["open_csv", "format_columns", "skip_reason", "skip_file", "escape_csv_text", "unescape_csv_text"]

#: First characters that make a spreadsheet read a cell as a formula (and the escape itself).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "'")


def escape_csv_text(text: str) -> str:
    """``text`` for a text cell of a CSV file: ``'`` before it if it starts like a formula (or with ``'``)."""
    return "'" + text if text.startswith(_FORMULA_START) else text


def unescape_csv_text(cell: str) -> str:
    """The text of a cell :func:`escape_csv_text` wrote (other cells as they are)."""
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(_FORMULA_START) else cell


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
              log: logging.Logger | RepeatedWarnings) -> None:
    """A file that cannot be used: raise ``exc`` with ``strict``; else add ``(path, reason)`` to
    ``skipped`` and warn (``skipped x.csv: line 7: ...``) on ``log``: the reader's logger, or the
    :class:`~netdiffus.io.summary.RepeatedWarnings` of a run (which logs the first few and counts
    the rest)."""
    if strict:
        raise exc
    reason = skip_reason(exc, path)
    skipped.append((str(path), reason))
    if isinstance(log, RepeatedWarnings):
        log.warn("files skipped", f"skipped {path}: {reason}")
    else:
        log.warning("skipped %s: %s", path, reason)
