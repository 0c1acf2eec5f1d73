"""Files the library writes: atomic replacement, output-path checks, JSON.

Every output file goes through :func:`atomic_path`: it is written beside its final name and
renamed onto it only when complete, so no command leaves a half-written file under a final name.

Examples
--------
>>> import tempfile
>>> folder = Path(tempfile.mkdtemp())
>>> write_json(folder / "a.json", {"x": 1})
>>> read_json_object(folder / "a.json")
{'x': 1}
"""

from __future__ import annotations

import errno
import glob
import json
import logging
import os
import re
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from netdiffus.errors import InputError

__all__ = ["check_output_file", "atomic_path", "no_overwrite", "publish", "temp_name", "remove_stale_temps",
           "check_distinct", "output_set", "write_json", "read_json_object", "first_line", "locked_file"]

log = logging.getLogger(__name__)


def check_output_file(path: str | os.PathLike[str], *, what: str = "output path") -> Path:
    """Raise :class:`InputError` if a file cannot be written at ``path``; return it as a Path.

    Cheap checks made before any work: ``path`` must not be an existing folder, and no existing
    ancestor of it may be a file (missing folders are created when the file is written). ``what``
    starts the message: the option that named the path (``--csv``), else ``output path``.

    Raises
    ------
    InputError
        ``output path out is a folder; give a file name`` or
        ``output path a.parquet/x.parquet is inside a.parquet, which is a file, not a folder``.
    """
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{what} {path} is a folder; give a file name")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{what} {path} is inside {parent}, which is a file, not a folder")
            break
    return path


#: Whether an output may replace an existing file (see :func:`no_overwrite`).
_REPLACE: ContextVar[bool] = ContextVar("netdiffus_replace_outputs", default=True)


@contextmanager
def no_overwrite() -> Iterator[None]:
    """Within this block no output replaces an existing file: :func:`atomic_path` refuses at the
    moment of the rename (an exclusive link, so two runs racing to one name cannot both succeed).
    The commands use it unless ``--force`` is given.

    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "out.txt"
    >>> target.write_text("first")
    5
    >>> with no_overwrite(), atomic_path(target) as tmp:
    ...     _ = tmp.write_text("second")
    Traceback (most recent call last):
    ...
    netdiffus.errors.InputError: output path .../out.txt exists (use --force to replace it)
    >>> target.read_text()
    'first'
    """
    token = _REPLACE.set(False)
    try:
        yield
    finally:
        _REPLACE.reset(token)


def atomic_path(path: str | os.PathLike[str], *, replace: bool | None = None):
    """Context manager yielding a temporary path next to ``path``, renamed onto it on success.

    No half-written file is ever left at ``path`` or next to it: if the body raises, or the final
    rename fails, the temporary file is removed. Temporary files that a killed process left
    beside ``path`` (``.NAME.PID-XXXX.tmp`` of a process that no longer runs) are removed first.

    Parameters
    ----------
    replace : bool, optional
        Whether an existing ``path`` is replaced; default: yes, except inside :func:`no_overwrite`.

    Raises
    ------
    InputError
        Before the body runs, if ``path`` is an existing folder or lies under a file (see
        :func:`check_output_file`) or its folder cannot be created or written to; after it, if the
        final rename fails (``cannot write out.parquet: Permission denied``) or would replace a
        file it may not (``output path out.parquet exists (use --force to replace it)``). Errors
        raised by the body pass through unchanged.
    """
    return _AtomicPath(Path(path), _REPLACE.get() if replace is None else replace)


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def temp_name(path: Path) -> Path:
    """A new temporary name beside ``path``: ``.NAME.PID-XXXXXXXX.tmp`` (the process id lets a later
    run tell a dead process's leftovers from a live one's work)."""
    return path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")


def remove_stale_temps(path: Path) -> int:
    """Remove the temporary files beside ``path`` that processes no longer running left (killed
    before they could clean up); return how many."""
    removed = 0
    for tmp in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        match = _TEMP_PID.search(tmp.name)
        if match is None or _alive(int(match.group(1))):
            continue
        try:
            tmp.unlink()
            removed += 1
        except OSError:
            continue
    if removed:
        log.info("removed %d temporary file(s) beside %s left by a process that was killed", removed, path)
    return removed


_TEMP_PID = re.compile(r"\.(\d+)-[0-9a-f]{8}\.tmp$")


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True  # another user's process, or not ours to judge: leave its files
    return True


