"""``netdiffus export``: synthetic (or real) series -> a pcap capture that tools can replay."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

from netdiffus.errors import ConfigError, InputError
from netdiffus.export.pcap import DEFAULT_MAX_PACKETS, TRANSPORT_CHOICES
from netdiffus.export.traffic import FEATURE_KINDS

EXAMPLE = """\
examples:
  netdiffus export runs/demo --pcap runs/demo/synthetic.pcap --max-traces 20
  netdiffus export synthetic.parquet --pcap out.pcap --transport udp --seed 1 --flows out.flows.csv
  netdiffus export synthetic.parquet --pcap out.pcap --addr-map client=10.1.0.0/16,server=10.2.0.0/24
  netdiffus export synthetic.parquet --pcap out.pcap --ipv6 --start-time 2025-03-01T12:00:00Z

Bytes per bin are matched exactly (IP total length, as 'netdiffus prepare' counts them):
  netdiffus prepare out.pcap --unit flow --feature bytes --bin-width 0.5s   # gives the series back
See docs/export.md for timing, sizes, addresses and the cases that cannot round-trip.
"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "export",
        help="write synthetic series as a pcap capture (Wireshark, tcpreplay, IDS tools)",
        description=(
            "Turn the series of a run folder (its synthetic.parquet) or of a dataset .parquet into "
            "packets: bytes or packets per bin become packets timed inside each bin and sized from "
            "the class's packet-size histogram (kept by 'prepare'); signed packet-size series become "
            "packets in both directions; inter-arrival times become packets with those gaps; packet "
            "sequences (--feature sequence) become packets of their own sizes, directions and times. One TCP "
            "or UDP conversation per trace or, where the dataset carries header records ('prepare --headers', "
            "or drawn by 'sample' from a run fitted on such a dataset), the flows of each trace's record "
            "(their transports, ports, TTLs, TCP windows and shared servers); valid checksums, zero-filled "
            "payloads, addresses from the documentation ranges unless mapped."
        ),
        epilog=EXAMPLE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("input", metavar="RUN_OR_DATASET",
                   help="run folder holding synthetic.parquet, or a dataset .parquet")
    p.add_argument("--pcap", required=True, metavar="OUT.pcap",
                   help="pcap file to write (with --flows and --csv: all three or none)")
    p.add_argument("--csv", metavar="OUT.csv", help="also write the series the capture holds, as CSV")
    p.add_argument("--flows", metavar="FLOWS.csv",
                   help="also write one row per flow of the capture (CICFlowMeter column names where they match): "
                        "trace id, 5-tuple, times, packets and bytes per direction, TCP flags, label")
    p.add_argument("--feature", choices=FEATURE_KINDS,
                   help="how to read the series (default: from the dataset's metadata)")
    p.add_argument("--max-traces", type=int, metavar="N", help="export at most N traces, taking classes in turn")
    p.add_argument("--seed", type=int, default=0, help="seed of packet sizes, times and sequence numbers (default 0)")
    p.add_argument("--transport", choices=TRANSPORT_CHOICES, default="auto",
                   help="auto: each class's transport kept by 'prepare', else TCP (default auto); a trace "
                   "with a header record is written with its flows' transports")
    p.add_argument("--mtu", type=int, default=1500, help="largest IP packet in bytes (default 1500)")
    p.add_argument("--addr-map", action="append", metavar="SPEC",
                   help="client=CIDR, server=CIDR or LABEL=ADDRESS (repeat or comma-separate); "
                        "default clients 192.0.2.0/24, servers 198.51.100.0/24")
    p.add_argument("--ipv6", action="store_true", help="IPv6 documentation addresses (2001:db8::/32) instead of IPv4")
    p.add_argument("--start-time", default=None, metavar="TIME",
                   help="capture start: Unix seconds or ISO 8601 (default 2024-01-01T00:00:00Z)")
    p.add_argument("--bin-width", metavar="W",
                   help="bin width such as 0.5s or 100ms, for datasets whose metadata lacks it "
                        "(default: from the dataset)")
    p.add_argument("--stagger", type=float, default=0.0, metavar="SECONDS",
                   help="start trace j at START + j * SECONDS instead of all at once (default 0)")
    p.add_argument("--packet-gap", type=float, default=0.01, metavar="SECONDS",
                   help="mean gap between packets of a sizes series (default 0.01)")
    p.add_argument("--force", action="store_true", help="replace existing output files")
    p.add_argument("--snaplen", type=int, default=None, metavar="BYTES",
                   help="keep only this many bytes of each frame (default: whole frames)")
    p.add_argument("--max-packets", type=int, default=DEFAULT_MAX_PACKETS, metavar="N",
                   help="refuse, before writing, a capture of more packets (export holds them in memory, about "
                   "150 bytes each) (default 10000000; 0: no limit)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar (shown on a terminal only)")
    p.set_defaults(func=run)
    return p


