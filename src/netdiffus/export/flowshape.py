"""The shape of each conversation of a binned trace: how long it lasts and which packets are pure ACKs.

A binned trace (bytes or packets per bin) is cut into packets first and shared among its
conversations afterwards (:func:`~netdiffus.export.conversations.split_packets`): a conversation
holds a run of the trace's packets, spread as the trace's packets are over their bins. A learned
header (:class:`~netdiffus.io.headers.FlowHeader`) says how long each flow lasted and what share
of its TCP packets were pure ACKs; the two functions here give each conversation that shape
without changing what the series says: every packet stays in its bin and its direction, and the
bytes of every bin and direction (of every conversation) are kept.

- :func:`retime_flows`: a conversation whose packets span more than its drawn duration is
  squeezed towards its first packet (its gaps scaled down alike), each packet held inside its
  own bin (``guard_us`` from its edges); a conversation spanning several bins then sits around
  the bin edges it crosses. The trace's first packet never moves.
- :func:`balance_bytes`: a conversation other than the largest gets its flow's bytes (drawn in its
  record's power-of-two class): bytes move between its data packets and the largest
  conversation's packets of the same bin and direction, so every bin and direction keeps its
  bytes (the largest conversation's are what the others leave).
- :func:`make_pure_acks`: a TCP conversation with fewer header-only packets than its share gets
  more: a data packet (not its first or last of a direction: those are SYN and FIN) hands its
  payload to packets of the same bin and direction with room below the MTU and is written
  header-only; without room it stays as it is. Those packets are its own conversation's in the
  same run of one direction (no packet back in between): each conversation keeps its bytes per
  bin and direction, and no more of them are unacknowledged at any point than before (no receive
  window is overrun). For
  packets per bin, where bytes are not the series' unit, it is made header-only as it is.

Examples
--------
>>> import numpy as np
>>> t = retime_flows(np.array([0, 100, 900_000, 950_000]), conv=np.array([0, 1, 1, 0]), durations_us=[-1, 64],
...                  edges_us=np.array([0, 1_000_000]), guard_us=2, rng=np.random.default_rng(0))
>>> t.tolist()[:2], 100 < int(t[2]) <= 100 + 128            # conversation 1 lasts 64 to 128 us
([0, 100], True)
>>> # 60 % of 5 packets header-only: one more than the SYN and the FIN
>>> make_pure_acks(np.array([40, 500, 500, 500, 40]), direction=np.zeros(5, np.int8), bins=np.zeros(5, np.int64),
...                conv=np.zeros(5, np.int64), ack_percent=[60], tcp=[True], hmin=40, mtu=1500, move_bytes=True,
...                rng=np.random.default_rng(0)).tolist()
[40, 730, 730, 40, 40]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["retime_flows", "make_pure_acks", "balance_bytes"]


def retime_flows(time_us: np.ndarray, *, conv: np.ndarray, durations_us: Sequence[int], edges_us: np.ndarray,
                 guard_us: int, rng: np.random.Generator) -> np.ndarray:
    """Send times with each conversation squeezed to its drawn duration, every packet in its bin.

    Parameters
    ----------
    time_us : ndarray of int64, shape [P]
        Send times (microseconds from the trace origin), in time order; packet 0 (the trace's
        first, on the start of its bin) never moves.
    conv : ndarray of int, shape [P]
        The conversation of each packet.
    durations_us : sequence of int, [K]
        Each conversation's duration class (a power of two of microseconds, 0: an instant; -1:
        unknown, left as it is); a duration is drawn log-uniformly in ``[d, 2d)``.
    edges_us : ndarray of int64, shape [T + 1]
        Bin edges in microseconds.
    guard_us : int
        Distance kept from bin edges.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of int64, shape [P]
        The new times (each conversation's packets keep their order; the trace's may not).
    """
    out = np.asarray(time_us, np.int64).copy()
    if not len(out):
        return out
    bins = np.clip(np.searchsorted(edges_us, out, side="right") - 1, 0, len(edges_us) - 2)
    lo = edges_us[bins] + guard_us
    hi = np.maximum(edges_us[bins + 1] - guard_us - 1, lo)
    lo[0] = hi[0] = out[0]  # the trace's first packet stays where it is
    for k, d in enumerate(durations_us):
        m = np.flatnonzero(conv == k)
        if len(m) < 2 or d < 0:
            continue
        target = 0.0 if d == 0 else float(np.exp(rng.uniform(np.log(d), np.log(2 * d))))
        t = out[m].astype(np.float64)
        span = t[-1] - t[0]
        if span <= target:
            continue
        gaps = np.diff(t) * (target / span)
        x = t.copy()
        for i in range(1, len(m)):  # forward: each packet its scaled gap after the one before, in its bin
            x[i] = min(max(x[i - 1] + gaps[i - 1], lo[m[i]]), hi[m[i]])
        for i in range(len(m) - 2, -1, -1):  # backward: earlier bins' packets move up to their next one
            x[i] = max(x[i], min(hi[m[i]], x[i + 1] - gaps[i]))
        out[m] = np.rint(x).astype(np.int64)
    return out


def make_pure_acks(size: np.ndarray, *, direction: np.ndarray, bins: np.ndarray, conv: np.ndarray,
                   ack_percent: Sequence[int], tcp: Sequence[bool], hmin: int, mtu: int, move_bytes: bool,
                   rng: np.random.Generator) -> np.ndarray:
    """Packet sizes with each TCP conversation's share of header-only packets raised to its own.

    Parameters
    ----------
    size : ndarray of int64, shape [P]
        IP sizes in bytes, packets in time order.
    direction, bins, conv : ndarray, shape [P]
        Each packet's direction, bin and conversation.
    ack_percent : sequence of int, [K]
        Each conversation's share of pure ACKs among its packets, in percent (-1: unknown).
    tcp : sequence of bool, [K]
        Whether each conversation is TCP (the others are left as they are).
    hmin : int
        The header-only size (IP and TCP headers).
    mtu : int
        The largest size a packet may grow to.
    move_bytes : bool
        Keep the bytes of each conversation, bin and direction (bytes per bin): a packet made
        header-only hands its payload to others. False (packets per bin): it is shrunk.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of int64, shape [P]
    """
    out = np.asarray(size, np.int64).copy()
    for k, share in enumerate(ack_percent):
        m = np.flatnonzero(conv == k)
        if share < 0 or not tcp[k] or len(m) < 3:
            continue
        run = np.full(len(out), -1)  # which run of one direction of the conversation each packet is in
        run[m] = np.cumsum(np.diff(direction[m], prepend=direction[m][:1]) != 0)
        ends: set[int] = set()
        for d in np.unique(direction[m]).tolist():  # first and last of each direction: SYN and FIN
            md = m[direction[m] == d]
            ends.update((int(md[0]), int(md[-1])))
        want = int(round(share / 100 * len(m))) - int(np.count_nonzero(out[m] <= hmin))
        for c in rng.permutation([i for i in m.tolist() if i not in ends and out[i] > hmin]).tolist():
            if want <= 0:
                break
            if move_bytes and not _hand_over(out, c, peers=(run == run[c]) & (bins == bins[c]), hmin=hmin, mtu=mtu):
                continue
            out[c] = hmin
            want -= 1
    return out


def _hand_over(size: np.ndarray, c: int, *, peers: np.ndarray, hmin: int, mtu: int) -> bool:
    """Move packet ``c``'s payload onto the data packets of ``peers`` [P] (a mask) with room, in
    place, in proportion to their room (so no size, the MTU least, is made more frequent); False,
    and nothing moved, when they have too little room."""
    payload = int(size[c] - hmin)
    group = np.flatnonzero(peers & (size > hmin) & (size < mtu))
    group = group[group != c]
    room = mtu - size[group]
    if int(room.sum()) < payload:
        return False
    _spread(size, group, payload, room=room)
    return True


def balance_bytes(size: np.ndarray, *, direction: np.ndarray, bins: np.ndarray, conv: np.ndarray,
                  bytes_class: Sequence[int], hmin: int, mtu: int, rng: np.random.Generator) -> np.ndarray:
    """Packet sizes with each conversation k > 0 moved towards its flow's bytes.

    A conversation holds a run of its trace's packets, sized as the trace's packets are: a DNS
    exchange cut from a bulk transfer gets the transfer's sizes. Its record knows the bytes of
    its flow (a power of two ``c``): a target is drawn log-uniformly in ``[c, 2c)`` and the
    conversation's data packets (larger than ``hmin``) shrink towards ``hmin`` or grow towards
    ``mtu`` by bytes taken from or given to conversation 0's packets of the same bin and
    direction, within their own bounds. Every bin and direction keeps its bytes; conversation 0
    takes what the others leave. Where conversation 0 has no packet of that bin and direction, or
    no room, less moves.

    Parameters
    ----------
    size : ndarray of int64, shape [P]
        IP sizes in bytes, packets in time order.
    direction, bins, conv : ndarray, shape [P]
        Each packet's direction, bin and conversation.
    bytes_class : sequence of int, [K]
        Each conversation's bytes class (a power of two; -1 or 0: unknown, left as it is).
    hmin, mtu : int
        The smallest and largest size of a packet.
    rng : numpy.random.Generator

    Returns
    -------
    ndarray of int64, shape [P]

    >>> size = np.array([200, 1000, 1000, 200])            # conversation 1: a 2-packet exchange
    >>> out = balance_bytes(size, direction=np.zeros(4, np.int8), bins=np.zeros(4, np.int64),
    ...                     conv=np.array([0, 1, 1, 0]), bytes_class=[-1, 128], hmin=40, mtu=1500,
    ...                     rng=np.random.default_rng(0))
    >>> 128 <= int(out[1] + out[2]) < 256, int(out.sum())
    (True, 2400)
    """
    out = np.asarray(size, np.int64).copy()
    for k in range(1, len(bytes_class)):
        c = bytes_class[k]
        mine = np.flatnonzero(conv == k)
        if c <= 0 or not len(mine):
            continue
        target = int(c * 2.0 ** rng.random())
        for i in rng.permutation(mine).tolist():
            diff = target - int(out[mine].sum())
            if diff == 0:
                break
            if out[i] <= hmin and diff > 0:  # header-only packets (SYN, FIN, pure ACKs) stay so
                continue
            peers = np.flatnonzero((conv == 0) & (bins == bins[i]) & (direction == direction[i]))
            if diff < 0:  # give bytes to conversation 0
                step = min(-diff, int(out[i]) - hmin, int((mtu - out[peers]).sum()))
                _spread(out, peers, step, room=mtu - out[peers])
                out[i] -= step
            else:  # take bytes from conversation 0
                step = min(diff, mtu - int(out[i]), int((out[peers] - hmin).sum()))
                _spread(out, peers, -step, room=out[peers] - hmin)
                out[i] += step
    return out


def _spread(size: np.ndarray, group: np.ndarray, amount: int, *, room: np.ndarray) -> None:
    """Add ``amount`` bytes (negative: remove) to ``size[group]`` in place, in proportion to each
    packet's ``room`` (what it may gain or lose), ``|amount| <= room.sum()``."""
    if amount == 0:
        return
    share = room * abs(amount) // int(room.sum())  # in proportion to room, rounded down ...
    short = abs(amount) - int(share.sum())
    share[np.argsort(share - room)[:short]] += 1  # ... the rest a byte each to those with room left
    size[group] += share if amount > 0 else -share
