"""Repository functions of the leaderboard store: they take the session, and the caller owns the transaction.

Shared by ``leaderboard.store`` and ``leaderboard.seed`` (which neither imports the other at module level).
"""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from leaderboard.orm import Benchmark, Model, ModelType, StoreMeta, utcnow


def _fmt_number(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def entry_id_for(
    model: str,
    variant: str,
    provenance: str,
    protocol: str,
    steps: float | None,
    guidance: float | None,
    tier: str | None = None,
) -> str:
    """Stable id of a leaderboard row: a readable slug plus a short hash of the exact fields (no collisions)."""
    parts = [model, variant, provenance, protocol]
    if steps is not None:
        parts.append(f"{_fmt_number(steps)} steps")
    if guidance is not None:
        parts.append(f"cfg {_fmt_number(guidance)}")
    if tier:
        parts.append(tier)
    slug = re.sub(r"[^a-z0-9]+", "-", " ".join(p for p in parts if p).lower()).strip("-")
    exact = "\x1f".join([model, variant, provenance, protocol, _fmt_number(steps), _fmt_number(guidance), tier or ""])
    return f"{slug[:200]}-{hashlib.sha256(exact.encode()).hexdigest()[:8]}"


def get_or_create_model(session: Session, name: str, variant: str, model_type: str, family: str = "") -> Model:
    """The model row for (name, variant), created if missing; safe against a concurrent insert of the same row."""
    stmt = select(Model).where(Model.name == name, Model.variant == variant)
    model = session.scalars(stmt).first()
    if model is not None:
        return model
    try:
        with session.begin_nested():
            model = Model(name=name, variant=variant, family=family or name, model_type=ModelType(model_type))
            session.add(model)
    except IntegrityError:
        model = session.scalars(stmt).one()
    return model


def get_or_create_benchmark(session: Session, task: str, name: str) -> Benchmark:
    """The benchmark row for (task, name), created if missing."""
    stmt = select(Benchmark).where(Benchmark.task == task, Benchmark.name == name)
    benchmark = session.scalars(stmt).first()
    if benchmark is not None:
        return benchmark
    try:
        with session.begin_nested():
            benchmark = Benchmark(task=task, name=name)
            session.add(benchmark)
    except IntegrityError:
        benchmark = session.scalars(stmt).one()
    return benchmark


BOARD_UPDATED_KEY = "board_updated_at"


def touch_board(session: Session, when: datetime | None = None) -> None:
    """Record that what the board shows changed (scores written, hidden, re-run or deleted); see ``last_updated``."""
    when = when or utcnow()
    updated = session.execute(
        update(StoreMeta)
        .where(StoreMeta.key == BOARD_UPDATED_KEY)
        .values(value=when.isoformat(), updated_at=when)
        .execution_options(synchronize_session=False)
    )
    if updated.rowcount:
        return
    try:
        with session.begin_nested():
            session.add(StoreMeta(key=BOARD_UPDATED_KEY, value=when.isoformat(), updated_at=when))
    except IntegrityError:  # a concurrent first touch (PostgreSQL): theirs is as good as ours
        pass
