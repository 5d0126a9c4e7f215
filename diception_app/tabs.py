"""Tab builders: each lays out one tab inside the caller's ``gr.Blocks`` and wires it to ``callbacks``.

Every model run is validated before it is queued: ``button.click(run, validator=make_validator(validate),
api_name=<task id>)`` (the validator runs unqueued at queue join and marks the input at fault). The run endpoints
take real components only (points as IDS.md's JSON string), so ``gradio_client`` can call them by ``api_name``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from diception_core.config import DiceptionConfig
from diception_spec.tasks import MAX_POINTS, TASK_SPECS, Task, coco_categories

from . import callbacks, state
from .callbacks import COMPARE_MODES, COMPARE_SAM, NO_ADAPTER, AdapterCatalog
from .serving import ModelServer
from .settings import AppSettings

if TYPE_CHECKING:
    from leaderboard.schema import LeaderboardStore

ASSETS = Path(__file__).resolve().parents[1] / "assets"
EXAMPLES = ASSETS / "examples"
POSITIVE_ONLY = (f"Click on the object: each click adds a positive point (at most {MAX_POINTS}); the model takes "
                 "positive points only. Points are kept in original-image pixels whatever the displayed size.")
EXAMPLE_POINTS = {"street.jpg": "[[300, 340], [300, 420]]", "tabletop.jpg": "[[190, 300]]",
                  "corridor.jpg": "[[380, 430]]"}  # fmt: skip


@dataclass
class SettingsPanel:
    steps: gr.Slider
    guidance: gr.Slider
    seed: gr.Number
    randomize: gr.Checkbox
    adapter: gr.Dropdown
    adapter_scale: gr.Slider

    @property
    def inputs(self) -> list[Any]:
        return [self.steps, self.guidance, self.seed, self.randomize, self.adapter, self.adapter_scale]


@dataclass
class AppContext:
    server: ModelServer
    settings: AppSettings
    adapters: AdapterCatalog
    panel: SettingsPanel | None = None
    gpu_events: dict[str, Any] = field(default_factory=dict)  # api_name -> event (tests and benchmarks)

    @property
    def gpu_kwargs(self) -> dict[str, Any]:
        return {"concurrency_id": "model", "concurrency_limit": self.settings.concurrency_limit}


def example_path(name: str) -> str:
    return str(EXAMPLES / name)


def model_defaults(server: ModelServer) -> DiceptionConfig:
    return server.config or DiceptionConfig()


# ---------------------------------------------------------------------------------------------- shared parts


def build_banner(server: ModelServer, demo: gr.Blocks) -> gr.Markdown:
    """The one banner over the task tabs: loading, untrained weights, or what is missing and the fix."""
    banner = gr.Markdown(server.status().banner, elem_id="model-banner")
    timer = gr.Timer(1.0, active=True)

    def poll() -> tuple[str, gr.Timer]:
        status = server.status()
        return status.banner, gr.Timer(active=status.state in ("idle", "loading"))

    timer.tick(poll, outputs=[banner, timer], queue=False, api_visibility="private")
    demo.load(poll, outputs=[banner, timer], queue=False, api_visibility="private")
    return banner


def build_settings_panel(ctx: AppContext, demo: gr.Blocks) -> SettingsPanel:
    """Steps, guidance, seed (or random), presets, reset, and the adapter picker with its scale."""
    defaults = model_defaults(ctx.server)
    with gr.Accordion("Settings", open=False, elem_id="settings-panel"):
        with gr.Row():
            steps = gr.Slider(*callbacks.STEPS_RANGE, value=defaults.default_steps, step=1, label="Steps",
                              elem_id="steps")
            guidance = gr.Slider(*callbacks.GUIDANCE_RANGE, value=defaults.default_guidance, step=0.1,
                                 label="Guidance", elem_id="guidance")
            seed = gr.Number(value=defaults.default_seed, precision=0, minimum=0, maximum=callbacks.MAX_SEED,
                             label="Seed", elem_id="seed")
            randomize = gr.Checkbox(False, label="Random seed", elem_id="random-seed")
        with gr.Row():
            fast = gr.Button("Fast (1 step, guidance 1)", size="sm", elem_id="preset-fast")
            paper = gr.Button("Paper (28 steps, guidance 2)", size="sm", elem_id="preset-paper")
            reset = gr.Button("Reset to defaults", size="sm", elem_id="reset-settings")
        with gr.Row():
            adapter = gr.Dropdown([("none (base model)", NO_ADAPTER)], value=NO_ADAPTER, label="Adapter (LoRA)",
                                  scale=3, elem_id="adapter", allow_custom_value=True)
            adapter_scale = gr.Slider(0.0, 2.0, value=1.0, step=0.05, label="Adapter scale", scale=2)
            refresh = gr.Button("Refresh adapters", size="sm", scale=1)
    panel = SettingsPanel(steps, guidance, seed, randomize, adapter, adapter_scale)
    private = {"queue": False, "api_visibility": "private"}
    fast.click(lambda: (1, 1.0), outputs=[steps, guidance], **private)
    paper.click(lambda: (28, 2.0), outputs=[steps, guidance], **private)

    def reset_values() -> tuple[Any, ...]:
        d = model_defaults(ctx.server)
        return d.default_steps, d.default_guidance, d.default_seed, False, NO_ADAPTER, 1.0

    reset.click(reset_values, outputs=panel.inputs, **private)

    def adapter_choices() -> gr.Dropdown:
        return gr.Dropdown(choices=ctx.adapters.choices())

    refresh.click(adapter_choices, outputs=[adapter], api_visibility="private")
    demo.load(adapter_choices, outputs=[adapter], api_visibility="private")
    ctx.panel = panel
    return panel


@dataclass
class ClickWidget:
    view: gr.Image
    points: gr.Textbox
    counter: gr.Markdown


def build_click_widget(image: gr.Image, prefix: str) -> ClickWidget:
    """Point clicks on ``image``: a view with the points drawn at their pixels, an "n / 5" counter, undo, clear,
    and the points as IDS.md JSON (what the API takes). Points reset when a new image is uploaded."""
    # webp keeps each redraw of a large photo small; the picture keeps the original size, so clicks map 1:1.
    view = gr.Image(label="Click on the object", interactive=False, type="numpy", format="webp",
                    elem_id=f"{prefix}-click-view", buttons=["fullscreen"])
    counter = gr.Markdown(state.counter_text([]), elem_id=f"{prefix}-counter", elem_classes=["points-counter"])
    with gr.Row():
        undo = gr.Button("Undo last point", size="sm", elem_id=f"{prefix}-undo")
        clear = gr.Button("Clear points", size="sm", elem_id=f"{prefix}-clear")
    gr.Markdown(POSITIVE_ONLY, elem_classes=["positive-only"])
    points = gr.Textbox("[]", label="Points (JSON, original-image pixels [[x, y], ...])", max_lines=1,
                        elem_id=f"{prefix}-points")
    private = {"api_visibility": "private"}

    def on_select(image_value: Any, points_json: str, evt: gr.SelectData) -> tuple[str, str]:
        return callbacks.click(image_value, points_json, evt.index)

    view.select(on_select, inputs=[image, points], outputs=[points, counter], **private)
    undo.click(callbacks.undo, inputs=[points], outputs=[points, counter], queue=False, **private)
    clear.click(callbacks.clear, outputs=[points, counter], queue=False, **private)
    image.upload(callbacks.new_upload, outputs=[points, counter], queue=False, **private)
    image.clear(callbacks.new_upload, outputs=[points, counter], queue=False, **private)
    image.change(callbacks.render_clicks, inputs=[image, points], outputs=[view], queue=False, **private)
    points.change(lambda img, pts: (callbacks.render_clicks(img, pts), callbacks.counter(pts)),
                  inputs=[image, points], outputs=[view, counter], queue=False, **private)
    return ClickWidget(view, points, counter)


@dataclass
class ResultPanel:
    slider: gr.ImageSlider
    model3d: gr.Model3D | None
    files: gr.File
    zip: gr.File
    settings: gr.JSON
    notes: gr.Markdown

    @property
    def outputs(self) -> list[Any]:
        return [c for c in (self.slider, self.model3d, self.files, self.zip, self.settings, self.notes)
                if c is not None]

    def values(self, result: callbacks.TaskResult) -> list[Any]:
        values: list[Any] = [(result.before, result.after)]
        if self.model3d is not None:
            values.append(str(result.point_cloud) if result.point_cloud else None)
        values += [[str(p) for p in result.files], str(result.zip_path), result.settings, result.notes]
        return values


def build_result_panel(prefix: str, *, point_cloud: bool = False) -> ResultPanel:
    slider = gr.ImageSlider(label="Input / result (drag to compare)", type="numpy", interactive=False,
                            elem_id=f"{prefix}-result")
    notes = gr.Markdown(elem_id=f"{prefix}-notes", elem_classes=["result-notes"])
    model3d = None
    if point_cloud:
        model3d = gr.Model3D(label="Point cloud (from relative depth; a shape preview)", display_mode="point_cloud",
                             interactive=False, height=360, elem_id=f"{prefix}-pointcloud")
    files = gr.File(label="Downloads", file_count="multiple", interactive=False, height=240,
                    elem_id=f"{prefix}-files")
    zip_button = gr.File(label="Download all (.zip)", interactive=False, height=90, elem_id=f"{prefix}-zip")
    settings = gr.JSON(label="Settings used", elem_id=f"{prefix}-settings")
    return ResultPanel(slider, model3d, files, zip_button, settings, notes)


def refuse_unreadable_uploads(image: gr.Image) -> gr.Image:
    """Make ``image`` refuse files PIL cannot read with a message a user can act on.

    Gradio opens an uploaded image before any handler or validator sees it; a file PIL cannot identify would
    otherwise fail there with Gradio's generic "Could not preprocess input component" text. The instance's
    ``preprocess`` is wrapped rather than subclassing ``gr.Image``: Gradio writes a ``.pyi`` stub next to the module
    of every component subclass when it is defined.
    """
    from PIL import Image, UnidentifiedImageError

    original = image.preprocess

    def preprocess(payload: Any) -> Any:
        try:
            return original(payload)
        except (UnidentifiedImageError, Image.DecompressionBombError) as err:
            raise callbacks.InputError(
                "image: not an image file this app can read, or too large to decode safely "
                f"({type(err).__name__}); try a PNG, JPEG or WebP under 40 megapixels.", "image", "Unusable image",
            ) from None
        except OSError as err:
            raise callbacks.InputError(f"image: the file is corrupt or truncated ({err}); re-export it.", "image",
                                       "Unusable image") from None

    image.preprocess = preprocess
    return image


def _image_input(prefix: str) -> gr.Image:
    # filepath + image_mode=None: the file as uploaded, so our checks (size, corrupt, EXIF, modes) apply to it.
    return refuse_unreadable_uploads(gr.Image(label="Image", type="filepath", image_mode=None,
                                              sources=["upload", "clipboard"], elem_id=f"{prefix}-image", height=320))


def _examples_kwargs() -> dict[str, Any]:
    return {"cache_examples": True, "cache_mode": "lazy", "examples_per_page": 6}


# ---------------------------------------------------------------------------------------------- task tabs


def build_task_tab(ctx: AppContext, task: Task) -> ResultPanel:
    """One tab per fixed task; point segmentation adds clicks, instances by category a COCO category."""
    spec = TASK_SPECS[task]
    prefix = task.value
    panel = ctx.panel
    if panel is None:
        raise RuntimeError("build_settings_panel must come before the task tabs")
    with gr.Tab(spec.label, id=task.value, elem_id=f"tab-{prefix}"):
        gr.Markdown(spec.description)
        with gr.Row():
            with gr.Column(scale=1):
                image = _image_input(prefix)
                widget = build_click_widget(image, prefix) if spec.needs_points else None
                category = (gr.Dropdown(list(coco_categories()), value="person", label="COCO category",
                                        elem_id=f"{prefix}-category") if spec.needs_category else None)
                run_button = gr.Button(f"Run {spec.label.lower()}", variant="primary", elem_id=f"{prefix}-run")
            with gr.Column(scale=1):
                result = build_result_panel(prefix, point_cloud=task is Task.DEPTH)
        extra = widget.points if widget else category
        validate, run, example = _task_functions(ctx, task, result)
        inputs = [image, *([extra] if extra is not None else []), *panel.inputs]
        ctx.gpu_events[task.value] = run_button.click(
            run, inputs=inputs, outputs=result.outputs, api_name=task.value,
            validator=callbacks.make_validator(validate), **ctx.gpu_kwargs,
        )
        gr.Examples(_task_examples(task), inputs=[image, *([extra] if extra is not None else [])],
                    outputs=result.outputs, fn=example, **_examples_kwargs())
    return result


def _task_examples(task: Task) -> list[list[Any]]:
    if task is Task.POINT_SEGMENTATION:
        return [[example_path(n), EXAMPLE_POINTS[n]] for n in ("street.jpg", "tabletop.jpg")]
    if task is Task.SEMANTIC_SEGMENTATION:
        return [[example_path("street.jpg"), "person"], [example_path("tabletop.jpg"), "sports ball"]]
    names = {Task.NORMAL: ("tabletop.jpg", "corridor.jpg"), Task.POSE: ("street.jpg", "corridor.jpg"),
             Task.ENTITY_SEGMENTATION: ("tabletop.jpg", "street.jpg")}.get(task, ("street.jpg", "corridor.jpg",
                                                                                  "tabletop.jpg"))
    return [[example_path(n)] for n in names]


def _task_functions(ctx: AppContext, task: Task, result: ResultPanel) -> tuple[Callable, Callable, Callable]:
    """validate / run / example functions with the parameter names the API shows for this task."""
    server, adapters = ctx.server, ctx.adapters
    t = task.value

    def request(image, points, category, steps, guidance, seed, randomize_seed, adapter, adapter_scale):  # noqa: ANN001
        return callbacks.check_task_request(server, image, t, points, category, steps, guidance, seed,
                                            randomize_seed, adapter, adapter_scale, adapters)

    def execute(req: callbacks.TaskRequest) -> list[Any]:
        return result.values(callbacks.run_task(server, req, settings=ctx.settings))

    def defaults() -> tuple[int, float, int, bool, str, float]:
        d = model_defaults(server)
        return d.default_steps, d.default_guidance, d.default_seed, False, NO_ADAPTER, 1.0

    spec = TASK_SPECS[task]
    if spec.needs_points:

        def validate(image, points, steps, guidance, seed, randomize_seed, adapter, adapter_scale) -> None:  # noqa: ANN001
            request(image, points, None, steps, guidance, seed, randomize_seed, adapter, adapter_scale)

        def run(image, points, steps, guidance, seed, randomize_seed, adapter, adapter_scale,  # noqa: ANN001
                progress=gr.Progress()) -> list[Any]:
            return execute(request(image, points, None, steps, guidance, seed, randomize_seed, adapter,
                                   adapter_scale))

        def example(image, points) -> list[Any]:  # noqa: ANN001
            return execute(request(image, points, None, *defaults()))

    elif spec.needs_category:

        def validate(image, category, steps, guidance, seed, randomize_seed, adapter, adapter_scale) -> None:  # noqa: ANN001
            request(image, None, category, steps, guidance, seed, randomize_seed, adapter, adapter_scale)

        def run(image, category, steps, guidance, seed, randomize_seed, adapter, adapter_scale,  # noqa: ANN001
                progress=gr.Progress()) -> list[Any]:
            return execute(request(image, None, category, steps, guidance, seed, randomize_seed, adapter,
                                   adapter_scale))

        def example(image, category) -> list[Any]:  # noqa: ANN001
            return execute(request(image, None, category, *defaults()))

    else:

        def validate(image, steps, guidance, seed, randomize_seed, adapter, adapter_scale) -> None:  # noqa: ANN001
            request(image, None, None, steps, guidance, seed, randomize_seed, adapter, adapter_scale)

        def run(image, steps, guidance, seed, randomize_seed, adapter, adapter_scale,  # noqa: ANN001
                progress=gr.Progress()) -> list[Any]:
            return execute(request(image, None, None, steps, guidance, seed, randomize_seed, adapter, adapter_scale))

        def example(image) -> list[Any]:  # noqa: ANN001
            return execute(request(image, None, None, *defaults()))

    return validate, run, example


def build_all_tasks_tab(ctx: AppContext) -> None:
    """Several tasks on one image: a gallery, every task's downloads in one zip."""
    panel = ctx.panel
    server, adapters = ctx.server, ctx.adapters
    choices = [(s.label, t.value) for t, s in TASK_SPECS.items()]
    with gr.Tab("All tasks", id="all_tasks", elem_id="tab-all_tasks"):
        gr.Markdown("Run several tasks on one image. Point segmentation uses the clicks below; instances by "
                    "category uses the category.")
        with gr.Row():
            with gr.Column(scale=1):
                image = _image_input("all")
                tasks = gr.CheckboxGroup(choices, value=[Task.DEPTH.value, Task.NORMAL.value], label="Tasks",
                                         elem_id="all-tasks")
                category = gr.Dropdown(list(coco_categories()), value="person", label="COCO category (instances "
                                       "by category)", elem_id="all-category")
                with gr.Accordion("Points (point segmentation)", open=False):
                    widget = build_click_widget(image, "all")
                run_button = gr.Button("Run selected tasks", variant="primary", elem_id="all-run")
            with gr.Column(scale=1):
                gallery = gr.Gallery(label="Results", columns=3, height=420, elem_id="all-gallery",
                                     interactive=False)
                notes = gr.Markdown(elem_classes=["result-notes"])
                files = gr.File(label="Downloads", file_count="multiple", interactive=False, height=240,
                                elem_id="all-files")
                zip_button = gr.File(label="Download all (.zip)", interactive=False, height=90, elem_id="all-zip")
                shown = gr.JSON(label="Settings used", elem_id="all-settings")
        inputs = [image, tasks, widget.points, category, *panel.inputs]

        def validate(image, tasks, points, category, steps, guidance, seed, randomize_seed, adapter,  # noqa: ANN001
                     adapter_scale) -> None:
            callbacks.check_all_tasks_request(server, image, tasks, points, category, steps, guidance, seed,
                                              randomize_seed, adapter, adapter_scale, adapters)

        def run(image, tasks, points, category, steps, guidance, seed, randomize_seed, adapter,  # noqa: ANN001
                adapter_scale, progress=gr.Progress()) -> list[Any]:
            jobs, run_settings = callbacks.check_all_tasks_request(
                server, image, tasks, points, category, steps, guidance, seed, randomize_seed, adapter, adapter_scale,
                adapters,
            )
            r = callbacks.run_all_tasks(server, jobs, run_settings, settings=ctx.settings)
            return [r.gallery, r.notes, [str(p) for p in r.files], str(r.zip_path), r.settings]

        ctx.gpu_events["all_tasks"] = run_button.click(
            run, inputs=inputs, outputs=[gallery, notes, files, zip_button, shown], api_name="all_tasks",
            validator=callbacks.make_validator(validate), **ctx.gpu_kwargs,
        )
        gr.Examples([[example_path("street.jpg")], [example_path("tabletop.jpg")]], inputs=[image])


