"""DiceptionPipeline: image(s) + task (+ points / category) -> raw RGB prediction and decoded result.

A call reads as numbered steps, like diffusers' SD3 and Marigold pipelines: check inputs, prompt embeddings,
preprocess, image latents, point tokens, initial noise, denoise, decode, postprocess.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from diffusers.utils.torch_utils import randn_tensor
from PIL import Image

from diception_spec.tasks import MAX_POINTS, TASK_SPECS, Encoding, Task, task_prompt

from .config import DiceptionConfig
from .custom_task import CustomTask
from .decoders import decode, decode_resized
from .hub import hub_errors_as_load_errors
from .image_io import ImageLike, aspect_ratio_warning, load_rgb
from .loading import (
    DEFAULT_BASE,
    DEFAULT_CHECKPOINT_REPO,
    ModelParts,
    load_folder_parts,
    load_official_parts,
    resolve_model_folder,
    save_model_folder,
)
from .points import PointsLike, is_point_set_list, normalize_points, points_to_pixels, points_to_slots
from .prompts import PromptCache, TextEncoders, embed_missing_prompts
from .runtime import RuntimeOptions, apply_module_options, attention_context, resolve_device, resolve_dtype

logger = logging.getLogger(__name__)

StepCallback = Callable[[int, int], None]  # (steps done, total steps)


def resize_output(rgb: torch.Tensor, height: int, width: int, resampling: str = "bilinear-antialias") -> np.ndarray:
    """The model's output [3, R, R] in [0, 1] -> [H, W, 3] float32 at the input size, clipped to [0, 1].

    ``resampling`` is the model config's: bilinear (half-pixel centres; upsampling needs no antialiasing, so none is
    applied, as in the release's evaluation path) or PIL's LANCZOS per channel.
    """
    if resampling == "lanczos":
        channels = [
            np.asarray(Image.fromarray(c.float().numpy()).resize((width, height), Image.Resampling.LANCZOS),
                       dtype=np.float32)
            for c in rgb
        ]
        return np.clip(np.stack(channels, axis=-1), 0.0, 1.0)
    # Channels-last in and out: the [H, W, 3] view is already contiguous, so no copy follows the resize.
    x = rgb.float().unsqueeze(0).contiguous(memory_format=torch.channels_last)  # [1, 3, R, R]
    out = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)[0].clamp_(0, 1)
    return np.ascontiguousarray(out.permute(1, 2, 0).numpy())  # [H, W, 3] float32


def resize_channels(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a float32 [h, w, C] map to [H, W, C], exactly as ``resize_output`` resizes each channel
    (half-pixel centres, no antialiasing, no clipping); the resize ``decoders.decode_resized`` is given."""
    x = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).permute(2, 0, 1).unsqueeze(0)  # [1, C, h, w]
    out = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)[0]  # [C, H, W]
    return np.ascontiguousarray(out.permute(1, 2, 0).numpy())  # [H, W, C]


