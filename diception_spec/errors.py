"""The one exception that means "the input is at fault": :class:`Refused`.

Every parser of user input (points, images, adapter folders and zips, prediction-file zips, Hub sources, JSON files a
user wrote) ends in exactly one of two outcomes: the parsed value, or a ``Refused`` whose message names the input
and the limit and says what to do. A ``Refused`` is never retried (the same input fails the same way) and its
message is safe to show to whoever sent the input: it never holds a server path, a host name or a stack trace.
Every other exception is the host's fault (a bug, a lost GPU, a full disk): retried where that makes sense, logged in
full for operators, and shown to users only as a generic "the server failed" line.

It subclasses ``ValueError`` so that callers written against ``ValueError`` keep working.

:func:`public_text` is the guard for any other text shown to users (a failure reason built from a library's message):
no absolute path, no host name, no traceback.
"""

from __future__ import annotations

import re
import socket


class Refused(ValueError):
    """The input breaks a documented rule; the message says which input, which rule and what to do."""


_ABSOLUTE_PATH = re.compile(
    r"(?<![\w.:/\\-])(?:~?/(?:[^\s/'\"`,;:()<>]+/)*(?P<last>[^\s/'\"`,;:()<>]+)|[A-Za-z]:\\(?:[^\s'\"`,;:()<>]+\\)*"
    r"(?P<winlast>[^\s\\'\"`,;:()<>]+))"
)
_TRACEBACK = "Traceback (most recent call last)"
MAX_PUBLIC_CHARS = 2000


def public_text(text: str, *, limit: int = MAX_PUBLIC_CHARS) -> str:
    """``text`` made fit for whoever sent the input (a submitter, a page visitor): every absolute path is cut to its
    last part (``/srv/data/ab/abc123`` -> ``.../abc123``), this host's name becomes ``the server``, a traceback and
    everything after it is dropped, and the result is at most ``limit`` characters.

    Messages of :class:`Refused` are written this way already; this is the guard for text that passes through from
    elsewhere (a library's message, a failed sample's reason). Operators find the original in the logs.
    """
    text = str(text).split(_TRACEBACK, 1)[0]
    text = _ABSOLUTE_PATH.sub(lambda m: ".../" + (m.group("last") or m.group("winlast") or ""), text)
    host = socket.gethostname()
    if host:
        text = re.sub(rf"\b{re.escape(host)}\b", "the server", text, flags=re.IGNORECASE)
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."
