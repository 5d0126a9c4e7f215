"""``python -m evaluation list`` runs in a fresh interpreter and prints the registry."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO_ROOT
from tests.diception_spec.test_benchmarks import SA23


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "evaluation", *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120
    )


def test_list_prints_every_benchmark() -> None:
    proc = _run("list")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for name, images, masks in SA23:
        assert f"\n{name}  (v1" in out
        assert f"samples: {masks} masks in {images} images" in out
    assert f"samples: {sum(m for _, _, m in SA23)} masks" in out  # sa23
    for header in ("== point_segmentation ==", "== depth ==", "== normal ==", "== pose =="):
        assert header in out
    assert "crop eigen_nyu" in out and "frame x_left_y_up_z_viewer" in out
    assert "licence: CC0 1.0" in out and "[not ranked]" in out


def test_list_json_and_task_filter() -> None:
    proc = _run("list", "--task", "depth", "--json")
    assert proc.returncode == 0, proc.stderr
    specs = json.loads(proc.stdout)
    assert {s["id"] for s in specs} == {"nyuv2", "kitti", "eth3d", "scannet", "diode", "sintel", "synthetic"}
    assert all(s["task"] == "depth" for s in specs)


def test_unknown_task_fails_with_the_known_ones() -> None:
    proc = _run("list", "--task", "sound")
    assert proc.returncode == 2
    assert "known tasks" in proc.stderr


def test_run_without_benchmarks_is_a_usage_error() -> None:
    proc = _run("run", "--model", "diception")
    assert proc.returncode == 2 and "--benchmarks" in proc.stderr


def test_prepare_is_wired_to_run_prepare(monkeypatch, caplog) -> None:
    import evaluation.data.prepare as prepare_module
    from evaluation.__main__ import main

    calls = []

    class FakeManifest:
        samples = [1, 2]
        failures: list = []

    def fake_run_prepare(name, source, dest, **options):
        calls.append((name, source, dest, options))
        return FakeManifest()

    monkeypatch.setattr(prepare_module, "run_prepare", fake_run_prepare)
    argv = ["prepare", "depth/kitti", "--source", "/src", "--dest", "/dst", "--option", "scale=256",
            "--option", "annotations=a.json", "--overwrite"]
    assert main(argv) == 0
    name, source, dest, options = calls[0]
    assert (name, source, dest) == ("depth/kitti", "/src", "/dst")
    assert options["scale"] == 256 and options["annotations"] == "a.json" and options["overwrite"] is True
    assert options["seed"] == 0 and options["task"] is None
