"""The import graph of the zats packages, read from their sources with `ast`: no package has an
import circle among its modules, and the layering holds (client and broker never import each
other; the client imports only zats.protocol and itself; zats.protocol imports neither).

Every import counts as an edge: module level, inside functions, and under `if TYPE_CHECKING:`.
Relative imports are resolved; `from pkg import name` is an edge to the module `pkg.name` when
there is one, else to `pkg`. Importing a module implicitly imports its parent packages; those
implicit edges are not counted (every module would then depend on its package's __init__)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _package_dirs() -> dict[str, Path]:
    """Package name -> source directory, from pyproject's setuptools package-dir."""
    with open(ROOT / "pyproject.toml", "rb") as f:
        mapping = tomllib.load(f)["tool"]["setuptools"]["package-dir"]
    return {pkg: ROOT / d for pkg, d in mapping.items()}


PACKAGE_DIRS = _package_dirs()


def _modules(package: str) -> dict[str, Path]:
    """Module name -> source file for every module of `package`."""
    base = PACKAGE_DIRS[package]
    found = {}
    for path in sorted(base.rglob("*.py")):
        parts = list(path.relative_to(base).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join([package, *parts])] = path
    return found


def _imports(module: str, path: Path, known: set[str]) -> set[str]:
    """Every module or package `module` imports, anywhere in its source."""
    is_package = path.name == "__init__.py"
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".")
                if not is_package:
                    parts.pop()
                if node.level > 1:
                    parts = parts[:len(parts) - (node.level - 1)]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module
            for alias in node.names:
                name = f"{base}.{alias.name}"
                targets.add(name if name in known else base)
    return targets


def import_graph(package: str) -> dict[str, set[str]]:
    """Module -> the modules of the same package it imports."""
    modules = _modules(package)
    known = set(modules)
    return {m: _imports(m, path, known) & known for m, path in modules.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[tuple[list[str], list[str]]]:
    """(circle, component) for each strongly connected component with a circle: the modules
    that import each other, and one shortest circle through the first of them as a path that
    ends where it starts (Tarjan's algorithm, then a breadth-first search inside the component)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph[v]:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)

    cycles = []
    for component in components:
        members = set(component)
        start = component[0]
        # Breadth-first from start inside the component: the shortest way back to it.
        came_from: dict[str, str] = {}
        frontier = [start]
        end = None
        while frontier and end is None:
            nxt = []
            for v in frontier:
                for w in sorted(graph[v] & members):
                    if w == start:
                        end = v
                        break
                    if w not in came_from:
                        came_from[w] = v
                        nxt.append(w)
                if end is not None:
                    break
            frontier = nxt
        path = [start]
        v = end
        while v != start:
            path.append(v)
            v = came_from[v]
        cycles.append(([start, *reversed(path[1:]), start], component))
    return cycles


def test_find_cycles_names_the_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert find_cycles(graph) == [(["a", "b", "c", "a"], ["a", "b", "c"]), (["e", "e"], ["e"])]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_relative_and_guarded_imports_are_edges(tmp_path):
    src = tmp_path / "mod.py"
    src.write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import sibling\n"
        "from .pkg import name\n"
        "if TYPE_CHECKING:\n"
        "    from .guarded import T\n"
        "def f():\n"
        "    from ..up import x\n"
        "    import zats.other\n")
    known = {"zats.p.sibling", "zats.p.pkg", "zats.p.guarded", "zats.up"}
    assert _imports("zats.p.mod", src, known) == {
        "typing", "zats.p.sibling", "zats.p.pkg", "zats.p.guarded", "zats.up", "zats.other"}


@pytest.mark.parametrize("package", ["zats.client", "zats.protocol", "zats.broker", "zats.testing", "zats.cli"])
def test_no_import_circles(package):
    cycles = find_cycles(import_graph(package))
    assert not cycles, "import circles: " + "; ".join(
        f"{' -> '.join(circle)} (modules importing each other: {', '.join(component)})"
        for circle, component in cycles)


# The zats packages each package may import (itself included); "zats" is the top-level package
# (its version).
ALLOWED = {
    "zats.client": {"zats", "zats.client", "zats.protocol"},
    "zats.protocol": {"zats.protocol"},
    # The command line client: built on the client, sharing zats-bench's measuring helpers.
    "zats.cli": {"zats", "zats.cli", "zats.client", "zats.protocol", "zats.bench"},
}
FORBIDDEN = {
    "zats.broker": {"zats.client"},
    "zats.testing": {"zats.client"},  # the fixtures serve any client
}


@pytest.mark.parametrize("package", ["zats.client", "zats.protocol", "zats.broker", "zats.testing", "zats.cli"])
def test_layering(package):
    bad = []
    for module, path in _modules(package).items():
        for target in _imports(module, path, set()):
            top = ".".join(target.split(".")[:2])
            if target != "zats" and not target.startswith("zats."):
                continue
            if (package in ALLOWED and top not in ALLOWED[package]) or top in FORBIDDEN.get(package, ()):
                bad.append(f"{module} imports {target}")
    assert not bad, "; ".join(bad)
