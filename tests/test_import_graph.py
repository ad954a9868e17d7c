"""The package's import graph, read from the source with :mod:`ast` (nothing is
imported): no cycles between modules or between subpackages, lore never imports
story memory, and the package's own modules are imported at module level.

Every import counts as an edge: module level, inside ``if TYPE_CHECKING:``, inside
a function, and a ``"automuse_rag.x.y:name"`` string (the model registry's lazy
table). A function-level import is only for a heavy third-party library (torch,
spaCy, chromadb, ...), never for one of the package's own modules: that would hide
a cycle. The one place allowed to defer its own modules is listed in
``DEFERRED_OK``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "automuse_rag"
ROOT = Path(__file__).resolve().parents[1] / PACKAGE

# Modules whose functions may import the package's own modules (by prefix). Empty:
# the command modules import the library at module level too.
DEFERRED_OK: tuple[str, ...] = ()

# Lower layers that must not import a higher one: (importer prefix, forbidden prefix).
LAYERS = (("lore", "memory"),)

_LAZY = re.compile(r"^([A-Za-z_][\w.]*):[A-Za-z_]\w*$")


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    kind: str  # "module" | "type" (under TYPE_CHECKING) | "function" | "lazy" (a "module:name" string)


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file under ``root``."""
    out = {}
    for path in sorted(root.rglob("*.py")):
        parts = [package, *path.relative_to(root).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, known: Iterable[str]) -> Iterator[str]:
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        parts = module.split(".") if is_package else module.split(".")[:-1]
        parts = parts[: len(parts) - (node.level - 1)]
        base = ".".join([*parts, base] if base else parts)
    for alias in node.names:
        full = f"{base}.{alias.name}"
        yield full if full in known else base


def imports(root: Path, package: str) -> list[Edge]:
    """Every import of a module of ``package`` by another (see the module docstring)."""
    modules = module_names(root, package)
    edges: list[Edge] = []
    for module, path in modules.items():
        is_package = path.name == "__init__.py"

        def visit(node: ast.AST, kind: str, module: str = module, is_package: bool = is_package) -> None:
            for child in ast.iter_child_nodes(node):
                child_kind = kind
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                    child_kind = "function"
                elif isinstance(child, ast.If) and kind == "module" and _type_checking(child.test):
                    for sub in child.body:
                        visit(ast.Module(body=[sub], type_ignores=[]), "type")
                    for sub in child.orelse:
                        visit(ast.Module(body=[sub], type_ignores=[]), kind)
                    continue
                if isinstance(child, ast.Import | ast.ImportFrom):
                    for target in _targets(child, module, is_package, modules):
                        if target in modules and target != module:
                            edges.append(Edge(module, target, child.lineno, kind))
                elif isinstance(child, ast.Constant) and isinstance(child.value, str):
                    lazy = _LAZY.match(child.value)
                    if lazy and lazy.group(1) in modules:
                        edges.append(Edge(module, lazy.group(1), child.lineno, "lazy"))
                visit(child, child_kind)

        visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), "module")
    return list(dict.fromkeys(edges))  # one edge per import statement and target


def cycles(edges: Iterable[Edge], group: int | None = None) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) per strongly connected component of the graph;
    with ``group``, of the graph between the first ``group`` name parts (subpackages)."""

    def node(name: str) -> str:
        return name if group is None else ".".join(name.split(".")[:group])

    graph: dict[str, set[str]] = {}
    for e in edges:
        a, b = node(e.source), node(e.target)
        graph.setdefault(b, set())
        if a != b:
            graph.setdefault(a, set()).add(b)
    # Tarjan's algorithm, iteratively.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        components.append(sorted(comp))
    return [_one_cycle(graph, comp) for comp in components]


def _one_cycle(graph: dict[str, set[str]], comp: list[str]) -> list[str]:
    """A cycle through the component's first node (breadth first: a shortest one)."""
    members, start = set(comp), comp[0]
    paths = {w: [start, w] for w in sorted(graph[start] & members)}
    frontier = list(paths)
    while start not in paths:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w not in paths:
                    paths[w] = [*paths[v], w]
                    nxt.append(w)
        frontier = nxt
    return paths[start]


def layer_violations(edges: Iterable[Edge], package: str, layers: Iterable[tuple[str, str]] = LAYERS) -> list[str]:
    out = []
    for low, high in layers:
        low_p, high_p = f"{package}.{low}", f"{package}.{high}"
        for e in edges:
            if (e.source == low_p or e.source.startswith(low_p + ".")) and (
                e.target == high_p or e.target.startswith(high_p + ".")
            ):
                out.append(f"{e.source}:{e.line} imports {e.target} ({low} must not import {high})")
    return out


