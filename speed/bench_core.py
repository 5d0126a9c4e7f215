"""Inference speed of diception_core: per-call latency, peak memory and achieved TFLOP/s; prints JSON.

    python speed/bench_core.py --preset tiny              # CPU, the tiny preset (what CI machines can run)
    python speed/bench_core.py --preset full --device cuda   # GPU: SD3-medium-sized architecture, random weights
    python speed/bench_core.py --preset full --device cuda --variants plain,flash,efficient,channels_last_vae,\
        compile --eval-batch-sizes 1,4,8,16                     # the speed options against the plain path

``full`` builds the SD3-medium-sized transformer and VAE with random weights (speed does not depend on weight
values) and random prompt embeddings (no text encoder), at 768 x 768. Each configuration (1 / 28 steps x guidance
1 / 2) is timed end to end, VAE encode and decode included, for our pipeline and for a plain baseline in the same
process: the same model run the way the release runs it (the two CFG branches as two forwards, the image encoded
again for every call, no fused attention projections). FLOPs are counted analytically for the transformer
(the VAE is reported separately by timing).

``--variants``: the runtime speed options (``diception_core.runtime.RuntimeOptions``: attention kernel, compiled
transformer, channels-last VAE) on the same pipeline, each configuration timed for each variant, with its ratio to
``plain`` (the default options), its peak memory, its first-call time (``warmup_s``: compilation for ``compile``)
and the largest difference of its raw output from plain's. ``--eval-batch-sizes``: point segmentation of
``--eval-sets`` point sets on one image at ``--eval-steps`` steps, guidance 2, with each denoising batch size (the
evaluation predictor's ``batch_size``): predictions per second and peak memory.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

# bf16 dense peak of common cards (TFLOP/s, without sparsity), for "share of the card's peak".
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "A100": 312.0, "L40S": 362.0, "A10G": 125.0, "RTX 4090": 165.0}


def transformer_flops(config: dict[str, Any], resolution: int, batch: int = 1) -> float:
    """FLOPs of one DICEPTION transformer forward: per layer 24·T·D² (projections + MLP) + 4·T²·D (attention).

    T = 2N image tokens (noisy + condition) + L prompt tokens + 5 point tokens; N = (R / 8 / patch)².
    """
    d = config["num_attention_heads"] * config["attention_head_dim"]
    n = (resolution // 8 // config["patch_size"]) ** 2
    tokens = 2 * n + 333 + 5
    per_layer = 24 * tokens * d * d + 4 * tokens * tokens * d
    return float(batch * config["num_layers"] * per_layer)


def build_full_pipeline(device: torch.device, dtype: torch.dtype):
    """The SD3-medium-sized DICEPTION with random weights and a random prompt cache (no text encoders)."""
    from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler

    from diception_core.config import DiceptionConfig
    from diception_core.model import DiceptionTransformer, PointEncoder
    from diception_core.pipeline import DiceptionPipeline
    from diception_core.prompts import PromptCache
    from diception_core.tiny import SD3_VAE_CONFIG
    from diception_spec.adapter_format import SD3_MEDIUM_TRANSFORMER_CONFIG
    from diception_spec.tasks import all_fixed_prompts

    with torch.device(device):
        transformer = DiceptionTransformer(**SD3_MEDIUM_TRANSFORMER_CONFIG).to(dtype)
        vae = AutoencoderKL(**SD3_VAE_CONFIG).to(dtype)
        points = PointEncoder().to(dtype)
    cache = PromptCache("random", "random")
    gen = torch.Generator().manual_seed(0)
    for prompt in all_fixed_prompts()[:6] + [""]:
        cache.add(prompt, torch.randn(333, 4096, generator=gen), torch.randn(2048, generator=gen))
    pipe = DiceptionPipeline(
        transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0), point_encoder=points,
        prompt_cache=cache, config=DiceptionConfig(untrained=True),
    )
    return pipe.to(device, dtype), dict(SD3_MEDIUM_TRANSFORMER_CONFIG)


def build_tiny_pipeline(device: torch.device, dtype: torch.dtype):
    from diception_core.pipeline import DiceptionPipeline
    from diception_core.tiny import TINY_TRANSFORMER_CONFIG

    return DiceptionPipeline.from_pretrained("tiny", device=device, dtype=dtype), dict(TINY_TRANSFORMER_CONFIG)


@torch.no_grad()
def baseline_call(pipe, image: np.ndarray, steps: int, guidance: float) -> np.ndarray:
    """The release's way: encode the image, then CFG as two separate forwards per step."""
    cond = pipe.encode_images([image])
    embeds, pooled = pipe.prompt_embeddings("[[image2depth]]")
    un_embeds, un_pooled = pipe.prompt_embeddings("")
    points = pipe.encode_points([np.zeros((0, 2))])
    schedule = pipe.scheduler.__class__.from_config(pipe.scheduler.config)
    schedule.set_timesteps(steps, device=pipe.device)
    x = torch.randn(cond.shape, generator=torch.Generator(pipe.device).manual_seed(0), device=pipe.device,
                    dtype=pipe.dtype)
    for t in schedule.timesteps:
        ts = t.expand(1)
        v = pipe.transformer(hidden_states=x, cond_latents=cond, encoder_hidden_states=embeds,
                             pooled_projections=pooled, timestep=ts, point_embeds=points, return_dict=False)[0]
        if guidance > 1:
            vu = pipe.transformer(hidden_states=x, cond_latents=cond, encoder_hidden_states=un_embeds,
                                  pooled_projections=un_pooled, timestep=ts, point_embeds=torch.zeros_like(points),
                                  return_dict=False)[0]
            v = vu + guidance * (v - vu)
        x = schedule.step(v, t, x, return_dict=False)[0]
    return pipe.decode_latents(x).float().cpu().numpy()


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def _peak_memory_gb(device: torch.device) -> float | None:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 1e9
    try:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KiB on Linux -> GB
    except ImportError:
        return None


