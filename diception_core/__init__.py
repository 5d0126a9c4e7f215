"""diception_core: a faithful, fast reimplementation of DICEPTION inference, LoRA adapters and fine-tuning.

Importing the package is cheap; heavy modules (torch models, diffusers) load on first attribute access.
"""

from __future__ import annotations

from typing import Any

from diception_spec.tasks import TASK_SPECS, Encoding, Task, TaskSpec, coco_categories, task_prompt

_LAZY = {
    "DiceptionPipeline": ".pipeline",
    "DiceptionOutput": ".pipeline",
    "DiceptionPrediction": ".pipeline",
    "CustomTask": ".pipeline",
    "DiceptionConfig": ".config",
    "load_pipeline": ".loading",
    "from_official": ".loading",
    "convert": ".loading",
    "ModelLoadError": ".loading",
}

__all__ = ["TASK_SPECS", "Encoding", "Task", "TaskSpec", "coco_categories", "task_prompt", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name], __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'diception_core' has no attribute {name!r}")
