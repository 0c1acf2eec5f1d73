"""The header model (netdiffus.headers): determinism by seed, rare values generalised, JSON round trip."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import toy_dataset
from netdiffus.errors import ConfigError, DatasetError
from netdiffus.headers import HeaderModel
from netdiffus.io.dataset import TraceDataset, read_dataset
from netdiffus.io.headers import FlowHeader, TraceHeader
from netdiffus.stream import StreamOptions
from netdiffus.synthesizer import TrafficSynthesizer


def trace(port: int, *, ttl: int = 64, window: int = 29200, server: int = 0, packets: int = 10) -> TraceHeader:
    return TraceHeader(4, (FlowHeader("tcp", port, 49152, packets, ttl, 58, window, 65160, server, 100),
                           FlowHeader("udp", 53, 49152, 2, ttl, 64, -1, -1, 1, -1)))


TRAIN = [trace(443)] * 4 + [trace(8883, ttl=60, window=5000, server=7)] + [trace(80, packets=500)] * 4
LABELS = ["cam"] * 5 + ["plug"] * 4
VOLUMES = [10.0, 11.0, 12.0, 13.0, 14.0, 1e4, 2e4, 3e4, 4e4]


def test_same_seed_same_draw_and_trace_k_alone() -> None:
    model = HeaderModel().fit(headers=TRAIN, labels=LABELS, volumes=VOLUMES)
    a = model.sample(labels=["cam", "plug", "cam"], volumes=[10.0, 1e4, 12.0], seed=5)
    assert a == model.sample(labels=["cam", "plug", "cam"], volumes=[10.0, 1e4, 12.0], seed=5)
    assert a[2:] == model.sample(labels=["x", "y", "cam"], volumes=[0.0, 0.0, 12.0], seed=5)[2:]
    draws = {tuple(model.sample(labels=["cam"] * 20, volumes=[10.0] * 20, seed=s)) for s in range(3)}
    assert len(draws) > 1  # the seed matters


def test_class_conditional() -> None:
    model = HeaderModel(backoff=0.0).fit(headers=TRAIN, labels=LABELS, volumes=VOLUMES)
    plug = model.sample(labels=["plug"] * 10, volumes=[2e4] * 10, seed=0)
    assert {h.flows[0].server_port for h in plug} == {80}


@pytest.mark.parametrize(("min_traces", "port_kept", "ttl", "window", "server"), [
    (1, True, 60, 5000, 7),            # nothing is rare
    (2, False, 64, 4096, -1),          # seen in one trace: port drawn from its range, TTL up, window down
])
def test_rare_values_are_generalised(min_traces: int, port_kept: bool, ttl: int, window: int, server: int) -> None:
    model = HeaderModel(min_traces=min_traces, n_buckets=1, backoff=0.0).fit(headers=TRAIN, labels=LABELS,
                                                                            volumes=VOLUMES)
    rare = [h for h in model.sample(labels=["cam"] * 200, volumes=[14.0] * 200, seed=1)
            if h.flows[0].window_fwd != 29200]
    assert rare
    f = rare[0].flows[0]
    assert (f.server_port == 8883) == port_kept and 1024 <= f.server_port <= 49151
    assert (f.ttl_fwd, f.window_fwd, f.server_id) == (ttl, window, server)
    stored = json.dumps(model.to_json())
    assert ("8883" in stored) == port_kept


def test_rare_durations_are_coarsened_and_shares_kept() -> None:
    """A duration class seen in fewer than min_traces traces becomes the power of 16 at or below it;
    the pure-ACK share (tens of percent) is kept as it is; a version-1 model's headers still read."""
    common = TraceHeader(4, (FlowHeader("tcp", 443, 49152, 10, 64, 58, 29200, 65160, 0, 50, 1 << 15, 40),))
    rare = TraceHeader(4, (FlowHeader("tcp", 443, 49152, 10, 64, 58, 29200, 65160, 0, 50, 1 << 21, 60),))
    model = HeaderModel(min_traces=2, n_buckets=1, backoff=0.0).fit(headers=[common, common, rare], labels=["a"] * 3,
                                                                   volumes=[1.0] * 3)
    flows = {h.flows[0] for h in model.sample(labels=["a"] * 50, volumes=[1.0] * 50, seed=0)}
    assert {(f.duration_us, f.ack_percent) for f in flows} == {(1 << 15, 40), (1 << 20, 60)}
    old = model.to_json()
    for _, _, h in old["classes"]["a"]["tuples"]:
        h["version"], h["flows"] = 1, [f[:10] for f in h["flows"]]
    assert {h.flows[0].duration_us for h in HeaderModel.from_json(old).sample(labels=["a"] * 9, volumes=[1.0] * 9,
                                                                              seed=0)} == {-1}


def _with_options(mss: tuple[int, int], wscale: tuple[int, int], sack: tuple[int, int],
                  stamps: tuple[int, int]) -> TraceHeader:
    f = FlowHeader("tcp", 443, 49152, 10, 64, 58, 29200, 65160, 0, 50, 1 << 15, 40, mss[0], mss[1], wscale[0],
                   wscale[1], sack[0], sack[1], stamps[0], stamps[1])
    return TraceHeader(4, (f,))


LINUX = _with_options((1460, 1400), (7, 9), (1, 1), (1, 1))
WINDOWS = _with_options((1460, 1460), (8, -1), (1, 1), (0, 0))
ODD = _with_options((1387, -1), (14, -1), (0, -1), (1, -1))  # an MSS of one trace; no SYN-ACK seen


