"""The real held-out reference of evaluate(): when it is there, what it holds, how it is shown and stored."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from netdiffus.cli.main import main
from netdiffus.evaluation import EvaluationResult, evaluate, write_report
from netdiffus.evaluation.reference import REFERENCE_LABEL, split_halves
from netdiffus.io.dataset import DatasetMeta, TraceDataset, write_dataset

CLASSES = ("Facebook/V360", "YouTube/VNormal", "x")
FIDELITY = ("W1_values", "W1_totals", "JSD", "ACF", "impossible", "length_W1")  # no mode_coverage: volumes
RF = ("TRTR_acc", "TSTR_acc", "TRSTR_acc", "TRTR_f1", "TSTR_f1", "TRSTR_f1")


def make(n_per_class: int, seed: int) -> TraceDataset:
    """Three classes far apart in volume, ``n_per_class`` traces ``[1, 24]`` each, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    series = np.concatenate([rng.lognormal(4 + 2 * k, 0.5, (n_per_class, 1, 24)) for k in range(len(CLASSES))])
    labels = [c for c in CLASSES for _ in range(n_per_class)]
    return TraceDataset(series=series, labels=labels, ids=[f"{seed}-{i}" for i in range(len(labels))],
                        sources=["test"] * len(labels),
                        meta=DatasetMeta(feature="bytes", unit="bytes", bin_width_s=2.0, channels=["c0"]))


@pytest.mark.parametrize(
    "with_test, reference, present",
    [(True, True, True), (True, False, False), (False, True, False), (False, False, False)],
)
def test_the_reference_is_there_iff_a_real_test_set_is_given_and_not_switched_off(with_test, reference, present):
    real, syn = make(8, 0), make(8, 2)
    r = evaluate(real, syn, real_test=make(6, 1) if with_test else None, metrics=["fidelity"], reference=reference)
    assert (r.reference is not None) is present
    assert (r.reference_per_class is not None) is present
    assert ("reference" in r.info) is present
    assert ("reference" in r.to_dict()) is present


def test_without_a_test_set_the_result_is_as_before():
    real, syn = make(8, 0), make(8, 2)
    r = evaluate(real, syn, n_estimators=5)
    assert set(r.to_dict()) == {"overall", "per_class", "info"}
    assert set(r.overall) == {*FIDELITY, "discriminative"}


@pytest.mark.parametrize(
    "metrics, keys",
    [
        (["fidelity"], set(FIDELITY)),
        (["discriminative"], {"discriminative"}),
        (["rf"], set(RF)),
        (["privacy"], {"DCR_ratio", "MIA_AUC"}),
        (["curve"], set()),  # its real-only line is the reference
        (["fidelity", "privacy"], {*FIDELITY, "DCR_ratio", "MIA_AUC"}),
    ],
)  # fmt: skip
def test_the_reference_holds_the_groups_asked_for(metrics, keys):
    r = evaluate(make(8, 0), make(8, 2), real_test=make(6, 1), metrics=metrics, n_estimators=5, n_jobs=1)
    assert r.reference is not None and set(r.reference) == keys


def test_fidelity_and_discriminative_reference_score_the_test_set_in_place_of_the_synthetic_set():
    real, test = make(10, 0), make(6, 1)
    r = evaluate(real, make(12, 2), real_test=test, metrics=["fidelity", "discriminative"], n_estimators=5, n_jobs=1)
    alone = evaluate(real, test, metrics=["fidelity", "discriminative"], n_estimators=5, n_jobs=1)
    assert r.reference == alone.overall
    assert r.reference_per_class == alone.per_class
    assert r.reference_per_class["x"]["n_synthetic"] == 6  # the real test traces of the class


@pytest.mark.parametrize("settings", [{"fast": True}, {"n_estimators": 7}, {"n_estimators": 5, "forest_repeats": 2}])
def test_metrics_needing_a_third_set_train_on_one_half_of_the_test_set_and_score_on_the_other(settings):
    real, test = make(10, 0), make(8, 1)
    kw = {"metrics": ["rf", "privacy"], "n_jobs": 1, "seed": 3, **settings}
    r = evaluate(real, make(12, 2), real_test=test, **kw)
    first, second = split_halves(test.labels, seed=3)
    assert len(np.intersect1d(first, second)) == 0 and len(first) + len(second) == test.n_traces
    halves = evaluate(real, test.subset(first), real_test=test.subset(second), reference=False, **kw)
    assert r.reference == halves.overall
    assert r.info["reference"]["n_first_half"] == 12 and r.info["reference"]["n_second_half"] == 12


def test_the_reference_does_not_depend_on_the_synthetic_set():
    real, test = make(10, 0), make(6, 1)
    a = evaluate(real, make(12, 2), real_test=test, n_estimators=5, n_jobs=1, metrics=["fidelity", "rf", "privacy"])
    b = evaluate(real, make(5, 7), real_test=test, n_estimators=5, n_jobs=1, metrics=["fidelity", "rf", "privacy"])
    assert a.reference == b.reference and a.overall != b.overall