def time_call(fn, device: torch.device, repeats: int) -> dict[str, float]:
    fn()  # warm-up
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "min_s": min(times)}


VARIANTS = {
    "plain": {},
    "flash": {"attention": "flash"},
    "efficient": {"attention": "efficient"},
    "cudnn": {"attention": "cudnn"},
    "math": {"attention": "math"},
    "channels_last_vae": {"channels_last_vae": True},
    "compile": {"compile": True},
    "all": {"attention": "flash", "channels_last_vae": True, "compile": True},
}


def _reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def bench_variants(pipe, image: np.ndarray, device: torch.device, variants: list[str],
                   configs: list[tuple[int, float]], repeats: int) -> list[dict[str, Any]]:
    """Each variant's runtime options on the same pipeline, every configuration, with ratios to ``plain``."""
    from diception_core.runtime import RuntimeOptions

    rows: list[dict[str, Any]] = []
    plain: dict[tuple[int, float], dict[str, Any]] = {}
    for name in ["plain", *[v for v in variants if v != "plain"]]:
        try:
            pipe.set_runtime(RuntimeOptions(**VARIANTS[name]))
        except (RuntimeError, ValueError) as err:
            rows.append({"variant": name, "error": f"{type(err).__name__}: {err}"})
            continue
        for steps, guidance in configs:
            def call(s: int = steps, g: float = guidance) -> Any:
                return pipe(image, "depth", num_inference_steps=s, guidance_scale=g, seed=0, decode=False)

            row: dict[str, Any] = {"variant": name, "steps": steps, "guidance": guidance}
            try:
                _reset_peak(device)
                started = time.perf_counter()
                first = call()
                _sync(device)
                row["warmup_s"] = time.perf_counter() - started
                row.update(time_call(call, device, repeats))
                row["peak_memory_gb"] = _peak_memory_gb(device)
            except (RuntimeError, ValueError) as err:  # e.g. a kernel that cannot run these inputs
                row["error"] = f"{type(err).__name__}: {str(err)[:300]}"
                rows.append(row)
                continue
            if name == "plain":
                plain[steps, guidance] = {"median_s": row["median_s"], "raw": first[0].model_rgb.float()}
            else:
                base = plain[steps, guidance]
                row["speedup_vs_plain"] = base["median_s"] / row["median_s"]
                row["max_abs_diff_vs_plain"] = float((first[0].model_rgb.float() - base["raw"]).abs().max())
            rows.append(row)
    pipe.set_runtime(RuntimeOptions())
    return rows


