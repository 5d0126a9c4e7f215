"""DiceptionPipeline: image(s) + task (+ points / category) -> raw RGB prediction and decoded result.

A call reads as numbered steps, like diffusers' SD3 and Marigold pipelines: check inputs, prompt embeddings,
preprocess, image latents, point tokens, initial noise, denoise, decode, postprocess.
"""

from __future__ import annotations

import copy
import json
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
from .image_io import ImageLike, aspect_ratio_warning, load_rgb
from .points import PointsLike, is_point_set_list, normalize_points, points_to_pixels, points_to_slots
from .prompts import PromptCache, TextEncoders

logger = logging.getLogger(__name__)

StepCallback = Callable[[int, int], None]  # (steps done, total steps)


@dataclass(frozen=True)
class CustomTask:
    """A task that is not one of the six: a new-task adapter's prompt and output encoding."""

    name: str
    prompt: str
    encoding: Encoding
    needs_points: bool = False


@dataclass
class DiceptionPrediction:
    """One prediction: the raw RGB output at the input's resolution and its decoded form."""

    task: Task | CustomTask
    encoding: Encoding
    rgb: np.ndarray  # [H, W, 3] float32 in [0, 1], the model's raw output resized to the input size
    # depth [H, W] float32 disparity (1 = near) | normals [H, W, 3] unit, Marigold's frame (x right, y up, z to the
    # viewer) | mask [H, W] bool | Instances | PoseKeypoints | rgb
    decoded: Any
    image_index: int  # which input image this came from
    points: list[list[float]] | None  # the point prompt in original-image pixels [[x, y], ...]
    image: np.ndarray  # [H, W, 3] uint8, the input as the model saw it before resizing (after EXIF, RGB)

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
    ) -> DiceptionPipeline:
        """Load a model folder written by ``convert`` (or ``"tiny"``, or a Hub id of such a folder)."""
        from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler

        from .loading import _resolve_dtype, hub_errors_as_load_errors, resolve_device, resolve_model_folder
        from .model import DiceptionTransformer, PointEncoder

        folder = resolve_model_folder(folder_or_id, token=token, revision=revision)
        config = DiceptionConfig.load(folder)
        device = resolve_device(device)
        dtype = _resolve_dtype(device, dtype)
        with hub_errors_as_load_errors(str(folder)):
            transformer = DiceptionTransformer.from_pretrained(folder / "transformer", torch_dtype=dtype)
            vae = AutoencoderKL.from_pretrained(folder / "vae", torch_dtype=dtype)
            points = PointEncoder.from_pretrained(folder / "point_encoder", torch_dtype=dtype)
            scheduler = FlowMatchEulerDiscreteScheduler.from_pretrained(folder / "scheduler")
            cache = PromptCache.load(folder)
        source = config.text_encoder_source
        if source is not None and not Path(source).is_absolute() and (folder / source).is_dir():
            source = str(folder / source)
        text_encoders = TextEncoders(source, token=token, dtype=dtype, device=device)
        pipe = cls(
            transformer=transformer, vae=vae, scheduler=scheduler, point_encoder=points, prompt_cache=cache,
            config=config, text_encoders=text_encoders,
        )
        pipe.model_folder = folder
        return pipe.to(device, dtype)

    @classmethod
    def from_official(cls, base: str | Path, checkpoint: str | Path, **kwargs: Any) -> DiceptionPipeline:
        from .loading import from_official

        return from_official(base, checkpoint, **kwargs)

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write the model folder's weights, scheduler, config and prompt cache (see ``loading.convert``)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.transformer.save_pretrained(folder / "transformer")
        self.vae.save_pretrained(folder / "vae")
        self.point_encoder.save_pretrained(folder / "point_encoder")
        self.scheduler.save_pretrained(folder / "scheduler")
        if len(self.prompt_cache):
            self.prompt_cache.save(folder)
        self.config.save(folder)
        return folder

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
            missing = [p for p in dict.fromkeys(prompts) if p not in self.prompt_cache]
            if not missing:
                return
            if self.text_encoders is None:
                raise RuntimeError(f"prompts {missing[:3]} are not cached and this pipeline has no text encoders")
            for start in range(0, len(missing), batch_size):
                chunk = missing[start : start + batch_size]
                embeds, pooled = self.text_encoders.encode(chunk)  # [n, L, D], [n, P]
                for index, prompt in enumerate(chunk):
                    self.prompt_cache.add(prompt, embeds[index], pooled[index])

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

        images: one image (PIL, numpy, torch, path or bytes) or a list of them.
        points: point segmentation only. For one image: one point set ``[[x, y], ...]`` (pixels, at most 5) or a
            list of point sets (each gives one prediction; the image is encoded once and all sets share one
            batched denoising loop). For a list of images: one entry per image, each a point set or a list of sets.
            ``normalized=True``: coordinates in [0, 1] instead of pixels.
        category: the COCO category (any text; uncached ones load the text encoders once) for
            ``semantic_segmentation``.
        num_inference_steps / guidance_scale: default from the model config (28 / 2.0 for the release).
        seed / generator / latents: noise. With a seed (default from the config), each prediction's noise is
            ``randn_tensor((1, 16, h, w), generator=torch.Generator(device).manual_seed(seed))``: one generator per
            prediction, so a prediction's noise does not depend on its batch position and equals the release's
            single-image noise on the same device type. A list of generators gives one per prediction; explicit
            ``latents`` [N, 16, h, w] override both.
        callback: called as ``callback(steps_done, total_steps)`` after every denoising step.
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
                for i, img in enumerate(image_list)]
        items = self._make_items(rgbs, points if needs_points else None, normalized, needs_points, images)
        warnings = [w for rgb in rgbs if (w := aspect_ratio_warning(rgb.shape[1], rgb.shape[0],
                                                                    cfg.extreme_aspect_ratio))]
        n_items = len(items)
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
        raw: list[torch.Tensor] = []
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
            # 8. Decode latents to RGB in [0, 1] at the model resolution.
            raw.append(self.decode_latents(x).float().cpu())  # [n, 3, R, R]
        predictions_rgb = torch.cat(raw)  # [N, 3, R, R]

        # 9. Postprocess: back to each input's size, then decode the encoding.
        predictions = []
        for item, rgb_model in zip(items, predictions_rgb, strict=True):
            source = rgbs[item.image_index]
            rgb = self.resize_output(rgb_model, source.shape[0], source.shape[1])  # [H, W, 3] float32
            decoded = self.decode_output(spec_encoding, rgb) if decode else None
            predictions.append(DiceptionPrediction(
                task=task, encoding=spec_encoding, rgb=rgb, decoded=decoded, image_index=item.image_index,
                points=item.points_px, image=source,
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
        if batch_input:
            if len(rgbs) == 1 and points is not None and not isinstance(points, str) and len(points) \
                    and _is_pair(points[0]):
                points = [points]  # one image in a list with one point set [[x, y], ...]
            if points is None or isinstance(points, str) or len(points) != len(rgbs):
                raise ValueError(f"points: with {len(rgbs)} images pass a list of {len(rgbs)} entries, one per "
                                 "image: a point set [[x, y], ...] or a list of point sets, e.g. [[[5, 5]], ...]")
            per_image = list(points)
        else:
            per_image = [points]
        items: list[_Item] = []
        for index, (rgb, entry) in enumerate(zip(rgbs, per_image, strict=True)):
            sets = json.loads(entry) if isinstance(entry, str) and is_point_set_list(entry) else entry
            sets = list(sets) if is_point_set_list(sets) else [sets]
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
                x = torch.from_numpy(rgb).permute(2, 0, 1).float().unsqueeze(0) / 255.0  # [1, 3, H, W] in [0, 1]
                x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)[0]
            batch.append(x)
        return torch.stack(batch) * 2.0 - 1.0  # [B, 3, R, R] in [-1, 1]

    def encode_images(self, rgbs: list[np.ndarray]) -> torch.Tensor:
        """One VAE encoding per image: ``(posterior.mode() - shift) * scale`` (or a sample, per config)."""
        pixels = self.preprocess(rgbs).to(self.device, self.dtype)  # [B, 3, R, R]
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
        image = self.vae.decode(latents.to(self.dtype), return_dict=False)[0]
        return (image / 2 + 0.5).clamp(0, 1)

    def resize_output(self, rgb: torch.Tensor, height: int, width: int) -> np.ndarray:
        """[3, R, R] in [0, 1] -> [H, W, 3] float32 at the input size (bilinear, or LANCZOS per config)."""
        if self.config.resampling == "lanczos":
            channels = [
                np.asarray(Image.fromarray(c.numpy().astype(np.float32)).resize(
                    (width, height), Image.Resampling.LANCZOS), dtype=np.float32)
                for c in rgb
            ]
            return np.clip(np.stack(channels, axis=-1), 0.0, 1.0)
        # Channels-last in and out: the [H, W, 3] view is already contiguous, so no copy follows the resize.
        x = rgb.float().unsqueeze(0).contiguous(memory_format=torch.channels_last)  # [1, 3, R, R]
        out = F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)[0].clamp_(0, 1)
        return np.ascontiguousarray(out.permute(1, 2, 0).numpy())  # [H, W, 3] float32

    def decode_output(self, encoding: Encoding, rgb: np.ndarray) -> Any:
        from .decoders import decode

        settings: dict[str, Any] = {}
        if encoding is Encoding.MASK:
            settings["threshold"] = self.config.mask_threshold
        elif encoding is Encoding.NORMAL:
            # The config names the frame the weights output; decoded normals are always given in Marigold's
            # (x right, y up, z towards the viewer), so callers never need to know the model's frame.
            settings["frame"] = self.config.normal_frame
            settings["output_frame"] = "marigold"
        return decode(encoding, rgb, **settings)


def _is_pair(value: Any) -> bool:
    """True for one [x, y] pair of numbers."""
    try:
        return len(value) == 2 and all(isinstance(v, int | float | np.number) for v in value)
    except TypeError:
        return False


def _empty_points(points: Any) -> bool:
    if isinstance(points, str):
        return points.strip() in ("", "[]")
    try:
        return len(points) == 0
    except TypeError:
        return False


__all__ = ["CustomTask", "DiceptionOutput", "DiceptionPipeline", "DiceptionPrediction", "MAX_POINTS"]
