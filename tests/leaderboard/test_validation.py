"""Adapter validation: a good adapter passes; every crafted bad one is refused with a precise reason. No torch."""

from __future__ import annotations

import io
import json
import pickle
import stat
import zipfile
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from safetensors.numpy import save_file

from leaderboard import validation as v
from leaderboard.validation import AdapterRefused

TINY = {"num_layers": 2, "num_attention_heads": 2, "attention_head_dim": 8, "caption_projection_dim": 16,
        "joint_attention_dim": 32, "pooled_projection_dim": 24}  # fmt: skip
INNER = 16
BASE_ID, BASE_REV = "Canyu/DICEPTION", "0123456789abcdef0123456789abcdef01234567"
KW = dict(base_model_id=BASE_ID, base_revision=BASE_REV, transformer_config=TINY)


def lora_tensors(rank=4, dtype=np.float32, targets=("to_q", "to_k", "to_v"), blocks=(0, 1), seed=0):
    rng = np.random.default_rng(seed)
    tensors = {}
    for i in blocks:
        for proj in targets:
            key = f"base_model.model.transformer_blocks.{i}.attn.{proj}"
            tensors[f"{key}.lora_A.weight"] = rng.normal(size=(rank, INNER)).astype(dtype)
            tensors[f"{key}.lora_B.weight"] = np.zeros((INNER, rank), dtype=dtype)  # peft's fresh init
    return tensors


def make_adapter(folder: Path, *, tensors=None, config=None, task=None, readme=True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    save_file(lora_tensors() if tensors is None else tensors, str(folder / v.WEIGHTS_FILE))
    peft = {"peft_type": "LORA", "r": 4, "lora_alpha": 4, "target_modules": ["to_q", "to_k", "to_v"],
            "bias": "none", "use_dora": False, "modules_to_save": None, "rank_pattern": {}}  # fmt: skip
    peft.update(config or {})
    (folder / v.CONFIG_FILE).write_text(json.dumps(peft))
    task_json = {"format_version": 1, "base_model": {"id": BASE_ID, "revision": BASE_REV},
                 "task": "point_segmentation", "new_task": None, "benchmarks": ["sa23"],
                 "training_data": "50 images", "trained_on_benchmarks": [], "licence": "MIT"}  # fmt: skip
    task_json.update(task or {})
    (folder / v.TASK_FILE).write_text(json.dumps(task_json))
    if readme:
        (folder / v.CARD_FILE).write_text("# my adapter\ntrained on 50 images\n")
    return folder


def zip_folder(folder: Path, zip_path: Path, *, prefix: str = "") -> Path:
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, prefix + f.name)
    return zip_path


def refused(match: str):
    return pytest.raises(AdapterRefused, match=match)


# --------------------------------------------------------------------------------------------- passing


def test_good_adapter_passes(tmp_path: Path) -> None:
    folder = make_adapter(tmp_path / "a")
    adapter = v.validate_adapter_folder(folder, **KW)
    assert adapter.task == "point_segmentation" and adapter.benchmarks == ("sa23",)
    assert adapter.rank == 4 and adapter.target_modules == ("to_q", "to_k", "to_v")
    assert adapter.blocks == (0, 1) and adapter.dtypes == ("F32",)
    assert adapter.num_parameters == 2 * 3 * (4 * INNER * 2)
    assert len(adapter.content_hash) == 64 and "50 images" in adapter.model_card
    meta = adapter.metadata()
    json.dumps(meta)
    assert "root" not in meta


def test_all_projections_and_bf16_fp16_pass(tmp_path: Path) -> None:
    tensors = lora_tensors(targets=("to_q", "to_out.0", "add_q_proj", "add_v_proj"), dtype=ml_dtypes.bfloat16)
    # to_add_out exists in every block but the last (context_pre_only)
    tensors.update({k: a.astype(np.float16) for k, a in lora_tensors(targets=("to_add_out",), blocks=(0,)).items()})
    targets = ["to_q", "to_out.0", "add_q_proj", "add_v_proj", "to_add_out"]
    folder = make_adapter(tmp_path / "a", tensors=tensors, config={"target_modules": targets})
    adapter = v.validate_adapter_folder(folder, **KW)
    assert adapter.dtypes == ("BF16", "F16")
    assert adapter.target_modules == ("to_q", "to_out.0", "add_q_proj", "add_v_proj", "to_add_out")


