"""CSV traces: the bins of each trace that hold data, padding in the summary, and the default
length (the shortest trace) warned about when it cuts most traces short."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from netdiffus.io.csv_tables import prepare_csv
from netdiffus.io.csv_traces import read_csv_traces


def _folder(root, rows):
    """One per-trace file per entry of ``rows`` ({name: number of rows}), in class folder ``c``."""
    (root / "c").mkdir(parents=True)
    for name, n in rows.items():
        (root / "c" / f"{name}.csv").write_text("bytes\n" + "".join(f"{k % 7}\n" for k in range(n)))
    return root


@pytest.mark.parametrize(
    "length, aggregate, t, lengths",
    [
        (None, 1, 5, [5, 5, 5]),  # cut to the shortest: no padding
        (20, 1, 20, [20, 20, 5]),
        (240, 4, 240, [15, 15, 2]),  # 60 rows of 4 -> 15 bins; 5 rows -> 2 (the last one padded)
        (10, 4, 10, [10, 10, 2]),
    ],
)
def test_per_trace_files_keep_their_data_length(tmp_path, length, aggregate, t, lengths):
    root = _folder(tmp_path, {"a": 60, "b": 60, "s": 5})
    ds, summary = prepare_csv([root], column="bytes", length=length, aggregate=aggregate)
    assert ds.length == t and ds.lengths is not None and ds.lengths.tolist() == lengths
    assert summary.padding_share == pytest.approx(1 - sum(lengths) / (3 * t))
    assert summary.traces_padded == sum(n < t for n in lengths)


def test_the_default_length_names_the_file_that_cuts_every_trace(tmp_path, caplog):
    root = _folder(tmp_path, {"a": 60, "b": 60, "s": 5})
    with caplog.at_level(logging.WARNING):
        prepare_csv([root], column="bytes")
    assert [r.getMessage() for r in caplog.records] == [
        f"{root / 'c' / 's.csv'} is the shortest trace (5 bins, the median 60): without --length every trace is cut "
        "to it; give --length to keep more (shorter traces are then zero padded, and their length kept)"]
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        prepare_csv([root], column="bytes", length=60)  # a length given: nothing to warn about the default
        read_csv_traces(_folder(tmp_path / "even", {"a": 60, "b": 40}), column="bytes")  # 40 >= half of 50
    assert caplog.records == []


def test_mostly_padding_is_warned_about_once(tmp_path, caplog):
    root = _folder(tmp_path, {"a": 60, "b": 60})
    with caplog.at_level(logging.WARNING):
        _, summary = prepare_csv([root], column="bytes", length=240, aggregate=4)
    assert [r.getMessage() for r in caplog.records] == [
        "94 % of the dataset is zero padding: 2 of 2 traces end before the series length 240 (median 15 positions of "
        "data); a smaller length (--length) keeps less padding"]
    assert "padding: 93.8 % of the values (2 of 2 traces end before the series length; median 15 positions of data)" \
        in summary.format_text()


def test_long_table_rows_are_the_data_length(tmp_path):
    p = tmp_path / "long.csv"
    p.write_text("trace_id,t,bytes\n" + "".join(f"a,{k},1\n" for k in range(6)) + "b,0,0\nb,1,0\n")
    ds, _ = prepare_csv([p], column="bytes", length=8)
    assert ds.lengths is not None and ds.lengths.tolist() == [6, 2]  # zeros in a row are data, not padding
    assert np.array_equal(ds.series[1, 0], np.zeros(8))
