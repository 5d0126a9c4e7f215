"""Predictors: every model the runner scores sits behind one small protocol.

The runner never touches a concrete model; it asks a :class:`Predictor` which tasks it supports
(``predictor.tasks``), how many points it takes (``max_points``), whether it takes negative points
(``negative_points``) and whether it returns several candidate masks (``multi_output``), and then calls:

- ``predict_masks(image, point_sets, *, sample_id, labels=None, mask_ids=None, gt_masks=None)`` -> one bool
  ``[H, W]`` mask per point set. ``point_sets`` are ``[[x, y], ...]`` lists in original-image pixels (x right, y
  down, IDS.md); ``labels`` (1 positive, 0 negative) per point, only for predictors with ``negative_points``;
  ``mask_ids`` name the ground-truth masks (prediction files are looked up by them); ``gt_masks`` are passed only
  under the oracle protocol (``sam-center-click-oracle``): a multi-output model then returns its candidate with the
  highest IoU against the ground truth instead of its highest predicted IoU.
- ``predict_depth(image, *, sample_id)`` -> float32 ``[H, W]`` relative disparity (higher = nearer), unless
  ``depth_output == "depth"`` (prediction files holding depth), which the runner records as its alignment space.
- ``predict_normals(image, *, sample_id)`` -> float32 ``[H, W, 3]`` unit normals in Marigold's frame (x right, y up,
  z towards the viewer).

Every output is at the input image's resolution. ``describe()`` returns ``{"model": {...}, "settings": {...}}`` for
the result JSON.

Preprocessing for SAM and Depth Anything is done here with torch (resize, normalise, pad) rather than through the
transformers image processors: the default ones need torchvision, which does not import beside this torch, and a
few lines of tensor code are easier to check than a backend switch. The numbers follow the processors' own
configurations (``preprocessor_config.json`` is read when the model folder or the Hub cache has it; otherwise the
published defaults below are used): SAM resizes the longest side to 1024 (bilinear), normalises with ImageNet
mean / std in 0-255 units and pads bottom-right to 1024 x 1024; its low-resolution mask logits are upsampled
bilinearly to the padded size, cropped to the resized image, upsampled to the original size and thresholded at 0.
Depth Anything resizes (bicubic) keeping the aspect ratio so that the side whose scale is closer to 1 reaches 518,
each side a multiple of 14, normalises with ImageNet mean / std and upsamples its output bicubically to the input
size.

The tiny builders (:meth:`SamPredictor.tiny`, :meth:`DepthAnythingPredictor.tiny`) make small random models from
configs offline; the app's ``--model tiny`` reuses them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
import torch.nn.functional as F

from diception_core.runtime import resolve_device, resolve_dtype
from diception_spec.adapter_format import folder_content_hash
from diception_spec.models import ModelKind
from diception_spec.normals import CANONICAL_FRAME, NormalFrame, convert_normal_frame
from diception_spec.prediction_files import (
    DEFAULT_DEPTH_KIND,
    DEFAULT_DEPTH_SCALE,
    DEFAULT_NORMAL_FRAME,
    DEPTH_KINDS,
    FOLDER_SUFFIXES,
    TASK_FOLDERS,
)
from diception_spec.tasks import Task

logger = logging.getLogger(__name__)

__all__ = [
    "PREDICTOR_KINDS",
    "DepthAnythingPredictor",
    "DiceptionPredictor",
    "FilesPredictor",
    "Predictor",
    "SamPredictor",
    "build_predictor",
]

PREDICTOR_KINDS: tuple[str, ...] = tuple(k.value for k in ModelKind)
_IMAGENET_MEAN = (0.485, 0.456, 0.406)
_IMAGENET_STD = (0.229, 0.224, 0.225)
_SAM_PADDING_LABEL = -10  # transformers' SAM ignores points with this label


@runtime_checkable
class Predictor(Protocol):
    """What the runner needs from a model; see the module docstring for the contract of each method."""

    name: str
    kind: str  # one of PREDICTOR_KINDS
    tasks: frozenset[Task]  # the tasks it can predict
    max_points: int | None  # points per prediction it takes (None: no limit)
    negative_points: bool  # takes negative (label 0) points
    multi_output: bool  # returns several candidate masks per prompt (oracle protocol possible)
    depth_output: str  # "disparity" | "depth": what predict_depth returns

    def describe(self) -> dict[str, Any]: ...

    def predict_masks(
        self,
        image: np.ndarray,
        point_sets: list[list[list[float]]],
        *,
        sample_id: str,
        labels: list[list[int]] | None = None,
        mask_ids: list[str] | None = None,
        gt_masks: list[np.ndarray] | None = None,
    ) -> list[np.ndarray]: ...

    def predict_depth(self, image: np.ndarray, *, sample_id: str) -> np.ndarray: ...

    def predict_normals(self, image: np.ndarray, *, sample_id: str) -> np.ndarray: ...


class _Unsupported:
    """Default ``predict_*`` methods that name what the predictor cannot do."""

    name: str = "predictor"

    def _refuse(self, task: str) -> Any:
        raise NotImplementedError(f"{self.name}: cannot predict {task}")

    def predict_masks(self, image: np.ndarray, point_sets: list[list[list[float]]], *, sample_id: str,
                      labels: list[list[int]] | None = None, mask_ids: list[str] | None = None,
                      gt_masks: list[np.ndarray] | None = None) -> list[np.ndarray]:
        return self._refuse("masks")

    def predict_depth(self, image: np.ndarray, *, sample_id: str) -> np.ndarray:
        return self._refuse("depth")

    def predict_normals(self, image: np.ndarray, *, sample_id: str) -> np.ndarray:
        return self._refuse("normals")


def _check_image(image: np.ndarray) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"image: expected uint8 [H, W, 3], got {arr.dtype} {arr.shape}")
    return arr


def _check_point_sets(point_sets: Sequence[Sequence[Sequence[float]]], max_points: int | None, name: str) -> None:
    if not point_sets:
        raise ValueError("point_sets: no point sets given")
    for i, points in enumerate(point_sets):
        if len(points) == 0:
            raise ValueError(f"point_sets[{i}]: empty point set")
        if max_points is not None and len(points) > max_points:
            raise ValueError(f"point_sets[{i}]: {name} takes at most {max_points} points, got {len(points)}")


def _best_by_iou(candidates: np.ndarray, gt: np.ndarray) -> int:
    """Index of the candidate mask ([K, H, W] bool) with the highest IoU against ``gt`` (first on ties)."""
    inter = (candidates & gt[None]).reshape(len(candidates), -1).sum(1)
    union = (candidates | gt[None]).reshape(len(candidates), -1).sum(1)
    return int(np.argmax(inter / np.maximum(union, 1)))


# --------------------------------------------------------------------------------------------------------------------
# DICEPTION
# --------------------------------------------------------------------------------------------------------------------


class DeferredPipeline:
    """A DICEPTION model folder whose weights load on first use (:meth:`load`).

    What a result and the runner's cache key need (the folder's ``diception_config.json``: revision, defaults,
    ``untrained``; the device and dtype) is known without loading a weight, so an evaluation whose every sample is
    cached never loads the model. A Hub id is resolved (downloaded) up front, weights included, but not loaded.
    """

    def __init__(self, model: str | Path, *, device: str | torch.device | None = None,
                 dtype: torch.dtype | str | None = None, runtime: Any = None) -> None:  # fmt: skip
        from diception_core.config import DiceptionConfig
        from diception_core.pipeline import model_folder

        self.folder = model_folder(model)  # "tiny" built once, a Hub id downloaded
        self.model_folder = self.folder  # as a loaded pipeline names it
        self.config = DiceptionConfig.load(self.folder)
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(self.device, dtype)
        self.runtime = runtime  # diception_core.runtime.RuntimeOptions, or None for the plain path
        self._pipe: Any = None

    @property
    def loaded(self) -> bool:
        return self._pipe is not None

    def load(self) -> Any:
        """The pipeline, loaded once."""
        if self._pipe is None:
            from diception_core.pipeline import DiceptionPipeline

            logger.info("loading the DICEPTION model from %s", self.folder)
            self._pipe = DiceptionPipeline.from_pretrained(self.folder, device=self.device, dtype=self.dtype,
                                                           runtime=self.runtime)
        return self._pipe


class DiceptionPredictor(_Unsupported):
    """DICEPTION through ``diception_core``'s pipeline, optionally with an adapter folder at a scale.

    ``pipe`` is a loaded pipeline or a :class:`DeferredPipeline` (loaded, with the adapter, on the first prediction;
    ``describe()`` never loads it). One image's point sets go to the pipeline together (one VAE encoding, one batched
    denoising loop of ``batch_size`` predictions at a time), at most ``sets_per_call`` sets per pipeline call (a
    further call encodes the image again). A prediction held until the call returns costs its model-resolution
    output (3 x 768² in the model dtype: 3.5 MB in bf16, 7 MB in float32) and its bool mask (1 byte per input
    pixel), not a full-resolution RGB. The model takes positive points only, at most 5 (``max_points``), so the
    runner uses ``sam-center-click-positive-only``.
    """

    kind = "diception"
    max_points = 5
    negative_points = False
    multi_output = False
    depth_output = "disparity"

    def __init__(
        self,
        pipe: Any,
        *,
        steps: int | None = None,
        guidance: float | None = None,
        seed: int | None = None,
        adapter: str | Path | None = None,
        adapter_scale: float = 1.0,
        batch_size: int = 8,
        sets_per_call: int = 32,
        name: str = "DICEPTION",
        variant: str | None = None,
        model_id: str | None = None,
    ) -> None:
        from diception_core.lora import _sanitize as adapter_name_of
        from diception_core.lora import read_adapter_task

        cfg = pipe.config
        self._source = pipe
        self.config = cfg
        # What the model was loaded from ("tiny", a folder, a Hub id), recorded so the run can be repeated verbatim.
        self.model_id = str(model_id) if model_id is not None else str(getattr(pipe, "model_folder", "") or "")
        self.steps = int(cfg.default_steps if steps is None else steps)
        self.guidance = float(cfg.default_guidance if guidance is None else guidance)
        self.seed = int(cfg.default_seed if seed is None else seed)
        if isinstance(batch_size, bool) or int(batch_size) < 1:
            raise ValueError(f"batch_size: must be a positive integer, got {batch_size!r}")
        self.batch_size = int(batch_size)
        self.sets_per_call = max(1, int(sets_per_call))
        self.name = name
        self.adapter_path = None if adapter is None else str(adapter)
        self.adapter_scale = float(adapter_scale)
        self.adapter_name: str | None = None
        self.adapter_sha256 = None if adapter is None else folder_content_hash(adapter)  # the exact weights
        self.tasks = frozenset({Task.DEPTH, Task.NORMAL, Task.POINT_SEGMENTATION})
        self._task_for: dict[Task, Any] = {t: t for t in self.tasks}
        if adapter is not None:
            info = read_adapter_task(adapter)  # refuses a broken task file before any weight is read
            # The name pipe.load_adapter gives it, known before loading (the variant and the cache key use it).
            self.adapter_name = adapter_name_of(Path(adapter).name)
            # A fixed-task adapter is scored on its task only; a new-task adapter has no standard benchmark.
            served = info.task
            self.tasks = frozenset({served}) if served is not None and served in self.tasks else frozenset()
            if served is not None:
                self._task_for = {served: served}
        self.variant = variant if variant is not None else (self.adapter_name or "")
        self._pipe: Any = None
        if not isinstance(pipe, DeferredPipeline):
            self._attach(pipe)

    def _attach(self, pipe: Any) -> None:
        if self.adapter_path is not None:
            pipe.load_adapter(self.adapter_path, name=self.adapter_name, scale=self.adapter_scale)
        self._pipe = pipe

    @property
    def pipe(self) -> Any:
        """The loaded pipeline (a deferred one is loaded, with the adapter, now)."""
        if self._pipe is None:
            self._attach(self._source.load())
        return self._pipe

    def describe(self) -> dict[str, Any]:
        cfg = self.config
        dtype = self._source.dtype if isinstance(self._source, DeferredPipeline) else self.pipe.dtype
        return {
            "model": {
                "name": self.name, "variant": self.variant, "kind": self.kind, "model_type": "generalist",
                "revision": str(cfg.model_revision), "untrained": bool(cfg.untrained),
            },
            "settings": {
                "steps": self.steps, "guidance": self.guidance, "seed": self.seed,
                "adapter": self.adapter_path, "adapter_scale": self.adapter_scale if self.adapter_path else None,
                "adapter_sha256": self.adapter_sha256, "model_id": self.model_id,
                "resolution": int(cfg.resolution), "dtype": str(dtype).replace("torch.", ""),
            },
        }

    def _call(self, image: np.ndarray, task: Task, points: Any = None) -> Any:
        if not image.flags.writeable:  # torch warns on read-only arrays (PIL-backed images are)
            image = image.copy()
        return self.pipe(
            image, self._task_for[task], points=points, num_inference_steps=self.steps,
            guidance_scale=self.guidance, seed=self.seed, batch_size=self.batch_size,
        )

    def predict_masks(self, image: np.ndarray, point_sets: list[list[list[float]]], *, sample_id: str,
                      labels: list[list[int]] | None = None, mask_ids: list[str] | None = None,
                      gt_masks: list[np.ndarray] | None = None) -> list[np.ndarray]:
        image = _check_image(image)
        _check_point_sets(point_sets, self.max_points, self.name)
        if labels is not None and any(label != 1 for row in labels for label in row):
            raise ValueError(f"labels: {self.name} takes positive points only")
        sets = [[list(map(float, p)) for p in s] for s in point_sets]
        masks = []
        for start in range(0, len(sets), self.sets_per_call):
            out = self._call(image, Task.POINT_SEGMENTATION, sets[start : start + self.sets_per_call])
            masks.extend(np.asarray(pred.mask, dtype=bool) for pred in out.predictions)
        return masks

    def predict_depth(self, image: np.ndarray, *, sample_id: str) -> np.ndarray:
        out = self._call(_check_image(image), Task.DEPTH)
        return np.asarray(out.predictions[0].depth, dtype=np.float32)

    def predict_normals(self, image: np.ndarray, *, sample_id: str) -> np.ndarray:
        out = self._call(_check_image(image), Task.NORMAL)
        # The pipeline decodes normals into Marigold's frame whatever frame its config says the weights output.
        return np.asarray(out.predictions[0].normals, dtype=np.float32)  # [H, W, 3]


# --------------------------------------------------------------------------------------------------------------------
# transformers models: shared helpers
# --------------------------------------------------------------------------------------------------------------------


def _read_preprocessor_config(model_id: str | Path) -> dict[str, Any]:
    """The model's ``preprocessor_config.json`` (local folder or Hub cache), or {} when there is none."""
    folder = Path(model_id)
    path: Path | None = folder / "preprocessor_config.json" if folder.is_dir() else None
    if path is None:
        try:
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(str(model_id), "preprocessor_config.json"))
        except Exception as exc:  # noqa: BLE001 - any Hub failure means "use the published defaults"
            logger.info("%s: no preprocessor_config.json (%s); using the published defaults", model_id, exc)
            return {}
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def _variant_from_id(model_id: str, table: dict[str, str]) -> str:
    lowered = str(model_id).lower()
    for key, variant in table.items():
        if key in lowered:
            return variant
    return Path(str(model_id)).name


