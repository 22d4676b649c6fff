"""Ctrl-C and SIGTERM on the long-running commands, through real subprocesses.

Ctrl-C (SIGINT) ends ``ouc serve`` (either driver, one or several processes), ``ouc connect``
under ``--control`` and ``ouc channel run`` (tests/channel) with exit status 130, as a shell
reports a command stopped by Ctrl-C; SIGTERM is a stop that was asked for (systemd, a script)
and ends them with 0. Each process is signalled only after it printed its ready line; every
wait is bounded.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ouc.certs import CertStore
from ouc.drivers import AddressMap, PassiveEndpoint, echo, standard_example

WAIT = 20.0


@pytest.mark.parametrize("driver", ["asyncio", "blocking"])
@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 0)])
def test_serve_stops_with_130_on_ctrl_c_and_0_on_sigterm(
    serve: Any, driver: str, signum: int, status: int
) -> None:
    proc, lines, _ = serve.start("--json", "--driver", driver)
    proc.send_signal(signum)
    assert proc.wait(WAIT) == status
    rest = [json.loads(line) for line in lines.rest()]  # stdout: JSON lines only
    assert rest[-1]["event"] == "stopped"
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert "PLC_1 TRCV_C stopping" in err and "Traceback" not in err


def test_serve_processes_stop_with_130_on_ctrl_c(serve: Any) -> None:
    proc, lines = serve.popen("--port", "0", "--json", "--processes", "2")
    for _ in range(10):  # the workers' own lines may come first
        doc = json.loads(lines.next())
        if doc["event"] == "workers":
            break
    assert doc["event"] == "workers"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(WAIT) == 130
    assert proc.stderr is not None and "stopping" in proc.stderr.read()


def test_connect_under_control_stops_with_130_on_ctrl_c(
    serve: Any, store: CertStore, tmp_path: Path, lines_until: Any
) -> None:
    _, _, port = serve.start("--json", "--echo", "--map", "192.168.0.2=127.0.0.1")
    argv = ["connect", "--store", str(store.path), "--json", "--to", f"127.0.0.1:{port}"]
    argv += ["--bind", "127.0.0.1", "--control", str(tmp_path / "plc2.sock")]
    connect = subprocess.Popen(
        [sys.executable, "-m", "ouc", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        ready = lines_until(connect, '"control"')
        assert [json.loads(line)["event"] for line in ready][-1] == "control"
        connect.send_signal(signal.SIGINT)
        out, err = connect.communicate(timeout=WAIT)
    finally:
        if connect.poll() is None:
            connect.kill()
            connect.communicate(timeout=WAIT)
    assert connect.returncode == 130, err
    assert json.loads(out.decode().splitlines()[-1])["event"] == "sequences"
    assert "PLC_2 TSEND_C stopping" in err.decode()


def _stderr_until(proc: subprocess.Popen[bytes], marker: bytes, wait: float = WAIT) -> bytes:
    """stderr of ``proc`` up to ``marker``, every read bounded by ``wait`` in all."""
    assert proc.stderr is not None
    fd, seen = proc.stderr.fileno(), b""
    deadline = time.monotonic() + wait
    while marker not in seen:
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(remaining, 0))
        chunk = os.read(fd, 65536) if ready else b""
        assert chunk, f"no {marker!r} within {wait:g} s; stderr: {seen!r}"
        seen += chunk
    return seen


@pytest.mark.parametrize("processes", ["1", "2"])
@pytest.mark.parametrize("as_json", [False, True])
def test_ctrl_c_of_load_keeps_the_rows_measured_so_far(
    store: CertStore, as_json: bool, processes: str
) -> None:
    """Ctrl-C during the second row: the first row is printed (table or JSON), marked as
    interrupted, and ``ouc load`` exits with 130. The signal goes to ``ouc load`` alone (a
    script's kill -INT), so its worker processes too are stopped by it."""
    setup = standard_example(store, receive_len=258)
    with PassiveEndpoint(
        setup.server,
        behaviour=echo(),
        listen=("127.0.0.1", 0),
        address_map=AddressMap.parse(["192.168.0.2=127.0.0.1"]),
    ) as peer:
        argv = ["load", f"127.0.0.1:{peer.port}", "--store", str(store.path), "--seconds", "3"]
        argv += ["--processes", processes, *(["--json"] if as_json else [])]
        load = subprocess.Popen(
            [sys.executable, "-m", "ouc", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        try:
            _stderr_until(load, b"ouc load: handshake-concurrent", wait=60.0)
            load.send_signal(signal.SIGINT)
            out, err = load.communicate(timeout=WAIT)
        finally:
            if load.poll() is None:
                load.kill()
                load.communicate(timeout=WAIT)
    assert load.returncode == 130, err
    assert err.decode().rstrip().endswith("ouc: interrupted")
    if as_json:
        doc = json.loads(out)
        assert doc["interrupted"] is True and doc["ok"] is False
        assert [row["name"] for row in doc["rows"]] == ["handshake"]
        assert doc["rows"][0]["accepted"] > 0
    else:
        text = out.decode()
        assert text.splitlines()[1].split()[0] == "handshake"
        assert "interrupted (Ctrl-C) after 1 row of 3" in text
        assert "handshake-concurrent" not in text
