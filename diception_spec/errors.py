"""The one exception that means "the input is at fault": :class:`Refused`.

Every parser of user input (points, images, adapter folders and zips, prediction-file zips, Hub sources, JSON files a
user wrote) ends in exactly one of two outcomes: the parsed value, or a ``Refused`` whose message names the input
and the limit and says what to do. A ``Refused`` is never retried (the same input fails the same way) and its
message is safe to show to whoever sent the input: it never holds a server path, a host name or a stack trace.
Every other exception is the host's fault (a bug, a lost GPU, a full disk): retried where that makes sense, logged in
full for operators, and shown to users only as a generic "the server failed" line.

It subclasses ``ValueError`` so that callers written against ``ValueError`` keep working.
"""

from __future__ import annotations


class Refused(ValueError):
    """The input breaks a documented rule; the message says which input, which rule and what to do."""
