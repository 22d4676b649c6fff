"""What each timeout reports, on both drivers: never a code that no table of the help lists.

No table of the TIA help (TCON, TSEND_C/TRCV_C; nor the S7-300/400 open-communication tables)
has a timeout code — 16#80C7 is in none of them. So (inferences, documented in
``ouc.conn.Connection.handle_timer`` and ``ouc.drivers._sockio.os_error_status``):

- a TCP connect nobody answers within the attempt's time: 16#80C6, partner unreachable;
- a handshake that stalls: 16#80C4, "cannot be established now";
- no data within the idle timeout: 16#80C6 (a CPU notices a silent partner only through
  keep-alive, which the stack reports as a network error);
- an API call that gives up waiting: :class:`WaitTimeoutError`, a ``TimeoutError`` without a
  status (the block would keep waiting).

Real sockets on 127.0.0.1, certificates made per test (the example store).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import socket
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

import pytest

from ouc.certs import CertStore, PrivateKey
from ouc.conn import ALLOWED_STATUS, StatusEntry
from ouc.drivers import (
    ActiveEndpoint,
    AsyncActiveEndpoint,
    EndpointRecord,
    ExampleSetup,
    PassiveEndpoint,
    RecordKind,
    RecordLog,
    connection_error,
    example_store,
    os_error_status,
    own_timeout,
    standard_example,
)
from ouc.errors import OucConnectionError, Status, WaitTimeoutError

WAIT = 10.0  # seconds any one wait may take
LIMIT = 20.0  # seconds an asyncio test may run
SHORT = 0.3  # the timeouts under test
DRIVERS = ["blocking", "asyncio"]
NOW = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)


@pytest.fixture
def store(tmp_path: Path, ca_keys: tuple[PrivateKey, PrivateKey]) -> CertStore:
    return example_store(tmp_path / "store", now=NOW, default_ca_keys=ca_keys)


def _documented(history: list[StatusEntry]) -> None:
    codes = {status for _, _, status in history}
    assert codes <= ALLOWED_STATUS, sorted(hex(c) for c in codes - ALLOWED_STATUS)
    assert 0x80C7 not in codes


def _connect_once(
    driver: str, setup: ExampleSetup, port: int, log: RecordLog
) -> tuple[OucConnectionError, list[StatusEntry]]:
    """One connect attempt (``connect_timeout`` SHORT) to ``port``: its error, the history."""
    options: dict[str, Any] = {
        "connect_to": ("127.0.0.1", port),
        "connect_timeout": SHORT,
        "reconnect": False,
        "on_event": log,
    }
    if driver == "blocking":
        client = ActiveEndpoint(setup.client, **options)
        try:
            with pytest.raises(OucConnectionError) as caught:
                client.connect()
        finally:
            client.close()
        return caught.value, client.status_history()

    async def main() -> tuple[OucConnectionError, list[StatusEntry]]:
        aclient = AsyncActiveEndpoint(setup.client, **options)
        try:
            with pytest.raises(OucConnectionError) as caught:
                await aclient.connect()
        finally:
            await aclient.close()
        return caught.value, aclient.status_history()

    return asyncio.run(asyncio.wait_for(main(), LIMIT))


@contextmanager
def _full_backlog() -> Iterator[int]:
    """A listener whose accept queue is full: Linux drops further SYNs, so a connect to it
    is never answered (no RST either) — the loopback stand-in for an unreachable partner."""
    with closing(socket.socket()) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        with closing(socket.create_connection(("127.0.0.1", port), WAIT)):  # fills the queue
            probe = socket.socket()
            probe.settimeout(SHORT)
            with closing(probe):
                try:
                    probe.connect(("127.0.0.1", port))
                except TimeoutError:
                    pass  # as intended: the SYN went unanswered
                else:
                    pytest.fail("this kernel answered a connect to a full accept queue")
            yield port


@contextmanager
def _silent_listener() -> Iterator[socket.socket]:
    """A TCP listener that accepts (in the kernel) and never sends a byte: a TLS server whose
    handshake stalls after the ClientHello."""
    with closing(socket.socket()) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_connect_nobody_answers_is_80c6(driver: str, store: CertStore) -> None:
    log = RecordLog()
    with _full_backlog() as port:
        error, history = _connect_once(driver, standard_example(store), port, log)
    assert error.status == Status.NETWORK_ERROR, error
    assert not isinstance(error, TimeoutError)  # a PLC status, not the API's own wait
    failed = log.of(RecordKind.FAILED)
    assert [r.status for r in failed] == [Status.NETWORK_ERROR], log.records
    _documented(history)


@pytest.mark.parametrize("driver", DRIVERS)
def test_a_stalled_handshake_on_the_active_side_is_80c4(driver: str, store: CertStore) -> None:
    log = RecordLog()
    with _silent_listener() as listener:
        port = listener.getsockname()[1]
        error, history = _connect_once(driver, standard_example(store), port, log)
    assert error.status == Status.TEMPORARY, error
    assert f"not established within {SHORT:g} s" in error.message
    assert [r.status for r in log.of(RecordKind.FAILED)] == [Status.TEMPORARY], log.records
    _documented(history)


@pytest.mark.parametrize("driver", DRIVERS)
def test_the_active_sides_idle_timeout_is_80c6(driver: str, store: CertStore) -> None:
    """The client's own idle timer (TSEND_C side) against a partner that sends nothing."""
    setup = standard_example(store, client_options={"idle_timeout": SHORT})
    log = RecordLog()
    with PassiveEndpoint(setup.server, address_map=setup.address_map):
        if driver == "blocking":
            client = ActiveEndpoint(
                setup.client, address_map=setup.address_map, reconnect=False, on_event=log
            )
            with client:
                failed = log.wait_for(RecordKind.FAILED, timeout=WAIT)
            history = client.status_history()
        else:

            async def main() -> tuple[EndpointRecord, list[StatusEntry]]:
                aclient = AsyncActiveEndpoint(
                    setup.client, address_map=setup.address_map, reconnect=False, on_event=log
                )
                async with aclient:
                    await aclient.connect()
                    record = await log.wait_for_async(RecordKind.FAILED, timeout=WAIT)
                return record, aclient.status_history()

            failed, history = asyncio.run(asyncio.wait_for(main(), LIMIT))
    assert failed.status == Status.NETWORK_ERROR and "no data" in failed.reason
    assert failed.sequences["TSEND_C"].endswith("0001 → 7004 → 80C6"), failed.line()
    _documented(history)


