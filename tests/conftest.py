"""Shared test setup: offline, deterministic, and small."""

from __future__ import annotations

import os

# Before any Hugging Face import: no test may touch the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = REPO_ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures"


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """The real data samples in ../shared/fixtures; tests using it skip cleanly when it is absent."""
    if not FIXTURES.is_dir():
        pytest.skip(f"real-data fixtures not found at {FIXTURES}")
    return FIXTURES


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests keep artefacts worth looking at (screenshots, sample outputs); ignored by git."""
    path = REPO_ROOT / "tests" / "artifacts"
    path.mkdir(parents=True, exist_ok=True)
    return path
