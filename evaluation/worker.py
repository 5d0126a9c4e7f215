"""The scoring worker: ``python -m evaluation.worker --model MODEL`` takes queued leaderboard submissions and scores
them.

Loop: ``store.claim_next`` (atomic, with a lease of ``DICEPTION_LEASE_SECONDS``, or ``--lease-seconds``) -> a
background thread renews the lease every third of it -> the adapter is fetched (the submission's stored folder, or
its Hub repo at the pinned commit) -> the runner scores it on the submission's benchmarks and tier ->
``store.finish_submission`` writes the run, its scores and the finished state in one transaction.

Retry policy, by cause: a :class:`~diception_spec.errors.Refused` (any subclass: the adapter format, the prediction
files, an unknown or unscorable benchmark, every sample of a prediction upload failing) means the submission is at
fault, and the job fails at once with that message. Every other error is the host's (a bug, out of memory, a lost
GPU, missing benchmark data, the network, a stored folder gone missing): the job goes back to the queue and is
retried up to ``DICEPTION_MAX_ATTEMPTS`` claims, then fails with a reason saying it was the scoring host's fault. The
submitter never sees a host's exception text, a path or a traceback; the log has them, under an incident id that the
reason repeats. A worker that dies stops renewing; its lease expires and another worker claims the submission again
(the store bounds the attempts). A worker that lost its lease never writes results (``LeaseLost``), so nothing is
scored twice.

The base model must be named (``--model``): a worker never falls back to the tiny preset, and the store refuses
results of untrained weights on ranked benchmarks anyway.

Each submission's per-sample cache lives under ``<cache_dir>/submission-<id>/``, so a retried submission resumes
where the previous attempt stopped; it is removed once the submission is finished or has failed for good. Scoring
needs torch and, at real sizes, a GPU host: a ZeroGPU Space only queues.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from diception_spec.benchmarks import USER_SPLIT_PREFIX, benchmark_order, get_benchmark
from diception_spec.errors import Refused, public_text
from diception_spec.results import THUMBNAILS_PER_DATASET
from diception_spec.tasks import Task

if TYPE_CHECKING:
    from evaluation.runner import SyntheticOptions
    from leaderboard.store import ClaimedJob

logger = logging.getLogger("evaluation.worker")

__all__ = ["HOST_FAULT", "LeaseKeeper", "QueueStore", "Worker", "fetch_adapter", "main"]

# What a submitter reads when the host failed (the incident id finds the traceback in the worker's log).
HOST_FAULT = "the scoring host failed ({error}, incident {incident}); this is not a problem with the submission"


class QueueStore(Protocol):
    """The part of ``leaderboard.store.Store`` the worker uses."""

    def claim_next(self, worker_id: str, *, lease_seconds: float | None = None) -> ClaimedJob | None: ...

    def renew_lease(self, submission_id: int, worker_id: str, *, lease_seconds: float | None = None) -> bool: ...

    def finish_submission(self, submission_id: int, worker_id: str, result: Mapping[str, Any]) -> int: ...

    def fail_submission(self, submission_id: int, worker_id: str, reason: str, *, retry: bool = False) -> str: ...


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


def fetch_adapter(job: ClaimedJob, download_dir: Path) -> Path:
    """The submission's adapter folder: its stored folder, or its Hub repo downloaded at the pinned commit.

    A stored folder that is gone is the host's problem (``FileNotFoundError``, retried), as is a failed download; a
    submission with neither a folder nor a pinned Hub commit, or whose repo or commit is gone from the Hub, cannot
    be scored (``Refused``)."""
    if job.storage_path:
        folder = Path(job.storage_path)
        if not folder.is_dir():
            raise FileNotFoundError(f"submission {job.submission_id}: the stored adapter folder {folder} is missing")
        return folder
    if not job.hub_repo or not job.hub_revision:
        raise Refused("the submission has neither stored files nor a Hub repo pinned to a commit")
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import RepositoryNotFoundError, RevisionNotFoundError

    target = download_dir / f"submission-{job.submission_id}"
    try:
        return Path(snapshot_download(repo_id=job.hub_repo, revision=job.hub_revision, local_dir=target))
    except (RepositoryNotFoundError, RevisionNotFoundError):  # gone, made private or gated: retrying cannot help
        raise Refused(f"{job.hub_repo}@{job.hub_revision[:12]} is no longer available on the Hub (deleted, made "
                      "private or gated); submit it again once it is public") from None


_TASK_IDS = frozenset(t.value for t in Task)
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}")


def _benchmark_names(job: ClaimedJob, data_root: str | Path | None = None) -> list[str]:
    """The runner's names for a submission's benchmarks: ``<task>/<id>`` for registry ids, and for an own test
    split ``user:NAME`` the prepared folder ``<data_root>/user/NAME`` on this host. A submitter never names a path:
    anything that is not a registered id of the submission's task or a plain own-split name is refused."""
    if not job.benchmarks:
        raise Refused("the submission names no benchmark")
    out, missing = [], []
    for name in job.benchmarks:
        own = name.removeprefix(USER_SPLIT_PREFIX)
        if not _SAFE_NAME.fullmatch(own) or ".." in own:
            raise Refused(f"benchmark {name[:60]!r} is not a benchmark id")
        if name.startswith(USER_SPLIT_PREFIX):
            folder = Path(data_root) / "user" / own if data_root is not None else None
            if folder is None or not (folder / "manifest.json").is_file():
                missing.append(name)
                continue
            out.append(f"{USER_SPLIT_PREFIX}{folder}")
            continue
        try:
            spec = get_benchmark(job.task, name) if job.task else get_benchmark(name)
        except ValueError:  # UnknownBenchmarkError, or a task without standard benchmarks (a new task)
            known = ", ".join(benchmark_order(job.task)) if job.task in _TASK_IDS else ""
            hint = f"known: {known}" if known else "score it on an own test split (user:NAME)"
            raise Refused(f"unknown benchmark {name[:60]!r} for task {job.task or '?'}; {hint}") from None
        out.append(f"{spec.task_id}/{spec.id}")
    if not out:
        raise Refused(
            f"the submission asks only for its own test split(s) {', '.join(missing)}, which this scoring host does "
            "not have; add a standard benchmark of the task to diception_task.json"
        )
    return out


