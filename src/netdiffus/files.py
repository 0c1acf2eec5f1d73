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

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from netdiffus.errors import InputError

__all__ = ["check_output_file", "atomic_path", "write_json", "read_json_object", "first_line"]


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


def atomic_path(path: str | os.PathLike[str]):
    """Context manager yielding a temporary path next to ``path``, renamed onto it on success.

    No half-written file is ever left at ``path`` or next to it: if the body raises, or the final
    rename fails, the temporary file is removed.

    Raises
    ------
    InputError
        Before the body runs, if ``path`` is an existing folder or lies under a file (see
        :func:`check_output_file`) or its folder cannot be created or written to; after it, if the
        final rename fails (``cannot write out.parquet: Permission denied``). Errors raised by
        the body pass through unchanged.
    """
    return _AtomicPath(Path(path))


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


class _AtomicPath:
    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> Path:
        check_output_file(self.path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        except OSError as exc:
            raise InputError(f"cannot write {self.path}: {_os_reason(exc)}") from None
        os.close(fd)
        self.tmp = Path(tmp)
        return self.tmp

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self._remove_tmp()
            return
        try:
            # mkstemp creates the file readable by its owner only; give it the usual permissions.
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(self.tmp, 0o666 & ~umask)
            os.replace(self.tmp, self.path)
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


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
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
