"""Text shown to users: no server path, no host name, no traceback."""

from __future__ import annotations

import socket

from diception_spec.errors import Refused, public_text


def test_paths_are_cut_to_their_last_part() -> None:
    assert public_text("the folder /srv/data/ab/abc123 is missing") == "the folder .../abc123 is missing"
    assert public_text("[Errno 28] No space left on device: '/var/tmp/x.npy'") == \
        "[Errno 28] No space left on device: '.../x.npy'"
    assert public_text(r"C:\Users\bob\pred.npy is bad") == ".../pred.npy is bad"


def test_urls_repo_ids_and_ratios_are_kept() -> None:
    for text in ("see https://huggingface.co/alice/lora", "alice/lora@0123abc", "depth 1/2 / normal"):
        assert public_text(text) == text


def test_host_name_and_traceback_are_removed() -> None:
    host = socket.gethostname()
    assert host not in public_text(f"worker on {host} died").split()
    assert public_text("boom\nTraceback (most recent call last):\n  File '/x.py'") == "boom"


def test_long_text_is_cut() -> None:
    assert len(public_text("x" * 5000, limit=100)) == 100


def test_refused_is_a_value_error() -> None:
    assert issubclass(Refused, ValueError)

