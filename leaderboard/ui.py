"""The Leaderboard and Submit tabs the app mounts: plain callback functions plus two thin Gradio builders.

Mounting (inside the app's ``gr.Blocks``; each builder opens its own ``gr.Tab``)::

    with gr.Blocks() as demo:
        with gr.Tabs():
            board = build_leaderboard_tab(store, demo=demo)  # demo: read the page's ?query on load
            build_submit_tab(store, demo=demo)
    demo.launch(css_paths=[CSS_PATH])

``store`` is the app's one ``leaderboard.store.Store`` (any ``leaderboard.schema.LeaderboardStore``). The board's
frames are cached and reloaded when ``last_updated()`` changes. Share links carry the view in URL query parameters
(``tables.share_query``); ``apply_query_params`` turns a page's parameters back into a view.

Checking a row (``leaderboard.verify``, drawn by ``leaderboard.detail_html``): a row's "details" button (one click)
opens the *Entry details* section on that entry: where its numbers came from, the command that recomputes it with a
copy button (or why there is none), the run's worst and best samples of a chosen dataset with their scores, and the
per-dataset score distributions. The entry picker lists every entry of the task, those scored only on unranked
benchmarks (the synthetic smoke benchmark, a submitter's own split) included. *Compare two entries* shows per
dataset A - B with its 95 % bootstrap interval and the items where the two disagree most. The CSV / JSON downloads
carry each row's ``reproduce`` command(s) and ``provenance_detail``.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from html import escape as escape_text
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from diception_spec.benchmarks import benchmark_order, is_ranked_benchmark
from diception_spec.errors import Refused
from leaderboard import board_html, charts, detail_html, tables, verify
from leaderboard.prediction_files import PredictionsRefused
from leaderboard.schema import PROVENANCES, LeaderboardStore
from leaderboard.submit import (
    SubmissionError,
    SubmissionForm,
    SubmitConfig,
    check_form,
    submit_adapter,
    submit_predictions,
)
from leaderboard.tables import ViewFilters
from leaderboard.validation import AdapterRefused

log = logging.getLogger(__name__)

CSS_PATH = Path(__file__).resolve().parents[1] / "assets" / "leaderboard.css"
ALL_PROTOCOLS = "all (ranked separately)"
FROM_TASK_FILE = "(from diception_task.json)"
SOURCE_HUB, SOURCE_UPLOAD = "Hub repo pinned to a commit", "Upload (.zip or folder)"
WHAT_ADAPTER, WHAT_PREDICTIONS = "A DICEPTION adapter", "Prediction files (self-submitted)"
MODEL_TYPES = ("generalist", "specialist")
CHART_KEYS = ("heatmap", "main", "data_efficiency", "steps", "guidance", "radar")
SUBMISSION_TABLE_COLUMNS = ("#", "name", "task", "benchmarks", "status", "failure reason", "attempts", "submitted",
                            "estimated wait")  # fmt: skip


def on_space(env: Mapping[str, str] | None = None) -> bool:
    """True on a Hugging Face Space (``SPACE_ID`` set): login is required to submit there."""
    return bool((os.environ if env is None else env).get("SPACE_ID"))


# --------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class BoardData:
    results: pd.DataFrame
    models: pd.DataFrame
    updated: datetime | None
    runs: Mapping[int, Mapping[str, Any]] = field(default_factory=dict)  # Store.run_summaries(): commands, sources


class StoreHandle:
    """The store and its frames, reloaded when ``last_updated()`` changes.

    Shared, read-mostly data of the whole app (not per-user state); a lock keeps concurrent reloads single.
    """

    def __init__(self, store: LeaderboardStore) -> None:
        self.store = store
        self._data: BoardData | None = None
        self._lock = threading.Lock()

    def data(self) -> BoardData:
        store = self.store
        updated = store.last_updated()
        with self._lock:
            if self._data is None or self._data.updated != updated:
                self._data = BoardData(store.results_frame(), store.models_frame(), updated, store.run_summaries())
            return self._data


# --------------------------------------------------------------------------------------------- leaderboard view


@dataclass
class BoardView:
    """Everything the Leaderboard tab shows for one set of filters."""

    filters: ViewFilters
    metric_choices: list[str]
    protocol_choices: list[str]
    column_choices: list[str]
    table: pd.DataFrame  # display_table's text view of the rows
    raw_table: pd.DataFrame  # numeric, what the downloads hold (with the reproduce command and provenance per row)
    html: str  # what the page shows: one titled table per ranking group (board_html)
    note: str
    share_link: str
    csv_path: str
    json_path: str
    updated_text: str
    entry_choices: list[tuple[str, str]]
    model_choices: list[str]
    figures: dict[str, Any] = field(default_factory=dict)


def apply_query_params(params: Any) -> ViewFilters:
    """A view from a page's URL query parameters (a query string, a mapping or ``request.query_params``)."""
    return tables.parse_share_query(params if params is not None else "")


def normalize_filters(results: pd.DataFrame, filters: ViewFilters) -> ViewFilters:
    """Filters that exist for the data: unknown metric -> the task's main metric, unknown protocol -> all,
    unknown dataset columns dropped, unknown model types / provenances dropped."""
    metrics = tables.metrics_for(results, filters.task)
    metric = filters.metric if filters.metric in metrics else tables.main_metric(results, filters.task)
    protocols = tables.protocols_for(results, filters.task, metric)
    protocol = filters.protocol if filters.protocol in protocols else None
    columns = filters.columns
    if columns is not None:
        known = set(tables.benchmarks_for(results, filters.task, metric))
        columns = tuple(c for c in columns if c in known)
    return replace(
        filters,
        metric=metric,
        protocol=protocol,
        search=filters.search[: tables.MAX_SEARCH_CHARS],
        model_types=tuple(m for m in filters.model_types if m in MODEL_TYPES),
        provenances=tuple(p for p in filters.provenances if p in PROVENANCES),
        columns=columns,
    )


def filters_from_inputs(
    task: str,
    metric: str | None,
    protocol: str | None,
    search: str | None,
    model_types: Sequence[str] | None,
    provenances: Sequence[str] | None,
    columns: Sequence[str] | None,
    all_columns: Sequence[str] | None,
    selected: Sequence[str] | None,
) -> ViewFilters:
    """The widgets' values as a view. ``columns`` empty or equal to ``all_columns`` (everything ticked) means no
    choice (all columns)."""
    chosen = tuple(columns or ())
    no_choice = not chosen or (all_columns is not None and set(chosen) >= set(all_columns))
    return ViewFilters(
        task=task if task in tables.TASKS else ViewFilters.task,
        metric=metric or None,
        protocol=None if not protocol or protocol == ALL_PROTOCOLS else protocol,
        search=search or "",
        model_types=tuple(model_types or ()),
        provenances=tuple(provenances or ()),
        columns=None if no_choice else chosen,
        selected=tuple(selected or ()),
    )


