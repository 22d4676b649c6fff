"""``ouc plc`` against a running ``ouc serve --control`` (a separate process), with
``openssl s_client`` as the partner: COM_RST (the partner sees the reset, then connects anew),
the CPU's STOP (connections end, the port closes) and RUN (accepting again).
"""

from __future__ import annotations

import json
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ouc.certs import CertStore
from ouc.cli import main
from ouc.drivers import (
    ActiveEndpoint,
    ExamplePem,
    PassiveEndpoint,
    RecordKind,
    RecordLog,
    echo,
    example_pem,
    standard_example,
)
from ouc.errors import Status

WAIT = 15.0
OPENSSL = shutil.which("openssl")


class Output:
    """A process and everything it printed so far (read without blocking past a deadline)."""

    def __init__(self, *args: str, stdin: bool = False) -> None:
        self.proc = subprocess.Popen(
            list(args),
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.seen = b""

    def until(self, marker: bytes, *, count: int = 1, wait: float = WAIT) -> bytes:
        """Read until ``marker`` has appeared ``count`` times in all output (bounded)."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + wait
        while self.seen.count(marker) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no {marker!r} after {wait:g} s; output: {self.seen!r}")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise AssertionError(f"ended before {marker!r}; output: {self.seen!r}")
                self.seen += chunk
        return self.seen

    def ended(self) -> bytes:
        """Wait (bounded) for the process to end; all it printed."""
        out, _ = self.proc.communicate(timeout=WAIT)
        self.seen += out or b""
        return self.seen

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=WAIT)


@pytest.fixture
def processes() -> Iterator[list[Output]]:
    started: list[Output] = []
    yield started
    for proc in started:
        proc.close()


def s_client(pem: ExamplePem, port: int) -> list[str]:
    assert OPENSSL is not None
    return [
        OPENSSL,
        "s_client",
        "-connect",
        f"127.0.0.1:{port}",
        "-CAfile",
        str(pem.ca),
        "-verify_return_error",
        "-verify_ip",
        "192.168.0.1",
        "-cert",
        str(pem.client_cert),
        "-key",
        str(pem.client_key),
        "-quiet",
    ]


def plc(control: Path, *args: str, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["plc", "--control", str(control), "--json", *args]) == 0
    state: dict[str, object] = json.loads(capsys.readouterr().out)
    return state


@pytest.mark.openssl
@pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not on PATH")
def test_com_rst_stop_and_run_on_a_running_serve(
    store: CertStore,
    tmp_path: Path,
    processes: list[Output],
    capsys: pytest.CaptureFixture[str],
) -> None:
    pem = example_pem(store, tmp_path / "pem")
    control = tmp_path / "plc1.sock"
    serve = Output(
        sys.executable,
        *("-m", "ouc", "serve", "--store", str(store.path), "--port", "0"),
        *("--map", "192.168.0.2=127.0.0.1", "--echo", "--json", "--control", str(control)),
    )
    processes.append(serve)
    first_line = serve.until(b"\n").split(b"\n", 1)[0]
    port = int(json.loads(first_line)["local"].rsplit(":", 1)[1])
    client = Output(*s_client(pem, port), stdin=True)
    processes.append(client)
    serve.until(b'"connected"')
    assert control.stat().st_mode & 0o777 == 0o600

    state = plc(control, "status", capsys=capsys)
    assert state["cpu"] == "RUN" and state["cont"] is True
    connected = {"state": "connected", "TSEND_C": "16#7004", "TRCV_C": "16#7006"}
    assert state["connections"] == [connected]  # type: ignore[comparison-overlap]

    # COM_RST: s_client sees the reset (errno 104, ECONNRESET) and ends.
    plc(control, "com_rst", capsys=capsys)
    assert b"104" in client.ended()  # "read:errno=104"
    reset = json.loads(serve.until(b'"16#80C4"').split(b"\n")[-2])
    assert reset["reset"] is True and reset["event"] == "failed"
    again = Output(*s_client(pem, port), stdin=True)  # a new connection is established
    processes.append(again)
    serve.until(b'"connected"', count=2)

    # STOP: the connection ends (close_notify, FIN), the port closes.
    state = plc(control, "stop", capsys=capsys)
    assert state["cpu"] == "STOP"
    again.ended()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=WAIT).close()

    # RUN: accepting again on the same port.
    plc(control, "run", capsys=capsys)
    third = Output(*s_client(pem, port), stdin=True)
    processes.append(third)
    serve.until(b'"connected"', count=3)
    assert len(plc(control, "status", capsys=capsys)["connections"]) == 1  # type: ignore[arg-type]


def test_plc_without_a_running_endpoint_says_how_to_start_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plc", "--control", str(tmp_path / "none.sock"), "status"]) == 2
    err = capsys.readouterr().err
    assert "ouc serve --control PATH" in err and len(err.strip().splitlines()) == 1


def test_plc_refuses_a_value_where_none_belongs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plc", "--control", str(tmp_path / "x.sock"), "com_rst", "1"]) == 2
    assert "com_rst takes no value" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("value", "reason"),
    [("zz", "is not hex bytes such as"), ("0x12 3", "is not hex"), ("01\udcff", "not valid UTF-8")],
)
def test_req_bytes_that_are_not_hex_are_refused_before_the_endpoint_is_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, reason: str
) -> None:
    """One line naming req and saying what hex looks like, not the parser's words."""
    assert main(["plc", "--control", str(tmp_path / "x.sock"), "req", value]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ouc: error: req: ") and reason in err, err
    assert "fromhex" not in err and err.count("\n") == 1


def test_com_rst_stop_and_run_on_a_running_connect(
    store: CertStore,
    tmp_path: Path,
    processes: list[Output],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``ouc connect --control`` stays connected; COM_RST and RUN establish anew (the passive
    partner, in this process, sees each new connection), STOP ends it."""
    setup = standard_example(store)
    log = RecordLog()
    control = tmp_path / "plc2.sock"
    with PassiveEndpoint(
        setup.server, behaviour=echo(), address_map=setup.address_map, on_event=log
    ) as server:
        connect = Output(
            sys.executable,
            *("-m", "ouc", "connect", "--store", str(store.path), "--own-ip", "192.168.0.2"),
            *("--map", "192.168.0.2=127.0.0.2", "--to", f"127.0.0.1:{server.port}"),
            *("--expect-reply", "--json", "--control", str(control)),
        )
        processes.append(connect)
        connect.until(b'"control"')
        log.wait_for(RecordKind.CONNECTED, timeout=WAIT)
        plc(control, "com_rst", capsys=capsys)
        log.wait_for(RecordKind.CONNECTED, timeout=WAIT, count=2)
        # The first connection's end is recorded by its own serving thread, which may come
        # after the new connection's CONNECTED: wait for it rather than read it at once.
        log.wait_for(lambda r: r.kind in (RecordKind.CLOSED, RecordKind.FAILED), timeout=WAIT)
        ended = log.of(RecordKind.CLOSED) + log.of(RecordKind.FAILED)
        assert ended and ended[0].status == Status.PARTNER_CLOSED  # the reset, seen as 80C5
        state = plc(control, "stop", capsys=capsys)
        assert state["cpu"] == "STOP" and state["cont"] is True
        plc(control, "run", capsys=capsys)
        log.wait_for(RecordKind.CONNECTED, timeout=WAIT, count=3)
        state = plc(control, "status", capsys=capsys)
        (conn,) = state["connections"]  # type: ignore[misc]
        assert conn["TSEND_C"] == "16#7004" and state["live"] == 1
        # CONT 1→0 closes in order (7003 → 0003 → 7000), CONT 0→1 establishes again.
        state = plc(control, "cont", "0", capsys=capsys)
        assert state["cont"] is False and state["live"] == 0
        (conn,) = state["connections"]  # type: ignore[misc]
        assert (conn["state"], conn["TSEND_C"]) == ("closed", "16#7000")
        # The table shows the closed connection's blocks but counts no connection.
        assert main(["plc", "--control", str(control), "status"]) == 0
        header, row = capsys.readouterr().out.splitlines()
        assert header.endswith("CONT 0  EN_R 1  connections 0"), header
        assert row.split()[:3] == ["closed", "TSEND_C", "16#7000"]
        plc(control, "cont", "1", capsys=capsys)
        log.wait_for(RecordKind.CONNECTED, timeout=WAIT, count=4)


@pytest.mark.openssl
@pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not on PATH")
@pytest.mark.parametrize("driver", ["blocking", "asyncio"])
def test_req_on_a_running_serve_reaches_a_partner_that_sends_nothing(
    driver: str,
    store: CertStore,
    tmp_path: Path,
    processes: list[Output],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """REQ of the server's TSEND_C goes out at once, on either driver (TIA help "TSEND_C": a
    rising edge at REQ starts the send job), not at the partner's next frame."""
    pem = example_pem(store, tmp_path / "pem")
    control = tmp_path / "plc1.sock"
    serve = Output(
        sys.executable,
        *("-m", "ouc", "serve", "--driver", driver, "--store", str(store.path), "--port", "0"),
        *("--map", "192.168.0.2=127.0.0.1", "--echo", "--json", "--control", str(control)),
    )
    processes.append(serve)
    first_line = serve.until(b"\n").split(b"\n", 1)[0]
    port = int(json.loads(first_line)["local"].rsplit(":", 1)[1])
    client = Output(*s_client(pem, port), stdin=True)
    processes.append(client)
    serve.until(b'"connected"')
    plc(control, "req", b"REQ at once\n".hex(), capsys=capsys)
    # Well before any timer of the connection (the handshake's 10 s) could carry it out.
    client.until(b"REQ at once\n", wait=5.0)


@pytest.mark.parametrize("command", ["serve", "connect"])
def test_a_control_socket_in_use_is_refused_before_the_port_opens(
    store: CertStore,
    serve: object,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    command: str,
) -> None:
    """A second endpoint on a running one's --control fails at once: no ``listening`` and
    ``stopped`` (a partner would have seen a PLC come and go), one line that names the option
    and what to do, and the first endpoint keeps its socket."""
    control = tmp_path / "plc1.sock"
    serve.start("--json", "--control", str(control))  # type: ignore[attr-defined]
    argv = [command, "--store", str(store.path), "--control", str(control), "--json"]
    assert (
        main([*argv, "--port", "0"] if command == "serve" else [*argv, "--to", "127.0.0.1:1"]) == 2
    )
    out, err = capsys.readouterr()
    assert out == "", out
    assert err.startswith(f"ouc: error: --control: {control}: another ouc serve or ouc connect")
    assert "stop it or give another --control" in err and err.count("\n") == 1
    assert plc(control, "status", capsys=capsys)["cpu"] == "RUN"


@pytest.mark.parametrize("driver", ["blocking", "asyncio"])
def test_serve_prints_a_sent_line_for_each_echo_and_each_req(
    driver: str,
    store: CertStore,
    serve: object,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every TSEND_C job of the mock PLC is a ``sent`` line with the fields of ``ouc connect``'s
    (block TSEND_C, 16#0000, peer, local, connection, time, len): the echo of a frame (a send
    job per answer, as TSEND_C does) and a REQ from ``ouc plc``, with its LEN."""
    control = tmp_path / "plc1.sock"
    _, lines, port = serve.start(  # type: ignore[attr-defined]
        *("--json", "--echo", "--driver", driver, "--control", str(control)),
        *("--map", "192.168.0.2=127.0.0.2"),
    )
    setup = standard_example(store)
    client = ActiveEndpoint(
        setup.client, address_map=setup.address_map, connect_to=("127.0.0.1", port)
    )
    with client:
        client.send(bytes(range(256)) + b"hi")
        assert client.receive(timeout=WAIT) == bytes(range(256)) + b"hi"
        plc(control, "req", (b"R" * 300).hex(), "--len", "258", capsys=capsys)
        assert client.receive(timeout=WAIT) == b"R" * 258
    docs = []
    while len([d for d in docs if d["event"] == "sent"]) < 2:
        docs.append(json.loads(lines.next()))
    connected = docs[0]
    frame, echoed, req = [d for d in docs if d["event"] in ("frame", "sent")]
    assert connected["event"] == "connected"
    assert (frame["event"], echoed["event"], req["event"]) == ("frame", "sent", "sent")
    for sent, length in ((echoed, 258), (req, 258)):
        assert set(sent) == {
            "event", "device", "block", "status", "peer", "local", "connection", "time", "len"
        }  # fmt: skip
        assert (sent["block"], sent["status"], sent["len"]) == ("TSEND_C", "16#0000", length)
        assert sent["peer"] == connected["peer"] and sent["connection"] == connected["connection"]
        assert sent["local"] == f"127.0.0.1:{port}"


def test_serve_text_sent_line_names_the_peer_and_len(
    store: CertStore, serve: object, capsys: pytest.CaptureFixture[str]
) -> None:
    proc, lines = serve.popen(  # type: ignore[attr-defined]
        "--port", "0", "--echo", "--count", "1", "--map", "192.168.0.2=127.0.0.2"
    )
    port = int(lines.next().split(" listening on ")[1].split()[0].rsplit(":", 1)[1])
    setup = standard_example(store)
    with ActiveEndpoint(
        setup.client, address_map=setup.address_map, connect_to=("127.0.0.1", port)
    ) as client:
        client.send(bytes(258))
        client.receive(timeout=WAIT)
    assert proc.wait(WAIT) == 0
    served = "".join(lines.rest())
    assert re.search(r"PLC_1 TSEND_C 192\.168\.0\.2:\d+ 16#0000 sent 258 bytes \(LEN 258\)", served)


def test_with_stdout_discarded_serve_builds_no_sent_lines(
    store: CertStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No line is printed, so none is built: the behaviour stays the plain answer (the hot
    path of a mock PLC under load) and REQs go straight to the endpoint."""
    from ouc.cli._printer import Printer
    from ouc.cli._serving import ServeJob
    from ouc.drivers import AddressMap

    job = ServeJob(
        spec=standard_example(store).server,
        layout=None,
        listen=None,
        answer=echo(),
        address_map=AddressMap(),
        max_connections=1,
        count=None,
        as_json=True,
        partner=None,
    )
    with open(os.devnull, "w") as null:
        monkeypatch.setattr(sys, "stdout", null)
        printer = Printer(as_json=True)
        assert job.sent_lines(printer) is None
        assert job.behaviour(printer, lambda: None) is job.answer
        monkeypatch.undo()
    assert job.sent_lines(printer) is not None  # stdout is the test's capture again
