"""Validation of prediction-file submissions (models we cannot run), without torch and without ever opening a pickle.

The layout, ``predictions.json``'s keys and the defaults are ``diception_spec.prediction_files``'; the stored folder is
what ``evaluation.predictors.FilesPredictor`` reads. ``predictions.json`` holds no split: only the public splits of
standard benchmarks are scored.

What is checked, before anything is stored (each refusal names the file and says why):

1. Zips: the entry checks of ``leaderboard.validation`` (no absolute paths, no ``..``, no links or special entries,
   no encryption), at most ``max_files`` entries and ``max_bytes`` uncompressed (declared and while streaming). One
   top-level folder is stripped. Folders: no links, no special files.
2. Paths: only the layout's paths and extensions (lower case); pickle-type names (``.npz``, ``.pkl``, ``.pt``, ...)
   refused outright; ids are ``[A-Za-z0-9._-]`` (as ``evaluation.data.format.safe_sample_id`` writes them); one
   file per prediction (not both ``.npy`` and ``.png``).
3. ``predictions.json``: the task is an IDS.md task that prediction files can be scored for (depth, normal,
   point_segmentation), the benchmarks are that task's public benchmark ids, the files are the task's (``depth/``
   for depth, ...), with at least one sample.
4. Contents: ``.npy`` headers are parsed first and object (pickled) dtypes refused before any data is read, then read
   with ``allow_pickle=False``; dtypes and ndim per kind; finite values (no NaN / Inf); masks binary and of one
   shape per sample; PNG modes per kind; at most ``MAX_PIXELS`` pixels per array; the size a benchmark fixes
   (``BenchmarkSpec.prediction_size``: KITTI's 352 x 1216 crop), refused otherwise with the size expected.
"""

from __future__ import annotations

import functools
import io
import math
import os
import re
import stat
import tokenize
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, ParamSpec, TypeVar

import numpy as np

from diception_spec.benchmarks import benchmark_order, get_benchmark
from diception_spec.normals import NormalFrame
from diception_spec.prediction_files import (
    CARD_FILE,
    DEFAULT_DEPTH_KIND,
    DEFAULT_DEPTH_SCALE,
    DEFAULT_NORMAL_FRAME,
    DEPTH_KINDS,
    FOLDER_SUFFIXES,
    FORMAT_VERSION,
    LAYOUT,
    METADATA_KEYS,
    PREDICTIONS_FILE,
    TASK_FOLDERS,
    PredictionsRefused,
)
from diception_spec.tasks import Task
from leaderboard import validation as _v

MAX_PREDICTION_BYTES = 2_000_000_000  # all files together, uncompressed
MAX_PREDICTION_FILES = 250_000  # SA-23 has ~190k ground-truth masks
MAX_PIXELS = 50_000_000  # per array / image
MAX_ID_CHARS = 200
FLOAT_DTYPES: tuple[str, ...] = ("float16", "float32", "float64")

_ID = re.compile(r"[A-Za-z0-9-](?:[A-Za-z0-9._-]*[A-Za-z0-9-])?")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_NPY_MAGIC = b"\x93NUMPY"
_PICKLE_SUFFIXES = tuple(s for s in _v.PICKLE_SUFFIXES if s != ".npy")
_SCAN_ELEMENTS = 4 * 1024 * 1024
P = ParamSpec("P")
R = TypeVar("R")


def _refuse(file: str, reason: str) -> PredictionsRefused:
    return PredictionsRefused(f"{file}: {reason}")


@dataclass(frozen=True)
class ValidatedPredictions:
    """A prediction folder that passed every check; ``metadata()`` is what the store keeps."""

    root: Path
    content_hash: str  # sha256 hex over the files (relative path, size, bytes) in path order
    task: str
    benchmarks: tuple[str, ...]
    depth_kind: str | None
    depth_scale: float | None
    normal_frame: str | None
    num_samples: int
    num_files: int  # prediction files (predictions.json and README.md not counted)
    total_bytes: int
    dtypes: tuple[str, ...]  # of the .npy files, and "png" when there are PNGs
    model_card: str = field(repr=False, default="")

    def predictor_options(self) -> dict[str, Any]:
        """The keyword arguments ``evaluation.predictors.FilesPredictor`` needs besides the folder."""
        return predictor_options(asdict(self))

    def metadata(self) -> dict[str, Any]:
        """JSON-able description (no path) for the store and the detail view."""
        data = asdict(self)
        data.pop("root")
        data["predictor_options"] = self.predictor_options()
        return data


