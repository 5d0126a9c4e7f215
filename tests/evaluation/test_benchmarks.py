"""What the evaluation adds to the benchmark specs: evaluation crops, valid-depth masks, user splits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from diception_spec.benchmarks import get_benchmark
from diception_spec.tasks import Task
from evaluation import benchmarks as BM


def test_crops_and_valid_masks_hand_computed() -> None:
    nyu = BM.eval_crop_mask("eigen_nyu", 480, 640)
    assert nyu.sum() == (471 - 45) * (601 - 41) and nyu[45, 41] and not nyu[44, 41] and not nyu[45, 601]
    # KITTI on the 352 x 1216 KB crop: rows [117, 321), cols [43, 1172).
    kitti = BM.eval_crop_mask("eigen_kitti", 352, 1216)
    rows, cols = np.nonzero(kitti)
    assert (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1) == (117, 321, 43, 1172)
    assert BM.kb_crop_box(375, 1242) == (23, 13, 352, 1216)
    with pytest.raises(ValueError, match="352 x 1216"):
        BM.kb_crop_box(300, 1242)
    rules = get_benchmark("depth", "scannet").depth
    gt = np.array([[0.0, 5e-4, 0.5], [9.99, 10.0, np.inf]])
    assert BM.depth_valid_mask(rules, gt).tolist() == [[False, False, True], [True, False, False]]
    diode = get_benchmark("depth", "diode").depth
    with pytest.raises(ValueError, match="mask"):
        BM.depth_valid_mask(diode, gt)
    mask = np.array([[1, 1, 0], [1, 1, 1]], bool)
    assert BM.depth_valid_mask(diode, gt, mask).tolist() == [[False, True, False], [True, True, False]]


def test_user_split_from_a_manifest(tmp_path: Path) -> None:
    manifest = {"family": "depth", "benchmark": "my-rooms", "spec_version": "1", "samples": [{"id": "a"}, {"id": "b"}]}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    spec = BM.user_split(tmp_path)
    assert spec.task is Task.DEPTH and spec.id == "user:my-rooms" and spec.num_images == 2
    assert not spec.ranked and spec.label == "own test split"
    assert spec.main_metric == "absrel" and spec.data_revision.startswith("sha256:")
    new_task = BM.user_split(tmp_path, task="highlight", main_metric="miou_1pt")
    assert new_task.task == "highlight" and new_task.main_metric == "miou_1pt"
    with pytest.raises(ValueError, match="main_metric"):
        BM.user_split(tmp_path, task="highlight")
    with pytest.raises(FileNotFoundError, match="manifest"):
        BM.user_split(tmp_path / "missing")
