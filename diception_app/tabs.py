"""Tab builders: each lays out one tab inside the caller's ``gr.Blocks`` and wires it to ``callbacks``.

The page: a "Try" tab (the shared settings, open, then one tab per task, All tasks and Adapter task), "Compare",
"Leaderboard", "Submit" and "About". In every tab the input comes first, its examples directly under it, then the
Run button with the refusal box beside it, the results on the right (under it on a phone).

Every model run is validated before it is queued: ``button.click(run, validator=make_validator(validate),
api_name=<task id>)`` (the validator runs unqueued at queue join and marks the input at fault); a second, unqueued
event on the same click writes the same refusal next to the Run button and opens the section holding the input
(``wire_run``). The run endpoints take real components only (points as IDS.md's JSON string), so ``gradio_client``
can call them by ``api_name``; Gradio's own range and choice checks are switched off on them
(``checked_by_the_app``) so that every refusal is the app's message.

Point prompts: the uploaded image itself takes the clicks (``gr.Image.select``); the points live in a hidden
textbox as JSON, and ``assets/app.js`` draws the markers over the image in the browser, so a click never sends the
picture back.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from diception_core.config import DiceptionConfig
from diception_spec.tasks import MAX_POINTS, TASK_SPECS, Task, coco_categories

from . import callbacks, clicks
from .callbacks import COMPARE_DEPTH, COMPARE_MODES, COMPARE_SAM, NO_ADAPTER, AdapterCatalog
from .serving import ModelServer
from .settings import AppSettings

if TYPE_CHECKING:
    from leaderboard.schema import LeaderboardStore

ASSETS = Path(__file__).resolve().parents[1] / "assets"
EXAMPLES = ASSETS / "examples"
POSITIVE_ONLY = (f"Click on the object in the image: each click adds a positive point (at most {MAX_POINTS}); the "
                 "model takes positive points only. Points are kept in original-image pixels whatever the displayed "
                 "size.")  # fmt: skip
EXAMPLE_POINTS = {"street.jpg": "[[300, 340], [300, 420]]", "tabletop.jpg": "[[190, 300]]",
                  "corridor.jpg": "[[380, 430]]"}  # fmt: skip
EXAMPLES_LABEL = "Examples (a click runs one with the current settings)"
SETTINGS_SECTION = "Settings"
# What each task tab says above its input: what the picture shows (the task specs describe the raw outputs).
TASK_INTROS: Mapping[Task, str] = {
    Task.DEPTH: ("Relative depth (not metric), colour-mapped: **red = near, blue = far** (colour bar under the "
                 "result); the downloads hold the disparity itself (1 = near)."),
    Task.NORMAL: "Surface normals as colours: right = red, up = green, towards you = blue.",
    Task.POINT_SEGMENTATION: ("Upload a photo (or pick an example), **click on the object** in it (up to "
                              f"{MAX_POINTS} points), then Run: one mask for the clicked object."),
    Task.ENTITY_SEGMENTATION: "Every object as its own mask, each painted a random colour.",
    Task.POSE: "People's skeletons with red joints (which joint is which is not recovered).",
    Task.SEMANTIC_SEGMENTATION: "The instances of one COCO category, each painted a random colour.",
}  # fmt: skip


@dataclass
class SettingsPanel:
    steps: gr.Slider
    guidance: gr.Slider
    seed: gr.Number
    randomize: gr.Checkbox
    adapter: gr.Dropdown
    adapter_scale: gr.Slider
    section: gr.Accordion | None = None  # the accordion holding them (opened on a refusal)

    @property
    def inputs(self) -> list[Any]:
        return [self.steps, self.guidance, self.seed, self.randomize, self.adapter, self.adapter_scale]

    def sections(self, names: tuple[str, ...] = ("steps", "guidance", "seed", "randomize_seed", "adapter",
                                                  "adapter_scale")) -> dict[str, tuple[str, gr.Accordion]]:
        """Parameter name -> (section title, accordion) for the settings held in a closable section."""
        if self.section is None:
            return {}
        return {name: (SETTINGS_SECTION, self.section) for name in names}


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


@cache
def page_js() -> str:
    """The page's script (``launch(js=...)``): click markers drawn in the browser over the clickable images."""
    return (ASSETS / "app.js").read_text(encoding="utf-8").replace("__MAX_POINTS__", str(MAX_POINTS))


