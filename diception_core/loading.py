"""The one module that touches files and the Hub: official checkpoints, model folders, conversion, errors.

Everything else takes objects, so tests inject tiny components. It returns a model's parts (``ModelParts``), never
a pipeline: ``DiceptionPipeline.from_pretrained`` / ``from_official`` assemble them, so this module and the
pipeline do not import each other (and ``"tiny"`` is resolved above both, in the pipeline module).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from diception_spec.tasks import all_fixed_prompts

from .config import DiceptionConfig
from .hub import (  # noqa: F401 - the error types are imported from here by callers
    CheckpointKeyError,
    CorruptModelError,
    GatedModelError,
    InsufficientMemoryError,
    ModelLoadError,
    OfflineError,
    hub_errors_as_load_errors,
)
from .prompts import PromptCache, TextEncoders, embed_missing_prompts
from .runtime import resolve_device, resolve_dtype

logger = logging.getLogger(__name__)

OFFICIAL_KEYS = ("transformer", "point_embedder", "seg_embeddings", "not_seg_embeddings",
                 "positional_encoding_gaussian_matrix")
DEFAULT_BASE = "stabilityai/stable-diffusion-3-medium-diffusers"
DEFAULT_CHECKPOINT_REPO = "Canyu/DICEPTION"
DEFAULT_CHECKPOINT_FILE = "DICEPTION_v1.pth"
TEXT_ENCODER_FOLDERS = ("text_encoder", "text_encoder_2", "text_encoder_3", "tokenizer", "tokenizer_2", "tokenizer_3")
SD3_LICENCE_URL = "https://huggingface.co/stabilityai/stable-diffusion-3-medium/blob/main/LICENSE.md"
DICEPTION_LICENCE_NOTE = (
    "DICEPTION weights and code: BSD-2-Clause for academic use; commercial use requires an agreement with the "
    "authors (see https://github.com/aim-uofa/Diception)."
)


@dataclass
class ModelParts:
    """What a ``DiceptionPipeline`` is built from: its constructor's keywords."""

    transformer: torch.nn.Module
    vae: torch.nn.Module
    scheduler: Any
    point_encoder: torch.nn.Module
    prompt_cache: PromptCache
    config: DiceptionConfig
    text_encoders: TextEncoders | None = None

    def as_kwargs(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def to(self, device: torch.device, dtype: torch.dtype) -> ModelParts:
        """Move the three modules (and the text encoders' device) in place, as ``DiceptionPipeline.to`` does."""
        for module in (self.transformer, self.vae, self.point_encoder):
            current = next(module.parameters())
            if current.dtype != dtype:
                module.to(device=device, dtype=dtype)
            elif current.device != device:
                module.to(device=device)
        if self.text_encoders is not None:
            self.text_encoders.device = device
        return self


def load_official_checkpoint(
    checkpoint: str | Path, *, token: str | None = None, revision: str | None = None
) -> dict[str, Any]:
    """Load a release-format ``DICEPTION_v1.pth`` (a path, or a Hub repo id holding it) with ``weights_only=True``."""
    path = Path(checkpoint)
    source = str(checkpoint)
    with hub_errors_as_load_errors(source):
        if not path.is_file():
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(source, DEFAULT_CHECKPOINT_FILE, revision=revision, token=token))
        # weights_only: never a full unpickle of a downloaded file. mmap avoids a second copy in memory; legacy
        # (pre-zip) files cannot be memory-mapped, so they are read normally.
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as err:
            if "mmap" not in str(err):
                raise
            state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, Mapping):
        raise CorruptModelError(f"{source}: expected a dict of state dicts, found {type(state).__name__}")
    missing = [k for k in OFFICIAL_KEYS if k not in state]
    unexpected = sorted(k for k in state if k not in OFFICIAL_KEYS)
    if missing or unexpected:
        raise CheckpointKeyError(f"{source} (top level)", missing, unexpected)
    return dict(state)


