"""File exports of decoded outputs: 16-bit depth PNGs, .npy arrays, point clouds and depth meshes (PLY, glTF),
COCO RLE / keypoint JSON and mask PNGs. Pure numpy / PIL / pycocotools; paths are written as given (the caller
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
    "depth_to_mesh",
    "depth_to_point_cloud",
    "instances_to_coco_rle",
    "load_depth_png16",
    "read_glb",
    "read_ply",
    "rgb_to_uint8",
    "save_depth_png16",
    "save_instances_json",
    "save_keypoints_json",
    "save_mask_png",
    "save_npy",
    "write_glb",
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


def depth_to_mesh(
    disparity: np.ndarray,
    image: np.ndarray,
    *,
    fov_deg: float = 55.0,
    near_far_ratio: float = 10.0,
    max_vertices: int = 250_000,
    max_depth_ratio: float = 1.1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Back-project a disparity map into a coloured triangle mesh over the pixel grid (same mapping and camera as
    ``depth_to_point_cloud``, at most ``max_vertices`` vertices).

    Each grid cell gives two triangles, wound counter-clockwise as seen from the camera; a triangle is dropped when
    the largest of its three depths exceeds ``max_depth_ratio`` (default 1.1) × the smallest, so occlusion edges
    are not bridged by stretched skins.

    Returns ``(xyz [V, 3] float32, rgb [V, 3] uint8, faces [F, 3] int32 vertex indices)``.
    """
    if not float(max_depth_ratio) >= 1.0:
        raise ValueError(f"max_depth_ratio: must be >= 1, got {max_depth_ratio}")
    xyz, rgb = _back_project(disparity, image, fov_deg, near_far_ratio, max_vertices, "max_vertices")  # [h, w, 3]
    h, w = xyz.shape[:2]
    index = np.arange(h * w, dtype=np.int64).reshape(h, w)  # [h, w]
    top_left, top_right = index[:-1, :-1].ravel(), index[:-1, 1:].ravel()  # [C] per grid cell
    bottom_left, bottom_right = index[1:, :-1].ravel(), index[1:, 1:].ravel()
    faces = np.concatenate(
        [np.stack([top_left, bottom_left, top_right], axis=1), np.stack([top_right, bottom_left, bottom_right], 1)]
    )  # [2C, 3]
    depth = -xyz[..., 2].ravel()  # [V] positive depth
    corner_depths = depth[faces]  # [2C, 3]
    keep = corner_depths.max(axis=1) <= float(max_depth_ratio) * corner_depths.min(axis=1)  # [2C]
    return xyz.reshape(-1, 3), rgb.reshape(-1, 3), faces[keep].astype(np.int32)


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


_GLB_MAGIC = 0x46546C67  # "glTF"
_GLB_JSON = 0x4E4F534A  # "JSON"
_GLB_BIN = 0x004E4942  # "BIN\0"
_GL_FLOAT, _GL_UNSIGNED_INT = 5126, 5125
_GL_ARRAY_BUFFER, _GL_ELEMENT_ARRAY_BUFFER = 34962, 34963
_GL_POINTS, _GL_TRIANGLES = 0, 4


def _srgb_to_linear(rgb: np.ndarray) -> np.ndarray:
    """uint8 sRGB -> float32 linear in [0, 1] (glTF vertex colours are linear)."""
    c = rgb.astype(np.float64) / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _linear_to_srgb(linear: np.ndarray) -> np.ndarray:
    """float linear in [0, 1] -> uint8 sRGB."""
    c = np.clip(linear.astype(np.float64), 0.0, 1.0)
    srgb = np.where(c <= 0.0031308, c * 12.92, 1.055 * c ** (1.0 / 2.4) - 0.055)
    return np.round(srgb * 255.0).astype(np.uint8)


def _pad4(data: bytes, fill: bytes) -> bytes:
    return data + fill * (-len(data) % 4)