def _random_init(model: torch.nn.Module, seed: int, std: float = 0.1) -> torch.nn.Module:
    """Re-draw every matrix-shaped weight from ``N(0, std)`` with an explicit generator (tiny models only)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for _, param in sorted(model.named_parameters()):
            if param.ndim >= 2:
                param.copy_(torch.randn(param.shape, generator=gen) * std)
    return model.eval()


def _normalise(pixels: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    m = torch.tensor(mean, dtype=pixels.dtype, device=pixels.device).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=pixels.dtype, device=pixels.device).view(1, 3, 1, 1)
    return (pixels - m) / s


# --------------------------------------------------------------------------------------------------------------------
# SAM
# --------------------------------------------------------------------------------------------------------------------

_SAM_VARIANTS = {"vit-huge": "ViT-H", "vit-large": "ViT-L", "vit-base": "ViT-B", "tiny": "tiny-random"}


class SamPredictor(_Unsupported):
    """SAM through transformers' ``SamModel``; positive and negative points.

    The image embedding is computed once per image and kept for the next calls on the same ``sample_id`` (the
    click protocol asks for each click round separately). ``multimask="best"`` returns the candidate with the highest
    predicted IoU; the oracle (best of the 3 against ground truth) is used when the runner passes ``gt_masks``.
    """

    kind = "sam"
    max_points: int | None = None
    negative_points = True
    multi_output = True
    depth_output = "disparity"
    untrained = False  # True for the random tiny build: its results never enter a ranking

    def __init__(
        self,
        model: Any,
        *,
        model_id: str = "",
        device: str | torch.device | None = None,
        image_size: int | None = None,
        mean: Sequence[float] = tuple(255 * m for m in _IMAGENET_MEAN),
        std: Sequence[float] = tuple(255 * s for s in _IMAGENET_STD),
        multimask: str = "best",
        revision: str = "",
    ) -> None:
        if multimask not in ("best", "oracle"):
            raise ValueError(f"multimask: expected 'best' or 'oracle', got {multimask!r}")
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.model_id = str(model_id)
        self.image_size = int(image_size or model.config.vision_config.image_size)
        self.mean, self.std = tuple(mean), tuple(std)
        self.multimask = multimask
        self.revision = revision
        self.name = "SAM"
        self.variant = _variant_from_id(self.model_id, _SAM_VARIANTS)
        self.tasks = frozenset({Task.POINT_SEGMENTATION})
        self._cached: tuple[str, tuple[int, int], torch.Tensor] | None = None  # (sample id, shape, embedding)

    @classmethod
    def from_pretrained(cls, model_id: str = "facebook/sam-vit-huge", device: str | torch.device | None = None,
                        **kwargs: Any) -> SamPredictor:
        from transformers import SamModel

        model = SamModel.from_pretrained(model_id)
        pre = _read_preprocessor_config(model_id)
        size = (pre.get("size") or {}).get("longest_edge")
        mean = [255 * m for m in pre["image_mean"]] if "image_mean" in pre else None
        std = [255 * s for s in pre["image_std"]] if "image_std" in pre else None
        extra = {k: v for k, v in (("mean", mean), ("std", std)) if v is not None}
        revision = str(getattr(model.config, "_commit_hash", "") or "")
        return cls(model, model_id=model_id, device=device, image_size=size, revision=revision, **extra, **kwargs)

    @classmethod
    def tiny(cls, device: str | torch.device | None = None, seed: int = 0, **kwargs: Any) -> SamPredictor:
        """A small random SAM (64-pixel input, two-layer encoder) built from configs offline."""
        from transformers import SamConfig, SamMaskDecoderConfig, SamModel, SamPromptEncoderConfig, SamVisionConfig

        vision = SamVisionConfig(
            hidden_size=32, output_channels=32, num_hidden_layers=2, num_attention_heads=2, image_size=64,
            patch_size=8, window_size=4, global_attn_indexes=(1,), num_pos_feats=16, mlp_dim=64,
        )
        prompt = SamPromptEncoderConfig(hidden_size=32, image_size=64, patch_size=8, mask_input_channels=4)
        decoder = SamMaskDecoderConfig(
            hidden_size=32, mlp_dim=64, num_hidden_layers=2, num_attention_heads=2, iou_head_hidden_dim=32,
        )
        config = SamConfig(vision_config=vision, prompt_encoder_config=prompt, mask_decoder_config=decoder)
        model = _random_init(SamModel(config), seed)
        predictor = cls(model, model_id="tiny", device=device, revision=f"tiny-seed{seed}", **kwargs)
        predictor.untrained = True
        return predictor

    def describe(self) -> dict[str, Any]:
        return {
            "model": {"name": self.name, "variant": self.variant, "kind": self.kind, "model_type": "specialist",
                      "revision": self.revision, "untrained": self.untrained},
            "settings": {"steps": None, "guidance": None, "seed": None, "model_id": self.model_id,
                         "multimask": self.multimask, "image_size": self.image_size},
        }

    def _scale(self, height: int, width: int) -> tuple[float, int, int]:
        scale = self.image_size / max(height, width)
        return scale, int(height * scale + 0.5), int(width * scale + 0.5)  # SAM's get_preprocess_shape

    @torch.no_grad()
    def _embedding(self, image: np.ndarray, sample_id: str) -> torch.Tensor:
        height, width = image.shape[:2]
        if self._cached is not None and self._cached[0] == sample_id and self._cached[1] == (height, width):
            return self._cached[2]
        _, new_h, new_w = self._scale(height, width)
        x = torch.tensor(image).permute(2, 0, 1).unsqueeze(0).float()  # [1, 3, H, W] in 0..255
        x = F.interpolate(x, size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=True)
        x = _normalise(x, self.mean, self.std)
        x = F.pad(x, (0, self.image_size - new_w, 0, self.image_size - new_h))  # [1, 3, S, S], bottom-right
        embedding = self.model.get_image_embeddings(x.to(self.device))  # [1, C, S/16, S/16]
        self._cached = (sample_id, (height, width), embedding)
        return embedding

    @torch.no_grad()
    def predict_masks(self, image: np.ndarray, point_sets: list[list[list[float]]], *, sample_id: str,
                      labels: list[list[int]] | None = None, mask_ids: list[str] | None = None,
                      gt_masks: list[np.ndarray] | None = None) -> list[np.ndarray]:
        image = _check_image(image)
        _check_point_sets(point_sets, None, self.name)
        if labels is not None and [len(row) for row in labels] != [len(s) for s in point_sets]:
            raise ValueError("labels: one label per point expected")
        if gt_masks is not None and len(gt_masks) != len(point_sets):
            raise ValueError("gt_masks: one ground-truth mask per point set expected")
        height, width = image.shape[:2]
        _, new_h, new_w = self._scale(height, width)
        embedding = self._embedding(image, sample_id)
        n_max = max(len(s) for s in point_sets)
        coords = torch.zeros(1, len(point_sets), n_max, 2)  # [1, P, N, 2] in the resized frame
        point_labels = torch.full((1, len(point_sets), n_max), _SAM_PADDING_LABEL, dtype=torch.long)
        # As SamProcessor: x and y scale by the rounded resized width and height respectively.
        axis_scale = torch.tensor([new_w / width, new_h / height], dtype=torch.float32)
        for i, points in enumerate(point_sets):
            coords[0, i, : len(points)] = torch.tensor(points, dtype=torch.float32) * axis_scale
            point_labels[0, i, : len(points)] = torch.tensor(labels[i] if labels is not None else [1] * len(points))
        out = self.model(
            image_embeddings=embedding, input_points=coords.to(self.device), input_labels=point_labels.to(self.device),
            multimask_output=True,
        )
        low_res = out.pred_masks[0].float()  # [P, 3, s, s] logits
        scores = out.iou_scores[0].float()  # [P, 3] predicted IoU
        logits = F.interpolate(low_res, size=(self.image_size, self.image_size), mode="bilinear", align_corners=False)
        logits = logits[..., :new_h, :new_w]
        logits = F.interpolate(logits, size=(height, width), mode="bilinear", align_corners=False)
        candidates = (logits > 0).cpu().numpy()  # [P, 3, H, W]
        best = scores.argmax(dim=1).cpu().numpy()
        masks = []
        for i in range(len(point_sets)):
            pick = int(best[i])
            if gt_masks is not None or self.multimask == "oracle":
                if gt_masks is None:
                    raise ValueError("gt_masks: the oracle needs the ground-truth masks")
                pick = _best_by_iou(candidates[i], np.asarray(gt_masks[i], dtype=bool))
            masks.append(candidates[i, pick])
        return masks


# --------------------------------------------------------------------------------------------------------------------
# Depth Anything
# --------------------------------------------------------------------------------------------------------------------

_DA_VARIANTS = {
    "v2-small": "v2 ViT-S", "v2-base": "v2 ViT-B", "v2-large": "v2 ViT-L", "v2-giant": "v2 ViT-G",
    "anything-small": "v1 ViT-S", "anything-base": "v1 ViT-B", "anything-large": "v1 ViT-L", "tiny": "tiny-random",
}


class DepthAnythingPredictor(_Unsupported):
    """Depth Anything (v1 / v2) through transformers' ``AutoModelForDepthEstimation``: relative disparity."""

    kind = "depth-anything"
    max_points: int | None = 0
    negative_points = False
    multi_output = False
    depth_output = "disparity"
    untrained = False  # True for the random tiny build: its results never enter a ranking

    def __init__(
        self,
        model: Any,
        *,
        model_id: str = "",
        device: str | torch.device | None = None,
        input_size: int = 518,
        multiple_of: int = 14,
        mean: Sequence[float] = _IMAGENET_MEAN,
        std: Sequence[float] = _IMAGENET_STD,
        revision: str = "",
    ) -> None:
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.model_id = str(model_id)
        self.input_size = int(input_size)
        self.multiple_of = int(multiple_of)
        self.mean, self.std = tuple(mean), tuple(std)
        self.revision = revision
        self.name = "Depth Anything"
        self.variant = _variant_from_id(self.model_id, _DA_VARIANTS)
        self.tasks = frozenset({Task.DEPTH})

    @classmethod
    def from_pretrained(cls, model_id: str = "depth-anything/Depth-Anything-V2-Small-hf",
                        device: str | torch.device | None = None, **kwargs: Any) -> DepthAnythingPredictor:
        from transformers import AutoModelForDepthEstimation

        model = AutoModelForDepthEstimation.from_pretrained(model_id)
        pre = _read_preprocessor_config(model_id)
        size = pre.get("size") or {}
        extra: dict[str, Any] = {}
        if "height" in size:
            extra["input_size"] = int(size["height"])
        if "ensure_multiple_of" in pre:
            extra["multiple_of"] = int(pre["ensure_multiple_of"])
        if "image_mean" in pre:
            extra["mean"], extra["std"] = pre["image_mean"], pre["image_std"]
        revision = str(getattr(model.config, "_commit_hash", "") or "")
        return cls(model, model_id=model_id, device=device, revision=revision, **extra, **kwargs)

    @classmethod
    def tiny(cls, device: str | torch.device | None = None, seed: int = 0, **kwargs: Any) -> DepthAnythingPredictor:
        """A small random Depth Anything (a 4-layer DINOv2 backbone of width 32, 56-pixel input) built offline."""
        from transformers import AutoModelForDepthEstimation, DepthAnythingConfig, Dinov2Config

        backbone = Dinov2Config(
            hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64, patch_size=14,
            image_size=56, out_indices=[1, 2, 3, 4], reshape_hidden_states=False, apply_layernorm=True,
        )
        config = DepthAnythingConfig(
            backbone_config=backbone, patch_size=14, reassemble_hidden_size=32, neck_hidden_sizes=[8, 16, 32, 32],
            fusion_hidden_size=16, head_hidden_size=8,
        )
        model = _random_init(AutoModelForDepthEstimation.from_config(config), seed, std=0.2)
        predictor = cls(model, model_id="tiny", device=device, input_size=56, revision=f"tiny-seed{seed}", **kwargs)
        predictor.untrained = True
        return predictor

    def describe(self) -> dict[str, Any]:
        return {
            "model": {"name": self.name, "variant": self.variant, "kind": self.kind, "model_type": "specialist",
                      "revision": self.revision, "untrained": self.untrained},
            "settings": {"steps": None, "guidance": None, "seed": None, "model_id": self.model_id,
                         "input_size": self.input_size},
        }

    def _input_shape(self, height: int, width: int) -> tuple[int, int]:
        """DPT's keep-aspect-ratio resize: the scale closer to 1 wins; each side rounded to a multiple."""
        scale_h, scale_w = self.input_size / height, self.input_size / width
        if abs(1 - scale_w) < abs(1 - scale_h):
            scale_h = scale_w
        else:
            scale_w = scale_h
        m = self.multiple_of
        new_h = max(m, int(round(height * scale_h / m)) * m)
        new_w = max(m, int(round(width * scale_w / m)) * m)
        return new_h, new_w

    @torch.no_grad()
    def predict_depth(self, image: np.ndarray, *, sample_id: str) -> np.ndarray:
        image = _check_image(image)
        height, width = image.shape[:2]
        x = torch.tensor(image).permute(2, 0, 1).unsqueeze(0).float() / 255.0  # [1, 3, H, W] in [0, 1]
        x = F.interpolate(x, size=self._input_shape(height, width), mode="bicubic", align_corners=False)
        x = _normalise(x, self.mean, self.std)
        predicted = self.model(pixel_values=x.to(self.device)).predicted_depth  # [1, h, w] relative disparity
        out = F.interpolate(predicted[:, None].float(), size=(height, width), mode="bicubic", align_corners=False)
        return out[0, 0].cpu().numpy().astype(np.float32)


