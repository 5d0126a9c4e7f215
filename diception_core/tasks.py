"""Moved: the task vocabulary lives in ``diception_spec.tasks``. This alias goes away once every import uses it."""

from diception_spec.tasks import (  # noqa: F401
    MAX_POINTS,
    TASK_SPECS,
    Encoding,
    Task,
    TaskSpec,
    all_fixed_prompts,
    coco_categories,
    coco_category_ids,
    task_prompt,
)
