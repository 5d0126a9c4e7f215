"""Fine-tuning speed of diception_core.finetune: optimiser steps per second and peak memory; prints JSON.

    python speed/bench_finetune.py --preset tiny          # CPU: the tiny preset, the real Finetuner end to end
    python speed/bench_finetune.py --preset full          # GPU: SD3-medium-sized transformer, random weights

``tiny`` runs ``Finetuner.train_step`` (batch drawing, point tokens, flow-matching loss, backward, AdamW) on a
synthetic ``make-example`` folder at the tiny preset's 64 x 64, with the CLI's defaults (rank 128 on to_q/to_k/to_v,
batch 8). Peak memory is the process's peak RSS.

``full`` is the paper's fine-tuning setting on the full-size architecture: ``SD3_MEDIUM_TRANSFORMER_CONFIG`` with
random bf16 weights (speed does not depend on weight values), LoRA rank 128 on to_q/to_k/to_v (fp32), batch 8,
gradient checkpointing, accelerate ``mixed_precision="bf16"``, 768 x 768 (96 x 96 latents), random image/target
latents, prompt embeddings [B, 333, 4096] / [B, 2048] and point tokens; no VAE or text encoder. Peak memory is
``torch.cuda.max_memory_allocated``.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux reports KiB


def bench_tiny(steps: int, warmup: int, batch: int, rank: int, gradient_checkpointing: bool) -> dict[str, Any]:
    from diception_core.finetune.data import make_example
    from diception_core.finetune.train import Finetuner, FinetuneSettings
    from diception_spec.adapter_format import DEFAULT_TARGETS

    with tempfile.TemporaryDirectory() as work:
        data = make_example(Path(work) / "data", encoding="mask", n=max(8, batch), size=64, seed=0)
        settings = FinetuneSettings(
            data=str(data), name="bench", task="point_segmentation", model="tiny", output=str(Path(work) / "run"),
            rank=rank, batch=batch, val_split=0.0, val_every=0, checkpoint_every=0,
            gradient_checkpointing=gradient_checkpointing,
        )
        trainer = Finetuner(settings)
        for _ in range(warmup):
            trainer.train_step()
        start = time.perf_counter()
        for _ in range(steps):
            trainer.train_step()
        elapsed = time.perf_counter() - start
        lora = trainer.num_lora_parameters
    return {
        "preset": "tiny", "device": "cpu", "threads": torch.get_num_threads(), "resolution": 64, "batch": batch,
        "rank": rank, "targets": list(DEFAULT_TARGETS), "gradient_checkpointing": gradient_checkpointing,
        "lora_parameters": lora, "steps_timed": steps, "seconds_per_step": elapsed / steps,
        "steps_per_second": steps / elapsed, "samples_per_second": steps * batch / elapsed,
        "peak_rss_mib": round(_peak_rss_mib(), 1),
    }


class _RandomPromptModel(nn.Module):
    """The transformer with per-sample random prompt embeddings, called as ``flow_matching_loss`` expects."""

    def __init__(self, transformer: nn.Module, embeds: torch.Tensor, pooled: torch.Tensor):
        super().__init__()
        self.transformer = transformer
        self.register_buffer("embeds", embeds, persistent=False)  # [B, 333, 4096]
        self.register_buffer("pooled", pooled, persistent=False)  # [B, 2048]

    def forward(self, noisy: torch.Tensor, cond: torch.Tensor, point_tokens: torch.Tensor,
                timesteps: torch.Tensor) -> torch.Tensor:
        dtype = noisy.dtype
        return self.transformer(
            hidden_states=noisy, cond_latents=cond, encoder_hidden_states=self.embeds.to(dtype),
            pooled_projections=self.pooled.to(dtype), timestep=timesteps, point_embeds=point_tokens.to(dtype),
            return_dict=False,
        )[0]


def bench_full(
    steps: int, warmup: int, batch: int, rank: int, gradient_checkpointing: bool, smoke: bool = False
) -> dict[str, Any]:
    """The full-size fine-tuning step; ``smoke`` runs the same code on the tiny config at 64 px (any device)."""
    from accelerate import Accelerator
    from diffusers import FlowMatchEulerDiscreteScheduler

    from diception_core.finetune.train import TimestepSampler, add_lora, flow_matching_loss
    from diception_core.model import DiceptionTransformer
    from diception_core.tiny import TINY_TRANSFORMER_CONFIG
    from diception_spec.adapter_format import DEFAULT_TARGETS, SD3_MEDIUM_TRANSFORMER_CONFIG

    accelerator = Accelerator(mixed_precision="bf16")
    device, dtype = accelerator.device, torch.bfloat16
    cuda = device.type == "cuda"
    if not cuda and not smoke:
        raise SystemExit("--preset full needs a CUDA GPU (use --smoke to check the code path on the tiny config)")
    config = TINY_TRANSFORMER_CONFIG if smoke else SD3_MEDIUM_TRANSFORMER_CONFIG
    resolution = 64 if smoke else 768
    with torch.device(device):
        transformer = DiceptionTransformer(**config).to(dtype)
    lora = add_lora(transformer, rank=rank, targets=DEFAULT_TARGETS, adapter_name="bench", seed=0)
    if gradient_checkpointing:
        transformer.enable_gradient_checkpointing()
    transformer.train()
    g = torch.Generator().manual_seed(0)
    inner = config["num_attention_heads"] * config["attention_head_dim"]
    latent = resolution // 8
    embeds = torch.randn(batch, 333, config["joint_attention_dim"], generator=g)  # [B, 333, 4096]
    pooled = torch.randn(batch, config["pooled_projection_dim"], generator=g)  # [B, 2048]
    model = _RandomPromptModel(transformer, embeds.to(device, dtype), pooled.to(device, dtype))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=2e-5, weight_decay=1e-4)
    model, optimizer = accelerator.prepare(model, optimizer)
    sampler = TimestepSampler(FlowMatchEulerDiscreteScheduler(shift=3.0).config)
    target = torch.randn(batch, 16, latent, latent, generator=g).to(device)  # [B, 16, 96, 96]
    cond = torch.randn(batch, 16, latent, latent, generator=g).to(device)
    points = torch.randn(batch, 5, inner, generator=g).to(device, dtype)  # [B, 5, 1536]

    def step() -> float:
        sigmas, timesteps = sampler(batch, g)
        noise = torch.randn(target.shape, generator=g).to(device)
        loss = flow_matching_loss(model, target, cond, points, noise, sigmas.to(device), timesteps.to(device), dtype)
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return float(loss)

    for _ in range(warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    return {
        "preset": "full (smoke: tiny config)" if smoke else "full", "resolution": resolution, "latents": latent,
        "device": torch.cuda.get_device_name(device) if cuda else "cpu",
        "batch": batch, "rank": rank, "targets": list(DEFAULT_TARGETS), "dtype": "bf16 weights, fp32 LoRA",
        "gradient_checkpointing": gradient_checkpointing, "lora_parameters": lora,
        "transformer_parameters": sum(p.numel() for p in transformer.parameters()) - lora,
        "steps_timed": steps, "seconds_per_step": elapsed / steps, "steps_per_second": steps / elapsed,
        "samples_per_second": steps * batch / elapsed, "samples_per_hour": round(3600 * steps * batch / elapsed),
        "peak_memory_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if cuda else None,
        "peak_rss_mib": round(_peak_rss_mib(), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=("tiny", "full"), default="tiny")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 20 tiny / 5 full)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--rank", type=int, default=128)
    parser.add_argument("--smoke", action="store_true", help="full preset's code on the tiny config (CPU is fine)")
    parser.add_argument("--no-gradient-checkpointing", action="store_true",
                        help="full preset: disable it (on by default there; off for tiny)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    if args.preset == "tiny":
        result = bench_tiny(args.steps or 20, args.warmup, args.batch, args.rank, gradient_checkpointing=False)
    else:
        result = bench_full(args.steps or 5, args.warmup, args.batch, args.rank,
                            gradient_checkpointing=not args.no_gradient_checkpointing, smoke=args.smoke)
    result.update({"torch": torch.__version__, "python": platform.python_version()})
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
