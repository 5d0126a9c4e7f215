"""Leaderboard charts: pure ``results frame -> plotly Figure`` functions (``schema.RESULT_COLUMNS``).

Every chart shows the top ``top_n`` entries of one protocol (never mixing protocols) plus the user's ``selected``
entries (entry ids or model names), and survives missing data: an empty frame, NaN values or unknown models give a
figure carrying an explanatory annotation, never an exception.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from diception_spec.benchmarks import SA23_DATASETS, aggregate_members
from diception_spec.tasks import Task
from leaderboard import tables
from leaderboard.schema import RESULT_COLUMNS

log = logging.getLogger(__name__)

DICEPTION = "DICEPTION"
SAM_MODEL, SAM_VARIANT = "SAM", "ViT-H"
SAM_DELTA_METRIC = "delta_iou_1pt_vs_sam_vit_h"
# DICEPTION's training samples per task, from reported_models.csv's note (1.8M samples in all); used for the
# data-efficiency chart, where its total would overstate the data behind one task.
DICEPTION_TASK_SAMPLES: Mapping[str, float] = {
    task.value: samples
    for task, samples in (
        (Task.POINT_SEGMENTATION, 600_000), (Task.DEPTH, 500_000), (Task.NORMAL, 500_000), (Task.POSE, 42_000),
        (Task.SEMANTIC_SEGMENTATION, 120_000), (Task.ENTITY_SEGMENTATION, 32_000),
    )
}  # fmt: skip
SETTINGS = ("steps", "guidance")
# No named template: assigning one deep-copies it (~25 ms per figure); plain colours instead.
_LAYOUT = dict(
    paper_bgcolor="white",
    plot_bgcolor="white",
    margin=dict(l=60, r=20, t=60, b=60),
    legend=dict(font=dict(size=10)),
)


def message_figure(message: str, *, title: str = "") -> go.Figure:
    """An empty figure that says why there is nothing to plot."""
    fig = go.Figure()
    fig.add_annotation(text=message, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False, font=dict(size=14))
    fig.update_layout(title=title, xaxis=dict(visible=False), yaxis=dict(visible=False), **_LAYOUT)
    return fig


def _survives(title: str) -> Callable[[Callable[..., go.Figure]], Callable[..., go.Figure]]:
    """Turn malformed input (missing columns, wrong types) into a message figure instead of an exception."""

    def wrap(fn: Callable[..., go.Figure]) -> Callable[..., go.Figure]:
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> go.Figure:
            try:
                return fn(*args, **kwargs)
            except (KeyError, ValueError, TypeError, IndexError) as exc:
                log.warning("chart %s could not be built: %s", fn.__name__, exc)
                return message_figure(f"Cannot draw this chart: {exc}", title=title)

        return inner

    return wrap


def _usable(results: pd.DataFrame | None) -> pd.DataFrame:
    if results is None or not isinstance(results, pd.DataFrame):
        return tables.empty_results()
    missing = [c for c in RESULT_COLUMNS if c not in results.columns]
    if missing:
        raise KeyError(f"results frame lacks columns {missing}")
    return results


def _label(model: Any, variant: Any) -> str:
    variant = "" if variant is None or (isinstance(variant, float) and math.isnan(variant)) else str(variant)
    return f"{model} · {variant}" if variant else str(model)


def _pick_rows(table: pd.DataFrame, selected: Sequence[str], top_n: int) -> pd.DataFrame:
    """The first ``top_n`` rows of a ranked table plus the rows whose entry id or model is in ``selected``."""
    if not len(table):
        return table
    chosen = np.zeros(len(table), dtype=bool)
    chosen[: max(top_n, 0)] = True
    if selected:
        wanted = set(selected)
        chosen |= table["entry_id"].isin(wanted).to_numpy() | table["model"].isin(wanted).to_numpy()
    return table.loc[chosen]


def _title(task: str, metric: str, protocol: str | None, hib: bool) -> str:
    direction = "↑ higher is better" if hib else "↓ lower is better"
    return f"{tables.TASK_LABELS.get(task, task)} · {metric} ({direction}) · protocol {protocol}"


# --------------------------------------------------------------------------------------------- grouped bars


@_survives("Per-dataset scores")
def grouped_bars(
    results: pd.DataFrame,
    task: str,
    *,
    metric: str | None = None,
    protocol: str | None = None,
    selected: Sequence[str] = (),
    top_n: int = 20,
) -> go.Figure:
    """Grouped bars per dataset (x) for the top entries of one protocol (depth and normals: DICEPTION vs Depth
    Anything vs Marigold ...). Error bars show measured rows' 95% intervals."""
    results = _usable(results)
    metric = metric or tables.main_metric(results, task)
    protocol = protocol or tables.default_protocol(results, task, metric)
    title = "Per-dataset scores"
    if protocol is None:
        return message_figure(f"No {tables.TASK_LABELS.get(task, task)} results with {metric} yet.", title=title)
    table = tables.task_table(results, task, metric=metric, protocol=protocol)
    rows = _pick_rows(table, selected, top_n)
    benchmarks = [b for b in table.attrs.get("benchmarks", []) if b not in aggregate_members(task)]
    if not len(rows) or not benchmarks:
        return message_figure(f"No per-dataset {metric} results under {protocol}.", title=title)
    hib = bool(table.attrs["higher_is_better"])
    fig = go.Figure()
    for rec in rows.to_dict(orient="records"):
        y = [rec[b] for b in benchmarks]
        err_plus, err_minus, any_ci = [], [], False
        for b, v in zip(benchmarks, y, strict=True):
            lo, hi = _interval(rec.get(b + tables.CI_LOW), rec.get(b + tables.CI_HIGH))
            any_ci |= lo is not None
            err_plus.append(hi - v if hi is not None and v == v else 0.0)
            err_minus.append(v - lo if lo is not None and v == v else 0.0)
        fig.add_trace(
            go.Bar(
                name=_label(rec["model"], rec["variant"]),
                x=benchmarks,
                y=y,
                error_y=dict(type="data", array=err_plus, arrayminus=err_minus, visible=any_ci),
                hovertemplate="%{x}: %{y:.4g}<extra>%{fullData.name}</extra>",
            )
        )
    fig.update_layout(
        title=_title(task, metric, protocol, hib),
        barmode="group",
        xaxis_title="dataset",
        yaxis_title=f"{metric} ({table.attrs.get('unit', '')})",
        **_LAYOUT,
    )
    missing = rows[benchmarks].isna().to_numpy().sum()
    if missing:
        fig.add_annotation(
            text=f"{missing} missing score(s) left blank", x=1, y=1.05, xref="paper", yref="paper", showarrow=False
        )
    return fig


