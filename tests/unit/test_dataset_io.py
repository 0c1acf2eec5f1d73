import os
import stat

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from netdiffus.errors import DatasetError, InputError
from netdiffus.files import atomic_path, check_output_file
from netdiffus.io.dataset import DatasetMeta, TraceDataset, read_dataset, write_dataset


def _ds(c=2):
    series = np.arange(3 * c * 4, dtype=np.float32).reshape(3, c, 4)
    meta = DatasetMeta(feature="bytes", unit="bytes", bin_width_s=0.25,
                       channels=["bytes_to_host", "bytes_from_host"][:c], extra={"k": {"a": [1, 2]}})
    return TraceDataset(series=series, labels=["x", "y", "x"], ids=["i0", "i1", "i2"], sources=["s"] * 3, meta=meta)


@pytest.mark.parametrize("c", [1, 2])
def test_parquet_round_trip(tmp_path, c):
    ds = _ds(c)
    back = read_dataset(write_dataset(ds, tmp_path / "d.parquet"))
    np.testing.assert_array_equal(back.series, ds.series)
    assert (back.labels, back.ids, back.sources) == (ds.labels, ds.ids, ds.sources)
    assert back.meta == ds.meta
    table = pq.read_table(tmp_path / "d.parquet")
    assert table.column_names == ["id", "label", "source", "series"]
    assert table.schema.field("series").type == pa.list_(pa.float32())
    assert table.column("series")[1].as_py() == ds.series[1].reshape(-1).tolist()  # channel-major


def test_written_files_get_the_usual_permissions(tmp_path):
    umask = os.umask(0o022)
    try:
        write_dataset(_ds(), tmp_path / "d.parquet")
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / "d.parquet").stat().st_mode) == 0o644


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "out.bin") as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_subset_and_counts():
    ds = _ds()
    sub = ds.subset([2, 0])
    assert sub.ids == ["i2", "i0"] and sub.class_counts() == {"x": 2}
    assert ds.subset(np.array([False, True, False])).labels == ["y"]


@pytest.mark.parametrize(
    "setup, message",
    [
        (lambda p: None, "dataset file {p} does not exist"),
        (lambda p: p.write_text("not parquet"), "{p} is not a readable Parquet dataset"),
        (lambda p: pq.write_table(pa.table({"id": ["a"]}), p),
         "{p} is not a netdiffus dataset: missing column(s) label, source, series"),
    ],
)
def test_read_errors(tmp_path, setup, message):
    p = tmp_path / "d.parquet"
    setup(p)
    with pytest.raises(InputError) as exc:
        read_dataset(p)
    assert str(exc.value).startswith(message.format(p=p))