@dataclass
class DiceptionPrediction:
    """One prediction: the model's raw output at its resolution and the decoded result at the input's size.

    ``decoded`` was decoded from the model-resolution output, resizing only the decoded channels (see
    ``decoders.decode_resized`` for the tolerance against decoding the full-resolution RGB); ``rgb`` is the
    full-resolution raw output, made on request (for the raw download), never kept.
    """

    task: Task | CustomTask
    encoding: Encoding
    model_rgb: torch.Tensor  # [3, R, R] in [0, 1], the VAE's decoded output at the model resolution (CPU)
    # depth [H, W] float32 disparity (1 = near) | normals [H, W, 3] unit, Marigold's frame (x right, y up, z to the
    # viewer) | mask [H, W] bool | Instances | PoseKeypoints | rgb [H, W, 3] float32
    decoded: Any
    image_index: int  # which input image this came from
    points: list[list[float]] | None  # the point prompt in original-image pixels [[x, y], ...]
    image: np.ndarray  # [H, W, 3] uint8, the input as the model saw it before resizing (after EXIF, RGB)
    resampling: str = "bilinear-antialias"  # the model config's, for ``rgb``
    warnings: list[str] = field(default_factory=list)  # notes about this prediction's input (e.g. stretched)

    @property
    def size(self) -> tuple[int, int]:
        """(height, width) of the input, which every decoded output has."""
        return int(self.image.shape[0]), int(self.image.shape[1])

    @property
    def rgb(self) -> np.ndarray:
        """The raw output resized to the input size: float32 [H, W, 3] in [0, 1] (42 MB at 2363 x 1500).

        Computed on each access from ``model_rgb`` (nothing holds it afterwards): keep the result if you need it
        twice.
        """
        return resize_output(self.model_rgb, *self.size, self.resampling)

    def _decoded_as(self, encoding: Encoding) -> Any:
        if self.encoding is not encoding:
            raise AttributeError(f"this is a {self.encoding.value} prediction, not {encoding.value}")
        return self.decoded

    @property
    def depth(self) -> np.ndarray:
        return self._decoded_as(Encoding.DEPTH)

    @property
    def normals(self) -> np.ndarray:
        return self._decoded_as(Encoding.NORMAL)

    @property
    def mask(self) -> np.ndarray:
        return self._decoded_as(Encoding.MASK)

    @property
    def instances(self) -> Any:
        return self._decoded_as(Encoding.INSTANCES)

    @property
    def keypoints(self) -> Any:
        return self._decoded_as(Encoding.POSE)


@dataclass
class DiceptionOutput:
    predictions: list[DiceptionPrediction]
    settings: dict[str, Any]  # steps, guidance, seed, adapter, model revision, ...
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.predictions)

    def __getitem__(self, index: int) -> DiceptionPrediction:
        return self.predictions[index]

    def __iter__(self):
        return iter(self.predictions)

    @property
    def rgb(self) -> np.ndarray:
        """The raw prediction(s): [H, W, 3] for one, or [N, H, W, 3] when all share a size."""
        if len(self.predictions) == 1:
            return self.predictions[0].rgb
        shapes = {p.rgb.shape for p in self.predictions}
        if len(shapes) > 1:
            raise ValueError("rgb: the predictions differ in size (the inputs did); iterate over out.predictions")
        return np.stack([p.rgb for p in self.predictions])


@dataclass
class _Item:
    image_index: int
    points_norm: np.ndarray  # [K, 2] normalised (x, y)
    points_px: list[list[float]] | None


