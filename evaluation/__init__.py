"""Scoring DICEPTION, its adapters, SAM and Depth Anything under the papers' protocols.

Import-light on purpose (no torch, no data at import): use the submodules, e.g. ``evaluation.metrics``,
``evaluation.bootstrap``, ``evaluation.benchmarks``, ``evaluation.protocols``, ``evaluation.synthetic``; the command
line is ``python -m evaluation`` (``list``, ``prepare``, ``run``).
"""
