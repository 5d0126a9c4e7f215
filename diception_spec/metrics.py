"""Metric ids, their units, directions and human labels (``../shared/reference/IDS.md``, "Metrics and units").

A metric id is the key of :data:`METRICS`; everything that stores, ranks or shows a score reads its unit, its
direction (``higher_is_better``) and its label from here. The formulas themselves live where they are computed
(``evaluation.metrics``) on the shared rules of ``diception_spec.scoring`` (IoU, alignment, AbsRel, angular error),
which the calibration and the fine-tuner's validation use too.

To add a metric: one :func:`register_metric` call below (or at runtime, e.g. in a test); the benchmark registry's
consistency check, the leaderboard's columns and headers and the result validation follow.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from diception_spec.registry import Registry
from diception_spec.tasks import Task

# Units as the sources print them; the short symbol is what a column header shows.
UNIT_SYMBOLS: Mapping[str, str] = MappingProxyType(
    {"percent": "%", "fraction": "", "metres": "m", "degrees": "°", "clicks": "clicks", "percentage_points": "pp"}
)
UP, DOWN = "↑", "↓"


@dataclass(frozen=True)
class MetricSpec:
    id: str
    unit: str  # a key of UNIT_SYMBOLS
    higher_is_better: bool
    description: str
    label: str  # what a person reads, e.g. "1-click mIoU"

    @property
    def arrow(self) -> str:
        return UP if self.higher_is_better else DOWN

    @property
    def label_with_unit(self) -> str:
        """The label and the unit symbol, e.g. ``1-click mIoU (%)`` or ``AbsRel`` (a fraction has no symbol)."""
        symbol = UNIT_SYMBOLS.get(self.unit, self.unit)
        return f"{self.label} ({symbol})" if symbol else self.label

    @property
    def header(self) -> str:
        """A column header: label, unit symbol and direction, e.g. ``1-click mIoU (%) ↑`` or ``AbsRel ↓``."""
        return f"{self.label_with_unit} {self.arrow}"


def _check(spec: MetricSpec) -> None:
    if spec.unit not in UNIT_SYMBOLS:
        raise ValueError(f"metric {spec.id!r}: unknown unit {spec.unit!r}; known units: {', '.join(UNIT_SYMBOLS)}")


_REGISTRY: Registry[str, MetricSpec] = Registry("metric", key=lambda spec: spec.id, check=_check)
METRICS: Mapping[str, MetricSpec] = _REGISTRY.view  # live and read-only
register_metric = _REGISTRY.register  # add a MetricSpec (a taken id or an unknown unit raises ValueError)
registered_metric = _REGISTRY.registered  # register for the duration of a ``with`` block (tests, experiments)


def get_metric(metric_id: str) -> MetricSpec:
    """The spec of ``metric_id``; unknown ids raise ``KeyError`` with the list of known ones."""
    try:
        return METRICS[metric_id]
    except KeyError:
        raise KeyError(f"metric: unknown metric {metric_id!r}; known metrics: {', '.join(METRICS)}") from None


def _m(id: str, unit: str, higher: bool, label: str, description: str) -> None:
    register_metric(MetricSpec(id, unit, higher, description, label))


_m("miou_1pt", "percent", True, "1-click mIoU", "mean IoU over masks after 1 click (x100)")
_m("miou_2pt", "percent", True, "2-click mIoU", "mean IoU over masks after 2 clicks (x100)")
_m("miou_3pt", "percent", True, "3-click mIoU", "mean IoU over masks after 3 clicks (x100)")
_m("miou_5pt", "percent", True, "5-click mIoU", "mean IoU over masks after 5 clicks (x100)")
_m("miou_9pt", "percent", True, "9-click mIoU", "mean IoU over masks after 9 clicks (x100)")
_m("miou_5pt_random", "percent", True, "5 random points mIoU", "mean IoU over masks with 5 random in-mask points "
   "(x100)")
_m("noc85", "clicks", False, "NoC@85", "mean clicks to reach IoU 0.85, capped at 20")
_m("noc90", "clicks", False, "NoC@90", "mean clicks to reach IoU 0.90, capped at 20")
_m("delta_iou_1pt_vs_sam_vit_h", "percentage_points", True, "1-click mIoU − SAM ViT-H",
   "1-click mIoU minus SAM ViT-H's under the same protocol")
_m("absrel", "fraction", False, "AbsRel", "mean |d_hat - d| / d over valid pixels")
_m("rmse", "metres", False, "RMSE", "sqrt(mean (d_hat - d)^2) over valid pixels")
_m("delta1", "fraction", True, "δ1", "share of valid pixels with max(d_hat/d, d/d_hat) < 1.25")
_m("delta2", "fraction", True, "δ2", "share of valid pixels with max(d_hat/d, d/d_hat) < 1.25^2")
_m("delta3", "fraction", True, "δ3", "share of valid pixels with max(d_hat/d, d/d_hat) < 1.25^3")
_m("mean_deg", "degrees", False, "Mean angle error", "mean angular error of normals")
_m("median_deg", "degrees", False, "Median angle error", "median angular error of normals")
_m("rmse_deg", "degrees", False, "RMS angle error", "root mean square angular error of normals")
_m("within_11.25", "percent", True, "Within 11.25°", "share of pixels with angular error < 11.25 degrees")
_m("within_22.5", "percent", True, "Within 22.5°", "share of pixels with angular error < 22.5 degrees")
_m("within_30", "percent", True, "Within 30°", "share of pixels with angular error < 30 degrees")
_m("ap", "percent", True, "AP", "COCO AP at IoU/OKS 0.50:0.95 (x100)")
_m("ap50", "percent", True, "AP50", "COCO AP at IoU/OKS 0.50 (x100)")
_m("ap75", "percent", True, "AP75", "COCO AP at IoU/OKS 0.75 (x100)")
_m("apm", "percent", True, "AP medium", "COCO keypoint AP for medium persons (x100)")
_m("apl", "percent", True, "AP large", "COCO keypoint AP for large persons (x100)")
_m("ar", "percent", True, "AR", "COCO keypoint AR at OKS 0.50:0.95 (x100)")
_m("instance_ap", "percent", True, "Instance AP", "COCO segm AP of category-prompted instances (x100)")
_m("ar_small", "fraction", True, "AR small", "COCO AR@100 for small objects (0-1)")
_m("ar_medium", "fraction", True, "AR medium", "COCO AR@100 for medium objects (0-1)")
_m("ar_large", "fraction", True, "AR large", "COCO AR@100 for large objects (0-1)")

# The metric a task is ranked by, in order of preference: the first one a result set has is used. Entity
# segmentation is scored with AP when measured; the reported rows (DICEPTION Table 4) only print AR by object size.
TASK_MAIN_METRICS: Mapping[Task, tuple[str, ...]] = MappingProxyType(
    {
        Task.POINT_SEGMENTATION: ("miou_1pt", "miou_5pt", "miou_5pt_random"),
        Task.DEPTH: ("absrel", "delta1"),
        Task.NORMAL: ("mean_deg", "median_deg", "within_11.25"),
        Task.POSE: ("ap",),
        Task.ENTITY_SEGMENTATION: ("ap", "ar_large", "ar_medium", "ar_small"),
        Task.SEMANTIC_SEGMENTATION: ("instance_ap", "ap"),
    }
)
