"""``leaderboard`` runs on a CPU-only host: importing any of its modules must not pull in torch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO_ROOT

CHECK = """
import importlib, pkgutil, sys
import leaderboard
names = sorted(m.name for m in pkgutil.walk_packages(leaderboard.__path__, "leaderboard."))
for name in names:
    importlib.import_module(name)
for core in ("leaderboard.store", "leaderboard.db", "leaderboard.orm", "leaderboard.seed", "leaderboard.backup",
             "leaderboard.settings", "leaderboard.schema"):
    assert core in sys.modules, core
heavy = sorted(m for m in ("torch", "diffusers", "transformers", "peft", "accelerate", "evaluation",
                             "diception_core") if m in sys.modules)
assert not heavy, f"importing leaderboard pulled in {heavy}"
print("checked", len(names), "modules")
"""


def test_importing_leaderboard_does_not_import_torch() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHECK], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "checked" in proc.stdout


def test_import_has_no_side_effects(tmp_path: Path) -> None:
    """No database, file or thread appears when the store modules are imported."""
    code = (
        "import threading, leaderboard.store, leaderboard.backup, leaderboard.seed;"
        "assert [t.name for t in threading.enumerate()] == ['MainThread'], threading.enumerate()"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert list(tmp_path.iterdir()) == []