def publish(tmp: Path, path: Path, *, replace: bool) -> None:
    """Rename the complete file ``tmp`` onto ``path``; without ``replace``, only if ``path`` does
    not exist at that moment (a hard link, which fails on an existing name, then ``tmp`` removed).

    Raises
    ------
    InputError
        ``path`` exists and ``replace`` is false.
    OSError
        The rename itself failed.
    """
    if replace:
        os.replace(tmp, path)
        return
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise InputError(f"output path {path} exists (use --force to replace it)") from None
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EXDEV, errno.ENOTSUP, errno.EMLINK, errno.ENOSYS):
            raise
        # no hard links on this file system: claim the name exclusively, then move onto it
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            raise InputError(f"output path {path} exists (use --force to replace it)") from None
        os.replace(tmp, path)
        return
    tmp.unlink(missing_ok=True)


class _AtomicPath:
    def __init__(self, path: Path, replace: bool) -> None:
        self.path = path
        self.replace = replace

    def __enter__(self) -> Path:
        check_output_file(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temps(self.path)
            self.tmp = temp_name(self.path)
            os.close(os.open(self.tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))  # the umask applies
        except OSError as exc:
            raise InputError(f"cannot write {self.path}: {_os_reason(exc)}") from None
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._remove_tmp()
            return
        try:
            publish(self.tmp, self.path, replace=self.replace)
        except OSError as err:
            self._remove_tmp()
            if self.path.is_dir():  # made a folder while the body ran
                raise InputError(f"output path {self.path} is a folder; give a file name") from None
            raise InputError(f"cannot write {self.path}: {_os_reason(err)}") from None
        except BaseException:
            self._remove_tmp()
            raise

    def _remove_tmp(self) -> None:
        try:
            self.tmp.unlink(missing_ok=True)
        except OSError:  # nothing more can be done; never hide the original error
            pass


def check_distinct(paths: dict[str, str | os.PathLike[str]]) -> None:
    """Refuse two outputs that name the same file: ``{what: path}``, e.g. ``{"-o": ..., "--csv": ...}``.

    >>> check_distinct({"-o": "a/x.parquet", "--csv": "a/../a/x.parquet"})
    Traceback (most recent call last):
    ...
    netdiffus.errors.InputError: -o and --csv name the same file (a/../a/x.parquet); give each its own
    """
    seen: dict[str, str] = {}
    for what, path in paths.items():
        key = os.path.normcase(os.path.realpath(path))
        if key in seen:
            raise InputError(f"{seen[key]} and {what} name the same file ({path}); give each its own")
        seen[key] = what


@contextmanager
def output_set(paths: list[Path]) -> Iterator[list[Path]]:
    """Outputs that appear together or not at all.

    Yields one temporary name per path (beside it, not yet created): write each output there
    (with the usual writers, e.g. ``write_dataset(ds, tmp)``). When the body succeeds, each is
    published onto its path (:func:`publish`, refusing an existing one inside
    :func:`no_overwrite`); if the body or a publication fails, the temporaries are removed, and so
    are the outputs already published by this call, so none of the set is left.
    """
    for path in paths:
        check_output_file(path)
    temps = [temp_name(Path(p)) for p in paths]
    done: list[Path] = []
    try:
        yield temps
        for tmp, path in zip(temps, paths, strict=True):
            try:
                publish(tmp, Path(path), replace=_REPLACE.get())
            except OSError as err:
                raise InputError(f"cannot write {path}: {_os_reason(err)}") from None
            done.append(Path(path))
    except BaseException:
        for leftover in [*temps, *done]:
            try:
                leftover.unlink(missing_ok=True)
            except OSError:
                pass
        raise


def write_json(path: str | os.PathLike[str], data: Any, *, replace: bool | None = None) -> None:
    """Write ``data`` as indented JSON, atomically (``replace`` as :func:`atomic_path` takes it)."""
    with atomic_path(path, replace=replace) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (its type's name when it has none)."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def read_json_object(path: str | os.PathLike[str], *, error: type[Exception] = InputError) -> dict:
    """The JSON object in ``path``; ``error`` (an exception class) naming the file otherwise."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise error(f"{path} is not a readable JSON file ({first_line(exc)})") from None
    if not isinstance(data, dict):
        raise error(f"{path} must hold a JSON object (got {type(data).__name__})")
    return data


def locked_file(path: Path, *, busy: str) -> int:
    """``path`` opened read-write (created) and locked exclusively, its descriptor returned: the
    lock holds until the descriptor is closed and the system releases it if the process dies.
    Another holder raises :class:`InputError` ``busy``; where the system has no file locks, the
    file is opened without one."""
    fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o666)
    try:
        import fcntl
    except ImportError:  # not a POSIX system: no lock
        return fd
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise InputError(busy) from None
    return fd
