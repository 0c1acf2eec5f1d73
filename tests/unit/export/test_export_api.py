"""export_pcap: options, determinism, atomic writes, TCP conversations, statistics and fallbacks."""

from __future__ import annotations

import itertools
import logging

import dpkt
import numpy as np
import pytest

from netdiffus.errors import ConfigError, DatasetError, InputError
from netdiffus.export import pcap as pcap_mod
from netdiffus.export.addresses import AddressPlan
from netdiffus.export.pcap import export_pcap, load_export_input, write_flows_csv
from netdiffus.io.dataset import DatasetMeta, TraceDataset, write_dataset

SIZE_EDGES = list(range(0, 1521, 8)) + [65536]


def _hist(peaks):
    counts = np.zeros(len(SIZE_EDGES) - 1)
    for k, c in peaks.items():
        counts[k] = c
    return {"edges": SIZE_EDGES, "counts": counts.tolist()}


def make_dataset(n=6, t=16, *, channels=("bytes_to_initiator", "bytes_from_initiator"), extra=None, seed=0,
                 feature="bytes", labels=("a", "b")):
    rng = np.random.default_rng(seed)
    x = rng.lognormal(8, 1.5, size=(n, len(channels), t)).round()
    x[rng.random(x.shape) < 0.3] = 0
    x[:, -1, 0] = np.maximum(x[:, -1, 0], 1000)
    return TraceDataset(series=x.astype(np.float32), labels=[labels[i % len(labels)] for i in range(n)],
                        ids=[f"t{i}" for i in range(n)], sources=["synthetic"] * n,
                        meta=DatasetMeta(feature=feature, unit="bytes", bin_width_s=0.5, channels=list(channels),
                                         extra=extra or {}))


def prepare_extra(labels=("a", "b"), transport=None):
    return {
        "packet_sizes": {lab: {"down": _hist({5: 10, 180: 50}), "up": _hist({5: 50, 20: 5})} for lab in labels},
        "intra_bin_offsets": {lab: {"edges": np.linspace(0, 1, 21).tolist(), "counts": [1] * 20} for lab in labels},
        "transport": transport or {lab: "tcp" for lab in labels},
    }


def read_packets(path):
    with open(path, "rb") as fh:
        return [(ts, dpkt.ethernet.Ethernet(buf)) for ts, buf in dpkt.pcap.Reader(fh)]


def test_deterministic_given_seed(tmp_path):
    ds = make_dataset(extra=prepare_extra())
    a = export_pcap(ds, tmp_path / "a.pcap", seed=7)
    export_pcap(ds, tmp_path / "b.pcap", seed=7)
    c = export_pcap(ds, tmp_path / "c.pcap", seed=8)
    assert (tmp_path / "a.pcap").read_bytes() == (tmp_path / "b.pcap").read_bytes()
    assert (tmp_path / "a.pcap").read_bytes() != (tmp_path / "c.pcap").read_bytes()
    assert np.array_equal(a.written, c.written)  # the seed changes packets, never the series
    assert a.n_packets == len(read_packets(tmp_path / "a.pcap"))


def test_summary_and_written_series(tmp_path):
    ds = make_dataset(extra=prepare_extra())
    s = export_pcap(ds, tmp_path / "x.pcap")
    assert s.written.tolist() == ds.series.astype(np.int64).tolist()
    assert s.n_ip_bytes == int(ds.series.sum())
    assert s.timing == "histogram" and s.sizes == "histogram" and s.transports == {"tcp": 6}
    assert s.n_file_bytes == (tmp_path / "x.pcap").stat().st_size
    assert s.start_time == pcap_mod.DEFAULT_START_TIME and 0 < s.duration_s < 8
    assert [f.trace_id for f in s.flows] == ds.ids and s.packets_per_s > 0


def test_sizes_come_from_the_histogram_when_an_unused_channel_has_none(tmp_path):
    extra = prepare_extra()
    for lab in ("a", "b"):  # no packet ever went to the initiator: no sizes kept for it
        del extra["packet_sizes"][lab]["down"]
    ds = make_dataset(extra=extra)
    ds.series[:, 0] = 0
    s = export_pcap(ds, tmp_path / "x.pcap")
    assert s.sizes == "histogram" and s.written.tolist() == ds.series.astype(np.int64).tolist()


