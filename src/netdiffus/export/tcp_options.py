"""TCP options of exported conversations: the SYN's and SYN-ACK's learned options, and timestamps.

A conversation whose header flow recorded the options of its SYN and SYN-ACK
(:attr:`~netdiffus.io.headers.FlowHeader.syn_options`) opens with them, laid out as a Linux stack
lays them out: MSS (kind 2, length 4), SACK-permitted (kind 4, length 2) and timestamps (kind 8,
length 10) side by side, NOPs padding the others to 4-byte words, window scale (kind 3, length 3)
last. When both sides sent the timestamps option, every later segment carries it too (NOP, NOP,
timestamps: 12 bytes), as stacks do once it is negotiated. TSval is a 1 kHz clock that starts at
a random value per side; TSecr echoes the last TSval received (0 in the SYN).

The options are part of the IP total length: a packet whose scheduled size cannot hold its
header and options grows to hold them (the bytes it adds are counted), else its payload shrinks.

Examples
--------
>>> import dpkt
>>> from netdiffus.io.flow_records import SynOptions
>>> raw = syn_option_bytes(SynOptions(1460, 7, 1, 1), tsval=1000, tsecr=0)
>>> len(raw), [(k, v.hex()) for k, v in dpkt.tcp.parse_opts(raw)]
(20, [(2, '05b4'), (4, ''), (8, '000003e800000000'), (1, ''), (3, '07')])
>>> syn_option_bytes(SynOptions(-1, -1, 0, 0), tsval=0, tsecr=0)
b''
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

from netdiffus.io.flow_records import SynOptions

__all__ = ["syn_option_bytes", "ConversationOptions", "packet_options", "timestamps", "syn_rows", "option_lengths",
           "option_table", "MAX_OPTIONS", "TIMESTAMPS_LEN", "NO_OPTIONS", "SYN_OPTIONS", "TIMESTAMPS_ONLY"]

#: Bytes of TCP options at most (a data offset of 15 words).
MAX_OPTIONS = 40
#: Bytes of the timestamps option as later segments carry it (NOP, NOP, kind 8).
TIMESTAMPS_LEN = 12
#: What options a packet carries: none, its side's SYN options, the timestamps only.
NO_OPTIONS, SYN_OPTIONS, TIMESTAMPS_ONLY = 0, 1, 2
_NOP = b"\x01"


def syn_option_bytes(options: SynOptions, *, tsval: int, tsecr: int) -> bytes:
    """The options of a SYN (or SYN-ACK), a multiple of 4 bytes (empty: none)."""
    out = b""
    if options.mss >= 0:
        out += struct.pack(">BBH", 2, 4, options.mss & 0xFFFF)
    stamps = struct.pack(">BBII", 8, 10, tsval & 0xFFFFFFFF, tsecr & 0xFFFFFFFF)
    if options.sack_ok == 1 and options.timestamps == 1:
        out += b"\x04\x02" + stamps
    elif options.timestamps == 1:
        out += _NOP * 2 + stamps
    elif options.sack_ok == 1:
        out += _NOP * 2 + b"\x04\x02"
    if options.wscale >= 0:
        out += _NOP + bytes([3, 3, options.wscale & 0xFF])
    return out


def _syn_len(options: SynOptions | None) -> int:
    return 0 if options is None else len(syn_option_bytes(options, tsval=0, tsecr=0))


@dataclass(frozen=True)
class ConversationOptions:
    """The options of one TCP conversation: the SYN's (forward) and the SYN-ACK's (reverse); None: none."""

    syn: tuple[SynOptions | None, SynOptions | None]

    @classmethod
    def of(cls, fwd: SynOptions, bwd: SynOptions) -> ConversationOptions | None:
        """From a header flow's recorded options; None when it recorded none (all unknown) or the SYN
        had none."""
        known = [None if o.mss < 0 and o.wscale < 0 and o.sack_ok < 1 and o.timestamps < 1 else o for o in (fwd, bwd)]
        return None if known[0] is None else cls((known[0], known[1]))

    @property
    def timestamps(self) -> bool:
        """Both sides sent the timestamps option: later segments carry it."""
        return all(o is not None and o.timestamps == 1 for o in self.syn)


def packet_options(direction: np.ndarray, options: ConversationOptions | None) -> tuple[np.ndarray, np.ndarray]:
    """What options each packet of one conversation carries, and their bytes.

    Parameters
    ----------
    direction : ndarray of int, shape [P]
        Each packet's direction (0 forward), in time order: the first of each direction is its SYN.
    options : ConversationOptions or None

    Returns
    -------
    kind, length : ndarray of int64, shape [P]
        ``NO_OPTIONS``, ``SYN_OPTIONS`` or ``TIMESTAMPS_ONLY``; bytes of options.
    """
    n = len(direction)
    kind = np.zeros(n, np.int64)
    length = np.zeros(n, np.int64)
    if options is None or not n:
        return kind, length
    if options.timestamps:
        kind[:], length[:] = TIMESTAMPS_ONLY, TIMESTAMPS_LEN
    for d in (0, 1):
        first = np.flatnonzero(direction == d)[:1]
        if len(first) and options.syn[d] is not None:
            kind[first], length[first] = SYN_OPTIONS, _syn_len(options.syn[d])
    return kind, length


def timestamps(time_us: np.ndarray, direction: np.ndarray, *, rng: np.random.Generator) -> tuple[np.ndarray,
                                                                                                 np.ndarray]:
    """TSval and TSecr of each packet of one conversation (time order): a 1 kHz clock per side from
    a random start; TSecr the TSval of the last packet received before it (0 before any)."""
    start = rng.integers(0, 1 << 32, size=2, dtype=np.int64)
    d = np.asarray(direction, np.int64)
    tsval = (start[d] + (time_us - time_us[0]) // 1000) & 0xFFFFFFFF
    tsecr = np.zeros(len(d), np.int64)
    idx = np.arange(len(d))
    for side in (0, 1):
        other = np.maximum.accumulate(np.where(d != side, idx, -1))  # the last packet of the other side so far
        before = np.concatenate([[-1], other[:-1]])
        mine = (d == side) & (before >= 0)
        tsecr[mine] = tsval[before[mine]]
    return tsval, tsecr


def syn_rows(options: ConversationOptions | None) -> np.ndarray:
    """The SYN options of a conversation's two sides as rows ``(mss, wscale, sack_ok, timestamps)``,
    [2, 4] int64; a side without options is all -1 (the per-flow table ``option_table`` reads)."""
    rows = np.full((2, 4), -1, np.int64)
    for d in (0, 1):
        o = None if options is None else options.syn[d]
        if o is not None:
            rows[d] = tuple(o)
    return rows


def option_lengths(kind: np.ndarray, syn: np.ndarray) -> np.ndarray:
    """Bytes of options of packets (``kind`` [n], ``syn`` [n, 4] as :func:`option_table` takes them)."""
    length = np.where(kind == TIMESTAMPS_ONLY, TIMESTAMPS_LEN, 0).astype(np.int64)
    for i in np.flatnonzero(kind == SYN_OPTIONS).tolist():
        length[i] = len(syn_option_bytes(SynOptions(*syn[i].tolist()), tsval=0, tsecr=0))
    return length


def option_table(kind: np.ndarray, syn: np.ndarray, tsval: np.ndarray,
                 tsecr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The option bytes of packets, as :func:`~netdiffus.export.frames.encode_records` takes them.

    Parameters
    ----------
    kind, tsval, tsecr : ndarray of int, shape [n]
        Each packet's kind of options (:func:`packet_options`) and timestamps.
    syn : ndarray of int, shape [n, 4]
        The SYN options of each packet's side (:func:`syn_rows`; read where ``kind`` is ``SYN_OPTIONS``).

    Returns
    -------
    options : ndarray of uint8, shape [n, MAX_OPTIONS]
    length : ndarray of int64, shape [n]
    """
    n = len(kind)
    out = np.zeros((n, MAX_OPTIONS), np.uint8)
    length = np.zeros(n, np.int64)
    ts = np.flatnonzero(kind == TIMESTAMPS_ONLY)
    if len(ts):
        out[ts, :4] = (1, 1, 8, 10)
        for j, v in ((4, tsval[ts]), (8, tsecr[ts])):
            out[ts, j : j + 4] = (v[:, None] >> np.array([24, 16, 8, 0])) & 0xFF
        length[ts] = TIMESTAMPS_LEN
    for i in np.flatnonzero(kind == SYN_OPTIONS).tolist():  # two per conversation: a loop is cheap
        raw = syn_option_bytes(SynOptions(*syn[i].tolist()), tsval=int(tsval[i]), tsecr=int(tsecr[i]))
        out[i, : len(raw)] = np.frombuffer(raw, np.uint8)
        length[i] = len(raw)
    return out, length
