"""Review fixes: WebP's side limit, hidden submissions, odd digits, infinite settings, the adapter LRU and names."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from diception_app import callbacks, serving
from diception_app.settings import AppSettings, load_settings

# ---------------------------------------------------------------------------------------------- image side limit


def test_side_over_the_webp_limit_is_refused_before_any_model_work(tmp_path):
    long = tmp_path / "long.png"
    Image.new("RGB", (callbacks.MAX_SIDE + 1, 2)).save(long)
    with pytest.raises(gr.Error, match=r"16,383.*Downscale") as err:
        callbacks.check_image(str(long))
    assert err.value.field == "image"
    results = callbacks.validation_results(callbacks.check_image, ["image"], [str(long)])
    assert not results[0]["is_valid"] and "16,383" in results[0]["message"]
    fits = tmp_path / "fits.png"
    Image.new("RGB", (callbacks.MAX_SIDE, 2)).save(fits)
    assert callbacks.check_image(str(fits)).shape == (2, callbacks.MAX_SIDE, 3)


# ---------------------------------------------------------------------------------------------- settings


@pytest.mark.parametrize(("steps", "seed", "match"), [
    (float("inf"), 1, "Steps"), (float("-inf"), 1, "Steps"), (float("nan"), 1, "Steps"), ("inf", 1, "Steps"),
    (2, float("inf"), "Seed"), (2, float("nan"), "Seed"), (2, "-inf", "Seed"),
])  # fmt: skip
def test_infinite_steps_or_seed_are_refused(steps, seed, match):
    with pytest.raises(gr.Error, match=match):
        callbacks.check_run_settings(steps, 2, seed, False)


def test_unexpected_value_errors_become_a_refusal():
    def check(image, steps):
        raise ValueError("something the checks did not foresee")

    results = callbacks.validation_results(check, ["image", "steps"], [None, 1])
    assert [r["is_valid"] for r in results] == [False, True]
    assert "something the checks did not foresee" in results[0]["message"]


def test_max_adapters_setting():
    assert load_settings({}).max_loaded_adapters == 4
    assert load_settings({"DICEPTION_MAX_ADAPTERS": "2"}).max_loaded_adapters == 2
    with pytest.raises(ValueError, match="DICEPTION_MAX_ADAPTERS"):
        load_settings({"DICEPTION_MAX_ADAPTERS": "0"})


# ---------------------------------------------------------------------------------------------- adapter catalog


def _fake_adapter(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "diception_task.json").write_text(json.dumps({
        "format_version": 1, "base_model": {"id": "tiny", "revision": "x"}, "task": "depth", "new_task": None,
        "benchmarks": [], "training_data": "", "trained_on_benchmarks": [], "licence": "MIT",
    }))
    return folder


class _Store:
    def __init__(self, folder: Path):
        self.folder = folder

    def submissions_frame(self):
        import pandas as pd

        return pd.DataFrame([
            {"submission_id": 3, "name": "shown", "task": "depth", "status": "finished", "hidden": False},
            {"submission_id": 5, "name": "hidden", "task": "depth", "status": "finished", "hidden": True},
        ])

    def get_submission(self, submission_id):
        if submission_id in (3, 5):
            return {"name": "x", "status": "finished", "hidden": submission_id == 5,
                    "storage_path": str(self.folder)}
        raise KeyError(submission_id)


def test_hidden_submissions_are_not_listed_and_do_not_resolve(tmp_path):
    stored = _fake_adapter(tmp_path / "store" / "abc")
    catalog = callbacks.AdapterCatalog(tmp_path / "adapters", _Store(stored))
    assert [v for _, v in catalog.submissions()] == ["submission:3"]
    assert catalog.resolve("submission:3")[0] == stored
    with pytest.raises(gr.Error, match="Unknown adapter"):
        catalog.resolve("submission:5")


@pytest.mark.parametrize("value", ["submission:²", "submission:٣", "submission:" + "9" * 40, "submission:-3"])
def test_odd_submission_keys_are_unknown_adapters(tmp_path, value):
    catalog = callbacks.AdapterCatalog(tmp_path / "adapters", _Store(tmp_path))
    with pytest.raises(gr.Error, match="Unknown adapter"):
        catalog.resolve(value)


# ------------------------------------------------------------------------------------- adapters on the pipeline


def make_adapter(pipe, folder: Path, *, seed: int) -> Path:
    """A random (non-zero) LoRA in the ADAPTER_FORMAT.md layout (as tests/diception_core/test_lora.py makes them)."""
    import torch
    from peft import LoraConfig

    from diception_core.lora import write_adapter_folder

    name = f"make_{seed}"
    pipe.transformer.add_adapter(LoraConfig(r=2, lora_alpha=2, target_modules=["to_q", "to_v"]), adapter_name=name)
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module_name, param in pipe.transformer.named_parameters():
            if f"lora_B.{name}" in module_name or f"lora_A.{name}" in module_name:
                param.copy_(torch.randn(param.shape, generator=gen) * 0.5)
    info = {"format_version": 1, "base_model": {"id": "tiny", "revision": "x"}, "task": "depth", "new_task": None,
            "benchmarks": [], "training_data": "", "trained_on_benchmarks": [], "licence": "MIT"}
    write_adapter_folder(pipe.transformer, name, folder, task_info=info)
    pipe.transformer.delete_adapters(name)
    return folder


def _depth(pipe) -> np.ndarray:
    image = (np.random.default_rng(5).random((24, 32, 3)) * 255).astype(np.uint8)
    return pipe(image, "depth", num_inference_steps=1, guidance_scale=1.0, decode=False).rgb


def test_adapters_are_unloaded_least_recently_used_first(fresh_tiny_pipe, tmp_path):
    pipe = fresh_tiny_pipe
    a, b, c = (make_adapter(pipe, tmp_path / n, seed=s) for n, s in (("a", 1), ("b", 2), ("c", 3)))
    srv = serving.ModelServer(AppSettings(model="tiny", max_loaded_adapters=2), loader=lambda _s: pipe)
    with srv.run_lock:
        name_a = srv.activate_adapter(pipe, a, 1.0)
        with_a = _depth(pipe)
        name_b = srv.activate_adapter(pipe, b, 1.0)
        assert srv.activate_adapter(pipe, a, 1.0) == name_a  # a is now the most recently used; b the oldest
        assert set(pipe.adapters) == {name_a, name_b}
        name_c = srv.activate_adapter(pipe, c, 1.0)
        assert set(pipe.adapters) == {name_a, name_c} and pipe.active_adapter == name_c
        srv.activate_adapter(pipe, b, 1.0)  # reloads b, unloading a
        assert set(pipe.adapters) == {name_c, name_b} and pipe.active_adapter == name_b
        assert srv.activate_adapter(pipe, a, 1.0) == name_a  # a reloads and runs as before
        assert set(pipe.adapters) == {name_b, name_a} and pipe.active_adapter == name_a
        np.testing.assert_allclose(_depth(pipe), with_a, atol=1e-5)
        assert srv.activate_adapter(pipe, None, 1.0) is None and pipe.active_adapter is None


def test_folders_whose_names_sanitize_alike_do_not_collide(fresh_tiny_pipe, tmp_path):
    pipe = fresh_tiny_pipe
    dash = make_adapter(pipe, tmp_path / "lung-seg", seed=1)
    space = make_adapter(pipe, tmp_path / "lung seg", seed=2)
    srv = serving.ModelServer(AppSettings(model="tiny"), loader=lambda _s: pipe)
    with srv.run_lock:
        first = srv.activate_adapter(pipe, dash, 1.0)
        second = srv.activate_adapter(pipe, space, 1.0)
        assert first != second and {first, second} <= set(pipe.adapters)
        assert srv.activate_adapter(pipe, dash, 1.0) == first and len(pipe.adapters) == 2
    assert serving.adapter_name(str(tmp_path / "lung-seg")).startswith("lung_seg_")


@pytest.mark.parametrize("raw", ["inf", "nan", "2.5"])
def test_integer_settings_refuse_non_whole_numbers(raw: str) -> None:
    with pytest.raises(ValueError, match="DICEPTION_MAX_QUEUE"):
        load_settings({"DICEPTION_MAX_QUEUE": raw})
