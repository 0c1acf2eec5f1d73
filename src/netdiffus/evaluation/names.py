"""The names :func:`~netdiffus.evaluation.evaluate` takes and gives: metric groups and metrics.

Names only, no computation: the command line takes its choices from here without loading
scikit-learn, scipy or matplotlib.

>>> METRIC_GROUPS
('fidelity', 'discriminative', 'rf', 'privacy', 'curve', 'cnn')
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = ["MetricGroup", "METRIC_GROUPS", "MetricPreset", "METRIC_PRESETS", "DEFAULT_METRICS", "LOWER_IS_BETTER",
           "CATEGORICAL_FIELDS", "FLOW_FIELDS", "FIELD_METRICS"]

#: A group of metrics computed together; every group, in the order they run.
#: ``curve``: random-forest accuracy against the number of real training traces
#: (:mod:`netdiffus.evaluation.curve`).
MetricGroup = Literal["fidelity", "discriminative", "rf", "privacy", "curve", "cnn"]
METRIC_GROUPS: tuple[MetricGroup, ...] = get_args(MetricGroup)
#: Names for sets of groups: ``default`` (every group but the slower GASF CNN) and ``all``.
MetricPreset = Literal["default", "all"]
METRIC_PRESETS: tuple[MetricPreset, ...] = get_args(MetricPreset)
#: Groups of ``metrics="default"``: everything except the (slower) GASF CNN.
DEFAULT_METRICS: tuple[MetricGroup, ...] = tuple(g for g in METRIC_GROUPS if g != "cnn")

#: Header fields of captures scored by JSD, and flow-record quantities scored by W1
#: (:mod:`netdiffus.evaluation.fields`); their metrics are ``JSD_<field>`` and ``W1_<field>``.
CATEGORICAL_FIELDS = ("protocol", "server_port", "client_port", "ttl", "tcp_flags", "tcp_window_fwd",
                      "tcp_window_bwd", "tcp_mss", "tcp_wscale", "tcp_sack_ok", "tcp_timestamps")
FLOW_FIELDS = ("flow_packets", "flow_bytes", "flow_duration")
FIELD_METRICS = tuple(f"JSD_{f}" for f in CATEGORICAL_FIELDS) + tuple(f"W1_{f}" for f in FLOW_FIELDS)

#: Metrics where lower is better (the rest: higher is better, except MIA_AUC: 0.5 is best).
LOWER_IS_BETTER = ("W1_values", "W1_totals", "JSD", "ACF", "discriminative", "FD", "GASF_consistency", "impossible",
                   "length_W1",
                   *FIELD_METRICS)
