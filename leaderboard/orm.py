"""The leaderboard's tables as a typed SQLAlchemy 2.0 ORM.

No ORM object leaves ``leaderboard.store``; everything else sees DataFrames (``leaderboard.schema``). Timestamps are
timezone-aware UTC in Python on every backend (SQLite keeps them as naive UTC text; see ``UTCDateTime``). The schema
is created by the Alembic migrations in ``leaderboard/migrations``, never by ``metadata.create_all``; a test checks
that the migrations and these classes agree.
"""

from __future__ import annotations

import enum
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from diception_spec.benchmarks import Tier
from diception_spec.models import ModelType, Provenance

__all__ = ["ModelType", "Provenance", "Tier"]  # re-exported: the store's column enums come from the spec


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out; naive datetimes are refused rather than guessed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware UTC datetime")
        value = value.astimezone(timezone.utc)
        # SQLite stores text; naive UTC text keeps string comparison (lease expiry) correct.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class SubmissionKind(str, enum.Enum):
    ADAPTER = "adapter"
    PREDICTIONS = "predictions"


class SubmissionStatus(str, enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    FINISHED = "finished"
    FAILED = "failed"


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as the values ("self-submitted"), as VARCHAR with a CHECK, so SQLite and PostgreSQL agree and adding a
    # member needs no ALTER TYPE.
    return Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        validate_strings=True,
        values_callable=lambda members: [m.value for m in members],
    )


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[str]: JSON()}


