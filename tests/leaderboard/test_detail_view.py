"""Checking a row on the Leaderboard tab: the entry detail (provenance, reproduce command, distributions, gallery),
the comparison of two entries, the picker that reaches every entry, the rows' one-click button and the downloads'
command and provenance columns. Plain functions (``leaderboard.ui``, ``leaderboard.detail_html``) over a store fake
holding hand-made runs, samples and real WebP thumbnails; the browser test checks the page."""

from __future__ import annotations

import html
import io
import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from PIL import Image

from leaderboard import board_html, detail_html, tables, ui, verify
from leaderboard.schema import SAMPLE_COLUMNS
from leaderboard.tables import ViewFilters
from tests.leaderboard.frames import reported_models, reported_results
from tests.leaderboard.test_verify import frame, result_row, run_summary, samples_frame

SYN_JOB = {"task": "point_segmentation", "benchmark": "synthetic", "version": "1", "data_revision": "procedural-v1",
           "protocol": "sam-center-click-positive-only", "n_items": 2}
PPDLS_1 = [10.0, 20.0, 30.0, 40.0, 50.0]  # run 1; its row's value is their mean, 30
PPDLS_2 = [10.0, 18.0, 31.0, 40.0, 46.0]  # run 2, the same items; mean 29


def webp(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 6), (shade, shade, shade)).save(out, format="WEBP")
    return out.getvalue()


def thumb(run_id: int, benchmark: str, rank: str, position: int, value: float, sample_id: str) -> dict[str, Any]:
    return {"run_id": run_id, "task": "point_segmentation", "benchmark": benchmark, "sample_id": sample_id,
            "mask_id": "0", "metric": "miou_1pt", "value": value, "rank": rank, "position": position,
            "media_type": "image/webp", "width": 8, "height": 6, "input": webp(10 + position),
            "truth": webp(100), "prediction": webp(200), "note": ""}  # fmt: skip


class RunStore:
    """The store methods the Leaderboard tab reads, over hand-made runs: m1 and m2 measured on PPDLS and GTEA (the
    same items), syn only on the unranked synthetic benchmark, self self-submitted, plus the reported seed rows."""

    def __init__(self) -> None:
        rows = [
            result_row("m1", "PPDLS", 30.0, run_id=1), result_row("m1", "GTEA", 65.0, run_id=1),
            {**result_row("m2", "PPDLS", 29.0, run_id=2), "variant": "w"},
            {**result_row("m2", "GTEA", 60.0, run_id=2), "variant": "w"},
            {**result_row("syn", "synthetic", 40.0, run_id=3), "variant": "tiny"},
            {**result_row("self", "PPDLS", 50.0, run_id=4, provenance="self-submitted"), "model": "Their model",
             "variant": "", "submission_id": 7},
        ]  # fmt: skip
        reported = [{**r, "run_id": None} for r in reported_results().to_dict(orient="records")]
        self.results = frame(*reported, *rows)
        self.runs = {
            1: run_summary(1),
            2: run_summary(2, settings={**run_summary()["settings"], "steps": 14}),
            3: run_summary(3, settings={**run_summary()["settings"], "model_id": "tiny", "benchmarks": [SYN_JOB],
                                        "synthetic": {"samples": 2, "size": 64}}),
            4: run_summary(4, provenance="self-submitted", model_kind="files", submission_id=7,
                           submission={"submitter": "ann", "hub_repo": None, "hub_revision": None}),
        }  # fmt: skip
        self.samples = pd.concat([
            samples_frame(1, "PPDLS", PPDLS_1), samples_frame(1, "GTEA", [60.0, 70.0]),
            samples_frame(2, "PPDLS", PPDLS_2), samples_frame(2, "GTEA", [55.0, 65.0]),
            samples_frame(3, "synthetic", [30.0, 50.0]), samples_frame(4, "PPDLS", [5.0, 95.0, 50.0]),
        ], ignore_index=True)  # fmt: skip
        self.thumbnails = [
            thumb(1, "PPDLS", "best", 1, 40.0, "img3"), thumb(1, "PPDLS", "worst", 0, 10.0, "img0"),
            thumb(1, "PPDLS", "best", 0, 50.0, "img4"), thumb(1, "PPDLS", "worst", 1, 20.0, "img1"),
            thumb(1, "GTEA", "worst", 0, 60.0, "img0"), thumb(1, "GTEA", "best", 0, 70.0, "img1"),
        ]  # fmt: skip

    def results_frame(self) -> pd.DataFrame:
        return self.results

    def models_frame(self) -> pd.DataFrame:
        return reported_models()

    def last_updated(self) -> datetime:
        return datetime(2026, 12, 1, tzinfo=timezone.utc)

    def get_submission(self, submission_id: int) -> dict:
        raise KeyError(submission_id)

    def run_summaries(self, run_ids: Any = None) -> dict[int, dict[str, Any]]:
        return {k: v for k, v in self.runs.items() if run_ids is None or k in set(run_ids)}

    def run_samples_frame(self, run_ids: Any, *, task: str | None = None, benchmark: str | None = None
                          ) -> pd.DataFrame:  # fmt: skip
        ids = [run_ids] if isinstance(run_ids, int) else list(run_ids)
        out = self.samples[self.samples["run_id"].isin(ids)]
        if task is not None:
            out = out[out["task"] == task]
        if benchmark is not None:
            out = out[out["benchmark"] == benchmark]
        return out.reset_index(drop=True)[list(SAMPLE_COLUMNS)]

    def run_thumbnails(self, run_id: int, *, task: str | None = None, benchmark: str | None = None) -> list[dict]:
        chosen = [t for t in self.thumbnails if t["run_id"] == run_id and (task is None or t["task"] == task)
                  and (benchmark is None or t["benchmark"] == benchmark)]  # fmt: skip
        return sorted(chosen, key=lambda t: (t["task"], t["benchmark"], t["rank"] != "worst", t["position"]))