def deferred_imports(edges: Iterable[Edge], allowed: Iterable[str] = DEFERRED_OK) -> list[str]:
    allowed = tuple(allowed)
    return [
        f"{e.source}:{e.line} imports {e.target} inside a function"
        for e in edges
        if e.kind == "function" and not e.source.startswith(allowed)
    ]


def _named(found: list[list[str]]) -> str:
    return "\n".join(" -> ".join(c) for c in found)


@pytest.fixture(scope="module")
def edges() -> list[Edge]:
    return imports(ROOT, PACKAGE)


def test_the_walk_sees_the_package(edges: list[Edge]) -> None:
    """The walk finds the imports that are there (a broken walk would pass every rule)."""
    assert len(module_names(ROOT, PACKAGE)) > 100
    pairs = {(e.source, e.target, e.kind) for e in edges}
    assert ("automuse_rag.memory.state", "automuse_rag.lore.lorestate", "module") in pairs
    assert ("automuse_rag.models.registry", "automuse_rag.models.backends", "lazy") in pairs


def test_no_module_cycles(edges: list[Edge]) -> None:
    found = cycles(edges)
    assert not found, "import cycles between modules:\n" + _named(found)


def test_no_subpackage_cycles(edges: list[Edge]) -> None:
    """Between automuse_rag.memory, automuse_rag.lore, automuse_rag.models,
    automuse_rag.settings...: the layers form no cycle either."""
    found = cycles(edges, group=2)
    assert not found, "import cycles between subpackages:\n" + _named(found)


def test_lore_never_imports_memory(edges: list[Edge]) -> None:
    assert not layer_violations(edges, PACKAGE)


def test_own_modules_imported_at_module_level(edges: list[Edge]) -> None:
    found = deferred_imports(edges)
    assert not found, "\n".join(found)


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "pkg" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for d in [root / "pkg", *(p for p in (root / "pkg").rglob("*") if p.is_dir())]:
        (d / "__init__.py").touch()
    return root / "pkg"


def test_the_rules_catch_a_hidden_cycle(tmp_path: Path) -> None:
    """A synthetic package with the faults this module guards against: each rule names it."""
    root = _write(
        tmp_path,
        {
            "a.py": "from pkg.b import g\n",
            "b.py": "def g():\n    from pkg import a\n    return a\n",
            "lore/parse.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.memory.story import Story\n",
            "memory/story.py": "from pkg.lore.parse import x\nREG = {'p': 'pkg.c:make'}\n",
            "c.py": "from . import d\n",
            "d.py": "from .c import make\n",
        },
    )
    edges = imports(root, "pkg")
    assert sorted(cycles(edges)) == [  # the TYPE_CHECKING import closes a cycle too
        ["pkg.a", "pkg.b", "pkg.a"],
        ["pkg.c", "pkg.d", "pkg.c"],
        ["pkg.lore.parse", "pkg.memory.story", "pkg.lore.parse"],
    ]
    assert sorted(cycles(edges, group=2)) == [
        ["pkg.a", "pkg.b", "pkg.a"],
        ["pkg.c", "pkg.d", "pkg.c"],
        ["pkg.lore", "pkg.memory", "pkg.lore"],
    ]
    assert layer_violations(edges, "pkg") == ["pkg.lore.parse:3 imports pkg.memory.story (lore must not import memory)"]
    assert deferred_imports(edges) == ["pkg.b:2 imports pkg.a inside a function"]
    assert deferred_imports(edges, allowed=("pkg.b",)) == []
    assert Edge("pkg.memory.story", "pkg.c", 2, "lazy") in edges


def test_a_clean_package_passes(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "a.py": "import json\nfrom pkg.b import g\n\ndef f():\n    import torch\n    return torch\n",
            "b.py": "def g():\n    import numpy\n",
            "memory/story.py": "from pkg.lore import parse\n",
            "lore/parse.py": "from pkg.b import g\n",
        },
    )
    edges = imports(root, "pkg")
    assert ("pkg.memory.story", "pkg.lore.parse") in {(e.source, e.target) for e in edges}
    assert cycles(edges) == cycles(edges, group=2) == []
    assert layer_violations(edges, "pkg") == deferred_imports(edges) == []
