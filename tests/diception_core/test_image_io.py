"""Input images: EXIF, modes, limits and clear errors."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from diception_core.image_io import ImageInputError, load_rgb

LIMIT = 1_000_000


def _png_bytes(image: Image.Image, **kwargs) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **kwargs)
    return buffer.getvalue()


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (40, 20), (255, 0, 0))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise for display
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())
    assert load_rgb(buffer.getvalue(), max_pixels=LIMIT).shape == (40, 20, 3)


@pytest.mark.parametrize("mode", ["RGBA", "L", "P", "CMYK", "I;16", "LA"])
def test_modes_become_8bit_rgb(mode: str) -> None:
    image = Image.new("RGB", (8, 6), (10, 200, 30)).convert(mode)
    out = load_rgb(image, max_pixels=LIMIT)
    assert out.shape == (6, 8, 3) and out.dtype == np.uint8


def test_16bit_grayscale_keeps_its_range() -> None:
    array = np.full((4, 4), 65535, dtype=np.uint16)
    out = load_rgb(Image.fromarray(array), max_pixels=LIMIT)
    assert out.max() == 255


def test_rgba_transparent_pixels_become_black() -> None:
    array = np.zeros((2, 2, 4), dtype=np.uint8)
    array[..., :3] = 200
    out = load_rgb(Image.fromarray(array, mode="RGBA"), max_pixels=LIMIT)
    assert out.max() == 0


def test_numpy_float_and_torch_inputs() -> None:
    assert load_rgb(np.full((5, 7, 3), 0.5, dtype=np.float32), max_pixels=LIMIT).shape == (5, 7, 3)
    assert load_rgb(torch.rand(3, 5, 7), max_pixels=LIMIT).shape == (5, 7, 3)


def test_too_many_pixels_is_refused_before_decoding() -> None:
    data = _png_bytes(Image.new("RGB", (2000, 1000)))
    with pytest.raises(ImageInputError, match="exceeds the limit"):
        load_rgb(data, max_pixels=LIMIT)


def test_empty_file_is_refused(tmp_path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageInputError, match="empty"):
        load_rgb(tmp_path / "empty.png", max_pixels=LIMIT)


def test_truncated_file_is_refused() -> None:
    data = _png_bytes(Image.fromarray((np.random.default_rng(0).random((64, 64, 3)) * 255).astype(np.uint8)))
    with pytest.raises(ImageInputError, match="corrupt or truncated"):
        load_rgb(data[: len(data) // 2], max_pixels=LIMIT)


def test_non_image_bytes_are_refused() -> None:
    with pytest.raises(ImageInputError, match="not an image"):
        load_rgb(b"%PDF-1.4 this is a pdf", max_pixels=LIMIT)


def test_nan_array_is_refused() -> None:
    with pytest.raises(ImageInputError, match="NaN"):
        load_rgb(np.full((4, 4, 3), np.nan, dtype=np.float32), max_pixels=LIMIT)


def test_unsupported_type_is_refused() -> None:
    with pytest.raises(ImageInputError, match="unsupported type"):
        load_rgb(12345, max_pixels=LIMIT)