@pytest.fixture()
def store() -> RunStore:
    return RunStore()


@pytest.fixture()
def data(store: RunStore) -> ui.BoardData:
    return ui.StoreHandle(store).data()


def _items(fragment: str) -> list[tuple[str, float]]:
    pattern = r'class="lb-item" data-rank="(\w+)" data-value="([^"]+)"'
    return [(rank, float(value)) for rank, value in re.findall(pattern, fragment)]


# --------------------------------------------------------------------------------------------- the entry detail


def test_a_measured_entry_shows_its_command_provenance_distributions_and_worst_samples_first(
    store: RunStore, data: ui.BoardData
) -> None:
    checks = ui.entry_checks(data, store, "m1")
    expected = verify.command_text(verify.reproduce_argv(store.runs[1], benchmarks=[("point_segmentation", "PPDLS"),
                                                                                    ("point_segmentation", "GTEA")]))
    assert checks.command == expected and checks.command.startswith("python -m evaluation run --model diception")
    assert "results.json" in checks.command_note
    assert "Measured by run 1" in checks.head_html and "NVIDIA H100" in checks.head_html
    assert "2026-12-01" in checks.head_html and "src-0123456789abcdef" in checks.head_html
    assert checks.datasets == [("PPDLS (Point segmentation)", "point_segmentation/PPDLS"),
                               ("GTEA (Point segmentation)", "point_segmentation/GTEA")]  # fmt: skip
    assert checks.dataset == "point_segmentation/PPDLS"
    assert _items(checks.samples_html) == [("worst", 10.0), ("worst", 20.0), ("best", 50.0), ("best", 40.0)]
    assert checks.samples_html.count("data:image/webp;base64,") == 12  # three pictures per item
    assert "input + prompt points" in checks.samples_html
    boxes = {trace.y[0]: trace for trace in checks.figure.data}
    assert set(boxes) == {"PPDLS", "GTEA"} and boxes["PPDLS"].median[0] == 30.0 and boxes["GTEA"].mean[0] == 65.0
    assert checks.detail_json["entry_id"] == "m1"  # all fields, as before


def test_the_gallery_follows_the_chosen_dataset(store: RunStore, data: ui.BoardData) -> None:
    checks = ui.entry_checks(data, store, "m1", "point_segmentation/GTEA")
    assert checks.dataset == "point_segmentation/GTEA" and 'data-benchmark="GTEA"' in checks.samples_html
    assert _items(checks.samples_html) == [("worst", 60.0), ("best", 70.0)]


def test_a_reported_entry_names_its_paper_and_says_why_it_has_no_command(store: RunStore, data: ui.BoardData) -> None:
    entry = tables.task_table(data.results, "point_segmentation").iloc[0]["entry_id"]
    checks = ui.entry_checks(data, store, entry)
    assert checks.command == "" and "published numbers" in checks.command_note
    assert 'href="https://arxiv.org/abs/2502.17157v3"' in checks.head_html and "NeurIPS 2025" in checks.head_html
    assert checks.figure is None and checks.datasets == [] and "no per-sample values" in checks.samples_html


