"""Small helpers shared by the subcommands (argument groups, refusing to overwrite).

Every subcommand keeps one policy for what it writes: an existing output file or a folder that
already holds the command's output is refused unless ``--force`` is given.
"""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from pathlib import Path

from netdiffus.errors import InputError
from netdiffus.files import check_output_file


def add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="demo",
                        help="configuration preset: demo, cpu, paper, or packets for packet sequences and other "
                             "discrete traffic (default: demo)")
    parser.add_argument("--config", metavar="FILE", help="TOML file applied on top of the preset")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one value, e.g. --set train.steps=500 (repeatable)")
    parser.add_argument("--dry-run", action="store_true", help="print the resolved configuration as JSON and exit")


#: Names a Parquet dataset must not have: the file would be Parquet all the same.
NOT_PARQUET = (".csv", ".tsv", ".txt", ".json", ".pcap", ".pcapng")


def check_new_file(path: str | Path, *, force: bool, what: str = "output path", dataset: bool = False) -> Path:
    """Refuse an output file that exists unless ``force`` (and whatever
    :func:`netdiffus.files.check_output_file` refuses): checked before any work. A ``dataset``
    (always written as Parquet) may not be named like another format (``out.csv``)."""
    path = check_output_file(path, what=what)
    if dataset and path.suffix.lower() in NOT_PARQUET:
        raise InputError(f"{what} {path}: datasets are written as Parquet; name it {path.stem}.parquet")
    if path.exists() and not force:
        raise InputError(f"{what} {path} exists (use --force to replace it)")
    return path


def outputs_guard(args: argparse.Namespace):
    """The context the command writes its outputs in: without ``--force`` no output may replace an
    existing file, checked at the moment of the rename (:func:`netdiffus.files.no_overwrite`), so a
    second run racing to the same name fails instead of replacing the first's."""
    from netdiffus.files import no_overwrite

    return nullcontext() if getattr(args, "force", False) else no_overwrite()


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\x1b``, ``\\n``): labels, ids and file names
    are data, and a terminal must not act on them.

    >>> printable("cam\\x1b[31m red\\nnext")
    'cam\\\\x1b[31m red\\\\nnext'
    """
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def show_progress(args: argparse.Namespace) -> bool:
    """Progress bars go to a terminal only: a redirected log gets the log lines, not bar redraws."""
    return not args.no_progress and sys.stderr.isatty()
