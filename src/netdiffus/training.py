"""The training loop: reads top to bottom, one optimizer step per iteration.

Every step draws its batch, timesteps and noise from a generator seeded by ``(seed, step)``, so a
run resumed from a checkpoint at step k continues exactly as an uninterrupted run would.
Checkpoints (weights, EMA weights, optimizer moments, step) are safetensors files
(:mod:`netdiffus.train_state`); the loss goes to ``metrics.jsonl`` in the run folder and to a
progress callback.

With ``torchrun --nproc_per_node=K``, each rank trains on its slice of every global batch under
DistributedDataParallel (gloo on CPU, nccl on GPU); rank 0 alone writes checkpoints and logs.
"""

from __future__ import annotations

import copy
import json
import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO, TypeVar

import numpy as np
import torch
from torch import nn

from netdiffus.config import TrainConfig
from netdiffus.diffusion.networks import Process, network_config
from netdiffus.distributed import dist_info
from netdiffus.errors import CheckpointError, ConfigError, InputError
from netdiffus.io.dataset import TraceDataset
from netdiffus.manifest import read_run
from netdiffus.privacy import PrivateTraining, dp_enabled
from netdiffus.representation import Representation
from netdiffus.train_state import TRAIN_STATE_FILE, load_state, save_state

__all__ = ["train", "TrainProgress", "METRICS_FILE", "init_from_run"]

log = logging.getLogger(__name__)

#: The training loss per logged step, one JSON object a line, in the run folder.
METRICS_FILE = "metrics.jsonl"


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


Model = TypeVar("Model", bound=nn.Module)


