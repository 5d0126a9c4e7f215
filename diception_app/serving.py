"""Model serving: the one cached pipeline, loaded in the background (or at start-up on ZeroGPU), the Compare tab's
specialists, adapters, request batching, and the GPU-bound functions wrapped with ``spaces.GPU``.

Module globals hold only the configured ``ModelServer`` (configuration + the cached models); everything a user
chooses travels as function arguments. Outside a ZeroGPU Space ``spaces.GPU`` returns the function unchanged.

Batching: requests in progress at once (up to ``AppSettings.max_batch_size``) with the same tasks, category,
steps, guidance and adapter run as one batched model run (``RequestBatcher``): one pipeline call per task over all
their images, each with its own seed's noise, so every user gets what an unbatched run would give (up to float
rounding of batched matrix products). Model runs stay one at a time; on ZeroGPU one GPU call serves the batch.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import numpy as np
import spaces

from diception_spec.tasks import Task

from .settings import CONVERT_COMMAND, DEFAULT_MODEL, AppSettings

logger = logging.getLogger(__name__)

UNTRAINED_BANNER = (
    "⚠️ **Untrained weights: outputs are noise.** This is the tiny random DICEPTION (and tiny random SAM / Depth "
    "Anything) for trying the interface. For real predictions run `python app.py` with a converted model "
    f"(`{CONVERT_COMMAND}`)."
)


class ModelUnavailable(RuntimeError):
    """The model (or a Compare specialist) cannot be used; the message says what is missing and the fix."""


@dataclass(frozen=True)
class ModelStatus:
    state: str  # "idle" | "loading" | "ready" | "failed"
    banner: str  # Markdown for the task tabs' banner ("" when nothing needs saying)
    reason: str = ""  # what went wrong, in one or two sentences (the banner adds the fix)


@dataclass(frozen=True)
class AdapterOwnTask:
    """The task of the run's adapter (a new task's prompt and decoder), known to the pipeline once the adapter is
    active (``pipe.adapter_task()``); ``name`` is its display name."""

    name: str


@dataclass(frozen=True)
class Job:
    """One model run: a task (or the run's adapter's own task) on one image, with its checked points / category."""

    task: Task | AdapterOwnTask
    image: np.ndarray  # [H, W, 3] uint8, already decoded and validated (the pipeline uses it as is)
    points: list[list[int]] | None = None  # [[x, y], ...] original-image pixels, parsed from the request once
    category: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.task, Task | AdapterOwnTask):
            raise TypeError(f"task: expected a Task or an AdapterOwnTask, got {self.task!r}")

    @property
    def name(self) -> str:
        """The task's id (or the adapter task's name), for file names and notes."""
        return self.task.value if isinstance(self.task, Task) else self.task.name


def looks_like_path(spec: str) -> bool:
    return spec.startswith((".", "/", "~")) or "\\" in spec or spec.count("/") > 1


def missing_model_message(spec: str, reason: str) -> str:
    """The banner for a model that cannot be loaded: what is missing and the exact commands that fix it."""
    if spec == DEFAULT_MODEL or (looks_like_path(spec) and not Path(spec).expanduser().exists()):
        fix = (
            f"1. Accept Stable Diffusion 3 medium's licence on the Hub and log in: `hf auth login`\n"
            f"2. Convert the release once: `{CONVERT_COMMAND}`\n"
            f"3. Start the app on it: `DICEPTION_MODEL=./diception-model python app.py`"
        )
        if spec != DEFAULT_MODEL:
            fix = fix.replace("./diception-model", spec)
    else:
        fix = (
            "Fix what the message above says, then restart the app (`python app.py`). To convert the release "
            f"yourself: `{CONVERT_COMMAND}` and `DICEPTION_MODEL=./diception-model python app.py`."
        )
    return (
        f"⚠️ **The DICEPTION model is not available**, so the task tabs cannot run. {reason}\n\n{fix}\n\n"
        "To try the interface with random weights: `python app.py --model tiny`. The leaderboard works without "
        "a model."
    )


def default_loader(settings: AppSettings) -> Any:
    from diception_core.pipeline import load_pipeline

    device = "cuda" if settings.zero_gpu else settings.device
    return load_pipeline(settings.model, device=device, dtype=settings.dtype)


class ModelServer:
    """Holds the cached pipeline and specialists; thread-safe lazy loading; one model run at a time per process."""

    def __init__(self, settings: AppSettings, loader: Callable[[AppSettings], Any] | None = None) -> None:
        self.settings = settings
        self._loader = loader or default_loader
        self._pipe: Any = None
        self._state = "idle"
        self._error = ""
        self._reason = ""
        self._loaded = threading.Event()
        self._state_lock = threading.Lock()
        self.run_lock = threading.Lock()  # the pipeline's adapter state and modules are shared
        self.batcher: RequestBatcher[tuple[list[Job], int], list[Any]] = RequestBatcher(
            max(1, int(settings.max_batch_size)))
        self._predictors: dict[str, Any] = {}
        # resolved adapter folder -> name on the pipeline, least recently used first (at most
        # settings.max_loaded_adapters stay loaded; guarded by run_lock like the pipeline itself)
        self._adapter_names: OrderedDict[str, str] = OrderedDict()
        self.load_seconds: float | None = None

    # ------------------------------------------------------------------ loading
    def start(self, *, background: bool = True) -> None:
        """Start loading once; ``background=False`` loads now (ZeroGPU wants the model on CUDA before serving)."""
        with self._state_lock:
            if self._state != "idle":
                return
            self._state = "loading"
        if background:
            threading.Thread(target=self._load, name="diception-model-loader", daemon=True).start()
        else:
            self._load()

    def _load(self) -> None:
        from diception_core.loading import ModelLoadError

        started = time.perf_counter()
        spec = self.settings.model
        try:
            if looks_like_path(spec) and not Path(spec).expanduser().exists():
                raise ModelLoadError(f"No model folder at `{spec}` (`DICEPTION_MODEL`).")
            pipe = self._loader(self.settings)
        except ModelLoadError as err:
            self._fail(str(err))
        except (FileNotFoundError, ValueError, OSError, RuntimeError, ImportError) as err:
            self._fail(f"Loading `{spec}` failed: {type(err).__name__}: {err}")
        else:
            self._pipe = pipe
            self.load_seconds = time.perf_counter() - started
            with self._state_lock:
                self._state = "ready"
            logger.info("model %s ready in %.1f s", spec, self.load_seconds)
        finally:
            self._loaded.set()

    def _fail(self, reason: str) -> None:
        message = missing_model_message(self.settings.model, reason)
        logger.error("model unavailable: %s", message)
        with self._state_lock:
            self._state, self._error, self._reason = "failed", message, reason

    def status(self) -> ModelStatus:
        with self._state_lock:
            state, error, reason = self._state, self._error, self._reason
        if state == "failed":
            return ModelStatus(state, error, reason)
        if state in ("idle", "loading"):
            return ModelStatus(state, f"⏳ Loading the model `{self.settings.model}`... The first run waits for it.")
        untrained = bool(getattr(self._pipe.config, "untrained", False))
        return ModelStatus(state, UNTRAINED_BANNER if untrained else "")

    def pipeline(self, timeout_s: float = 900.0) -> Any:
        """The loaded pipeline (starting the load if nobody has); raises ``ModelUnavailable`` when it failed."""
        self.start()
        if not self._loaded.wait(timeout_s):
            raise ModelUnavailable(f"the model `{self.settings.model}` is still loading; try again in a minute")
        if self._pipe is None:
            raise ModelUnavailable(self._error)
        return self._pipe

    @property
    def config(self) -> Any:
        return None if self._pipe is None else self._pipe.config

    # ------------------------------------------------------------------ Compare specialists
    def predictor(self, kind: str) -> Any:
        """The Compare tab's SAM (``"sam"``) or Depth Anything (``"depth_anything"``), created on first use."""
        if kind in self._predictors:
            return self._predictors[kind]
        try:
            from evaluation import predictors
        except ImportError as err:
            raise ModelUnavailable(f"the Compare tab needs the evaluation package's predictors ({err})") from None
        classes = {"sam": ("SamPredictor", self.settings.sam_model),
                   "depth_anything": ("DepthAnythingPredictor", self.settings.depth_anything_model)}
        if kind not in classes:
            raise ValueError(f"kind: {kind!r} is not one of {', '.join(classes)}")
        class_name, model_id = classes[kind]
        cls = getattr(predictors, class_name, None)
        if cls is None:
            raise ModelUnavailable(f"evaluation.predictors has no {class_name} yet")
        device = "cuda" if self.settings.zero_gpu else self.settings.device
        try:
            made = cls.tiny(device=device) if self.settings.tiny else cls.from_pretrained(model_id, device=device)
        except (OSError, ValueError, RuntimeError, ImportError) as err:
            raise ModelUnavailable(
                f"{class_name} `{model_id}` could not be loaded ({type(err).__name__}: {str(err)[:300]}). Connect to "
                f"the internet once so it is cached, or set DICEPTION_{kind.upper()}_MODEL to a local folder."
            ) from None
        self._predictors[kind] = made
        return made

    def preload_predictors(self) -> None:
        """Create the Compare specialists now (ZeroGPU: in the main process, so each GPU call finds them)."""
        for kind in ("sam", "depth_anything"):
            try:
                self.predictor(kind)
            except ModelUnavailable as err:
                logger.warning("Compare tab: %s", err)

    # ------------------------------------------------------------------ adapters
    def activate_adapter(self, pipe: Any, folder: Path | None, scale: float) -> str | None:
        """Make ``folder``'s adapter the active one at ``scale`` (loading it on first use), or none; returns its name.

        Call under ``run_lock``. At most ``settings.max_loaded_adapters`` adapters stay on the shared pipeline: the
        least recently used one is unloaded before another is loaded, so memory does not grow with every adapter
        any user picks.
        """
        if folder is None:
            pipe.set_adapter(None)
            return None
        key = str(Path(folder).resolve())
        name = self._adapter_names.get(key)
        if name is not None and name in pipe.adapters:
            self._adapter_names.move_to_end(key)
        else:
            self._adapter_names.pop(key, None)
            name = adapter_name(key)
            if name not in pipe.adapters:
                self._evict(pipe, keep=max(1, int(self.settings.max_loaded_adapters)) - 1)
                name = pipe.load_adapter(folder, name=name, scale=scale)
            self._adapter_names[key] = name
        pipe.set_adapter(name, scale)
        return name

    def _evict(self, pipe: Any, keep: int) -> None:
        """Unload the least recently used adapters until at most ``keep`` of ours remain loaded."""
        while len(self._adapter_names) > keep:
            _key, old = self._adapter_names.popitem(last=False)
            if old in pipe.adapters:
                pipe.unload_adapter(old)
                logger.info("adapter %s unloaded (least recently used)", old)