def test_socket_errors_get_the_code_the_caller_means() -> None:
    """ETIMEDOUT is the kernel giving up (80C6); a limit ouc set itself takes the caller's
    code; the other errors keep theirs."""
    kernel = TimeoutError(errno.ETIMEDOUT, "Connection timed out")
    assert isinstance(kernel, TimeoutError) and not own_timeout(kernel)
    assert os_error_status(kernel, timed_out=Status.TEMPORARY) == Status.NETWORK_ERROR
    for own in (
        TimeoutError("timed out"),  # socket.settimeout ran out
        BlockingIOError(errno.EAGAIN, "Resource temporarily unavailable"),  # SO_RCVTIMEO
        OSError(errno.EINPROGRESS, "Operation now in progress"),
    ):
        assert own_timeout(own)
        assert os_error_status(own) == Status.NETWORK_ERROR  # default: nobody answered
        assert os_error_status(own, timed_out=Status.TEMPORARY) == Status.TEMPORARY
    assert os_error_status(ConnectionRefusedError(errno.ECONNREFUSED, "refused")) == 0x80C4
    assert os_error_status(ConnectionResetError(errno.ECONNRESET, "reset")) == 0x80C5
    assert os_error_status(OSError(errno.EMFILE, "Too many open files")) == 0x80C4
    assert os_error_status(OSError(errno.EADDRINUSE, "in use")) == 0x80A1
    assert os_error_status(OSError(errno.EHOSTUNREACH, "No route to host")) == 0x80C6
    error = connection_error(TimeoutError("timed out"), "cannot connect", timed_out=0x80C4)
    assert (error.message, error.status) == ("cannot connect: timed out", 0x80C4)


def test_wait_timeout_is_a_timeout_error_without_a_status() -> None:
    error = WaitTimeoutError("no frame received within 1 s")
    assert isinstance(error, TimeoutError) and isinstance(error, OucConnectionError)
    assert error.status is None and error.status_text is None
    assert str(error) == "no frame received within 1 s"


def test_wait_timeout_survives_the_error_trees_re_raise() -> None:
    """``type(exc)(msg, status=exc.status, path=...)`` (how a layer adds a path) works for a
    WaitTimeoutError as for every OucError; a status it cannot carry is refused; and it is
    never taken for a socket's own timeout, which would turn it into a PLC 16#80C6."""
    error = WaitTimeoutError("no frame received within 1 s")
    again = type(error)(error.message, status=error.status, path="PLC_1")
    assert (type(again), again.status, str(again)) == (
        WaitTimeoutError,
        None,
        "PLC_1: no frame received within 1 s",
    )
    with pytest.raises(ValueError, match="carries no PLC status"):
        WaitTimeoutError("x", status=0x80C6)
    assert not own_timeout(error)
    wrapped = connection_error(error, "the reply")
    assert type(wrapped) is WaitTimeoutError and wrapped.status is None
    assert wrapped.message == "the reply: no frame received within 1 s"


def test_a_record_log_wait_that_runs_out_is_a_wait_timeout() -> None:
    """RecordLog.wait_for is an API wait like receive(timeout=): one error root, no status."""
    log = RecordLog()
    with pytest.raises(WaitTimeoutError) as caught:
        log.wait_for(RecordKind.CONNECTED, timeout=0.01)
    assert caught.value.status is None and isinstance(caught.value, TimeoutError)
    assert "0 of 1 matching records after 0.01 s" in caught.value.message

    async def main() -> WaitTimeoutError:
        with pytest.raises(WaitTimeoutError) as waited:
            await log.wait_for_async(RecordKind.CLOSED, timeout=0.01, count=2)
        return waited.value

    assert asyncio.run(asyncio.wait_for(main(), LIMIT)).status is None
