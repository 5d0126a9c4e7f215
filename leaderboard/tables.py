"""Leaderboard tables: pure ``DataFrame -> DataFrame`` views over a results frame (``schema.RESULT_COLUMNS``).

A task table has one row per (entry, protocol) and one column per benchmark, holding the chosen metric. Rules:

- Rows under different protocols are never ranked together: ranks restart per protocol (the table says so).
- Self-submitted rows (predictions we did not compute) are ranked apart from reported / measured rows.
- ``average`` is the mean over the shown dataset columns, only for rows that have all of them (blank otherwise), so
  averages over different subsets are never compared. Aggregate benchmarks (``sa23``, itself the mean over the 23
  datasets) are not averaged again: when shown, the rank is by the aggregate.
- Ranks respect the metric's direction (``higher_is_better``).
- A row whose confidence interval overlaps the one of the row ranked just above it is marked ``≈`` in ``tie``: the
  difference is not a clear win. Reported rows carry no interval, so no such statement can be made for them.
- A row whose ``trained_on_benchmarks`` include a shown benchmark is flagged in ``flags``.

Nothing here touches the store, the network or torch.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl, urlencode

import numpy as np
import pandas as pd

from diception_spec.benchmarks import BENCHMARKS, aggregate_members, benchmark_order, is_ranked_benchmark
from diception_spec.metrics import METRICS, TASK_MAIN_METRICS
from diception_spec.models import Provenance
from diception_spec.tasks import TASK_SPECS, Task
from leaderboard.schema import PROVENANCES, RESULT_COLUMNS

# The board's task order: the headline task (point segmentation) first. Ids, labels, metrics and benchmarks all come
# from diception_spec; frames carry the ids as strings.
BOARD_TASKS: tuple[Task, ...] = (
    Task.POINT_SEGMENTATION, Task.DEPTH, Task.NORMAL, Task.ENTITY_SEGMENTATION, Task.SEMANTIC_SEGMENTATION, Task.POSE,
)  # fmt: skip
TASKS: tuple[str, ...] = tuple(t.value for t in BOARD_TASKS)
TASK_LABELS: Mapping[str, str] = MappingProxyType({t.value: TASK_SPECS[t].label for t in BOARD_TASKS})


def _main_metrics(task: str) -> tuple[str, ...]:
    """The task's main metrics in order of preference (``diception_spec.metrics.TASK_MAIN_METRICS``)."""
    try:
        return TASK_MAIN_METRICS[Task(task)]
    except ValueError:
        raise ValueError(f"task: unknown task {task!r}; known tasks: {', '.join(TASKS)}") from None


def _unranked_benchmarks(benchmarks: np.ndarray) -> np.ndarray:
    """Boolean mask of benchmark ids that are never ranked: the smoke benchmark, own test splits, paths."""
    text = benchmarks.astype(str)
    unique, inverse = np.unique(text, return_inverse=True)
    return ~np.array([is_ranked_benchmark(b) for b in unique], dtype=bool)[inverse]


def _aggregates(task: str) -> Mapping[str, tuple[str, ...]]:
    """``{aggregate id: member ids}`` of ``task`` (sa23 for point segmentation): never averaged again."""
    try:
        return aggregate_members(task)
    except ValueError:
        return {}


# Provenance as plain text (shown as a styled label on the page): no icon that depends on an emoji font.
PROVENANCE_BADGES: Mapping[str, str] = {
    Provenance.REPORTED.value: "reported",
    Provenance.MEASURED.value: "measured",
    Provenance.SELF_SUBMITTED.value: "self-submitted",
}
BADGE_LEGEND: str = (
    "**reported**: copied from a paper (see the citation in the entry's details), no interval; "
    "**measured**: scored here, with a 95% bootstrap interval; "
    "**self-submitted**: predictions scored here but produced by the submitter, ranked apart; "
    "**≈**: the interval overlaps the row ranked just above, so the difference is not a clear win; "
    "**⚠**: trained on a shown benchmark's data."
)

# Short names for column headers and axes, of the benchmark ids that are not already names (the SA-23 ids are the
# datasets' own names); the spec's ``BenchmarkSpec.title`` (the long name) goes in the tooltip.


def metric_label(metric_id: str) -> str:
    """The metric's human label with its unit (``diception_spec.metrics``), e.g. ``"1-click mIoU (%)"``,
    ``"AbsRel"``; the id when unknown."""
    spec = METRICS.get(metric_id)
    return spec.label_with_unit if spec is not None else metric_id


