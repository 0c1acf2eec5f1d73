"""A dataset's metadata is untrusted input: every field of it, tampered, gives a one-line error or
works, in the commands that read it (export to a capture, evaluate); never an unexpected exception.

The cases: each leaf of the metadata of a flow dataset prepared from the golden capture (the
first 3 items of a list) set to a wrong type, NaN, a negative and a huge number; the default suite
runs every 5th case, ``-m slow`` all of them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from _tamper import VALUES, leaves

from netdiffus.errors import NetDiffusError
from netdiffus.evaluation import evaluate
from netdiffus.export.pcap import export_pcap
from netdiffus.io.dataset import META_KEY, read_dataset, write_dataset
from netdiffus.prepare import prepare

GOLDEN = Path(__file__).resolve().parents[1] / "data" / "pcap" / "golden.pcap"


def _dataset(folder: Path) -> Path:
    (folder / "caps" / "dev").mkdir(parents=True)
    (folder / "caps" / "dev" / "a.pcap").write_bytes(GOLDEN.read_bytes())
    ds, _ = prepare([folder / "caps"], unit="flow")
    return write_dataset(ds, folder / "d.parquet")


def _cases() -> list[tuple[tuple, str]]:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        meta = json.loads(pq.read_table(_dataset(Path(tmp))).schema.metadata[META_KEY])
    return [(path, kind) for path in leaves(meta) for kind in VALUES]


CASES = _cases()


def _tampered_dataset_behaves(tmp_path: Path, path: tuple, kind: str) -> str:
    table = pq.read_table(_dataset(tmp_path))
    meta = json.loads(table.schema.metadata[META_KEY])
    node = meta
    for p in path[:-1]:
        node = node[p]
    node[path[-1]] = VALUES[kind]
    tampered = tmp_path / "tampered.parquet"
    pq.write_table(table.replace_schema_metadata({META_KEY: json.dumps(meta).encode()}), tampered)
    outcomes = []
    for step in (lambda ds: export_pcap(ds, tmp_path / "x.pcap"),
                 lambda ds: evaluate(ds, ds, metrics=["fidelity"])):
        try:
            step(read_dataset(tampered))
            outcomes.append("worked")
        except NetDiffusError as exc:
            assert "\n" not in str(exc), f"{path} = {kind}: {exc}"
            outcomes.append("refused")
    return "/".join(outcomes)


@pytest.mark.parametrize("path, kind", CASES[::5], ids=lambda v: str(v))
def test_tampered_dataset_metadata_is_refused_in_one_line_or_works(tmp_path, path, kind):
    _tampered_dataset_behaves(tmp_path, path, kind)


@pytest.mark.slow
def test_every_tampered_metadata_field(tmp_path):
    for i, case in enumerate(CASES):
        (tmp_path / str(i)).mkdir()
        _tampered_dataset_behaves(tmp_path / str(i), *case)
