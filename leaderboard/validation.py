"""Validation of submitted LoRA adapters (``../shared/reference/ADAPTER_FORMAT.md``), without torch and without ever
opening a pickle.

What is checked, in order, before anything is stored:

1. Files: only the names of the format are read (``adapter_config.json``, ``adapter_model.safetensors``,
   ``diception_task.json``, optional ``task_embedding.safetensors`` and ``README.md``). Pickle-like names
   (``.bin``, ``.pt``, ``.pth``, ``.ckpt``, ``.pkl``, ...) are refused outright; any other unknown file, sub-folder
   or link is refused too (refusing is safer than silently ignoring what a submitter may think is used). Every
   file's first bytes are sniffed: pickle and zip (``torch.save``) signatures are refused whatever the name.
   All files together at most 300 MB.
2. Zips (uploads): entry names with absolute paths, drive letters or ``..`` components, symlinks or other special
   entries (``external_attr``), encrypted entries, duplicates, more than 32 entries or more than 300 MB
   uncompressed (declared, and enforced again while streaming: zip bombs) are refused. A single top-level folder
   is allowed and stripped; ``__MACOSX/`` and ``.DS_Store`` entries are skipped (never extracted).
3. ``adapter_config.json``: peft ``LORA``, ``r`` <= 128, ``target_modules`` within the attention projections,
   no DoRA, no ``modules_to_save``, no LoRA bias.
4. ``adapter_model.safetensors``: the header is parsed here (8-byte little-endian length + JSON; the tensors must
   tile the data region exactly); dtypes F32 / F16 / BF16 only; every key is
   ``base_model.model.transformer_blocks.<i>.attn.<proj>.lora_{A,B}.weight`` for a module the DICEPTION
   transformer has (the last block is ``context_pre_only``: no ``to_add_out``), ``lora_A`` is ``[r, in]`` and
   ``lora_B`` is ``[out, r]`` with the shapes of that module, both halves present, ``r`` <= 128; no NaN / Inf
   (bit tests on the raw bytes, bf16 included).
5. ``diception_task.json``: format version 1, base model id and revision equal to the served model's, a known task
   or a ``new_task`` (name, prompt, encoding mask|depth|normal|rgb), a non-empty ``benchmarks`` list.
6. The content hash: sha256 over the files in name order (name, size, bytes), so the store can refuse duplicates.

Every refusal raises ``AdapterRefused`` with a message saying which file and exactly why.
"""

from __future__ import annotations

import io
import math
import os
import re
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from diception_spec.adapter_format import (
    ADAPTER_FILES,
    ALLOWED_PROJECTIONS,
    CARD_FILE,
    CONFIG_FILE,
    CONTEXT_OUTPUT_PROJECTION,
    CONTEXT_PROJECTIONS,
    EMBEDDING_FILE,
    IMAGE_PROJECTIONS,
    MAX_LIST_ITEMS,
    MAX_RANK,
    MAX_TASK_FILE_BYTES,
    MAX_TOTAL_BYTES,
    REQUIRED_FILES,
    SD3_MEDIUM_TRANSFORMER_CONFIG,
    TASK_FILE,
    WEIGHT_KEY_PREFIX,
    WEIGHTS_FILE,
    AdapterRefused,
    AdapterTask,
    parse_task_file,
)
from diception_spec.adapter_format import content_hash as _content_hash  # also prediction_files' file sets
from diception_spec.benchmarks import USER_SPLIT_PREFIX, benchmark_order
from diception_spec.json_input import parse_json_object

MAX_JSON_BYTES = MAX_TASK_FILE_BYTES  # adapter_config.json and diception_task.json
MAX_README_BYTES = 1_000_000
MAX_HEADER_BYTES = 16_000_000  # a safetensors JSON header; rank-128 adapters of the full model need ~100 kB
MAX_ZIP_ENTRIES = 32
MAX_EMBED_TOKENS = 1024
SCAN_CHUNK_ELEMENTS = 4 * 1024 * 1024

# Names that are (or usually hold) pickles: refused before anything is read.
PICKLE_SUFFIXES: tuple[str, ...] = (
    ".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib", ".dill", ".npy", ".npz", ".mar", ".pb", ".h5",
    ".keras", ".tar",
)  # fmt: skip
IGNORED_ZIP_ENTRIES: tuple[str, ...] = ("__MACOSX", ".DS_Store")

