"""The sanity baselines and splits of benchmarks/ (make bench)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[3]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import generators as G  # noqa: E402
from benchmarks.datasets import DATA, split_by_video  # noqa: E402

from netdiffus.evaluation import fidelity, privacy  # noqa: E402
from netdiffus.io.dataset import TraceDataset  # noqa: E402


def train_set(n: int = 30, t: int = 40) -> TraceDataset:
    rng = np.random.default_rng(0)
    x = np.zeros((2 * n, 1, t))
    e = rng.normal(size=x.shape)
    for i in range(1, t):
        x[..., i] = 0.9 * x[..., i - 1] + e[..., i]
    x = np.expm1(np.abs(x) + 5)
    labels = ["a"] * n + ["b"] * n
    return TraceDataset(series=x, labels=labels, ids=[str(i) for i in range(2 * n)], sources=["t"] * (2 * n))


def test_copy_noise_is_exposed_by_dcr():
    tr = train_set()
    test = train_set()
    test.series = test.series[:, :, ::-1].copy()
    syn = G.copy_noise(tr, {"a": 60, "b": 60}, 0)
    assert syn.class_counts() == {"a": 60, "b": 60}
    assert (syn.series >= 0).all()
    assert privacy.dcr_ratio(tr.series, syn.series, test.series) < 0.2


def test_bin_shuffle_keeps_marginals_and_breaks_acf():
    tr = train_set()
    syn = G.bin_shuffle(tr, {"a": 300, "b": 300}, 0)
    assert syn.series.shape == (600, 1, 40)
    a = tr.series[np.array(tr.labels) == "a"]
    sa = syn.series[np.array(syn.labels) == "a"]
    # every value of bin t comes from bin t of a training trace of the same class
    for t in (0, 17, 39):
        assert set(np.unique(sa[:, 0, t])) <= set(a[:, 0, t])
    assert fidelity.acf_distance(a, sa) > 0.05


def test_real_holdout_returns_the_test_set():
    tr, te = train_set(), train_set(5)
    out = G.real_holdout(te)(tr, {"a": 1}, 0)
    np.testing.assert_array_equal(out.series, te.series)


def test_split_by_video_keeps_videos_together():
    ids = [f"A/Vid_{v}_cc_{k}" for v in range(10) for k in range(3)]
    ds = TraceDataset(series=np.zeros((30, 1, 4)), labels=["A"] * 30, ids=ids, sources=["x"] * 30)
    tr, te = split_by_video(ds)
    assert len(te) == 9 and len(tr) == 21
    vids = lambda idx: {ids[i].split("_")[1] for i in idx}  # noqa: E731
    assert not vids(tr) & vids(te)


@pytest.mark.data
def test_b1_split_sizes():
    if not (DATA / "videotrain").is_dir():
        pytest.skip(f"{DATA / 'videotrain'} is absent")
    from benchmarks.datasets import load_b1

    b = load_b1()
    assert (b.train.n_traces, b.test.n_traces) == (442, 194)
    assert b.train.series.shape[1:] == (1, 60)


def video_set(t: int = 20) -> TraceDataset:
    """Two classes, three videos each, two sessions per video; every session a distinct constant."""
    ids, labels = [], []
    for c, name in enumerate(("YouTube/V360", "YouTube/VNormal")):
        for v in range(3):
            for s in range(2):
                ids.append(f"{name}/Vid_{10 * c + v}_cc_{s}")
                labels.append(name)
    x = np.repeat(np.arange(1, len(ids) + 1, dtype=np.float64)[:, None, None] * 100, t, axis=-1)
    return TraceDataset(series=x, labels=labels, ids=ids, sources=["t"] * len(ids))


@pytest.mark.parametrize("variant, added", [("none", 0), ("splice:1", 12), ("mixlog:0.5", 6)])
def test_augment_mixes_sessions_of_different_videos_in_one_class(variant, added):
    from benchmarks.augment_b1 import augment
    from benchmarks.datasets import video_id

    tr = video_set()
    out = augment(tr, variant, np.random.default_rng(0))
    assert len(out) == len(tr) + added
    np.testing.assert_array_equal(out.series[: len(tr)], tr.series)
    level = {float(tr.series[i, 0, 0]): i for i in range(len(tr))}
    for k in range(len(tr), len(out)):
        y = out.series[k, 0].astype(np.float64)
        if variant.startswith("splice"):
            # each bin from one of two parents; the cut inside [T/5, 4T/5]
            first, last = level[float(y[0])], level[float(y[-1])]
            cut = int(np.argmax(y != y[0]))
            assert 4 <= cut <= 16 and (y[:cut] == y[0]).all() and (y[cut:] == y[-1]).all()
        else:
            # a blend lam * log1p(a) + (1 - lam) * log1p(b), lam in [0.25, 0.75], of two sessions
            # of its class from different videos
            z = np.log1p(tr.series[:, 0, 0])
            cands = [i for i in range(len(tr)) if tr.labels[i] == out.labels[k]]
            lams = [(np.log1p(y[0]) - z[j]) / (z[i] - z[j]) for i in cands for j in cands
                    if video_id(tr.ids[i]) != video_id(tr.ids[j])]
            assert np.allclose(y, y[0]) and any(0.25 - 1e-4 <= lam <= 0.75 + 1e-4 for lam in lams)
            continue
        assert out.labels[k] == tr.labels[first] == tr.labels[last]
        assert video_id(tr.ids[first]) != video_id(tr.ids[last])


def test_augment_names_an_unknown_kind():
    from benchmarks.augment_b1 import augment

    with pytest.raises(SystemExit, match="unknown kind 'warp'"):
        augment(video_set(), "warp:1", np.random.default_rng(0))


@pytest.mark.parametrize(
    "argv, expected",
    [
        # make bench: B1 trains its default, the cpu preset; the others the demo preset for 1500 steps
        ([], {"B1": ("cpu", ["train.num_threads=1"]),
              "B2-bins": ("demo", ["train.steps=1500", "train.num_threads=1"]),
              "B3": ("demo", ["train.steps=1500", "train.num_threads=1"])}),
        # one preset named: every benchmark, its own step count
        (["--diffusion-preset", "cpu", "--threads", "2"], {"B1": ("cpu", ["train.num_threads=2"]),
                                                          "B2-packets": ("cpu", ["train.num_threads=2"])}),
        (["--diffusion-steps", "500"], {"B1": ("cpu", ["train.steps=500", "train.num_threads=1"]),
                                        "B3": ("demo", ["train.steps=500", "train.num_threads=1"])}),
        (["--quick"], {"B1": ("demo", ["train.steps=20", "sample.steps=5", "model.base_channels=16",
                                       "model.num_res_blocks=1", "model.attention_levels=[]",
                                       "train.num_threads=1"])}),
    ],
)
def test_bench_diffusion_presets(argv, expected):
    from benchmarks.run import build_parser, diffusion_setup, settings_for

    s = settings_for(build_parser().parse_args(argv))
    assert {key: diffusion_setup(key, s) for key in expected} == expected
