"""Callbacks without a browser: validation errors, clicks, downloads (dtype / range), the zip, the model banner."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from diception_app import callbacks, serving
from diception_app.settings import CONVERT_COMMAND, DEFAULT_MODEL, AppSettings, load_settings
from diception_core.loading import GatedModelError
from diception_spec.tasks import Task


@pytest.fixture(scope="module")
def server(tiny_pipe):
    srv = serving.configure(AppSettings(model="tiny"), loader=lambda _settings: tiny_pipe)
    srv.start(background=False)
    assert srv.status().state == "ready"
    return srv


@pytest.fixture(scope="module")
def image_path(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp("img") / "scene.png"
    Image.fromarray(rng.integers(0, 255, (48, 80, 3), dtype=np.uint8)).save(path)
    return path


def _request(server, image, task="depth", points=None, category=None, steps=1, guidance=1.0, seed=0, rand=False):
    return callbacks.check_task_request(server, str(image) if image else None, task, points, category, steps,
                                        guidance, seed, rand)


# ---------------------------------------------------------------------------------------------- validation


def test_no_image(server):
    with pytest.raises(gr.Error, match="No image"):
        _request(server, None)


def test_corrupt_and_unsupported_files(server, tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(gr.Error, match="not an image file"):
        _request(server, text)
    good = tmp_path / "good.png"
    Image.new("RGB", (64, 64), (10, 20, 30)).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[:60])
    with pytest.raises(gr.Error, match="corrupt or truncated|could not be decoded"):
        _request(server, truncated)


def test_image_too_large(tmp_path):
    big = tmp_path / "big.png"
    Image.new("RGB", (200, 100)).save(big)
    with pytest.raises(gr.Error, match="exceeds the limit"):
        callbacks.check_image(str(big), limit=10_000)


def test_point_segmentation_needs_points(server, image_path):
    with pytest.raises(gr.Error, match="No points"):
        _request(server, image_path, "point_segmentation", "[]")
    with pytest.raises(gr.Error, match="outside"):
        _request(server, image_path, "point_segmentation", "[[500, 5]]")
    with pytest.raises(gr.Error, match="at most 5"):
        _request(server, image_path, "point_segmentation", json.dumps([[1, 1]] * 6))
    with pytest.raises(gr.Error, match="not valid JSON"):
        _request(server, image_path, "point_segmentation", "[[1, 1]")
    request = _request(server, image_path, "point_segmentation", "[[10, 20]]")
    assert request.job.points == [[10, 20]]


def test_category_required(server, image_path):
    with pytest.raises(gr.Error, match="No category"):
        _request(server, image_path, "semantic_segmentation", category=None)
    assert _request(server, image_path, "semantic_segmentation", category=" dog ").job.category == "dog"
    assert _request(server, image_path, "semantic_segmentation", category="Sports Ball").job.category == "sports ball"


def test_unknown_category_is_refused_by_the_app(server, image_path):
    with pytest.raises(gr.Error, match="Unknown category 'unicorn'.*COCO's 80") as err:
        _request(server, image_path, "semantic_segmentation", category="unicorn")
    assert err.value.field == "category"


@pytest.mark.parametrize("text", ["[" * 100_000, "[[1, 1]," + " " * 100_000 + "]"])
def test_over_long_points_text_is_refused_before_parsing(server, image_path, text):
    with pytest.raises(gr.Error, match="100,0\\d\\d characters") as err:
        _request(server, image_path, "point_segmentation", text)
    assert err.value.field == "points"


@pytest.mark.parametrize(("steps", "guidance", "seed", "match"), [
    (0, 2.0, 0, "Steps"), (51, 2.0, 0, "Steps"), (2.5, 2.0, 0, "Steps"), ("x", 2.0, 0, "Steps"),
    (2, 0.5, 0, "Guidance"), (2, 5.5, 0, "Guidance"), (2, 2.0, -1, "Seed"), (2, 2.0, 2**31, "Seed"),
])  # fmt: skip
def test_bad_settings(steps, guidance, seed, match):
    with pytest.raises(gr.Error, match=match):
        callbacks.check_run_settings(steps, guidance, seed, False)


def test_random_seed_and_fixed_seed():
    fixed = callbacks.check_run_settings(28, 2.0, 7, False)
    assert (fixed.steps, fixed.guidance, fixed.seed) == (28, 2.0, 7)
    seeds = {callbacks.check_run_settings(1, 1.0, 7, True).seed for _ in range(5)}
    assert all(0 <= s <= callbacks.MAX_SEED for s in seeds) and len(seeds) > 1


def test_unknown_task(server, image_path):
    with pytest.raises(gr.Error, match="unknown task"):
        _request(server, image_path, "segment_everything")


def test_validator_marks_the_input_at_fault(server, image_path):
    def check(image, points, steps):
        return _request(server, image, "point_segmentation", points, steps=steps)

    validator = callbacks.make_validator(check)
    ok = validator(str(image_path), "[[1, 1]]", 2)
    assert [v["is_valid"] for v in ok] == [True, True, True]
    no_points = validator(str(image_path), "[]", 2)
    assert [v["is_valid"] for v in no_points] == [True, False, True] and "No points" in no_points[1]["message"]
    bad_steps = validator(str(image_path), "[[1, 1]]", 99)
    assert [v["is_valid"] for v in bad_steps] == [True, True, False]
    no_image = validator(None, "[[1, 1]]", 2)
    assert not no_image[0]["is_valid"] and "No image" in no_image[0]["message"]


def test_refusal_names_the_input_and_its_section(server, image_path):
    def check(image, points, steps):
        return _request(server, image, "point_segmentation", points, steps=steps)

    names = callbacks.parameter_names(check)
    assert callbacks.first_refusal(check, names, [str(image_path), "[[1, 1]]", 2]) is None
    assert callbacks.refusal_text(None) == ""
    refusal = callbacks.first_refusal(check, names, [str(image_path), "[[1, 1]]", 2.5])
    assert refusal.field == "steps" and "whole number from 1 to 50" in refusal.message
    text = callbacks.refusal_text(refusal, "Settings")
    assert text.startswith("**⚠ Check the input: Steps** (in Settings, now open)") and "2.5" in text
    no_points = callbacks.first_refusal(check, names, [str(image_path), "[]", 2])
    assert no_points.field == "points" and "Points (clicks)" in callbacks.refusal_text(no_points)


def test_a_check_that_crashes_is_still_a_refusal():
    def check(image):
        raise RecursionError("maximum recursion depth exceeded")

    refusal = callbacks.first_refusal(check, ["image"], [None])
    assert refusal.field == "image" and "RecursionError" in refusal.message
    assert callbacks.validation_results(check, ["image"], [None])[0]["is_valid"] is False


# ---------------------------------------------------------------------------------------------- the model banner


def test_missing_default_model_banner_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./diception-model here
    srv = serving.ModelServer(AppSettings(model=DEFAULT_MODEL))
    srv.start(background=False)
    status = srv.status()
    assert status.state == "failed"
    assert CONVERT_COMMAND in status.banner and "python app.py --model tiny" in status.banner
    with pytest.raises(gr.Error, match="not available"):
        callbacks.check_model(srv)
    with pytest.raises(serving.ModelUnavailable):
        srv.pipeline(timeout_s=1)


def test_gated_model_banner_keeps_the_loader_message():
    def gated(_settings):
        raise GatedModelError("user/model is gated: accept its licence ... `hf auth login`")

    srv = serving.ModelServer(AppSettings(model="user/model"), loader=gated)
    srv.start(background=False)
    assert "hf auth login" in srv.status().banner and "not available" in srv.status().banner


def test_untrained_banner(server):
    assert "outputs are noise" in server.status().banner


def test_loading_banner_then_ready(tiny_pipe):
    gate = __import__("threading").Event()

    def slow(_settings):
        gate.wait(5)
        return tiny_pipe

    srv = serving.ModelServer(AppSettings(model="tiny"), loader=slow)
    srv.start(background=True)
    assert srv.status().state == "loading" and "Loading" in srv.status().banner
    callbacks.check_model(srv)  # loading is not an error: the run waits
    gate.set()
    assert srv.pipeline(timeout_s=10) is tiny_pipe


def test_gpu_duration_grows_with_steps_and_tasks(server):
    job = serving.Job(Task.DEPTH, np.zeros((8, 8, 3), np.uint8))
    assert serving.gpu_seconds([job], 28) > serving.gpu_seconds([job], 1)
    assert serving.gpu_seconds([job] * 3, 28) > serving.gpu_seconds([job], 28)
    assert serving.gpu_seconds([job] * 50, 50) <= server.settings.gpu_max_seconds


def test_settings_from_environment():
    settings = load_settings({"DICEPTION_MODEL": "tiny", "DICEPTION_CONCURRENCY": "2", "SPACES_ZERO_GPU": "true"})
    assert settings.tiny and settings.concurrency_limit == 2 and settings.zero_gpu
    assert load_settings({}).model == DEFAULT_MODEL
    with pytest.raises(ValueError, match="DICEPTION_CONCURRENCY"):
        load_settings({"DICEPTION_CONCURRENCY": "many"})


# ---------------------------------------------------------------------------------------------- clicks


def test_clicks_add_undo_clear_and_sixth(image_path):
    points = "[]"
    for x in range(5):
        points, counter = callbacks.click(str(image_path), points, [10 + x, 20])
    assert json.loads(points) == [[10 + x, 20] for x in range(5)] and "5 / 5" in counter
    with pytest.warns(UserWarning, match="at most 5"):
        after, counter = callbacks.click(str(image_path), points, [70, 40])
    assert after == points and "Not added" in counter
    points, counter = callbacks.undo(points)
    assert len(json.loads(points)) == 4 and "4 / 5" in counter
    assert callbacks.clear() == ("[]", callbacks.counter("[]"))
    assert callbacks.new_upload()[0] == "[]"


def test_click_needs_a_readable_image_and_reads_only_its_size(image_path, tmp_path):
    points, counter = callbacks.click(None, "[]", [3, 4])
    assert points == "[]" and "Upload an image first" in counter
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    points, counter = callbacks.click(str(broken), "[[1, 1]]", [3, 4])
    assert json.loads(points) == [[1, 1]] and "No readable image" in counter
    assert callbacks.image_size(str(image_path)) == (80, 48)


def test_image_size_follows_the_exif_orientation(tmp_path):
    """The browser shows a photo rotated by its EXIF orientation; clicks come in those (rotated) pixels."""
    path = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees: the stored 80 x 48 is shown 48 x 80
    Image.new("RGB", (80, 48)).save(path, exif=exif.tobytes())
    assert callbacks.image_size(str(path)) == (48, 80)
    points, _ = callbacks.click(str(path), "[]", [47, 79])
    assert json.loads(points) == [[47, 79]]


# ---------------------------------------------------------------------------------------------- runs and downloads


def _zip_names(path: Path) -> set[str]:
    with zipfile.ZipFile(path) as archive:
        return set(archive.namelist())


def test_depth_downloads(server, image_path):
    result = callbacks.run_task(server, _request(server, image_path, "depth"))
    names = {p.name for p in result.files}
    assert {"depth_raw.npy", "depth_vis.png", "depth_depth16.png", "depth_depth.npy", "depth_depth_color.png",
            "depth_pointcloud.ply", "depth_settings.json"} <= names
    by_name = {p.name: p for p in result.files}
    disparity = np.load(by_name["depth_depth.npy"])
    assert disparity.dtype == np.float32 and disparity.shape == (48, 80)
    assert disparity.min() >= 0.0 and disparity.max() <= 1.0
    raw = np.load(by_name["depth_raw.npy"])
    assert raw.dtype == np.float32 and raw.shape == (48, 80, 3) and raw.min() >= 0.0 and raw.max() <= 1.0
    png16 = Image.open(by_name["depth_depth16.png"])
    assert png16.mode.startswith("I") and np.asarray(png16).max() > 255  # 16-bit, full range used
    color = np.asarray(Image.open(by_name["depth_depth_color.png"]))
    assert color.dtype == np.uint8 and color.shape == (48, 80, 3)
    assert result.point_cloud is not None and result.point_cloud.read_bytes().startswith(b"ply")
    assert result.before.shape == result.after.shape == (48, 80, 3) and result.after.dtype == np.uint8
    assert _zip_names(result.zip_path) == names
    shown = json.loads(by_name["depth_settings.json"].read_text())
    assert shown == result.settings
    assert {k: shown[k] for k in ("steps", "guidance", "seed")} == {"steps": 1, "guidance": 1.0, "seed": 0}
    assert shown["model_revision"] and shown["untrained"] is True
    assert "outputs are noise" in result.notes


def test_point_segmentation_mask_download(server, image_path):
    result = callbacks.run_task(server, _request(server, image_path, "point_segmentation", "[[10, 20], [60, 30]]"))
    mask_path = next(p for p in result.files if p.name.endswith("_mask.png"))
    mask = np.asarray(Image.open(mask_path))
    assert mask.shape == (48, 80) and set(np.unique(mask)) <= {0, 255}
    assert {"point_segmentation_mask.png", "point_segmentation_raw.npy"} <= _zip_names(result.zip_path)


def test_instances_and_pose_downloads(server, image_path):
    result = callbacks.run_task(server, _request(server, image_path, "semantic_segmentation", category="person"))
    palette = next(p for p in result.files if p.name.endswith("_instances.png"))
    assert Image.open(palette).mode == "P"
    assert isinstance(json.loads(next(p for p in result.files if p.name.endswith("_instances.json")).read_text()),
                      list)
    pose = callbacks.run_task(server, _request(server, image_path, "pose"))
    assert any(p.name.endswith("_keypoints.json") for p in pose.files) and "identities" in pose.notes


def test_extreme_aspect_ratio_note(server, tmp_path):
    wide = tmp_path / "wide.png"
    Image.new("RGB", (300, 40), (200, 100, 50)).save(wide)
    result = callbacks.run_task(server, _request(server, wide, "normal"))
    assert "stretched" in result.notes
    normals = np.load(next(p for p in result.files if p.name.endswith("_normals.npy")))
    assert normals.dtype == np.float32 and normals.shape == (40, 300, 3)
    assert np.allclose(np.linalg.norm(normals, axis=-1), 1.0, atol=1e-3)


def test_all_tasks_zip(server, image_path):
    jobs, run = callbacks.check_all_tasks_request(server, str(image_path), ["depth", "point_segmentation", "pose"],
                                                  "[[5, 5]]", None, 1, 1.0, 0, False)
    result = callbacks.run_all_tasks(server, jobs, run)
    assert [label for _, label in result.gallery] == ["Depth", "Point segmentation", "Human pose"]
    names = _zip_names(result.zip_path)
    assert {"depth_depth16.png", "point_segmentation_mask.png", "pose_keypoints.json",
            "all_tasks_settings.json"} <= names
    assert result.settings["task"] == ["depth", "point_segmentation", "pose"]
    with pytest.raises(gr.Error, match="No tasks"):
        callbacks.check_all_tasks_request(server, str(image_path), [], "[]", None, 1, 1.0, 0, False)
    with pytest.raises(gr.Error, match="No points"):
        callbacks.check_all_tasks_request(server, str(image_path), ["point_segmentation"], "[]", None, 1, 1.0, 0,
                                          False)


def test_compare_needs_clicks_for_sam(server, image_path):
    with pytest.raises(gr.Error, match="No points"):
        callbacks.check_compare_request(server, str(image_path), callbacks.COMPARE_SAM, "[]", 1, 1.0, 0, False)
    with pytest.raises(gr.Error, match="Unknown comparison"):
        callbacks.check_compare_request(server, str(image_path), "nope", "[]", 1, 1.0, 0, False)


def test_compare_depth_with_a_fake_specialist(server, image_path):
    job, kind, run = callbacks.check_compare_request(server, str(image_path), callbacks.COMPARE_DEPTH, "[]", 1, 1.0,
                                                     0, False)

    def fake_runner(job, kind, steps, guidance, seed):
        ours = server.pipeline()(job.image, job.task, num_inference_steps=steps, guidance_scale=guidance, seed=seed)
        return ours, np.linspace(0, 1, job.image.shape[0] * job.image.shape[1], dtype=np.float32).reshape(
            job.image.shape[:2]), {"diception_s": 0.1, "specialist_s": 0.1, "specialist": {"model": {"name": "fake"}}}

    result = callbacks.run_comparison(server, job, kind, run, runner=fake_runner)
    assert result.ours.shape == result.theirs.shape == (48, 80, 3)
    assert result.labels == ("DICEPTION", "Depth Anything") and result.details["specialist"]["model"]["name"] == "fake"


# ---------------------------------------------------------------------------------------------- adapters


def _fake_adapter(folder: Path, task: str = "depth") -> Path:
    folder.mkdir(parents=True)
    (folder / "diception_task.json").write_text(json.dumps({
        "format_version": 1, "base_model": {"id": "tiny", "revision": "x"}, "task": task, "new_task": None,
        "benchmarks": [], "training_data": "", "trained_on_benchmarks": [], "licence": "MIT",
    }))
    return folder


class _FakeStore:
    def __init__(self, folder: Path):
        self.folder = folder

    def submissions_frame(self):
        import pandas as pd

        return pd.DataFrame([{"submission_id": 3, "name": "mine", "task": "depth", "status": "finished"},
                             {"submission_id": 4, "name": "queued", "task": "depth", "status": "pending"}])

    def get_submission(self, submission_id):
        if submission_id == 3:
            return {"name": "mine", "status": "finished", "storage_path": str(self.folder)}
        if submission_id == 4:
            return {"name": "queued", "status": "pending", "storage_path": str(self.folder)}
        raise KeyError(submission_id)


def test_adapter_catalog_lists_local_folders_and_finished_submissions(tmp_path):
    local = _fake_adapter(tmp_path / "adapters" / "sharp-depth")
    (tmp_path / "adapters" / "not-an-adapter").mkdir()
    stored = _fake_adapter(tmp_path / "store" / "ab" / "abcdef")
    catalog = callbacks.AdapterCatalog(tmp_path / "adapters", _FakeStore(stored))
    values = [v for _, v in catalog.choices()]
    assert values == [callbacks.NO_ADAPTER, "local:sharp-depth", "submission:3"]
    assert catalog.resolve("local:sharp-depth")[0] == local
    assert catalog.resolve("submission:3")[0] == stored
    for bad in ("local:../adapters/sharp-depth", "local:not-an-adapter", "submission:4", "submission:99",
                "/etc", "local:.."):
        with pytest.raises(gr.Error, match="Unknown adapter"):
            catalog.resolve(bad)


def test_adapter_catalog_survives_a_broken_store(tmp_path):
    class Broken:
        def submissions_frame(self):
            raise RuntimeError("database is down")

    catalog = callbacks.AdapterCatalog(tmp_path / "missing", Broken())
    assert catalog.choices() == [("none (base model)", callbacks.NO_ADAPTER)]


def test_adapter_request_checks(server, image_path, tmp_path):
    _fake_adapter(tmp_path / "adapters" / "seg", task="point_segmentation")
    catalog = callbacks.AdapterCatalog(tmp_path / "adapters")
    with pytest.raises(gr.Error, match="No adapter"):
        callbacks.check_adapter_request(server, catalog, str(image_path), "", 1.0, "[]", 1, 1.0, 0, False)
    with pytest.raises(gr.Error, match="No points"):
        callbacks.check_adapter_request(server, catalog, str(image_path), "local:seg", 1.0, "[]", 1, 1.0, 0, False)
    with pytest.raises(gr.Error, match="scale"):
        callbacks.check_adapter_request(server, catalog, str(image_path), "local:seg", 3.0, "[[1, 1]]", 1, 1.0, 0,
                                        False)
    request = callbacks.check_adapter_request(server, catalog, str(image_path), "local:seg", 0.5, "[[1, 1]]", 1, 1.0,
                                              0, False)
    # A fixed-task adapter runs its task (typed), with the adapter active.
    assert request.job.task is Task.POINT_SEGMENTATION and request.job.points == [[1, 1]]
    assert request.run.adapter_scale == 0.5 and request.run.adapter.name == "seg"


def _serve_with_adapters(pipe, adapters_dir, monkeypatch):
    """A started server over ``pipe`` with ``adapters_dir`` as its adapters folder, and that folder's catalog."""
    srv = serving.ModelServer(AppSettings(model="tiny", adapters_dir=adapters_dir), loader=lambda _s: pipe)
    srv.start(background=False)
    monkeypatch.setattr(serving, "_SERVER", srv)
    return srv, callbacks.AdapterCatalog(adapters_dir)