def adapter_name(resolved_folder: str) -> str:
    """The adapter's name on the pipeline: the folder name (as ``diception_core.lora`` sanitizes names) plus a short
    hash of the resolved path, so folders whose names sanitize alike (``lung-seg``, ``lung seg``) never collide."""
    base = re.sub(r"[^A-Za-z0-9_]+", "_", Path(resolved_folder).name).strip("_")[:40] or "adapter"
    return f"{base}_{hashlib.sha256(resolved_folder.encode('utf-8')).hexdigest()[:10]}"


_SERVER: ModelServer | None = None


def configure(settings: AppSettings, loader: Callable[[AppSettings], Any] | None = None) -> ModelServer:
    """Create the process's model server (the cached pipeline lives in it)."""
    global _SERVER
    _SERVER = ModelServer(settings, loader)
    return _SERVER


def get_server() -> ModelServer:
    if _SERVER is None:
        raise RuntimeError("the model server is not configured; call diception_app.serving.configure(settings)")
    return _SERVER


# ---------------------------------------------------------------------------------------------- GPU functions


def gpu_seconds(jobs: Sequence[Job], steps: int, *_: Any, **__: Any) -> int:
    """ZeroGPU duration: a fixed start-up cost plus seconds per denoising step x steps x predictions."""
    settings = get_server().settings
    guess = settings.gpu_base_seconds + settings.gpu_seconds_per_step * max(1, int(steps)) * max(1, len(jobs))
    return int(min(settings.gpu_max_seconds, guess))


