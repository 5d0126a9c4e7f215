"""Validation and run functions behind the tabs: plain functions of plain values, testable without a browser.

Every bad input raises ``gr.Error`` with a message a user can act on, before any model work: the tabs run the
``check_*`` functions as Gradio validators (unqueued, at queue join: the message appears on the input at fault,
and API clients get it as a validation error), and the run functions call them again. Gradio 6.31's page does not
show errors raised by ``queue=False`` events, so the validation is a ``validator=`` rather than a separate
``.click(validate, queue=False).success(run)`` step; a second, unqueued event on the same click shows the same
refusal next to the Run button (``refusal_text``), where the user looks, and opens the section holding the input.
Range and choice checks that Gradio's components would do themselves are done here instead (the tabs switch
Gradio's off), so that no client ever gets a bare "400 Bad Request" without the reason.
"""

from __future__ import annotations

import json
import logging
import math
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr
import numpy as np

from diception_spec.tasks import MAX_POINTS, TASK_SPECS, Task, coco_categories

from . import clicks
from .serving import AdapterOwnTask, Job, ModelServer, ModelUnavailable, run_compare, run_jobs
from .settings import AppSettings

if TYPE_CHECKING:
    from leaderboard.schema import LeaderboardStore

logger = logging.getLogger(__name__)

STEPS_RANGE = (1, 50)
GUIDANCE_RANGE = (1.0, 5.0)
ADAPTER_SCALE_RANGE = (0.0, 2.0)
MAX_SEED = 2**31 - 1
DEFAULT_MAX_PIXELS = 40_000_000  # the model config's limit, used before the model has loaded
MAX_SIDE = 16_383  # WebP's limit: the result slider and gallery cannot show a longer side
# Five [x, y] pairs of pixels fit in about 100 characters; longer text is refused before it is parsed.
MAX_POINTS_CHARS = 2_000
NO_ADAPTER = ""
OUTPUTS_DIRNAME = "diception-app"
COMPARE_SAM = "Point segmentation: DICEPTION vs SAM"
COMPARE_DEPTH = "Depth: DICEPTION vs Depth Anything"
COMPARE_MODES = (COMPARE_SAM, COMPARE_DEPTH)
POSE_NOTE = "Pose: joints are decoded blindly from the red blobs; their identities (which joint is which) are not."


@dataclass(frozen=True)
class RunSettings:
    steps: int
    guidance: float
    seed: int
    adapter: Path | None = None
    adapter_label: str | None = None
    adapter_scale: float = 1.0


@dataclass(frozen=True)
class TaskRequest:
    job: Job
    run: RunSettings


@dataclass
class TaskResult:
    before: np.ndarray  # [H, W, 3] uint8, the input
    after: np.ndarray  # [H, W, 3] uint8, the visualisation
    files: list[Path]
    zip_path: Path
    point_cloud: Path | None
    settings: dict[str, Any]
    notes: str


@dataclass
class AllTasksResult:
    gallery: list[tuple[np.ndarray, str]]
    files: list[Path]
    zip_path: Path
    settings: dict[str, Any]
    notes: str


@dataclass
class CompareResult:
    ours: np.ndarray
    theirs: np.ndarray
    labels: tuple[str, str]
    details: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- validation


class InputError(gr.Error):
    """A ``gr.Error`` that names the input at fault (the parameter name), so the page can mark that input."""

    def __init__(self, message: str, field: str, title: str = "Check the input") -> None:
        super().__init__(message, title=title)
        self.field = field


