"""The page's structure without a browser: destinations, one adapter picker, the app's own range checks."""

from __future__ import annotations

import gradio as gr
import pytest

import app
from diception_app import tabs
from diception_app.settings import AppSettings


@pytest.fixture(scope="module")
def demo() -> gr.Blocks:
    return app.build_demo(AppSettings(model="tiny"), store=None)


def _blocks(demo: gr.Blocks, kind: type) -> list:
    return [b for b in demo.blocks.values() if isinstance(b, kind)]


def test_top_level_destinations_and_the_tasks_inside_try(demo):
    main = next(t for t in _blocks(demo, gr.Tabs) if t.elem_id == "main-tabs")
    assert [c.label for c in main.children] == ["Try", "Compare", "Leaderboard", "About"]  # no store: a placeholder
    assert main.overflow_behavior == "wrap"
    inner = next(t for t in _blocks(demo, gr.Tabs) if t.elem_id == "task-tabs")
    assert [c.label for c in inner.children] == ["Depth", "Surface normals", "Point segmentation",
                                                 "Entity segmentation", "Human pose", "Instances by category",
                                                 "All tasks", "Adapter task"]  # fmt: skip


def test_one_adapter_picker_and_settings_open(demo):
    pickers = [b for b in _blocks(demo, gr.Dropdown) if "adapter" in (b.elem_id or "")]
    assert [p.elem_id for p in pickers] == ["adapter"]
    settings = next(b for b in _blocks(demo, gr.Accordion) if b.elem_id == "settings-panel")
    assert settings.open is True


def test_points_are_taken_on_the_uploaded_image_itself(demo):
    image = next(b for b in _blocks(demo, gr.Image) if b.elem_id == "point_segmentation-image")
    assert image.interactive is not False and "click-surface" in image.elem_classes
    assert not any((b.elem_id or "").endswith("-click-view") for b in demo.blocks.values())
    points = next(b for b in _blocks(demo, gr.Textbox) if b.elem_id == "point_segmentation-points")
    assert points.visible == "hidden"


@pytest.mark.parametrize(("component", "payload"), [
    (gr.Slider(1, 50, step=1), 0), (gr.Slider(1, 50, step=1), 1000), (gr.Number(minimum=0, precision=0), -1),
    (gr.Dropdown(["person", "dog"]), "unicorn"), (gr.Radio(["a", "b"]), "c"), (gr.CheckboxGroup(["a"]), ["z"]),
])  # fmt: skip
def test_gradio_range_and_choice_checks_are_left_to_the_app(component, payload):
    with pytest.raises(gr.Error):
        component.preprocess(payload)
    assert tabs.checked_by_the_app(component).preprocess(payload) == payload


def test_depth_colour_bar_runs_from_the_near_colour_to_the_far_colour():
    import numpy as np

    from diception_core.visualize import colorize_depth

    with gr.Blocks():
        bar = tabs.depth_colour_bar("x")
    near, far = colorize_depth(np.array([[1.0, 0.0]], dtype=np.float32))[0].tolist()
    html = bar.value
    assert html.index("near") < html.index("far")
    assert f"rgb({near[0]}, {near[1]}, {near[2]}) 0%" in html and f"rgb({far[0]}, {far[1]}, {far[2]}) 100%" in html
