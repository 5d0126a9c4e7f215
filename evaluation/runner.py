"""The runner: score a :class:`~evaluation.predictors.Predictor` on benchmarks, resumably and shardably.

For each benchmark (or each member dataset of an aggregate such as ``sa23``), the runner

1. lists the items (masks or images) of the prepared folder, or of the synthetic benchmark rendered on the fly, and
   keeps the tier's fixed-seed subset (``BenchmarkSpec.select``);
2. groups the items by image and gives image ``i`` (in sorted id order) to rank ``i % world_size``;
3. scores each image: all its masks' prompts go to the predictor together (click ``k`` of every mask of the image in
   one call; an image's encoding is shared), depth and normals once per image;
4. appends one JSON line per item to its cache shard ``<cache_dir>/<task>--<benchmark>--<dataset>--<hash>/
   shard-<rank>.jsonl`` (the hash covers the predictor's description and settings, the protocol, the spec and data
   revisions and the synthetic options, so a cache is reused only for the same evaluation) and skips every image
   whose items are all in any shard already: an interrupted run resumes where it stopped;
5. after a barrier, rank 0 scores whatever no shard holds (nothing, after a complete sharded run), reads every
   shard and builds the result: per-dataset scores with stratified-bootstrap confidence intervals, per-sample
   values (each item's value of every metric, ``samples[i].metrics``), failures, and on request thumbnails of each
   dataset's worst and best items (``evaluation.gallery``). Scores are always computed from the cached records,
   so a plain, a resumed and a sharded run give the same numbers (:func:`evaluation.results.comparable`).

Point segmentation. ``sam-center-click`` simulates up to 20 clicks (NoC@85 / @90 are capped at 20) for a model that
takes any number of points with labels; a positive-only model (DICEPTION) is scored under
``sam-center-click-positive-only`` (the row records it) with at most ``predictor.max_points`` clicks (5 for
DICEPTION). NoC then counts a mask that did not reach the IoU within those clicks as the cap, 20, as if the model
had kept failing; the score row's note says so, and such numbers are a pessimistic bound that is never ranked against
a model that took 20 clicks (the protocols differ). ``random-points`` scores 5 seeded in-mask points
(``miou_5pt_random``). Under ``sam-center-click-oracle`` the ground truth goes to the predictor to pick the best of
its candidate masks.

Depth. ``genpercept-affine`` aligns per image in the predictor's output space (``disparity`` for DICEPTION and Depth
Anything; ``depth`` for prediction files holding depth), recorded as the benchmark's ``alignment``; the valid mask,
crop, KB crop, fitting size and depth range come from the spec's ``DepthRules``. ``depth-anything-disparity`` scores
in disparity space. Normals: predictions (Marigold's frame) are converted to the dataset's frame; ``stablenormal`` /
``dsine`` pool pixels over images (the pooled median from a 0.01-degree histogram kept per image), ``marigold-normals``
averages per-image metrics.

Missing or corrupt samples (and predictor ``ValueError``s on one sample) are reported in ``failures`` and the run
goes on.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from diception_spec.benchmarks import BENCHMARKS, TIERS, BenchmarkSpec, get_benchmark
from diception_spec.normals import CANONICAL_FRAME, convert_normal_frame
from diception_spec.scoring import mask_iou
from diception_spec.tasks import Task
from evaluation.benchmarks import depth_valid_mask, kb_crop_box, user_split
from evaluation.bootstrap import stratified_bootstrap
from evaluation.metrics import (
    METRICS,
    angular_error_deg,
    clicks_to_reach,
    depth_anything_disparity_metrics,
    depth_metrics,
    normal_metrics,
)
from evaluation.predictors import Predictor
from evaluation.protocols import ClickSimulator, get_protocol, random_points
from evaluation.results import FORMAT_VERSION, run_info, utc_now, validate_result

logger = logging.getLogger(__name__)

__all__ = ["RUNNER_VERSION", "SCORED_TASKS", "BenchmarkJob", "SyntheticOptions", "resolve_benchmarks",
           "run_evaluation"]

RUNNER_VERSION = "1"
SCORED_TASKS = (Task.POINT_SEGMENTATION, Task.DEPTH, Task.NORMAL)
NOC_CAP = 20
NOC_THRESHOLDS = {"noc85": 0.85, "noc90": 0.90}
RANDOM_POINTS = 5
HIST_BIN_DEG = 0.01  # pooled-median resolution of the per-image normal histograms
BOOTSTRAP_DRAWS = 1000
BOOTSTRAP_SEED = 0


# --------------------------------------------------------------------------------------------------------------------
# Benchmarks and data sources
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyntheticOptions:
    """How the synthetic benchmark is rendered: ``samples`` scenes (None: the spec's count) of ``size`` pixels."""

    samples: int | None = None
    size: int = 96
    seed: int = 0


@dataclass
class _Sample:
    sample_id: str
    image: np.ndarray  # uint8 [H, W, 3]
    masks: dict[str, np.ndarray] = field(default_factory=dict)  # mask id -> bool [H, W]
    depth: np.ndarray | None = None  # metres
    normals: np.ndarray | None = None  # in `frame`
    valid: np.ndarray | None = None
    frame: str = CANONICAL_FRAME.value


class _SyntheticSource:
    def __init__(self, spec: BenchmarkSpec, options: SyntheticOptions) -> None:
        self.spec = spec
        self.options = options
        self.count = options.samples if options.samples is not None else (spec.num_images or 0)
        self._scenes: dict[str, Any] = {}

    def _scene(self, sample_id: str) -> Any:
        from evaluation.synthetic import make_synthetic_scene

        if sample_id not in self._scenes:
            index = int(sample_id.rsplit("-", 1)[1])
            self._scenes = {sample_id: make_synthetic_scene(index, self.options.size, self.options.seed)}
        return self._scenes[sample_id]

    def image_ids(self) -> list[str]:
        o = self.options
        return [f"synthetic-s{o.seed}-{o.size}px-{i:05d}" for i in range(self.count)]

    def mask_ids(self, sample_id: str) -> list[str]:
        return [str(k) for k in range(len(self._scene(sample_id).instances))]

    def load(self, sample_id: str) -> _Sample:
        scene = self._scene(sample_id)
        return _Sample(
            sample_id, scene.image, masks={str(k): m for k, m in enumerate(scene.instances)}, depth=scene.depth,
            normals=scene.normals, valid=scene.valid, frame=CANONICAL_FRAME.value,
        )


class _PreparedSource:
    def __init__(self, folder: Path) -> None:
        from evaluation.data.readers import PreparedDataset

        self.dataset = PreparedDataset(folder)
        self._entries = {e.sample_id: e for e in self.dataset.manifest.samples}

    def image_ids(self) -> list[str]:
        return list(self._entries)

    def mask_ids(self, sample_id: str) -> list[str]:
        return [str(m) for m in self._entries[sample_id].extra.get("mask_ids", [])]

    def load(self, sample_id: str) -> _Sample:
        from evaluation.data.readers import DepthSample, MaskSample

        raw = self.dataset.load(sample_id)  # raises CorruptSampleError
        try:
            image = raw.load_image()
        except OSError as exc:
            raise ValueError(f"unreadable image: {exc}") from exc
        if isinstance(raw, MaskSample):
            return _Sample(sample_id, image, masks={m.mask_id: m.decode() for m in raw.masks})
        if isinstance(raw, DepthSample):
            return _Sample(sample_id, image, depth=raw.depth, valid=raw.valid)
        return _Sample(sample_id, image, normals=raw.normals, valid=raw.valid, frame=raw.frame)


@dataclass
class BenchmarkJob:
    """One (task, benchmark) to score under one protocol; an aggregate has several member datasets."""

    spec: BenchmarkSpec
    protocol: str
    datasets: list[tuple[str, Any]]  # (dataset id, source)

    @property
    def task(self) -> Task:
        return Task.parse(self.spec.task_id)


def _protocol_for(spec: BenchmarkSpec, predictor: Predictor, requested: Sequence[str]) -> str:
    chosen = next((p for p in requested if p in spec.protocols), spec.default_protocol)
    if chosen == "sam-center-click" and not predictor.negative_points and (
        "sam-center-click-positive-only" in spec.protocols
    ):
        chosen = "sam-center-click-positive-only"  # e.g. DICEPTION: positive points only
    if chosen == "diception-paper":
        raise ValueError("protocol: 'diception-paper' holds the paper's printed numbers; it cannot be measured")
    if chosen == "sam-center-click-oracle" and not predictor.multi_output:
        raise ValueError(f"protocol: the oracle protocol needs a multi-output model; {predictor.name} has one mask")
    return chosen


def _folder_for(data_root: Path | None, spec: BenchmarkSpec, dataset: str) -> Path:
    if data_root is None:
        raise FileNotFoundError(f"data_root: {spec.task_id}/{dataset} needs prepared data; pass --data-root")
    candidates = [data_root / dataset, data_root / spec.task_id / dataset, data_root / spec.id / dataset]
    for folder in candidates:
        if (folder / "manifest.json").is_file():
            return folder
    tried = ", ".join(str(c) for c in candidates)
    raise FileNotFoundError(f"benchmark {spec.task_id}/{dataset}: no prepared folder (manifest.json) at {tried}")


def resolve_benchmarks(
    names: Iterable[str],
    predictor: Predictor,
    *,
    protocols: Sequence[str] = (),
    data_root: str | os.PathLike[str] | None = None,
    synthetic: SyntheticOptions = SyntheticOptions(),
) -> list[BenchmarkJob]:
    """Benchmark names (``"nyuv2"``, ``"depth/nyuv2"``, ``"sa23"``, ``"synthetic"``, a prepared folder) -> jobs.

    A name that exists for several tasks (``synthetic``, ``nyuv2``) expands to the tasks the predictor supports.
    Raises ``ValueError`` / ``KeyError`` (listing the known names) for unknown names, unsupported tasks or protocols,
    ``FileNotFoundError`` for missing prepared folders.
    """
    root = Path(data_root) if data_root is not None else None
    specs: list[BenchmarkSpec] = []
    for name in names:
        name = name.strip()
        if not name:
            continue
        path = Path(name.removeprefix("user:"))
        if name.startswith("user:") or (path / "manifest.json").is_file():
            specs.append(user_split(path))
            continue
        if "/" in name:
            specs.append(get_benchmark(name))
            continue
        matches = [s for (_, n), s in BENCHMARKS.items() if n == name]
        if len(matches) > 1:
            usable = [s for s in matches if Task.parse(s.task_id) in predictor.tasks]
            if not usable:
                tasks = ", ".join(s.task_id for s in matches)
                raise ValueError(f"benchmarks: {predictor.name} supports none of {name}'s tasks ({tasks})")
            specs.extend(usable)
        else:
            specs.append(get_benchmark(name))
    jobs = []
    for spec in dict.fromkeys(specs):
        task = Task.parse(spec.task_id)
        if task not in SCORED_TASKS:
            raise ValueError(f"benchmarks: {spec.task_id}/{spec.id}: the runner scores "
                             f"{', '.join(t.value for t in SCORED_TASKS)} only")
        if task not in predictor.tasks:
            raise ValueError(f"benchmarks: {predictor.name} ({predictor.kind}) cannot predict {spec.task_id} "
                             f"({spec.task_id}/{spec.id})")
        protocol = _protocol_for(spec, predictor, protocols)
        if spec.id == "synthetic":
            datasets = [(spec.id, _SyntheticSource(spec, synthetic))]
        elif spec.path is not None:
            datasets = [(spec.id, _PreparedSource(Path(spec.path)))]
        else:
            members = spec.members or (spec.id,)
            datasets = [(m, _PreparedSource(_folder_for(root, spec, m))) for m in members]
        jobs.append(BenchmarkJob(spec, protocol, datasets))
    if not jobs:
        raise ValueError("benchmarks: no benchmark given")
    return jobs


# --------------------------------------------------------------------------------------------------------------------
# Scoring one image
# --------------------------------------------------------------------------------------------------------------------


def _max_clicks(protocol: str, predictor: Predictor) -> int:
    spec = get_protocol(protocol)
    if "clicks" not in spec.settings:
        return 1
    limit = NOC_CAP if predictor.max_points is None else min(NOC_CAP, predictor.max_points)
    return max(1, limit)


def _score_masks(
    predictor: Predictor, sample: _Sample, mask_ids: list[str], protocol: str, dataset: str
) -> dict[str, dict[str, Any]]:
    """Per mask id: the IoU after each click (fractions) and the clicks, or the random-points IoU."""
    gts = [sample.masks[m] for m in mask_ids]
    settings = get_protocol(protocol).settings
    oracle = settings.get("multimask") == "oracle"
    if protocol == "random-points":
        k = RANDOM_POINTS if predictor.max_points is None else max(1, min(RANDOM_POINTS, predictor.max_points))
        point_sets = [random_points(gt, k, benchmark=dataset, sample_id=sample.sample_id, mask_id=m)[:k]
                      for gt, m in zip(gts, mask_ids, strict=True)]
        preds = predictor.predict_masks(sample.image, point_sets, sample_id=sample.sample_id, mask_ids=mask_ids,
                                        gt_masks=gts if oracle else None)
        return {m: {"iou_random": mask_iou(p, g), "points": pts}
                for m, p, g, pts in zip(mask_ids, preds, gts, point_sets, strict=True)}

    positive_only = bool(settings.get("positive_only")) or not predictor.negative_points
    max_clicks = _max_clicks(protocol, predictor)
    sims = [ClickSimulator(gt, positive_only=positive_only) for gt in gts]
    ious: list[list[float]] = [[] for _ in gts]
    current: list[np.ndarray | None] = [None] * len(gts)
    for _ in range(max_clicks):
        active = []
        for i, sim in enumerate(sims):
            if sim.next(current[i]) is None:
                ious[i].append(ious[i][-1])  # nothing left to click: the IoU stays (as run_clicks does)
            else:
                active.append(i)
        if not active:
            continue
        point_sets = [[c.as_point() for c in sims[i].clicks] for i in active]
        labels = [[int(c.positive) for c in sims[i].clicks] for i in active] if predictor.negative_points else None
        preds = predictor.predict_masks(
            sample.image, point_sets, sample_id=sample.sample_id, labels=labels,
            mask_ids=[mask_ids[i] for i in active], gt_masks=[gts[i] for i in active] if oracle else None,
        )
        for i, pred in zip(active, preds, strict=True):
            pred = np.asarray(pred, dtype=bool)
            if pred.shape != gts[i].shape:
                raise ValueError(f"predictor returned a mask of shape {pred.shape}, expected {gts[i].shape}")
            current[i] = pred
            ious[i].append(mask_iou(pred, gts[i]))
    return {
        m: {"ious": ious[i], "clicks": [[c.x, c.y, int(c.positive)] for c in sims[i].clicks]}
        for i, m in enumerate(mask_ids)
    }


def _score_depth(predictor: Predictor, spec: BenchmarkSpec, protocol: str, sample: _Sample) -> dict[str, float]:
    rules = spec.depth
    image, gt, valid = sample.image, sample.depth, sample.valid
    if rules is not None and rules.kb_crop:
        top, left, h, w = kb_crop_box(*gt.shape)
        image, gt, valid = (a[top:top + h, left:left + w] for a in (image, gt, valid))
    if rules is not None:
        valid = depth_valid_mask(rules, gt, valid if rules.mask_file else None) & (valid | rules.mask_file)
    pred = np.asarray(predictor.predict_depth(image, sample_id=sample.sample_id), dtype=np.float32)
    if pred.shape != gt.shape:
        raise ValueError(f"predictor returned depth of shape {pred.shape}, expected {gt.shape}")
    if protocol == "depth-anything-disparity":
        if predictor.depth_output != "disparity":
            raise ValueError("depth-anything-disparity needs disparity predictions")
        return depth_anything_disparity_metrics(torch.from_numpy(pred), torch.from_numpy(gt), torch.from_numpy(valid))
    return depth_metrics(
        torch.from_numpy(pred), torch.from_numpy(gt), torch.from_numpy(valid), space=predictor.depth_output,
        min_depth=rules.min_depth if rules else None, max_depth=rules.max_depth if rules else None,
        # ETH3D: fit at max side 1024 (PROTOCOLS.md), score at the ground truth's full resolution.
        fit_max_side=rules.fit_max_side if rules else None,
    )


def _score_normals(predictor: Predictor, spec: BenchmarkSpec, sample: _Sample) -> tuple[dict, dict]:

    pred = np.asarray(predictor.predict_normals(sample.image, sample_id=sample.sample_id), dtype=np.float32)
    if pred.shape != sample.normals.shape:
        raise ValueError(f"predictor returned normals of shape {pred.shape}, expected {sample.normals.shape}")
    frame = sample.frame or (spec.normals.frame if spec.normals else CANONICAL_FRAME)
    pred = convert_normal_frame(pred, CANONICAL_FRAME, frame)
    valid = sample.valid & (np.linalg.norm(sample.normals, axis=-1) > 0)
    errors = angular_error_deg(torch.from_numpy(pred), torch.from_numpy(sample.normals), torch.from_numpy(valid))
    e = errors.numpy()
    bins, counts = np.unique(np.round(e / HIST_BIN_DEG).astype(np.int64), return_counts=True)
    pool = {
        "n": int(e.size), "sum": float(e.sum()), "sum_sq": float((e * e).sum()),
        "within": [int((e < t).sum()) for t in (11.25, 22.5, 30.0)],
        "hist_bins": bins.tolist(), "hist_counts": counts.tolist(),
    }
    return normal_metrics(errors), pool


# --------------------------------------------------------------------------------------------------------------------
# Cache
# --------------------------------------------------------------------------------------------------------------------


def _settings_hash(predictor: Predictor, job: BenchmarkJob, dataset: str, synthetic: SyntheticOptions) -> str:
    payload = {
        "runner": RUNNER_VERSION,
        "predictor": predictor.describe(),
        "depth_output": predictor.depth_output,
        "task": job.spec.task_id, "dataset": dataset, "protocol": job.protocol,
        "protocol_version": get_protocol(job.protocol).version,
        "spec": [job.spec.version, job.spec.data_revision, job.spec.path],
        "synthetic": [synthetic.size, synthetic.seed] if job.spec.id == "synthetic" else None,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text)


class _Cache:
    """One folder of JSONL shards per (task, benchmark, dataset, settings hash); records keyed by sample/mask id."""

    def __init__(self, folder: Path, rank: int) -> None:
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"shard-{rank}.jsonl"
        self.records: dict[tuple[str, str], dict[str, Any]] = {}
        self.reload()

    def reload(self) -> None:
        self.records = {}
        for shard in sorted(self.folder.glob("shard-*.jsonl")):
            with open(shard, encoding="utf-8") as handle:
                for line in handle:
                    try:
                        record = json.loads(line)
                    except json.JSONDecodeError:
                        continue  # a line cut short by a crash: that image is scored again
                    if isinstance(record, dict) and "sample_id" in record:
                        self.records[(record["sample_id"], record.get("mask_id", ""))] = record

    def has_all(self, keys: Iterable[tuple[str, str]]) -> bool:
        return all(k in self.records for k in keys)

    def append(self, records: list[dict[str, Any]]) -> None:
        text = "".join(json.dumps(r, allow_nan=False) + "\n" for r in records)
        with open(self.path, "a", encoding="utf-8") as handle:  # one write per image: all or (a cut line) nothing
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        for r in records:
            self.records[(r["sample_id"], r.get("mask_id", ""))] = r


def default_cache_dir() -> Path:
    return Path(os.environ.get("DICEPTION_EVAL_CACHE", Path.home() / ".cache" / "diception" / "evaluation"))


# --------------------------------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------------------------------


@dataclass
class _Plan:
    job: BenchmarkJob
    dataset: str
    source: Any
    images: list[str]  # selected image ids, sorted
    items: dict[str, list[str]]  # image id -> selected mask ids ([""] for image-level tasks)
    cache: _Cache


def _plan(job: BenchmarkJob, dataset: str, source: Any, tier: str, cache_root: Path, rank: int,
          predictor: Predictor, synthetic: SyntheticOptions) -> _Plan:
    spec = job.spec
    image_ids = source.image_ids()
    items: dict[str, list[str]] = {}
    if job.task is Task.POINT_SEGMENTATION:
        keys = []
        for image_id in image_ids:
            keys.extend(f"{image_id}/{m}" for m in source.mask_ids(image_id))
        member = dataset if spec.members else None
        for key in spec.select(keys, tier, member):
            image_id, mask_id = key.rsplit("/", 1)
            items.setdefault(image_id, []).append(mask_id)
    else:
        member = dataset if spec.members else None
        items = {i: [""] for i in spec.select(image_ids, tier, member)}
    folder = cache_root / _safe(f"{spec.task_id}--{spec.id}--{dataset}--"
                                f"{_settings_hash(predictor, job, dataset, synthetic)}")
    return _Plan(job, dataset, source, sorted(items), items, _Cache(folder, rank))


def _score_image(predictor: Predictor, plan: _Plan, image_id: str) -> list[dict[str, Any]]:
    """Score one image's selected items; returns the cache records (raises on failure)."""
    job = plan.job
    start = time.perf_counter()
    sample = plan.source.load(image_id)
    base = {"sample_id": image_id}
    if job.task is Task.POINT_SEGMENTATION:
        mask_ids = plan.items[image_id]
        missing = [m for m in mask_ids if m not in sample.masks]
        if missing:
            raise ValueError(f"masks {missing[:3]} listed in the manifest are not in the mask file")
        scored = _score_masks(predictor, sample, mask_ids, job.protocol, plan.dataset)
        seconds = (time.perf_counter() - start) / max(1, len(mask_ids))
        return [{**base, "mask_id": m, "values": scored[m], "seconds": round(seconds, 4)} for m in mask_ids]
    if job.task is Task.DEPTH:
        values = _score_depth(predictor, job.spec, job.protocol, sample)
        return [{**base, "mask_id": "", "values": values, "seconds": round(time.perf_counter() - start, 4)}]
    values, pool = _score_normals(predictor, job.spec, sample)
    return [{**base, "mask_id": "", "values": values, "pool": pool, "seconds": round(time.perf_counter() - start, 4)}]


def _work(predictor: Predictor, plan: _Plan, image_ids: list[str], failures: list[dict], progress: Any) -> int:
    """Score every listed image not fully cached; returns the number of items found in the cache."""
    from evaluation.data.readers import CorruptSampleError

    cached = 0
    for image_id in image_ids:
        keys = [(image_id, m) for m in plan.items[image_id]]
        if plan.cache.has_all(keys):
            cached += len(keys)
        else:
            try:
                plan.cache.append(_score_image(predictor, plan, image_id))
            except (CorruptSampleError, ValueError, KeyError, OSError) as exc:
                reason = exc.reason if isinstance(exc, CorruptSampleError) else f"{type(exc).__name__}: {exc}"
                failures.append({"task": plan.job.spec.task_id, "benchmark": plan.dataset, "sample_id": image_id,
                                 "reason": reason})
                logger.warning("%s/%s %s: %s", plan.job.spec.task_id, plan.dataset, image_id, reason)
        if progress is not None:
            progress.update(1)
    return cached


def _ci(values_by_dataset: dict[str, np.ndarray], statistic: Callable | None = None,
        draws: int = BOOTSTRAP_DRAWS) -> Any:
    return stratified_bootstrap(values_by_dataset, n_draws=draws, seed=BOOTSTRAP_SEED, statistic=statistic)


def _score_row(task: str, benchmark: str, metric: str, value: float, protocol: str, tier: str, low: float | None,
               high: float | None, n: int, note: str = "") -> dict[str, Any]:
    spec = METRICS[metric]
    return {
        "task": task, "benchmark": benchmark, "metric": metric, "value": float(value), "unit": spec.unit,
        "higher_is_better": spec.higher_is_better, "protocol": protocol, "tier": tier,
        "ci_low": None if low is None else float(low), "ci_high": None if high is None else float(high),
        "n": int(n), "note": note,
    }


def _mask_metric_values(
    records: list[dict], protocol: str, metrics: Sequence[str]
) -> dict[str, tuple[np.ndarray, str]]:
    """metric id -> (per-mask values in the metric's unit, note)."""
    out: dict[str, tuple[np.ndarray, str]] = {}
    if protocol == "random-points":
        if "miou_5pt_random" in metrics:
            out["miou_5pt_random"] = (np.array([100.0 * r["values"]["iou_random"] for r in records]), "")
        return out
    ious = np.array([r["values"]["ious"] for r in records], dtype=np.float64)  # [masks, clicks]
    clicks_done = ious.shape[1]
    for k in get_protocol(protocol).settings.get("clicks", (1,)):
        metric = f"miou_{k}pt"
        if k <= clicks_done and metric in metrics:
            out[metric] = (100.0 * ious[:, k - 1], "")
    if clicks_done > 1:
        note = "" if clicks_done >= NOC_CAP else (
            f"the model takes at most {clicks_done} clicks: a mask not reaching the IoU within {clicks_done} clicks "
            f"counts as {NOC_CAP} (a pessimistic bound)"
        )
        for metric, threshold in NOC_THRESHOLDS.items():
            if metric in metrics:
                out[metric] = (clicks_to_reach(torch.from_numpy(ious), threshold, NOC_CAP).numpy(), note)
    return out


def _pooled_normals(records: list[dict]) -> dict[str, Any]:
    """Pooled metrics and per-image arrays for the ratio bootstraps."""
    n = np.array([r["pool"]["n"] for r in records], dtype=np.float64)
    s = np.array([r["pool"]["sum"] for r in records])
    sq = np.array([r["pool"]["sum_sq"] for r in records])
    within = np.array([r["pool"]["within"] for r in records], dtype=np.float64)  # [images, 3]
    hist: dict[int, int] = {}
    for r in records:
        for b, c in zip(r["pool"]["hist_bins"], r["pool"]["hist_counts"], strict=True):
            hist[b] = hist.get(b, 0) + c
    bins = np.array(sorted(hist), dtype=np.int64)
    cum = np.cumsum([hist[b] for b in bins])
    total = int(n.sum())
    lower = bins[np.searchsorted(cum, (total - 1) // 2 + 1)]
    upper = bins[np.searchsorted(cum, total // 2 + 1)]
    return {"n": n, "sum": s, "sum_sq": sq, "within": within, "median": 0.5 * (lower + upper) * HIST_BIN_DEG}


def _ratio_statistic(numerator: np.ndarray, denominator: np.ndarray, transform: Callable) -> Callable:
    """A bootstrap statistic over resampled item *indices* (the values passed are 0..n-1)."""
    def stat(samples: np.ndarray) -> np.ndarray:
        idx = samples.astype(np.int64)
        return transform(numerator[idx].sum(axis=1) / denominator[idx].sum(axis=1))
    return stat


def _dataset_scores(plan: _Plan, records: list[dict], tier: str) -> list[dict[str, Any]]:
    """Score rows of one dataset (bootstrap over its items)."""
    job, spec = plan.job, plan.job.spec
    task, protocol, dataset = spec.task_id, job.protocol, plan.dataset
    rows = []
    if job.task is Task.NORMAL and get_protocol(protocol).settings.get("aggregation") == "pooled":
        pooled = _pooled_normals(records)
        idx = {dataset: np.arange(len(records), dtype=np.float64)}
        n = pooled["n"]
        parts = {
            "mean_deg": (pooled["sum"], lambda x: x),
            "rmse_deg": (pooled["sum_sq"], np.sqrt),
            "within_11.25": (100.0 * pooled["within"][:, 0], lambda x: x),
            "within_22.5": (100.0 * pooled["within"][:, 1], lambda x: x),
            "within_30": (100.0 * pooled["within"][:, 2], lambda x: x),
        }
        for metric in spec.metrics:
            if metric == "median_deg":
                rows.append(_score_row(task, dataset, metric, pooled["median"], protocol, tier, None, None,
                                       len(records), f"pooled median from a {HIST_BIN_DEG} degree histogram"))
            elif metric in parts:
                numerator, transform = parts[metric]
                ci = _ci(idx, _ratio_statistic(numerator, n, transform)).per_dataset[dataset]
                rows.append(_score_row(task, dataset, metric, ci.estimate, protocol, tier, ci.low, ci.high,
                                       len(records)))
        return rows
    values = _item_values(job, records)
    for metric, (array, note) in values.items():
        ci = _ci({dataset: array}).per_dataset[dataset]
        rows.append(_score_row(task, dataset, metric, ci.estimate, protocol, tier, ci.low, ci.high, len(array), note))
    return rows


def _item_values(job: BenchmarkJob, records: list[dict]) -> dict[str, tuple[np.ndarray, str]]:
    if job.task is Task.POINT_SEGMENTATION:
        return _mask_metric_values(records, job.protocol, job.spec.metrics)
    return {m: (np.array([r["values"][m] for r in records], dtype=np.float64), "")
            for m in job.spec.metrics if records and m in records[0]["values"]}


def _aggregate_scores(job: BenchmarkJob, per_dataset: dict[str, list[dict]], tier: str) -> list[dict[str, Any]]:
    """An aggregate's rows (sa23): the unweighted mean over members, stratified bootstrap across them."""
    spec = job.spec
    rows = []
    complete = [d for d, _ in job.datasets if per_dataset.get(d)]
    if len(complete) != len(job.datasets):
        logger.warning("%s: %d of %d member datasets have scores; no aggregate row", spec.id, len(complete),
                       len(job.datasets))
        return rows
    values = {d: _item_values(job, per_dataset[d]) for d in complete}
    for metric in values[complete[0]]:
        if not all(metric in values[d] for d in complete):
            continue
        ci = _ci({d: values[d][metric][0] for d in complete}).mean
        n = sum(len(values[d][metric][0]) for d in complete)
        rows.append(_score_row(spec.task_id, spec.id, metric, ci.estimate, job.protocol, tier, ci.low, ci.high, n,
                               values[complete[0]][metric][1]))
    return rows


def _job_settings(job: BenchmarkJob, predictor: Predictor, plans: list[_Plan]) -> dict[str, Any]:
    spec = job.spec
    out: dict[str, Any] = {
        "task": spec.task_id, "benchmark": spec.id, "version": spec.version, "data_revision": spec.data_revision,
        "protocol": job.protocol, "protocol_version": get_protocol(job.protocol).version, "ranked": spec.ranked,
        "n_items": sum(len(v) for p in plans for v in p.items.values()),
    }
    if spec.members:
        out["members"] = list(spec.members)
    if job.task is Task.DEPTH:
        out["alignment"] = "disparity" if job.protocol == "depth-anything-disparity" else predictor.depth_output
    if job.task is Task.NORMAL:
        out["aggregation"] = get_protocol(job.protocol).settings.get("aggregation")
        out["frame"] = (spec.normals.frame if spec.normals else CANONICAL_FRAME).value
    if job.task is Task.POINT_SEGMENTATION:
        out["max_clicks"] = _max_clicks(job.protocol, predictor)
    return out


def _noop() -> None:
    return None


def run_evaluation(
    predictor: Predictor,
    benchmarks: Sequence[str] | Sequence[BenchmarkJob],
    *,
    tier: str = "quick",
    protocols: Sequence[str] = (),
    data_root: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    rank: int = 0,
    world_size: int = 1,
    barrier: Callable[[], None] = _noop,
    synthetic: SyntheticOptions = SyntheticOptions(),
    progress: bool = True,
    thumbnails: int = 0,
) -> dict[str, Any] | None:
    """Score ``predictor`` on ``benchmarks``; returns the result dict on rank 0 (None on other ranks).

    ``thumbnails`` > 0 adds the result's ``thumbnails``: that many worst and best items per dataset, predicted again
    and drawn small (``evaluation.gallery``); 0 (the default) draws nothing.

    ``rank`` / ``world_size`` shard images (image ``i`` of each dataset goes to rank ``i % world_size``); every rank
    must reach ``barrier()`` (accelerate's ``wait_for_everyone`` under ``accelerate launch``) before rank 0 merges.
    Raises what :func:`resolve_benchmarks` raises; per-sample problems land in the result's ``failures``.
    """
    if tier not in TIERS:
        raise ValueError(f"tier: expected one of {', '.join(TIERS)}, got {tier!r}")
    if not 0 <= rank < world_size:
        raise ValueError(f"rank: {rank} is outside 0..{world_size - 1}")
    started, t0 = utc_now(), time.perf_counter()
    jobs = list(benchmarks) if benchmarks and isinstance(benchmarks[0], BenchmarkJob) else resolve_benchmarks(
        benchmarks, predictor, protocols=protocols, data_root=data_root, synthetic=synthetic)
    cache_root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    failures: list[dict[str, Any]] = []
    plans = [_plan(job, d, src, tier, cache_root, rank, predictor, synthetic)
             for job in jobs for d, src in job.datasets]

    from tqdm.auto import tqdm

    mine = [(p, [i for n, i in enumerate(p.images) if n % world_size == rank]) for p in plans]
    total = sum(len(ids) for _, ids in mine)
    cached = 0
    with tqdm(total=total, desc=f"scoring (rank {rank}/{world_size})", disable=not progress, unit="img") as bar:
        for plan, ids in mine:
            cached += _work(predictor, plan, ids, failures, bar)
    barrier()
    if rank != 0:
        return None

    # Rank 0: read every shard, score what no rank holds, merge.
    scores, samples = [], []
    failed = {(f["task"], f["benchmark"], f["sample_id"]) for f in failures}
    for plan in plans:
        plan.cache.reload()
        rest = [i for i in plan.images if (plan.job.spec.task_id, plan.dataset, i) not in failed
                and not plan.cache.has_all((i, m) for m in plan.items[i])]
        if rest:
            _work(predictor, plan, rest, failures, None)
    per_job: dict[int, dict[str, list[dict]]] = {}
    for plan in plans:
        records = [plan.cache.records[(i, m)] for i in plan.images for m in plan.items[i]
                   if (i, m) in plan.cache.records]
        per_job.setdefault(id(plan.job), {})[plan.dataset] = records
        if records:
            scores.extend(_dataset_scores(plan, records, tier))
        item_values = _item_values(plan.job, records) if records else {}  # the values each score resamples
        for j, r in enumerate(records):
            samples.append({"task": plan.job.spec.task_id, "benchmark": plan.dataset, "sample_id": r["sample_id"],
                            "mask_id": r.get("mask_id", ""), "values": r["values"],
                            "metrics": {m: float(v[j]) for m, (v, _) in item_values.items()},
                            "seconds": r.get("seconds")})
    for job in jobs:
        if job.spec.members:
            scores.extend(_aggregate_scores(job, per_job.get(id(job), {}), tier))

    description = predictor.describe()
    settings = {
        **description.get("settings", {}),
        "tier": tier,
        "protocols": {f"{j.spec.task_id}/{j.spec.id}": j.protocol for j in jobs},
        "benchmarks": [_job_settings(j, predictor, [p for p in plans if p.job is j]) for j in jobs],
        "runner_version": RUNNER_VERSION,
    }
    for key in ("steps", "guidance", "seed"):
        settings.setdefault(key, None)
    if any(j.spec.id == "synthetic" for j in jobs):
        settings["synthetic"] = {"samples": synthetic.samples, "size": synthetic.size, "seed": synthetic.seed}
    failures = sorted({json.dumps(f, sort_keys=True): f for f in failures}.values(),
                      key=lambda f: (f["task"], f["benchmark"], f["sample_id"]))
    result = {
        "format_version": FORMAT_VERSION,
        "model": dict(description["model"]),
        "settings": settings,
        "run": run_info(started, utc_now(), time.perf_counter() - t0, world_size, cached),
        "scores": scores,
        "samples": samples,
        "failures": failures,
    }
    if thumbnails:
        from evaluation.gallery import GalleryDataset, render_thumbnails

        datasets = [GalleryDataset(p.job.spec, p.job.protocol, p.dataset, p.source) for p in plans]
        result["thumbnails"] = render_thumbnails(predictor, datasets, samples, per_dataset=thumbnails)
    _check_finite(result)
    return dict(validate_result(result))


def _check_finite(result: dict[str, Any]) -> None:
    for score in result["scores"]:
        for key in ("ci_low", "ci_high"):
            if score[key] is not None and not math.isfinite(score[key]):
                score[key] = None
