"""prepare() on the real data of ../shared/data: IoT Sentinel (B2 views) and the CIC-IDS2017 demo."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from netdiffus.prepare import prepare

DATA = (Path(__file__).parents[2] / ".." / "shared" / "data").resolve()
IOT = DATA / "iot-sentinel" / "captures"
CIC = DATA / "cic-ids2017-demo"

pytestmark = pytest.mark.data


@pytest.fixture(scope="module")
def iot_bins():
    if not IOT.is_dir():
        pytest.skip(f"{IOT} is absent")
    return prepare(IOT, unit="host", feature="bytes", bin_width="0.25s", length=64, split_direction=True, workers=2)


def test_iot_bins_view(iot_bins):
    ds, summary = iot_bins
    assert ds.series.shape == (550, 2, 64)
    assert len(ds.classes) == 31 and summary.files_read == 550 and not summary.skipped
    assert ds.class_counts()["EdimaxCam2"] == 8 and ds.class_counts()["WeMoSwitch2"] == 5
    assert ds.meta.channels == ["bytes_to_host", "bytes_from_host"] and ds.meta.bin_width_s == 0.25
    assert 190_000 < summary.packets < 200_000
    assert (ds.series.sum(axis=(1, 2)) > 0).all()
    assert set(ds.meta.extra["packet_sizes"]) == set(ds.classes)


def test_iot_packets_view():
    if not IOT.is_dir():
        pytest.skip(f"{IOT} is absent")
    ds, _ = prepare(IOT, unit="host", feature="sizes", length=64, workers=2)
    assert ds.series.shape == (550, 1, 64) and len(ds.classes) == 31
    assert (ds.series > 0).any() and (ds.series < 0).any()
    assert np.abs(ds.series).max() <= 65535


def test_most_frequent_mac_agrees_with_the_device_file(tmp_path):
    if not IOT.is_dir():
        pytest.skip(f"{IOT} is absent")
    files = sorted((IOT / "Aria").glob("*.pcap"))[:3] + sorted((IOT / "HueBridge").glob("*.pcap"))[:3]
    for f in files:
        (tmp_path / f.parent.name).mkdir(exist_ok=True)
        shutil.copy(f, tmp_path / f.parent.name / f.name)
    guessed, _ = prepare(tmp_path, unit="host", split_direction=True, length=32)
    for f in files:
        shutil.copy(f.parent / "_iotdevice-mac.txt", tmp_path / f.parent.name)
    known, _ = prepare(tmp_path, unit="host", split_direction=True, length=32)
    np.testing.assert_array_equal(guessed.series, known.series)


def test_cic_flows_joined_by_five_tuple():
    if not CIC.is_dir():
        pytest.skip(f"{CIC} is absent")
    ds, summary = prepare(CIC / "demo.pcap", unit="flow", label_from=f"csv:{CIC / 'demo.csv'}",
                          label_utc_offset_h=-3, label_time_window_s=300)
    assert summary.traces_labelled == 81 and summary.traces_unlabelled == 110
    assert summary.traces_per_label == {"BENIGN": 79, "BOT": 2}
    assert ds.meta.extra["labels_matched"] == {"matched": 81, "unmatched": 110}
    assert summary.label_gap_median_s < 60


def test_cic_flows_with_the_clock_three_hours_off_are_warned_about(caplog):
    if not CIC.is_dir():
        pytest.skip(f"{CIC} is absent")
    _, summary = prepare(CIC / "demo.pcap", unit="flow", label_from=f"csv:{CIC / 'demo.csv'}")  # no offset
    assert abs(summary.label_gap_median_s - 3 * 3600) < 60
    assert [r.getMessage()[:62] for r in caplog.records if r.levelno >= logging.WARNING] == [
        "flows matched label rows a median 3.0 h from their start: is t",
        "81 % of the dataset is zero padding: 70 of 81 traces end befor"]  # flows of 64 bins of 0.5 s


def test_fast_decoder_equals_dpkt_on_real_captures():
    if not IOT.is_dir() or not CIC.is_dir():
        pytest.skip(f"{DATA} is absent")
    from netdiffus.io.pcap import decode_batch, decode_batch_dpkt, iter_raw_batches

    files = sorted(IOT.glob("*/*.pcap"))[::25] + [CIC / "demo.pcap"]  # 22 sessions + the pcapng
    n = 0
    for f in files:
        for raw in iter_raw_batches(f):
            fast, ref = decode_batch(raw), decode_batch_dpkt(raw)
            for field, value in fast.__dict__.items():
                np.testing.assert_array_equal(value, getattr(ref, field), err_msg=f"{f}: {field}")
            n += len(raw)
    assert n > 10_000


@pytest.mark.parametrize("stratify, sizes", [(False, (442, 194)), (True, (440, 196))])
def test_videotrain_split_by_video(stratify, sizes):
    from netdiffus.io.split import split_dataset

    traces = DATA / "videotrain" / "traces"
    if not traces.is_dir():
        pytest.skip(f"{traces} is absent")
    ds, _ = prepare(traces, column="frame_sum_dl", length=60, aggregate=4, bin_width="0.5s")
    train, test = split_dataset(ds, group=r"Vid_(\d+)_", stratify=stratify)
    assert (len(train), len(test)) == sizes  # pooled: the B1 protocol of the benchmarks
    assert set(test.classes) == set(ds.classes)
