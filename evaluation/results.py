"""Result JSON files of evaluation runs: building the run description, writing atomically and reading back.

The schema, its version, ``validate_result`` and ``comparable`` are ``diception_spec.results``' (re-exported here).
"""

from __future__ import annotations

import json
import os
import platform
import socket
from collections.abc import Mapping
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

from diception_spec.results import (
    FORMAT_VERSION,
    RUN_FIELDS,
    SAMPLE_RUN_FIELDS,
    comparable,
    validate_result,
)

__all__ = [
    "FORMAT_VERSION",
    "RUN_FIELDS",
    "SAMPLE_RUN_FIELDS",
    "comparable",
    "hardware_description",
    "package_versions",
    "utc_now",
    "validate_result",
    "write_result",
]

PACKAGES = (
    "torch", "numpy", "transformers", "diffusers", "accelerate", "peft", "pycocotools", "opencv-python-headless",
)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def package_versions() -> dict[str, str]:
    """Versions of the packages that shape a score (absent ones are left out), plus Python's."""
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def hardware_description() -> str:
    """The accelerator (CUDA device name and count) or the CPU, as one line."""
    try:
        import torch

        if torch.cuda.is_available():
            count = torch.cuda.device_count()
            return f"{count} x {torch.cuda.get_device_name(0)}"
    except ImportError:  # pragma: no cover - torch is a dependency of the runner
        pass
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def run_info(started_at: str, finished_at: str, duration_s: float, world_size: int, cached_items: int) -> dict:
    from evaluation.code_version import code_version, git_commit

    return {
        "started_at": started_at,
        "finished_at": finished_at,
        "hardware": hardware_description(),
        "host": socket.gethostname(),
        "packages": package_versions(),
        "duration_s": round(float(duration_s), 3),
        "world_size": int(world_size),
        "cached_items": int(cached_items),
        "code_version": code_version(),
        "git_commit": git_commit(),
    }


def write_result(path: str | os.PathLike[str], result: Mapping[str, Any]) -> Path:
    """Validate and write ``result`` as indented JSON, atomically (temporary file, then rename)."""
    from evaluation.data.format import atomic_write_bytes

    validate_result(result)
    path = Path(path)
    atomic_write_bytes(path, (json.dumps(result, indent=1, allow_nan=False) + "\n").encode("utf-8"))
    return path


def read_result(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A result JSON file, validated."""
    result = json.loads(Path(path).read_text(encoding="utf-8"))
    validate_result(result)
    return result
