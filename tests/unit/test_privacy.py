"""Differential privacy of a fit (netdiffus.privacy): refusals, the budget, the accountant, and
that a private run keeps nothing of one trace outside its weights."""

import json
import re

import numpy as np
import pytest
import torch

from conftest import TINY, toy_dataset
from netdiffus.config import load_config
from netdiffus.diffusion.networks import build_network
from netdiffus.errors import CheckpointError, ConfigError
from netdiffus.manifest import RunManifest
from netdiffus.privacy import PrivacyRecord, resolve_private
from netdiffus.synthesizer import TrafficSynthesizer

pytest.importorskip("opacus")

DP = ["train.dp_epsilon=10", "imaging.range_max=1e5"]
TOKENS = ['imaging.representation="tokens"', 'model.network="transformer"', 'diffusion.process="masked"']


def _cfg(*overrides):
    return load_config(preset="demo", overrides=[*TINY, *DP, *overrides])


@pytest.mark.parametrize(
    "overrides, message",
    [
        (["imaging.range_max=0"], "imaging.range_max 0.0 is not allowed with train.dp_epsilon > 0: the scaling's "
                                  "range must be given"),
        (['imaging.scaling="per-series-log"', "imaging.range_max=0"], "imaging.scaling 'per-series-log' is not "
                                                                      "allowed with train.dp_epsilon > 0"),
        (TOKENS, "imaging.representation 'tokens' is not allowed with train.dp_epsilon > 0: its vocabulary"),
        (["train.novelty_every=10"], "train.novelty_every 10 is not allowed with train.dp_epsilon > 0"),
        (["train.compile=true"], "train.compile True is not allowed with train.dp_epsilon > 0"),
        (['train.precision="bf16"'], "train.precision 'bf16' is not allowed with train.dp_epsilon > 0"),
        (["train.dp_delta=0.1"], "train.dp_delta must be below 1 / N = 0.05 for N = 20 training traces (got 0.1)"),
        (["train.batch_size=21"], "train.batch_size must be at most N = 20 training traces"),
        # the budget no noise meets: far more steps than a tiny epsilon allows
        (["train.dp_epsilon=0.01", "train.steps=100000", "train.batch_size=20"],
         "train.dp_epsilon 0.01 cannot be met in train.steps 100000 at train.batch_size 20 of N = 20"),
    ],
)
def test_a_private_fit_refuses_what_it_cannot_keep_in_one_line(overrides, message):
    with pytest.raises(ConfigError) as err:
        resolve_private(_cfg(*overrides), n_traces=20)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_fit_refuses_an_impossible_budget_before_training(tmp_path):
    synth = TrafficSynthesizer(_cfg("train.dp_epsilon=0.01", "train.steps=100000", "train.batch_size=12"),
                               progress=False)
    with pytest.raises(ConfigError, match=r"^train\.dp_epsilon 0\.01 cannot be met"):
        synth.fit(toy_dataset(), run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "overrides, scaling, delta",
    [
        ([], "global-log", 1 / 400),  # delta 1 / (10 N)
        (["imaging.range_min=-1500", "imaging.range_max=1500"], "global-linear", 1 / 400),  # signed: from the range
        (["train.dp_delta=1e-4"], "global-log", 1e-4),
    ],
)
def test_resolve_private_decides_without_the_data(overrides, scaling, delta):
    cfg = _cfg(*overrides, "train.checkpoint_every=5")
    out = resolve_private(cfg, n_traces=40)
    assert out.imaging.scaling == scaling and out.model.gasf_head == "patch"
    assert out.train.dp_delta == pytest.approx(delta)
    assert (out.postprocess.calibrate_totals, out.postprocess.snap_zeros, out.postprocess.snap_values) == (False,) * 3
    assert out.train.checkpoint_every == 0 and out.train.dp_noise_multiplier > 0
    assert cfg.imaging.scaling == "auto" and cfg.train.dp_noise_multiplier == 0  # the given config is left alone


