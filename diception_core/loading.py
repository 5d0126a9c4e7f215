"""The one module that touches files and the Hub: official checkpoints, model folders, conversion, errors.

Everything else takes objects, so tests inject tiny components.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import pickle
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from diception_spec.tasks import all_fixed_prompts

from .config import DiceptionConfig
from .prompts import PromptCache, TextEncoders

if TYPE_CHECKING:
    from .pipeline import DiceptionPipeline

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


class ModelLoadError(RuntimeError):
    """Loading failed; the message says what is missing and the exact fix."""


class GatedModelError(ModelLoadError):
    pass


class OfflineError(ModelLoadError):
    pass


class CorruptModelError(ModelLoadError):
    pass


class InsufficientMemoryError(ModelLoadError):
    pass


class CheckpointKeyError(CorruptModelError):
    """Missing or unexpected keys in a checkpoint; ``missing`` and ``unexpected`` list them."""

    def __init__(self, what: str, missing: list[str], unexpected: list[str]) -> None:
        self.missing = missing
        self.unexpected = unexpected
        parts = []
        if missing:
            parts.append(f"missing keys ({len(missing)}): {_listing(missing)}")
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {_listing(unexpected)}")
        super().__init__(f"{what}: {'; '.join(parts)}. Is this the right checkpoint for this base model?")


def _listing(keys: list[str], limit: int = 20) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


@contextmanager
def hub_errors_as_load_errors(source: str) -> Iterator[None]:
    """Turn Hub, file and memory failures into one actionable ``ModelLoadError`` each."""
    from huggingface_hub import errors as hub_errors

    try:
        yield
    except ModelLoadError:
        raise
    except hub_errors.GatedRepoError:
        raise GatedModelError(
            f"{source} is gated: accept its licence at https://huggingface.co/{source} while logged in, then make a "
            "token available: `hf auth login` (or set HF_TOKEN=hf_...)."
        ) from None
    except (hub_errors.OfflineModeIsEnabled, hub_errors.LocalEntryNotFoundError, ConnectionError) as err:
        raise OfflineError(
            f"cannot reach the Hugging Face Hub to fetch {source} and it is not in the local cache "
            f"({type(err).__name__}). Connect to the internet once, or download it elsewhere (`hf download "
            f"{source} --local-dir ./{Path(str(source)).name}`) and pass that folder."
        ) from None
    except hub_errors.RepositoryNotFoundError:
        raise ModelLoadError(
            f"{source} is neither a local folder nor a Hub repository you can access; check the id, or log in "
            "(`hf auth login`) if it is private."
        ) from None
    except hub_errors.RevisionNotFoundError:
        raise ModelLoadError(f"{source} has no such revision; check the commit, branch or tag") from None
    except hub_errors.HFValidationError:
        raise ModelLoadError(
            f"{source} is neither a local folder nor a Hub repo id (user/name); pass the folder `convert` wrote, a "
            "Hub id of one, or tiny."
        ) from None
    except (torch.OutOfMemoryError, MemoryError):
        raise InsufficientMemoryError(
            f"not enough memory to load {source}. Free memory, use --dtype bfloat16, or run on a GPU with at least "
            "8 GB (the text encoders are not needed: use a converted folder with its prompt cache)."
        ) from None
    except (pickle.UnpicklingError, json.JSONDecodeError, EOFError, OSError, RuntimeError) as err:
        raise CorruptModelError(
            f"{source} could not be read ({type(err).__name__}: {str(err)[:300]}). Is it the right file, and "
            "complete? Delete it and download it again."
        ) from None


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


def _resolve_dtype(device: torch.device, dtype: torch.dtype | str | None) -> torch.dtype:
    if isinstance(dtype, str):
        try:
            dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
        except KeyError:
            raise ValueError(f"dtype: {dtype!r} is not one of float32, bfloat16, float16") from None
    if dtype is not None:
        return dtype
    return torch.bfloat16 if device.type == "cuda" else torch.float32


def resolve_device(device: torch.device | str | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def from_official(
    base: str | Path = DEFAULT_BASE,
    checkpoint: str | Path = DEFAULT_CHECKPOINT_REPO,
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | str | None = None,
    token: str | None = None,
    base_revision: str | None = None,
    checkpoint_revision: str | None = None,
    config_overrides: Mapping[str, Any] | None = None,
) -> DiceptionPipeline:
    """SD3-medium in diffusers layout (Hub id or folder) + the release's ``DICEPTION_v1.pth`` -> a pipeline.

    The prompt cache starts empty: prompts are embedded by the base's text encoders on first use (``convert``
    precomputes them all). Missing or unexpected checkpoint keys raise ``CheckpointKeyError`` listing them.
    """
    from accelerate import init_empty_weights
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler

    from .model import DiceptionTransformer, PointEncoder
    from .pipeline import DiceptionPipeline

    token = token or os.environ.get("HF_TOKEN")
    device = resolve_device(device)
    dtype = _resolve_dtype(device, dtype)
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
    with hub_errors_as_load_errors(base):
        return DiceptionPipeline(
            transformer=transformer, vae=vae, scheduler=scheduler, point_encoder=points,
            prompt_cache=PromptCache(base, config.base_revision), config=config, text_encoders=text_encoders,
        ).to(device, dtype)


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
    """Write a self-contained model folder that ``DiceptionPipeline.from_pretrained`` loads without text encoders.

    Layout: ``diception_config.json``, ``transformer/``, ``vae/``, ``point_encoder/`` (safetensors),
    ``scheduler/``, ``prompt_cache/prompt_embeds.safetensors`` (every fixed prompt: the task prompts, the 80
    ``[[image2semantic]] <category>`` prompts and ""), ``LICENSES/`` (SD3's and DICEPTION's) and a model card.
    With ``text_encoders_in_folder`` the base's text encoders are copied too (small models only).
    ``push_to_hub`` uploads the folder to that repo, private by default (SD3's weights are gated).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(device)
    pipe = from_official(
        base, checkpoint, device=device, dtype=torch.float32 if device.type == "cpu" else torch.bfloat16, token=token,
        base_revision=base_revision, checkpoint_revision=checkpoint_revision, config_overrides=config_overrides,
    )
    pipe.precompute_prompts(all_fixed_prompts())
    pipe.text_encoders.release()
    if text_encoders_in_folder:
        base_path = Path(str(base))
        if not base_path.is_dir():
            raise ValueError("text_encoders_in_folder: the base must be a local folder to copy its text encoders")
        for name in TEXT_ENCODER_FOLDERS:
            shutil.copytree(base_path / name, out / "text_encoders" / name, dirs_exist_ok=True)
        pipe.config = pipe.config.replace(text_encoder_source="text_encoders")
    pipe.save_pretrained(out)
    _write_licences(out, base)
    revision = folder_revision(out)
    pipe.config = pipe.config.replace(model_revision=revision)
    pipe.config.save(out)
    _write_model_card(out, pipe.config)
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
    """``tiny`` -> the tiny preset's folder; a folder -> itself; otherwise a Hub id, downloaded (text encoders
    excluded).

    Every failure is one ``ModelLoadError`` line saying what to do: a path that does not exist (never sent to the
    Hub as an id), a file instead of a folder, an invalid Hub id, a missing, private or gated repo, no network.
    """
    from .tiny import tiny_model_folder

    if str(spec) == "tiny":
        return tiny_model_folder()
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


def load_pipeline(
    spec: str | Path = "tiny",
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | str | None = None,
    token: str | None = None,
    revision: str | None = None,
) -> DiceptionPipeline:
    """Load a pipeline from ``tiny``, a converted folder, or a Hub id of a converted folder."""
    from .pipeline import DiceptionPipeline

    folder = resolve_model_folder(spec, token=token, revision=revision)
    return DiceptionPipeline.from_pretrained(folder, device=device, dtype=dtype, token=token)