DTYPE_SIZES: Mapping[str, int] = {"F32": 4, "F16": 2, "BF16": 2}  # bytes per element of WEIGHT_DTYPES
# (unsigned view, exponent mask, mantissa mask): a value is NaN / Inf exactly when its exponent bits are all ones.
_FLOAT_BITS: Mapping[str, tuple[str, int, int]] = {
    "F32": ("<u4", 0x7F800000, 0x007FFFFF),
    "F16": ("<u2", 0x7C00, 0x03FF),
    "BF16": ("<u2", 0x7F80, 0x007F),
}
_PROJECTION = "|".join(re.escape(p) for p in ALLOWED_PROJECTIONS)
_KEY = re.compile(
    re.escape(WEIGHT_KEY_PREFIX) + r"\.transformer_blocks\.(?P<block>0|[1-9]\d{0,3})\.attn\."
    rf"(?P<proj>{_PROJECTION})\.lora_(?P<half>[AB])\.weight"
)
_TARGET = re.compile(rf"(?:transformer_blocks\.\d+\.attn\.)?(?P<proj>{_PROJECTION})")
_BENCHMARK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:/\-]{0,99}")


# --------------------------------------------------------------------------------------------- the transformer


def expected_modules(transformer_config: Mapping[str, Any]) -> dict[str, tuple[int, int]]:
    """``{"transformer_blocks.<i>.attn.<proj>": (in_features, out_features)}`` for every LoRA-able projection.

    Every block's attention has ``to_q/k/v`` and ``to_out.0`` (inner -> inner, inner = heads x head_dim) and the
    context projections ``add_q/k/v_proj`` (caption_projection_dim -> inner); ``to_add_out`` (inner ->
    caption_projection_dim) exists in all blocks but the last, which is ``context_pre_only``.

    Raises:
        ValueError: a missing or non-positive config value (a server configuration error, not a refusal).
    """

    def positive(key: str) -> int:
        value = transformer_config.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"transformer_config[{key!r}] must be a positive int, got {value!r}")
        return value

    layers = positive("num_layers")
    inner = positive("num_attention_heads") * positive("attention_head_dim")
    context = transformer_config.get("caption_projection_dim") or inner
    modules: dict[str, tuple[int, int]] = {}
    for i in range(layers):
        prefix = f"transformer_blocks.{i}.attn."
        for proj in IMAGE_PROJECTIONS:
            modules[prefix + proj] = (inner, inner)
        for proj in CONTEXT_PROJECTIONS:
            modules[prefix + proj] = (context, inner)
        if i < layers - 1:
            modules[prefix + CONTEXT_OUTPUT_PROJECTION] = (inner, context)
    return modules


# --------------------------------------------------------------------------------------------- the result


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype: str
    shape: tuple[int, ...]
    begin: int  # byte offsets in the data region
    end: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class ValidatedAdapter:
    """An adapter folder that passed every check; ``metadata()`` is what the store keeps."""

    root: Path
    content_hash: str  # sha256 hex over the files (name, size, bytes) in name order
    files: tuple[str, ...]
    total_bytes: int
    base_model_id: str
    base_revision: str
    task: str | None  # a task id, or None for a new task
    new_task: Mapping[str, str] | None
    benchmarks: tuple[str, ...]
    training_data: str
    trained_on_benchmarks: tuple[str, ...]
    licence: str
    rank: int  # the largest rank
    ranks: tuple[int, ...]
    target_modules: tuple[str, ...]  # projections with weights, e.g. ("to_k", "to_q", "to_v")
    blocks: tuple[int, ...]
    dtypes: tuple[str, ...]
    num_parameters: int
    lora_alpha: float | None
    has_task_embedding: bool
    model_card: str = field(repr=False, default="")

    @property
    def task_name(self) -> str:
        """The task id, or the new task's name."""
        return self.task if self.task else str((self.new_task or {}).get("name", ""))

    def metadata(self) -> dict[str, Any]:
        """JSON-able description (no path) for the store and the detail view."""
        data = asdict(self)
        data.pop("root")
        data["new_task"] = dict(self.new_task) if self.new_task else None
        return data


# --------------------------------------------------------------------------------------------- small helpers


def _refuse(file: str, reason: str) -> AdapterRefused:
    return AdapterRefused(f"{file}: {reason}")


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def sniff_pickle(head: bytes) -> str | None:
    """Why ``head`` (a file's first bytes) looks like a pickle or a torch zip archive, else None."""
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return f"starts with a pickle protocol {head[1]} header"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "is a zip archive (the torch.save format holds a pickle)"
    return None


def _json_object(file: str, raw: bytes) -> dict[str, Any]:
    return parse_json_object(raw, name=file, refusal=AdapterRefused)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _str_list(file: str, key: str, value: Any, *, pattern: re.Pattern[str] | None = None) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _refuse(file, f"{key} must be a list of strings")
    if len(value) > MAX_LIST_ITEMS:
        raise _refuse(file, f"{key} has {len(value)} entries; at most {MAX_LIST_ITEMS}")
    if pattern is not None:
        bad = [v for v in value if not pattern.fullmatch(v)]
        if bad:
            raise _refuse(file, f"{key}: {_short(bad[0])!r} is not a benchmark id (letters, digits, _ . : / -)")
    return tuple(dict.fromkeys(value))


