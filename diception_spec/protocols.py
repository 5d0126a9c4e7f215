"""Evaluation protocols: ids, versions, the tasks they apply to, whether they are ranked, and their settings
(``../shared/reference/PROTOCOLS.md``; ids from ``IDS.md``). Every result row records the protocol it was produced
under, and rows under different protocols are never ranked together.

The click simulation, alignment and aggregation code that implements a protocol lives in ``evaluation``; this module
only says what each protocol is, so the leaderboard can read it without importing the evaluation.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from diception_spec.tasks import Task

__all__ = ["PROTOCOLS", "ProtocolSpec", "get_protocol", "stable_seed"]


@dataclass(frozen=True)
class ProtocolSpec:
    id: str
    version: str
    tasks: tuple[Task, ...]
    description: str
    ranked: bool = True  # False: numbers shown as reported, never ranked (paper figures, ground-truth-assisted)
    settings: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __hash__(self) -> int:  # settings is an unhashable mapping; the id and version identify a protocol
        return hash((self.id, self.version))


def _p(id: str, version: str, tasks: tuple[Task, ...], description: str, ranked: bool = True, **settings: Any):
    return id, ProtocolSpec(id, version, tasks, description, ranked, MappingProxyType(settings))


_SEG = (Task.POINT_SEGMENTATION,)

PROTOCOLS: Mapping[str, ProtocolSpec] = MappingProxyType(
    dict(
        [
            _p(
                "sam-center-click", "1", _SEG,
                "Click 1 at the padded-mask distance-transform centre, then clicks in the larger error region "
                "(positive or negative); IoU after 1, 2, 3, 5 and 9 clicks; highest-predicted-IoU mask.",
                clicks=(1, 2, 3, 5, 9), positive_only=False, multimask="best_predicted",
            ),
            _p(
                "sam-center-click-positive-only", "1", _SEG,
                "sam-center-click with every next click from the false-negative region (models without negative "
                "points; DICEPTION, at most 5).",
                clicks=(1, 2, 3, 5), positive_only=True, multimask="best_predicted",
            ),
            _p(
                "sam-center-click-oracle", "1", _SEG,
                "sam-center-click scoring the best of a multi-output model's masks (oracle).",
                clicks=(1, 2, 3, 5, 9), positive_only=False, multimask="oracle",
            ),
            _p(
                "random-points", "1", _SEG,
                "k in-mask points drawn uniformly at the original resolution, fixed seed per mask.",
                points=5,
            ),
            _p(
                "diception-paper", "1", _SEG,
                "Numbers printed in the DICEPTION paper (up to 5 unseeded points at 768x768); shown as reported.",
                ranked=False,
            ),
            _p(
                "genpercept-affine", "1", (Task.DEPTH,),
                "Per-image least-squares scale-and-shift alignment in depth or disparity space, clipped to the "
                "dataset's range; AbsRel, delta1-3, RMSE; mean over images. The row records the alignment.",
                alignments=("depth", "disparity"),
            ),
            _p(
                "depth-anything-disparity", "1", (Task.DEPTH,),
                "Depth Anything's tables: aligned and scored in disparity space, never converted back.",
            ),
            _p(
                "stablenormal", "1", (Task.NORMAL,),
                "Angular errors pooled over all valid pixels of all images.", aggregation="pooled",
            ),
            _p(
                "dsine", "1", (Task.NORMAL,),
                "Angular errors pooled over all valid pixels of all images.", aggregation="pooled",
            ),
            _p(
                "marigold-normals", "1", (Task.NORMAL,),
                "Angular-error metrics per image, then averaged over images.", aggregation="per_image",
            ),
            _p(
                "coco-keypoints", "1", (Task.POSE,),
                "pycocotools keypoint OKS AP; joint identities from the prediction alone.",
            ),
            _p(
                "painter-topdown", "1", (Task.POSE,),
                "The paper's pose numbers: top-down crops, identities taken from the nearest ground-truth keypoint "
                "(ground-truth assisted); shown as reported.",
                ranked=False,
            ),
            _p(
                "class-agnostic-cocoeval", "1", (Task.ENTITY_SEGMENTATION,),
                "Non-crowd panoptic segments as entities, all category ids set to 1, pycocotools segm; AP and AR by "
                "size.",
            ),
            _p(
                "coco-instance", "1", (Task.SEMANTIC_SEGMENTATION,),
                "pycocotools segm AP of the instances predicted for each category prompt.",
            ),
        ]
    )
)


def get_protocol(protocol_id: str) -> ProtocolSpec:
    """The spec of ``protocol_id``; unknown ids raise ``KeyError`` with the list of known ones."""
    try:
        return PROTOCOLS[protocol_id]
    except KeyError:
        known = ", ".join(PROTOCOLS)
        raise KeyError(f"protocol: unknown protocol {protocol_id!r}; known protocols: {known}") from None


def stable_seed(*parts: object) -> int:
    """A 63-bit seed from a stable hash of ``parts`` (sha256 of their ``str``s joined by U+001F); unlike ``hash()``
    it is the same in every process and on every machine."""
    text = "\x1f".join(str(p) for p in parts)
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big") >> 1