# --------------------------------------------------------------------------------------------------------------------
# Prediction files
# --------------------------------------------------------------------------------------------------------------------


class FilesPredictor(_Unsupported):
    """Predictions read from files, for models we cannot run.

    ``folder`` holds ``diception_spec.prediction_files``' layout (sample and mask ids as in the prepared manifest, or
    the synthetic benchmark's).

    A mask file is one fixed prediction per ground-truth mask, whatever the points; the runner therefore scores
    file predictions after one click only (``max_points = 1``). A missing or unreadable file raises ``ValueError``,
    which the runner reports as that sample's failure.
    """

    kind = "files"
    max_points: int | None = 1
    negative_points = False
    multi_output = False

    def __init__(
        self,
        folder: str | Path,
        *,
        depth_kind: str = DEFAULT_DEPTH_KIND,
        depth_scale: float = DEFAULT_DEPTH_SCALE,
        normal_frame: str | NormalFrame = DEFAULT_NORMAL_FRAME,
        name: str = "predictions",
        variant: str = "",
        model_type: str = "specialist",
    ) -> None:

        if depth_kind not in DEPTH_KINDS:
            raise ValueError(f"depth_kind: expected one of {', '.join(DEPTH_KINDS)}, got {depth_kind!r}")
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise FileNotFoundError(f"folder: {self.folder} is not a folder of predictions")
        self.depth_output = depth_kind
        self.depth_scale = float(depth_scale)
        self.normal_frame = NormalFrame.parse(normal_frame, "normal_frame").value
        self.name = name
        self.variant = variant
        self.model_type = model_type
        self.tasks = frozenset(task for task, sub in TASK_FOLDERS.items() if (self.folder / sub).is_dir())

    def describe(self) -> dict[str, Any]:
        return {
            "model": {"name": self.name, "variant": self.variant, "kind": self.kind, "model_type": self.model_type,
                      "revision": "", "untrained": False},
            "settings": {"steps": None, "guidance": None, "seed": None, "predictions": str(self.folder),
                         "depth_kind": self.depth_output, "depth_scale": self.depth_scale,
                         "normal_frame": self.normal_frame},
        }

    def _find(self, sub: str, stem: str, suffixes: Sequence[str]) -> Path:
        for suffix in suffixes:
            path = self.folder / sub / f"{stem}{suffix}"
            if path.is_file():
                return path
        raise ValueError(f"no prediction file {sub}/{stem}{{{','.join(suffixes)}}} in {self.folder}")

    @staticmethod
    def _load_npy(path: Path) -> np.ndarray:
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ValueError(f"{path}: unreadable .npy ({exc})") from exc

    @staticmethod
    def _load_png(path: Path) -> np.ndarray:
        from PIL import Image

        try:
            with Image.open(path) as img:
                return np.asarray(img)
        except OSError as exc:
            raise ValueError(f"{path}: unreadable image ({exc})") from exc

    @staticmethod
    def _check_shape(array: np.ndarray, image: np.ndarray, path: str) -> None:
        if array.shape[:2] != image.shape[:2]:
            raise ValueError(f"{path}: shape {array.shape} does not match the image {image.shape[:2]}")

    def predict_masks(self, image: np.ndarray, point_sets: list[list[list[float]]], *, sample_id: str,
                      labels: list[list[int]] | None = None, mask_ids: list[str] | None = None,
                      gt_masks: list[np.ndarray] | None = None) -> list[np.ndarray]:
        if mask_ids is None or len(mask_ids) != len(point_sets):
            raise ValueError("mask_ids: prediction files are looked up by mask id; pass one per point set")
        masks = []
        for mask_id in mask_ids:
            folder = TASK_FOLDERS[Task.POINT_SEGMENTATION]
            path = self._find(f"{folder}/{sample_id}", str(mask_id), FOLDER_SUFFIXES[folder])
            array = self._load_npy(path) if path.suffix == ".npy" else self._load_png(path)
            if array.ndim == 3:
                array = array[..., 0]
            self._check_shape(array, image, str(path))
            masks.append(array.astype(bool))
        return masks

    def predict_depth(self, image: np.ndarray, *, sample_id: str) -> np.ndarray:
        folder = TASK_FOLDERS[Task.DEPTH]
        path = self._find(folder, sample_id, FOLDER_SUFFIXES[folder])
        if path.suffix == ".npy":
            depth = self._load_npy(path).astype(np.float32)
        else:
            depth = self._load_png(path).astype(np.float32) / np.float32(self.depth_scale)
        if depth.ndim != 2:
            raise ValueError(f"{path}: expected [H, W], got {depth.shape}")
        self._check_shape(depth, image, str(path))
        return depth

    def predict_normals(self, image: np.ndarray, *, sample_id: str) -> np.ndarray:

        folder = TASK_FOLDERS[Task.NORMAL]
        path = self._find(folder, sample_id, FOLDER_SUFFIXES[folder])
        normals = self._load_npy(path).astype(np.float32)
        if normals.ndim != 3 or normals.shape[2] != 3:
            raise ValueError(f"{path}: expected [H, W, 3], got {normals.shape}")
        self._check_shape(normals, image, str(path))
        return convert_normal_frame(normals, self.normal_frame, CANONICAL_FRAME)


