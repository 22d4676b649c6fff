"""The PLC program's controls seen from the peer's side: COM_RST, the CPU's STOP and RUN, and
the half-close choice, on both drivers and both roles, with Python's ``ssl`` as the peer.

Sources: TIA help "TSEND_C"/"TRCV_C" and "T_RESET" (domain.md §4): COM_RST aborts an
established connection and establishes it again; STOP ends every OUC connection, RUN brings
them back. What the peer sees on the wire is not documented; ouc's defaults (COM_RST: reset,
STOP: close_notify and FIN, half-close: drop) are inferences, options of the spec.
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ouc.certs import CertStore
from ouc.drivers import (
    ActiveEndpoint,
    AsyncActiveEndpoint,
    AsyncPassiveEndpoint,
    ExamplePem,
    PassiveEndpoint,
    PlcControl,
    RecordKind,
    RecordLog,
    echo,
    example_pem,
    standard_example,
)
from ouc.errors import Status

WAIT = 10.0
FRAME = bytes(range(256)) + b"\x01\x02"  # 258 bytes, the example's LEN
DRIVERS = ["blocking", "asyncio"]


@pytest.fixture
def pem(store: CertStore, tmp_path: Path) -> ExamplePem:
    return example_pem(store, tmp_path / "pem")


class LoopThread:
    """An event loop in a thread of its own, for asyncio endpoints driven from sync tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(WAIT)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT)
        self.loop.close()


@contextmanager
def passive(
    driver: str, store: CertStore, **options: Any
) -> Iterator[tuple[PlcControl, tuple[str, int], RecordLog]]:
    """A passive endpoint (the example's server, echoing) and its controls."""
    setup = standard_example(store, server_options=options)
    log = RecordLog()
    if driver == "blocking":
        server = PassiveEndpoint(
            setup.server, behaviour=echo(), address_map=setup.address_map, on_event=log
        )
        with server:
            yield PlcControl(server), server.address, log
        return
    runner = LoopThread()
    aserver = AsyncPassiveEndpoint(
        setup.server, behaviour=echo(), address_map=setup.address_map, on_event=log
    )
    try:
        runner.run(aserver.start())
        yield PlcControl(aserver), aserver.address, log  # the loop: the endpoint's own
    finally:
        runner.run(aserver.stop())
        runner.close()


def client_context(pem: ExamplePem, version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pem.ca)
    ctx.check_hostname = False  # the certificate names 192.168.0.1, we dial 127.0.0.1
    ctx.load_cert_chain(pem.client_cert, pem.client_key)
    if version is not None:
        ctx.minimum_version = ctx.maximum_version = version
    return ctx


def dial(ctx: ssl.SSLContext, address: tuple[str, int]) -> ssl.SSLSocket:
    """Connect from 127.0.0.2, the plant address 192.168.0.2 the server's block expects."""
    raw = socket.create_connection(address, timeout=WAIT, source_address=("127.0.0.2", 0))
    return ctx.wrap_socket(raw, suppress_ragged_eofs=False)


def wire_end(tls: ssl.SSLSocket) -> str:
    """How the partner ended the TCP connection under ``tls``: "rst" or "fin" (read from the
    socket itself: Python's ssl reports both as an EOF)."""
    ready, _, _ = select.select([tls], [], [], WAIT)
    assert ready, "the partner did not end the connection"
    raw = socket.socket(fileno=os.dup(tls.fileno()))
    try:
        return "fin" if raw.recv(1, socket.MSG_PEEK) == b"" else "data"
    except ConnectionResetError:
        return "rst"
    finally:
        raw.close()


def echo_once(tls: ssl.SSLSocket) -> None:
    tls.sendall(FRAME)
    got = b""
    while len(got) < len(FRAME):
        chunk = tls.recv(4096)
        assert chunk, "the server closed instead of echoing"
        got += chunk
    assert got == FRAME


# ---------------------------------------------------------------------------- passive role


@pytest.mark.parametrize("driver", DRIVERS)
def test_com_rst_on_the_passive_side(driver: str, store: CertStore, pem: ExamplePem) -> None:
    ctx = client_context(pem)
    with passive(driver, store) as (control, address, log):
        with dial(ctx, address) as first:
            echo_once(first)
            log.wait_for(RecordKind.CONNECTED, timeout=WAIT)
            control.do("com_rst")
            assert wire_end(first) == "rst"  # COM_RST aborts: a TCP reset (default, inference)
        reset = log.wait_for(RecordKind.FAILED, timeout=WAIT)
        assert (reset.status, reset.reset) == (Status.TEMPORARY, True)
        assert reset.sequences["TRCV_C"].endswith("0000 → 80C4")
        with dial(ctx, address) as second:  # the partner is awaited again
            echo_once(second)
        assert control.status()["cpu"] == "RUN"


