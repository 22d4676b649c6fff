"""A running ``ouc serve`` as another process: TCP keep-alive seen from outside (``ss -o``), and
certificates renewed by a second process (``ouc certs renew 9``) served to the next connections
of a Python ``ssl`` client, live from firmware V3.1 and after SIGHUP (the download) below.

The serve process prints its listening port first (``--json``); every wait is bounded and the
process is always killed at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509

from ouc.certs import CertStore
from ouc.cli import main
from ouc.cli._printer import Printer
from ouc.cli._serving import watch_certificates
from ouc.cli._vocabulary import problems as vocabulary_problems
from ouc.drivers import (
    ActiveEndpoint,
    AsyncPassiveEndpoint,
    ExamplePem,
    PassiveEndpoint,
    example_pem,
    standard_example,
)

WAIT = 20.0


class Serve:
    """``ouc serve --json --port 0`` in a subprocess; its stdout lines read with a timeout."""

    def __init__(self, store: CertStore, *args: str) -> None:
        self.proc = subprocess.Popen(
            [
                *(sys.executable, "-m", "ouc", "serve", "--store", str(store.path)),
                *("--port", "0", "--json", "--map", "192.168.0.2=127.0.0.2", *args),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._pumping = threading.Thread(target=self._pump, daemon=True)
        self._pumping.start()
        listening = self.next()
        assert listening["event"] == "listening", listening
        self.port = int(listening["local"].rsplit(":", 1)[1])

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def next(self) -> dict[str, object]:
        line = self._lines.get(timeout=WAIT)
        assert line is not None, "ouc serve ended: " + (
            self.proc.stderr.read() if self.proc.stderr else ""
        )
        doc: dict[str, object] = json.loads(line)
        return doc

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(WAIT)
        # The process is gone: its stdout ends, and the pump thread with it. Closing the
        # stream under the thread instead would fail its read ("I/O operation on closed file").
        self._pumping.join(WAIT)
        assert not self._pumping.is_alive()
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def serve(store: CertStore) -> Iterator[list[Serve]]:
    started: list[Serve] = []
    yield started
    for item in started:
        item.stop()


def _from_partner(port: int) -> socket.socket:
    """A TCP connection to the serve process from 127.0.0.2, the partner's mapped address."""
    return socket.create_connection(
        ("127.0.0.1", port), timeout=WAIT, source_address=("127.0.0.2", 0)
    )


def _ss(port: int, partner: socket.socket) -> str:
    """``ss -o`` on the serve process's side of ``partner``'s connection to ``port`` only: by
    both addresses, since any socket of another process on this host (a test running in
    parallel) may have the same local port number."""
    host, partner_port = partner.getsockname()[:2]
    return subprocess.run(
        [
            *("ss", "-tnoH", "state", "established"),
            f"( src 127.0.0.1:{port} and dst {host}:{partner_port} )",
        ],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=True,
    ).stdout


def _keepalive_timer(port: int, partner: socket.socket) -> list[int]:
    """Seconds left on the keep-alive timer of the serve process's socket of ``partner``'s
    connection to ``port`` (``ss -o``)."""
    out = _ss(port, partner)
    return [int(m.group(1)) for m in re.finditer(r"timer:\(keepalive,(\d+)sec", out)]


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2)")
@pytest.mark.parametrize(("option", "idle"), [((), 30), (("--keepalive", "45,5,2"), 45)])
def test_serve_arms_keepalive_on_accepted_connections(
    store: CertStore, serve: list[Serve], option: tuple[str, ...], idle: int
) -> None:
    server = Serve(store, *option)
    serve.append(server)
    started = time.monotonic()
    with _from_partner(server.port) as partner:
        # The kernel completed the server's side before connect() returned (loopback), and the
        # socket inherited the listener's keep-alive: its timer counts down from IDLE.
        timers = _keepalive_timer(server.port, partner)
    # At most the time since the connect has run off (ss shows whole seconds).
    passed = time.monotonic() - started
    assert len(timers) == 1 and idle - passed - 1 <= timers[0] <= idle, (timers, passed)


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2)")
def test_serve_keepalive_off_shows_no_timer(store: CertStore, serve: list[Serve]) -> None:
    server = Serve(store, "--keepalive", "off")
    serve.append(server)
    with _from_partner(server.port) as partner:
        out = _ss(server.port, partner)
    assert f":{server.port}" in out  # the connection is listed ...
    assert "keepalive" not in out  # ... without a keep-alive timer


