"""Leaderboard settings, read from the environment once and passed around as a frozen object.

Environment variables (all optional):

- ``DATABASE_URL``: any SQLAlchemy URL (``postgresql://...`` is routed through psycopg 3); overrides the SQLite file.
- ``DICEPTION_LEADERBOARD_DB``: path of the SQLite file (default ``./data/leaderboard.db``).
- ``DICEPTION_DAILY_QUOTA``: submissions per user in any 24 hours (default 5).
- ``DICEPTION_MAX_ATTEMPTS``: how often a submission is tried before it is marked failed (default 3).
- ``DICEPTION_LEASE_SECONDS``: a worker's lease on a submission, renewed while it scores (default 600).
- ``DICEPTION_DEFAULT_JOB_SECONDS``: the wait estimate per job before any job has finished (default 900).
- ``DICEPTION_DEFAULT_TIER``: the scoring tier of submissions (default ``standard``).
- ``DICEPTION_ADMIN_TOKEN``: enables admin actions (re-run, hide, delete); unset means admin is disabled.
- ``DICEPTION_BACKUP_REPO``: a Hub dataset repo (``user/name``) the SQLite file is backed up to; unset means none.
- ``DICEPTION_BACKUP_INTERVAL_S``: seconds between backups (default 600).
- ``DICEPTION_SQLITE_BUSY_TIMEOUT_S``: how long a SQLite writer waits for the lock (default 30).
- ``DICEPTION_SUBMISSIONS_DIR``: where submitted files are kept (default ``./data/submissions``); an admin delete
  removes a submission's folder there.
- ``HF_TOKEN``: the token used for the backup repo.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from diception_spec.benchmarks import TIERS
from diception_spec.environment import env_int, env_number

DEFAULT_SQLITE_PATH = Path("data") / "leaderboard.db"
DEFAULT_SUBMISSIONS_DIR = Path("data") / "submissions"


@dataclass(frozen=True)
class Settings:
    database_url: str | None = None
    sqlite_path: Path = DEFAULT_SQLITE_PATH
    daily_quota: int = 5
    max_attempts: int = 3
    lease_seconds: float = 600.0
    default_job_seconds: float = 900.0
    default_tier: str = "standard"
    sqlite_busy_timeout_s: float = 30.0
    admin_token: str | None = None
    backup_repo: str | None = None
    backup_interval_s: float = 600.0
    hf_token: str | None = None
    submissions_dir: Path = DEFAULT_SUBMISSIONS_DIR

    @property
    def url(self) -> str:
        """The SQLAlchemy URL the store opens: ``DATABASE_URL`` if given, else the SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{Path(self.sqlite_path).expanduser().resolve()}"


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Read settings from ``env`` (default ``os.environ``); a bad value raises ``ValueError`` naming the variable."""
    env = os.environ if env is None else env
    tier = env.get("DICEPTION_DEFAULT_TIER", "").strip() or "standard"
    if tier not in TIERS:
        raise ValueError(f"DICEPTION_DEFAULT_TIER must be one of {', '.join(TIERS)}, got {tier!r}")
    return Settings(
        database_url=env.get("DATABASE_URL", "").strip() or None,
        sqlite_path=Path(env.get("DICEPTION_LEADERBOARD_DB", "").strip() or DEFAULT_SQLITE_PATH),
        daily_quota=env_int(env, "DICEPTION_DAILY_QUOTA", 5, minimum=0),
        max_attempts=env_int(env, "DICEPTION_MAX_ATTEMPTS", 3, minimum=1),
        lease_seconds=env_number(env, "DICEPTION_LEASE_SECONDS", 600.0, minimum=0.0, above=True),
        default_job_seconds=env_number(env, "DICEPTION_DEFAULT_JOB_SECONDS", 900.0, minimum=0.0, above=True),
        default_tier=tier,
        sqlite_busy_timeout_s=env_number(env, "DICEPTION_SQLITE_BUSY_TIMEOUT_S", 30.0, minimum=0.0, above=True),
        admin_token=env.get("DICEPTION_ADMIN_TOKEN") or None,
        backup_repo=env.get("DICEPTION_BACKUP_REPO", "").strip() or None,
        backup_interval_s=env_number(env, "DICEPTION_BACKUP_INTERVAL_S", 600.0, minimum=0.0, above=True),
        hf_token=env.get("HF_TOKEN") or None,
        submissions_dir=Path(env.get("DICEPTION_SUBMISSIONS_DIR", "").strip() or DEFAULT_SUBMISSIONS_DIR),
    )