# ---------------------------------------------------------------------------------------------- shared parts


def build_header() -> gr.HTML:
    """One compact line: the name, what it is, the links and the data policy."""
    return gr.HTML(
        '<div class="page-header"><h1>DICEPTION</h1><span>one diffusion model for depth, normals, segmentation '
        'and pose · <a href="https://arxiv.org/abs/2502.17157" target="_blank" rel="noopener">paper</a> · '
        '<a href="https://github.com/aim-uofa/Diception" target="_blank" rel="noopener">code</a> · '
        "uploads are not kept</span></div>",
        elem_id="page-header", padding=False,
    )  # fmt: skip


def build_banner(server: ModelServer, demo: gr.Blocks) -> gr.Markdown:
    """The one banner over the tabs: loading, untrained weights, or what is missing and the fix."""
    banner = gr.Markdown(server.status().banner, elem_id="model-banner")
    timer = gr.Timer(1.0, active=True)

    def poll() -> tuple[str, gr.Timer]:
        status = server.status()
        return status.banner, gr.Timer(active=status.state in ("idle", "loading"))

    timer.tick(poll, outputs=[banner, timer], queue=False, api_visibility="private")
    demo.load(poll, outputs=[banner, timer], queue=False, api_visibility="private")
    return banner


def show_banner_only_on(tabs: gr.Tabs, banner: gr.Markdown, labels: tuple[str, ...]) -> None:
    """The model banner concerns the tabs that run the model (``labels``); elsewhere (leaderboard, submit, about)
    it is hidden, so that those pages' first screen is their own content."""

    def on_select(evt: gr.SelectData) -> Any:
        return gr.update(visible=evt.value in labels)

    tabs.select(on_select, outputs=[banner], queue=False, show_progress="hidden", api_visibility="private")


def checked_by_the_app(component: Any) -> Any:
    """Switch off the range / choice checks Gradio's component does when it reads a request's value.

    Gradio raises inside ``preprocess`` for an out-of-range slider or number or an unknown dropdown / radio /
    checkbox-group value, which an API client receives as a bare "400 Bad Request". The value is passed through
    unchanged instead; the app's own checks (``callbacks.check_*``, run as the event's validator) refuse it with a
    message that names the input. The instance's ``preprocess`` is wrapped (as ``refuse_unreadable_uploads`` does)
    rather than subclassing the component: Gradio writes a ``.pyi`` stub next to the module of every subclass.
    """
    original = component.preprocess

    def preprocess(payload: Any) -> Any:
        try:
            return original(payload)
        except gr.Error:
            return payload

    component.preprocess = preprocess
    return component


def _steps_guidance_seed(defaults: DiceptionConfig, prefix: str = "") -> tuple[gr.Slider, gr.Slider, gr.Number,
                                                                                 gr.Checkbox]:  # fmt: skip
    ids = (f"{prefix}-steps", f"{prefix}-guidance", f"{prefix}-seed", f"{prefix}-random-seed") if prefix else (
        "steps", "guidance", "seed", "random-seed")
    steps = checked_by_the_app(gr.Slider(*callbacks.STEPS_RANGE, value=defaults.default_steps, step=1, label="Steps",
                                         elem_id=ids[0], min_width=150))
    guidance = checked_by_the_app(gr.Slider(*callbacks.GUIDANCE_RANGE, value=defaults.default_guidance, step=0.1,
                                            label="Guidance", elem_id=ids[1], min_width=150))
    seed = checked_by_the_app(gr.Number(value=defaults.default_seed, precision=0, minimum=0,
                                        maximum=callbacks.MAX_SEED, label="Seed", elem_id=ids[2], min_width=100))
    randomize = gr.Checkbox(False, label="Random seed", elem_id=ids[3], min_width=100)
    return steps, guidance, seed, randomize


