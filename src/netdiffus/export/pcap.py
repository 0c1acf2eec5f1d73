"""Synthetic series -> a pcap capture that Wireshark, tcpreplay and IDS tools read and replay.

:func:`export_pcap` writes one classic pcap file (Ethernet link type, microsecond timestamps)
holding one TCP or UDP conversation per trace, as its :class:`ExportOptions` say:

- bytes (or packets) per bin become packets timed inside each bin (by the class's intra-bin
  offset histogram kept at ``prepare`` time, see :class:`~netdiffus.io.capture_stats.CaptureStats`,
  else uniformly), sized by the class's packet-size histogram (else MTU-sized packets plus one
  remainder packet), within ``[header size, mtu]``;
  a bin's bytes are matched exactly (IP total length, the unit ``prepare`` counts);
- signed packet-size sequences become packets in both directions with those sizes;
- joint packet sequences (``sequence``: signed size and gap of each packet) become packets with
  their own generated size, direction and time (the sum of the gaps), nothing drawn from
  histograms;
- every trace has its own 5-tuple (addresses from the documentation ranges unless mapped, see
  :mod:`netdiffus.export.addresses`), TCP conversations open with SYN / SYN-ACK and close with
  FIN, sequence and acknowledgement numbers follow the payload, IPv4 header and TCP / UDP
  checksums are valid, payloads are zero-filled (nothing is copied from any input).

Float series are rounded to integers (half to even) and negative counts set to zero before
export; ``ExportSummary.written`` holds what the capture contains, per trace, channel and bin.
All traces start together at ``start_time`` (or staggered by ``stagger_s``), and each trace's
first packet sits exactly on the start of its first non-empty bin.

Examples
--------
>>> import numpy as np, tempfile, dpkt
>>> from netdiffus.io.dataset import DatasetMeta, TraceDataset
>>> ds = TraceDataset(series=np.array([[[3000.0, 0.0, 100.0]]]), labels=["web"], ids=["t0"],
...                   sources=["synthetic"], meta=DatasetMeta(feature="bytes", unit="bytes", bin_width_s=0.5))
>>> out = tempfile.mkdtemp() + "/demo.pcap"
>>> summary = export_pcap(ds, out, seed=0)
>>> summary.n_packets, summary.n_ip_bytes, summary.written.tolist()
(5, 3100, [[[3000, 0, 100]]])
>>> [len(ip) for _, ip in ((t, dpkt.ethernet.Ethernet(b).data) for t, b in dpkt.pcap.Reader(open(out, "rb")))]
[40, 1500, 1460, 60, 40]
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import numbers
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NamedTuple, get_args

import numpy as np

from netdiffus.config import check_seed
from netdiffus.errors import ConfigError, DatasetError, InputError
from netdiffus.export.addresses import AddressPlan
from netdiffus.export.conversations import Conversation, ConversationPlan, fit_windows, split_packets
from netdiffus.export.flowshape import balance_bytes, make_pure_acks, retime_flows
from netdiffus.export.frames import (
    ICMP,
    ICMP_TYPES,
    ICMPV6,
    IGMP,
    TCP,
    UDP,
    encode_records,
    header_size,
    pcap_file_header,
)
from netdiffus.export.packet_count import match_packet_count
from netdiffus.export.records import export_records
from netdiffus.export.tcp_options import option_table, packet_options, syn_rows, timestamps
from netdiffus.export.traffic import (
    DIRECTION_OF,
    FORWARD,
    GUARD_US,
    MAX_GAP_S,
    REVERSE,
    FeatureKind,
    Histogram,
    Schedule,
    SizeSampler,
    channel_directions,
    check_feature,
    integer_series,
    resolve_feature,
    schedule_binned,
    schedule_iat,
    schedule_sequence,
    schedule_sizes,
)
from netdiffus.files import atomic_path
from netdiffus.io.capture_stats import CaptureStats
from netdiffus.io.csv_common import escape_csv_text
from netdiffus.io.dataset import DatasetMeta, TraceDataset, read_dataset, require_dataset
from netdiffus.io.flow_records import COLUMNS, FlowRecord, record_row
from netdiffus.io.headers import TraceHeader
from netdiffus.io.outputs import naming

__all__ = ["export_pcap", "ExportOptions", "ExportSummary", "FlowInfo", "load_export_input", "write_flows_csv",
           "DEFAULT_START_TIME", "DEFAULT_MAX_PACKETS", "Transport", "TRANSPORT_CHOICES"]

log = logging.getLogger(__name__)

#: The transport of an exported trace, and ``transport``: that, or ``auto`` (each class's own).
WrittenTransport = Literal["tcp", "udp"]
Transport = Literal["auto", WrittenTransport]
#: The name of each protocol a trace's first conversation may be written with.
_PROTO_NAME = {TCP: "tcp", UDP: "udp", ICMP: "icmp", ICMPV6: "icmpv6", IGMP: "igmp"}
TRANSPORT_CHOICES: tuple[Transport, ...] = get_args(Transport)
#: Default capture start: 2024-01-01T00:00:00Z (fixed, so exports are reproducible).
DEFAULT_START_TIME = 1_704_067_200.0
#: Packets encoded per chunk when writing (bounds the memory of the frame buffer).
CHUNK_PACKETS = 1 << 13
#: MAC of the gateway on the server side (RFC 7042 documentation range 00-00-5E-00-53-xx).
GATEWAY_MAC = bytes.fromhex("00005e005301")
MIN_BIN_WIDTH_S = 1e-4
#: Warn before writing a capture larger than this (bytes).
LARGE_CAPTURE_BYTES = 2e9
#: Refuse a capture of more packets than this unless told otherwise (``max_packets``).
DEFAULT_MAX_PACKETS = 10_000_000
_TCP_SYN, _TCP_FIN, _TCP_ACK, _TCP_PSH = 0x02, 0x01, 0x10, 0x08


@dataclass
class FlowInfo:
    """The 5-tuple of one exported trace (client = initiator / traced device)."""

    trace_id: str
    label: str
    transport: str  # tcp, udp (icmp, icmpv6 or igmp: the first flow of a learned header)
    client: str
    client_port: int
    server: str
    server_port: int
    n_packets: int
    n_bytes: int


@dataclass
class ExportSummary:
    """What :func:`export_pcap` wrote.

    Attributes
    ----------
    path : Path
    feature : {"bytes", "packets", "sizes", "iat", "sequence"}
        How the series were read.
    n_traces, n_packets : int
    n_ip_bytes : int
        Sum of IP total lengths over all packets.
    n_file_bytes : int
        Size of the pcap file.
    start_time, duration_s : float
        First timestamp (Unix seconds) and span of the capture.
    transports : dict
        Traces per transport, e.g. ``{"tcp": 10, "udp": 2}``.
    timing, sizes : str
        Where packet times and sizes came from: ``"histogram"``, ``"uniform"`` / ``"mtu-fill"``,
        ``"mixed"`` (some classes had statistics, some not); for sizes series ``"gaps"`` /
        ``"series"``; ``"series"`` / ``"series"`` for sequence series.
    n_clipped : int
        Values changed before export: negative counts set to 0, or sizes clipped into
        ``[header size, mtu]``.
    carried_bytes : int
        Bytes written in another bin than their own (bins smaller than one packet).
    dropped : int
        Bytes (or packets) that could not be written (a trace total below one packet).
    option_bytes : int
        IP bytes added to TCP packets too small to hold their learned options (a SYN's, or the
        timestamps of a flow that negotiated them): not in ``written``.
    written : ndarray of int64, shape [N, C, T]
        The capture's content per trace, channel and bin, in the series' unit.
    flows : list of FlowInfo
    wall_s, packets_per_s : float
        Time spent and packets written per second.
    records : list of FlowRecord or None
        With ``flow_records=True``: the flow records of the capture (what a flow meter reading it
        finds, see :mod:`netdiffus.export.records`), ordered by their first packet.
    record_traces : list of int
        For each record, its trace (position in ``flows``).
    """

    path: Path
    feature: FeatureKind
    n_traces: int
    n_packets: int
    n_ip_bytes: int
    n_file_bytes: int
    start_time: float
    duration_s: float
    transports: dict[str, int]
    timing: str
    sizes: str
    n_clipped: int
    carried_bytes: int
    dropped: int
    written: np.ndarray
    flows: list[FlowInfo] = field(default_factory=list)
    wall_s: float = 0.0
    packets_per_s: float = 0.0
    trace_index: list[int] = field(default_factory=list)
    records: list[FlowRecord] | None = None
    record_traces: list[int] = field(default_factory=list)
    option_bytes: int = 0

    def describe(self) -> str:
        """One line for logs and the CLI."""
        return (
            f"wrote {self.path}: {self.n_traces} traces, {self.n_packets} packets, {self.n_ip_bytes} IP bytes "
            f"over {self.duration_s:.1f} s ({', '.join(f'{k} {v}' for k, v in self.transports.items())}; "
            f"timing {self.timing}, sizes {self.sizes}) in {self.wall_s:.2f} s ({self.packets_per_s:,.0f} packets/s)"
        )


def load_export_input(path: str | os.PathLike[str]) -> TraceDataset:
    """Read what ``netdiffus export`` accepts: a dataset ``.parquet`` file or a run folder.

    A run folder (written by ``netdiffus sample`` or ``netdiffus demo``) holds its synthetic
    dataset as ``synthetic.parquet``.
    """
    p = Path(path)
    if p.is_dir():
        cand = p / "synthetic.parquet"
        if not cand.exists():
            raise InputError(
                f"run folder {p} has no synthetic.parquet (run 'netdiffus sample' first, or give a .parquet dataset)"
            )
        return read_dataset(cand)
    return read_dataset(p)


def _pick_traces(labels: list[str], max_traces: int | None) -> list[int]:
    """Trace positions to export: all, or the first ``max_traces`` taking classes in turn."""
    n = len(labels)
    if max_traces is None or max_traces >= n:
        return list(range(n))
    by_class: dict[str, list[int]] = {}
    for i, lab in enumerate(labels):
        by_class.setdefault(lab, []).append(i)
    queues = [by_class[c] for c in sorted(by_class)]
    out: list[int] = []
    r = 0
    while len(out) < max_traces:
        for q in queues:
            if r < len(q) and len(out) < max_traces:
                out.append(q[r])
        r += 1
    return sorted(out)


def _check_int(name: str, value: object, lo: int, hi: int | None = None) -> None:
    """:class:`ConfigError` unless ``value`` is an integer in ``[lo, hi]`` (``hi`` None: no bound)."""
    if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
            or value < lo or (hi is not None and value > hi)):
        rule = f">= {lo}" if hi is None else f"from {lo} to {hi}"
        raise ConfigError(f"{name} must be an integer {rule} (got {value!r})")


@dataclass(frozen=True)
class ExportOptions:
    """How :func:`export_pcap` turns series into packets: every option but the progress callback.

    Parameters
    ----------
    seed : int
        Seeds sizes, times, sequence numbers: the same inputs and seed give the same bytes.
    transport : {"auto", "tcp", "udp"}
        ``auto`` takes each class's transport from the capture statistics kept by ``prepare``
        (:class:`~netdiffus.io.capture_stats.CaptureStats`; ``other`` is written as UDP), else TCP.
    mtu : int
        Largest IP packet in bytes (128 to 65535).
    max_traces : int or None
        Export at most this many traces, taking classes in turn.
    start_time : float
        Capture start, Unix seconds (all traces start there).
    feature : {"bytes", "packets", "sizes", "iat", "sequence"} or None
        How to read the series; None decides from ``meta.feature``.
    addresses : AddressPlan or None
        Addresses to use; None is the IPv4 documentation ranges.
    packet_gap_s : float
        Mean gap between packets of a sizes series, in seconds.
    snaplen : int or None
        Keep only this many bytes of each frame in the file (headers are always kept; transport
        checksums can then not be verified by readers). None keeps whole frames.
    bin_width_s : float or None
        Bin width in seconds, for datasets whose metadata lacks it (or to override it).
    stagger_s : float
        Start trace ``j`` (in export order) at ``start_time + j * stagger_s`` instead of all at
        once. Each trace keeps its own bin grid, so a per-flow round trip is unchanged.
    max_packets : int or None
        Refuse, before any packet is made, a capture of more packets than this (every packet is
        held in memory, about 150 bytes each, until the capture is written; default 10 million,
        about 15 GB of MTU-sized packets). None or 0: no limit.
    flow_records : bool
        Also make the flow records of the capture (``ExportSummary.records``, for
        :func:`write_flows_csv`); made a few traces at a time, they take about 20 MB and 16 bytes
        per packet more while they are made, and a fifth more time (450,000 packets: 1 s).

    Raises
    ------
    ConfigError
        A bad value: the message names the option, the rule and the value, e.g.
        ``snaplen must be an integer from 96 to 262144 (got 10)``.

    Examples
    --------
    >>> ExportOptions(mtu=576).mtu
    576
    >>> ExportOptions(mtu=100)
    Traceback (most recent call last):
    ...
    netdiffus.errors.ConfigError: mtu must be an integer from 128 to 65535 (got 100)
    """

    seed: int = 0
    transport: Transport = "auto"
    mtu: int = 1500
    max_traces: int | None = None
    start_time: float = DEFAULT_START_TIME
    feature: FeatureKind | None = None
    addresses: AddressPlan | None = None
    packet_gap_s: float = 0.01
    snaplen: int | None = None
    bin_width_s: float | None = None
    stagger_s: float = 0.0
    max_packets: int | None = DEFAULT_MAX_PACKETS
    flow_records: bool = False

    def __post_init__(self) -> None:
        if self.transport not in TRANSPORT_CHOICES:
            raise ConfigError(f"transport must be one of {', '.join(TRANSPORT_CHOICES)} (got {self.transport!r})")
        _check_int("mtu", self.mtu, 128, 65535)
        if self.max_traces is not None:
            _check_int("max_traces", self.max_traces, 1)
        if self.max_packets is not None:
            _check_int("max_packets", self.max_packets, 0)
        for name, value in (("start_time", self.start_time), ("stagger_s", self.stagger_s),
                            ("packet_gap_s", self.packet_gap_s),
                            ("bin_width_s", 0.0 if self.bin_width_s is None else self.bin_width_s)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise ConfigError(f"{name} must be a number (got {value!r})")
        if not np.isfinite(self.start_time) or self.start_time < 0 or self.start_time >= 2**32 - 1e6:
            raise ConfigError(f"start_time must be Unix seconds from 0 to 2**32 (got {self.start_time})")
        if not (np.isfinite(self.stagger_s) and self.stagger_s >= 0):
            raise ConfigError(f"stagger_s must be >= 0 (got {self.stagger_s})")
        if not self.packet_gap_s > 0:
            raise ConfigError(f"packet_gap_s must be > 0 (got {self.packet_gap_s})")
        if self.snaplen is not None:
            _check_int("snaplen", self.snaplen, 96, 262144)
        object.__setattr__(self, "seed", check_seed(self.seed))
        if self.feature is not None:
            check_feature(self.feature)
        if self.bin_width_s is not None and not self.bin_width_s >= MIN_BIN_WIDTH_S:
            raise ConfigError(f"bin_width_s must be >= {MIN_BIN_WIDTH_S} (got {self.bin_width_s})")


@dataclass
class _ClassPlan:
    """How the traces of one class are written."""

    proto: int  # TCP or UDP
    samplers: list[SizeSampler | None]  # packet sizes per channel; None: MTU-sized packets
    sized: bool  # every channel the class uses draws its sizes from a histogram
    offsets: Histogram | None  # times within a bin; None: uniform


class _Columns(NamedTuple):
    """Packets, one array [P] per field; ``flow`` is ``2 * conversation + direction``."""

    ts_us: np.ndarray
    size: np.ndarray
    flow: np.ndarray
    flags: np.ndarray
    seq: np.ndarray
    ack: np.ndarray
    ip_id: np.ndarray
    opt_kind: np.ndarray  # TCP options carried (netdiffus.export.tcp_options: none, the SYN's, timestamps)
    tsval: np.ndarray
    tsecr: np.ndarray


@dataclass
class _Traces:
    """What the schedules of the exported traces give, in export order."""

    written: np.ndarray  # [N, C, T]
    packets: list[_Columns] = field(default_factory=list)
    conversations: list[Conversation] = field(default_factory=list)
    conversation_trace: list[int] = field(default_factory=list)  # position in export order
    flows: list[FlowInfo] = field(default_factory=list)
    n_clipped: int = 0
    carried: int = 0
    dropped: int = 0
    option_bytes: int = 0


def _source(used: set[bool], yes: str, no: str) -> str:
    return "mixed" if len(used) > 1 else (yes if True in used else no)


def _mac(addr_bytes: bytes) -> bytes:
    """A locally administered unicast MAC derived from an address (02-00-xx-xx-xx-xx)."""
    return b"\x02\x00" + addr_bytes[-4:]


def _tcp_fields(s: Schedule, *, hmin: int | np.ndarray, rng: np.random.Generator,
                opened: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flags, sequence and acknowledgement numbers of one TCP trace (packets in time order; ``hmin``
    the IP and TCP header bytes, per packet where they carry options). Not ``opened``: a flow that
    started before the trace, without SYN and SYN-ACK (its first packet acknowledges the other
    side's first sequence number)."""
    n = len(s.size)
    d = s.direction
    flags = np.where(s.size > hmin, _TCP_ACK | _TCP_PSH, _TCP_ACK).astype(np.int64)
    syn = np.zeros(n, bool)
    fin = np.zeros(n, bool)
    for dd in (FORWARD, REVERSE):
        idx = np.flatnonzero(d == dd)
        if not len(idx):
            continue
        syn[idx[0]] = True
        if len(idx) > 1:
            fin[idx[-1]] = True
    if opened:
        flags[syn] = _TCP_SYN | _TCP_ACK
        flags[0] = _TCP_SYN  # the opening SYN acknowledges nothing
    else:
        syn[:] = False
    flags[fin] = _TCP_FIN | _TCP_ACK
    seg = (s.size - hmin) + syn + fin
    isn = rng.integers(0, 1 << 32, size=2, dtype=np.int64)
    seq = np.zeros(n, np.int64)
    ack = np.zeros(n, np.int64)
    for dd in (FORWARD, REVERSE):
        m = d == dd
        segd = np.where(m, seg, 0)
        before = np.cumsum(segd) - segd  # this direction's sequence space used before each packet
        seq[m] = isn[dd] + before[m]
        ack[~m] = isn[dd] + before[~m]
    if opened:
        ack[0] = 0
    return flags, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF


