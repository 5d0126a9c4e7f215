"""Leaderboard charts: pure ``results frame -> plotly Figure`` functions (``schema.RESULT_COLUMNS``).

Every chart shows the top ``top_n`` entries of one protocol (never mixing protocols) plus the user's ``selected``
entries (entry ids or model names), and survives missing data: an empty frame, NaN values or unknown models give a
figure carrying an explanatory annotation, never an exception.

Readable at 1366 px and on a phone: titles and notes are wrapped into the title (which pushes the margins, as do
the axes: ``automargin``), visible text uses human metric and dataset names (``tables.column_header``,
``tables.benchmark_label``; ids only in hover text), log axes tick at powers of ten only, and scatter labels are
never clipped at the plot's edge.
"""

from __future__ import annotations

import functools
import logging
import math
import textwrap
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

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
# Each task's specialist that DICEPTION is compared with in the heat map's difference row (model, variant or None
# for its best-ranked variant); other tasks use their best-ranked specialist.
REFERENCE_MODELS: Mapping[str, tuple[str, str | None]] = {
    "point_segmentation": (SAM_MODEL, SAM_VARIANT),
    "depth": ("Depth Anything", None),
}
LABELLED_POINTS = 6  # the data-efficiency chart names its best few models on the plot
TITLE_CHARS = 42  # plotly does not wrap titles; 42 characters at 14 px fit a chart 300 px wide (a phone)
NOTE_CHARS = 52
# No named template: assigning one deep-copies it (~25 ms per figure); plain colours instead.
_LAYOUT = dict(
    paper_bgcolor="white",
    plot_bgcolor="white",
    margin=dict(l=10, r=10, t=20, b=10, autoexpand=True),
    legend=dict(font=dict(size=10)),
    font=dict(size=12),
)
_DIVERGING = [[0.0, "#c0392b"], [0.5, "#f7f7f7"], [1.0, "#1e8449"]]  # worse / equal / better


def _wrap(text: str, width: int) -> str:
    """``text`` broken at spaces into lines of at most ``width`` characters, joined by ``<br>``."""
    return "<br>".join(textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)) or text


def _titled(fig: go.Figure, title: str, note: str = "") -> go.Figure:
    """Set a wrapped title (and a smaller wrapped note under it) at the top of the figure, with a top margin that
    holds all its lines, and let both axes push their margins (``automargin``) so no label is cut."""
    lines = textwrap.wrap(title, TITLE_CHARS, break_long_words=False, break_on_hyphens=False) or [title]
    note_lines = textwrap.wrap(note, NOTE_CHARS, break_long_words=False, break_on_hyphens=False) if note else []
    text = "<br>".join(lines)
    if note_lines:
        text += "".join(f"<br><span style='font-size:11px'>{line}</span>" for line in note_lines)
    top = 16 + 19 * len(lines) + 16 * len(note_lines) + 14  # padding, title lines, note lines, gap to the plot
    fig.update_layout(title=dict(text=text, x=0.01, xanchor="left", xref="container", y=1, yanchor="top",
                                 yref="container", pad=dict(t=12), font=dict(size=14)),
                      margin=dict(t=top))  # fmt: skip
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    return fig


def _log_ticks(values: np.ndarray) -> dict[str, Any]:
    """A log axis with one labelled tick per power of ten (10k, 1M, 1B) and no minor tick labels, padded so the
    markers' labels stay inside."""
    finite = values[np.isfinite(values) & (values > 0)]
    if not len(finite):
        return dict(type="log")
    low, high = math.floor(math.log10(finite.min())), math.ceil(math.log10(finite.max()))
    powers = list(range(low, max(high, low + 1) + 1))
    names = {3: "k", 6: "M", 9: "B", 12: "T"}

    def text(p: int) -> str:
        unit = max((k for k in names if k <= p), default=0)
        return f"{10 ** (p - unit):g}{names.get(unit, '')}" if unit else f"{10 ** p:g}"

    pad = 0.35
    return dict(type="log", tickmode="array", tickvals=[10.0**p for p in powers], ticktext=[text(p) for p in powers],
                range=[math.log10(finite.min()) - pad, math.log10(finite.max()) + pad], minor=dict(ticks="",
                showgrid=False))  # fmt: skip


