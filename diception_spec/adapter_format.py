"""The adapter folder (``../shared/reference/ADAPTER_FORMAT.md``): one format for the fine-tuner's output, the app's
adapter picker and leaderboard submissions. This module holds its file names, its limits and the one parser of
``diception_task.json``; ``diception_core.lora`` loads folders onto the model and ``leaderboard.validation`` checks
uploads (weights, shapes, zips) against the same rules.

A folder::

    adapter_config.json          peft LoraConfig (peft_type "LORA")
    adapter_model.safetensors    LoRA weights only: base_model.model.<module>.lora_A.weight / lora_B.weight
    diception_task.json          what the adapter does (parse_task_file)
    task_embedding.safetensors   optional, new tasks: prompt_embeds [1, L, 4096], pooled_prompt_embeds [1, 2048]
    README.md                    model card

Nothing else in the folder is read, and no pickle file is ever opened.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from diception_spec.errors import Refused
from diception_spec.tasks import Encoding, Task

FORMAT_VERSION = 1  # of diception_task.json
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
TASK_FILE = "diception_task.json"
EMBEDDING_FILE = "task_embedding.safetensors"
CARD_FILE = "README.md"
REQUIRED_FILES: tuple[str, ...] = (CONFIG_FILE, WEIGHTS_FILE, TASK_FILE)
ADAPTER_FILES: tuple[str, ...] = (*REQUIRED_FILES, EMBEDDING_FILE, CARD_FILE)
WEIGHT_KEY_PREFIX = "base_model.model"  # peft's key prefix in adapter_model.safetensors

MAX_RANK = 128
MAX_TOTAL_BYTES = 300_000_000  # all files together ("≤ 300 MB")
MAX_TASK_FILE_BYTES = 1_000_000
# The attention projections of a transformer block a LoRA may target: the image stream's (inner -> inner), the context
# stream's inputs (caption width -> inner) and its output (inner -> caption width; absent in the last block).
IMAGE_PROJECTIONS: tuple[str, ...] = ("to_q", "to_k", "to_v", "to_out.0")
CONTEXT_PROJECTIONS: tuple[str, ...] = ("add_q_proj", "add_k_proj", "add_v_proj")
CONTEXT_OUTPUT_PROJECTION = "to_add_out"
ALLOWED_PROJECTIONS: tuple[str, ...] = (*IMAGE_PROJECTIONS, *CONTEXT_PROJECTIONS, CONTEXT_OUTPUT_PROJECTION)
DEFAULT_TARGETS: tuple[str, ...] = IMAGE_PROJECTIONS[:3]  # the paper's fine-tuning: rank 128 on Q, K and V
WEIGHT_DTYPES: tuple[str, ...] = ("F32", "F16", "BF16")  # safetensors dtype names: fp32, fp16, bf16
# A new task's output encoding, and the fixed task whose benchmarks can score it.
NEW_TASK_ENCODINGS: tuple[Encoding, ...] = (Encoding.MASK, Encoding.DEPTH, Encoding.NORMAL, Encoding.RGB)
SCORED_AS: Mapping[Encoding, Task] = MappingProxyType(
    {Encoding.MASK: Task.POINT_SEGMENTATION, Encoding.DEPTH: Task.DEPTH, Encoding.NORMAL: Task.NORMAL}
)

# Stable Diffusion 3 medium's transformer (DICEPTION_MODEL.md), keys as in diffusers' config.json: the shapes every
# adapter of the real model must fit.
SD3_MEDIUM_TRANSFORMER_CONFIG: Mapping[str, int] = MappingProxyType(
    {
        "sample_size": 128,
        "patch_size": 2,
        "in_channels": 16,
        "out_channels": 16,
        "num_layers": 24,
        "num_attention_heads": 24,
        "attention_head_dim": 64,
        "joint_attention_dim": 4096,
        "caption_projection_dim": 1536,
        "pooled_projection_dim": 2048,
        "pos_embed_max_size": 192,
    }
)

_NEW_TASK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_ \-]{0,63}")
MAX_PROMPT_CHARS = 300
MAX_TEXT_CHARS = 2000
MAX_LIST_ITEMS = 50


def content_hash(files: Mapping[str, str | os.PathLike[str]]) -> str:
    """The identity of an adapter: sha256 hex over its files in name order, each as name, NUL, size (8 bytes,
    little-endian) and bytes. ``files`` maps file names to paths. Leaderboard submissions are keyed by it (duplicate
    detection) and evaluation results record it (``settings.adapter_sha256``), so a row names the exact weights."""
    digest = hashlib.sha256()
    for name in sorted(files):
        path = os.fspath(files[name])
        digest.update(name.encode("utf-8") + b"\0" + os.stat(path).st_size.to_bytes(8, "little"))
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def folder_content_hash(folder: str | os.PathLike[str]) -> str:
    """:func:`content_hash` of the adapter files (:data:`ADAPTER_FILES`) present in ``folder``; for a folder that
    passed the leaderboard's validation (which refuses any other file) this is its submission's content hash."""
    paths = {name: os.path.join(folder, name) for name in ADAPTER_FILES}
    present = {name: path for name, path in paths.items() if os.path.isfile(path)}
    if not present:
        raise FileNotFoundError(f"folder: no adapter files ({', '.join(ADAPTER_FILES)}) in {os.fspath(folder)}")
    return content_hash(present)


class AdapterRefused(Refused):
    """An adapter folder breaks the format; the message says which file and why (shown to whoever sent it)."""


@dataclass(frozen=True)
class NewTask:
    name: str
    prompt: str
    encoding: Encoding


@dataclass(frozen=True)
class AdapterTask:
    """A parsed ``diception_task.json``: exactly one of ``task`` (an existing task) and ``new_task``."""

    base_model_id: str
    base_revision: str
    task: Task | None
    new_task: NewTask | None
    benchmarks: tuple[str, ...]
    training_data: str
    trained_on_benchmarks: tuple[str, ...]
    licence: str

    @property
    def display_name(self) -> str:
        """The task id, or the new task's name."""
        return self.new_task.name if self.new_task is not None else self.task.value if self.task else "?"

    @property
    def scored_as(self) -> Task | None:
        """The fixed task whose benchmarks can score this adapter (a new task: by its encoding; rgb: none)."""
        return self.task if self.task is not None else SCORED_AS.get(self.new_task.encoding) if self.new_task else None


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _refuse(reason: str) -> AdapterRefused:
    return AdapterRefused(f"{TASK_FILE}: {reason}")


