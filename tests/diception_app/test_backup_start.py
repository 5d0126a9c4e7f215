"""The app restores the leaderboard from its Hub backup at start and keeps backing it up; never fatally."""

from __future__ import annotations

from app import start_leaderboard_backup


class FakeBackup:
    repo_id = "me/leaderboard-backup"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def restore_from_hub(self) -> bool:
        self.calls.append("restore")
        return True

    def start(self) -> None:
        self.calls.append("start")


def test_restores_before_starting_the_schedule() -> None:
    backup = FakeBackup()
    assert start_leaderboard_backup(lambda: backup) is backup
    assert backup.calls == ["restore", "start"]


def test_no_backup_configured_does_nothing() -> None:
    assert start_leaderboard_backup(lambda: None) is None


def test_unreachable_hub_does_not_stop_the_app() -> None:
    class Offline(FakeBackup):
        def restore_from_hub(self) -> bool:
            raise ConnectionError("no network")

    assert start_leaderboard_backup(Offline) is None


def test_default_factory_without_settings_is_off(monkeypatch) -> None:
    monkeypatch.delenv("DICEPTION_BACKUP_REPO", raising=False)
    assert start_leaderboard_backup() is None
