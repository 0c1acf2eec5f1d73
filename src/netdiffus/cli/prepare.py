"""``netdiffus prepare``: captures or CSV traces -> a dataset file (Parquet).

Parses the options into a :class:`~netdiffus.prepare.PrepareOptions` (which checks them), checks
the output path before any work, calls :func:`netdiffus.prepare.prepare`, writes the
dataset atomically and prints the summary (files read, files skipped with reasons, traces per
label).
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable
from pathlib import Path

from netdiffus.cli._common import check_new_file, outputs_guard, printable, show_progress
from netdiffus.cluster import DEFAULT_CONNECT_TIMEOUT_S
from netdiffus.features.series import FEATURES, TRACE_UNITS
from netdiffus.io.assembly import DEFAULT_FLOW_MEMORY_BYTES
from netdiffus.io.csv_tables import CSV_LAYOUTS
from netdiffus.io.dataset import write_dataset
from netdiffus.io.outputs import output_files
from netdiffus.io.pcap import DECODERS, DEFAULT_MAX_GZIP_RATIO
from netdiffus.prepare import INPUT_FORMATS, PrepareOptions, prepare

log = logging.getLogger(__name__)

EXAMPLES = """\
examples:
  # IoT device sessions: one trace per capture, the device's bytes per 0.25 s, to / from it
  netdiffus prepare ../shared/data/iot-sentinel/captures -o iot-bins.parquet \\
      --unit host --feature bytes --bin-width 0.25s --length 64 --split-direction

  # the same on a Dask cluster (dask scheduler / dask worker running; inputs on a shared file system)
  netdiffus prepare /shared/iot-sentinel/captures -o iot-bins.parquet \\
      --unit host --feature bytes --bin-width 0.25s --length 64 --split-direction --cluster tcp://10.0.0.5:8786

  # the sizes of the first 64 packets, positive from the device, negative to it
  netdiffus prepare captures/ -o iot-packets.parquet --unit host --feature sizes --length 64

  # joint packet sequences: each of the first 64 packets' signed size and gap, generated together
  netdiffus prepare captures/ -o iot-joint.parquet --unit host --feature sequence --length 64

  # flows of a capture labelled by a CICFlowMeter table (5-tuple + time, local time UTC-3)
  netdiffus prepare demo.pcap -o flows.parquet --unit flow --min-packets 5 \\
      --label-from csv:demo.csv --label-utc-offset -3 --label-window 300

  # per-trace CSV files: downlink bytes per 0.5 s, 240 rows summed by 4 -> 60 bins
  netdiffus prepare ../shared/data/videotrain/traces -o video.parquet \\
      --column frame_sum_dl --length 60 --aggregate 4 --bin-width 0.5s

  # the same, labelled by the platform column of each trace file (a folder label by default)
  netdiffus prepare ../shared/data/videotrain/traces -o video-platform.parquet \\
      --column frame_sum_dl --length 60 --aggregate 4 --bin-width 0.5s --label-from column:Vid_pltform
