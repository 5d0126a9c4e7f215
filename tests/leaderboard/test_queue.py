"""The scoring queue: claim order, leases, bounded retries, failure reasons, wait estimates, one-transaction finish."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from leaderboard.store import ClaimedJob, LeaseLost, Store
from tests.leaderboard import BACKENDS, database_url, make_result, make_settings, submit

LEASE = 0.3  # seconds; long enough for a claim, short enough to wait out


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    for url in database_url(request.param, tmp_path):
        with Store(url, seed=False, settings=make_settings(max_attempts=2, admin_token="tok")) as s:
            yield s


def test_claims_oldest_first_and_none_when_idle(store: Store) -> None:
    assert store.claim_next("w1") is None
    first, second = submit(store, "a"), submit(store, "b")
    claimed = store.claim_next("w1")
    assert claimed is not None and claimed.submission_id == first
    assert isinstance(claimed, ClaimedJob) and claimed.attempts == 1 and claimed.worker_id == "w1"
    assert store.get_submission(first)["status"] == "running"
    assert claimed.lease_expires_at > claimed.started_at
    assert claimed.lease_seconds == store.settings.lease_seconds and claimed.max_attempts == 2
    with pytest.raises(dataclasses.FrozenInstanceError):
        claimed.attempts = 5  # type: ignore[misc]
    assert store.claim_next("w2").submission_id == second
    assert store.claim_next("w3") is None  # both leases are live


def test_finish_writes_run_results_and_status(store: Store) -> None:
    sid = submit(store, "a", trained_on_benchmarks=["PPDLS"])
    store.claim_next("w1")
    assert store.renew_lease(sid, "w1")
    run_id = store.finish_submission(sid, "w1", make_result(benchmarks=("PPDLS", "GTEA")))
    sub = store.get_submission(sid)
    assert sub["status"] == "finished" and sub["run_ids"] == [run_id] and sub["worker_id"] is None
    rows = store.results_frame()
    assert len(rows) == 2 and set(rows["entry_id"]) == {f"sub-{sid}"} and set(rows["provenance"]) == {"measured"}
    assert set(rows["trained_on_benchmarks"]) == {"PPDLS"} and (rows["submission_id"] == sid).all()
    with pytest.raises(LeaseLost):
        store.finish_submission(sid, "w1", make_result())  # finished once, never twice
    assert len(store.results_frame()) == 2


def test_predictions_are_self_submitted(store: Store) -> None:
    sid = submit(store, "p", kind="predictions")
    store.claim_next("w1")
    store.finish_submission(sid, "w1", make_result())
    rows = store.results_frame()
    assert set(rows["provenance"]) == {"self-submitted"} and rows.iloc[0]["source"].startswith("predictions")


def test_expired_lease_is_reclaimed_and_the_old_worker_cannot_write(store: Store) -> None:
    sid = submit(store, "a")
    store.claim_next("crashed", lease_seconds=LEASE)
    time.sleep(LEASE + 0.1)
    claimed = store.claim_next("w2")
    assert claimed.submission_id == sid and claimed.attempts == 2 and claimed.worker_id == "w2"
    assert not store.renew_lease(sid, "crashed")
    with pytest.raises(LeaseLost, match="no longer holds"):
        store.finish_submission(sid, "crashed", make_result())
    with pytest.raises(LeaseLost):
        store.fail_submission(sid, "crashed", "late")
    store.finish_submission(sid, "w2", make_result())
    assert store.get_submission(sid)["status"] == "finished"
    assert len(store.results_frame()) == 1


def test_late_finish_before_anyone_reclaims_is_accepted(store: Store) -> None:
    sid = submit(store, "a")
    store.claim_next("slow", lease_seconds=LEASE)
    time.sleep(LEASE + 0.1)
    store.finish_submission(sid, "slow", make_result())  # nobody took it over: nothing is scored twice
    assert store.get_submission(sid)["status"] == "finished"
    assert store.claim_next("w2") is None


def test_retries_are_bounded(store: Store) -> None:
    sid = submit(store, "a")
    for attempt in (1, 2):  # max_attempts = 2
        claimed = store.claim_next(f"w{attempt}", lease_seconds=LEASE)
        assert claimed.attempts == attempt
        time.sleep(LEASE + 0.1)
    assert store.claim_next("w3") is None
    sub = store.get_submission(sid)
    assert sub["status"] == "failed" and "2 times" in sub["failure_reason"] and sub["finished_at"] is not None


def test_fail_with_and_without_retry(store: Store) -> None:
    sid = submit(store, "a")
    store.claim_next("w1")
    store.fail_submission(sid, "w1", "CUDA out of memory", retry=True)
    sub = store.get_submission(sid)
    assert sub["status"] == "pending" and "CUDA out of memory" in sub["failure_reason"]
    store.claim_next("w1")
    store.fail_submission(sid, "w1", "CUDA out of memory", retry=True)  # attempt 2 of 2: no more retries
    sub = store.get_submission(sid)
    assert sub["status"] == "failed" and "gave up after 2 attempts" in sub["failure_reason"]

    other = submit(store, "b")
    store.claim_next("w1")
    store.fail_submission(other, "w1", "adapter targets unknown module 'ff.net.0'")
    frame = store.submissions_frame()
    row = frame[frame["submission_id"] == other].iloc[0]
    assert row["status"] == "failed" and row["failure_reason"] == "adapter targets unknown module 'ff.net.0'"


def test_finish_is_one_transaction(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    sid = submit(store, "a")
    store.claim_next("w1")
    original = Store._write_run

    def write_then_crash(self, session, *args, **kwargs):
        original(self, session, *args, **kwargs)
        session.flush()
        raise RuntimeError("disk full")

    monkeypatch.setattr(Store, "_write_run", write_then_crash)
    with pytest.raises(RuntimeError, match="disk full"):
        store.finish_submission(sid, "w1", make_result())
    monkeypatch.undo()
    assert store.get_submission(sid)["status"] == "running" and store.get_submission(sid)["run_ids"] == []
    assert store.results_frame().empty
    store.finish_submission(sid, "w1", make_result())
    assert len(store.results_frame()) == 1


def test_estimated_wait(store: Store) -> None:
    done = submit(store, "done")
    store.claim_next("w1")
    store.finish_submission(done, "w1", make_result())
    ids = [submit(store, h) for h in "xyz"]
    frame = store.submissions_frame().set_index("submission_id")
    finished = store.get_submission(done)
    per_job = (finished["finished_at"] - finished["started_at"]).total_seconds()
    for position, sid in enumerate(ids, start=1):
        assert frame.loc[sid, "estimated_wait_s"] == pytest.approx(position * per_job)
    assert frame.loc[done, "estimated_wait_s"] != frame.loc[done, "estimated_wait_s"]  # NaN when not pending


def test_hidden_pending_submissions_are_not_claimed(store: Store) -> None:
    sid = submit(store, "a")
    store.admin_hide(sid, "tok")
    assert store.claim_next("w1") is None
    store.admin_hide(sid, "tok", hidden=False)
    assert store.claim_next("w1").submission_id == sid


def test_rerun_takes_the_job_away_from_its_worker(store: Store) -> None:
    sid = submit(store, "a")
    store.claim_next("w1")
    store.admin_rerun(sid, "tok")
    with pytest.raises(LeaseLost):
        store.finish_submission(sid, "w1", make_result())
    assert store.claim_next("w2").attempts == 1
    store.finish_submission(sid, "w2", make_result())
    assert store.get_submission(sid)["status"] == "finished"


def test_worker_ids_are_unique() -> None:
    from leaderboard.store import new_worker_id

    assert len({new_worker_id() for _ in range(20)}) == 20
