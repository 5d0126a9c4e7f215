"""Several processes submitting while two workers score, and a worker killed mid-job: nothing lost, nothing twice."""

from __future__ import annotations

import multiprocessing
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leaderboard.store import Store
from tests.leaderboard import BACKENDS, database_url, make_result, make_settings, submit

SUBMITTERS, PER_SUBMITTER, WORKERS = 3, 8, 2
TOTAL = SUBMITTERS * PER_SUBMITTER


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database_url(request.param, tmp_path)


def _settings() -> Any:
    return make_settings(daily_quota=100, max_attempts=3)


def _submitter(url: str, name: str, barrier: Any, queue: Any) -> None:
    try:
        with Store(url, seed=False, settings=_settings()) as store:
            barrier.wait(timeout=60)
            ids = [submit(store, f"{name}-{i}", submitter=name) for i in range(PER_SUBMITTER)]
        queue.put(("submitted", name, ids))
    except Exception as exc:  # reported to the parent, which fails the test with it
        queue.put(("error", name, repr(exc)))


def _worker(url: str, worker_id: str, barrier: Any, queue: Any) -> None:
    try:
        with Store(url, seed=False, settings=_settings()) as store:
            barrier.wait(timeout=60)
            finished: list[int] = []
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                job = store.claim_next(worker_id, lease_seconds=30)
                if job is None:
                    statuses = store.submissions_frame()["status"]
                    if len(statuses) == TOTAL and statuses.isin(["finished", "failed"]).all():
                        break
                    time.sleep(0.02)
                    continue
                assert store.renew_lease(job.submission_id, worker_id, lease_seconds=30)
                store.finish_submission(job.submission_id, worker_id, make_result(float(job.submission_id)))
                finished.append(job.submission_id)
        queue.put(("finished", worker_id, finished))
    except Exception as exc:
        queue.put(("error", worker_id, repr(exc)))


def test_submitting_and_scoring_at_once(url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(SUBMITTERS + WORKERS), ctx.Queue()
    procs = [ctx.Process(target=_submitter, args=(url, f"user{i}", barrier, queue)) for i in range(SUBMITTERS)]
    procs += [ctx.Process(target=_worker, args=(url, f"worker{i}", barrier, queue)) for i in range(WORKERS)]
    for proc in procs:
        proc.start()
    messages = [queue.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    errors = [m for m in messages if m[0] == "error"]
    assert not errors, errors

    submitted = [sid for kind, _, ids in messages if kind == "submitted" for sid in ids]
    finished = [sid for kind, _, ids in messages if kind == "finished" for sid in ids]
    assert len(submitted) == len(set(submitted)) == TOTAL
    counts = Counter(finished)
    assert set(counts) == set(submitted) and max(counts.values()) == 1  # every one scored, none twice

    with Store(url, seed=False, settings=_settings()) as store:
        subs = store.submissions_frame()
        assert len(subs) == TOTAL and (subs["status"] == "finished").all() and (subs["attempts"] == 1).all()
        results = store.results_frame()
        assert len(results) == TOTAL and sorted(results["submission_id"]) == sorted(submitted)
        assert (results["value"] == results["submission_id"].astype(float)).all()
        assert results["run_id"].nunique() == TOTAL


def _claim_and_hang(url: str, queue: Any) -> None:
    with Store(url, seed=False, settings=_settings()) as store:
        job = store.claim_next("doomed", lease_seconds=0.5)
        queue.put(job.submission_id if job else None)
        time.sleep(60)  # "scoring" until killed


def test_worker_killed_mid_job_is_taken_over(url: str) -> None:
    with Store(url, seed=False, settings=_settings()) as store:
        sid = submit(store, "only")
        ctx = multiprocessing.get_context("spawn")
        queue = ctx.Queue()
        proc = ctx.Process(target=_claim_and_hang, args=(url, queue))
        proc.start()
        try:
            assert queue.get(timeout=60) == sid
        finally:
            proc.kill()
            proc.join(timeout=30)
        assert store.get_submission(sid)["status"] == "running"
        assert store.claim_next("rescuer") is None or pytest.fail("claimed before the lease expired")
        time.sleep(0.6)
        job = store.claim_next("rescuer")
        assert job is not None and job.submission_id == sid and job.attempts == 2
        store.finish_submission(sid, "rescuer", make_result())
        assert store.get_submission(sid)["status"] == "finished"
        assert len(store.results_frame()) == 1
