"""Who produced a score: model kinds (which predictor ran), model types and provenances.

- :class:`ModelKind`: the predictor behind a measured result (``evaluation.predictors``), recorded in the result
  JSON's ``model.kind``; the app's Compare tab uses the same ids for its specialists.
- :class:`ModelType`: generalist (one model, many tasks: DICEPTION) or specialist (SAM, Depth Anything).
- :class:`Provenance`: where a leaderboard number came from. Rows of different provenance are labelled, and
  self-submitted rows are ranked apart from reported and measured ones.
"""

from __future__ import annotations

from enum import Enum


class ModelKind(str, Enum):
    DICEPTION = "diception"
    SAM = "sam"
    DEPTH_ANYTHING = "depth-anything"
    FILES = "files"  # prediction files a submitter computed


class ModelType(str, Enum):
    GENERALIST = "generalist"
    SPECIALIST = "specialist"


class Provenance(str, Enum):
    REPORTED = "reported"  # copied from a paper, with its citation
    MEASURED = "measured"  # scored by our evaluation run, with its hardware
    SELF_SUBMITTED = "self-submitted"  # predictions a submitter computed; scored by us, not reproduced