def _load_state_checked(module: torch.nn.Module, state: Mapping[str, torch.Tensor], what: str) -> None:
    result = module.load_state_dict(state, strict=False, assign=True)
    if result.missing_keys or result.unexpected_keys:
        raise CheckpointKeyError(what, sorted(result.missing_keys), sorted(result.unexpected_keys))


def load_official_parts(
    base: str | Path = DEFAULT_BASE,
    checkpoint: str | Path = DEFAULT_CHECKPOINT_REPO,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | str | None = None,
    token: str | None = None,
    base_revision: str | None = None,
    checkpoint_revision: str | None = None,
    config_overrides: Mapping[str, Any] | None = None,
) -> ModelParts:
    """SD3-medium in diffusers layout (Hub id or folder) + the release's ``DICEPTION_v1.pth`` -> the model's parts
    (modules as loaded, on the CPU; ``DiceptionPipeline.from_official`` assembles and moves them).

    The prompt cache starts empty: prompts are embedded by the base's text encoders (on ``device`` in ``dtype``) on
    first use (``convert`` precomputes them all). Missing or unexpected checkpoint keys raise
    ``CheckpointKeyError`` listing them.
    """
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler

    from .model import DiceptionTransformer, PointEncoder

    token = token or os.environ.get("HF_TOKEN")
    device = resolve_device(device)
    dtype = resolve_dtype(device, dtype)
    base = str(base)
    state = load_official_checkpoint(checkpoint, token=token, revision=checkpoint_revision)
    common = {"revision": base_revision, "token": token}
    with hub_errors_as_load_errors(base):
        transformer_config = DiceptionTransformer.load_config(base, subfolder="transformer", **common)
        with init_empty_weights():
            transformer = DiceptionTransformer.from_config(transformer_config)
        _load_state_checked(transformer, state["transformer"], f"{checkpoint} ['transformer']")
        vae = AutoencoderKL.from_pretrained(base, subfolder="vae", **common)
        scheduler = FlowMatchEulerDiscreteScheduler.from_pretrained(base, subfolder="scheduler", **common)
        gaussian = state["positional_encoding_gaussian_matrix"]
        hidden = state["point_embedder"]["2.weight"].shape[0] if "2.weight" in state["point_embedder"] else None
        if gaussian.ndim != 2 or gaussian.shape[0] != 2 or hidden is None:
            raise CorruptModelError(f"{checkpoint}: point encoder tensors have unexpected shapes")
        points = PointEncoder(num_frequencies=gaussian.shape[1], hidden_size=hidden)
        try:
            points.load_official_state(state)
        except RuntimeError as err:
            raise CorruptModelError(f"{checkpoint}: point encoder weights do not fit ({err})") from None
    settings: dict[str, Any] = {
        "base_model_id": base, "base_revision": base_revision or _local_revision(base),
        "checkpoint_id": str(checkpoint), "checkpoint_revision": checkpoint_revision or "unknown",
        "text_encoder_source": base,
    }
    config = DiceptionConfig(**{**settings, **dict(config_overrides or {})})
    text_encoders = TextEncoders(base, revision=base_revision, token=token, dtype=dtype, device=device)
    return ModelParts(transformer=transformer, vae=vae, scheduler=scheduler, point_encoder=points,
                      prompt_cache=PromptCache(base, config.base_revision), config=config, text_encoders=text_encoders)


def load_folder_parts(
    folder: str | Path, *, device: torch.device, dtype: torch.dtype, token: str | None = None
) -> ModelParts:
    """A model folder written by ``convert`` -> its parts (modules in ``dtype``; the text encoders, loaded only if
    an uncached prompt needs them, from the config's source on ``device``)."""
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler

    from .model import DiceptionTransformer, PointEncoder

    folder = Path(folder)
    config = DiceptionConfig.load(folder)
    with hub_errors_as_load_errors(str(folder)):
        transformer = DiceptionTransformer.from_pretrained(folder / "transformer", torch_dtype=dtype)
        vae = AutoencoderKL.from_pretrained(folder / "vae", torch_dtype=dtype)
        points = PointEncoder.from_pretrained(folder / "point_encoder", torch_dtype=dtype)
        scheduler = FlowMatchEulerDiscreteScheduler.from_pretrained(folder / "scheduler")
        cache = PromptCache.load(folder)
    source = config.text_encoder_source
    if source is not None and not Path(source).is_absolute() and (folder / source).is_dir():
        source = str(folder / source)
    text_encoders = TextEncoders(source, token=token, dtype=dtype, device=device)
    return ModelParts(transformer=transformer, vae=vae, scheduler=scheduler, point_encoder=points,
                      prompt_cache=cache, config=config, text_encoders=text_encoders)


