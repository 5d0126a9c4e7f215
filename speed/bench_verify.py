"""Size and speed of what makes leaderboard rows checkable: thumbnails per run, a store of 1,000 runs, the views.

Prints one JSON object with three parts:

1. ``thumbnails``: bytes of real thumbnails (tiny SAM re-predicting SA-1B fixture masks, ``../shared/fixtures/sa1b``;
   the synthetic benchmark's scenes without it), per item and for a run shaped like SA-23 (23 datasets x 4 worst +
   4 best), rendered through ``evaluation.gallery`` with the per-run budget; and a worst case (incompressible noise
   images of 1024 px, 23 datasets) showing the budget holding.
2. ``store``: ``--runs`` runs recorded into a fresh SQLite store, each with ``--items`` scored items (per-item metric
   values as the runner writes them, raw values included) and one dataset's real thumbnails; every fifth run
   re-measures an earlier entry, so its predecessor's thumbnails are pruned. Reports the time per run, the file size,
   bytes per run and the largest run's thumbnails (bound: ``THUMBNAIL_MAX_BYTES``).
3. ``views``: median wall time over ``--repeats`` on that store of one entry's checks (``verify.load_entry_checks``),
   a comparison of two entries, the reproduce column over every measured entry, and a SQLite snapshot.

    python -m speed.bench_verify [--runs 1000] [--items 500] [--repeats 5] [--keep DB_PATH]
"""

from __future__ import annotations

import argparse
import base64
import json
import logging
import platform
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO.parent / "shared" / "fixtures"
ROLES = ("input", "truth", "prediction")


