"""The browser test harness: start ``python app.py`` on a free port, drive Debian's chromium through Playwright.

Shared by the browser tests (``test_browser.py``), the README screenshots
(``python -m tests.diception_app.screenshots``) and the app benchmark (``speed/bench_app.py``). Chromium is launched
with the flags ENVIRONMENT.md lists; never ``playwright install``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = REPO_ROOT / "assets" / "examples"
CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
START_TIMEOUT_S = 90.0
RUN_TIMEOUT_MS = 90_000
DESKTOP = {"width": 1366, "height": 768}  # the laptop screen
PHONE = {"width": 390, "height": 844}

# The content box of an <img> shown with object-fit (scale-down / contain): where the picture really is on screen.
CONTENT_BOX_JS = """(selector) => {
    const img = document.querySelector(selector);
    const box = img.getBoundingClientRect();
    const fit = getComputedStyle(img).objectFit;
    let scale = Math.min(box.width / img.naturalWidth, box.height / img.naturalHeight);
    if (fit === 'scale-down' || fit === 'none') scale = Math.min(scale, 1);
    const width = img.naturalWidth * scale, height = img.naturalHeight * scale;
    return {x: box.x + (box.width - width) / 2, y: box.y + (box.height - height) / 2, scale,
            naturalWidth: img.naturalWidth, naturalHeight: img.naturalHeight};
}"""

# Every <text> of every plotly figure under ``root`` whose box leaves its figure's <svg>, and every title that
# runs into its plot area: what a reader sees cut off or overlapping.
CHART_OVERFLOW_JS = """(root) => {
    const problems = [];
    for (const plot of document.querySelectorAll(root + ' .js-plotly-plot')) {
        const svg = plot.querySelector('.main-svg');
        if (!svg) continue;
        const box = svg.getBoundingClientRect();
        if (!box.width) continue;
        for (const t of plot.querySelectorAll('text')) {
            const r = t.getBoundingClientRect();
            if (!r.width || !t.textContent.trim()) continue;
            if (r.left < box.left - 1 || r.right > box.right + 1 || r.top < box.top - 1 || r.bottom > box.bottom + 1)
                problems.push('outside its figure: ' + t.textContent.slice(0, 80));
        }
        const title = plot.querySelector('.gtitle');
        const area = plot.querySelector('.cartesianlayer .bg, .nsewdrag');
        if (title && area && title.getBoundingClientRect().bottom > area.getBoundingClientRect().top + 1)
            problems.push('title over the plot: ' + title.textContent.slice(0, 80));
    }
    return problems;
}"""


@dataclass(frozen=True)
class RunningApp:
    url: str
    log: Path
    started_s: float  # seconds from process start until the page was served


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_served(url: str, process: subprocess.Popen, timeout_s: float, log: Path) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout_s:
        if process.poll() is not None:
            raise RuntimeError(f"the app exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return time.perf_counter() - started
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the app did not serve {url} within {timeout_s} s:\n{log.read_text()[-3000:]}")


def app_environment(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "GRADIO_ANALYTICS_ENABLED": "False",
        "DICEPTION_LEADERBOARD_DB": str(work / "leaderboard.db"), "DICEPTION_SUBMISSIONS_DIR": str(work / "subs"),
        "DICEPTION_ADAPTERS_DIR": str(work / "adapters"), "GRADIO_EXAMPLES_CACHE": str(work / "examples-cache"),
        "PYTHONUNBUFFERED": "1",
    })  # fmt: skip
    env.pop("SPACES_ZERO_GPU", None)
    env.pop("SPACE_ID", None)
    return env


@contextlib.contextmanager
def running_app(work: Path, args: tuple[str, ...] = ("--model", "tiny"), env: Mapping[str, str] | None = None,
                timeout_s: float = START_TIMEOUT_S) -> Iterator[RunningApp]:  # fmt: skip
    """``python app.py <args> --port <free>`` in ``work`` (its database, uploads and caches); stopped on exit."""
    work.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log = work / "app.log"
    with open(log, "w") as handle:
        process = subprocess.Popen([sys.executable, "app.py", *args, "--port", str(port)], cwd=REPO_ROOT,
                                   env={**app_environment(work), **(env or {})}, stdout=handle,
                                   stderr=subprocess.STDOUT)  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}/"
        yield RunningApp(url, log, wait_until_served(url, process, timeout_s, log))
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


TINY_RUN_ARGS = ("--model", "diception", "--model-id", "tiny", "--synthetic-samples", "3", "--synthetic-size", "64",
                 "--guidance", "1", "--thumbnails", "4", "--no-progress")  # fmt: skip


def record_tiny_run(work: Path, benchmark: str = "depth/synthetic", *, steps: int = 1, name: str = "tiny-run",
                    timeout_s: float = 600.0) -> dict[str, Any]:  # fmt: skip
    """Score the tiny DICEPTION on the synthetic benchmark and record it, per-sample values and thumbnails of its
    worst and best items included, into the database of the app under ``work`` (``python -m evaluation run ...
    --record`` with the app's environment, as an admin would): a measured entry whose detail has a command and a
    gallery. Before the app starts or while it runs (the board reloads when the store changes). Returns the result
    JSON. The synthetic benchmark is never ranked, so the entry is not in the tables: the detail picker lists it."""
    out = work / f"{name}.json"
    command = [sys.executable, "-m", "evaluation", "run", *TINY_RUN_ARGS, "--benchmarks", benchmark, "--steps",
               str(steps), "--out", str(out), "--cache-dir", str(work / "evaluation-cache"), "--record"]  # fmt: skip
    work.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(command, cwd=REPO_ROOT, env=app_environment(work), capture_output=True, text=True,
                          timeout=timeout_s, check=False)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"recording the tiny run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(out.read_text(encoding="utf-8"))


def launch_browser(playwright: Any) -> Any:
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)


def open_page(browser: Any, url: str, viewport: Mapping[str, int] = DESKTOP, **context: Any) -> Any:
    """A fresh page on the app, loaded (the task tabs exist) and with the default timeout for model runs."""
    page = browser.new_context(viewport=dict(viewport), **context).new_page()
    page.set_default_timeout(RUN_TIMEOUT_MS)
    page.goto(url)
    page.wait_for_selector("#tab-depth", state="attached")
    return page


def open_tab(page: Any, *names: str) -> None:
    """Click the tabs ``names`` in order (e.g. "Try", "Point segmentation"); every tab is visible (no menu)."""
    for name in names:
        page.get_by_role("tab", name=name, exact=True).first.click()


def upload(page: Any, prefix: str, path: Path) -> None:
    page.locator(f"#{prefix}-image input[type=file]").set_input_files(str(path))
    page.wait_for_function(
        "(sel) => { const i = document.querySelector(sel); return i && i.naturalWidth > 0 && i.complete; }",
        arg=f"#{prefix}-image .image-frame img",
    )


def image_box(page: Any, prefix: str) -> dict[str, float]:
    """Where the uploaded picture is on screen: {x, y, scale, naturalWidth, naturalHeight}."""
    selector = f"#{prefix}-image .image-frame img"
    page.locator(selector).scroll_into_view_if_needed()  # mouse clicks go to viewport coordinates
    return page.evaluate(CONTENT_BOX_JS, selector)


def points_value(page: Any, prefix: str) -> list[list[int]]:
    text = page.locator(f"#{prefix}-points textarea, #{prefix}-points input").first.input_value()
    return json.loads(text or "[]")


def wait_for_points(page: Any, prefix: str, count: int, timeout: float = RUN_TIMEOUT_MS) -> list[list[int]]:
    page.wait_for_function(
        """([sel, n]) => { const e = document.querySelector(sel);
               try { return e && JSON.parse(e.value || '[]').length === n; } catch { return false; } }""",
        arg=[f"#{prefix}-points textarea, #{prefix}-points input", count], timeout=timeout,
    )
    return points_value(page, prefix)


def markers(page: Any, prefix: str, *, provisional: bool | None = None) -> list[dict[str, float]]:
    """The click markers drawn over the image: their centres on screen and the pixel each stands for."""
    selector = f"#{prefix}-image .click-marker"
    if provisional is not None:
        selector += ".provisional" if provisional else ":not(.provisional)"
    return page.evaluate("""(sel) => [...document.querySelectorAll(sel)].map(m => {
        const r = m.getBoundingClientRect();
        return {x: r.x + r.width / 2, y: r.y + r.height / 2, px: +m.dataset.x, py: +m.dataset.y}; })""", selector)


def click_pixel(page: Any, prefix: str, x: int, y: int, *, expect_new_point: bool = True
                ) -> tuple[float, float, float]:  # fmt: skip
    """Click the image at original pixel (x, y); returns (screen x, screen y, displayed scale). With
    ``expect_new_point`` it waits until the point is recorded (a click that lands while the picture is being
    replaced, just after an upload, can miss: it is repeated once or twice then)."""
    count = len(points_value(page, prefix))
    for _attempt in range(3):
        box = image_box(page, prefix)
        sx, sy = box["x"] + (x + 0.5) * box["scale"], box["y"] + (y + 0.5) * box["scale"]
        page.mouse.click(sx, sy)
        if not expect_new_point:
            return sx, sy, box["scale"]
        try:
            wait_for_points(page, prefix, count + 1, timeout=10_000)
        except Exception:  # noqa: BLE001 - playwright's TimeoutError; retried
            continue
        return sx, sy, box["scale"]
    raise AssertionError(f"the click at ({x}, {y}) was not recorded")


def wait_for_text(page: Any, selector: str, pattern: str, timeout: float = RUN_TIMEOUT_MS) -> str:
    """Wait until the element's text (whitespace removed) matches ``pattern``; returns that text."""
    page.wait_for_function(
        "([sel, pat]) => { const e = document.querySelector(sel);"
        "  return e && new RegExp(pat).test(e.textContent.replace(/\\s+/g, '')); }",
        arg=[selector, pattern], timeout=timeout,
    )  # whitespace removed: a file list shows a name and its extension in separate elements
    return re.sub(r"\s+", "", page.locator(selector).first.text_content() or "")


def set_number(page: Any, elem_id: str, value: float | str) -> None:
    """Type ``value`` into a slider's or number's box (opening the Settings section if it is closed)."""
    number = page.locator(f"#{elem_id} input[type=number]").first
    try:
        number.wait_for(state="visible", timeout=3000)  # the page may still be rendering
    except Exception:  # noqa: BLE001 - playwright's TimeoutError: the section is closed
        page.locator("#settings-panel button.label-wrap").first.click()
        number.wait_for(state="visible")
    for _ in range(20):  # a section renders its content on opening; retry until the value sticks
        number.fill(str(value))
        number.press("Tab")
        page.wait_for_timeout(200)
        if number.input_value() == str(value):
            return
    raise AssertionError(f"could not set {elem_id} to {value}")


def close_settings(page: Any) -> None:
    if page.locator("#steps input[type=number]").first.is_visible():
        page.locator("#settings-panel button.label-wrap").first.click()
    page.locator("#steps").first.wait_for(state="hidden")


def chart_problems(page: Any, root: str = "#leaderboard-tab") -> list[str]:
    return page.evaluate(CHART_OVERFLOW_JS, root)


def wait_for_charts(page: Any, count: int, root: str = "#leaderboard-tab") -> None:
    page.wait_for_function("([root, n]) => document.querySelectorAll(root + ' .js-plotly-plot .main-svg').length >= n",
                           arg=[root, count])  # fmt: skip
