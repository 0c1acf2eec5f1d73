"""Which device each torchrun process trains on, and which backend it joins with."""

import pytest
import torch

from netdiffus.distributed import process_device, setup_distributed
from netdiffus.errors import ConfigError


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


@pytest.mark.parametrize(
    "device, local_rank, expected, backend, set_device",
    [
        # the backend follows the device: nccl cannot reduce CPU tensors, even on a GPU machine
        ("cpu", 1, "cpu", "gloo", None),
        ("cuda", 1, "cuda:1", "nccl", "cuda:1"),
        ("cuda", 0, "cuda:0", "nccl", "cuda:0"),
    ],
)
def test_setup_distributed_picks_the_device_and_backend(monkeypatch, device, local_rank, expected, backend,
                                                         set_device):
    seen = {}
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: seen.setdefault("set_device", str(d)))
    monkeypatch.setattr(torch.distributed, "is_initialized", lambda: False)
    monkeypatch.setattr(torch.distributed, "init_process_group", lambda backend: seen.setdefault("backend", backend))
    for k, v in {"WORLD_SIZE": "2", "LOCAL_WORLD_SIZE": "2", "LOCAL_RANK": str(local_rank)}.items():
        monkeypatch.setenv(k, v)
    assert setup_distributed(torch.device(device)) == torch.device(expected)
    assert seen == {"backend": backend, **({"set_device": set_device} if set_device else {})}


# -- sharing a draw between torchrun processes --------------------------------------------------

def _share_and_gather(rank: int, world: int, init: str, sizes: list[int], queue) -> None:
    import numpy as np

    from netdiffus.distributed import gather_shares, process_share

    torch.distributed.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    try:
        for n in sizes:
            share = process_share(n)
            rows = np.array([[k, 10 * k] for k in share], dtype=np.float64).reshape(len(share), 2)
            queue.put((n, rank, list(share), gather_shares(n, share, rows).tolist()))
    finally:
        torch.distributed.destroy_process_group()


def test_processes_share_a_draw_and_gather_it_in_order(tmp_path):
    world, sizes = 3, [7, 9, 2]  # 2 items: one process draws nothing
    ctx = torch.multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    init = f"file://{tmp_path / 'rendezvous'}"
    procs = [ctx.Process(target=_share_and_gather, args=(r, world, init, sizes, queue)) for r in range(world)]
    for p in procs:
        p.start()
    got = sorted(queue.get(timeout=60) for _ in range(world * len(sizes)))
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    for n in sizes:
        mine = [g for g in got if g[0] == n]
        assert [share for _, _, share, _ in mine] == [list(range(r, n, world)) for r in range(world)]
        for *_, gathered in mine:  # every process holds the whole set, in item order
            assert gathered == [[k, 10 * k] for k in range(n)]


def test_one_process_keeps_its_draw():
    import numpy as np

    from netdiffus.distributed import gather_shares, process_share

    rows = np.arange(6.0).reshape(3, 2)
    assert process_share(3) == range(3)
    assert gather_shares(3, range(3), rows) is rows