def batch_gpu_seconds(requests: Sequence[tuple[Sequence[Job], int]], steps: int, *_: Any, **__: Any) -> int:
    """ZeroGPU duration of a batch: as ``gpu_seconds`` for all its predictions (batching makes them cheaper)."""
    return gpu_seconds([job for jobs, _seed in requests for job in jobs], steps)


def _progress_callback(offset: int, total: int) -> Callable[[int, int], None]:
    import gradio as gr

    progress = gr.Progress()

    def report(done: int, _total: int) -> None:
        progress((offset + done, total), desc="Denoising", unit="steps")

    return report


T = TypeVar("T")
R = TypeVar("R")


class _Ticket(Generic[T, R]):
    def __init__(self, key: Hashable, item: T, execute: Callable[[list[T]], list[R]]) -> None:
        self.key, self.item, self.execute = key, item, execute
        self.done = False
        self.result: R | None = None
        self.error: BaseException | None = None


class RequestBatcher(Generic[T, R]):
    """Runs concurrent requests with equal keys together, one batch at a time, in the requesting threads.

    ``submit(key, item, execute)`` blocks until the item's result is ready. When no batch is running, the calling
    thread becomes the leader: it takes the oldest waiting request's key and up to ``max_batch_size`` waiting items
    with that key (first come, first served), runs ``execute(items)`` (one result per item, in order) and hands the
    results out; requests arriving meanwhile wait and form the next batch. So an idle server adds no delay, and
    under load a batch is every compatible request that queued during the previous run. A failing batch of several
    items is retried item by item, so one request's error never becomes another's.
    """

    def __init__(self, max_batch_size: int) -> None:
        if max_batch_size < 1:
            raise ValueError(f"max_batch_size: must be at least 1, got {max_batch_size}")
        self.max_batch_size = max_batch_size
        self._cond = threading.Condition()
        self._queue: list[_Ticket[T, R]] = []
        self._busy = False
        self.batch_sizes: list[int] = []  # of every batch run so far (tests, benchmarks)

    def submit(self, key: Hashable, item: T, execute: Callable[[list[T]], list[R]]) -> R:
        ticket: _Ticket[T, R] = _Ticket(key, item, execute)
        with self._cond:
            self._queue.append(ticket)
        while True:
            with self._cond:
                while self._busy and not ticket.done:
                    self._cond.wait()
                if ticket.done:
                    break
                self._busy = True
                head = self._queue[0].key
                batch = [t for t in self._queue if t.key == head][: self.max_batch_size]
                self._queue = [t for t in self._queue if t not in batch]
                self.batch_sizes.append(len(batch))
            try:
                self._run(batch)
            except BaseException as err:  # e.g. KeyboardInterrupt: nobody may wait for this batch forever
                for t in batch:
                    if not t.done:
                        t.error, t.done = err, True
                raise
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()
        if ticket.error is not None:
            raise ticket.error
        return ticket.result  # type: ignore[return-value]

    @staticmethod
    def _run(batch: list[_Ticket[T, R]]) -> None:
        groups = [batch] if len(batch) == 1 else [batch, *([t] for t in batch)]
        for group in groups:  # the whole batch; if it fails, each item alone
            try:
                results = group[0].execute([t.item for t in group])
                if len(results) != len(group):
                    raise RuntimeError(f"a batch of {len(group)} requests gave {len(results)} results")
            except Exception as err:  # noqa: BLE001 - handed to the requests it belongs to
                if len(group) == 1:
                    group[0].error, group[0].done = err, True
                continue
            for t, result in zip(group, results, strict=True):
                t.result, t.done = result, True
            if group is batch:
                return