class DiceptionPipeline:
    """DICEPTION inference. Build with ``from_pretrained`` (a converted folder, a Hub id or ``"tiny"``) or
    ``from_official`` (SD3-medium + ``DICEPTION_v1.pth``)."""

    def __init__(
        self,
        *,
        transformer: torch.nn.Module,
        vae: torch.nn.Module,
        scheduler: Any,
        point_encoder: torch.nn.Module,
        prompt_cache: PromptCache,
        config: DiceptionConfig,
        text_encoders: TextEncoders | None = None,
        runtime: RuntimeOptions | None = None,
    ) -> None:
        self.transformer = transformer
        self.vae = vae
        self.scheduler = scheduler
        self.point_encoder = point_encoder
        self.prompt_cache = prompt_cache
        self.config = config
        self.text_encoders = text_encoders
        self.device = torch.device("cpu")
        self.dtype = torch.float32
        self.adapters: dict[str, Any] = {}  # name -> AdapterInfo (see lora.py)
        self.active_adapter: str | None = None
        self.adapter_scale: float = 1.0
        self._prompt_lock = threading.Lock()
        for module in (transformer, vae, point_encoder):
            module.eval().requires_grad_(False)
        self.runtime = RuntimeOptions()
        if runtime is not None:
            self.set_runtime(runtime)

    def set_runtime(self, options: RuntimeOptions) -> None:
        """Use these speed options from now on (attention kernel, compiled transformer, channels-last VAE); a later
        call with other options undoes what these set."""
        if not isinstance(options, RuntimeOptions):
            raise ValueError(f"options: expected a RuntimeOptions, got {type(options).__name__}")
        apply_module_options(self.transformer, self.vae, options)
        self.runtime = options

    # ------------------------------------------------------------------ loading
    @classmethod
    def from_pretrained(
        cls,
        folder_or_id: str | Path,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | str | None = None,
        token: str | None = None,
        revision: str | None = None,
        runtime: RuntimeOptions | None = None,
    ) -> DiceptionPipeline:
        """Load a model folder written by ``convert`` (or ``"tiny"``, or a Hub id of such a folder)."""
        folder = model_folder(folder_or_id, token=token, revision=revision)
        device = resolve_device(device)
        dtype = resolve_dtype(device, dtype)
        pipe = cls(**load_folder_parts(folder, device=device, dtype=dtype, token=token).as_kwargs())
        pipe.model_folder = folder
        pipe.to(device, dtype)
        if runtime is not None:
            pipe.set_runtime(runtime)
        return pipe

    @classmethod
    def from_official(
        cls,
        base: str | Path = DEFAULT_BASE,
        checkpoint: str | Path = DEFAULT_CHECKPOINT_REPO,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | str | None = None,
        token: str | None = None,
        base_revision: str | None = None,
        checkpoint_revision: str | None = None,
        config_overrides: dict[str, Any] | None = None,
        runtime: RuntimeOptions | None = None,
    ) -> DiceptionPipeline:
        """SD3-medium in diffusers layout (Hub id or folder) + the release's ``DICEPTION_v1.pth`` (see
        ``loading.load_official_parts``); prompts are embedded by the base's text encoders on first use."""
        device = resolve_device(device)
        dtype = resolve_dtype(device, dtype)
        parts = load_official_parts(base, checkpoint, device=device, dtype=dtype, token=token,
                                    base_revision=base_revision, checkpoint_revision=checkpoint_revision,
                                    config_overrides=config_overrides)
        with hub_errors_as_load_errors(str(base)):  # moving to the device can run out of memory
            pipe = cls(**parts.as_kwargs()).to(device, dtype)
        if runtime is not None:
            pipe.set_runtime(runtime)
        return pipe

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write the model folder's weights, scheduler, config and prompt cache (see ``loading.convert``)."""
        return save_model_folder(folder, ModelParts(
            transformer=self.transformer, vae=self.vae, scheduler=self.scheduler, point_encoder=self.point_encoder,
            prompt_cache=self.prompt_cache, config=self.config,
        ))

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> DiceptionPipeline:
        """Move every module; the point encoder's Fourier product keeps ``config.point_dtype`` regardless."""
        if device is not None:
            self.device = torch.device(device)
        if dtype is not None:
            self.dtype = dtype
        for module in (self.transformer, self.vae, self.point_encoder):
            current = next(module.parameters())
            if current.dtype != self.dtype:
                module.to(device=self.device, dtype=self.dtype)
            elif current.device != self.device:
                module.to(device=self.device)
        if self.text_encoders is not None:
            self.text_encoders.device = self.device
        return self

    @property
    def point_dtype(self) -> torch.dtype:
        return getattr(torch, self.config.point_dtype)

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    # ------------------------------------------------------------------ prompts
    def precompute_prompts(self, prompts: Sequence[str], batch_size: int = 1) -> None:
        """Embed and cache every prompt in ``prompts`` that is not cached yet (loads the text encoders once).

        One prompt per encoder call by default, so a prompt's embedding never depends on which prompts shared its
        batch (batched matmuls round differently): a cached embedding equals one computed on demand, bit for bit.
        """
        with self._prompt_lock:
            embed_missing_prompts(self.prompt_cache, self.text_encoders, prompts, batch_size)

    def prompt_embeddings(self, prompt: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(prompt_embeds [1, L, D], pooled [1, P]) on the pipeline's device and dtype; cached, else encoded once."""
        if prompt not in self.prompt_cache:
            self.precompute_prompts([prompt])
        embeds, pooled = self.prompt_cache.get(prompt)
        return (
            embeds.unsqueeze(0).to(self.device, self.dtype),
            pooled.unsqueeze(0).to(self.device, self.dtype),
        )

    # ------------------------------------------------------------------ adapters (implemented in lora.py)
    def load_adapter(self, folder: str | Path, *, name: str | None = None, scale: float = 1.0) -> str:
        from .lora import load_adapter

        return load_adapter(self, folder, name=name, scale=scale)

    def set_adapter(self, name: str | None, scale: float = 1.0) -> None:
        from .lora import set_adapter

        set_adapter(self, name, scale)

    def unload_adapter(self, name: str | None = None) -> None:
        from .lora import unload_adapter

        unload_adapter(self, name)

    def adapter_task(self, name: str | None = None) -> CustomTask | Task:
        from .lora import adapter_task

        return adapter_task(self, name)

    # ------------------------------------------------------------------ inference
    def check_inputs(
        self,
        task: Task | CustomTask | str,
        category: str | None,
        num_inference_steps: int,
        guidance_scale: float,
        seed: int | None,
        generator: torch.Generator | list[torch.Generator] | None,
    ) -> Task | CustomTask:
        """Flat guard clauses naming the argument and the allowed values."""
        if not isinstance(task, CustomTask):
            task = Task.parse(task)
        if isinstance(num_inference_steps, bool) or not isinstance(num_inference_steps, int | np.integer):
            raise ValueError(f"num_inference_steps: must be an integer, got {num_inference_steps!r}")
        if not 1 <= num_inference_steps <= 1000:
            raise ValueError(f"num_inference_steps: {num_inference_steps} is outside 1..1000")
        if not np.isfinite(guidance_scale) or not 0.0 <= guidance_scale <= 30.0:
            raise ValueError(f"guidance_scale: {guidance_scale} is outside [0, 30] (1 disables guidance)")
        if seed is not None and generator is not None:
            raise ValueError("seed, generator: pass one of them, not both")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0):
            raise ValueError(f"seed: must be a non-negative integer, got {seed!r}")
        if isinstance(task, Task) and not TASK_SPECS[task].needs_category and category is not None:
            raise ValueError(f"category: task {task.value!r} takes no category")
        return task

    @torch.no_grad()
    def __call__(
        self,
        images: ImageLike | Sequence[ImageLike],
        task: Task | CustomTask | str,
        points: PointsLike | Sequence[PointsLike] = None,
        category: str | None = None,
        num_inference_steps: int | None = None,
        guidance_scale: float | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        seed: int | None = None,
        latents: torch.Tensor | None = None,
        *,
        normalized: bool = False,
        batch_size: int = 8,
        callback: StepCallback | None = None,
        decode: bool = True,
    ) -> DiceptionOutput:
        """Run DICEPTION.

        images: one image (PIL, numpy, torch, path or bytes) or a list of them. A C-contiguous, writeable uint8
            [H, W, 3] array (an image already decoded, e.g. by ``image_io.load_rgb``) is used as is: not copied.
        points: point segmentation only, as numbers (nested lists, numpy or torch; text is refused: parse it at
            your edge). For one image: one point set ``[[x, y], ...]`` (pixels, at most 5; shape [K, 2]) or a list
            of point sets (shape [N, K, 2]; each gives one prediction; the image is encoded once and all sets share
            one batched denoising loop). For a list of images: one entry per image, each a point set or a list of
            sets. ``normalized=True``: coordinates in [0, 1] instead of pixels.
        category: the COCO category (any text; uncached ones load the text encoders once) for
            ``semantic_segmentation``.
        num_inference_steps / guidance_scale: default from the model config (28 / 2.0 for the release).
        seed / generator / latents: noise. With a seed (default from the config), each prediction's noise is
            ``randn_tensor((1, 16, h, w), generator=torch.Generator(device).manual_seed(seed))``: one generator per
            prediction, so a prediction's noise does not depend on its batch position and equals the release's
            single-image noise on the same device type. A list of generators gives one per prediction; explicit
            ``latents`` [N, 16, h, w] override both.
        callback: called as ``callback(steps_done, total_steps)`` after every denoising step.
        decode: False skips decoding (``decoded`` is None; ``model_rgb`` and ``rgb`` remain).

        Outputs: each prediction's ``decoded`` is decoded from the model-resolution output and only the decoded
        channel(s) are resized to the input size (see ``decoders.decode_resized``: against decoding the
        full-resolution RGB, masks agree to IoU >= 0.999 and depth to 1e-3 max abs; normals, instances and pose are
        identical); ``rgb`` gives the full-resolution raw output on request.
        """
        cfg = self.config
        steps = cfg.default_steps if num_inference_steps is None else num_inference_steps
        guidance = cfg.default_guidance if guidance_scale is None else float(guidance_scale)
        if seed is None and generator is None and latents is None:
            seed = cfg.default_seed
        # 1. Check inputs.
        task = self.check_inputs(task, category, steps, guidance, seed, generator)
        spec_encoding, needs_points, prompt = self._task_parts(task, category)
        image_list = self._as_image_list(images)
        if not needs_points and points is not None and not _empty_points(points):
            raise ValueError(f"points: task {getattr(task, 'value', task)!r} takes no points")
        rgbs = [load_rgb(img, max_pixels=cfg.max_input_pixels, name=f"images[{i}]")
                for i, img in enumerate(image_list)]  # a decoded uint8 array passes through uncopied
        items = self._make_items(rgbs, points if needs_points else None, normalized, needs_points, images)
        notes = [aspect_ratio_warning(rgb.shape[1], rgb.shape[0], cfg.extreme_aspect_ratio) for rgb in rgbs]
        warnings = [w for w in notes if w]
        n_items = len(items)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
            raise ValueError(f"batch_size: must be a positive integer, got {batch_size!r}")
        if latents is not None and (latents.ndim != 4 or latents.shape[0] != n_items):
            raise ValueError(f"latents: expected shape [{n_items}, C, h, w] (one per prediction), got "
                             f"{tuple(latents.shape)}")
        if isinstance(generator, list) and len(generator) != n_items:
            raise ValueError(f"generator: got {len(generator)} generators for {n_items} predictions")

        # 2. Prompt embeddings (cached; the unconditional branch uses the empty prompt).
        do_cfg = guidance > 1.0
        cond_embeds, cond_pooled = self.prompt_embeddings(prompt)  # [1, L, D], [1, P]
        uncond_embeds, uncond_pooled = self.prompt_embeddings("") if do_cfg else (None, None)

        # 3.-4. Preprocess and encode each image once.
        image_latents = self.encode_images(rgbs)  # [B, 16, h, w]

        # 5.-6. Point tokens and initial noise per prediction.
        schedule = copy.deepcopy(self.scheduler)
        schedule.set_timesteps(steps, device=self.device)
        timesteps = schedule.timesteps  # [steps], 1000 -> ~0
        sigmas = schedule.sigmas.to(torch.float32)  # [steps + 1], 1 -> 0
        chunks = [list(range(s, min(s + batch_size, n_items))) for s in range(0, n_items, batch_size)]
        total = steps * len(chunks)
        outputs: list[torch.Tensor] = []
        with attention_context(self.runtime.attention):
            for chunk_index, chunk in enumerate(chunks):
                chunk_items = [items[i] for i in chunk]
                cond = image_latents[[it.image_index for it in chunk_items]]  # [n, 16, h, w]
                point_tokens = self.encode_points([it.points_norm for it in chunk_items])  # [n, 5, D]
                noise = self._initial_noise(chunk, cond.shape[1:], seed, generator, latents)  # [n, 16, h, w]
                # 7. Denoise.
                x = self.denoise(
                    noise, cond, cond_embeds, cond_pooled, point_tokens, timesteps, sigmas, guidance,
                    uncond_embeds, uncond_pooled,
                    callback=None if callback is None else
                    (lambda done, _t, base=chunk_index * steps: callback(base + done, total)),
                )
                # 8. Decode latents to RGB in [0, 1] at the model resolution; one owned tensor per prediction.
                outputs.extend(t.clone() for t in self.decode_latents(x).cpu())  # n x [3, R, R]

        # 9. Postprocess: decode at the model resolution, resize only the decoded channels to each input's size.
        predictions = []
        for item, model_rgb in zip(items, outputs, strict=True):
            source = rgbs[item.image_index]
            height, width = source.shape[:2]
            decoded = self.decode_output(spec_encoding, model_rgb, height, width) if decode else None
            note = notes[item.image_index]
            predictions.append(DiceptionPrediction(
                task=task, encoding=spec_encoding, model_rgb=model_rgb, decoded=decoded,
                image_index=item.image_index, points=item.points_px, image=source, resampling=cfg.resampling,
                warnings=[note] if note else [],
            ))
        settings = {
            "task": getattr(task, "value", getattr(task, "name", str(task))),
            "prompt": prompt,
            "steps": steps,
            "guidance": guidance,
            "seed": seed,
            "adapter": self.active_adapter,
            "adapter_scale": self.adapter_scale if self.active_adapter else None,
            "model_revision": self.config.model_revision,
            "resolution": self.config.resolution,
            "device": str(self.device),
            "dtype": str(self.dtype).replace("torch.", ""),
        }
        return DiceptionOutput(predictions=predictions, settings=settings, warnings=warnings)

    def _task_parts(self, task: Task | CustomTask, category: str | None) -> tuple[Encoding, bool, str]:
        if isinstance(task, CustomTask):
            return task.encoding, task.needs_points, task.prompt
        spec = TASK_SPECS[task]
        return spec.encoding, spec.needs_points, task_prompt(task, category)

    @staticmethod
    def _as_image_list(images: Any) -> list[Any]:
        if isinstance(images, list | tuple):
            if not images:
                raise ValueError("images: the list is empty; pass at least one image")
            return list(images)
        if isinstance(images, torch.Tensor) and images.ndim == 4:
            return list(images)
        return [images]

    def _make_items(
        self, rgbs: list[np.ndarray], points: Any, normalized: bool, needs_points: bool, images: Any
    ) -> list[_Item]:
        if not needs_points:
            return [_Item(i, np.zeros((0, 2)), None) for i in range(len(rgbs))]
        batch_input = isinstance(images, list | tuple) or (isinstance(images, torch.Tensor) and images.ndim == 4)
        _refuse_text(points)
        if batch_input:
            if len(rgbs) == 1 and points is not None and len(points) and _is_pair(points[0]):
                points = [points]  # one image in a list with one point set [[x, y], ...]
            if points is None or len(points) != len(rgbs):
                raise ValueError(f"points: with {len(rgbs)} images pass a list of {len(rgbs)} entries, one per "
                                 "image: a point set [[x, y], ...] or a list of point sets, e.g. [[[5, 5]], ...]")
            per_image = list(points)
        else:
            per_image = [points]
        items: list[_Item] = []
        for index, (rgb, entry) in enumerate(zip(rgbs, per_image, strict=True)):
            _refuse_text(entry)
            sets = list(entry) if is_point_set_list(entry) else [entry]
            height, width = rgb.shape[:2]
            for point_set in sets:
                norm = normalize_points(point_set, width, height, normalized=normalized)  # [K, 2]
                if len(norm) == 0:
                    raise ValueError("points: point segmentation needs at least one point [x, y] (pixels) per "
                                     "prediction; click on the object")
                items.append(_Item(index, norm, points_to_pixels(norm, width, height)))
        return items

    def preprocess(self, rgbs: list[np.ndarray]) -> torch.Tensor:
        """uint8 [H, W, 3] images -> [B, 3, R, R] in [-1, 1], resized as ``config.resampling`` says."""
        size = self.config.resolution
        batch = []
        for rgb in rgbs:
            if self.config.resampling == "lanczos":
                pil = Image.fromarray(rgb).resize((size, size), Image.Resampling.LANCZOS)
                x = torch.from_numpy(np.asarray(pil, dtype=np.float32) / 255.0).permute(2, 0, 1)  # [3, R, R]
            else:
                # numpy's uint8 -> float32 and an in-place division: the same values as ``.float() / 255`` in
                # torch, without its strided conversion and second full-size temporary (2.5x faster at 1500x2250).
                x = torch.from_numpy(rgb.astype(np.float32)).permute(2, 0, 1).unsqueeze(0)  # [1, 3, H, W]
                x = x.div_(255.0)  # in [0, 1]
                x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]
            batch.append(x)
        return torch.stack(batch) * 2.0 - 1.0  # [B, 3, R, R] in [-1, 1]

    def encode_images(self, rgbs: list[np.ndarray]) -> torch.Tensor:
        """One VAE encoding per image: ``(posterior.mode() - shift) * scale`` (or a sample, per config)."""
        pixels = self.preprocess(rgbs).to(self.device, self.dtype)  # [B, 3, R, R]
        if self.runtime.channels_last_vae:
            pixels = pixels.contiguous(memory_format=torch.channels_last)
        posterior = self.vae.encode(pixels).latent_dist
        latent = posterior.mode() if self.config.latent_mode == "mode" else posterior.sample()
        shift = self.vae.config.shift_factor or 0.0
        return (latent - shift) * self.vae.config.scaling_factor  # [B, 16, R/8, R/8]

    def encode_points(self, point_sets: list[np.ndarray]) -> torch.Tensor:
        """Normalised (x, y) point sets -> point tokens [n, 5, D] (padding slots embedded as in the release)."""
        slots = [points_to_slots(p, self.config.point_order) for p in point_sets]
        coords = torch.stack([c for c, _ in slots]).to(self.device)  # [n, 5, 2]
        labels = torch.stack([lab for _, lab in slots]).to(self.device)  # [n, 5]
        tokens = self.point_encoder(coords, labels, point_dtype=self.point_dtype)
        return tokens.to(self.dtype)

    def _initial_noise(
        self,
        indices: list[int],
        shape: torch.Size,
        seed: int | None,
        generator: torch.Generator | list[torch.Generator] | None,
        latents: torch.Tensor | None,
    ) -> torch.Tensor:
        if latents is not None:
            return latents[indices].to(self.device, self.dtype)
        noises = []
        for index in indices:
            if isinstance(generator, list):
                gen = generator[index]
            elif generator is not None:
                gen = generator  # one shared stream, consumed in prediction order
            else:
                gen = torch.Generator(self.device).manual_seed(int(seed))
            noises.append(randn_tensor((1, *shape), generator=gen, device=self.device, dtype=self.dtype))
        return torch.cat(noises)  # [n, 16, h, w]

    def denoise(
        self,
        x: torch.Tensor,
        cond_latents: torch.Tensor,
        prompt_embeds: torch.Tensor,
        pooled: torch.Tensor,
        point_tokens: torch.Tensor,
        timesteps: torch.Tensor,
        sigmas: torch.Tensor,
        guidance: float,
        uncond_embeds: torch.Tensor | None = None,
        uncond_pooled: torch.Tensor | None = None,
        callback: Callable[[int, torch.Tensor], None] | None = None,
    ) -> torch.Tensor:
        """Euler flow matching: ``x <- x + (sigma_next - sigma) * v``; CFG branches in one batched forward."""
        n = x.shape[0]
        do_cfg = guidance > 1.0
        if do_cfg:
            context = torch.cat([uncond_embeds.expand(n, -1, -1), prompt_embeds.expand(n, -1, -1)])  # [2n, L, D]
            pooled_in = torch.cat([uncond_pooled.expand(n, -1), pooled.expand(n, -1)])  # [2n, P]
            # The unconditional branch gets all-zero point tokens (zeros, not padding embeddings).
            points_in = torch.cat([torch.zeros_like(point_tokens), point_tokens])  # [2n, 5, D]
            cond_in = torch.cat([cond_latents, cond_latents])  # [2n, 16, h, w]
        else:
            context, pooled_in = prompt_embeds.expand(n, -1, -1), pooled.expand(n, -1)
            points_in, cond_in = point_tokens, cond_latents
        kwargs = {"scale": self.adapter_scale} if self.active_adapter is not None else None
        for step, t in enumerate(timesteps):
            x_in = torch.cat([x, x]) if do_cfg else x  # [2n | n, 16, h, w]
            velocity = self.transformer(
                hidden_states=x_in, cond_latents=cond_in, encoder_hidden_states=context, pooled_projections=pooled_in,
                timestep=t.expand(x_in.shape[0]), point_embeds=points_in, joint_attention_kwargs=kwargs,
                return_dict=False,
            )[0]
            if do_cfg:
                v_uncond, v_cond = velocity.chunk(2)
                velocity = v_uncond + guidance * (v_cond - v_uncond)
            # Euler step in float32 for stability, back to the model dtype.
            x = (x.float() + (sigmas[step + 1] - sigmas[step]) * velocity.float()).to(self.dtype)
            if callback is not None:
                callback(step + 1, t)
        return x

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """``latents / scale + shift`` -> VAE decode -> ``(x / 2 + 0.5).clamp(0, 1)``: [n, 3, R, R]."""
        shift = self.vae.config.shift_factor or 0.0
        latents = latents / self.vae.config.scaling_factor + shift
        if self.runtime.channels_last_vae:
            latents = latents.contiguous(memory_format=torch.channels_last)
        image = self.vae.decode(latents.to(self.dtype), return_dict=False)[0]
        return (image / 2 + 0.5).clamp(0, 1)

    def resize_output(self, rgb: torch.Tensor, height: int, width: int) -> np.ndarray:
        """[3, R, R] in [0, 1] -> [H, W, 3] float32 at the input size (bilinear, or LANCZOS per config)."""
        return resize_output(rgb, height, width, self.config.resampling)

    def decoder_settings(self, encoding: Encoding) -> dict[str, Any]:
        """The decoder keywords the model config sets for ``encoding`` (mask threshold, normal frames)."""
        if encoding is Encoding.MASK:
            return {"threshold": self.config.mask_threshold}
        if encoding is Encoding.NORMAL:
            # The config names the frame the weights output; decoded normals are always given in Marigold's
            # (x right, y up, z towards the viewer), so callers never need to know the model's frame.
            return {"frame": self.config.normal_frame, "output_frame": "marigold"}
        return {}

    def decode_output(self, encoding: Encoding, model_rgb: torch.Tensor, height: int, width: int) -> Any:
        """Decode one model-resolution output [3, R, R] for an input of ``height`` x ``width``.

        Bilinear (the default resampling): decoded at the model resolution, only the decoded channel(s) resized
        (``decoders.decode_resized``). LANCZOS overshoots and the full-resolution path clips each RGB channel
        before decoding, which does not commute with decoding, so it decodes the full-resolution RGB as before.
        """
        settings = self.decoder_settings(encoding)
        if self.config.resampling == "lanczos":
            return decode(encoding, resize_output(model_rgb, height, width, "lanczos"), **settings)
        rgb = model_rgb.float().permute(1, 2, 0).numpy()  # [R, R, 3] float32 view in [0, 1]
        return decode_resized(encoding, rgb, (height, width), resize_channels, **settings)


