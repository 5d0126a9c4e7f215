"""leaderboard.verify: reproduce commands, provenance, distributions, galleries and comparisons, on hand-made frames.
No torch and no store: the functions take what the store hands out."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from diception_spec.adapter_format import folder_content_hash
from diception_spec.benchmarks import SA23_DATASETS
from leaderboard import validation as v
from leaderboard import verify
from leaderboard.schema import RESULT_COLUMNS, SAMPLE_COLUMNS
from tests.leaderboard.test_validation import KW, make_adapter

SA_JOB = {"task": "point_segmentation", "benchmark": "sa23", "version": "1", "data_revision": "sam-resample-seed0",
          "protocol": "sam-center-click-positive-only", "members": ["PPDLS", "GTEA"], "n_items": 10}
SYN_JOB = {"task": "depth", "benchmark": "synthetic", "version": "1", "data_revision": "procedural-v1",
           "protocol": "genpercept-affine", "n_items": 3}


def result_row(entry_id: str, benchmark: str, value: float, *, run_id: int | None = 1, metric: str = "miou_1pt",
               task: str = "point_segmentation", provenance: str = "measured", source: str = "",
               protocol: str = "sam-center-click-positive-only") -> dict[str, Any]:
    row = dict.fromkeys(RESULT_COLUMNS)
    row.update(entry_id=entry_id, model="DICEPTION", variant="v", model_type="generalist", task=task,
               benchmark=benchmark, metric=metric, value=value, unit="percent", higher_is_better=metric != "noc90",
               protocol=protocol, provenance=provenance, source=source, note="", run_id=run_id,
               hardware="NVIDIA H100" if run_id else None, trained_on_benchmarks="")
    return row


def frame(*rows: dict[str, Any]) -> pd.DataFrame:
    out = pd.DataFrame(list(rows), columns=list(RESULT_COLUMNS))
    out["run_id"] = pd.array(out["run_id"].tolist(), dtype="Int64")
    return out


def run_summary(run_id: int = 1, **overrides: Any) -> dict[str, Any]:
    run = {
        "run_id": run_id, "submission_id": None, "provenance": "measured", "model": "DICEPTION", "variant": "v",
        "model_kind": "diception", "model_revision": "abc123", "code_version": "src-0123456789abcdef",
        "git_commit": "f" * 40, "hardware": "NVIDIA H100", "host": "h", "worker_id": "w-1",
        "started_at": datetime(2026, 12, 1, 10, tzinfo=timezone.utc),
        "finished_at": datetime(2026, 12, 1, 11, tzinfo=timezone.utc),
        "settings": {"steps": 28, "guidance": 2.0, "seed": 42, "tier": "standard", "dtype": "bfloat16",
                     "model_id": "./diception-model", "adapter": None, "benchmarks": [SA_JOB]},
        "submission": None,
    }
    run.update(overrides)
    return run


def samples_frame(run_id: int, benchmark: str, values: list[float], *, metric: str = "miou_1pt",
                  task: str = "point_segmentation", ids: list[str] | None = None) -> pd.DataFrame:
    ids = ids or [f"img{i}" for i in range(len(values))]
    return pd.DataFrame({"run_id": run_id, "task": task, "benchmark": benchmark, "sample_id": ids, "mask_id": "0",
                         "metric": metric, "value": values}, columns=list(SAMPLE_COLUMNS))


# --------------------------------------------------------------------------------------------- reproduce


def test_the_command_names_model_revision_benchmark_versions_settings_and_code() -> None:
    argv = verify.reproduce_argv(run_summary())
    text = verify.command_text(argv)
    assert text.startswith("python -m evaluation run --model diception --model-id ./diception-model ")
    pairs = dict(zip(argv[4::1], argv[5::1], strict=False))
    assert pairs["--model-revision"] == "abc123" and pairs["--benchmarks"] == "point_segmentation/sa23"
    assert pairs["--benchmark-version"] == "point_segmentation/sa23=1@sam-resample-seed0"
    assert pairs["--protocol"] == "sam-center-click-positive-only" and pairs["--tier"] == "standard"
    assert (pairs["--steps"], pairs["--guidance"], pairs["--seed"]) == ("28", "2.0", "42")
    assert pairs["--dtype"] == "bfloat16" and pairs["--code-version"] == "src-0123456789abcdef"
    assert pairs["--data-root"] == verify.DEFAULT_DATA_ROOT and "--adapter" not in argv


def test_an_adapter_row_names_its_hub_commit_and_content_hash() -> None:
    settings = {**run_summary()["settings"], "adapter": "/srv/subs/ab/abcd", "adapter_scale": 0.5,
                "adapter_sha256": "a" * 64}
    submission = {"hub_repo": "alice/lora", "hub_revision": "1" * 40, "content_hash": "a" * 64}
    argv = verify.reproduce_argv(run_summary(settings=settings, submission=submission))
    at = argv.index("--adapter")
    assert argv[at:at + 6] == ["--adapter", f"alice/lora@{'1' * 40}", "--adapter-scale", "0.5", "--adapter-sha256",
                               "a" * 64]
    stored = verify.reproduce_argv(run_summary(settings=settings))  # an uploaded zip: named by its content hash
    assert stored[stored.index("--adapter") + 1] == "./adapter-aaaaaaaaaaaa"
    assert stored[stored.index("--adapter-sha256") + 1] == "a" * 64


def test_a_command_never_shows_a_path_on_the_scoring_host() -> None:
    settings = {**run_summary()["settings"], "model_id": "/home/worker/models/diception", "adapter": "/srv/x",
                "adapter_sha256": "b" * 64}
    text = verify.command_text(verify.reproduce_argv(run_summary(settings=settings)))
    assert "/home" not in text and "/srv" not in text
    assert "--model-id ./diception-model" in text and "--adapter ./adapter-bbbbbbbbbbbb" in text


def test_synthetic_runs_need_no_data_root_and_keep_their_options() -> None:
    settings = {**run_summary()["settings"], "benchmarks": [SYN_JOB],
                "synthetic": {"samples": 3, "size": 64, "seed": 0}}
    argv = verify.reproduce_argv(run_summary(settings=settings))
    assert "--data-root" not in argv and "--synthetic-seed" not in argv
    assert argv[argv.index("--synthetic-samples") + 1] == "3" and argv[argv.index("--synthetic-size") + 1] == "64"


@pytest.mark.parametrize(("overrides", "reason"), [
    ({"provenance": "self-submitted", "model_kind": "files"}, "admin re-run"),
    ({"model_kind": None}, "model kind"),
    ({"settings": {"benchmarks": [{**SYN_JOB, "benchmark": "user:mine"}], "model_id": "tiny"}}, "own split"),
])
def test_rows_without_a_command_say_why(overrides: dict[str, Any], reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        verify.reproduce_argv(run_summary(**overrides))


def test_entry_commands_cover_each_run_and_the_export_column_joins_them() -> None:
    results = frame(result_row("e1", "sa23", 50.0, run_id=1), result_row("e1", "PPDLS", 40.0, run_id=1),
                    result_row("paper", "sa23", 47.1, run_id=None, provenance="reported", protocol="diception-paper",
                               source="DICEPTION arXiv 2502.17157v3 (NeurIPS 2025) Table 1"))
    runs = {1: run_summary()}
    (record,) = verify.entry_commands(results, "e1", runs)
    assert record["run_id"] == 1 and record["benchmarks"] == ["point_segmentation/sa23", "point_segmentation/PPDLS"]
    assert record["command"] == verify.command_text(record["argv"]) and record["reason"] == ""
    assert verify.entry_commands(results, "paper", runs) == []
    table = pd.DataFrame({"model": ["DICEPTION", "DICEPTION"], "entry_id": ["e1", "paper"]})
    table.attrs["task"] = "point_segmentation"
    out = verify.reproduce_column(table, results, runs)
    assert out[verify.REPRODUCE_COLUMN].tolist() == [record["command"], ""] and out.attrs == table.attrs
    with pytest.raises(KeyError, match="nonesuch"):
        verify.entry_commands(results, "nonesuch", runs)


def test_the_recorded_adapter_hash_is_the_submission_content_hash(tmp_path: Path) -> None:
    folder = make_adapter(tmp_path / "a")
    assert folder_content_hash(folder) == v.validate_adapter_folder(folder, **KW).content_hash


# --------------------------------------------------------------------------------------------- provenance


@pytest.mark.parametrize(("source", "expected"), [
    ("DICEPTION arXiv 2502.17157v3 (NeurIPS 2025) Table 1",
     {"paper": "DICEPTION", "arxiv": "2502.17157v3", "venue": "NeurIPS 2025", "where": "Table 1", "page": None}),
    ("Depth Anything V2 paper arXiv 2406.09414 Table 2",
     {"paper": "Depth Anything V2", "arxiv": "2406.09414", "venue": None, "where": "Table 2"}),
    ("DICEPTION arXiv 2502.17157v3 (NeurIPS 2025) Fig. 3 (bar-chart labels)",
     {"where": "Fig. 3 (bar-chart labels)"}),
    ("Some study arXiv 2101.00001 Table 4, p. 7", {"paper": "Some study", "where": "Table 4, p. 7", "page": 7}),
    ("a blog post", {"paper": "a blog post", "arxiv": None, "url": None}),
])
def test_citations_are_parsed_into_paper_table_and_page(source: str, expected: dict[str, Any]) -> None:
    parsed = verify.parse_citation(source)
    assert parsed["text"] == source
    for key, value in expected.items():
        assert parsed[key] == value, key
    if parsed["arxiv"]:
        assert parsed["url"] == f"https://arxiv.org/abs/{parsed['arxiv']}"


def test_provenance_of_reported_and_measured_rows() -> None:
    source = "DICEPTION arXiv 2502.17157v3 (NeurIPS 2025) Table 1"
    results = frame(result_row("paper", "sa23", 47.1, run_id=None, provenance="reported", source=source),
                    result_row("e1", "sa23", 50.0, run_id=1))
    reported = verify.entry_provenance(results, "paper")
    assert reported["provenance"] == ["reported"] and reported["runs"] == []
    assert reported["citations"][0]["where"] == "Table 1"
    assert reported["citations"][0]["benchmarks"] == ["point_segmentation/sa23"]
    measured = verify.entry_provenance(results, "e1", {1: run_summary()})
    (run,) = measured["runs"]
    worker = verify.public_worker_name("w-1")
    assert (run["run_id"], run["worker_id"], run["hardware"], run["date"]) == (1, worker, "NVIDIA H100", "2026-12-01")
    assert run["code_version"] == "src-0123456789abcdef" and run["git_commit"] == "f" * 40
    table = verify.provenance_column(pd.DataFrame({"entry_id": ["paper", "e1"]}), results, {1: run_summary()})
    assert table[verify.PROVENANCE_COLUMN].tolist() == [
        "DICEPTION arXiv 2502.17157v3 Table 1",
        f"run 1 · worker {worker} · NVIDIA H100 · 2026-12-01 · src-0123456789abcdef",
    ]


# --------------------------------------------------------------------------------------------- per-sample view


def test_distributions_per_dataset_and_metric() -> None:
    samples = pd.concat([samples_frame(1, "PPDLS", [0.0, 10.0, 20.0, 30.0, 40.0]),
                         samples_frame(1, "GTEA", [5.0, float("nan"), 7.0])])
    dist = verify.score_distributions(samples, bins=4)
    assert list(dist.columns) == list(verify.DISTRIBUTION_COLUMNS)
    ppdls = dist[dist["benchmark"] == "PPDLS"].iloc[0]
    assert (ppdls["n"], ppdls["mean"], ppdls["median"], ppdls["q1"], ppdls["q3"]) == (5, 20.0, 20.0, 10.0, 30.0)
    assert ppdls["min"] == 0.0 and ppdls["max"] == 40.0 and ppdls["std"] == pytest.approx(np.std([0, 10, 20, 30, 40],
                                                                                                  ddof=1))
    assert ppdls["bin_edges"] == [0.0, 10.0, 20.0, 30.0, 40.0] and ppdls["counts"] == [1, 1, 1, 2]
    assert dist[dist["benchmark"] == "GTEA"].iloc[0]["n"] == 2  # the NaN is not an item value
    assert verify.score_distributions(samples, metric="noc90").empty


def thumb(rank: str, position: int, value: float, benchmark: str = "PPDLS") -> dict[str, Any]:
    return {"run_id": 1, "task": "point_segmentation", "benchmark": benchmark, "sample_id": f"{rank}{position}",
            "mask_id": "0", "metric": "miou_1pt", "value": value, "rank": rank, "position": position,
            "media_type": "image/webp", "width": 8, "height": 8, "input": b"i", "truth": b"t", "prediction": b"p",
            "note": ""}


def test_the_gallery_lists_worst_and_best_in_order() -> None:
    items = [thumb("best", 1, 80.0), thumb("worst", 1, 12.0), thumb("best", 0, 95.0), thumb("worst", 0, 3.0)]
    shown = verify.gallery(items)
    assert [t["value"] for t in shown["worst"]] == [3.0, 12.0] and [t["value"] for t in shown["best"]] == [95.0, 80.0]
    assert shown["metric"] == "miou_1pt" and shown["higher_is_better"] is True
    assert verify.data_uri(b"i", "image/webp") == "data:image/webp;base64,aQ=="
    with pytest.raises(ValueError, match="pass task and benchmark"):
        verify.gallery([*items, thumb("worst", 0, 1.0, benchmark="GTEA")])
    assert [t["value"] for t in verify.gallery([*items, thumb("worst", 0, 1.0, "GTEA")], benchmark="GTEA")["worst"]] \
        == [1.0]


# --------------------------------------------------------------------------------------------- compare


def test_paired_difference_with_interval_and_the_largest_disagreements() -> None:
    results = frame(result_row("a", "PPDLS", 52.0, run_id=1), result_row("b", "PPDLS", 50.0, run_id=2))
    rng = np.random.default_rng(1)
    base = rng.uniform(20, 80, 40)
    shift = np.full(40, 2.0)
    shift[7], shift[3] = 30.0, -20.0  # the two items where they disagree most
    a = base + shift
    b = base
    a += 52.0 - a.mean()  # the rows' values are the item means
    b += 50.0 - b.mean()
    samples = pd.concat([samples_frame(1, "PPDLS", a.tolist()), samples_frame(2, "PPDLS", b.tolist())])
    out = verify.compare_entries(results, "a", "b", samples, top=2)
    row = out["datasets"].iloc[0]
    assert row["difference"] == pytest.approx(2.0) and row["paired"] and (row["n_a"], row["n_b"]) == (40, 40)
    assert row["ci_low"] < 2.0 < row["ci_high"] and row["better"] == "A" and row["note"] == ""
    assert out["disagreements"]["sample_id"].tolist() == ["img7", "img3"]
    assert out["disagreements"]["difference"].iloc[0] == pytest.approx(a[7] - b[7])


def test_a_constant_paired_difference_has_a_point_interval_and_is_clear() -> None:
    results = frame(result_row("a", "PPDLS", 61.0, run_id=1), result_row("b", "PPDLS", 60.0, run_id=2))
    b = np.linspace(40, 80, 9)
    samples = pd.concat([samples_frame(1, "PPDLS", (b + 1).tolist()), samples_frame(2, "PPDLS", b.tolist())])
    row = verify.compare_entries(results, "a", "b", samples)["datasets"].iloc[0]
    assert row["ci_low"] == pytest.approx(1.0) and row["ci_high"] == pytest.approx(1.0) and row["clear"]


def test_different_items_are_compared_unpaired_and_missing_samples_give_no_interval() -> None:
    results = frame(result_row("a", "PPDLS", 50.0, run_id=1), result_row("b", "PPDLS", 40.0, run_id=2),
                    result_row("paper", "PPDLS", 45.0, run_id=None, provenance="reported", protocol="diception-paper"))
    samples = pd.concat([samples_frame(1, "PPDLS", [40.0, 60.0]),
                         samples_frame(2, "PPDLS", [30.0, 50.0, 40.0], ids=["x", "y", "z"])])
    out = verify.compare_entries(results, "a", "b", samples)
    row = out["datasets"].iloc[0]
    assert not row["paired"] and "unpaired" in row["note"] and out["disagreements"].empty
    assert row["ci_low"] <= 10.0 <= row["ci_high"]
    vs_paper = verify.compare_entries(results, "a", "paper", samples)
    row = vs_paper["datasets"].iloc[0]
    assert pd.isna(row["ci_low"]) and "no per-sample values for B" in row["note"]
    assert "different protocols" in vs_paper["notes"][0]


def test_an_aggregate_is_compared_stratified_over_its_members() -> None:
    rows, parts = [result_row("a", "sa23", 21.0, run_id=1), result_row("b", "sa23", 20.0, run_id=2)], []
    for k, member in enumerate(SA23_DATASETS):  # member k: k + 1 items, A one point above B on each
        rows += [result_row("a", member, 11.0, run_id=1), result_row("b", member, 10.0, run_id=2)]
        parts += [samples_frame(1, member, [11.0 + k] * (k + 1)), samples_frame(2, member, [10.0 + k] * (k + 1))]
    out = verify.compare_entries(frame(*rows), "a", "b", pd.concat(parts))["datasets"].set_index("benchmark")
    assert out.loc["sa23", "ci_low"] == pytest.approx(1.0) and out.loc["sa23", "ci_high"] == pytest.approx(1.0)
    assert out.loc["sa23", "paired"] and out.loc["sa23", "n_a"] == sum(range(1, len(SA23_DATASETS) + 1))
    assert out.loc[SA23_DATASETS[1], "n_a"] == 2
    partial = verify.compare_entries(frame(*rows), "a", "b", pd.concat(parts[2:]))["datasets"].set_index("benchmark")
    assert pd.isna(partial.loc["sa23", "ci_low"])  # a member without samples: no interval for the aggregate


def test_unknown_entries_raise() -> None:
    with pytest.raises(KeyError, match="entry_id"):
        verify.compare_entries(frame(result_row("a", "PPDLS", 1.0)), "a", "zz", pd.DataFrame(columns=SAMPLE_COLUMNS))


def test_a_workers_name_is_a_stable_pseudonym_without_its_host() -> None:
    name = verify.public_worker_name("gpu-host-7-123-deadbeef")
    assert name == verify.public_worker_name("gpu-host-7-123-deadbeef") and len(name) == 8
    assert "gpu-host" not in name and verify.public_worker_name(None) is None
