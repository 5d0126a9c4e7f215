"""diception_core's modules import each other without cycles (module-level imports, read with ``ast``).

Imports inside functions (deferred on purpose, e.g. the loader reached from ``from_pretrained``) and under
``if TYPE_CHECKING:`` never run at import time, so they do not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = "diception_core"
ROOT = Path(__file__).resolve().parents[2] / PACKAGE


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _module_level_imports(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """Import statements that run when the module is imported: the body, and blocks of if / try / with in it."""
    found: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                found += _module_level_imports(node.body)
            found += _module_level_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                found += _module_level_imports(block)
        elif isinstance(node, ast.With):
            found += _module_level_imports(node.body)
    return found


def _resolve(module: str, is_package: bool, node: ast.Import | ast.ImportFrom, known: set[str]) -> set[str]:
    """The package's modules an import statement loads."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    targets = {target} if target in known else set()
    targets |= {f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in known}
    return targets


def import_graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in ROOT.rglob("*.py")}
    known = set(files)
    graph: dict[str, set[str]] = {}
    for module, path in files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        edges: set[str] = set()
        for node in _module_level_imports(tree.body):
            edges |= _resolve(module, path.name == "__init__.py", node, known)
        graph[module] = edges - {module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (depth-first search, three colours)."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_package_has_no_module_level_import_cycle() -> None:
    graph = import_graph()
    assert f"{PACKAGE}.pipeline" in graph and f"{PACKAGE}.runtime" in graph[f"{PACKAGE}.pipeline"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("source, expected", [
    ("from .pipeline import X", {"diception_core.pipeline"}),
    ("from . import exports, visualize", {"diception_core.exports", "diception_core.visualize"}),
    ("import diception_core.tasks", {"diception_core.tasks"}),
    ("from ..decoders import decode", set()),  # resolved from diception_core.x: outside the package
])
def test_relative_imports_resolve_to_modules(source: str, expected: set[str]) -> None:
    known = {"diception_core.pipeline", "diception_core.exports", "diception_core.visualize", "diception_core.tasks"}
    node = ast.parse(source).body[0]
    assert _resolve("diception_core.x", False, node, known) == expected
