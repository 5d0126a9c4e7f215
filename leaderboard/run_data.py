"""What a run keeps besides its scores: per-item metric values and the thumbnails of its worst and best items.

Repository functions (they take the session; the caller owns the transaction), used by ``leaderboard.store``:

- :func:`write_samples`: one ``run_samples`` row per (task, dataset), column-wise JSON (ids, and per metric the
  values in the score's unit), from the result's ``samples[i].metrics``. Results written before those existed have
  none, and the run then has no per-sample rows.
- :func:`write_thumbnails`: one ``run_thumbnails`` row per drawn item (three images). The result's ``thumbnails``
  section was validated against ``diception_spec.results`` (at most ``THUMBNAIL_MAX_BYTES`` per run, sides at most
  ``THUMBNAIL_MAX_SIDE``); here each image is opened (header only) to check it is what it claims and as small as it
  claims, and an image that is not is refused with the item named. Self-submitted runs keep no thumbnails (per-sample
  scores only; the store passes nothing).
- :func:`prune_thumbnails`: thumbnails of runs no board row points to any more (re-measured or re-run) are deleted,
  so the store holds at most one run's budget per shown row; per-sample rows stay with their run.

Lifetime: both tables hang off ``evaluation_runs`` with ``ON DELETE CASCADE`` (a deleted submission takes its runs,
their samples and thumbnails with it), and they are ordinary tables of the same database, so the SQLite snapshot
backup (``leaderboard.backup``) carries them.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from diception_spec.results import THUMBNAIL_MAX_SIDE, THUMBNAIL_ROLES, decode_thumbnail
from leaderboard.orm import Result, RunSamples, RunThumbnail
from leaderboard.schema import SAMPLE_COLUMNS

__all__ = [
    "SAMPLE_COLUMNS",
    "THUMBNAIL_FIELDS",
    "prune_thumbnails",
    "read_samples",
    "read_thumbnails",
    "thumbnail_summary",
    "write_samples",
    "write_thumbnails",
]

# The keys of one thumbnail dict as read_thumbnails returns it (images as bytes under their role).
THUMBNAIL_FIELDS: tuple[str, ...] = (
    "run_id", "task", "benchmark", "sample_id", "mask_id", "metric", "value", "rank", "position", "media_type",
    "width", "height", *THUMBNAIL_ROLES, "note",
)
_PIL_FORMATS = {"image/webp": "WEBP", "image/png": "PNG"}


def _finite_or_none(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def write_samples(session: Session, run_id: int, samples: Iterable[Mapping[str, Any]]) -> int:
    """Store the items' ``metrics`` column-wise per (task, dataset); returns the number of datasets written."""
    grouped: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for sample in samples:
        if isinstance(sample, Mapping) and isinstance(sample.get("metrics"), Mapping) and sample["metrics"]:
            grouped.setdefault((str(sample["task"]), str(sample["benchmark"])), []).append(sample)
    for (task, benchmark), items in grouped.items():
        names = list(dict.fromkeys(m for s in items for m in s["metrics"]))
        session.add(RunSamples(
            run_id=run_id, task=task, benchmark=benchmark, n=len(items),
            sample_ids=[str(s["sample_id"]) for s in items],
            mask_ids=[str(s.get("mask_id") or "") for s in items],
            metrics={m: [_finite_or_none(s["metrics"].get(m)) for s in items] for m in names},
        ))
    return len(grouped)


def _checked_image(data: bytes, media_type: str, width: int, height: int, where: str) -> bytes:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            found, size = image.format, image.size
    except (UnidentifiedImageError, OSError):
        raise ValueError(f"{where}: not a readable image") from None
    if found != _PIL_FORMATS.get(media_type):
        raise ValueError(f"{where}: a {found} image, the thumbnails say {media_type}")
    if max(size) > THUMBNAIL_MAX_SIDE or size != (width, height):
        raise ValueError(f"{where}: {size[0]} x {size[1]} pixels, expected {width} x {height} (at most "
                         f"{THUMBNAIL_MAX_SIDE} a side)")
    return data


