"""Point prompts: the one place where IDS.md's pixel points become the model's 5 normalised slots.

Outside the model a point prompt is a list of ``[x, y]`` pairs in original-image pixels (x to the right, y down),
at most 5, positive only. Inside, the model takes exactly 5 slots of (coordinate pair in [0, 1], label) with label 1
for a point and 0 for an empty slot; the coordinate order is a model setting (``DiceptionConfig.point_order``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from diception_spec.errors import Refused
from diception_spec.json_input import parse_json
from diception_spec.tasks import MAX_POINTS

MAX_POINTS_JSON_CHARS = 10_000  # a JSON point prompt; 5 points need fewer than 100
PointsLike = Sequence[Sequence[float]] | np.ndarray | torch.Tensor | None


def parse_points(points: PointsLike) -> np.ndarray:
    """Return points as a float64 array [K, 2] of (x, y); accepts nested lists, numpy or torch: numbers only.

    ``None`` and an empty list give an empty [0, 2] array. Raises ``ValueError`` naming ``points`` for text (a
    JSON string is an edge's format: the app and the CLI parse theirs), for anything that is not a list of pairs of
    finite numbers, and for more than 5 points.
    """
    if points is None:
        return np.zeros((0, 2), dtype=np.float64)
    if isinstance(points, str | bytes):
        raise ValueError(f"points: expected numbers ([[x, y], ...] pixels), got text {_short(points)}; parse it at "
                         "your edge (e.g. points.parse_points_json)")
    if isinstance(points, torch.Tensor):
        points = points.detach().cpu().numpy()
    try:
        array = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):  # OverflowError: an integer too large for a float
        raise ValueError(f"points: expected a list of [x, y] pairs of numbers, got {_short(points)}") from None
    if array.size == 0:
        return np.zeros((0, 2), dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2:
        raise ValueError(f"points: expected a list of [x, y] pairs, got an array of shape {tuple(array.shape)}")
    if not np.isfinite(array).all():
        raise ValueError("points: coordinates must be finite numbers (got NaN or infinity)")
    if len(array) > MAX_POINTS:
        raise ValueError(f"points: the model takes at most {MAX_POINTS} points, got {len(array)}; remove some")
    return array


def parse_points_json(text: str | None) -> np.ndarray:
    """The JSON point format of the edges (the app's points textbox, the CLI's ``--points [[x, y], ...]``;
    IDS.md's ``[[x, y], ...]`` pixels) -> ``parse_points`` of its numbers, float64 [K, 2].

    Read with the strict user-JSON reader (at most ``MAX_POINTS_JSON_CHARS``); ``None``, ``""`` give no points.
    Raises ``Refused`` (a ``ValueError``) naming ``points`` for text that is not such a list.
    """
    text = (text or "").strip()
    if not text:
        return np.zeros((0, 2), dtype=np.float64)
    try:
        value = parse_json(text, name="points", max_bytes=MAX_POINTS_JSON_CHARS)
    except Refused as err:
        raise Refused(f"{err}; expected e.g. [[412, 230], [455, 260]]") from None
    return parse_points(value)


def normalize_points(points: PointsLike, width: int, height: int, *, normalized: bool = False) -> np.ndarray:
    """Validate points against an image of ``width`` x ``height`` and return them as (x / W, y / H) in [0, 1].

    With ``normalized=True`` the input is already in [0, 1] (x / W, y / H). Pixel points must satisfy
    0 <= x < W and 0 <= y < H; anything outside raises ``ValueError`` naming the point.
    """
    array = parse_points(points)  # [K, 2] (x, y)
    if normalized:
        bad = [p for p in array.tolist() if not (0.0 <= p[0] <= 1.0 and 0.0 <= p[1] <= 1.0)]
        if bad:
            raise ValueError(f"points: normalized points must lie in [0, 1]; out of range: {bad}")
        return array
    bad = [p for p in array.tolist() if not (0.0 <= p[0] < width and 0.0 <= p[1] < height)]
    if bad:
        raise ValueError(
            f"points: {bad} lie outside the {width}x{height} image (x in [0, {width}), y in [0, {height}), pixels)"
        )
    return array / np.array([width, height], dtype=np.float64)


def points_to_slots(normalized_xy: np.ndarray, order: str = "yx") -> tuple[torch.Tensor, torch.Tensor]:
    """Pack up to 5 normalised (x, y) points into the model's 5 slots.

    Returns ``coords`` [5, 2] float32 in the model's coordinate ``order`` ("yx" = (y/H, x/W), "xy" = (x/W, y/H))
    and ``labels`` [5] int64 (1 = point, 0 = empty slot with coordinates (0, 0)).
    """
    if order not in ("yx", "xy"):
        raise ValueError(f"order: {order!r} is not one of 'yx', 'xy'")
    count = len(normalized_xy)
    if count > MAX_POINTS:
        raise ValueError(f"points: the model takes at most {MAX_POINTS} points, got {count}")
    coords = torch.zeros(MAX_POINTS, 2, dtype=torch.float32)  # [5, 2]
    labels = torch.zeros(MAX_POINTS, dtype=torch.int64)  # [5]
    if count:
        xy = torch.as_tensor(np.asarray(normalized_xy, dtype=np.float32))  # [K, 2]
        coords[:count] = xy.flip(-1) if order == "yx" else xy
        labels[:count] = 1
    return coords, labels


def points_to_pixels(normalized_xy: np.ndarray, width: int, height: int) -> list[list[float]]:
    """Inverse of ``normalize_points``: normalised (x, y) back to pixel [x, y] pairs."""
    return [[float(x) * width, float(y) * height] for x, y in np.asarray(normalized_xy).tolist()]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def is_point_set_list(points: Any) -> bool:
    """True when ``points`` is a list of point sets ([[[x, y], ...], ...], shape [N, K, 2]) rather than one point set
    ([[x, y], ...], shape [K, 2]): decided by the nesting depth of the numbers."""
    if isinstance(points, torch.Tensor | np.ndarray):
        return points.ndim == 3
    if not isinstance(points, Sequence) or not points:
        return False
    first = points[0]
    return (
        isinstance(first, Sequence | np.ndarray)
        and len(first) > 0
        and isinstance(first[0], Sequence | np.ndarray)
        and not isinstance(first[0], str)
    )
