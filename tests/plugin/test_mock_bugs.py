"""The mock PLC's own bugs fail the peer's test, as the README promises: a behaviour that answers
something the endpoint cannot send, or that cannot run on the fixture's driver, is an error of the
test, not a silent client timeout that lets it pass."""

from __future__ import annotations

import pytest

from ouc.errors import ConfigError

# A peer's test whose client alone would pass: it sends one frame and accepts no answer.
CLIENT = """
import asyncio, socket, ssl
import pytest
from ouc.pytest_plugin import trust

def send_one(address, ouc_store, ouc_pem):
    ctx = trust(ssl.create_default_context(), ouc_store)
    ctx.load_cert_chain(ouc_pem.client_cert, ouc_pem.client_key)
    raw = socket.create_connection(address)
    with ctx.wrap_socket(raw, server_hostname="192.168.0.1") as tls:
        tls.sendall(bytes(258))
        tls.settimeout(1)
        try:
            tls.recv(258)
        except (TimeoutError, OSError):
            pass  # no answer: that alone would let the test pass

def failed(record):
    return record.kind.value == "behaviour-failed"
"""


def test_an_answer_that_is_not_bytes_fails_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_user=CLIENT
        + """
def test_blocking(ouc_passive, ouc_store, ouc_pem):
    plc = ouc_passive(behaviour=lambda frame, peer: "hello")
    send_one(plc.address, ouc_store, ouc_pem)
    ouc_passive.log(plc).wait_for(failed, timeout=10)

@pytest.mark.asyncio
async def test_async(ouc_async_passive, ouc_store, ouc_pem):
    plc = await ouc_async_passive(behaviour=lambda frame, peer: "hello")
    await asyncio.to_thread(send_one, plc.address, ouc_store, ouc_pem)
    await ouc_async_passive.log(plc).wait_for(failed, timeout=10)

def test_allowed(ouc_passive, ouc_store, ouc_pem):
    plc = ouc_passive(behaviour=lambda frame, peer: "hello", check_errors=False)
    send_one(plc.address, ouc_store, ouc_pem)
    ouc_passive.log(plc).wait_for(failed, timeout=10)
"""
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_blocking*",
            "*recorded 1 behaviour-failed record(s)*",
            "*PLC_1 TRCV_C * behaviour-failed - TypeError: the behaviour returned str*",
            "*check_errors=False*",
            "*ERROR at teardown of test_async*",
            "*recorded 1 behaviour-failed record(s)*",
        ]
    )


def test_an_async_behaviour_is_refused_by_the_blocking_fixture(ouc_passive) -> None:
    async def answer(frame, peer) -> bytes:
        return b""

    class Answerer:
        async def __call__(self, frame, peer) -> bytes:
            return b""

    for behaviour in (answer, Answerer()):
        with pytest.raises(ConfigError, match=r"is async def.*use the ouc_async_passive fixture"):
            ouc_passive(behaviour=behaviour)
    assert ouc_passive.endpoints == []  # refused before anything started


# --- a mock PLC that does not stop ----------------------------------------------------------

STUCK = """
import asyncio, socket, ssl, threading
import pytest
from ouc.pytest_plugin import trust

@pytest.fixture
def release():
    event = threading.Event()
    yield event
    event.set()  # after the mock PLC's teardown: the stuck behaviour ends, bounded

def connect(address, ouc_store, ouc_pem):
    ctx = trust(ssl.create_default_context(), ouc_store)
    ctx.load_cert_chain(ouc_pem.client_cert, ouc_pem.client_key)
    raw = socket.create_connection(address)
    tls = ctx.wrap_socket(raw, server_hostname="192.168.0.1")
    tls.sendall(bytes(258))
    return tls

def test_blocking(release, ouc_passive, ouc_store, ouc_pem):
    entered = threading.Event()

    def stuck(frame, peer):
        entered.set()
        release.wait(30)
        return None

    plc = ouc_passive(behaviour=stuck, stop_timeout=0.5)
    with connect(plc.address, ouc_store, ouc_pem):
        assert entered.wait(10)

@pytest.mark.asyncio
async def test_async(release, ouc_async_passive, ouc_store, ouc_pem):
    entered = threading.Event()

    def stuck(frame, peer):  # a plain def that waits: it holds the endpoints' loop
        entered.set()
        release.wait(30)
        return None

    plc = await ouc_async_passive(behaviour=stuck, stop_timeout=0.5)
    tls = await asyncio.to_thread(connect, plc.address, ouc_store, ouc_pem)
    assert await asyncio.to_thread(entered.wait, 10)
    tls.close()
"""


def test_an_endpoint_that_does_not_stop_fails_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user=STUCK)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=2)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_blocking*",
            "*the mock PLC did not stop in time:",
            "*<PassiveEndpoint PLC_1 127.0.0.1:*>: thread(s) ouc-PLC_1-* still running 0.5 s "
            "after stop()",
            "*a behaviour that blocks*pass a longer stop_timeout=*",
            "*ERROR at teardown of test_async*",
            "*the mock PLC did not stop in time:",
            "*AsyncPassive(*stop() did not end 5.5 s later: the endpoints' event loop is blocked*",
        ]
    )


def test_stop_timeout_must_be_positive(ouc_passive) -> None:
    with pytest.raises(ConfigError, match=r"stop_timeout=0: give the seconds .* more than 0"):
        ouc_passive(stop_timeout=0)
