"""Converters from the benchmarks' native formats to samples the prepared-format writer takes.

Each converter is a plain function ``converter(source, **options) -> Conversion`` registered by format name in
``CONVERTERS``. It lists the samples cheaply (paths and annotation records) and defers decoding to each sample's
``load()``, so a missing or corrupt file fails that sample only and the run goes on. Paths in options are relative
to ``source`` unless absolute.

File patterns (``labels="labels/{key}.png"``): ``{name}`` placeholders in the primary pattern match one path
component part (no ``/``), ``*`` / ``**`` are glob wildcards; the sample id is the placeholders' values joined by
``_``. The companion patterns (``images=...``) are filled with the same values plus ``{dir}``, the primary file's
folder relative to ``source``; a companion may still contain wildcards but must then match exactly one file.

Point segmentation conventions (SA-23 style, one binary mask per object):
- COCO / LVIS crowd annotations (``iscrowd: 1``) are excluded: a crowd region is not one object, and SAM's
  evaluation scores single-object masks. Their count is kept in the manifest's ``stats``.
- Empty masks (no pixel after rasterisation) and masks below ``min_area`` pixels are skipped and counted.
- An image left with no mask is not a sample (counted in ``stats["images_without_masks"]``).
"""

from __future__ import annotations

import functools
import glob
import json
import logging
import os
import re
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

from diception_spec.normals import NormalFrame
from diception_spec.tasks import Task
from evaluation.data.format import safe_sample_id

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".webp")  # compared case-insensitively

# ETH3D's ground-truth depth: float32 little-endian raw, 4032 rows x 6048 columns, inf where unknown.
ETH3D_HEIGHT = 4032
ETH3D_WIDTH = 6048


class SampleError(ValueError):
    """One sample cannot be converted: a missing, ambiguous, corrupt or inconsistent file. Others still run."""


# Errors that fail one sample (decoding libraries raise these for missing, truncated or malformed files).
SAMPLE_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, KeyError, IndexError, TypeError, EOFError)


# ----------------------------------------------------------------------------------------------- sample payloads


@dataclass(frozen=True)
class InstanceMask:
    """One object mask as COCO compressed RLE (``counts`` as str), with its source id and optional category."""

    mask_id: str
    rle: dict[str, Any]
    category_id: int | None = None

    @property
    def area(self) -> int:
        return int(mask_utils.area(_rle_for_api(self.rle)))

    @property
    def bbox(self) -> list[float]:
        return [float(v) for v in mask_utils.toBbox(_rle_for_api(self.rle))]


@dataclass
class DepthData:
    """Depth in metres ``[H, W]`` float32 (0 = invalid), an optional explicit validity mask, or a PNG kept as is."""

    depth: np.ndarray  # [H, W] float32 metres, 0 where invalid
    valid: np.ndarray | None = None  # [H, W] bool; None means "depth > 0 and finite"
    keep_png: Path | None = None  # write this uint16 PNG byte for byte instead of an .npy
    scale: float | None = None  # PNG value / scale = metres


@dataclass
class NormalData:
    """Unit normals ``[H, W, 3]`` float32 in the conversion's source frame, a validity mask, or a PNG kept as is."""

    normals: np.ndarray  # [H, W, 3] float32, unit length where valid, 0 elsewhere
    valid: np.ndarray  # [H, W] bool
    keep_png: Path | None = None  # 8-bit rgb = (n + 1) / 2 PNG that decodes to exactly these normals


Payload = list[InstanceMask] | DepthData | NormalData


@dataclass(frozen=True)
class PendingSample:
    """A listed sample: ``load()`` decodes it (raising one of ``SAMPLE_ERRORS``), ``count()`` its number of masks."""

    sample_id: str
    image_path: Path | None
    load: Callable[[], Payload]
    count: Callable[[], int] | None = None


@dataclass
class Conversion:
    """What a converter returns: the family, the listed samples, failures found while listing, and counters."""

    family: Task
    samples: list[PendingSample]
    failures: list[tuple[str, str]] = field(default_factory=list)
    stats: Counter = field(default_factory=Counter)
    normal_frame: str | None = None  # the frame the normals of ``load()`` are in (normal family)
    description: str = ""


@dataclass(frozen=True)
class ConverterSpec:
    name: str
    family: Task
    function: Callable[..., Conversion]
    description: str


CONVERTERS: dict[str, ConverterSpec] = {}


ConverterFunction = Callable[..., Conversion]


def register(name: str, family: Task, description: str) -> Callable[[ConverterFunction], ConverterFunction]:
    def decorator(function: ConverterFunction) -> ConverterFunction:
        if name in CONVERTERS:
            raise ValueError(f"converter: {name!r} is registered twice")
        CONVERTERS[name] = ConverterSpec(name, family, function, description)
        return function

    return decorator


def get_converter(name: str) -> ConverterSpec:
    """The converter registered as ``name``; unknown names raise with the list of known ones."""
    try:
        return CONVERTERS[name]
    except KeyError:
        raise ValueError(f"fmt: unknown format {name!r}; known formats: {', '.join(sorted(CONVERTERS))}") from None


# ----------------------------------------------------------------------------------------------- helpers


def _rle_for_api(rle: Mapping[str, Any]) -> dict[str, Any]:
    counts = rle["counts"]
    return {"size": list(rle["size"]), "counts": counts.encode("ascii") if isinstance(counts, str) else counts}


