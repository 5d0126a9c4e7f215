"""Adding a metric and a benchmark in the spec package is the only edit needed: the evaluation registry, the
leaderboard's columns and the prediction-file validation all see them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from diception_spec.benchmarks import BenchmarkSpec, DataSource, DepthRules, registered_benchmark
from diception_spec.metrics import MetricSpec, registered_metric
from diception_spec.tasks import Task


@pytest.fixture
def toy() -> Iterator[BenchmarkSpec]:
    metric = MetricSpec("toy_error", "fraction", False, "a toy error", "Toy error")
    spec = BenchmarkSpec(
        id="toy_depth", task=Task.DEPTH, version="1", data_revision="v1", title="Toy depth", domain="toys",
        protocols=("genpercept-affine",), default_protocol="genpercept-affine", main_metric="toy_error",
        metrics=("toy_error", "absrel"), item="image", num_samples=3, num_images=3,
        source=DataSource(None, "CC0", "none"), depth=DepthRules("float32", 0.1, 10.0, 0.1, 10.0),
    )
    with registered_metric(metric), registered_benchmark(spec):
        yield spec


def test_the_evaluation_registry_lists_it(toy: BenchmarkSpec) -> None:
    import io

    from diception_spec.benchmarks import get_benchmark, list_benchmarks
    from evaluation.__main__ import write_registry

    assert get_benchmark("toy_depth") is toy
    assert toy in list_benchmarks("depth", ranked_only=True)
    listing = io.StringIO()
    write_registry(listing, "depth", False)  # what `python -m evaluation list` prints
    assert "toy_depth  (v1, data v1)" in listing.getvalue()


def test_the_leaderboard_shows_it_as_a_column_with_its_direction(toy: BenchmarkSpec) -> None:
    from leaderboard import tables
    from tests.leaderboard.frames import frame, measured_row

    rows = [measured_row(result_id=i, benchmark=b, metric="toy_error", value=v)
            for i, (b, v) in enumerate((("kitti", 0.2), ("toy_depth", 0.1)))]
    table = tables.task_table(frame(rows), "depth", metric="toy_error")
    assert "toy_depth" in table.columns and table.attrs["benchmarks"] == ["kitti", "toy_depth"]
    assert tables.higher_is_better(tables.empty_results(), "toy_error") is False


def test_prediction_files_may_name_it(toy: BenchmarkSpec, tmp_path: Path) -> None:
    from leaderboard.prediction_files import validate_predictions_folder

    folder = tmp_path / "pred"
    (folder / "depth").mkdir(parents=True)
    meta = {"format_version": 1, "task": "depth", "benchmarks": ["toy_depth"], "depth_kind": "disparity"}
    (folder / "predictions.json").write_text(json.dumps(meta))
    np.save(folder / "depth" / "s0.npy", np.ones((4, 4), np.float32))
    assert validate_predictions_folder(folder).benchmarks == ("toy_depth",)


def test_it_is_gone_after_the_block() -> None:
    from diception_spec.benchmarks import UnknownBenchmarkError, get_benchmark

    with pytest.raises(UnknownBenchmarkError):
        get_benchmark("toy_depth")