def _rewrite(p, *, meta=None, series=None):
    """Write a valid dataset to ``p``, then replace its schema metadata or its series column."""
    table = pq.read_table(write_dataset(_ds(), p))
    if meta is not None:
        table = table.replace_schema_metadata({b"netdiffus": meta})
    if series is not None:
        table = table.set_column(3, "series", series)
    pq.write_table(table, p)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(meta=b"{not json"), ("{p}: the netdiffus schema metadata is not valid JSON "
                                   "(Expecting property name enclosed in double quotes: line 1 column 2 (char 1))")),
        (dict(meta=b"\xff"), ("{p}: the netdiffus schema metadata is not valid JSON "
                              "('utf-8' codec can't decode byte 0xff in position 0: invalid start byte)")),
        (dict(meta=b"[1, 2]"), "{p}: the netdiffus schema metadata must be a JSON object (got list)"),
        (dict(meta=b'{"channels": []}'),
         "{p}: the netdiffus schema metadata: channels must be a non-empty list of strings (got [])"),
        (dict(meta=b'{"channels": "ab"}'),
         "{p}: the netdiffus schema metadata: channels must be a non-empty list of strings (got 'ab')"),
        # every field of the metadata is untrusted: wrong types and values out of bounds are named
        (dict(meta=b'{"channels": [1]}'),
         "{p}: the netdiffus schema metadata: channels must be a non-empty list of strings (got [1])"),
        (dict(meta=b'{"bin_width_s": "x"}'),
         "{p}: the netdiffus schema metadata: bin_width_s must be a finite number > 0 or null (got 'x')"),
        (dict(meta=b'{"bin_width_s": NaN}'),
         "{p}: the netdiffus schema metadata: bin_width_s must be a finite number > 0 or null (got nan)"),
        (dict(meta=b'{"bin_width_s": -1}'),
         "{p}: the netdiffus schema metadata: bin_width_s must be a finite number > 0 or null (got -1)"),
        (dict(meta=b'{"feature": 3}'), "{p}: the netdiffus schema metadata: feature must be a string (got 3)"),
        (dict(meta=b'{"unit": null}'), "{p}: the netdiffus schema metadata: unit must be a string (got None)"),
        (dict(meta=b'{"extra": []}'), "{p}: the netdiffus schema metadata: extra must be an object (got [])"),
        (dict(series=pa.array([1, 2, 3])), "{p}: column series must hold lists of numbers (got int64)"),
        (dict(series=pa.array([["a"], ["b"], ["c"]])),
         "{p}: column series must hold lists of numbers (got list<element: string>)"),
    ],
)
def test_malformed_files_are_input_errors(tmp_path, kwargs, message):
    p = tmp_path / "d.parquet"
    _rewrite(p, **kwargs)
    with pytest.raises(InputError) as exc:
        read_dataset(p)
    assert str(exc.value) == message.format(p=p)


def test_shape_and_nan_checks():
    with pytest.raises(DatasetError, match=r"labels must have one entry per trace \(3\) \(got 2\)"):
        TraceDataset(series=np.zeros((3, 1, 4)), labels=["a", "b"], ids=["1", "2", "3"], sources=["s"] * 3)
    ds = _ds()
    ds.series[1, 0, 2] = np.inf
    with pytest.raises(DatasetError, match=r"dataset has 1 NaN or infinite values \(first in trace 'i1' from s\)"):
        ds.validate()


