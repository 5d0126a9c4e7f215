"""SD3 prompt embeddings: a safetensors cache of the fixed prompts, and lazily loaded text encoders for the rest.

Serving the fixed tasks reads the cache only; the three text encoders (T5-XXL alone is ~4.7B parameters) are
constructed the first time a prompt is missing (a custom category, a new task), once, and the cache is extended.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

logger = logging.getLogger(__name__)

CACHE_DIR = "prompt_cache"
CACHE_FILE = "prompt_embeds.safetensors"
T5_MAX_SEQUENCE_LENGTH = 256  # SD3's default: 77 CLIP tokens + 256 T5 tokens = 333


class PromptCache:
    """Prompt text -> (prompt_embeds [L, D], pooled_prompt_embeds [P]); saved as one safetensors file.

    The file holds two stacked tensors, ``prompt_embeds`` [N, L, D] and ``pooled_prompt_embeds`` [N, P], with the
    prompts (JSON list, same order) and the base model's id and revision in its metadata.
    """

    def __init__(self, base_model_id: str = "", base_revision: str = "") -> None:
        self.base_model_id = base_model_id
        self.base_revision = base_revision
        self._embeds: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def __contains__(self, prompt: str) -> bool:
        return prompt in self._embeds

    def __len__(self) -> int:
        return len(self._embeds)

    @property
    def prompts(self) -> list[str]:
        return list(self._embeds)

    def get(self, prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
        return self._embeds[prompt]

    def add(self, prompt: str, prompt_embeds: torch.Tensor, pooled: torch.Tensor) -> None:
        if prompt_embeds.ndim != 2 or pooled.ndim != 1:
            raise ValueError(
                f"prompt_embeds must be [L, D] and pooled [P]; got {tuple(prompt_embeds.shape)}, {tuple(pooled.shape)}"
            )
        if self._embeds:
            ref_embeds, ref_pooled = next(iter(self._embeds.values()))
            if ref_embeds.shape != prompt_embeds.shape or ref_pooled.shape != pooled.shape:
                raise ValueError(
                    f"prompt {prompt!r}: embedding shapes {tuple(prompt_embeds.shape)} / {tuple(pooled.shape)} differ "
                    f"from the cache's {tuple(ref_embeds.shape)} / {tuple(ref_pooled.shape)}"
                )
        self._embeds[prompt] = (prompt_embeds.detach().cpu().contiguous(), pooled.detach().cpu().contiguous())

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / CACHE_DIR / CACHE_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        prompts = self.prompts
        if not prompts:
            raise ValueError("the prompt cache is empty; nothing to save")
        tensors = {
            "prompt_embeds": torch.stack([self._embeds[p][0] for p in prompts]),  # [N, L, D]
            "pooled_prompt_embeds": torch.stack([self._embeds[p][1] for p in prompts]),  # [N, P]
        }
        metadata = {
            "prompts": json.dumps(prompts),
            "base_model_id": self.base_model_id,
            "base_revision": self.base_revision,
        }
        tmp = path.with_suffix(".tmp")
        save_file(tensors, str(tmp), metadata=metadata)
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, folder: str | Path) -> PromptCache:
        path = Path(folder) / CACHE_DIR / CACHE_FILE
        if not path.is_file():
            return cls()
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
        tensors = load_file(str(path))
        prompts = json.loads(metadata.get("prompts", "[]"))
        embeds, pooled = tensors["prompt_embeds"], tensors["pooled_prompt_embeds"]
        if len(prompts) != embeds.shape[0] or len(prompts) != pooled.shape[0]:
            raise ValueError(f"{path}: {len(prompts)} prompts but {embeds.shape[0]} embeddings; the file is corrupt")
        cache = cls(metadata.get("base_model_id", ""), metadata.get("base_revision", ""))
        for index, prompt in enumerate(prompts):
            cache._embeds[prompt] = (embeds[index], pooled[index])
        return cache


class TextEncoders:
    """SD3's three text encoders and tokenizers, loaded on first use from a diffusers-layout source (id or folder).

    ``encode(prompts)`` returns (prompt_embeds [N, 77 + 256, D], pooled [N, P]) exactly as SD3's
    ``encode_prompt`` computes them (diffusers' own implementation is used).
    """

    def __init__(
        self,
        source: str | Path | None,
        *,
        revision: str | None = None,
        token: str | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
        loader: Callable[[], Any] | None = None,
    ) -> None:
        self.source = None if source is None else str(source)
        self.revision = revision
        self.token = token
        self.dtype = dtype
        self.device = torch.device(device)
        self._loader = loader
        self._pipe: Any = None
        self._lock = threading.Lock()
        self.load_count = 0  # how many times the encoders were constructed (tests check it stays 0 or 1)

    @property
    def loaded(self) -> bool:
        return self._pipe is not None

    def _load(self) -> Any:
        with self._lock:
            if self._pipe is None:
                if self._loader is not None:
                    self._pipe = self._loader()
                else:
                    self._pipe = self._load_from_source()
                self.load_count += 1
        return self._pipe

    def _load_from_source(self) -> Any:
        if self.source is None:
            raise RuntimeError(
                "this prompt is not in the model's prompt cache and the model folder names no text-encoder source; "
                "set `text_encoder_source` in diception_config.json to the SD3 base (e.g. "
                "stabilityai/stable-diffusion-3-medium-diffusers)"
            )
        from diffusers import StableDiffusion3Pipeline
        from transformers import CLIPTextModelWithProjection, CLIPTokenizer, T5EncoderModel, T5TokenizerFast

        from .hub import hub_errors_as_load_errors

        logger.info("loading SD3 text encoders from %s (a prompt was not cached)", self.source)
        common = {"revision": self.revision, "token": self.token}
        with hub_errors_as_load_errors(self.source):
            parts = {
                "text_encoder": CLIPTextModelWithProjection.from_pretrained(
                    self.source, subfolder="text_encoder", torch_dtype=self.dtype, **common
                ),
                "text_encoder_2": CLIPTextModelWithProjection.from_pretrained(
                    self.source, subfolder="text_encoder_2", torch_dtype=self.dtype, **common
                ),
                "text_encoder_3": T5EncoderModel.from_pretrained(
                    self.source, subfolder="text_encoder_3", torch_dtype=self.dtype, **common
                ),
                "tokenizer": CLIPTokenizer.from_pretrained(self.source, subfolder="tokenizer", **common),
                "tokenizer_2": CLIPTokenizer.from_pretrained(self.source, subfolder="tokenizer_2", **common),
                "tokenizer_3": _load_t5_tokenizer(self.source, common, T5TokenizerFast),
            }
        pipe = StableDiffusion3Pipeline(transformer=None, scheduler=None, vae=None, **parts)
        return pipe.to(self.device)

    @torch.no_grad()
    def encode(self, prompts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        pipe = self._load()
        prompts = list(prompts)
        embeds, _, pooled, _ = pipe.encode_prompt(
            prompt=prompts, prompt_2=None, prompt_3=None, device=self.device, do_classifier_free_guidance=False,
            max_sequence_length=T5_MAX_SEQUENCE_LENGTH,
        )
        return embeds, pooled  # [N, L, D], [N, P]

    def release(self) -> None:
        """Drop the encoders (frees their memory); a later missing prompt loads them again."""
        with self._lock:
            self._pipe = None


def embed_missing_prompts(
    cache: PromptCache, encoders: TextEncoders | None, prompts: Sequence[str], batch_size: int = 1
) -> None:
    """Embed and add to ``cache`` every prompt in ``prompts`` it does not hold yet (the encoders load once).

    One prompt per encoder call by default, so a prompt's embedding never depends on which prompts shared its batch
    (batched matmuls round differently): a cached embedding equals one computed on demand, bit for bit. Raises
    ``RuntimeError`` naming the prompts when some are missing and there are no encoders.
    """
    missing = [p for p in dict.fromkeys(prompts) if p not in cache]
    if not missing:
        return
    if encoders is None:
        raise RuntimeError(f"prompts {missing[:3]} are not cached and this pipeline has no text encoders")
    for start in range(0, len(missing), batch_size):
        chunk = missing[start : start + batch_size]
        embeds, pooled = encoders.encode(chunk)  # [n, L, D], [n, P]
        for index, prompt in enumerate(chunk):
            cache.add(prompt, embeds[index], pooled[index])


def _load_t5_tokenizer(source: str, common: dict[str, Any], fast_cls: type) -> Any:
    try:
        return fast_cls.from_pretrained(source, subfolder="tokenizer_3", **common)
    except (OSError, ValueError):
        from transformers import T5Tokenizer

        return T5Tokenizer.from_pretrained(source, subfolder="tokenizer_3", **common)
