"""DICEPTION in the browser: Try (a tab per task, click-to-segment, settings, raw downloads), Compare, Leaderboard.

``python app.py`` serves the model named by ``DICEPTION_MODEL`` (default ``./diception-model``, written by
``python -m diception_core convert --out ./diception-model``); ``python app.py --model tiny`` serves tiny random
weights to try the interface. The page is up within seconds whatever happens to the model: it loads in the
background (at start-up on a ZeroGPU Space), and the task tabs say what is missing when it cannot load.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from diception_app import tabs
from diception_app.callbacks import AdapterCatalog
from diception_app.serving import ModelServer, configure
from diception_app.settings import AppSettings, load_settings
from diception_spec.tasks import Task

if TYPE_CHECKING:
    from leaderboard.schema import LeaderboardStore

logger = logging.getLogger("diception_app")

ASSETS = Path(__file__).resolve().parent / "assets"
CSS_PATHS = [ASSETS / "app.css", ASSETS / "leaderboard.css"]
# The top-level destinations, all visible at 1366 px without an overflow menu; the banner shows on the first two.
MODEL_TABS = ("Try", "Compare")
TASK_TAB_ORDER = (Task.DEPTH, Task.NORMAL, Task.POINT_SEGMENTATION, Task.ENTITY_SEGMENTATION, Task.POSE,
                  Task.SEMANTIC_SEGMENTATION)  # fmt: skip
# Uploads and results are not kept: Gradio's cache is swept every hour of files older than an hour.
DELETE_CACHE = (3600, 3600)


def open_leaderboard_store() -> LeaderboardStore | None:
    """The app's one leaderboard store (created, migrated and seeded), or None when it cannot be opened: the task
    tabs must work even then, and the leaderboard tabs say that it is unavailable."""
    try:
        from leaderboard.store import Store

        return Store()
    except Exception:  # the demo must start whatever is wrong with the database
        logger.exception("the leaderboard store could not be opened; the Leaderboard and Submit tabs are disabled")
        return None


def build_demo(
    settings: AppSettings | None = None,
    *,
    server: ModelServer | None = None,
    store: LeaderboardStore | None = None,
) -> gr.Blocks:
    """The whole app as a ``gr.Blocks`` (nothing is loaded here: the model loads on ``server.start()``). ``store`` is
    the one leaderboard store every tab shares (``open_leaderboard_store()``); without one the leaderboard tabs only
    say so."""
    settings = settings or load_settings()
    server = server or configure(settings)
    adapters = AdapterCatalog(settings.adapters_dir, store)
    ctx = tabs.AppContext(server=server, settings=settings, adapters=adapters)
    with gr.Blocks(title="DICEPTION", delete_cache=DELETE_CACHE) as demo:
        tabs.build_header()
        banner = tabs.build_banner(server, demo)
        with gr.Tabs(overflow_behavior="wrap", elem_id="main-tabs") as main_tabs:
            with gr.Tab(MODEL_TABS[0], id="try", elem_id="tab-try"):
                # The settings sit beside the task tabs (under them on a phone); built first, placed second.
                panel = tabs.build_settings_panel(ctx, demo, render=False)
                with gr.Row(equal_height=False):
                    with gr.Column(scale=4, min_width=620), gr.Tabs(overflow_behavior="wrap", elem_id="task-tabs"):
                        for task in TASK_TAB_ORDER:
                            tabs.build_task_tab(ctx, task)
                        tabs.build_all_tasks_tab(ctx)
                        tabs.build_adapter_tab(ctx)
                    with gr.Column(scale=1, min_width=230, elem_id="settings-column"):
                        panel.section.render()
            tabs.build_compare_tab(ctx)
            tabs.build_leaderboard_tabs(demo, store)
            tabs.build_about_tab()
        tabs.show_banner_only_on(main_tabs, banner, MODEL_TABS)
    demo.queue(max_size=settings.max_queue, default_concurrency_limit=8)
    demo.diception_context = ctx  # for tests and benchmarks
    return demo


def _examples_cache_dir(model: str) -> str:
    """Cached example outputs depend on the model: one cache folder per model spec."""
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "_", model).strip("_.") or "model"
    return str(Path(".gradio") / "cached_examples" / slug)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="tiny | a converted model folder | a Hub id of one "
                        "(default: $DICEPTION_MODEL or ./diception-model)")
    parser.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1; 0.0.0.0 for all)")
    parser.add_argument("--port", type=int, default=None, help="port (default $GRADIO_SERVER_PORT or 7860)")
    parser.add_argument("--share", action="store_true", help="also serve through a public gradio.live link")
    return parser.parse_args(argv)


def start_leaderboard_backup(factory: Callable[[], Any] | None = None) -> Any | None:
    """On a Space with ``DICEPTION_BACKUP_REPO`` set: restore the leaderboard's SQLite file from its last Hub
    snapshot (before the store is first opened), then back it up on a schedule. Failures are logged, never fatal:
    the app must come up even when the Hub cannot be reached."""
    if factory is None:
        from leaderboard.backup import HubBackup

        factory = HubBackup.from_settings
    try:
        backup = factory()
        if backup is None:
            return None
        if backup.restore_from_hub():
            logger.info("leaderboard restored from the Hub backup %s", backup.repo_id)
        backup.start()
        return backup
    except Exception:  # the demo must start even if the backup repo is unreachable
        logger.exception("leaderboard backup could not be started; continuing without it")
        return None


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per internal HTTP request otherwise
    settings = load_settings()
    if args.model:
        settings = settings.replace(model=args.model)
    os.environ.setdefault("GRADIO_EXAMPLES_CACHE", _examples_cache_dir(settings.model))
    server = configure(settings)
    start_leaderboard_backup()
    if settings.zero_gpu:
        # ZeroGPU expects the models on CUDA (its emulation) in the main process before serving.
        server.start(background=False)
        server.preload_predictors()
    demo = build_demo(settings, server=server, store=open_leaderboard_store())
    demo.launch(server_name=args.host, server_port=args.port, share=args.share, css_paths=CSS_PATHS,
                js=tabs.page_js(), footer_links=["api", "settings"], prevent_thread_lock=True)
    # Elsewhere the page comes up first and the model follows (the first run waits for it).
    server.start(background=True)
    demo.block_thread()


if __name__ == "__main__":
    main()
