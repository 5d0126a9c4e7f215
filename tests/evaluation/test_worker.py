"""The scoring worker: claim -> score -> finish, failures with reasons, lease renewal; a real SQLite store."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import torch
from peft import LoraConfig

from diception_core.lora import write_adapter_folder
from evaluation.predictors import DepthAnythingPredictor
from evaluation.runner import SyntheticOptions
from evaluation.worker import LeaseKeeper, Worker, main
from leaderboard.store import ClaimedJob, LeaseLost

SYNTHETIC = SyntheticOptions(samples=2, size=64)


def claimed(job: dict, worker_id: str = "w1", lease_seconds: float = 600.0) -> ClaimedJob:
    """A test job dict as the store's ClaimedJob."""
    now = datetime.now(timezone.utc)
    return ClaimedJob(
        submission_id=job["submission_id"], kind=job.get("kind", "adapter"), name=job.get("name", "sub"),
        submitter="alice", task=job.get("task", "depth"), benchmarks=tuple(job.get("benchmarks", ())),
        tier=job.get("tier", "quick"), content_hash="h", storage_path=job.get("storage_path"),
        hub_repo=job.get("hub_repo"), hub_revision=job.get("hub_revision"), attempts=job.get("attempts", 1),
        max_attempts=3, worker_id=worker_id, lease_seconds=lease_seconds, started_at=now,
        lease_expires_at=now + timedelta(seconds=lease_seconds), metadata=job.get("metadata") or {},
    )  # fmt: skip


class FakeStore:
    """The four queue methods of leaderboard.store.Store, in memory."""

    def __init__(self, jobs: list[dict], *, max_attempts: int = 3) -> None:
        self.jobs = {j["submission_id"]: {**j, "status": "pending", "attempts": 0, "worker_id": None} for j in jobs}
        self.max_attempts = max_attempts
        self.results: dict[int, dict] = {}
        self.renewals = 0
        self.hold = True
        self.lock = threading.Lock()

    def claim_next(self, worker_id, *, lease_seconds=None):
        with self.lock:
            for job in self.jobs.values():
                if job["status"] == "pending":
                    job.update(status="running", worker_id=worker_id, attempts=job["attempts"] + 1)
                    return claimed(job, worker_id, 600.0 if lease_seconds is None else lease_seconds)
        return None

    def renew_lease(self, submission_id, worker_id, *, lease_seconds=None):
        self.renewals += 1
        return self.hold and self.jobs[submission_id]["worker_id"] == worker_id

    def _held(self, submission_id, worker_id):
        job = self.jobs[submission_id]
        if job["status"] != "running" or job["worker_id"] != worker_id or not self.hold:
            raise LeaseLost(f"{worker_id} does not hold {submission_id}")
        return job

    def finish_submission(self, submission_id, worker_id, result):
        job = self._held(submission_id, worker_id)
        self.results[submission_id] = result
        job.update(status="finished", worker_id=None)
        return 1

    def fail_submission(self, submission_id, worker_id, reason, *, retry=False):
        job = self._held(submission_id, worker_id)
        again = retry and job["attempts"] < self.max_attempts
        job.update(status="pending" if again else "failed", reason=reason, worker_id=None)
        return job["status"]


def _job(submission_id: int, **extra) -> dict:
    return {"submission_id": submission_id, "kind": "adapter", "name": f"sub{submission_id}", "task": "depth",
            "benchmarks": ["synthetic"], "tier": "quick", "storage_path": None, "hub_repo": None,
            "hub_revision": None, **extra}


class SlowDepth:
    """Tiny Depth Anything that takes ``delay`` seconds per image (to see the lease renewed)."""

    def __init__(self, delay: float = 0.0, error: Exception | None = None) -> None:
        self.inner = DepthAnythingPredictor.tiny(device="cpu")
        self.delay = delay
        self.error = error

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def predict_depth(self, image, *, sample_id):
        time.sleep(self.delay)
        if self.error is not None:
            raise self.error
        return self.inner.predict_depth(image, sample_id=sample_id)


def _worker(store, tmp_path: Path, predictor, **kwargs) -> Worker:
    return Worker(store, worker_id="w1", cache_dir=tmp_path / "cache", synthetic=SYNTHETIC,
                  predictor_factory=lambda job, adapter: predictor, poll_seconds=0.01, **kwargs)


