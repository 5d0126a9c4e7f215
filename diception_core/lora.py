"""LoRA adapters (ADAPTER_FORMAT.md folders) on the DICEPTION transformer through peft.

Adapters load, switch and unload without reloading the model. The scale is applied on every forward through
``joint_attention_kwargs["scale"]`` (the release's forward dropped it); scale 0 equals no adapter.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from safetensors.torch import load_file

from diception_spec.tasks import Encoding, Task

if TYPE_CHECKING:
    from .pipeline import CustomTask, DiceptionPipeline

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
TASK_FILE = "diception_task.json"
TASK_EMBEDDING = "task_embedding.safetensors"
ALLOWED_TARGETS = ("to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out")
NEW_TASK_ENCODINGS = ("mask", "depth", "normal", "rgb")
MAX_RANK = 128


class AdapterError(ValueError):
    """An adapter folder that cannot be used; the message says why."""


@dataclass(frozen=True)
class AdapterTask:
    """The parsed ``diception_task.json``."""

    base_model_id: str
    base_revision: str
    task: Task | None
    new_task_name: str | None
    new_task_prompt: str | None
    new_task_encoding: Encoding | None
    benchmarks: tuple[str, ...]
    training_data: str
    trained_on_benchmarks: tuple[str, ...]
    licence: str
    raw: dict[str, Any]

    @property
    def display_name(self) -> str:
        return self.new_task_name or (self.task.value if self.task else "?")


def read_adapter_task(folder: str | Path) -> AdapterTask:
    """Parse and check an adapter folder's ``diception_task.json`` (ADAPTER_FORMAT.md)."""
    path = Path(folder) / TASK_FILE
    if not path.is_file():
        raise AdapterError(f"{folder}: no {TASK_FILE}; an adapter folder needs one (see ADAPTER_FORMAT.md)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise AdapterError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict) or data.get("format_version") != 1:
        raise AdapterError(f"{path}: format_version must be 1")
    base = data.get("base_model") or {}
    if not isinstance(base, dict) or not base.get("id"):
        raise AdapterError(f"{path}: base_model.id is required")
    task_id, new_task = data.get("task"), data.get("new_task")
    task = encoding = name = prompt = None
    if new_task is None:
        try:
            task = Task.parse(task_id)
        except ValueError as err:
            raise AdapterError(f"{path}: {err}") from None
    else:
        if not isinstance(new_task, dict) or not all(new_task.get(k) for k in ("name", "prompt", "encoding")):
            raise AdapterError(f"{path}: new_task needs name, prompt and encoding")
        if new_task["encoding"] not in NEW_TASK_ENCODINGS:
            raise AdapterError(f"{path}: new_task.encoding must be one of {', '.join(NEW_TASK_ENCODINGS)}")
        name, prompt, encoding = str(new_task["name"]), str(new_task["prompt"]), Encoding(new_task["encoding"])
    return AdapterTask(
        base_model_id=str(base["id"]), base_revision=str(base.get("revision", "")), task=task,
        new_task_name=name, new_task_prompt=prompt, new_task_encoding=encoding,
        benchmarks=tuple(data.get("benchmarks") or ()), training_data=str(data.get("training_data", "")),
        trained_on_benchmarks=tuple(data.get("trained_on_benchmarks") or ()), licence=str(data.get("licence", "")),
        raw=data,
    )


def _sanitize(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "adapter"


@dataclass
class LoadedAdapter:
    name: str
    folder: Path
    task: AdapterTask
    prompt_key: str | None  # the prompt-cache key serving a new task


def load_adapter(pipe: DiceptionPipeline, folder: str | Path, *, name: str | None = None, scale: float = 1.0) -> str:
    """Load an adapter folder onto the pipeline's transformer, make it active with ``scale``; return its name."""
    folder = Path(folder)
    info = read_adapter_task(folder)
    for required in (ADAPTER_CONFIG, ADAPTER_WEIGHTS):
        if not (folder / required).is_file():
            raise AdapterError(f"{folder}: {required} is missing (an adapter folder is written by peft's "
                               "save_pretrained)")
    config = json.loads((folder / ADAPTER_CONFIG).read_text(encoding="utf-8"))
    if int(config.get("r", 0)) > MAX_RANK:
        raise AdapterError(f"{folder}: LoRA rank {config.get('r')} exceeds {MAX_RANK}")
    name = _sanitize(name or folder.name)
    if name in pipe.adapters:
        raise AdapterError(f"adapter name {name!r} is already loaded; unload it first or pick another name")
    pipe.transformer.load_lora_adapter(
        str(folder), weight_name=ADAPTER_WEIGHTS, prefix="base_model.model", adapter_name=name,
    )
    prompt_key = None
    if info.new_task_prompt is not None:
        prompt_key = info.new_task_prompt
        if (folder / TASK_EMBEDDING).is_file():
            tensors = load_file(str(folder / TASK_EMBEDDING))
            embeds, pooled = tensors["prompt_embeds"], tensors["pooled_prompt_embeds"]  # [1, L, D], [1, P]
            prompt_key = f"<adapter:{name}> {info.new_task_prompt}"
            pipe.prompt_cache.add(prompt_key, embeds[0].to(torch.float32), pooled[0].to(torch.float32))
    pipe.adapters[name] = LoadedAdapter(name=name, folder=folder, task=info, prompt_key=prompt_key)
    set_adapter(pipe, name, scale)
    return name


def set_adapter(pipe: DiceptionPipeline, name: str | None, scale: float = 1.0) -> None:
    """Activate adapter ``name`` at ``scale`` (``None`` = no adapter; scale 0 also gives the base model)."""
    if name is None:
        if pipe.adapters:
            pipe.transformer.disable_lora()
        pipe.active_adapter = None
        pipe.adapter_scale = 1.0
        return
    if name not in pipe.adapters:
        raise AdapterError(f"adapter {name!r} is not loaded; loaded: {sorted(pipe.adapters) or 'none'}")
    if not -4.0 <= float(scale) <= 4.0:
        raise AdapterError(f"scale: {scale} is outside [-4, 4]")
    pipe.transformer.enable_lora()
    pipe.transformer.set_adapters([name])
    pipe.active_adapter = name
    pipe.adapter_scale = float(scale)


def unload_adapter(pipe: DiceptionPipeline, name: str | None = None) -> None:
    """Remove one adapter (or all with ``None``) from the transformer; the base weights are untouched."""
    names = list(pipe.adapters) if name is None else [name]
    for adapter in names:
        if adapter not in pipe.adapters:
            raise AdapterError(f"adapter {adapter!r} is not loaded")
        pipe.transformer.delete_adapters(adapter)
        loaded = pipe.adapters.pop(adapter)
        if loaded.prompt_key and loaded.prompt_key.startswith("<adapter:"):
            pipe.prompt_cache._embeds.pop(loaded.prompt_key, None)
    if pipe.active_adapter in names:
        # peft activates a remaining adapter when the active one is deleted; the base model is what we promise.
        set_adapter(pipe, None)


def adapter_task(pipe: DiceptionPipeline, name: str | None = None) -> CustomTask | Task:
    """The task an adapter serves: its fixed task, or a ``CustomTask`` with its prompt and encoding."""
    from .pipeline import CustomTask

    name = name or pipe.active_adapter
    if name is None or name not in pipe.adapters:
        raise AdapterError(f"adapter {name!r} is not loaded")
    loaded = pipe.adapters[name]
    if loaded.task.task is not None:
        return loaded.task.task
    return CustomTask(name=loaded.task.new_task_name or name, prompt=loaded.prompt_key or "",
                      encoding=loaded.task.new_task_encoding or Encoding.RGB)


def write_adapter_folder(
    transformer: torch.nn.Module,
    adapter_name: str,
    folder: str | Path,
    *,
    task_info: dict[str, Any],
    task_embedding: tuple[torch.Tensor, torch.Tensor] | None = None,
    model_card: str = "",
    dtype: torch.dtype = torch.float32,
) -> Path:
    """Write an ADAPTER_FORMAT.md folder from a transformer carrying LoRA adapter ``adapter_name``.

    ``adapter_config.json`` is peft's ``LoraConfig.save_pretrained``; weights are peft's layout
    (``base_model.model.<module>.lora_A.weight``) in safetensors; ``diception_task.json`` is ``task_info``
    (checked with ``read_adapter_task``); ``task_embedding`` = (prompt_embeds [1, L, D], pooled [1, P]).
    """
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = transformer.peft_config[adapter_name]
    state = get_peft_model_state_dict(transformer, adapter_name=adapter_name)
    tensors = {f"base_model.model.{key}": value.detach().to("cpu", dtype).contiguous() for key, value in state.items()}
    save_file(tensors, str(folder / ADAPTER_WEIGHTS), metadata={"format": "pt"})
    config.save_pretrained(str(folder))
    (folder / TASK_FILE).write_text(json.dumps(task_info, indent=2) + "\n", encoding="utf-8")
    if task_embedding is not None:
        embeds, pooled = task_embedding
        save_file({"prompt_embeds": embeds.detach().cpu().float().contiguous(),
                   "pooled_prompt_embeds": pooled.detach().cpu().float().contiguous()},
                  str(folder / TASK_EMBEDDING))
    if model_card:
        (folder / "README.md").write_text(model_card, encoding="utf-8")
    read_adapter_task(folder)  # what we wrote must parse
    return folder
