"""A fully cached rerun never loads the model: the cache key comes from the model folder's recorded revision."""

from __future__ import annotations

from pathlib import Path

import pytest

from diception_core.pipeline import DiceptionPipeline
from evaluation.__main__ import main
from evaluation.predictors import DeferredPipeline, DiceptionPredictor, build_predictor
from evaluation.results import comparable, read_result


def _run(tmp_path: Path, out: str, *extra: str) -> dict:
    argv = ["run", "--model", "diception", "--model-id", "tiny", "--benchmarks", "synthetic", "--synthetic-samples",
            "2", "--synthetic-size", "64", "--steps", "1", "--guidance", "1", "--device", "cpu", "--no-progress",
            "--cache-dir", str(tmp_path / "cache"), "--out", str(tmp_path / out), *extra]  # fmt: skip
    assert main(argv) == 0
    return read_result(tmp_path / out)


def test_a_fully_cached_rerun_does_not_load_the_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Issue 12, item 7: the cache key needed the loaded model's revision, so every rerun loaded the weights first.
    first = _run(tmp_path, "first.json")
    assert first["run"]["cached_items"] == 0 and first["model"]["untrained"] is True

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded for a fully cached rerun")

    monkeypatch.setattr(DiceptionPipeline, "from_pretrained", refuse)
    again = _run(tmp_path, "again.json")
    assert again["run"]["cached_items"] > 0
    assert comparable(again) == comparable(first)


def test_a_deferred_pipeline_describes_like_a_loaded_one(tiny_model_dir: Path) -> None:
    deferred = DiceptionPredictor(DeferredPipeline(tiny_model_dir, device="cpu"), steps=1)
    assert not deferred._source.loaded
    loaded = DiceptionPredictor(DiceptionPipeline.from_pretrained(tiny_model_dir, device="cpu"), steps=1)
    assert deferred.describe() == loaded.describe()
    assert not deferred._source.loaded  # describe() loads nothing
    assert deferred.pipe is deferred._source.load()  # the first prediction loads it, once


def test_build_predictor_defers_the_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(DiceptionPipeline, "from_pretrained", lambda *a, **k: pytest.fail("loaded eagerly"))
    predictor = build_predictor("diception", "tiny", device="cpu")
    assert predictor.describe()["model"]["revision"] == predictor.config.model_revision


def test_an_adapter_is_named_and_typed_before_the_weights_load(fresh_tiny_pipe, tiny_model_dir: Path,
                                                               tmp_path: Path) -> None:  # fmt: skip
    from tests.evaluation.test_worker import _make_adapter

    adapter = _make_adapter(fresh_tiny_pipe, tmp_path / "my-adapter")
    deferred = DiceptionPredictor(DeferredPipeline(tiny_model_dir, device="cpu"), adapter=adapter)
    loaded = DiceptionPredictor(fresh_tiny_pipe, adapter=adapter)
    assert deferred.describe() == loaded.describe() and deferred.tasks == loaded.tasks
    assert deferred.adapter_name == loaded.adapter_name == "my_adapter" and "my_adapter" in fresh_tiny_pipe.adapters
    assert not deferred._source.loaded
    assert "my_adapter" in deferred.pipe.adapters  # loaded with the weights


def test_a_missing_model_is_one_line_and_exit_2(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    code = main(["run", "--model", "diception", "--model-id", "./no/such/model", "--benchmarks", "synthetic",
                 "--out", str(tmp_path / "r.json")])  # fmt: skip
    assert code == 2 and "no model folder at ./no/such/model" in caplog.text and "Traceback" not in caplog.text