def test_content_hash_same_for_zip_and_folder_and_changes_with_content(tmp_path: Path) -> None:
    folder = make_adapter(tmp_path / "a")
    first = v.validate_adapter_folder(folder, **KW).content_hash
    zipped = v.validate_adapter_zip(zip_folder(folder, tmp_path / "a.zip", prefix="my-adapter/"), tmp_path / "x", **KW)
    assert zipped.content_hash == first
    other = make_adapter(tmp_path / "b", tensors=lora_tensors(seed=1))
    assert v.validate_adapter_folder(other, **KW).content_hash != first


def test_bytes_and_upload_entry_points(tmp_path: Path) -> None:
    folder = make_adapter(tmp_path / "a")
    files = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert v.validate_adapter_bytes(files, tmp_path / "b", **KW).task == "point_segmentation"
    assert v.validate_adapter_upload(sorted(folder.iterdir()), tmp_path / "c", **KW).rank == 4
    assert v.validate_adapter_upload(folder, tmp_path / "d", **KW).rank == 4
    zipped = zip_folder(folder, tmp_path / "a.zip")
    assert v.validate_adapter_bytes({"a.zip": zipped.read_bytes()}, tmp_path / "e", **KW).rank == 4


def test_sd3_medium_module_shapes() -> None:
    modules = v.expected_modules(v.SD3_MEDIUM_TRANSFORMER_CONFIG)
    assert modules["transformer_blocks.0.attn.to_q"] == (1536, 1536)
    assert modules["transformer_blocks.0.attn.add_k_proj"] == (1536, 1536)
    assert "transformer_blocks.23.attn.to_add_out" not in modules
    assert "transformer_blocks.22.attn.to_add_out" in modules
    assert len(modules) == 24 * 7 + 23
    with pytest.raises(ValueError, match="num_layers"):
        v.expected_modules({"num_layers": 0, "num_attention_heads": 2, "attention_head_dim": 8})


# --------------------------------------------------------------------------------------------- refusals: files


def test_pickle_renamed_safetensors_is_refused_without_loading(tmp_path: Path) -> None:
    folder = make_adapter(tmp_path / "a")
    (folder / v.WEIGHTS_FILE).write_bytes(pickle.dumps({"weights": [1.0, 2.0]}, protocol=4))
    with refused(r"adapter_model\.safetensors: starts with a pickle protocol 4 header, not safetensors"):
        v.validate_adapter_folder(folder, **KW)


def test_torch_zip_renamed_safetensors_is_refused(tmp_path: Path) -> None:
    folder = make_adapter(tmp_path / "a")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({"a": 1}))
    (folder / v.WEIGHTS_FILE).write_bytes(buf.getvalue())
    with refused("is a zip archive"):
        v.validate_adapter_folder(folder, **KW)


def test_garbage_header_is_refused(tmp_path: Path) -> None:
    folder = make_adapter(tmp_path / "a")
    (folder / v.WEIGHTS_FILE).write_bytes(b"\xff" * 64)
    with refused("not a valid safetensors file"):
        v.validate_adapter_folder(folder, **KW)


@pytest.mark.parametrize("name", ["adapter_model.bin", "pytorch_model.pt", "weights.pth", "x.ckpt", "y.pkl"])
def test_pickle_extensions_are_refused(tmp_path: Path, name: str) -> None:
    folder = make_adapter(tmp_path / "a")
    (folder / name).write_bytes(b"not even read")
    with refused(r"pickle-type files are refused outright"):
        v.validate_adapter_folder(folder, **KW)


