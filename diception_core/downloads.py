"""The downloads of one prediction: every file a user can get (raw output, decoded values, visualisation, zip),
written in one place for the CLI and the app. The file formats themselves are ``file_formats``'."""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image

from diception_spec.tasks import Encoding

from . import file_formats, visualize


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
    return (np.clip(_full_rgb(prediction), 0.0, 1.0) * 255.0).round().astype(np.uint8)


def _full_rgb(prediction) -> np.ndarray:
    """The full-resolution raw output: an RGB task's decoded output is that already; others make it now."""
    if prediction.encoding is Encoding.RGB and prediction.decoded is not None:
        return prediction.decoded
    return prediction.rgb


def write_prediction_files(
    prediction, out_dir: str | Path, *, stem: str | None = None, vis: np.ndarray | None = None
) -> dict[str, Path]:
    """Write the downloads for one prediction into ``out_dir``; returns {kind: path}.

    ``vis``: the prediction's ``visualization`` when the caller has rendered it already (it is rendered once).
    Always: ``<stem>_raw.npy`` (the raw RGB output at the input size, float32 [H, W, 3] in [0, 1]; the only file
    that needs the full-resolution RGB, made here from the model-resolution output) and ``<stem>_vis.png``.
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
    file_formats.save_npy(files["raw"], _full_rgb(prediction))
    vis = visualization(prediction) if vis is None else vis
    files["visualization"] = path("_vis.png")
    Image.fromarray(vis).save(files["visualization"])
    decoded, encoding = prediction.decoded, prediction.encoding
    if encoding is Encoding.DEPTH:
        files["depth_png16"] = path("_depth16.png")
        file_formats.save_depth_png16(files["depth_png16"], decoded)
        files["depth_npy"] = path("_depth.npy")
        file_formats.save_npy(files["depth_npy"], decoded)
        files["depth_color"] = path("_depth_color.png")
        shutil.copyfile(files["visualization"], files["depth_color"])  # the visualisation is the coloured depth
        xyz, colours = file_formats.depth_to_point_cloud(decoded, prediction.image)
        files["point_cloud"] = path("_pointcloud.ply")
        file_formats.write_ply(files["point_cloud"], xyz, colours)
    elif encoding is Encoding.NORMAL:
        files["normals_npy"] = path("_normals.npy")
        file_formats.save_npy(files["normals_npy"], decoded)
        files["normals_png"] = path("_normals.png")
        shutil.copyfile(files["visualization"], files["normals_png"])  # the visualisation is the normal map
    elif encoding is Encoding.MASK:
        files["mask"] = path("_mask.png")
        file_formats.save_mask_png(files["mask"], decoded)
    elif encoding is Encoding.INSTANCES:
        files["instances_png"] = path("_instances.png")
        visualize.instances_palette_image(decoded).save(files["instances_png"])
        files["instances_json"] = path("_instances.json")
        file_formats.save_instances_json(files["instances_json"], decoded)
    elif encoding is Encoding.POSE:
        files["keypoints_json"] = path("_keypoints.json")
        height, width = prediction.image.shape[:2]
        file_formats.save_keypoints_json(files["keypoints_json"], decoded, (height, width))
    return files


def zip_files(paths: Iterable[str | Path], zip_path: str | Path) -> Path:
    """Bundle files (by their base names) into one zip for a "download all" button.

    Stored, not deflated: the PNGs are compressed already, and deflate saves only 15-20 % on the float arrays and
    the point cloud while it took most of a request's post-processing time (about 1 s of 1.6 s for a 768 x 512
    depth run on these CPUs).
    """
    zip_path = Path(zip_path)
    with zipfile.ZipFile(zip_path, "w", compression=zipfile.ZIP_STORED) as archive:
        for item in paths:
            item = Path(item)
            archive.write(item, arcname=item.name)
    return zip_path


def _default_stem(prediction) -> str:
    name = getattr(prediction.task, "value", None) or getattr(prediction.task, "name", "prediction")
    return f"{name}_{prediction.image_index}"
