"""Thumbnails of a run's worst and best items: what a reader needs to see why a score is what it is.

After the runner has scored every item, :func:`render_thumbnails` picks, per dataset, the ``per_dataset`` worst and
as many best items by the dataset's main metric (``samples[i].metrics``; the first metric the items have when the
main one is not among them, e.g. ``miou_5pt_random`` under ``random-points``), predicts exactly those items again and
draws three small images of each:

- ``input``: the image, with the prompt points of the scored prediction drawn (green: positive, red: negative);
- ``truth``: the ground truth (a mask over the dimmed image; disparity coloured with the Spectral map, invalid pixels
  black; normals as ``(n + 1) / 2`` in Marigold's frame, invalid pixels black);
- ``prediction``: the prediction drawn the same way (depth normalised on its own 2nd-98th percentiles, as the
  scores are affine-invariant).

Sizes are bounded: every image is at most ``max_side`` pixels a side (``THUMBNAIL_MAX_SIDE``, 256) and a run's images
together at most ``max_bytes`` (``THUMBNAIL_MAX_BYTES``, 5 MB), encoded as WebP (quality 80). Items are rendered
round-robin over datasets and ranks (every dataset's worst item, then every dataset's best, then the second worst,
...), so the budget drops the deepest positions of all datasets rather than whole datasets; each dropped item is
listed with the reason. A dataset with fewer than ``2 x per_dataset`` items is split in two halves (worst and best
never show the same item).

Only one item's full-resolution arrays are alive at a time: the image, ground truth and prediction are reduced to
thumbnail size (area interpolation) before anything is drawn. A mask item is predicted again with the points that
produced its score (the stored clicks or random points); its IoU is checked against the stored value and an item
whose re-prediction differs carries a ``note`` (a seeded DICEPTION, SAM and Depth Anything predict the same item
the same way whatever the batch). Nothing is rendered for a submitter's own split (``user:`` benchmarks: data we do
not host) or for prediction files (``files``: self-submitted rows show their per-sample scores only); those
datasets are listed in ``skipped``.
"""

from __future__ import annotations

import base64
import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
from PIL import Image

from diception_core.visualize import colorize_depth, draw_points, mask_overlay, normals_to_image
from diception_spec.benchmarks import USER_SPLIT_PREFIX
from diception_spec.metrics import METRICS
from diception_spec.normals import CANONICAL_FRAME, convert_normal_frame
from diception_spec.protocols import get_protocol
from diception_spec.results import THUMBNAIL_MAX_BYTES, THUMBNAIL_MAX_SIDE, THUMBNAILS_PER_DATASET
from diception_spec.scoring import mask_iou
from diception_spec.tasks import Task

logger = logging.getLogger(__name__)

__all__ = ["GalleryDataset", "pick_items", "render_thumbnails"]

MEDIA_TYPE = "image/webp"
WEBP_QUALITY = 80
MARKER_RADIUS = 3  # pixels, on the thumbnail
_TRUTH_COLOR = (64, 160, 255)
_PREDICTION_COLOR = (255, 140, 0)
_NEGATIVE_COLOR = (255, 40, 40)
_CLICKS = re.compile(r"miou_(\d+)pt")  # the runner's per-click metric ids: miou_<k>pt
IOU_TOLERANCE = 1e-3  # percent: a re-prediction whose IoU differs more than this gets a note


@dataclass(frozen=True)
class GalleryDataset:
    """One scored dataset: the (task, benchmark) spec and protocol of its job, its id and the source to load from."""

    spec: Any  # evaluation.benchmarks.BenchmarkSpec
    protocol: str
    dataset: str
    source: Any  # has load(sample_id) -> a sample with image, masks, depth, normals, valid, frame


# --------------------------------------------------------------------------------------------------------------------
# Choosing the items
# --------------------------------------------------------------------------------------------------------------------


def _metric_for(spec: Any, records: Sequence[dict[str, Any]]) -> str | None:
    have = records[0].get("metrics", {}) if records else {}
    if spec.main_metric in have:
        return spec.main_metric
    return next(iter(have), None)


