"""Where a command runs: the torch device, and the processes torchrun starts.

One place for what every command that trains or samples needs to know about processes: this
process's rank and share of the work, gathering the shares, the device of each process, and the
process group's set-up and teardown (:func:`distributed_run`). Nothing here reads data or models.

With ``torchrun --nproc_per_node=K``, each process draws every K-th item of a draw (item k keeps
its own seed, so the set is the one a single process draws) and rank 0 alone writes files.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

import numpy as np
import torch

from netdiffus.errors import ConfigError

T = TypeVar("T")

__all__ = ["resolve_device", "dist_info", "is_main_process", "process_share", "gather_shares", "broadcast_from_main",
           "process_device", "setup_distributed", "distributed_run"]


def resolve_device(device: str | torch.device) -> torch.device:
    """``device`` as a :class:`torch.device` this torch can use.

    Raises
    ------
    ConfigError
        Not a device name, a device type netdiffus does not run on, or a device this machine or
        this torch build lacks.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"device {str(device)!r} is not a torch device (cpu, cuda, cuda:N, mps)") from None
    name = str(device)
    if dev.type == "cuda":
        if torch.version.cuda is None and torch.version.hip is None:
            raise ConfigError(f"device {name!r} is not available (this torch has no CUDA)")
        count = torch.cuda.device_count()
        if count == 0:
            raise ConfigError(f"device {name!r} is not available (no CUDA GPU is visible)")
        if dev.index is not None and dev.index >= count:
            raise ConfigError(f"device {name!r} is not available (CUDA devices: {', '.join(map(str, range(count)))})")
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ConfigError(f"device {name!r} is not available (this machine or torch has no MPS)")
    elif dev.type != "cpu":
        raise ConfigError(f"device {name!r} is not supported (cpu, cuda, cuda:N, mps)")
    return dev


def dist_info() -> tuple[int, int]:
    """``(rank, world_size)`` of this process: ``(0, 1)`` outside torchrun."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    return dist_info()[0] == 0


def process_share(n: int) -> range:
    """The items ``0..n-1`` this process handles when torchrun runs several: every
    ``world_size``-th, from its rank (all of them in a one-process run)."""
    rank, world = dist_info()
    return range(rank, n, world)


def gather_shares(n: int, share: range, values: np.ndarray) -> np.ndarray:
    """Reassemble ``values`` (``[len(share), ...]``, the rows of this process's :func:`process_share`)
    from every process into ``[n, ...]`` in item order, on every process.

    In a one-process run this returns ``values`` itself.
    """
    if dist_info()[1] == 1:
        return values
    parts: list[tuple[list[int], np.ndarray] | None] = [None] * dist_info()[1]
    torch.distributed.all_gather_object(parts, (list(share), values))
    out = np.empty((n, *values.shape[1:]), dtype=values.dtype)
    for part in parts:
        assert part is not None  # all_gather_object filled every slot
        index, rows = part
        out[index] = rows
    return out


def broadcast_from_main(value: T) -> T:
    """Rank 0's ``value`` (any picklable object), on every process; ``value`` itself in a
    one-process run. Every process must call it."""
    if dist_info()[1] == 1:
        return value
    box = [value]
    torch.distributed.broadcast_object_list(box, src=0)
    return box[0]


def process_device(device: torch.device, *, local_rank: int, local_world_size: int,
                   cuda_count: int) -> torch.device:
    """The device of process ``local_rank`` of the ``local_world_size`` that torchrun starts on a node.

    A CPU device is shared by every process. ``cuda`` without an index becomes ``cuda:LOCAL_RANK``,
    one GPU per process as nccl requires; an explicit index is kept for one process per node and
    refused for several (they would share that GPU).

    Raises
    ------
    ConfigError
        More processes per node than visible GPUs, or one GPU named for several processes.

    >>> process_device(torch.device("cuda"), local_rank=1, local_world_size=2, cuda_count=2)
    device(type='cuda', index=1)
    >>> process_device(torch.device("cpu"), local_rank=1, local_world_size=2, cuda_count=0)
    device(type='cpu')
    """
    if device.type != "cuda":
        return device
    if device.index is not None:
        if local_world_size > 1:
            raise ConfigError(f"device {str(device)!r} names one GPU for {local_world_size} processes per node; "
                              "use --device cuda, and each process takes the GPU of its local rank")
        return device
    if local_world_size > cuda_count:
        raise ConfigError(f"torchrun starts {local_world_size} processes per node but {cuda_count} CUDA "
                          f"device(s) are visible; set --nproc_per_node to at most {cuda_count}")
    return torch.device("cuda", local_rank)


def setup_distributed(device: torch.device) -> torch.device | None:
    """Initialise torch.distributed from torchrun's environment.

    Returns this process's device (see :func:`process_device`) when torchrun started more than one
    process, and None otherwise. The backend follows the device, not the machine: gloo for a CPU
    run (also on a machine with GPUs), nccl for ``cuda``.
    """
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) <= 1:
        return None
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    local_world = int(os.environ.get("LOCAL_WORLD_SIZE", os.environ["WORLD_SIZE"]))
    count = torch.cuda.device_count() if device.type == "cuda" else 0
    device = process_device(device, local_rank=local_rank, local_world_size=local_world, cuda_count=count)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device


@contextmanager
def distributed_run(device: torch.device) -> Iterator[torch.device]:
    """Run a command's body in torchrun's process group, if torchrun started several processes.

    Yields this process's device (``device`` itself in a one-process run; see
    :func:`setup_distributed`). On a normal exit every process waits for the others (rank 0 may
    still be writing: a process that tore its group down first could abort gloo's connection to
    it), then the group is destroyed.
    """
    process_dev = setup_distributed(device)
    yield process_dev or device
    if process_dev is not None:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