def encode_mask(mask: np.ndarray) -> dict[str, Any]:
    """COCO compressed RLE of a binary ``[H, W]`` mask, ``counts`` as str (JSON-ready)."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8, copy=False)))
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def decode_rle(rle: Mapping[str, Any]) -> np.ndarray:
    """The binary ``[H, W]`` bool mask of a COCO compressed RLE (counts as str or bytes)."""
    with warnings.catch_warnings():
        # pycocotools 2.0.x passes copy=False to its own array type under numpy 2; harmless, but noisy.
        warnings.filterwarnings("ignore", message=".*copy keyword.*", category=DeprecationWarning)
        return mask_utils.decode(_rle_for_api(rle)).astype(bool)


def _resolve(source: Path, value: str | os.PathLike[str]) -> Path:
    path = Path(value)
    return path if path.is_absolute() else source / path


def _require_dir(source: str | os.PathLike[str]) -> Path:
    path = Path(source)
    if not path.is_dir():
        raise FileNotFoundError(f"source: {path} is not a folder")
    return path


def _pattern_regex(pattern: str) -> tuple[re.Pattern[str], list[str]]:
    """A regex for a file pattern with ``{name}`` placeholders and glob wildcards, and the placeholder order."""
    parts: list[str] = []
    names: list[str] = []
    for token in re.split(r"(\{[A-Za-z_]+\}|\*\*/|\*|\?)", pattern):
        if not token:
            continue
        if token.startswith("{"):
            name = token[1:-1]
            if name in names:
                parts.append(f"(?P={name})")
            else:
                names.append(name)
                parts.append(f"(?P<{name}>[^/]+)")
        elif token == "**/":
            parts.append("(?:[^/]+/)*")
        elif token == "*":
            parts.append("[^/]*")
        elif token == "?":
            parts.append("[^/]")
        else:
            parts.append(re.escape(token))
    return re.compile("".join(parts) + r"\Z"), names


def _glob_pattern(pattern: str) -> str:
    return re.sub(r"\{[A-Za-z_]+\}", "*", pattern)


@dataclass(frozen=True)
class Match:
    sample_id: str
    path: Path
    values: dict[str, str]  # placeholder values plus "dir"


def match_files(source: Path, pattern: str) -> list[Match]:
    """Files under ``source`` matching ``pattern``, sorted, each with its placeholder values and sample id."""
    regex, names = _pattern_regex(pattern)
    if not names:
        raise ValueError(f"pattern: {pattern!r} has no {{key}}-style placeholder to name samples by")
    matches = []
    for path in sorted(source.glob(_glob_pattern(pattern))):
        relative = path.relative_to(source).as_posix()
        found = regex.match(relative)
        if found is None or not path.is_file():
            continue
        values = {name: found.group(name) for name in names}
        values["dir"] = Path(relative).parent.as_posix()
        matches.append(Match(safe_sample_id("_".join(values[name] for name in names)), path, values))
    return matches


def _glob_filled(source: Path, pattern: str, values: Mapping[str, str]) -> tuple[str, list[Path]]:
    filled = pattern.format(**{k: glob.escape(v) for k, v in values.items()})
    base = "" if Path(filled).is_absolute() else glob.escape(str(source)) + os.sep
    return base + filled, sorted(Path(p) for p in glob.glob(base + filled, recursive=True) if Path(p).is_file())


def companion(
    source: Path, pattern: str, values: Mapping[str, str], *, suffixes: Sequence[str] | None = None
) -> Path:
    """The one file ``pattern`` names for these placeholder values (among files ending in ``suffixes``, any case,
    when given); raises ``SampleError`` if none or several."""
    filled, found = _glob_filled(source, pattern, values)
    if suffixes is not None:
        wanted = {suffix.lower() for suffix in suffixes}
        found = [path for path in found if path.suffix.lower() in wanted]
    if not found:
        raise SampleError(f"missing file: nothing matches {filled}")
    if len(found) > 1:
        names = ", ".join(p.name for p in found[:5])
        raise SampleError(f"ambiguous file: {len(found)} files match {filled} ({names})")
    return found[0]


def _companions(source: Path, pattern: str, values: Mapping[str, str]) -> list[Path]:
    """All files a wildcard pattern names for these values (possibly none)."""
    return _glob_filled(source, pattern, values)[1]


def _check_file(path: Path) -> Path:
    if not path.is_file():
        raise SampleError(f"missing file: {path}")
    return path


def read_image_size(path: Path) -> tuple[int, int]:
    """(height, width) of an image, decoding it fully so that a truncated or corrupt file is caught here.

    Remembered per (path, size, mtime): a conversion asks for the same image several times.
    """
    _check_file(path)
    stat = Path(path).stat()
    return _decoded_size(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4096)
def _decoded_size(path: str, size: int, mtime_ns: int) -> tuple[int, int]:
    with Image.open(path) as image:
        image.load()
        return image.height, image.width


def _read_label_png(path: Path) -> np.ndarray:
    """An integer label map ``[H, W]`` from a PNG: gray / palette indices / 16-bit, or RGB as R·65536 + G·256 + B."""
    _check_file(path)
    with Image.open(path) as image:
        image.load()
        array = np.asarray(image)
    if array.ndim == 3:
        rgb = array[..., :3].astype(np.int64)
        return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    return array.astype(np.int64)


def _masks_from_labels(
    labels: np.ndarray, ids: Iterable[int], *, min_area: int, stats: Counter, category: Callable[[int], int | None]
) -> list[InstanceMask]:
    masks = []
    for value in ids:
        binary = labels == value
        area = int(binary.sum())
        if area < max(min_area, 1):
            stats["masks_below_min_area"] += 1
            continue
        masks.append(InstanceMask(str(int(value)), encode_mask(binary), category(int(value))))
    return masks


def check_companion_pattern(primary: str, pattern: str, argument: str) -> None:
    """A companion pattern may only use the primary pattern's placeholders and ``{dir}``."""
    _, primary_names = _pattern_regex(primary)
    unknown = sorted(set(re.findall(r"\{([A-Za-z_]+)\}", pattern)) - {*primary_names, "dir"})
    if unknown:
        known = ", ".join(f"{{{name}}}" for name in [*primary_names, "dir"])
        raise ValueError(f"{argument}: pattern {pattern!r} uses {{{unknown[0]}}}; it may use {known}")


def _list_pairs(source: Path, primary: str, image_pattern: str | None) -> tuple[list[tuple[Match, Path | None]], list]:
    """Primary files and their images; a missing image fails that sample at listing time."""
    pairs: list[tuple[Match, Path | None]] = []
    failures: list[tuple[str, str]] = []
    if image_pattern is not None:
        check_companion_pattern(primary, image_pattern, "images")
    for match in match_files(source, primary):
        if image_pattern is None:
            pairs.append((match, None))
            continue
        try:
            pairs.append((match, companion(source, image_pattern, match.values, suffixes=IMAGE_EXTENSIONS)))
        except SampleError as error:
            failures.append((match.sample_id, str(error)))
    return pairs, failures


def _check_size(sample_id: str, image_path: Path | None, shape: Sequence[int], what: str) -> None:
    if image_path is None:
        return
    height, width = read_image_size(image_path)
    if (height, width) != tuple(shape[:2]):
        raise SampleError(f"{what} is {shape[0]}x{shape[1]} but the image {image_path.name} is {height}x{width}")


# ----------------------------------------------------------------------------------------------- COCO-style JSON


def _load_json(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"annotations: {path} does not exist")
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def _find_annotation_file(source: Path, annotations: str | os.PathLike[str] | None) -> Path:
    if annotations is not None:
        return _resolve(source, annotations)
    candidates = sorted(source.glob("*.json")) or sorted(source.glob("annotations/*.json"))
    if len(candidates) != 1:
        found = ", ".join(p.name for p in candidates) or "none"
        raise FileNotFoundError(f"annotations: give the annotation file; found {found} in {source}")
    return candidates[0]


