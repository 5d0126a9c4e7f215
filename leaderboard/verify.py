"""Checking a leaderboard row: the command that recomputes it, the samples behind its scores, a comparison of two
rows, and where every number came from.

Pure functions over what the store hands out (the results frame, ``Store.run_summaries``, ``Store.run_samples_frame``
and ``Store.run_thumbnails``), returning dicts and DataFrames for the detail view; :func:`load_entry_checks` and
:func:`load_comparison` only fetch those and call them. Nothing here imports torch or the evaluation package.

Reproduce (:func:`reproduce_argv`, :func:`entry_commands`, :func:`reproduce_column`). A measured row's command is
``python -m evaluation run`` with the model kind, model id and revision (``--model-revision``), the adapter (its Hub
repo at the pinned commit, else the folder it was scored from) with its content hash (``--adapter-sha256``), every
benchmark with its version and data revision (``--benchmark-version``), tier, protocol, steps, guidance, seed, dtype,
the synthetic benchmark's options and the code version (``--code-version``). The CLI accepts it verbatim, refuses it
when the model, adapter or benchmark differ, warns when the code does, and writes ``results.json``; the scores it
computes equal the row's under ``results.comparable`` (on the same device type: a seeded DICEPTION draws its noise on
the device, so a CUDA row re-run on a CPU differs). Prepared data is read from ``--data-root ./data/prepared`` (where
``python -m evaluation prepare`` puts it in the README). Rows without a command say why: reported rows (the paper's
numbers), self-submitted rows (re-scored from the stored files by an admin re-run), runs recorded before runs kept
their model kind, and a submitter's own split (data not hosted here).

Per-sample view (:func:`score_distributions`, :func:`gallery`). The distribution of every metric per dataset (count,
mean, spread, quartiles, a histogram), and the run's worst and best items as the run drew them, in order.

Compare (:func:`compare_entries`). Per dataset the difference A - B of a metric with a 95 % bootstrap interval of the
difference: paired (the same item indices drawn for both) when both runs scored the same items, else independent
draws; an aggregate (``sa23``) stratified over its members. Conventions are ``evaluation.bootstrap``'s, so that one
run against an all-zero run gives exactly that module's interval: one ``numpy.random.default_rng(seed)``, datasets in
order, indices ``minimum(floor(rng.random((draws, n)) * n), n - 1)`` (A's then B's when unpaired), 1,000 draws,
2.5th / 97.5th percentiles (linear). Then the items where the two disagree most.

Provenance (:func:`parse_citation`, :func:`entry_provenance`, :func:`provenance_column`). Reported rows: paper, arXiv
id and link, venue, table or figure, page where the source names one. Measured and self-submitted rows: run id,
worker, hardware, dates, code version and git commit.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from diception_spec.benchmarks import BENCHMARKS, USER_SPLIT_PREFIX
from diception_spec.metrics import METRICS
from diception_spec.models import ModelKind, Provenance
from leaderboard.schema import SAMPLE_COLUMNS

__all__ = [
    "BOOTSTRAP_DRAWS",
    "BOOTSTRAP_SEED",
    "COMPARE_COLUMNS",
    "DEFAULT_DATA_ROOT",
    "DISAGREEMENT_COLUMNS",
    "DISTRIBUTION_COLUMNS",
    "REPRODUCE_COLUMN",
    "command_text",
    "compare_entries",
    "data_uri",
    "difference_interval",
    "entry_commands",
    "entry_datasets",
    "entry_provenance",
    "gallery",
    "load_comparison",
    "load_entry_checks",
    "parse_citation",
    "provenance_column",
    "reproduce_argv",
    "reproduce_column",
    "run_for",
    "score_distributions",
]

REPRODUCE_COLUMN = "reproduce"
PROVENANCE_COLUMN = "provenance_detail"
DEFAULT_DATA_ROOT = "./data/prepared"
LOCAL_MODEL_FOLDER = "./diception-model"  # what `python -m diception_core convert --out` writes, as the README says
LOCAL_ADAPTER_FOLDER = "./adapter"
COMMAND_PREFIX: tuple[str, ...] = ("python", "-m", "evaluation", "run")
BOOTSTRAP_DRAWS = 1000  # evaluation.runner's draws and seed: the board's intervals and these are made alike
BOOTSTRAP_SEED = 0
_PERCENTILES = (2.5, 97.5)
_CHUNK_ELEMENTS = 2_000_000  # as evaluation.bootstrap: bounds each [rows, n] temporary

DISTRIBUTION_COLUMNS: tuple[str, ...] = (
    "task", "benchmark", "metric", "n", "mean", "std", "min", "q1", "median", "q3", "max", "bin_edges", "counts",
)
COMPARE_COLUMNS: tuple[str, ...] = (
    "task", "benchmark", "metric", "value_a", "value_b", "difference", "ci_low", "ci_high", "paired", "n_a", "n_b",
    "better", "clear", "note",
)
DISAGREEMENT_COLUMNS: tuple[str, ...] = (
    "task", "benchmark", "sample_id", "mask_id", "metric", "value_a", "value_b", "difference",
)


def _rows(results: pd.DataFrame, entry_id: str) -> pd.DataFrame:
    rows = results.loc[results["entry_id"] == entry_id] if len(results) else results
    if not len(rows):
        raise KeyError(f"entry_id: no results for {entry_id!r}")
    return rows


def _run_ids(rows: pd.DataFrame) -> list[int]:
    return sorted({int(r) for r in pd.to_numeric(rows["run_id"], errors="coerce").dropna()})


def run_for(results: pd.DataFrame, entry_id: str, task: str, benchmark: str) -> int | None:
    """The run behind ``entry_id``'s score on (task, benchmark), or None (a reported row, or no such score)."""
    rows = _rows(results, entry_id)
    rows = rows[(rows["task"] == task) & (rows["benchmark"] == benchmark)]
    ids = _run_ids(rows)
    return ids[-1] if ids else None


