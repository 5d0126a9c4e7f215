"""Runtime speed options: device / dtype resolution, attention kernels, channels-last VAE, compilation (lazy)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from diception_core.runtime import RuntimeOptions, attention_context, resolve_device, resolve_dtype


def _image(width: int = 40, height: int = 30) -> np.ndarray:
    return (np.random.default_rng(0).random((height, width, 3)) * 255).astype(np.uint8)


def test_dtype_and_device_resolution() -> None:
    assert resolve_dtype(torch.device("cpu"), None) is torch.float32
    assert resolve_dtype(torch.device("cuda"), None) is torch.bfloat16
    assert resolve_dtype(torch.device("cpu"), "float16") is torch.float16
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(ValueError, match="dtype"):
        resolve_dtype(torch.device("cpu"), "float8")


def test_unknown_attention_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="attention"):
        RuntimeOptions(attention="fast")
    with pytest.raises(ValueError, match="attention"):
        attention_context("fast")


@pytest.mark.parametrize("backend", ["math", "flash"])
def test_an_attention_kernel_gives_the_plain_output(fresh_tiny_pipe, backend) -> None:
    plain = fresh_tiny_pipe(_image(), "depth", num_inference_steps=2, guidance_scale=2.0, decode=False).rgb
    fresh_tiny_pipe.set_runtime(RuntimeOptions(attention=backend))
    chosen = fresh_tiny_pipe(_image(), "depth", num_inference_steps=2, guidance_scale=2.0, decode=False).rgb
    np.testing.assert_allclose(chosen, plain, atol=1e-5)


def test_channels_last_vae_gives_the_plain_output(fresh_tiny_pipe) -> None:
    plain = fresh_tiny_pipe(_image(), "normal", num_inference_steps=1, decode=False).rgb
    fresh_tiny_pipe.set_runtime(RuntimeOptions(channels_last_vae=True))
    conv = next(m for m in fresh_tiny_pipe.vae.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    chosen = fresh_tiny_pipe(_image(), "normal", num_inference_steps=1, decode=False).rgb
    np.testing.assert_allclose(chosen, plain, atol=1e-5)
    fresh_tiny_pipe.set_runtime(RuntimeOptions())
    assert conv.weight.is_contiguous()


def test_compiling_is_lazy_and_keeps_the_module(fresh_tiny_pipe) -> None:
    transformer = fresh_tiny_pipe.transformer
    keys = list(transformer.state_dict())
    fresh_tiny_pipe.set_runtime(RuntimeOptions(compile=True))
    assert fresh_tiny_pipe.transformer is transformer and list(transformer.state_dict()) == keys
    assert transformer._compiled_call_impl is not None  # compiled on its first forward (not run here: slow on CPU)
    assert fresh_tiny_pipe.runtime.describe()["compile"] is True
    fresh_tiny_pipe.set_runtime(RuntimeOptions())
    assert transformer._compiled_call_impl is None
