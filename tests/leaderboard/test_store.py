"""Store round trips on a fresh SQLite file (and PostgreSQL when DICEPTION_TEST_POSTGRES_URL is set)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pytest

from leaderboard.schema import PROVENANCES, RESULT_COLUMNS, SUBMISSION_COLUMNS
from leaderboard.seed import load_reported_results, seed_reported
from leaderboard.store import (
    MODEL_COLUMNS,
    AdminDisabled,
    DuplicateSubmission,
    QuotaExceeded,
    Store,
    SubmissionRefused,
)
from tests.leaderboard import BACKENDS, database_url, make_result, make_settings, submit

KEY = ["model", "variant", "task", "benchmark", "metric", "protocol"]


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database_url(request.param, tmp_path)


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    with Store(url, settings=make_settings(admin_token="s3cret", daily_quota=3)) as s:
        yield s


def test_seeded_results_match_the_packaged_csv(store: Store) -> None:
    frame = store.results_frame()
    csv = load_reported_results()
    assert tuple(frame.columns) == RESULT_COLUMNS
    assert len(frame) == len(csv) == 619
    assert set(frame["provenance"]) == {"reported"}
    assert frame["tier"].isna().all() and frame["run_id"].isna().all() and frame["ci_low"].isna().all()
    merged = frame.merge(csv, on=KEY, suffixes=("", "_csv"), validate="one_to_one")
    assert len(merged) == len(csv)
    assert (merged["value"] == merged["value_csv"]).all()
    assert (merged["unit"] == merged["unit_csv"]).all()  # units kept as the sources print them
    assert (merged["higher_is_better"] == merged["higher_is_better_csv"]).all()
    assert (merged["source"] == merged["source_csv"]).all() and merged["source"].str.len().gt(0).all()
    assert (merged["note"] == merged["note_csv"]).all()
    assert merged["steps"].equals(merged["steps_csv"]) or (
        merged["steps"].fillna(-1) == merged["steps_csv"].fillna(-1)
    ).all()
    assert set(frame["unit"]) == {"percent", "percentage_points", "fraction", "degrees"}
    assert frame["recorded_at"].dt.tz is not None


def test_ranking_data_for_seeded_rows(store: Store) -> None:
    frame = store.results_frame()
    sam23 = frame[(frame["task"] == "point_segmentation") & (frame["benchmark"] == "sa23")]
    # Rows under different protocols are told apart by protocol and entry id, never merged.
    assert sam23.groupby("entry_id")["protocol"].nunique().max() == 1
    dic = frame[(frame["model"] == "DICEPTION")].iloc[0]
    assert dic["params_millions"] == 2028 and dic["train_images"] == 1794000 and dic["model_type"] == "generalist"
    sam = frame[(frame["model"] == "SAM") & (frame["variant"] == "ViT-H")].iloc[0]
    assert sam["train_annotations"] == 1.1e9 and sam["model_type"] == "specialist"
    absrel = frame[frame["metric"] == "absrel"]
    assert not absrel["higher_is_better"].any() and (absrel["unit"] == "fraction").all()


def test_models_frame(store: Store) -> None:
    models = store.models_frame()
    assert tuple(models.columns) == MODEL_COLUMNS
    assert not models.duplicated(["model", "variant"]).any()
    assert set(models["model_type"]) == {"generalist", "specialist"}
    # A model with facts but no results yet still gets a family-level row.
    assert "Depth Anything v2" in set(models["model"])
    sam = models[models["model"] == "SAM"].iloc[0]
    assert sam["licence"].startswith("Apache-2.0") and sam["url"].startswith("https://")


def test_entry_ids_are_stable_across_databases(tmp_path: Path) -> None:
    ids = []
    for name in ("a.db", "b.db"):
        with Store(f"sqlite:///{tmp_path / name}", settings=make_settings()) as store:
            frame = store.results_frame().sort_values(KEY)
            ids.append(list(frame["entry_id"]))
            per_entry = frame.groupby("entry_id")[["model", "variant", "protocol"]].nunique()
            assert (per_entry == 1).all().all()
    assert ids[0] == ids[1]


def test_seeding_is_idempotent_and_resyncs_changes(url: str) -> None:
    settings = make_settings()
    with Store(url, settings=settings):
        pass
    with Store(url, settings=settings) as store:
        assert len(store.results_frame()) == 619
        assert len(store.models_frame()) == store.models_frame()[["model", "variant"]].drop_duplicates().shape[0]
        from sqlalchemy import update

        from leaderboard.orm import Result

        with store._session.begin() as session:
            session.execute(update(Result).where(Result.id == 1).values(value=-1.0))
            assert seed_reported(session) == 0  # files unchanged: nothing checked
            assert seed_reported(session, force=True) == 1  # forced: the edited row is put back
        assert len(store.results_frame()) == 619
        assert (store.results_frame()["value"] != -1.0).all()


def test_submission_round_trip(store: Store) -> None:
    sid = submit(
        store, "hash-1", description="LoRA rank 16", licence="MIT", training_data="SA-1B subset",
        trained_on_benchmarks=["PPDLS"], metadata={"rank": 16, "card": "# my lora"}, hub_repo="alice/lora",
        hub_revision="a" * 40,
    )
    sub = store.get_submission(sid)
    assert sub["status"] == "pending" and sub["attempts"] == 0 and sub["hidden"] is False
    assert sub["metadata"] == {"rank": 16, "card": "# my lora"}
    assert sub["trained_on_benchmarks"] == ["PPDLS"] and sub["benchmarks"] == ["PPDLS"]
    assert sub["created_at"].tzinfo is not None and sub["entry_id"] == f"sub-{sid}"
    frame = store.submissions_frame("alice")
    assert tuple(frame.columns) == SUBMISSION_COLUMNS
    assert frame.loc[0, "submission_id"] == sid and frame.loc[0, "status"] == "pending"
    assert frame.loc[0, "estimated_wait_s"] == store.settings.default_job_seconds
    assert store.submissions_frame("bob").empty
    with pytest.raises(KeyError, match="no submission"):
        store.get_submission(9999)


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("kind", "pickle", "kind must be"),
        ("benchmarks", [], "benchmarks must be"),
        ("submitter", " ", "submitter must be"),
        ("tier", "huge", "tier must be"),
    ],
)
def test_bad_submission_arguments(tmp_path: Path, field: str, value: object, match: str) -> None:
    store = Store(f"sqlite:///{tmp_path / 'x.db'}", seed=False, settings=make_settings())
    with store, pytest.raises(ValueError, match=match):
        submit(store, "h", **{field: value})


def test_duplicate_submission_names_the_existing_one(store: Store) -> None:
    first = submit(store, "same-hash")
    with pytest.raises(DuplicateSubmission, match=f"#{first}") as info:
        submit(store, "same-hash", submitter="bob")
    assert info.value.existing_id == first
    assert isinstance(info.value, SubmissionRefused) and isinstance(info.value, ValueError)


def test_daily_quota(store: Store) -> None:
    for i in range(3):
        submit(store, f"q{i}")
    with pytest.raises(QuotaExceeded, match=r"limit 3.*UTC"):
        submit(store, "q3")
    submit(store, "q4", submitter="bob")  # per user
    assert len(store.submissions_frame("alice")) == 3


def test_admin_token(url: str) -> None:
    with Store(url, settings=make_settings()) as store:
        sid = submit(store, "h")
        with pytest.raises(AdminDisabled, match="disabled"):
            store.admin_hide(sid, "anything")
    with Store(url, settings=make_settings(admin_token="s3cret")) as store:
        for action in (store.admin_hide, store.admin_rerun, store.admin_delete):
            with pytest.raises(PermissionError, match="wrong admin token"):
                action(sid, "wrong")
        assert store.get_submission(sid)["hidden"] is False


def test_admin_actions(store: Store) -> None:
    sid = submit(store, "h")
    store.claim_next("w")
    store.finish_submission(sid, "w", make_result())
    measured = store.results_frame()
    assert (measured["entry_id"] == f"sub-{sid}").sum() == 1

    before = store.last_updated()
    store.admin_hide(sid, "s3cret")
    assert store.last_updated() > before  # views caching on last_updated() see the change
    assert not (store.results_frame()["submission_id"] == sid).any()
    assert (store.results_frame(include_hidden=True)["submission_id"] == sid).sum() == 1
    assert store.submissions_frame().empty and len(store.submissions_frame(include_hidden=True)) == 1
    store.admin_hide(sid, "s3cret", hidden=False)

    store.admin_rerun(sid, "s3cret")
    sub = store.get_submission(sid)
    assert sub["status"] == "pending" and sub["attempts"] == 0 and sub["failure_reason"] is None
    assert not (store.results_frame()["submission_id"] == sid).any()

    before = store.last_updated()
    store.admin_delete(sid, "s3cret")
    assert store.last_updated() > before
    with pytest.raises(KeyError):
        store.get_submission(sid)
    assert len(store.results_frame(include_hidden=True)) == 619
    submit(store, "h")  # the hash is free again


def test_record_evaluation(store: Store) -> None:
    run_id = store.record_evaluation(make_result(60.0, name="SAM", variant="ViT-H", benchmarks=("PPDLS", "GTEA")))
    frame = store.results_frame()
    rows = frame[frame["run_id"] == run_id]
    assert len(rows) == 2 and set(rows["provenance"]) == {"measured"}
    row = rows[rows["benchmark"] == "PPDLS"].iloc[0]
    assert (row["value"], row["ci_low"], row["ci_high"], row["tier"]) == (60.0, 58.0, 62.0, "standard")
    assert row["hardware"] == "NVIDIA H100 80GB HBM3" and "run" in row["source"]
    assert row["steps"] == 28 and row["guidance"] == 2 and pd.isna(row["submission_id"])
    # The same configuration measured again replaces its row instead of adding one.
    again = store.record_evaluation(make_result(61.0, name="SAM", variant="ViT-H", benchmarks=("PPDLS",)))
    frame = store.results_frame()
    ppdls = frame[(frame["provenance"] == "measured") & (frame["benchmark"] == "PPDLS")]
    assert len(ppdls) == 1 and ppdls.iloc[0]["value"] == 61.0 and ppdls.iloc[0]["run_id"] == again
    run = store.get_run(again)
    assert run["hardware"] == "NVIDIA H100 80GB HBM3" and run["packages"] == {"torch": "2.11.0"}
    assert run["details"]["failures"] == [] and run["started_at"] == datetime(2026, 11, 28, 1, tzinfo=timezone.utc)
    assert set(frame["provenance"]) <= set(PROVENANCES)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda r: r.update(format_version=2), "format_version"),
        (lambda r: r["scores"][0].update(value=float("nan")), r"scores'\]\[0\]\['value'\]"),
        (lambda r: r["scores"][0].pop("unit"), "unit"),
        (lambda r: r.update(scores=[]), "non-empty"),
        (lambda r: r["scores"][0].update(higher_is_better="yes"), "higher_is_better"),
    ],
)
def test_record_evaluation_refuses_malformed_results(tmp_path: Path, mutate, match: str) -> None:
    with Store(f"sqlite:///{tmp_path / 'x.db'}", seed=False, settings=make_settings()) as store:
        result = make_result()
        mutate(result)
        with pytest.raises(ValueError, match=match):
            store.record_evaluation(result)
        assert store.results_frame().empty


def test_last_updated(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'x.db'}", seed=False, settings=make_settings()) as store:
        assert store.last_updated() is None
        store.record_evaluation(make_result())
        first = store.last_updated()
        assert first is not None and first.tzinfo is not None
        store.record_evaluation(make_result(name="SAM", variant="ViT-B"))
        assert store.last_updated() >= first


def test_default_url_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DICEPTION_LEADERBOARD_DB", str(tmp_path / "env" / "board.db"))
    with Store(seed=False) as store:
        assert store.engine.dialect.name == "sqlite"
    assert (tmp_path / "env" / "board.db").is_file()


def test_settings_from_environment() -> None:
    from leaderboard.settings import load_settings

    settings = load_settings(
        {"DATABASE_URL": "postgresql://u:p@h/db", "DICEPTION_DAILY_QUOTA": "2", "DICEPTION_ADMIN_TOKEN": "t",
         "DICEPTION_MAX_ATTEMPTS": "4", "DICEPTION_LEASE_SECONDS": "30"}
    )
    assert (settings.url, settings.daily_quota, settings.admin_token) == ("postgresql://u:p@h/db", 2, "t")
    assert (settings.max_attempts, settings.lease_seconds) == (4, 30.0)
    defaults = load_settings({})
    assert defaults.daily_quota == 5 and defaults.admin_token is None and defaults.url.endswith("leaderboard.db")
    with pytest.raises(ValueError, match="DICEPTION_DAILY_QUOTA"):
        load_settings({"DICEPTION_DAILY_QUOTA": "many"})
    with pytest.raises(ValueError, match="DICEPTION_MAX_ATTEMPTS"):
        load_settings({"DICEPTION_MAX_ATTEMPTS": "0"})
