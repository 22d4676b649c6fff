"""Fixtures of the load tests: the example store with fresh certificates, and ``ouc serve``
started as a subprocess (handed out as a fixture: importlib mode, tests cannot import from
conftest). Every wait is bounded; the subprocess is always ended at the end.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ouc.certs import CertStore, PrivateKey
from ouc.drivers import example_store

NOW = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)


@pytest.fixture
def store(tmp_path: Path, ca_keys: tuple[PrivateKey, PrivateKey]) -> CertStore:
    return example_store(tmp_path / "ouc-store", now=NOW, default_ca_keys=ca_keys)


@contextlib.contextmanager
def _ouc_serve(store: Path, *args: str) -> Iterator[str]:
    """``ouc serve --store STORE --port 0 ARGS`` (PLC_2 mapped to 127.0.0.1); its HOST:PORT,
    read from its first line.

    A thread drains its output (a line per connection and frame) so the pipe never fills up
    and stalls the server.
    """
    proc = subprocess.Popen(
        [sys.executable, "-m", "ouc", "serve", "--store", str(store), "--port", "0",
         "--map", "192.168.0.2=127.0.0.1", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    first: list[str] = []
    ready = threading.Event()

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if not first:
                first.append(line)
                ready.set()
        ready.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        assert ready.wait(60) and first and "listening on" in first[0], first
        yield first[0].split("listening on ", 1)[1].split()[0]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)
        reader.join(20)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture(scope="session")
def ouc_serve() -> Callable[..., contextlib.AbstractContextManager[str]]:
    """``with ouc_serve(store_path, "--echo") as where:`` runs ``ouc serve`` for the block."""
    return _ouc_serve
