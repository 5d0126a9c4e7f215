"""Leaderboard charts: every chart from the seed data, and no exception on empty or missing data."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from diception_spec.benchmarks import SA23_DATASETS
from diception_spec.metrics import METRICS
from leaderboard import charts, tables
from tests.leaderboard.frames import frame, measured_row, reported_models, reported_results


@pytest.fixture(scope="module")
def seed() -> pd.DataFrame:
    return reported_results()


def _annotations(fig: go.Figure) -> str:
    """Every visible text a figure carries besides its data: title (with its notes) and annotations."""
    text = " ".join([fig.layout.title.text or "", *(a.text for a in fig.layout.annotations)])
    return " ".join(re.sub(r"<[^>]+>", " ", text).split())


def _visible_texts(fig: go.Figure) -> list[str]:
    """Title, annotations, axis titles, tick and trace labels: what a reader sees (hover text excluded)."""
    layout = fig.layout
    texts = [layout.title.text or "", *(a.text for a in layout.annotations)]
    for axis in (getattr(layout, k) for k in dir(layout) if k.startswith(("xaxis", "yaxis"))):
        if axis is not None and axis.title is not None:
            texts.append(axis.title.text or "")
        texts += [str(t) for t in (getattr(axis, "ticktext", None) or ())]
    for trace in fig.data:
        texts.append(str(getattr(trace, "name", "") or ""))
        for key in ("x", "y", "theta"):
            values = getattr(trace, key, None)
            if values is not None and len(values) and isinstance(values[0], str):
                texts += list(values)
    return texts


def test_every_chart_builds_from_the_seed_data_for_every_task(seed: pd.DataFrame) -> None:
    models = reported_models()
    for task in tables.TASKS:
        figures = charts.task_charts(seed, models, task)
        assert set(figures) == {"heatmap", "main", "data_efficiency", "steps", "guidance", "radar"}
        assert all(isinstance(f, go.Figure) for f in figures.values())
        assert len(figures["main"].data) >= 1 and len(figures["radar"].data) >= 2, task
        figures["main"].to_json()  # serialisable


def test_grouped_bars_for_depth_and_normals(seed: pd.DataFrame) -> None:
    fig = charts.grouped_bars(seed, "depth")
    names = [t.name for t in fig.data]
    assert len(names) == 10 and fig.layout.barmode == "group"
    assert any(n.startswith("DICEPTION") for n in names) and any(n.startswith("Depth Anything") for n in names)
    assert list(fig.data[0].x) == ["KITTI", "NYUv2", "ScanNet", "DIODE", "ETH3D"]
    assert list(fig.data[0].customdata) == ["kitti", "nyuv2", "scannet", "diode", "eth3d"]  # ids on hover
    assert "genpercept-affine" in _annotations(fig) and "lower is better" in _annotations(fig)
    fig = charts.grouped_bars(seed, "normal", top_n=1, selected=["Marigold"])
    assert [t.name for t in fig.data] == ["StableNormal", "Marigold · normals"]


def test_grouped_bars_error_bars_from_intervals() -> None:
    rows = [measured_row(entry_id="a", model="A", benchmark=b, value=0.1, ci_low=0.08, ci_high=0.13)
            for b in ("kitti", "nyuv2")]  # fmt: skip
    fig = charts.grouped_bars(frame(rows), "depth")
    assert fig.data[0].error_y.visible and list(fig.data[0].error_y.array) == pytest.approx([0.03, 0.03])


def test_sam_delta_from_reported_rows(seed: pd.DataFrame) -> None:
    fig = charts.sam_delta_chart(seed)
    bars = fig.data[0]
    assert len(bars.x) == 23 and list(bars.y) == sorted(bars.y, reverse=True)
    assert bars.x[0] == "DRAM" and bars.y[0] == 18.8
    assert "as reported by the DICEPTION paper (Fig. 3)" in _annotations(fig)
    assert "delta_iou" not in " ".join(_visible_texts(fig))


def test_sam_delta_computed_from_per_dataset_rows_when_both_models_have_them() -> None:
    rows = []
    for i, dataset in enumerate(SA23_DATASETS[:5]):
        for model, variant, value in (("DICEPTION", "mt", 50 + i), ("SAM", "ViT-H", 48)):
            rows.append(measured_row(entry_id=f"{model}-{variant}", model=model, variant=variant,
                                     task="point_segmentation", benchmark=dataset, metric="miou_1pt",
                                     value=float(value), unit="percent", higher_is_better=True,
                                     protocol="sam-center-click"))  # fmt: skip
    fig = charts.sam_delta_chart(frame(rows))
    assert list(fig.data[0].y) == [6, 5, 4, 3, 2]
    assert "computed from both models' per-dataset" in _annotations(fig) and "Missing:" in _annotations(fig)


def test_data_efficiency_uses_task_samples_and_annotations(seed: pd.DataFrame) -> None:
    models = reported_models()
    fig = charts.data_efficiency_chart(seed, models, task="point_segmentation")
    points = {c[0]: x for trace in fig.data for c, x in zip(trace.customdata, trace.x, strict=True)}
    assert points == {"DICEPTION": 600_000, "SAM": 11_000_000}
    assert {t for trace in fig.data for t in trace.text} == {"DICEPTION", "SAM"}  # labelled on the plot
    assert fig.layout.xaxis.type == "log"
    fig = charts.data_efficiency_chart(seed, models, task="point_segmentation", basis="annotations")
    points = {c[0]: x for trace in fig.data for c, x in zip(trace.customdata, trace.x, strict=True)}
    assert points["SAM"] == 1_100_000_000
    # without a models frame the results' own columns are used
    fig = charts.data_efficiency_chart(seed, None, task="depth")
    assert sum(len(t.x) for t in fig.data) > 10 and "Depth Pro" in _annotations(fig)


def test_quality_vs_steps_and_guidance(seed: pd.DataFrame) -> None:
    fig = charts.setting_chart(seed, "depth", setting="steps")
    assert {t.name for t in fig.data} == {"KITTI", "NYUv2", "ScanNet", "DIODE", "ETH3D"}
    kitti = next(t for t in fig.data if t.name == "KITTI")
    assert list(kitti.x) == [1, 3, 7, 14, 28] and list(kitti.y) == [0.086, 0.083, 0.081, 0.077, 0.069]
    fig = charts.setting_chart(seed, "point_segmentation", setting="guidance")
    assert list(fig.data[0].x) == [1, 2, 3, 4, 5] and fig.data[0].y[1] == 47.12  # the ablation row wins
    assert "No denoising steps sweep" in _annotations(charts.setting_chart(seed, "pose", setting="steps"))


def test_radar_across_tasks(seed: pd.DataFrame) -> None:
    fig = charts.radar_chart(seed)
    dic = next(t for t in fig.data if t.name == "DICEPTION")
    assert len(dic.theta) == 7  # six tasks, closed
    assert all(0 < r <= 1 for r in dic.r if r is not None)
    rel = charts.relative_scores(seed)
    assert rel.groupby("task")["relative"].max().round(6).eq(1).all()
    fig = charts.radar_chart(seed, top_n=1, selected=["ViTPose"])
    assert [t.name for t in fig.data] == ["DICEPTION", "ViTPose"]


@pytest.mark.parametrize("bad", [None, pd.DataFrame(), tables.empty_results()])
def test_charts_survive_empty_input(bad) -> None:  # noqa: ANN001
    figures = [
        charts.grouped_bars(bad, "depth"),
        charts.sam_delta_chart(bad),
        charts.data_efficiency_chart(bad, None),
        charts.setting_chart(bad, "depth", setting="steps"),
        charts.setting_chart(bad, "depth", setting="guidance"),
        charts.radar_chart(bad),
        *charts.task_charts(bad, None, "normal").values(),
    ]
    for fig in figures:
        assert isinstance(fig, go.Figure) and len(fig.data) == 0 and _annotations(fig)


def test_charts_survive_nan_values_and_unknown_selection(seed: pd.DataFrame) -> None:
    holes = seed.copy()
    holes.loc[holes.index % 3 == 0, "value"] = np.nan
    holes.loc[holes.index % 5 == 0, "train_images"] = np.nan
    for task in tables.TASKS:
        for fig in charts.task_charts(holes, None, task, selected=["no such model", "nope"]).values():
            assert isinstance(fig, go.Figure)
    fig = charts.grouped_bars(holes, "depth")
    assert "missing score" in _annotations(fig)
    assert "Cannot draw" in _annotations(charts.setting_chart(seed, "depth", setting="speed"))


def test_charts_build_for_1000_models_40_datasets() -> None:
    from speed.bench_leaderboard import synthetic_results

    results = synthetic_results(1000, 40)
    for build in (lambda: charts.grouped_bars(results, "depth"), lambda: charts.radar_chart(results),
                  lambda: charts.setting_chart(results, "depth", setting="steps")):  # fmt: skip
        build()
        fig = build()
        assert len(fig.data) > 0


def test_heatmap_models_by_datasets_with_the_difference_to_the_specialist(seed: pd.DataFrame) -> None:
    fig = charts.heatmap(seed, "depth")
    scores, diff = fig.data
    assert list(scores.x) == ["KITTI", "NYUv2", "ScanNet", "DIODE", "ETH3D"]
    assert len(scores.y) == len(set(scores.y)) and any(y.startswith("DICEPTION · multi-task") for y in scores.y)
    assert sum(y.startswith("DICEPTION") for y in scores.y) == 1  # one row per model
    (label,) = diff.y
    assert label.startswith("DICEPTION − Depth Anything")
    table = tables.task_table(seed, "depth", protocol="genpercept-affine")
    ours = table.loc[table["variant"] == "multi-task, 28 steps, CFG 2"].iloc[0]
    ref = table.loc[(table["model"] == "Depth Anything")].iloc[0]
    assert float(diff.text[0][0]) == pytest.approx(float(f"{ours['kitti'] - ref['kitti']:.3g}"))
    assert (diff.z[0][0] > 0) == (ours["kitti"] < ref["kitti"])  # lower AbsRel is better: green (positive) then
    best = table["kitti"].min()
    row = list(scores.y).index("Metric3D · v2")
    assert table.loc[table["model"] == "Metric3D", "kitti"].iloc[0] == best and scores.z[row][0] == 1.0


def test_heatmap_for_sa23_falls_back_to_the_reported_differences_to_sam(seed: pd.DataFrame) -> None:
    fig = charts.heatmap(seed, "point_segmentation")
    (diff,) = fig.data
    assert list(diff.x) == [d for d in SA23_DATASETS if d in set(diff.x)] and len(diff.x) == 23
    assert list(diff.y) == ["DICEPTION − SAM ViT-H"] and diff.text[0][list(diff.x).index("DRAM")] == "+18.8"
    rows = []
    for dataset in SA23_DATASETS[:3]:
        for model, variant, value in (("DICEPTION", "multi-task", 50), ("SAM", "ViT-H", 48), ("HQ-SAM", "ViT-H", 49)):
            rows.append(measured_row(entry_id=f"{model}-{variant}", model=model, variant=variant, value=float(value),
                                     task="point_segmentation", benchmark=dataset, metric="miou_1pt", unit="percent",
                                     higher_is_better=True, protocol="sam-center-click"))  # fmt: skip
    scores, diff = charts.heatmap(frame(rows), "point_segmentation").data
    assert len(scores.y) == 3 and list(diff.text[0]) == ["+2", "+2", "+2"]


def test_no_internal_ids_or_clipped_titles_in_visible_text(seed: pd.DataFrame) -> None:
    ids = [m for m in METRICS if "_" in m or m in ("absrel", "rmse")]
    for task in tables.TASKS:
        for key, fig in charts.task_charts(seed, reported_models(), task).items():
            visible = " ".join(_visible_texts(fig))
            assert not [i for i in ids if i in visible.replace("DICEPTION − ", "")], (task, key)
            for line in (fig.layout.title.text or "").split("<br>"):
                plain = re.sub(r"<[^>]+>", "", line)
                assert len(plain) <= charts.NOTE_CHARS, (task, key, plain)


def test_log_axis_ticks_only_at_powers_of_ten(seed: pd.DataFrame) -> None:
    fig = charts.data_efficiency_chart(seed, reported_models(), task="depth")
    axis = fig.layout.xaxis
    assert axis.type == "log" and axis.minor.ticks == ""
    assert all(float(np.log10(v)).is_integer() for v in axis.tickvals)
    assert "1M" in axis.ticktext and "1B" in axis.ticktext
    assert all(t.cliponaxis is False for t in fig.data)  # a name at the edge is not cut
    steps = charts.setting_chart(seed, "depth", setting="steps").layout.xaxis
    assert list(steps.tickvals) == [1, 3, 7, 14, 28] and list(steps.ticktext) == ["1", "3", "7", "14", "28"]
