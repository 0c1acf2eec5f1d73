"""Post-processing of generated series: values that real traffic counters can take.

Traffic counters are not continuous. A bin holds 0 bytes or at least one packet (``zero snap``),
and where a protocol repeats itself (a device's setup handshake, a DHCP exchange) the same byte
counts and packet sizes recur, exactly, trace after trace. A generator's values land near those
counts, not on them, which a classifier notices at once. Both snaps are fitted on the training
series and applied to generated ones in original units, after the volume calibration below.

- :class:`ZeroSnap` (:func:`zero_thresholds`): per channel, values below the log-midpoint between 0
  and the smallest non-zero training value become 0.
- :class:`TotalsCalibration`: per class, a monotone map of the log volume of each generated trace
  (``log1p`` of its total over channels and bins) that gives a reference draw of the generator
  the training traces' distribution (quantile mapping); each trace is scaled as a whole, its
  shape unchanged. A deterministic sampler draws too narrow a range of session volumes.
- :class:`ValueLexicon`: per class and channel, the non-zero values that at least ``min_traces``
  training traces hold (no value of a single trace is ever reproduced). Where those shared values
  make up at least ``min_coverage`` of the class's non-zero training values (the channel is
  discrete), a generated value within ``tolerance`` (log space) of one of them takes it.
- :class:`ValueRange`: last, per channel, only values a capture can hold: a non-zero value at least
  the smallest non-zero training magnitude, no negative value where no training value is, whole
  numbers where every training value is one.

:class:`Postprocessor` is the fitted chain: the four steps in the order ``sample`` applies them
(calibration, zero snap, value snap, value range), each switched by the ``[postprocess]`` section of
the configuration (:class:`netdiffus.config.PostprocessConfig`), serialised into the run's model.json.

Examples
--------
>>> import numpy as np
>>> train = np.array([[[220.0, 0.0, 342.0]], [[220.0, 60.0, 342.0]], [[220.0, 0.0, 590.0]]])
>>> lex = ValueLexicon.fit(train, ["plug"] * 3)
>>> lex.values["plug"][0].tolist()           # 60 and 590 belong to one trace each: not kept
[220.0, 342.0]
>>> lex.apply(np.array([[[231.0, 0.0, 330.0]], [[5000.0, 1.0, 250.0]]]), ["plug", "plug"])[:, 0].tolist()
[[220.0, 0.0, 342.0], [5000.0, 1.0, 220.0]]
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from netdiffus.config import PostprocessConfig
from netdiffus.errors import CheckpointError, ConfigError

__all__ = ["zero_thresholds", "snap_zeros", "log_volume", "ZeroSnap", "TotalsCalibration", "ValueLexicon",
           "ValueRange", "COUNT_UNITS", "Postprocessor",
           "CALIBRATION_DRAW", "CALIBRATION_SEED", "check_generated", "MAX_GENERATED"]

log = logging.getLogger(__name__)

#: The volume calibration's reference draw: per class twice its training count, clipped to this
#: range (on B1 a draw of one training count moved the fitted map as much as it corrected), from
#: this sample seed (traces ``seed * 1_000_003 + k`` as in ``sample``; the largest valid seed).
CALIBRATION_DRAW = (32, 512)
CALIBRATION_SEED = 2**32 - 1


def log_midpoint(floor: np.ndarray | float) -> np.ndarray:
    """The midpoint between 0 and ``floor`` (the smallest non-zero magnitude) in ``log1p`` space."""
    return np.expm1(np.log1p(np.asarray(floor, dtype=np.float64)) / 2)


def zero_thresholds(series: np.ndarray) -> np.ndarray:
    """Per channel: the log-midpoint between 0 and the smallest non-zero ``|value|`` when the
    channel holds exact zeros, else 0 (nothing snaps). ``series`` ``[N, C, T]`` -> ``[C]``."""
    out = np.zeros(series.shape[1])
    for c in range(series.shape[1]):
        v = np.abs(series[:, c].astype(np.float64))
        if (v == 0).any() and (v > 0).any():
            out[c] = log_midpoint(v[v > 0].min())
    return out


def snap_zeros(series: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Set to 0 every value of ``series`` ``[N, C, T]`` whose magnitude is below its channel's
    threshold (``thresholds`` ``[C]``, from :func:`zero_thresholds`); a new array, float64.

    >>> snap_zeros(np.array([[[3.0, 20.0, -4.0]]]), np.array([9.0])).tolist()
    [[[0.0, 20.0, 0.0]]]
    """
    series = np.asarray(series, dtype=np.float64)
    return np.where(np.abs(series) < np.asarray(thresholds)[None, :, None], 0.0, series)


