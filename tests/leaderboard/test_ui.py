"""The Leaderboard and Submit tabs: callbacks tested as plain functions (no browser), and the builders construct."""

from __future__ import annotations

import json
import zipfile
from datetime import datetime, timezone
from pathlib import Path

import gradio as gr
import pandas as pd
import pytest

from diception_spec.errors import Refused
from leaderboard import submit, tables, ui
from leaderboard.schema import SUBMISSION_COLUMNS
from leaderboard.submit import SubmissionForm, SubmitConfig
from leaderboard.tables import ViewFilters
from tests.leaderboard.frames import measured_row, reported_models, reported_results
from tests.leaderboard.test_validation import BASE_ID, BASE_REV, TINY, make_adapter


class DuplicateSubmission(Refused):
    """Stands in for leaderboard.store.DuplicateSubmission (a SubmissionRefused, i.e. a Refused)."""


class FakeStore:
    """The Store methods the UI uses, in memory."""

    def __init__(self, results: pd.DataFrame | None = None, models: pd.DataFrame | None = None) -> None:
        self.results = reported_results() if results is None else results
        self.models = reported_models() if models is None else models
        self.updated = datetime(2026, 11, 2, 12, 30, tzinfo=timezone.utc)
        self.loads = 0
        self.created: list[dict] = []

    def results_frame(self) -> pd.DataFrame:
        self.loads += 1
        return self.results

    def models_frame(self) -> pd.DataFrame:
        return self.models

    def last_updated(self) -> datetime:
        return self.updated

    def run_summaries(self, run_ids=None) -> dict:  # noqa: ANN001 - no runs: the seed's reported rows only
        return {}

    def create_submission(self, **kwargs) -> int:
        if any(c["content_hash"] == kwargs["content_hash"] for c in self.created):
            raise DuplicateSubmission("this adapter was already submitted as #1")
        self.created.append(kwargs)
        return len(self.created)

    def submissions_frame(self, submitter: str | None = None) -> pd.DataFrame:
        rows = []
        for i, c in enumerate(self.created, start=1):
            if submitter is None or c["submitter"] == submitter:
                rows.append({"submission_id": i, "name": c["name"], "submitter": c["submitter"], "kind": c["kind"],
                             "task": c["task"], "benchmarks": ",".join(c["benchmarks"]), "status": "pending",
                             "failure_reason": None, "attempts": 0, "created_at": pd.Timestamp("2026-11-02", tz="UTC"),
                             "started_at": pd.NaT, "finished_at": pd.NaT, "estimated_wait_s": 1800.0,
                             "hidden": False, "content_hash": c["content_hash"]})  # fmt: skip
        return pd.DataFrame(rows, columns=list(SUBMISSION_COLUMNS))

    def get_submission(self, submission_id: int) -> dict:
        if not 1 <= submission_id <= len(self.created):
            raise KeyError(submission_id)
        return {"submission_id": submission_id, "status": "finished", **self.created[submission_id - 1]}


class FakeRequest:
    def __init__(self, query: str, referer: str = "http://localhost:7860/?old=1") -> None:
        self.query_params = query
        self.headers = {"referer": referer}


@pytest.fixture()
def config(tmp_path: Path) -> SubmitConfig:
    return SubmitConfig(storage_root=tmp_path / "store", base_model_id=BASE_ID, base_revision=BASE_REV,
                        transformer_config=TINY)  # fmt: skip


def _data(store: FakeStore) -> ui.BoardData:
    return ui.StoreHandle(store).data()


# --------------------------------------------------------------------------------------------- leaderboard


def test_build_view_table_note_downloads_and_share_link(tmp_path: Path) -> None:
    view = ui.build_view(_data(FakeStore()), ViewFilters(task="depth", search="marigold"), base_url="http://h/app",
                         download_dir=tmp_path)  # fmt: skip
    assert view.filters.metric == "absrel" and view.filters.protocol is None
    assert set(view.table["model"]) == {"Marigold"} and "entry_id" not in view.table.columns
    assert "lower is better" in view.note and "1 row shown" in view.note
    assert view.share_link == "http://h/app?task=depth&metric=absrel&search=marigold"
    assert ui.apply_query_params(view.share_link.split("?")[1]) == view.filters
    assert pd.read_csv(view.csv_path)["model"].tolist() == ["Marigold"]
    assert json.loads(Path(view.json_path).read_text())["view"]["task"] == "depth"
    assert view.protocol_choices[0] == ui.ALL_PROTOCOLS and "genpercept-affine" in view.protocol_choices
    assert view.column_choices[:5] == ["kitti", "nyuv2", "scannet", "diode", "eth3d"]
    assert view.updated_text == "Last updated: 2026-11-02 12:30 UTC"
    assert set(view.figures) == set(ui.CHART_KEYS)


