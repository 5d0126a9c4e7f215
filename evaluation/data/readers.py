"""Read a prepared folder back: samples as arrays, checksums verified when a sample is read.

``PreparedDataset(folder)`` reads the manifest; iterating it yields one ``MaskSample``, ``DepthSample`` or
``NormalSample`` per listed sample. A sample whose file is missing or whose checksum differs is not yielded: it is
appended to ``dataset.read_failures`` and logged, and iteration goes on. ``dataset.load(sample_id)`` raises
``CorruptSampleError`` instead.
"""

from __future__ import annotations

import io
import json
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from diception_spec.tasks import Task
from evaluation.data.converters import decode_normal_rgb8, decode_rle
from evaluation.data.format import Failure, Manifest, SampleEntry, sha256_bytes

logger = logging.getLogger(__name__)


class CorruptSampleError(ValueError):
    """A prepared sample's file is missing, differs from its manifest checksum, or cannot be decoded."""

    def __init__(self, sample_id: str, reason: str) -> None:
        super().__init__(f"sample {sample_id}: {reason}")
        self.sample_id = sample_id
        self.reason = reason


@dataclass(frozen=True)
class MaskRecord:
    mask_id: str
    area: int
    bbox: list[float]
    category_id: int | None
    rle: dict[str, Any]

    def decode(self) -> np.ndarray:
        """The mask ``[H, W]`` bool at the image's original resolution."""
        return decode_rle(self.rle)


@dataclass
class _SampleBase:
    sample_id: str
    image_path: Path
    height: int
    width: int

    def load_image(self) -> np.ndarray:
        """The image ``[H, W, 3]`` uint8 RGB."""
        with Image.open(self.image_path) as image:
            return np.asarray(image.convert("RGB"))


@dataclass
class MaskSample(_SampleBase):
    masks: list[MaskRecord] = field(default_factory=list)  # decode lazily: one image can hold hundreds


@dataclass
class DepthSample(_SampleBase):
    depth: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))  # [H, W] float32 metres
    valid: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))  # [H, W] bool


@dataclass
class NormalSample(_SampleBase):
    normals: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 3), np.float32))  # [H, W, 3] unit, in frame
    valid: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), bool))  # [H, W] bool
    frame: str = ""


Sample = MaskSample | DepthSample | NormalSample


