"""The architecture, as docs/architecture.md states it: layers, no import cycle, short functions.

Read from the source (``ast``), importing nothing: a module may import from its own layer or the
layers below it, never above; the import graph has no cycle; no function in ``src/`` has more
than ``MAX_FUNCTION_LINES`` lines of code; the ``TrafficSynthesizer`` façade stays under
``MAX_SYNTHESIZER_LINES`` lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"

#: Bottom to top. A module belongs to the longest entry that is it or a package above it; the
#: package itself (``netdiffus``, its ``__init__``) is an entry of its own, not a prefix.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("netdiffus._version", "netdiffus.errors", "netdiffus.config", "netdiffus.files")),
    ("domain", ("netdiffus.io", "netdiffus.features", "netdiffus.imaging", "netdiffus.diffusion",
                "netdiffus.postprocess", "netdiffus.distributed", "netdiffus.cluster", "netdiffus.progress",
                "netdiffus.vocab")),
    ("stages", ("netdiffus.representation", "netdiffus.resolve", "netdiffus.training", "netdiffus.distill",
                "netdiffus.train_state",
                "netdiffus.sampling", "netdiffus.stream", "netdiffus.checkpoint", "netdiffus.manifest",
                "netdiffus.run_folder",
                "netdiffus.prepare", "netdiffus.export", "netdiffus.evaluation", "netdiffus.describe",
                "netdiffus.novelty", "netdiffus.privacy", "netdiffus.selection", "netdiffus.headers")),
    ("api", ("netdiffus.synthesizer", "netdiffus.demo", "netdiffus")),
    ("cli", ("netdiffus.cli", "netdiffus.__main__")),
]

#: Code lines (not blank, not a comment, not the docstring) of the longest function allowed.
MAX_FUNCTION_LINES = 80
MAX_SYNTHESIZER_LINES = 200


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted((SRC / "netdiffus").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _runtime_imports(tree: ast.Module) -> list[ast.ImportFrom | ast.Import]:
    """Every import statement, except those under ``if TYPE_CHECKING:`` (types only)."""
    found = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and getattr(child.test, "id", None) == "TYPE_CHECKING":
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.append(child)
            visit(child)

    visit(tree)
    return found


def _imports(name: str, path: Path) -> set[str]:
    """The netdiffus modules that ``name`` imports (a name imported from a package counts as
    its submodule when there is one)."""
    out = set()
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    for node in _runtime_imports(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("netdiffus"))
            continue
        base = node.module or ""
        if node.level:  # relative import
            base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
        if not base.startswith("netdiffus"):
            continue
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            out.add(sub if sub in MODULES else base)
    out.discard(name)
    return out


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def layer_of(module: str) -> int:
    best = None
    for i, (_, prefixes) in enumerate(LAYERS):
        for p in prefixes:
            inside = module.startswith(p + ".") and p != "netdiffus"
            if (module == p or inside) and (best is None or len(p) > best[1]):
                best = (i, len(p))
    assert best is not None, f"{module} is in no layer of LAYERS (add it, and to docs/architecture.md)"
    return best[0]


def test_every_module_has_a_layer_and_imports_none_above_it():
    wrong = [f"{m} ({LAYERS[layer_of(m)][0]}) imports {d} ({LAYERS[layer_of(d)][0]})"
             for m, deps in GRAPH.items() for d in sorted(deps) if layer_of(d) > layer_of(m)]
    assert wrong == []


def test_the_import_graph_has_no_cycle():
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(GRAPH.get(m, ())):
            if state.get(d) == 1:
                cycles.append(" -> ".join(path[path.index(d):] + [d]))
            elif d not in state:
                visit(d, path + [d])
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m, [m])
    assert cycles == []


def _code_lines(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    body = node.body
    doc = set()
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant) \
            and isinstance(body[0].value.value, str):
        doc = set(range(body[0].lineno, body[0].end_lineno + 1))
    return sum(1 for i in range(node.lineno, node.end_lineno + 1)
               if i not in doc and lines[i - 1].strip() and not lines[i - 1].strip().startswith("#"))


def test_no_function_is_longer_than_the_limit():
    long = []
    for name, path in MODULES.items():
        text = path.read_text()
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = _code_lines(lines, node)
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {n} lines")
    assert long == []


def test_the_synthesizer_facade_stays_short():
    tree = ast.parse(MODULES["netdiffus.synthesizer"].read_text())
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "TrafficSynthesizer")
    assert cls.end_lineno - cls.lineno + 1 < MAX_SYNTHESIZER_LINES


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_opens_with_a_docstring(name):
    assert ast.get_docstring(ast.parse(MODULES[name].read_text())), f"{name} has no module docstring"


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from netdiffus.io.dataset import TraceDataset", {"netdiffus.io.dataset"}),
        ("from netdiffus.io import dataset", {"netdiffus.io.dataset"}),
        ("from netdiffus import __version__", {"netdiffus"}),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from netdiffus.cli import main", set()),
        ("def f():\n    from netdiffus.synthesizer import TrafficSynthesizer", {"netdiffus.synthesizer"}),
    ],
)
def test_imports_are_read_as_the_layers_need(tmp_path, source, expected):
    path = tmp_path / "m.py"
    path.write_text(source)
    assert _imports("netdiffus.m", path) == expected
