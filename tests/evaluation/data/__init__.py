"""Tests for evaluation.data: prepared format, converters, real fixtures."""
