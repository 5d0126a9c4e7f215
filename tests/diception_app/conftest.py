"""One ``python app.py --model tiny`` subprocess on a free port, shared by the browser and client tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.diception_app.harness import RunningApp, running_app


@pytest.fixture(scope="session")
def tiny_app(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[RunningApp]:
    """``python app.py --model tiny --port <free>`` (the tiny model is built before, so the app only loads it)."""
    with running_app(tmp_path_factory.mktemp("tiny-app")) as app:
        yield app


@pytest.fixture(scope="module")
def app_without_model(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[RunningApp]:
    """``python app.py`` with ``DICEPTION_MODEL`` naming a folder that does not exist: it must still come up."""
    work = tmp_path_factory.mktemp("no-model-app")
    with running_app(work, (), {"DICEPTION_MODEL": str(work / "diception-model")}) as app:
        yield app
