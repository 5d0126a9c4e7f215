"""File formats for decoded outputs: 16-bit depth PNGs, .npy arrays, point clouds (PLY), COCO RLE / keypoint JSON
and mask PNGs. Pure numpy / PIL / pycocotools; paths are written as given (the caller
creates folders).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from PIL import Image, PngImagePlugin
from pycocotools import mask as mask_utils

from diception_core.decoders import Instances, PoseKeypoints, check_rgb
from diception_core.visualize import as_uint8_image

__all__ = [
    "depth_to_point_cloud",
    "instances_to_coco_rle",
    "load_depth_png16",
    "read_ply",
    "rgb_to_uint8",
    "save_depth_png16",
    "save_instances_json",
    "save_keypoints_json",
    "save_mask_png",
    "save_npy",
    "write_ply",
]

PathLike = str | os.PathLike

_PNG16_MAX = 65535
_PNG16_MAPPING = "value = round((d - disparity_min) / (disparity_max - disparity_min) * 65535); 65535 = near"
_PNG16_KEYS = ("disparity_min", "disparity_max")


def _check_disparity(disparity: np.ndarray) -> np.ndarray:
    if not isinstance(disparity, np.ndarray) or disparity.ndim != 2 or 0 in disparity.shape:
        shape = list(getattr(disparity, "shape", []))
        raise ValueError(f"disparity: expected a non-empty numpy array of shape [H, W], got {shape}")
    if not np.issubdtype(disparity.dtype, np.number) or not np.isfinite(disparity).all():
        raise ValueError("disparity: expected finite numeric values")
    return disparity.astype(np.float64)  # [H, W]


def _min_max(d: np.ndarray) -> np.ndarray:
    """``(d - min) / (max - min)``; a constant map gives zeros."""
    low, high = float(d.min()), float(d.max())
    return (d - low) / (high - low) if high > low else np.zeros_like(d)


# ----------------------------------------------------------------------------------------------------------------
# Depth
# ----------------------------------------------------------------------------------------------------------------


def save_depth_png16(path: PathLike, disparity: np.ndarray) -> dict[str, float | str]:
    """Save disparity [H, W] as a 16-bit grayscale PNG (PIL mode "I;16").

    Mapping: ``value = round((d - min d) / (max d - min d) * 65535)``, so 65535 = near (a constant map saves as
    zeros). The original ``disparity_min`` / ``disparity_max`` and the mapping text are stored as PNG text chunks
    and returned, so ``d = value / 65535 * (max - min) + min`` recovers the input.
    """
    d = _check_disparity(disparity)  # [H, W]
    values = np.round(_min_max(d) * _PNG16_MAX).astype(np.uint16)  # [H, W] in [0, 65535]
    info: dict[str, float | str] = {
        "disparity_min": float(d.min()),
        "disparity_max": float(d.max()),
        "mapping": _PNG16_MAPPING,
    }
    chunks = PngImagePlugin.PngInfo()
    for key, value in info.items():
        chunks.add_text(key, repr(value) if isinstance(value, float) else value)
    Image.fromarray(values).save(path, format="PNG", pnginfo=chunks)  # uint16 array -> mode "I;16"
    return info


def load_depth_png16(path: PathLike) -> tuple[np.ndarray, dict[str, float | str]]:
    """Load a PNG written by ``save_depth_png16``: ``(value / 65535 as float32 [H, W] in [0, 1], info)``.

    ``info`` holds the recorded ``disparity_min``, ``disparity_max`` (floats) and ``mapping`` when present.
    """
    with Image.open(path) as image:
        if image.mode not in ("I;16", "I"):
            raise ValueError(f"path: {path} is not a 16-bit grayscale PNG (mode {image.mode})")
        values = np.array(image)  # [H, W] uint16 (or int32 for mode "I")
        text = dict(getattr(image, "text", {}))
    info: dict[str, float | str] = {}
    for key in _PNG16_KEYS:
        if key in text:
            try:
                info[key] = float(text[key])
            except ValueError:
                raise ValueError(f"path: text chunk {key}={text[key]!r} in {path} is not a number") from None
    if "mapping" in text:
        info["mapping"] = text["mapping"]
    return (values.astype(np.float32) / _PNG16_MAX).astype(np.float32), info


def save_npy(path: PathLike, array: np.ndarray) -> None:
    """Save a numeric array as float32 ``.npy`` (no pickling)."""
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"array: expected a numeric numpy array, got {getattr(array, 'dtype', type(array))}")
    np.save(path, array.astype(np.float32), allow_pickle=False)


# ----------------------------------------------------------------------------------------------------------------
# Point clouds
# ----------------------------------------------------------------------------------------------------------------


def _check_camera(fov_deg: float, near_far_ratio: float) -> None:
    if not 0.0 < float(fov_deg) < 180.0:
        raise ValueError(f"fov_deg: must lie in (0, 180), got {fov_deg}")
    if not float(near_far_ratio) > 1.0:
        raise ValueError(f"near_far_ratio: must be > 1, got {near_far_ratio}")


def _grid_stride(height: int, width: int, max_points: int, name: str) -> int:
    """The smallest stride s with ceil(H / s) · ceil(W / s) <= max_points."""
    if int(max_points) < 1:
        raise ValueError(f"{name}: must be at least 1, got {max_points}")
    stride = max(1, int(np.ceil(np.sqrt(height * width / max_points))))
    while -(-height // stride) * -(-width // stride) > max_points:
        stride += 1
    return stride


def _back_project(
    disparity: np.ndarray, image: np.ndarray, fov_deg: float, near_far_ratio: float, max_points: int, name: str
) -> tuple[np.ndarray, np.ndarray]:
    """Strided back-projection (see ``depth_to_point_cloud``): (xyz [h, w, 3] float32, rgb [h, w, 3] uint8)."""
    d = _check_disparity(disparity)  # [H, W]
    image = as_uint8_image(image)  # [H, W, 3]
    if image.shape[:2] != d.shape:
        raise ValueError(f"image: size {list(image.shape[:2])} does not match disparity's {list(d.shape)}")
    _check_camera(fov_deg, near_far_ratio)
    height, width = d.shape
    stride = _grid_stride(height, width, max_points, name)
    inverse_r = 1.0 / float(near_far_ratio)
    z = 1.0 / (_min_max(d)[::stride, ::stride] * (1.0 - inverse_r) + inverse_r)  # [h, w] depth in [1, r]
    v, u = np.mgrid[0:height:stride, 0:width:stride].astype(np.float64)  # [h, w] row, column
    focal = (width / 2.0) / np.tan(np.deg2rad(float(fov_deg)) / 2.0)
    xyz = np.stack([(u + 0.5 - width / 2.0) * z / focal, -(v + 0.5 - height / 2.0) * z / focal, -z], axis=-1)
    return xyz.astype(np.float32), np.ascontiguousarray(image[::stride, ::stride])  # [h, w, 3] each


def depth_to_point_cloud(
    disparity: np.ndarray,
    image: np.ndarray,
    *,
    fov_deg: float = 55.0,
    near_far_ratio: float = 10.0,
    max_points: int = 500_000,
) -> tuple[np.ndarray, np.ndarray]:
    """Back-project a disparity map into a coloured point cloud for viewing (not a metric reconstruction).

    The model's disparity is affine-invariant, so a scale and shift must be assumed: ``d`` is min-max normalised
    to [0, 1] and mapped to depth with an assumed near/far ratio ``r = near_far_ratio`` (default 10):
    ``z = 1 / (d · (1 - 1/r) + 1/r)``, so the nearest pixel (d = 1) is at depth 1 and the farthest (d = 0) at r.
    A pinhole camera with horizontal field of view ``fov_deg`` (default 55°) and the principal point at the image
    centre gives ``f = (W / 2) / tan(fov / 2)``, ``X = (u + 0.5 - W/2) · z / f``, ``Y = -(v + 0.5 - H/2) · z / f``,
    ``Z = -z`` for pixel column u and row v: an OpenGL-style camera frame (x right, y up, looking down -z), the
    one glTF / three.js viewers expect. Every ``s``-th row and column is kept, with the smallest stride ``s``
    giving at most ``max_points`` points.

    Returns ``(xyz [N, 3] float32, rgb [N, 3] uint8)`` with ``image`` [H, W, 3] (uint8 or float in [0, 1]) giving
    the colours.
    """
    xyz, rgb = _back_project(disparity, image, fov_deg, near_far_ratio, max_points, "max_points")  # [h, w, 3]
    return xyz.reshape(-1, 3), rgb.reshape(-1, 3)  # [N, 3] each


_PLY_DTYPE = np.dtype(
    [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")]
)


def write_ply(path: PathLike, xyz: np.ndarray, rgb: np.ndarray) -> None:
    """Write a binary little-endian PLY point cloud: one ``vertex`` element with float x, y, z and uchar red,
    green, blue (the standard header MeshLab / trimesh / Open3D / three.js read). ``gr.Model3D`` in the pinned
    gradio 6.31 reads the header and shows such a file as a point cloud (Babylon.js); gradio 4-5 sent every .ply
    to its Gaussian-splat viewer, where a plain point cloud shows nothing (``write_glb`` works in both)."""
    if not isinstance(xyz, np.ndarray) or xyz.ndim != 2 or xyz.shape[1] != 3:
        raise ValueError(f"xyz: expected an array of shape [N, 3], got {list(getattr(xyz, 'shape', []))}")
    if not isinstance(rgb, np.ndarray) or rgb.shape != xyz.shape or rgb.dtype != np.uint8:
        raise ValueError(f"rgb: expected a uint8 array of shape {list(xyz.shape)}")
    if not np.isfinite(xyz).all():
        raise ValueError("xyz: contains NaN or infinite values")
    vertices = np.empty(len(xyz), dtype=_PLY_DTYPE)  # [N] structured
    for i, axis in enumerate("xyz"):
        vertices[axis] = xyz[:, i]
    for i, channel in enumerate(("red", "green", "blue")):
        vertices[channel] = rgb[:, i]
    header = (
        "ply\nformat binary_little_endian 1.0\ncomment written by diception_core\n"
        f"element vertex {len(xyz)}\n"
        "property float x\nproperty float y\nproperty float z\n"
        "property uchar red\nproperty uchar green\nproperty uchar blue\nend_header\n"
    )
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        f.write(vertices.tobytes())


def read_ply(path: PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read a PLY written by ``write_ply``: ``(xyz [N, 3] float32, rgb [N, 3] uint8)``. Other layouts raise."""
    data = Path(path).read_bytes()
    end = data.find(b"end_header\n")
    if not data.startswith(b"ply\n") or end < 0:
        raise ValueError(f"path: {path} is not a PLY file")
    lines = [line.strip() for line in data[:end].decode("ascii").splitlines()]
    if "format binary_little_endian 1.0" not in lines:
        raise ValueError(f"path: {path} is not a binary little-endian PLY")
    counts = [line.split()[2] for line in lines if line.startswith("element vertex ")]
    properties = [line for line in lines if line.startswith("property ")]
    expected = [f"property {kind} {name}" for name, kind in zip(
        _PLY_DTYPE.names, ["float"] * 3 + ["uchar"] * 3, strict=True)]
    if len(counts) != 1 or properties != expected:
        raise ValueError(f"path: {path} does not have the x, y, z, red, green, blue vertex layout")
    n = int(counts[0])
    body = data[end + len(b"end_header\n") :]
    if len(body) != n * _PLY_DTYPE.itemsize:
        raise ValueError(f"path: {path} holds {len(body)} bytes of vertices, expected {n * _PLY_DTYPE.itemsize}")
    vertices = np.frombuffer(body, dtype=_PLY_DTYPE, count=n)  # [N] structured
    xyz = np.stack([vertices[a] for a in "xyz"], axis=1).astype(np.float32)  # [N, 3]
    rgb = np.stack([vertices[c] for c in ("red", "green", "blue")], axis=1).astype(np.uint8)  # [N, 3]
    return xyz, rgb


