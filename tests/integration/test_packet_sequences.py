"""Joint packet sequences (``--feature sequence``): a synthetic IoT-like set written by ``export``
and read back by ``prepare`` with the same options gives back every packet's size, direction and
time (to the microsecond), and each trace's length."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from netdiffus.cli.main import main
from netdiffus.errors import DatasetError
from netdiffus.export.pcap import export_pcap
from netdiffus.io.dataset import DatasetMeta, TraceDataset, read_dataset, write_dataset
from netdiffus.prepare import prepare

REPO = Path(__file__).resolve().parents[2]
DATA = (REPO / ".." / "shared" / "data").resolve()
T = 24
#: Per device class, the sizes of its set-up exchange: + from the device, - to it (DHCP, DNS, TLS).
PATTERNS = {
    "plug": [328, -342, 328, -342, 74, -90, 60, -60, 583, -1500, -1500, 66],
    "camera": [-90, 74, 60, -60, 517, -1500, -1500, -1500, -1162, 66, 66, 1500, 1500, 1500, 90],
    "kettle": [90, -122, 52, 52, -52],
}


def iot_like(seed: int = 0, per_class: int = 3) -> TraceDataset:
    """Sessions as a generator draws them: exact sizes with a packet sometimes dropped, float
    gaps (most of a few ms, some of seconds, one of zero), lengths from 5 packets to past ``T``."""
    rng = np.random.default_rng(seed)
    series, labels, ids = [], [], []
    for label, pattern in PATTERNS.items():
        for k in range(per_class):
            sizes = np.array([s for s in pattern * 3 if rng.random() > 0.1], np.float64)[: rng.integers(5, T + 8)]
            gaps = rng.lognormal(np.log(0.02), 1.5, size=len(sizes))
            gaps[rng.random(len(sizes)) < 0.1] = rng.uniform(1.0, 9.0)  # a device waiting for its server
            gaps[0] = 0.0
            if len(gaps) > 3:
                gaps[3] = 0.0  # two packets stamped alike
            row = np.zeros((2, T))
            n = min(len(sizes), T)
            row[0, :n], row[1, :n] = sizes[:n], gaps[:n]
            series.append(row)
            labels.append(label)
            ids.append(f"{label}/s{k}")
    meta = DatasetMeta(feature="sequence", unit="bytes,seconds", channels=["size", "iat"],
                       extra={"channel_units": ["bytes", "seconds"]})
    return TraceDataset(series=np.array(series, np.float32), labels=labels, ids=ids, sources=["synthetic"] * len(ids),
                        meta=meta)


def times_us(series: np.ndarray) -> np.ndarray:
    """Each packet's time from the first packet of its trace in microseconds, the sum of its gaps
    (NaN for padding)."""
    gaps = series[:, 1].astype(np.float64) * 1e6
    gaps[:, 0] = 0.0
    return np.where(series[:, 0] != 0, np.cumsum(gaps, axis=-1), np.nan)


def check_round_trip(back: TraceDataset, ds: TraceDataset) -> None:
    assert np.array_equal(back.series[:, 0], ds.series[:, 0])  # sizes and directions (signs), padding
    # the gaps read back are float32 seconds of a capture's whole microseconds, each exact to the
    # microsecond below 16.7 s; the times they sum to are those of the series to the microsecond
    # (half of it for the rounding, at most half a float32 step of a gap of seconds)
    whole = back.series.copy()
    whole[:, 1] = np.rint(back.series[:, 1].astype(np.float64) * 1e6) / 1e6
    assert np.nanmax(np.abs(times_us(whole) - times_us(ds.series))) < 1.0
    assert back.lengths is not None and back.lengths.tolist() == (ds.series[:, 0] != 0).sum(axis=1).tolist()


def test_device_sessions_come_back_packet_by_packet(tmp_path):
    """The IoT layout: one capture per device session in a folder per class, read as ``--unit host``
    (the device is the exported client, 192.0.2.1): a session may open with a packet to the device."""
    ds = iot_like()
    ds = ds.subset(np.argsort(ds.ids))  # prepare reads the captures in path order
    assert (ds.series[:, 0, 0] < 0).any() and (ds.series[:, 0] == 0).any() and (ds.series[:, 0] != 0).all(1).any()
    written = np.zeros_like(ds.series)
    for i, trace_id in enumerate(ds.ids):
        (tmp_path / ds.labels[i]).mkdir(exist_ok=True)
        summary = export_pcap(ds.subset([i]), tmp_path / f"{trace_id}.pcap", seed=i)
        assert summary.n_packets == int((ds.series[i, 0] != 0).sum())  # padding writes nothing
        assert (summary.timing, summary.sizes) == ("series", "series")
        written[i] = summary.written[0]
    back, summary = prepare(tmp_path, unit="host", host="192.0.2.1", feature="sequence", length=T)
    assert back.ids == [f"{i}.pcap" for i in ds.ids] and back.labels == ds.labels
    check_round_trip(back, ds)
    assert np.array_equal(back.series, written)  # exactly what the captures hold
    assert back.meta.channels == ["size", "iat"] and back.meta.extra["channel_units"] == ["bytes", "seconds"]
    assert summary.padding_share == pytest.approx(back.padding_share())
    assert 0 < summary.traces_padded < len(ds)


def test_cli_export_then_prepare_flows(tmp_path, capsys):
    """One capture, one flow per trace (``--unit flow``): the initiator is the first sender, so the
    sessions here open with a packet from the device, as a flow dataset's always do."""
    ds = iot_like(seed=1)
    ds.series[:, 0, 0] = np.abs(ds.series[:, 0, 0])
    write_dataset(ds, tmp_path / "syn.parquet")
    pcap, back_path = tmp_path / "syn.pcap", tmp_path / "back.parquet"
    assert main(["export", str(tmp_path / "syn.parquet"), "--pcap", str(pcap), "--transport", "udp"]) == 0
    n_packets = int((ds.series[:, 0] != 0).sum())
    assert f": {len(ds)} traces, {n_packets} packets, " in capsys.readouterr().out
    assert main(["prepare", str(pcap), "-o", str(back_path), "--unit", "flow", "--feature", "sequence",
                 "--length", str(T), "--no-progress"]) == 0
    out = capsys.readouterr().out
    share = 1 - n_packets / (len(ds) * T)
    assert f"padding: {100 * share:.1f} % of the values (" in out
    assert "(size, iat; bytes,seconds)" in out
    check_round_trip(read_dataset(back_path), ds)
    assert main(["info", str(back_path)]) == 0
    padded = int(((ds.series[:, 0] != 0).sum(axis=1) < T).sum())
    assert (f"padding      {100 * share:.1f} % of the values ({padded} of {len(ds)} traces end before the series "
            "length)") in capsys.readouterr().out.splitlines()


