"""Which device each torchrun process trains on, and which backend it joins with."""

import pytest
import torch

from netdiffus.errors import ConfigError
from netdiffus.training import process_device, setup_distributed


@pytest.mark.parametrize(
    "device, local_rank, local_world, cuda_count, expected",
    [
        ("cpu", 0, 2, 0, "cpu"),
        ("cpu", 1, 4, 2, "cpu"),  # a CPU run shares the CPU, GPUs or not
        ("cuda", 0, 2, 2, "cuda:0"),
        ("cuda", 1, 2, 2, "cuda:1"),
        ("cuda", 2, 3, 8, "cuda:2"),
        ("cuda:1", 0, 1, 2, "cuda:1"),  # one process per node keeps the GPU it names
    ],
)
def test_process_device(device, local_rank, local_world, cuda_count, expected):
    got = process_device(torch.device(device), local_rank=local_rank, local_world_size=local_world,
                         cuda_count=cuda_count)
    assert got == torch.device(expected)


@pytest.mark.parametrize(
    "device, local_world, cuda_count, message",
    [
        ("cuda", 2, 1, "torchrun starts 2 processes per node but 1 CUDA device(s) are visible; "
                       "set --nproc_per_node to at most 1"),
        ("cuda", 8, 4, "torchrun starts 8 processes per node but 4 CUDA device(s) are visible; "
                       "set --nproc_per_node to at most 4"),
        ("cuda:0", 2, 2, "device 'cuda:0' names one GPU for 2 processes per node; use --device cuda, "
                         "and each process takes the GPU of its local rank"),
    ],
)
def test_process_device_refuses(device, local_world, cuda_count, message):
    with pytest.raises(ConfigError) as err:
        process_device(torch.device(device), local_rank=0, local_world_size=local_world, cuda_count=cuda_count)
    assert str(err.value) == message


@pytest.mark.parametrize("env", [{}, {"WORLD_SIZE": "1", "LOCAL_RANK": "0"}])
def test_setup_distributed_is_a_no_op_for_one_process(monkeypatch, env):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert setup_distributed(torch.device("cpu")) is None
    assert not torch.distributed.is_initialized()


def test_a_cpu_run_joins_with_gloo_even_where_cuda_is_available(monkeypatch):
    """The backend follows the device: nccl cannot reduce CPU tensors."""
    seen = {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.distributed, "init_process_group", lambda backend: seen.setdefault("backend", backend))
    for k, v in {"WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2", "LOCAL_RANK": "1"}.items():
        monkeypatch.setenv(k, v)
    assert setup_distributed(torch.device("cpu")) == torch.device("cpu")
    assert seen == {"backend": "gloo"}
