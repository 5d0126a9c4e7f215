"""Snapshots through SQLite's online backup API restore for real; the Hub side is tested with a fake api object."""

from __future__ import annotations

import shutil
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from leaderboard.backup import HubBackup, restore, snapshot
from leaderboard.store import Store
from tests.leaderboard import make_settings, submit


def _store(path: Path) -> Store:
    return Store(f"sqlite:///{path}", seed=False, settings=make_settings(daily_quota=100))


def test_snapshot_and_restore_round_trip(tmp_path: Path) -> None:
    db = tmp_path / "live" / "board.db"
    with _store(db) as store:
        first = submit(store, "a")
        snap = snapshot(db, tmp_path / "snaps" / "snap.db")
        submit(store, "b")  # after the snapshot: must not come back
    assert snap.is_file() and not Path(f"{snap}-wal").exists()
    with sqlite3.connect(snap) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"

    fresh = tmp_path / "fresh" / "board.db"
    restore(snap, fresh)
    with _store(fresh) as store:
        assert list(store.submissions_frame()["submission_id"]) == [first]

    restore(snap, db)  # over the live file, -wal and -shm included
    with _store(db) as store:
        assert list(store.submissions_frame()["submission_id"]) == [first]
        submit(store, "c")  # and it is a working database afterwards


def test_snapshot_while_another_connection_holds_a_write_transaction(tmp_path: Path) -> None:
    db = tmp_path / "board.db"
    with _store(db) as store:
        submit(store, "committed")
    writer = sqlite3.connect(db, isolation_level=None, timeout=5)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE submissions SET name = 'uncommitted' WHERE content_hash = 'committed'")
        snap = snapshot(db, tmp_path / "snap.db")  # must neither block nor see the open transaction
        writer.execute("COMMIT")
    finally:
        writer.close()
    with sqlite3.connect(snap) as conn:
        assert conn.execute("SELECT name FROM submissions").fetchall() == [("lora-committed",)]
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT name FROM submissions").fetchall() == [("uncommitted",)]


def test_snapshot_refuses_a_missing_database(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="db_path"):
        snapshot(tmp_path / "nope.db", tmp_path / "snap.db")
    with pytest.raises(FileNotFoundError, match="snapshot_path"):
        restore(tmp_path / "nope.db", tmp_path / "db.db")


class FakeHub:
    """Records calls and keeps uploaded files in a folder, like a dataset repo would."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.uploaded = threading.Event()

    def create_repo(self, repo_id: str, **kwargs: Any) -> None:
        self.calls.append(("create_repo", {"repo_id": repo_id, **kwargs}))

    def upload_file(self, *, path_or_fileobj: str, path_in_repo: str, repo_id: str, **kwargs: Any) -> None:
        self.calls.append(("upload_file", {"path_in_repo": path_in_repo, "repo_id": repo_id, **kwargs}))
        target = self.root / repo_id / path_in_repo
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path_or_fileobj, target)
        self.uploaded.set()

    def hf_hub_download(self, *, repo_id: str, filename: str, local_dir: str, **kwargs: Any) -> str:
        from huggingface_hub.errors import EntryNotFoundError

        self.calls.append(("hf_hub_download", {"repo_id": repo_id, "filename": filename, **kwargs}))
        source = self.root / repo_id / filename
        if not source.is_file():
            raise EntryNotFoundError(f"{filename} not found in {repo_id}")
        target = Path(local_dir) / filename
        shutil.copyfile(source, target)
        return str(target)


def test_hub_backup_uploads_changes_and_restores(tmp_path: Path) -> None:
    hub = FakeHub(tmp_path / "hub")
    db = tmp_path / "space" / "board.db"
    backup = HubBackup("me/leaderboard-backup", "hf_token", 600, db_path=db, api=hub)
    assert backup.restore_from_hub() is False  # first start: nothing to restore
    with _store(db) as store:
        sid = submit(store, "a")
        assert backup.backup_now() is True
        assert backup.backup_now() is False  # unchanged: no new commit
        submit(store, "b")
        assert backup.backup_now() is True
    create = [kw for name, kw in hub.calls if name == "create_repo"]
    assert create == [{"repo_id": "me/leaderboard-backup", "repo_type": "dataset", "private": True,
                       "exist_ok": True, "token": "hf_token"}]
    uploads = [kw for name, kw in hub.calls if name == "upload_file"]
    assert len(uploads) == 2 and all(u["repo_type"] == "dataset" for u in uploads)

    # A new Space replica starts with an empty disk and restores the last snapshot.
    new_db = tmp_path / "replica" / "board.db"
    replica = HubBackup("me/leaderboard-backup", "hf_token", 600, db_path=new_db, api=hub)
    assert replica.restore_from_hub() is True
    with _store(new_db) as store:
        assert sorted(store.submissions_frame()["submission_id"]) == [sid, sid + 1]
    assert replica.restore_from_hub() is False  # a local database exists: left alone


def test_hub_backup_schedule_runs_only_when_started(tmp_path: Path) -> None:
    hub = FakeHub(tmp_path / "hub")
    db = tmp_path / "board.db"
    with _store(db) as store:
        submit(store, "a")
    backup = HubBackup("me/repo", None, 0.05, db_path=db, api=hub)
    time.sleep(0.15)
    assert not hub.uploaded.is_set()  # nothing happens at construction
    backup.start()
    try:
        assert hub.uploaded.wait(timeout=10)
        assert any(t.name == "leaderboard-hub-backup" and t.daemon for t in threading.enumerate())
    finally:
        backup.stop(final_backup=False)
    assert not any(t.name == "leaderboard-hub-backup" for t in threading.enumerate())


def test_hub_backup_from_settings() -> None:
    assert HubBackup.from_settings(make_settings()) is None
    backup = HubBackup.from_settings(make_settings(backup_repo="me/repo", hf_token="t", backup_interval_s=60))
    assert backup is not None and backup.repo_id == "me/repo" and backup.interval_s == 60
    with pytest.raises(ValueError, match="repo_id"):
        HubBackup("no-slash", None)