def train(
    model: Model,
    process: Process,
    x_0: torch.Tensor,
    y: torch.Tensor,
    *,
    cfg: TrainConfig,
    null_class: int,
    run_dir: str | Path | None = None,
    resume: bool = False,
    progress: Callable[[TrainProgress], None] | None = None,
    state_meta: Mapping[str, str] | None = None,
    monitor: Callable[[int, nn.Module], bool] | None = None,
) -> Model:
    """Train ``model`` on images ``x_0`` ``[N, C, H, W]`` in [-1, 1] with classes ``y`` ``[N]``.

    Returns the EMA copy of the model (the one to sample from). ``model`` holds the raw weights.
    A share ``cfg.class_dropout`` of the examples is trained as the ``null_class`` (for
    classifier-free guidance). With ``run_dir``, writes ``metrics.jsonl`` and, every
    ``cfg.checkpoint_every`` steps, ``train_state.safetensors`` (with ``state_meta`` as its
    metadata, see :func:`netdiffus.train_state.read_train_state_info`); ``resume=True`` continues
    from that file when present. ``monitor(steps_done, ema)`` is called after every step and
    stops training when it returns True (e.g. :class:`netdiffus.novelty.NoveltyMonitor`, which
    may also set the EMA weights back); a stopped run is saved as finished.

    With ``cfg.dp_epsilon > 0`` (and ``cfg`` resolved by :func:`netdiffus.privacy.resolve_private`)
    the steps are DP-SGD (:class:`netdiffus.privacy.PrivateTraining`): Poisson batches, per-trace
    clipping and noise; ``metrics.jsonl`` then logs the epsilon spent instead of the loss.

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
        model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # the stubs lack it
        x_0 = x_0.contiguous(memory_format=torch.channels_last)
    ema = copy.deepcopy(model).eval().requires_grad_(False)
    opt: torch.optim.Optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    private = (PrivateTraining(model, opt, cfg, n_traces=x_0.shape[0], world=world, device=x_0.device)
               if dp_enabled(cfg) else None)
    step_model = private.module if private is not None else _wrap(model, cfg, world, x_0.device)
    opt = private.optimizer if private is not None else opt
    draw_batch = private.batch if private is not None else _batch
    start = 0
    state_path = run_dir / TRAIN_STATE_FILE if run_dir is not None else None
    if resume and state_path is not None and state_path.exists():
        start = load_state(state_path, model, ema, opt)
        log.info("resumed from %s at step %d", state_path, start)
    log_file = _MetricsLog(run_dir, write=rank == 0, append=start > 0, cfg=cfg, private=private)
    # bf16 autocast pays off on CPUs with native bf16 matmul (AVX-512 BF16 / AMX) and on GPUs.
    autocast = (torch.autocast(device_type=x_0.device.type, dtype=torch.bfloat16)
                if cfg.precision == "bf16" else nullcontext())
    model.train()
    t_last = time.perf_counter()
    with log_file, (private.quiet() if private is not None else nullcontext()):
        for step in range(start, cfg.steps):
            x_b, y_b, t, eps = draw_batch(step, x_0, y, cfg=cfg, process=process, null_class=null_class)
            torch.manual_seed(cfg.seed * 1_000_003 + step)  # dropout
            for group in opt.param_groups:
                group["lr"] = _lr_at(step, cfg)
            opt.zero_grad(set_to_none=True)
            if private is not None and not len(y_b):  # an empty Poisson batch: the step adds noise alone
                loss = private.empty_batch()
            else:
                with autocast:
                    loss = process.training_loss(step_model, x_b, y=y_b, t=t, eps=eps)
                loss.backward()
            if cfg.grad_clip > 0 and private is None:  # DP-SGD clips each trace's gradient instead
                nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            # EMA with warm-up: decay grows from 0 so early averages are not stuck at init.
            _ema_update(ema, model, decay=min(cfg.ema_decay, (1 + step) / (10 + step)))
            loss_v = _mean_over_processes(float(loss.detach()), world, x_0.device)
            now = time.perf_counter()
            ips, t_last = cfg.batch_size / max(now - t_last, 1e-9), now
            log_file.step(step, loss_v, ips)  # raises ConfigError when the loss diverged
            if progress is not None and rank == 0:
                progress(TrainProgress(step + 1, cfg.steps, loss_v, _lr_at(step, cfg), ips))
            done = step + 1
            if cfg.checkpoint_every and done % cfg.checkpoint_every == 0 and done < cfg.steps:
                if rank == 0 and state_path is not None:
                    save_state(state_path, model, ema, opt, done, state_meta)
                if world > 1:
                    torch.distributed.barrier()
            if monitor is not None and monitor(done, ema):
                break
    if private is not None:
        private.close()
    if state_path is not None and rank == 0 and cfg.checkpoint_every:
        save_state(state_path, model, ema, opt, cfg.steps, state_meta)  # a resume after the end is a no-op
    model.eval()
    return ema


def training_tensors(representation: Representation, dataset: TraceDataset, classes: Sequence[str],
                     device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """``x_0`` (``dataset`` encoded by the fitted ``representation``, float32) and ``y`` (each
    trace's class index in ``classes``, int64), on ``device``."""
    x_0 = torch.from_numpy(representation.encode(dataset.series).astype(np.float32)).to(device)
    index = {c: i for i, c in enumerate(classes)}
    return x_0, torch.tensor([index[lab] for lab in dataset.labels], dtype=torch.long, device=device)


def init_from_run(model: nn.Module, run: str | Path, *, classes: Sequence[str]) -> None:
    """Load into ``model`` the weights of the run folder ``run`` (``train.init_from``: a model
    trained on public traffic, to be fine-tuned), which must have the same network and classes.

    Raises
    ------
    ConfigError
        ``run`` is not a readable run folder, or its classes or network differ from this fit's
        (``train.init_from runs/pub has classes ['a'], not this dataset's ['a', 'b']``).
    """
    try:
        saved = read_run(run)
    except (CheckpointError, InputError) as exc:
        raise ConfigError(f"train.init_from: {exc}") from None
    if list(saved.manifest.classes) != list(classes):
        raise ConfigError(f"train.init_from {run} has classes {list(saved.manifest.classes)}, not this dataset's "
                          f"{list(classes)}")
    want = json.loads(json.dumps(network_config(model)))  # tuples as JSON lists
    for key in sorted(set(want) | set(saved.manifest.unet)):
        if saved.manifest.unet.get(key) != want.get(key):
            raise ConfigError(f"train.init_from {run} has a network with {key} {saved.manifest.unet.get(key)!r}, "
                              f"not this fit's {want.get(key)!r}")
    model.load_state_dict(saved.state)
    log.info("network initialised from %s", run)


def _wrap(model: nn.Module, cfg: TrainConfig, world: int, device: torch.device) -> Callable[..., torch.Tensor]:
    """The module the training step calls: ``model`` under DistributedDataParallel when several
    processes train, compiled when ``cfg.compile``. Checkpoints still come from the plain
    ``model``, so they load without either wrapper."""
    wrapped: Callable[..., torch.Tensor] = model
    if world > 1:
        wrapped = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)
    if cfg.compile:  # compiles on the first step (tens of seconds on a CPU)
        wrapped = torch.compile(wrapped)
    return wrapped


