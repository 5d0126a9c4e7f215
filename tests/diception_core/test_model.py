"""The DICEPTION transformer and point encoder against DICEPTION_MODEL.md."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from diception_core.model import DiceptionTransformer, PointEncoder
from diception_core.tiny import TINY_TRANSFORMER_CONFIG


@pytest.fixture(scope="module")
def encoder() -> PointEncoder:
    gen = torch.Generator().manual_seed(3)
    enc = PointEncoder(num_frequencies=8, hidden_size=12)
    with torch.no_grad():
        for p in enc.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
        enc.positional_encoding_gaussian_matrix.copy_(torch.randn(2, 8, generator=gen))
    return enc.eval().requires_grad_(False)


def _reference_point_encoding(enc: PointEncoder, coords: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """DICEPTION_MODEL.md's formula in float64 numpy, written independently of the module."""
    g = enc.positional_encoding_gaussian_matrix.double().numpy()  # [2, F]
    w0, b0 = enc.point_embedder[0].weight.double().numpy(), enc.point_embedder[0].bias.double().numpy()
    w2, b2 = enc.point_embedder[2].weight.double().numpy(), enc.point_embedder[2].bias.double().numpy()
    f = 2 * math.pi * ((2 * coords - 1) @ g)
    h = np.concatenate([np.sin(f), np.cos(f)], axis=-1) @ w0.T + b0
    h = 0.5 * h * (1 + np.vectorize(math.erf)(h / math.sqrt(2)))  # exact GELU
    e = h @ w2.T + b2
    seg = enc.seg_embeddings.weight.double().numpy()[0]
    not_seg = enc.not_seg_embeddings.weight.double().numpy()[0]
    return e + np.where(labels[..., None] == 1, seg, not_seg)


def test_point_encoding_matches_formula_in_float32(encoder: PointEncoder) -> None:
    coords = np.array([[[0.1, 0.9], [0.5, 0.5], [0, 0], [0, 0], [0, 0]]])
    labels = np.array([[1, 1, 0, 0, 0]])
    got = encoder(torch.tensor(coords, dtype=torch.float32), torch.tensor(labels), point_dtype=torch.float32)
    np.testing.assert_allclose(got.double().numpy(), _reference_point_encoding(encoder, coords, labels), atol=1e-4)


def test_padding_slots_get_the_not_seg_embedding(encoder: PointEncoder) -> None:
    coords = torch.zeros(1, 5, 2)
    as_points = encoder(coords, torch.ones(1, 5, dtype=torch.long), point_dtype=torch.float32)
    as_padding = encoder(coords, torch.zeros(1, 5, dtype=torch.long), point_dtype=torch.float32)
    diff = (as_points - as_padding)[0, 0]
    expected = encoder.seg_embeddings.weight[0] - encoder.not_seg_embeddings.weight[0]
    torch.testing.assert_close(diff, expected)


def test_bf16_point_encoding_quantises_coordinates_like_the_release(encoder: PointEncoder) -> None:
    coords = torch.tensor([[[0.123456, 0.654321]] + [[0.0, 0.0]] * 4])
    labels = torch.tensor([[1, 0, 0, 0, 0]])
    bf16 = encoder.fourier_features(coords, torch.bfloat16)
    assert bf16.dtype == torch.bfloat16
    # The release rounds p' = 2p - 1 and G to bf16 before the product: compare with that rounding done by hand.
    p = (2 * coords.to(torch.bfloat16) - 1).double()
    g = encoder.positional_encoding_gaussian_matrix.to(torch.bfloat16).double()
    f = 2 * math.pi * (p @ g)
    ref = torch.cat([torch.sin(f), torch.cos(f)], -1)
    assert (bf16.double() - ref).abs().max() < 0.1  # bf16 phase error bound (~0.1 rad, DICEPTION_MODEL.md)
    assert not torch.equal(encoder(coords, labels, torch.bfloat16), encoder(coords, labels, torch.float32))


