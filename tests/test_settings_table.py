"""Every setting in the README's settings table is honoured by every entry point its row names ("read by"): each
entry point runs with the settings set (in-process, its heavy work stubbed) and what it used is compared."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from diception_spec.errors import Refused
from leaderboard.store import ClaimedJob, Store
from tests.conftest import REPO_ROOT
from tests.leaderboard import make_result, submit

ENTRY_POINTS = ("app.py", "python -m leaderboard", "python -m evaluation.worker", "python -m evaluation run --record")


def readme_table() -> dict[str, tuple[str, ...]]:
    """{setting: entry points that read it} from the README's settings table."""
    text = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    lines = text[text.index("| setting | default | read by |"):].splitlines()
    table: dict[str, tuple[str, ...]] = {}
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        setting, _, read_by = (cell.strip() for cell in line.strip("|").split("|"))
        readers = tuple(e for e in ENTRY_POINTS if f"`{e}`" in read_by)
        assert readers, f"README settings row without a known entry point: {line}"
        for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", setting):
            table[name] = readers
    return table


def _values(tmp_path: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'from-url.db'}",
        "DICEPTION_LEADERBOARD_DB": str(tmp_path / "from-path.db"),
        "DICEPTION_SQLITE_BUSY_TIMEOUT_S": "9",
        "DICEPTION_DAILY_QUOTA": "7",
        "DICEPTION_DEFAULT_JOB_SECONDS": "123",
        "DICEPTION_DEFAULT_TIER": "quick",
        "DICEPTION_MAX_ATTEMPTS": "4",
        "DICEPTION_LEASE_SECONDS": "42",
        "DICEPTION_ADMIN_TOKEN": "tok-xyz",
        "DICEPTION_BACKUP_REPO": "me/board-backup",
        "DICEPTION_BACKUP_INTERVAL_S": "77",
        "DICEPTION_SUBMISSIONS_DIR": str(tmp_path / "subs"),
        "DICEPTION_BASE_MODEL_ID": "me/diception",
        "DICEPTION_BASE_REVISION": "a" * 40,
    }