def _format_updated(updated: datetime | None) -> str:
    if updated is None:
        return "Last updated: never (no results yet)"
    if updated.tzinfo is None:
        updated = updated.replace(tzinfo=timezone.utc)
    return f"Last updated: {updated.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC"


def write_downloads(table: pd.DataFrame, task: str, folder: Path | None = None) -> tuple[str, str]:
    """The view as ``.csv`` and ``.json`` files (content-addressed, so repeated views reuse them)."""
    csv_text, json_text = tables.to_csv(table), tables.to_json(table)
    digest = hashlib.sha256((csv_text + json_text).encode("utf-8")).hexdigest()[:16]
    base = Path(folder) if folder is not None else Path(tempfile.gettempdir()) / "diception-leaderboard"
    target = base / digest
    target.mkdir(parents=True, exist_ok=True)
    csv_path, json_path = target / f"diception-leaderboard-{task}.csv", target / f"diception-leaderboard-{task}.json"
    if not csv_path.exists():
        csv_path.write_text(csv_text, encoding="utf-8")
    if not json_path.exists():
        json_path.write_text(json_text, encoding="utf-8")
    return str(csv_path), str(json_path)


def share_link(filters: ViewFilters, base_url: str = "") -> str:
    """``base_url?query`` (just ``?query`` when the page's address is unknown)."""
    query = tables.share_query(replace(filters, metric=filters.metric, columns=filters.columns))
    return f"{base_url.split('?')[0]}?{query}" if query else base_url


def build_view(data: BoardData, filters: ViewFilters, *, base_url: str = "", download_dir: Path | None = None,
               with_charts: bool = True) -> BoardView:  # fmt: skip
    """The whole Leaderboard tab for a view (a pure function of the data and the filters, plus the files)."""
    results, models = data.results, data.models
    filters = normalize_filters(results, filters)
    # The column choice picks datasets; the rank context (model type, provenance, tier, settings, average) is always
    # kept: the page folds it into one column, the downloads keep every column.
    kwargs = filters.table_kwargs()
    if filters.columns is not None:
        kwargs["columns"] = (*filters.columns, *tables.INFO_COLUMNS)
    raw = tables.task_table(results, filters.task, **kwargs)
    shown = tables.display_table(raw).drop(columns=["entry_id"])  # long ids: the detail picker lists them
    # Each row's reproduce command(s) and provenance: in the downloads, and the provenance in the row's tooltip.
    raw = verify.provenance_column(verify.reproduce_column(raw, results, data.runs), results, data.runs)
    csv_path, json_path = write_downloads(raw, filters.task, download_dir)
    metric_choices = tables.metrics_for(results, filters.task)
    protocol_choices = [ALL_PROTOCOLS, *tables.protocols_for(results, filters.task, filters.metric)]
    column_choices = tables.benchmarks_for(results, filters.task, filters.metric)
    entries = entry_choices(results, filters.task, raw)
    model_names = sorted(str(m) for m in results["model"].dropna().unique()) if len(results) else []
    figures = charts.task_charts(results, models, filters.task, selected=filters.selected) if with_charts else {}
    count = len(raw)
    note = f"{raw.attrs.get('note', '')}\n\n{count} row{'s' if count != 1 else ''} shown."
    return BoardView(
        filters=filters,
        metric_choices=metric_choices,
        protocol_choices=protocol_choices,
        column_choices=column_choices,
        table=shown,
        raw_table=raw,
        html=board_html.board_html(raw),
        note=note,
        share_link=share_link(filters, base_url),
        csv_path=csv_path,
        json_path=json_path,
        updated_text=_format_updated(data.updated),
        entry_choices=entries,
        model_choices=model_names,
        figures=figures,
    )


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def entry_detail(data: BoardData, entry_id: str | None, store: Any = None) -> tuple[str, dict[str, Any]]:
    """(markdown, JSON) detail of one entry: configuration, provenance, scores, model facts, submission and card."""
    if not entry_id:
        return "Pick an entry to see its details.", {}
    submission = None
    rows = data.results.loc[data.results["entry_id"] == entry_id] if len(data.results) else data.results
    if not len(rows):
        return f"No results for entry `{entry_id}`.", {}
    ids = pd.to_numeric(rows["submission_id"], errors="coerce").dropna()
    if store is not None and len(ids):
        try:
            submission = store.get_submission(int(ids.iloc[0]))
        except KeyError:
            submission = None
    detail = _json_safe(tables.model_detail(data.results, data.models, entry_id, submission=submission))
    return detail_markdown(detail), detail


