"""The prepared on-disk format: one folder per benchmark, described by ``manifest.json``.

Layout of a prepared folder (paths in the manifest are relative to it, always with ``/``)::

    manifest.json          written last, atomically: a folder without it is an unfinished run
    images/<id><ext>       the source image, byte for byte
    masks/<id>.json        point segmentation: the image's masks as COCO compressed RLE
    depth/<id>.npy|.png    depth: float32 metres (``npy``) or the source uint16 PNG kept with its scale (``png_u16``)
    valid/<id>.npy         bool [H, W]: depth, when validity is more than "depth > 0" (DIODE's mask); normal ``npy``
    normal/<id>.npy|.png   normal: float32 [H, W, 3] unit vectors (``npy``) or the source 8-bit PNG (``png_u8``,
                           valid where R+G+B > 0), in the manifest's ``normal_frame``

Validity here is the source's own (a measurement exists); benchmark rules (depth ranges, Eigen / KB crops) are
applied at evaluation time from the benchmark spec, so one prepared folder serves every protocol.

Manifest schema (``format_version`` 1)::

    {
      "format": "diception-prepared", "format_version": 1,
      "family": "point_segmentation" | "depth" | "normal",       # a task id of IDS.md
      "benchmark": "ADE20K", "spec_version": "1",
      "converter": "ade20k_seg_png", "converter_options": {...},   # JSON-safe options the converter ran with
      "source": {"path": "/abs/source", "description": "..."},
      "created_utc": "2026-11-28T02:00:00+00:00",
      "normal_frame": "x_right_y_up_z_viewer",                     # normal family only
      "samples": [
        {"id": "ADE_val_00000001", "height": 480, "width": 640,
         "files": {"image": "images/ADE_val_00000001.jpg", "masks": "masks/ADE_val_00000001.json"},
         "sha256": {"images/ADE_val_00000001.jpg": "<hex>", "masks/ADE_val_00000001.json": "<hex>"},
         "mask_ids": ["..."], "mask_areas": [1234, ...],            # point_segmentation
         "depth_encoding": "png_u16", "depth_scale": 1000.0,       # depth
         "normal_encoding": "npy"}                                 # normal
      ],
      "counts": {"samples": 1, "masks": 12, "failures": 0},
      "subsampling": null | {"method": "random-images", "seed": 0, "max_masks": 15000, "target_masks": 10000,
                             "original_images": 2000, "original_masks": 24000, "kept_images": 830,
                             "kept_masks": 10004},
      "failures": [{"id": "ADE_val_00000002", "reason": "missing file: /abs/source/..."}],
      "stats": {...}                                               # converter counters (crowd masks skipped, ...)
    }

A mask file ``masks/<id>.json``: ``{"id", "image", "height", "width", "masks": [{"id", "area", "bbox": [x, y, w, h],
"category_id", "rle": {"size": [h, w], "counts": "<COCO compressed RLE>"}}]}``.

Every writer here is atomic (a temporary file in the same folder, then ``os.replace``), so a crash never leaves a
half-written file under its final name.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import re
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from diception_spec.tasks import Task

FORMAT_NAME = "diception-prepared"
FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"

# The task ids a prepared folder can hold; each is one "family" of the format.
FAMILIES: tuple[Task, ...] = (Task.POINT_SEGMENTATION, Task.DEPTH, Task.NORMAL)

DEPTH_ENCODINGS = ("npy", "png_u16")
NORMAL_ENCODINGS = ("npy", "png_u8")

# SAM: datasets with more than 15k masks were subsampled to ~10k masks by random images.
SUBSAMPLE_MAX_MASKS = 15_000
SUBSAMPLE_TARGET_MASKS = 10_000

_SAMPLE_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class ManifestError(ValueError):
    """A manifest that cannot be read as this format (wrong version, family or fields)."""


def parse_family(value: str | Task) -> Task:
    """The task of a family id; anything but the three prepared families raises with the known ones."""
    task = Task.parse(value)
    if task not in FAMILIES:
        known = ", ".join(t.value for t in FAMILIES)
        raise ValueError(f"family: {task.value!r} has no prepared format; known families: {known}")
    return task


def safe_sample_id(value: str) -> str:
    """A sample id usable as a file name: runs of characters outside ``[A-Za-z0-9._-]`` become ``_``."""
    cleaned = _SAMPLE_ID_UNSAFE.sub("_", str(value)).strip("._")
    if not cleaned:
        raise ValueError(f"sample id: {value!r} has no usable characters")
    return cleaned


# ----------------------------------------------------------------------------------------------- checksums, writes


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


@functools.cache
def _file_mode() -> int:
    """The mode ``open()`` would give a new file (mkstemp makes 0600 files; a source may be read-only)."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_bytes(path: Path, data: bytes) -> str:
    """Write ``data`` to ``path`` through a temporary file and a rename; returns its sha256."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return sha256_bytes(data)


def atomic_write_json(path: Path, obj: Any) -> str:
    return atomic_write_bytes(path, (json.dumps(obj, indent=1, sort_keys=False) + "\n").encode("utf-8"))


def atomic_save_npy(path: Path, array: np.ndarray) -> str:
    buffer = io.BytesIO()
    np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
    return atomic_write_bytes(path, buffer.getvalue())


def atomic_copy(source: Path, path: Path) -> str:
    """Copy ``source`` to ``path`` atomically, hashing while copying; returns the sha256 of what was written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with open(source, "rb") as src, os.fdopen(fd, "wb") as dst:
            while chunk := src.read(1 << 20):
                digest.update(chunk)
                dst.write(chunk)
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return digest.hexdigest()