def test_adapter_run_end_to_end(fresh_tiny_pipe, image_path, tmp_path, monkeypatch):
    """A new-task adapter from the adapters folder: its prompt and mask decoder are used; then the base model."""
    import torch
    from peft import LoraConfig

    from diception_core.lora import write_adapter_folder

    pipe = fresh_tiny_pipe
    pipe.transformer.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_v"]), adapter_name="mk")
    with torch.no_grad():
        for name, param in pipe.transformer.named_parameters():
            if ".mk." in name or name.endswith(".mk.weight"):
                param.copy_(torch.randn(param.shape, generator=torch.Generator().manual_seed(1)) * 0.5)
    info = {"format_version": 1, "base_model": {"id": "tiny", "revision": "x"}, "task": None,
            "new_task": {"name": "highlight", "prompt": "[[image2depth]]", "encoding": "mask"}, "benchmarks": [],
            "training_data": "", "trained_on_benchmarks": [], "licence": "MIT"}
    write_adapter_folder(pipe.transformer, "mk", tmp_path / "adapters" / "highlight", task_info=info)
    pipe.transformer.delete_adapters("mk")

    srv, catalog = _serve_with_adapters(pipe, tmp_path / "adapters", monkeypatch)
    assert "local:highlight" in [v for _, v in catalog.choices()]
    request = callbacks.check_adapter_request(srv, catalog, str(image_path), "local:highlight", 0.8, "[]", 1, 1.0,
                                              0, False)
    result = callbacks.run_task(srv, request)
    assert any(p.name.endswith("_mask.png") for p in result.files)
    assert result.settings["adapter"] == "highlight (local)" and result.settings["adapter_scale"] == 0.8
    assert result.settings["task"] == "highlight"
    plain = callbacks.run_task(srv, _request(srv, image_path, "depth"))
    assert plain.settings["adapter"] is None and pipe.active_adapter is None


