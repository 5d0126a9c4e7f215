"""The app in a real browser: Playwright driving Debian's chromium against ``python app.py --model tiny``.

Screenshots go to ``tests/artifacts/app/``. Skipped (with the reason) when chromium or playwright is absent.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
RUN_TIMEOUT_MS = 90_000
EXAMPLES = Path(__file__).resolve().parents[2] / "assets" / "examples"

if not CHROMIUM.exists():
    pytest.skip(f"{CHROMIUM} not found: apt-get install -y chromium (see ENVIRONMENT.md)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the Python package) is not installed")

# The content box of an <img> shown with object-fit (scale-down / contain): where the picture really is on screen.
CONTENT_BOX_JS = """(selector) => {
    const img = document.querySelector(selector);
    const box = img.getBoundingClientRect();
    const fit = getComputedStyle(img).objectFit;
    let scale = Math.min(box.width / img.naturalWidth, box.height / img.naturalHeight);
    if (fit === 'scale-down') scale = Math.min(scale, 1);
    const width = img.naturalWidth * scale, height = img.naturalHeight * scale;
    return {x: box.x + (box.width - width) / 2, y: box.y + (box.height - height) / 2, scale,
            naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight};
}"""


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield instance
        instance.close()


@pytest.fixture()
def page(browser, tiny_app, shots, request):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(RUN_TIMEOUT_MS)
    page.goto(tiny_app.url)
    page.wait_for_selector("#tab-depth", state="attached")
    yield page
    page.screenshot(path=str(shots / f"last_{request.node.name}.png"), full_page=True)  # the state at the end
    context.close()


@pytest.fixture(scope="module")
def shots(artifacts_dir: Path) -> Path:
    folder = artifacts_dir / "app"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def large_image(tmp_path_factory) -> Path:
    """3000 x 2000: shown scaled down to a few hundred pixels wide."""
    x = np.linspace(0, 255, 3000, dtype=np.float32)[None, :]
    y = np.linspace(0, 255, 2000, dtype=np.float32)[:, None]
    rgb = np.stack([np.broadcast_to(x, (2000, 3000)), np.broadcast_to(y, (2000, 3000)),
                    np.full((2000, 3000), 90, np.float32)], axis=-1).astype(np.uint8)
    path = tmp_path_factory.mktemp("large") / "large.png"
    Image.fromarray(rgb).save(path)
    return path


def open_tab(page, name: str) -> None:
    tab = page.get_by_role("tab", name=name, exact=True)
    if tab.count() and tab.first.is_visible():
        tab.first.click()
        return
    page.locator(".overflow-menu button").first.click()  # tabs that do not fit sit in the "More tabs" menu
    page.locator(".overflow-dropdown button", has_text=name).first.click()


def upload(page, prefix: str, path: Path) -> None:
    page.locator(f"#{prefix}-image input[type=file]").set_input_files(str(path))
    page.wait_for_function(
        "(sel) => { const i = document.querySelector(sel); return i && i.naturalWidth > 0; }",
        arg=f"#{prefix}-image img",
    )


def wait_for_view(page, prefix: str, width: int) -> None:
    page.wait_for_function(
        "([sel, w]) => { const i = document.querySelector(sel); return i && i.naturalWidth === w && i.complete; }",
        arg=[f"#{prefix}-click-view img", width],
    )


def click_pixel(page, prefix: str, x: int, y: int, *, expect_new_point: bool = True) -> float:
    """Click the point-click view at original pixel (x, y); returns the displayed scale (screen px / pixel).

    With ``expect_new_point`` it waits until the point is recorded and the view redrawn; a click that lands while
    the picture is being replaced (just after an upload) can miss, so it is repeated once or twice then.
    """
    selector = f"#{prefix}-click-view img"
    count = len(points_value(page, prefix))
    for _attempt in range(3):
        before = page.locator(selector).get_attribute("src")
        page.locator(selector).scroll_into_view_if_needed()  # mouse clicks go to viewport coordinates
        box = page.evaluate(CONTENT_BOX_JS, selector)
        page.mouse.click(box["x"] + (x + 0.5) * box["scale"], box["y"] + (y + 0.5) * box["scale"])
        if not expect_new_point:
            return box["scale"]
        try:
            wait_for_points(page, prefix, count + 1, timeout=10_000)
        except sync_api.TimeoutError:
            continue
        page.wait_for_function(
            "([sel, old]) => { const i = document.querySelector(sel); return i && i.src !== old && i.complete; }",
            arg=[selector, before],
        )
        return box["scale"]
    raise AssertionError(f"the click at ({x}, {y}) was not recorded")


def points_value(page, prefix: str) -> list[list[int]]:
    text = page.locator(f"#{prefix}-points textarea, #{prefix}-points input").first.input_value()
    return json.loads(text or "[]")


def wait_for_points(page, prefix: str, count: int, timeout: float = RUN_TIMEOUT_MS) -> list[list[int]]:
    page.wait_for_function(
        """([sel, n]) => { const e = document.querySelector(sel);
               try { return e && JSON.parse(e.value || '[]').length === n; } catch { return false; } }""",
        arg=[f"#{prefix}-points textarea, #{prefix}-points input", count], timeout=timeout,
    )
    return points_value(page, prefix)


def wait_for_text(page, selector: str, pattern: str) -> str:
    page.wait_for_function(
        "([sel, pat]) => { const e = document.querySelector(sel);"
        "  return e && new RegExp(pat).test(e.textContent.replace(/\\s+/g, '')); }",
        arg=[selector, pattern], timeout=RUN_TIMEOUT_MS,
    )  # whitespace removed: a file list shows a name and its extension in separate elements
    return re.sub(r"\s+", "", page.locator(selector).first.text_content() or "")


def set_steps(page, steps: int) -> None:
    page.locator("#settings-panel button.label-wrap").first.click()
    number = page.locator("#steps input[type=number]").first
    number.wait_for(state="visible")
    for _ in range(20):  # the accordion renders its content on opening; retry until the value sticks
        number.fill(str(steps))
        number.press("Tab")
        page.wait_for_timeout(250)
        if number.input_value() == str(steps):
            return
    raise AssertionError(f"could not set steps to {steps}")


def test_point_segmentation_clicks_on_a_large_image_map_to_original_pixels(page, large_image, shots):
    open_tab(page, "Point segmentation")
    upload(page, "point_segmentation", large_image)
    wait_for_view(page, "point_segmentation", 3000)
    intended = [[2210, 640], [730, 1555]]
    scale = 1.0
    for index, (x, y) in enumerate(intended, start=1):
        scale = click_pixel(page, "point_segmentation", x, y)
        recorded = wait_for_points(page, "point_segmentation", index)
    assert scale < 0.5, f"the image should be shown scaled down (scale {scale})"
    tolerance = 1.0 / scale  # one displayed pixel, in original pixels
    for (rx, ry), (ix, iy) in zip(recorded, intended, strict=True):
        assert abs(rx - ix) <= tolerance and abs(ry - iy) <= tolerance, (recorded, intended, tolerance)
    assert "2 / 5" in page.locator("#point_segmentation-counter").inner_text()
    page.screenshot(path=str(shots / "point_clicks.png"), full_page=True)

    set_steps(page, 2)
    page.locator("#point_segmentation-run").click()
    files = wait_for_text(page, "#point_segmentation-files", r"_mask\.png")
    assert "point_segmentation_raw.npy" in files
    wait_for_text(page, "#point_segmentation-zip", r"\.zip")
    settings_text = wait_for_text(page, "#point_segmentation-settings", r"steps")
    assert re.search(r"steps\W+2\D", settings_text), settings_text
    page.screenshot(path=str(shots / "point_segmentation_result.png"), full_page=True)


def test_sixth_click_warns_and_undo_and_upload_reset(page, shots):
    open_tab(page, "Point segmentation")
    upload(page, "point_segmentation", EXAMPLES / "street.jpg")
    wait_for_view(page, "point_segmentation", 768)
    for index in range(1, 6):
        scale = click_pixel(page, "point_segmentation", 100 * index, 300)
        wait_for_points(page, "point_segmentation", index)
    click_pixel(page, "point_segmentation", 50, 50, expect_new_point=False)  # refused: the view stays as it is
    counter = wait_for_text(page, "#point_segmentation-counter", "Notadded")
    assert "5/5" in counter and len(points_value(page, "point_segmentation")) == 5
    page.screenshot(path=str(shots / "sixth_click_warning.png"), full_page=True)
    page.locator("#point_segmentation-undo").click()
    last = wait_for_points(page, "point_segmentation", 4)[-1]
    assert abs(last[0] - 400) <= 1 / scale and abs(last[1] - 300) <= 1 / scale
    upload(page, "point_segmentation", EXAMPLES / "tabletop.jpg")
    wait_for_points(page, "point_segmentation", 0)
    wait_for_text(page, "#point_segmentation-counter", "0/5")


def test_depth_run_with_downloads_and_point_cloud(page, shots):
    open_tab(page, "Depth")
    upload(page, "depth", EXAMPLES / "corridor.jpg")
    page.locator("#depth-run").click()
    files = wait_for_text(page, "#depth-files", r"depth16\.png")
    for name in ("depth_depth.npy", "depth_depth_color.png", "depth_pointcloud.ply", "depth_raw.npy"):
        assert name in files
    wait_for_text(page, "#depth-zip", r"\.zip")
    page.wait_for_selector("#depth-pointcloud canvas")
    page.wait_for_selector("#depth-result img")
    page.screenshot(path=str(shots / "depth_result.png"), full_page=True)


def test_no_image_gives_a_clear_error_on_the_image(page, shots):
    open_tab(page, "Depth")
    page.locator("#depth-run").click()
    page.locator("#depth-image .validation-error", has_text="No image: upload one").first.wait_for()
    page.screenshot(path=str(shots / "no_image_error.png"))


def test_compare_tab(page, shots):
    open_tab(page, "Compare")
    upload(page, "compare", EXAMPLES / "street.jpg")
    wait_for_view(page, "compare", 768)
    click_pixel(page, "compare", 300, 340)
    wait_for_points(page, "compare", 1)
    page.locator("#compare-run").click()
    details = wait_for_text(page, "#compare-details", "specialist_s")
    assert "SAM" in details
    page.wait_for_selector("#compare-theirs img")
    page.screenshot(path=str(shots / "compare_sam.png"), full_page=True)


def test_all_tasks_tab(page, shots):
    open_tab(page, "All tasks")
    upload(page, "all", EXAMPLES / "tabletop.jpg")
    page.locator("#all-run").click()
    files = wait_for_text(page, "#all-files", r"normals\.npy")
    assert "depth_depth16.png" in files
    wait_for_text(page, "#all-zip", r"\.zip")
    assert page.locator("#all-gallery img").count() >= 2
    page.screenshot(path=str(shots / "all_tasks.png"), full_page=True)


def test_leaderboard_tab(page, shots):
    open_tab(page, "Leaderboard")
    page.wait_for_selector("#leaderboard-table")
    wait_for_text(page, "#leaderboard-table", r"DICEPTION")
    page.screenshot(path=str(shots / "leaderboard.png"), full_page=True)


def test_example_fills_image_and_points_and_runs(page, shots):
    open_tab(page, "Point segmentation")
    page.locator("#tab-point_segmentation .gallery-item, #tab-point_segmentation tbody tr").first.click()
    wait_for_text(page, "#point_segmentation-files", r"_mask\.png")
    assert wait_for_points(page, "point_segmentation", 2) == [[300, 340], [300, 420]]
    wait_for_text(page, "#point_segmentation-counter", "2/5")
    page.screenshot(path=str(shots / "example_point_segmentation.png"), full_page=True)


def test_missing_model_banner_and_working_leaderboard(browser, app_without_model, shots):
    url, started_s = app_without_model.url, app_without_model.started_s
    assert started_s < 30, f"the app took {started_s:.1f} s to serve without a model"
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(RUN_TIMEOUT_MS)
    try:
        page.goto(url)
        banner = wait_for_text(page, "#model-banner", "diception_coreconvert--out")
        assert "notavailable" in banner and "DICEPTION_MODEL=" in banner
        assert page.locator("#model-banner").count() == 1
        upload(page, "depth", EXAMPLES / "street.jpg")
        page.locator("#depth-run").click()
        page.locator("#depth-image .validation-error", has_text="not available").first.wait_for()
        page.screenshot(path=str(shots / "missing_model.png"), full_page=True)
        open_tab(page, "Leaderboard")
        wait_for_text(page, "#leaderboard-table", r"DICEPTION")
    finally:
        context.close()


def test_corrupt_upload_is_refused_with_a_clear_message(page, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes((EXAMPLES / "street.jpg").read_bytes()[:100])
    open_tab(page, "Depth")
    page.locator("#depth-image input[type=file]").set_input_files(str(broken))
    page.wait_for_timeout(500)
    page.locator("#depth-run").click()
    page.get_by_text("corrupt or truncated").first.wait_for()