def test_unknown_file_subfolder_and_symlink_are_refused(tmp_path: Path) -> None:
    folder = make_adapter(tmp_path / "a")
    (folder / "notes.txt").write_text("hi")
    with refused("unexpected file"):
        v.validate_adapter_folder(folder, **KW)
    (folder / "notes.txt").unlink()
    (folder / "sub").mkdir()
    with refused("sub-folders are refused"):
        v.validate_adapter_folder(folder, **KW)
    (folder / "sub").rmdir()
    (folder / v.CARD_FILE).unlink()
    (folder / v.CARD_FILE).symlink_to("/etc/hostname")
    with refused("links are refused"):
        v.validate_adapter_folder(folder, **KW)


def test_missing_task_file_is_refused(tmp_path: Path) -> None:
    folder = make_adapter(tmp_path / "a")
    (folder / v.TASK_FILE).unlink()
    with refused("missing diception_task.json"):
        v.validate_adapter_folder(folder, **KW)


def test_total_size_cap(tmp_path: Path) -> None:
    folder = make_adapter(tmp_path / "a")
    with refused("the limit is 1,000"):
        v.validate_adapter_folder(folder, **KW, max_total_bytes=1000)


# --------------------------------------------------------------------------------------------- refusals: weights


def test_nan_in_bf16_is_refused(tmp_path: Path) -> None:
    tensors = lora_tensors(dtype=ml_dtypes.bfloat16)
    key = "base_model.model.transformer_blocks.1.attn.to_k.lora_A.weight"
    tensors[key] = tensors[key].copy()
    tensors[key][0, 3] = np.nan
    folder = make_adapter(tmp_path / "a", tensors=tensors)
    with refused(r"transformer_blocks\.1\.attn\.to_k\.lora_A\.weight' \(BF16\) has 1 NaN and 0 Inf"):
        v.validate_adapter_folder(folder, **KW)


def test_inf_in_fp32_and_fp16_are_refused(tmp_path: Path) -> None:
    for dtype, name in ((np.float32, "F32"), (np.float16, "F16")):
        tensors = lora_tensors(dtype=dtype)
        key = "base_model.model.transformer_blocks.0.attn.to_v.lora_B.weight"
        tensors[key] = tensors[key].copy()
        tensors[key][1, 1], tensors[key][2, 2] = np.inf, -np.inf
        folder = make_adapter(tmp_path / name, tensors=tensors)
        with refused(rf"\({name}\) has 0 NaN and 2 Inf"):
            v.validate_adapter_folder(folder, **KW)


def test_bit_scan_matches_numpy_isfinite() -> None:
    rng = np.random.default_rng(0)
    for dtype, name in ((np.float32, "F32"), (np.float16, "F16"), (ml_dtypes.bfloat16, "BF16")):
        bits = rng.integers(0, 2**16 if name != "F32" else 2**32, size=5000, dtype=np.uint64)
        values = bits.astype(np.uint16 if name != "F32" else np.uint32).view(dtype)
        view, exp, man = v._FLOAT_BITS[name]
        raw = values.view(view)
        special = (raw & exp) == exp
        assert special.sum() == (~np.isfinite(values.astype(np.float32))).sum()
        assert ((raw[special] & man) != 0).sum() == np.isnan(values.astype(np.float32)).sum()


def test_wrong_shapes_are_refused(tmp_path: Path) -> None:
    tensors = lora_tensors()
    tensors["base_model.model.transformer_blocks.0.attn.to_q.lora_A.weight"] = np.zeros((4, INNER + 1), np.float32)
    with refused(r"transformer_blocks\.0\.attn\.to_q: wrong shapes lora_A \[4, 17\] / lora_B \[16, 4\]"):
        v.validate_adapter_folder(make_adapter(tmp_path / "a", tensors=tensors), **KW)
    tensors = lora_tensors()
    tensors["base_model.model.transformer_blocks.0.attn.to_q.lora_B.weight"] = np.zeros((INNER, 3), np.float32)
    with refused("wrong shapes"):
        v.validate_adapter_folder(make_adapter(tmp_path / "b", tensors=tensors), **KW)


