"""Capture readers: pcap, pcapng and gzip of either -> batches of decoded packet header fields.

Two layers, kept apart:

1. *Container*: :func:`iter_raw_batches` walks the records of a classic pcap (both byte orders,
   micro- and nanosecond timestamps) or a pcapng (sections of either byte order, several
   interfaces, ``if_tsresol``), plain or gzip-compressed, detected by magic bytes. It reads the file
   in chunks of ``chunk_bytes`` so memory stays bounded whatever the capture size.
2. *Headers*: :func:`decode_batch` turns a :class:`RawBatch` into a :class:`PacketBatch` of header
   fields, vectorised with numpy over all the packets of a batch (the fast path).
   :func:`decode_batch_dpkt` gives the same fields with dpkt's full per-packet decoding; it is the
   reference the tests compare against and the baseline of ``benchmarks/ingest_pcap.py``.

Link types: Ethernet (with up to two 802.1Q / 802.1ad / QinQ tags), raw IPv4/IPv6 (101, 12, 14,
228, 229), Linux cooked capture v1 (SLL, 113) and v2 (SLL2, 276), BSD loopback (NULL 0, LOOP 108).
Network layer: IPv4 and IPv6 (hop-by-hop, routing, destination-options and fragment extension
headers are skipped). Transport: TCP, UDP and SCTP give ports; ICMP / ICMPv6 and any other IP
protocol get ports 0.

Lengths
-------
``PacketBatch.length`` is the *IP total length* in bytes (IPv4 ``total length``; IPv6 40 +
``payload length``): the IP packet without any link-layer header, so a capture exported from the
series and read again gives the same numbers whatever its link type. For a frame that is not IP
(ARP, EAPOL, LLDP, ...) it is the length of the link-layer payload on the wire
(``orig_len`` minus the link header).

Errors
------
Unreadable input raises :class:`CaptureError` (an :class:`~netdiffus.errors.InputError`) whose
message names the file and the reason: empty file, unknown magic bytes, a truncated record, an
unsupported link type, an implausible record length. Recoverable oddities (a pcapng block of an
unknown type, which the pcapng specification says to skip) are passed to the ``on_warning``
callback and reading goes on; so is a capture cut short in its last record (a capture stopped
by a crash or a full disk): with a callback the records before the cut are read, as packet
analysers read them, and the callback gets the same message the error would have.

Examples
--------
>>> import io, struct
>>> hdr = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)        # raw IP link type
>>> ip = bytes([0x45, 0, 0, 28]) + bytes(5) + bytes([17]) + bytes(2) + bytes([10, 0, 0, 1, 10, 0, 0, 2])
>>> pkt = ip + struct.pack(">HHHH", 5353, 53, 8, 0)
>>> rec = struct.pack("<IIII", 1, 500000, len(pkt), len(pkt)) + pkt
>>> batches = list(iter_packet_batches(io.BytesIO(hdr + rec), name="mem.pcap"))
>>> b = batches[0]
>>> int(b.ts_ns[0]), int(b.length[0]), int(b.proto[0]), int(b.sport[0]), int(b.dport[0])
(1500000000, 28, 17, 5353, 53)
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal, Protocol, get_args

import numpy as np

from netdiffus.errors import InputError

__all__ = [
    "CaptureError",
    "RawBatch",
    "PacketBatch",
    "iter_raw_batches",
    "iter_packet_batches",
    "decode_batch",
    "decode_batch_dpkt",
    "Decoder",
    "DECODERS",
    "capture_kind",
    "SUPPORTED_LINKTYPES",
]

#: Header decoding: the vectorised fast path or dpkt (the reference).
Decoder = Literal["fast", "dpkt"]
DECODERS: tuple[Decoder, ...] = get_args(Decoder)
WarningCallback = Callable[[str], None]


log = logging.getLogger(__name__)


class CaptureError(InputError):
    """A capture file cannot be read: the message names the file and the reason."""


# -- link types ---------------------------------------------------------------------------------
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_RAW_BSD12 = 12
LINKTYPE_RAW_BSD14 = 14
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276

SUPPORTED_LINKTYPES = {
    LINKTYPE_NULL: "BSD loopback (NULL)",
    LINKTYPE_ETHERNET: "Ethernet",
    LINKTYPE_RAW: "raw IP",
    LINKTYPE_RAW_BSD12: "raw IP (DLT 12)",
    LINKTYPE_RAW_BSD14: "raw IP (DLT 14)",
    LINKTYPE_LOOP: "OpenBSD loopback (LOOP)",
    LINKTYPE_LINUX_SLL: "Linux cooked capture (SLL)",
    LINKTYPE_IPV4: "raw IPv4",
    LINKTYPE_IPV6: "raw IPv6",
    LINKTYPE_LINUX_SLL2: "Linux cooked capture v2 (SLL2)",
}

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
PROTO_TCP, PROTO_UDP, PROTO_SCTP, PROTO_ICMP, PROTO_ICMPV6 = 6, 17, 132, 1, 58
IPV6_EXT = (0, 43, 60)  # hop-by-hop, routing, destination options
IPV6_FRAG = 44
V4_MAPPED = np.uint64(0xFFFF00000000)

# A record longer than this is taken as corruption, not a packet (jumbo frames and TSO fit): it is
# skipped (and counted), and so is an original length beyond it.
MAX_RECORD = 1 << 18
#: A record stamped more than this away from both its neighbours, which agree with each other, is
#: taken as a bad timestamp (nanoseconds; one day).
MAX_TIME_JUMP_NS = 86_400 * 10**9
#: Refuse gzip data that expands more than this many times (a compression bomb, or not a capture);
#: captures, even exported ones with zero-filled payloads, stay far below.
DEFAULT_MAX_GZIP_RATIO = 200
#: Output of a gzip stream below which the ratio is not judged (bytes).
_GZIP_RATIO_FLOOR = 64 * 2**20
# pcapng blocks other than packets (name resolution, custom) may be larger.
MAX_BLOCK = 1 << 24
# Header bytes kept per packet for decoding: link (<= 22) + IPv4 with options (<= 60) or IPv6 with
# two extension headers + 4 bytes of ports.
HEAD = 128

PCAP_MAGIC = {
    b"\xd4\xc3\xb2\xa1": ("<", 1_000),  # little-endian, microseconds
    b"\xa1\xb2\xc3\xd4": (">", 1_000),
    b"\x4d\x3c\xb2\xa1": ("<", 1),  # little-endian, nanoseconds
    b"\xa1\xb2\x3c\x4d": (">", 1),
}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
GZIP_MAGIC = b"\x1f\x8b"

PCAPNG_KNOWN_IGNORED = {4, 5, 7, 9, 10, 0x0BAD, 0x40000BAD, 0x80000001}  # NRB, ISB, ..., custom
PCAPNG_IDB, PCAPNG_PB, PCAPNG_SPB, PCAPNG_EPB, PCAPNG_SHB = 1, 2, 3, 6, 0x0A0D0D0A


#: The SYN option fields of a :class:`PacketBatch` and their types (small: every packet has them).
SYN_OPTION_DTYPES = {"tcp_mss": np.int32, "tcp_wscale": np.int16, "tcp_sack_ok": np.int8, "tcp_timestamps": np.int8}
#: TCP option kinds read from SYNs, and their lengths.
OPT_EOL, OPT_NOP, OPT_MSS, OPT_WSCALE, OPT_SACK_OK, OPT_TIMESTAMPS = 0, 1, 2, 3, 4, 8
_OPTION_LENGTH = {OPT_MSS: 4, OPT_WSCALE: 3, OPT_SACK_OK: 2, OPT_TIMESTAMPS: 10}
_UNSET = np.zeros(0, np.int64)  # a SYN option field not given: filled with -1


# -- data -----------------------------------------------------------------------------------------
@dataclass
class ReadStats:
    """What reading one capture met besides its packets, filled in as it reads.

    Attributes
    ----------
    records : int
        Records read (packets, before any was skipped).
    retimed : int
        Records whose timestamp was implausible (zero, or a day or more away from both neighbours
        while they agree): timed as the record before them (the first: as the one after it).
    length_fixed : int
        Records whose original (wire) length was implausible (over :data:`MAX_RECORD`, or below
        the captured length): counted at their captured length.
    oversized : int
        Records skipped: captured length over :data:`MAX_RECORD`.
    bad_blocks : int
        pcapng blocks skipped: too short for their type, or a packet longer than its block.
    undecoded : int
        Packets the dpkt decoder could not decode (IP in IP nested too deeply): their outer
        headers were decoded as the fast decoder does.
    cut_short : bool
        The capture (or its gzip stream) ends inside a record: the records before it were read.
    """

    records: int = 0
    retimed: int = 0
    length_fixed: int = 0
    oversized: int = 0
    bad_blocks: int = 0
    undecoded: int = 0
    cut_short: bool = False

    def add(self, other: ReadStats) -> None:
        """Add the counts of ``other`` (another capture's) to these."""
        for k in ("records", "retimed", "length_fixed", "oversized", "bad_blocks", "undecoded"):
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.cut_short = self.cut_short or other.cut_short

    def messages(self, name: str) -> list[str]:
        """One warning per kind of problem met, naming ``name`` and the count."""
        out = []
        if self.retimed:
            out.append(f"{name}: {self.retimed} record(s) with an implausible timestamp (0, or a day or more "
                       "from both neighbours): timed as their neighbour")
        if self.length_fixed:
            out.append(f"{name}: {self.length_fixed} record(s) with an implausible original length (over "
                       f"{MAX_RECORD} bytes, or below the bytes captured): counted at their captured length")
        if self.oversized:
            out.append(f"{name}: skipped {self.oversized} record(s) of more than {MAX_RECORD} bytes")
        if self.bad_blocks:
            out.append(f"{name}: skipped {self.bad_blocks} corrupt pcapng block(s) (too short for their type)")
        if self.undecoded:
            out.append(f"{name}: {self.undecoded} packet(s) nested too deeply for dpkt (IP in IP): their outer "
                       "headers decoded as the fast decoder does")
        return out


@dataclass
class RawBatch:
    """Records of one chunk of a capture, before header decoding.

    Attributes
    ----------
    data : ndarray of uint8
        The chunk's bytes; packet ``i`` is ``data[offset[i] : offset[i] + caplen[i]]``.
    offset, caplen, wirelen : ndarray of int64, shape [n]
        Start of each packet in ``data``, bytes captured, bytes on the wire.
    ts_ns : ndarray of int64, shape [n]
        Timestamps in nanoseconds since the epoch.
    linktype : ndarray of int32, shape [n]
    """

    data: np.ndarray
    offset: np.ndarray
    caplen: np.ndarray
    wirelen: np.ndarray
    ts_ns: np.ndarray
    linktype: np.ndarray

    def __len__(self) -> int:
        return int(self.offset.shape[0])

    def packet(self, i: int) -> bytes:
        o = int(self.offset[i])
        return self.data[o : o + int(self.caplen[i])].tobytes()


@dataclass
class PacketBatch:
    """Decoded header fields of ``n`` packets (numpy arrays of shape [n]).

    Attributes
    ----------
    ts_ns : int64
        Timestamp, nanoseconds since the epoch.
    length : int64
        IP total length in bytes (link-layer payload length for non-IP frames).
    is_ip : bool
        True for IPv4 and IPv6 packets.
    proto : int64
        IP protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, ...); -1 for non-IP frames.
    src_hi, src_lo, dst_hi, dst_lo : uint64
        Addresses as two 64-bit halves of an IPv6 address; IPv4 is IPv4-mapped
        (``::ffff:a.b.c.d``). 0 for non-IP frames.
    sport, dport : int64
        Transport ports (TCP, UDP, SCTP; 0 otherwise and for non-first fragments).
    src_mac, dst_mac : int64
        48-bit MAC addresses as integers; -1 where the link type has none (raw IP, loopback; SLL
        carries only the source).
    ttl : int64
        IPv4 time to live or IPv6 hop limit; -1 for non-IP frames.
    tcp_flags, tcp_window : int64
        TCP flags (the low 8 bits: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20,
        ECE 0x40, CWR 0x80) and receive window (unscaled); -1 where there is no TCP header (not
        TCP, a later fragment, or fewer than 20 bytes of it captured).
    payload : int64
        Transport payload bytes on the wire: the IP total length less the IP header (with IPv6
        extension headers) and the TCP header (its data offset) or UDP header (8 bytes); the IP
        payload for other protocols; 0 for non-IP frames.
    tcp_mss, tcp_wscale, tcp_sack_ok, tcp_timestamps : int32, int16, int8, int8
        The options of a SYN (a TCP packet with SYN set, SYN-ACKs too; :func:`syn_options` reads
        them): the MSS value (kind 2) and window-scale shift (kind 3), -1 where absent; whether
        SACK-permitted (kind 4) and timestamps (kind 8) are there, 0 or 1. -1 for every other
        packet. Options are read up to the first end-of-list or truncated option, within the
        bytes captured (and the first 128 bytes of the frame). Left out when a batch is built,
        they are -1.
    """

    ts_ns: np.ndarray
    length: np.ndarray
    is_ip: np.ndarray
    proto: np.ndarray
    src_hi: np.ndarray
    src_lo: np.ndarray
    dst_hi: np.ndarray
    dst_lo: np.ndarray
    sport: np.ndarray
    dport: np.ndarray
    src_mac: np.ndarray
    dst_mac: np.ndarray
    ttl: np.ndarray
    tcp_flags: np.ndarray
    tcp_window: np.ndarray
    payload: np.ndarray
    tcp_mss: np.ndarray = field(default_factory=lambda: _UNSET)
    tcp_wscale: np.ndarray = field(default_factory=lambda: _UNSET)
    tcp_sack_ok: np.ndarray = field(default_factory=lambda: _UNSET)
    tcp_timestamps: np.ndarray = field(default_factory=lambda: _UNSET)

    def __post_init__(self) -> None:
        for name, dtype in SYN_OPTION_DTYPES.items():
            if getattr(self, name) is _UNSET:
                setattr(self, name, np.full(len(self), -1, dtype))

    def __len__(self) -> int:
        return int(self.ts_ns.shape[0])

    @classmethod
    def empty(cls) -> PacketBatch:
        i = np.zeros(0, np.int64)
        u = np.zeros(0, np.uint64)
        return cls(i, i, np.zeros(0, bool), i, u, u, u, u, i, i, i, i, i, i, i, i)

    def take(self, index: np.ndarray) -> PacketBatch:
        return PacketBatch(**{k: v[index] for k, v in self.__dict__.items()})


# -- container ----------------------------------------------------------------------------------
def capture_kind(head: bytes) -> Literal["pcap", "pcapng", "gzip"] | None:
    """The container kind from the first bytes of a file (None if it is not a capture)."""
    if head[:2] == GZIP_MAGIC:
        return "gzip"
    if head[:4] == PCAPNG_MAGIC:
        return "pcapng"
    if head[:4] in PCAP_MAGIC:
        return "pcap"
    return None


class _Readable(Protocol):
    def read(self, n: int, /) -> bytes: ...


def _open(source: str | os.PathLike[str] | BinaryIO, name: str, *, max_gzip_ratio: float | None,
          stats: ReadStats) -> tuple[_Readable, BinaryIO | None]:
    """Open ``source`` (decompressing gzip): (stream to read, file to close or None)."""
    if isinstance(source, (str, os.PathLike)):
        try:
            fh: BinaryIO = open(source, "rb")
        except OSError as exc:
            raise CaptureError(f"{name}: cannot open ({exc.strerror})") from None
        owned: BinaryIO | None = fh
    else:
        fh, owned = source, None
    if _peek(fh, 2) == GZIP_MAGIC:
        return _Gunzip(fh, name, max_ratio=max_gzip_ratio, stats=stats), owned
    return fh, owned


class _Gunzip:
    """The decompressed bytes of a gzip stream (every member), read chunk by chunk.

    A stream cut short ends after the bytes before the cut (``cut`` is then true), as a plain
    capture cut short does; one that expands more than ``max_ratio`` times is refused early.
    """

    def __init__(self, fh: BinaryIO, name: str, *, max_ratio: float | None, stats: ReadStats) -> None:
        self.fh, self.name, self.max_ratio, self.stats = fh, name, max_ratio, stats
        self.z = zlib.decompressobj(wbits=31)
        self.tail = b""  # compressed bytes read, not yet decompressed
        self.n_in = self.n_out = 0
        self.done = self.cut = False
        self.between = False  # at the end of a member (the stream may end here)

    def read(self, n: int) -> bytes:
        parts: list[bytes] = []
        have = 0
        while have < n and not self.done:
            if not self.tail:
                self.tail = self.fh.read(1 << 16)
                self.n_in += len(self.tail)
                if not self.tail:  # the input ends: inside a member, the stream is cut short
                    self.cut = not self.between
                    self.done = True
                    break
            self.between = False
            try:
                out = self.z.decompress(self.tail, n - have)
            except zlib.error as exc:
                raise CaptureError(f"{self.name}: corrupt compressed data ({exc})") from None
            self.tail = self.z.unconsumed_tail
            if self.z.eof:  # end of a member: another may follow
                rest = self.z.unused_data + self.tail
                self.z = zlib.decompressobj(wbits=31)
                self.between = True
                if rest and not rest.startswith(GZIP_MAGIC):
                    self.done = True  # trailing bytes that are not gzip (padding): the data is complete
                self.tail = rest
            parts.append(out)
            have += len(out)
            self._check_ratio(len(out))
        return b"".join(parts)

    def _check_ratio(self, produced: int) -> None:
        self.n_out += produced
        if self.max_ratio and self.n_out > max(_GZIP_RATIO_FLOOR, self.max_ratio * self.n_in):
            raise CaptureError(
                f"{self.name}: gzip data expands more than {self.max_ratio:g} times ({self.n_in:,} bytes to over "
                f"{self.n_out:,} so far): a compression bomb, or not a capture (--max-gzip-ratio 0 lifts the "
                "limit)")


def _peek(fh: BinaryIO, n: int) -> bytes:
    if hasattr(fh, "peek"):
        try:
            return fh.peek(n)[:n]
        except (OSError, ValueError):
            pass
    pos = fh.tell()
    head = fh.read(n)
    fh.seek(pos)
    return head


class _Chunks:
    """Reads a stream in chunks, keeping the unread tail of the previous chunk."""

    def __init__(self, fh: _Readable, name: str, chunk_bytes: int) -> None:
        self.fh, self.name, self.chunk_bytes = fh, name, chunk_bytes
        self.buf = b""
        self.pos = 0  # bytes consumed before self.buf
        self.eof = False

    def fill(self, need: int = 0) -> None:
        """Read one more chunk (or until ``need`` bytes are buffered)."""
        want = max(self.chunk_bytes, need - len(self.buf))
        try:
            more = self.fh.read(want)
        except OSError as exc:
            raise CaptureError(f"{self.name}: cannot read ({exc.strerror or exc})") from None
        if not more:
            self.eof = True
        self.buf = self.buf + more if self.buf else more

    def consume(self, n: int) -> None:
        self.buf = self.buf[n:]
        self.pos += n

    def skip(self, n: int) -> int:
        """Pass over the next ``n`` bytes without keeping them; return how many there were."""
        done = min(n, len(self.buf))
        self.consume(done)
        while done < n and not self.eof:
            try:
                more = self.fh.read(min(n - done, self.chunk_bytes))
            except OSError as exc:
                raise CaptureError(f"{self.name}: cannot read ({exc.strerror or exc})") from None
            if not more:
                self.eof = True
            done += len(more)
            self.pos += len(more)
        return done


def iter_raw_batches(
    source: str | os.PathLike[str] | BinaryIO,
    *,
    name: str | None = None,
    chunk_bytes: int = 1 << 21,
    on_warning: WarningCallback | None = None,
    stats: ReadStats | None = None,
    max_gzip_ratio: float | None = DEFAULT_MAX_GZIP_RATIO,
) -> Iterator[RawBatch]:
    """Yield the records of a pcap / pcapng capture (plain or gzip) chunk by chunk.

    Parameters
    ----------
    source : path or binary file
    name : str, optional
        Name used in messages (default: the path).
    chunk_bytes : int
        Bytes read at a time; bounds memory (about 3x this per batch after decoding).
    on_warning : callable(message), optional
        Receives recoverable problems, each kind once per capture with its count (see
        :class:`ReadStats`: implausible timestamps and lengths, oversized records, corrupt pcapng
        blocks; unknown pcapng block types; a capture or gzip stream cut short, after the records
        before the cut). Without it they are logged, except a cut record, which raises.
    stats : ReadStats, optional
        Filled in with the counts (records read, records retimed, ...).
    max_gzip_ratio : float or None
        Refuse gzip data that expands more than this many times (a compression bomb); None or 0:
        no limit.

    Raises
    ------
    CaptureError
        Empty file, not a capture, truncated record (without ``on_warning``), unsupported link
        type, corrupt data, gzip data that expands too much.
    """
    name = name or (str(source) if isinstance(source, (str, os.PathLike)) else "<stream>")
    stats = ReadStats() if stats is None else stats
    fh, owned = _open(source, name, max_gzip_ratio=max_gzip_ratio, stats=stats)
    try:
        chunks = _Chunks(fh, name, chunk_bytes)
        chunks.fill(24)
        head = chunks.buf[:4]
        if not chunks.buf:
            raise CaptureError(f"{name}: file is empty")
        if head in PCAP_MAGIC:
            batches = _pcap_batches(chunks, name, on_warning, stats)
        elif head == PCAPNG_MAGIC:
            batches = _pcapng_batches(chunks, name, on_warning, stats)
        else:
            raise CaptureError(f"{name}: not a pcap or pcapng capture (first bytes {chunks.buf[:4].hex()})")
        yield from _checked_records(batches, stats)
        if isinstance(fh, _Gunzip) and fh.cut and not stats.cut_short:
            _cut_short(CaptureError(f"{name}: truncated capture: the gzip stream ends early (cut short)"),
                       on_warning, stats)
        for msg in stats.messages(name):
            if on_warning is None:
                log.warning("%s", msg)
            else:
                on_warning(msg)
    finally:
        if owned is not None:
            owned.close()


def _checked_records(batches: Iterator[RawBatch], stats: ReadStats) -> Iterator[RawBatch]:
    """The batches with implausible timestamps and original lengths mended (and counted).

    Each batch is held back until the next one is read: a record is judged against its
    neighbours, and the last record of a batch has its successor in the next batch.
    """
    held: RawBatch | None = None
    before = np.zeros(0, np.int64)  # the last timestamps already passed on
    for raw in batches:
        stats.records += len(raw)
        bad = (raw.wirelen > MAX_RECORD) | (raw.wirelen < raw.caplen)
        if bad.any():
            stats.length_fixed += int(bad.sum())
            raw.wirelen = np.where(bad, raw.caplen, raw.wirelen)
        if held is not None:
            stats.retimed += _retime(held.ts_ns, before, raw.ts_ns[:2])
            before = np.concatenate([before, held.ts_ns])[-2:]
            yield held
        held = raw
    if held is not None:
        stats.retimed += _retime(held.ts_ns, before, None)
        yield held


def _retime(ts: np.ndarray, before: np.ndarray, after: np.ndarray | None) -> int:
    """Mend the lone implausible timestamps of ``ts`` in place; return how many.

    A record more than :data:`MAX_TIME_JUMP_NS` away from both its neighbours, which are within
    that of each other, takes its predecessor's time; the first record of a capture (``before``
    empty) one that far from its successor, when the successor agrees with the next, takes the
    successor's; the last (``after`` None) likewise its predecessor's. A capture whose clock
    jumps once and stays (a clock set while capturing) is left as it is.
    """
    t = np.concatenate([before, ts, after if after is not None else np.zeros(0, np.int64)])
    n = len(t)
    if n < 3:
        return 0
    big = np.abs(np.diff(t)) > MAX_TIME_JUMP_NS  # [n - 1]: between i and i + 1
    bad = np.zeros(n, bool)
    bad[1:-1] = big[:-1] & big[1:] & (np.abs(t[2:] - t[:-2]) <= MAX_TIME_JUMP_NS)
    if len(before) == 0:
        bad[0] = big[0] and not big[1]
    if after is None:
        bad[-1] = big[-1] and not big[-2]
    k = len(before)
    mine = np.flatnonzero(bad[k : k + len(ts)])
    for i in mine.tolist():  # lone records: few
        j = k + i
        ts[i] = t[j - 1] if j > 0 else t[j + 1]
    return len(mine)


def _check_linktype(linktype: int, name: str) -> None:
    if linktype not in SUPPORTED_LINKTYPES:
        raise CaptureError(
            f"{name}: unsupported link type {linktype} (supported: "
            + ", ".join(f"{k} {v}" for k, v in sorted(SUPPORTED_LINKTYPES.items()))
            + ")"
        )


def _truncated(name: str, at: int, need: int, have: int) -> CaptureError:
    return CaptureError(f"{name}: truncated capture: record at byte {at} needs {need} bytes, only {have} left")


def _cut_short(exc: CaptureError, on_warning: WarningCallback | None, stats: ReadStats) -> None:
    """A capture whose last record is cut: an error, or a warning once the records before it are read."""
    stats.cut_short = True
    if on_warning is None:
        raise exc
    on_warning(str(exc))


def _pcap_batches(chunks: _Chunks, name: str, on_warning: WarningCallback | None,
                  stats: ReadStats) -> Iterator[RawBatch]:
    buf = chunks.buf
    if len(buf) < 24:
        raise CaptureError(f"{name}: truncated capture: pcap file header has {len(buf)} of 24 bytes")
    endian, tick_ns = PCAP_MAGIC[buf[:4]]
    linktype = struct.unpack_from(endian + "I", buf, 20)[0] & 0x0FFFFFFF
    _check_linktype(linktype, name)
    chunks.consume(24)
    incl_at = struct.Struct(endian + "I").unpack_from
    while True:
        if len(chunks.buf) < 16 and not chunks.eof:
            chunks.fill()
        buf = chunks.buf
        n = len(buf)
        offs: list[int] = []
        append = offs.append
        off = skip = 0
        # The only per-record Python work: hop from record to record.
        while off + 16 <= n:
            incl = incl_at(buf, off + 8)[0]
            if incl > MAX_RECORD:  # not a packet: passed over, with the records around it kept
                skip = 16 + incl
                break
            end = off + 16 + incl
            if end > n:
                break
            append(off)
            off = end
        if offs:
            yield _pcap_records(buf, offs, off, endian, tick_ns, linktype)
            chunks.consume(off)
        if skip:
            stats.oversized += 1
            at = chunks.pos
            got = chunks.skip(skip)
            if got < skip:
                _cut_short(_truncated(name, at, skip, got), on_warning, stats)
                return
            continue
        if offs:
            continue
        if chunks.eof:
            if chunks.buf:
                rest = len(chunks.buf)
                need = 16 + incl_at(chunks.buf, 8)[0] if rest >= 16 else 16
                _cut_short(_truncated(name, chunks.pos, need, rest), on_warning, stats)
            return
        chunks.fill(16 + (incl_at(chunks.buf, 8)[0] if len(chunks.buf) >= 16 else 0))


def _pcap_records(buf: bytes, offs: list[int], end: int, endian: str, tick_ns: int, linktype: int) -> RawBatch:
    """The records of a classic pcap starting at ``offs`` in ``buf`` (``end``: past the last)."""
    data = np.frombuffer(buf, dtype=np.uint8, count=end)
    o = np.asarray(offs, dtype=np.int64)
    idx = o[:, None] + np.arange(0, 16, 4)[None, :]
    words = data[idx[..., None] + np.arange(4)].astype(np.uint32)  # [n, 4 fields, 4 bytes]
    if endian == "<":
        vals = words[..., 0] | (words[..., 1] << 8) | (words[..., 2] << 16) | (words[..., 3] << 24)
    else:
        vals = words[..., 3] | (words[..., 2] << 8) | (words[..., 1] << 16) | (words[..., 0] << 24)
    vals = vals.astype(np.int64)
    return RawBatch(data=data, offset=o + 16, caplen=vals[:, 2], wirelen=vals[:, 3],
                    ts_ns=vals[:, 0] * 1_000_000_000 + vals[:, 1] * tick_ns,
                    linktype=np.full(len(offs), linktype, dtype=np.int32))


def _tsresol_ns(options: bytes, endian: str) -> tuple[int, int]:
    """(multiplier, divisor) turning pcapng timestamp ticks into nanoseconds."""
    off = 0
    while off + 4 <= len(options):
        code, length = struct.unpack_from(endian + "HH", options, off)
        if code == 0:
            break
        if code == 9 and length >= 1:
            v = options[off + 4]
            if v & 0x80:
                return 1_000_000_000, 1 << (v & 0x7F)
            e = v
            return (10 ** (9 - e), 1) if e <= 9 else (1, 10 ** (e - 9))
        off += 4 + ((length + 3) & ~3)
    return 1_000, 1  # default: microseconds


@dataclass
class _PcapngState:
    """What reading a pcapng carries from block to block (and chunk to chunk)."""

    endian: str = "<"
    ifaces: list[tuple[int, int, int]] = field(default_factory=list)  # (linktype, mul, div)
    warned: set[int] = field(default_factory=set)  # unknown block types already warned about
    first: bool = True  # no block read yet: the first must be a section header
    last_ts: int = 0  # time of the last packet (a simple packet block carries none)


#: The smallest length of each block type that has fixed fields (a shorter one is skipped).
_MIN_BLOCK = {PCAPNG_SHB: 28, PCAPNG_IDB: 20, PCAPNG_EPB: 32, PCAPNG_PB: 32, PCAPNG_SPB: 16}


def _pcapng_batches(chunks: _Chunks, name: str, on_warning: WarningCallback | None,
                    stats: ReadStats) -> Iterator[RawBatch]:
    state = _PcapngState()
    while True:
        if len(chunks.buf) < 12 and not chunks.eof:
            chunks.fill()
        buf = chunks.buf
        packets = _Packets()
        off = _pcapng_blocks(buf, state, name, chunks.pos, on_warning, stats, packets)
        if packets.offs:
            yield RawBatch(
                data=np.frombuffer(buf, dtype=np.uint8, count=off),
                offset=np.asarray(packets.offs, np.int64),
                caplen=np.asarray(packets.caps, np.int64),
                wirelen=np.asarray(packets.wires, np.int64),
                ts_ns=np.asarray(packets.tss, np.int64),
                linktype=np.asarray(packets.lts, np.int32),
            )
        chunks.consume(off)
        if off:
            continue
        if chunks.eof:
            if chunks.buf:
                rest = len(chunks.buf)
                need = struct.unpack_from(state.endian + "I", chunks.buf, 4)[0] if rest >= 8 else 12
                _cut_short(_truncated(name, chunks.pos, need, rest), on_warning, stats)
            return
        need = struct.unpack_from(state.endian + "I", chunks.buf, 4)[0] if len(chunks.buf) >= 8 else 12
        chunks.fill(need)


@dataclass
class _Packets:
    """The packets of a chunk of blocks: offset in the chunk, captured and wire length, time (ns), link type."""

    offs: list[int] = field(default_factory=list)
    caps: list[int] = field(default_factory=list)
    wires: list[int] = field(default_factory=list)
    tss: list[int] = field(default_factory=list)
    lts: list[int] = field(default_factory=list)

    def append(self, off: int, cap: int, wire: int, ts: int, lt: int) -> None:
        self.offs.append(off)
        self.caps.append(cap)
        self.wires.append(wire)
        self.tss.append(ts)
        self.lts.append(lt)


def _pcapng_blocks(buf: bytes, state: _PcapngState, name: str, pos: int, on_warning: WarningCallback | None,
                   stats: ReadStats, packets: _Packets) -> int:
    """Read the whole blocks at the start of ``buf`` (``pos``: its offset in the file) into
    ``packets``; return the bytes read. The per-packet work stays in this loop: one call per chunk."""
    n = len(buf)
    off = 0
    while off + 12 <= n:
        btype = struct.unpack_from(state.endian + "I", buf, off)[0]
        if btype == PCAPNG_SHB:  # section header: the byte-order magic decides the endianness
            state.endian = _section_byte_order(buf, off, name, pos)
            state.ifaces = []
        elif state.first:
            raise CaptureError(f"{name}: corrupt pcapng: first block is not a section header")
        state.first = False
        blen = struct.unpack_from(state.endian + "I", buf, off + 4)[0]
        if blen < 12 or blen % 4 or blen > MAX_BLOCK:
            raise CaptureError(f"{name}: corrupt pcapng block at byte {pos + off}: length {blen}")
        if off + blen > n:
            break
        if blen < _MIN_BLOCK.get(btype, 12):
            if btype == PCAPNG_SHB:
                raise CaptureError(f"{name}: corrupt pcapng section header at byte {pos + off}: length {blen}")
            stats.bad_blocks += 1
        else:
            _pcapng_block(buf, off, btype, blen, state, (name, pos + off), on_warning, stats, packets)
        off += blen
    return off


def _pcapng_block(buf: bytes, off: int, btype: int, blen: int, state: _PcapngState, where: tuple[str, int],
                  on_warning: WarningCallback | None, stats: ReadStats, packets: _Packets) -> None:
    """Read one whole block (long enough for its type): a packet goes to ``packets``. ``where``:
    the capture's name and the block's offset in it."""
    e = state.endian
    name, at = where
    if btype == PCAPNG_EPB or btype == PCAPNG_PB:
        if btype == PCAPNG_EPB:
            iface, tsh, tsl, cap, wire = struct.unpack_from(e + "IIIII", buf, off + 8)
        else:
            iface, _drops, tsh, tsl, cap, wire = struct.unpack_from(e + "HHIIII", buf, off + 8)
        if iface >= len(state.ifaces):
            raise CaptureError(f"{name}: corrupt pcapng: packet at byte {at} names interface {iface} but "
                               f"{len(state.ifaces)} are declared")
        if 28 + cap > blen:
            stats.bad_blocks += 1
            return
        if cap > MAX_RECORD:
            stats.oversized += 1
            return
        lt, mul, div = state.ifaces[iface]
        ts_ns = ((tsh << 32) | tsl) * mul // div
        if ts_ns >= 1 << 63:  # beyond the year 2262: timed as the packet before it
            stats.retimed += 1
            ts_ns = state.last_ts
        packets.append(off + 28, cap, wire, ts_ns, lt)
        state.last_ts = ts_ns
    elif btype == PCAPNG_SPB:
        if not state.ifaces:
            raise CaptureError(f"{name}: corrupt pcapng: simple packet before any interface (byte {at})")
        wire = struct.unpack_from(e + "I", buf, off + 8)[0]
        cap = min(wire, blen - 16)
        if cap > MAX_RECORD:
            stats.oversized += 1
            return
        packets.append(off + 12, cap, wire, state.last_ts, state.ifaces[0][0])  # no timestamp: the last one
    elif btype == PCAPNG_IDB:
        lt = struct.unpack_from(e + "H", buf, off + 8)[0]
        _check_linktype(lt, name)
        state.ifaces.append((lt, *_tsresol_ns(buf[off + 16 : off + blen - 4], e)))
    elif btype != PCAPNG_SHB and btype not in PCAPNG_KNOWN_IGNORED:
        if btype not in state.warned and on_warning is not None:
            on_warning(f"{name}: skipped pcapng block(s) of unknown type 0x{btype:08x}")
        state.warned.add(btype)


def _section_byte_order(buf: bytes, off: int, name: str, pos: int) -> str:
    """The byte order (``<`` or ``>``) of the pcapng section whose header starts at ``off``."""
    bom = buf[off + 8 : off + 12]
    if bom == b"\x4d\x3c\x2b\x1a":
        return "<"
    if bom == b"\x1a\x2b\x3c\x4d":
        return ">"
    raise CaptureError(f"{name}: corrupt pcapng section header at byte {pos + off}")


# -- header decoding: vectorised fast path ------------------------------------------------------
def _heads(raw: RawBatch) -> np.ndarray:
    """The first HEAD bytes of every packet, zero beyond its captured length: [n, HEAD] uint8.

    Copied out of a sliding window over the chunk (no index array of ``n * HEAD`` int64, which
    for a chunk of small packets would be 15 times the chunk)."""
    data = np.concatenate([raw.data, np.zeros(HEAD, np.uint8)])
    h = np.lib.stride_tricks.sliding_window_view(data, HEAD)[raw.offset]
    h[np.arange(HEAD)[None, :] >= raw.caplen[:, None]] = 0
    return h


class _Heads:
    """Reads at per-packet offsets into the first HEAD bytes of every packet of a batch.

    An offset past HEAD reads the last kept byte (as zero padding would): callers mask those packets.
    """

    __slots__ = ("h", "flat", "base", "n")

    def __init__(self, raw: RawBatch) -> None:
        self.h = _heads(raw)
        self.flat = self.h.reshape(-1)
        self.n = len(raw)
        self.base = np.arange(self.n) * HEAD  # row starts in ``flat`` (a 1-D take is cheaper than a 2-D index)

    def u8(self, off: np.ndarray | int) -> np.ndarray:
        return self.flat.take(self.base + np.minimum(off, HEAD - 1)).astype(np.int64)

    def be16(self, off: np.ndarray | int) -> np.ndarray:
        return (self.u8(off) << 8) | self.u8(np.asarray(off) + 1)

    def be_n(self, off: np.ndarray | int, k: int) -> np.ndarray:
        out = np.zeros(self.n, np.uint64)
        for j in range(k):
            out = (out << np.uint64(8)) | self.u8(np.asarray(off) + j).astype(np.uint64)
        return out


@dataclass
class _Link:
    """Link-layer fields of a batch: where the network header starts, its ethertype, the MACs."""

    l3: np.ndarray
    ethertype: np.ndarray
    src_mac: np.ndarray
    dst_mac: np.ndarray


@dataclass
class _Network:
    """Network-layer fields of a batch (see :class:`PacketBatch`) and where the transport header starts."""

    length: np.ndarray
    proto: np.ndarray
    src_hi: np.ndarray
    src_lo: np.ndarray
    dst_hi: np.ndarray
    dst_lo: np.ndarray
    l4: np.ndarray
    first_frag: np.ndarray


def decode_batch(raw: RawBatch) -> PacketBatch:
    """Decode header fields of every packet of ``raw`` with numpy (no per-packet Python)."""
    n = len(raw)
    if n == 0:
        return PacketBatch.empty()
    r = _Heads(raw)
    link = _link_layer(r, raw.linktype)
    ver = r.u8(link.l3) >> 4
    v4 = (link.ethertype == ETH_IPV4) & (ver == 4)
    v6 = (link.ethertype == ETH_IPV6) & (ver == 6)
    is_ip = v4 | v6
    net = _Network(length=np.maximum(raw.wirelen - link.l3, 0), proto=np.full(n, -1, np.int64),
                   src_hi=np.zeros(n, np.uint64), src_lo=np.zeros(n, np.uint64), dst_hi=np.zeros(n, np.uint64),
                   dst_lo=np.zeros(n, np.uint64), l4=np.zeros(n, np.int64), first_frag=np.ones(n, bool))
    if v4.any():
        _ipv4(r, link.l3, v4, net)
    if v6.any():
        _ipv6(r, link.l3, v6, net)
    ported = (is_ip & net.first_frag & np.isin(net.proto, (PROTO_TCP, PROTO_UDP, PROTO_SCTP))
              & (net.l4 + 4 <= raw.caplen))
    tcp = is_ip & net.first_frag & (net.proto == PROTO_TCP) & (net.l4 + 20 <= np.minimum(raw.caplen, HEAD))
    offset_flags = r.be16(net.l4 + 12)  # TCP data offset (4 bits), reserved bits, flags
    l4_header = np.where(tcp, (offset_flags >> 12) * 4,
                         np.where(is_ip & net.first_frag & (net.proto == PROTO_UDP), 8, 0))
    syn = np.flatnonzero(tcp & ((offset_flags & 0x02) != 0))  # options are read of SYNs only (few)
    options = _syn_options(r, syn, start=net.l4[syn] + 20,
                           end=np.minimum(net.l4[syn] + l4_header[syn], np.minimum(raw.caplen[syn], HEAD)))
    return PacketBatch(
        ts_ns=raw.ts_ns.astype(np.int64, copy=False),
        length=net.length,
        is_ip=is_ip,
        proto=net.proto,
        src_hi=net.src_hi,
        src_lo=net.src_lo,
        dst_hi=net.dst_hi,
        dst_lo=net.dst_lo,
        sport=np.where(ported, r.be16(net.l4), 0),
        dport=np.where(ported, r.be16(net.l4 + 2), 0),
        src_mac=link.src_mac,
        dst_mac=link.dst_mac,
        ttl=np.where(is_ip, r.u8(link.l3 + np.where(v6, 7, 8)), -1),
        tcp_flags=np.where(tcp, offset_flags & 0xFF, -1),
        tcp_window=np.where(tcp, r.be16(net.l4 + 14), -1),
        payload=np.where(is_ip, np.maximum(net.length - (net.l4 - link.l3) - l4_header, 0), 0),
        **options,
    )


def _syn_options(r: _Heads, rows: np.ndarray, *, start: np.ndarray, end: np.ndarray) -> dict[str, np.ndarray]:
    """The SYN option fields of :class:`PacketBatch` for every packet of ``r``, read for ``rows``
    (their TCP options in bytes ``[start, end)``), one vectorised step per option (at most 40)."""
    out = {k: np.full(r.n, -1, t) for k, t in SYN_OPTION_DTYPES.items()}
    if not len(rows):
        return out
    found = {"tcp_mss": np.full(len(rows), -1, np.int64), "tcp_wscale": np.full(len(rows), -1, np.int64),
             "tcp_sack_ok": np.zeros(len(rows), np.int64), "tcp_timestamps": np.zeros(len(rows), np.int64)}
    base = r.base[rows]

    def u8(live: np.ndarray, off: np.ndarray) -> np.ndarray:
        return r.flat.take(base[live] + np.minimum(off, HEAD - 1)).astype(np.int64)

    pos = start.copy()
    live = np.arange(len(rows))
    for _ in range(40):  # an option is at least one byte, and there are at most 40
        live = live[pos[live] < end[live]]
        if not len(live):
            break
        at = pos[live]
        kind = u8(live, at)
        size = np.where(kind == OPT_NOP, 1, np.maximum(u8(live, at + 1), 2))  # 2 at least, as dpkt reads it
        whole = at + size <= end[live]
        for name, k in (("tcp_mss", OPT_MSS), ("tcp_wscale", OPT_WSCALE), ("tcp_sack_ok", OPT_SACK_OK),
                        ("tcp_timestamps", OPT_TIMESTAMPS)):
            ok = (kind == k) & (size == _OPTION_LENGTH[k]) & whole
            if not ok.any():
                continue
            if k == OPT_MSS:
                found[name][live[ok]] = (u8(live[ok], at[ok] + 2) << 8) | u8(live[ok], at[ok] + 3)
            elif k == OPT_WSCALE:
                found[name][live[ok]] = u8(live[ok], at[ok] + 2)
            else:
                found[name][live[ok]] = 1
        pos[live] = np.where((kind == OPT_EOL) | ~whole, end[live], at + size)  # end of list, or cut short
    for name, t in SYN_OPTION_DTYPES.items():
        out[name][rows] = found[name].astype(t)
    return out


def _link_layer(r: _Heads, lt: np.ndarray) -> _Link:
    """Per packet, by link type: the network header's offset and ethertype, and the MACs (-1: none)."""
    n, h = r.n, r.h
    link = _Link(l3=np.zeros(n, np.int64), ethertype=np.zeros(n, np.int64), src_mac=np.full(n, -1, np.int64),
                 dst_mac=np.full(n, -1, np.int64))
    m = lt == LINKTYPE_ETHERNET
    if m.any():
        et = r.be16(12)
        off = np.full(n, 14, np.int64)
        for _ in range(2):  # 802.1Q / 802.1ad: up to two tags (QinQ)
            tagged = m & np.isin(et, VLAN_TPIDS)
            et = np.where(tagged, r.be16(off + 2), et)
            off = np.where(tagged, off + 4, off)
        link.ethertype[m], link.l3[m] = et[m], off[m]
        link.dst_mac[m] = r.be_n(0, 6)[m].astype(np.int64)
        link.src_mac[m] = r.be_n(6, 6)[m].astype(np.int64)
    m = np.isin(lt, (LINKTYPE_RAW, LINKTYPE_RAW_BSD12, LINKTYPE_RAW_BSD14, LINKTYPE_IPV4, LINKTYPE_IPV6))
    if m.any():
        ver = h[:, 0] >> 4
        link.ethertype[m] = np.where(ver == 4, ETH_IPV4, np.where(ver == 6, ETH_IPV6, 0))[m]
    m = np.isin(lt, (LINKTYPE_NULL, LINKTYPE_LOOP))
    if m.any():
        le = h[:, 0].astype(np.int64) | (h[:, 1].astype(np.int64) << 8) | (h[:, 2].astype(np.int64) << 16)
        be = (h[:, 1].astype(np.int64) << 16) | (h[:, 2].astype(np.int64) << 8) | h[:, 3]
        fam = np.where((lt == LINKTYPE_LOOP) | (le > 0xFFFF), be, le)  # NULL: host byte order
        link.ethertype[m] = np.where(fam == 2, ETH_IPV4, np.where(np.isin(fam, (10, 24, 28, 30)), ETH_IPV6, 0))[m]
        link.l3[m] = 4
    m = lt == LINKTYPE_LINUX_SLL
    if m.any():
        link.ethertype[m], link.l3[m] = r.be16(14)[m], 16
        has6 = m & (r.be16(4) == 6)
        link.src_mac[has6] = r.be_n(6, 6)[has6].astype(np.int64)
    m = lt == LINKTYPE_LINUX_SLL2
    if m.any():
        link.ethertype[m], link.l3[m] = r.be16(0)[m], 20
        has6 = m & (r.u8(11) == 6)
        link.src_mac[has6] = r.be_n(12, 6)[has6].astype(np.int64)
    return link


def _ipv4(r: _Heads, l3: np.ndarray, v4: np.ndarray, net: _Network) -> None:
    """Fill in ``net`` for the IPv4 packets ``v4``."""
    tot = r.be16(l3 + 2)
    net.length[v4] = np.where(tot > 0, tot, net.length)[v4]  # 0 with TCP segmentation offload
    net.proto[v4] = r.u8(l3 + 9)[v4]
    net.src_lo[v4] = (r.be_n(l3 + 12, 4) | V4_MAPPED)[v4]
    net.dst_lo[v4] = (r.be_n(l3 + 16, 4) | V4_MAPPED)[v4]
    net.l4[v4] = (l3 + (r.u8(l3) & 0x0F) * 4)[v4]
    net.first_frag[v4] = ((r.be16(l3 + 6) & 0x1FFF) == 0)[v4]


def _ipv6(r: _Heads, l3: np.ndarray, v6: np.ndarray, net: _Network) -> None:
    """Fill in ``net`` for the IPv6 packets ``v6``, skipping up to three extension headers."""
    net.length[v6] = (40 + r.be16(l3 + 4))[v6]
    net.src_hi[v6] = r.be_n(l3 + 8, 8)[v6]
    net.src_lo[v6] = r.be_n(l3 + 16, 8)[v6]
    net.dst_hi[v6] = r.be_n(l3 + 24, 8)[v6]
    net.dst_lo[v6] = r.be_n(l3 + 32, 8)[v6]
    nh = r.u8(l3 + 6)
    off = l3 + 40
    for _ in range(3):
        ext = v6 & np.isin(nh, IPV6_EXT)
        frag = v6 & (nh == IPV6_FRAG)
        net.first_frag &= ~frag | ((r.be16(off + 2) & 0xFFF8) == 0)
        step = np.where(frag, 8, (r.u8(off + 1) + 1) * 8)
        nh = np.where(ext | frag, r.u8(off), nh)
        off = np.where(ext | frag, off + step, off)
    net.proto[v6] = nh[v6]
    net.l4[v6] = off[v6]


# -- header decoding: dpkt reference ------------------------------------------------------------
def _addr(b: bytes) -> tuple[int, int]:
    if len(b) == 4:
        return 0, 0xFFFF00000000 | int.from_bytes(b, "big")
    v = int.from_bytes(b, "big")
    return v >> 64, v & 0xFFFFFFFFFFFFFFFF


def _dpkt_link(buf: bytes, linktype: int) -> tuple[object, int, int, int]:
    """(network layer as dpkt decodes it, link header bytes, source MAC, destination MAC) of one frame."""
    import dpkt

    src_mac = dst_mac = -1
    l3: object = None
    link_hdr = 0
    if linktype == LINKTYPE_ETHERNET:
        eth = dpkt.ethernet.Ethernet(buf)
        src_mac, dst_mac = int.from_bytes(eth.src, "big"), int.from_bytes(eth.dst, "big")
        l3 = eth.data
        link_hdr = 14 + 4 * len(getattr(eth, "vlan_tags", []) or [])
    elif linktype in (LINKTYPE_RAW, LINKTYPE_RAW_BSD12, LINKTYPE_RAW_BSD14, LINKTYPE_IPV4, LINKTYPE_IPV6):
        l3 = _dpkt_ip(buf)
    elif linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        link_hdr = 4
        l3 = _dpkt_ip(buf[4:])
    elif linktype == LINKTYPE_LINUX_SLL:
        sll = dpkt.sll.SLL(buf)
        if sll.hlen == 6:
            src_mac = int.from_bytes(sll.hdr[:6], "big")
        link_hdr = 16
        l3 = sll.data
    elif linktype == LINKTYPE_LINUX_SLL2:
        sll2 = dpkt.sll2.SLL2(buf)
        if sll2.hlen == 6:
            src_mac = int.from_bytes(sll2.hdr[:6], "big")
        link_hdr = 20
        l3 = sll2.data
    return l3, link_hdr, src_mac, dst_mac


def _dpkt_ip(buf: bytes) -> object:
    """An IPv4 or IPv6 packet as dpkt decodes it, by its version nibble (None for another version)."""
    import dpkt

    version = buf[0] >> 4 if buf else 0
    return dpkt.ip.IP(buf) if version == 4 else dpkt.ip6.IP6(buf) if version == 6 else None


def _dpkt_one(buf: bytes, linktype: int, wirelen: int) -> tuple:
    """Header fields of one packet decoded by dpkt (full decoding of every layer), the same fields
    as :func:`decode_batch` gives: an IP header whose version is not its type's is not IP, and an
    IPv4 total length of 0 (segmentation offload) counts the frame's bytes past the link header.

    Raises RecursionError when dpkt cannot decode a packet nested too deeply (IP in IP).
    """
    import dpkt

    try:
        l3, link_hdr, src_mac, dst_mac = _dpkt_link(buf, linktype)
    except (dpkt.UnpackError, IndexError, ValueError, struct.error):
        l3, link_hdr, src_mac, dst_mac = None, 0, -1, -1
    if isinstance(l3, dpkt.ip.IP) and l3.v == 4:
        s, d = _addr(l3.src), _addr(l3.dst)
        l4, proto, ttl, ip_hdr = l3.data, l3.p, l3.ttl, l3.hl * 4
        length = l3.len if l3.len > 0 else max(wirelen - link_hdr, 0)
        first = l3.offset == 0
    elif isinstance(l3, dpkt.ip6.IP6) and l3.v == 6:
        s, d = _addr(l3.src), _addr(l3.dst)
        l4, proto, length, ttl = l3.data, l3.p, 40 + l3.plen, l3.hlim
        ip_hdr = 40 + sum(ext.length for ext in l3.all_extension_headers)
        frag = l3.extension_hdrs.get(IPV6_FRAG) if hasattr(l3, "extension_hdrs") else None
        first = frag is None or frag.frag_off == 0
    else:
        return (max(wirelen - link_hdr, 0), False, -1, 0, 0, 0, 0, 0, 0, src_mac, dst_mac, -1, -1, -1, 0, *_NO_SYN)
    sport = dport = 0
    if first and proto in (PROTO_TCP, PROTO_UDP, PROTO_SCTP) and not isinstance(l4, bytes):
        sport, dport = l4.sport, l4.dport
    elif first and proto in (PROTO_TCP, PROTO_UDP, PROTO_SCTP) and isinstance(l4, bytes) and len(l4) >= 4:
        sport, dport = struct.unpack(">HH", l4[:4])
    flags = window = -1
    l4_hdr = 8 if first and proto == PROTO_UDP else 0
    opts = b""
    if first and proto == PROTO_TCP and isinstance(l4, dpkt.tcp.TCP):
        flags, window, l4_hdr, opts = l4.flags & 0xFF, l4.win, l4.off * 4, bytes(l4.opts)
    elif first and proto == PROTO_TCP and isinstance(l4, bytes) and len(l4) >= 20:  # a header dpkt refused
        flags, window, l4_hdr = l4[13], int.from_bytes(l4[14:16], "big"), (l4[12] >> 4) * 4
        opts = l4[20:l4_hdr]
    opts = opts[: max(HEAD - (link_hdr + ip_hdr + 20), 0)]  # as the fast decoder: the frame's first HEAD bytes
    syn = _syn_options_dpkt(opts) if flags >= 0 and flags & 0x02 else _NO_SYN
    return (length, True, proto, s[0], s[1], d[0], d[1], sport, dport, src_mac, dst_mac, ttl, flags, window,
            max(length - ip_hdr - l4_hdr, 0), *syn)


_NO_SYN = (-1, -1, -1, -1)


def _syn_options_dpkt(opts: bytes) -> tuple[int, int, int, int]:
    """(MSS, window-scale shift, SACK-permitted, timestamps) of a SYN's options, read with dpkt."""
    import dpkt

    mss = wscale = -1
    sack = stamps = 0
    for opt in dpkt.tcp.parse_opts(opts):
        if opt is None or opt[0] == OPT_EOL:
            break
        kind, data = opt
        if kind in _OPTION_LENGTH and len(data) != _OPTION_LENGTH[kind] - 2:
            continue  # a length not the kind's, or cut short (then the last)
        if kind == OPT_MSS:
            mss = int.from_bytes(data, "big")
        elif kind == OPT_WSCALE:
            wscale = data[0]
        sack, stamps = sack or kind == OPT_SACK_OK, stamps or kind == OPT_TIMESTAMPS
    return mss, wscale, int(sack), int(stamps)


def decode_batch_dpkt(raw: RawBatch, *, stats: ReadStats | None = None) -> PacketBatch:
    """Decode ``raw`` packet by packet with dpkt (reference implementation, ~10x slower).

    A packet dpkt cannot decode because it is nested too deeply (IP in IP) gets the fields of its
    outer headers, as :func:`decode_batch` gives them, and is counted in ``stats.undecoded``.
    """
    n = len(raw)
    if n == 0:
        return PacketBatch.empty()
    rows = []
    for k in range(n):
        try:
            rows.append(_dpkt_one(raw.packet(k), int(raw.linktype[k]), int(raw.wirelen[k])))
        except RecursionError:
            one = decode_batch(RawBatch(raw.data, raw.offset[k : k + 1], raw.caplen[k : k + 1],
                                        raw.wirelen[k : k + 1], raw.ts_ns[k : k + 1], raw.linktype[k : k + 1]))
            rows.append(tuple(int(getattr(one, k)[0]) for k in _DPKT_FIELDS))
            if stats is not None:
                stats.undecoded += 1
    cols = list(zip(*rows, strict=True))
    u = lambda c: np.array(c, dtype=np.uint64)  # noqa: E731
    i = lambda c: np.array(c, dtype=np.int64)  # noqa: E731
    return PacketBatch(
        ts_ns=raw.ts_ns.astype(np.int64, copy=False),
        length=i(cols[0]),
        is_ip=np.array(cols[1], dtype=bool),
        proto=i(cols[2]),
        src_hi=u(cols[3]),
        src_lo=u(cols[4]),
        dst_hi=u(cols[5]),
        dst_lo=u(cols[6]),
        sport=i(cols[7]),
        dport=i(cols[8]),
        src_mac=i(cols[9]),
        dst_mac=i(cols[10]),
        ttl=i(cols[11]),
        tcp_flags=i(cols[12]),
        tcp_window=i(cols[13]),
        payload=i(cols[14]),
        **{k: np.array(cols[15 + j], dtype=t) for j, (k, t) in enumerate(SYN_OPTION_DTYPES.items())},
    )


#: The fields of a :func:`_dpkt_one` row, in order.
_DPKT_FIELDS = ("length", "is_ip", "proto", "src_hi", "src_lo", "dst_hi", "dst_lo", "sport", "dport", "src_mac",
                "dst_mac", "ttl", "tcp_flags", "tcp_window", "payload", *SYN_OPTION_DTYPES)


def iter_packet_batches(
    source: str | os.PathLike[str] | BinaryIO,
    *,
    name: str | None = None,
    decoder: Decoder = "fast",
    chunk_bytes: int = 1 << 21,
    on_warning: WarningCallback | None = None,
    stats: ReadStats | None = None,
    max_gzip_ratio: float | None = DEFAULT_MAX_GZIP_RATIO,
) -> Iterator[PacketBatch]:
    """Yield :class:`PacketBatch` es of a capture, decoded by ``decoder`` (``"fast"`` or ``"dpkt"``).

    See :func:`iter_raw_batches` for the parameters and errors.
    """
    stats = ReadStats() if stats is None else stats
    raws = iter_raw_batches(source, name=name, chunk_bytes=chunk_bytes, on_warning=on_warning, stats=stats,
                            max_gzip_ratio=max_gzip_ratio)
    for raw in raws:
        yield decode_batch(raw) if decoder == "fast" else decode_batch_dpkt(raw, stats=stats)


def is_capture_file(path: Path) -> bool:
    """True if ``path`` starts with pcap, pcapng or gzip magic bytes."""
    try:
        with open(path, "rb") as fh:
            return capture_kind(fh.read(4)) is not None
    except OSError:
        return False

