"""Benchmarks: named, versioned, frozen specs, addressed as (task, benchmark id), and the registry of them.

Ids follow ``../shared/reference/IDS.md``; protocols, crops, ranges and sample counts follow ``PROTOCOLS.md`` and
``sam23_datasets.csv``. A spec says what is scored (task, protocols, metrics, main metric), on which data (version,
data revision, sample counts, depth / normal rules, the prediction size a prediction file must have) and where the
data comes from (source, licence, expected native layout, checksums). Checksums are ``None`` where no published
checksum is known; a prepared folder's manifest records the sha256 of every file it holds instead. URLs and licences
were written down from the papers and the projects' references without network access: every real source is
``verified=False`` until someone checks it against the live site (and flips the flag); ``url=None`` means no URL is
recorded here yet.

Tiers: every benchmark offers ``quick`` (about 50 items per dataset), ``standard`` (about 500) and ``full`` (as
published); :func:`select_tier` picks a fixed-seed subset, nested (quick ⊂ standard ⊂ full).

Ranking: the leaderboard shows a benchmark as a column and ranks it when its spec is ``ranked``; the smoke benchmark
and a submitter's own test split (ids starting with :data:`USER_SPLIT_PREFIX`) are scored but never ranked.

To add a benchmark: one spec in the lists below (or :func:`register_benchmark` at runtime, e.g. in a test); the
evaluation registry, the leaderboard's columns and the prediction-file validation follow. The evaluation module adds
what needs numpy or data on disk (crops, valid masks, user splits, loaders).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, is_dataclass, replace
from enum import Enum
from types import MappingProxyType
from typing import Any

from diception_spec.metrics import METRICS
from diception_spec.normals import NormalFrame
from diception_spec.protocols import PROTOCOLS, stable_seed
from diception_spec.registry import Registry
from diception_spec.tasks import Task

__all__ = [
    "BENCHMARKS",
    "BenchmarkSpec",
    "DataSource",
    "DepthRules",
    "NormalRules",
    "OWN_SPLIT_LABEL",
    "SA23_DATASETS",
    "TIERS",
    "TASK_SCORING_DEFAULTS",
    "TIER_SIZES",
    "Tier",
    "USER_SPLIT_PREFIX",
    "UnknownBenchmarkError",
    "aggregate_members",
    "benchmark_order",
    "get_benchmark",
    "is_ranked_benchmark",
    "list_benchmarks",
    "unranked_benchmark_ids",
    "register_benchmark",
    "registered_benchmark",
    "select_tier",
]


class Tier(str, Enum):
    QUICK = "quick"
    STANDARD = "standard"
    FULL = "full"


TIERS: tuple[str, ...] = tuple(t.value for t in Tier)
TIER_SIZES: Mapping[str, int | None] = MappingProxyType({"quick": 50, "standard": 500, "full": None})
OWN_SPLIT_LABEL = "own test split"
USER_SPLIT_PREFIX = "user:"  # a submitter's own test split (ADAPTER_FORMAT.md): scored, never ranked


class UnknownBenchmarkError(KeyError, ValueError):
    """An unknown or ambiguous benchmark name; catchable as ``KeyError`` or ``ValueError``."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


# --------------------------------------------------------------------------------------------------------------------
# Spec types
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DataSource:
    url: str | None  # where to get the data; None when not recorded
    licence: str
    layout: str  # the expected native folder layout the converter reads
    checksums: Mapping[str, str] | None = None  # file -> sha256; None: no published checksum known
    verified: bool = False  # url / licence checked against the live site
    notes: str = ""


@dataclass(frozen=True)
class DepthRules:
    decode: str  # how ground truth is decoded to metres
    min_depth: float  # the aligned prediction is clipped to [min_depth, max_depth]
    max_depth: float | None  # None: no upper clip
    valid_above: float | None  # valid where d > valid_above
    valid_below: float | None  # valid where d < valid_below
    eval_crop: str | None = None  # "eigen_nyu" | "eigen_kitti" | None (see eval_crop_mask)
    kb_crop: bool = False  # KITTI benchmark crop to 352 x 1216 before prediction (evaluation's kb_crop_box)
    mask_file: bool = False  # the dataset's own mask file is the valid mask
    fit_max_side: int | None = None  # the prediction is made and aligned at this max side
    notes: str = ""


@dataclass(frozen=True)
class NormalRules:
    frame: NormalFrame  # the frame the prepared ground truth is in
    decode: str
    valid_rule: str


