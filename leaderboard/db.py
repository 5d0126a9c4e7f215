"""Engines, the schema lock and migrations.

SQLite writers use WAL, a busy timeout and ``BEGIN IMMEDIATE``: pysqlite's own transaction handling is switched off
(``isolation_level = None``) and a ``"begin"`` event issues the BEGIN itself, so a read-modify-write transaction takes
the write lock before it reads and two processes can neither fail on "database is locked" nor lose an update.
Read-only work opts out through the ``sqlite_read_only`` execution option and gets a deferred ``BEGIN``.

PostgreSQL is reached through psycopg 3; ``postgres://`` and ``postgresql://`` URLs are routed to it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
READ_ONLY = {"sqlite_read_only": True}
# pg_advisory_lock key: a fixed 63-bit number derived from the project name, so unrelated apps don't collide.
_PG_LOCK_KEY = int.from_bytes(hashlib.sha256(b"diception-leaderboard-schema").digest()[:8], "big") >> 1


def normalise_url(url: str) -> str:
    """Route PostgreSQL URLs without a driver to psycopg 3 (psycopg2 is not installed)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL, or None for in-memory databases and other backends."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def create_store_engine(url: str, *, busy_timeout_s: float = 30.0, echo: bool = False) -> Engine:
    """An engine for ``url``: SQLite with WAL + busy timeout + ``BEGIN IMMEDIATE``, anything else as given."""
    url = normalise_url(url)
    backend = make_url(url).get_backend_name()
    if backend != "sqlite":
        return create_engine(url, echo=echo, pool_pre_ping=True)

    path = sqlite_path(url)
    kwargs: dict[str, Any] = {"connect_args": {"timeout": busy_timeout_s, "check_same_thread": False}}
    if path is None:
        # One shared connection, or every checkout would see its own empty in-memory database.
        kwargs["poolclass"] = StaticPool
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, echo=echo, **kwargs)
    busy_ms = int(busy_timeout_s * 1000)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {busy_ms}")
            if path is not None:
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        mode = "DEFERRED" if connection.get_execution_options().get("sqlite_read_only") else "IMMEDIATE"
        connection.exec_driver_sql(f"BEGIN {mode}")

    return engine


@contextlib.contextmanager
def schema_lock(engine: Engine) -> Iterator[None]:
    """Exclusive across processes while the schema is created, migrated and seeded.

    SQLite: ``fcntl.flock`` on ``<db>.lock`` next to the file (the database may not exist yet, so it cannot lock
    itself). PostgreSQL: a session-level ``pg_advisory_lock``. In-memory SQLite needs no lock.
    """
    backend = engine.dialect.name
    if backend == "sqlite":
        path = sqlite_path(str(engine.url))
        if path is None:
            yield
            return
        import fcntl  # POSIX only, like the Spaces and workers this runs on

        lock_path = path.with_name(path.name + ".lock")
        with open(lock_path, "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    elif backend == "postgresql":
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _PG_LOCK_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": _PG_LOCK_KEY})
                conn.commit()
    else:
        logger.warning("no cross-process schema lock for backend %s; start one process first", backend)
        yield


def alembic_config() -> Any:
    """An Alembic ``Config`` pointing at the packaged migrations; no alembic.ini is needed."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Run the Alembic migrations up to ``revision`` in one transaction (the caller holds ``schema_lock``)."""
    from alembic import command

    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Run the Alembic migrations down to ``revision`` (tests and maintenance only)."""
    from alembic import command

    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect().execution_options(**READ_ONLY) as conn:
        return MigrationContext.configure(conn).get_current_revision()
