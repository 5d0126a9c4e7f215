"""Fine-tuning refusals: every model-loading failure is one line and exit 2, a refused run leaves the run folder
byte-identical, and a resumed run logs each step once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from diception_core.finetune.__main__ import main
from diception_core.finetune.data import make_example
from diception_core.finetune.train import FinetuneSettings, finetune, latest_checkpoint
from diception_core.pipeline import DiceptionPipeline


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_example(tmp_path_factory.mktemp("ft") / "shapes", encoding="mask", n=4, size=64, seed=3)


def _cli(data: Path, out: Path, *extra: str) -> list[str]:
    return ["--data", str(data), "--name", "shapes", "--task", "point_segmentation", "--output", str(out),
            "--steps", "2", "--batch", "2", "--rank", "4", "--val-split", "0", "--checkpoint-every", "1", *extra]


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    lines = [line for line in err.splitlines() if line.startswith("error:") or "Traceback" in line]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("nobody/missing", "cannot reach the Hugging Face Hub to fetch nobody/missing"),  # offline in the tests
        ("./no/such/model", "no model folder at ./no/such/model; pass the folder"),
        ("not a repo id", "is neither a local folder nor a Hub repo id"),
    ],
)
def test_model_loading_failures_are_one_line_and_exit_2(data_dir: Path, tmp_path: Path, model: str, expected: str,
                                                         capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    # Issue 12, item 6: an offline Hub id ended in an OfflineError traceback; a missing path reached the Hub.
    assert main(_cli(data_dir, tmp_path / "run", "--model", model)) == 2
    assert expected in _one_line_error(capsys)
    assert not (tmp_path / "run").exists()


def test_the_predict_cli_says_the_same(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from diception_core.cli import main as predict

    image = tmp_path / "x.png"
    image.write_bytes(b"")
    assert predict(["predict", str(image), "--task", "depth", "--model", "./no/such/model", "--out",
                    str(tmp_path / "o")]) == 2  # fmt: skip
    assert "no model folder at ./no/such/model" in _one_line_error(capsys)


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_refused_rerun_leaves_the_run_folder_byte_identical(tiny_model_dir: Path, data_dir: Path, tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    # Issue 12, item 6: a refused rerun overwrote the run's settings.json with the refused settings.
    out = tmp_path / "run"
    assert main(_cli(data_dir, out, "--model", str(tiny_model_dir))) == 0
    before = _snapshot(out)
    assert "settings.json" in before and "metrics.jsonl" in before
    assert main(_cli(data_dir, out, "--model", str(tiny_model_dir), "--lr", "0.5")) == 2  # no --resume
    assert "already holds checkpoints of an earlier run" in _one_line_error(capsys)
    assert main(_cli(data_dir, out, "--model", str(tiny_model_dir), "--lr", "0.5", "--resume")) == 2  # other lr
    assert "different settings (lr: 2e-05 -> 0.5)" in _one_line_error(capsys)
    assert _snapshot(out) == before


def test_a_finished_run_without_checkpoints_is_not_overwritten(tiny_model_dir: Path, data_dir: Path,
                                                               tmp_path: Path) -> None:  # fmt: skip
    out = tmp_path / "run"
    assert main(_cli(data_dir, out, "--model", str(tiny_model_dir), "--checkpoint-every", "0")) == 0
    before = _snapshot(out)
    assert main(_cli(data_dir, out, "--model", str(tiny_model_dir), "--checkpoint-every", "0")) == 2
    assert _snapshot(out) == before


def test_metrics_are_logged_once_per_step_across_a_resume(tiny_model_dir: Path, data_dir: Path,
                                                          tmp_path: Path) -> None:  # fmt: skip
    # Issue 12, item 6: after a kill and --resume, metrics.jsonl logged the step before the kill twice.
    settings = dict(data=str(data_dir), name="shapes", task="point_segmentation", model="tiny",
                    output=str(tmp_path / "run"), rank=4, steps=4, batch=2, lr=1e-2, val_split=0.0, val_every=0,
                    checkpoint_every=2)  # fmt: skip

    class Killed(Exception):
        pass

    def kill(step: int, loss: float) -> None:
        if step == 3:  # logged, not yet checkpointed
            raise Killed

    pipe = DiceptionPipeline.from_pretrained(tiny_model_dir, device="cpu")
    with pytest.raises(Killed):
        finetune(FinetuneSettings(**settings), pipe=pipe, callback=kill)
    assert latest_checkpoint(tmp_path / "run").name == "step-0000002"
    with (tmp_path / "run" / "metrics.jsonl").open("a", encoding="utf-8") as log:
        log.write('{"step": 4, "lo')  # a line the kill cut short
    pipe = DiceptionPipeline.from_pretrained(tiny_model_dir, device="cpu")
    finetune(FinetuneSettings(**settings, resume=True), pipe=pipe)
    lines = (tmp_path / "run" / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    steps = [json.loads(line)["step"] for line in lines]
    assert steps == [1, 2, 3, 4]
