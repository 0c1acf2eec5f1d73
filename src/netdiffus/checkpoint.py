"""Run folders and checkpoints: JSON + safetensors, loaded without unpickling any code.

A fitted run folder holds:

- ``config.json``: the resolved :class:`~netdiffus.config.NetDiffusConfig`;
- ``model.safetensors``: the EMA weights of the UNet (the ones sampling uses);
- ``model.json``: the UNet constructor arguments, class names, the fitted imaging state, the
  training dataset's metadata, and a training summary.
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from netdiffus.errors import CheckpointError
from netdiffus.files import atomic_path, first_line, read_json_object, write_json

__all__ = ["save_checkpoint", "load_checkpoint", "CONFIG_FILE", "WEIGHTS_FILE", "MODEL_FILE"]

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
MODEL_FILE = "model.json"


def save_checkpoint(
    run_dir: str | Path, *, config: dict, state_dict: dict[str, torch.Tensor], model_info: dict
) -> Path:
    """Write ``config.json``, ``model.safetensors`` and ``model.json`` into ``run_dir``."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / CONFIG_FILE, config)
    tensors = {k: v.detach().cpu().contiguous() for k, v in state_dict.items()}
    with atomic_path(run_dir / WEIGHTS_FILE) as tmp:
        save_file(tensors, str(tmp))
    write_json(run_dir / MODEL_FILE, model_info)
    return run_dir


def load_checkpoint(run_dir: str | Path) -> tuple[dict, dict[str, torch.Tensor], dict]:
    """Read ``(config, state_dict, model_info)`` from a run folder.

    Raises
    ------
    CheckpointError
        If the folder is missing (or is a file), or one of its three files is missing or unreadable
        (``runs/x/model.safetensors is not a readable safetensors file (...)``).
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
    return config, state, info