def save_model_folder(folder: str | Path, parts: ModelParts) -> Path:
    """Write the weights, scheduler, config and prompt cache of a model folder (the layout ``convert`` writes)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    parts.transformer.save_pretrained(folder / "transformer")
    parts.vae.save_pretrained(folder / "vae")
    parts.point_encoder.save_pretrained(folder / "point_encoder")
    parts.scheduler.save_pretrained(folder / "scheduler")
    if len(parts.prompt_cache):
        parts.prompt_cache.save(folder)
    parts.config.save(folder)
    return folder


def _local_revision(source: str) -> str:
    return "local" if Path(source).is_dir() else "unknown"


def folder_revision(folder: str | Path) -> str:
    """A content hash of a model folder's weight files: the model revision shown with every result."""
    digest = hashlib.sha256()
    for path in sorted(Path(folder).rglob("*.safetensors")):
        if "prompt_cache" in path.parts:
            continue
        digest.update(path.relative_to(folder).as_posix().encode())
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 22), b""):
                digest.update(chunk)
    return digest.hexdigest()[:16]


def convert(
    *,
    base: str | Path = DEFAULT_BASE,
    checkpoint: str | Path = DEFAULT_CHECKPOINT_REPO,
    out: str | Path,
    token: str | None = None,
    base_revision: str | None = None,
    checkpoint_revision: str | None = None,
    text_encoders_in_folder: bool = False,
    push_to_hub: str | None = None,
    private: bool = True,
    config_overrides: Mapping[str, Any] | None = None,
    device: torch.device | str | None = None,
) -> Path:
    """Write a self-contained model folder that ``DiceptionPipeline.from_pretrained`` loads without text encoders
    (works on the model's parts: no pipeline is built).

    Layout: ``diception_config.json``, ``transformer/``, ``vae/``, ``point_encoder/`` (safetensors),
    ``scheduler/``, ``prompt_cache/prompt_embeds.safetensors`` (every fixed prompt: the task prompts, the 80
    ``[[image2semantic]] <category>`` prompts and ""), ``LICENSES/`` (SD3's and DICEPTION's) and a model card.
    With ``text_encoders_in_folder`` the base's text encoders are copied too (small models only).
    ``push_to_hub`` uploads the folder to that repo, private by default (SD3's weights are gated).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(device)
    dtype = torch.float32 if device.type == "cpu" else torch.bfloat16
    parts = load_official_parts(
        base, checkpoint, device=device, dtype=dtype, token=token, base_revision=base_revision,
        checkpoint_revision=checkpoint_revision, config_overrides=config_overrides,
    )
    with hub_errors_as_load_errors(str(base)):
        parts.to(device, dtype)
    embed_missing_prompts(parts.prompt_cache, parts.text_encoders, all_fixed_prompts())
    parts.text_encoders.release()
    if text_encoders_in_folder:
        base_path = Path(str(base))
        if not base_path.is_dir():
            raise ValueError("text_encoders_in_folder: the base must be a local folder to copy its text encoders")
        for name in TEXT_ENCODER_FOLDERS:
            shutil.copytree(base_path / name, out / "text_encoders" / name, dirs_exist_ok=True)
        parts.config = parts.config.replace(text_encoder_source="text_encoders")
    save_model_folder(out, parts)
    _write_licences(out, base)
    revision = folder_revision(out)
    parts.config = parts.config.replace(model_revision=revision)
    parts.config.save(out)
    _write_model_card(out, parts.config)
    if push_to_hub:
        push_folder(out, push_to_hub, private=private, token=token)
    return out


def _write_licences(out: Path, base: str | Path) -> None:
    folder = out / "LICENSES"
    folder.mkdir(exist_ok=True)
    base_path = Path(str(base))
    copied = False
    if base_path.is_dir():
        for candidate in ("LICENSE.md", "LICENSE", "LICENSE.txt"):
            if (base_path / candidate).is_file():
                shutil.copyfile(base_path / candidate, folder / "SD3-LICENSE.md")
                copied = True
                break
    if not copied:
        (folder / "SD3-LICENSE.md").write_text(
            "The transformer and VAE derive from Stable Diffusion 3 medium, released under the Stability AI "
            f"Community License: {SD3_LICENCE_URL}\n", encoding="utf-8",
        )
    (folder / "DICEPTION-LICENSE.md").write_text(DICEPTION_LICENCE_NOTE + "\n", encoding="utf-8")


def _write_model_card(out: Path, config: DiceptionConfig) -> None:
    card = f"""---
