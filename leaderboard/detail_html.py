"""The Leaderboard tab's entry detail and comparison as people read them: ``leaderboard.verify``'s dicts and
frames -> HTML and plotly figures.

- :func:`provenance_html`: where the numbers came from (paper, arXiv link, venue, table; or run, worker, hardware,
  date, code version, git commit), one line per source.
- :func:`commands_text` / :func:`commands_note`: the reproduce command(s) as the copy box holds them, and why a row
  has none.
- :func:`distribution_figure`: one box per dataset (quartiles, whiskers at min / max, the mean marked) of the
  per-sample values of each dataset's main metric.
- :func:`gallery_html`: the run's worst and best items of one dataset (input with the prompt points drawn, ground
  truth, prediction) with their scores, worst first; :func:`sample_scores_html` the same items' scores without
  images (self-submitted rows, runs without thumbnails).
- :func:`comparison_html`: per dataset A, B, A - B and its 95 % bootstrap interval, then the items where the two
  disagree most.

Every text that comes from data is HTML-escaped; images are inline ``data:`` URIs of the stored WebP bytes. Nothing
here touches the store, the network or torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from diception_spec.benchmarks import BENCHMARKS
from diception_spec.metrics import METRICS
from diception_spec.tasks import TASK_SPECS, Task
from leaderboard import tables, verify
from leaderboard.board_html import format_score

__all__ = [
    "GALLERY_ROLES",
    "commands_note",
    "commands_text",
    "comparison_html",
    "dataset_label",
    "distribution_figure",
    "gallery_html",
    "main_metric_of",
    "provenance_html",
    "sample_scores_html",
]

# The three pictures of a gallery item, as the store keeps them (``run_data.THUMBNAIL_FIELDS``), with their captions.
GALLERY_ROLES: tuple[tuple[str, str], ...] = (("input", "input"), ("truth", "ground truth"),
                                              ("prediction", "prediction"))  # fmt: skip
MAX_DISAGREEMENTS_SHOWN = 5  # per dataset: SA-23 has 23 of them


def dataset_label(task: str, benchmark: str) -> str:
    """``"NYUv2 (Depth)"``: the dataset's short name and its task's label."""
    return f"{tables.benchmark_label(benchmark)} ({tables.TASK_LABELS.get(task, task)})"


def _metric_header(metric: str | None) -> str:
    return tables.column_header(metric) if metric else ""


def _value(value: Any, metric: str | None = None) -> str:
    text = format_score(value)
    spec = METRICS.get(metric or "")
    return f"{text} %" if spec is not None and spec.unit == "percent" and text != "–" else text


# --------------------------------------------------------------------------------------------- provenance


def _citation_line(c: Mapping[str, Any]) -> str:
    paper = escape(str(c.get("paper") or c.get("text") or "unknown source"))
    if str(c.get("url") or "").startswith(("https://", "http://")):
        paper = f'<a href="{escape(str(c["url"]))}" target="_blank" rel="noopener">{paper}</a>'
    parts = [f"arXiv {escape(str(c['arxiv']))}" if c.get("arxiv") else "", escape(str(c.get("venue") or ""))]
    inner = ", ".join(p for p in parts if p)
    where = ", ".join(x for x in (str(c.get("where") or ""), f"p. {c['page']}" if c.get("page") else "") if x)
    benches = ", ".join(tables.benchmark_label(b.split("/", 1)[-1]) for b in c.get("benchmarks") or [])
    text = f"Reported in {paper}" + (f" ({inner})" if inner else "") + (f", {escape(where)}" if where else "")
    return text + (f' <span class="lb-on">— {escape(benches)}</span>' if benches else "")


def _run_line(r: Mapping[str, Any]) -> str:
    kind = "Scored from self-submitted predictions" if r.get("provenance") == "self-submitted" else "Measured"
    head = f"{kind} by run {int(r['run_id'])}"
    if r.get("submission_id") is not None:
        by = f" by {r['submitter']}" if r.get("submitter") else ""
        head += f" (submission #{int(r['submission_id'])}{by})"
    fields = [
        ("hardware", r.get("hardware")), ("worker", r.get("worker_id")), ("date", r.get("date")),
        ("code", r.get("code_version")), ("git", str(r["git_commit"])[:12] if r.get("git_commit") else None),
    ]  # fmt: skip
    facts = " · ".join(f'<span title="{name}">{escape(str(v))}</span>' for name, v in fields if v)
    benches = ", ".join(tables.benchmark_label(b.split("/", 1)[-1]) for b in r.get("benchmarks") or [])
    return (escape(head) + (f": {facts}" if facts else "")
            + (f' <span class="lb-on">— {escape(benches)}</span>' if benches else ""))  # fmt: skip


def provenance_html(provenance: Mapping[str, Any]) -> str:
    """``verify.entry_provenance``'s dict as a titled list: one line per paper source and per run."""
    lines = [_citation_line(c) for c in provenance.get("citations") or []]
    lines += [_run_line(r) for r in provenance.get("runs") or []]
    if not lines:
        lines = ["No source recorded for this entry."]
    items = "".join(f"<li>{line}</li>" for line in lines)
    return f'<div class="lb-provenance"><h4>Where the numbers come from</h4><ul>{items}</ul></div>'