def write_glb(path: PathLike, xyz: np.ndarray, rgb: np.ndarray, faces: np.ndarray | None = None) -> None:
    """Write a binary glTF 2.0 (.glb) with one unlit mesh: triangles when ``faces`` [F, 3] is given and not
    empty, else points.

    ``gr.Model3D`` shows .glb files with its Babylon.js viewer; a mesh from ``depth_to_mesh`` reads better there
    than single-pixel points. Positions are float32 in glTF's frame (x right, y up, +z towards the viewer, as
    ``depth_to_point_cloud`` returns them); colours are stored as linear float32 ``COLOR_0`` (converted from
    sRGB); the material is ``KHR_materials_unlit`` with a non-metallic fallback.
    """
    if not isinstance(xyz, np.ndarray) or xyz.ndim != 2 or xyz.shape[1] != 3 or len(xyz) == 0:
        raise ValueError(f"xyz: expected a non-empty array of shape [N, 3], got {list(getattr(xyz, 'shape', []))}")
    if not np.isfinite(xyz).all():
        raise ValueError("xyz: contains NaN or infinite values")
    if not isinstance(rgb, np.ndarray) or rgb.shape != xyz.shape or rgb.dtype != np.uint8:
        raise ValueError(f"rgb: expected a uint8 array of shape {list(xyz.shape)}")
    if faces is not None:
        if not isinstance(faces, np.ndarray) or faces.ndim != 2 or faces.shape[1] != 3:
            raise ValueError(f"faces: expected an integer array of shape [F, 3], got {getattr(faces, 'shape', None)}")
        if not np.issubdtype(faces.dtype, np.integer) or (faces.size and (faces.min() < 0 or faces.max() >= len(xyz))):
            raise ValueError(f"faces: expected vertex indices in [0, {len(xyz)})")
        if len(faces) == 0:  # glTF accessors cannot be empty: show the vertices as points instead
            faces = None
    positions = np.ascontiguousarray(xyz, dtype="<f4")  # [N, 3]
    colours = np.ascontiguousarray(_srgb_to_linear(rgb), dtype="<f4")  # [N, 3]
    chunks = [positions.tobytes(), colours.tobytes()]
    if faces is not None:
        chunks.append(np.ascontiguousarray(faces, dtype="<u4").tobytes())
    buffer_views, offset = [], 0
    for i, chunk in enumerate(chunks):
        target = _GL_ELEMENT_ARRAY_BUFFER if i == 2 else _GL_ARRAY_BUFFER
        buffer_views.append({"buffer": 0, "byteOffset": offset, "byteLength": len(chunk), "target": target})
        offset += len(chunk)  # every chunk is a multiple of 4 bytes
    accessors = [
        {"bufferView": 0, "componentType": _GL_FLOAT, "count": len(xyz), "type": "VEC3",
         "min": positions.min(axis=0).tolist(), "max": positions.max(axis=0).tolist()},
        {"bufferView": 1, "componentType": _GL_FLOAT, "count": len(xyz), "type": "VEC3"},
    ]
    primitive: dict = {"attributes": {"POSITION": 0, "COLOR_0": 1}, "material": 0, "mode": _GL_POINTS}
    if faces is not None:
        accessors.append(
            {"bufferView": 2, "componentType": _GL_UNSIGNED_INT, "count": int(faces.size), "type": "SCALAR"}
        )
        primitive.update(indices=2, mode=_GL_TRIANGLES)
    document = {
        "asset": {"version": "2.0", "generator": "diception_core"},
        "extensionsUsed": ["KHR_materials_unlit"],
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [primitive]}],
        "materials": [{
            "pbrMetallicRoughness": {"baseColorFactor": [1, 1, 1, 1], "metallicFactor": 0.0, "roughnessFactor": 1.0},
            "doubleSided": True,
            "extensions": {"KHR_materials_unlit": {}},
        }],
        "buffers": [{"byteLength": offset}],
        "bufferViews": buffer_views,
        "accessors": accessors,
    }
    json_chunk = _pad4(json.dumps(document, separators=(",", ":")).encode("utf-8"), b" ")
    bin_chunk = _pad4(b"".join(chunks), b"\0")
    total = 12 + 8 + len(json_chunk) + 8 + len(bin_chunk)
    with open(path, "wb") as f:
        f.write(np.array([_GLB_MAGIC, 2, total], dtype="<u4").tobytes())
        f.write(np.array([len(json_chunk), _GLB_JSON], dtype="<u4").tobytes() + json_chunk)
        f.write(np.array([len(bin_chunk), _GLB_BIN], dtype="<u4").tobytes() + bin_chunk)


def read_glb(path: PathLike) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Read a .glb written by ``write_glb``: ``(xyz [N, 3] float32, rgb [N, 3] uint8 sRGB, faces [F, 3] int32 or
    None for points)``. Other layouts raise ``ValueError``."""
    data = Path(path).read_bytes()
    magic, version, total = np.frombuffer(data[:12], dtype="<u4") if len(data) >= 12 else (0, 0, 0)
    if magic != _GLB_MAGIC or version != 2 or total != len(data):
        raise ValueError(f"path: {path} is not a glTF 2.0 binary file")
    json_length, json_type = np.frombuffer(data[12:20], dtype="<u4")
    if json_type != _GLB_JSON:
        raise ValueError(f"path: {path} has no JSON chunk first")
    document = json.loads(data[20 : 20 + json_length])
    bin_start = 20 + json_length + 8
    binary = data[bin_start:]
    try:
        primitive = document["meshes"][0]["primitives"][0]
        views, accessors = document["bufferViews"], document["accessors"]

        def read(accessor_index: int, dtype: str, width: int) -> np.ndarray:
            view = views[accessors[accessor_index]["bufferView"]]
            raw = binary[view["byteOffset"] : view["byteOffset"] + view["byteLength"]]
            return np.frombuffer(raw, dtype=dtype).reshape(-1, width)

        xyz = read(primitive["attributes"]["POSITION"], "<f4", 3).astype(np.float32)  # [N, 3]
        rgb = _linear_to_srgb(read(primitive["attributes"]["COLOR_0"], "<f4", 3))  # [N, 3]
        faces = read(primitive["indices"], "<u4", 3).astype(np.int32) if "indices" in primitive else None
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(f"path: {path} does not have write_glb's layout ({error})") from None
    return xyz, rgb, faces


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
