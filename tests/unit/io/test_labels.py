"""Label sources: folder, regex, csv by file name, csv by 5-tuple and time."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from netdiffus.errors import ConfigError, InputError
from netdiffus.io.assembly import FlowKey
from netdiffus.io.labels import CsvFlowLabels, parse_label_from

ROOT = Path("/data/captures")


@pytest.mark.parametrize(
    "spec, path, label",
    [
        ("folder", ROOT / "Aria" / "Setup-A-1-STA.pcap", "Aria"),
        ("folder", ROOT / "a" / "b" / "x.pcap", "a/b"),
        ("folder", ROOT / "x.pcap", "."),
        ("regex:Setup-(\\w)-", ROOT / "Aria" / "Setup-C-1-STA.pcap", "C"),
        ("regex:^[^/]+", ROOT / "Aria" / "Setup-C-1-STA.pcap", "Aria"),
        ("regex:nomatch", ROOT / "Aria" / "x.pcap", None),
    ],
)
def test_file_labels(spec, path, label):
    assert parse_label_from(spec).label_file(path, ROOT) == label


def test_csv_by_file_name(tmp_path):
    table = tmp_path / "labels.csv"
    table.write_text("file,label\nSetup-A-1-STA.pcap,plug\nAria/Setup-A-2-STA.pcap,scale\n")
    lab = parse_label_from(f"csv:{table}")
    assert lab.label_file(ROOT / "Aria" / "Setup-A-1-STA.pcap", ROOT) == "plug"
    assert lab.label_file(ROOT / "Aria" / "Setup-A-2-STA.pcap", ROOT) == "scale"
    assert lab.label_file(ROOT / "Aria" / "other.pcap", ROOT) is None


def test_csv_by_five_tuple_and_time(tmp_path):
    table = tmp_path / "flows.csv"
    table.write_text(
        "Flow ID, Source IP, Source Port, Destination IP, Destination Port, Protocol, Timestamp, Label\n"
        "x,10.0.0.2,80,10.0.0.1,5000,6,03/07/2017 09:00:00,BENIGN\n"
        "x,10.0.0.1,5000,10.0.0.2,80,6,03/07/2017 09:10:00,BOT\n"
    )
    lab = parse_label_from(f"csv:{table}", utc_offset_h=-3, time_window_s=60)
    assert isinstance(lab, CsvFlowLabels) and lab.per_flow
    flow = FlowKey(6, "10.0.0.1", 5000, "10.0.0.2", 80)
    t0 = 1499083200.0  # 2017-07-03 12:00:00 UTC = 09:00 at UTC-3
    assert lab.label_flow(ROOT / "x.pcap", ROOT, flow, t0 + 5) == "BENIGN"  # either direction matches
    assert lab.label_flow(ROOT / "x.pcap", ROOT, flow, t0 + 600) == "BOT"
    assert lab.label_flow(ROOT / "x.pcap", ROOT, flow, t0 + 300) is None  # outside both windows
    assert lab.label_flow(ROOT / "x.pcap", ROOT, FlowKey(17, "10.0.0.1", 5000, "10.0.0.2", 80), t0) is None


@pytest.mark.parametrize(
    "offset_h, window_s, start, expected",
    [
        (-3, None, 5.0, ("BENIGN", 5.0)),
        (-3, None, 590.0, ("BOT", 10.0)),
        (0, None, 5.0, ("BOT", 3 * 3600 - 600 + 5.0)),  # local time read as UTC: the wrong row, hours off
        (0, 60, 5.0, None),  # ... which a window refuses
    ],
)
def test_match_flow_says_how_far_the_row_is(tmp_path, offset_h, window_s, start, expected):
    table = tmp_path / "flows.csv"
    table.write_text(
        "Source IP, Source Port, Destination IP, Destination Port, Protocol, Timestamp, Label\n"
        "10.0.0.2,80,10.0.0.1,5000,6,03/07/2017 09:00:00,BENIGN\n"
        "10.0.0.1,5000,10.0.0.2,80,6,03/07/2017 09:10:00,BOT\n"
    )
    lab = parse_label_from(f"csv:{table}", utc_offset_h=offset_h, time_window_s=window_s)
    flow = FlowKey(6, "10.0.0.1", 5000, "10.0.0.2", 80)
    assert lab.match_flow(flow, 1499083200.0 + start) == expected  # 2017-07-03 12:00:00 UTC


def test_a_table_without_times_matches_whatever_the_window(tmp_path):
    table = tmp_path / "flows.csv"
    table.write_text("id,label,transport,client,client_port,server,server_port,packets,bytes\n"
                     "syn-0,YouTube,tcp,192.0.2.1,40000,198.51.100.1,443,10,9000\n")
    lab = parse_label_from(f"csv:{table}", time_window_s=60)
    label, gap = lab.match_flow(FlowKey(6, "192.0.2.1", 40000, "198.51.100.1", 443), 1.7e9)
    assert label == "YouTube" and math.isnan(gap)


def test_csv_by_five_tuple_from_an_export_flow_table(tmp_path):
    # the columns `netdiffus export --flows` writes: no time, transport by name
    table = tmp_path / "flows.csv"
    table.write_text(
        "id,label,transport,client,client_port,server,server_port,packets,bytes\n"
        "syn-0-000000,YouTube,tcp,192.0.2.1,40000,198.51.100.1,443,10,9000\n"
        "syn-0-000001,Netflix,udp,192.0.2.1,40001,198.51.100.2,443,5,4000\n"
    )
    lab = parse_label_from(f"csv:{table}")
    assert isinstance(lab, CsvFlowLabels)
    assert lab.label_flow(ROOT / "x.pcap", ROOT, FlowKey(6, "198.51.100.1", 443, "192.0.2.1", 40000), 1e9) == "YouTube"
    assert lab.label_flow(ROOT / "x.pcap", ROOT, FlowKey(17, "192.0.2.1", 40001, "198.51.100.2", 443), 0.0) == "Netflix"
    assert lab.label_flow(ROOT / "x.pcap", ROOT, FlowKey(6, "192.0.2.1", 40001, "198.51.100.2", 443), 0.0) is None


@pytest.mark.parametrize(
    "spec, error, message",
    [
        ("files", ConfigError, "label_from must be folder, regex:PATTERN, csv:FILE or column:NAME (got 'files')"),
        ("regex:(", ConfigError,
         "label_from regex is invalid: missing ), unterminated subpattern at position 0 (got '(')"),
        ("csv:/nonexistent.csv", InputError, "label file /nonexistent.csv does not exist"),
    ],
)
def test_errors(spec, error, message):
    with pytest.raises(error) as exc:
        parse_label_from(spec)
    assert str(exc.value) == message


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(time_window_s=-1.0), "label_window must be >= 0 (got -1)"),
        (dict(time_window_s=float("nan")), "label_window must be >= 0 (got nan)"),
        (dict(utc_offset_h=99.0), "label_utc_offset must be strictly between -24 and 24 hours (got 99)"),
        (dict(utc_offset_h=-24.0), "label_utc_offset must be strictly between -24 and 24 hours (got -24)"),
        (dict(utc_offset_h=float("inf")), "label_utc_offset must be strictly between -24 and 24 hours (got inf)"),
    ],
)
@pytest.mark.parametrize("spec", ["folder", "csv:{table}"])
def test_flow_table_options_are_checked_up_front(tmp_path, spec, kwargs, message):
    table = tmp_path / "flows.csv"
    table.write_text(
        "Source IP,Source Port,Destination IP,Destination Port,Protocol,Timestamp,Label\n"
        "10.0.0.2,80,10.0.0.1,5000,6,03/07/2017 09:00:00,BENIGN\n"
    )
    with pytest.raises(ConfigError) as exc:
        parse_label_from(spec.format(table=table), **kwargs)
    assert str(exc.value) == message


def test_edge_values_of_the_flow_table_options(tmp_path):
    assert parse_label_from("folder", time_window_s=0.0, utc_offset_h=23.5)
    assert parse_label_from("folder", time_window_s=None, utc_offset_h=-23.99)


@pytest.mark.parametrize(
    "data, message",
    [
        ("file,label\nx.pcap,caf\xe9\n".encode("latin-1"),
         "label file {p}: not a UTF-8 text CSV file (undecodable byte 0xe9)"),
        (b"key,label\nx.pcap,a\n",
         "label file {p} needs a file column (file, filename, file_name, name, path, id, trace_id, trace) or the "
         "flow columns "
         "(source ip, source port, destination ip, destination port, protocol, or client, client_port, server, "
         "server_port, transport as netdiffus export --flows writes them)"),
        (b"id,label,client,client_port,server,server_port,transport\nt0,a,192.0.2.1,x,198.51.100.1,443,tcp\n",
         "{p}:2: bad address, port or protocol in '192.0.2.1'"),
        (b"id,label,client,client_port,server,server_port,transport\nt0,a,192.0.2.1,5,198.51.100.1,443,sctp\n",
         "{p}:2: bad address, port or protocol in '192.0.2.1'"),
        (("f" * 150 + "," + "g" * 150 + "\n").encode(),
         "label file {p} has no 'label' column (columns: " + "f" * 150 + " and 1 more)"),
    ],
)
def test_bad_label_files(tmp_path, data, message):
    p = tmp_path / "labels.csv"
    p.write_bytes(data)
    with pytest.raises(InputError) as exc:
        parse_label_from(f"csv:{p}")
    assert str(exc.value) == message.format(p=p)
