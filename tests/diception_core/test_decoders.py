"""Decoders of DICEPTION's RGB outputs: round trips with the encoders, thresholds, instance and pose decoding."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from diception_core.decoders import (
    Instances,
    NormalFrame,
    PoseKeypoints,
    convert_normal_frame,
    decode,
    decode_depth,
    decode_instances,
    decode_mask,
    decode_normals,
    decode_pose,
    encode_depth,
    encode_mask,
    encode_normals,
)
from diception_spec.tasks import Encoding


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum()) / float((a | b).sum())


def three_instance_image(size: int = 256, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three random-colour shapes on black (a circle touching a rectangle, and a triangle), blurred and noisy.

    Returns (rgb [size, size, 3] float32 in [0, 1], truth [3, size, size] bool).
    """
    rng = np.random.default_rng(seed)
    s = size / 256
    truth = np.zeros((3, size, size), dtype=np.uint8)
    cv2.rectangle(truth[1], (int(115 * s), int(40 * s)), (int(220 * s), int(120 * s)), 1, -1)
    cv2.circle(truth[0], (int(70 * s), int(80 * s)), int(48 * s), 1, -1)  # overlaps the rectangle's left edge
    truth[0][truth[1] > 0] = 0  # the rectangle is in front
    triangle = (np.array([[60, 235], [140, 150], [215, 240]]) * s).astype(np.int32)
    cv2.fillPoly(truth[2], [triangle], 1)
    colors = np.array([[0.9, 0.3, 0.2], [0.2, 0.7, 0.9], [0.6, 0.9, 0.3]], dtype=np.float32)  # [3, 3]
    colors = np.clip(colors + rng.uniform(-0.05, 0.05, colors.shape), 0, 1).astype(np.float32)  # "random" colours
    rgb = np.zeros((size, size, 3), dtype=np.float32)
    for mask, color in zip(truth, colors, strict=True):
        rgb[mask > 0] = color
    rgb = cv2.GaussianBlur(rgb, (0, 0), 1.0)  # antialiased edges
    rgb = rgb + rng.normal(0.0, 0.02, rgb.shape).astype(np.float32)  # noise
    return np.clip(rgb, 0.0, 1.0), truth.astype(bool)


# ---------------------------------------------------------------------------------------------------------- depth


def test_depth_encode_decode_round_trip() -> None:
    rng = np.random.default_rng(0)
    disparity = rng.uniform(0.0, 1.0, (32, 48)).astype(np.float32)
    disparity[0, 0], disparity[0, 1] = 0.0, 1.0  # already min-max normalised
    decoded = decode_depth(encode_depth(disparity))
    assert decoded.shape == (32, 48) and decoded.dtype == np.float32
    np.testing.assert_allclose(decoded, disparity, atol=1e-6)


def test_encode_depth_min_max_normalises() -> None:
    encoded = encode_depth(np.array([[2.0, 4.0], [6.0, 10.0]], dtype=np.float32))
    assert encoded.shape == (2, 2, 3)
    np.testing.assert_allclose(encoded[..., 0], [[0.0, 0.25], [0.5, 1.0]])
    np.testing.assert_array_equal(encoded[..., 0], encoded[..., 2])


def test_decode_depth_is_channel_mean() -> None:
    rgb = np.array([[[0.2, 0.4, 0.9]]], dtype=np.float32)
    assert decode_depth(rgb)[0, 0] == pytest.approx(0.5)


# -------------------------------------------------------------------------------------------------------- normals


def _random_unit_normals(shape: tuple[int, int], seed: int = 0) -> np.ndarray:
    n = np.random.default_rng(seed).normal(size=(*shape, 3)).astype(np.float32)
    n[..., 2] = np.abs(n[..., 2])  # facing the viewer
    return n / np.linalg.norm(n, axis=2, keepdims=True)


def test_normals_encode_decode_round_trip() -> None:
    n = _random_unit_normals((16, 20))
    decoded = decode_normals(encode_normals(n))
    assert decoded.dtype == np.float32
    np.testing.assert_allclose(decoded, n, atol=1e-5)


