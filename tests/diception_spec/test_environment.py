"""Settings from environment variables: one parser, finite and bounded numbers, the variable named on refusal."""

from __future__ import annotations

import pytest

from diception_spec.environment import env_int, env_number, env_text


def test_unset_or_blank_gives_the_default() -> None:
    assert env_int({"D": " "}, "D", 7, minimum=1) == 7 and env_text({}, "X", "d") == "d"


def test_a_whole_number_may_be_written_with_a_point() -> None:
    assert env_int({"A": "5.0"}, "A", 1, minimum=1) == 5


@pytest.mark.parametrize(
    ("raw", "message"),
    [("inf", "a finite number"), ("nan", "a finite number"), ("-1", "at least 0"), ("x", "a number"),
     ("2.5", "a whole number")],
)
def test_bad_values_name_the_variable(raw: str, message: str) -> None:
    with pytest.raises(ValueError, match=f"^N must be {message}"):
        env_int({"N": raw}, "N", 1, minimum=0)


def test_above_refuses_the_bound_itself() -> None:
    with pytest.raises(ValueError, match="G must be greater than 0"):
        env_number({"G": "0"}, "G", 1.0, minimum=0.0, above=True)