# What the page calls each checked parameter (the parameter names are what the API shows).
FIELD_LABELS: dict[str, str] = {
    "image": "Image", "points": "Points (clicks)", "category": "COCO category", "steps": "Steps",
    "guidance": "Guidance", "seed": "Seed", "randomize_seed": "Random seed", "adapter": "Adapter",
    "adapter_scale": "Adapter scale", "tasks": "Tasks", "mode": "Comparison", "task": "Task",
}  # fmt: skip


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: the parameter at fault, the message for the user and a short title."""

    field: str
    message: str
    title: str = "Check the input"


def first_refusal(check: Callable[..., Any], names: Sequence[str], values: Sequence[Any]) -> Refusal | None:
    """Run ``check(*values)``; ``None`` when it passes, else the refusal, naming the input an ``InputError`` names
    (the first input for other errors). Never raises: a check that misses a case still gives a refusal."""
    names = list(names)
    first = names[0] if names else ""
    try:
        check(*values)
    except InputError as err:
        return Refusal(err.field if err.field in names else first, err.message, err.title)
    except gr.Error as err:
        return Refusal(first, err.message, err.title)
    except Exception as err:  # noqa: BLE001 - a check that missed a case: still a refusal, not a crash
        logger.warning("validation: unexpected %s: %s", type(err).__name__, err)
        return Refusal(first, f"Invalid input ({type(err).__name__}: {str(err)[:300]}). Check the values and try "
                       "again.")
    return None


def validation_results(check: Callable[..., Any], names: Sequence[str], values: Sequence[Any]) -> list[dict[str, Any]]:
    """Run ``check(*values)`` and return one ``gr.validate`` per input: the input at fault (``first_refusal``)
    carries the message. Gradio runs this at queue join, before any model work, and shows the message on that
    input; API clients get the same refusal."""
    refusal = first_refusal(check, names, values)
    if refusal is None:
        return [gr.validate(True, "") for _ in names]
    return [gr.validate(name != refusal.field, refusal.message if name == refusal.field else "") for name in names]


def refusal_text(refusal: Refusal | None, section: str | None = None) -> str:
    """The Markdown shown next to the Run button: the input at fault by name, where it is, and the message
    (empty when there is no refusal)."""
    if refusal is None:
        return ""
    label = FIELD_LABELS.get(refusal.field, refusal.field.replace("_", " ").capitalize())
    where = f" (in {section}, now open)" if section else ""
    return f"**⚠ {refusal.title}: {label}**{where} — {refusal.message}"


def parameter_names(check: Callable[..., Any]) -> list[str]:
    """``check``'s parameter names, in order: the names of the event's inputs (and of the API's parameters)."""
    import inspect

    return list(inspect.signature(check).parameters)


def make_validator(check: Callable[..., Any]) -> Callable[..., list[dict[str, Any]]]:
    """A Gradio ``validator=`` for an event whose inputs are ``check``'s parameters, in order."""
    names = parameter_names(check)

    def validator(*values: Any) -> list[dict[str, Any]]:
        return validation_results(check, names, values)

    return validator


def max_pixels(server: ModelServer | None) -> int:
    config = None if server is None else server.config
    return int(getattr(config, "max_input_pixels", DEFAULT_MAX_PIXELS))


def check_model(server: ModelServer) -> None:
    """Refuse at once when the model failed to load (loading still in progress is fine: the run waits)."""
    status = server.status()
    if status.state == "failed":
        raise gr.Error(f"The DICEPTION model is not available: {status.reason.replace('`', '')} The banner at the top "
                       "of the page says how to fix it.", title="Model not available")


def check_image(image: Any, limit: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """The uploaded image (a file path from ``gr.Image(type="filepath")``, or an array) as uint8 RGB."""
    from diception_core.image_io import ImageInputError, load_rgb  # torch: imported on first use, not at start-up

    if image is None or (isinstance(image, str) and not image.strip()):
        raise InputError("No image: upload one (PNG, JPEG or WebP) or pick an example below.", "image", "No image")
    try:
        rgb = load_rgb(image, max_pixels=limit)
    except ImageInputError as err:
        raise InputError(str(err), "image", "Unusable image") from None
    height, width = rgb.shape[:2]
    if max(height, width) > MAX_SIDE:
        raise InputError(f"image: {width} x {height} pixels; a side longer than {MAX_SIDE:,} pixels cannot be shown "
                         f"(the WebP limit). Downscale it so both sides are at most {MAX_SIDE:,} pixels and upload "
                         "it again.", "image", "Image too long")
    return rgb


def check_points(points_json: str | None, width: int, height: int, *, required: bool) -> list[list[int]] | None:
    """Parse and check a point prompt (IDS.md JSON pixels) against the image; ``required``: at least one point."""
    from diception_core.points import normalize_points

    if points_json is not None and not isinstance(points_json, str):
        raise InputError("Points must be JSON text such as [[412, 230], [455, 260]] "
                         f"(got {type(points_json).__name__}).", "points", "Bad points")
    if points_json is not None and len(points_json) > MAX_POINTS_CHARS:
        raise InputError(f"Points: {len(points_json):,} characters; at most {MAX_POINTS} [x, y] pixel pairs are "
                         f"expected (at most {MAX_POINTS_CHARS:,} characters), e.g. [[412, 230], [455, 260]].",
                         "points", "Bad points")
    try:
        points = clicks.points_from_json(points_json)
        normalize_points(points, width, height)
    except ValueError as err:
        raise InputError(f"{err}. Points are a JSON list of [x, y] pixels, e.g. [[412, 230], [455, 260]].",
                         "points", "Bad points") from None
    if required and not points:
        raise InputError("No points: click on the object you want segmented (up to 5 points, positive only).",
                         "points", "No points")
    return points or None


def check_category(category: str | None) -> str:
    """One of COCO's category names (case and surrounding spaces ignored): the served model knows only those
    prompts (their embeddings are cached in the model folder; no text encoder is loaded)."""
    if category is None or not str(category).strip():
        raise InputError(f"No category: pick one of COCO's {len(coco_categories())} categories "
                         "(e.g. person, dog, car).", "category", "No category")
    known = {name.lower(): name for name in coco_categories()}
    name = known.get(str(category).strip().lower())
    if name is None:
        raise InputError(f"Unknown category {str(category)[:80]!r}: pick one of COCO's {len(known)} categories "
                         "(e.g. person, dog, car; the menu lists them all).", "category", "Unknown category")
    return name


def _finite(value: Any) -> bool:
    """False for inf / nan (``int()`` raises ``OverflowError`` on inf) and for values that are not numbers."""
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError, OverflowError):
        return False


def check_run_settings(steps: Any, guidance: Any, seed: Any, randomize_seed: bool) -> RunSettings:
    try:
        if not _finite(steps):
            raise ValueError(steps)
        steps_value = int(steps)
        guidance_value = float(guidance)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"Steps must be a whole number and guidance a number (got {steps!r}, {guidance!r}).",
                         "steps") from None
    if steps_value != float(steps) or not STEPS_RANGE[0] <= steps_value <= STEPS_RANGE[1]:
        raise InputError(f"Steps must be a whole number from {STEPS_RANGE[0]} to {STEPS_RANGE[1]} (got {steps}).",
                         "steps")
    if not np.isfinite(guidance_value) or not GUIDANCE_RANGE[0] <= guidance_value <= GUIDANCE_RANGE[1]:
        raise InputError(f"Guidance must lie from {GUIDANCE_RANGE[0]:g} to {GUIDANCE_RANGE[1]:g} (got {guidance}).",
                         "guidance")
    if randomize_seed:
        seed_value = secrets.randbelow(MAX_SEED + 1)
    else:
        try:
            if not _finite(seed):
                raise ValueError(seed)
            seed_value = int(seed)
        except (TypeError, ValueError, OverflowError):
            raise InputError(f"Seed must be a whole number from 0 to {MAX_SEED} (got {seed!r}).", "seed") from None
        if seed_value != float(seed) or not 0 <= seed_value <= MAX_SEED:
            raise InputError(f"Seed must be a whole number from 0 to {MAX_SEED} (got {seed}).", "seed")
    return RunSettings(steps=steps_value, guidance=guidance_value, seed=seed_value)