def parse_start_time(text: str | None) -> float:
    """Unix seconds from ``"1704067200"`` or an ISO 8601 time (UTC unless it says otherwise)."""
    from netdiffus.export.pcap import DEFAULT_START_TIME

    if text is None:
        return DEFAULT_START_TIME
    try:
        return float(text)
    except ValueError:
        pass
    try:
        t = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"start-time must be Unix seconds or an ISO 8601 time (got {text!r})") from None
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.timestamp()


#: Names a pcap output must not have: a capture named so would mislead (datasets named .csv are refused too).
NOT_PCAP = (".csv", ".tsv", ".txt", ".json", ".parquet", ".gz", ".zip", ".pcapng")


def run(args: argparse.Namespace) -> int:
    from netdiffus.cli._common import check_new_file, outputs_guard, printable, show_progress
    from netdiffus.export.addresses import AddressPlan
    from netdiffus.export.pcap import ExportOptions, export_pcap, load_export_input, write_flows_csv
    from netdiffus.export.tabular import write_exported_csv
    from netdiffus.features.series import parse_duration
    from netdiffus.files import check_distinct
    from netdiffus.io.outputs import output_files
    from netdiffus.progress import trace_bar

    plan = AddressPlan.parse(args.addr_map, ip_version=6 if args.ipv6 else None)
    bin_width = None if args.bin_width is None else parse_duration(args.bin_width, name="bin-width")
    start = parse_start_time(args.start_time)
    outputs = {opt: Path(target) for opt, target in (("--pcap", args.pcap), ("--flows", args.flows),
                                                      ("--csv", args.csv)) if target}
    for opt, target in outputs.items():  # fail before the (long) export, not after it with the pcap written
        check_new_file(target, force=args.force, what=opt)
    if outputs["--pcap"].suffix.lower() in NOT_PCAP:
        raise InputError(f"--pcap {args.pcap}: captures are written as pcap; name it {outputs['--pcap'].stem}.pcap")
    check_distinct(dict(outputs))
    dataset = load_export_input(args.input)
    options = ExportOptions(
        seed=args.seed, transport=args.transport, mtu=args.mtu, max_traces=args.max_traces, start_time=start,
        feature=args.feature, addresses=plan, packet_gap_s=args.packet_gap, snaplen=args.snaplen,
        bin_width_s=bin_width, stagger_s=args.stagger, max_packets=args.max_packets or None,
        flow_records=args.flows is not None,
    )
    n = min(dataset.n_traces, args.max_traces or dataset.n_traces)
    bar = trace_bar(n, "export", bar=show_progress(args))
    # the capture and its tables appear together or not at all, replacing nothing without --force
    try:
        with outputs_guard(args), output_files(list(outputs.values())) as out:
            with out.writing(0) as tmp:
                summary = export_pcap(dataset, tmp, options, progress=lambda done, total: bar.update(1))
            summary.path = outputs["--pcap"]
            writers = {"--flows": lambda p: write_flows_csv(summary, p),
                       "--csv": lambda p: write_exported_csv(dataset, summary, p)}
            for i, opt in enumerate(outputs):
                if opt in writers:
                    with out.writing(i) as tmp:
                        writers[opt](tmp)
    finally:
        bar.close()
    print(printable(summary.describe()))
    return 0
