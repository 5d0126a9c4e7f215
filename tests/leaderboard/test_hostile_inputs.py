"""Hostile uploads: every parser of a submission (safetensors headers, adapter folders and zips, Hub references,
prediction zips, .npy headers, PNGs) ends in the value or the project's refusal, never another exception. No torch."""

from __future__ import annotations

import io
import json
import struct
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from diception_spec.errors import Refused
from leaderboard import prediction_files as p
from leaderboard import validation as v
from leaderboard.prediction_files import PredictionsRefused
from leaderboard.submit import SubmissionError, check_hub_reference, fetch_hub_adapter
from leaderboard.validation import AdapterRefused
from tests.fuzzing import FUZZ, assert_public, hostile_json_text, value_or_refusal
from tests.leaderboard.test_prediction_files import write_predictions, zip_tree
from tests.leaderboard.test_validation import KW, make_adapter, zip_folder

DEEP = '{"a":' + "[" * 10**5 + "]" * 10**5 + "}"


def _safetensors(path: Path, header: bytes, data: bytes = b"") -> Path:
    header += b" " * (-len(header) % 8)
    path.write_bytes(struct.pack("<Q", len(header)) + header + data)
    return path


# --------------------------------------------------------------------------------------------- issue 12, item 1


def test_deeply_nested_safetensors_header_is_refused(tmp_path: Path) -> None:
    with pytest.raises(AdapterRefused, match="adapter_model.safetensors: .*nested"):
        v.read_safetensors_header(_safetensors(tmp_path / v.WEIGHTS_FILE, DEEP.encode()))


@pytest.mark.parametrize("file", [v.CONFIG_FILE, v.TASK_FILE])
def test_deeply_nested_adapter_json_is_refused(tmp_path: Path, file: str) -> None:
    folder = make_adapter(tmp_path / "a")
    (folder / file).write_text(DEEP)
    with pytest.raises(AdapterRefused, match=f"{file}: .*nested"):
        v.validate_adapter_folder(folder, **KW)


def test_deeply_nested_predictions_json_is_refused(tmp_path: Path) -> None:
    folder = write_predictions(tmp_path / "p")
    (folder / p.PREDICTIONS_FILE).write_text(DEEP)
    with pytest.raises(PredictionsRefused, match="predictions.json: .*nested"):
        p.validate_predictions_folder(folder)


# --------------------------------------------------------------------------------------------- safetensors

_dims = st.integers(min_value=-2, max_value=2**64)
_tensor_entry = st.fixed_dictionaries(
    {"dtype": st.sampled_from(["F32", "BF16", "F16", "I64", "F8_E4M3", 3, None]),
     "shape": st.one_of(st.lists(_dims, max_size=5), st.text(max_size=5), st.none()),
     "data_offsets": st.one_of(st.lists(_dims, max_size=3), st.floats(), st.none())})  # fmt: skip


@st.composite
def _headers(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["entries", "hostile", "bytes"]))
    if kind == "entries":
        entries = draw(st.dictionaries(st.text(max_size=60), _tensor_entry, max_size=4))
        if draw(st.booleans()):
            entries["__metadata__"] = draw(st.one_of(st.dictionaries(st.text(max_size=5), st.text(max_size=5)),
                                                     st.integers(), st.lists(st.integers())))  # fmt: skip
        return json.dumps(entries).encode()
    if kind == "hostile":
        return draw(hostile_json_text()).encode("utf-8", "surrogatepass")
    return draw(st.binary(max_size=200))


