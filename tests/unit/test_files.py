"""Outputs: no replacement at the moment of the rename, sets of outputs, leftovers of killed runs."""

import os
import subprocess
import sys

import pytest

from netdiffus.errors import InputError
from netdiffus.files import atomic_path, check_distinct, no_overwrite, output_set, remove_stale_temps, temp_name


def test_no_overwrite_refuses_at_the_rename_a_file_made_after_the_check(tmp_path):
    target = tmp_path / "out.parquet"
    with no_overwrite(), pytest.raises(InputError) as exc, atomic_path(target) as tmp:
        tmp.write_text("mine")
        target.write_text("another run's")  # it won the race between our check and our rename
    assert str(exc.value) == f"output path {target} exists (use --force to replace it)"
    assert target.read_text() == "another run's"
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]  # our temporary is gone


@pytest.mark.parametrize("replace", [True, None])
def test_outside_no_overwrite_or_with_replace_the_file_is_replaced(tmp_path, replace):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_path(target, replace=replace) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"


def test_two_processes_racing_to_one_name_cannot_both_succeed(tmp_path):
    target = tmp_path / "out.txt"
    script = (
        "import sys, time\n"
        "from netdiffus.files import atomic_path, no_overwrite\n"
        "with no_overwrite(), atomic_path(sys.argv[1]) as tmp:\n"
        "    tmp.write_text(sys.argv[2])\n"
        "    time.sleep(0.5)\n"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(target), name], stderr=subprocess.PIPE, text=True)
             for name in ("a", "b")]
    codes = sorted(p.wait() for p in procs)
    assert codes == [0, 1]
    assert target.read_text() in ("a", "b")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_an_output_set_appears_whole_or_not_at_all(tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.csv"
    with pytest.raises(OSError), output_set([a, b]) as (ta, tb):
        ta.write_text("A")
        raise OSError(28, "No space left on device", str(tb))  # the second output fails
    assert list(tmp_path.iterdir()) == []
    with output_set([a, b]) as (ta, tb):
        ta.write_text("A")
        tb.write_text("B")
    assert (a.read_text(), b.read_text()) == ("A", "B")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.parquet", "b.csv"]


def test_an_output_set_that_cannot_publish_its_second_removes_its_first(tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.csv"
    b.write_text("someone else's")
    with no_overwrite(), pytest.raises(InputError, match="b.csv exists"), output_set([a, b]) as (ta, tb):
        ta.write_text("A")
        tb.write_text("B")
    assert not a.exists() and b.read_text() == "someone else's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.csv"]


def test_leftovers_of_a_killed_process_are_removed_and_a_live_ones_are_not(tmp_path):
    target = tmp_path / "big.pcap"
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()  # a process id that no longer runs
    dead = target.with_name(f".big.pcap.{proc.pid}-0123abcd.tmp")
    dead.write_bytes(b"x" * 100)
    live = temp_name(target)  # this process's
    live.write_bytes(b"y")
    other = tmp_path / ".other.pcap.1-0123abcd.tmp"  # beside another output: not ours to judge
    other.write_bytes(b"z")
    assert remove_stale_temps(target) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([live.name, other.name])
    with atomic_path(target) as tmp:  # every write cleans up beside its output
        tmp.write_text("done")
    assert target.read_text() == "done"


@pytest.mark.parametrize(
    "paths, message",
    [
        ({"-o": "x.parquet", "--csv": "x.csv"}, None),
        ({"-o": "x.parquet", "--csv": "./x.parquet"},
         "-o and --csv name the same file (./x.parquet); give each its own"),
        ({"--pcap": "d/x", "--flows": "d/../d/x"},
         "--pcap and --flows name the same file (d/../d/x); give each its own"),
    ],
)
def test_outputs_naming_one_file_are_refused(tmp_path, monkeypatch, paths, message):
    monkeypatch.chdir(tmp_path)
    os.makedirs("d")
    if message is None:
        check_distinct(paths)
        return
    with pytest.raises(InputError) as exc:
        check_distinct(paths)
    assert str(exc.value) == message
