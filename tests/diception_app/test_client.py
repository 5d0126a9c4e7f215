"""The HTTP API through gradio_client against ``python app.py --model tiny`` (the shared app subprocess)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow

gradio_client = pytest.importorskip("gradio_client")
EXAMPLE = Path(__file__).resolve().parents[2] / "assets" / "examples" / "street.jpg"


@pytest.fixture(scope="module")
def client(tiny_app):
    return gradio_client.Client(tiny_app.url, verbose=False)


def test_endpoints_have_stable_names(client):
    names = set(client.view_api(return_format="dict", print_info=False)["named_endpoints"])
    for task in ("depth", "normal", "point_segmentation", "entity_segmentation", "semantic_segmentation", "pose",
                 "all_tasks", "compare", "adapter_task"):
        assert f"/{task}" in names
    assert "/validate" not in names and "/on_select" not in names


def test_depth_with_one_step(client):
    slider, point_cloud, files, zip_path, settings, notes = client.predict(
        gradio_client.handle_file(str(EXAMPLE)), steps=1, guidance=1.0, seed=3, api_name="/depth",
    )
    assert settings["steps"] == 1 and settings["guidance"] == 1.0 and settings["seed"] == 3
    by_name = {Path(f).name: Path(f) for f in files}
    disparity = np.load(by_name["depth_depth.npy"])
    assert disparity.dtype == np.float32 and disparity.shape == (512, 768)
    assert Path(point_cloud).read_bytes().startswith(b"ply") and Path(zip_path).suffix == ".zip"
    assert len(slider) == 2 and "noise" in notes


def test_point_segmentation_takes_points_as_json(client):
    *_, files, _zip, settings, _notes = client.predict(
        gradio_client.handle_file(str(EXAMPLE)), points=json.dumps([[300, 340], [300, 420]]), steps=1,
        api_name="/point_segmentation",
    )
    assert settings["task"] == "point_segmentation"
    assert any(Path(f).name == "point_segmentation_mask.png" for f in files)


def test_bad_request_is_refused_with_the_reason(client):
    with pytest.raises(Exception, match="No points"):
        client.predict(gradio_client.handle_file(str(EXAMPLE)), points="[]", steps=1,
                       api_name="/point_segmentation")


@pytest.mark.parametrize(("endpoint", "kwargs", "message"), [
    ("/depth", {"steps": 0}, "Steps must be a whole number from 1 to 50 (got 0)"),
    ("/depth", {"steps": 1000}, "Steps must be a whole number from 1 to 50 (got 1000)"),
    ("/depth", {"steps": 2.5}, "Steps must be a whole number from 1 to 50 (got 2.5)"),
    ("/depth", {"steps": 1, "seed": -1}, "Seed must be a whole number from 0 to"),
    ("/depth", {"steps": 1, "guidance": 9}, "Guidance must lie from 1 to 5 (got 9"),
    ("/depth", {"steps": 1, "adapter_scale": 5}, "Adapter scale must lie from 0 to 2 (got 5"),
    ("/point_segmentation", {"steps": 1, "points": "[" * 100_000}, "100,000 characters"),
    ("/semantic_segmentation", {"steps": 1, "category": "unicorn"}, "Unknown category 'unicorn'"),
    ("/compare", {"steps": 1, "mode": "nope"}, "Unknown comparison 'nope'"),
    ("/all_tasks", {"steps": 1, "tasks": ["nope"]}, "unknown task 'nope'"),
])  # fmt: skip
def test_values_gradio_would_refuse_come_back_with_the_apps_message(client, endpoint, kwargs, message):
    """No bare "400 Bad Request": the app checks ranges and choices itself and says what is wrong."""
    with pytest.raises(Exception, match=re.escape(message)) as err:
        client.predict(gradio_client.handle_file(str(EXAMPLE)), api_name=endpoint, **kwargs)
    assert "400" not in str(err.value)