def test_timestamps_sorted_and_inside_the_series(tmp_path):
    ds = make_dataset(extra=prepare_extra())
    export_pcap(ds, tmp_path / "x.pcap", start_time=1_000_000.0)
    ts = np.array([t for t, _ in read_packets(tmp_path / "x.pcap")])
    assert np.all(np.diff(ts) >= 0)
    assert ts[0] == 1_000_000.0 and ts[-1] < 1_000_000.0 + 16 * 0.5


def test_stagger(tmp_path):
    ds = make_dataset(n=3, extra=prepare_extra())
    export_pcap(ds, tmp_path / "x.pcap", start_time=100.0, stagger_s=2.5)
    first = {}
    for ts, eth in read_packets(tmp_path / "x.pcap"):
        first.setdefault(eth.data.src if eth.data.data.sport != 443 else eth.data.dst, ts)
    assert sorted(first.values()) == [100.0, 102.5, 105.0]


def test_tcp_conversation(tmp_path):
    ds = make_dataset(n=1, extra=prepare_extra())
    ds.series[0, :, 0] = 3000  # both directions speak in the first bin: SYN, SYN-ACK, then the rest
    export_pcap(ds, tmp_path / "x.pcap")
    pkts = [eth.data for _, eth in read_packets(tmp_path / "x.pcap")]
    client = (pkts[0].src, pkts[0].data.sport)
    fwd = [ip.data for ip in pkts if (ip.src, ip.data.sport) == client]
    rev = [ip.data for ip in pkts if (ip.src, ip.data.sport) != client]
    assert fwd[0].flags == dpkt.tcp.TH_SYN and len(fwd[0].data) == 0
    assert rev[0].flags == dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK
    assert rev[0].ack == fwd[0].seq + 1
    assert fwd[-1].flags & dpkt.tcp.TH_FIN and rev[-1].flags & dpkt.tcp.TH_FIN
    assert sum(bool(p.flags & dpkt.tcp.TH_SYN) for p in fwd + rev) == 2
    for seg in (fwd, rev):  # sequence numbers follow the payload
        for p, q in itertools.pairwise(seg):
            step = len(p.data) + bool(p.flags & (dpkt.tcp.TH_SYN | dpkt.tcp.TH_FIN))
            assert q.seq == (p.seq + step) % 2**32
    assert {(ip.dst, ip.data.dport) for ip in pkts if (ip.src, ip.data.sport) != client} == {client}


def test_transport_from_metadata_and_override(tmp_path):
    ds = make_dataset(extra=prepare_extra(transport={"a": "udp", "b": "other"}))
    s = export_pcap(ds, tmp_path / "x.pcap")
    assert s.transports == {"udp": 6}
    assert {type(eth.data.data) for _, eth in read_packets(tmp_path / "x.pcap")} == {dpkt.udp.UDP}
    s = export_pcap(ds, tmp_path / "y.pcap", transport="tcp")
    assert s.transports == {"tcp": 6}


def test_one_five_tuple_per_trace(tmp_path):
    ds = make_dataset(n=9, extra=prepare_extra())
    s = export_pcap(ds, tmp_path / "x.pcap")
    tuples = {(f.client, f.client_port, f.server, f.server_port) for f in s.flows}
    assert len(tuples) == 9
    seen = {}
    for _, eth in read_packets(tmp_path / "x.pcap"):
        ip = eth.data
        key = frozenset([(ip.src, ip.data.sport), (ip.dst, ip.data.dport)])
        seen[key] = seen.get(key, 0) + 1
    assert len(seen) == 9 and sorted(seen.values()) == sorted(f.n_packets for f in s.flows)


def test_no_capture_statistics_is_one_info_line(tmp_path, caplog):
    ds = make_dataset(n=4)  # like series prepared from CSV files
    with caplog.at_level(logging.INFO, logger="netdiffus.export.pcap"):
        s = export_pcap(ds, tmp_path / "x.pcap")
    fallbacks = [r for r in caplog.records if "capture statistics" in r.getMessage() or "kept for" in r.getMessage()]
    assert [(r.levelno, r.getMessage()) for r in fallbacks] == [
        (logging.INFO, "the dataset carries no capture statistics (not prepared from captures): writing TCP, "
                       "MTU-sized packets plus one remainder, spread uniformly in each bin")]
    assert s.timing == "uniform" and s.sizes == "mtu-fill"
    assert s.written.tolist() == ds.series.astype(np.int64).tolist()


