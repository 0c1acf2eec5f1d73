"""The conversations of an exported trace: its 5-tuples and header values, learned or assigned.

Without header metadata a trace is one conversation: the class's transport, the trace's client
address and port (:meth:`~netdiffus.export.addresses.AddressPlan.client`), the class's server
on port 443, TTL 64 and window 65535 both ways. With a :class:`~netdiffus.io.headers.TraceHeader`
(learned by :class:`~netdiffus.headers.HeaderModel`, or a real trace's) it is one conversation per
flow of the header: its transport (ICMP and ICMPv6 as the one of the capture's IP version, IGMP
as ICMPv6 in an IPv6 capture, ``other`` as UDP), server port, client port (a
well-known one as it is, else drawn from its range), TTLs and windows per direction, and for TCP
the options of its SYN and SYN-ACK (:mod:`netdiffus.export.tcp_options`); the trace's
packets are shared among them by the flows' packets (:func:`split_packets`). Server ids map to
hosts of the server range, so traces that share a server id share an address; a flow whose
server is not shared gets an address of its own (after the shared ones; a /24 holds 254 hosts,
then they repeat), and so does a flow whose 5-tuple another flow of the trace already has (two
flows of one 5-tuple would be one). A class pinned with ``LABEL=ADDRESS`` keeps that address for all its flows.

Examples
--------
>>> import numpy as np
>>> split_packets(np.array([0, 1, 0, 0, 1, 0, 1, 1]), packets=[6, 2], rng=np.random.default_rng(0)).tolist()
[0, 0, 0, 0, 0, 1, 1, 0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from netdiffus.export.addresses import EPHEMERAL_PORTS, SERVER_PORT, AddressPlan, IPAddress
from netdiffus.export.frames import ICMP, ICMPV6, IGMP, TCP, TCP_WINDOW, TTL, UDP
from netdiffus.export.tcp_options import ConversationOptions
from netdiffus.io.flow_records import SynOptions
from netdiffus.io.headers import TraceHeader

__all__ = ["Conversation", "ConversationPlan", "split_packets", "protocol_of", "fit_windows"]

_FORWARD = 0


@dataclass(frozen=True)
class Conversation:
    """One 5-tuple of a trace as written, with its header values per direction (forward, reverse)."""

    proto: int
    client: IPAddress
    client_port: int
    server: IPAddress
    server_port: int
    ttl: tuple[int, int] = (TTL, TTL)
    window: tuple[int, int] = (TCP_WINDOW, TCP_WINDOW)
    options: ConversationOptions | None = None  # TCP: the SYN's and SYN-ACK's options; None: none
    syn_window: tuple[int, int] | None = None  # TCP window of the SYN, the SYN-ACK; None: ``window``
    opened: bool = True  # TCP: written with SYN and SYN-ACK (False: it started before its trace)


class ConversationPlan:
    """Gives each exported trace its conversations, from its header when it has one.

    Parameters
    ----------
    plan : AddressPlan
    shared_servers : int
        Server ids below this are shared hosts (ids from the headers); own servers come after.
    """

    def __init__(self, plan: AddressPlan, *, shared_servers: int = 0) -> None:
        self.plan = plan
        self.next_own = shared_servers
        self.used: set[tuple[bytes, int, bytes, int, int]] = set()

    def of_trace(self, j: int, *, label: str, label_index: int, proto: int, header: TraceHeader | None,
                 rng: np.random.Generator) -> list[Conversation]:
        """The conversations of trace ``j`` (in export order) of class ``label``."""
        client, cport = self.plan.client(j)
        if header is None:
            return [Conversation(proto, client, cport, self.plan.server(label, label_index), SERVER_PORT)]
        out = []
        for f in header.flows:
            p = protocol_of(f.transport, ip_version=self.plan.version)
            if label in self.plan.servers:
                server = self.plan.servers[label]
            elif f.server_id >= 0:
                server = self.plan.host(f.server_id)
            else:
                server, self.next_own = self.plan.host(self.next_own), self.next_own + 1
            port = f.client_port if f.client_port < 1024 else self._ephemeral(f.client_port, rng)
            key = (client.packed, port, server.packed, f.server_port, p)
            if key in self.used and label not in self.plan.servers:  # one 5-tuple would make two flows one:
                server, self.next_own = self.plan.host(self.next_own), self.next_own + 1  # a server of its own
                key = (client.packed, port, server.packed, f.server_port, p)
            while key in self.used:  # still (a pinned server, or the range wrapped): another client port
                port = self._ephemeral(EPHEMERAL_PORTS[0], rng)
                key = (client.packed, port, server.packed, f.server_port, p)
            self.used.add(key)
            out.append(Conversation(p, client, port, server, f.server_port,
                                    ttl=(_or(f.ttl_fwd, TTL), _or(f.ttl_bwd, _or(f.ttl_fwd, TTL))),
                                    window=(_or(f.window_fwd, TCP_WINDOW), _or(f.window_bwd, TCP_WINDOW)),
                                    options=ConversationOptions.of(*f.syn_options) if p == TCP else None,
                                    opened=f.opened or p != TCP))
        return out

    @staticmethod
    def _ephemeral(port_class: int, rng: np.random.Generator) -> int:
        lo, hi = (1024, 49151) if port_class < EPHEMERAL_PORTS[0] else EPHEMERAL_PORTS
        return int(rng.integers(lo, hi + 1))


def protocol_of(transport: str, *, ip_version: int) -> int:
    """The IP protocol a header's transport is written as in a capture of ``ip_version``.

    >>> protocol_of("icmpv6", ip_version=4), protocol_of("igmp", ip_version=6), protocol_of("other", ip_version=4)
    (1, 58, 17)
    """
    if transport in ("icmp", "icmpv6", "igmp"):
        return ICMPV6 if ip_version == 6 else IGMP if transport == "igmp" else ICMP
    return TCP if transport == "tcp" else UDP


def _or(value: int, default: int) -> int:
    return default if value < 0 else value


def split_packets(direction: np.ndarray, *, packets: Sequence[int], rng: np.random.Generator,
                  one_way: Sequence[bool] | None = None) -> np.ndarray:
    """Share a trace's packets among its conversations, by the packets of each header flow.

    Conversation k > 0 gets its flow's packets when the P packets hold those of all conversations
    k > 0 and one more, else ``round(share_k * P)`` packets (at least one): a run of consecutive
    packets not yet given that starts with a forward packet where one can (so its client opens
    it), placed at random; a one-way conversation (its real flow had no packet back) takes a run
    of forward packets only, as many as there are. Conversation 0 (the largest) keeps the rest,
    the trace's first packet among them. Conversations k > 0 are served in a random order: with
    fewer packets than conversations, those served last get none.

    Parameters
    ----------
    direction : ndarray of int, shape [P]
        Each packet's direction (0 forward), in time order.
    packets : sequence of int, [K]
        Packets of each header flow (weights), largest first.
    rng : numpy.random.Generator
    one_way : sequence of bool, [K], or None
        Conversations whose packets all go forward (None: none).

    Returns
    -------
    ndarray of int64, shape [P]
        The conversation of each packet.
    """
    n = len(direction)
    conv = np.zeros(n, np.int64)
    w = np.asarray(packets, np.float64)
    if n == 0 or len(w) < 2 or w.sum() <= 0:
        return conv
    want = np.rint(w).astype(np.int64)  # the header's own counts when the trace holds them, else shares
    if want[1:].sum() > n - 1:
        want = np.maximum(np.rint(w / w.sum() * n), 1).astype(np.int64)
    free = np.ones(n, bool)
    free[0] = False  # conversation 0 keeps the trace's first packet: it opens as the trace does
    left = n - 1
    for k in rng.permutation(np.arange(1, len(w))).tolist():
        forward_only = one_way is not None and one_way[k]
        open_ = np.flatnonzero(free & (direction == _FORWARD)) if forward_only else np.flatnonzero(free)
        take = int(min(want[k], left, len(open_)))
        if take <= 0:
            continue
        last_start = len(open_) - take
        starts = np.flatnonzero(direction[open_[: last_start + 1]] == _FORWARD)
        at = int(rng.choice(starts)) if len(starts) else int(rng.integers(0, last_start + 1))
        chosen = open_[at : at + take]
        conv[chosen] = k
        free[chosen] = False
        left -= take
    return conv


def fit_windows(c: Conversation, *, size: np.ndarray, direction: np.ndarray, hmin: int) -> Conversation:
    """``c`` with each side's TCP window wide enough for the bytes the other side sends it in one run.

    A side may have no more payload in flight than the window its peer advertised: the bytes a
    direction sends after the other side's last packet (which acknowledges them) must fit. A
    learned window smaller than that (a bulk run written after a handshake of small windows) is
    raised above it, in units of the side's window scale when both SYNs carried one, at most 65535,
    on every packet but the SYN and SYN-ACK, which keep the learned one (``syn_window``).
    A run that 65535 cannot hold makes both SYNs carry the smallest window scale that holds it
    (at most 14; a scale already learned is only ever raised). A conversation without SYNs (not
    ``opened``: it started before its trace) keeps the windows it learned: with no scale seen, a
    reader cannot tell how full they are. A UDP conversation, or one whose windows hold its runs,
    is returned as it is.

    Parameters
    ----------
    c : Conversation
    size, direction : ndarray, shape [P]
        The conversation's packets in time order: IP sizes in bytes (before TCP options) and
        directions (0 forward).
    hmin : int
        The IP and TCP header size (a packet's payload is its size beyond it).

    >>> from ipaddress import ip_address
    >>> c = Conversation(6, ip_address("192.0.2.1"), 50000, ip_address("198.51.100.1"), 443, window=(8192, 1000))
    >>> fit_windows(c, size=np.array([440, 540, 40, 940]), direction=np.array([0, 0, 1, 0]), hmin=40).window
    (8192, 1000)
    >>> fit_windows(c, size=np.array([1040, 1040, 40]), direction=np.array([0, 0, 1]), hmin=40).window
    (8192, 2001)
    >>> bulk = fit_windows(c, size=np.full(100, 1500), direction=np.zeros(100, np.int64), hmin=40)
    >>> bulk.window, [o.wscale for o in bulk.options.syn]           # 146,000 bytes: more than 36,500 << 2
    ((8192, 36501), [2, 2])
    """
    if c.proto != TCP or not c.opened or not len(size):
        return c
    payload = np.maximum(np.asarray(size, np.int64) - hmin, 0)
    run = np.cumsum(np.diff(direction, prepend=direction[:1]) != 0)  # runs of one direction
    flight = [0, 0]  # most bytes sent in one run, per sending direction
    for r in np.unique(run).tolist():
        m = run == r
        d = int(direction[m][0])
        flight[d] = max(flight[d], int(payload[m].sum()))
    need = [flight[1], flight[0]]  # per receiver: forward receives what the reverse side sends
    syn: list[SynOptions | None] = list(c.options.syn) if c.options is not None else [None, None]
    shifts = [o.wscale if o is not None and o.wscale >= 0 else -1 for o in syn]
    shift = min(shifts) if min(shifts) >= 0 else 0
    while max(need) >= 65535 << shift and shift < 14:
        shift += 1
    if shift > max(min(shifts), 0):  # negotiate (or raise) the scale on both SYNs
        scaled = [SynOptions(-1, shift, 0, 0) if o is None else o._replace(wscale=max(o.wscale, shift)) for o in syn]
        c = replace(c, options=ConversationOptions((scaled[0], scaled[1])))
        shift = min(o.wscale for o in scaled)
    # more than the run: a window exactly as large as what is in flight is "completely full"
    window = [max(w, min((n >> shift) + 1, 65535)) if n else w for w, n in zip(c.window, need, strict=True)]
    return c if tuple(window) == c.window else replace(c, window=(window[0], window[1]), syn_window=c.window)
