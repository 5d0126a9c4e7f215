"""Leaderboard tables: ranking direction, protocol separation, ties, flags, filters, downloads, share links."""

from __future__ import annotations

import json
from io import StringIO

import numpy as np
import pandas as pd
import pytest

from diception_spec.metrics import METRICS
from leaderboard import tables
from leaderboard.tables import TIE_MARK, ViewFilters, parse_share_query, share_query, task_table
from tests.leaderboard.frames import frame, measured_row, reported_models, reported_results


@pytest.fixture(scope="module")
def seed() -> pd.DataFrame:
    return reported_results()


def test_main_metrics_follow_the_seed_data(seed: pd.DataFrame) -> None:
    expected = {"point_segmentation": "miou_1pt", "depth": "absrel", "normal": "mean_deg", "pose": "ap",
                "entity_segmentation": "ar_large", "semantic_segmentation": "instance_ap"}  # fmt: skip
    assert {t: tables.main_metric(seed, t) for t in tables.TASKS} == expected
    assert tables.main_metric(tables.empty_results(), "entity_segmentation") == "ap"
    with pytest.raises(ValueError, match="known tasks"):
        tables.main_metric(seed, "sketch")


def test_lower_is_better_ranks_ascending_within_each_protocol(seed: pd.DataFrame) -> None:
    table = task_table(seed, "depth")
    assert table.attrs["higher_is_better"] is False and table.attrs["rank_by"] == "average"
    for protocol, rows in table.groupby("protocol", sort=False):
        ranked = rows.loc[rows["rank"].notna()]
        assert ranked["rank"].iloc[0] == 1, protocol  # ranks restart per protocol
        assert ranked["average"].is_monotonic_increasing
        assert ranked["rank"].is_monotonic_increasing
    # the affine protocol (most entries) first; Depth Anything's own protocol after it, never interleaved
    protocols = table["protocol"].tolist()
    assert protocols[0] == "genpercept-affine"
    assert protocols == sorted(protocols, key=lambda p: p != "genpercept-affine")
    best = table.iloc[0]
    assert best["model"] == "Metric3D"
    assert best["average"] == pytest.approx(np.mean([0.052, 0.039, 0.023, 0.147, 0.04]))


def test_higher_is_better_ranks_descending_and_sa23_is_the_rank_key(seed: pd.DataFrame) -> None:
    table = task_table(seed, "point_segmentation")
    assert table.attrs["rank_by"] == "sa23" and table.attrs["higher_is_better"] is True
    paper = table.loc[table["protocol"] == "diception-paper"]
    click = table.loc[table["protocol"] == "sam-center-click"]
    assert (paper.iloc[0]["model"], paper.iloc[0]["sa23"]) == ("SAM", 48.9)
    top = click.iloc[0]
    assert (top["model"], top["variant"], top["sa23"]) == ("SAM 2", "Hiera-L (mix)", 63.5)
    assert click["sa23"].is_monotonic_decreasing and paper["sa23"].is_monotonic_decreasing
    # equal values share a rank (method "min")
    assert (paper.loc[paper["sa23"] == 47.1, "rank"] == paper.loc[paper["sa23"] == 47.1, "rank"].min()).all()


def test_one_protocol_view_says_so(seed: pd.DataFrame) -> None:
    table = task_table(seed, "depth", protocol="depth-anything-disparity")
    assert set(table["protocol"]) == {"depth-anything-disparity"}
    assert "protocol depth-anything-disparity only" in table.attrs["note"]
    assert "sintel" in table.columns and table["average"].notna().all()  # all of this protocol's datasets


