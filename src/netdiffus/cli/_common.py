"""Small helpers shared by the subcommands (argument groups, refusing to overwrite)."""

from __future__ import annotations

import argparse
from pathlib import Path

from netdiffus.errors import InputError


def add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--preset", default="demo", help="configuration preset: demo, cpu, paper (default: demo)")
    parser.add_argument("--config", metavar="FILE", help="TOML file applied on top of the preset")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override one value, e.g. --set train.steps=500 (repeatable)")
    parser.add_argument("--dry-run", action="store_true", help="print the resolved configuration as JSON and exit")


def check_output_dir(path: Path, *, force: bool) -> None:
    """Refuse to write into a non-empty folder unless ``force``."""
    if path.exists() and not path.is_dir():
        raise InputError(f"output path {path} exists and is not a folder")
    if path.exists() and any(path.iterdir()) and not force:
        raise InputError(f"output folder {path} is not empty (use --force to write into it)")