def bench_eval_batch_sizes(pipe, image: np.ndarray, device: torch.device, batch_sizes: list[int], n_sets: int,
                           steps: int) -> list[dict[str, Any]]:
    """Point segmentation of ``n_sets`` point sets on one image per denoising batch size (guidance 2)."""
    size = image.shape[0]
    sets = [[[float((37 * i) % size), float((91 * i) % size)]] for i in range(n_sets)]
    rows = []
    for batch_size in batch_sizes:
        def call(b: int = batch_size) -> Any:
            return pipe(image, "point_segmentation", points=sets, num_inference_steps=steps, guidance_scale=2.0,
                        seed=0, batch_size=b)

        _reset_peak(device)
        timing = time_call(call, device, 1)
        rows.append({"batch_size": batch_size, "sets": n_sets, "steps": steps, "guidance": 2.0, **timing,
                     "predictions_per_s": n_sets / timing["median_s"], "peak_memory_gb": _peak_memory_gb(device)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=["tiny", "full"], default="tiny")
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None, choices=["float32", "bfloat16"])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--resolution", type=int, default=768, help="the release's 768 by default")
    parser.add_argument("--steps", default="1,28")
    parser.add_argument("--guidance", default="1,2")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--variants", default="", help=f"comma list of {', '.join(VARIANTS)} (plain always runs)")
    parser.add_argument("--eval-batch-sizes", default="", help="e.g. 1,4,8,16: point-segmentation batch sizes")
    parser.add_argument("--eval-sets", type=int, default=16)
    parser.add_argument("--eval-steps", type=int, default=2)
    args = parser.parse_args()
    variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        parser.error(f"--variants: unknown {unknown}; known: {', '.join(VARIANTS)}")

    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    dtype = getattr(torch, args.dtype) if args.dtype else (torch.bfloat16 if device.type == "cuda" else torch.float32)
    if args.preset == "full":
        pipe, config = build_full_pipeline(device, dtype)
    else:
        pipe, config = build_tiny_pipeline(device, dtype)
    resolution = args.resolution
    pipe.config = pipe.config.replace(resolution=resolution)
    image = (np.random.default_rng(0).random((resolution, resolution, 3)) * 255).astype(np.uint8)
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu"
    peak = next((v for k, v in PEAK_TFLOPS.items() if k in card), None) if device.type == "cuda" else None
    rows = []
    for steps in [int(s) for s in args.steps.split(",")]:
        for guidance in [float(g) for g in args.guidance.split(",")]:
            forwards = steps * (2 if guidance > 1 else 1)
            flops = transformer_flops(config, resolution) * forwards
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats()
            ours = time_call(lambda s=steps, g=guidance: pipe(image, "depth", num_inference_steps=s,
                                                              guidance_scale=g, seed=0, decode=False),
                             device, args.repeats)
            row = {"steps": steps, "guidance": guidance, "transformer_tflop": flops / 1e12,
                   "ours": {**ours, "peak_memory_gb": _peak_memory_gb(device),
                            "achieved_tflops": flops / ours["median_s"] / 1e12}}
            if peak:
                row["ours"]["share_of_peak"] = row["ours"]["achieved_tflops"] / peak
            if not args.no_baseline:
                base = time_call(lambda s=steps, g=guidance: baseline_call(pipe, image, s, g), device, args.repeats)
                row["baseline"] = {**base, "achieved_tflops": flops / base["median_s"] / 1e12}
                row["speedup"] = base["median_s"] / ours["median_s"]
            rows.append(row)
    configs = [(int(s), float(g)) for s in args.steps.split(",") for g in args.guidance.split(",")]
    extra: dict[str, Any] = {}
    if variants:
        extra["variants"] = bench_variants(pipe, image, device, variants, configs, args.repeats)
    if args.eval_batch_sizes:
        sizes = [int(b) for b in args.eval_batch_sizes.split(",") if b]
        extra["eval_batch_sizes"] = bench_eval_batch_sizes(pipe, image, device, sizes, args.eval_sets,
                                                           args.eval_steps)
    print(json.dumps({
        "preset": args.preset, "device": str(device), "card": card, "dtype": str(dtype).replace("torch.", ""),
        "resolution": resolution, "torch": torch.__version__, "card_peak_bf16_tflops": peak, "results": rows,
        **extra,
    }, indent=2))


if __name__ == "__main__":
    main()
