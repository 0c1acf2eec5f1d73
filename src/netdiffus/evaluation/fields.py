"""Fidelity of header fields and flow records: a synthetic capture scored against a real one.

Series metrics (:mod:`netdiffus.evaluation.fidelity`) see bytes and times; intrusion-detection
and flow-based classifiers also read ports, protocols, TTLs, TCP windows and flags, and flow
records. :func:`field_scores` compares those of two captures (:class:`CaptureFields`), one number
per field, 0 for identical distributions:

- categorical fields, ``JSD_<field>``: squared Jensen-Shannon distance (base 2, in [0, 1], as
  :func:`~netdiffus.evaluation.fidelity.jsd`) of the two frequency tables:

  ===================  =========================================================================
  ``protocol``         IP protocol of each flow
  ``server_port``      destination port of each flow (the initiator's peer)
  ``client_port``      source port of each flow: the value below 1024, else ``1024-49151`` or
                       ``49152-65535`` (ephemeral ports are drawn at random: only their range
                       is a property of the traffic)
  ``ttl``              TTL / hop limit of each IP packet
  ``tcp_flags``        TCP flags byte of each TCP packet
  ``tcp_window_fwd``   TCP window of the initiator's first packet, per TCP flow
  ``tcp_window_bwd``   TCP window of the responder's first packet, per TCP flow that has one
  ``tcp_mss``          MSS option of the initiator's SYN and of the responder's SYN-ACK, one
                       value per SYN (SYN-ACK) seen, -1 where absent
  ``tcp_wscale``       window-scale shift of each SYN and SYN-ACK, -1 where absent
  ``tcp_sack_ok``      SACK-permitted in each SYN and SYN-ACK: 0 or 1
  ``tcp_timestamps``   the timestamps option in each SYN and SYN-ACK: 0 or 1
  ===================  =========================================================================

- flow records, ``W1_<field>``: Wasserstein-1 of ``log(1 + x)``, divided by the std of the real
  values (as ``W1_values``): ``flow_packets``, ``flow_bytes`` (IP bytes, both directions) and
  ``flow_duration`` (seconds).

A field neither capture has (no TCP in either) scores NaN; one only one of them has scores 1.

Examples
--------
>>> import io, struct
>>> hdr = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 101)        # raw IP link type
>>> def capture(ttl, dport):
...     ip = bytes([0x45, 0, 0, 28, 0, 0, 0, 0, ttl, 17]) + bytes(2) + bytes([10, 0, 0, 1, 10, 0, 0, 2])
...     pkt = ip + struct.pack(">HHHH", 5353, dport, 8, 0)
...     return io.BytesIO(hdr + struct.pack("<IIII", 1, 0, len(pkt), len(pkt)) + pkt)
>>> real = CaptureFields.read([capture(64, 53)])
>>> scores = field_scores(real, CaptureFields.read([capture(128, 53)]))
>>> scores["JSD_server_port"], scores["JSD_ttl"], scores["W1_flow_bytes"]
(0.0, 1.0, 0.0)
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
from scipy.spatial.distance import jensenshannon

from netdiffus.errors import DatasetError
from netdiffus.evaluation.fidelity import normalised_w1
from netdiffus.evaluation.names import CATEGORICAL_FIELDS, FIELD_METRICS, FLOW_FIELDS
from netdiffus.io.flow_records import FlowRecord, concat_batches, flow_records
from netdiffus.io.pcap import PacketBatch, iter_packet_batches

__all__ = ["CaptureFields", "field_scores", "CATEGORICAL_FIELDS", "FLOW_FIELDS", "FIELD_KEYS", "jsd_counts"]

#: Every key :func:`field_scores` gives, in order (declared with the other metric names).
FIELD_KEYS = FIELD_METRICS

Source = str | os.PathLike[str] | BinaryIO


def _port_class(port: int) -> str:
    """A client port as a category: well-known ports as they are, the others by range."""
    return str(port) if port < 1024 else "1024-49151" if port < 49152 else "49152-65535"


@dataclass
class CaptureFields:
    """What field fidelity reads of one or more captures: the header fields of their IP packets and
    their flow records (:mod:`netdiffus.io.flow_records`).

    Attributes
    ----------
    packets : PacketBatch
        The IP packets, capture by capture.
    flow : ndarray of int64, shape [P]
        The record (index in ``records``) of each packet.
    records : list of FlowRecord
        The flows, capture by capture, each ordered by its first packet.
    """

    packets: PacketBatch
    flow: np.ndarray
    records: list[FlowRecord]

    @classmethod
    def read(cls, sources: Sequence[Source], *, window_s: float | None = None) -> CaptureFields:
        """The fields of the captures ``sources`` (paths or binary files; flows never span two).

        ``window_s``: keep only the packets of each capture sent within this many seconds of its
        first packet (the part a series of that span describes).
        """
        parts = []
        for source in sources:
            b = concat_batches(iter_packet_batches(source))
            if window_s is not None and len(b):
                b = b.take(np.flatnonzero(b.ts_ns - int(b.ts_ns.min()) <= int(window_s * 1e9)))
            b = b.take(np.flatnonzero(b.is_ip))
            parts.append(cls.of_batch(b))
        return cls.concat(parts)

    @classmethod
    def of_batch(cls, packets: PacketBatch) -> CaptureFields:
        """The fields of the packets of one capture (in capture order)."""
        flows = flow_records(packets)
        keep = np.flatnonzero(flows.of_packet >= 0)
        return cls(packets.take(keep), flows.of_packet[keep], flows.records)

    @classmethod
    def concat(cls, parts: Sequence[CaptureFields]) -> CaptureFields:
        """The fields of several captures together."""
        offsets = np.cumsum([0] + [len(p.records) for p in parts])[:-1]
        flow = [p.flow + o for p, o in zip(parts, offsets.tolist(), strict=True)]
        return cls(concat_batches([p.packets for p in parts]),
                   np.concatenate(flow) if flow else np.zeros(0, np.int64), [r for p in parts for r in p.records])

    def subset(self, flows: Sequence[int] | np.ndarray) -> CaptureFields:
        """The flows at positions ``flows`` (in that order) and their packets."""
        flows = np.asarray(flows, np.int64)
        new = np.full(len(self.records), -1, np.int64)
        new[flows] = np.arange(len(flows))
        keep = np.flatnonzero(new[self.flow] >= 0)
        return CaptureFields(self.packets.take(keep), new[self.flow[keep]], [self.records[i] for i in flows.tolist()])

    def categorical(self) -> dict[str, list]:
        """The values of each field of :data:`CATEGORICAL_FIELDS` (one per flow or packet)."""
        p, recs = self.packets, self.records
        tcp = [r for r in recs if r.proto == 6]
        return {
            "protocol": [r.proto for r in recs],
            "server_port": [r.dport for r in recs],
            "client_port": [_port_class(r.sport) for r in recs],
            "ttl": p.ttl[p.ttl >= 0].tolist(),
            "tcp_flags": p.tcp_flags[p.tcp_flags >= 0].tolist(),
            "tcp_window_fwd": [r.fwd_window for r in tcp if r.fwd_window >= 0],
            "tcp_window_bwd": [r.bwd_window for r in tcp if r.bwd_window >= 0],
            **{f"tcp_{name}": [getattr(o, name) for r in tcp for o in (r.fwd_syn, r.bwd_syn) if o.sack_ok >= 0]
               for name in ("mss", "wscale", "sack_ok", "timestamps")},
        }

    def flow_values(self) -> dict[str, np.ndarray]:
        """Per flow: packets, IP bytes and duration (s), the quantities of :data:`FLOW_FIELDS`."""
        recs = self.records
        return {"flow_packets": np.array([r.packets for r in recs], np.float64),
                "flow_bytes": np.array([r.ip_bytes for r in recs], np.float64),
                "flow_duration": np.array([r.duration_us / 1e6 for r in recs], np.float64)}


def jsd_counts(real: Sequence, synthetic: Sequence) -> float:
    """Squared Jensen-Shannon distance (base 2) of the frequency tables of two lists of values.

    NaN if both are empty, 1 if only one is.

    >>> jsd_counts([1, 1, 2, 2], [1, 1, 2, 2]), jsd_counts([1], [2]), jsd_counts([], [3])
    (0.0, 1.0, 1.0)
    """
    if not len(real) and not len(synthetic):
        return math.nan
    if not len(real) or not len(synthetic):
        return 1.0
    a, b = Counter(real), Counter(synthetic)
    keys = sorted(set(a) | set(b), key=str)
    p = np.array([a[k] for k in keys], np.float64)
    q = np.array([b[k] for k in keys], np.float64)
    return max(float(jensenshannon(p, q, base=2) ** 2), 0.0)


def field_scores(real: CaptureFields, synthetic: CaptureFields) -> dict[str, float]:
    """Score every field of ``synthetic`` against ``real`` (keys :data:`FIELD_KEYS`; lower is better).

    Raises
    ------
    DatasetError
        A capture has no flow (no IP packet).
    """
    for name, c in (("real", real), ("synthetic", synthetic)):
        if not c.records:
            raise DatasetError(f"field fidelity needs IP packets in the {name} capture (got none)")
    out: dict[str, float] = {}
    rc, sc = real.categorical(), synthetic.categorical()
    for f in CATEGORICAL_FIELDS:
        out[f"JSD_{f}"] = jsd_counts(rc[f], sc[f])
    rv, sv = real.flow_values(), synthetic.flow_values()
    for f in FLOW_FIELDS:
        out[f"W1_{f}"] = normalised_w1(np.log1p(rv[f]), np.log1p(sv[f]))
    return out
