"""CSV layouts: wide and long tables, layout detection, bad files, the netdiffus CSV round trip."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from netdiffus.errors import ConfigError, InputError
from netdiffus.export.tabular import write_csv
from netdiffus.io.csv_common import format_columns, skip_reason
from netdiffus.io.csv_tables import detect_layout, prepare_csv, wide_channels
from netdiffus.io.csv_traces import read_csv_traces
from netdiffus.io.dataset import DatasetMeta, TraceDataset

LATIN1 = "id,label,caf\xe9_0\nt1,a,1\n".encode("latin-1")
BINARY = bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000")  # a pcap header


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
    with pytest.raises(InputError) as exc:
        prepare_csv([p])
    assert str(exc.value) == (f"no usable traces in {p} (1 skipped; first: {p}: line 2: column 'v1' has a "
                              "non-numeric value 'oops')")


@pytest.mark.parametrize(
    "table, message",
    [
        ("id,v0,v1\nt1,1,2\nt2,nan,3\n", ":3: column 'v0' has a NaN or infinite value"),
        ("id,v0,v1\nt1,1,inf\nt2,nan,NaN\n", ":2: column 'v1' has a NaN or infinite value (and 2 more cell(s))"),
    ],
)
def test_a_wide_table_names_its_first_nan_cell(tmp_path, table, message):
    p = tmp_path / "wide.csv"
    p.write_text(table)
    with pytest.raises(InputError) as exc:
        prepare_csv([p], strict=True)
    assert str(exc.value) == f"{p}{message}"


def test_several_columns_become_channels(tmp_path):
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "t.csv").write_text("dl,ul\n10,1\n20,2\n30,3\n")
    ds, _ = prepare_csv([tmp_path], column="dl,ul", length=2)
    assert ds.series.tolist() == [[[10, 20], [1, 2]]] and ds.meta.channels == ["dl", "ul"]
    p = tmp_path / "long.csv"
    p.write_text("id,time,dl,ul\na,0.0,5,1\na,0.7,6,2\n")
    ds, _ = prepare_csv([p], column="dl,ul", bin_width_s=0.5)
    assert ds.series.tolist() == [[[5, 6], [1, 2]]]


# -- files that are not UTF-8 text --------------------------------------------------------------
@pytest.mark.parametrize(
    "data, kwargs, message",
    [
        (LATIN1, {}, "{p}: not a UTF-8 text CSV file (undecodable byte 0xe9)"),
        (LATIN1, {"layout": "wide", "strict": True}, "{p}: not a UTF-8 text CSV file (undecodable byte 0xe9)"),
        (LATIN1, {"layout": "long", "strict": True}, "{p}: not a UTF-8 text CSV file (undecodable byte 0xe9)"),
        (LATIN1, {"layout": "wide"},
         "no usable traces in {p} (1 skipped; first: {p}: not a UTF-8 text CSV file (undecodable byte 0xe9))"),
        (BINARY, {"column": "x"}, "{p}: not a UTF-8 text CSV file (undecodable byte 0xd4)"),
        (BINARY, {"column": "x", "layout": "per-trace"},
         "no usable traces under {p} (1 file(s) skipped; first: {p}: not a UTF-8 text CSV file (undecodable "
         "byte 0xd4))"),
    ],
)
def test_a_file_that_is_not_utf8_is_one_input_error(tmp_path, data, kwargs, message):
    p = tmp_path / "t.csv"
    p.write_bytes(data)
    with pytest.raises(InputError) as exc:
        prepare_csv([p], **kwargs)
    assert str(exc.value) == message.format(p=p)


def test_a_binary_file_in_a_folder_is_skipped_with_a_warning(tmp_path, caplog):
    for cls in ("A", "B"):
        (tmp_path / cls).mkdir()
    (tmp_path / "A" / "t.csv").write_bytes(BINARY)
    (tmp_path / "B" / "t.csv").write_text("bytes\n1\n2\n")
    with caplog.at_level(logging.WARNING):
        ds, summary = prepare_csv([tmp_path], column="bytes")
    assert ds.labels == ["B"] and summary.files_read == 1
    reason = "not a UTF-8 text CSV file (undecodable byte 0xd4)"
    assert summary.skipped == [(str(tmp_path / "A" / "t.csv"), reason)]
    assert caplog.messages == [f"skipped {tmp_path / 'A' / 't.csv'}: {reason}"]


# -- messages -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "rows, reason",
    [
        ("bytes\n1\n\n2\nx\n", "line 5: column 'bytes' has a non-numeric value 'x'"),
        ("bytes\n1\ninf\n", "line 3: column 'bytes' has a NaN or infinite value"),
        ("bytes\n", "column 'bytes' has no rows"),
        ("", "file is empty"),
    ],
)
def test_a_skipped_file_is_named_once(tmp_path, rows, reason):
    (tmp_path / "ok.csv").write_text("bytes\n1\n2\n")
    (tmp_path / "bad.csv").write_text(rows)
    _, summary = read_csv_traces(tmp_path, column="bytes", strict=False)
    assert summary.skipped == [(str(tmp_path / "bad.csv"), reason)]


@pytest.mark.parametrize(
    "names, limit, text",
    [
        (["a", "bb", "c"], 200, "a, bb, c"),
        (["", "a", "bb"], 200, "a, bb"),  # the unnamed index column is left out
        (["abc", "def", "ghi"], 8, "abc, def and 1 more"),
        (["abc", "def", "ghi"], 7, "abc and 2 more"),
        (["abcdefghij", "k"], 3, "abcdefghij and 1 more"),  # at least one whole name
    ],
)
def test_format_columns_cuts_at_a_whole_name(names, limit, text):
    assert format_columns(names, limit=limit) == text


def test_missing_column_lists_whole_names(tmp_path):
    header = [f"column_number_{i:02d}" for i in range(20)]
    (tmp_path / "t.csv").write_text(",".join(header) + "\n" + ",".join("1" * 20) + "\n")
    with pytest.raises(InputError) as exc:
        read_csv_traces(tmp_path, column="nope")
    # 11 names take 11 * 16 + 10 * 2 = 196 characters; a 12th would pass 200
    assert str(exc.value) == (f"{tmp_path / 't.csv'}: no column 'nope' (columns: {', '.join(header[:11])} "
                              "and 9 more)")


@pytest.mark.parametrize(
    "message, reason",
    [
        ("{p}: file is empty", "file is empty"),
        ("{p}:12: column 'x' is bad", "line 12: column 'x' is bad"),
        ("other: {p}", "other: {p}"),
    ],
)
def test_skip_reason(tmp_path, message, reason):
    p = tmp_path / "t.csv"
    assert skip_reason(InputError(message.format(p=p)), p) == reason.format(p=p)


@pytest.mark.parametrize("unit, stored", [("", "values"), ("bytes", "bytes")])
def test_unit_is_stored_as_printed(tmp_path, unit, stored):
    (tmp_path / "t.csv").write_text("bytes\n1\n2\n")
    ds, _ = prepare_csv([tmp_path], column="bytes", unit=unit)
    assert ds.meta.unit == stored


# -- the CSV netdiffus writes reads back ------------------------------------------------------------
def _written(tmp_path, channels):
    rng = np.random.default_rng(0)
    ds = TraceDataset(series=(rng.random((4, len(channels), 6)) * 1e5).astype(np.float32), labels=["a", "a", "b", "b"],
                      ids=["t0", "t1", "t2", "t3"], sources=["netdiffus"] * 4,
                      meta=DatasetMeta(feature="bytes", unit="bytes", channels=channels))
    return ds, write_csv(ds, tmp_path / "synthetic.csv")


@pytest.mark.parametrize("channels", [["frame_sum_dl"], ["bytes_to_host", "bytes_from_host"]])
def test_netdiffus_csv_round_trip(tmp_path, channels):
    ds, p = _written(tmp_path, channels)
    assert detect_layout(p, column=None) == detect_layout(p, column=channels[0]) == "wide"
    back, summary = prepare_csv([p])
    assert not summary.skipped
    np.testing.assert_array_equal(back.series, ds.series)
    assert (back.labels, back.ids, back.meta.channels) == (ds.labels, ds.ids, channels)
    assert back.sources == [str(p)] * 4


def test_netdiffus_csv_channels_by_name(tmp_path):
    ds, p = _written(tmp_path, ["bytes_to_host", "bytes_from_host"])
    back, _ = prepare_csv([p], column="bytes_from_host")
    np.testing.assert_array_equal(back.series, ds.series[:, 1:])
    assert back.meta.channels == ["bytes_from_host"]
    with pytest.raises(InputError) as exc:
        prepare_csv([p], column="bytes", strict=True)
    assert str(exc.value) == f"{p}: no channel 'bytes' (channels: bytes_to_host, bytes_from_host)"


def test_a_source_column_is_metadata_in_any_wide_table(tmp_path):
    p = tmp_path / "w.csv"
    p.write_text("label,source,v0,v1\na,netdiffus,1,2\n")
    ds, _ = prepare_csv([p])
    assert ds.series.tolist() == [[[1, 2]]] and ds.meta.channels == ["value"]
    with pytest.raises(ConfigError) as exc:
        prepare_csv([p], column="x,y", layout="wide")
    assert str(exc.value) == f"{p} is a wide CSV table of one channel: give at most one column (got 'x,y')"


@pytest.mark.parametrize(
    "names, channels",
    [
        (["x_0", "x_1"], [("x", 2)]),
        (["up_0", "up_1", "down_0", "down_1"], [("up", 2), ("down", 2)]),
        (["a_b_0", "a_b_1"], [("a_b", 2)]),
        (["v0", "v1"], None),
        (["x_1", "x_2"], None),  # not from 0
        (["x_0", "x_2"], None),  # a gap
        (["up_0", "up_1", "down_0"], None),  # different lengths
        (["up_0", "down_0", "up_1"], None),  # interleaved
        ([], None),
    ],
)
def test_wide_channels(names, channels):
    assert wide_channels(names) == channels


@pytest.mark.parametrize("column", ["", " , "])
def test_an_empty_column_option_is_one_config_error(tmp_path, column):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "t.csv").write_text("bytes\n1\n2\n")
    with pytest.raises(ConfigError) as exc:
        prepare_csv([tmp_path], column=column)
    assert str(exc.value) == f"column must name at least one column (got {column!r})"


@pytest.mark.parametrize(
    "as_folder, message",
    [
        (True, "column is required for per-trace CSV files (e.g. --column frame_sum_dl)"),
        (False, "{f} reads as one trace per file (columns: time, bytes): name its value column (--column bytes), "
                "or give --csv-layout wide or long"),
    ],
)
def test_a_per_trace_read_without_a_column_says_what_to_give(tmp_path, as_folder, message):
    (tmp_path / "a").mkdir()
    f = tmp_path / "a" / "t.csv"
    f.write_text("time,bytes\n0,1\n1,2\n")
    with pytest.raises(ConfigError) as exc:
        prepare_csv([tmp_path if as_folder else f])
    assert str(exc.value) == message.format(f=f)


# -- labels of CSV traces: regex:, csv:, column: ----------------------------------------------------
def _video_files(root):
    for i, (folder, platform) in enumerate([("yt", "YouTube"), ("yt", "YouTube"), ("nf", "Netflix")]):
        (root / folder).mkdir(exist_ok=True)
        (root / folder / f"Vid_{i}_s.csv").write_text(
            "platform,bytes\n" + "".join(f"{platform},{k}\n" for k in range(4)))
    return root


@pytest.mark.parametrize("label_from, labels", [
    ("folder", ["nf", "yt", "yt"]),
    (r"regex:Vid_(\d)_", ["2", "0", "1"]),
    ("column:platform", ["Netflix", "YouTube", "YouTube"]),
])
def test_csv_traces_take_labels_from_regex_and_columns(tmp_path, label_from, labels):
    ds, _ = prepare_csv([_video_files(tmp_path)], column="bytes", label_from=label_from)
    assert ds.ids == ["nf/Vid_2_s", "yt/Vid_0_s", "yt/Vid_1_s"] and ds.labels == labels


def test_csv_traces_take_labels_from_a_table_of_file_names(tmp_path):
    table = tmp_path / "labels.csv"
    table.write_text("file,label\nVid_0_s.csv,short\nyt/Vid_1_s,long\n")
    (tmp_path / "t").mkdir()
    ds, summary = prepare_csv([_video_files(tmp_path / "t")], column="bytes", label_from=f"csv:{table}")
    assert ds.labels == ["short", "long"] and len(summary.skipped) == 1  # Vid_2 has no row


def test_a_label_column_that_changes_within_a_file_skips_it(tmp_path):
    (tmp_path / "a.csv").write_text("platform,bytes\nYouTube,1\nNetflix,2\n")
    (tmp_path / "b.csv").write_text("platform,bytes\nYouTube,1\nYouTube,2\n")
    ds, summary = prepare_csv([tmp_path], column="bytes", label_from="column:platform")
    assert ds.labels == ["YouTube"]
    assert summary.skipped == [(str(tmp_path / "a.csv"), "column 'platform' changes within the file (Netflix, "
                                "YouTube): a trace file has one label")]


def test_tables_take_labels_from_a_column_or_from_the_trace_id(tmp_path):
    wide = tmp_path / "wide.csv"
    wide.write_text("id,platform,v0,v1\nVid_1_a,yt,1,2\nVid_2_b,nf,3,4\n")
    ds, _ = prepare_csv([wide], label_from="column:platform")
    assert ds.labels == ["yt", "nf"] and ds.series[:, 0].tolist() == [[1, 2], [3, 4]]  # not a value column
    wide.write_text("id,v0,v1\nVid_1_a,1,2\nVid_2_b,3,4\n")
    ds, summary = prepare_csv([wide], label_from=r"regex:Vid_(1)_")
    assert ds.labels == ["1"] and summary.warnings == [(str(wide), "1 trace(s) without a label left out")]
    long = tmp_path / "long.csv"
    long.write_text("id,time,value,platform\na,0,1,yt\na,1,2,yt\nb,0,3,nf\nb,1,4,nf\n")
    ds, _ = prepare_csv([long], label_from="column:platform")
    assert ds.labels == ["yt", "nf"]


def test_label_sources_that_do_not_fit_the_input_kind_are_refused_in_one_line(tmp_path):
    from netdiffus.prepare import prepare

    flows = tmp_path / "flows.csv"
    flows.write_text("Source IP,Source Port,Destination IP,Destination Port,Protocol,Label\n"
                     "10.0.0.1,1,10.0.0.2,2,6,x\n")
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "a.csv").write_text("bytes\n1\n")
    with pytest.raises(ConfigError, match="is a flow table .5-tuples.: it labels flows of captures, not CSV traces"):
        prepare_csv([tmp_path / "t"], column="bytes", label_from=f"csv:{flows}")
    with pytest.raises(ConfigError) as exc:
        prepare([Path(__file__).parents[2] / "data" / "pcap" / "golden.pcap"], label_from="column:platform")
    assert str(exc.value) == ("label_from column:platform takes labels from a column of CSV traces; captures take "
                              "them from folder, regex:PATTERN or csv:FILE")


def test_a_bad_regex_is_shown_as_typed(tmp_path):
    with pytest.raises(ConfigError) as exc:
        prepare_csv([tmp_path], column="bytes", label_from=r"regex:(\d")
    assert str(exc.value) == \
        r"label_from regex is invalid: missing ), unterminated subpattern at position 0 (got '(\d')"


# -- bounded long tables -------------------------------------------------------------------------------
def test_a_long_table_of_a_long_span_and_tiny_bins_is_refused_up_front_or_bounded_by_length(tmp_path):
    p = tmp_path / "long.csv"
    p.write_text("id,time,value\n" + "".join(f"t{i},0,1\nt{i},{86400 * 365},2\n" for i in range(3)))
    with pytest.raises(ConfigError) as exc:  # was: asking numpy for terabytes
        prepare_csv([p], bin_width_s=0.001)
    assert str(exc.value) == (f"{p}: 3 traces of 31,536,000,001 bins of 0.001 s would take 756.9 GB: give "
                              "--length (the bins to keep) or a wider --bin-width")
    ds, _ = prepare_csv([p], bin_width_s=0.001, length=4, aggregate=2)
    assert ds.series[:, 0].tolist() == [[1, 0, 0, 0]] * 3


def test_a_long_table_spanning_more_bins_than_a_float_counts_is_one_line(tmp_path):
    p = tmp_path / "huge.csv"
    p.write_text("id,time,value\na,0,1\na,1e308,2\n")
    with pytest.raises(ConfigError, match="1 traces of inf bins of 0.001 s would take inf GB: give --length"):
        prepare_csv([p], bin_width_s=0.001)  # was: OverflowError, "a bug in netdiffus"
    ds, _ = prepare_csv([p], bin_width_s=0.001, length=3)
    assert ds.series[:, 0].tolist() == [[1, 0, 0]]
    (tmp_path / "empty.csv").write_text("id,time,value\n")
    _, summary = prepare_csv([p, tmp_path / "empty.csv"], bin_width_s=0.001, length=3, layout="long")
    assert summary.skipped == [(str(tmp_path / "empty.csv"), "table has no rows")]