# ----------------------------------------------------------------------------------------------------------------
# Instances, keypoints and masks
# ----------------------------------------------------------------------------------------------------------------


def instances_to_coco_rle(instances: Instances, *, image_id: int = 0, category_id: int = 1) -> list[dict]:
    """COCO result entries, one per instance: ``{"image_id", "category_id", "segmentation": {"size": [H, W],
    "counts": str}, "bbox": [x, y, w, h], "area", "score"}``. RLE from pycocotools' ``mask.encode`` on the
    Fortran-ordered uint8 mask; ``counts`` is decoded to str so the list is JSON-serialisable."""
    if not isinstance(instances, Instances):
        raise ValueError(f"instances: expected an Instances object, got {type(instances).__name__}")
    if not len(instances):
        return []
    rles = mask_utils.encode(np.asfortranarray(instances.masks.transpose(1, 2, 0).astype(np.uint8)))  # K dicts
    boxes = mask_utils.toBbox(rles)  # [K, 4]
    areas = mask_utils.area(rles)  # [K]
    results = []
    for rle, box, area, score in zip(rles, boxes, areas, instances.scores, strict=True):
        results.append(
            {
                "image_id": int(image_id),
                "category_id": int(category_id),
                "segmentation": {"size": [int(s) for s in rle["size"]], "counts": str(rle["counts"], "ascii")},
                "bbox": [float(v) for v in box],
                "area": float(area),
                "score": float(score),
            }
        )
    return results


