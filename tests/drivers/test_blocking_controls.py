"""The PLC program's controls act at once on the blocking driver too, whatever its threads are
doing: REQ reaches an idle partner, EN_R 0→1 hands held frames on while the serving thread (or a
``receive()``) is blocked in ``recv``, and a control that cannot be carried out says so.

Sources: TIA help "TSEND_C" (REQ: a rising edge starts the send job) and "TRCV_C" (EN_R: with
EN_R = 1 received data is handed on), domain.md §4. The peer is Python's ``ssl``.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from ouc.certs import CertStore
from ouc.drivers import (
    ActiveEndpoint,
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
from ouc.errors import FramingError, Status, WaitTimeoutError

FRAME = bytes(range(256)) + b"\x01\x02"  # 258 bytes, the example's LEN
DRIVERS = ["blocking", "asyncio"]
SHORT = 5.0  # seconds a control's effect may take before the test fails


@pytest.fixture
def pem(store: CertStore, tmp_path: Path) -> ExamplePem:
    return example_pem(store, tmp_path / "pem")


@contextmanager
def passive(
    driver: str, store: CertStore, log: RecordLog | None = None
) -> Iterator[tuple[PlcControl, tuple[str, int]]]:
    """The example's server (echoing) on either driver, and its controls; records to ``log``."""
    setup = standard_example(store)
    if driver == "blocking":
        with PassiveEndpoint(
            setup.server,
            behaviour=echo(),
            address_map=setup.address_map,
            on_event=log if log is not None else RecordLog(),
        ) as server:
            yield PlcControl(server), server.address
        return
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    aserver = AsyncPassiveEndpoint(
        setup.server, behaviour=echo(), address_map=setup.address_map, on_event=log
    )

    def run(coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(SHORT)

    try:
        run(aserver.start())
        yield PlcControl(aserver, loop), aserver.address
    finally:
        run(aserver.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join(SHORT)
        loop.close()


def client_context(pem: ExamplePem) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(pem.ca)
    ctx.check_hostname = False  # the certificate names 192.168.0.1, we dial 127.0.0.1
    ctx.load_cert_chain(pem.client_cert, pem.client_key)
    return ctx


def dial(ctx: ssl.SSLContext, address: tuple[str, int]) -> ssl.SSLSocket:
    """Connect from 127.0.0.2, the plant address 192.168.0.2 the server's block expects."""
    raw = socket.create_connection(address, timeout=SHORT, source_address=("127.0.0.2", 0))
    return ctx.wrap_socket(raw)


def echo_once(tls: ssl.SSLSocket) -> None:
    tls.sendall(FRAME)
    assert recv_exactly(tls, len(FRAME)) == FRAME


@contextmanager
def active_and_partner(
    store: CertStore, pem: ExamplePem
) -> Iterator[tuple[ActiveEndpoint, ssl.SSLSocket, list[ssl.SSLSocket]]]:
    """A blocking active endpoint (the example's client) connected to a Python ``ssl`` server,
    which accepts every further connection into the list it yields."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pem.server_cert, pem.server_key)
    ctx.load_verify_locations(pem.ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    setup = standard_example(store)
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        lsock.settimeout(SHORT)
        endpoint = ActiveEndpoint(
            setup.client,
            address_map=setup.address_map,
            connect_to=("127.0.0.1", lsock.getsockname()[1]),
        )
        accepted: list[ssl.SSLSocket] = []

        stop = threading.Event()

        def accept() -> None:
            while not stop.is_set():
                try:
                    raw, _ = lsock.accept()
                    raw.settimeout(SHORT)
                    accepted.append(ctx.wrap_socket(raw, server_side=True))
                except OSError:
                    continue  # a timeout, or a handshake the endpoint ended: the next one

        accepting = threading.Thread(target=accept)
        accepting.start()
        try:
            endpoint.connect(timeout=SHORT)
            wait_until(lambda: len(accepted) == 1)
            yield endpoint, accepted[0], accepted
        finally:
            endpoint.close()
            stop.set()
            lsock.close()  # ends a waiting accept()
            accepting.join(SHORT)
            for sock in accepted:
                sock.close()


def wait_until(condition: Callable[[], bool], timeout: float = SHORT) -> None:
    """Wait for ``condition`` (bounded: at most ``timeout`` seconds, checked every 10 ms)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        pause.wait(0.01)


def recv_exactly(tls: ssl.SSLSocket, size: int) -> bytes:
    tls.settimeout(SHORT)
    got = b""
    while len(got) < size:
        chunk = tls.recv(4096)
        assert chunk, "the partner closed instead of sending"
        got += chunk
    return got


@pytest.mark.parametrize("driver", DRIVERS)
def test_req_reaches_a_partner_that_sends_nothing(
    driver: str, store: CertStore, pem: ExamplePem
) -> None:
    with passive(driver, store) as (control, address), dial(client_context(pem), address) as tls:
        echo_once(tls)  # established; the server's thread now waits in recv
        control.do("req", FRAME.hex())
        assert recv_exactly(tls, len(FRAME)) == FRAME
        control.do("req", FRAME.hex(), length=10)  # LEN 10: the first 10 bytes
        assert recv_exactly(tls, 10) == FRAME[:10]


@pytest.mark.parametrize("driver", DRIVERS)
@pytest.mark.parametrize(
    ("length", "status"), [(3, Status.RECEIVE_AREA_TOO_SMALL), (100_000, Status.LEN_INVALID)]
)
def test_req_checks_len_the_same_on_both_drivers(
    driver: str, length: int, status: Status, store: CertStore, pem: ExamplePem
) -> None:
    """LEN beyond DATA is 16#8088, beyond the device's limit 16#8085 (TIA help "TSEND_C");
    nothing is sent and the connection goes on."""
    with passive(driver, store) as (control, address), dial(client_context(pem), address) as tls:
        echo_once(tls)
        with pytest.raises(FramingError) as caught:
            control.do("req", "0102", length=length)
        assert caught.value.status == status
        echo_once(tls)


def test_en_r_1_hands_on_frames_held_while_the_thread_waits(
    store: CertStore, pem: ExamplePem
) -> None:
    with (
        passive("blocking", store) as (control, address),
        dial(client_context(pem), address) as tls,
    ):
        echo_once(tls)
        control.do("en_r", 0)
        tls.sendall(FRAME)
        (peer,) = control.endpoint.peers()
        wait_until(lambda: peer.connection.buffered >= len(FRAME))  # held, not handed on
        control.do("en_r", 1)  # the serving thread is back in recv: nothing else wakes it
        assert recv_exactly(tls, len(FRAME)) == FRAME
        echo_once(tls)


def test_active_en_r_1_from_another_thread_reaches_a_waiting_receive(
    store: CertStore, pem: ExamplePem
) -> None:
    with active_and_partner(store, pem) as (endpoint, partner, _):
        endpoint.enable_receive(False)
        results: list[Any] = []

        def receive() -> None:
            try:  # bounded, and generously: the steps below must all fit into its wait
                results.append(endpoint.receive(timeout=4 * SHORT))
            except Exception as exc:
                results.append(exc)

        reader = threading.Thread(target=receive)
        reader.start()
        wait_until(lambda: endpoint._readers == 1)
        partner.sendall(FRAME)
        conn = endpoint.connection
        assert conn is not None
        wait_until(lambda: conn.buffered >= len(FRAME))  # read and held by the receive()
        enabling = threading.Thread(target=endpoint.enable_receive, args=(True,))
        enabling.start()
        enabling.join(SHORT)
        assert not enabling.is_alive(), "EN_R 0→1 waited for the blocked receive()"
        reader.join(4 * SHORT)
        assert results == [FRAME]  # a receive() EN_R had to wait for would have timed out


def test_active_control_that_cannot_run_in_time_times_out(
    store: CertStore, pem: ExamplePem
) -> None:
    """A control whose connection stays busy past its deadline fails (WaitTimeoutError, no PLC
    status) and is not carried out later."""
    with active_and_partner(store, pem) as (endpoint, partner, _):
        endpoint.connect_timeout = 0.2
        held, done = threading.Event(), threading.Event()

        def busy() -> None:  # holds the connection, as a send to a partner that reads nothing
            with endpoint._io:
                held.set()
                done.wait(SHORT)

        holder = threading.Thread(target=busy)
        holder.start()
        try:
            assert held.wait(SHORT)
            with pytest.raises(WaitTimeoutError) as caught:
                endpoint.cpu_stop()
        finally:
            done.set()
            holder.join(SHORT)
        assert caught.value.status is None and isinstance(caught.value, TimeoutError)
        endpoint.send(FRAME)  # the STOP did not happen later: the connection is still there
        assert recv_exactly(partner, len(FRAME)) == FRAME
        assert endpoint.cpu_running


def test_two_controls_asked_at_once_both_happen(store: CertStore, pem: ExamplePem) -> None:
    """COM_RST and the CPU's STOP asked from two threads while the connection is busy: the
    reset happens (80C4, a new connection), then the STOP; neither is lost."""
    with active_and_partner(store, pem) as (endpoint, _, accepted):
        held, done = threading.Event(), threading.Event()

        def busy() -> None:  # holds the connection, as a send to a partner that reads nothing
            with endpoint._io:
                held.set()
                done.wait(SHORT)

        errors: list[BaseException] = []

        def run(control: Callable[[], Any]) -> None:
            try:
                control()
            except BaseException as exc:
                errors.append(exc)

        holder = threading.Thread(target=busy)
        holder.start()
        assert held.wait(SHORT)
        first = threading.Thread(target=run, args=(endpoint.com_rst,))
        first.start()
        wait_until(lambda: endpoint._pending_control == "com_rst")
        second = threading.Thread(target=run, args=(endpoint.cpu_stop,))
        second.start()
        # Bounded, and not a synchronisation: a second control that overwrites the first shows
        # here at once; one that waits its turn never does, and the test goes on either way.
        deadline = time.monotonic() + 0.5
        pause = threading.Event()
        while endpoint._pending_control != "cpu_stop" and time.monotonic() < deadline:
            pause.wait(0.01)
        done.set()
        for thread in (holder, first, second):
            thread.join(SHORT)
        assert errors == []
        sequence = endpoint.format_sequence("TSEND_C")
        assert "80C4 → 7002 → 0001" in sequence  # the reset, then a new connection
        wait_until(lambda: len(accepted) == 2)  # the partner's side of the new connection
        assert not endpoint.cpu_running  # and the STOP


def test_deliver_from_another_thread_does_not_wait_for_a_blocked_receive(
    store: CertStore, pem: ExamplePem
) -> None:
    """deliver() is a control like EN_R: it returns at once while a receive() waits, and the
    frames that come after it go to its callback."""
    with active_and_partner(store, pem) as (endpoint, partner, _):
        results: list[Any] = []

        def receive() -> None:
            try:
                results.append(endpoint.receive(timeout=4.0))
            except Exception as exc:
                results.append(exc)

        reader = threading.Thread(target=receive)
        reader.start()
        wait_until(lambda: endpoint._readers == 1)
        delivered: list[Any] = []
        switching = threading.Thread(target=endpoint.deliver, args=(delivered.append,))
        switching.start()
        # Bounded below the receive()'s 4 s: a deliver() that waited for it would still be
        # waiting here; 3 s leave a loaded machine time to run the thread at all.
        switching.join(3.0)
        assert not switching.is_alive(), "deliver() waited for the blocked receive()"
        reader.join(SHORT)
        assert not reader.is_alive() and isinstance(results[0], TimeoutError)  # nothing came
        partner.sendall(FRAME)
        wait_until(lambda: len(delivered) == 1)
        assert delivered[0].data == FRAME


@pytest.mark.parametrize("driver", DRIVERS)
def test_stop_then_run_records_stopped_closed_listening(
    driver: str, store: CertStore, pem: ExamplePem
) -> None:
    """STOP, then RUN, leaves the same records in the same order on both drivers: ``stopped``,
    the connection's ``closed``, ``listening``. The blocking driver's ``cpu_stop()`` used to
    return before the serving thread had recorded the connection's end, so a ``cpu_run()``
    right after it could log ``listening`` first (about half the rounds; the wire was right)."""
    log = RecordLog()
    with passive(driver, store, log) as (control, address):
        for _ in range(4):  # STOP/RUN rounds
            with dial(client_context(pem), address) as tls:
                echo_once(tls)  # established
                start = len(log.records)
                control.do("stop")
                at_stop = [r.kind for r in log.records[start:]]  # on record when STOP returns
                control.do("run")
            assert at_stop == [RecordKind.STOPPED, RecordKind.CLOSED]
            kinds = [r.kind for r in log.records[start:]]
            assert kinds == [RecordKind.STOPPED, RecordKind.CLOSED, RecordKind.LISTENING]
