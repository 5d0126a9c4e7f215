"""Normal frames: one vocabulary (values, aliases) and the one sign-flip conversion."""

from __future__ import annotations

import numpy as np
import pytest

from diception_spec.normals import NormalFrame, convert_normal_frame


def test_aliases_parse_to_the_axis_named_frames() -> None:
    assert NormalFrame.parse("dsine") is NormalFrame.DSINE
    assert NormalFrame.parse("marigold").value == "x_right_y_up_z_viewer"
    assert NormalFrame.parse("OpenGL") is NormalFrame.MARIGOLD
    assert NormalFrame.parse("x_right_y_down_z_away") is NormalFrame.OPENCV


def test_unknown_frame_names_the_argument_and_the_known_frames() -> None:
    with pytest.raises(ValueError, match=r"normal_frame: unknown normal frame 'x_up'; known frames: .*dsine"):
        NormalFrame.parse("x_up", "normal_frame")


def test_conversion_flips_the_axes_and_is_its_own_inverse() -> None:
    n = np.array([[[0.6, 0.0, 0.8]]], np.float32)
    np.testing.assert_allclose(convert_normal_frame(n, "dsine", "marigold"), [[[-0.6, 0.0, 0.8]]], rtol=1e-6)
    np.testing.assert_allclose(convert_normal_frame(n, "marigold", "opencv"), [[[0.6, -0.0, -0.8]]], rtol=1e-6)
    back = convert_normal_frame(convert_normal_frame(n, "opencv", "dsine"), "dsine", "opencv")
    np.testing.assert_array_equal(back, n)
    assert convert_normal_frame(n, "dsine", "marigold").dtype == np.float32