def test_more_steps_or_a_smaller_epsilon_need_more_noise():
    sigma = {(eps, steps): resolve_private(_cfg(f"train.dp_epsilon={eps}", f"train.steps={steps}"),
                                           n_traces=40).train.dp_noise_multiplier
             for eps, steps in [(10, 20), (10, 80), (3, 20)]}
    assert sigma[(10, 20)] < sigma[(10, 80)] and sigma[(10, 20)] < sigma[(3, 20)]


@pytest.fixture(scope="module")
def private_runs(tmp_path_factory):
    """Two private fits whose training sets differ in one trace (the largest, given another
    class's values), and the non-private fits of the same two sets."""
    base = toy_dataset(n_per_class=10)
    other = toy_dataset(n_per_class=10)
    k = int(np.argmax(other.series.max(axis=(1, 2))))
    other.series[k] = other.series[k] * 3 + 7  # another range, another total, another zero pattern
    runs = {}
    for name, ds in (("a", base), ("b", other)):
        for dp in (True, False):
            path = tmp_path_factory.mktemp(f"{name}-{dp}")
            overrides = [*TINY, "train.steps=6", *(DP if dp else [])]
            synth = TrafficSynthesizer.from_preset("demo", overrides=overrides, progress=False)
            synth.fit(ds, run_dir=path)
            runs[name, dp] = (path, synth)
    return runs


def _saved(path):
    """What a run folder keeps besides its weights (and the wall time of its fit)."""
    model = json.loads((path / "model.json").read_text())
    model.pop("fit_seconds")
    return {"config.json": json.loads((path / "config.json").read_text()), "model.json": model,
            "metrics.jsonl": (path / "metrics.jsonl").read_text()}


def test_a_private_run_keeps_nothing_of_one_trace_outside_its_weights(private_runs):
    (a, _), (b, _) = private_runs["a", True], private_runs["b", True]
    saved_a, saved_b = _saved(a), _saved(b)
    saved_a["model.json"].pop("weights_sha256", None), saved_b["model.json"].pop("weights_sha256", None)
    assert sorted(p.name for p in a.iterdir()) == sorted(p.name for p in b.iterdir())
    assert saved_a == saved_b
    assert saved_a["model.json"]["dataset_meta"]["extra"] == {}
    assert set(saved_a["model.json"]["class_counts"].values()) == {1}
    # the same comparison has teeth: without DP the scaling, thresholds and balance read the trace
    plain_a, plain_b = _saved(private_runs["a", False][0]), _saved(private_runs["b", False][0])
    assert plain_a["model.json"]["imaging"] != plain_b["model.json"]["imaging"]


def test_the_accountants_epsilon_for_the_steps_run_is_within_the_target(private_runs):
    from opacus.accountants import RDPAccountant

    path, synth = private_runs["a", True]
    rec = synth.privacy_
    cfg = json.loads((path / "config.json").read_text())["train"]
    assert rec.steps == cfg["steps"] == 6 and rec.target_epsilon == 10
    assert 0 < rec.epsilon <= rec.target_epsilon
    logged = [json.loads(line) for line in (path / "metrics.jsonl").read_text().splitlines()]
    assert logged[-1]["step"] == 5 and logged[-1]["epsilon"] == pytest.approx(rec.epsilon, rel=1e-9)
    assert all("loss" not in line for line in logged)  # the loss reads the data
    accountant = RDPAccountant()  # recomputed from the run's record alone
    accountant.history = [(cfg["dp_noise_multiplier"], cfg["batch_size"] / 20, rec.steps)]
    assert accountant.get_epsilon(delta=cfg["dp_delta"]) == pytest.approx(rec.epsilon, abs=1e-3)
    assert cfg["dp_delta"] == pytest.approx(1 / 200)


