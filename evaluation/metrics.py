"""Metrics: one pure function per metric over tensors. Metric ids, units, directions and labels are registered in
``diception_spec.metrics`` (re-exported here as ``METRICS`` / ``get_metric``).

Formulas follow ``../shared/reference/PROTOCOLS.md``; ids and units follow ``IDS.md`` ("Metrics and units").
Conventions:

- masks are ``bool`` tensors; depth, disparity and normals are floating tensors; numpy arrays are accepted and
  converted with ``torch.as_tensor`` (no copy where possible);
- functions that return one number return a 0-dim ``torch.float64`` tensor; the ``*_metrics`` helpers return
  ``dict[str, float]`` keyed by metric id;
- invalid input raises ``ValueError`` naming the argument (shape mismatches, empty valid sets).

Units: :func:`iou` is a fraction (0-1, stored per mask); :func:`miou` and :func:`miou_at_k` are percent (0-100), as
the ``miou_*`` ids are printed; depth metrics are fractions (RMSE in metres); normal errors are degrees and the
``within_*`` shares are percent; COCO AP is percent (x100), COCO AR by size a fraction, as DICEPTION prints it.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
from collections.abc import Iterable, Mapping, Sequence
from os import PathLike
from typing import Any, Literal

import numpy as np
import torch

from diception_spec import scoring
from diception_spec.metrics import METRICS, MetricSpec, get_metric
from diception_spec.scoring import mask_iou

__all__ = [
    "METRICS",
    "MetricSpec",
    "NormalAccumulator",
    "absrel",
    "align_depth_least_squares",
    "angular_error_deg",
    "class_agnostic_mask_ap",
    "clicks_to_reach",
    "coco_keypoint_ap",
    "coco_mask_ap",
    "delta",
    "depth_anything_disparity_metrics",
    "depth_metrics",
    "get_metric",
    "iou",
    "miou",
    "miou_at_k",
    "noc",
    "normal_metrics",
    "normal_metrics_over_images",
    "rmse",
]


# --------------------------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------------------------------


def _tensor(x: Any, name: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    try:
        return torch.as_tensor(np.asarray(x))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected a tensor or array, got {type(x).__name__}") from exc


def _bool_mask(x: Any, name: str) -> torch.Tensor:
    t = _tensor(x, name)
    if t.dtype != torch.bool:
        raise ValueError(f"{name}: expected a bool mask, got dtype {t.dtype}")
    return t


def _float(x: Any, name: str) -> torch.Tensor:
    t = _tensor(x, name)
    if not torch.is_floating_point(t):
        t = t.to(torch.float32)
    return t


def _same_shape(**tensors: torch.Tensor) -> None:
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    if len(set(shapes.values())) > 1:
        described = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"shape mismatch: {described}")


# --------------------------------------------------------------------------------------------------------------------
# Point-prompted segmentation
# --------------------------------------------------------------------------------------------------------------------


def iou(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Intersection over union of binary masks, ``|P ∩ G| / |P ∪ G|``, as a fraction in [0, 1]; higher is better.

    ``pred`` and ``gt`` are bool tensors (or arrays) of the same shape ``[..., H, W]``; the result has shape ``[...]``
    (0-dim for one mask). The rule, empty masks included (two empty masks: 1; empty ground truth, non-empty
    prediction: 0), is ``diception_spec.metrics.mask_iou``'s, which this evaluates. Raises ``ValueError`` on non-bool
    input, a shape mismatch or fewer than two dimensions.
    """
    pred = _bool_mask(pred, "pred")
    gt = _bool_mask(gt, "gt")
    _same_shape(pred=pred, gt=gt)
    return torch.as_tensor(mask_iou(pred.cpu().numpy(), gt.cpu().numpy()), dtype=torch.float64)


def _ious_2d(per_click_ious: Any, name: str) -> torch.Tensor:
    t = _tensor(per_click_ious, name).to(torch.float64)
    if t.dim() == 1:
        t = t[:, None]
    if t.dim() != 2 or t.shape[0] == 0 or t.shape[1] == 0:
        raise ValueError(f"{name}: expected a non-empty [masks, clicks] array, got shape {tuple(t.shape)}")
    if bool(((t < 0) | (t > 1) | t.isnan()).any()):
        raise ValueError(f"{name}: IoUs must be fractions in [0, 1]")
    return t