def column_header(metric_id: str) -> str:
    """A column header for the metric: label, unit and direction, e.g. ``"1-click mIoU (%) ↑"``, ``"AbsRel ↓"``
    (``MetricSpec.header``; the id itself goes in the tooltip and the downloads); the id when unknown."""
    spec = METRICS.get(metric_id)
    return spec.header if spec is not None else metric_id


def benchmark_label(benchmark_id: str) -> str:
    """A benchmark's short display name from the spec (``"nyuv2"`` -> ``"NYUv2"``); SA-23 ids are names already,
    an unknown id stays as it is."""
    names = {spec.display_name for (_, name), spec in BENCHMARKS.items() if name == benchmark_id}
    return names.pop() if len(names) == 1 else benchmark_id


def benchmark_title(task: str, benchmark_id: str) -> str:
    """The benchmark's long name from the spec (``"KITTI Eigen test"``), for tooltips; the id when unknown."""
    spec = BENCHMARKS.get((task, benchmark_id))
    return spec.title if spec is not None else benchmark_id


# Columns of a task table before the benchmark columns, in order.
INFO_COLUMNS: tuple[str, ...] = (
    "rank", "tie", "model", "variant", "badges", "protocol", "provenance", "model_type", "tier", "steps", "guidance",
    "flags", "average",
)  # fmt: skip
# Rank context is never hidden: ties, trained-on flags and the protocol the rank is within.
ALWAYS_SHOWN: tuple[str, ...] = ("rank", "tie", "model", "variant", "protocol", "flags")
TIE_MARK = "≈"
CI_SUFFIX = " 95% CI"  # display_table's text column
CI_LOW, CI_HIGH = " ci_low", " ci_high"  # task_table's numeric columns
MAX_SEARCH_CHARS = 200
MAX_LIST_ITEMS = 200

_SELF = "self-submitted"
# What a submission's detail shows to everyone: never where its files are kept or which worker host holds it.
PUBLIC_SUBMISSION_FIELDS: frozenset[str] = frozenset({
    "submission_id", "submitter", "kind", "name", "task", "benchmarks", "content_hash", "hub_repo", "hub_revision",
    "description", "licence", "training_data", "trained_on_benchmarks", "metadata", "tier", "status",
    "failure_reason", "attempts", "created_at", "started_at", "finished_at", "run_ids", "entry_id",
})  # fmt: skip


# --------------------------------------------------------------------------------------------- metric choices


def _mask(results: pd.DataFrame, **equals: str | None) -> np.ndarray:
    """Row mask ``results[col] == value`` for every given (non-None) value, on numpy arrays (faster than pandas'
    object comparisons)."""
    mask = np.ones(len(results), dtype=bool)
    for col, value in equals.items():
        if value is not None:
            mask &= results[col].to_numpy() == value
    return mask


def higher_is_better(results: pd.DataFrame, metric: str) -> bool:
    """The metric's direction: the rows' ``higher_is_better`` if any row has the metric, else IDS.md's."""
    if len(results):
        rows = pd.Series(results["higher_is_better"].to_numpy()[_mask(results, metric=metric)]).dropna()
        if len(rows):
            return bool(rows.iloc[0])
    if metric in METRICS:
        return METRICS[metric].higher_is_better
    raise ValueError(f"metric: unknown direction for {metric!r}; known metrics: {', '.join(METRICS)}")


def metrics_for(results: pd.DataFrame, task: str) -> list[str]:
    """The metric ids present for ``task``, the main metric first."""
    present = []
    if len(results):
        present = [m for m in pd.unique(results["metric"].to_numpy()[_mask(results, task=task)]) if isinstance(m, str)]
    preferred = [m for m in _main_metrics(task) if m in present] if task in TASKS else []
    return preferred + sorted(m for m in present if m not in preferred)


def main_metric(results: pd.DataFrame, task: str) -> str:
    """The task's main metric: the first of its main metrics (``diception_spec.metrics.TASK_MAIN_METRICS``) present
    in ``results`` (the first if none is)."""
    preferred = _main_metrics(task)
    present = metrics_for(results, task)
    return present[0] if present else preferred[0]


def protocols_for(results: pd.DataFrame, task: str, metric: str | None = None) -> list[str]:
    """Protocols with rows for (task, metric), the one with the most entries first (ties: alphabetical)."""
    if not len(results):
        return []
    mask = _mask(results, task=task, metric=metric or None)
    protocol_codes, names = pd.factorize(results["protocol"].to_numpy()[mask])
    if not len(names):
        return []
    entry_codes, _ = pd.factorize(results["entry_id"].to_numpy()[mask])
    pairs = np.unique(entry_codes.astype(np.int64) * len(names) + protocol_codes)
    counts = np.bincount(pairs % len(names), minlength=len(names))
    return sorted((str(n) for n in names), key=lambda p: (-counts[list(names).index(p)], p))


