"""The type of a task that is not one of the six fixed ones (a new-task adapter's), shared by the pipeline and the
adapter code without either importing the other."""

from __future__ import annotations

from dataclasses import dataclass

from diception_spec.tasks import Encoding


@dataclass(frozen=True)
class CustomTask:
    """A task that is not one of the six: a new-task adapter's prompt and output encoding."""

    name: str
    prompt: str
    encoding: Encoding
    needs_points: bool = False
