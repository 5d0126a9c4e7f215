"""Visualisers for decoded outputs: every function returns a uint8 RGB array [H, W, 3] (or a PIL image).

Images passed in may be uint8 [H, W, 3] or float [H, W, 3] in [0, 1]; grayscale [H, W] images are repeated to 3
channels. Nothing here needs torch or matplotlib.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from PIL import Image

from diception_core.decoders import Instances, NormalFrame, PoseKeypoints, encode_normals

__all__ = [
    "INSTANCE_PALETTE",
    "colorize_depth",
    "draw_points",
    "instances_overlay",
    "instances_palette_image",
    "keypoints_overlay",
    "mask_overlay",
    "normals_to_image",
]

# ColorBrewer's 11-class "Spectral" scheme (the anchors of matplotlib's Spectral), from 0 to 1.
_SPECTRAL = np.array(
    [
        [158, 1, 66], [213, 62, 79], [244, 109, 67], [253, 174, 97], [254, 224, 139], [255, 255, 191],
        [230, 245, 152], [171, 221, 164], [102, 194, 165], [50, 136, 189], [94, 79, 162],
    ],
    dtype=np.float32,
)  # [11, 3]
_GRAY = np.array([[0, 0, 0], [255, 255, 255]], dtype=np.float32)  # [2, 3]
# Colour map name -> (anchors from 0 to 1, whether near (disparity 1) maps to anchor 0).
_COLORMAPS: dict[str, tuple[np.ndarray, bool]] = {
    "Spectral": (_SPECTRAL, True),  # near = dark red, far = violet-blue (Marigold / Depth Anything look)
    "Spectral_r": (_SPECTRAL, False),  # near = violet-blue, far = dark red
    "gray": (_GRAY, False),  # near = white, far = black (the model's own encoding)
}

# A fixed palette of 20 well-separated colours (Kelly's / Tableau-like), cycled for more instances.
INSTANCE_PALETTE: np.ndarray = np.array(
    [
        [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48],
        [145, 30, 180], [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212],
        [0, 128, 128], [220, 190, 255], [170, 110, 40], [255, 250, 200], [128, 0, 0],
        [170, 255, 195], [128, 128, 0], [255, 215, 180], [0, 0, 128], [128, 128, 128],
    ],
    dtype=np.uint8,
)  # [20, 3]

_POINT_COLOR = (0, 255, 0)
_KEYPOINT_COLOR = (255, 32, 32)


# ----------------------------------------------------------------------------------------------------------------
# Validation helpers
# ----------------------------------------------------------------------------------------------------------------


def as_uint8_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Return ``image`` as uint8 [H, W, 3]: uint8 passes through, float in [0, 1] is scaled by 255 and rounded,
    [H, W] is repeated to 3 channels. Anything else raises ``ValueError`` naming ``name``."""
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array [H, W, 3], got {type(image).__name__}")
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{name}: expected a non-empty array of shape [H, W, 3] or [H, W], got {list(image.shape)}")
    if image.dtype == np.uint8:
        return image
    if np.issubdtype(image.dtype, np.floating):
        if not np.isfinite(image).all() or image.min() < 0.0 or image.max() > 1.0:
            raise ValueError(f"{name}: float images must hold finite values in [0, 1]")
        return np.round(image * 255.0).astype(np.uint8)  # [H, W, 3]
    raise ValueError(f"{name}: expected dtype uint8 or float in [0, 1], got {image.dtype}")


def _check_same_size(array: np.ndarray, size: tuple[int, ...], name: str, what: str) -> None:
    if array.shape[:2] != size:
        raise ValueError(f"{name}: size {list(array.shape[:2])} does not match the image's {list(size)} ({what})")


def _check_color(color: Sequence[int], name: str = "color") -> tuple[int, int, int]:
    values = tuple(int(c) for c in color)
    if len(values) != 3 or not all(0 <= c <= 255 for c in values):
        raise ValueError(f"{name}: expected three integers in [0, 255], got {color!r}")
    return values  # type: ignore[return-value]


def _check_alpha(alpha: float) -> float:
    alpha = float(alpha)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha: must lie in [0, 1], got {alpha}")
    return alpha


def _marker_radius(shape: tuple[int, ...]) -> int:
    """A marker radius that stays visible on large images: 0.8 % of the shorter side, at least 3 pixels."""
    return max(3, int(round(0.008 * min(shape[:2]))))


