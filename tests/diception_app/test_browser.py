"""The app in a real browser: Playwright driving Debian's chromium against ``python app.py --model tiny``.

Pages are 1366 x 768 (the laptop screen the issue was seen on) unless a test says otherwise. Screenshots of each
test's end state go to ``tests/artifacts/app/``. Skipped (with the reason) when chromium or playwright is absent.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.diception_app import harness
from tests.diception_app.harness import EXAMPLES, PHONE, click_pixel, open_tab, upload, wait_for_points, wait_for_text

pytestmark = [pytest.mark.browser, pytest.mark.slow]

if not harness.CHROMIUM.exists():
    pytest.skip(f"{harness.CHROMIUM} not found: apt-get install -y chromium (see ENVIRONMENT.md)",
                allow_module_level=True)  # fmt: skip
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the Python package) is not installed")


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        instance = harness.launch_browser(playwright)
        yield instance
        instance.close()


@pytest.fixture()
def page(browser, tiny_app, shots, request):
    page = harness.open_page(browser, tiny_app.url)
    yield page
    page.screenshot(path=str(shots / f"last_{request.node.name}.png"), full_page=True)  # the state at the end
    page.context.close()


@pytest.fixture(scope="module")
def shots(artifacts_dir: Path) -> Path:
    folder = artifacts_dir / "app"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def large_image(tmp_path_factory) -> Path:
    """2250 x 1500, the size of the issue's photo: shown scaled down to a few hundred pixels wide."""
    x = np.linspace(0, 255, 2250, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, 1500, dtype=np.float32)[:, None]
    rgb = np.stack([np.broadcast_to(x, (1500, 2250)), np.broadcast_to(y, (1500, 2250)),
                    np.full((1500, 2250), 90, np.float32)], axis=-1).astype(np.uint8)
    path = tmp_path_factory.mktemp("large") / "large.jpg"
    Image.fromarray(rgb).save(path, quality=90)
    return path


def visible_in_viewport(page, selector: str) -> bool:
    box = page.locator(selector).first.bounding_box()
    size = page.viewport_size
    return bool(box) and box["x"] >= 0 and box["y"] >= 0 and box["x"] + box["width"] <= size["width"] + 1 and (
        box["y"] + box["height"] <= size["height"] + 1)


# ---------------------------------------------------------------------------------------------- navigation


def test_every_destination_is_visible_without_an_overflow_menu(page, shots):
    for name in ("Try", "Compare", "Leaderboard", "Submit", "About", "Depth", "Surface normals", "Point segmentation",
                 "Entity segmentation", "Human pose", "Instances by category", "All tasks", "Adapter task"):
        tab = page.get_by_role("tab", name=name, exact=True).first
        assert tab.is_visible() and visible_in_viewport(page, f"button[role=tab]:text-is('{name}')"), name
    assert page.locator(".overflow-menu:visible, .overflow-dropdown:visible").count() == 0
    assert page.locator("#settings-panel #steps").first.is_visible()  # settings open, beside the task tabs
    page.screenshot(path=str(shots / "navigation.png"))


# ---------------------------------------------------------------------------------------------- clicks