def test_point_encoder_rejects_wrong_slot_count(encoder: PointEncoder) -> None:
    with pytest.raises(ValueError, match="coords"):
        encoder(torch.zeros(1, 4, 2), torch.zeros(1, 4, dtype=torch.long))


@pytest.fixture(scope="module")
def transformer() -> DiceptionTransformer:
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return DiceptionTransformer(**TINY_TRANSFORMER_CONFIG).eval()


def _inputs(batch: int = 2, size: int = 8):
    gen = torch.Generator().manual_seed(1)
    cfg = TINY_TRANSFORMER_CONFIG
    inner = cfg["num_attention_heads"] * cfg["attention_head_dim"]
    return {
        "hidden_states": torch.randn(batch, 16, size, size, generator=gen),
        "cond_latents": torch.randn(batch, 16, size, size, generator=gen),
        "encoder_hidden_states": torch.randn(batch, 7, cfg["joint_attention_dim"], generator=gen),
        "pooled_projections": torch.randn(batch, cfg["pooled_projection_dim"], generator=gen),
        "timestep": torch.tensor([1000.0, 500.0][:batch]),
        "point_embeds": torch.randn(batch, 5, inner, generator=gen),
    }


def test_forward_shape_with_points(transformer: DiceptionTransformer) -> None:
    with torch.no_grad():
        out = transformer(**_inputs(), return_dict=False)[0]
    assert out.shape == (2, 16, 8, 8)


def test_forward_shape_without_points_uses_zero_tokens(transformer: DiceptionTransformer) -> None:
    inputs = _inputs()
    inputs["point_embeds"] = torch.zeros_like(inputs["point_embeds"])
    with torch.no_grad():
        out = transformer(**inputs).sample
    assert out.shape == (2, 16, 8, 8)


def test_forward_matches_a_plain_reference(transformer: DiceptionTransformer) -> None:
    """Norm over all 2N tokens then keep the first N, and a loop-based unpatchify: the model's shortcuts agree."""
    inputs = _inputs(batch=1)
    t = transformer
    with torch.no_grad():
        x = torch.cat([t.pos_embed(inputs["hidden_states"]), t.pos_embed(inputs["cond_latents"])], 1)
        temb = t.time_text_embed(inputs["timestep"], inputs["pooled_projections"])
        ctx = torch.cat([t.context_embedder(inputs["encoder_hidden_states"]), inputs["point_embeds"]], 1)
        for block in t.transformer_blocks:
            ctx, x = block(hidden_states=x, encoder_hidden_states=ctx, temb=temb)
        x = t.proj_out(t.norm_out(x, temb))[:, : x.shape[1] // 2]  # [1, N, p*p*C]
        ref = torch.zeros(1, 16, 8, 8)
        for index in range(16):  # 4x4 patches of 2x2
            row, col = divmod(index, 4)
            patch = x[0, index].reshape(2, 2, 16)  # [p, q, C]
            ref[0, :, 2 * row : 2 * row + 2, 2 * col : 2 * col + 2] = patch.permute(2, 0, 1)
        got = transformer(**inputs, return_dict=False)[0]
    torch.testing.assert_close(got, ref, atol=1e-5, rtol=1e-5)


def test_point_tokens_change_the_output(transformer: DiceptionTransformer) -> None:
    inputs = _inputs(batch=1)
    with torch.no_grad():
        a = transformer(**inputs, return_dict=False)[0]
        gen = torch.Generator().manual_seed(9)
        inputs["point_embeds"] = torch.randn(inputs["point_embeds"].shape, generator=gen)
        b = transformer(**inputs, return_dict=False)[0]
    assert (a - b).abs().mean() > 1e-4


def test_condition_shape_mismatch_is_an_error(transformer: DiceptionTransformer) -> None:
    inputs = _inputs(batch=1)
    inputs["cond_latents"] = inputs["cond_latents"][..., :4]
    with pytest.raises(ValueError, match="cond_latents"):
        transformer(**inputs)