def detail_markdown(detail: Mapping[str, Any]) -> str:
    """A readable summary of ``tables.model_detail``'s dict."""
    lines = [f"### {detail['model']}" + (f" · {detail['variant']}" if detail.get("variant") else "")]
    conf = detail.get("configuration", {})
    lines.append(f"- type: {detail.get('model_type') or 'unknown'}; provenance: {', '.join(detail['provenance'])}")
    for key in ("protocols", "tiers", "steps", "guidance", "hardware", "trained_on_benchmarks"):
        values = [str(v) for v in conf.get(key, []) if v not in (None, "")]
        if values:
            lines.append(f"- {key.replace('_', ' ')}: {', '.join(values)}")
    info = detail.get("model_info") or {}
    facts = [f"{k.replace('_', ' ')}: {v}" for k, v in info.items()
             if k in ("params_millions", "train_images", "train_annotations", "annotation_kind", "licence", "url")
             and v not in (None, "")]  # fmt: skip
    if facts:
        lines.append("- " + "; ".join(facts))
    if detail.get("citations"):
        lines.append("\n**Citation**: " + "; ".join(str(c) for c in detail["citations"]))
    if detail.get("notes"):
        lines.append("\n**Notes**: " + "; ".join(str(n) for n in detail["notes"]))
    lines.append("\n| task | benchmark | metric | value | 95% CI | protocol | provenance |")
    lines.append("|---|---|---|---|---|---|---|")
    for s in detail.get("scores", [])[:200]:
        has_ci = s.get("ci_low") is not None and s.get("ci_high") is not None
        ci = f"[{s['ci_low']:.4g}, {s['ci_high']:.4g}]" if has_ci else ""
        value = s["value"]
        value = f"{value:.4g} {s.get('unit') or ''}" if isinstance(value, (int, float)) else str(value)
        lines.append(f"| {s['task']} | {s['benchmark']} | {s['metric']} | {value} | {ci} | {s['protocol']} | "
                     f"{s['provenance']} |")  # fmt: skip
    sub = detail.get("submission")
    if sub:
        meta = sub.get("metadata") or {}
        licence = sub.get("licence") or meta.get("licence") or "not given"
        lines.append(f"\n**Submission #{sub.get('submission_id')}** by {sub.get('submitter')} · status "
                     f"{sub.get('status')} · licence {licence}")  # fmt: skip
        if sub.get("hub_repo"):
            lines.append(f"- Hub: {sub['hub_repo']}@{sub.get('hub_revision')}")
        for key in ("description", "training_data"):
            if sub.get(key):
                lines.append(f"- {key.replace('_', ' ')}: {sub[key]}")
        if meta:
            targets, dtypes = ", ".join(meta.get("target_modules", [])), ", ".join(meta.get("dtypes", []))
            lines.append(f"- adapter: rank {meta.get('rank')}, targets {targets}, dtypes {dtypes}, "
                         f"{meta.get('num_parameters')} parameters")  # fmt: skip
        if meta.get("model_card"):
            lines.append("\n<details><summary>Model card</summary>\n\n" + str(meta["model_card"]) + "\n\n</details>")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------- checking a row

DETAIL_TITLE = "Entry details: where its numbers come from, the command that recomputes them, its samples"
COMPARE_TITLE = "Compare two entries: per-dataset differences with 95% intervals, the samples they disagree on"
OPEN_HINT_MD = ("**Click a model's name** for where its numbers come from, the command that recomputes them (with a "
                "copy button) and its worst and best samples; *Compare two entries* is under the tables.")  # fmt: skip
COMMAND_LABEL = "Reproduce: the command that recomputes this row (one line per run; copy: the button on the right)"
PICK_ENTRY = "Pick an entry (or click a model's name in the table) to see where its numbers come from."
COMPARE_HINT = ('<p class="lb-small">To set it against another entry, open <b>Compare two entries</b> under this '
                "section: this entry is A there.</p>")  # fmt: skip
PICK_TWO = '<p class="lb-small">Pick two entries, A and B (opening a row\'s details makes it A).</p>'
SCROLL_TO_DETAIL_JS = "() => { document.getElementById('lb-detail')?.scrollIntoView({block: 'start'}); }"


def _entry_label(rows: pd.DataFrame) -> str:
    """"DICEPTION · variant (protocol) · measured · 1 step, CFG 1, quick tier", plus the unranked datasets an entry
    is only scored on."""
    first = rows.iloc[0]
    name = str(first["model"]) + (f" · {first['variant']}" if isinstance(first["variant"], str) and first["variant"]
                                  else "")  # fmt: skip
    protocols = ", ".join(dict.fromkeys(str(p) for p in rows["protocol"]))
    facts = [", ".join(dict.fromkeys(str(p) for p in rows["provenance"]))]
    settings = board_html.row_details({"steps": first.get("steps"), "guidance": first.get("guidance"),
                                       "tier": first.get("tier")})  # fmt: skip
    if settings:
        facts.append(settings)
    benchmarks = list(dict.fromkeys(str(b) for b in rows["benchmark"]))
    if not any(is_ranked_benchmark(b) for b in benchmarks):
        facts.append("only on " + ", ".join(tables.benchmark_label(b) for b in benchmarks) + " (not ranked)")
    return f"{name} ({protocols}) · " + " · ".join(facts)


def entry_choices(results: pd.DataFrame, task: str, table: pd.DataFrame | None = None) -> list[tuple[str, str]]:
    """(label, entry id) of every entry with a result on ``task``: the rows of ``table`` (the board's view) first,
    in its order, then the entries it does not show (filtered out, or scored only on unranked benchmarks such as
    the synthetic smoke benchmark or a submitter's own split), by label. Labels are made unique."""
    if not len(results):
        return []
    rows = results.loc[results["task"] == task]
    labels = {str(e): _entry_label(group) for e, group in rows.groupby("entry_id", sort=False)}
    shown = [str(e) for e in dict.fromkeys(table["entry_id"])] if table is not None and len(table) else []
    shown = [e for e in shown if e in labels]
    rest = sorted((e for e in labels if e not in set(shown)), key=lambda e: (labels[e], e))
    out, seen = [], {}
    for entry in [*shown, *rest]:
        label = labels[entry]
        seen[label] = seen.get(label, 0) + 1
        out.append((label if seen[label] == 1 else f"{label} #{seen[label]}", entry))
    return out


@dataclass
class EntryChecks:
    """What the Entry details section shows for one entry (and one of its datasets)."""

    entry_id: str | None
    head_html: str  # name, settings and where the numbers came from
    command: str  # the reproduce command(s), one per line; "" when there is none
    command_note: str  # markdown: how to run it, or why there is no command
    datasets: list[tuple[str, str]]  # (label, "task/benchmark") with per-sample values
    dataset: str | None  # the one the gallery shows
    figure: Any  # the per-dataset distributions (plotly), None without per-sample values
    samples_html: str  # the gallery (worst first, best first) or the items' scores without images
    detail_md: str
    detail_json: dict[str, Any]


def _head_html(rows: pd.DataFrame, provenance: Mapping[str, Any]) -> str:
    first = rows.iloc[0]
    variant = first["variant"] if isinstance(first["variant"], str) and first["variant"] else ""
    badges = "".join(
        f'<span class="lb-badge lb-{escape_text(p.replace(" ", "-"))}">'
        f"{escape_text(tables.PROVENANCE_BADGES.get(p, p))}</span>"
        for p in dict.fromkeys(str(p) for p in rows["provenance"])
    )
    settings = board_html.row_details(first.to_dict())
    protocols = ", ".join(dict.fromkeys(str(p) for p in rows["protocol"]))
    count = f"{len(rows)} score" + ("" if len(rows) == 1 else "s")
    meta = " · ".join(x for x in (f"protocol {protocols}", settings, count) if x)
    return (f'<div class="lb-detail-head"><h3>{escape_text(str(first["model"]))}'
            + (f' <span class="lb-variant">{escape_text(variant)}</span>' if variant else "")
            + f' <span class="lb-tags">{badges}</span></h3><p class="lb-detail-meta">{escape_text(meta)}</p>'
            + detail_html.provenance_html(provenance) + COMPARE_HINT + "</div>")  # fmt: skip


