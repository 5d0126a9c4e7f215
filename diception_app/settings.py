"""App settings: read from the environment once (and from ``app.py``'s flags), passed around as a frozen object.

Environment variables (all optional):

- ``DICEPTION_MODEL``: ``tiny``, a converted model folder, or a Hub id of one (default ``./diception-model``, the
  folder ``python -m diception_core convert --out ./diception-model`` writes).
- ``DICEPTION_DEVICE`` / ``DICEPTION_DTYPE``: where and in which precision the model runs (default: CUDA in
  bfloat16 when available, else CPU in float32).
- ``DICEPTION_ADAPTERS_DIR``: folder of local adapter folders listed in the adapter picker (default ``./adapters``).
- ``DICEPTION_SAM_MODEL`` / ``DICEPTION_DEPTH_ANYTHING_MODEL``: the Compare tab's specialists (Hub ids or folders).
- ``DICEPTION_MAX_ADAPTERS``: adapters kept loaded on the shared model at once, least recently used unloaded first
  (default 4).
- ``DICEPTION_CONCURRENCY``: requests handled at once (default 8); ``DICEPTION_MAX_QUEUE``: waiting requests
  (default 32). Model runs are one at a time: requests handled at once with the same task and settings share one
  batched run of at most ``DICEPTION_MAX_BATCH`` (default 8) predictions.
- ``DICEPTION_GPU_SECONDS_PER_STEP`` / ``DICEPTION_GPU_BASE_SECONDS``: the ZeroGPU duration estimate.
- ``SPACES_ZERO_GPU``: set by Hugging Face on ZeroGPU Spaces; the model is then moved to CUDA at start-up.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from diception_spec.environment import env_int, env_number

DEFAULT_MODEL = "./diception-model"
DEFAULT_SAM_MODEL = "facebook/sam-vit-huge"
DEFAULT_DEPTH_ANYTHING_MODEL = "depth-anything/Depth-Anything-V2-Large-hf"
CONVERT_COMMAND = "python -m diception_core convert --out ./diception-model"


@dataclass(frozen=True)
class AppSettings:
    model: str = DEFAULT_MODEL
    device: str | None = None
    dtype: str | None = None
    adapters_dir: Path = Path("adapters")
    sam_model: str = DEFAULT_SAM_MODEL
    depth_anything_model: str = DEFAULT_DEPTH_ANYTHING_MODEL
    max_loaded_adapters: int = 4
    concurrency_limit: int = 8
    max_batch_size: int = 8
    max_queue: int = 32
    gpu_seconds_per_step: float = 0.35
    gpu_base_seconds: float = 15.0
    gpu_max_seconds: float = 120.0
    zero_gpu: bool = False
    # Our own output files (downloads) older than this are deleted; Gradio's cache has its own schedule.
    outputs_max_age_s: float = 3600.0

    @property
    def tiny(self) -> bool:
        return self.model == "tiny"

    def replace(self, **changes: object) -> AppSettings:
        return dataclasses.replace(self, **changes)


def load_settings(env: Mapping[str, str] | None = None) -> AppSettings:
    """Settings from ``env`` (default: ``os.environ``); bad values raise ``ValueError`` naming the variable."""
    env = os.environ if env is None else env
    return AppSettings(
        model=env.get("DICEPTION_MODEL", "").strip() or DEFAULT_MODEL,
        device=env.get("DICEPTION_DEVICE", "").strip() or None,
        dtype=env.get("DICEPTION_DTYPE", "").strip() or None,
        adapters_dir=Path(env.get("DICEPTION_ADAPTERS_DIR", "").strip() or "adapters"),
        sam_model=env.get("DICEPTION_SAM_MODEL", "").strip() or DEFAULT_SAM_MODEL,
        depth_anything_model=env.get("DICEPTION_DEPTH_ANYTHING_MODEL", "").strip() or DEFAULT_DEPTH_ANYTHING_MODEL,
        max_loaded_adapters=env_int(env, "DICEPTION_MAX_ADAPTERS", 4, minimum=1),
        concurrency_limit=env_int(env, "DICEPTION_CONCURRENCY", 8, minimum=1),
        max_batch_size=env_int(env, "DICEPTION_MAX_BATCH", 8, minimum=1),
        max_queue=env_int(env, "DICEPTION_MAX_QUEUE", 32, minimum=1),
        gpu_seconds_per_step=env_number(env, "DICEPTION_GPU_SECONDS_PER_STEP", 0.35, minimum=0.0),
        gpu_base_seconds=env_number(env, "DICEPTION_GPU_BASE_SECONDS", 15.0, minimum=0.0),
        zero_gpu=bool(env.get("SPACES_ZERO_GPU", "").strip()),
    )