def predictor_options(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """``FilesPredictor`` keyword arguments from a stored submission's metadata (or ``predictions.json``):
    ``depth_kind``, ``depth_scale`` and ``normal_frame``, FilesPredictor's defaults where absent."""
    return {
        "depth_kind": metadata.get("depth_kind") or DEFAULT_DEPTH_KIND,
        "depth_scale": float(metadata.get("depth_scale") or DEFAULT_DEPTH_SCALE),
        "normal_frame": metadata.get("normal_frame") or DEFAULT_NORMAL_FRAME.value,
    }


# --------------------------------------------------------------------------------------------- paths


def classify_path(parts: Sequence[str]) -> tuple[str, str, str | None]:
    """(kind, sample_id, mask_id) of a relative path given as its parts; kind is ``predictions.json``,
    ``README.md`` or a layout folder (``depth``, ``normal``, ``masks``). Refuses any other path."""
    name = "/".join(parts)
    label = _v._short(name)
    if any(name.lower().endswith(s) for s in _PICKLE_SUFFIXES):
        raise _refuse(label, "pickle-type files are refused outright; predictions are .npy (no pickle) or .png")
    if len(parts) == 1 and parts[0] in (PREDICTIONS_FILE, CARD_FILE):
        return parts[0], "", None
    folder = parts[0] if parts else ""
    expected_depth = {"depth": 2, "normal": 2, "masks": 3}.get(folder)
    if expected_depth is None or len(parts) != expected_depth:
        raise _refuse(label, f"unexpected path; a prediction upload holds only {LAYOUT}")
    stem, dot, suffix = parts[-1].rpartition(".")
    suffix = dot + suffix
    if not dot or suffix not in FOLDER_SUFFIXES[folder]:
        allowed = " or ".join(FOLDER_SUFFIXES[folder])
        raise _refuse(label, f"files in {folder}/ must end in {allowed} (lower case)")
    ids = [*parts[1:-1], stem]
    for value in ids:
        if len(value) > MAX_ID_CHARS or not _ID.fullmatch(value):
            raise _refuse(label, f"{_v._short(value, 40)!r} is not a sample / mask id (letters, digits, . _ -)")
    return folder, ids[0], ids[1] if folder == "masks" else None


def _check_unique(paths: Sequence[Sequence[str]]) -> None:
    seen: dict[tuple[str, ...], str] = {}
    lowered: set[str] = set()
    for parts in paths:
        name = "/".join(parts)
        if name.lower() in lowered:
            raise _refuse(_v._short(name), "appears twice (names differ only in case, or a duplicate entry)")
        lowered.add(name.lower())
        if len(parts) > 1:
            key = (*parts[:-1], parts[-1].rpartition(".")[0])
            if key in seen:
                raise _refuse(_v._short(name), f"and {seen[key]} are the same prediction; give one file")
            seen[key] = name


def _list_folder(root: Path, max_files: int) -> dict[str, Path]:
    """``{relative posix path: path}`` of every file under ``root``; refuses links and special files."""
    if root.is_symlink() or not root.is_dir():
        raise PredictionsRefused(f"{root.name}: not a folder")
    files: dict[str, Path] = {}
    pending = [(root, ())]
    while pending:
        folder, prefix = pending.pop()
        for entry in os.scandir(folder):
            parts = (*prefix, entry.name)
            label = _v._short("/".join(parts))
            if entry.name in _v.IGNORED_ZIP_ENTRIES:
                continue
            if entry.is_symlink():
                raise _refuse(label, "links are refused")
            if entry.is_dir(follow_symlinks=False):
                pending.append((Path(entry.path), parts))
            elif entry.is_file(follow_symlinks=False):
                files["/".join(parts)] = Path(entry.path)
                if len(files) > max_files:
                    raise PredictionsRefused(f"more than {max_files:,} files; at most {max_files:,}")
            else:
                raise _refuse(label, "not a regular file")
    return dict(sorted(files.items()))


# --------------------------------------------------------------------------------------------- file contents


def _read_npy_header(path: Path, label: str) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, data offset) from the header alone; no data (and so no pickle) is read."""
    with path.open("rb") as fh:
        head = fh.read(8)
        why = _v.sniff_pickle(head)
        if why:
            raise _refuse(label, f"{why}; pickle files are never opened")
        if not head.startswith(_NPY_MAGIC):
            raise _refuse(label, "is not a .npy file (no NUMPY magic); save it with numpy.save")
        fh.seek(0)
        try:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                raise _refuse(label, f".npy format version {version} is not accepted (1.0 or 2.0)")
        except PredictionsRefused:
            raise
        # numpy evaluates the header as a Python literal: a hostile one fails in the tokenizer or the parser.
        except (ValueError, SyntaxError, tokenize.TokenError, TypeError, RecursionError, MemoryError, OverflowError,
                EOFError) as exc:
            raise _refuse(label, f"unreadable .npy header ({_v._short(str(exc), 80)})") from None
        offset = fh.tell()
    return tuple(int(d) for d in shape), dtype, offset


def _check_pixels(label: str, shape: tuple[int, ...]) -> None:
    if any(d == 0 for d in shape):
        raise _refuse(label, f"is empty (shape {list(shape)})")
    if shape[0] * shape[1] > MAX_PIXELS:
        raise _refuse(label, f"has {shape[0] * shape[1]:,} pixels; at most {MAX_PIXELS:,}")


def _chunks(array: np.ndarray) -> Iterator[np.ndarray]:
    rows = max(1, _SCAN_ELEMENTS // max(1, math.prod(array.shape[1:])))
    for start in range(0, array.shape[0], rows):
        yield np.asarray(array[start : start + rows])


def _check_finite(label: str, array: np.ndarray) -> None:
    for chunk in _chunks(array):
        if not np.isfinite(chunk).all():
            nan, inf = int(np.isnan(chunk).sum()), int(np.isinf(chunk).sum())
            raise _refuse(label, f"holds non-finite values ({nan} NaN, {inf} Inf in one block); all must be finite")


def _check_binary(label: str, array: np.ndarray) -> None:
    if array.dtype == np.bool_:
        return
    values: set[float] = set()
    for chunk in _chunks(array):
        values.update(np.unique(chunk).tolist())
        if len(values) > 2:
            break
    allowed = ({0, 1}, {0, 255}) if array.dtype == np.uint8 else ({0, 1},)
    if not any(values <= a for a in allowed):
        shown = sorted(values)[:5]
        want = " or ".join("{" + ", ".join(map(str, sorted(a))) + "}" for a in allowed)
        raise _refuse(label, f"is not a binary mask (values include {shown}); values must be {want}")


def _check_npy(path: Path, label: str, folder: str) -> tuple[tuple[int, ...], str]:
    shape, dtype, offset = _read_npy_header(path, label)
    if dtype.hasobject:
        raise _refuse(label, "holds Python objects (object dtype, a pickle); save a numeric array")
    if folder == "masks":
        if dtype.name not in ("bool", "uint8", *FLOAT_DTYPES):
            raise _refuse(label, f"dtype {dtype.name}; masks are bool, uint8 or float16/32/64")
    elif dtype.name not in FLOAT_DTYPES:
        raise _refuse(label, f"dtype {dtype.name}; {folder} predictions are float16, float32 or float64")
    want = {"depth": "[H, W]", "normal": "[H, W, 3]", "masks": "[H, W]"}[folder]
    if (folder == "normal" and (len(shape) != 3 or shape[2] != 3)) or (folder != "normal" and len(shape) != 2):
        raise _refuse(label, f"shape {list(shape)} (ndim {len(shape)}); expected {want}")
    _check_pixels(label, shape)
    if path.stat().st_size != offset + math.prod(shape) * dtype.itemsize:
        raise _refuse(label, f"is truncated or has trailing bytes (shape {list(shape)}, dtype {dtype.name})")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise _refuse(label, f"unreadable .npy ({exc})") from None
    if dtype.kind == "f":
        _check_finite(label, array)
    if folder == "masks":
        _check_binary(label, array)
    del array  # release the memory map before the folder is moved
    return shape, dtype.name


def _check_png(path: Path, label: str, folder: str) -> tuple[int, ...]:
    from PIL import Image

    with path.open("rb") as fh:
        head = fh.read(8)
    if head != _PNG_SIGNATURE:
        why = _v.sniff_pickle(head)
        raise _refuse(label, f"{why}; pickle files are never opened" if why else "is not a PNG file")
    modes = {"depth": ("I;16", "I;16B", "I;16L", "I"), "masks": ("1", "L")}[folder]
    try:
        with Image.open(path) as img:
            if img.format != "PNG":
                raise _refuse(label, "is not a PNG file")
            _check_pixels(label, (img.height, img.width))
            if img.mode not in modes:
                want = "16-bit grayscale" if folder == "depth" else "1-bit or 8-bit grayscale"
                noun = "depth" if folder == "depth" else "mask"
                raise _refuse(label, f"PNG mode {img.mode!r}; {noun} PNGs must be {want}")
            array = np.asarray(img)
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        if isinstance(exc, PredictionsRefused):
            raise
        raise _refuse(label, f"unreadable PNG ({exc})") from None
    if folder == "masks":
        _check_binary(label, array)
    return tuple(array.shape)


# --------------------------------------------------------------------------------------------- predictions.json


def _check_metadata(meta: Mapping[str, Any]) -> dict[str, Any]:
    f = PREDICTIONS_FILE
    unknown = [k for k in meta if k not in METADATA_KEYS]
    if any("split" in str(k).lower() for k in unknown):
        raise _refuse(f, "splits cannot be chosen; predictions are scored on the public split of each benchmark")
    if unknown:
        raise _refuse(f, f"unknown key {_v._short(str(unknown[0]), 40)!r}; allowed: {', '.join(METADATA_KEYS)}")
    if meta.get("format_version") != FORMAT_VERSION:
        raise _refuse(f, f"format_version must be {FORMAT_VERSION}, got {meta.get('format_version')!r}")
    task = meta.get("task")
    known = [t.value for t in Task]
    if task not in known:
        raise _refuse(f, f"task {_v._short(str(task), 60)!r} is not a task id; known: {', '.join(known)}")
    if Task(task) not in TASK_FOLDERS:
        scorable = ", ".join(t.value for t in TASK_FOLDERS)
        raise _refuse(f, f"prediction files can be scored for {scorable} only, not {task}")
    benchmarks = _str_list(meta.get("benchmarks"))
    if not benchmarks:
        raise _refuse(f, "benchmarks must be a non-empty list of benchmark ids")
    check_benchmarks(task, benchmarks, file=f)
    out: dict[str, Any] = {"task": task, "benchmarks": benchmarks, "depth_kind": None, "depth_scale": None,
                           "normal_frame": None}  # fmt: skip
    if task != "depth":
        for key in ("depth_kind", "depth_scale"):
            if key in meta:
                raise _refuse(f, f"{key} is only for depth predictions (task is {task})")
    if task != "normal" and "normal_frame" in meta:
        raise _refuse(f, f"normal_frame is only for normal predictions (task is {task})")
    if task == "depth":
        kind = meta.get("depth_kind")
        if kind not in DEPTH_KINDS:
            raise _refuse(f, f"depth_kind must be 'disparity' (1 = near) or 'depth', got {_v._short(str(kind), 40)!r}")
        scale = meta.get("depth_scale", DEFAULT_DEPTH_SCALE)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
            raise _refuse(f, f"depth_scale must be a positive number, got {_v._short(str(scale), 40)!r}")
        out.update(depth_kind=kind, depth_scale=float(scale))
    if task == "normal":
        frame = meta.get("normal_frame", DEFAULT_NORMAL_FRAME.value)
        try:
            out["normal_frame"] = NormalFrame.parse(frame if isinstance(frame, str) else repr(frame)).value
        except ValueError:
            known = ", ".join(f.value for f in NormalFrame)
            raise _refuse(f, f"normal_frame {_v._short(str(frame), 40)!r} is unknown; known: {known} (or an "
                             "alias: marigold, opengl, dsine, opencv)") from None
    return out


def _str_list(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _refuse(PREDICTIONS_FILE, "benchmarks must be a list of strings")
    return tuple(dict.fromkeys(v.strip() for v in value))


def check_benchmarks(task: str, benchmarks: Sequence[str], *, file: str = "benchmarks") -> None:
    """Refuse anything but ``task``'s public benchmark ids (IDS.md); a split or a custom set is never accepted."""
    allowed = benchmark_order(task) if task in {t.value for t in Task} else ()
    for b in benchmarks:
        if b in allowed:
            continue
        shown = _v._short(str(b), 60)
        if any(sep in b for sep in (":", "/", "@")) or "split" in b.lower() or "train" in b.lower():
            why = f"{shown!r} names a split; only the public split of each standard benchmark is scored"
        else:
            why = f"{shown!r} is not a public {task} benchmark"
        raise _refuse(file, f"{why}; allowed: {', '.join(allowed)}")