def pick_items(
    records: Sequence[dict[str, Any]], metric: str, per_dataset: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(worst, best) items of one dataset by ``metric``: worst first and best first, ties broken by (sample id,
    mask id); at most ``per_dataset`` each, disjoint (a small dataset is split in halves, the extra item to worst)."""
    higher = METRICS[metric].higher_is_better
    usable = [r for r in records if metric in r.get("metrics", {})]
    order = sorted(usable, key=lambda r: (r["metrics"][metric] * (1 if higher else -1), r["sample_id"],
                                          str(r.get("mask_id", ""))))
    n_worst = min(per_dataset, (len(order) + 1) // 2)
    n_best = min(per_dataset, len(order) - n_worst)
    return order[:n_worst], order[::-1][:n_best]


# --------------------------------------------------------------------------------------------------------------------
# Drawing one item
# --------------------------------------------------------------------------------------------------------------------


def _thumb_size(height: int, width: int, max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def _shrink(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``array`` [H, W(, C)] reduced to ``size`` (h, w) with area interpolation, as float32 (uint8 for uint8)."""
    h, w = size
    if array.shape[:2] == (h, w):
        return array
    src = array if array.dtype == np.uint8 else array.astype(np.float32)
    return cv2.resize(src, (w, h), interpolation=cv2.INTER_AREA)


def _shrink_mask(mask: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    return _shrink(mask.astype(np.float32), size) >= 0.5  # [h, w] bool: covered at least half


def _dimmed(image: np.ndarray) -> np.ndarray:
    return (image.astype(np.float32) * 0.55).astype(np.uint8)


def _disparity_image(disparity: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Colour ``disparity`` [h, w] on its valid pixels' 2nd-98th percentiles (Spectral: near red); invalid black."""
    out = np.zeros((*disparity.shape, 3), dtype=np.uint8)
    if not valid.any():
        return out
    low, high = np.percentile(disparity[valid], [2.0, 98.0])
    t = np.clip((disparity[valid] - low) / max(high - low, 1e-12), 0.0, 1.0)  # [V] in [0, 1]
    # colorize_depth normalises min-max: the two end values pin its range to [0, 1] whatever the pixels span.
    colored = colorize_depth(np.concatenate([t, [0.0, 1.0]]).astype(np.float32)[None])  # [1, V + 2, 3]
    out[valid] = colored[0, :-2]
    return out


def _shrink_valid(values: np.ndarray, valid: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Area-average ``values`` [H, W(, C)] over valid pixels only; a thumbnail pixel is valid when any pixel under
    it is (sparse ground truth such as KITTI's LiDAR stays visible)."""
    weight = _shrink(valid.astype(np.float32), size)  # [h, w]: the valid fraction under each thumbnail pixel
    filled = np.where(valid[..., None] if values.ndim == 3 else valid, values, 0).astype(np.float32)
    total = _shrink(filled, size)
    keep = weight > 0
    denom = np.maximum(weight, 1e-6)
    return (total / (denom[..., None] if values.ndim == 3 else denom)), keep


def _normals_image(normals: np.ndarray, valid: np.ndarray, frame: str) -> np.ndarray:
    norm = np.linalg.norm(normals, axis=-1, keepdims=True)
    unit = np.where(norm > 1e-6, normals / np.maximum(norm, 1e-6), np.array([0.0, 0.0, 1.0], dtype=np.float32))
    out = normals_to_image(unit.astype(np.float32), frame)
    out[~valid] = 0
    return out


def _clicks_for(metric: str, values: dict[str, Any]) -> tuple[list[list[float]], list[int]]:
    """The points and labels of the prediction ``metric`` scored: the first k stored clicks, or the random points."""
    if "points" in values:
        points = [list(map(float, p)) for p in values["points"]]
        return points, [1] * len(points)
    clicks = values.get("clicks") or []
    match = _CLICKS.fullmatch(metric)
    k = int(match.group(1)) if match else len(clicks)
    chosen = clicks[: max(1, min(k, len(clicks)))]
    return [[float(c[0]), float(c[1])] for c in chosen], [int(c[2]) for c in chosen]


def _render_masks(predictor: Any, item: GalleryDataset, record: dict[str, Any], metric: str,
                  max_side: int) -> tuple[dict[str, np.ndarray], str]:
    sample = item.source.load(record["sample_id"])
    mask_id = str(record.get("mask_id", ""))
    gt = sample.masks[mask_id]
    points, labels = _clicks_for(metric, record["values"])
    oracle = get_protocol(item.protocol).settings.get("multimask") == "oracle"
    (pred,) = predictor.predict_masks(
        sample.image, [points], sample_id=sample.sample_id, labels=[labels] if predictor.negative_points else None,
        mask_ids=[mask_id], gt_masks=[gt] if oracle else None,
    )
    pred = np.asarray(pred, dtype=bool)
    note = ""
    stored = record["metrics"].get(metric)
    if _CLICKS.fullmatch(metric) or metric == "miou_5pt_random":
        again = 100.0 * mask_iou(pred, gt)
        if stored is not None and abs(again - float(stored)) > IOU_TOLERANCE:
            note = f"the prediction drawn has IoU {again:.2f}, the scored one {float(stored):.2f}"
    height, width = sample.image.shape[:2]
    size = _thumb_size(height, width, max_side)
    small = _shrink(sample.image, size)
    scaled = np.array(points, dtype=np.float64) * [size[1] / width, size[0] / height]  # [P, 2] thumbnail pixels
    is_positive = np.array(labels, dtype=bool)
    drawn = draw_points(small, scaled[is_positive], radius=MARKER_RADIUS)
    if (~is_positive).any():
        drawn = draw_points(drawn, scaled[~is_positive], radius=MARKER_RADIUS, color=_NEGATIVE_COLOR)
    dim = _dimmed(small)
    images = {
        "input": drawn,
        "truth": mask_overlay(dim, _shrink_mask(gt, size), color=_TRUTH_COLOR, alpha=0.75),
        "prediction": mask_overlay(dim, _shrink_mask(pred, size), color=_PREDICTION_COLOR, alpha=0.75),
    }
    return images, note


def _render_depth(predictor: Any, item: GalleryDataset, record: dict[str, Any], max_side: int) -> dict[str, Any]:
    from evaluation.benchmarks import depth_valid_mask, kb_crop_box

    sample = item.source.load(record["sample_id"])
    image, gt, valid = sample.image, sample.depth, sample.valid
    rules = item.spec.depth
    if rules is not None and rules.kb_crop:  # the scorer's crop (runner._score_depth)
        top, left, h, w = kb_crop_box(*gt.shape)
        image, gt, valid = (a[top:top + h, left:left + w] for a in (image, gt, valid))
    if rules is not None:
        valid = depth_valid_mask(rules, gt, valid if rules.mask_file else None) & (valid | rules.mask_file)
    valid = valid & (gt > 0)
    pred = np.asarray(predictor.predict_depth(image, sample_id=sample.sample_id), dtype=np.float32)
    if predictor.depth_output != "disparity":
        pred = np.where(pred > 0, 1.0 / np.maximum(pred, 1e-6), 0.0).astype(np.float32)
    size = _thumb_size(*gt.shape, max_side)
    gt_disp, gt_valid = _shrink_valid(np.where(valid, 1.0 / np.maximum(gt, 1e-6), 0.0), valid, size)
    pred_small = _shrink(pred, size)
    finite = np.isfinite(pred_small)
    return {
        "input": _shrink(image, size),
        "truth": _disparity_image(gt_disp, gt_valid),
        "prediction": _disparity_image(np.where(finite, pred_small, 0.0), finite),
    }


def _render_normals(predictor: Any, item: GalleryDataset, record: dict[str, Any], max_side: int) -> dict[str, Any]:
    sample = item.source.load(record["sample_id"])
    pred = np.asarray(predictor.predict_normals(sample.image, sample_id=sample.sample_id), dtype=np.float32)
    valid = sample.valid & (np.linalg.norm(sample.normals, axis=-1) > 0)
    size = _thumb_size(*sample.normals.shape[:2], max_side)
    gt_small, gt_valid = _shrink_valid(sample.normals, valid, size)
    pred_small = _shrink(convert_normal_frame(pred, CANONICAL_FRAME, sample.frame), size)
    return {
        "input": _shrink(sample.image, size),
        "truth": _normals_image(gt_small, gt_valid, sample.frame),
        "prediction": _normals_image(pred_small, np.ones(size, dtype=bool), sample.frame),
    }


def _encode(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="WEBP", quality=WEBP_QUALITY, method=4)
    return buffer.getvalue()


# --------------------------------------------------------------------------------------------------------------------
# The run's thumbnails
# --------------------------------------------------------------------------------------------------------------------


def render_thumbnails(
    predictor: Any,
    datasets: Sequence[GalleryDataset],
    samples: Sequence[dict[str, Any]],
    *,
    per_dataset: int = THUMBNAILS_PER_DATASET,
    max_side: int = THUMBNAIL_MAX_SIDE,
    max_bytes: int = THUMBNAIL_MAX_BYTES,
) -> dict[str, Any]:
    """The result's ``thumbnails`` section (``diception_spec.results``) for ``samples`` (the result's, with
    ``metrics``) of ``datasets``; see the module docstring. Raises ``ValueError`` on sizes outside the schema's
    bounds; a sample that fails to load or predict is listed in ``dropped`` with the reason."""
    if per_dataset < 1:
        raise ValueError(f"per_dataset: must be >= 1, got {per_dataset}")
    if not 1 <= max_side <= THUMBNAIL_MAX_SIDE:
        raise ValueError(f"max_side: expected 1..{THUMBNAIL_MAX_SIDE} pixels, got {max_side}")
    if not 0 <= max_bytes <= THUMBNAIL_MAX_BYTES:
        raise ValueError(f"max_bytes: expected 0..{THUMBNAIL_MAX_BYTES}, got {max_bytes}")
    by_dataset: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for s in samples:
        by_dataset.setdefault((s["task"], s["benchmark"]), []).append(s)
    skipped: list[dict[str, Any]] = []
    queues: list[list[tuple[GalleryDataset, str, str, int, dict[str, Any]]]] = []
    for item in datasets:
        task = item.spec.task_id
        where = {"task": task, "benchmark": item.dataset}
        if getattr(predictor, "kind", "") == "files":
            skipped.append({**where, "reason": "prediction files: per-sample scores only"})
            continue
        if item.dataset.startswith(USER_SPLIT_PREFIX) or item.spec.id.startswith(USER_SPLIT_PREFIX):
            skipped.append({**where, "reason": "a submitter's own split: data not hosted here"})
            continue
        records = by_dataset.get((task, item.dataset), [])
        metric = _metric_for(item.spec, records)
        if metric is None:
            continue
        worst, best = pick_items(records, metric, per_dataset)
        queue = []
        for position in range(per_dataset):
            for rank, chosen in (("worst", worst), ("best", best)):
                if position < len(chosen):
                    queue.append((item, metric, rank, position, chosen[position]))
        queues.append(queue)

    items: list[dict[str, Any]] = []
    dropped: list[dict[str, Any]] = []
    total = 0
    longest = max((len(q) for q in queues), default=0)
    for step in range(longest):
        for queue in queues:
            if step >= len(queue):
                continue
            item, metric, rank, position, record = queue[step]
            key = {"task": item.spec.task_id, "benchmark": item.dataset, "sample_id": record["sample_id"],
                   "mask_id": str(record.get("mask_id", "")), "rank": rank, "position": position}
            try:
                images, note = _render(predictor, item, record, metric, max_side)
            except (ValueError, KeyError, OSError) as exc:
                dropped.append({**key, "reason": f"could not be drawn: {type(exc).__name__}: {exc}"})
                logger.warning("thumbnail of %s/%s %s: %s", key["task"], key["benchmark"], key["sample_id"], exc)
                continue
            encoded = {role: _encode(images[role]) for role in ("input", "truth", "prediction")}
            size = sum(len(b) for b in encoded.values())
            if total + size > max_bytes:
                dropped.append({**key, "reason": f"over the run's thumbnail budget of {max_bytes} bytes"})
                continue
            total += size
            height, width = images["input"].shape[:2]
            entry = {**key, "metric": metric, "value": float(record["metrics"][metric]), "width": int(width),
                     "height": int(height), **{r: base64.b64encode(b).decode("ascii") for r, b in encoded.items()}}
            if note:
                entry["note"] = note
                logger.warning("thumbnail of %s/%s %s: %s", key["task"], key["benchmark"], key["sample_id"], note)
            items.append(entry)
    return {"media_type": MEDIA_TYPE, "max_side": max_side, "per_dataset": per_dataset, "bytes": total,
            "items": items, "dropped": dropped, "skipped": skipped}


def _render(predictor: Any, item: GalleryDataset, record: dict[str, Any], metric: str,
            max_side: int) -> tuple[dict[str, np.ndarray], str]:
    task = Task.parse(item.spec.task_id)
    if task is Task.POINT_SEGMENTATION:
        return _render_masks(predictor, item, record, metric, max_side)
    if task is Task.DEPTH:
        return _render_depth(predictor, item, record, max_side), ""
    return _render_normals(predictor, item, record, max_side), ""