@FUZZ
@given(_headers(), st.binary(max_size=64), st.integers(min_value=0, max_value=2**64 - 1) | st.none())
def test_fuzz_safetensors_header(header: bytes, data: bytes, declared: int | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _safetensors(Path(tmp) / v.WEIGHTS_FILE, header, data)
        if declared is not None:  # a lying length field
            raw = path.read_bytes()
            path.write_bytes(struct.pack("<Q", declared) + raw[8:])
        value_or_refusal(lambda: v.read_safetensors_header(path), AdapterRefused)


# --------------------------------------------------------------------------------------------- adapters


@st.composite
def _adapter_file_bytes(draw: st.DrawFn) -> dict[str, bytes]:
    """Replace one or two of a good adapter's files with hostile bytes (or truncate them)."""
    names = draw(st.lists(st.sampled_from([v.CONFIG_FILE, v.TASK_FILE, v.WEIGHTS_FILE, v.CARD_FILE,
                                           v.EMBEDDING_FILE]), min_size=1, max_size=2, unique=True))  # fmt: skip
    out = {}
    for name in names:
        how = draw(st.sampled_from(["json", "bytes", "truncate"]))
        if how == "json":
            out[name] = draw(hostile_json_text()).encode("utf-8", "surrogatepass")
        elif how == "bytes":
            out[name] = draw(st.binary(max_size=300))
        else:
            out[name] = b"\0truncate:" + str(draw(st.integers(0, 400))).encode()
    return out


@FUZZ
@given(_adapter_file_bytes())
def test_fuzz_adapter_folder(replacements: dict[str, bytes]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = make_adapter(Path(tmp) / "a")
        for name, data in replacements.items():
            if data.startswith(b"\0truncate:"):
                keep = int(data.split(b":")[1])
                data = (folder / name).read_bytes()[:keep] if (folder / name).exists() else data
            (folder / name).write_bytes(data)
        value_or_refusal(lambda: v.validate_adapter_folder(folder, **KW), AdapterRefused)


_GOOD_ZIP: dict[str, bytes] = {}


def _good_adapter_zip() -> bytes:
    if "adapter" not in _GOOD_ZIP:
        with tempfile.TemporaryDirectory() as tmp:
            zip_path = zip_folder(make_adapter(Path(tmp) / "a"), Path(tmp) / "a.zip")
            _GOOD_ZIP["adapter"] = zip_path.read_bytes()
    return _GOOD_ZIP["adapter"]


@st.composite
def _mangled_zip(draw: st.DrawFn, good: bytes) -> bytes:
    how = draw(st.sampled_from(["truncate", "flip", "random", "entries"]))
    if how == "truncate":
        return good[: draw(st.integers(0, len(good)))]
    if how == "flip":
        data = bytearray(good)
        for _ in range(draw(st.integers(1, 8))):
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        return bytes(data)
    if how == "random":
        return b"PK\x03\x04" + draw(st.binary(max_size=300))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in draw(st.lists(st.tuples(st.text(min_size=1, max_size=30), st.binary(max_size=50)),
                                        max_size=5)):  # fmt: skip
            info = zipfile.ZipInfo(name)
            info.external_attr = draw(st.integers(0, 2**32 - 1))
            zf.writestr(info, data)
    return buffer.getvalue()


@FUZZ
@given(st.data())
def test_fuzz_adapter_zip(data: st.DataObject) -> None:
    raw = data.draw(_mangled_zip(_good_adapter_zip()))
    with tempfile.TemporaryDirectory() as tmp:
        value_or_refusal(lambda: v.validate_adapter_zip(io.BytesIO(raw), Path(tmp) / "dest", **KW), AdapterRefused)


@FUZZ
@given(st.text(max_size=120), st.text(max_size=60))
def test_fuzz_hub_reference(repo: str, revision: str) -> None:
    value_or_refusal(lambda: check_hub_reference(repo, revision), SubmissionError)


@FUZZ
@given(st.sampled_from(["alice/lora", "a" * 97 + "/b"]), st.sampled_from(["0" * 40, "main"]),
       st.dictionaries(st.sampled_from([v.CONFIG_FILE, v.TASK_FILE, v.WEIGHTS_FILE, "x.bin"]),
                       st.binary(max_size=100), max_size=4),
       st.sampled_from([None, OSError(28, "No space left", "/srv/hub/x"), ValueError("bad id /srv/x")]))  # fmt: skip
def test_fuzz_hub_fetch(repo: str, revision: str, files: dict[str, bytes], error: Exception | None) -> None:
    def download(**kwargs: object) -> str:
        if error is not None:
            raise error
        folder = Path(str(kwargs["local_dir"]))
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (folder / name).write_bytes(data)
        return str(folder)

    with tempfile.TemporaryDirectory() as tmp:
        outcome = value_or_refusal(
            lambda: fetch_hub_adapter(repo, revision, Path(tmp) / "d", download=download,
                                      sizes=lambda *a: {n: len(b) for n, b in files.items()}), Refused)  # fmt: skip
        if isinstance(outcome, Refused):
            assert_public(str(outcome))


# --------------------------------------------------------------------------------------------- prediction files


@st.composite
def _npy_bytes(draw: st.DrawFn) -> bytes:
    """A .npy file with a hostile header: odd shapes and dtypes, nesting, lies about the size, truncation."""
    shape = draw(st.one_of(st.tuples(st.integers(0, 2**40), st.integers(0, 2**40)),
                           st.tuples(st.integers(1, 8), st.integers(1, 8), st.integers(0, 5)),
                           st.lists(st.integers(-3, 10), max_size=4).map(tuple)))  # fmt: skip
    descr = draw(st.sampled_from(["<f4", "<f2", "|b1", "|u1", "|O", "<U4", "|V8", "<c8", "[('a', '<f4')]",
                                  "(" * 3000]))  # fmt: skip
    descr = descr if descr.startswith(("[", "(")) else repr(descr)
    order = draw(st.sampled_from(["False", "True", "1"]))
    header = f"{{'descr': {descr}, 'fortran_order': {order}, 'shape': {shape!r}, }}"
    if draw(st.booleans()):
        header = draw(st.sampled_from(["{" * 5000, "[" * 5000, draw(st.text(max_size=100))]))
    header += " " * (-(len(header) + 11) % 64) + "\n"
    raw = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header.encode("utf-8", "surrogatepass"))) + \
        header.encode("utf-8", "surrogatepass") + draw(st.binary(max_size=400))
    return raw[: draw(st.integers(0, len(raw)))] if draw(st.booleans()) else raw


