"""Speed of the evaluation path; prints one JSON object.

1. ``masks``: masks scored per second on the SA-1B fixture (``../shared/fixtures/sa1b``: ``sa_*.jpg`` + COCO-RLE
   ``.json``) with the tiny DICEPTION model under ``sam-center-click-positive-only`` (``--clicks`` clicks, default 1):
   all masks of an image in one pipeline call (one VAE encoding, one batched denoising loop) vs one mask per call.
   Scoring includes decoding the RLE, the click simulation and the IoU at the original resolution.
2. ``depth``: NYUv2-sized (480 x 640) depth maps scored per second under ``genpercept-affine`` (disparity alignment,
   Eigen crop, range [1e-3, 10]) including reading the uint16 PNGs (``sync_depth_*.png`` / 1000 from
   ``../shared/fixtures/nyuv2``, perturbed copies written to a temporary folder to reach ``--depth-maps``), one map
   at a time (streaming), with the peak RSS and the RSS growth after the first maps (bounded memory).
3. ``gpu_hours``: the projected GPU hours per tier and protocol for the full-size model from per-call figures:
   ``--seconds-per-call LOW HIGH`` (default 0.6 1.3: PROTOCOLS.md's cost section, one H100, 28 steps, guidance 2).
   These are estimates from those inputs, not measured here.

    python -m benchmarks.bench_evaluation [--images 2] [--masks-per-image 24] [--repeats 2] [--clicks 1]
        [--depth-maps 200] [--threads 1] [--skip masks|depth|gpu_hours]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures"


def _rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _current_rss_mb() -> float:
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


# --------------------------------------------------------------------------------------------------------------------
# 1. masks per second
# --------------------------------------------------------------------------------------------------------------------


def bench_masks(n_images: int, masks_per_image: int, clicks: int, steps: int, repeats: int) -> dict[str, Any]:
    folder = FIXTURES / "sa1b"
    files = sorted(folder.glob("sa_*.json"))[:n_images]
    if not files:
        return {"skipped": f"no SA-1B fixture at {folder}"}
    from PIL import Image

    from diception_core.pipeline import DiceptionPipeline
    from evaluation.data.converters import decode_rle
    from evaluation.predictors import DiceptionPredictor
    from evaluation.runner import _Sample, _score_masks

    pipe = DiceptionPipeline.from_pretrained("tiny", device="cpu")
    predictor = DiceptionPredictor(pipe, steps=steps, guidance=1.0)
    predictor.max_points = clicks  # the click protocol simulates this many clicks
    samples = []
    for path in files:
        data = json.loads(path.read_text())
        with Image.open(folder / data["image"]["file_name"]) as img:
            image = np.array(img.convert("RGB"))
        masks = {str(a["id"]): decode_rle(a["segmentation"]) for a in data["annotations"]}
        kept = [k for k, m in masks.items() if m.any()][:masks_per_image]
        samples.append(_Sample(path.stem, image, masks={k: masks[k] for k in kept}))
    n_masks = sum(len(s.masks) for s in samples)
    protocol = "sam-center-click-positive-only"
    _score_masks(predictor, samples[0], list(samples[0].masks)[:2], protocol, "sa1b")  # warm-up

    # The machine is shared: the modes alternate, per image, and the best of `repeats` totals counts.
    times = {"batched": [0.0] * repeats, "single": [0.0] * repeats}
    batched: dict[str, Any] = {}
    single: dict[str, Any] = {}
    for r in range(repeats):
        for s in samples:
            start = time.perf_counter()
            batched.update(_score_masks(predictor, s, list(s.masks), protocol, "sa1b"))
            times["batched"][r] += time.perf_counter() - start
            start = time.perf_counter()
            for mask_id in s.masks:
                single.update(_score_masks(predictor, s, [mask_id], protocol, "sa1b"))
            times["single"][r] += time.perf_counter() - start
    t_batched, t_single = min(times["batched"]), min(times["single"])
    diff = max(abs(a - b) for m in batched for a, b in zip(batched[m]["ious"], single[m]["ious"], strict=True))
    return {
        "images": len(samples), "masks": n_masks, "clicks": clicks, "steps": steps, "repeats": repeats,
        "image_sizes": sorted({f"{s.image.shape[1]}x{s.image.shape[0]}" for s in samples}),
        "sets_per_call": predictor.sets_per_call,
        "batched_masks_per_s": round(n_masks / t_batched, 2), "single_masks_per_s": round(n_masks / t_single, 2),
        "speedup": round(t_single / t_batched, 2), "max_iou_difference_batched_vs_single": diff,
        "note": "with the tiny model the pipeline's full-resolution post-processing (resizing each prediction's RGB "
                "output to the input size, decoding) and the click simulation dominate; batching saves model time",
    }


# --------------------------------------------------------------------------------------------------------------------
# 2. depth metrics per second, streaming
# --------------------------------------------------------------------------------------------------------------------


def _write_depth_pngs(target: Path, n: int) -> list[Path]:
    from PIL import Image

    sources = sorted((FIXTURES / "nyuv2").glob("sync_depth_*.png"))
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        if sources:
            with Image.open(sources[i % len(sources)]) as img:
                raw = np.asarray(img).astype(np.float64)
        else:  # no fixture: a slanted plane in millimetres
            raw = np.add.outer(np.linspace(1500, 4000, 480), np.linspace(0, 800, 640))
        raw = raw * rng.uniform(0.9, 1.1)  # a different map each time
        path = target / f"sync_depth_{i:05d}.png"
        Image.fromarray(np.clip(raw, 0, 65535).astype(np.uint16)).save(path)
        paths.append(path)
    return paths


def bench_depth(n_maps: int) -> dict[str, Any]:
    import torch
    from PIL import Image

    from evaluation.benchmarks import depth_valid_mask, get_benchmark
    from evaluation.metrics import depth_metrics

    rules = get_benchmark("depth", "nyuv2").depth
    with tempfile.TemporaryDirectory() as tmp:
        paths = _write_depth_pngs(Path(tmp), n_maps)
        rng = np.random.default_rng(1)
        totals: dict[str, float] = {}
        rss_after_first = None
        start = time.perf_counter()
        for i, path in enumerate(paths):
            with Image.open(path) as img:
                gt = np.asarray(img).astype(np.float32) / 1000.0  # [480, 640] metres
            valid = depth_valid_mask(rules, gt)
            disparity = np.where(gt > 0, 1.0 / np.maximum(gt, 1e-3), 0.0).astype(np.float32)
            pred = 2.0 * disparity + 0.1 + rng.normal(0, 0.01, gt.shape).astype(np.float32)  # a noisy prediction
            values = depth_metrics(torch.from_numpy(pred), torch.from_numpy(gt), torch.from_numpy(valid),
                                   space="disparity", min_depth=rules.min_depth, max_depth=rules.max_depth)
            for key, value in values.items():
                totals[key] = totals.get(key, 0.0) + value
            if i == 9:
                rss_after_first = _current_rss_mb()
        elapsed = time.perf_counter() - start
        rss_end = _current_rss_mb()
    return {
        "maps": n_maps, "shape": [480, 640], "maps_per_s": round(n_maps / elapsed, 2),
        "fixture_pngs": len(sorted((FIXTURES / "nyuv2").glob("sync_depth_*.png"))),
        "mean_absrel": round(totals["absrel"] / n_maps, 5),
        "rss_mb_after_10_maps": None if rss_after_first is None else round(rss_after_first, 1),
        "rss_mb_at_end": round(rss_end, 1), "peak_rss_mb": round(_rss_mb(), 1),
    }


# --------------------------------------------------------------------------------------------------------------------
# 3. projected GPU hours
# --------------------------------------------------------------------------------------------------------------------


def project_gpu_hours(seconds_low: float, seconds_high: float) -> dict[str, Any]:
    """Predictions per tier and protocol x seconds per prediction; estimates, not measurements."""
    from diception_spec.benchmarks import TIERS
    from evaluation.benchmarks import list_benchmarks

    sa23 = next(s for s in list_benchmarks("point_segmentation") if s.id == "sa23")
    members = [s for s in list_benchmarks("point_segmentation") if s.id in sa23.members]
    depth = [s for s in list_benchmarks("depth", ranked_only=True) if "genpercept-affine" in s.protocols]
    normals = [s for s in list_benchmarks("normal", ranked_only=True)]

    def items(specs: list, tier: str) -> int:
        total = 0
        for spec in specs:
            size, full = spec.tier_size(tier), spec.num_samples or 0
            total += full if size is None else min(size, full)
        return total

    # Predictions per item: the positive-only click protocol makes one prediction per click (up to 5); a mask
    # whose IoU is perfect earlier stops, so these are upper bounds. Depth / normals: one per image.
    per_item = {
        ("point_segmentation", "sam-center-click-positive-only (5 clicks)"): (members, 5),
        ("point_segmentation", "sam-center-click-positive-only (1 click)"): (members, 1),
        ("point_segmentation", "random-points (5 points, 1 prediction)"): (members, 1),
        ("depth", "genpercept-affine (5 datasets)"): (depth, 1),
        ("normal", "stablenormal / dsine / marigold-normals"): (normals, 1),
    }
    rows = []
    for (task, protocol), (specs, predictions) in per_item.items():
        for tier in TIERS:
            n = items(specs, tier)
            calls = n * predictions
            rows.append({
                "task": task, "protocol": protocol, "tier": tier, "items": n, "predictions": calls,
                "gpu_hours_low": round(calls * seconds_low / 3600, 2),
                "gpu_hours_high": round(calls * seconds_high / 3600, 2),
            })
    return {
        "estimate": True,
        "basis": f"{seconds_low}-{seconds_high} s per prediction (full-size model, 28 steps, guidance 2, one H100; "
                 "PROTOCOLS.md's cost section), not measured here; batching the point sets of one image can lower it",
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2, help="SA-1B fixture images to use")
    parser.add_argument("--masks-per-image", type=int, default=24, help="masks scored per SA-1B image")
    parser.add_argument("--repeats", type=int, default=2, help="timing repeats (the best counts)")
    parser.add_argument("--clicks", type=int, default=1, help="clicks per mask (positive-only protocol, 1-5)")
    parser.add_argument("--steps", type=int, default=1, help="denoising steps of the tiny model")
    parser.add_argument("--depth-maps", type=int, default=200, help="NYUv2-sized maps to score")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 avoids oversubscription)")
    parser.add_argument("--seconds-per-call", type=float, nargs=2, default=(0.6, 1.3), metavar=("LOW", "HIGH"))
    parser.add_argument("--skip", action="append", default=[], choices=("masks", "depth", "gpu_hours"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    out: dict[str, Any] = {
        "python": platform.python_version(), "torch": torch.__version__, "threads": args.threads,
        "cpus": os.cpu_count(),
    }
    if "depth" not in args.skip:  # first, so that its peak RSS is its own
        out["depth"] = bench_depth(args.depth_maps)
    if "masks" not in args.skip:
        out["masks"] = bench_masks(args.images, args.masks_per_image, args.clicks, args.steps, args.repeats)
        out["masks"]["peak_rss_mb"] = round(_rss_mb(), 1)
    if "gpu_hours" not in args.skip:
        out["gpu_hours"] = project_gpu_hours(*args.seconds_per_call)
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
