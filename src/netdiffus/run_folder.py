"""The run-folder policy that ``fit`` keeps, for the library and the command line alike.

- A new run goes into a missing or empty folder; a non-empty one only with ``force``.
- A resume needs the folder's saved training state (``train_state.safetensors``); without one,
  training would start afresh and overwrite the run, which only ``force`` allows.
- One fit at a time: the fit holds a lock on the folder (:data:`LOCK_FILE`), and a second fit
  into it is refused.
- An interrupt (Ctrl-C, SIGTERM) keeps the trained model once it is saved, else the training
  state this fit saved (to continue with ``resume``); without either, the files this fit wrote are
  removed (and the folder, when the fit made it), so that the same command can run again, and
  files it did not write stay. The interrupt is raised again with a message saying which.
- A write that fails (a full disk) leaves the folder as an interrupt would, and the error names
  the file and what the folder holds.

Examples
--------
>>> import tempfile
>>> run = Path(tempfile.mkdtemp()) / "run"
>>> check_run_folder(run, resume=False, force=False)       # a new folder: fine
>>> check_run_folder(run, resume=True, force=False)
Traceback (most recent call last):
...
netdiffus.errors.CheckpointError: cannot resume .../run: the folder does not exist (leave out --resume to start a run)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from netdiffus.checkpoint import MODEL_FILE, RUN_FILES
from netdiffus.errors import CheckpointError, InputError
from netdiffus.files import locked_file
from netdiffus.train_state import TRAIN_STATE_FILE, read_train_state_info
from netdiffus.training import METRICS_FILE

__all__ = ["check_output_folder", "check_run_folder", "RunFolderGuard", "LOCK_FILE", "FIT_FILES"]

#: Held (flock) by the fit that writes the folder; a second fit into it is refused.
LOCK_FILE = ".netdiffus-fit.lock"
#: The files a fit writes into its run folder.
FIT_FILES = (METRICS_FILE, TRAIN_STATE_FILE, *RUN_FILES)


def check_output_folder(path: Path, *, force: bool) -> None:
    """Refuse to write into a non-empty folder unless ``force``, or into a path that is a file.

    Raises
    ------
    InputError
        ``output folder runs/x is not empty (use --force to write into it)``.
    """
    if path.exists() and not path.is_dir():
        raise InputError(f"output path {path} exists and is not a folder")
    if path.exists() and _entries(path) and not force:
        raise InputError(f"output folder {path} is not empty (use --force to write into it)")


def check_run_folder(run: str | Path, *, resume: bool, force: bool) -> None:
    """Refuse a run folder that a fit (``resume=False``) or a resume may not write into.

    Raises
    ------
    InputError
        A fresh fit into a non-empty folder without ``force`` (see :func:`check_output_folder`).
    CheckpointError
        A resume where there is nothing to resume from, unless ``force``: the folder is a file,
        is missing, or holds no training state.
    """
    run = Path(run)
    if not resume:
        check_output_folder(run, force=force)
        return
    if run.exists() and not run.is_dir():
        raise CheckpointError(f"cannot resume {run}: it is a file, not a run folder")
    if (run / TRAIN_STATE_FILE).is_file() or force:
        return
    if not run.exists():
        raise CheckpointError(f"cannot resume {run}: the folder does not exist (leave out --resume to start a run)")
    raise CheckpointError(f"cannot resume {run}: no {TRAIN_STATE_FILE} in it (one is written every "
                          "train.checkpoint_every steps, never with the default 0; use --force to train again)")


class RunFolderGuard:
    """Hold a run folder for one fit: create it, lock it against a second fit, and on an interrupt
    leave it as the policy says (see :meth:`after_interrupt`).

    ``fit`` sets :attr:`model_saved` once the trained model is in the folder (before the volume
    calibration's draw), so that an interrupt then keeps the model.

    Raises
    ------
    InputError
        Another fit holds the folder (``run folder RUN is in use by another netdiffus fit``), or
        filled it since it was checked; or, on leaving, a write failed (``cannot write
        RUN/model.safetensors: No space left on device (no training state was saved yet; RUN
        removed)``).
    """

    def __init__(self, run: str | Path, *, resume: bool, force: bool) -> None:
        self.run, self.resume, self.force = Path(run), resume, force
        self.model_saved = False

    def __enter__(self) -> RunFolderGuard:
        run = self.run
        self.created = not run.exists()
        try:
            run.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InputError(f"cannot create {run}: {exc.strerror or exc}") from None
        self.before = {name: _mtime(run / name) for name in FIT_FILES}
        self._lock: int | None = locked_file(run / LOCK_FILE, busy=f"run folder {run} is in use by another netdiffus "
                                                               "fit; wait for it to end or choose another folder")
        if not self.resume and not self.force and _entries(run):  # filled between the check and the lock
            self._unlock()
            raise InputError(f"output folder {run} is not empty (use --force to write into it)")
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self._unlock()
        if exc_type is not None and issubclass(exc_type, KeyboardInterrupt):
            raise exc_type(self.after_interrupt()) from None
        if isinstance(exc, OSError):  # the file system refused a write: a full disk, a quota
            where = f"cannot write {exc.filename}" if exc.filename else f"cannot write in {self.run}"
            state = self.after_interrupt() or f"{self.run} is left as it was"
            raise InputError(f"{where}: {exc.strerror or exc} ({state})") from None

    def _unlock(self) -> None:
        if self._lock is not None:
            (self.run / LOCK_FILE).unlink(missing_ok=True)
            os.close(self._lock)  # closing releases the lock
            self._lock = None

    def _written(self, name: str) -> bool:
        """Whether this fit wrote ``name`` (it is new, or changed since the guard began)."""
        now = _mtime(self.run / name)
        return now is not None and now != self.before[name]

    def after_interrupt(self) -> str:
        """What an interrupted fit leaves in the folder, and the message that says so: the trained
        model when it was saved; else the training state this fit saved, to continue with
        ``--resume``; else, for a fresh fit, nothing of its own (the folder too when it made it).
        Files it did not write (the user's, an earlier run's) stay."""
        run = self.run
        if self.model_saved and (run / MODEL_FILE).is_file():
            return (f"{run} holds the trained model, saved before its volume calibration was fitted: sample "
                    "draws from it uncalibrated (fit again to calibrate)")
        if self.resume or self._written(TRAIN_STATE_FILE):
            if (run / TRAIN_STATE_FILE).is_file():
                step, _ = read_train_state_info(run / TRAIN_STATE_FILE)
                return f"{run} keeps the training state of step {step}; continue with the same command and --resume"
            return ""
        removed = [name for name in FIT_FILES if self._written(name)]
        for name in removed:
            (run / name).unlink(missing_ok=True)
        # a save cut short by a full disk takes model.json away first: the model is not whole
        saved = "the trained model could not be saved" if self.model_saved else "no training state was saved yet"
        if self.created and not _entries(run):
            shutil.rmtree(run, ignore_errors=True)
            return f"{saved}; {run} removed"
        return f"{saved}; the files this fit wrote in {run} removed" if removed else ""


def _mtime(path: Path) -> tuple[int, int, int] | None:
    """What tells a rewritten file from the one that was there: (inode, mtime, size)."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


def _entries(run: Path) -> list[str]:
    """What the folder holds, but for a fit's lock file (left by a fit that was killed)."""
    return [p.name for p in run.iterdir() if p.name != LOCK_FILE] if run.is_dir() else []