def segmentation_to_rle(segmentation: Any, height: int, width: int) -> dict[str, Any]:
    """COCO ``segmentation`` (polygon list, uncompressed RLE or compressed RLE) as compressed RLE (counts str).

    Polygons with fewer than 3 points are dropped; a polygon annotation with none left raises ``SampleError``.
    """
    if isinstance(segmentation, dict) and [int(v) for v in segmentation.get("size", ())] != [height, width]:
        raise SampleError(f"RLE size {segmentation.get('size')} differs from the image size {[height, width]}")
    if isinstance(segmentation, list):
        polygons = [p for p in segmentation if isinstance(p, list) and len(p) >= 6]
        if not polygons:
            raise SampleError("polygon segmentation has no polygon with 3 or more points")
        rle = mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))
    elif isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), list):
        if sum(int(c) for c in segmentation["counts"]) != height * width:
            raise SampleError(f"uncompressed RLE counts sum to {sum(segmentation['counts'])}, not {height * width}")
        rle = mask_utils.frPyObjects(segmentation, height, width)
    elif isinstance(segmentation, dict) and isinstance(segmentation.get("counts"), (str, bytes)):
        rle = _rle_for_api(segmentation)
    else:
        raise SampleError(f"unsupported segmentation {type(segmentation).__name__}: {str(segmentation)[:80]}")
    counts = rle["counts"]
    counts = counts.decode("ascii") if isinstance(counts, bytes) else counts
    return {"size": [int(v) for v in rle["size"]], "counts": counts}


def _coco_like(
    source: str | os.PathLike[str],
    *,
    annotations: str | os.PathLike[str] | None,
    images: str | os.PathLike[str] | None,
    include_crowd: bool,
    min_area: int,
    description: str,
) -> Conversion:
    root = _require_dir(source)
    data = _load_json(_find_annotation_file(root, annotations))
    if images is not None:
        image_root = _resolve(root, images)
    else:
        image_root = root / "images" if (root / "images").is_dir() else root
    conversion = Conversion(Task.POINT_SEGMENTATION, [], description=description)
    stats = conversion.stats
    by_image: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for annotation in data.get("annotations", []):
        if annotation.get("iscrowd", 0) and not include_crowd:
            stats["crowd_masks_excluded"] += 1
            continue
        if annotation.get("segmentation") in (None, [], {}):
            stats["annotations_without_segmentation"] += 1
            continue
        by_image[annotation["image_id"]].append(annotation)
    for record in sorted(data.get("images", []), key=lambda r: str(r.get("file_name") or r.get("coco_url", r["id"]))):
        annotations_here = by_image.get(record["id"], [])
        if not annotations_here:
            stats["images_without_masks"] += 1
            continue
        # LVIS v1 names images by coco_url only (…/val2017/000000397133.jpg): try "<split>/<name>" and "<name>".
        url_path = Path(str(record.get("coco_url", "")))
        file_name = record.get("file_name") or (f"{url_path.parent.name}/{url_path.name}" if url_path.name else "")
        sample_id = safe_sample_id(Path(file_name).stem if file_name else str(record["id"]))
        image_path = _find_image(image_root, file_name) if file_name else None
        if image_path is None:
            reason = f"missing file: image {file_name or record['id']} under {image_root}"
            conversion.failures.append((sample_id, reason))
            continue
        height, width = int(record["height"]), int(record["width"])

        def load(annotations_here=annotations_here, height=height, width=width) -> list[InstanceMask]:
            masks = []
            for annotation in annotations_here:
                try:
                    rle = segmentation_to_rle(annotation["segmentation"], height, width)
                except SampleError as error:
                    stats["masks_unreadable"] += 1
                    logger.debug("annotation %s skipped: %s", annotation.get("id"), error)
                    continue
                mask = InstanceMask(str(annotation.get("id", len(masks))), rle, annotation.get("category_id"))
                if mask.area < max(min_area, 1):
                    stats["masks_below_min_area"] += 1
                    continue
                masks.append(mask)
            return masks

        conversion.samples.append(
            PendingSample(sample_id, image_path, load, count=lambda n=len(annotations_here): n)
        )
    return conversion


def _find_image(image_root: Path, file_name: str) -> Path | None:
    for candidate in (image_root / file_name, image_root / Path(file_name).name):
        if candidate.is_file():
            return candidate
    return None


@register("coco_json", Task.POINT_SEGMENTATION, "COCO instances JSON: polygons, uncompressed and compressed RLE")
def coco_json(
    source: str | os.PathLike[str],
    *,
    annotations: str | os.PathLike[str] | None = None,
    images: str | os.PathLike[str] | None = None,
    include_crowd: bool = False,
    min_area: int = 1,
) -> Conversion:
    """COCO-style instances: ``annotations`` is the JSON (default: the only ``*.json`` in ``source`` or
    ``source/annotations``), ``images`` the folder ``file_name`` is relative to (default ``source/images`` or
    ``source``). Crowd annotations are excluded unless ``include_crowd``."""
    return _coco_like(
        source, annotations=annotations, images=images, include_crowd=include_crowd, min_area=min_area,
        description="COCO JSON",
    )


@register("lvis_json", Task.POINT_SEGMENTATION, "LVIS JSON (COCO structure; images named by file_name or coco_url)")
def lvis_json(
    source: str | os.PathLike[str],
    *,
    annotations: str | os.PathLike[str] | None = None,
    images: str | os.PathLike[str] | None = None,
    min_area: int = 1,
) -> Conversion:
    """LVIS: COCO's structure with polygons; v1 names images by ``coco_url`` (``file_name`` in v0.5)."""
    return _coco_like(
        source, annotations=annotations, images=images, include_crowd=False, min_area=min_area,
        description="LVIS JSON",
    )


