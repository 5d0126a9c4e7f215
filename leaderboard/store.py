"""The leaderboard store: results, models, submissions and the scoring queue behind one small API.

Everything that leaves this module is plain data (DataFrames with the columns of ``leaderboard.schema``, dicts,
ints); ORM objects stay inside. Each public method is one transaction. On SQLite every write transaction starts with
``BEGIN IMMEDIATE`` (``leaderboard.db``), so read-modify-write sequences (claiming a job, checking a quota) are
serialised across processes; on PostgreSQL the queue uses ``SELECT ... FOR UPDATE SKIP LOCKED`` and the quota an
advisory transaction lock per submitter.

Queue states: pending -> running (a worker holds a lease, renewed while it scores) -> finished | failed. A running
submission whose lease expired is claimed again until ``max_attempts`` claims were made; then it fails with the
reason. Only the worker holding the lease can finish or fail a submission, so nothing is scored twice.

A worker, in outline::

    store, worker_id = Store(), new_worker_id()
    while True:
        job = store.claim_next(worker_id)  # a ClaimedJob, leased for settings.lease_seconds
        if job is None:
            time.sleep(10)
            continue
        try:
            result = score(job)  # calls store.renew_lease(job.submission_id, worker_id) every job.lease_seconds / 3
            store.finish_submission(job.submission_id, worker_id, result)
        except LeaseLost:
            pass  # someone else owns it now; drop the work
        except Refused as exc:  # the submission's fault: tell the submitter, no retry
            store.fail_submission(job.submission_id, worker_id, str(exc))
        except Exception:  # the host's (a bug, out of memory, a lost GPU): retried while attempts remain
            store.fail_submission(job.submission_id, worker_id, "the scoring host failed", retry=True)

Every failure reason passes through ``diception_spec.errors.public_text`` before it is stored: the submitter sees it.
Results of untrained weights (``model.untrained`` in the result JSON: the tiny preset) are refused
(:class:`UntrainedResult`) unless every score is on an unranked benchmark (the ``synthetic`` smoke benchmark).
Deleting a submission removes its stored files (under ``settings.submissions_dir``) too.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import os
import socket
import uuid
from collections.abc import Iterable, Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Integer, Select, String, and_, delete, func, or_, select, text, type_coerce, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from diception_spec.benchmarks import is_ranked_benchmark
from diception_spec.errors import Refused, public_text
from diception_spec.results import FORMAT_VERSION as RESULT_FORMAT_VERSION
from diception_spec.results import validate_result
from leaderboard import run_data, storage
from leaderboard.db import READ_ONLY, create_store_engine, normalise_url, schema_lock, upgrade
from leaderboard.orm import (
    Benchmark,
    EvaluationRun,
    Model,
    ModelType,
    Provenance,
    Result,
    StoreMeta,
    Submission,
    SubmissionKind,
    SubmissionStatus,
    Tier,
    utcnow,
)
from leaderboard.repository import (
    BOARD_UPDATED_KEY,
    entry_id_for,
    get_or_create_benchmark,
    get_or_create_model,
    touch_board,
)
from leaderboard.schema import RESULT_COLUMNS, SUBMISSION_COLUMNS
from leaderboard.seed import seed_reported
from leaderboard.settings import Settings, load_settings

logger = logging.getLogger(__name__)

MODEL_COLUMNS: tuple[str, ...] = (
    "model_id",  # int
    "model",  # str, e.g. "SAM"
    "variant",  # str, "" when the row describes the model family as a whole
    "family",  # str
    "model_type",  # str, "generalist" | "specialist"
    "params_millions",  # float | None
    "train_images",  # float | None
    "train_annotations",  # float | None
    "annotation_kind",  # str, what train_images / train_annotations count ("masks", "samples", ...)
    "licence",  # str
    "url",  # str
    "note",  # str
    "source",  # str, citation of the numbers above
)
_QUOTA_WINDOW = timedelta(hours=24)


class SubmissionRefused(Refused):
    """A submission was not accepted; the message is meant for the submitter."""


class QuotaExceeded(SubmissionRefused):
    """The submitter reached the daily quota."""


class DuplicateSubmission(SubmissionRefused):
    """The same content (by hash) was submitted before."""

    def __init__(self, message: str, existing_id: int) -> None:
        super().__init__(message)
        self.existing_id = existing_id


class UntrainedResult(ValueError):
    """A result of untrained (random) weights on a ranked benchmark: never stored as measured. The host's fault
    (a worker or a run started with the tiny preset), not the submitter's."""


@dataclass(frozen=True)
class ClaimedJob:
    """A submission a worker holds a lease on (``Store.claim_next``); everything scoring it needs."""

    submission_id: int
    kind: str  # "adapter" | "predictions"
    name: str
    submitter: str
    task: str
    benchmarks: tuple[str, ...]
    tier: str
    content_hash: str
    storage_path: str | None
    hub_repo: str | None
    hub_revision: str | None
    attempts: int  # claims so far, this one included
    max_attempts: int
    worker_id: str
    lease_seconds: float  # the lease granted; renew well before it runs out
    started_at: datetime
    lease_expires_at: datetime
    metadata: Mapping[str, Any] = field(default_factory=dict)  # what validation recorded (predictor options, ...)


FAILURE_EXHAUSTED = (
    "scoring stopped without finishing {attempts} times (the scoring host crashed or timed out, not a problem with "
    "the submission); giving up"
)


class LeaseLost(RuntimeError):
    """A worker tried to finish or fail a submission it no longer holds (lease taken over, re-run or deleted)."""


class AdminDisabled(PermissionError):
    """Admin actions were requested but no admin token is configured."""


