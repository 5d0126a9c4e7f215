"""The spec package stays as light as the leaderboard: no torch, no numpy, at import."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO_ROOT

MODULES = [
    "diception_spec", "diception_spec.tasks", "diception_spec.metrics", "diception_spec.protocols",
    "diception_spec.benchmarks", "diception_spec.normals", "diception_spec.models", "diception_spec.adapter_format",
    "diception_spec.prediction_files", "diception_spec.results", "diception_spec.errors", "diception_spec.json_input",
    "diception_spec.registry", "diception_spec.environment", "diception_spec.scoring",
]  # fmt: skip


def test_importing_the_spec_imports_no_torch_and_no_numpy() -> None:
    code = (
        f"import sys\nfor m in {MODULES!r}:\n    __import__(m)\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy', 'pandas', 'diception_core', "
        "'evaluation', 'leaderboard', 'diception_app'))\nprint(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
