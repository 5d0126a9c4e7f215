"""The one strict reader of JSON that users write (``diception_task.json``, ``adapter_config.json``,
``predictions.json``, safetensors headers, point prompts, fine-tuning manifests): the parsed value, or a
:class:`~diception_spec.errors.Refused` that names the file and what is wrong.

Strict means: UTF-8, no duplicate keys (a second value would silently win), no ``NaN`` / ``Infinity``, integers of at
most 4,300 digits (Python's limit), arrays and objects nested at most :data:`MAX_DEPTH` levels (checked on the
text before parsing, so deep nesting is refused instead of exhausting the interpreter's recursion limit), and the
caller's size limit checked before anything else.
"""

from __future__ import annotations

import json
import re
from typing import Any

from diception_spec.errors import Refused

MAX_DEPTH = 64  # nesting of arrays and objects; every format here needs fewer than 5 levels

# Escapes (two characters), quotes and brackets: everything the depth scan needs to see.
_STRUCTURE = re.compile(r'\\.|["\[\]{}]', re.DOTALL)


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def too_deep(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether ``[`` / ``{`` outside strings nest more than ``limit`` levels in ``text``. Linear in the text, no
    recursion, stops at the first level too deep; for invalid JSON the answer is a guess (the parser refuses it)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    in_string = False
    for match in _STRUCTURE.finditer(text):
        token = match.group()
        if token == '"':
            in_string = not in_string
        elif in_string or len(token) == 2:
            continue
        elif token in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def parse_json(
    raw: bytes | str,
    *,
    name: str,
    max_bytes: int | None = None,
    refusal: type[Refused] = Refused,
    max_depth: int = MAX_DEPTH,
) -> Any:
    """``raw`` parsed strictly; every problem raises ``refusal`` (a ``Refused`` subclass) as ``"<name>: <reason>"``.

    Never raises anything else for any ``raw`` (bytes or text): not ``RecursionError``, not ``MemoryError`` from the
    parser, not the ``json`` module's own errors.
    """
    if not isinstance(raw, bytes | bytearray | str):
        raise TypeError(f"raw: expected bytes or str, got {type(raw).__name__}")  # a caller's bug, not the user's
    if max_bytes is not None and len(raw) > max_bytes:
        raise refusal(f"{name}: {len(raw):,} bytes; the limit is {max_bytes:,}")
    try:
        text = bytes(raw).decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
    except UnicodeDecodeError:
        raise refusal(f"{name}: is not UTF-8 text") from None
    if too_deep(text, max_depth):
        raise refusal(f"{name}: arrays and objects are nested more than {max_depth} levels deep")

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        obj: dict[str, Any] = {}
        for key, value in pairs:
            if key in obj:
                raise refusal(f"{name}: duplicate key {_short(key)!r}")
            obj[key] = value
        return obj

    def no_constants(constant: str) -> Any:
        raise refusal(f"{name}: {constant} is not valid JSON")

    try:
        return json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constants)
    except Refused:
        raise
    except json.JSONDecodeError as exc:
        raise refusal(f"{name}: is not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except (RecursionError, MemoryError):  # the depth check makes these unreachable; kept as a last line
        raise refusal(f"{name}: too deeply nested or too large to read") from None
    except ValueError:  # the only other one: Python's limit on the digits of an integer
        raise refusal(f"{name}: holds a number with too many digits (at most 4,300)") from None


def parse_json_object(
    raw: bytes | str,
    *,
    name: str,
    max_bytes: int | None = None,
    refusal: type[Refused] = Refused,
    max_depth: int = MAX_DEPTH,
) -> dict[str, Any]:
    """Like :func:`parse_json`, and the value must be a JSON object."""
    data = parse_json(raw, name=name, max_bytes=max_bytes, refusal=refusal, max_depth=max_depth)
    if not isinstance(data, dict):
        raise refusal(f"{name}: must hold a JSON object")
    return data
