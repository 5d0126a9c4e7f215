"""Write a prepared folder from a converter's samples, and ``run_prepare``: benchmark name -> converter -> folder.

``python -m evaluation prepare NAME --source DIR --dest DIR`` calls ``run_prepare``. One sample that is missing or
corrupt is recorded in the manifest's ``failures`` (and logged); the run goes on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from types import MappingProxyType
from typing import Any

from tqdm.auto import tqdm

from diception_spec.benchmarks import get_benchmark
from diception_spec.normals import NormalFrame, convert_normal_frame
from diception_spec.tasks import Task
from evaluation.data.converters import (
    SAMPLE_ERRORS,
    Conversion,
    DepthData,
    InstanceMask,
    NormalData,
    PendingSample,
    SampleError,
    get_converter,
    read_image_size,
)
from evaluation.data.format import (
    MANIFEST_NAME,
    SUBSAMPLE_MAX_MASKS,
    SUBSAMPLE_TARGET_MASKS,
    Failure,
    Manifest,
    SampleEntry,
    atomic_copy,
    atomic_save_npy,
    atomic_write_json,
    subsample_by_images,
)

logger = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------- sample writers


def _write_image(dest: Path, sample_id: str, image_path: Path) -> tuple[str, str, int, int]:
    height, width = read_image_size(image_path)  # decodes fully: a corrupt image fails here, before any write
    relative = f"images/{sample_id}{image_path.suffix.lower()}"
    return relative, atomic_copy(image_path, dest / relative), height, width


def write_mask_sample(dest: Path, sample_id: str, image_path: Path, masks: list[InstanceMask]) -> SampleEntry:
    """``images/<id>`` + ``masks/<id>.json``; every mask must have the image's size."""
    height, width = read_image_size(image_path)
    for mask in masks:
        if [int(v) for v in mask.rle["size"]] != [height, width]:
            raise SampleError(f"mask {mask.mask_id} is {mask.rle['size']} but the image is {[height, width]}")
    image_rel, image_sha, _, _ = _write_image(dest, sample_id, image_path)
    records = [
        {"id": m.mask_id, "area": m.area, "bbox": m.bbox, "category_id": m.category_id, "rle": dict(m.rle)}
        for m in masks
    ]
    masks_rel = f"masks/{sample_id}.json"
    masks_sha = atomic_write_json(
        dest / masks_rel, {"id": sample_id, "image": image_rel, "height": height, "width": width, "masks": records}
    )
    return SampleEntry(
        sample_id, height, width,
        files={"image": image_rel, "masks": masks_rel},
        sha256={image_rel: image_sha, masks_rel: masks_sha},
        extra={"mask_ids": [r["id"] for r in records], "mask_areas": [r["area"] for r in records]},
    )


def write_depth_sample(dest: Path, sample_id: str, image_path: Path, data: DepthData) -> SampleEntry:
    """``images/<id>`` + ``depth/<id>.png`` (kept, with its scale) or ``depth/<id>.npy``, + ``valid/<id>.npy``."""
    image_rel, image_sha, height, width = _write_image(dest, sample_id, image_path)
    files = {"image": image_rel}
    sha = {image_rel: image_sha}
    if data.keep_png is not None:
        depth_rel = f"depth/{sample_id}.png"
        sha[depth_rel] = atomic_copy(data.keep_png, dest / depth_rel)
        extra: dict[str, Any] = {"depth_encoding": "png_u16", "depth_scale": float(data.scale or 0)}
    else:
        depth_rel = f"depth/{sample_id}.npy"
        sha[depth_rel] = atomic_save_npy(dest / depth_rel, data.depth.astype("float32"))
        extra = {"depth_encoding": "npy"}
    files["depth"] = depth_rel
    if data.valid is not None:
        valid_rel = f"valid/{sample_id}.npy"
        sha[valid_rel] = atomic_save_npy(dest / valid_rel, data.valid.astype(bool))
        files["valid"] = valid_rel
    extra["valid_pixels"] = int((data.valid if data.valid is not None else data.depth > 0).sum())
    return SampleEntry(sample_id, height, width, files=files, sha256=sha, extra=extra)


