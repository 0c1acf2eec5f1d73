"""Make the datasets written by netdiffus 0.1.0 (capture statistics of version 1, no version key).

Run with netdiffus 0.1.0 on the path, from tests/data: ``python capture_stats/make_fixture.py capture_stats``.
Also records what 0.1.0's exporter wrote from them (seed 0): the migrated statistics must give
the same bytes.
"""
import hashlib
import json
import sys
import tempfile
from pathlib import Path

from netdiffus.export.pcap import export_pcap
from netdiffus.io.dataset import read_dataset, write_dataset
from netdiffus.prepare import prepare

out = Path(sys.argv[1])
captures = [Path("pcap/golden.pcap"), Path("pcap/golden-vlan.pcap")]  # relative: the sources stay short
cases = {
    # one size histogram per direction ({"down", "up"}) and intra-bin offsets
    "v1-host-bytes-split.parquet": dict(unit="host", feature="bytes", bin_width="0.25s", length=12,
                                        split_direction=True),
    # one size histogram for both directions, no offsets (not binned)
    "v1-file-iat.parquet": dict(unit="file", feature="iat", length=8),
}
digests = {}
for name, kw in cases.items():
    ds, _ = prepare(captures, label_from=r"regex:^(golden[a-z-]*)", **kw)
    write_dataset(ds, out / name)
    pcap_path = Path(tempfile.mkdtemp()) / "x.pcap"
    export_pcap(read_dataset(out / name), pcap_path, seed=0)
    digests[name] = hashlib.sha256(pcap_path.read_bytes()).hexdigest()
(out / "export_sha256.json").write_text(json.dumps(digests, indent=1) + "\n")