def test_unknown_target_modules_are_refused(tmp_path: Path) -> None:
    tensors = lora_tensors()
    tensors["base_model.model.transformer_blocks.0.ff.net.0.proj.lora_A.weight"] = np.zeros((4, INNER), np.float32)
    with refused(r"key 'base_model\.model\.transformer_blocks\.0\.ff\.net\.0\.proj\.lora_A\.weight' is not a LoRA"):
        v.validate_adapter_folder(make_adapter(tmp_path / "a", tensors=tensors), **KW)
    with refused(r"target module 'proj_out' is not allowed"):
        v.validate_adapter_folder(make_adapter(tmp_path / "b", config={"target_modules": ["to_q", "proj_out"]}), **KW)


def test_last_block_has_no_to_add_out_and_block_range(tmp_path: Path) -> None:
    tensors = lora_tensors(targets=("to_add_out",), blocks=(1,))
    folder = make_adapter(tmp_path / "a", tensors=tensors, config={"target_modules": ["to_add_out"]})
    with refused("context_pre_only"):
        v.validate_adapter_folder(folder, **KW)
    folder = make_adapter(tmp_path / "b", tensors=lora_tensors(blocks=(2,)))
    with refused("targets block 2; the model has 2 blocks"):
        v.validate_adapter_folder(folder, **KW)


def test_oversized_rank_is_refused(tmp_path: Path) -> None:
    with refused(r"r must be an integer from 1 to 128, got 256"):
        v.validate_adapter_folder(make_adapter(tmp_path / "a", config={"r": 256}), **KW)
    # weights of rank 129 with a config that claims 4
    tensors = lora_tensors(rank=129, targets=("to_q",), blocks=(0,))
    with refused("rank 129 is over the limit of 128"):
        v.validate_adapter_folder(make_adapter(tmp_path / "b", tensors=tensors), **KW)


def test_missing_lora_half_and_disallowed_dtype(tmp_path: Path) -> None:
    tensors = lora_tensors()
    del tensors["base_model.model.transformer_blocks.0.attn.to_q.lora_B.weight"]
    with refused(r"transformer_blocks\.0\.attn\.to_q has no lora_B\.weight"):
        v.validate_adapter_folder(make_adapter(tmp_path / "a", tensors=tensors), **KW)
    tensors = lora_tensors(dtype=np.float64)
    with refused("has dtype 'F64'; allowed: F32, F16, BF16"):
        v.validate_adapter_folder(make_adapter(tmp_path / "b", tensors=tensors), **KW)


def test_peft_config_refusals(tmp_path: Path) -> None:
    cases = [({"peft_type": "LOHA"}, "peft_type must be 'LORA'"), ({"use_dora": True}, "DoRA"),
             ({"modules_to_save": ["proj_out"]}, "modules_to_save"), ({"bias": "all"}, "biases"),
             ({"target_modules": ["to_q"]}, "not in adapter_config.json's target_modules"),
             ({"target_parameters": ["to_q.weight"]}, "target_parameters must be")]  # fmt: skip
    for i, (config, message) in enumerate(cases):
        with refused(message):
            v.validate_adapter_folder(make_adapter(tmp_path / str(i), config=config), **KW)


# --------------------------------------------------------------------------------------------- refusals: task file


def test_wrong_base_model_id_or_revision_is_refused(tmp_path: Path) -> None:
    folder = make_adapter(tmp_path / "a", task={"base_model": {"id": "someone/else", "revision": BASE_REV}})
    with refused(r"base_model\.id is 'someone/else'; this leaderboard scores adapters of 'Canyu/DICEPTION'"):
        v.validate_adapter_folder(folder, **KW)
    folder = make_adapter(tmp_path / "b", task={"base_model": {"id": BASE_ID, "revision": "f" * 40}})
    with refused(r"base_model\.revision is 'f{40}'; expected"):
        v.validate_adapter_folder(folder, **KW)