def test_claim_score_finish(tmp_path) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    store = FakeStore([_job(1, storage_path=str(adapter)), _job(2, storage_path=str(adapter))])
    assert _worker(store, tmp_path, SlowDepth()).run(once=True) == 2
    assert [store.jobs[i]["status"] for i in (1, 2)] == ["finished", "finished"]
    result = store.results[1]
    assert {s["metric"] for s in result["scores"]} >= {"absrel", "delta1"}
    assert result["settings"]["tier"] == "quick"


def test_a_broken_submission_fails_with_its_reason_without_retry(tmp_path) -> None:
    store = FakeStore([_job(2, storage_path=str(tmp_path), benchmarks=["nonesuch"])])
    _worker(store, tmp_path, SlowDepth()).run(once=True)
    assert store.jobs[2]["status"] == "failed" and "unknown benchmark 'nonesuch'" in store.jobs[2]["reason"]
    assert store.jobs[2]["attempts"] == 1


def test_a_missing_stored_folder_is_the_hosts_fault_and_retried(tmp_path) -> None:
    store = FakeStore([_job(1, storage_path=str(tmp_path / "nowhere"))], max_attempts=2)
    _worker(store, tmp_path, SlowDepth()).run(once=True)
    job = store.jobs[1]
    assert job["status"] == "failed" and job["attempts"] == 2
    assert "scoring host failed (FileNotFoundError" in job["reason"] and str(tmp_path) not in job["reason"]


def test_transient_errors_are_retried_a_bounded_number_of_times(tmp_path) -> None:
    store = FakeStore([_job(1, storage_path=str(tmp_path))], max_attempts=2)
    _worker(store, tmp_path, SlowDepth(error=RuntimeError("CUDA out of memory"))).run(once=True)
    job = store.jobs[1]
    assert job["status"] == "failed" and job["attempts"] == 2
    assert "scoring host failed (RuntimeError" in job["reason"]
    assert "not a problem with the submission" in job["reason"]


def test_a_sample_level_error_is_a_failure_of_the_sample_not_the_submission(tmp_path) -> None:
    # Every sample failing with an adapter is this host's data problem: retried, then failed as the host's fault.
    store = FakeStore([_job(1, storage_path=str(tmp_path))])
    _worker(store, tmp_path, SlowDepth(error=ValueError("odd image"))).run(once=True)
    assert store.jobs[1]["status"] == "failed" and store.jobs[1]["attempts"] == 3
    assert "scoring host failed" in store.jobs[1]["reason"]


def test_the_lease_is_renewed_while_scoring_and_a_lost_lease_writes_nothing(tmp_path) -> None:
    store = FakeStore([_job(1, storage_path=str(tmp_path))])
    _worker(store, tmp_path, SlowDepth(delay=0.25), lease_seconds=0.15).run(once=True)
    assert store.renewals >= 2 and store.jobs[1]["status"] == "finished"

    lost = FakeStore([_job(1, storage_path=str(tmp_path))])
    lost.hold = False
    _worker(lost, tmp_path / "b", SlowDepth(delay=0.25), lease_seconds=0.15).run(once=True)
    assert lost.results == {} and lost.jobs[1]["status"] == "running"  # left for the store to expire and retry


def test_lease_keeper_stops(tmp_path) -> None:
    store = FakeStore([_job(1)])
    store.claim_next("w")
    with LeaseKeeper(store, 1, "w", lease_seconds=0.06) as keeper:
        time.sleep(0.1)
    count = store.renewals
    time.sleep(0.1)
    assert store.renewals == count and keeper.renewals >= 1 and not keeper.lost.is_set()


def _make_adapter(pipe, folder: Path) -> Path:
    """A random non-zero LoRA in the adapter folder layout (the pattern of tests/diception_core/test_lora.py)."""
    name = "worker_test"
    pipe.transformer.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v"]),
                                 adapter_name=name)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module_name, param in pipe.transformer.named_parameters():
            if f"lora_B.{name}" in module_name or f"lora_A.{name}" in module_name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.5)
    info = {
        "format_version": 1, "base_model": {"id": "tiny-diception", "revision": "test"}, "task": "depth",
        "new_task": None, "benchmarks": ["synthetic"], "training_data": "random", "trained_on_benchmarks": [],
        "licence": "mit",
    }
    write_adapter_folder(pipe.transformer, name, folder, task_info=info)
    pipe.transformer.delete_adapters(name)
    return folder


