"""Evaluation of synthetic traces: fidelity, downstream utility, privacy, and the HTML report.

Examples
--------
>>> from netdiffus.evaluation import evaluate, write_report       # doctest: +SKIP
>>> result = evaluate(real_train, synthetic, real_test=real_test)  # doctest: +SKIP
>>> result.overall["W1_values"], result.per_class["YouTube/V360"]["ACF"]  # doctest: +SKIP
>>> write_report(result, real_train, synthetic, "runs/eval")       # doctest: +SKIP
"""

from netdiffus.evaluation.suite import DEFAULT_METRICS, METRIC_GROUPS, EvaluationResult, evaluate

__all__ = ["evaluate", "EvaluationResult", "write_report", "METRIC_GROUPS", "DEFAULT_METRICS"]


def __getattr__(name: str):
    # The report pulls in matplotlib: import it only when asked for.
    if name == "write_report":
        from netdiffus.evaluation.report import write_report

        return write_report
    raise AttributeError(name)