def build_compare_tab(ctx: AppContext) -> None:
    """The same image (and clicks) through DICEPTION and SAM, or DICEPTION and Depth Anything."""
    panel = ctx.panel
    server = ctx.server
    with gr.Tab("Compare", id="compare", elem_id="tab-compare"):
        gr.Markdown("The same image (and the same clicks) through DICEPTION and a specialist: SAM for point "
                    "segmentation, Depth Anything V2 for depth. Uses the steps, guidance and seed in Settings "
                    "(the adapter is not applied).")
        with gr.Row():
            with gr.Column(scale=1):
                image = _image_input("compare")
                mode = gr.Radio(list(COMPARE_MODES), value=COMPARE_SAM, label="Comparison", elem_id="compare-mode")
                widget = build_click_widget(image, "compare")
                run_button = gr.Button("Compare", variant="primary", elem_id="compare-run")
            with gr.Column(scale=1):
                with gr.Row():
                    ours = gr.Image(label="DICEPTION", interactive=False, elem_id="compare-ours")
                    theirs = gr.Image(label="Specialist", interactive=False, elem_id="compare-theirs")
                details = gr.JSON(label="Models, settings and seconds", elem_id="compare-details")
        inputs = [image, mode, widget.points, *panel.inputs[:4]]

        def validate(image, mode, points, steps, guidance, seed, randomize_seed) -> None:  # noqa: ANN001
            callbacks.check_compare_request(server, image, mode, points, steps, guidance, seed, randomize_seed)

        def run(image, mode, points, steps, guidance, seed, randomize_seed,  # noqa: ANN001
                progress=gr.Progress()) -> list[Any]:
            job, kind, run_settings = callbacks.check_compare_request(server, image, mode, points, steps, guidance,
                                                                      seed, randomize_seed)
            r = callbacks.run_comparison(server, job, kind, run_settings)
            return [gr.Image(value=r.ours, label=r.labels[0]), gr.Image(value=r.theirs, label=r.labels[1]),
                    r.details]

        ctx.gpu_events["compare"] = run_button.click(
            run, inputs=inputs, outputs=[ours, theirs, details], api_name="compare",
            validator=callbacks.make_validator(validate), **ctx.gpu_kwargs,
        )
        gr.Examples([[example_path("street.jpg"), COMPARE_SAM, EXAMPLE_POINTS["street.jpg"]],
                     [example_path("corridor.jpg"), COMPARE_MODES[1], "[]"]], inputs=[image, mode, widget.points])


