"""Visualisers (uint8 images, exact marker placement) and exports (16-bit PNG, PLY, COCO RLE, JSON, mask PNG)."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_utils

from diception_core.decoders import Instances, PoseKeypoints
from diception_core.file_formats import (
    depth_to_point_cloud,
    instances_to_coco_rle,
    load_depth_png16,
    read_ply,
    save_depth_png16,
    save_instances_json,
    save_keypoints_json,
    save_mask_png,
    save_npy,
    write_ply,
)
from diception_core.visualize import (
    INSTANCE_PALETTE,
    colorize_depth,
    draw_points,
    instances_overlay,
    instances_palette_image,
    keypoints_overlay,
    mask_overlay,
    normals_to_image,
)


def _two_instances(height: int = 40, width: int = 60) -> Instances:
    masks = np.zeros((2, height, width), dtype=bool)
    masks[0, 5:20, 5:25] = True
    masks[1, 22:38, 30:55] = True
    masks[1, 25:30, 10:14] = True  # a second piece
    return Instances(
        masks=masks,
        colors=np.array([[0.9, 0.1, 0.1], [0.1, 0.9, 0.1]], dtype=np.float32),
        scores=np.array([0.9, 0.7], dtype=np.float32),
    )


# ------------------------------------------------------------------------------------------------------ visualise


def test_colorize_depth_near_is_red_with_spectral() -> None:
    disparity = np.array([[0.0, 0.5, 1.0]], dtype=np.float32)  # far, middle, near
    image = colorize_depth(disparity)
    assert image.shape == (1, 3, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(image[0, 2], [158, 1, 66])  # near: Spectral's dark red
    np.testing.assert_array_equal(image[0, 0], [94, 79, 162])  # far: Spectral's violet-blue
    np.testing.assert_array_equal(colorize_depth(disparity, cmap="gray")[0, :, 0], [0, 128, 255])


def test_colorize_depth_is_invariant_to_affine_scaling() -> None:
    disparity = np.random.default_rng(0).random((8, 8)).astype(np.float32)
    np.testing.assert_array_equal(colorize_depth(disparity), colorize_depth(3.0 * disparity + 7.0))


def test_colorize_depth_unknown_cmap_raises() -> None:
    with pytest.raises(ValueError, match="cmap"):
        colorize_depth(np.zeros((2, 2), np.float32), cmap="viridis")


def test_normals_to_image_colours_axes() -> None:
    n = np.array([[[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]], dtype=np.float32)
    image = normals_to_image(n)
    assert image.dtype == np.uint8
    np.testing.assert_array_equal(image[0, 0], [255, 128, 128])
    np.testing.assert_array_equal(image[0, 1], [128, 128, 255])
    np.testing.assert_array_equal(normals_to_image(n, frame="dsine")[0, 0], [0, 128, 128])


def test_mask_overlay_blends_only_inside_the_mask() -> None:
    image = np.full((10, 10, 3), 100, dtype=np.uint8)
    mask = np.zeros((10, 10), dtype=bool)
    mask[2:5, 2:5] = True
    out = mask_overlay(image, mask, color=(200, 0, 0), alpha=0.5)
    assert out.shape == (10, 10, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[3, 3], [150, 50, 50])
    np.testing.assert_array_equal(out[8, 8], [100, 100, 100])


def test_overlays_accept_float_images() -> None:
    image = np.full((40, 60, 3), 0.5, dtype=np.float32)
    out = instances_overlay(image, _two_instances())
    assert out.shape == (40, 60, 3) and out.dtype == np.uint8
    assert not np.array_equal(out[10, 10], out[2, 2])  # painted inside the first instance only


def test_instances_overlay_size_mismatch_raises() -> None:
    with pytest.raises(ValueError, match="instances"):
        instances_overlay(np.zeros((10, 10, 3), np.uint8), _two_instances())


def test_instances_palette_image_indices_are_instance_ids() -> None:
    image = instances_palette_image(_two_instances())
    assert isinstance(image, Image.Image) and image.mode == "P"
    ids = np.array(image)
    assert ids[0, 0] == 0 and ids[10, 10] == 1 and ids[30, 40] == 2 and ids[27, 12] == 2
    palette = np.array(image.getpalette()[:9]).reshape(3, 3)
    np.testing.assert_array_equal(palette[1], INSTANCE_PALETTE[0])


def test_draw_points_marks_the_exact_pixel() -> None:
    image = np.zeros((50, 70, 3), dtype=np.uint8)
    out = draw_points(image, [[13, 37]], radius=4, color=(0, 255, 0))
    np.testing.assert_array_equal(out[37, 13], [0, 255, 0])
    ys, xs = np.nonzero(out.any(axis=2))
    assert (xs.min() + xs.max()) / 2 == 13 and (ys.min() + ys.max()) / 2 == 37  # centred on the pixel
    assert not image.any()  # the input is left unchanged


def test_draw_points_rejects_points_outside_the_image() -> None:
    for outside in ([[10.5, 3]], [[-0.5, 3]], [[3, 11]]):
        with pytest.raises(ValueError, match="points"):
            draw_points(np.zeros((10, 10, 3), np.uint8), outside)


def test_draw_points_puts_the_far_edge_on_the_last_pixel() -> None:
    out = draw_points(np.zeros((10, 10, 3), np.uint8), [[10, 9.7]], radius=0, color=(0, 255, 0))
    np.testing.assert_array_equal(out[9, 9], [0, 255, 0])


def test_keypoints_overlay_draws_each_candidate() -> None:
    pose = PoseKeypoints(points=np.array([[5.0, 6.0], [20.0, 15.0]], np.float32), scores=np.ones(2, np.float32))
    out = keypoints_overlay(np.zeros((30, 30, 3), np.uint8), pose, radius=2)
    assert out.shape == (30, 30, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[6, 5], [255, 32, 32])
    np.testing.assert_array_equal(out[15, 20], [255, 32, 32])


def test_bad_image_raises_value_error() -> None:
    with pytest.raises(ValueError, match="image"):
        mask_overlay(np.zeros((4, 4, 3), np.int64), np.zeros((4, 4), bool))


# --------------------------------------------------------------------------------------------------------- export


def test_depth_png16_round_trip(tmp_path) -> None:
    rng = np.random.default_rng(0)
    disparity = rng.uniform(2.0, 5.0, (24, 32)).astype(np.float32)
    path = tmp_path / "depth.png"
    info = save_depth_png16(path, disparity)
    assert cv2.imread(str(path), cv2.IMREAD_UNCHANGED).dtype == np.uint16  # 16-bit on disk
    loaded, loaded_info = load_depth_png16(path)
    expected = (disparity - disparity.min()) / (disparity.max() - disparity.min())
    assert loaded.dtype == np.float32
    np.testing.assert_allclose(loaded, expected, atol=1.0 / 65535)
    assert loaded_info["disparity_min"] == pytest.approx(float(disparity.min()))
    assert loaded_info["disparity_max"] == pytest.approx(float(disparity.max()))
    assert loaded_info == info and "65535" in str(info["mapping"])


def test_save_npy_writes_float32(tmp_path) -> None:
    path = tmp_path / "a.npy"
    save_npy(path, np.arange(6, dtype=np.int64).reshape(2, 3))
    loaded = np.load(path)
    assert loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded, [[0, 1, 2], [3, 4, 5]])


def test_point_cloud_depth_mapping_and_colours() -> None:
    disparity = np.array([[0.0, 1.0]], dtype=np.float32)
    image = np.array([[[10, 20, 30], [40, 50, 60]]], dtype=np.uint8)
    xyz, rgb = depth_to_point_cloud(disparity, image, near_far_ratio=4.0)
    np.testing.assert_allclose(xyz[:, 2], [-4.0, -1.0])  # far at depth r, near at depth 1, looking down -z
    assert xyz[0, 0] < 0 < xyz[1, 0]  # left column at negative x
    np.testing.assert_array_equal(rgb, image.reshape(-1, 3))


def test_point_cloud_respects_the_point_cap() -> None:
    disparity = np.random.default_rng(0).random((301, 257)).astype(np.float32)
    xyz, rgb = depth_to_point_cloud(disparity, np.zeros((301, 257, 3), np.uint8), max_points=1000)
    assert 0 < len(xyz) <= 1000 and len(rgb) == len(xyz)
    assert xyz.dtype == np.float32 and rgb.dtype == np.uint8


def test_ply_round_trip(tmp_path) -> None:
    rng = np.random.default_rng(0)
    xyz = rng.normal(size=(50, 3)).astype(np.float32)
    rgb = rng.integers(0, 256, (50, 3)).astype(np.uint8)
    path = tmp_path / "cloud.ply"
    write_ply(path, xyz, rgb)
    assert path.read_bytes().startswith(b"ply\nformat binary_little_endian 1.0\n")
    xyz2, rgb2 = read_ply(path)
    np.testing.assert_array_equal(xyz2, xyz)
    np.testing.assert_array_equal(rgb2, rgb)


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # inside pycocotools' decode
def test_coco_rle_decodes_back_to_the_masks(tmp_path) -> None:
    instances = _two_instances()
    results = instances_to_coco_rle(instances, image_id=7, category_id=3)
    assert len(results) == 2
    for result, mask, score in zip(results, instances.masks, instances.scores, strict=True):
        np.testing.assert_array_equal(mask_utils.decode(result["segmentation"]).astype(bool), mask)
        assert result["image_id"] == 7 and result["category_id"] == 3
        assert result["area"] == mask.sum() and result["score"] == pytest.approx(float(score))
    assert results[0]["bbox"] == [5.0, 5.0, 20.0, 15.0]
    path = tmp_path / "instances.json"
    save_instances_json(path, instances)
    assert json.loads(path.read_text())[1]["segmentation"]["counts"] == results[1]["segmentation"]["counts"]


def test_keypoints_json_carries_the_identity_note(tmp_path) -> None:
    pose = PoseKeypoints(points=np.array([[1.5, 2.0]], np.float32), scores=np.array([0.8], np.float32))
    path = tmp_path / "pose.json"
    save_keypoints_json(path, pose, (48, 64))  # (height, width)
    record = json.loads(path.read_text())
    assert record["points"] == [[1.5, 2.0]] and record["image_size"] == {"height": 48, "width": 64}
    assert record["note"] == PoseKeypoints.IDENTITY_NOTE


def test_mask_png_is_8_bit_0_255(tmp_path) -> None:
    mask = np.zeros((6, 8), dtype=bool)
    mask[1:3, 2:5] = True
    path = tmp_path / "mask.png"
    save_mask_png(path, mask)
    loaded = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert loaded.dtype == np.uint8 and loaded.shape == (6, 8)
    np.testing.assert_array_equal(loaded, mask.astype(np.uint8) * 255)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda p: save_depth_png16(p, np.zeros((2, 2, 3), np.float32)), "disparity"),
        (lambda p: write_ply(p, np.zeros((3, 2), np.float32), np.zeros((3, 2), np.uint8)), "xyz"),
        (lambda p: depth_to_point_cloud(np.zeros((4, 4), np.float32), np.zeros((4, 5, 3), np.uint8)), "image"),
        (lambda p: depth_to_point_cloud(np.zeros((4, 4)), np.zeros((4, 4, 3), np.uint8), near_far_ratio=1.0),
         "near_far_ratio"),
        (lambda p: save_mask_png(p, np.zeros((4, 4), np.uint8)), "mask"),
        (lambda p: save_keypoints_json(p, PoseKeypoints(np.zeros((0, 2)), np.zeros(0)), (0, 5)), "image_size"),
    ],
)
def test_bad_export_inputs_raise_value_error(tmp_path, call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call(tmp_path / "out")
