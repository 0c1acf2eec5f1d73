"""prepare() and ``netdiffus prepare`` on the golden captures: exact bins, metadata, robustness, CLI."""

from __future__ import annotations

import json
import logging
import shutil
import struct
from pathlib import Path

import dpkt
import numpy as np
import pytest

from netdiffus.cli.main import main
from netdiffus.errors import ConfigError, InputError
from netdiffus.io.dataset import read_dataset
from netdiffus.io.headers import TRANSPORTS
from netdiffus.prepare import PrepareOptions, prepare

PCAP = Path(__file__).parents[1] / "data" / "pcap"
DEVICE = "02:00:00:00:00:01"


def _independent_bins(path: Path, *, bin_s: float, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Bytes and packets per bin [2 (to, from the device), length], counted with dpkt alone."""
    device = bytes.fromhex(DEVICE.replace(":", ""))
    nbytes = np.zeros((2, length))
    npk = np.zeros((2, length))
    t0 = None
    with open(path, "rb") as fh:
        for ts, buf in dpkt.pcap.Reader(fh):
            eth = dpkt.ethernet.Ethernet(buf)
            if device not in (eth.src, eth.dst):
                continue
            t0 = ts if t0 is None else t0
            k = int((ts - t0) / bin_s + 1e-9)
            if k >= length:
                continue
            l3 = eth.data
            size = (l3.len if isinstance(l3, dpkt.ip.IP)
                    else 40 + l3.plen if isinstance(l3, dpkt.ip6.IP6) else len(buf) - 14)
            ch = 1 if eth.src == device else 0
            nbytes[ch, k] += size
            npk[ch, k] += 1
    return nbytes, npk


@pytest.fixture()
def captures(tmp_path: Path) -> Path:
    """captures/plug/{a.pcap, b.pcapng.gz-less pcapng} + the device MAC file; captures/cam/c.pcap (QinQ)."""
    for label, names in {"plug": ["golden.pcap", "golden.pcapng"], "cam": ["golden-qinq.pcap"]}.items():
        d = tmp_path / "captures" / label
        d.mkdir(parents=True)
        for n in names:
            shutil.copy(PCAP / n, d / n)
        (d / "_iotdevice-mac.txt").write_text(DEVICE + "\n")
    return tmp_path / "captures"


def test_golden_bytes_and_packets_per_bin_match_an_independent_count(captures):
    want_bytes, want_packets = _independent_bins(PCAP / "golden.pcap", bin_s=0.25, length=12)
    # hand check of the independent count (see tests/data/pcap/make_captures.py)
    assert want_bytes.tolist() == [[40, 148, 84, 1440, 0, 0, 138, 0, 0, 0, 0, 0],
                                   [40, 401, 84, 0, 102, 0, 0, 0, 28, 50, 0, 0]]
    for feature, want in (("bytes", want_bytes), ("packets", want_packets)):
        ds, summary = prepare(captures, unit="host", feature=feature, bin_width="250ms", length=12,
                              split_direction=True)
        assert ds.series.shape == (3, 2, 12)
        for i in range(3):  # pcap, pcapng and QinQ all give the golden numbers
            np.testing.assert_array_equal(ds.series[i], want)
        assert ds.labels == ["cam", "plug", "plug"]
        assert ds.ids == ["cam/golden-qinq.pcap", "plug/golden.pcap", "plug/golden.pcapng"]
        assert ds.meta.channels == [f"{feature}_to_host", f"{feature}_from_host"]
        assert summary.files_read == 3 and summary.packets == 42


def test_metadata_for_the_exporter(captures):
    ds, _ = prepare(captures, unit="host", feature="bytes", bin_width="0.25s", length=12, split_direction=True)
    meta = ds.meta
    assert (meta.feature, meta.unit, meta.bin_width_s) == ("bytes", "bytes", 0.25)
    extra = meta.extra
    assert extra["transport"] == {"cam": "tcp", "plug": "tcp"}
    sizes = extra["packet_sizes"]["plug"]
    assert set(sizes) == {"up", "down"}
    assert sum(sizes["up"]["counts"]) == 2 * 8 and sum(sizes["down"]["counts"]) == 2 * 5
    assert len(sizes["up"]["edges"]) == len(sizes["up"]["counts"]) + 1
    offsets = extra["intra_bin_offsets"]["plug"]
    assert offsets["edges"][0] == 0.0 and offsets["edges"][-1] == 1.0 and sum(offsets["counts"]) == 26
    single, _ = prepare(captures, unit="file", feature="packets", length=12)
    assert set(single.meta.extra["packet_sizes"]["plug"]) == {"edges", "counts"}
    assert single.meta.channels == ["packets"]


@pytest.mark.parametrize(
    "kw, shape, channels, unit",
    [
        (dict(unit="host", feature="sizes", length=16), (3, 1, 16), ["sizes"], "bytes"),
        (dict(unit="host", feature="iat", length=4), (3, 1, 4), ["iat"], "seconds"),
        (dict(unit="flow", feature="bytes", length=8, split_direction=True), (18, 2, 8),
         ["bytes_to_initiator", "bytes_from_initiator"], "bytes"),
        (dict(unit="flow", feature="packets", length=8, min_packets=2), (12, 1, 8), ["packets"], "packets"),
        (dict(unit="file", feature="bytes", length=8), (3, 1, 8), ["bytes"], "bytes"),
    ],
)
def test_units_and_features(captures, kw, shape, channels, unit):
    ds, _ = prepare(captures, **kw)
    assert ds.series.shape == shape
    assert ds.meta.channels == channels and ds.meta.unit == unit


def test_sizes_are_signed_from_the_device(captures):
    ds, _ = prepare(captures, unit="host", feature="sizes", length=6)
    assert ds.series[1, 0].tolist() == [40, -40, 340, -1440, 61, -148]


def test_broken_files_are_skipped_with_reasons_and_strict_fails(tmp_path):
    d = tmp_path / "in"
    shutil.copytree(PCAP / "bad", d / "bad")
    shutil.copy(PCAP / "golden.pcap", d / "good.pcap")
    shutil.copy(PCAP / "unknown-block.pcapng", d / "odd.pcapng")
    ds, summary = prepare(d, unit="file", label_from="regex:(good|odd)", length=8)
    assert ds.n_traces == 2 and summary.files_read == 2
    reasons = dict(summary.skipped)
    assert reasons == {
        str(d / "bad" / "empty.pcap"): "no label (regex '(good|odd)' gives none for this file)",
        str(d / "bad" / "random.pcap"): "no label (regex '(good|odd)' gives none for this file)",
        str(d / "bad" / "truncated.pcap"): "no label (regex '(good|odd)' gives none for this file)",
        str(d / "bad" / "wifi.pcap"): "no label (regex '(good|odd)' gives none for this file)",
    }
    ds, summary = prepare(d, unit="file", length=8)
    reasons = {Path(p).name: r for p, r in summary.skipped}
    assert reasons == {
        "empty.pcap": "file is empty",
        "random.pcap": "not a pcap or pcapng capture (first bytes c5d71484)",
        "wifi.pcap": reasons["wifi.pcap"],
    }
    assert reasons["wifi.pcap"].startswith("unsupported link type 105 (supported: 0 BSD loopback (NULL), 1 Ethernet")
    # a capture cut in its last record is read up to the cut, with a warning
    cut = d / "bad" / "truncated.pcap"
    assert summary.warnings == [
        (str(cut), f"{cut}: truncated capture: record at byte 2947 needs 80 bytes, only 50 left"),
        (str(d / "odd.pcapng"), f"{d / 'odd.pcapng'}: skipped pcapng block(s) of unknown type 0x00000123"),
    ]
    assert ds.n_traces == 3 and summary.files_read == 3
    with pytest.raises(InputError) as exc:
        prepare(d / "bad" / "truncated.pcap", unit="file", strict=True)
    assert str(exc.value) == (f"{d / 'bad' / 'truncated.pcap'}: truncated capture: record at byte 2947 needs 80 "
                              "bytes, only 50 left")


def test_parallel_workers_give_the_same_dataset(captures):
    one, _ = prepare(captures, unit="flow", length=8, workers=1)
    two, _ = prepare(captures, unit="flow", length=8, workers=2)
    np.testing.assert_array_equal(one.series, two.series)
    assert one.ids == two.ids and one.labels == two.labels
    assert one.meta.extra == two.meta.extra


def test_dpkt_decoder_gives_the_same_dataset(captures):
    fast, _ = prepare(captures, unit="host", split_direction=True, length=12, bin_width="0.25s")
    ref, _ = prepare(captures, unit="host", split_direction=True, length=12, bin_width="0.25s", decoder="dpkt")
    np.testing.assert_array_equal(fast.series, ref.series)
    assert fast.meta.extra == ref.meta.extra


# -- CLI -------------------------------------------------------------------------------------------
def test_cli_writes_dataset_and_prints_summary(captures, tmp_path, capsys):
    out = tmp_path / "ds.parquet"
    shutil.copy(PCAP / "bad" / "random.pcap", captures / "plug" / "zz-random.pcap")
    code = main(["prepare", str(captures), "-o", str(out), "--unit", "host", "--bin-width", "0.25s",
                 "--length", "12", "--split-direction", "--no-progress"])
    assert code == 0
    text = capsys.readouterr().out
    assert "files read: 3\nfiles skipped: 1\n" in text
    assert "zz-random.pcap: not a pcap or pcapng capture" in text
    assert "traces: 3 in 2 label(s)\n  cam: 1 (fit needs at least 2 per class)\n  plug: 2\n" in text
    ds = read_dataset(out)
    assert ds.series.shape == (3, 2, 12) and ds.meta.channels == ["bytes_to_host", "bytes_from_host"]
    assert "packet_sizes" in ds.meta.extra


@pytest.mark.parametrize(
    "bad, reason",
    [
        ("empty.pcap", "file is empty"),
        ("random.pcap", "not a pcap or pcapng capture (first bytes c5d71484)"),
        ("truncated.pcap", "truncated capture: record at byte 2947 needs 80 bytes, only 50 left"),
    ],
)
def test_cli_strict_fails_with_one_line_and_no_output(captures, tmp_path, capsys, caplog, bad, reason):
    out = tmp_path / "ds.parquet"
    shutil.copy(PCAP / "bad" / bad, captures / "cam" / bad)
    code = main(["prepare", str(captures), "-o", str(out), "--strict", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1
    assert err == f"error: {captures / 'cam' / bad}: {reason}\n"
    # an error, not a skip: no "skipped ..." warning before the error line
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert list(tmp_path.glob("*.parquet*")) == [] and list(tmp_path.glob(".ds.parquet*")) == []


@pytest.mark.parametrize(
    "args, message",
    [
        (["--bin-width", "fast"], "error: bin_width must be a duration such as 100ms or 0.5s (got 'fast')\n"),
        (["--label-from", "dir"],
         "error: label_from must be folder, regex:PATTERN, csv:FILE or column:NAME (got 'dir')\n"),
        (["--feature", "sizes", "--split-direction"],
         "error: split_direction applies to the bytes and packets features (got feature 'sizes'; sizes are "
         "already signed by direction)\n"),
        (["--label-window=-1"], "error: label_window must be >= 0 (got -1)\n"),
        (["--label-utc-offset", "99"], "error: label_utc_offset must be strictly between -24 and 24 hours (got 99)\n"),
        (["--idle-timeout", "-1"], "error: idle_timeout must be > 0 (got -1)\n"),  # once, not per file
        (["--active-timeout", "0"], "error: active_timeout must be > 0 (got 0)\n"),
    ],
)
def test_cli_option_errors(captures, tmp_path, capsys, args, message):
    assert main(["prepare", str(captures), "-o", str(tmp_path / "x.parquet"), *args]) == 1
    assert capsys.readouterr().err == message


@pytest.mark.parametrize(
    "output, message",
    [
        ("captures", "error: output path {d}/captures is a folder; give a file name\n"),
        ("a.parquet/x.parquet", "error: output path {d}/a.parquet/x.parquet is inside {d}/a.parquet, which is a file, "
         "not a folder\n"),
    ],
)
def test_cli_unusable_output_path_fails_before_any_work(captures, tmp_path, capsys, output, message):
    (tmp_path / "a.parquet").write_text("not a dataset")
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["prepare", str(captures), "-o", str(tmp_path / output), "--no-progress"]) == 1
    out, err = capsys.readouterr()
    assert err == message.format(d=tmp_path) and out == ""  # no summary: nothing was read
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert (tmp_path / "a.parquet").read_text() == "not a dataset"


def _mixed(tmp_path: Path) -> tuple[Path, Path]:
    pcaps, csvs = tmp_path / "pcaps", tmp_path / "csvs"
    (pcaps / "plug").mkdir(parents=True)
    shutil.copy(PCAP / "golden.pcap", pcaps / "plug" / "a.pcap")
    shutil.copy(PCAP / "golden.pcapng", pcaps / "plug" / "b.pcapng")
    for cls in ("x", "y"):
        (csvs / cls).mkdir(parents=True)
        (csvs / cls / "t.csv").write_text("bytes\n1\n2\n3\n")
    return pcaps, csvs


@pytest.mark.parametrize("order", [0, 1])
def test_cli_mixed_inputs_are_one_clear_error(tmp_path, capsys, order):
    inputs = [str(p) for p in _mixed(tmp_path)][:: 1 if order == 0 else -1]
    out = tmp_path / "q.parquet"
    assert main(["prepare", *inputs, "--column", "bytes", "-o", str(out), "--no-progress"]) == 1
    assert capsys.readouterr().err == ("error: inputs mix pcap and CSV files (2 capture(s), 2 CSV file(s)); prepare "
                                       "one kind at a time or pass --format\n")
    assert not out.exists()
    mixed = tmp_path / "csvs" / "x" / "c.pcap"  # in one folder too
    shutil.copy(PCAP / "golden.pcap", mixed)
    assert main(["prepare", str(tmp_path / "csvs"), "--column", "bytes", "-o", str(out), "--no-progress"]) == 1
    assert "error: inputs mix pcap and CSV files (1 capture(s), 2 CSV file(s))" in capsys.readouterr().err



def _warned(caplog) -> list[str]:
    """The warnings logged, but the padding note (a small capture in 64 bins is mostly padding)."""
    return [r.getMessage() for r in caplog.records
            if r.levelno >= logging.WARNING and "of the dataset is zero padding" not in r.getMessage()]

@pytest.mark.parametrize(
    "fmt, n_traces, warning",
    [
        ("csv", 2, "--format csv: ignoring 2 capture file(s) found under the inputs"),
        ("pcap", 2, "--format pcap: ignoring 2 CSV file(s) found under the inputs"),
    ],
)
def test_cli_format_reads_one_kind_and_warns_once(tmp_path, capsys, caplog, fmt, n_traces, warning):
    pcaps, csvs = _mixed(tmp_path)
    out = tmp_path / "q.parquet"
    for inputs in ([pcaps, csvs], [csvs, pcaps]):
        caplog.clear()
        code = main(["prepare", *map(str, inputs), "--format", fmt, "--column", "bytes", "--unit", "file",
                     "-o", str(out), "--no-progress", "--force"])
        assert code == 0, capsys.readouterr().err
        assert _warned(caplog) == [warning]
        assert read_dataset(out).n_traces == n_traces


def test_cli_label_table_next_to_the_captures_is_not_an_input(tmp_path, capsys):
    d = tmp_path / "in"
    d.mkdir()
    shutil.copy(PCAP / "golden.pcap", d / "golden.pcap")
    (d / "labels.csv").write_text("file,label\ngolden.pcap,plug\n")
    out = tmp_path / "q.parquet"
    assert main(["prepare", str(d), "--unit", "file", "--label-from", f"csv:{d / 'labels.csv'}", "-o", str(out),
                 "--no-progress"]) == 0, capsys.readouterr().err
    assert read_dataset(out).labels == ["plug"]


def test_cli_format_csv_on_a_capture_is_one_line(tmp_path, capsys):
    out = tmp_path / "q.parquet"
    assert main(["prepare", "--format", "csv", str(PCAP / "golden.pcap"), "--column", "x", "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert err == f"error: {PCAP / 'golden.pcap'}: not a UTF-8 text CSV file (undecodable byte 0xd4)\n"


def test_cli_reads_back_the_csv_netdiffus_writes(captures, tmp_path, capsys):
    from netdiffus.export.tabular import write_csv

    first = tmp_path / "ds.parquet"
    assert main(["prepare", str(captures), "-o", str(first), "--unit", "host", "--length", "12",
                 "--split-direction", "--no-progress"]) == 0
    ds = read_dataset(first)
    write_csv(ds, tmp_path / "synthetic.csv")
    back_path = tmp_path / "back.parquet"
    assert main(["prepare", str(tmp_path / "synthetic.csv"), "-o", str(back_path), "--value-unit", "bytes"]) == 0
    text = capsys.readouterr().out
    assert f"wrote {back_path}: 3 traces x 2 channel(s) x 12 (bytes_to_host, bytes_from_host; bytes)" in text
    back = read_dataset(back_path)
    np.testing.assert_array_equal(back.series, ds.series)
    assert (back.labels, back.ids, back.meta.channels) == (ds.labels, ds.ids, ds.meta.channels)


def test_cli_csv_without_value_unit_stores_the_printed_unit(tmp_path, capsys):
    (tmp_path / "csv" / "a").mkdir(parents=True)
    (tmp_path / "csv" / "a" / "t.csv").write_text("bytes\n1\n2\n")
    out = tmp_path / "q.parquet"
    assert main(["prepare", str(tmp_path / "csv"), "-o", str(out), "--column", "bytes"]) == 0
    assert f"wrote {out}: 1 traces x 1 channel(s) x 2 (bytes; values)" in capsys.readouterr().out
    assert main(["info", str(out), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["unit"] == "values"


def test_cli_help_has_an_example(capsys):
    with pytest.raises(SystemExit):
        main(["prepare", "--help"])
    assert "examples:" in capsys.readouterr().out


def test_cli_csv_per_trace_still_works(tmp_path, capsys):
    for cls in ("a", "b"):
        (tmp_path / "csv" / cls).mkdir(parents=True)
        (tmp_path / "csv" / cls / "t1.csv").write_text("bytes\n1\n2\n3\n4\n")
    out = tmp_path / "csv.parquet"
    assert main(["prepare", str(tmp_path / "csv"), "-o", str(out), "--column", "bytes", "--aggregate", "2",
                 "--bin-width", "0.5s"]) == 0
    ds = read_dataset(out)
    assert ds.series[:, 0].tolist() == [[3, 7], [3, 7]] and ds.meta.bin_width_s == 1.0


@pytest.mark.parametrize("host, n_packets", [("192.168.1.10", 10), ("02:00:00:00:00:01", 13)])
def test_host_option_by_ip_or_mac(host, n_packets):
    ds, summary = prepare(PCAP / "golden.pcap", unit="host", feature="packets", length=12, host=host)
    assert ds.series.sum() == n_packets
    assert ds.meta.extra["host_by_source"] == {str(PCAP / "golden.pcap"): host}


def test_progress_is_reported_per_file(captures):
    calls = []
    prepare(captures, unit="file", length=4, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_ip_only_leaves_arp_out(captures):
    with_arp, _ = prepare(captures / "plug" / "golden.pcap", unit="host", feature="packets", length=12)
    ip_only, _ = prepare(captures / "plug" / "golden.pcap", unit="host", feature="packets", length=12, ip_only=True)
    assert with_arp.series.sum() - ip_only.series.sum() == 1  # the ARP request at 2.0 s
    assert (with_arp.meta.extra["non_ip_frames"], ip_only.meta.extra["non_ip_frames"]) == (
        "link_payload_length", "excluded")


# -- files named one by one (a shell glob) are labelled as their folder would label them ---------

def _glob_tree(root: Path, kind: str) -> list[Path]:
    files = []
    for label in ("aria", "cam"):
        (root / label).mkdir(parents=True)
        for k in range(2):
            f = root / label / f"s{k}.{kind}"
            if kind == "pcap":
                shutil.copy(PCAP / "golden.pcap", f)
            else:
                f.write_text("bytes\n" + "\n".join(str(10 * k + j) for j in range(8)) + "\n")
            files.append(f)
    return files


@pytest.mark.parametrize(
    "kind, options",
    [
        ("pcap", ["--unit", "file", "--length", "8"]),
        ("csv", ["--column", "bytes", "--length", "8"]),
    ],
)
def test_cli_files_given_one_by_one_are_labelled_like_their_folder(tmp_path, capsys, caplog, kind, options):
    files = _glob_tree(tmp_path / "in", kind)
    by_folder, by_file = tmp_path / "folder.parquet", tmp_path / "files.parquet"
    assert main(["prepare", str(tmp_path / "in"), *options, "-o", str(by_folder), "--no-progress"]) == 0
    assert main(["prepare", *map(str, files), *options, "-o", str(by_file), "--no-progress"]) == 0
    a, b = read_dataset(by_folder), read_dataset(by_file)
    assert b.labels == a.labels == ["aria", "aria", "cam", "cam"]
    assert b.ids == a.ids and len(set(b.ids)) == 4
    np.testing.assert_array_equal(b.series, a.series)
    # one file alone keeps its own folder: the label "."
    one = tmp_path / "one.parquet"
    assert main(["prepare", str(files[0]), *options, "-o", str(one), "--no-progress"]) == 0
    assert read_dataset(one).labels == ["."]


def test_cli_a_capture_given_twice_is_read_once(tmp_path, capsys, caplog):
    files = _glob_tree(tmp_path / "in", "pcap")
    out = tmp_path / "q.parquet"
    assert main(["prepare", str(tmp_path / "in"), str(files[0]), "--unit", "file", "-o", str(out),
                 "--no-progress"]) == 0
    assert read_dataset(out).n_traces == 4
    assert _warned(caplog) == ["1 input file(s) given more than once (or also found under a given folder): read once"]


@pytest.mark.parametrize("mac_file", [False, True])
def test_a_capture_without_packets_is_skipped_as_such(tmp_path, mac_file):
    d = tmp_path / "in" / "cam"
    d.mkdir(parents=True)
    shutil.copy(PCAP / "golden.pcap", d / "good.pcap")
    (d / "header.pcap").write_bytes((PCAP / "golden.pcap").read_bytes()[:24])  # the global header alone
    if mac_file:
        (d / "_iotdevice-mac.txt").write_text(DEVICE + "\n")
    _, summary = prepare(tmp_path / "in", unit="host", length=8)
    assert summary.skipped == [(str(d / "header.pcap"), "no packets")]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"format": "parquet"}, "format must be auto, csv or pcap (got 'parquet')"),
        ({"aggregate": 0}, "aggregate must be >= 1 (got 0)"),
        ({"length": 0}, "length must be >= 1 (got 0)"),
        ({"min_packets": -1}, "min_packets must be >= 0 (got -1)"),
        ({"workers": -2}, "workers must be >= 0 (got -2)"),
        ({"decoder": "scapy"}, "decoder must be fast or dpkt (got 'scapy')"),
        ({"unit": "session"}, "unit must be one of flow, host, file (got 'session')"),
        ({"feature": "flows"}, "feature must be one of bytes, packets, sizes, iat, sequence (got 'flows')"),
        ({"bin_width": -1}, "bin_width must be > 0 (got -1)"),
        ({"bin_width": "fast"}, "bin_width must be a duration such as 100ms or 0.5s (got 'fast')"),
        ({"idle_timeout_s": 0}, "idle_timeout must be > 0 (got 0)"),
        ({"active_timeout_s": -5.0}, "active_timeout must be > 0 (got -5)"),
        ({"label_time_window_s": -1.0}, "label_window must be >= 0 (got -1)"),
        ({"label_utc_offset_h": 24.0}, "label_utc_offset must be strictly between -24 and 24 hours (got 24)"),
    ],
)  # fmt: skip
def test_prepare_options_errors(kwargs, message):
    with pytest.raises(ConfigError) as exc:
        PrepareOptions(**kwargs)
    assert str(exc.value) == message
    with pytest.raises(ConfigError) as exc:  # the keywords of prepare build the same options
        prepare([str(PCAP / "golden.pcap")], **kwargs)
    assert str(exc.value) == message


def test_prepare_options_and_keywords_give_the_same_dataset(captures):
    options = PrepareOptions(unit="host", feature="packets", bin_width="250ms", length=12, split_direction=True)
    a, _ = prepare(captures, options)
    b, _ = prepare(captures, unit="host", feature="packets", bin_width="250ms", length=12, split_direction=True)
    c, _ = prepare(captures, PrepareOptions(unit="host", length=3), feature="packets", bin_width="250ms", length=12,
                   split_direction=True)  # keywords win over the options
    for ds in (b, c):
        assert np.array_equal(ds.series, a.series) and ds.ids == a.ids and ds.meta == a.meta
    assert options.series_spec().bin_width_s == 0.25 and options.bin_width_s == 0.25


# -- hosts of captures without Ethernet -------------------------------------------------------------
def _ip_udp(src: bytes, dst: bytes, n: int = 60) -> bytes:
    return (struct.pack(">BBHHHBBH4s4s", 0x45, 0, 28 + n, 0, 0, 64, 17, 0, src, dst)
            + struct.pack(">HHHH", 1000, 53, 8 + n, 0) + bytes(n))


def _write(path: Path, linktype: int, frames: list[bytes]) -> None:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)]
    for i, f in enumerate(frames):
        out.append(struct.pack("<IIII", 1_700_000_000, i * 10_000, len(f), len(f)) + f)
    path.write_bytes(b"".join(out))


DEV, SRV, LO = bytes([10, 0, 0, 5]), bytes([93, 184, 216, 34]), bytes([127, 0, 0, 1])


@pytest.mark.parametrize("linktype, frame", [
    (113, lambda ip: struct.pack(">HHH8sH", 0, 772, 6, bytes(8), 0x0800) + ip),  # "any": loopback's MAC is 0
    (0, lambda ip: struct.pack("<I", 2) + ip),  # BSD loopback: no MACs at all
])
def test_on_cooked_and_loopback_captures_the_host_is_an_ip_and_directions_split(tmp_path, linktype, frame):
    (tmp_path / "dev").mkdir()
    ips = [_ip_udp(DEV, SRV), _ip_udp(SRV, DEV, 200), _ip_udp(DEV, SRV), _ip_udp(LO, LO), _ip_udp(LO, LO)] * 3
    _write(tmp_path / "dev" / "x.pcap", linktype, [frame(ip) for ip in ips])
    ds, _ = prepare([tmp_path], unit="host", split_direction=True, length=4, bin_width="1s")
    assert list(ds.meta.extra["host_by_source"].values()) == ["10.0.0.5"]  # was 00:00:00:00:00:00 on SLL
    assert ds.series[0].sum(axis=1).tolist() == [3 * 228, 6 * 88]  # to the device, from it


def test_a_loopback_only_capture_warns_that_directions_cannot_be_told(tmp_path):
    (tmp_path / "dev").mkdir()
    _write(tmp_path / "dev" / "x.pcap", 0, [struct.pack("<I", 2) + _ip_udp(LO, LO)] * 4)
    ds, summary = prepare([tmp_path], unit="host", split_direction=True, length=4)
    assert ds.meta.extra["host_by_source"] == {str(tmp_path / "dev" / "x.pcap"): "127.0.0.1"}
    assert summary.warnings == [(str(tmp_path / "dev" / "x.pcap"), f"{tmp_path / 'dev' / 'x.pcap'}: 4 packet(s) of "
                                 "host 127.0.0.1 are addressed to itself (loopback): their direction cannot be told, "
                                 "they count as sent by it")]


# -- repeated warnings -------------------------------------------------------------------------------
def test_a_warning_given_for_many_files_is_logged_three_times_then_counted(tmp_path, capsys, caplog):
    for i in range(40):
        d = tmp_path / "traces" / f"c{i % 2}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"t{i}.csv").write_text("bytes\n1\n2\n")
    code = main(["prepare", str(tmp_path / "traces"), "-o", str(tmp_path / "x.parquet"), "--column", "bites"])
    assert code == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 4 and warnings[-1] == "... and 37 more files skipped, not shown"
    assert capsys.readouterr().err.startswith("error: no usable traces under ")


def test_files_a_label_regex_skips_are_listed_once_by_reason(tmp_path, capsys, caplog):
    (tmp_path / "caps").mkdir()
    for i in range(12):
        shutil.copy(PCAP / "golden.pcap", tmp_path / "caps" / (f"cam-{i}.pcap" if i < 2 else f"x{i}.pcap"))
    code = main(["prepare", str(tmp_path / "caps"), "-o", str(tmp_path / "o.parquet"), "--label-from",
                 r"regex:(cam)-\d", "--no-progress"])
    assert code == 0
    out = capsys.readouterr().out
    assert "files skipped: 10\n  10 files: no label (regex '(cam)-\\d' gives none for this file) (first: " in out
    assert out.count("x5.pcap") == 0  # each skipped file not listed (and logged) once more
    assert len(_warned(caplog)) == 4


def test_prepare_off_a_terminal_logs_how_far_it_is_every_30_seconds(monkeypatch, caplog):
    import argparse

    from netdiffus.cli import prepare as cli_prepare

    clock = iter([0.0, 10.0, 31.0, 40.0, 75.0])
    monkeypatch.setattr(cli_prepare.time, "perf_counter", lambda: next(clock))
    on_file, close = cli_prepare._progress(argparse.Namespace(no_progress=True))
    with caplog.at_level(logging.INFO, logger="netdiffus.cli.prepare"):
        for done in range(1, 5):
            on_file(done, 10)
    close()
    assert caplog.messages == ["prepare: 2 of 10 files (31 s)", "prepare: 4 of 10 files (75 s)"]


@pytest.mark.parametrize("unit", ["host", "flow"])
def test_headers_are_kept_on_request(captures, tmp_path, unit):
    plain, _ = prepare(captures, unit=unit, feature="bytes", bin_width="0.25s", length=12)
    assert plain.headers is None
    ds, _ = prepare(captures, unit=unit, feature="bytes", bin_width="0.25s", length=12, headers=True)
    assert ds.headers is not None and len(ds.headers) == ds.n_traces
    by_source: dict[str, list] = {}
    for src, h in zip(ds.sources, ds.headers, strict=True):
        by_source.setdefault(Path(src).name, []).append(h)
    # pcap, pcapng and QinQ copies of one capture: the same records, server ids numbered across captures
    assert by_source["golden.pcap"] == by_source["golden.pcapng"] == by_source["golden-qinq.pcap"]
    flows = [f for h in ds.headers if h is not None for f in h.flows]
    assert flows and all(f.packets > 0 and f.transport in TRANSPORTS and f.duration_us >= 0 for f in flows)
    if unit == "flow":
        assert all(h is None or len(h.flows) == 1 for h in ds.headers)
    out = tmp_path / f"h-{unit}.parquet"
    assert main(["prepare", str(captures), "-o", str(out), "--unit", unit, "--length", "12", "--headers"]) == 0
    assert read_dataset(out).headers == ds.headers
