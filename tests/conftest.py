"""Fixtures shared by the whole suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.common import find_shared_data


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The evaluation data in ../shared/data; tests that need it skip with the reason when absent."""
    found = find_shared_data()
    if found is None:
        pytest.skip("../shared/data is absent (a user's clone has none); CI provides it")
    return found