def _strings(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    value = data.get(key)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _refuse(f"{key} must be a list of strings")
    if len(value) > MAX_LIST_ITEMS:
        raise _refuse(f"{key} has {len(value)} entries; at most {MAX_LIST_ITEMS}")
    return tuple(dict.fromkeys(value))


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key, "")
    value = "" if value is None else value
    if not isinstance(value, str) or len(value) > MAX_TEXT_CHARS:
        raise _refuse(f"{key} must be a string of at most {MAX_TEXT_CHARS} characters")
    return value


def parse_task_file(data: Any) -> AdapterTask:
    """Check a parsed ``diception_task.json`` (a dict) against ADAPTER_FORMAT.md and return it typed.

    Raises ``AdapterRefused`` naming the field: ``format_version`` must be 1; ``base_model`` an object with string
    ``id`` and ``revision``; ``task`` a task id with ``new_task`` null, or ``new_task`` an object with ``name``
    (1-64 letters, digits, spaces, ``_`` or ``-``, not an existing task id), ``prompt`` (1-300 characters) and
    ``encoding`` (mask, depth, normal or rgb) with ``task`` null or that name; ``benchmarks`` and
    ``trained_on_benchmarks`` lists of strings; ``training_data`` and ``licence`` strings. Whether the base model
    and the benchmarks suit a particular server is that server's check.
    """
    if not isinstance(data, Mapping):
        raise _refuse("must hold a JSON object")
    version = data.get("format_version")
    if isinstance(version, bool) or version != FORMAT_VERSION:
        raise _refuse(f"format_version must be {FORMAT_VERSION}, got {_short(repr(version), 40)}")
    base = data.get("base_model")
    if not isinstance(base, Mapping) or not isinstance(base.get("id"), str) or not base["id"].strip() \
            or not isinstance(base.get("revision"), str):
        raise _refuse('base_model must be {"id": "<weights id>", "revision": "<commit or content hash>"}')
    task_value, new_task_value = data.get("task"), data.get("new_task")
    task: Task | None = None
    new_task: NewTask | None = None
    if new_task_value is None:
        known = [t.value for t in Task]
        if task_value not in known:
            raise _refuse(f"task must be one of {', '.join(known)} (or give new_task), got "
                          f"{_short(str(task_value), 60)!r}")
        task = Task(task_value)
    else:
        if not isinstance(new_task_value, Mapping):
            raise _refuse('new_task must be null or {"name": ..., "prompt": ..., "encoding": ...}')
        name, prompt, encoding = (new_task_value.get(k) for k in ("name", "prompt", "encoding"))
        if not isinstance(name, str) or not _NEW_TASK_NAME.fullmatch(name):
            raise _refuse("new_task.name must be 1-64 letters, digits, spaces, _ or -")
        if name in {t.value for t in Task}:
            raise _refuse(f"new_task.name {name!r} is an existing task; use task instead")
        if not isinstance(prompt, str) or not 1 <= len(prompt) <= MAX_PROMPT_CHARS:
            raise _refuse(f"new_task.prompt must be a string of 1-{MAX_PROMPT_CHARS} characters")
        known_encodings = [e.value for e in NEW_TASK_ENCODINGS]
        if encoding not in known_encodings:
            raise _refuse(f"new_task.encoding must be one of {', '.join(known_encodings)}, got "
                          f"{_short(repr(encoding), 40)}")
        if task_value is not None and task_value != name:
            raise _refuse("with new_task, task must be null or the new task's name")
        new_task = NewTask(name, prompt, Encoding(encoding))
    return AdapterTask(
        base_model_id=base["id"], base_revision=base["revision"], task=task, new_task=new_task,
        benchmarks=_strings(data, "benchmarks"), training_data=_text(data, "training_data"),
        trained_on_benchmarks=_strings(data, "trained_on_benchmarks"), licence=_text(data, "licence"),
    )