def test_average_only_over_the_datasets_the_row_has_all_of() -> None:
    rows = [measured_row(entry_id="a", model="A", benchmark=b, value=v, ci_low=v, ci_high=v)
            for b, v in (("kitti", 0.1), ("nyuv2", 0.2))]  # fmt: skip
    rows += [measured_row(entry_id="b", model="B", benchmark="kitti", value=0.01, ci_low=0.01, ci_high=0.01)]
    table = task_table(frame(rows), "depth")
    assert table["model"].tolist() == ["A", "B"]
    assert table.loc[0, "average"] == pytest.approx(0.15) and pd.isna(table.loc[1, "average"])
    assert table.loc[0, "rank"] == 1 and pd.isna(table.loc[1, "rank"])  # unranked, listed last
    # with only kitti shown, B wins
    table = task_table(frame(rows), "depth", columns=["kitti"])
    assert table["model"].tolist() == ["B", "A"] and "nyuv2" not in table.columns


@pytest.mark.parametrize("unranked", ["synthetic", "user:my-split"])
def test_scores_off_the_standard_benchmarks_never_enter_the_ranking(unranked: str) -> None:
    rows = [measured_row(entry_id=e, model=e.upper(), benchmark=b, value=v, ci_low=v, ci_high=v)
            for e, v in (("a", 0.10), ("b", 0.12)) for b in ("kitti", "nyuv2")]  # fmt: skip
    rows.append(measured_row(entry_id="c", model="C", benchmark="kitti", value=0.3, ci_low=0.3, ci_high=0.3))
    rows.append(measured_row(entry_id="c", model="C", benchmark="nyuv2", value=0.3, ci_low=0.3, ci_high=0.3))
    rows.append(measured_row(entry_id="c", model="C", benchmark=unranked, value=0.0, ci_low=0.0, ci_high=0.0))
    table = task_table(frame(rows), "depth")
    assert unranked not in table.columns
    assert table["model"].tolist() == ["A", "B", "C"] and table["rank"].tolist() == [1, 2, 3]


def test_self_submitted_rows_are_ranked_apart() -> None:
    rows = [
        measured_row(entry_id="m1", model="M1", value=0.10, ci_low=0.099, ci_high=0.101),
        measured_row(entry_id="m2", model="M2", value=0.20, ci_low=0.199, ci_high=0.201),
        measured_row(entry_id="s1", model="S1", value=0.01, ci_low=0.009, ci_high=0.011, provenance="self-submitted"),
    ]
    table = task_table(frame(rows), "depth")
    assert table["model"].tolist() == ["M1", "M2", "S1"]
    assert table["rank"].tolist() == [1, 2, 1]
    assert table.loc[2, "badges"] == "self-submitted · standard tier · 28 steps CFG 2"


def test_overlapping_intervals_are_marked_as_ties() -> None:
    rows = [
        measured_row(entry_id="a", model="A", value=0.100, ci_low=0.090, ci_high=0.110),
        measured_row(entry_id="b", model="B", value=0.105, ci_low=0.095, ci_high=0.115),  # overlaps A
        measured_row(entry_id="c", model="C", value=0.300, ci_low=0.290, ci_high=0.310),  # clear gap
        measured_row(entry_id="r", model="R", value=0.500, ci_low=np.nan, ci_high=np.nan, provenance="reported"),
    ]
    table = task_table(frame(rows), "depth")
    assert table["model"].tolist() == ["A", "B", "C", "R"]
    assert table["tie"].tolist() == ["", TIE_MARK, "", ""]
    assert table["nyuv2 ci_low"].iloc[0] == 0.09 and pd.isna(table["nyuv2 ci_high"].iloc[3])
    shown = tables.display_table(table)
    assert shown["nyuv2 95% CI"].iloc[0] == "[0.09, 0.11]" and shown["nyuv2 95% CI"].iloc[3] == ""
    assert "nyuv2 ci_low" not in shown.columns
    assert "≈" in table.attrs["note"]


def test_trained_on_benchmarks_flag_the_columns() -> None:
    rows = [measured_row(entry_id="a", model="A", benchmark=b, trained_on_benchmarks="nyuv2,hypersim")
            for b in ("kitti", "nyuv2")]  # fmt: skip
    table = task_table(frame(rows), "depth")
    assert table.loc[0, "flags"] == "⚠ trained on: nyuv2"
    shown = tables.display_table(table)
    assert str(shown.loc[0, "nyuv2"]).endswith("⚠") and not str(shown.loc[0, "kitti"]).endswith("⚠")
    assert task_table(frame(rows), "depth", columns=["kitti"]).loc[0, "flags"] == ""