@pytest.mark.parametrize("driver", DRIVERS)
def test_stop_ends_connections_and_closes_the_port_run_reopens(
    driver: str, store: CertStore, pem: ExamplePem
) -> None:
    ctx = client_context(pem)
    with passive(driver, store) as (control, address, log):
        with dial(ctx, address) as tls:
            echo_once(tls)
            log.wait_for(RecordKind.CONNECTED, timeout=WAIT)
            state = control.do("stop")
            assert state["cpu"] == "STOP"
            assert tls.recv(4096) == b""  # close_notify, then FIN (stop="fin", inference)
        with pytest.raises(ConnectionRefusedError):
            dial(ctx, address)
        assert log.of(RecordKind.STOPPED)
        control.do("run")
        with dial(ctx, address) as again:
            echo_once(again)
        assert control.status()["cpu"] == "RUN"
        # A listening TRCV_C waits for its partner: 16#7002 (TIA help's STATUS table, "passive:
        # waiting for the partner"; domain.md §4), at the start and again after RUN; the
        # stopped port shows 16#7000.
        listening = log.of(RecordKind.LISTENING)
        assert [r.status for r in listening] == [Status.IN_PROGRESS] * 2
        assert [r.status for r in log.of(RecordKind.STOPPED)] == [Status.NO_JOB]


class OrderedSlots:
    """A shared connection limit that notes when slots are taken and given, in one list with
    the endpoint's records (the limit itself is not what is tested: it admits every peer)."""

    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    def take(self) -> bool:
        self.seen.append("take")
        return True

    def give(self) -> None:
        self.seen.append("give")


@pytest.mark.parametrize("driver", DRIVERS)
def test_the_slot_is_free_before_the_end_is_recorded(
    driver: str, store: CertStore, pem: ExamplePem
) -> None:
    """Whoever reads a connection's end record (``closed``) may connect again at once, and a
    PLC that reported the end has the resource back: the connection's place in the limit is
    given back before the record, not when the socket is finally closed."""
    setup = standard_example(store)
    seen: list[str] = []
    log = RecordLog()

    def on_event(record: Any) -> None:
        seen.append(record.kind.value)
        log(record)

    options: dict[str, Any] = {
        "behaviour": echo(),
        "address_map": setup.address_map,
        "on_event": on_event,
        "slots": OrderedSlots(seen),
    }
    ctx = client_context(pem)
    runner = LoopThread() if driver == "asyncio" else None
    server: Any = (
        AsyncPassiveEndpoint(setup.server, **options)
        if runner is not None
        else PassiveEndpoint(setup.server, **options)
    )
    try:
        if runner is not None:
            runner.run(server.start())
        else:
            server.start()
        with dial(ctx, server.address) as tls:
            echo_once(tls)
        log.wait_for(RecordKind.CLOSED, timeout=WAIT)
    finally:
        if runner is not None:
            runner.run(server.stop())
            runner.close()
        else:
            server.stop()
    assert "take" in seen and "closed" in seen
    assert seen.index("give") < seen.index("closed"), seen
    assert seen.count("give") == seen.count("take") == 1


# ---------------------------------------------------------------------------- active role


class PeerServer:
    """A Python ``ssl`` server playing PLC_1 (certificate 9, client certificates required)."""

    def __init__(self, pem: ExamplePem) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(pem.server_cert, pem.server_key)
        ctx.load_verify_locations(pem.ca)
        ctx.verify_mode = ssl.CERT_REQUIRED
        self.ctx = ctx
        self.lsock = socket.create_server(("127.0.0.1", 0))
        self.lsock.settimeout(WAIT)
        self.port = self.lsock.getsockname()[1]

    def accept(self, timeout: float = WAIT) -> ssl.SSLSocket:
        self.lsock.settimeout(timeout)
        raw, _ = self.lsock.accept()
        raw.settimeout(WAIT)
        return self.ctx.wrap_socket(raw, server_side=True)

    def close(self) -> None:
        self.lsock.close()


class ActiveUnderTest:
    """An active endpoint of either driver behind one synchronous face."""

    def __init__(self, driver: str, store: CertStore, port: int) -> None:
        setup = standard_example(store)
        self.runner = LoopThread() if driver == "asyncio" else None
        kwargs: dict[str, Any] = {
            "address_map": setup.address_map,
            "connect_to": ("127.0.0.1", port),
            "retry_delay": 0.05,
        }
        if self.runner is None:
            self.endpoint: Any = ActiveEndpoint(setup.client, **kwargs)
            self.control = PlcControl(self.endpoint)
        else:
            self.endpoint = AsyncActiveEndpoint(setup.client, **kwargs)
            self.control = PlcControl(self.endpoint)  # its loop, known once connected

    def call(self, result: Any) -> Any:
        return self.runner.run(result) if self.runner is not None else result

    def sequence(self) -> str:
        return str(self.endpoint.format_sequence("TSEND_C"))

    def close(self) -> None:
        self.call(self.endpoint.close())
        if self.runner is not None:
            self.runner.close()


