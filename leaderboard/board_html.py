"""The leaderboard table as people read it: ``tables.task_table``'s frame -> HTML, one titled table per ranking.

- Each ranking group (a protocol; within it, self-submitted rows apart) is its own table under its own title, so
  ranks never restart inside a table.
- The first three columns are the rank, the model (its variant, provenance label and warnings under the name) and
  the main score with its 95% interval, side by side, so they are on the first screen; they stay in place when
  the per-dataset columns are scrolled sideways.
- Headers are human (``tables.column_header``: "1-click mIoU (%) ↑", dataset names), with the ids in tooltips
  (the downloads keep the ids); model type, tier, steps and guidance are folded into one compact last column.
- The model's name (with a small "i") is a button (``data-entry``: the entry id) whose tooltip is the row's
  provenance; ``OPEN_ENTRY_JS`` (the gr.HTML's ``js_on_load``) turns a click on it into the component's click event,
  and the Leaderboard tab opens that entry's detail (provenance, reproduce command, samples): one click.
- Every text that comes from data (model names, variants, submissions) is HTML-escaped.

Nothing here touches the store, the network or torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

import numpy as np
import pandas as pd

from diception_spec.benchmarks import aggregate_members
from diception_spec.models import Provenance
from leaderboard import tables
from leaderboard.verify import PROVENANCE_COLUMN

SELF_SUBMITTED = Provenance.SELF_SUBMITTED.value
PROVENANCE_DETAIL = PROVENANCE_COLUMN  # the column a row's "details" tooltip reads (verify.provenance_column)
OPEN_HINT = "where the numbers come from, the command that recomputes them, the samples behind them"
# The board's gr.HTML ``js_on_load``: a click on a row's "details" button fires the component's click event with
# the entry id (``gr.EventData.entry``); the tab's handler opens that entry's detail.
OPEN_ENTRY_JS = """element.addEventListener('click', (event) => {
  const button = event.target instanceof Element ? event.target.closest('button.lb-open[data-entry]') : null;
  if (!button) return;
  event.preventDefault();
  trigger('click', {entry: button.dataset.entry});
});"""
MAX_ROWS_PER_TABLE = 100  # the rest: search, filter or download (a page of 1,000 rows x 40 datasets is 3 MB)


def _aggregates(task: str) -> tuple[str, ...]:
    try:
        return tuple(aggregate_members(task))
    except ValueError:  # a task without aggregates (or unknown)
        return ()


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def format_score(value: Any) -> str:
    """A score as shown: 4 significant digits, no exponent for everyday magnitudes; "–" when missing."""
    number = _number(value)
    if number is None:
        return "–"
    return f"{number:.4g}" if 1e-3 <= abs(number) < 1e5 or number == 0 else f"{number:.3g}"


def _interval(low: Any, high: Any) -> str:
    lo, hi = _number(low), _number(high)
    return "" if lo is None or hi is None else f"{format_score(lo)}–{format_score(hi)}"


def row_details(row: Mapping[str, Any]) -> str:
    """The Details column's text: model type, steps, guidance, tier ("generalist · 28 steps · CFG 2")."""
    parts = []
    if isinstance(row.get("model_type"), str) and row["model_type"]:
        parts.append(row["model_type"])
    steps, guidance = _number(row.get("steps")), _number(row.get("guidance"))
    if steps is not None:
        parts.append(f"{steps:g} step" + ("" if steps == 1 else "s"))
    if guidance is not None:
        parts.append(f"CFG {guidance:g}")
    if isinstance(row.get("tier"), str) and row["tier"]:
        parts.append(f"{row['tier']} tier")
    return " · ".join(parts)


def _group_title(protocol: str, self_submitted: bool, rows: int) -> str:
    kind = " · self-submitted predictions, ranked apart" if self_submitted else ""
    count = f"{rows} entr{'y' if rows == 1 else 'ies'}"
    return (f'<h3 class="lb-group-title">Protocol <code>{escape(protocol)}</code>{kind} '
            f'<span class="lb-count">· {count}</span></h3>')  # fmt: skip


def _score_header(table: pd.DataFrame, rank_by: str, components: Sequence[str]) -> str:
    metric = str(table.attrs.get("metric", ""))
    if rank_by == "average":
        what = f"mean of {len(components)} dataset{'s' if len(components) != 1 else ''}"
    else:
        what = f"{tables.benchmark_label(rank_by)} mean"
    tip = f"{metric}: {rank_by} (ranked by this column)"
    return (f'<th class="lb-score" title="{escape(tip)}">{escape(tables.column_header(metric))}'
            f'<small>{escape(what)} · 95% CI</small></th>')  # fmt: skip