def message_figure(message: str, *, title: str = "") -> go.Figure:
    """An empty figure that says why there is nothing to plot."""
    fig = go.Figure()
    fig.add_annotation(text=_wrap(message, 50), x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=13))  # fmt: skip
    fig.update_layout(xaxis=dict(visible=False), yaxis=dict(visible=False), height=260, **_LAYOUT)
    return _titled(fig, title) if title else fig


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
    direction = "higher is better" if hib else "lower is better"
    return f"{tables.TASK_LABELS.get(task, task)} · {tables.metric_label(metric)}, {direction} · protocol {protocol}"


# --------------------------------------------------------------------------------------------- grouped bars


@_survives("Per-dataset scores")
def grouped_bars(
    results: pd.DataFrame,
    task: str,
    *,
    metric: str | None = None,
    protocol: str | None = None,
    selected: Sequence[str] = (),
    top_n: int = 10,
) -> go.Figure:
    """Grouped bars per dataset (x) for the top entries of one protocol (depth and normals: DICEPTION vs Depth
    Anything vs Marigold ...). Error bars show measured rows' 95% intervals."""
    results = _usable(results)
    metric = metric or tables.main_metric(results, task)
    protocol = protocol or tables.default_protocol(results, task, metric)
    title = "Per-dataset scores"
    if protocol is None:
        return message_figure(f"No {tables.TASK_LABELS.get(task, task)} results with {tables.metric_label(metric)} "
                              "yet.", title=title)
    table = tables.task_table(results, task, metric=metric, protocol=protocol)
    rows = _pick_rows(table, selected, top_n)
    benchmarks = [b for b in table.attrs.get("benchmarks", []) if b not in aggregate_members(task)]
    if not len(rows) or not benchmarks:
        return message_figure(f"No per-dataset {tables.metric_label(metric)} results under {protocol}.", title=title)
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
                x=[tables.benchmark_label(b) for b in benchmarks],
                y=y,
                error_y=dict(type="data", array=err_plus, arrayminus=err_minus, visible=any_ci),
                customdata=benchmarks,
                hovertemplate="%{x} (%{customdata}): %{y:.4g}<extra>%{fullData.name}</extra>",
            )
        )
    # The legend lists every entry: the figure grows with it rather than letting it run past the bottom.
    fig.update_layout(barmode="group", xaxis_title="dataset", yaxis_title=tables.column_header(metric),
                      height=max(450, 190 + 19 * len(fig.data)), **_LAYOUT)  # fmt: skip
    missing = rows[benchmarks].isna().to_numpy().sum()
    note = f"{missing} missing score(s) left blank." if missing else ""
    return _titled(fig, _title(task, metric, protocol, hib), note)


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


def sam_deltas(results: pd.DataFrame, model: str = DICEPTION) -> tuple[pd.Series, str, str]:
    """``model``'s per-dataset 1-click IoU minus SAM ViT-H's on SA-23 (percentage points), the protocol and where the
    numbers come from: per-dataset ``miou_1pt`` rows of both models under a shared protocol when there are any
    (measured), otherwise the reported ``delta_iou_1pt_vs_sam_vit_h`` rows (the DICEPTION paper's Fig. 3). An empty
    series when there are neither."""
    results = _usable(results)
    sa23 = set(SA23_DATASETS)
    seg = results.loc[tables._mask(results, task="point_segmentation")]
    seg = seg.loc[seg["benchmark"].isin(sa23)]
    ious = seg.loc[seg["metric"] == "miou_1pt"]
    ours_all = ious.loc[ious["model"] == model]
    sam_all = ious.loc[(ious["model"] == SAM_MODEL) & (ious["variant"] == SAM_VARIANT)]
    shared = sorted(set(ours_all["protocol"]) & set(sam_all["protocol"]))
    if shared:
        protocol = max(shared, key=lambda p: (ours_all["protocol"] == p).sum())
        ours = _pick_entry(ours_all.loc[ours_all["protocol"] == protocol]).groupby("benchmark")["value"].last()
        sam = _pick_entry(sam_all.loc[sam_all["protocol"] == protocol]).groupby("benchmark")["value"].last()
        deltas = (ours - sam).dropna()
        if len(deltas):
            return deltas.astype(float), protocol, "computed from both models' per-dataset 1-click mIoU"
    rows = seg.loc[(seg["metric"] == SAM_DELTA_METRIC) & (seg["model"] == model)]
    if len(rows):
        rows = _pick_entry(rows)
        deltas = rows.groupby("benchmark")["value"].last().dropna().astype(float)
        return deltas, str(rows["protocol"].iloc[0]), "as reported by the DICEPTION paper (Fig. 3)"
    return pd.Series(dtype=float), "", ""