# --------------------------------------------------------------------------------------------------------------------
# Factory
# --------------------------------------------------------------------------------------------------------------------


def build_predictor(
    kind: str, model: str | None = None, device: str | torch.device | None = None, **opts: Any
) -> Predictor:
    """A predictor by kind: ``diception`` (``model`` = "tiny", a folder or a Hub id; options ``steps``,
    ``guidance``, ``seed``, ``adapter``, ``adapter_scale``, ``batch_size``, ``dtype``, ``runtime`` (a
    ``diception_core.runtime.RuntimeOptions``)), ``sam`` / ``depth-anything`` (``model`` =
    "tiny" or a transformers id / folder), ``files`` (``model`` or ``predictions`` = the folder; options of
    :class:`FilesPredictor`). Raises ``ValueError`` on an unknown kind, listing the known ones."""
    if kind == "diception":
        # The weights load on the first prediction: a fully cached evaluation never loads them.
        pipe = DeferredPipeline(model or "tiny", device=device, dtype=opts.pop("dtype", None),
                                runtime=opts.pop("runtime", None))
        return DiceptionPredictor(pipe, model_id=model or "tiny", **opts)
    if kind == "sam":
        if model in (None, "tiny"):
            return SamPredictor.tiny(device=device, **opts) if model == "tiny" else SamPredictor.from_pretrained(
                device=device, **opts)
        return SamPredictor.from_pretrained(model, device=device, **opts)
    if kind == "depth-anything":
        if model == "tiny":
            return DepthAnythingPredictor.tiny(device=device, **opts)
        if model is None:
            return DepthAnythingPredictor.from_pretrained(device=device, **opts)
        return DepthAnythingPredictor.from_pretrained(model, device=device, **opts)
    if kind == "files":
        folder = opts.pop("predictions", None) or model
        if folder is None:
            raise ValueError("predictions: the files predictor needs the folder of prediction files")
        return FilesPredictor(folder, **opts)
    raise ValueError(f"kind: unknown predictor kind {kind!r}; known kinds: {', '.join(PREDICTOR_KINDS)}")
