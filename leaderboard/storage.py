"""Where submitted files live, and the rules that leave nothing behind.

Layout under the storage root (``DICEPTION_SUBMISSIONS_DIR``)::

    <root>/<hash[:2]>/<hash>/          one folder per distinct submission (its validated files)
    <root>/<hash[:2]>/.<hash>.lock     held while a request for that content is stored or refused (then removed)
    <root>/.staging/<random>/          an upload or download while it is validated (then removed)

Every path out of here ends with nothing left over: a refused, quota-limited or crashed request removes its staging
folder, its lock and any stored folder it created; deleting a submission removes its stored folder; prefix folders
(``<hash[:2]>``, ``.staging``) are removed once empty. Creating and removing those shared folders can race between
processes, so creation retries when a folder vanishes underneath it.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

STAGING = ".staging"
_RETRIES = 50


def stored_folder(root: str | Path, content_hash: str) -> Path:
    """The folder of the submission with ``content_hash``."""
    return Path(root) / content_hash[:2] / content_hash


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError as exc:  # not empty (another submission, another request), or already gone
        if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOENT, errno.EBUSY):
            raise


def _mkdir(folder: Path) -> None:
    """``folder`` and its parents, robust to a concurrent ``_remove_if_empty`` of a parent."""
    for _ in range(_RETRIES):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            return
        except (FileNotFoundError, FileExistsError):  # a parent (or the folder) was removed while we created it
            continue
    folder.mkdir(parents=True, exist_ok=True)


@contextmanager
def content_lock(root: str | Path, content_hash: str) -> Iterator[None]:
    """Hold the exclusive lock of one content hash; the lock file is removed on release.

    Removing a lock file is safe only if nobody can hold a lock on a file that is no longer at the path: after
    ``flock`` succeeds, the holder checks that the path still names the file it locked, and starts over if a
    releasing holder unlinked it meanwhile.
    """
    prefix = Path(root) / content_hash[:2]
    path = prefix / f".{content_hash}.lock"
    for _ in range(_RETRIES):
        _mkdir(prefix)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:  # the prefix folder was removed between mkdir and open
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(path))
            except FileNotFoundError:
                same = False
            if not same:
                continue
            try:
                yield
            finally:
                os.unlink(path)
                _remove_if_empty(prefix)
            return
        finally:
            os.close(fd)  # releases the flock
    raise RuntimeError(f"could not lock {path} after {_RETRIES} tries")


@contextmanager
def staging(root: str | Path) -> Iterator[Path]:
    """A fresh folder under ``<root>/.staging/``, removed (with ``.staging`` once empty) whatever happens."""
    folder = Path(root) / STAGING / uuid.uuid4().hex
    _mkdir(folder)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        _remove_if_empty(folder.parent)


def remove_stored(root: str | Path | None, storage_path: str | Path | None) -> bool:
    """Remove a submission's stored folder if it lies inside ``root`` (anything else is left alone and logged);
    the ``<hash[:2]>`` folder goes too once empty. True when something was removed."""
    if root is None or not storage_path:
        return False
    base = Path(root).resolve()
    folder = Path(storage_path).resolve()
    if folder.parent.parent != base or not folder.name or folder.name.startswith("."):
        logger.warning("not removing %s: not a stored submission folder under %s", folder, base)
        return False
    if not folder.is_dir():
        return False
    shutil.rmtree(folder)
    _remove_if_empty(folder.parent)
    return True


def leftovers(root: str | Path) -> list[str]:
    """Everything under ``root`` that is not a stored submission's file: locks, staging folders, stray files
    (relative paths, sorted). Used by tests and available to operators."""
    base = Path(root)
    if not base.is_dir():
        return []
    out = []
    for path in sorted(base.rglob("*")):
        rel = path.relative_to(base)
        parts = rel.parts
        prefix = len(parts) == 1 and len(parts[0]) == 2 and path.is_dir() and any(path.iterdir())
        stored = len(parts) >= 2 and len(parts[0]) == 2 and parts[1].startswith(parts[0]) and not \
            parts[1].startswith(".")
        if not (prefix or stored):
            out.append(rel.as_posix())
    return out
