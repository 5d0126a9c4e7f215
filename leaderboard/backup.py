"""Back up the SQLite store: consistent snapshots through SQLite's online backup API, optionally to a Hub dataset.

A live WAL database is never copied as a file (the -wal file holds committed pages the main file does not have
yet); ``snapshot`` asks SQLite for a consistent copy instead, which works while other connections read and write.
On a Space, ``HubBackup`` restores the last snapshot from a private Hub dataset repo on start and uploads a new one
on a schedule, from a daemon thread started explicitly (never at import).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import sqlite3
import tempfile
import threading
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


def _connect(path: Path, *, read_only: bool = False, timeout_s: float = 30.0) -> sqlite3.Connection:
    if read_only:
        return sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=timeout_s)
    return sqlite3.connect(path, timeout=timeout_s)


def _check_integrity(conn: sqlite3.Connection, what: str) -> None:
    verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
    if verdict != "ok":
        raise sqlite3.DatabaseError(f"{what} failed SQLite's quick_check: {verdict}")


def snapshot(db_path: str | os.PathLike[str], dest_path: str | os.PathLike[str]) -> Path:
    """Write a consistent single-file copy of the SQLite database ``db_path`` to ``dest_path``; returns the path.

    Uses ``sqlite3.Connection.backup`` (the online backup API) in one step, so the copy is the last committed state
    even while another connection holds an open write transaction. The snapshot is written beside ``dest_path``,
    checked and then renamed into place, and uses the rollback journal (no -wal file to carry along).
    """
    source_path, dest = Path(db_path), Path(dest_path)
    if not source_path.is_file():
        raise FileNotFoundError(f"db_path {source_path} does not exist")
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with contextlib.closing(_connect(source_path)) as source, contextlib.closing(_connect(tmp)) as target:
            source.backup(target)  # pages=-1: everything in one step, so concurrent writers cannot restart it
            target.execute("PRAGMA journal_mode = DELETE")
            _check_integrity(target, "the snapshot")
        os.replace(tmp, dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    logger.info("snapshot of %s written to %s (%d bytes)", source_path, dest, dest.stat().st_size)
    return dest


def restore(snapshot_path: str | os.PathLike[str], db_path: str | os.PathLike[str]) -> Path:
    """Replace the contents of the database ``db_path`` with the snapshot; returns ``db_path``.

    Goes through the backup API as well (not a file copy), so a database with -wal/-shm files is replaced
    consistently. Meant for start-up, before the store opens the database.
    """
    snap, target_path = Path(snapshot_path), Path(db_path)
    if not snap.is_file():
        raise FileNotFoundError(f"snapshot_path {snap} does not exist")
    target_path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.closing(_connect(snap, read_only=True)) as source:
        _check_integrity(source, f"snapshot {snap}")
        with contextlib.closing(_connect(target_path)) as target:
            source.backup(target)
            target.execute("PRAGMA journal_mode = WAL")
    logger.info("restored %s from %s", target_path, snap)
    return target_path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class HubBackup:
    """Scheduled snapshots of the SQLite store uploaded to a private Hub dataset repo.

    ``api`` is anything with HfApi's ``create_repo``, ``upload_file`` and ``hf_hub_download`` methods (tests inject a
    fake); by default a ``huggingface_hub.HfApi`` with ``token``. Nothing runs until ``restore_from_hub`` or
    ``start`` is called.
    """

    def __init__(
        self,
        repo_id: str,
        token: str | None,
        interval_s: float = 600.0,
        *,
        db_path: str | os.PathLike[str] | None = None,
        path_in_repo: str = "leaderboard.db",
        api: Any | None = None,
        work_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        if not repo_id or "/" not in repo_id:
            raise ValueError(f"repo_id must look like 'owner/name', got {repo_id!r}")
        if not interval_s > 0:
            raise ValueError(f"interval_s must be positive, got {interval_s!r}")
        self.repo_id = repo_id
        self.token = token
        self.interval_s = float(interval_s)
        if db_path is None:
            from leaderboard.settings import load_settings

            db_path = load_settings().sqlite_path
        self.db_path = Path(db_path)
        self.path_in_repo = path_in_repo
        self.work_dir = Path(work_dir) if work_dir is not None else self.db_path.parent / ".backup"
        self._api = api
        self._repo_ready = False
        self._last_uploaded: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Any = None, **kwargs: Any) -> HubBackup | None:
        """A backup configured from ``DICEPTION_BACKUP_REPO`` / ``HF_TOKEN``; None when no repo is set or the store is
        not a SQLite file.

        Typical start-up on a Space: ``backup = HubBackup.from_settings()``; ``backup.restore_from_hub()`` before
        ``Store()``; then ``backup.start()``.
        """
        if settings is None:
            from leaderboard.settings import load_settings

            settings = load_settings()
        if not settings.backup_repo:
            return None
        if settings.database_url:
            logger.warning("DICEPTION_BACKUP_REPO is ignored: DATABASE_URL points at a server, not a SQLite file")
            return None
        return cls(settings.backup_repo, settings.hf_token, settings.backup_interval_s,
                   db_path=settings.sqlite_path, **kwargs)

    @property
    def api(self) -> Any:
        if self._api is None:
            from huggingface_hub import HfApi

            self._api = HfApi(token=self.token)
        return self._api

    def _ensure_repo(self) -> None:
        if not self._repo_ready:
            self.api.create_repo(self.repo_id, repo_type="dataset", private=True, exist_ok=True, token=self.token)
            self._repo_ready = True

    def restore_from_hub(self, *, overwrite: bool = False) -> bool:
        """Download the last snapshot and restore it; True if restored.

        Skipped (False) when a local database already exists and ``overwrite`` is False, or when the repo or the file
        does not exist yet (a first start).
        """
        from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError

        if self.db_path.exists() and self.db_path.stat().st_size > 0 and not overwrite:
            logger.info("local database %s exists; not restoring from %s", self.db_path, self.repo_id)
            return False
        self.work_dir.mkdir(parents=True, exist_ok=True)
        try:
            downloaded = self.api.hf_hub_download(
                repo_id=self.repo_id, filename=self.path_in_repo, repo_type="dataset", token=self.token,
                local_dir=str(self.work_dir),
            )
        except (EntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError) as exc:
            logger.info("no backup to restore from %s (%s)", self.repo_id, type(exc).__name__)
            return False
        restore(downloaded, self.db_path)
        self._last_uploaded = _sha256(Path(downloaded))
        return True

    def backup_now(self) -> bool:
        """Snapshot and upload; True if uploaded, False if nothing changed since the last upload."""
        with self._lock:
            if not self.db_path.exists():
                logger.info("no database at %s yet; nothing to back up", self.db_path)
                return False
            self.work_dir.mkdir(parents=True, exist_ok=True)
            snap = snapshot(self.db_path, self.work_dir / "snapshot.db")
            digest = _sha256(snap)
            if digest == self._last_uploaded:
                return False
            self._ensure_repo()
            self.api.upload_file(
                path_or_fileobj=str(snap), path_in_repo=self.path_in_repo, repo_id=self.repo_id,
                repo_type="dataset", token=self.token, commit_message=f"leaderboard backup {digest[:12]}",
            )
            self._last_uploaded = digest
            logger.info("uploaded backup %s to %s", digest[:12], self.repo_id)
            return True

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.backup_now()
            except Exception:  # a failed upload must not kill the schedule; the next tick tries again
                logger.exception("backup to %s failed", self.repo_id)

    def start(self) -> None:
        """Start the daemon thread that backs up every ``interval_s`` seconds."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="leaderboard-hub-backup", daemon=True)
        self._thread.start()

    def stop(self, *, final_backup: bool = True, timeout_s: float = 60.0) -> None:
        """Stop the schedule; by default upload one last snapshot."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout_s)
            self._thread = None
        if final_backup:
            self.backup_now()
