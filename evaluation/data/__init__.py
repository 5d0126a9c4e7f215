"""Benchmark data: native formats -> one prepared on-disk format per task family -> samples as arrays.

- ``format``: the folder layout and ``manifest.json`` schema, atomic writers, checksums, subsampling.
- ``converters``: one registered converter per native format (``CONVERTERS``).
- ``prepare``: ``prepare.prepare(fmt, source, dest, ...)``; ``run_prepare(name, source, dest, ...)`` by benchmark.
- ``readers``: ``PreparedDataset`` yields samples back, verifying checksums as it reads.
"""

from evaluation.data.converters import CONVERTERS, get_converter
from evaluation.data.format import FORMAT_VERSION, Manifest
from evaluation.data.prepare import RECIPES, find_recipe, run_prepare
from evaluation.data.readers import CorruptSampleError, DepthSample, MaskSample, NormalSample, PreparedDataset

__all__ = [
    "CONVERTERS",
    "FORMAT_VERSION",
    "RECIPES",
    "CorruptSampleError",
    "DepthSample",
    "Manifest",
    "MaskSample",
    "NormalSample",
    "PreparedDataset",
    "find_recipe",
    "get_converter",
    "run_prepare",
]
