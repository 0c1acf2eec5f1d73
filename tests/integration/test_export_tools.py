"""Exported captures read by the tools people use on them: tshark, tcpreplay, a flow meter.

- tshark dissects every packet: no malformed packet, no expert info above "note"
  (``tshark -r F -q -z expert``);
- tcpreplay sends every packet to the loopback interface: 0 failed packets (needs root);
- tshark's conversation tables (``-z conv,tcp``, ``-z conv,udp``), an independent flow meter,
  find the flows, packets and bytes that ``export --flows`` reports.

``.ci/run`` installs tshark and tcpreplay with apt-get where they are absent; each test skips,
saying why, only where its tool is not installed (or, for tcpreplay, where we are not root).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import NamedTuple

import pytest
from test_export_pcap import two_way_dataset

from netdiffus.export.addresses import AddressPlan
from netdiffus.export.pcap import ExportSummary, export_pcap
from netdiffus.io.headers import FlowHeader, TraceHeader

ETHERNET = 14  # bytes of link header per frame: tshark counts frames, export IP packets
UNITS = {"bytes": 1, "kB": 10**3, "MB": 10**6, "GB": 10**9}


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (.ci/run installs it with apt-get)")
    return path


def run(argv: list[str]) -> str:
    res = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    return res.stdout


#: Learned header metadata: a TCP flow with its own TTLs, windows and PSH share, DNS, NTP (client
#: port 123), a one-way UDP flow, an ICMP echo and an IGMP report (ICMPv6 in an IPv6 capture),
#: the first two to servers shared by every trace; the TCP flow with its pure-ACK share and duration.
HEADER = TraceHeader(4, (FlowHeader("tcp", 8443, 49152, 20, 128, 58, 8192, 29200, 0, 50, 1024, 40),
                         FlowHeader("udp", 53, 49152, 2, 128, 64, -1, -1, 1, -1, 512),
                         FlowHeader("udp", 123, 123, 2, 128, 64, -1, -1, -1, -1),
                         FlowHeader("udp", 5683, 1024, 2, 1, -1, -1, -1, -1, -1),
                         FlowHeader("icmp", 0, 0, 2, 64, 64, -1, -1, -1, -1, 2048),
                         FlowHeader("igmp", 0, 0, 1, 1, -1, -1, -1, -1, -1, 0)))
#: :data:`HEADER` whose TCP flow opens with the options of a Linux SYN and SYN-ACK (MSS, SACK-permitted,
#: timestamps, window scale): its later segments carry timestamps.
HEADER_OPTIONS = TraceHeader(4, (dataclasses.replace(
    HEADER.flows[0], mss_fwd=1460, mss_bwd=1400, wscale_fwd=7, wscale_bwd=9, sack_ok_fwd=1, sack_ok_bwd=1,
    timestamps_fwd=1, timestamps_bwd=1), *HEADER.flows[1:]))
#: :data:`HEADER` whose TCP flow started before its trace (no SYN seen): written without SYN and SYN-ACK.
HEADER_MIDFLOW = TraceHeader(4, (dataclasses.replace(HEADER.flows[0], sack_ok_fwd=-1), *HEADER.flows[1:]))
#: Conversations of a trace with :data:`HEADER`, and how many of them are TCP or UDP.
HEADER_FLOWS, HEADER_PORTED = 6, 4


@pytest.fixture(params=[(4, None), (6, None), (4, HEADER), (6, HEADER), (4, HEADER_OPTIONS), (6, HEADER_OPTIONS),
                        (4, HEADER_MIDFLOW)],
                ids=["IPv4", "IPv6", "IPv4-headers", "IPv6-headers", "IPv4-tcp-options", "IPv6-tcp-options",
                     "IPv4-midflow"])
def exported(request, tmp_path) -> tuple[Path, ExportSummary]:
    """A capture of TCP (class web) and UDP (class video) conversations, with its flow records; or
    each trace written as the flows of :data:`HEADER` (or :data:`HEADER_OPTIONS`)."""
    ip_version, headers = request.param
    out = tmp_path / "syn.pcap"
    s = export_pcap(two_way_dataset(n=8), out, seed=3, flow_records=True, headers=[headers] * 8 if headers else None,
                    addresses=AddressPlan.default(ip_version=ip_version))
    assert set(s.transports) == {"tcp", "udp"} or headers
    assert s.records is not None and len(s.records) == (8 * HEADER_FLOWS if headers else 8)
    return out, s


def expert_levels(text: str) -> dict[str, int]:
    """Entries per severity of ``tshark -z expert`` output: ``{"Notes": 868, ...}``."""
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(Errors|Warns|Notes|Chats) \((\d+)\)", text, re.M)}


#: Payloads are zero-filled: on a learned well-known port tshark dissects them as that port's
#: application (an all-zero NTP packet is malformed, CoAP options invalid, DNS queries all alike),
#: so those dissectors are off; the transport headers are what is checked.
APPLICATIONS = ["--disable-protocol", "dns", "--disable-protocol", "ntp", "--disable-protocol", "coap"]


def test_tshark_finds_no_malformed_packet_and_no_expert_info_above_note(exported):
    tshark = need("tshark")
    path, s = exported
    off = APPLICATIONS if len(s.records or []) > s.n_traces else []
    levels = expert_levels(run([tshark, "-n", "-r", str(path), "-q", "-z", "expert", *off]))
    assert set(levels) <= {"Notes", "Chats"}, levels
    malformed = run([tshark, "-n", "-r", str(path), *off, "-Y", "_ws.malformed || _ws.expert.severity >= warning"])
    assert malformed.strip() == ""


def test_tcpreplay_sends_every_packet_to_the_loopback_interface(exported):
    tcpreplay = need("tcpreplay")
    if os.geteuid() != 0:
        pytest.skip("tcpreplay needs root to send on an interface (run the tests as root, as CI does)")
    path, s = exported
    out = run([tcpreplay, "--intf1=lo", "--topspeed", str(path)])
    assert re.search(r"Failed packets:\s+0\b", out), out
    assert int(re.search(r"Successful packets:\s+(\d+)", out).group(1)) == s.n_packets, out


class Side(NamedTuple):
    """One direction of a tshark conversation: frames exact, bytes rounded down to ``unit``."""

    frames: int
    low: int
    unit: int


def conversations(tshark: str, path: Path, proto: str) -> dict[tuple, tuple[Side, Side]]:
    """``tshark -z conv,PROTO``: per (A, A port, B, B port), the sides B -> A and A -> B."""
    size = r"(\d+) (bytes|kB|MB|GB)"
    line = re.compile(rf"^(\S+):(\d+)\s+<->\s+(\S+):(\d+)\s+(\d+) {size}\s+(\d+) {size}", re.M)
    out = {}
    for m in line.finditer(run([tshark, "-n", "-r", str(path), "-q", "-z", f"conv,{proto}"])):
        a, ap, b, bp, f_ba, n_ba, u_ba, f_ab, n_ab, u_ab = m.groups()
        out[(a, int(ap), b, int(bp))] = (Side(int(f_ba), int(n_ba) * UNITS[u_ba], UNITS[u_ba]),
                                         Side(int(f_ab), int(n_ab) * UNITS[u_ab], UNITS[u_ab]))
    return out


def test_tshark_conversations_find_the_flows_packets_and_bytes_export_reports(exported):
    tshark = need("tshark")
    path, s = exported
    assert s.records is not None
    tables = {6: conversations(tshark, path, "tcp"), 17: conversations(tshark, path, "udp")}
    ported = [r for r in s.records if r.proto in tables]  # ICMP, ICMPv6, IGMP: no conversation table here
    assert len(ported) == len(s.records) - (8 * (HEADER_FLOWS - HEADER_PORTED) if len(s.records) > 8 else 0)
    assert sum(len(t) for t in tables.values()) == len(ported)
    for r in ported:
        if (r.src, r.sport, r.dst, r.dport) in tables[r.proto]:
            to_src, from_src = tables[r.proto][(r.src, r.sport, r.dst, r.dport)]
        else:  # tshark names the endpoints in its own order
            from_src, to_src = tables[r.proto][(r.dst, r.dport, r.src, r.sport)]
        for side, packets, ip_bytes in ((from_src, r.fwd_packets, r.fwd_bytes), (to_src, r.bwd_packets, r.bwd_bytes)):
            assert side.frames == packets
            assert side.low <= ip_bytes + ETHERNET * packets < side.low + side.unit
