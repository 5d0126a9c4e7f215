"""Every file a user can download for one prediction, written in one place (shared by the CLI and the app)."""

from __future__ import annotations

import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from diception_spec.tasks import Encoding

from . import exports, visualize


def visualization(prediction) -> np.ndarray:
    """The picture for a prediction, uint8 [H, W, 3]: colour-mapped depth, a normal map, overlays, or the RGB."""
    encoding, image = prediction.encoding, prediction.image
    if encoding is Encoding.DEPTH:
        return visualize.colorize_depth(prediction.decoded)
    if encoding is Encoding.NORMAL:
        return visualize.normals_to_image(prediction.decoded)
    if encoding is Encoding.MASK:
        vis = visualize.mask_overlay(image, prediction.decoded)
        return visualize.draw_points(vis, prediction.points) if prediction.points else vis
    if encoding is Encoding.INSTANCES:
        return visualize.instances_overlay(image, prediction.decoded)
    if encoding is Encoding.POSE:
        return visualize.keypoints_overlay(image, prediction.decoded)
    return (np.clip(prediction.rgb, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def write_prediction_files(prediction, out_dir: str | Path, *, stem: str | None = None) -> dict[str, Path]:
    """Write the downloads for one prediction into ``out_dir``; returns {kind: path}.

    Always: ``<stem>_raw.npy`` (the raw RGB output, float32 [H, W, 3] in [0, 1]) and ``<stem>_vis.png``.
    Depth: ``_depth16.png`` (16-bit, linear [0, 1] -> [0, 65535] of min-max normalised disparity, range in its
    PNG text chunks), ``_depth.npy`` (float32 disparity, 1 = near), ``_depth_color.png``, ``_pointcloud.ply``.
    Normals: ``_normals.npy`` (float32 unit vectors) and ``_normals.png``. Mask: ``_mask.png`` (0 / 255).
    Instances: ``_instances.png`` (palette, index = instance) and ``_instances.json`` (COCO RLE).
    Pose: ``_keypoints.json``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = stem or _default_stem(prediction)
    files: dict[str, Path] = {}

    def path(suffix: str) -> Path:
        return out / f"{stem}{suffix}"

    files["raw"] = path("_raw.npy")
    exports.save_npy(files["raw"], prediction.rgb)
    vis = visualization(prediction)
    files["visualization"] = path("_vis.png")
    Image.fromarray(vis).save(files["visualization"])
    decoded, encoding = prediction.decoded, prediction.encoding
    if encoding is Encoding.DEPTH:
        files["depth_png16"] = path("_depth16.png")
        exports.save_depth_png16(files["depth_png16"], decoded)
        files["depth_npy"] = path("_depth.npy")
        exports.save_npy(files["depth_npy"], decoded)
        files["depth_color"] = path("_depth_color.png")
        Image.fromarray(visualize.colorize_depth(decoded)).save(files["depth_color"])
        xyz, colours = exports.depth_to_point_cloud(decoded, prediction.image)
        files["point_cloud"] = path("_pointcloud.ply")
        exports.write_ply(files["point_cloud"], xyz, colours)
    elif encoding is Encoding.NORMAL:
        files["normals_npy"] = path("_normals.npy")
        exports.save_npy(files["normals_npy"], decoded)
        files["normals_png"] = path("_normals.png")
        Image.fromarray(visualize.normals_to_image(decoded)).save(files["normals_png"])
    elif encoding is Encoding.MASK:
        files["mask"] = path("_mask.png")
        exports.save_mask_png(files["mask"], decoded)
    elif encoding is Encoding.INSTANCES:
        files["instances_png"] = path("_instances.png")
        visualize.instances_palette_image(decoded).save(files["instances_png"])
        files["instances_json"] = path("_instances.json")
        exports.save_instances_json(files["instances_json"], decoded)
    elif encoding is Encoding.POSE:
        files["keypoints_json"] = path("_keypoints.json")
        height, width = prediction.rgb.shape[:2]
        exports.save_keypoints_json(files["keypoints_json"], decoded, (height, width))
    return files


def zip_files(paths: Iterable[str | Path], zip_path: str | Path) -> Path:
    """Bundle files (by their base names) into one zip for a "download all" button."""
    zip_path = Path(zip_path)
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for item in paths:
            item = Path(item)
            archive.write(item, arcname=item.name)
    return zip_path


def _default_stem(prediction) -> str:
    name = getattr(prediction.task, "value", None) or getattr(prediction.task, "name", "prediction")
    return f"{name}_{prediction.image_index}"
