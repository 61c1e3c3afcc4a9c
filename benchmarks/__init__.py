"""Benchmarks: scripts that print figures against a baseline measured in the same run.

Run them from the repository root as modules, e.g. ``python -m benchmarks.dedup``.
"""