def build_settings_panel(ctx: AppContext, demo: gr.Blocks, *, render: bool = True) -> SettingsPanel:
    """Steps, guidance, seed (or random), presets, reset, and the one adapter picker with its scale, in an open
    section. ``render=False`` builds it unrendered (``panel.section.render()`` places it later, e.g. in a column
    beside the task tabs that use it)."""
    defaults = model_defaults(ctx.server)
    with gr.Accordion(SETTINGS_SECTION, open=True, elem_id="settings-panel", render=render) as section:
        steps, guidance, seed, randomize = _steps_guidance_seed(defaults)
        with gr.Row(equal_height=True, elem_classes=["preset-row"]):
            fast = gr.Button("Fast: 1 step", size="sm", elem_id="preset-fast", min_width=90)
            paper = gr.Button("Paper: 28 steps", size="sm", elem_id="preset-paper", min_width=90)
        reset = gr.Button("Reset to defaults", size="sm", elem_id="reset-settings")
        adapter = checked_by_the_app(gr.Dropdown(
            [("none (base model)", NO_ADAPTER)], value=NO_ADAPTER, label="Adapter (LoRA)", elem_id="adapter",
            allow_custom_value=True, info="Applied by every task tab; the Adapter task tab runs its own task.",
        ))  # fmt: skip
        adapter_scale = checked_by_the_app(gr.Slider(*callbacks.ADAPTER_SCALE_RANGE, value=1.0, step=0.05,
                                                     label="Adapter scale", elem_id="adapter-scale"))
        refresh = gr.Button("Refresh adapters", size="sm")
    panel = SettingsPanel(steps, guidance, seed, randomize, adapter, adapter_scale, section)
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
    points: gr.Textbox
    counter: gr.Markdown


def points_box(prefix: str) -> gr.Textbox:
    """The point prompt as IDS.md JSON (what the API takes); hidden on the page, where the clicks fill it. Made
    unrendered: ``render()`` it after the examples that fill it."""
    return gr.Textbox("[]", label="Points (JSON, original-image pixels [[x, y], ...])", max_lines=1,
                      elem_id=f"{prefix}-points", visible="hidden", render=False)


def build_click_widget(image: gr.Image, points: gr.Textbox, prefix: str) -> ClickWidget:
    """Clicks on ``image`` itself: each adds a point (markers drawn in the browser by ``assets/app.js``), an "n / 5"
    counter, undo, clear. Points reset when a new image is uploaded or the image is cleared."""
    with gr.Row(equal_height=True, elem_classes=["click-row"]):
        counter = gr.Markdown(clicks.counter_text([]), elem_id=f"{prefix}-counter", elem_classes=["points-counter"],
                              min_width=180)
        undo = gr.Button("Undo last point", size="sm", elem_id=f"{prefix}-undo", min_width=90, scale=0)
        clear = gr.Button("Clear points", size="sm", elem_id=f"{prefix}-clear", min_width=90, scale=0)
    points.render()
    private = {"api_visibility": "private", "queue": False, "show_progress": "hidden"}

    def on_select(image_value: Any, points_json: str, evt: gr.SelectData) -> tuple[str, str]:
        return callbacks.click(image_value, points_json, evt.index)

    # always_last: a click made while the previous one is answered runs after it, on the updated points.
    image.select(on_select, inputs=[image, points], outputs=[points, counter], trigger_mode="always_last",
                 **private)
    undo.click(callbacks.undo, inputs=[points], outputs=[points, counter], **private)
    clear.click(callbacks.clear, outputs=[points, counter], **private)
    image.upload(callbacks.new_upload, outputs=[points, counter], **private)
    image.clear(callbacks.new_upload, outputs=[points, counter], **private)
    points.change(callbacks.counter, inputs=[points], outputs=[counter], **private)
    return ClickWidget(points, counter)


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


def depth_colour_bar(prefix: str, *, visible: bool = True) -> gr.HTML:
    """The depth picture's colour scale, near to far, from the same colour map that draws it."""
    import numpy as np

    from diception_core.visualize import colorize_depth

    colours = colorize_depth(np.linspace(1.0, 0.0, 11, dtype=np.float32)[None, :])[0]  # [11, 3], near first
    stops = ", ".join(f"rgb({r}, {g}, {b}) {i * 10}%" for i, (r, g, b) in enumerate(colours.tolist()))
    return gr.HTML(
        f'<div class="depth-colour-bar" role="img" aria-label="depth colour scale: red is near, blue is far">'
        f'<span>near</span><div class="bar" style="background: linear-gradient(to right, {stops})"></div>'
        "<span>far</span></div>",
        elem_id=f"{prefix}-colour-bar", padding=False, visible=visible,
    )  # fmt: skip