def test_one_image_takes_the_upload_and_the_clicks_with_markers_at_the_clicked_pixel(page, large_image, shots):
    open_tab(page, "Point segmentation")
    upload(page, "point_segmentation", large_image)
    assert page.locator("#point_segmentation-image .image-frame img").count() == 1  # no second copy to click on
    intended = [[2010, 640], [730, 1355]]
    clicks = [click_pixel(page, "point_segmentation", x, y) for x, y in intended]
    recorded = wait_for_points(page, "point_segmentation", 2)
    scale = clicks[-1][2]
    assert scale < 0.5, f"the image should be shown scaled down (scale {scale})"
    for (rx, ry), (ix, iy) in zip(recorded, intended, strict=True):  # original pixels, within one displayed pixel
        assert abs(rx - ix) <= 1 / scale and abs(ry - iy) <= 1 / scale, (recorded, intended, scale)
    page.wait_for_function("() => document.querySelectorAll('#point_segmentation-image .click-marker').length === 2 "
                           "&& !document.querySelector('#point_segmentation-image .click-marker.provisional')")
    drawn = harness.markers(page, "point_segmentation")
    for marker, (sx, sy, _) in zip(drawn, clicks, strict=True):  # the marker is where the user clicked
        assert abs(marker["x"] - sx) <= 1.0 and abs(marker["y"] - sy) <= 1.0, (marker, sx, sy)
    assert "2 / 5" in page.locator("#point_segmentation-counter").inner_text()
    page.screenshot(path=str(shots / "point_clicks.png"))

    harness.set_number(page, "steps", 2)
    page.locator("#point_segmentation-run").click()
    files = wait_for_text(page, "#point_segmentation-files", r"_mask\.png")
    assert "point_segmentation_raw.npy" in files
    wait_for_text(page, "#point_segmentation-zip", r"\.zip")
    settings_text = wait_for_text(page, "#point_segmentation-settings", r"\"steps\":2,")
    assert '"guidance"' in settings_text


def test_sixth_click_warns_and_undo_and_upload_reset(page, shots):
    open_tab(page, "Point segmentation")
    upload(page, "point_segmentation", EXAMPLES / "street.jpg")
    scale = 1.0
    for index in range(1, 6):
        scale = click_pixel(page, "point_segmentation", 100 * index, 300)[2]
        wait_for_points(page, "point_segmentation", index)
    click_pixel(page, "point_segmentation", 50, 50, expect_new_point=False)  # refused: no sixth marker either
    counter = wait_for_text(page, "#point_segmentation-counter", "Notadded")
    assert "5/5" in counter and len(harness.points_value(page, "point_segmentation")) == 5
    assert len(harness.markers(page, "point_segmentation")) == 5
    page.screenshot(path=str(shots / "sixth_click_warning.png"))
    page.locator("#point_segmentation-undo").click()
    last = wait_for_points(page, "point_segmentation", 4)[-1]
    assert abs(last[0] - 400) <= 1 / scale and abs(last[1] - 300) <= 1 / scale
    page.wait_for_function("() => document.querySelectorAll('#point_segmentation-image .click-marker').length === 4")
    upload(page, "point_segmentation", EXAMPLES / "tabletop.jpg")
    wait_for_points(page, "point_segmentation", 0)
    wait_for_text(page, "#point_segmentation-counter", "0/5")
    page.locator("#point_segmentation-clear").click()  # clearing nothing is fine
    assert harness.markers(page, "point_segmentation") == []


def test_example_fills_image_and_points_and_runs_with_the_current_settings(page, shots):
    harness.set_number(page, "steps", 2)
    open_tab(page, "Point segmentation")
    page.locator("#point_segmentation-examples .gallery-item, #point_segmentation-examples tbody tr").first.click()
    wait_for_text(page, "#point_segmentation-files", r"_mask\.png")
    assert wait_for_points(page, "point_segmentation", 2) == [[300, 340], [300, 420]]
    wait_for_text(page, "#point_segmentation-counter", "2/5")
    wait_for_text(page, "#point_segmentation-settings", r"\"steps\":2,")  # not the model's default 28
    page.screenshot(path=str(shots / "example_point_segmentation.png"), full_page=True)


# ---------------------------------------------------------------------------------------------- refusals


def test_no_image_is_refused_next_to_run(page, shots):
    page.locator("#depth-run").click()
    refusal = wait_for_text(page, "#depth-refusal", "Noimage")
    assert refusal.startswith("⚠") and "Image" in refusal
    assert visible_in_viewport(page, "#depth-refusal") and visible_in_viewport(page, "#depth-run")
    assert "No image: upload one" in page.locator("#depth-refusal").inner_text()
    # (Gradio's own marker on the image component is not checked: whether it renders races with the page's script.)
    page.screenshot(path=str(shots / "no_image_error.png"))


