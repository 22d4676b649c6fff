"""samples/locustfile.py under a real, headless Locust against ``ouc serve`` on 127.0.0.1.

Locust and ``ouc serve`` run as subprocesses (Locust patches the interpreter with gevent), every
one bounded in time; the assertions read Locust's own statistics (``--csv``): requests per step
and failures by status. The distributed run is Locust's master with two forked workers
(``--processes 2``), the master bound to 127.0.0.1 on a free port.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import datetime as dt
import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import pytest

from ouc.drivers import example_store
from ouc.params import STANDARD_CLIENT, dump_json

NOW = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
REPO = Path(__file__).resolve().parents[2]
LOCUSTFILE = REPO / "samples" / "locustfile.py"
pytestmark = pytest.mark.slow
# On a loaded machine Locust's run-time timer was seen to fire early (50 ms into a 4 s run,
# probably gevent's cached clock lagging behind the imports): ten seconds leave every run
# seconds of load even then.
RUN_TIME = "10s"


@contextlib.contextmanager
def _reserved_port() -> Iterator[int]:
    """A port for Locust's master, held while the run lasts: bound with SO_REUSEADDR, never
    listening, so no other bind to port 0 and no outgoing connection gets the number, while
    the master (ZeroMQ sets SO_REUSEADDR) binds it. A probe closed at once would leave the
    number to a test running in parallel before the master starts."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("locust") / "ouc-store"
    example_store(path, now=NOW)
    return path


@pytest.fixture(scope="module")
def serve(store: Path, ouc_serve: Callable[..., AbstractContextManager[str]]) -> Iterator[str]:
    """``ouc serve --echo`` (the standard server PLC_1)."""
    with ouc_serve(store, "--echo", "--max-connections", "256") as where:
        yield where


def _locust(
    tmp_path: Path, where: str, store: Path, *extra: str, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], dict[str, dict[str, str]], list[dict[str, str]]]:
    """A headless Locust run of the sample; (process, stats by name, failures rows)."""
    prefix = tmp_path / "stats"
    environment = dict(os.environ, OUC_STORE=str(store), OUC_REPLY="1", **(env or {}))
    done = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "-u", "4",
         "-r", "4", "-t", RUN_TIME, "--stop-timeout", "10", "--host", where, "--only-summary",
         "--csv", str(prefix), *extra],
        capture_output=True, text=True, timeout=240, check=False, env=environment,
        cwd=tmp_path,
    )  # fmt: skip
    with open(f"{prefix}_stats.csv", newline="") as f:
        stats = {row["Name"]: row for row in csv.DictReader(f)}
    with open(f"{prefix}_failures.csv", newline="") as f:
        failures = list(csv.DictReader(f))
    return done, stats, failures


def _assert_clean(stats: dict[str, dict[str, str]], failures: list[dict[str, str]]) -> None:
    assert failures == []
    for name in ("handshake", "TSEND_C 258 B", "TRCV_C 258 B"):
        assert int(stats[name]["Request Count"]) >= 1, stats
        assert stats[name]["Failure Count"] == "0"
    assert stats["Aggregated"]["Failure Count"] == "0"
    # every connection made one frame and got its answer
    handshakes = int(stats["handshake"]["Request Count"])
    assert int(stats["TSEND_C 258 B"]["Request Count"]) == handshakes
    assert int(stats["TRCV_C 258 B"]["Request Count"]) == handshakes


def test_headless_locust_counts_handshakes_and_frames_with_0_failures(
    tmp_path: Path, store: Path, serve: str
) -> None:
    done, stats, failures = _locust(tmp_path, serve, store)
    assert done.returncode == 0, (failures, done.stderr[-1500:])
    _assert_clean(stats, failures)


def test_distributed_locust_master_and_two_workers(tmp_path: Path, store: Path, serve: str) -> None:
    with _reserved_port() as number:
        port = str(number)
        done, stats, failures = _locust(
            tmp_path, serve, store, "--processes", "2", "--master-bind-host", "127.0.0.1",
            "--master-host", "127.0.0.1", "--master-bind-port", port, "--master-port", port,
        )  # fmt: skip
    assert done.returncode == 0, (failures, done.stderr[-1500:])
    assert "(index 0)" in done.stderr and "(index 1)" in done.stderr  # two workers reported
    _assert_clean(stats, failures)


def test_a_refused_client_certificate_fails_the_handshake_with_its_status(
    tmp_path: Path, store: Path, serve: str
) -> None:
    """No client certificate (TLSClientCertRef 0): TLS 1.3 completes on the client, the server
    refuses afterwards; Locust must show failed handshakes with 16#80E2, not successes."""
    block = tmp_path / "no_cert.json"
    block.write_text(dump_json(dataclasses.replace(STANDARD_CLIENT, TLSClientCertRef=0)))
    done, stats, failures = _locust(tmp_path, serve, store, env={"OUC_BLOCK": str(block)})
    assert done.returncode == 1  # Locust's exit status when a request failed
    row = stats["handshake"]
    assert int(row["Request Count"]) >= 1 and row["Failure Count"] == row["Request Count"]
    assert "TSEND_C 258 B" not in stats  # nothing the peer refused is reported as sent
    assert failures and all(f["Name"] == "handshake" for f in failures)
    assert all("16#80E2" in f["Error"] for f in failures), failures
