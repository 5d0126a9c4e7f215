"""User input to the core (point prompts, image bytes, the predict CLI's --points, fine-tuning manifests): the value
or a ValueError-family refusal with a message, never another exception (property tests)."""

from __future__ import annotations

import io
import json
import struct
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import example, given
from hypothesis import strategies as st
from PIL import Image

from diception_core.cli import _parse_cli_points
from diception_core.finetune.data import DataError, find_pairs
from diception_core.image_io import ImageInputError, load_rgb
from diception_core.points import is_point_set_list, parse_points
from tests.fuzzing import FUZZ, hostile_json_text, json_values, value_or_refusal

_numbers = st.one_of(st.integers(min_value=-(10**400), max_value=10**400), st.floats(), st.text(max_size=3),
                     st.booleans(), st.none())  # fmt: skip
_point_lists = st.lists(st.lists(_numbers, max_size=3), max_size=7)


@FUZZ
@given(st.one_of(hostile_json_text(), _point_lists.map(lambda p: json.dumps(p, default=str)), st.text(max_size=50),
                 _point_lists))  # fmt: skip
def test_fuzz_points(points: object) -> None:
    value = value_or_refusal(lambda: parse_points(points), ValueError)  # type: ignore[arg-type]
    if isinstance(value, np.ndarray):
        assert value.ndim == 2 and value.shape[1] == 2 and len(value) <= 5 and np.isfinite(value).all()
    assert isinstance(is_point_set_list(points), bool)


def test_points_with_a_huge_integer_are_refused() -> None:
    outcome = value_or_refusal(lambda: parse_points("[[1" + "0" * 400 + ", 2]]"), ValueError)
    assert isinstance(outcome, ValueError) and "points" in str(outcome)


@FUZZ
@given(st.one_of(hostile_json_text(), st.text(max_size=60)))
def test_fuzz_cli_points(text: str) -> None:
    value_or_refusal(lambda: _parse_cli_points(text), ValueError)


def _png(size: tuple[int, int] = (5, 4), mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, format="PNG")
    return buffer.getvalue()


@st.composite
def _image_bytes(draw: st.DrawFn) -> bytes:
    fmt = draw(st.sampled_from(["PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF"]))
    buffer = io.BytesIO()
    mode = "RGB" if fmt == "JPEG" else draw(st.sampled_from(["RGB", "L", "RGBA", "P", "I;16"] if fmt == "PNG" else
                                                            ["RGB", "L"]))  # fmt: skip
    Image.new(mode, (draw(st.integers(1, 12)), draw(st.integers(1, 12)))).save(buffer, format=fmt)
    raw = bytearray(buffer.getvalue())
    how = draw(st.sampled_from(["keep", "truncate", "flip", "huge", "random"]))
    if how == "truncate":
        return bytes(raw[: draw(st.integers(0, len(raw)))])
    if how == "flip":
        for _ in range(draw(st.integers(1, 6))):
            raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
    if how == "huge" and fmt == "PNG":  # IHDR width / height
        raw[16:24] = struct.pack(">II", draw(st.integers(1, 2**31 - 1)), draw(st.integers(1, 2**31 - 1)))
    if how == "random":
        return draw(st.binary(max_size=200))
    return bytes(raw)


@FUZZ
@given(_image_bytes())
@example(raw=b"\x89PNG\r\n\x1a\n\x00\x00\x00\x00IHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS"
              b"\xde\x00\x00\x00\x0cIDATx\x9cc```\x00\x00\x00\x04\x00\x01\xf6\x178U\x00\x00\x00\x00IEND"
              b"\xaeB`\x82")  # a zero-length IHDR: PIL raised a bare ValueError ("Truncated IHDR chunk")
def test_fuzz_image_bytes(raw: bytes) -> None:
    value = value_or_refusal(lambda: load_rgb(raw, max_pixels=10_000), ImageInputError)
    if isinstance(value, np.ndarray):
        assert value.dtype == np.uint8 and value.ndim == 3 and value.shape[2] == 3


@FUZZ
@given(st.one_of(hostile_json_text(), json_values.map(json.dumps)), st.booleans())
def test_fuzz_finetune_manifest(text: str, lines: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / ("manifest.jsonl" if lines else "manifest.json")).write_text(text, "utf-8", "surrogatepass")
        value_or_refusal(lambda: find_pairs(root), DataError)


def test_a_good_png_still_loads() -> None:
    assert load_rgb(_png(), max_pixels=100).shape == (4, 5, 3)
