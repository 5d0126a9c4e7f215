"""The scoring worker: ``python -m evaluation.worker`` takes queued leaderboard submissions and scores them.

Loop: ``store.claim_next`` (atomic, with a lease) -> a background thread renews the lease every ``lease / 3`` seconds
-> the adapter is fetched (the submission's stored folder, or its Hub repo at the pinned commit) -> the runner
scores it on the submission's benchmarks and tier -> ``store.finish_submission`` writes the run, its scores and the
finished state in one transaction. A submission's own fault (an adapter that does not load, an unknown benchmark)
fails it with the reason, without retry; anything else (out of memory, a lost GPU, a network error) fails it with
``retry=True``, so the store puts it back in the queue while attempts remain. A worker that dies stops renewing; its
lease expires and another worker claims the submission again (the store bounds the attempts). A worker that lost its
lease never writes results (``LeaseLost``), so nothing is scored twice.

Each submission's per-sample cache lives under ``<cache_dir>/submission-<id>/``, so a retried submission resumes
where the previous attempt stopped. Scoring needs torch and, at real sizes, a GPU host: a ZeroGPU Space only queues.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from diception_spec.results import THUMBNAILS_PER_DATASET
from evaluation.runner import SyntheticOptions, default_cache_dir, run_evaluation

logger = logging.getLogger("evaluation.worker")

__all__ = ["LeaseKeeper", "QueueStore", "SubmissionError", "Worker", "fetch_adapter", "main"]


class QueueStore(Protocol):
    """The part of ``leaderboard.store.Store`` the worker uses."""

    def claim_next(self, worker_id: str, *, lease_seconds: float | None = None) -> dict[str, Any] | None: ...

    def renew_lease(self, submission_id: int, worker_id: str, *, lease_seconds: float | None = None) -> bool: ...

    def finish_submission(self, submission_id: int, worker_id: str, result: Mapping[str, Any]) -> int: ...

    def fail_submission(self, submission_id: int, worker_id: str, reason: str, *, retry: bool = False) -> None: ...


class SubmissionError(ValueError):
    """The submission itself cannot be scored (its files, its adapter, its benchmarks); retrying will not help."""


# Errors that are the submission's fault: fail without retry. Everything else is retried while attempts remain.
_PERMANENT = (ValueError, KeyError, NotImplementedError)


class LeaseKeeper:
    """Renews a lease every ``interval`` seconds in a daemon thread until stopped; ``lost`` is set if it cannot."""

    def __init__(self, store: QueueStore, submission_id: int, worker_id: str, lease_seconds: float) -> None:
        self.store = store
        self.submission_id = submission_id
        self.worker_id = worker_id
        self.lease_seconds = lease_seconds
        self.interval = max(0.05, lease_seconds / 3.0)
        self.lost = threading.Event()
        self.renewals = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lease-{submission_id}", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                held = self.store.renew_lease(self.submission_id, self.worker_id, lease_seconds=self.lease_seconds)
            except Exception as exc:  # noqa: BLE001 - a database hiccup: keep trying until the lease runs out
                logger.warning("submission %d: lease renewal failed: %s", self.submission_id, exc)
                continue
            if not held:
                logger.error("submission %d: lease lost; its results will be discarded", self.submission_id)
                self.lost.set()
                return
            self.renewals += 1

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5.0)


def fetch_adapter(job: Mapping[str, Any], download_dir: Path) -> Path:
    """The submission's adapter folder: its stored folder, or its Hub repo downloaded at the pinned commit."""
    stored = job.get("storage_path")
    if stored:
        folder = Path(stored)
        if not folder.is_dir():
            raise SubmissionError(f"the stored adapter folder {folder} is missing")
        return folder
    repo, revision = job.get("hub_repo"), job.get("hub_revision")
    if not repo or not revision:
        raise SubmissionError("the submission has neither a stored folder nor a Hub repo pinned to a commit")
    from huggingface_hub import snapshot_download

    target = download_dir / f"submission-{job['submission_id']}"
    return Path(snapshot_download(repo_id=repo, revision=revision, local_dir=target))


_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}")


def _benchmark_names(job: Mapping[str, Any], data_root: str | Path | None = None) -> list[str]:
    """The runner's names for a submission's benchmarks: ``<task>/<id>`` for registry ids, and for an own test
    split ``user:NAME`` the prepared folder ``<data_root>/user/NAME`` on this host. A submitter never names a path:
    anything that is not a plain id is refused."""
    task = str(job.get("task") or "")
    names = [str(b) for b in job.get("benchmarks") or []]
    if not names:
        raise SubmissionError("the submission names no benchmark")
    out, missing = [], []
    for name in names:
        own = name.removeprefix("user:")
        if not _SAFE_NAME.fullmatch(own) or ".." in own:
            raise SubmissionError(f"benchmark {name[:60]!r} is not a benchmark id")
        if name.startswith("user:"):
            folder = Path(data_root) / "user" / own if data_root is not None else None
            if folder is None or not (folder / "manifest.json").is_file():
                missing.append(name)
                continue
            out.append(f"user:{folder}")
        else:
            out.append(f"{task}/{name}" if task else name)
    if not out:
        raise SubmissionError(
            f"the submission asks only for its own test split(s) {', '.join(missing)}, which this scoring host does "
            "not have; add a standard benchmark of the task to diception_task.json"
        )
    return out


