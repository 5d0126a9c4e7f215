"""Stratified bootstrap against a plain numpy reference with the same seed semantics."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation import bootstrap as B


def _reference(values_by_dataset: dict[str, np.ndarray], n_draws: int, seed: int, statistic=None):
    """One rng; per dataset in order, indices floor(random((n_draws, n)) * n); mean per row; percentiles."""
    stat = statistic or (lambda samples: samples.mean(axis=1))
    rng = np.random.default_rng(seed)
    scores = []
    for values in values_by_dataset.values():
        values = np.asarray(values, dtype=np.float64)
        n = values.size
        idx = np.minimum(np.floor(rng.random((n_draws, n)) * n).astype(np.int64), n - 1)
        scores.append(stat(values[idx]))
    scores = np.stack(scores, axis=1)  # [draws, datasets]
    per_dataset = {name: tuple(np.percentile(scores[:, j], [2.5, 97.5])) for j, name in enumerate(values_by_dataset)}
    mean = tuple(np.percentile(scores.mean(axis=1), [2.5, 97.5]))
    return per_dataset, mean


def _data(sizes=(30, 7, 120)) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(5)
    return {f"d{i}": rng.random(n) for i, n in enumerate(sizes)}


def test_matches_numpy_reference() -> None:
    data = _data()
    got = B.stratified_bootstrap(data, n_draws=1000, seed=3)
    ref_per, ref_mean = _reference(data, 1000, 3)
    for name, (low, high) in ref_per.items():
        assert got.per_dataset[name].low == pytest.approx(low, rel=1e-12)
        assert got.per_dataset[name].high == pytest.approx(high, rel=1e-12)
        assert got.per_dataset[name].estimate == pytest.approx(data[name].mean())
    assert (got.mean.low, got.mean.high) == pytest.approx(ref_mean, rel=1e-12)
    assert got.mean.estimate == pytest.approx(np.mean([v.mean() for v in data.values()]))
    assert got.n_draws == 1000 and got.seed == 3


def test_chunking_does_not_change_the_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _data()
    whole = B.stratified_bootstrap(data, seed=1)
    monkeypatch.setattr(B, "_CHUNK_ELEMENTS", 50)  # a few rows per chunk
    chunked = B.stratified_bootstrap(data, seed=1)
    assert chunked == whole


def test_custom_statistic_matches_reference() -> None:
    data = _data()

    def median(samples: np.ndarray) -> np.ndarray:
        return np.median(samples, axis=1)

    got = B.stratified_bootstrap(data, n_draws=200, seed=9, statistic=median)
    ref_per, ref_mean = _reference(data, 200, 9, statistic=median)
    assert (got.mean.low, got.mean.high) == pytest.approx(ref_mean, rel=1e-12)
    assert got.per_dataset["d1"].estimate == pytest.approx(np.median(data["d1"]))


def test_hand_checked_degenerate_cases() -> None:
    constant = B.stratified_bootstrap({"a": [0.5] * 10, "b": [1.0] * 3}, n_draws=100)
    assert (constant.per_dataset["a"].low, constant.per_dataset["a"].high) == (0.5, 0.5)
    assert (constant.mean.low, constant.mean.estimate, constant.mean.high) == pytest.approx((0.75, 0.75, 0.75))
    # One item per dataset: every resample is that item.
    single = B.stratified_bootstrap({"a": [0.2], "b": [0.4]}, n_draws=10)
    assert single.mean.low == pytest.approx(0.3) and single.mean.high == pytest.approx(0.3)


def test_deterministic_and_seed_sensitive() -> None:
    data = _data()
    assert B.stratified_bootstrap(data, seed=0) == B.stratified_bootstrap(data, seed=0)
    assert B.stratified_bootstrap(data, seed=0).mean != B.stratified_bootstrap(data, seed=1).mean


def test_interval_contains_estimate_and_shrinks_with_n() -> None:
    rng = np.random.default_rng(0)
    small = B.stratified_bootstrap({"a": rng.random(50)})
    large = B.stratified_bootstrap({"a": rng.random(5000)})
    for result in (small, large):
        assert result.mean.low <= result.mean.estimate <= result.mean.high
    assert (large.mean.high - large.mean.low) < (small.mean.high - small.mean.low)


def test_raises() -> None:
    with pytest.raises(ValueError, match="no datasets"):
        B.stratified_bootstrap({})
    with pytest.raises(ValueError, match="no items"):
        B.stratified_bootstrap({"a": []})
    with pytest.raises(ValueError, match="non-finite"):
        B.stratified_bootstrap({"a": [0.1, float("nan")]})
    with pytest.raises(ValueError, match="n_draws"):
        B.stratified_bootstrap({"a": [0.1]}, n_draws=0)