# --------------------------------------------------------------------------------------------- safetensors


def read_safetensors_header(path: str | Path, *, file: str | None = None) -> tuple[dict[str, TensorInfo], int]:
    """Parse a safetensors header without any library: ``({name: TensorInfo}, data_start)``.

    Refuses (``AdapterRefused``) pickles and zips whatever their name, truncated files, over-long or non-JSON
    headers, dtypes other than F32 / F16 / BF16, offsets that do not match the shape, and data regions that are
    not tiled exactly (gaps, overlaps, trailing bytes).
    """
    path = Path(path)
    file = file or path.name
    size = path.stat().st_size
    with path.open("rb") as fh:
        head = fh.read(8)
        why = sniff_pickle(head)
        if why:
            raise _refuse(file, f"{why}, not safetensors; pickle files are never opened")
        if len(head) < 8:
            raise _refuse(file, "is not a valid safetensors file (shorter than its 8-byte header length)")
        header_len = int.from_bytes(head, "little")
        if header_len < 2 or header_len > MAX_HEADER_BYTES or 8 + header_len > size:
            raise _refuse(file, f"is not a valid safetensors file (header length {header_len} for a {size}-byte file)")
        raw = fh.read(header_len)
    if not raw.lstrip().startswith(b"{"):
        raise _refuse(file, "is not a valid safetensors file (the header is not a JSON object)")
    header = _json_object(file, raw.rstrip(b" "))
    data_start, data_len = 8 + header_len, size - 8 - header_len

    metadata = header.pop("__metadata__", None)
    if metadata is not None and not (
        isinstance(metadata, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    ):
        raise _refuse(file, "__metadata__ must map strings to strings")
    tensors: dict[str, TensorInfo] = {}
    for name, spec in header.items():
        label = _short(name)
        if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "data_offsets"}:
            raise _refuse(file, f"tensor {label!r}: entry must have exactly dtype, shape and data_offsets")
        dtype, shape, offsets = spec["dtype"], spec["shape"], spec["data_offsets"]
        if dtype not in DTYPE_SIZES:
            raise _refuse(file, f"tensor {label!r} has dtype {dtype!r}; allowed: {', '.join(DTYPE_SIZES)}")
        if not isinstance(shape, list) or not all(_is_int(d) and d >= 0 for d in shape):
            raise _refuse(file, f"tensor {label!r}: shape must be a list of non-negative integers")
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(_is_int(o) for o in offsets)):
            raise _refuse(file, f"tensor {label!r}: data_offsets must be two integers")
        begin, end = offsets
        nbytes = math.prod(shape) * DTYPE_SIZES[dtype]
        if not (0 <= begin <= end <= data_len) or end - begin != nbytes:
            raise _refuse(file, f"tensor {label!r}: data_offsets {offsets} do not hold {shape} {dtype} in the file")
        tensors[name] = TensorInfo(name, dtype, tuple(shape), begin, end)
    position = 0
    for info in sorted(tensors.values(), key=lambda t: (t.begin, t.end)):
        if info.begin != position:
            where = f"byte {position} (tensor {_short(info.name)!r})"
            raise _refuse(file, f"tensor data overlaps or leaves a gap at {where}")
        position = info.end
    if position != data_len:
        raise _refuse(file, f"{data_len - position} trailing bytes after the last tensor")
    return tensors, data_start


def count_non_finite(path: str | Path, info: TensorInfo, data_start: int) -> tuple[int, int]:
    """(NaN count, Inf count) of one tensor, from its raw little-endian bits (no float conversion, bf16 included)."""
    view, exp_mask, mantissa_mask = _FLOAT_BITS[info.dtype]
    item = DTYPE_SIZES[info.dtype]
    nan = inf = 0
    with Path(path).open("rb") as fh:
        fh.seek(data_start + info.begin)
        remaining = info.numel
        while remaining:
            count = min(remaining, SCAN_CHUNK_ELEMENTS)
            bits = np.frombuffer(fh.read(count * item), dtype=view)
            if len(bits) != count:
                raise _refuse(Path(path).name, f"tensor {_short(info.name)!r} is truncated")
            special = (bits & exp_mask) == exp_mask
            if special.any():
                is_nan = (bits[special] & mantissa_mask) != 0
                nan += int(is_nan.sum())
                inf += int((~is_nan).sum())
            remaining -= count
    return nan, inf