def _median_ms(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return round(1000 * statistics.median(times), 2)


def _item_bytes(item: dict[str, Any]) -> int:
    return sum(len(base64.b64decode(item[r])) for r in ROLES)


# --------------------------------------------------------------------------------------------------------------------
# 1. thumbnails
# --------------------------------------------------------------------------------------------------------------------


class _FixtureSource:
    """SA-1B fixture images and their first masks, as the runner's sources load them (one image kept at a time)."""

    def __init__(self, folder: Path, masks_per_image: int) -> None:
        self.folder = folder
        self.masks_per_image = masks_per_image
        self._cached: Any = None

    def image_ids(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob("sa_*.json"))

    def load(self, sample_id: str) -> Any:
        from PIL import Image

        from evaluation.data.converters import decode_rle
        from evaluation.runner import _Sample

        if self._cached is None or self._cached.sample_id != sample_id:
            data = json.loads((self.folder / f"{sample_id}.json").read_text())
            with Image.open(self.folder / data["image"]["file_name"]) as img:
                image = np.array(img.convert("RGB"))
            masks = {str(a["id"]): decode_rle(a["segmentation"]) for a in data["annotations"][:self.masks_per_image]}
            self._cached = _Sample(sample_id, image, masks=masks)
        return self._cached


def _scored_records(predictor: Any, source: Any, dataset: str) -> list[dict[str, Any]]:
    """Records as the runner leaves them under ``random-points``: the points and the item's metric value."""
    from diception_spec.scoring import mask_iou
    from evaluation.protocols import random_points

    records = []
    for sample_id in source.image_ids():
        sample = source.load(sample_id)
        for mask_id, gt in sample.masks.items():
            points = random_points(gt, 5, benchmark=dataset, sample_id=sample_id, mask_id=mask_id)
            (pred,) = predictor.predict_masks(sample.image, [points], sample_id=sample_id, mask_ids=[mask_id])
            records.append({"task": "point_segmentation", "benchmark": dataset, "sample_id": sample_id,
                            "mask_id": mask_id, "values": {"points": points},
                            "metrics": {"miou_5pt_random": 100.0 * mask_iou(pred, gt)}})
    return records


def bench_thumbnails(datasets: int, per_dataset: int) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Real thumbnails of an SA-23-shaped run; returns the report and one dataset's items (for the store part)."""
    import torch

    from diception_spec.benchmarks import SA23_DATASETS, get_benchmark
    from diception_spec.results import THUMBNAIL_MAX_BYTES
    from evaluation.gallery import GalleryDataset, render_thumbnails
    from evaluation.predictors import SamPredictor

    torch.set_num_threads(1)
    spec = get_benchmark("point_segmentation", "sa23")
    predictor = SamPredictor.tiny(device="cpu")
    folder = FIXTURES / "sa1b"
    if any(folder.glob("sa_*.json")):
        source: Any = _FixtureSource(folder, masks_per_image=6)
        origin = f"SA-1B fixture ({len(source.image_ids())} images, 1500 px shorter side), tiny SAM predictions"
    else:
        from evaluation.runner import SyntheticOptions, _SyntheticSource

        source = _SyntheticSource(get_benchmark("point_segmentation", "synthetic"), SyntheticOptions(8, 512))
        origin = "synthetic scenes of 512 px (no SA-1B fixture), tiny SAM predictions"
    names = list(SA23_DATASETS[:datasets])
    base = _scored_records(predictor, source, names[0])
    records = [{**r, "benchmark": name} for name in names for r in base]  # the same items in every dataset
    start = time.perf_counter()
    rendered = render_thumbnails(predictor, [GalleryDataset(spec, "random-points", n, source) for n in names],
                                 records, per_dataset=per_dataset)
    seconds = time.perf_counter() - start
    sizes = [_item_bytes(i) for i in rendered["items"]]
    by_role = {r: round(statistics.mean(len(base64.b64decode(i[r])) for i in rendered["items"])) for r in ROLES}
    one_dataset = [i for i in rendered["items"] if i["benchmark"] == names[0]]

    # Worst case: noise does not compress; a run of this shape must still stay within the budget.
    rng = np.random.default_rng(0)

    class Noise:
        kind, negative_points, max_points = "bench", False, None

        def predict_masks(self, image: np.ndarray, point_sets: list, **_: Any) -> list[np.ndarray]:
            return [rng.random(image.shape[:2]) < 0.5 for _ in point_sets]

    class NoiseSource:
        def load(self, sample_id: str) -> Any:
            from evaluation.runner import _Sample

            image = rng.integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
            return _Sample(sample_id, image, masks={"0": rng.random((1024, 1024)) < 0.5})

    noise_records = [{"task": "point_segmentation", "benchmark": n, "sample_id": f"noise{k}", "mask_id": "0",
                      "values": {"points": [[512.0, 512.0]]}, "metrics": {"miou_5pt_random": float(k)}}
                     for n in names for k in range(2 * per_dataset)]
    quiet = logging.getLogger("evaluation.gallery")
    level, quiet.level = quiet.level, logging.ERROR  # noise predictions differ from the made-up scores: expected
    worst = render_thumbnails(Noise(), [GalleryDataset(spec, "random-points", n, NoiseSource()) for n in names],
                              noise_records, per_dataset=per_dataset)
    quiet.setLevel(level)
    report = {
        "origin": origin,
        "max_side_px": rendered["max_side"],
        "bytes_per_item_mean": round(statistics.mean(sizes)), "bytes_per_item_max": max(sizes),
        "bytes_per_image_mean": by_role,
        "sa23_shaped_run": {"datasets": len(names), "per_dataset": per_dataset, "items": len(rendered["items"]),
                            "dropped": len(rendered["dropped"]), "bytes": rendered["bytes"],
                            "render_seconds": round(seconds, 1)},
        "noise_worst_case_run": {"items": len(worst["items"]), "dropped": len(worst["dropped"]),
                                 "bytes": worst["bytes"]},
        "budget_bytes": THUMBNAIL_MAX_BYTES,
    }
    return report, one_dataset


# --------------------------------------------------------------------------------------------------------------------
# 2. a store of many runs, 3. the views on it
# --------------------------------------------------------------------------------------------------------------------


def _result(i: int, entry: int, items: int, thumbnails: list[dict[str, Any]], rng: np.random.Generator) -> dict:
    from diception_spec.benchmarks import SA23_DATASETS

    dataset = SA23_DATASETS[entry % len(SA23_DATASETS)]
    ious = np.clip(rng.normal(0.6, 0.25, (items, 5)), 0, 1)
    samples = [
        {"task": "point_segmentation", "benchmark": dataset, "sample_id": f"sa_{k // 4:06d}", "mask_id": str(k % 4),
         "values": {"ious": ious[k].round(6).tolist(), "clicks": [[100 + c, 200 + c, 1] for c in range(5)]},
         "metrics": {"miou_1pt": 100 * ious[k, 0], "miou_2pt": 100 * ious[k, 1], "miou_3pt": 100 * ious[k, 2],
                     "miou_5pt": 100 * ious[k, 4], "noc85": float(rng.integers(1, 21)),
                     "noc90": float(rng.integers(1, 21))},
         "seconds": 0.5}
        for k in range(items)
    ]
    scores = [{"task": "point_segmentation", "benchmark": dataset, "metric": m, "value": float(np.mean(
        [s["metrics"][m] for s in samples])), "unit": "clicks" if m.startswith("noc") else "percent",
        "higher_is_better": not m.startswith("noc"), "protocol": "sam-center-click-positive-only", "tier": "standard",
        "ci_low": None, "ci_high": None, "n": items, "note": ""} for m in samples[0]["metrics"]]
    job = {"task": "point_segmentation", "benchmark": dataset, "version": "1", "data_revision": "sam-resample-seed0",
           "protocol": "sam-center-click-positive-only", "n_items": items}
    return {
        "format_version": 1,
        "model": {"name": "DICEPTION", "variant": f"bench entry {entry}", "kind": "diception",
                  "model_type": "generalist", "revision": "bench"},
        "settings": {"steps": 28, "guidance": 2.0, "seed": 42, "tier": "standard", "model_id": "./diception-model",
                     "dtype": "bfloat16", "adapter": None, "benchmarks": [job]},
        "run": {"started_at": "2026-12-01T00:00:00+00:00", "finished_at": "2026-12-01T01:00:00+00:00",
                "hardware": "bench", "host": "bench", "packages": {}, "code_version": "src-0000000000000000",
                "git_commit": None},
        "scores": scores, "samples": samples, "failures": [],
        "thumbnails": {"media_type": "image/webp", "max_side": 256, "per_dataset": 4, "bytes": 0, "dropped": [],
                       "items": [{**t, "benchmark": dataset} for t in thumbnails]},
    }


def bench_store(runs: int, items: int, thumbnails: list[dict[str, Any]], repeats: int,
                keep: Path | None) -> dict[str, Any]:
    from diception_spec.results import THUMBNAIL_MAX_BYTES
    from leaderboard import verify
    from leaderboard.backup import snapshot
    from leaderboard.settings import Settings
    from leaderboard.store import Store

    work = Path(tempfile.mkdtemp(prefix="bench_verify_"))
    db = keep or work / "board.db"
    db.unlink(missing_ok=True)
    rng = np.random.default_rng(0)
    entries = max(1, runs - runs // 5)  # every fifth run re-measures an earlier entry
    with Store(f"sqlite:///{db}", settings=Settings()) as store:
        start = time.perf_counter()
        for i in range(runs):
            store.record_evaluation(_result(i, i if i < entries else i % entries, items, thumbnails, rng))
        record_s = time.perf_counter() - start
        sizes = store.thumbnails_frame()
        results = store.results_frame()
        measured = results[results["provenance"] == "measured"]
        ids = measured["entry_id"].drop_duplicates().tolist()
        table = measured.drop_duplicates("entry_id")[["entry_id", "model", "variant"]]
        all_runs = store.run_summaries()
        views = {
            "entry_checks_ms": _median_ms(lambda: verify.load_entry_checks(store, results, ids[0]), repeats),
            "compare_two_entries_ms": _median_ms(lambda: verify.load_comparison(store, results, ids[0], ids[1]),
                                                 repeats),
            "run_summaries_all_runs_ms": _median_ms(store.run_summaries, repeats),
            "reproduce_column_all_entries_ms": _median_ms(lambda: verify.reproduce_column(table, results, all_runs),
                                                          repeats),
        }
    start = time.perf_counter()
    copy = snapshot(db, work / "snapshot.db")
    views["sqlite_snapshot_s"] = round(time.perf_counter() - start, 2)
    size = db.stat().st_size
    with sqlite3.connect(db) as conn:  # bytes per table and index (SQLite's dbstat)
        tables = dict(conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 6"))
    report = {
        "runs": runs, "entries": entries, "items_per_run": items,
        "record_ms_per_run": round(1000 * record_s / runs, 1),
        "runs_with_thumbnails": len(sizes), "thumbnail_bytes_per_run_max": int(sizes["bytes"].max()),
        "thumbnail_bytes_total": int(sizes["bytes"].sum()), "budget_bytes_per_run": THUMBNAIL_MAX_BYTES,
        "within_budget": bool(sizes["bytes"].max() <= THUMBNAIL_MAX_BYTES),
        "database_bytes": size, "database_bytes_per_run": round(size / runs), "largest_tables_bytes": tables,
        "snapshot_bytes": copy.stat().st_size,
        "views": views,
    }
    copy.unlink()
    if keep is None:
        db.unlink()
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--items", type=int, default=500, help="scored items per run (standard tier ~500)")
    parser.add_argument("--datasets", type=int, default=23, help="datasets of the SA-23-shaped run")
    parser.add_argument("--per-dataset", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--keep", type=Path, help="keep the benchmark store at this path")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    thumbs, one_dataset = bench_thumbnails(args.datasets, args.per_dataset)
    store = bench_store(args.runs, args.items, one_dataset, args.repeats, args.keep)
    print(json.dumps({"python": platform.python_version(), "machine": platform.machine(), "thumbnails": thumbs,
                      "store": store}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