def run_jobs(
    jobs: Sequence[Job], steps: int, guidance: float, seed: int, adapter: Path | None, adapter_scale: float
) -> list[Any]:
    """Run each job through the pipeline (one progress bar over all of them); returns their ``DiceptionOutput``s.

    Concurrent calls with the same tasks, categories, steps, guidance and adapter share one batched model run
    (``RequestBatcher``); each still gets its own seed's result.
    """
    server = get_server()
    key = (tuple((job.task, job.category) for job in jobs), int(steps), float(guidance),
           None if adapter is None else str(adapter), float(adapter_scale))

    def execute(requests: list[tuple[list[Job], int]]) -> list[list[Any]]:
        return run_batch(requests, steps, guidance, adapter, adapter_scale)

    return server.batcher.submit(key, (list(jobs), int(seed)), execute)


@spaces.GPU(duration=batch_gpu_seconds)
def run_batch(
    requests: Sequence[tuple[Sequence[Job], int]], steps: int, guidance: float, adapter: Path | None,
    adapter_scale: float,
) -> list[list[Any]]:
    """One model run for several requests of the same tasks and settings: ``requests`` = (jobs, seed) each, jobs
    in the same order of tasks. One pipeline call per task over every request's image (one batched denoising loop
    of up to ``batch_size`` predictions), each prediction with its request's seed. Returns, per request, one
    ``DiceptionOutput`` per job, as an unbatched run would (its own seed in the settings, its own warnings)."""
    server = get_server()
    pipe = server.pipeline()
    positions = len(requests[0][0])
    if any(len(jobs) != positions for jobs, _ in requests):
        raise ValueError("requests: every request of a batch must have the same jobs")
    total = steps * positions
    results: list[list[Any]] = [[] for _ in requests]
    if len(requests) > 1:
        logger.info("batch: %d requests in one model run", len(requests))
    with server.run_lock:
        server.activate_adapter(pipe, adapter, adapter_scale)
        for position in range(positions):
            jobs = [jobs[position] for jobs, _ in requests]
            outputs = _run_together(pipe, jobs, [seed for _, seed in requests], steps, guidance,
                                    _progress_callback(position * steps, total))
            for result, output in zip(results, outputs, strict=True):
                result.append(output)
    return results