@_survives("DICEPTION vs SAM ViT-H per dataset")
def sam_delta_chart(results: pd.DataFrame, *, model: str = DICEPTION) -> go.Figure:
    """``model``'s per-dataset 1-click IoU minus SAM ViT-H's on the 23 SA-23 datasets, sorted, under one protocol
    (``sam_deltas``)."""
    title = f"{model} minus SAM ViT-H, 1-click mIoU per SA-23 dataset"
    deltas, protocol, source = sam_deltas(results, model)
    if deltas.empty:
        return message_figure(f"No per-dataset 1-click results for {model} and SAM ViT-H yet.", title=title)
    deltas = deltas.sort_values(ascending=False)
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
    fig.update_layout(xaxis_title="dataset (SA-23)", yaxis_title="difference in IoU (points)", xaxis_tickangle=-45,
                      **_LAYOUT)  # fmt: skip
    missing = sorted(set(SA23_DATASETS) - set(deltas.index))
    note = (f"{wins} of {len(deltas)} datasets above SAM; mean {deltas.mean():+.1f} points; {source}; protocol "
            f"{protocol}.")
    if missing:
        note += f" Missing: {', '.join(missing[:6])}{' ...' if len(missing) > 6 else ''}."
    return _titled(fig, title, note)


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
    # Names on the points only for DICEPTION, the selected models and the best few (others: on hover), so the
    # labels do not pile up on each other.
    labelled = set(best["model"].head(LABELLED_POINTS)) | {DICEPTION} | set(selected)
    labelled |= set(best.loc[best["entry_id"].isin(set(selected)), "model"])
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
                text=[m if m in labelled else "" for m in sub["model"].astype(str)],
                textposition="top center",
                textfont=dict(size=11),
                cliponaxis=False,  # a label near the edge is drawn whole, not cut at the axis
                marker=dict(symbol=symbol, size=11),
                customdata=np.stack([sub["model"].astype(str), sub["variant"].astype(str), x[m].map("{:,.0f}".format)],
                                    axis=-1),
                hovertemplate=(f"%{{customdata[0]}} %{{customdata[1]}}<br>%{{customdata[2]}} {k}<br>"
                               "score %{y:.4g}<extra></extra>"),
            )
        )
    hib = bool(table.attrs["higher_is_better"])
    scores = best["_score"].to_numpy(dtype=float)
    span = np.nanmax(scores) - np.nanmin(scores) if np.isfinite(scores).any() else 0.0
    pad = span * 0.15 if span > 0 else 1.0
    fig.update_layout(
        xaxis=dict(title=f"training {basis} (log scale)", **_log_ticks(x[has_x].to_numpy(dtype=float))),
        yaxis=dict(title=tables.column_header(metric), range=[np.nanmin(scores) - pad, np.nanmax(scores) + 2 * pad]
                   if np.isfinite(scores).any() else None),
        showlegend=True,
        legend=dict(orientation="h", yanchor="top", y=-0.25, x=0, font=dict(size=10)),
        **{k: v for k, v in _LAYOUT.items() if k != "legend"},
    )  # fmt: skip
    notes = []
    without = best.loc[~has_x.to_numpy(), "model"].tolist()
    if without:
        notes.append(f"No training-set size: {', '.join(without[:8])}{' ...' if len(without) > 8 else ''}.")
    if not has_x.any():
        notes.append("No training-set sizes known for these models.")
    return _titled(fig, f"{title}: {_title(task, metric, protocol, hib)}", " ".join(notes))


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
        return message_figure(f"No {label} sweep for {model} on {tables.TASK_LABELS.get(task, task)} "
                              f"({tables.metric_label(metric)}).", title=title)
    other = "guidance" if setting == "steps" else "steps"
    fixed = sweep[other].iloc[0]
    fig = go.Figure()
    for bench in tables._order_benchmarks(task, sweep["benchmark"].unique()):
        line = sweep.loc[sweep["benchmark"] == bench]
        fig.add_trace(
            go.Scatter(
                x=line[setting].to_numpy(), y=line["value"].to_numpy(dtype=float), mode="lines+markers",
                name=tables.benchmark_label(str(bench)), customdata=line["variant"].fillna("").astype(str).tolist(),
                hovertemplate=f"{bench}<br>{setting} %{{x}}: %{{y:.4g}}<br>%{{customdata}}<extra></extra>",
            )
        )  # fmt: skip
    hib = tables.higher_is_better(results, metric)
    xaxis: dict[str, Any] = dict(title=label)
    if setting == "steps":  # log scale, ticks at the measured step counts only
        ticks = sorted(float(v) for v in sweep[setting].unique())
        xaxis.update(type="log", tickmode="array", tickvals=ticks, ticktext=[f"{t:g}" for t in ticks],
                     minor=dict(ticks="", showgrid=False))  # fmt: skip
    fig.update_layout(xaxis=xaxis, yaxis_title=tables.column_header(metric), **_LAYOUT)
    direction = "higher is better" if hib else "lower is better"
    return _titled(fig, f"{title} ({other} {fixed:g})",
                   f"{tables.metric_label(metric)}, {direction} · protocol {protocol}")


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
    # Two-line axis names: plotly leaves no margin for them, and one-line names run off a narrow figure.
    names = {a: _wrap(a, 12) for a in axes}
    fig.update_layout(polar=dict(radialaxis=dict(range=[0, 1.05]), domain=dict(x=[0.3, 0.7]),
                                 angularaxis=dict(tickmode="array", tickvals=axes, ticktext=[names[a] for a in axes],
                                                  tickfont=dict(size=10))),
                      legend=dict(orientation="h", x=0, y=-0.05, yanchor="top", font=dict(size=10)), height=560,
                      **{k: v for k, v in _LAYOUT.items() if k != "legend"})  # fmt: skip
    return _titled(fig, title, f"Protocols: {protocols}. Gaps: no result.")


