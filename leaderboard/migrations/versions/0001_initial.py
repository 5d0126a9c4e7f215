"""Initial schema: models, benchmarks, submissions, evaluation runs, results, store meta.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-28 01:34:39.534781
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc() -> sa.DateTime:
    # Timestamps are UTC; the ORM's UTCDateTime keeps SQLite's text naive-UTC and PostgreSQL's timestamptz aware.
    return sa.DateTime(timezone=True)


def _enum(*values: str, name: str) -> sa.Enum:
    # VARCHAR + CHECK on every backend (no native ENUM type), matching leaderboard.orm._enum.
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def upgrade() -> None:
    op.create_table(
        "benchmarks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_benchmarks")),
        sa.UniqueConstraint("task", "name", name=op.f("uq_benchmarks_task_name")),
    )
    op.create_table(
        "models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("variant", sa.String(length=300), nullable=False),
        sa.Column("family", sa.String(length=200), nullable=False),
        sa.Column("model_type", _enum("generalist", "specialist", name="model_type"), nullable=False),
        sa.Column("params_millions", sa.Float(), nullable=True),
        sa.Column("train_images", sa.Float(), nullable=True),
        sa.Column("train_annotations", sa.Float(), nullable=True),
        sa.Column("annotation_kind", sa.String(length=200), nullable=False),
        sa.Column("licence", sa.Text(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
        sa.UniqueConstraint("name", "variant", name=op.f("uq_models_name_variant")),
    )
    op.create_table(
        "store_meta",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_store_meta")),
    )
    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submitter", sa.String(length=200), nullable=False),
        sa.Column("kind", _enum("adapter", "predictions", name="submission_kind"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("task", sa.String(length=64), nullable=False),
        sa.Column("benchmarks", sa.JSON(), nullable=False),
        sa.Column("content_hash", sa.String(length=128), nullable=False),
        sa.Column("storage_path", sa.Text(), nullable=True),
        sa.Column("hub_repo", sa.String(length=300), nullable=True),
        sa.Column("hub_revision", sa.String(length=100), nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("licence", sa.Text(), nullable=False),
        sa.Column("training_data", sa.Text(), nullable=False),
        sa.Column("trained_on_benchmarks", sa.JSON(), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("tier", _enum("quick", "standard", "full", name="tier"), nullable=False),
        sa.Column(
            "status", _enum("pending", "running", "finished", "failed", name="submission_status"), nullable=False
        ),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("worker_id", sa.String(length=200), nullable=True),
        sa.Column("lease_expires_at", _utc(), nullable=True),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("started_at", _utc(), nullable=True),
        sa.Column("finished_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_submissions")),
        sa.UniqueConstraint("content_hash", name=op.f("uq_submissions_content_hash")),
    )
    op.create_index("ix_submissions_status_created", "submissions", ["status", "created_at"], unique=False)
    op.create_index("ix_submissions_submitter_created", "submissions", ["submitter", "created_at"], unique=False)

    op.create_table(
        "evaluation_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("submission_id", sa.Integer(), nullable=True),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column(
            "provenance", _enum("reported", "measured", "self-submitted", name="run_provenance"), nullable=False
        ),
        sa.Column("format_version", sa.Integer(), nullable=False),
        sa.Column("model_revision", sa.String(length=200), nullable=False),
        sa.Column("hardware", sa.String(length=200), nullable=True),
        sa.Column("host", sa.String(length=200), nullable=True),
        sa.Column("worker_id", sa.String(length=200), nullable=True),
        sa.Column("started_at", _utc(), nullable=True),
        sa.Column("finished_at", _utc(), nullable=True),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("packages", sa.JSON(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name=op.f("fk_evaluation_runs_model_id_models")),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_evaluation_runs_submission_id_submissions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluation_runs")),
    )
    op.create_index(op.f("ix_evaluation_runs_model_id"), "evaluation_runs", ["model_id"], unique=False)
    op.create_index(op.f("ix_evaluation_runs_submission_id"), "evaluation_runs", ["submission_id"], unique=False)

    op.create_table(
        "results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.String(length=300), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("benchmark_id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("submission_id", sa.Integer(), nullable=True),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(length=32), nullable=False),
        sa.Column("higher_is_better", sa.Boolean(), nullable=False),
        sa.Column("protocol", sa.String(length=64), nullable=False),
        sa.Column("tier", _enum("quick", "standard", "full", name="result_tier"), nullable=True),
        sa.Column("steps", sa.Float(), nullable=True),
        sa.Column("guidance", sa.Float(), nullable=True),
        sa.Column("ci_low", sa.Float(), nullable=True),
        sa.Column("ci_high", sa.Float(), nullable=True),
        sa.Column("n", sa.Integer(), nullable=True),
        sa.Column("provenance", _enum("reported", "measured", "self-submitted", name="provenance"), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("recorded_at", _utc(), nullable=False),
        sa.ForeignKeyConstraint(["benchmark_id"], ["benchmarks.id"], name=op.f("fk_results_benchmark_id_benchmarks")),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name=op.f("fk_results_model_id_models")),
        sa.ForeignKeyConstraint(
            ["run_id"], ["evaluation_runs.id"], name=op.f("fk_results_run_id_evaluation_runs"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["submission_id"],
            ["submissions.id"],
            name=op.f("fk_results_submission_id_submissions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_results")),
        sa.UniqueConstraint(
            "entry_id",
            "benchmark_id",
            "metric",
            "protocol",
            name=op.f("uq_results_entry_id_benchmark_id_metric_protocol"),
        ),
    )
    op.create_index(op.f("ix_results_benchmark_id"), "results", ["benchmark_id"], unique=False)
    op.create_index(op.f("ix_results_entry_id"), "results", ["entry_id"], unique=False)
    op.create_index(op.f("ix_results_model_id"), "results", ["model_id"], unique=False)
    op.create_index(op.f("ix_results_recorded_at"), "results", ["recorded_at"], unique=False)
    op.create_index(op.f("ix_results_run_id"), "results", ["run_id"], unique=False)
    op.create_index(op.f("ix_results_submission_id"), "results", ["submission_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_results_submission_id"), table_name="results")
    op.drop_index(op.f("ix_results_run_id"), table_name="results")
    op.drop_index(op.f("ix_results_recorded_at"), table_name="results")
    op.drop_index(op.f("ix_results_model_id"), table_name="results")
    op.drop_index(op.f("ix_results_entry_id"), table_name="results")
    op.drop_index(op.f("ix_results_benchmark_id"), table_name="results")

    op.drop_table("results")
    op.drop_index(op.f("ix_evaluation_runs_submission_id"), table_name="evaluation_runs")
    op.drop_index(op.f("ix_evaluation_runs_model_id"), table_name="evaluation_runs")

    op.drop_table("evaluation_runs")
    op.drop_index("ix_submissions_submitter_created", table_name="submissions")
    op.drop_index("ix_submissions_status_created", table_name="submissions")

    op.drop_table("submissions")
    op.drop_table("store_meta")
    op.drop_table("models")
    op.drop_table("benchmarks")