# ----------------------------------------------------------------------------------------------- manifest


@dataclass(frozen=True)
class Failure:
    """One sample that could not be converted or read, and why."""

    sample_id: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"id": self.sample_id, "reason": self.reason}


@dataclass
class SampleEntry:
    """One sample of a manifest: its files (role -> relative path), their checksums and family-specific fields."""

    sample_id: str
    height: int
    width: int
    files: dict[str, str]
    sha256: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.sample_id,
            "height": self.height,
            "width": self.width,
            "files": dict(self.files),
            "sha256": dict(self.sha256),
            **self.extra,
        }

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> SampleEntry:
        try:
            known = {"id", "height", "width", "files", "sha256"}
            return cls(
                sample_id=str(obj["id"]),
                height=int(obj["height"]),
                width=int(obj["width"]),
                files={str(k): str(v) for k, v in obj["files"].items()},
                sha256={str(k): str(v) for k, v in obj["sha256"].items()},
                extra={k: v for k, v in obj.items() if k not in known},
            )
        except (KeyError, TypeError, AttributeError, ValueError) as error:
            raise ManifestError(f"manifest: malformed sample entry {obj!r:.200}: {error}") from error


@dataclass
class Manifest:
    """The description of a prepared folder; ``to_json`` / ``from_json`` give the schema in the module docstring."""

    family: Task
    benchmark: str
    spec_version: str
    converter: str
    source: dict[str, Any]
    samples: list[SampleEntry] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    subsampling: dict[str, Any] | None = None
    converter_options: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    normal_frame: str | None = None
    created_utc: str = ""
    format_version: int = FORMAT_VERSION

    @property
    def n_masks(self) -> int:
        return sum(len(s.extra.get("mask_ids", ())) for s in self.samples)

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "format": FORMAT_NAME,
            "format_version": self.format_version,
            "family": self.family.value,
            "benchmark": self.benchmark,
            "spec_version": self.spec_version,
            "converter": self.converter,
            "converter_options": _json_safe(self.converter_options),
            "source": _json_safe(self.source),
            "created_utc": self.created_utc,
        }
        if self.family is Task.NORMAL:
            obj["normal_frame"] = self.normal_frame
        counts = {"samples": len(self.samples), "failures": len(self.failures)}
        if self.family is Task.POINT_SEGMENTATION:
            counts["masks"] = self.n_masks
        obj.update(
            samples=[s.to_json() for s in self.samples],
            counts=counts,
            subsampling=self.subsampling,
            failures=[f.to_json() for f in self.failures],
            stats=_json_safe(self.stats),
        )
        return obj

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Manifest:
        if obj.get("format") != FORMAT_NAME:
            raise ManifestError(f"manifest: format is {obj.get('format')!r}, expected {FORMAT_NAME!r}")
        version = obj.get("format_version")
        if version != FORMAT_VERSION:
            raise ManifestError(f"manifest: format_version {version!r} is not supported (this reads {FORMAT_VERSION})")
        try:
            family = parse_family(obj["family"])
            return cls(
                family=family,
                benchmark=str(obj["benchmark"]),
                spec_version=str(obj["spec_version"]),
                converter=str(obj["converter"]),
                source=dict(obj.get("source") or {}),
                samples=[SampleEntry.from_json(s) for s in obj["samples"]],
                failures=[Failure(str(f["id"]), str(f["reason"])) for f in obj.get("failures", [])],
                subsampling=obj.get("subsampling"),
                converter_options=dict(obj.get("converter_options") or {}),
                stats=dict(obj.get("stats") or {}),
                normal_frame=obj.get("normal_frame"),
                created_utc=str(obj.get("created_utc", "")),
                format_version=int(version),
            )
        except (KeyError, TypeError, ValueError) as error:
            if isinstance(error, ManifestError):
                raise
            raise ManifestError(f"manifest: missing or malformed field: {error}") from error

    def write(self, folder: Path) -> Path:
        path = Path(folder) / MANIFEST_NAME
        atomic_write_json(path, self.to_json())
        return path

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        path = Path(folder) / MANIFEST_NAME
        if not path.is_file():
            raise FileNotFoundError(f"folder: {folder} has no {MANIFEST_NAME} (not prepared, or the run was cut off)")
        try:
            obj = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            raise ManifestError(f"manifest: {path} is not valid JSON: {error}") from error
        return cls.from_json(obj)


