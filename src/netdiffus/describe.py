"""What a run folder or a dataset file holds, as plain data (the ``info`` command prints it).

Examples
--------
>>> import tempfile
>>> from netdiffus.demo import load_demo_dataset
>>> from netdiffus.io.dataset import write_dataset
>>> path = write_dataset(load_demo_dataset(), tempfile.mkdtemp() + "/d.parquet")
>>> d = describe_dataset(path)
>>> d["traces"], d["channels"], d["length"]
(163, ['frame_sum_dl'], 60)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from netdiffus.errors import CheckpointError
from netdiffus.io.dataset import TraceDataset, read_dataset
from netdiffus.manifest import read_run
from netdiffus.postprocess import Postprocessor

__all__ = ["describe_run", "describe_dataset"]


def describe_run(path: str | Path) -> dict[str, Any]:
    """Model, classes, shape, training, post-processing and privacy guarantee of the run folder
    ``path`` (a private run's class counts are the uniform balance it keeps, not its data's).

    Raises
    ------
    CheckpointError
        Not a complete run folder, or one whose files this version cannot read.
    """
    run = read_run(path)
    config, m, state = run.config, run.manifest, run.state
    try:
        post = Postprocessor.from_json(m.postprocess, channels=m.shape[0], classes=m.classes) \
            if "zero_threshold" in m.postprocess else None
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"{path}: checkpoint is inconsistent ({exc})") from None
    return {
        "run": str(path), "preset": config.preset, "classes": m.class_counts, "shape": list(m.shape),
        "representation": config.imaging.representation, "scaling": config.imaging.scaling,
        "parameters": sum(int(v.numel()) for v in state.values()), "train_steps": config.train.steps,
        "fit_seconds": m.fit_seconds, "feature": m.dataset_meta.get("feature"), "unit": m.dataset_meta.get("unit"),
        "bin_width_s": m.dataset_meta.get("bin_width_s"),
        "value_snap": _value_snap(post, config.postprocess.snap_values),
        "volume_calibration": _volume_calibration(post, config.postprocess.calibrate_totals),
        "value_range": _value_range(post, config.postprocess.possible_values),
        "privacy": m.privacy.summary() if m.privacy is not None else "none (trained without differential privacy)",
        "class_balance": ("uniform (a private run keeps no training counts)" if m.privacy is not None
                          else "the training counts"),
    }


def describe_dataset(path: str | Path) -> dict[str, Any]:
    """Traces, channels, length, units and classes of the dataset file ``path``."""
    ds = read_dataset(path)
    return {
        "dataset": str(path), "traces": len(ds), "channels": ds.meta.channels, "length": ds.length,
        "feature": ds.meta.feature, "unit": ds.meta.unit, "bin_width_s": ds.meta.bin_width_s,
        "classes": ds.class_counts(), "padding": _padding(ds), "first_ids": ds.ids[:3],
    }


def _padding(ds: TraceDataset) -> str:
    """One line on how much of a dataset is zero padding after its traces' ends."""
    share = ds.padding_share()
    if share is None or ds.lengths is None:
        return "unknown (the dataset keeps no trace lengths)"
    return (f"{100 * share:.1f} % of the values ({int((ds.lengths < ds.length).sum())} of {len(ds)} traces end "
            "before the series length)")


def _value_snap(post: Postprocessor | None, on: bool) -> str:
    """One line on the run's value snap (netdiffus.postprocess.ValueLexicon)."""
    if post is None or post.value_lexicon is None:
        return "none (run saved before value snapping)"
    chans = [v for per_class in post.value_lexicon.values.values() for v in per_class]
    used = [v for v in chans if len(v)]
    if not used:
        return "none (no channel's values recur across training traces)"
    n = sum(map(len, used))
    return (f"{n} shared value{'' if n == 1 else 's'} in {len(used)} of {len(chans)} class channels"
            + ("" if on else " (off: postprocess.snap_values=false)"))


def _value_range(post: Postprocessor | None, on: bool) -> str:
    """One line on the run's value range (netdiffus.postprocess.ValueRange), per channel."""
    span = None if post is None else post.value_range
    if span is None:
        return "none (a run saved before the value range, or a private one without count channels)"
    chans = [f"non-zero |value| >= {f:g}" + (", whole" if w else "") + (", >= 0" if u else "")
             for f, w, u in zip(span.floor, span.whole, span.unsigned, strict=True)]
    return "; ".join(chans) + ("" if on else " (off: postprocess.possible_values=false)")


def _volume_calibration(post: Postprocessor | None, on: bool) -> str:
    """One line on the run's volume calibration (netdiffus.postprocess.TotalsCalibration)."""
    cal = None if post is None else post.totals_calibration
    if cal is None:
        return "none (off when fitted, or run saved before volume calibration)"
    if not cal.classes:
        return "none (no class's reference draw had a spread)"
    return ("spread x " + ", ".join(f"{c} {cal.stretch(c):.2f}" for c in cal.classes)
            + ("" if on else " (off: postprocess.calibrate_totals=false)"))