def _check_finite(path: Path, tensors: Mapping[str, TensorInfo], data_start: int) -> None:
    for info in sorted(tensors.values(), key=lambda t: t.begin):
        nan, inf = count_non_finite(path, info, data_start)
        if nan or inf:
            raise _refuse(path.name, f"tensor {_short(info.name)!r} ({info.dtype}) has {nan} NaN and {inf} Inf values")


# --------------------------------------------------------------------------------------------- the files


def _check_names(names: Iterable[str], *, where: str) -> None:
    for name in names:
        lower = name.lower()
        if any(lower.endswith(s) for s in PICKLE_SUFFIXES):
            raise _refuse(name, f"pickle-type files are refused outright ({where}); only safetensors weights")
        if name not in ADAPTER_FILES:
            raise _refuse(name, f"unexpected file ({where}); an adapter folder holds only {', '.join(ADAPTER_FILES)}")


def _list_folder(root: Path) -> dict[str, Path]:
    if root.is_symlink() or not root.is_dir():
        raise AdapterRefused(f"{root.name}: not a folder")
    files: dict[str, Path] = {}
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if entry.is_symlink():
            raise _refuse(entry.name, "links are refused")
        if entry.is_dir(follow_symlinks=False):
            raise _refuse(entry.name + "/", "sub-folders are refused; an adapter folder is flat")
        if not entry.is_file(follow_symlinks=False):
            raise _refuse(entry.name, "not a regular file")
        files[entry.name] = Path(entry.path)
    _check_names(files, where="in the folder")
    missing = [f for f in REQUIRED_FILES if f not in files]
    if missing:
        raise AdapterRefused(f"missing {', '.join(missing)} (required: {', '.join(REQUIRED_FILES)})")
    return files


def _read_small(name: str, path: Path, limit: int) -> bytes:
    size = path.stat().st_size
    if size > limit:
        raise _refuse(name, f"is {size} bytes; at most {limit}")
    raw = path.read_bytes()
    why = sniff_pickle(raw[:8])
    if why:
        raise _refuse(name, f"{why}; pickle files are never opened")
    return raw


# --------------------------------------------------------------------------------------------- the checks


def _check_peft_config(config: Mapping[str, Any]) -> tuple[set[str], set[int], float | None]:
    """(allowed projections, allowed ranks, lora_alpha) from adapter_config.json."""
    f = CONFIG_FILE
    if config.get("peft_type") != "LORA":
        raise _refuse(f, f"peft_type must be 'LORA', got {_short(str(config.get('peft_type')))!r}")
    r = config.get("r")
    if not _is_int(r) or not 1 <= r <= MAX_RANK:
        raise _refuse(f, f"r must be an integer from 1 to {MAX_RANK}, got {r!r}")
    ranks = {r}
    pattern = config.get("rank_pattern") or {}
    if not isinstance(pattern, dict):
        raise _refuse(f, "rank_pattern must be an object")
    for key, value in pattern.items():
        if not _is_int(value) or not 1 <= value <= MAX_RANK:
            raise _refuse(f, f"rank_pattern[{_short(key)!r}] must be an integer from 1 to {MAX_RANK}, got {value!r}")
        ranks.add(value)
    targets = config.get("target_modules")
    if isinstance(targets, str):
        targets = [targets]
    if not isinstance(targets, list) or not targets or not all(isinstance(t, str) for t in targets):
        raise _refuse(f, "target_modules must be a non-empty list of module names")
    projections = set()
    for target in targets:
        match = _TARGET.fullmatch(target)
        if not match:
            allowed = ", ".join(ALLOWED_PROJECTIONS)
            raise _refuse(f, f"target module {_short(target)!r} is not allowed; allowed: {allowed}")
        projections.add(match["proj"])
    if config.get("use_dora"):
        raise _refuse(f, "DoRA (use_dora) is not supported; plain LoRA only")
    if config.get("modules_to_save"):
        raise _refuse(f, "modules_to_save must be empty: only LoRA weights are accepted")
    if config.get("lora_bias") or config.get("bias") not in (None, "none"):
        raise _refuse(f, "LoRA biases are not supported (bias must be 'none')")
    for key in ("trainable_token_indices", "target_parameters", "layer_replication"):
        if config.get(key):
            raise _refuse(f, f"{key} must be empty: only LoRA on the attention projections is accepted")
    alpha = config.get("lora_alpha")
    numeric = isinstance(alpha, (int, float)) and not isinstance(alpha, bool)
    if alpha is not None and not (numeric and math.isfinite(alpha)):
        raise _refuse(f, f"lora_alpha must be a finite number, got {alpha!r}")
    return projections, ranks, None if alpha is None else float(alpha)