def test_missing_statistics_of_some_classes_warn_once(tmp_path, caplog):
    ds = make_dataset(n=4)
    ds.meta.extra["transport"] = {"a": "udp"}  # captured statistics, but not for class b
    with caplog.at_level(logging.WARNING, logger="netdiffus.export.pcap"):
        export_pcap(ds, tmp_path / "x.pcap")
    msgs = [r.getMessage() for r in caplog.records]
    assert msgs[:3] == [
        "no transport kept for class(es) b: writing TCP",
        "no packet-size histogram kept for class(es) a, b: writing MTU-sized packets plus one remainder",
        "no intra-bin timing kept for class(es) a, b: spreading packets uniformly in each bin",
    ]


def test_max_traces_takes_classes_in_turn(tmp_path):
    ds = make_dataset(n=8, labels=("a", "a", "a", "b"))
    s = export_pcap(ds, tmp_path / "x.pcap", max_traces=3)
    assert [f.label for f in s.flows] == ["a", "a", "b"] and s.trace_index == [0, 1, 3]
    assert s.written.shape == (3, 2, 16)


def test_packets_feature(tmp_path):
    ds = make_dataset(n=3, channels=("pkt_count_dl",), feature="pkt_count_dl")
    ds.series[:] = np.minimum(ds.series, 50)
    s = export_pcap(ds, tmp_path / "x.pcap")
    assert s.feature == "packets" and s.n_packets == int(ds.series.sum())
    assert s.written.tolist() == ds.series.astype(np.int64).tolist()


def test_sizes_feature(tmp_path):
    x = np.array([[[60, -1500, 52, -1200, 2000, -10, 0, 0]]], np.float32)
    ds = TraceDataset(series=x, labels=["a"], ids=["t0"], sources=["s"],
                      meta=DatasetMeta(feature="sizes", unit="bytes", channels=["sizes"]))
    s = export_pcap(ds, tmp_path / "x.pcap", transport="udp")
    pkts = [eth.data for _, eth in read_packets(tmp_path / "x.pcap")]
    client = pkts[0].src
    assert [len(ip) if ip.src == client else -len(ip) for ip in pkts] == [60, -1500, 52, -1200, 1500, -28]
    assert s.n_clipped == 2 and s.written.tolist() == [[[60, -1500, 52, -1200, 1500, -28, 0, 0]]]


def test_ipv6_and_mapped_addresses(tmp_path):
    ds = make_dataset(n=2, extra=prepare_extra())
    plan = AddressPlan.parse(["client=2001:db8:aa::/64", "b=2001:db8:bb::9"])
    s = export_pcap(ds, tmp_path / "x.pcap", addresses=plan)
    assert [(f.client, f.server) for f in s.flows] == [("2001:db8:aa::1", "2001:db8:5::1"),
                                                       ("2001:db8:aa::2", "2001:db8:bb::9")]
    assert {type(eth.data) for _, eth in read_packets(tmp_path / "x.pcap")} == {dpkt.ip6.IP6}
    assert s.written.tolist() == ds.series.astype(np.int64).tolist()


def test_mtu_bounds_sizes(tmp_path):
    ds = make_dataset(n=2, extra=prepare_extra())
    export_pcap(ds, tmp_path / "x.pcap", mtu=576)
    assert max(len(eth.data) for _, eth in read_packets(tmp_path / "x.pcap")) == 576


def test_no_partial_file_on_error(tmp_path, monkeypatch):
    ds = make_dataset(extra=prepare_extra())
    out = tmp_path / "x.pcap"

    def boom(**kw):
        raise OSError("disk full")

    monkeypatch.setattr(pcap_mod, "encode_records", boom)
    with pytest.raises(InputError) as exc:
        export_pcap(ds, out)
    assert str(exc.value) == f"cannot write pcap {out}: disk full"
    assert list(tmp_path.iterdir()) == []


