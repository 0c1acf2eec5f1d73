import numpy as np
import pytest

from conftest import toy_dataset
from netdiffus.errors import ConfigError, DatasetError
from netdiffus.io.split import split_dataset


def _with_ids(ids):
    ds = toy_dataset(n_per_class=len(ids) // 2)
    ds.ids = list(ids)
    return ds


def test_groups_never_straddle_the_split():
    # 2 classes x 3 sessions of 2 "videos" each: a video is (label, v<k>)
    ds = _with_ids([f"{c}_v{k}_s{s}" for c in "ab" for k in (1, 2) for s in range(3)][:12])
    train, test = split_dataset(ds, test_fraction=0.5, group=r"_(v\d)_", seed=0)
    assert len(train) + len(test) == 12 and len(test) == 6
    side = {}
    for part, name in ((train, "train"), (test, "test")):
        for lab, i in zip(part.labels, part.ids, strict=True):
            assert side.setdefault((lab, i.split("_")[1]), name) == name
    np.testing.assert_array_equal(
        np.sort(np.concatenate([train.series, test.series]).ravel()), np.sort(ds.series.ravel())
    )


def test_whole_match_without_capture_group_and_no_group():
    ds = _with_ids([f"x{k % 3}-{k}" for k in range(12)])
    train, test = split_dataset(ds, test_fraction=0.5, group=r"x\d", seed=1)
    assert len(train) + len(test) == 12
    train, test = split_dataset(ds, test_fraction=0.25, seed=0, stratify=False)  # each trace alone: 3 of 12
    assert (len(train), len(test)) == (9, 3)
    train, test = split_dataset(ds, test_fraction=0.25, seed=0)  # per class: round(0.25 * 6) = 2 of 6
    assert (len(train), len(test)) == (8, 4) and test.labels.count("a") == 2


@pytest.mark.parametrize(
    "kw, err, msg",
    [
        (dict(group="(v"), ConfigError, r"group '\(v' is not a regular expression \(missing \)"),
        (dict(group="zz"), DatasetError, r"group 'zz' does not match trace id 't0'"),
        (dict(test_fraction=1.0), ConfigError, r"test_fraction must be in \(0, 1\) \(got 1.0\)"),
        (dict(test_fraction=0.01, stratify=False), DatasetError,
         r"test_fraction 0.01 of 12 \(label, group\) pairs leaves an empty test side"),
        (dict(group="t"), DatasetError,
         r"no class has two or more groups \(group 't'\), so none can be held out for test"),
        (dict(seed=-1), ConfigError, r"seed must be an integer from 0 to 2\*\*32 - 1 \(got -1\)"),
    ],
)
def test_split_errors(kw, err, msg):
    with pytest.raises(err, match=msg):
        split_dataset(toy_dataset(), **kw)


def test_stratified_split_holds_out_every_class_with_two_groups(caplog):
    # class b has one video only: it stays in train (with a warning); every other class is on both sides
    ids = [f"v{k}_s{s}" for k in range(4) for s in range(3)] + ["v9_s0", "v9_s1"]
    ds = toy_dataset(n_per_class=7)
    ds.ids = ids
    ds.labels = ["a"] * 12 + ["b"] * 2
    with caplog.at_level("WARNING", logger="netdiffus.io.split"):
        train, test = split_dataset(ds, test_fraction=0.3, group=r"(v\d)_")
    assert [r.getMessage() for r in caplog.records] == [
        "1 class(es) have no test traces (b): test-set metrics will not cover them"]
    assert set(test.labels) == {"a"} and len(test) == 3  # round(0.3 * 4) = 1 video of 3 sessions
    assert train.labels.count("b") == 2


def test_split_warns_about_classes_left_with_one_training_trace(caplog):
    # class b: two sessions of two videos, so one goes to test and fit would refuse the one left
    ds = toy_dataset(n_per_class=7)
    ds.ids = [f"v{k}_s{s}" for k in range(4) for s in range(3)] + ["v8_s0", "v9_s0"]
    ds.labels = ["a"] * 12 + ["b"] * 2
    with caplog.at_level("WARNING", logger="netdiffus.io.split"):
        train, test = split_dataset(ds, test_fraction=0.3, group=r"(v\d)_")
    assert train.labels.count("b") == 1 and test.labels.count("b") == 1
    assert [r.getMessage() for r in caplog.records] == [
        "1 class(es) have fewer than 2 training traces (b): fit will refuse the training set"]
