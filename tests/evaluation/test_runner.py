"""The runner end to end on the synthetic benchmark: plain, interrupted + resumed, sharded; files; CLI; --record."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from evaluation.__main__ import main
from evaluation.predictors import DepthAnythingPredictor, DiceptionPredictor, FilesPredictor, SamPredictor
from evaluation.results import RUN_FIELDS, comparable, read_result, validate_result
from evaluation.runner import SyntheticOptions, run_evaluation
from evaluation.synthetic import make_synthetic_scene

SYNTHETIC = SyntheticOptions(samples=4, size=64)


class Interrupted(RuntimeError):
    pass


class StopAfter:
    """Wraps a predictor; raises after ``calls`` predictions, as a killed run would stop."""

    def __init__(self, inner, calls: int) -> None:
        self.inner = inner
        self.left = calls

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def _tick(self) -> None:
        if self.left <= 0:
            raise Interrupted("stopped")
        self.left -= 1

    def predict_masks(self, *args, **kwargs):
        self._tick()
        return self.inner.predict_masks(*args, **kwargs)

    def predict_depth(self, *args, **kwargs):
        self._tick()
        return self.inner.predict_depth(*args, **kwargs)

    def predict_normals(self, *args, **kwargs):
        self._tick()
        return self.inner.predict_normals(*args, **kwargs)


def _run(predictor, cache: Path, **kwargs):
    return run_evaluation(predictor, ["synthetic"], cache_dir=cache, synthetic=SYNTHETIC, progress=False, **kwargs)


def _check_plain_resumed_sharded(predictor, tmp_path: Path, stop_after: int) -> dict:
    plain = _run(predictor, tmp_path / "plain")
    with pytest.raises(Interrupted):
        _run(StopAfter(predictor, stop_after), tmp_path / "resumed")
    resumed = _run(predictor, tmp_path / "resumed")
    assert resumed["run"]["cached_items"] > 0
    assert _run(predictor, tmp_path / "sharded", rank=1, world_size=2) is None
    sharded = _run(predictor, tmp_path / "sharded", rank=0, world_size=2)
    assert sharded["run"]["world_size"] == 2
    assert comparable(resumed) == comparable(plain)
    assert comparable(sharded) == comparable(plain)
    assert not plain["failures"]
    return plain


def test_tiny_sam_end_to_end(tmp_path) -> None:
    result = _check_plain_resumed_sharded(SamPredictor.tiny(device="cpu"), tmp_path, stop_after=25)
    metrics = {s["metric"] for s in result["scores"]}
    assert {"miou_1pt", "miou_2pt", "miou_3pt", "miou_5pt", "miou_9pt", "noc85", "noc90"} <= metrics
    assert {s["protocol"] for s in result["scores"]} == {"sam-center-click"}
    assert all(len(s["values"]["ious"]) == 20 for s in result["samples"])
    assert result["model"] == {"name": "SAM", "variant": "tiny-random", "kind": "sam", "model_type": "specialist",
                               "revision": "tiny-seed0", "untrained": True}


def test_tiny_depth_anything_end_to_end(tmp_path) -> None:
    result = _check_plain_resumed_sharded(DepthAnythingPredictor.tiny(device="cpu"), tmp_path, stop_after=2)
    (bench,) = result["settings"]["benchmarks"]
    assert bench["alignment"] == "disparity" and bench["protocol"] == "genpercept-affine" and bench["n_items"] == 4
    absrel = next(s for s in result["scores"] if s["metric"] == "absrel")
    assert absrel["ci_low"] <= absrel["value"] <= absrel["ci_high"] and absrel["n"] == 4


def test_tiny_diception_end_to_end(tiny_pipe, tmp_path) -> None:
    predictor = DiceptionPredictor(tiny_pipe, steps=1, guidance=1.0)
    result = _check_plain_resumed_sharded(predictor, tmp_path, stop_after=5)
    tasks = {s["task"] for s in result["scores"]}
    assert tasks == {"point_segmentation", "depth", "normal"}
    seg = [s for s in result["scores"] if s["task"] == "point_segmentation"]
    assert {s["protocol"] for s in seg} == {"sam-center-click-positive-only"}
    assert "miou_9pt" not in {s["metric"] for s in seg}  # at most 5 points
    noc = next(s for s in seg if s["metric"] == "noc85")
    assert "counts as 20" in noc["note"]
    assert result["settings"]["steps"] == 1 and result["settings"]["tier"] == "quick"


def test_random_points_protocol(tmp_path) -> None:
    result = _run(SamPredictor.tiny(device="cpu"), tmp_path, protocols=["random-points"])
    assert [s["metric"] for s in result["scores"]] == ["miou_5pt_random"]
    assert all(len(s["values"]["points"]) == 5 for s in result["samples"])


def _write_exact_predictions(folder: Path) -> None:
    for index in range(SYNTHETIC.samples):
        scene = make_synthetic_scene(index, SYNTHETIC.size)
        (folder / "depth").mkdir(parents=True, exist_ok=True)
        (folder / "normal").mkdir(parents=True, exist_ok=True)
        disparity = np.where(scene.depth > 0, 1.0 / np.maximum(scene.depth, 1e-6), 0.0).astype(np.float32)
        np.save(folder / "depth" / f"{scene.sample_id}.npy", 3.0 * disparity + 0.5)  # affine in disparity
        normals = np.where(scene.valid[..., None], scene.normals, [0.0, 0.0, 1.0]).astype(np.float32)
        np.save(folder / "normal" / f"{scene.sample_id}.npy", normals)
        masks = folder / "masks" / scene.sample_id
        masks.mkdir(parents=True, exist_ok=True)
        for k, mask in enumerate(scene.instances):
            np.save(masks / f"{k}.npy", mask)


def test_files_predictor_scores_exact_predictions_perfectly(tmp_path) -> None:
    _write_exact_predictions(tmp_path / "pred")
    result = _run(FilesPredictor(tmp_path / "pred"), tmp_path / "cache")
    values = {(s["task"], s["metric"]): s["value"] for s in result["scores"]}
    assert values[("point_segmentation", "miou_1pt")] == pytest.approx(100.0)
    assert values[("depth", "absrel")] == pytest.approx(0.0, abs=1e-6)
    assert values[("depth", "delta1")] == pytest.approx(1.0)
    assert values[("normal", "mean_deg")] == pytest.approx(0.0, abs=0.05)
    assert values[("normal", "within_11.25")] == pytest.approx(100.0)
    other = _run(FilesPredictor(tmp_path / "pred"), tmp_path / "cache",
                 protocols=["marigold-normals", "depth-anything-disparity"])
    values = {(s["task"], s["metric"], s["protocol"]): s["value"] for s in other["scores"]}
    assert values[("normal", "median_deg", "marigold-normals")] == pytest.approx(0.0, abs=0.05)
    assert values[("depth", "absrel", "depth-anything-disparity")] == pytest.approx(0.0, abs=1e-6)


def _prepared_depth_split(folder: Path, n: int = 3) -> Path:
    """A user split in the prepared format, written literally (not with the project's writer)."""
    from PIL import Image

    samples = []
    for i in range(n):
        scene = make_synthetic_scene(i, 48)
        sid = f"img{i}"
        (folder / "images").mkdir(parents=True, exist_ok=True)
        (folder / "depth").mkdir(parents=True, exist_ok=True)
        Image.fromarray(scene.image).save(folder / "images" / f"{sid}.png")
        np.save(folder / "depth" / f"{sid}.npy", scene.depth)
        files = {"image": f"images/{sid}.png", "depth": f"depth/{sid}.npy"}
        sha = {p: hashlib.sha256((folder / p).read_bytes()).hexdigest() for p in files.values()}
        samples.append({"id": sid, "height": 48, "width": 48, "files": files, "sha256": sha,
                        "depth_encoding": "npy"})
    manifest = {"format": "diception-prepared", "format_version": 1, "family": "depth", "benchmark": "mysplit",
                "spec_version": "1", "converter": "literal", "source": {}, "samples": samples}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder


def test_corrupt_and_missing_samples_are_reported_and_the_run_goes_on(tmp_path) -> None:
    split = _prepared_depth_split(tmp_path / "split")
    (split / "depth" / "img1.npy").write_bytes(b"garbage")
    (split / "images" / "img2.png").unlink()
    result = run_evaluation(DepthAnythingPredictor.tiny(device="cpu"), [str(split)], cache_dir=tmp_path / "c",
                            progress=False)
    assert [(f["sample_id"], f["reason"].split(":")[0]) for f in result["failures"]] == [
        ("img1", "checksum mismatch"), ("img2", "missing file")]
    assert {s["n"] for s in result["scores"]} == {1}
    assert result["scores"][0]["benchmark"] == "user:mysplit"


def test_unknown_and_unsupported_benchmarks_fail_with_the_known_ones(tmp_path) -> None:
    sam = SamPredictor.tiny(device="cpu")
    with pytest.raises(KeyError, match="known benchmarks"):
        run_evaluation(sam, ["nonesuch"], cache_dir=tmp_path, progress=False)
    with pytest.raises(ValueError, match="cannot predict depth"):
        run_evaluation(sam, ["depth/synthetic"], cache_dir=tmp_path, progress=False)
    with pytest.raises(FileNotFoundError, match="data-root"):
        run_evaluation(sam, ["GTEA"], cache_dir=tmp_path, progress=False)


def test_result_schema_and_comparable(tmp_path) -> None:
    result = _run(DepthAnythingPredictor.tiny(device="cpu"), tmp_path)
    validate_result(result)
    assert set(result) == {"format_version", "model", "settings", "run", "scores", "samples", "failures"}
    changed = json.loads(json.dumps(result))
    for dotted in RUN_FIELDS:
        section, key = dotted.split(".")
        changed[section][key] = "different"
    for sample in changed["samples"]:
        sample["seconds"] = 123.0
    changed["samples"].reverse()
    assert comparable(changed) == comparable(result)
    assert "run" in comparable(result) and "started_at" not in comparable(result)["run"]
    changed["scores"][0]["value"] += 1e-9
    assert comparable(changed) != comparable(result)
    bad = dict(result, extra=1)
    with pytest.raises(ValueError, match="unexpected keys"):
        validate_result(bad)
    with pytest.raises(ValueError, match="'kind'"):
        validate_result(dict(result, model={**result["model"], "kind": "marigold"}))


def test_cli_run_sharded_and_record(tmp_path) -> None:
    common = ["run", "--model", "sam", "--model-id", "tiny", "--benchmarks", "synthetic", "--synthetic-samples", "3",
              "--synthetic-size", "64", "--device", "cpu", "--no-progress"]
    assert main([*common, "--out", str(tmp_path / "plain.json"), "--cache-dir", str(tmp_path / "a")]) == 0
    shard = [*common, "--out", str(tmp_path / "sharded.json"), "--cache-dir", str(tmp_path / "b"), "--world-size", "2"]
    assert main([*shard, "--rank", "1"]) == 0
    assert not (tmp_path / "sharded.json").exists()
    url = f"sqlite:///{tmp_path / 'board.db'}"
    assert main([*shard, "--rank", "0", "--record", "--database-url", url]) == 0
    plain, sharded = read_result(tmp_path / "plain.json"), read_result(tmp_path / "sharded.json")
    assert comparable(plain) == comparable(sharded)

    from leaderboard.store import Store

    with Store(url, seed=False) as store:
        frame = store.results_frame()
    measured = frame[(frame["model"] == "SAM") & (frame["provenance"] == "measured")]
    assert set(measured["metric"]) >= {"miou_1pt", "noc90"}
    row = measured[measured["metric"] == "miou_1pt"].iloc[0]
    assert row["value"] == pytest.approx(next(s["value"] for s in plain["scores"] if s["metric"] == "miou_1pt"))


def test_cli_refuses_bad_options(tmp_path) -> None:
    assert main(["run", "--model", "sam", "--model-id", "tiny", "--benchmarks", "synthetic", "--steps", "3",
                 "--out", str(tmp_path / "r.json")]) == 2
    with pytest.raises(SystemExit):
        main(["run", "--model", "marigold", "--benchmarks", "synthetic"])


def test_an_aggregate_is_the_unweighted_mean_of_its_members(tmp_path) -> None:
    from diception_spec.benchmarks import get_benchmark
    from evaluation.runner import BenchmarkJob, _SyntheticSource

    sa23 = get_benchmark("point_segmentation", "sa23")
    members = [("PPDLS", SyntheticOptions(samples=2, size=64)), ("GTEA", SyntheticOptions(samples=3, size=64))]
    job = BenchmarkJob(sa23, "random-points", [(name, _SyntheticSource(sa23, opts)) for name, opts in members])
    result = run_evaluation(SamPredictor.tiny(device="cpu"), [job], cache_dir=tmp_path, progress=False)
    value = {s["benchmark"]: s for s in result["scores"]}
    assert set(value) == {"PPDLS", "GTEA", "sa23"}
    mean = (value["PPDLS"]["value"] + value["GTEA"]["value"]) / 2
    assert value["sa23"]["value"] == pytest.approx(mean)
    assert value["sa23"]["n"] == value["PPDLS"]["n"] + value["GTEA"]["n"]
    assert value["sa23"]["ci_low"] <= value["sa23"]["value"] <= value["sa23"]["ci_high"]
    assert result["settings"]["benchmarks"][0]["members"][0] == "PPDLS"


def test_cli_uses_accelerates_partial_state_when_launched(tmp_path, monkeypatch) -> None:
    import accelerate

    waited = []

    class FakeState:  # what `accelerate launch` gives process 1 of 2
        process_index, num_processes = 1, 2

        def wait_for_everyone(self) -> None:
            waited.append(True)

    monkeypatch.setattr(accelerate, "PartialState", FakeState)
    monkeypatch.setenv("WORLD_SIZE", "2")
    out = tmp_path / "r.json"
    assert main(["run", "--model", "depth-anything", "--model-id", "tiny", "--benchmarks", "synthetic",
                 "--synthetic-samples", "3", "--synthetic-size", "64", "--out", str(out), "--cache-dir",
                 str(tmp_path / "c"), "--no-progress"]) == 0
    assert waited == [True] and not out.exists()  # rank 1 scored its shard and left the merge to rank 0
    shard = next((tmp_path / "c").rglob("shard-1.jsonl"))
    assert [json.loads(line)["sample_id"][-1] for line in shard.read_text().splitlines()] == ["1"]