def check_task_request(
    server: ModelServer,
    image: Any,
    task: Task | str,
    points_json: str | None,
    category: str | None,
    steps: Any,
    guidance: Any,
    seed: Any,
    randomize_seed: bool,
    adapter: str | None = NO_ADAPTER,
    adapter_scale: float = 1.0,
    adapters: AdapterCatalog | None = None,
) -> TaskRequest:
    """Everything one task run needs, checked; raises ``gr.Error`` naming what to fix."""
    check_model(server)
    try:
        spec = TASK_SPECS[Task.parse(task)]
    except ValueError as err:
        raise InputError(str(err), "task") from None
    rgb = check_image(image, max_pixels(server))
    height, width = rgb.shape[:2]
    points = check_points(points_json, width, height, required=spec.needs_points) if spec.needs_points else None
    category_value = check_category(category) if spec.needs_category else None
    run = check_run_settings(steps, guidance, seed, randomize_seed)
    run = _with_adapter(run, adapter, adapter_scale, adapters)
    return TaskRequest(Job(spec.task, rgb, points, category_value), run)


def _with_adapter(run: RunSettings, adapter: str | None, scale: Any, adapters: AdapterCatalog | None) -> RunSettings:
    try:
        scale_value = float(1.0 if scale is None else scale)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"Adapter scale must be a number (got {scale!r}).", "adapter_scale") from None
    if not np.isfinite(scale_value) or not ADAPTER_SCALE_RANGE[0] <= scale_value <= ADAPTER_SCALE_RANGE[1]:
        raise InputError(f"Adapter scale must lie from {ADAPTER_SCALE_RANGE[0]:g} to {ADAPTER_SCALE_RANGE[1]:g} "
                         f"(got {scale}).", "adapter_scale")
    if not adapter:
        return run
    if adapters is None:
        raise InputError("Adapters are not available in this app.", "adapter")
    folder, label = adapters.resolve(adapter)
    return RunSettings(run.steps, run.guidance, run.seed, folder, label, scale_value)


