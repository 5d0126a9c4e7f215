"""Chaos: three worker processes, one killed (SIGKILL) at random points several times, twenty submissions. Every
submission ends exactly once, finished or failed with a reason; the SQLite file passes its integrity check."""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from leaderboard.settings import Settings
from leaderboard.store import Store
from tests.conftest import REPO_ROOT
from tests.leaderboard import submit

SUBMISSIONS = 20
KILLS = 4
DEADLINE_S = 40


def _spawn(url: str, worker_id: str, stop: Path, seed: int, env: dict[str, str], seconds: float,
           go: Path | None = None) -> subprocess.Popen:  # fmt: skip
    argv = [sys.executable, "-m", "tests.evaluation.chaos_worker", url, worker_id, str(stop), str(seed),
            str(seconds), *([str(go)] if go else [])]  # fmt: skip
    return subprocess.Popen(argv, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def _ready(proc: subprocess.Popen) -> subprocess.Popen:
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    return proc


def _holding(db: Path, worker_id: str) -> bool:
    with sqlite3.connect(db, timeout=30) as conn:
        return conn.execute("SELECT count(*) FROM submissions WHERE status = 'running' AND worker_id = ?",
                            (worker_id,)).fetchone()[0] > 0  # fmt: skip


def _open(db: Path) -> int:
    with sqlite3.connect(db, timeout=30) as conn:
        return conn.execute("SELECT count(*) FROM submissions WHERE status IN ('pending', 'running')").fetchone()[0]


def test_three_workers_one_killed_repeatedly(tmp_path: Path) -> None:
    db = tmp_path / "board.db"
    url = f"sqlite:///{db}"
    with Store(url, seed=False, settings=Settings(daily_quota=100)) as store:
        ids = [submit(store, f"h{i}") for i in range(SUBMISSIONS)]
    env = {**os.environ, "DICEPTION_LEASE_SECONDS": "0.8", "DICEPTION_MAX_ATTEMPTS": "8"}
    env.pop("DATABASE_URL", None)
    stop = tmp_path / "stop"
    rng = random.Random(12)
    # Two steady workers, the victim, and warm spares (imported, waiting for their go file): a killed victim is
    # replaced at once, so the queue does not drain while a new process imports.
    steady = [_spawn(url, f"steady-{i}", stop, i, env, 0.5) for i in range(2)]
    victims = [_spawn(url, f"victim-{k}", stop, 100 + k, env, 0.8, tmp_path / f"go-{k}") for k in range(KILLS + 1)]
    for proc in [*steady, *victims]:
        _ready(proc)
    (tmp_path / "go-0").touch()
    kills = 0
    deadline = time.monotonic() + DEADLINE_S
    try:
        while time.monotonic() < deadline:
            if kills < KILLS and _holding(db, f"victim-{kills}"):
                time.sleep(rng.uniform(0.0, 0.6))  # claimed, scoring or writing: wherever it is now
                victims[kills].kill()
                victims[kills].wait()
                kills += 1
                (tmp_path / f"go-{kills}").touch()
            elif kills >= KILLS and _open(db) == 0:
                break
            time.sleep(0.01)
    finally:
        stop.touch()
        for proc in [*steady, *victims]:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    assert kills == KILLS, f"the victim held a job only {kills} times before the deadline"

    with Store(url, seed=False) as store:
        subs = [store.get_submission(i) for i in ids]
        results = store.results_frame(include_hidden=True)
    statuses = {s["submission_id"]: s["status"] for s in subs}
    assert set(statuses.values()) <= {"finished", "failed"}, statuses
    for sub in subs:
        rows = results[results["submission_id"] == sub["submission_id"]]
        if sub["status"] == "finished":
            assert len(sub["run_ids"]) == 1 and len(rows) == 1, sub  # scored once, never twice
        else:
            assert sub["run_ids"] == [] and len(rows) == 0 and sub["failure_reason"], sub
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        runs = conn.execute("SELECT count(*) FROM evaluation_runs").fetchone()[0]
    assert runs == sum(s == "finished" for s in statuses.values())
