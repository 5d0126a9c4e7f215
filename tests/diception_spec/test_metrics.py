"""The metric registry: ids, units, directions, labels."""

from __future__ import annotations

import pytest

from diception_spec.metrics import METRICS, MetricSpec, get_metric, register_metric, registered_metric


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