def test_output_is_a_folder(tmp_path):
    with pytest.raises(ConfigError) as exc:
        export_pcap(make_dataset(n=1), tmp_path)
    assert str(exc.value) == (
        f"pcap output {tmp_path} is a folder; give a file name such as {tmp_path / 'synthetic.pcap'}"
    )


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"transport": "sctp"}, ConfigError, "transport must be one of auto, tcp, udp (got 'sctp')"),
        ({"mtu": 100}, ConfigError, "mtu must be an integer from 128 to 65535 (got 100)"),
        ({"max_traces": 0}, ConfigError, "max_traces must be an integer >= 1 (got 0)"),
        ({"max_traces": 2.5}, ConfigError, "max_traces must be an integer >= 1 (got 2.5)"),
        ({"start_time": "now"}, ConfigError, "start_time must be a number (got 'now')"),
        ({"bin_width_s": "2"}, ConfigError, "bin_width_s must be a number (got '2')"),
        ({"seed": -1}, ConfigError, "seed must be an integer from 0 to 2**32 - 1 (got -1)"),
        ({"mtu": 1500.0}, ConfigError, "mtu must be an integer from 128 to 65535 (got 1500.0)"),
        ({"start_time": -5.0}, ConfigError, "start_time must be Unix seconds from 0 to 2**32 (got -5.0)"),
        ({"packet_gap_s": 0}, ConfigError, "packet_gap_s must be > 0 (got 0)"),
        ({"snaplen": 10}, ConfigError, "snaplen must be an integer from 96 to 262144 (got 10)"),
        ({"snaplen": 100.5}, ConfigError, "snaplen must be an integer from 96 to 262144 (got 100.5)"),
        ({"feature": "flows"}, ConfigError,
         "feature must be one of bytes, packets, sizes, iat, sequence (got 'flows')"),
        ({"bin_width_s": 0.0}, ConfigError, "bin_width_s must be >= 0.0001 (got 0.0)"),
        ({"stagger_s": -1.0}, ConfigError, "stagger_s must be >= 0 (got -1.0)"),
        ({"addresses": AddressPlan.parse(["NOPE=192.0.2.7"])}, ConfigError,
         "addr-map class 'NOPE' is not a class of the dataset (classes: {classes})"),
    ],
)
def test_option_errors(tmp_path, kwargs, error, message):
    ds = make_dataset(n=2)
    with pytest.raises(error) as exc:
        export_pcap(ds, tmp_path / "x.pcap", **kwargs)
    assert str(exc.value) == message.format(classes=", ".join(sorted(set(ds.labels))))
    assert not (tmp_path / "x.pcap").exists()


def test_dataset_errors(tmp_path):
    ds = make_dataset(n=2)
    ds.meta.bin_width_s = None
    with pytest.raises(DatasetError) as exc:
        export_pcap(ds, tmp_path / "x.pcap")
    assert str(exc.value) == ("bin width must be >= 0.0001 s to export bytes per bin (got meta.bin_width_s=None); "
                              "pass bin_width_s (--bin-width)")
    s = export_pcap(ds, tmp_path / "x.pcap", bin_width_s=2.0)
    assert 2.0 * 7 < s.duration_s < 2.0 * 16
    ds = make_dataset(n=2, channels=("a", "b", "c"))
    with pytest.raises(DatasetError, match="pcap export needs 1 or 2 channels"):
        export_pcap(ds, tmp_path / "x.pcap")


def test_load_export_input(tmp_path):
    ds = make_dataset(n=2)
    write_dataset(ds, tmp_path / "synthetic.parquet")
    assert load_export_input(tmp_path).ids == ds.ids
    assert load_export_input(tmp_path / "synthetic.parquet").ids == ds.ids
    (tmp_path / "sub").mkdir()
    with pytest.raises(InputError) as exc:
        load_export_input(tmp_path / "sub")
    assert str(exc.value) == (f"run folder {tmp_path / 'sub'} has no synthetic.parquet (run 'netdiffus sample' "
                              "first, or give a .parquet dataset)")
    with pytest.raises(InputError, match="does not exist"):
        load_export_input(tmp_path / "missing.parquet")