def _check_weights(
    tensors: Mapping[str, TensorInfo],
    modules: Mapping[str, tuple[int, int]],
    projections: set[str],
    ranks: set[int],
) -> tuple[set[int], set[str], set[int], int]:
    f = WEIGHTS_FILE
    if not tensors:
        raise _refuse(f, "holds no tensors")
    halves: dict[str, dict[str, TensorInfo]] = {}
    for name, info in tensors.items():
        match = _KEY.fullmatch(name)
        if not match:
            raise _refuse(
                f,
                f"key {_short(name)!r} is not a LoRA weight of an allowed module; expected "
                "base_model.model.transformer_blocks.<i>.attn.<to_q|to_k|to_v|to_out.0|add_q_proj|add_k_proj|"
                "add_v_proj|to_add_out>.lora_A|lora_B.weight",
            )
        module = f"transformer_blocks.{match['block']}.attn.{match['proj']}"
        if module not in modules:
            n_layers = len({m.split(".")[1] for m in modules})
            if int(match["block"]) >= n_layers:
                block = match["block"]
                raise _refuse(f, f"key {_short(name)!r} targets block {block}; the model has {n_layers} blocks")
            raise _refuse(f, f"key {_short(name)!r} targets {module}, which the model does not have (the last block "
                             "is context_pre_only: no to_add_out)")  # fmt: skip
        if match["proj"] not in projections:
            proj = match["proj"]
            raise _refuse(f, f"key {_short(name)!r} targets {proj}, not in adapter_config.json's target_modules")
        halves.setdefault(module, {})[match["half"]] = info
    used_ranks, used_projections, blocks, params = set(), set(), set(), 0
    for module, pair in sorted(halves.items()):
        if set(pair) != {"A", "B"}:
            missing = ({"A", "B"} - set(pair)).pop()
            raise _refuse(f, f"{module} has no lora_{missing}.weight")
        a, b = pair["A"], pair["B"]
        in_features, out_features = modules[module]
        if len(a.shape) != 2 or len(b.shape) != 2:
            raise _refuse(f, f"{module}: LoRA weights must be 2-D (lora_A {list(a.shape)}, lora_B {list(b.shape)})")
        rank = a.shape[0]
        if a.shape != (rank, in_features) or b.shape != (out_features, rank):
            raise _refuse(
                f,
                f"{module}: wrong shapes lora_A {list(a.shape)} / lora_B {list(b.shape)}; expected "
                f"[r, {in_features}] / [{out_features}, r]",
            )
        if not 1 <= rank <= MAX_RANK:
            raise _refuse(f, f"{module}: rank {rank} is over the limit of {MAX_RANK}")
        if rank not in ranks:
            raise _refuse(f, f"{module}: rank {rank} does not match adapter_config.json (r / rank_pattern: "
                             f"{sorted(ranks)})")  # fmt: skip
        used_ranks.add(rank)
        used_projections.add(module.split(".attn.")[1])
        blocks.add(int(module.split(".")[1]))
        params += a.numel + b.numel
    return used_ranks, used_projections, blocks, params


_USER_SPLIT = re.compile(re.escape(USER_SPLIT_PREFIX) + r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}")


def _check_benchmark_ids(file: str, task: str | None, benchmarks: Sequence[str]) -> None:
    """Each requested benchmark is a standard benchmark of the adapter's task or an own test split ``user:NAME``
    (a plain name, never a path: the scoring host resolves it under its own data folder)."""
    allowed = benchmark_order(task) if task else ()
    for benchmark in benchmarks:
        if benchmark in allowed or _USER_SPLIT.fullmatch(benchmark):
            continue
        standard = f"standard {task} benchmarks: {', '.join(allowed)}; or " if allowed else ""
        raise _refuse(file, f"benchmark {_short(benchmark, 60)!r} cannot be scored for this adapter; use "
                            f"{standard}an own test split named {USER_SPLIT_PREFIX}NAME")


def _check_task(task_json: Mapping[str, Any], *, base_model_id: str, base_revision: str | None) -> AdapterTask:
    """The task file parsed by the format's one parser, then this board's own rules: the base model it serves."""
    info = parse_task_file(task_json)
    if info.base_model_id != base_model_id:
        raise _refuse(TASK_FILE, f"base_model.id is {_short(info.base_model_id)!r}; this leaderboard scores adapters "
                                 f"of {base_model_id!r}")  # fmt: skip
    if base_revision is not None and info.base_revision != base_revision:
        raise _refuse(TASK_FILE, f"base_model.revision is {_short(info.base_revision)!r}; expected {base_revision!r}")
    return info


