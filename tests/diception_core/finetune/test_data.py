"""Fine-tuning data folders: loading each target encoding, and clear errors naming the file for bad folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from diception_core.finetune.__main__ import main
from diception_core.finetune.data import (
    MIN_PAIRS,
    DataError,
    find_pairs,
    load_dataset,
    make_example,
    split_validation,
)


def _pairs(folder: Path, n: int = 4, size: int = 16) -> Path:
    (folder / "images").mkdir(parents=True)
    (folder / "targets").mkdir(parents=True)
    for i in range(n):
        Image.fromarray(np.full((size, size, 3), 40 * i, np.uint8)).save(folder / "images" / f"p{i}.png")
        mask = np.zeros((size, size), np.uint8)
        mask[4:10, 3 + i : 9 + i] = 255
        Image.fromarray(mask).save(folder / "targets" / f"p{i}.png")
    return folder


@pytest.mark.parametrize("encoding", ["mask", "depth", "normal", "rgb"])
def test_make_example_loads_for_every_encoding(tmp_path: Path, encoding: str) -> None:
    folder = make_example(tmp_path / encoding, encoding=encoding, n=4, size=32, seed=1)
    samples = load_dataset(folder, encoding)
    assert len(samples) == 4
    for sample in samples:
        assert sample.image.shape == (32, 32, 3) and sample.image.dtype == np.uint8
        assert sample.target_rgb.shape == (32, 32, 3) and sample.target_rgb.dtype == np.float32
        assert sample.target_rgb.min() >= 0.0 and sample.target_rgb.max() <= 1.0
    if encoding == "mask":
        assert samples[0].value.dtype == bool and samples[0].value.any() and samples[0].candidates is not None
    if encoding == "normal":
        norms = np.linalg.norm(samples[0].value, axis=2)
        np.testing.assert_allclose(norms[samples[0].valid], 1.0, atol=1e-5)


def test_depth_is_inverted_to_min_max_disparity(tmp_path: Path) -> None:
    folder = _pairs(tmp_path / "d")
    depth = np.array([[1000, 2000], [4000, 0]], np.uint16)  # millimetres; 0 = no measurement
    for i in range(4):
        Image.fromarray(np.zeros((2, 2, 3), np.uint8)).save(folder / "images" / f"p{i}.png")
        (folder / "targets" / f"p{i}.png").unlink()
        Image.fromarray(depth).save(folder / "targets" / f"p{i}.png")
    sample = load_dataset(folder, "depth")[0]
    np.testing.assert_allclose(sample.value[sample.valid], [1 / 1000, 1 / 2000, 1 / 4000], rtol=1e-6)
    assert not sample.valid[1, 1]
    # disparity 1/1000 is the nearest -> 1; 1/4000 the farthest -> 0; invalid encodes as far (0)
    expected = np.array([[1.0, (1 / 2000 - 1 / 4000) / (1 / 1000 - 1 / 4000)], [0.0, 0.0]], np.float32)
    np.testing.assert_allclose(sample.target_rgb[..., 0], expected, atol=1e-6)
    as_disparity = load_dataset(folder, "depth", depth_kind="disparity")[0]
    np.testing.assert_allclose(as_disparity.target_rgb[0, 0, 0], 0.0)  # as disparity, 1000 is the smallest: far
    np.testing.assert_allclose(as_disparity.target_rgb[1, 0, 0], 1.0)


def test_manifest_with_points(tmp_path: Path) -> None:
    folder = _pairs(tmp_path / "m")
    entries = [{"image": f"images/p{i}.png", "target": f"targets/p{i}.png", "points": [[5, 6]]} for i in range(4)]
    (folder / "manifest.json").write_text(json.dumps({"pairs": entries}))
    samples = load_dataset(folder, "mask", needs_points=True)
    np.testing.assert_allclose(samples[0].points, [[5 / 16, 6 / 16]])
    (folder / "manifest.json").unlink()
    (folder / "manifest.jsonl").write_text("\n".join(json.dumps(e) for e in entries))
    assert len(find_pairs(folder)) == 4


def test_missing_pairs_name_the_files(tmp_path: Path) -> None:
    folder = _pairs(tmp_path / "x", n=5)
    (folder / "targets" / "p1.png").unlink()
    shutil.copy(folder / "targets" / "p2.png", folder / "targets" / "orphan.png")
    with pytest.raises(DataError) as err:
        find_pairs(folder)
    assert "images/p1.png: no target" in str(err.value)
    assert "targets/orphan.png: no image" in str(err.value)


def test_size_mismatch_names_both_files(tmp_path: Path) -> None:
    folder = _pairs(tmp_path / "s")
    Image.fromarray(np.zeros((8, 12), np.uint8)).save(folder / "targets" / "p2.png")
    with pytest.raises(DataError, match=r"targets/p2.png: size 12x8 does not match its image images/p2.png \(16x16\)"):
        load_dataset(folder, "mask")


def test_unreadable_files_are_named(tmp_path: Path) -> None:
    folder = _pairs(tmp_path / "u")
    (folder / "images" / "p0.png").write_bytes(b"not a png")
    (folder / "targets" / "p3.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DataError) as err:
        load_dataset(folder, "mask")
    message = str(err.value)
    assert "2 problem(s)" in message and "images/p0.png: unreadable image" in message
    assert "targets/p3.png: unreadable target" in message


def test_too_few_pairs_and_missing_folders(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=f"found 3 pair\\(s\\); at least {MIN_PAIRS} are needed"):
        find_pairs(_pairs(tmp_path / "few", n=3))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="images/: missing"):
        find_pairs(tmp_path / "empty")
    with pytest.raises(DataError, match="no such directory"):
        find_pairs(tmp_path / "nowhere")


def test_manifest_errors(tmp_path: Path) -> None:
    folder = _pairs(tmp_path / "bad")
    (folder / "manifest.json").write_text(json.dumps([{"image": "images/p0.png", "target": "targets/zz.png"},
                                                      {"image": "images/p1.png"}]))
    with pytest.raises(DataError) as err:
        find_pairs(folder)
    assert "target file targets/zz.png does not exist" in str(err.value)
    assert 'entry 1: needs "image" and "target"' in str(err.value)
    (folder / "manifest.json").write_text("{oops")
    with pytest.raises(DataError, match="not valid JSON"):
        find_pairs(folder)


def test_empty_mask_refused_for_point_segmentation(tmp_path: Path) -> None:
    folder = _pairs(tmp_path / "e")
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(folder / "targets" / "p1.png")
    assert len(load_dataset(folder, "mask")) == 4  # fine for a mask task without clicks
    with pytest.raises(DataError, match="targets/p1.png: the mask is empty"):
        load_dataset(folder, "mask", needs_points=True)


def test_split_validation() -> None:
    train, val = split_validation(10, 0.1, seed=0)
    assert len(val) == 1 and sorted(train + val) == list(range(10))
    assert split_validation(10, 0.1, seed=0) == (train, val)
    assert split_validation(4, 0.0, seed=0) == ([0, 1, 2, 3], [])
    with pytest.raises(ValueError, match="val_split"):
        split_validation(4, 1.0, seed=0)


def test_cli_make_example_and_bad_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["make-example", str(tmp_path / "ex"), "--n", "4", "--size", "32", "--encoding", "depth"]) == 0
    assert len(list((tmp_path / "ex" / "targets").iterdir())) == 4
    (tmp_path / "bad").mkdir()
    code = main(["--data", str(tmp_path / "bad"), "--name", "x", "--task", "depth", "--output", str(tmp_path / "o")])
    assert code == 2 and "images/: missing" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--data", str(tmp_path / "ex"), "--name", "x"])  # neither --task nor --new-task