def _run_together(
    pipe: Any, jobs: list[Job], seeds: list[int], steps: int, guidance: float, callback: Callable[[int, int], None]
) -> list[Any]:
    """Jobs of one task (and category) on their images in one pipeline call, split back into one output each."""
    import torch

    from diception_core.pipeline import DiceptionOutput

    task = pipe.adapter_task() if isinstance(jobs[0].task, AdapterOwnTask) else jobs[0].task
    points = [job.points for job in jobs] if any(job.points for job in jobs) else None
    generators = [torch.Generator(pipe.device).manual_seed(int(seed)) for seed in seeds]
    out = pipe([job.image for job in jobs], task, points=points, category=jobs[0].category,
               num_inference_steps=steps, guidance_scale=guidance, generator=generators, batch_size=len(jobs),
               callback=callback)
    return [
        DiceptionOutput(predictions=[dataclasses.replace(prediction, image_index=0)],
                        settings={**out.settings, "seed": int(seed)}, warnings=list(prediction.warnings))
        for prediction, seed in zip(out.predictions, seeds, strict=True)
    ]


def compare_seconds(job: Job, kind: str, steps: int, *_: Any, **__: Any) -> int:
    return gpu_seconds([job], steps) + 10


@spaces.GPU(duration=compare_seconds)
def run_compare(
    job: Job, kind: str, steps: int, guidance: float, seed: int
) -> tuple[Any, Any, dict[str, Any]]:
    """DICEPTION and a specialist on the same image (and clicks): (DICEPTION output, specialist result, details:
    seconds each and the specialist's description)."""
    server = get_server()
    pipe = server.pipeline()
    specialist = server.predictor(kind)
    timings: dict[str, Any] = {}
    with server.run_lock:
        server.activate_adapter(pipe, None, 1.0)
        started = time.perf_counter()
        ours = pipe(job.image, job.task, points=job.points, num_inference_steps=steps, guidance_scale=guidance,
                    seed=seed, callback=_progress_callback(0, steps))  # the Compare tab's tasks are fixed tasks
        timings["diception_s"] = time.perf_counter() - started
        started = time.perf_counter()
        if kind == "sam":
            theirs = specialist.predict_masks(job.image, [job.points or []], sample_id="compare")[0]
        else:
            theirs = specialist.predict_depth(job.image, sample_id="compare")
        timings["specialist_s"] = time.perf_counter() - started
    describe = getattr(specialist, "describe", None)
    return ours, theirs, {**timings, "specialist": describe() if callable(describe) else {}}
