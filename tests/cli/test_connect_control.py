"""``ouc connect --control`` as a running PLC program: TRCV_C with EN_R = 1 receives every frame
the partner sends, not only the replies of the first exchange, and prints it as it comes; each
``ouc plc req`` prints its "sent" line; ``en_r 0`` holds frames (TRCV_C 16#7004) until ``en_r
1`` (TIA help "TRCV_C": with EN_R = 1 the block is ready to receive). The partner is a real
:class:`~ouc.drivers.PassiveEndpoint` in this process; ``ouc connect`` runs as a subprocess.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ouc.certs import CertStore
from ouc.cli import main
from ouc.conn import FrameReceived
from ouc.drivers import PassiveEndpoint, PeerContext, RecordKind, RecordLog, standard_example

WAIT = 20.0


def plc(control: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["plc", "--control", str(control), "--json", *args]) == 0
    state: dict[str, Any] = json.loads(capsys.readouterr().out)
    return state


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=WAIT)


def connect(store: CertStore, port: int, control: Path, *options: str) -> subprocess.Popen[bytes]:
    """``ouc connect --json --control`` from 127.0.0.2 (the example's client PLC) to ``port``."""
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "ouc", "connect", "--store", str(store.path)),
            *("--own-ip", "192.168.0.2", "--map", "192.168.0.2=127.0.0.2"),
            *("--to", f"127.0.0.1:{port}", "--json", "--control", str(control), *options),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


class Echo:
    """Echoes every frame and counts the answers it returned (a waitable count)."""

    def __init__(self) -> None:
        self.count = 0
        self._cond = threading.Condition()

    def __call__(self, frame: FrameReceived, peer: PeerContext) -> bytes:
        with self._cond:
            self.count += 1
            self._cond.notify_all()
        return frame.data

    def wait(self, count: int) -> None:
        with self._cond:
            assert self._cond.wait_for(lambda: self.count >= count, WAIT), self.count


def docs(lines: list[str], event: str) -> list[dict[str, Any]]:
    return [d for d in map(json.loads, lines) if d.get("event") == event]


def test_connect_under_control_receives_every_frame_and_prints_each_req(
    store: CertStore,
    tmp_path: Path,
    started: list[subprocess.Popen[bytes]],
    capsys: pytest.CaptureFixture[str],
    lines_until: Any,
) -> None:
    setup = standard_example(store, receive_len=3)
    control = tmp_path / "plc2.sock"
    behaviour = Echo()
    log = RecordLog()
    server = PassiveEndpoint(
        setup.server, behaviour=behaviour, address_map=setup.address_map, on_event=log
    )
    with server:
        proc = connect(
            store, server.port, control, "--hex", "414243", "--reply-len", "3", "--expect-reply"
        )
        started.append(proc)
        first = lines_until(proc, '"control"')
        assert [d["hex"] for d in docs(first, "frame")] == ["414243"]

        # REQ from the PLC program: sent, echoed, received and printed, each as it happens.
        plc(control, "req", "444546", capsys=capsys)
        lines = lines_until(proc, '"frame"')
        assert docs(lines, "sent")[0]["len"] == 3, lines
        assert docs(lines, "frame")[0]["hex"] == "444546"
        # TRCV_C completed the receive (16#0000 with RCVD_LEN), not 16#7006 for ever.
        assert plc(control, "status", capsys=capsys)["connections"][0]["TRCV_C"] == "16#0000"

        # EN_R 0: the echo waits in TRCV_C (16#7004); EN_R 1 hands it on.
        plc(control, "en_r", "0", capsys=capsys)
        plc(control, "req", "474849", capsys=capsys)
        behaviour.wait(3)
        state = plc(control, "status", capsys=capsys)
        assert state["en_r"] is False
        assert state["connections"][0]["TRCV_C"] == "16#7004"
        held = lines_until(proc, '"sent"')
        assert not docs(held, "frame"), held
        plc(control, "en_r", "1", capsys=capsys)
        assert docs(lines_until(proc, '"frame"'), "frame")[0]["hex"] == "474849"

        # A frame the partner sends just before it closes is printed too, then the close.
        plc(control, "req", "4a4b4c", capsys=capsys)
        behaviour.wait(4)
    # The server has stopped (close_notify, FIN): the echo came before its close.
    rest = lines_until(proc, '"closed"')
    assert [d["hex"] for d in docs(rest, "frame")] == ["4a4b4c"], rest
    # The partner's close is TRCV_C's 16#80C5 (TSEND_C, idle, shows 16#80A3).
    (closed,) = docs(rest, "closed")
    assert (closed["block"], closed["status"]) == ("TRCV_C", "16#80C5"), closed
    assert log.of(RecordKind.CONNECTED)


