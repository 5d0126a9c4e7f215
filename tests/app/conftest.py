"""One ``python app.py --model tiny`` subprocess on a free port, shared by the browser and client tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 90.0


@dataclass(frozen=True)
class RunningApp:
    url: str
    log: Path
    started_s: float  # seconds from process start until the page was served


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_served(url: str, process: subprocess.Popen, timeout_s: float, log: Path) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the app did not serve {url} within {timeout_s} s:\n{log.read_text()[-3000:]}")


def app_environment(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "GRADIO_ANALYTICS_ENABLED": "False",
        "DICEPTION_LEADERBOARD_DB": str(work / "leaderboard.db"), "DICEPTION_SUBMISSIONS_DIR": str(work / "subs"),
        "DICEPTION_ADAPTERS_DIR": str(work / "adapters"), "GRADIO_EXAMPLES_CACHE": str(work / "examples-cache"),
        "PYTHONUNBUFFERED": "1",
    })  # fmt: skip
    env.pop("SPACES_ZERO_GPU", None)
    env.pop("SPACE_ID", None)
    return env


@pytest.fixture(scope="session")
def tiny_app(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[RunningApp]:
    """``python app.py --model tiny --port <free>`` (the tiny model is built before, so the app only loads it)."""
    work = tmp_path_factory.mktemp("tiny-app")
    port = free_port()
    log = work / "app.log"
    with open(log, "w") as handle:
        process = subprocess.Popen(
            [sys.executable, "app.py", "--model", "tiny", "--port", str(port)], cwd=REPO_ROOT,
            env=app_environment(work), stdout=handle, stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}/"
        started = wait_until_served(url, process, START_TIMEOUT_S, log)
        yield RunningApp(url, log, started)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="module")
def app_without_model(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Iterator[RunningApp]:
    """``python app.py`` with ``DICEPTION_MODEL`` naming a folder that does not exist: it must still come up."""
    work = tmp_path_factory.mktemp("no-model-app")
    env = app_environment(work)
    env["DICEPTION_MODEL"] = str(work / "diception-model")
    port = free_port()
    log = work / "app.log"
    with open(log, "w") as handle:
        process = subprocess.Popen([sys.executable, "app.py", "--port", str(port)], cwd=REPO_ROOT, env=env,
                                   stdout=handle, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/"
        yield RunningApp(url, log, wait_until_served(url, process, START_TIMEOUT_S, log))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
