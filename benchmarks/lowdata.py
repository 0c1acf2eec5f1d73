"""``python -m benchmarks.lowdata`` (``make bench-lowdata``): B4, the low-data benchmark of
../shared/BENCHMARKS.md.

For each dataset (B1, B2-packets, B2-bins, B3), each number of real training traces per class
``n`` (5, 10, 25 or ``all``) and each subset seed ``s``, the real training split is cut to ``n``
traces per class (``numpy.random.default_rng(s)`` permutes each class's training traces, sorted
classes in turn; a class with fewer keeps all of them); the real test split stays fixed. Every
generator is trained on that subset only and asked for ``max(k)`` times the subset, in its class
balance. Classifiers are trained on

- the real subset (``real``);
- the real subset plus ``k`` times as many synthetic traces, ``k`` in ``--k`` (``+kK``; the first
  ``k * count`` synthetic traces of each class);
- the synthetic traces only (``syn``: all ``max(k)`` times the subset);

and scored by accuracy on the real test split: a random forest (the mean of ``--forest-repeats``
forest seeds) and, with ``--cnn``, the GASF CNN. For B3 the classifier is the random-forest
novelty detector (AUROC of the real test normals against every anomalous session). Each
generator's ``DCR`` ratio (its synthetic traces against the subset, over the real test traces
against the subset; below 1: closer to training traces than unseen real traces are) is measured
on the same set. Every figure is the mean over subset seeds with its spread (the standard
deviation over seeds); ``gain kK`` is the per-seed difference ``+kK - real``, averaged.

Writes a markdown table with the command, the machine and the wall time, and a JSON file with
every number (``--out``; default ``benchmarks/results/<date>-lowdata.md``). Runs in pieces:
``--datasets B1 --n 10 --seeds 0,1,2 --generators netdiffus,augment,copy+noise --k 1,2,4``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import generators as G
from benchmarks.augment import augment
from benchmarks.datasets import Benchmark, load_b1, load_b2, load_b3
from benchmarks.run import machine, peak_rss_mb
from netdiffus.evaluation.privacy import dcr_ratio
from netdiffus.evaluation.utility import novelty_auroc, rf_predict
from netdiffus.files import atomic_path
from netdiffus.io.dataset import TraceDataset

log = logging.getLogger("benchmarks.lowdata")

RESULTS = Path(__file__).resolve().parent / "results"
DATASETS: dict[str, Callable[[], Benchmark]] = {
    "B1": load_b1, "B2-packets": lambda: load_b2("iot-packets"), "B2-bins": lambda: load_b2("iot-bins"),
    "B3": load_b3,
}  # fmt: skip
GENERATORS = ("netdiffus", "netdiffus-filter", "augment", "copy+noise", "bin-shuffle", "videotrain-gan", "1d-diffusion")
ALL = "all"


def per_class_subset(train: TraceDataset, n: int | None, seed: int) -> TraceDataset:
    """``n`` traces per class of ``train`` (all of a class that has fewer; ``n=None``: all):
    ``numpy.random.default_rng(seed)`` permutes each class's traces, sorted classes in turn."""
    if n is None:
        return train
    if n < 1:
        raise ValueError(f"n must be >= 1 traces per class (got {n})")
    rng = np.random.default_rng(seed)
    lab = train.label_array()
    keep = [rng.permutation(np.flatnonzero(lab == c))[:n] for c in sorted(train.classes)]
    return train.subset(np.sort(np.concatenate(keep)))


def first_per_class(syn: TraceDataset, counts: dict[str, int]) -> TraceDataset:
    """The first ``counts[c]`` traces of each class ``c`` of ``syn`` (all it has when fewer)."""
    lab = syn.label_array()
    keep = [np.flatnonzero(lab == c)[:k] for c, k in counts.items()]
    return syn.subset(np.sort(np.concatenate(keep)))


