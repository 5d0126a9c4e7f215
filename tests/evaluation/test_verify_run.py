"""Issue 14 end to end on tiny models and the synthetic benchmark: a run stores per-sample values and bounded
thumbnails, the detail view shows the worst / best items in order, and the command shown for a measured row
recomputes it (equal under results.comparable)."""

from __future__ import annotations

import base64
import io
import logging
import shlex
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from diception_spec.results import THUMBNAIL_MAX_BYTES, THUMBNAIL_MAX_SIDE, THUMBNAIL_ROLES
from evaluation.__main__ import main
from evaluation.bootstrap import stratified_bootstrap
from evaluation.gallery import GalleryDataset, render_thumbnails
from evaluation.predictors import DepthAnythingPredictor, FilesPredictor, SamPredictor
from evaluation.results import comparable, read_result
from evaluation.runner import SyntheticOptions, resolve_benchmarks, run_evaluation
from leaderboard import verify
from leaderboard.store import Store
from tests.evaluation.test_runner import _prepared_depth_split, _write_exact_predictions

SYNTHETIC = SyntheticOptions(samples=4, size=64)
MEAN_METRICS = {"miou_1pt", "miou_2pt", "miou_3pt", "miou_5pt", "miou_9pt", "noc85", "noc90", "absrel", "delta1"}