def test_a_private_run_loads_samples_and_says_its_guarantee(private_runs):
    from netdiffus.describe import describe_run

    path, _ = private_runs["a", True]
    synth = TrafficSynthesizer.load(path, progress=False)
    fake = synth.sample(6, seed=1)
    assert fake.labels == ["a"] * 3 + ["b"] * 3 and np.isfinite(fake.series).all()
    assert fake.meta.extra["synthetic"]["privacy"] == synth.privacy_.to_json()
    assert synth.meta_.unit == "bytes" and fake.meta.extra["synthetic"]["postprocess"] == ["possible_values"]
    assert (fake.series >= 0).all() and (fake.series == np.round(fake.series)).all()  # what bytes can hold
    info = describe_run(path)["privacy"]
    assert info.startswith(f"(epsilon {synth.privacy_.epsilon:.3g}, delta 0.005) per trace; DP-SGD, clipping norm 1")
    assert describe_run(path)["class_balance"].startswith("uniform")
    assert describe_run(private_runs["a", False][0])["privacy"].startswith("none")


def test_a_private_run_refuses_to_calibrate_on_its_training_set(private_runs):
    _, synth = private_runs["a", True]
    with pytest.raises(ConfigError, match=r"^a private run \(train\.dp_epsilon > 0\) refuses the volume calibration"):
        synth.fit_totals_calibration(toy_dataset(n_per_class=10))


def test_a_private_teacher_is_not_distilled(private_runs):
    from netdiffus.distill import DistillConfig, distill

    _, synth = private_runs["a", True]
    with pytest.raises(ConfigError, match=r"^a private run \(train\.dp_epsilon > 0\) refuses distillation"):
        distill(synth, toy_dataset(n_per_class=10), cfg=DistillConfig(steps=1, teacher_steps=4))


def test_an_empty_poisson_batch_is_a_step_of_noise():
    # batch_size 1 of 12 traces: about a third of the steps draw no trace at all
    synth = TrafficSynthesizer(_cfg("train.batch_size=1", "train.steps=12"), progress=False).fit(toy_dataset())
    assert all(torch.isfinite(p).all() for p in synth.model_.parameters())
    assert synth.privacy_.epsilon <= 10


@pytest.mark.parametrize(
    "overrides, ok",
    [
        ([], True),
        (["model.attention_levels=[0, 1]"], True),  # the UNet's attention: linear layers, no nn.MultiheadAttention
        (['model.output="image"', 'diffusion.prediction="v"'], True),
        (['model.gasf_head="bin"'], True),
        (TOKENS, False),  # nn.MultiheadAttention: Opacus would need DPMultiheadAttention
    ],
)
def test_which_networks_opacus_can_train(overrides, ok):
    from opacus.validators import ModuleValidator

    cfg = load_config(preset="demo", overrides=[*TINY, *overrides])
    shape = {"vocab_sizes": [5], "length": 8} if cfg.model.network == "transformer" else {"in_channels": 1, "dims": 2}
    if cfg.model.gasf_head == "auto":
        cfg.model.gasf_head = "patch"
    net = build_network(cfg, num_classes=2, **shape)
    assert (ModuleValidator.validate(net, strict=False) == []) is ok


RECORD = {"epsilon": 9.5, "target_epsilon": 10.0, "delta": 1e-4, "max_grad_norm": 1.0, "noise_multiplier": 0.8,
          "sample_rate": 0.1, "steps": 100, "accountant": "rdp", "unit": "trace"}
MANIFEST = {"netdiffus_version": "0.1.0", "unet": {}, "classes": ["a"], "class_counts": {"a": 1}, "shape": [1, 8],
            "imaging": {}, "dataset_meta": {}, "postprocess": {}}


@pytest.mark.parametrize(
    "data, privacy",
    [
        ({**MANIFEST, "format_version": 2}, None),  # saved before privacy was recorded
        ({**MANIFEST, "format_version": 3, "privacy": None}, None),
        ({**MANIFEST, "format_version": 3, "privacy": RECORD}, PrivacyRecord(**RECORD)),
    ],
)
def test_model_json_reads_the_privacy_of_every_version(data, privacy):
    m = RunManifest.from_json(data)
    assert m.privacy == privacy
    assert RunManifest.from_json(m.to_json()) == m