@register("sa1b_json", Task.POINT_SEGMENTATION, "SA-1B per-image JSON with compressed RLE masks")
def sa1b_json(source: str | os.PathLike[str], *, annotations: str = "{key}.json", min_area: int = 1) -> Conversion:
    """SA-1B: ``<name>.json`` per image (``{"image": {file_name, height, width}, "annotations": [{segmentation:
    {size, counts}, area, id, ...}]}``), the image ``file_name`` beside it."""
    root = _require_dir(source)
    conversion = Conversion(Task.POINT_SEGMENTATION, [], description="SA-1B JSON")
    stats = conversion.stats
    for match in match_files(root, annotations):
        try:
            data = _load_json(match.path)
            record = data["image"]
            items = data["annotations"]
            image_path = _check_file(match.path.parent / record["file_name"])
        except (SampleError, OSError, ValueError, KeyError, TypeError) as error:
            conversion.failures.append((match.sample_id, f"{type(error).__name__}: {error}"))
            continue
        height, width = int(record["height"]), int(record["width"])

        def load(items=items, height=height, width=width) -> list[InstanceMask]:
            masks = []
            for index, item in enumerate(items):
                rle = segmentation_to_rle(item["segmentation"], height, width)
                mask = InstanceMask(str(item.get("id", index)), rle, None)
                if mask.area < max(min_area, 1):
                    stats["masks_below_min_area"] += 1
                    continue
                masks.append(mask)
            return masks

        sample_id = safe_sample_id(Path(record["file_name"]).stem)
        conversion.samples.append(PendingSample(sample_id, image_path, load, count=lambda n=len(items): n))
    return conversion


@register("ytvis_json", Task.POINT_SEGMENTATION, "YouTube-VIS / OVIS JSON: per-frame RLE, each frame one image")
def ytvis_json(
    source: str | os.PathLike[str],
    *,
    annotations: str | os.PathLike[str] | None = None,
    images: str | os.PathLike[str] | None = None,
    include_crowd: bool = False,
    min_area: int = 1,
) -> Conversion:
    """Video instance segmentation JSON (``videos: [{id, file_names, height, width}]``, ``annotations: [{video_id,
    segmentations: [RLE or polygons or null per frame], category_id, iscrowd}]``): every frame with at least one
    object is one sample, named by its ``file_names`` entry (``<video>/<frame>``)."""
    root = _require_dir(source)
    data = _load_json(_find_annotation_file(root, annotations))
    if images is not None:
        image_root = _resolve(root, images)
    else:
        image_root = root / "JPEGImages" if (root / "JPEGImages").is_dir() else root
    conversion = Conversion(Task.POINT_SEGMENTATION, [], description="YouTube-VIS JSON")
    stats = conversion.stats
    tracks: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for annotation in data.get("annotations", []):
        if annotation.get("iscrowd", 0) and not include_crowd:
            stats["crowd_masks_excluded"] += sum(1 for seg in annotation.get("segmentations", []) if seg)
            continue
        tracks[annotation["video_id"]].append(annotation)
    for video in sorted(data.get("videos", []), key=lambda v: str(v["id"])):
        height, width = int(video["height"]), int(video["width"])
        for index, file_name in enumerate(video["file_names"]):
            objects = [
                (str(track.get("id", n)), track["segmentations"][index], track.get("category_id"))
                for n, track in enumerate(tracks.get(video["id"], []))
                if index < len(track.get("segmentations", [])) and track["segmentations"][index]
            ]
            if not objects:
                stats["images_without_masks"] += 1
                continue
            sample_id = safe_sample_id(str(Path(file_name).with_suffix("")))
            image_path = _find_image(image_root, file_name)
            if image_path is None:
                conversion.failures.append((sample_id, f"missing file: image {file_name} under {image_root}"))
                continue

            def load(objects=objects, height=height, width=width) -> list[InstanceMask]:
                masks = []
                for track_id, segmentation, category_id in objects:
                    mask = InstanceMask(track_id, segmentation_to_rle(segmentation, height, width), category_id)
                    if mask.area < max(min_area, 1):
                        stats["masks_below_min_area"] += 1
                        continue
                    masks.append(mask)
                return masks

            conversion.samples.append(PendingSample(sample_id, image_path, load, count=lambda n=len(objects): n))
    return conversion


def _via_region_polygon(shape: Mapping[str, Any]) -> list[float] | None:
    """A VIA region's outline as a flat COCO polygon; ``None`` for shapes that are not areas (points, lines)."""
    if shape.get("name") == "polygon":
        xs, ys = shape["all_points_x"], shape["all_points_y"]
        return [float(v) for xy in zip(xs, ys, strict=True) for v in xy]
    if shape.get("name") == "rect":
        x, y, w, h = (float(shape[k]) for k in ("x", "y", "width", "height"))
        return [x, y, x + w, y, x + w, y + h, x, y + h]
    return None


@register("via_json", Task.POINT_SEGMENTATION, "VGG Image Annotator JSON (v1 / v2): polygon and rect regions")
def via_json(
    source: str | os.PathLike[str],
    *,
    annotations: str | os.PathLike[str] | None = None,
    images: str | os.PathLike[str] | None = None,
    min_area: int = 1,
) -> Conversion:
    """VIA project exports (NDD20): ``{"<name><size>": {"filename", "regions": [...]}}``, or ``_via_img_metadata``
    of a full project; regions as a list (VIA 2) or a dict (VIA 1). Polygons and rectangles become masks; other
    shapes are counted in ``stats["regions_not_areas"]``."""
    root = _require_dir(source)
    data = _load_json(_find_annotation_file(root, annotations))
    records = data.get("_via_img_metadata", data) if isinstance(data, dict) else {}
    if images is not None:
        image_root = _resolve(root, images)
    else:
        image_root = root / "images" if (root / "images").is_dir() else root
    conversion = Conversion(Task.POINT_SEGMENTATION, [], description="VIA JSON")
    stats = conversion.stats
    for record in sorted(records.values(), key=lambda r: str(r.get("filename"))):
        regions = record.get("regions") or []
        regions = list(regions.values()) if isinstance(regions, dict) else list(regions)
        polygons = []
        for region in regions:
            polygon = _via_region_polygon(region.get("shape_attributes", {}))
            if polygon is None:
                stats["regions_not_areas"] += 1
            else:
                polygons.append(polygon)
        if not polygons:
            stats["images_without_masks"] += 1
            continue
        file_name = str(record["filename"])
        sample_id = safe_sample_id(Path(file_name).stem)
        image_path = _find_image(image_root, file_name)
        if image_path is None:
            conversion.failures.append((sample_id, f"missing file: image {file_name} under {image_root}"))
            continue

        def load(polygons=polygons, image_path=image_path) -> list[InstanceMask]:
            height, width = read_image_size(image_path)
            masks = []
            for index, polygon in enumerate(polygons):
                mask = InstanceMask(str(index), segmentation_to_rle([polygon], height, width))
                if mask.area < max(min_area, 1):
                    stats["masks_below_min_area"] += 1
                    continue
                masks.append(mask)
            return masks

        conversion.samples.append(PendingSample(sample_id, image_path, load, count=lambda n=len(polygons): n))
    return conversion


# ----------------------------------------------------------------------------------------------- label PNGs