# --------------------------------------------------------------------------------------------- heat map


def _heatmap_protocol(results: pd.DataFrame, task: str, metric: str) -> str | None:
    """The protocol with the most (entry, dataset) scores outside aggregates; the default protocol on ties."""
    protocols = tables.protocols_for(results, task, metric)
    if not protocols:
        return None
    rows = results.loc[tables._mask(results, task=task, metric=metric)]
    rows = rows.loc[~rows["benchmark"].isin(list(aggregate_members(task)))]
    counts = rows.drop_duplicates(["entry_id", "protocol", "benchmark"]).groupby("protocol").size()
    return max(protocols, key=lambda p: (int(counts.get(p, 0)), -protocols.index(p)))


def _headline_row(table: pd.DataFrame, model: str, variant: str | None = None) -> pd.Series | None:
    """A model's row to compare: its multi-task entry when it has one, else its best-ranked non-ablation entry
    (rows come ranked), else its best-ranked entry; ``variant`` pins the variant."""
    rows = table.loc[(table["model"] == model) & (table["provenance"] != "self-submitted")]
    if variant is not None:
        rows = rows.loc[rows["variant"] == variant]
    names = rows["variant"].fillna("").astype(str).str.lower()
    plain = rows.loc[~names.str.startswith("ablation")]
    multi = plain.loc[names[~names.str.startswith("ablation")].str.contains("multi-task", regex=False)]
    for candidates in (multi, plain, rows):
        if len(candidates):
            return candidates.iloc[0]
    return None


def _reference_row(table: pd.DataFrame, task: str) -> pd.Series | None:
    if task in REFERENCE_MODELS:
        model, variant = REFERENCE_MODELS[task]
        return _headline_row(table, model, variant)
    specialists = table.loc[(table["model_type"] == "specialist") & (table["provenance"] != "self-submitted")]
    return specialists.iloc[0] if len(specialists) else None