"""


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "prepare",
        help="turn captures (pcap, pcapng) or CSV traces into a dataset",
        description="Turn captures (pcap, pcapng, gzip of either) or CSV traces into a labelled dataset "
        "of fixed-length series (Parquet). Bytes are IP total lengths (no link header).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="capture / CSV files or folders (searched recursively)")
    p.add_argument("-o", "--output", required=True, metavar="DATASET.parquet", help="dataset file to write")
    p.add_argument("--force", action="store_true", help="replace an existing dataset file")
    p.add_argument("--format", choices=INPUT_FORMATS, default="auto",
                   help="input kind (default: auto, from the inputs; an error if they hold both kinds)")
    g = p.add_argument_group("series")
    g.add_argument("--feature", choices=FEATURES, default="bytes",
                   help="captures: bytes or packets per bin, sizes of the first packets (signed by direction), "
                   "inter-arrival times, or both per packet: sequence (default: bytes)")
    g.add_argument("--bin-width", "--bin", dest="bin_width", default=None, metavar="W",
                   help="bin width, e.g. 100ms, 0.5s (captures: default 0.5s; CSV: width of one row)")
    g.add_argument("--length", type=int, default=None, metavar="T",
                   help="bins (or packets) per trace, truncating or zero padding; each trace's length is kept "
                   "(captures: default 64; CSV: the shortest trace)")
    g.add_argument("--aggregate", type=int, default=1, metavar="K", help="sum groups of K bins (default: 1)")
    g.add_argument("--split-direction", action="store_true",
                   help="two channels: to and from the host (host, file) or flow initiator (flow)")
    c = p.add_argument_group("captures")
    c.add_argument("--unit", choices=TRACE_UNITS, default="flow",
                   help="one trace per bidirectional flow, per host (device MAC), or per capture (default: flow)")
    c.add_argument("--min-packets", type=int, default=1, metavar="N", help="drop traces with fewer packets (default 1)")
    c.add_argument("--host", "--host-mac", dest="host", default=None, metavar="MAC|IP",
                   help="host of --unit host, a MAC or IP address (default: _iotdevice-mac.txt next to the "
                   "capture, else the most frequent MAC)")
    c.add_argument("--idle-timeout", type=float, default=120.0, metavar="S",
                   help="flow idle timeout, seconds (default 120)")
    c.add_argument("--active-timeout", type=float, default=1800.0, metavar="S",
                   help="flow active timeout, seconds (default 1800)")
    c.add_argument("--ip-only", action="store_true",
                   help="leave non-IP frames (ARP, EAPOL) out of host and file traces")
    c.add_argument("--headers", action="store_true",
                   help="also keep each trace's header metadata (per flow: transport, ports, TTLs, TCP "
                   "windows, PSH share, shared servers; never an address), for learned headers in export "
                   "(reads each capture twice)")
    c.add_argument("--decoder", choices=DECODERS, default="fast",
                   help="header decoding: vectorised fast path or dpkt (reference) (default fast)")
    c.add_argument("--flow-memory", type=float, default=DEFAULT_FLOW_MEMORY_BYTES / 2**20, metavar="MB",
                   help="most memory the open flows of one capture may hold; past it the flows idle longest "
                   "are closed early and counted (default 256: about 1.5 million short flows; 0: no limit)")
    c.add_argument("--max-gzip-ratio", type=float, default=DEFAULT_MAX_GZIP_RATIO, metavar="R",
                   help="refuse a .gz capture that expands more than R times, a compression bomb "
                   "(default 200; 0: no limit)")
    lab = p.add_argument_group("labels")
    lab.add_argument("--label-from", default="folder", metavar="SOURCE",
                     help="folder | regex:PATTERN (on the file path; for rows of a CSV table, the trace id) | "
                     "csv:FILE (file names or trace ids, or CICFlowMeter 5-tuples for flows) | column:NAME (CSV "
                     "inputs: a column of the trace, e.g. column:platform) (default folder)")
    lab.add_argument("--label-window", type=float, default=None, metavar="S",
                     help="csv flow table: largest gap between a flow's start and its row's timestamp")
    lab.add_argument("--label-utc-offset", type=float, default=0.0, metavar="H",
                     help="csv flow table: the timestamps' offset from UTC in hours (CIC-IDS2017: -3)")
    cs = p.add_argument_group("CSV")
    cs.add_argument("--column", default=None, metavar="C", help="the value column (per-trace files, long tables)")
    cs.add_argument("--csv-layout", choices=CSV_LAYOUTS, default="auto",
                    help="per-trace files, a wide table (row per trace), a long table (id, time, value) (default auto)")
    cs.add_argument("--value-unit", default="", metavar="U",
                    help="unit of the CSV values, e.g. bytes (default: values, no unit)")
    _add_run_options(p.add_argument_group("run"))
    p.set_defaults(func=run)
    return p


def _add_run_options(r: argparse._ArgumentGroup) -> None:
    """The options of how prepare runs: processes, a cluster, strictness, progress."""
    r.add_argument("--workers", type=int, default=1, metavar="K",
                   help="parallel processes, 0 for one per core (default 1); with --cluster local, the local "
                   "cluster's worker processes")
    r.add_argument("--cluster", default=None, metavar="ADDRESS",
                   help="read the captures on a Dask cluster: a scheduler address (tcp://host:8786; its workers "
                   "need netdiffus and the inputs at the same paths) or 'local' (start --workers worker processes "
                   "here); the dataset is the one a single process makes. Needs the cluster extra: "
                   "pip install 'netdiffus[cluster]'")
    r.add_argument("--cluster-timeout", type=float, default=DEFAULT_CONNECT_TIMEOUT_S, metavar="S",
                   help=f"seconds to wait for the scheduler to answer (default {DEFAULT_CONNECT_TIMEOUT_S:g})")
    r.add_argument("--strict", action="store_true", help="fail on the first unusable file instead of skipping it")
    r.add_argument("--no-progress", action="store_true", help="hide the progress bar (shown on a terminal only)")


def run(args: argparse.Namespace) -> int:
    check_new_file(args.output, force=args.force, dataset=True)  # fail now, not after reading every input
    options = PrepareOptions(
        format=args.format,
        unit=args.unit,
        feature=args.feature,
        bin_width=args.bin_width,
        length=args.length,
        aggregate=args.aggregate,
        split_direction=args.split_direction,
        min_packets=args.min_packets,
        label_from=args.label_from,
        label_time_window_s=args.label_window,
        label_utc_offset_h=args.label_utc_offset,
        host=args.host,
        idle_timeout_s=args.idle_timeout,
        active_timeout_s=args.active_timeout,
        ip_only=args.ip_only,
        headers=args.headers,
        column=args.column,
        csv_layout=args.csv_layout,
        value_unit=args.value_unit,
        workers=args.workers,
        cluster=args.cluster,
        cluster_timeout_s=args.cluster_timeout,
        strict=args.strict,
        decoder=args.decoder,
        flow_memory_mb=args.flow_memory,
        max_gzip_ratio=args.max_gzip_ratio,
    )
    progress, close = _progress(args)
    try:
        ds, summary = prepare(args.inputs, options, progress=progress)
    finally:
        close()
    out = Path(args.output)
    # replaces nothing without --force, checked at the rename (a second run racing to the same name fails)
    with outputs_guard(args), output_files([out]) as outputs, outputs.writing(0) as tmp:
        write_dataset(ds, tmp)
    print("\n".join(printable(line) for line in summary.format_text().splitlines()))  # labels are data
    print(printable(f"wrote {out}: {ds.n_traces} traces x {ds.n_channels} channel(s) x {ds.length} "
                    f"({', '.join(ds.meta.channels)}; {ds.meta.unit or 'values'}"
                    + (f", {ds.meta.bin_width_s:g} s bins" if ds.meta.bin_width_s else "") + ")"))
    return 0


def _progress(args: argparse.Namespace) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    """(callback after each file, close): a bar on a terminal, else a log line every 30 s."""
    if show_progress(args):
        from tqdm import tqdm

        bar = tqdm(total=0, unit="file", desc="prepare", leave=False)

        def on_file(done: int, total: int) -> None:
            bar.total = total
            bar.n = done
            bar.refresh()

        return on_file, bar.close
    t0 = last = time.perf_counter()

    def log_file(done: int, total: int) -> None:
        nonlocal last
        now = time.perf_counter()
        if now - last >= 30.0 and done < total:
            last = now
            log.info("prepare: %d of %d files (%.0f s)", done, total, now - t0)

    return log_file, lambda: None