def test_a_refusal_from_a_closed_section_is_shown_and_opens_it(page, shots):
    upload(page, "depth", EXAMPLES / "street.jpg")
    harness.set_number(page, "steps", "2.5")
    harness.close_settings(page)
    page.locator("#depth-run").click()
    refusal = wait_for_text(page, "#depth-refusal", "Steps")
    assert "Settings" in refusal and "wholenumberfrom1to50" in refusal and "2.5" in refusal
    page.locator("#steps input[type=number]").first.wait_for(state="visible")  # the section opened
    page.wait_for_timeout(1000)
    assert ".png" not in page.locator("#depth-files").inner_text()  # nothing ran
    page.screenshot(path=str(shots / "refusal_closed_section.png"))
    harness.set_number(page, "steps", 1)
    page.locator("#depth-run").click()
    wait_for_text(page, "#depth-files", r"depth16\.png")
    assert page.locator("#depth-refusal").inner_text().strip() == ""  # a passing run clears the refusal


def test_all_tasks_with_point_segmentation_and_no_clicks_says_so(page):
    open_tab(page, "All tasks")
    upload(page, "all", EXAMPLES / "street.jpg")
    page.locator("#all-tasks label", has_text="Point segmentation").click()
    page.locator("#all-run").click()
    refusal = wait_for_text(page, "#all-refusal", "Nopoints")
    assert "Points(clicks)" in refusal


