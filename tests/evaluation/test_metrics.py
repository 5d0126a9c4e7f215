"""Metrics against independent numpy references and hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_utils

from evaluation import metrics as M

RNG = np.random.default_rng(1234)


# --------------------------------------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------------------------------------


def test_registry_ids_and_units_follow_ids_md() -> None:
    expected = {
        "miou_1pt": ("percent", True), "miou_5pt_random": ("percent", True), "noc85": ("clicks", False),
        "noc90": ("clicks", False), "delta_iou_1pt_vs_sam_vit_h": ("percentage_points", True),
        "absrel": ("fraction", False), "rmse": ("metres", False), "delta1": ("fraction", True),
        "mean_deg": ("degrees", False), "within_11.25": ("percent", True), "ap": ("percent", True),
        "instance_ap": ("percent", True), "ar_small": ("fraction", True),
    }
    for metric_id, (unit, higher) in expected.items():
        spec = M.get_metric(metric_id)
        assert (spec.id, spec.unit, spec.higher_is_better) == (metric_id, unit, higher)


def test_unknown_metric_lists_known() -> None:
    with pytest.raises(KeyError, match="known metrics: .*absrel"):
        M.get_metric("abs_rel")


# --------------------------------------------------------------------------------------------------------------------
# IoU and click metrics
# --------------------------------------------------------------------------------------------------------------------


def test_iou_hand_computed() -> None:
    pred = torch.zeros(4, 4, dtype=torch.bool)
    gt = torch.zeros(4, 4, dtype=torch.bool)
    pred[0:2, 0:2] = True  # 4 pixels
    gt[1:3, 1:3] = True  # 4 pixels, overlap 1 -> union 7
    assert float(M.iou(pred, gt)) == pytest.approx(1 / 7)


def test_iou_matches_numpy_reference_batched() -> None:
    pred = RNG.random((5, 30, 40)) > 0.5
    gt = RNG.random((5, 30, 40)) > 0.6
    ref = np.logical_and(pred, gt).sum((1, 2)) / np.logical_or(pred, gt).sum((1, 2))
    np.testing.assert_allclose(M.iou(torch.from_numpy(pred), torch.from_numpy(gt)).numpy(), ref, rtol=1e-12)


@pytest.mark.parametrize(
    ("pred", "gt", "message"),
    [
        (np.ones((4, 4), bool), np.ones((4, 5), bool), "shape mismatch"),
        (np.ones(4, bool), np.ones(4, bool), r"\[\.\.\., H, W\]"),
        (np.ones((4, 4), np.uint8), np.ones((4, 4), bool), "bool"),
    ],
)
def test_iou_raises(pred: np.ndarray, gt: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        M.iou(pred, gt)


def test_iou_empty_masks_follow_the_one_rule() -> None:
    empty, full = torch.zeros(4, 4, dtype=torch.bool), torch.ones(4, 4, dtype=torch.bool)
    assert float(M.iou(empty, empty)) == 1.0  # agree: nothing there
    assert float(M.iou(full, empty)) == 0.0  # the union is the prediction
    assert float(M.iou(empty, full)) == 0.0


def test_miou_and_miou_at_k() -> None:
    ious = RNG.random((20, 5))
    assert float(M.miou(ious[:, 0])) == pytest.approx(100 * np.mean(ious[:, 0]))
    assert float(M.miou_at_k(ious, 3)) == pytest.approx(100 * np.mean(ious[:, 2]))
    assert float(M.miou([0.5, 1.0])) == pytest.approx(75.0)  # hand-computed
    with pytest.raises(ValueError, match="k"):
        M.miou_at_k(ious, 6)
    with pytest.raises(ValueError, match="no IoUs"):
        M.miou([])


def _noc_reference(ious: np.ndarray, threshold: float, cap: int) -> float:
    counts = []
    for row in ious:
        hits = [k + 1 for k, v in enumerate(row[:cap]) if v >= threshold]
        counts.append(hits[0] if hits else cap)
    return float(np.mean(counts))


def test_noc_hand_computed_and_reference() -> None:
    ious = [[0.5, 0.86, 0.9], [0.2, 0.3, 0.4], [0.95, 0.95, 0.95]]
    # reaches 0.85 at click 2, never (cap 20), at click 1 -> (2 + 20 + 1) / 3
    assert float(M.noc(ious, 0.85)) == pytest.approx(23 / 3)
    assert float(M.noc(ious, 0.90)) == pytest.approx((3 + 20 + 1) / 3)
    random_ious = RNG.random((50, 25))
    for threshold in (0.85, 0.9):
        assert float(M.noc(random_ious, threshold)) == pytest.approx(_noc_reference(random_ious, threshold, 20))


# --------------------------------------------------------------------------------------------------------------------
# depth
# --------------------------------------------------------------------------------------------------------------------


def _depth_pair(shape=(48, 64)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    gt = RNG.uniform(0.5, 9.0, size=shape)
    pred = RNG.uniform(0.0, 1.0, size=shape)
    valid = RNG.random(shape) > 0.2
    return pred, gt, valid


def _align_reference(pred, gt, valid, space, lo, hi):
    if space == "depth":
        fit = valid
        target = gt[fit]
    else:
        fit = valid & (gt > 0)
        target = 1.0 / gt[fit]
    a = np.stack([pred[fit], np.ones(fit.sum())], axis=1)
    (s, t), *_ = np.linalg.lstsq(a, target, rcond=None)
    aligned = s * pred + t
    if space == "disparity":
        aligned = 1.0 / np.maximum(aligned, 1e-3)
    aligned = np.clip(aligned, lo, hi)
    return np.maximum(aligned, 1e-6)


def _metrics_reference(pred, gt, valid) -> dict[str, float]:
    p, g = pred[valid], gt[valid]
    ratio = np.maximum(p / g, g / p)
    return {
        "absrel": float(np.mean(np.abs(p - g) / g)),
        "delta1": float(np.mean(ratio < 1.25)),
        "delta2": float(np.mean(ratio < 1.25**2)),
        "delta3": float(np.mean(ratio < 1.25**3)),
        "rmse": float(np.sqrt(np.mean((p - g) ** 2))),
    }


@pytest.mark.parametrize("space", ["depth", "disparity"])
def test_alignment_and_depth_metrics_match_numpy_reference(space: str) -> None:
    pred, gt, valid = _depth_pair()
    aligned_ref = _align_reference(pred, gt, valid, space, 1e-3, 10.0)
    aligned = M.align_depth_least_squares(
        torch.from_numpy(pred), torch.from_numpy(gt), torch.from_numpy(valid), space, min_depth=1e-3, max_depth=10.0
    )
    np.testing.assert_allclose(aligned.numpy(), aligned_ref, rtol=1e-9, atol=1e-9)
    got = M.depth_metrics(pred, gt, valid, space=space, min_depth=1e-3, max_depth=10.0)
    ref = _metrics_reference(aligned_ref, gt, valid)
    for key, value in ref.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key


@pytest.mark.parametrize("space", ["depth", "disparity"])
def test_exact_affine_prediction_scores_perfectly(space: str) -> None:
    gt = RNG.uniform(0.5, 9.0, size=(40, 50))
    valid = np.ones_like(gt, dtype=bool)
    target = gt if space == "depth" else 1.0 / gt
    pred = 3.7 * target - 0.25  # exact affine transform in the aligned space
    got = M.depth_metrics(pred, gt, valid, space=space, min_depth=1e-3, max_depth=10.0)
    assert got["absrel"] == pytest.approx(0.0, abs=1e-10)
    assert got["rmse"] == pytest.approx(0.0, abs=1e-9)
    assert got["delta1"] == 1.0


def test_depth_metrics_hand_computed() -> None:
    pred = torch.tensor([1.0, 2.0, 4.0, 9.0])
    gt = torch.tensor([1.0, 2.5, 2.0, 100.0])
    valid = torch.tensor([True, True, True, False])
    # |0|/1, 0.5/2.5, 2/2 -> mean (0 + 0.2 + 1) / 3 = 0.4
    assert float(M.absrel(pred, gt, valid)) == pytest.approx(0.4)
    # ratios 1, 1.25, 2 -> < 1.25: 1 of 3; < 1.5625: 2 of 3; < 1.953125: 2 of 3
    assert float(M.delta(pred, gt, valid, 1)) == pytest.approx(1 / 3)
    assert float(M.delta(pred, gt, valid, 2)) == pytest.approx(2 / 3)
    assert float(M.delta(pred, gt, valid, 3)) == pytest.approx(2 / 3)
    assert float(M.rmse(pred, gt, valid)) == pytest.approx(math.sqrt((0 + 0.25 + 4) / 3))


def test_depth_anything_disparity_matches_reference() -> None:
    pred, gt, valid = _depth_pair()
    mask = valid & (gt > 0)
    target = 1.0 / gt[mask]
    a = np.stack([pred[mask], np.ones(mask.sum())], axis=1)
    (s, t), *_ = np.linalg.lstsq(a, target, rcond=None)
    aligned = np.maximum(s * pred[mask] + t, 1e-3)
    ratio = np.maximum(aligned / target, target / aligned)
    got = M.depth_anything_disparity_metrics(pred, gt, valid)
    assert got["absrel"] == pytest.approx(np.mean(np.abs(aligned - target) / target), rel=1e-9)
    assert got["delta1"] == pytest.approx(np.mean(ratio < 1.25))
    exact = M.depth_anything_disparity_metrics(2.0 / gt + 1.0, gt, valid)
    assert exact["absrel"] == pytest.approx(0.0, abs=1e-10) and exact["delta1"] == 1.0


def test_depth_raises() -> None:
    pred, gt, valid = _depth_pair()
    with pytest.raises(ValueError, match="shape mismatch"):
        M.depth_metrics(pred[:-1], gt, valid, space="depth", min_depth=None, max_depth=None)
    with pytest.raises(ValueError, match="no valid pixels"):
        M.absrel(pred, gt, np.zeros_like(valid))
    with pytest.raises(ValueError, match="space"):
        M.align_depth_least_squares(pred, gt, valid, "log")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="gt: must be > 0"):
        M.absrel(pred, np.zeros_like(gt), valid)


def test_depth_metrics_nyu_sized_is_fast() -> None:

    gt = torch.rand(480, 640) * 9 + 0.5
    pred = 1.0 / gt + 0.01 * torch.rand(480, 640)
    valid = gt > 1.0
    metrics = M.depth_metrics(pred, gt, valid, space="disparity", min_depth=1e-3, max_depth=10.0)
    assert all(np.isfinite(float(v)) for v in metrics.values())  # speed: speed/bench_evaluation.py


# --------------------------------------------------------------------------------------------------------------------
# normals
# --------------------------------------------------------------------------------------------------------------------


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def test_angular_error_hand_computed() -> None:
    gt = np.array([[[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]])
    pred = np.array([[[0.0, 0.0, 2.0], [0.0, 1.0, 1.0], [-1.0, 0.0, 0.0]]])  # 0°, 45°, 180° (unnormalised ok)
    valid = np.ones((1, 3), bool)
    np.testing.assert_allclose(M.angular_error_deg(pred, gt, valid).numpy(), [0.0, 45.0, 180.0], atol=1e-6)
    summary = M.normal_metrics(torch.tensor([0.0, 45.0, 180.0, 10.0]))
    assert summary["mean_deg"] == pytest.approx(58.75)
    assert summary["median_deg"] == pytest.approx(27.5)  # (10 + 45) / 2
    assert summary["within_11.25"] == pytest.approx(50.0)
    assert summary["rmse_deg"] == pytest.approx(math.sqrt((0 + 45**2 + 180**2 + 100) / 4))


def _normal_reference(errors: np.ndarray) -> dict[str, float]:
    return {
        "mean_deg": float(np.mean(errors)), "median_deg": float(np.median(errors)),
        "rmse_deg": float(np.sqrt(np.mean(errors**2))),
        "within_11.25": 100 * float(np.mean(errors < 11.25)), "within_22.5": 100 * float(np.mean(errors < 22.5)),
        "within_30": 100 * float(np.mean(errors < 30)),
    }


def test_normal_metrics_match_numpy_reference_both_aggregations() -> None:
    images = []
    for _ in range(3):
        gt = _unit(RNG.normal(size=(20, 30, 3)))
        pred = _unit(gt + 0.4 * RNG.normal(size=gt.shape))
        valid = RNG.random((20, 30)) > 0.3
        images.append((pred, gt, valid))
    refs = []
    for pred, gt, valid in images:
        cos = np.clip(np.sum(pred[valid] * gt[valid], axis=-1), -1, 1)
        refs.append(np.degrees(np.arccos(cos)))
    errors = [M.angular_error_deg(p, g, v) for p, g, v in images]
    for got, ref in zip(errors, refs, strict=True):
        np.testing.assert_allclose(got.numpy(), ref, atol=1e-9)
    per_image = M.normal_metrics_over_images(errors, "per_image")
    per_image_ref = {k: np.mean([_normal_reference(r)[k] for r in refs]) for k in _normal_reference(refs[0])}
    pooled = M.normal_metrics_over_images(errors, "pooled")
    pooled_ref = _normal_reference(np.concatenate(refs))
    for key in per_image_ref:
        assert per_image[key] == pytest.approx(per_image_ref[key], rel=1e-9), key
        tolerance = 1e-4 if key == "median_deg" else 1e-9  # histogram median: exact to 1e-4 degrees
        assert pooled[key] == pytest.approx(pooled_ref[key], abs=tolerance, rel=1e-9), key


def test_normal_raises() -> None:
    with pytest.raises(ValueError, match="no angular errors"):
        M.normal_metrics(torch.tensor([]))
    with pytest.raises(ValueError, match="shape mismatch"):
        M.angular_error_deg(np.ones((4, 4, 3)), np.ones((4, 5, 3)), np.ones((4, 4), bool))
    with pytest.raises(ValueError, match="aggregation"):
        M.normal_metrics_over_images([torch.tensor([1.0])], "median")  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------------------------------
# COCO
# --------------------------------------------------------------------------------------------------------------------


def _rle(mask: np.ndarray) -> dict:
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def _coco_masks_gt() -> tuple[dict, list[np.ndarray]]:
    masks = []
    anns = []
    for i, (y, x, s) in enumerate([(2, 2, 10), (20, 30, 40), (5, 60, 12)]):
        m = np.zeros((80, 100), bool)
        m[y : y + s, x : x + s] = True
        masks.append(m)
        anns.append({
            "id": i + 1, "image_id": 1, "category_id": 1 + i, "segmentation": _rle(m), "area": float(m.sum()),
            "bbox": [x, y, s, s], "iscrowd": 0,
        })
    gt = {
        "images": [{"id": 1, "height": 80, "width": 100, "file_name": "a.png"}],
        "annotations": anns,
        "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}, {"id": 3, "name": "c"}],
    }
    return gt, masks


def test_class_agnostic_mask_ap_perfect_and_category_blind() -> None:
    gt, masks = _coco_masks_gt()
    # All detections carry category 7: wrong everywhere, but class-agnostic evaluation ignores categories.
    dets = [{"image_id": 1, "category_id": 7, "segmentation": _rle(m), "score": 0.9 - 0.1 * i}
            for i, m in enumerate(masks)]
    got = M.class_agnostic_mask_ap(gt, dets)
    assert got["ap"] == pytest.approx(100.0)
    assert got["ap50"] == pytest.approx(100.0)
    assert got["ar_small"] == pytest.approx(1.0)  # 10x10 and 12x12 are small (< 32^2)
    assert got["ar_medium"] == pytest.approx(1.0)  # 40x40 = 1600 is medium
    assert math.isnan(got["ar_large"])  # no large ground truth
    assert gt["annotations"][1]["category_id"] == 2  # the caller's ground truth is not modified


def test_class_agnostic_mask_ap_hand_computed_half() -> None:
    gt, masks = _coco_masks_gt()
    # One of three found (IoU 1) with the highest score; the other detections miss everything.
    miss = np.zeros((80, 100), bool)
    miss[70:78, 0:8] = True
    dets = [{"image_id": 1, "category_id": 1, "segmentation": _rle(masks[1]), "score": 0.9},
            {"image_id": 1, "category_id": 1, "segmentation": _rle(miss), "score": 0.5}]
    got = M.class_agnostic_mask_ap(gt, dets)
    # Precision 1 up to recall 1/3, then nothing: 101-point interpolated AP = 34 / 101 at every IoU threshold.
    assert got["ap"] == pytest.approx(100 * 34 / 101)
    assert got["ar_medium"] == pytest.approx(1.0)
    assert got["ar_small"] == pytest.approx(0.0)


def test_coco_mask_ap_by_category() -> None:
    gt, masks = _coco_masks_gt()
    dets = [{"image_id": 1, "category_id": 1 + i, "segmentation": _rle(m), "score": 0.8} for i, m in enumerate(masks)]
    assert M.coco_mask_ap(gt, dets)["instance_ap"] == pytest.approx(100.0)
    wrong = [{**d, "category_id": 1} for d in dets]
    assert M.coco_mask_ap(gt, wrong)["instance_ap"] < 100.0


def _keypoints_gt() -> dict:
    kps = []
    for j in range(17):
        kps += [20 + 3 * j, 30 + 4 * j, 2]
    return {
        "images": [{"id": 1, "height": 200, "width": 200, "file_name": "p.png"}],
        "annotations": [{
            "id": 1, "image_id": 1, "category_id": 1, "keypoints": kps, "num_keypoints": 17, "area": 5000.0,
            "bbox": [10, 20, 80, 100], "iscrowd": 0,
        }],
        "categories": [{"id": 1, "name": "person", "keypoints": [str(j) for j in range(17)], "skeleton": []}],
    }


def test_coco_keypoint_ap_perfect_and_empty() -> None:
    gt = _keypoints_gt()
    dets = [{"image_id": 1, "category_id": 1, "keypoints": gt["annotations"][0]["keypoints"], "score": 1.0}]
    got = M.coco_keypoint_ap(gt, dets)
    assert got["ap"] == pytest.approx(100.0) and got["ar"] == pytest.approx(100.0)
    assert got["apm"] == pytest.approx(100.0)  # area 5000 is medium
    assert M.coco_keypoint_ap(gt, [])["ap"] == 0.0
    with pytest.raises(ValueError, match="score"):
        M.coco_keypoint_ap(gt, [{"image_id": 1, "category_id": 1, "keypoints": [0] * 51}])


def test_fit_at_reduced_size_still_scores_at_full_resolution() -> None:
    """ETH3D's rule: s, t fitted on a subsample with max side 1024, metrics on the full-resolution map."""
    gen = torch.Generator().manual_seed(0)
    gt = torch.rand(300, 2500, generator=gen, dtype=torch.float64) * 5 + 1.0
    valid = torch.ones_like(gt, dtype=torch.bool)
    pred = 2.0 * (1.0 / gt) + 0.5  # an exact affine transform in disparity space
    aligned = M.align_depth_least_squares(pred, gt, valid, "disparity", fit_max_side=1024)
    assert aligned.shape == gt.shape
    metrics = M.depth_metrics(pred, gt, valid, space="disparity", min_depth=None, max_depth=None, fit_max_side=1024)
    assert metrics["absrel"] == pytest.approx(0.0, abs=1e-9) and metrics["delta1"] == 1.0
