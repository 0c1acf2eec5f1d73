"""What only a CUDA GPU can show: training and sampling on it, its checkpoints on a CPU, and
torchrun with nccl. Deselected by default; ``make test-gpu`` (``pytest -m gpu``) runs them, and
they skip on a machine without a CUDA GPU."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from conftest import TINY, toy_dataset
from netdiffus.io.dataset import write_dataset
from netdiffus.synthesizer import TrafficSynthesizer

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU")]

BIN = Path(sys.executable).parent
# Small enough for seconds, large enough for attention and two levels: the code paths of the presets.
SMALL = [s for s in TINY if not s.startswith("train.steps")] + ["train.steps=30", "sample.steps=4"]


def _fit(tmp_path, extra=(), device="cuda"):
    synth = TrafficSynthesizer.from_preset("demo", overrides=SMALL + list(extra), device=device, progress=False)
    return synth.fit(toy_dataset(n_per_class=6, length=8), run_dir=tmp_path / "run")


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_fit_on_cuda_trains_there_and_writes_finite_losses(tmp_path, precision):
    synth = _fit(tmp_path, [f"train.precision={precision}"])
    assert next(synth.model_.parameters()).device.type == "cuda"
    losses = [json.loads(line)["loss"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert losses and np.isfinite(losses).all()


def test_a_cuda_checkpoint_samples_on_the_cpu_as_on_the_gpu(tmp_path):
    gpu = _fit(tmp_path)
    a = gpu.sample(6, seed=3, raw=True).series
    cpu = TrafficSynthesizer.load(tmp_path / "run", device="cpu", progress=False)
    assert next(cpu.model_.parameters()).device.type == "cpu"
    b = cpu.sample(6, seed=3, raw=True).series
    # Same weights and per-sample noise; only the kernels differ (TF32 convolutions on the GPU).
    np.testing.assert_allclose(a, b, rtol=2e-2, atol=1e-3 * float(np.abs(b).max()))


def test_sample_k_is_the_same_at_any_batch_size_on_cuda(tmp_path):
    synth = _fit(tmp_path)
    whole = synth.sample(5, seed=1, batch_size=5, raw=True).series
    pieces = synth.sample(5, seed=1, batch_size=2, raw=True).series
    np.testing.assert_allclose(whole, pieces, rtol=1e-3, atol=1e-4 * float(np.abs(whole).max()))


def test_the_demo_trains_on_cuda(tmp_path):
    from netdiffus.demo import run_demo

    result = run_demo(tmp_path / "demo", overrides=["train.steps=20", "sample.steps=4"], progress=False,
                      export_pcap_traces=1, device="cuda")
    assert result.n_synthetic == 2 * result.n_train
    assert (tmp_path / "demo" / "report.html").is_file()


def _torchrun(ds, run, nproc, device, steps=6):
    sets = SMALL + [f"train.steps={steps}", "train.log_every=1", "train.num_threads=1"]
    argv = [str(BIN / "torchrun"), "--standalone", f"--nproc_per_node={nproc}", str(BIN / "netdiffus"), "fit",
            str(ds), "-o", str(run), "--no-progress", "--device", device]
    for s in sets:
        argv += ["--set", s]
    return subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                          timeout=600)


def test_torchrun_gives_each_process_its_own_gpu(tmp_path):
    ds = write_dataset(toy_dataset(n_per_class=4, length=8), tmp_path / "ds.parquet")
    count = torch.cuda.device_count()
    if count < 2:
        res = _torchrun(ds, tmp_path / "two", 2, "cuda")
        assert res.returncode != 0
        assert (f"error: torchrun starts 2 processes per node but {count} CUDA device(s) are visible; "
                f"set --nproc_per_node to at most {count}") in res.stderr
        assert not (tmp_path / "two" / "model.safetensors").exists()
        return
    one = _torchrun(ds, tmp_path / "one", 1, "cuda")
    two = _torchrun(ds, tmp_path / "two", 2, "cuda")
    assert one.returncode == 0 and two.returncode == 0, two.stderr[-2000:]
    loss = {k: [json.loads(line)["loss"] for line in (tmp_path / k / "metrics.jsonl").read_text().splitlines()]
            for k in ("one", "two")}
    np.testing.assert_allclose(loss["one"], loss["two"], rtol=1e-3)
    assert load_file(str(tmp_path / "two" / "model.safetensors")).keys() == \
        load_file(str(tmp_path / "one" / "model.safetensors")).keys()
