"""A draw streamed to Parquet: the one-shot values, chunk by chunk, resumed after an interrupt."""

from __future__ import annotations

import json
import math

import numpy as np
import pyarrow.parquet as pq
import pytest

from conftest import TINY, toy_dataset
from netdiffus.errors import ConfigError, InputError
from netdiffus.export.tabular import write_csv
from netdiffus.io.dataset import read_dataset
from netdiffus.sampling import weights_digest
from netdiffus.stream import ChunkProgress, StreamOptions, check_stream, chunk_traces, partial_paths, write_stream
from netdiffus.synthesizer import TrafficSynthesizer

BATCH = 4


@pytest.fixture(scope="module")
def synth():
    return TrafficSynthesizer.from_preset("demo", overrides=TINY, progress=False).fit(toy_dataset())


class Stop(KeyboardInterrupt):
    pass


def _stop_after(chunks: int):
    def on_chunk(p: ChunkProgress) -> None:
        if p.chunks_done == chunks:
            raise Stop()

    return on_chunk


def _same(a, b) -> None:
    np.testing.assert_array_equal(a.series, b.series)  # exact: the same batches drew them
    assert a.ids == b.ids and a.labels == b.labels and a.sources == b.sources
    assert a.meta.extra["synthetic"] == b.meta.extra["synthetic"]


@pytest.mark.parametrize(
    "n, chunk_size, labels, raw",
    [
        (23, 8, None, False),  # a short last chunk
        (23, 1, None, False),  # rounded up to one batch
        (23, None, None, False),  # the default: one chunk
        (12, 4, {"b": 7, "a": 5}, True),
        (9, 5, ["b", "a", "a", "b", "b", "a", "a", "a", "b"], False),  # 5 -> 8: not a row group per 5
    ],
)
def test_chunked_output_is_the_one_shot_draw(synth, tmp_path, n, chunk_size, labels, raw):
    plan = synth.plan(n, labels=labels, seed=3, batch_size=BATCH, raw=raw)
    out = synth.sample_to_parquet(tmp_path / "out.parquet", plan, StreamOptions(chunk_size=chunk_size))
    _same(read_dataset(out), synth.sample(n, labels=labels, seed=3, batch_size=BATCH, raw=raw))
    chunk = chunk_traces(chunk_size, batch_size=BATCH, processes=1)
    assert pq.ParquetFile(out).num_row_groups == math.ceil(n / chunk)  # a row group per chunk
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet"]  # no partial file, no record


@pytest.mark.parametrize("n", [40, 160])
def test_memory_holds_one_chunk_whatever_n(synth, tmp_path, n):
    """What is drawn and held at once is one chunk: the same requests at n and 4n, only more of them."""
    asked = []

    def draw_range(plan, start, stop, *, bar=None):
        asked.append((start, stop))
        return synth.sample_range(plan, start, stop, bar=bar)

    plan = synth.plan(n, seed=1, batch_size=BATCH)
    write_stream(tmp_path / "o.parquet", plan, draw_range, model_digest="m", progress=False,
                 options=StreamOptions(chunk_size=8))
    assert asked == [(lo, lo + 8) for lo in range(0, n, 8)]
    rows = pq.ParquetFile(tmp_path / "o.parquet").metadata
    assert {rows.row_group(i).num_rows for i in range(rows.num_row_groups)} == {8}


class Bar:
    """A progress bar that remembers what it was told."""

    made: list = []

    def __init__(self, total, desc, *, bar, initial=0):
        self.total, self.n = total, initial
        Bar.made.append(self)

    def update(self, k):
        self.n += k

    def close(self):
        pass


def test_an_interrupted_draw_resumes_to_the_uninterrupted_one(synth, tmp_path, monkeypatch):
    from netdiffus import stream

    Bar.made = []
    monkeypatch.setattr(stream, "trace_bar", Bar)
    out = tmp_path / "out.parquet"
    plan = synth.plan(30, seed=7, batch_size=BATCH)
    with pytest.raises(Stop, match=r"out.parquet: 2 of 4 chunks kept; continue with the same command and --resume"):
        synth.sample_to_parquet(out, plan, StreamOptions(chunk_size=8, on_chunk=_stop_after(2)))
    partial, record = partial_paths(out)
    assert not out.exists() and partial.exists()
    kept = json.loads(record.read_text())
    assert len(kept["ends"]) == 2 and kept["request"]["seed"] == 7 and kept["request"]["n"] == 30
    with partial.open("ab") as f:  # what a draw killed while writing its third chunk leaves
        f.write(b"torn")
    seen = []
    synth.sample_to_parquet(out, plan, StreamOptions(chunk_size=8, resume=True, on_chunk=seen.append))
    assert [p.chunks_done for p in seen] == [3, 4]  # only the rest was drawn
    assert [(b.total, b.n) for b in Bar.made] == [(30, 16), (30, 30)]  # the bar went on from 16 on resume
    _same(read_dataset(out), synth.sample(30, seed=7, batch_size=BATCH))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet"]