def test_a_finetuned_adapter_folder_is_offered_and_runs(fresh_tiny_pipe, tiny_model_dir, image_path, tmp_path,
                                                        monkeypatch):
    """The fine-tuner's default output, copied as is into the adapters folder, is in the picker and serves its task."""
    import shutil

    from diception_core.finetune.data import make_example
    from diception_core.finetune.train import FinetuneSettings, finetune
    from diception_core.pipeline import DiceptionPipeline

    data = make_example(tmp_path / "data", encoding="mask", n=4, size=64, seed=3)
    settings = FinetuneSettings(
        data=str(data), name="shapes", encoding="mask", prompt="[[image2shape]]", model=str(tiny_model_dir),
        output=str(tmp_path / "run"), steps=1, batch=2, val_split=0.0, val_every=0, checkpoint_every=0,
        prompt_embedding="learn",
    )
    trained = finetune(settings, pipe=DiceptionPipeline.from_pretrained(tiny_model_dir, device="cpu"))
    shutil.copytree(trained.adapter_dir, tmp_path / "adapters" / "shapes")

    srv, catalog = _serve_with_adapters(fresh_tiny_pipe, tmp_path / "adapters", monkeypatch)
    assert "local:shapes" in [v for _, v in catalog.choices()]
    request = callbacks.check_adapter_request(srv, catalog, str(image_path), "local:shapes", 1.0, "[]", 1, 1.0, 0,
                                              False)
    result = callbacks.run_task(srv, request)
    assert result.settings["task"] == "shapes" and result.settings["adapter"] == "shapes (local)"
    assert any(p.name.endswith("_mask.png") for p in result.files)


