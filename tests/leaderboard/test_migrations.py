"""Alembic migrations from empty, agreement with the ORM, and two processes starting on one empty file."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from leaderboard.db import alembic_config, create_store_engine, current_revision, downgrade, upgrade
from leaderboard.orm import Base
from tests.leaderboard import BACKENDS, database_url, make_settings

TABLES = {"models", "benchmarks", "submissions", "evaluation_runs", "results", "store_meta", "alembic_version"}


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database_url(request.param, tmp_path)


def _head() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_upgrade_from_empty_matches_the_orm(url: str) -> None:
    engine = create_store_engine(url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == _head() == "0002"
        assert set(inspect(engine).get_table_names()) >= TABLES
        with engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diffs == [], diffs
        upgrade(engine)  # a second run is a no-op
        downgrade(engine, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(engine)
        assert current_revision(engine) == "0002"
    finally:
        engine.dispose()


def test_sqlite_engine_uses_wal_and_a_busy_timeout(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'x.db'}", busy_timeout_s=7)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 7000
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        engine.dispose()


def _start_store(url: str, barrier: multiprocessing.synchronize.Barrier, queue: multiprocessing.Queue) -> None:
    from leaderboard.store import Store

    barrier.wait(timeout=60)
    try:
        with Store(url, settings=make_settings()) as store:
            queue.put(("ok", len(store.results_frame())))
    except Exception as exc:  # reported to the parent, which fails the test with it
        queue.put(("error", repr(exc)))


def test_two_processes_starting_on_one_empty_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'board.db'}"
    ctx = multiprocessing.get_context("spawn")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_start_store, args=(url, barrier, queue)) for _ in range(2)]
    for proc in procs:
        proc.start()
    outcomes = [queue.get(timeout=120) for _ in procs]
    for proc in procs:
        proc.join(timeout=30)
    assert outcomes == [("ok", 619), ("ok", 619)], outcomes

    engine = create_store_engine(url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
            assert conn.execute(text("SELECT count(*) FROM results")).scalar() == 619
            assert conn.execute(text("SELECT count(*) FROM store_meta WHERE key = 'seed_sha256'")).scalar() == 1
            per_model = "SELECT name, variant FROM models GROUP BY name, variant HAVING count(*) > 1"
            dupes = conn.execute(text(f"SELECT count(*) FROM ({per_model}) AS d")).scalar()
            assert dupes == 0
    finally:
        engine.dispose()
