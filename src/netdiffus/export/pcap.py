"""Synthetic series -> a pcap capture that Wireshark, tcpreplay and IDS tools read and replay.

:func:`export_pcap` writes one classic pcap file (Ethernet link type, microsecond timestamps)
holding one TCP or UDP conversation per trace:

- bytes (or packets) per bin become packets timed inside each bin (by the class's intra-bin
  offset histogram kept at ``prepare`` time, else uniformly), sized by the class's packet-size
  histogram (else MTU-sized packets plus one remainder packet), within ``[header size, mtu]``;
  a bin's bytes are matched exactly (IP total length, the unit ``prepare`` counts);
- signed packet-size sequences become packets in both directions with those sizes;
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
import logging
import numbers
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from netdiffus.config import check_seed
from netdiffus.errors import ConfigError, DatasetError, InputError
from netdiffus.export.addresses import SERVER_PORT, AddressPlan
from netdiffus.export.frames import TCP, UDP, encode_records, header_size, pcap_file_header
from netdiffus.export.traffic import (
    FORWARD,
    REVERSE,
    FeatureKind,
    Histogram,
    Schedule,
    SizeSampler,
    channel_directions,
    integer_series,
    resolve_feature,
    schedule_binned,
    schedule_iat,
    schedule_sizes,
)
from netdiffus.files import atomic_path
from netdiffus.io.dataset import TraceDataset, read_dataset, require_dataset

__all__ = ["export_pcap", "ExportSummary", "FlowInfo", "load_export_input", "write_flows_csv",
           "DEFAULT_START_TIME", "Transport", "TRANSPORT_CHOICES"]

log = logging.getLogger(__name__)

#: The transport of an exported trace, and ``transport``: that, or ``auto`` (each class's own).
WrittenTransport = Literal["tcp", "udp"]
Transport = Literal["auto", WrittenTransport]
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
_TCP_SYN, _TCP_FIN, _TCP_ACK, _TCP_PSH = 0x02, 0x01, 0x10, 0x08


@dataclass
class FlowInfo:
    """The 5-tuple of one exported trace (client = initiator / traced device)."""

    trace_id: str
    label: str
    transport: WrittenTransport
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
    feature : {"bytes", "packets", "sizes"}
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
        ``"series"``.
    n_clipped : int
        Values changed before export: negative counts set to 0, or sizes clipped into
        ``[header size, mtu]``.
    carried_bytes : int
        Bytes written in another bin than their own (bins smaller than one packet).
    dropped : int
        Bytes (or packets) that could not be written (a trace total below one packet).
    written : ndarray of int64, shape [N, C, T]
        The capture's content per trace, channel and bin, in the series' unit.
    flows : list of FlowInfo
    wall_s, packets_per_s : float
        Time spent and packets written per second.
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


def _lookup(table: Any, label: str, *, channel: str = "", direction: int | None = None,
            what: str) -> Histogram | None:
    """Find the histogram of ``label`` in ``table`` (``meta.extra[what]``), or None.

    A class's entry is one histogram, or one per direction (``{"down": ..., "up": ...}``, as
    ``prepare`` keeps them: "up" is from the host / initiator, our forward direction) or per
    channel name. With one histogram per direction and no ``direction`` (one channel holding
    both), the directions are pooled.
    """
    def read(obj: Any, name: str) -> Histogram | None:
        if isinstance(obj, dict) and isinstance(obj.get("counts"), list) and not any(obj["counts"]):
            return None  # nothing was seen (e.g. no packet in that direction): same as absent
        return Histogram.from_json(obj, what=name)

    if not isinstance(table, dict) or label not in table:
        return None
    entry = table[label]
    if isinstance(entry, dict) and "edges" not in entry:
        keys = [channel] + ([{FORWARD: "up", REVERSE: "down"}[direction]] if direction is not None else [])
        for key in keys:
            if key in entry:
                return read(entry[key], f"meta.extra[{what!r}][{label!r}][{key!r}]")
        if direction is not None:
            return None
        parts = [read(v, f"meta.extra[{what!r}][{label!r}][{k!r}]") for k, v in entry.items()]
        parts = [p for p in parts if p is not None]
        if parts and all(np.array_equal(p.edges, parts[0].edges) for p in parts):
            return Histogram(parts[0].edges, np.sum([p.counts for p in parts], axis=0))
        return None
    return read(entry, f"meta.extra[{what!r}][{label!r}]")


def _source(used: set[bool], yes: str, no: str) -> str:
    return "mixed" if len(used) > 1 else (yes if True in used else no)


def _mac(addr_bytes: bytes) -> bytes:
    """A locally administered unicast MAC derived from an address (02-00-xx-xx-xx-xx)."""
    return b"\x02\x00" + addr_bytes[-4:]


def _tcp_fields(s: Schedule, *, hmin: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flags, sequence and acknowledgement numbers of one TCP trace (packets in time order)."""
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
    flags[syn] = _TCP_SYN | _TCP_ACK
    flags[0] = _TCP_SYN  # the opening SYN acknowledges nothing
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
    ack[0] = 0
    return flags, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF


