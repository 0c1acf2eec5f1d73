"""The evaluation report: ``metrics.json`` and one self-contained ``report.html``.

The HTML file embeds every plot as a base64 PNG and needs no server, script or network to read.
The figures draw on their own Agg canvas (matplotlib's object-oriented API, no pyplot), so
importing this module sets no global backend. Plots, per class (the first ``max_classes`` classes): mean and
10-90 % band of real vs synthetic series, a few random real and synthetic traces, GASF images of
a real and a synthetic trace side by side, histograms of log values and of log per-trace totals,
and the mean autocorrelation (lags 1..10). Then the metric table (with baselines, when given), the
accuracy against the number of real training traces (with a real test set) and the per-class
table. With a real test set both tables carry the real held-out reference beside the synthetic
set (``result.reference``, :mod:`netdiffus.evaluation.reference`).

Examples
--------
>>> import tempfile
>>> import numpy as np
>>> from netdiffus.evaluation import evaluate
>>> from netdiffus.io.dataset import TraceDataset
>>> rng = np.random.default_rng(0)
>>> def make(n):
...     x = np.concatenate([rng.lognormal(3, 0.5, (n, 1, 12)), rng.lognormal(6, 0.5, (n, 1, 12))])
...     return TraceDataset(series=x, labels=["a"] * n + ["b"] * n, ids=[str(i) for i in range(2 * n)],
...                         sources=[""] * (2 * n))
>>> real_train, synthetic = make(10), make(10)
>>> result = evaluate(real_train, synthetic, metrics=["fidelity"])
>>> path = write_report(result, real_train, synthetic, tempfile.mkdtemp())
>>> path.name, sorted(p.name for p in path.parent.iterdir())
('report.html', ['metrics.json', 'report.html'])
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from netdiffus.evaluation.curve import AccuracyCurve
from netdiffus.evaluation.features import log1p_abs, log_totals
from netdiffus.evaluation.fidelity import acf
from netdiffus.evaluation.names import FIELD_METRICS, LOWER_IS_BETTER
from netdiffus.evaluation.reference import REFERENCE_LABEL
from netdiffus.evaluation.suite import EvaluationResult
from netdiffus.imaging import SeriesScaler, gasf
from netdiffus.imaging.scaling import ScalingMode
from netdiffus.io.dataset import TraceDataset
from netdiffus.io.outputs import output_files
from netdiffus.privacy import PrivacyRecord

__all__ = ["write_report", "metrics_table_markdown"]

REAL_COLOUR = "#1f77b4"
SYN_COLOUR = "#d62728"

# Column order of the metric tables; other keys follow in their own order.
TABLE_ORDER = (
    "W1_values", "W1_totals", "JSD", "ACF", "discriminative", "mode_coverage", "length_W1", "impossible",
    "TRTR_acc", "TSTR_acc", "TRSTR_acc", "TRTR_f1", "TSTR_f1", "TRSTR_f1",
    "CNN_TRTR_acc", "CNN_TSTR_acc", "CNN_TRSTR_acc", "CNN_TRTR_f1", "CNN_TSTR_f1", "CNN_TRSTR_f1",
    "FD", "GASF_consistency", "AUROC_real", "AUROC_synthetic", "AUROC_both", "DCR_ratio", "MIA_AUC",
)  # fmt: skip


def _ordered_keys(rows: Mapping[str, Mapping[str, float]]) -> list[str]:
    keys: list[str] = []
    for r in rows.values():
        for k in r:
            if k not in keys:
                keys.append(k)
    first = [k for k in TABLE_ORDER if k in keys]
    return first + [k for k in keys if k not in first]


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):  # counts
        return str(v)
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if not math.isfinite(f):
        return "–"
    return f"{f:.3f}"


def metrics_table_markdown(rows: Mapping[str, Mapping[str, float]], *, keys: list[str] | None = None) -> str:
    """A markdown table, one row per entry of ``rows`` (``{name: {metric: value}}``)."""
    keys = keys or _ordered_keys(rows)
    lines = ["| generator | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for name, r in rows.items():
        lines.append(f"| {name} | " + " | ".join(_fmt(r.get(k)) for k in keys) + " |")
    return "\n".join(lines)


def _html_table(rows: Mapping[str, Mapping[str, Any]], *, first: str, names: Mapping[str, str] | None = None,
                references: frozenset[str] = frozenset()) -> str:
    """A table, one row per entry of ``rows``; ``names`` relabels rows, ``references`` are set apart."""
    keys = _ordered_keys(rows)
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    body = []
    for name, r in rows.items():
        cells = "".join(f"<td>{_fmt(r.get(k))}</td>" for k in keys)
        shown = html.escape(str((names or {}).get(name, name)))
        body.append(f"<tr class='reference'><th>{shown}</th>{cells}</tr>" if name in references else
                    f"<tr><th>{shown}</th>{cells}</tr>")  # fmt: skip
    return f"<table><tr><th>{html.escape(first)}</th>{head}</tr>{''.join(body)}</table>"


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    return '<img alt="plot" src="data:image/png;base64,' + base64.b64encode(buf.getvalue()).decode() + '">'


def _grid(n: int, ncols: int = 4, size: tuple[float, float] = (3.6, 2.4)) -> tuple[Figure, np.ndarray]:
    """A figure of ``n`` panels, ``ncols`` a row, each ``size`` inches; the panels as a flat array.

    The figure draws on its own Agg canvas: no pyplot, no global backend, nothing to close.
    """
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    fig = Figure(figsize=(size[0] * ncols, size[1] * nrows))
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    return fig, axes.ravel()


def _legend(fig: Figure) -> None:
    """One legend for the figure: the first panel may lack a synthetic class."""
    handles = [Line2D([], [], color=REAL_COLOUR, label="real"), Line2D([], [], color=SYN_COLOUR, label="synthetic")]
    fig.legend(handles=handles, loc="upper right", fontsize=8, frameon=False)


def _value_label(ds: TraceDataset) -> str:
    """``bytes per 2 s bin``, or as much of it as the metadata gives."""
    unit = ds.meta.unit or "value"
    width = ds.meta.bin_width_s
    return f"{unit} per {width:g} s bin" if width else f"{unit} per bin"


def _channel_note(ds: TraceDataset) -> str:
    """How the plots tell channels apart: `` (solid: bytes_to_host, dashed: bytes_from_host)``."""
    if ds.n_channels < 2:
        return ""
    names = list(ds.meta.channels)
    if len(names) != ds.n_channels:
        return " (solid: first channel, dashed: the others)"
    return f" (solid: {names[0]}, dashed: {', '.join(names[1:])})"


def _by_class(ds: TraceDataset, c: str) -> np.ndarray:
    return ds.series[ds.label_array() == c].astype(np.float64)


def _plot_bands(real: TraceDataset, syn: TraceDataset, classes: list[str], unit: str) -> str:
    nch = real.n_channels
    fig, axes = _grid(len(classes) * nch)
    for i, c in enumerate(classes):
        r, s = _by_class(real, c), _by_class(syn, c)
        for ch in range(nch):
            ax = axes[i * nch + ch]
            for x, colour, name in ((r, REAL_COLOUR, "real"), (s, SYN_COLOUR, "synthetic")):
                if len(x) == 0:
                    continue
                t = np.arange(x.shape[2])
                ax.plot(t, x[:, ch].mean(axis=0), color=colour, label=name)
                lo, hi = np.percentile(x[:, ch], [10, 90], axis=0)
                ax.fill_between(t, lo, hi, color=colour, alpha=0.2)
            title = c if nch == 1 else f"{c} [{real.meta.channels[ch]}]"
            ax.set_title(title, fontsize=9, parse_math=False)
            ax.set_xlabel("bin", fontsize=8, parse_math=False)
            ax.set_ylabel(_value_label(real) if unit else "value", fontsize=8, parse_math=False)
            ax.tick_params(labelsize=7)
            ax.yaxis.get_offset_text().set_fontsize(6)
    fig.tight_layout()
    _legend(fig)
    fig.suptitle("Mean and 10-90 % band per bin", fontsize=10, parse_math=False, y=1.02)
    return _png(fig)


def _plot_samples(real: TraceDataset, syn: TraceDataset, classes: list[str], k: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    fig, axes = _grid(len(classes) * 2, ncols=4)
    for i, c in enumerate(classes):
        for j, (ds, colour, name) in enumerate(((real, REAL_COLOUR, "real"), (syn, SYN_COLOUR, "synthetic"))):
            ax = axes[2 * i + j]
            x = _by_class(ds, c)
            for idx in rng.choice(len(x), min(k, len(x)), replace=False) if len(x) else []:
                for ch in range(x.shape[1]):
                    ax.plot(x[idx, ch], color=colour, alpha=0.7, lw=0.9, ls="-" if ch == 0 else "--")
            ax.set_title(f"{c}: {name}", fontsize=9, parse_math=False)
            ax.set_xlabel("bin", fontsize=8, parse_math=False)
            ax.set_ylabel(_value_label(real), fontsize=8, parse_math=False)
            ax.tick_params(labelsize=7)
            ax.yaxis.get_offset_text().set_fontsize(6)
    fig.tight_layout()
    note = _channel_note(real)
    fig.suptitle(f"{k} random traces per class{note}", fontsize=10, parse_math=False, y=1.02)
    return _png(fig)


def _plot_gasf(real: TraceDataset, syn: TraceDataset, classes: list[str], seed: int) -> str:
    mode: ScalingMode = "global-linear" if np.any(real.series < 0) else "global-log"
    scaler = SeriesScaler(mode=mode).fit(real.series)
    rng = np.random.default_rng(seed)
    nch = real.n_channels
    fig, axes = _grid(len(classes) * 2 * nch, ncols=4, size=(2.6, 2.6))
    for i, c in enumerate(classes):
        for j, (ds, name) in enumerate(((real, "real"), (syn, "synthetic"))):
            x = _by_class(ds, c)
            imgs = gasf(scaler.transform(x[rng.integers(len(x))][None]))[0] if len(x) else None  # [C, T, T]
            for ch in range(nch):  # every channel of the same trace side by side
                ax = axes[(2 * i + j) * nch + ch]
                ax.set_xticks([])
                ax.set_yticks([])
                ax.set_title(f"{c}: {name}" + (f"\n{real.meta.channels[ch]}" if nch > 1 else ""), fontsize=8,
                             parse_math=False)
                if imgs is not None:
                    ax.imshow(imgs[ch], cmap="rainbow", vmin=-1, vmax=1, origin="lower")
    fig.tight_layout()
    fig.suptitle(f"GASF images (scaling {mode} fitted on real)", fontsize=10, parse_math=False, y=1.02)
    return _png(fig)


def _plot_hist(real: TraceDataset, syn: TraceDataset, classes: list[str], *, totals: bool) -> str:
    fig, axes = _grid(len(classes))
    for i, c in enumerate(classes):
        ax = axes[i]
        r, s = _by_class(real, c), _by_class(syn, c)
        a = log_totals(r) if totals else log1p_abs(r).ravel()
        b = log_totals(s) if totals and len(s) else (log1p_abs(s).ravel() if len(s) else np.array([]))
        edges = np.histogram_bin_edges(np.r_[a, b] if len(b) else a, bins=40)
        ax.hist(a, bins=edges, density=True, alpha=0.5, color=REAL_COLOUR, label="real")
        if len(b):
            ax.hist(b, bins=edges, density=True, alpha=0.5, color=SYN_COLOUR, label="synthetic")
        ax.set_title(c, fontsize=9, parse_math=False)
        ax.set_ylabel("density", fontsize=8, parse_math=False)
        ax.tick_params(labelsize=7)
    fig.tight_layout()  # else with more than one row a title overlaps the tick labels above it
    _legend(fig)
    what = "log1p(per-trace total)" if totals else "log1p(|value|) of every bin"
    if real.n_channels > 1:
        what += ", channels pooled"
    fig.suptitle(f"Histograms of {what}", fontsize=10, parse_math=False, y=1.02)
    return _png(fig)


def _plot_acf(real: TraceDataset, syn: TraceDataset, classes: list[str]) -> str:
    fig, axes = _grid(len(classes))
    for i, c in enumerate(classes):
        ax = axes[i]
        for ds, colour, name in ((real, REAL_COLOUR, "real"), (syn, SYN_COLOUR, "synthetic")):
            x = _by_class(ds, c)
            if len(x) == 0:
                continue
            a = acf(x).mean(axis=0)  # [C, lags]
            for ch in range(a.shape[0]):
                ax.plot(np.arange(1, a.shape[1] + 1), a[ch], marker="o", ms=3, color=colour,
                        ls="-" if ch == 0 else "--", label=name if ch == 0 else None)  # fmt: skip
        ax.set_title(c, fontsize=9, parse_math=False)
        ax.set_xlabel("lag (bins)", fontsize=8, parse_math=False)
        ax.set_ylabel("autocorrelation", fontsize=8, parse_math=False)
        ax.tick_params(labelsize=7)
    fig.tight_layout()  # else with more than one row a title overlaps the x label above it
    _legend(fig)
    note = _channel_note(real)
    fig.suptitle(f"Mean autocorrelation, lags 1-10{note}", fontsize=10, parse_math=False, y=1.02)
    return _png(fig)


def _plot_curve(curve: AccuracyCurve) -> str:
    """Test accuracy against the real training traces: real only, real + synthetic, synthetic only."""
    fig = Figure(figsize=(6.0, 3.6))
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    n = np.asarray(curve.n_real, dtype=float)
    for mean, sd, colour, name in ((curve.real, curve.real_sd, REAL_COLOUR, "real only"),
                                   (curve.real_synthetic, curve.real_synthetic_sd, "#9467bd",
                                    f"real + {curve.n_synthetic} synthetic")):  # fmt: skip
        m, d = np.asarray(mean), np.asarray(sd)
        ax.plot(n, m, marker="o", ms=4, color=colour, label=name)
        ax.fill_between(n, m - d, m + d, color=colour, alpha=0.15, lw=0)
    ax.axhline(curve.synthetic, color=SYN_COLOUR, ls="--", label=f"{curve.n_synthetic} synthetic only")
    ax.set_xscale("log")
    ax.set_xticks(n, [f"{k}\n({p}/class)" for k, p in zip(curve.n_real, curve.per_class, strict=True)])
    ax.minorticks_off()
    ax.set_xlabel("real training traces", fontsize=9, parse_math=False)
    ax.set_ylabel("test accuracy (random forest)", fontsize=9, parse_math=False)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    return _png(fig)


def _curve_section(curve: AccuracyCurve | None) -> str:
    if curve is None:
        return ""
    rows = {f"{p} ({k})": {"real only": r, "real + synthetic": b, "synthetic only": curve.synthetic}
            for p, k, r, b in zip(curve.per_class, curve.n_real, curve.real, curve.real_synthetic, strict=True)}
    return "\n".join([
        "<h2>Accuracy against the number of real training traces</h2>",
        _plot_curve(curve),
        _html_table(rows, first="real traces per class (in all)"),
        f"<p class='note'>A random forest trained on a draw of the real training traces (per class at most the "
        f"number shown), on the same plus every synthetic trace, or on the synthetic traces only, scored on the real "
        f"test traces; the mean (and band: the standard deviation) over {curve.repeats} draws. The synthetic traces "
        "were generated from all the real training traces: the curve shows how many real traces they are worth and "
        "whether they help where real traces are few, not what a generator trained on fewer traces would give.</p>",
    ])  # fmt: skip


_CSS = """
body{font-family:sans-serif;margin:2em;max-width:1500px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:13px}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f3f3f3}
img{max-width:100%}
.note{color:#555;font-size:13px}
tr.reference th,tr.reference td{font-style:italic;color:#555;background:#fafafa}
"""


def write_report(
    result: EvaluationResult,
    real: TraceDataset,
    synthetic: TraceDataset,
    out_dir: str | os.PathLike[str],
    *,
    title: str = "netdiffus evaluation",
    extra_info: dict[str, Any] | None = None,
    baselines: Mapping[str, EvaluationResult] | None = None,
    max_classes: int = 8,
    samples_per_class: int = 3,
    seed: int = 0,
) -> Path:
    """Write ``metrics.json`` and ``report.html`` into ``out_dir`` and return the HTML path.

    The two files appear together or not at all (an interrupt or a full disk leaves the folder as
    it was, see :func:`netdiffus.io.outputs.output_files`); inside
    :func:`netdiffus.files.no_overwrite` neither may replace an existing file.

    Parameters
    ----------
    result : EvaluationResult
        Scores of ``synthetic`` (from :func:`~netdiffus.evaluation.evaluate`).
    real, synthetic : TraceDataset
        The real (training) and synthetic traces that were scored, ``[N, C, T]``.
    out_dir : path
        Output folder (created if missing).
    title : str
        Title of the HTML page.
    extra_info : dict, optional
        Shown as a key/value table and stored under ``"extra_info"`` in ``metrics.json``.
    baselines : dict of str to EvaluationResult, optional
        Other generators scored on the same real data, shown as rows of the metric table.
    max_classes : int
        Classes shown in the plots (the first ones in sorted order; the tables list every class).
    samples_per_class : int
        Random traces drawn per class and source.
    seed : int
        Seeds the choice of sample traces.

    Returns
    -------
    Path
        ``out_dir / "report.html"``.
    """
    out = Path(out_dir)
    data = result.to_dict()
    data["extra_info"] = extra_info or {}
    if _privacy(synthetic) is not None:
        data["privacy"] = _privacy(synthetic)
    if baselines:
        data["baselines"] = {k: v.to_dict() for k, v in baselines.items()}
    page = _page(result, real, synthetic, title=title, extra_info=extra_info, baselines=baselines,
                 max_classes=max_classes, samples_per_class=samples_per_class, seed=seed)
    made = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        # both files or neither, never a new metrics.json beside an old report.html
        with output_files([out / "metrics.json", out / "report.html"]) as files:
            for i, text in enumerate((json.dumps(data, indent=2, default=str) + "\n", page)):
                with files.writing(i) as tmp:
                    tmp.write_text(text, encoding="utf-8")
                    tmp.chmod(0o644)
    except BaseException:
        if made and out.is_dir() and not any(out.iterdir()):
            out.rmdir()  # the folder this call made, left empty
        raise
    return out / "report.html"


def _privacy(synthetic: TraceDataset) -> dict[str, Any] | None:
    """The guarantee ``sample`` recorded in a synthetic set drawn from a private run (None otherwise)."""
    made = synthetic.meta.extra.get("synthetic")
    record = made.get("privacy") if isinstance(made, dict) else None
    return record if isinstance(record, dict) else None


def _privacy_summary(synthetic: TraceDataset) -> str:
    record = _privacy(synthetic)
    if record is None:
        return "none recorded (a generator trained without differential privacy, or not netdiffus)"
    try:
        return PrivacyRecord.from_json(record).summary()
    except (TypeError, ValueError) as exc:
        return f"unreadable ({exc})"


def _per_class_table(result: EvaluationResult) -> str:
    """The per-class table; with a reference, each class's row is followed by its reference row."""
    if not result.reference_per_class:
        return _html_table(result.per_class, first="class")
    rows: dict[str, Mapping[str, float]] = {}
    names: dict[str, str] = {}
    for c, r in result.per_class.items():
        rows[c] = r
        key = f"\0{c}"  # no label holds a NUL: the reference row's key never meets a class
        rows[key], names[key] = result.reference_per_class.get(c, {}), f"{c}: {REFERENCE_LABEL}"
    return _html_table(rows, first="class", names=names, references=frozenset(names))


def _reference_note(result: EvaluationResult) -> str:
    """What the reference row is and what it leaves out (nothing without a reference)."""
    if result.reference is None:
        return ""
    info = result.info.get("reference", {})
    halves = ""
    if "n_first_half" in info:
        halves = (f" TRTR / TSTR / TRSTR, the CNN, FD, DCR_ratio and MIA_AUC need a third set: there the real test "
                  f"traces are split per class in two seeded halves, {info['n_first_half']} in place of the synthetic "
                  f"set and {info['n_second_half']} as the test set (TRTR too is scored on that half), so no number "
                  "trains and tests on the same traces.")
    left = "; ".join(f"{k}: {v}" for k, v in info.get("not_computed", {}).items())
    return (f"<p class='note'>{html.escape(REFERENCE_LABEL)}: the same metrics with the real test traces, which the "
            "generator never saw, in place of the synthetic set (fidelity and the discriminative score against the "
            "real training traces): the floor to read the synthetic set's scores against, at the test set's size."
            f"{html.escape(halves)} Not in the reference (–): {html.escape(left)}.</p>")


def _page(result: EvaluationResult, real: TraceDataset, synthetic: TraceDataset, *, title: str,
          extra_info: dict[str, Any] | None, baselines: Mapping[str, EvaluationResult] | None, max_classes: int,
          samples_per_class: int, seed: int) -> str:
    """The HTML of the report (see :func:`write_report`)."""
    classes = real.classes[:max_classes]
    unit = real.meta.unit
    rows: dict[str, Mapping[str, float]] = {"this synthetic set": result.overall}
    if result.reference is not None:
        rows[REFERENCE_LABEL] = result.reference
    for name, b in (baselines or {}).items():
        rows[name] = b.overall
    info = {
        "created (UTC)": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"),
        "real traces": real.n_traces,
        "synthetic traces": synthetic.n_traces,
        "shape [C, T]": f"[{real.n_channels}, {real.length}]",
        "feature / unit": f"{real.meta.feature} / {unit or '?'}",
        "bin width (s)": real.meta.bin_width_s,
        "classes": len(real.classes),
        "privacy of the generator": _privacy_summary(synthetic),
        **(extra_info or {}),
    }
    info_html = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td style='text-align:left'>{html.escape(str(v))}</td></tr>"
        for k, v in info.items()
    )
    shown = "" if len(real.classes) <= max_classes else (
        f"<p class='note'>Plots show the first {max_classes} of {len(real.classes)} classes.</p>"
    )
    lower = ", ".join(k for k in LOWER_IS_BETTER if k not in FIELD_METRICS or k in result.overall)
    parts = [
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
        f"<style>{_CSS}</style></head><body><h1>{html.escape(title)}</h1>",
        f"<table>{info_html}</table>",
        "<h2>Metrics</h2>",
        _html_table(rows, first="generator", references=frozenset({REFERENCE_LABEL})),
        f"<p class='note'>Lower is better: {lower}. Higher is better: accuracies and F1. "
        "DCR_ratio: 0.9 or above is the aim (a copy of the training set scores 0; below 1, synthetic traces "
        "sit closer to training traces than unseen real ones do). MIA_AUC: 0.5 is best. "
        "Definitions: docs/evaluation.md.</p>",
        _reference_note(result),
        _curve_section(result.curve),
        "<h2>Per class</h2>",
        _per_class_table(result),
        shown,
        "<h2>Series: mean and 10-90 % band</h2>",
        _plot_bands(real, synthetic, classes, unit),
        "<h2>Random traces</h2>",
        _plot_samples(real, synthetic, classes, samples_per_class, seed),
        "<h2>GASF images</h2>",
        _plot_gasf(real, synthetic, classes, seed),
        "<h2>Value histograms</h2>",
        _plot_hist(real, synthetic, classes, totals=False),
        "<h2>Per-trace totals</h2>",
        _plot_hist(real, synthetic, classes, totals=True),
        "<h2>Autocorrelation</h2>",
        _plot_acf(real, synthetic, classes),
        "</body></html>",
    ]
    return "\n".join(parts)
