import json

import numpy as np
import pytest
import torch

from conftest import toy_dataset
from netdiffus.errors import CheckpointError, ConfigError, DatasetError, InputError
from netdiffus.io.dataset import read_dataset, write_dataset
from netdiffus.synthesizer import TrafficSynthesizer


def _fit(overrides, **kw):
    return TrafficSynthesizer.from_preset("demo", overrides=overrides, progress=False).fit(toy_dataset(**kw))


IMAGE_V = ['model.output="image"', 'diffusion.prediction="v"']


@pytest.mark.parametrize(
    "extra",
    [
        [],  # the demo preset: valid-GASF head, x0 prediction
        IMAGE_V,
        IMAGE_V + ['imaging.representation="series"'],
        ['imaging.inversion="diagonal"', "sample.project_x0=true"],
        IMAGE_V + ["sample.project_x0=true"],
        ['model.output="image"', 'diffusion.prediction="eps"', "diffusion.learn_sigma=true",
         'sample.sampler="ddpm"'],  # the paper's objective
        ['sample.sampler="dpmpp2m"', "sample.guidance_scale=2"],
        IMAGE_V + ['imaging.scaling="per-series-log"', "imaging.gamma=0.25", "imaging.image_size=4"],
        IMAGE_V + ['imaging.scaling="per-series"', 'imaging.representation="series"'],
    ],
)
def test_fit_sample_shapes_units_and_labels(tiny_overrides, extra):
    synth = _fit(tiny_overrides + extra)
    ds = synth.sample(10, seed=3)
    assert ds.series.shape == (10, 1, 8) and ds.series.dtype == np.float32
    assert ds.labels == ["a"] * 5 + ["b"] * 5  # the training balance
    assert np.isfinite(ds.series).all() and (ds.series >= 0).all()
    assert ds.meta.unit == "bytes" and ds.meta.bin_width_s == 0.5
    assert ds.meta.extra["synthetic"]["seed"] == 3
    # no value recurs across these traces: the value snap has nothing to hold and is not listed
    assert ds.meta.extra["synthetic"]["postprocess"] == ["calibrate_totals", "snap_zeros", "possible_values"]


@pytest.mark.parametrize(
    "extra, projected",
    [
        ([], False),  # the valid-GASF head: x_0 is already a valid GASF
        (IMAGE_V, True),  # image output: projected by default
        (IMAGE_V + ["sample.project_x0=false"], False),
        (IMAGE_V + ['imaging.representation="series"'], False),  # no image to project
    ],
)
def test_project_x0_applies_to_gasf_image_outputs(tiny_overrides, monkeypatch, extra, projected):
    import netdiffus.sampling as mod

    synth = _fit(tiny_overrides + extra)
    seen = []
    real = mod.sampling_loop

    def spy_loop(process):
        def spy(*args, **kw):
            seen.append(kw["x0_transform"])
            return real(process)(*args, **kw)
        return spy

    monkeypatch.setattr(mod, "sampling_loop", spy_loop)
    synth.sample(2, seed=0)
    assert seen and all((t is not None) == projected for t in seen)


def test_reload_samples_the_same_traces(tiny_overrides, tmp_path):
    synth = _fit(tiny_overrides)
    before = synth.sample(6, seed=5, labels=["b", "a", "b", "a", "a", "b"])
    synth.save(tmp_path / "run")
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["config.json", "model.json", "model.safetensors"]
    after = TrafficSynthesizer.load(tmp_path / "run", progress=False).sample(
        6, seed=5, labels=["b", "a", "b", "a", "a", "b"]
    )
    np.testing.assert_array_equal(before.series, after.series)
    assert before.labels == after.labels


@pytest.mark.parametrize("kept", [True, False])
def test_a_set_generated_from_traces_with_lengths_carries_lengths(tiny_overrides, tmp_path, kept):
    ds = toy_dataset()
    ds.series[:, :, 5:] = 0  # every session ends after 5 bins
    if kept:
        ds.lengths = np.full(len(ds), 5)
    synth = TrafficSynthesizer.from_preset("demo", overrides=tiny_overrides, progress=False).fit(ds)
    syn = TrafficSynthesizer.load(synth.save(tmp_path / "run"), progress=False).sample(6, seed=3)
    if not kept:
        assert syn.lengths is None
        return
    active = syn.series != 0
    for trace, length in zip(active, syn.lengths, strict=True):  # data up to its length, nothing after
        assert not trace[:, length:].any() and (length == 0 or trace[:, length - 1].any())
    assert read_dataset(write_dataset(syn, tmp_path / "syn.parquet")).lengths.tolist() == syn.lengths.tolist()