def _batch(step: int, x_0: torch.Tensor, y: torch.Tensor, *, cfg: TrainConfig, process: Process,
           null_class: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """This process's share of step ``step``'s batch: images ``[B/K, ...]``, classes (some
    dropped to ``null_class``), timesteps and noise.

    One generator per (seed, step): the same batch whether or not the run was resumed, and the
    same global batch whatever the number of processes K.
    """
    rank, world = dist_info()
    local_bs = cfg.batch_size // world
    g = torch.Generator().manual_seed(cfg.seed * 1_000_003 + step)
    idx = torch.randint(0, x_0.shape[0], (cfg.batch_size,), generator=g)
    drop = torch.rand(cfg.batch_size, generator=g) < cfg.class_dropout
    t = torch.randint(0, process.timesteps, (cfg.batch_size,), generator=g)
    eps = torch.randn((cfg.batch_size, *x_0.shape[1:]), generator=g)
    mine = slice(rank * local_bs, (rank + 1) * local_bs)  # this process's share
    dev = x_0.device
    idx, drop, t, eps = idx[mine].to(dev), drop[mine].to(dev), t[mine].to(dev), eps[mine].to(dev)
    y_b = torch.where(drop, torch.full_like(y[idx], null_class), y[idx])
    return x_0[idx], y_b, t, eps


@torch.no_grad()
def _ema_update(ema: nn.Module, model: nn.Module, *, decay: float) -> None:
    """``ema <- decay * ema + (1 - decay) * model`` for parameters; buffers copied."""
    for pe, pm in zip(ema.parameters(), model.parameters(), strict=True):
        pe.lerp_(pm, 1 - decay)
    for be, bm in zip(ema.buffers(), model.buffers(), strict=True):
        be.copy_(bm)


def _mean_over_processes(value: float, world: int, device: torch.device) -> float:
    """The mean of ``value`` over the processes that train (itself in a one-process run)."""
    if world == 1:
        return value
    t = torch.tensor([value], device=device)
    torch.distributed.all_reduce(t)
    return float(t) / world


class _MetricsLog:
    """``metrics.jsonl`` of a run folder (nothing without one; written by one process): every
    ``cfg.log_every``-th step, the last, and a diverged one, which it then reports as a
    :class:`ConfigError`."""

    def __init__(self, run_dir: Path | None, *, write: bool, append: bool, cfg: TrainConfig,
                 private: PrivateTraining | None = None) -> None:
        self.path = run_dir / METRICS_FILE if run_dir is not None else None
        self.write, self.append, self.cfg, self.private = write, append, cfg, private
        self.fh: TextIO | None = None

    def __enter__(self) -> _MetricsLog:
        if self.path is not None and self.write:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.fh = open(self.path, "a" if self.append else "w")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.fh is not None:
            self.fh.close()

    def step(self, step: int, loss: float, images_per_s: float) -> None:
        cfg = self.cfg
        diverged = not math.isfinite(loss)
        if self.fh is not None and (diverged or step % cfg.log_every == 0 or step == cfg.steps - 1):
            # a private run logs the budget spent, not the loss (it reads the data) or the speed (it reads
            # the secret batch sizes)
            line = ({"step": step, "lr": _lr_at(step, cfg), "epsilon": self.private.epsilon()}
                    if self.private is not None else
                    {"step": step, "loss": loss, "lr": _lr_at(step, cfg), "images_per_s": round(images_per_s, 2)})
            self.fh.write(json.dumps(line) + "\n")
            self.fh.flush()
        if diverged:  # the step numbers of metrics.jsonl
            where = f"; the logged losses are in {self.path}" if self.path is not None else ""
            raise ConfigError(f"training diverged at step {step} (loss {loss}); lower train.lr "
                              f"(got {cfg.lr}){where}")
