"""The model's saved settings: everything a caller would otherwise hard-code (defaults, point order, thresholds).

Saved as ``diception_config.json`` in a model folder. Defaults follow ``../shared/reference/DICEPTION_MODEL.md``;
where the release is ambiguous the choice is a setting here, with the release's behaviour named.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from diception_spec.normals import NormalFrame

CONFIG_NAME = "diception_config.json"
CONFIG_VERSION = 1

POINT_ORDERS = ("yx", "xy")
RESAMPLINGS = ("bilinear-antialias", "lanczos")
LATENT_MODES = ("mode", "sample")
POINT_DTYPES = ("bfloat16", "float32", "float16")


@dataclass(frozen=True)
class DiceptionConfig:
    """Settings of one DICEPTION model folder."""

    # Image size the transformer was trained at; inputs are stretched to a square of this side.
    resolution: int = 768
    # Input/output resize: the evaluation path's bilinear antialiased resize (default) or the single-image LANCZOS.
    resampling: str = "bilinear-antialias"
    # Order of the two coordinates fed to the point encoder: the evaluation collator's (row, col) = "yx" by default.
    point_order: str = "yx"
    # dtype of the point encoding (coordinates, gaussian matrix, Fourier product); the release runs it in bf16.
    point_dtype: str = "bfloat16"
    # Image-condition latents: the VAE posterior's mode (deterministic, ours) or a sample (the release).
    latent_mode: str = "mode"
    # Frame the normal output is read in (a diception_spec.normals.NormalFrame value or alias).
    normal_frame: str = "marigold"
    mask_threshold: float = 0.5
    default_steps: int = 28
    default_guidance: float = 2.0
    default_seed: int = 42
    # Inputs with more pixels than this are refused (decompression bombs); 40 MP covers phone cameras.
    max_input_pixels: int = 40_000_000
    # Warn when max(w, h) / min(w, h) exceeds this: the model stretches every image to a square.
    extreme_aspect_ratio: float = 2.5
    # Provenance, shown with every result.
    base_model_id: str = "stabilityai/stable-diffusion-3-medium-diffusers"
    base_revision: str = "unknown"
    checkpoint_id: str = "Canyu/DICEPTION"
    checkpoint_file: str = "DICEPTION_v1.pth"
    checkpoint_revision: str = "unknown"
    model_revision: str = "unknown"  # content hash of the converted folder's weights
    # Where the text encoders come from when a prompt is not cached (a Hub id or folder in diffusers layout).
    text_encoder_source: str | None = None
    untrained: bool = False  # True for the tiny preset: outputs are noise
    config_version: int = CONFIG_VERSION
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        checks = (
            ("point_order", self.point_order, POINT_ORDERS),
            ("resampling", self.resampling, RESAMPLINGS),
            ("latent_mode", self.latent_mode, LATENT_MODES),
            ("point_dtype", self.point_dtype, POINT_DTYPES),
        )
        for name, value, allowed in checks:
            if value not in allowed:
                raise ValueError(f"{name}: {value!r} is not one of {', '.join(allowed)}")
        NormalFrame.parse(self.normal_frame, "normal_frame")
        if self.resolution <= 0 or self.resolution % 16:
            raise ValueError(f"resolution: {self.resolution} must be a positive multiple of 16")
        if not 0.0 < self.mask_threshold < 1.0:
            raise ValueError(f"mask_threshold: {self.mask_threshold} must lie in (0, 1)")

    def replace(self, **changes: Any) -> DiceptionConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, folder: str | Path) -> Path:
        path = Path(folder) / CONFIG_NAME
        path.write_text(json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return path

    @classmethod
    def load(cls, folder: str | Path) -> DiceptionConfig:
        path = Path(folder) / CONFIG_NAME
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: not a DICEPTION model folder (run `python -m diception_core "
                                    "convert` to make one)")
        data = json.loads(path.read_text(encoding="utf-8"))
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"{path}: unknown settings {unknown}; this library knows {sorted(known)}")
        return cls(**data)