def build_result_panel(prefix: str, *, point_cloud: bool = False, colour_bar: bool = False) -> ResultPanel:
    slider = gr.ImageSlider(label="Input / result (drag to compare)", type="numpy", interactive=False,
                            elem_id=f"{prefix}-result", max_height=340)
    if colour_bar:
        depth_colour_bar(prefix)
    notes = gr.Markdown(elem_id=f"{prefix}-notes", elem_classes=["result-notes"])
    files = gr.File(label="Downloads", file_count="multiple", interactive=False, height=200,
                    elem_id=f"{prefix}-files")
    zip_button = gr.File(label="Download all (.zip)", interactive=False, height=90, elem_id=f"{prefix}-zip")
    model3d = None
    if point_cloud:
        model3d = gr.Model3D(label="Point cloud (from relative depth; a shape preview)", display_mode="point_cloud",
                             interactive=False, height=320, elem_id=f"{prefix}-pointcloud")
    settings = gr.JSON(label="Settings used", elem_id=f"{prefix}-settings", open=False)
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


def _image_input(prefix: str, *, clickable: bool = False) -> gr.Image:
    # filepath + image_mode=None: the file as uploaded, so our checks (size, corrupt, EXIF, modes) apply to it.
    label = "Image: upload, then click on the object" if clickable else "Image"
    return refuse_unreadable_uploads(gr.Image(
        label=label, type="filepath", image_mode=None, sources=["upload", "clipboard"], elem_id=f"{prefix}-image",
        height=270, elem_classes=["click-surface"] if clickable else None, buttons=["fullscreen"],
    ))  # fmt: skip


def _examples(examples: list[list[Any]], inputs: list[Any], prefix: str, *, shown: list[int] | None = None
              ) -> gr.Examples:  # fmt: skip
    """Examples right under the input they fill; clicking one fills the inputs (the run is wired by ``wire_run``,
    with whatever settings are current). ``shown``: the columns the examples table shows (the points JSON is not
    worth showing)."""
    return gr.Examples(examples, inputs=inputs, cache_examples=False, examples_per_page=6, label=EXAMPLES_LABEL,
                       elem_id=f"{prefix}-examples", visible_columns=shown)  # fmt: skip


def _run_row(label: str, prefix: str) -> tuple[gr.Button, gr.Markdown]:
    """The Run button and, right above it (where the eyes are when clicking), the box that says why a run was
    refused."""
    refusal = gr.Markdown("", elem_id=f"{prefix}-refusal", elem_classes=["run-refusal"])
    button = gr.Button(label, variant="primary", elem_id=f"{prefix}-run")
    return button, refusal


def wire_run(
    ctx: AppContext,
    button: gr.Button,
    examples: gr.Examples | None,
    *,
    validate: Callable[..., Any],
    run: Callable[..., Any],
    inputs: list[Any],
    outputs: list[Any],
    api_name: str,
    refusal: gr.Markdown,
    sections: Mapping[str, tuple[str, gr.Accordion]] | None = None,
) -> Any:
    """Run on the button (the API endpoint ``api_name``) and after an example fills the inputs; both validated before
    queueing. On the same triggers an unqueued event writes the refusal (or nothing) next to the button and opens
    the section (``sections``: parameter name -> (title, accordion)) holding the input at fault."""
    names = callbacks.parameter_names(validate)
    sections = dict(sections or {})
    accordions = list({id(acc): acc for _, acc in sections.values()}.values())

    def show_refusal(*values: Any) -> list[Any]:
        found = callbacks.first_refusal(validate, names, values)
        title, holder = sections.get(found.field, (None, None)) if found else (None, None)
        opened = [gr.Accordion(open=True) if acc is holder else gr.skip() for acc in accordions]
        return [callbacks.refusal_text(found, title), *opened]

    refusal_kwargs = {"inputs": inputs, "outputs": [refusal, *accordions], "queue": False, "show_progress": "hidden",
                      "api_visibility": "private"}  # fmt: skip
    run_kwargs = {"inputs": inputs, "outputs": outputs, "validator": callbacks.make_validator(validate),
                  **ctx.gpu_kwargs}  # fmt: skip
    button.click(show_refusal, **refusal_kwargs)
    event = button.click(run, api_name=api_name, **run_kwargs)
    if examples is not None:
        examples.load_input_event.then(show_refusal, **refusal_kwargs)
        examples.load_input_event.then(run, api_visibility="private", **run_kwargs)
    ctx.gpu_events[api_name] = event
    return event