def _short(text: str, limit: int = 38) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@_survives("Per-dataset heat map")
def heatmap(
    results: pd.DataFrame,
    task: str,
    *,
    metric: str | None = None,
    protocol: str | None = None,
    selected: Sequence[str] = (),
    top_n: int = 15,
) -> go.Figure:
    """Models x datasets: each cell the score (its colour: the standing within that dataset, darkest = best), one row
    per model (its best-ranked entry; DICEPTION's headline entry) for the top ``top_n`` models of one protocol, plus
    the ``selected`` entries; under it the row DICEPTION minus the task's reference
    specialist (SAM ViT-H, Depth Anything, else the best specialist), green where DICEPTION is better. For point
    segmentation without per-dataset scores the reported per-dataset differences to SAM are shown alone."""
    results = _usable(results)
    metric = metric or tables.main_metric(results, task)
    protocol = protocol or _heatmap_protocol(results, task, metric)
    label = tables.TASK_LABELS.get(task, task)
    title = f"{label}: {tables.metric_label(metric)} per dataset"
    table = tables.task_table(results, task, metric=metric, protocol=protocol) if protocol else None
    datasets = [] if table is None else [b for b in table.attrs.get("benchmarks", [])
                                         if b not in aggregate_members(task)]  # fmt: skip
    rows = pd.DataFrame()
    if table is not None and datasets:
        table = table.loc[table[datasets].notna().any(axis=1)]
        ranked = table.loc[table["provenance"] != "self-submitted"]
        # One row per model (its best-ranked entry; DICEPTION's headline entry), plus the selected entries.
        ours = _headline_row(table, DICEPTION)
        per_model = ranked.loc[ranked["model"] != DICEPTION].drop_duplicates("model", keep="first")
        if ours is not None:
            per_model = pd.concat([per_model, pd.DataFrame([ours])])
            per_model = per_model.loc[ranked.index.intersection(per_model.index)]  # back in rank order
        rows = _pick_rows(per_model, (), top_n)
        picked = ranked.loc[ranked["entry_id"].isin(set(selected)) | ranked["model"].isin(set(selected))]
        rows = pd.concat([rows, picked.loc[~picked["entry_id"].isin(set(rows["entry_id"]))]])
    diff_rows: list[tuple[str, list[float], list[str]]] = []  # (label, signed for colour, text)
    hib = tables.higher_is_better(results, metric) if len(results) else True
    if len(rows):
        ours, ref = _headline_row(table, DICEPTION), _reference_row(table, task)
        extra = [r for r in (ours, ref) if r is not None and r["entry_id"] not in set(rows["entry_id"])]
        if extra:
            rows = pd.concat([rows, pd.DataFrame(extra)])
        if ours is not None and ref is not None and ours["model"] != ref["model"]:
            diff = [float(ours[b]) - float(ref[b]) for b in datasets]
            diff_rows.append((f"{DICEPTION} − {_label(ref['model'], ref['variant'])}",
                              [d * (1 if hib else -1) for d in diff], [_signed(d) for d in diff]))  # fmt: skip
    elif task == "point_segmentation":
        deltas, protocol_used, source = sam_deltas(results)
        if len(deltas):
            datasets = [d for d in SA23_DATASETS if d in deltas.index]
            diff = [float(deltas[d]) for d in datasets]
            diff_rows.append((f"{DICEPTION} − SAM ViT-H", diff, [_signed(d) for d in diff]))
            protocol = protocol_used
            title = f"{label}: {DICEPTION} minus SAM ViT-H, 1-click IoU per SA-23 dataset"
            note = (f"No other per-dataset scores yet: this row is {source} (points of IoU; green: {DICEPTION} "
                    f"better) · protocol {protocol}.")
            return _heat_figure(pd.DataFrame(), datasets, diff_rows, title, note, hib=True)
    if not len(rows) and not diff_rows:
        return message_figure(f"No per-dataset {label} scores yet.", title=title)
    direction = "higher is better" if hib else "lower is better"
    note = (f"{tables.column_header(metric)} ({direction}) · protocol {protocol}. Colour: standing within each "
            "dataset (darkest = best).")
    if diff_rows:
        note += f" Bottom row: the difference; green where {DICEPTION} is better."
    return _heat_figure(rows, datasets, diff_rows, title, note, hib=hib)


