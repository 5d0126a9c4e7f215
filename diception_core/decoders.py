"""Decoders from DICEPTION's RGB outputs to task values, and the matching training-target encoders.

Every decoder takes the model's raw output ``rgb``: a float array of shape [H, W, 3] with values in [0, 1], at the
resolution the result should have. The encodings are described in ``../shared/reference/DICEPTION_MODEL.md``
("Output encodings"). The functions are pure (numpy / OpenCV only, no torch) and every threshold is a keyword
parameter with a documented default; the pipeline passes the values saved in the model's config.

``decode_resized`` decodes an output at the model's resolution for a larger (or smaller) input, resizing only the
decoded channel(s) instead of the 3-channel RGB (the pipeline's path; see its docstring for the tolerance).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import cv2
import numpy as np

from diception_spec.normals import NormalFrame
from diception_spec.normals import convert_normal_frame as _convert_frame
from diception_spec.tasks import Encoding

__all__ = [
    "Instances",
    "NormalFrame",
    "PoseKeypoints",
    "check_rgb",
    "convert_normal_frame",
    "decode",
    "decode_depth",
    "decode_instances",
    "decode_mask",
    "decode_normals",
    "decode_pose",
    "decode_resized",
    "encode_depth",
    "encode_mask",
    "encode_normals",
]

_RANGE_TOLERANCE = 1e-3  # float error allowed outside [0, 1] in a model output before it counts as invalid
_NORM_EPS = 1e-6  # normal vectors shorter than this are undefined and decode to zero


# ----------------------------------------------------------------------------------------------------------------
# Validation helpers
# ----------------------------------------------------------------------------------------------------------------


def check_rgb(rgb: np.ndarray, name: str = "rgb") -> np.ndarray:
    """Return ``rgb`` as float32 [H, W, 3] in [0, 1]; raise ``ValueError`` naming ``name`` when it is not one.

    Values within 1e-3 outside [0, 1] (float error from a VAE decode) are clipped (into a copy); anything further
    raises. A float32 input already in [0, 1] is returned as is, not copied: read it, do not write to it.
    """
    if not isinstance(rgb, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array of shape [H, W, 3], got {type(rgb).__name__}")
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"{name}: expected shape [H, W, 3], got {list(rgb.shape)}")
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f"{name}: image is empty (shape {list(rgb.shape)})")
    if not np.issubdtype(rgb.dtype, np.floating):
        raise ValueError(f"{name}: expected a float array with values in [0, 1], got dtype {rgb.dtype}")
    rgb = rgb.astype(np.float32, copy=False)  # [H, W, 3]
    low, high = float(rgb.min()), float(rgb.max())  # a NaN anywhere makes both NaN; two passes, no temporaries
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"{name}: contains NaN or infinite values")
    if low < -_RANGE_TOLERANCE or high > 1.0 + _RANGE_TOLERANCE:
        raise ValueError(f"{name}: values must lie in [0, 1], got [{low:.4g}, {high:.4g}]")
    if low < 0.0 or high > 1.0:
        return np.clip(rgb, 0.0, 1.0)  # [H, W, 3] in [0, 1]
    return rgb


def _channel_mean(rgb: np.ndarray) -> np.ndarray:
    """``rgb.mean(axis=2)`` of a float32 [H, W, 3], bit for bit (((r + g) + b) / 3), about 9x faster."""
    total = rgb[..., 0] + rgb[..., 1]  # [H, W]
    total += rgb[..., 2]
    total /= np.float32(3.0)
    return total


def _check_map(array: np.ndarray, name: str) -> np.ndarray:
    """Return a finite float32 [H, W] map; raise ``ValueError`` naming ``name`` otherwise."""
    if not isinstance(array, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array of shape [H, W], got {type(array).__name__}")
    if array.ndim != 2 or array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"{name}: expected a non-empty array of shape [H, W], got {list(array.shape)}")
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(f"{name}: expected a numeric array, got dtype {array.dtype}")
    array = array.astype(np.float32, copy=False)  # [H, W]
    if not np.isfinite(array).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return array


def _check_mask(mask: np.ndarray, name: str = "mask") -> np.ndarray:
    """Return a bool [H, W] mask; accepts bool arrays and integer arrays holding only 0 and 1."""
    if not isinstance(mask, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array of shape [H, W], got {type(mask).__name__}")
    if mask.ndim != 2 or mask.shape[0] == 0 or mask.shape[1] == 0:
        raise ValueError(f"{name}: expected a non-empty array of shape [H, W], got {list(mask.shape)}")
    if mask.dtype == np.bool_:
        return mask
    if np.issubdtype(mask.dtype, np.integer) and np.isin(mask, (0, 1)).all():
        return mask.astype(bool)
    raise ValueError(f"{name}: expected a bool array (or integers 0 / 1), got dtype {mask.dtype}")


def _check_unit_interval(name: str, value: float, *, open_low: bool = False) -> float:
    value = float(value)
    if not (0.0 <= value <= 1.0) or (open_low and value == 0.0):
        interval = "(0, 1]" if open_low else "[0, 1]"
        raise ValueError(f"{name}: must lie in {interval}, got {value}")
    return value


# ----------------------------------------------------------------------------------------------------------------
# Depth
# ----------------------------------------------------------------------------------------------------------------


def decode_depth(rgb: np.ndarray) -> np.ndarray:
    """Decode depth: ``disparity = mean(rgb, channels)``, float32 [H, W] in [0, 1], 1 = near.

    The value is affine-invariant disparity (relative inverse depth), not metric depth: the training target was
    min-max normalised per image, so only the ordering and ratios of differences are meaningful.
    """
    return _channel_mean(check_rgb(rgb))  # [H, W] in [0, 1]


def encode_depth(disparity: np.ndarray) -> np.ndarray:
    """Encode disparity as the training target: ``d' = (d - min d) / (max d - min d)``, repeated on 3 channels.

    A constant map encodes to zeros. Returns float32 [H, W, 3] in [0, 1]; ``decode_depth`` inverts it up to the
    min-max normalisation.
    """
    disparity = _check_map(disparity, "disparity")  # [H, W]
    low, high = float(disparity.min()), float(disparity.max())
    if high > low:
        normalised = (disparity - low) / (high - low)  # [H, W] in [0, 1]
    else:
        normalised = np.zeros_like(disparity)
    return np.repeat(normalised[:, :, None], 3, axis=2).astype(np.float32)  # [H, W, 3]


# ----------------------------------------------------------------------------------------------------------------
# Normals
# ----------------------------------------------------------------------------------------------------------------


def _check_normals(n: np.ndarray, name: str = "n") -> np.ndarray:
    if not isinstance(n, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array of shape [H, W, 3], got {type(n).__name__}")
    if n.ndim != 3 or n.shape[2] != 3 or n.shape[0] == 0 or n.shape[1] == 0:
        raise ValueError(f"{name}: expected a non-empty array of shape [H, W, 3], got {list(n.shape)}")
    if not np.issubdtype(n.dtype, np.floating):
        raise ValueError(f"{name}: expected a float array, got dtype {n.dtype}")
    n = n.astype(np.float32, copy=False)  # [H, W, 3]
    if not np.isfinite(n).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return n


def convert_normal_frame(
    n: np.ndarray, src: str | NormalFrame, dst: str | NormalFrame
) -> np.ndarray:
    """Convert normals [H, W, 3] from frame ``src`` to frame ``dst``: ``n_dst = s_dst * s_src * n_src``.

    Frames are ``diception_spec.normals.NormalFrame`` values or aliases (``marigold``, ``dsine``, ``opencv``); the
    conversion is its own inverse. Returns a new float32 array.
    """
    n = _check_normals(n)  # [H, W, 3]
    return _convert_frame(n, NormalFrame.parse(src, "src"), NormalFrame.parse(dst, "dst"))  # [H, W, 3], new


def decode_normals(
    rgb: np.ndarray,
    frame: str | NormalFrame = NormalFrame.MARIGOLD,
    *,
    output_frame: str | NormalFrame | None = None,
) -> np.ndarray:
    """Decode normals: ``n = (2 * rgb - 1) / |2 * rgb - 1|``, then ``convert_normal_frame(n, frame, output_frame)``.

    ``frame`` is the frame the model's output is in. The model config names it (``normal_frame``; Marigold's
    frame, x right, y up, z towards the viewer, is the default and the presumed one, since the model was trained
    on StableNormal pseudo-labels) and callers pass it on here. ``output_frame`` (default: ``frame``, no change)
    is the frame to return the vectors in. Returns float32 [H, W, 3] unit vectors; vectors shorter than 1e-6
    (rgb = 0.5 grey) are undefined and decode to the zero vector, never NaN.
    """
    rgb = check_rgb(rgb)  # [H, W, 3]
    frame = NormalFrame.parse(frame)
    output_frame = frame if output_frame is None else NormalFrame.parse(output_frame, "output_frame")
    n = 2.0 * rgb - 1.0  # [H, W, 3] in [-1, 1]
    length = np.linalg.norm(n, axis=2, keepdims=True)  # [H, W, 1]
    n = np.where(length > _NORM_EPS, n / np.maximum(length, _NORM_EPS), 0.0)  # [H, W, 3] unit or zero
    return _convert_frame(n.astype(np.float32), frame, output_frame)  # [H, W, 3]


def encode_normals(
    n: np.ndarray,
    frame: str | NormalFrame = NormalFrame.MARIGOLD,
    *,
    input_frame: str | NormalFrame | None = None,
) -> np.ndarray:
    """Encode normals as the model's target: ``rgb = (convert_normal_frame(n, input_frame, frame) + 1) / 2``,
    clipped to [0, 1].

    ``frame`` is the model's output frame (as in ``decode_normals``); ``input_frame`` (default: ``frame``) is the
    frame ``n`` is given in. Returns float32 [H, W, 3]; the vectors are not renormalised. ``decode_normals``
    with the same frames inverts it for unit vectors.
    """
    source = frame if input_frame is None else input_frame
    n = convert_normal_frame(n, source, frame)  # [H, W, 3] in the model's frame
    return np.clip((n + 1.0) / 2.0, 0.0, 1.0).astype(np.float32)  # [H, W, 3]


# ----------------------------------------------------------------------------------------------------------------
# Binary mask (point segmentation)
# ----------------------------------------------------------------------------------------------------------------


def decode_mask(rgb: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Decode a white-on-black mask: ``mask = mean(rgb, channels) >= threshold``, bool [H, W].

    ``threshold`` (default 0.5, in [0, 1]) comes from the model config.
    """
    rgb = check_rgb(rgb)  # [H, W, 3]
    threshold = _check_unit_interval("threshold", threshold)
    return _mask_from_mean(_channel_mean(rgb), threshold)  # [H, W] bool