class PreparedDataset:
    """A prepared folder: its ``manifest``, ``len()``, iteration over readable samples, ``load(sample_id)``."""

    def __init__(self, folder: str | os.PathLike[str], *, verify: bool = True) -> None:
        self.folder = Path(folder)
        self.manifest = Manifest.read(self.folder)
        self.verify = verify
        self.read_failures: list[Failure] = []
        self._by_id = {entry.sample_id: entry for entry in self.manifest.samples}

    @property
    def family(self) -> Task:
        return self.manifest.family

    @property
    def sample_ids(self) -> list[str]:
        return [entry.sample_id for entry in self.manifest.samples]

    def __len__(self) -> int:
        return len(self.manifest.samples)

    def __iter__(self) -> Iterator[Sample]:
        return self.iter_samples()

    def iter_samples(self, sample_ids: list[str] | None = None) -> Iterator[Sample]:
        """Samples in manifest order (or ``sample_ids``' order); unreadable ones go to ``read_failures``, which
        each new iteration starts afresh."""
        self.read_failures = []
        for sample_id in self.sample_ids if sample_ids is None else sample_ids:
            try:
                yield self.load(sample_id)
            except CorruptSampleError as error:
                self.read_failures.append(Failure(sample_id, error.reason))
                logger.warning("%s: %s", self.manifest.benchmark, error)

    def load(self, sample_id: str) -> Sample:
        """One sample, its files checked against the manifest; raises ``CorruptSampleError`` if unreadable."""
        try:
            entry = self._by_id[sample_id]
        except KeyError:
            raise KeyError(f"sample_id: {sample_id!r} is not in {self.folder / 'manifest.json'}") from None
        try:
            for relative in entry.files.values():  # cheap, so checked with or without checksums
                if not (self.folder / relative).is_file():
                    raise CorruptSampleError(sample_id, f"missing file: {relative}")
            if self.verify:
                self._check_image(entry)
            if self.family is Task.POINT_SEGMENTATION:
                return self._load_masks(entry)
            if self.family is Task.DEPTH:
                return self._load_depth(entry)
            return self._load_normals(entry)
        except CorruptSampleError:
            raise
        except (OSError, ValueError, KeyError, TypeError, EOFError) as error:
            raise CorruptSampleError(sample_id, f"cannot decode: {type(error).__name__}: {error}") from error

    # -- internals

    def _read(self, entry: SampleEntry, role: str) -> bytes:
        """A file's bytes, checked against the manifest's sha256 when verifying."""
        relative = entry.files[role]
        path = self.folder / relative
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise CorruptSampleError(entry.sample_id, f"missing file: {relative}") from None
        if self.verify:
            expected = entry.sha256.get(relative)
            if expected is None:
                raise CorruptSampleError(entry.sample_id, f"no checksum recorded for {relative}")
            if sha256_bytes(data) != expected:
                raise CorruptSampleError(entry.sample_id, f"checksum mismatch: {relative}")
        return data

    def _check_image(self, entry: SampleEntry) -> None:
        self._read(entry, "image")

    def _base(self, entry: SampleEntry) -> dict[str, Any]:
        return {
            "sample_id": entry.sample_id,
            "image_path": self.folder / entry.files["image"],
            "height": entry.height,
            "width": entry.width,
        }

    def _load_masks(self, entry: SampleEntry) -> MaskSample:
        data = json.loads(self._read(entry, "masks").decode("utf-8"))
        masks = [
            MaskRecord(str(m["id"]), int(m["area"]), list(m["bbox"]), m.get("category_id"), dict(m["rle"]))
            for m in data["masks"]
        ]
        return MaskSample(**self._base(entry), masks=masks)

    def _npy(self, entry: SampleEntry, role: str) -> np.ndarray:
        return np.load(io.BytesIO(self._read(entry, role)), allow_pickle=False)

    def _load_depth(self, entry: SampleEntry) -> DepthSample:
        encoding = entry.extra.get("depth_encoding")
        if encoding == "png_u16":
            with Image.open(io.BytesIO(self._read(entry, "depth"))) as image:
                raw = np.asarray(image)
            depth = (raw.astype(np.float32) / np.float32(entry.extra["depth_scale"])).astype(np.float32)
        elif encoding == "npy":
            depth = self._npy(entry, "depth").astype(np.float32, copy=False)
        else:
            raise CorruptSampleError(entry.sample_id, f"unknown depth_encoding {encoding!r}")
        if "valid" in entry.files:
            valid = self._npy(entry, "valid").astype(bool, copy=False)
        else:
            valid = np.isfinite(depth) & (depth > 0)
        self._check_shape(entry, depth.shape, valid.shape)
        return DepthSample(**self._base(entry), depth=depth, valid=valid)

    def _load_normals(self, entry: SampleEntry) -> NormalSample:
        encoding = entry.extra.get("normal_encoding")
        if encoding == "png_u8":
            with Image.open(io.BytesIO(self._read(entry, "normal"))) as image:
                rgb = np.asarray(image.convert("RGB"))
            normals, valid = decode_normal_rgb8(rgb)
        elif encoding == "npy":
            normals = self._npy(entry, "normal").astype(np.float32, copy=False)
            valid = self._npy(entry, "valid").astype(bool, copy=False)
        else:
            raise CorruptSampleError(entry.sample_id, f"unknown normal_encoding {encoding!r}")
        self._check_shape(entry, normals.shape, valid.shape)
        return NormalSample(**self._base(entry), normals=normals, valid=valid, frame=self.manifest.normal_frame or "")

    @staticmethod
    def _check_shape(entry: SampleEntry, *shapes: tuple[int, ...]) -> None:
        for shape in shapes:
            if tuple(shape[:2]) != (entry.height, entry.width):
                raise CorruptSampleError(
                    entry.sample_id, f"array of shape {shape} does not match the image {entry.height}x{entry.width}"
                )