def test_same_seed_same_traces_any_batch_size(tiny_overrides):
    synth = _fit(tiny_overrides)
    a = synth.sample(5, seed=1, batch_size=5)
    b = synth.sample(5, seed=1, batch_size=2)
    np.testing.assert_allclose(a.series, b.series, rtol=1e-4)
    assert not np.allclose(a.series, synth.sample(5, seed=2).series)


def test_label_forms(tiny_overrides):
    synth = _fit(tiny_overrides)
    assert synth.sample(3, labels="b").labels == ["b"] * 3
    assert synth.sample(3, labels={"a": 1, "b": 2}).labels == ["a", "b", "b"]
    with pytest.raises(ConfigError, match=r"label 'zz' is not a trained class \(classes: a, b\)"):
        synth.sample(2, labels="zz")
    with pytest.raises(ConfigError, match=r"labels must give one label per sample \(2\) \(got 3\)"):
        synth.sample(2, labels=["a", "a", "b"])


def test_training_is_seeded(tiny_overrides):
    a = _fit(tiny_overrides).sample(3, seed=0).series
    b = _fit(tiny_overrides).sample(3, seed=0).series
    np.testing.assert_array_equal(a, b)


def test_channels_last_is_a_layout_not_a_model(tiny_overrides):
    # Same seeded run in the other memory layout: the same traces up to float rounding.
    tiny = [o for o in tiny_overrides if not o.startswith("model.patch_size")] + ["model.patch_size=2"]
    a = _fit(tiny).sample(4, seed=0).series
    b = _fit(tiny + ["train.channels_last=true"]).sample(4, seed=0).series
    np.testing.assert_allclose(a, b, rtol=1e-3)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: toy_dataset(classes=("only",)).subset([0]),
         "class 'only' has 1 trace(s); each class needs at least 2"),
        (lambda: toy_dataset(n_per_class=1), "class 'a' has 1 trace(s); each class needs at least 2"),
    ],
)
def test_bad_training_sets(tiny_overrides, make, message):
    with pytest.raises(DatasetError) as exc:
        TrafficSynthesizer.from_preset("demo", overrides=tiny_overrides, progress=False).fit(make())
    assert str(exc.value).startswith(message)


def test_one_class_trains_an_unconditional_model(tiny_overrides, tmp_path):
    ds = toy_dataset(classes=("normal",))
    synth = TrafficSynthesizer.from_preset("demo", overrides=tiny_overrides, progress=False)
    synth.fit(ds, run_dir=tmp_path / "run")
    fake = TrafficSynthesizer.load(tmp_path / "run", progress=False).sample(4, seed=0)
    assert fake.labels == ["normal"] * 4 and np.isfinite(fake.series).all()


def test_nan_is_refused(tiny_overrides):
    ds = toy_dataset()
    ds.series[2, 0, 3] = np.nan
    with pytest.raises(DatasetError, match=r"training dataset has 1 NaN or infinite values \(first in trace 't2'"):
        TrafficSynthesizer.from_preset("demo", overrides=tiny_overrides, progress=False).fit(ds)


def test_unfitted_and_missing_runs(tmp_path):
    with pytest.raises(CheckpointError, match="not fitted"):
        TrafficSynthesizer(progress=False).sample(1)
    with pytest.raises(CheckpointError, match=r"run folder .*nope does not exist"):
        TrafficSynthesizer.load(tmp_path / "nope")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "config.json").write_text("{}")
    with pytest.raises(CheckpointError, match="missing model.safetensors, model.json"):
        TrafficSynthesizer.load(tmp_path / "half")


def test_multichannel(tiny_overrides):
    ds = toy_dataset()
    ds2 = type(ds)(series=np.concatenate([ds.series, ds.series * 0.1], axis=1), labels=ds.labels, ids=ds.ids,
                   sources=ds.sources)
    out = TrafficSynthesizer.from_preset("demo", overrides=tiny_overrides, progress=False).fit(ds2).sample(4)
    assert out.series.shape == (4, 2, 8)