def model_folder(spec: str | Path, *, token: str | None = None, revision: str | None = None) -> Path:
    """``"tiny"`` -> the tiny preset's folder (built once per cache); otherwise ``loading.resolve_model_folder``."""
    if str(spec) == "tiny":
        from .tiny import tiny_model_folder

        return tiny_model_folder()
    return resolve_model_folder(spec, token=token, revision=revision)


def load_pipeline(
    spec: str | Path = "tiny",
    *,
    device: torch.device | str | None = None,
    dtype: torch.dtype | str | None = None,
    token: str | None = None,
    revision: str | None = None,
    runtime: RuntimeOptions | None = None,
) -> DiceptionPipeline:
    """Load a pipeline from ``tiny``, a converted folder, or a Hub id of a converted folder; ``runtime``: speed
    options (``diception_core.runtime``; default the plain path)."""
    return DiceptionPipeline.from_pretrained(spec, device=device, dtype=dtype, token=token, revision=revision,
                                             runtime=runtime)


def from_official(base: str | Path = DEFAULT_BASE, checkpoint: str | Path = DEFAULT_CHECKPOINT_REPO,
                  **kwargs: Any) -> DiceptionPipeline:
    """``DiceptionPipeline.from_official`` as a function."""
    return DiceptionPipeline.from_official(base, checkpoint, **kwargs)


def _refuse_text(points: Any) -> None:
    if isinstance(points, str | bytes):
        raise ValueError("points: pass numbers ([[x, y], ...] pixels), not text; parse a JSON string at your edge "
                         "(e.g. json.loads) first")


def _is_pair(value: Any) -> bool:
    """True for one [x, y] pair of numbers."""
    try:
        return len(value) == 2 and all(isinstance(v, int | float | np.number) for v in value)
    except TypeError:
        return False


def _empty_points(points: Any) -> bool:
    try:
        return len(points) == 0
    except TypeError:
        return False


__all__ = ["CustomTask", "DiceptionOutput", "DiceptionPipeline", "DiceptionPrediction", "MAX_POINTS", "from_official",
           "load_pipeline", "model_folder"]
