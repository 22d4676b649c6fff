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
