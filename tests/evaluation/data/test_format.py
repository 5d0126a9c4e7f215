"""The prepared format: manifest schema round trip, atomic writes, checksums, subsampling, frames."""

from __future__ import annotations

import json

import numpy as np
import pytest

from diception_spec.tasks import Task
from evaluation.data.format import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    Failure,
    Manifest,
    ManifestError,
    SampleEntry,
    atomic_copy,
    atomic_save_npy,
    atomic_write_json,
    parse_family,
    safe_sample_id,
    sha256_file,
    subsample_by_images,
)


def _manifest() -> Manifest:
    entry = SampleEntry(
        "img_1", 4, 6,
        files={"image": "images/img_1.png", "masks": "masks/img_1.json"},
        sha256={"images/img_1.png": "a" * 64, "masks/img_1.json": "b" * 64},
        extra={"mask_ids": ["3", "7"], "mask_areas": [5, 2]},
    )
    return Manifest(
        family=Task.POINT_SEGMENTATION, benchmark="PPDLS", spec_version="2", converter="instance_id_png",
        source={"path": "/data/ppdls", "description": "instance-id PNG"}, samples=[entry],
        failures=[Failure("img_2", "missing file: labels/img_2.png")],
        subsampling=None, converter_options={"ignore_ids": (0,)}, created_utc="2026-11-28T00:00:00+00:00",
    )


def test_manifest_schema_and_round_trip(tmp_path) -> None:
    manifest = _manifest()
    manifest.write(tmp_path)
    obj = json.loads((tmp_path / MANIFEST_NAME).read_text())
    assert obj["format"] == "diception-prepared" and obj["format_version"] == FORMAT_VERSION
    assert obj["family"] == "point_segmentation" and obj["benchmark"] == "PPDLS" and obj["spec_version"] == "2"
    assert obj["counts"] == {"samples": 1, "failures": 1, "masks": 2}
    assert obj["samples"][0]["files"]["masks"] == "masks/img_1.json"
    assert obj["samples"][0]["mask_areas"] == [5, 2]
    assert obj["failures"] == [{"id": "img_2", "reason": "missing file: labels/img_2.png"}]
    assert obj["converter_options"] == {"ignore_ids": [0]}
    back = Manifest.read(tmp_path)
    assert back.to_json() == obj
    assert back.samples[0].extra["mask_ids"] == ["3", "7"]


def test_manifest_rejects_other_versions_and_missing_folder(tmp_path) -> None:
    obj = _manifest().to_json()
    with pytest.raises(ManifestError, match="format_version"):
        Manifest.from_json({**obj, "format_version": FORMAT_VERSION + 1})
    with pytest.raises(ManifestError, match="format"):
        Manifest.from_json({**obj, "format": "something-else"})
    with pytest.raises(ManifestError):
        Manifest.from_json({k: v for k, v in obj.items() if k != "samples"})
    with pytest.raises(FileNotFoundError, match="manifest.json"):
        Manifest.read(tmp_path)


def test_atomic_writers_leave_no_temporaries_and_return_checksums(tmp_path) -> None:
    sha_json = atomic_write_json(tmp_path / "a" / "x.json", {"k": 1})
    sha_npy = atomic_save_npy(tmp_path / "b" / "y.npy", np.arange(6, dtype=np.float32).reshape(2, 3))
    sha_copy = atomic_copy(tmp_path / "a" / "x.json", tmp_path / "c" / "z.json")
    assert sha_json == sha256_file(tmp_path / "a" / "x.json") == sha_copy
    assert sha_npy == sha256_file(tmp_path / "b" / "y.npy")
    np.testing.assert_array_equal(np.load(tmp_path / "b" / "y.npy"), [[0, 1, 2], [3, 4, 5]])
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_copies_of_read_only_sources_are_ordinary_files(tmp_path) -> None:
    source = tmp_path / "source.png"
    source.write_bytes(b"png bytes")
    source.chmod(0o444)  # the shared fixtures are read-only
    atomic_copy(source, tmp_path / "out" / "copy.png")
    mode = (tmp_path / "out" / "copy.png").stat().st_mode
    assert mode & 0o600 == 0o600  # the owner can replace or delete it, as with any new file


def test_subsampling_is_deterministic_recorded_and_by_whole_images() -> None:
    counts = [(f"img_{i:03d}", 1 + i % 7) for i in range(400)]  # 57 cycles of 1..7 (28 each) + 1 = 1 597 masks
    kept_a, record_a = subsample_by_images(counts, seed=0, max_masks=1500, target_masks=1000)
    kept_b, record_b = subsample_by_images(list(reversed(counts)), seed=0, max_masks=1500, target_masks=1000)
    kept_c, _ = subsample_by_images(counts, seed=1, max_masks=1500, target_masks=1000)
    assert sorted(kept_a) == sorted(kept_b)  # listing order does not matter
    assert record_a == record_b
    assert set(kept_a) != set(kept_c)  # the seed does
    by_id = dict(counts)
    kept_masks = sum(by_id[i] for i in kept_a)
    assert 1000 <= kept_masks < 1000 + 7  # stops at the first image that reaches the target
    assert record_a == {
        "method": "random-images",
        "rng": record_a["rng"],
        "seed": 0,
        "max_masks": 1500,
        "target_masks": 1000,
        "original_images": 400,
        "original_masks": 1597,
        "kept_images": len(kept_a),
        "kept_masks": kept_masks,
    }
    assert kept_a == [i for i, _ in counts if i in set(kept_a)]  # original order kept


def test_no_subsampling_at_or_below_the_threshold() -> None:
    counts = [("a", 10), ("b", 5)]
    assert subsample_by_images(counts, seed=0, max_masks=15, target_masks=10) == (["a", "b"], None)
    with pytest.raises(ValueError, match="max_masks"):
        subsample_by_images(counts, seed=0, max_masks=0)


def test_families() -> None:
    assert parse_family("depth") is Task.DEPTH
    with pytest.raises(ValueError, match="known families"):
        parse_family("pose")


def test_safe_sample_id() -> None:
    assert safe_sample_id("val/frankfurt 01.png") == "val_frankfurt_01.png"
    with pytest.raises(ValueError, match="sample id"):
        safe_sample_id("///")