def test_latest_recorded_value_wins() -> None:
    rows = [
        measured_row(entry_id="a", value=0.3, recorded_at=pd.Timestamp("2026-11-03", tz="UTC")),
        measured_row(entry_id="a", value=0.2, recorded_at=pd.Timestamp("2026-11-01", tz="UTC")),
    ]
    assert task_table(frame(rows), "depth").loc[0, "nyuv2"] == 0.3


def test_search_and_filters(seed: pd.DataFrame) -> None:
    table = task_table(seed, "depth", search="  depth ANYTHING ")
    assert set(table["model"]) == {"Depth Anything"}
    assert set(task_table(seed, "depth", model_types=["generalist"])["model_type"]) == {"generalist"}
    assert len(task_table(seed, "depth", provenances=["measured"])) == 0
    with pytest.raises(ValueError, match="provenances"):
        task_table(seed, "depth", provenances=["rumoured"])
    with pytest.raises(ValueError, match="known tasks"):
        task_table(seed, "sketch")
    table = task_table(seed, "depth", columns=["kitti", "nyuv2", "badges"])
    assert list(table.columns) == ["rank", "tie", "model", "variant", "badges", "protocol", "flags", "kitti", "nyuv2",
                                   "entry_id"]


def test_other_metric_and_empty_inputs(seed: pd.DataFrame) -> None:
    table = task_table(seed, "depth", metric="delta1")
    assert table.attrs["higher_is_better"] is True and table["average"].dropna().iloc[0] > 0.9
    empty = task_table(tables.empty_results(), "depth")
    assert len(empty) == 0 and "rank" in empty.columns
    assert len(task_table(seed, "depth", search="no such model")) == 0
    assert json.loads(tables.to_json(empty))["rows"] == []


def test_badges_show_provenance_tier_steps_and_guidance(seed: pd.DataFrame) -> None:
    table = task_table(seed, "normal")
    row = table.loc[table["variant"] == "ablation steps=1, CFG 2"].iloc[0]
    assert row["badges"] == "reported · 1 step CFG 2"
    rows = [measured_row(tier="quick", steps=28.0, guidance=2.0)]
    assert task_table(frame(rows), "depth").loc[0, "badges"] == "measured · quick tier · 28 steps CFG 2"


def test_csv_and_json_downloads_hold_the_view(seed: pd.DataFrame) -> None:
    table = task_table(seed, "pose")
    back = pd.read_csv(StringIO(tables.to_csv(table)))
    assert back["model"].tolist() == table["model"].tolist()
    payload = json.loads(tables.to_json(table))
    assert payload["view"]["metric"] == "ap" and "never ranked across" in payload["view"]["note"]
    assert [r["model"] for r in payload["rows"]] == table["model"].tolist()


def test_share_query_round_trip() -> None:
    filters = ViewFilters(task="depth", metric="delta1", protocol="genpercept-affine", search="marigold & co",
                          model_types=("generalist",), provenances=("measured", "reported"),
                          columns=("kitti", "nyuv2"), selected=("multi-task, 28 steps, CFG 2",))  # fmt: skip
    query = share_query(filters)
    assert "search=marigold+%26+co" in query and "selected=multi-task%2C+28+steps%2C+CFG+2" in query
    assert parse_share_query(query) == filters
    assert parse_share_query("?" + query) == filters
    assert parse_share_query(share_query(ViewFilters())) == ViewFilters()
    assert share_query({"task": "pose", "search": "x"}) == "task=pose&search=x"
    assert parse_share_query(share_query(ViewFilters(columns=()))).columns == ()


