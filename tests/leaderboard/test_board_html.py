"""The leaderboard as HTML: one titled table per ranking group, rank / model / score first, human headers, escaping."""

from __future__ import annotations

import re

import pytest

from leaderboard import board_html, tables
from tests.leaderboard.frames import frame, measured_row, reported_results


def _groups(html: str) -> list[str]:
    return re.findall(r'<section class="lb-group">(.*?)</section>', html)


def test_each_ranking_group_is_its_own_titled_table() -> None:
    cases = (("a", "genpercept-affine", 0.1, "measured"), ("b", "genpercept-affine", 0.2, "measured"),
             ("c", "depth-anything-disparity", 0.3, "measured"), ("s", "genpercept-affine", 0.05, "self-submitted"))
    rows = [measured_row(entry_id=e, model=e.upper(), protocol=p, value=v, ci_low=v - 0.01, ci_high=v + 0.01,
                         provenance=prov) for e, p, v, prov in cases]  # fmt: skip
    html = board_html.board_html(tables.task_table(frame(rows), "depth"))
    groups = _groups(html)
    assert len(groups) == 3
    titles = [re.search(r"<h3[^>]*>(.*?)</h3>", g).group(1) for g in groups]
    assert "genpercept-affine" in titles[0] and "self-submitted" not in titles[0]
    assert "genpercept-affine" in titles[1] and "self-submitted predictions, ranked apart" in titles[1]
    assert "depth-anything-disparity" in titles[2]
    for group in groups:  # ranks never restart inside a table: 1, 2, ... in every table
        ranks = re.findall(r'<td class="lb-rank">(\d+)', group)
        assert ranks == [str(i) for i in range(1, len(ranks) + 1)]


def test_rank_model_and_score_with_interval_come_first_with_human_headers() -> None:
    rows = [measured_row(entry_id="a", model="A", benchmark=b, value=0.1, ci_low=0.09, ci_high=0.12)
            for b in ("kitti", "nyuv2")]  # fmt: skip
    html = board_html.board_html(tables.task_table(frame(rows), "depth"))
    (group,) = _groups(html)
    head = re.search(r"<thead><tr>(.*?)</tr></thead>", group).group(1)
    cells = re.findall(r"<th ([^>]*)>(.*?)</th>", head)
    assert [re.sub(r"<[^>]+>.*", "", text) for _, text in cells][:5] == ["#", "Model", "AbsRel ↓", "KITTI", "NYUv2"]
    assert 'title="absrel: average' in cells[2][0]  # ids in tooltips
    assert 'title="KITTI Eigen test (kitti) · absrel"' in cells[3][0]
    assert "miou" not in head and "model_type" not in head and ">kitti<" not in head
    first_row = re.search(r"<tbody><tr>(.*?)</tr>", group).group(1)
    cls = re.findall(r'<td class="([\w -]+)"', first_row)
    assert cls[:3] == ["lb-rank", "lb-model", "lb-score"] and cls[-1] == "lb-details"
    assert "<b>0.1</b>" in first_row and "0.09–0.12" in first_row
    assert "generalist · 28 steps · CFG 2 · standard tier" in first_row


def test_the_sa23_mean_is_the_score_and_reported_rows_say_they_have_no_interval() -> None:
    table = tables.task_table(reported_results(), "point_segmentation")
    html = board_html.board_html(table)
    assert "1-click mIoU (%) ↑<small>SA-23 mean · 95% CI</small>" in html
    assert "no CI" in html and "sa23" not in re.sub(r'title="[^"]*"', "", html)


def test_data_is_escaped() -> None:
    rows = [measured_row(entry_id="x", model="<script>alert(1)</script>", variant='"><img src=x onerror=1>')]
    html = board_html.board_html(tables.task_table(frame(rows), "depth"))
    assert "<script>" not in html and "<img" not in html and "&lt;script&gt;" in html


def test_datasets_a_group_has_no_score_on_are_left_out_of_its_table() -> None:
    html = board_html.board_html(tables.task_table(reported_results(), "depth"))
    genpercept, depth_anything = _groups(html)
    assert ">Sintel<" not in genpercept and ">Sintel<" in depth_anything
    assert "mean of 5 datasets" in genpercept


@pytest.mark.parametrize(("value", "text"), [(0.0602, "0.0602"), (47.12, "47.12"), (None, "–"), (float("nan"), "–"),
                                             (1234567.0, "1.23e+06")])  # fmt: skip
def test_format_score(value, text) -> None:  # noqa: ANN001
    assert board_html.format_score(value) == text


def test_empty_view() -> None:
    assert "No results match this view" in board_html.board_html(tables.task_table(tables.empty_results(), "depth"))


def test_a_long_table_shows_its_first_rows_and_says_where_the_rest_is() -> None:
    from speed.bench_leaderboard import synthetic_results

    table = tables.task_table(synthetic_results(150, 3), "depth", protocol="genpercept-affine",
                              provenances=["reported", "measured"])
    (group,) = _groups(board_html.board_html(table))
    assert group.count("<tr>") == board_html.MAX_ROWS_PER_TABLE + 1  # the header row too
    assert f"first {board_html.MAX_ROWS_PER_TABLE} of {len(table)} entries" in group and "download" in group