def _members(task: str, benchmark: str) -> tuple[str, ...]:
    spec = BENCHMARKS.get((task, benchmark))
    return spec.members if spec is not None else ()


# --------------------------------------------------------------------------------------------- reproduce


def _number(value: Any) -> str:
    """An exact, argparse-readable text of a number: ints as ints, floats by their shortest round-trip repr."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"expected a number, got {value!r}")
    return str(value) if isinstance(value, int) else repr(float(value))


def _jobs_for(settings: Mapping[str, Any], benchmarks: Iterable[tuple[str, str]] | None) -> list[dict[str, Any]]:
    jobs = [dict(j) for j in settings.get("benchmarks") or [] if isinstance(j, Mapping)]
    if benchmarks is None:
        return jobs
    wanted = {(str(t), str(b)) for t, b in benchmarks}
    return [j for j in jobs if (j.get("task"), j.get("benchmark")) in wanted
            or any((j.get("task"), m) in wanted for m in j.get("members") or ())]


def public_worker_name(worker_id: str | None) -> str | None:
    """A stable pseudonym of a worker (``3f2a1c9d``, shown as "worker 3f2a1c9d"): its id holds the scoring host's
    name, which is kept for operators (``python -m leaderboard submissions``) and never shown on the page."""
    if not worker_id:
        return None
    return hashlib.sha256(str(worker_id).encode("utf-8")).hexdigest()[:8]


def _public_location(value: str, placeholder: str) -> str:
    """``value`` when it is a Hub id, ``tiny`` or a relative folder name; ``placeholder`` when it is a path on the
    scoring host (absolute, or under the home folder): commands are shown to everyone and never carry a server path.
    The hashes next to it (``--model-revision``, ``--adapter-sha256``) still pin exactly what was scored."""
    text = str(value)
    if text.startswith(("/", "~", "\\")) or (len(text) > 1 and text[1] == ":"):
        return placeholder
    return text


def reproduce_argv(
    run: Mapping[str, Any], *, benchmarks: Iterable[tuple[str, str]] | None = None
) -> list[str]:
    """The argument list of the command that recomputes ``run``'s scores (all of them, or those of ``benchmarks``:
    (task, benchmark) pairs, a member selecting its aggregate). ``run`` is a ``Store.run_summaries`` value (or
    ``Store.get_run`` with a ``submission`` key added). Raises ``ValueError`` saying why there is no command."""
    run_id = run.get("run_id")
    kind = run.get("model_kind")
    if run.get("provenance") == Provenance.SELF_SUBMITTED.value or kind == ModelKind.FILES.value:
        raise ValueError(f"run {run_id}: self-submitted predictions are re-scored from the stored files by an admin "
                         "re-run (python -m leaderboard admin rerun ID), not by a command")
    if not kind:
        raise ValueError(f"run {run_id}: recorded before runs kept their model kind; no command can be derived")
    settings: Mapping[str, Any] = run.get("settings") or {}
    jobs = _jobs_for(settings, benchmarks)
    hosted = [j for j in jobs if not str(j.get("benchmark", "")).startswith(USER_SPLIT_PREFIX)]
    if not hosted:
        raise ValueError(f"run {run_id}: scored only on a submitter's own split, whose data is not hosted here")
    model_id = settings.get("model_id")
    if not model_id:
        raise ValueError(f"run {run_id}: recorded before runs kept their model id; no command can be derived")
    argv = [*COMMAND_PREFIX, "--model", str(kind), "--model-id", _public_location(model_id, LOCAL_MODEL_FOLDER)]
    revision = str(run.get("model_revision") or "")
    if revision and revision not in ("unknown", "local"):
        argv += ["--model-revision", revision]
    argv += ["--benchmarks", ",".join(f"{j['task']}/{j['benchmark']}" for j in hosted)]
    for j in hosted:
        argv += ["--benchmark-version", f"{j['task']}/{j['benchmark']}={j['version']}@{j['data_revision']}"]
    if any(j["benchmark"] != "synthetic" for j in hosted):
        argv += ["--data-root", DEFAULT_DATA_ROOT]
    synthetic = settings.get("synthetic") if any(j["benchmark"] == "synthetic" for j in hosted) else None
    if isinstance(synthetic, Mapping):
        if synthetic.get("samples") is not None:
            argv += ["--synthetic-samples", _number(synthetic["samples"])]
        argv += ["--synthetic-size", _number(synthetic.get("size", 96))]
        if synthetic.get("seed"):
            argv += ["--synthetic-seed", _number(synthetic["seed"])]
    argv += ["--tier", str(settings.get("tier") or "quick")]
    for protocol in dict.fromkeys(str(j["protocol"]) for j in hosted):
        argv += ["--protocol", protocol]
    if kind == ModelKind.DICEPTION.value:
        for key in ("steps", "guidance", "seed"):
            if settings.get(key) is not None:
                argv += [f"--{key}", _number(settings[key])]
        if settings.get("dtype"):
            argv += ["--dtype", str(settings["dtype"])]
        if settings.get("adapter"):
            submission = run.get("submission") or {}
            hub = submission.get("hub_repo"), submission.get("hub_revision")
            sha = settings.get("adapter_sha256") or submission.get("content_hash")
            # An uploaded adapter is named by its content hash: the folder it was scored from is the server's.
            uploaded = f"./adapter-{str(sha)[:12]}" if sha else LOCAL_ADAPTER_FOLDER
            adapter = f"{hub[0]}@{hub[1]}" if all(hub) else _public_location(str(settings["adapter"]), uploaded)
            argv += ["--adapter", adapter, "--adapter-scale", _number(settings.get("adapter_scale") or 1.0)]
            if sha:
                argv += ["--adapter-sha256", str(sha)]
    if run.get("code_version"):
        argv += ["--code-version", str(run["code_version"])]
    return argv


def command_text(argv: Sequence[str]) -> str:
    """One shell line (POSIX quoting) for an argument list, as the copy button gives it."""
    return shlex.join(list(argv))


def _commands_of(entry_id: str, rows: pd.DataFrame, runs: Mapping[int, Mapping[str, Any]]) -> list[dict[str, Any]]:
    out = []
    by_run: dict[int, list[tuple[str, str]]] = {}
    for run_id, task, benchmark in zip(rows["run_id"].tolist(), rows["task"].tolist(), rows["benchmark"].tolist(),
                                       strict=True):
        if run_id is not None and not pd.isna(run_id):
            by_run.setdefault(int(run_id), []).append((str(task), str(benchmark)))
    for run_id in sorted(by_run):
        pairs = list(dict.fromkeys(by_run[run_id]))
        record: dict[str, Any] = {"run_id": run_id, "benchmarks": [f"{t}/{b}" for t, b in pairs], "argv": None,
                                  "command": None, "reason": ""}
        run = runs.get(run_id)
        if run is None:
            record["reason"] = f"run {run_id} is not in the store"
        else:
            try:
                record["argv"] = reproduce_argv(run, benchmarks=pairs)
                record["command"] = command_text(record["argv"])
            except ValueError as exc:
                record["reason"] = str(exc)
        out.append(record)
    return out


def entry_commands(
    results: pd.DataFrame, entry_id: str, runs: Mapping[int, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """One record per run behind ``entry_id``: ``run_id``, ``benchmarks`` (task/benchmark of the entry's rows it
    backs), ``argv`` and ``command`` (None when there is none) and ``reason`` (why not, else ""). [] for an entry
    with no run (reported rows). Raises ``KeyError`` for an unknown entry."""
    return _commands_of(entry_id, _rows(results, entry_id), runs)


def _per_entry(table: pd.DataFrame, results: pd.DataFrame, line: Any) -> list[str]:
    """``line(entry_id, rows)`` for every row of ``table`` (results grouped once), "" for unknown entries."""
    if not len(table):
        return []
    wanted = set(table["entry_id"].astype(str))
    lines = {str(e): line(str(e), rows) for e, rows in results[results["entry_id"].isin(wanted)].groupby(
        "entry_id", sort=False)}
    return [lines.get(str(e), "") for e in table["entry_id"]]


def reproduce_column(table: pd.DataFrame, results: pd.DataFrame,
                     runs: Mapping[int, Mapping[str, Any]]) -> pd.DataFrame:
    """``table`` (any frame with ``entry_id``, e.g. ``tables.task_table``) with a ``reproduce`` column: the entry's
    command(s), one per line, "" where there is none; for the CSV / JSON export. ``attrs`` are kept."""
    out = table.copy()
    out[REPRODUCE_COLUMN] = _per_entry(out, results, lambda e, rows: "\n".join(
        r["command"] for r in _commands_of(e, rows, runs) if r["command"]))
    out.attrs = dict(table.attrs)
    return out


# --------------------------------------------------------------------------------------------- provenance

_CITATION = re.compile(
    r"^(?P<paper>.+?)\s+arXiv\s+(?P<arxiv>\d{4}\.\d{4,5}(?:v\d+)?)(?:\s+\((?P<venue>[^)]*)\))?(?:\s+(?P<where>.+))?$"
)
_PAGE = re.compile(r"\b(?:p\.|page)\s*(?P<page>\d+)", re.IGNORECASE)


def parse_citation(source: str) -> dict[str, Any]:
    """A reported row's ``source`` as parts: ``paper``, ``arxiv`` (id with version), ``url`` (its arXiv page),
    ``venue``, ``where`` (table / figure), ``page`` (int, only where the source names one) and ``text`` (as
    given). Unparsed sources keep ``text`` and have the rest None."""
    text = str(source or "").strip()
    out: dict[str, Any] = {"text": text, "paper": None, "arxiv": None, "url": None, "venue": None, "where": None,
                           "page": None}
    match = _CITATION.match(text)
    if match is None:
        out["paper"] = text or None
        return out
    paper = re.sub(r"\s+paper$", "", match["paper"].strip())
    out.update(paper=paper, arxiv=match["arxiv"], url=f"https://arxiv.org/abs/{match['arxiv']}", venue=match["venue"],
               where=match["where"])
    page = _PAGE.search(match["where"] or "")
    if page is not None:
        out["page"] = int(page["page"])
    return out


def _iso(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def entry_provenance(results: pd.DataFrame, entry_id: str,
                     runs: Mapping[int, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """Where ``entry_id``'s numbers came from: ``provenance`` (its kinds), ``citations`` (reported rows: one per
    source with :func:`parse_citation`'s parts and the ``benchmarks`` it covers) and ``runs`` (measured and
    self-submitted rows: ``run_id``, ``provenance``, ``worker_id``, ``hardware``, ``date``, ``started_at``,
    ``finished_at``, ``code_version``, ``git_commit``, ``submission_id``, ``submitter``, ``benchmarks``). Raises
    ``KeyError`` for an unknown entry."""
    return _provenance_of(entry_id, _rows(results, entry_id), runs or {})


def _provenance_of(entry_id: str, rows: pd.DataFrame, runs: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    citations: dict[str, dict[str, Any]] = {}
    reported = rows[rows["provenance"] == Provenance.REPORTED.value]
    for source, group in reported.groupby("source", sort=False):
        record = parse_citation(str(source))
        record["benchmarks"] = list(dict.fromkeys(f"{t}/{b}" for t, b in zip(group["task"], group["benchmark"],
                                                                              strict=True)))
        citations[str(source)] = record
    out_runs = []
    run_ids = pd.to_numeric(rows["run_id"], errors="coerce")
    for run_id in _run_ids(rows):
        mine = rows[run_ids == run_id]
        run = runs.get(run_id, {})
        finished = run.get("finished_at")
        out_runs.append({
            "run_id": run_id,
            "provenance": str(mine["provenance"].iloc[0]),
            "worker_id": public_worker_name(run.get("worker_id")),
            "hardware": run.get("hardware") or (mine["hardware"].dropna().iloc[0] if mine["hardware"].notna().any()
                                                else None),
            "date": finished.strftime("%Y-%m-%d") if hasattr(finished, "strftime") else None,
            "started_at": _iso(run.get("started_at")),
            "finished_at": _iso(finished),
            "code_version": run.get("code_version"),
            "git_commit": run.get("git_commit"),
            "submission_id": run.get("submission_id"),
            "submitter": (run.get("submission") or {}).get("submitter"),
            "benchmarks": list(dict.fromkeys(f"{t}/{b}" for t, b in zip(mine["task"], mine["benchmark"],
                                                                       strict=True))),
        })
    return {"entry_id": entry_id, "provenance": list(dict.fromkeys(rows["provenance"].astype(str))),
            "citations": list(citations.values()), "runs": out_runs}


def _provenance_line(record: Mapping[str, Any]) -> str:
    parts = []
    for c in record["citations"]:
        where = ", ".join(x for x in (c["where"], f"p. {c['page']}" if c["page"] else None) if x)
        parts.append(" ".join(x for x in (c["paper"], f"arXiv {c['arxiv']}" if c["arxiv"] else None, where) if x))
    for r in record["runs"]:
        fields = [f"run {r['run_id']}", r["worker_id"] and f"worker {r['worker_id']}", r["hardware"], r["date"],
                  r["code_version"]]
        parts.append(" · ".join(str(f) for f in fields if f))
    return "; ".join(parts)


def provenance_column(table: pd.DataFrame, results: pd.DataFrame,
                      runs: Mapping[int, Mapping[str, Any]]) -> pd.DataFrame:
    """``table`` (with ``entry_id``) plus ``provenance_detail``: one line per entry naming the paper, table and page,
    or the run, worker, hardware, date and code version. ``attrs`` are kept."""
    out = table.copy()
    out[PROVENANCE_COLUMN] = _per_entry(out, results,
                                        lambda e, rows: _provenance_line(_provenance_of(e, rows, runs)))
    out.attrs = dict(table.attrs)
    return out


# --------------------------------------------------------------------------------------------- per-sample view


def entry_datasets(results: pd.DataFrame, entry_id: str, samples: pd.DataFrame) -> list[tuple[str, str]]:
    """The (task, dataset) pairs of ``entry_id``'s rows that have per-sample values in ``samples`` (the frame of
    ``Store.run_samples_frame`` for the entry's runs), in the entry's row order."""
    rows = _rows(results, entry_id)
    have = set(zip(samples["run_id"].astype(int), samples["task"], samples["benchmark"], strict=True)) if len(
        samples) else set()
    out = []
    for run_id, task, benchmark in zip(pd.to_numeric(rows["run_id"], errors="coerce"), rows["task"],
                                       rows["benchmark"], strict=True):
        if not pd.isna(run_id) and (int(run_id), task, benchmark) in have:
            out.append((str(task), str(benchmark)))
    return list(dict.fromkeys(out))


def score_distributions(samples: pd.DataFrame, *, metric: str | None = None, bins: int = 20) -> pd.DataFrame:
    """Per (task, dataset, metric) of ``samples`` (``Store.run_samples_frame``, one run or several): the number of
    items, mean, standard deviation, min, quartiles, max, and a ``bins``-bin histogram (``bin_edges`` of length
    bins + 1 and ``counts``) over the finite values; columns ``DISTRIBUTION_COLUMNS``. Only ``metric`` when given."""
    if bins < 1:
        raise ValueError(f"bins: must be >= 1, got {bins}")
    rows = []
    frame = samples if metric is None else samples[samples["metric"] == metric]
    for (task, benchmark, name), group in frame.groupby(["task", "benchmark", "metric"], sort=False):
        values = group["value"].to_numpy(dtype=np.float64)
        values = values[np.isfinite(values)]
        if not values.size:
            continue
        counts, edges = np.histogram(values, bins=bins)
        q1, median, q3 = np.percentile(values, [25.0, 50.0, 75.0])
        rows.append([task, benchmark, name, int(values.size), float(values.mean()),
                     float(values.std(ddof=1)) if values.size > 1 else 0.0, float(values.min()), float(q1),
                     float(median), float(q3), float(values.max()), edges.tolist(), counts.tolist()])
    return pd.DataFrame(rows, columns=list(DISTRIBUTION_COLUMNS))


def data_uri(data: bytes, media_type: str) -> str:
    """``data:<media_type>;base64,...`` for an image, for HTML / markdown views."""
    return f"data:{media_type};base64,{base64.b64encode(bytes(data)).decode('ascii')}"


def gallery(thumbnails: Sequence[Mapping[str, Any]], *, task: str | None = None,
            benchmark: str | None = None) -> dict[str, Any]:
    """The worst and best items of one dataset as the run drew them (``Store.run_thumbnails``): ``worst`` (worst
    first) and ``best`` (best first), each item with ``sample_id``, ``mask_id``, ``metric``, ``value``, ``note`` and
    the images (``input``, ``truth``, ``prediction``: bytes of ``media_type``); plus ``metric``, ``higher_is_better``
    and ``task`` / ``benchmark``. With several datasets in ``thumbnails``, pass the one to show."""
    chosen = [t for t in thumbnails if (task is None or t["task"] == task)
              and (benchmark is None or t["benchmark"] == benchmark)]
    datasets = list(dict.fromkeys((t["task"], t["benchmark"]) for t in chosen))
    if len(datasets) > 1:
        raise ValueError(f"thumbnails: {len(datasets)} datasets ({', '.join(f'{a}/{b}' for a, b in datasets)}); "
                         "pass task and benchmark")
    metric = chosen[0]["metric"] if chosen else None
    out = {rank: sorted((dict(t) for t in chosen if t["rank"] == rank), key=lambda t: t["position"])
           for rank in ("worst", "best")}
    return {
        "task": datasets[0][0] if datasets else task, "benchmark": datasets[0][1] if datasets else benchmark,
        "metric": metric, "higher_is_better": METRICS[metric].higher_is_better if metric in METRICS else None,
        **out,
    }


# --------------------------------------------------------------------------------------------- compare


def _draw_indices(rng: np.random.Generator, n: int, draws: int) -> Iterable[tuple[int, int, np.ndarray]]:
    rows = max(1, _CHUNK_ELEMENTS // n)
    for start in range(0, draws, rows):
        stop = min(start + rows, draws)
        yield start, stop, np.minimum((rng.random((stop - start, n)) * n).astype(np.int64), n - 1)  # [rows, n]


def _resampled_means(rng: np.random.Generator, values: np.ndarray, draws: int) -> np.ndarray:
    out = np.empty(draws)
    for start, stop, idx in _draw_indices(rng, values.size, draws):
        out[start:stop] = values[idx].mean(axis=1)
    return out


def difference_interval(
    strata: Sequence[tuple[np.ndarray, np.ndarray, bool]], *, draws: int = BOOTSTRAP_DRAWS,
    seed: int = BOOTSTRAP_SEED,
) -> tuple[float, float, float]:
    """(estimate, low, high) of mean-over-strata (mean A - mean B): per stratum (a, b, paired), paired strata
    resample the same indices for both (a and b aligned item by item), others A then B independently."""
    rng = np.random.default_rng(seed)
    diffs = np.zeros(draws)
    estimate = 0.0
    for a, b, paired in strata:
        if paired:
            d = np.empty(draws)
            for start, stop, idx in _draw_indices(rng, a.size, draws):
                d[start:stop] = a[idx].mean(axis=1) - b[idx].mean(axis=1)
        else:
            d = _resampled_means(rng, a, draws) - _resampled_means(rng, b, draws)
        diffs += d
        estimate += float(a.mean() - b.mean())
    diffs /= len(strata)
    low, high = np.percentile(diffs, _PERCENTILES)
    return estimate / len(strata), float(low), float(high)


def _side_values(samples: pd.DataFrame, run_id: int | None, task: str, dataset: str, metric: str) -> pd.Series | None:
    if run_id is None or not len(samples):
        return None
    part = samples[(samples["run_id"] == run_id) & (samples["task"] == task) & (samples["benchmark"] == dataset)
                   & (samples["metric"] == metric)]
    if not len(part):
        return None
    keys = list(zip(part["sample_id"].astype(str), part["mask_id"].astype(str), strict=True))
    return pd.Series(part["value"].to_numpy(dtype=np.float64), index=pd.MultiIndex.from_tuples(keys)).dropna()


def _pick_metric(task: str, benchmark: str, common: set[str], metric: str | None) -> str | None:
    if metric is not None:
        return metric if metric in common else None
    spec = BENCHMARKS.get((task, benchmark))
    if spec is not None and spec.main_metric in common:
        return spec.main_metric
    return sorted(common)[0] if common else None


def compare_entries(
    results: pd.DataFrame,
    entry_a: str,
    entry_b: str,
    samples: pd.DataFrame,
    *,
    metric: str | None = None,
    draws: int = BOOTSTRAP_DRAWS,
    seed: int = BOOTSTRAP_SEED,
    top: int = 10,
) -> dict[str, Any]:
    """Per dataset both entries have, the difference A - B of ``metric`` (default: the benchmark's main metric,
    else the first they share) with a bootstrap interval, and the items where they disagree most.

    ``samples``: ``Store.run_samples_frame`` of both entries' runs. Returns ``datasets`` (``COMPARE_COLUMNS``:
    the rows' values, ``difference`` = value_a - value_b, ``ci_low`` / ``ci_high`` of the difference, NaN without
    per-sample values on both sides, ``paired``, item counts, ``better`` ("A", "B" or "" when equal) by the metric's
    direction, ``clear`` when the interval excludes 0, ``note``), ``disagreements`` (``DISAGREEMENT_COLUMNS``: per
    paired dataset its ``top`` items by |A - B|, largest first) and ``notes``. Raises ``KeyError`` for an unknown
    entry."""
    rows_a, rows_b = _rows(results, entry_a), _rows(results, entry_b)
    notes = []
    protocols = set(rows_a["protocol"]), set(rows_b["protocol"])
    if protocols[0] != protocols[1]:
        notes.append(f"different protocols ({', '.join(sorted(protocols[0]))} vs {', '.join(sorted(protocols[1]))}):"
                     " the board never ranks these rows together")
    index_a = {(t, b, m): i for i, (t, b, m) in enumerate(zip(rows_a["task"], rows_a["benchmark"], rows_a["metric"],
                                                             strict=True))}
    index_b = {(t, b, m): i for i, (t, b, m) in enumerate(zip(rows_b["task"], rows_b["benchmark"], rows_b["metric"],
                                                             strict=True))}
    pairs = list(dict.fromkeys((t, b) for t, b, _ in index_a if any(k[:2] == (t, b) for k in index_b)))
    out_rows, disagreements = [], []
    for task, benchmark in pairs:
        common = {m for t, b, m in index_a if (t, b) == (task, benchmark) and (t, b, m) in index_b}
        chosen = _pick_metric(task, benchmark, common, metric)
        if chosen is None:
            continue
        ra, rb = rows_a.iloc[index_a[(task, benchmark, chosen)]], rows_b.iloc[index_b[(task, benchmark, chosen)]]
        value_a, value_b = float(ra["value"]), float(rb["value"])
        difference = value_a - value_b
        hib = bool(ra["higher_is_better"])
        record: dict[str, Any] = {
            "task": task, "benchmark": benchmark, "metric": chosen, "value_a": value_a, "value_b": value_b,
            "difference": difference, "ci_low": None, "ci_high": None, "paired": None, "n_a": None, "n_b": None,
            "better": "" if difference == 0 else ("A" if (difference > 0) == hib else "B"), "clear": False,
            "note": "",
        }
        runs = (None if pd.isna(ra["run_id"]) else int(ra["run_id"]), None if pd.isna(rb["run_id"])
                else int(rb["run_id"]))
        strata_names = _members(task, benchmark) or (benchmark,)
        sides = [[_side_values(samples, run, task, d, chosen) for d in strata_names] for run in runs]
        if any(v is None or not len(v) for side in sides for v in side):
            missing = [label for label, side in zip("AB", sides, strict=True)
                       if any(v is None or not len(v) for v in side)]
            record["note"] = f"no per-sample values for {' and '.join(missing)}: no interval"
            out_rows.append(record)
            continue
        strata = []
        for dataset, a, b in zip(strata_names, sides[0], sides[1], strict=True):
            paired = set(a.index) == set(b.index)
            if paired:
                b = b.reindex(a.index)
                if len(strata_names) == 1:
                    diff = a - b
                    order = np.argsort(-np.abs(diff.to_numpy()), kind="stable")[:top]
                    for i in order:
                        sid, mid = a.index[i]
                        disagreements.append([task, dataset, sid, mid, chosen, float(a.iloc[i]), float(b.iloc[i]),
                                              float(diff.iloc[i])])
            strata.append((a.to_numpy(), b.to_numpy(), paired))
        estimate, low, high = difference_interval(strata, draws=draws, seed=seed)
        record.update(ci_low=low, ci_high=high, paired=all(p for _, _, p in strata),
                      n_a=int(sum(a.size for a, _, _ in strata)), n_b=int(sum(b.size for _, b, _ in strata)),
                      clear=bool(low > 0 or high < 0))
        if abs(estimate - difference) > 1e-6 * max(1.0, abs(difference)):
            record["note"] = (f"the interval is over per-item values (their mean difference is {estimate:.4g}); the "
                              "scores aggregate the items otherwise (e.g. pooled pixels)")
        if not record["paired"]:
            record["note"] = "; ".join(x for x in (record["note"], "the runs scored different items: unpaired") if x)
        out_rows.append(record)
    first = METRICS.get(metric) if metric else None
    return {
        "entry_a": entry_a, "entry_b": entry_b, "metric": metric,
        "unit": first.unit if first else None,
        "datasets": pd.DataFrame(out_rows, columns=list(COMPARE_COLUMNS)).astype(
            {"ci_low": "float64", "ci_high": "float64", "n_a": "Int64", "n_b": "Int64"}),
        "disagreements": pd.DataFrame(disagreements, columns=list(DISAGREEMENT_COLUMNS)),
        "notes": notes,
    }


# --------------------------------------------------------------------------------------------- with a store


def load_entry_checks(store: Any, results: pd.DataFrame, entry_id: str, *, task: str | None = None,
                      benchmark: str | None = None) -> dict[str, Any]:
    """Everything the detail view shows for one entry, fetched from ``store`` (a ``leaderboard.store.Store``):
    ``commands`` (:func:`entry_commands`), ``provenance`` (:func:`entry_provenance`), ``datasets`` (with per-sample
    values), ``distributions`` (:func:`score_distributions` of the entry's datasets) and ``gallery`` (:func:`gallery`
    of ``task`` / ``benchmark``, default the first dataset with thumbnails; None when there are none)."""
    rows = _rows(results, entry_id)
    run_ids = _run_ids(rows)
    runs = store.run_summaries(run_ids) if run_ids else {}
    samples = store.run_samples_frame(run_ids) if run_ids else pd.DataFrame(columns=list(SAMPLE_COLUMNS))
    datasets = entry_datasets(results, entry_id, samples)
    keep = pd.Series(False, index=samples.index)
    for t, b in datasets:
        run = run_for(results, entry_id, t, b)
        keep |= (samples["run_id"] == run) & (samples["task"] == t) & (samples["benchmark"] == b)
    shown = None
    candidates = [(task, benchmark)] if task and benchmark else datasets
    for t, b in candidates:
        run = run_for(results, entry_id, t, b)
        thumbs = store.run_thumbnails(run, task=t, benchmark=b) if run is not None else []
        if thumbs:
            shown = gallery(thumbs)
            break
    return {
        "entry_id": entry_id,
        "commands": entry_commands(results, entry_id, runs),
        "provenance": entry_provenance(results, entry_id, runs),
        "datasets": datasets,
        "distributions": score_distributions(samples[keep]),
        "gallery": shown,
    }


def load_comparison(store: Any, results: pd.DataFrame, entry_a: str, entry_b: str, **options: Any) -> dict[str, Any]:
    """:func:`compare_entries` of two entries, their per-sample values fetched from ``store``."""
    run_ids = _run_ids(_rows(results, entry_a)) + _run_ids(_rows(results, entry_b))
    samples = (store.run_samples_frame(sorted(set(run_ids))) if run_ids
               else pd.DataFrame(columns=list(SAMPLE_COLUMNS)))
    return compare_entries(results, entry_a, entry_b, samples, **options)
