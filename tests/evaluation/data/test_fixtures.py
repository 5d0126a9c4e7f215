"""Real benchmark samples from ../shared/fixtures through the converters; skipped cleanly when absent."""

from __future__ import annotations

import json

import numpy as np
import pytest

from evaluation.data import PreparedDataset, run_prepare
from evaluation.data.prepare import prepare

# KITTI's Garg/Eigen-benchmark crop (KB crop): the bottom 352 rows and the central 1216 columns.
KB_HEIGHT, KB_WIDTH = 352, 1216


@pytest.fixture(scope="module")
def prepared(shared_fixtures, tmp_path_factory):
    """Each fixture folder converted once: {name: (manifest, dataset)}."""
    out = tmp_path_factory.mktemp("prepared")
    runs = {
        "sa1b": lambda: run_prepare("sa1b", shared_fixtures / "sa1b", out / "sa1b", progress=False),
        "nyuv2": lambda: run_prepare(
            "depth/nyuv2", shared_fixtures / "nyuv2", out / "nyuv2", annotations="test_annotations.json",
            progress=False,
        ),
        "kitti": lambda: run_prepare(
            "kitti", shared_fixtures / "kitti", out / "kitti", annotations="test_annotations.json", progress=False
        ),
        "tartanair": lambda: run_prepare(
            # DSINE's layout (<id>_img.png + <id>_normal.png); the fixture README states DSINE's frame.
            "normal/nyuv2", shared_fixtures / "tartanair_normal", out / "tartanair", source_frame="dsine",
            progress=False,
        ),
    }
    cache = {}

    def get(name: str):
        if name not in cache:
            manifest = runs[name]()
            cache[name] = (manifest, PreparedDataset(out / name))
        return cache[name]

    return get


def test_sa1b_masks_decode_to_the_image_size_with_the_json_areas(prepared, shared_fixtures) -> None:
    manifest, dataset = prepared("sa1b")
    assert manifest.failures == [] and len(manifest.samples) == 7
    portrait = 0
    for sample in dataset:
        native = json.loads((shared_fixtures / "sa1b" / f"{sample.sample_id}.json").read_text())
        assert (sample.height, sample.width) == (native["image"]["height"], native["image"]["width"])
        assert min(sample.height, sample.width) == 1500
        portrait += sample.height > sample.width
        expected = {str(a["id"]): a["area"] for a in native["annotations"]}
        assert {m.mask_id: m.area for m in sample.masks} == expected
        assert 21 <= len(sample.masks) <= 146
        for record in sample.masks[:3]:  # decoding every mask would only slow the test down
            mask = record.decode()
            assert mask.shape == (sample.height, sample.width)
            assert int(mask.sum()) == expected[record.mask_id]
            x, y, w, h = record.bbox
            assert mask[int(y): int(y + h), int(x): int(x + w)].sum() == mask.sum()
        assert sample.load_image().shape == (sample.height, sample.width, 3)
    assert portrait == 2
    assert dataset.read_failures == []


def test_nyuv2_depth_in_metres_within_ten(prepared) -> None:
    manifest, dataset = prepared("nyuv2")
    assert manifest.failures == [] and len(manifest.samples) == 3
    assert {s.extra["depth_scale"] for s in manifest.samples} == {1000.0}
    for sample in dataset:
        assert sample.depth.shape == (480, 640) == sample.load_image().shape[:2]
        valid_depth = sample.depth[sample.valid]
        assert valid_depth.min() > 0 and valid_depth.max() <= 10
        assert 0.5 < valid_depth.mean() < 10
        eigen = sample.valid[45:471, 41:601]  # the Eigen crop holds most of the ground truth
        assert eigen.mean() > 0.8


def test_kitti_depth_is_sparse_lidar_inside_the_kb_crop(prepared) -> None:
    manifest, dataset = prepared("kitti")
    assert manifest.failures == [] and len(manifest.samples) == 3
    assert {s.extra["depth_scale"] for s in manifest.samples} == {256.0}
    for sample in dataset:
        height, width = sample.depth.shape
        assert (height, width) == (375, 1242)
        assert sample.valid.mean() < 0.3  # most pixels have no LiDAR return
        top, left = height - KB_HEIGHT, (width - KB_WIDTH) // 2
        assert sample.valid[:top].sum() == 0  # the KB crop drops only rows without ground truth
        inside = sample.valid[top:, left:left + KB_WIDTH].sum()
        assert inside > 0.999 * sample.valid.sum()  # a handful of returns fall in the 13-column side margins
        valid_depth = sample.depth[sample.valid]
        assert valid_depth.min() > 1 and valid_depth.max() < 90


def test_tartanair_normals_unit_length_facing_the_camera(prepared, shared_fixtures) -> None:
    manifest, dataset = prepared("tartanair")
    assert manifest.normal_frame == "x_left_y_up_z_viewer"
    assert manifest.samples[0].extra["normal_encoding"] == "png_u8"
    (sample,) = list(dataset)
    norms = np.linalg.norm(sample.normals[sample.valid], axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=1e-5)
    assert (sample.normals[sample.valid][:, 2] > 0).mean() > 0.85  # z towards the camera in DSINE's frame
    # The invalid (black) normals are the sky, where the depth map holds its far value.
    depth = np.load(shared_fixtures / "tartanair_normal" / "000000_depth.npy")
    assert ((depth < 1000) == sample.valid).mean() > 0.99


def test_coco_polygons_rasterise_to_their_annotated_area(shared_fixtures, tmp_path) -> None:
    source = shared_fixtures / "coco_pose"
    manifest = prepare("coco_json", source, tmp_path / "coco", annotations="test_coco.json", images=".")
    native = json.loads((source / "test_coco.json").read_text())
    areas = {str(a["id"]): a["area"] for a in native["annotations"] if not a["iscrowd"]}
    assert manifest.n_masks == len(areas) and manifest.failures == []
    for entry in manifest.samples:
        for mask_id, area in zip(entry.extra["mask_ids"], entry.extra["mask_areas"], strict=True):
            assert abs(area - areas[mask_id]) <= max(0.05 * areas[mask_id], 10)