class Model(Base):
    """One model as it appears on the board: a name plus a variant (size, settings or adapter name)."""

    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("name", "variant"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    variant: Mapped[str] = mapped_column(String(300), default="")
    family: Mapped[str] = mapped_column(String(200), default="")
    model_type: Mapped[ModelType] = mapped_column(_enum(ModelType, "model_type"))
    params_millions: Mapped[float | None] = mapped_column(Float)
    train_images: Mapped[float | None] = mapped_column(Float)
    train_annotations: Mapped[float | None] = mapped_column(Float)
    annotation_kind: Mapped[str] = mapped_column(String(200), default="")
    licence: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    results: Mapped[list[Result]] = relationship(back_populates="model")


class Benchmark(Base):
    """A (task, benchmark) pair, e.g. (depth, nyuv2) vs (normal, nyuv2)."""

    __tablename__ = "benchmarks"
    __table_args__ = (UniqueConstraint("task", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    task: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="")


class Submission(Base):
    """An adapter or a set of predictions waiting for, going through or done with scoring."""

    __tablename__ = "submissions"
    __table_args__ = (
        Index("ix_submissions_status_created", "status", "created_at"),
        Index("ix_submissions_submitter_created", "submitter", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    submitter: Mapped[str] = mapped_column(String(200))
    kind: Mapped[SubmissionKind] = mapped_column(_enum(SubmissionKind, "submission_kind"))
    name: Mapped[str] = mapped_column(String(200))
    task: Mapped[str] = mapped_column(String(64))
    benchmarks: Mapped[list[str]] = mapped_column(default=list)
    content_hash: Mapped[str] = mapped_column(String(128), unique=True)
    storage_path: Mapped[str | None] = mapped_column(Text)
    hub_repo: Mapped[str | None] = mapped_column(String(300))
    hub_revision: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    licence: Mapped[str] = mapped_column(Text, default="")
    training_data: Mapped[str] = mapped_column(Text, default="")
    trained_on_benchmarks: Mapped[list[str]] = mapped_column(default=list)
    # "metadata" is reserved on declarative classes; the column keeps the natural name.
    extra: Mapped[dict[str, Any]] = mapped_column("metadata", default=dict)
    tier: Mapped[Tier] = mapped_column(_enum(Tier, "tier"))
    status: Mapped[SubmissionStatus] = mapped_column(
        _enum(SubmissionStatus, "submission_status"), default=SubmissionStatus.PENDING
    )
    failure_reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker_id: Mapped[str | None] = mapped_column(String(200))
    lease_expires_at: Mapped[datetime | None] = mapped_column()
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()

    runs: Mapped[list[EvaluationRun]] = relationship(
        back_populates="submission", cascade="all, delete-orphan", passive_deletes=True
    )
    results: Mapped[list[Result]] = relationship(
        back_populates="submission", cascade="all, delete-orphan", passive_deletes=True
    )


class EvaluationRun(Base):
    """One evaluation run: where and how it ran, and the rest of the evaluation module's JSON (failures, samples)."""

    __tablename__ = "evaluation_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), index=True
    )
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    provenance: Mapped[Provenance] = mapped_column(_enum(Provenance, "run_provenance"))
    format_version: Mapped[int] = mapped_column(Integer, default=1)
    model_revision: Mapped[str] = mapped_column(String(200), default="")
    hardware: Mapped[str | None] = mapped_column(String(200))
    host: Mapped[str | None] = mapped_column(String(200))
    worker_id: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime | None] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    packages: Mapped[dict[str, Any]] = mapped_column(default=dict)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Since migration 0002 (None for runs recorded before): what ran it, for the row's reproduce command.
    model_kind: Mapped[str | None] = mapped_column(String(32))  # diception | sam | depth-anything | files
    code_version: Mapped[str | None] = mapped_column(String(64))  # "src-<16 hex>" (evaluation.code_version)
    git_commit: Mapped[str | None] = mapped_column(String(64))  # "<sha>[-dirty]", None outside a checkout

    submission: Mapped[Submission | None] = relationship(back_populates="runs")
    model: Mapped[Model] = relationship()
    results: Mapped[list[Result]] = relationship(back_populates="run")


class Result(Base):
    """One score: a model entry on a (task, benchmark) under one metric and protocol."""

    __tablename__ = "results"
    __table_args__ = (UniqueConstraint("entry_id", "benchmark_id", "metric", "protocol"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    entry_id: Mapped[str] = mapped_column(String(300), index=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("models.id"), index=True)
    benchmark_id: Mapped[int] = mapped_column(ForeignKey("benchmarks.id"), index=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("evaluation_runs.id", ondelete="CASCADE"), index=True)
    submission_id: Mapped[int | None] = mapped_column(
        ForeignKey("submissions.id", ondelete="CASCADE"), index=True
    )
    metric: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    unit: Mapped[str] = mapped_column(String(32))
    higher_is_better: Mapped[bool] = mapped_column(Boolean)
    protocol: Mapped[str] = mapped_column(String(64))
    tier: Mapped[Tier | None] = mapped_column(_enum(Tier, "result_tier"))
    steps: Mapped[float | None] = mapped_column(Float)
    guidance: Mapped[float | None] = mapped_column(Float)
    ci_low: Mapped[float | None] = mapped_column(Float)
    ci_high: Mapped[float | None] = mapped_column(Float)
    n: Mapped[int | None] = mapped_column(Integer)
    provenance: Mapped[Provenance] = mapped_column(_enum(Provenance, "provenance"))
    source: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    model: Mapped[Model] = relationship(back_populates="results")
    benchmark: Mapped[Benchmark] = relationship()
    run: Mapped[EvaluationRun | None] = relationship(back_populates="results")
    submission: Mapped[Submission | None] = relationship(back_populates="results")


class RunSamples(Base):
    """The per-item metric values of one dataset of one run, column-wise: ``sample_ids[i]`` / ``mask_ids[i]`` scored
    ``metrics[metric][i]`` (the values the run's bootstrap resampled). Deleted with the run."""

    __tablename__ = "run_samples"
    __table_args__ = (UniqueConstraint("run_id", "task", "benchmark"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("evaluation_runs.id", ondelete="CASCADE"))
    task: Mapped[str] = mapped_column(String(64))
    benchmark: Mapped[str] = mapped_column(String(200))  # the dataset (a member of an aggregate, or a user split)
    n: Mapped[int] = mapped_column(Integer)
    sample_ids: Mapped[list[str]] = mapped_column()
    mask_ids: Mapped[list[str]] = mapped_column()
    metrics: Mapped[dict[str, Any]] = mapped_column()  # metric id -> [value | None, ...] (n values)


class RunThumbnail(Base):
    """One of a run's worst or best items, drawn small: input with its prompt points, ground truth and prediction
    (``diception_spec.results``' thumbnail bounds). Deleted with the run, and once no board row shows the run."""

    __tablename__ = "run_thumbnails"
    __table_args__ = (UniqueConstraint("run_id", "task", "benchmark", "rank", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("evaluation_runs.id", ondelete="CASCADE"))
    task: Mapped[str] = mapped_column(String(64))
    benchmark: Mapped[str] = mapped_column(String(200))
    sample_id: Mapped[str] = mapped_column(String(300))
    mask_id: Mapped[str] = mapped_column(String(100), default="")
    metric: Mapped[str] = mapped_column(String(64))
    value: Mapped[float] = mapped_column(Float)
    rank: Mapped[str] = mapped_column(String(8))  # "worst" | "best"
    position: Mapped[int] = mapped_column(Integer)  # 0 = the worst (best) item
    media_type: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    input_image: Mapped[bytes] = mapped_column(LargeBinary)
    truth_image: Mapped[bytes] = mapped_column(LargeBinary)
    prediction_image: Mapped[bytes] = mapped_column(LargeBinary)
    note: Mapped[str] = mapped_column(Text, default="")


class StoreMeta(Base):
    """Small key/value facts about the store itself, e.g. the hash of the seed data it holds."""

    __tablename__ = "store_meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