def _mask_from_mean(mean: np.ndarray, threshold: float) -> np.ndarray:
    """The mask rule of ``decode_mask`` on a channel mean already computed: ``mean >= threshold``."""
    return mean >= threshold  # [H, W] bool


def encode_mask(mask: np.ndarray) -> np.ndarray:
    """Encode a mask as the training target: white (1.0) inside, black outside, float32 [H, W, 3]."""
    mask = _check_mask(mask)  # [H, W]
    return np.repeat(mask[:, :, None], 3, axis=2).astype(np.float32)  # [H, W, 3] in {0, 1}


# ----------------------------------------------------------------------------------------------------------------
# Instances (entity and category segmentation)
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Instances:
    """Instance masks decoded from a random-colour output, ordered by decreasing score.

    ``masks`` [K, H, W] bool, ``colors`` [K, 3] float32 (the instance's colour in the output, in [0, 1]),
    ``scores`` [K] float32 confidences in [0, 1] (see ``decode_instances`` for how they are assigned).
    """

    masks: np.ndarray  # [K, H, W] bool
    colors: np.ndarray  # [K, 3] float32
    scores: np.ndarray  # [K] float32

    def __post_init__(self) -> None:
        if not isinstance(self.masks, np.ndarray) or self.masks.ndim != 3 or self.masks.dtype != np.bool_:
            raise ValueError("masks: expected a bool array of shape [K, H, W]")
        k = self.masks.shape[0]
        if not isinstance(self.colors, np.ndarray) or self.colors.shape != (k, 3):
            shape = getattr(self.colors, "shape", None)
            raise ValueError(f"colors: expected shape [{k}, 3] to match masks, got {shape}")
        if not isinstance(self.scores, np.ndarray) or self.scores.shape != (k,):
            shape = getattr(self.scores, "shape", None)
            raise ValueError(f"scores: expected shape [{k}] to match masks, got {shape}")

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    @property
    def image_size(self) -> tuple[int, int]:
        """(height, width) of the masks."""
        return int(self.masks.shape[1]), int(self.masks.shape[2])

    @classmethod
    def empty(cls, height: int, width: int) -> Instances:
        return cls(
            masks=np.zeros((0, height, width), dtype=bool),
            colors=np.zeros((0, 3), dtype=np.float32),
            scores=np.zeros((0,), dtype=np.float32),
        )


