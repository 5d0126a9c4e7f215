"""Alembic environment for the leaderboard store.

Run programmatically (``leaderboard.db.upgrade``), which hands over an open connection in
``config.attributes["connection"]``; without one, ``sqlalchemy.url`` from the config is used (developer use:
``alembic -x`` is not needed, set the option in code). No logging configuration happens here: the app owns logging.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from leaderboard.db import create_store_engine
from leaderboard.orm import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things; batch mode rebuilds tables for future migrations.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = create_store_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("offline (SQL script) migrations are not supported; run leaderboard.db.upgrade")
run_migrations_online()
