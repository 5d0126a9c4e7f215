"""Per-user click bookkeeping for point prompts: pure functions on the values Gradio keeps per session.

A point prompt is IDS.md's list of ``[x, y]`` original-image pixels (x to the right, y down), at most
``MAX_POINTS``, positive only. The page keeps it as a JSON string in a (hidden) textbox, the same string the HTTP API
takes, and draws the markers over the image in the browser from it; these functions never mutate their input and
never drop a click silently: a click beyond the limit comes back with a warning to show.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from diception_spec.tasks import MAX_POINTS

Points = list[list[int]]


@dataclass(frozen=True)
class PointUpdate:
    points: Points
    warning: str | None = None  # shown to the user when the click was not added


def points_from_json(text: str | None) -> Points:
    """The points in a JSON string (empty or ``None`` -> no points); malformed text raises ``ValueError``."""
    from diception_core.points import parse_points_json  # imports torch: on first use, not at start-up

    array = parse_points_json(text)  # [K, 2] float; checks shape, finiteness and the 5-point limit
    return [[int(round(x)), int(round(y))] for x, y in array.tolist()]


def points_to_json(points: Points) -> str:
    return json.dumps([[int(x), int(y)] for x, y in points])


def click_to_pixel(index: object, width: int, height: int) -> list[int]:
    """``gr.SelectData.index`` of a click on an image -> an ``[x, y]`` pixel inside a ``width`` x ``height`` image.

    Gradio reports clicks in original-image pixels whatever the displayed size; a click on the last row or column
    can come back as ``width`` or ``height``, so coordinates are clamped into the image.
    """
    if not isinstance(index, list | tuple) or len(index) != 2:
        raise ValueError(f"click: expected an [x, y] pixel index, got {index!r}")
    x, y = (int(round(float(v))) for v in index)
    return [min(max(x, 0), width - 1), min(max(y, 0), height - 1)]


def add_point(points: Points, point: list[int]) -> PointUpdate:
    """Append ``point`` unless the prompt is full; then the points stay as they are and a warning says why."""
    if len(points) >= MAX_POINTS:
        return PointUpdate(
            [list(p) for p in points],
            f"Not added: the model takes at most {MAX_POINTS} points ({len(points)} / {MAX_POINTS} already). "
            "Undo a point or clear them to click elsewhere.",
        )
    return PointUpdate([*[list(p) for p in points], list(point)])


def undo_point(points: Points) -> Points:
    return [list(p) for p in points[:-1]]


def clear_points() -> Points:
    return []


def points_for_new_image() -> Points:
    """A new upload starts with no points (the old ones belong to another image)."""
    return []


def points_inside(points: Points, width: int, height: int) -> Points:
    """The points that lie inside a ``width`` x ``height`` image (used when drawing a possibly stale prompt)."""
    return [list(p) for p in points if 0 <= p[0] < width and 0 <= p[1] < height]


def counter_text(points: Points, warning: str | None = None) -> str:
    """The visible "n / 5" counter, with the warning of a refused click when there is one."""
    text = f"**{len(points)} / {MAX_POINTS} points**"
    if points:
        text += " — " + ", ".join(f"({x}, {y})" for x, y in points)
    else:
        text += " — click the object"
    if warning:
        text += f"\n\n⚠ {warning}"
    return text
