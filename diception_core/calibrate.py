"""Calibration of the release's two ambiguities with real weights: the point coordinate order and the normal frame.

Point order: each SA-1B mask is prompted at its centre (the distance-transform maximum) under both orders; the
order with the higher mean IoU is the one the weights were trained with. Normal frame: predicted normals are
compared with ground truth read in each candidate frame; the frame with the lower mean angular error wins.
With random (tiny) weights the report is noise, but the procedure is the same.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from diception_spec.scoring import angular_error_deg, mask_iou
from diception_spec.tasks import Task

from .decoders import convert_normal_frame, decode_normals
from .image_io import load_rgb
from .pipeline import DiceptionPipeline

MARGIN = 0.01  # a winner must beat the other hypothesis by this much to be called


def mask_centre(mask: np.ndarray) -> list[float]:
    """The first maximum (row-major) of the L2 distance transform of the mask padded by one pixel: [x, y]."""
    padded = np.pad(mask.astype(np.uint8), 1)
    dist = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)[1:-1, 1:-1]
    y, x = np.unravel_index(int(np.argmax(dist)), dist.shape)
    return [float(x), float(y)]


def load_sa1b(folder: str | Path, max_masks: int) -> list[tuple[Path, list[np.ndarray]]]:
    """(image path, masks) pairs from SA-1B ``<name>.jpg`` + ``<name>.json``, at most ``max_masks`` masks in all."""
    from pycocotools import mask as mask_utils

    samples, total = [], 0
    for json_path in sorted(Path(folder).glob("*.json")):
        image_path = json_path.with_suffix(".jpg")
        if not image_path.is_file():
            continue
        data = json.loads(json_path.read_text(encoding="utf-8"))
        masks = []
        for annotation in data.get("annotations", []):
            if total >= max_masks:
                break
            masks.append(mask_utils.decode(annotation["segmentation"]).astype(bool))
            total += 1
        if masks:
            samples.append((image_path, masks))
        if total >= max_masks:
            break
    return samples


def calibrate_point_order(pipe: DiceptionPipeline, samples, **run: Any) -> dict[str, Any]:
    scores: dict[str, list[float]] = {"yx": [], "xy": []}
    original = pipe.config
    # Each image decoded and each click found once, for both orders.
    prompts = [(load_rgb(path, max_pixels=original.max_input_pixels, name=str(path)),
                [[mask_centre(m)] for m in masks]) for path, masks in samples]
    try:
        for order in scores:
            pipe.config = original.replace(point_order=order)
            for (image, point_sets), (_, masks) in zip(prompts, samples, strict=True):
                out = pipe(image, Task.POINT_SEGMENTATION, points=point_sets, **run)
                scores[order] += [mask_iou(p.mask, m) for p, m in zip(out, masks, strict=True)]
    finally:
        pipe.config = original
    means = {order: float(np.mean(v)) if v else float("nan") for order, v in scores.items()}
    best = max(means, key=lambda k: means[k])
    other = "xy" if best == "yx" else "yx"
    decided = bool(np.isfinite(means[best]) and means[best] - means[other] >= MARGIN)
    return {"miou": means, "masks": len(scores["yx"]), "best": best if decided else None,
            "current_setting": original.point_order,
            "verdict": f"point_order={best!r} fits" if decided else "undecided (difference below margin)"}


def calibrate_normal_frame(pipe: DiceptionPipeline, folder: str | Path, gt_frame: str, **run: Any) -> dict[str, Any]:
    errors: dict[str, list[float]] = {"marigold": [], "dsine": []}
    for image_path in sorted(Path(folder).glob("*_img.png")):
        stem = image_path.name[: -len("_img.png")]
        npy, png = image_path.with_name(f"{stem}_normal.npy"), image_path.with_name(f"{stem}_normal.png")
        if npy.is_file():
            gt = np.load(npy).astype(np.float32)
        elif png.is_file():
            gt = np.asarray(Image.open(png).convert("RGB"), dtype=np.float32) / 255.0 * 2.0 - 1.0
        else:
            continue
        valid = np.linalg.norm(gt, axis=-1) > 0.5
        gt = gt / np.maximum(np.linalg.norm(gt, axis=-1, keepdims=True), 1e-6)
        out = pipe(str(image_path), Task.NORMAL, decode=False, **run)
        as_output = decode_normals(out[0].rgb, frame="marigold")  # [H, W, 3] the output's vectors, unconverted
        for frame in errors:
            # Hypothesis: the model's output is in ``frame``; express it in the ground truth's frame and compare.
            pred = convert_normal_frame(as_output, frame, gt_frame)
            if valid.any():
                errors[frame].append(float(angular_error_deg(pred, gt, valid).mean()))
    means = {frame: float(np.mean(v)) if v else float("nan") for frame, v in errors.items()}
    finite = {k: v for k, v in means.items() if np.isfinite(v)}
    best = min(finite, key=lambda k: finite[k]) if finite else None
    return {"mean_angle_deg": means, "images": len(errors["marigold"]), "best": best,
            "current_setting": pipe.config.normal_frame}


def calibrate(
    pipe: DiceptionPipeline,
    *,
    sa1b_dir: str | Path | None = None,
    normals_dir: str | Path | None = None,
    normals_frame: str = "dsine",
    max_masks: int = 50,
    steps: int | None = None,
    guidance: float | None = None,
    seed: int | None = None,
) -> dict[str, Any]:
    """Run the calibrations whose data is given; returns a JSON-serialisable report."""
    if sa1b_dir is None and normals_dir is None:
        raise ValueError("calibrate: pass --sa1b (SA-1B samples) and/or --normals (normal ground truth)")
    run = {"num_inference_steps": steps, "guidance_scale": guidance, "seed": seed}
    report: dict[str, Any] = {"model_revision": pipe.config.model_revision, "untrained": pipe.config.untrained}
    if sa1b_dir is not None:
        samples = load_sa1b(sa1b_dir, max_masks)
        if not samples:
            raise ValueError(f"--sa1b: no SA-1B image + JSON pairs found in {sa1b_dir}")
        report["point_order"] = calibrate_point_order(pipe, samples, **run)
    if normals_dir is not None:
        report["normal_frame"] = calibrate_normal_frame(pipe, normals_dir, normals_frame, **run)
    return report