def make_generator(name: str, *, preset: str, overrides: list[str]) -> G.Generator:
    """A ``generate(train, n_per_class, seed)`` by name."""
    table: dict[str, G.Generator] = {
        "netdiffus": G.diffusion(representation=None, preset=preset, overrides=overrides),
        "netdiffus-filter": G.diffusion(representation=None, preset=preset, overrides=overrides, oversample=2),
        "1d-diffusion": G.diffusion(representation="series", preset=preset, overrides=overrides),
        "augment": augment, "copy+noise": G.copy_noise, "bin-shuffle": G.bin_shuffle,
        "videotrain-gan": G.videotrain_gan,
    }  # fmt: skip
    if name not in table:
        raise ValueError(f"generator must be one of {', '.join(GENERATORS)} (got {name!r})")
    return table[name]


class Scorer:
    """Scores a training set on the fixed real test split: random-forest accuracy (mean over
    ``forest_repeats`` seeds), GASF-CNN accuracy with ``cnn_epochs`` > 0, or for B3 the novelty
    detector's AUROC."""

    def __init__(self, bench: Benchmark, *, forest_repeats: int, n_estimators: int, cnn_epochs: int,
                 threads: int) -> None:  # fmt: skip
        self.bench, self.repeats, self.trees, self.cnn_epochs = bench, forest_repeats, n_estimators, cnn_epochs
        self.threads = threads
        self.y_test = bench.test.label_array()

    def __call__(self, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        b = self.bench
        if b.anomalous is not None:
            aucs = [novelty_auroc(x, b.test.series, b.anomalous.series, method="classifier", train_labels=y,
                                  n_estimators=self.trees, seed=r, n_jobs=self.threads)
                    for r in range(self.repeats)]  # fmt: skip
            return {"auroc": float(np.mean(aucs))}
        accs = [float((rf_predict(x, y, b.test.series, r, n_estimators=self.trees, n_jobs=self.threads)
                       == self.y_test).mean()) for r in range(self.repeats)]  # fmt: skip
        out = {"rf": float(np.mean(accs))}
        if self.cnn_epochs:
            from netdiffus.evaluation.cnn import GasfCnnClassifier

            cnn = GasfCnnClassifier(epochs=self.cnn_epochs, seed=0).fit(x, y, classes=b.train.classes)
            out["cnn"] = float((cnn.predict(b.test.series) == self.y_test).mean())
        return out


def score_generator(sub: TraceDataset, syn: TraceDataset, scorer: Scorer, ks: Sequence[int],
                    test: TraceDataset) -> dict[str, Any]:  # fmt: skip
    """Scores of one synthetic set beside its real subset: ``+kK`` and ``syn`` per classifier, DCR."""
    counts = sub.class_counts()
    row: dict[str, Any] = {}
    for k in ks:
        extra = first_per_class(syn, {c: k * m for c, m in counts.items()})
        both = scorer(np.concatenate([sub.series, extra.series]),
                      np.concatenate([sub.label_array(), extra.label_array()]))
        row.update({f"{name} +k{k}": v for name, v in both.items()})
    row.update({f"{name} syn": v for name, v in scorer(syn.series, syn.label_array()).items()})
    row["DCR"] = dcr_ratio(sub.series, syn.series, test.series)
    return row


def run_cell(bench: Benchmark, n: int | None, seed: int, gens: dict[str, G.Generator], ks: Sequence[int],
             scorer: Scorer) -> dict[str, Any]:  # fmt: skip
    """One (dataset, n, subset seed): the real-only scores and a row per generator."""
    sub = per_class_subset(bench.train, n, seed)
    real = scorer(sub.series, sub.label_array())
    rows: dict[str, Any] = {}
    want = {c: max(ks) * m for c, m in sub.class_counts().items()}
    for name, gen in gens.items():
        t0 = time.perf_counter()
        try:
            syn = gen(sub, want, seed)
        except Exception as exc:  # a failing generator is a row, not a crash
            rows[name] = {"status": f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
            log.warning("%s n=%s seed %d %s failed:\n%s", bench.name, n, seed, name, traceback.format_exc())
            continue
        row = {"generate_s": time.perf_counter() - t0, "status": "ok"}
        row.update({k: syn.meta.extra[k] for k in ("fit_seconds", "train_steps", "stopped_at") if k in syn.meta.extra})
        row.update(score_generator(sub, syn, scorer, ks, bench.test))
        rows[name] = row
        log.info("%s n=%s seed %d %s: %s", bench.name, n, seed, name,
                 {k: round(v, 3) for k, v in row.items() if isinstance(v, float)})
    return {"n_train": sub.n_traces, "real": real, "rows": rows}


def _mean_sd(values: Sequence[float]) -> str:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if len(v) == 0:
        return "-"
    return f"{v.mean():.3f}" + (f" ± {v.std(ddof=1):.3f}" if len(v) > 1 else "")


def summary_rows(cells: list[dict[str, Any]], ks: Sequence[int]) -> list[list[str]]:
    """Table rows ``[generator, real, +kK..., gain kK..., syn, DCR, fit_s]`` per classifier, over
    the subset seeds of one (dataset, n)."""
    names = [n for n in cells[0]["rows"]]
    out = []
    for clf in cells[0]["real"]:
        for name in names:
            ok = [c for c in cells if c["rows"].get(name, {}).get("status") == "ok"]
            if not ok:
                out.append([f"{name} ({clf})", cells[0]["rows"][name].get("status", "-")])
                continue
            real = [c["real"][clf] for c in ok]
            cols = [_mean_sd(real)]
            cols += [_mean_sd([c["rows"][name][f"{clf} +k{k}"] for c in ok]) for k in ks]
            cols += [_mean_sd([c["rows"][name][f"{clf} +k{k}"] - c["real"][clf] for c in ok]) for k in ks]
            rows = [c["rows"][name] for c in ok]
            cols += [_mean_sd([r[f"{clf} syn"] for r in rows]), _mean_sd([r["DCR"] for r in rows]),
                     _mean_sd([r.get("fit_seconds", r.get("generate_s", np.nan)) for r in rows])]
            out.append([f"{name} ({clf})", *cols])
    return out


def markdown(results: dict[str, Any]) -> str:
    ks = results["settings"]["k"]
    m = results["machine"]
    head = ["generator (classifier)", "real", *(f"+k{k}" for k in ks), *(f"gain k{k}" for k in ks), "syn", "DCR",
            "fit_s"]  # fmt: skip
    lines = [f"# B4 low data ({results['date']})", "", f"Command: `{results['command']}`  ",
             f"Wall time: {results['wall_s'] / 60:.1f} min; peak RSS {results['peak_rss_mb']} MB  ",
             f"Machine: {m['cpu']}, {m['cores']} cores (shared with other jobs), torch {m['torch']}, "
             f"{results['settings']['threads']} thread(s), commit {m['commit']}  ",
             f"Settings: {json.dumps(results['settings'])}", "",
             "Mean ± standard deviation over subset seeds. real: trained on the real subset; +kK: plus K x as many "
             "synthetic traces; gain kK: (+kK) - real per seed; syn: synthetic only (max K x); DCR: DCR ratio "
             "of the synthetic set against the subset (>= 0.8 wanted; a copy scores 0); fit_s: generator fit (or "
             "generation) seconds. rf: random-forest accuracy; cnn: GASF-CNN accuracy; auroc: B3 novelty AUROC.", ""]
    for key, by_n in results["datasets"].items():
        for n, cells in by_n.items():
            lines += [f"## {key}, n = {n} per class ({cells[0]['n_train']} real training traces, "
                      f"subset seeds {', '.join(str(c['seed']) for c in cells)})", "",
                      "| " + " | ".join(head) + " |", "|---|" + "---|" * (len(head) - 1)]
            lines += ["| " + " | ".join(r) + " |" for r in summary_rows(cells, ks)]
            lines.append("")
    return "\n".join(lines) + "\n"


def _ints(text: str) -> list[int]:
    return [int(v) for v in text.split(",") if v.strip()]


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--datasets", default="B1", help=f"comma-separated, of {', '.join(DATASETS)}")
    p.add_argument("--n", default="5,10,25,all", help="traces per class, comma-separated ('all': the whole split)")
    p.add_argument("--seeds", default="0,1,2", help="subset seeds")
    p.add_argument("--generators", default="netdiffus,augment,copy+noise", help=f"of {', '.join(GENERATORS)}")
    p.add_argument("--k", default="1,2,4,8", help="synthetic traces per real trace added")
    p.add_argument("--preset", default="cpu", help="the preset of netdiffus and 1d-diffusion")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="section.key=value")
    p.add_argument("--cnn", type=int, default=0, metavar="EPOCHS", help="also score with the GASF CNN")
    p.add_argument("--forest-repeats", type=int, default=3)
    p.add_argument("--trees", type=int, default=300)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", type=Path, default=None)
    p.add_argument("--merge", type=Path, nargs="+", default=None, metavar="JSON",
                   help="write one table from the JSON files of runs in pieces (their cells side by side, their "
                        "wall times summed) instead of running")
    return p


def merge(paths: Sequence[Path]) -> dict[str, Any]:
    """The results of runs in pieces (their JSON files) as one: cells of the same dataset and ``n``
    side by side, wall times summed, the settings and machine of the first; the commands listed."""
    parts = [json.loads(p.read_text()) for p in paths]
    out = {**parts[0], "datasets": {}, "wall_s": sum(p["wall_s"] for p in parts),
           "peak_rss_mb": max(p["peak_rss_mb"] for p in parts), "command": "; ".join(p["command"] for p in parts)}
    for part in parts:
        for key, by_n in part["datasets"].items():
            for n, cells in by_n.items():
                out["datasets"].setdefault(key, {}).setdefault(n, []).extend(cells)
    out["settings"]["seeds"] = sorted({c["seed"] for by_n in out["datasets"].values() for cs in by_n.values()
                                       for c in cs})  # fmt: skip
    return out


def run(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    torch.set_num_threads(args.threads)
    ks, seeds = _ints(args.k), _ints(args.seeds)
    overrides = [f"train.num_threads={args.threads}", *args.overrides]
    gens = {g: make_generator(g, preset=args.preset, overrides=overrides) for g in args.generators.split(",")}
    t0 = time.perf_counter()
    out: dict[str, Any] = {"datasets": {}}
    for key in args.datasets.split(","):
        if key not in DATASETS:
            raise ValueError(f"--datasets must be among {', '.join(DATASETS)} (got {key!r})")
        bench = DATASETS[key]()
        scorer = Scorer(bench, forest_repeats=args.forest_repeats, n_estimators=args.trees,
                        cnn_epochs=0 if bench.anomalous is not None else args.cnn, threads=args.threads)
        cell_gens = {g: f for g, f in gens.items() if g != "videotrain-gan" or key == "B1"}
        for n_text in args.n.split(","):
            n = None if n_text == ALL else int(n_text)
            cells = [{"seed": s, **run_cell(bench, n, s, cell_gens, ks, scorer)} for s in seeds]
            out["datasets"].setdefault(key, {})[n_text] = cells
    out.update(wall_s=time.perf_counter() - t0, peak_rss_mb=peak_rss_mb(), machine=machine(),
               date=f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
               command="python -m benchmarks.lowdata " + " ".join(args.argv),
               settings={"k": ks, "seeds": seeds, "preset": args.preset, "overrides": overrides, "cnn_epochs": args.cnn,
                         "forest_repeats": args.forest_repeats, "trees": args.trees, "threads": args.threads})
    return out


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = argv if argv is not None else sys.argv[1:]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    results = merge(args.merge) if args.merge else run(args)
    path = args.out or RESULTS / f"{datetime.now(UTC):%Y-%m-%d}-lowdata.md"
    with atomic_path(path) as tmp:
        tmp.write_text(markdown(results))
    with atomic_path(path.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(results, indent=1, default=float))
    log.info("wrote %s (%.1f min)", path, results["wall_s"] / 60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
