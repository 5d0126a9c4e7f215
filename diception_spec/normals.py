"""Normal-map frames: one vocabulary for the model config, the decoders, prepared benchmarks and prediction files.

A frame says how the three components of a camera-space normal are oriented. Values name the axes; the common names
of each frame are accepted as aliases when parsing (``marigold``, ``opengl``, ``dsine``, ``opencv``). Each dataset
and each model config states its frame; nothing is guessed per image. Encoding everywhere: rgb = (n + 1) / 2 with
x -> R, y -> G, z -> B (PROTOCOLS.md, "Surface normals").
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import Enum
from types import MappingProxyType
from typing import Any


class NormalFrame(str, Enum):
    MARIGOLD = "x_right_y_up_z_viewer"  # Marigold, StableNormal, diffusers, an OpenGL camera; the canonical frame
    DSINE = "x_left_y_up_z_viewer"  # DSINE's evaluation data: Marigold's frame with x flipped
    OPENCV = "x_right_y_down_z_away"  # an OpenCV camera

    @classmethod
    def parse(cls, value: str | NormalFrame, name: str = "frame") -> NormalFrame:
        """The frame for a value or an alias; unknown names raise ``ValueError`` naming ``name`` and the known ones."""
        if isinstance(value, NormalFrame):
            return value
        text = str(value).strip().lower()
        text = NORMAL_FRAME_ALIASES.get(text, text)
        try:
            return cls(text)
        except ValueError:
            known = ", ".join([*(f.value for f in cls), *NORMAL_FRAME_ALIASES])
            raise ValueError(f"{name}: unknown normal frame {value!r}; known frames: {known}") from None

    @property
    def signs(self) -> tuple[int, int, int]:
        """Per-axis signs that map a vector in this frame to the canonical (Marigold) frame and back."""
        return _SIGNS[self]


NORMAL_FRAME_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "marigold": NormalFrame.MARIGOLD.value,
        "opengl": NormalFrame.MARIGOLD.value,
        "dsine": NormalFrame.DSINE.value,
        "opencv": NormalFrame.OPENCV.value,
    }
)
_SIGNS: Mapping[NormalFrame, tuple[int, int, int]] = MappingProxyType(
    {NormalFrame.MARIGOLD: (1, 1, 1), NormalFrame.DSINE: (-1, 1, 1), NormalFrame.OPENCV: (1, -1, -1)}
)
CANONICAL_FRAME = NormalFrame.MARIGOLD  # decoded normals and metrics are always in this frame


def convert_normal_frame(normals: Any, source: str | NormalFrame, target: str | NormalFrame) -> Any:
    """Re-express normals ``[..., 3]`` given in frame ``source`` in frame ``target``: per-axis sign flips,
    ``n_target = s_target * s_source * n_source`` (each frame's signs are relative to the canonical frame, so a
    conversion is its own inverse). Returns a float32 numpy array (a new one unless nothing changes and the input is
    float32 already)."""
    import numpy as np  # here, not at import: the spec package stays light

    src, dst = NormalFrame.parse(source, "source"), NormalFrame.parse(target, "target")
    signs = np.asarray(src.signs, np.float32) * np.asarray(dst.signs, np.float32)  # [3]
    return (np.asarray(normals) * signs).astype(np.float32, copy=False)
