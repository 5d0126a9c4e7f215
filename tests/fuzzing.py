"""Shared setup of the property-based (fuzz) tests: a bounded example count, no example database, and the one
assertion every parser of user input must pass: it returns a value or raises the project's refusal, nothing else."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# A few seconds per test on a shared 2-core machine (FUZZ_EXAMPLES=600 for a deeper local run); no example database;
# derandomized, so a run is deterministic (FUZZ_RANDOM=1 explores new examples locally; pin what it finds with
# @example).
FUZZ = settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "50")), deadline=None, database=None,
                derandomize=not os.environ.get("FUZZ_RANDOM"), suppress_health_check=[HealthCheck.too_slow])

# JSON-like values, nested a little.
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@st.composite
def hostile_json_text(draw: st.DrawFn) -> str:
    """JSON-ish text built to break parsers: deep nesting, long numbers, truncation, NaN, duplicates, junk."""
    kind = draw(st.sampled_from(["deep", "deep_object", "long_number", "truncated", "constants", "duplicate", "junk"]))
    if kind == "deep":
        depth = draw(st.integers(60, 200_000))
        return "[" * depth + "]" * draw(st.sampled_from([depth, 0, depth // 2]))
    if kind == "deep_object":
        depth = draw(st.integers(60, 50_000))
        return '{"a":' * depth + "1" + "}" * depth
    if kind == "long_number":
        return "[" + "9" * draw(st.integers(4000, 20_000)) + "]"
    if kind == "truncated":
        import json

        text = json.dumps(draw(json_values))
        return text[: draw(st.integers(0, max(0, len(text) - 1)))]
    if kind == "constants":
        return draw(st.sampled_from(["[NaN]", "[Infinity]", "[-Infinity]", '{"a": NaN}']))
    if kind == "duplicate":
        return '{"a": 1, "a": 2}'
    return draw(st.text(max_size=200))


def value_or_refusal(parse: Callable[[], Any], refusal: type[BaseException]) -> Any:
    """Run ``parse``; a ``refusal`` (with a message) is fine, a value is fine, anything else fails the test."""
    try:
        return parse()
    except refusal as exc:
        assert str(exc).strip(), f"{type(exc).__name__} without a message"
        return exc


def assert_public(text: str) -> None:
    """Text shown to a submitter holds no absolute path, no host name and no traceback."""
    import re
    import socket

    assert "Traceback" not in text, text
    assert not re.search(r"(?<![\w.:/])/(?:tmp|srv|home|root|var|usr|etc|work|data)\b", text), text
    assert not re.search(rf"\b{re.escape(socket.gethostname())}\b", text), text