def test_task_file_refusals(tmp_path: Path) -> None:
    cases = [({"format_version": 2}, "format_version must be 1"), ({"task": "sketch"}, "task must be one of"),
             ({"benchmarks": []}, "at least one benchmark"), ({"benchmarks": ["../etc"]}, "not a benchmark id"),
             ({"task": None, "new_task": {"name": "highlight", "prompt": "[[x]]", "encoding": "video"}},
              "encoding must be one of")]  # fmt: skip
    for i, (task, message) in enumerate(cases):
        with refused(message):
            v.validate_adapter_folder(make_adapter(tmp_path / str(i), task=task), **KW)
    folder = make_adapter(tmp_path / "dup")
    (folder / v.TASK_FILE).write_text('{"format_version": 1, "format_version": 1}')
    with refused("duplicate key 'format_version'"):
        v.validate_adapter_folder(folder, **KW)


def test_new_task_with_embedding(tmp_path: Path) -> None:
    new_task = {"task": None, "new_task": {"name": "highlight", "prompt": "[[image2highlight]]", "encoding": "rgb"},
                "benchmarks": ["user:highlight-heldout"]}
    folder = make_adapter(tmp_path / "a", task=new_task)
    save_file({"prompt_embeds": np.zeros((1, 7, 32), np.float32),
               "pooled_prompt_embeds": np.zeros((1, 24), np.float32)}, str(folder / v.EMBEDDING_FILE))  # fmt: skip
    adapter = v.validate_adapter_folder(folder, **KW)
    assert adapter.task is None and adapter.task_name == "highlight" and adapter.has_task_embedding
    save_file({"prompt_embeds": np.zeros((1, 7, 31), np.float32),
               "pooled_prompt_embeds": np.zeros((1, 24), np.float32)}, str(folder / v.EMBEDDING_FILE))  # fmt: skip
    with refused(r"prompt_embeds must be \[1, L, 32\]"):
        v.validate_adapter_folder(folder, **KW)


# --------------------------------------------------------------------------------------------- refusals: zips


def _zip_with(tmp_path: Path, entries: list[tuple[zipfile.ZipInfo | str, bytes]]) -> Path:
    path = tmp_path / "upload.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in entries:
            zf.writestr(info, data)
    return path


def test_path_traversal_zip_is_refused(tmp_path: Path) -> None:
    path = _zip_with(tmp_path, [("../evil", b"x"), ("adapter_config.json", b"{}")])
    with refused(r"\.\./evil: '\.\.' path components are refused"):
        v.validate_adapter_zip(path, tmp_path / "out", **KW)
    assert not (tmp_path / "evil").exists() and not any((tmp_path / "out").iterdir())


def test_absolute_path_zip_is_refused(tmp_path: Path) -> None:
    for name in ("/etc/passwd", "C:/windows/x", "\\\\server\\share"):
        path = _zip_with(tmp_path, [(zipfile.ZipInfo(name), b"x")])
        with refused("absolute paths are refused"):
            v.validate_adapter_zip(path, tmp_path / "out", **KW)


def test_symlink_zip_entry_is_refused(tmp_path: Path) -> None:
    info = zipfile.ZipInfo("README.md")
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    path = _zip_with(tmp_path, [(info, b"/etc/passwd")])
    with refused("symbolic links are refused"):
        v.validate_adapter_zip(path, tmp_path / "out", **KW)


def test_zip_bomb_is_refused_by_declared_size(tmp_path: Path) -> None:
    folder = make_adapter(tmp_path / "a")
    entries = [(f.name, f.read_bytes()) for f in folder.iterdir() if f.name != v.CARD_FILE]
    entries.append((v.CARD_FILE, b"\0" * 3_000_000))  # compresses to a few kB
    path = _zip_with(tmp_path, entries)
    assert path.stat().st_size < 100_000
    with refused(r"the zip expands to 3,\d{3},\d{3} bytes; the limit is 1,000,000"):
        v.validate_adapter_zip(path, tmp_path / "out", **KW, max_total_bytes=1_000_000)