def miou(ious: Sequence[float] | torch.Tensor) -> torch.Tensor:
    """Mean IoU in percent: ``100 · mean_i IoU_i`` over masks (IoUs given as fractions); higher is better.

    Raises ``ValueError`` for an empty input or values outside [0, 1].
    """
    t = _tensor(ious, "ious").to(torch.float64).reshape(-1)
    if t.numel() == 0:
        raise ValueError("ious: no IoUs to average")
    if bool(((t < 0) | (t > 1) | t.isnan()).any()):
        raise ValueError("ious: IoUs must be fractions in [0, 1]")
    return 100.0 * t.mean()


def miou_at_k(per_click_ious: Sequence[Sequence[float]] | torch.Tensor, k: int) -> torch.Tensor:
    """mIoU after ``k`` clicks in percent: ``100 · mean_i IoU_i[k-1]`` (``per_click_ious`` is [masks, clicks]).

    Higher is better. Raises ``ValueError`` when ``k`` < 1 or exceeds the recorded clicks, or on empty input.
    """
    t = _ious_2d(per_click_ious, "per_click_ious")
    if not 1 <= k <= t.shape[1]:
        raise ValueError(f"k: must be in 1..{t.shape[1]} (clicks recorded), got {k}")
    return 100.0 * t[:, k - 1].mean()


def clicks_to_reach(
    per_click_ious: Sequence[Sequence[float]] | torch.Tensor, threshold: float, cap: int = 20
) -> torch.Tensor:
    """Per mask, the first click count ``k`` (1-based) with ``IoU_k >= threshold``; ``cap`` when never reached.

    Clicks beyond ``cap`` are ignored. Returns a float64 tensor of shape [masks]. Raises ``ValueError`` on a threshold
    outside (0, 1], a cap < 1, or empty input.
    """
    t = _ious_2d(per_click_ious, "per_click_ious")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold: an IoU fraction in (0, 1], got {threshold}")
    if cap < 1:
        raise ValueError(f"cap: must be >= 1, got {cap}")
    reached = t[:, :cap] >= threshold  # [masks, min(clicks, cap)]
    first = reached.to(torch.int8).argmax(dim=1).to(torch.float64) + 1.0
    return torch.where(reached.any(dim=1), first, torch.full_like(first, float(cap)))


def noc(per_click_ious: Sequence[Sequence[float]] | torch.Tensor, threshold: float, cap: int = 20) -> torch.Tensor:
    """NoC@threshold: mean over masks of the clicks needed to reach ``threshold`` IoU, ``cap`` counted when never
    reached (see :func:`clicks_to_reach`); lower is better. ``noc85`` is ``noc(ious, 0.85)``."""
    return clicks_to_reach(per_click_ious, threshold, cap).mean()


# --------------------------------------------------------------------------------------------------------------------
# Depth
# --------------------------------------------------------------------------------------------------------------------

DepthSpace = Literal["depth", "disparity"]


