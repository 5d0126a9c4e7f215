"""The versioned result JSON that evaluation runs write and the leaderboard store reads: its schema, its one version,
its validation and the comparison that ignores run-describing fields.

Schema (``format_version`` 1; the leaderboard store reads exactly these top-level keys)::

    {
      "format_version": 1,
      "model": {"name", "variant", "kind": "diception|sam|depth-anything|files",
                "model_type": "generalist|specialist", "revision", "untrained"?: bool},
      "settings": {"steps", "guidance", "seed", "tier", "protocols": {"<task>/<benchmark>": "<protocol>"},
                   "benchmarks": [{"task", "benchmark", "version", "data_revision", "protocol", "protocol_version",
                                   "alignment"?, "aggregation"?, "frame"?, "members"?, "n_items"}],
                   "settings_hash", "runner_version", ...predictor settings (adapter, model_id, ...)},
      "run": {"started_at", "finished_at", "hardware", "host", "packages", "duration_s", "world_size",
              "cached_items"},
      "scores": [{"task", "benchmark", "metric", "value", "unit", "higher_is_better", "protocol", "tier",
                  "ci_low", "ci_high", "n", "note"}],
      "samples": [{"task", "benchmark", "sample_id", "mask_id", "values": {...}, "seconds"}],
      "failures": [{"task", "benchmark", "sample_id", "reason"}]
    }

:data:`RUN_FIELDS` lists the fields that describe the run itself rather than its outcome (when, where, how long, how
many processes, what came from the cache); :func:`comparable` drops exactly those, so a resumed or sharded run can
be compared with a plain one.

``model.untrained`` is true for random weights (the tiny presets): such a result exercises the machinery only, and
the leaderboard store never ranks it (it refuses it unless every score is on an unranked benchmark). Every predictor
writes it; a result without it (written before it existed) counts as trained.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Mapping
from typing import Any

from diception_spec.models import ModelKind, ModelType

__all__ = ["FORMAT_VERSION", "RUN_FIELDS", "SAMPLE_RUN_FIELDS", "comparable", "validate_result"]

FORMAT_VERSION = 1
TOP_LEVEL_KEYS = ("format_version", "model", "settings", "run", "scores", "samples", "failures")
MODEL_KEYS = ("name", "variant", "kind", "model_type", "revision")
SCORE_KEYS = (
    "task", "benchmark", "metric", "value", "unit", "higher_is_better", "protocol", "tier", "ci_low", "ci_high", "n",
)
# Fields that describe the run, not its outcome: excluded by comparable().
RUN_FIELDS: tuple[str, ...] = (
    "run.started_at", "run.finished_at", "run.hardware", "run.host", "run.packages", "run.duration_s",
    "run.world_size", "run.cached_items",
)
SAMPLE_RUN_FIELDS: tuple[str, ...] = ("seconds",)  # per-sample wall time
KINDS: tuple[str, ...] = tuple(k.value for k in ModelKind)
MODEL_TYPES: tuple[str, ...] = tuple(t.value for t in ModelType)


def _require(mapping: Any, key: str, where: str) -> Any:
    if not isinstance(mapping, Mapping) or key not in mapping:
        raise ValueError(f"{where}: missing key {key!r}")
    return mapping[key]


def validate_result(result: Mapping[str, Any]) -> Mapping[str, Any]:
    """Check a result dict against the schema above; ``ValueError`` names the first wrong field. Returns it."""
    if not isinstance(result, Mapping):
        raise ValueError(f"result: expected a dict, got {type(result).__name__}")
    extra = sorted(set(result) - set(TOP_LEVEL_KEYS))
    if extra:
        raise ValueError(f"result: unexpected keys {extra}; allowed: {', '.join(TOP_LEVEL_KEYS)}")
    for key in TOP_LEVEL_KEYS:
        _require(result, key, "result")
    if result["format_version"] != FORMAT_VERSION:
        raise ValueError(f"result['format_version']: expected {FORMAT_VERSION}, got {result['format_version']!r}")
    model = result["model"]
    for key in MODEL_KEYS:
        _require(model, key, "result['model']")
    if model["kind"] not in KINDS:
        raise ValueError(f"result['model']['kind']: expected one of {', '.join(KINDS)}, got {model['kind']!r}")
    if "untrained" in model and not isinstance(model["untrained"], bool):
        raise ValueError(f"result['model']['untrained']: expected a bool, got {model['untrained']!r}")
    if model["model_type"] not in MODEL_TYPES:
        raise ValueError(f"result['model']['model_type']: expected one of {', '.join(MODEL_TYPES)}, got "
                         f"{model['model_type']!r}")
    for key in ("steps", "guidance", "seed", "tier"):
        _require(result["settings"], key, "result['settings']")
    for key in ("started_at", "finished_at", "hardware", "host", "packages"):
        _require(result["run"], key, "result['run']")
    if not isinstance(result["scores"], list):
        raise ValueError("result['scores']: expected a list")
    for i, score in enumerate(result["scores"]):
        where = f"result['scores'][{i}]"
        for key in SCORE_KEYS:
            _require(score, key, where)
        if not isinstance(score["value"], int | float) or not math.isfinite(score["value"]):
            raise ValueError(f"{where}['value']: expected a finite number, got {score['value']!r}")
        if not isinstance(score["higher_is_better"], bool):
            raise ValueError(f"{where}['higher_is_better']: expected a bool")
    for key in ("samples", "failures"):
        if not isinstance(result[key], list):
            raise ValueError(f"result[{key!r}]: expected a list")
    for i, failure in enumerate(result["failures"]):
        for key in ("task", "benchmark", "sample_id", "reason"):
            _require(failure, key, f"result['failures'][{i}]")
    return result


def comparable(result: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``result`` without :data:`RUN_FIELDS` (and the per-sample :data:`SAMPLE_RUN_FIELDS`), with
    samples and failures in a canonical order: two runs of the same evaluation compare equal whatever their timing,
    host, number of processes or resumption."""
    out = copy.deepcopy(dict(result))
    for dotted in RUN_FIELDS:
        parent: Any = out
        *path, last = dotted.split(".")
        for part in path:
            parent = parent.get(part) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            parent.pop(last, None)
    samples = [{k: v for k, v in s.items() if k not in SAMPLE_RUN_FIELDS} for s in out.get("samples", [])]
    out["samples"] = sorted(samples, key=lambda s: json.dumps(
        [s.get("task"), s.get("benchmark"), s.get("sample_id"), s.get("mask_id")], default=str))
    out["failures"] = sorted(out.get("failures", []), key=lambda f: json.dumps(f, sort_keys=True, default=str))
    return out