def _check_embedding(path: Path, transformer_config: Mapping[str, Any]) -> None:
    f = EMBEDDING_FILE
    tensors, data_start = read_safetensors_header(path, file=f)
    if set(tensors) != {"prompt_embeds", "pooled_prompt_embeds"}:
        raise _refuse(f, f"must hold exactly prompt_embeds and pooled_prompt_embeds, has {sorted(tensors)[:5]}")
    joint = int(transformer_config.get("joint_attention_dim", 4096))
    pooled = int(transformer_config.get("pooled_projection_dim", 2048))
    shape = tensors["prompt_embeds"].shape
    if len(shape) != 3 or shape[0] != 1 or shape[2] != joint or not 1 <= shape[1] <= MAX_EMBED_TOKENS:
        raise _refuse(f, f"prompt_embeds must be [1, L, {joint}] with L <= {MAX_EMBED_TOKENS}, got {list(shape)}")
    if tensors["pooled_prompt_embeds"].shape != (1, pooled):
        got = list(tensors["pooled_prompt_embeds"].shape)
        raise _refuse(f, f"pooled_prompt_embeds must be [1, {pooled}], got {got}")
    _check_finite(path, tensors, data_start)


# --------------------------------------------------------------------------------------------- entry points


def validate_adapter_folder(
    path: str | Path,
    *,
    base_model_id: str,
    base_revision: str | None,
    transformer_config: Mapping[str, Any] | None = None,
    max_total_bytes: int = MAX_TOTAL_BYTES,
) -> ValidatedAdapter:
    """Validate an adapter folder in place (see the module docstring for every check).

    Args:
        path: the folder.
        base_model_id: the DICEPTION weights this board serves; ``diception_task.json`` must name it.
        base_revision: their revision; ``None`` accepts any (the app should always pass one).
        transformer_config: the transformer's config (diffusers ``config.json`` keys); default SD3 medium's.
        max_total_bytes: the size cap of all files together.

    Raises:
        AdapterRefused: the adapter breaks the format (the message says which file and why).
    """
    config = SD3_MEDIUM_TRANSFORMER_CONFIG if transformer_config is None else transformer_config
    modules = expected_modules(config)
    root = Path(path)
    files = _list_folder(root)
    total = sum(p.stat().st_size for p in files.values())
    if total > max_total_bytes:
        raise AdapterRefused(f"the files total {total:,} bytes; the limit is {max_total_bytes:,}")

    peft_config = _json_object(CONFIG_FILE, _read_small(CONFIG_FILE, files[CONFIG_FILE], MAX_JSON_BYTES))
    task_json = _json_object(TASK_FILE, _read_small(TASK_FILE, files[TASK_FILE], MAX_JSON_BYTES))
    card = ""
    if CARD_FILE in files:
        try:
            card = _read_small(CARD_FILE, files[CARD_FILE], MAX_README_BYTES).decode("utf-8")
        except UnicodeDecodeError:
            raise _refuse(CARD_FILE, "is not UTF-8 text") from None

    info = _check_task(task_json, base_model_id=base_model_id, base_revision=base_revision)
    f = TASK_FILE
    benchmarks = _str_list(f, "benchmarks", list(info.benchmarks), pattern=_BENCHMARK_ID)
    if not benchmarks:
        raise _refuse(f, "benchmarks must name at least one benchmark to be scored on")
    # A new task is scored like the standard task that shares its output encoding, or on its own test split.
    scored_as = info.scored_as.value if info.scored_as is not None else None
    _check_benchmark_ids(f, scored_as, benchmarks)
    trained_on = _str_list(f, "trained_on_benchmarks", list(info.trained_on_benchmarks), pattern=_BENCHMARK_ID)
    new_task = None
    if info.new_task is not None:
        new_task = {"name": info.new_task.name, "prompt": info.new_task.prompt,
                    "encoding": info.new_task.encoding.value}  # fmt: skip
    if EMBEDDING_FILE in files:
        if new_task is None:
            raise _refuse(EMBEDDING_FILE, "is only for a new task (diception_task.json names an existing task)")
        _check_embedding(files[EMBEDDING_FILE], config)

    projections, ranks, alpha = _check_peft_config(peft_config)
    tensors, data_start = read_safetensors_header(files[WEIGHTS_FILE], file=WEIGHTS_FILE)
    used_ranks, used_projections, blocks, params = _check_weights(tensors, modules, projections, ranks)
    _check_finite(files[WEIGHTS_FILE], tensors, data_start)

    return ValidatedAdapter(
        root=root,
        content_hash=_content_hash(files),
        files=tuple(sorted(files)),
        total_bytes=total,
        base_model_id=info.base_model_id,
        base_revision=info.base_revision,
        task=info.task.value if info.task is not None else None,
        new_task=new_task,
        benchmarks=benchmarks,
        training_data=info.training_data,
        trained_on_benchmarks=trained_on,
        licence=info.licence,
        rank=max(used_ranks),
        ranks=tuple(sorted(used_ranks)),
        target_modules=tuple(p for p in ALLOWED_PROJECTIONS if p in used_projections),
        blocks=tuple(sorted(blocks)),
        dtypes=tuple(sorted({t.dtype for t in tensors.values()})),
        num_parameters=params,
        lora_alpha=alpha,
        has_task_embedding=EMBEDDING_FILE in files,
        model_card=card,
    )