def build_adapter_tab(ctx: AppContext, demo: gr.Blocks) -> ResultPanel:
    """A new-task adapter (or a task adapter) with the prompt, decoder and visualiser its metadata names."""
    panel = ctx.panel
    server, adapters = ctx.server, ctx.adapters
    with gr.Tab("Adapter task", id="adapter_task", elem_id="tab-adapter_task"):
        gr.Markdown("Run a LoRA adapter's own task: a new task uses the prompt and output encoding in its "
                    "`diception_task.json`; an adapter of a fixed task runs that task. Adapters come from "
                    f"`{ctx.settings.adapters_dir}` and from scored leaderboard submissions.")
        with gr.Row():
            with gr.Column(scale=1):
                image = _image_input("adapter")
                with gr.Row():
                    adapter = gr.Dropdown([("none", NO_ADAPTER)], value=NO_ADAPTER, label="Adapter", scale=3,
                                          elem_id="adapter-task-adapter", allow_custom_value=True)
                    scale = gr.Slider(0.0, 2.0, value=1.0, step=0.05, label="Scale", scale=2)
                with gr.Accordion("Points (for a point segmentation adapter)", open=False):
                    widget = build_click_widget(image, "adapter")
                run_button = gr.Button("Run the adapter", variant="primary", elem_id="adapter-run")
            with gr.Column(scale=1):
                result = build_result_panel("adapter")
        inputs = [image, adapter, scale, widget.points, *panel.inputs[:4]]

        def validate(image, adapter, adapter_scale, points, steps, guidance, seed, randomize_seed) -> None:  # noqa: ANN001
            callbacks.check_adapter_request(server, adapters, image, adapter, adapter_scale, points, steps, guidance,
                                            seed, randomize_seed)

        def run(image, adapter, adapter_scale, points, steps, guidance, seed, randomize_seed,  # noqa: ANN001
                progress=gr.Progress()) -> list[Any]:
            req = callbacks.check_adapter_request(server, adapters, image, adapter, adapter_scale, points, steps,
                                                  guidance, seed, randomize_seed)
            return result.values(callbacks.run_task(server, req, settings=ctx.settings))

        ctx.gpu_events["adapter_task"] = run_button.click(
            run, inputs=inputs, outputs=result.outputs, api_name="adapter_task",
            validator=callbacks.make_validator(validate), **ctx.gpu_kwargs,
        )

        def choices() -> gr.Dropdown:
            return gr.Dropdown(choices=[("none", NO_ADAPTER), *adapters.choices()[1:]])

        demo.load(choices, outputs=[adapter], api_visibility="private")
    return result


def build_about_tab() -> None:
    with gr.Tab("About", id="about", elem_id="tab-about"):
        gr.Markdown((ASSETS / "about.md").read_text(encoding="utf-8"))


def build_leaderboard_tabs(demo: gr.Blocks, store: LeaderboardStore | None) -> bool:
    """Mount the leaderboard package's Leaderboard and Submit tabs on the app's store; a placeholder tab when there
    is no store or the package cannot be imported."""
    reason = "its database could not be opened (the server log says why)" if store is None else ""
    if store is not None:
        try:
            from leaderboard.ui import build_leaderboard_tab, build_submit_tab
        except ImportError as err:
            reason = f"it is not installed ({err})"
    if reason:
        with gr.Tab("Leaderboard", id="leaderboard", elem_id="leaderboard-tab"):
            gr.Markdown(f"The leaderboard is not available: {reason}.")
        return False
    build_leaderboard_tab(store, demo=demo)
    build_submit_tab(store, demo=demo)
    return True