def test_corrupt_upload_is_refused_with_a_clear_message(page, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes((EXAMPLES / "street.jpg").read_bytes()[:100])
    page.locator("#depth-image input[type=file]").set_input_files(str(broken))
    page.wait_for_timeout(500)
    page.locator("#depth-run").click()
    page.get_by_text("corrupt or truncated").first.wait_for()


# ---------------------------------------------------------------------------------------------- results


def test_depth_run_with_colour_bar_downloads_and_point_cloud(page, shots):
    harness.set_number(page, "steps", 1)
    upload(page, "depth", EXAMPLES / "corridor.jpg")
    page.locator("#depth-run").click()
    files = wait_for_text(page, "#depth-files", r"depth16\.png")
    for name in ("depth_depth.npy", "depth_depth_color.png", "depth_pointcloud.ply", "depth_raw.npy"):
        assert name in files
    wait_for_text(page, "#depth-zip", r"\.zip")
    page.wait_for_selector("#depth-pointcloud canvas")
    page.wait_for_selector("#depth-result img")
    bar = page.locator("#depth-colour-bar .depth-colour-bar")
    assert bar.is_visible() and bar.inner_text().split() == ["near", "far"]
    assert "red = near, blue = far" in page.locator("#tab-depth .task-intro").first.inner_text()
    page.screenshot(path=str(shots / "depth_result.png"), full_page=True)


def test_compare_tab(page, shots):
    open_tab(page, "Compare")
    harness.set_number(page, "compare-steps", 1)
    upload(page, "compare", EXAMPLES / "street.jpg")
    click_pixel(page, "compare", 300, 340)
    wait_for_points(page, "compare", 1)
    page.locator("#compare-run").click()
    details = wait_for_text(page, "#compare-details", "specialist_s")
    assert "SAM" in details
    page.wait_for_selector("#compare-theirs img")
    page.screenshot(path=str(shots / "compare_sam.png"), full_page=True)


def test_all_tasks_tab(page, shots):
    harness.set_number(page, "steps", 1)
    open_tab(page, "All tasks")
    upload(page, "all", EXAMPLES / "tabletop.jpg")
    page.locator("#all-run").click()
    files = wait_for_text(page, "#all-files", r"normals\.npy")
    assert "depth_depth16.png" in files
    wait_for_text(page, "#all-zip", r"\.zip")
    assert page.locator("#all-gallery img").count() >= 2
    page.screenshot(path=str(shots / "all_tasks.png"), full_page=True)


# ---------------------------------------------------------------------------------------------- leaderboard


def test_leaderboard_first_screen_shows_rank_model_and_score_side_by_side(page, shots):
    open_tab(page, "Leaderboard")
    wait_for_text(page, "#leaderboard-table", r"DICEPTION")
    assert not page.locator("#model-banner").is_visible()  # the model's banner stays on the model tabs
    first = page.locator("#leaderboard-table .lb-group").first
    head = [c.strip() for c in first.locator("thead th").all_inner_texts()]
    assert head[0] == "#" and head[1].startswith("Model") and head[2].startswith("1-click mIoU (%) ↑")
    row = first.locator("tbody tr").first
    cells = {c: row.locator(f"td.{c}") for c in ("lb-rank", "lb-model", "lb-score")}
    boxes = {c: cell.bounding_box() for c, cell in cells.items()}
    for c, box in boxes.items():  # on the first screen
        assert box["y"] + box["height"] <= 768 and box["x"] + box["width"] <= 1366, (c, box)
    assert boxes["lb-rank"]["x"] < boxes["lb-model"]["x"] < boxes["lb-score"]["x"]  # side by side, in a row
    assert abs(boxes["lb-model"]["y"] - boxes["lb-score"]["y"]) < 2
    assert re.fullmatch(r"\d+(\.\d+)?(noCI|[\d.]+–[\d.]+)", re.sub(r"\s+", "", cells["lb-score"].inner_text()))
    titles = page.locator("#leaderboard-table .lb-group-title").all_inner_texts()
    assert len(titles) == len(set(titles)) >= 2 and all(t.startswith("Protocol") for t in titles)
    page.screenshot(path=str(shots / "leaderboard.png"))


def test_no_chart_text_overflows_its_figure(page, shots):
    open_tab(page, "Leaderboard")
    for task in ("Point segmentation", "Depth", "Surface normals", "Human pose"):
        if task != "Point segmentation":
            page.locator("#leaderboard-tab .lb-controls input").first.click()
            page.get_by_role("option", name=task, exact=True).click()
        page.wait_for_function(  # the heat map's title names the task: the charts are this task's
            "(t) => (document.querySelector('#leaderboard-heatmap .gtitle')?.textContent || '').startsWith(t)",
            arg=task)  # fmt: skip
        page.locator("#leaderboard-heatmap").scroll_into_view_if_needed()
        harness.wait_for_charts(page, 6)
        page.wait_for_timeout(1500)  # plotly lays out after the data arrives
        assert harness.chart_problems(page) == [], task
    page.screenshot(path=str(shots / "leaderboard_charts.png"), full_page=True)


def test_submit_shows_only_the_chosen_kinds_fields(page, shots):
    open_tab(page, "Submit")
    ids = ("submit-hub-repo", "submit-hub-revision", "submit-zip", "submit-folder", "submit-predictions-zip")

    def shown() -> set[str]:
        page.wait_for_timeout(300)
        return {i for i in ids if page.locator(f"#{i}").count() and page.locator(f"#{i}").first.is_visible()}

    page.locator("#submit-what").wait_for()
    assert shown() == {"submit-hub-repo", "submit-hub-revision"}
    page.locator("#submit-source label", has_text="Upload").click()
    page.wait_for_function("() => document.querySelector('#submit-zip')?.offsetParent")
    assert shown() == {"submit-zip", "submit-folder"}
    page.locator("#submit-what label", has_text="Prediction files").click()
    page.wait_for_function("() => document.querySelector('#submit-predictions-zip')?.offsetParent")
    assert shown() == {"submit-predictions-zip"}
    page.screenshot(path=str(shots / "submit_predictions.png"), full_page=True)


# ---------------------------------------------------------------------------------------------- phone, no model


def test_phone_width_image_clicks_and_run_fit_the_screen(browser, tiny_app, shots):
    page = harness.open_page(browser, tiny_app.url, PHONE, is_mobile=True, has_touch=True)
    try:
        open_tab(page, "Point segmentation")
        upload(page, "point_segmentation", EXAMPLES / "street.jpg")
        box = harness.image_box(page, "point_segmentation")
        page.touchscreen.tap(box["x"] + 300.5 * box["scale"], box["y"] + 340.5 * box["scale"])
        (point,) = wait_for_points(page, "point_segmentation", 1)
        assert abs(point[0] - 300) <= 1 / box["scale"] and abs(point[1] - 340) <= 1 / box["scale"]
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scrolling
        for selector in ("#point_segmentation-image", "#point_segmentation-counter", "#point_segmentation-undo",
                         "#point_segmentation-run"):
            element = page.locator(selector).first
            element.scroll_into_view_if_needed()
            assert visible_in_viewport(page, selector), selector
        page.screenshot(path=str(shots / "phone_point_segmentation.png"), full_page=True)
    finally:
        page.context.close()


def test_missing_model_banner_and_working_leaderboard(browser, app_without_model, shots):
    assert app_without_model.started_s < 30, f"the app took {app_without_model.started_s:.1f} s to serve"
    page = harness.open_page(browser, app_without_model.url)
    try:
        banner = wait_for_text(page, "#model-banner", "diception_coreconvert--out")
        assert "notavailable" in banner and "DICEPTION_MODEL=" in banner
        assert page.locator("#model-banner").count() == 1
        upload(page, "depth", EXAMPLES / "street.jpg")
        page.locator("#depth-run").click()
        wait_for_text(page, "#depth-refusal", "notavailable")
        page.screenshot(path=str(shots / "missing_model.png"), full_page=True)
        open_tab(page, "Leaderboard")
        wait_for_text(page, "#leaderboard-table", r"DICEPTION")
    finally:
        page.context.close()


# ---------------------------------------------------------------------------------------------- checking a row


@pytest.fixture(scope="module")
def recorded_runs(tiny_app) -> list[dict]:
    """Two tiny DICEPTION depth runs on the synthetic benchmark (1 and 2 steps: two entries scored on the same
    items), recorded into the running app's store with thumbnails of their worst and best items. The synthetic
    benchmark is never ranked: the entries are reached through the detail's picker."""
    work = tiny_app.log.parent  # the app's folder: its database is work / "leaderboard.db"
    return [harness.record_tiny_run(work, steps=1, name="tiny-1-step"),
            harness.record_tiny_run(work, steps=2, name="tiny-2-steps")]


def _choose(page, elem_id: str, option: str) -> None:
    """Pick the option matching the regular expression ``option`` in the dropdown ``elem_id``."""
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=re.compile(option)).first.click()


