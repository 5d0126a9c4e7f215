"""The synthetic smoke benchmark: deterministic, geometrically exact, and scorable by the metrics."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation import metrics as M
from evaluation.synthetic import SURFACE_FLOOR, SURFACE_WALL, make_synthetic_scene, synthetic_samples


@pytest.fixture(scope="module")
def scenes():
    return synthetic_samples(6, size=64, seed=0)


def test_deterministic_and_seed_sensitive() -> None:
    a = make_synthetic_scene(3, size=64, seed=1)
    b = make_synthetic_scene(3, size=64, seed=1)
    c = make_synthetic_scene(3, size=64, seed=2)
    for field in ("image", "depth", "normals", "valid", "instances"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.sample_id == b.sample_id != c.sample_id
    assert not np.array_equal(a.image, c.image)
    assert synthetic_samples(2, size=64, seed=1, start=3)[0].sample_id == a.sample_id


def test_shapes_dtypes_and_ranges(scenes) -> None:
    for s in scenes:
        h, w = s.depth.shape
        assert (h, w) == (64, 64)
        assert s.image.dtype == np.uint8 and s.image.shape == (h, w, 3)
        assert s.depth.dtype == np.float32 and s.normals.dtype == np.float32 and s.normals.shape == (h, w, 3)
        assert s.valid.dtype == bool and s.instances.dtype == bool and s.instances.shape[1:] == (h, w)
        assert s.instances.shape[0] >= 1 and s.instances.sum(axis=(1, 2)).min() >= 16
        assert 0.9 < s.valid.mean() < 1.0  # ~1% sensor dropouts
        assert np.all(s.depth[~s.valid] == 0) and np.all(s.depth[s.valid] > 0.5)
        np.testing.assert_allclose(np.linalg.norm(s.normals[s.valid], axis=-1), 1.0, atol=1e-5)
        assert s.image.std() > 20  # shaded and textured, not flat


def test_fronto_parallel_wall_depth_and_normals(scenes) -> None:
    for s in scenes:
        wall = (s.surface == SURFACE_WALL) & s.valid
        assert wall.any()
        np.testing.assert_allclose(s.depth[wall], s.wall_depth, rtol=1e-6)
        np.testing.assert_allclose(s.normals[wall], np.tile([0.0, 0.0, 1.0], (wall.sum(), 1)), atol=1e-6)


def test_floor_depth_follows_the_plane_formula(scenes) -> None:
    for s in scenes:
        floor = (s.surface == SURFACE_FLOOR) & s.valid
        assert floor.any()
        rows = np.nonzero(floor)[0]
        cy = s.principal_point[1]
        # A ray through pixel row v meets the plane y = h at z = h * f / (v + 0.5 - cy).
        expected = s.floor_height * s.focal / (rows + 0.5 - cy)
        np.testing.assert_allclose(s.depth[floor], expected, rtol=1e-6)
        # Floor normals point up in the Marigold frame (y up).
        np.testing.assert_allclose(s.normals[floor], np.tile([0.0, 1.0, 0.0], (floor.sum(), 1)), atol=1e-6)


def test_object_points_and_normals_agree_with_their_geometry(scenes) -> None:
    for s in scenes:
        cx, cy = s.principal_point
        v, u = np.mgrid[0 : s.depth.shape[0], 0 : s.depth.shape[1]]
        x = (u + 0.5 - cx) / s.focal * s.depth
        y = (v + 0.5 - cy) / s.focal * s.depth
        points = np.stack([x, y, s.depth], axis=-1)  # OpenCV camera frame
        for k, obj in enumerate(s.objects):
            region = (s.surface == k + 2) & s.valid
            if obj["kind"] != "sphere" or not region.any():
                continue
            centre = np.asarray(obj["center"])
            radial = points[region] - centre
            np.testing.assert_allclose(np.linalg.norm(radial, axis=-1), obj["radius"], rtol=1e-4)
            expected = radial / obj["radius"] * np.array([1.0, -1.0, -1.0])  # to the Marigold frame
            np.testing.assert_allclose(s.normals[region], expected, atol=1e-3)
            # Visible surfaces face the camera: the normal points against the viewing ray.
            normals_cv = s.normals[region] * np.array([1.0, -1.0, -1.0])
            rays = points[region] / s.depth[region][:, None]
            assert np.all(np.sum(normals_cv * rays, axis=-1) < 0)


def test_metrics_run_on_synthetic_ground_truth(scenes) -> None:
    s = scenes[0]
    disparity = np.where(s.valid, 1.0 / np.maximum(s.depth, 1e-6), 0.0)
    scores = M.depth_metrics(2.0 * disparity + 0.1, s.depth, s.valid, space="disparity", min_depth=0.5, max_depth=10)
    assert scores["absrel"] == pytest.approx(0.0, abs=1e-6) and scores["delta1"] == 1.0
    errors = M.angular_error_deg(s.normals, s.normals, s.valid)
    assert M.normal_metrics(errors)["mean_deg"] == pytest.approx(0.0, abs=1e-3)
    assert float(M.iou(s.instances[0], s.instances[0])) == 1.0


def test_raises() -> None:
    with pytest.raises(ValueError, match="size"):
        make_synthetic_scene(0, size=8)
    with pytest.raises(ValueError, match="index"):
        make_synthetic_scene(-1)