def write_normal_sample(
    dest: Path, sample_id: str, image_path: Path, data: NormalData, *, source_frame: str, frame: str
) -> SampleEntry:
    """``images/<id>`` + ``normal/<id>.png`` (kept when the frame is unchanged) or ``normal/<id>.npy`` + ``valid``."""
    image_rel, image_sha, height, width = _write_image(dest, sample_id, image_path)
    files = {"image": image_rel}
    sha = {image_rel: image_sha}
    if data.keep_png is not None and source_frame == frame:
        normal_rel = f"normal/{sample_id}.png"
        sha[normal_rel] = atomic_copy(data.keep_png, dest / normal_rel)
        extra: dict[str, Any] = {"normal_encoding": "png_u8"}
    else:
        normal_rel = f"normal/{sample_id}.npy"
        sha[normal_rel] = atomic_save_npy(dest / normal_rel, convert_normal_frame(data.normals, source_frame, frame))
        valid_rel = f"valid/{sample_id}.npy"
        sha[valid_rel] = atomic_save_npy(dest / valid_rel, data.valid.astype(bool))
        files["valid"] = valid_rel
        extra = {"normal_encoding": "npy"}
    files["normal"] = normal_rel
    extra["valid_pixels"] = int(data.valid.sum())
    return SampleEntry(sample_id, height, width, files=files, sha256=sha, extra=extra)


# ----------------------------------------------------------------------------------------------- prepare


