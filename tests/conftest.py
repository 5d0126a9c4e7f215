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
# The tiny preset is built once into this (git-ignored) cache and reused by subprocess tests (CLI, app).
os.environ.setdefault("DICEPTION_CACHE", str(REPO_ROOT / "tests" / "artifacts" / "cache"))
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


@pytest.fixture(scope="session")
def tiny_model_dir() -> Path:
    """The tiny preset's model folder (built once, offline, deterministic)."""
    from diception_core.tiny import tiny_model_folder

    return tiny_model_folder()


@pytest.fixture(scope="session")
def tiny_pipe(tiny_model_dir: Path):
    """A shared tiny pipeline for read-only use; tests that load adapters or change settings make their own."""
    from diception_core.pipeline import DiceptionPipeline

    return DiceptionPipeline.from_pretrained(tiny_model_dir, device="cpu")


@pytest.fixture()
def fresh_tiny_pipe(tiny_model_dir: Path):
    from diception_core.pipeline import DiceptionPipeline

    return DiceptionPipeline.from_pretrained(tiny_model_dir, device="cpu")