def test_flows_csv(tmp_path):
    ds = make_dataset(n=2, extra=prepare_extra())
    s = export_pcap(ds, tmp_path / "x.pcap", flow_records=True)
    write_flows_csv(s, tmp_path / "f.csv")
    lines = (tmp_path / "f.csv").read_text().splitlines()
    assert lines[0].startswith("id,Flow ID,Source IP,Source Port,Destination IP,Destination Port,Protocol,Start Time,"
                               "End Time,Flow Duration,Total Fwd Packets,Total Backward Packets,")
    assert lines[0].endswith(",Init_Win_bytes_forward,Init_Win_bytes_backward,Label")
    assert lines[1].startswith("t0,192.0.2.1-198.51.100.1-49152-443-6,192.0.2.1,49152,198.51.100.1,443,6,"
                               "1704067200.000000000,")
    assert lines[1].endswith(",65535,65535,a") and len(lines) == 3


def test_flows_csv_needs_the_records(tmp_path):
    s = export_pcap(make_dataset(n=2, extra=prepare_extra()), tmp_path / "x.pcap")
    with pytest.raises(ConfigError, match="^the export summary holds no flow records: export with flow_records=True$"):
        write_flows_csv(s, tmp_path / "f.csv")


@pytest.mark.parametrize(
    "empty_b, warnings",
    [
        ([], []),
        (["down"], ["no packet-size histogram kept for class(es) b (bytes_to_initiator): writing MTU-sized "
                    "packets plus one remainder"]),
        (["up"], ["no packet-size histogram kept for class(es) b (bytes_from_initiator): writing MTU-sized "
                  "packets plus one remainder"]),
        (["down", "up"], ["no packet-size histogram kept for class(es) b: writing MTU-sized packets plus one "
                          "remainder"]),
    ],
)  # fmt: skip
def test_an_unused_direction_needs_no_size_histogram(tmp_path, caplog, empty_b, warnings):
    # Class a never sends to the initiator and kept an empty histogram for that direction, as
    # prepare does: no warning. Class b has bytes in both directions: an empty histogram is
    # warned, naming the channel when the other direction has one.
    extra = prepare_extra()
    empty = {"edges": SIZE_EDGES, "counts": [0.0] * (len(SIZE_EDGES) - 1)}
    extra["packet_sizes"]["a"]["down"] = empty
    for d in empty_b:
        extra["packet_sizes"]["b"][d] = empty
    ds = make_dataset(n=4, extra=extra)
    ds.series[[0, 2], 0] = 0  # class a: nothing to the initiator
    ds.series[[1, 3], :, 1] = 500  # class b: bytes both ways
    with caplog.at_level(logging.WARNING, logger="netdiffus.export.pcap"):
        export_pcap(ds, tmp_path / "x.pcap")
    assert [r.getMessage() for r in caplog.records] == warnings


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"transport": "sctp"}, "transport must be one of auto, tcp, udp (got 'sctp')"),
        ({"mtu": 100}, "mtu must be an integer from 128 to 65535 (got 100)"),
        ({"mtu": True}, "mtu must be an integer from 128 to 65535 (got True)"),
        ({"max_traces": 0}, "max_traces must be an integer >= 1 (got 0)"),
        ({"start_time": None}, "start_time must be a number (got None)"),
        ({"stagger_s": "1"}, "stagger_s must be a number (got '1')"),
        ({"packet_gap_s": -0.5}, "packet_gap_s must be > 0 (got -0.5)"),
        ({"start_time": float("inf")}, "start_time must be Unix seconds from 0 to 2**32 (got inf)"),
        ({"stagger_s": float("nan")}, "stagger_s must be >= 0 (got nan)"),
        ({"snaplen": 262145}, "snaplen must be an integer from 96 to 262144 (got 262145)"),
        ({"seed": 2**32}, "seed must be an integer from 0 to 2**32 - 1 (got 4294967296)"),
        ({"feature": "flows"}, "feature must be one of bytes, packets, sizes, iat, sequence (got 'flows')"),
        ({"bin_width_s": 1e-5}, "bin_width_s must be >= 0.0001 (got 1e-05)"),
    ],
)  # fmt: skip
def test_export_options_errors(kwargs, message):
    with pytest.raises(ConfigError) as exc:
        pcap_mod.ExportOptions(**kwargs)
    assert str(exc.value) == message


