"""CSV layouts: wide and long tables, layout detection."""

from __future__ import annotations

import pytest

from netdiffus.errors import InputError
from netdiffus.io.csv_tables import detect_layout, prepare_csv


def test_wide_table(tmp_path):
    p = tmp_path / "wide.csv"
    p.write_text("id,label,v0,v1,v2\nt1,a,1,2,3\nt2,b,4,5,6\n")
    assert detect_layout(p, column=None) == "wide"
    ds, summary = prepare_csv([p], length=2)
    assert ds.ids == ["t1", "t2"] and ds.labels == ["a", "b"]
    assert ds.series[:, 0].tolist() == [[1, 2], [4, 5]]
    assert summary.traces_per_label == {"a": 1, "b": 1}


def test_long_table_in_time_order_without_bins(tmp_path):
    p = tmp_path / "long.csv"
    p.write_text("trace_id,t,bytes\nb,2,9\na,1,5\na,0,7\n")
    assert detect_layout(p, column="bytes") == "long"
    ds, _ = prepare_csv([p], column="bytes")
    assert ds.ids == ["b", "a"] and ds.labels == [".", "."]
    assert ds.series[:, 0].tolist() == [[9.0], [7.0]]  # shortest trace sets the length


def test_per_trace_folder_and_aggregate(tmp_path):
    for cls in ("x", "y"):
        (tmp_path / cls).mkdir()
        (tmp_path / cls / "t.csv").write_text("bytes\n1\n2\n3\n4\n")
    assert detect_layout(tmp_path, column="bytes") == "per-trace"
    ds, summary = prepare_csv([tmp_path], column="bytes", aggregate=2)
    assert ds.series[:, 0].tolist() == [[3, 7], [3, 7]] and ds.labels == ["x", "y"]
    assert summary.files_read == 2


def test_bad_wide_table_is_skipped_or_raises(tmp_path):
    p = tmp_path / "wide.csv"
    p.write_text("id,label,v0,v1\nt1,a,1,oops\n")
    with pytest.raises(InputError) as exc:
        prepare_csv([p], strict=True)
    assert str(exc.value) == f"{p}:2: column 'v1' has a non-numeric value 'oops'"
    with pytest.raises(InputError, match="no usable traces"):
        prepare_csv([p])


def test_several_columns_become_channels(tmp_path):
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "t.csv").write_text("dl,ul\n10,1\n20,2\n30,3\n")
    ds, _ = prepare_csv([tmp_path], column="dl,ul", length=2)
    assert ds.series.tolist() == [[[10, 20], [1, 2]]] and ds.meta.channels == ["dl", "ul"]
    p = tmp_path / "long.csv"
    p.write_text("id,time,dl,ul\na,0.0,5,1\na,0.7,6,2\n")
    ds, _ = prepare_csv([p], column="dl,ul", bin_width_s=0.5)
    assert ds.series.tolist() == [[[5, 6], [1, 2]]]