def new_worker_id() -> str:
    """A worker id unique to this process (host, pid and a random suffix), as ``claim_next`` needs."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


# --- validation of the evaluation module's result dict ----------------------------------------------------------


def _json_safe(value: Any) -> Any:
    """Plain JSON: numpy scalars unwrapped, NaN/Inf -> None (PostgreSQL's JSON refuses NaN), unknown types -> str."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item"):  # numpy scalar
        return _json_safe(value.item())
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _optional_float(value: Any, where: str) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where} must be a number or None, got {value!r}") from None
    if math.isnan(number):
        return None
    if not math.isfinite(number):
        raise ValueError(f"{where} must be finite, got {value!r}")
    return number


def _parse_time(value: Any, where: str) -> datetime | None:
    if value in (None, ""):
        return None
    if isinstance(value, datetime):
        parsed = value
    else:
        try:
            parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{where} must be an ISO 8601 time, got {value!r}") from None
    return parsed.replace(tzinfo=timezone.utc) if parsed.tzinfo is None else parsed.astimezone(timezone.utc)


def _require_str(mapping: Mapping[str, Any], key: str, where: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{where}[{key!r}] must be a non-empty string, got {value!r}")
    return value.strip()


def parse_result(result: Mapping[str, Any], *, default_tier: str = "standard") -> dict[str, Any]:
    """Check a result dict against ``diception_spec.results`` (the one schema), then normalise it for the tables;
    ValueError names the field."""
    validate_result(result)
    model = result.get("model")
    if not isinstance(model, Mapping):
        raise ValueError("result['model'] must be a dict with 'name' and 'variant'")
    model_type = str(model.get("model_type") or "generalist")
    if model_type not in {m.value for m in ModelType}:
        raise ValueError(f"result['model']['model_type'] must be generalist or specialist, got {model_type!r}")
    settings = result.get("settings") or {}
    run = result.get("run") or {}
    if not isinstance(settings, Mapping) or not isinstance(run, Mapping):
        raise ValueError("result['settings'] and result['run'] must be dicts")
    run_tier = str(settings.get("tier") or default_tier)
    scores = result.get("scores")
    if not isinstance(scores, Sequence) or isinstance(scores, (str, bytes)) or not scores:
        raise ValueError("result['scores'] must be a non-empty list of score dicts")
    parsed_scores = []
    for i, score in enumerate(scores):
        where = f"result['scores'][{i}]"
        if not isinstance(score, Mapping):
            raise ValueError(f"{where} must be a dict, got {type(score).__name__}")
        value = _optional_float(score.get("value"), f"{where}['value']")
        if value is None:
            raise ValueError(f"{where}['value'] must be a finite number, got {score.get('value')!r}")
        higher = score.get("higher_is_better")
        if not isinstance(higher, bool):
            raise ValueError(f"{where}['higher_is_better'] must be True or False, got {higher!r}")
        tier = str(score.get("tier") or run_tier)
        if tier not in {t.value for t in Tier}:
            raise ValueError(f"{where}['tier'] must be one of quick, standard, full, got {tier!r}")
        n = score.get("n")
        parsed_scores.append(
            {
                "task": _require_str(score, "task", where),
                "benchmark": _require_str(score, "benchmark", where),
                "metric": _require_str(score, "metric", where),
                "value": value,
                "unit": _require_str(score, "unit", where),
                "higher_is_better": higher,
                "protocol": _require_str(score, "protocol", where),
                "tier": tier,
                "ci_low": _optional_float(score.get("ci_low"), f"{where}['ci_low']"),
                "ci_high": _optional_float(score.get("ci_high"), f"{where}['ci_high']"),
                "n": None if n is None else int(n),
                "note": str(score.get("note") or ""),
            }
        )
    if model.get("untrained"):
        ranked = sorted({s["benchmark"] for s in parsed_scores if is_ranked_benchmark(s["benchmark"])})
        if ranked:
            raise UntrainedResult(
                f"result['model']['untrained']: scores of untrained (random) weights are never stored for ranked "
                f"benchmarks ({', '.join(ranked[:5])}); score real weights, or use the unranked smoke benchmark"
            )
    details = {k: v for k, v in result.items()
               if k not in {"scores", "model", "settings", "run", "format_version", "thumbnails"}}
    # Per-item metric values live in run_samples (leaderboard.run_data); the details keep the raw values only.
    details["samples"] = [{k: v for k, v in s.items() if k != "metrics"} if isinstance(s, Mapping) else s
                          for s in details.get("samples") or []]
    return {
        "model_name": _require_str(model, "name", "result['model']"),
        "variant": str(model.get("variant") or ""),
        "model_type": model_type,
        "revision": str(model.get("revision") or ""),
        "steps": _optional_float(settings.get("steps"), "result['settings']['steps']"),
        "guidance": _optional_float(settings.get("guidance"), "result['settings']['guidance']"),
        "settings": _json_safe(dict(settings)),
        "started_at": _parse_time(run.get("started_at"), "result['run']['started_at']"),
        "finished_at": _parse_time(run.get("finished_at"), "result['run']['finished_at']"),
        "hardware": str(run["hardware"]) if run.get("hardware") else None,
        "host": str(run["host"]) if run.get("host") else None,
        "packages": _json_safe(dict(run.get("packages") or {})),
        "details": _json_safe({**details, "run": {k: v for k, v in run.items() if k != "packages"}}),
        "scores": parsed_scores,
        # What ran it and what it saw item by item (leaderboard.run_data): the row's command, samples and gallery.
        "model_kind": str(model.get("kind") or "") or None,
        "code_version": str(run["code_version"]) if run.get("code_version") else None,
        "git_commit": str(run["git_commit"]) if run.get("git_commit") else None,
        "samples": result.get("samples") or [],
        "thumbnails": result.get("thumbnails"),
    }


# --- the store ----------------------------------------------------------------------------------------------------


def _value(member: Any) -> Any:
    return member.value if hasattr(member, "value") else member


def _timestamps(frame: pd.DataFrame, columns: Iterable[str]) -> None:
    for column in columns:
        frame[column] = pd.to_datetime(frame[column], utc=True)


class Store:
    """The leaderboard's database: created, migrated and seeded on construction; see the module docstring."""

    def __init__(self, url: str | None = None, *, seed: bool = True, settings: Settings | None = None) -> None:
        self.settings = settings if settings is not None else load_settings()
        self.url = normalise_url(url or self.settings.url)
        self.engine = create_store_engine(self.url, busy_timeout_s=self.settings.sqlite_busy_timeout_s)
        self.is_postgres = self.engine.dialect.name == "postgresql"
        self._session = sessionmaker(self.engine, expire_on_commit=False)
        self._read = sessionmaker(self.engine.execution_options(**READ_ONLY), expire_on_commit=False)
        # One process at a time creates / migrates / seeds; the others wait and then find nothing to do.
        with schema_lock(self.engine):
            upgrade(self.engine)
            if seed:
                with self._session.begin() as session:
                    seed_reported(session)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    # --- views -----------------------------------------------------------------------------------------------------

    def results_frame(self, *, include_hidden: bool = False) -> pd.DataFrame:
        """One row per score, columns ``schema.RESULT_COLUMNS``; hidden submissions' scores only on request.

        Built with Core and vectorised conversions (enums and timestamps arrive as plain values), so 40k rows take a
        fraction of a second.
        """
        as_text = {"model_type", "tier", "provenance"}
        columns = {
            "result_id": Result.id,
            "entry_id": Result.entry_id,
            "model": Model.name,
            "variant": Model.variant,
            "model_type": Model.model_type,
            "task": Benchmark.task,
            "benchmark": Benchmark.name,
            "metric": Result.metric,
            "value": Result.value,
            "unit": Result.unit,
            "higher_is_better": type_coerce(Result.higher_is_better, Integer),
            "protocol": Result.protocol,
            "tier": Result.tier,
            "steps": Result.steps,
            "guidance": Result.guidance,
            "ci_low": Result.ci_low,
            "ci_high": Result.ci_high,
            "provenance": Result.provenance,
            "source": Result.source,
            "note": Result.note,
            "run_id": Result.run_id,
            "hardware": EvaluationRun.hardware,
            "submission_id": Result.submission_id,
            "recorded_at": type_coerce(Result.recorded_at, String),  # SQLite: naive UTC text; PostgreSQL: aware
            "params_millions": Model.params_millions,
            "train_images": Model.train_images,
            "train_annotations": Model.train_annotations,
        }
        selected = [
            (type_coerce(col, String) if name in as_text else col).label(name) for name, col in columns.items()
        ]
        stmt: Select[Any] = (
            select(*selected)
            .join(Model, Result.model_id == Model.id)
            .join(Benchmark, Result.benchmark_id == Benchmark.id)
            .outerjoin(EvaluationRun, Result.run_id == EvaluationRun.id)
            .outerjoin(Submission, Result.submission_id == Submission.id)
            .order_by(Result.id)
        )
        if not include_hidden:
            stmt = stmt.where(or_(Submission.id.is_(None), Submission.hidden.is_(False)))
        with self._read() as session:
            conn = session.connection()
            rows = conn.execute(stmt).all()
            trained_on = dict(conn.execute(select(Submission.id, Submission.trained_on_benchmarks)).all())
        frame = pd.DataFrame.from_records(rows, columns=list(columns))
        for column in ("value", "steps", "guidance", "ci_low", "ci_high", "params_millions", "train_images",
                       "train_annotations"):
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        for column in ("result_id",):
            frame[column] = frame[column].astype("int64")
        for column in ("run_id", "submission_id"):
            frame[column] = pd.array(frame[column].tolist(), dtype="Int64")
        frame["higher_is_better"] = frame["higher_is_better"].astype(bool)
        frame["tier"] = frame["tier"].astype(object).where(frame["tier"].notna(), None)
        frame["hardware"] = frame["hardware"].astype(object).where(frame["hardware"].notna(), None)
        frame["trained_on_benchmarks"] = [
            ",".join(trained_on.get(sid) or []) if sid is not None and sid is not pd.NA else ""
            for sid in frame["submission_id"].tolist()
        ]
        frame["recorded_at"] = pd.to_datetime(frame["recorded_at"], utc=True, format="ISO8601")
        return frame[list(RESULT_COLUMNS)]

    def models_frame(self) -> pd.DataFrame:
        """One row per (model, variant), columns ``MODEL_COLUMNS``."""
        stmt = select(
            Model.id, Model.name, Model.variant, Model.family, Model.model_type, Model.params_millions,
            Model.train_images, Model.train_annotations, Model.annotation_kind, Model.licence, Model.url, Model.note,
            Model.source,
        ).order_by(Model.name, Model.variant)
        with self._read() as session:
            rows = [list(row) for row in session.execute(stmt)]
        for row in rows:
            row[4] = _value(row[4])
        frame = pd.DataFrame.from_records(rows, columns=list(MODEL_COLUMNS))
        for column in ("params_millions", "train_images", "train_annotations"):
            frame[column] = pd.to_numeric(frame[column], errors="coerce").astype("float64")
        return frame

    def last_updated(self) -> datetime | None:
        """When what the board shows last changed, as an aware UTC datetime; None for a store without scores.

        Changes with every write that affects ``results_frame`` or ``models_frame`` (seeding, scores, admin hide,
        re-run and delete), so callers can cache the frames and reload when this value differs.
        """
        with self._read() as session:
            touched = session.scalar(select(StoreMeta.updated_at).where(StoreMeta.key == BOARD_UPDATED_KEY))
            if touched is not None:
                return touched
            return session.scalar(select(Result.recorded_at).order_by(Result.recorded_at.desc()).limit(1))

    # --- submissions -------------------------------------------------------------------------------------------

    def create_submission(
        self,
        *,
        submitter: str,
        kind: str,
        name: str,
        task: str,
        benchmarks: list[str],
        content_hash: str,
        storage_path: str | None = None,
        hub_repo: str | None = None,
        hub_revision: str | None = None,
        description: str = "",
        licence: str = "",
        training_data: str = "",
        trained_on_benchmarks: Sequence[str] = (),
        metadata: dict[str, Any] | None = None,
        tier: str = "standard",
    ) -> int:
        """Queue a validated submission; returns its id.

        Raises ``DuplicateSubmission`` when the same content hash was submitted before, ``QuotaExceeded`` when the
        submitter made ``settings.daily_quota`` submissions in the last 24 hours, ``ValueError`` for bad arguments.
        """
        submitter = (submitter or "").strip()
        if not submitter:
            raise ValueError("submitter must be a non-empty name (log in, or configure a submitter name)")
        if kind not in {k.value for k in SubmissionKind}:
            raise ValueError(f"kind must be 'adapter' or 'predictions', got {kind!r}")
        if not (name or "").strip():
            raise ValueError("name must be a non-empty string")
        if not (task or "").strip():
            raise ValueError("task must be a non-empty string")
        if isinstance(benchmarks, str) or not benchmarks or not all(isinstance(b, str) and b for b in benchmarks):
            raise ValueError(f"benchmarks must be a non-empty list of benchmark ids, got {benchmarks!r}")
        if not (content_hash or "").strip():
            raise ValueError("content_hash must be a non-empty string")
        if tier not in {t.value for t in Tier}:
            raise ValueError(f"tier must be one of quick, standard, full, got {tier!r}")
        if isinstance(trained_on_benchmarks, str):
            raise ValueError("trained_on_benchmarks must be a list of benchmark ids, not a string")

        now = utcnow()
        try:
            with self._session.begin() as session:
                if self.is_postgres:
                    key = int.from_bytes(hashlib.sha256(submitter.encode()).digest()[:8], "big") >> 1
                    session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
                self._refuse_duplicate(session, content_hash)
                self._check_quota(session, submitter, now)
                submission = Submission(
                    submitter=submitter,
                    kind=SubmissionKind(kind),
                    name=name.strip(),
                    task=task.strip(),
                    benchmarks=list(benchmarks),
                    content_hash=content_hash.strip(),
                    storage_path=storage_path,
                    hub_repo=hub_repo,
                    hub_revision=hub_revision,
                    description=description or "",
                    licence=licence or "",
                    training_data=training_data or "",
                    trained_on_benchmarks=list(trained_on_benchmarks),
                    extra=_json_safe(dict(metadata or {})),
                    tier=Tier(tier),
                    status=SubmissionStatus.PENDING,
                    attempts=0,
                    hidden=False,
                    created_at=now,
                )
                session.add(submission)
                session.flush()
                submission_id = submission.id
        except IntegrityError:
            # Lost a race on the unique content hash (PostgreSQL); report it like any duplicate.
            with self._session.begin() as session:
                self._refuse_duplicate(session, content_hash)
            raise
        logger.info("submission %d queued by %s (%s, %s)", submission_id, submitter, kind, name)
        return submission_id

    @staticmethod
    def _refuse_duplicate(session: Session, content_hash: str) -> None:
        existing = session.execute(
            select(Submission.id, Submission.status, Submission.name).where(
                Submission.content_hash == content_hash.strip()
            )
        ).first()
        if existing is not None:
            raise DuplicateSubmission(
                f"identical content was already submitted as submission #{existing.id} ({existing.name!r}, "
                f"{_value(existing.status)}); nothing new to score",
                existing_id=existing.id,
            )

    def _check_quota(self, session: Session, submitter: str, now: datetime) -> None:
        quota = self.settings.daily_quota
        window = session.execute(
            select(func.count(Submission.id), func.min(Submission.created_at)).where(
                Submission.submitter == submitter, Submission.created_at > now - _QUOTA_WINDOW
            )
        ).one()
        count, oldest = window
        if count < quota:
            return
        if quota == 0:
            raise QuotaExceeded("submissions are closed (the daily quota is 0)")
        next_slot = (oldest or now) + _QUOTA_WINDOW
        raise QuotaExceeded(
            f"daily quota reached: {submitter} made {count} submissions in the last 24 hours (limit {quota}); "
            f"the next one is possible after {next_slot:%Y-%m-%d %H:%M} UTC"
        )

    def submissions_frame(self, submitter: str | None = None, *, include_hidden: bool = False) -> pd.DataFrame:
        """Submissions, newest first, columns ``schema.SUBMISSION_COLUMNS``, with an estimated wait when pending.

        The estimate is (position in the queue) x (mean duration of the last 50 finished jobs), or
        ``settings.default_job_seconds`` per job before any job has finished.
        """
        with self._read() as session:
            stmt = select(Submission).order_by(Submission.created_at.desc(), Submission.id.desc())
            if submitter is not None:
                stmt = stmt.where(Submission.submitter == submitter)
            if not include_hidden:
                stmt = stmt.where(Submission.hidden.is_(False))
            submissions = session.scalars(stmt).all()
            queue = session.execute(
                select(Submission.id)
                .where(Submission.status == SubmissionStatus.PENDING, Submission.hidden.is_(False))
                .order_by(Submission.created_at, Submission.id)
            ).scalars().all()
            durations = session.execute(
                select(Submission.started_at, Submission.finished_at)
                .where(Submission.status == SubmissionStatus.FINISHED, Submission.started_at.is_not(None))
                .order_by(Submission.finished_at.desc())
                .limit(50)
            ).all()
        seconds = [(f - s).total_seconds() for s, f in durations if f is not None and f >= s]
        per_job = sum(seconds) / len(seconds) if seconds else self.settings.default_job_seconds
        position = {sid: i + 1 for i, sid in enumerate(queue)}
        rows = []
        for sub in submissions:
            wait = position[sub.id] * per_job if sub.id in position else None
            rows.append(
                [sub.id, sub.name, sub.submitter, _value(sub.kind), sub.task, ",".join(sub.benchmarks or []),
                 _value(sub.status), sub.failure_reason, sub.attempts, sub.created_at, sub.started_at,
                 sub.finished_at, wait, bool(sub.hidden), sub.content_hash]
            )
        frame = pd.DataFrame.from_records(rows, columns=list(SUBMISSION_COLUMNS))
        _timestamps(frame, ["created_at", "started_at", "finished_at"])
        frame["estimated_wait_s"] = pd.to_numeric(frame["estimated_wait_s"], errors="coerce").astype("float64")
        frame["attempts"] = frame["attempts"].astype("int64")
        frame["hidden"] = frame["hidden"].astype(bool)
        return frame

    def _submission_dict(self, session: Session, sub: Submission) -> dict[str, Any]:
        run_ids = session.scalars(
            select(EvaluationRun.id).where(EvaluationRun.submission_id == sub.id).order_by(EvaluationRun.id)
        ).all()
        return {
            "submission_id": sub.id,
            "submitter": sub.submitter,
            "kind": _value(sub.kind),
            "name": sub.name,
            "task": sub.task,
            "benchmarks": list(sub.benchmarks or []),
            "content_hash": sub.content_hash,
            "storage_path": sub.storage_path,
            "hub_repo": sub.hub_repo,
            "hub_revision": sub.hub_revision,
            "description": sub.description,
            "licence": sub.licence,
            "training_data": sub.training_data,
            "trained_on_benchmarks": list(sub.trained_on_benchmarks or []),
            "metadata": dict(sub.extra or {}),
            "tier": _value(sub.tier),
            "status": _value(sub.status),
            "failure_reason": sub.failure_reason,
            "attempts": sub.attempts,
            "max_attempts": self.settings.max_attempts,
            "worker_id": sub.worker_id,
            "lease_expires_at": sub.lease_expires_at,
            "hidden": bool(sub.hidden),
            "created_at": sub.created_at,
            "started_at": sub.started_at,
            "finished_at": sub.finished_at,
            "run_ids": list(run_ids),
            "entry_id": f"sub-{sub.id}",
        }

    def get_submission(self, submission_id: int) -> dict[str, Any]:
        """Everything about one submission as a dict; KeyError if there is none with that id."""
        with self._read() as session:
            sub = session.get(Submission, submission_id)
            if sub is None:
                raise KeyError(f"no submission with id {submission_id}")
            return self._submission_dict(session, sub)

    def get_run(self, run_id: int) -> dict[str, Any]:
        """One evaluation run (hardware, settings, packages, the rest of the result JSON); KeyError if absent."""
        with self._read() as session:
            run = session.get(EvaluationRun, run_id)
            if run is None:
                raise KeyError(f"no evaluation run with id {run_id}")
            return {
                "run_id": run.id,
                "submission_id": run.submission_id,
                "model": run.model.name,
                "variant": run.model.variant,
                "provenance": _value(run.provenance),
                "model_revision": run.model_revision,
                "hardware": run.hardware,
                "host": run.host,
                "worker_id": run.worker_id,
                "started_at": run.started_at,
                "finished_at": run.finished_at,
                "settings": dict(run.settings or {}),
                "packages": dict(run.packages or {}),
                "details": dict(run.details or {}),
                "created_at": run.created_at,
                "model_kind": run.model_kind,
                "code_version": run.code_version,
                "git_commit": run.git_commit,
            }

    # --- queue -------------------------------------------------------------------------------------------------

    def claim_next(self, worker_id: str, *, lease_seconds: float | None = None) -> ClaimedJob | None:
        """Atomically claim the oldest pending submission, or a running one whose lease expired; None if idle.

        The lease lasts ``lease_seconds`` (default ``settings.lease_seconds``: ``DICEPTION_LEASE_SECONDS``). The
        claim increments ``attempts``; a running submission whose lease expired after ``max_attempts`` claims is
        marked failed here instead of being claimed again.
        """
        if not worker_id:
            raise ValueError("worker_id must be a non-empty string unique to the worker process")
        seconds = float(self.settings.lease_seconds if lease_seconds is None else lease_seconds)
        lease = timedelta(seconds=seconds)
        max_attempts = self.settings.max_attempts
        now = utcnow()
        with self._session.begin() as session:
            exhausted = select(Submission.id).where(
                Submission.status == SubmissionStatus.RUNNING,
                Submission.lease_expires_at < now,
                Submission.attempts >= max_attempts,
            )
            if self.is_postgres:  # rows another claimer holds are skipped, so two claimers never wait on each other
                exhausted = exhausted.with_for_update(skip_locked=True)
            exhausted_ids = session.scalars(exhausted).all()
            if exhausted_ids:
                session.execute(
                    update(Submission)
                    .where(Submission.id.in_(exhausted_ids))
                    .values(
                        status=SubmissionStatus.FAILED,
                        failure_reason=FAILURE_EXHAUSTED.format(attempts=max_attempts),
                        finished_at=now,
                        worker_id=None,
                        lease_expires_at=None,
                    )
                    .execution_options(synchronize_session=False)
                )
                logger.warning("submissions %s failed: leases expired %d times", exhausted_ids, max_attempts)
            stmt = (
                select(Submission)
                .where(
                    Submission.hidden.is_(False),
                    or_(
                        Submission.status == SubmissionStatus.PENDING,
                        and_(Submission.status == SubmissionStatus.RUNNING, Submission.lease_expires_at < now),
                    ),
                )
                .order_by(Submission.created_at, Submission.id)
                .limit(1)
            )
            if self.is_postgres:
                stmt = stmt.with_for_update(skip_locked=True)
            sub = session.scalars(stmt).first()
            if sub is None:
                return None
            if sub.status == SubmissionStatus.RUNNING:
                logger.warning(
                    "submission %d: lease of worker %s expired; reclaimed by %s", sub.id, sub.worker_id, worker_id
                )
            sub.status = SubmissionStatus.RUNNING
            sub.worker_id = worker_id
            sub.attempts = sub.attempts + 1
            sub.started_at = now
            sub.finished_at = None
            sub.lease_expires_at = now + lease
            session.flush()
            return ClaimedJob(
                submission_id=sub.id, kind=_value(sub.kind), name=sub.name, submitter=sub.submitter, task=sub.task,
                benchmarks=tuple(sub.benchmarks or ()), tier=_value(sub.tier), content_hash=sub.content_hash,
                storage_path=sub.storage_path, hub_repo=sub.hub_repo, hub_revision=sub.hub_revision,
                attempts=sub.attempts, max_attempts=max_attempts, worker_id=worker_id, lease_seconds=seconds,
                started_at=now, lease_expires_at=now + lease, metadata=dict(sub.extra or {}),
            )  # fmt: skip

    def renew_lease(self, submission_id: int, worker_id: str, *, lease_seconds: float | None = None) -> bool:
        """Extend the lease; False if this worker no longer holds it (then it must stop and not write results)."""
        lease = timedelta(seconds=self.settings.lease_seconds if lease_seconds is None else lease_seconds)
        with self._session.begin() as session:
            result = session.execute(
                update(Submission)
                .where(
                    Submission.id == submission_id,
                    Submission.status == SubmissionStatus.RUNNING,
                    Submission.worker_id == worker_id,
                )
                .values(lease_expires_at=utcnow() + lease)
                .execution_options(synchronize_session=False)
            )
            return result.rowcount == 1

    def _held(self, session: Session, submission_id: int, worker_id: str) -> Submission:
        stmt = select(Submission).where(Submission.id == submission_id)
        if self.is_postgres:
            stmt = stmt.with_for_update()
        sub = session.scalars(stmt).first()
        if sub is None:
            raise LeaseLost(f"submission {submission_id} no longer exists (deleted by an admin?)")
        if sub.status != SubmissionStatus.RUNNING or sub.worker_id != worker_id:
            raise LeaseLost(
                f"worker {worker_id} no longer holds submission {submission_id} (status {_value(sub.status)}, "
                f"held by {sub.worker_id}); its results are discarded"
            )
        return sub

    def finish_submission(self, submission_id: int, worker_id: str, result: Mapping[str, Any]) -> int:
        """Write the run, its scores and the finished state in one transaction; returns the run id.

        Raises ``LeaseLost`` (and writes nothing) if the worker no longer holds the submission, ``ValueError`` if the
        result dict is malformed (the submission stays running; the worker should call ``fail_submission``).
        """
        parsed = parse_result(result, default_tier=self.settings.default_tier)
        now = utcnow()
        with self._session.begin() as session:
            sub = self._held(session, submission_id, worker_id)
            provenance = Provenance.SELF_SUBMITTED if sub.kind == SubmissionKind.PREDICTIONS else Provenance.MEASURED
            # A re-run replaces the earlier scores of this submission.
            session.execute(delete(Result).where(Result.submission_id == sub.id))
            run = self._write_run(session, parsed, provenance, sub, worker_id)
            sub.status = SubmissionStatus.FINISHED
            sub.finished_at = now
            sub.failure_reason = None
            sub.worker_id = None
            sub.lease_expires_at = None
            session.flush()
            run_id = run.id
        logger.info("submission %d finished by %s (run %d)", submission_id, worker_id, run_id)
        return run_id

    def fail_submission(self, submission_id: int, worker_id: str, reason: str, *, retry: bool = False) -> str:
        """Record a failure with a reason the submitter can act on (passed through ``public_text``: no server path,
        host name or traceback); with ``retry`` it goes back to pending while attempts remain. Returns the new
        status, ``"pending"`` or ``"failed"``. Raises ``LeaseLost`` if the worker no longer holds the submission."""
        reason = public_text(reason or "") or "unknown error"
        now = utcnow()
        with self._session.begin() as session:
            sub = self._held(session, submission_id, worker_id)
            sub.worker_id = None
            sub.lease_expires_at = None
            if retry and sub.attempts < self.settings.max_attempts:
                sub.status = SubmissionStatus.PENDING
                sub.failure_reason = f"attempt {sub.attempts} failed: {reason}; it will be retried"
            else:
                sub.status = SubmissionStatus.FAILED
                sub.finished_at = now
                sub.failure_reason = (
                    f"{reason} (gave up after {sub.attempts} attempts)" if retry else reason
                )
            status = _value(sub.status)
        logger.info("submission %d failed (%s, retry=%s, now %s): %s", submission_id, worker_id, retry, status, reason)
        return status

    # --- results -----------------------------------------------------------------------------------------------

    def record_evaluation(
        self, result: Mapping[str, Any], *, provenance: str = "measured", submission_id: int | None = None
    ) -> int:
        """Store an evaluation run and its scores (replacing earlier scores of the same entry); returns the run id.

        Without a submission the entry id derives from model, variant, provenance, protocol, steps, guidance and tier,
        so re-measuring the same configuration replaces its row instead of adding a second one.
        """
        if provenance not in {p.value for p in Provenance} or provenance == Provenance.REPORTED.value:
            raise ValueError(f"provenance must be 'measured' or 'self-submitted', got {provenance!r}")
        parsed = parse_result(result, default_tier=self.settings.default_tier)
        with self._session.begin() as session:
            sub = None
            if submission_id is not None:
                sub = session.get(Submission, submission_id)
                if sub is None:
                    raise KeyError(f"no submission with id {submission_id}")
            run = self._write_run(session, parsed, Provenance(provenance), sub, None)
            session.flush()
            return run.id

    def _write_run(
        self,
        session: Session,
        parsed: dict[str, Any],
        provenance: Provenance,
        sub: Submission | None,
        worker_id: str | None,
    ) -> EvaluationRun:
        model = get_or_create_model(session, parsed["model_name"], parsed["variant"], parsed["model_type"])
        run = EvaluationRun(
            submission_id=sub.id if sub is not None else None,
            model_id=model.id,
            provenance=provenance,
            format_version=RESULT_FORMAT_VERSION,
            model_revision=parsed["revision"],
            hardware=parsed["hardware"],
            host=parsed["host"],
            worker_id=worker_id,
            started_at=parsed["started_at"],
            finished_at=parsed["finished_at"],
            settings=parsed["settings"],
            packages=parsed["packages"],
            details=parsed["details"],
            model_kind=parsed["model_kind"],
            code_version=parsed["code_version"],
            git_commit=parsed["git_commit"],
        )
        session.add(run)
        session.flush()
        self._write_run_data(session, run, parsed, provenance)
        when = (parsed["finished_at"] or utcnow()).strftime("%Y-%m-%d")
        if provenance == Provenance.SELF_SUBMITTED:
            submitter = sub.submitter if sub is not None else "a submitter"
            source = f"predictions submitted by {submitter}, scored by run {run.id} on {when}"
        else:
            source = f"measured by run {run.id} on {parsed['hardware'] or 'unknown hardware'}, {when}"
        now = utcnow()
        for score in parsed["scores"]:
            benchmark = get_or_create_benchmark(session, score["task"], score["benchmark"])
            if sub is not None:
                entry_id = f"sub-{sub.id}"
            else:
                entry_id = entry_id_for(
                    parsed["model_name"], parsed["variant"], provenance.value, score["protocol"], parsed["steps"],
                    parsed["guidance"], score["tier"],
                )
            session.execute(
                delete(Result).where(
                    Result.entry_id == entry_id,
                    Result.benchmark_id == benchmark.id,
                    Result.metric == score["metric"],
                    Result.protocol == score["protocol"],
                )
            )
            session.add(
                Result(
                    entry_id=entry_id,
                    model_id=model.id,
                    benchmark_id=benchmark.id,
                    run_id=run.id,
                    submission_id=sub.id if sub is not None else None,
                    metric=score["metric"],
                    value=score["value"],
                    unit=score["unit"],
                    higher_is_better=score["higher_is_better"],
                    protocol=score["protocol"],
                    tier=Tier(score["tier"]),
                    steps=parsed["steps"],
                    guidance=parsed["guidance"],
                    ci_low=score["ci_low"],
                    ci_high=score["ci_high"],
                    n=score["n"],
                    provenance=provenance,
                    source=source,
                    note=score["note"],
                    recorded_at=now,
                )
            )
        run_data.prune_thumbnails(session, keep_run_id=run.id)  # runs this one replaced on the board
        touch_board(session, now)
        return run

    # --- admin -------------------------------------------------------------------------------------------------

    def _require_admin(self, admin_token: str) -> None:
        expected = self.settings.admin_token
        if not expected:
            raise AdminDisabled("admin actions are disabled: no DICEPTION_ADMIN_TOKEN is configured")
        given = admin_token if isinstance(admin_token, str) else ""
        if not hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8")):
            raise PermissionError("wrong admin token")

    def _admin_get(self, session: Session, submission_id: int) -> Submission:
        sub = session.get(Submission, submission_id)
        if sub is None:
            raise KeyError(f"no submission with id {submission_id}")
        return sub

    def admin_rerun(self, submission_id: int, admin_token: str) -> None:
        """Queue a submission again from scratch; its earlier scores leave the board (runs are kept for the record).
        A worker still scoring it loses its lease and cannot write."""
        self._require_admin(admin_token)
        with self._session.begin() as session:
            sub = self._admin_get(session, submission_id)
            session.execute(delete(Result).where(Result.submission_id == sub.id))
            sub.status = SubmissionStatus.PENDING
            sub.attempts = 0
            sub.failure_reason = None
            sub.worker_id = None
            sub.lease_expires_at = None
            sub.started_at = None
            sub.finished_at = None
            touch_board(session)
        logger.info("admin: submission %d queued for a re-run", submission_id)

    def admin_hide(self, submission_id: int, admin_token: str, hidden: bool = True) -> None:
        """Hide (or show again) a submission and its scores; hidden pending submissions are not scored."""
        self._require_admin(admin_token)
        with self._session.begin() as session:
            self._admin_get(session, submission_id).hidden = bool(hidden)
            touch_board(session)
        logger.info("admin: submission %d hidden=%s", submission_id, hidden)

    def admin_delete(self, submission_id: int, admin_token: str) -> None:
        """Delete a submission with its runs, its scores and its stored files (its folder under
        ``settings.submissions_dir``; a folder anywhere else is left alone and logged). A worker still scoring it
        loses its lease and cannot write. The files go under the content hash's lock, so an identical submission
        arriving meanwhile either is refused as a duplicate or finds no folder and stores its own."""
        self._require_admin(admin_token)
        with self._read() as session:
            sub = self._admin_get(session, submission_id)
            storage_path, content_hash = sub.storage_path, sub.content_hash
        root = self.settings.submissions_dir
        has_files = bool(storage_path) and storage.stored_folder(root, content_hash).resolve() == \
            Path(storage_path).resolve()
        with storage.content_lock(root, content_hash) if has_files else nullcontext():
            with self._session.begin() as session:
                session.delete(self._admin_get(session, submission_id))
                touch_board(session)
            removed = storage.remove_stored(root, storage_path) if has_files else False
        if storage_path and not has_files:
            logger.warning("admin: submission %d's files at %s are outside %s; left in place", submission_id,
                           storage_path, root)
        logger.info("admin: submission %d deleted (stored files %s)", submission_id,
                    "removed" if removed else "none")

    # --- per-sample data and provenance of runs (leaderboard.run_data, leaderboard.verify) ------------------------

    def _write_run_data(
        self, session: Session, run: EvaluationRun, parsed: dict[str, Any], provenance: Provenance
    ) -> None:
        """Per-item values always; thumbnails unless the run is self-submitted (no images of data we do not host:
        those rows show their per-sample scores only). A summary of the thumbnails goes into the run's details."""
        run_data.write_samples(session, run.id, parsed["samples"])
        thumbnails = None if provenance == Provenance.SELF_SUBMITTED else parsed["thumbnails"]
        summary = run_data.write_thumbnails(session, run.id, thumbnails)
        if summary is not None or parsed["thumbnails"]:
            note = None if summary is not None else "self-submitted: per-sample scores only, no images"
            run.details = {**(run.details or {}), "thumbnails": summary if summary is not None else {"note": note}}

    def run_samples_frame(
        self, run_ids: int | Sequence[int], *, task: str | None = None, benchmark: str | None = None
    ) -> pd.DataFrame:
        """Per-item metric values of the runs (one row per run, task, dataset, item and metric; columns
        ``run_data.SAMPLE_COLUMNS``), optionally of one task / dataset; empty for runs without per-sample data."""
        ids = [int(run_ids)] if isinstance(run_ids, int) else [int(r) for r in run_ids]
        with self._read() as session:
            return run_data.read_samples(session, ids, task=task, benchmark=benchmark)

    def run_thumbnails(
        self, run_id: int, *, task: str | None = None, benchmark: str | None = None
    ) -> list[dict[str, Any]]:
        """The run's worst / best items drawn small (dicts with ``run_data.THUMBNAIL_FIELDS``, images as bytes),
        ordered by task, dataset, rank (worst first) and position; [] when it has none."""
        with self._read() as session:
            return run_data.read_thumbnails(session, int(run_id), task=task, benchmark=benchmark)

    def thumbnails_frame(self) -> pd.DataFrame:
        """Per run with thumbnails: ``run_id``, ``items`` and ``bytes`` (what the store holds; see README bounds)."""
        with self._read() as session:
            return run_data.thumbnail_summary(session)

    def run_summaries(self, run_ids: Iterable[int] | None = None) -> dict[int, dict[str, Any]]:
        """What each run needs for its rows' reproduce command and provenance, without the per-sample details:
        run id -> dict with ``run_id``, ``submission_id``, ``provenance``, ``model``, ``variant``, ``model_kind``,
        ``model_revision``, ``code_version``, ``git_commit``, ``hardware``, ``host``, ``worker_id``, ``started_at``,
        ``finished_at``, ``settings`` and ``submission`` (``hub_repo``, ``hub_revision``, ``storage_path``,
        ``content_hash``, ``submitter``, ``kind``; None without one). ``run_ids`` None: every run."""
        stmt = (
            select(EvaluationRun.id, EvaluationRun.submission_id, EvaluationRun.provenance, Model.name, Model.variant,
                   EvaluationRun.model_kind, EvaluationRun.model_revision, EvaluationRun.code_version,
                   EvaluationRun.git_commit, EvaluationRun.hardware, EvaluationRun.host, EvaluationRun.worker_id,
                   EvaluationRun.started_at, EvaluationRun.finished_at, EvaluationRun.settings, Submission.hub_repo,
                   Submission.hub_revision, Submission.storage_path, Submission.content_hash, Submission.submitter,
                   Submission.kind)
            .join(Model, EvaluationRun.model_id == Model.id)
            .outerjoin(Submission, EvaluationRun.submission_id == Submission.id)
            .order_by(EvaluationRun.id)
        )
        if run_ids is not None:
            stmt = stmt.where(EvaluationRun.id.in_([int(r) for r in run_ids]))
        out: dict[int, dict[str, Any]] = {}
        with self._read() as session:
            for row in session.execute(stmt):
                submission = None if row.submission_id is None else {
                    "submission_id": row.submission_id, "hub_repo": row.hub_repo, "hub_revision": row.hub_revision,
                    "storage_path": row.storage_path, "content_hash": row.content_hash, "submitter": row.submitter,
                    "kind": _value(row.kind),
                }
                out[row.id] = {
                    "run_id": row.id, "submission_id": row.submission_id, "provenance": _value(row.provenance),
                    "model": row.name, "variant": row.variant, "model_kind": row.model_kind,
                    "model_revision": row.model_revision, "code_version": row.code_version,
                    "git_commit": row.git_commit, "hardware": row.hardware, "host": row.host,
                    "worker_id": row.worker_id, "started_at": row.started_at, "finished_at": row.finished_at,
                    "settings": dict(row.settings or {}), "submission": submission,
                }
        return out
