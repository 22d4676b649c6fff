"""Fixtures of the CLI tests: the example certificate store and started ``ouc serve``
subprocesses (handed out as the ``serve`` fixture: importlib mode, tests cannot import from
conftest). Every read of a subprocess's output is bounded; subprocesses are always killed at
the end.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import queue
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ouc.certs import CertStore, PrivateKey
from ouc.drivers import example_store

WAIT = 20.0
NOW = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)


@pytest.fixture
def store(tmp_path: Path, ca_keys: tuple[PrivateKey, PrivateKey]) -> CertStore:
    return example_store(tmp_path / "store", now=NOW, default_ca_keys=ca_keys)


class Lines:
    """Reads a subprocess's stdout lines in a thread, so every read can have a timeout."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self._proc = proc
        self._queue: queue.Queue[str | None] = queue.Queue()
        assert proc.stdout is not None
        stream = proc.stdout

        def pump() -> None:
            for line in stream:
                self._queue.put(line)
            self._queue.put(None)

        self._thread = threading.Thread(target=pump, daemon=True)
        self._thread.start()

    def next(self) -> str:
        line = self._queue.get(timeout=WAIT)
        assert line is not None, f"the process ended: {self._ended()}"
        return line

    def _ended(self) -> str:
        """How the process ended: its exit status and its stderr (what is there, read without
        blocking: a worker it started may still hold the pipe)."""
        try:
            status: int | None = self._proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            status = None
        err = b""
        if self._proc.stderr is not None:
            fd = self._proc.stderr.fileno()
            os.set_blocking(fd, False)
            with contextlib.suppress(BlockingIOError):
                err = os.read(fd, 65536)
        return f"exit status {status}, stderr {err.decode(errors='replace')!r}"

    def rest(self) -> list[str]:
        self._thread.join(WAIT)
        lines = []
        while not self._queue.empty():
            line = self._queue.get_nowait()
            if line is not None:
                lines.append(line)
        return lines


class Serve:
    """Starts ``ouc serve --store STORE --port 0 ...`` subprocesses with ``--json`` output."""

    def __init__(self, store: CertStore) -> None:
        self.store = store
        self.procs: list[subprocess.Popen[str]] = []

    def popen(self, *args: str, first: str = "") -> tuple[subprocess.Popen[str], Lines]:
        """``first``: Python run in the process before the command (to stand in for a kernel
        that refuses something, say)."""
        start = ["-m", "ouc"]
        if first:
            start = ["-c", f"{first}\nimport sys\nfrom ouc.cli import main\nsys.exit(main())"]
        proc = subprocess.Popen(
            [sys.executable, *start, "serve", "--store", str(self.store.path), *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,  # its workers too can be killed as a group
        )
        self.procs.append(proc)
        return proc, Lines(proc)

    def start(self, *args: str) -> tuple[subprocess.Popen[str], Lines, int]:
        """Start one; returns it, its line reader and the port of its first (listening) line."""
        proc, lines = self.popen("--port", "0", *args)
        listening = json.loads(lines.next())
        assert listening["event"] == "listening"
        return proc, lines, int(listening["local"].rsplit(":", 1)[1])

    def close(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # the process and any worker left
            proc.wait(WAIT)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()


@pytest.fixture
def serve(store: CertStore) -> Iterator[Serve]:
    """Started ``ouc serve`` processes; killed at the end whatever happened."""
    starter = Serve(store)
    yield starter
    starter.close()


def _lines_until(proc: subprocess.Popen[bytes], marker: str, wait: float = WAIT) -> list[str]:
    """stdout lines of ``proc`` (opened in bytes mode) up to the first that holds ``marker``;
    every read is bounded by ``wait`` in all."""
    assert proc.stdout is not None
    fd, buffer, lines = proc.stdout.fileno(), b"", []
    deadline = time.monotonic() + wait
    while (remaining := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([fd], [], [], remaining)
        chunk = os.read(fd, 65536) if ready else b""
        if ready and not chunk:
            break
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        for line in complete:
            lines.append(line.decode())
            if marker in lines[-1]:
                return lines
    raise AssertionError(f"no {marker!r} within {wait:g} s; output: {lines!r}")


@pytest.fixture(scope="session")
def lines_until() -> Any:
    """``lines_until(proc, marker)``: a process's stdout lines up to ``marker`` (bounded)."""
    return _lines_until
