"""A procedural smoke benchmark: small ray-cast scenes with exact depth, normals and instance masks.

Every scene is a deterministic function of ``(index, size, seed)``: a pinhole camera (OpenCV axes: x right, y down,
z forward; focal length ``size`` pixels, principal point at the image centre) looks at a fronto-parallel back wall,
a floor and 2-4 objects (spheres and boxes turned about the vertical axis) resting on the floor. Depth is the exact
z-depth of the first hit; normals are the exact surface normals, converted to the Marigold frame (x right, y up,
z towards the viewer); instances are the visible pixels of each object. The RGB image is Lambertian-shaded with a
checkered floor, a striped wall and mild noise, so that it is not trivial to read.

About 1% of the pixels are "sensor dropouts" (``valid`` False, depth 0, normal 0), so that valid masks are exercised.
Never shown on the public leaderboard (the benchmark is registered with ``ranked=False``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np

__all__ = ["SURFACE_FLOOR", "SURFACE_WALL", "Scene", "make_synthetic_scene", "synthetic_samples"]

SURFACE_WALL = 0
SURFACE_FLOOR = 1  # objects are 2, 3, ...; instance k is surface k + 2
MIN_INSTANCE_PIXELS = 16
DROPOUT_RATE = 0.01
MIN_DEPTH = 0.5  # metres; every hit lies in [MIN_DEPTH, MAX_DEPTH]
MAX_DEPTH = 10.0


@dataclass(frozen=True, eq=False)
class Scene:
    sample_id: str
    image: np.ndarray  # uint8 [H, W, 3]
    depth: np.ndarray  # float32 [H, W], z-depth in metres; 0 where not valid
    normals: np.ndarray  # float32 [H, W, 3], unit, Marigold frame (x right, y up, z to the viewer); 0 where invalid
    valid: np.ndarray  # bool [H, W]
    instances: np.ndarray  # bool [K, H, W], visible pixels of each object, each non-empty
    surface: np.ndarray  # int16 [H, W]: SURFACE_WALL, SURFACE_FLOOR, or object k + 2 (even where not valid)
    focal: float  # pixels (fx = fy)
    principal_point: tuple[float, float]  # (cx, cy) in pixels; pixel (u, v) has its centre at (u + 0.5, v + 0.5)
    wall_depth: float  # z of the back wall
    floor_height: float  # the floor is the plane y = floor_height (y down)
    objects: tuple[Mapping[str, Any], ...]  # the objects' parameters, in instance order before filtering


def _rays(size: int, focal: float) -> tuple[np.ndarray, np.ndarray]:
    c = size / 2.0
    u = (np.arange(size, dtype=np.float64) + 0.5 - c) / focal
    a, b = np.meshgrid(u, u, indexing="xy")  # a: x / z (columns), b: y / z (rows); [H, W]
    return a, b


def _yaw(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _hit_sphere(d: np.ndarray, center: np.ndarray, radius: float) -> tuple[np.ndarray, np.ndarray]:
    """Nearest positive hit of rays ``t·d`` with a sphere: t (= z-depth since d_z = 1) and the outward normal."""
    dd = (d * d).sum(-1)  # [H, W]
    dc = d @ center  # [H, W]
    disc = dc * dc - dd * (center @ center - radius * radius)
    t = np.where(disc >= 0, (dc - np.sqrt(np.maximum(disc, 0.0))) / dd, np.inf)
    t = np.where(t > 0, t, np.inf)
    normal = (t[..., None] * d - center) / radius
    return t, normal


def _hit_box(
    d: np.ndarray, center: np.ndarray, half: np.ndarray, yaw: float
) -> tuple[np.ndarray, np.ndarray]:
    """Nearest positive hit with a box turned by ``yaw`` about the y axis (slab method in the box frame)."""
    rot = _yaw(yaw)  # box frame -> camera frame
    d_local = d @ rot  # [H, W, 3] = R^T d per pixel
    o_local = -(rot.T @ center)  # camera origin in the box frame
    d_safe = np.where(np.abs(d_local) < 1e-12, 1e-12, d_local)
    t1 = (-half - o_local) / d_safe  # [H, W, 3]
    t2 = (half - o_local) / d_safe
    t_near = np.minimum(t1, t2)
    t_far = np.maximum(t1, t2)
    t_enter = t_near.max(-1)
    t_exit = t_far.min(-1)
    hit = (t_exit >= t_enter) & (t_enter > 0)
    t = np.where(hit, t_enter, np.inf)
    axis = t_near.argmax(-1)  # the slab entered last is the face hit
    normal_local = np.zeros_like(d_local)
    sign = -np.sign(np.take_along_axis(d_local, axis[..., None], -1))[..., 0]
    np.put_along_axis(normal_local, axis[..., None], sign[..., None], -1)
    normal = normal_local @ rot.T  # back to the camera frame
    return t, normal


def make_synthetic_scene(index: int, size: int = 96, seed: int = 0) -> Scene:
    """Scene ``index`` of the synthetic benchmark at ``size`` x ``size`` pixels, deterministic in (index, size, seed).

    Raises ``ValueError`` on ``index`` < 0 or ``size`` < 32.
    """
    if index < 0:
        raise ValueError(f"index: must be >= 0, got {index}")
    if size < 32:
        raise ValueError(f"size: must be >= 32, got {size}")
    rng = np.random.default_rng([seed, index])
    focal = float(size)
    a, b = _rays(size, focal)
    d = np.stack([a, b, np.ones_like(a)], axis=-1)  # [H, W, 3], camera frame, d_z = 1

    wall_depth = float(rng.uniform(6.0, 9.0))
    floor_height = float(rng.uniform(0.8, 1.4))
    hits = [np.full(a.shape, wall_depth)]  # t per surface
    normals_cv = [np.broadcast_to(np.array([0.0, 0.0, -1.0]), d.shape)]
    floor_t = np.where(b > 0, floor_height / np.where(b > 0, b, 1.0), np.inf)
    hits.append(floor_t)
    normals_cv.append(np.broadcast_to(np.array([0.0, -1.0, 0.0]), d.shape))

    objects: list[dict[str, Any]] = []
    n_objects = int(rng.integers(2, 5))
    for k in range(n_objects):
        # The first object is the nearest and near the centre, so at least one instance is always visible.
        z = float(rng.uniform(2.2, 2.8)) if k == 0 else float(rng.uniform(3.0, 5.5))
        x = float(rng.uniform(-0.15, 0.15) * z) if k == 0 else float(rng.uniform(-0.35, 0.35) * z)
        if rng.random() < 0.5:
            radius = float(rng.uniform(0.3, 0.6))
            center = np.array([x, floor_height - radius, z])
            t, n = _hit_sphere(d, center, radius)
            objects.append({"kind": "sphere", "center": tuple(center.tolist()), "radius": radius})
        else:
            half = rng.uniform(0.2, 0.5, size=3)
            yaw = float(rng.uniform(-0.8, 0.8))
            center = np.array([x, floor_height - half[1], z])
            t, n = _hit_box(d, center, half, yaw)
            objects.append(
                {"kind": "box", "center": tuple(center.tolist()), "half_size": tuple(half.tolist()), "yaw": yaw}
            )
        hits.append(t)
        normals_cv.append(n)

    t_all = np.stack(hits)  # [S, H, W]
    surface = t_all.argmin(0)  # [H, W]
    depth = np.take_along_axis(t_all, surface[None], 0)[0]  # [H, W], z-depth since d_z = 1
    n_all = np.stack([np.asarray(n) for n in normals_cv])  # [S, H, W, 3]
    n_cv = np.take_along_axis(n_all, surface[None, ..., None], 0)[0]  # [H, W, 3]
    n_cv = n_cv / np.linalg.norm(n_cv, axis=-1, keepdims=True)
    normals = n_cv * np.array([1.0, -1.0, -1.0])  # OpenCV -> Marigold frame

    # Shading: Lambertian under one directional light plus ambient; the albedo carries texture.
    light = np.array([-0.4, -0.8, -0.45])
    light /= np.linalg.norm(light)
    shade = 0.3 + 0.7 * np.clip(n_cv @ light, 0.0, None)  # [H, W]
    points = depth[..., None] * d  # [H, W, 3]
    albedo = np.empty(d.shape)
    wall_stripes = (np.floor(points[..., 0] * 2.0) % 2)[..., None]
    albedo[:] = np.where(wall_stripes > 0, [0.75, 0.72, 0.62], [0.62, 0.66, 0.74])
    checker = ((np.floor(points[..., 0] * 2.0) + np.floor(points[..., 2] * 2.0)) % 2)[..., None]
    floor_albedo = np.where(checker > 0, [0.55, 0.45, 0.35], [0.32, 0.26, 0.2])
    albedo = np.where((surface == SURFACE_FLOOR)[..., None], floor_albedo, albedo)
    for k in range(n_objects):
        colour = rng.uniform(0.25, 0.95, size=3)
        albedo = np.where((surface == k + 2)[..., None], colour, albedo)
    noise = rng.normal(0.0, 0.015, size=d.shape)
    image = np.clip((albedo * shade[..., None] + noise) * 255.0, 0, 255).round().astype(np.uint8)

    valid = rng.random(a.shape) >= DROPOUT_RATE
    depth = np.where(valid, depth, 0.0).astype(np.float32)
    normals = np.where(valid[..., None], normals, 0.0).astype(np.float32)

    masks = [surface == k + 2 for k in range(n_objects)]
    instances = np.stack([m for m in masks if m.sum() >= MIN_INSTANCE_PIXELS])  # [K, H, W]
    return Scene(
        sample_id=f"synthetic-s{seed}-{size}px-{index:05d}",
        image=image,
        depth=depth,
        normals=normals,
        valid=valid,
        instances=instances,
        surface=surface.astype(np.int16),
        focal=focal,
        principal_point=(size / 2.0, size / 2.0),
        wall_depth=wall_depth,
        floor_height=floor_height,
        objects=tuple(MappingProxyType(o) for o in objects),
    )


def synthetic_samples(n: int, size: int = 96, seed: int = 0, start: int = 0) -> list[Scene]:
    """Scenes ``start .. start + n - 1`` (see :func:`make_synthetic_scene`). Raises ``ValueError`` on ``n`` < 0."""
    if n < 0:
        raise ValueError(f"n: must be >= 0, got {n}")
    return [make_synthetic_scene(start + i, size=size, seed=seed) for i in range(n)]
