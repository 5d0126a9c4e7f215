"""The one reader of user JSON: the value, or a Refused naming the input; never a parser's own exception."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from diception_spec.errors import Refused
from diception_spec.json_input import MAX_DEPTH, parse_json, parse_json_object, too_deep
from tests.fuzzing import FUZZ, hostile_json_text, json_values, value_or_refusal


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    # Issue 12, item 1: 10^5 nested arrays crashed every user-JSON reader with RecursionError.
    raw = '{"a":' + "[" * 10**5 + "]" * 10**5 + "}"
    with pytest.raises(Refused, match=f"adapter_config.json: .*nested more than {MAX_DEPTH} levels"):
        parse_json(raw, name="adapter_config.json")


def test_the_depth_limit_is_exact_and_strings_do_not_count() -> None:
    assert parse_json("[" * MAX_DEPTH + "]" * MAX_DEPTH, name="x") is not None
    with pytest.raises(Refused, match="nested"):
        parse_json("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), name="x")
    assert parse_json(json.dumps({"a": "[" * 1000, "b": "\\\"[{"}), name="x")["a"] == "[" * 1000
    assert not too_deep('["\\"[[[[", 1]', limit=2)


def test_an_over_long_integer_is_refused() -> None:
    with pytest.raises(Refused, match="too many digits"):
        parse_json("[" + "9" * 5000 + "]", name="predictions.json")


def test_strictness_rules() -> None:
    for raw, match in (('{"a": 1, "a": 2}', "duplicate key"), ("[NaN]", "NaN"), (b"\xff\xfe", "UTF-8"),
                       ("[1,", "not valid JSON"), ("x" * 11, "limit is 10")):  # fmt: skip
        with pytest.raises(Refused, match=match):
            parse_json(raw, name="f", max_bytes=10 if match.startswith("limit") else None)
    with pytest.raises(Refused, match="must hold a JSON object"):
        parse_json_object("[]", name="f")


class _Mine(Refused):
    pass


@FUZZ
@given(st.one_of(hostile_json_text(), st.binary(max_size=300), st.text(max_size=300)))
def test_fuzz_any_input_gives_a_value_or_the_callers_refusal(raw: str | bytes) -> None:
    outcome = value_or_refusal(lambda: parse_json(raw, name="f.json", refusal=_Mine), _Mine)
    if isinstance(outcome, Refused):
        assert str(outcome).startswith("f.json: ")


@FUZZ
@given(json_values)
def test_fuzz_valid_json_round_trips(value: object) -> None:
    assert parse_json(json.dumps(value), name="f") == json.loads(json.dumps(value))