def _box_sum_3d(grid: np.ndarray) -> np.ndarray:
    """Sum over each cell's 3×3×3 neighbourhood (zero outside): [B, B, B] -> [B, B, B]."""
    bins = grid.shape[0]
    padded = np.pad(grid, 1)  # [B + 2]^3
    out = np.zeros_like(grid)
    for dz in range(3):
        for dy in range(3):
            for dx in range(3):
                out += padded[dz : dz + bins, dy : dy + bins, dx : dx + bins]
    return out


def _histogram_peaks(pixels: np.ndarray, bins: int, min_count: int, max_peaks: int) -> np.ndarray:
    """Colours of the local maxima of the smoothed 3-D colour histogram, most populated first: [P, 3] float32.

    The histogram is summed over 3×3×3 bin neighbourhoods, so a noisy colour spread over neighbouring bins still
    makes one peak; a bin is a peak when it holds pixels, no neighbour's smoothed count is larger and its own is at
    least ``min_count``. The peak's colour is the mean of the pixels in its neighbourhood.
    """
    index = np.minimum((pixels * bins).astype(np.int64), bins - 1)  # [N, 3] bin per channel
    flat = (index[:, 0] * bins + index[:, 1]) * bins + index[:, 2]  # [N]
    shape = (bins, bins, bins)
    raw = np.bincount(flat, minlength=bins**3).reshape(shape).astype(np.float64)  # [B, B, B]
    mass = _box_sum_3d(raw)  # [B, B, B] pixels per neighbourhood
    padded = np.pad(mass, 1, constant_values=-1.0)  # [B + 2]^3
    neighbour_max = np.full_like(mass, -1.0)
    for dz in range(3):
        for dy in range(3):
            for dx in range(3):
                if dz == dy == dx == 1:
                    continue
                neighbour_max = np.maximum(neighbour_max, padded[dz : dz + bins, dy : dy + bins, dx : dx + bins])
    mass, neighbour_max, raw = mass.ravel(), neighbour_max.ravel(), raw.ravel()  # [B^3]
    peak_bins = np.flatnonzero((mass >= neighbour_max) & (raw > 0) & (mass >= max(min_count, 1)))  # [P]
    peak_bins = peak_bins[np.argsort(-mass[peak_bins], kind="stable")][:max_peaks]
    sums = np.stack(  # [B^3, 3] summed colour per neighbourhood
        [_box_sum_3d(np.bincount(flat, weights=pixels[:, c], minlength=bins**3).reshape(shape)).ravel()
         for c in range(3)],
        axis=1,
    )
    return (sums[peak_bins] / mass[peak_bins, None]).astype(np.float32)  # [P, 3]


