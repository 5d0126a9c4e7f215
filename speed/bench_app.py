"""Time to interactive for ``python app.py --model tiny`` and tiny-model run latency; prints JSON.

    python speed/bench_app.py [--runs 3]

Measures, from the moment the process is started:
- ``served_s``: the page's HTML is served (HTTP 200 on ``/``);
- ``interactive_s``: Chromium (when ``/usr/bin/chromium`` and playwright are present) has rendered the page and a
  click on the Depth tab's run button shows the "No image" refusal next to it, i.e. the UI answers;
  ``page_interactive_s`` is the same wait counted from opening the page in a browser (the app already up), and
  ``click_to_marker_s`` / ``click_to_point_s`` the time from a click on a 2250 x 1500 photo in the Point
  segmentation tab to its marker on screen / to the point recorded by the server (the counter and the marker
  updated), median and slowest of 10 clicks;
- ``model_ready_s``: the background load of the tiny model has finished (from the app's log);
then the latency of tiny runs through ``gradio_client`` (depth at 1 and 28 steps, point segmentation at 28 steps,
median of ``--runs``), as a user of the HTTP API sees it (upload, run, downloads fetched).

``--throughput`` (or ``--only-throughput``) adds requests per second at 1, 4 and 8 concurrent clients (each its own
``gradio_client``, ``--requests`` 1-step depth requests each, a different seed per request), for the app with
request batching (the defaults), concurrent without batching (``DICEPTION_MAX_BATCH=1``) and one request at a time
(``DICEPTION_CONCURRENCY=1``, the former default), each in a fresh app process, with the batch sizes the app
logged.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "assets" / "examples" / "street.jpg"
PHOTO_SIZE = (2250, 1500)  # the photo: clicks on it must show their marker within 0.3 s


def _harness():
    """The browser test harness (tests/diception_app/harness.py): starting the app, chromium, page helpers."""
    if str(REPO) not in sys.path:  # run as a script
        sys.path.insert(0, str(REPO))
    from tests.diception_app import harness

    return harness


def wait_served(url: str, process: subprocess.Popen, start: float, log: Path, timeout_s: float = 120.0) -> float:
    """Seconds from ``start`` (the process start) until ``url`` is served (the harness's wait)."""
    _harness().wait_until_served(url, process, timeout_s, log)
    return time.perf_counter() - start


def open_browser():
    """Chromium started before the app (a user's browser is already open); None without chromium / playwright."""
    harness = _harness()
    if not harness.CHROMIUM.exists():
        return None, None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None, None
    playwright = sync_playwright().start()
    return playwright, harness.launch_browser(playwright)


def wait_interactive(browser, url: str, start: float) -> float | None:
    """Load the page and click Run on the empty Depth tab until the refusal appears next to it."""
    if browser is None:
        return None
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.set_default_timeout(60_000)
    page.goto(url)
    page.locator("#depth-run").click()
    page.locator("#depth-refusal p").first.wait_for()
    elapsed = time.perf_counter() - start
    page.close()
    return elapsed


def photo(work: Path) -> Path:
    """A photo-sized JPEG (smooth gradients and texture, as a camera's), made here so nothing is downloaded."""
    import numpy as np
    from PIL import Image

    width, height = PHOTO_SIZE
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([x / width * 255, y / height * 255, 128 + 60 * np.sin(x / 90) * np.cos(y / 70)], axis=-1)
    path = work / "photo_2250x1500.jpg"
    Image.fromarray(rgb.clip(0, 255).astype(np.uint8)).save(path, quality=90)
    return path


def browser_timings(browser, url: str, start: float, work: Path, clicks: int = 10) -> dict[str, object]:
    """``interactive_s`` (from process start), then in a fresh page ``page_interactive_s`` and the click latency on
    a 2250 x 1500 photo: to the marker on screen and to the point recorded by the server."""
    from tests.diception_app import harness

    interactive = wait_interactive(browser, url, start)
    if interactive is None:
        return {"interactive_s": None}
    page = browser.new_page(viewport=dict(harness.DESKTOP))
    page.set_default_timeout(60_000)
    opened = time.perf_counter()
    page.goto(url)
    page.locator("#depth-run").click()
    page.locator("#depth-refusal p").first.wait_for()
    page_interactive = time.perf_counter() - opened
    harness.open_tab(page, "Point segmentation")
    harness.upload(page, "point_segmentation", photo(work))
    to_marker, to_point = [], []
    for i in range(clicks):
        if i % 5 == 0:
            page.locator("#point_segmentation-clear").click()
            harness.wait_for_points(page, "point_segmentation", 0)
            page.wait_for_function("() => !document.querySelector('#point_segmentation-image .click-marker')")
        n = i % 5 + 1
        box = harness.image_box(page, "point_segmentation")
        x, y = box["x"] + (0.15 + 0.15 * (n - 1)) * box["naturalWidth"] * box["scale"], box["y"] + 0.5 * (
            box["naturalHeight"] * box["scale"])
        clicked = time.perf_counter()
        page.mouse.click(x, y)
        page.wait_for_function("(n) => document.querySelectorAll('#point_segmentation-image .click-marker').length "
                               ">= n", arg=n, polling="raf")  # fmt: skip
        to_marker.append(time.perf_counter() - clicked)
        page.wait_for_function(
            """(n) => document.querySelectorAll('#point_segmentation-image .click-marker:not(.provisional)').length
                   >= n && document.querySelector('#point_segmentation-counter').textContent.includes(n + ' / ')""",
            arg=n, polling="raf")  # fmt: skip
        to_point.append(time.perf_counter() - clicked)
    page.close()
    return {
        "interactive_s": round(interactive, 2),
        "page_interactive_s": round(page_interactive, 2),
        "click_to_marker_s": {"median": round(statistics.median(to_marker), 3), "max": round(max(to_marker), 3)},
        "click_to_point_s": {"median": round(statistics.median(to_point), 3), "max": round(max(to_point), 3)},
        "click_photo": f"{PHOTO_SIZE[0]}x{PHOTO_SIZE[1]} JPEG, {clicks} clicks",
    }


def model_ready_seconds(log: Path, start_wall: float, timeout_s: float = 120.0) -> float | None:
    """Seconds from process start to the "model ... ready" log line (its timestamp)."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        text = log.read_text(errors="replace")
        match = re.search(r"^(\S+ \S+),(\d+) INFO diception_app.serving: model \S+ ready", text, re.MULTILINE)
        if match:
            stamp = time.mktime(time.strptime(match.group(1), "%Y-%m-%d %H:%M:%S")) + int(match.group(2)) / 1000
            return round(stamp - start_wall, 2)
        time.sleep(0.1)
    return None


def timed_runs(url: str, runs: int) -> dict[str, float]:
    from gradio_client import Client, handle_file

    client = Client(url, verbose=False)
    image = handle_file(str(EXAMPLE))
    cases = {
        "depth_1_step_s": {"api_name": "/depth", "steps": 1, "guidance": 1.0},
        "depth_28_steps_s": {"api_name": "/depth", "steps": 28, "guidance": 2.0},
        "point_segmentation_28_steps_s": {"api_name": "/point_segmentation", "steps": 28, "guidance": 2.0,
                                          "points": "[[300, 340]]"},
    }
    client.predict(image, steps=1, guidance=1.0, api_name="/depth")  # warm-up: waits for the model
    results = {}
    for name, kwargs in cases.items():
        seconds = []
        for _ in range(runs):
            started = time.perf_counter()
            client.predict(image, **kwargs)
            seconds.append(time.perf_counter() - started)
        results[name] = round(statistics.median(seconds), 3)
    return results


def concurrent_throughput(url: str, clients: int, requests_per_client: int) -> dict[str, float]:
    """``clients`` threads, each with its own ``gradio_client``, each sending ``requests_per_client`` 1-step depth
    requests back to back (upload, run, downloads fetched); requests per second over the wall time."""
    import threading

    from gradio_client import Client, handle_file

    connected = [Client(url, verbose=False) for _ in range(clients)]
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start_barrier = threading.Barrier(clients + 1)

    def work(index: int, client: Client) -> None:
        start_barrier.wait()
        for r in range(requests_per_client):
            started = time.perf_counter()
            try:
                client.predict(handle_file(str(EXAMPLE)), steps=1, guidance=1.0, seed=1000 * index + r,
                               api_name="/depth")
            except Exception as err:  # noqa: BLE001 - reported, not fatal to the benchmark
                with lock:
                    errors.append(f"{type(err).__name__}: {err}")
                continue
            with lock:
                latencies.append(time.perf_counter() - started)

    threads = [threading.Thread(target=work, args=(i, c)) for i, c in enumerate(connected)]
    for thread in threads:
        thread.start()
    start_barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    return {"clients": clients, "requests": len(latencies), "errors": len(errors), "wall_s": round(wall, 2),
            "requests_per_s": round(len(latencies) / wall, 3),
            "median_latency_s": round(statistics.median(latencies), 2) if latencies else None}


def batch_sizes_logged(log: Path) -> list[int]:
    return [int(n) for n in re.findall(r"batch: (\d+) requests in one model run", log.read_text(errors="replace"))]


def bench_throughput(env: dict[str, str], work: Path, requests_per_client: int) -> dict[str, object]:
    """Throughput at 1, 4 and 8 concurrent clients with and without request batching (fresh app processes)."""
    out: dict[str, object] = {"task": "depth, 1 step, guidance 1", "image": EXAMPLE.name,
                              "requests_per_client": requests_per_client}
    variants = {"one_at_a_time": {"DICEPTION_CONCURRENCY": "1", "DICEPTION_MAX_BATCH": "1"},
                "concurrent_without_batching": {"DICEPTION_CONCURRENCY": "8", "DICEPTION_MAX_BATCH": "1"},
                "concurrent_with_batching": {"DICEPTION_CONCURRENCY": "8", "DICEPTION_MAX_BATCH": "8"}}
    for name, extra in variants.items():
        port = _harness().free_port()
        url = f"http://127.0.0.1:{port}/"
        log = work / f"app-{name}.log"
        with open(log, "w") as handle:
            process = subprocess.Popen([sys.executable, "app.py", "--model", "tiny", "--port", str(port)], cwd=REPO,
                                       env={**env, **extra}, stdout=handle, stderr=subprocess.STDOUT)
        try:
            wait_served(url, process, time.perf_counter(), log)
            from gradio_client import Client, handle_file

            Client(url, verbose=False).predict(handle_file(str(EXAMPLE)), steps=1, guidance=1.0,
                                               api_name="/depth")  # warm-up: waits for the model
            rows = [concurrent_throughput(url, n, requests_per_client) for n in (1, 4, 8)]
        finally:
            process.terminate()
            process.wait(timeout=20)
        sizes = batch_sizes_logged(log)
        out[name] = {"settings": extra, "runs": rows, "batches_of_several": len(sizes),
                     "largest_batch": max(sizes, default=1),
                     "load_average_after": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--throughput", action="store_true", help="also measure concurrent-client throughput")
    parser.add_argument("--only-throughput", action="store_true", help="measure concurrent-client throughput only")
    parser.add_argument("--requests", type=int, default=3, help="requests per client in the throughput runs")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-app-"))
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HUB_DISABLE_TELEMETRY="1", GRADIO_ANALYTICS_ENABLED="False",
               DICEPTION_LEADERBOARD_DB=str(work / "lb.db"), GRADIO_EXAMPLES_CACHE=str(work / "examples"),
               PYTHONUNBUFFERED="1")
    # Build the tiny preset first (once per cache) so start-up measures loading, not building.
    subprocess.run([sys.executable, "-c", "from diception_core.tiny import tiny_model_folder; tiny_model_folder()"],
                   cwd=REPO, env=env, check=True)
    common = {"cpu_count": os.cpu_count(), "python": platform.python_version()}
    if args.only_throughput:
        result = bench_throughput(env, work, args.requests)
        print(json.dumps({"throughput": result, **common,
                          "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None}, indent=2))
        return
    port = _harness().free_port()
    url = f"http://127.0.0.1:{port}/"
    log = work / "app.log"
    playwright, browser = open_browser()
    with open(log, "w") as handle:
        start_wall, start = time.time(), time.perf_counter()
        process = subprocess.Popen([sys.executable, "app.py", "--model", "tiny", "--port", str(port)], cwd=REPO,
                                   env=env, stdout=handle, stderr=subprocess.STDOUT)
    try:
        served = wait_served(url, process, start, log)
        timings = browser_timings(browser, url, start, work)
        ready = model_ready_seconds(log, start_wall)
        latency = timed_runs(url, args.runs)
    finally:
        process.terminate()
        process.wait(timeout=20)
        if browser is not None:
            browser.close()
            playwright.stop()
    throughput = bench_throughput(env, work, args.requests) if args.throughput else None
    print(json.dumps({
        "served_s": round(served, 2),
        **timings,
        "model_ready_s": ready,
        **latency,
        **({"throughput": throughput} if throughput else {}),
        "runs": args.runs,
        "cpu_count": os.cpu_count(),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "python": platform.python_version(),
    }, indent=2))


if __name__ == "__main__":
    main()
