"""Column contracts shared by the store (which produces frames) and the views (which consume them).

Everything outside ``leaderboard.store`` sees results as pandas DataFrames with exactly these columns; no ORM object
leaves the store. Ids and units follow ``../shared/reference/IDS.md``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

from diception_spec.models import Provenance

if TYPE_CHECKING:
    import pandas as pd

# One row per (model entry, task, benchmark, metric) score.
RESULT_COLUMNS: tuple[str, ...] = (
    "result_id",  # int, primary key of the result row
    "entry_id",  # str, stable id of the leaderboard row (model + variant + provenance + settings), used in links
    "model",  # str, e.g. "DICEPTION", "SAM"
    "variant",  # str, e.g. "ViT-H", "multi-task, 28 steps, CFG 2", or an adapter's name
    "model_type",  # str, "generalist" | "specialist"
    "task",  # str, task id (IDS.md)
    "benchmark",  # str, benchmark id (IDS.md)
    "metric",  # str, metric id (IDS.md)
    "value",  # float
    "unit",  # str, as printed by the source (IDS.md "Metrics and units")
    "higher_is_better",  # bool
    "protocol",  # str, protocol id (IDS.md); rows under different protocols are never ranked together
    "tier",  # str | None, "quick" | "standard" | "full" for measured rows; None for reported rows
    "steps",  # float | None, denoising steps (diffusion models)
    "guidance",  # float | None, CFG scale
    "ci_low",  # float | None, 2.5th percentile of the stratified bootstrap (measured rows)
    "ci_high",  # float | None, 97.5th percentile
    "provenance",  # str, "reported" | "measured" | "self-submitted"
    "source",  # str, citation for reported rows; run description for measured rows
    "note",  # str, caveats
    "run_id",  # int | None, evaluation run behind a measured row
    "hardware",  # str | None, e.g. "NVIDIA H100 80GB HBM3"
    "submission_id",  # int | None
    "trained_on_benchmarks",  # str, comma-separated benchmark ids the model was trained on ("" if none)
    "recorded_at",  # pandas Timestamp, UTC
    "params_millions",  # float | None
    "train_images",  # float | None
    "train_annotations",  # float | None
)

SUBMISSION_COLUMNS: tuple[str, ...] = (
    "submission_id",  # int
    "name",  # str
    "submitter",  # str
    "kind",  # str, "adapter" | "predictions"
    "task",  # str, task id or the new task's name
    "benchmarks",  # str, comma-separated benchmark ids requested
    "status",  # str, "pending" | "running" | "finished" | "failed"
    "failure_reason",  # str | None, shown to the submitter
    "attempts",  # int
    "created_at",  # pandas Timestamp, UTC
    "started_at",  # pandas Timestamp | NaT
    "finished_at",  # pandas Timestamp | NaT
    "estimated_wait_s",  # float | None, for pending submissions
    "hidden",  # bool, hidden by an admin
    "content_hash",  # str, sha256 of the adapter's files (duplicate detection)
)

# One row per (run, task, dataset, item, metric): a run's per-item values (Store.run_samples_frame), in the unit of
# the score they make up; the views of leaderboard.verify take this frame.
SAMPLE_COLUMNS: tuple[str, ...] = (
    "run_id",  # int, the evaluation run
    "task",  # str, task id
    "benchmark",  # str, the dataset scored (a member of an aggregate such as sa23, or a user split)
    "sample_id",  # str, the image
    "mask_id",  # str, the mask ("" for image-level tasks)
    "metric",  # str, metric id
    "value",  # float (NaN where the item has no finite value)
)

PROVENANCES: tuple[str, ...] = tuple(p.value for p in Provenance)
SUBMISSION_STATES: tuple[str, ...] = ("pending", "running", "finished", "failed")


class LeaderboardStore(Protocol):
    """What the app and the tabs use of ``leaderboard.store.Store``: frames to show, one submission or run, and a new
    submission. The app opens one store and hands it to everything that needs it."""

    def results_frame(self, *, include_hidden: bool = False) -> pd.DataFrame: ...

    def models_frame(self) -> pd.DataFrame: ...

    def last_updated(self) -> datetime | None: ...

    def submissions_frame(self, submitter: str | None = None, *, include_hidden: bool = False) -> pd.DataFrame: ...

    def get_submission(self, submission_id: int) -> dict[str, Any]: ...

    def get_run(self, run_id: int) -> dict[str, Any]: ...

    def create_submission(
        self, *, submitter: str, kind: str, name: str, task: str, benchmarks: Sequence[str], content_hash: str,
        **details: Any,
    ) -> int: ...

    # What leaderboard.verify's detail view, comparison and provenance read.
    def run_summaries(self, run_ids: Iterable[int] | None = None) -> dict[int, dict[str, Any]]: ...

    def run_samples_frame(
        self, run_ids: int | Sequence[int], *, task: str | None = None, benchmark: str | None = None
    ) -> pd.DataFrame: ...

    def run_thumbnails(
        self, run_id: int, *, task: str | None = None, benchmark: str | None = None
    ) -> list[dict[str, Any]]: ...