class Worker:
    """Claims, scores and finishes submissions; see the module docstring.

    ``base_model`` is the DICEPTION model adapters are scored on (a converted folder, a Hub id, or ``tiny`` for
    tests); ``pipe_factory()`` may build it instead (loaded once, adapters loaded and unloaded per job);
    ``predictor_factory(job, adapter_folder)`` may replace the whole predictor construction (tests).
    ``lease_seconds`` ``None`` takes the store's setting (``DICEPTION_LEASE_SECONDS``).
    """

    def __init__(
        self,
        store: QueueStore,
        *,
        worker_id: str | None = None,
        base_model: str | None = None,
        device: str | None = None,
        lease_seconds: float | None = None,
        poll_seconds: float = 10.0,
        data_root: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        steps: int | None = None,
        guidance: float | None = None,
        synthetic: SyntheticOptions | None = None,
        pipe_factory: Callable[[], Any] | None = None,
        predictor_factory: Callable[[ClaimedJob, Path | None], Any] | None = None,
    ) -> None:
        if worker_id is None:
            from leaderboard.store import new_worker_id

            worker_id = new_worker_id()
        if lease_seconds is not None and not lease_seconds > 0:
            raise ValueError(f"lease_seconds: must be positive, got {lease_seconds}")
        self.store = store
        self.worker_id = worker_id
        self.base_model = base_model
        self.device = device
        self.lease_seconds = None if lease_seconds is None else float(lease_seconds)
        self.poll_seconds = float(poll_seconds)
        self.data_root = data_root
        if cache_dir is None:
            from evaluation.runner import default_cache_dir

            cache_dir = default_cache_dir() / "worker"
        self.cache_dir = Path(cache_dir)
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
            elif self.base_model is None:
                raise RuntimeError("no base model: start the worker with --model (a converted model folder or a "
                                   "Hub id of one)")  # fmt: skip
            else:
                from diception_core.pipeline import DiceptionPipeline

                self._pipe = DiceptionPipeline.from_pretrained(self.base_model, device=self.device)
                if self._pipe.config.untrained:
                    logger.warning("base model %s has untrained weights: the store refuses its scores on ranked "
                                   "benchmarks", self.base_model)  # fmt: skip
        return self._pipe

    def _predictor(self, job: ClaimedJob, adapter: Path | None) -> Any:
        if self._predictor_factory is not None:
            return self._predictor_factory(job, adapter)
        if job.kind == "predictions":
            from evaluation.predictors import FilesPredictor

            folder = Path(job.storage_path or "")
            if not job.storage_path or not folder.is_dir():
                raise FileNotFoundError(f"submission {job.submission_id}: the stored prediction folder {folder} is "
                                        "missing")  # fmt: skip
            # Options the submitter declared in predictions.json (depth kind and scale, normal frame), validated
            # and kept in the submission's metadata by leaderboard.submit.submit_predictions.
            options = dict(job.metadata.get("predictor_options") or {})
            return FilesPredictor(folder, name=job.name, model_type="generalist", **options)
        from evaluation.predictors import DiceptionPredictor

        return DiceptionPredictor(
            self._pipe_for_jobs(), steps=self.steps, guidance=self.guidance, adapter=adapter, name=job.name,
            variant="adapter", model_id=self.base_model,
        )

    def _release(self, predictor: Any) -> None:
        name = getattr(predictor, "adapter_name", None)
        if name is not None and self._pipe is not None:
            self._pipe.unload_adapter(name)

    # -- one job

    def _job_cache(self, job: ClaimedJob) -> Path:
        return self.cache_dir / f"submission-{job.submission_id}"

    def _download_dir(self, job: ClaimedJob) -> Path:
        return self.cache_dir / "downloads" / f"submission-{job.submission_id}"

    def score(self, job: ClaimedJob) -> dict[str, Any]:
        """The result dict of one claimed submission (raises on failure: ``Refused`` when the submission is at
        fault, anything else when the host is)."""
        from evaluation.runner import SyntheticOptions, resolve_benchmarks, run_evaluation

        names = _benchmark_names(job, self.data_root)
        adapter = None
        if job.kind == "adapter":
            adapter = fetch_adapter(job, self.cache_dir / "downloads")
        predictor = self._predictor(job, adapter)
        try:
            synthetic = self.synthetic or SyntheticOptions()
            unscorable = [n for n in names if not n.startswith(USER_SPLIT_PREFIX) and
                          n.split("/")[0] not in {t.value for t in predictor.tasks}]  # fmt: skip
            if unscorable:
                served = ", ".join(sorted(t.value for t in predictor.tasks)) or "no standard task"
                raise Refused(f"benchmarks: {', '.join(unscorable)} cannot score this submission (it predicts "
                              f"{served})")  # fmt: skip
            jobs = resolve_benchmarks(names, predictor, data_root=self.data_root, synthetic=synthetic)
            result = run_evaluation(
                predictor, jobs, tier=job.tier or "standard", cache_dir=self._job_cache(job), synthetic=synthetic,
                progress=False, thumbnails=THUMBNAILS_PER_DATASET,  # the board's gallery (none for prediction files)
            )
        finally:
            self._release(predictor)
        if result is None:  # only ranks other than 0 get None; a worker is one process
            raise RuntimeError("the runner returned no result")
        failures = result["failures"]
        if failures:
            # A board score must cover every selected sample: a partial score would rank a submission on the
            # samples it chose to answer. Missing or broken prediction files are the submitter's to fix; failures
            # with an adapter come from this host's data and are worth a retry once it is repaired.
            count = len(failures)
            reasons = "; ".join(f"{f['sample_id']}: {public_text(f['reason'], limit=200)}" for f in failures[:3])
            what = "no sample could be scored" if not result["scores"] else \
                f"{count} sample(s) could not be scored, so no partial score is published"
            message = f"{what} ({reasons})"
            if job.kind == "predictions":
                raise Refused(message)
            raise RuntimeError(message)
        if not result["scores"]:
            raise RuntimeError("the runner scored no sample")
        return result

    def run_once(self) -> bool:
        """Claim and process one submission; False when the queue was empty."""
        from leaderboard.store import LeaseLost

        job = self.store.claim_next(self.worker_id, lease_seconds=self.lease_seconds)
        if job is None:
            return False
        logger.info("submission %d claimed by %s (attempt %d of %d, lease %.0f s)", job.submission_id,
                    self.worker_id, job.attempts, job.max_attempts, job.lease_seconds)  # fmt: skip
        status = None
        try:
            with LeaseKeeper(self.store, job.submission_id, self.worker_id, job.lease_seconds) as keeper:
                result = self.score(job)
            if keeper.lost.is_set():
                logger.error("submission %d: lease lost while scoring; results discarded", job.submission_id)
                return True
            run_id = self.store.finish_submission(job.submission_id, self.worker_id, result)
            status = "finished"
            logger.info("submission %d finished (run %d)", job.submission_id, run_id)
        except LeaseLost as exc:
            logger.error("submission %d: %s", job.submission_id, exc)
        except Refused as exc:  # the submission is at fault: no retry, its own message
            logger.info("submission %d refused: %s", job.submission_id, exc)
            status = self._fail(job, str(exc), retry=False)
        except Exception as exc:  # noqa: BLE001 - the host's fault (a bug, OOM, a lost device): retried by the store
            incident = uuid.uuid4().hex[:8]
            logger.exception("submission %d: scoring host error (incident %s)", job.submission_id, incident)
            status = self._fail(job, HOST_FAULT.format(error=type(exc).__name__, incident=incident), retry=True)
        if status in ("finished", "failed"):
            self._clean(job)
        return True

    def _fail(self, job: ClaimedJob, reason: str, *, retry: bool) -> str | None:
        from leaderboard.store import LeaseLost

        try:
            return self.store.fail_submission(job.submission_id, self.worker_id, reason, retry=retry)
        except LeaseLost as exc:
            logger.error("submission %d: %s", job.submission_id, exc)
            return None

    def _clean(self, job: ClaimedJob) -> None:
        """Remove what this host kept for a submission that is done for good (its sample cache, its download)."""
        for folder in (self._job_cache(job), self._download_dir(job)):
            shutil.rmtree(folder, ignore_errors=True)

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
    p.add_argument("--model", required=True,
                   help="base DICEPTION model adapters are scored on: a converted model folder or a Hub id of one "
                   "(required: a worker never falls back to untrained weights)")
    p.add_argument("--database-url", help="leaderboard database URL (default: the leaderboard's settings)")
    p.add_argument("--worker-id", help="unique id of this worker (default: host, pid and a random suffix)")
    p.add_argument("--once", action="store_true", help="process the queue until it is empty, then exit")
    p.add_argument("--max-jobs", type=int, help="exit after this many submissions")
    p.add_argument("--poll-seconds", type=float, default=10.0, help="wait between polls of an empty queue")
    p.add_argument("--lease-seconds", type=float, default=None,
                   help="lease length, renewed every third of it (default: $DICEPTION_LEASE_SECONDS, else 600)")
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
    from evaluation.runner import SyntheticOptions
    from leaderboard.store import Store

    store = Store(args.database_url)  # its settings (DICEPTION_LEASE_SECONDS, DICEPTION_MAX_ATTEMPTS, ...) apply
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