def test_unknown_filters_are_normalised() -> None:
    view = ui.build_view(_data(FakeStore()), ViewFilters(task="pose", metric="bogus", protocol="bogus",
                                                         model_types=("alien",), columns=("coco_val2017", "x")),
                         with_charts=False)  # fmt: skip
    f = view.filters
    assert (f.metric, f.protocol, f.model_types, f.columns) == ("ap", None, (), ("coco_val2017",))
    assert view.figures == {}


def test_filters_from_inputs() -> None:
    f = ui.filters_from_inputs("normal", "mean_deg", ui.ALL_PROTOCOLS, None, ["specialist"], None,
                               ["nyuv2", "scannet"], ["nyuv2", "scannet"], None)  # fmt: skip
    assert f == ViewFilters(task="normal", metric="mean_deg", model_types=("specialist",))
    f = ui.filters_from_inputs("nope", "", "stablenormal", "x", [], [], ["nyuv2"], ["nyuv2", "scannet"], ["SAM"])
    assert (f.task, f.protocol, f.columns, f.selected) == (ViewFilters.task, "stablenormal", ("nyuv2",), ("SAM",))
    assert ui.filters_from_inputs("depth", None, None, None, None, None, [], ["kitti"], None).columns is None


def test_store_frames_are_cached_until_last_updated_changes() -> None:
    store = FakeStore()
    handle = ui.StoreHandle(store)
    handle.data()
    handle.data()
    assert store.loads == 1
    store.updated = datetime(2026, 11, 3, tzinfo=timezone.utc)
    handle.data()
    assert store.loads == 2


def test_entry_detail_with_and_without_a_submission() -> None:
    rows = [*reported_results().to_dict(orient="records"), measured_row(entry_id="sub-1", model="x", submission_id=1)]
    results = pd.DataFrame(rows)
    store = FakeStore(results=results)
    store.created.append({"name": "my adapter", "submitter": "ann", "kind": "adapter", "licence": "MIT",
                          "metadata": {"rank": 4, "target_modules": ["to_q"], "dtypes": ["F32"],
                                       "num_parameters": 128, "model_card": "# Card text"},
                          "content_hash": "abc"})  # fmt: skip
    data = _data(store)
    markdown, detail = ui.entry_detail(data, "sub-1", store)
    assert "Submission #1" in markdown and "# Card text" in markdown and "rank 4" in markdown
    assert detail["submission"]["submitter"] == "ann"
    markdown, detail = ui.entry_detail(data, tables.task_table(data.results, "pose").iloc[0]["entry_id"], store)
    assert markdown.startswith("### ViTPose") and "Citation" in markdown and detail["submission"] is None
    assert ui.entry_detail(data, None)[0].startswith("Pick an entry")
    assert ui.entry_detail(data, "nope")[0].startswith("No results")


def test_a_submissions_detail_shows_no_storage_path_or_worker_host() -> None:
    results = pd.DataFrame([measured_row(entry_id="sub-1", model="x", submission_id=1)])
    store = FakeStore(results=results)
    store.created.append({"name": "a", "submitter": "ann", "kind": "adapter", "content_hash": "abc",
                          "storage_path": "/srv/data/submissions/ab/abc", "worker_id": "gpu-host-7-123-deadbeef",
                          "lease_expires_at": "2026-12-07T00:00:00+00:00"})  # fmt: skip
    markdown, detail = ui.entry_detail(_data(store), "sub-1", store)
    shown = markdown + repr(detail)
    assert detail["submission"]["submitter"] == "ann"
    assert "/srv" not in shown and "gpu-host" not in shown and "lease" not in shown


def test_tabs_construct_and_load_reads_the_query(tmp_path: Path, config: SubmitConfig) -> None:
    store = FakeStore()
    with gr.Blocks() as demo, gr.Tabs():
        board = ui.build_leaderboard_tab(store, demo=demo, download_dir=tmp_path)
        sub = ui.build_submit_tab(store, demo=demo, config=config, space=False)
    assert store.loads == 0  # nothing read at build time
    values = board.on_load(FakeRequest("task=normal&provenances=reported&search=dsine"))
    assert len(values) == len(board.load_outputs)
    assert values[:5] == ["normal", "dsine", [], ["reported"], "http://localhost:7860/"]
    html = values[5 + 4]
    assert "DSINE" in html and "Marigold" not in html and html.count('<section class="lb-group">') == 1
    assert values[5 + 7] == "http://localhost:7860/?task=normal&metric=mean_deg&search=dsine&provenances=reported"
    assert "login" not in sub.components and isinstance(sub.components["submitter"], gr.Textbox)