@pytest.mark.parametrize(("min_traces", "odd_mss"), [(1, 1387), (2, 1360)])  # rare: the common MSS at or below
def test_syn_options_are_learned_per_class_and_saved(min_traces: int, odd_mss: int) -> None:
    model = HeaderModel(min_traces=min_traces, n_buckets=1, backoff=0.0).fit(
        headers=[LINUX, LINUX, WINDOWS, WINDOWS, ODD], labels=["lin", "lin", "win", "win", "lin"], volumes=[1.0] * 5)
    back = HeaderModel.from_json(json.loads(json.dumps(model.to_json())))
    for m in (model, back):
        lin = {h.flows[0].syn_options for h in m.sample(labels=["lin"] * 60, volumes=[1.0] * 60, seed=0)}
        win = {h.flows[0].syn_options for h in m.sample(labels=["win"] * 20, volumes=[1.0] * 20, seed=0)}
        assert lin == {LINUX.flows[0].syn_options, ((odd_mss, 14, 0, 1), (-1, -1, -1, -1))}
        assert win == {((1460, 8, 1, 0), (1460, -1, 1, 0))}
    old = model.to_json()  # a model.json of record version 2: the options read as unknown
    for _, _, h in old["classes"]["win"]["tuples"]:
        h["version"], h["flows"] = 2, [f[:12] for f in h["flows"]]
    win = HeaderModel.from_json(old).sample(labels=["win"] * 5, volumes=[1.0] * 5, seed=0)
    assert {h.flows[0].syn_options for h in win} == {((-1, -1, -2, -1), (-1, -1, -1, -1))}  # -2: SYN seen unknown
    assert all(h.flows[0].opened for h in win)


def test_json_round_trip() -> None:
    model = HeaderModel(n_buckets=2).fit(headers=TRAIN, labels=LABELS, volumes=VOLUMES)
    back = HeaderModel.from_json(json.loads(json.dumps(model.to_json())))
    kw = {"labels": LABELS, "volumes": VOLUMES, "seed": 3}
    assert back.to_json() == model.to_json() and back.sample(**kw) == model.sample(**kw)


def test_traces_without_header_are_left_out() -> None:
    model = HeaderModel(min_traces=1).fit(headers=[None, trace(443)], labels=["a", "b"], volumes=[1.0, 1.0])
    assert list(model.classes_) == ["b"]
    assert model.sample(labels=["a"], volumes=[1.0], seed=0) == [trace(443)]  # an unknown class: every class


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"min_traces": 0}, "min_traces must be an integer >= 1 (got 0)"),
    ({"n_buckets": 1.5}, "n_buckets must be an integer >= 1 (got 1.5)"),
    ({"backoff": 2.0}, "backoff must be in [0, 1] (got 2.0)"),
])
def test_bad_options(kwargs: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        HeaderModel(**kwargs).fit(headers=TRAIN, labels=LABELS, volumes=VOLUMES)


def test_errors() -> None:
    with pytest.raises(ConfigError, match="not fitted"):
        HeaderModel().sample(labels=["a"], volumes=[1.0], seed=0)
    with pytest.raises(DatasetError, match="one length"):
        HeaderModel().fit(headers=TRAIN, labels=LABELS[:2], volumes=VOLUMES)
    with pytest.raises(DatasetError, match="a header model must be"):
        HeaderModel.from_json({"version": 9})
    with pytest.raises(DatasetError, match="malformed"):
        HeaderModel.from_json({"version": 1, "classes": {"a": {"edges": []}}, "min_traces": 1, "n_buckets": 1,
                               "backoff": 0.1})


def _with_headers() -> TraceDataset:
    ds = toy_dataset()
    ds.headers = [TRAIN[i % len(TRAIN)] for i in range(ds.n_traces)]
    return ds


def test_fit_learns_saves_and_samples_headers(tmp_path: Path, tiny_overrides: list[str]) -> None:
    synth = TrafficSynthesizer.from_preset("demo", overrides=tiny_overrides, progress=False)
    synth.fit(_with_headers(), run_dir=tmp_path / "run")
    assert synth.headers_ is not None
    assert json.loads((tmp_path / "run" / "model.json").read_text())["headers"] == synth.headers_.to_json()
    loaded = TrafficSynthesizer.load(tmp_path / "run", progress=False)
    a, b = synth.sample(5, seed=2), loaded.sample(5, seed=2)
    assert a.headers is not None and a.headers == b.headers and len(a.headers) == 5
    plain = TrafficSynthesizer.from_preset("demo", overrides=tiny_overrides, progress=False).fit(toy_dataset())
    assert plain.headers_ is None and plain.sample(2, seed=0).headers is None  # no records: no header model


def test_a_private_fit_learns_no_headers(tiny_overrides: list[str]) -> None:
    pytest.importorskip("opacus")
    synth = TrafficSynthesizer.from_preset("demo", overrides=[*tiny_overrides, "train.dp_epsilon=10",
                                                              "imaging.range_max=1e5"], progress=False)
    synth.fit(_with_headers())
    assert synth.headers_ is None and synth.sample(2, seed=0).headers is None


def test_a_streamed_draw_carries_the_headers_of_the_whole_draw(tmp_path: Path, tiny_overrides: list[str]) -> None:
    synth = TrafficSynthesizer.from_preset("demo", overrides=tiny_overrides, progress=False).fit(_with_headers())
    synth.sample_to_parquet(tmp_path / "s.parquet", synth.plan(7, seed=4), StreamOptions(chunk_size=3))
    assert read_dataset(tmp_path / "s.parquet").headers == synth.sample(7, seed=4).headers
