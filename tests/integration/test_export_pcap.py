"""Exported captures, checked from the outside.

- dpkt (an independent reader) reads every packet; IPv4 header and TCP / UDP checksums are
  verified with a plain RFC 1071 sum written here; bytes per bin are counted from the packets
  and compared with the series.
- Round trip: ``prepare`` on the exported capture gives the series back exactly.
- tshark, when installed, reads the capture with checksum validation on and reports no error.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import dpkt
import numpy as np
import pytest

from conftest import ones_complement_sum
from netdiffus.cli.main import main
from netdiffus.export.addresses import AddressPlan
from netdiffus.export.pcap import export_pcap
from netdiffus.io.dataset import DatasetMeta, TraceDataset, read_dataset, write_dataset

REPO = Path(__file__).resolve().parents[2]
DATA = (REPO / ".." / "shared" / "data").resolve()
SIZE_EDGES = list(range(0, 1521, 8)) + [65536]
BIN_S = 0.5


# -- an independent reader ----------------------------------------------------------------------


def read_and_verify(path: Path) -> list[dict]:
    """Every packet of ``path``, parsed by dpkt, with its checksums verified independently."""
    out = []
    with open(path, "rb") as fh:
        reader = dpkt.pcap.Reader(fh)
        assert reader.datalink() == dpkt.pcap.DLT_EN10MB
        for ts, buf in reader:
            eth = dpkt.ethernet.Ethernet(buf)
            ip = eth.data
            raw_ip = buf[14:]
            if isinstance(ip, dpkt.ip.IP):
                assert ones_complement_sum(raw_ip[: ip.hl * 4]) == 0xFFFF, "IPv4 header checksum"
                assert ip.len == len(raw_ip)
                seg = raw_ip[ip.hl * 4 :]
                pseudo = ip.src + ip.dst + struct.pack("!BBH", 0, ip.p, len(seg))
                proto = ip.p
            else:
                assert isinstance(ip, dpkt.ip6.IP6)
                seg = raw_ip[40:]
                assert ip.plen == len(seg)
                pseudo = ip.src + ip.dst + struct.pack("!IxxxB", len(seg), ip.nxt)
                proto = ip.nxt
            assert proto in (6, 17)
            assert ones_complement_sum(pseudo + seg) == 0xFFFF, "transport checksum"
            l4 = ip.data
            assert not any(bytes(l4.data)), "payloads are zero-filled"
            out.append({"ts": ts, "len": len(raw_ip), "src": (ip.src, l4.sport), "dst": (ip.dst, l4.dport),
                        "proto": proto, "flags": getattr(l4, "flags", 0)})
    return out


def bytes_per_bin(packets: list[dict], *, t: int, start: float) -> dict[frozenset, dict]:
    """Per conversation: bytes per bin from its first packet, to and from the first sender."""
    convs: dict[frozenset, dict] = {}
    for p in packets:
        key = frozenset([p["src"], p["dst"]])
        c = convs.setdefault(key, {"initiator": p["src"], "t0": p["ts"], "x": np.zeros((2, t), np.int64)})
        k = int(np.floor((p["ts"] - c["t0"]) / BIN_S + 1e-9))
        c["x"][1 if p["src"] == c["initiator"] else 0, k] += p["len"]
    return convs


# -- datasets -----------------------------------------------------------------------------------
def representable(n: int, t: int, *, seed: int, min_bytes: int = 60, channels: int = 2) -> np.ndarray:
    """Integer bytes per bin, zero or at least one minimal packet; the initiator speaks in bin 0."""
    rng = np.random.default_rng(seed)
    x = rng.lognormal(8, 2, size=(n, channels, t)).round()
    x[rng.random(x.shape) < 0.35] = 0
    x[(x > 0) & (x < min_bytes)] = min_bytes
    x[:, -1, 0] = np.maximum(x[:, -1, 0], min_bytes)
    return x.astype(np.float32)


def stats(labels, transport):
    counts = np.zeros(len(SIZE_EDGES) - 1)
    counts[[5, 8, 70, 181, 186]] = [40, 10, 5, 30, 60]
    return {
        "packet_sizes": {lab: {"down": {"edges": SIZE_EDGES, "counts": counts.tolist()},
                               "up": {"edges": SIZE_EDGES, "counts": counts[::-1].tolist()}} for lab in labels},
        "intra_bin_offsets": {lab: {"edges": np.linspace(0, 1, 21).tolist(), "counts": list(range(1, 21))}
                              for lab in labels},
        "transport": transport,
    }


def two_way_dataset(n=10, t=32, seed=0, *, jitter=True) -> TraceDataset:
    x = representable(n, t, seed=seed)
    if jitter:  # synthetic series are floats
        x = x + np.random.default_rng(seed).uniform(-0.4, 0.4, x.shape).astype(np.float32) * (x > 0)
    labels = ["web" if i % 2 else "video" for i in range(n)]
    return TraceDataset(series=x, labels=labels, ids=[f"syn{i}" for i in range(n)], sources=["synthetic"] * n,
                        meta=DatasetMeta(feature="bytes", unit="bytes", bin_width_s=BIN_S,
                                         channels=["bytes_to_initiator", "bytes_from_initiator"],
                                         extra=stats(["video", "web"], {"video": "udp", "web": "tcp"})))


# -- tests --------------------------------------------------------------------------------------
@pytest.mark.parametrize("ip_version", [4, 6])
def test_dpkt_reads_every_packet_checksums_verify_and_bytes_match(tmp_path, ip_version):
    ds = two_way_dataset()
    out = tmp_path / "syn.pcap"
    s = export_pcap(ds, out, seed=1, addresses=AddressPlan.default(ip_version=ip_version))
    expected = np.rint(ds.series).astype(np.int64)
    assert np.array_equal(s.written, expected)
    packets = read_and_verify(out)
    assert len(packets) == s.n_packets and sum(p["len"] for p in packets) == int(expected.sum())
    convs = bytes_per_bin(packets, t=ds.length, start=s.start_time)
    assert len(convs) == ds.n_traces
    for f, x in zip(s.flows, expected, strict=True):
        client = (AddressPlan.default(ip_version=ip_version).client(0)[0].__class__(f.client).packed, f.client_port)
        conv = next(c for c in convs.values() if c["initiator"] == client)
        assert np.array_equal(conv["x"], x), f.trace_id
    tcp = [p for p in packets if p["proto"] == 6]
    assert tcp and sum(p["flags"] == dpkt.tcp.TH_SYN for p in tcp) == 5  # one opening SYN per TCP trace
    assert {p["proto"] for p in packets} == {6, 17}


@pytest.mark.parametrize(
    "channels, split",
    [(["bytes_to_initiator", "bytes_from_initiator"], True), (["bytes"], False)],
)
def test_round_trip_through_prepare(tmp_path, channels, split):
    prepare = pytest.importorskip("netdiffus.prepare").prepare
    n, t = 12, 40
    x = representable(n, t, seed=3, channels=len(channels))
    ds = TraceDataset(series=x, labels=["a"] * n, ids=[f"s{i}" for i in range(n)], sources=["syn"] * n,
                      meta=DatasetMeta(feature="bytes", unit="bytes", bin_width_s=BIN_S, channels=channels,
                                       extra=stats(["a"], {"a": "tcp"})))
    out = tmp_path / "a.pcap"
    s = export_pcap(ds, out, seed=5, stagger_s=0.3 if split else 0.0)
    assert np.array_equal(s.written, x.astype(np.int64))
    back, _ = prepare([out], unit="flow", feature="bytes", bin_width=BIN_S, length=t, split_direction=split)
    assert back.meta.channels == (channels if split else ["bytes"])
    assert back.meta.bin_width_s == BIN_S
    assert np.array_equal(back.series, x)  # same traces, same order (by first packet), same bytes per bin


def test_round_trip_packets_and_sizes(tmp_path):
    prepare = pytest.importorskip("netdiffus.prepare").prepare
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 30, size=(6, 2, 20)).astype(np.float32)
    counts[:, 1, 0] = np.maximum(counts[:, 1, 0], 1)
    ds = TraceDataset(series=counts, labels=["a"] * 6, ids=list("abcdef"), sources=["s"] * 6,
                      meta=DatasetMeta(feature="packets", unit="packets", bin_width_s=0.25,
                                       channels=["packets_to_initiator", "packets_from_initiator"]))
    export_pcap(ds, tmp_path / "p.pcap", transport="udp")
    back, _ = prepare([tmp_path / "p.pcap"], unit="flow", feature="packets", bin_width=0.25, length=20,
                      split_direction=True)
    assert np.array_equal(back.series, counts)

    sizes = rng.integers(40, 1501, size=(5, 1, 30)) * rng.choice([-1, 1], size=(5, 1, 30))
    sizes[:, 0, 0] = np.abs(sizes[:, 0, 0])  # the initiator sends first
    sizes[:, 0, 25:] = 0  # padding
    ds = TraceDataset(series=sizes.astype(np.float32), labels=["a"] * 5, ids=list("abcde"), sources=["s"] * 5,
                      meta=DatasetMeta(feature="sizes", unit="bytes", channels=["sizes"]))
    export_pcap(ds, tmp_path / "s.pcap")
    back, _ = prepare([tmp_path / "s.pcap"], unit="flow", feature="sizes", length=30)
    assert np.array_equal(back.series, sizes.astype(np.float32))


def test_round_trip_iat(tmp_path):
    prepare = pytest.importorskip("netdiffus.prepare").prepare
    rng = np.random.default_rng(1)
    gaps = np.round(rng.exponential(0.05, size=(4, 1, 24)), 6)
    gaps[:, 0, 20:] = 0  # padding: 21 packets per trace
    ds = TraceDataset(series=gaps.astype(np.float32), labels=["a"] * 4, ids=list("abcd"), sources=["s"] * 4,
                      meta=DatasetMeta(feature="iat", unit="seconds", channels=["iat"]))
    s = export_pcap(ds, tmp_path / "i.pcap")
    assert s.n_packets == 4 * 21
    assert np.abs(s.written - ds.series).max() < 1e-6  # rounded to microseconds
    back, _ = prepare([tmp_path / "i.pcap"], unit="flow", feature="iat", length=24)
    assert np.abs(back.series - s.written).max() < 1e-7


def test_cli_export_then_cli_prepare(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    ds = two_way_dataset(n=6, t=24, seed=2)
    write_dataset(ds, run / "synthetic.parquet")
    pcap = tmp_path / "out.pcap"
    assert main(["export", str(run), "--pcap", str(pcap), "--seed", "4", "--flows", str(tmp_path / "f.csv"),
                 "--csv", str(tmp_path / "s.csv")]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {pcap}: 6 traces, ")
    assert len((tmp_path / "f.csv").read_text().splitlines()) == 7
    rows = (tmp_path / "s.csv").read_text().splitlines()
    assert len(rows) == 7 and rows[0].startswith("id,label,source,bytes_to_initiator_0,bytes_to_initiator_1,")
    assert rows[1].split(",")[3:] == [str(int(v)) for v in np.rint(ds.series[0]).reshape(-1)]
    first = pcap.read_bytes()
    again = ["export", str(run / "synthetic.parquet"), "--pcap", str(pcap), "--seed", "4"]
    assert main(again) == 1  # an existing capture is kept unless --force
    assert capsys.readouterr().err == f"error: --pcap {pcap} exists (use --force to replace it)\n"
    assert main([*again, "--force"]) == 0
    assert pcap.read_bytes() == first
    back_path = tmp_path / "back.parquet"
    assert main(["prepare", str(pcap), "-o", str(back_path), "--unit", "flow", "--feature", "bytes",
                 "--bin-width", "0.5s", "--length", "24", "--split-direction", "--no-progress"]) == 0
    back = read_dataset(back_path)
    assert back.meta.bin_width_s == BIN_S
    assert np.array_equal(back.series, np.rint(ds.series))
    # the flow table written beside the pcap labels its flows again
    assert main(["prepare", str(pcap), "-o", str(back_path), "--unit", "flow", "--feature", "bytes",
                 "--bin-width", "0.5s", "--length", "24", "--split-direction", "--no-progress",
                 "--label-from", f"csv:{tmp_path / 'f.csv'}", "--force"]) == 0
    back = read_dataset(back_path)
    assert len(set(ds.labels)) > 1 and back.labels == ds.labels
    assert np.array_equal(back.series, np.rint(ds.series))


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--mtu", "50"], "error: mtu must be an integer from 128 to 65535 (got 50)"),
        (["--addr-map", "client=x"], "error: addr-map client must be a network such as 192.0.2.0/24 (got 'x')"),
        (["--start-time", "yesterday"], "error: start-time must be Unix seconds or an ISO 8601 time (got 'yesterday')"),
        (["--feature", "packets", "--max-traces", "0"], "error: max_traces must be an integer >= 1 (got 0)"),
        (["--flows", "."], "error: --flows . is a folder; give a file name"),
        (["--csv", "{d}"], "error: --csv {d} is a folder; give a file name"),
        (["--csv", "{d}/d.parquet/x.csv"],
         "error: --csv {d}/d.parquet/x.csv is inside {d}/d.parquet, which is a file, not a folder"),
        (["--flows", "{d}/d.parquet/f.csv"],
         "error: --flows {d}/d.parquet/f.csv is inside {d}/d.parquet, which is a file, not a folder"),
    ],
)
def test_cli_errors_leave_no_file(tmp_path, capsys, argv, message):
    write_dataset(two_way_dataset(n=2, t=8), tmp_path / "d.parquet")
    pcap = tmp_path / "out.pcap"
    argv = [a.format(d=tmp_path) for a in argv]
    assert main(["export", str(tmp_path / "d.parquet"), "--pcap", str(pcap)] + argv) == 1
    assert capsys.readouterr().err.strip().splitlines() == [message.format(d=tmp_path)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.parquet"]


def test_cli_start_time_iso(tmp_path):
    write_dataset(two_way_dataset(n=2, t=8), tmp_path / "d.parquet")
    pcap = tmp_path / "out.pcap"
    assert main(["export", str(tmp_path / "d.parquet"), "--pcap", str(pcap),
                 "--start-time", "2025-03-01T12:00:00Z"]) == 0
    assert read_and_verify(pcap)[0]["ts"] == 1740830400.0


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
@pytest.mark.parametrize("ip_version", [4, 6])
def test_tshark_reads_it_with_checksum_validation(tmp_path, ip_version):
    out = tmp_path / "syn.pcap"
    s = export_pcap(two_way_dataset(), out, seed=1, addresses=AddressPlan.default(ip_version=ip_version))
    opts = ["-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE"]
    res = subprocess.run(["tshark", "-n", "-r", str(out), *opts, "-T", "fields", "-e", "frame.number"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert len(res.stdout.split()) == s.n_packets
    bad = subprocess.run(["tshark", "-n", "-r", str(out), *opts, "-Y",
                          "ip.checksum.status == 0 || tcp.checksum.status == 0 || udp.checksum.status == 0 "
                          "|| _ws.malformed || _ws.expert.severity == error"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 0 and bad.stdout.strip() == "", bad.stdout[:2000]


@pytest.mark.data
def test_real_captures_round_trip(tmp_path):
    """Real IoT captures -> dataset (with its statistics) -> pcap -> the same dataset."""
    prepare = pytest.importorskip("netdiffus.prepare").prepare
    src = DATA / "iot-sentinel" / "captures" / "Aria"
    if not src.is_dir():
        pytest.skip("../shared/data is not available")
    files = sorted(src.glob("*.pcap"))[:3]
    real, _ = prepare(files, unit="flow", feature="bytes", bin_width="0.25s", length=64, split_direction=True)
    assert set(real.meta.extra) >= {"packet_sizes", "intra_bin_offsets", "transport"}
    s = export_pcap(real, tmp_path / "real.pcap", seed=0)
    assert s.timing == "histogram" and s.sizes == "histogram"
    read_and_verify(tmp_path / "real.pcap")
    back, _ = prepare([tmp_path / "real.pcap"], unit="flow", feature="bytes", bin_width="0.25s", length=64,
                      split_direction=True)
    # the capture holds what the exporter reports, and that is the real series except where a
    # bin held less than one packet of the class's transport (carried to the next bin)
    key = lambda a: sorted(map(bytes, np.ascontiguousarray(a.astype(np.int64))))  # noqa: E731
    assert key(back.series) == key(s.written.astype(np.float32))
    same = np.all(s.written == np.rint(real.series), axis=(1, 2))
    assert same.mean() > 0.8