def test_submit_tab_on_a_space_has_a_login_button(monkeypatch: pytest.MonkeyPatch, config: SubmitConfig) -> None:
    # The real LoginButton needs a Hub login outside a Space; its construction is not what is tested here.
    monkeypatch.setattr(ui.gr, "LoginButton", lambda: gr.Button("Sign in with Hugging Face"))
    with gr.Blocks():
        tab = ui.build_submit_tab(FakeStore(), config=config, space=True)
    assert tab.space and "login" in tab.components and isinstance(tab.components["submitter"], gr.State)


# --------------------------------------------------------------------------------------------- submissions


def test_resolve_submitter(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ui.resolve_submitter("hf-user", None, space=True) == "hf-user"
    with pytest.raises(submit.SubmissionError, match="log in"):
        ui.resolve_submitter(None, "typed", space=True)
    assert ui.resolve_submitter(None, " ann ", space=False) == "ann"
    monkeypatch.setenv("DICEPTION_SUBMITTER", "lab")
    assert ui.resolve_submitter(None, "", space=False) == "lab"
    monkeypatch.delenv("DICEPTION_SUBMITTER")
    with pytest.raises(submit.SubmissionError, match="submitter"):
        ui.resolve_submitter(None, "", space=False)


def test_form_from_inputs_keeps_only_the_chosen_source() -> None:
    args = ["n", "d", "MIT", "td", ["nyuv2"], ui.FROM_TASK_FILE, [], None, "user/repo", "a" * 40, "/tmp/a.zip", None]
    hub = ui.form_from_inputs(*args[:7], ui.SOURCE_HUB, *args[8:])
    assert (hub.hub_repo, hub.upload, hub.task) == ("user/repo", (), "")
    up = ui.form_from_inputs(*args[:7], ui.SOURCE_UPLOAD, *args[8:])
    assert (up.hub_repo, up.upload) == ("", ("/tmp/a.zip",))


def test_check_form_refusals() -> None:
    with pytest.raises(submit.SubmissionError, match="name"):
        submit.check_form(SubmissionForm(name=" ", upload=("x.zip",)))
    with pytest.raises(submit.SubmissionError, match="not both"):
        submit.check_form(SubmissionForm(name="a", hub_repo="u/r", hub_revision="a" * 40, upload=("x.zip",)))
    with pytest.raises(submit.SubmissionError, match="40-character commit"):
        submit.check_form(SubmissionForm(name="a", hub_repo="u/r", hub_revision="main"))
    with pytest.raises(submit.SubmissionError, match="not a repo id"):
        submit.check_form(SubmissionForm(name="a", hub_repo="../etc", hub_revision="a" * 40))
    submit.check_form(SubmissionForm(name="a", hub_repo="u/r", hub_revision="A" * 40))


def _zip(folder: Path, path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for f in folder.iterdir():
            zf.write(f, f"my-adapter/{f.name}")
    return path


def test_upload_submission_is_validated_stored_and_queued(tmp_path: Path, config: SubmitConfig) -> None:
    store = FakeStore()
    upload = _zip(make_adapter(tmp_path / "a", task={"trained_on_benchmarks": ["nyuv2"]}), tmp_path / "a.zip")
    form = SubmissionForm(name="my adapter", licence="", trained_on_benchmarks=("kitti",), upload=(str(upload),))
    ok, message = ui.run_submission(store, config, form, "ann")
    assert ok and "Queued** as submission #1" in message and "Estimated wait: ~30 min" in message
    created = store.created[0]
    assert created["task"] == "point_segmentation" and created["benchmarks"] == ["sa23"]
    assert created["trained_on_benchmarks"] == ["nyuv2", "kitti"] and created["licence"] == "MIT"
    assert created["hub_repo"] is None and created["tier"] == "standard"
    stored = Path(created["storage_path"])
    assert stored.parent.parent == config.storage_root and sorted(p.name for p in stored.iterdir()) == [
        "README.md", "adapter_config.json", "adapter_model.safetensors", "diception_task.json"]  # fmt: skip
    assert not (config.storage_root / ".staging").exists()
    table = ui.submissions_table(store, "ann")
    assert table.loc[0, "status"] == "pending" and table.loc[0, "estimated wait"] == "~30 min"
    assert len(ui.submissions_table(store, "bob")) == 0 and len(ui.submissions_table(store, None)) == 0
    # the same adapter again: the store refuses, the stored files stay (they belong to #1)
    ok, message = ui.run_submission(store, config, form, "ann")
    assert not ok and "already submitted" in message and stored.is_dir()


def test_refused_submissions_store_nothing(tmp_path: Path, config: SubmitConfig) -> None:
    store = FakeStore()
    folder = make_adapter(tmp_path / "a", config={"r": 512})
    ok, message = ui.run_submission(store, config, SubmissionForm(name="x", upload=(str(folder),)), "ann")
    assert not ok and "r must be an integer from 1 to 128" in message
    folder = make_adapter(tmp_path / "b")
    form = SubmissionForm(name="x", task="depth", upload=(str(folder),))
    ok, message = ui.run_submission(store, config, form, "ann")
    assert not ok and "the form says 'depth' but diception_task.json says 'point_segmentation'" in message
    assert store.created == [] and list(config.storage_root.iterdir()) == []  # no staging folder, no lock


def test_hub_submission_downloads_only_adapter_files_at_the_commit(tmp_path: Path, config: SubmitConfig) -> None:
    source = make_adapter(tmp_path / "hub")
    calls = []

    def fake_download(**kwargs) -> str:
        calls.append(kwargs)
        dest = Path(kwargs["local_dir"])
        dest.mkdir(parents=True)
        for f in source.iterdir():
            (dest / f.name).write_bytes(f.read_bytes())
        (dest / ".cache").mkdir()  # huggingface_hub's bookkeeping folder is ignored
        return str(dest)

    store = FakeStore()
    form = SubmissionForm(name="hub adapter", hub_repo="ann/adapter", hub_revision="AB" * 20)
    ok, message = ui.run_submission(store, config, form, "ann", download=fake_download)
    assert ok, message
    assert calls[0]["revision"] == "ab" * 20 and calls[0]["repo_id"] == "ann/adapter"
    assert set(calls[0]["allow_patterns"]) == {"adapter_config.json", "adapter_model.safetensors",
                                               "diception_task.json", "task_embedding.safetensors", "README.md"}
    assert store.created[0]["hub_revision"] == "ab" * 20

    def failing_download(**kwargs) -> str:
        raise OSError("offline")

    form = SubmissionForm(name="x", hub_repo="ann/other", hub_revision="c" * 40)
    ok, message = ui.run_submission(store, config, form, "ann", download=failing_download)
    assert not ok and "could not download ann/other@cccccccccccc" in message


def test_submit_config_from_env(tmp_path: Path) -> None:
    cfg = SubmitConfig.from_env({"DICEPTION_SUBMISSIONS_DIR": str(tmp_path), "DICEPTION_BASE_REVISION": "r1"})
    assert cfg.storage_root == tmp_path and cfg.base_revision == "r1" and cfg.base_model_id == "Canyu/DICEPTION"
    assert cfg.transformer_config["num_layers"] == 24
    with pytest.raises(ValueError, match="DICEPTION_DEFAULT_TIER"):
        SubmitConfig.from_env({"DICEPTION_DEFAULT_TIER": "gold"})


def test_with_the_real_store(tmp_path: Path, config: SubmitConfig) -> None:
    store_module = pytest.importorskip("leaderboard.store")
    store = store_module.Store(url=f"sqlite:///{tmp_path / 'lb.db'}")
    view = ui.build_view(ui.StoreHandle(store).data(), ViewFilters(task="point_segmentation"),
                         download_dir=tmp_path, with_charts=False)  # fmt: skip
    assert len(view.table) > 10 and view.filters.metric == "miou_1pt"
    folder = make_adapter(tmp_path / "a")
    ok, message = ui.run_submission(store, config, SubmissionForm(name="real", upload=(str(folder),)), "ann")
    assert ok, message
    assert ui.submissions_table(store, "ann").loc[0, "status"] == "pending"
    ok, message = ui.run_submission(store, config, SubmissionForm(name="again", upload=(str(folder),)), "ann")
    assert not ok and "Refused" in message


def test_hub_submission_too_large_is_refused_before_downloading(tmp_path: Path, config: SubmitConfig) -> None:
    downloads = []

    def fake_sizes(repo_id, revision, paths, token):  # noqa: ANN001
        assert "adapter_model.safetensors" in paths
        return {"adapter_model.safetensors": 400_000_000, "adapter_config.json": 500}

    form = SubmissionForm(name="big", hub_repo="ann/big", hub_revision="d" * 40)
    ok, message = ui.run_submission(FakeStore(), config, form, "ann", download=lambda **kw: downloads.append(kw),
                                    sizes=fake_sizes)  # fmt: skip
    assert not ok and "400,000,500 bytes on the Hub; the limit is 300,000,000" in message and downloads == []
