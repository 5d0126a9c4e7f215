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

from diception_spec import adapter_format as fmt
from diception_spec.adapter_format import AdapterRefused, AdapterTask, parse_task_file
from diception_spec.json_input import parse_json_object
from diception_spec.tasks import Encoding, Task

from .custom_task import CustomTask

if TYPE_CHECKING:
    from .pipeline import DiceptionPipeline


def read_adapter_task(folder: str | Path) -> AdapterTask:
    """Parse and check an adapter folder's ``diception_task.json`` (``diception_spec.adapter_format``); an unusable
    file raises ``AdapterRefused`` naming it."""
    path = Path(folder) / fmt.TASK_FILE
    if not path.is_file():
        raise AdapterRefused(f"{fmt.TASK_FILE}: missing in the adapter folder {Path(folder).name!r}; an adapter "
                             "folder needs one (see ADAPTER_FORMAT.md)")
    if path.stat().st_size > fmt.MAX_TASK_FILE_BYTES:
        raise AdapterRefused(f"{fmt.TASK_FILE}: larger than {fmt.MAX_TASK_FILE_BYTES:,} bytes")
    data = parse_json_object(path.read_bytes(), name=fmt.TASK_FILE, refusal=AdapterRefused)
    return parse_task_file(data)


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
    for required in (fmt.CONFIG_FILE, fmt.WEIGHTS_FILE):
        if not (folder / required).is_file():
            raise AdapterRefused(f"{required}: missing in the adapter folder {folder.name!r} (an adapter folder is "
                                 "written by peft's save_pretrained)")
    config = parse_json_object((folder / fmt.CONFIG_FILE).read_bytes(), name=fmt.CONFIG_FILE, refusal=AdapterRefused)
    rank = config.get("r", 0)
    if isinstance(rank, bool) or not isinstance(rank, int) or rank > fmt.MAX_RANK:
        raise AdapterRefused(f"{fmt.CONFIG_FILE}: LoRA rank {rank!r} must be a whole number of at most {fmt.MAX_RANK}")
    name = _sanitize(name or folder.name)
    if name in pipe.adapters:
        raise ValueError(f"name: adapter {name!r} is already loaded; unload it first or pick another name")
    pipe.transformer.load_lora_adapter(
        str(folder), weight_name=fmt.WEIGHTS_FILE, prefix=fmt.WEIGHT_KEY_PREFIX, adapter_name=name,
    )
    prompt_key = None
    if info.new_task is not None:
        prompt_key = info.new_task.prompt
        if (folder / fmt.EMBEDDING_FILE).is_file():
            tensors = load_file(str(folder / fmt.EMBEDDING_FILE))
            embeds, pooled = tensors["prompt_embeds"], tensors["pooled_prompt_embeds"]  # [1, L, D], [1, P]
            prompt_key = f"<adapter:{name}> {info.new_task.prompt}"
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
        raise KeyError(f"adapter {name!r} is not loaded; loaded: {sorted(pipe.adapters) or 'none'}")
    if not -4.0 <= float(scale) <= 4.0:
        raise ValueError(f"scale: {scale} is outside [-4, 4]")
    pipe.transformer.enable_lora()
    pipe.transformer.set_adapters([name])
    pipe.active_adapter = name
    pipe.adapter_scale = float(scale)


def unload_adapter(pipe: DiceptionPipeline, name: str | None = None) -> None:
    """Remove one adapter (or all with ``None``) from the transformer; the base weights are untouched."""
    names = list(pipe.adapters) if name is None else [name]
    for adapter in names:
        if adapter not in pipe.adapters:
            raise KeyError(f"adapter {adapter!r} is not loaded")
        pipe.transformer.delete_adapters(adapter)
        loaded = pipe.adapters.pop(adapter)
        if loaded.prompt_key and loaded.prompt_key.startswith("<adapter:"):
            pipe.prompt_cache._embeds.pop(loaded.prompt_key, None)
    if pipe.active_adapter in names:
        # peft activates a remaining adapter when the active one is deleted; the base model is what we promise.
        set_adapter(pipe, None)


def adapter_task(pipe: DiceptionPipeline, name: str | None = None) -> CustomTask | Task:
    """The task an adapter serves: its fixed task, or a ``CustomTask`` with its prompt and encoding."""
    name = name or pipe.active_adapter
    if name is None or name not in pipe.adapters:
        raise KeyError(f"adapter {name!r} is not loaded")
    loaded = pipe.adapters[name]
    if loaded.task.task is not None:
        return loaded.task.task
    new_task = loaded.task.new_task
    return CustomTask(name=new_task.name if new_task else name, prompt=loaded.prompt_key or "",
                      encoding=new_task.encoding if new_task else Encoding.RGB)


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
    tensors = {f"{fmt.WEIGHT_KEY_PREFIX}.{key}": value.detach().to("cpu", dtype).contiguous()
               for key, value in state.items()}
    save_file(tensors, str(folder / fmt.WEIGHTS_FILE), metadata={"format": "pt"})
    config.save_pretrained(str(folder))
    (folder / fmt.TASK_FILE).write_text(json.dumps(task_info, indent=2) + "\n", encoding="utf-8")
    if task_embedding is not None:
        embeds, pooled = task_embedding
        save_file({"prompt_embeds": embeds.detach().cpu().float().contiguous(),
                   "pooled_prompt_embeds": pooled.detach().cpu().float().contiguous()},
                  str(folder / fmt.EMBEDDING_FILE))
    if model_card:
        (folder / "README.md").write_text(model_card, encoding="utf-8")
    read_adapter_task(folder)  # what we wrote must parse
    return folder