def test_a_self_submitted_entry_shows_its_per_sample_scores_without_images(store: RunStore,
                                                                           data: ui.BoardData) -> None:  # fmt: skip
    checks = ui.entry_checks(data, store, "self")
    assert checks.command == "" and "admin re-run" in checks.command_note
    assert "submission #7 by ann" in checks.head_html
    assert "<img" not in checks.samples_html and "Self-submitted" in checks.samples_html
    worst = re.search(r'Worst first.*?<tbody>(.*?)</tbody>', checks.samples_html).group(1)
    assert re.findall(r'lb-num">([\d.]+) %', worst) == ["5", "50", "95"]  # worst first: mIoU is higher-is-better


def test_an_unranked_entry_is_listed_after_the_tables_rows_and_has_its_detail(
    store: RunStore, data: ui.BoardData, tmp_path: Path
) -> None:
    view = ui.build_view(data, ViewFilters(task="point_segmentation"), download_dir=tmp_path, with_charts=False)
    ids = [entry for _, entry in view.entry_choices]
    shown = list(dict.fromkeys(view.raw_table["entry_id"]))
    assert "syn" not in shown and ids[: len(shown)] == shown and "syn" in ids[len(shown):]
    label = dict((e, lab) for lab, e in view.entry_choices)["syn"]
    assert label.startswith("DICEPTION · tiny (sam-center-click-positive-only) · measured") and "(not ranked)" in label
    assert len(set(lab for lab, _ in view.entry_choices)) == len(view.entry_choices)  # labels are unique
    checks = ui.entry_checks(data, store, "syn")
    assert "--benchmarks point_segmentation/synthetic" in checks.command and "--synthetic-size 64" in checks.command
    assert "No per-sample" not in checks.samples_html and "drew no thumbnails" in checks.samples_html


def test_no_entry_or_an_unknown_one_says_what_to_do(store: RunStore, data: ui.BoardData) -> None:
    assert ui.entry_checks(data, store, None).command_note == ui.PICK_ENTRY
    assert ui.entry_checks(data, store, "nope").command_note == "No results for entry `nope`."


# --------------------------------------------------------------------------------------------- compare


def test_two_measured_entries_compare_per_dataset_with_intervals_and_disagreements(
    store: RunStore, data: ui.BoardData
) -> None:
    page = ui.comparison_view(data, store, "m1", "m2")
    rows = dict(re.findall(r'<tr[^>]*data-benchmark="(\w+)"><td>(.*?)</tr>', page))
    assert set(rows) == {"PPDLS", "GTEA"}
    ppdls = html.unescape(re.sub(r"<[^>]+>", "|", rows["PPDLS"]))
    assert "30 %" in ppdls and "29 %" in ppdls and "+1" in ppdls and re.search(r"\[-?[\d.]+, [\d.]+\]", ppdls)
    disagree = re.search(r'lb-disagree-table.*?<tbody>(.*?)</tbody>', page).group(1)
    first = re.findall(r"<td>(.*?)</td>", disagree)[:2]
    assert first == ["PPDLS (Point segmentation)", "img4"]  # |50 - 46| is the largest PPDLS difference


def test_compare_asks_for_two_different_known_entries(store: RunStore, data: ui.BoardData) -> None:
    assert ui.comparison_view(data, store, "m1", None) == ui.PICK_TWO
    assert "same entry" in ui.comparison_view(data, store, "m1", "m1")
    assert "No results for entry" in ui.comparison_view(data, store, "m1", "gone")
    paper = tables.task_table(data.results, "point_segmentation").iloc[0]["entry_id"]
    assert "no dataset in common" in ui.comparison_view(data, store, "m1", paper)


# --------------------------------------------------------------------------------------------- the board and exports


def test_every_row_opens_its_detail_in_one_click_and_shows_where_it_came_from(data: ui.BoardData,
                                                                               tmp_path: Path) -> None:  # fmt: skip
    view = ui.build_view(data, ViewFilters(task="point_segmentation"), download_dir=tmp_path, with_charts=False)
    buttons = re.findall(r'<button type="button" class="lb-open" data-entry="([^"]+)" title="([^"]+)">', view.html)
    assert [html.unescape(e) for e, _ in buttons] == view.raw_table["entry_id"].tolist()
    tips = {html.unescape(e): html.unescape(t) for e, t in buttons}
    assert tips["m1"].startswith("run 1 · worker 0065abd0 · NVIDIA H100 · 2026-12-01 · src-0123456789abcdef — click")
    paper = view.raw_table.loc[view.raw_table["provenance"] == "reported", "entry_id"].iloc[0]
    assert re.match(r"DICEPTION arXiv 2502\.17157v3 (Fig|Table)", tips[paper])
    assert "trigger('click', {entry: button.dataset.entry})" in board_html.OPEN_ENTRY_JS


