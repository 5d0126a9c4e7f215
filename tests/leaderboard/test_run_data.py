"""Per-sample values and thumbnails in the store: written with the run, read back in order, bounded, deleted with the
run (cascade), pruned when no row shows their run, carried by the SQLite snapshot; migration 0002 keeps old data."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import text

from diception_spec.results import THUMBNAIL_MAX_BYTES
from leaderboard.backup import snapshot
from leaderboard.db import create_store_engine, downgrade, upgrade
from leaderboard.schema import SAMPLE_COLUMNS
from leaderboard.store import Store
from tests.leaderboard import BACKENDS, database_url, make_result, make_settings, submit


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from database_url(request.param, tmp_path)


@pytest.fixture
def store(url: str) -> Iterator[Store]:
    with Store(url, seed=False, settings=make_settings(admin_token="s3cret")) as s:
        yield s


def webp(side: int = 16, seed: int = 0, fmt: str = "WEBP") -> str:
    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def thumb_item(rank: str, position: int, value: float, *, side: int = 16, image: str | None = None) -> dict[str, Any]:
    image = image or webp(side, seed=position + (10 if rank == "best" else 0))
    return {"task": "point_segmentation", "benchmark": "PPDLS", "sample_id": f"img-{rank}{position}", "mask_id": "3",
            "metric": "miou_1pt", "value": value, "rank": rank, "position": position, "width": side,
            "height": side, "input": image, "truth": image, "prediction": image}


def rich_result(value: float = 50.0, *, variant: str = "adapter my-lora, 28 steps, CFG 2",
                thumbnails: bool = True) -> dict[str, Any]:
    result = make_result(value, variant=variant)
    result["run"].update(code_version="src-0123456789abcdef", git_commit="a" * 40)
    result["samples"] = [
        {"task": "point_segmentation", "benchmark": "PPDLS", "sample_id": f"img{i}", "mask_id": str(i % 2),
         "values": {"ious": [v / 100]}, "metrics": {"miou_1pt": v, "noc90": 20.0}, "seconds": 0.1}
        for i, v in enumerate([10.0, 70.0, 40.0])
    ]
    if thumbnails:
        result["thumbnails"] = {
            "media_type": "image/webp", "max_side": 256, "per_dataset": 2, "bytes": 0,
            "items": [thumb_item("best", 1, 40.0), thumb_item("worst", 0, 10.0), thumb_item("best", 0, 70.0)],
            "dropped": [], "skipped": [],
        }
    return result


def test_per_sample_values_and_thumbnails_are_stored_with_the_run(store: Store) -> None:
    run_id = store.record_evaluation(rich_result())
    samples = store.run_samples_frame(run_id)
    assert list(samples.columns) == list(SAMPLE_COLUMNS) and len(samples) == 6
    ious = samples[samples["metric"] == "miou_1pt"]
    assert ious["sample_id"].tolist() == ["img0", "img1", "img2"] and ious["mask_id"].tolist() == ["0", "1", "0"]
    assert ious["value"].tolist() == [10.0, 70.0, 40.0]
    assert store.run_samples_frame([run_id], benchmark="GTEA").empty
    thumbs = store.run_thumbnails(run_id)
    assert [(t["rank"], t["position"], t["value"]) for t in thumbs] == [("worst", 0, 10.0), ("best", 0, 70.0),
                                                                         ("best", 1, 40.0)]
    first = thumbs[0]
    assert first["input"] == base64.b64decode(rich_result()["thumbnails"]["items"][1]["input"])
    assert (first["media_type"], first["width"], first["mask_id"]) == ("image/webp", 16, "3")
    sizes = store.thumbnails_frame()
    assert sizes["run_id"].tolist() == [run_id] and sizes["items"].tolist() == [3]
    assert sizes["bytes"].iloc[0] == sum(len(t[r]) for t in thumbs for r in ("input", "truth", "prediction"))
    run = store.get_run(run_id)
    assert run["details"]["thumbnails"]["count"] == 3 and "items" not in run["details"]["thumbnails"]
    assert (run["model_kind"], run["code_version"], run["git_commit"]) == ("diception", "src-0123456789abcdef",
                                                                           "a" * 40)
    summary = store.run_summaries([run_id])[run_id]
    assert summary["model_kind"] == "diception" and summary["settings"]["tier"] == "standard"
    assert summary["submission"] is None and summary["worker_id"] is None


def test_self_submitted_runs_keep_per_sample_values_but_no_images(store: Store) -> None:
    run_id = store.record_evaluation(rich_result(), provenance="self-submitted")
    assert len(store.run_samples_frame(run_id)) == 6
    assert store.run_thumbnails(run_id) == []
    assert "self-submitted" in store.get_run(run_id)["details"]["thumbnails"]["note"]


def test_a_result_without_per_sample_metrics_stores_scores_only(store: Store) -> None:
    run_id = store.record_evaluation(make_result())  # written before samples carried metrics
    assert store.run_samples_frame(run_id).empty and store.run_thumbnails(run_id) == []


@pytest.mark.parametrize(("change", "match"), [
    ({"input": webp(16, fmt="PNG")}, "PNG image"),
    ({"width": 8, "height": 8}, "expected 8 x 8"),
    ({"truth": base64.b64encode(b"not an image").decode()}, "not a readable image"),
])
def test_images_that_are_not_what_they_claim_are_refused(store: Store, change: dict[str, Any], match: str) -> None:
    result = rich_result()
    result["thumbnails"]["items"][0].update(change)
    with pytest.raises(ValueError, match=match):
        store.record_evaluation(result)
    assert store.thumbnails_frame().empty and store.results_frame().query("provenance == 'measured'").empty


def test_over_the_budget_the_result_is_refused(store: Store) -> None:
    result = rich_result()
    big = base64.b64encode(b"\0" * (THUMBNAIL_MAX_BYTES // 3 + 1)).decode()
    result["thumbnails"]["items"][0].update(input=big, truth=big, prediction=big)
    with pytest.raises(ValueError, match="at most 5000000 per run"):
        store.record_evaluation(result)


def test_deleting_a_submission_deletes_its_runs_samples_and_thumbnails(store: Store) -> None:
    sid = submit(store, "h1")
    job = store.claim_next("w1")
    run_id = store.finish_submission(sid, "w1", rich_result())
    assert job is not None and store.run_thumbnails(run_id)
    store.admin_delete(sid, "s3cret")
    assert store.run_samples_frame(run_id).empty and store.thumbnails_frame().empty
    with pytest.raises(KeyError):
        store.get_run(run_id)


def test_thumbnails_of_a_replaced_run_are_pruned_and_its_samples_kept(store: Store) -> None:
    old = store.record_evaluation(rich_result(50.0))
    other = store.record_evaluation(rich_result(60.0, variant="another entry"))
    new = store.record_evaluation(rich_result(55.0))  # the same entry, measured again
    assert set(store.thumbnails_frame()["run_id"]) == {other, new}
    assert len(store.run_samples_frame(old)) == 6


def test_the_sqlite_snapshot_carries_samples_and_thumbnails(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'board.db'}", seed=False, settings=make_settings()) as store:
        run_id = store.record_evaluation(rich_result())
        thumbs = store.run_thumbnails(run_id)
    snapshot(tmp_path / "board.db", tmp_path / "copy.db")
    with Store(f"sqlite:///{tmp_path / 'copy.db'}", seed=False, settings=make_settings()) as copy:
        assert copy.run_thumbnails(run_id) == thumbs and len(copy.run_samples_frame(run_id)) == 6


def test_migration_0002_keeps_the_data_of_0001_both_ways(url: str) -> None:
    engine = create_store_engine(url)
    try:
        upgrade(engine, "0001")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO models (id, name, variant, family, model_type, licence, url, note, source, "
                              "annotation_kind, created_at) VALUES (1, 'M', '', 'M', 'generalist', '', '', '', '', "
                              "'', '2026-01-01 00:00:00')"))
            conn.execute(text("INSERT INTO evaluation_runs (id, model_id, provenance, format_version, model_revision, "
                              "settings, packages, details, created_at) VALUES (7, 1, 'measured', 1, 'r', '{}', "
                              "'{}', '{}', '2026-01-01 00:00:00')"))
            conn.execute(text("INSERT INTO benchmarks (id, task, name, description) VALUES (1, 'depth', 'nyuv2', "
                              "'')"))
            conn.execute(text("INSERT INTO results (entry_id, model_id, benchmark_id, run_id, metric, value, unit, "
                              "higher_is_better, protocol, provenance, source, note, recorded_at) VALUES ('e', 1, 1, "
                              "7, 'absrel', 0.1, 'fraction', false, 'genpercept-affine', 'measured', '', '', "
                              "'2026-01-01 00:00:00')"))
        upgrade(engine)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT model_kind FROM evaluation_runs WHERE id = 7")).scalar() is None
            assert conn.execute(text("SELECT count(*) FROM results")).scalar() == 1
        downgrade(engine, "0001")
        with engine.connect() as conn:  # dropping the run columns must not cascade into results
            assert conn.execute(text("SELECT count(*) FROM results")).scalar() == 1
            assert conn.execute(text("SELECT count(*) FROM evaluation_runs")).scalar() == 1
    finally:
        engine.dispose()
