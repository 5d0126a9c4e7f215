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
              "cached_items", "code_version"?, "git_commit"?},
      "scores": [{"task", "benchmark", "metric", "value", "unit", "higher_is_better", "protocol", "tier",
                  "ci_low", "ci_high", "n", "note"}],
      "samples": [{"task", "benchmark", "sample_id", "mask_id", "values": {...}, "metrics"?: {...}, "seconds"}],
      "failures": [{"task", "benchmark", "sample_id", "reason"}],
      "thumbnails"?: {"media_type", "max_side", "per_dataset", "bytes",
                      "items": [{"task", "benchmark", "sample_id", "mask_id", "metric", "value", "rank", "position",
                                 "width", "height", "input", "truth", "prediction", "note"?}],
                      "dropped": [{"task", "benchmark", "sample_id", "mask_id", "rank", "position", "reason"}],
                      "skipped"?: [{"task", "benchmark", "reason"}]}
    }

Additions within format version 1 (all optional, so results written before them still validate):

- ``run.code_version``: ``"src-<16 hex>"``, a sha256 over the source files that shape a score (``diception_spec``,
  ``diception_core``, ``evaluation``), equal on two hosts whenever that code is; ``run.git_commit``: the checkout's
  commit (``"<sha>-dirty"`` with local changes) or ``None`` outside a git checkout. Both are run fields.
- ``samples[i].metrics``: the item's value of every metric its dataset is scored with, in the score's unit (the
  values the bootstrap resamples: e.g. ``miou_1pt`` = 100 x the IoU after the first click, ``noc90`` = the clicks
  needed, capped), so a reader can check a score without the evaluation code.
