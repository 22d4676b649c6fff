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
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ouc.certs import CertStore

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