def _depth_inputs(pred: Any, gt: Any, valid: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    pred_t = _float(pred, "pred")
    gt_t = _float(gt, "gt")
    valid_t = _bool_mask(valid, "valid")
    _same_shape(pred=pred_t, gt=gt_t, valid=valid_t)
    if not bool(valid_t.any()):
        raise ValueError("valid: no valid pixels")
    return pred_t, gt_t, valid_t


def align_depth_least_squares(
    pred: torch.Tensor,
    gt: torch.Tensor,
    valid: torch.Tensor,
    space: DepthSpace = "depth",
    *,
    min_depth: float | None = None,
    max_depth: float | None = None,
    fit_max_side: int | None = None,
) -> torch.Tensor:
    """Per-image least-squares scale-and-shift alignment of an affine-invariant prediction (``genpercept-affine``):
    ``diception_spec.scoring.align_depth_least_squares`` (formula, floors, clipping, ``fit_max_side``) on tensors.
    Returns the aligned depth with ``pred``'s shape, float64. Raises as that function."""
    pred_t, gt_t, valid_t = _depth_inputs(pred, gt, valid)
    aligned = scoring.align_depth_least_squares(
        pred_t.cpu().numpy(), gt_t.cpu().numpy(), valid_t.cpu().numpy(), space, min_depth=min_depth,
        max_depth=max_depth, fit_max_side=fit_max_side,
    )
    return torch.from_numpy(aligned)


def _valid_vectors(pred: Any, gt: Any, valid: Any) -> tuple[torch.Tensor, torch.Tensor]:
    pred_t, gt_t, valid_t = _depth_inputs(pred, gt, valid)
    p = pred_t[valid_t].to(torch.float64)
    g = gt_t[valid_t].to(torch.float64)
    if bool((g <= 0).any()):
        raise ValueError("gt: must be > 0 wherever valid is True")
    return p, g


def _absrel_v(p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    return torch.tensor(scoring.absrel_of_vectors(p.numpy(), g.numpy()), dtype=torch.float64)


def _delta_v(p: torch.Tensor, g: torch.Tensor, k: int) -> torch.Tensor:
    ratio = torch.maximum(p / g, g / p)
    return (ratio < 1.25**k).to(torch.float64).mean()


def _rmse_v(p: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    return ((p - g) ** 2).mean().sqrt()


def absrel(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Absolute relative error ``mean_V |d̂ − d| / d`` (a fraction); lower is better.

    Raises ``ValueError`` on shape mismatches, an empty ``valid`` or ``gt <= 0`` where valid.
    """
    return _absrel_v(*_valid_vectors(pred, gt, valid))


def delta(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor, k: int = 1) -> torch.Tensor:
    """Threshold accuracy δk ``= mean_V [max(d̂/d, d/d̂) < 1.25^k]`` (a fraction); higher is better.

    ``pred`` must be positive where valid (aligned predictions are floored at 1e-6). Raises ``ValueError`` on
    ``k`` not in 1..3, shape mismatches, an empty ``valid``, ``gt <= 0`` or ``pred <= 0`` where valid.
    """
    if k not in (1, 2, 3):
        raise ValueError(f"k: expected 1, 2 or 3, got {k}")
    p, g = _valid_vectors(pred, gt, valid)
    if bool((p <= 0).any()):
        raise ValueError("pred: must be > 0 wherever valid is True")
    return _delta_v(p, g, k)


def rmse(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Root mean square error ``sqrt(mean_V (d̂ − d)²)`` in the unit of ``gt`` (metres); lower is better.

    Raises ``ValueError`` on shape mismatches, an empty ``valid`` or ``gt <= 0`` where valid.
    """
    return _rmse_v(*_valid_vectors(pred, gt, valid))


def _all_depth_metrics(p: torch.Tensor, g: torch.Tensor) -> dict[str, float]:
    return {
        "absrel": float(_absrel_v(p, g)),
        "delta1": float(_delta_v(p, g, 1)),
        "delta2": float(_delta_v(p, g, 2)),
        "delta3": float(_delta_v(p, g, 3)),
        "rmse": float(_rmse_v(p, g)),
    }


def depth_metrics(
    pred: torch.Tensor,
    gt: torch.Tensor,
    valid: torch.Tensor,
    *,
    space: DepthSpace,
    min_depth: float | None,
    max_depth: float | None,
    fit_max_side: int | None = None,
) -> dict[str, float]:
    """One image under ``genpercept-affine``: align ``pred`` (:func:`align_depth_least_squares` in ``space``, clipped
    to the dataset's ``[min_depth, max_depth]``), then AbsRel, δ1-δ3 and RMSE on ``valid``.

    Returns ``{"absrel", "delta1", "delta2", "delta3", "rmse"}``; the dataset score is the mean over images.
    ``valid`` must already encode the dataset's crop and range (see ``evaluation.benchmarks``). Raises as
    :func:`align_depth_least_squares` and :func:`absrel`.
    """
    aligned = align_depth_least_squares(pred, gt, valid, space, min_depth=min_depth, max_depth=max_depth,
                                        fit_max_side=fit_max_side)
    return _all_depth_metrics(*_valid_vectors(aligned, gt, valid))


def depth_anything_disparity_metrics(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor) -> dict[str, float]:
    """One image under ``depth-anything-disparity``: everything in disparity space, never converted back to depth.

    ``D = 1/d`` on ``V ∧ d > 0``; ``D̂ = max(s·p + t, 1e-3)`` with the least-squares ``s, t``; then AbsRel
    ``mean |D̂ − D| / D``, δk on ``max(D̂/D, D/D̂)`` and RMSE in 1/metres. The 1e-3 floor (the same as
    ``genpercept-affine``'s) keeps the ratios defined. Not comparable with :func:`depth_metrics`.
    Raises ``ValueError`` on shape mismatches or no valid pixel with ``gt > 0``.
    """
    pred_t, gt_t, valid_t = _depth_inputs(pred, gt, valid)
    mask = valid_t & (gt_t > 0)
    if not bool(mask.any()):
        raise ValueError("valid: no valid pixels with gt > 0")
    p = pred_t[mask].to(torch.float64)
    target = 1.0 / gt_t[mask].to(torch.float64)
    s, t = scoring.fit_scale_shift(p.numpy(), target.numpy())
    aligned = (p * s + t).clamp_min(scoring.DISPARITY_FLOOR)
    return _all_depth_metrics(aligned, target)


# --------------------------------------------------------------------------------------------------------------------
# Surface normals
# --------------------------------------------------------------------------------------------------------------------

NormalAggregation = Literal["per_image", "pooled"]
_WITHIN = (11.25, 22.5, 30.0)
_WITHIN_IDS = tuple(f"within_{t:g}" for t in _WITHIN)  # the metric ids: within_11.25, within_22.5, within_30


def angular_error_deg(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Per valid pixel, ``e = acos(clamp(<n̂, n>, −1, 1))`` in degrees, lower is better:
    ``diception_spec.scoring.angular_error_deg`` on tensors (a 1-D float64 tensor in row-major order; a zero
    prediction gets 90°). Raises as that function."""
    pred_t, gt_t, valid_t = _float(pred, "pred"), _float(gt, "gt"), _bool_mask(valid, "valid")
    errors = scoring.angular_error_deg(pred_t.cpu().numpy(), gt_t.cpu().numpy(), valid_t.cpu().numpy())
    return torch.from_numpy(errors)


def normal_metrics(errors: torch.Tensor) -> dict[str, float]:
    """Summary of angular errors (degrees): ``mean_deg``, ``median_deg`` (average of the two middle values for an
    even count, as numpy), ``rmse_deg = sqrt(mean e²)`` (lower is better) and ``within_T = 100 · mean[e < T]`` for
    T = 11.25, 22.5, 30 (percent, higher is better). Raises ``ValueError`` on an empty input.
    """
    e = _float(errors, "errors").to(torch.float64).reshape(-1)
    if e.numel() == 0:
        raise ValueError("errors: no angular errors")
    sorted_e = e.sort().values
    n = sorted_e.numel()
    median = sorted_e[n // 2] if n % 2 else 0.5 * (sorted_e[n // 2 - 1] + sorted_e[n // 2])
    out = {
        "mean_deg": float(e.mean()),
        "median_deg": float(median),
        "rmse_deg": float((e * e).mean().sqrt()),
    }
    for threshold, key in zip(_WITHIN, _WITHIN_IDS, strict=True):
        out[key] = float(100.0 * (e < threshold).to(torch.float64).mean())
    return out


class NormalAccumulator:
    """Pixel-pooled normal metrics (``dsine`` / ``stablenormal``) over many images in bounded memory.

    Sums give the mean, RMSE and ``within_*`` exactly; the median comes from a histogram of 1e-4° bins over
    [0°, 180°], so it is exact to 1e-4° (its memory is fixed at ~14 MB whatever the number of pixels).
    """

    BIN_DEG = 1e-4

    def __init__(self) -> None:
        self._bins = int(round(180.0 / self.BIN_DEG)) + 1
        self._hist = torch.zeros(self._bins, dtype=torch.int64)
        self._count = 0
        self._sum = 0.0
        self._sum_sq = 0.0
        self._within = [0, 0, 0]

    def update(self, errors: torch.Tensor) -> None:
        e = _float(errors, "errors").to(torch.float64).reshape(-1)
        if e.numel() == 0:
            return
        self._count += e.numel()
        self._sum += float(e.sum())
        self._sum_sq += float((e * e).sum())
        for i, threshold in enumerate(_WITHIN):
            self._within[i] += int((e < threshold).sum())
        idx = (e / self.BIN_DEG).round().to(torch.int64).clamp(0, self._bins - 1)
        self._hist += torch.bincount(idx, minlength=self._bins)

    def compute(self) -> dict[str, float]:
        if self._count == 0:
            raise ValueError("errors: no angular errors were accumulated")
        cum = self._hist.cumsum(0)
        n = self._count
        lower = int(torch.searchsorted(cum, (n - 1) // 2 + 1))  # bin of the (n-1)//2-th value (0-based)
        upper = int(torch.searchsorted(cum, n // 2 + 1))
        out = {
            "mean_deg": self._sum / n,
            "median_deg": 0.5 * (lower + upper) * self.BIN_DEG,
            "rmse_deg": math.sqrt(self._sum_sq / n),
        }
        for count, key in zip(self._within, _WITHIN_IDS, strict=True):
            out[key] = 100.0 * count / n
        return out


def normal_metrics_over_images(
    errors_per_image: Iterable[torch.Tensor], aggregation: NormalAggregation
) -> dict[str, float]:
    """Dataset score from per-image angular errors (each a 1-D tensor of one image's valid pixels).

    ``per_image`` (``marigold-normals``): :func:`normal_metrics` per image, then the mean of each metric over images.
    ``pooled`` (``dsine``, ``stablenormal``): all pixels of all images pooled, then computed once
    (:class:`NormalAccumulator`, bounded memory). Raises ``ValueError`` on an unknown ``aggregation`` or no errors.
    """
    if aggregation == "per_image":
        totals: dict[str, float] = {}
        n_images = 0
        for errors in errors_per_image:
            for key, value in normal_metrics(errors).items():
                totals[key] = totals.get(key, 0.0) + value
            n_images += 1
        if n_images == 0:
            raise ValueError("errors_per_image: no images")
        return {key: value / n_images for key, value in totals.items()}
    if aggregation == "pooled":
        acc = NormalAccumulator()
        for errors in errors_per_image:
            acc.update(errors)
        return acc.compute()
    raise ValueError(f"aggregation: expected 'per_image' or 'pooled', got {aggregation!r}")


# --------------------------------------------------------------------------------------------------------------------
# COCO (pycocotools)
# --------------------------------------------------------------------------------------------------------------------

CocoGroundTruth = Any  # a path to a COCO JSON file, its parsed dict, or a pycocotools ``COCO``


def _coco_dataset(gt: CocoGroundTruth) -> dict[str, Any]:
    """A private deep copy of the ground truth as a COCO dataset dict (callers' objects are never changed)."""
    from pycocotools.coco import COCO

    if isinstance(gt, COCO):
        return copy.deepcopy(gt.dataset)
    if isinstance(gt, Mapping):
        return copy.deepcopy(dict(gt))
    if isinstance(gt, str | PathLike):
        with open(gt, encoding="utf-8") as f:
            return json.load(f)
    raise ValueError(f"gt: expected a COCO JSON path, dict or pycocotools COCO, got {type(gt).__name__}")


def _coco_from_dataset(dataset: dict[str, Any]) -> Any:
    from pycocotools.coco import COCO

    coco = COCO()
    coco.dataset = dataset
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _run_cocoeval(
    dataset: dict[str, Any], detections: Sequence[Mapping[str, Any]], iou_type: str, image_ids: Sequence[int] | None
) -> np.ndarray:
    """COCOeval stats (12 for segm/bbox, 10 for keypoints); all zeros when there are no detections."""
    from pycocotools.cocoeval import COCOeval

    if not dataset.get("annotations"):
        raise ValueError("gt: the ground truth has no annotations")
    n_stats = 10 if iou_type == "keypoints" else 12
    if len(detections) == 0:
        return np.zeros(n_stats)
    for i, det in enumerate(detections):
        if "score" not in det:
            raise ValueError(f"detections[{i}]: a detection needs a 'score'")
    coco_gt = _coco_from_dataset(dataset)
    with contextlib.redirect_stdout(io.StringIO()):
        coco_dt = coco_gt.loadRes([dict(d) for d in detections])
        evaluator = COCOeval(coco_gt, coco_dt, iou_type)
        if image_ids is not None:
            evaluator.params.imgIds = list(image_ids)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    # COCOeval reports -1 where a size range has no ground truth; keep it as NaN rather than a fake score.
    return np.where(evaluator.stats < 0, np.nan, evaluator.stats)


def coco_keypoint_ap(
    gt: CocoGroundTruth, detections: Sequence[Mapping[str, Any]], *, image_ids: Sequence[int] | None = None
) -> dict[str, float]:
    """COCO keypoint AP via pycocotools ``COCOeval(gt, dt, "keypoints")`` (OKS, 17 sigmas, maxDets 20).

    ``detections`` are COCO result dicts (``image_id``, ``category_id``, ``keypoints`` [x, y, v]*17, ``score``).
    Returns ``{"ap", "ap50", "ap75", "apm", "apl", "ar"}`` in percent (x100); higher is better; no detections score 0.
    ``image_ids`` restricts the evaluation (tiers). Raises ``ValueError`` on a detection without a score or a ground
    truth without annotations.
    """
    stats = _run_cocoeval(_coco_dataset(gt), detections, "keypoints", image_ids)
    # COCOeval keypoint stats: AP, AP50, AP75, APm, APl, AR, AR50, AR75, ARm, ARl.
    return {"ap": float(100.0 * stats[0]), "ap50": float(100.0 * stats[1]), "ap75": float(100.0 * stats[2]),
            "apm": float(100.0 * stats[3]), "apl": float(100.0 * stats[4]), "ar": float(100.0 * stats[5])}


def coco_mask_ap(
    gt: CocoGroundTruth, detections: Sequence[Mapping[str, Any]], *, image_ids: Sequence[int] | None = None
) -> dict[str, float]:
    """COCO ``segm`` AP by category (``coco-instance``): ``{"instance_ap", "ap50", "ap75"}`` in percent (x100).

    ``detections`` carry ``image_id``, ``category_id``, ``segmentation`` (RLE or polygons) and ``score``.
    Higher is better. Raises as :func:`coco_keypoint_ap`.
    """
    stats = _run_cocoeval(_coco_dataset(gt), detections, "segm", image_ids)
    return {"instance_ap": float(100 * stats[0]), "ap50": float(100 * stats[1]), "ap75": float(100 * stats[2])}


def class_agnostic_mask_ap(
    gt: CocoGroundTruth, detections: Sequence[Mapping[str, Any]], *, image_ids: Sequence[int] | None = None
) -> dict[str, float]:
    """Class-agnostic mask AP / AR (``class-agnostic-cocoeval``): every category id is set to 1 in both the ground
    truth and the detections, then pycocotools ``segm`` evaluation.

    Returns ``{"ap", "ap50", "ap75"}`` in percent (x100) and ``{"ar_small", "ar_medium", "ar_large"}`` (AR@100 by
    object size) as fractions in [0, 1], as DICEPTION prints them; higher is better. A size range without ground
    truth gives NaN. Raises as :func:`coco_keypoint_ap`.
    """
    dataset = _coco_dataset(gt)
    for ann in dataset.get("annotations", []):
        ann["category_id"] = 1
    dataset["categories"] = [{"id": 1, "name": "entity", "supercategory": "entity"}]
    dets = [{**dict(d), "category_id": 1} for d in detections]
    stats = _run_cocoeval(dataset, dets, "segm", image_ids)
    return {
        "ap": float(100 * stats[0]),
        "ap50": float(100 * stats[1]),
        "ap75": float(100 * stats[2]),
        "ar_small": float(stats[9]),
        "ar_medium": float(stats[10]),
        "ar_large": float(stats[11]),
    }
