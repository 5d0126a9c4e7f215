"""Loading: the release's checkpoint format, conversion to a model folder, and actionable errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from diception_core.loading import (
    CheckpointKeyError,
    CorruptModelError,
    GatedModelError,
    ModelLoadError,
    OfflineError,
    convert,
    hub_errors_as_load_errors,
    load_official_checkpoint,
)
from diception_core.pipeline import DiceptionPipeline, from_official, load_pipeline
from diception_core.tiny import build_tiny_official


@pytest.fixture(scope="module")
def official(tmp_path_factory) -> tuple[Path, Path]:
    return build_tiny_official(tmp_path_factory.mktemp("official"))


def _image() -> np.ndarray:
    return (np.random.default_rng(4).random((24, 32, 3)) * 255).astype(np.uint8)


def test_release_format_checkpoint_loads(official) -> None:
    base, checkpoint = official
    pipe = from_official(base, checkpoint, device="cpu")
    state = torch.load(checkpoint, weights_only=True)
    weights = pipe.transformer.state_dict()["proj_out.weight"]
    torch.testing.assert_close(weights, state["transformer"]["proj_out.weight"])
    torch.testing.assert_close(pipe.point_encoder.positional_encoding_gaussian_matrix,
                               state["positional_encoding_gaussian_matrix"])


def test_missing_transformer_key_is_listed(official, tmp_path) -> None:
    base, checkpoint = official
    state = torch.load(checkpoint, weights_only=True)
    del state["transformer"]["proj_out.bias"]
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(CheckpointKeyError, match="missing keys.*proj_out.bias") as info:
        from_official(base, tmp_path / "bad.pth", device="cpu")
    assert info.value.missing == ["proj_out.bias"] and not info.value.unexpected


def test_unexpected_transformer_key_is_listed(official, tmp_path) -> None:
    base, checkpoint = official
    state = torch.load(checkpoint, weights_only=True)
    state["transformer"]["extra_head.weight"] = torch.zeros(2)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(CheckpointKeyError, match="unexpected keys.*extra_head.weight"):
        from_official(base, tmp_path / "bad.pth", device="cpu")


def test_missing_top_level_entry_is_listed(official, tmp_path) -> None:
    _, checkpoint = official
    state = torch.load(checkpoint, weights_only=True)
    del state["seg_embeddings"]
    state["optimizer"] = {}
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(CheckpointKeyError, match="seg_embeddings") as info:
        load_official_checkpoint(tmp_path / "bad.pth")
    assert info.value.unexpected == ["optimizer"]


def test_checkpoint_with_arbitrary_objects_is_refused_unpickled(tmp_path) -> None:
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("this must never run",))

    (tmp_path / "evil.pth").write_bytes(pickle.dumps({"transformer": Evil()}))
    with pytest.raises(CorruptModelError):
        load_official_checkpoint(tmp_path / "evil.pth")


def test_corrupt_checkpoint_file_is_reported(tmp_path) -> None:
    (tmp_path / "broken.pth").write_bytes(b"PK\x03\x04 not really a checkpoint")
    with pytest.raises(CorruptModelError, match="Delete it and download it again"):
        load_official_checkpoint(tmp_path / "broken.pth")


def test_convert_then_from_pretrained_gives_identical_outputs(official, tmp_path) -> None:
    base, checkpoint = official
    direct = from_official(base, checkpoint, device="cpu")
    folder = convert(base=base, checkpoint=checkpoint, out=tmp_path / "model", device="cpu")
    loaded = DiceptionPipeline.from_pretrained(folder, device="cpu")
    for task, kwargs in (("depth", {}), ("point_segmentation", {"points": [[3, 4]]})):
        a = direct(_image(), task, num_inference_steps=2, decode=False, **kwargs)
        b = loaded(_image(), task, num_inference_steps=2, decode=False, **kwargs)
        assert np.array_equal(a.rgb, b.rgb)
    assert loaded.text_encoders.load_count == 0


def test_converted_folder_is_self_contained(tiny_model_dir: Path) -> None:
    names = {p.relative_to(tiny_model_dir).as_posix() for p in tiny_model_dir.rglob("*") if p.is_file()}
    for required in ("diception_config.json", "transformer/diffusion_pytorch_model.safetensors",
                     "vae/diffusion_pytorch_model.safetensors", "point_encoder/diffusion_pytorch_model.safetensors",
                     "scheduler/scheduler_config.json", "prompt_cache/prompt_embeds.safetensors",
                     "LICENSES/SD3-LICENSE.md", "LICENSES/DICEPTION-LICENSE.md", "README.md"):
        assert required in names
    assert not any(n.endswith((".pth", ".bin", ".pkl")) for n in names)


def test_prompt_cache_holds_every_fixed_prompt(tiny_pipe: DiceptionPipeline) -> None:
    from diception_spec.tasks import all_fixed_prompts

    assert set(all_fixed_prompts()) <= set(tiny_pipe.prompt_cache.prompts)
    assert len(all_fixed_prompts()) == 5 + 80 + 1


def test_unknown_hub_id_offline_gives_an_actionable_error(monkeypatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="(?i)hub|folder"):
        load_pipeline("someone/not-a-local-folder")


def test_gated_repo_error_says_how_to_get_access() -> None:
    import httpx
    from huggingface_hub.errors import GatedRepoError

    response = httpx.Response(401, request=httpx.Request("GET", "https://huggingface.co/x"))
    with pytest.raises(GatedModelError, match="accept its licence.*hf auth login"), \
            hub_errors_as_load_errors("stabilityai/stable-diffusion-3-medium-diffusers"):
        raise GatedRepoError("gated", response=response)


def test_offline_error_says_what_to_do() -> None:
    from huggingface_hub.errors import LocalEntryNotFoundError

    with pytest.raises(OfflineError, match="hf download"), hub_errors_as_load_errors("org/model"):
        raise LocalEntryNotFoundError("not cached")


def test_out_of_memory_is_reported_with_a_fix() -> None:
    from diception_core.loading import InsufficientMemoryError

    with pytest.raises(InsufficientMemoryError, match="8 GB"), hub_errors_as_load_errors("org/model"):
        raise torch.OutOfMemoryError("CUDA out of memory")


def test_config_rejects_unknown_settings(tmp_path, tiny_model_dir: Path) -> None:
    import json
    import shutil

    from diception_core.config import DiceptionConfig

    shutil.copy(tiny_model_dir / "diception_config.json", tmp_path / "diception_config.json")
    data = json.loads((tmp_path / "diception_config.json").read_text())
    data["point_ordr"] = "xy"
    (tmp_path / "diception_config.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="point_ordr"):
        DiceptionConfig.load(tmp_path)
