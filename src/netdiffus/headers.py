"""The header model: learned header fields for exported traces, conditioned on the class and the series.

:class:`HeaderModel` is a class-conditional categorical model over the joint header tuple of a
trace (:class:`~netdiffus.io.headers.TraceHeader`: its flows' transports, server ports, client
port classes, packet shares, TTLs, TCP windows, shared server ids, durations, PSH and pure-ACK
shares, the SYN's and SYN-ACK's TCP options: MSS, window scale, SACK-permitted, timestamps, and the
flows' bytes classes),
conditioned also on a summary of the trace's series: the quantile bucket of its volume
(sum of the series) within its class. :meth:`HeaderModel.sample` draws a header for each
generated trace from the training tuples of its class and volume bucket (backing off to the whole
class with probability ``backoff``, or when the bucket holds no tuple; to every class for a class
never seen), with one random generator per trace keyed by ``(seed, k)``: trace k's header depends
only on the seed, k, its label and its volume.

Privacy: a value of a field seen in fewer than ``min_traces`` training traces is generalised
before any tuple is kept: a server port becomes its IANA range (well-known, registered, dynamic:
a port of that range is drawn at sampling), a TTL the initial TTL at or above it (32, 64, 128,
255), a TCP window the power of two at or below it, a flow duration class (a power of two of
microseconds) and a flow's bytes class the power of 16 at or below it, a server id "not shared"
(the flow gets a server of its own), an MSS the common MSS at or below it (:data:`COMMON_MSS`).
The pure-ACK and PSH shares, the window-scale shifts (0 to 14) and the SACK-permitted and
timestamps flags (0 or 1) are kept as recorded. A header record written before the SYN options
(version 2) reads with them unknown (-1): export then writes SYNs without options; one before the
flow bytes (version 3), with them unknown (-1): export leaves its flows' sizes as cut. The tuples
themselves are those of training traces (after generalising): see docs/privacy.md. Under
differential privacy the model is not fitted (it reads the training traces outside the budget):
export then writes its data-independent defaults.

Saved as JSON (:meth:`HeaderModel.to_json`), no pickles.

Examples
--------
>>> from netdiffus.io.headers import FlowHeader, TraceHeader
>>> web = TraceHeader(4, (FlowHeader("tcp", 443, 49152, 10, 64, 58, 65535, 29200, 0, 30),))
>>> dns = TraceHeader(4, (FlowHeader("udp", 53, 49152, 2, 64, 64, -1, -1, 1, -1),))
>>> model = HeaderModel(min_traces=1).fit(headers=[web, dns, web], labels=["a", "b", "a"],
...                                       volumes=[100.0, 5.0, 90.0])
>>> model.sample(labels=["a", "b"], volumes=[95.0, 5.0], seed=0) == [web, dns]
True
>>> HeaderModel.from_json(model.to_json()).sample(labels=["a"], volumes=[1.0], seed=3) == [web]
True
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from netdiffus.errors import ConfigError, DatasetError
from netdiffus.io.dataset import TraceDataset
from netdiffus.io.headers import FlowHeader, TraceHeader

log = logging.getLogger(__name__)

__all__ = ["HeaderModel", "MODEL_VERSION", "PORT_RANGES", "INITIAL_TTLS", "COMMON_MSS", "fit_header_model"]

#: The version :meth:`HeaderModel.to_json` writes.
MODEL_VERSION = 1
#: A generalised server port, stored as ``-(k + 1)``, is drawn from range k.
PORT_RANGES = ((1, 1023), (1024, 49151), (49152, 65535))
#: Initial TTLs a rare TTL is generalised to (the first at or above it).
INITIAL_TTLS = (32, 64, 128, 255)
#: MSS values a rare MSS is generalised to (the largest at or below it; below all: the first):
#: the IPv4 minimum, IPv6 paths and tunnels, Ethernet, jumbo frames.
COMMON_MSS = (536, 1220, 1360, 1440, 1460, 8960)


def _port_range(port: int) -> int:
    return -(1 if port < 1024 else 2 if port < 49152 else 3)


def _ttl_up(ttl: int) -> int:
    return ttl if ttl < 0 else next(t for t in INITIAL_TTLS if t >= ttl)


def _pow2_down(window: int) -> int:
    return window if window <= 0 else 1 << (int(window).bit_length() - 1)


def _mss_down(mss: int) -> int:
    return mss if mss < 0 else max([m for m in COMMON_MSS if m <= mss], default=COMMON_MSS[0])


def _pow16_down(duration_us: int) -> int:
    return duration_us if duration_us <= 0 else 1 << (4 * ((int(duration_us).bit_length() - 1) // 4))


class HeaderModel:
    """Class- and volume-conditional categorical model of trace headers.

    Parameters
    ----------
    min_traces : int
        A field value seen in fewer training traces than this is generalised (privacy).
    n_buckets : int
        Volume quantile buckets per class (1: conditioned on the class only).
    backoff : float
        Probability of drawing from the whole class instead of the trace's volume bucket.

    Attributes
    ----------
    classes_ : dict
        Per label: ``edges`` (volume bucket edges, [n_buckets - 1]) and ``tuples``: a list of
        ``(bucket, count, TraceHeader)``.
    """

    def __init__(self, *, min_traces: int = 3, n_buckets: int = 3, backoff: float = 0.1) -> None:
        self.min_traces = min_traces
        self.n_buckets = n_buckets
        self.backoff = backoff
        self.classes_: dict[str, dict[str, Any]] = {}

    def _check(self) -> None:
        for name, value, lo in (("min_traces", self.min_traces, 1), ("n_buckets", self.n_buckets, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                raise ConfigError(f"{name} must be an integer >= {lo} (got {value!r})")
        if not 0.0 <= self.backoff <= 1.0:
            raise ConfigError(f"backoff must be in [0, 1] (got {self.backoff!r})")

    # -- fit ---------------------------------------------------------------------------------------
    def fit(self, *, headers: Sequence[TraceHeader | None], labels: Sequence[str],
            volumes: Sequence[float]) -> HeaderModel:
        """Fit on training traces: their headers, labels and series volumes (each [N]); a trace
        without a header (None: no IP packet) is left out.

        Raises
        ------
        DatasetError
            The three lists differ in length, or are empty.
        """
        self._check()
        if not (len(headers) == len(labels) == len(volumes)) or not any(h is not None for h in headers):
            raise DatasetError(f"headers, labels and volumes must be lists of one length with a header "
                               f"(got {len(headers)}, {len(labels)}, {len(volumes)})")
        kept = [i for i, h in enumerate(headers) if h is not None]
        general = dict(zip(kept, self._generalise([headers[i] for i in kept]), strict=True))  # type: ignore[misc]
        vol = np.asarray(volumes, np.float64)
        self.classes_ = {}
        for lab in sorted({labels[i] for i in kept}):
            rows = [i for i in kept if labels[i] == lab]
            q = np.linspace(0, 1, self.n_buckets + 1)[1:-1]
            edges = np.quantile(vol[rows], q).tolist() if len(q) else []
            counts = Counter((int(np.searchsorted(edges, vol[i], side="right")), general[i]) for i in rows)
            tuples = [(b, c, h) for (b, h), c in sorted(counts.items(), key=lambda x: (x[0][0], _key(x[0][1])))]
            self.classes_[lab] = {"edges": edges, "tuples": tuples}
        return self

    def _generalise(self, headers: Sequence[TraceHeader]) -> list[TraceHeader]:
        """Each header with the field values seen in fewer than ``min_traces`` traces generalised."""
        seen: dict[str, Counter] = defaultdict(Counter)
        for h in headers:  # a value counts once per trace that holds it
            for name in ("server_port", "ttl_fwd", "ttl_bwd", "window_fwd", "window_bwd", "server_id", "duration_us",
                         "mss_fwd", "mss_bwd", "bytes_class"):
                seen[name].update({getattr(f, name) for f in h.flows})
        rare = {k: {v for v, c in cnt.items() if c < self.min_traces} for k, cnt in seen.items()}

        def one(f: FlowHeader) -> FlowHeader:
            g = lambda name, fn: fn(getattr(f, name)) if getattr(f, name) in rare[name] else getattr(f, name)  # noqa: E731
            return dataclasses.replace(
                f, server_port=g("server_port", _port_range), ttl_fwd=g("ttl_fwd", _ttl_up),
                ttl_bwd=g("ttl_bwd", _ttl_up), window_fwd=g("window_fwd", _pow2_down),
                window_bwd=g("window_bwd", _pow2_down), server_id=g("server_id", lambda _: -1),
                duration_us=g("duration_us", _pow16_down), mss_fwd=g("mss_fwd", _mss_down),
                mss_bwd=g("mss_bwd", _mss_down), bytes_class=g("bytes_class", _pow16_down))

        return [TraceHeader(h.ip_version, tuple(one(f) for f in h.flows)) for h in headers]

    # -- sample ------------------------------------------------------------------------------------
    def sample(self, *, labels: Sequence[str], volumes: Sequence[float], seed: int,
               first: int = 0) -> list[TraceHeader]:
        """A header for each trace of labels and series volumes ``[N]``; trace k's draw (k from
        ``first``: the traces of a draw's later chunk) uses the generator ``default_rng([seed, k])``
        only.

        Raises
        ------
        ConfigError
            The model is not fitted, or ``labels`` and ``volumes`` differ in length.
        """
        if not self.classes_:
            raise ConfigError("the header model is not fitted: call fit first")
        if len(labels) != len(volumes):
            raise ConfigError(f"labels and volumes must have one length (got {len(labels)}, {len(volumes)})")
        every = [t for c in self.classes_.values() for t in c["tuples"]]
        out = []
        for k, (lab, vol) in enumerate(zip(labels, volumes, strict=True), start=first):
            rng = np.random.default_rng([seed, k])
            cls = self.classes_.get(lab)
            pool = every if cls is None else cls["tuples"]
            if cls is not None and rng.random() >= self.backoff:
                bucket = int(np.searchsorted(cls["edges"], float(vol), side="right"))
                pool = [t for t in pool if t[0] == bucket] or pool
            w = np.array([t[1] for t in pool], np.float64)
            h = pool[int(rng.choice(len(pool), p=w / w.sum()))][2]
            out.append(_draw_ports(h, rng))
        return out

    # -- JSON --------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {"version": MODEL_VERSION, "min_traces": self.min_traces, "n_buckets": self.n_buckets,
                "backoff": self.backoff,
                "classes": {lab: {"edges": c["edges"], "tuples": [[b, n, h.to_json()] for b, n, h in c["tuples"]]}
                            for lab, c in self.classes_.items()}}

    @classmethod
    def from_json(cls, obj: Any) -> HeaderModel:
        """Read :meth:`to_json`'s output.

        Raises
        ------
        DatasetError
            Not a header model of this version.
        """
        if not isinstance(obj, dict) or obj.get("version") != MODEL_VERSION or not isinstance(obj.get("classes"), dict):
            raise DatasetError(f"a header model must be {{'version': {MODEL_VERSION}, 'classes': {{...}}, ...}} "
                               f"(got {str(obj):.80})")
        try:
            model = cls(min_traces=obj["min_traces"], n_buckets=obj["n_buckets"], backoff=obj["backoff"])
            model._check()
            model.classes_ = {
                str(lab): {"edges": [float(e) for e in c["edges"]],
                           "tuples": [(int(b), int(n), TraceHeader.from_json(h)) for b, n, h in c["tuples"]]}
                for lab, c in obj["classes"].items()}
        except (KeyError, TypeError, ValueError, ConfigError) as exc:
            raise DatasetError(f"a header model is malformed: {exc}") from None
        return model


def fit_header_model(dataset: TraceDataset, *, private: bool) -> HeaderModel | None:
    """The header model of a training set: fitted on its header records (``prepare --headers``)
    with its labels and series volumes; None when it has none, or for a ``private`` (DP) fit,
    whose header fields are then export's data-independent defaults (logged)."""
    if dataset.headers is None or not any(h is not None for h in dataset.headers):
        return None
    if private:
        log.info("a private fit learns no header fields (they would read the training traces outside the "
                 "budget): export writes its defaults")
        return None
    volumes = dataset.series.reshape(dataset.n_traces, -1).sum(axis=1).tolist()
    return HeaderModel().fit(headers=dataset.headers, labels=dataset.labels, volumes=volumes)


def _key(h: TraceHeader) -> str:
    return json.dumps(h.to_json())


def _draw_ports(h: TraceHeader, rng: np.random.Generator) -> TraceHeader:
    """``h`` with each generalised server port (a range, stored negative) drawn from its range."""
    flows = []
    for f in h.flows:
        if f.server_port < 0:
            lo, hi = PORT_RANGES[-f.server_port - 1]
            f = dataclasses.replace(f, server_port=int(rng.integers(lo, hi + 1)))
        flows.append(f)
    return TraceHeader(h.ip_version, tuple(flows))