@pytest.fixture(scope="module")
def sam_result(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Tiny SAM on 4 synthetic scenes of 300 px (thumbnails must shrink), 2 worst + 2 best drawn."""
    cache = tmp_path_factory.mktemp("cache")
    return run_evaluation(SamPredictor.tiny(device="cpu"), ["synthetic"], cache_dir=cache, progress=False,
                          synthetic=SyntheticOptions(samples=4, size=300), thumbnails=2)


def _image(text: str) -> Image.Image:
    image = Image.open(io.BytesIO(base64.b64decode(text)))
    image.load()
    return image


def test_every_sample_carries_its_metric_values_and_their_mean_is_the_score(sam_result: dict) -> None:
    for score in sam_result["scores"]:
        items = [s["metrics"][score["metric"]] for s in sam_result["samples"] if s["benchmark"] == score["benchmark"]]
        assert score["metric"] in MEAN_METRICS and len(items) == score["n"]
        assert np.mean(items) == pytest.approx(score["value"], abs=1e-9)


def test_thumbnails_are_the_worst_and_best_items_bounded_in_size(sam_result: dict) -> None:
    thumbs = sam_result["thumbnails"]
    values = sorted(s["metrics"]["miou_1pt"] for s in sam_result["samples"])
    by_rank = {r: sorted((t for t in thumbs["items"] if t["rank"] == r), key=lambda t: t["position"])
               for r in ("worst", "best")}
    assert [t["value"] for t in by_rank["worst"]] == values[:2]  # worst first
    assert [t["value"] for t in by_rank["best"]] == values[::-1][:2]  # best first
    assert thumbs["dropped"] == [] and thumbs["skipped"] == [] and thumbs["media_type"] == "image/webp"
    total = 0
    for item in thumbs["items"]:
        assert "note" not in item  # the item predicted again is the one scored
        for role in THUMBNAIL_ROLES:
            image = _image(item[role])
            assert image.format == "WEBP" and image.size == (item["width"], item["height"]) == (256, 256)
            total += len(base64.b64decode(item[role]))
    assert total == thumbs["bytes"] <= THUMBNAIL_MAX_BYTES and THUMBNAIL_MAX_SIDE == 256 < 300
    assert comparable({**sam_result, "thumbnails": None}) == comparable(sam_result)


def test_the_byte_budget_drops_the_deepest_positions_first(tmp_path: Path) -> None:
    predictor = DepthAnythingPredictor.tiny(device="cpu")
    result = run_evaluation(predictor, ["synthetic"], cache_dir=tmp_path, synthetic=SYNTHETIC, progress=False)
    (job,) = resolve_benchmarks(["synthetic"], predictor, synthetic=SYNTHETIC)
    datasets = [GalleryDataset(job.spec, job.protocol, d, src) for d, src in job.datasets]
    full = render_thumbnails(predictor, datasets, result["samples"], per_dataset=2)
    first_two = sum(len(base64.b64decode(t[r])) for t in full["items"][:2] for r in THUMBNAIL_ROLES)
    cut = render_thumbnails(predictor, datasets, result["samples"], per_dataset=2, max_bytes=first_two)
    assert [(t["rank"], t["position"]) for t in cut["items"]] == [("worst", 0), ("best", 0)]
    assert [(d["rank"], d["position"]) for d in cut["dropped"]] == [("worst", 1), ("best", 1)]
    assert "budget" in cut["dropped"][0]["reason"] and cut["bytes"] <= first_two


def test_no_images_of_prediction_files_or_a_submitters_own_split(tmp_path: Path) -> None:
    _write_exact_predictions(tmp_path / "pred")
    files = run_evaluation(FilesPredictor(tmp_path / "pred"), ["synthetic"], cache_dir=tmp_path / "a",
                           synthetic=SYNTHETIC, progress=False, thumbnails=2)
    assert files["thumbnails"]["items"] == [] and len(files["thumbnails"]["skipped"]) == 3
    assert all(s["metrics"] for s in files["samples"])  # per-sample scores all the same
    split = _prepared_depth_split(tmp_path / "split")
    own = run_evaluation(DepthAnythingPredictor.tiny(device="cpu"), [str(split)], cache_dir=tmp_path / "b",
                         progress=False, thumbnails=2)
    assert own["thumbnails"]["items"] == []
    assert own["thumbnails"]["skipped"] == [{"task": "depth", "benchmark": "user:mysplit",
                                             "reason": "a submitter's own split: data not hosted here"}]


def test_the_paired_interval_follows_evaluation_bootstraps_conventions() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(50, 10, 37), rng.normal(30, 5, 11)
    zeros = [np.zeros(a.size), np.zeros(b.size)]
    ours = verify.difference_interval([(a, zeros[0], True), (b, zeros[1], True)], draws=300, seed=5)
    theirs = stratified_bootstrap({"a": a, "b": b}, n_draws=300, seed=5).mean
    assert ours == pytest.approx((theirs.estimate, theirs.low, theirs.high), abs=1e-12)


def _record(tmp_path: Path, url: str, *extra: str) -> Path:
    out = tmp_path / "recorded.json"
    assert main(["run", "--model", "diception", "--model-id", "tiny", "--benchmarks", "point_segmentation/synthetic",
                 "--synthetic-samples", "3", "--synthetic-size", "64", "--steps", "1", "--guidance", "1",
                 "--no-progress", "--out", str(out), "--cache-dir", str(tmp_path / "cache-a"), "--record",
                 "--database-url", url, *extra]) == 0
    return out


def test_the_command_shown_for_a_tiny_diception_row_recomputes_it(tmp_path: Path, monkeypatch) -> None:
    url = f"sqlite:///{tmp_path / 'board.db'}"
    recorded = read_result(_record(tmp_path, url))
    with Store(url, seed=False) as store:
        results = store.results_frame()
        entry = results.loc[results["provenance"] == "measured", "entry_id"].iloc[0]
        checks = verify.load_entry_checks(store, results, entry)
        rows = results[results["entry_id"] == entry]
    (command,) = checks["commands"]
    assert "--adapter" not in command["argv"] and "--model-revision" in command["argv"]
    argv = shlex.split(command["command"])
    assert argv[:4] == ["python", "-m", "evaluation", "run"]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DICEPTION_EVAL_CACHE", str(tmp_path / "fresh-cache"))  # nothing reused
    assert main(argv[3:]) == 0  # verbatim
    again = read_result(tmp_path / "results.json")
    assert "thumbnails" in recorded and "thumbnails" not in again
    assert comparable(again) == comparable(recorded)
    stored = dict(zip(rows["metric"], rows["value"], strict=True))
    assert stored == {s["metric"]: s["value"] for s in again["scores"]}

    gallery = checks["gallery"]  # the detail view: worst and best samples with their scores, in order
    items = sorted(s["metrics"]["miou_1pt"] for s in recorded["samples"])
    assert [t["value"] for t in gallery["worst"]] == items[:len(gallery["worst"])]
    assert [t["value"] for t in gallery["best"]] == items[::-1][:len(gallery["best"])]
    assert gallery["worst"] and all(t["input"] and t["prediction"] for t in gallery["worst"])
    (dist,) = checks["distributions"][checks["distributions"]["metric"] == "miou_1pt"].to_dict("records")
    assert dist["n"] == len(items) and dist["mean"] == pytest.approx(stored["miou_1pt"])
    assert checks["provenance"]["runs"][0]["code_version"] == recorded["run"]["code_version"]


def test_two_recorded_entries_compare_per_dataset(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'board.db'}"
    _record(tmp_path, url)
    assert main(["run", "--model", "sam", "--model-id", "tiny", "--benchmarks", "point_segmentation/synthetic",
                 "--synthetic-samples", "3", "--synthetic-size", "64", "--no-progress", "--out",
                 str(tmp_path / "sam.json"), "--cache-dir", str(tmp_path / "cache-s"), "--record", "--database-url",
                 url, "--thumbnails", "0"]) == 0
    with Store(url, seed=False) as store:
        results = store.results_frame()
        measured = results[results["provenance"] == "measured"]
        dice = measured.loc[measured["model"] == "DICEPTION", "entry_id"].iloc[0]
        sam = measured.loc[measured["model"] == "SAM", "entry_id"].iloc[0]
        out = verify.load_comparison(store, results, dice, sam, top=3)
        assert store.run_thumbnails(int(measured.loc[measured["model"] == "SAM", "run_id"].iloc[0])) == []
    (row,) = out["datasets"].to_dict("records")
    assert row["benchmark"] == "synthetic" and row["metric"] == "miou_1pt" and row["paired"]
    assert row["difference"] == pytest.approx(row["value_a"] - row["value_b"])
    assert row["ci_low"] <= row["difference"] <= row["ci_high"]
    assert "different protocols" in out["notes"][0]  # positive-only vs SAM's own clicks
    diffs = out["disagreements"]["difference"].abs().tolist()
    assert len(diffs) == 3 and diffs == sorted(diffs, reverse=True)


def test_a_row_on_other_weights_or_benchmark_versions_is_refused(tmp_path: Path, caplog) -> None:
    common = ["run", "--model", "sam", "--model-id", "tiny", "--benchmarks", "synthetic", "--synthetic-samples", "2",
              "--synthetic-size", "64", "--no-progress", "--out", str(tmp_path / "r.json"), "--cache-dir",
              str(tmp_path / "c")]
    with caplog.at_level(logging.ERROR):
        assert main([*common, "--benchmark-version", "point_segmentation/synthetic=2@procedural-v1"]) == 2
        assert main([*common, "--model-revision", "tiny-seed1"]) == 2
    assert "is version 1 with data procedural-v1" in caplog.text and "revision 'tiny-seed0'" in caplog.text
    assert not (tmp_path / "r.json").exists()


def test_an_adapter_with_other_weights_is_refused_before_loading(tmp_path: Path, caplog) -> None:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    with caplog.at_level(logging.ERROR):
        assert main(["run", "--model", "diception", "--model-id", "nonexistent-model-folder", "--benchmarks",
                     "synthetic", "--adapter", str(adapter), "--adapter-sha256", "0" * 64]) == 2
    assert "these are different weights" in caplog.text


def test_another_code_version_only_warns(tmp_path: Path, caplog) -> None:
    with caplog.at_level(logging.WARNING):
        assert main(["run", "--model", "sam", "--model-id", "tiny", "--benchmarks", "synthetic",
                     "--synthetic-samples", "1", "--synthetic-size", "64", "--no-progress", "--out",
                     str(tmp_path / "r.json"), "--cache-dir", str(tmp_path / "c"), "--code-version",
                     "src-0000000000000000"]) == 0
    assert "the row was measured with src-0000000000000000" in caplog.text
    assert read_result(tmp_path / "r.json")["run"]["code_version"].startswith("src-")