def save_instances_json(path: PathLike, instances: Instances, **kwargs) -> list[dict]:
    """Write ``instances_to_coco_rle(instances, **kwargs)`` as JSON and return it."""
    results = instances_to_coco_rle(instances, **kwargs)
    Path(path).write_text(json.dumps(results), encoding="utf-8")
    return results


def save_keypoints_json(path: PathLike, pose: PoseKeypoints, image_size: tuple[int, int]) -> dict:
    """Write joint candidates as JSON: ``{"image_size": {"height", "width"}, "coordinates": ..., "points":
    [[x, y], ...], "scores": [...], "note": PoseKeypoints.IDENTITY_NOTE}``.

    ``image_size`` is (height, width), as numpy's ``shape[:2]``; the points are (x, y).
    """
    if not isinstance(pose, PoseKeypoints):
        raise ValueError(f"pose: expected a PoseKeypoints object, got {type(pose).__name__}")
    if len(image_size) != 2 or not all(int(s) > 0 for s in image_size):
        raise ValueError(f"image_size: expected (height, width) with positive values, got {image_size!r}")
    height, width = (int(s) for s in image_size)
    record = {
        "image_size": {"height": height, "width": width},
        "coordinates": "pixels; x to the right, y down; (x, y) is the centre of column x, row y",
        "points": [[float(x), float(y)] for x, y in pose.points],
        "scores": [float(s) for s in pose.scores],
        "note": PoseKeypoints.IDENTITY_NOTE,
    }
    Path(path).write_text(json.dumps(record, indent=1), encoding="utf-8")
    return record


def save_mask_png(path: PathLike, mask: np.ndarray) -> None:
    """Save a bool [H, W] mask as an 8-bit grayscale PNG: 255 inside, 0 outside."""
    if not isinstance(mask, np.ndarray) or mask.ndim != 2 or mask.dtype != np.bool_ or 0 in mask.shape:
        raise ValueError(f"mask: expected a non-empty bool array of shape [H, W], got {getattr(mask, 'dtype', None)}")
    Image.fromarray(mask.astype(np.uint8) * 255).save(path, format="PNG")  # mode "L"


def rgb_to_uint8(rgb: np.ndarray) -> np.ndarray:
    """The model's raw output [H, W, 3] in [0, 1] as a uint8 image (e.g. to save the RGB encoding as is)."""
    return as_uint8_image(check_rgb(rgb))
