"""The DICEPTION transformer (SD3's, with image-condition tokens and 5 point tokens) and the point encoder.

Forward pass (DICEPTION_MODEL.md, "Forward pass"): noisy latents and image-condition latents both go through the
transformer's own ``pos_embed`` and are concatenated on the sequence (2N image tokens); the prompt goes through
``context_embedder`` and the 5 point tokens are appended after it (L + 5 context tokens); the SD3 joint blocks run
unchanged; only the first N image tokens (the noisy half) are kept, normalised, projected and unpatchified.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_outputs import Transformer2DModelOutput
from diffusers.models.modeling_utils import ModelMixin
from diffusers.models.transformers.transformer_sd3 import SD3Transformer2DModel
from diffusers.utils import apply_lora_scale
from torch import nn

from diception_spec.tasks import MAX_POINTS


class DiceptionTransformer(SD3Transformer2DModel):
    """SD3's MMDiT with DICEPTION's conditioning. Same config and weights layout as ``SD3Transformer2DModel``."""

    @apply_lora_scale("joint_attention_kwargs")  # applies (and removes) joint_attention_kwargs["scale"] for LoRA
    def forward(
        self,
        hidden_states: torch.Tensor,
        cond_latents: torch.Tensor,
        encoder_hidden_states: torch.Tensor,
        pooled_projections: torch.Tensor,
        timestep: torch.Tensor,
        point_embeds: torch.Tensor,
        joint_attention_kwargs: dict[str, Any] | None = None,
        return_dict: bool = True,
    ) -> Transformer2DModelOutput | tuple[torch.Tensor]:
        """Predict the flow-matching velocity.

        hidden_states: noisy latents [B, C, h, w]; cond_latents: image latents [B, C, h, w];
        encoder_hidden_states: prompt embeddings [B, L, joint_attention_dim]; pooled_projections: [B, P];
        timestep: [B] in the scheduler's [0, 1000] scale; point_embeds: [B, 5, inner_dim] from ``PointEncoder``
        (zeros for the unconditional CFG branch). Returns the velocity [B, C, h, w].
        """
        if hidden_states.shape != cond_latents.shape:
            raise ValueError(
                f"cond_latents: shape {tuple(cond_latents.shape)} must equal hidden_states' "
                f"{tuple(hidden_states.shape)}"
            )
        inner_dim = self.config.num_attention_heads * self.config.attention_head_dim
        if point_embeds.shape != (hidden_states.shape[0], MAX_POINTS, inner_dim):
            raise ValueError(
                f"point_embeds: expected shape {(hidden_states.shape[0], MAX_POINTS, inner_dim)}, "
                f"got {tuple(point_embeds.shape)}"
            )
        height, width = hidden_states.shape[-2:]
        noisy = self.pos_embed(hidden_states)  # [B, N, D]
        cond = self.pos_embed(cond_latents)  # [B, N, D], same positions as the noisy tokens
        num_tokens = noisy.shape[1]
        tokens = torch.cat([noisy, cond], dim=1).contiguous()  # [B, 2N, D]
        temb = self.time_text_embed(timestep, pooled_projections)  # [B, D]
        context = self.context_embedder(encoder_hidden_states)  # [B, L, D]
        context = torch.cat([context, point_embeds.to(context.dtype)], dim=1)  # [B, L + 5, D]

        for block in self.transformer_blocks:
            if torch.is_grad_enabled() and self.gradient_checkpointing:
                context, tokens = self._gradient_checkpointing_func(
                    block, tokens, context, temb, joint_attention_kwargs
                )
            else:
                context, tokens = block(
                    hidden_states=tokens, encoder_hidden_states=context, temb=temb,
                    joint_attention_kwargs=joint_attention_kwargs,
                )

        # norm_out is per token, so keeping the noisy half first is exact and halves the work.
        tokens = tokens[:, :num_tokens]  # [B, N, D]
        tokens = self.norm_out(tokens, temb)
        tokens = self.proj_out(tokens)  # [B, N, p * p * C]
        velocity = self._unpatchify(tokens, height, width)  # [B, C, h, w]
        if not return_dict:
            return (velocity,)
        return Transformer2DModelOutput(sample=velocity)

    def _unpatchify(self, tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
        patch = self.config.patch_size
        h, w = height // patch, width // patch
        channels = self.out_channels
        x = tokens.reshape(tokens.shape[0], h, w, patch, patch, channels)
        x = torch.einsum("nhwpqc->nchpwq", x)
        return x.reshape(tokens.shape[0], channels, h * patch, w * patch)


class PointEncoder(ModelMixin, ConfigMixin):
    """DICEPTION's point-prompt embedding (DICEPTION_MODEL.md, "Point prompts").

    For each of the 5 slots with coordinates p in [0, 1]^2 and label l (1 = point, 0 = empty):
    ``p' = 2p - 1``; ``f = 2*pi * (p' @ G)`` with G the [2, F] gaussian matrix; ``e = MLP([sin f, cos f])``
    (2F -> 2F -> D, GELU); then ``e += seg_embeddings`` where l = 1, ``not_seg_embeddings`` where l = 0.
    ``point_dtype`` is the precision of the coordinates, G and the Fourier product (bf16 in the release).
    """

    config_name = "config.json"

    @register_to_config
    def __init__(self, num_frequencies: int = 1024, hidden_size: int = 1536, gaussian_scale: float = 1.0):
        super().__init__()
        self.register_buffer(
            "positional_encoding_gaussian_matrix", gaussian_scale * torch.randn(2, num_frequencies), persistent=True
        )
        self.point_embedder = nn.Sequential(
            nn.Linear(2 * num_frequencies, 2 * num_frequencies), nn.GELU(), nn.Linear(2 * num_frequencies, hidden_size)
        )
        self.seg_embeddings = nn.Embedding(1, hidden_size)
        self.not_seg_embeddings = nn.Embedding(1, hidden_size)

    def fourier_features(self, coords: torch.Tensor, point_dtype: torch.dtype) -> torch.Tensor:
        """[B, 5, 2] coordinates in [0, 1] -> [B, 5, 2F] = [sin f, cos f] computed in ``point_dtype``."""
        p = 2.0 * coords.to(point_dtype) - 1.0  # [B, 5, 2] in [-1, 1]
        gaussian = self.positional_encoding_gaussian_matrix.to(point_dtype)  # [2, F]
        f = 2.0 * math.pi * (p @ gaussian)  # [B, 5, F]
        return torch.cat([torch.sin(f), torch.cos(f)], dim=-1)  # [B, 5, 2F]

    def forward(
        self, coords: torch.Tensor, labels: torch.Tensor, point_dtype: torch.dtype = torch.bfloat16
    ) -> torch.Tensor:
        """coords [B, 5, 2] in [0, 1] (model order), labels [B, 5] in {0, 1} -> point tokens [B, 5, D]."""
        if coords.ndim != 3 or coords.shape[1:] != (MAX_POINTS, 2):
            raise ValueError(f"coords: expected shape [B, {MAX_POINTS}, 2], got {tuple(coords.shape)}")
        if labels.shape != coords.shape[:2]:
            raise ValueError(f"labels: expected shape {tuple(coords.shape[:2])}, got {tuple(labels.shape)}")
        features = self.fourier_features(coords, point_dtype)
        weight_dtype = self.point_embedder[0].weight.dtype
        embeds = self.point_embedder(features.to(weight_dtype))  # [B, 5, D]
        is_point = (labels == 1).unsqueeze(-1)  # [B, 5, 1]
        seg = self.seg_embeddings.weight[0]  # [D]
        not_seg = self.not_seg_embeddings.weight[0]  # [D]
        return embeds + torch.where(is_point, seg, not_seg)

    def load_official_state(self, checkpoint: dict[str, Any]) -> None:
        """Load the point parts of an official ``DICEPTION_v1.pth`` dict (keys already checked by the loader)."""
        self.positional_encoding_gaussian_matrix.copy_(checkpoint["positional_encoding_gaussian_matrix"])
        self.point_embedder.load_state_dict(checkpoint["point_embedder"], strict=True)
        self.seg_embeddings.load_state_dict(checkpoint["seg_embeddings"], strict=True)
        self.not_seg_embeddings.load_state_dict(checkpoint["not_seg_embeddings"], strict=True)

    def official_state(self) -> dict[str, Any]:
        """The point parts in the official checkpoint's layout (used to write release-format test checkpoints)."""
        return {
            "point_embedder": self.point_embedder.state_dict(),
            "seg_embeddings": self.seg_embeddings.state_dict(),
            "not_seg_embeddings": self.not_seg_embeddings.state_dict(),
            "positional_encoding_gaussian_matrix": self.positional_encoding_gaussian_matrix.detach().clone(),
        }