def test_progress_advances_per_denoising_step(server, monkeypatch):
    calls = []

    class RecordingProgress:
        def __call__(self, progress, desc=None, total=None, unit="steps"):
            calls.append((progress, desc))

    monkeypatch.setattr(gr, "Progress", RecordingProgress)
    image = np.zeros((16, 16, 3), np.uint8)
    jobs = [serving.Job(Task.DEPTH, image), serving.Job(Task.NORMAL, image)]
    outputs = serving.run_jobs(jobs, 2, 1.0, 0, None, 1.0)
    assert len(outputs) == 2
    assert calls == [((1, 4), "Denoising"), ((2, 4), "Denoising"), ((3, 4), "Denoising"), ((4, 4), "Denoising")]


def test_gpu_function_arguments_and_results_pickle(server, image_path):
    """On ZeroGPU the GPU functions run in another process: what crosses the boundary must pickle."""
    import pickle

    request = _request(server, image_path, "semantic_segmentation", category="person")
    args = ([request.job], 1, 1.0, 0, Path("adapters/x"), 1.0)
    assert pickle.loads(pickle.dumps(args))[0][0].category == "person"
    outputs = serving.run_jobs([request.job, serving.Job(Task.POSE, request.job.image)], 1, 1.0, 0, None, 1.0)
    restored = pickle.loads(pickle.dumps(outputs))
    assert restored[0].settings == outputs[0].settings
    assert np.array_equal(restored[1].predictions[0].rgb, outputs[1].predictions[0].rgb)