def test_torch_threads_untouched_by_default(tiny_overrides):
    before = torch.get_num_threads()
    _fit(tiny_overrides)
    assert torch.get_num_threads() == before


def test_generated_values_below_threshold_snap_to_zero(tiny_overrides):
    ds = toy_dataset()
    ds.series[:, :, :2] = 0.0  # the first bins carry no traffic
    synth = TrafficSynthesizer.from_preset("demo", overrides=tiny_overrides, progress=False).fit(ds)
    out = synth.sample(20, seed=0).series
    thr = synth.postprocess_.zero_snap.thresholds[0]
    assert thr > 0
    assert not ((out > 0) & (out < thr)).any()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        # None means "the config's value"; anything given is checked like the config's sample section
        (dict(steps=0), "sample.steps must be in [1, diffusion.timesteps=1000] (got 0)"),
        (dict(steps=1001), "sample.steps must be in [1, diffusion.timesteps=1000] (got 1001)"),
        (dict(batch_size=0), "sample.batch_size must be in [1, 65536] (got 0)"),
        (dict(guidance_scale=-1.0), "sample.guidance_scale must be >= 0 (got -1.0)"),
        (dict(eta=-0.5), "sample.eta must be >= 0 (got -0.5)"),
        (dict(sampler="euler"),
         "sample.sampler must be one of ddim, ddpm, dpmpp2m, distilled, consistency (got 'euler')"),
        # values of the wrong type from Python code (the CLI parses its own)
        (dict(steps="50"), "sample.steps must be int (got '50')"),
        (dict(steps=2.5), "sample.steps must be int (got 2.5)"),
        (dict(batch_size=True), "sample.batch_size must be int (got True)"),
        (dict(guidance_scale="2"), "sample.guidance_scale must be float (got '2')"),
    ],
)
def test_sample_overrides_follow_the_config_rules(tiny_overrides, kwargs, message):
    synth = _fit(tiny_overrides)
    with pytest.raises(ConfigError) as exc:
        synth.sample(2, **kwargs)
    assert str(exc.value) == message


def _no_cuda_build(mp):
    mp.setattr(torch.version, "cuda", None)
    mp.setattr(torch.version, "hip", None)


def _gpus(k):
    def patch(mp):
        mp.setattr(torch.version, "cuda", "12.4")
        mp.setattr(torch.cuda, "device_count", lambda: k)
    return patch


@pytest.mark.parametrize(
    "device, patch, message",
    [
        ("bogus", None, "device 'bogus' is not a torch device (cpu, cuda, cuda:N, mps)"),
        ("cuda:x", None, "device 'cuda:x' is not a torch device (cpu, cuda, cuda:N, mps)"),
        ("", None, "device '' is not a torch device (cpu, cuda, cuda:N, mps)"),
        ("meta", None, "device 'meta' is not supported (cpu, cuda, cuda:N, mps)"),
        ("cuda", _no_cuda_build, "device 'cuda' is not available (this torch has no CUDA)"),
        ("cuda", _gpus(0), "device 'cuda' is not available (no CUDA GPU is visible)"),
        ("cuda:2", _gpus(2), "device 'cuda:2' is not available (CUDA devices: 0, 1)"),
    ],
)
def test_bad_devices(monkeypatch, tmp_path, device, patch, message):
    from netdiffus.distributed import resolve_device

    if patch is not None:
        patch(monkeypatch)
    with pytest.raises(ConfigError) as exc:
        resolve_device(device)
    assert str(exc.value) == message
    # the constructor and load() go through it; load() before reading the (missing) run folder
    with pytest.raises(ConfigError, match=r"^device "):
        TrafficSynthesizer(device=device, progress=False)
    with pytest.raises(ConfigError, match=r"^device "):
        TrafficSynthesizer.load(tmp_path / "nope", device=device)


def test_a_file_is_not_a_run_folder(tmp_path):
    f = tmp_path / "data.parquet"
    f.write_bytes(b"PAR1")
    with pytest.raises(CheckpointError) as exc:
        TrafficSynthesizer.load(f)
    assert str(exc.value) == f"{f} is a file, not a run folder (made by 'netdiffus fit')"