# --------------------------------------------------------------------------------------------- reproduce


def commands_text(commands: Sequence[Mapping[str, Any]]) -> str:
    """The entry's commands, one per line (what the copy button copies and the export's ``reproduce`` holds)."""
    return "\n".join(str(c["command"]) for c in commands if c.get("command"))


def commands_note(provenance: Sequence[str], commands: Sequence[Mapping[str, Any]]) -> str:
    """Markdown under the command box: how to run it, and for rows without a command, why there is none."""
    lines = []
    if any(c.get("command") for c in commands):
        lines.append(
            f"Run it from the repository root: it writes `results.json` (add `--record` to store it); prepared data "
            f"is read from `{verify.DEFAULT_DATA_ROOT}`. It refuses other weights or benchmark versions and warns "
            "on another code version; on the same device type the scores equal this row's."
        )  # fmt: skip
    for c in commands:
        if not c.get("command"):
            lines.append(f"No command for run {c['run_id']}: {c.get('reason') or 'unknown'}.")
    if not commands:
        if "reported" in provenance:
            lines.append("No command: these are a paper's published numbers (see the source above), not computed "
                         "here.")  # fmt: skip
        else:
            lines.append("No command: no run is recorded for this entry.")
    return "\n\n".join(lines)


# --------------------------------------------------------------------------------------------- per-sample view


def main_metric_of(task: str, benchmark: str, metrics: Sequence[str]) -> str | None:
    """The metric a dataset's samples are shown by: its benchmark's main metric when it has values, else the first."""
    spec = BENCHMARKS.get((task, benchmark))
    if spec is not None and spec.main_metric in metrics:
        return spec.main_metric
    return metrics[0] if metrics else None


def distribution_figure(distributions: pd.DataFrame) -> go.Figure | None:
    """One horizontal box per dataset of its main metric's per-sample values (``verify.score_distributions``):
    the box spans the quartiles, the whiskers min to max, the dashed line the mean. None without data."""
    if not len(distributions):
        return None
    rows = []
    for (task, benchmark), group in distributions.groupby(["task", "benchmark"], sort=False):
        metric = main_metric_of(str(task), str(benchmark), group["metric"].tolist())
        rows.append(group.loc[group["metric"] == metric].iloc[0])
    metrics = list(dict.fromkeys(str(r["metric"]) for r in rows))
    fig = go.Figure()
    labels = []
    for r in rows:
        label = tables.benchmark_label(str(r["benchmark"]))
        if len(metrics) > 1:
            label += f" · {tables.column_header(str(r['metric']))}"
        labels.append(label)
        fig.add_trace(go.Box(
            y=[label], q1=[r["q1"]], median=[r["median"]], q3=[r["q3"]], lowerfence=[r["min"]], upperfence=[r["max"]],
            mean=[r["mean"]], orientation="h", name=label, boxpoints=False, showlegend=False,
            marker_color="#4f46e5", hovertemplate=(
                f"{label}<br>n = {int(r['n'])}<br>mean {format_score(r['mean'])}, median {format_score(r['median'])}"
                f"<br>quartiles {format_score(r['q1'])}–{format_score(r['q3'])}<br>min {format_score(r['min'])}, "
                f"max {format_score(r['max'])}<extra></extra>"),
        ))  # fmt: skip
    x_title = tables.column_header(metrics[0]) if len(metrics) == 1 else "score (each dataset's main metric)"
    fig.update_layout(
        title=dict(text="Per-sample scores per dataset<br><span style='font-size:11px'>box: quartiles · whiskers: "
                   "min to max · dashed: mean</span>", x=0.01, xanchor="left", font=dict(size=14)),
        height=130 + 28 * len(rows), paper_bgcolor="white", plot_bgcolor="white", font=dict(size=12),
        margin=dict(l=10, r=20, t=60, b=10, autoexpand=True),
        xaxis=dict(title=dict(text=x_title), automargin=True, gridcolor="#e5e7eb", zeroline=False),
        yaxis=dict(automargin=True, categoryorder="array", categoryarray=labels[::-1]),
    )  # fmt: skip
    return fig


def _takes_points(task: str) -> bool:
    try:
        return TASK_SPECS[Task(task)].needs_points
    except ValueError:  # a task the spec does not know
        return False