@pytest.mark.parametrize(
    "privacy, message",
    [
        ({**RECORD, "epsilon": -1}, "privacy must hold finite numbers >= 0"),
        ({k: v for k, v in RECORD.items() if k != "delta"}, "privacy lacks 'delta'"),
        ("strong", "privacy must be an object or null (got 'strong')"),
    ],
)
def test_a_tampered_privacy_record_is_refused(privacy, message):
    with pytest.raises(CheckpointError, match=re.escape(f"model.json: {message}")):
        RunManifest.from_json({**MANIFEST, "format_version": 3, "privacy": privacy})


@pytest.fixture(scope="module")
def public_run(tmp_path_factory):
    """A tiny non-private run on other traces of the same kind (the "public" set)."""
    path = tmp_path_factory.mktemp("public")
    TrafficSynthesizer.from_preset("demo", overrides=[*TINY, 'model.gasf_head="patch"'], progress=False).fit(
        toy_dataset(n_per_class=10, seed=5), run_dir=path)
    return path


def test_init_from_loads_the_public_weights(public_run):
    from netdiffus.training import init_from_run

    cfg = _cfg('model.gasf_head="patch"')
    net = build_network(cfg, num_classes=2, in_channels=1, dims=2)
    init_from_run(net, public_run, classes=["a", "b"])
    saved = TrafficSynthesizer.load(public_run, progress=False).model_.state_dict()
    assert all(torch.equal(v, saved[k]) for k, v in net.state_dict().items())


@pytest.mark.parametrize(
    "overrides, classes, message",
    [
        ([], ["a", "c"], "has classes ['a', 'b'], not this dataset's ['a', 'c']"),
        (["model.base_channels=16"], ["a", "b"], "has a network with base_channels 8, not this fit's 16"),
    ],
)
def test_init_from_refuses_another_kind_of_run(public_run, overrides, classes, message):
    from netdiffus.training import init_from_run

    cfg = load_config(preset="demo", overrides=[*TINY, 'model.gasf_head="patch"', *overrides])
    net = build_network(cfg, num_classes=len(classes), in_channels=1, dims=2)
    with pytest.raises(ConfigError, match=re.escape(f"train.init_from {public_run} {message}")):
        init_from_run(net, public_run, classes=classes)


def test_a_private_fine_tuning_of_a_public_run(public_run, tmp_path):
    cfg = _cfg(f"train.init_from={json.dumps(str(public_run))}", "train.steps=4")
    synth = TrafficSynthesizer(cfg, progress=False).fit(toy_dataset(n_per_class=10), run_dir=tmp_path / "ft")
    saved = json.loads((tmp_path / "ft" / "config.json").read_text())["train"]
    assert saved["init_from"] == str(public_run) and synth.privacy_.epsilon <= 10


@pytest.mark.parametrize(
    "scaling, lo, hi, fitted",
    [
        ("global-log", 0.0, 1e5, (0.0, np.log1p(1e5))),
        ("global-linear", -1500.0, 1500.0, (-1500.0, 1500.0)),
    ],
)
def test_a_given_range_is_the_scaling_whatever_the_traces(scaling, lo, hi, fitted):
    from netdiffus.config import ImagingConfig
    from netdiffus.representation import Representation

    cfg = ImagingConfig(scaling=scaling, range_min=lo, range_max=hi)
    for ds in (toy_dataset(seed=0), toy_dataset(seed=1, length=8)):
        rep = Representation.from_config(cfg).fit(ds.series, ds.labels)
        scaler = rep.to_json()["scaler"]
        assert [*scaler["min"], *scaler["max"]] == pytest.approx(list(fitted))
        assert rep.trace_shape == (1, 8)


def test_a_given_range_is_for_the_global_scalings():
    from netdiffus.config import ImagingConfig
    from netdiffus.representation import Representation

    with pytest.raises(ConfigError, match=r"^imaging.range_max is for the global scalings \(got imaging.scaling "
                                          r"'per-series'\)"):
        Representation.from_config(ImagingConfig(scaling="per-series", range_max=10.0))