# ----------------------------------------------------------------------------------------------------------------
# Dense outputs
# ----------------------------------------------------------------------------------------------------------------


def colorize_depth(disparity: np.ndarray, cmap: str = "Spectral") -> np.ndarray:
    """Colour a disparity map [H, W] (1 = near) after min-max normalisation ``t = (d - min) / (max - min)``.

    ``cmap``: ``"Spectral"`` (default; near = dark red, through yellow, far = violet-blue), ``"Spectral_r"`` (near
    = violet-blue, far = dark red) or ``"gray"`` (near = white, far = black). Colours are linearly interpolated
    between the map's anchor colours, so no matplotlib is needed. A constant map is drawn as all far.
    Returns uint8 [H, W, 3].
    """
    if cmap not in _COLORMAPS:
        raise ValueError(f"cmap: unknown colour map {cmap!r}; known: {', '.join(_COLORMAPS)}")
    if not isinstance(disparity, np.ndarray) or disparity.ndim != 2 or 0 in disparity.shape:
        shape = list(getattr(disparity, "shape", []))
        raise ValueError(f"disparity: expected a non-empty numpy array of shape [H, W], got {shape}")
    if not np.issubdtype(disparity.dtype, np.number) or not np.isfinite(disparity).all():
        raise ValueError("disparity: expected finite numeric values")
    d = disparity.astype(np.float32)  # [H, W]
    low, high = float(d.min()), float(d.max())
    t = (d - low) / (high - low) if high > low else np.zeros_like(d)  # [H, W] in [0, 1], 1 = near
    anchors, near_first = _COLORMAPS[cmap]
    position = 1.0 - t if near_first else t  # [H, W] position along the anchors
    grid = np.linspace(0.0, 1.0, len(anchors))  # [A]
    channels = [np.interp(position, grid, anchors[:, c]) for c in range(3)]
    return np.round(np.stack(channels, axis=2)).astype(np.uint8)  # [H, W, 3]


def normals_to_image(n: np.ndarray, frame: str | NormalFrame = NormalFrame.MARIGOLD) -> np.ndarray:
    """Show normals [H, W, 3] given in frame ``frame`` the usual way, in Marigold's frame whatever ``frame`` is:
    ``rgb = (n_marigold + 1) / 2`` as uint8, so right is red, up is green and towards the viewer is blue.
    Returns uint8 [H, W, 3]."""
    rgb = encode_normals(n, NormalFrame.MARIGOLD, input_frame=frame)  # [H, W, 3] in [0, 1]
    return np.round(rgb * 255.0).astype(np.uint8)  # [H, W, 3]


# ----------------------------------------------------------------------------------------------------------------
# Overlays
# ----------------------------------------------------------------------------------------------------------------


def mask_overlay(
    image: np.ndarray, mask: np.ndarray, color: Sequence[int] = (255, 64, 64), alpha: float = 0.5
) -> np.ndarray:
    """Blend ``color`` over the masked pixels: ``out = (1 - alpha) * image + alpha * color`` inside the mask,
    ``image`` outside. Returns uint8 [H, W, 3]."""
    image = as_uint8_image(image)  # [H, W, 3]
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.ndim != 2:
        raise ValueError(f"mask: expected a bool array of shape [H, W], got {getattr(mask, 'dtype', type(mask))}")
    _check_same_size(mask, image.shape[:2], "mask", "mask_overlay")
    color = np.array(_check_color(color), dtype=np.float32)  # [3]
    alpha = _check_alpha(alpha)
    out = image.astype(np.float32)  # [H, W, 3]
    out[mask] = (1.0 - alpha) * out[mask] + alpha * color
    return np.round(out).astype(np.uint8)  # [H, W, 3]


def instances_overlay(image: np.ndarray, instances: Instances, alpha: float = 0.6) -> np.ndarray:
    """Blend each instance in ``INSTANCE_PALETTE[i % 20]`` (instance i, in score order) over ``image`` with
    ``alpha`` and outline it in the same colour; where masks overlap the earlier (higher-scoring) one shows.
    Returns uint8 [H, W, 3]."""
    image = as_uint8_image(image)  # [H, W, 3]
    if not isinstance(instances, Instances):
        raise ValueError(f"instances: expected an Instances object, got {type(instances).__name__}")
    if instances.image_size != image.shape[:2]:
        raise ValueError(f"instances: mask size {list(instances.image_size)} does not match the image's "
                         f"{list(image.shape[:2])}")
    alpha = _check_alpha(alpha)
    out = image.astype(np.float32)  # [H, W, 3]
    painted = np.zeros(image.shape[:2], dtype=bool)  # [H, W]
    for i, mask in enumerate(instances.masks):
        color = INSTANCE_PALETTE[i % len(INSTANCE_PALETTE)].astype(np.float32)  # [3]
        region = mask & ~painted  # [H, W]
        out[region] = (1.0 - alpha) * out[region] + alpha * color
        painted |= mask
    out = np.round(out).astype(np.uint8)
    for i, mask in enumerate(instances.masks):
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        color = tuple(int(c) for c in INSTANCE_PALETTE[i % len(INSTANCE_PALETTE)])
        cv2.drawContours(out, contours, -1, color, thickness=1)
    return out  # [H, W, 3]


