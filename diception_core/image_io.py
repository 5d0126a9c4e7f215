"""Turning user input into RGB pixels, safely: EXIF orientation, mode conversion, size limits, clear errors."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

ImageLike = Union[Image.Image, np.ndarray, torch.Tensor, str, Path, bytes]  # noqa: UP007 (a runtime alias)


class ImageInputError(ValueError):
    """An input that is not a usable image; the message says what to do."""


def load_rgb(image: ImageLike, *, max_pixels: int, name: str = "image") -> np.ndarray:
    """Return ``image`` as uint8 RGB [H, W, 3].

    Accepts a PIL image, a path or bytes of an image file, a numpy array (H, W), (H, W, 3|4) uint8 / uint16 / float
    in [0, 1], or a torch tensor (3, H, W) / (H, W, 3) float in [0, 1] or uint8. Applies EXIF orientation; converts
    RGBA (composited on black), grayscale, palette, CMYK and 16-bit images to 8-bit RGB.
    Refuses images over ``max_pixels`` (decompression bombs) and empty, truncated or non-image input with an
    ``ImageInputError`` (a ``ValueError``) naming ``name``.
    """
    if isinstance(image, str | Path | bytes):
        return _from_pil(_open(image, max_pixels, name), max_pixels, name)
    if isinstance(image, Image.Image):
        return _from_pil(image, max_pixels, name)
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        if image.is_floating_point() and image.dtype != torch.float64:
            image = image.float()  # numpy has no bfloat16
        if image.ndim == 3 and image.shape[0] in (1, 3, 4) and image.shape[-1] not in (1, 3, 4):
            image = image.permute(1, 2, 0)
        image = image.numpy()
    if isinstance(image, np.ndarray):
        return _from_array(image, max_pixels, name)
    raise ImageInputError(
        f"{name}: unsupported type {type(image).__name__}; pass a PIL image, a file path, bytes, a numpy array or a "
        "torch tensor"
    )


def _open(source: str | Path | bytes, max_pixels: int, name: str) -> Image.Image:
    if isinstance(source, bytes):
        if not source:
            raise ImageInputError(f"{name}: the file is empty")
        stream: io.BytesIO | Path = io.BytesIO(source)
    else:
        stream = Path(source)
        if not stream.is_file():
            raise ImageInputError(f"{name}: no such file {stream.name!r}")  # the name only: no server path in a page
        if stream.stat().st_size == 0:
            raise ImageInputError(f"{name}: {stream.name!r} is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            pil = Image.open(stream)
            _check_size(pil.width, pil.height, max_pixels, name)
            pil.load()  # decode now so truncated files fail here, not later
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        limit = f"{max_pixels:,}"
        raise ImageInputError(f"{name}: the image is too large to decode safely (limit {limit} pixels)") from None
    except UnidentifiedImageError:
        raise ImageInputError(f"{name}: not an image file PIL can read (try PNG, JPEG or WebP)") from None
    except ImageInputError:
        raise
    except Exception as err:  # noqa: BLE001 - PIL's decoders raise OSError, ValueError, SyntaxError, EOFError, struct
        # errors... on damaged bytes: every one of them is the file's fault, and the user must see a refusal
        raise ImageInputError(f"{name}: the image file is corrupt or truncated ({err}); re-export it") from None
    return pil


def _check_size(width: int, height: int, max_pixels: int, name: str) -> None:
    if width <= 0 or height <= 0:
        raise ImageInputError(f"{name}: the image is empty ({width}x{height})")
    if width * height > max_pixels:
        raise ImageInputError(
            f"{name}: {width}x{height} = {width * height:,} pixels exceeds the limit of {max_pixels:,}; downscale it"
        )


def _from_pil(pil: Image.Image, max_pixels: int, name: str) -> np.ndarray:
    _check_size(pil.width, pil.height, max_pixels, name)
    try:
        pil = ImageOps.exif_transpose(pil)
        if pil.mode in ("I;16", "I;16B", "I;16L", "I"):
            array = np.asarray(pil, dtype=np.float64)
            scale = 65535.0 if array.max(initial=0) > 255 else 255.0
            return _from_array((array / scale).astype(np.float32), max_pixels, name)
        if pil.mode == "F":
            return _from_array(np.asarray(pil, dtype=np.float32), max_pixels, name)
        if pil.mode in ("RGBA", "LA", "PA") or (pil.mode == "P" and "transparency" in pil.info):
            # Transparent pixels become black, as the model saw no alpha in training.
            rgba = pil.convert("RGBA")
            background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
            pil = Image.alpha_composite(background, rgba)
        rgb = pil.convert("RGB")
    except Exception as err:  # noqa: BLE001 - a damaged image fails in PIL in many ways; all are the file's fault
        raise ImageInputError(f"{name}: the image could not be decoded ({err})") from None
    return np.asarray(rgb, dtype=np.uint8).copy()


def _from_array(array: np.ndarray, max_pixels: int, name: str) -> np.ndarray:
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] not in (3, 4)):
        raise ImageInputError(f"{name}: expected an array of shape (H, W), (H, W, 3) or (H, W, 4), got {array.shape}")
    _check_size(array.shape[1], array.shape[0], max_pixels, name)
    if array.dtype == np.uint8:
        out = array
    elif array.dtype == np.uint16:
        out = (array.astype(np.float64) / 257.0).round().astype(np.uint8)
    elif np.issubdtype(array.dtype, np.floating):
        if not np.isfinite(array).all():
            raise ImageInputError(f"{name}: the array contains NaN or infinite values")
        if array.min() < 0.0 or array.max() > 1.0:
            raise ImageInputError(f"{name}: float arrays must lie in [0, 1] (got [{array.min()}, {array.max()}])")
        out = (array * 255.0).round().astype(np.uint8)
    elif array.dtype == np.bool_:
        out = array.astype(np.uint8) * 255
    else:
        raise ImageInputError(f"{name}: unsupported array dtype {array.dtype}; use uint8, uint16 or float in [0, 1]")
    if out.ndim == 2:
        out = np.repeat(out[..., None], 3, axis=-1)
    elif out.shape[-1] == 4:
        alpha = out[..., 3:4].astype(np.float32) / 255.0
        out = (out[..., :3].astype(np.float32) * alpha).round().astype(np.uint8)
    out = np.ascontiguousarray(out)
    return out if out.flags.writeable else out.copy()  # read-only arrays (e.g. from Gradio) cannot back a tensor


def aspect_ratio_warning(width: int, height: int, limit: float) -> str | None:
    """A user-facing note when the model will visibly stretch an image to a square, else None."""
    ratio = max(width, height) / min(width, height)
    if ratio <= limit:
        return None
    return (
        f"The image ({width}x{height}, aspect ratio {ratio:.1f}:1) was stretched to a square for the model, which "
        "may reduce quality; crop it closer to square for better results."
    )
