"""The ``tiny`` preset: every component small and random, built offline and deterministically.

It is made exactly as a user makes the real model: a base folder in SD3's diffusers layout (transformer config,
VAE, scheduler, the three text encoders and tokenizers) plus a checkpoint in the release's ``DICEPTION_v1.pth``
format, then ``from_official`` -> ``save_pretrained`` -> ``from_pretrained``. There is no separate fake path.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import string
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

logger = logging.getLogger(__name__)

TINY_VERSION = 4
TINY_RESOLUTION = 64
TINY_SEED = 0

TINY_TRANSFORMER_CONFIG: dict[str, Any] = {
    "sample_size": TINY_RESOLUTION // 8,
    "patch_size": 2,
    "in_channels": 16,
    "num_layers": 2,
    "attention_head_dim": 8,
    # Inner dim 64 = patch_size**2 * out_channels, the per-token output size: a narrower transformer could not
    # reach every velocity through its output head (SD3-medium: 1536 >> 64), so it could not even learn to denoise.
    "num_attention_heads": 8,
    "joint_attention_dim": 32,  # = the tiny T5's d_model
    "caption_projection_dim": 64,  # = inner dim, as in SD3-medium
    "pooled_projection_dim": 32,  # = the two tiny CLIP projections, 16 + 16
    "out_channels": 16,
    "pos_embed_max_size": 48,  # covers 768 px (96 latents / patch 2)
}
TINY_POINT_FREQUENCIES = 16
TINY_INNER_DIM = TINY_TRANSFORMER_CONFIG["num_attention_heads"] * TINY_TRANSFORMER_CONFIG["attention_head_dim"]

SD3_VAE_CONFIG: dict[str, Any] = {
    "in_channels": 3,
    "out_channels": 3,
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
    "block_out_channels": [128, 256, 512, 512],
    "layers_per_block": 2,
    "latent_channels": 16,
    "norm_num_groups": 32,
    "sample_size": 1024,
    "scaling_factor": 1.5305,
    "shift_factor": 0.0609,
    "use_quant_conv": False,
    "use_post_quant_conv": False,
}


def tiny_vae_config() -> dict[str, Any]:
    return {
        **SD3_VAE_CONFIG,
        "block_out_channels": [8, 8, 16, 16],  # 4 levels: the same 8x downsampling as SD3's VAE
        "layers_per_block": 1,
        "norm_num_groups": 4,
        "sample_size": TINY_RESOLUTION,
    }


@contextmanager
def _seeded(seed: int) -> Iterator[None]:
    """Deterministic parameter init without touching the caller's global RNG state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _clip_byte_chars() -> list[str]:
    # GPT-2 / CLIP byte-level alphabet: printable bytes map to themselves, the rest to code points from 256 up.
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), 256))
    chars, extra = [], 0
    for byte in range(256):
        if byte in keep:
            chars.append(chr(byte))
        else:
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def _tiny_clip_tokenizer() -> Any:
    from transformers import CLIPTokenizer

    vocab: dict[str, int] = {}
    for suffix in ("", "</w>"):
        for char in _clip_byte_chars():
            vocab[char + suffix] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(
        vocab=vocab, merges=[], unk_token="<|endoftext|>", bos_token="<|startoftext|>", eos_token="<|endoftext|>",
        pad_token="<|endoftext|>", model_max_length=77,
    )


def _tiny_t5_tokenizer() -> Any:
    from transformers import T5Tokenizer

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("\u2581", -2.0)]
    pieces += [(c, -3.0) for c in string.printable if not c.isspace()]
    pieces += [("\u2581" + c, -3.5) for c in string.ascii_lowercase]
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=256)


