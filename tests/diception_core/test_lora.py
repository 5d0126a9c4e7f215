"""LoRA adapters: load, scale (0 = no adapter), switch and unload without reloading the model."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from peft import LoraConfig

from diception_core.lora import read_adapter_task, write_adapter_folder
from diception_core.pipeline import CustomTask, DiceptionPipeline
from diception_spec.adapter_format import AdapterRefused
from diception_spec.tasks import Encoding, Task


def _image() -> np.ndarray:
    return (np.random.default_rng(5).random((24, 32, 3)) * 255).astype(np.uint8)


def _task_info(**overrides) -> dict:
    info = {
        "format_version": 1, "base_model": {"id": "tiny-diception", "revision": "test"}, "task": "depth",
        "new_task": None, "benchmarks": ["synthetic"], "training_data": "random", "trained_on_benchmarks": [],
        "licence": "mit",
    }
    info.update(overrides)
    return info


def make_adapter(pipe: DiceptionPipeline, folder: Path, *, seed: int, rank: int = 4, task_info: dict | None = None,
                 embedding: tuple[torch.Tensor, torch.Tensor] | None = None) -> Path:
    """A random (non-zero) LoRA written in the ADAPTER_FORMAT.md layout, then removed from ``pipe``."""
    name = f"make_{seed}"
    pipe.transformer.add_adapter(LoraConfig(r=rank, lora_alpha=rank, target_modules=["to_q", "to_k", "to_v"]),
                                 adapter_name=name)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module_name, param in pipe.transformer.named_parameters():
            if f"lora_B.{name}" in module_name or f"lora_A.{name}" in module_name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.5)
    write_adapter_folder(pipe.transformer, name, folder, task_info=task_info or _task_info(),
                         task_embedding=embedding)
    pipe.transformer.delete_adapters(name)
    return folder


@pytest.fixture()
def pipe(fresh_tiny_pipe: DiceptionPipeline) -> DiceptionPipeline:
    return fresh_tiny_pipe


def _run(pipe: DiceptionPipeline) -> np.ndarray:
    return pipe(_image(), "depth", num_inference_steps=2, guidance_scale=1.0, decode=False).rgb


def test_adapter_changes_the_output(pipe, tmp_path) -> None:
    before = _run(pipe)
    pipe.load_adapter(make_adapter(pipe, tmp_path / "a", seed=1))
    assert np.abs(_run(pipe) - before).mean() > 1e-4


def test_scale_zero_equals_no_adapter(pipe, tmp_path) -> None:
    before = _run(pipe)
    pipe.load_adapter(make_adapter(pipe, tmp_path / "a", seed=1), scale=0.0)
    np.testing.assert_allclose(_run(pipe), before, atol=1e-6)


def test_scale_is_applied(pipe, tmp_path) -> None:
    folder = make_adapter(pipe, tmp_path / "a", seed=1)
    name = pipe.load_adapter(folder, scale=1.0)
    full = _run(pipe)
    pipe.set_adapter(name, scale=0.5)
    half = _run(pipe)
    pipe.set_adapter(None)
    base = _run(pipe)
    assert np.abs(half - base).mean() < np.abs(full - base).mean()
    assert np.abs(half - full).mean() > 1e-5


def test_unload_restores_the_base_model(pipe, tmp_path) -> None:
    before = _run(pipe)
    pipe.load_adapter(make_adapter(pipe, tmp_path / "a", seed=1))
    pipe.unload_adapter()
    np.testing.assert_allclose(_run(pipe), before, atol=1e-6)
    assert pipe.adapters == {} and pipe.active_adapter is None


def test_switch_between_adapters_without_reloading(pipe, tmp_path) -> None:
    a = pipe.load_adapter(make_adapter(pipe, tmp_path / "a", seed=1), name="a")
    out_a = _run(pipe)
    b = pipe.load_adapter(make_adapter(pipe, tmp_path / "b", seed=2), name="b")
    out_b = _run(pipe)
    pipe.set_adapter(a)
    np.testing.assert_allclose(_run(pipe), out_a, atol=1e-6)
    assert np.abs(out_a - out_b).mean() > 1e-5 and b == "b"


def test_new_task_adapter_uses_its_saved_embedding(pipe, tmp_path) -> None:
    embeds, pooled = pipe.prompt_cache.get("[[image2depth]]")
    info = _task_info(task=None, new_task={"name": "highlight", "prompt": "[[image2highlight]]", "encoding": "rgb"})
    folder = make_adapter(pipe, tmp_path / "new", seed=3, task_info=info,
                          embedding=(embeds.unsqueeze(0) * 0.5, pooled.unsqueeze(0)))
    name = pipe.load_adapter(folder)
    task = pipe.adapter_task(name)
    assert isinstance(task, CustomTask) and task.encoding is Encoding.RGB
    out = pipe(_image(), task, num_inference_steps=1, guidance_scale=1.0)
    assert out[0].decoded.shape == (24, 32, 3)
    assert pipe.text_encoders.load_count == 0  # served from task_embedding.safetensors


def test_adapter_task_file_is_validated(tmp_path) -> None:
    (tmp_path / "diception_task.json").write_text(json.dumps(_task_info(task="teleport")))
    with pytest.raises(AdapterRefused, match="task must be one of .*got 'teleport'"):
        read_adapter_task(tmp_path)


def test_folder_without_task_file_is_refused(pipe, tmp_path) -> None:
    with pytest.raises(AdapterRefused, match="diception_task.json"):
        pipe.load_adapter(tmp_path)


def test_existing_task_adapter_reports_its_task(pipe, tmp_path) -> None:
    name = pipe.load_adapter(make_adapter(pipe, tmp_path / "a", seed=1))
    assert pipe.adapter_task(name) is Task.DEPTH


def test_unloading_the_active_adapter_returns_to_the_base_model(pipe, tmp_path) -> None:
    base = _run(pipe)
    pipe.load_adapter(make_adapter(pipe, tmp_path / "a", seed=1), name="a")
    pipe.load_adapter(make_adapter(pipe, tmp_path / "b", seed=2), name="b")
    pipe.unload_adapter("b")  # peft would silently activate "a"
    assert pipe.active_adapter is None
    np.testing.assert_allclose(_run(pipe), base, atol=1e-6)
