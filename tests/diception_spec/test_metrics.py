"""The metric registry (ids, units, directions, labels) and the one mask IoU rule."""

from __future__ import annotations

import numpy as np
import pytest

from diception_spec.metrics import METRICS, MetricSpec, get_metric, mask_iou, register_metric, registered_metric


def test_headers_are_human_with_unit_and_direction() -> None:
    assert get_metric("miou_1pt").header == "1-click mIoU (%) ↑"
    assert get_metric("absrel").header == "AbsRel ↓"
    assert get_metric("mean_deg").header == "Mean angle error (°) ↓"


def test_every_metric_has_a_label_and_a_known_unit() -> None:
    for spec in METRICS.values():
        assert spec.label and "_" not in spec.label, spec.id


def test_a_taken_id_or_unknown_unit_is_refused() -> None:
    with pytest.raises(ValueError, match="registered already"):
        register_metric(MetricSpec("absrel", "fraction", False, "again", "AbsRel"))
    with pytest.raises(ValueError, match="unknown unit 'furlongs'"):
        register_metric(MetricSpec("toy", "furlongs", True, "toy", "Toy"))


def test_a_registered_metric_is_visible_while_registered() -> None:
    with registered_metric(MetricSpec("toy_score", "percent", True, "a toy", "Toy score")):
        assert get_metric("toy_score").header == "Toy score (%) ↑"
    assert "toy_score" not in METRICS


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