def _samples_html(store: Any, results: pd.DataFrame, entry_id: str, checks: Mapping[str, Any],
                  dataset: tuple[str, str] | None, provenance: Sequence[str]) -> str:  # fmt: skip
    if checks["gallery"] is not None:
        return detail_html.gallery_html(checks["gallery"])
    if dataset is None:
        if "reported" in provenance and len(provenance) == 1:
            return '<p class="lb-small">A paper\'s published number: there are no per-sample values behind it.</p>'
        return ('<p class="lb-small">The run behind this entry kept no per-sample values (it was recorded before '
                "runs stored them).</p>")  # fmt: skip
    task, benchmark = dataset
    run_id = verify.run_for(results, entry_id, task, benchmark)
    samples = store.run_samples_frame([run_id], task=task, benchmark=benchmark) if run_id is not None else None
    if "self-submitted" in provenance:
        reason = "Self-submitted predictions: their per-sample scores (computed here), no images of the data"
    else:
        reason = "This run drew no thumbnails (--thumbnails 0): the items' scores only"
    return detail_html.sample_scores_html(samples if samples is not None else pd.DataFrame(
        columns=["task", "benchmark", "sample_id", "mask_id", "metric", "value"]), task, benchmark, reason=reason)


def entry_checks(data: BoardData, store: Any, entry_id: str | None, dataset: str | None = None) -> EntryChecks:
    """The Entry details section for ``entry_id``: head and provenance, reproduce command (or why none), the
    per-dataset distributions and the gallery of ``dataset`` ("task/benchmark"; default the first with thumbnails,
    else the first with per-sample values). Reads the store's runs, samples and thumbnails (``verify``)."""
    empty = EntryChecks(entry_id, "", "", PICK_ENTRY, [], None, None, "", "", {})
    if not entry_id:
        return empty
    rows = data.results.loc[data.results["entry_id"] == entry_id] if len(data.results) else data.results
    if not len(rows):
        return replace(empty, command_note=f"No results for entry `{entry_id}`.")
    task, _, benchmark = (dataset or "").partition("/")
    checks = verify.load_entry_checks(store, data.results, entry_id, task=task or None, benchmark=benchmark or None)
    datasets = [(detail_html.dataset_label(t, b), f"{t}/{b}") for t, b in checks["datasets"]]
    gallery = checks["gallery"]
    if gallery is not None:
        chosen: tuple[str, str] | None = (str(gallery["task"]), str(gallery["benchmark"]))
    elif task and benchmark and (task, benchmark) in checks["datasets"]:
        chosen = (task, benchmark)
    else:
        chosen = checks["datasets"][0] if checks["datasets"] else None
    provenance = list(dict.fromkeys(str(p) for p in rows["provenance"]))
    detail_md, detail_json = entry_detail(data, entry_id, store)
    return EntryChecks(
        entry_id=entry_id,
        head_html=_head_html(rows, checks["provenance"]),
        command=detail_html.commands_text(checks["commands"]),
        command_note=detail_html.commands_note(provenance, checks["commands"]),
        datasets=datasets,
        dataset=f"{chosen[0]}/{chosen[1]}" if chosen else None,
        figure=detail_html.distribution_figure(checks["distributions"]),
        samples_html=_samples_html(store, data.results, entry_id, checks, chosen, provenance),
        detail_md=detail_md,
        detail_json=detail_json,
    )


def comparison_view(data: BoardData, store: Any, entry_a: str | None, entry_b: str | None) -> str:
    """The Compare section's HTML for two entries (``verify.load_comparison``), or what to pick."""
    if not entry_a or not entry_b:
        return PICK_TWO
    if entry_a == entry_b:
        return '<p class="lb-small">A and B are the same entry: pick another B.</p>'
    results = data.results
    known = set(results["entry_id"]) if len(results) else set()
    missing = [e for e in (entry_a, entry_b) if e not in known]
    if missing:
        return f'<p class="lb-small">No results for entry {escape_text(missing[0])}.</p>'
    comparison = verify.load_comparison(store, results, entry_a, entry_b, top=detail_html.MAX_DISAGREEMENTS_SHOWN)
    labels = [_entry_label(results.loc[results["entry_id"] == e]) for e in (entry_a, entry_b)]
    return detail_html.comparison_html(comparison, *labels)


# --------------------------------------------------------------------------------------------- submissions


def resolve_submitter(profile_username: str | None, local_name: str | None, *, space: bool) -> str:
    """Who submits: the logged-in Hugging Face user on a Space (required), else the configured local name."""
    if space:
        if not profile_username:
            raise SubmissionError("log in with Hugging Face (the button above) to submit")
        return profile_username
    name = (local_name or "").strip() or os.environ.get("DICEPTION_SUBMITTER", "").strip()
    if not name:
        raise SubmissionError("submitter: type your name (or set DICEPTION_SUBMITTER)")
    return name[:100]


def form_from_inputs(
    name: str | None,
    description: str | None,
    licence: str | None,
    training_data: str | None,
    trained_on: Sequence[str] | None,
    task: str | None,
    benchmarks: Sequence[str] | None,
    source: str | None,
    hub_repo: str | None,
    hub_revision: str | None,
    zip_file: Any,
    folder_files: Any,
    what: str | None = None,
    predictions_zip: Any = None,
) -> SubmissionForm:
    """The Submit tab's widgets as a ``SubmissionForm`` (only the chosen kind and source are kept)."""

    def paths(value: Any) -> tuple[str, ...]:
        if value is None:
            return ()
        items = value if isinstance(value, (list, tuple)) else [value]
        return tuple(str(getattr(v, "name", v)) for v in items if v)

    predictions = what == WHAT_PREDICTIONS
    upload: tuple[str, ...] = ()
    if predictions:
        upload = paths(predictions_zip)
    elif source == SOURCE_UPLOAD:
        upload = paths(zip_file) or paths(folder_files)
    hub = not predictions and source != SOURCE_UPLOAD
    return SubmissionForm(
        name=name or "",
        description=description or "",
        licence=licence or "",
        training_data=training_data or "",
        trained_on_benchmarks=tuple(b.strip() for b in (trained_on or ()) if b and b.strip()),
        task="" if not task or task == FROM_TASK_FILE else task,
        benchmarks=tuple(b.strip() for b in (benchmarks or ()) if b and b.strip()),
        hub_repo=(hub_repo or "").strip() if hub else "",
        hub_revision=(hub_revision or "").strip() if hub else "",
        upload=upload,
        kind="predictions" if predictions else "adapter",
    )