def _open_measured_entry(page, steps: str = "1 step") -> None:
    """Leaderboard → Depth → Entry details → the tiny run with ``steps``."""
    open_tab(page, "Leaderboard")
    wait_for_text(page, "#leaderboard-table", r"DICEPTION")
    page.locator("#leaderboard-tab .lb-controls input").first.click()
    page.get_by_role("option", name="Depth", exact=True).click()
    wait_for_text(page, "#leaderboard-table", r"AbsRel")
    page.locator("#lb-detail button.label-wrap").first.click()
    _choose(page, "lb-entry", rf"· {steps} · .*only on Synthetic")
    page.wait_for_function(
        "(s) => (document.querySelector('#lb-command textarea')?.value || '').includes('--steps ' + s + ' ')",
        arg=steps.split()[0])  # fmt: skip


def test_a_rows_name_opens_its_detail_with_where_its_numbers_came_from(page, shots):
    open_tab(page, "Leaderboard")
    wait_for_text(page, "#leaderboard-table", r"DICEPTION")
    name = page.locator("#leaderboard-table .lb-group").first.locator("tbody tr").first.locator("button.lb-open")
    assert "arXiv" in name.get_attribute("title")  # the provenance, before any click
    model = name.locator(".lb-name").inner_text()
    name.click()  # one click
    head = wait_for_text(page, "#lb-detail-head", "Reportedin")
    assert "arXiv" in head and model in head
    assert model in page.locator("#lb-entry input").input_value()
    assert "publishednumbers" in wait_for_text(page, "#lb-command-note", "Nocommand")
    assert not page.locator("#lb-command").is_visible()  # a paper's number: nothing to copy
    page.wait_for_timeout(500)  # the page scrolls to the detail
    assert visible_in_viewport(page, "#lb-detail-head h3")
    page.screenshot(path=str(shots / "detail_reported.png"))