#: Largest magnitude a generated value may take: it must survive the float32 of a dataset.
MAX_GENERATED = float(np.finfo(np.float32).max)


def check_generated(series: np.ndarray, where: str) -> np.ndarray:
    """``series`` ``[N, C, T]`` if every value is finite and fits in float32; else a
    :class:`~netdiffus.errors.CheckpointError` saying how many traces are not and ``where``: no
    non-finite value is ever written as data.

    >>> check_generated(np.array([[[1.0, np.nan]], [[2.0, 3.0]]]), "from the sampler")
    Traceback (most recent call last):
    ...
    netdiffus.errors.CheckpointError: 1 of 2 generated traces hold non-finite or out-of-range values from the
    sampler; the run folder's weights or fitted state are broken (fit the run again)
    """
    bad = ~(np.abs(series) <= MAX_GENERATED).reshape(len(series), -1).all(axis=1)
    if bad.any():
        raise CheckpointError(f"{int(bad.sum())} of {len(series)} generated traces hold non-finite or out-of-range "
                              f"values {where}; the run folder's weights or fitted state are broken (fit the "
                              "run again)")
    return series


@dataclass
class ZeroSnap:
    """Per channel, generated values whose magnitude is below ``thresholds`` ``[C]`` become 0
    (:func:`zero_thresholds`, :func:`snap_zeros`)."""

    thresholds: np.ndarray

    @classmethod
    def fit(cls, series: np.ndarray) -> ZeroSnap:
        """Thresholds of training ``series`` ``[N, C, T]``."""
        return cls(zero_thresholds(series))

    def apply(self, series: np.ndarray, labels: Sequence[str]) -> np.ndarray:
        """``series`` ``[N, C, T]`` snapped (a new float64 array); ``labels`` are not used."""
        return snap_zeros(series, self.thresholds)


def log_volume(series: np.ndarray) -> np.ndarray:
    """``log1p`` of each trace's total ``|value|`` over channels and bins: ``[N, C, T]`` -> ``[N]``."""
    return np.log1p(np.abs(np.asarray(series, dtype=np.float64)).sum(axis=(1, 2)))