def test_plc_req_that_cannot_go_out_names_the_plc_command_that_helps(
    store: CertStore,
    tmp_path: Path,
    started: list[subprocess.Popen[bytes]],
    capsys: pytest.CaptureFixture[str],
    lines_until: Any,
) -> None:
    """After STOP and after CONT 1→0 a REQ has no connection (16#80A3); the line says which
    ``ouc plc`` command brings it back, not the Python call."""
    setup = standard_example(store, receive_len=3)
    control = tmp_path / "plc2.sock"
    with PassiveEndpoint(setup.server, address_map=setup.address_map) as server:
        started.append(connect(store, server.port, control, "--hex", "414243"))
        lines_until(started[0], '"control"')
        plc(control, "stop", capsys=capsys)
        for fix in ("run", "cont 1"):
            assert main(["plc", "--control", str(control), "req", "41"]) == 2
            err = capsys.readouterr().err
            assert f"'ouc plc --control {control} {fix}'" in err, err
            assert "()" not in err and "16#80A3" in err and err.count("\n") == 1
            plc(control, "run", capsys=capsys)
            plc(control, "cont", "0", capsys=capsys)


@pytest.fixture
def refusing() -> Iterator[int]:
    """A port where connects are refused: bound, not listening, until the test lets it go."""
    with socket.socket() as reserved:
        reserved.bind(("127.0.0.1", 0))
        yield reserved.getsockname()[1]


def test_under_control_a_failed_first_connect_is_tried_again_until_the_partner_is_up(
    store: CertStore,
    tmp_path: Path,
    started: list[subprocess.Popen[bytes]],
    lines_until: Any,
) -> None:
    """CONT = 1 under the program's control: TSEND_C keeps establishing (TIA help "TSEND_C"),
    so a partner that is not up yet is no error: each attempt is printed, the hints once."""
    setup = standard_example(store, receive_len=3)
    with socket.socket() as reserved:  # connects are refused until the partner listens here
        reserved.bind(("127.0.0.1", 0))
        port = reserved.getsockname()[1]
        proc = connect(store, port, tmp_path / "plc2.sock", "--hex", "414243")
        started.append(proc)
        early = lines_until(proc, '"retrying"') + lines_until(proc, '"retrying"')
    assert len(docs(early, "failed")) >= 2 and len(docs(early, "connecting")) >= 2, early
    assert {d["status"] for d in docs(early, "failed")} == {"16#80C4"}, early
    server = PassiveEndpoint(
        setup.server, listen=("127.0.0.1", port), address_map=setup.address_map
    )
    with server:
        up = lines_until(proc, '"control"')
        assert docs(up, "connected") and docs(up, "sent"), up
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 130, err
    assert err.count(b"keeps trying") == 1 and b"cont 0' stops trying" in err, err


def test_under_control_cont_0_stops_the_attempts(
    store: CertStore,
    tmp_path: Path,
    started: list[subprocess.Popen[bytes]],
    capsys: pytest.CaptureFixture[str],
    lines_until: Any,
    refusing: int,
) -> None:
    control = tmp_path / "plc2.sock"
    started.append(connect(store, refusing, control, "--hex", "414243"))
    lines_until(started[0], '"retrying"')
    plc(control, "cont", "0", capsys=capsys)
    # The attempts end; the program stays under control (not connected, nothing sent).
    rest = lines_until(started[0], '"control"')
    assert not docs(rest, "sent") and not docs(rest, "connected"), rest
    assert plc(control, "status", capsys=capsys)["cont"] is False
    assert started[0].poll() is None


def test_without_control_a_failed_first_connect_is_the_error(
    store: CertStore, refusing: int, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["connect", "--store", str(store.path), "--to", f"127.0.0.1:{refusing}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("ouc: error: cannot connect") and "keeps trying" not in err, err