def _merge_close_colors(centres: np.ndarray, distance: float) -> np.ndarray:
    """Indices of centres to keep: a centre within ``distance`` of an earlier kept one is dropped (earlier = more
    populated, as the centres come sorted)."""
    close = ((centres[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2) <= distance**2  # [P, P]
    dropped = np.zeros(len(centres), dtype=bool)  # [P]
    for i in range(len(centres)):
        if not dropped[i]:
            dropped[i + 1 :] |= close[i, i + 1 :]
    return np.flatnonzero(~dropped)


def _nearest_centre(pixels: np.ndarray, centres: np.ndarray, chunk: int = 1 << 14) -> np.ndarray:
    """Index of the nearest centre (Euclidean in RGB) for every pixel: [N] int32.

    Uses |c|^2 - 2 p·c (|p|^2 is the same for every centre) with element-wise products rather than a matrix
    product: a [n, 3] @ [3, K] product gains nothing from BLAS, whose threads stall on a busy machine.
    """
    c2 = (centres**2).sum(axis=1).astype(np.float32)  # [K]
    minus_2c = (-2.0 * centres).astype(np.float32)  # [K, 3]
    labels = np.empty(len(pixels), dtype=np.int32)  # [N]
    for start in range(0, len(pixels), chunk):
        p = pixels[start : start + chunk]  # [n, 3]
        distances = p[:, 0, None] * minus_2c[None, :, 0]  # [n, K]
        distances += c2
        distances += p[:, 1, None] * minus_2c[None, :, 1]
        distances += p[:, 2, None] * minus_2c[None, :, 2]
        labels[start : start + chunk] = np.argmin(distances, axis=1)
    return labels


def _kmeans(pixels: np.ndarray, centres: np.ndarray, iterations: int, max_samples: int) -> np.ndarray:
    """Lloyd's k-means from the given initial centres on a strided subsample; an empty cluster keeps its centre."""
    step = max(1, -(-len(pixels) // max_samples))
    sample = pixels[::step]  # [S, 3]
    centres = centres.copy()  # [K, 3]
    for _ in range(iterations):
        labels = _nearest_centre(sample, centres)  # [S]
        counts = np.bincount(labels, minlength=len(centres))  # [K]
        sums = np.stack([np.bincount(labels, weights=sample[:, c], minlength=len(centres)) for c in range(3)], 1)
        filled = counts > 0
        new = centres.copy()
        new[filled] = (sums[filled] / counts[filled, None]).astype(np.float32)
        if np.allclose(new, centres, atol=1e-4):
            centres = new
            break
        centres = new
    return centres


@dataclass
class _Cluster:
    """One colour cluster's mask, kept as a crop of the 1-pixel-padded image: crop rows y0..y1 (padded coords)."""

    index: int
    y0: int
    x0: int
    mask: np.ndarray  # [h + 2, w + 2] uint8, a zero border all round
    area: int = 0


def _cluster_crops(labels: np.ndarray, n_clusters: int, width: int) -> list[_Cluster | None]:
    """Padded bounding-box crops of each cluster's pixels (``None`` for an empty cluster)."""
    flat = labels.ravel()  # [H * W]
    order = np.argsort(flat, kind="stable")  # [H * W]
    ends = np.cumsum(np.bincount(flat, minlength=n_clusters))  # [K]
    crops: list[_Cluster | None] = []
    for k in range(n_clusters):
        idx = order[(ends[k - 1] if k else 0) : ends[k]]
        if idx.size == 0:
            crops.append(None)
            continue
        ys, xs = idx // width, idx % width
        y0, y1, x0, x1 = int(ys.min()), int(ys.max()), int(xs.min()), int(xs.max())
        mask = np.zeros((y1 - y0 + 3, x1 - x0 + 3), dtype=np.uint8)
        mask[ys - y0 + 1, xs - x0 + 1] = 1
        crops.append(_Cluster(k, y0, x0, mask, int(idx.size)))
    return crops


def _remove_fragments(cluster: _Cluster, min_area: float, fragment_min_ratio: float) -> tuple[np.ndarray, int]:
    """Open with a 3×3 square (removes specks and bands up to 2 pixels thick: antialiased edges whose blended
    colour happens to be nearest this cluster), then drop 8-connected pieces smaller than ``fragment_min_ratio`` ×
    the largest piece, or smaller than ``min_area`` unless it is the largest. Returns the cleaned crop and the
    largest piece's area."""
    opened = cv2.morphologyEx(cluster.mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))  # [h, w] uint8
    n, components, stats, _ = cv2.connectedComponentsWithStats(opened, connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]  # [n - 1]
    if areas.size == 0:  # the opening removed everything
        return np.zeros_like(opened), 0
    largest = int(areas.max())
    keep = (areas >= fragment_min_ratio * largest) & ((areas >= min_area) | (areas == largest))
    lut = np.concatenate([[0], keep]).astype(np.uint8)  # [n]
    return lut[components], largest


def _core_fraction(mask: np.ndarray) -> float:
    """Fraction of mask pixels that survive a 3×3 erosion (0 for lines up to 2 pixels thick)."""
    area = int(mask.sum())
    if area == 0:
        return 0.0
    return float(cv2.erode(mask, np.ones((3, 3), np.uint8)).sum()) / area


def _fill_holes(mask: np.ndarray, others: np.ndarray, max_hole_fraction: float, hole_claimed_max: float) -> np.ndarray:
    """Fill the holes of ``mask`` (4-connected regions of the complement not reaching the crop's border) that are
    at most ``max_hole_fraction`` of the mask's area and at most ``hole_claimed_max`` covered by ``others``
    (pixels other instances own), so an instance in front of another does not get swallowed."""
    complement = (1 - mask).astype(np.uint8)
    n, holes, stats, _ = cv2.connectedComponentsWithStats(complement, connectivity=4)
    if n <= 2:  # only the outside region (and possibly nothing else)
        return mask
    outside = holes[0, 0]  # the zero border belongs to the outside region
    areas = stats[:, cv2.CC_STAT_AREA].astype(np.float64)  # [n]
    claimed = np.bincount(holes[others], minlength=n)  # [n]
    fill = (areas <= max_hole_fraction * mask.sum()) & (claimed <= hole_claimed_max * areas)
    fill[outside] = False
    fill[0] = False  # label 0 is the mask itself
    return np.maximum(mask, fill[holes].astype(np.uint8))


@dataclass
class _Candidate:
    """An instance mask kept as its bounding box: ``mask`` [h, w] bool covers image rows y0 .. y0 + h - 1."""

    mask: np.ndarray  # [h, w] bool
    y0: int
    x0: int
    colour: np.ndarray  # [3]
    score: float

    @property
    def area(self) -> int:
        return int(self.mask.sum())

    @property
    def y1(self) -> int:
        return self.y0 + self.mask.shape[0]

    @property
    def x1(self) -> int:
        return self.x0 + self.mask.shape[1]


def _overlap(a: _Candidate, b: _Candidate) -> int:
    """Pixels in both masks, counted over the intersection of their boxes only."""
    y0, x0, y1, x1 = max(a.y0, b.y0), max(a.x0, b.x0), min(a.y1, b.y1), min(a.x1, b.x1)
    if y1 <= y0 or x1 <= x0:
        return 0
    a_part = a.mask[y0 - a.y0 : y1 - a.y0, x0 - a.x0 : x1 - a.x0]
    b_part = b.mask[y0 - b.y0 : y1 - b.y0, x0 - b.x0 : x1 - b.x0]
    return int((a_part & b_part).sum())


def _union(keep: _Candidate, other: _Candidate) -> _Candidate:
    """``keep`` (colour and score) with ``other``'s pixels added."""
    y0, x0, y1, x1 = min(keep.y0, other.y0), min(keep.x0, other.x0), max(keep.y1, other.y1), max(keep.x1, other.x1)
    mask = np.zeros((y1 - y0, x1 - x0), dtype=bool)  # [h, w]
    for part in (keep, other):
        mask[part.y0 - y0 : part.y1 - y0, part.x0 - x0 : part.x1 - x0] |= part.mask
    return _Candidate(mask, y0, x0, keep.colour, keep.score)


def decode_instances(
    rgb: np.ndarray,
    *,
    background_max: float = 0.12,
    hist_bins: int = 32,
    peak_min_fraction: float = 2e-4,
    max_instances: int = 100,
    kmeans_iterations: int = 5,
    kmeans_max_samples: int = 50_000,
    merge_color_distance: float = 0.1,
    min_area_fraction: float = 5e-4,
    fragment_min_ratio: float = 0.1,
    min_largest_fraction: float = 0.25,
    min_core_fraction: float = 0.2,
    max_hole_fraction: float = 0.1,
    hole_claimed_max: float = 0.5,
    merge_iou: float = 0.8,
    purity_tolerance: float = 0.15,
    split_components: bool = False,
) -> Instances:
    """Decode instance masks from an output that paints each instance a random colour on black.

    Steps (the paper's recipe; its thresholds are unpublished, so every one is a parameter here):

    1. Cluster count from colour-histogram peaks: a ``hist_bins``³ (default 32) histogram of all pixels summed
       over 3×3×3 bin neighbourhoods; a bin is a peak when no neighbour's sum is larger and its own is at least
       ``peak_min_fraction`` × H·W pixels (default 2e-4). Peaks within ``merge_color_distance`` (default 0.1,
       Euclidean RGB) of a more populated one are the same colour. At most ``max_instances`` (default 100, COCO's
       limit) colour peaks besides near-black ones are kept, and at most that many instances are returned.
    2. k-means (Lloyd, ``kmeans_iterations`` rounds, default 5, on at most ``kmeans_max_samples`` pixels) from the
       peak colours, then every pixel goes to its nearest centre, so an antialiased edge splits half-way between
       the two colours it blends. Clusters whose centre has max(R, G, B) < ``background_max`` (default 0.12) are
       background.
    3. Per colour cluster: a 3×3 opening removes specks and bands up to 2 pixels thick (blended edge colours),
       then 8-connected pieces smaller than ``fragment_min_ratio`` (0.1) × the largest piece, or smaller than the
       minimum area, are dropped. The cluster is not an instance when its area is under
       ``min_area_fraction`` (5e-4) × H·W (tiny), its largest piece holds under ``min_largest_fraction`` (0.25) of
       its area (fragmented), or under ``min_core_fraction`` (0.2) of its pixels survive a 3×3 erosion (a thin
       ring of blended edge colour). Rejected clusters give their pixels back to the nearest remaining colour
       (black included) and step 3 repeats until every cluster left is valid.
    4. Holes are filled when a hole is at most ``max_hole_fraction`` (0.1) of the mask's area and at most
       ``hole_claimed_max`` (0.5) covered by other instances (so an object in front stays separate).
    5. With ``split_components`` (default False: one colour is one instance, even when occlusion splits it),
       every remaining 8-connected piece becomes its own instance. Masks overlapping with IoU above ``merge_iou``
       (0.8) are merged into the higher-scoring one (their union).

    Score (a confidence in [0, 1] for COCO-style ranking): ``purity × solidity``, where purity is the fraction of
    the mask's pixels within ``purity_tolerance`` (0.15) of the instance colour and solidity is the fraction of the
    mask in its largest 8-connected piece. Instances come sorted by decreasing score.

    Two instances painted colours closer than ``merge_color_distance`` cannot be told apart (with
    ``split_components`` they are still split when they do not touch).
    """
    rgb = check_rgb(rgb)  # [H, W, 3]
    height, width = rgb.shape[:2]
    background_max = _check_unit_interval("background_max", background_max)
    for name, value in (
        ("peak_min_fraction", peak_min_fraction),
        ("min_area_fraction", min_area_fraction),
        ("fragment_min_ratio", fragment_min_ratio),
        ("min_largest_fraction", min_largest_fraction),
        ("min_core_fraction", min_core_fraction),
        ("max_hole_fraction", max_hole_fraction),
        ("hole_claimed_max", hole_claimed_max),
        ("merge_iou", merge_iou),
    ):
        _check_unit_interval(name, value)
    if not 2 <= int(hist_bins) <= 64:
        raise ValueError(f"hist_bins: must be an integer in [2, 64], got {hist_bins}")
    if int(max_instances) < 1:
        raise ValueError(f"max_instances: must be at least 1, got {max_instances}")
    if int(kmeans_iterations) < 0:
        raise ValueError(f"kmeans_iterations: must be >= 0, got {kmeans_iterations}")
    if int(kmeans_max_samples) < 1:
        raise ValueError(f"kmeans_max_samples: must be >= 1, got {kmeans_max_samples}")
    if not merge_color_distance >= 0 or not purity_tolerance >= 0:
        raise ValueError("merge_color_distance, purity_tolerance: must be >= 0")

    # 1. cluster count and initial colours from histogram peaks
    pixels = rgb.reshape(-1, 3)  # [N, 3]
    image_area = height * width
    min_area = min_area_fraction * image_area
    peaks = _histogram_peaks(pixels, int(hist_bins), int(np.ceil(peak_min_fraction * image_area)), 4 * max_instances)
    peaks = peaks[_merge_close_colors(peaks, merge_color_distance)]  # [P, 3]
    is_background = peaks.max(axis=1) < background_max  # [P]
    peaks = np.concatenate([peaks[is_background], peaks[~is_background][:max_instances]])  # [P', 3]
    if not (peaks.max(axis=1) >= background_max).any():
        return Instances.empty(height, width)

    # 2. k-means refinement; merge centres that converged onto one colour
    centres = _kmeans(pixels, peaks, int(kmeans_iterations), int(kmeans_max_samples))  # [K, 3]
    centres = centres[_merge_close_colors(centres, merge_color_distance)]  # [K, 3]

    # 3. drop invalid colour clusters, handing their pixels to the nearest remaining colour, until all are valid
    while True:
        labels = _nearest_centre(pixels, centres).reshape(height, width)  # [H, W] cluster index
        foreground = centres.max(axis=1) >= background_max  # [K]
        crops = _cluster_crops(labels, len(centres), width)
        valid = ~foreground.copy()  # background centres always stay
        largest_areas = np.zeros(len(centres), dtype=np.int64)
        for cluster in crops:
            if cluster is None or not foreground[cluster.index]:
                continue
            cluster.mask, largest_areas[cluster.index] = _remove_fragments(cluster, min_area, fragment_min_ratio)
            cluster.area = int(cluster.mask.sum())
            valid[cluster.index] = (
                cluster.area > 0
                and cluster.area >= min_area
                and largest_areas[cluster.index] >= min_largest_fraction * cluster.area
                and _core_fraction(cluster.mask) >= min_core_fraction
            )
        if valid.all():
            break
        centres = centres[valid]  # [K', 3]
        if not (centres.max(axis=1) >= background_max).any():
            return Instances.empty(height, width)

    # 4. fill holes not owned by other instances
    kept = [c for c in crops if c is not None and foreground[c.index]]
    owner = np.full((height + 2, width + 2), -1, dtype=np.int32)  # [H + 2, W + 2] padded, -1 = nobody
    for c in kept:
        region = owner[c.y0 : c.y0 + c.mask.shape[0], c.x0 : c.x0 + c.mask.shape[1]]
        region[c.mask.astype(bool)] = c.index
    padded_rgb = np.pad(rgb, ((1, 1), (1, 1), (0, 0)))  # [H + 2, W + 2, 3]

    candidates: list[_Candidate] = []
    for c in kept:
        h, w = c.mask.shape
        others = owner[c.y0 : c.y0 + h, c.x0 : c.x0 + w]
        others = (others >= 0) & (others != c.index)  # [h, w]
        filled = _fill_holes(c.mask, others, max_hole_fraction, hole_claimed_max)  # [h, w] uint8
        colour = centres[c.index]  # [3]
        crop_rgb = padded_rgb[c.y0 : c.y0 + h, c.x0 : c.x0 + w]  # [h, w, 3]
        pure = ((crop_rgb - colour) ** 2).sum(axis=2) <= purity_tolerance**2  # [h, w] bool
        n, components, stats, _ = cv2.connectedComponentsWithStats(filled, connectivity=8)
        areas = stats[1:, cv2.CC_STAT_AREA]  # [n - 1]
        pieces = [components == i + 1 for i in range(n - 1)] if split_components else [filled.astype(bool)]
        for piece in pieces:
            area = int(piece.sum())
            if area < min_area:
                continue
            purity = float(pure[piece].sum()) / area
            solidity = 1.0 if split_components else float(areas.max()) / area
            # crop row/column 1 of the padded image is image row/column 0, so the crop's origin is (y0, x0)
            candidates.append(_Candidate(piece[1:-1, 1:-1], c.y0, c.x0, colour, purity * solidity))

    # 5. merge duplicates (IoU above merge_iou) into the higher-scoring mask, then sort by score
    candidates.sort(key=lambda item: -item.score)
    merged: list[_Candidate] = []
    for candidate in candidates:
        for i, entry in enumerate(merged):
            overlap = _overlap(entry, candidate)
            if overlap and overlap / (entry.area + candidate.area - overlap) > merge_iou:
                merged[i] = _union(entry, candidate)
                break
        else:
            merged.append(candidate)
    merged = merged[:max_instances]
    if not merged:
        return Instances.empty(height, width)
    masks = np.zeros((len(merged), height, width), dtype=bool)  # [K, H, W]
    for mask, entry in zip(masks, merged, strict=True):
        mask[entry.y0 : entry.y0 + entry.mask.shape[0], entry.x0 : entry.x0 + entry.mask.shape[1]] = entry.mask
    return Instances(
        masks=masks,  # [K, H, W]
        colors=np.stack([m.colour for m in merged]).astype(np.float32),  # [K, 3]
        scores=np.clip(np.array([m.score for m in merged], dtype=np.float32), 0.0, 1.0),  # [K]
    )


# ----------------------------------------------------------------------------------------------------------------
# Pose
# ----------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class PoseKeypoints:
    """Joint candidates decoded from a pose rendering: ``points`` [K, 2] float32 (x, y) in pixels, x right, y down
    (pixel (x, y) is the centre of column x, row y); ``scores`` [K] float32 in [0, 1].

    Joint identities (which joint, which person) are not recovered: the rendering paints every joint the same
    red. The paper typed each candidate by the nearest ground-truth keypoint, so its COCO keypoint AP is
    ground-truth assisted; a blind decoder can only report candidates.
    """

    IDENTITY_NOTE: ClassVar[str] = (
        "Joint identities are not recovered: every joint is rendered in the same red, so these are unlabelled "
        "keypoint candidates. The DICEPTION paper typed joints by the nearest ground-truth keypoint."
    )

    points: np.ndarray  # [K, 2] float32 (x, y)
    scores: np.ndarray  # [K] float32

    def __post_init__(self) -> None:
        if not isinstance(self.points, np.ndarray) or self.points.ndim != 2 or self.points.shape[1] != 2:
            raise ValueError("points: expected an array of shape [K, 2]")
        if not isinstance(self.scores, np.ndarray) or self.scores.shape != (self.points.shape[0],):
            raise ValueError(f"scores: expected shape [{self.points.shape[0]}] to match points")

    def __len__(self) -> int:
        return int(self.points.shape[0])


def decode_pose(
    rgb: np.ndarray,
    *,
    red_min: float = 0.5,
    other_max: float = 0.35,
    min_area: int = 3,
    max_area_fraction: float = 0.01,
) -> PoseKeypoints:
    """Decode joint candidates from a skeleton rendering whose joints are all red.

    A pixel is red when ``R >= red_min`` (0.5) and ``G <= other_max`` and ``B <= other_max`` (0.35). Each
    8-connected red blob of ``min_area`` (3) to ``max_area_fraction`` (0.01) × H·W pixels is one candidate at the
    blob's centroid; larger red regions are not joints. Score = the blob's mean redness ``R - max(G, B)``, clipped
    to [0, 1]. Candidates come in raster order of their first pixel. Touching joints merge into one blob, and
    identities are not recovered (see ``PoseKeypoints.IDENTITY_NOTE``).
    """
    rgb = check_rgb(rgb)  # [H, W, 3]
    red_min = _check_unit_interval("red_min", red_min)
    other_max = _check_unit_interval("other_max", other_max)
    max_area_fraction = _check_unit_interval("max_area_fraction", max_area_fraction, open_low=True)
    if int(min_area) < 1:
        raise ValueError(f"min_area: must be at least 1 pixel, got {min_area}")
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]  # [H, W] each
    red = (r >= red_min) & (g <= other_max) & (b <= other_max)  # [H, W] bool
    n, blobs, stats, centroids = cv2.connectedComponentsWithStats(red.astype(np.uint8), connectivity=8)
    areas = stats[:, cv2.CC_STAT_AREA]  # [n]
    redness = np.bincount(blobs.ravel(), weights=(r - np.maximum(g, b)).ravel(), minlength=n)  # [n]
    keep = np.flatnonzero((areas >= int(min_area)) & (areas <= max_area_fraction * r.size))
    keep = keep[keep > 0]  # label 0 is the non-red remainder
    return PoseKeypoints(
        points=centroids[keep].astype(np.float32).reshape(-1, 2),  # [K, 2] (x, y)
        scores=np.clip(redness[keep] / areas[keep], 0.0, 1.0).astype(np.float32),  # [K]
    )


# ----------------------------------------------------------------------------------------------------------------
# Dispatcher
# ----------------------------------------------------------------------------------------------------------------


def decode(encoding: Encoding | str, rgb: np.ndarray, **settings) -> np.ndarray | Instances | PoseKeypoints:
    """Decode ``rgb`` for an output ``Encoding``: DEPTH → disparity [H, W], NORMAL → normals [H, W, 3],
    MASK → bool [H, W], INSTANCES → ``Instances``, POSE → ``PoseKeypoints``, RGB → the validated rgb itself.

    ``settings`` are the chosen decoder's keyword parameters (e.g. ``threshold`` for MASK, ``frame`` for NORMAL).
    """
    try:
        encoding = Encoding(encoding)
    except ValueError:
        known = ", ".join(e.value for e in Encoding)
        raise ValueError(f"encoding: unknown encoding {encoding!r}; known encodings: {known}") from None
    if encoding is Encoding.RGB and settings:
        raise ValueError(f"settings: the rgb encoding takes no settings, got {sorted(settings)}")
    decoders = {
        Encoding.DEPTH: decode_depth,
        Encoding.NORMAL: decode_normals,
        Encoding.MASK: decode_mask,
        Encoding.INSTANCES: decode_instances,
        Encoding.POSE: decode_pose,
        Encoding.RGB: check_rgb,
    }
    return decoders[encoding](rgb, **settings)


# ----------------------------------------------------------------------------------------------------------------
# Decoding at the model's resolution
# ----------------------------------------------------------------------------------------------------------------

Resize = Callable[[np.ndarray, int, int], np.ndarray]  # (float32 [h, w, C], H, W) -> float32 [H, W, C]


def decode_resized(
    encoding: Encoding | str, rgb: np.ndarray, size: tuple[int, int], resize: Resize, **settings
) -> np.ndarray | Instances | PoseKeypoints:
    """Decode a model-resolution output ``rgb`` [h, w, 3] for an input of ``size`` = (H, W), resizing only what
    the decoding needs; returns what ``decode(encoding, clip(resize(rgb)))`` returns, at (H, W).

    ``resize(array, H, W)`` resizes a float32 [h, w, C] map to [H, W, C] (the pipeline passes its bilinear
    resize). Per encoding:

    - DEPTH: ``clip(resize(mean(rgb)), 0, 1)``: one float32 channel.
    - MASK: ``resize(mean(rgb)) >= threshold``: one channel, thresholded to bool.
    - NORMAL, INSTANCES, POSE, RGB: ``decode(encoding, clip(resize(rgb), 0, 1))`` exactly (bit for bit). Normals
      are 3 channels either way, and normalising amplifies rounding where a vector is short; instances and pose
      need the full-resolution colours. The full-resolution RGB is a temporary, not kept.

    Tolerance against decoding the full-resolution RGB (``decode(encoding, clip(resize(rgb), 0, 1))``) when
    ``resize`` is linear (bilinear is): the channel mean commutes with a linear resize, and a resize of values in
    [0, 1] stays in [0, 1], so the two differ only by float32 rounding: depth by at most 1e-3
    (tested; ~2e-7 measured), and a mask only where the mean lies within rounding of the threshold (IoU >= 0.999
    with the full-resolution mask, tested on the SA-1B fixture; 15 of ~155 M pixels differed over 45 masks in
    ``speed.bench_evaluation``). The other encodings are
    identical. A non-linear resize (LANCZOS overshoot clipped per channel) does not commute: decode its
    full-resolution RGB instead.
    """
    try:
        encoding = Encoding(encoding)
    except ValueError:
        known = ", ".join(e.value for e in Encoding)
        raise ValueError(f"encoding: unknown encoding {encoding!r}; known encodings: {known}") from None
    height, width = (int(v) for v in size)
    if height <= 0 or width <= 0:
        raise ValueError(f"size: expected a positive (height, width), got {size}")
    rgb = check_rgb(rgb)  # [h, w, 3] in [0, 1]
    if encoding is Encoding.DEPTH:
        if settings:
            raise ValueError(f"settings: depth takes no settings, got {sorted(settings)}")
        depth = resize(_channel_mean(rgb)[:, :, None], height, width)[:, :, 0]  # [H, W]
        return np.clip(depth, 0.0, 1.0, out=depth)  # [H, W] in [0, 1]
    if encoding is Encoding.MASK:
        threshold = _check_unit_interval("threshold", settings.pop("threshold", 0.5))
        if settings:
            raise ValueError(f"settings: the mask decoder takes threshold only, got {sorted(settings)}")
        mean = resize(_channel_mean(rgb)[:, :, None], height, width)[:, :, 0]  # [H, W]
        return _mask_from_mean(mean, threshold)  # [H, W] bool
    full = resize(rgb, height, width)  # [H, W, 3]
    return decode(encoding, np.clip(full, 0.0, 1.0, out=full), **settings)