@dataclass(frozen=True)
class BenchmarkSpec:
    id: str
    task: Task | str  # a Task for registered benchmarks; a user split may name a new task
    version: str
    data_revision: str
    title: str  # the long name, e.g. "KITTI Eigen test"
    domain: str
    protocols: tuple[str, ...]
    default_protocol: str
    main_metric: str
    metrics: tuple[str, ...]
    item: str  # what one scored item is: "mask", "image", "person image"
    num_samples: int | None  # items in the full set as published (None: unknown / user split)
    num_images: int | None
    source: DataSource
    tiers: Mapping[str, int | None] = field(default_factory=lambda: TIER_SIZES)
    members: tuple[str, ...] = ()  # an aggregate's member benchmark ids (sa23); its score is their unweighted mean
    depth: DepthRules | None = None
    normals: NormalRules | None = None
    ranked: bool = True  # False: never ranked on the public board (synthetic, user splits)
    label: str = ""  # e.g. "own test split"
    path: str | None = None  # a user split's prepared folder
    # (height, width) every prediction must have, where the protocol fixes it (KITTI: the KB crop); None: the size of
    # the image the sample holds.
    prediction_size: tuple[int, int] | None = None
    notes: str = ""
    short_name: str = ""  # what a table column says, e.g. "KITTI"; "" means the id itself (the SA-23 names)

    @property
    def display_name(self) -> str:
        return self.short_name or self.id

    def __hash__(self) -> int:  # the mapping fields are unhashable; a spec is identified by its key and revision
        return hash((self.key, self.version, self.data_revision, self.path))

    @property
    def task_id(self) -> str:
        return self.task.value if isinstance(self.task, Task) else str(self.task)

    @property
    def key(self) -> tuple[str, str]:
        return self.task_id, self.id

    @property
    def normal_frame(self) -> NormalFrame | None:
        """The normal frame of the prepared ground truth (read by ``evaluation.data.prepare``)."""
        return self.normals.frame if self.normals is not None else None

    def tier_size(self, tier: str) -> int | None:
        """Items per dataset in ``tier`` (None: all). Raises ``ValueError`` on an unknown tier."""
        if tier not in self.tiers:
            raise ValueError(f"tier: unknown tier {tier!r}; known tiers: {', '.join(self.tiers)}")
        return self.tiers[tier]

    def tier_seed(self, dataset: str | None = None) -> int:
        """The fixed seed of this benchmark's tier subsets (per member dataset for an aggregate)."""
        return stable_seed("tier", self.task_id, dataset or self.id, self.data_revision)

    def select(self, sample_ids: Sequence[str], tier: str, dataset: str | None = None) -> list[str]:
        """The ``tier`` subset of ``sample_ids`` for this benchmark (or for ``dataset``, a member of an aggregate)."""
        if dataset is not None and self.members and dataset not in self.members:
            raise ValueError(f"dataset: {dataset!r} is not a member of {self.id}")
        return select_tier(sample_ids, self.tier_size(tier), self.tier_seed(dataset))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe description (what ``python -m evaluation list --json`` prints and results record)."""
        out = _jsonable(self)
        out["task"] = self.task_id
        return out


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


# --------------------------------------------------------------------------------------------------------------------
# Tiers
# --------------------------------------------------------------------------------------------------------------------


def select_tier(sample_ids: Sequence[str], tier: str | int | None, seed: int) -> list[str]:
    """A deterministic subset: ``tier`` is a tier name (``quick`` 50, ``standard`` 500, ``full`` all), a count, or
    None (all).

    The ids are sorted (so the input order does not matter), permuted with ``numpy.random.default_rng(seed)``, the
    first ``n`` are kept and returned sorted. The same seed gives nested subsets: quick ⊂ standard ⊂ full. Raises
    ``ValueError`` on duplicate ids, an unknown tier name or a count < 1.
    """
    size = TIER_SIZES[tier] if isinstance(tier, str) and tier in TIER_SIZES else tier
    if isinstance(size, str):
        raise ValueError(f"tier: unknown tier {tier!r}; known tiers: {', '.join(TIERS)}")
    ids = sorted(str(s) for s in sample_ids)
    if len(set(ids)) != len(ids):
        raise ValueError("sample_ids: duplicate ids")
    if size is None or size >= len(ids):
        if size is not None and size < 1:
            raise ValueError(f"tier: a count must be >= 1, got {size}")
        return ids
    if size < 1:
        raise ValueError(f"tier: a count must be >= 1, got {size}")
    import numpy as np  # here, not at import: the spec package stays light

    order = np.random.default_rng(seed).permutation(len(ids))[:size]
    return sorted(ids[i] for i in order)


# --------------------------------------------------------------------------------------------------------------------
# SA-23
# --------------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _SA23Row:
    name: str
    domain: str
    mask_type: str
    split: str
    images: int
    masks: int
    native_format: str
    url: str | None
    licence: str
    verified: bool = False


_SEE = "see the dataset's terms at its source"

# name, domain, mask type, split SAM used, images and masks SAM sampled, native format: sam23_datasets.csv.
SA23_ROWS: tuple[_SA23Row, ...] = (
    _SA23Row("PPDLS", "Plants (leaves)", "instance", "N/A", 182, 2347,
             "CVPPP *_rgb.png + *_label.png (indexed instance PNG)",
             "https://www.plant-phenotyping.org/datasets-home", _SEE),
    _SA23Row("BBBC038v1", "Microscopy (nuclei)", "instance", "train", 227, 10506,
             "<id>/images/<id>.png + <id>/masks/*.png (one binary PNG per nucleus)",
             "https://bbbc.broadinstitute.org/BBBC038", "CC0 1.0"),
    _SA23Row("DOORS", "Boulders (synthetic)", "instance", "DS1", 10000, 10000, "PNG images + PNG masks", None, _SEE),
    _SA23Row("TimberSeg", "Logs in timber piles", "instance", "N/A", 220, 2487, "COCO JSON", None, _SEE),
    _SA23Row("NDD20", "Dolphins (under/above water)", "instance", "N/A", 4402, 6100,
             "VIA-style JSON polygons or label PNGs", None, _SEE),
    _SA23Row("LVIS", "Scenes (COCO images)", "instance", "validation v0.5", 945, 9642,
             "LVIS JSON (COCO style, polygons)", "https://www.lvisdataset.org",
             "annotations CC BY 4.0; images under COCO's terms (Flickr)"),
    _SA23Row("STREETS", "Traffic camera", "instance", "N/A", 819, 9854, "COCO JSON polygons", None, _SEE),
    _SA23Row("ZeroWaste-f", "Recycling", "instance", "train", 2947, 6155, "COCO JSON + semantic PNG",
             "http://ai.bu.edu/zerowaste/", _SEE),
    _SA23Row("iShape", "Irregular shapes", "instance", "validation", 754, 9742, "instance-map PNG per subset",
             "https://ishape.github.io", _SEE),
    _SA23Row("ADE20K", "Scenes (objects and parts)", "instance", "validation", 302, 10128,
             "*_seg.png: class = R/10*256+G, instance ids from B; per-instance PNGs; JSON polygons",
             "https://groups.csail.mit.edu/vision/datasets/ADE20K/", _SEE),
    _SA23Row("OVIS", "Occlusions (video frames)", "instance", "train", 2044, 10011,
             "YouTube-VIS JSON with per-frame RLE", "https://songbai.site/ovis/", _SEE),
    _SA23Row("Hypersim", "Synthetic indoor", "instance", "Evermotion archinteriors vols 1-55 except 20,25,40,49",
             338, 9445, "per-frame HDF5 semantic_instance", "https://github.com/apple/ml-hypersim", "CC BY-SA 3.0"),
    _SA23Row("NDISPark", "Parking lots", "instance", "train", 111, 2577, "COCO JSON", None, _SEE),
    _SA23Row("VISOR", "Egocentric kitchens", "instance", "validation", 1864, 10141,
             "JSON polygons per video (official renderer to PNG)", "https://epic-kitchens.github.io/VISOR/",
             "CC BY-NC 4.0"),
    _SA23Row("Plittersdorf", "Stereo camera-trap wildlife", "instance", "train, validation, test", 187, 546,
             "COCO JSON", None, _SEE),
    _SA23Row("EgoHOS", "Egocentric hand-object", "instance", "train (Ego4D and THU-READ only)", 2940, 9961,
             "label PNG", "https://github.com/owenzlz/EgoHOS", _SEE),
    _SA23Row("IBD", "Drone roofs", "instance", "train (2D annotations)", 467, 11953, "label PNG", None, _SEE),
    _SA23Row("WoodScape", "Fisheye driving", "instance", "set 1", 107, 10266, "per-image JSON polygons",
             "https://github.com/valeoai/WoodScape", _SEE),
    _SA23Row("Cityscapes", "Driving", "panoptic", "validation", 293, 9973,
             "*_gtFine_instanceIds.png (id = class*1000 + instance for things)",
             "https://www.cityscapes-dataset.com", "Cityscapes terms (non-commercial research; registration)"),
    _SA23Row("PIDRay", "X-ray baggage", "instance", "test (hard)", 3733, 8892, "COCO JSON",
             "https://github.com/bywang2018/security-dataset", _SEE),
    _SA23Row("DRAM", "Paintings", "semantic", "test", 718, 1179, "semantic label PNG", None, _SEE),
    _SA23Row("TrashCan", "Underwater debris", "instance", "train (instance task)", 5936, 9540, "COCO JSON",
             "https://conservancy.umn.edu/handle/11299/214865", _SEE),
    _SA23Row("GTEA", "Egocentric hands", "instance", "train (hand segmentation task)", 652, 1208,
             "binary hand mask PNG", "https://cbs.ic.gatech.edu/fpv/", _SEE),
)

SA23_DATASETS: tuple[str, ...] = tuple(r.name for r in SA23_ROWS)  # the 23 ids, in sam23_datasets.csv order
_SEG_PROTOCOLS = (
    "sam-center-click",
    "sam-center-click-positive-only",
    "sam-center-click-oracle",
    "random-points",
    "diception-paper",
)
_SEG_METRICS = ("miou_1pt", "miou_2pt", "miou_3pt", "miou_5pt", "miou_9pt", "miou_5pt_random", "noc85", "noc90")
_SA23_REVISION = "sam-resample-seed0"
_SA23_NOTE = (
    "SAM's own sample lists are not public: datasets with more than 15k masks are re-sampled to ~10k masks by random "
    "images with a fixed seed (recorded in the prepared manifest), so numbers are close to, not identical with, SAM's."
)


def _sa23_specs() -> list[BenchmarkSpec]:
    specs = []
    for row in SA23_ROWS:
        specs.append(
            BenchmarkSpec(
                id=row.name, task=Task.POINT_SEGMENTATION, version="1", data_revision=_SA23_REVISION,
                title=f"{row.name} (SA-23 member)", domain=row.domain,
                protocols=_SEG_PROTOCOLS, default_protocol="sam-center-click", main_metric="miou_1pt",
                metrics=_SEG_METRICS, item="mask", num_samples=row.masks, num_images=row.images,
                source=DataSource(
                    url=row.url, licence=row.licence, layout=row.native_format, verified=row.verified,
                    notes=f"split used by SAM: {row.split}; {row.mask_type} masks" + (
                        "" if row.url else "; source URL not recorded here: see SAM's paper, appendix (datasets)"
                    ),
                ),
                notes=_SA23_NOTE,
            )
        )
    specs.append(
        BenchmarkSpec(
            id="sa23", task=Task.POINT_SEGMENTATION, version="1", data_revision=_SA23_REVISION,
            title="SA-23: SAM's 23 zero-shot segmentation datasets", domain="23 domains",
            protocols=_SEG_PROTOCOLS, default_protocol="sam-center-click", main_metric="miou_1pt",
            metrics=_SEG_METRICS, item="mask", num_samples=sum(r.masks for r in SA23_ROWS),
            num_images=sum(r.images for r in SA23_ROWS),
            source=DataSource(url=None, licence="per member dataset", layout="one prepared folder per member dataset"),
            members=SA23_DATASETS,
            notes="Aggregate: the unweighted mean of the 23 per-dataset scores; tiers apply per member dataset. "
            + _SA23_NOTE,
        )
    )
    return specs


# --------------------------------------------------------------------------------------------------------------------
# Depth, normals, COCO, synthetic
# --------------------------------------------------------------------------------------------------------------------

_DEPTH_PROTOCOLS = ("genpercept-affine", "depth-anything-disparity")
KB_CROP_SIZE = (352, 1216)  # (height, width) of KITTI's benchmark crop (PROTOCOLS.md)
_DEPTH_METRICS = ("absrel", "delta1", "delta2", "delta3", "rmse")
_MARIGOLD_EVAL = "https://share.phys.ethz.ch/~pf/bingkedata/marigold/evaluation_dataset/"
_MARIGOLD_NOTE = "Marigold's preprocessed evaluation archive (the split the GenPercept / Marigold tables use)"


def _depth(
    id: str, title: str, domain: str, samples: int, rules: DepthRules, source: DataSource,
    protocols: tuple[str, ...] = _DEPTH_PROTOCOLS, notes: str = "",
) -> BenchmarkSpec:
    return BenchmarkSpec(
        id=id, task=Task.DEPTH, version="1", data_revision="v1", title=title, domain=domain,
        protocols=protocols, default_protocol=protocols[0], main_metric="absrel", metrics=_DEPTH_METRICS,
        item="image", num_samples=samples, num_images=samples, source=source, depth=rules, notes=notes,
        prediction_size=KB_CROP_SIZE if rules.kb_crop else None,
    )


def _depth_specs() -> list[BenchmarkSpec]:
    return [
        _depth(
            "kitti", "KITTI Eigen test", "Driving (LiDAR, sparse)", 652,
            DepthRules("uint16 PNG / 256 (sparse; 0 = no measurement)", 1e-5, 80.0, 1e-5, 80.0,
                       eval_crop="eigen_kitti", kb_crop=True),
            DataSource(_MARIGOLD_EVAL, "CC BY-NC-SA 3.0",
                       "RGB PNGs + uint16 annotated depth PNGs (/256, sparse), with the Eigen test file list",
                       notes=_MARIGOLD_NOTE),
            notes="KB crop to 352 x 1216 (top = H - 352, left = (W - 1216) / 2) before prediction; Eigen crop "
            "to score.",
        ),
        _depth(
            "nyuv2", "NYUv2 test (Eigen split)", "Indoor (Kinect)", 654,
            DepthRules("uint16 PNG / 1000", 1e-3, 10.0, 1e-3, 10.0, eval_crop="eigen_nyu"),
            DataSource(_MARIGOLD_EVAL, "NYU Depth V2 terms (no explicit licence; research use)",
                       "RGB images + uint16 depth PNGs (millimetres), 640 x 480, with a file list",
                       notes=_MARIGOLD_NOTE),
        ),
        _depth(
            "scannet", "ScanNet val (800 sampled frames)", "Indoor (structure sensor)", 800,
            DepthRules("uint16 PNG / 1000", 1e-3, 10.0, 1e-3, 10.0),
            DataSource(_MARIGOLD_EVAL, "ScanNet Terms of Use (non-commercial; signed agreement)",
                       "RGB images + uint16 depth PNGs (millimetres), 640 x 480, with a file list",
                       notes=_MARIGOLD_NOTE),
        ),
        _depth(
            "diode", "DIODE val (indoor + outdoor)", "Indoor and outdoor (laser scans)", 771,
            DepthRules(".npy metres + *_depth_mask.npy", 0.6, 350.0, None, None, mask_file=True),
            DataSource(_MARIGOLD_EVAL, "MIT (per the DIODE release)",
                       "val/{indoors,outdoor}/scene_*/scan_*/<id>.png + <id>_depth.npy + <id>_depth_mask.npy",
                       verified=False,
                       notes=_MARIGOLD_NOTE),
            notes="Valid = the dataset's mask file (and d > 0).",
        ),
        _depth(
            "eth3d", "ETH3D", "Indoor and outdoor (laser scans)", 454,
            DepthRules("float32 raw binary 4032 x 6048, inf -> 0", 1e-5, None, 1e-5, None, fit_max_side=1024),
            DataSource(_MARIGOLD_EVAL, "CC BY-NC-SA 4.0",
                       "JPEG images + raw float32 depth files (4032 x 6048), one per image",
                       notes=_MARIGOLD_NOTE),
            notes="Predicted and aligned at max side 1024.",
        ),
        _depth(
            "sintel", "MPI Sintel (training, final pass)", "Synthetic film", 1064,
            DepthRules("Sintel .dpt (float32 with header)", 1e-3, None, 1e-3, None),
            DataSource("http://sintel.is.tue.mpg.de/", "MPI Sintel terms (research use)",
                       "training/final/<scene>/frame_*.png + training/depth/<scene>/frame_*.dpt", verified=False),
            protocols=("depth-anything-disparity",),
            notes="Only for Depth Anything's own protocol rows; sample count and range as commonly used, unverified.",
        ),
    ]


_NORMAL_PROTOCOLS = ("stablenormal", "dsine", "marigold-normals")
_NORMAL_METRICS = ("mean_deg", "median_deg", "rmse_deg", "within_11.25", "within_22.5", "within_30")
_DSINE_FRAME = NormalFrame.DSINE
_MARIGOLD_FRAME = NormalFrame.MARIGOLD
_DSINE_EVAL = "https://github.com/baegwangbin/DSINE"
_FRAME_NOTE = "The frame belongs to the archive named in the source; another archive must state its own frame."


def _normal(id: str, title: str, domain: str, samples: int, rules: NormalRules, source: DataSource) -> BenchmarkSpec:
    return BenchmarkSpec(
        id=id, task=Task.NORMAL, version="1", data_revision="v1", title=title, domain=domain,
        protocols=_NORMAL_PROTOCOLS, default_protocol="stablenormal", main_metric="mean_deg",
        metrics=_NORMAL_METRICS, item="image", num_samples=samples, num_images=samples, source=source,
        normals=rules, notes=_FRAME_NOTE,
    )


def _normal_specs() -> list[BenchmarkSpec]:
    png = "8-bit PNG, n = 2 * rgb / 255 - 1"
    return [
        _normal("nyuv2", "NYUv2 test normals", "Indoor", 654,
                NormalRules(_DSINE_FRAME, png, "RGB sum > 0"),
                DataSource(_DSINE_EVAL, "NYU Depth V2 terms (no explicit licence; research use)",
                           "<scene>/<id>_img.png + <id>_normal.png (DSINE's evaluation release)")),
        _normal("scannet", "ScanNet normals (300 frames)", "Indoor", 300,
                NormalRules(_DSINE_FRAME, png, "RGB sum > 0"),
                DataSource(_DSINE_EVAL, "ScanNet Terms of Use (non-commercial; signed agreement)",
                           "<scene>/<id>_img.png + <id>_normal.png (DSINE's evaluation release)")),
        _normal("diode_indoor", "DIODE val indoor normals", "Indoor (laser scans)", 325,
                NormalRules(_MARIGOLD_FRAME, "*_normal.npy float32 [H, W, 3]", "|n| > 0 (zero vectors are invalid)"),
                DataSource("https://diode-dataset.org/", "MIT (per the DIODE release)",
                           "val/indoors/scene_*/scan_*/*.png + *_normal.npy")),
        _normal("ibims", "iBims-1 normals", "Indoor (laser scans)", 100,
                NormalRules(_DSINE_FRAME, "EXR float32 [H, W, 3]", "|n| > 0.5"),
                DataSource(_DSINE_EVAL, _SEE, "<id>_img.png + <id>_normal.exr (DSINE's evaluation release)")),
        _normal("sintel", "MPI Sintel normals", "Synthetic film", 1064,
                NormalRules(_DSINE_FRAME, "EXR float32 [H, W, 3]", "|n| > 0.5"),
                DataSource(_DSINE_EVAL, "MPI Sintel terms (research use)",
                           "<scene>/<id>_img.png + <id>_normal.exr (DSINE's evaluation release)")),
    ]


_COCO = DataSource(
    "https://cocodataset.org/#download",
    "annotations CC BY 4.0; images under Flickr's terms",
    "val2017/*.jpg + annotations/{person_keypoints,instances,panoptic}_val2017.json + panoptic_val2017/*.png",
)


def _coco_specs() -> list[BenchmarkSpec]:
    common = dict(version="1", data_revision="val2017", domain="Everyday scenes", item="image", source=_COCO)
    return [
        BenchmarkSpec(
            id="coco_val2017", task=Task.POSE, title="COCO val2017 person keypoints",
            protocols=("coco-keypoints", "painter-topdown"), default_protocol="coco-keypoints", main_metric="ap",
            metrics=("ap", "ap50", "ap75", "apm", "apl", "ar"), num_samples=5000, num_images=5000,
            notes="Top-down: person boxes from a fixed detector file; crops 192 x 256 with padding 1.25.", **common,
        ),
        BenchmarkSpec(
            id="coco_val2017", task=Task.ENTITY_SEGMENTATION, title="COCO val2017 entities (panoptic, class-agnostic)",
            protocols=("class-agnostic-cocoeval",), default_protocol="class-agnostic-cocoeval", main_metric="ap",
            metrics=("ap", "ap50", "ap75", "ar_small", "ar_medium", "ar_large"), num_samples=5000, num_images=5000,
            notes="Every non-crowd panoptic segment is an entity; predictions need scores (record how assigned).",
            **common,
        ),
        BenchmarkSpec(
            id="coco_val2017", task=Task.SEMANTIC_SEGMENTATION, title="COCO val2017 instances by category prompt",
            protocols=("coco-instance",), default_protocol="coco-instance", main_metric="instance_ap",
            metrics=("instance_ap", "ap50", "ap75"), num_samples=5000, num_images=5000, **common,
        ),
    ]


_SYNTHETIC_SOURCE = DataSource(
    None, "generated (no licence needed)", "none: evaluation.synthetic renders scenes on the fly", verified=True,
    notes="deterministic from (index, size, seed)",
)
SYNTHETIC_SAMPLES = 64


def _synthetic_specs() -> list[BenchmarkSpec]:
    common = dict(
        id="synthetic", version="1", data_revision="procedural-v1", domain="Procedural ray-cast scenes",
        num_images=SYNTHETIC_SAMPLES, source=_SYNTHETIC_SOURCE, ranked=False,
        tiers=MappingProxyType({"quick": 8, "standard": 32, "full": None}),
        notes="Smoke benchmark for CI; never shown on the public leaderboard.",
    )
    return [
        BenchmarkSpec(
            task=Task.POINT_SEGMENTATION, title="Synthetic scenes: object masks", protocols=_SEG_PROTOCOLS[:4],
            default_protocol="sam-center-click", main_metric="miou_1pt", metrics=_SEG_METRICS, item="mask",
            num_samples=None, **common,
        ),
        BenchmarkSpec(
            task=Task.DEPTH, title="Synthetic scenes: depth", protocols=_DEPTH_PROTOCOLS,
            default_protocol="genpercept-affine", main_metric="absrel", metrics=_DEPTH_METRICS, item="image",
            num_samples=SYNTHETIC_SAMPLES, depth=DepthRules("exact z-depth (float32 metres)", 0.5, 10.0, None, None),
            **common,
        ),
        BenchmarkSpec(
            task=Task.NORMAL, title="Synthetic scenes: normals", protocols=_NORMAL_PROTOCOLS,
            default_protocol="stablenormal", main_metric="mean_deg", metrics=_NORMAL_METRICS, item="image",
            num_samples=SYNTHETIC_SAMPLES,
            normals=NormalRules(_MARIGOLD_FRAME, "exact float32", "sensor-dropout mask"),
            **common,
        ),
        BenchmarkSpec(
            task=Task.ENTITY_SEGMENTATION, title="Synthetic scenes: entities", protocols=("class-agnostic-cocoeval",),
            default_protocol="class-agnostic-cocoeval", main_metric="ap",
            metrics=("ap", "ap50", "ap75", "ar_small", "ar_medium", "ar_large"), item="image",
            num_samples=SYNTHETIC_SAMPLES, **common,
        ),
    ]


# Protocols, main metric and metrics of a task's benchmarks: what a user split (an own test split in the prepared
# format) of that task is scored with when it does not say otherwise.
TASK_SCORING_DEFAULTS: Mapping[Task, tuple[tuple[str, ...], str, tuple[str, ...]]] = MappingProxyType(
    {
        Task.POINT_SEGMENTATION: (_SEG_PROTOCOLS[:4], "miou_1pt", _SEG_METRICS),
        Task.DEPTH: (_DEPTH_PROTOCOLS, "absrel", _DEPTH_METRICS),
        Task.NORMAL: (_NORMAL_PROTOCOLS, "mean_deg", _NORMAL_METRICS),
    }
)


# --------------------------------------------------------------------------------------------------------------------
# The registry
# --------------------------------------------------------------------------------------------------------------------


def _check(spec: BenchmarkSpec) -> None:
    """Registry-time consistency: every protocol and metric id is known and fits the task."""
    for protocol in spec.protocols:
        known = PROTOCOLS[protocol]
        if isinstance(spec.task, Task) and spec.task not in known.tasks:
            raise ValueError(f"{spec.key}: protocol {protocol!r} is not for task {spec.task_id}")
    if spec.default_protocol not in spec.protocols:
        raise ValueError(f"{spec.key}: default protocol {spec.default_protocol!r} not in its protocols")
    for metric in (spec.main_metric, *spec.metrics):
        if metric not in METRICS:
            raise ValueError(f"{spec.key}: unknown metric {metric!r}")
    if spec.main_metric not in spec.metrics:
        raise ValueError(f"{spec.key}: main metric {spec.main_metric!r} not in its metrics")


_REGISTRY: Registry[tuple[str, str], BenchmarkSpec] = Registry("benchmark", key=lambda spec: spec.key, check=_check)
BENCHMARKS: Mapping[tuple[str, str], BenchmarkSpec] = _REGISTRY.view  # live and read-only, keyed by (task, id)
register_benchmark = _REGISTRY.register  # add a checked BenchmarkSpec (a taken (task, id) raises ValueError)
registered_benchmark = _REGISTRY.registered  # register for the duration of a ``with`` block (tests, experiments)


# What a table column says for the registered benchmarks (the SA-23 ids are names already).
_SHORT_NAMES: Mapping[str, str] = {
    "sa23": "SA-23", "kitti": "KITTI", "nyuv2": "NYUv2", "scannet": "ScanNet", "diode": "DIODE", "eth3d": "ETH3D",
    "sintel": "Sintel", "diode_indoor": "DIODE indoor", "ibims": "iBims-1", "coco_val2017": "COCO val2017",
    "synthetic": "Synthetic",
}  # fmt: skip
for _spec in (*_sa23_specs(), *_depth_specs(), *_normal_specs(), *_coco_specs(), *_synthetic_specs()):
    register_benchmark(replace(_spec, short_name=_SHORT_NAMES.get(_spec.id, "")))
del _spec


def _known(task: str | None = None) -> str:
    keys = [k for k in BENCHMARKS if task is None or k[0] == task]
    return ", ".join(f"{t}/{n}" for t, n in keys)


def get_benchmark(task_or_name: Task | str, name: str | None = None) -> BenchmarkSpec:
    """The spec of (task, name), or of ``name`` alone (``get_benchmark("kitti")``) when only one task has it.

    ``"task/name"`` is accepted as one argument. Raises :class:`UnknownBenchmarkError` (a ``KeyError`` and a
    ``ValueError``) listing the known benchmarks for an unknown name, or the tasks for an ambiguous one; an unknown
    task raises ``ValueError`` listing the tasks.
    """
    if name is None:
        text = task_or_name.value if isinstance(task_or_name, Task) else str(task_or_name)
        if "/" in text:
            task_text, name = text.split("/", 1)
            return get_benchmark(task_text, name)
        matches = [spec for (_, n), spec in BENCHMARKS.items() if n == text]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise UnknownBenchmarkError(f"benchmark: unknown benchmark {text!r}; known benchmarks: {_known()}")
        tasks = ", ".join(s.task_id for s in matches)
        raise UnknownBenchmarkError(
            f"benchmark: {text!r} exists for several tasks ({tasks}); give the task, e.g. get_benchmark("
            f"{matches[0].task_id!r}, {text!r})"
        )
    task = Task.parse(task_or_name).value
    try:
        return BENCHMARKS[(task, name)]
    except KeyError:
        raise UnknownBenchmarkError(
            f"benchmark: unknown benchmark {name!r} for task {task}; known for {task}: {_known(task) or 'none'}; "
            f"all known benchmarks: {_known()}"
        ) from None


def list_benchmarks(task: Task | str | None = None, *, ranked_only: bool = False) -> list[BenchmarkSpec]:
    """The registered specs in registry order, optionally of one task and / or only those ranked publicly."""
    wanted = Task.parse(task).value if task is not None else None
    return [
        s for s in BENCHMARKS.values() if (wanted is None or s.task_id == wanted) and (s.ranked or not ranked_only)
    ]



def benchmark_order(task: Task | str) -> tuple[str, ...]:
    """The ranked benchmark ids of ``task`` in the order tables show them: aggregates first (``sa23`` before its
    members), then registry order. What the leaderboard makes columns of and prediction files may name."""
    specs = list_benchmarks(task, ranked_only=True)
    return tuple(s.id for s in sorted(specs, key=lambda s: not s.members))


def aggregate_members(task: Task | str) -> Mapping[str, tuple[str, ...]]:
    """``{aggregate id: member ids}`` of ``task`` (``{"sa23": (...23 ids)}`` for point segmentation)."""
    return {s.id: s.members for s in list_benchmarks(task) if s.members}


def is_ranked_benchmark(benchmark_id: str) -> bool:
    """False for ids never ranked on the public board: an own test split (``user:...``), a path, or a registered
    unranked benchmark such as the ``synthetic`` smoke benchmark (under any task)."""
    text = str(benchmark_id)
    if text.startswith(USER_SPLIT_PREFIX) or "/" in text or "\\" in text:
        return False
    specs = [spec for (_, name), spec in BENCHMARKS.items() if name == text]
    return not specs or all(spec.ranked for spec in specs)


def unranked_benchmark_ids() -> frozenset[str]:
    """Registered benchmark ids that are never ranked (the smoke benchmark)."""
    return frozenset(name for (_, name), spec in BENCHMARKS.items() if not spec.ranked)


def default_benchmarks(task: Task | str) -> tuple[str, ...]:
    """What an adapter of ``task`` is scored on unless it says otherwise: the task's aggregates where it has them
    (``sa23``), else every ranked benchmark scored under the task's main protocol (depth: not Sintel, which only
    Depth Anything's own protocol uses)."""
    aggregates = tuple(aggregate_members(task))
    if aggregates:
        return aggregates
    specs = list_benchmarks(task, ranked_only=True)
    task_value = Task.parse(task)
    main = TASK_SCORING_DEFAULTS[task_value][0][0] if task_value in TASK_SCORING_DEFAULTS else None
    return tuple(s.id for s in specs if main is None or s.default_protocol == main)