def test_the_downloads_carry_each_rows_command_and_provenance(store: RunStore, data: ui.BoardData,
                                                             tmp_path: Path) -> None:  # fmt: skip
    view = ui.build_view(data, ViewFilters(task="point_segmentation"), download_dir=tmp_path, with_charts=False)
    csv = pd.read_csv(view.csv_path, keep_default_na=False).set_index("entry_id")
    rows = json.loads(Path(view.json_path).read_text())["rows"]
    assert csv.loc["m1", verify.REPRODUCE_COLUMN] == ui.entry_checks(data, store, "m1").command
    assert {r["entry_id"]: r[verify.REPRODUCE_COLUMN] for r in rows}["m1"] == csv.loc["m1", verify.REPRODUCE_COLUMN]
    assert csv.loc["self", verify.REPRODUCE_COLUMN] == ""  # self-submitted: no command
    assert csv.loc["m1", "provenance_detail"].startswith("run 1 · worker 0065abd0")


def test_the_tab_wires_the_detail_and_the_comparison(store: RunStore, tmp_path: Path) -> None:
    import gradio as gr

    with gr.Blocks(), gr.Tabs():
        tab = ui.build_leaderboard_tab(store, download_dir=tmp_path)
    c = tab.components
    assert c["table"].js_on_load == board_html.OPEN_ENTRY_JS
    assert {"detail_section", "command", "samples", "distributions", "compare_a", "compare_b", "compare_out"} <= set(c)
    assert c["command"].buttons == ["copy"] and not c["command"].interactive


# --------------------------------------------------------------------------------------------- the HTML pieces


def test_data_in_the_detail_is_escaped() -> None:
    evil = "<script>x</script>"
    item = {**thumb(1, "PPDLS", "worst", 0, 1.0, evil), "note": evil, "mask_id": evil}
    page = detail_html.gallery_html({"task": "point_segmentation", "benchmark": evil, "metric": "miou_1pt",
                                     "worst": [item], "best": []})  # fmt: skip
    citation = {"paper": evil, "url": "javascript:alert(1)", "benchmarks": []}
    provenance = detail_html.provenance_html({"citations": [citation], "runs": [{"run_id": 1, "worker_id": evil}]})
    for text in (page, provenance):
        assert "<script>" not in text and "&lt;script&gt;" in text
    assert "javascript:" not in provenance  # only http(s) sources become links


@pytest.mark.parametrize(("commands", "provenance", "says"), [
    ([], ["reported"], "published numbers"),
    ([{"run_id": 3, "command": None, "reason": "run 3: recorded before runs kept their model kind"}], ["measured"],
     "No command for run 3: run 3: recorded before runs kept their model kind."),
    ([], ["measured"], "no run is recorded"),
])  # fmt: skip
def test_rows_without_a_command_say_why(commands: list, provenance: list, says: str) -> None:
    assert says in detail_html.commands_note(provenance, commands)


def test_each_dataset_is_drawn_by_its_main_metric() -> None:
    samples = pd.concat([samples_frame(1, "PPDLS", PPDLS_1), samples_frame(1, "PPDLS", [9.0] * 5, metric="noc90")])
    fig = detail_html.distribution_figure(verify.score_distributions(samples))
    (box,) = fig.data
    assert box.y[0] == "PPDLS" and (box.q1[0], box.median[0], box.q3[0]) == (20.0, 30.0, 40.0)
    assert fig.layout.xaxis.title.text == "1-click mIoU (%) ↑"
    assert detail_html.distribution_figure(verify.score_distributions(samples.iloc[0:0])) is None


def test_a_depth_gallery_has_no_prompt_points_caption() -> None:
    item = {**thumb(1, "nyuv2", "worst", 0, 0.2, "a"), "task": "depth", "metric": "absrel"}
    page = detail_html.gallery_html({"task": "depth", "benchmark": "nyuv2", "metric": "absrel", "worst": [item],
                                     "best": []})  # fmt: skip
    assert "prompt points" not in page and ">input<" in page and "AbsRel ↓" in page

