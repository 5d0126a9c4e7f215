"""The checks behind a leaderboard row's reproduce command: ``python -m evaluation run`` refuses to re-run a row on
anything other than what measured it.

A measured row's command (``leaderboard.verify.reproduce_command``) names the model and its revision, the adapter and
its content hash, every benchmark with its version and data revision, and the code version. Before any model work the
CLI checks them here:

- ``--benchmark-version TASK/ID=VERSION@DATA_REVISION``: the registry's spec must have exactly that version and data
  revision, or the run is refused (a different benchmark definition gives different numbers);
- ``--adapter-sha256 HEX``: the adapter folder's content hash (``diception_spec.adapter_format``) must match, or
  the run is refused; ``--adapter OWNER/NAME@COMMIT`` fetches a Hub adapter at that commit when no such folder exists;
- ``--model-revision REV``: the loaded model's revision must match, or the run is refused;
- ``--code-version src-...``: a different scoring code only warns (most changes leave the numbers alone; the result
  records the code that ran, and ``comparable`` says whether the numbers are the same).

Every refusal is a :class:`~diception_spec.errors.Refused` naming the flag, the expected and the found value.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from diception_spec.adapter_format import folder_content_hash
from diception_spec.benchmarks import get_benchmark
from diception_spec.errors import Refused

logger = logging.getLogger(__name__)

__all__ = [
    "check_adapter_hash",
    "check_benchmark_versions",
    "check_code_version",
    "check_model_revision",
    "parse_benchmark_version",
    "resolve_adapter",
]

_BENCHMARK_VERSION = re.compile(r"(?P<name>[^=\s]+/[^=\s]+)=(?P<version>[^@\s]+)@(?P<revision>\S+)")
_HUB_REF = re.compile(r"(?P<repo>[A-Za-z0-9][\w.\-]*/[\w.\-]+)@(?P<commit>[0-9a-f]{40})")


def parse_benchmark_version(text: str) -> tuple[str, str, str]:
    """``"depth/nyuv2=1@v1"`` -> (``"depth/nyuv2"``, ``"1"``, ``"v1"``); ``Refused`` on any other shape."""
    match = _BENCHMARK_VERSION.fullmatch(text.strip())
    if match is None:
        raise Refused(f"--benchmark-version: expected TASK/ID=VERSION@DATA_REVISION (e.g. depth/nyuv2=1@v1), got "
                      f"{text!r}")
    return match["name"], match["version"], match["revision"]


def check_benchmark_versions(expected: Iterable[str]) -> None:
    """Refuse when a named benchmark's registered version or data revision differs from the expected one."""
    for text in expected:
        name, version, revision = parse_benchmark_version(text)
        spec = get_benchmark(name)
        if (str(spec.version), str(spec.data_revision)) != (version, revision):
            raise Refused(
                f"--benchmark-version: {name} is version {spec.version} with data {spec.data_revision} in this "
                f"code, the row was measured on version {version} with data {revision}; check out the code version "
                "the command names to re-run it"
            )


def resolve_adapter(adapter: str, download_dir: str | Path | None = None) -> Path:
    """``adapter`` as a local folder: itself when it is one, else ``OWNER/NAME@COMMIT`` downloaded from the Hub at
    that commit (into ``download_dir`` or the Hub cache). ``Refused`` for anything else."""
    folder = Path(adapter)
    if folder.is_dir():
        return folder
    match = _HUB_REF.fullmatch(adapter)
    if match is None:
        raise Refused(f"--adapter: {adapter!r} is neither a folder nor a Hub repo pinned to a commit "
                      "(OWNER/NAME@<40-hex commit>)")
    from huggingface_hub import snapshot_download

    local = None if download_dir is None else str(Path(download_dir) / match["repo"].replace("/", "--"))
    return Path(snapshot_download(repo_id=match["repo"], revision=match["commit"], local_dir=local))


def check_adapter_hash(folder: str | Path, expected: str | None) -> str:
    """The folder's adapter content hash; ``Refused`` when ``expected`` is given and differs."""
    found = folder_content_hash(folder)
    if expected is not None and found != expected.strip().lower():
        raise Refused(f"--adapter-sha256: the adapter at {folder} has content hash {found}, the row was measured "
                      f"with {expected}; these are different weights")
    return found


def check_model_revision(description: dict[str, Any], expected: str | None) -> None:
    """Refuse when ``expected`` is given and the predictor's ``describe()['model']['revision']`` differs."""
    if expected is None:
        return
    found = str(description.get("model", {}).get("revision", ""))
    if found != expected:
        raise Refused(f"--model-revision: the model loaded has revision {found or 'unknown'!r}, the row was measured "
                      f"with {expected!r}; pass the model the row names (--model-id)")


def check_code_version(expected: str | None) -> bool:
    """True when ``expected`` is None or this code's version; else logs a warning and returns False."""
    if expected is None:
        return True
    from evaluation.code_version import code_version

    found = code_version()
    if found == expected:
        return True
    logger.warning("--code-version: this code is %s, the row was measured with %s; the scores may differ (the result "
                   "records both, and results.comparable tells whether they do)", found, expected)
    return False
