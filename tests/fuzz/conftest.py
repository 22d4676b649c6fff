"""The fuzz targets module, loaded by path (importlib mode: tests cannot import siblings)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

HERE = Path(__file__).parent


def load_targets() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ouc_fuzz_targets", HERE / "targets.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def targets() -> ModuleType:
    """``targets.py``: ``TARGETS`` (name → function), ``seeds()``, ``layout(name)``."""
    return load_targets()


@pytest.fixture(scope="session")
def fuzz_dir() -> Path:
    return HERE