def test_export_options_and_keywords_give_the_same_capture(tmp_path):
    ds = make_dataset(n=4, extra=prepare_extra(transport={"a": "udp", "b": "tcp"}))
    opts = pcap_mod.ExportOptions(seed=5, mtu=576, stagger_s=0.25)
    export_pcap(ds, tmp_path / "a.pcap", opts)
    export_pcap(ds, tmp_path / "b.pcap", seed=5, mtu=576, stagger_s=0.25)
    export_pcap(ds, tmp_path / "c.pcap", pcap_mod.ExportOptions(seed=5), mtu=576, stagger_s=0.25)  # keywords win
    assert (tmp_path / "a.pcap").read_bytes() == (tmp_path / "b.pcap").read_bytes() == \
        (tmp_path / "c.pcap").read_bytes()
    assert opts.seed == 5 and type(pcap_mod.ExportOptions(seed=np.int64(3)).seed) is int


# -- what a dataset says, and values no capture can hold ------------------------------------------------
def test_the_series_kind_is_taken_from_the_unit_when_the_name_does_not_say(tmp_path):
    ds = make_dataset(n=2, t=4, channels=("value",), feature="value")
    ds.meta.unit = "packets"  # prepared from CSV traces with --value-unit packets
    ds.series[:] = np.array([[[3, 0, 1, 0]], [[0, 2, 0, 0]]])
    summary = export_pcap(ds, tmp_path / "x.pcap")  # was: asked for --feature packets
    assert summary.feature == "packets" and summary.n_packets == 6


def test_an_absurd_bin_is_refused_before_any_packet_is_made(tmp_path):
    ds = make_dataset(n=2, t=4, channels=("bytes",))
    ds.series[1, 0, 2] = 1e12
    with pytest.raises(ConfigError) as exc:  # was: "about 1030 GB", then out of memory
        export_pcap(ds, tmp_path / "x.pcap")
    assert str(exc.value).startswith("the capture would hold about 666,66")
    assert "trace 't1' alone" in str(exc.value) and str(exc.value).endswith(
        "more than max_packets 10,000,000 (export holds every packet in memory, about 150 bytes each): check the "
        "series, export fewer traces (--max-traces), or raise --max-packets")
    assert list(tmp_path.iterdir()) == []
    summary = export_pcap(ds, tmp_path / "x.pcap", max_traces=1)  # the other trace alone is fine
    assert summary.n_traces == 1


@pytest.mark.parametrize("feature, value, message", [
    ("bytes", 1e19, "series value 1e+19 at trace 0, channel 0, bin 1 is beyond what a capture can hold as bytes "
                    "(at most 9.0072e+15): check the series"),
    ("sizes", -1e19, "series value -1e+19 at trace 0, channel 0, bin 1 is beyond what a capture can hold as sizes"),
    ("iat", 1e12, "series value 1e+12 at trace 0, channel 0, bin 1 is beyond what a capture can hold as iat (at most "
                  "4.29497e+09 s, as pcap time ends in 2106): check the series"),
])
def test_huge_values_are_named_not_a_snaplen(tmp_path, feature, value, message):
    ds = make_dataset(n=1, t=4, channels=("x",), feature=feature)
    ds.series[0, 0, 1] = value
    with pytest.raises(DatasetError) as exc:  # was: "snaplen must keep the 54 header bytes (got None)"
        export_pcap(ds, tmp_path / "x.pcap")
    assert str(exc.value).startswith(message)


@pytest.mark.parametrize("width, written", [(2e9, False), (6e7, True)])  # 4 bins: 8e9 s pass 2106, 2.4e8 s do not
def test_bins_spanning_past_what_a_capture_holds_are_refused_up_front(tmp_path, width, written):
    ds = make_dataset(n=1, t=4, channels=("bytes",))
    ds.meta.bin_width_s = width
    if written:
        assert export_pcap(ds, tmp_path / "x.pcap").n_traces == 1
        return
    with pytest.raises(DatasetError) as exc:  # was: bin edges overflowing int64 microseconds
        export_pcap(ds, tmp_path / "x.pcap")
    assert str(exc.value) == ("4 bins of 2e+09 s span more than a capture can hold (pcap time ends in 2106): check "
                              "the bin width (meta.bin_width_s, or pass --bin-width)")
    assert list(tmp_path.iterdir()) == []
