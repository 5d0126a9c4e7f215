"""A registry: named specs behind a live read-only mapping, added once (checked) and, for tests and experiments,
for the duration of a ``with`` block. The metric and benchmark registries are instances."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Registry(Generic[K, V]):
    """``view`` is the read-only mapping everyone reads (it sees later additions); ``register`` adds a spec under
    ``key(spec)`` after ``check(spec)`` (which raises on an inconsistent spec); a taken key raises ``ValueError``."""

    def __init__(self, what: str, key: Callable[[V], K], check: Callable[[V], None] | None = None) -> None:
        self._what = what
        self._key = key
        self._check = check
        self._items: dict[K, V] = {}
        self.view: Mapping[K, V] = MappingProxyType(self._items)

    def register(self, spec: V) -> V:
        key = self._key(spec)
        if key in self._items:
            raise ValueError(f"{self._what}: {key!r} is registered already")
        if self._check is not None:
            self._check(spec)
        self._items[key] = spec
        return spec

    @contextmanager
    def registered(self, spec: V) -> Iterator[V]:
        """``register(spec)`` for the duration of a ``with`` block."""
        self.register(spec)
        try:
            yield spec
        finally:
            self._items.pop(self._key(spec), None)
