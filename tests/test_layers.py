"""The layers keep their order and nothing imports in a circle.

``lint-imports`` checks the layers contract in ``pyproject.toml`` (store -> ingest -> figures ->
quality/analysis -> actions -> packs -> cycle -> cli). The import graph below is read from the source
with ``ast``, imports inside functions and under ``TYPE_CHECKING`` included: a function-local import
hides a cycle from Python, not from this test.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "compstat"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts}


def imported(tree: ast.AST) -> Iterator[tuple[str, int]]:
    """Every ``compstat`` name an import statement anywhere in ``tree`` brings in, with its line."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((a.name, node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, node.lineno
            yield from ((f"{node.module}.{a.name}", node.lineno) for a in node.names)


def import_graph() -> dict[str, dict[str, str]]:
    """Module -> imported module -> where (``path:line``), between compstat's own modules."""
    known = modules()
    graph: dict[str, dict[str, str]] = {m: {} for m in known}
    for name, path in known.items():
        for target, line in imported(ast.parse(path.read_text(encoding="utf-8"))):
            while target not in known and "." in target:  # `from compstat.x import name` names a module or not
                target = target.rsplit(".", 1)[0]
            if target in known and target != name and target.startswith("compstat"):
                graph[name].setdefault(target, f"{path.relative_to(ROOT)}:{line}")
    return graph


def package_graph(graph: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    """The same graph between compstat's packages and top-level modules (``compstat.packs``, ``compstat.config``)."""
    def top(module: str) -> str:
        return ".".join(module.split(".")[:2])

    out: dict[str, dict[str, str]] = {}
    for source, targets in graph.items():
        for target, where in targets.items():
            if top(source) != top(target) and top(target) != "compstat":
                out.setdefault(top(source), {}).setdefault(top(target), where)
    return out


def cycles(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(graph):
        if node not in index:
            visit(node)
    return found


def describe(graph: dict[str, dict[str, str]], component: list[str]) -> str:
    edges = [f"{a} -> {b} ({graph[a][b]})" for a in component for b in component if b in graph.get(a, {})]
    return "; ".join(edges)


def test_no_import_cycle_between_packages() -> None:
    graph = package_graph(import_graph())
    found = cycles(graph)
    assert found == [], "import cycles: " + " | ".join(describe(graph, c) for c in found)


def test_no_import_cycle_between_modules() -> None:
    graph = import_graph()
    found = cycles(graph)
    assert found == [], "import cycles: " + " | ".join(describe(graph, c) for c in found)


def test_cycle_finder_sees_function_local_imports(tmp_path: Path) -> None:
    """The check is not vacuous: an import hidden inside a function still closes a cycle."""
    tree = ast.parse("def f() -> None:\n    from compstat.cycle import run_cycle\n")
    assert ("compstat.cycle", 2) in list(imported(tree))
    graph = {"compstat.config": {"compstat.periods": "x"}, "compstat.periods": {"compstat.config": "y"},
             "compstat.errors": {}}
    assert cycles(graph) == [["compstat.config", "compstat.periods"]]


def test_layers_contract() -> None:
    cli = pytest.importorskip("importlinter.cli", reason="import-linter (the dev extra) is not installed")
    assert cli.lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True, no_logo=True) == 0, \
        "a layer imports from one above it: see lint-imports' output above"