@pytest.mark.parametrize(
    "setup, target, message",
    [
        (lambda d: (d / "out").mkdir(), "out", "output path {d}/out is a folder; give a file name"),
        (lambda d: (d / "a.parquet").write_text("x"), "a.parquet/x.parquet",
         "output path {d}/a.parquet/x.parquet is inside {d}/a.parquet, which is a file, not a folder"),
        (lambda d: (d / "a.parquet").write_text("x"), "a.parquet/new/x.parquet",
         "output path {d}/a.parquet/new/x.parquet is inside {d}/a.parquet, which is a file, not a folder"),
    ],
)
def test_atomic_path_refuses_a_folder_or_a_file_as_parent(tmp_path, setup, target, message):
    setup(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    for write in (lambda p: write_dataset(_ds(), p), lambda p: atomic_path(p).__enter__()):
        with pytest.raises(InputError) as exc:
            write(tmp_path / target)
        assert str(exc.value) == message.format(d=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no temporary file left


def test_atomic_path_removes_its_temp_file_when_the_rename_fails(tmp_path, monkeypatch):
    def fail(src, dst):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(InputError, match=r"^cannot write .*/d\.parquet: Permission denied$"):
        write_dataset(_ds(), tmp_path / "d.parquet")
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_output_turned_into_a_folder_while_writing(tmp_path):
    with (pytest.raises(InputError, match=r"^output path .*/out is a folder; give a file name$"),
          atomic_path(tmp_path / "out") as tmp):
        tmp.write_bytes(b"data")
        (tmp_path / "out").mkdir()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_check_output_file_accepts_new_and_existing_files(tmp_path):
    (tmp_path / "old.parquet").write_text("x")
    assert check_output_file(tmp_path / "old.parquet") == tmp_path / "old.parquet"
    assert check_output_file(tmp_path / "new" / "sub" / "d.parquet") == tmp_path / "new" / "sub" / "d.parquet"


def test_a_path_where_a_dataset_belongs_is_one_input_error(tmp_path):
    from conftest import toy_dataset
    from netdiffus.evaluation import evaluate
    from netdiffus.export.pcap import export_pcap
    from netdiffus.io.split import split_dataset

    ds = toy_dataset()
    calls = [
        ("dataset", lambda: write_dataset("x.parquet", tmp_path / "y.parquet")),
        ("real_train", lambda: evaluate("x.parquet", ds)),
        ("synthetic", lambda: evaluate(ds, None)),
        ("real_test", lambda: evaluate(ds, ds, real_test="x.parquet")),
        ("dataset", lambda: export_pcap("x.parquet", tmp_path / "x.pcap")),
        ("dataset", lambda: split_dataset("x.parquet")),
    ]
    for name, call in calls:
        with pytest.raises(InputError) as exc:
            call()
        assert str(exc.value).startswith(f"{name} must be a TraceDataset (got ")
        assert str(exc.value).endswith("; read a file with read_dataset(path)")


def test_series_and_metadata_that_disagree_on_channels_say_both():
    with pytest.raises(DatasetError) as exc:
        TraceDataset(series=np.zeros((2, 3, 4)), labels=["a", "b"], ids=["0", "1"], sources=["s", "s"],
                     meta=DatasetMeta(feature="bytes", unit="bytes", channels=["bytes"]))
    assert str(exc.value) == ("the series have 3 channel(s) [N, C, T] = [2, 3, 4] but meta.channels names 1 "
                              "(['bytes']): series and metadata disagree")  # was: "must name 3 channels"


def test_lengths_round_trip_and_travel_with_a_subset(tmp_path):
    ds = _ds()
    ds.lengths = np.array([4, 1, 0])
    back = read_dataset(write_dataset(ds, tmp_path / "d.parquet"))
    assert back.lengths is not None and back.lengths.tolist() == [4, 1, 0]
    assert back.padding_share() == pytest.approx(7 / 12)
    assert back.subset([2, 0]).lengths.tolist() == [0, 4]
    assert pq.read_table(tmp_path / "d.parquet").column_names == ["id", "label", "source", "series", "length"]
    assert read_dataset(write_dataset(_ds(), tmp_path / "e.parquet")).lengths is None


@pytest.mark.parametrize(
    "lengths, message",
    [
        ([1, 2], "lengths must be 3 integers, one per trace (got int64 of shape (2,))"),
        ([1.5, 2, 3], "lengths must be 3 integers, one per trace (got float64 of shape (3,))"),
        ([1, 5, 0], "lengths must be from 0 to the series length 4 (got 5 for trace 1)"),
        ([1, -1, 0], "lengths must be from 0 to the series length 4 (got -1 for trace 1)"),
    ],
)
def test_bad_lengths_are_refused(lengths, message):
    ds = _ds()
    with pytest.raises(DatasetError) as exc:
        TraceDataset(series=ds.series, labels=ds.labels, ids=ds.ids, sources=ds.sources, lengths=np.array(lengths))
    assert str(exc.value) == message


def test_a_length_column_a_reader_cannot_use_is_an_input_error(tmp_path):
    p = write_dataset(_ds(), tmp_path / "d.parquet")
    table = pq.read_table(p)
    pq.write_table(table.append_column("length", pa.array([1, 9, 2], pa.int32())), p)
    with pytest.raises(InputError) as exc:
        read_dataset(p)
    assert str(exc.value) == f"{p}: column length: lengths must be from 0 to the series length 4 (got 9 for trace 1)"
    pq.write_table(table.append_column("length", pa.array(["a", "b", "c"])), p)
    with pytest.raises(InputError) as exc:
        read_dataset(p)
    assert str(exc.value) == f"{p}: column length must hold an integer per trace (got string)"
