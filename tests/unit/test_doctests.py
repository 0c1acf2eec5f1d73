"""Run the numpydoc ``Examples`` of every ``netdiffus`` module under doctest.

Modules are discovered with :func:`pkgutil.iter_modules`, walked down the package tree, so a new
module with ``>>>`` examples is covered without editing this file. Discovery reads source files
and imports nothing (:func:`pkgutil.walk_packages` would import every subpackage, and with them
torch and scikit-learn, whenever this file is collected); each test imports its module.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil
import sys
import tempfile
from collections.abc import Iterator, Sequence

import pytest

import netdiffus

OPTIONFLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

# Modules that are never imported for their docstrings: ``netdiffus.__main__`` runs the CLI (and
# exits) on import.
EXCLUDED = {"netdiffus.__main__"}


def _walk(paths: Sequence[str], prefix: str) -> Iterator[tuple[str, str]]:
    """``(module name, source file)`` of every module below ``paths``, without importing any."""
    for info in pkgutil.iter_modules(paths, prefix):
        spec = info.module_finder.find_spec(info.name)
        if spec is None or not spec.origin:
            continue
        yield info.name, spec.origin
        if info.ispkg:
            yield from _walk(spec.submodule_search_locations, info.name + ".")


def _modules_with_examples() -> list[str]:
    modules = [(netdiffus.__name__, netdiffus.__file__), *_walk(netdiffus.__path__, netdiffus.__name__ + ".")]
    found = []
    for name, origin in modules:
        if name in EXCLUDED or not origin.endswith(".py"):
            continue
        with open(origin, encoding="utf-8") as fh:
            if ">>> " in fh.read():
                found.append(name)
    return sorted(found)


MODULES = _modules_with_examples()


def test_discovery_finds_the_documented_modules():
    # A guard against discovery silently finding nothing (a broken path, a renamed package).
    assert len(MODULES) >= 30, MODULES


@pytest.mark.skipif(sys.flags.optimize >= 2, reason="python -OO strips docstrings")
@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    # Run from an empty folder, so an example that writes into the working directory is caught
    # below instead of leaving files in the checkout; and put tempfile's files (examples that
    # write use tempfile.mkdtemp) under pytest's tmp_path, which pytest cleans up.
    cwd, tmp = tmp_path / "cwd", tmp_path / "tmp"
    cwd.mkdir()
    tmp.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    module = importlib.import_module(name)
    # ">>> " in the source but no example that doctest collects (a prompt in a comment, or in a
    # docstring doctest does not look at) would mean the examples silently never run.
    found = sum(len(t.examples) for t in doctest.DocTestFinder().find(module))
    assert found > 0, f"{name}: has '>>> ' in its source but doctest collects no examples from it"
    result = doctest.testmod(module, optionflags=OPTIONFLAGS)
    assert result.failed == 0, (
        f"{name}: {result.failed} of {result.attempted} doctest examples failed (report in the captured stdout)"
    )
    leftovers = sorted(p.name for p in cwd.iterdir())
    assert not leftovers, f"{name}: examples wrote into the working directory: {leftovers}"