license: other
library_name: diception_core
tags: [depth-estimation, surface-normals, image-segmentation, pose-estimation, diffusion]
---
# DICEPTION (converted)

A self-contained DICEPTION model folder for `diception_core` (no text encoder needed for the fixed tasks).

- Base: `{config.base_model_id}` (revision `{config.base_revision}`)
- Checkpoint: `{config.checkpoint_id}` / `{config.checkpoint_file}` (revision `{config.checkpoint_revision}`)
- Model revision (content hash): `{config.model_revision}`
- Defaults: {config.default_steps} steps, guidance {config.default_guidance}, point order `{config.point_order}`,
  resampling `{config.resampling}`, normal frame `{config.normal_frame}`

Licences: see `LICENSES/` (Stable Diffusion 3's and DICEPTION's). Paper: arXiv 2502.17157.
"""
    (out / "README.md").write_text(card, encoding="utf-8")


def push_folder(folder: str | Path, repo_id: str, *, private: bool = True, token: str | None = None) -> str:
    """Upload a folder to a Hub model repo (created private unless told otherwise); returns the commit URL."""
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    with hub_errors_as_load_errors(repo_id):
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.upload_folder(repo_id=repo_id, folder_path=str(folder))
    return str(getattr(info, "commit_url", info))


def _looks_like_a_path(spec: str | Path) -> bool:
    """Whether ``spec`` names a local folder rather than a Hub id (``user/name``): a ``Path``, an absolute or
    relative path (``/x``, ``./x``, ``../x``, ``~/x``), a Windows path, or more than one ``/``."""
    if isinstance(spec, Path):
        return True
    text = str(spec)
    return text.startswith(("/", "./", "../", "~", ".\\", "..\\")) or "\\" in text or text.count("/") > 1 or \
        (len(text) > 1 and text[1] == ":") or text in (".", "..")


def resolve_model_folder(spec: str | Path, *, token: str | None = None, revision: str | None = None) -> Path:
    """A folder -> itself; otherwise a Hub id, downloaded (text encoders excluded). (``"tiny"`` is resolved by
    ``pipeline.model_folder``, which builds the preset with this module's ``convert``.)

    Every failure is one ``ModelLoadError`` line saying what to do: a path that does not exist (never sent to the
    Hub as an id), a file instead of a folder, an invalid Hub id, a missing, private or gated repo, no network.
    """
    path = Path(spec).expanduser()
    if path.is_dir():
        return path
    if path.exists():
        raise ModelLoadError(f"{spec} is a file, not a model folder; pass the folder `convert` wrote")
    if _looks_like_a_path(spec):
        raise ModelLoadError(f"no model folder at {spec}; pass the folder `python -m diception_core convert` wrote, "
                             "a Hub id of one (user/name), or tiny")  # fmt: skip
    from huggingface_hub import snapshot_download

    with hub_errors_as_load_errors(str(spec)):
        return Path(snapshot_download(
            str(spec), revision=revision, token=token or os.environ.get("HF_TOKEN"),
            ignore_patterns=[f"text_encoders/{name}/*" for name in TEXT_ENCODER_FOLDERS],
        ))