def expected_size(task: str, benchmarks: Sequence[str], *, file: str = PREDICTIONS_FILE) -> tuple[int, int] | None:
    """The (height, width) every prediction of an upload must have: a benchmark's fixed ``prediction_size`` (KITTI's
    352 x 1216 crop), or ``None`` (each prediction has its sample's image size, which only scoring can check).

    An upload covering a fixed-size benchmark together with benchmarks of another size is refused: its files could
    not be told apart (sample ids are not tagged with their benchmark).
    """
    sizes = {b: get_benchmark(task, b).prediction_size for b in benchmarks}
    fixed = {b: s for b, s in sizes.items() if s is not None}
    if not fixed:
        return None
    if len(set(sizes.values())) > 1:
        b, (h, w) = next(iter(fixed.items()))
        others = ", ".join(x for x in benchmarks if sizes[x] != (h, w))
        raise _refuse(file, f"{b} predictions have a fixed size ({h} x {w}, the benchmark's crop) and {others} "
                            "predictions the size of each image; submit them as separate uploads")  # fmt: skip
    return next(iter(fixed.values()))


# --------------------------------------------------------------------------------------------- entry points


def _wrapped(fn: Callable[P, R]) -> Callable[P, R]:
    """Re-raise the shared helpers' ``AdapterRefused`` as ``PredictionsRefused`` (same message)."""

    @functools.wraps(fn)
    def inner(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except _v.AdapterRefused as exc:
            raise PredictionsRefused(str(exc)) from None

    return inner


@_wrapped
def validate_predictions_folder(
    path: str | Path, *, max_bytes: int = MAX_PREDICTION_BYTES, max_files: int = MAX_PREDICTION_FILES
) -> ValidatedPredictions:
    """Validate a prediction folder in place (see the module docstring for every check).

    Raises:
        PredictionsRefused: the folder breaks the format (the message says which file and why).
    """
    root = Path(path)
    files = _list_folder(root, max_files)
    if not files:
        raise PredictionsRefused("the upload is empty; it needs predictions.json and the prediction files")
    parts = {name: name.split("/") for name in files}
    kinds = {name: classify_path(p) for name, p in parts.items()}
    _check_unique(list(parts.values()))
    total = sum(p.stat().st_size for p in files.values())
    if total > max_bytes:
        raise PredictionsRefused(f"the files total {total:,} bytes; the limit is {max_bytes:,}")
    if PREDICTIONS_FILE not in files:
        raise PredictionsRefused(f"missing {PREDICTIONS_FILE} (format_version, task, benchmarks; see the format)")
    raw = _v._read_small(PREDICTIONS_FILE, files[PREDICTIONS_FILE], _v.MAX_JSON_BYTES)
    meta = _check_metadata(_v._json_object(PREDICTIONS_FILE, raw))
    card = ""
    if CARD_FILE in files:
        try:
            card = _v._read_small(CARD_FILE, files[CARD_FILE], _v.MAX_README_BYTES).decode("utf-8")
        except UnicodeDecodeError:
            raise _refuse(CARD_FILE, "is not UTF-8 text") from None

    task, folder = meta["task"], TASK_FOLDERS[Task(meta["task"])]
    predictions = {name: k for name, k in kinds.items() if k[0] not in (PREDICTIONS_FILE, CARD_FILE)}
    for name, (kind, _, _) in predictions.items():
        if kind != folder:
            raise _refuse(_v._short(name), f"{kind}/ files do not belong to a {task} submission (only {folder}/)")
    if not predictions:
        raise PredictionsRefused(f"no prediction files: a {task} submission needs at least one file in {folder}/")

    size = expected_size(task, meta["benchmarks"])
    dtypes: set[str] = set()
    mask_shapes: dict[str, tuple[int, ...]] = {}
    for name, (kind, sample_id, _) in predictions.items():
        label = _v._short(name)
        if name.endswith(".npy"):
            shape, dtype = _check_npy(files[name], label, kind)
            dtypes.add(dtype)
        else:
            shape = _check_png(files[name], label, kind)
            dtypes.add("png")
        if size is not None and tuple(shape[:2]) != size:
            raise _refuse(label, f"is {shape[0]} x {shape[1]} (height x width); {', '.join(meta['benchmarks'])} "
                                 f"predictions must be {size[0]} x {size[1]} (the benchmark's crop)")  # fmt: skip
        if kind == "masks":
            first = mask_shapes.setdefault(sample_id, shape[:2])
            if shape[:2] != first:
                raise _refuse(label, f"is {list(shape[:2])} but other masks of {sample_id} are {list(first)}")

    return ValidatedPredictions(
        root=root,
        content_hash=_v._content_hash(files),
        task=task,
        benchmarks=meta["benchmarks"],
        depth_kind=meta["depth_kind"],
        depth_scale=meta["depth_scale"],
        normal_frame=meta["normal_frame"],
        num_samples=len({sample for _, sample, _ in predictions.values()}),
        num_files=len(predictions),
        total_bytes=total,
        dtypes=tuple(sorted(dtypes)),
        model_card=card,
    )


@_wrapped
def extract_predictions_zip(
    zip_file: str | Path | IO[bytes],
    dest_dir: str | Path,
    *,
    max_bytes: int = MAX_PREDICTION_BYTES,
    max_files: int = MAX_PREDICTION_FILES,
) -> Path:
    """Check a zip's entries (``leaderboard.validation``'s entry checks plus the layout's paths) and extract them
    into the empty ``dest_dir``; returns it. Contents are checked by ``validate_predictions_folder``.

    Raises:
        PredictionsRefused: a bad entry (absolute path, ``..``, link, special file, encrypted, duplicate, a path
            outside the layout, too many, too large when expanded).
        ValueError: ``dest_dir`` is not empty (a caller error).
    """
    if isinstance(zip_file, (str, Path)):
        with Path(zip_file).open("rb") as fh:
            why = _v.sniff_pickle(fh.read(8))
        if why and "zip" not in why:
            raise PredictionsRefused(f"{Path(zip_file).name}: {why}; upload a .zip of the prediction folder")
    dest = _v._prepare_dest(dest_dir)
    with _v.open_zip(zip_file) as archive:
        infos = archive.infolist()
        if len(infos) > max_files:
            raise PredictionsRefused(f"the zip has {len(infos):,} entries; at most {max_files:,}")
        members: list[tuple[list[str], zipfile.ZipInfo]] = []
        for info in infos:
            parts = _v._zip_member_name(info)
            if parts and not info.is_dir():
                members.append((parts, info))
        if not members:
            raise PredictionsRefused("the zip is empty; it needs predictions.json and the prediction files")
        tops = {parts[0] for parts, _ in members}
        layout_tops = {PREDICTIONS_FILE, CARD_FILE, *FOLDER_SUFFIXES}
        strip = 1 if len(tops) == 1 and not tops & layout_tops and all(len(p) > 1 for p, _ in members) else 0
        chosen = [(parts[strip:], info) for parts, info in members]
        for rel, _ in chosen:
            classify_path(rel)
        _check_unique([rel for rel, _ in chosen])
        declared = sum(info.file_size for _, info in chosen)
        if declared > max_bytes:
            raise PredictionsRefused(f"the zip expands to {declared:,} bytes; the limit is {max_bytes:,}")
        budget = max_bytes
        for rel, info in chosen:
            target = dest.joinpath(*rel)
            target.parent.mkdir(parents=True, exist_ok=True)
            chunks = _v.zip_chunks(archive, info, "/".join(rel))
            budget -= _v._write_new(target, chunks, limit=min(budget, info.file_size), name="/".join(rel))
    return dest


@_wrapped
def validate_predictions_upload(
    paths: Sequence[str | Path] | str | Path,
    dest_dir: str | Path,
    *,
    max_bytes: int = MAX_PREDICTION_BYTES,
    max_files: int = MAX_PREDICTION_FILES,
) -> ValidatedPredictions:
    """Validate an upload, one ``.zip`` or one folder: its files are extracted or copied (never linked) into the
    empty ``dest_dir`` and validated there; ``dest_dir`` is then the folder ``FilesPredictor`` reads.

    Raises:
        PredictionsRefused: the upload breaks the format (the message says which file and why).
    """
    items = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    if not items:
        raise PredictionsRefused("nothing was uploaded")
    if len(items) != 1:
        raise PredictionsRefused(f"upload one .zip (or one folder) of prediction files, not {len(items)} files")
    item = items[0]
    if not item.exists() and not item.is_symlink():
        raise _refuse(item.name, "was not found; upload it again")
    if item.is_symlink():
        raise _refuse(item.name, "links are refused")
    if item.is_dir():
        files = _list_folder(item, max_files)
        parts = [name.split("/") for name in files]
        for p in parts:
            classify_path(p)
        _check_unique(parts)
        total = sum(p.stat().st_size for p in files.values())
        if total > max_bytes:
            raise PredictionsRefused(f"the files total {total:,} bytes; the limit is {max_bytes:,}")
        dest = _v._prepare_dest(dest_dir)
        for name, src in files.items():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with src.open("rb") as fh:
                _v._write_new(target, iter(lambda fh=fh: fh.read(1 << 20), b""), limit=max_bytes, name=name)
    elif item.suffix.lower() == ".zip" and stat.S_ISREG(item.stat().st_mode):
        dest = extract_predictions_zip(item, dest_dir, max_bytes=max_bytes, max_files=max_files)
    else:
        raise _refuse(item.name, "upload a .zip of the prediction folder")
    return validate_predictions_folder(dest, max_bytes=max_bytes, max_files=max_files)


def validate_predictions_bytes(
    data: bytes, dest_dir: str | Path, *, max_bytes: int = MAX_PREDICTION_BYTES, max_files: int = MAX_PREDICTION_FILES
) -> ValidatedPredictions:
    """Validate a zip given as bytes (extracted into the empty ``dest_dir``)."""
    dest = extract_predictions_zip(io.BytesIO(data), dest_dir, max_bytes=max_bytes, max_files=max_files)
    return validate_predictions_folder(dest, max_bytes=max_bytes, max_files=max_files)


__all__ = [
    "DEPTH_KINDS",
    "FORMAT_VERSION",
    "PREDICTIONS_FILE",
    "TASK_FOLDERS",
    "PredictionsRefused",
    "ValidatedPredictions",
    "check_benchmarks",
    "classify_path",
    "expected_size",
    "extract_predictions_zip",
    "predictor_options",
    "validate_predictions_bytes",
    "validate_predictions_folder",
    "validate_predictions_upload",
]