class Worker:
    """Claims, scores and finishes submissions; see the module docstring.

    ``pipe_factory()`` returns the base DICEPTION pipeline (loaded once, adapters loaded and unloaded per job);
    ``predictor_factory(job, adapter_folder)`` may replace the whole predictor construction (tests).
    """

    def __init__(
        self,
        store: QueueStore,
        *,
        worker_id: str | None = None,
        base_model: str = "tiny",
        device: str | None = None,
        lease_seconds: float = 600.0,
        poll_seconds: float = 10.0,
        data_root: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        synthetic: SyntheticOptions = SyntheticOptions(),
        pipe_factory: Callable[[], Any] | None = None,
        predictor_factory: Callable[[Mapping[str, Any], Path | None], Any] | None = None,
    ) -> None:
        if worker_id is None:
            from leaderboard.store import new_worker_id

            worker_id = new_worker_id()
        self.store = store
        self.worker_id = worker_id
        self.base_model = base_model
        self.device = device
        self.lease_seconds = float(lease_seconds)
        self.poll_seconds = float(poll_seconds)
        self.data_root = data_root
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir() / "worker"
        self.steps = steps
        self.guidance = guidance
        self.synthetic = synthetic
        self._pipe_factory = pipe_factory
        self._predictor_factory = predictor_factory
        self._pipe: Any = None

    # -- predictors

    def _pipe_for_jobs(self) -> Any:
        if self._pipe is None:
            if self._pipe_factory is not None:
                self._pipe = self._pipe_factory()
            else:
                from diception_core.pipeline import DiceptionPipeline

                self._pipe = DiceptionPipeline.from_pretrained(self.base_model, device=self.device)
        return self._pipe

    def _predictor(self, job: Mapping[str, Any], adapter: Path | None) -> Any:
        if self._predictor_factory is not None:
            return self._predictor_factory(job, adapter)
        if job.get("kind") == "predictions":
            from evaluation.predictors import FilesPredictor

            folder = Path(job.get("storage_path") or "")
            if not folder.is_dir():
                raise SubmissionError(f"the stored prediction folder {folder} is missing")
            # Options the submitter declared in predictions.json (depth kind and scale, normal frame), validated
            # and kept in the submission's metadata by leaderboard.submit.submit_predictions.
            options = dict((job.get("metadata") or {}).get("predictor_options") or {})
            return FilesPredictor(folder, name=str(job["name"]), model_type="generalist", **options)
        from evaluation.predictors import DiceptionPredictor

        return DiceptionPredictor(
            self._pipe_for_jobs(), steps=self.steps, guidance=self.guidance, adapter=adapter, name=str(job["name"]),
            variant="adapter", model_id=self.base_model,
        )

    def _release(self, predictor: Any) -> None:
        name = getattr(predictor, "adapter_name", None)
        if name is not None and self._pipe is not None:
            self._pipe.unload_adapter(name)

    # -- one job

    def score(self, job: Mapping[str, Any]) -> dict[str, Any]:
        """The result dict of one claimed submission (raises on failure)."""
        adapter = None
        if job.get("kind", "adapter") == "adapter":
            adapter = fetch_adapter(job, self.cache_dir / "downloads")
        try:
            predictor = self._predictor(job, adapter)
        except FileNotFoundError as exc:
            raise SubmissionError(str(exc)) from exc
        try:
            result = run_evaluation(
                predictor, _benchmark_names(job, self.data_root), tier=str(job.get("tier") or "standard"),
                data_root=self.data_root,
                cache_dir=self.cache_dir / f"submission-{job['submission_id']}", synthetic=self.synthetic,
                progress=False, thumbnails=THUMBNAILS_PER_DATASET,  # the board's gallery (none for prediction files)
            )
        finally:
            self._release(predictor)
        if result is None:  # only ranks other than 0 get None; a worker is one process
            raise RuntimeError("the runner returned no result")
        if not result["scores"]:
            reasons = "; ".join(f"{f['sample_id']}: {f['reason']}" for f in result["failures"][:3])
            raise SubmissionError(f"no sample could be scored ({reasons or 'no samples'})")
        if result["failures"]:
            # A board score must cover every selected sample: a partial score would rank a submission on the
            # samples it chose to answer. Missing prediction files are the submitter's to fix; failures with an
            # adapter come from this host's data and are worth a retry once it is repaired.
            count = len(result["failures"])
            reasons = "; ".join(f"{f['sample_id']}: {f['reason']}" for f in result["failures"][:3])
            message = f"{count} sample(s) could not be scored, so no partial score is published ({reasons})"
            if job.get("kind") == "predictions":
                raise SubmissionError(message)
            raise RuntimeError(message)
        return result

    def run_once(self) -> bool:
        """Claim and process one submission; False when the queue was empty."""
        from leaderboard.store import LeaseLost

        job = self.store.claim_next(self.worker_id, lease_seconds=self.lease_seconds)
        if job is None:
            return False
        submission_id = int(job["submission_id"])
        logger.info("submission %d claimed by %s (attempt %s)", submission_id, self.worker_id, job.get("attempts"))
        try:
            with LeaseKeeper(self.store, submission_id, self.worker_id, self.lease_seconds) as keeper:
                result = self.score(job)
            if keeper.lost.is_set():
                logger.error("submission %d: lease lost while scoring; results discarded", submission_id)
                return True
            run_id = self.store.finish_submission(submission_id, self.worker_id, result)
            logger.info("submission %d finished (run %d)", submission_id, run_id)
        except LeaseLost as exc:
            logger.error("submission %d: %s", submission_id, exc)
        except _PERMANENT as exc:
            self._fail(submission_id, f"{type(exc).__name__}: {exc}", retry=False)
        except Exception as exc:  # noqa: BLE001 - transient (OOM, lost device, network): retried by the store
            logger.exception("submission %d: scoring error", submission_id)
            self._fail(submission_id, f"scoring error: {type(exc).__name__}: {exc}", retry=True)
        return True

    def _fail(self, submission_id: int, reason: str, *, retry: bool) -> None:
        from leaderboard.store import LeaseLost

        try:
            self.store.fail_submission(submission_id, self.worker_id, reason, retry=retry)
        except LeaseLost as exc:
            logger.error("submission %d: %s", submission_id, exc)

    def run(self, *, once: bool = False, stop: threading.Event | None = None, max_jobs: int | None = None) -> int:
        """Process submissions until ``stop`` is set (or, with ``once``, until the queue is empty); returns how many
        were processed."""
        done = 0
        while stop is None or not stop.is_set():
            if max_jobs is not None and done >= max_jobs:
                break
            if self.run_once():
                done += 1
                continue
            if once:
                break
            if stop is not None:
                stop.wait(self.poll_seconds)
            else:
                time.sleep(self.poll_seconds)
        return done