def _signed(value: float) -> str:
    return "" if value != value else f"{value:+.3g}"


def _heat_figure(rows: pd.DataFrame, datasets: list[str], diff_rows: list[tuple[str, list[float], list[str]]],
                 title: str, note: str, *, hib: bool) -> go.Figure:  # fmt: skip
    x = [tables.benchmark_label(d) for d in datasets]
    n_main, n_diff = len(rows), len(diff_rows)
    if n_main and n_diff:
        fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.04,
                            row_heights=[n_main / (n_main + n_diff + 0.5), (n_diff + 0.5) / (n_main + n_diff + 0.5)])
    else:
        fig = make_subplots(rows=1, cols=1)
    if n_main:
        values = rows[datasets].to_numpy(dtype=float)  # [entries, datasets]
        with np.errstate(invalid="ignore", divide="ignore"), _quiet_nan_warnings():
            low, high = np.nanmin(values, axis=0), np.nanmax(values, axis=0)
            standing = np.where(high > low, (values - low) / (high - low), 1.0)
        if not hib:
            standing = 1.0 - standing
        standing = np.where(np.isnan(values), np.nan, standing)
        labels = [_short(_label(m, v)) for m, v in zip(rows["model"], rows["variant"], strict=True)]
        text = [[_fmt(v) for v in row] for row in values]
        fig.add_trace(go.Heatmap(
            z=standing, x=x, y=labels, text=text, texttemplate="%{text}", textfont=dict(size=10),
            colorscale="Blues", zmin=0, zmax=1, showscale=False, xgap=1, ygap=1,
            customdata=np.array(text, dtype=object), hovertemplate="%{y}<br>%{x}: %{customdata}<extra></extra>",
        ), row=1, col=1)  # fmt: skip
        fig.update_yaxes(autorange="reversed", row=1, col=1)
    if n_diff:
        z = np.array([d[1] for d in diff_rows], dtype=float)
        bound = float(np.nanmax(np.abs(z))) if np.isfinite(z).any() else 1.0
        fig.add_trace(go.Heatmap(
            z=z, x=x, y=[d[0] for d in diff_rows], text=[d[2] for d in diff_rows], texttemplate="%{text}",
            textfont=dict(size=10), colorscale=_DIVERGING, zmin=-bound, zmax=bound, showscale=False, xgap=1, ygap=1,
            hovertemplate="%{y}<br>%{x}: %{text}<extra></extra>",
        ), row=2 if n_main else 1, col=1)  # fmt: skip
    fig.update_xaxes(tickangle=-45 if len(datasets) > 8 else 0, side="bottom")
    height = 150 + 26 * (n_main + n_diff) + (60 if len(datasets) > 8 else 20)
    fig.update_layout(height=height, **_LAYOUT)
    return _titled(fig, title, note)


def _fmt(value: float) -> str:
    return "" if value != value else f"{value:.4g}"


class _quiet_nan_warnings:
    """All-NaN columns (a dataset no shown entry has) are expected: no RuntimeWarning for them."""

    def __enter__(self) -> None:
        import warnings

        self._catch = warnings.catch_warnings()
        self._catch.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc: object) -> None:
        self._catch.__exit__(*exc)


def task_charts(
    results: pd.DataFrame, models: pd.DataFrame | None, task: str, *, selected: Sequence[str] = ()
) -> dict[str, go.Figure]:
    """The charts shown with a task's table: the per-dataset heat map, per-dataset bars (or the SAM difference for
    point segmentation), data efficiency, steps, guidance and the radar."""
    if task == "point_segmentation":
        first = sam_delta_chart(results)
    else:
        first = grouped_bars(results, task, selected=selected)
    return {
        "heatmap": heatmap(results, task, selected=selected),
        "main": first,
        "data_efficiency": data_efficiency_chart(results, models, task=task, selected=selected),
        "steps": setting_chart(results, task, setting="steps"),
        "guidance": setting_chart(results, task, setting="guidance"),
        "radar": radar_chart(results, selected=selected),
    }
