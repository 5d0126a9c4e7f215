"""Decoding at the model resolution (only the decoded channels resized) against decoding the full-resolution RGB,
the former path, within the documented tolerance: masks IoU >= 0.999, depth max abs <= 1e-3, the rest identical."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from diception_core.decoders import decode, decode_mask, decode_resized
from diception_core.pipeline import DiceptionPipeline, resize_channels, resize_output
from diception_spec.tasks import Encoding


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def _full_resolution_decode(pipe: DiceptionPipeline, prediction) -> object:
    """The former path: the raw RGB resized to the input size (the raw download), then decoded."""
    return decode(prediction.encoding, prediction.rgb, **pipe.decoder_settings(prediction.encoding))


@pytest.fixture(scope="module")
def sa1b_sample(shared_fixtures) -> tuple[np.ndarray, list[list[list[float]]]]:
    """The first SA-1B fixture image (1500 px short side) and one click per annotated mask (its first point)."""
    path = sorted((shared_fixtures / "sa1b").glob("sa_*.json"))[0]
    data = json.loads(path.read_text(encoding="utf-8"))
    with Image.open(path.parent / data["image"]["file_name"]) as img:
        image = np.array(img.convert("RGB"))
    clicks = [[[float(v) for v in a["point_coords"][0]]] for a in data["annotations"][:6]]
    return image, clicks


def test_masks_match_the_full_resolution_decode_on_sa1b(tiny_pipe, sa1b_sample) -> None:
    image, clicks = sa1b_sample
    out = tiny_pipe(image, "point_segmentation", points=clicks, num_inference_steps=1, guidance_scale=1.0)
    for prediction in out:
        assert prediction.mask.shape == image.shape[:2] and prediction.mask.dtype == np.bool_
        assert _iou(prediction.mask, _full_resolution_decode(tiny_pipe, prediction)) >= 0.999


def test_depth_matches_the_full_resolution_decode_on_sa1b(tiny_pipe, sa1b_sample) -> None:
    image, _ = sa1b_sample
    prediction = tiny_pipe(image, "depth", num_inference_steps=1, guidance_scale=1.0)[0]
    assert prediction.depth.shape == image.shape[:2] and prediction.depth.dtype == np.float32
    assert np.abs(prediction.depth - _full_resolution_decode(tiny_pipe, prediction)).max() <= 1e-3
    assert prediction.depth.min() >= 0.0 and prediction.depth.max() <= 1.0


def test_depth_matches_on_an_nyuv2_frame(tiny_pipe, shared_fixtures) -> None:
    with Image.open(shared_fixtures / "nyuv2" / "rgb_00000.jpg") as img:
        image = np.array(img.convert("RGB"))
    prediction = tiny_pipe(image, "depth", num_inference_steps=2, guidance_scale=2.0)[0]
    assert np.abs(prediction.depth - _full_resolution_decode(tiny_pipe, prediction)).max() <= 1e-3


@pytest.mark.parametrize("task", ["normal", "entity_segmentation", "pose"])
def test_other_encodings_decode_exactly_as_from_the_full_resolution_rgb(tiny_pipe, task) -> None:
    image = (np.random.default_rng(3).random((90, 150, 3)) * 255).astype(np.uint8)
    prediction = tiny_pipe(image, task, num_inference_steps=1)[0]
    reference = _full_resolution_decode(tiny_pipe, prediction)
    if task == "normal":
        np.testing.assert_array_equal(prediction.normals, reference)
    elif task == "pose":
        np.testing.assert_array_equal(prediction.keypoints.points, reference.points)
    else:
        np.testing.assert_array_equal(prediction.instances.masks, reference.masks)


def test_the_raw_download_is_the_full_resolution_float32_output(tiny_pipe, tmp_path) -> None:
    from diception_core.downloads import write_prediction_files

    image = (np.random.default_rng(0).random((70, 110, 3)) * 255).astype(np.uint8)
    prediction = tiny_pipe(image, "point_segmentation", points=[[30, 20]], num_inference_steps=1)[0]
    raw = np.load(write_prediction_files(prediction, tmp_path)["raw"])
    assert raw.dtype == np.float32 and raw.shape == (70, 110, 3)
    reference = torch.nn.functional.interpolate(prediction.model_rgb.float()[None], size=(70, 110),
                                                mode="bilinear", align_corners=False)[0].clamp(0, 1)
    np.testing.assert_array_equal(raw, reference.permute(1, 2, 0).numpy())
    assert _iou(decode_mask(raw, tiny_pipe.config.mask_threshold), prediction.mask) >= 0.999


def test_a_prediction_keeps_no_full_resolution_rgb(tiny_pipe) -> None:
    image = (np.random.default_rng(1).random((300, 400, 3)) * 255).astype(np.uint8)
    prediction = tiny_pipe(image, "depth", num_inference_steps=1)[0]
    resolution = tiny_pipe.config.resolution
    assert tuple(prediction.model_rgb.shape) == (3, resolution, resolution)
    held = [v for v in vars(prediction).values() if isinstance(v, np.ndarray) and v.ndim == 3 and v.dtype != np.uint8]
    assert held == []  # only the uint8 input and the [H, W] depth are full-size


def test_decode_resized_agrees_with_decoding_the_resized_rgb() -> None:
    rng = np.random.default_rng(0)
    rgb = rng.random((32, 32, 3)).astype(np.float32)  # [h, w, 3] in [0, 1], many values near 0.5
    full = np.clip(resize_channels(rgb, 121, 77), 0.0, 1.0)  # the former path's input to the decoders
    depth = decode_resized(Encoding.DEPTH, rgb, (121, 77), resize_channels)
    assert depth.shape == (121, 77) and np.abs(depth - decode(Encoding.DEPTH, full)).max() <= 1e-3
    mask = decode_resized(Encoding.MASK, rgb, (121, 77), resize_channels, threshold=0.5)
    assert _iou(mask, decode(Encoding.MASK, full, threshold=0.5)) >= 0.999
    normals = decode_resized(Encoding.NORMAL, rgb, (121, 77), resize_channels, frame="dsine")
    np.testing.assert_array_equal(normals, decode(Encoding.NORMAL, full, frame="dsine"))


def test_decode_resized_refuses_settings_a_decoder_does_not_take() -> None:
    rgb = np.full((8, 8, 3), 0.5, dtype=np.float32)
    with pytest.raises(ValueError, match="threshold only"):
        decode_resized(Encoding.MASK, rgb, (16, 16), resize_channels, frame="dsine")
    with pytest.raises(ValueError, match="size"):
        decode_resized(Encoding.DEPTH, rgb, (0, 16), resize_channels)


def test_resize_channels_resizes_each_channel_as_the_raw_output_is_resized() -> None:
    rgb = torch.rand(3, 16, 16, generator=torch.Generator().manual_seed(0))
    np.testing.assert_array_equal(np.clip(resize_channels(rgb.permute(1, 2, 0).numpy(), 40, 25), 0, 1),
                                  resize_output(rgb, 40, 25))