def test_a_measured_rows_command_is_copied_and_its_worst_samples_come_first(browser, tiny_app, recorded_runs, shots):
    run = recorded_runs[0]
    page = harness.open_page(browser, tiny_app.url, permissions=["clipboard-read", "clipboard-write"])
    try:
        _open_measured_entry(page)
        command = page.locator("#lb-command textarea").input_value()
        assert command.startswith("python -m evaluation run --model diception --model-id tiny ")
        for part in ("--benchmarks depth/synthetic", "--steps 1 ", f"--model-revision {run['model']['revision']} ",
                     f"--code-version {run['run']['code_version']}"):
            assert part in command + " ", part
        page.locator("#lb-command button[aria-label='Copy']").click()
        page.wait_for_function("(c) => navigator.clipboard.readText().then((t) => t === c)", arg=command)
        assert page.evaluate("navigator.clipboard.readText()") == command  # exactly the command, one line
        head = wait_for_text(page, "#lb-detail-head", "Measuredbyrun")
        assert run["run"]["code_version"] in head

        worst = page.locator("#lb-samples .lb-gallery-row[data-rank='worst'] .lb-item")
        worst.first.wait_for()
        drawn = sorted((t for t in run["thumbnails"]["items"] if t["rank"] == "worst"), key=lambda t: t["position"])
        values = [float(v) for v in worst.evaluate_all("(items) => items.map((i) => i.dataset.value)")]
        assert values == pytest.approx([t["value"] for t in drawn]) and len(values) >= 2
        assert values == sorted(values, reverse=True)  # AbsRel: lower is better, so the worst is the largest
        page.wait_for_function("() => [...document.querySelectorAll('#lb-samples img')].every("
                               "(i) => i.complete && i.naturalWidth > 0)")  # fmt: skip
        for i in range(worst.count()):
            item = worst.nth(i)
            assert item.locator("img").count() == 3  # input, ground truth, prediction
            assert float(item.locator(".lb-item-score").inner_text()) == pytest.approx(values[i], rel=1e-3)
        assert page.locator("#lb-samples .lb-gallery-row[data-rank='best'] .lb-item").count() >= 1
        page.locator("#lb-distributions .js-plotly-plot").wait_for()
        page.locator("#lb-detail").scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "detail_measured.png"), full_page=True)
    finally:
        page.context.close()


def test_two_measured_entries_compare_per_dataset_with_an_interval(page, recorded_runs, shots):
    _open_measured_entry(page)
    page.locator("#lb-compare button.label-wrap").first.click()
    assert "· 1 step ·" in page.locator("#lb-compare-a input").input_value()  # the open entry is A
    _choose(page, "lb-compare-b", r"· 2 steps · .*only on Synthetic")
    row = page.locator("#lb-compare-out tr[data-benchmark='synthetic']")
    row.wait_for()
    cells = row.locator("td").all_inner_texts()
    assert cells[0].startswith("Synthetic") and "AbsRel" in cells[1]
    assert re.fullmatch(r"\[-?[\d.e+-]+, -?[\d.e+-]+\]", cells[5]), cells  # the 95% interval of A - B
    assert cells[6] == "3 / 3"  # paired: the same items
    assert page.locator("#lb-compare-out .lb-disagree-table tbody tr").count() == 3
    page.locator("#lb-compare").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "compare_entries.png"))