def test_an_interrupt_before_any_chunk_keeps_nothing(synth, tmp_path):
    def draw_range(plan, start, stop, *, bar=None):
        raise Stop()

    with pytest.raises(Stop, match=r"out.parquet: no chunk was finished, nothing kept"):
        write_stream(tmp_path / "out.parquet", synth.plan(8, batch_size=BATCH), draw_range, model_digest="m",
                     progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(seed=8), "the interrupted draw has seed 7, this one 8"),
        (dict(n=31), "the interrupted draw has n 30, this one 31"),
        (dict(steps=2), "the interrupted draw has sample.steps 3, this one 2"),
        (dict(batch_size=2), "the interrupted draw has sample.batch_size 4, this one 2"),
        (dict(raw=True), "the interrupted draw has postprocess.calibrate_totals True, this one False"),
        (dict(labels={"a": 20, "b": 10}), "the interrupted draw has labels {'a': 15, 'b': 15}, this one "
                                          "{'a': 20, 'b': 10}"),
        (dict(labels=["b"] * 15 + ["a"] * 15), "the interrupted draw was made with labels in another order"),
        (dict(chunk_size=12), "the interrupted draw has chunk_size 8, this one 12"),
        (dict(model="other"), "the interrupted draw was made with other model weights"),
    ],
)
def test_a_resume_of_another_request_is_refused(synth, tmp_path, change, message):
    out = tmp_path / "out.parquet"
    base = dict(n=30, seed=7, batch_size=BATCH)
    with pytest.raises(Stop):
        synth.sample_to_parquet(out, synth.plan(**base), StreamOptions(chunk_size=8, on_chunk=_stop_after(1)))
    chunk_size, model = change.pop("chunk_size", 8), change.pop("model", None)
    plan = synth.plan(**{**base, **change})
    with pytest.raises(InputError) as exc:
        write_stream(out, plan, synth.sample_range, model_digest=model or weights_digest(synth.model_),
                     options=StreamOptions(chunk_size=chunk_size, resume=True), progress=False)
    assert str(exc.value) == (f"cannot resume {out}: {message}; give the options "
                              + ("and run " if "made with" in message else "")
                              + "it was started with, or start again with --force (without --resume)")
    assert len(json.loads(partial_paths(out)[1].read_text())["ends"]) == 1  # the kept draw is untouched


def test_what_lies_beside_the_output_decides(synth, tmp_path):
    out = tmp_path / "out.parquet"
    with pytest.raises(InputError, match=r"cannot resume .*out.parquet: no interrupted draw of it is kept "
                                         r"\(no .out.parquet.progress.json beside it\); leave out --resume"):
        check_stream(out, resume=True, force=False)
    plan = synth.plan(16, seed=2, batch_size=BATCH)
    with pytest.raises(Stop):
        synth.sample_to_parquet(out, plan, StreamOptions(chunk_size=4, on_chunk=_stop_after(1)))
    with pytest.raises(InputError, match=r"an interrupted draw of .*out.parquet is kept \(1 of 4 chunks\); "
                                         r"continue it with --resume, or start again with --force"):
        synth.sample_to_parquet(out, plan, StreamOptions(chunk_size=4))
    synth.sample_to_parquet(out, plan, StreamOptions(chunk_size=4, force=True))  # starts again
    _same(read_dataset(out), synth.sample(16, seed=2, batch_size=BATCH))


def test_the_csv_is_written_with_the_parquet_file(synth, tmp_path):
    plan = synth.plan(10, seed=4, batch_size=BATCH)
    synth.sample_to_parquet(tmp_path / "o.parquet", plan, StreamOptions(chunk_size=4, csv=tmp_path / "o.csv"))
    write_csv(synth.sample(10, seed=4, batch_size=BATCH), tmp_path / "one.csv")
    assert (tmp_path / "o.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()


def test_a_second_draw_into_the_same_output_is_refused(synth, tmp_path):
    out = tmp_path / "out.parquet"
    plan = synth.plan(8, seed=2, batch_size=BATCH)

    def race(p: ChunkProgress) -> None:  # a second command while this one draws
        with pytest.raises(InputError, match=r"out.parquet is being drawn by another netdiffus sample"):
            synth.sample_to_parquet(out, plan, StreamOptions(chunk_size=4, resume=True))

    synth.sample_to_parquet(out, plan, StreamOptions(chunk_size=4, on_chunk=race))
    _same(read_dataset(out), synth.sample(8, seed=2, batch_size=BATCH))


@pytest.mark.parametrize("chunk_size", [0, -3, 2.5, True])
def test_bad_chunk_sizes(chunk_size):
    with pytest.raises(ConfigError) as exc:
        chunk_traces(chunk_size, batch_size=4, processes=1)
    assert str(exc.value) == f"chunk_size must be an integer >= 1 (got {chunk_size!r})"
