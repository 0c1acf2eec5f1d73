"""The run-folder policy that ``fit`` keeps, for the library and the command line alike.

- A new run goes into a missing or empty folder; a non-empty one only with ``force``.
- A resume needs the folder's saved training state (``train_state.safetensors``); without one,
  training would start afresh and overwrite the run, which only ``force`` allows.
- An interrupt (Ctrl-C, SIGTERM) leaves the saved training state, to continue with ``resume``;
  without one, a folder that was new (or empty) is removed (or emptied), so that the same command
  can run again. The interrupt is raised again with a message saying which.

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

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from netdiffus.errors import CheckpointError, InputError
from netdiffus.train_state import TRAIN_STATE_FILE, read_train_state_info

__all__ = ["check_output_folder", "check_run_folder", "guard_run_folder", "after_interrupt"]


def check_output_folder(path: Path, *, force: bool) -> None:
    """Refuse to write into a non-empty folder unless ``force``, or into a path that is a file.

    Raises
    ------
    InputError
        ``output folder runs/x is not empty (use --force to write into it)``.
    """
    if path.exists() and not path.is_dir():
        raise InputError(f"output path {path} exists and is not a folder")
    if path.exists() and any(path.iterdir()) and not force:
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


@contextmanager
def guard_run_folder(run: str | Path, *, resume: bool) -> Iterator[None]:
    """Run a fit's body; on an interrupt, leave ``run`` as :func:`after_interrupt` says and raise
    the interrupt again with its message (``KeyboardInterrupt("... --resume")``)."""
    run = Path(run)
    created = not run.exists()
    fresh = not resume and (created or not any(run.iterdir()))
    try:
        yield
    except KeyboardInterrupt as exc:
        raise type(exc)(after_interrupt(run, fresh=fresh, created=created)) from None


def after_interrupt(run: Path, *, fresh: bool, created: bool) -> str:
    """What an interrupted fit leaves in ``run``, and the message that says so: its saved training
    state, to continue with ``--resume``; without one, a folder that was new (``created``) or
    empty (``fresh``) is removed or emptied; any other folder is left as it is (message "")."""
    state = run / TRAIN_STATE_FILE
    if state.is_file():
        step, _ = read_train_state_info(state)
        return f"{run} keeps the training state of step {step}; continue with the same command and --resume"
    if not fresh or not run.is_dir():
        return ""
    if created:
        shutil.rmtree(run, ignore_errors=True)
        return f"no training state was saved yet; {run} removed"
    for entry in run.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    return f"no training state was saved yet; {run} emptied"