def _images(item: Mapping[str, Any], points: bool) -> str:
    media = str(item.get("media_type") or "image/webp")
    out = []
    for role, caption in GALLERY_ROLES:
        caption = "input + prompt points" if role == "input" and points else caption
        data = item.get(role)
        if not data:
            continue
        out.append(f'<figure class="lb-thumb"><img src="{verify.data_uri(data, media)}" alt="{escape(caption)}" '
                   f'width="{int(item.get("width") or 0)}" height="{int(item.get("height") or 0)}" loading="lazy">'
                   f"<figcaption>{escape(caption)}</figcaption></figure>")  # fmt: skip
    return "".join(out)


def _item_html(item: Mapping[str, Any], rank: str, metric: str | None, points: bool) -> str:
    mask = f" · mask {escape(str(item['mask_id']))}" if item.get("mask_id") not in (None, "") else ""
    note = f'<div class="lb-item-note">{escape(str(item["note"]))}</div>' if item.get("note") else ""
    value = _value(item.get("value"), metric)
    return (f'<div class="lb-item" data-rank="{rank}" data-value="{escape(repr(float(item["value"])))}">'
            f'<div class="lb-item-images">{_images(item, points)}</div>'
            f'<div class="lb-item-caption"><b class="lb-item-score">{escape(value)}</b> '
            f'<span class="lb-item-id">{escape(str(item.get("sample_id", "")))}{mask}</span></div>{note}</div>')


def gallery_html(gallery: Mapping[str, Any] | None) -> str:
    """``verify.gallery``'s dict as two rows of items, "worst first" then "best first", each item's three pictures
    with its score. Empty string for None."""
    if not gallery:
        return ""
    metric = gallery.get("metric")
    points = _takes_points(str(gallery["task"]))
    shown = "the input with the prompt points it scored" if points else "the input"
    head = (f'<p class="lb-gallery-head">{escape(dataset_label(str(gallery["task"]), str(gallery["benchmark"])))}'
            f" · the run's worst and best items by {escape(_metric_header(metric))}, as it drew them: {shown}, the "
            "ground truth, the prediction, and the item's score.</p>")  # fmt: skip
    parts = [f'<div class="lb-gallery" data-task="{escape(str(gallery["task"]))}" '
             f'data-benchmark="{escape(str(gallery["benchmark"]))}">{head}']  # fmt: skip
    for rank, title in (("worst", "Worst first"), ("best", "Best first")):
        items = gallery.get(rank) or []
        if not items:
            continue
        parts.append(f'<h5 class="lb-gallery-title">{title}</h5><div class="lb-gallery-row" data-rank="{rank}">'
                     + "".join(_item_html(item, rank, metric, points) for item in items) + "</div>")  # fmt: skip
    parts.append("</div>")
    return "".join(parts)


def sample_scores_html(samples: pd.DataFrame, task: str, benchmark: str, *, per_side: int = 8,
                       reason: str = "") -> str:  # fmt: skip
    """The worst and best items' scores of one dataset (``Store.run_samples_frame`` of one run), without images:
    for self-submitted rows (no pictures of data we do not host) and runs that drew none. ``reason`` says why."""
    part = samples[(samples["task"] == task) & (samples["benchmark"] == benchmark)] if len(samples) else samples
    metric = main_metric_of(task, benchmark, list(dict.fromkeys(part["metric"]))) if len(part) else None
    head = f'<p class="lb-gallery-head">{escape(dataset_label(task, benchmark))}'
    head += f" · each item's {escape(_metric_header(metric))}" if metric else ""
    head += f". {escape(reason)}</p>" if reason else ".</p>"
    if metric is None:
        return f'<div class="lb-gallery">{head}<p>No per-sample values stored.</p></div>'
    part = part[part["metric"] == metric].dropna(subset=["value"])
    hib = METRICS[metric].higher_is_better if metric in METRICS else True
    ordered = part.sort_values("value", ascending=hib, kind="stable")
    parts = [f'<div class="lb-gallery lb-scores-only">{head}']
    for rank, title, rows in (("worst", "Worst first", ordered.head(per_side)),
                              ("best", "Best first", ordered.iloc[::-1].head(per_side))):  # fmt: skip
        body = "".join(
            f'<tr data-rank="{rank}"><td>{escape(str(r.sample_id))}</td><td>{escape(str(r.mask_id))}</td>'
            f'<td class="lb-num">{escape(_value(r.value, metric))}</td></tr>' for r in rows.itertuples()
        )  # fmt: skip
        parts.append(f'<div class="lb-scores-side"><h5 class="lb-gallery-title">{title}</h5><table class="lb-mini">'
                     f"<thead><tr><th>sample</th><th>mask</th><th>{escape(_metric_header(metric))}</th></tr></thead>"
                     f"<tbody>{body}</tbody></table></div>")  # fmt: skip
    parts.append(f'<p class="lb-small">{len(part)} items in all.</p></div>')
    return "".join(parts)