# ---------------------------------------------------------------------------------------------- adapters


class AdapterCatalog:
    """The adapter picker's choices: local adapter folders and scored leaderboard submissions.

    Values are ``local:<folder name>`` or ``submission:<id>``; only listed values resolve, so an API caller
    cannot point the app at an arbitrary path.
    """

    def __init__(self, adapters_dir: Path, store: LeaderboardStore | None = None) -> None:
        self.adapters_dir = Path(adapters_dir)
        self.store = store

    def local(self) -> list[tuple[str, str]]:
        from diception_core.lora import read_adapter_task
        from diception_spec.adapter_format import AdapterRefused

        if not self.adapters_dir.is_dir():
            return []
        choices = []
        for folder in sorted(p for p in self.adapters_dir.iterdir() if p.is_dir()):
            try:
                info = read_adapter_task(folder)
            except AdapterRefused:
                continue
            choices.append((f"{folder.name} ({info.display_name}, local)", f"local:{folder.name}"))
        return choices

    def submissions(self) -> list[tuple[str, str]]:
        if self.store is None:
            return []
        try:
            frame = self.store.submissions_frame()
        except Exception as err:  # noqa: BLE001 - a broken store must not break the task tabs
            logger.warning("adapter picker: leaderboard store unavailable (%s)", err)
            return []
        finished = frame[frame["status"] == "finished"] if "status" in frame else frame.iloc[0:0]
        if "hidden" in finished:
            finished = finished[~finished["hidden"].fillna(False).astype(bool)]
        return [(f"{row['name']} ({row['task']}, leaderboard #{int(row['submission_id'])})",
                 f"submission:{int(row['submission_id'])}") for _, row in finished.iterrows()]

    def choices(self) -> list[tuple[str, str]]:
        return [("none (base model)", NO_ADAPTER), *self.local(), *self.submissions()]

    def resolve(self, value: str) -> tuple[Path, str]:
        """(folder, label) of a listed adapter; anything else raises ``gr.Error`` listing the choices."""
        kind, _, key = str(value).partition(":")
        if kind == "local" and key and "/" not in key and "\\" not in key and key not in (".", ".."):
            folder = self.adapters_dir / key
            if (folder / "diception_task.json").is_file():
                return folder, f"{key} (local)"
        if kind == "submission" and key.isascii() and key.isdigit() and len(key) <= 18:
            try:
                sub = self.store.get_submission(int(key)) if self.store is not None else None
            except KeyError:
                sub = None
            if sub and sub.get("status") == "finished" and not sub.get("hidden") and sub.get("storage_path"):
                folder = Path(sub["storage_path"])
                if folder.is_dir():
                    return folder, f"{sub['name']} (leaderboard #{key})"
        known = ", ".join(v for _, v in self.choices() if v) or "none"
        raise InputError(f"Unknown adapter {value!r}; available: {known}. Refresh the adapter list.", "adapter")


# ---------------------------------------------------------------------------------------------- points (clicks)


