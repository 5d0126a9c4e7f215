"""Few-shot LoRA fine-tuning of DICEPTION, producing an ADAPTER_FORMAT.md folder ready to load and to submit.

``python -m diception_core.finetune --help``; in Python ``finetune(FinetuneSettings(...))``. Importing this package
is cheap; torch-heavy modules load on first attribute access.
"""

from __future__ import annotations

from typing import Any

_LAZY = {
    "FinetuneSettings": ".train",
    "FinetuneResult": ".train",
    "Finetuner": ".train",
    "finetune": ".train",
    "push_to_hub": ".train",
    "latest_checkpoint": ".train",
    "DataError": ".data",
    "load_dataset": ".data",
    "find_pairs": ".data",
    "make_example": ".data",
    "MIN_PAIRS": ".data",
    "model_card": ".card",
}

__all__ = list(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name], __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'diception_core.finetune' has no attribute {name!r}")