def _model_cell(row: dict[str, Any]) -> str:
    name = f'<span class="lb-name">{escape(str(row.get("model", "")))}</span>'
    variant = row.get("variant")
    if isinstance(variant, str) and variant:
        name += f' <span class="lb-variant">{escape(variant)}</span>'
    entry = row.get("entry_id")
    if isinstance(entry, str) and entry:
        # The name is the "details" button (one click to the entry's detail); its tooltip says where the numbers
        # came from (verify.provenance_column, when the table has it).
        where = row.get(PROVENANCE_DETAIL)
        tip = (f"{where} — click: " if isinstance(where, str) and where else "Click: ") + OPEN_HINT
        name = (f'<button type="button" class="lb-open" data-entry="{escape(entry)}" title="{escape(tip)}">{name}'
                '<span class="lb-i" aria-hidden="true">i</span></button>')
    provenance = str(row.get("provenance") or "")
    label = tables.PROVENANCE_BADGES.get(provenance, provenance)
    badge = f'<span class="lb-badge lb-{escape(provenance.replace(" ", "-"))}">{escape(label)}</span>' if label else ""
    flags = row.get("flags")
    flag = f'<span class="lb-flag">{escape(str(flags))}</span>' if isinstance(flags, str) and flags else ""
    return f'<td class="lb-model">{name}<div class="lb-tags">{badge}{flag}</div></td>'


def _group_html(table: pd.DataFrame, rows: pd.DataFrame, rank_by: str, benchmarks: Sequence[str]) -> str:
    metric = str(table.attrs.get("metric", ""))
    # Only the datasets this group has scores on (one protocol may cover a dataset another does not).
    benchmarks = [b for b in benchmarks if rows[b].notna().any()]
    components = [b for b in benchmarks if b not in _aggregates(str(table.attrs.get("task", "")))]
    head = ['<th class="lb-rank" title="rank within this table">#</th>',
            f'<th class="lb-model" title="{escape(OPEN_HINT)}">Model<small>click a name for its details</small></th>',
            _score_header(table, rank_by, components)]  # fmt: skip
    task = str(table.attrs.get("task", ""))
    for b in benchmarks:
        tip = f"{tables.benchmark_title(task, b)} ({b}) · {metric}"
        head.append(f'<th class="lb-bench" title="{escape(tip)}">{escape(tables.benchmark_label(b))}</th>')
    head.append('<th class="lb-details" title="model type, denoising steps, guidance, evaluation tier">Details</th>')
    body = []
    for row in rows.head(MAX_ROWS_PER_TABLE).to_dict(orient="records"):
        rank = "" if _number(row.get("rank")) is None else str(int(row["rank"]))
        tie = ('<span class="lb-tie" title="the 95% interval overlaps the row above: not a clear win">≈</span>'
               if row.get("tie") else "")  # fmt: skip
        score = row.get(rank_by)
        ci = _interval(row.get(rank_by + tables.CI_LOW), row.get(rank_by + tables.CI_HIGH))
        ci_html = (f'<span class="lb-ci" title="95% bootstrap interval">{ci}</span>' if ci else
                   '<span class="lb-ci lb-no-ci" title="reported in a paper: no interval">no CI</span>'
                   if row.get("provenance") == "reported" else "")  # fmt: skip
        cells = [f'<td class="lb-rank">{rank}{tie}</td>', _model_cell(row),
                 f'<td class="lb-score"><b>{format_score(score)}</b>{ci_html}</td>']  # fmt: skip
        flags = row.get("flags") if isinstance(row.get("flags"), str) else ""
        for b in benchmarks:
            interval = _interval(row.get(b + tables.CI_LOW), row.get(b + tables.CI_HIGH))
            tip = f"{tables.benchmark_label(b)}: {format_score(row.get(b))}" + (f", 95% CI {interval}" if interval
                                                                                 else "")  # fmt: skip
            mark = " ⚠" if flags and b in flags.split(": ", 1)[-1].split(", ") else ""
            cells.append(f'<td class="lb-bench" title="{escape(tip)}">{format_score(row.get(b))}{mark}</td>')
        cells.append(f'<td class="lb-details">{escape(row_details(row))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = ""
    if len(rows) > MAX_ROWS_PER_TABLE:
        more = (f'<p class="lb-more">Showing the first {MAX_ROWS_PER_TABLE} of {len(rows)} entries: search or filter '
                "to narrow the table, or download it whole (CSV / JSON below).</p>")  # fmt: skip
    return ('<div class="lb-scroll"><table class="lb-table"><thead><tr>' + "".join(head) + "</tr></thead><tbody>"
            + "".join(body) + "</tbody></table></div>" + more)  # fmt: skip


def board_html(table: pd.DataFrame) -> str:
    """``tables.task_table``'s frame as HTML: one titled table per ranking group, in the frame's order."""
    if not len(table):
        return '<div class="lb-board"><p class="lb-empty">No results match this view.</p></div>'
    rank_by = str(table.attrs.get("rank_by", "average"))
    benchmarks = [b for b in table.attrs.get("benchmarks", []) if b in table and b != rank_by]
    protocols = table["protocol"].astype(str).to_numpy()
    if "provenance" in table:
        self_rows = table["provenance"].to_numpy() == SELF_SUBMITTED
    else:
        self_rows = np.zeros(len(table), dtype=bool)
    keys = list(zip(protocols.tolist(), self_rows.tolist(), strict=True))
    parts = ['<div class="lb-board">']
    for key in dict.fromkeys(keys):
        mask = np.array([k == key for k in keys])
        rows = table.loc[mask]
        parts.append('<section class="lb-group">' + _group_title(key[0], key[1], len(rows))
                     + _group_html(table, rows, rank_by, benchmarks) + "</section>")  # fmt: skip
    parts.append("</div>")
    return "".join(parts)
