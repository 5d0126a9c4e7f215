"""Predictors: tiny SAM, Depth Anything and DICEPTION built offline, and prediction files."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from diception_spec.tasks import Task
from evaluation.predictors import (
    DepthAnythingPredictor,
    DiceptionPredictor,
    FilesPredictor,
    Predictor,
    SamPredictor,
    build_predictor,
)


def _image(height: int = 40, width: int = 64, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((height, width, 3)) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def sam() -> SamPredictor:
    return SamPredictor.tiny(device="cpu")


@pytest.fixture(scope="module")
def depth_anything() -> DepthAnythingPredictor:
    return DepthAnythingPredictor.tiny(device="cpu")


def test_sam_masks_at_input_size_with_labels(sam) -> None:
    image = _image()
    masks = sam.predict_masks(image, [[[10, 5]], [[30, 20], [50, 30]]], sample_id="a", labels=[[1], [1, 0]])
    assert len(masks) == 2
    assert all(m.dtype == np.bool_ and m.shape == (40, 64) for m in masks)
    assert isinstance(sam, Predictor)
    assert sam.tasks == frozenset({Task.POINT_SEGMENTATION}) and sam.negative_points and sam.multi_output


def test_sam_is_deterministic_and_reuses_the_embedding(sam, monkeypatch) -> None:
    image = _image(seed=1)
    first = sam.predict_masks(image, [[[10, 5]]], sample_id="b")[0]
    calls = []
    original = sam.model.get_image_embeddings
    monkeypatch.setattr(sam.model, "get_image_embeddings", lambda x: calls.append(1) or original(x))
    again = sam.predict_masks(image, [[[10, 5]]], sample_id="b")[0]
    np.testing.assert_array_equal(first, again)
    assert calls == []  # same sample: the cached embedding
    sam.predict_masks(image, [[[10, 5]]], sample_id="c")
    assert calls == [1]
    assert SamPredictor.tiny(device="cpu").describe() == sam.describe()


def test_sam_oracle_is_at_least_as_good_as_best_predicted(sam) -> None:
    image = _image(seed=2)
    gt = np.zeros((40, 64), bool)
    gt[5:30, 10:40] = True
    points = [[[20, 15]]]

    def iou(m: np.ndarray) -> float:
        return (m & gt).sum() / max((m | gt).sum(), 1)

    best = sam.predict_masks(image, points, sample_id="d")[0]
    oracle = sam.predict_masks(image, points, sample_id="d", gt_masks=[gt])[0]
    assert iou(oracle) >= iou(best)
    with pytest.raises(ValueError, match="multimask"):
        SamPredictor(sam.model, multimask="all")


def test_depth_anything_output_at_input_size(depth_anything) -> None:
    depth = depth_anything.predict_depth(_image(45, 70), sample_id="x")
    assert depth.shape == (45, 70) and depth.dtype == np.float32 and np.isfinite(depth).all()
    assert depth_anything.describe()["model"]["kind"] == "depth-anything"
    h, w = depth_anything._input_shape(480, 640)
    assert h % 14 == 0 and w % 14 == 0
    with pytest.raises(NotImplementedError):
        depth_anything.predict_masks(_image(), [[[1, 1]]], sample_id="x")


def test_diception_predictor(tiny_pipe) -> None:
    predictor = DiceptionPredictor(tiny_pipe, steps=1, guidance=1.0, seed=3)
    image = _image(32, 48)
    masks = predictor.predict_masks(image, [[[5, 5]], [[20, 10], [30, 12]]], sample_id="s")
    assert [m.shape for m in masks] == [(32, 48), (32, 48)] and masks[0].dtype == np.bool_
    depth = predictor.predict_depth(image, sample_id="s")
    assert depth.shape == (32, 48) and depth.dtype == np.float32
    normals = predictor.predict_normals(image, sample_id="s")
    assert normals.shape == (32, 48, 3)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=-1), 1.0, atol=1e-3)
    described = predictor.describe()
    assert described["settings"]["steps"] == 1 and described["model"]["model_type"] == "generalist"
    chunked = DiceptionPredictor(tiny_pipe, steps=1, guidance=1.0, seed=3, sets_per_call=1)
    assert len(chunked.predict_masks(image, [[[5, 5]], [[20, 10]], [[9, 9]]], sample_id="s")) == 3
    with pytest.raises(ValueError, match="positive points only"):
        predictor.predict_masks(image, [[[5, 5]]], sample_id="s", labels=[[0]])
    with pytest.raises(ValueError, match="at most 5"):
        predictor.predict_masks(image, [[[1, 1]] * 6], sample_id="s")


def test_files_predictor(tmp_path) -> None:
    image = _image(20, 30)
    (tmp_path / "depth").mkdir()
    (tmp_path / "normal").mkdir()
    (tmp_path / "masks" / "img1").mkdir(parents=True)
    disparity = np.linspace(0.1, 1.0, 600, dtype=np.float32).reshape(20, 30)
    np.save(tmp_path / "depth" / "img1.npy", disparity)
    Image.fromarray(np.full((20, 30), 2500, np.uint16)).save(tmp_path / "depth" / "img2.png")
    normals = np.zeros((20, 30, 3), np.float32)
    normals[..., 0] = 1.0  # +x in DSINE's frame = -x in Marigold's
    np.save(tmp_path / "normal" / "img1.npy", normals)
    mask = np.zeros((20, 30), np.uint8)
    mask[2:5, 3:9] = 255
    Image.fromarray(mask).save(tmp_path / "masks" / "img1" / "m0.png")

    files = FilesPredictor(tmp_path, normal_frame="dsine", depth_scale=1000.0)
    assert files.tasks == frozenset({Task.DEPTH, Task.NORMAL, Task.POINT_SEGMENTATION})
    np.testing.assert_array_equal(files.predict_depth(image, sample_id="img1"), disparity)
    np.testing.assert_allclose(files.predict_depth(image, sample_id="img2"), 2.5)
    np.testing.assert_array_equal(files.predict_normals(image, sample_id="img1")[0, 0], [-1.0, 0.0, 0.0])
    (out,) = files.predict_masks(image, [[[4, 3]]], sample_id="img1", mask_ids=["m0"])
    np.testing.assert_array_equal(out, mask > 0)
    with pytest.raises(ValueError, match="no prediction file"):
        files.predict_depth(image, sample_id="missing")
    with pytest.raises(ValueError, match="does not match"):
        files.predict_depth(_image(10, 10), sample_id="img1")
    with pytest.raises(ValueError, match="mask id"):
        files.predict_masks(image, [[[4, 3]]], sample_id="img1")


def test_build_predictor(tmp_path) -> None:
    assert build_predictor("files", predictions=str(tmp_path)).kind == "files"
    assert build_predictor("depth-anything", "tiny", device="cpu").kind == "depth-anything"
    with pytest.raises(ValueError, match="known kinds"):
        build_predictor("marigold")
    with pytest.raises(ValueError, match="folder"):
        build_predictor("files")


def test_from_pretrained_reads_a_saved_model_and_its_preprocessor_config(sam, depth_anything, tmp_path) -> None:
    import json

    sam.model.save_pretrained(tmp_path / "sam")
    (tmp_path / "sam" / "preprocessor_config.json").write_text(json.dumps(
        {"size": {"longest_edge": 64}, "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225]}))
    loaded = SamPredictor.from_pretrained(str(tmp_path / "sam"), device="cpu")
    image = _image(seed=4)
    np.testing.assert_array_equal(loaded.predict_masks(image, [[[9, 9]]], sample_id="z")[0],
                                  sam.predict_masks(image, [[[9, 9]]], sample_id="z")[0])
    depth_anything.model.save_pretrained(tmp_path / "da")
    (tmp_path / "da" / "preprocessor_config.json").write_text(json.dumps({"size": {"height": 56, "width": 56},
                                                                          "ensure_multiple_of": 14}))
    loaded_da = DepthAnythingPredictor.from_pretrained(str(tmp_path / "da"), device="cpu")
    np.testing.assert_allclose(loaded_da.predict_depth(image, sample_id="z"),
                               depth_anything.predict_depth(image, sample_id="z"), atol=1e-6)