def _check_int(name: str, value: object, lo: int, hi: int | None = None) -> None:
    """:class:`ConfigError` unless ``value`` is an integer in ``[lo, hi]`` (``hi`` None: no bound)."""
    if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
            or value < lo or (hi is not None and value > hi)):
        rule = f">= {lo}" if hi is None else f"from {lo} to {hi}"
        raise ConfigError(f"{name} must be an integer {rule} (got {value!r})")


def export_pcap(
    dataset: TraceDataset,
    path: str | os.PathLike[str],
    *,
    seed: int = 0,
    transport: Transport = "auto",
    mtu: int = 1500,
    max_traces: int | None = None,
    start_time: float = DEFAULT_START_TIME,
    feature: FeatureKind | None = None,
    addresses: AddressPlan | None = None,
    packet_gap_s: float = 0.01,
    snaplen: int | None = None,
    bin_width_s: float | None = None,
    stagger_s: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
) -> ExportSummary:
    """Write the traces of ``dataset`` as packets to a pcap file at ``path`` (atomically).

    Parameters
    ----------
    dataset : TraceDataset
        Series ``[N, C, T]`` in original units: bytes or packets per bin (C = 1 or 2 directions,
        see :func:`~netdiffus.export.traffic.channel_directions`) or signed packet sizes (C = 1).
    path : path-like
        Output pcap file; no partial file is left on error.
    seed : int
        Seeds sizes, times, sequence numbers: the same inputs and seed give the same bytes.
    transport : {"auto", "tcp", "udp"}
        ``auto`` takes each class's transport from ``meta.extra["transport"]`` (``other`` is
        written as UDP), else TCP.
    mtu : int
        Largest IP packet in bytes (128 to 65535).
    max_traces : int or None
        Export at most this many traces, taking classes in turn.
    start_time : float
        Capture start, Unix seconds (all traces start there).
    feature : {"bytes", "packets", "sizes"} or None
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
    progress : callable or None
        Called as ``progress(traces_done, n_traces)``.

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
    if transport not in TRANSPORT_CHOICES:
        raise ConfigError(f"transport must be one of {', '.join(TRANSPORT_CHOICES)} (got {transport!r})")
    _check_int("mtu", mtu, 128, 65535)
    if max_traces is not None:
        _check_int("max_traces", max_traces, 1)
    for name, value in (("start_time", start_time), ("stagger_s", stagger_s), ("packet_gap_s", packet_gap_s),
                        ("bin_width_s", 0.0 if bin_width_s is None else bin_width_s)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ConfigError(f"{name} must be a number (got {value!r})")
    if not np.isfinite(start_time) or start_time < 0 or start_time >= 2**32 - 1e6:
        raise ConfigError(f"start_time must be Unix seconds from 0 to 2**32 (got {start_time})")
    if not (np.isfinite(stagger_s) and stagger_s >= 0):
        raise ConfigError(f"stagger_s must be >= 0 (got {stagger_s})")
    if not packet_gap_s > 0:
        raise ConfigError(f"packet_gap_s must be > 0 (got {packet_gap_s})")
    if snaplen is not None:
        _check_int("snaplen", snaplen, 96, 262144)
    seed = check_seed(seed)
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"pcap output {path} is a folder; give a file name such as {path / 'synthetic.pcap'}")
    plan = addresses if addresses is not None else AddressPlan.default()
    unknown = sorted(set(plan.servers) - set(dataset.labels))
    if unknown:
        raise ConfigError(
            f"addr-map class {unknown[0]!r} is not a class of the dataset "
            f"(classes: {', '.join(sorted(set(dataset.labels)))})"
        )
    ipv = plan.version
    kind = resolve_feature(dataset.meta.feature, feature)
    meta = dataset.meta
    width = meta.bin_width_s if bin_width_s is None else bin_width_s
    if bin_width_s is not None and not bin_width_s >= MIN_BIN_WIDTH_S:
        raise ConfigError(f"bin_width_s must be >= {MIN_BIN_WIDTH_S} (got {bin_width_s})")
    if kind in ("bytes", "packets"):
        if width is None or not width >= MIN_BIN_WIDTH_S:
            raise DatasetError(
                f"bin width must be >= {MIN_BIN_WIDTH_S} s to export {kind} per bin (got meta.bin_width_s={width}); "
                "pass bin_width_s (--bin-width)"
            )
        directions = channel_directions(meta.channels)
    else:
        if dataset.n_channels != 1:
            what = "a sizes series must have one channel (signed by direction)" if kind == "sizes" else \
                "an iat series must have one channel"
            raise DatasetError(f"{what} (got {dataset.n_channels})")
        directions = [FORWARD]
    picked = _pick_traces(dataset.labels, max_traces)
    if len(picked) > plan.capacity():
        raise ConfigError(
            f"the client range {plan.client_net} gives {plan.capacity()} distinct 5-tuples, fewer than "
            f"{len(picked)} traces; map a larger one with client=CIDR"
        )
    ints, n_clipped = integer_series(dataset.series[picked], kind)
    labels = [dataset.labels[i] for i in picked]
    classes = sorted(set(dataset.labels))
    extra = meta.extra or {}
    t_of = extra.get("transport") if isinstance(extra.get("transport"), dict) else {}
    size_table = extra.get("packet_sizes")
    offset_table = extra.get("intra_bin_offsets")

    # -- per-class settings, with one warning per kind of fallback ---------------------------
    proto_of: dict[str, int] = {}
    samplers_of: dict[str, list[SizeSampler | None]] = {}
    sized_of: dict[str, bool] = {}
    offsets_of: dict[str, Histogram | None] = {}
    no_transport: list[str] = []
    no_sizes: list[str] = []
    no_offsets: list[str] = []
    for lab in sorted(set(labels)):
        if transport == "auto":
            tp = t_of.get(lab)
            if tp is None:
                no_transport.append(lab)
            proto_of[lab] = UDP if tp in ("udp", "other") else TCP
        else:
            proto_of[lab] = TCP if transport == "tcp" else UDP
        hmin = header_size(ip_version=ipv, proto=proto_of[lab])
        samplers = []
        for ch, dd in zip(meta.channels, directions, strict=True):
            h = _lookup(size_table, lab, channel=ch, direction=dd if len(directions) == 2 else None,
                        what="packet_sizes")
            samplers.append(SizeSampler(h, min_size=hmin, mtu=mtu) if h is not None else None)
        # A channel the class never uses (no bytes in it) needs no sizes: no warning for it.
        used = ints[[k for k, x in enumerate(labels) if x == lab]].any(axis=(0, 2))
        lacking = [ch for ch, s, u in zip(meta.channels, samplers, used, strict=True) if s is None and u]
        if kind != "sizes" and lacking:  # name the channels when the class has sizes for another one
            no_sizes.append(lab if all(s is None for s in samplers) else f"{lab} ({', '.join(lacking)})")
        samplers_of[lab] = samplers
        sized_of[lab] = not lacking  # every channel the class uses draws sizes from its histogram
        binned = kind in ("bytes", "packets")
        offsets_of[lab] = _lookup(offset_table, lab, what="intra_bin_offsets") if binned else None
        if binned and offsets_of[lab] is None:
            no_offsets.append(lab)
    if not any(k in meta.extra for k in ("transport", "packet_sizes", "intra_bin_offsets")):
        # Series prepared from CSV files carry no capture statistics: the fallbacks are expected.
        log.info("the dataset carries no capture statistics (not prepared from captures): writing TCP, "
                 "MTU-sized packets plus one remainder, spread uniformly in each bin")
    else:
        if no_transport:
            log.warning("no transport kept for class(es) %s: writing TCP", ", ".join(no_transport))
        if no_sizes:
            log.warning("no packet-size histogram kept for class(es) %s: writing MTU-sized packets plus one "
                        "remainder", ", ".join(no_sizes))
        if no_offsets:
            log.warning("no intra-bin timing kept for class(es) %s: spreading packets uniformly in each bin",
                        ", ".join(no_offsets))

    if kind == "bytes":
        est = int(ints.sum()) * (1 + 30 / 1000)  # + link and record headers of ~1000-byte packets
        if est > LARGE_CAPTURE_BYTES:
            log.warning("the capture will take about %.1f GB (%d traces); --max-traces or --snaplen make it smaller",
                        est / 1e9, len(picked))

    # -- schedules ---------------------------------------------------------------------------
    start_us = int(round(start_time * 1e6))
    t_len = dataset.length
    if kind in ("bytes", "packets"):
        edges_us = np.round(np.arange(t_len + 1) * float(width) * 1e6).astype(np.int64)
    written = np.zeros(ints.shape, np.float64 if kind == "iat" else np.int64)
    per_trace: list[tuple[np.ndarray, ...]] = []
    flows: list[FlowInfo] = []
    carried = dropped = 0
    endpoints: list[tuple[bytes, bytes, int, int, bytes, bytes]] = []
    for j, (i, lab) in enumerate(zip(picked, labels, strict=True)):
        rng = np.random.default_rng([seed, i])  # per trace: a trace's packets do not depend on max_traces
        proto = proto_of[lab]
        hmin = header_size(ip_version=ipv, proto=proto)
        if kind == "sizes":
            s, nc = schedule_sizes(ints[j], min_size=hmin, mtu=mtu, packet_gap_s=packet_gap_s, rng=rng)
            n_clipped += nc
        elif kind == "iat":
            s, nc = schedule_iat(ints[j], size_sampler=samplers_of[lab][0], min_size=hmin, mtu=mtu,
                                 control=proto == TCP, rng=rng)
            n_clipped += nc
        else:
            s = schedule_binned(
                ints[j], kind=kind, directions=directions, bin_edges_us=edges_us,
                size_samplers=samplers_of[lab], offset_sampler=offsets_of[lab],
                min_size=hmin, mtu=mtu, control=proto == TCP, rng=rng,
            )
        written[j] = s.written
        carried += s.carried
        dropped += s.dropped
        n = len(s.size)
        if proto == TCP and n:
            flags, seq, ack = _tcp_fields(s, hmin=hmin, rng=rng)
        else:
            flags = seq = ack = np.zeros(n, np.int64)
        ip_id0 = rng.integers(0, 1 << 16, size=2)
        ip_id = np.zeros(n, np.int64)
        for dd in (FORWARD, REVERSE):
            m = s.direction == dd
            ip_id[m] = ip_id0[dd] + np.arange(int(m.sum()))
        t0_us = start_us + int(round(j * stagger_s * 1e6))
        per_trace.append((t0_us + s.time_us, s.size, np.full(n, j, np.int64) * 2 + s.direction, flags, seq, ack, ip_id))
        client, cport = plan.client(j)
        server = plan.server(lab, classes.index(lab) if lab in classes else 0)
        endpoints.append((client.packed, server.packed, cport, SERVER_PORT, _mac(client.packed), GATEWAY_MAC))
        flows.append(FlowInfo(dataset.ids[i], lab, "tcp" if proto == TCP else "udp", str(client), cport,
                              str(server), SERVER_PORT, n, int(s.size.sum())))
        if progress is not None:
            progress(j + 1, len(picked))

    # -- endpoint tables, indexed by flow = 2 * trace + direction ----------------------------
    nf = 2 * len(picked)
    alen = 4 if ipv == 4 else 16
    src_ip = np.zeros((nf, alen), np.uint8)
    dst_ip = np.zeros((nf, alen), np.uint8)
    src_mac = np.zeros((nf, 6), np.uint8)
    dst_mac = np.zeros((nf, 6), np.uint8)
    sport = np.zeros(nf, np.int64)
    dport = np.zeros(nf, np.int64)
    proto_f = np.zeros(nf, np.int64)
    for j, (c_ip, s_ip, cp, sp, c_mac, g_mac) in enumerate(endpoints):
        f, r = 2 * j + FORWARD, 2 * j + REVERSE
        src_ip[f], dst_ip[f], sport[f], dport[f] = list(c_ip), list(s_ip), cp, sp
        src_ip[r], dst_ip[r], sport[r], dport[r] = list(s_ip), list(c_ip), sp, cp
        src_mac[f], dst_mac[f] = list(c_mac), list(g_mac)
        src_mac[r], dst_mac[r] = list(g_mac), list(c_mac)
        proto_f[f] = proto_f[r] = proto_of[labels[j]]

    cols = [np.concatenate([t[k] for t in per_trace]) if per_trace else np.zeros(0, np.int64) for k in range(7)]
    ts_us, size, flow, flags, seq, ack, ip_id = cols
    if len(ts_us) and int(ts_us.max()) >= (2**32 - 1) * 1_000_000:
        raise ConfigError(f"the capture would end after 2106-02-07 (pcap's limit): lower start_time or stagger_s "
                          f"(got {start_time}, {stagger_s})")
    order = np.argsort(ts_us, kind="stable")  # traces in order at equal times
    n_packets = len(order)
    try:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                fh.write(pcap_file_header(snaplen=snaplen or 65535))
                buffer = np.empty(0, np.uint8)
                for a in range(0, n_packets, CHUNK_PACKETS):
                    o = order[a : a + CHUNK_PACKETS]
                    f = flow[o]
                    need = int((size[o] + 14 + 16).sum())
                    if len(buffer) < need:  # one buffer for all chunks (fresh memory is slow to touch)
                        buffer = np.zeros(max(need, 2 * len(buffer)), np.uint8)
                    records = encode_records(
                        ts_us=ts_us[o], ip_len=size[o], proto=proto_f[f],
                        src_ip=src_ip[f], dst_ip=dst_ip[f], sport=sport[f], dport=dport[f],
                        src_mac=src_mac[f], dst_mac=dst_mac[f], ip_id=ip_id[o], seq=seq[o], ack=ack[o],
                        tcp_flags=flags[o], flow_label=f // 2 + 1, ip_version=ipv, snaplen=snaplen, out=buffer,
                    )
                    fh.write(memoryview(records))
    except OSError as exc:
        raise InputError(f"cannot write pcap {path}: {exc.strerror or exc}") from None
    wall = time.perf_counter() - t_start
    transports: dict[str, int] = {}
    for fl in flows:
        transports[fl.transport] = transports.get(fl.transport, 0) + 1
    summary = ExportSummary(
        path=path,
        feature=kind,
        n_traces=len(picked),
        n_packets=n_packets,
        n_ip_bytes=int(size.sum()),
        n_file_bytes=path.stat().st_size,
        start_time=(int(ts_us.min()) if n_packets else start_us) / 1e6,
        duration_s=float(ts_us.max() - ts_us.min()) / 1e6 if n_packets else 0.0,
        transports=transports,
        timing="gaps" if kind == "sizes" else "series" if kind == "iat" else
        _source({offsets_of[lab] is not None for lab in set(labels)}, "histogram", "uniform"),
        sizes="series" if kind == "sizes" else
        _source({sized_of[lab] for lab in set(labels)}, "histogram", "mtu-fill"),
        n_clipped=n_clipped,
        carried_bytes=carried,
        dropped=dropped,
        written=written,
        flows=flows,
        wall_s=wall,
        packets_per_s=n_packets / wall if wall > 0 else 0.0,
        trace_index=picked,
    )
    if n_clipped:
        log.warning("%d series values were outside what a capture can hold and were changed (negative counts "
                    "set to 0, packet sizes clipped into [header size, mtu])", n_clipped)
    if carried or dropped:
        log.warning("%d bytes were moved to a neighbouring bin and %d dropped: bins held less than one packet",
                    carried, dropped)
    log.debug(summary.describe())
    return summary


def write_flows_csv(summary: ExportSummary, path: str | os.PathLike[str]) -> Path:
    """Write one row per exported trace (id, label, transport, 5-tuple, packets, bytes), atomically."""
    path = Path(path)
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["id", "label", "transport", "client", "client_port", "server", "server_port", "packets",
                        "bytes"])
            for f in summary.flows:
                w.writerow([f.trace_id, f.label, f.transport, f.client, f.client_port, f.server, f.server_port,
                            f.n_packets, f.n_bytes])
    return path