def build_tiny_official(folder: str | Path, *, seed: int = TINY_SEED) -> tuple[Path, Path]:
    """Write a tiny SD3 base folder (diffusers layout) and a tiny ``DICEPTION_v1.pth`` (release format).

    Returns (base_folder, checkpoint_path). Deterministic for a given seed.
    """
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection, T5Config, T5EncoderModel

    from .model import DiceptionTransformer, PointEncoder

    folder = Path(folder)
    base = folder / "sd3-tiny"
    base.mkdir(parents=True, exist_ok=True)
    with _seeded(seed):
        transformer = DiceptionTransformer(**TINY_TRANSFORMER_CONFIG)
        vae = AutoencoderKL(**tiny_vae_config())
        points = PointEncoder(num_frequencies=TINY_POINT_FREQUENCIES, hidden_size=TINY_INNER_DIM, gaussian_scale=4.0)
        with torch.no_grad():
            # Louder point tokens, so that the effect of a click is visible in a random tiny model's output.
            points.point_embedder[2].weight.mul_(30.0)
        clip_tokenizer = _tiny_clip_tokenizer()
        clip_common = {
            "vocab_size": len(clip_tokenizer), "intermediate_size": 32, "num_hidden_layers": 2,
            "num_attention_heads": 2, "max_position_embeddings": 77, "projection_dim": 16,
            "bos_token_id": clip_tokenizer.bos_token_id, "eos_token_id": clip_tokenizer.eos_token_id,
            "pad_token_id": clip_tokenizer.pad_token_id,
        }
        clip_l = CLIPTextModelWithProjection(CLIPTextConfig(hidden_size=8, **clip_common))
        clip_g = CLIPTextModelWithProjection(CLIPTextConfig(hidden_size=16, **clip_common))
        t5_tokenizer = _tiny_t5_tokenizer()
        t5 = T5EncoderModel(
            T5Config(vocab_size=len(t5_tokenizer), d_model=32, d_kv=8, d_ff=37, num_layers=1, num_heads=4,
                     decoder_start_token_id=0, pad_token_id=0, eos_token_id=1)
        )
    # The base transformer folder holds only its config here: the checkpoint carries every transformer weight.
    transformer.save_pretrained(base / "transformer")
    vae.save_pretrained(base / "vae")
    FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0).save_pretrained(base / "scheduler")
    clip_l.save_pretrained(base / "text_encoder")
    clip_g.save_pretrained(base / "text_encoder_2")
    t5.save_pretrained(base / "text_encoder_3")
    clip_tokenizer.save_pretrained(base / "tokenizer")
    clip_tokenizer.save_pretrained(base / "tokenizer_2")
    t5_tokenizer.save_pretrained(base / "tokenizer_3")
    (base / "LICENSE.md").write_text("Tiny random test weights; no licence restrictions.\n", encoding="utf-8")

    checkpoint = {"transformer": transformer.state_dict(), **points.official_state()}
    checkpoint_path = folder / "DICEPTION_v1.pth"
    torch.save(checkpoint, checkpoint_path)
    return base, checkpoint_path


def default_cache_dir() -> Path:
    root = os.environ.get("DICEPTION_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "diception")
    return Path(root)


def tiny_model_folder(cache_dir: str | Path | None = None) -> Path:
    """The tiny preset's model folder, built once per cache directory (safe against concurrent builders)."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = root / f"tiny-v{TINY_VERSION}"
    if (target / "diception_config.json").is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".tiny-v{TINY_VERSION}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "diception_config.json").is_file():
            return target
        logger.info("building the tiny random DICEPTION preset in %s", target)
        with tempfile.TemporaryDirectory(dir=root) as work:
            folder = build_tiny_model(Path(work) / "model", official_dir=Path(work) / "official")
            if target.exists():
                shutil.rmtree(target)
            folder.rename(target)
    return target


def build_tiny_model(folder: str | Path, *, official_dir: str | Path, seed: int = TINY_SEED) -> Path:
    """Build the tiny official pair in ``official_dir`` and convert it into a model folder at ``folder``."""
    from .loading import convert

    base, checkpoint = build_tiny_official(official_dir, seed=seed)
    return convert(
        base=str(base), checkpoint=str(checkpoint), out=folder, text_encoders_in_folder=True,
        config_overrides={"resolution": TINY_RESOLUTION, "untrained": True, "base_model_id": "tiny-sd3",
                          "checkpoint_id": "tiny-diception"},
    )