def image_size(image: Any) -> tuple[int, int]:
    """(width, height) of an uploaded image as the browser shows it (EXIF orientation applied), read from the
    file's header without decoding the pixels: a click must answer at once even on a large photo."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(image, np.ndarray):
        return int(image.shape[1]), int(image.shape[0])
    try:
        with Image.open(image) as pil:
            width, height = pil.size
            orientation = pil.getexif().get(0x0112, 1)  # EXIF Orientation; 5-8 swap the sides
    except (OSError, UnidentifiedImageError, ValueError, TypeError, Image.DecompressionBombError):
        raise InputError("No readable image to click on: upload a PNG, JPEG or WebP first.", "image",
                         "No image") from None
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def click(image: Any, points_json: str | None, index: Any) -> tuple[str, str]:
    """A click on the image: (new points JSON, counter text). A 6th click is refused with a visible warning; a click
    without a readable image adds nothing and says why."""
    try:
        width, height = image_size(image) if image is not None else (0, 0)
    except InputError as err:
        width, height, problem = 0, 0, err.message
    else:
        problem = None if width else "Upload an image first, then click on the object."
    points = _lenient_points(points_json)
    if problem:
        return clicks.points_to_json(points), clicks.counter_text(points, problem)
    points = clicks.points_inside(points, width, height)
    try:
        pixel = clicks.click_to_pixel(index, width, height)
    except ValueError as err:
        return clicks.points_to_json(points), clicks.counter_text(points, str(err))
    update = clicks.add_point(points, pixel)
    if update.warning:
        gr.Warning(update.warning)
    return clicks.points_to_json(update.points), clicks.counter_text(update.points, update.warning)


def undo(points_json: str | None) -> tuple[str, str]:
    points = clicks.undo_point(_lenient_points(points_json))
    return clicks.points_to_json(points), clicks.counter_text(points)


def clear() -> tuple[str, str]:
    points = clicks.clear_points()
    return clicks.points_to_json(points), clicks.counter_text(points)


def new_upload() -> tuple[str, str]:
    points = clicks.points_for_new_image()
    return clicks.points_to_json(points), clicks.counter_text(points)


def counter(points_json: str | None) -> str:
    if points_json is not None and len(points_json) > MAX_POINTS_CHARS:
        return f"⚠ points: longer than {MAX_POINTS_CHARS:,} characters"
    try:
        return clicks.counter_text(clicks.points_from_json(points_json))
    except ValueError as err:
        return f"⚠ {err}"


def _lenient_points(points_json: str | None) -> list[list[int]]:
    if points_json is not None and len(points_json) > MAX_POINTS_CHARS:
        return []
    try:
        return clicks.points_from_json(points_json)
    except ValueError:
        return []


# ---------------------------------------------------------------------------------------------- running


def outputs_root() -> Path:
    root = Path(tempfile.gettempdir()) / OUTPUTS_DIRNAME
    root.mkdir(parents=True, exist_ok=True)
    return root


def new_run_dir(max_age_s: float = 3600.0) -> Path:
    """A fresh folder for one run's downloads; folders older than ``max_age_s`` are deleted (uploads and results
    are not kept)."""
    root = outputs_root()
    cutoff = time.time() - max_age_s
    for old in root.iterdir():
        try:
            if old.is_dir() and old.stat().st_mtime < cutoff:
                shutil.rmtree(old, ignore_errors=True)
        except OSError:
            continue
    return Path(tempfile.mkdtemp(prefix="run-", dir=root))


def describe_settings(server: ModelServer, output_settings: dict[str, Any], run: RunSettings) -> dict[str, Any]:
    """The settings shown with every result."""
    config = server.config
    shown = {
        "task": output_settings.get("task"),
        "steps": output_settings.get("steps"),
        "guidance": output_settings.get("guidance"),
        "seed": output_settings.get("seed"),
        "adapter": run.adapter_label,
        "adapter_scale": run.adapter_scale if run.adapter_label else None,
        "model": server.settings.model,
        "model_revision": output_settings.get("model_revision"),
        "resolution": output_settings.get("resolution"),
        "device": output_settings.get("device"),
        "dtype": output_settings.get("dtype"),
    }
    if getattr(config, "untrained", False):
        shown["untrained"] = True
    return shown


def _notes(output: Any, server: ModelServer, task: Task | AdapterOwnTask) -> str:
    notes = [f"⚠️ {w}" for w in output.warnings]
    if task is Task.POSE:
        notes.append(POSE_NOTE)
    if getattr(server.config, "untrained", False):
        notes.append("⚠️ Untrained weights: outputs are noise.")
    return "\n\n".join(notes)


def run_task(
    server: ModelServer, request: TaskRequest, *, settings: AppSettings | None = None,
    runner: Callable[..., list[Any]] = run_jobs,
) -> TaskResult:
    """Run one task and write its downloads (per encoding, plus a zip of them all)."""
    from diception_core.downloads import visualization, write_prediction_files, zip_files

    run = request.run
    try:
        (output,) = runner([request.job], run.steps, run.guidance, run.seed, run.adapter, run.adapter_scale)
    except ModelUnavailable as err:
        raise gr.Error(str(err), title="Model not available") from None
    except ValueError as err:  # the pipeline's own input checks (e.g. an adapter that does not fit)
        raise gr.Error(str(err)) from None
    prediction = output.predictions[0]
    out_dir = new_run_dir(settings.outputs_max_age_s if settings else 3600.0)
    stem = output.settings.get("task") or request.job.name
    after = visualization(prediction)  # rendered once: shown, and written as the _vis.png download
    written = write_prediction_files(prediction, out_dir, stem=_safe_stem(stem), vis=after)
    shown = describe_settings(server, output.settings, run)
    if request.job.points:
        shown["points"] = request.job.points
    if request.job.category:
        shown["category"] = request.job.category
    settings_path = out_dir / f"{_safe_stem(stem)}_settings.json"
    settings_path.write_text(json.dumps(shown, indent=2) + "\n", encoding="utf-8")
    files = [*written.values(), settings_path]
    zip_path = zip_files(files, out_dir / f"diception_{_safe_stem(stem)}.zip")
    return TaskResult(
        before=prediction.image, after=after, files=files, zip_path=zip_path,
        point_cloud=written.get("point_cloud"), settings=shown, notes=_notes(output, server, request.job.task),
    )


def _safe_stem(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(name)) or "prediction"


def check_all_tasks_request(
    server: ModelServer, image: Any, tasks: Sequence[str] | None, points_json: str | None, category: str | None,
    steps: Any, guidance: Any, seed: Any, randomize_seed: bool, adapter: str | None = NO_ADAPTER,
    adapter_scale: float = 1.0, adapters: AdapterCatalog | None = None,
) -> tuple[list[Job], RunSettings]:
    check_model(server)
    if not tasks:
        raise InputError("No tasks: tick at least one task to run.", "tasks", "No tasks")
    rgb = check_image(image, max_pixels(server))
    height, width = rgb.shape[:2]
    jobs = []
    for task in dict.fromkeys(tasks):
        try:
            spec = TASK_SPECS[Task.parse(task)]
        except ValueError as err:
            raise InputError(str(err), "tasks") from None
        points = check_points(points_json, width, height, required=True) if spec.needs_points else None
        category_value = check_category(category) if spec.needs_category else None
        jobs.append(Job(spec.task, rgb, points, category_value))
    run = _with_adapter(check_run_settings(steps, guidance, seed, randomize_seed), adapter, adapter_scale, adapters)
    return jobs, run


def run_all_tasks(
    server: ModelServer, jobs: list[Job], run: RunSettings, *, settings: AppSettings | None = None,
    runner: Callable[..., list[Any]] = run_jobs,
) -> AllTasksResult:
    """Several tasks on one image: a gallery of visualisations and one zip with every task's downloads."""
    from diception_core.downloads import visualization, write_prediction_files, zip_files

    try:
        outputs = runner(jobs, run.steps, run.guidance, run.seed, run.adapter, run.adapter_scale)
    except ModelUnavailable as err:
        raise gr.Error(str(err), title="Model not available") from None
    except ValueError as err:
        raise gr.Error(str(err)) from None
    out_dir = new_run_dir(settings.outputs_max_age_s if settings else 3600.0)
    gallery, files, notes = [], [], []
    for job, output in zip(jobs, outputs, strict=True):
        prediction = output.predictions[0]
        vis = visualization(prediction)
        gallery.append((vis, TASK_SPECS[job.task].label))
        files.extend(write_prediction_files(prediction, out_dir, stem=job.name, vis=vis).values())
        notes.extend(n for n in _notes(output, server, job.task).split("\n\n") if n and n not in notes)
    shown = describe_settings(server, outputs[0].settings, run)
    shown["task"] = [job.name for job in jobs]
    settings_path = out_dir / "all_tasks_settings.json"
    settings_path.write_text(json.dumps(shown, indent=2) + "\n", encoding="utf-8")
    files.append(settings_path)
    zip_path = zip_files(files, out_dir / "diception_all_tasks.zip")
    return AllTasksResult(gallery, files, zip_path, shown, "\n\n".join(notes))


