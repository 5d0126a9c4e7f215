"""Prediction-file submissions: good uploads pass and are queued in a real Store; each crafted bad one is refused
before anything is stored, with a precise reason. No torch; pickles are written here but never loaded."""

from __future__ import annotations

import json
import os
import pickle
import stat
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from PIL import Image

from diception_spec.benchmarks import benchmark_order
from leaderboard import prediction_files as p
from leaderboard import ui
from leaderboard.prediction_files import PredictionsRefused
from leaderboard.settings import Settings
from leaderboard.store import DuplicateSubmission, Store
from leaderboard.submit import SubmissionError, SubmissionForm, SubmitConfig, submit_predictions
from tests.conftest import REPO_ROOT

SA23_CSV = REPO_ROOT.parent / "shared" / "reference" / "sam23_datasets.csv"


def write_predictions(folder: Path, task: str = "depth", *, meta: dict | None = None, n: int = 2) -> Path:
    """A valid prediction folder for ``task`` (n samples); ``meta`` overrides predictions.json keys (None drops)."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    benchmarks = {"depth": ["nyuv2"], "normal": ["nyuv2"]}.get(task, ["sa23"])
    data = {"format_version": 1, "task": task, "benchmarks": benchmarks}
    if task == "depth":
        data["depth_kind"] = "disparity"
    for key, value in (meta or {}).items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = value
    (folder / p.PREDICTIONS_FILE).write_text(json.dumps(data))
    for i in range(n):
        if task == "depth":
            (folder / "depth").mkdir(exist_ok=True)
            np.save(folder / "depth" / f"s{i}.npy", rng.random((6, 8)).astype(np.float32))
        elif task == "normal":
            (folder / "normal").mkdir(exist_ok=True)
            normals = rng.normal(size=(6, 8, 3))
            np.save(folder / "normal" / f"s{i}.npy", (normals / np.linalg.norm(normals, axis=-1, keepdims=True)))
        elif task == "point_segmentation":
            sample = folder / "masks" / f"img_{i}"
            sample.mkdir(parents=True, exist_ok=True)
            Image.fromarray((rng.random((6, 8)) > 0.5).astype(np.uint8) * 255).save(sample / "0.png")
            np.save(sample / "1.npy", rng.random((6, 8)) > 0.5)
    return folder


def zip_tree(folder: Path, zip_path: Path, *, prefix: str = "") -> Path:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                zf.write(f, prefix + f.relative_to(folder).as_posix())
    return zip_path


def refused(match: str):
    return pytest.raises(PredictionsRefused, match=match)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(f"sqlite:///{tmp_path}/lb.db", seed=False, settings=Settings(daily_quota=100)) as s:
        yield s


@pytest.fixture
def config(tmp_path: Path) -> SubmitConfig:
    return SubmitConfig(storage_root=tmp_path / "submissions")


def submit_zip(store: Store, config: SubmitConfig, zip_path: Path, **form: object):
    form = {"name": "my model", **form}
    return submit_predictions(store, SubmissionForm(upload=(str(zip_path),), kind="predictions", **form),
                              submitter="ann", config=config)  # fmt: skip


# --------------------------------------------------------------------------------------------- passing


@pytest.mark.parametrize("task", ["depth", "normal", "point_segmentation"])
def test_good_upload_is_queued_as_predictions(tmp_path: Path, store: Store, config: SubmitConfig, task: str) -> None:
    upload = zip_tree(write_predictions(tmp_path / "pred", task), tmp_path / "pred.zip", prefix="my_preds/")
    receipt = submit_zip(store, config, upload, description="a model", trained_on_benchmarks=("kitti",))
    sub = store.get_submission(receipt.submission_id)
    assert sub["kind"] == "predictions" and sub["status"] == "pending" and sub["task"] == task
    assert sub["content_hash"] == receipt.content_hash and sub["storage_path"] == str(receipt.storage_path)
    assert sub["trained_on_benchmarks"] == ["kitti"]
    stored = Path(sub["storage_path"])
    assert (stored / p.PREDICTIONS_FILE).is_file() and (stored / p.TASK_FOLDERS[task]).is_dir()
    assert not (config.storage_root / ".staging").exists()  # staging removed
    meta = sub["metadata"]
    assert meta["num_samples"] == 2 and meta["num_files"] == (4 if task == "point_segmentation" else 2)
    assert meta["predictor_options"] == p.predictor_options(meta)
    if task == "depth":
        assert meta["predictor_options"]["depth_kind"] == "disparity"
    # The stored folder re-validates in place (what the worker reads as storage_path).
    again = p.validate_predictions_folder(stored)
    assert again.content_hash == receipt.content_hash


def test_options_from_predictions_json(tmp_path: Path) -> None:
    folder = write_predictions(tmp_path / "n", "normal", meta={"normal_frame": "dsine"})
    assert p.validate_predictions_folder(folder).predictor_options()["normal_frame"] == "x_left_y_up_z_viewer"
    folder = write_predictions(tmp_path / "d", "depth", meta={"depth_kind": "depth", "depth_scale": 256})
    assert p.validate_predictions_folder(folder).predictor_options() == {
        "depth_kind": "depth", "depth_scale": 256.0, "normal_frame": "x_right_y_up_z_viewer"}  # fmt: skip


def test_float16_npy_and_16bit_depth_png_pass(tmp_path: Path) -> None:
    folder = write_predictions(tmp_path / "d", "depth", n=0)
    (folder / "depth").mkdir()
    np.save(folder / "depth" / "a.npy", np.ones((4, 4), np.float16))
    Image.fromarray(np.full((4, 4), 1234, np.uint16)).save(folder / "depth" / "b.png")
    result = p.validate_predictions_folder(folder)
    assert result.dtypes == ("float16", "png") and result.num_samples == 2


def test_one_bit_and_zero_one_masks_pass(tmp_path: Path) -> None:
    folder = write_predictions(tmp_path / "s", "point_segmentation")
    Image.fromarray(np.eye(6, 8, dtype=bool)).convert("1").save(folder / "masks" / "img_0" / "2.png")
    Image.fromarray(np.eye(6, 8, dtype=np.uint8)).save(folder / "masks" / "img_0" / "3.png")
    np.save(folder / "masks" / "img_1" / "2.npy", np.eye(6, 8, dtype=np.float32))
    assert p.validate_predictions_folder(folder).num_files == 7


def test_a_folder_upload_is_copied(tmp_path: Path) -> None:
    folder = write_predictions(tmp_path / "pred", "depth")
    result = p.validate_predictions_upload([folder], tmp_path / "dest")
    assert result.root == tmp_path / "dest" and (tmp_path / "dest" / "depth" / "s0.npy").is_file()


def test_public_benchmarks_follow_ids_md() -> None:
    assert len(benchmark_order("point_segmentation")) == 24
    if SA23_CSV.is_file():
        names = [line.split(",")[0] for line in SA23_CSV.read_text().splitlines()[1:] if line.strip()]
        assert benchmark_order("point_segmentation") == ("sa23", *names)
    assert {t.value for t in p.TASK_FOLDERS} == {"depth", "normal", "point_segmentation"}


# --------------------------------------------------------------------------------------------- refusals


def test_path_traversal_zip_is_refused(tmp_path: Path) -> None:
    zip_path = tmp_path / "evil.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("predictions.json", "{}")
        zf.writestr("depth/../../evil.npy", b"x")
    with refused(r"'\.\.' path components"):
        p.validate_predictions_upload([zip_path], tmp_path / "dest")
    assert not (tmp_path / "evil.npy").exists()


def test_absolute_path_zip_is_refused(tmp_path: Path) -> None:
    zip_path = tmp_path / "abs.zip"
    with zipfile.ZipFile(zip_path, "w") as zf:
        zf.writestr("/etc/depth/a.npy", b"x")
    with refused("absolute paths"):
        p.validate_predictions_upload([zip_path], tmp_path / "dest")


def test_symlink_zip_entry_is_refused(tmp_path: Path) -> None:
    zip_path = zip_tree(write_predictions(tmp_path / "pred"), tmp_path / "link.zip")
    with zipfile.ZipFile(zip_path, "a") as zf:
        info = zipfile.ZipInfo("depth/s9.npy")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    with refused("symbolic links"):
        p.validate_predictions_upload([zip_path], tmp_path / "dest")


def test_symlink_in_a_folder_is_refused(tmp_path: Path) -> None:
    folder = write_predictions(tmp_path / "pred")
    os.symlink(folder / "depth" / "s0.npy", folder / "depth" / "s9.npy")
    with refused("links are refused"):
        p.validate_predictions_folder(folder)


def test_too_many_entries_and_zip_bomb_are_refused(tmp_path: Path) -> None:
    upload = zip_tree(write_predictions(tmp_path / "pred", n=3), tmp_path / "pred.zip")
    with refused("entries; at most 3"):
        p.validate_predictions_upload([upload], tmp_path / "d1", max_files=3)
    with refused("expands to"):
        p.validate_predictions_upload([upload], tmp_path / "d2", max_bytes=500)


def test_object_dtype_npy_is_refused_without_loading_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = write_predictions(tmp_path / "pred")
    np.save(folder / "depth" / "s0.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)

    def no_load(*args: object, **kwargs: object) -> None:
        raise AssertionError("np.load must not be reached for an object array")

    monkeypatch.setattr(p.np, "load", no_load)
    with refused(r"depth/s0\.npy: holds Python objects"):
        p.validate_predictions_folder(folder)


@pytest.mark.parametrize("name", ["depth/s9.npz", "model.pkl", "depth/s9.pt", "weights.pth"])
def test_pickle_files_are_refused_by_name(tmp_path: Path, name: str) -> None:
    folder = write_predictions(tmp_path / "pred")
    (folder / name).write_bytes(pickle.dumps({"x": 1}))
    with refused("pickle-type files are refused"):
        p.validate_predictions_folder(folder)


def test_a_pickle_named_npy_is_refused(tmp_path: Path) -> None:
    folder = write_predictions(tmp_path / "pred")
    (folder / "depth" / "s0.npy").write_bytes(pickle.dumps(np.zeros((2, 2))))
    with refused("pickle protocol"):
        p.validate_predictions_folder(folder)


def test_unknown_paths_are_refused(tmp_path: Path) -> None:
    folder = write_predictions(tmp_path / "pred")
    (folder / "notes.txt").write_text("hi")
    with refused("unexpected path"):
        p.validate_predictions_folder(folder)
    (folder / "notes.txt").unlink()
    with (folder / "depth" / "s2.NPY").open("wb") as fh:  # np.save would append .npy to the name
        np.save(fh, np.zeros((6, 8), np.float32))
    with refused("must end in"):
        p.validate_predictions_folder(folder)


def test_the_same_prediction_twice_is_refused(tmp_path: Path) -> None:
    folder = write_predictions(tmp_path / "pred")
    Image.fromarray(np.zeros((6, 8), np.uint16)).save(folder / "depth" / "s0.png")
    with refused("same prediction"):
        p.validate_predictions_folder(folder)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_refused(tmp_path: Path, bad: float) -> None:
    folder = write_predictions(tmp_path / "pred")
    array = np.ones((6, 8), np.float32)
    array[2, 3] = bad
    np.save(folder / "depth" / "s1.npy", array)
    with refused(r"depth/s1\.npy: holds non-finite values"):
        p.validate_predictions_folder(folder)


def test_wrong_ndim_and_dtype_are_refused(tmp_path: Path) -> None:
    folder = write_predictions(tmp_path / "pred")
    np.save(folder / "depth" / "s1.npy", np.ones((6, 8, 3), np.float32))
    with refused(r"shape \[6, 8, 3\] \(ndim 3\); expected \[H, W\]"):
        p.validate_predictions_folder(folder)
    np.save(folder / "depth" / "s1.npy", np.ones((6, 8), np.int32))
    with refused("dtype int32"):
        p.validate_predictions_folder(folder)
    folder = write_predictions(tmp_path / "normal", "normal")
    np.save(folder / "normal" / "s0.npy", np.ones((6, 8), np.float32))
    with refused(r"expected \[H, W, 3\]"):
        p.validate_predictions_folder(folder)


def test_truncated_npy_is_refused(tmp_path: Path) -> None:
    folder = write_predictions(tmp_path / "pred")
    path = folder / "depth" / "s0.npy"
    path.write_bytes(path.read_bytes()[:-8])
    with refused("truncated"):
        p.validate_predictions_folder(folder)


def test_non_binary_masks_are_refused(tmp_path: Path) -> None:
    folder = write_predictions(tmp_path / "pred", "point_segmentation")
    Image.fromarray(np.arange(48, dtype=np.uint8).reshape(6, 8)).save(folder / "masks" / "img_0" / "0.png")
    with refused(r"masks/img_0/0\.png: is not a binary mask"):
        p.validate_predictions_folder(folder)
    folder = write_predictions(tmp_path / "pred2", "point_segmentation")
    np.save(folder / "masks" / "img_1" / "1.npy", np.full((6, 8), 0.5, np.float32))
    with refused("is not a binary mask"):
        p.validate_predictions_folder(folder)
    folder = write_predictions(tmp_path / "pred3", "point_segmentation")
    Image.fromarray(np.zeros((6, 8, 3), np.uint8)).save(folder / "masks" / "img_0" / "0.png")
    with refused("PNG mode 'RGB'; mask PNGs must be 1-bit or 8-bit grayscale"):
        p.validate_predictions_folder(folder)


def test_masks_of_one_sample_must_share_a_shape(tmp_path: Path) -> None:
    folder = write_predictions(tmp_path / "pred", "point_segmentation")
    np.save(folder / "masks" / "img_0" / "1.npy", np.zeros((5, 8), bool))
    with refused("other masks of img_0"):
        p.validate_predictions_folder(folder)


@pytest.mark.parametrize(
    ("meta", "match"),
    [
        ({"benchmarks": ["my_dataset"]}, "'my_dataset' is not a public depth benchmark"),
        ({"benchmarks": ["nyuv2:train"]}, "names a split"),
        ({"benchmarks": ["sa23"]}, "not a public depth benchmark"),
        ({"benchmarks": []}, "non-empty list"),
        ({"split": "val"}, "splits cannot be chosen"),
        ({"task": "segmentation"}, "is not a task id"),
        ({"task": "pose"}, "can be scored for depth, normal, point_segmentation only"),
        ({"depth_kind": None}, "depth_kind must be"),
        ({"depth_scale": -1}, "depth_scale must be a positive number"),
        ({"normal_frame": "x_right_y_up_z_viewer"}, "normal_frame is only for normal"),
        ({"format_version": 2}, "format_version must be 1"),
    ],
)
def test_bad_predictions_json_is_refused(tmp_path: Path, meta: dict, match: str) -> None:
    folder = write_predictions(tmp_path / "pred", "depth", meta=meta)
    with refused(match):
        p.validate_predictions_folder(folder)


def test_task_and_files_must_match(tmp_path: Path) -> None:
    folder = write_predictions(tmp_path / "pred", "depth")
    write_predictions(tmp_path / "n", "normal")
    os.rename(tmp_path / "n" / "normal", folder / "normal")
    with refused(r"normal/ files do not belong to a depth submission"):
        p.validate_predictions_folder(folder)
    folder = write_predictions(tmp_path / "pred2", "normal", n=0)
    with refused("no prediction files: a normal submission needs at least one file in normal/"):
        p.validate_predictions_folder(folder)


def test_empty_uploads_are_refused(tmp_path: Path) -> None:
    zip_path = tmp_path / "empty.zip"
    with zipfile.ZipFile(zip_path, "w"):
        pass
    with refused("the zip is empty"):
        p.validate_predictions_upload([zip_path], tmp_path / "d1")
    with refused("nothing was uploaded"):
        p.validate_predictions_upload([], tmp_path / "d2")
    (tmp_path / "empty").mkdir()
    with refused("the upload is empty"):
        p.validate_predictions_folder(tmp_path / "empty")
    only_meta = write_predictions(tmp_path / "only_meta", n=0)
    with refused("no prediction files"):
        p.validate_predictions_upload([zip_tree(only_meta, tmp_path / "m.zip")], tmp_path / "d3")
    with refused("missing predictions.json"):
        (only_meta / p.PREDICTIONS_FILE).unlink()
        (only_meta / "depth").mkdir()
        np.save(only_meta / "depth" / "a.npy", np.zeros((2, 2), np.float32))
        p.validate_predictions_folder(only_meta)


def test_duplicate_is_refused_by_the_store(tmp_path: Path, store: Store, config: SubmitConfig) -> None:
    upload = zip_tree(write_predictions(tmp_path / "pred"), tmp_path / "pred.zip")
    first = submit_zip(store, config, upload)
    renamed = zip_tree(tmp_path / "pred", tmp_path / "again.zip", prefix="other_name/")  # same files, other zip
    with pytest.raises(DuplicateSubmission):
        submit_zip(store, config, renamed, name="again")
    assert first.storage_path.is_dir()  # the first submission's folder is kept
    assert len(store.submissions_frame()) == 1


def test_refusals_store_nothing(tmp_path: Path, store: Store, config: SubmitConfig) -> None:
    folder = write_predictions(tmp_path / "pred")
    np.save(folder / "depth" / "s0.npy", np.full((6, 8), np.nan, np.float32))
    with refused("non-finite"):
        submit_zip(store, config, zip_tree(folder, tmp_path / "bad.zip"))
    assert len(store.submissions_frame()) == 0
    assert list(config.storage_root.iterdir()) == []  # nothing left: no staging folder, no lock


def test_form_and_files_must_agree(tmp_path: Path, store: Store, config: SubmitConfig) -> None:
    upload = zip_tree(write_predictions(tmp_path / "pred"), tmp_path / "pred.zip")
    with pytest.raises(SubmissionError, match="predictions.json says 'depth'"):
        submit_zip(store, config, upload, task="normal")
    with pytest.raises(PredictionsRefused, match="not a public depth benchmark"):
        submit_zip(store, config, upload, benchmarks=("my_benchmark",))
    with pytest.raises(SubmissionError, match="not in predictions.json's benchmarks"):
        submit_zip(store, config, upload, benchmarks=("kitti",))
    with pytest.raises(SubmissionError, match="not fetched from the Hub"):
        submit_predictions(store, SubmissionForm(name="x", kind="predictions", hub_repo="a/b", hub_revision="0" * 40),
                           submitter="ann", config=config)  # fmt: skip


# --------------------------------------------------------------------------------------------- the UI callback


def test_ui_callback_queues_prediction_files(tmp_path: Path, store: Store, config: SubmitConfig) -> None:
    upload = zip_tree(write_predictions(tmp_path / "pred", "point_segmentation"), tmp_path / "pred.zip")
    args = ["seg model", "desc", "MIT", "none", [], ui.FROM_TASK_FILE, [], ui.SOURCE_HUB, "user/repo", "a" * 40,
            None, None]  # fmt: skip
    form = ui.form_from_inputs(*args, ui.WHAT_PREDICTIONS, str(upload))
    assert form.kind == "predictions" and form.upload == (str(upload),) and form.hub_repo == ""
    ok, message = ui.run_submission(store, config, form, "ann")
    assert ok, message
    assert "self-submitted" in message and "point_segmentation" in message and "2 samples" in message
    table = ui.submissions_table(store, "ann")
    assert table["name"].tolist() == ["seg model"] and table["status"].tolist() == ["pending"]
    ok, message = ui.run_submission(store, config, form, "ann")
    assert not ok and message.startswith("**Refused**") and "already" in message
    bad = write_predictions(tmp_path / "bad", "depth", meta={"benchmarks": ["nyuv2:train"]})
    form = ui.form_from_inputs(*args, ui.WHAT_PREDICTIONS, str(zip_tree(bad, tmp_path / "bad.zip")))
    ok, message = ui.run_submission(store, config, form, "ann")
    assert not ok and message.startswith("**Refused** (prediction files)") and "names a split" in message
    adapter_form = ui.form_from_inputs(*args, ui.WHAT_ADAPTER, str(upload))
    assert adapter_form.kind == "adapter" and adapter_form.hub_repo == "user/repo"


def test_submit_tab_offers_prediction_files(config: SubmitConfig) -> None:
    with gr.Blocks():
        tab = ui.build_submit_tab(None, config=config, space=False)
    assert tab.components["what"].choices == [(ui.WHAT_ADAPTER, ui.WHAT_ADAPTER),
                                              (ui.WHAT_PREDICTIONS, ui.WHAT_PREDICTIONS)]  # fmt: skip
    assert isinstance(tab.components["predictions_zip"], gr.File)


def test_submit_kind_toggles_the_inputs() -> None:
    adapter, predictions = ui.submit_kind_updates(ui.WHAT_PREDICTIONS)
    assert adapter["visible"] is False and predictions["visible"] is True
    adapter, predictions = ui.submit_kind_updates(ui.WHAT_ADAPTER)
    assert adapter["visible"] is True and predictions["visible"] is False


# --------------------------------------------------------------------------------------------- no torch


def test_importing_predictions_pulls_in_no_torch() -> None:
    code = (
        "import sys, leaderboard.prediction_files, leaderboard.submit;"
        "names = ('torch', 'diffusers', 'transformers', 'evaluation', 'diception_core');"
        "heavy = [m for m in names if m in sys.modules];"
        "assert not heavy, heavy"
    )
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
