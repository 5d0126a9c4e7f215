"""The worker against a real SQLite store when things go wrong: its lease setting, the retry policy by cause, what
the submitter reads, a worker dying at each stage, and results of untrained weights."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from diception_spec.errors import Refused
from evaluation.worker import Worker, build_parser, main
from leaderboard.settings import Settings
from leaderboard.store import ClaimedJob, Store, UntrainedResult
from tests.fuzzing import assert_public
from tests.leaderboard import make_result, submit

LEASE = 0.3


class Died(BaseException):
    """A worker process dying (SIGKILL, power loss): nothing of it runs after this."""


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    settings = Settings(max_attempts=3, lease_seconds=LEASE, submissions_dir=tmp_path / "submissions")
    with Store(f"sqlite:///{tmp_path / 'board.db'}", seed=False, settings=settings) as s:
        yield s


class StubWorker(Worker):
    """The real claim / lease / finish / fail loop around a scorer given by the test."""

    def __init__(self, store: Store, tmp_path: Path, scorer: Any, worker_id: str = "w1") -> None:
        super().__init__(store, worker_id=worker_id, cache_dir=tmp_path / f"cache-{worker_id}", poll_seconds=0.01)
        self.scorer = scorer

    def score(self, job: ClaimedJob) -> dict[str, Any]:
        return self.scorer(job)


def _result(job: ClaimedJob) -> dict[str, Any]:
    return make_result(float(job.submission_id))


# --------------------------------------------------------------------------------------------- settings


def test_the_worker_leases_for_diception_lease_seconds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 12, item 2: DICEPTION_LEASE_SECONDS had no effect; the worker always leased for 600 s.
    url = f"sqlite:///{tmp_path / 'board.db'}"
    monkeypatch.setenv("DICEPTION_LEASE_SECONDS", "42")
    with Store(url, seed=False) as s:
        sid = submit(s, "a")
    seen: list[tuple[float, float]] = []

    def score(self: Worker, job: ClaimedJob) -> dict[str, Any]:
        seen.append((job.lease_seconds, (job.lease_expires_at - job.started_at).total_seconds()))
        raise Refused("stop here")

    monkeypatch.setattr(Worker, "score", score)
    assert main(["--model", "some-model", "--database-url", url, "--once", "--cache-dir", str(tmp_path)]) == 0
    assert seen == [(42.0, 42.0)]
    with Store(url, seed=False) as s:
        assert s.get_submission(sid)["status"] == "failed"


def test_the_command_line_lease_overrides_the_setting(tmp_path: Path, store: Store) -> None:
    sid = submit(store, "a")
    seen = []
    worker = StubWorker(store, tmp_path, lambda job: seen.append(job.lease_seconds) or _result(job))
    worker.lease_seconds = 7.0
    worker.run(once=True)
    assert seen == [7.0] and store.get_submission(sid)["status"] == "finished"


def test_the_worker_needs_an_explicit_model() -> None:
    # Issue 12, item 5: --model defaulted to the tiny preset (random weights).
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--once"])
    assert build_parser().parse_args(["--model", "./diception-model"]).model == "./diception-model"


def test_without_a_model_the_job_fails_as_the_hosts_fault(tmp_path: Path, store: Store) -> None:
    sid = submit(store, "a", task="depth", benchmarks=["synthetic"], storage_path=str(tmp_path))
    Worker(store, worker_id="w", cache_dir=tmp_path / "c", poll_seconds=0.01).run(once=True)
    sub = store.get_submission(sid)
    assert sub["status"] == "failed" and sub["attempts"] == 3 and "scoring host failed (RuntimeError" in \
        sub["failure_reason"]


# --------------------------------------------------------------------------------------------- retry by cause


def test_a_refusal_fails_at_once_with_its_message(tmp_path: Path, store: Store) -> None:
    sid = submit(store, "a")

    def refuse(job: ClaimedJob) -> dict:
        raise Refused("depth/s0.npy: shape [3, 3]; expected [352, 1216]")

    StubWorker(store, tmp_path, refuse).run(once=True)
    sub = store.get_submission(sid)
    assert sub["status"] == "failed" and sub["attempts"] == 1
    assert sub["failure_reason"] == "depth/s0.npy: shape [3, 3]; expected [352, 1216]"


def test_a_value_error_on_the_host_is_retried_then_blamed_on_the_host(tmp_path: Path, store: Store) -> None:
    # Issue 12, item 5: _PERMANENT = (ValueError, KeyError, NotImplementedError) blamed the submitter for host bugs.
    sid = submit(store, "a")
    calls = []

    def host_bug(job: ClaimedJob) -> dict:
        calls.append(job.attempts)
        raise ValueError(f"cannot reshape array (in {tmp_path}/scorer.py)")

    StubWorker(store, tmp_path, host_bug).run(once=True)
    sub = store.get_submission(sid)
    assert calls == [1, 2, 3] and sub["status"] == "failed"
    assert "scoring host failed (ValueError, incident " in sub["failure_reason"]
    assert "not a problem with the submission" in sub["failure_reason"] and "gave up after 3" in sub["failure_reason"]
    assert "reshape" not in sub["failure_reason"]
    assert_public(sub["failure_reason"])


def test_a_host_error_then_success_finishes_once(tmp_path: Path, store: Store) -> None:
    sid = submit(store, "a")

    def flaky(job: ClaimedJob) -> dict:
        if job.attempts == 1:
            raise KeyError("lost device")
        return _result(job)

    StubWorker(store, tmp_path, flaky).run(once=True)
    sub = store.get_submission(sid)
    assert sub["status"] == "finished" and sub["attempts"] == 2 and len(sub["run_ids"]) == 1


def test_a_failure_reason_never_shows_a_server_path(tmp_path: Path, store: Store) -> None:
    # Issue 12, item 4: the reason a submitter reads held the server's absolute storage path.
    folder = tmp_path / "submissions" / "ab" / "abcdef"
    sid = submit(store, "p", kind="predictions", task="depth", benchmarks=["synthetic"], storage_path=str(folder))

    def missing_file(job: ClaimedJob) -> dict:
        raise Refused(f"no sample could be scored (s0: no prediction file depth/s0.npy in {folder})")

    StubWorker(store, tmp_path, missing_file).run(once=True)
    reason = store.get_submission(sid)["failure_reason"]
    assert "depth/s0.npy" in reason and str(tmp_path) not in reason
    assert_public(reason)


def test_a_missing_prediction_file_is_the_submitters_fault_without_a_path(tmp_path: Path, store: Store) -> None:
    folder = tmp_path / "submissions" / "ab" / "abcdef"
    (folder / "depth").mkdir(parents=True)
    sid = submit(store, "p", kind="predictions", task="depth", benchmarks=["synthetic"], storage_path=str(folder))
    worker = Worker(store, worker_id="w", cache_dir=tmp_path / "cache", poll_seconds=0.01)
    worker.run(once=True)
    sub = store.get_submission(sid)
    assert sub["status"] == "failed" and sub["attempts"] == 1, sub["failure_reason"]
    assert "no sample could be scored" in sub["failure_reason"] and "no prediction file depth/" in \
        sub["failure_reason"]
    assert str(tmp_path) not in sub["failure_reason"]
    assert_public(sub["failure_reason"])


# --------------------------------------------------------------------------------------------- dying at each stage


def _expire() -> None:
    import time

    time.sleep(LEASE + 0.1)


def _ends_once(store: Store, sid: int) -> dict:
    sub = store.get_submission(sid)
    assert sub["status"] in ("finished", "failed")
    results = store.results_frame(include_hidden=True)
    mine = results[results["submission_id"] == sid]
    if sub["status"] == "finished":
        assert len(sub["run_ids"]) == 1 and len(mine) == 1  # make_result has one score
    else:
        assert sub["run_ids"] == [] and len(mine) == 0 and sub["failure_reason"]
    return sub


def test_a_worker_dying_after_the_claim(tmp_path: Path, store: Store) -> None:
    sid = submit(store, "a")
    assert store.claim_next("dead") is not None  # claimed, then nothing: the process is gone
    _expire()
    StubWorker(store, tmp_path, _result, "w2").run(once=True)
    assert _ends_once(store, sid)["attempts"] == 2


def test_a_worker_dying_while_scoring(tmp_path: Path, store: Store) -> None:
    sid = submit(store, "a")

    def die(job: ClaimedJob) -> dict:
        raise Died

    with pytest.raises(Died):
        StubWorker(store, tmp_path, die, "dead").run(once=True)
    assert store.get_submission(sid)["status"] == "running"
    _expire()
    StubWorker(store, tmp_path, _result, "w2").run(once=True)
    assert _ends_once(store, sid)["status"] == "finished"


@pytest.mark.parametrize("after_commit", [False, True])
def test_a_worker_dying_while_writing_the_result(tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch,
                                                 after_commit: bool) -> None:  # fmt: skip
    sid = submit(store, "a")
    original = Store.finish_submission

    def finish_then_die(self: Store, *args: Any, **kwargs: Any) -> int:
        if not after_commit:
            original_write = Store._write_run

            def write_then_die(self_: Store, *a: Any, **k: Any) -> Any:
                original_write(self_, *a, **k)
                raise Died  # inside the transaction: rolled back

            monkeypatch.setattr(Store, "_write_run", write_then_die)
            try:
                return original(self, *args, **kwargs)
            finally:
                monkeypatch.setattr(Store, "_write_run", original_write)
        original(self, *args, **kwargs)
        raise Died  # committed, then the process is gone before it could log

    monkeypatch.setattr(Store, "finish_submission", finish_then_die)
    with pytest.raises(Died):
        StubWorker(store, tmp_path, _result, "dead").run(once=True)
    monkeypatch.setattr(Store, "finish_submission", original)
    _expire()
    StubWorker(store, tmp_path, _result, "w2").run(once=True)
    sub = _ends_once(store, sid)
    assert sub["status"] == "finished" and sub["attempts"] == (1 if after_commit else 2)


def test_a_finished_job_leaves_no_cache(tmp_path: Path, store: Store) -> None:
    sid = submit(store, "a")

    def scored(job: ClaimedJob) -> dict:
        cache = tmp_path / "cache-w1" / f"submission-{job.submission_id}"
        cache.mkdir(parents=True, exist_ok=True)
        (cache / "shard-0.jsonl").write_text("{}\n")
        if job.attempts == 1:
            raise RuntimeError("lost device")  # retried: the cache stays for the next attempt
        assert (cache / "shard-0.jsonl").is_file()
        return _result(job)

    StubWorker(store, tmp_path, scored).run(once=True)
    assert store.get_submission(sid)["status"] == "finished"
    assert not (tmp_path / "cache-w1" / f"submission-{sid}").exists()


# --------------------------------------------------------------------------------------------- untrained weights


def test_untrained_results_never_enter_a_ranking(store: Store) -> None:
    result = make_result()
    result["model"]["untrained"] = True
    with pytest.raises(UntrainedResult, match="PPDLS"):
        store.record_evaluation(result)
    sid = submit(store, "a")
    store.claim_next("w")
    with pytest.raises(UntrainedResult):
        store.finish_submission(sid, "w", result)
    assert store.results_frame().empty and store.get_submission(sid)["status"] == "running"


def test_untrained_results_on_the_smoke_benchmark_are_kept(store: Store) -> None:
    result = make_result(benchmarks=("synthetic",))
    result["model"]["untrained"] = True
    store.record_evaluation(result)
    assert list(store.results_frame()["benchmark"]) == ["synthetic"]


def test_a_worker_with_untrained_weights_fails_ranked_jobs_as_the_hosts_fault(tmp_path: Path, store: Store) -> None:
    sid = submit(store, "a")

    def untrained(job: ClaimedJob) -> dict:
        result = _result(job)
        result["model"]["untrained"] = True
        return result

    StubWorker(store, tmp_path, untrained).run(once=True)
    sub = store.get_submission(sid)
    assert sub["status"] == "failed" and "scoring host failed (UntrainedResult" in sub["failure_reason"]
    assert store.results_frame().empty


def test_a_hub_repo_gone_from_the_hub_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx
    import huggingface_hub
    from huggingface_hub.errors import RepositoryNotFoundError

    from evaluation.worker import fetch_adapter
    from tests.evaluation.test_worker import _job, claimed

    def gone(**kwargs: object) -> str:
        request = httpx.Request("GET", "https://huggingface.co/api/models/alice/lora")
        raise RepositoryNotFoundError("404 Client Error: Repository Not Found", response=httpx.Response(404,
                                                                                                   request=request))

    monkeypatch.setattr(huggingface_hub, "snapshot_download", gone)
    with pytest.raises(Refused, match="alice/lora@aaaaaaaaaaaa is no longer available on the Hub"):
        fetch_adapter(claimed(_job(1, hub_repo="alice/lora", hub_revision="a" * 40)), tmp_path)
