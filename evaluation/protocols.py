"""Prompt protocols: the click simulation and random points of ``../shared/reference/PROTOCOLS.md``.

What each protocol is (id, version, tasks, ranked, settings) is registered in ``diception_spec.protocols``; this
module implements the prompting rules.

``sam-center-click``: click 1 is the maximum of the L2 distance transform (DT) of the ground-truth mask padded by
one pixel (the image border counts as boundary), the first maximum in row-major order. Click k+1 is the maximum of
the DT of the larger error region: with FN = G ∧ ¬P and FP = ¬G ∧ P, each padded the same way, and the DT of the
already-clicked pixels set to 0 (they can never be chosen again), the click is positive if max DT(FN) > max DT(FP),
else negative. ``sam-center-click-positive-only`` takes every next click from FN only (models without negative
points, e.g. DICEPTION).

``random-points``: k distinct points drawn uniformly from the mask's pixels at the original resolution with a seed
derived from a stable hash of (benchmark, sample id, mask id).

Points leave this module as ``[x, y]`` pixel lists (x to the right, y down), as IDS.md specifies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch

from diception_spec.protocols import PROTOCOLS, ProtocolSpec, get_protocol, stable_seed
from diception_spec.scoring import mask_iou

__all__ = [
    "PROTOCOLS",
    "Click",
    "ClickSimulator",
    "ProtocolSpec",
    "distance_transform_padded",
    "get_protocol",
    "next_click",
    "random_points",
    "random_points_seeded",
    "run_clicks",
    "stable_seed",
]


# --------------------------------------------------------------------------------------------------------------------
# sam-center-click
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Click:
    x: int  # column, to the right
    y: int  # row, down
    positive: bool

    def as_point(self) -> list[int]:
        """``[x, y]`` in original-image pixels, as IDS.md specifies for point prompts."""
        return [self.x, self.y]


def _as_bool_array(mask: Any, name: str) -> np.ndarray:
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    arr = np.asarray(mask)
    if arr.dtype != np.bool_:
        raise ValueError(f"{name}: expected a bool mask, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a [H, W] mask, got shape {arr.shape}")
    return arr


def distance_transform_padded(mask: np.ndarray) -> np.ndarray:
    """Exact L2 distance of each mask pixel to the nearest non-mask pixel, the image border counting as boundary.

    The mask is padded by one zero pixel on each side, transformed with ``cv2.distanceTransform(DIST_L2,
    DIST_MASK_PRECISE)``, and the padding is stripped. Returns float32 [H, W]; 0 outside the mask.
    """
    padded = np.pad(mask.astype(np.uint8), 1, mode="constant", constant_values=0)  # [H+2, W+2]
    dt = cv2.distanceTransform(padded, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return dt[1:-1, 1:-1]


def _argmax_row_major(values: np.ndarray) -> tuple[int, int]:
    flat = int(np.argmax(values))  # numpy returns the first maximum in C (row-major) order
    y, x = divmod(flat, values.shape[1])
    return x, y


def next_click(
    gt: np.ndarray | torch.Tensor,
    pred: np.ndarray | torch.Tensor | None = None,
    clicked: Sequence[Click] = (),
    *,
    positive_only: bool = False,
) -> Click | None:
    """The next ``sam-center-click`` click for ground truth ``gt`` given the current prediction ``pred``.

    ``pred=None`` (no prediction yet) gives click 1, the centre of ``gt``. Returns None when no error pixel is left
    to click (the prediction is perfect, or the only errors are clicked pixels). Raises ``ValueError`` on non-bool
    or non-2-D masks, a shape mismatch, or an empty ``gt``.
    """
    gt_arr = _as_bool_array(gt, "gt")
    if not gt_arr.any():
        raise ValueError("gt: empty ground-truth mask")
    pred_arr = np.zeros_like(gt_arr) if pred is None else _as_bool_array(pred, "pred")
    if pred_arr.shape != gt_arr.shape:
        raise ValueError(f"shape mismatch: pred {pred_arr.shape}, gt {gt_arr.shape}")
    not_clicked = np.ones(gt_arr.shape, dtype=np.float32)
    for c in clicked:
        if 0 <= c.y < gt_arr.shape[0] and 0 <= c.x < gt_arr.shape[1]:
            not_clicked[c.y, c.x] = 0.0
    dt_fn = distance_transform_padded(gt_arr & ~pred_arr) * not_clicked  # [H, W]
    fn_max = float(dt_fn.max())
    if positive_only:
        return Click(*_argmax_row_major(dt_fn), positive=True) if fn_max > 0 else None
    dt_fp = distance_transform_padded(~gt_arr & pred_arr) * not_clicked  # [H, W]
    fp_max = float(dt_fp.max())
    if fn_max == 0 and fp_max == 0:
        return None
    if fn_max > fp_max:
        return Click(*_argmax_row_major(dt_fn), positive=True)
    return Click(*_argmax_row_major(dt_fp), positive=False)


class ClickSimulator:
    """Stateful ``sam-center-click`` for one mask: call :meth:`next` with each new prediction (None for click 1)."""

    def __init__(self, gt: np.ndarray | torch.Tensor, *, positive_only: bool = False) -> None:
        self.gt = _as_bool_array(gt, "gt")
        if not self.gt.any():
            raise ValueError("gt: empty ground-truth mask")
        self.positive_only = positive_only
        self.clicks: list[Click] = []

    def next(self, pred: np.ndarray | torch.Tensor | None = None) -> Click | None:
        click = next_click(self.gt, pred, self.clicks, positive_only=self.positive_only)
        if click is not None:
            self.clicks.append(click)
        return click


PredictFn = Callable[[list[Click]], Any]  # clicks so far -> bool mask [H, W] (numpy or torch)


def run_clicks(
    predict_fn: PredictFn, gt: np.ndarray | torch.Tensor, max_clicks: int, *, positive_only: bool = False
) -> list[float]:
    """Simulate up to ``max_clicks`` clicks on one mask and return the IoU (fraction) after each click.

    ``predict_fn(clicks)`` gets all clicks so far (``Click.x``/``.y`` in pixels, ``Click.positive``) and returns a
    bool [H, W] mask at ``gt``'s resolution. When no click is left to make (no error pixel), the remaining entries
    repeat the last IoU without calling ``predict_fn``. The result always has ``max_clicks`` entries. Raises
    ``ValueError`` on ``max_clicks`` < 1, an empty ``gt`` or a prediction of the wrong shape or dtype.
    """
    if max_clicks < 1:
        raise ValueError(f"max_clicks: must be >= 1, got {max_clicks}")
    sim = ClickSimulator(gt, positive_only=positive_only)
    ious: list[float] = []
    pred: np.ndarray | None = None
    for _ in range(max_clicks):
        click = sim.next(pred)
        if click is None:
            ious.append(ious[-1])
            continue
        pred = _as_bool_array(predict_fn(list(sim.clicks)), "pred")
        if pred.shape != sim.gt.shape:
            raise ValueError(f"pred: predict_fn returned shape {pred.shape}, expected {sim.gt.shape}")
        ious.append(mask_iou(pred, sim.gt))
    return ious


# --------------------------------------------------------------------------------------------------------------------
# random-points
# --------------------------------------------------------------------------------------------------------------------


def random_points_seeded(mask: np.ndarray | torch.Tensor, k: int, seed: int) -> list[list[int]]:
    """``min(k, |mask|)`` distinct ``[x, y]`` points drawn uniformly from the mask's pixels with
    ``numpy.random.default_rng(seed).choice(|mask|, size, replace=False)`` over the row-major list of mask pixels.
    Raises ``ValueError`` on ``k`` < 1 or an empty mask."""
    arr = _as_bool_array(mask, "mask")
    if k < 1:
        raise ValueError(f"k: must be >= 1, got {k}")
    flat = np.flatnonzero(arr)  # row-major indices of mask pixels
    if flat.size == 0:
        raise ValueError("mask: empty mask")
    rng = np.random.default_rng(seed)
    chosen = flat[rng.choice(flat.size, size=min(k, flat.size), replace=False)]
    ys, xs = np.divmod(chosen, arr.shape[1])
    return [[int(x), int(y)] for x, y in zip(xs, ys, strict=True)]


def random_points(
    mask: np.ndarray | torch.Tensor, k: int, *, benchmark: str, sample_id: str, mask_id: str | int
) -> list[list[int]]:
    """``random-points``: :func:`random_points_seeded` with the seed ``stable_seed("random-points", benchmark,
    sample_id, mask_id)``, so every run, process and machine draws the same points for the same mask."""
    return random_points_seeded(mask, k, stable_seed("random-points", benchmark, sample_id, mask_id))
