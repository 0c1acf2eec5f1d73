"""Distillation on toy data: the student is a run folder like any other, sampled by the same command."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from conftest import TINY, toy_dataset
from netdiffus.cli.main import main
from netdiffus.diffusion.process import GaussianDiffusion
from netdiffus.diffusion.unet import UNet
from netdiffus.distill import DistillConfig, distill, distill_model, one_step_x0
from netdiffus.errors import ConfigError, DatasetError
from netdiffus.io.dataset import read_dataset, write_dataset
from netdiffus.synthesizer import TrafficSynthesizer

FAST = dict(steps=1, teacher_steps=4, iterations=3, batch_size=4, pairs=6)


@pytest.fixture(scope="module")
def teacher_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("teacher")
    ds = toy_dataset(n_per_class=4, length=8)
    write_dataset(ds, root / "train.parquet")
    TrafficSynthesizer.from_preset("demo", overrides=TINY, progress=False).fit(ds, run_dir=root / "run")
    return root


@pytest.mark.parametrize("method", ["progressive", "reflow"])
def test_the_student_run_samples_with_the_same_command(teacher_run, tmp_path, capsys, method):
    fast = tmp_path / "fast"
    code = main(["distill", str(teacher_run / "run"), str(teacher_run / "train.parquet"), "-o", str(fast),
                 "--method", method, "--steps", "1", "--teacher-steps", "4", "--iterations", "3",
                 "--batch-size", "4", "--pairs", "6", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith(f"distilled {teacher_run / 'run'} ({method}) into a 1-step distilled sampler")
    config = json.loads((fast / "config.json").read_text())
    assert (config["sample"]["sampler"], config["sample"]["steps"], config["sample"]["guidance_scale"]) == \
        ("distilled", 1, 1.0)
    assert json.loads((fast / "distill.json").read_text())["distill"]["method"] == method
    code = main(["sample", str(fast), "-n", "5", "-o", str(tmp_path / "syn.parquet"), "--no-progress"])
    assert code == 0, capsys.readouterr().err
    syn = read_dataset(tmp_path / "syn.parquet")
    assert syn.series.shape == (5, 1, 8) and np.isfinite(syn.series).all()
    assert syn.meta.extra["synthetic"]["sampler"] == "distilled"
    # the student keeps the teacher's classes and post-processing, its calibration fitted again
    student, teacher = TrafficSynthesizer.load(fast), TrafficSynthesizer.load(teacher_run / "run")
    assert student.classes_ == teacher.classes_
    assert student.postprocess_.value_lexicon.to_json() == teacher.postprocess_.value_lexicon.to_json()
    assert student.postprocess_.totals_calibration != teacher.postprocess_.totals_calibration


def test_trace_k_of_a_student_is_the_same_at_batch_sizes_1_and_5(teacher_run):
    teacher = TrafficSynthesizer.load(teacher_run / "run", progress=False)
    student = distill(teacher, read_dataset(teacher_run / "train.parquet"), cfg=DistillConfig(**FAST))
    whole = student.sample(5, seed=7, batch_size=5).series
    alone = student.sample(5, seed=7, batch_size=1).series
    np.testing.assert_allclose(alone, whole, rtol=1e-4)
    assert not np.allclose(whole[0], whole[1])


def _random_net() -> UNet:
    """A tiny UNet with every weight drawn (its zero-initialised output layers too)."""
    torch.manual_seed(0)
    net = UNet(in_channels=1, num_classes=2, base_channels=8, channel_mult=(1, 2), output="gasf").eval()
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return net


@pytest.mark.parametrize("method", ["progressive", "reflow"])
def test_distillation_is_deterministic_for_a_seed(method):
    def student(seed):
        net = _random_net()
        x_0 = torch.rand(6, 1, 4, 4) * 2 - 1
        cfg = DistillConfig(method=method, seed=seed, **FAST)
        return distill_model(net, GaussianDiffusion(timesteps=50, prediction="x0"), x_0, torch.tensor([0, 1] * 3),
                             cfg=cfg, null_class=2).state_dict()

    a, b, c = student(0), student(0), student(1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)


def test_progressive_distillation_keeps_every_halving():
    net = UNet(in_channels=1, num_classes=2, base_channels=8, channel_mult=(1, 2), output="gasf").eval()
    kept = []
    distill_model(net, GaussianDiffusion(timesteps=50, prediction="x0"), torch.zeros(4, 1, 4, 4),
                  torch.tensor([0, 1, 0, 1]), cfg=DistillConfig(**{**FAST, "teacher_steps": 8}), null_class=2,
                  on_student=lambda steps, model: kept.append(steps))
    assert kept == [4, 2, 1]


@pytest.mark.parametrize(("change", "message"), [
    ({"steps": 0}, r"distill.steps must be in \[1, 64\] \(got 0\)"),
    ({"teacher_steps": 1}, r"distill.teacher_steps must be > steps and <= 1000 \(got 1\)"),
    ({"teacher_steps": 12}, r"distill.teacher_steps must be steps times a power of 2 .* \(got 12 for 1 steps\)"),
    ({"method": "euler"}, r"distill.method must be one of progressive, reflow \(got 'euler'\)"),
    ({"lr": 0.0}, r"distill.lr must be > 0 \(got 0.0\)"),
])
def test_bad_settings_are_named(change, message):
    with pytest.raises(ConfigError, match=message):
        DistillConfig(**{**FAST, **change}).validate()


def test_the_dataset_must_be_the_teachers(teacher_run):
    teacher = TrafficSynthesizer.load(teacher_run / "run", progress=False)
    other = toy_dataset(n_per_class=4, length=8, classes=("a", "c"))
    with pytest.raises(DatasetError, match=r"the dataset must be the teacher's training set: classes \['a', 'b'\]"):
        distill(teacher, other, cfg=DistillConfig(**FAST))


@pytest.mark.parametrize(("z_t", "z_n", "ab_t", "ab_n", "x_0"), [
    (0.5, 0.8, 0.36, 0.64, (0.8 - 0.75 * 0.5) / (0.8 - 0.75 * 0.6)),  # r = sqrt(0.36) / sqrt(0.64) = 0.75
    (0.5, 0.3, 0.36, 1.0, 0.3),  # the last step lands on the data: the target is where the teacher landed
    (-1.0, 0.0, 0.0, 0.25, 0.0 - (0.75**0.5) * -1.0 / 0.5),  # from pure noise (ab_t = 0): r = sqrt(0.75)
])
def test_the_progressive_target_is_the_x0_one_ddim_step_needs(z_t, z_n, ab_t, ab_n, x_0):
    args = [torch.tensor(v, dtype=torch.float64) for v in (z_t, z_n, ab_t, ab_n)]
    assert float(one_step_x0(*args)) == pytest.approx(x_0)
