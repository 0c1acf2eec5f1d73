"""The ``doppelganger`` baseline: gretel-synthetics' PyTorch DGAN in an isolated venv.

gretel-synthetics pins dependencies that do not resolve next to netdiffus, so the benchmark
creates ``benchmarks/work/dgan-venv`` (git-ignored) on first use: a plain venv with
``gretel-synthetics==0.22.20`` and ``category-encoders`` (plus its ``statsmodels`` / ``patsy``)
installed with ``--no-deps``. It reuses the project's torch, numpy, pandas, scipy and
scikit-learn through a ``.pth`` path entry instead of downloading a second torch build. The
model is trained on ``log1p`` series with the class as a discrete attribute, in a subprocess.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import numpy as np

from netdiffus.io.dataset import DatasetMeta, TraceDataset

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
VENV = HERE / "work" / "dgan-venv"
PACKAGES = ["gretel-synthetics==0.22.20", "category-encoders", "statsmodels", "patsy"]


def _venv_python() -> Path:
    return VENV / "bin" / "python"


def ensure_venv() -> Path:
    """Create the isolated venv if missing; return its python."""
    py = _venv_python()
    marker = VENV / ".ready"
    if marker.exists():
        return py
    log.info("creating %s (doppelganger)", VENV)
    base = Path(getattr(sys, "_base_executable", sys.executable))
    subprocess.run([str(base), "-m", "venv", "--clear", str(VENV)], check=True)
    site = subprocess.run(
        [str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    # The project's packages (torch, numpy, pandas, ...) after the venv's own.
    Path(site, "zz_project_site.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "--disable-pip-version-check", "--no-deps", *PACKAGES],
        check=True,
    )
    subprocess.run([str(py), "-c", "import gretel_synthetics.timeseries_dgan.dgan, category_encoders"], check=True)
    marker.write_text("ok\n")
    return py


def generate(
    train: TraceDataset, n_per_class: dict[str, int], seed: int, *, epochs: int = 400, threads: int = 1
) -> TraceDataset:
    """Train DGAN on ``train`` and draw ``n_per_class`` traces per class.

    DGAN samples its own class attribute: it draws 10x the wanted total and keeps the first ``n``
    of each class. A class it under-produces is topped up by resampling its generated traces; a
    class it never produces stays missing (listed in ``meta.extra["classes_missing"]``).
    """
    py = ensure_venv()
    classes = train.classes
    index = {c: i for i, c in enumerate(classes)}
    sign = np.sign(train.series)
    signed = bool((train.series < 0).any())
    feats = np.log1p(np.abs(train.series)).transpose(0, 2, 1)  # [N, T, C]
    if signed:  # signed packet sizes: keep the sign in a log-magnitude with sign
        feats = (sign * np.log1p(np.abs(train.series))).transpose(0, 2, 1)
    labels = np.array([index[lab] for lab in train.labels])
    want = sum(n_per_class.values())
    got_f, got_l = [], []
    fit_s = sample_s = 0.0
    with tempfile.TemporaryDirectory(dir=HERE / "work") as tmp:
        src, dst = Path(tmp, "in.npz"), Path(tmp, "out.npz")
        np.savez(src, features=feats.astype(np.float32), labels=labels, n_out=10 * want)
        env = {**os.environ, "PYTHONNOUSERSITE": "1", "NETDIFFUS_BENCH_THREADS": str(threads)}
        t0 = time.perf_counter()
        subprocess.run([str(py), str(HERE / "dgan_worker.py"), str(src), str(dst), str(epochs), str(seed)],
                       check=True, env=env, capture_output=True)  # fmt: skip
        out = np.load(dst)
        fit_s, sample_s = float(out["fit_seconds"]), float(out["sample_seconds"])
        got_f.append(out["features"])
        got_l.append(out["labels"])
        log.info("doppelganger: %d epochs, fit %.1f s, wall %.1f s", epochs, fit_s, time.perf_counter() - t0)
    f = np.concatenate(got_f)
    lab = np.concatenate(got_l)
    xs, ys, missing = [], [], []
    rng = np.random.default_rng(seed)
    for c, k in n_per_class.items():
        idx = np.flatnonzero(lab == index[c])
        if len(idx) == 0:
            missing.append(c)
            continue
        pick = idx[:k] if len(idx) >= k else rng.choice(idx, k, replace=True)
        xs.append(f[pick])
        ys += [c] * k
    z = np.concatenate(xs).transpose(0, 2, 1).astype(np.float64)  # [M, C, T]
    series = np.sign(z) * np.expm1(np.abs(z)) if signed else np.expm1(np.clip(z, 0, None))
    meta = DatasetMeta.from_json(train.meta.to_json())
    if not ys:
        raise RuntimeError("DGAN produced no trace of any class")
    meta.extra = {"generator": "doppelganger", "epochs": epochs, "fit_seconds": fit_s, "sample_seconds": sample_s,
                  "classes_missing": missing}  # fmt: skip
    return TraceDataset(series=series.astype(np.float32), labels=ys, ids=[f"dgan-{i}" for i in range(len(ys))],
                        sources=["doppelganger"] * len(ys), meta=meta)  # fmt: skip