# --------------------------------------------------------------------------------------------- compare


def _interval(low: Any, high: Any) -> str:
    try:
        lo, hi = float(low), float(high)
    except (TypeError, ValueError):
        return "–"
    if math.isnan(lo) or math.isnan(hi):
        return "–"
    return f"[{format_score(lo)}, {format_score(hi)}]"


def _signed(value: Any) -> str:
    text = format_score(value)
    try:
        return text if text == "–" or float(value) <= 0 else "+" + text
    except (TypeError, ValueError):
        return text


def comparison_html(comparison: Mapping[str, Any], label_a: str, label_b: str) -> str:
    """``verify.compare_entries``'s dict as two tables: per dataset A, B, A - B with its 95 % interval (the winner
    named where the interval excludes 0), then per dataset the items where the two disagree most."""
    datasets: pd.DataFrame = comparison["datasets"]
    parts = [f'<div class="lb-compare"><p class="lb-compare-who"><b>A</b> {escape(label_a)} &nbsp;vs&nbsp; '
             f"<b>B</b> {escape(label_b)}</p>"]  # fmt: skip
    for note in comparison.get("notes") or []:
        parts.append(f'<p class="lb-compare-note">⚠ {escape(str(note))}</p>')
    if not len(datasets):
        parts.append("<p>These two entries have no dataset in common.</p></div>")
        return "".join(parts)
    head = ("<tr><th>dataset</th><th>metric</th><th>A</th><th>B</th><th>A − B</th><th>95% CI of A − B</th>"
            "<th>items (A / B)</th><th>verdict</th></tr>")  # fmt: skip
    body = []
    for r in datasets.to_dict(orient="records"):
        metric = str(r["metric"])
        if r["clear"]:
            verdict = f"{r['better']} better"
        elif pd.isna(r["ci_low"]):
            verdict = "no interval"
        else:
            verdict = "not clear: the interval holds 0"
        n = "–" if pd.isna(r["n_a"]) else f"{int(r['n_a'])} / {int(r['n_b'])}" + ("" if r["paired"] else " unpaired")
        cls = f' class="lb-clear-{r["better"].lower()}"' if r["clear"] and r["better"] else ""
        note = f'<div class="lb-small">{escape(str(r["note"]))}</div>' if r["note"] else ""
        body.append(
            f'<tr{cls} data-benchmark="{escape(str(r["benchmark"]))}"><td>'
            f'{escape(dataset_label(str(r["task"]), str(r["benchmark"])))}{note}</td>'
            f"<td>{escape(_metric_header(metric))}</td>"
            f"<td class=\"lb-num\">{escape(_value(r['value_a'], metric))}</td>"
            f"<td class=\"lb-num\">{escape(_value(r['value_b'], metric))}</td>"
            f"<td class=\"lb-num\"><b>{escape(_signed(r['difference']))}</b></td>"
            f"<td class=\"lb-num\">{escape(_interval(r['ci_low'], r['ci_high']))}</td>"
            f'<td class="lb-num">{escape(n)}</td><td>{escape(verdict)}</td></tr>'
        )  # fmt: skip
    parts.append('<h5 class="lb-gallery-title">Per dataset</h5><div class="lb-scroll-x"><table class="lb-mini '
                 f'lb-compare-table"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table></div>')  # fmt: skip
    dis: pd.DataFrame = comparison["disagreements"]
    if len(dis):
        rows = []
        for (task, benchmark), group in dis.groupby(["task", "benchmark"], sort=False):
            for r in group.head(MAX_DISAGREEMENTS_SHOWN).to_dict(orient="records"):
                metric = str(r["metric"])
                rows.append(
                    f"<tr><td>{escape(dataset_label(str(task), str(benchmark)))}</td>"
                    f"<td>{escape(str(r['sample_id']))}</td><td>{escape(str(r['mask_id']))}</td>"
                    f"<td class=\"lb-num\">{escape(_value(r['value_a'], metric))}</td>"
                    f"<td class=\"lb-num\">{escape(_value(r['value_b'], metric))}</td>"
                    f"<td class=\"lb-num\"><b>{escape(_signed(r['difference']))}</b></td></tr>"
                )  # fmt: skip
        parts.append(
            f'<h5 class="lb-gallery-title">Where they disagree most (up to {MAX_DISAGREEMENTS_SHOWN} items per '
            'dataset both scored)</h5><div class="lb-scroll-x"><table class="lb-mini lb-disagree-table"><thead><tr>'
            "<th>dataset</th><th>sample</th><th>mask</th><th>A</th><th>B</th><th>A − B</th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></div>"
        )  # fmt: skip
    else:
        parts.append('<p class="lb-small">No item-by-item disagreements: the two were not scored on the same items '
                     "(or one has no per-sample values).</p>")  # fmt: skip
    parts.append("</div>")
    return "".join(parts)
