"""Run folders and checkpoints: JSON + safetensors, loaded without unpickling any code.

A fitted run folder holds:

- ``config.json``: the resolved :class:`~netdiffus.config.NetDiffusConfig`;
- ``model.safetensors``: the EMA weights of the UNet (the ones sampling uses);
- ``model.json``: the run manifest (:mod:`netdiffus.manifest`): the UNet constructor arguments,
  class names, the fitted imaging and post-processing state, the training dataset's metadata, a
  training summary, and the SHA-256 of the weights file.

``model.json`` is the completion record: a save removes the earlier one first and writes the new
one last, so a save cut short (a kill during ``fit --force`` over an earlier run) leaves a folder
without model.json, which :func:`load_checkpoint` refuses instead of mixing a new config.json with
old weights; a weights file that is not the one saved (digest) is refused too. config.json is the
user's to edit (e.g. the default sampler); its values are checked as it is read.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from netdiffus.errors import CheckpointError
from netdiffus.files import atomic_path, first_line, read_json_object, write_json
from netdiffus.io.outputs import deferred_interrupts, naming

__all__ = ["save_checkpoint", "load_checkpoint", "write_tensors", "CONFIG_FILE", "WEIGHTS_FILE", "MODEL_FILE",
           "RUN_FILES", "DIGESTS_KEY"]

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
MODEL_FILE = "model.json"
#: The files of a fitted run, model.json (the completion record) last.
RUN_FILES = (CONFIG_FILE, WEIGHTS_FILE, MODEL_FILE)
#: The key of model.json that holds the SHA-256 of model.safetensors.
DIGESTS_KEY = "weights_sha256"
#: How safetensors reports a failed write of its file: ``... I/O error: REASON (os error N)``.
_IO_ERROR = re.compile(r"I/O error: (.*) \(os error (\d+)\)")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_tensors(path: str | Path, tensors: dict[str, torch.Tensor], *, metadata: Mapping[str, str] | None = None,
                  replace: bool | None = None) -> None:
    """Write ``tensors`` to the safetensors file ``path``, atomically (``replace`` as
    :func:`netdiffus.files.atomic_path` takes it).

    Raises
    ------
    OSError
        The file system refused the write (a full disk), naming ``path``: safetensors reports it as
        a ``SafetensorError`` that names no file.
    """
    with atomic_path(path, replace=replace) as tmp:
        try:
            save_file(tensors, str(tmp), metadata=dict(metadata) if metadata else None)
        except SafetensorError as exc:
            match = _IO_ERROR.search(str(exc))
            if match is None:
                raise
            raise OSError(int(match.group(2)), match.group(1), str(path)) from None


def save_checkpoint(
    run_dir: str | Path, *, config: dict, state_dict: dict[str, torch.Tensor], model_info: dict
) -> Path:
    """Write ``config.json``, ``model.safetensors`` and, last, ``model.json`` (with the weights'
    digest) into ``run_dir``; an earlier model.json goes first, so that until the new one is
    written the folder reads as incomplete, never as a mix. Ctrl-C and SIGTERM wait while the
    files are written (:func:`netdiffus.io.outputs.deferred_interrupts`), so an interrupt never
    leaves a saved model without its model.json.

    Raises
    ------
    OSError
        A file could not be written (a full disk), naming it; the folder then has no model.json.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with deferred_interrupts():
        (run_dir / MODEL_FILE).unlink(missing_ok=True)
        with naming(run_dir / CONFIG_FILE):
            write_json(run_dir / CONFIG_FILE, config, replace=True)
        tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
        write_tensors(run_dir / WEIGHTS_FILE, tensors, replace=True)
        with naming(run_dir / MODEL_FILE):
            write_json(run_dir / MODEL_FILE, {**model_info, DIGESTS_KEY: _sha256(run_dir / WEIGHTS_FILE)},
                       replace=True)
    return run_dir


def load_checkpoint(run_dir: str | Path) -> tuple[dict, dict[str, torch.Tensor], dict]:
    """Read ``(config, state_dict, model_info)`` from a run folder.

    Raises
    ------
    CheckpointError
        If the folder is missing (or is a file), or one of its three files is missing or unreadable
        (``runs/x/model.safetensors is not a readable safetensors file (...)``), or the weights are
        not the ones model.json was saved with.
    """
    run_dir = Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise CheckpointError(f"{run_dir} is a file, not a run folder (made by 'netdiffus fit')")
    if not run_dir.is_dir():
        raise CheckpointError(f"run folder {run_dir} does not exist")
    missing = [f for f in (CONFIG_FILE, WEIGHTS_FILE, MODEL_FILE) if not (run_dir / f).exists()]
    if missing:
        raise CheckpointError(
            f"{run_dir} is not a fitted run folder: missing {', '.join(missing)} (run 'netdiffus fit' first)"
        )
    config = read_json_object(run_dir / CONFIG_FILE, error=CheckpointError)
    info = read_json_object(run_dir / MODEL_FILE, error=CheckpointError)
    path = run_dir / WEIGHTS_FILE
    try:
        state = load_file(str(path))
    except (OSError, ValueError, SafetensorError) as exc:
        raise CheckpointError(f"{path} is not a readable safetensors file ({first_line(exc)})") from None
    digest = info.pop(DIGESTS_KEY, None)  # runs saved before 0.2 have none
    if digest is not None and digest != _sha256(path):
        raise CheckpointError(f"{path} is not the weights file {MODEL_FILE} was saved with (another run's, or "
                              "changed since); fit the run again")
    return config, state, info