@pytest.mark.data
def test_real_device_sessions_come_back_at_their_own_times(tmp_path):
    """IoT Sentinel sessions -> dataset -> one capture each -> the same dataset: every time to the
    microsecond; every size but those below the class transport's header (an IGMP packet of 32
    bytes in a TCP session is written as 40)."""
    captures = DATA / "iot-sentinel" / "captures"
    if not captures.is_dir():
        pytest.skip("../shared/data is not available")
    files = sorted(captures.glob("*/*.pcap"))[::25]
    real, _ = prepare(files, unit="host", feature="sequence", length=64, ip_only=True)
    for i, label in enumerate(real.labels):
        (tmp_path / label).mkdir(exist_ok=True)
        export_pcap(real.subset([i]), tmp_path / label / f"{i:03d}.pcap", seed=i)
    back, _ = prepare(tmp_path, unit="host", host="192.0.2.1", feature="sequence", length=64)
    order = np.argsort([f"{label}/{i:03d}" for i, label in enumerate(real.labels)], kind="stable")
    real = real.subset(order)
    assert np.array_equal(back.series[:, 1], real.series[:, 1])  # the gaps, to the float32 bit
    small = (real.series[:, 0] != 0) & (np.abs(real.series[:, 0]) < 40)
    assert np.array_equal(back.series[:, 0][~small], real.series[:, 0][~small])
    assert np.array_equal(back.lengths, real.lengths) and len(real) == len(files)


@pytest.mark.parametrize(
    "series, message",
    [
        (np.ones((1, 1, 4)), "a sequence series must have two channels (size, iat) (got 1)"),
        (np.array([[[60.0, 60.0], [0.0, 2.0**33]]]), "series value 8.58993e+09 at trace 0, channel 1, bin 1 is "
         "beyond what a capture can hold as sequence (at most 4.29497e+09 s, as pcap time ends in 2106): check "
         "the series"),
    ],
)
def test_sequences_a_capture_cannot_hold_are_refused(tmp_path, series, message):
    channels = ["size", "iat"][: series.shape[1]]
    ds = TraceDataset(series=series, labels=["a"], ids=["t"], sources=["s"],
                      meta=DatasetMeta(feature="sequence", channels=channels))
    with pytest.raises(DatasetError) as exc:
        export_pcap(ds, tmp_path / "x.pcap")
    assert str(exc.value) == message
    assert not (tmp_path / "x.pcap").exists()