@dataclass
class TotalsCalibration:
    """Per class, a monotone map of log volume that gives generated traces the training distribution.

    Fitted on a reference draw of the generator: between the reference's quantiles at ``LEVELS``
    (5 % to 95 %), a trace's log volume ``v`` (:func:`log_volume`) maps piecewise linearly onto
    the training traces' quantiles at the same levels (quantile mapping; the range widened or
    narrowed at most ``MAX_STRETCH`` times); below the lowest or above the highest it moves by
    that end's shift (never below 0: such a trace becomes empty), so the generator's tails keep
    their shape and no single training trace's volume is stored. Every bin of the trace is
    multiplied by the same factor: its shape, its zero bins and its rank among its class's
    traces are kept.

    Parameters
    ----------
    classes : dict of str to tuple of two ndarray
        ``{class: (generated quantiles, training quantiles)}`` of log volume, both increasing, of
        the same length; a class absent from it is left as generated.

    Examples
    --------
    >>> train = np.array([[[np.expm1(v), 0.0]] for v in (6.0, 8.0, 10.0, 12.0)])
    >>> ref = np.array([[[np.expm1(v) / 2, np.expm1(v) / 2]] for v in (7.5, 8.5, 9.5, 10.5)])  # too narrow
    >>> cal = TotalsCalibration.fit(train, ["tv"] * 4, ref, ["tv"] * 4)
    >>> round(cal.stretch("tv"), 2)
    2.0
    >>> np.round(log_volume(cal.apply(ref, ["tv"] * 4)), 2).tolist()
    [6.15, 8.0, 10.0, 11.85]
    """

    classes: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    #: The quantile levels matched (the ends stay inside the data: no single trace's volume).
    LEVELS = np.linspace(0.05, 0.95, 19)

    #: Largest factor by which the 5-95 % range of a class's log volumes is widened or narrowed;
    #: beyond it the training quantiles are drawn towards their median.
    MAX_STRETCH = 3.0

    @classmethod
    def fit(
        cls,
        train: np.ndarray,
        train_labels: Sequence[str],
        generated: np.ndarray,
        generated_labels: Sequence[str],
    ) -> TotalsCalibration:
        """Map, per class, the log volumes of ``generated`` ``[M, C, T]`` (a reference draw,
        before any snap) onto those of the training series ``train`` ``[N, C, T]``, for the
        classes present in both. Classes with fewer than 2 traces on either side, or no spread
        among the generated ones, are left out."""
        v_train, v_gen = log_volume(train), log_volume(generated)
        lab_t, lab_g = np.asarray(train_labels), np.asarray(generated_labels)
        classes: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for lab in sorted(set(lab_t.tolist()) & set(lab_g.tolist())):
            t, g = v_train[lab_t == lab], v_gen[lab_g == lab]
            if len(t) < 2 or len(g) < 2:
                continue
            # Generated quantiles that tie (a volume many traces share) become one point, mapped
            # onto the mean of their training quantiles.
            g_q, tie = np.unique(np.quantile(g, cls.LEVELS), return_inverse=True)
            if len(g_q) < 2:
                continue
            t_q = np.bincount(tie, weights=np.quantile(t, cls.LEVELS)) / np.bincount(tie)
            # A generator with almost no spread in a class would need a steep map, which would
            # also magnify its numerical noise: the widening (or narrowing) is bounded, about the
            # training median.
            stretch = (t_q[-1] - t_q[0]) / (g_q[-1] - g_q[0])
            bounded = float(np.clip(stretch, 1 / cls.MAX_STRETCH, cls.MAX_STRETCH))
            if stretch != bounded:
                t_q = np.median(t) + (t_q - np.median(t)) * bounded / stretch
            classes[str(lab)] = (g_q, t_q)
        return cls(classes=classes)

    def stretch(self, label: str) -> float:
        """How much wider the training traces' 5-95 % range of log volume is than the reference
        draw's, for ``label`` (1 for a class left out)."""
        if label not in self.classes:
            return 1.0
        g_q, t_q = self.classes[label]
        return float((t_q[-1] - t_q[0]) / (g_q[-1] - g_q[0]))

    def map_log_volume(self, v: np.ndarray, label: str) -> np.ndarray:
        """The calibrated log volumes of ``label``'s traces with log volumes ``v`` ``[n]``."""
        g_q, t_q = self.classes[label]
        mapped = (np.interp(v, g_q, t_q) + np.where(v < g_q[0], v - g_q[0], 0.0)
                  + np.where(v > g_q[-1], v - g_q[-1], 0.0))
        return np.maximum(mapped, 0.0)  # log1p of a total: 0 is an empty trace

    def apply(self, series: np.ndarray, labels: Sequence[str]) -> np.ndarray:
        """``series`` ``[N, C, T]`` with each trace scaled to its calibrated log volume; a new
        array (float64). All-zero traces stay zero."""
        out = np.array(series, dtype=np.float64, copy=True)
        lab_arr = np.asarray(labels)
        total = np.abs(out).sum(axis=(1, 2))
        for lab in self.classes:
            rows = (lab_arr == lab) & (total > 0)
            target = self.map_log_volume(np.log1p(total[rows]), lab)
            out[rows] *= (np.expm1(target) / total[rows])[:, None, None]
        return out

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (model.json keeps it); :meth:`from_json` reads it back."""
        return {"classes": {lab: {"generated": g.tolist(), "training": t.tolist()}
                            for lab, (g, t) in self.classes.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TotalsCalibration:
        return cls(classes={str(lab): (np.asarray(d["generated"], dtype=np.float64),
                                       np.asarray(d["training"], dtype=np.float64))
                            for lab, d in data["classes"].items()})

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, TotalsCalibration) and self.classes.keys() == other.classes.keys()
                and all(np.array_equal(a, b) for lab in self.classes
                        for a, b in zip(self.classes[lab], other.classes[lab], strict=True)))


@dataclass
class ValueLexicon:
    """The shared values of each class and channel, and the rule that snaps generated values to them.

    Parameters
    ----------
    values : dict of str to list of ndarray
        ``{class: [sorted float64 values of channel 0, of channel 1, ...]}``; an empty array
        leaves that class and channel as generated (no shared values, or a continuous channel).
    tolerance : float
        Largest distance in signed log space (``sign(x) * log1p|x|``) at which a generated ``x`` becomes
        the shared value ``v`` (0.5: within a factor of about 1.65).
    """

    values: dict[str, list[np.ndarray]] = field(default_factory=dict)
    tolerance: float = 0.5

    #: Kept per class and channel at most: the values held by the most traces.
    MAX_VALUES = 4096

    @classmethod
    def fit(
        cls,
        series: np.ndarray,
        labels: Sequence[str],
        *,
        min_traces: int = 2,
        min_coverage: float = 0.5,
        tolerance: float = 0.5,
    ) -> ValueLexicon:
        """Collect the shared values of training ``series`` ``[N, C, T]`` with their ``labels``.

        Parameters
        ----------
        min_traces : int
            A value is kept when at least this many traces of the class hold it (>= 2).
        min_coverage : float
            A class's channel is snapped only when its kept values make up at least this fraction
            of its non-zero training values, in [0, 1].
        tolerance : float
            See the class; > 0.
        """
        if isinstance(min_traces, bool) or not isinstance(min_traces, int) or min_traces < 2:
            raise ConfigError(f"min_traces must be an integer >= 2 (got {min_traces!r})")
        if not 0.0 <= min_coverage <= 1.0:
            raise ConfigError(f"min_coverage must be in [0, 1] (got {min_coverage!r})")
        if not tolerance > 0:
            raise ConfigError(f"tolerance must be > 0 (got {tolerance!r})")
        series = np.asarray(series, dtype=np.float64)
        lab_arr = np.asarray(labels)
        values: dict[str, list[np.ndarray]] = {}
        for lab in sorted(set(lab_arr.tolist())):
            rows = series[lab_arr == lab]
            per_channel = []
            for c in range(series.shape[1]):
                x = rows[:, c]
                held = [np.unique(r[r != 0]) for r in x]
                u, n_traces = np.unique(np.concatenate(held), return_counts=True)
                kept = u[n_traces >= min_traces]
                if len(kept) > cls.MAX_VALUES:  # the most widely held, ties to the smaller value
                    order = np.lexsort((kept, -n_traces[n_traces >= min_traces]))
                    kept = np.sort(kept[order[: cls.MAX_VALUES]])
                occurrences = x[x != 0]
                coverage = np.isin(occurrences, kept).mean() if len(occurrences) else 0.0
                per_channel.append(kept if coverage >= min_coverage else np.zeros(0))
            values[str(lab)] = per_channel
        return cls(values=values, tolerance=float(tolerance))

    def apply(self, series: np.ndarray, labels: Sequence[str]) -> np.ndarray:
        """``series`` ``[N, C, T]`` with each non-zero value within ``tolerance`` of a shared value
        of its class and channel replaced by that value (the nearest in log space); a new array."""
        out = np.array(series, dtype=np.float64, copy=True)
        lab_arr = np.asarray(labels)
        for lab, per_channel in self.values.items():
            rows = lab_arr == lab
            if not rows.any():
                continue
            for c, kept in enumerate(per_channel):
                if len(kept) == 0:
                    continue
                x = out[rows, c]
                out[rows, c] = self._snap(x, kept)
        return out

    def _snap(self, x: np.ndarray, kept: np.ndarray) -> np.ndarray:
        """Snap ``x`` (any shape) to the sorted shared values ``kept`` in signed log space
        (``sign(x) * log1p|x|``, monotonic: signed packet sizes keep their direction)."""
        lv = np.sign(kept) * np.log1p(np.abs(kept))
        q = np.sign(x) * np.log1p(np.abs(x))
        hi = np.clip(np.searchsorted(lv, q), 0, len(lv) - 1)
        lo = np.clip(hi - 1, 0, len(lv) - 1)
        best = np.where(np.abs(q - lv[lo]) <= np.abs(q - lv[hi]), lo, hi)
        near = (x != 0) & (np.abs(q - lv[best]) <= self.tolerance)
        return np.where(near, kept[best], x)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (model.json keeps it); :meth:`from_json` reads it back."""
        return {"tolerance": self.tolerance,
                "values": {lab: [v.tolist() for v in chans] for lab, chans in self.values.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ValueLexicon:
        return cls(values={str(lab): [np.asarray(v, dtype=np.float64) for v in chans]
                           for lab, chans in data["values"].items()},
                   tolerance=float(data["tolerance"]))


#: Units of counters: whole numbers (:meth:`ValueRange.public`).
COUNT_UNITS = ("bytes", "packets")


@dataclass
class ValueRange:
    """What a capture's counters can hold, per channel, learned from the training traces: a
    non-zero value is at least the smallest non-zero training magnitude (a header, one packet, one
    packet's bytes), a channel with no negative training value has none, and a channel whose
    training values are all whole numbers (bytes, packets) holds whole numbers.

    Parameters
    ----------
    floor : ndarray
        ``[C]`` the smallest non-zero ``|value|`` of each channel (0: the channel is all zeros).
    zero_ok : ndarray
        ``[C]`` bool, whether the channel holds exact zeros (an empty bin, the padding after a
        trace's end).
    unsigned : ndarray
        ``[C]`` bool, no training value is negative.
    whole : ndarray
        ``[C]`` bool, every training value is a whole number.

    :meth:`apply` moves a non-zero value below ``floor`` to 0 when it lies below the log-midpoint
    between 0 and ``floor`` and the channel holds zeros (as the zero snap does), else to ``floor``
    (its sign kept); sets negative values of an unsigned channel to 0; rounds whole channels.

    >>> vr = ValueRange.fit(np.array([[[0.0, 60.0, 1500.0]], [[0.0, 60.0, 590.0]]]))
    >>> vr.floor.tolist(), vr.whole.tolist()
    ([60.0], [True])
    >>> vr.apply(np.array([[[3.0, 20.0, 771.4]], [[-2.0, 59.6, 0.0]]]), ["a", "a"])[:, 0].tolist()
    [[0.0, 60.0, 771.0], [0.0, 60.0, 0.0]]
    """

    floor: np.ndarray
    zero_ok: np.ndarray
    unsigned: np.ndarray
    whole: np.ndarray

    @classmethod
    def fit(cls, series: np.ndarray) -> ValueRange:
        """The range of training ``series`` ``[N, C, T]``, per channel."""
        x = np.asarray(series, dtype=np.float64).transpose(1, 0, 2).reshape(series.shape[1], -1)
        mag = np.abs(x)
        floor = np.array([m[m > 0].min() if (m > 0).any() else 0.0 for m in mag])
        return cls(floor=floor, zero_ok=np.asarray((x == 0).any(axis=1)), unsigned=np.asarray((x >= 0).all(axis=1)),
                   whole=np.asarray((x == np.round(x)).all(axis=1)))

    @classmethod
    def public(cls, units: Sequence[str], *, signed: bool) -> ValueRange:
        """The range a channel's declared unit alone implies, read from no trace (a private run's):
        a count (``bytes``, ``packets``) holds whole numbers, a non-zero one at least 1, and none
        negative unless the series are ``signed`` (sizes signed by direction); any other unit is
        left as it is.

        >>> vr = ValueRange.public(["bytes", "seconds"], signed=False)
        >>> vr.apply(np.array([[[0.3, 0.6, -4.0, 1499.6], [0.3, 0.6, -4.0, 1.5]]]), ["a"])[0].tolist()
        [[0.0, 1.0, 0.0, 1500.0], [0.3, 0.6, -4.0, 1.5]]
        """
        count = np.array([u in COUNT_UNITS for u in units])
        return cls(floor=count.astype(np.float64), zero_ok=np.ones(len(units), bool), unsigned=count & (not signed),
                   whole=count)

    def apply(self, series: np.ndarray, labels: Sequence[str]) -> np.ndarray:
        """``series`` ``[N, C, T]`` held to the range (a new float64 array); ``labels`` are not used."""
        floor = self.floor[None, :, None]
        out = snap_zeros(series, np.where(self.zero_ok, log_midpoint(self.floor), 0.0))
        small = (out != 0) & (np.abs(out) < floor)
        out = np.where(small, np.sign(out) * floor, out)
        out = np.where(self.unsigned[None, :, None] & (out < 0), 0.0, out)
        return np.where(self.whole[None, :, None], np.round(out), out)

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (model.json keeps it); :meth:`from_json` reads it back."""
        return {"floor": self.floor.tolist(), "zero_ok": self.zero_ok.tolist(), "unsigned": self.unsigned.tolist(),
                "whole": self.whole.tolist()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ValueRange:
        return cls(floor=np.asarray(data["floor"], dtype=np.float64),
                   **{k: np.asarray(data[k], dtype=bool) for k in ("zero_ok", "unsigned", "whole")})

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ValueRange) and all(
            np.array_equal(getattr(self, k), getattr(other, k)) for k in ("floor", "zero_ok", "unsigned", "whole"))


@dataclass
class Postprocessor:
    """The fitted post-processing chain of a run: what ``sample`` applies to generated series.

    Parameters
    ----------
    zero_snap : ZeroSnap
    value_lexicon : ValueLexicon or None
        None for a run saved before value snapping.
    totals_calibration : TotalsCalibration or None
        None when the calibration was off at fit time (or for a run saved before it); fitted
        after training by :meth:`fit_calibration`, from a reference draw of the generator.
    value_range : ValueRange or None
        None for a run saved before it, or a private run (it reads the training traces).
    """

    zero_snap: ZeroSnap
    value_lexicon: ValueLexicon | None = None
    totals_calibration: TotalsCalibration | None = None
    value_range: ValueRange | None = None

    @classmethod
    def fit(cls, series: np.ndarray, labels: Sequence[str]) -> Postprocessor:
        """The steps fitted on the training ``series`` ``[N, C, T]`` alone: zero snap, lexicon and
        value range."""
        return cls(zero_snap=ZeroSnap.fit(series), value_lexicon=ValueLexicon.fit(series, labels),
                   value_range=ValueRange.fit(series))

    def steps(self) -> dict[str, ZeroSnap | TotalsCalibration | ValueLexicon | ValueRange | None]:
        """The chain in the order it is applied, named as the ``[postprocess]`` switches; None
        where a step can change nothing (not fitted, or no value recurs in any class)."""
        lexicon = self.value_lexicon
        holds = lexicon is not None and any(len(v) for chans in lexicon.values.values() for v in chans)
        return {"calibrate_totals": self.totals_calibration, "snap_zeros": self.zero_snap,
                "snap_values": lexicon if holds else None, "possible_values": self.value_range}

    def apply(self, series: np.ndarray, labels: Sequence[str], cfg: PostprocessConfig, *,
              quiet: bool = False) -> tuple[np.ndarray, list[str]]:
        """``series`` ``[N, C, T]`` through every step that ``cfg`` switches on; returns the new
        float64 array and the names of the steps applied. What each step changed is logged (INFO;
        DEBUG when ``quiet``, e.g. for every chunk of a streamed draw but the first)."""
        applied, changed = [], []
        out = np.asarray(series, dtype=np.float64)
        for name, step in self.steps().items():
            if getattr(cfg, name) and step is not None:
                new = check_generated(step.apply(out, labels), f"after postprocess.{name}")
                changed.append(f"{name} {int((new != out).sum())}")
                out = new
                applied.append(name)
        if changed:  # sample says what it corrected
            log.log(logging.DEBUG if quiet else logging.INFO, "post-processing changed values (of %d): %s", out.size,
                    ", ".join(changed))
        return out, applied

    def held_classes(self, *, snap_values: bool) -> set[str]:
        """Classes the value snap holds (a channel whose values recur): left out of the volume
        calibration, since their volume is a count of protocol constants that scaling would move."""
        if not snap_values or self.value_lexicon is None:
            return set()
        return {c for c, chans in self.value_lexicon.values.items() if any(len(v) for v in chans)}

    def calibration_labels(self, class_counts: Mapping[str, int], *, snap_values: bool) -> list[str]:
        """Labels of the calibration's reference draw: per class not held by the value snap, twice
        its training count within ``CALIBRATION_DRAW``."""
        held = self.held_classes(snap_values=snap_values)
        counts = {c: int(np.clip(2 * k, *CALIBRATION_DRAW)) for c, k in class_counts.items() if c not in held}
        if counts:
            log.info("calibrating volumes: drawing %d reference traces of %d class(es)", sum(counts.values()),
                     len(counts))
        return [c for c, k in counts.items() for _ in range(k)]

    def fit_calibration(self, train: np.ndarray, train_labels: Sequence[str], reference: np.ndarray,
                        reference_labels: Sequence[str], *, snap_values: bool) -> Postprocessor:
        """Fit :attr:`totals_calibration` to the training series ``train`` ``[N, C, T]`` from a
        reference draw ``reference`` ``[M, C, T]`` (labels from :meth:`calibration_labels`)."""
        cal = self.totals_calibration = TotalsCalibration.fit(train, train_labels, reference, reference_labels)
        held = self.held_classes(snap_values=snap_values)
        kept = f"{len(held)} class(es) held by the value snap left as generated" if held else ""
        if not len(reference_labels):
            log.info("volume calibration: no class to calibrate%s", f" ({kept})" if kept else "")
        else:
            log.info("volume calibration from %d reference traces: 5-95 %% range of log volume x %s%s",
                     len(reference_labels), ", ".join(f"{c} {cal.stretch(c):.2f}" for c in cal.classes),
                     f"; {kept}" if kept else "")
        return self

    def to_json(self) -> dict[str, Any]:
        """A JSON-able dict (model.json keeps it); :meth:`from_json` reads it back."""
        return {"zero_threshold": self.zero_snap.thresholds.tolist(),
                "value_lexicon": None if self.value_lexicon is None else self.value_lexicon.to_json(),
                "totals_calibration": (None if self.totals_calibration is None
                                       else self.totals_calibration.to_json()),
                "value_range": None if self.value_range is None else self.value_range.to_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, channels: int | None = None,
                  classes: Sequence[str] | None = None) -> Postprocessor:
        """Read :meth:`to_json`'s output, checking that every number is finite and every array has
        its shape (``channels`` thresholds; classes among ``classes`` when given).

        Raises
        ------
        ValueError
            Naming the first value that is not as saved (a tampered run folder).
        """
        lexicon, calibration, span = data.get("value_lexicon"), data.get("totals_calibration"), data.get("value_range")
        post = cls(zero_snap=ZeroSnap(np.asarray(data["zero_threshold"], dtype=np.float64)),
                   value_lexicon=None if lexicon is None else ValueLexicon.from_json(lexicon),
                   totals_calibration=None if calibration is None else TotalsCalibration.from_json(calibration),
                   value_range=None if span is None else ValueRange.from_json(span))
        post._check(channels=channels, classes=classes)
        return post

    def _check(self, *, channels: int | None, classes: Sequence[str] | None) -> None:
        thr = self.zero_snap.thresholds
        shape_ok = thr.ndim == 1 and (channels is None or len(thr) == channels)
        if not shape_ok or not (np.isfinite(thr) & (thr >= 0)).all():
            raise ValueError(f"zero_threshold must be {channels or 'C'} finite values >= 0 (got {thr.tolist()[:8]})")
        known = None if classes is None else set(classes)
        span = self.value_range
        if span is not None and not (all(a.ndim == 1 and a.shape == thr.shape for a in
                                         (span.floor, span.zero_ok, span.unsigned, span.whole))
                                     and (np.isfinite(span.floor) & (span.floor >= 0)).all()):
            raise ValueError(f"value_range.floor must be {len(thr)} finite values >= 0 with one zero_ok, unsigned "
                             f"and whole flag each (got {span.floor.tolist()[:8]})")
        if self.value_lexicon is not None:
            lex = self.value_lexicon
            if not (np.isfinite(lex.tolerance) and lex.tolerance > 0):
                raise ValueError(f"value_lexicon.tolerance must be a finite number > 0 (got {lex.tolerance})")
            for lab, chans in lex.values.items():
                if (known is not None and lab not in known) or (channels is not None and len(chans) != channels) \
                        or not all(v.ndim == 1 and np.isfinite(v).all() for v in chans):
                    raise ValueError(f"value_lexicon of class {lab!r} must hold one list of finite values per channel "
                                     "of a trained class")
        for lab, (g_q, t_q) in (self.totals_calibration.classes.items() if self.totals_calibration else ()):
            if (known is not None and lab not in known) or g_q.ndim != 1 or g_q.shape != t_q.shape \
                    or len(g_q) < 2 or not (np.isfinite(g_q).all() and np.isfinite(t_q).all()) \
                    or not (np.diff(g_q) > 0).all():
                raise ValueError(f"totals_calibration of class {lab!r} must map increasing finite quantiles onto "
                                 "finite ones, of a trained class")
