"""Writing a command's outputs: as one set, not interrupted halfway, errors that name the file.

:func:`output_files` is what ``prepare``, ``split``, ``export`` and ``evaluate`` write through. It
builds on :func:`netdiffus.files.output_set` (every output is written to a temporary name beside
it and they are all renamed into place at the end, or all removed) and adds two things:

- Ctrl-C and SIGTERM wait while the outputs are renamed into place (:func:`deferred_interrupts`),
  so an interrupted command leaves all of its outputs or none, never a new ``metrics.json``
  beside an old ``report.html``;
- an ``OSError`` while writing (a full disk, whose write error names no file) becomes one line
  that names the output and says what the command left: ``cannot write out.pcap: No space left
  on device (no output written: out.pcap and out.flows.csv are written together or not at all)``.

Library writers name their file on an ``OSError`` with :func:`naming`.

Examples
--------
>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> with output_files([folder / "a.txt", folder / "b.txt"]) as out:
...     for i in range(2):
...         with out.writing(i) as tmp:
...             _ = tmp.write_text(str(i))
>>> sorted(p.name for p in folder.iterdir())
['a.txt', 'b.txt']
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path

from netdiffus.errors import InputError
from netdiffus.files import output_set

__all__ = ["output_files", "OutputSet", "deferred_interrupts", "naming"]


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Within this block Ctrl-C (SIGINT) and SIGTERM wait; they act when it ends.

    Their handlers are swapped for ones that note the signal, and the first signal noted is handed
    to its own handler once the block is over (a ``KeyboardInterrupt``, the command line's
    ``Terminated``, or the default action). Only on the main thread, where Python handles
    signals; elsewhere the block runs as it is. SIGKILL cannot wait: it stops a process anywhere.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[int] = []
    kinds = [signal.SIGINT] + ([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])
    previous: dict[int, object] = {int(s): signal.signal(s, lambda signum, frame: noted.append(signum))
                                   for s in kinds}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)  # type: ignore[arg-type]  # what signal.signal returned
        if noted:
            _deliver(noted[0], previous[noted[0]])


def _deliver(signum: int, handler: object) -> None:
    """Act on ``signum`` as ``handler`` (what was installed before it was noted) would have."""
    if callable(handler):
        handler(signum, None)
    elif handler == signal.SIG_DFL:
        signal.raise_signal(signum)


@contextmanager
def naming(path: str | Path) -> Iterator[None]:
    """An ``OSError`` raised in this block names ``path`` (the file being written; a full disk's
    write error carries no file name, and a temporary one means nothing to the user)."""
    try:
        yield
    except OSError as exc:
        exc.filename = str(path)
        raise


class OutputSet:
    """The outputs of one :func:`output_files` block: ``out.writing(i)`` gives the temporary name of
    output ``i`` and turns an ``OSError`` while writing it into an :class:`InputError` naming it."""

    def __init__(self, paths: Sequence[Path], temps: Sequence[Path]) -> None:
        self.paths = [Path(p) for p in paths]
        self.temps = list(temps)

    def state(self) -> str:
        """What a failed write leaves: ``no output written`` (and which outputs go together)."""
        if len(self.paths) == 1:
            return "nothing written"
        names = ", ".join(str(p) for p in self.paths[:-1]) + f" and {self.paths[-1]}"
        return f"no output written: {names} are written together or not at all"

    @contextmanager
    def writing(self, i: int) -> Iterator[Path]:
        """The temporary name to write output ``i`` to; a failure names the output (not the temporary)."""
        try:
            yield self.temps[i]
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            raise InputError(f"cannot write {self.paths[i]}: {reason} ({self.state()})") from None
        except InputError as exc:  # a writer that names the file it was given
            if str(self.temps[i]) not in str(exc):
                raise
            raise InputError(f"{str(exc).replace(str(self.temps[i]), str(self.paths[i]))} ({self.state()})") from None


@contextmanager
def output_files(paths: Sequence[str | Path]) -> Iterator[OutputSet]:
    """Outputs written together: each to a temporary name (``out.writing(i)``), then all renamed
    into place with interrupts deferred, or all removed if the block fails (see the module
    docstring). Inside :func:`netdiffus.files.no_overwrite` none may replace an existing file.

    Raises
    ------
    InputError
        A write failed (naming the output), or an output exists (without ``--force``) or cannot
        be renamed into place; no output is left then.
    """
    finals = [Path(p) for p in paths]
    with ExitStack() as deferred:
        with output_set(finals) as temps:
            yield OutputSet(finals, temps)
            deferred.enter_context(deferred_interrupts())  # until every output is in place (or removed)
