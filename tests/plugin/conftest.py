"""The plugin is tested two ways: in pytester runs (as a user's suite sees it) and directly."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # pytest refuses ``pytest_plugins`` outside the rootdir's conftest; load pytester here.
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")
