"""The one strict reader of JSON that users write (``diception_task.json``, ``adapter_config.json``,
``predictions.json``, safetensors headers): the parsed value, or a :class:`~diception_spec.errors.Refused` that names
the file and what is wrong.

Strict means: UTF-8, no duplicate keys (a second value would silently win), no ``NaN`` / ``Infinity``, and the
caller's size limit checked before parsing.
"""

from __future__ import annotations

import json
from typing import Any

from diception_spec.errors import Refused


def _short(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def parse_json(raw: bytes | str, *, name: str, max_bytes: int | None = None, refusal: type[Refused] = Refused) -> Any:
    """``raw`` parsed strictly; every problem raises ``refusal`` (a ``Refused`` subclass) as ``"<name>: <reason>"``."""
    if max_bytes is not None and len(raw) > max_bytes:
        raise refusal(f"{name}: {len(raw):,} bytes; the limit is {max_bytes:,}")

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
        text = raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw
        return json.loads(text, object_pairs_hook=no_duplicates, parse_constant=no_constants)
    except UnicodeDecodeError:
        raise refusal(f"{name}: is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise refusal(f"{name}: is not valid JSON ({exc.msg} at line {exc.lineno})") from None


def parse_json_object(
    raw: bytes | str, *, name: str, max_bytes: int | None = None, refusal: type[Refused] = Refused
) -> dict[str, Any]:
    """Like :func:`parse_json`, and the value must be a JSON object."""
    data = parse_json(raw, name=name, max_bytes=max_bytes, refusal=refusal)
    if not isinstance(data, dict):
        raise refusal(f"{name}: must hold a JSON object")
    return data