def test_normals_round_trip_across_frames() -> None:
    n = _random_unit_normals((8, 8), seed=1)  # ground truth in DSINE's frame, model in Marigold's
    rgb = encode_normals(n, "marigold", input_frame="dsine")
    np.testing.assert_allclose(decode_normals(rgb, "marigold", output_frame="dsine"), n, atol=1e-5)
    np.testing.assert_allclose(decode_normals(rgb, "marigold")[..., 0], -n[..., 0], atol=1e-5)


def test_convert_normal_frame_flips_x_and_is_an_involution() -> None:
    n = _random_unit_normals((4, 5), seed=2)
    dsine = convert_normal_frame(n, NormalFrame.MARIGOLD, NormalFrame.DSINE)
    np.testing.assert_allclose(dsine[..., 0], -n[..., 0])
    np.testing.assert_allclose(dsine[..., 1:], n[..., 1:])
    np.testing.assert_allclose(convert_normal_frame(dsine, "dsine", "marigold"), n)


def test_decode_normals_frame_names_the_output_and_output_frame_converts() -> None:
    rgb = np.array([[[1.0, 0.5, 0.5]]], dtype=np.float32)  # +x in whatever frame the model outputs
    np.testing.assert_allclose(decode_normals(rgb)[0, 0], [1.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(decode_normals(rgb, frame="dsine")[0, 0], [1.0, 0.0, 0.0], atol=1e-6)
    np.testing.assert_allclose(decode_normals(rgb, "dsine", output_frame="marigold")[0, 0], [-1, 0, 0], atol=1e-6)
    np.testing.assert_allclose(decode_normals(rgb, "marigold", output_frame="dsine")[0, 0], [-1, 0, 0], atol=1e-6)


def test_decode_normals_zero_length_gives_zero_not_nan() -> None:
    rgb = np.full((2, 2, 3), 0.5, dtype=np.float32)
    decoded = decode_normals(rgb)
    assert np.isfinite(decoded).all()
    np.testing.assert_array_equal(decoded, 0.0)


def test_unknown_normal_frame_raises_with_known_frames() -> None:
    with pytest.raises(ValueError, match="frame: unknown normal frame 'x_up'; known frames: .*marigold"):
        decode_normals(np.zeros((2, 2, 3), np.float32), frame="x_up")


# ----------------------------------------------------------------------------------------------------------- mask


def test_decode_mask_threshold_is_inclusive_on_channel_mean() -> None:
    rgb = np.zeros((1, 3, 3), dtype=np.float32)
    rgb[0, 0] = 0.49
    rgb[0, 1] = 0.5
    rgb[0, 2] = [1.0, 0.5, 0.0]  # mean 0.5
    np.testing.assert_array_equal(decode_mask(rgb), [[False, True, True]])
    np.testing.assert_array_equal(decode_mask(rgb, threshold=0.6), [[False, False, False]])


def test_mask_encode_decode_round_trip() -> None:
    mask = np.random.default_rng(0).random((10, 12)) > 0.5
    np.testing.assert_array_equal(decode_mask(encode_mask(mask)), mask)


# ------------------------------------------------------------------------------------------------------ instances


def test_three_instances_recovered_with_high_iou() -> None:
    rgb, truth = three_instance_image()
    instances = decode_instances(rgb)
    assert len(instances) == 3
    assert instances.masks.shape == (3, 256, 256) and instances.masks.dtype == np.bool_
    for true_mask in truth:
        best = max(_iou(mask, true_mask) for mask in instances.masks)
        assert best > 0.95


def test_instance_colors_and_scores() -> None:
    rgb, truth = three_instance_image()
    instances = decode_instances(rgb)
    assert instances.colors.shape == (3, 3) and instances.colors.dtype == np.float32
    assert instances.scores.dtype == np.float32
    assert np.all((instances.scores > 0.5) & (instances.scores <= 1.0))
    assert np.all(np.diff(instances.scores) <= 0)  # sorted by decreasing score
    for mask, color in zip(instances.masks, instances.colors, strict=True):
        np.testing.assert_allclose(color, np.median(rgb[mask], axis=0), atol=0.05)


def test_black_image_has_no_instances() -> None:
    instances = decode_instances(np.zeros((64, 80, 3), dtype=np.float32))
    assert len(instances) == 0
    assert instances.masks.shape == (0, 64, 80)


def test_noisy_near_black_image_has_no_instances() -> None:
    rgb = np.random.default_rng(0).uniform(0.0, 0.08, (64, 64, 3)).astype(np.float32)
    assert len(decode_instances(rgb)) == 0


def test_tiny_fragments_are_dropped() -> None:
    rgb = np.zeros((200, 200, 3), dtype=np.float32)
    rgb[50:150, 50:150] = [0.2, 0.8, 0.4]  # one real instance
    speckle = np.random.default_rng(0).integers(0, 200, (12, 2))
    for x, y in speckle:  # 2x2 specks of another colour: each far below the minimum area
        rgb[y : y + 2, x : x + 2] = [0.9, 0.2, 0.9]
    rgb[5:9, 180:184] = [0.2, 0.8, 0.4]  # a 4x4 fragment of the real instance's colour, far away
    instances = decode_instances(rgb)
    assert len(instances) == 1
    assert not instances.masks[0][5:9, 180:184].any()
    assert instances.masks[0][55:145, 55:145].all()


def test_thin_line_is_not_an_instance() -> None:
    rgb = np.zeros((128, 128, 3), dtype=np.float32)
    rgb[20:100, 20:100] = [0.9, 0.6, 0.1]
    rgb[110:112, 5:125] = [0.1, 0.4, 0.9]  # a 2-pixel line: no core survives erosion
    assert len(decode_instances(rgb)) == 1


def test_small_holes_filled_and_large_holes_kept() -> None:
    rgb = np.zeros((160, 320, 3), dtype=np.float32)
    rgb[20:140, 20:140] = [0.8, 0.3, 0.6]
    rgb[60:64, 60:64] = 0.0  # a 16-pixel black hole in a 14,400-pixel mask: filled
    rgb[20:140, 180:300] = [0.3, 0.6, 0.9]
    rgb[50:110, 210:270] = 0.0  # a ring: a 3,600-pixel hole in a 10,800-pixel mask is kept
    instances = decode_instances(rgb)
    assert len(instances) == 2
    square = instances.masks[np.argmax(instances.masks[:, 80, 80])]
    ring = instances.masks[np.argmax(instances.masks[:, 30, 200])]
    assert square[60:64, 60:64].all()
    assert not ring[50:110, 210:270].any()


def test_instance_in_front_of_another_is_not_swallowed() -> None:
    rgb = np.zeros((160, 160, 3), dtype=np.float32)
    rgb[10:150, 10:150] = [0.9, 0.9, 0.2]
    rgb[70:82, 70:82] = [0.2, 0.2, 0.9]  # enclosed by the big instance, its own colour
    instances = decode_instances(rgb)
    assert len(instances) == 2
    big = instances.masks[np.argmax(instances.masks.sum(axis=(1, 2)))]
    assert not big[70:82, 70:82].any()


def test_same_colour_pieces_are_one_instance_unless_split() -> None:
    rgb = np.zeros((100, 200, 3), dtype=np.float32)
    rgb[20:80, 10:60] = [0.3, 0.9, 0.5]
    rgb[20:80, 140:190] = [0.3, 0.9, 0.5]  # the same colour: one instance split by an occluder
    assert len(decode_instances(rgb)) == 1
    assert len(decode_instances(rgb, split_components=True)) == 2


def test_decode_instances_at_the_release_resolution() -> None:
    rgb, _ = three_instance_image(size=768)
    assert len(decode_instances(rgb)) == 3


def test_instances_validates_shapes() -> None:
    with pytest.raises(ValueError, match="colors"):
        Instances(masks=np.zeros((2, 4, 4), bool), colors=np.zeros((3, 3), np.float32), scores=np.zeros(2))


def test_decode_instances_rejects_bad_threshold() -> None:
    with pytest.raises(ValueError, match="background_max"):
        decode_instances(np.zeros((8, 8, 3), np.float32), background_max=1.5)


# ----------------------------------------------------------------------------------------------------------- pose


def test_pose_blobs_found_at_known_centres() -> None:
    rgb = np.zeros((120, 160, 3), dtype=np.float32)
    cv2.line(rgb, (30, 40), (120, 90), (1.0, 1.0, 1.0), 2)  # a white limb, not a joint
    centres = [(30, 40), (120, 90), (75, 20)]
    for x, y in centres:
        cv2.circle(rgb, (x, y), 4, (1.0, 0.0, 0.0), -1)
    pose = decode_pose(rgb)
    assert isinstance(pose, PoseKeypoints) and len(pose) == 3
    assert pose.points.dtype == np.float32 and pose.points.shape == (3, 2)
    found = sorted(map(tuple, np.round(pose.points).astype(int).tolist()))
    assert found == sorted(centres)
    assert np.all(pose.scores > 0.9)


def test_pose_ignores_orange_and_tiny_red_specks() -> None:
    rgb = np.zeros((60, 60, 3), dtype=np.float32)
    rgb[10:16, 10:16] = [1.0, 0.6, 0.0]  # orange: green too high
    rgb[40, 40] = [1.0, 0.0, 0.0]  # one pixel: below min_area
    assert len(decode_pose(rgb)) == 0


def test_pose_note_says_identities_are_not_recovered() -> None:
    assert "not recovered" in PoseKeypoints.IDENTITY_NOTE


# ----------------------------------------------------------------------------------------------------- dispatcher


@pytest.mark.parametrize(
    ("encoding", "expected_type"),
    [
        (Encoding.DEPTH, np.ndarray),
        (Encoding.NORMAL, np.ndarray),
        (Encoding.MASK, np.ndarray),
        (Encoding.INSTANCES, Instances),
        (Encoding.POSE, PoseKeypoints),
        (Encoding.RGB, np.ndarray),
    ],
)
def test_decode_dispatches_on_encoding(encoding: Encoding, expected_type: type) -> None:
    rgb = np.random.default_rng(0).random((16, 16, 3)).astype(np.float32)
    assert isinstance(decode(encoding, rgb), expected_type)


def test_decode_passes_settings_and_accepts_string_ids() -> None:
    rgb = np.full((2, 2, 3), 0.4, dtype=np.float32)
    assert decode("mask", rgb, threshold=0.3).all()
    assert not decode("mask", rgb, threshold=0.5).any()


def test_decode_unknown_encoding_raises() -> None:
    with pytest.raises(ValueError, match="encoding.*known encodings"):
        decode("heatmap", np.zeros((2, 2, 3), np.float32))


# ------------------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("rgb", "message"),
    [
        (np.zeros((4, 4), np.float32), r"rgb: expected shape \[H, W, 3\]"),
        (np.zeros((4, 4, 4), np.float32), r"rgb: expected shape \[H, W, 3\]"),
        (np.zeros((4, 4, 3), np.uint8), "rgb: expected a float array"),
        (np.full((4, 4, 3), 1.5, np.float32), r"rgb: values must lie in \[0, 1\]"),
        (np.full((4, 4, 3), np.nan, np.float32), "rgb: contains NaN"),
        (np.pad(np.full((1, 1, 3), np.nan, np.float32), ((3, 0), (0, 3), (0, 0)), constant_values=0.5),
         "rgb: contains NaN"),
        (np.full((4, 4, 3), np.inf, np.float32), "rgb: contains NaN or infinite"),
        ([[0.0, 0.0, 0.0]], "rgb: expected a numpy array"),
    ],
)
def test_bad_rgb_raises_value_error(rgb: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        decode_depth(rgb)  # type: ignore[arg-type]


def test_float_error_overshoot_is_clipped_without_touching_the_input() -> None:
    rgb = np.full((4, 4, 3), 0.25, np.float32)
    rgb[0, 0] = 1.0005  # within the VAE's float tolerance
    mask = decode_mask(rgb)
    assert mask[0, 0] and not mask[1, 1]
    assert rgb[0, 0, 0] == np.float32(1.0005)


def test_mask_decoding_thresholds_numpys_channel_mean_bit_for_bit() -> None:
    rgb = np.random.default_rng(0).random((37, 53, 3), dtype=np.float32)
    np.testing.assert_array_equal(decode_mask(rgb, threshold=0.5), rgb.mean(axis=2) >= 0.5)
    threshold = float(rgb.mean(axis=2)[5, 7])  # a pixel exactly at the threshold counts as inside
    assert decode_mask(rgb, threshold=threshold)[5, 7]


def test_bad_mask_threshold_raises() -> None:
    with pytest.raises(ValueError, match="threshold"):
        decode_mask(np.zeros((2, 2, 3), np.float32), threshold=2.0)


def test_encode_depth_rejects_3d_input() -> None:
    with pytest.raises(ValueError, match="disparity"):
        encode_depth(np.zeros((2, 2, 3), np.float32))
