"""Each shared definition lives in ``diception_spec`` only: no other module restates a set of its ids.

The check reads every source file outside the spec package (and outside the tests) and flags a literal tuple, list,
set or dict-key set, or an enum-like class body, made of three or more strings that all belong to one vocabulary the
spec owns (task ids, metric ids, benchmark ids, protocols, tiers, model kinds, model types, provenances, normal
frames, adapter files and projections). A dict counts when it is a table (constant values); a dict that computes
one value per metric id is a result, not a definition. Deriving from the spec (``tuple(t.value for t in Task)``) is
fine; copying its values is what drifts.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from diception_spec.adapter_format import ADAPTER_FILES, ALLOWED_PROJECTIONS
from diception_spec.benchmarks import BENCHMARKS, TIERS
from diception_spec.metrics import METRICS
from diception_spec.models import ModelKind, ModelType, Provenance
from diception_spec.normals import NORMAL_FRAME_ALIASES, NormalFrame
from diception_spec.protocols import PROTOCOLS
from diception_spec.tasks import Task
from tests.conftest import REPO_ROOT

SOURCES = ("app.py", "diception_app", "diception_core", "evaluation", "leaderboard", "speed")
MIN_ITEMS = 3
VOCABULARIES: dict[str, frozenset[str]] = {
    "task ids": frozenset(t.value for t in Task),
    "metric ids": frozenset(METRICS),
    "benchmark ids": frozenset(name for _, name in BENCHMARKS),
    "protocol ids": frozenset(PROTOCOLS),
    "tiers": frozenset(TIERS),
    "model kinds": frozenset(k.value for k in ModelKind) | {"depth_anything"},
    "model types": frozenset(t.value for t in ModelType),
    "provenances": frozenset(p.value for p in Provenance),
    "normal frames": frozenset(f.value for f in NormalFrame) | frozenset(NORMAL_FRAME_ALIASES),
    "adapter files and projections": frozenset(ADAPTER_FILES) | frozenset(ALLOWED_PROJECTIONS),
}


def _source_files() -> Iterator[Path]:
    for name in SOURCES:
        path = REPO_ROOT / name
        yield from ([path] if path.is_file() else sorted(path.rglob("*.py")))


def _strings(nodes: list[ast.expr | None]) -> list[str] | None:
    values = [n.value for n in nodes if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    return values if len(values) == len(nodes) else None


def _literal_groups(tree: ast.AST) -> Iterator[tuple[int, list[str]]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Tuple | ast.List | ast.Set):
            values = _strings(list(node.elts))
        elif isinstance(node, ast.Dict) and all(isinstance(v, ast.Constant) for v in node.values):
            values = _strings(list(node.keys))
        elif isinstance(node, ast.ClassDef):
            assigned = [s.value for s in node.body if isinstance(s, ast.Assign)]
            values = _strings(assigned) if assigned else None
        else:
            continue
        if values is not None and len(set(values)) >= MIN_ITEMS:
            yield node.lineno, values


def restatements() -> list[str]:
    found = []
    for path in _source_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, values in _literal_groups(tree):
            for name, vocabulary in VOCABULARIES.items():
                if set(values) <= vocabulary:
                    found.append(f"{path.relative_to(REPO_ROOT)}:{line}: {name} {sorted(set(values))[:4]}...")
    return found


def test_no_module_outside_the_spec_restates_its_ids() -> None:
    assert restatements() == []


def test_the_check_finds_a_restated_list(tmp_path: Path) -> None:
    code = ('TIERS = ("quick", "standard", "full")\nOK = ("quick", "slow", "full")\n'
            'BADGES = {"reported": "R", "measured": "M", "self-submitted": "S"}\n'
            'scores = {"absrel": f(x), "delta1": g(x), "rmse": h(x)}\n')
    groups = [sorted(values) for _, values in _literal_groups(ast.parse(code))]
    assert groups == [["full", "quick", "standard"], ["full", "quick", "slow"],
                      ["measured", "reported", "self-submitted"]]
