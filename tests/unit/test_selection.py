"""A draw filtered by a classifier of real traces (netdiffus.selection, sample --filter-by)."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import TINY, toy_dataset
from netdiffus.cli.main import main
from netdiffus.errors import ConfigError, DatasetError
from netdiffus.io.dataset import DatasetMeta, TraceDataset, read_dataset, write_dataset
from netdiffus.sampling import SamplePlan
from netdiffus.selection import RecognisedDraw, pick_recognised, recognised_draw
from netdiffus.synthesizer import TrafficSynthesizer


@pytest.mark.parametrize(
    "labels, predicted, own, wanted, kept",
    [
        ("aaaa", "baab", [0.2, 0.9, 0.6, 0.4], {"a": 2}, [1, 2]),  # recognised ones, in draw order
        ("aaaa", "bbba", [0.1, 0.4, 0.3, 0.5], {"a": 2}, [1, 3]),  # then the most probable of the others
        ("abab", "aabb", [0.9, 0.1, 0.2, 0.8], {"a": 1, "b": 1}, [0, 3]),
        ("abab", "bbaa", [0.1, 0.2, 0.3, 0.4], {"a": 1, "b": 1}, [1, 2]),  # none recognised: the best
        ("aabb", "aabb", [1, 1, 1, 1], {"b": 2}, [2, 3]),  # a class not wanted keeps nothing
    ],
)
def test_pick_recognised(labels, predicted, own, wanted, kept):
    got = pick_recognised(np.array(list(labels)), np.array(list(predicted)), np.array(own, dtype=float), wanted)
    assert got.tolist() == kept


def _reference(levels=None):
    """Class a near 10 bytes per bin, class b near 1000 (4 traces each, [N, 1, 6])."""
    rng = np.random.default_rng(1)
    levels = levels or {"a": 10.0, "b": 1000.0}
    labels = [c for c in levels for _ in range(4)]
    series = np.stack([levels[c] * rng.uniform(0.9, 1.1, size=(1, 6)) for c in labels])
    return TraceDataset(series=series, labels=labels, ids=[f"r{i}" for i in range(len(labels))],
                        sources=["real"] * len(labels), meta=DatasetMeta(channels=["bytes"]))


def _fake_draw(plan, start, stop, *, bar=None):
    """Candidates of the plan whose labels repeat: in the first block every trace looks like the
    other class, in the second like its own."""
    n = len(plan.labels) // 2
    series, labels, ids = [], [], []
    for k in range(start, stop):
        lab = plan.labels[k]
        looks = lab if k >= n else {"a": "b", "b": "a"}[lab]
        series.append(np.full((1, 6), {"a": 10.0, "b": 1000.0}[looks]))
        labels.append(lab)
        ids.append(f"syn-{plan.seed}-{k:06d}")
    if bar is not None:
        bar.update(stop - start)
    return TraceDataset(series=np.stack(series), labels=labels, ids=ids, sources=["netdiffus"] * len(ids),
                        meta=DatasetMeta(channels=["bytes"], extra={"synthetic": {"seed": plan.seed}}))


class _Bar:
    n = 0

    def update(self, k):
        self.n += k


def test_the_recognised_candidates_are_kept_in_the_plans_order():
    plan = SamplePlan(labels=["a", "b", "b", "a", "a"], seed=7, sample=None, postprocess=None)
    draw = RecognisedDraw(_fake_draw, _reference(), shape=(1, 6), oversample=2, seed=0)
    bar = _Bar()
    got = draw(plan, 1, 4, bar=bar)  # traces 1..3 of 5: candidates 1..3 and 6..8
    assert got.labels == ["b", "b", "a"]
    assert got.ids == ["syn-7-000006", "syn-7-000007", "syn-7-000008"]
    np.testing.assert_array_equal(got.series[:, 0, 0], [1000.0, 1000.0, 10.0])
    assert got.meta.extra["synthetic"]["seed"] == 7
    assert got.meta.extra["synthetic"]["filter"]["oversample"] == 2
    assert bar.n == 3  # six candidates drawn for three traces
    assert draw.summary().startswith("3 of 3 traces kept are recognised as their class")


@pytest.mark.parametrize(
    "kwargs, reference, error, message",
    [
        ({"oversample": 1}, None, ConfigError, "oversample must be an integer >= 2 (got 1)"),
        ({"privacy": object()}, None, ConfigError,
         "a private run (train.dp_epsilon > 0) refuses a classifier filter (--filter-by)"),
        ({"shape": (2, 6)}, None, DatasetError, "the reference traces are [C, T] = [1, 6], the run's [2, 6]"),
        ({}, _reference({"a": 10.0}), ConfigError, "a classifier filter needs reference traces of two or more "
                                                   "classes (got ['a'])"),
    ],
)
def test_bad_filters_are_refused_in_one_line(kwargs, reference, error, message):
    kwargs = {"shape": (1, 6), **kwargs}
    with pytest.raises(error) as exc:
        RecognisedDraw(_fake_draw, reference or _reference(), **kwargs)
    assert str(exc.value).startswith(message)


def test_a_class_without_reference_traces_is_refused():
    plan = SamplePlan(labels=["a", "c"], seed=0, sample=None, postprocess=None)
    with pytest.raises(ConfigError, match=r"reference traces of every class drawn: none of \['c'\]"):
        RecognisedDraw(_fake_draw, _reference(), shape=(1, 6))(plan, 0, 2)


def test_sample_filter_by_writes_the_recognised_draw(tmp_path, capsys):
    ds = toy_dataset(n_per_class=8)
    run = TrafficSynthesizer.from_preset("demo", overrides=TINY, progress=False).fit(ds).save(tmp_path / "run")
    ref = write_dataset(ds, tmp_path / "train.parquet")
    args = ["sample", str(run), "-n", "12", "--seed", "3", "--no-progress", "--filter-by", str(ref)]
    assert main([*args, "-o", str(tmp_path / "a.parquet")]) == 0
    assert "traces kept are recognised as their class" in capsys.readouterr().out
    got = read_dataset(tmp_path / "a.parquet")
    expected = recognised_draw(TrafficSynthesizer.load(run, progress=False), ds, seed=3)
    synth = TrafficSynthesizer.load(run, progress=False)
    want = expected(synth.plan(12, seed=3), 0, 12)
    assert got.ids == want.ids and got.labels == want.labels
    np.testing.assert_allclose(got.series, want.series, rtol=1e-5)
    assert main([*args, "--oversample", "1", "-o", str(tmp_path / "b.parquet")]) == 1
    assert "--oversample must be >= 2 (got 1)" in capsys.readouterr().err