- ``thumbnails``: small images of the worst and best items of every dataset by its main metric (see
  :data:`THUMBNAIL_ROLES`, :data:`THUMBNAIL_MAX_SIDE`, :data:`THUMBNAIL_MAX_BYTES`); images are base64 strings of
  ``media_type`` files. ``rank`` is ``"worst"`` or ``"best"``, ``position`` 0 is the worst (best) item; ``dropped``
  lists the items left out (over the byte budget, or not drawable), ``skipped`` the datasets drawn on purpose not
  at all (a submitter's own split, prediction files); ``note`` says when the item predicted again differs from the
  scored one. Thumbnails are pictures of outcomes, not outcomes:
  :func:`comparable` ignores them.

:data:`RUN_FIELDS` lists the fields that describe the run itself rather than its outcome (when, where, how long, how
many processes, what came from the cache, which code); :func:`comparable` drops exactly those (and the thumbnails),
so a resumed or sharded run can be compared with a plain one.

``model.untrained`` (optional, a bool) is true for random weights (the tiny presets): such a result exercises the
machinery only, and the leaderboard store never ranks it (it refuses it unless every score is on an unranked
benchmark). Every predictor writes it; a result without it (written before it existed) counts as trained.
"""

from __future__ import annotations

import base64
import binascii
import copy
import json
import math
from collections.abc import Mapping
from typing import Any

from diception_spec.models import ModelKind, ModelType

__all__ = [
    "FORMAT_VERSION", "RUN_FIELDS", "SAMPLE_RUN_FIELDS", "THUMBNAILS_PER_DATASET", "THUMBNAIL_MAX_BYTES",
    "THUMBNAIL_MAX_SIDE", "THUMBNAIL_MEDIA_TYPES", "THUMBNAIL_RANKS", "THUMBNAIL_ROLES", "comparable",
    "decode_thumbnail", "validate_result",
]

FORMAT_VERSION = 1
TOP_LEVEL_KEYS = ("format_version", "model", "settings", "run", "scores", "samples", "failures")
OPTIONAL_TOP_LEVEL_KEYS = ("thumbnails",)
MODEL_KEYS = ("name", "variant", "kind", "model_type", "revision")
SCORE_KEYS = (
    "task", "benchmark", "metric", "value", "unit", "higher_is_better", "protocol", "tier", "ci_low", "ci_high", "n",
)
# Fields that describe the run, not its outcome: excluded by comparable().
RUN_FIELDS: tuple[str, ...] = (
    "run.started_at", "run.finished_at", "run.hardware", "run.host", "run.packages", "run.duration_s",
    "run.world_size", "run.cached_items", "run.code_version", "run.git_commit",
)
SAMPLE_RUN_FIELDS: tuple[str, ...] = ("seconds",)  # per-sample wall time

# Thumbnails: per dataset the THUMBNAILS_PER_DATASET worst and as many best items (by default), each as three images
# of at most THUMBNAIL_MAX_SIDE pixels a side, at most THUMBNAIL_MAX_BYTES of images per run in all (decoded bytes).
THUMBNAILS_PER_DATASET = 4
THUMBNAIL_MAX_SIDE = 256
THUMBNAIL_MAX_BYTES = 5_000_000
THUMBNAIL_ROLES: tuple[str, ...] = ("input", "truth", "prediction")  # input with its prompt points drawn
THUMBNAIL_RANKS: tuple[str, ...] = ("worst", "best")
THUMBNAIL_MEDIA_TYPES: tuple[str, ...] = ("image/webp", "image/png")
THUMBNAIL_ITEM_KEYS = ("task", "benchmark", "sample_id", "mask_id", "metric", "value", "rank", "position", "width",
                       "height", *THUMBNAIL_ROLES)
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
    extra = sorted(set(result) - set(TOP_LEVEL_KEYS) - set(OPTIONAL_TOP_LEVEL_KEYS))
    if extra:
        allowed = ", ".join((*TOP_LEVEL_KEYS, *OPTIONAL_TOP_LEVEL_KEYS))
        raise ValueError(f"result: unexpected keys {extra}; allowed: {allowed}")
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
    if "thumbnails" in result:
        _validate_thumbnails(result["thumbnails"])
    return result


def decode_thumbnail(text: Any, where: str = "thumbnail") -> bytes:
    """The bytes of one base64 thumbnail image; ``ValueError`` naming ``where`` if it is not base64 text."""
    if not isinstance(text, str):
        raise ValueError(f"{where}: expected a base64 string, got {type(text).__name__}")
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        raise ValueError(f"{where}: not valid base64") from None


def _validate_thumbnails(thumbnails: Any) -> None:
    """Shape, sizes and the byte budget of ``result['thumbnails']`` (the images themselves are not opened)."""
    where = "result['thumbnails']"
    for key in ("media_type", "max_side", "items", "dropped"):
        _require(thumbnails, key, where)
    if thumbnails["media_type"] not in THUMBNAIL_MEDIA_TYPES:
        raise ValueError(f"{where}['media_type']: expected one of {', '.join(THUMBNAIL_MEDIA_TYPES)}, got "
                         f"{thumbnails['media_type']!r}")
    if not isinstance(thumbnails["items"], list) or not isinstance(thumbnails["dropped"], list):
        raise ValueError(f"{where}['items'] and ['dropped']: expected lists")
    total = 0
    for i, item in enumerate(thumbnails["items"]):
        at = f"{where}['items'][{i}]"
        for key in THUMBNAIL_ITEM_KEYS:
            _require(item, key, at)
        if item["rank"] not in THUMBNAIL_RANKS:
            raise ValueError(f"{at}['rank']: expected one of {', '.join(THUMBNAIL_RANKS)}, got {item['rank']!r}")
        for key in ("width", "height"):
            if not isinstance(item[key], int) or not 0 < item[key] <= THUMBNAIL_MAX_SIDE:
                raise ValueError(f"{at}[{key!r}]: expected 1..{THUMBNAIL_MAX_SIDE} pixels, got {item[key]!r}")
        total += sum(len(decode_thumbnail(item[role], f"{at}[{role!r}]")) for role in THUMBNAIL_ROLES)
    if total > THUMBNAIL_MAX_BYTES:
        raise ValueError(f"{where}: {total} bytes of images; at most {THUMBNAIL_MAX_BYTES} per run")


def comparable(result: Mapping[str, Any]) -> dict[str, Any]:
    """A deep copy of ``result`` without :data:`RUN_FIELDS`, the per-sample :data:`SAMPLE_RUN_FIELDS` and the
    thumbnails, with samples and failures in a canonical order: two runs of the same evaluation compare equal
    whatever their timing, host, code version, number of processes, resumption or thumbnails."""
    out = copy.deepcopy({k: v for k, v in result.items() if k != "thumbnails"})
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