def _prepare_dest(dest_dir: str | Path) -> Path:
    dest = Path(dest_dir)
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise ValueError(f"dest_dir must be empty: {dest}")
    return dest


def _write_new(path: Path, chunks: Iterable[bytes], *, limit: int, name: str) -> int:
    written = 0
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as out:
        for chunk in chunks:
            written += len(chunk)
            if written > limit:
                raise _refuse(name, f"expands beyond {limit:,} bytes (zip bomb?)")
            out.write(chunk)
    return written


def _zip_member_name(info: zipfile.ZipInfo) -> list[str] | None:
    """The entry's path parts after the safety checks; None for entries skipped on purpose."""
    name = info.filename
    label = _short(name)
    if "\x00" in name:
        raise _refuse(label, "zip entry name contains a NUL byte")
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        raise _refuse(label, "absolute paths are refused in zips")
    parts = [p for p in re.split(r"[\\/]", name) if p not in ("", ".")]
    if ".." in parts:
        raise _refuse(label, "'..' path components are refused in zips (path traversal)")
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        raise _refuse(label, "symbolic links are refused in zips")
    if mode and stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise _refuse(label, "special files are refused in zips")
    if info.flag_bits & 0x1:
        raise _refuse(label, "encrypted zip entries are refused")
    if parts and (parts[0] in IGNORED_ZIP_ENTRIES or parts[-1] in IGNORED_ZIP_ENTRIES):
        return None
    return parts


# What a damaged or hostile archive makes zipfile raise while it is read (headers, names, offsets, streams).
_ZIP_READ_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, NotImplementedError, EOFError, ValueError,
                    OSError, struct.error, OverflowError)  # fmt: skip


@contextmanager
def open_zip(zip_file: str | Path | IO[bytes]) -> Iterator[zipfile.ZipFile]:
    """The archive, or ``AdapterRefused`` when it cannot be read as a zip."""
    try:
        archive = zipfile.ZipFile(zip_file)
    except _ZIP_READ_ERRORS as exc:
        why = "" if isinstance(exc, OSError) else f" ({_short(str(exc), 80)})"  # an OSError may name a path
        raise AdapterRefused(f"not a valid zip archive{why}") from None
    with archive:
        yield archive


def zip_chunks(archive: zipfile.ZipFile, info: zipfile.ZipInfo, name: str) -> Iterator[bytes]:
    """An entry's bytes in 1 MiB chunks; a damaged entry (bad offsets, bad compressed data, a wrong CRC) is refused
    as ``AdapterRefused`` naming it."""
    try:
        with archive.open(info) as src:
            while chunk := src.read(1 << 20):
                yield chunk
    except AdapterRefused:
        raise
    except _ZIP_READ_ERRORS as exc:
        why = "damaged" if isinstance(exc, OSError) else _short(str(exc), 80)
        raise _refuse(name, f"cannot be extracted from the zip ({why})") from None


def validate_adapter_zip(
    zip_file: str | Path | IO[bytes],
    dest_dir: str | Path,
    *,
    base_model_id: str,
    base_revision: str | None,
    transformer_config: Mapping[str, Any] | None = None,
    max_total_bytes: int = MAX_TOTAL_BYTES,
    max_entries: int = MAX_ZIP_ENTRIES,
) -> ValidatedAdapter:
    """Check a zip's entries, extract the adapter files into the empty ``dest_dir`` and validate them there.

    Raises:
        AdapterRefused: a bad entry (absolute path, ``..``, link, special file, encrypted, duplicate, too many,
            too large when expanded) or a bad adapter.
        ValueError: ``dest_dir`` is not empty (a caller error).
    """
    if isinstance(zip_file, (str, Path)):
        with Path(zip_file).open("rb") as fh:
            why = sniff_pickle(fh.read(8))
        if why and "zip" not in why:
            raise AdapterRefused(f"{Path(zip_file).name}: {why}; upload a .zip of the adapter folder")
    dest = _prepare_dest(dest_dir)
    with open_zip(zip_file) as archive:
        infos = archive.infolist()
        if len(infos) > max_entries:
            raise AdapterRefused(f"the zip has {len(infos)} entries; at most {max_entries}")
        members: list[tuple[list[str], zipfile.ZipInfo]] = []
        for info in infos:
            parts = _zip_member_name(info)
            if parts and not info.is_dir():
                members.append((parts, info))
        tops = {parts[0] for parts, _ in members}
        strip = 1 if len(tops) == 1 and all(len(p) > 1 for p, _ in members) else 0
        chosen: dict[str, zipfile.ZipInfo] = {}
        for parts, info in members:
            rel = parts[strip:]
            if len(rel) != 1:
                raise _refuse(_short(info.filename), "sub-folders are refused; zip the adapter folder's files "
                                                     "(optionally inside one top-level folder)")  # fmt: skip
            name = rel[0]
            if name.lower() in {n.lower() for n in chosen}:
                raise _refuse(name, "appears twice in the zip")
            chosen[name] = info
        _check_names(chosen, where="in the zip")
        declared = sum(i.file_size for i in chosen.values())
        if declared > max_total_bytes:
            raise AdapterRefused(f"the zip expands to {declared:,} bytes; the limit is {max_total_bytes:,}")
        budget = max_total_bytes
        for name, info in chosen.items():
            chunks = zip_chunks(archive, info, name)
            budget -= _write_new(dest / name, chunks, limit=min(budget, info.file_size), name=name)
    return validate_adapter_folder(
        dest, base_model_id=base_model_id, base_revision=base_revision, transformer_config=transformer_config,
        max_total_bytes=max_total_bytes,
    )  # fmt: skip


