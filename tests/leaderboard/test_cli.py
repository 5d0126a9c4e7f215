"""``python -m leaderboard``: listing and admin actions, refused without the token."""

from __future__ import annotations

from leaderboard.__main__ import main
from leaderboard.store import Store


def _submit(url: str) -> int:
    store = Store(url)
    try:
        return store.create_submission(submitter="ann", kind="adapter", name="lora", task="depth",
                                       benchmarks=["nyuv2"], content_hash="a" * 64)
    finally:
        store.close()


def test_admin_hide_with_the_token(tmp_path, monkeypatch, capsys) -> None:
    url = f"sqlite:///{tmp_path}/lb.db"
    sid = _submit(url)
    monkeypatch.setenv("DICEPTION_ADMIN_TOKEN", "s3cret")
    assert main(["--database-url", url, "admin", "hide", str(sid)]) == 0
    store = Store(url)
    try:
        assert store.get_submission(sid)["hidden"] is True
    finally:
        store.close()


def test_admin_action_with_a_wrong_token_is_refused(tmp_path, monkeypatch, capsys) -> None:
    url = f"sqlite:///{tmp_path}/lb.db"
    sid = _submit(url)
    monkeypatch.setenv("DICEPTION_ADMIN_TOKEN", "s3cret")
    assert main(["--database-url", url, "admin", "delete", str(sid), "--token", "guess"]) == 2
    assert "wrong admin token" in capsys.readouterr().err


def test_submissions_listing(tmp_path, capsys) -> None:
    url = f"sqlite:///{tmp_path}/lb.db"
    _submit(url)
    assert main(["--database-url", url, "submissions"]) == 0
    assert "pending" in capsys.readouterr().out
