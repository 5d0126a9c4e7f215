"""Seed the store with the numbers papers report (``leaderboard/data``, described in ``data/SOURCES.md``).

Each row of ``reported_results.csv`` becomes a result with provenance ``reported``, its citation and caveat; models
get their training-set size, parameters, licence and link from ``reported_models.csv`` (joined on the model name; a
result's model may have no row there). Seeding is idempotent: a sha256 of both files is kept in ``store_meta`` and
the reported rows are re-synced (inserted, updated, removed) only when the files changed.
"""

from __future__ import annotations

import hashlib
import logging
import math
from importlib import resources
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from leaderboard.orm import Benchmark, Model, ModelType, Provenance, Result, StoreMeta, utcnow
from leaderboard.repository import entry_id_for, touch_board

logger = logging.getLogger(__name__)

RESULTS_FILE = "reported_results.csv"
MODELS_FILE = "reported_models.csv"
SEED_KEY = "seed_sha256"


def _read_bytes(name: str) -> bytes:
    return resources.files("leaderboard").joinpath("data", name).read_bytes()


def seed_digest() -> str:
    """sha256 over both seed files; it changes whenever either file does."""
    digest = hashlib.sha256()
    for name in (RESULTS_FILE, MODELS_FILE):
        digest.update(name.encode())
        digest.update(_read_bytes(name))
    return digest.hexdigest()


def load_reported_results() -> pd.DataFrame:
    """The reported results as a DataFrame (variant/note blank -> "", steps/guidance blank -> NaN)."""
    with resources.files("leaderboard").joinpath("data", RESULTS_FILE).open("rb") as handle:
        frame = pd.read_csv(handle, dtype={"variant": str, "note": str, "source": str})
    for column in ("variant", "note", "source"):
        frame[column] = frame[column].fillna("")
    frame["higher_is_better"] = frame["higher_is_better"].astype(int).astype(bool)
    return frame


def load_reported_models() -> pd.DataFrame:
    """The reported model facts as a DataFrame, one row per model name."""
    with resources.files("leaderboard").joinpath("data", MODELS_FILE).open("rb") as handle:
        frame = pd.read_csv(handle, dtype={"licence": str, "url": str, "note": str, "source": str})
    for column in ("annotation_kind", "licence", "url", "note", "source"):
        frame[column] = frame[column].fillna("").astype(str)
    return frame


def _float_or_none(value: Any) -> float | None:
    if value is None:
        return None
    number = float(value)
    return None if math.isnan(number) else number


def _apply_model_facts(model: Model, facts: dict[str, Any] | None) -> None:
    if facts is None:
        return
    model.params_millions = _float_or_none(facts["params_millions"])
    model.train_images = _float_or_none(facts["train_images"])
    model.train_annotations = _float_or_none(facts["train_annotations"])
    model.annotation_kind = facts["annotation_kind"]
    model.licence = facts["licence"]
    model.url = facts["url"]
    model.note = facts["note"]
    model.source = facts["source"]


def seed_reported(session: Session, *, force: bool = False) -> int:
    """Bring the reported rows in line with the packaged CSVs; returns the number of rows written (0: up to date).

    The caller owns the transaction and holds the schema lock (``Store`` does both).
    """
    digest = seed_digest()
    meta = session.get(StoreMeta, SEED_KEY)
    if meta is not None and meta.value == digest and not force:
        return 0
    results = load_reported_results()
    facts = {row["model"]: row for row in load_reported_models().to_dict("records")}
    now = utcnow()

    # Models: every (name, variant) with results, plus the family-level rows of models that have none yet. We hold
    # the schema lock, so plain inserts are safe here (no savepoint per row, which PostgreSQL makes slow).
    models = {(m.name, m.variant): m for m in session.scalars(select(Model))}

    def model_for(name: str, variant: str, model_type: str) -> Model:
        model = models.get((name, variant))
        if model is None:
            model = Model(name=name, variant=variant, family=name, model_type=ModelType(model_type))
            session.add(model)
            models[(name, variant)] = model
        _apply_model_facts(model, facts.get(name))
        return model

    type_by_name = dict(zip(results["model"], results["model_type"], strict=True))
    for (name, variant, model_type), _ in results.groupby(["model", "variant", "model_type"], sort=False):
        model_for(name, variant, model_type)
    for name in facts:
        if name not in type_by_name:
            model_for(name, "", ModelType.SPECIALIST.value)
    benchmarks = {(b.task, b.name): b for b in session.scalars(select(Benchmark))}
    for task, name in results[["task", "benchmark"]].drop_duplicates().itertuples(index=False):
        if (task, name) not in benchmarks:
            benchmarks[(task, name)] = Benchmark(task=task, name=name)
            session.add(benchmarks[(task, name)])
    session.flush()

    existing = {
        (r.entry_id, r.benchmark_id, r.metric, r.protocol): r
        for r in session.scalars(select(Result).where(Result.provenance == Provenance.REPORTED))
    }
    seen = set()
    written = 0
    for row in results.to_dict("records"):
        steps, guidance = _float_or_none(row["steps"]), _float_or_none(row["guidance"])
        entry_id = entry_id_for(row["model"], row["variant"], "reported", row["protocol"], steps, guidance)
        key = (entry_id, benchmarks[(row["task"], row["benchmark"])].id, row["metric"], row["protocol"])
        if key in seen:
            raise ValueError(f"{RESULTS_FILE}: duplicate row for {key}")
        seen.add(key)
        fields = {
            "model_id": models[(row["model"], row["variant"])].id,
            "value": float(row["value"]),
            "unit": row["unit"],
            "higher_is_better": bool(row["higher_is_better"]),
            "steps": steps,
            "guidance": guidance,
            "source": row["source"],
            "note": row["note"],
        }
        result = existing.get(key)
        if result is None:
            session.add(
                Result(
                    entry_id=entry_id, benchmark_id=key[1], metric=row["metric"], protocol=row["protocol"],
                    provenance=Provenance.REPORTED, tier=None, recorded_at=now, **fields,
                )
            )
            written += 1
        elif any(getattr(result, k) != v for k, v in fields.items()):
            for k, v in fields.items():
                setattr(result, k, v)
            result.recorded_at = now
            written += 1
    for key, result in existing.items():
        if key not in seen:
            session.delete(result)
            written += 1

    if meta is None:
        session.add(StoreMeta(key=SEED_KEY, value=digest, updated_at=now))
    else:
        meta.value = digest
        meta.updated_at = now
    if written:
        touch_board(session, now)
    session.flush()
    logger.info("seeded %d reported rows (seed %s)", written, digest[:12])
    return written