@st.composite
def _png_bytes(draw: st.DrawFn) -> bytes:
    """A PNG: valid, truncated, bit-flipped, or with a huge declared size (IHDR width / height)."""
    buffer = io.BytesIO()
    mode = draw(st.sampled_from(["L", "1", "I;16", "RGB"]))
    Image.new(mode, (draw(st.integers(1, 9)), draw(st.integers(1, 9)))).save(buffer, format="PNG")
    raw = bytearray(buffer.getvalue())
    how = draw(st.sampled_from(["keep", "truncate", "flip", "huge"]))
    if how == "truncate":
        return bytes(raw[: draw(st.integers(0, len(raw)))])
    if how == "flip":
        raw[draw(st.integers(8, len(raw) - 1))] = draw(st.integers(0, 255))
    if how == "huge":
        raw[16:24] = struct.pack(">II", draw(st.integers(1, 2**31 - 1)), draw(st.integers(1, 2**31 - 1)))
    return bytes(raw)


@FUZZ
@given(st.sampled_from(["depth", "normal", "point_segmentation"]), st.data())
def test_fuzz_prediction_contents(task: str, data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_predictions(Path(tmp) / "p", task, n=1)
        target = next(f for f in sorted(folder.rglob("*")) if f.is_file() and f.name != p.PREDICTIONS_FILE)
        if target.suffix == ".npy" or data.draw(st.booleans()):
            target.with_suffix(".png").unlink(missing_ok=True)
            target.with_suffix(".npy").write_bytes(data.draw(_npy_bytes()))
        else:
            target.with_suffix(".png").write_bytes(data.draw(_png_bytes()))
        if data.draw(st.booleans()):
            (folder / p.PREDICTIONS_FILE).write_text(data.draw(hostile_json_text()), "utf-8", "surrogatepass")
        value_or_refusal(lambda: p.validate_predictions_folder(folder), PredictionsRefused)


_GOOD_PREDICTIONS: dict[str, bytes] = {}


def _good_predictions_zip() -> bytes:
    if "zip" not in _GOOD_PREDICTIONS:
        with tempfile.TemporaryDirectory() as tmp:
            zip_path = zip_tree(write_predictions(Path(tmp) / "p", "point_segmentation"), Path(tmp) / "p.zip")
            _GOOD_PREDICTIONS["zip"] = zip_path.read_bytes()
    return _GOOD_PREDICTIONS["zip"]


@FUZZ
@given(st.data())
def test_fuzz_prediction_zip(data: st.DataObject) -> None:
    raw = data.draw(_mangled_zip(_good_predictions_zip()))
    with tempfile.TemporaryDirectory() as tmp:
        value_or_refusal(lambda: p.validate_predictions_bytes(raw, Path(tmp) / "dest"), PredictionsRefused)


def test_a_valid_npy_still_passes(tmp_path: Path) -> None:
    folder = write_predictions(tmp_path / "p", "depth", n=1)
    np.save(folder / "depth" / "s0.npy", np.ones((4, 4), np.float32))
    assert p.validate_predictions_folder(folder).num_files == 1