# ---------------------------------------------------------------------------------------------- task tabs


def build_task_tab(ctx: AppContext, task: Task) -> ResultPanel:
    """One tab per fixed task; point segmentation takes clicks on its image, instances by category a category."""
    spec = TASK_SPECS[task]
    prefix = task.value
    panel = ctx.panel
    if panel is None:
        raise RuntimeError("build_settings_panel must come before the task tabs")
    with gr.Tab(spec.label, id=task.value, elem_id=f"tab-{prefix}"):
        gr.Markdown(TASK_INTROS.get(task, spec.description), elem_classes=["task-intro"])
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=300):
                image = _image_input(prefix, clickable=spec.needs_points)
                extra: Any = None
                if spec.needs_points:
                    extra = points_box(prefix)
                elif spec.needs_category:
                    extra = checked_by_the_app(gr.Dropdown(list(coco_categories()), value="person",
                                                           label="COCO category", elem_id=f"{prefix}-category",
                                                           render=False))  # fmt: skip
                example_inputs = [image, *([extra] if extra is not None else [])]
                shown = [0] if spec.needs_points else None
                examples = _examples(_task_examples(task), example_inputs, prefix, shown=shown)
                if spec.needs_points:
                    build_click_widget(image, extra, prefix)
                elif extra is not None:
                    extra.render()
                run_button, refusal = _run_row(f"Run {spec.label.lower()}", prefix)
            with gr.Column(scale=1, min_width=300):
                result = build_result_panel(prefix, point_cloud=task is Task.DEPTH, colour_bar=task is Task.DEPTH)
        validate, run = _task_functions(ctx, task, result)
        wire_run(ctx, run_button, examples, validate=validate, run=run, inputs=[*example_inputs, *panel.inputs],
                 outputs=result.outputs, api_name=task.value, refusal=refusal, sections=panel.sections())
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


def _task_functions(ctx: AppContext, task: Task, result: ResultPanel) -> tuple[Callable, Callable]:
    """validate / run functions with the parameter names the API shows for this task."""
    server, adapters = ctx.server, ctx.adapters
    t = task.value

    def request(image, points, category, steps, guidance, seed, randomize_seed, adapter, adapter_scale):  # noqa: ANN001
        return callbacks.check_task_request(server, image, t, points, category, steps, guidance, seed,
                                            randomize_seed, adapter, adapter_scale, adapters)

    def execute(req: callbacks.TaskRequest) -> list[Any]:
        return result.values(callbacks.run_task(server, req, settings=ctx.settings))

    spec = TASK_SPECS[task]
    if spec.needs_points:

        def validate(image, points, steps, guidance, seed, randomize_seed, adapter, adapter_scale) -> None:  # noqa: ANN001
            request(image, points, None, steps, guidance, seed, randomize_seed, adapter, adapter_scale)

        def run(image, points, steps, guidance, seed, randomize_seed, adapter, adapter_scale,  # noqa: ANN001
                progress=gr.Progress()) -> list[Any]:
            return execute(request(image, points, None, steps, guidance, seed, randomize_seed, adapter,
                                   adapter_scale))

    elif spec.needs_category:

        def validate(image, category, steps, guidance, seed, randomize_seed, adapter, adapter_scale) -> None:  # noqa: ANN001
            request(image, None, category, steps, guidance, seed, randomize_seed, adapter, adapter_scale)

        def run(image, category, steps, guidance, seed, randomize_seed, adapter, adapter_scale,  # noqa: ANN001
                progress=gr.Progress()) -> list[Any]:
            return execute(request(image, None, category, steps, guidance, seed, randomize_seed, adapter,
                                   adapter_scale))

    else:

        def validate(image, steps, guidance, seed, randomize_seed, adapter, adapter_scale) -> None:  # noqa: ANN001
            request(image, None, None, steps, guidance, seed, randomize_seed, adapter, adapter_scale)

        def run(image, steps, guidance, seed, randomize_seed, adapter, adapter_scale,  # noqa: ANN001
                progress=gr.Progress()) -> list[Any]:
            return execute(request(image, None, None, steps, guidance, seed, randomize_seed, adapter, adapter_scale))

    return validate, run