def validate_adapter_bytes(
    files: Mapping[str, bytes],
    dest_dir: str | Path,
    *,
    base_model_id: str,
    base_revision: str | None,
    transformer_config: Mapping[str, Any] | None = None,
    max_total_bytes: int = MAX_TOTAL_BYTES,
) -> ValidatedAdapter:
    """Validate an adapter given as ``{file name: bytes}``: names checked, written to the empty ``dest_dir``,
    validated there. A single ``*.zip`` entry is treated as a zip upload."""
    if len(files) == 1 and next(iter(files)).lower().endswith(".zip"):
        return validate_adapter_zip(
            io.BytesIO(next(iter(files.values()))), dest_dir, base_model_id=base_model_id,
            base_revision=base_revision, transformer_config=transformer_config, max_total_bytes=max_total_bytes,
        )  # fmt: skip
    for name in files:
        if "/" in name or "\\" in name or name in ("", ".", ".."):
            raise _refuse(_short(name), "file names must be plain names, no folders")
    _check_names(files, where="in the upload")
    total = sum(len(b) for b in files.values())
    if total > max_total_bytes:
        raise AdapterRefused(f"the files total {total:,} bytes; the limit is {max_total_bytes:,}")
    dest = _prepare_dest(dest_dir)
    for name, data in files.items():
        _write_new(dest / name, [data], limit=max_total_bytes, name=name)
    return validate_adapter_folder(
        dest, base_model_id=base_model_id, base_revision=base_revision, transformer_config=transformer_config,
        max_total_bytes=max_total_bytes,
    )  # fmt: skip


def validate_adapter_upload(
    paths: Sequence[str | Path] | str | Path,
    dest_dir: str | Path,
    *,
    base_model_id: str,
    base_revision: str | None,
    transformer_config: Mapping[str, Any] | None = None,
    max_total_bytes: int = MAX_TOTAL_BYTES,
) -> ValidatedAdapter:
    """Validate an upload: one ``.zip``, one folder, or the files of a folder (as Gradio's directory upload gives
    them). The files are copied (never linked) into the empty ``dest_dir`` and validated there."""
    items = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    kwargs = dict(base_model_id=base_model_id, base_revision=base_revision, transformer_config=transformer_config,
                  max_total_bytes=max_total_bytes)  # fmt: skip
    if not items:
        raise AdapterRefused("nothing was uploaded")
    if len(items) == 1 and items[0].suffix.lower() == ".zip" and not items[0].is_symlink():
        return validate_adapter_zip(items[0], dest_dir, **kwargs)
    if len(items) == 1 and items[0].is_dir() and not items[0].is_symlink():
        items = [Path(e.path) for e in os.scandir(items[0])]
    names: dict[str, Path] = {}
    for item in items:
        if item.is_symlink():
            raise _refuse(item.name, "links are refused")
        if item.is_dir():
            raise _refuse(item.name + "/", "sub-folders are refused; an adapter folder is flat")
        if item.name in names:
            raise _refuse(item.name, "was uploaded twice")
        names[item.name] = item
    _check_names(names, where="in the upload")
    total = sum(p.stat().st_size for p in names.values())
    if total > max_total_bytes:
        raise AdapterRefused(f"the files total {total:,} bytes; the limit is {max_total_bytes:,}")
    dest = _prepare_dest(dest_dir)
    for name, src in names.items():
        with src.open("rb") as fh:
            _write_new(dest / name, iter(lambda fh=fh: fh.read(1 << 20), b""), limit=max_total_bytes, name=name)
    return validate_adapter_folder(dest, **kwargs)
