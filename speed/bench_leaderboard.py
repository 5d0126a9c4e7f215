"""Speed of the leaderboard views on a synthetic board: 1,000 models x 40 datasets (no browser rendering).

Prints one JSON object: the median wall time (ms) of building the table DataFrame and each chart's Figure object.
Targets (issue 5): table < 100 ms, each chart < 300 ms.

    python -m speed.bench_leaderboard [--models 1000] [--datasets 40] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from diception_spec.benchmarks import SA23_DATASETS
from leaderboard import board_html, charts, tables
from leaderboard.schema import RESULT_COLUMNS

log = logging.getLogger(__name__)


def synthetic_results(n_models: int = 1000, n_datasets: int = 40, *, seed: int = 0) -> pd.DataFrame:
    """A results frame (``RESULT_COLUMNS``) with ``n_models`` entries scored on ``n_datasets`` depth datasets.

    Mixed provenances (reported without interval, measured with one), two protocols, steps / guidance sweeps for
    DICEPTION entries, a few missing cells, plus point-segmentation and normal rows so that every chart has data.
    """
    rng = np.random.default_rng(seed)
    datasets = [f"dataset_{i:02d}" for i in range(n_datasets)]
    entries = np.arange(n_models)
    models = np.where(entries % 10 == 0, "DICEPTION", np.char.add("model_", (entries // 3).astype(str)))
    provenance = np.where(entries % 4 == 0, "reported", np.where(entries % 17 == 0, "self-submitted", "measured"))
    protocol = np.where(entries % 5 == 0, "depth-anything-disparity", "genpercept-affine")
    steps = np.where(models == "DICEPTION", rng.choice([1, 3, 7, 14, 28], n_models), np.nan)
    guidance = np.where(models == "DICEPTION", rng.choice([1.0, 2.0, 3.0], n_models), np.nan)

    e = np.repeat(entries, n_datasets)
    value = rng.uniform(0.03, 0.4, e.size)
    value[rng.random(e.size) < 0.01] = np.nan  # a few missing cells
    half = rng.uniform(0.002, 0.02, e.size)
    measured = provenance[e] != "reported"
    depth = pd.DataFrame(
        {
            "result_id": np.arange(e.size),
            "entry_id": np.char.add("entry_", e.astype(str)),
            "model": models[e],
            "variant": np.char.add("v", (e % 3).astype(str)),
            "model_type": np.where(e % 2 == 0, "generalist", "specialist"),
            "task": "depth",
            "benchmark": np.tile(datasets, n_models),
            "metric": "absrel",
            "value": value,
            "unit": "fraction",
            "higher_is_better": False,
            "protocol": protocol[e],
            "tier": np.where(measured, "standard", None),
            "steps": steps[e],
            "guidance": guidance[e],
            "ci_low": np.where(measured, value - half, np.nan),
            "ci_high": np.where(measured, value + half, np.nan),
            "provenance": provenance[e],
            "source": "synthetic",
            "note": "",
            "run_id": np.where(measured, e, -1),
            "hardware": None,
            "submission_id": None,
            "trained_on_benchmarks": np.where(e % 50 == 0, datasets[0], ""),
            "recorded_at": pd.Timestamp("2026-11-01", tz="UTC"),
            "params_millions": rng.uniform(10, 3000, n_models)[e],
            "train_images": 10 ** rng.uniform(4, 8, n_models)[e],
            "train_annotations": np.nan,
        }
    )
    extra = []
    for task, metric, hib, bench in (
        ("point_segmentation", "miou_1pt", True, "sa23"),
        ("normal", "mean_deg", False, "nyuv2"),
        ("pose", "ap", True, "coco_val2017"),
    ):
        rows = depth.loc[depth["benchmark"] == datasets[0]].copy()
        rows["task"], rows["metric"], rows["higher_is_better"], rows["benchmark"] = task, metric, hib, bench
        rows["protocol"] = "diception-paper" if task == "point_segmentation" else rows["protocol"]
        extra.append(rows)
    deltas = pd.DataFrame(
        {
            **{c: depth.iloc[0][c] for c in RESULT_COLUMNS},
            "task": "point_segmentation",
            "benchmark": list(SA23_DATASETS),
            "metric": "delta_iou_1pt_vs_sam_vit_h",
            "value": rng.normal(0, 8, len(SA23_DATASETS)),
            "unit": "percentage_points",
            "higher_is_better": True,
            "model": "DICEPTION",
            "protocol": "diception-paper",
        }
    )
    out = pd.concat([depth, *extra, deltas], ignore_index=True)
    out["result_id"] = np.arange(len(out))
    return out[list(RESULT_COLUMNS)]


def _median_ms(fn: Callable[[], Any], repeats: int) -> float:
    fn()  # warm-up (imports, caches)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 1)


def run(n_models: int, n_datasets: int, repeats: int) -> dict[str, Any]:
    results = synthetic_results(n_models, n_datasets)
    models = results.drop_duplicates("model")[["model", "train_images", "train_annotations", "params_millions"]]
    selected = ("entry_7", "entry_999")
    timings = {
        "table_dataframe": lambda: tables.task_table(results, "depth"),
        "table_one_protocol": lambda: tables.task_table(results, "depth", protocol="genpercept-affine"),
        "table_display": lambda: tables.display_table(tables.task_table(results, "depth")),
        "table_html": lambda: board_html.board_html(tables.task_table(results, "depth")),
        "chart_heatmap": lambda: charts.heatmap(results, "depth", selected=selected),
        "chart_grouped_bars": lambda: charts.grouped_bars(results, "depth", selected=selected),
        "chart_sam_delta": lambda: charts.sam_delta_chart(results),
        "chart_data_efficiency": lambda: charts.data_efficiency_chart(results, models, task="depth"),
        "chart_steps": lambda: charts.setting_chart(results, "depth", setting="steps"),
        "chart_guidance": lambda: charts.setting_chart(results, "depth", setting="guidance"),
        "chart_radar": lambda: charts.radar_chart(results, selected=selected),
    }
    report: dict[str, Any] = {
        "models": n_models,
        "datasets": n_datasets,
        "result_rows": len(results),
        "repeats": repeats,
        "python": platform.python_version(),
        "pandas": pd.__version__,
        "median_ms": {name: _median_ms(fn, repeats) for name, fn in timings.items()},
        "targets_ms": {"table_dataframe": 100, "charts": 300},
    }
    med = report["median_ms"]
    report["within_targets"] = med["table_dataframe"] < 100 and all(
        v < 300 for k, v in med.items() if k.startswith("chart_")
    )
    return report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--datasets", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO)
    print(json.dumps(run(args.models, args.datasets, args.repeats), indent=1))  # the benchmark's output


if __name__ == "__main__":
    main()
