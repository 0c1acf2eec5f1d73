"""CaptureStats: the capture statistics prepare keeps for export, round trips and version 1 migration."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from netdiffus.errors import DatasetError
from netdiffus.export.pcap import export_pcap
from netdiffus.features.series import SIZE_EDGES
from netdiffus.io.capture_stats import CAPTURE_STATS_VERSION, CaptureStats, CountHistogram, PacketSizes
from netdiffus.io.dataset import read_dataset
from netdiffus.prepare import prepare

DATA = Path(__file__).resolve().parents[2] / "data"
FIXTURES = DATA / "capture_stats"  # written by netdiffus 0.1.0, see make_fixture.py

EDGES = [0, 8, 16, 24]
UP = {"edges": EDGES, "counts": [1, 2, 0]}
DOWN = {"edges": EDGES, "counts": [0, 3, 4]}
EMPTY = {"edges": EDGES, "counts": [0, 0, 0]}
OFFSETS = {"edges": [0.0, 0.5, 1.0], "counts": [2, 1]}


def _hist(obj):
    return CountHistogram(edges=tuple(obj["edges"]), counts=tuple(obj["counts"]))


def _sizes(rows):
    """Size counts [2, len(SIZE_EDGES) - 1] that start with ``rows`` (down, up), then zeros."""
    out = np.zeros((2, len(SIZE_EDGES) - 1), np.int64)
    out[:, : len(rows[0])] = rows
    return out


def test_counts_round_trip_through_json():
    stats = CaptureStats.from_counts(
        size_hist={"b": _sizes([[0, 3, 4], [1, 2, 0]]), "a": _sizes([[5, 0, 0], [0, 0, 1]])},
        offset_hist={"a": np.arange(20), "b": np.ones(20, np.int64)},
        transport_counts={"a": np.array([1, 5, 0]), "b": np.array([3, 0, 9])},
        by_direction=True,
    )
    data = stats.to_json()
    assert list(data) == ["capture_stats_version", "packet_sizes", "transport", "intra_bin_offsets"]
    assert data["capture_stats_version"] == CAPTURE_STATS_VERSION == stats.version
    assert list(data["packet_sizes"]) == ["a", "b"] and list(data["packet_sizes"]["b"]) == ["down", "up"]
    assert data["transport"] == {"a": "udp", "b": "other"}
    assert data["packet_sizes"]["b"]["up"]["counts"][:3] == [1, 2, 0]  # row 1 of the counts is "up"
    again = CaptureStats.from_json(json.loads(json.dumps(data)))
    assert again == stats and again.to_json() == data


def test_sizes_without_directions_round_trip():
    stats = CaptureStats.from_counts(size_hist={"a": _sizes([[5, 0, 1], [1, 0, 2]])}, offset_hist=None,
                                     transport_counts={"a": np.array([1, 0, 0])}, by_direction=False)
    data = stats.to_json()
    assert "intra_bin_offsets" not in data and set(data["packet_sizes"]["a"]) == {"edges", "counts"}
    assert data["packet_sizes"]["a"]["counts"][:3] == [6, 0, 3]
    assert CaptureStats.from_json(data) == stats
    assert stats.sizes("a", "up") == stats.sizes("a", None) == stats.sizes("a", "down")  # one for both


@pytest.mark.parametrize(
    "entry, up, down, pooled",
    [
        ({"down": DOWN, "up": UP}, UP, DOWN, {"edges": EDGES, "counts": [1.0, 5.0, 4.0]}),
        (UP, UP, UP, UP),  # one histogram: both directions
        ({"up": UP}, UP, None, UP),  # a side missing
        ({"down": EMPTY, "up": UP}, UP, None, UP),  # a side that saw nothing reads as absent
        ({"down": EMPTY, "up": EMPTY}, None, None, None),
        (EMPTY, None, None, None),
        ({"down": DOWN, "up": {"edges": [0, 1], "counts": [1]}}, {"edges": [0, 1], "counts": [1]}, DOWN, None),
    ],
)  # fmt: skip
def test_sizes_by_direction(entry, up, down, pooled):
    stats = CaptureStats.from_json({"packet_sizes": {"a": entry}})
    for direction, want in (("up", up), ("down", down), (None, pooled)):
        got = stats.sizes("a", direction)
        assert (got if got is None else got.to_json()) == (want if want is None else _hist(want).to_json())
    assert stats.sizes("other class", "up") is None


V1_SPLIT = {"packet_sizes": {"a": {"down": DOWN, "up": UP}}, "transport": {"a": "tcp"},
            "intra_bin_offsets": {"a": OFFSETS}}
V1_ONE = {"packet_sizes": {"a": UP}, "transport": {"a": "udp"}}


@pytest.mark.parametrize(
    "v1, channels, want",
    [
        # what 0.1.0 wrote: the same layout, migrated to the version key
        (V1_SPLIT, None, V1_SPLIT),
        (V1_ONE, None, V1_ONE),
        # sizes by channel name: the channel's direction (its own histogram wins over the direction's)
        ({"packet_sizes": {"a": {"bytes_to_host": DOWN, "bytes_from_host": UP, "up": DOWN}}},
         {"bytes_to_host": "down", "bytes_from_host": "up"},
         {"packet_sizes": {"a": {"down": DOWN, "up": UP}}, "transport": {}}),
        # offsets kept by direction are pooled; tables that are not dicts and unknown transports are ignored
        ({"intra_bin_offsets": {"a": {"down": OFFSETS, "up": OFFSETS}}, "packet_sizes": [],
          "transport": {"a": "sctp"}},
         None,
         {"packet_sizes": {}, "transport": {},
          "intra_bin_offsets": {"a": {"edges": [0.0, 0.5, 1.0], "counts": [4.0, 2.0]}}}),
    ],
)  # fmt: skip
def test_version_1_is_migrated(v1, channels, want):
    stats = CaptureStats.from_json({"source_kind": "pcap", **v1}, channels=channels)
    assert stats.to_json() == {"capture_stats_version": CAPTURE_STATS_VERSION, **want}


def test_no_statistics_is_none():
    assert CaptureStats.from_json({}) is None
    assert CaptureStats.from_json({"source_kind": "csv-per-trace", "aggregate": 4}) is None


@pytest.mark.parametrize(
    "extra, message",
    [
        ({"capture_stats_version": 3, "packet_sizes": {}},
         "the capture statistics are of version 3, newer than this netdiffus reads (up to 2): upgrade netdiffus"),
        ({"capture_stats_version": "2"}, "meta.extra['capture_stats_version'] must be an integer >= 1 (got '2')"),
        ({"packet_sizes": {"a": {"up": {"edges": [0, 1]}}}},
         "meta.extra['packet_sizes']['a']['up'] must be a dict with 'edges' and 'counts' (got {'edges': [0, 1]})"),
        ({"packet_sizes": {"a": [1, 2]}},
         "meta.extra['packet_sizes']['a'] must be a dict with 'edges' and 'counts' (got [1, 2])"),
        ({"intra_bin_offsets": {"a": {"edges": [1, 0], "counts": [1]}}},
         "meta.extra['intra_bin_offsets']['a'] edges must be finite and increasing (got [1.0, 0.0]...)"),
        ({"packet_sizes": {"a": {"edges": [0, 1], "counts": [-1]}}},
         "meta.extra['packet_sizes']['a'] counts must be >= 0 and not all zero (got [-1.0]...)"),
        ({"packet_sizes": {"a": {"edges": ["x", 1], "counts": [1]}}},
         "meta.extra['packet_sizes']['a'] edges and counts must be lists of numbers (got {'edges': ['x', 1], "
         "'counts': [1]})"),
        ({"intra_bin_offsets": {"a": {"edges": [0, 1], "counts": [{}]}}},
         "meta.extra['intra_bin_offsets']['a'] edges and counts must be lists of numbers (got {'edges': [0, 1], "
         "'counts': [{}]})"),
    ],
)  # fmt: skip
def test_errors_name_the_entry(extra, message):
    with pytest.raises(DatasetError) as exc:
        CaptureStats.from_json(extra)
    assert str(exc.value) == message


def test_packet_sizes_json_keeps_its_numbers():
    sizes = PacketSizes(up=_hist(UP), down=_hist(DOWN))
    assert sizes.to_json() == {"down": DOWN, "up": UP}
    assert json.dumps(sizes.to_json()) == json.dumps({"down": DOWN, "up": UP})  # ints stay ints


@pytest.mark.parametrize(
    "name, kw",
    [
        ("v1-host-bytes-split.parquet", dict(unit="host", feature="bytes", bin_width="0.25s", length=12,
                                             split_direction=True)),
        ("v1-file-iat.parquet", dict(unit="file", feature="iat", length=8)),
    ],
)  # fmt: skip
def test_datasets_of_version_1_read_and_export_as_before(tmp_path, monkeypatch, name, kw):
    old = read_dataset(FIXTURES / name)
    assert "capture_stats_version" not in old.meta.extra
    stats = CaptureStats.from_meta(old.meta)
    monkeypatch.chdir(DATA)  # the fixture's sources are relative to tests/data
    new, _ = prepare([Path("pcap/golden.pcap"), Path("pcap/golden-vlan.pcap")], label_from=r"regex:^(golden[a-z-]*)",
                     **kw)
    assert CaptureStats.from_meta(new.meta) == stats
    # the other keys are as 0.1.0 wrote them; the statistics gained their version, the channels their units
    units = ["seconds"] if kw["feature"] == "iat" else ["bytes", "bytes"]
    assert new.meta.extra == {**old.meta.extra, "capture_stats_version": CAPTURE_STATS_VERSION,
                              "channel_units": units}
    keys = list(old.meta.extra)
    keys[keys.index("packet_sizes"):keys.index("packet_sizes")] = ["channel_units", "capture_stats_version"]
    assert list(new.meta.extra) == keys  # in the same order: the metadata JSON differs by those two only
    export_pcap(old, tmp_path / "old.pcap", seed=0)
    digests = json.loads((FIXTURES / "export_sha256.json").read_text())
    assert hashlib.sha256((tmp_path / "old.pcap").read_bytes()).hexdigest() == digests[name]
