"""Suite-wide test settings.

Hypothesis runs without per-example deadlines: this suite runs on 2 noisy cores, and a deadline
would turn scheduler noise into flaky failures. ``HYPOTHESIS_PROFILE=thorough`` runs more examples.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# The comparison suite (benchmarks/) is not installed with the package: it is imported from this
# clone. The clone's root is on sys.path only while importing it and during the tests that spawn
# its server processes (fixture below): left there for every test, it would also expose the
# clone's build metadata (ouc.egg-info) to pytest runs started inside tests.
_REPO = str(Path(__file__).resolve().parents[1])
sys.path.insert(0, _REPO)
try:
    import benchmarks  # noqa: F401
finally:
    sys.path.remove(_REPO)


@pytest.fixture
def benchmarks_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The clone's root on sys.path, so spawned suite processes can import ``benchmarks``."""
    monkeypatch.syspath_prepend(_REPO)


@pytest.fixture(autouse=True, scope="session")
def _ctrl_c_reaches_children() -> Iterator[None]:
    """Children start with Ctrl-C working even when pytest itself ignores it: a shell starts a
    background job (``pytest &``) with SIGINT ignored, children inherit an ignored signal, and
    the tests that press Ctrl-C on an ``ouc`` process would see it do nothing. A handler,
    unlike an ignore, is reset to the default by exec."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


settings.register_profile(
    "default", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=100
)
settings.register_profile(
    "thorough", deadline=None, suppress_health_check=[HealthCheck.too_slow], max_examples=1000
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
