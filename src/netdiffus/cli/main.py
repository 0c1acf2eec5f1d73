"""``netdiffus`` command line: parses arguments and calls the library; nothing else.

Each subcommand lives in its own module ``netdiffus.cli.<name>`` exposing
``add_parser(subparsers) -> argparse.ArgumentParser`` (which sets ``func=run`` as default) and
``run(args) -> int``. A :class:`~netdiffus.errors.NetDiffusError` becomes one line on stderr,
``error: <message>``, and exit code 1, never a traceback; so does an ``OSError`` (file name and
reason) and, as a last resort, any other exception (its traceback with ``-vv``). Ctrl-C and
SIGTERM unwind the command like an exception (so temporary files are removed) and end it with
``error: interrupted`` (exit 130) or ``error: terminated`` (exit 143).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence

from netdiffus._version import __version__
from netdiffus.cli._common import printable
from netdiffus.errors import NetDiffusError


def set_thread_policy() -> None:
    """OpenMP threads that spin while waiting collapse when the cores are shared (another training
    run, a benchmark, CI neighbours): a 2-thread training step measured 13 s spinning against 0.6 s
    sleeping on a loaded 2-core machine, and threads that sleep cost little on an idle one. Set
    before torch starts its thread pool (the library itself sets no environment); a user's own
    setting wins."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

SUBCOMMANDS = ("prepare", "split", "fit", "distill", "sample", "evaluate", "export", "info", "demo")

log = logging.getLogger("netdiffus")


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the command is, so that its clean-up runs as for Ctrl-C."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="netdiffus",
        description="Synthetic network traffic from diffusion models on Gramian Angular Field images.",
        epilog="Run 'netdiffus COMMAND --help' for a command's options and an example.",
    )
    parser.add_argument("--version", action="version", version=f"netdiffus {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="log only warnings and errors (summaries still print)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMANDS:
        try:
            module = importlib.import_module(f"netdiffus.cli.{name}")
        except ModuleNotFoundError as exc:  # a subcommand not built yet
            if exc.name != f"netdiffus.cli.{name}":
                raise
            continue
        command = module.add_parser(sub)
        command.set_defaults(command_parser=command)  # its usage, for an option it does not know
    return parser


class _PrintableFormatter(logging.Formatter):
    """Log lines with control characters escaped: messages quote labels and file names, which are
    data (a label holding an escape sequence must not colour the terminal)."""

    def formatMessage(self, record: logging.LogRecord) -> str:  # noqa: N802 (logging's name)
        return printable(super().formatMessage(record))


def _setup_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.DEBUG if verbose > 1 else logging.INFO)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_PrintableFormatter("%(levelname)s: %(message)s"))
    if verbose < 2:  # prepare --cluster: the scheduler's and workers' progress lines only with -vv
        handler.addFilter(lambda r: r.levelno >= logging.WARNING or not r.name.startswith("distributed"))
    logging.basicConfig(level=level, handlers=[handler])
    if verbose < 2:
        logging.getLogger("matplotlib").setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    set_thread_policy()
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # exits with code 2, printing the usage of the command that was given
        getattr(args, "command_parser", parser).error(f"unrecognized arguments: {' '.join(unknown)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    _setup_logging(args.verbose, args.quiet)
    on_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if on_main_thread else None
    try:
        return int(args.func(args) or 0)
    except NetDiffusError as exc:
        print(printable(f"error: {exc}"), file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:  # a command may say what it kept: KeyboardInterrupt("...")
        terminated = isinstance(exc, Terminated)
        detail = f": {exc}" if str(exc) else ""
        print(printable(f"error: {'terminated' if terminated else 'interrupted'}{detail}"), file=sys.stderr)
        return 143 if terminated else 130
    except OSError as exc:  # the file system said no: permissions, a full disk, a vanished path
        where = f"{exc.filename}: " if exc.filename else ""
        print(printable(f"error: {where}{exc.strerror or exc}"), file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: still one line, the traceback only on request
        if args.verbose > 1:
            log.exception("unexpected error")
        print(printable(f"error: unexpected {type(exc).__name__}: {exc} (a bug in netdiffus; -vv shows the "
                        "traceback)"), file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
