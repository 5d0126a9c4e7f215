"""Helpers for the leaderboard view tests: result frames built from the seed CSVs, without the store."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from leaderboard.schema import RESULT_COLUMNS

_REPO = Path(__file__).resolve().parents[2]
_CANDIDATES = (_REPO / "leaderboard" / "data", _REPO.parent / "shared" / "reference")


def _seed_file(name: str) -> Path:
    for folder in _CANDIDATES:
        if (folder / name).is_file():
            return folder / name
    pytest.skip(f"{name} not found in {', '.join(str(c) for c in _CANDIDATES)}")


def reported_models() -> pd.DataFrame:
    """``reported_models.csv`` as read (the models frame's columns the views use: model, train_*, params...)."""
    return pd.read_csv(_seed_file("reported_models.csv"))


def reported_results() -> pd.DataFrame:
    """``reported_results.csv`` mapped onto ``RESULT_COLUMNS``: provenance reported, no tier, no interval."""
    raw = pd.read_csv(_seed_file("reported_results.csv"))
    models = reported_models().set_index("model")
    variant = raw["variant"].fillna("")
    out = pd.DataFrame(
        {
            "result_id": range(1, len(raw) + 1),
            "entry_id": raw["model"] + "|" + variant + "|reported|" + raw["steps"].astype(str) + "|"
            + raw["guidance"].astype(str),
            "model": raw["model"],
            "variant": variant,
            "model_type": raw["model_type"],
            "task": raw["task"],
            "benchmark": raw["benchmark"],
            "metric": raw["metric"],
            "value": raw["value"].astype(float),
            "unit": raw["unit"],
            "higher_is_better": raw["higher_is_better"].astype(bool),
            "protocol": raw["protocol"],
            "tier": None,
            "steps": raw["steps"],
            "guidance": raw["guidance"],
            "ci_low": float("nan"),
            "ci_high": float("nan"),
            "provenance": "reported",
            "source": raw["source"],
            "note": raw["note"].fillna(""),
            "run_id": None,
            "hardware": None,
            "submission_id": None,
            "trained_on_benchmarks": "",
            "recorded_at": pd.Timestamp("2026-11-01", tz="UTC"),
            "params_millions": raw["model"].map(models["params_millions"]),
            "train_images": raw["model"].map(models["train_images"]),
            "train_annotations": raw["model"].map(models["train_annotations"]),
        }
    )
    return out[list(RESULT_COLUMNS)]


def measured_row(**overrides) -> dict:
    """One measured result row (defaults: DICEPTION on nyuv2 depth), overridable per column."""
    row = {
        "result_id": 0, "entry_id": "m", "model": "M", "variant": "", "model_type": "generalist", "task": "depth",
        "benchmark": "nyuv2", "metric": "absrel", "value": 0.1, "unit": "fraction", "higher_is_better": False,
        "protocol": "genpercept-affine", "tier": "standard", "steps": 28.0, "guidance": 2.0, "ci_low": 0.09,
        "ci_high": 0.11, "provenance": "measured", "source": "run 1", "note": "", "run_id": 1, "hardware": "cpu",
        "submission_id": None, "trained_on_benchmarks": "", "recorded_at": pd.Timestamp("2026-11-02", tz="UTC"),
        "params_millions": None, "train_images": None, "train_annotations": None,
    }  # fmt: skip
    row.update(overrides)
    return row


def frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(RESULT_COLUMNS))