def submit_kind_updates(what: str | None) -> tuple[Any, Any]:
    """Visibility of the adapter inputs and of the prediction-file inputs for the chosen kind."""
    predictions = what == WHAT_PREDICTIONS
    return gr.update(visible=not predictions), gr.update(visible=predictions)


def adapter_source_updates(source: str | None) -> tuple[Any, Any]:
    """Visibility of the Hub fields and of the upload boxes for the chosen adapter source."""
    upload = source == SOURCE_UPLOAD
    return gr.update(visible=not upload), gr.update(visible=upload)


def _format_wait(seconds: Any) -> str:
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        return ""
    if math.isnan(value):
        return ""
    if value < 90:
        return "< 2 min"
    if value < 5400:
        return f"~{round(value / 60)} min"
    return f"~{value / 3600:.1f} h"


def submissions_table(store: Any, submitter: str | None) -> pd.DataFrame:
    """The submitter's submissions: status, failure reason, attempts and the estimated wait of pending ones."""
    if not submitter:
        return pd.DataFrame(columns=list(SUBMISSION_TABLE_COLUMNS))
    frame = store.submissions_frame(submitter=submitter)
    if not len(frame):
        return pd.DataFrame(columns=list(SUBMISSION_TABLE_COLUMNS))
    created = pd.to_datetime(frame["created_at"], utc=True, errors="coerce")
    out = pd.DataFrame(
        {
            "#": frame["submission_id"].astype(int),
            "name": frame["name"],
            "task": frame["task"],
            "benchmarks": frame["benchmarks"],
            "status": frame["status"],
            "failure reason": frame["failure_reason"].fillna(""),
            "attempts": frame["attempts"],
            "submitted": created.dt.strftime("%Y-%m-%d %H:%M UTC").fillna(""),
            "estimated wait": [_format_wait(w) if s == "pending" else "" for w, s in
                               zip(frame["estimated_wait_s"], frame["status"], strict=True)],  # fmt: skip
        }
    )
    return out.sort_values("#", ascending=False, kind="stable").reset_index(drop=True)


SERVER_ERROR = "**Not submitted**: the server failed (not a problem with the submission); please try again later."


def run_submission(
    store: Any, config: SubmitConfig, form: SubmissionForm, submitter: str, *, download: Any = None, sizes: Any = None
) -> tuple[bool, str]:
    """Validate and queue an adapter or prediction files (``form.kind``); (accepted, markdown message). Every
    refusal comes back as a message saying why. ``download`` / ``sizes`` replace the Hub calls (tests)."""
    try:
        if form.kind == "predictions":
            receipt: Any = submit_predictions(store, form, submitter=submitter, config=config)
        else:
            receipt = submit_adapter(store, form, submitter=submitter, config=config, download=download, sizes=sizes)
    except AdapterRefused as exc:
        return False, f"**Refused** (adapter files): {exc}"
    except PredictionsRefused as exc:
        return False, f"**Refused** (prediction files): {exc}"
    except Refused as exc:  # SubmissionError, the store's SubmissionRefused (duplicate, quota), ...
        return False, f"**Refused**: {exc}"
    except Exception:  # the server's fault: the traceback goes to the log, never to the page
        log.exception("submission by %s failed on the server", submitter)
        return False, SERVER_ERROR
    wait = ""
    try:
        frame = store.submissions_frame(submitter=submitter)
        row = frame.loc[frame["submission_id"] == receipt.submission_id]
        if len(row):
            wait = _format_wait(row["estimated_wait_s"].iloc[0])
    except (AttributeError, KeyError) as exc:
        log.warning("no wait estimate: %s", exc)
    if form.kind == "predictions":
        p = receipt.predictions
        message = (
            f"**Queued** as submission #{receipt.submission_id} (prediction files, badged self-submitted): task "
            f"`{receipt.task}` on {', '.join(receipt.benchmarks)} ({config.tier} tier). {p.num_files:,} files for "
            f"{p.num_samples:,} samples, content hash `{p.content_hash[:12]}`."
        )
    else:
        a = receipt.adapter
        message = (
            f"**Queued** as submission #{receipt.submission_id}: task `{receipt.task}` on "
            f"{', '.join(receipt.benchmarks)} ({config.tier} tier). Rank {a.rank} LoRA on "
            f"{', '.join(a.target_modules)}, {a.num_parameters:,} parameters, content hash `{a.content_hash[:12]}`."
        )
    if wait:
        message += f" Estimated wait: {wait}."
    return True, message


# --------------------------------------------------------------------------------------------- Gradio builders


@dataclass
class LeaderboardTab:
    """The Leaderboard tab's components and its load handler (``attach`` wires it to the page load)."""

    handle: StoreHandle
    inputs: list[Any]
    outputs: list[Any]
    on_load: Callable[..., list[Any]]
    load_outputs: list[Any]
    components: dict[str, Any]

    def attach(self, demo: gr.Blocks) -> None:
        """Fill the tab on page load, reading the view from the page's URL query parameters."""
        demo.load(self.on_load, inputs=None, outputs=self.load_outputs)


def _page_base_url(request: Any) -> str:
    try:
        headers = getattr(request, "headers", None) or {}
        referer = headers.get("referer") or ""
    except (AttributeError, TypeError):
        referer = ""
    return referer.split("?")[0].split("#")[0]


def _request_params(request: Any) -> Any:
    try:
        return request.query_params if request is not None else ""
    except AttributeError:
        return ""