# -- the entry point ------------------------------------------------------------------------------
def export_pcap(
    dataset: TraceDataset,
    path: str | os.PathLike[str],
    options: ExportOptions | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    headers: Sequence[TraceHeader | None] | None = None,
    **overrides: Any,
) -> ExportSummary:
    """Write the traces of ``dataset`` as packets to a pcap file at ``path`` (atomically).

    Parameters
    ----------
    dataset : TraceDataset
        Series ``[N, C, T]`` in original units: bytes or packets per bin (C = 1 or 2 directions,
        see :func:`~netdiffus.export.traffic.channel_directions`), signed packet sizes (C = 1),
        inter-arrival times (C = 1) or joint packet sequences (C = 2: signed size, gap).
    path : path-like
        Output pcap file; no partial file is left on error.
    options : ExportOptions, optional
        How to write the packets (default ``ExportOptions()``).
    progress : callable or None
        Called as ``progress(traces_done, n_traces)``.
    headers : sequence of TraceHeader or None, [N]
        Header metadata per trace of ``dataset`` (learned by :class:`~netdiffus.headers.HeaderModel`
        or read from real traces): each trace is written as the conversations of its header
        (:mod:`netdiffus.export.conversations`). None: ``dataset.headers``; where that is None too,
        or for a None item, one conversation with the class's transport, port 443, TTL 64 and
        window 65535.
    **overrides
        Fields of :class:`ExportOptions` one by one (``seed=1, mtu=576``), over ``options``.

    Returns
    -------
    ExportSummary

    Raises
    ------
    ConfigError
        A bad option value.
    DatasetError
        The dataset cannot be exported (no bin width, NaN values, more than two channels, ...).
    """
    t_start = time.perf_counter()
    require_dataset(dataset, "dataset")
    opts = ExportOptions(**overrides) if options is None else dataclasses.replace(options, **overrides)
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"pcap output {path} is a folder; give a file name such as {path / 'synthetic.pcap'}")
    plan = _address_plan(opts.addresses, dataset.labels)
    kind, width, directions = _series_layout(dataset, opts)
    picked = _pick_traces(dataset.labels, opts.max_traces)
    if len(picked) > plan.capacity():
        raise ConfigError(
            f"the client range {plan.client_net} gives {plan.capacity()} distinct 5-tuples, fewer than "
            f"{len(picked)} traces; map a larger one with client=CIDR"
        )
    if headers is None:
        headers = dataset.headers
    if headers is not None and len(headers) != dataset.n_traces:
        raise ConfigError(f"headers must hold one item per trace ({dataset.n_traces}) (got {len(headers)})")
    ints, n_clipped = integer_series(dataset.series[picked], kind)
    labels = [dataset.labels[i] for i in picked]
    classes = _class_plans(dataset.meta, kind=kind, directions=directions, ints=ints, labels=labels, opts=opts,
                           ip_version=plan.version)
    _check_size(ints, kind=kind, classes=classes, labels=labels, ids=[dataset.ids[i] for i in picked], opts=opts)
    traces = _schedule_traces(dataset, picked, ints, kind=kind, directions=directions, width=width,
                              classes=classes, plan=plan, opts=opts, progress=progress, headers=headers)
    traces.n_clipped += n_clipped
    packets = _Columns(*(np.concatenate([t[k] for t in traces.packets]) if traces.packets else np.zeros(0, np.int64)
                         for k in range(len(_Columns._fields))))
    if len(packets.ts_us) and int(packets.ts_us.max()) >= (2**32 - 1) * 1_000_000:
        last = int(np.argmax(packets.ts_us))
        j = traces.conversation_trace[int(packets.flow[last]) // 2]
        lasts = (int(packets.ts_us[last]) - int(round((opts.start_time + j * opts.stagger_s) * 1e6))) / 1e6
        raise ConfigError(f"the capture would end after 2106-02-07 (pcap's limit): trace {dataset.ids[picked[j]]!r} "
                          f"lasts {lasts:,.0f} s; check the series, or lower start_time or stagger_s "
                          f"(got {opts.start_time}, {opts.stagger_s})")
    tables = _endpoint_tables(traces.conversations, traces.conversation_trace, ip_version=plan.version)
    _write_records(path, packets, tables, ip_version=plan.version, snaplen=opts.snaplen)
    summary = _summary(path, packets, traces, kind=kind, classes=classes, labels=labels, picked=picked, opts=opts,
                       wall=time.perf_counter() - t_start)
    if opts.flow_records:
        summary.records, summary.record_traces = export_records(
            ts_us=packets.ts_us, size=packets.size, flow=packets.flow, flags=packets.flags, tables=tables,
            ip_version=plan.version, opt_kind=packets.opt_kind)
    log.debug(summary.describe())
    return summary


# -- steps ----------------------------------------------------------------------------------------
def _address_plan(addresses: AddressPlan | None, labels: list[str]) -> AddressPlan:
    """``addresses`` (default: the documentation ranges), whose pinned classes must be classes of the dataset."""
    plan = addresses if addresses is not None else AddressPlan.default()
    unknown = sorted(set(plan.servers) - set(labels))
    if unknown:
        raise ConfigError(
            f"addr-map class {unknown[0]!r} is not a class of the dataset "
            f"(classes: {', '.join(sorted(set(labels)))})"
        )
    return plan


def _series_layout(dataset: TraceDataset, opts: ExportOptions) -> tuple[FeatureKind, float | None, list[int]]:
    """How to read the series: the feature, the bin width in seconds and the direction of each channel."""
    meta = dataset.meta
    width = meta.bin_width_s if opts.bin_width_s is None else opts.bin_width_s
    kind = resolve_feature(meta.feature, opts.feature, unit=meta.unit, binned=width is not None)
    if kind in ("bytes", "packets"):
        if width is None or not width >= MIN_BIN_WIDTH_S:
            raise DatasetError(
                f"bin width must be >= {MIN_BIN_WIDTH_S} s to export {kind} per bin (got meta.bin_width_s={width}); "
                "pass bin_width_s (--bin-width)"
            )
        if width * dataset.length >= MAX_GAP_S:  # the bins' edges in microseconds would overflow, too
            raise DatasetError(f"{dataset.length} bins of {width:g} s span more than a capture can hold (pcap time "
                               "ends in 2106): check the bin width (meta.bin_width_s, or pass --bin-width)")
        return kind, width, channel_directions(meta.channels)
    if kind == "sequence":
        if dataset.n_channels != 2:
            raise DatasetError(f"a sequence series must have two channels (size, iat) (got {dataset.n_channels})")
        return kind, width, [FORWARD]
    if dataset.n_channels != 1:
        what = "a sizes series must have one channel (signed by direction)" if kind == "sizes" else \
            "an iat series must have one channel"
        raise DatasetError(f"{what} (got {dataset.n_channels})")
    return kind, width, [FORWARD]


def _class_plans(meta: DatasetMeta, *, kind: FeatureKind, directions: list[int], ints: np.ndarray,
                 labels: list[str], opts: ExportOptions, ip_version: Literal[4, 6]) -> dict[str, _ClassPlan]:
    """Per class: transport, size samplers and intra-bin timing, from the capture statistics if kept.

    Each kind of fallback (no transport, no sizes, no timing) is logged once, naming the classes.
    """
    # a sequence's channels are not directions (its sizes and times are its own: only the transport is read)
    named = {} if kind == "sequence" else {ch: DIRECTION_OF[d] for ch, d in zip(meta.channels, directions, strict=True)}
    kept = CaptureStats.from_meta(meta, channels=named)
    stats = kept or CaptureStats()
    binned = kind in ("bytes", "packets")
    plans: dict[str, _ClassPlan] = {}
    no_transport, no_sizes, no_offsets = [], [], []
    for lab in sorted(set(labels)):
        tp = stats.transport_of(lab)
        if opts.transport == "auto" and tp is None:
            no_transport.append(lab)
        proto = (UDP if tp in ("udp", "other") else TCP) if opts.transport == "auto" else \
            (TCP if opts.transport == "tcp" else UDP)
        hmin = header_size(ip_version=ip_version, proto=proto)
        samplers = []
        for dd in directions:  # one channel holding both directions pools the class's two histograms
            h = stats.sizes(lab, DIRECTION_OF[dd] if len(directions) == 2 else None)
            samplers.append(SizeSampler(Histogram.of(h), min_size=hmin, mtu=opts.mtu) if h is not None else None)
        # A channel the class never uses (no bytes in it) needs no sizes: no warning for it.
        in_class = ints[[k for k, x in enumerate(labels) if x == lab]]
        used = [bool(in_class[:, c].any()) for c in range(in_class.shape[1])]
        lacking = [] if kind in ("sizes", "sequence") else \
            [ch for ch, s, u in zip(meta.channels, samplers, used, strict=True) if s is None and u]
        if lacking:  # name the channels when the class has sizes for another one
            no_sizes.append(lab if all(s is None for s in samplers) else f"{lab} ({', '.join(lacking)})")
        offsets = stats.offsets(lab) if binned else None
        if binned and offsets is None:
            no_offsets.append(lab)
        plans[lab] = _ClassPlan(proto=proto, samplers=samplers, sized=not lacking,
                                offsets=None if offsets is None else Histogram.of(offsets))
    if kept is None:
        # Series prepared from CSV files carry no capture statistics: the fallbacks are expected.
        log.info("the dataset carries no capture statistics (not prepared from captures): writing TCP, "
                 "MTU-sized packets plus one remainder, spread uniformly in each bin")
        return plans
    if no_transport:
        log.warning("no transport kept for class(es) %s: writing TCP", ", ".join(no_transport))
    if no_sizes:
        log.warning("no packet-size histogram kept for class(es) %s: writing MTU-sized packets plus one "
                    "remainder", ", ".join(no_sizes))
    if no_offsets:
        log.warning("no intra-bin timing kept for class(es) %s: spreading packets uniformly in each bin",
                    ", ".join(no_offsets))
    return plans


def _check_size(ints: np.ndarray, *, kind: FeatureKind, classes: dict[str, _ClassPlan], labels: list[str],
                ids: list[str], opts: ExportOptions) -> None:
    """Refuse, before any packet is made, a capture of more than ``opts.max_packets`` packets (every
    packet is held in memory until the capture is written); warn about one larger than 2 GB."""
    if kind == "packets":
        per = ints.sum(axis=(1, 2)).astype(np.float64)
    elif kind in ("sizes", "iat"):
        per = np.full(len(ints), float(ints.shape[2] + 1))
    elif kind == "sequence":  # a packet per non-zero size
        per = (ints[:, 0] != 0).sum(axis=-1).astype(np.float64)
    else:  # bytes: the bytes over the mean packet size of each class and channel, a remainder per bin
        per = (ints > 0).sum(axis=(1, 2)).astype(np.float64)
        for lab, cls in classes.items():
            rows = np.array([x == lab for x in labels])
            for ch, sampler in enumerate(cls.samplers):
                mean = sampler.mean if sampler is not None else float(opts.mtu)
                per[rows] += ints[rows, ch].sum(axis=-1) / mean
    total = float(per.sum())
    size = total * 30 + (float(ints.sum()) if kind == "bytes" else total * opts.mtu)  # + link and record headers
    if opts.max_packets and total > opts.max_packets:
        k = int(np.argmax(per))
        raise ConfigError(
            f"the capture would hold about {total:,.0f} packets ({size / 1e9:,.1f} GB; trace {ids[k]!r} alone "
            f"{per[k]:,.0f}), more than max_packets {opts.max_packets:,} (export holds every packet in memory, "
            "about 150 bytes each): check the series, export fewer traces (--max-traces), or raise --max-packets")
    if size > LARGE_CAPTURE_BYTES:
        log.warning("the capture will take about %.1f GB (%d traces); --max-traces or --snaplen make it smaller",
                    size / 1e9, len(ints))


def _schedule(row: np.ndarray, *, kind: FeatureKind, directions: list[int], edges_us: np.ndarray | None,
              cls: _ClassPlan, hmin: int, opts: ExportOptions, rng: np.random.Generator) -> tuple[Schedule, int]:
    """The packets of one trace ``row`` ``[C, T]``, and how many values were clipped."""
    control = cls.proto == TCP
    if kind == "sizes":
        return schedule_sizes(row, min_size=hmin, mtu=opts.mtu, packet_gap_s=opts.packet_gap_s, rng=rng)
    if kind == "iat":
        return schedule_iat(row, size_sampler=cls.samplers[0], min_size=hmin, mtu=opts.mtu, control=control, rng=rng)
    if kind == "sequence":
        return schedule_sequence(row, min_size=hmin, mtu=opts.mtu)
    if edges_us is None:
        raise ValueError(f"{kind} per bin need the bin edges")
    s = schedule_binned(row, kind=kind, directions=directions, bin_edges_us=edges_us, size_samplers=cls.samplers,
                        offset_sampler=cls.offsets, min_size=hmin, mtu=opts.mtu, control=control, rng=rng)
    return s, 0


def _header_fields(s: Schedule, *, proto: int, hmin: int | np.ndarray, rng: np.random.Generator,
                   opened: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """TCP flags, sequence and acknowledgement numbers (zeros for UDP; for ICMP the type and the echo
    sequence number) and IP ids of one trace; a TCP trace not ``opened`` has no SYN (:func:`_tcp_fields`)."""
    n = len(s.size)
    if proto == TCP and n:
        flags, seq, ack = _tcp_fields(s, hmin=hmin, rng=rng, opened=opened)
    elif proto in ICMP_TYPES:
        flags = np.where(s.direction == FORWARD, *ICMP_TYPES[proto]).astype(np.int64)
        seq = np.zeros(n, np.int64)
        for dd in (FORWARD, REVERSE):
            seq[s.direction == dd] = np.arange(1, int(np.count_nonzero(s.direction == dd)) + 1)
        ack = np.zeros(n, np.int64)
    else:
        flags = seq = ack = np.zeros(n, np.int64)
    ip_id0 = rng.integers(0, 1 << 16, size=2)
    ip_id = np.zeros(n, np.int64)
    for dd in (FORWARD, REVERSE):
        m = s.direction == dd
        ip_id[m] = ip_id0[dd] + np.arange(int(m.sum()))
    return flags, seq, ack, ip_id


def _schedule_traces(dataset: TraceDataset, picked: list[int], ints: np.ndarray, *, kind: FeatureKind,
                     directions: list[int], width: float | None, classes: dict[str, _ClassPlan], plan: AddressPlan,
                     opts: ExportOptions, progress: Callable[[int, int], None] | None,
                     headers: Sequence[TraceHeader | None] | None = None) -> _Traces:
    """Packets, conversations and flow rows of the traces at ``picked`` (rounded series ``ints``)."""
    start_us = int(round(opts.start_time * 1e6))
    edges_us: np.ndarray | None = None
    if kind in ("bytes", "packets") and width is not None:  # _series_layout checked it is there
        edges_us = np.round(np.arange(dataset.length + 1) * width * 1e6).astype(np.int64)
    out = _Traces(written=np.zeros(ints.shape, np.float64 if kind in ("iat", "sequence") else np.int64))
    names = sorted(set(dataset.labels))
    picked_headers = [None if headers is None else headers[i] for i in picked]
    shared = max([f.server_id + 1 for h in picked_headers if h is not None for f in h.flows], default=0)
    conversations = ConversationPlan(plan, shared_servers=shared)
    for j, i in enumerate(picked):
        lab = dataset.labels[i]
        rng = np.random.default_rng([opts.seed, i])  # per trace: a trace's packets do not depend on max_traces
        header = picked_headers[j]
        cls = classes[lab] if header is None else _with_proto(
            classes[lab], TCP if any(f.transport == "tcp" for f in header.flows) else UDP, plan.version, opts.mtu)
        hmin = header_size(ip_version=plan.version, proto=cls.proto)
        if header is not None and kind == "bytes" and cls.sized:
            cls = dataclasses.replace(cls, samplers=match_packet_count(
                cls.samplers, bytes_per_channel=np.maximum(ints[j], 0).sum(axis=1).tolist(),
                packets=sum(f.packets for f in header.flows), header_only=_header_only_share(header)))
        s, nc = _schedule(ints[j], kind=kind, directions=directions, edges_us=edges_us, cls=cls, hmin=hmin,
                          opts=opts, rng=rng)
        out.n_clipped += nc
        out.written[j] = s.written
        out.carried += s.carried
        out.dropped += s.dropped
        convs = conversations.of_trace(j, label=lab, label_index=names.index(lab), proto=cls.proto, header=header,
                                       rng=np.random.default_rng([opts.seed, i, 1]))
        t0_us = start_us + int(round(j * opts.stagger_s * 1e6))
        shape = None if edges_us is None else _Shape(edges_us, move_bytes=kind == "bytes", mtu=opts.mtu)
        packets, grown, convs = _conversation_packets(s, convs, header=header, first=len(out.conversations),
                                                      t0_us=t0_us, hmin=hmin, rng=rng, shape=shape)
        out.packets.append(packets)
        out.option_bytes += grown
        out.conversations += convs
        out.conversation_trace += [j] * len(convs)
        c = convs[0]
        out.flows.append(FlowInfo(dataset.ids[i], lab, _PROTO_NAME[c.proto], str(c.client),
                                  c.client_port, str(c.server), c.server_port, len(s.size), int(s.size.sum())))
        if progress is not None:
            progress(j + 1, len(picked))
    return out


def _header_only_share(header: TraceHeader) -> float:
    """The share of a trace's packets that its TCP flows' pure ACKs are (-1: no TCP flow with one known)."""
    known = [f for f in header.flows if f.transport == "tcp" and f.ack_percent >= 0]
    total = sum(f.packets for f in header.flows)
    return -1.0 if not known or total <= 0 else sum(f.packets * f.ack_percent for f in known) / 100 / total


def _with_proto(cls: _ClassPlan, proto: int, ip_version: Literal[4, 6], mtu: int) -> _ClassPlan:
    """``cls`` writing ``proto``: its size samplers bounded below by that transport's header."""
    if proto == cls.proto:
        return cls
    hmin = header_size(ip_version=ip_version, proto=proto)
    samplers = [None if x is None else SizeSampler(x.hist, min_size=hmin, mtu=mtu) for x in cls.samplers]
    return dataclasses.replace(cls, proto=proto, samplers=samplers)


@dataclasses.dataclass(frozen=True)
class _Shape:
    """What shaping a binned trace's conversations needs (:mod:`netdiffus.export.flowshape`)."""

    edges_us: np.ndarray
    move_bytes: bool
    mtu: int


def _conversation_packets(s: Schedule, convs: list[Conversation], *, header: TraceHeader | None, first: int,
                          t0_us: int, hmin: int, rng: np.random.Generator,
                          shape: _Shape | None = None) -> tuple[_Columns, int, list[Conversation]]:
    """The packets of one trace's schedule ``s``, shared among its conversations (numbered from
    ``first``), each with its own TCP flags, sequence numbers, IP ids and options; with ``shape`` (a
    binned trace) each conversation gets its flow's pure-ACK share and duration. Also the bytes
    added to packets too small for their TCP options, and the conversations of a header with each
    TCP window wide enough for the runs its peer sends (:func:`fit_windows`)."""
    n = len(s.size)
    none = np.zeros(n, np.int64)
    if header is None:
        flags, seq, ack, ip_id = _header_fields(s, proto=convs[0].proto, hmin=hmin, rng=rng)
        return _Columns(t0_us + s.time_us, s.size, np.full(n, first, np.int64) * 2 + s.direction, flags, seq, ack,
                        ip_id, none, none, none), 0, convs
    conv = split_packets(s.direction, packets=[f.packets for f in header.flows], rng=rng,
                         one_way=[f.ttl_bwd < 0 for f in header.flows])
    if shape is not None:
        s = _shaped(s, conv, header=header, convs=convs, hmin=hmin, shape=shape, rng=rng)
    flags, seq, ack, ip_id, opt_kind, tsval, tsecr = (np.zeros(n, np.int64) for _ in range(7))
    size = s.size.copy()
    convs = list(convs)
    for k, c in enumerate(convs):
        m = np.flatnonzero(conv == k)
        if not len(m):
            continue
        convs[k] = c = fit_windows(c, size=size[m], direction=s.direction[m], hmin=hmin)
        kind, opt_len = packet_options(s.direction[m], c.options if c.proto == TCP else None)
        size[m] = np.maximum(size[m], hmin + opt_len)  # room for the options (none: as scheduled)
        sub = Schedule(time_us=s.time_us[m], size=size[m], direction=s.direction[m], written=s.written)
        flags[m], seq[m], ack[m], ip_id[m] = _header_fields(sub, proto=c.proto, hmin=hmin + opt_len, rng=rng,
                                                            opened=c.opened)
        if kind.any():
            opt_kind[m] = kind
            tsval[m], tsecr[m] = timestamps(sub.time_us, sub.direction, rng=rng)
        if c.proto == TCP and header.flows[k].psh_percent >= 0:  # PSH on the learned share of data packets
            data = m[(flags[m] & _TCP_PSH) != 0]
            flags[data[rng.random(len(data)) >= header.flows[k].psh_percent / 100]] &= ~_TCP_PSH
    return _Columns(t0_us + s.time_us, size, (first + conv) * 2 + s.direction, flags, seq, ack, ip_id, opt_kind,
                    tsval, tsecr), int(size.sum() - s.size.sum()), convs


def _shaped(s: Schedule, conv: np.ndarray, *, header: TraceHeader, convs: list[Conversation], hmin: int,
            shape: _Shape, rng: np.random.Generator) -> Schedule:
    """``s`` with its conversations' pure ACKs and durations those of their header flows."""
    bins = np.clip(np.searchsorted(shape.edges_us, s.time_us, side="right") - 1, 0, len(shape.edges_us) - 2)
    size = s.size
    if shape.move_bytes:
        size = balance_bytes(size, direction=s.direction, bins=bins, conv=conv, hmin=hmin, mtu=shape.mtu, rng=rng,
                             bytes_class=[f.bytes_class for f in header.flows])
    size = make_pure_acks(size, direction=s.direction, bins=bins, conv=conv,
                          ack_percent=[f.ack_percent for f in header.flows], tcp=[c.proto == TCP for c in convs],
                          hmin=hmin, mtu=shape.mtu, move_bytes=shape.move_bytes, rng=rng)
    time_us = retime_flows(s.time_us, conv=conv, durations_us=[f.duration_us for f in header.flows],
                           edges_us=shape.edges_us, guard_us=GUARD_US, rng=rng)
    return dataclasses.replace(s, time_us=time_us, size=size)


def _endpoint_tables(conversations: list[Conversation], traces: list[int], *,
                     ip_version: Literal[4, 6]) -> dict[str, np.ndarray]:
    """Addresses, ports, protocol, TTL, window and trace per flow (``2 * conversation + direction``),
    as :func:`encode_records` takes them."""
    nf = 2 * len(conversations)
    alen = 4 if ip_version == 4 else 16
    t: dict[str, np.ndarray] = {
        "src_ip": np.zeros((nf, alen), np.uint8), "dst_ip": np.zeros((nf, alen), np.uint8),
        "src_mac": np.zeros((nf, 6), np.uint8), "dst_mac": np.zeros((nf, 6), np.uint8),
        "sport": np.zeros(nf, np.int64), "dport": np.zeros(nf, np.int64), "proto": np.zeros(nf, np.int64),
        "ttl": np.zeros(nf, np.int64), "window": np.zeros(nf, np.int64), "syn_window": np.zeros(nf, np.int64),
        "trace": np.repeat(traces, 2),
        "syn": np.full((nf, 4), -1, np.int64)}
    for j, c in enumerate(conversations):
        c_ip, s_ip = c.client.packed, c.server.packed
        for d, src, dst in ((FORWARD, (c_ip, c.client_port, _mac(c_ip)), (s_ip, c.server_port, GATEWAY_MAC)),
                            (REVERSE, (s_ip, c.server_port, GATEWAY_MAC), (c_ip, c.client_port, _mac(c_ip)))):
            f = 2 * j + d
            t["src_ip"][f], t["sport"][f], t["src_mac"][f] = list(src[0]), src[1], list(src[2])
            t["dst_ip"][f], t["dport"][f], t["dst_mac"][f] = list(dst[0]), dst[1], list(dst[2])
            t["proto"][f], t["ttl"][f], t["window"][f] = c.proto, c.ttl[d], c.window[d]
            t["syn_window"][f] = (c.syn_window or c.window)[d]
        t["syn"][2 * j : 2 * j + 2] = syn_rows(c.options)
    return t


def _write_records(path: Path, packets: _Columns, tables: dict[str, np.ndarray], *, ip_version: Literal[4, 6],
                   snaplen: int | None) -> None:
    """Write the pcap file: its header, then the packets in time order (traces in order at equal times)."""
    order = np.argsort(packets.ts_us, kind="stable")
    try:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(pcap_file_header(snaplen=snaplen or 65535))
                buffer = np.empty(0, np.uint8)
                for a in range(0, len(order), CHUNK_PACKETS):
                    o = order[a : a + CHUNK_PACKETS]
                    f = packets.flow[o]
                    need = int((packets.size[o] + 14 + 16).sum())
                    if len(buffer) < need:  # one buffer for all chunks (fresh memory is slow to touch)
                        buffer = np.zeros(max(need, 2 * len(buffer)), np.uint8)
                    options, options_len = option_table(packets.opt_kind[o], tables["syn"][f], packets.tsval[o],
                                                        packets.tsecr[o]) if packets.opt_kind[o].any() else (None, None)
                    records = encode_records(
                        ts_us=packets.ts_us[o], ip_len=packets.size[o], proto=tables["proto"][f],
                        src_ip=tables["src_ip"][f], dst_ip=tables["dst_ip"][f], sport=tables["sport"][f],
                        dport=tables["dport"][f], src_mac=tables["src_mac"][f], dst_mac=tables["dst_mac"][f],
                        ip_id=packets.ip_id[o], seq=packets.seq[o], ack=packets.ack[o], tcp_flags=packets.flags[o],
                        flow_label=f // 2 + 1, ip_version=ip_version, snaplen=snaplen, out=buffer,
                        ttl=tables["ttl"][f], window=np.where(packets.flags[o] & _TCP_SYN, tables["syn_window"][f],
                                                              tables["window"][f]), tcp_options=options,
                        tcp_options_len=options_len,
                    )
                    fh.write(records.data)
    except OSError as exc:
        raise InputError(f"cannot write pcap {path}: {exc.strerror or exc}") from None


def _summary(path: Path, packets: _Columns, traces: _Traces, *, kind: FeatureKind, classes: dict[str, _ClassPlan],
             labels: list[str], picked: list[int], opts: ExportOptions, wall: float) -> ExportSummary:
    """What was written; warns about values the capture could not hold as they were."""
    ts_us, n_packets = packets.ts_us, len(packets.ts_us)
    transports: dict[str, int] = {}
    for fl in traces.flows:
        transports[fl.transport] = transports.get(fl.transport, 0) + 1
    here = set(labels)
    summary = ExportSummary(
        path=path,
        feature=kind,
        n_traces=len(picked),
        n_packets=n_packets,
        n_ip_bytes=int(packets.size.sum()),
        n_file_bytes=path.stat().st_size,
        start_time=(int(ts_us.min()) if n_packets else int(round(opts.start_time * 1e6))) / 1e6,
        duration_s=float(ts_us.max() - ts_us.min()) / 1e6 if n_packets else 0.0,
        transports=transports,
        timing="gaps" if kind == "sizes" else "series" if kind in ("iat", "sequence") else
        _source({classes[lab].offsets is not None for lab in here}, "histogram", "uniform"),
        sizes="series" if kind in ("sizes", "sequence") else
        _source({classes[lab].sized for lab in here}, "histogram", "mtu-fill"),
        n_clipped=traces.n_clipped,
        carried_bytes=traces.carried,
        dropped=traces.dropped,
        option_bytes=traces.option_bytes,
        written=traces.written,
        flows=traces.flows,
        wall_s=wall,
        packets_per_s=n_packets / wall if wall > 0 else 0.0,
        trace_index=picked,
    )
    if traces.n_clipped:
        log.warning("%d series values were outside what a capture can hold and were changed (negative counts "
                    "or gaps set to 0, packet sizes clipped into [header size, mtu])", traces.n_clipped)
    if traces.carried or traces.dropped:
        log.warning("%d bytes were moved to a neighbouring bin and %d dropped: bins held less than one packet",
                    traces.carried, traces.dropped)
    return summary


def write_flows_csv(summary: ExportSummary, path: str | os.PathLike[str]) -> Path:
    """Write the flow records of an export, one row per flow, atomically.

    Columns: ``id`` (the trace's), the record's :data:`~netdiffus.io.flow_records.COLUMNS`
    (CICFlowMeter's names where they match), ``Label`` (the trace's class). Ids and labels are
    written as :func:`~netdiffus.io.csv_common.escape_csv_text` writes text cells. The table is
    also a label table for ``prepare --label-from csv:FILE`` (its 5-tuple columns are
    CICFlowMeter's).

    Raises
    ------
    ConfigError
        ``summary`` holds no records: export with ``flow_records=True``.
    """
    if summary.records is None:
        raise ConfigError("the export summary holds no flow records: export with flow_records=True")
    path = Path(path)
    with naming(path), atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["id", *COLUMNS, "Label"])
            for record, j in zip(summary.records, summary.record_traces, strict=True):
                f = summary.flows[j]  # ids and labels are data: none may run as a spreadsheet formula
                w.writerow([escape_csv_text(f.trace_id), *record_row(record), escape_csv_text(f.label)])
    return path
