"""Prediction files: the layout a submitter uploads for a model we cannot run, which ``leaderboard.prediction_files``
validates (without torch, without opening a pickle) and ``evaluation.predictors.FilesPredictor`` scores::

    predictions.json                     required: what the files are (METADATA_KEYS)
    README.md                            optional: a model card (UTF-8)
    depth/<sample_id>.npy                float16/32/64 [H, W]: disparity or depth (``depth_kind``)
    depth/<sample_id>.png                16-bit grayscale PNG, divided by ``depth_scale`` when scored
    normal/<sample_id>.npy               float16/32/64 [H, W, 3] unit normals in ``normal_frame``
    masks/<sample_id>/<mask_id>.png      1-bit or 8-bit grayscale PNG, binary (0/1 or 0/255): one per ground-truth mask
    masks/<sample_id>/<mask_id>.npy      bool, or uint8 / float with binary values

A prediction has the size of the sample's image, except where the benchmark fixes another
(``BenchmarkSpec.prediction_size``: KITTI's 352 x 1216 benchmark crop).

``predictions.json``, e.g.::

    {"format_version": 1, "task": "depth", "benchmarks": ["nyuv2"], "depth_kind": "disparity", "depth_scale": 1000}
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from diception_spec.errors import Refused
from diception_spec.normals import NormalFrame
from diception_spec.tasks import Task

FORMAT_VERSION = 1
PREDICTIONS_FILE = "predictions.json"
CARD_FILE = "README.md"
METADATA_KEYS: tuple[str, ...] = ("format_version", "task", "benchmarks", "depth_kind", "depth_scale", "normal_frame")
DEPTH_KINDS: tuple[str, ...] = ("disparity", "depth")  # what a depth file holds: disparity (1 = near) or depth
DEFAULT_DEPTH_KIND = "disparity"
DEFAULT_DEPTH_SCALE = 1000.0  # divisor of 16-bit depth PNG values
DEFAULT_NORMAL_FRAME = NormalFrame.MARIGOLD
# The tasks prediction files can be scored for, and the folder holding each one's files and their suffixes.
TASK_FOLDERS: Mapping[Task, str] = MappingProxyType(
    {Task.DEPTH: "depth", Task.NORMAL: "normal", Task.POINT_SEGMENTATION: "masks"}
)
FOLDER_SUFFIXES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {"depth": (".npy", ".png"), "normal": (".npy",), "masks": (".png", ".npy")}
)
LAYOUT = (f"{PREDICTIONS_FILE}, {CARD_FILE}, depth/<sample_id>.npy|.png, normal/<sample_id>.npy, "
          "masks/<sample_id>/<mask_id>.png|.npy")  # fmt: skip


class PredictionsRefused(Refused):
    """A prediction upload breaks the format; the message says which file and why (shown to the submitter)."""