def test_zip_entry_lying_about_its_size_is_caught_while_streaming(tmp_path: Path) -> None:
    folder = make_adapter(tmp_path / "a")
    entries = [(f.name, f.read_bytes()) for f in folder.iterdir() if f.name != v.CARD_FILE]
    entries.append((v.CARD_FILE, b"a" * 200_000))
    path = _zip_with(tmp_path, entries)
    raw = bytearray(path.read_bytes())
    # Patch the central directory's uncompressed size of README.md down to 10 bytes (a lying header).
    offset = raw.find(b"PK\x01\x02")
    while offset != -1:
        name_len = int.from_bytes(raw[offset + 28 : offset + 30], "little")
        if raw[offset + 46 : offset + 46 + name_len] == v.CARD_FILE.encode():
            raw[offset + 24 : offset + 28] = (10).to_bytes(4, "little")
        offset = raw.find(b"PK\x01\x02", offset + 4)
    path.write_bytes(bytes(raw))
    with pytest.raises(AdapterRefused):
        v.validate_adapter_zip(path, tmp_path / "out", **KW)


def test_zip_refusals_duplicates_subfolders_count_and_not_a_zip(tmp_path: Path) -> None:
    with refused("appears twice"):
        v.validate_adapter_zip(_zip_with(tmp_path, [("README.md", b"a"), ("readme.md", b"b")]), tmp_path / "o1", **KW)
    with refused("sub-folders are refused"):
        v.validate_adapter_zip(_zip_with(tmp_path, [("a/README.md", b"a"), ("b/x/README.md", b"b")]),
                               tmp_path / "o2", **KW)  # fmt: skip
    many = [(f"f{i}", b"") for i in range(40)]
    with refused("the zip has 40 entries; at most 32"):
        v.validate_adapter_zip(_zip_with(tmp_path, many), tmp_path / "o3", **KW)
    bogus = tmp_path / "bogus.zip"
    bogus.write_bytes(b"hello, not a zip at all")
    with refused("not a valid zip archive"):
        v.validate_adapter_zip(bogus, tmp_path / "o4", **KW)
    renamed = tmp_path / "pickle.zip"
    renamed.write_bytes(pickle.dumps({"a": 1}))
    with refused("pickle protocol"):
        v.validate_adapter_zip(renamed, tmp_path / "o5", **KW)


def test_macos_junk_is_skipped(tmp_path: Path) -> None:
    folder = make_adapter(tmp_path / "a")
    entries = [(f"my-adapter/{f.name}", f.read_bytes()) for f in folder.iterdir()]
    entries += [("__MACOSX/my-adapter/._README.md", b"junk"), ("my-adapter/.DS_Store", b"junk")]
    adapter = v.validate_adapter_zip(_zip_with(tmp_path, entries), tmp_path / "out", **KW)
    assert ".DS_Store" not in adapter.files and sorted(p.name for p in (tmp_path / "out").iterdir()) == list(
        adapter.files
    )


def test_dest_dir_must_be_empty(tmp_path: Path) -> None:
    folder = make_adapter(tmp_path / "a")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "x").write_text("x")
    with pytest.raises(ValueError, match="dest_dir must be empty"):
        v.validate_adapter_zip(zip_folder(folder, tmp_path / "a.zip"), tmp_path / "out", **KW)


@pytest.mark.parametrize("bench_id", ["user:/etc/secrets", "user:../up", "normal/nyuv2", "synthetic", "nyuv2:train"])
def test_benchmarks_must_be_standard_for_the_task_or_a_named_own_split(tmp_path: Path, bench_id: str) -> None:
    folder = make_adapter(tmp_path / "a", task={"benchmarks": [bench_id]})
    with refused("cannot be scored for this adapter|benchmarks"):
        v.validate_adapter_folder(folder, **KW)
