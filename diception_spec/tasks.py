"""The six DICEPTION tasks: one enum and one frozen spec table that the UI, prompts, evaluation and the leaderboard
derive from.

Ids and prompts follow ``../shared/reference/IDS.md`` ("Tasks"). A task id is a ``Task`` everywhere inside the
project; strings appear only at the edges (UI values, JSON files, the database), parsed with :meth:`Task.parse`.
To add a task: one ``Task`` member and one ``TaskSpec`` row here; the app's tabs, the prompt cache and the
leaderboard's task list follow. The model must of course have been trained on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import Enum
from functools import cache
from importlib import resources
from types import MappingProxyType


class Task(str, Enum):
    DEPTH = "depth"
    NORMAL = "normal"
    POINT_SEGMENTATION = "point_segmentation"
    ENTITY_SEGMENTATION = "entity_segmentation"
    SEMANTIC_SEGMENTATION = "semantic_segmentation"
    POSE = "pose"

    @classmethod
    def parse(cls, value: str | Task) -> Task:
        """Return the task for an id (``"depth"``) or a ``Task``; unknown ids raise with the list of known ones."""
        if isinstance(value, Task):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            known = ", ".join(t.value for t in cls)
            raise ValueError(f"task: unknown task {value!r}; known tasks: {known}") from None


class Encoding(str, Enum):
    """What the model's RGB output encodes; picks the decoder and the visualiser."""

    DEPTH = "depth"  # min-max normalised disparity repeated on 3 channels, 1 = near
    NORMAL = "normal"  # rgb = (n + 1) / 2
    MASK = "mask"  # white mask on black
    INSTANCES = "instances"  # each instance a random colour on black
    POSE = "pose"  # skeletons with red joints
    RGB = "rgb"  # an image (new tasks such as highlighting)


@dataclass(frozen=True)
class TaskSpec:
    task: Task
    label: str  # what the UI calls it
    prompt: str  # the task prompt; semantic segmentation appends " <category>"
    needs_points: bool
    needs_category: bool
    encoding: Encoding
    description: str


TASK_SPECS: MappingProxyType[Task, TaskSpec] = MappingProxyType(
    {
        Task.DEPTH: TaskSpec(
            Task.DEPTH, "Depth", "[[image2depth]]", False, False, Encoding.DEPTH,
            "Relative inverse depth (affine-invariant disparity, 1 = near), shown red = near, blue = far.",
        ),
        Task.NORMAL: TaskSpec(
            Task.NORMAL, "Surface normals", "[[image2normal]]", False, False, Encoding.NORMAL,
            "Unit surface normals, rgb = (n + 1) / 2.",
        ),
        Task.POINT_SEGMENTATION: TaskSpec(
            Task.POINT_SEGMENTATION, "Point segmentation", "[[image2segmentation]]", True, False, Encoding.MASK,
            "One binary mask for up to 5 positive points.",
        ),
        Task.ENTITY_SEGMENTATION: TaskSpec(
            Task.ENTITY_SEGMENTATION, "Entity segmentation", "[[image2entity]]", False, False, Encoding.INSTANCES,
            "Class-agnostic instance masks, each painted a random colour.",
        ),
        Task.SEMANTIC_SEGMENTATION: TaskSpec(
            Task.SEMANTIC_SEGMENTATION, "Instances by category", "[[image2semantic]]", False, True,
            Encoding.INSTANCES, "Instance masks of one COCO category, each painted a random colour.",
        ),
        Task.POSE: TaskSpec(
            Task.POSE, "Human pose", "[[image2pose]]", False, False, Encoding.POSE,
            "Skeletons with red joints; joint identities are not recovered blindly.",
        ),
    }
)

MAX_POINTS = 5


@cache
def _coco_category_records() -> tuple[tuple[int, str], ...]:
    """(COCO id, name) of COCO's 80 thing categories, in id order (package data)."""
    text = resources.files("diception_spec").joinpath("data/coco_categories.json").read_text(encoding="utf-8")
    return tuple((int(c["id"]), str(c["name"])) for c in json.loads(text)["categories"])


def coco_categories() -> tuple[str, ...]:
    """COCO's 80 thing category names, in COCO id order."""
    return tuple(name for _, name in _coco_category_records())


def task_prompt(task: Task | str, category: str | None = None) -> str:
    """The prompt that selects ``task``; semantic segmentation needs a category (any text; COCO's names are cached)."""
    spec = TASK_SPECS[Task.parse(task)]
    if spec.needs_category:
        if category is None or not str(category).strip():
            raise ValueError(
                f"category: task {spec.task.value!r} needs a category, e.g. one of COCO's: "
                f"{', '.join(coco_categories()[:5])}, ..."
            )
        return f"{spec.prompt} {str(category).strip()}"
    if category is not None:
        raise ValueError(f"category: task {spec.task.value!r} takes no category (got {category!r})")
    return spec.prompt


def all_fixed_prompts() -> list[str]:
    """Every prompt the fixed tasks can use: the task prompts, the 80 category prompts and the empty prompt."""
    prompts = [s.prompt for s in TASK_SPECS.values() if not s.needs_category]
    prompts += [task_prompt(Task.SEMANTIC_SEGMENTATION, c) for c in coco_categories()]
    prompts.append("")
    return prompts