def build_all_tasks_tab(ctx: AppContext) -> None:
    """Several tasks on one image: a gallery, every task's downloads in one zip."""
    panel = ctx.panel
    server, adapters = ctx.server, ctx.adapters
    choices = [(s.label, t.value) for t, s in TASK_SPECS.items()]
    with gr.Tab("All tasks", id="all_tasks", elem_id="tab-all_tasks"):
        gr.Markdown("Run several tasks on one image. Point segmentation uses your clicks on the image; instances by "
                    "category uses the category.", elem_classes=["task-intro"])
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=300):
                image = _image_input("all", clickable=True)
                points = points_box("all")
                examples = _examples([[example_path("street.jpg"), EXAMPLE_POINTS["street.jpg"]],
                                      [example_path("tabletop.jpg"), EXAMPLE_POINTS["tabletop.jpg"]]],
                                     [image, points], "all", shown=[0])
                build_click_widget(image, points, "all")
                tasks = checked_by_the_app(gr.CheckboxGroup(choices, value=[Task.DEPTH.value, Task.NORMAL.value],
                                                            label="Tasks", elem_id="all-tasks"))
                category = checked_by_the_app(gr.Dropdown(list(coco_categories()), value="person",
                                                          label="COCO category (instances by category)",
                                                          elem_id="all-category"))
                run_button, refusal = _run_row("Run selected tasks", "all")
            with gr.Column(scale=1, min_width=300):
                gallery = gr.Gallery(label="Results", columns=3, height=420, elem_id="all-gallery",
                                     interactive=False)
                notes = gr.Markdown(elem_classes=["result-notes"])
                files = gr.File(label="Downloads", file_count="multiple", interactive=False, height=200,
                                elem_id="all-files")
                zip_button = gr.File(label="Download all (.zip)", interactive=False, height=90, elem_id="all-zip")
                shown = gr.JSON(label="Settings used", elem_id="all-settings", open=False)

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

        # The examples fill the image and points; the run reads every input (tasks, category, settings) as it is.
        wire_run(ctx, run_button, examples, validate=validate, run=run,
                 inputs=[image, tasks, points, category, *panel.inputs],
                 outputs=[gallery, notes, files, zip_button, shown], api_name="all_tasks", refusal=refusal,
                 sections=panel.sections())  # fmt: skip