def _label_png_conversion(
    root: Path,
    *,
    labels: str,
    images: str,
    description: str,
    select: Callable[[np.ndarray], tuple[np.ndarray, list[int]]],
    category: Callable[[int], int | None],
    min_area: int,
) -> Conversion:
    """Shared by the label-map converters: ``select(raw) -> (instance map, instance values)``."""
    conversion = Conversion(Task.POINT_SEGMENTATION, [], description=description)
    pairs, conversion.failures = _list_pairs(root, labels, images)
    stats = conversion.stats
    for match, image_path in pairs:

        def decode(path=match.path, image_path=image_path, sample_id=match.sample_id) -> tuple[np.ndarray, list[int]]:
            instance_map, values = select(_read_label_png(path))
            _check_size(sample_id, image_path, instance_map.shape, f"label map {path.name}")
            return instance_map, values

        def load(decode=decode) -> list[InstanceMask]:
            instance_map, values = decode()
            return _masks_from_labels(instance_map, values, min_area=min_area, stats=stats, category=category)

        def count(path=match.path) -> int:
            instance_map, values = select(_read_label_png(path))
            if min_area <= 1:
                return len(values)
            found, areas = np.unique(instance_map, return_counts=True)
            area_of = dict(zip(found.tolist(), areas.tolist(), strict=True))
            return sum(1 for v in values if area_of.get(v, 0) >= min_area)

        conversion.samples.append(PendingSample(match.sample_id, image_path, load, count=count))
    return conversion


@register("instance_id_png", Task.POINT_SEGMENTATION, "instance-id PNGs: each id not ignored is one mask")
def instance_id_png(
    source: str | os.PathLike[str],
    *,
    labels: str = "labels/{key}.png",
    images: str = "images/{key}.*",
    ignore_ids: Sequence[int] = (0,),
    min_area: int = 1,
) -> Conversion:
    """Indexed instance maps (gray, palette, 16-bit, or RGB read as R·65536 + G·256 + B): every distinct value
    not in ``ignore_ids`` is one mask. Binary and semantic label PNGs go through here too (one mask per value)."""
    ignored = {int(v) for v in ignore_ids}

    def select(raw: np.ndarray) -> tuple[np.ndarray, list[int]]:
        return raw, [int(v) for v in np.unique(raw) if int(v) not in ignored]

    return _label_png_conversion(
        _require_dir(source), labels=labels, images=images, description="instance-id PNG", select=select,
        category=lambda value: None, min_area=min_area,
    )


@register(
    "cityscapes_instance_ids",
    Task.POINT_SEGMENTATION,
    "Cityscapes *_gtFine_instanceIds.png: id = class·1000 + n for things; ids < 1000 (stuff, crowd) skipped",
)
def cityscapes_instance_ids(
    source: str | os.PathLike[str],
    *,
    split: str = "val",
    labels: str | None = None,
    images: str | None = None,
    min_area: int = 1,
) -> Conversion:
    """Cityscapes: ``gtFine/<split>/<city>/<name>_gtFine_instanceIds.png`` beside
    ``leftImg8bit/<split>/<city>/<name>_leftImg8bit.png``. Ids >= 1000 are thing instances (class = id // 1000,
    recorded as the category); ids below 1000 are stuff classes or thing regions without instances and are skipped."""
    labels = labels or f"gtFine/{split}/*/{{key}}_gtFine_instanceIds.png"
    images = images or f"leftImg8bit/{split}/*/{{key}}_leftImg8bit.png"

    def select(raw: np.ndarray) -> tuple[np.ndarray, list[int]]:
        return raw, [int(v) for v in np.unique(raw) if v >= 1000]

    return _label_png_conversion(
        _require_dir(source), labels=labels, images=images, description="Cityscapes instanceIds", select=select,
        category=lambda value: value // 1000, min_area=min_area,
    )