def write_thumbnails(session: Session, run_id: int, thumbnails: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """Store a validated result's ``thumbnails`` items; returns what the run's details keep of them (everything but
    the images: counts, bytes, dropped and skipped items), or None when there were none."""
    if not thumbnails:
        return None
    media_type = str(thumbnails["media_type"])
    stored = 0
    for i, item in enumerate(thumbnails.get("items", [])):
        where = f"result['thumbnails']['items'][{i}]"
        images = {
            role: _checked_image(decode_thumbnail(item[role], f"{where}[{role!r}]"), media_type, item["width"],
                                 item["height"], f"{where}[{role!r}]")
            for role in THUMBNAIL_ROLES
        }
        stored += sum(len(b) for b in images.values())
        session.add(RunThumbnail(
            run_id=run_id, task=str(item["task"]), benchmark=str(item["benchmark"]), sample_id=str(item["sample_id"]),
            mask_id=str(item.get("mask_id") or ""), metric=str(item["metric"]), value=float(item["value"]),
            rank=str(item["rank"]), position=int(item["position"]), media_type=media_type, width=int(item["width"]),
            height=int(item["height"]), input_image=images["input"], truth_image=images["truth"],
            prediction_image=images["prediction"], note=str(item.get("note") or ""),
        ))
    return {
        "media_type": media_type, "max_side": thumbnails.get("max_side"), "per_dataset": thumbnails.get("per_dataset"),
        "count": len(thumbnails.get("items", [])), "bytes": stored, "dropped": list(thumbnails.get("dropped", [])),
        "skipped": list(thumbnails.get("skipped", [])),
    }


def prune_thumbnails(session: Session, keep_run_id: int | None = None) -> int:
    """Delete the thumbnails of runs no result row points to (except ``keep_run_id``); returns how many."""
    shown = exists().where(Result.run_id == RunThumbnail.run_id)
    stmt = delete(RunThumbnail).where(~shown)
    if keep_run_id is not None:
        stmt = stmt.where(RunThumbnail.run_id != keep_run_id)
    return int(session.execute(stmt.execution_options(synchronize_session=False)).rowcount or 0)


def read_samples(session: Session, run_ids: Sequence[int], *, task: str | None = None,
                 benchmark: str | None = None) -> pd.DataFrame:
    """The per-item values of ``run_ids`` (optionally one task / dataset) in the long form of ``SAMPLE_COLUMNS``."""
    stmt = select(RunSamples).where(RunSamples.run_id.in_(list(run_ids))).order_by(RunSamples.run_id, RunSamples.id)
    if task is not None:
        stmt = stmt.where(RunSamples.task == task)
    if benchmark is not None:
        stmt = stmt.where(RunSamples.benchmark == benchmark)
    columns: dict[str, list[Any]] = {c: [] for c in SAMPLE_COLUMNS}
    for row in session.scalars(stmt):
        for metric, values in (row.metrics or {}).items():
            columns["run_id"].extend([row.run_id] * row.n)
            columns["task"].extend([row.task] * row.n)
            columns["benchmark"].extend([row.benchmark] * row.n)
            columns["sample_id"].extend(row.sample_ids)
            columns["mask_id"].extend(row.mask_ids)
            columns["metric"].extend([metric] * row.n)
            columns["value"].extend(values)
    frame = pd.DataFrame(columns, columns=list(SAMPLE_COLUMNS))
    frame["run_id"] = frame["run_id"].astype("int64")
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce").astype("float64")
    return frame


def read_thumbnails(session: Session, run_id: int, *, task: str | None = None,
                    benchmark: str | None = None) -> list[dict[str, Any]]:
    """The run's thumbnails (dicts with ``THUMBNAIL_FIELDS``), ordered by task, dataset, rank and position."""
    stmt = select(RunThumbnail).where(RunThumbnail.run_id == run_id)
    if task is not None:
        stmt = stmt.where(RunThumbnail.task == task)
    if benchmark is not None:
        stmt = stmt.where(RunThumbnail.benchmark == benchmark)
    stmt = stmt.order_by(RunThumbnail.task, RunThumbnail.benchmark, RunThumbnail.rank.desc(), RunThumbnail.position)
    out = []
    for t in session.scalars(stmt):
        out.append({
            "run_id": t.run_id, "task": t.task, "benchmark": t.benchmark, "sample_id": t.sample_id,
            "mask_id": t.mask_id, "metric": t.metric, "value": t.value, "rank": t.rank, "position": t.position,
            "media_type": t.media_type, "width": t.width, "height": t.height, "input": bytes(t.input_image),
            "truth": bytes(t.truth_image), "prediction": bytes(t.prediction_image), "note": t.note,
        })
    return out


def thumbnail_summary(session: Session) -> pd.DataFrame:
    """Per run with thumbnails: ``run_id``, ``items`` and ``bytes`` (the three images of every item)."""
    from sqlalchemy import func

    size = (func.length(RunThumbnail.input_image) + func.length(RunThumbnail.truth_image)
            + func.length(RunThumbnail.prediction_image))
    rows = session.execute(
        select(RunThumbnail.run_id, func.count(RunThumbnail.id), func.sum(size)).group_by(RunThumbnail.run_id)
        .order_by(RunThumbnail.run_id)
    ).all()
    frame = pd.DataFrame([list(r) for r in rows], columns=["run_id", "items", "bytes"])
    return frame.astype({"run_id": "int64", "items": "int64", "bytes": "int64"})