@pytest.fixture
def stores(monkeypatch: pytest.MonkeyPatch) -> list[Store]:
    """Every Store an entry point opens."""
    opened: list[Store] = []
    original = Store.__init__

    def init(self: Store, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        opened.append(self)

    monkeypatch.setattr(Store, "__init__", init)
    return opened


def _store_values(store: Store) -> dict[str, Any]:
    s = store.settings
    return {
        "DATABASE_URL": store.url, "DICEPTION_LEADERBOARD_DB": store.url,
        "DICEPTION_SQLITE_BUSY_TIMEOUT_S": s.sqlite_busy_timeout_s, "DICEPTION_DAILY_QUOTA": s.daily_quota,
        "DICEPTION_DEFAULT_JOB_SECONDS": s.default_job_seconds, "DICEPTION_ADMIN_TOKEN": s.admin_token,
        "DICEPTION_SUBMISSIONS_DIR": s.submissions_dir, "DICEPTION_DEFAULT_TIER": s.default_tier,
    }  # fmt: skip


def _expected(name: str, raw: str) -> Any:
    if name == "DATABASE_URL":
        return raw
    if name == "DICEPTION_LEADERBOARD_DB":
        return f"sqlite:///{Path(raw).resolve()}"
    if name in ("DICEPTION_SUBMISSIONS_DIR",):
        return Path(raw)
    if re.fullmatch(r"\d+", raw):
        return float(raw) if name.endswith(("_S", "_SECONDS")) else int(raw)
    return raw


# --------------------------------------------------------------------------------------------- the entry points


def run_app(tmp_path: Path, stores: list[Store], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    import app
    from leaderboard.backup import HubBackup
    from leaderboard.submit import SubmitConfig

    store = app.open_leaderboard_store()  # the one store the Leaderboard and Submit tabs share
    config = SubmitConfig.from_env()  # the Submit tab's (build_submit_tab without a config)
    seen = _store_values(store)
    seen.update({"DICEPTION_DEFAULT_TIER": config.tier, "DICEPTION_SUBMISSIONS_DIR": config.storage_root,
                 "DICEPTION_BASE_MODEL_ID": config.base_model_id, "DICEPTION_BASE_REVISION": config.base_revision})
    store.close()
    backup = HubBackup.from_settings(api=object())  # None while DATABASE_URL points elsewhere
    if backup is not None:
        seen.update({"DICEPTION_BACKUP_REPO": backup.repo_id, "DICEPTION_BACKUP_INTERVAL_S": backup.interval_s})
    return seen


def run_leaderboard_cli(tmp_path: Path, stores: list[Store], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from leaderboard.__main__ import main

    with Store() as store:
        sid = submit(store, "h")
    assert main(["admin", "hide", str(sid)]) == 0  # the token comes from DICEPTION_ADMIN_TOKEN
    return _store_values(stores[-1])


def run_worker(tmp_path: Path, stores: list[Store], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from evaluation.worker import Worker, main

    with Store() as store:
        submit(store, "w")
    jobs: list[ClaimedJob] = []

    def score(self: Worker, job: ClaimedJob) -> dict:
        jobs.append(job)
        raise Refused("probe")

    monkeypatch.setattr(Worker, "score", score)
    assert main(["--model", "./model", "--once", "--cache-dir", str(tmp_path / "cache")]) == 0
    seen = _store_values(stores[-1])
    seen.update({"DICEPTION_LEASE_SECONDS": jobs[0].lease_seconds, "DICEPTION_MAX_ATTEMPTS": jobs[0].max_attempts})
    return seen


def run_evaluation_record(tmp_path: Path, stores: list[Store], monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    import evaluation.predictors
    import evaluation.runner
    from evaluation.__main__ import main

    class Stub:
        def describe(self) -> dict:
            return {"model": {"name": "stub", "revision": ""}, "settings": {}}

    monkeypatch.setattr(evaluation.predictors, "build_predictor", lambda *a, **k: Stub())
    monkeypatch.setattr(evaluation.runner, "run_evaluation", lambda *a, **k: make_result(benchmarks=("synthetic",)))
    assert main(["run", "--model", "sam", "--benchmarks", "synthetic", "--record", "--out",
                 str(tmp_path / "r.json")]) == 0  # fmt: skip
    return _store_values(stores[-1])


RUNNERS: dict[str, Callable[..., dict[str, Any]]] = {
    "app.py": run_app, "python -m leaderboard": run_leaderboard_cli, "python -m evaluation.worker": run_worker,
    "python -m evaluation run --record": run_evaluation_record,
}  # fmt: skip


def test_the_table_names_known_settings_and_entry_points() -> None:
    table = readme_table()
    assert set(RUNNERS) == set(ENTRY_POINTS)
    from leaderboard import settings
    from leaderboard.submit import SubmitConfig

    docs = (settings.__doc__ or "") + (SubmitConfig.__doc__ or "")
    documented = set(re.findall(r"``([A-Z][A-Z0-9_]+)``", docs)) - {"HF_TOKEN"}
    assert documented == set(table), "the README table and the settings' docstrings must list the same variables"


@pytest.fixture(params=ENTRY_POINTS)
def observed(request: pytest.FixtureRequest, tmp_path: Path, stores: list[Store],
             monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:  # fmt: skip
    """(entry point, what it used with DATABASE_URL set, what it used with only the SQLite path set)."""
    entry = request.param
    values = _values(tmp_path)
    runs = []
    for with_url in (True, False):
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        if not with_url:
            monkeypatch.delenv("DATABASE_URL")
        monkeypatch.chdir(tmp_path)
        runs.append(RUNNERS[entry](tmp_path, stores, monkeypatch))
        for store in stores:
            store.close()
    yield entry, runs[0], runs[1]


def test_each_entry_point_honours_its_settings(observed: tuple[str, dict[str, Any], dict[str, Any]],
                                               tmp_path: Path) -> None:  # fmt: skip
    entry, with_url, with_path = observed
    values = _values(tmp_path)
    for name, readers in readme_table().items():
        if entry not in readers:
            continue
        seen = with_path if name in ("DICEPTION_LEADERBOARD_DB", "DICEPTION_BACKUP_REPO",
                                     "DICEPTION_BACKUP_INTERVAL_S") else with_url  # fmt: skip
        assert name in seen, f"{entry} does not read {name}"
        assert seen[name] == _expected(name, values[name]), f"{entry} ignores {name}"