def ade20k_decode(seg_rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """ADE20K ``_seg.png`` ``[H, W, 3]`` -> (class map, instance key map), as the dataset's own loader reads it.

    class = R // 10 · 256 + G (0 = unlabelled); the B channel identifies the object instance. An instance is a
    distinct (class, B) pair with class > 0 and B > 0, keyed as class · 256 + B (so two classes sharing a B value
    never merge); pixels with class 0 or B 0 belong to no instance.
    """
    if seg_rgb.ndim != 3 or seg_rgb.shape[2] < 3:
        raise SampleError(f"ADE20K _seg.png must be RGB, got shape {seg_rgb.shape}")
    r, g, b = (seg_rgb[..., i].astype(np.int64) for i in range(3))
    classes = (r // 10) * 256 + g
    instances = np.where((classes > 0) & (b > 0), classes * 256 + b, 0)
    return classes, instances


@register("ade20k_seg_png", Task.POINT_SEGMENTATION, "ADE20K *_seg.png: class = R/10·256 + G, instances from B")
def ade20k_seg_png(
    source: str | os.PathLike[str],
    *,
    labels: str = "**/{key}_seg.png",
    images: str = "{dir}/{key}.jpg",
    min_area: int = 1,
) -> Conversion:
    """ADE20K full dataset: ``<name>.jpg`` beside ``<name>_seg.png``; object instances only (parts files are not
    read). See ``ade20k_decode`` for the encoding; the class is recorded as each mask's category."""

    def read(path: Path) -> np.ndarray:
        _check_file(path)
        with Image.open(path) as image:
            image.load()
            return np.asarray(image.convert("RGB"))

    root = _require_dir(source)
    conversion = Conversion(Task.POINT_SEGMENTATION, [], description="ADE20K _seg.png")
    pairs, conversion.failures = _list_pairs(root, labels, images)
    stats = conversion.stats
    for match, image_path in pairs:

        def decode(path=match.path, image_path=image_path, sample_id=match.sample_id) -> tuple[np.ndarray, list[int]]:
            _, instances = ade20k_decode(read(path))
            _check_size(sample_id, image_path, instances.shape, f"{path.name}")
            return instances, [int(v) for v in np.unique(instances) if v > 0]

        def load(decode=decode) -> list[InstanceMask]:
            instances, values = decode()
            return _masks_from_labels(instances, values, min_area=min_area, stats=stats, category=lambda v: v // 256)

        def count(path=match.path) -> int:
            _, instances = ade20k_decode(read(path))
            found, areas = np.unique(instances, return_counts=True)
            return int(sum(1 for v, a in zip(found, areas, strict=True) if v > 0 and a >= max(min_area, 1)))

        conversion.samples.append(PendingSample(match.sample_id, image_path, load, count=count))
    return conversion


@register(
    "per_object_pngs", Task.POINT_SEGMENTATION, "one binary PNG per object: <id>/images/<id>.png + <id>/masks/*.png"
)
def per_object_pngs(
    source: str | os.PathLike[str],
    *,
    images: str = "{key}/images/{key}.png",
    masks: str = "{key}/masks/*.png",
    min_area: int = 1,
) -> Conversion:
    """BBBC038v1 (Data Science Bowl 2018) layout: each non-zero pixel of a mask PNG belongs to that object; the
    mask id is the mask file's stem. A mask whose size differs from the image fails the sample."""
    root = _require_dir(source)
    check_companion_pattern(images, masks, "masks")
    conversion = Conversion(Task.POINT_SEGMENTATION, [], description="per-object binary PNGs")
    stats = conversion.stats
    for match in match_files(root, images):
        mask_paths = _companions(root, masks, match.values)
        if not mask_paths:
            stats["images_without_masks"] += 1
            continue

        def load(mask_paths=mask_paths, image_path=match.path) -> list[InstanceMask]:
            height, width = read_image_size(image_path)
            result = []
            for path in mask_paths:
                binary = _read_label_png(path) > 0
                if binary.shape != (height, width):
                    size = f"{binary.shape[0]}x{binary.shape[1]}"
                    raise SampleError(f"mask {path.name} is {size}, the image is {height}x{width}")
                if int(binary.sum()) < max(min_area, 1):
                    stats["masks_below_min_area"] += 1
                    continue
                result.append(InstanceMask(path.stem, encode_mask(binary)))
            return result

        conversion.samples.append(PendingSample(match.sample_id, match.path, load, count=lambda n=len(mask_paths): n))
    return conversion


# ----------------------------------------------------------------------------------------------- depth


def _pairs_from_list(
    root: Path, annotations: str | os.PathLike[str] | None, pairs: str | os.PathLike[str] | None, target_key: str
) -> list[tuple[str, Path, Path | None, dict[str, Any]]]:
    """(sample id, target file, image file, extra) from a Metric3D-style ``{"files": [{"rgb", "<target_key>", ...}]}``
    JSON or a Marigold-style split file (``image target [...]`` per line; ``None`` targets are skipped)."""
    rows: list[tuple[str, Path, Path | None, dict[str, Any]]] = []
    if annotations is not None:
        data = _load_json(_resolve(root, annotations))
        for entry in data["files"]:
            target = _resolve(root, entry[target_key])
            image = _resolve(root, entry["rgb"]) if entry.get("rgb") else None
            rows.append((safe_sample_id(target.stem), target, image, entry))
    elif pairs is not None:
        path = _resolve(root, pairs)
        if not path.is_file():
            raise FileNotFoundError(f"pairs: {path} does not exist")
        for line in path.read_text(encoding="utf-8").splitlines():
            fields = line.split()
            if len(fields) < 2 or fields[1] == "None":
                continue
            target = _resolve(root, fields[1])
            stem = "_".join(Path(fields[1]).with_suffix("").parts[-3:])
            rows.append((safe_sample_id(stem), target, _resolve(root, fields[0]), {}))
    return rows


def _list_targets(
    root: Path,
    *,
    pattern: str,
    images: str,
    annotations: str | os.PathLike[str] | None,
    pairs: str | os.PathLike[str] | None,
    target_key: str,
) -> tuple[list[tuple[str, Path, Path, dict[str, Any], dict[str, str]]], list[tuple[str, str]]]:
    """Depth / normal targets with their images, from a list file when given, else from the file patterns."""
    rows: list[tuple[str, Path, Path, dict[str, Any], dict[str, str]]] = []
    failures: list[tuple[str, str]] = []
    if annotations is not None or pairs is not None:
        for sample_id, target, image, extra in _pairs_from_list(root, annotations, pairs, target_key):
            if image is None or not image.is_file():
                failures.append((sample_id, f"missing file: image {image}"))
                continue
            rows.append((sample_id, target, image, extra, {}))
        return rows, failures
    listed, failures = _list_pairs(root, pattern, images)
    for match, image in listed:
        rows.append((match.sample_id, match.path, image, {}, match.values))  # image is never None here
    return rows, failures


def read_depth_png(path: Path, scale: float) -> np.ndarray:
    """Metres ``[H, W]`` float32 from a uint16 depth PNG: value / scale, 0 = invalid."""
    _check_file(path)
    with Image.open(path) as image:
        image.load()
        raw = np.asarray(image)
    if raw.ndim != 2 or raw.dtype not in (np.uint16, np.int32, np.uint8):
        raise SampleError(f"depth PNG {path.name} is {raw.dtype} {raw.shape}, expected a single-channel 16-bit PNG")
    return (raw.astype(np.float32) / np.float32(scale)).astype(np.float32)


@register(
    "depth_png", Task.DEPTH, "uint16 depth PNGs with a scale (NYUv2 /1000, KITTI /256, ScanNet /1000); 0 = invalid"
)
def depth_png(
    source: str | os.PathLike[str],
    *,
    scale: float,
    depth: str = "depth/{key}.png",
    images: str = "images/{key}.*",
    annotations: str | os.PathLike[str] | None = None,
    pairs: str | os.PathLike[str] | None = None,
    keep_png: bool = True,
) -> Conversion:
    """Depth PNGs: metres = value / ``scale`` (a ``depth_scale`` in an annotations entry overrides it for that
    file). With ``keep_png`` the PNG is copied byte for byte and its scale recorded; otherwise float32 ``.npy``."""
    if not scale or scale <= 0:
        raise ValueError(f"scale: must be a positive number (PNG value per metre), got {scale!r}")
    root = _require_dir(source)
    conversion = Conversion(Task.DEPTH, [], description=f"uint16 depth PNG / {scale:g}")
    rows, conversion.failures = _list_targets(
        root, pattern=depth, images=images, annotations=annotations, pairs=pairs, target_key="depth"
    )
    for sample_id, target, image, extra, _ in rows:
        file_scale = float(extra.get("depth_scale", scale))

        def load(target=target, image=image, file_scale=file_scale, sample_id=sample_id) -> DepthData:
            metres = read_depth_png(target, file_scale)
            _check_size(sample_id, image, metres.shape, f"depth {target.name}")
            return DepthData(metres, None, keep_png=target if keep_png else None, scale=file_scale)

        conversion.samples.append(PendingSample(sample_id, image, load))
    return conversion


@register("diode_npy", Task.DEPTH, "DIODE: <name>_depth.npy (metres) + <name>_depth_mask.npy beside <name>.png")
def diode_npy(
    source: str | os.PathLike[str],
    *,
    depth: str = "**/{key}_depth.npy",
    mask: str = "{dir}/{key}_depth_mask.npy",
    images: str = "{dir}/{key}.png",
) -> Conversion:
    """DIODE val: depth ``[H, W, 1]`` float32 metres and the validity mask (the mask file only decides validity)."""
    root = _require_dir(source)
    check_companion_pattern(depth, mask, "mask")
    conversion = Conversion(Task.DEPTH, [], description="DIODE .npy depth + mask")
    rows, conversion.failures = _list_targets(root, pattern=depth, images=images, annotations=None, pairs=None,
                                              target_key="depth")
    for sample_id, target, image, _, values in rows:

        def load(target=target, image=image, values=values, sample_id=sample_id) -> DepthData:
            metres = np.load(_check_file(target), allow_pickle=False).astype(np.float32)
            valid = np.load(companion(root, mask, values), allow_pickle=False)
            metres = metres.reshape(metres.shape[:2]) if metres.ndim == 3 and metres.shape[2] == 1 else metres
            if metres.ndim != 2 or valid.reshape(valid.shape[:2]).shape != metres.shape:
                raise SampleError(f"depth {metres.shape} and mask {valid.shape} shapes do not match")
            valid = valid.reshape(metres.shape) > 0
            _check_size(sample_id, image, metres.shape, f"depth {target.name}")
            valid &= np.isfinite(metres) & (metres > 0)
            return DepthData(np.where(valid, metres, 0).astype(np.float32), valid)

        conversion.samples.append(PendingSample(sample_id, image, load))
    return conversion


def read_eth3d_raw(path: Path, height: int = ETH3D_HEIGHT, width: int = ETH3D_WIDTH) -> np.ndarray:
    """ETH3D ground truth: float32 little-endian raw ``height x width``; inf (unknown) -> 0 (invalid)."""
    _check_file(path)
    raw = np.fromfile(path, dtype="<f4")
    if raw.size != height * width:
        raise SampleError(f"ETH3D depth {path.name} holds {raw.size} floats, expected {height}x{width}")
    metres = raw.reshape(height, width).astype(np.float32)
    metres[~np.isfinite(metres)] = 0
    return metres


@register("eth3d_raw", Task.DEPTH, "ETH3D float32 raw depth 4032x6048, inf -> 0 (invalid)")
def eth3d_raw(
    source: str | os.PathLike[str],
    *,
    depth: str = "{scene}/ground_truth_depth/dslr_images/{key}",
    images: str = "{scene}/images/dslr_images/{key}",
    pairs: str | os.PathLike[str] | None = None,
    height: int = ETH3D_HEIGHT,
    width: int = ETH3D_WIDTH,
) -> Conversion:
    """ETH3D high-res multi-view: raw depth files named like their images (``DSC_0286.JPG``); written as float32
    ``.npy`` (same size as the raw file). ``pairs`` takes a Marigold-style split file instead of the patterns."""
    root = _require_dir(source)
    conversion = Conversion(Task.DEPTH, [], description="ETH3D raw float32 depth")
    rows, conversion.failures = _list_targets(root, pattern=depth, images=images, annotations=None, pairs=pairs,
                                              target_key="depth")
    for sample_id, target, image, _, _ in rows:

        def load(target=target, image=image, sample_id=sample_id) -> DepthData:
            metres = read_eth3d_raw(target, height, width)
            _check_size(sample_id, image, metres.shape, f"depth {target.name}")
            return DepthData(metres, None)

        conversion.samples.append(PendingSample(sample_id, image, load))
    return conversion


SINTEL_DPT_TAG = 202021.25  # the float at the start of every Sintel .dpt file (the bytes "PIEH")


def read_sintel_dpt(path: Path) -> np.ndarray:
    """MPI Sintel ``.dpt``: float32 tag 202021.25, int32 width, int32 height, then float32 metres, row-major."""
    _check_file(path)
    data = path.read_bytes()
    if len(data) < 12:
        raise SampleError(f"corrupt file: {path.name} is shorter than the .dpt header")
    tag = np.frombuffer(data[:4], "<f4")[0]
    width, height = (int(v) for v in np.frombuffer(data[4:12], "<i4"))
    if tag != np.float32(SINTEL_DPT_TAG) or width <= 0 or height <= 0:
        raise SampleError(f"corrupt file: {path.name} has no valid .dpt header (tag {tag}, {width}x{height})")
    if len(data) != 12 + 4 * width * height:
        raise SampleError(f"corrupt file: {path.name} holds {len(data) - 12} bytes, expected {4 * width * height}")
    metres = np.frombuffer(data[12:], "<f4").reshape(height, width).astype(np.float32)
    metres[~np.isfinite(metres)] = 0
    return metres


@register("sintel_dpt", Task.DEPTH, "MPI Sintel .dpt depth (float32 with a tag / width / height header)")
def sintel_dpt(
    source: str | os.PathLike[str],
    *,
    depth: str = "training/depth/{scene}/{key}.dpt",
    images: str = "training/final/{scene}/{key}.png",
) -> Conversion:
    """Sintel training depth beside the final-pass frames; written as float32 ``.npy`` (0 where not finite)."""
    root = _require_dir(source)
    conversion = Conversion(Task.DEPTH, [], description="Sintel .dpt depth")
    rows, conversion.failures = _list_targets(root, pattern=depth, images=images, annotations=None, pairs=None,
                                              target_key="depth")
    for sample_id, target, image, _, _ in rows:

        def load(target=target, image=image, sample_id=sample_id) -> DepthData:
            metres = read_sintel_dpt(target)
            _check_size(sample_id, image, metres.shape, f"depth {target.name}")
            return DepthData(metres, None)

        conversion.samples.append(PendingSample(sample_id, image, load))
    return conversion


# ----------------------------------------------------------------------------------------------- normals


def decode_normal_rgb8(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """8-bit rgb = (n + 1) / 2 -> (unit normals ``[H, W, 3]`` float32, valid ``[H, W]``); valid where R+G+B > 0."""
    if rgb.ndim != 3 or rgb.shape[2] < 3:
        raise SampleError(f"normal PNG must be RGB, got shape {rgb.shape}")
    rgb = rgb[..., :3]
    vectors = rgb.astype(np.float32) / 255.0 * 2.0 - 1.0
    valid = rgb.astype(np.int32).sum(axis=2) > 0
    return _unit(vectors, valid)


def _unit(vectors: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    norm = np.linalg.norm(vectors, axis=2)
    valid = valid & np.isfinite(norm) & (norm > 1e-6)
    safe = np.where(valid, norm, 1.0)[..., None]
    normals = np.where(valid[..., None], vectors / safe, 0.0).astype(np.float32)
    return normals, valid


def read_exr(path: Path) -> np.ndarray:
    """An EXR as float32 ``[H, W, C]`` in RGB order, through OpenCV with its EXR codec switched on.

    OpenCV reads ``OPENCV_IO_ENABLE_OPENEXR`` when it first decodes an EXR, so setting it here (not at import)
    is enough as long as nothing in this process decoded an EXR with the codec off before.
    """
    _check_file(path)
    os.environ.setdefault("OPENCV_IO_ENABLE_OPENEXR", "1")
    import cv2

    try:
        array = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    except cv2.error as error:
        raise RuntimeError(
            f"EXR input {path.name}: OpenCV cannot read EXR here ({error.err if hasattr(error, 'err') else error}); "
            "set OPENCV_IO_ENABLE_OPENEXR=1 before anything imports cv2, or convert the normals to .npy"
        ) from error
    if array is None:
        raise SampleError(f"corrupt file: OpenCV could not decode {path}")
    array = np.asarray(array, dtype=np.float32)
    if array.ndim == 3 and array.shape[2] >= 3:
        array = np.concatenate([array[..., 2::-1], array[..., 3:]], axis=2)  # OpenCV gives BGR(A)
    return array


def _normals_conversion(
    source: str | os.PathLike[str],
    *,
    frame: str,
    normals: str,
    images: str,
    annotations: str | os.PathLike[str] | None,
    pairs: str | os.PathLike[str] | None,
    description: str,
    read: Callable[[Path, Mapping[str, str]], tuple[np.ndarray, np.ndarray, Path | None]],
) -> Conversion:
    root = _require_dir(source)
    conversion = Conversion(Task.NORMAL, [], normal_frame=NormalFrame.parse(frame).value, description=description)
    rows, conversion.failures = _list_targets(
        root, pattern=normals, images=images, annotations=annotations, pairs=pairs, target_key="normal"
    )
    for sample_id, target, image, _, values in rows:

        def load(target=target, image=image, values=values, sample_id=sample_id) -> NormalData:
            vectors, valid, keep = read(target, values)
            _check_size(sample_id, image, vectors.shape, f"normals {target.name}")
            return NormalData(vectors, valid, keep_png=keep)

        conversion.samples.append(PendingSample(sample_id, image, load))
    return conversion


@register("normals_png", Task.NORMAL, "8-bit normal PNGs, rgb = (n + 1) / 2, valid where R+G+B > 0")
def normals_png(
    source: str | os.PathLike[str],
    *,
    frame: str,
    normals: str = "normal/{key}.png",
    images: str = "images/{key}.*",
    annotations: str | os.PathLike[str] | None = None,
    pairs: str | os.PathLike[str] | None = None,
    keep_png: bool = True,
) -> Conversion:
    """NYUv2 / ScanNet style normal PNGs in the stated ``frame`` (a ``diception_spec.normals.NormalFrame`` value or
    alias); the PNG is kept byte for byte unless ``keep_png`` is off or the writer converts the frame."""

    def read(path: Path, values: Mapping[str, str]) -> tuple[np.ndarray, np.ndarray, Path | None]:
        _check_file(path)
        with Image.open(path) as image:
            image.load()
            rgb = np.asarray(image.convert("RGB"))
        vectors, valid = decode_normal_rgb8(rgb)
        return vectors, valid, path if keep_png else None

    return _normals_conversion(
        source, frame=frame, normals=normals, images=images, annotations=annotations, pairs=pairs,
        description="8-bit normal PNG", read=read,
    )


@register("normals_exr", Task.NORMAL, "EXR normals (iBims-1, Sintel) through OpenCV; valid where |n| > min_norm")
def normals_exr(
    source: str | os.PathLike[str],
    *,
    frame: str,
    normals: str = "normal/{key}.exr",
    images: str = "images/{key}.*",
    encoding: str = "vector",
    min_norm: float = 0.5,
) -> Conversion:
    """EXR normals: ``encoding="vector"`` stores n itself, ``"rgb01"`` stores (n + 1) / 2. Valid where the stored
    vector's length exceeds ``min_norm`` (iBims-1's rule), then normalised to unit length."""
    if encoding not in ("vector", "rgb01"):
        raise ValueError(f"encoding: must be 'vector' or 'rgb01', got {encoding!r}")

    def read(path: Path, values: Mapping[str, str]) -> tuple[np.ndarray, np.ndarray, Path | None]:
        array = read_exr(path)
        if array.ndim != 3 or array.shape[2] < 3:
            raise SampleError(f"EXR normals {path.name} have shape {array.shape}, expected [H, W, 3]")
        vectors = array[..., :3] * 2.0 - 1.0 if encoding == "rgb01" else array[..., :3]
        valid = np.linalg.norm(vectors, axis=2) > min_norm
        normals_, valid = _unit(vectors, valid)
        return normals_, valid, None

    return _normals_conversion(
        source, frame=frame, normals=normals, images=images, annotations=None, pairs=None,
        description="EXR normals", read=read,
    )


@register("normals_npy", Task.NORMAL, "float normals in .npy ([H, W, 3] or [3, H, W]), optional mask .npy")
def normals_npy(
    source: str | os.PathLike[str],
    *,
    frame: str,
    normals: str = "normal/{key}.npy",
    images: str = "images/{key}.*",
    mask: str | None = None,
    min_norm: float = 0.5,
) -> Conversion:
    """Normal vectors in ``.npy``; valid where the mask file (when ``mask`` names one) is non-zero and the vector's
    length exceeds ``min_norm``."""

    def read(path: Path, values: Mapping[str, str]) -> tuple[np.ndarray, np.ndarray, Path | None]:
        array = np.load(_check_file(path), allow_pickle=False).astype(np.float32)
        if array.ndim == 3 and array.shape[0] == 3 and array.shape[2] != 3:
            array = np.moveaxis(array, 0, 2)
        if array.ndim != 3 or array.shape[2] != 3:
            raise SampleError(f"normals {path.name} have shape {array.shape}, expected [H, W, 3]")
        valid = np.linalg.norm(array, axis=2) > min_norm
        if mask is not None:
            mask_array = np.load(companion(_require_dir(source), mask, values), allow_pickle=False)
            valid &= mask_array.reshape(array.shape[:2]) > 0
        normals_, valid = _unit(array, valid)
        return normals_, valid, None

    if mask is not None:
        check_companion_pattern(normals, mask, "mask")
    return _normals_conversion(
        source, frame=frame, normals=normals, images=images, annotations=None, pairs=None,
        description="npy normals", read=read,
    )
