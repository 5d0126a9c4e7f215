"""No residue: accepted, refused, quota-limited, duplicate, crashed and deleted submissions leave nothing in the
submissions folder but the stored folders of the submissions that exist (no lock, no staging folder, no upload)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from leaderboard import storage, ui
from leaderboard.settings import Settings
from leaderboard.store import QuotaExceeded, Store
from leaderboard.submit import SubmissionForm, SubmitConfig, submit_adapter
from tests.fuzzing import assert_public
from tests.leaderboard.test_validation import BASE_ID, BASE_REV, TINY, make_adapter

TOKEN = "admin-token"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "submissions"


@pytest.fixture
def store(tmp_path: Path, root: Path) -> Iterator[Store]:
    settings = Settings(daily_quota=1, admin_token=TOKEN, submissions_dir=root)
    with Store(f"sqlite:///{tmp_path / 'board.db'}", seed=False, settings=settings) as s:
        yield s


@pytest.fixture
def config(root: Path) -> SubmitConfig:
    return SubmitConfig(storage_root=root, base_model_id=BASE_ID, base_revision=BASE_REV, transformer_config=TINY)


def _upload(tmp_path: Path, name: str, **task: object) -> tuple[str, ...]:
    folder = make_adapter(tmp_path / name, task={"training_data": name, **task})
    path = tmp_path / f"{name}.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for f in folder.iterdir():
            zf.write(f, f.name)
    return (str(path),)


def _submit(store: Store, config: SubmitConfig, upload: tuple[str, ...], submitter: str = "ann"):
    return submit_adapter(store, SubmissionForm(name="lora", upload=upload), submitter=submitter, config=config)


def _listing(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*")) if root.exists() else []


def _only_stored(root: Path, store: Store) -> None:
    """The folder holds the stored folders of the existing submissions and nothing else."""
    paths = [store.get_submission(int(i))["storage_path"] for i in store.submissions_frame()["submission_id"]]
    stored = {Path(p).relative_to(root).as_posix() for p in paths if p}
    assert storage.leftovers(root) == [], _listing(root)
    assert {"/".join(Path(p).parts[:2]) for p in _listing(root) if len(Path(p).parts) >= 2} == stored


def test_a_quota_refusal_leaves_no_lock(tmp_path: Path, store: Store, config: SubmitConfig, root: Path) -> None:
    # Issue 12, item 3: .<hash>.lock files were never removed, also for uploads refused by the quota.
    _submit(store, config, _upload(tmp_path, "a"))
    with pytest.raises(QuotaExceeded):
        _submit(store, config, _upload(tmp_path, "b"))
    assert not list(root.rglob("*.lock")), _listing(root)
    _only_stored(root, store)


def test_accepted_refused_and_duplicate_leave_only_stored_folders(tmp_path: Path, store: Store, config: SubmitConfig,
                                                                 root: Path) -> None:  # fmt: skip
    receipt = _submit(store, config, _upload(tmp_path, "a"))
    assert _listing(root)[:2] == [receipt.content_hash[:2], f"{receipt.content_hash[:2]}/{receipt.content_hash}"]
    _only_stored(root, store)
    with pytest.raises(ValueError, match="r must be"):  # refused by validation
        _submit(store, config, (str(make_adapter(tmp_path / "bad", config={"r": 999})),), submitter="bob")
    _only_stored(root, store)
    with pytest.raises(ValueError, match="already submitted"):  # duplicate content
        _submit(store, config, _upload(tmp_path, "a"), submitter="bob")
    _only_stored(root, store)


def test_a_crashed_store_leaves_nothing(tmp_path: Path, store: Store, config: SubmitConfig, root: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    def crash(**kwargs: object) -> int:
        raise OSError("database disk image is malformed")

    monkeypatch.setattr(store, "create_submission", crash)
    with pytest.raises(OSError):
        _submit(store, config, _upload(tmp_path, "a"))
    assert _listing(root) == []


def test_the_page_shows_a_generic_message_when_the_server_fails(
    tmp_path: Path, store: Store, config: SubmitConfig, root: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def crash(**kwargs: object) -> int:
        raise OSError(f"disk I/O error at {root}/ab/abc")

    monkeypatch.setattr(store, "create_submission", crash)
    with caplog.at_level(logging.ERROR):
        ok, message = ui.run_submission(store, config, SubmissionForm(name="x", upload=_upload(tmp_path, "a")), "ann")
    assert not ok and message == ui.SERVER_ERROR and str(root) in caplog.text  # the operator sees the detail
    assert_public(message)
    assert _listing(root) == []


def test_admin_delete_removes_the_stored_files(tmp_path: Path, store: Store, config: SubmitConfig, root: Path) -> None:
    receipt = _submit(store, config, _upload(tmp_path, "a"))
    other = store.create_submission(submitter="bob", kind="adapter", name="hub", task="depth", benchmarks=["nyuv2"],
                                    content_hash="f" * 64, hub_repo="bob/x", hub_revision="0" * 40)  # fmt: skip
    store.admin_delete(receipt.submission_id, TOKEN)
    assert _listing(root) == []
    store.admin_delete(other, TOKEN)  # nothing stored: nothing to remove
    assert len(store.submissions_frame(include_hidden=True)) == 0


def test_admin_delete_leaves_files_outside_the_submissions_folder(tmp_path: Path, store: Store) -> None:
    elsewhere = tmp_path / "elsewhere" / "ab" / "abc"
    elsewhere.mkdir(parents=True)
    sid = store.create_submission(submitter="bob", kind="adapter", name="x", task="depth", benchmarks=["nyuv2"],
                                  content_hash="abc", storage_path=str(elsewhere))  # fmt: skip
    store.admin_delete(sid, TOKEN)
    assert elsewhere.is_dir()


def _hammer(root: str, marker: str, rounds: int) -> int:
    """Take the lock of one hash ``rounds`` times; inside, create and remove ``marker`` exclusively (fails if two
    processes are inside at once)."""
    clashes = 0
    for _ in range(rounds):
        with storage.content_lock(root, "ab" + "0" * 62):
            try:
                fd = os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                clashes += 1
                continue
            os.close(fd)
            os.unlink(marker)
    return clashes


def test_the_content_lock_excludes_and_leaves_no_file(tmp_path: Path) -> None:
    root = tmp_path / "submissions"
    marker = str(tmp_path / "inside")
    with multiprocessing.get_context("fork").Pool(4) as pool:  # fork: no re-import of this module per process
        clashes = pool.starmap(_hammer, [(str(root), marker, 100)] * 4)
    assert clashes == [0, 0, 0, 0]
    assert _listing(root) == []  # the lock files and the <hash[:2]> folder are gone


def test_leftovers_reports_locks_staging_and_empty_prefixes(tmp_path: Path) -> None:
    root = tmp_path / "s"
    (root / "ab" / ("ab" + "1" * 62)).mkdir(parents=True)
    (root / "ab" / ("ab" + "1" * 62) / "adapter_config.json").write_text("{}")
    (root / "ab" / ".ab11.lock").write_text("")
    (root / ".staging" / "x").mkdir(parents=True)
    (root / "cd").mkdir()
    assert storage.leftovers(root) == [".staging", ".staging/x", "ab/.ab11.lock", "cd"]