def test_fit_validates_a_config_changed_after_construction(tiny_overrides, tmp_path):
    synth = TrafficSynthesizer.from_preset("demo", overrides=tiny_overrides, progress=False)
    synth.config.train.log_every = 0
    with pytest.raises(ConfigError) as exc:
        synth.fit(toy_dataset(), run_dir=tmp_path / "run")
    assert str(exc.value) == "train.log_every must be >= 1 (got 0)"
    assert not (tmp_path / "run").exists()  # refused before any file is written


@pytest.fixture(scope="module")
def fitted():
    from conftest import TINY

    return _fit(TINY)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        # trace k uses seed * 1_000_003 + k: only seeds numpy and torch both take
        (dict(seed=-1), "seed must be an integer from 0 to 2**32 - 1 (got -1)"),
        (dict(seed=1.5), "seed must be an integer from 0 to 2**32 - 1 (got 1.5)"),
        (dict(seed=True), "seed must be an integer from 0 to 2**32 - 1 (got True)"),
        (dict(seed=2**32), "seed must be an integer from 0 to 2**32 - 1 (got 4294967296)"),
        (dict(seed=99999999999999999999999),
         "seed must be an integer from 0 to 2**32 - 1 (got 99999999999999999999999)"),
        # label counts: the bad count is named, not the total it leads to
        (dict(labels={"a": -1, "b": 3}), "labels['a'] must be a count >= 0 (got -1)"),
        (dict(labels={"a": 1, "b": 0.5}), "labels['b'] must be a count >= 0 (got 0.5)"),
    ],
)
def test_sample_argument_errors(fitted, kwargs, message):
    with pytest.raises(ConfigError) as exc:
        fitted.sample(2, **kwargs)
    assert str(exc.value) == message


def test_largest_seed_samples(fitted):
    out = fitted.sample(2, seed=np.uint32(2**32 - 1), labels={"a": 0, "b": 2})
    assert out.labels == ["b", "b"] and out.meta.extra["synthetic"]["seed"] == 2**32 - 1


def _set_in_config(section, key, value):
    def edit(text):
        import json

        data = json.loads(text)
        data[section][key] = value
        return json.dumps(data).encode()
    return edit


@pytest.mark.parametrize(
    "file, edit, message",
    [
        ("model.safetensors", lambda t: b"\0" * 50, "{run}/model.safetensors is not a readable safetensors file ("),
        ("model.safetensors", lambda t: b"", "{run}/model.safetensors is not a readable safetensors file ("),
        ("config.json", lambda t: b"{", ("{run}/config.json is not a readable JSON file (Expecting property "
                                         "name enclosed in double quotes: line 1 column 2 (char 1))")),
        ("model.json", lambda t: b"[]", "{run}/model.json must hold a JSON object (got list)"),
        # values this version refuses (written by hand, or by a version that accepted them)
        ("config.json", _set_in_config("train", "seed", -1),
         "{run}/config.json: train.seed must be an integer from 0 to 2**32 - 1 (got -1)"),
        ("config.json", _set_in_config("train", "colour", 1),
         "{run}/config.json: unknown configuration key 'train.colour' (known: "),
    ],
)
def test_corrupt_run_files_are_checkpoint_errors(fitted, tmp_path, file, edit, message):
    run = fitted.save(tmp_path / "run")
    (run / file).write_bytes(edit((run / file).read_bytes()))
    with pytest.raises(CheckpointError) as exc:
        TrafficSynthesizer.load(run, progress=False)
    msg, expected = str(exc.value), message.format(run=run)
    assert "\n" not in msg
    if expected.endswith("("):  # the safetensors library's own reason follows
        assert msg.startswith(expected) and msg.endswith(")")
    elif expected.endswith("(known: "):
        assert msg.startswith(expected)
    else:
        assert msg == expected