def build_compare_tab(ctx: AppContext) -> None:
    """The same image (and clicks) through DICEPTION and SAM, or DICEPTION and Depth Anything; its own settings
    next to its Run button (the adapter is not applied)."""
    server = ctx.server
    defaults = model_defaults(server)
    with gr.Tab("Compare", id="compare", elem_id="tab-compare"):
        gr.Markdown("The same image (and the same clicks) through DICEPTION and a specialist: **SAM** for point "
                    "segmentation, **Depth Anything V2** for depth.", elem_classes=["task-intro"])
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=300):
                # What to compare first; the examples under the image set it too (street: SAM, corridor: depth).
                mode = checked_by_the_app(gr.Radio(list(COMPARE_MODES), value=COMPARE_SAM, label="Comparison",
                                                   elem_id="compare-mode"))
                image = _image_input("compare", clickable=True)
                points = points_box("compare")
                examples = _examples([[example_path("street.jpg"), COMPARE_SAM, EXAMPLE_POINTS["street.jpg"]],
                                      [example_path("corridor.jpg"), COMPARE_DEPTH, "[]"]],
                                     [image, mode, points], "compare", shown=[0])
                build_click_widget(image, points, "compare")
                with gr.Row(equal_height=True):
                    steps, guidance, seed, randomize = _steps_guidance_seed(defaults, "compare")
                run_button, refusal = _run_row("Compare", "compare")
            with gr.Column(scale=1, min_width=300):
                with gr.Row():
                    ours = gr.Image(label="DICEPTION", interactive=False, elem_id="compare-ours", min_width=200)
                    theirs = gr.Image(label="Specialist", interactive=False, elem_id="compare-theirs", min_width=200)
                colour_bar = depth_colour_bar("compare", visible=False)  # the depth comparison's colour scale
                details = gr.JSON(label="Models, settings and seconds", elem_id="compare-details")
        mode.change(lambda m: gr.update(visible=m == COMPARE_DEPTH), inputs=[mode], outputs=[colour_bar],
                    queue=False, show_progress="hidden", api_visibility="private")

        def validate(image, mode, points, steps, guidance, seed, randomize_seed) -> None:  # noqa: ANN001
            callbacks.check_compare_request(server, image, mode, points, steps, guidance, seed, randomize_seed)

        def run(image, mode, points, steps, guidance, seed, randomize_seed,  # noqa: ANN001
                progress=gr.Progress()) -> list[Any]:
            job, kind, run_settings = callbacks.check_compare_request(server, image, mode, points, steps, guidance,
                                                                      seed, randomize_seed)
            r = callbacks.run_comparison(server, job, kind, run_settings)
            return [gr.Image(value=r.ours, label=r.labels[0]), gr.Image(value=r.theirs, label=r.labels[1]),
                    r.details]

        wire_run(ctx, run_button, examples, validate=validate, run=run,
                 inputs=[image, mode, points, steps, guidance, seed, randomize],
                 outputs=[ours, theirs, details], api_name="compare", refusal=refusal)  # fmt: skip


def build_adapter_tab(ctx: AppContext) -> ResultPanel:
    """A new-task adapter (or a task adapter) with the prompt, decoder and visualiser its metadata names; the
    adapter is the one picked in Settings (one picker for the whole page)."""
    panel = ctx.panel
    if panel is None:
        raise RuntimeError("build_settings_panel must come before the adapter tab")
    server, adapters = ctx.server, ctx.adapters
    with gr.Tab("Adapter task", id="adapter_task", elem_id="tab-adapter_task"):
        gr.Markdown("Run the adapter picked in **Settings → Adapter** on its own task: a new task uses the prompt "
                    "and output encoding in its `diception_task.json`; an adapter of a fixed task runs that task. "
                    f"Adapters come from `{ctx.settings.adapters_dir}` and from scored leaderboard submissions. A "
                    "point segmentation adapter takes clicks on the image.", elem_classes=["task-intro"])
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=300):
                image = _image_input("adapter", clickable=True)
                points = points_box("adapter")
                build_click_widget(image, points, "adapter")
                run_button, refusal = _run_row("Run the adapter", "adapter")
            with gr.Column(scale=1, min_width=300):
                result = build_result_panel("adapter")

        def validate(image, adapter, adapter_scale, points, steps, guidance, seed, randomize_seed) -> None:  # noqa: ANN001
            callbacks.check_adapter_request(server, adapters, image, adapter, adapter_scale, points, steps, guidance,
                                            seed, randomize_seed)

        def run(image, adapter, adapter_scale, points, steps, guidance, seed, randomize_seed,  # noqa: ANN001
                progress=gr.Progress()) -> list[Any]:
            req = callbacks.check_adapter_request(server, adapters, image, adapter, adapter_scale, points, steps,
                                                  guidance, seed, randomize_seed)
            return result.values(callbacks.run_task(server, req, settings=ctx.settings))

        wire_run(ctx, run_button, None, validate=validate, run=run,
                 inputs=[image, panel.adapter, panel.adapter_scale, points, *panel.inputs[:4]],
                 outputs=result.outputs, api_name="adapter_task", refusal=refusal, sections=panel.sections())
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