def test_parse_share_query_is_defensive() -> None:
    f = parse_share_query("task=__import__('os')&provenances=rumoured&provenances=measured&search=" + "x" * 500
                          + "&unknown=1&metric=")  # fmt: skip
    assert f.task == ViewFilters.task and f.provenances == ("measured",) and len(f.search) == tables.MAX_SEARCH_CHARS
    assert f.metric is None
    assert parse_share_query({"task": "normal", "columns": ["nyuv2", "scannet"]}).columns == ("nyuv2", "scannet")

    class QueryParams:  # starlette's interface
        def multi_items(self):
            return [("task", "pose"), ("selected", "a"), ("selected", "b")]

    assert parse_share_query(QueryParams()) == ViewFilters(task="pose", selected=("a", "b"))


def test_model_detail(seed: pd.DataFrame) -> None:
    entry = task_table(seed, "depth").iloc[0]["entry_id"]
    detail = tables.model_detail(seed, reported_models(), entry)
    assert detail["model"] == "Metric3D" and detail["provenance"] == ["reported"]
    assert detail["citations"] == ["DICEPTION arXiv 2502.17157v3 (NeurIPS 2025) Table 1"]
    assert detail["model_info"]["train_images"] == 16_000_000
    assert {s["metric"] for s in detail["scores"]} == {"absrel", "delta1"} and len(detail["scores"]) == 10
    json.dumps(detail)
    dic = seed.loc[(seed["model"] == "DICEPTION") & (seed["task"] == "pose"), "entry_id"].iloc[0]
    detail = tables.model_detail(seed, None, dic, submission={"name": "x", "created_at": pd.Timestamp(0, tz="UTC")})
    assert detail["notes"] and detail["configuration"]["steps"] == [28.0] and detail["submission"]["name"] == "x"
    with pytest.raises(KeyError, match="entry_id"):
        tables.model_detail(seed, None, "nope")


def test_table_builds_for_1000_models_40_datasets() -> None:
    from speed.bench_leaderboard import synthetic_results

    results = synthetic_results(1000, 40)
    tables.task_table(results, "depth")
    table = tables.task_table(results, "depth")
    assert len(table) == 1000 and {f"dataset_{i:02d}" for i in range(40)} <= set(table.columns)


def test_badges_and_legend_need_no_emoji_font() -> None:
    text = " ".join([*tables.PROVENANCE_BADGES.values(), tables.BADGE_LEGEND])
    assert all(ord(c) < 0x1F000 for c in text), "emoji render as empty boxes without an emoji font"


def test_column_headers_are_human_with_unit_and_direction() -> None:
    assert tables.column_header("miou_1pt") == "1-click mIoU (%) ↑"
    assert tables.column_header("absrel") == "AbsRel ↓"
    assert tables.column_header("mean_deg") == "Mean angle error (°) ↓"
    assert tables.column_header("within_11.25") == "Within 11.25° (%) ↑"
    assert tables.column_header("brand_new_metric") == "brand_new_metric"  # unknown: the id, no arrow
    assert tables.benchmark_label("nyuv2") == "NYUv2" and tables.benchmark_label("PPDLS") == "PPDLS"
    assert all(tables.column_header(m) != m for m in METRICS)


def test_average_keeps_the_interval_of_its_datasets() -> None:
    rows = [measured_row(entry_id="a", model="A", benchmark=b, value=v, ci_low=v - 0.01, ci_high=v + 0.03)
            for b, v in (("kitti", 0.10), ("nyuv2", 0.20))]  # fmt: skip
    table = task_table(frame(rows), "depth")
    assert table.loc[0, "average"] == pytest.approx(0.15)
    assert (table.loc[0, "average ci_low"], table.loc[0, "average ci_high"]) == pytest.approx((0.14, 0.18))
    assert list(table.columns).index("average ci_low") == list(table.columns).index("average") + 1
    assert tables.display_table(table).loc[0, "average 95% CI"] == "[0.14, 0.18]"
    assert "average ci_low" not in task_table(reported_results(), "depth").columns  # no intervals, no columns
