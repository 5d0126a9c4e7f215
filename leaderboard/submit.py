"""The adapter submission flow: fetch (a Hub repo pinned to a commit, or an upload), validate, keep the files, queue.

Nothing is stored before validation passes; the store then refuses duplicates (same content hash) and over-quota
submitters. Files live under ``SubmitConfig.storage_root/<hash[:2]>/<hash>/``, one folder per distinct adapter.
Uploads and downloads are staged under ``storage_root/.staging/<random>/`` and removed whatever happens.

Prediction-file submissions (``kind="predictions"``, models we cannot run) take the same path with
``submit_predictions``: a .zip (or a folder) in the layout of ``leaderboard.prediction_files`` is validated, stored the
same way and queued; the worker scores the stored folder with ``FilesPredictor`` and its results are badged
self-submitted.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from diception_spec.errors import Refused, public_text
from leaderboard import storage
from leaderboard.orm import SubmissionKind
from leaderboard.prediction_files import (
    MAX_PREDICTION_BYTES,
    MAX_PREDICTION_FILES,
    PredictionsRefused,
    ValidatedPredictions,
    check_benchmarks,
    validate_predictions_upload,
)
from leaderboard.settings import DEFAULT_SUBMISSIONS_DIR, load_settings
from leaderboard.validation import (
    ADAPTER_FILES,
    MAX_TOTAL_BYTES,
    SD3_MEDIUM_TRANSFORMER_CONFIG,
    AdapterRefused,
    ValidatedAdapter,
    validate_adapter_upload,
)

log = logging.getLogger(__name__)

COMMIT = re.compile(r"[0-9a-f]{40}")
REPO_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}/[A-Za-z0-9][A-Za-z0-9_.\-]{0,95}")
MAX_NAME_CHARS = 100
MAX_TEXT_CHARS = 2000
MAX_CARD_CHARS = 50_000  # of the README kept in the store's metadata
DEFAULT_BASE_MODEL_ID = "Canyu/DICEPTION"
KINDS: tuple[str, ...] = tuple(k.value for k in SubmissionKind)


class SubmissionError(Refused):
    """The form or the files cannot be submitted; the message is shown to the submitter as is."""


class SubmissionStore(Protocol):
    """The part of ``leaderboard.store.Store`` the flow uses."""

    def create_submission(self, **kwargs: Any) -> int: ...


Downloader = Callable[..., str]


@dataclass(frozen=True)
class SubmitConfig:
    """Where files go and what adapters must target. ``from_env`` reads:

    - ``DICEPTION_SUBMISSIONS_DIR``: the storage root (default ``./data/submissions``);
    - ``DICEPTION_BASE_MODEL_ID``: the DICEPTION weights adapters must name (default ``Canyu/DICEPTION``);
    - ``DICEPTION_BASE_REVISION``: their revision; unset accepts any revision (set it in production);
    - ``DICEPTION_DEFAULT_TIER``: the scoring tier (default ``standard``);
    - ``HF_TOKEN``: used for Hub downloads.
    """

    storage_root: Path = DEFAULT_SUBMISSIONS_DIR
    base_model_id: str = DEFAULT_BASE_MODEL_ID
    base_revision: str | None = None
    transformer_config: Mapping[str, Any] = field(default_factory=lambda: dict(SD3_MEDIUM_TRANSFORMER_CONFIG))
    max_total_bytes: int = MAX_TOTAL_BYTES
    tier: str = "standard"
    hf_token: str | None = None
    max_prediction_bytes: int = MAX_PREDICTION_BYTES
    max_prediction_files: int = MAX_PREDICTION_FILES

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SubmitConfig:
        env = os.environ if env is None else env
        settings = load_settings(env)  # DICEPTION_DEFAULT_TIER and DICEPTION_SUBMISSIONS_DIR, read in one place
        return cls(
            storage_root=settings.submissions_dir,
            base_model_id=env.get("DICEPTION_BASE_MODEL_ID", "").strip() or DEFAULT_BASE_MODEL_ID,
            base_revision=env.get("DICEPTION_BASE_REVISION", "").strip() or None,
            tier=settings.default_tier,
            hf_token=env.get("HF_TOKEN") or None,
        )


@dataclass(frozen=True)
class SubmissionForm:
    """What the submitter typed. ``kind`` is ``"adapter"`` or ``"predictions"``. An adapter has exactly one source:
    ``hub_repo`` + ``hub_revision``, or ``upload`` (a .zip, a folder, or a folder's files); prediction files are an
    ``upload`` of one .zip (or one folder). ``task`` / ``benchmarks`` left empty are taken from
    ``diception_task.json`` (adapters) or ``predictions.json`` (prediction files)."""

    name: str
    description: str = ""
    licence: str = ""
    training_data: str = ""
    trained_on_benchmarks: tuple[str, ...] = ()
    task: str = ""
    benchmarks: tuple[str, ...] = ()
    hub_repo: str = ""
    hub_revision: str = ""
    upload: tuple[str, ...] = ()
    kind: str = "adapter"


@dataclass(frozen=True)
class SubmissionReceipt:
    submission_id: int
    content_hash: str
    storage_path: Path
    adapter: ValidatedAdapter
    task: str
    benchmarks: tuple[str, ...]


def check_form(form: SubmissionForm) -> None:
    """Fast checks of the form alone (no files, no network); raises ``SubmissionError`` saying what to fix."""
    name = form.name.strip()
    if not name:
        raise SubmissionError("name: give the submission a name")
    if len(name) > MAX_NAME_CHARS:
        raise SubmissionError(f"name: at most {MAX_NAME_CHARS} characters")
    for label, text in (("description", form.description), ("licence", form.licence),
                        ("training data", form.training_data)):  # fmt: skip
        if len(text) > MAX_TEXT_CHARS:
            raise SubmissionError(f"{label}: at most {MAX_TEXT_CHARS} characters")
    if form.kind not in KINDS:
        raise SubmissionError(f"kind: expected one of {', '.join(KINDS)}, got {form.kind!r}")
    hub = bool(form.hub_repo.strip() or form.hub_revision.strip())
    if form.kind == "predictions":
        if hub:
            raise SubmissionError("prediction files are uploaded as a .zip, not fetched from the Hub")
        if len(form.upload) != 1:
            raise SubmissionError("upload one .zip of the prediction files (predictions.json plus the files)")
        return
    if hub and form.upload:
        raise SubmissionError("give either a Hub repo and commit or an upload, not both")
    if not hub and not form.upload:
        raise SubmissionError("give a Hub repo and commit, or upload a .zip or a folder")
    if hub:
        check_hub_reference(form.hub_repo, form.hub_revision)


def check_hub_reference(repo_id: str, revision: str) -> tuple[str, str]:
    """The cleaned (repo id, commit); a branch or tag name is refused: the adapter must be pinned to a commit."""
    repo_id, revision = repo_id.strip(), revision.strip().lower()
    if not REPO_ID.fullmatch(repo_id) or ".." in repo_id:
        raise SubmissionError(f"Hub repo: {repo_id[:100]!r} is not a repo id like 'user/my-adapter'")
    if not COMMIT.fullmatch(revision):
        raise SubmissionError(
            f"commit: {revision[:60]!r} is not a 40-character commit hash; pin the adapter to a commit (a branch or "
            "tag can change after scoring)"
        )
    return repo_id, revision


SizeLister = Callable[..., Mapping[str, int]]  # (repo_id, revision, paths, token) -> {path: bytes}


def hub_file_sizes(repo_id: str, revision: str, paths: list[str], token: str | None) -> dict[str, int]:
    """Sizes (bytes) of the given files of a Hub model repo at a revision, without downloading them."""
    from huggingface_hub import HfApi

    infos = HfApi(token=token).get_paths_info(repo_id, paths, revision=revision, repo_type="model")
    return {info.path: int(getattr(info, "size", 0) or 0) for info in infos}


def fetch_hub_adapter(
    repo_id: str,
    revision: str,
    dest: Path,
    *,
    download: Downloader | None = None,
    sizes: SizeLister | None = None,
    token: str | None = None,
    max_total_bytes: int = MAX_TOTAL_BYTES,
) -> list[Path]:
    """Download only the adapter format's files of ``repo_id`` at the commit ``revision`` into ``dest``; returns the
    downloaded adapter files (regular files only).

    Before downloading, the files' sizes are asked of the Hub (``sizes``; default ``hub_file_sizes`` when the real
    downloader is used) and an adapter over ``max_total_bytes`` is refused without being fetched.
    """
    repo_id, revision = check_hub_reference(repo_id, revision)
    if download is None:
        from huggingface_hub import snapshot_download

        download = snapshot_download
        sizes = hub_file_sizes if sizes is None else sizes
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    if sizes is not None:
        try:
            total = sum(sizes(repo_id, revision, list(ADAPTER_FILES), token).values())
        except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as exc:
            log.warning("listing %s@%s on the Hub failed: %r", repo_id, revision, exc)
            raise SubmissionError(f"could not list {repo_id}@{revision[:12]} on the Hub: {_hub_reason(exc)}") from None
        if total > max_total_bytes:
            limit = f"{max_total_bytes:,}"
            raise AdapterRefused(f"the adapter files total {total:,} bytes on the Hub; the limit is {limit}")
    try:
        folder = Path(
            download(
                repo_id=repo_id, repo_type="model", revision=revision, allow_patterns=list(ADAPTER_FILES),
                local_dir=str(dest), token=token,
            )  # fmt: skip
        )
    except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as exc:
        log.warning("downloading %s@%s from the Hub failed: %r", repo_id, revision, exc)
        why = _hub_reason(exc)
        raise SubmissionError(f"could not download {repo_id}@{revision[:12]} from the Hub: {why}") from None
    files = [folder / name for name in ADAPTER_FILES if (folder / name).is_file() and not (folder / name).is_symlink()]
    if not files:
        raise SubmissionError(f"{repo_id}@{revision[:12]} has none of the adapter files ({', '.join(ADAPTER_FILES)})")
    return files


def _hub_reason(exc: BaseException) -> str:
    """What a submitter may see of a failed Hub call: the Hub's own message, never this server's paths (a local
    file error says only that the server could not store the files)."""
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    if isinstance(exc, HfHubHTTPError | LocalEntryNotFoundError | ValueError):
        return public_text(str(exc).splitlines()[0] if str(exc).strip() else type(exc).__name__, limit=300)
    return "the server could not store the files; try again later"


def _reconcile_form(
    form: SubmissionForm, task: str, benchmarks: tuple[str, ...], source: str
) -> tuple[str, tuple[str, ...]]:
    """The form may restate the task and narrow the benchmarks of the uploaded ``source`` file, never contradict
    or widen them; returns the (task, benchmarks) to queue."""
    if form.task.strip() and form.task.strip() != task:
        raise SubmissionError(f"task: the form says {form.task.strip()!r} but {source} says {task!r}")
    if not form.benchmarks:
        return task, benchmarks
    extra = [b for b in form.benchmarks if b not in benchmarks]
    if extra:
        raise SubmissionError(f"benchmarks: {', '.join(extra)} not in {source}'s benchmarks ({', '.join(benchmarks)})")
    return task, tuple(dict.fromkeys(form.benchmarks))


def _reconcile(form: SubmissionForm, adapter: ValidatedAdapter) -> tuple[str, tuple[str, ...]]:
    return _reconcile_form(form, adapter.task_name, adapter.benchmarks, "diception_task.json")


def submit_adapter(
    store: SubmissionStore,
    form: SubmissionForm,
    *,
    submitter: str,
    config: SubmitConfig,
    download: Downloader | None = None,
    sizes: SizeLister | None = None,
) -> SubmissionReceipt:
    """Validate an adapter submission and queue it.

    Steps: check the form; fetch the files (Hub download pinned to a commit, or the upload) into a staging folder;
    validate them (``leaderboard.validation``); reconcile the form with ``diception_task.json``; move the files to
    their content-addressed folder; ``store.create_submission``. The staging folder is always removed; the stored
    folder is removed again when the store refuses a submission it created.

    Raises:
        SubmissionError: a form problem or a failed download.
        AdapterRefused: the files break the adapter format.
        leaderboard.store.SubmissionRefused: duplicate or over quota (raised by the store).
    """
    check_form(form)
    if form.kind != "adapter":
        raise SubmissionError(f"kind: submit_adapter takes adapters, got {form.kind!r}")
    submitter = _check_submitter(submitter)
    with _staging(config) as staging:
        hub_repo = hub_revision = None
        if form.hub_repo.strip():
            hub_repo, hub_revision = check_hub_reference(form.hub_repo, form.hub_revision)
            sources: Sequence[str | Path] = fetch_hub_adapter(
                hub_repo, hub_revision, staging / "download", download=download, sizes=sizes, token=config.hf_token,
                max_total_bytes=config.max_total_bytes,
            )  # fmt: skip
        else:
            sources = list(form.upload)
        adapter = validate_adapter_upload(
            sources, staging / "adapter",
            base_model_id=config.base_model_id, base_revision=config.base_revision,
            transformer_config=config.transformer_config, max_total_bytes=config.max_total_bytes,
        )  # fmt: skip
        task, benchmarks = _reconcile(form, adapter)
        trained_on = tuple(dict.fromkeys([*adapter.trained_on_benchmarks, *form.trained_on_benchmarks]))
        metadata = adapter.metadata()
        metadata["model_card"] = adapter.model_card[:MAX_CARD_CHARS]
        submission_id, final = _store_and_queue(
            store, config, staging / "adapter", adapter.content_hash,
            submitter=submitter,
            kind="adapter",
            name=form.name.strip(),
            task=task,
            benchmarks=list(benchmarks),
            hub_repo=hub_repo,
            hub_revision=hub_revision,
            description=form.description.strip(),
            licence=form.licence.strip() or adapter.licence,
            training_data=form.training_data.strip() or adapter.training_data,
            trained_on_benchmarks=list(trained_on),
            metadata=metadata,
        )  # fmt: skip
    log.info("submission %d stored at %s (%s)", submission_id, final, adapter.content_hash[:12])
    return SubmissionReceipt(submission_id, adapter.content_hash, final, adapter, task, benchmarks)


# --------------------------------------------------------------------------------------------- shared steps


def _check_submitter(submitter: str) -> str:
    if not submitter.strip():
        raise SubmissionError("submitter: log in (on the Space) or configure a submitter name")
    return submitter.strip()


def _staging(config: SubmitConfig) -> AbstractContextManager[Path]:
    """A fresh folder under ``storage_root/.staging/``, removed whatever happens (``leaderboard.storage``)."""
    return storage.staging(config.storage_root)


def _store_and_queue(
    store: SubmissionStore, config: SubmitConfig, validated: Path, content_hash: str, **fields: Any
) -> tuple[int, Path]:
    """Move the validated folder to ``storage_root/<hash[:2]>/<hash>/`` and ``store.create_submission``;
    (submission id, stored folder). The folder is removed again if the store refuses the submission or fails."""
    final = storage.stored_folder(config.storage_root, content_hash)
    # One request at a time per content hash: otherwise a refused request could delete the folder that an
    # identical, accepted request has just been queued with. The lock file goes when the request is done.
    with storage.content_lock(config.storage_root, content_hash):
        created = False
        if not final.exists():
            os.rename(validated, final)
            created = True
        try:
            submission_id = store.create_submission(
                content_hash=content_hash, storage_path=str(final), tier=config.tier, **fields
            )
        except BaseException:  # refused (duplicate, quota), or the store failed: keep nothing we added
            if created:
                shutil.rmtree(final, ignore_errors=True)
            raise
    return submission_id, final


# --------------------------------------------------------------------------------------------- prediction files


@dataclass(frozen=True)
class PredictionsReceipt:
    submission_id: int
    content_hash: str
    storage_path: Path
    predictions: ValidatedPredictions
    task: str
    benchmarks: tuple[str, ...]


def _reconcile_predictions(form: SubmissionForm, predictions: ValidatedPredictions) -> tuple[str, tuple[str, ...]]:
    if form.benchmarks:
        check_benchmarks(predictions.task, form.benchmarks)
    return _reconcile_form(form, predictions.task, predictions.benchmarks, "predictions.json")


def submit_predictions(
    store: SubmissionStore,
    form: SubmissionForm,
    *,
    submitter: str,
    config: SubmitConfig,
) -> PredictionsReceipt:
    """Validate a prediction-file submission (``form.kind == "predictions"``) and queue it.

    Steps: check the form; extract (or copy) the upload into a staging folder and validate it
    (``leaderboard.prediction_files``); reconcile the form with ``predictions.json``; move the folder to its
    content-addressed place; ``store.create_submission(kind="predictions")``. The stored folder is the worker's
    ``storage_path``; the submission's metadata carries ``predictor_options`` (``depth_kind``, ``depth_scale``,
    ``normal_frame``) for ``FilesPredictor``.

    Raises:
        SubmissionError: a form problem.
        PredictionsRefused: the files break the prediction format (including a non-public benchmark).
        leaderboard.store.SubmissionRefused: duplicate or over quota (raised by the store).
    """
    check_form(form)
    if form.kind != "predictions":
        raise SubmissionError(f"kind: submit_predictions takes prediction files, got {form.kind!r}")
    submitter = _check_submitter(submitter)
    with _staging(config) as staging:
        predictions = validate_predictions_upload(
            list(form.upload), staging / "predictions",
            max_bytes=config.max_prediction_bytes, max_files=config.max_prediction_files,
        )  # fmt: skip
        task, benchmarks = _reconcile_predictions(form, predictions)
        metadata = predictions.metadata()
        metadata["model_card"] = predictions.model_card[:MAX_CARD_CHARS]
        submission_id, final = _store_and_queue(
            store, config, staging / "predictions", predictions.content_hash,
            submitter=submitter,
            kind="predictions",
            name=form.name.strip(),
            task=task,
            benchmarks=list(benchmarks),
            description=form.description.strip(),
            licence=form.licence.strip(),
            training_data=form.training_data.strip(),
            trained_on_benchmarks=list(dict.fromkeys(form.trained_on_benchmarks)),
            metadata=metadata,
        )  # fmt: skip
    log.info("prediction submission %d stored at %s (%s)", submission_id, final, predictions.content_hash[:12])
    return PredictionsReceipt(submission_id, predictions.content_hash, final, predictions, task, benchmarks)


__all__ = [
    "AdapterRefused",
    "PredictionsReceipt",
    "PredictionsRefused",
    "SubmissionError",
    "SubmissionForm",
    "SubmissionReceipt",
    "SubmitConfig",
    "check_form",
    "check_hub_reference",
    "fetch_hub_adapter",
    "hub_file_sizes",
    "submit_adapter",
    "submit_predictions",
]
