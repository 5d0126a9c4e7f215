"""The code must stay valid on Python 3.10 (Hugging Face ZeroGPU's runtime): ruff with target py310, and vermin."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.conftest import REPO_ROOT

SOURCES = ["app.py", "diception_spec", "diception_app", "diception_core", "evaluation", "leaderboard", "speed"]


def test_ruff_clean() -> None:
    if shutil.which("ruff") is None:
        pytest.skip("ruff is not installed (pip install -r requirements-dev.txt)")
    proc = subprocess.run(["ruff", "check", "."], cwd=REPO_ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_vermin_python_310() -> None:
    vermin = shutil.which("vermin")
    if vermin is None:
        pytest.skip("vermin is not installed (pip install -r requirements-dev.txt)")
    proc = subprocess.run(
        [vermin, "--target=3.10-", "--violations", "--eval-annotations", "--no-tips",
         "--exclude-regex", r"tests/artifacts", *[s for s in SOURCES if (REPO_ROOT / s).exists()]],
        cwd=REPO_ROOT, capture_output=True, text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
