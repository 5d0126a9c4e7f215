"""The prediction size a benchmark fixes (KITTI's 352 x 1216 crop) is in the registry, the README and the upload
validation, which refuses a wrong size with the size expected."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from diception_spec.benchmarks import list_benchmarks
from leaderboard import prediction_files as p
from leaderboard.prediction_files import PredictionsRefused
from tests.conftest import REPO_ROOT
from tests.leaderboard.test_prediction_files import write_predictions


def _kitti(folder: Path, shape: tuple[int, int], benchmarks: list[str] | None = None) -> Path:
    write_predictions(folder, "depth", meta={"benchmarks": benchmarks or ["kitti"]}, n=1)
    np.save(folder / "depth" / "s0.npy", np.ones(shape, np.float32))
    return folder


def test_a_kitti_prediction_of_the_image_size_is_refused_with_the_crop_size(tmp_path: Path) -> None:
    # Issue 12, item 7: KITTI files had to be cropped to 352 x 1216, which was written nowhere and not checked.
    with pytest.raises(PredictionsRefused, match=r"depth/s0.npy: is 375 x 1242 .*must be 352 x 1216"):
        p.validate_predictions_folder(_kitti(tmp_path / "p", (375, 1242)))


def test_a_kitti_prediction_of_the_crop_size_passes(tmp_path: Path) -> None:
    assert p.validate_predictions_folder(_kitti(tmp_path / "p", (352, 1216))).benchmarks == ("kitti",)


def test_kitti_with_an_image_size_benchmark_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PredictionsRefused, match="kitti predictions have a fixed size .* separate uploads"):
        p.validate_predictions_folder(_kitti(tmp_path / "p", (352, 1216), ["kitti", "nyuv2"]))


def test_other_benchmarks_take_any_size(tmp_path: Path) -> None:
    folder = write_predictions(tmp_path / "p", "depth", n=1)
    np.save(folder / "depth" / "s0.npy", np.ones((7, 9), np.float32))
    assert json.loads((folder / p.PREDICTIONS_FILE).read_text())["benchmarks"] == ["nyuv2"]
    assert p.validate_predictions_folder(folder).num_files == 1


def test_the_readme_states_every_fixed_prediction_size() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    fixed = [s for s in list_benchmarks() if s.prediction_size is not None]
    assert fixed, "the registry fixes no prediction size any more: update this test and the README"
    for spec in fixed:
        h, w = spec.prediction_size
        assert f"`{spec.task_id}/{spec.id}`: {h} × {w}" in readme, f"README: state {spec.task_id}/{spec.id}'s size"
