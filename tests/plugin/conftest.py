"""The plugin is tested two ways: in pytester runs (as a user's suite sees it) and directly."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # pytest refuses ``pytest_plugins`` outside the rootdir's conftest; load pytester here.
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")


@pytest.fixture
def pytester(pytester: pytest.Pytester) -> pytest.Pytester:
    """The fresh runs get the one setting a suite with pytest-asyncio installed has (without
    it pytest-asyncio warns at start, and ``-W error`` turns that into an error)."""
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    return pytester
