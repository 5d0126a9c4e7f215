"""Speed of the evaluation path; prints one JSON object.

1. ``masks``: masks scored per second on the SA-1B fixture (``../shared/fixtures/sa1b``: ``sa_*.jpg`` + COCO-RLE
   ``.json``) with the tiny DICEPTION model under ``sam-center-click-positive-only`` (``--clicks`` clicks, default 1):
   all masks of an image in one ``_score_masks`` (pipeline calls of ``sets_per_call`` point sets: one VAE encoding,
   one batched denoising loop) vs one mask per call; "before" (a benchmark-local copy of the former path: each
   prediction's full-resolution float32 RGB made, kept until the call returns, and decoded) vs "after" (the mask
   decoded at the model resolution, only its mean channel resized), in one run, with the masks' agreement.
   Scoring includes the click simulation and the IoU at the original resolution.
1b. ``batch_memory``: extra peak RSS per extra prediction in one call on a 1500 x 2250 image, before and after
   (fresh processes, the slope between 9 and 17 point sets: below ~9 the call's peak is the input's float conversion,
   not what the predictions hold).
2. ``depth``: NYUv2-sized (480 x 640) depth maps scored per second under ``genpercept-affine`` (disparity alignment,
   Eigen crop, range [1e-3, 10]) including reading the uint16 PNGs (``sync_depth_*.png`` / 1000 from
   ``../shared/fixtures/nyuv2``, perturbed copies written to a temporary folder to reach ``--depth-maps``), one map
   at a time (streaming), with the peak RSS and the RSS growth after the first maps (bounded memory).
3. ``gpu_hours``: the projected GPU hours per tier and protocol for the full-size model from per-call figures:
   ``--seconds-per-call LOW HIGH`` (default 0.6 1.3: PROTOCOLS.md's cost section, one H100, 28 steps, guidance 2).
   These are estimates from those inputs, not measured here.

    python -m speed.bench_evaluation [--images 2] [--masks-per-image 24] [--repeats 2] [--clicks 1]
        [--depth-maps 200] [--threads 1] [--skip masks|memory|depth|gpu_hours]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import subprocess
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


def _process_peak_rss_mb() -> float:
    """This process's own peak RSS in MB (``VmHWM``: unlike ``ru_maxrss`` it is not inherited across exec)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def _reset_peak_rss() -> bool:
    """Reset ``VmHWM`` to the current RSS (Linux ``clear_refs``); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def _current_rss_mb() -> float:
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return float("nan")


# --------------------------------------------------------------------------------------------------------------------
# 1. masks per second
# --------------------------------------------------------------------------------------------------------------------


def _former_preprocess(pipe: Any, rgbs: list[np.ndarray]) -> Any:
    """The former bilinear preprocessing (torch's strided uint8 -> float and a second temporary for / 255); the
    same values as ``DiceptionPipeline.preprocess``, slower."""
    import torch
    import torch.nn.functional as F

    size = pipe.config.resolution
    batch = []
    for rgb in rgbs:
        x = torch.from_numpy(rgb).permute(2, 0, 1).float().unsqueeze(0) / 255.0  # [1, 3, H, W] in [0, 1]
        batch.append(F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0])
    return torch.stack(batch) * 2.0 - 1.0  # [B, 3, R, R]


def _full_resolution_predictor(pipe: Any, **kwargs: Any) -> Any:
    """The path before decoding at the model resolution, for the "before" figures: each pipeline call (at most 8
    point sets) makes every prediction's full-resolution float32 RGB, keeps them all until the call returns, and
    decodes the mask from each (what ``DiceptionPipeline.__call__`` and ``DiceptionPredictor`` did), with the former
    preprocessing."""
    import types

    from diception_core.decoders import decode_mask
    from evaluation.predictors import DiceptionPredictor

    class FullResolutionPredictor(DiceptionPredictor):
        def predict_masks(self, image: np.ndarray, point_sets: list, *, sample_id: str, labels: Any = None,
                          mask_ids: Any = None, gt_masks: Any = None) -> list[np.ndarray]:
            masks = []
            self.pipe.preprocess = types.MethodType(_former_preprocess, self.pipe)  # this call only
            try:
                for start in range(0, len(point_sets), self.sets_per_call):
                    out = self.pipe(image, "point_segmentation",
                                    points=point_sets[start : start + self.sets_per_call],
                                    num_inference_steps=self.steps, guidance_scale=self.guidance, seed=self.seed,
                                    batch_size=self.batch_size, decode=False)
                    rgbs = [prediction.rgb for prediction in out]  # [H, W, 3] float32 each, all alive at once
                    masks.extend(decode_mask(rgb, self.pipe.config.mask_threshold) for rgb in rgbs)
            finally:
                del self.pipe.preprocess
            return masks

    return FullResolutionPredictor(pipe, sets_per_call=8, **kwargs)


def _load_sa1b(n_images: int, masks_per_image: int) -> list[Any]:
    from PIL import Image

    from evaluation.data.converters import decode_rle
    from evaluation.runner import _Sample

    folder = FIXTURES / "sa1b"
    samples = []
    for path in sorted(folder.glob("sa_*.json"))[:n_images]:
        data = json.loads(path.read_text())
        with Image.open(folder / data["image"]["file_name"]) as img:
            image = np.array(img.convert("RGB"))
        masks = {str(a["id"]): decode_rle(a["segmentation"]) for a in data["annotations"]}
        kept = [k for k, m in masks.items() if m.any()][:masks_per_image]
        samples.append(_Sample(path.stem, image, masks={k: masks[k] for k in kept}))
    return samples


def bench_masks(n_images: int, masks_per_image: int, clicks: int, steps: int, repeats: int) -> dict[str, Any]:
    """Masks scored per second, before (full-resolution RGB per prediction) and after (decoded at the model
    resolution), each batched (all of an image's masks in one ``_score_masks``) and single (one mask per call)."""
    folder = FIXTURES / "sa1b"
    if not sorted(folder.glob("sa_*.json")):
        return {"skipped": f"no SA-1B fixture at {folder}"}
    from diception_core.pipeline import DiceptionPipeline
    from evaluation.predictors import DiceptionPredictor
    from evaluation.runner import _score_masks

    pipe = DiceptionPipeline.from_pretrained("tiny", device="cpu")
    predictors = {
        "before": _full_resolution_predictor(pipe, steps=steps, guidance=1.0),
        "after": DiceptionPredictor(pipe, steps=steps, guidance=1.0),
    }
    for predictor in predictors.values():
        predictor.max_points = clicks  # the click protocol simulates this many clicks
    samples = _load_sa1b(n_images, masks_per_image)
    n_masks = sum(len(s.masks) for s in samples)
    protocol = "sam-center-click-positive-only"
    for predictor in predictors.values():  # warm-up
        _score_masks(predictor, samples[0], list(samples[0].masks)[:2], protocol, "sa1b")

    # The machine is shared: the runs alternate, per image, and the best of `repeats` totals counts.
    runs = [(path, mode) for path in predictors for mode in ("batched", "single")]
    times = {run: [0.0] * repeats for run in runs}
    scores: dict[tuple[str, str], dict[str, Any]] = {run: {} for run in runs}
    for r in range(repeats):
        for s in samples:
            for path, mode in runs:
                predictor = predictors[path]
                start = time.perf_counter()
                if mode == "batched":
                    scores[path, mode].update(_score_masks(predictor, s, list(s.masks), protocol, "sa1b"))
                else:
                    for mask_id in s.masks:
                        scores[path, mode].update(_score_masks(predictor, s, [mask_id], protocol, "sa1b"))
                times[path, mode][r] += time.perf_counter() - start
    rate = {f"{path}_{mode}_masks_per_s": round(n_masks / min(times[path, mode]), 2) for path, mode in runs}

    def max_iou_difference(a: tuple[str, str], b: tuple[str, str]) -> float:
        return max(abs(x - y) for m in scores[a] for x, y in zip(scores[a][m]["ious"], scores[b][m]["ious"],
                                                                  strict=True))

    agreement = _mask_agreement(pipe, predictors, samples)
    return {
        "images": len(samples), "masks": n_masks, "clicks": clicks, "steps": steps, "repeats": repeats,
        "image_sizes": sorted({f"{s.image.shape[1]}x{s.image.shape[0]}" for s in samples}),
        "sets_per_call": {path: p.sets_per_call for path, p in predictors.items()},
        **rate,
        "speedup_batched": round(min(times["before", "batched"]) / min(times["after", "batched"]), 2),
        "speedup_single": round(min(times["before", "single"]) / min(times["after", "single"]), 2),
        "after_batched_vs_single": round(min(times["after", "single"]) / min(times["after", "batched"]), 2),
        "max_iou_difference_after_vs_before": max_iou_difference(("after", "batched"), ("before", "batched")),
        "max_iou_difference_batched_vs_single": max_iou_difference(("after", "batched"), ("after", "single")),
        **agreement,
        "note": "before: every prediction's full-resolution float32 RGB is made and kept until the call returns, "
                "then decoded, 8 point sets per call, the former preprocessing; after: the mask is decoded at the "
                "model resolution and only its mean channel is resized, 32 sets per call. With the tiny model, "
                "post-processing, preprocessing and the click simulation (a full-image distance transform per "
                "mask) dominate.",
    }


def _mask_agreement(pipe: Any, predictors: dict[str, Any], samples: list[Any]) -> dict[str, Any]:
    """IoU between the masks of the two paths for the same prompts (each mask's centre click)."""
    from evaluation.protocols import ClickSimulator

    ious, pixels = [], 0
    for s in samples:
        point_sets = [[ClickSimulator(gt, positive_only=True).next().as_point()] for gt in s.masks.values()]
        old = predictors["before"].predict_masks(s.image, point_sets, sample_id=s.sample_id)
        new = predictors["after"].predict_masks(s.image, point_sets, sample_id=s.sample_id)
        for a, b in zip(old, new, strict=True):
            union = np.count_nonzero(a | b)
            ious.append(1.0 if union == 0 else np.count_nonzero(a & b) / union)
            pixels += int(np.count_nonzero(a != b))
    return {"min_mask_iou_after_vs_before": round(float(min(ious)), 6), "mask_pixels_differing": pixels}


def _memory_probe(path: str, n_sets: int) -> dict[str, float]:
    """In a fresh process: the peak RSS (MB) one ``predict_masks`` call with ``n_sets`` point sets on a 1500 x 2250
    image adds above the RSS before it, after a one-set warm-up; the caller runs it for two counts and reports the
    slope (MB per extra prediction)."""
    from diception_core.pipeline import DiceptionPipeline
    from evaluation.predictors import DiceptionPredictor

    pipe = DiceptionPipeline.from_pretrained("tiny", device="cpu")
    if path == "before":
        predictor = _full_resolution_predictor(pipe, steps=1, guidance=1.0)
        predictor.sets_per_call = n_sets  # one call holds all of them, as a batch of n_sets did
    else:
        predictor = DiceptionPredictor(pipe, steps=1, guidance=1.0, sets_per_call=n_sets)
    image = (np.random.default_rng(0).random((1500, 2250, 3)) * 255).astype(np.uint8)
    sets = [[[float(100 + 60 * i), float(200 + 40 * i)]] for i in range(n_sets)]
    predictor.predict_masks(image, sets[:1], sample_id="warm-up")
    if not _reset_peak_rss():
        return {"call_peak_mb": float("nan")}
    before = _current_rss_mb()
    masks = predictor.predict_masks(image, sets, sample_id="probe")
    peak = _process_peak_rss_mb()
    del masks
    return {"rss_mb_before_call": before, "peak_rss_mb": peak, "call_peak_mb": peak - before}


def bench_batch_memory(counts: tuple[int, int] = (9, 17)) -> dict[str, Any]:
    """Extra peak memory per extra prediction in one call at 1500 x 2250, before and after (fresh processes)."""
    out: dict[str, Any] = {"image": "1500x2250", "counts": list(counts)}
    for path in ("before", "after"):
        peaks = []
        for n in counts:
            done = subprocess.run(
                [sys.executable, "-m", "speed.bench_evaluation", "--memory-probe", path, str(n)],
                cwd=REPO, capture_output=True, text=True, check=True,
            )
            peaks.append(json.loads(done.stdout)["call_peak_mb"])
        out[f"{path}_call_peak_mb"] = [round(p, 1) for p in peaks]
        out[f"{path}_mb_per_extra_prediction"] = round((peaks[1] - peaks[0]) / (counts[1] - counts[0]), 2)
    return out


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

    from diception_spec.benchmarks import get_benchmark
    from evaluation.benchmarks import depth_valid_mask
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
    from diception_spec.benchmarks import TIERS, list_benchmarks

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
    parser.add_argument("--skip", action="append", default=[],
                        choices=("masks", "memory", "depth", "gpu_hours"))
    parser.add_argument("--memory-probe", nargs=2, metavar=("PATH", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(args.threads)
    if args.memory_probe:
        json.dump(_memory_probe(args.memory_probe[0], int(args.memory_probe[1])), sys.stdout)
        return 0
    out: dict[str, Any] = {
        "python": platform.python_version(), "torch": torch.__version__, "threads": args.threads,
        "cpus": os.cpu_count(),
    }
    if "depth" not in args.skip:  # first, so that its peak RSS is its own
        out["depth"] = bench_depth(args.depth_maps)
    if "masks" not in args.skip:
        out["masks"] = bench_masks(args.images, args.masks_per_image, args.clicks, args.steps, args.repeats)
        out["masks"]["peak_rss_mb"] = round(_rss_mb(), 1)
    if "memory" not in args.skip:
        out["batch_memory"] = bench_batch_memory()
    if "gpu_hours" not in args.skip:
        out["gpu_hours"] = project_gpu_hours(*args.seconds_per_call)
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
