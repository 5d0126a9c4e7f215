"""Stratified bootstrap confidence intervals, as ``../shared/reference/PROTOCOLS.md`` defines them.

Items (masks, images) are resampled with replacement *within* each dataset; each draw recomputes every dataset's
score and the unweighted mean over datasets; the interval is the 2.5th and 97.5th percentile over 1,000 draws.

Seed semantics (what a reference implementation must reproduce): one ``numpy.random.default_rng(seed)``; datasets
are visited in the mapping's order; for a dataset of ``n`` items, draws are taken in chunks of rows, each chunk's
indices being ``minimum(floor(rng.random((rows, n)) * n), n - 1)``. Because ``Generator.random`` consumes exactly one
64-bit word per value, the chunk size does not change the indices: the whole thing equals one
``rng.random((n_draws, n))`` per dataset. Percentiles use numpy's default (linear) interpolation.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

__all__ = ["ConfidenceInterval", "StratifiedBootstrap", "stratified_bootstrap"]

DEFAULT_DRAWS = 1000
DEFAULT_SEED = 0
_CHUNK_ELEMENTS = 2_000_000  # bounds the [rows, n] temporaries to ~16 MB per array

Statistic = Callable[[np.ndarray], np.ndarray]  # [draws, n] -> [draws]: a dataset's score per resample row


@dataclass(frozen=True)
class ConfidenceInterval:
    estimate: float  # the score on the original items
    low: float  # 2.5th percentile of the bootstrap scores
    high: float  # 97.5th percentile


@dataclass(frozen=True)
class StratifiedBootstrap:
    per_dataset: Mapping[str, ConfidenceInterval]
    mean: ConfidenceInterval  # the unweighted mean over datasets
    n_draws: int
    seed: int


def _row_means(samples: np.ndarray) -> np.ndarray:
    return samples.mean(axis=1)


def stratified_bootstrap(
    values_by_dataset: Mapping[str, Sequence[float] | np.ndarray],
    *,
    n_draws: int = DEFAULT_DRAWS,
    seed: int = DEFAULT_SEED,
    statistic: Statistic | None = None,
    percentiles: tuple[float, float] = (2.5, 97.5),
) -> StratifiedBootstrap:
    """Per-dataset and mean-over-datasets bootstrap intervals of per-item values.

    ``values_by_dataset`` maps a dataset id to its per-item values (e.g. per-mask IoU). A dataset's score is the
    mean of its items, or ``statistic(samples)`` where ``samples`` is a ``[draws, n]`` array of resampled values and
    the result one score per row (``statistic`` is also applied to the original values, as a single row, for the
    estimate). Raises ``ValueError`` on no datasets, an empty or non-finite dataset, or ``n_draws`` < 1.
    """
    if not values_by_dataset:
        raise ValueError("values_by_dataset: no datasets")
    if n_draws < 1:
        raise ValueError(f"n_draws: must be >= 1, got {n_draws}")
    stat = statistic or _row_means
    rng = np.random.default_rng(seed)
    names = list(values_by_dataset)
    scores = np.empty((n_draws, len(names)))  # [draws, datasets]
    estimates = np.empty(len(names))
    for j, name in enumerate(names):
        values = np.asarray(values_by_dataset[name], dtype=np.float64).reshape(-1)  # [n]
        n = values.size
        if n == 0:
            raise ValueError(f"values_by_dataset[{name!r}]: no items")
        if not np.isfinite(values).all():
            raise ValueError(f"values_by_dataset[{name!r}]: non-finite values")
        estimates[j] = float(np.asarray(stat(values[None, :])).reshape(-1)[0])
        rows = max(1, _CHUNK_ELEMENTS // n)
        for start in range(0, n_draws, rows):
            stop = min(start + rows, n_draws)
            idx = np.minimum((rng.random((stop - start, n)) * n).astype(np.int64), n - 1)  # [rows, n]
            scores[start:stop, j] = stat(values[idx])
    low_q, high_q = percentiles
    per_dataset = {
        name: ConfidenceInterval(
            float(estimates[j]),
            float(np.percentile(scores[:, j], low_q)),
            float(np.percentile(scores[:, j], high_q)),
        )
        for j, name in enumerate(names)
    }
    means = scores.mean(axis=1)  # [draws]
    mean = ConfidenceInterval(
        float(estimates.mean()), float(np.percentile(means, low_q)), float(np.percentile(means, high_q))
    )
    return StratifiedBootstrap(MappingProxyType(per_dataset), mean, n_draws, seed)
