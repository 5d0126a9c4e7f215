"""``python -m diception_core``: predict writes every output; calibrate runs on tiny weights."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from diception_core.calibrate import calibrate, mask_centre
from diception_core.cli import _parse_cli_points, main
from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def image_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "scene.png"
    Image.fromarray((np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8)).save(path)
    return path


def test_predict_subprocess_writes_every_depth_output(image_path, tmp_path, tiny_model_dir) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "diception_core", "predict", str(image_path), "--task", "depth", "--model", "tiny",
         "--steps", "1", "--out", str(tmp_path)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    names = {p.name for p in tmp_path.iterdir()}
    for suffix in ("_raw.npy", "_vis.png", "_depth16.png", "_depth.npy", "_depth_color.png", "_pointcloud.ply"):
        assert f"scene_depth{suffix}" in names
    raw = np.load(tmp_path / "scene_depth_raw.npy")
    assert raw.dtype == np.float32 and raw.shape == (48, 64, 3)
    assert json.loads((tmp_path / "settings.json").read_text())["settings"]["steps"] == 1


@pytest.mark.parametrize(
    ("task", "extra", "expected"),
    [
        ("normal", [], ["_normals.npy", "_normals.png"]),
        ("point_segmentation", ["--points", "10,20;30,40"], ["_mask.png"]),
        ("entity_segmentation", [], ["_instances.png", "_instances.json"]),
        ("semantic_segmentation", ["--category", "dog"], ["_instances.png", "_instances.json"]),
        ("pose", [], ["_keypoints.json"]),
    ],
)
def test_predict_writes_the_task_outputs(image_path, tmp_path, tiny_model_dir, task, extra, expected) -> None:
    assert main(["predict", str(image_path), "--task", task, "--steps", "1", "--out", str(tmp_path), *extra]) == 0
    names = {p.name for p in tmp_path.iterdir()}
    for suffix in ["_raw.npy", "_vis.png", *expected]:
        assert f"scene_{task}{suffix}" in names


def test_predict_reports_bad_points_without_a_traceback(image_path, tmp_path, tiny_model_dir, capsys) -> None:
    code = main(["predict", str(image_path), "--task", "point_segmentation", "--points", "999,1", "--steps", "1",
                 "--out", str(tmp_path)])
    assert code == 2 and "outside" in capsys.readouterr().err


def test_cli_points_formats() -> None:
    assert _parse_cli_points("1,2;3.5,4") == [[1.0, 2.0], [3.5, 4.0]]
    assert _parse_cli_points("[[1, 2]]") == [[1, 2]]
    with pytest.raises(ValueError, match="x,y"):
        _parse_cli_points("1;2")


def test_predict_takes_the_speed_options(image_path, tmp_path, tiny_model_dir, capsys) -> None:
    args = ["predict", str(image_path), "--task", "depth", "--steps", "1", "--out", str(tmp_path)]
    assert main([*args, "--attention", "math", "--channels-last-vae"]) == 0
    assert main([*args, "--attention", "fastest"]) == 2
    assert "attention" in capsys.readouterr().err


def test_cli_points_json_errors_say_what_is_wrong() -> None:
    with pytest.raises(ValueError, match="points: is not valid JSON"):
        _parse_cli_points("[[1, 2]")


def test_mask_centre_is_the_distance_transform_maximum() -> None:
    mask = np.zeros((9, 12), dtype=bool)
    mask[2:7, 3:10] = True  # 5 x 7 rectangle: distance 3 along row 4 at columns 5..7; first maximum is column 5
    assert mask_centre(mask) == [5.0, 4.0]


def test_calibrate_reports_both_hypotheses_on_tiny_weights(tiny_pipe, shared_fixtures) -> None:
    report = calibrate(tiny_pipe, sa1b_dir=shared_fixtures / "sa1b", normals_dir=shared_fixtures / "tartanair_normal",
                       max_masks=3, steps=1, guidance=1.0)
    assert set(report["point_order"]["miou"]) == {"yx", "xy"} and report["point_order"]["masks"] == 3
    assert set(report["normal_frame"]["mean_angle_deg"]) == {"marigold", "dsine"}
    assert report["normal_frame"]["images"] == 1 and report["untrained"] is True
    assert tiny_pipe.config.point_order == "yx"  # restored after scoring both orders


def test_calibrate_without_data_is_an_error(tiny_pipe) -> None:
    with pytest.raises(ValueError, match="--sa1b"):
        calibrate(tiny_pipe)