def default_protocol(results: pd.DataFrame, task: str, metric: str | None = None) -> str | None:
    """The protocol shown first: the one with the most entries for (task, metric)."""
    protocols = protocols_for(results, task, metric)
    return protocols[0] if protocols else None


def benchmarks_for(results: pd.DataFrame, task: str, metric: str | None = None) -> list[str]:
    """Benchmark ids with rows for (task, metric), in the task's canonical order, unknown ones appended."""
    if not len(results):
        return []
    values = results["benchmark"].to_numpy()[_mask(results, task=task, metric=metric or None)]
    return _order_benchmarks(task, (b for b in pd.unique(values) if isinstance(b, str)))


def _order_benchmarks(task: str, names: Iterable[str]) -> list[str]:
    order = {b: i for i, b in enumerate(benchmark_order(task) if task in TASKS else ())}
    return sorted(set(names), key=lambda b: (order.get(b, len(order)), str(b)))


# --------------------------------------------------------------------------------------------- the table


def empty_results() -> pd.DataFrame:
    """A results frame with the contract's columns and no rows."""
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in RESULT_COLUMNS})


def _ranking_group(protocol: pd.Series, provenance: pd.Series) -> pd.Series:
    # Self-submitted rows form their own ranking inside a protocol.
    kind = np.where(provenance.to_numpy() == _SELF, _SELF, "reported/measured")
    return protocol.astype(str) + " · " + pd.Series(kind, index=protocol.index)


