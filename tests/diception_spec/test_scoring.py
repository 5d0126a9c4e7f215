"""The scoring rules shared by the evaluation, the calibration and the fine-tuner: IoU, alignment, AbsRel, angles."""

from __future__ import annotations

import numpy as np
import pytest

from diception_spec.scoring import absrel, align_depth_least_squares, angular_error_deg, mask_iou


def test_mask_iou_hand_computed_and_batched() -> None:
    pred = np.array([[1, 1], [0, 0]], bool)
    target = np.array([[1, 0], [1, 0]], bool)
    assert mask_iou(pred, target) == pytest.approx(1 / 3)
    np.testing.assert_allclose(mask_iou(np.stack([pred, target]), np.stack([target, target])), [1 / 3, 1.0])


def test_mask_iou_empty_masks_have_one_answer() -> None:
    empty, full = np.zeros((3, 3), bool), np.ones((3, 3), bool)
    assert mask_iou(empty, empty) == 1.0
    assert mask_iou(full, empty) == 0.0
    assert mask_iou(empty, full) == 0.0


@pytest.mark.parametrize(
    ("pred", "gt", "message"),
    [
        (np.ones((2, 2), np.uint8), np.ones((2, 2), bool), "pred: expected a boolean mask"),
        (np.ones((2, 2), bool), np.ones((2, 3), bool), "shape mismatch"),
        (np.ones(3, bool), np.ones(3, bool), "pred: expected masks of shape"),
    ],
)
def test_mask_iou_refuses_bad_masks(pred: np.ndarray, gt: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        mask_iou(pred, gt)


def test_disparity_alignment_recovers_an_affine_prediction_exactly() -> None:
    depth = np.array([[1.0, 2.0], [4.0, 8.0]])
    prediction = 3.0 / depth - 0.5  # affine in disparity
    aligned = align_depth_least_squares(prediction, depth, np.ones_like(depth, bool), "disparity")
    np.testing.assert_allclose(aligned, depth, rtol=1e-12)
    assert absrel(aligned, depth, np.ones_like(depth, bool)) == pytest.approx(0.0, abs=1e-12)


def test_alignment_floors_and_clips() -> None:
    depth = np.array([[1.0, 2.0, 4.0]])
    flat = np.zeros_like(depth)  # a constant prediction: s = 0, t = mean(1 / depth)
    aligned = align_depth_least_squares(flat, depth, np.ones_like(depth, bool), "disparity", max_depth=1.5)
    assert np.allclose(aligned, min(1.0 / np.mean(1.0 / depth), 1.5))
    negative = align_depth_least_squares(-np.ones_like(depth), depth, np.ones_like(depth, bool), "depth")
    assert negative.min() >= 1e-6


def test_angular_error_hand_computed() -> None:
    gt = np.array([[[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]])
    pred = np.array([[[0.0, 0.0, 2.0], [1.0, 0.0, 0.0], [0.0, 0.0, 0.0]]])  # same, orthogonal, zero -> 90
    np.testing.assert_allclose(angular_error_deg(pred, gt, np.ones((1, 3), bool)), [0.0, 90.0, 90.0], atol=1e-6)
    with pytest.raises(ValueError, match="zero-length normal"):
        angular_error_deg(pred, np.zeros_like(gt), np.ones((1, 3), bool))