def test_compare_with_the_tiny_depth_anything(server, image_path):
    job, kind, run = callbacks.check_compare_request(server, str(image_path), callbacks.COMPARE_DEPTH, "[]", 1, 1.0,
                                                     0, False)
    result = callbacks.run_comparison(server, job, kind, run)
    assert result.ours.shape == result.theirs.shape == (48, 80, 3) and result.theirs.dtype == np.uint8
    assert result.details["specialist"]["model"]["name"] == "Depth Anything"
    assert result.details["specialist_s"] >= 0 and result.details["diception"]["steps"] == 1


def test_building_the_page_imports_no_torch(tmp_path):
    """The page must be served within seconds: torch (and the model) load after it, in the background."""
    import os
    import subprocess
    import sys

    code = ("import sys, app\n"
            "from diception_app.settings import AppSettings\n"
            "app.build_demo(AppSettings(model='tiny'), store=None)\n"
            "print('torch' in sys.modules, 'diffusers' in sys.modules)\n")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "GRADIO_EXAMPLES_CACHE": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False False"


def test_the_app_opens_one_store_and_hands_it_down(tmp_path, monkeypatch):
    import app
    from diception_app.serving import configure
    from diception_app.settings import AppSettings
    from leaderboard import store as store_module

    monkeypatch.setenv("DICEPTION_LEADERBOARD_DB", str(tmp_path / "board.db"))
    store = app.open_leaderboard_store()
    assert isinstance(store, store_module.Store)

    def second_store(*args, **kwargs):
        raise AssertionError("a second Store was opened")

    monkeypatch.setattr(store_module.Store, "__init__", second_store)
    settings = AppSettings(model="tiny", adapters_dir=tmp_path / "adapters")
    demo = app.build_demo(settings, server=configure(settings), store=store)
    assert demo.diception_context.adapters.store is store
    store.close()


def test_an_unopenable_store_disables_only_the_leaderboard(tmp_path, monkeypatch):
    import app

    (tmp_path / "file").write_text("not a folder")
    monkeypatch.setenv("DICEPTION_LEADERBOARD_DB", str(tmp_path / "file" / "board.db"))
    assert app.open_leaderboard_store() is None