@pytest.mark.parametrize(
    "extra, use_run_dir, message",
    [
        ([], True, ("training diverged at step 2 (loss nan); lower train.lr (got 0.002); "
                    "the logged losses are in {run}/metrics.jsonl")),
        (["train.lr=0.5"], False, "training diverged at step 2 (loss nan); lower train.lr (got 0.5)"),
    ],
)
def test_divergence_is_a_config_error(tiny_overrides, tmp_path, monkeypatch, extra, use_run_dir, message):
    import json

    from netdiffus.diffusion.process import GaussianDiffusion

    calls = []
    real = GaussianDiffusion.training_loss

    def loss(self, *args, **kw):  # finite for steps 0 and 1, then NaN
        calls.append(1)
        out = real(self, *args, **kw)
        return out * float("nan") if len(calls) > 2 else out

    monkeypatch.setattr(GaussianDiffusion, "training_loss", loss)
    run = tmp_path / "run"
    synth = TrafficSynthesizer.from_preset("demo", overrides=tiny_overrides + ["train.steps=5", "train.log_every=10"]
                                           + extra, progress=False)
    with pytest.raises(ConfigError) as exc:
        synth.fit(toy_dataset(), run_dir=run if use_run_dir else None)
    assert str(exc.value) == message.format(run=run)
    if use_run_dir:  # kept, and its last line shows the divergence
        rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
        assert [r["step"] for r in rows] == [0, 2] and np.isnan(rows[-1]["loss"])
        assert not (run / "model.safetensors").exists()


@pytest.mark.parametrize("n", [0, 2.5, "10", None, True])
def test_sample_n_must_be_a_positive_integer(tiny_overrides, n):
    synth = _fit(tiny_overrides)
    with pytest.raises(ConfigError) as exc:
        synth.sample(n)
    assert str(exc.value) == f"n must be an integer >= 1 (got {n!r})"


def test_fit_wants_a_dataset_not_a_path(tiny_overrides):
    synth = TrafficSynthesizer.from_preset("demo", overrides=tiny_overrides, progress=False)
    with pytest.raises(InputError) as exc:
        synth.fit("train.parquet")
    assert str(exc.value) == ("dataset must be a TraceDataset (got str 'train.parquet'); "
                              "read a file with read_dataset(path)")


def _discrete_dataset():
    """Toy traces whose bins hold recurring byte counts (0, 120, 180 or 250)."""
    ds = toy_dataset()
    rng = np.random.default_rng(1)
    ds.series = rng.choice([0.0, 120.0, 180.0, 250.0], size=ds.series.shape).astype(np.float32)
    return ds


def test_generated_values_snap_to_shared_training_values(tiny_overrides, tmp_path):
    ds = _discrete_dataset()
    steps = [o for o in tiny_overrides if not o.startswith("train.steps")] + ["train.steps=60"]  # some spread
    steps += ["postprocess.calibrate_totals=false", "postprocess.possible_values=false"]  # the value snap alone
    synth = TrafficSynthesizer.from_preset("demo", overrides=steps, progress=False).fit(ds)
    lex = synth.postprocess_.value_lexicon
    assert [v.tolist() for v in lex.values["a"]] == [[120.0, 180.0, 250.0]]
    out = synth.sample(20, seed=0).series.astype(np.float64)
    synth.config.postprocess.snap_values = False
    off = synth.sample(20, seed=0).series.astype(np.float64)
    synth.config.postprocess.snap_values = True
    # the same model and seeds: snapping changes only values near a shared one, to that value
    near = np.abs(np.log1p(off[..., None]) - np.log1p(lex.values["a"][0])).min(axis=-1) <= lex.tolerance
    assert 0 < near.mean() < 1 and not np.isin(off[near], lex.values["a"][0]).any()
    np.testing.assert_array_equal(out[~near], off[~near].astype(np.float32))
    assert np.isin(out[near & (off > 0)], lex.values["a"][0]).all()
    # the run folder keeps the lexicon; a folder without one (an earlier version's) loads without it
    synth.save(tmp_path / "run")
    back = TrafficSynthesizer.load(tmp_path / "run", progress=False)
    np.testing.assert_array_equal(back.sample(20, seed=0).series, synth.sample(20, seed=0).series)
    info = json.loads((tmp_path / "run" / "model.json").read_text())
    del info["postprocess"]["value_lexicon"]
    (tmp_path / "run" / "model.json").write_text(json.dumps(info))
    old = TrafficSynthesizer.load(tmp_path / "run", progress=False)
    assert old.postprocess_.value_lexicon is None
    np.testing.assert_array_equal(old.sample(20, seed=0).series, off.astype(np.float32))


