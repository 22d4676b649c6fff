"""Shared fixtures for the certificate tests.

RSA key generation is slow, so the two RSA 2048 keys of the default CAs are made once per module
and handed to ``CertStore.init(default_ca_keys=...)``; everything else uses EC P-256.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ouc.certs import CertStore, PrivateKey, build_standard_example

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)

# The chain builder (chains.py) is a helper module beside the tests, imported by name.
sys.path.insert(0, str(Path(__file__).parent))

_OpensslVerify = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def now() -> dt.datetime:
    """The emulated clock time every store in these tests is built at."""
    return NOW


@pytest.fixture
def store(tmp_path: Path, ca_keys: tuple[PrivateKey, PrivateKey]) -> CertStore:
    return CertStore.init(tmp_path / "store", now=NOW, default_ca_keys=ca_keys)


@pytest.fixture
def example(store: CertStore) -> CertStore:
    """A store holding the standard example (CA 3, server 9, client 11)."""
    build_standard_example(store, now=NOW)
    return store


def _write_pem(path: Path, *certs: x509.Certificate) -> Path:
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))
    return path


@pytest.fixture
def openssl_verify(tmp_path: Path) -> _OpensslVerify:
    """``openssl verify`` run for real (skips when openssl is not on PATH)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not on PATH")

    def run(
        leaf: x509.Certificate,
        ca: x509.Certificate,
        *,
        at: dt.datetime = NOW,
        purpose: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        ca_file = _write_pem(tmp_path / "ossl-ca.pem", ca)
        leaf_file = _write_pem(tmp_path / "ossl-leaf.pem", leaf)
        cmd = [openssl, "verify", "-attime", str(int(at.timestamp())), "-CAfile", str(ca_file)]
        if purpose:
            cmd += ["-purpose", purpose]
        return subprocess.run(
            [*cmd, str(leaf_file)], capture_output=True, text=True, timeout=30, check=False
        )

    return run
