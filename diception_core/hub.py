"""Load errors and the one translation of Hub, file and memory failures into them (shared by the loader and the
text encoders; imports nothing of the package, so both can use it without importing each other)."""

from __future__ import annotations

import json
import pickle
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch


class ModelLoadError(RuntimeError):
    """Loading failed; the message says what is missing and the exact fix."""


class GatedModelError(ModelLoadError):
    pass


class OfflineError(ModelLoadError):
    pass


class CorruptModelError(ModelLoadError):
    pass


class InsufficientMemoryError(ModelLoadError):
    pass


class CheckpointKeyError(CorruptModelError):
    """Missing or unexpected keys in a checkpoint; ``missing`` and ``unexpected`` list them."""

    def __init__(self, what: str, missing: list[str], unexpected: list[str]) -> None:
        self.missing = missing
        self.unexpected = unexpected
        parts = []
        if missing:
            parts.append(f"missing keys ({len(missing)}): {_listing(missing)}")
        if unexpected:
            parts.append(f"unexpected keys ({len(unexpected)}): {_listing(unexpected)}")
        super().__init__(f"{what}: {'; '.join(parts)}. Is this the right checkpoint for this base model?")


def _listing(keys: list[str], limit: int = 20) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


@contextmanager
def hub_errors_as_load_errors(source: str) -> Iterator[None]:
    """Turn Hub, file and memory failures into one actionable ``ModelLoadError`` each."""
    from huggingface_hub import errors as hub_errors

    try:
        yield
    except ModelLoadError:
        raise
    except hub_errors.GatedRepoError:
        raise GatedModelError(
            f"{source} is gated: accept its licence at https://huggingface.co/{source} while logged in, then make a "
            "token available: `hf auth login` (or set HF_TOKEN=hf_...)."
        ) from None
    except (hub_errors.OfflineModeIsEnabled, hub_errors.LocalEntryNotFoundError, ConnectionError) as err:
        raise OfflineError(
            f"cannot reach the Hugging Face Hub to fetch {source} and it is not in the local cache "
            f"({type(err).__name__}). Connect to the internet once, or download it elsewhere (`hf download "
            f"{source} --local-dir ./{Path(str(source)).name}`) and pass that folder."
        ) from None
    except hub_errors.RepositoryNotFoundError:
        raise ModelLoadError(
            f"{source} is neither a local folder nor a Hub repository you can access; check the id, or log in "
            "(`hf auth login`) if it is private."
        ) from None
    except hub_errors.RevisionNotFoundError:
        raise ModelLoadError(f"{source} has no such revision; check the commit, branch or tag") from None
    except hub_errors.HFValidationError:
        raise ModelLoadError(
            f"{source} is neither a local folder nor a Hub repo id (user/name); pass the folder `convert` wrote, a "
            "Hub id of one, or tiny."
        ) from None
    except (torch.OutOfMemoryError, MemoryError):
        raise InsufficientMemoryError(
            f"not enough memory to load {source}. Free memory, use --dtype bfloat16, or run on a GPU with at least "
            "8 GB (the text encoders are not needed: use a converted folder with its prompt cache)."
        ) from None
    except (pickle.UnpicklingError, json.JSONDecodeError, EOFError, OSError, RuntimeError) as err:
        raise CorruptModelError(
            f"{source} could not be read ({type(err).__name__}: {str(err)[:300]}). Is it the right file, and "
            "complete? Delete it and download it again."
        ) from None


__all__ = ["CheckpointKeyError", "CorruptModelError", "GatedModelError", "InsufficientMemoryError", "ModelLoadError",
           "OfflineError", "hub_errors_as_load_errors"]
