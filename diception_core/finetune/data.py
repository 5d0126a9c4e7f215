"""Fine-tuning data: a folder of image / target pairs, validated up front, and a synthetic example generator.

A data folder is either

- ``images/<stem>.<ext>`` + ``targets/<stem>.<ext>`` with matching stems (any image extension; targets may also be
  ``.npy``), or
- a ``manifest.json`` (``{"pairs": [...]}`` or a bare list) or ``manifest.jsonl`` (one object a line) listing pairs
  ``{"image": "a.jpg", "target": "a.png", "points": [[x, y], ...]}`` with paths relative to the folder; ``points``
  (optional, point segmentation only, at most 5, pixels, x right, y down as in IDS.md) are the click prompt of that
  pair; without them training draws 1-5 random points inside the mask at every step.

Targets are in the encoding of the task being trained (DICEPTION_MODEL.md, "Output encodings"):

- ``mask``: a binary image (PNG): pixels of value 1 when the image holds only 0 and 1, else >= half the range
  (128 of 255), are the object; RGB masks use the channel mean. Or ``.npy`` bool / 0-1 integers [H, W].
- ``depth``: a 16-bit PNG or a float ``.npy`` [H, W]. ``depth_kind="depth"`` (default): the values are depth (any
  unit, metres or millimetres alike, 0 / non-finite = no measurement) and are inverted to disparity 1 / depth;
  ``depth_kind="disparity"``: the values already are (relative) disparity, larger = nearer. Either way the training
  target is the model's encoding: disparity min-max normalised over the valid pixels (1 = nearest), invalid pixels 0.
- ``normal``: a PNG with rgb = (n + 1) / 2 or a float ``.npy`` [H, W, 3] of unit normals, both in the model's frame
  (x right, y up, z towards the viewer; Marigold's). Black PNG pixels / zero vectors are invalid.
- ``rgb``: any RGB image (e.g. a highlighted version of the input). Entity / semantic segmentation and pose targets
  are given as the renderings the model outputs (instances in random colours, skeletons) and load as ``rgb``.

Every problem found (missing pairs, size mismatches, unreadable files, too few pairs) is collected and raised as
one ``DataError`` naming each file.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from diception_spec.errors import Refused
from diception_spec.json_input import parse_json
from diception_spec.tasks import Encoding

from ..decoders import encode_depth, encode_mask, encode_normals
from ..image_io import ImageInputError, load_rgb
from ..points import normalize_points

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
TARGET_EXTENSIONS = (*IMAGE_EXTENSIONS, ".npy")
MIN_PAIRS = 4  # below this a LoRA cannot learn anything useful (the paper adapts from ~50 pairs)
RECOMMENDED_PAIRS = 20
DEPTH_KINDS = ("depth", "disparity")
TRAINING_ENCODINGS = ("mask", "depth", "normal", "rgb")
MAX_INPUT_PIXELS = 40_000_000
MAX_REPORTED_PROBLEMS = 20
MAX_MANIFEST_BYTES = 100_000_000  # manifest.json / manifest.jsonl
_MAX_CANDIDATES = 4096  # in-mask pixels kept per pair to draw random click points from


class DataError(Refused):
    """A data folder that cannot be trained on; the message lists every problem with the file it concerns."""


@dataclass(frozen=True)
class Pair:
    """One entry of a data folder: where its files are, and its click points (pixels [x, y]) if given."""

    name: str
    image_path: Path
    target_path: Path
    points: list[list[float]] | None = None


@dataclass
class Sample:
    """A loaded, checked pair."""

    name: str
    image: np.ndarray  # [H, W, 3] uint8
    target_rgb: np.ndarray  # [H, W, 3] float32 in [0, 1]: the model's output encoding of the target
    value: np.ndarray  # mask [H, W] bool | disparity [H, W] float32 | normals [H, W, 3] float32 | rgb [H, W, 3]
    valid: np.ndarray  # [H, W] bool: where ``value`` holds a measurement
    points: np.ndarray | None  # [K, 2] normalised (x, y) click points from the data folder, or None
    candidates: np.ndarray | None  # [M, 2] normalised (x, y) in-mask pixel centres to draw random clicks from
    pair: Pair


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _raise_problems(root: Path, problems: list[str]) -> None:
    if not problems:
        return
    shown = problems[:MAX_REPORTED_PROBLEMS]
    more = len(problems) - len(shown)
    lines = "\n".join(f"  - {p}" for p in shown) + (f"\n  - ... and {more} more" if more > 0 else "")
    raise DataError(f"data folder {root}: {len(problems)} problem(s):\n{lines}")


def _manifest_entries(path: Path) -> list[Any]:
    raw = path.read_bytes()
    name = str(path)
    if len(raw) > MAX_MANIFEST_BYTES:
        raise DataError(f"{name}: {len(raw):,} bytes; a manifest may have at most {MAX_MANIFEST_BYTES:,}")
    if path.suffix == ".jsonl":
        data: Any = [parse_json(line, name=f"{name} line {i}", refusal=DataError)
                     for i, line in enumerate(raw.split(b"\n"), start=1) if line.strip()]  # fmt: skip
    else:
        data = parse_json(raw, name=name, refusal=DataError)
    if isinstance(data, dict):
        data = data.get("pairs")
    if not isinstance(data, list):
        raise DataError(f'{path}: expected a list of pairs or {{"pairs": [...]}} with {{"image", "target"}} entries')
    return data


def find_pairs(folder: str | Path) -> list[Pair]:
    """List the pairs of a data folder (manifest first, else matching stems); raises ``DataError`` on any problem."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"data folder {root}: no such directory")
    problems: list[str] = []
    pairs: list[Pair] = []
    manifests = [root / "manifest.json", root / "manifest.jsonl"]
    manifest = next((m for m in manifests if m.is_file()), None)
    if manifest is not None:
        for index, entry in enumerate(_manifest_entries(manifest)):
            where = f"{manifest.name} entry {index}"
            if not isinstance(entry, dict) or not isinstance(entry.get("image"), str) or not isinstance(
                entry.get("target"), str
            ):
                problems.append(f'{where}: needs "image" and "target" paths (strings, relative to the folder)')
                continue
            image, target = root / entry["image"], root / entry["target"]
            for kind, path in (("image", image), ("target", target)):
                if not path.is_file():
                    problems.append(f"{where}: {kind} file {_rel(path, root)} does not exist")
            points = entry.get("points")
            if points is not None and not isinstance(points, list):
                problems.append(f"{where}: points must be a list of [x, y] pixel pairs")
                points = None
            name = str(entry.get("name") or Path(entry["image"]).stem)
            pairs.append(Pair(name, image, target, points))
        names = [p.name for p in pairs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            problems.append(f"{manifest.name}: duplicate pair names {duplicates[:5]} (give each entry a unique name)")
    else:
        image_dir, target_dir = root / "images", root / "targets"
        for sub in (image_dir, target_dir):
            if not sub.is_dir():
                problems.append(f"{sub.name}/: missing (a data folder holds images/ and targets/ with matching file "
                                "names, or a manifest.json listing the pairs)")
        _raise_problems(root, problems)
        images = _by_stem(image_dir, IMAGE_EXTENSIONS, root, problems)
        targets = _by_stem(target_dir, TARGET_EXTENSIONS, root, problems)
        for stem in sorted(set(images) - set(targets)):
            problems.append(f"{_rel(images[stem], root)}: no target targets/{stem}.* for this image")
        for stem in sorted(set(targets) - set(images)):
            problems.append(f"{_rel(targets[stem], root)}: no image images/{stem}.* for this target")
        pairs = [Pair(stem, images[stem], targets[stem]) for stem in sorted(set(images) & set(targets))]
    _raise_problems(root, problems)
    if len(pairs) < MIN_PAIRS:
        raise DataError(f"data folder {root}: found {len(pairs)} pair(s); at least {MIN_PAIRS} are needed (the paper "
                        f"adapts from about 50)")
    return pairs


def _by_stem(folder: Path, extensions: tuple[str, ...], root: Path, problems: list[str]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.suffix.lower() not in extensions:
            problems.append(f"{_rel(path, root)}: unsupported file type (expected {', '.join(extensions)})")
            continue
        if path.stem in found:
            problems.append(f"{_rel(path, root)}: two files share the name {path.stem!r} "
                            f"({found[path.stem].name}, {path.name})")
            continue
        found[path.stem] = path
    return found


def _read_array(path: Path) -> np.ndarray:
    """A target file as a numpy array: ``.npy`` (never pickled) or an image in its native bit depth."""
    if path.suffix.lower() == ".npy":
        return np.load(path, allow_pickle=False)
    with Image.open(path) as pil:
        pil.load()
        if pil.mode == "P":
            pil = pil.convert("RGB")
        if pil.mode in ("RGBA", "LA"):
            pil = pil.convert(pil.mode[:-1])
        if pil.mode == "1":
            return np.asarray(pil, dtype=bool)
        if pil.mode in ("I;16", "I;16B", "I;16L"):
            return np.asarray(pil, dtype=np.uint16)
        if pil.mode in ("I", "F"):
            return np.asarray(pil)
        if pil.mode not in ("L", "RGB"):
            pil = pil.convert("RGB")
        return np.asarray(pil, dtype=np.uint8)


def _as_mask(array: np.ndarray) -> np.ndarray:
    if array.ndim == 3:
        array = array.mean(axis=2)
    if array.dtype == np.bool_:
        return array
    if not np.isfinite(array).all():
        raise ValueError("holds NaN or infinite values")
    if np.isin(array, (0, 1)).all():
        return array == 1
    half = 32768 if array.dtype == np.uint16 or array.max() > 255 else 128
    return array >= half


def _as_disparity(array: np.ndarray, depth_kind: str) -> tuple[np.ndarray, np.ndarray]:
    if array.ndim == 3:
        array = array.mean(axis=2)
    values = array.astype(np.float64)  # [H, W]
    valid = np.isfinite(values) & (values > 0)
    if not valid.any():
        raise ValueError("holds no valid (positive, finite) value")
    disparity = np.zeros_like(values)
    disparity[valid] = 1.0 / values[valid] if depth_kind == "depth" else values[valid]
    return disparity.astype(np.float32), valid


def _encode_disparity(disparity: np.ndarray, valid: np.ndarray) -> np.ndarray:
    low = float(disparity[valid].min())
    shifted = np.where(valid, disparity, low)  # invalid pixels encode as the farthest valid value: 0
    return encode_depth(shifted)  # [H, W, 3] in [0, 1]


def _as_normals(array: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an RGB normal map or an [H, W, 3] array, got shape {list(array.shape)}")
    if np.issubdtype(array.dtype, np.integer):
        valid = array.astype(np.int64).sum(axis=2) > 0  # black = no normal
        normals = array.astype(np.float32) / float(np.iinfo(array.dtype).max) * 2.0 - 1.0
    else:
        normals = np.nan_to_num(array.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
        valid = np.linalg.norm(normals, axis=2) > 0.5
    length = np.linalg.norm(normals, axis=2, keepdims=True)  # [H, W, 1]
    normals = np.where(valid[..., None], normals / np.maximum(length, 1e-6), 0.0).astype(np.float32)
    return normals, valid


def load_sample(
    pair: Pair, encoding: Encoding | str, *, depth_kind: str = "depth", root: Path | None = None
) -> Sample:
    """Read and check one pair; raises ``DataError`` naming the file on any problem."""
    encoding = Encoding(encoding)
    root = root or pair.image_path.parent
    image_name, target_name = _rel(pair.image_path, root), _rel(pair.target_path, root)
    try:
        image = load_rgb(pair.image_path, max_pixels=MAX_INPUT_PIXELS, name=image_name)  # [H, W, 3] uint8
    except ImageInputError as err:
        raise DataError(f"{image_name}: unreadable image ({err})") from None
    height, width = image.shape[:2]
    try:
        if encoding is Encoding.RGB or encoding in (Encoding.INSTANCES, Encoding.POSE):
            target = load_rgb(pair.target_path, max_pixels=MAX_INPUT_PIXELS, name=target_name)
            array = target
        else:
            array = _read_array(pair.target_path)
    except ImageInputError as err:
        raise DataError(f"{target_name}: unreadable target ({err})") from None
    except (OSError, UnidentifiedImageError, ValueError) as err:
        raise DataError(f"{target_name}: unreadable target ({err})") from None
    if array.ndim < 2 or array.shape[:2] != (height, width):
        shape = "x".join(str(s) for s in array.shape[1::-1]) if array.ndim >= 2 else str(list(array.shape))
        raise DataError(f"{target_name}: size {shape} does not match its image {image_name} ({width}x{height}); "
                        "targets must have the image's size")
    candidates = points = None
    try:
        if encoding is Encoding.MASK:
            value = _as_mask(array)  # [H, W] bool
            valid = np.ones_like(value)
            target_rgb = encode_mask(value)
            rows, cols = np.nonzero(value)
            if len(rows):
                step = max(1, math.ceil(len(rows) / _MAX_CANDIDATES))
                candidates = np.stack([(cols[::step] + 0.5) / width, (rows[::step] + 0.5) / height], axis=1)
        elif encoding is Encoding.DEPTH:
            if depth_kind not in DEPTH_KINDS:
                raise DataError(f"depth_kind: {depth_kind!r} is not one of {', '.join(DEPTH_KINDS)}")
            value, valid = _as_disparity(array, depth_kind)
            target_rgb = _encode_disparity(value, valid)
        elif encoding is Encoding.NORMAL:
            value, valid = _as_normals(array)
            target_rgb = encode_normals(value)
        else:
            value = array.astype(np.float32) / 255.0  # [H, W, 3]
            valid = np.ones((height, width), dtype=bool)
            target_rgb = value
    except ValueError as err:
        if isinstance(err, DataError):
            raise
        raise DataError(f"{target_name}: not a usable {encoding.value} target ({err})") from None
    if pair.points is not None:
        try:
            points = normalize_points(pair.points, width, height)  # [K, 2] (x, y) in [0, 1]
        except ValueError as err:
            raise DataError(f"{image_name}: bad points in the manifest ({err})") from None
    return Sample(pair.name, image, target_rgb.astype(np.float32), value, valid, points, candidates, pair)


def load_dataset(
    folder: str | Path,
    encoding: Encoding | str,
    *,
    depth_kind: str = "depth",
    needs_points: bool = False,
) -> list[Sample]:
    """Find, read and check every pair of ``folder``; every problem is reported at once in one ``DataError``."""
    root = Path(folder)
    encoding = Encoding(encoding)
    pairs = find_pairs(root)
    samples: list[Sample] = []
    problems: list[str] = []
    for pair in pairs:
        try:
            sample = load_sample(pair, encoding, depth_kind=depth_kind, root=root)
        except DataError as err:
            problems.append(str(err))
            continue
        if needs_points and sample.points is None and sample.candidates is None:
            problems.append(f"{_rel(pair.target_path, root)}: the mask is empty; point segmentation needs an object "
                            "to click on (or points for this pair in the manifest)")
            continue
        samples.append(sample)
    _raise_problems(root, problems)
    if len(samples) < RECOMMENDED_PAIRS:
        logger.warning("only %d training pairs in %s; the paper adapts from about 50", len(samples), root)
    return samples


def split_validation(n: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """(train indices, held-out indices): ``ceil(fraction * n)`` pairs held out, chosen by ``seed``."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"val_split: {fraction} must lie in [0, 1)")
    n_val = math.ceil(fraction * n) if fraction > 0 else 0
    if n - n_val < 1:
        raise ValueError(f"val_split: {fraction} leaves no training pair out of {n}")
    order = np.random.default_rng(seed).permutation(n).tolist()
    return sorted(order[n_val:]), sorted(order[:n_val])


# ------------------------------------------------------------------------------------------------ example data


def _shape_scene(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A textured background with one random ellipse or rectangle: (image uint8, object mask bool, depth float)."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size  # [S, S] in [0, 1)
    base = rng.uniform(40, 200, size=3)
    stripes = 25 * np.sin(2 * np.pi * (xx * rng.uniform(2, 6) + yy * rng.uniform(2, 6)))[..., None]
    image = np.clip(base + stripes + rng.normal(0, 6, (size, size, 3)), 0, 255)
    cx, cy = rng.uniform(0.3, 0.7, size=2)
    rx, ry = rng.uniform(0.12, 0.28, size=2)
    if rng.random() < 0.5:
        mask = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0
    else:
        mask = (np.abs(xx - cx) <= rx) & (np.abs(yy - cy) <= ry)
    colour = rng.uniform(0, 255, size=3)
    image[mask] = 0.6 * colour + 0.4 * image[mask]
    depth = 2.0 + 3.0 * yy[::-1]  # a floor plane receding upwards, metres
    depth = np.where(mask, 1.0 + 0.3 * (((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2), depth)
    return image.astype(np.uint8), mask, depth.astype(np.float32)


def make_example(folder: str | Path, *, encoding: str = "mask", n: int = 8, size: int = 128, seed: int = 0) -> Path:
    """Write a small synthetic data folder to try fine-tuning end to end: random shapes on striped backgrounds.

    ``mask``: the shape's binary mask (PNG); ``depth``: a 16-bit PNG of depth in millimetres (a receding floor, the
    shape nearer); ``normal``: PNG normals (the shape bulges towards the viewer); ``rgb``: the image with the shape
    highlighted (the rest darkened) -- the paper's "image highlighting" task. Returns the folder.
    """
    if encoding not in TRAINING_ENCODINGS:
        raise ValueError(f"encoding: {encoding!r} is not one of {', '.join(TRAINING_ENCODINGS)}")
    if n < 1 or size < 16:
        raise ValueError(f"n, size: need n >= 1 and size >= 16, got {n}, {size}")
    root = Path(folder)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "targets").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for index in range(n):
        image, mask, depth = _shape_scene(rng, size)
        stem = f"example_{index:03d}"
        Image.fromarray(image).save(root / "images" / f"{stem}.png")
        target_path = root / "targets" / f"{stem}.png"
        if encoding == "mask":
            Image.fromarray(mask.astype(np.uint8) * 255).save(target_path)
        elif encoding == "depth":
            Image.fromarray(np.round(depth * 1000).astype(np.uint16)).save(target_path)
        elif encoding == "normal":
            gy, gx = np.gradient(depth)
            normals = np.stack([gx * size, -gy * size, np.ones_like(depth)], axis=2)  # x right, y up, z to viewer
            normals /= np.linalg.norm(normals, axis=2, keepdims=True)
            Image.fromarray(np.round((normals + 1) / 2 * 255).astype(np.uint8)).save(target_path)
        else:
            highlight = np.where(mask[..., None], image, (image * 0.25).astype(np.uint8))
            Image.fromarray(highlight.astype(np.uint8)).save(target_path)
    (root / "README.md").write_text(
        f"Synthetic example data for `python -m diception_core.finetune` ({n} pairs, {size}x{size}, encoding "
        f"`{encoding}`, seed {seed}); generated by `make-example`, free of licence restrictions.\n",
        encoding="utf-8",
    )
    return root
