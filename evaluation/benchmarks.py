"""Benchmarks as the evaluation needs them: the registry of ``diception_spec.benchmarks`` plus what takes numpy or
data on disk (KITTI's benchmark crop, the Eigen evaluation crops, valid-depth masks, user splits).

Every spec, id, tier and protocol is ``diception_spec.benchmarks``' (import them from there); this module only adds
the rules that need arrays or files.
"""

from __future__ import annotations

import hashlib
import json
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from diception_spec.benchmarks import (
    KB_CROP_SIZE,
    OWN_SPLIT_LABEL,
    TASK_SCORING_DEFAULTS,
    USER_SPLIT_PREFIX,
    BenchmarkSpec,
    DataSource,
    DepthRules,
)
from diception_spec.metrics import METRICS
from diception_spec.protocols import PROTOCOLS
from diception_spec.tasks import Task

__all__ = ["depth_valid_mask", "eval_crop_mask", "kb_crop_box", "user_split"]

# --------------------------------------------------------------------------------------------------------------------
# Depth rules
# --------------------------------------------------------------------------------------------------------------------

KB_CROP_HEIGHT, KB_CROP_WIDTH = KB_CROP_SIZE


def kb_crop_box(height: int, width: int) -> tuple[int, int, int, int]:
    """KITTI benchmark crop ``(top, left, 352, 1216)`` with top = H − 352, left = (W − 1216) // 2.

    Applied to the image and the ground truth before prediction. Raises ``ValueError`` on a smaller image.
    """
    if height < KB_CROP_HEIGHT or width < KB_CROP_WIDTH:
        raise ValueError(f"height, width: the KB crop needs at least 352 x 1216, got {height} x {width}")
    return height - KB_CROP_HEIGHT, (width - KB_CROP_WIDTH) // 2, KB_CROP_HEIGHT, KB_CROP_WIDTH


def eval_crop_mask(crop: str | None, height: int, width: int) -> np.ndarray:
    """The evaluation crop as a bool [H, W] mask.

    ``eigen_nyu``: rows 45:471, cols 41:601 of a 640 x 480 map. ``eigen_kitti``: rows [⌊0.3324·H⌋, ⌊0.9135·H⌋),
    cols [⌊0.0359·W⌋, ⌊0.9641·W⌋) of the KB-cropped map. None: everything. Raises ``ValueError`` on an unknown crop
    or a NYU map that is not 480 x 640.
    """
    mask = np.zeros((height, width), dtype=bool)
    if crop is None:
        mask[:] = True
    elif crop == "eigen_nyu":
        if (height, width) != (480, 640):
            raise ValueError(f"height, width: the NYUv2 Eigen crop is defined on 480 x 640, got {height} x {width}")
        mask[45:471, 41:601] = True
    elif crop == "eigen_kitti":
        mask[int(0.3324 * height) : int(0.9135 * height), int(0.0359 * width) : int(0.9641 * width)] = True
    else:
        raise ValueError(f"crop: unknown crop {crop!r}; known crops: eigen_nyu, eigen_kitti")
    return mask


def depth_valid_mask(rules: DepthRules, gt: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """The evaluation mask of one ground-truth depth map [H, W] (metres) under ``rules``.

    Finite and > 0 always; then ``valid_above < d < valid_below`` where set; the evaluation crop; and, for datasets
    whose mask file is the valid mask (DIODE), that ``mask`` (required then). Raises ``ValueError`` on a missing
    or mis-shaped ``mask``.
    """
    gt = np.asarray(gt)
    valid = np.isfinite(gt) & (gt > 0)
    if rules.valid_above is not None:
        valid &= gt > rules.valid_above
    if rules.valid_below is not None:
        valid &= gt < rules.valid_below
    if rules.mask_file:
        if mask is None:
            raise ValueError("mask: this dataset's valid mask comes from its mask file; pass it")
        mask = np.asarray(mask, dtype=bool)
        if mask.shape != gt.shape:
            raise ValueError(f"shape mismatch: mask {mask.shape}, gt {gt.shape}")
        valid &= mask
    if rules.eval_crop is not None:
        valid &= eval_crop_mask(rules.eval_crop, *gt.shape)
    return valid


_MANIFEST = "manifest.json"


def user_split(
    path: str | PathLike[str],
    *,
    task: Task | str | None = None,
    name: str | None = None,
    main_metric: str | None = None,
    protocol: str | None = None,
) -> BenchmarkSpec:
    """A user-supplied test split in the prepared format as a benchmark: scored, never ranked (``ranked=False``,
    labelled "own test split").

    ``path`` is the prepared folder (or its ``manifest.json``). The task comes from ``task`` or the manifest's
    ``family`` / ``task`` field; the data revision is the manifest's sha256 (first 16 hex digits), so results record
    exactly which split they were scored on. A task without prepared-format defaults (a new task) needs
    ``main_metric`` (a registered metric id). Raises ``FileNotFoundError`` when there is no manifest and no
    ``task``, ``ValueError`` on an unusable task, metric or protocol.
    """
    folder = Path(path)
    manifest_path = folder if folder.name == _MANIFEST else folder / _MANIFEST
    folder = manifest_path.parent
    manifest: dict[str, Any] = {}
    revision = "unversioned"
    if manifest_path.is_file():
        raw = manifest_path.read_bytes()
        revision = "sha256:" + hashlib.sha256(raw).hexdigest()[:16]
        try:
            manifest = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValueError(f"path: {manifest_path} is not valid JSON: {exc}") from exc
    elif task is None:
        raise FileNotFoundError(f"path: no {_MANIFEST} in {folder}; prepare the split first or pass task=")
    task_value = task if task is not None else manifest.get("task") or manifest.get("family")
    if not task_value:
        raise ValueError(f"task: {manifest_path} names no task (family); pass task=")
    try:
        task_obj: Task | str = Task.parse(task_value)
    except ValueError:
        task_obj = str(task_value)
    task_id = task_obj.value if isinstance(task_obj, Task) else task_obj
    defaults = TASK_SCORING_DEFAULTS.get(task_obj) if isinstance(task_obj, Task) else None
    protocols, default_main, metrics = defaults or ((), None, ())
    chosen_main = main_metric or default_main
    if chosen_main is None:
        raise ValueError(f"main_metric: task {task_id!r} has no default metric; pass one of: {', '.join(METRICS)}")
    if chosen_main not in METRICS:
        raise ValueError(f"main_metric: unknown metric {chosen_main!r}; known metrics: {', '.join(METRICS)}")
    if chosen_main not in metrics:
        metrics = (chosen_main, *metrics)
    if protocol is not None:
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol: unknown protocol {protocol!r}; known protocols: {', '.join(PROTOCOLS)}")
        protocols = (protocol, *[p for p in protocols if p != protocol])
    samples = manifest.get("samples")
    n = len(samples) if isinstance(samples, list) else None
    split_name = name or manifest.get("benchmark") or folder.name
    return BenchmarkSpec(
        id=f"{USER_SPLIT_PREFIX}{split_name}", task=task_obj, version=str(manifest.get("spec_version", "0")),
        data_revision=revision, title=f"{split_name} ({OWN_SPLIT_LABEL})", domain="user-supplied",
        protocols=tuple(protocols), default_protocol=protocols[0] if protocols else "",
        main_metric=chosen_main, metrics=tuple(metrics),
        item="mask" if task_obj is Task.POINT_SEGMENTATION else "image",
        num_samples=None, num_images=n,
        source=DataSource(str(folder), "user-supplied", "prepared format (evaluation.data)"),
        ranked=False, label=OWN_SPLIT_LABEL, path=str(folder),
    )

