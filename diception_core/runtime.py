"""Where and how a pipeline runs: device and dtype resolution, and the speed options (none changes the maths).

Shared by the loader and the pipeline (a small module with no package imports, so neither imports the other for
it). The speed options are runtime settings, not model settings: a model folder's ``diception_config.json`` says
what the weights are, these say how this process runs them.

- ``attention``: the scaled-dot-product-attention kernel of every transformer attention: ``"auto"`` (default:
  PyTorch picks), ``"flash"``, ``"efficient"`` (memory-efficient), ``"cudnn"`` or ``"math"``. A kernel that
  cannot run the inputs (e.g. flash on float32 CUDA tensors) makes the forward raise rather than fall back.
- ``compile``: ``torch.compile`` the transformer in place (default off). The first call of every new batch size
  or resolution pays the compilation (tens of seconds for the full model); ZeroGPU Spaces do not support it.
- ``channels_last_vae``: keep the VAE's convolution weights (and its inputs) channels-last (default off), which
  cuDNN runs faster on recent GPUs.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
ATTENTION_BACKENDS = ("auto", "flash", "efficient", "cudnn", "math")


def resolve_device(device: torch.device | str | None) -> torch.device:
    """``None`` -> CUDA when available, else the CPU; anything else as ``torch.device``."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(device: torch.device, dtype: torch.dtype | str | None) -> torch.dtype:
    """A dtype or its name (float32, bfloat16, float16); ``None`` -> bfloat16 on CUDA, float32 elsewhere."""
    if isinstance(dtype, str):
        try:
            dtype = DTYPES[dtype]
        except KeyError:
            raise ValueError(f"dtype: {dtype!r} is not one of {', '.join(DTYPES)}") from None
    if dtype is not None:
        return dtype
    return torch.bfloat16 if device.type == "cuda" else torch.float32


@dataclass(frozen=True)
class RuntimeOptions:
    """Speed options of one pipeline (see the module docstring); the defaults are the plain path."""

    attention: str = "auto"
    compile: bool = False
    channels_last_vae: bool = False

    def __post_init__(self) -> None:
        if self.attention not in ATTENTION_BACKENDS:
            raise ValueError(f"attention: {self.attention!r} is not one of {', '.join(ATTENTION_BACKENDS)}")

    def describe(self) -> dict[str, object]:
        return {"attention": self.attention, "compile": self.compile, "channels_last_vae": self.channels_last_vae}


def attention_context(backend: str) -> contextlib.AbstractContextManager[None]:
    """A context in which ``F.scaled_dot_product_attention`` uses only ``backend`` (``"auto"``: no restriction)."""
    if backend not in ATTENTION_BACKENDS:
        raise ValueError(f"attention: {backend!r} is not one of {', '.join(ATTENTION_BACKENDS)}")
    if backend == "auto":
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    kernels = {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
               "cudnn": SDPBackend.CUDNN_ATTENTION, "math": SDPBackend.MATH}
    return sdpa_kernel([kernels[backend]])


def apply_module_options(transformer: torch.nn.Module, vae: torch.nn.Module, options: RuntimeOptions) -> None:
    """Apply (or undo) the module-level options in place: channels-last VAE weights and the compiled transformer.

    Compilation is lazy (``nn.Module.compile``): the module stays the same object (its config, adapters and
    ``state_dict`` keys are unchanged) and the first forward compiles; ``compile=False`` drops the compiled call.
    """
    vae.to(memory_format=torch.channels_last if options.channels_last_vae else torch.contiguous_format)
    compiled = getattr(transformer, "_compiled_call_impl", None) is not None
    if options.compile and not compiled:
        transformer.compile()
    elif not options.compile and compiled:
        transformer._compiled_call_impl = None  # back to the eager forward


__all__ = ["ATTENTION_BACKENDS", "DTYPES", "RuntimeOptions", "apply_module_options", "attention_context",
           "resolve_device", "resolve_dtype"]