def check_compare_request(
    server: ModelServer, image: Any, mode: str, points_json: str | None, steps: Any, guidance: Any, seed: Any,
    randomize_seed: bool,
) -> tuple[Job, str, RunSettings]:
    check_model(server)
    if mode not in COMPARE_MODES:
        raise InputError(f"Unknown comparison {mode!r}; pick one of: {', '.join(COMPARE_MODES)}.", "mode")
    rgb = check_image(image, max_pixels(server))
    height, width = rgb.shape[:2]
    run = check_run_settings(steps, guidance, seed, randomize_seed)
    if mode == COMPARE_SAM:
        points = check_points(points_json, width, height, required=True)
        return Job(Task.POINT_SEGMENTATION, rgb, points), "sam", run
    return Job(Task.DEPTH, rgb), "depth_anything", run


def run_comparison(
    server: ModelServer, job: Job, kind: str, run: RunSettings, *, runner: Callable[..., Any] = run_compare,
) -> CompareResult:
    """DICEPTION and SAM (masks, same clicks) or Depth Anything (disparity) side by side."""
    from diception_core import visualize
    from diception_core.downloads import visualization

    try:
        ours, theirs, timings = runner(job, kind, run.steps, run.guidance, run.seed)
    except ModelUnavailable as err:
        raise gr.Error(str(err), title="Model not available") from None
    prediction = ours.predictions[0]
    if kind == "sam":
        theirs_vis = visualize.draw_points(visualize.mask_overlay(job.image, np.asarray(theirs, dtype=bool)),
                                           job.points or [])
        other = "SAM"
    else:
        theirs_vis = visualize.colorize_depth(np.asarray(theirs, dtype=np.float32))
        other = "Depth Anything"
    details = {"diception": describe_settings(server, ours.settings, run), "specialist": timings.get("specialist"),
               **{k: round(v, 3) for k, v in timings.items() if isinstance(v, float)}}
    return CompareResult(visualization(prediction), theirs_vis, ("DICEPTION", other), details)


