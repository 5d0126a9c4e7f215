"""Fine-tuning on the tiny model: the objective learns, adapters reload / unload, resume is exact, the output passes
the leaderboard's validation, and new tasks serve without a text encoder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from diception_core.finetune.data import make_example
from diception_core.finetune.train import (
    Finetuner,
    FinetuneSettings,
    aligned_absrel,
    finetune,
    latest_checkpoint,
    mean_angle_deg,
    push_to_hub,
)
from diception_core.pipeline import DiceptionPipeline
from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_example(tmp_path_factory.mktemp("ft") / "shapes", encoding="mask", n=4, size=64, seed=3)


def _pipe(folder: Path) -> DiceptionPipeline:
    return DiceptionPipeline.from_pretrained(folder, device="cpu")


def _settings(data: Path, out: Path, **changes: Any) -> FinetuneSettings:
    values: dict[str, Any] = dict(
        data=str(data), name="shapes", task="point_segmentation", model="tiny", output=str(out), rank=4, steps=3,
        batch=2, lr=1e-2, val_split=0.0, val_every=0, checkpoint_every=0, val_inference_steps=1, val_guidance=1.0,
    )
    values.update(changes)
    return FinetuneSettings(**values)


def _validate(adapter: Path, pipe: DiceptionPipeline) -> Any:
    validation = pytest.importorskip("leaderboard.validation")
    return validation.validate_adapter_folder(
        adapter, base_model_id=pipe.config.checkpoint_id, base_revision=pipe.config.model_revision,
        transformer_config=dict(pipe.transformer.config),
    )


def _train_as_denoiser(pipe: DiceptionPipeline, data: Path, steps: int = 300) -> None:
    """Full-parameter flow matching of ``pipe``'s transformer on ``data`` (depth pairs): a trained-like tiny base.

    The tiny preset is random, and a random transformer does not denoise: from it, an attention LoRA fitting a fixed
    batch stalls at about the noise's own variance (measured: 1.66 -> ~1.1 with E[noise^2] = 0.99, whatever the
    rank or learning rate), because extracting the noise from x_t takes the timestep-modulated paths a LoRA on the
    attention projections does not reach. DICEPTION's base is a trained denoiser, so the test trains one first.
    """
    trainer = Finetuner(_settings(data, data.parent / "pretrain", task="depth", batch=4), pipe=pipe)
    transformer = pipe.transformer
    base = [p for n, p in transformer.named_parameters() if ".lora_" not in n]
    for param in base:
        param.requires_grad_(True)
    optimizer = torch.optim.Adam(base, lr=1e-3)
    for _ in range(steps):
        loss = trainer.loss(trainer.sample_batch())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    transformer.requires_grad_(False)
    transformer.delete_adapters(trainer.adapter_name)


def test_fixed_batch_loss_halves_from_a_zero_lora(
    tiny_model_dir: Path, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """On a new task (4 pairs, one fixed draw of noise and timesteps), all attention targets, lr 2e-2, 100 steps."""
    pipe = _pipe(tiny_model_dir)
    _train_as_denoiser(pipe, make_example(tmp_path_factory.mktemp("ft") / "depth", encoding="depth", n=32,
                                          size=64, seed=11))
    all_targets = ("to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out")
    settings = _settings(data_dir, tmp_path_factory.mktemp("run"), task=None, encoding="mask",
                         prompt="[[image2shape]]", prompt_embedding="learn", targets=all_targets, rank=8, batch=4,
                         lr=2e-2)
    trainer = Finetuner(settings, pipe=pipe)
    state = trainer.trainable_state()
    assert all(not v.any() for k, v in state.items() if "lora_B" in k)  # the LoRA starts as the identity
    batch = trainer.sample_batch()  # one fixed draw: the 4 pairs, noise, timesteps and clicks
    with torch.no_grad():
        first = trainer.loss(batch).item()
        pipe.transformer.disable_lora()
        base = trainer.loss(batch).item()
        pipe.transformer.enable_lora()
    assert first == base
    for _ in range(100):
        trainer.train_step(batch)
    with torch.no_grad():
        last = trainer.loss(batch).item()
    assert last <= 0.5 * first, (first, last)


def test_adapter_reloads_changes_output_and_unloads(tiny_model_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    result = finetune(_settings(data_dir, tmp_path / "run"), pipe=_pipe(tiny_model_dir))
    adapter = result.adapter_dir
    assert adapter == tmp_path / "run" / "adapter" and not (adapter / "task_embedding.safetensors").exists()
    pipe = _pipe(tiny_model_dir)
    assert _validate(adapter, pipe).task == "point_segmentation"
    image = np.asarray(Image.open(data_dir / "images" / "example_000.png"))
    kwargs = dict(points=[[30, 30]], num_inference_steps=1, guidance_scale=1.0, seed=0)
    base = pipe(image, "point_segmentation", **kwargs).rgb
    name = pipe.load_adapter(adapter)
    adapted = pipe(image, pipe.adapter_task(name), **kwargs).rgb
    assert np.abs(adapted - base).max() > 1e-3
    pipe.unload_adapter(name)
    np.testing.assert_array_equal(pipe(image, "point_segmentation", **kwargs).rgb, base)


def test_new_task_default_output_validates_and_serves_without_text_encoders(
    tiny_model_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    pipe = _pipe(tiny_model_dir)
    # Defaults (rank 128 on to_q/k/v, lr 2e-5, float32 weights) except the run length and the validation sampling.
    settings = FinetuneSettings(
        data=str(data_dir), name="shapes", encoding="mask", prompt="[[image2shape]]", model=str(tiny_model_dir),
        output=str(tmp_path / "run"), steps=2, batch=2, val_split=0.25, val_every=1, checkpoint_every=0,
        prompt_embedding="learn", val_inference_steps=1, val_guidance=1.0,
    )
    result = finetune(settings, pipe=pipe)
    assert pipe.text_encoders.load_count == 0
    adapter = result.adapter_dir
    assert {p.name for p in adapter.iterdir()} == {
        "adapter_config.json", "adapter_model.safetensors", "diception_task.json", "task_embedding.safetensors",
        "README.md"}
    validated = _validate(adapter, pipe)
    assert validated.rank == 128 and validated.target_modules == ("to_q", "to_k", "to_v")
    assert validated.new_task == {"name": "shapes", "prompt": "[[image2shape]]", "encoding": "mask"}
    assert validated.benchmarks == ("user:shapes-heldout",) and validated.has_task_embedding
    learned = load_file(str(adapter / "task_embedding.safetensors"))["prompt_embeds"]
    empty, _ = pipe.prompt_cache.get("")
    assert learned.shape == (1, *empty.shape) and not torch.equal(learned[0], empty)  # trained, from ""'s init
    assert "miou" in result.metrics and "miou" in validated.model_card
    assert (result.output_dir / "previews" / "step-0000001.png").is_file()
    assert (result.heldout_dir / "manifest.json").is_file() and len(list((result.heldout_dir / "images").iterdir()))

    serve = _pipe(tiny_model_dir)
    serve.load_adapter(adapter)
    task = serve.adapter_task()
    assert task.name == "shapes" and task.encoding.value == "mask"
    image = np.asarray(Image.open(data_dir / "images" / "example_001.png"))
    output = serve(image, task, num_inference_steps=1, guidance_scale=1.0)
    assert output.predictions[0].mask.shape == image.shape[:2]
    assert serve.text_encoders.load_count == 0


def test_resume_gives_the_uninterrupted_weights(tiny_model_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    common = dict(task=None, encoding="mask", prompt="[[image2shape]]", prompt_embedding="learn", steps=4,
                  grad_accum=2, checkpoint_every=2, val_split=0.25, val_every=3)
    full = finetune(_settings(data_dir, tmp_path / "a", **common), pipe=_pipe(tiny_model_dir))

    class Interrupted(Exception):
        pass

    def crash(step: int, loss: float) -> None:
        if step == 3:  # after the step-2 checkpoint, before the next one
            raise Interrupted

    with pytest.raises(Interrupted):
        finetune(_settings(data_dir, tmp_path / "b", **common), pipe=_pipe(tiny_model_dir), callback=crash)
    assert latest_checkpoint(tmp_path / "b").name == "step-0000002"
    resumed = finetune(_settings(data_dir, tmp_path / "b", resume=True, **common), pipe=_pipe(tiny_model_dir))
    assert resumed.steps == 4
    for file in ("adapter_model.safetensors", "task_embedding.safetensors"):
        a, b = load_file(str(full.adapter_dir / file)), load_file(str(resumed.adapter_dir / file))
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), key
    with pytest.raises(ValueError, match="already holds checkpoints of an earlier run; pass --resume"):
        finetune(_settings(data_dir, tmp_path / "a", **common), pipe=_pipe(tiny_model_dir))
    with pytest.raises(ValueError, match=r"different settings \(lr: 0.01 -> 0.005\)"):
        Finetuner(_settings(data_dir, tmp_path / "b", resume=True, **{**common, "lr": 5e-3}),
                  pipe=_pipe(tiny_model_dir)).train()


def test_gradient_checkpointing_takes_the_same_step(tiny_model_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    states, recomputed = [], []
    for checkpointing in (False, True):
        settings = _settings(data_dir, tmp_path / f"gc-{checkpointing}", gradient_checkpointing=checkpointing)
        trainer = Finetuner(settings, pipe=_pipe(tiny_model_dir))
        transformer = trainer.pipe.transformer
        if checkpointing:
            transformer._gradient_checkpointing_func = _counting(transformer._gradient_checkpointing_func, recomputed)
        trainer.train_step()
        states.append(trainer.trainable_state())
    assert len(recomputed) == transformer.config.num_layers  # every block went through the checkpoint
    assert any(v.any() for k, v in states[0].items() if "lora_B" in k)
    for key in states[0]:
        torch.testing.assert_close(states[1][key], states[0][key], rtol=1e-5, atol=1e-7)


def _counting(function: Any, calls: list[int]) -> Any:
    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return function(*args, **kwargs)

    return counted


def test_bf16_mixed_precision_keeps_float32_lora_weights(tiny_model_dir: Path, data_dir: Path, tmp_path: Path) -> None:
    """Also after a float32 run in the same process (a notebook): accelerate fixes one precision per process."""
    Finetuner(_settings(data_dir, tmp_path / "fp32"), pipe=_pipe(tiny_model_dir))
    trainer = Finetuner(_settings(data_dir, tmp_path / "bf16", mixed_precision="bf16"), pipe=_pipe(tiny_model_dir))
    assert trainer.accelerator.mixed_precision == "bf16"
    losses = [trainer.train_step() for _ in range(2)]
    assert all(np.isfinite(losses))
    state = trainer.trainable_state()
    assert {v.dtype for v in state.values()} == {torch.float32}
    assert any(v.any() for k, v in state.items() if "lora_B" in k)


def test_two_processes_train_one_adapter(
    tiny_model_dir: Path, data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real two-process data-parallel run (torch.distributed.run, gloo on CPU), as accelerate launch starts it."""
    out = tmp_path / "ddp"
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "diception_core.finetune", "--data", str(data_dir), "--name", "shapes", "--task", "point_segmentation",
        "--model", str(tiny_model_dir), "--output", str(out), "--steps", "2", "--batch", "2", "--rank", "4",
        "--lr", "1e-2", "--val-split", "0", "--checkpoint-every", "2",
    ]
    env = {**os.environ, "ACCELERATE_USE_CPU": "true", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    run = subprocess.run(command, env=env, cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-4000:]
    state = json.loads((out / "checkpoints" / "step-0000002" / "training_state.json").read_text(encoding="utf-8"))
    assert state["num_processes"] == 2
    assert _validate(out / "adapter", _pipe(tiny_model_dir)).task == "point_segmentation"

    # Step 1 starts from the base weights in both processes, each on its own draw: the logged loss is their mean.
    losses = []
    for index in (0, 1):
        monkeypatch.setattr(Finetuner, "_process_seed", lambda self, i=index: i)
        trainer = Finetuner(_settings(data_dir, tmp_path / f"process-{index}", rank=4, batch=2),
                            pipe=_pipe(tiny_model_dir))
        with torch.no_grad():
            losses.append(trainer.loss(trainer.sample_batch()).item())
    assert losses[0] != losses[1]
    logged = json.loads((out / "metrics.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert logged["step"] == 1 and logged["loss"] == pytest.approx(sum(losses) / 2, rel=1e-5)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rank": 129}, "rank: 129 is outside 1..128"),
        ({"targets": ("to_q", "proj_out")}, r"targets: \['proj_out'\] not allowed"),
        ({"name": "bad/name"}, "name: 'bad/name'"),
        ({"task": None}, "encoding: a new task needs --encoding"),
        ({"task": None, "encoding": "mask"}, "prompt: a new task needs --prompt"),
        ({"encoding": "mask"}, "give --task for an existing task, or --new-task"),
        ({"task": "semantic_segmentation"}, "category: task 'semantic_segmentation' needs --category"),
        ({"mixed_precision": "fp8"}, "mixed-precision: 'fp8'"),
        ({"val_split": 1.0}, r"val-split: 1.0 must lie in \[0, 1\)"),
        ({"task": "edges"}, "task: unknown task 'edges'"),
    ],
)
def test_settings_errors_name_the_flag(tmp_path: Path, changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _settings(tmp_path, tmp_path, **changes).check()


def test_metrics_hand_computed() -> None:
    gt = np.array([[0.5, 1.0], [0.25, 2.0]], np.float32)  # disparity
    valid = np.ones_like(gt, bool)
    assert aligned_absrel(3 * gt - 1, gt, valid) == pytest.approx(0.0, abs=1e-9)  # affine-invariant
    n = np.zeros((1, 2, 3), np.float32)
    n[0, 0] = [0, 0, 1]
    n[0, 1] = [1, 0, 0]
    m = np.broadcast_to(np.array([0, 0, 1], np.float32), n.shape)
    assert mean_angle_deg(n, m, np.ones((1, 2), bool)) == pytest.approx(45.0)


class FakeHubApi:
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def create_repo(self, **kwargs: Any) -> str:
        self.calls.append(("create_repo", kwargs))
        return f"https://huggingface.co/{kwargs['repo_id']}"

    def upload_folder(self, **kwargs: Any) -> None:
        self.calls.append(("upload_folder", kwargs))


def test_push_to_hub_is_private_by_default(tmp_path: Path) -> None:
    api = FakeHubApi()
    url = push_to_hub(tmp_path, "me/shapes-lora", api=api)
    assert url == "https://huggingface.co/me/shapes-lora"
    assert api.calls[0] == ("create_repo", {"repo_id": "me/shapes-lora", "private": True, "exist_ok": True,
                                            "repo_type": "model"})
    assert api.calls[1][1]["folder_path"] == str(tmp_path) and api.calls[1][1]["repo_id"] == "me/shapes-lora"
    push_to_hub(tmp_path, "me/public", api=api, private=False)
    assert api.calls[2][1]["private"] is False


@pytest.mark.parametrize(
    ("encoding", "task_flags", "metric"),
    [
        ("depth", ["--task", "depth"], "absrel"),
        ("normal", ["--new-task", "--encoding", "normal", "--prompt", "[[image2bumps]]"], "mean_deg"),
    ],
)
def test_cli_trains_each_encoding(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], encoding: str, task_flags: list[str],
    metric: str,
) -> None:
    import json

    from diception_core.finetune.__main__ import main

    data = make_example(tmp_path / "data", encoding=encoding, n=4, size=64, seed=0)
    code = main(["--data", str(data), "--name", "cli-run", *task_flags, "--model", str(tiny_model_dir),
                 "--output", str(tmp_path / "run"), "--steps", "1", "--batch", "2", "--rank", "4",
                 "--val-split", "0.25", "--val-inference-steps", "1", "--val-guidance", "1"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["steps"] == 1 and np.isfinite(summary["heldout"][metric])
    assert (tmp_path / "run" / "adapter" / "adapter_model.safetensors").is_file()
    assert (tmp_path / "run" / "previews" / "step-0000001.png").is_file()
