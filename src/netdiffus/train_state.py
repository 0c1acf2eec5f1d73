"""Training state on disk: the file a run resumes from, and what a resume must match.

``train_state.safetensors`` in a run folder holds the raw and EMA weights, the optimizer moments
and the step, with metadata (:func:`state_meta`) naming the configuration, the data shape, the
classes and a digest of the training traces. A resume continues only the same training: the
configuration may differ only in ``RESUME_MAY_CHANGE``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file
from torch import nn

from netdiffus.checkpoint import write_tensors
from netdiffus.config import NetDiffusConfig
from netdiffus.errors import CheckpointError, ConfigError
from netdiffus.io.dataset import TraceDataset

__all__ = ["TRAIN_STATE_FILE", "RESUME_MAY_CHANGE", "save_state", "load_state", "read_train_state_info",
           "state_meta", "check_resumable"]

TRAIN_STATE_FILE = "train_state.safetensors"

#: Configuration keys a resumed run may change: the step count (to extend a run; ``max_epochs``
#: only caps it), how often it
#: checkpoints and logs, speed-only switches, sampling, post-processing, and the preset's name. Any
#: other difference would continue a different training run from the saved weights.
RESUME_MAY_CHANGE = ("preset", "train.steps", "train.max_epochs", "train.checkpoint_every", "train.log_every",
                     "train.num_threads", "train.compile", "train.channels_last", "sample.", "postprocess.")


def save_state(path: Path, model: nn.Module, ema: nn.Module, opt: torch.optim.Optimizer, step: int,
                meta: Mapping[str, str] | None = None) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update({f"ema.{k}": v.detach().cpu().contiguous() for k, v in ema.state_dict().items()})
    state = opt.state_dict()
    for pid, pstate in state["state"].items():
        for k, v in pstate.items():
            t = v if torch.is_tensor(v) else torch.tensor(v)
            tensors[f"opt.{pid}.{k}"] = t.detach().cpu().contiguous()
    tensors["step"] = torch.tensor(step, dtype=torch.int64)
    write_tensors(path, tensors, metadata=meta)


def read_train_state_info(path: str | Path) -> tuple[int, dict[str, str]]:
    """The step a ``train_state.safetensors`` file is at, and the metadata ``train`` saved with it
    (``state_meta``; empty for files written before it existed)."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            return int(f.get_tensor("step")), dict(f.metadata() or {})
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(f"cannot resume {path.parent}: {path.name} is unreadable ({exc})") from None


def load_state(path: Path, model: nn.Module, ema: nn.Module, opt: torch.optim.Optimizer) -> int:
    try:
        tensors = load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(f"cannot resume {path.parent}: {path.name} is unreadable ({exc})") from None
    if "step" not in tensors:
        raise CheckpointError(f"cannot resume {path.parent}: {path.name} is unreadable (it holds no step)")
    try:
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
    except RuntimeError as exc:  # another model shape: line 1 names the class, line 2 the first mismatch
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
        detail = lines[1] if len(lines) > 1 else (lines[0] if lines else "")
        raise CheckpointError(f"cannot resume {path.parent}: {path.name} was written for another model "
                              f"({detail.rstrip('.')})") from None
    state = opt.state_dict()
    new_state: dict[int, dict[str, torch.Tensor]] = {}
    for key, v in tensors.items():
        if key.startswith("opt."):
            _, pid, name = key.split(".", 2)
            new_state.setdefault(int(pid), {})[name] = v
    state["state"] = new_state
    opt.load_state_dict(state)
    return int(tensors["step"])


def state_meta(config: NetDiffusConfig, dataset: TraceDataset) -> dict[str, str]:
    """The metadata a training state is saved with: the configuration, the data shape
    ``[channels, length]``, the classes and a digest of the training traces (JSON strings)."""
    return {"config": config.to_json(), "shape": json.dumps([dataset.n_channels, dataset.length]),
            "classes": json.dumps(dataset.classes), "traces": _traces_digest(dataset)}


def _flat(data: Mapping, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out = {}
    for k, v in data.items():
        if isinstance(v, Mapping):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _traces_digest(dataset: TraceDataset) -> str:
    """JSON ``{"n": N, "sha256": ...}`` of a training set's values and labels: a resumed run must
    continue on the traces it started with."""
    h = hashlib.sha256(np.ascontiguousarray(dataset.series, dtype=np.float32).tobytes())
    h.update("\0".join(dataset.labels).encode())
    return json.dumps({"n": dataset.n_traces, "sha256": h.hexdigest()})


def check_resumable(run_dir: Path, config: NetDiffusConfig, meta: Mapping[str, str]) -> None:
    """Refuse to continue the training state in ``run_dir`` (if any) that another configuration
    (beyond ``RESUME_MAY_CHANGE``) or another dataset wrote; ``meta`` is :func:`state_meta` of
    this run.

    Raises
    ------
    CheckpointError
        Naming the first difference: a config key, the data shape, the classes or the traces.
    """
    path = run_dir / TRAIN_STATE_FILE
    if not path.is_file():
        return
    step, saved = read_train_state_info(path)
    where = f"cannot resume {run_dir}:"
    steps = config.train.steps
    if step > steps:
        raise CheckpointError(f"{where} the checkpoint is at step {step}, beyond train.steps={steps}")
    if "config" in saved:  # older files lack it: their weights' shapes are checked as they load
        raw = json.loads(saved["config"])
        try:  # the saved values as this version reads them (defaults filled in, lists as tuples)
            there = _flat(NetDiffusConfig.from_dict(raw).to_dict())
        except ConfigError:
            there = _flat(raw)
        here = _flat(config.to_dict())
        preset = there.get("preset")
        hint = (f" (the run was trained with --preset {preset}: resume with the preset and --set options "
                "it was trained with)" if preset and preset != here.get("preset") else "")
        for key in [*here, *(k for k in there if k not in here)]:
            if key.startswith(RESUME_MAY_CHANGE) or here.get(key) == there.get(key):
                continue
            if key not in there:
                raise CheckpointError(f"{where} {key} is {here[key]!r} here but absent from the checkpoint{hint}")
            if key not in here:
                raise CheckpointError(f"{where} the checkpoint sets {key} to {there[key]!r}, unknown here{hint}")
            raise CheckpointError(f"{where} {key} is {here[key]!r} here but {there[key]!r} in the checkpoint{hint}")
    for key, what in (("shape", "the data shape [channels, length] is"), ("classes", "the classes are")):
        if key in saved and json.loads(saved[key]) != json.loads(meta[key]):
            raise CheckpointError(f"{where} {what} {json.loads(meta[key])} here but "
                                  f"{json.loads(saved[key])} in the checkpoint")
    if "traces" in saved and saved["traces"] != meta["traces"]:  # older files lack it
        here_n, there_n = json.loads(meta["traces"])["n"], json.loads(saved["traces"])["n"]
        raise CheckpointError(f"{where} the training traces are not the checkpoint's ({here_n} here, {there_n} "
                              "there; resuming continues the same training on the same traces)")