def test_real_sqlite_store_with_a_tiny_adapter(fresh_tiny_pipe, tmp_path) -> None:
    from leaderboard.store import Store

    adapter = _make_adapter(fresh_tiny_pipe, tmp_path / "adapter")
    url = f"sqlite:///{tmp_path / 'board.db'}"
    with Store(url, seed=False) as store:
        sid = store.create_submission(
            submitter="alice", kind="adapter", name="my depth adapter", task="depth", benchmarks=["synthetic"],
            content_hash="abc123", storage_path=str(adapter), tier="quick",
        )
        worker = Worker(store, worker_id="w-real", pipe_factory=lambda: fresh_tiny_pipe, steps=1, guidance=1.0,
                        cache_dir=tmp_path / "cache", synthetic=SYNTHETIC, lease_seconds=30)
        assert worker.run(once=True) == 1
        submission = store.get_submission(sid)
        assert submission["status"] == "finished", submission["failure_reason"]
        assert len(submission["run_ids"]) == 1
        run = store.get_run(submission["run_ids"][0])
        assert run["settings"]["adapter"] == str(adapter) and run["settings"]["steps"] == 1
        frame = store.results_frame()
        rows = frame[frame["entry_id"] == f"sub-{sid}"]
        assert set(rows["metric"]) == {"absrel", "delta1", "delta2", "delta3", "rmse"}
        assert np.isfinite(rows["value"]).all()
    assert fresh_tiny_pipe.adapters == {}  # unloaded after the job


def test_cli_once_on_an_empty_queue(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    assert main(["--model", "tiny", "--database-url", url, "--once", "--worker-id", "w", "--cache-dir",
                 str(tmp_path)]) == 0


def test_a_hub_adapter_is_downloaded_at_the_pinned_commit(tmp_path, monkeypatch) -> None:
    import huggingface_hub

    from diception_spec.errors import Refused
    from evaluation.worker import fetch_adapter

    calls = []

    def fake_snapshot_download(*, repo_id, revision, local_dir):
        calls.append((repo_id, revision))
        Path(local_dir).mkdir(parents=True)
        return str(local_dir)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    folder = fetch_adapter(claimed(_job(7, hub_repo="alice/depth-lora", hub_revision="a" * 40)), tmp_path)
    assert calls == [("alice/depth-lora", "a" * 40)] and folder.is_dir()
    with pytest.raises(Refused, match="pinned"):
        fetch_adapter(claimed(_job(8, hub_repo="alice/depth-lora")), tmp_path)


def test_prediction_files_are_read_with_the_declared_options(tmp_path) -> None:
    from evaluation.predictors import FilesPredictor

    (tmp_path / "preds" / "depth").mkdir(parents=True)
    job = {"submission_id": 9, "name": "files", "kind": "predictions", "storage_path": str(tmp_path / "preds"),
           "metadata": {"predictor_options": {"depth_kind": "depth", "depth_scale": 256.0}}}
    worker = Worker(object(), worker_id="w1", cache_dir=tmp_path / "cache")
    predictor = worker._predictor(claimed(job), None)
    assert isinstance(predictor, FilesPredictor)
    assert predictor.describe()["settings"]["depth_kind"] == "depth"


class FailsOnce(SlowDepth):
    """Fails on the first sample only: a partial result."""

    def predict_depth(self, image, *, sample_id):
        if not getattr(self, "failed", False):
            self.failed = True
            raise ValueError("missing prediction file")
        return self.inner.predict_depth(image, sample_id=sample_id)


def test_a_partial_score_is_never_published(tmp_path) -> None:
    store = FakeStore([_job(1, storage_path=str(tmp_path), kind="predictions")])
    _worker(store, tmp_path, FailsOnce()).run(once=True)
    assert store.jobs[1]["status"] == "failed" and "no partial score" in store.jobs[1]["reason"]


def test_benchmark_names_never_pass_paths_through(tmp_path) -> None:
    from diception_spec.errors import Refused
    from evaluation.worker import _benchmark_names

    def job(*benchmarks: str) -> ClaimedJob:
        return claimed(_job(1, task="depth", benchmarks=list(benchmarks)))

    assert _benchmark_names(job("nyuv2")) == ["depth/nyuv2"]
    for bad in ("user:/etc", "../x", "normal/nyuv2", "user:a/b"):
        with pytest.raises(Refused, match="not a benchmark id"):
            _benchmark_names(job(bad))
    with pytest.raises(Refused, match="unknown benchmark .sa23. for task depth; known: kitti, nyuv2"):
        _benchmark_names(job("sa23"))
    own = tmp_path / "user" / "mine"
    own.mkdir(parents=True)
    (own / "manifest.json").write_text("{}")
    assert _benchmark_names(job("user:mine"), tmp_path) == [f"user:{own}"]
    with pytest.raises(Refused, match="own test split"):
        _benchmark_names(job("user:absent"), tmp_path)
