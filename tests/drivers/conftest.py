"""Shared by the drivers' socket tests: ``aio_kit`` importable (importlib mode: this folder on
sys.path), and the standard example's store made per test from CA keys made once per module."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pytest

from ouc.certs import CertStore, PrivateKey, generate_key
from ouc.drivers import example_store

sys.path.insert(0, str(Path(__file__).parent))

NOW = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)


@pytest.fixture(scope="module")
def ca_keys() -> tuple[PrivateKey, PrivateKey]:
    """Default CA 1/2 keys (RSA-2048, slow to make): once per module."""
    return generate_key("RSA-2048"), generate_key("RSA-2048")


@pytest.fixture
def store(tmp_path: Path, ca_keys: tuple[PrivateKey, PrivateKey]) -> CertStore:
    """The standard example's store (CA 3, certificates 9 and 11), valid from an hour ago."""
    return example_store(tmp_path / "store", now=NOW, default_ca_keys=ca_keys)
