"""The training loop: reads top to bottom, one optimizer step per iteration.

Every step draws its batch, timesteps and noise from a generator seeded by ``(seed, step)``, so a
run resumed from a checkpoint at step k continues exactly as an uninterrupted run would.
Checkpoints (weights, EMA weights, optimizer moments, step) are safetensors files; the loss
goes to ``metrics.jsonl`` in the run folder and to a progress bar.

With ``torchrun --nproc_per_node=K``, each rank trains on its slice of every global batch under
DistributedDataParallel (gloo on CPU, nccl on GPU); rank 0 alone writes checkpoints and logs.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file
from torch import nn

from netdiffus.config import TrainConfig
from netdiffus.diffusion.process import GaussianDiffusion
from netdiffus.distributed import dist_info
from netdiffus.errors import CheckpointError, ConfigError
from netdiffus.files import atomic_path

__all__ = ["train", "TrainProgress", "TRAIN_STATE_FILE", "read_train_state_info"]

log = logging.getLogger(__name__)

TRAIN_STATE_FILE = "train_state.safetensors"


@dataclass
class TrainProgress:
    """What a progress callback receives after each step."""

    step: int
    steps: int
    loss: float
    lr: float
    images_per_s: float


def _lr_at(step: int, cfg: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 10 % of ``lr``."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    frac = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))


def _save_state(path: Path, model: nn.Module, ema: nn.Module, opt: torch.optim.Optimizer, step: int,
                meta: Mapping[str, str] | None = None) -> None:
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tensors.update({f"ema.{k}": v.detach().cpu().contiguous() for k, v in ema.state_dict().items()})
    state = opt.state_dict()
    for pid, pstate in state["state"].items():
        for k, v in pstate.items():
            t = v if torch.is_tensor(v) else torch.tensor(v)
            tensors[f"opt.{pid}.{k}"] = t.detach().cpu().contiguous()
    tensors["step"] = torch.tensor(step, dtype=torch.int64)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=dict(meta) if meta else None)


def read_train_state_info(path: str | Path) -> tuple[int, dict[str, str]]:
    """The step a ``train_state.safetensors`` file is at, and the metadata ``train`` saved with it
    (``state_meta``; empty for files written before it existed)."""
    path = Path(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            return int(f.get_tensor("step")), dict(f.metadata() or {})
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(f"cannot resume {path.parent}: {path.name} is unreadable ({exc})") from None


def _load_state(path: Path, model: nn.Module, ema: nn.Module, opt: torch.optim.Optimizer) -> int:
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


def train(
    model: nn.Module,
    process: GaussianDiffusion,
    x_0: torch.Tensor,
    y: torch.Tensor,
    *,
    cfg: TrainConfig,
    null_class: int,
    class_dropout: float,
    run_dir: str | Path | None = None,
    resume: bool = False,
    progress: Callable[[TrainProgress], None] | None = None,
    state_meta: Mapping[str, str] | None = None,
) -> nn.Module:
    """Train ``model`` on images ``x_0`` ``[N, C, H, W]`` in [-1, 1] with classes ``y`` ``[N]``.

    Returns the EMA copy of the model (the one to sample from). ``model`` holds the raw weights.
    With ``run_dir``, writes ``metrics.jsonl`` and, every ``cfg.checkpoint_every`` steps,
    ``train_state.safetensors`` (with ``state_meta`` as its metadata, see
    :func:`read_train_state_info`); ``resume=True`` continues from that file when present.

    Raises
    ------
    CheckpointError
        ``resume=True`` and the file is unreadable or holds weights of another model shape.
    ConfigError
        The loss became NaN or infinite (``training diverged at step 12 (loss nan); lower
        train.lr (got 0.5)``); with ``run_dir``, ``metrics.jsonl`` is kept and ends with that step.
    """
    rank, world = dist_info()
    if cfg.batch_size % world:  # before any file is written
        raise ConfigError(f"train.batch_size must be divisible by the number of processes {world} "
                          f"(got {cfg.batch_size})")
    if cfg.num_threads > 0:
        torch.set_num_threads(cfg.num_threads)
    run_dir = Path(run_dir) if run_dir is not None else None
    if cfg.channels_last and x_0.dim() == 4:
        model.to(memory_format=torch.channels_last)
        x_0 = x_0.contiguous(memory_format=torch.channels_last)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    ddp_model: nn.Module = model
    if world > 1:
        on_gpu = x_0.device.type == "cuda"
        ddp_model = nn.parallel.DistributedDataParallel(model, device_ids=[x_0.device.index] if on_gpu else None)
    if cfg.compile:
        # Compiles on the first step (tens of seconds on a CPU); checkpoints still come from the
        # plain module ``model``, so they load without the compiled wrapper.
        ddp_model = torch.compile(ddp_model)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    start = 0
    state_path = run_dir / TRAIN_STATE_FILE if run_dir is not None else None
    if resume and state_path is not None and state_path.exists():
        start = _load_state(state_path, model, ema, opt)
        log.info("resumed from %s at step %d", state_path, start)
    metrics_fh = None
    if run_dir is not None and rank == 0:
        run_dir.mkdir(parents=True, exist_ok=True)
        metrics_fh = open(run_dir / "metrics.jsonl", "a" if start else "w")
    # bf16 autocast pays off on CPUs with native bf16 matmul (AVX-512 BF16 / AMX) and on GPUs.
    autocast = (
        torch.autocast(device_type=x_0.device.type, dtype=torch.bfloat16)
        if cfg.precision == "bf16"
        else nullcontext()
    )
    n = x_0.shape[0]
    local_bs = cfg.batch_size // world
    model.train()
    t_last = time.perf_counter()
    try:
        for step in range(start, cfg.steps):
            # One generator per (seed, step): the same batch whether or not the run was resumed,
            # and the same global batch whatever the number of processes.
            g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
            idx = torch.randint(0, n, (cfg.batch_size,), generator=g)
            drop = torch.rand(cfg.batch_size, generator=g) < class_dropout
            t = torch.randint(0, process.timesteps, (cfg.batch_size,), generator=g)
            eps = torch.randn((cfg.batch_size, *x_0.shape[1:]), generator=g)
            mine = slice(rank * local_bs, (rank + 1) * local_bs)  # this process's share
            dev = x_0.device
            idx, drop, t, eps = idx[mine].to(dev), drop[mine].to(dev), t[mine].to(dev), eps[mine].to(dev)
            yb = torch.where(drop, torch.full_like(y[idx], null_class), y[idx])
            torch.manual_seed(cfg.seed * 1_000_003 + step)  # dropout
            for group in opt.param_groups:
                group["lr"] = _lr_at(step, cfg)
            with autocast:
                loss = process.training_loss(ddp_model, x_0[idx], y=yb, t=t, eps=eps)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            # EMA with warm-up: decay grows from 0 so early averages are not stuck at init.
            decay = min(cfg.ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
                    pe.lerp_(pm, 1 - decay)
                for be, bm in zip(ema.buffers(), model.buffers(), strict=True):
                    be.copy_(bm)
            loss_v = float(loss.detach())
            if world > 1:
                lt = torch.tensor([loss_v], device=x_0.device)
                torch.distributed.all_reduce(lt)
                loss_v = float(lt) / world
            now = time.perf_counter()
            ips = cfg.batch_size / max(now - t_last, 1e-9)
            t_last = now
            diverged = not math.isfinite(loss_v)
            if metrics_fh is not None and (diverged or step % cfg.log_every == 0 or step == cfg.steps - 1):
                metrics_fh.write(json.dumps({"step": step, "loss": loss_v, "lr": _lr_at(step, cfg),
                                             "images_per_s": round(ips, 2)}) + "\n")
                metrics_fh.flush()
            if diverged:  # the step numbers of metrics.jsonl
                where = f"; the logged losses are in {run_dir / 'metrics.jsonl'}" if run_dir is not None else ""
                raise ConfigError(f"training diverged at step {step} (loss {loss_v}); lower train.lr "
                                  f"(got {cfg.lr}){where}")
            if progress is not None and rank == 0:
                progress(TrainProgress(step + 1, cfg.steps, loss_v, _lr_at(step, cfg), ips))
            done = step + 1
            if cfg.checkpoint_every and done % cfg.checkpoint_every == 0 and done < cfg.steps:
                if rank == 0 and state_path is not None:
                    _save_state(state_path, model, ema, opt, done, state_meta)
                if world > 1:
                    torch.distributed.barrier()
    finally:
        if metrics_fh is not None:
            metrics_fh.close()
    if state_path is not None and rank == 0 and cfg.checkpoint_every:
        _save_state(state_path, model, ema, opt, cfg.steps, state_meta)  # a resume after the end is a no-op
    model.eval()
    return ema