def _fmt_setting(value: Any, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    number = float(value)
    text = str(int(number)) if number.is_integer() else f"{number:g}"
    if unit == "steps":
        return f"{text} step" if number == 1 else f"{text} steps"
    return f"{unit} {text}"


def task_table(
    results: pd.DataFrame,
    task: str,
    *,
    metric: str | None = None,
    protocol: str | None = None,
    search: str = "",
    model_types: Sequence[str] = (),
    provenances: Sequence[str] = (),
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The leaderboard table of one task; see the module docstring for the ranking rules.

    Args:
        results: a frame with ``RESULT_COLUMNS``.
        task: a task id (``TASKS``).
        metric: a metric id; default the task's main metric (``main_metric``).
        protocol: keep only this protocol; ``None`` keeps all, each ranked on its own.
        search: case-insensitive substring of the model, variant or entry id.
        model_types: keep only these (``"generalist"``, ``"specialist"``); empty keeps all.
        provenances: keep only these (``PROVENANCES``); empty keeps all.
        columns: the columns to show (benchmark ids and info columns); ``rank``, ``tie``, ``model``, ``variant``,
            ``protocol`` and ``flags`` are always shown, and ``average`` is over the shown benchmarks. ``None``
            shows everything.

    Returns:
        One row per (entry, protocol), sorted by protocol then rank; numeric score columns, with numeric
        ``<benchmark> ci_low`` / ``<benchmark> ci_high`` columns next to every benchmark that has intervals (and
        ``average ci_low`` / ``average ci_high``, the mean of the bounds, next to ``average`` when there are any;
        ``display_table`` turns each pair into one ``... 95% CI`` text column), ``entry_id`` last.
        ``df.attrs`` holds ``task``, ``metric``, ``unit``, ``higher_is_better``, ``rank_by``, ``benchmarks`` and
        ``note`` (the rules, in words).

    Raises:
        ValueError: an unknown task, provenance or a metric of unknown direction.
    """
    _main_metrics(task)  # an unknown task raises here
    bad = [p for p in provenances if p not in PROVENANCES]
    if bad:
        raise ValueError(f"provenances: unknown {bad}; known: {', '.join(PROVENANCES)}")
    metric = metric or main_metric(results, task)
    hib = higher_is_better(results, metric)

    # Filter on positions into ``results`` rather than copying its ~30 columns at every step.
    idx = np.arange(len(results))
    if len(results):
        idx = np.flatnonzero((results["task"].to_numpy() == task) & (results["metric"].to_numpy() == metric))
        # Scores on the unranked smoke benchmark or on a submitter's own test split stay in that entry's detail
        # view and never enter the table's columns, averages or ranks.
        idx = idx[~_unranked_benchmarks(results["benchmark"].to_numpy()[idx])]

    def column(name: str, positions: np.ndarray | None = None) -> np.ndarray:
        return results[name].to_numpy()[idx if positions is None else positions]

    if protocol:
        idx = idx[column("protocol") == protocol]
    if model_types:
        idx = idx[np.isin(column("model_type"), list(model_types))]
    if provenances:
        idx = idx[np.isin(column("provenance"), list(provenances))]
    search = (search or "").strip()[:MAX_SEARCH_CHARS].lower()
    if search and len(idx):
        text = pd.Series(column("model")).astype(str) + " " + pd.Series(column("variant")).fillna("").astype(str)
        text = text + " " + pd.Series(column("entry_id")).astype(str)
        idx = idx[text.str.lower().str.contains(search, regex=False).to_numpy()]

    all_benchmarks = _order_benchmarks(task, pd.unique(column("benchmark"))) if len(idx) else []
    wanted = None if columns is None else list(dict.fromkeys(columns))
    benchmarks = all_benchmarks if wanted is None else [b for b in all_benchmarks if b in wanted]
    unit = str(column("unit")[0]) if len(idx) else ""

    if not len(idx) or not benchmarks:
        out = pd.DataFrame({c: pd.Series([], dtype=object) for c in (*INFO_COLUMNS, *benchmarks, "entry_id")})
        return _finish(out, task, metric, unit, hib, rank_by="average", benchmarks=benchmarks, protocol=protocol)

    if len(benchmarks) < len(all_benchmarks):
        idx = idx[np.isin(column("benchmark"), benchmarks)]
    wide = _pivot(results, idx, benchmarks)
    values, lows, highs = wide.values, wide.lows, wide.highs
    aggregate_ids = _aggregates(task)
    components = [b for b in benchmarks if b not in aggregate_ids]
    aggregates = [b for b in benchmarks if b in aggregate_ids]
    if components:
        cols = [benchmarks.index(b) for b in components]
        average, ci_avg_low, ci_avg_high = _averages(
            values[:, cols], lows[:, cols], highs[:, cols], wide.protocol_codes
        )
    else:
        average = np.full(len(values), np.nan)
        ci_avg_low = ci_avg_high = average
    if aggregates:
        rank_by = aggregates[0]
        j = benchmarks.index(rank_by)
        score, score_low, score_high = values[:, j], lows[:, j], highs[:, j]
    else:
        rank_by = "average"
        score, score_low, score_high = average, ci_avg_low, ci_avg_high

    # Sort and rank on a small frame; then build the output once, column arrays taken in the sorted order.
    key_frame = pd.DataFrame(
        {
            "protocol": wide.protocols,
            "provenance": wide.meta("provenance"),
            "model": wide.meta("model"),
            "variant": pd.Series(wide.meta("variant")).fillna("").to_numpy(),
            "_score": score,
        }
    )
    key_frame["_group"] = _ranking_group(key_frame["protocol"], key_frame["provenance"])
    rank = key_frame.groupby("_group")["_score"].rank(ascending=not hib, method="min")
    protocol_order = {p: i for i, p in enumerate(wide.protocol_order)}
    key_frame["_porder"] = key_frame["protocol"].map(protocol_order).fillna(len(protocol_order))
    key_frame["_self"] = key_frame["provenance"] == _SELF
    key_frame["_nan"] = key_frame["_score"].isna()
    key_frame["_sort"] = -key_frame["_score"] if hib else key_frame["_score"]
    by = ["_porder", "protocol", "_self", "_nan", "_sort", "model", "variant"]
    order = key_frame.sort_values(by, kind="stable").index.to_numpy()

    # ≈ when the interval overlaps the one of the row ranked just above (same ranking group).
    group = key_frame["_group"].to_numpy()[order]
    low, high, sc = score_low[order], score_high[order], score[order]
    same = np.zeros(len(order), dtype=bool)
    same[1:] = group[1:] == group[:-1]
    prev_low, prev_high = np.roll(low, 1), np.roll(high, 1)
    with np.errstate(invalid="ignore"):
        overlap = same & (low <= prev_high) & (prev_low <= high) & ~np.isnan(sc)

    def col(name: str) -> np.ndarray:
        return wide.meta(name)[order]

    steps_v = pd.to_numeric(pd.Series(col("steps")), errors="coerce").to_numpy(dtype=float)
    guidance_v = pd.to_numeric(pd.Series(col("guidance")), errors="coerce").to_numpy(dtype=float)
    data: dict[str, Any] = {
        "rank": pd.array(rank.to_numpy()[order], dtype="Int64"),
        "tie": np.where(overlap, TIE_MARK, ""),
        "model": col("model"),
        "variant": key_frame["variant"].to_numpy()[order],
        "badges": _badges(col("provenance"), col("tier"), steps_v, guidance_v),
        "protocol": key_frame["protocol"].to_numpy()[order],
        "provenance": col("provenance"),
        "model_type": col("model_type"),
        "tier": col("tier"),
        "steps": steps_v,
        "guidance": guidance_v,
        "flags": _trained_on_flags(col("trained_on_benchmarks"), benchmarks),
        "average": average[order],
    }
    value_arr, low_arr, high_arr = values[order], lows[order], highs[order]
    ordered = []
    for j, b in enumerate(benchmarks):
        data[b] = value_arr[:, j]
        ordered.append(b)
        if not (np.isnan(low_arr[:, j]).all() or np.isnan(high_arr[:, j]).all()):
            data[b + CI_LOW], data[b + CI_HIGH] = low_arr[:, j], high_arr[:, j]
            ordered += [b + CI_LOW, b + CI_HIGH]
    data["entry_id"] = wide.entry_ids[order]
    out = pd.DataFrame(data)

    shown = [c for c in INFO_COLUMNS if wanted is None or c in wanted or c in ALWAYS_SHOWN]
    if "average" in shown and components and not (np.isnan(ci_avg_low).all() or np.isnan(ci_avg_high).all()):
        out["average" + CI_LOW], out["average" + CI_HIGH] = ci_avg_low[order], ci_avg_high[order]
        at = shown.index("average") + 1
        shown[at:at] = ["average" + CI_LOW, "average" + CI_HIGH]
    out = out[[*shown, *ordered, "entry_id"]]
    return _finish(out, task, metric, unit, hib, rank_by=rank_by, benchmarks=benchmarks, protocol=protocol)


@dataclass(frozen=True)
class _Wide:
    """A numpy pivot of one metric: rows = (entry, protocol) in first-seen order, columns = benchmarks."""

    values: np.ndarray  # [rows, benchmarks]
    lows: np.ndarray
    highs: np.ndarray
    entry_ids: np.ndarray  # [rows]
    protocols: np.ndarray  # [rows]
    protocol_codes: np.ndarray  # [rows], index into protocol_names
    protocol_order: list[str]  # the most populated protocol first
    source: pd.DataFrame  # the results frame
    meta_rows: np.ndarray  # [rows], position in ``source`` of the row's latest result

    def meta(self, column: str) -> np.ndarray:
        return self.source[column].to_numpy()[self.meta_rows]


def _keep_last(codes: np.ndarray) -> np.ndarray:
    """Positions of the last occurrence of each distinct code."""
    _, first_in_reversed = np.unique(codes[::-1], return_index=True)
    return len(codes) - 1 - first_in_reversed


def _time_keys(times: pd.Series) -> np.ndarray:
    """Sortable int64 keys of a timestamp column (tz-aware or not); NaT sorts first."""
    if not (isinstance(times.dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(times.dtype)):
        times = pd.to_datetime(times, utc=True, errors="coerce")
    return np.asarray(times.array.asi8 if hasattr(times.array, "asi8") else times.array.view(np.int64))


def _pivot(results: pd.DataFrame, idx: np.ndarray, benchmarks: Sequence[str]) -> _Wide:
    # The latest result wins where a cell was recorded twice. factorize + numpy on positions is ~3x faster than
    # drop_duplicates + pivot on 40k rows.
    if "recorded_at" in results and len(idx) > 1:
        keys = _time_keys(results["recorded_at"])[idx]
        if (np.diff(keys) < 0).any():
            idx = idx[np.argsort(keys, kind="stable")]

    def column(name: str) -> np.ndarray:
        return results[name].to_numpy()[idx]

    entry_codes, entry_names = pd.factorize(column("entry_id"))
    protocol_codes, protocol_names = pd.factorize(column("protocol"))
    n_protocols = max(len(protocol_names), 1)
    bench_codes = pd.Series(column("benchmark")).map({b: i for i, b in enumerate(benchmarks)}).to_numpy(np.int64)
    pair = entry_codes.astype(np.int64) * n_protocols + protocol_codes
    row_codes, row_keys = pd.factorize(pair)
    n_rows, n_bench = len(row_keys), len(benchmarks)

    cells = _keep_last(row_codes.astype(np.int64) * n_bench + bench_codes)
    grids = []
    for name in ("value", "ci_low", "ci_high"):
        grid = np.full((n_rows, n_bench), np.nan)
        numbers = pd.to_numeric(pd.Series(column(name)), errors="coerce").to_numpy(dtype=float)
        grid[row_codes[cells], bench_codes[cells]] = numbers[cells]
        grids.append(grid)
    last = _keep_last(row_codes)
    meta_rows = np.zeros(n_rows, dtype=np.int64)
    meta_rows[row_codes[last]] = idx[last]

    row_protocol = (row_keys % n_protocols).astype(np.int64)
    counts = np.bincount(row_protocol, minlength=len(protocol_names))
    names = np.asarray(protocol_names, dtype=object)
    order = sorted(range(len(names)), key=lambda i: (-counts[i], names[i]))
    return _Wide(
        values=grids[0],
        lows=grids[1],
        highs=grids[2],
        entry_ids=np.asarray(entry_names, dtype=object)[row_keys // n_protocols],
        protocols=names[row_protocol],
        protocol_codes=row_protocol,
        protocol_order=[names[i] for i in order],
        source=results,
        meta_rows=meta_rows,
    )


def _averages(
    values: np.ndarray, lows: np.ndarray, highs: np.ndarray, protocol_codes: np.ndarray
) -> tuple[np.ndarray, ...]:
    """Row means over the datasets the row's protocol covers, NaN where the row misses one of them.

    A protocol "covers" a shown dataset when any of its rows has a value there (Depth Anything's protocol has
    Sintel, the affine one has not). The interval is the mean of the bounds: wider than the interval of the mean,
    so ties are over- rather than under-stated.
    """
    present = ~np.isnan(values)
    n_protocols = int(protocol_codes.max()) + 1 if len(protocol_codes) else 0
    covered = np.zeros((n_protocols, values.shape[1]), dtype=bool)
    for p in range(n_protocols):
        covered[p] = present[protocol_codes == p].any(axis=0)
    expected = covered[protocol_codes]
    count = expected.sum(axis=1)
    missing = (~present & expected).any(axis=1) | (count == 0)
    safe = np.maximum(count, 1)

    def mean(a: np.ndarray) -> np.ndarray:
        nan_in = (np.isnan(a) & expected).any(axis=1)
        total = np.where(expected & ~np.isnan(a), a, 0.0).sum(axis=1)
        return np.where(missing | nan_in, np.nan, total / safe)

    return mean(values), mean(lows), mean(highs)


def _format_intervals(low: np.ndarray, high: np.ndarray, has: np.ndarray) -> np.ndarray:
    # Formatting Python floats in a comprehension is the fastest of the string routes tried (numpy char, astype(str)).
    text = np.full(len(low), "", dtype=object)
    idx = np.flatnonzero(has)
    text[idx] = [f"[{lo:.4g}, {hi:.4g}]" for lo, hi in zip(low[idx].tolist(), high[idx].tolist(), strict=True)]
    return text


def _badges(provenance: np.ndarray, tiers: np.ndarray, steps: np.ndarray, guidance: np.ndarray) -> np.ndarray:
    badges = np.empty(len(provenance), dtype=object)
    for i in range(len(provenance)):
        parts = [PROVENANCE_BADGES.get(provenance[i], str(provenance[i]))]
        if isinstance(tiers[i], str) and tiers[i]:
            parts.append(f"{tiers[i]} tier")
        settings = " ".join(s for s in (_fmt_setting(steps[i], "steps"), _fmt_setting(guidance[i], "CFG")) if s)
        if settings:
            parts.append(settings)
        badges[i] = " · ".join(parts)
    return badges


def _trained_on_flags(trained_on: np.ndarray, benchmarks: Sequence[str]) -> np.ndarray:
    shown = set(benchmarks)
    flags = np.full(len(trained_on), "", dtype=object)
    for i, raw in enumerate(trained_on):
        if not isinstance(raw, str) or not raw.strip():
            continue
        overlap = [b for b in (s.strip() for s in raw.split(",")) if b in shown]
        if overlap:
            flags[i] = "⚠ trained on: " + ", ".join(overlap)
    return flags


def _finish(
    out: pd.DataFrame,
    task: str,
    metric: str,
    unit: str,
    hib: bool,
    *,
    rank_by: str,
    benchmarks: Sequence[str],
    protocol: str | None,
) -> pd.DataFrame:
    direction = "higher is better" if hib else "lower is better"
    scope = f"protocol {protocol} only" if protocol else "ranks restart for every protocol (never ranked across them)"
    rank_text = (
        f"{rank_by} (the mean over its datasets)" if rank_by != "average" else "the average over the shown datasets"
    )
    note = (
        f"{TASK_LABELS.get(task, task)} · {metric} ({unit or 'unit unknown'}, {direction}). Ranked by {rank_text}; "
        f"{scope}; self-submitted rows are ranked apart. 'average' is over the shown datasets of the row's "
        "protocol, blank for rows missing one. "
        f"{TIE_MARK} = confidence intervals overlap with the row above (not a clear win); reported rows have no "
        "interval."
    )
    out.attrs.update(
        task=task, metric=metric, unit=unit, higher_is_better=hib, rank_by=rank_by, benchmarks=list(benchmarks),
        protocol=protocol, note=note,
    )  # fmt: skip
    return out


def display_table(table: pd.DataFrame, *, digits: int = 4) -> pd.DataFrame:
    """The table as shown: scores rounded, each interval as one ``<benchmark> 95% CI`` text column next to its
    score, cells of benchmarks a row was trained on marked ⚠, ranks as text (blank when unranked)."""
    benchmarks = [b for b in table.attrs.get("benchmarks", []) if b in table]
    with_intervals = [*benchmarks, "average"]
    data: dict[str, Any] = {}
    flags = table["flags"].astype(str) if "flags" in table else None
    for col in table.columns:
        if col.endswith(CI_HIGH) and col[: -len(CI_HIGH)] in with_intervals:
            continue
        if col.endswith(CI_LOW) and col[: -len(CI_LOW)] in with_intervals:
            b = col[: -len(CI_LOW)]
            low, high = table[col].to_numpy(dtype=float), table[b + CI_HIGH].to_numpy(dtype=float)
            data[b + CI_SUFFIX] = _format_intervals(low, high, ~(np.isnan(low) | np.isnan(high)))
            continue
        values = table[col]
        if col in benchmarks or col == "average":
            values = pd.to_numeric(values, errors="coerce").round(digits)
            if col in benchmarks and flags is not None and len(table):
                marked = flags.str.contains(col, regex=False).to_numpy()
                if marked.any():
                    values = values.astype(object)
                    values[marked] = [f"{v} ⚠" for v in values[marked]]
        elif col == "rank":
            values = pd.Series(["" if pd.isna(r) else str(int(r)) for r in values], index=table.index)
        data[col] = values
    shown = pd.DataFrame(data, index=table.index)
    shown.attrs = dict(table.attrs)
    return shown


# --------------------------------------------------------------------------------------------- downloads


def to_csv(df: pd.DataFrame) -> str:
    """The current view as CSV text (the columns as shown, no index)."""
    return df.to_csv(index=False)


def to_json(df: pd.DataFrame) -> str:
    """The current view as JSON: ``{"view": <the table's attrs>, "rows": [one object per row]}``."""
    rows = json.loads(df.to_json(orient="records", date_format="iso", force_ascii=False)) if len(df) else []
    view = {k: v for k, v in df.attrs.items() if isinstance(v, (str, int, float, bool, list, type(None)))}
    return json.dumps({"view": view, "rows": rows}, ensure_ascii=False, indent=1)


# --------------------------------------------------------------------------------------------- share links


@dataclass(frozen=True)
class ViewFilters:
    """What a leaderboard view shows; round-trips through a URL query string (``share_query``)."""

    task: str = "point_segmentation"
    metric: str | None = None
    protocol: str | None = None
    search: str = ""
    model_types: tuple[str, ...] = ()
    provenances: tuple[str, ...] = ()
    columns: tuple[str, ...] | None = None
    selected: tuple[str, ...] = field(default=())  # entry ids highlighted in the charts

    def table_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of ``task_table`` (everything but ``task`` and ``selected``)."""
        kwargs = asdict(self)
        kwargs.pop("task")
        kwargs.pop("selected")
        return kwargs


_LIST_KEYS = ("model_types", "provenances", "columns", "selected")
_SCALAR_KEYS = ("task", "metric", "protocol", "search")


def share_query(filters: ViewFilters | Mapping[str, Any]) -> str:
    """The URL query string (without ``?``) for a view; lists become repeated keys; empty values are left out."""
    if isinstance(filters, Mapping):
        filters = ViewFilters(**{k: filters[k] for k in (*_SCALAR_KEYS, *_LIST_KEYS) if k in filters})
    items: list[tuple[str, str]] = []
    for key in _SCALAR_KEYS:
        value = getattr(filters, key)
        if value:
            items.append((key, str(value)))
    for key in _LIST_KEYS:
        values = getattr(filters, key)
        if values is None:
            continue
        if key == "columns" and not values:
            items.append(("columns", ""))  # an explicitly empty column choice
        items.extend((key, str(v)) for v in values)
    return urlencode(items)


def _query_items(query: str | Mapping[str, Any] | Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    if isinstance(query, str):
        return parse_qsl(query.lstrip("?"), keep_blank_values=True, max_num_fields=2 * MAX_LIST_ITEMS)
    if hasattr(query, "multi_items"):  # starlette's QueryParams (gr.Request.query_params)
        return [(str(k), str(v)) for k, v in query.multi_items()]
    if isinstance(query, Mapping):
        items = []
        for k, v in query.items():
            for one in v if isinstance(v, (list, tuple)) else [v]:
                items.append((str(k), str(one)))
        return items
    return [(str(k), str(v)) for k, v in query]


def parse_share_query(query: str | Mapping[str, Any] | Iterable[tuple[str, str]]) -> ViewFilters:
    """Read a view back from a query string (or ``request.query_params``); unknown keys and tasks are ignored.

    Values are only ever used as filter strings (never evaluated); over-long values and lists are cut.
    """
    scalars: dict[str, str] = {}
    lists: dict[str, list[str]] = {}
    for key, value in _query_items(query):
        value = value[:MAX_SEARCH_CHARS]
        if key in _SCALAR_KEYS:
            scalars[key] = value
        elif key in _LIST_KEYS:
            bucket = lists.setdefault(key, [])
            if value and len(bucket) < MAX_LIST_ITEMS:
                bucket.append(value)
    filters = ViewFilters()
    task = scalars.get("task", "").strip()
    if task in TASKS:
        filters = replace(filters, task=task)
    filters = replace(
        filters,
        metric=scalars.get("metric") or None,
        protocol=scalars.get("protocol") or None,
        search=scalars.get("search", ""),
        model_types=tuple(lists.get("model_types", ())),
        provenances=tuple(p for p in lists.get("provenances", ()) if p in PROVENANCES),
        columns=tuple(lists["columns"]) if "columns" in lists else None,
        selected=tuple(lists.get("selected", ())),
    )
    return filters


# --------------------------------------------------------------------------------------------- detail view


def _clean(value: Any) -> Any:
    if isinstance(value, (np.generic,)):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    if value is pd.NaT or (isinstance(value, pd.Timestamp) and pd.isna(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def model_detail(
    results: pd.DataFrame,
    models: pd.DataFrame | None,
    entry_id: str,
    *,
    submission: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything known about one leaderboard entry, as plain JSON-able data.

    Keys: ``entry_id``, ``model``, ``variant``, ``model_type``, ``configuration`` (protocols, tiers, steps, guidance,
    hardware), ``provenance`` (list), ``citations`` (sources), ``notes``, ``scores`` (one record per task, benchmark,
    metric and protocol, with unit and interval), ``model_info`` (the models frame's row: parameters, training data,
    licence, links), ``submission`` (the submission's metadata and model card when the entry came from one).

    Raises:
        KeyError: no result row has ``entry_id``.
    """
    rows = results.loc[results["entry_id"] == entry_id] if len(results) else results
    if not len(rows):
        raise KeyError(f"entry_id: no results for {entry_id!r}")
    first = rows.iloc[0]

    def uniques(col: str) -> list[Any]:
        return [_clean(v) for v in rows[col].dropna().unique().tolist()] if col in rows else []

    scores = []
    cols = ["task", "benchmark", "metric", "value", "unit", "higher_is_better", "protocol", "tier", "ci_low",
            "ci_high", "provenance", "source", "note", "run_id", "recorded_at"]  # fmt: skip
    for rec in rows[[c for c in cols if c in rows]].to_dict(orient="records"):
        scores.append({k: _clean(v) for k, v in rec.items()})
    scores.sort(key=lambda r: (str(r["task"]), str(r["metric"]), str(r["protocol"]), str(r["benchmark"])))

    model_info: dict[str, Any] = {}
    if models is not None and len(models) and "model" in models:
        match = models.loc[models["model"] == first["model"]]
        if "variant" in match and len(match) > 1:
            # The entry's own variant first, then the model-wide row (variant ""), then any.
            variant = match["variant"].fillna("").astype(str)
            rank = np.where(variant == str(first["variant"] or ""), 0, np.where(variant == "", 1, 2))
            match = match.iloc[np.argsort(rank, kind="stable")]
        if len(match):
            model_info = {k: _clean(v) for k, v in match.iloc[0].to_dict().items()}
    if not model_info:
        keys = ("params_millions", "train_images", "train_annotations")
        model_info = {k: _clean(first[k]) for k in keys if k in rows}

    detail: dict[str, Any] = {
        "entry_id": entry_id,
        "model": _clean(first["model"]),
        "variant": _clean(first["variant"]) or "",
        "model_type": _clean(first["model_type"]),
        "configuration": {
            "protocols": uniques("protocol"),
            "tiers": uniques("tier"),
            "steps": uniques("steps"),
            "guidance": uniques("guidance"),
            "hardware": uniques("hardware"),
            "trained_on_benchmarks": uniques("trained_on_benchmarks"),
        },
        "provenance": uniques("provenance"),
        "citations": uniques("source"),
        "notes": [n for n in uniques("note") if n],
        "scores": scores,
        "model_info": model_info,
        "submission": None,
    }
    if submission is not None:
        detail["submission"] = {k: _clean(v) for k, v in dict(submission).items() if k in PUBLIC_SUBMISSION_FIELDS}
    return detail
