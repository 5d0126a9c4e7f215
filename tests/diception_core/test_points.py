"""Point prompts: IDS.md pixels -> normalised -> the model's 5 slots in its configured order."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diception_core.points import (
    is_point_set_list,
    normalize_points,
    parse_points,
    parse_points_json,
    points_to_slots,
)
from diception_spec.errors import Refused


def test_parse_points_takes_numbers() -> None:
    assert parse_points([[412, 230], [455, 260]]).tolist() == [[412.0, 230.0], [455.0, 260.0]]
    assert parse_points(np.array([[1.5, 2.0]])).tolist() == [[1.5, 2.0]]


def test_parse_points_refuses_text() -> None:
    # JSON is the app's (and the CLI's) edge format; the core takes numbers only.
    with pytest.raises(ValueError, match="not text|got text"):
        parse_points("[[412, 230], [455, 260]]")


def test_the_edges_json_format_parses_to_numbers() -> None:
    assert parse_points_json("[[412, 230], [455, 260]]").tolist() == [[412.0, 230.0], [455.0, 260.0]]
    assert parse_points_json(None).shape == (0, 2) and parse_points_json(" ").shape == (0, 2)
    for bad in ("not json", "[[1, 2]", "[" * 20_000):
        with pytest.raises(Refused, match="points"):
            parse_points_json(bad)


def test_parse_points_empty_inputs_give_no_points() -> None:
    for empty in (None, [], np.zeros((0, 2))):
        assert parse_points(empty).shape == (0, 2)


@pytest.mark.parametrize("bad", [[[1, 2, 3]], "not json", [[1, float("nan")]], [[1, float("inf")]], [["a", "b"]]])
def test_parse_points_rejects_malformed(bad) -> None:
    with pytest.raises(ValueError, match="points"):
        parse_points(bad)


def test_more_than_five_points_is_an_error() -> None:
    with pytest.raises(ValueError, match="at most 5"):
        parse_points([[i, i] for i in range(6)])


def test_out_of_range_pixel_point_is_an_error() -> None:
    with pytest.raises(ValueError, match="outside the 100x50 image"):
        normalize_points([[10, 50]], width=100, height=50)


def test_normalized_option_checks_unit_range() -> None:
    assert normalize_points([[0.5, 0.25]], 100, 50, normalized=True).tolist() == [[0.5, 0.25]]
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        normalize_points([[1.5, 0.25]], 100, 50, normalized=True)


def test_pixels_normalise_by_width_and_height() -> None:
    assert normalize_points([[25, 10]], width=100, height=50).tolist() == [[0.25, 0.2]]


def test_slots_default_order_is_row_col() -> None:
    coords, labels = points_to_slots(np.array([[0.25, 0.75]]), order="yx")
    assert coords[0].tolist() == [0.75, 0.25]
    assert labels.tolist() == [1, 0, 0, 0, 0]
    assert torch.count_nonzero(coords[1:]) == 0


def test_slots_xy_order_keeps_x_first() -> None:
    coords, _ = points_to_slots(np.array([[0.25, 0.75]]), order="xy")
    assert coords[0].tolist() == [0.25, 0.75]


def test_point_set_list_detection() -> None:
    assert not is_point_set_list([[1, 2], [3, 4]])
    assert is_point_set_list([[[1, 2]], [[3, 4], [5, 6]]])
    assert is_point_set_list(np.zeros((2, 1, 2)))
    assert not is_point_set_list("[[[1, 2]]]")  # text is never a point set list
