"""Which code produced a result: a content hash of the scoring source, and the git commit where there is one.

:func:`code_version` is ``"src-<16 hex>"``: a sha256 over the relative path and bytes of every ``.py`` file of the
packages that shape a score (:data:`SCORING_PACKAGES`), in path order. It needs no git checkout (a Space or an
installed copy has none) and is equal on two hosts exactly when that code is, so ``python -m evaluation run
--code-version`` can tell whether a row is being re-run with the code that measured it. :func:`git_commit` is the
checkout's ``HEAD`` for humans who want to check the code out (``"<sha>-dirty"`` when tracked files differ from it),
or ``None`` without git. Both land in the result's ``run`` section, which ``comparable`` ignores.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import subprocess
from pathlib import Path

logger = logging.getLogger(__name__)

__all__ = ["CODE_VERSION_PREFIX", "SCORING_PACKAGES", "code_version", "git_commit"]

CODE_VERSION_PREFIX = "src-"
SCORING_PACKAGES: tuple[str, ...] = ("diception_spec", "diception_core", "evaluation")
_ROOT = Path(__file__).resolve().parents[1]


@functools.lru_cache(maxsize=4)
def code_version(root: str | Path = _ROOT) -> str:
    """``"src-"`` + the first 16 hex digits of the sha256 over the scoring packages' ``.py`` files under ``root``."""
    base = Path(root)
    digest = hashlib.sha256()
    files = sorted(p for package in SCORING_PACKAGES for p in (base / package).rglob("*.py")
                   if "__pycache__" not in p.parts)
    if not files:
        raise FileNotFoundError(f"root: no source of {', '.join(SCORING_PACKAGES)} under {base}")
    for path in files:
        digest.update(path.relative_to(base).as_posix().encode("utf-8") + b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return CODE_VERSION_PREFIX + digest.hexdigest()[:16]


@functools.lru_cache(maxsize=4)
def git_commit(root: str | Path = _ROOT) -> str | None:
    """The commit checked out at ``root`` (``"-dirty"`` appended when tracked files changed), or None without git."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10,
                              check=True)
        return done.stdout.strip()

    try:
        sha = git("rev-parse", "HEAD")
        dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError) as exc:
        logger.debug("no git commit for %s: %s", root, exc)
        return None
    return f"{sha}-dirty" if dirty else sha
