"""The README's screenshots, made by the browser test harness from a fresh ``python app.py --model tiny``.

    python -m tests.diception_app.screenshots [--out docs/screenshots]

Writes ``point_segmentation.png`` (markers and a result), ``depth.png`` (the coloured depth and its colour bar),
``leaderboard.png`` (the first screen at 1366 x 768), ``heatmap.png`` (depth, models x datasets) and ``detail.png`` (a
measured entry's detail at 1366 x 768: where its numbers come from, the command that recomputes them, its worst and
best samples; from a tiny run recorded into the app's store before it starts), each saved as a 256-colour PNG to stay
small. The tiny model's weights are random: its outputs are noise, the page is the point.
"""

from __future__ import annotations

import argparse
import io
import logging
import re
import tempfile
from pathlib import Path
from typing import Any

from PIL import Image

from tests.diception_app import harness

logger = logging.getLogger("screenshots")
DEFAULT_OUT = harness.REPO_ROOT / "docs" / "screenshots"
MAX_BYTES = 500_000


def save_small(png: bytes, path: Path) -> int:
    """Save a screenshot as a 256-colour PNG (UI pictures lose nothing visible); returns the size in bytes."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise RuntimeError(f"{path.name}: {size:,} bytes, over the {MAX_BYTES:,} the README allows")
    return size


def first_screen(page, path: Path) -> int:  # noqa: ANN001
    """The page's first screen (scrolled to the top, settled) saved small at ``path``; returns its size in bytes."""
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(500)
    return save_small(page.screenshot(), path)


def take(page, out: Path) -> dict[str, int]:  # noqa: ANN001
    sizes: dict[str, int] = {}
    examples = harness.EXAMPLES
    harness.set_number(page, "steps", 4)

    # Point segmentation: two clicks on the street photo, then a run.
    harness.open_tab(page, "Point segmentation")
    harness.upload(page, "point_segmentation", examples / "street.jpg")
    for x, y in ((300, 340), (300, 420)):
        harness.click_pixel(page, "point_segmentation", x, y)
    page.locator("#point_segmentation-run").click()
    harness.wait_for_text(page, "#point_segmentation-files", r"_mask\.png")
    page.wait_for_selector("#point_segmentation-result img")
    sizes["point_segmentation.png"] = first_screen(page, out / "point_segmentation.png")

    # Depth: the coloured result with its colour bar.
    harness.open_tab(page, "Depth")
    harness.upload(page, "depth", examples / "corridor.jpg")
    page.locator("#depth-run").click()
    harness.wait_for_text(page, "#depth-files", r"depth16\.png")
    page.wait_for_selector("#depth-result img")
    sizes["depth.png"] = first_screen(page, out / "depth.png")

    # The leaderboard's first screen, then the depth heat map.
    harness.open_tab(page, "Leaderboard")
    harness.wait_for_text(page, "#leaderboard-table", r"DICEPTION")
    sizes["leaderboard.png"] = first_screen(page, out / "leaderboard.png")
    page.locator("#leaderboard-tab .lb-controls input").first.click()
    page.get_by_role("option", name="Depth", exact=True).click()
    page.wait_for_function(
        "() => (document.querySelector('#leaderboard-heatmap .gtitle')?.textContent || '').startsWith('Depth')")
    heatmap = page.locator("#leaderboard-heatmap")
    heatmap.scroll_into_view_if_needed()
    page.wait_for_timeout(1000)
    sizes["heatmap.png"] = save_small(heatmap.screenshot(), out / "heatmap.png")

    # Checking a row: the tiny run recorded before the app started. The synthetic benchmark is never ranked, so its
    # entry is picked in the detail's list (a ranked row opens the same view with one click on its name).
    page.evaluate("window.scrollTo(0, 0)")
    page.locator("#leaderboard-tab .lb-controls input").first.click()
    page.get_by_role("option", name="Point segmentation", exact=True).click()
    harness.wait_for_text(page, "#leaderboard-table", r"1-clickmIoU")
    page.locator("#lb-detail button.label-wrap").first.click()
    page.locator("#lb-entry input").click()
    page.get_by_role("option", name=re.compile(r"only on Synthetic")).first.click()
    page.wait_for_function("() => (document.querySelector('#lb-command textarea')?.value || '').startsWith('python')")
    page.wait_for_function("() => { const i = [...document.querySelectorAll('#lb-samples img')];"
                           "  return i.length > 0 && i.every((x) => x.complete && x.naturalWidth > 0); }")
    page.evaluate("document.getElementById('lb-detail').scrollIntoView({block: 'start'})")
    page.wait_for_timeout(1000)
    sizes["detail.png"] = save_small(page.screenshot(), out / "detail.png")
    return sizes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"folder for the PNGs (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if not harness.CHROMIUM.exists():
        raise SystemExit(f"{harness.CHROMIUM} not found: apt-get install -y chromium (see ENVIRONMENT.md)")
    from playwright.sync_api import sync_playwright

    from diception_core.tiny import tiny_model_folder

    tiny_model_folder()  # built once, before the app starts, so the app only loads it
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="screenshots-") as work:
        harness.record_tiny_run(Path(work), "point_segmentation/synthetic")  # a measured entry with a gallery
        sizes = _shoot(Path(work), args.out, sync_playwright)
    for name, size in sizes.items():
        logger.info("%s: %s bytes", args.out / name, f"{size:,}")


def _shoot(work: Path, out: Path, sync_playwright: Any) -> dict[str, int]:
    with harness.running_app(work) as app, sync_playwright() as playwright:
        browser = harness.launch_browser(playwright)
        try:
            return take(harness.open_page(browser, app.url), out)
        finally:
            browser.close()


if __name__ == "__main__":
    main()