def _json_safe(value: Any) -> Any:
    """Options and stats as JSON: paths become strings, tuples lists; anything else unknown becomes its repr."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value) if isinstance(value, (set, frozenset)) else value
        return [_json_safe(v) for v in items]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


# ----------------------------------------------------------------------------------------------- subsampling


def subsample_by_images(
    mask_counts: Iterable[tuple[str, int]],
    *,
    seed: int,
    max_masks: int = SUBSAMPLE_MAX_MASKS,
    target_masks: int = SUBSAMPLE_TARGET_MASKS,
) -> tuple[list[str], dict[str, Any] | None]:
    """Pick random whole images until about ``target_masks`` masks are kept, when there are more than ``max_masks``.

    SAM subsampled datasets with more than 15k masks to ~10k masks by random images; its id lists are not public,
    so this is a re-sample: the images are permuted with ``numpy.random.default_rng(seed)`` (ids sorted first, so
    the result does not depend on listing order) and taken in that order while the running total is below
    ``target_masks`` (the last image taken may carry the total a little over). Returns the kept ids in their
    original order and the record for the manifest, or ``None`` as the record when nothing was subsampled.
    """
    if target_masks <= 0 or max_masks <= 0:
        raise ValueError(f"max_masks / target_masks: must be positive, got {max_masks} / {target_masks}")
    counts = list(mask_counts)
    total = sum(n for _, n in counts)
    ids = [sample_id for sample_id, _ in counts]
    if total <= max_masks:
        return ids, None
    by_id = dict(counts)
    order = sorted(by_id)
    permutation = np.random.default_rng(seed).permutation(len(order))
    kept: set[str] = set()
    kept_masks = 0
    for index in permutation:
        if kept_masks >= target_masks:
            break
        sample_id = order[int(index)]
        if by_id[sample_id] == 0:
            continue
        kept.add(sample_id)
        kept_masks += by_id[sample_id]
    record = {
        "method": "random-images",
        "rng": "numpy.random.default_rng(seed).permutation over sorted sample ids",
        "seed": int(seed),
        "max_masks": int(max_masks),
        "target_masks": int(target_masks),
        "original_images": len(counts),
        "original_masks": int(total),
        "kept_images": len(kept),
        "kept_masks": int(kept_masks),
    }
    return [sample_id for sample_id in ids if sample_id in kept], record