def build_leaderboard_tab(
    store: LeaderboardStore, *, demo: gr.Blocks | None = None, download_dir: Path | None = None
) -> LeaderboardTab:
    """Create the Leaderboard tab (it opens its own ``gr.Tab``) inside the caller's ``gr.Blocks``.

    Pass ``demo`` (or call ``tab.attach(demo)``) so the tab fills itself on page load from the URL's query.
    """
    handle = StoreHandle(store)
    c: dict[str, Any] = {}
    with gr.Tab("Leaderboard", id="leaderboard", elem_id="leaderboard-tab"):
        # One row of the filters people use; the rest on demand, so the scores start on the first screen.
        with gr.Row(equal_height=True, elem_classes=["lb-controls"]):
            c["task"] = gr.Dropdown(
                [(tables.TASK_LABELS[t], t) for t in tables.TASKS], value=ViewFilters.task, label="Task", scale=2,
                min_width=170,
            )  # fmt: skip
            # Choices change with the task; values are checked by normalize_filters, so custom values are allowed
            # (Gradio would otherwise check them against the choices the page was built with).
            c["metric"] = gr.Dropdown([], label="Metric", scale=2, allow_custom_value=True, min_width=170)
            c["protocol"] = gr.Dropdown([ALL_PROTOCOLS], value=ALL_PROTOCOLS, label="Protocol", scale=2,
                                        allow_custom_value=True, min_width=170)  # fmt: skip
            c["search"] = gr.Textbox(label="Search", placeholder="model or variant", scale=2, min_width=150)
        with gr.Accordion("More filters: model type, provenance, datasets shown", open=False), gr.Row():
            c["model_types"] = gr.CheckboxGroup(list(MODEL_TYPES), label="Model type")
            c["provenances"] = gr.CheckboxGroup(list(PROVENANCES), label="Provenance")
            c["columns"] = gr.Dropdown([], multiselect=True, label="Datasets shown", scale=3,
                                       allow_custom_value=True)  # fmt: skip
        # A row's "details" button fires this component's click event with the entry id (board_html.OPEN_ENTRY_JS).
        c["table"] = gr.HTML(elem_id="leaderboard-table", padding=False, apply_default_css=False,
                             js_on_load=board_html.OPEN_ENTRY_JS)  # fmt: skip
        c["updated"] = gr.Markdown(elem_classes=["lb-updated"])
        gr.Markdown(OPEN_HINT_MD, elem_classes=["lb-legend"])
        gr.Markdown(tables.BADGE_LEGEND, elem_classes=["lb-legend"])
        c["note"] = gr.Markdown(elem_classes=["lb-note"])
        with gr.Row(equal_height=True):
            c["csv"] = gr.DownloadButton("Download CSV", size="sm", scale=0, min_width=140)
            c["json"] = gr.DownloadButton("Download JSON", size="sm", scale=0, min_width=140)
            c["share"] = gr.Textbox(label="Share link (this view)", interactive=False, buttons=["copy"], scale=3)
        # Plots without Gradio's label badge: each figure carries its own (wrapped) title, which the badge would cover.
        plot = {"elem_classes": ["lb-plot"], "show_label": False}
        with gr.Accordion(DETAIL_TITLE, open=False, elem_id="lb-detail") as c["detail_section"]:
            with gr.Row(equal_height=True):
                c["entry"] = gr.Dropdown([], label="Entry (every entry of this task; unranked ones too)",
                                         allow_custom_value=True, elem_id="lb-entry", scale=3)  # fmt: skip
                c["dataset"] = gr.Dropdown([], label="Samples of dataset", visible=False, allow_custom_value=True,
                                           elem_id="lb-detail-dataset", scale=1, min_width=200)  # fmt: skip
            c["detail_head"] = gr.HTML(elem_id="lb-detail-head", padding=False, apply_default_css=False)
            c["command"] = gr.Textbox(label=COMMAND_LABEL, interactive=False, buttons=["copy"], lines=2, max_lines=8,
                                      visible=False, elem_id="lb-command")  # fmt: skip
            c["command_note"] = gr.Markdown(PICK_ENTRY, elem_id="lb-command-note", elem_classes=["lb-note"])
            c["samples"] = gr.HTML(elem_id="lb-samples", padding=False, apply_default_css=False)
            c["distributions"] = gr.Plot(label="Per-sample score distribution per dataset", visible=False,
                                         elem_id="lb-distributions", **plot)  # fmt: skip
            with gr.Accordion("All fields: every score, configuration, submission and model card", open=False):
                c["detail_md"] = gr.Markdown()
                c["detail_json"] = gr.JSON(label="All fields")
        with gr.Accordion(COMPARE_TITLE, open=False, elem_id="lb-compare") as c["compare_section"]:
            with gr.Row(equal_height=True):
                c["compare_a"] = gr.Dropdown([], label="A", allow_custom_value=True, elem_id="lb-compare-a")
                c["compare_b"] = gr.Dropdown([], label="B", allow_custom_value=True, elem_id="lb-compare-b")
            c["compare_out"] = gr.HTML(PICK_TWO, elem_id="lb-compare-out", padding=False, apply_default_css=False)
        c["plot_heatmap"] = gr.Plot(label="Per-dataset heat map", elem_id="leaderboard-heatmap", **plot)
        with gr.Accordion("Charts", open=True, elem_id="leaderboard-charts"):
            c["selected"] = gr.Dropdown([], multiselect=True, label="Also show (models or entries)",
                                        allow_custom_value=True)  # fmt: skip
            with gr.Row():
                c["plot_main"] = gr.Plot(label="Per dataset", min_width=320, **plot)
                c["plot_data_efficiency"] = gr.Plot(label="Data efficiency", min_width=320, **plot)
            with gr.Row():
                c["plot_steps"] = gr.Plot(label="Quality vs steps", min_width=320, **plot)
                c["plot_guidance"] = gr.Plot(label="Quality vs guidance", min_width=320, **plot)
            c["plot_radar"] = gr.Plot(label="Across tasks", **plot)
        c["base_url"] = gr.State("")

    control_keys = ("task", "metric", "protocol", "search", "model_types", "provenances", "columns", "selected")
    inputs = [c[k] for k in control_keys] + [c["base_url"]]
    view_keys = ("metric", "protocol", "columns", "note", "table", "csv", "json", "share", "updated", "entry",
                 "selected", *[f"plot_{k}" for k in CHART_KEYS], "compare_a", "compare_b")  # fmt: skip
    outputs = [c[k] for k in view_keys]

    def updates(view: BoardView) -> list[Any]:
        f = view.filters
        columns_value = list(f.columns) if f.columns is not None else list(view.column_choices)
        selected_choices = sorted(set(view.model_choices) | set(f.selected))
        return [
            gr.update(choices=[(tables.column_header(m), m) for m in view.metric_choices], value=f.metric),
            gr.update(choices=view.protocol_choices, value=f.protocol or ALL_PROTOCOLS),
            gr.update(choices=[(tables.benchmark_label(b), b) for b in view.column_choices], value=columns_value),
            view.note,
            view.html,
            view.csv_path,
            view.json_path,
            view.share_link,
            view.updated_text,
            gr.update(choices=view.entry_choices),  # an open detail stays open while the filters change
            gr.update(choices=selected_choices, value=list(f.selected)),
            *[view.figures.get(k) for k in CHART_KEYS],
            gr.update(choices=view.entry_choices),
            gr.update(choices=view.entry_choices),
        ]

    def refresh(task, metric, protocol, search, model_types, provenances, columns, selected, base_url):  # noqa: ANN001
        all_columns = tables.benchmarks_for(handle.data().results, task, metric)
        filters = filters_from_inputs(task, metric, protocol, search, model_types, provenances, columns,
                                      all_columns, selected)  # fmt: skip
        return updates(build_view(handle.data(), filters, base_url=base_url, download_dir=download_dir))

    def change_task(task, metric, protocol, search, model_types, provenances, columns, selected, base_url):  # noqa: ANN001
        filters = ViewFilters(task=task, search=search or "", model_types=tuple(model_types or ()),
                              provenances=tuple(provenances or ()), selected=tuple(selected or ()))  # fmt: skip
        return updates(build_view(handle.data(), filters, base_url=base_url, download_dir=download_dir))

    c["task"].input(change_task, inputs=inputs, outputs=outputs)
    for key in ("metric", "protocol", "model_types", "provenances", "columns", "selected"):
        c[key].input(refresh, inputs=inputs, outputs=outputs)
    c["search"].submit(refresh, inputs=inputs, outputs=outputs)
    c["search"].blur(refresh, inputs=inputs, outputs=outputs)

    detail_keys = ("detail_head", "command", "command_note", "dataset", "samples", "distributions", "detail_md",
                   "detail_json")  # fmt: skip
    detail_outputs = [c[k] for k in detail_keys]

    def detail_updates(checks: EntryChecks) -> list[Any]:
        return [
            checks.head_html,
            gr.update(value=checks.command, visible=bool(checks.command)),
            checks.command_note,
            gr.update(choices=checks.datasets, value=checks.dataset, visible=bool(checks.datasets)),
            checks.samples_html,
            gr.update(value=checks.figure, visible=checks.figure is not None),
            checks.detail_md,
            checks.detail_json,
        ]

    def show_entry(entry_id: str | None, entry_b: str | None) -> list[Any]:
        data = handle.data()
        checks = entry_checks(data, handle.store, entry_id)
        return [entry_id, comparison_view(data, handle.store, entry_id, entry_b), *detail_updates(checks)]

    def open_entry(entry_b: str | None, event: gr.EventData) -> list[Any]:
        try:
            entry_id = event.entry  # the "details" button's data-entry (board_html.OPEN_ENTRY_JS)
        except (AttributeError, TypeError):  # a click elsewhere on the board carries none
            return [gr.update() for _ in range(2 + len(entry_outputs))]
        return [gr.update(open=True), gr.update(value=entry_id), *show_entry(entry_id, entry_b)]

    def show_dataset(entry_id: str | None, dataset: str | None) -> str:
        return entry_checks(handle.data(), handle.store, entry_id, dataset).samples_html

    def compare(entry_a: str | None, entry_b: str | None) -> str:
        return comparison_view(handle.data(), handle.store, entry_a, entry_b)

    private = {"api_visibility": "private"}
    entry_outputs = [c["compare_a"], c["compare_out"], *detail_outputs]
    c["table"].click(open_entry, inputs=[c["compare_b"]], outputs=[c["detail_section"], c["entry"], *entry_outputs],
                     **private).then(None, js=SCROLL_TO_DETAIL_JS, **private)  # fmt: skip
    c["entry"].input(show_entry, inputs=[c["entry"], c["compare_b"]], outputs=entry_outputs, **private)
    c["dataset"].input(show_dataset, inputs=[c["entry"], c["dataset"]], outputs=[c["samples"]], **private)
    for key in ("compare_a", "compare_b"):
        c[key].input(compare, inputs=[c["compare_a"], c["compare_b"]], outputs=[c["compare_out"]], **private)

    load_outputs = [c["task"], c["search"], c["model_types"], c["provenances"], c["base_url"], *outputs]

    def on_load(request: gr.Request) -> list[Any]:
        filters = apply_query_params(_request_params(request))
        base_url = _page_base_url(request)
        view = build_view(handle.data(), filters, base_url=base_url, download_dir=download_dir)
        f = view.filters
        return [f.task, f.search, list(f.model_types), list(f.provenances), base_url, *updates(view)]

    tab = LeaderboardTab(handle, inputs, outputs, on_load, load_outputs, c)
    if demo is not None:
        tab.attach(demo)
    return tab


