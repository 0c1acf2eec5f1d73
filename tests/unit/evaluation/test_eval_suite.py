"""evaluate(), EvaluationResult, write_report() and the `netdiffus evaluate` command."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from netdiffus.cli.main import main
from netdiffus.errors import ConfigError, DatasetError
from netdiffus.evaluation import EvaluationResult, evaluate, write_report
from netdiffus.io.dataset import DatasetMeta, TraceDataset, write_dataset

CLASSES = ("Facebook/V360", "YouTube/VNormal", "x")


def make(n_per_class: int, seed: int, *, t: int = 24, c: int = 1) -> TraceDataset:
    rng = np.random.default_rng(seed)
    xs, labels = [], []
    for k, name in enumerate(CLASSES):
        xs.append(rng.lognormal(4 + 2 * k, 0.5, (n_per_class, c, t)))
        labels += [name] * n_per_class
    n = len(labels)
    return TraceDataset(
        series=np.concatenate(xs),
        labels=labels,
        ids=[f"{seed}-{i}" for i in range(n)],
        sources=["test"] * n,
        meta=DatasetMeta(feature="bytes", unit="bytes", bin_width_s=2.0, channels=[f"c{i}" for i in range(c)]),
    )


def test_identical_sets_give_zero_fidelity_per_class_and_overall():
    real = make(10, 0)
    r = evaluate(real, real, metrics=["fidelity"])
    assert set(r.per_class) == set(CLASSES)
    for key in ("W1_values", "W1_totals", "JSD", "ACF"):
        assert r.overall[key] == 0.0
        assert all(r.per_class[c][key] == 0.0 for c in CLASSES)
    assert r.per_class["x"]["n_real"] == 10.0


def test_full_default_evaluation_keys_and_json_roundtrip():
    real, test, syn = make(12, 0), make(6, 1), make(24, 2)
    r = evaluate(real, syn, real_test=test, n_estimators=10)
    for key in ("W1_values", "W1_totals", "JSD", "ACF", "discriminative", "TRTR_acc", "TSTR_acc",
                "TRSTR_acc", "TRTR_f1", "TSTR_f1", "TRSTR_f1", "DCR_ratio", "MIA_AUC"):  # fmt: skip
        assert math.isfinite(r.overall[key]), key
    assert r.overall["TSTR_acc"] == 1.0
    back = EvaluationResult.from_dict(json.loads(r.to_json()))
    assert back.overall == r.overall and back.per_class == r.per_class and back.curve == r.curve
    assert "mode_coverage" not in r.overall  # volumes: each trace a pattern of its own
    assert r.curve is not None and r.curve.per_class == [5, 10, 12] and r.curve.n_real == [15, 30, 36]


@pytest.mark.parametrize(
    "syn_rows, coverage, impossible, length_w1",
    [
        ([[60, 342, 0, 0], [60, 590, 90, 0]], 1.0, 0.0, 0.0),  # both patterns, in proportion
        ([[60, 342, 0, 0], [60, 342, 0, 0]], 0.5, 0.0, 0.5),  # one pattern of two: half the mass
        ([[12, 342, 0, 0], [60, 590, 90.5, 0]], 0.5, 2 / 5, 0.0),  # 12 < 60, 90.5 not whole (rounds to 90)
    ],
)
def test_discrete_metrics_per_class(syn_rows, coverage, impossible, length_w1):
    real_rows = [[60, 342, 0, 0], [60, 342, 0, 0], [60, 590, 90, 0], [60, 590, 90, 0]]

    def ds(rows):
        x = np.asarray(rows, dtype=np.float32)[:, None, :]
        return TraceDataset(series=x, labels=["a"] * len(x), ids=[str(i) for i in range(len(x))], sources=[""] * len(x))

    r = evaluate(ds(real_rows), ds(syn_rows), metrics=["fidelity"])
    assert r.per_class["a"]["mode_coverage"] == pytest.approx(coverage)
    assert r.overall["impossible"] == pytest.approx(impossible)
    assert r.per_class["a"]["length_W1"] == pytest.approx(length_w1)


def test_evaluate_is_seeded():
    real, test, syn = make(12, 0), make(6, 1), make(24, 2)
    a = evaluate(real, syn, real_test=test, n_estimators=10, seed=3)
    b = evaluate(real, syn, real_test=test, n_estimators=10, seed=3)
    assert a.overall == b.overall
    assert a.reference == b.reference and a.reference_per_class == b.reference_per_class


def test_forest_repeats_average_the_single_seed_forests():
    # Noisy classes so that the forests disagree between seeds.
    real, test, syn = make(12, 0), make(6, 1), make(24, 2)
    for ds in (real, test, syn):
        ds.series[:] = np.random.default_rng(len(ds.ids)).permutation(ds.series)
    kw = {"real_test": test, "n_estimators": 5, "metrics": ["discriminative", "rf"]}
    singles = [evaluate(real, syn, seed=s, **kw).overall for s in (4, 5, 6)]
    r = evaluate(real, syn, seed=4, forest_repeats=3, **kw)
    assert r.info["forest_repeats"] == 3
    for key in ("discriminative", "TRTR_acc", "TSTR_acc", "TRSTR_acc", "TRSTR_f1"):
        values = [o[key] for o in singles]
        assert r.overall[key] == pytest.approx(np.mean(values)), key
        assert r.overall[f"{key}_sd"] == pytest.approx(np.std(values)), key
    assert any(r.overall[f"{k}_sd"] > 0 for k in ("discriminative", "TRTR_acc", "TSTR_acc", "TRSTR_acc"))
    assert not any(k.endswith("_sd") for k in singles[0])


def test_without_test_set_utility_and_privacy_are_skipped():
    r = evaluate(make(10, 0), make(10, 1), n_estimators=10)
    assert "TSTR_acc" not in r.overall and "DCR_ratio" not in r.overall
    assert "discriminative" in r.overall


@pytest.mark.parametrize(
    "change, warning",
    [
        ({}, None),
        ({"channels": ["ch0", "ch1"]}, None),  # unnamed channels (the default names): nothing to compare
        ({"channels": ["c1", "c0"]},
         "synthetic channels ['c1', 'c0'] differ from the real ones ['c0', 'c1']: channels are compared by position"),
        ({"bin_width_s": 0.5}, "synthetic bin width 0.5 s differs from the real one, 2 s"),
        ({"bin_width_s": None}, None),
    ],
)  # fmt: skip
def test_same_shape_other_meaning_is_warned(caplog, change, warning):
    real, syn = make(6, 0, c=2), make(6, 1, c=2)
    for key, value in change.items():
        setattr(syn.meta, key, value)
    with caplog.at_level("WARNING", logger="netdiffus.evaluation.suite"):
        evaluate(real, syn, metrics=["fidelity"])
    assert [m.getMessage() for m in caplog.records if m.levelname == "WARNING"] == ([warning] if warning else [])


@pytest.mark.parametrize(
    "kept, missing, warning",
    [
        (["Facebook/V360", "YouTube/VNormal"], ["x"],
         "synthetic set lacks 1 of 3 real classes (x): their per-class metrics are NaN and the overall means "
         "cover the other classes"),
        (["YouTube/VNormal"], ["Facebook/V360", "x"],
         "synthetic set lacks 2 of 3 real classes (Facebook/V360, x): their per-class metrics are NaN and the "
         "overall means cover the other classes"),
    ],
)  # fmt: skip
def test_missing_class_is_nan_listed_and_warned(caplog, kept, missing, warning):
    real, syn = make(10, 0), make(10, 1)
    syn = syn.subset(np.flatnonzero(np.isin(syn.label_array(), kept)))
    with caplog.at_level("WARNING", logger="netdiffus.evaluation.suite"):
        r = evaluate(real, syn, metrics=["fidelity"])
    assert [m.getMessage() for m in caplog.records if m.levelname == "WARNING"] == [warning]
    for c in missing:
        assert math.isnan(r.per_class[c]["W1_values"])
        assert json.loads(r.to_json())["per_class"][c]["W1_values"] is None
    assert r.info["classes_missing_in_synthetic"] == missing
    assert math.isfinite(r.overall["W1_values"])
    assert r.overall["W1_values"] == pytest.approx(np.mean([r.per_class[c]["W1_values"] for c in kept]))


def test_multichannel_series():
    real, test, syn = make(8, 0, c=2), make(4, 1, c=2), make(16, 2, c=2)
    r = evaluate(real, syn, real_test=test, n_estimators=5)
    assert math.isfinite(r.overall["W1_values"]) and math.isfinite(r.overall["DCR_ratio"])


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"metrics": ["nope"]}, ConfigError,
         "metrics must be 'default', 'all' or a list of fidelity, discriminative, rf, privacy, curve, cnn "
         "(got 'nope')"),
        ({"n_estimators": 0}, ConfigError, "n_estimators must be >= 1 (got 0)"),
        ({"forest_repeats": 0}, ConfigError, "forest_repeats must be >= 1 (got 0)"),
        ({"forest_repeats": 2.5}, ConfigError, "forest_repeats must be int (got 2.5)"),
        ({"n_estimators": 2.5}, ConfigError, "n_estimators must be int (got 2.5)"),
        ({"cnn_epochs": 0}, ConfigError, "cnn_epochs must be >= 1 (got 0)"),
        ({"cnn_epochs": -1, "metrics": ["cnn"]}, ConfigError, "cnn_epochs must be >= 1 (got -1)"),
        ({"cnn_epochs": 1.5}, ConfigError, "cnn_epochs must be int (got 1.5)"),
        ({"metrics": []}, ConfigError,
         "metrics must name at least one of fidelity, discriminative, rf, privacy, curve, cnn (got [])"),
        ({"seed": -1}, ConfigError, "seed must be an integer from 0 to 2**32 - 1 (got -1)"),
        ({"seed": 1.5}, ConfigError, "seed must be an integer from 0 to 2**32 - 1 (got 1.5)"),
        ({"seed": 2**32}, ConfigError, "seed must be an integer from 0 to 2**32 - 1 (got 4294967296)"),
        ({"seed": 2**32 - 1, "forest_repeats": 2}, ConfigError,
         "seed + forest_repeats - 1 must be <= 2**32 - 1 (got seed=4294967295, forest_repeats=2)"),
    ],
)  # fmt: skip
def test_option_errors(kwargs, error, message):
    with pytest.raises(error) as exc:
        evaluate(make(5, 0), make(5, 1), **kwargs)
    assert str(exc.value) == message


def test_largest_seed_is_accepted():
    r = evaluate(make(5, 0), make(5, 1), seed=np.int64(2**32 - 1), n_estimators=2, metrics=["discriminative"])
    assert r.info["seed"] == 2**32 - 1 and math.isfinite(r.overall["discriminative"])


def test_shape_mismatch_and_disjoint_classes():
    with pytest.raises(DatasetError) as exc:
        evaluate(make(5, 0), make(5, 1, t=12))
    assert str(exc.value) == "synthetic traces must have the real traces' shape [C, T] = [1, 24] (got [1, 12])"
    other = make(5, 1)
    other.labels = ["zz"] * other.n_traces
    with pytest.raises(DatasetError) as exc:
        evaluate(make(5, 0), other)
    assert str(exc.value) == "synthetic set has none of the real classes (Facebook/V360, YouTube/VNormal, x)"


def test_cnn_metrics_small():
    real, test, syn = make(8, 0, t=12), make(4, 1, t=12), make(8, 2, t=12)
    r = evaluate(real, syn, real_test=test, metrics=["cnn"], cnn_epochs=1)
    for key in ("CNN_TRTR_acc", "CNN_TSTR_acc", "CNN_TRSTR_acc", "FD"):
        assert math.isfinite(r.overall[key]), key
    assert r.info["cnn"]["epochs"] == 1


def test_frechet_distance_identical_is_zero():
    from netdiffus.evaluation.cnn import frechet_distance

    a = np.random.default_rng(0).normal(size=(200, 4))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(a, a + 2.0) == pytest.approx(16.0, rel=1e-6)


def test_write_report_is_self_contained(tmp_path):
    real, test, syn = make(6, 0), make(4, 1), make(12, 2)
    r = evaluate(real, syn, real_test=test, n_estimators=5)
    base = evaluate(real, test, real_test=test, n_estimators=5)
    path = write_report(r, real, syn, tmp_path / "out", title="t<1>", extra_info={"k": "v"},
                        baselines={"real-holdout": base})  # fmt: skip
    text = path.read_text()
    assert path.name == "report.html"
    assert text.count("data:image/png;base64,") == 7  # six plots and the accuracy curve
    assert "Accuracy against the number of real training traces" in text
    assert "t&lt;1&gt;" in text and "real-holdout" in text and "YouTube/VNormal" in text
    assert "http://" not in text and "https://" not in text and "<script" not in text
    data = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert data["overall"]["W1_values"] == pytest.approx(r.overall["W1_values"])
    assert data["extra_info"] == {"k": "v"} and "real-holdout" in data["baselines"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["metrics.json", "report.html"]


def test_cli_evaluate(tmp_path, capsys):
    paths = {}
    for name, ds in (("real", make(6, 0)), ("test", make(4, 1)), ("syn", make(12, 2))):
        paths[name] = write_dataset(ds, tmp_path / f"{name}.parquet")
    rc = main(["-q", "evaluate", "--real", str(paths["real"]), "--real-test", str(paths["test"]),
               "--synthetic", str(paths["syn"]), "-o", str(tmp_path / "eval"), "--fast",
               "--metrics", "fidelity,rf,privacy", "--forest-repeats", "2"])  # fmt: skip
    out = capsys.readouterr().out
    assert rc == 0
    assert "W1_values" in out and "DCR_ratio" in out and "report:" in out
    assert (tmp_path / "eval" / "report.html").exists()
    saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert saved["info"]["forest_repeats"] == 2 and "TRSTR_acc_sd" in saved["overall"]
    assert "accuracy_curve" not in saved  # not asked for


def test_cli_evaluate_reports_accuracy_against_real_traces(tmp_path, capsys):
    paths = {}
    for name, ds in (("real", make(6, 0)), ("test", make(4, 1)), ("syn", make(12, 2))):
        paths[name] = write_dataset(ds, tmp_path / f"{name}.parquet")
    rc = main(["-q", "evaluate", "--real", str(paths["real"]), "--real-test", str(paths["test"]),
               "--synthetic", str(paths["syn"]), "-o", str(tmp_path / "eval"), "--fast", "--metrics", "curve"])
    out = capsys.readouterr().out.splitlines()
    assert rc == 0
    head = next(i for i, line in enumerate(out) if line.startswith("accuracy against real training traces"))
    assert out[head].endswith("synthetic only 1.000):")  # the classes are far apart: every forest is right
    assert out[head + 1 : head + 3] == ["      5 (15): 1.000 / 1.000", "      6 (18): 1.000 / 1.000"]
    saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert saved["accuracy_curve"]["n_real"] == [15, 18] and saved["accuracy_curve"]["repeats"] == 3


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--metrics", "bogus"],
         "error: metrics must be 'default', 'all' or a list of fidelity, discriminative, rf, privacy, curve, cnn "
         "(got 'bogus')"),
        (["--metrics", " , "], "error: --metrics must name at least one metric group (got ',')"),
    ],
)  # fmt: skip
def test_cli_evaluate_errors(tmp_path, capsys, extra, message):
    p = write_dataset(make(5, 0), tmp_path / "r.parquet")
    rc = main(["-q", "evaluate", "--real", str(p), "--synthetic", str(p), "-o", str(tmp_path / "o"), *extra])
    assert rc == 1
    assert capsys.readouterr().err.strip() == message
    assert not (tmp_path / "o" / "report.html").exists()


def test_cli_evaluate_missing_file(tmp_path, capsys):
    rc = main(["-q", "evaluate", "--real", str(tmp_path / "no.parquet"), "--synthetic", "x", "-o", str(tmp_path)])
    assert rc == 1
    assert capsys.readouterr().err.strip() == f"error: dataset file {tmp_path / 'no.parquet'} does not exist"


def test_cli_help_has_example(capsys):
    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    assert "example:" in capsys.readouterr().out


def test_gasf_consistency_of_valid_and_noisy_images():
    from netdiffus.imaging import gasf

    real = make(4, 0, t=8)
    z = np.random.default_rng(0).uniform(0, 1, (12, 1, 8))
    valid = gasf(z)
    r = evaluate(real, real, metrics=["fidelity"], synthetic_images=valid)
    assert r.overall["GASF_consistency"] == pytest.approx(0.0, abs=1e-3)
    noisy = valid + np.random.default_rng(1).normal(0, 0.2, valid.shape)
    r = evaluate(real, real, metrics=["fidelity"], synthetic_images=noisy)
    assert r.overall["GASF_consistency"] > 0.05


def test_real_test_set_checks(caplog):
    train, syn = make(5, 0), make(5, 1)
    alien = make(5, 2)
    alien.labels = ["A", "B"] * (alien.n_traces // 2) + ["A"] * (alien.n_traces % 2)
    with pytest.raises(DatasetError) as exc:
        evaluate(train, syn, real_test=alien, metrics=["fidelity"])
    assert str(exc.value) == ("real test set has none of the training classes (test: A, B; "
                              "train: Facebook/V360, YouTube/VNormal, x)")
    mixed = make(5, 3)
    mixed.labels = ["zz"] + mixed.labels[1:]
    with caplog.at_level("WARNING", logger="netdiffus.evaluation.suite"):
        evaluate(train, syn, real_test=mixed, metrics=["fidelity"])
        evaluate(train, syn, real_test=train, metrics=["fidelity"])
    assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
        "1 real test traces have classes not in training (zz): every classifier gets them wrong",
        "15 of 15 real test traces have a series identical to a real training trace: TRTR, DCR_ratio and "
        "MIA_AUC assume unseen test traces",
    ]


def test_test_set_metrics_without_a_test_set_are_an_error():
    with pytest.raises(ConfigError) as exc:
        evaluate(make(5, 0), make(5, 1), metrics=["rf", "cnn"])
    assert str(exc.value) == "metrics rf, cnn need a real test set (real_test, --real-test)"


def test_cnn_on_too_few_synthetic_traces_is_nan_with_a_warning(caplog):
    one = make(5, 1).subset([0])
    with caplog.at_level("WARNING", logger="netdiffus.evaluation.suite"):
        r = evaluate(make(5, 0), one, real_test=make(5, 2), metrics=["cnn"], fast=True)
    assert np.isnan(r.overall["CNN_TSTR_acc"]) and np.isnan(r.overall["FD"])
    assert any(m.startswith("GASF CNN scores skipped: ") for m in caplog.messages)


@pytest.mark.parametrize(
    "c, note, titles",
    [
        (1, "", ["Facebook/V360: real", "Facebook/V360: synthetic"]),
        (2, " (solid: c0, dashed: c1)",
         ["Facebook/V360: real\nc0", "Facebook/V360: real\nc1", "Facebook/V360: synthetic\nc0",
          "Facebook/V360: synthetic\nc1"]),
        (3, " (solid: c0, dashed: c1, c2)",
         ["Facebook/V360: real\nc0", "Facebook/V360: real\nc1", "Facebook/V360: real\nc2",
          "Facebook/V360: synthetic\nc0"]),
    ],
)  # fmt: skip
def test_report_shows_and_names_every_channel(monkeypatch, c, note, titles):
    from netdiffus.evaluation import report

    real, syn = make(4, 0, c=c), make(4, 1, c=c)
    panels: list[list[str]] = []
    monkeypatch.setattr(report, "_png", lambda fig: panels.append([ax.get_title() for ax in fig.axes if ax.images]))
    report._plot_gasf(real, syn, real.classes, seed=0)
    assert len(panels[0]) == len(real.classes) * 2 * c  # a GASF image per class, side and channel
    assert panels[0][: len(titles)] == titles
    assert report._channel_note(real) == note


@pytest.mark.parametrize("plot", ["hist", "totals", "acf"])
def test_report_panel_titles_do_not_overlap_the_row_above(monkeypatch, plot):
    from netdiffus.evaluation import report

    real, syn = make(4, 0, c=2), make(4, 1, c=2)
    for ds in (real, syn):  # 6 classes: two rows of panels
        ds.labels = [f"class{k % 6}" for k in range(ds.n_traces)]
    overlaps: list[bool] = []

    def check(fig):
        fig.canvas.draw()
        r = fig.canvas.get_renderer()
        above, below = fig.axes[0], fig.axes[4]
        overlaps.append(below.title.get_window_extent(r).overlaps(above.xaxis.get_tightbbox(r)))

    monkeypatch.setattr(report, "_png", check)
    classes = sorted(set(real.labels))
    if plot == "acf":
        report._plot_acf(real, syn, classes)
    else:
        report._plot_hist(real, syn, classes, totals=plot == "totals")
    assert overlaps == [False]


def test_importing_the_report_sets_no_matplotlib_backend():
    # A library import must not choose the process's backend (nor load pyplot): the backend the
    # user asked for (here svg) is still the backend after the import.
    code = ("import sys, matplotlib; import netdiffus.evaluation.report; "
            "print('matplotlib.pyplot' in sys.modules, matplotlib.get_backend())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "MPLBACKEND": "svg"})
    assert out.stdout.split() == ["False", "svg"]


# -- like with like; never silent ------------------------------------------------------------------------
def test_series_of_another_kind_are_refused_in_one_line():
    real, syn = make(6, 0), make(6, 1)
    syn.meta = DatasetMeta(feature="packets", unit="packets", bin_width_s=2.0, channels=["c0"])
    with pytest.raises(DatasetError) as exc:  # was: a warning about channel names, then scores
        evaluate(real, syn, metrics=["fidelity"])
    assert str(exc.value) == ("synthetic series are packets (packets), the real ones bytes (bytes): compare series "
                              "prepared the same way")


def test_long_forest_phases_log_how_far_they_are_and_score_as_one_fit(caplog, monkeypatch):
    import logging

    from netdiffus.evaluation import suite, utility

    real, syn = make(12, 0), make(12, 1)
    monkeypatch.setattr(suite._TreeProgress, "__init__", _every(suite._TreeProgress.__init__))  # a line per part
    with caplog.at_level(logging.INFO, logger="netdiffus.evaluation.suite"):
        r = evaluate(real, syn, metrics=["discriminative"], n_estimators=20, n_jobs=1)
    lines = [m for m in caplog.messages if "random-forest trees grown" in m]
    assert lines and lines[0].startswith("evaluate: 2 of 100 random-forest trees grown (")
    one_fit = utility.discriminative_score(real.series, syn.series, n_estimators=20, seed=0, n_jobs=1)
    assert r.overall["discriminative"] == one_fit  # grown a tenth at a time: the same trees


def _every(init):
    def patched(self, total, *, bar, every_s=30.0):
        init(self, total, bar=bar, every_s=0.0)

    return patched


@pytest.mark.parametrize(
    "privacy, shown",
    [
        (None, "none recorded (a generator trained without differential privacy, or not netdiffus)"),
        ({"epsilon": 9.5, "target_epsilon": 10.0, "delta": 1e-4, "max_grad_norm": 1.0, "noise_multiplier": 0.8,
          "sample_rate": 0.1, "steps": 100, "accountant": "rdp"},
         "(epsilon 9.5, delta 0.0001) per trace; DP-SGD, clipping norm 1, noise multiplier 0.8, sample rate 0.1, "
         "100 steps, rdp accountant"),
    ],
)
def test_the_report_shows_the_guarantee_a_synthetic_set_carries(tmp_path, privacy, shown):
    real, syn = make(6, 0), make(6, 2)
    syn.meta.extra = {"synthetic": {"generator": "netdiffus", "privacy": privacy}}
    path = write_report(evaluate(real, syn, metrics=["fidelity"]), real, syn, tmp_path / "out")
    assert f"<th>privacy of the generator</th><td style='text-align:left'>{shown}</td>" in path.read_text()
    data = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert data.get("privacy") == privacy