def test_fit_calibrates_generated_volumes_to_the_training_spread(tiny_overrides, tmp_path):
    from netdiffus.postprocess import CALIBRATION_DRAW, CALIBRATION_SEED, TotalsCalibration, log_volume

    ds = toy_dataset(n_per_class=40)
    over = tiny_overrides + ["postprocess.snap_zeros=false", "postprocess.snap_values=false"]  # the calibration alone
    synth = TrafficSynthesizer.from_preset("demo", overrides=over, progress=False).fit(ds)
    cal = synth.postprocess_.totals_calibration
    assert set(cal.classes) == {"a", "b"} and CALIBRATION_DRAW == (32, 512)
    # the reference draw itself (80 per class), calibrated: the training median and the training
    # quantiles, drawn towards the median where this tiny model's spread needs more than MAX_STRETCH
    ref = synth.sample(160, labels={"a": 80, "b": 80}, seed=CALIBRATION_SEED)
    v_ref, v_train = log_volume(ref.series), log_volume(ds.series)
    labels, train_labels = np.asarray(ref.labels), np.asarray(ds.labels)
    for c in ("a", "b"):
        g_q, t_q = cal.classes[c]
        assert len(g_q) == len(TotalsCalibration.LEVELS)  # no ties here
        np.testing.assert_allclose(np.quantile(v_ref[labels == c], TotalsCalibration.LEVELS), t_q, atol=0.05)
        assert np.median(v_ref[labels == c]) == pytest.approx(np.median(v_train[train_labels == c]), abs=0.05)
        q_train = np.quantile(v_train[train_labels == c], TotalsCalibration.LEVELS)
        assert cal.stretch(c) == pytest.approx(min(TotalsCalibration.MAX_STRETCH, np.ptp(q_train) / np.ptp(g_q)))
        assert np.abs(g_q - q_train).max() > 0.5  # the raw draw's volumes were elsewhere
    # off: the same traces, each by one factor
    synth.config.postprocess.calibrate_totals = False
    raw = synth.sample(10, seed=3).series.astype(np.float64)
    synth.config.postprocess.calibrate_totals = True
    np.testing.assert_array_equal(synth.sample(10, seed=3, raw=True).series, raw)  # snaps are off here
    on = synth.sample(10, seed=3).series.astype(np.float64)
    factor = on.sum(axis=(1, 2)) / raw.sum(axis=(1, 2))
    np.testing.assert_allclose(on, raw * factor[:, None, None], rtol=1e-5)
    # model.json keeps it; a run folder without it (an earlier version's) samples uncalibrated
    synth.save(tmp_path / "run")
    back = TrafficSynthesizer.load(tmp_path / "run", progress=False)
    assert back.postprocess_.totals_calibration == cal
    info = json.loads((tmp_path / "run" / "model.json").read_text())
    del info["postprocess"]["totals_calibration"]
    (tmp_path / "run" / "model.json").write_text(json.dumps(info))
    old = TrafficSynthesizer.load(tmp_path / "run", progress=False)
    assert old.postprocess_.totals_calibration is None
    np.testing.assert_allclose(old.sample(10, seed=3).series, raw, rtol=1e-6)


@pytest.mark.parametrize("snap_values, calibrated", [(True, set()), (False, {"a", "b"})])
def test_classes_held_by_the_value_snap_are_not_calibrated(tiny_overrides, caplog, snap_values, calibrated):
    ds = _discrete_dataset()  # every class's bytes recur across traces: the value snap holds them
    over = tiny_overrides + [f"postprocess.snap_values={str(snap_values).lower()}"]
    with caplog.at_level("INFO", logger="netdiffus.postprocess"):
        synth = TrafficSynthesizer.from_preset("demo", overrides=over, progress=False).fit(ds)
    assert set(synth.postprocess_.totals_calibration.classes) == calibrated
    applied = synth.sample(4, seed=0).meta.extra["synthetic"]["postprocess"]
    assert ("snap_values" in applied) == snap_values  # values recur here: the snap holds them
    line = next(r.getMessage() for r in caplog.records if r.getMessage().startswith("volume calibration"))
    if snap_values:
        assert line == ("volume calibration: no class to calibrate (2 class(es) held by the value snap left "
                        "as generated)")
    else:
        assert line.startswith("volume calibration from ") and "held by the value snap" not in line


def test_fit_without_calibration_draws_no_reference(tiny_overrides):
    synth = TrafficSynthesizer.from_preset("demo", overrides=tiny_overrides + ["postprocess.calibrate_totals=false"],
                                           progress=False).fit(toy_dataset())
    assert synth.postprocess_.totals_calibration is None


