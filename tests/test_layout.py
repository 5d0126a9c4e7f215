"""The code's layout rules: which package may import which, and no import cycles inside the project.

Dependencies point one way (STYLE.md): ``diception_spec`` imports nothing of ours; ``diception_core`` and
``leaderboard`` import only the spec; ``evaluation`` imports the core and the leaderboard's store API; the app
(``app.py``, ``diception_app``) may import everything. Cycles count every import, function-level ones too (a deferred
import that only dodges a cycle is still one in the design); ``if TYPE_CHECKING:`` blocks are excluded. Tests live in
``tests/<package>/...``, mirroring the packages.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.conftest import REPO_ROOT

PACKAGES = ("diception_spec", "diception_core", "evaluation", "leaderboard", "diception_app")
ALLOWED: dict[str, set[str]] = {
    "diception_spec": set(),
    "diception_core": {"diception_spec"},
    "leaderboard": {"diception_spec"},
    "evaluation": {"diception_spec", "diception_core", "leaderboard"},
    "diception_app": {"diception_spec", "diception_core", "evaluation", "leaderboard"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO_ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for package in PACKAGES for p in sorted((REPO_ROOT / package).rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: str, path: Path, *, module_level_only: bool) -> Iterator[str]:
    """Absolute names of the modules ``module`` imports (relative imports resolved)."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]

    def visit(nodes: list[ast.stmt]) -> Iterator[str]:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking(node):
                continue
            if isinstance(node, ast.Import):
                yield from (alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                yield base
                yield from (f"{base}.{alias.name}" for alias in node.names)
            elif not module_level_only or isinstance(node, ast.If | ast.Try | ast.With):
                for field in ("body", "orelse", "finalbody", "handlers"):
                    children = getattr(node, field, None)
                    if isinstance(children, list):
                        yield from visit([c for c in children if isinstance(c, ast.stmt | ast.ExceptHandler)])
            if isinstance(node, ast.ExceptHandler):
                yield from visit(node.body)

    yield from visit(ast.parse(path.read_text(encoding="utf-8")).body)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: {m for m in _imports(name, path, module_level_only=False) if m in modules and m != name}
            for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle_inside_the_project() -> None:
    cycle = _cycle(_graph())
    assert cycle is None, " -> ".join(cycle or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_packages_import_only_in_the_allowed_direction() -> None:
    wrong = []
    for name, path in _modules().items():
        package = name.split(".")[0]
        for imported in _imports(name, path, module_level_only=False):
            top = imported.split(".")[0]
            if top in PACKAGES and top != package and top not in ALLOWED[package]:
                wrong.append(f"{name} imports {imported}")
    assert sorted(set(wrong)) == []


def test_the_tests_mirror_the_packages() -> None:
    """``tests/<package>/<subpackage>/...``: every test folder is named after the package it tests."""
    tests = REPO_ROOT / "tests"
    folders = [p for p in tests.rglob("*") if p.is_dir() and not {"artifacts", "__pycache__"} & set(p.parts)]
    strays = [str(p.relative_to(tests)) for p in folders if not (REPO_ROOT / p.relative_to(tests)).is_dir()]
    assert strays == []
    assert {p.name for p in tests.iterdir() if p.is_dir()} - {"artifacts", "__pycache__"} == set(PACKAGES)


def test_every_first_party_import_resolves() -> None:
    """Every ``from <our module> import name`` in the tree names something that exists, function-level imports and
    the speed scripts included (they run rarely, so a rename would otherwise break them silently)."""
    import importlib

    ours = (*PACKAGES, "speed", "tests")
    files = [REPO_ROOT / "app.py", *(p for name in ours for p in (REPO_ROOT / name).rglob("*.py"))]
    missing = []
    for path in files:
        if "artifacts" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or node.level or not node.module:
                continue
            if node.module.split(".")[0] not in ours:
                continue
            module = importlib.import_module(node.module)
            for alias in node.names:
                if alias.name != "*" and not hasattr(module, alias.name):
                    try:
                        importlib.import_module(f"{node.module}.{alias.name}")
                    except ImportError:
                        missing.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno} {node.module}.{alias.name}")
    assert missing == []