# --------------------------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m evaluation.worker", description=__doc__.splitlines()[0])
    p.add_argument("--database-url", help="leaderboard database URL (default: the leaderboard's settings)")
    p.add_argument("--worker-id", help="unique id of this worker (default: host, pid and a random suffix)")
    p.add_argument("--once", action="store_true", help="process the queue until it is empty, then exit")
    p.add_argument("--max-jobs", type=int, help="exit after this many submissions")
    p.add_argument("--poll-seconds", type=float, default=10.0, help="wait between polls of an empty queue")
    p.add_argument("--lease-seconds", type=float, default=600.0, help="lease length; renewed every third of it")
    p.add_argument("--model", default="tiny", help="base DICEPTION model: tiny, a folder or a Hub id")
    p.add_argument("--device", help="torch device (default: the local accelerator, else CPU)")
    p.add_argument("--data-root", help="folder of prepared benchmark folders")
    p.add_argument("--cache-dir", help="per-submission sample caches and downloads")
    p.add_argument("--steps", type=int, help="denoising steps (default: the model's)")
    p.add_argument("--guidance", type=float, help="guidance scale (default: the model's)")
    p.add_argument("--synthetic-samples", type=int, help="scenes of the synthetic benchmark (default: the spec's)")
    p.add_argument("--synthetic-size", type=int, default=96)
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    from leaderboard.store import Store

    store = Store(args.database_url)
    try:
        worker = Worker(
            store, worker_id=args.worker_id, base_model=args.model, device=args.device,
            lease_seconds=args.lease_seconds, poll_seconds=args.poll_seconds, data_root=args.data_root,
            cache_dir=args.cache_dir, steps=args.steps, guidance=args.guidance,
            synthetic=SyntheticOptions(samples=args.synthetic_samples, size=args.synthetic_size),
        )
        done = worker.run(once=args.once, max_jobs=args.max_jobs)
    except KeyboardInterrupt:
        logger.info("stopped; a claimed submission's lease will expire and it will be retried")
        return 130
    finally:
        store.close()
    logger.info("processed %d submissions", done)
    return 0


if __name__ == "__main__":
    sys.exit(main())