@pytest.mark.parametrize(
    "extra, warned",
    [
        (["model.patch_size=2", 'model.gasf_head="patch"'], True),  # the patch head, set explicitly
        (["model.patch_size=2", 'model.gasf_head="bin"'], False),    # the per-bin head
        (["model.patch_size=2"], False),                              # auto (the default): per-bin here
    ],
)
def test_fit_advises_the_per_bin_head_for_sparse_series(tiny_overrides, caplog, extra, warned):
    ds = toy_dataset()
    ds.series[:, :, 2:] = 0.0  # 6 of 8 bins empty
    with caplog.at_level("WARNING", logger="netdiffus.resolve"):
        TrafficSynthesizer.from_preset("demo", overrides=tiny_overrides + extra, progress=False).fit(ds)
    messages = [r.getMessage() for r in caplog.records]
    assert messages == (["75 % of the training bins are empty: the patch GASF head blurs bursts one bin wide; "
                         "sparse series fit better with the per-bin head (--set model.gasf_head=bin, or "
                         "auto, the default; docs/model.md)"] if warned else [])


@pytest.mark.parametrize("shift, scaling", [(0.0, "global-log"), (-3000.0, "global-linear")])
def test_auto_scaling_follows_the_sign_of_the_values(tiny_overrides, tmp_path, shift, scaling):
    ds = toy_dataset()
    ds.series[:] += shift  # signed series (packet sizes by direction) cannot take a log scaling
    synth = TrafficSynthesizer.from_preset("demo", overrides=tiny_overrides, progress=False)
    assert synth.config.imaging.scaling == "auto"
    synth.fit(ds, run_dir=tmp_path / "run")
    assert synth.config.imaging.scaling == synth.representation_.gaf.scaling == scaling
    assert json.loads((tmp_path / "run" / "config.json").read_text())["imaging"]["scaling"] == scaling
    assert np.isfinite(TrafficSynthesizer.load(tmp_path / "run").sample(4, seed=0).series).all()


@pytest.mark.parametrize("empty_bins, head", [(2, "patch"), (6, "bin")])  # of 8 bins
def test_auto_gasf_head_follows_the_share_of_empty_bins(tiny_overrides, tmp_path, empty_bins, head):
    ds = toy_dataset()
    ds.series[:, :, 8 - empty_bins:] = 0.0
    over = tiny_overrides + ["train.checkpoint_every=1"]  # a training state to resume from
    synth = TrafficSynthesizer.from_preset("demo", overrides=over, progress=False)
    assert synth.config.model.gasf_head == "auto"
    synth.fit(ds, run_dir=tmp_path / "run")
    assert synth.config.model.gasf_head == head and synth.model_.config["gasf_head"] == head
    assert json.loads((tmp_path / "run" / "config.json").read_text())["model"]["gasf_head"] == head
    # resuming the finished run with the preset's "auto" decides the same way: no config mismatch
    TrafficSynthesizer.from_preset("demo", overrides=over, progress=False).fit(
        ds, run_dir=tmp_path / "run", resume=True)


@pytest.mark.parametrize(
    "n, c, size, memory, message",
    [
        (442, 1, 60, 24 * 2**30, None),  # B1: 19 MB
        (442, 1, 3600, 24 * 2**30, "the GASF images of 442 traces (1 x 3600 x 3600 each) need 64.0 GiB, over half of "
                                   "this machine's 24 GiB; shrink them with imaging.image_size (PAA), e.g. --set "
                                   "imaging.image_size=64"),
        (100, 2, 1024, 4 * 2**30, "the GASF images of 100 traces (2 x 1024 x 1024 each) need 2.3 GiB, over half of "
                                  "this machine's 4 GiB; shrink them with imaging.image_size (PAA), e.g. --set "
                                  "imaging.image_size=64"),
    ],
)
def test_images_that_do_not_fit_in_memory_are_one_line(n, c, size, memory, message):
    from netdiffus.representation import check_image_memory as _check_image_memory

    if message is None:
        _check_image_memory(n, c, size, memory_bytes=memory)
        return
    with pytest.raises(ConfigError) as exc:
        _check_image_memory(n, c, size, memory_bytes=memory)
    assert str(exc.value) == message