@dataclass
class SubmitTab:
    handle: StoreHandle
    components: dict[str, Any]
    space: bool


def build_submit_tab(
    store: LeaderboardStore,
    *,
    demo: gr.Blocks | None = None,
    config: SubmitConfig | None = None,
    space: bool | None = None,
    download: Any = None,
) -> SubmitTab:
    """Create the Submit tab (it opens its own ``gr.Tab``) inside the caller's ``gr.Blocks``.

    On a Space (``SPACE_ID`` set, or ``space=True``) a ``gr.LoginButton`` is shown and the Hugging Face login is
    required to submit; locally a submitter name is typed (default ``DICEPTION_SUBMITTER``). ``config`` defaults
    to ``SubmitConfig.from_env()``; ``download`` replaces ``huggingface_hub.snapshot_download`` (tests).
    """
    handle = StoreHandle(store)
    space = on_space() if space is None else space
    config = SubmitConfig.from_env() if config is None else config
    benchmark_ids = sorted({b for task in tables.TASKS for b in benchmark_order(task)})
    c: dict[str, Any] = {}
    with gr.Tab("Submit", id="submit", elem_id="submit-tab"):
        gr.Markdown(
            "Submit a **LoRA adapter** of DICEPTION (validated now, scored later on the standard tier) or, for a "
            "model we cannot run, its **prediction files** (public splits only; scored here, badged "
            "self-submitted and ranked apart). Your submissions' status, failure reason and estimated wait are "
            "listed below.", elem_classes=["submit-intro"],
        )  # fmt: skip
        # What first: only the chosen kind's (and, for an adapter, the chosen source's) fields are shown.
        c["what"] = gr.Radio([WHAT_ADAPTER, WHAT_PREDICTIONS], value=WHAT_ADAPTER, label="What are you submitting?",
                             elem_id="submit-what")  # fmt: skip
        with gr.Group(visible=True, elem_id="submit-adapter-inputs") as c["adapter_inputs"]:
            gr.Markdown(
                "A folder in the adapter format (`adapter_config.json`, `adapter_model.safetensors`, "
                f"`diception_task.json`; safetensors only) targeting `{config.base_model_id}`"
                + (f" at revision `{config.base_revision}`." if config.base_revision else "."),
                elem_classes=["submit-help"], padding=True,
            )  # fmt: skip
            c["source"] = gr.Radio([SOURCE_HUB, SOURCE_UPLOAD], value=SOURCE_HUB, label="Where is the adapter?",
                                   elem_id="submit-source")  # fmt: skip
            with gr.Row(visible=True, elem_id="submit-hub-inputs") as c["hub_inputs"]:
                c["hub_repo"] = gr.Textbox(label="Hub repo", placeholder="user/my-adapter", elem_id="submit-hub-repo")
                c["hub_revision"] = gr.Textbox(label="Commit (40 hex characters)", elem_id="submit-hub-revision")
            with gr.Row(visible=False, elem_id="submit-upload-inputs") as c["upload_inputs"]:
                c["zip"] = gr.File(label="Adapter .zip", file_types=[".zip"], file_count="single", type="filepath",
                                   height=120, elem_id="submit-zip")  # fmt: skip
                c["folder"] = gr.File(label="...or the adapter folder", file_count="directory", type="filepath",
                                      height=120, elem_id="submit-folder")  # fmt: skip
        with gr.Group(visible=False, elem_id="submit-predictions-inputs") as c["predictions_inputs"]:
            gr.Markdown(
                "A .zip holding `predictions.json` (`format_version`, `task`, `benchmarks`, `depth_kind`, ...) and "
                "`depth/<sample_id>.npy`, `normal/<sample_id>.npy` or `masks/<sample_id>/<mask_id>.png`.",
                elem_classes=["submit-help"], padding=True,
            )  # fmt: skip
            c["predictions_zip"] = gr.File(label="Prediction files .zip", file_types=[".zip"], file_count="single",
                                           type="filepath", height=120, elem_id="submit-predictions-zip")  # fmt: skip
        with gr.Row(equal_height=True):
            if space:
                c["login"] = gr.LoginButton()
                c["submitter"] = gr.State("")
            else:
                c["submitter"] = gr.Textbox(label="Submitter", value=os.environ.get("DICEPTION_SUBMITTER", ""))
            c["name"] = gr.Textbox(label="Name", max_length=100)
            c["licence"] = gr.Textbox(label="Licence", placeholder="e.g. MIT; empty: from diception_task.json")
        with gr.Row(equal_height=True):
            c["task"] = gr.Dropdown([FROM_TASK_FILE, *tables.TASKS], value=FROM_TASK_FILE, label="Task")
            c["benchmarks"] = gr.Dropdown(
                benchmark_ids, multiselect=True, allow_custom_value=True,
                label="Benchmarks to score (empty: from diception_task.json or predictions.json)",
            )  # fmt: skip
            c["trained_on"] = gr.Dropdown(
                benchmark_ids, multiselect=True, allow_custom_value=True,
                label="Benchmarks whose data it was trained on (flagged on the board)",
            )  # fmt: skip
        with gr.Row(equal_height=True):
            c["description"] = gr.Textbox(label="Description", lines=1, max_lines=4)
            c["training_data"] = gr.Textbox(label="Training data", lines=1, max_lines=4)
        c["submit"] = gr.Button("Validate and submit", variant="primary")
        c["result"] = gr.Markdown()
        with gr.Row():
            gr.Markdown("### Your submissions")
            c["refresh"] = gr.Button("Refresh", size="sm", scale=0, min_width=100)
        c["mine"] = gr.Dataframe(interactive=False, headers=list(SUBMISSION_TABLE_COLUMNS))

    field_keys = ("name", "description", "licence", "training_data", "trained_on", "task", "benchmarks", "source",
                  "hub_repo", "hub_revision", "zip", "folder", "what", "predictions_zip")  # fmt: skip
    fields = [c[k] for k in field_keys]
    c["what"].change(submit_kind_updates, inputs=[c["what"]], outputs=[c["adapter_inputs"], c["predictions_inputs"]],
                     queue=False, api_visibility="private")  # fmt: skip
    c["source"].change(adapter_source_updates, inputs=[c["source"]], outputs=[c["hub_inputs"], c["upload_inputs"]],
                       queue=False, api_visibility="private")  # fmt: skip

    def quick_check(*values: Any) -> None:
        try:
            check_form(form_from_inputs(*values))
        except SubmissionError as exc:
            raise gr.Error(str(exc)) from None

    def submit_and_list(submitter: str, values: Sequence[Any]) -> tuple[str, pd.DataFrame]:
        _, message = run_submission(handle.store, config, form_from_inputs(*values), submitter, download=download)
        return message, submissions_table(handle.store, submitter)

    if space:

        def do_submit(*values: Any, profile: gr.OAuthProfile | None) -> tuple[str, pd.DataFrame]:
            try:
                submitter = resolve_submitter(getattr(profile, "username", None), None, space=True)
            except SubmissionError as exc:
                raise gr.Error(str(exc)) from None
            return submit_and_list(submitter, values)

        def list_mine(profile: gr.OAuthProfile | None) -> pd.DataFrame:
            return submissions_table(handle.store, getattr(profile, "username", None))

        mine_inputs: list[Any] = []
        submit_inputs = fields
    else:

        def do_submit(*values: Any) -> tuple[str, pd.DataFrame]:  # type: ignore[misc]
            try:
                submitter = resolve_submitter(None, values[0], space=False)
            except SubmissionError as exc:
                raise gr.Error(str(exc)) from None
            return submit_and_list(submitter, values[1:])

        def list_mine(local_name: str) -> pd.DataFrame:  # type: ignore[misc]
            return submissions_table(handle.store, (local_name or "").strip() or None)

        mine_inputs = [c["submitter"]]
        submit_inputs = [c["submitter"], *fields]

    c["submit"].click(quick_check, inputs=fields, outputs=None, queue=False).success(
        do_submit, inputs=submit_inputs, outputs=[c["result"], c["mine"]]
    )
    c["refresh"].click(list_mine, inputs=mine_inputs, outputs=[c["mine"]])
    if demo is not None:
        demo.load(list_mine, inputs=mine_inputs, outputs=[c["mine"]])
    return SubmitTab(handle, c, space)
