"""The asyncio fixtures as a peer's async test suite uses them (pytest-asyncio and anyio)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl

import pytest

from ouc.drivers import PeerContext, RecordKind
from ouc.errors import ConfigError
from ouc.pytest_plugin import Faults, PemFiles

FRAME = 258
WAIT = 10.0


def client_context(pem: PemFiles) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pem.ca)
    context.load_cert_chain(pem.client_cert, pem.client_key)
    return context


async def echo_once(address: tuple[str, int], pem: PemFiles, data: bytes) -> bytes:
    """The peer's own asyncio client: one frame out, one frame back."""
    reader, writer = await asyncio.open_connection(
        *address, ssl=client_context(pem), server_hostname="192.168.0.1"
    )
    try:
        writer.write(data)
        await writer.drain()
        return await asyncio.wait_for(reader.readexactly(FRAME), WAIT)
    finally:
        writer.close()
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            await writer.wait_closed()


@pytest.mark.asyncio
async def test_asyncio_client_against_the_async_mock_plc(
    ouc_async_passive, ouc_pem: PemFiles
) -> None:
    plc = await ouc_async_passive()
    data = bytes(range(256)) + b"\x01\x02"
    assert await echo_once(plc.address, ouc_pem, data) == data
    connected = await ouc_async_passive.log(plc).wait_for(RecordKind.CONNECTED, timeout=WAIT)
    assert connected.info is not None and connected.info.version in ("TLSv1.2", "TLSv1.3")
    closed = await ouc_async_passive.log(plc).wait_for(
        lambda r: r.kind in (RecordKind.CLOSED, RecordKind.FAILED), timeout=WAIT
    )
    assert closed.peer == connected.peer


@pytest.mark.asyncio
async def test_async_behaviour_and_a_late_answer(ouc_async_passive, ouc_pem: PemFiles) -> None:
    async def upper(frame, peer: PeerContext) -> bytes:
        await asyncio.sleep(0)
        return bytes(frame.data).upper()

    plc = await ouc_async_passive(behaviour=upper, faults=Faults(delay=0.2))
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await echo_once(plc.address, ouc_pem, b"abc" * 86) == b"ABC" * 86
    assert loop.time() - started >= 0.2


@pytest.mark.asyncio
async def test_async_active_talks_to_async_passive(ouc_async_passive, ouc_async_active) -> None:
    server = await ouc_async_passive()
    client = await ouc_async_active()
    await client.send(b"\x07" * FRAME)
    assert await client.receive(timeout=WAIT) == b"\x07" * FRAME
    record = await ouc_async_active.log(client).wait_for(RecordKind.CONNECTED, timeout=WAIT)
    assert record.info is not None
    await server.com_rst()
    await ouc_async_active.log(client).wait_for(RecordKind.CONNECTED, timeout=WAIT, count=2)
    await client.send(b"\x08" * FRAME)  # the re-established connection carries frames
    assert await client.receive(timeout=WAIT) == b"\x08" * FRAME


@pytest.mark.asyncio
async def test_wait_for_times_out_without_blocking_the_loop(ouc_async_passive) -> None:
    plc = await ouc_async_passive()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        for _ in range(100):
            ticks += 1
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    with pytest.raises(TimeoutError, match=r"0 of 1 matching records after 0\.3 s"):
        await ouc_async_passive.log(plc).wait_for(RecordKind.CONNECTED, timeout=0.3)
    assert ticks >= 2  # the test's loop kept running while the wait was pending
    task.cancel()


@pytest.mark.asyncio
async def test_blocking_only_faults_are_refused(ouc_async_passive) -> None:
    with pytest.raises(ConfigError, match="reset_mid_frame need the blocking driver"):
        await ouc_async_passive(faults=Faults(reset_mid_frame=True))


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_anyio_users_get_the_same_fixtures(ouc_async_passive, ouc_pem: PemFiles) -> None:
    plc = await ouc_async_passive()
    data = b"\x42" * FRAME
    assert await echo_once(plc.address, ouc_pem, data) == data
    await ouc_async_passive.log(plc).wait_for(RecordKind.CONNECTED, timeout=WAIT)


def test_an_async_behaviour_that_raises_fails_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_user="""
        import asyncio, ssl
        import pytest

        async def broken(frame, peer):
            raise KeyError("no such tag")

        @pytest.mark.asyncio
        async def test_client(ouc_async_passive, ouc_pem):
            plc = await ouc_async_passive(behaviour=broken)
            ctx = ssl.create_default_context(cafile=ouc_pem.ca)
            ctx.load_cert_chain(ouc_pem.client_cert, ouc_pem.client_key)
            reader, writer = await asyncio.open_connection(
                *plc.address, ssl=ctx, server_hostname="192.168.0.1"
            )
            writer.write(bytes(258))
            with pytest.raises(TimeoutError):  # no answer: the client alone would pass
                await asyncio.wait_for(reader.readexactly(258), 0.5)
            writer.close()
            await writer.wait_closed()

        @pytest.mark.asyncio
        async def test_allowed(ouc_async_passive, ouc_pem):
            plc = await ouc_async_passive(behaviour=broken, check_errors=False)
            ctx = ssl.create_default_context(cafile=ouc_pem.ca)
            ctx.load_cert_chain(ouc_pem.client_cert, ouc_pem.client_key)
            reader, writer = await asyncio.open_connection(
                *plc.address, ssl=ctx, server_hostname="192.168.0.1"
            )
            writer.write(bytes(258))
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(reader.readexactly(258), 0.5)
            writer.close()
            await writer.wait_closed()
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(["*KeyError*no such tag*", "*check_errors=False*"])
