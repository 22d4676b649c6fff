"""Socket tests of the asyncio driver when something goes wrong, on 127.0.0.1 port 0: partner
check and connection limit, timeouts, certificate failures, a broken ClientHello, the active
side's errors and re-establishment, wrong roles. Real TLS, real certificates; bounded,
event-driven waits (aio_kit), never a sleep."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from aio_kit import (
    BROKEN_HELLO,
    DAY,
    NOW,
    WAIT,
    Pki,
    Records,
    client_spec,
    connected_pair,
    make_pki,
    run,
    run_lean,
    server_spec,
)

from ouc.certs import Template
from ouc.conn import FrameReceived
from ouc.drivers._aio import AsyncPassiveEndpoint
from ouc.drivers._aio_active import AsyncActiveEndpoint
from ouc.drivers._records import EndpointRecord, RecordKind
from ouc.drivers._setup import PeerContext, echo
from ouc.errors import (
    FramingError,
    OucConnectionError,
    OucError,
    Status,
    TLSError,
    WaitTimeoutError,
)
from ouc.params import STANDARD_SERVER


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


def test_a_partner_other_than_remote_address_is_reset_with_80c9(pki: Pki) -> None:
    """The sample server block accepts only 192.168.0.2; 127.0.0.1 (unmapped) is refused."""

    async def main() -> None:
        srecords = Records()
        server = AsyncPassiveEndpoint(
            server_spec(pki, block=STANDARD_SERVER), listen=("127.0.0.1", 0), on_event=srecords
        )
        async with server:
            client = AsyncActiveEndpoint(
                client_spec(pki), connect_to=("127.0.0.1", server.port), reconnect=False
            )
            with pytest.raises(OucConnectionError) as exc_info:
                await client.connect()
            await client.close()
            refused = await srecords.wait(RecordKind.REFUSED)
            assert server.refused == 1 and server.connection_count == 0
        assert refused.status == Status.PARTNER_REFUSED and refused.reset
        assert (refused.peer or "").startswith("127.0.0.1:")
        assert exc_info.value.status in (Status.PARTNER_CLOSED, Status.NETWORK_ERROR)

    run(main())


def test_connection_limit_refuses_with_8087_and_serves_the_others(pki: Pki) -> None:
    async def main() -> None:
        srecords = Records()
        server = AsyncPassiveEndpoint(
            server_spec(pki),
            behaviour=echo(),
            listen=("127.0.0.1", 0),
            max_connections=2,
            on_event=srecords,
        )
        async with server:

            def client() -> AsyncActiveEndpoint:
                return AsyncActiveEndpoint(
                    client_spec(pki), connect_to=("127.0.0.1", server.port), reconnect=False
                )

            first, second, third = client(), client(), client()
            await first.connect()
            await second.connect()
            with pytest.raises(OucError):
                await third.connect()
            limit = await srecords.wait(RecordKind.LIMIT)
            assert limit.status == Status.CONNECTION_LIMIT
            for number, peer in enumerate((first, second)):
                await peer.send(b"still served %d" % number)
                assert await peer.receive(timeout=WAIT) == b"still served %d" % number
            await first.close()
            await srecords.wait(RecordKind.CLOSED)
            await third.connect()  # a slot is free again
            assert server.connection_count == 2
            for peer in (second, third):
                await peer.close()

    run(main())


@pytest.mark.parametrize("runner", [run, run_lean], ids=["asyncio", "lean"])
def test_a_silent_peer_is_dropped_after_the_handshake_timeout(
    pki: Pki, runner: Callable[[Coroutine[Any, Any, None]], None]
) -> None:
    """On asyncio's loop the link's timer is a TimerHandle; on ``ouc serve``'s a Deadline of
    the lean selector."""

    async def main() -> None:
        srecords = Records()
        server = AsyncPassiveEndpoint(
            server_spec(pki, handshake_timeout=0.2), listen=("127.0.0.1", 0), on_event=srecords
        )
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            failed = await srecords.wait(RecordKind.FAILED)
            assert await asyncio.wait_for(reader.read(), WAIT) == b""  # the server closed
            writer.close()
            await writer.wait_closed()
            assert server.connection_count == 0
        # Inference (no timeout code in the help): 80C4, "cannot be established now".
        assert failed.status == Status.TEMPORARY
        assert failed.sequences["TRCV_C"] == "7000 → 7001 → 7002 → 80C4"

    runner(main())


@pytest.mark.parametrize("runner", [run, run_lean], ids=["asyncio", "lean"])
def test_an_idle_connection_is_dropped_with_80c6_and_the_client_sees_80c5(
    pki: Pki, runner: Callable[[Coroutine[Any, Any, None]], None]
) -> None:
    async def main() -> None:
        server, client, srecords, _ = await connected_pair(
            pki,
            server_options={"idle_timeout": 0.3},
            endpoint_options={"reconnect": False},
        )
        try:
            with pytest.raises(OucConnectionError) as exc_info:
                await client.receive(timeout=WAIT)
            failed = await srecords.wait(RecordKind.FAILED)
        finally:
            await client.close()
            await server.stop()
        # Inference: a silent partner is a network error, partner unreachable (80C6).
        assert failed.status == Status.NETWORK_ERROR
        assert failed.sequences["TRCV_C"] == "7000 → 7001 → 7002 → 0001 → 7006 → 80C6"
        assert exc_info.value.status == Status.PARTNER_CLOSED
        assert client.last_error is not None and client.last_error.status == Status.PARTNER_CLOSED

    runner(main())


def bye(frame: FrameReceived, peer: PeerContext) -> bytes | None:
    """Echo, except that "BYE" makes the server close the connection."""
    if frame.data == b"BYE":
        peer.connection.close(time.monotonic())
        return None
    return frame.data


def test_the_client_re_establishes_after_a_drop_and_resumes_the_session(pki: Pki) -> None:
    """The server closes the connection (a behaviour calls close() on "BYE"); the client
    re-establishes by itself, offering its TLS 1.3 ticket, and the next send goes through."""

    async def main() -> None:
        fixed3 = {"receive_len": 3, "adhoc": False}
        server, client, srecords, crecords = await connected_pair(
            pki, behaviour=bye, server_options=fixed3, client_options=fixed3
        )
        try:
            await client.send(b"one")
            assert await client.receive(timeout=WAIT) == b"one"
            first = client.info
            await client.send(b"BYE")
            again = await crecords.wait(RecordKind.CONNECTED, 2)
            await client.send(b"two")  # on the new connection
            assert await client.receive(timeout=WAIT) == b"two"
        finally:
            await client.close()
            await server.stop()
        assert first is not None and not first.resumed
        assert again.info is not None and again.info.resumed
        assert client.reconnects == 1 and client.connections == 2
        assert srecords.of(RecordKind.CLOSED)[0].status == Status.NO_JOB  # closed by the server
        assert crecords.of(RecordKind.CLOSED)[0].status == Status.PARTNER_CLOSED

    run(main())


def test_a_connected_record_comes_after_the_endpoint_counted_the_connection(pki: Pki) -> None:
    """The on_event callback of a CONNECTED record (and a thread it wakes) sees the connection
    counted: ``connected``, ``connections`` and ``reconnects`` are updated before the record."""

    async def main() -> None:
        fixed3 = {"receive_len": 3, "adhoc": False}
        server = AsyncPassiveEndpoint(
            server_spec(pki, **fixed3), behaviour=bye, listen=("127.0.0.1", 0)
        )
        await server.start()
        records = Records()
        counted: list[tuple[bool, int, int]] = []

        def on_event(record: EndpointRecord) -> None:
            if record.kind is RecordKind.CONNECTED:
                counted.append((client.connected, client.connections, client.reconnects))
            records(record)

        client = AsyncActiveEndpoint(
            client_spec(pki, **fixed3), connect_to=("127.0.0.1", server.port), on_event=on_event
        )
        try:
            await client.connect()
            await client.send(b"BYE")
            await records.wait(RecordKind.CONNECTED, 2)
        finally:
            await client.close()
            await server.stop()
        assert counted[:2] == [(True, 1, 0), (True, 2, 1)]

    run(main())


def test_an_expired_server_certificate_fails_the_client_with_80e5(pki: Pki) -> None:
    async def main() -> None:
        expired = pki.issue(
            "PLC_1", template=Template.TLS_CLIENT_SERVER, not_after=NOW - DAY, ip_sans=("1.2.3.4",)
        )
        srecords = Records()
        server = AsyncPassiveEndpoint(
            server_spec(pki, cert=expired), listen=("127.0.0.1", 0), on_event=srecords
        )
        async with server:
            crecords = Records()
            client = AsyncActiveEndpoint(
                client_spec(pki),
                connect_to=("127.0.0.1", server.port),
                reconnect=False,
                on_event=crecords,
            )
            with pytest.raises(TLSError) as exc_info:
                await client.connect()
            await client.close()
            failed = await srecords.wait(RecordKind.FAILED)
        assert exc_info.value.status == Status.TLS_CERT_EXPIRED
        assert [r.status for r in crecords.of(RecordKind.FAILED)] == [Status.TLS_CERT_EXPIRED]
        assert failed.status == Status.TLS_CERT_EXPIRED  # the client's alert, mapped back

    run(main())


def test_a_client_certificate_from_an_unknown_ca_fails_with_80e4(pki: Pki) -> None:
    async def main() -> None:
        stranger = pki.issue("Stranger CA", template=Template.CA, not_after=NOW + 900 * DAY)
        foreign = pki.issue("PLC_9", issuer=stranger)
        srecords = Records()
        server = AsyncPassiveEndpoint(server_spec(pki), listen=("127.0.0.1", 0), on_event=srecords)
        async with server:
            client = AsyncActiveEndpoint(
                client_spec(pki, cert=foreign),
                connect_to=("127.0.0.1", server.port),
                reconnect=False,
            )
            # TLS 1.3: the client may finish before the server has judged its certificate, so
            # the refusal reaches it either as the handshake's end or as the next receive.
            with pytest.raises(TLSError) as exc_info:
                await client.connect()
                await client.receive(timeout=WAIT)
            await client.close()
            failed = await srecords.wait(RecordKind.FAILED)
        assert failed.status == Status.TLS_NO_VALID_CA
        assert exc_info.value.status == Status.TLS_NO_VALID_CA

    run(main())


@pytest.mark.parametrize("profile", ["strict", "compatible"])
def test_a_broken_client_hello_resets_only_in_the_strict_profile(pki: Pki, profile: str) -> None:
    """The firmware-like strict profile resets the TCP connection (RST, no alert); the
    compatible profile answers with a TLS alert record and closes."""

    async def main() -> None:
        srecords = Records()
        server = AsyncPassiveEndpoint(
            server_spec(pki, profile=profile), listen=("127.0.0.1", 0), on_event=srecords
        )
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(BROKEN_HELLO)
            try:
                answer = await asyncio.wait_for(reader.read(), WAIT)
            except ConnectionResetError:
                answer = None
            finally:
                writer.close()
                with contextlib.suppress(ConnectionResetError):  # the reset, reported again
                    await writer.wait_closed()
            failed = await srecords.wait(RecordKind.FAILED)
        assert 0x80E0 <= failed.status <= 0x80E7
        if profile == "strict":
            assert answer is None and failed.reset
        else:
            assert answer is not None and answer[:1] == b"\x15" and not failed.reset  # alert

    run(main())


def test_active_side_errors_carry_plc_statuses(pki: Pki) -> None:
    async def main() -> None:
        server = AsyncPassiveEndpoint(server_spec(pki), listen=("127.0.0.1", 0))
        await server.start()
        port = server.port
        client = AsyncActiveEndpoint(
            client_spec(pki), connect_to=("127.0.0.1", port), reconnect=False
        )
        with pytest.raises(OucConnectionError) as not_yet:
            await client.send(b"early")
        await client.connect()
        with pytest.raises(TimeoutError) as quiet:
            await client.receive(timeout=0.05)
        with pytest.raises(FramingError) as too_long:
            await client.send(b"x" * 10, length=11)
        await client.close()
        await server.stop()
        nobody = AsyncActiveEndpoint(
            client_spec(pki), connect_to=("127.0.0.1", port), reconnect=False
        )
        with pytest.raises(OucConnectionError) as refused:
            await nobody.connect()
        await nobody.close()
        assert not_yet.value.status == Status.NO_SUCH_CONNECTION
        assert isinstance(quiet.value, WaitTimeoutError) and quiet.value.status is None
        assert too_long.value.status == Status.RECEIVE_AREA_TOO_SMALL
        assert refused.value.status == Status.TEMPORARY
        assert nobody.last_error is refused.value

    run(main())


def test_records_arrive_through_a_sync_on_event_that_raises(pki: Pki) -> None:
    """A broken status printer is logged and ignored: the connection works regardless."""

    def broken(record: EndpointRecord) -> None:
        raise RuntimeError("printer on fire")

    async def main() -> None:
        server = AsyncPassiveEndpoint(
            server_spec(pki), behaviour=echo(), listen=("127.0.0.1", 0), on_event=broken
        )
        async with server:
            client = AsyncActiveEndpoint(client_spec(pki), connect_to=("127.0.0.1", server.port))
            async with client:
                await client.send(b"still works")
                assert await client.receive(timeout=WAIT) == b"still works"

    run(main())


def test_wrong_roles_are_refused(pki: Pki) -> None:
    with pytest.raises(OucError) as passive:
        AsyncPassiveEndpoint(client_spec(pki))
    with pytest.raises(OucError) as active:
        AsyncActiveEndpoint(server_spec(pki))
    assert passive.value.path == active.value.path == "ActiveEstablished"


def test_a_silent_server_times_the_attempt_out_once(pki: Pki) -> None:
    """A TCP listener that never answers the ClientHello: ``connect`` gives up after
    ``connect_timeout`` with 16#80C4 (the handshake stalled; inference: "cannot be established
    now", the help has no timeout code), reported as one failed attempt, and the abandoned
    connection is reset (the peer reads EOF or a reset, not a hanging socket)."""

    async def main() -> None:
        accepted: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]]
        accepted = asyncio.Queue()

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await accepted.put((reader, writer))

        silent = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        port = silent.sockets[0].getsockname()[1]
        crecords = Records()
        client = AsyncActiveEndpoint(
            client_spec(pki),
            connect_to=("127.0.0.1", port),
            reconnect=False,
            connect_timeout=0.3,
            on_event=crecords,
        )
        try:
            with pytest.raises(OucConnectionError) as exc_info:
                await client.connect()
            assert exc_info.value.status == Status.TEMPORARY
            assert "not established within 0.3 s" in str(exc_info.value)
            reader, writer = await asyncio.wait_for(accepted.get(), WAIT)
            # EOF or a reset within WAIT (a hanging socket would time out here).
            with contextlib.suppress(ConnectionResetError):  # the reset may drop the hello
                received = await asyncio.wait_for(reader.read(), WAIT)
                assert received[:1] == b"\x16"  # the ClientHello, then EOF
            writer.close()
            assert not client.connected
        finally:
            await client.close()
            silent.close()
            await silent.wait_closed()
        # One failed attempt, and no "closed by the partner" for the link it abandoned.
        kinds = [(r.kind, r.status) for r in crecords.items]
        assert kinds == [
            (RecordKind.CONNECTING, Status.CONNECTING),
            (RecordKind.FAILED, Status.TEMPORARY),
        ], crecords.items

    run(main())
