"""Field fidelity benchmark (not a test): header fields and flow records of exported captures.

    python -m benchmarks.fields                                   # both datasets
    python -m benchmarks.fields --datasets cic --out benchmarks/results/2026-12-07-fields.md
    python -m benchmarks.fields --seeds 0,1,2,3,4                  # learned headers: mean of 5 draws

Per dataset, three captures are read (:class:`netdiffus.evaluation.fields.CaptureFields`):

- *real train* and *real held-out*: IoT Sentinel with the B2 split (benchmarks/datasets.py,
  ``iot-bins``: sessions, 64 bins of 0.25 s, so each capture is cut to its first 16 s, the part
  its series describes); the CIC-IDS2017 demo capture (../shared/data/cic-ids2017-demo) with its
  flows split 70 / 30 at random (seed 0), series of 2 s bins over 180 s;
- *export, assigned headers*: ``netdiffus export`` of the real held-out series without header
  records: the volumes of real traffic with export's default headers (TTL 64, window 65535, port
  443, one conversation per trace, the class's transport);
- *export, learned headers*: the same series exported with headers drawn from a
  :class:`netdiffus.headers.HeaderModel` fitted on the real train traces' header records
  (``prepare(..., headers=True)``), given each held-out trace's class and series volume (seed 0).
  The series are real (held-out), not a fitted generator's: the scores are those of the header
  model and export (a fitted generator's own series are scored by ``make bench``);
- with ``--fit-steps N``, also *fitted model*: the ``demo`` preset trained N steps on the real
  train traces (volume calibration and novelty checks off), one synthetic trace drawn per held-out
  trace's label (seed 0), exported with the headers ``sample`` draws from the run's header model
  given each generated trace's volume: the whole pipeline, as good as N steps make the series.

Scores (:func:`netdiffus.evaluation.fields.field_scores`, lower is better) of each against real
train, the real held-out row being the reference; then the flow-record columns (median and mean
per flow) of every capture side by side. Prints markdown (``--out`` also writes it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.datasets import DATA, _stratified, load_b2
from netdiffus.evaluation.fields import FIELD_KEYS, CaptureFields, field_scores
from netdiffus.export.pcap import export_pcap
from netdiffus.headers import HeaderModel
from netdiffus.io.dataset import TraceDataset
from netdiffus.io.flow_records import FlowRecord
from netdiffus.io.headers import TraceHeader

CIC = DATA / "cic-ids2017-demo" / "demo.pcap"
IOT = DATA / "iot-sentinel" / "captures"
#: Flow-record columns compared side by side: (column, value of a record).
RECORD_COLUMNS = (
    ("Flow Duration (s)", lambda r: r.duration_us / 1e6),
    ("Total Fwd Packets", lambda r: r.fwd_packets),
    ("Total Backward Packets", lambda r: r.bwd_packets),
    ("Fwd IP Bytes", lambda r: r.fwd_bytes),
    ("Bwd IP Bytes", lambda r: r.bwd_bytes),
    ("SYN Flag Count", lambda r: r.flags[1]),
    ("FIN Flag Count", lambda r: r.flags[0]),
    ("PSH Flag Count", lambda r: r.flags[3]),
)


class Case:
    """One dataset: real train and held-out captures and the series of both splits (prepared with
    ``headers=True``: ``train.headers`` are the real train traces' header records)."""

    def __init__(self, name: str, real_train: CaptureFields, real_test: CaptureFields, train: TraceDataset,
                 test: TraceDataset) -> None:
        self.name, self.real_train, self.real_test, self.train, self.test = name, real_train, real_test, train, test


def cic_case(seed: int = 0) -> Case:
    """The CIC-IDS2017 demo capture: its flows (one trace each) split 70 / 30 at random."""
    from netdiffus.prepare import prepare

    real = CaptureFields.read([CIC])
    ds, _ = prepare([CIC], unit="flow", feature="bytes", bin_width="2s", length=90, split_direction=True,
                    headers=True)
    if ds.n_traces != len(real.records):
        raise RuntimeError(f"prepare found {ds.n_traces} flows, the flow records {len(real.records)}")
    order = np.random.default_rng(seed).permutation(ds.n_traces)
    test, train = np.sort(order[: int(0.3 * ds.n_traces)]), np.sort(order[int(0.3 * ds.n_traces):])
    return Case("CIC-IDS2017 demo", real.subset(train), real.subset(test), ds.subset(train), ds.subset(test))


def iot_case() -> Case:
    """IoT Sentinel, B2 split (``iot-bins``): one capture per session, cut to the 16 s its series covers."""
    from netdiffus.prepare import prepare

    b = load_b2("iot-bins")
    # the B2 view again, with the header records (the same traces in the same order: the same split)
    ds, _ = prepare(IOT, unit="host", feature="bytes", bin_width="0.25s", length=64, split_direction=True,
                    workers=2, headers=True)
    train, test = _stratified(ds)
    if train.ids != b.train.ids or not np.array_equal(train.series, b.train.series):
        raise RuntimeError("prepare with headers did not give the B2 split's traces")
    window = test.length * float(test.meta.bin_width_s or 0.25)
    read = lambda d: CaptureFields.read([IOT / i for i in d.ids], window_s=window)  # noqa: E731
    return Case("IoT Sentinel (B2)", read(train), read(test), train, test)


def learned_headers(case: Case, *, seed: int = 0, n_buckets: int = 3) -> list[TraceHeader]:
    """Headers for the held-out series, drawn from a header model fitted on the real train traces
    (conditioned on each held-out trace's class and series volume)."""
    assert case.train.headers is not None
    model = HeaderModel(n_buckets=n_buckets).fit(headers=case.train.headers, labels=case.train.labels,
                              volumes=case.train.series.sum(axis=(1, 2)).tolist())
    return model.sample(labels=case.test.labels, volumes=case.test.series.sum(axis=(1, 2)).tolist(), seed=seed)


def fitted_draw(case: Case, *, steps: int) -> TraceDataset:
    """``sample`` of a ``demo`` model trained ``steps`` steps on the real train traces, one trace per
    held-out label (seed 0), with the headers its header model draws."""
    from netdiffus.synthesizer import TrafficSynthesizer

    overrides = [f"train.steps={steps}", "postprocess.calibrate_totals=false", "train.novelty_every=0"]
    synth = TrafficSynthesizer.from_preset("demo", overrides=overrides, progress=False).fit(case.train)
    return synth.sample(case.test.n_traces, labels=list(case.test.labels), seed=0)


def exported(ds: TraceDataset, folder: Path, name: str, headers: list[TraceHeader] | None = None, *,
             seed: int = 0) -> CaptureFields:
    """The fields of ``netdiffus export`` of ``ds`` (``seed``), with ``headers`` if given."""
    export_pcap(ds, folder / f"{name}.pcap", seed=seed, headers=headers)
    return CaptureFields.read([folder / f"{name}.pcap"])


def fmt(v: float) -> str:
    return "–" if not math.isfinite(v) else f"{v:.3f}"


def scores_table(rows: dict[str, dict[str, float]], judged: str | None = None) -> list[str]:
    """Fields down, comparisons across; the last column: does each score of column ``judged``
    (default the last) stay within twice the reference (real held-out, the first) one."""
    names = list(rows)
    judged = judged or names[-1]
    ref, syn = rows[names[0]], rows[judged]
    out = ["| field | " + " | ".join(names) + f" | {judged} <= 2x reference |",
           "|---|" + "---:|" * len(names) + "---|"]
    for k in FIELD_KEYS:
        ok = "–" if not (math.isfinite(ref[k]) and math.isfinite(syn[k])) else \
            ("yes" if syn[k] <= 2 * ref[k] + 1e-12 else "no")
        out.append(f"| {k} | " + " | ".join(fmt(rows[n][k]) for n in names) + f" | {ok} |")
    return out


def records_table(captures: dict[str, list[FlowRecord]]) -> list[str]:
    """Flow-record columns down, captures across: median / mean per flow, and the number of flows."""
    names = list(captures)
    out = ["| column (median / mean per flow) | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names),
           "| flows | " + " | ".join(str(len(v)) for v in captures.values()) + " |"]
    for col, get in RECORD_COLUMNS:
        cells = []
        for recs in captures.values():
            v = np.array([get(r) for r in recs], np.float64)
            cells.append(f"{np.median(v):.4g} / {v.mean():.4g}" if len(v) else "–")
        out.append(f"| {col} | " + " | ".join(cells) + " |")
    tcp = " | ".join(f"{np.mean([r.proto == 6 for r in v]):.2f}" if v else "–" for v in captures.values())
    out.append(f"| share of TCP flows | {tcp} |")
    return out


def run_case(case: Case, *, folder: Path, fit_steps: int = 0, n_buckets: int = 3,
             seeds: tuple[int, ...] = (0,)) -> list[str]:
    """The markdown of one dataset; with several ``seeds`` the learned-headers scores are the mean
    over header draws and exports of those seeds (and their standard deviation a row of its own)."""
    learned = [exported(case.test, folder, f"learned-{s}", learned_headers(case, seed=s, n_buckets=n_buckets), seed=s)
               for s in seeds]
    caps = {"real held-out": case.real_test,
            "export, assigned headers": exported(case.test, folder, "series", [None] * case.test.n_traces),
            "export, learned headers": learned[0]}
    if fit_steps:
        caps[f"fitted model ({fit_steps} steps)"] = exported(fitted_draw(case, steps=fit_steps), folder, "fitted")
    lines = [f"## {case.name}", "",
             f"{len(case.real_train.records)} real train flows ({case.train.n_traces} traces), "
             f"{len(case.real_test.records)} real held-out flows ({case.test.n_traces} traces).", ""]
    rows = {name: field_scores(case.real_train, c) for name, c in caps.items()}
    if len(seeds) > 1:
        per_seed = [field_scores(case.real_train, c) for c in learned]
        rows["export, learned headers"] = {k: float(np.mean([r[k] for r in per_seed])) for k in per_seed[0]}
        rows["learned, std over seeds"] = {k: float(np.std([r[k] for r in per_seed])) for k in per_seed[0]}
        lines += [f"Learned headers: mean (and standard deviation) over header and export seeds "
                  f"{', '.join(map(str, seeds))}; the flow records below are those of seed {seeds[0]}.", ""]
    lines += ["Field scores against real train (JSD: squared Jensen-Shannon distance, base 2; W1: Wasserstein-1 "
              "of log(1 + x) over the std of real train's; lower is better):", ""]
    lines += scores_table(rows, judged="export, learned headers") + [""]
    lines += ["Flow records (the columns of `netdiffus export --flows`):", ""]
    lines += records_table({"real train": case.real_train.records, **{n: c.records for n, c in caps.items()}})
    return lines + [""]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", default="cic,iot", help="comma list of cic, iot (default both)")
    p.add_argument("--out", type=Path, help="also write the markdown here")
    p.add_argument("--fit-steps", type=int, default=0, help="also score a demo model trained this many steps")
    p.add_argument("--n-buckets", type=int, default=3, help="volume buckets of the header model (default 3)")
    p.add_argument("--seeds", default="0", help="comma list of header and export seeds to average (default 0)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    lines = [f"# Field fidelity of exported captures ({dt.date.today().isoformat()})", ""]
    with tempfile.TemporaryDirectory() as tmp:
        for key in [k.strip() for k in args.datasets.split(",") if k.strip()]:
            case = {"cic": cic_case, "iot": iot_case}[key]()
            (Path(tmp) / key).mkdir()
            lines += run_case(case, folder=Path(tmp) / key, fit_steps=args.fit_steps,
                              n_buckets=args.n_buckets, seeds=tuple(int(x) for x in args.seeds.split(",")))
    lines.append(f"Wall time {time.perf_counter() - t0:.0f} s.")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
