"""Helpers shared by the leaderboard store tests: backend URLs, settings and result dicts."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

POSTGRES_ENV = "DICEPTION_TEST_POSTGRES_URL"
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database: a fresh SQLite file, or a fresh PostgreSQL schema dropped afterwards."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'leaderboard.db'}"
        return
    server = os.environ.get(POSTGRES_ENV)
    if not server:
        pytest.skip(f"{POSTGRES_ENV} is not set (CI sets it after starting PostgreSQL)")
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from leaderboard.db import normalise_url

    server_url = make_url(normalise_url(server))
    # A fresh schema per test (cheaper than a database); the store finds it through the connection's search_path.
    name = f"diception_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{name}"'))
    except Exception as exc:  # unreachable server or no rights: skip, as CI does without PostgreSQL
        admin.dispose()
        pytest.skip(f"cannot create a PostgreSQL test schema via {POSTGRES_ENV}: {exc}")
    try:
        # synchronous_commit=off: test data need not survive a crash, and fsync waits dominate otherwise.
        url = server_url.update_query_dict({"options": f"-csearch_path={name} -csynchronous_commit=off"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        admin.dispose()


def make_settings(**overrides: Any) -> Any:
    """Settings independent of the environment the tests run in."""
    from leaderboard.settings import Settings

    return Settings(**overrides)


def make_result(
    value: float = 51.2,
    *,
    name: str = "DICEPTION",
    variant: str = "adapter my-lora, 28 steps, CFG 2",
    benchmarks: tuple[str, ...] = ("PPDLS",),
    tier: str = "standard",
    hardware: str = "NVIDIA H100 80GB HBM3",
) -> dict[str, Any]:
    """A result dict in the evaluation module's format_version 1."""
    return {
        "format_version": 1,
        "model": {"name": name, "variant": variant, "kind": "diception", "model_type": "generalist", "revision": "r1"},
        "settings": {"steps": 28, "guidance": 2.0, "seed": 42, "tier": tier},
        "run": {
            "started_at": "2026-11-28T01:00:00+00:00",
            "finished_at": "2026-11-28T01:10:00+00:00",
            "hardware": hardware,
            "host": "test-host",
            "packages": {"torch": "2.11.0"},
        },
        "scores": [
            {
                "task": "point_segmentation",
                "benchmark": benchmark,
                "metric": "miou_1pt",
                "value": value + i,
                "unit": "percent",
                "higher_is_better": True,
                "protocol": "sam-center-click-positive-only",
                "tier": tier,
                "ci_low": value + i - 2.0,
                "ci_high": value + i + 2.0,
                "n": 500,
            }
            for i, benchmark in enumerate(benchmarks)
        ],
        "samples": [],
        "failures": [],
    }


def submit(store: Any, content_hash: str, submitter: str = "alice", **kwargs: Any) -> int:
    """Create an adapter submission with defaults for everything but the hash."""
    fields = {
        "submitter": submitter,
        "kind": "adapter",
        "name": f"lora-{content_hash}",
        "task": "point_segmentation",
        "benchmarks": ["PPDLS"],
        "content_hash": content_hash,
    }
    fields.update(kwargs)
    return store.create_submission(**fields)
