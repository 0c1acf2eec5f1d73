"""``python -m benchmarks.run [--quick]`` (``make bench``): the benchmark protocol of
../shared/BENCHMARKS.md, every generator side by side, one metric implementation.

For each benchmark (B1 video, B2 iot-bins, B2 iot-packets, B3 anomaly) every generator is trained
on the real training split and asked for 2x the training size with the training class balance;
its traces are scored by :func:`netdiffus.evaluation.evaluate` (fidelity, random forest and GASF
CNN TRTR / TSTR / TRSTR, Frechet distance, discriminative score, DCR ratio, MIA AUC), plus
augmentation curves (real + k x synthetic, random forest) and, for B3, novelty-detection AUROC.
A generator that fails or is unavailable becomes a row with the reason; the run goes on.

Writes ``benchmarks/results/<date>.md`` (the tables, the command, the machine, the wall times) and
``benchmarks/results/<date>.json`` (every number). ``--quick`` is a smoke run (few traces, tiny
models, minutes) written to ``<date>-quick.*``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import generators as G
from benchmarks.datasets import Benchmark, load_b1, load_b2, load_b3
from netdiffus.evaluation import evaluate
from netdiffus.evaluation.cnn import GasfCnnClassifier, cnn_evaluation
from netdiffus.evaluation.report import metrics_table_markdown
from netdiffus.evaluation.utility import augmentation_curve, novelty_auroc, rf_predict
from netdiffus.files import atomic_path
from netdiffus.io.dataset import TraceDataset

log = logging.getLogger("benchmarks")

RESULTS = Path(__file__).resolve().parent / "results"
BENCHMARKS = ("B1", "B2-bins", "B2-packets", "B3")
GENERATORS = ("real-holdout", "copy+noise", "bin-shuffle", "videotrain-gan", "doppelganger", "1d-diffusion",
              "netdiffus")


BENCH_DEMO_STEPS = 1500


@dataclass
class Settings:
    quick: bool
    seed: int = 0
    n_estimators: int = 300
    cnn_epochs: int = 6
    threads: int = 1
    dgan_epochs: int = 400
    # Presets of netdiffus and 1d-diffusion. B1 trains its default, the "cpu" preset (3000 steps,
    # about 18 minutes per fit with one thread); the other benchmarks the "demo" preset for 1500
    # steps: the "cpu" preset for all 8 fits would take about three hours on the 2-core machine.
    diffusion_preset: str = "demo"
    diffusion_presets: dict[str, str] = field(default_factory=lambda: {"B1": "cpu"})  # per benchmark
    preset_overrides: dict[str, list[str]] = field(default_factory=dict)  # per preset
    diffusion_overrides: list[str] = field(default_factory=list)
    max_train: int | None = None  # quick: subsample the training split per benchmark
    cnn_on: tuple[str, ...] = ("B1",)
    forest_repeats: int = 1  # random forests per utility / discriminative score, averaged


def settings_for(args: argparse.Namespace) -> Settings:
    if args.quick:
        s = Settings(quick=True, n_estimators=50, cnn_epochs=2, dgan_epochs=5, max_train=120,
                     diffusion_overrides=["train.steps=20", "sample.steps=5", "model.base_channels=16",
                                          "model.num_res_blocks=1", "model.attention_levels=[]"])  # fmt: skip
    else:
        s = Settings(quick=False)
    if args.quick or args.diffusion_preset is not None:
        s.diffusion_presets = {}  # one preset for every benchmark
    if args.diffusion_preset is not None:
        s.diffusion_preset = args.diffusion_preset
    if args.diffusion_steps is not None:
        s.diffusion_overrides.append(f"train.steps={args.diffusion_steps}")
    elif not args.quick and args.diffusion_preset is None:
        # The "demo" preset's 1000 steps suit the demo's 117 training traces; the benchmarks'
        # training sets are 3 to 4 times larger (B1 442, B2 385), and 1500 steps still leave B1's
        # DCR ratio above 1.
        s.preset_overrides["demo"] = [f"train.steps={BENCH_DEMO_STEPS}"]
    s.diffusion_overrides += args.override or []
    s.threads = args.threads
    s.diffusion_overrides.append(f"train.num_threads={args.threads}")
    if args.cnn_on is not None:
        s.cnn_on = tuple(b.strip() for b in args.cnn_on.split(",") if b.strip())
    if args.dgan_epochs is not None:
        s.dgan_epochs = args.dgan_epochs
    s.forest_repeats = args.forest_repeats
    return s


def class_counts_x2(train: TraceDataset) -> dict[str, int]:
    return {c: 2 * k for c, k in train.class_counts().items()}


def subsample(ds: TraceDataset, n: int | None, seed: int) -> TraceDataset:
    """At most ``n`` traces, stratified (at least 2 per class)."""
    if n is None or ds.n_traces <= n:
        return ds
    rng = np.random.default_rng(seed)
    lab = ds.label_array()
    frac = n / ds.n_traces
    keep = []
    for c in ds.classes:
        idx = np.flatnonzero(lab == c)
        k = min(len(idx), max(2, int(round(frac * len(idx)))))
        keep += list(rng.choice(idx, k, replace=False))
    return ds.subset(np.sort(keep))


def diffusion_setup(key: str, s: Settings) -> tuple[str, list[str]]:
    """The preset and overrides of the diffusion generators on benchmark ``key``."""
    preset = s.diffusion_presets.get(key, s.diffusion_preset)
    return preset, s.preset_overrides.get(preset, []) + s.diffusion_overrides


def make_generators(names: list[str], bench: Benchmark, s: Settings, key: str) -> dict[str, Any]:
    gens: dict[str, Any] = {}
    preset, overrides = diffusion_setup(key, s)
    for name in names:
        if name == "real-holdout":
            gens[name] = G.real_holdout(bench.test)
        elif name == "copy+noise":
            gens[name] = G.copy_noise
        elif name == "bin-shuffle":
            gens[name] = G.bin_shuffle
        elif name == "videotrain-gan":
            if bench.name.startswith("B1"):
                gens[name] = G.videotrain_gan
        elif name == "doppelganger":
            gens[name] = G.doppelganger(s.dgan_epochs, s.threads)
        elif name == "1d-diffusion":
            gens[name] = G.diffusion(representation="series", preset=preset, overrides=overrides)
        elif name == "netdiffus":
            gens[name] = G.diffusion(representation="gasf", preset=preset, overrides=overrides)
    return gens


def peak_rss_mb() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    c = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return round(max(r, c), 1)


def run_classification(key: str, bench: Benchmark, names: list[str], s: Settings) -> dict[str, Any]:
    """B1 / B2: fidelity, utility (RF + CNN), privacy and augmentation curves per generator."""
    train, test = bench.train, bench.test
    want = class_counts_x2(train)
    rows: dict[str, dict[str, Any]] = {}
    use_cnn = key in s.cnn_on
    trtr_cnn: GasfCnnClassifier | None = None

    def rf(x, y, xq, seed):
        return rf_predict(x, y, xq, seed, n_estimators=s.n_estimators)

    for name, gen in make_generators(names, bench, s, key).items():
        log.info("[%s] %s: generating", key, name)
        row: dict[str, Any] = {}
        t0 = time.perf_counter()
        try:
            syn = gen(train, want, s.seed)
        except Exception as exc:  # a failing generator is a row, not a crash
            row["status"] = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            log.warning("[%s] %s failed:\n%s", key, name, traceback.format_exc())
            rows[name] = row
            continue
        row["generate_s"] = round(time.perf_counter() - t0, 1)
        for k in ("fit_seconds", "sample_seconds", "epochs", "classes_missing"):
            if k in syn.meta.extra:
                row[k] = syn.meta.extra[k]
        if "sample_seconds" in syn.meta.extra and syn.meta.extra["sample_seconds"] > 0:
            row["series_per_s"] = round(syn.n_traces / syn.meta.extra["sample_seconds"], 1)
        row["n_synthetic"] = syn.n_traces
        t0 = time.perf_counter()
        res = evaluate(train, syn, real_test=test, seed=s.seed, n_estimators=s.n_estimators,
                       forest_repeats=s.forest_repeats, reference=False)  # fmt: skip
        row.update(res.overall)
        if use_cnn:
            c = cnn_evaluation((train.series, train.label_array()), (syn.series, syn.label_array()),
                               (test.series, test.label_array()), seed=s.seed, epochs=s.cnn_epochs,
                               trtr_model=trtr_cnn)  # fmt: skip
            trtr_cnn = c.trtr_model
            for tname, sc in c.scores.items():
                row[f"CNN_{tname}_acc"] = sc["accuracy"]
                row[f"CNN_{tname}_f1"] = sc["macro_f1"]
            row["FD"] = c.frechet
        if name != "real-holdout":
            curve = augmentation_curve((train.series, train.label_array()), (syn.series, syn.label_array()),
                                       (test.series, test.label_array()), classifier=rf, seed=s.seed)  # fmt: skip
            row["augmentation"] = {str(k): v for k, v in curve.items()}
        row["per_class"] = res.per_class
        row["evaluate_s"] = round(time.perf_counter() - t0, 1)
        row["status"] = "ok"
        rows[name] = row
        log.info("[%s] %s: %s", key, name, {k: round(v, 3) for k, v in res.overall.items()})
    return rows


def run_anomaly(key: str, bench: Benchmark, names: list[str], s: Settings) -> dict[str, Any]:
    """B3: detectors trained on real normal / synthetic normal / both; AUROC on real test normal
    sessions vs every anomalous session."""
    train, test, anom = bench.train, bench.test, bench.anomalous
    assert anom is not None
    want = class_counts_x2(train)
    rows: dict[str, dict[str, Any]] = {}
    def auroc(x: np.ndarray, y: np.ndarray) -> float:
        # A random forest on the normal classes; novelty = 1 - max class probability.
        return novelty_auroc(x, test.series, anom.series, method="classifier", train_labels=y,
                             n_estimators=s.n_estimators, seed=s.seed)  # fmt: skip

    real_auc = auroc(train.series, train.label_array())
    for name, gen in make_generators(names, bench, s, key).items():
        if name == "real-holdout":  # trained on the test normals it is scored on: not meaningful
            continue
        log.info("[%s] %s: generating", key, name)
        row: dict[str, Any] = {}
        t0 = time.perf_counter()
        try:
            syn = gen(train, want, s.seed)
        except Exception as exc:
            row["status"] = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
            log.warning("[%s] %s failed:\n%s", key, name, traceback.format_exc())
            rows[name] = row
            continue
        row["generate_s"] = round(time.perf_counter() - t0, 1)
        for k in ("fit_seconds", "epochs"):
            if k in syn.meta.extra:
                row[k] = syn.meta.extra[k]
        row["AUROC_real"] = real_auc
        row["AUROC_synthetic"] = auroc(syn.series, syn.label_array())
        row["AUROC_both"] = auroc(np.concatenate([train.series, syn.series]),
                                  np.concatenate([train.label_array(), syn.label_array()]))
        row["status"] = "ok"
        rows[name] = row
    return rows


def machine() -> dict[str, Any]:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parents[1]).stdout.strip()  # fmt: skip
    except OSError:
        commit = ""
    if not commit:  # an exported tree (git archive) carries its commit in a COMMIT file
        f = Path(__file__).parents[1] / "COMMIT"
        commit = f.read_text().strip() if f.exists() else "?"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "commit": commit,
    }


MAIN_KEYS = ["W1_values", "W1_totals", "JSD", "ACF", "discriminative", "TSTR_acc", "TRSTR_acc", "TSTR_f1",
             "CNN_TSTR_acc", "CNN_TRSTR_acc", "FD", "DCR_ratio", "MIA_AUC"]  # fmt: skip


def _table(rows: dict[str, dict[str, Any]], keys: list[str]) -> str:
    ok = {n: r for n, r in rows.items() if r.get("status") == "ok"}
    present = [k for k in keys if any(k in r for r in ok.values())]
    lines = [metrics_table_markdown(ok, keys=present)] if ok else []
    for n, r in rows.items():
        if r.get("status") != "ok":
            lines.append(f"\n- **{n}**: {r.get('status')}")
    return "\n".join(lines)


def write_markdown(path: Path, out: dict[str, Any]) -> None:
    m = out["machine"]
    L = [f"# Benchmark results {out['date']}{' (quick smoke run)' if out['settings']['quick'] else ''}", ""]
    L += [f"Command: `{out['command']}`  ", f"Total wall time: {out['wall_s'] / 60:.1f} min  ",
          f"Machine: {m['cpu']}, {m['cores']} cores (shared with other jobs during the run), "
          f"Python {m['python']}, torch {m['torch']} ({m['torch_threads']} threads), commit {m['commit']}  ",
          f"Peak RSS: {out['peak_rss_mb']} MB  ",
          f"Settings: {json.dumps(out['settings'])}", ""]  # fmt: skip
    L += ["Metric definitions: ../shared/BENCHMARKS.md and docs/evaluation.md. Lower is better for W1_values, "
          "W1_totals, JSD, ACF, discriminative, FD; higher for accuracies; DCR_ratio: 0.9 or above is the aim "
          "(a copy of the training set scores 0); MIA_AUC best at 0.5. `real-holdout` trains TSTR on the test set "
          "itself. TRTR (same for every row): see each table's note.", ""]  # fmt: skip
    for key, b in out["benchmarks"].items():
        L += [f"## {b['name']}", "", b["description"] + f" — {b['n_train']} train / {b['n_test']} test traces.", ""]
        if "error" in b:
            L += [f"Not run: {b['error']}", ""]
            continue
        rows = b["rows"]
        if key == "B3":
            L += [f"Anomalous classes: {', '.join(b['info'].get('anomalous_classes', []))}.", "",
                  _table(rows, ["AUROC_real", "AUROC_synthetic", "AUROC_both"]), ""]  # fmt: skip
        else:
            trtr = next((r for r in rows.values() if r.get("status") == "ok" and "TRTR_acc" in r), None)
            if trtr:
                note = f"TRTR: random forest accuracy {trtr['TRTR_acc']:.3f} (macro-F1 {trtr['TRTR_f1']:.3f})"
                if "CNN_TRTR_acc" in trtr:
                    note += f", GASF CNN accuracy {trtr['CNN_TRTR_acc']:.3f} (macro-F1 {trtr['CNN_TRTR_f1']:.3f})"
                L += [note + ".", ""]
            L += [_table(rows, MAIN_KEYS), ""]
            aug = {n: r["augmentation"] for n, r in rows.items() if r.get("status") == "ok" and "augmentation" in r}
            if aug:
                L += ["Augmentation (random forest accuracy on real test, trained on real + k x |real| synthetic):", "",
                      "| generator | k=0 | k=1 | k=2 | k=4 |", "|---|---|---|---|---|"]  # fmt: skip
                for n, a in aug.items():
                    L.append(f"| {n} | " + " | ".join(f"{a[k]['accuracy']:.3f}" for k in ("0", "1", "2", "4")) + " |")
                L.append("")
        L += ["Wall times (s): " + ", ".join(
            f"{n} {r.get('generate_s', '-')} gen"
            + (f" (fit {r['fit_seconds']:.0f})" if isinstance(r.get("fit_seconds"), (int, float)) else "")
            + (f" + {r['evaluate_s']} eval" if "evaluate_s" in r else "")
            for n, r in rows.items()) + f". Benchmark total {b['wall_s']:.0f} s.", ""]  # fmt: skip
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(L) + "\n", encoding="utf-8")
        tmp.chmod(0o644)


def _write_results(out: dict, stem: Path, t_start: float) -> None:
    """Write ``stem.json`` and ``stem.md`` (atomically) with the wall time and peak RSS so far."""
    out["wall_s"] = round(time.perf_counter() - t_start, 1)
    out["peak_rss_mb"] = peak_rss_mb()
    stem.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(stem.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(_clean(out), indent=1, default=_json_default) + "\n", encoding="utf-8")
    write_markdown(stem.with_suffix(".md"), out)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("--quick", action="store_true", help="smoke run: few traces, tiny models")
    p.add_argument("--benchmarks", default=",".join(BENCHMARKS), help=f"comma list of {', '.join(BENCHMARKS)}")
    p.add_argument("--generators", default=",".join(GENERATORS), help=f"comma list of {', '.join(GENERATORS)}")
    p.add_argument("--diffusion-preset",
                   help="preset of netdiffus and 1d-diffusion on every benchmark (default: cpu on B1, demo "
                        "for 1500 steps on the others)")
    p.add_argument("--diffusion-steps", type=int,
                   help="training steps of netdiffus and 1d-diffusion (default: the preset's; 1500 for the "
                        "default demo preset)")
    p.add_argument("--dgan-epochs", type=int, help="doppelganger epochs (default 400)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: the 2-core machine is shared; use 2 on an idle one)")
    p.add_argument("--cnn-on", help="benchmarks that get the GASF CNN (default B1)")
    p.add_argument("--forest-repeats", type=int, default=1,
                   help="fit every random forest this many times (seeds 0..N-1) and report the mean (default 1)")
    p.add_argument("--override", action="append", help="extra section.key=value for the diffusion preset")
    p.add_argument("--tag", help="suffix of the result file names (<date>-TAG.md), e.g. for a partial run")
    p.add_argument("--out", type=Path, default=RESULTS, help="results folder (default benchmarks/results)")
    return p


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    s = settings_for(args)
    import torch

    torch.set_num_threads(s.threads)
    names = [g.strip() for g in args.generators.split(",") if g.strip()]
    keys = [b.strip() for b in args.benchmarks.split(",") if b.strip()]
    bad = [n for n in names if n not in GENERATORS] + [k for k in keys if k not in BENCHMARKS]
    if bad:
        p.error(f"unknown generator or benchmark: {', '.join(bad)}")
    t_start = time.perf_counter()
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    out: dict[str, Any] = {
        "date": date,
        "command": "python -m benchmarks.run " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "settings": {k: v for k, v in s.__dict__.items()},
        "benchmarks": {},
    }
    loaders = {"B1": load_b1, "B2-bins": lambda: load_b2("iot-bins"), "B2-packets": lambda: load_b2("iot-packets"),
               "B3": lambda: load_b3("iot-bins")}  # fmt: skip
    suffix = ("-quick" if s.quick else "") + (f"-{args.tag}" if args.tag else "")
    for key in keys:
        t0 = time.perf_counter()
        try:
            bench = loaders[key]()
        except Exception as exc:
            log.warning("[%s] not loaded:\n%s", key, traceback.format_exc())
            out["benchmarks"][key] = {"name": key, "description": "", "n_train": 0, "n_test": 0,
                                      "error": f"{type(exc).__name__}: {exc}", "wall_s": 0.0}  # fmt: skip
            continue
        if s.max_train:
            bench.train = subsample(bench.train, s.max_train, s.seed)
            bench.test = subsample(bench.test, s.max_train // 2, s.seed)
        log.info("[%s] %s: %d train, %d test", key, bench.name, bench.train.n_traces, bench.test.n_traces)
        runner = run_anomaly if key == "B3" else run_classification
        rows = runner(key, bench, names, s)
        out["benchmarks"][key] = {"name": bench.name, "description": bench.description, "info": bench.info,
                                  "n_train": bench.train.n_traces, "n_test": bench.test.n_traces,
                                  "rows": rows, "wall_s": round(time.perf_counter() - t0, 1)}  # fmt: skip
        # Write after every benchmark: a late failure keeps the finished tables.
        _write_results(out, args.out / f"{date}{suffix}", t_start)
    _write_results(out, args.out / f"{date}{suffix}", t_start)
    log.info("wrote %s (%.1f min)", args.out / f"{date}{suffix}.md", out["wall_s"] / 60)
    return 0


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    return str(o)


def _clean(o: Any) -> Any:
    """NaN / infinities -> None, recursively (strict JSON)."""
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, (float, np.floating)):
        return float(o) if np.isfinite(o) else None
    return o


if __name__ == "__main__":
    sys.exit(main())