def prepare(
    fmt: str,
    source: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    benchmark: str | None = None,
    spec_version: str = "0",
    seed: int = 0,
    max_masks: int = SUBSAMPLE_MAX_MASKS,
    target_masks: int = SUBSAMPLE_TARGET_MASKS,
    out_frame: str | None = None,
    overwrite: bool = False,
    progress: bool = False,
    **options: Any,
) -> Manifest:
    """Convert ``source`` with the converter ``fmt`` (``**options`` go to it) into the prepared folder ``dest``.

    Steps: 1. list the samples (a missing folder or annotation file raises: nothing can be converted);
    2. point segmentation only: count masks per image and subsample by random images when there are more than
    ``max_masks`` (to ~``target_masks``, seeded by ``seed``); 3. decode and write each sample, recording a sample
    that fails in ``failures``; 4. write ``manifest.json`` last. ``out_frame`` is the normal frame to write
    (default: the source's, the converter's ``frame``). Raises ``FileExistsError`` when ``dest`` already holds a
    manifest and ``overwrite`` is off.
    """
    spec = get_converter(fmt)
    destination = Path(dest)
    if (destination / MANIFEST_NAME).exists() and not overwrite:
        raise FileExistsError(f"dest: {destination} already holds a prepared dataset (pass overwrite=True to replace)")
    # 1. list
    conversion: Conversion = spec.function(source, **options)
    if not conversion.samples and not conversion.failures:
        raise ValueError(
            f"source: nothing under {source} matches the {fmt} layout ({spec.description}; options {options}); "
            "check --source and the file patterns"
        )
    failures = [Failure(sample_id, reason) for sample_id, reason in conversion.failures]
    out_frame = NormalFrame.parse(out_frame).value if out_frame is not None else conversion.normal_frame
    samples = _unique(conversion.samples, failures)
    if out_frame is not None and spec.family is not Task.NORMAL:
        raise ValueError(f"out_frame: only normal formats take a frame; {fmt!r} converts {spec.family.value}")
    # 2. subsample (point segmentation)
    subsampling = None
    if spec.family is Task.POINT_SEGMENTATION:
        counts: list[tuple[str, int]] = []
        counted: list[PendingSample] = []
        for sample in samples:
            try:
                counts.append((sample.sample_id, sample.count() if sample.count else len(sample.load())))
                counted.append(sample)
            except SAMPLE_ERRORS as error:
                failures.append(_failure(sample.sample_id, error))
        kept, subsampling = subsample_by_images(counts, seed=seed, max_masks=max_masks, target_masks=target_masks)
        kept_ids = set(kept)
        samples = [s for s in counted if s.sample_id in kept_ids]
    # 3. decode and write
    destination.mkdir(parents=True, exist_ok=True)
    entries: list[SampleEntry] = []
    for sample in tqdm(samples, desc=f"prepare {benchmark or fmt}", disable=not progress, unit="sample"):
        try:
            entry = _write_sample(destination, sample, spec.family, conversion, out_frame)
        except SAMPLE_ERRORS as error:
            failures.append(_failure(sample.sample_id, error))
            continue
        if entry is not None:
            entries.append(entry)
    # 4. manifest
    manifest = Manifest(
        family=spec.family,
        benchmark=benchmark or fmt,
        spec_version=str(spec_version),
        converter=fmt,
        source={"path": str(Path(source).resolve()), "description": conversion.description},
        samples=entries,
        failures=failures,
        subsampling=subsampling,
        converter_options=dict(options),
        stats=dict(conversion.stats),
        normal_frame=out_frame,
        created_utc=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    if subsampling is not None:
        subsampling["written_masks"] = manifest.n_masks
    manifest.write(destination)
    for failure in failures:
        logger.warning("%s: sample %s failed: %s", manifest.benchmark, failure.sample_id, failure.reason)
    logger.info(
        "%s: %d samples written to %s, %d failed", manifest.benchmark, len(entries), destination, len(failures)
    )
    return manifest


def _unique(samples: list[PendingSample], failures: list[Failure]) -> list[PendingSample]:
    seen: set[str] = set()
    unique = []
    for sample in samples:
        if sample.sample_id in seen:
            failures.append(Failure(sample.sample_id, "duplicate sample id (two source files map to it)"))
            continue
        seen.add(sample.sample_id)
        unique.append(sample)
    return unique


def _failure(sample_id: str, error: BaseException) -> Failure:
    if isinstance(error, FileNotFoundError):
        return Failure(sample_id, f"missing file: {error.filename or error}")
    if isinstance(error, SampleError):
        return Failure(sample_id, str(error))
    return Failure(sample_id, f"corrupt or unreadable: {type(error).__name__}: {error}")


def _write_sample(
    dest: Path, sample: PendingSample, family: Task, conversion: Conversion, out_frame: str | None
) -> SampleEntry | None:
    if sample.image_path is None:
        raise SampleError("missing file: no image for this sample")
    payload = sample.load()
    if family is Task.POINT_SEGMENTATION:
        if not isinstance(payload, list):
            raise TypeError(f"converter returned {type(payload).__name__} for a mask sample")
        if not payload:
            conversion.stats["images_without_masks"] += 1
            return None
        return write_mask_sample(dest, sample.sample_id, sample.image_path, payload)
    if family is Task.DEPTH:
        if not isinstance(payload, DepthData):
            raise TypeError(f"converter returned {type(payload).__name__} for a depth sample")
        return write_depth_sample(dest, sample.sample_id, sample.image_path, payload)
    if not isinstance(payload, NormalData) or conversion.normal_frame is None or out_frame is None:
        raise TypeError("a normal sample needs NormalData and a source frame")
    return write_normal_sample(
        dest, sample.sample_id, sample.image_path, payload, source_frame=conversion.normal_frame, frame=out_frame
    )


# ----------------------------------------------------------------------------------------------- benchmark recipes


@dataclass(frozen=True)
class Recipe:
    """How to prepare one benchmark from its native release: the converter and its default options."""

    task: Task
    name: str
    fmt: str
    options: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""


def _sa23(name: str, fmt: str, note: str = "", **options: Any) -> Recipe:
    return Recipe(Task.POINT_SEGMENTATION, name, fmt, MappingProxyType(options), note)


_DSINE_PNG = MappingProxyType({"normals": "**/{key}_normal.png", "images": "{dir}/{key}_img.png"})
_DSINE_EXR = MappingProxyType({"normals": "**/{key}_normal.exr", "images": "{dir}/{key}_img.png"})
_LABELS_NOTE = "expects images/<key>.* and labels/<key>.png (override --labels / --images patterns)"

RECIPES: Mapping[tuple[Task, str], Recipe] = MappingProxyType(
    {
        (r.task, r.name): r
        for r in (
            # SA-23 (names as in sam23_datasets.csv), each from its native release format.
            _sa23("PPDLS", "instance_id_png", "CVPPP <key>_rgb.png + <key>_label.png",
                  labels="**/{key}_label.png", images="{dir}/{key}_rgb.png"),
            _sa23("BBBC038v1", "per_object_pngs", "stage1_train layout <id>/images/<id>.png + <id>/masks/*.png"),
            _sa23("DOORS", "instance_id_png", _LABELS_NOTE),
            _sa23("TimberSeg", "coco_json"),
            _sa23("NDD20", "via_json", "VIA JSON of the above- or below-water set beside its images"),
            _sa23("LVIS", "lvis_json", "images under --images, as <split>/<name> or <name>"),
            _sa23("STREETS", "coco_json"),
            _sa23("ZeroWaste-f", "coco_json"),
            _sa23("iShape", "instance_id_png", _LABELS_NOTE),
            _sa23("ADE20K", "ade20k_seg_png", "ADE20K full release, <name>.jpg beside <name>_seg.png"),
            _sa23("OVIS", "ytvis_json", "train JSON + JPEGImages/<video>/<frame>.jpg; each frame is one image"),
            _sa23("Hypersim", "instance_id_png", "export semantic_instance HDF5 to PNG first; " + _LABELS_NOTE),
            _sa23("NDISPark", "coco_json"),
            _sa23("VISOR", "instance_id_png", "render with VISOR's official renderer first; " + _LABELS_NOTE),
            _sa23("Plittersdorf", "coco_json"),
            _sa23("EgoHOS", "instance_id_png", _LABELS_NOTE),
            _sa23("IBD", "instance_id_png", _LABELS_NOTE),
            _sa23("WoodScape", "instance_id_png", "render the per-image JSON polygons first; " + _LABELS_NOTE),
            _sa23("Cityscapes", "cityscapes_instance_ids", "gtFine + leftImg8bit, validation split", split="val"),
            _sa23("PIDRay", "coco_json"),
            _sa23("DRAM", "instance_id_png", "semantic labels: one mask per class per image; " + _LABELS_NOTE),
            _sa23("TrashCan", "coco_json"),
            _sa23("GTEA", "instance_id_png", "binary hand masks: one mask per image; " + _LABELS_NOTE),
            _sa23("sa1b", "sa1b_json", "SA-1B tar members: <name>.jpg + <name>.json"),
            # Depth.
            Recipe(Task.DEPTH, "nyuv2", "depth_png", MappingProxyType({"scale": 1000.0}), "uint16 PNG / 1000"),
            Recipe(Task.DEPTH, "kitti", "depth_png", MappingProxyType({"scale": 256.0}), "uint16 PNG / 256, sparse"),
            Recipe(Task.DEPTH, "scannet", "depth_png", MappingProxyType({"scale": 1000.0}), "uint16 PNG / 1000"),
            Recipe(Task.DEPTH, "diode", "diode_npy", MappingProxyType({}), "val indoors + outdoors"),
            Recipe(Task.DEPTH, "eth3d", "eth3d_raw", MappingProxyType({}), "float32 raw 4032x6048"),
            Recipe(Task.DEPTH, "sintel", "sintel_dpt", MappingProxyType({}), "training/final + training/depth"),
            # Normals: the frame is the dataset's and must be stated (benchmark spec or --frame); never guessed.
            # DSINE's evaluation release: <scene>/<id>_img.png + <id>_normal.png / .exr.
            Recipe(Task.NORMAL, "nyuv2", "normals_png", _DSINE_PNG, "8-bit PNG, valid where RGB sum > 0"),
            Recipe(Task.NORMAL, "scannet", "normals_png", _DSINE_PNG, "8-bit PNG, valid where RGB sum > 0"),
            Recipe(Task.NORMAL, "diode_indoor", "normals_npy", MappingProxyType(
                {"normals": "**/{key}_normal.npy", "images": "{dir}/{key}.png", "min_norm": 0.0}
            ), "DIODE val/indoors *_normal.npy; zero vectors are invalid"),
            Recipe(Task.NORMAL, "ibims", "normals_exr", _DSINE_EXR, "EXR, valid where |n| > 0.5"),
            Recipe(Task.NORMAL, "sintel", "normals_exr", _DSINE_EXR, "EXR, valid where |n| > 0.5"),
        )
    }
)


def find_recipe(name: str, task: str | Task | None = None) -> Recipe:
    """The recipe for a benchmark name (``"nyuv2"``, ``"depth/nyuv2"``); names shared by tasks need the task."""
    if "/" in name and task is None:
        task, name = name.split("/", 1)
    wanted = Task.parse(task) if task is not None else None
    matches = [r for (t, n), r in RECIPES.items() if n.lower() == name.lower() and (wanted is None or t is wanted)]
    if len(matches) == 1:
        return matches[0]
    known = ", ".join(f"{t.value}/{n}" for t, n in RECIPES)
    if not matches:
        raise ValueError(f"name: unknown benchmark {name!r}{f' for task {wanted.value}' if wanted else ''}; "
                         f"known benchmarks: {known}")
    tasks = ", ".join(f"{r.task.value}/{r.name}" for r in matches)
    raise ValueError(f"name: {name!r} is ambiguous ({tasks}); give the task")


def _spec_facts(task: Task, name: str) -> dict[str, Any]:
    """Version and normal frame from the benchmark registry when it knows this benchmark (optional)."""
    try:
        spec = get_benchmark(task.value, name)
    except (KeyError, ValueError):
        return {}
    facts = {}
    for attribute in ("version", "spec_version"):
        if getattr(spec, attribute, None) is not None:
            facts["spec_version"] = str(getattr(spec, attribute))
            break
    for attribute in ("frame", "normal_frame"):
        value = getattr(spec, attribute, None)
        if isinstance(value, str):
            facts["frame"] = value
            break
    return facts


def run_prepare(
    name: str,
    source: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    task: str | None = None,
    fmt: str | None = None,
    seed: int = 0,
    max_masks: int = SUBSAMPLE_MAX_MASKS,
    target_masks: int = SUBSAMPLE_TARGET_MASKS,
    spec_version: str | None = None,
    frame: str | None = None,
    source_frame: str | None = None,
    overwrite: bool = False,
    progress: bool = True,
    **options: Any,
) -> Manifest:
    """Prepare benchmark ``name`` (an SA-23 name, ``nyuv2``, ``depth/kitti``, ``normal/ibims``, ...) from ``source``.

    ``fmt`` overrides the recipe's converter (a user's own layout); ``**options`` override the recipe's converter
    options (file patterns, ``scale``, ``annotations``, ``pairs`` ...; ``None`` values are dropped so an argparse
    namespace can be passed as is). ``spec_version`` and, for normals, ``source_frame`` (the frame the normal files
    are in) default to the benchmark registry's entry when it has one; ``frame`` is the normal frame to write
    (default: the source's).
    Unknown names raise ``ValueError`` with the list of known ones.
    """
    recipe = find_recipe(name, task)
    facts = _spec_facts(recipe.task, recipe.name)
    converter_options = {**recipe.options, **{k: v for k, v in options.items() if v is not None}}
    chosen_fmt = fmt or recipe.fmt
    if get_converter(chosen_fmt).family is Task.NORMAL:
        stated = source_frame or facts.get("frame")
        if stated is None:
            raise ValueError(
                f"source_frame: {recipe.task.value}/{recipe.name} needs the frame its normal files are in "
                "(x_right_y_up_z_viewer / marigold, x_left_y_up_z_viewer / dsine, x_right_y_down_z_away / opencv)"
            )
        converter_options["frame"] = stated
    elif frame is not None or source_frame is not None:
        raise ValueError(f"frame: only normal benchmarks take a frame; {recipe.task.value}/{recipe.name} does not")
    return prepare(
        chosen_fmt,
        source,
        dest,
        benchmark=recipe.name,
        spec_version=spec_version or facts.get("spec_version", "0"),
        seed=seed,
        max_masks=max_masks,
        target_masks=target_masks,
        out_frame=frame,
        overwrite=overwrite,
        progress=progress,
        **converter_options,
    )
