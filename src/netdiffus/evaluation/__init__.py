"""Evaluation of synthetic traces: fidelity, downstream utility, privacy, and the HTML report.

Examples
--------
The shipped demo traces split by video, scored against a jittered copy of the training set as
a stand-in for a generator's output (``fast=True``: fewer trees):

>>> import tempfile
>>> import numpy as np
>>> from netdiffus.demo import load_demo_dataset
>>> from netdiffus.evaluation import evaluate, write_report
>>> from netdiffus.io.split import split_dataset
>>> real_train, real_test = split_dataset(load_demo_dataset(), group="Vid_[0-9]+_", seed=0)
>>> synthetic = real_train.subset(range(real_train.n_traces))
>>> synthetic.series *= np.random.default_rng(0).lognormal(0, 0.2, synthetic.series.shape)
>>> result = evaluate(real_train, synthetic, real_test=real_test, fast=True)
>>> result.per_class["YouTube/V360"]["n_real"], result.per_class["YouTube/V360"]["n_synthetic"]
(32, 32)

A near-copy of the training set is close in distribution, and the privacy metrics flag it as a
copy (``MIA_AUC`` near 1, where 0.5 is best):

>>> result.overall["W1_values"] < 0.05, result.overall["MIA_AUC"] > 0.9
(True, True)
>>> write_report(result, real_train, synthetic, tempfile.mkdtemp()).name
'report.html'
"""

from netdiffus.evaluation.names import DEFAULT_METRICS, METRIC_GROUPS

__all__ = ["evaluate", "EvaluationResult", "write_report", "METRIC_GROUPS", "DEFAULT_METRICS"]


def __getattr__(name: str):
    # The suite pulls in scikit-learn and scipy, the report matplotlib: import them only when asked
    # for, so that reading the metric names (the command line's choices) stays cheap.
    if name in ("evaluate", "EvaluationResult"):
        from netdiffus.evaluation import suite

        return getattr(suite, name)
    if name == "write_report":
        from netdiffus.evaluation.report import write_report

        return write_report
    raise AttributeError(name)
