"""The suite's tests spawn server processes that import ``benchmarks`` from the clone."""

import pytest


@pytest.fixture(autouse=True)
def _benchmarks_importable(benchmarks_on_path: None) -> None:
    """Every test here: the clone's root on sys.path (see tests/conftest.py)."""