@pytest.mark.parametrize("value", ["soon", "30,10,3,1", "0,5", "30,10,500"])
def test_bad_keepalive_is_one_line_naming_the_option(
    store: CertStore, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    for command in ("serve", "connect"):
        status = main([command, "--store", str(store.path), "--keepalive", value])
        err = capsys.readouterr().err
        assert status == 2
        assert err.count("\n") == 1 and "--keepalive" in err and "Traceback" not in err


# ------------------------------------------------------------------- certificates at run time

POLL = 20.0  # at most this long new connections are tried until the renewed certificate shows
# (a bound, not a wait: each poll ends as soon as it shows; a loaded machine needs the margin)
FRAME = bytes(range(256)) + b"ok"  # 258 bytes: the example server's LEN


@pytest.fixture
def pem(store: CertStore, tmp_path: Path) -> ExamplePem:
    return example_pem(store, tmp_path / "pem")


def _client_context(pem: ExamplePem) -> ssl.SSLContext:
    """PLC_2's side in Python: client certificate 11, CA 3 validates the server."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # certificate 9 names 192.168.0.1, the plant address
    ctx.load_verify_locations(pem.ca)
    ctx.load_cert_chain(pem.client_cert, pem.client_key)
    return ctx


def _tls_connection(ctx: ssl.SSLContext, port: int) -> ssl.SSLSocket:
    return ctx.wrap_socket(_from_partner(port))


def _served_serial(ctx: ssl.SSLContext, port: int) -> int:
    with _tls_connection(ctx, port) as conn:
        der = conn.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def _renew_in_another_process(store: CertStore) -> int:
    """``ouc certs renew 9 --store DIR --json`` as its own process; the new serial."""
    done = subprocess.run(
        [sys.executable, "-m", "ouc", "certs", "renew", "9", "--store", str(store.path)],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=True,
    )
    assert "renewed ID 9" in done.stdout
    return CertStore(store.path).certificate(9).serial_number


def _poll_for(ctx: ssl.SSLContext, port: int, serial: int) -> list[int]:
    """Serials shown to new connections until one is ``serial`` (at most POLL s, 20,000 tries)."""
    seen: list[int] = []
    deadline = time.monotonic() + POLL
    for _ in range(20_000):
        seen.append(_served_serial(ctx, port))
        if seen[-1] == serial or time.monotonic() > deadline:
            break
    return seen


def _echoes(conn: ssl.SSLSocket) -> bool:
    conn.sendall(FRAME)
    got = b""
    conn.settimeout(WAIT)
    while len(got) < len(FRAME):
        piece = conn.recv(len(FRAME) - len(got))
        if not piece:
            break
        got += piece
    return got == FRAME


def _events(server: Serve, kind: str) -> Iterator[dict[str, object]]:
    """The serve process's next JSON lines of ``kind`` (others skipped; bounded by WAIT)."""
    while True:
        doc = server.next()
        if doc["event"] == kind:
            yield doc


def test_running_serve_serves_a_certificate_renewed_by_another_process(
    store: CertStore, serve: list[Serve], pem: ExamplePem
) -> None:
    server = Serve(store, "--echo")  # S7-1500 V3.1: live
    serve.append(server)
    ctx = _client_context(pem)
    old = store.certificate(9).serial_number
    with _tls_connection(ctx, server.port) as established:
        assert _echoes(established)
        new = _renew_in_another_process(store)
        assert new != old
        seen = _poll_for(ctx, server.port, new)
        assert seen[-1] == new, f"ouc serve never served the renewed certificate: {seen}"
        # The connection established before keeps the old certificate and still answers.
        der = established.getpeercert(binary_form=True)
        assert der is not None and x509.load_der_x509_certificate(der).serial_number == old
        assert _echoes(established)
    change = next(_events(server, "certificates"))
    assert (change["own_cert_id"], change["mode"]) == (9, "live")
    assert vocabulary_problems(change) == []
    assert (change["previous_serial"], change["serial"]) == (f"{old:X}", f"{new:X}")


def test_below_v31_the_renewed_certificate_waits_for_sighup(
    store: CertStore, serve: list[Serve], pem: ExamplePem
) -> None:
    server = Serve(store, "--firmware", "V3.0")  # auto: download below V3.1
    serve.append(server)
    ctx = _client_context(pem)
    old = store.certificate(9).serial_number
    new = _renew_in_another_process(store)
    until = time.monotonic() + 1.5  # longer than the live mode's one-second look
    seen = [_served_serial(ctx, server.port)]
    for _ in range(20_000):
        if time.monotonic() > until:
            break
        seen.append(_served_serial(ctx, server.port))
    assert set(seen) == {old}
    server.proc.send_signal(signal.SIGHUP)  # the download
    seen = _poll_for(ctx, server.port, new)
    assert seen[-1] == new, seen
    change = next(_events(server, "certificates"))
    assert change["mode"] == "download" and change["serial"] == f"{new:X}"


def _s_client_serial(pem: ExamplePem, port: int) -> int:
    """The serial of the certificate ``openssl s_client`` (mutual TLS, verified) was shown."""
    openssl = shutil.which("openssl")
    assert openssl is not None
    done = subprocess.run(
        [
            *(openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", str(pem.ca)),
            *("-verify_return_error", "-verify_ip", "192.168.0.1"),
            *("-cert", str(pem.client_cert), "-key", str(pem.client_key)),
        ],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=WAIT,
        check=False,
    )
    found = re.search(
        rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", done.stdout, re.S
    )
    assert found is not None, done.stdout.decode(errors="replace")[-400:]
    return x509.load_pem_x509_certificate(found.group(0)).serial_number


@pytest.mark.openssl
@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not on PATH")
def test_s_client_is_shown_the_renewed_certificate(
    store: CertStore, serve: list[Serve], pem: ExamplePem
) -> None:
    server = Serve(store, "--map", "192.168.0.2=127.0.0.1")  # s_client connects from 127.0.0.1
    serve.append(server)
    old = store.certificate(9).serial_number
    assert _s_client_serial(pem, server.port) == old
    new = _renew_in_another_process(store)
    seen: list[int] = []
    deadline = time.monotonic() + POLL
    for _ in range(100):
        seen.append(_s_client_serial(pem, server.port))
        if seen[-1] == new or time.monotonic() > deadline:
            break
    assert seen[-1] == new, seen


def test_ouc_plc_download_loads_the_renewed_certificate_below_v31(
    store: CertStore,
    serve: list[Serve],
    pem: ExamplePem,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    control = str(tmp_path / "plc1.sock")
    server = Serve(store, "--firmware", "V3.0", "--control", control)
    serve.append(server)
    ctx = _client_context(pem)
    old = store.certificate(9).serial_number
    assert main(["plc", "--control", control, "download"]) == 0
    assert "certificates unchanged: nothing to load" in capsys.readouterr().out
    new = _renew_in_another_process(store)
    assert _served_serial(ctx, server.port) == old  # V3.0: not without a download
    assert main(["plc", "--control", control, "download", "--json"]) == 0
    state = json.loads(capsys.readouterr().out)
    assert state["certificates"] == (
        f"certificates reloaded: own certificate 9, serial {old:X} -> {new:X}; new connections "
        "use them"
    )
    assert _served_serial(ctx, server.port) == new  # the very next connection


# --------------------------------------------------------- a reload that fails says so, once

SEVERAL_LOOKS = 2.5  # s of connections: more than two of live mode's one-second looks


def _ouc(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "ouc", *args], capture_output=True, timeout=WAIT, check=True
    )


def _events_so_far(server: Serve, kind: str) -> list[dict[str, object]]:
    """The JSON lines of ``kind`` the serve process printed so far (others dropped)."""
    found = []
    while True:
        try:
            line = server._lines.get_nowait()
        except queue.Empty:
            return found
        if line is not None and json.loads(line)["event"] == kind:
            found.append(json.loads(line))


def _rest_events(server: Serve, kind: str) -> list[dict[str, object]]:
    """Stop the serve process (SIGTERM) and return its remaining JSON lines of ``kind``."""
    server.proc.terminate()
    server.proc.wait(WAIT)
    found = []
    while (line := server._lines.get(timeout=WAIT)) is not None:
        if json.loads(line)["event"] == kind:
            found.append(json.loads(line))
    return found


def _connect_until_failed(
    ctx: ssl.SSLContext, server: Serve
) -> tuple[list[int], list[dict[str, object]]]:
    """Serials shown to new connections until a ``certificates-failed`` line came (at most
    POLL s, 20,000 tries), and those lines."""
    seen: list[int] = []
    failed: list[dict[str, object]] = []
    deadline = time.monotonic() + POLL
    for _ in range(20_000):
        seen.append(_served_serial(ctx, server.port))
        failed += _events_so_far(server, "certificates-failed")
        if failed or time.monotonic() > deadline:
            break
    return seen, failed


def test_running_serve_says_once_that_a_failed_reload_keeps_the_certificate(
    store: CertStore, serve: list[Serve], pem: ExamplePem
) -> None:
    server = Serve(store, "--echo")  # S7-1500 V3.1: live
    serve.append(server)
    ctx = _client_context(pem)
    old = store.certificate(9).serial_number
    _ouc("certs", "delete", "9", "--store", str(store.path))  # as another process would
    seen, failed = _connect_until_failed(ctx, server)
    assert failed, "ouc serve never said that the reload failed"
    # More looks at the store, which changes again; the failure stays the same one.
    _ouc("certs", "renew", "11", "--store", str(store.path))
    until = time.monotonic() + SEVERAL_LOOKS
    for _ in range(20_000):
        seen.append(_served_serial(ctx, server.port))
        if time.monotonic() > until:
            break
    assert set(seen) == {old}  # the endpoint keeps its certificate (domain.md §7)
    failed += _rest_events(server, "certificates-failed")
    assert len(failed) == 1, failed
    doc = failed[0]
    assert (doc["status"], doc["own_cert_id"], doc["serial"]) == ("16#80ED", 9, f"{old:X}")
    assert vocabulary_problems(doc) == []
    assert (doc["mode"], doc["requested"], doc["device"]) == ("live", False, "PLC_1")
    assert "certificate ID 9 is not in the store" in str(doc["reason"])
    assert f"ouc certs list --store {store.path}" in str(doc["hint"])


def test_a_failed_download_after_sighup_is_said_in_the_status_stream(
    store: CertStore, serve: list[Serve], pem: ExamplePem
) -> None:
    server = Serve(store, "--firmware", "V3.0")  # auto: download below V3.1
    serve.append(server)
    ctx = _client_context(pem)
    old = store.certificate(9).serial_number
    _ouc("certs", "assign", "PLC_1", "9", "--remove", "--store", str(store.path))
    server.proc.send_signal(signal.SIGHUP)  # the download, at a connection once it arrived
    seen, failed = _connect_until_failed(ctx, server)
    assert set(seen) == {old}
    failed += _rest_events(server, "certificates-failed")
    assert len(failed) == 1, failed
    doc = failed[0]
    assert (doc["mode"], doc["requested"], doc["own_cert_id"]) == ("download", True, 9)
    assert "TLSServerCertRef" in str(doc["reason"]) and "SIGHUP" in str(doc["hint"])


@pytest.mark.parametrize("driver", ["blocking", "asyncio"])
def test_serve_in_process_prints_the_failed_reload_as_one_line(
    store: CertStore, capsys: pytest.CaptureFixture[str], driver: str
) -> None:
    """The status stream of ``ouc serve`` (its printer, text form) on either driver."""
    setup = standard_example(store, server_options={"cert_reload": "download"})
    watch_certificates(setup.server, Printer(False))
    old = store.certificate(9).serial_number

    def connect() -> int:
        with ActiveEndpoint(setup.client, address_map=setup.address_map) as client:
            der = getattr(client.info, "peer_cert_der", None)
        assert der is not None
        return x509.load_der_x509_certificate(der).serial_number

    CertStore(store.path).delete(9)
    setup.server.request_certificate_reload()  # what SIGHUP does
    if driver == "blocking":
        with PassiveEndpoint(setup.server, address_map=setup.address_map):
            assert connect() == old
    else:

        async def run() -> int:
            async with AsyncPassiveEndpoint(setup.server, address_map=setup.address_map):
                return await asyncio.get_running_loop().run_in_executor(None, connect)

        assert asyncio.run(run()) == old
    lines = [line for line in capsys.readouterr().out.splitlines() if "not reloaded" in line]
    assert lines == [
        f"PLC_1 TRCV_C certificates not reloaded: TLSServerCertRef: certificate ID 9 is not in "
        f"the store (16#80ED); new connections keep own certificate 9, serial {old:X}; fix the "
        f"store (ouc certs list --store {store.path}): then download again (SIGHUP, or ouc plc "
        "download); or restart with a block whose IDs are there"
    ]