def test_unseen_real_traces_of_well_separated_classes_score_near_the_floor():
    real, test = make(30, 0), make(30, 1)
    off = make(30, 2)
    off.series *= 1000.0  # a generator that misses the volume, beyond every real class: easy to tell apart
    r = evaluate(real, off, real_test=test, metrics=["fidelity", "discriminative", "rf", "privacy"], fast=True,
                 n_jobs=1)  # fmt: skip
    ref = r.reference
    assert ref is not None
    assert ref["discriminative"] < 0.15 < 0.4 < r.overall["discriminative"]
    assert ref["W1_values"] < 0.3 < r.overall["W1_values"]
    assert ref["TRTR_acc"] == ref["TSTR_acc"] == 1.0  # the classes are far apart
    assert 0.7 < ref["DCR_ratio"] < 1.4 and 0.35 < ref["MIA_AUC"] < 0.65  # unseen real traces: no leak


def test_a_test_set_of_one_trace_per_class_has_no_halves(caplog):
    test = make(1, 1)
    with caplog.at_level("WARNING", logger="netdiffus.evaluation.suite"):
        r = evaluate(make(8, 0), make(8, 2), real_test=test, metrics=["fidelity", "rf"], n_estimators=5, n_jobs=1)
    assert r.reference is not None and set(r.reference) == set(FIDELITY)
    assert caplog.messages == ["reference: every class has one real test trace, no half to play the synthetic set: "
                               "the reference of rf is left out"]
    assert r.info["reference"]["not_computed"]["rf"] == "every class has one real test trace: no half to split off"


@pytest.mark.parametrize(
    "labels, first, second",
    [
        (["a", "a", "b", "b"], 2, 2),
        (["a", "a", "a", "b", "b", "c"], 2, 4),   # odd classes give the extra trace to the second half
        (["a"], 0, 1),
        ([], 0, 0),
    ],
)  # fmt: skip
def test_split_halves_splits_each_class(labels, first, second):
    a, b = split_halves(labels, seed=0)
    assert (len(a), len(b)) == (first, second)
    assert sorted([*a.tolist(), *b.tolist()]) == list(range(len(labels)))
    for c in set(labels):
        n = labels.count(c)
        assert sum(labels[i] == c for i in a) == n // 2


def test_split_halves_is_seeded():
    labels = ["a"] * 20 + ["b"] * 20
    assert np.array_equal(split_halves(labels, seed=1)[0], split_halves(labels, seed=1)[0])
    assert not np.array_equal(split_halves(labels, seed=1)[0], split_halves(labels, seed=2)[0])


def test_metrics_json_round_trip_and_old_files():
    r = evaluate(make(8, 0), make(8, 2), real_test=make(1, 1), metrics=["fidelity", "discriminative"],
                 n_estimators=5, n_jobs=1)  # fmt: skip
    assert math.isnan(r.reference["discriminative"])  # one trace per class: too few to tell apart
    data = json.loads(r.to_json())
    assert data["reference"]["overall"]["discriminative"] is None
    assert set(data["overall"]) == {*FIDELITY, "discriminative"}  # the keys of older files, unchanged
    back = EvaluationResult.from_dict(data)
    assert back.reference_per_class == r.reference_per_class
    assert back.reference is not None and set(back.reference) == set(r.reference)
    assert all(back.reference[k] == v or (math.isnan(v) and math.isnan(back.reference[k]))
               for k, v in r.reference.items())  # fmt: skip
    del data["reference"]  # a file written before the reference
    old = EvaluationResult.from_dict(data)
    assert old.reference is None and old.reference_per_class is None and old.overall.keys() == r.overall.keys()


@pytest.mark.parametrize("with_test", [True, False])
def test_the_report_shows_the_reference_beside_the_synthetic_set(tmp_path, with_test):
    real, syn = make(6, 0), make(12, 2)
    r = evaluate(real, syn, real_test=make(4, 1) if with_test else None, metrics=["fidelity"])
    text = write_report(r, real, syn, tmp_path / "out").read_text()
    rows = [f"<tr class='reference'><th>{REFERENCE_LABEL}</th>",
            *(f"<tr class='reference'><th>{c}: {REFERENCE_LABEL}</th>" for c in CLASSES)]
    assert all((row in text) is with_test for row in rows)
    assert text.index("<tr><th>this synthetic set</th>") < text.find(rows[0]) if with_test else True
    saved = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert ("reference" in saved) is with_test
    if with_test:
        assert saved["reference"]["overall"]["W1_values"] == pytest.approx(r.reference["W1_values"])


@pytest.mark.parametrize(
    "extra, head, line",
    [
        ([], "metric              value  [real held-out]", "W1_values           {v}  [{ref}]"),
        (["--no-reference"], "metric              value", "W1_values           {v}"),
    ],
)  # fmt: skip
def test_cli_shows_the_reference_in_brackets(tmp_path, capsys, extra, head, line):
    paths = {}
    for name, ds in (("real", make(6, 0)), ("test", make(4, 1)), ("syn", make(12, 2))):
        paths[name] = write_dataset(ds, tmp_path / f"{name}.parquet")
    rc = main(["-q", "evaluate", "--real", str(paths["real"]), "--real-test", str(paths["test"]),
               "--synthetic", str(paths["syn"]), "-o", str(tmp_path / "eval"), "--fast", "--metrics", "fidelity",
               *extra])  # fmt: skip
    out = capsys.readouterr().out.splitlines()
    assert rc == 0
    saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    v = f"{saved['overall']['W1_values']:.3f}"
    ref = f"{saved['reference']['overall']['W1_values']:.3f}" if "reference" in saved else None
    assert out[0] == head and out[1] == line.format(v=v, ref=ref)
    assert ("reference" in saved) is (not extra)