@pytest.mark.parametrize("driver", DRIVERS)
def test_com_rst_and_stop_run_on_the_active_side(
    driver: str, store: CertStore, pem: ExamplePem
) -> None:
    peer = PeerServer(pem)
    client = ActiveUnderTest(driver, store, peer.port)
    try:
        accepted: list[ssl.SSLSocket] = []
        connecting = threading.Thread(target=lambda: accepted.append(peer.accept()))
        connecting.start()
        client.call(client.endpoint.connect())
        connecting.join(WAIT)
        (first,) = accepted
        # COM_RST: the peer sees the reset, then a new connection arrives.
        connecting = threading.Thread(target=lambda: accepted.append(peer.accept()))
        connecting.start()
        client.control.do("com_rst")
        connecting.join(WAIT)
        assert wire_end(first) == "rst"
        second = accepted[1]
        client.call(client.endpoint.send(FRAME))
        got = b""
        while len(got) < len(FRAME):
            got += second.recv(4096)
        assert got == FRAME
        assert "0001 → 7004 → 80C4 → 7002 → 0001 → 7004" in client.sequence()
        # STOP: the connection ends in order and is not re-established.
        client.control.do("stop")
        assert second.recv(4096) == b""
        with pytest.raises(TimeoutError):
            peer.accept(timeout=0.5)  # bounded: no reconnect while the CPU is in STOP
        # RUN: the active side establishes again, from the initial call.
        connecting = threading.Thread(target=lambda: accepted.append(peer.accept()))
        connecting.start()
        client.control.do("run")
        connecting.join(WAIT)
        assert len(accepted) == 3
        assert client.sequence().endswith("7000 → 7001 → 7002 → 0001 → 7004")
        for conn in accepted:
            conn.close()
    finally:
        client.close()
        peer.close()


# ---------------------------------------------------------------------------- half-close


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
@pytest.mark.parametrize("mode", ["drop", "answer"])
@pytest.mark.parametrize("driver", DRIVERS)
def test_half_close(
    driver: str,
    mode: str,
    version: ssl.TLSVersion,
    store: CertStore,
    pem: ExamplePem,
    raw_tls: Any,
) -> None:
    """``drop`` (default, inference): nothing is sent after the partner's close_notify, even
    when the frame came in the same segment; ``answer``: the frame is echoed, then closed."""
    with passive(driver, store, half_close=mode) as (_, address, log):
        # The frame's record and close_notify in one segment.
        plaintext = raw_tls.send_then_close(client_context(pem, version), address, FRAME)
        closed = log.wait_for(RecordKind.CLOSED, timeout=WAIT)
    assert closed.status == Status.PARTNER_CLOSED
    assert plaintext == (FRAME if mode == "answer" else b"")
    # Dropped: the echo's answer is recorded as lost (16#80A3), not as a behaviour failure.
    lost = [r.status for r in log.of(RecordKind.SEND_FAILED)]
    assert lost == ([] if mode == "answer" else [Status.NO_SUCH_CONNECTION])
    assert not log.of(RecordKind.BEHAVIOUR_FAILED)


def test_en_r_0_holds_frames_until_en_r_1(store: CertStore, pem: ExamplePem) -> None:
    """EN_R = 0: TRCV_C shows 7004 and frames wait; EN_R 0→1 hands them on (asyncio driver,
    where a control takes effect at once)."""
    with passive("asyncio", store) as (control, address, log):
        state = control.do("en_r", 0)
        assert state["en_r"] is False
        with dial(client_context(pem), address) as tls:
            log.wait_for(RecordKind.CONNECTED, timeout=WAIT)
            tls.sendall(FRAME)
            (conn,) = control.status()["connections"]
            assert conn["TRCV_C"] == "16#7004"
            control.do("en_r", 1)
            got = b""
            while len(got) < len(FRAME):
                got += tls.recv(4096)
            assert got == FRAME


def test_every_reconnect_attempt_shows_7002(store: CertStore, pem: ExamplePem) -> None:
    """CONT stays 1 after the partner went away: TSEND_C shows 80A3, then 7002 for each
    attempt, also those refused before a connection exists (TIA help: 7002 while the active
    side tries to connect)."""
    peer = PeerServer(pem)
    log = RecordLog()
    setup = standard_example(store)
    client = ActiveEndpoint(
        setup.client,
        address_map=setup.address_map,
        connect_to=("127.0.0.1", peer.port),
        retry_delay=0.05,
        max_retry_delay=0.05,
        on_event=log,
    )
    try:
        accepted: list[ssl.SSLSocket] = []
        connecting = threading.Thread(target=lambda: accepted.append(peer.accept()))
        connecting.start()
        client.connect()
        connecting.join(WAIT)
        peer.close()  # nobody listens any more: every attempt is refused
        accepted[0].close()
        log.wait_for(RecordKind.RETRYING, timeout=WAIT, count=2)
        attempts = [s for _, name, s in client.status_history() if name == "TSEND_C"]
        assert attempts[attempts.index(0x80A3) :].count(0x7002) >= 2
        assert client.format_sequence("TSEND_C").endswith("7004 → 80A3 → 7002")
    finally:
        client.close()