def _interval(low: Any, high: Any) -> tuple[float | None, float | None]:
    try:
        lo, hi = float(low), float(high)
    except (TypeError, ValueError):
        return None, None
    if math.isnan(lo) or math.isnan(hi):
        return None, None
    return lo, hi


# --------------------------------------------------------------------------------------------- delta vs SAM


def _pick_entry(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of the entry with the most rows (latest on ties)."""
    counts = rows.groupby("entry_id").size()
    best = counts[counts == counts.max()].index
    if len(best) > 1 and rows["recorded_at"].notna().any():
        latest = rows.loc[rows["entry_id"].isin(best)].sort_values("recorded_at")["entry_id"].iloc[-1]
        return rows.loc[rows["entry_id"] == latest]
    return rows.loc[rows["entry_id"] == best[0]]


@_survives("DICEPTION vs SAM ViT-H per dataset")
def sam_delta_chart(results: pd.DataFrame, *, model: str = DICEPTION) -> go.Figure:
    """``model``'s per-dataset 1-click IoU minus SAM ViT-H's on the 23 SA-23 datasets, sorted, under one protocol.

    Uses per-dataset ``miou_1pt`` rows of both models under a shared protocol when there are any (measured),
    otherwise the reported ``delta_iou_1pt_vs_sam_vit_h`` rows (read from the DICEPTION paper's Fig. 3).
    """
    results = _usable(results)
    title = f"{model} vs SAM ViT-H, 1-click mIoU per dataset"
    sa23 = set(SA23_DATASETS)
    seg = results.loc[tables._mask(results, task="point_segmentation")]
    seg = seg.loc[seg["benchmark"].isin(sa23)]
    deltas: pd.Series | None = None
    source, protocol = "", ""
    ious = seg.loc[seg["metric"] == "miou_1pt"]
    ours_all = ious.loc[ious["model"] == model]
    sam_all = ious.loc[(ious["model"] == SAM_MODEL) & (ious["variant"] == SAM_VARIANT)]
    shared = sorted(set(ours_all["protocol"]) & set(sam_all["protocol"]))
    if shared:
        protocol = max(shared, key=lambda p: (ours_all["protocol"] == p).sum())
        ours = _pick_entry(ours_all.loc[ours_all["protocol"] == protocol]).groupby("benchmark")["value"].last()
        sam = _pick_entry(sam_all.loc[sam_all["protocol"] == protocol]).groupby("benchmark")["value"].last()
        deltas = (ours - sam).dropna()
        source = "computed from per-dataset miou_1pt rows"
    if deltas is None or deltas.empty:
        rows = seg.loc[(seg["metric"] == SAM_DELTA_METRIC) & (seg["model"] == model)]
        if len(rows):
            rows = _pick_entry(rows)
            protocol = str(rows["protocol"].iloc[0])
            deltas = rows.groupby("benchmark")["value"].last().dropna()
            source = f"reported {SAM_DELTA_METRIC} rows"
    if deltas is None or deltas.empty:
        return message_figure(f"No per-dataset 1-click results for {model} and SAM ViT-H yet.", title=title)
    deltas = deltas.astype(float).sort_values(ascending=False)
    colours = np.where(deltas.to_numpy() >= 0, "#2a9d8f", "#e76f51")
    fig = go.Figure(
        go.Bar(
            x=deltas.index.tolist(),
            y=deltas.to_numpy(),
            marker_color=colours.tolist(),
            hovertemplate="%{x}: %{y:+.1f} points<extra></extra>",
        )
    )
    wins = int((deltas > 0).sum())
    fig.update_layout(
        title=f"{title} · protocol {protocol}",
        xaxis_title="dataset (SA-23)",
        yaxis_title="Δ IoU (percentage points)",
        **_LAYOUT,
    )
    missing = sorted(sa23 - set(deltas.index))
    note = f"{wins}/{len(deltas)} datasets above SAM; mean {deltas.mean():+.1f}; {source}"
    if missing:
        note += f"; missing: {', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}"
    fig.add_annotation(text=note, x=0, y=1.06, xref="paper", yref="paper", showarrow=False, xanchor="left")
    return fig


# --------------------------------------------------------------------------------------------- data efficiency


def _best_per_model(table: pd.DataFrame) -> pd.DataFrame:
    """One row per model: its best-ranked entry (tables are sorted best first within a protocol)."""
    score_col = table.attrs.get("rank_by", "average")
    ranked = table.loc[table[score_col].notna()] if score_col in table else table.iloc[0:0]
    return ranked.drop_duplicates("model", keep="first").assign(_score=lambda d: d[score_col])


@_survives("Data efficiency")
def data_efficiency_chart(
    results: pd.DataFrame,
    models: pd.DataFrame | None = None,
    *,
    task: str = "point_segmentation",
    metric: str | None = None,
    protocol: str | None = None,
    basis: str = "images",
    selected: Sequence[str] = (),
    top_n: int = 20,
) -> go.Figure:
    """Training-set size (log x) against score: each model's best entry under one protocol.

    ``basis="images"`` uses training images (DICEPTION: its samples for this task); ``"annotations"`` uses
    annotation counts (SAM: 1.1B masks) where known, images otherwise (marked by the symbol). Sizes come from
    ``models`` (columns ``model``, ``train_images``, ``train_annotations``) or else the results' own columns.
    """
    results = _usable(results)
    if basis not in ("images", "annotations"):
        raise ValueError(f"basis must be 'images' or 'annotations', got {basis!r}")
    title = "Data efficiency"
    metric = metric or tables.main_metric(results, task)
    protocol = protocol or tables.default_protocol(results, task, metric)
    if protocol is None:
        return message_figure(f"No {tables.TASK_LABELS.get(task, task)} results yet.", title=title)
    table = tables.task_table(results, task, metric=metric, protocol=protocol)
    best = _best_per_model(table)
    keep = set(best["model"].head(top_n)) | set(selected)
    keep |= set(best.loc[best["entry_id"].isin(set(selected)), "model"])
    best = best.loc[best["model"].isin(keep)]
    if not len(best):
        return message_figure(f"No scored models under {protocol}.", title=title)

    sizes = _training_sizes(results, models)
    images = best["model"].map(sizes["train_images"]).astype(float)
    annotations = best["model"].map(sizes["train_annotations"]).astype(float)
    is_dic = (best["model"] == DICEPTION).to_numpy()
    if task in DICEPTION_TASK_SAMPLES:
        images = images.where(~is_dic, DICEPTION_TASK_SAMPLES[task])
    if basis == "annotations":
        x = annotations.where(annotations.notna(), images)
        kind = np.where(annotations.notna(), "annotations", "images")
    else:
        x, kind = images, np.full(len(best), "images")
    kind = np.where(is_dic & (kind == "images"), "samples for this task", kind)
    has_x = x.notna() & (x > 0)
    fig = go.Figure()
    for k, symbol in (("images", "circle"), ("annotations", "diamond"), ("samples for this task", "star")):
        m = has_x.to_numpy() & (kind == k)
        if not m.any():
            continue
        sub = best.loc[m]
        fig.add_trace(
            go.Scatter(
                x=x[m].to_numpy(dtype=float),
                y=sub["_score"].to_numpy(dtype=float),
                mode="markers+text",
                name=f"training {k}",
                text=sub["model"].astype(str).tolist(),
                textposition="top center",
                marker=dict(symbol=symbol, size=11),
                customdata=np.stack([sub["variant"].astype(str), x[m].map("{:,.0f}".format)], axis=-1),
                hovertemplate=(
                    f"%{{text}} %{{customdata[0]}}<br>%{{customdata[1]}} {k}<br>score %{{y:.4g}}<extra></extra>"
                ),
            )
        )
    hib = bool(table.attrs["higher_is_better"])
    fig.update_layout(
        title=f"{title}: {_title(task, metric, protocol, hib)}",
        xaxis=dict(type="log", title=f"training {basis} (log scale)"),
        yaxis_title=f"{metric} ({table.attrs.get('unit', '')})",
        **_LAYOUT,
    )
    without = best.loc[~has_x.to_numpy(), "model"].tolist()
    if without:
        fig.add_annotation(
            text=f"no training-set size: {', '.join(without[:8])}{' ...' if len(without) > 8 else ''}",
            x=0, y=-0.18, xref="paper", yref="paper", showarrow=False, xanchor="left",
        )  # fmt: skip
    if not has_x.any():
        fig.add_annotation(text="No training-set sizes known for these models.", x=0.5, y=0.5, xref="paper",
                           yref="paper", showarrow=False)  # fmt: skip
    return fig


def _training_sizes(results: pd.DataFrame, models: pd.DataFrame | None) -> pd.DataFrame:
    cols = ["train_images", "train_annotations"]
    source = models if models is not None and len(models) and "model" in models else results
    frame = source.reindex(columns=["model", *cols]).dropna(subset=["model"])
    frame[cols] = frame[cols].apply(pd.to_numeric, errors="coerce")
    return frame.groupby("model")[cols].first()  # the first known value per model (any variant row)


# --------------------------------------------------------------------------------------------- steps / guidance


def _sweep_rows(rows: pd.DataFrame, setting: str) -> pd.DataFrame:
    """The rows of one sweep: the other setting fixed at its most common value. At each setting value the seed
    data's ablation rows of this sweep win (variant "ablation steps=..." / "ablation CFG=..."), then other
    ablation rows, then multi-task entries, then the rest."""
    other = "guidance" if setting == "steps" else "steps"
    rows = rows.assign(
        steps=pd.to_numeric(rows["steps"], errors="coerce"), guidance=pd.to_numeric(rows["guidance"], errors="coerce")
    ).dropna(subset=["steps", "guidance", "value"])
    if not len(rows):
        return rows
    fixed = rows[other].mode().iloc[0]
    rows = rows.loc[rows[other] == fixed]
    variant = rows["variant"].fillna("").astype(str).str.lower()
    ablation = variant.str.startswith("ablation")
    this_sweep = ablation & variant.str.contains("steps=" if setting == "steps" else "cfg=", regex=False)
    priority = np.select([this_sweep, ablation, variant.str.contains("multi-task", regex=False)], [0, 1, 2], 3)
    rows = rows.assign(_priority=priority).sort_values(["_priority", "recorded_at"], ascending=[True, False])
    return rows.drop_duplicates(["benchmark", setting], keep="first").sort_values(setting)


@_survives("Quality vs settings")
def setting_chart(
    results: pd.DataFrame,
    task: str,
    *,
    setting: str = "steps",
    model: str = DICEPTION,
    metric: str | None = None,
    protocol: str | None = None,
    benchmarks: Sequence[str] | None = None,
) -> go.Figure:
    """Quality against denoising steps (``setting="steps"``) or CFG scale (``"guidance"``) from ablation rows:
    one line per dataset, the other setting held at its most common value, one protocol."""
    results = _usable(results)
    if setting not in SETTINGS:
        raise ValueError(f"setting must be one of {SETTINGS}, got {setting!r}")
    label = "denoising steps" if setting == "steps" else "guidance (CFG scale)"
    title = f"{model}: quality vs {label}"
    metric = metric or tables.main_metric(results, task)
    rows = results.loc[tables._mask(results, task=task, metric=metric, model=model)]
    if protocol is None and len(rows):
        protocol = rows["protocol"].mode().iloc[0]
    rows = rows.loc[rows["protocol"] == protocol]
    if benchmarks:
        rows = rows.loc[rows["benchmark"].isin(list(benchmarks))]
    sweep = _sweep_rows(rows, setting)
    if not len(sweep) or sweep[setting].nunique() < 2:
        return message_figure(f"No {label} sweep for {model} on {tables.TASK_LABELS.get(task, task)} ({metric}).",
                              title=title)  # fmt: skip
    other = "guidance" if setting == "steps" else "steps"
    fixed = sweep[other].iloc[0]
    fig = go.Figure()
    for bench in tables._order_benchmarks(task, sweep["benchmark"].unique()):
        line = sweep.loc[sweep["benchmark"] == bench]
        fig.add_trace(
            go.Scatter(
                x=line[setting].to_numpy(), y=line["value"].to_numpy(dtype=float), mode="lines+markers",
                name=str(bench), customdata=line["variant"].fillna("").astype(str).tolist(),
                hovertemplate=f"{bench}<br>{setting} %{{x}}: %{{y:.4g}}<br>%{{customdata}}<extra></extra>",
            )
        )  # fmt: skip
    hib = tables.higher_is_better(results, metric)
    fig.update_layout(
        title=f"{title} ({other} {fixed:g}) · {metric} {'↑' if hib else '↓'} · protocol {protocol}",
        xaxis=dict(title=label, type="log" if setting == "steps" else "linear"),
        yaxis_title=f"{metric} ({sweep['unit'].iloc[0]})",
        **_LAYOUT,
    )
    return fig


def steps_chart(results: pd.DataFrame, task: str, **kwargs: Any) -> go.Figure:
    """Quality vs denoising steps (see ``setting_chart``)."""
    return setting_chart(results, task, setting="steps", **kwargs)


def guidance_chart(results: pd.DataFrame, task: str, **kwargs: Any) -> go.Figure:
    """Quality vs CFG scale (see ``setting_chart``)."""
    return setting_chart(results, task, setting="guidance", **kwargs)


# --------------------------------------------------------------------------------------------- radar


def relative_scores(results: pd.DataFrame) -> pd.DataFrame:
    """Per model and task: its best score in the task's default protocol relative to the best model there (1 = best;
    ``score / best`` when higher is better, ``best / score`` when lower is). Columns: model, task, protocol,
    score, relative."""
    results = _usable(results)
    parts = []
    for task in tables.TASKS:
        metric = tables.main_metric(results, task)
        protocol = tables.default_protocol(results, task, metric)
        if protocol is None:
            continue
        table = tables.task_table(results, task, metric=metric, protocol=protocol)
        best = _best_per_model(table)
        best = best.loc[best["provenance"] != "self-submitted"]
        if not len(best):
            continue
        scores = best["_score"].astype(float).to_numpy()
        if table.attrs["higher_is_better"]:
            top = np.nanmax(scores)
            rel = scores / top if top > 0 else np.full(len(scores), np.nan)
        else:
            top = np.nanmin(scores)
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = np.where(scores > 0, top / scores, np.nan)
        parts.append(pd.DataFrame({"model": best["model"].to_numpy(), "task": task, "protocol": protocol,
                                   "score": scores, "relative": rel}))  # fmt: skip
    if not parts:
        return pd.DataFrame(columns=["model", "task", "protocol", "score", "relative"])
    return pd.concat(parts, ignore_index=True)


@_survives("Across tasks")
def radar_chart(results: pd.DataFrame, *, selected: Sequence[str] = (), top_n: int = 10) -> go.Figure:
    """A radar across the six tasks: each model's best score relative to the best model of that task (default
    protocol per task). Models covering the most tasks first, then by mean relative score; plus ``selected``."""
    title = "Across tasks (1 = best model of the task)"
    rel = relative_scores(results)
    if not len(rel):
        return message_figure("No results to compare across tasks yet.", title=title)
    summary = rel.groupby("model")["relative"].agg(["count", "mean"]).sort_values(["count", "mean"],
                                                                                  ascending=False)  # fmt: skip
    picked = list(summary.index[:top_n])
    results = _usable(results)
    sel = set(selected) | set(results.loc[results["entry_id"].isin(set(selected)), "model"])
    picked += [m for m in summary.index if m in sel and m not in picked]
    axes = [tables.TASK_LABELS[t] for t in tables.TASKS if t in set(rel["task"])]
    task_of = {tables.TASK_LABELS[t]: t for t in tables.TASKS}
    lookup = rel.set_index(["model", "task"])
    fig = go.Figure()
    for model in picked:
        r = [lookup["relative"].get((model, task_of[a]), np.nan) for a in axes]
        r = [None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v) for v in r]
        fig.add_trace(go.Scatterpolar(r=[*r, r[0]], theta=[*axes, axes[0]], name=str(model), mode="lines+markers",
                                      connectgaps=False))  # fmt: skip
    protocols = ", ".join(f"{tables.TASK_LABELS[t]}: {p}" for t, p in rel.groupby("task")["protocol"].first().items())
    fig.update_layout(
        title=title,
        polar=dict(radialaxis=dict(range=[0, 1.05])),
        **_LAYOUT,
    )
    fig.add_annotation(text=f"protocols: {protocols}; gaps = no result", x=0, y=-0.12, xref="paper", yref="paper",
                       showarrow=False, xanchor="left", font=dict(size=10))  # fmt: skip
    return fig


def task_charts(
    results: pd.DataFrame, models: pd.DataFrame | None, task: str, *, selected: Sequence[str] = ()
) -> dict[str, go.Figure]:
    """The charts shown with a task's table: per-dataset bars (or the SAM delta for point segmentation), data
    efficiency, steps, guidance and the radar."""
    if task == "point_segmentation":
        first = sam_delta_chart(results)
    else:
        first = grouped_bars(results, task, selected=selected)
    return {
        "main": first,
        "data_efficiency": data_efficiency_chart(results, models, task=task, selected=selected),
        "steps": setting_chart(results, task, setting="steps"),
        "guidance": setting_chart(results, task, setting="guidance"),
        "radar": radar_chart(results, selected=selected),
    }