def check_adapter_request(
    server: ModelServer, adapters: AdapterCatalog, image: Any, adapter: str | None, adapter_scale: Any,
    points_json: str | None, steps: Any, guidance: Any, seed: Any, randomize_seed: bool,
) -> TaskRequest:
    """The Adapter task tab: the adapter's own task (a new task's prompt and decoder, or a fixed task)."""
    from diception_core.lora import read_adapter_task
    from diception_spec.adapter_format import AdapterRefused

    check_model(server)
    if not adapter:
        raise InputError("No adapter: pick one in Settings → Adapter (local adapter folders and scored leaderboard "
                         f"submissions; put folders in `{adapters.adapters_dir}`).", "adapter", "No adapter")
    rgb = check_image(image, max_pixels(server))
    run = _with_adapter(check_run_settings(steps, guidance, seed, randomize_seed), adapter, adapter_scale, adapters)
    try:
        info = read_adapter_task(run.adapter)
    except AdapterRefused as err:
        raise InputError(str(err), "adapter") from None
    points = None
    if info.task is not None and TASK_SPECS[info.task].needs_points:
        points = check_points(points_json, rgb.shape[1], rgb.shape[0], required=True)
    if info.task is not None and TASK_SPECS[info.task].needs_category:
        raise InputError("This adapter needs a category: use it from the Instances by category tab.", "adapter")
    return TaskRequest(Job(info.task or AdapterOwnTask(info.display_name), rgb, points), run)
