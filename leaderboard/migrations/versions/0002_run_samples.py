"""Per-sample scores and thumbnails of evaluation runs; what ran a run (model kind, code version, git commit).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

``run_samples`` and ``run_thumbnails`` hang off ``evaluation_runs`` with ``ON DELETE CASCADE``, so they live exactly
as long as their run and travel in the same SQLite snapshot. The three new run columns are nullable: runs recorded
before this revision have none (their rows show no reproduce command).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RUN_COLUMNS = (("model_kind", 32), ("code_version", 64), ("git_commit", 64))


def upgrade() -> None:
    for name, length in _RUN_COLUMNS:
        op.add_column("evaluation_runs", sa.Column(name, sa.String(length=length), nullable=True))
    op.create_table(
        "run_samples",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("task", sa.String(length=64), nullable=False),
        sa.Column("benchmark", sa.String(length=200), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("sample_ids", sa.JSON(), nullable=False),
        sa.Column("mask_ids", sa.JSON(), nullable=False),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["evaluation_runs.id"], name=op.f("fk_run_samples_run_id_evaluation_runs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_samples")),
        sa.UniqueConstraint("run_id", "task", "benchmark", name=op.f("uq_run_samples_run_id_task_benchmark")),
    )
    op.create_table(
        "run_thumbnails",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("task", sa.String(length=64), nullable=False),
        sa.Column("benchmark", sa.String(length=200), nullable=False),
        sa.Column("sample_id", sa.String(length=300), nullable=False),
        sa.Column("mask_id", sa.String(length=100), nullable=False),
        sa.Column("metric", sa.String(length=64), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("rank", sa.String(length=8), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("media_type", sa.String(length=32), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("input_image", sa.LargeBinary(), nullable=False),
        sa.Column("truth_image", sa.LargeBinary(), nullable=False),
        sa.Column("prediction_image", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["evaluation_runs.id"], name=op.f("fk_run_thumbnails_run_id_evaluation_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_run_thumbnails")),
        sa.UniqueConstraint(
            "run_id", "task", "benchmark", "rank", "position",
            name=op.f("uq_run_thumbnails_run_id_task_benchmark_rank_position"),
        ),
    )


def downgrade() -> None:
    op.drop_table("run_thumbnails")
    op.drop_table("run_samples")
    # Plain ALTER TABLE ... DROP COLUMN (SQLite >= 3.35, PostgreSQL): a batch rebuild would drop and re-create
    # evaluation_runs, and with foreign keys on that cascades into results.
    for name, _ in reversed(_RUN_COLUMNS):
        op.drop_column("evaluation_runs", name)
