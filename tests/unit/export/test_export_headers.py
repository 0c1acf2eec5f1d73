"""Export with header metadata: conversations per trace, learned ports, TTLs, windows, PSH, servers."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import dpkt
import numpy as np
import pytest

from netdiffus.errors import ConfigError
from netdiffus.export.conversations import split_packets
from netdiffus.export.pcap import export_pcap
from netdiffus.io.dataset import DatasetMeta, TraceDataset
from netdiffus.io.flow_records import read_flow_records
from netdiffus.io.headers import FlowHeader, TraceHeader

WEB = FlowHeader("tcp", 8443, 49152, 12, 128, 58, 8192, 29200, 0, 0)
DNS = FlowHeader("udp", 53, 49152, 2, 128, 64, -1, -1, 1, -1)
NTP = FlowHeader("udp", 123, 123, 2, 128, 64, -1, -1, -1, -1)
BEACON = FlowHeader("udp", 5683, 1024, 2, 1, -1, -1, -1, -1, -1)  # one-way: nothing came back


def dataset(n: int = 2) -> TraceDataset:
    row = [[3000.0, 500.0, 1200.0, 800.0], [2000.0, 300.0, 900.0, 400.0]]
    return TraceDataset(series=np.array([row] * n), labels=["cam"] * n, ids=[f"t{i}" for i in range(n)],
                        sources=["s"] * n, meta=DatasetMeta(feature="bytes", unit="bytes", bin_width_s=0.5,
                                                            channels=["bytes_to_host", "bytes_from_host"]))


def packets(path: Path) -> list:
    with open(path, "rb") as fh:
        return [dpkt.ethernet.Ethernet(buf).data for _, buf in dpkt.pcap.Reader(fh)]


@pytest.mark.parametrize(("direction", "counts", "one_way", "expected"), [
    ([0, 1, 0, 1, 0, 1], [4, 2], None, [0, 0, 0, 0, 1, 1]),            # the only run that opens forward
    ([0, 0, 0, 0], [1, 1, 1, 1], None, [0, 1, 2, 3]),                   # one packet each
    ([0, 1, 1, 0, 1, 0], [4, 2], [False, True], [0, 0, 0, 1, 0, 1]),    # one-way: forward packets only
    ([0, 1], [5, 5, 5], None, [0, 1]),                                  # fewer packets than conversations
    ([0, 1, 0], [3], None, [0, 0, 0]),
])
def test_split_packets(direction: list[int], counts: list[int], one_way: list[bool] | None,
                       expected: list[int]) -> None:
    conv = split_packets(np.array(direction), packets=counts, rng=np.random.default_rng(0), one_way=one_way)
    assert sorted(conv.tolist()) == sorted(expected) and conv[0] == 0
    if one_way is not None:
        assert all(d == 0 for d, c in zip(direction, conv.tolist(), strict=True) if one_way[c])


def test_without_headers_the_bytes_are_unchanged(tmp_path: Path) -> None:
    export_pcap(dataset(), tmp_path / "a.pcap", seed=3)
    export_pcap(dataset(), tmp_path / "b.pcap", seed=3, headers=[None, None])
    assert (tmp_path / "a.pcap").read_bytes() == (tmp_path / "b.pcap").read_bytes()


def test_learned_fields_are_written(tmp_path: Path) -> None:
    h = TraceHeader(4, (WEB, DNS, NTP, BEACON))
    out = tmp_path / "h.pcap"
    summary = export_pcap(dataset(), out, seed=0, headers=[h, h], flow_records=True)
    ips = packets(out)
    tcp = [ip for ip in ips if ip.p == dpkt.ip.IP_PROTO_TCP]
    udp = [ip for ip in ips if ip.p == dpkt.ip.IP_PROTO_UDP]
    fwd = [ip for ip in tcp if ip.data.dport == 8443]
    bwd = [ip for ip in tcp if ip.data.sport == 8443]
    assert fwd and bwd and {ip.ttl for ip in fwd} == {128} and {ip.ttl for ip in bwd} == {58}
    assert {ip.data.win for ip in fwd} == {8192} and {ip.data.win for ip in bwd} == {29200}
    assert not any(ip.data.flags & dpkt.tcp.TH_PUSH for ip in tcp)  # a PSH share of 0 %
    assert {ip.data.dport for ip in udp if ip.ttl == 128} == {53, 123}
    assert {(ip.data.sport, ip.data.dport) for ip in udp if ip.data.dport == 123} == {(123, 123)}
    beacon = [ip for ip in ips if ip.ttl == 1]
    assert beacon and all(ip.data.dport == 5683 and 1024 <= ip.data.sport < 49152 for ip in beacon)
    records = read_flow_records(out)
    assert len(records) == 8 and summary.records == records and summary.record_traces.count(0) == 4
    server = lambda port: {r.dst for r in records if r.dport == port}  # noqa: E731
    assert len(server(8443)) == 1 and len(server(53)) == 1  # ids 0, 1: shared by the two traces
    assert len(server(123)) == 2 and len(server(5683)) == 2  # not shared: a server each
    assert server(8443) != server(53)


def test_header_count_must_match(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"headers must hold one item per trace \(2\) \(got 1\)"):
        export_pcap(dataset(), tmp_path / "x.pcap", headers=[None])


def test_two_flows_of_one_5_tuple_stay_two(tmp_path: Path) -> None:
    dhcp = FlowHeader("udp", 67, 68, 2, 64, -1, -1, -1, 3, -1)  # one-way, to a shared server, twice
    h = TraceHeader(4, (WEB, dhcp, dhcp))
    export_pcap(dataset(1), tmp_path / "d.pcap", seed=0, headers=[h])
    records = [r for r in read_flow_records(tmp_path / "d.pcap") if r.dport == 67]
    assert len(records) == 2 and {r.sport for r in records} == {68} and len({r.dst for r in records}) == 2


def _opts(flow: FlowHeader, fwd: tuple[int, int, int, int], bwd: tuple[int, int, int, int]) -> FlowHeader:
    names = ("mss", "wscale", "sack_ok", "timestamps")
    return dataclasses.replace(flow, **{f"{n}_fwd": v for n, v in zip(names, fwd, strict=True)},
                               **{f"{n}_bwd": v for n, v in zip(names, bwd, strict=True)})


def _checksums_ok(ip: dpkt.ip.IP) -> bool:
    """The IPv4 and TCP checksums as written equal those dpkt computes afresh."""
    raw = bytes(ip)
    again = dpkt.ip.IP(raw)
    again.sum = 0
    again.data.sum = 0
    again.data = dpkt.tcp.TCP(bytes(again.data))
    return dpkt.ip.IP(bytes(again)).sum == ip.sum and dpkt.ip.IP(bytes(again)).data.sum == ip.data.sum


SYN_EXPORT_CASES = {  # SYN options, SYN-ACK options -> options dpkt decodes (kind: value) in the SYN, SYN-ACK
    "linux, timestamps both ways": ((1460, 7, 1, 1), (1400, 9, 1, 1),
                                    {2: 1460, 3: 7, 4: b"", 8: None}, {2: 1400, 3: 9, 4: b"", 8: None}),
    "windows, no timestamps": ((1460, 8, 1, 0), (1440, -1, 1, 0), {2: 1460, 3: 8, 4: b""}, {2: 1440, 4: b""}),
    "timestamps one way only": ((536, -1, 0, 1), (1460, -1, 0, 0), {2: 536, 8: None}, {2: 1460}),
}


@pytest.mark.parametrize("name", SYN_EXPORT_CASES)
def test_learned_syn_options_are_written(tmp_path: Path, name: str) -> None:
    fwd, bwd, want_syn, want_syn_ack = SYN_EXPORT_CASES[name]
    h = TraceHeader(4, (_opts(WEB, fwd, bwd),))
    out = tmp_path / "o.pcap"
    summary = export_pcap(dataset(1), out, seed=0, headers=[h], flow_records=True)
    tcp = [ip for ip in packets(out) if ip.p == dpkt.ip.IP_PROTO_TCP]
    syn = [ip for ip in tcp if ip.data.flags & dpkt.tcp.TH_SYN]
    assert [ip.data.flags & 0x12 for ip in syn] == [0x02, 0x12]
    for ip, want in zip(syn, (want_syn, want_syn_ack), strict=True):
        got = {k: v for k, v in dpkt.tcp.parse_opts(ip.data.opts) if k > 1}
        assert set(got) == set(want)
        for kind, value in want.items():
            if kind == 2:
                assert int.from_bytes(got[kind], "big") == value
            elif kind == 3:
                assert got[kind][0] == value
            elif kind == 8:
                assert len(got[kind]) == 8
            else:
                assert got[kind] == value
        assert ip.data.off * 4 == 20 + len(ip.data.opts) and len(ip.data.opts) % 4 == 0
        assert ip.len == 20 + ip.data.off * 4 + len(ip.data.data) and _checksums_ok(ip)
    later = [ip for ip in tcp if not ip.data.flags & dpkt.tcp.TH_SYN]
    both = fwd[3] == 1 and bwd[3] == 1
    assert all(bool(ip.data.opts) == both for ip in later)  # timestamps on later segments once negotiated
    assert all(ip.len == 20 + ip.data.off * 4 + len(ip.data.data) and _checksums_ok(ip) for ip in later)
    records = read_flow_records(out)
    assert summary.records == records
    assert (records[0].fwd_syn, records[0].bwd_syn) == (fwd, bwd)
    ip_bytes = sum(ip.len for ip in packets(out))
    assert ip_bytes == summary.n_ip_bytes == int(summary.written.sum()) + summary.option_bytes


def test_timestamps_echo_the_other_side(tmp_path: Path) -> None:
    h = TraceHeader(4, (_opts(WEB, (1460, 7, 1, 1), (1460, 7, 1, 1)),))
    export_pcap(dataset(1), tmp_path / "t.pcap", seed=0, headers=[h])
    last = {}  # the last TSval each side sent
    for ip in (ip for ip in packets(tmp_path / "t.pcap") if ip.p == dpkt.ip.IP_PROTO_TCP):
        ts = dict(dpkt.tcp.parse_opts(ip.data.opts))[8]
        tsval, tsecr = int.from_bytes(ts[:4], "big"), int.from_bytes(ts[4:], "big")
        side, other = (ip.data.sport, ip.data.dport)
        assert tsecr == last.get(other, 0)
        assert tsval >= last.get(side, tsval)  # a clock that does not go back (no wrap in one trace here)
        last[side] = tsval


def test_version_2_headers_write_the_same_bytes(tmp_path: Path) -> None:
    """A header without options (a record before version 3): SYNs as before, no option."""
    h = TraceHeader(4, (WEB, DNS))
    unknown = TraceHeader(4, (_opts(WEB, (-1, -1, -2, -1), (-1, -1, -1, -1)), DNS))  # -2: SYN seen unknown
    export_pcap(dataset(1), tmp_path / "a.pcap", seed=1, headers=[h])
    export_pcap(dataset(1), tmp_path / "b.pcap", seed=1, headers=[unknown])
    assert (tmp_path / "a.pcap").read_bytes() == (tmp_path / "b.pcap").read_bytes()
    assert not any(ip.data.opts for ip in packets(tmp_path / "a.pcap") if ip.p == dpkt.ip.IP_PROTO_TCP)


@pytest.mark.parametrize(("sack_ok_fwd", "syns"), [(-2, 2), (0, 2), (1, 2), (-1, 0)])
def test_a_flow_without_a_seen_syn_is_written_without_one(tmp_path: Path, sack_ok_fwd: int, syns: int) -> None:
    """-1: the record saw no SYN (the flow started before its trace); -2: unknown (an older record)."""
    web = dataclasses.replace(WEB, sack_ok_fwd=sack_ok_fwd)
    assert web.opened == (syns > 0)
    export_pcap(dataset(1), tmp_path / "m.pcap", seed=0, headers=[TraceHeader(4, (web,))])
    tcp = [ip.data for ip in packets(tmp_path / "m.pcap") if ip.p == dpkt.ip.IP_PROTO_TCP]
    assert len(tcp) > 4 and sum(bool(t.flags & dpkt.tcp.TH_SYN) for t in tcp) == syns
    assert all(t.flags & dpkt.tcp.TH_ACK for t in tcp[1:]) and bool(tcp[0].flags & dpkt.tcp.TH_ACK) == (syns == 0)
