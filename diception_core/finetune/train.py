"""Few-shot LoRA fine-tuning of DICEPTION with SD3's flow-matching objective.

Objective (DICEPTION_MODEL.md, "Fine-tuning" and "Forward pass"), per training pair:

1. ``x0`` = VAE latents of the target's RGB encoding, ``c`` = VAE latents of the image, both as the pipeline makes
   them (``(posterior.mode() - shift) * scale``; the target resized to the model resolution bilinearly with
   antialiasing), computed once before training since the VAE is frozen.
2. ``u`` from SD3's training density (logit-normal by default: ``u = sigmoid(n)``, ``n ~ N(mean, std)``), mapped to
   the scheduler's shifted training table: ``sigma = sigmas[floor(u * 1000)]``, ``t = timesteps[same index]``.
3. ``x_t = (1 - sigma) * x0 + sigma * noise``; the transformer predicts ``v`` from ``x_t``, ``c``, the prompt
   embedding, the pooled embedding, ``t`` and the 5 point tokens exactly as at inference (tasks without points get
   the 5 padding slots; point segmentation gets the pair's points or 1-5 random points inside the mask).
4. ``loss = mean((v - (noise - x0))^2)`` (SD3's logit-normal weighting is uniform).

Only LoRA weights (peft, on the attention projections named in ``targets``) and, for a new task without text
encoders, the prompt embedding are trained; everything else is frozen.

Randomness: one explicit CPU ``torch.Generator`` per process (seeded with ``seed`` and the process index) draws the
batch indices, timesteps, noise and random clicks, so runs are reproducible on any device and a resumed run continues
the exact stream (the generator state is in every checkpoint). The LoRA initialisation runs under
``torch.random.fork_rng`` with ``seed``; nothing seeds the global RNGs (accelerate's ``set_seed`` is not used).

Runs under ``accelerate launch`` unchanged: the ``Accelerator`` places the model, wraps it for data parallelism and
handles mixed precision; each process draws its own batches from its own generator. ``batch`` is per process.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
import shutil
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from safetensors.torch import load_file, save_file
from torch import nn

from diception_spec.adapter_format import (
    ALLOWED_PROJECTIONS,
    DEFAULT_TARGETS,
    MAX_PROMPT_CHARS,
    MAX_RANK,
    NEW_TASK_ENCODINGS,
)
from diception_spec.benchmarks import USER_SPLIT_PREFIX, default_benchmarks
from diception_spec.scoring import absrel, align_depth_least_squares, angular_error_deg, mask_iou
from diception_spec.tasks import TASK_SPECS, Encoding, Task, task_prompt

from ..decoders import decode_depth, decode_mask, decode_normals
from ..lora import write_adapter_folder
from .data import DEPTH_KINDS, Sample, load_dataset, split_validation

logger = logging.getLogger(__name__)

MAX_ADAPTER_BYTES = 300_000_000  # ADAPTER_FORMAT.md: all files together
MIXED_PRECISIONS = ("no", "bf16", "fp16")
PROMPT_EMBEDDING_MODES = ("auto", "encode", "learn")
TIMESTEP_SAMPLINGS = ("logit_normal", "mode", "uniform")
SAVE_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_WEIGHT_DTYPES = {"no": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_ \-]{0,63}")  # the leaderboard's rule for new-task names
DEFAULT_LICENCE = (
    "other: the adapter is a derivative of the DICEPTION weights and Stable Diffusion 3 medium, and inherits their "
    "licences; the training data's licence applies too"
)
# What an adapter for an existing task asks to be scored on (IDS.md's benchmark ids).
# Settings a resumed run must share with the checkpoint it continues (steps and output options may change).
_RESUME_KEYS = (
    "data", "task", "encoding", "prompt", "category", "model", "rank", "lora_alpha", "targets", "batch", "grad_accum",
    "lr", "warmup_steps", "weight_decay", "max_grad_norm", "val_split", "seed", "mixed_precision", "prompt_embedding",
    "depth_kind", "timestep_sampling", "logit_mean", "logit_std", "mode_scale",
)


@dataclass
class FinetuneSettings:
    """Every fine-tuning setting (the CLI's flags); ``check()`` validates them with errors naming the flag."""

    data: str
    name: str
    task: str | None = None  # an existing task id (IDS.md), or None for a new task
    encoding: str | None = None  # new task: mask | depth | normal | rgb
    prompt: str | None = None  # new task: its prompt text
    category: str | None = None  # semantic_segmentation: the category appended to its prompt
    model: str = "tiny"  # tiny | a converted model folder | a Hub id of one
    output: str | None = None  # run folder; default ./diception-finetune-<name>
    rank: int = 128
    lora_alpha: float | None = None  # default = rank (LoRA scale 1)
    targets: tuple[str, ...] = DEFAULT_TARGETS
    steps: int = 500
    batch: int = 8
    grad_accum: int = 1
    lr: float = 2e-5
    warmup_steps: int = 0
    weight_decay: float = 1e-4
    max_grad_norm: float = 1.0
    val_split: float = 0.1
    val_every: int = 100
    val_inference_steps: int | None = None  # default: the model config's steps
    val_guidance: float | None = None  # default: the model config's guidance
    checkpoint_every: int = 100
    seed: int = 0
    resume: bool = False
    mixed_precision: str = "no"
    gradient_checkpointing: bool = False
    prompt_embedding: str = "auto"  # new task: auto (encode if the text encoders load, else learn) | encode | learn
    depth_kind: str = "depth"  # depth targets hold depth (inverted to disparity) or disparity
    timestep_sampling: str = "logit_normal"
    logit_mean: float = 0.0
    logit_std: float = 1.0
    mode_scale: float = 1.29
    save_dtype: str = "float32"
    benchmarks: tuple[str, ...] | None = None
    training_data: str | None = None
    trained_on_benchmarks: tuple[str, ...] = ()
    licence: str = DEFAULT_LICENCE
    push_to_hub: str | None = None
    public: bool = False
    hub_token: str | None = field(default=None, repr=False)

    @property
    def is_new_task(self) -> bool:
        return self.task is None

    @property
    def output_dir(self) -> Path:
        return Path(self.output) if self.output else Path(f"diception-finetune-{_slug(self.name)}")

    def check(self) -> FinetuneSettings:
        if not isinstance(self.name, str) or not _NAME.fullmatch(self.name):
            raise ValueError(f"name: {self.name!r} must be 1-64 letters, digits, spaces, _ or - (starting with a "
                             "letter or digit)")
        if self.task is not None:
            Task.parse(self.task)
            if self.encoding is not None or self.prompt is not None:
                raise ValueError("task, encoding/prompt: give --task for an existing task, or --new-task with "
                                 "--encoding and --prompt, not both")
        else:
            encodings = [e.value for e in NEW_TASK_ENCODINGS]
            if self.encoding not in encodings:
                raise ValueError(f"encoding: a new task needs --encoding, one of {', '.join(encodings)} "
                                 f"(got {self.encoding!r})")
            if not self.prompt or not 1 <= len(self.prompt) <= MAX_PROMPT_CHARS:
                raise ValueError(f"prompt: a new task needs --prompt, 1-{MAX_PROMPT_CHARS} characters (e.g. "
                                 "'[[image2lung]]')")
            if self.name in {t.value for t in Task}:
                raise ValueError(f"name: {self.name!r} is an existing task id; use --task {self.name} instead")
        if self.task is not None and TASK_SPECS[Task.parse(self.task)].needs_category and not self.category:
            raise ValueError(f"category: task {self.task!r} needs --category (e.g. person)")
        if not 1 <= int(self.rank) <= MAX_RANK:
            raise ValueError(f"rank: {self.rank} is outside 1..{MAX_RANK} (the adapter format's limit)")
        bad = [t for t in self.targets if t not in ALLOWED_PROJECTIONS]
        if bad or not self.targets:
            raise ValueError(f"targets: {bad or 'none'} not allowed; choose from {', '.join(ALLOWED_PROJECTIONS)}")
        for key in ("steps", "batch", "grad_accum"):
            if int(getattr(self, key)) < 1:
                raise ValueError(f"{key.replace('_', '-')}: must be at least 1, got {getattr(self, key)}")
        for key in ("val_every", "checkpoint_every", "warmup_steps"):
            if int(getattr(self, key)) < 0:
                raise ValueError(f"{key.replace('_', '-')}: must be >= 0 (0 = never), got {getattr(self, key)}")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr: must be a positive number, got {self.lr}")
        if not 0.0 <= self.val_split < 1.0:
            raise ValueError(f"val-split: {self.val_split} must lie in [0, 1)")
        if self.mixed_precision not in MIXED_PRECISIONS:
            raise ValueError(f"mixed-precision: {self.mixed_precision!r} is not one of {', '.join(MIXED_PRECISIONS)}")
        if self.prompt_embedding not in PROMPT_EMBEDDING_MODES:
            raise ValueError(f"prompt-embedding: {self.prompt_embedding!r} is not one of "
                             f"{', '.join(PROMPT_EMBEDDING_MODES)}")
        if self.depth_kind not in DEPTH_KINDS:
            raise ValueError(f"depth-kind: {self.depth_kind!r} is not one of {', '.join(DEPTH_KINDS)}")
        if self.timestep_sampling not in TIMESTEP_SAMPLINGS:
            raise ValueError(f"timestep-sampling: {self.timestep_sampling!r} is not one of "
                             f"{', '.join(TIMESTEP_SAMPLINGS)}")
        if self.save_dtype not in SAVE_DTYPES:
            raise ValueError(f"save-dtype: {self.save_dtype!r} is not one of {', '.join(SAVE_DTYPES)}")
        if self.seed < 0:
            raise ValueError(f"seed: must be >= 0, got {self.seed}")
        return self

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("hub_token")
        data["targets"] = list(self.targets)
        return data


@dataclass
class FinetuneResult:
    output_dir: Path
    adapter_dir: Path
    steps: int
    final_loss: float | None
    metrics: dict[str, float]  # the last held-out evaluation (empty without a held-out split)
    heldout_dir: Path | None
    hub_url: str | None = None
    main_process: bool = True  # under several processes only the main one writes the outputs


@dataclass
class Batch:
    """One micro-batch's draw: which pairs, their noise, timesteps and point tokens."""

    indices: torch.Tensor  # [B] int64, into the dataset
    noise: torch.Tensor  # [B, 16, h, w] float32
    sigmas: torch.Tensor  # [B] float32 in (0, 1]
    timesteps: torch.Tensor  # [B] float32 in the scheduler's [0, 1000] scale
    point_tokens: torch.Tensor  # [B, 5, D]


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "adapter"


def adapter_name_for(name: str) -> str:
    """The peft adapter name used while training (the name with anything but letters, digits and _ replaced)."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_") or "adapter"


# ------------------------------------------------------------------------------------------------ building blocks


def add_lora(
    transformer: nn.Module,
    *,
    rank: int,
    targets: Sequence[str],
    adapter_name: str,
    lora_alpha: float | None = None,
    seed: int = 0,
) -> int:
    """Add a trainable LoRA (lora_B = 0, so it starts as the identity) and freeze everything else.

    The initialisation (lora_A gaussian) runs under ``torch.random.fork_rng`` with ``seed``: reproducible, and the
    caller's global RNG is untouched. LoRA weights are kept in float32 whatever the base dtype. Returns the number
    of trainable parameters.
    """
    from peft import LoraConfig

    config = LoraConfig(
        r=int(rank), lora_alpha=float(lora_alpha if lora_alpha is not None else rank), init_lora_weights="gaussian",
        target_modules=list(targets), lora_dropout=0.0, bias="none",
    )
    transformer.requires_grad_(False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        transformer.add_adapter(config, adapter_name=adapter_name)
    count = 0
    for param_name, param in transformer.named_parameters():
        if ".lora_" in param_name:
            param.data = param.data.float()
            param.requires_grad_(True)
            count += param.numel()
    return count


class FlowMatchingModel(nn.Module):
    """The transformer plus the prompt embedding (a trainable parameter when learned), as one module so data
    parallelism syncs every trainable tensor."""

    def __init__(self, transformer: nn.Module, prompt_embeds: torch.Tensor, pooled: torch.Tensor, *, learn: bool):
        super().__init__()
        self.transformer = transformer
        embeds, pooled = prompt_embeds.detach().float().clone(), pooled.detach().float().clone()  # [1, L, D], [1, P]
        if learn:
            self.prompt_embeds = nn.Parameter(embeds)
            self.pooled_prompt_embeds = nn.Parameter(pooled)
        else:
            self.register_buffer("prompt_embeds", embeds, persistent=False)
            self.register_buffer("pooled_prompt_embeds", pooled, persistent=False)

    def forward(
        self, noisy: torch.Tensor, cond: torch.Tensor, point_tokens: torch.Tensor, timesteps: torch.Tensor
    ) -> torch.Tensor:
        n, dtype = noisy.shape[0], noisy.dtype
        return self.transformer(
            hidden_states=noisy, cond_latents=cond,
            encoder_hidden_states=self.prompt_embeds.to(dtype).expand(n, -1, -1),  # [B, L, D]
            pooled_projections=self.pooled_prompt_embeds.to(dtype).expand(n, -1),  # [B, P]
            timestep=timesteps, point_embeds=point_tokens.to(dtype), return_dict=False,
        )[0]  # [B, 16, h, w]


def flow_matching_loss(
    model: nn.Module,
    target_latents: torch.Tensor,
    cond_latents: torch.Tensor,
    point_tokens: torch.Tensor,
    noise: torch.Tensor,
    sigmas: torch.Tensor,
    timesteps: torch.Tensor,
    dtype: torch.dtype,
) -> torch.Tensor:
    """``mean((model(x_t) - (noise - x0))^2)`` with ``x_t = (1 - sigma) x0 + sigma noise`` (float32 arithmetic)."""
    x0 = target_latents.float()  # [B, 16, h, w]
    sigma = sigmas.float().view(-1, 1, 1, 1)  # [B, 1, 1, 1]
    noisy = (1.0 - sigma) * x0 + sigma * noise  # [B, 16, h, w]
    velocity = model(noisy.to(dtype), cond_latents.to(dtype), point_tokens, timesteps)  # [B, 16, h, w]
    return F.mse_loss(velocity.float(), noise - x0)


class TimestepSampler:
    """SD3's training density over the flow-matching scheduler's (shifted) training table."""

    def __init__(self, scheduler_config: Any, *, scheme: str = "logit_normal", logit_mean: float = 0.0,
                 logit_std: float = 1.0, mode_scale: float = 1.29) -> None:
        from diffusers import FlowMatchEulerDiscreteScheduler

        table = FlowMatchEulerDiscreteScheduler.from_config(scheduler_config)  # fresh: the full training table
        self.sigmas = table.sigmas.float().cpu()  # [T] 1 -> ~0
        self.timesteps = table.timesteps.float().cpu()  # [T] 1000 -> ~0
        self.scheme, self.logit_mean, self.logit_std, self.mode_scale = scheme, logit_mean, logit_std, mode_scale

    def __call__(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        from diffusers.training_utils import compute_density_for_timestep_sampling

        u = compute_density_for_timestep_sampling(
            weighting_scheme=self.scheme, batch_size=n, logit_mean=self.logit_mean, logit_std=self.logit_std,
            mode_scale=self.mode_scale, device="cpu", generator=generator,
        )  # [n] in (0, 1)
        index = (u * len(self.sigmas)).long().clamp(0, len(self.sigmas) - 1)  # [n]
        return self.sigmas[index], self.timesteps[index]


# ------------------------------------------------------------------------------------------------ metrics


def aligned_absrel(pred_disparity: np.ndarray, target_disparity: np.ndarray, valid: np.ndarray) -> float:
    """AbsRel after least-squares scale-and-shift alignment in disparity space (``genpercept-affine``, disparity;
    the evaluation's own rule, ``diception_spec.scoring``), on the valid pixels with a positive target. Lower is
    better; a fraction; NaN with fewer than two such pixels."""
    mask = np.asarray(valid, bool) & (target_disparity > 0)
    if mask.sum() < 2:
        return float("nan")
    depth = np.where(mask, 1.0 / np.where(mask, target_disparity, 1.0), 0.0)  # [H, W] metres-like, 0 off the mask
    aligned = align_depth_least_squares(pred_disparity, depth, mask, "disparity")
    return absrel(aligned, depth, mask)


def mean_angle_deg(pred: np.ndarray, target: np.ndarray, valid: np.ndarray) -> float:
    """Mean angular error in degrees over the valid pixels with a non-zero target (the evaluation's rule,
    ``diception_spec.scoring``); lower is better; NaN without such a pixel."""
    mask = np.asarray(valid, bool) & (np.linalg.norm(target, axis=-1) > 0)
    if not mask.any():
        return float("nan")
    return float(angular_error_deg(pred, target, mask).mean())


# ------------------------------------------------------------------------------------------------ the trainer


def _accelerator(mixed_precision: str) -> Any:
    """An ``Accelerator`` with ``mixed_precision``, also when an earlier run in this process fixed another one.

    accelerate keeps one precision per process; a single process (a notebook running two fine-tunings) starts its
    state afresh, a launched multi-process run cannot and says so.
    """
    from accelerate import Accelerator
    from accelerate.state import AcceleratorState, PartialState

    earlier = AcceleratorState._shared_state.get("_mixed_precision")
    if earlier is not None and str(earlier) != mixed_precision:
        if PartialState().num_processes > 1:
            raise ValueError(f"mixed-precision: this launch already runs with {earlier!r}; pass --mixed-precision "
                             f"{earlier} or launch again with {mixed_precision!r}")
        AcceleratorState._reset_state()
    return Accelerator(mixed_precision=mixed_precision)


class Finetuner:
    """One fine-tuning run: data, frozen pipeline, LoRA, optimiser, checkpoints, validation and the adapter folder.

    ``pipe`` / ``accelerator`` / ``samples`` may be injected (tests use the tiny pipeline). The pipeline is changed
    in place (a LoRA is added to its transformer): do not share it.
    """

    def __init__(self, settings: FinetuneSettings, *, pipe: Any = None, accelerator: Any = None,
                 samples: list[Sample] | None = None) -> None:
        self.settings = settings.check()
        self.accelerator = accelerator or _accelerator(settings.mixed_precision)
        self.weight_dtype = _WEIGHT_DTYPES[self.accelerator.mixed_precision]
        # Before any data or weight is loaded, and before anything is written: a refused run leaves --output as is.
        check_output(settings, self.accelerator.num_processes)
        # Task: an existing task's fixed prompt, or a new task's prompt and encoding.
        if settings.task is not None:
            self.task: Task | None = Task.parse(settings.task)
            spec = TASK_SPECS[self.task]
            self.encoding = spec.encoding
            self.needs_points = spec.needs_points
            self.prompt = task_prompt(self.task, settings.category)
        else:
            self.task = None
            self.encoding = Encoding(settings.encoding)
            self.needs_points = False
            self.prompt = str(settings.prompt)
        load_encoding = self.encoding if self.encoding in (Encoding.MASK, Encoding.DEPTH, Encoding.NORMAL) \
            else Encoding.RGB

        # Data, checked up front, and the held-out split.
        self.samples = samples if samples is not None else load_dataset(
            settings.data, load_encoding, depth_kind=settings.depth_kind, needs_points=self.needs_points)
        if pipe is None:
            from ..pipeline import DiceptionPipeline

            pipe = DiceptionPipeline.from_pretrained(settings.model, device=self.accelerator.device,
                                                     dtype=self.weight_dtype)
        else:
            pipe.to(self.accelerator.device, self.weight_dtype)
        if pipe.adapters:
            raise ValueError("pipe: unload its adapters first; fine-tuning starts from the base model")
        self.pipe = pipe
        if pipe.config.untrained:
            logger.warning("model %s has untrained (random) weights: fine-tuning it only tests the mechanics",
                           settings.model)
        self.device = self.accelerator.device
        self.output_dir = settings.output_dir
        self.adapter_name = adapter_name_for(settings.name)

        self.train_indices, self.val_indices = split_validation(len(self.samples), settings.val_split, settings.seed)
        self.image_latents, self.target_latents = self._encode_samples()  # [N, 16, h, w] each, float32

        # Prompt embedding: fixed, encoded by the text encoders, or learned.
        embeds, pooled, self.prompt_learned = self._prompt_embedding()
        self.padding_tokens = self._point_tokens([np.zeros((0, 2))])  # [1, 5, D]

        # LoRA on the frozen transformer.
        transformer = pipe.transformer
        self.num_lora_parameters = add_lora(
            transformer, rank=settings.rank, targets=settings.targets, adapter_name=self.adapter_name,
            lora_alpha=settings.lora_alpha, seed=settings.seed,
        )
        if settings.gradient_checkpointing:
            transformer.enable_gradient_checkpointing()
        transformer.train()
        module = FlowMatchingModel(transformer, embeds, pooled, learn=self.prompt_learned).to(self.device)
        params = [p for p in module.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=settings.lr, betas=(0.9, 0.999), weight_decay=settings.weight_decay,
                                      eps=1e-8)
        warmup = settings.warmup_steps
        # Not prepared by accelerate: its scheduler wrapper steps once per process, which would shorten the warmup.
        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: min(1.0, (step + 1) / warmup) if warmup else 1.0)
        self.model, self.optimizer = self.accelerator.prepare(module, optimizer)
        self.timestep_sampler = TimestepSampler(
            pipe.scheduler.config, scheme=settings.timestep_sampling, logit_mean=settings.logit_mean,
            logit_std=settings.logit_std, mode_scale=settings.mode_scale,
        )
        self.generator = torch.Generator().manual_seed(self._process_seed())
        self.step = 0
        self.last_loss: float | None = None
        self.metrics: dict[str, float] = {}

    # -------------------------------------------------------------- setup helpers
    def _process_seed(self) -> int:
        return int(self.settings.seed) * 1_000_003 + int(self.accelerator.process_index)

    @torch.no_grad()
    def _encode_samples(self) -> tuple[torch.Tensor, torch.Tensor]:
        pipe, size = self.pipe, self.pipe.config.resolution
        images, targets = [], []
        for start in range(0, len(self.samples), 8):
            chunk = self.samples[start : start + 8]
            images.append(pipe.encode_images([s.image for s in chunk]).float())  # [n, 16, h, w]
            pixels = []
            for sample in chunk:
                x = torch.from_numpy(sample.target_rgb).permute(2, 0, 1).unsqueeze(0)  # [1, 3, H, W] in [0, 1]
                x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
                pixels.append(x[0] * 2.0 - 1.0)  # [3, R, R] in [-1, 1]
            batch = torch.stack(pixels).to(self.device, pipe.dtype)  # [n, 3, R, R]
            posterior = pipe.vae.encode(batch).latent_dist
            shift = pipe.vae.config.shift_factor or 0.0
            targets.append(((posterior.mode() - shift) * pipe.vae.config.scaling_factor).float())
        return torch.cat(images), torch.cat(targets)

    def _prompt_embedding(self) -> tuple[torch.Tensor, torch.Tensor, bool]:
        mode, pipe = self.settings.prompt_embedding, self.pipe
        if self.task is not None or mode == "encode":
            embeds, pooled = pipe.prompt_embeddings(self.prompt)
            return embeds, pooled, False
        if mode == "auto":
            try:
                embeds, pooled = pipe.prompt_embeddings(self.prompt)
                return embeds, pooled, False
            except (RuntimeError, OSError, ValueError) as err:
                logger.warning("the text encoders are unavailable (%s); learning the prompt embedding instead", err)
        embeds, pooled = pipe.prompt_embeddings("")  # start from the empty prompt's embedding
        return embeds, pooled, True

    @torch.no_grad()
    def _point_tokens(self, point_sets: list[np.ndarray]) -> torch.Tensor:
        return self.pipe.encode_points(point_sets).float()  # [n, 5, D]

    # -------------------------------------------------------------- batches and steps
    def sample_batch(self) -> Batch:
        """Draw a micro-batch from the run's generator: pairs, timesteps, noise, then clicks (in that order)."""
        g, n_train, size = self.generator, len(self.train_indices), self.settings.batch
        pick = torch.randperm(n_train, generator=g)[:size] if size <= n_train else torch.randint(
            n_train, (size,), generator=g)
        indices = torch.tensor(self.train_indices)[pick]  # [B]
        sigmas, timesteps = self.timestep_sampler(size, g)  # [B], [B]
        noise = torch.randn((size, *self.target_latents.shape[1:]), generator=g)  # [B, 16, h, w]
        if self.needs_points:
            point_tokens = self._point_tokens([self._clicks(int(i), g) for i in indices])
        else:
            point_tokens = self.padding_tokens.expand(size, -1, -1)
        return Batch(indices, noise, sigmas, timesteps, point_tokens)

    def _clicks(self, index: int, g: torch.Generator) -> np.ndarray:
        sample = self.samples[index]
        if sample.points is not None:
            return sample.points
        count = int(torch.randint(1, 6, (1,), generator=g))
        candidates = sample.candidates  # [M, 2]
        choice = torch.randperm(len(candidates), generator=g)[:count].numpy()
        return candidates[choice]  # [k, 2] normalised (x, y)

    def loss(self, batch: Batch) -> torch.Tensor:
        """The flow-matching loss of ``batch`` under the current weights (with gradients when enabled)."""
        idx = batch.indices.to(self.device)
        return flow_matching_loss(
            self.model, self.target_latents[idx], self.image_latents[idx], batch.point_tokens.to(self.device),
            batch.noise.to(self.device), batch.sigmas.to(self.device), batch.timesteps.to(self.device),
            self.weight_dtype,
        )

    def train_step(self, batch: Batch | None = None) -> float:
        """One optimiser step over ``grad_accum`` micro-batches (drawn, or ``batch`` each time); returns the loss.

        The loss is averaged over the micro-batches, and over the processes of a data-parallel run.
        """
        accelerator, accum, total = self.accelerator, self.settings.grad_accum, 0.0
        self.model.train()
        for micro in range(accum):
            draw = batch if batch is not None else self.sample_batch()
            sync = micro == accum - 1
            context = accelerator.no_sync(self.model) if not sync else nullcontext()
            with context:
                loss = self.loss(draw)
                accelerator.backward(loss / accum)
            total += float(loss.detach())
        if self.settings.max_grad_norm > 0 and accelerator.sync_gradients:
            params = [p for p in self.model.parameters() if p.requires_grad]
            accelerator.clip_grad_norm_(params, self.settings.max_grad_norm)
        self.optimizer.step()
        self.lr_scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.last_loss = total / accum
        if accelerator.num_processes > 1:  # logged: the loss over every process's batch
            mean = accelerator.reduce(torch.tensor(self.last_loss, device=self.device), reduction="mean")
            self.last_loss = float(mean)
        return self.last_loss

    # -------------------------------------------------------------- the loop
    def train(self, callback: Callable[[int, float], None] | None = None) -> FinetuneResult:
        """Run to ``steps`` (continuing the latest checkpoint with ``resume``), then write the adapter folder."""
        from tqdm.auto import tqdm

        settings, accelerator = self.settings, self.accelerator
        out = self.output_dir
        check_output(settings, accelerator.num_processes)
        if settings.resume:
            latest = latest_checkpoint(out)
            if latest is None:
                logger.info("--resume: no checkpoint in %s yet; starting from step 0", out / "checkpoints")
            else:
                self.load_checkpoint(latest)
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:  # only now, when the run is accepted, is anything written
            out.mkdir(parents=True, exist_ok=True)
            (out / "settings.json").write_text(json.dumps(settings.to_dict(), indent=2) + "\n", encoding="utf-8")
            # Steps after the checkpoint were logged by the interrupted run and are trained (and logged) again.
            keep_metrics_until(out / "metrics.jsonl", self.step)
        progress = tqdm(total=settings.steps, initial=self.step, desc=f"fine-tuning {settings.name}",
                        disable=not accelerator.is_local_main_process)
        log_path = out / "metrics.jsonl"
        while self.step < settings.steps:
            loss = self.train_step()
            progress.update(1)
            progress.set_postfix(loss=f"{loss:.4f}", lr=f"{self.lr_scheduler.get_last_lr()[0]:.2e}")
            if accelerator.is_main_process:
                with log_path.open("a", encoding="utf-8") as log:
                    log.write(json.dumps({"step": self.step, "loss": loss}) + "\n")
            if settings.checkpoint_every and self.step % settings.checkpoint_every == 0:
                self.save_checkpoint()
            if settings.val_every and self.val_indices and self.step % settings.val_every == 0 \
                    and self.step < settings.steps:
                self.validate()
            if callback is not None:
                callback(self.step, loss)
        progress.close()
        if settings.checkpoint_every and self.step % settings.checkpoint_every:
            self.save_checkpoint()  # the final state, so a later --resume --steps M can continue
        if self.val_indices:
            self.validate()
        adapter_dir = out / "adapter"
        heldout_dir = out / "heldout" if self.val_indices else None
        hub_url = None
        if accelerator.is_main_process:
            if heldout_dir is not None:
                self.write_heldout(heldout_dir)
            self.write_adapter(adapter_dir)
            if settings.push_to_hub:
                hub_url = push_to_hub(adapter_dir, settings.push_to_hub, private=not settings.public,
                                      token=settings.hub_token)
        accelerator.wait_for_everyone()
        return FinetuneResult(out, adapter_dir, self.step, self.last_loss, dict(self.metrics), heldout_dir, hub_url,
                              main_process=accelerator.is_main_process)

    # -------------------------------------------------------------- checkpoints
    def trainable_state(self) -> dict[str, torch.Tensor]:
        """The trained tensors by parameter name (LoRA weights, and the prompt embedding when learned)."""
        module = self.accelerator.unwrap_model(self.model)
        return {name: p.detach() for name, p in module.named_parameters() if p.requires_grad}

    def save_checkpoint(self) -> Path:
        """``checkpoints/step-<n>/``: trained tensors, optimiser + LR schedule (+ fp16 scaler), RNG state, step.
        Written to a temporary folder and renamed, so an interrupted save never looks complete."""
        accelerator = self.accelerator
        folder = self.output_dir / "checkpoints" / f"step-{self.step:07d}"
        tmp = folder.with_name(folder.name + ".tmp")
        if accelerator.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        accelerator.wait_for_everyone()
        save_file({f"rng.{accelerator.process_index}": self.generator.get_state()},
                  str(tmp / f"rng-{accelerator.process_index}.safetensors"))
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            save_file({k: v.float().cpu().contiguous() for k, v in self.trainable_state().items()},
                      str(tmp / "trainable.safetensors"))
            state = {"optimizer": self.optimizer.state_dict(), "lr_scheduler": self.lr_scheduler.state_dict()}
            if accelerator.scaler is not None:
                state["scaler"] = accelerator.scaler.state_dict()
            torch.save(state, tmp / "optimizer.pt")
            info = {"step": self.step, "num_processes": accelerator.num_processes,
                    "settings": {k: self.settings.to_dict()[k] for k in _RESUME_KEYS}}
            (tmp / "training_state.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
            shutil.rmtree(folder, ignore_errors=True)
            tmp.rename(folder)
        accelerator.wait_for_everyone()
        return folder

    def load_checkpoint(self, folder: str | Path) -> None:
        """Restore a checkpoint exactly (weights, optimiser, schedule, generator, step)."""
        folder = Path(folder)
        info = check_resume(folder, self.settings, self.accelerator.num_processes)
        tensors = load_file(str(folder / "trainable.safetensors"))
        params = dict(self.accelerator.unwrap_model(self.model).named_parameters())
        missing = sorted(n for n, p in params.items() if p.requires_grad and n not in tensors)
        unexpected = sorted(set(tensors) - set(params))
        if missing or unexpected:
            raise ValueError(f"--resume: {folder} does not match this model (missing {missing[:3]}, unexpected "
                             f"{unexpected[:3]})")
        with torch.no_grad():
            for name, value in tensors.items():
                params[name].copy_(value.to(params[name].device, params[name].dtype))
        state = torch.load(folder / "optimizer.pt", map_location="cpu", weights_only=True)
        self.optimizer.load_state_dict(state["optimizer"])
        self.lr_scheduler.load_state_dict(state["lr_scheduler"])
        if "scaler" in state and self.accelerator.scaler is not None:
            self.accelerator.scaler.load_state_dict(state["scaler"])
        rng = load_file(str(folder / f"rng-{self.accelerator.process_index}.safetensors"))
        self.generator.set_state(rng[f"rng.{self.accelerator.process_index}"])
        self.step = int(info["step"])
        logger.info("resumed from %s at step %d", folder, self.step)

    # -------------------------------------------------------------- validation
    def _inference_task(self) -> Any:
        from ..pipeline import CustomTask

        if self.task is not None:
            return self.task
        module = self.accelerator.unwrap_model(self.model)
        key = f"<finetune:{self.adapter_name}> {self.prompt}"
        self.pipe.prompt_cache.add(key, module.prompt_embeds[0].detach().float(),
                                   module.pooled_prompt_embeds[0].detach().float())
        return CustomTask(name=self.settings.name, prompt=key, encoding=self.encoding)

    def _val_points(self, sample: Sample, index: int) -> list[list[float]]:
        if sample.points is not None:
            return sample.points.tolist()
        rng = np.random.default_rng(self.settings.seed + index)  # a fixed click per held-out pair
        return sample.candidates[rng.integers(len(sample.candidates))][None].tolist()

    @torch.no_grad()
    def predict(self, samples: Sequence[Sample]) -> list[np.ndarray]:
        """The current model's raw RGB predictions [H, W, 3] in [0, 1] for ``samples`` (the pipeline's sampling)."""
        pipe, settings = self.pipe, self.settings
        task = self._inference_task()
        points = [self._val_points(s, i) for i, s in enumerate(samples)] if self.needs_points else None
        was_training = self.model.training
        self.model.eval()
        try:
            with self.accelerator.autocast():
                output = pipe(
                    [s.image for s in samples], task, points=points, normalized=True,
                    category=settings.category, num_inference_steps=settings.val_inference_steps,
                    guidance_scale=settings.val_guidance, seed=settings.seed, decode=False,
                )
        finally:
            self.model.train(was_training)
        return [p.rgb for p in output.predictions]

    def evaluate(self, samples: Sequence[Sample], predictions: Sequence[np.ndarray]) -> dict[str, float]:
        """The task encoding's held-out metric: ``miou`` (percent) for masks, ``absrel`` for depth, ``mean_deg`` for
        normals, ``mae`` (mean absolute RGB error) otherwise."""
        values: list[float] = []
        threshold = self.pipe.config.mask_threshold
        for sample, rgb in zip(samples, predictions, strict=True):
            if self.encoding is Encoding.MASK:
                values.append(100.0 * mask_iou(decode_mask(rgb, threshold), np.asarray(sample.value, bool)))
            elif self.encoding is Encoding.DEPTH:
                values.append(aligned_absrel(decode_depth(rgb), sample.value, sample.valid))
            elif self.encoding is Encoding.NORMAL:
                values.append(mean_angle_deg(decode_normals(rgb), sample.value, sample.valid))
            else:
                values.append(float(np.abs(rgb - sample.target_rgb).mean()))
        key = {Encoding.MASK: "miou", Encoding.DEPTH: "absrel", Encoding.NORMAL: "mean_deg"}.get(self.encoding, "mae")
        return {key: float(np.nanmean(values)) if values else float("nan")}

    def validate(self) -> dict[str, float]:
        """Predict the held-out pairs, log the metric, write ``previews/step-<n>.png`` (input | prediction |
        target per row); main process only."""
        accelerator = self.accelerator
        if accelerator.is_main_process and self.val_indices:
            samples = [self.samples[i] for i in self.val_indices]
            predictions = self.predict(samples)
            self.metrics = self.evaluate(samples, predictions)
            preview = self.output_dir / "previews" / f"step-{self.step:07d}.png"
            write_preview(preview, samples, predictions)
            with (self.output_dir / "metrics.jsonl").open("a", encoding="utf-8") as log:
                log.write(json.dumps({"step": self.step, "heldout": self.metrics}) + "\n")
            logger.info("step %d: held-out %s (preview %s)", self.step, self.metrics, preview)
        accelerator.wait_for_everyone()
        return self.metrics

    # -------------------------------------------------------------- outputs
    def task_info(self) -> dict[str, Any]:
        """``diception_task.json`` (ADAPTER_FORMAT.md). The base model is named by ``config.checkpoint_id`` (the
        DICEPTION weights, e.g. ``Canyu/DICEPTION``) at ``config.model_revision`` (the content hash of the converted
        weights the adapter was trained on; ``checkpoint_revision`` when that is unknown)."""
        settings, config = self.settings, self.pipe.config
        revision = config.model_revision if config.model_revision != "unknown" else config.checkpoint_revision
        if settings.benchmarks:
            benchmarks = list(settings.benchmarks)
        elif self.task is not None:
            benchmarks = list(default_benchmarks(self.task))
        else:
            # The user's held-out split (written to <output>/heldout), named as evaluation.benchmarks.user_split does.
            benchmarks = [f"{USER_SPLIT_PREFIX}{_slug(settings.name)}-heldout"]
        n = len(self.samples)
        training_data = settings.training_data or (
            f"{n} image/target pairs from the user-supplied folder '{Path(settings.data).name}' "
            f"({len(self.train_indices)} trained on, {len(self.val_indices)} held out)")
        return {
            "format_version": 1,
            "base_model": {"id": config.checkpoint_id, "revision": revision},
            "task": self.task.value if self.task is not None else None,
            "new_task": None if self.task is not None else {
                "name": settings.name, "prompt": self.prompt, "encoding": self.encoding.value},
            "benchmarks": benchmarks,
            "training_data": training_data[:2000],
            "trained_on_benchmarks": list(settings.trained_on_benchmarks),
            "licence": settings.licence[:2000],
        }

    def write_adapter(self, folder: str | Path) -> Path:
        """Write the ADAPTER_FORMAT.md folder (replacing an earlier one at ``folder``)."""
        from .card import model_card

        folder = Path(folder)
        if folder.exists():
            shutil.rmtree(folder)
        module = self.accelerator.unwrap_model(self.model)
        info = self.task_info()
        embedding = None
        if self.task is None:  # a new task always carries its embedding, so serving needs no text encoder
            embedding = (module.prompt_embeds.detach().float().cpu(),
                         module.pooled_prompt_embeds.detach().float().cpu())
        card = model_card(
            settings=self.settings.to_dict(), task_info=info, prompt_learned=self.prompt_learned,
            num_train=len(self.train_indices), num_heldout=len(self.val_indices), metrics=self.metrics,
            steps=self.step, final_loss=self.last_loss, num_lora_parameters=self.num_lora_parameters,
            resolution=self.pipe.config.resolution,
        )
        folder = write_adapter_folder(
            module.transformer, self.adapter_name, folder, task_info=info, task_embedding=embedding,
            model_card=card, dtype=SAVE_DTYPES[self.settings.save_dtype],
        )
        total = sum(p.stat().st_size for p in folder.iterdir())
        if total > MAX_ADAPTER_BYTES:
            logger.warning("the adapter folder is %.0f MB, over the leaderboard's %d MB limit; use a lower --rank, "
                           "fewer --targets or --save-dtype bfloat16", total / 1e6, MAX_ADAPTER_BYTES // 10**6)
        logger.info("adapter written to %s (%.1f MB)", folder, total / 1e6)
        return folder

    def write_heldout(self, folder: str | Path) -> Path:
        """Copy the held-out pairs (files byte for byte) with a ``manifest.json`` of this package's data-folder
        format, so the split can be re-used as a data folder or registered as an own test split."""
        folder = Path(folder)
        if folder.exists():
            shutil.rmtree(folder)
        (folder / "images").mkdir(parents=True)
        (folder / "targets").mkdir(parents=True)
        pairs = []
        for index in self.val_indices:
            sample = self.samples[index]
            stem = _slug(sample.name)
            image = f"images/{stem}{sample.pair.image_path.suffix.lower()}"
            target = f"targets/{stem}{sample.pair.target_path.suffix.lower()}"
            shutil.copyfile(sample.pair.image_path, folder / image)
            shutil.copyfile(sample.pair.target_path, folder / target)
            entry: dict[str, Any] = {"name": sample.name, "image": image, "target": target}
            if sample.pair.points is not None:
                entry["points"] = sample.pair.points
            pairs.append(entry)
        manifest = {
            "format": "diception-finetune-pairs", "format_version": 1,
            "task": self.task.value if self.task is not None else self.settings.name,
            "encoding": self.encoding.value, "depth_kind": self.settings.depth_kind,
            "benchmark": f"{_slug(self.settings.name)}-heldout", "pairs": pairs,
        }
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        return folder


# What a run writes into --output; any of them means the folder holds an earlier run.
RUN_FILES = ("settings.json", "metrics.jsonl", "checkpoints", "adapter", "heldout", "previews")


def check_resume(folder: Path, settings: FinetuneSettings, num_processes: int) -> dict[str, Any]:
    """The checkpoint's ``training_state.json``, after checking that ``settings`` may continue it."""
    info = json.loads((folder / "training_state.json").read_text(encoding="utf-8"))
    current = settings.to_dict()
    changed = [k for k in _RESUME_KEYS if info["settings"].get(k) != current[k]]
    if changed:
        details = ", ".join(f"{k}: {info['settings'].get(k)!r} -> {current[k]!r}" for k in changed)
        raise ValueError(f"--resume: {folder} was trained with different settings ({details}); use the same "
                         "settings or another --output")
    if info["num_processes"] != num_processes:
        raise ValueError(f"--resume: {folder} was written by {info['num_processes']} process(es), this run has "
                         f"{num_processes}; the random streams would differ")
    return info


def check_output(settings: FinetuneSettings, num_processes: int) -> None:
    """Refuse, before anything is written, a run that would mix with an earlier one in ``--output``: without
    ``--resume`` the folder must hold no earlier run; with it, the latest checkpoint must match the settings."""
    out = settings.output_dir
    if not settings.resume:
        if latest_checkpoint(out) is not None:
            raise ValueError(f"output: {out} already holds checkpoints of an earlier run; pass --resume to continue "
                             "it, or choose another --output")
        earlier = [name for name in RUN_FILES if (out / name).exists()]
        if earlier:
            raise ValueError(f"output: {out} already holds an earlier run ({', '.join(earlier)}); choose another "
                             "--output (or pass --resume to continue it)")
        return
    latest = latest_checkpoint(out)
    if latest is not None:
        check_resume(latest, settings, num_processes)


def keep_metrics_until(path: Path, step: int) -> None:
    """Drop the lines of ``metrics.jsonl`` logged after ``step`` (and any line a crash cut short), so a resumed run
    logs every step once. Rewritten atomically."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int) and record["step"] <= step:
            kept.append(line + "\n")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(kept), encoding="utf-8")
    tmp.replace(path)


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The newest complete ``checkpoints/step-<n>`` folder of a run, or None."""
    root = Path(output_dir) / "checkpoints"
    if not root.is_dir():
        return None
    done = [p for p in root.iterdir() if re.fullmatch(r"step-\d+", p.name) and (p / "training_state.json").is_file()]
    return max(done, key=lambda p: int(p.name.split("-")[1]), default=None)


def write_preview(path: Path, samples: Sequence[Sample], predictions: Sequence[np.ndarray], height: int = 192,
                  max_rows: int = 4) -> Path:
    """A PNG with one row per sample: input | prediction | target, each scaled to ``height`` pixels."""
    rows = []
    for sample, rgb in list(zip(samples, predictions, strict=True))[:max_rows]:
        h, w = sample.image.shape[:2]
        width = max(1, round(w * height / h))
        panels = [Image.fromarray(sample.image), Image.fromarray(_to_uint8(rgb)),
                  Image.fromarray(_to_uint8(sample.target_rgb))]
        panels = [p.resize((width, height), Image.Resampling.BILINEAR) for p in panels]
        row = Image.new("RGB", (3 * width + 8, height), (255, 255, 255))
        for k, panel in enumerate(panels):
            row.paste(panel, (k * (width + 4), 0))
        rows.append(row)
    sheet = Image.new("RGB", (max(r.width for r in rows), sum(r.height + 4 for r in rows) - 4), (255, 255, 255))
    y = 0
    for row in rows:
        sheet.paste(row, (0, y))
        y += row.height + 4
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def _to_uint8(rgb: np.ndarray) -> np.ndarray:
    return (np.clip(rgb, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def push_to_hub(folder: str | Path, repo_id: str, *, private: bool = True, token: str | None = None,
                api: Any = None) -> str:
    """Upload an adapter folder to a Hub model repo, created private unless ``private=False``; returns its URL.

    ``api`` defaults to ``huggingface_hub.HfApi(token=token)`` (tests pass a fake)."""
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    url = api.create_repo(repo_id=repo_id, private=private, exist_ok=True, repo_type="model")
    api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model",
                      commit_message="Upload DICEPTION LoRA adapter (diception_core.finetune)")
    logger.info("pushed %s to %s (%s)", folder, repo_id, "private" if private else "public")
    return str(url) if url is not None else f"https://huggingface.co/{repo_id}"


def finetune(settings: FinetuneSettings, *, pipe: Any = None, callback: Callable[[int, float], None] | None = None,
             samples: list[Sample] | None = None) -> FinetuneResult:
    """Run a fine-tuning job end to end; returns where the adapter folder is and the held-out metric."""
    trainer = Finetuner(settings, pipe=pipe, samples=samples)
    return trainer.train(callback=callback)
