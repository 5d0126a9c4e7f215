"""Converters on known-answer fixtures: tiny native files whose masks, depths and normals are written out here."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
from PIL import Image

import evaluation.data.prepare as prepare_module
from diception_spec.tasks import Task
from evaluation.data import CorruptSampleError, PreparedDataset, run_prepare
from evaluation.data.converters import CONVERTERS, ade20k_decode, get_converter
from evaluation.data.format import MANIFEST_NAME, Manifest
from evaluation.data.prepare import prepare

# ----------------------------------------------------------------------------------------------- helpers


def _image(path, height: int, width: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(path)


def _png(path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _masks_by_id(folder) -> dict[str, dict[str, tuple[np.ndarray, object]]]:
    """{sample id: {mask id: (mask as uint8 array, category)}} read back through the reader."""
    result = {}
    for sample in PreparedDataset(folder):
        result[sample.sample_id] = {m.mask_id: (m.decode().astype(np.uint8), m.category_id) for m in sample.masks}
    return result


# ----------------------------------------------------------------------------------------------- segmentation


def test_ade20k_seg_png_classes_from_rg_instances_from_b(tmp_path) -> None:
    # class = R // 10 * 256 + G; class 2 is (R 0, G 2); class 300 is (R 10, G 44) since 256 + 44 = 300.
    r = np.array([[0, 0, 0, 10, 10, 0],
                  [0, 0, 0, 10, 10, 0],
                  [0, 0, 0, 0, 0, 0],
                  [0, 0, 0, 0, 0, 0]], np.uint8)
    g = np.array([[2, 2, 2, 44, 44, 0],
                  [2, 2, 2, 44, 44, 0],
                  [2, 2, 0, 0, 0, 0],
                  [2, 2, 0, 0, 0, 0]], np.uint8)
    b = np.array([[1, 1, 2, 3, 3, 5],   # B 5 on class 0: no instance
                  [1, 1, 2, 3, 3, 5],
                  [1, 0, 0, 0, 0, 0],   # class 2 with B 0: no instance
                  [1, 1, 0, 0, 0, 0]], np.uint8)
    _png(tmp_path / "ADE" / "validation" / "ADE_val_00000001_seg.png", np.stack([r, g, b], axis=2))
    _image(tmp_path / "ADE" / "validation" / "ADE_val_00000001.jpg", 4, 6)
    classes, _ = ade20k_decode(np.stack([r, g, b], axis=2))
    assert classes[0, 0] == 2 and classes[0, 3] == 300 and classes[0, 5] == 0

    manifest = run_prepare("ADE20K", tmp_path, tmp_path / "out", progress=False)
    assert manifest.failures == [] and manifest.n_masks == 3
    masks = _masks_by_id(tmp_path / "out")["ADE_val_00000001"]
    by_category = sorted((int(c), m.tolist()) for m, c in masks.values())
    assert by_category == [
        (2, [[0, 0, 1, 0, 0, 0],
             [0, 0, 1, 0, 0, 0],
             [0, 0, 0, 0, 0, 0],
             [0, 0, 0, 0, 0, 0]]),
        (2, [[1, 1, 0, 0, 0, 0],
             [1, 1, 0, 0, 0, 0],
             [1, 0, 0, 0, 0, 0],
             [1, 1, 0, 0, 0, 0]]),
        (300, [[0, 0, 0, 1, 1, 0],
               [0, 0, 0, 1, 1, 0],
               [0, 0, 0, 0, 0, 0],
               [0, 0, 0, 0, 0, 0]]),
    ]
    assert sorted(manifest.samples[0].extra["mask_areas"]) == [2, 4, 7]


def test_cityscapes_instance_ids_things_only(tmp_path) -> None:
    # 7 = road (stuff), 26 = car pixels without an instance, 26000 / 26001 = car 0 / 1, 24000 = person 0.
    ids = np.array([[7, 7, 26000, 26000, 26001],
                    [7, 26, 26000, 26001, 26001],
                    [24000, 24000, 7, 7, 26]], np.uint16)
    _png(tmp_path / "gtFine" / "val" / "frankfurt" / "frankfurt_000000_000294_gtFine_instanceIds.png", ids)
    _image(tmp_path / "leftImg8bit" / "val" / "frankfurt" / "frankfurt_000000_000294_leftImg8bit.png", 3, 5)

    manifest = run_prepare("Cityscapes", tmp_path, tmp_path / "out", progress=False)
    assert [s.sample_id for s in manifest.samples] == ["frankfurt_000000_000294"]
    masks = _masks_by_id(tmp_path / "out")["frankfurt_000000_000294"]
    assert set(masks) == {"26000", "26001", "24000"}
    assert masks["26000"][0].tolist() == [[0, 0, 1, 1, 0], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0]]
    assert masks["26001"][0].tolist() == [[0, 0, 0, 0, 1], [0, 0, 0, 1, 1], [0, 0, 0, 0, 0]]
    assert masks["24000"][0].tolist() == [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0], [1, 1, 0, 0, 0]]
    assert {k: c for k, (_, c) in masks.items()} == {"26000": 26, "26001": 26, "24000": 24}


def test_instance_id_png_with_ignore_ids_and_ppdls_layout(tmp_path) -> None:
    labels = np.array([[0, 3, 3, 0],
                       [0, 3, 7, 7],
                       [0, 0, 7, 255]], np.uint8)
    _png(tmp_path / "A1" / "plant001_label.png", labels)
    _image(tmp_path / "A1" / "plant001_rgb.png", 3, 4)

    manifest = run_prepare("PPDLS", tmp_path, tmp_path / "out", progress=False)
    masks = _masks_by_id(tmp_path / "out")["plant001"]
    assert set(masks) == {"3", "7", "255"} and manifest.n_masks == 3
    assert masks["3"][0].tolist() == [[0, 1, 1, 0], [0, 1, 0, 0], [0, 0, 0, 0]]
    assert masks["7"][0].tolist() == [[0, 0, 0, 0], [0, 0, 1, 1], [0, 0, 1, 0]]

    manifest = run_prepare(
        "PPDLS", tmp_path, tmp_path / "out2", ignore_ids=(0, 255), min_area=3, progress=False
    )
    assert _masks_by_id(tmp_path / "out2")["plant001"].keys() == {"3", "7"}
    manifest = run_prepare("PPDLS", tmp_path, tmp_path / "out3", ignore_ids=(0, 255), min_area=4, progress=False)
    assert manifest.samples == [] and manifest.stats["images_without_masks"] == 1  # both masks have 3 pixels


def test_coco_json_polygon_rle_and_crowd(tmp_path) -> None:
    _image(tmp_path / "images" / "000001.jpg", 6, 8)
    _image(tmp_path / "images" / "000002.jpg", 6, 8)
    data = {
        "images": [
            {"id": 1, "file_name": "000001.jpg", "height": 6, "width": 8},
            {"id": 2, "file_name": "000002.jpg", "height": 6, "width": 8},
            {"id": 3, "file_name": "000003.jpg", "height": 6, "width": 8},  # listed, but the file is missing
        ],
        "annotations": [
            # Polygon (x, y) corners (1, 1) (4, 1) (4, 3) (1, 3): pycocotools fills columns 1-3 of rows 1-2.
            {"id": 10, "image_id": 1, "category_id": 5, "iscrowd": 0, "segmentation": [[1, 1, 4, 1, 4, 3, 1, 3]]},
            # Uncompressed RLE, column-major: 7 off (column 0 and the top of column 1), 3 on, 3 off, 3 on, 32 off.
            {"id": 11, "image_id": 1, "category_id": 6, "iscrowd": 0,
             "segmentation": {"size": [6, 8], "counts": [7, 3, 3, 3, 32]}},
            # Compressed RLE of rows 2-4, columns 5-6.
            {"id": 12, "image_id": 2, "category_id": 5, "iscrowd": 0,
             "segmentation": {"size": [6, 8], "counts": "P13304"}},
            {"id": 13, "image_id": 2, "category_id": 5, "iscrowd": 1,
             "segmentation": {"size": [6, 8], "counts": [0, 48]}},
            {"id": 14, "image_id": 3, "category_id": 5, "iscrowd": 0, "segmentation": [[0, 0, 2, 0, 2, 2]]},
        ],
        "categories": [{"id": 5, "name": "log"}, {"id": 6, "name": "stone"}],
    }
    (tmp_path / "instances.json").write_text(json.dumps(data))

    manifest = run_prepare("TimberSeg", tmp_path, tmp_path / "out", progress=False)
    assert [(f.sample_id, f.reason.split(":")[0]) for f in manifest.failures] == [("000003", "missing file")]
    assert manifest.stats["crowd_masks_excluded"] == 1
    masks = _masks_by_id(tmp_path / "out")
    assert masks["000001"]["10"][0].tolist() == [
        [0, 0, 0, 0, 0, 0, 0, 0],
        [0, 1, 1, 1, 0, 0, 0, 0],
        [0, 1, 1, 1, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
    ]
    assert masks["000001"]["11"][0].tolist() == [
        [0, 0, 0, 0, 0, 0, 0, 0],
        [0, 1, 1, 0, 0, 0, 0, 0],
        [0, 1, 1, 0, 0, 0, 0, 0],
        [0, 1, 1, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
    ]
    assert masks["000002"].keys() == {"12"}  # the crowd mask is excluded
    assert masks["000002"]["12"][0].tolist() == [
        [0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 1, 1, 0],
        [0, 0, 0, 0, 0, 1, 1, 0],
        [0, 0, 0, 0, 0, 1, 1, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
    ]
    assert masks["000001"]["10"][1] == 5 and masks["000001"]["11"][1] == 6
    # The mask file keeps bbox and area per mask.
    stored = json.loads((tmp_path / "out" / "masks" / "000001.json").read_text())
    assert [(m["id"], m["area"], m["bbox"]) for m in stored["masks"]] == [
        ("10", 6, [1.0, 1.0, 3.0, 2.0]), ("11", 6, [1.0, 1.0, 2.0, 3.0])
    ]

    with_crowd = prepare("coco_json", tmp_path, tmp_path / "crowd", include_crowd=True)
    assert with_crowd.n_masks == 4


def test_lvis_json_names_images_by_coco_url(tmp_path) -> None:
    _image(tmp_path / "coco" / "val2017" / "000000000139.jpg", 6, 8)
    data = {
        "images": [{"id": 139, "coco_url": "http://images.cocodataset.org/val2017/000000000139.jpg",
                    "height": 6, "width": 8}],
        "annotations": [{"id": 1, "image_id": 139, "category_id": 3, "segmentation": [[1, 1, 4, 1, 4, 3, 1, 3]]}],
    }
    (tmp_path / "lvis_v1_val.json").write_text(json.dumps(data))
    manifest = run_prepare("LVIS", tmp_path, tmp_path / "out", images="coco", progress=False)
    assert [s.sample_id for s in manifest.samples] == ["000000000139"]
    assert manifest.samples[0].extra["mask_areas"] == [6]


def test_sa1b_json_rle(tmp_path) -> None:
    _image(tmp_path / "sa_1.jpg", 6, 8)
    data = {
        "image": {"image_id": 1, "width": 8, "height": 6, "file_name": "sa_1.jpg"},
        "annotations": [{"id": 99, "area": 6, "segmentation": {"size": [6, 8], "counts": "P13304"}}],
    }
    (tmp_path / "sa_1.json").write_text(json.dumps(data))
    manifest = run_prepare("sa1b", tmp_path, tmp_path / "out", progress=False)
    mask = _masks_by_id(tmp_path / "out")["sa_1"]["99"][0]
    assert mask.sum() == 6 and mask[2:5, 5:7].all()
    assert manifest.samples[0].extra == {"mask_ids": ["99"], "mask_areas": [6]}


def test_ytvis_json_each_frame_is_an_image(tmp_path) -> None:
    for frame in ("img_0000001", "img_0000002", "img_0000003"):
        _image(tmp_path / "JPEGImages" / "v1" / f"{frame}.jpg", 6, 8)
    data = {
        "videos": [{"id": 1, "height": 6, "width": 8,
                    "file_names": ["v1/img_0000001.jpg", "v1/img_0000002.jpg", "v1/img_0000003.jpg"]}],
        "annotations": [
            {"id": 7, "video_id": 1, "category_id": 2, "iscrowd": 0,
             "segmentations": [{"size": [6, 8], "counts": "P13304"}, None, [[1, 1, 4, 1, 4, 3, 1, 3]]]},
            {"id": 8, "video_id": 1, "category_id": 3, "iscrowd": 0,
             "segmentations": [None, None, {"size": [6, 8], "counts": [7, 3, 3, 3, 32]}]},
        ],
    }
    (tmp_path / "annotations_train.json").write_text(json.dumps(data))
    manifest = run_prepare("OVIS", tmp_path, tmp_path / "out", progress=False)
    assert [s.sample_id for s in manifest.samples] == ["v1_img_0000001", "v1_img_0000003"]
    assert manifest.stats["images_without_masks"] == 1
    masks = _masks_by_id(tmp_path / "out")
    assert masks["v1_img_0000001"].keys() == {"7"} and masks["v1_img_0000001"]["7"][0][2:5, 5:7].all()
    assert {k: (int(m.sum()), c) for k, (m, c) in masks["v1_img_0000003"].items()} == {"7": (6, 2), "8": (6, 3)}


def test_via_json_polygons_and_rects(tmp_path) -> None:
    _image(tmp_path / "dolphin_1.jpg", 6, 8)
    regions = [
        {"shape_attributes": {"name": "polygon", "all_points_x": [1, 4, 4, 1], "all_points_y": [1, 1, 3, 3]},
         "region_attributes": {"species": "BND"}},
        {"shape_attributes": {"name": "rect", "x": 5, "y": 2, "width": 2, "height": 3}, "region_attributes": {}},
        {"shape_attributes": {"name": "point", "cx": 3, "cy": 3}, "region_attributes": {}},
    ]
    data = {"dolphin_1.jpg12345": {"filename": "dolphin_1.jpg", "size": 12345, "regions": regions}}
    (tmp_path / "via_region_data.json").write_text(json.dumps(data))
    manifest = run_prepare("NDD20", tmp_path, tmp_path / "out", progress=False)
    assert manifest.stats["regions_not_areas"] == 1
    masks = _masks_by_id(tmp_path / "out")["dolphin_1"]
    assert masks["0"][0][1:3, 1:4].all() and masks["0"][0].sum() == 6  # as COCO fills the same polygon
    assert masks["1"][0].tolist() == [
        [0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, 1, 1, 0],
        [0, 0, 0, 0, 0, 1, 1, 0],
        [0, 0, 0, 0, 0, 1, 1, 0],
        [0, 0, 0, 0, 0, 0, 0, 0],
    ]


def test_per_object_pngs_and_a_bad_mask_fails_only_its_sample(tmp_path) -> None:
    good = tmp_path / "aaa"
    _image(good / "images" / "aaa.png", 3, 4)
    _png(good / "masks" / "m1.png", np.array([[255, 255, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], np.uint8))
    _png(good / "masks" / "m2.png", np.array([[0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 1]], np.uint8))
    bad = tmp_path / "bbb"
    _image(bad / "images" / "bbb.png", 3, 4)
    _png(bad / "masks" / "m1.png", np.ones((5, 5), np.uint8))  # wrong size
    manifest = run_prepare("BBBC038v1", tmp_path, tmp_path / "out", progress=False)
    assert [s.sample_id for s in manifest.samples] == ["aaa"]
    assert manifest.failures[0].sample_id == "bbb" and "5x5" in manifest.failures[0].reason
    masks = _masks_by_id(tmp_path / "out")["aaa"]
    assert masks["m1"][0].tolist() == [[1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    assert masks["m2"][0].tolist() == [[0, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 1]]


def test_missing_and_corrupt_label_files_are_reported_and_the_run_goes_on(tmp_path) -> None:
    for key in ("a", "b", "c"):
        _image(tmp_path / "images" / f"{key}.png", 2, 2)
    _png(tmp_path / "labels" / "a.png", np.array([[0, 1], [1, 1]], np.uint8))
    (tmp_path / "labels" / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    _png(tmp_path / "labels" / "d.png", np.array([[0, 1], [1, 1]], np.uint8))  # no image d
    _png(tmp_path / "labels" / "e.png", np.array([[0, 1], [1, 1]], np.uint8))
    _image(tmp_path / "images" / "e.jpg", 16, 16)
    jpeg = (tmp_path / "images" / "e.jpg").read_bytes()
    (tmp_path / "images" / "e.jpg").write_bytes(jpeg[: len(jpeg) // 2])  # truncated image
    manifest = run_prepare("iShape", tmp_path, tmp_path / "out", progress=False)
    assert [s.sample_id for s in manifest.samples] == ["a"]
    reasons = {f.sample_id: f.reason for f in manifest.failures}
    assert reasons.keys() == {"b", "d", "e"}
    assert reasons["d"].startswith("missing file") and "corrupt" in reasons["b"] and "corrupt" in reasons["e"]
    assert json.loads((tmp_path / "out" / MANIFEST_NAME).read_text())["counts"]["failures"] == 3
    assert not (tmp_path / "out" / "images" / "e.jpg").exists()  # nothing written for a failed sample


def test_image_companions_are_image_files_and_patterns_are_checked(tmp_path) -> None:
    _png(tmp_path / "labels" / "a.png", np.array([[0, 1]], np.uint8))
    _image(tmp_path / "images" / "a.png", 1, 2)
    (tmp_path / "images" / "a.txt").write_text("a caption, not an image")
    manifest = run_prepare("EgoHOS", tmp_path, tmp_path / "out", progress=False)
    assert [s.sample_id for s in manifest.samples] == ["a"] and manifest.failures == []
    with pytest.raises(ValueError, match=r"images: pattern .* uses \{scene\}"):
        run_prepare("EgoHOS", tmp_path, tmp_path / "out2", images="{scene}/{key}.png", progress=False)


def test_subsampling_through_prepare_is_deterministic_and_recorded(tmp_path) -> None:
    for i in range(12):
        _image(tmp_path / "images" / f"img{i:02d}.png", 2, 3)
        labels = np.array([[1, 2, 0], [0, 0, 0]], np.uint8) if i % 2 else np.array([[1, 0, 0], [0, 0, 0]], np.uint8)
        _png(tmp_path / "labels" / f"img{i:02d}.png", labels)
    kwargs = {"seed": 3, "max_masks": 15, "target_masks": 6, "progress": False}  # 18 masks > 15
    first = run_prepare("IBD", tmp_path, tmp_path / "one", **kwargs)
    second = run_prepare("IBD", tmp_path, tmp_path / "two", **kwargs)
    assert [s.sample_id for s in first.samples] == [s.sample_id for s in second.samples]
    record = Manifest.read(tmp_path / "one").subsampling
    assert record["seed"] == 3 and record["original_images"] == 12 and record["original_masks"] == 18
    assert record["kept_images"] == len(first.samples) and record["kept_masks"] == first.n_masks
    assert 6 <= first.n_masks <= 7
    other = run_prepare("IBD", tmp_path, tmp_path / "three", **{**kwargs, "seed": 4})
    assert {s.sample_id for s in other.samples} != {s.sample_id for s in first.samples}
    untouched = run_prepare("IBD", tmp_path, tmp_path / "all", progress=False)
    assert untouched.subsampling is None and untouched.n_masks == 18


# ----------------------------------------------------------------------------------------------- depth


def test_kitti_depth_png_values_over_256_are_metres(tmp_path) -> None:
    raw = np.array([[0, 256, 512], [1280, 0, 65535]], np.uint16)
    _png(tmp_path / "depth" / "0000000005.png", raw)
    _image(tmp_path / "images" / "0000000005.png", 2, 3)
    expected = [[0.0, 1.0, 2.0], [5.0, 0.0, 255.99609375]]
    for keep_png, folder in ((True, "kept"), (False, "npy")):
        manifest = run_prepare("kitti", tmp_path, tmp_path / folder, keep_png=keep_png, progress=False)
        entry = manifest.samples[0]
        assert entry.extra["depth_encoding"] == ("png_u16" if keep_png else "npy")
        (sample,) = PreparedDataset(tmp_path / folder)
        assert sample.depth.dtype == np.float32
        assert sample.depth.tolist() == expected
        assert sample.valid.tolist() == [[False, True, True], [True, False, True]]
    assert manifest.samples[0].extra["valid_pixels"] == 4
    assert (tmp_path / "kept" / "depth" / "0000000005.png").read_bytes() == (
        tmp_path / "depth" / "0000000005.png"
    ).read_bytes()


def test_nyuv2_depth_from_a_pairs_file_and_a_missing_depth(tmp_path) -> None:
    _png(tmp_path / "test" / "depth_0001.png", np.array([[1000, 2500], [0, 9999]], np.uint16))
    _image(tmp_path / "test" / "rgb_0001.png", 2, 2)
    _image(tmp_path / "test" / "rgb_0002.png", 2, 2)
    (tmp_path / "split.txt").write_text(
        "test/rgb_0001.png test/depth_0001.png 518.8579\n"
        "test/rgb_0002.png test/depth_0002.png 518.8579\n"  # depth file missing
        "test/rgb_0003.png None 518.8579\n"  # no ground truth: not a sample
    )
    manifest = run_prepare("depth/nyuv2", tmp_path, tmp_path / "out", pairs="split.txt", progress=False)
    assert [s.sample_id for s in manifest.samples] == ["test_depth_0001"]
    assert [f.sample_id for f in manifest.failures] == ["test_depth_0002"]
    assert manifest.failures[0].reason.startswith("missing file")
    (sample,) = PreparedDataset(tmp_path / "out")
    np.testing.assert_allclose(sample.depth, [[1.0, 2.5], [0.0, 9.999]], rtol=1e-6)


def test_depth_image_size_mismatch_fails_the_sample(tmp_path) -> None:
    _png(tmp_path / "depth" / "x.png", np.ones((2, 3), np.uint16))
    _image(tmp_path / "images" / "x.png", 3, 3)
    manifest = run_prepare("depth/scannet", tmp_path, tmp_path / "out", progress=False)
    assert manifest.samples == [] and "2x3" in manifest.failures[0].reason


def test_diode_npy_depth_and_mask(tmp_path) -> None:
    scan = tmp_path / "val" / "indoors" / "scene_00019" / "scan_00183"
    _image(scan / "00019_00183_indoors_000_010.png", 2, 3)
    np.save(scan / "00019_00183_indoors_000_010_depth.npy", np.array([[[1.5], [2.0], [0.0]], [[3.25], [4.0], [5.0]]],
                                                                      np.float32))
    np.save(scan / "00019_00183_indoors_000_010_depth_mask.npy", np.array([[1, 1, 1], [0, 1, 1]], np.float32))
    manifest = run_prepare("diode", tmp_path, tmp_path / "out", progress=False)
    assert manifest.failures == []
    (sample,) = PreparedDataset(tmp_path / "out")
    assert sample.depth.tolist() == [[1.5, 2.0, 0.0], [0.0, 4.0, 5.0]]
    assert sample.valid.tolist() == [[True, True, False], [False, True, True]]  # the mask, and depth 0 invalid


def test_eth3d_raw_float_with_inf(tmp_path) -> None:
    depth_dir = tmp_path / "courtyard" / "ground_truth_depth" / "dslr_images"
    depth_dir.mkdir(parents=True)
    np.array([[1.25, np.inf, 3.0], [0.5, 7.0, np.inf]], "<f4").tofile(depth_dir / "DSC_0286.JPG")
    _image(tmp_path / "courtyard" / "images" / "dslr_images" / "DSC_0286.JPG", 2, 3)
    (depth_dir / "DSC_0287.JPG").write_bytes(b"\x00" * 8)  # truncated raw file
    _image(tmp_path / "courtyard" / "images" / "dslr_images" / "DSC_0287.JPG", 2, 3)
    manifest = run_prepare("eth3d", tmp_path, tmp_path / "out", height=2, width=3, progress=False)
    assert [f.sample_id for f in manifest.failures] == ["courtyard_DSC_0287.JPG"]
    (sample,) = PreparedDataset(tmp_path / "out")
    assert sample.sample_id == "courtyard_DSC_0286.JPG"
    assert sample.depth.tolist() == [[1.25, 0.0, 3.0], [0.5, 7.0, 0.0]]
    assert sample.valid.tolist() == [[True, False, True], [True, True, False]]


def test_sintel_dpt_header_and_values(tmp_path) -> None:
    depth_dir = tmp_path / "training" / "depth" / "alley_1"
    depth_dir.mkdir(parents=True)
    header = np.array([202021.25], "<f4").tobytes() + np.array([3, 2], "<i4").tobytes()  # width 3, height 2
    values = np.array([[1.0, 2.5, np.nan], [4.0, 0.25, 1e3]], "<f4")
    (depth_dir / "frame_0001.dpt").write_bytes(header + values.tobytes())
    (depth_dir / "frame_0002.dpt").write_bytes(b"XXXX" + header[4:] + values.tobytes())  # wrong tag
    for frame in ("frame_0001", "frame_0002"):
        _image(tmp_path / "training" / "final" / "alley_1" / f"{frame}.png", 2, 3)
    manifest = run_prepare("depth/sintel", tmp_path, tmp_path / "out", progress=False)
    assert [f.sample_id for f in manifest.failures] == ["alley_1_frame_0002"]
    (sample,) = PreparedDataset(tmp_path / "out")
    assert sample.depth.tolist() == [[1.0, 2.5, 0.0], [4.0, 0.25, 1000.0]]
    assert sample.valid.tolist() == [[True, True, False], [True, True, True]]


# ----------------------------------------------------------------------------------------------- normals


def test_normals_png_decoding_validity_and_frame(tmp_path) -> None:
    # rgb = (n + 1) / 2 * 255: (255, 128, 128) is about +x, (128, 128, 255) about +z, black is invalid.
    rgb = np.array([[[255, 128, 128], [128, 128, 255], [0, 0, 0]]], np.uint8)
    _png(tmp_path / "kitchen_0001" / "0001_normal.png", rgb)  # DSINE's evaluation layout
    _image(tmp_path / "kitchen_0001" / "0001_img.png", 1, 3)
    run_prepare("normal/nyuv2", tmp_path, tmp_path / "kept", source_frame="marigold", progress=False)
    (sample,) = PreparedDataset(tmp_path / "kept")
    assert sample.frame == "x_right_y_up_z_viewer"
    assert sample.valid.tolist() == [[True, True, False]]
    np.testing.assert_allclose(sample.normals[0, 0], [1, 0, 0], atol=0.01)
    np.testing.assert_allclose(sample.normals[0, 1], [0, 0, 1], atol=0.01)
    np.testing.assert_array_equal(sample.normals[0, 2], [0, 0, 0])
    np.testing.assert_allclose(np.linalg.norm(sample.normals[0, :2], axis=1), 1, atol=1e-6)

    manifest = run_prepare("normal/nyuv2", tmp_path, tmp_path / "dsine", source_frame="marigold", frame="dsine",
                           progress=False)
    assert manifest.samples[0].extra["normal_encoding"] == "npy"
    (flipped,) = PreparedDataset(tmp_path / "dsine")
    assert flipped.frame == "x_left_y_up_z_viewer"
    np.testing.assert_allclose(flipped.normals[0, 0], [-1, 0, 0], atol=0.01)


def test_normals_need_a_stated_frame(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(prepare_module, "_spec_facts", lambda task, name: {})  # a registry that states no frame
    with pytest.raises(ValueError, match="source_frame"):
        run_prepare("normal/scannet", tmp_path, tmp_path / "out", progress=False)
    with pytest.raises(ValueError, match="only normal benchmarks take a frame"):
        run_prepare("depth/scannet", tmp_path, tmp_path / "out", frame="dsine", progress=False)


def test_the_registry_states_the_frame_and_version_when_it_knows_the_benchmark(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(prepare_module, "_spec_facts", lambda task, name: {"spec_version": "7", "frame": "dsine"})
    _png(tmp_path / "0001_normal.png", np.array([[[255, 128, 128]]], np.uint8))
    _image(tmp_path / "0001_img.png", 1, 1)
    manifest = run_prepare("normal/scannet", tmp_path, tmp_path / "out", progress=False)
    assert manifest.normal_frame == "x_left_y_up_z_viewer" and manifest.spec_version == "7"


def test_normals_npy_channels_first_with_mask(tmp_path) -> None:
    normals = np.zeros((3, 1, 2), np.float32)  # [3, H, W]
    normals[:, 0, 0] = [0.0, 0.0, 2.0]  # not unit: normalised
    normals[:, 0, 1] = [0.0, 1.0, 0.0]
    np.save(tmp_path / "a_normal.npy", normals)
    np.save(tmp_path / "a_normal_mask.npy", np.array([[True, False]]))
    _image(tmp_path / "a.png", 1, 2)
    manifest = run_prepare(
        "diode_indoor", tmp_path, tmp_path / "out", source_frame="opencv", normals="{key}_normal.npy",
        images="{key}.png", mask="{key}_normal_mask.npy", progress=False,
    )
    assert manifest.failures == []
    (sample,) = PreparedDataset(tmp_path / "out")
    assert sample.valid.tolist() == [[True, False]]
    assert sample.normals.tolist() == [[[0.0, 0.0, 1.0], [0.0, 0.0, 0.0]]]


def _exr_support() -> str | None:
    os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")
    try:
        import cv2
    except ImportError:
        return "OpenCV is not installed"
    probe = np.zeros((1, 1, 3), np.float32)
    try:
        ok, _ = cv2.imencode(".exr", probe)
    except cv2.error as error:
        return f"OpenCV cannot write EXR here: {error}"
    return None if ok else "OpenCV cannot write EXR here"


def test_normals_exr_vectors_in_rgb_order(tmp_path) -> None:
    reason = _exr_support()
    if reason:
        pytest.skip(reason)
    import cv2

    vectors = np.array([[[0.0, 0.6, 0.8], [0.1, 0.1, 0.1]]], np.float32)  # second: |n| < 0.5, invalid (iBims)
    assert cv2.imwrite(str(tmp_path / "s1_normal.exr"), vectors[..., ::-1].copy())  # OpenCV writes BGR
    _image(tmp_path / "s1_img.png", 1, 2)
    run_prepare("ibims", tmp_path, tmp_path / "out", source_frame="marigold", progress=False)
    (sample,) = PreparedDataset(tmp_path / "out")
    assert sample.valid.tolist() == [[True, False]]
    np.testing.assert_allclose(sample.normals[0, 0], [0.0, 0.6, 0.8], atol=1e-6)


# ----------------------------------------------------------------------------------------------- reader, registry


def test_reader_reports_a_corrupted_or_missing_file_and_goes_on(tmp_path) -> None:
    for key in ("a", "b", "c"):
        _png(tmp_path / "depth" / f"{key}.png", np.full((2, 2), 1000, np.uint16))
        _image(tmp_path / "images" / f"{key}.png", 2, 2)
    run_prepare("depth/scannet", tmp_path, tmp_path / "out", progress=False)
    depth_b = tmp_path / "out" / "depth" / "b.png"
    data = bytearray(depth_b.read_bytes())
    data[-20] ^= 0xFF
    depth_b.write_bytes(bytes(data))
    (tmp_path / "out" / "images" / "c.png").unlink()

    dataset = PreparedDataset(tmp_path / "out")
    assert [s.sample_id for s in dataset] == ["a"]
    reasons = {f.sample_id: f.reason for f in dataset.read_failures}
    assert reasons == {"b": "checksum mismatch: depth/b.png", "c": "missing file: images/c.png"}
    assert [s.sample_id for s in dataset] == ["a"] and len(dataset.read_failures) == 2  # a second pass: same
    with pytest.raises(CorruptSampleError, match="checksum mismatch"):
        dataset.load("b")
    unverified = PreparedDataset(tmp_path / "out", verify=False)
    assert [s.sample_id for s in unverified] == ["a"]
    reasons = {f.sample_id: f.reason for f in unverified.read_failures}
    assert reasons["c"] == "missing file: images/c.png" and reasons["b"].startswith("cannot decode")


def test_dest_with_a_manifest_is_not_overwritten_silently(tmp_path) -> None:
    _png(tmp_path / "depth" / "a.png", np.full((2, 2), 1000, np.uint16))
    _image(tmp_path / "images" / "a.png", 2, 2)
    run_prepare("depth/scannet", tmp_path, tmp_path / "out", progress=False)
    with pytest.raises(FileExistsError, match="dest"):
        run_prepare("depth/scannet", tmp_path, tmp_path / "out", progress=False)
    run_prepare("depth/scannet", tmp_path, tmp_path / "out", overwrite=True, progress=False)


def test_unknown_and_ambiguous_names(tmp_path) -> None:
    with pytest.raises(ValueError, match="known benchmarks: .*point_segmentation/PPDLS"):
        run_prepare("NotADataset", tmp_path, tmp_path / "out")
    with pytest.raises(ValueError, match="ambiguous"):
        run_prepare("nyuv2", tmp_path, tmp_path / "out")
    with pytest.raises(ValueError, match="known formats"):
        get_converter("tiff_stack")
    with pytest.raises(FileNotFoundError, match="source"):
        run_prepare("kitti", tmp_path / "absent", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="source: nothing under"):
        run_prepare("kitti", tmp_path / "empty", tmp_path / "out")
    assert not (tmp_path / "out" / MANIFEST_NAME).exists()


def test_registry_covers_the_native_formats() -> None:
    assert set(CONVERTERS) == {
        "coco_json", "lvis_json", "sa1b_json", "instance_id_png", "cityscapes_instance_ids", "ade20k_seg_png",
        "per_object_pngs", "ytvis_json", "via_json", "depth_png", "diode_npy", "eth3d_raw", "sintel_dpt",
        "normals_png", "normals_exr", "normals_npy",
    }
    assert {spec.family for spec in CONVERTERS.values()} == {Task.POINT_SEGMENTATION, Task.DEPTH, Task.NORMAL}