def instances_palette_image(instances: Instances) -> Image.Image:
    """A palette ("P" mode) PIL image whose pixel index is the instance id: 0 = background, i + 1 = instance i
    (score order); where masks overlap the lower id wins. The palette shows 0 black and id i + 1 in
    ``INSTANCE_PALETTE[i % 20]``. At most 255 instances."""
    if not isinstance(instances, Instances):
        raise ValueError(f"instances: expected an Instances object, got {type(instances).__name__}")
    if len(instances) > 255:
        raise ValueError(f"instances: a palette image holds at most 255 instances, got {len(instances)}")
    height, width = instances.image_size
    ids = np.zeros((height, width), dtype=np.uint8)  # [H, W]
    for i in range(len(instances) - 1, -1, -1):  # paint the last first so lower ids end on top
        ids[instances.masks[i]] = i + 1
    palette = np.zeros((256, 3), dtype=np.uint8)  # [256, 3]
    palette[1:] = INSTANCE_PALETTE[np.arange(255) % len(INSTANCE_PALETTE)]
    image = Image.frombytes("P", (width, height), np.ascontiguousarray(ids).tobytes())  # indices kept as they are
    image.putpalette(palette.ravel().tolist())
    return image


def draw_points(
    image: np.ndarray,
    points: Sequence[Sequence[float]] | np.ndarray,
    radius: int | None = None,
    color: Sequence[int] = _POINT_COLOR,
) -> np.ndarray:
    """Draw a filled disc of ``color`` with a white ring, centred exactly on each ``[x, y]`` pixel (x right, y down,
    rounded to the nearest pixel, the last row / column for points in its far half), e.g. the clicks of a point
    prompt. ``radius`` defaults to 0.8 % of the shorter side (at least 3 pixels). Points outside [0, W] x [0, H]
    raise ``ValueError``. Returns a new uint8 [H, W, 3]."""
    out = as_uint8_image(image).copy()  # [H, W, 3]
    height, width = out.shape[:2]
    coords = np.asarray(points, dtype=np.float64).reshape(-1, 2) if len(points) else np.zeros((0, 2))  # [P, 2]
    if not np.isfinite(coords).all():
        raise ValueError("points: coordinates must be finite")
    radius = _marker_radius(out.shape) if radius is None else int(radius)
    if radius < 0:
        raise ValueError(f"radius: must be >= 0, got {radius}")
    color = _check_color(color)
    for fx, fy in coords:
        if not (0.0 <= fx <= width and 0.0 <= fy <= height):
            raise ValueError(f"points: [{fx}, {fy}] lies outside the image of width {width} and height {height}")
        # Valid prompts reach up to x < W (pixels) or x = W (normalised 1.0): their marker sits on the last pixel.
        x, y = min(int(round(fx)), width - 1), min(int(round(fy)), height - 1)
        # cv2 draws integer centres exactly (shift=0), so the disc is symmetric about pixel (x, y).
        cv2.circle(out, (int(x), int(y)), radius + 1, (255, 255, 255), thickness=-1, lineType=cv2.LINE_8)
        cv2.circle(out, (int(x), int(y)), radius, color, thickness=-1, lineType=cv2.LINE_8)
    return out


def keypoints_overlay(image: np.ndarray, pose: PoseKeypoints, radius: int | None = None) -> np.ndarray:
    """Draw every decoded joint candidate as a red disc with a white ring (identities are not recovered, so all
    share one colour). Returns uint8 [H, W, 3]."""
    if not isinstance(pose, PoseKeypoints):
        raise ValueError(f"pose: expected a PoseKeypoints object, got {type(pose).__name__}")
    return draw_points(image, pose.points, radius=radius, color=_KEYPOINT_COLOR)
