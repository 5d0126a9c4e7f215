"""Click bookkeeping: add, undo, clear, the 6th click, a new upload, click -> pixel mapping."""

from __future__ import annotations

import json

import pytest

from diception_app import clicks
from diception_spec.tasks import MAX_POINTS


def test_add_undo_clear_round_trip():
    points: clicks.Points = []
    for x, y in [(10, 20), (30, 40)]:
        update = clicks.add_point(points, [x, y])
        assert update.warning is None
        points = update.points
    assert points == [[10, 20], [30, 40]]
    assert clicks.undo_point(points) == [[10, 20]]
    assert clicks.undo_point([]) == []
    assert clicks.clear_points() == []
    assert clicks.points_for_new_image() == []


def test_functions_do_not_mutate_their_input():
    points = [[1, 2]]
    clicks.add_point(points, [3, 4])
    clicks.undo_point(points)
    assert points == [[1, 2]]


def test_sixth_click_is_refused_with_a_warning_not_dropped_silently():
    points = [[i, i] for i in range(MAX_POINTS)]
    update = clicks.add_point(points, [99, 99])
    assert update.points == points
    assert update.warning and f"at most {MAX_POINTS}" in update.warning
    text = clicks.counter_text(update.points, update.warning)
    assert f"{MAX_POINTS} / {MAX_POINTS}" in text and "Not added" in text


def test_counter_text_shows_n_of_5():
    assert "0 / 5" in clicks.counter_text([])
    assert "2 / 5" in clicks.counter_text([[1, 2], [3, 4]]) and "(3, 4)" in clicks.counter_text([[1, 2], [3, 4]])


def test_json_round_trip_in_ids_format():
    points = [[412, 230], [455, 260]]
    text = clicks.points_to_json(points)
    assert json.loads(text) == points
    assert clicks.points_from_json(text) == points
    assert clicks.points_from_json("") == clicks.points_from_json(None) == clicks.points_from_json("[]") == []


@pytest.mark.parametrize("bad", ["[[1, 2", "[1, 2, 3]", "[[1, 2, 3]]", json.dumps([[0, 0]] * 6), "[[NaN, 1]]"])
def test_malformed_points_raise(bad):
    with pytest.raises(ValueError, match="points"):
        clicks.points_from_json(bad)


def test_click_to_pixel_clamps_the_last_row_and_column():
    assert clicks.click_to_pixel([5, 7], 100, 50) == [5, 7]
    assert clicks.click_to_pixel([100, 50], 100, 50) == [99, 49]
    assert clicks.click_to_pixel((-1, 3.6), 100, 50) == [0, 4]
    with pytest.raises(ValueError, match="click"):
        clicks.click_to_pixel(None, 100, 50)


def test_points_inside_drops_points_of_another_image():
    assert clicks.points_inside([[5, 5], [200, 5], [5, 80]], 100, 50) == [[5, 5]]
