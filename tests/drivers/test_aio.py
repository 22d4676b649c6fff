"""Socket tests of the asyncio driver on 127.0.0.1 port 0: real TLS, real certificates.

Each test runs its own event loop (``asyncio.run`` under a time limit) with an
:class:`AsyncPassiveEndpoint` and :class:`AsyncActiveEndpoint` (or a raw TCP peer for what our
own client never does). Waits are bounded and event-driven: the endpoints' status records, the
behaviours' frames and the clients' futures — never a sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from cryptography import x509

from ouc.certs import PrivateKey, ResolvedEndpoint, Template, create_certificate, generate_key
from ouc.conn import FrameReceived
from ouc.device import Device, Role
from ouc.drivers._aio import AsyncPassiveEndpoint
from ouc.drivers._aio_active import AsyncActiveEndpoint
from ouc.drivers._records import EndpointRecord, RecordKind
from ouc.drivers._setup import AddressMap, EndpointSpec, PeerContext, echo, reply
from ouc.errors import (
    FramingError,
    OucConnectionError,
    OucError,
    Status,
    TLSError,
    WaitTimeoutError,
)
from ouc.params import ISO_ON_TCP_EXAMPLE, STANDARD_CLIENT, STANDARD_SERVER, TSelector

T = TypeVar("T")

NOW = dt.datetime.now(dt.UTC)
DAY = dt.timedelta(days=1)
LIMIT = 20.0  # seconds any one test may run
WAIT = 5.0  # seconds any one wait may take

# The sample blocks with "any partner" on the server side (most tests connect from 127.0.0.1).
SERVER_ANY = dataclasses.replace(
    STANDARD_SERVER, ConnPara=dataclasses.replace(STANDARD_SERVER.ConnPara, RemoteAddress="0.0.0.0")
)
SEND_DATA = b"\x01\x00" + bytes([254, 12]) + b"Hello World!" + bytes(242)  # 258-byte image
# A handshake record holding a ClientHello one byte long: OpenSSL answers decode_error. (An HTTP
# request would not do: OpenSSL deliberately sends no alert to one.)
BROKEN_HELLO = bytes.fromhex("1603010005" + "0100000100")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one test's coroutine in a fresh loop, bounded in time."""
    return asyncio.run(asyncio.wait_for(coro, LIMIT))


# ---------------------------------------------------------------------------------- certificates


@dataclass(frozen=True)
class Pki:
    """CA 3 with a server certificate (IP SAN 192.168.0.1) and a client certificate."""

    ca: x509.Certificate
    ca_key: PrivateKey
    server: tuple[x509.Certificate, PrivateKey]
    client: tuple[x509.Certificate, PrivateKey]

    def issue(
        self,
        name: str,
        *,
        template: Template = Template.TLS_CLIENT,
        not_after: dt.datetime = NOW + 30 * DAY,
        issuer: tuple[x509.Certificate, PrivateKey] | None = None,
        ip_sans: tuple[str, ...] = (),
    ) -> tuple[x509.Certificate, PrivateKey]:
        key = generate_key("EC-P256")
        cert, cakey = issuer or (self.ca, self.ca_key)
        return (
            create_certificate(
                common_name=name,
                template=template,
                key=key,
                issuer_cert=cert,
                issuer_key=cakey,
                not_before=not_after - 60 * DAY,
                not_after=not_after,
                ip_sans=ip_sans,
            ),
            key,
        )


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca_key = generate_key("EC-P256")
    ca = create_certificate(
        common_name="CA 3",
        template=Template.CA,
        key=ca_key,
        not_before=NOW - 365 * DAY,
        not_after=NOW + 3650 * DAY,
    )
    bare = Pki(ca, ca_key, (ca, ca_key), (ca, ca_key))
    server = bare.issue("PLC_1", template=Template.TLS_CLIENT_SERVER, ip_sans=("192.168.0.1",))
    return Pki(ca, ca_key, server, bare.issue("PLC_2"))


def server_spec(
    pki: Pki,
    *,
    block: Any = SERVER_ANY,
    cert: tuple[x509.Certificate, PrivateKey] | None = None,
    mutual: bool = True,
    plant: tuple[str, ...] = (),
    **options: Any,
) -> EndpointSpec:
    own, key = cert or pki.server
    resolved = ResolvedEndpoint(
        Role.PASSIVE, 9, own, key, (), (3,), (pki.ca,), require_peer_cert=mutual
    )
    device = Device(name="PLC_1", own_addresses=plant)
    options.setdefault("receive_len", 258)
    options.setdefault("adhoc", True)
    return EndpointSpec.from_block(block, resolved=resolved, device=device, **options)


def client_spec(
    pki: Pki,
    *,
    block: Any = STANDARD_CLIENT,
    cert: tuple[x509.Certificate, PrivateKey] | None = None,
    **options: Any,
) -> EndpointSpec:
    own, key = cert or pki.client
    resolved = ResolvedEndpoint(Role.ACTIVE, 11, own, key, (), (3,), (pki.ca,))
    device = Device(name="PLC_2", own_addresses=("192.168.0.2",))
    options.setdefault("receive_len", 258)
    options.setdefault("adhoc", True)
    return EndpointSpec.from_block(block, resolved=resolved, device=device, **options)


# ---------------------------------------------------------------------------------- waiting


class Records:
    """An ``on_event`` callback that keeps the records and lets a test wait for one."""

    def __init__(self) -> None:
        self.items: list[EndpointRecord] = []
        self._changed = asyncio.Event()

    def __call__(self, record: EndpointRecord) -> None:
        self.items.append(record)
        self._changed.set()

    def of(self, kind: RecordKind) -> list[EndpointRecord]:
        return [r for r in self.items if r.kind is kind]

    async def wait(self, kind: RecordKind, count: int = 1) -> EndpointRecord:
        """The ``count``-th record of ``kind`` (bounded wait)."""
        return await wait_until(lambda: len(self.of(kind)) >= count, self._changed, self.of, kind)


class Frames:
    """A behaviour that collects frames (and answers with ``answer(frame)``)."""

    def __init__(self, answer: Callable[[bytes], bytes | None] = lambda data: None) -> None:
        self.frames: list[FrameReceived] = []
        self._answer = answer
        self._changed = asyncio.Event()

    def __call__(self, frame: FrameReceived, peer: PeerContext) -> bytes | None:
        self.frames.append(frame)
        self._changed.set()
        return self._answer(frame.data)

    async def wait(self, count: int) -> list[FrameReceived]:
        await wait_until(lambda: len(self.frames) >= count, self._changed, lambda: None)
        return self.frames


async def wait_until(
    done: Callable[[], bool], changed: asyncio.Event, result: Callable[..., Any], *args: Any
) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not done():
        changed.clear()
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError("the awaited event did not come within the wait limit")
        await asyncio.gather(asyncio.wait_for(changed.wait(), left), return_exceptions=True)
    value = result(*args)
    return value[-1] if isinstance(value, list) else value


async def connected_pair(
    pki: Pki,
    *,
    behaviour: Any = None,
    server_options: dict[str, Any] | None = None,
    client_options: dict[str, Any] | None = None,
    endpoint_options: dict[str, Any] | None = None,
) -> tuple[AsyncPassiveEndpoint, AsyncActiveEndpoint, Records, Records]:
    """A started server (any partner) and a connected client; the caller closes both."""
    srecords, crecords = Records(), Records()
    server = AsyncPassiveEndpoint(
        server_spec(pki, **(server_options or {})),
        behaviour=behaviour,
        listen=("127.0.0.1", 0),
        on_event=srecords,
    )
    await server.start()
    client = AsyncActiveEndpoint(
        client_spec(pki, **(client_options or {})),
        connect_to=("127.0.0.1", server.port),
        on_event=crecords,
        **(endpoint_options or {}),
    )
    await client.connect()
    return server, client, srecords, crecords


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# ---------------------------------------------------------------------------------- the tests


def test_mutual_tls_echo_on_plant_addresses_through_the_address_map(pki: Pki) -> None:
    """The standard example on loopback: the server's partner check sees 192.168.0.2 (the
    client binds 127.0.0.2), mutual TLS 1.3, a 258-byte Send_Data frame echoed back."""

    async def main() -> None:
        amap = AddressMap.parse(["192.168.0.2=127.0.0.2"])
        srecords, crecords = Records(), Records()
        server = AsyncPassiveEndpoint(
            server_spec(pki, block=STANDARD_SERVER, plant=("192.168.0.1",)),
            behaviour=echo(),
            listen=("127.0.0.1", 0),
            address_map=amap,
            on_event=srecords,
        )
        async with server:
            client = AsyncActiveEndpoint(client_spec(pki), address_map=amap, on_event=crecords)
            assert client.target() == ("127.0.0.1", server.port)  # the map learnt the port
            async with client:
                info = client.info
                assert info is not None and info.version == "TLSv1.3"
                assert (info.own_cert_id, info.peer_anchor_id) == (11, 3)
                assert info.peer_subject == "CN=PLC_1"
                assert (client.local_address or "").startswith("127.0.0.2:")
                await client.send(SEND_DATA)
                assert await client.receive(timeout=WAIT) == SEND_DATA
                accepted = await srecords.wait(RecordKind.CONNECTED)
                assert (accepted.peer or "").startswith("192.168.0.2:")
                assert accepted.info is not None and accepted.info.peer_subject == "CN=PLC_2"
                assert client.status_sequence("TSEND_C")[:7] == [
                    0x7000,
                    0x7001,
                    0x7002,
                    0x0001,
                    0x7004,
                    0x7005,
                    0x0000,
                ]
                assert client.connection is not None and client.connection.trcv.RCVD_LEN == 258
            closed = await srecords.wait(RecordKind.CLOSED)
            assert closed.status == Status.PARTNER_CLOSED
            assert closed.sequences["TRCV_C"].endswith("80C5 → 80C4")
        assert [r.status for r in crecords.of(RecordKind.CLOSED)] == [Status.NO_JOB]
        assert srecords.items[-1].kind is RecordKind.STOPPED

    run(main())


def test_fixed_length_frames_are_cut_out_of_the_stream(pki: Pki) -> None:
    """TRCV_C with ADHOC FALSE and LEN 100: three sends of 150, 50 and 100 bytes arrive as
    three 100-byte frames with the same bytes in order."""

    async def main() -> None:
        frames = Frames()
        server, client, _, _ = await connected_pair(
            pki, behaviour=frames, server_options={"receive_len": 100, "adhoc": False}
        )
        data = os.urandom(300)
        try:
            for piece in (data[:150], data[150:200], data[200:]):
                await client.send(piece)
            got = await frames.wait(3)
        finally:
            await client.close()
            await server.stop()
        assert [f.rcvd_len for f in got] == [100, 100, 100]
        assert b"".join(f.data for f in got) == data

    run(main())


def test_ad_hoc_frames_deliver_what_arrived_with_rcvd_len(pki: Pki) -> None:
    """ADHOC TRUE with LEN 64: one 200-byte send arrives as pieces of at most 64 bytes whose
    RCVD_LEN is their length; together they are the 200 bytes."""

    async def main() -> None:
        frames = Frames()
        server, client, _, _ = await connected_pair(
            pki, behaviour=frames, server_options={"receive_len": 64, "adhoc": True}
        )
        data = os.urandom(200)
        try:
            await client.send(data)
            await wait_until(
                lambda: sum(f.rcvd_len for f in frames.frames) >= 200,
                frames._changed,
                lambda: None,
            )
        finally:
            await client.close()
            await server.stop()
        assert all(0 < f.rcvd_len <= 64 and f.rcvd_len == len(f.data) for f in frames.frames)
        assert b"".join(f.data for f in frames.frames) == data

    run(main())


def test_reply_and_callback_behaviours_answer_each_frame(pki: Pki) -> None:
    async def main() -> None:
        server, client, _, _ = await connected_pair(pki, behaviour=reply(b"ACK"))
        try:
            for _ in range(3):
                await client.send(b"x" * 10)
                assert await client.receive(timeout=WAIT) == b"ACK"
        finally:
            await client.close()
            await server.stop()
        upper = Frames(lambda data: data.upper())
        server, client, _, _ = await connected_pair(pki, behaviour=upper)
        try:
            await client.send(b"plc")
            assert await client.receive(timeout=WAIT) == b"PLC"
        finally:
            await client.close()
            await server.stop()

    run(main())


def test_async_behaviour_handles_frames_in_order_one_at_a_time(pki: Pki) -> None:
    """While an async behaviour waits, the next frames are not handed out (reading pauses);
    once it answers, the rest follow in order."""

    async def main() -> None:
        gate = asyncio.Event()
        calls: list[bytes] = []
        called = asyncio.Event()

        async def slow(frame: FrameReceived, peer: PeerContext) -> bytes:
            calls.append(frame.data)
            called.set()
            if len(calls) == 1:
                await gate.wait()
            return frame.data[::-1]

        fixed4 = {"receive_len": 4, "adhoc": False}
        server, client, _, _ = await connected_pair(
            pki, behaviour=slow, server_options=fixed4, client_options=fixed4
        )
        try:
            for word in (b"abcd", b"efgh", b"ijkl"):
                await client.send(word)
            await asyncio.wait_for(called.wait(), WAIT)
            with pytest.raises(WaitTimeoutError) as exc_info:
                await client.receive(timeout=0.2)  # nothing can come while the first waits
            assert exc_info.value.status is None
            assert calls == [b"abcd"]
            gate.set()
            answers = [await client.receive(timeout=WAIT) for _ in range(3)]
        finally:
            await client.close()
            await server.stop()
        assert answers == [b"dcba", b"hgfe", b"lkji"]
        assert calls == [b"abcd", b"efgh", b"ijkl"]

    run(main())


def test_disconnect_does_not_wait_for_a_busy_partner(pki: Pki) -> None:
    """CONT 1→0 sends close_notify and FIN and releases the socket at once, like the CPU: a
    server whose behaviour is still busy (it sends no FIN meanwhile) does not hold it up, and
    sees the orderly close once it comes back."""

    async def main() -> None:
        gate, called = asyncio.Event(), asyncio.Event()

        async def busy(frame: FrameReceived, peer: PeerContext) -> None:
            called.set()
            await asyncio.wait_for(gate.wait(), WAIT)

        server, client, srecords, crecords = await connected_pair(pki, behaviour=busy)
        try:
            await client.send(SEND_DATA)
            await asyncio.wait_for(called.wait(), WAIT)
            await client.disconnect()
            closed = [(r.status, r.reason) for r in crecords.of(RecordKind.CLOSED)]
            # Ended by our own close (0000), not by the close timeout running out.
            assert closed == [(Status.NO_JOB, "closed")]
            assert not gate.is_set() and not client.connected
            gate.set()
            partner = await srecords.wait(RecordKind.CLOSED)
            assert partner.status == Status.PARTNER_CLOSED
        finally:
            gate.set()
            await client.close()
            await server.stop()

    run(main())


def test_a_failing_behaviour_is_recorded_and_the_connection_stays(pki: Pki) -> None:
    def picky(frame: FrameReceived, peer: PeerContext) -> bytes:
        if frame.data.startswith(b"boom"):
            raise ValueError("cannot handle boom")
        return frame.data

    async def main() -> None:
        server, client, srecords, _ = await connected_pair(
            pki, behaviour=picky, server_options={"receive_len": 4, "adhoc": False}
        )
        try:
            await client.send(b"boom")
            failed = await srecords.wait(RecordKind.BEHAVIOUR_FAILED)
            assert "cannot handle boom" in failed.reason
            await client.send(b"fine")
            assert await client.receive(timeout=WAIT) == b"fine"
        finally:
            await client.close()
            await server.stop()

    run(main())


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


def test_a_silent_peer_is_dropped_after_the_handshake_timeout(pki: Pki) -> None:
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

    run(main())


def test_an_idle_connection_is_dropped_with_80c6_and_the_client_sees_80c5(pki: Pki) -> None:
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

    run(main())


def test_the_client_re_establishes_after_a_drop_and_resumes_the_session(pki: Pki) -> None:
    """The server closes the connection (a behaviour calls close() on "BYE"); the client
    re-establishes by itself, offering its TLS 1.3 ticket, and the next send goes through."""

    def bye(frame: FrameReceived, peer: PeerContext) -> bytes | None:
        if frame.data == b"BYE":
            peer.connection.close(time.monotonic())
            return None
        return frame.data

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


def test_stop_closes_every_socket_and_leaves_no_task(pki: Pki) -> None:
    async def main() -> None:
        before = open_fds()
        baseline = asyncio.all_tasks()
        gate = asyncio.Event()

        async def stuck(frame: FrameReceived, peer: PeerContext) -> bytes:
            await gate.wait()  # still waiting when stop() comes
            return b""

        srecords = Records()
        server = AsyncPassiveEndpoint(
            server_spec(pki), behaviour=stuck, listen=("127.0.0.1", 0), on_event=srecords
        )
        await server.start()
        clients = [
            AsyncActiveEndpoint(
                client_spec(pki), connect_to=("127.0.0.1", server.port), reconnect=False
            )
            for _ in range(2)
        ]
        for client in clients:
            await client.connect()
        await clients[0].send(b"x" * 258)
        _, raw = await asyncio.open_connection("127.0.0.1", server.port)  # still handshaking
        await srecords.wait(RecordKind.CONNECTED, 2)
        await server.stop()
        tasks = asyncio.all_tasks() - baseline
        assert server.connection_count == 0
        assert not tasks  # the stuck behaviour's task is gone too
        # Our clients answered the server's close_notify and closed during stop(): only the
        # raw peer, which never reads, still has its socket.
        assert open_fds() == before + 1
        raw.close()
        await raw.wait_closed()
        for client in clients:
            await client.close()
        assert open_fds() == before
        assert [r.status for r in srecords.of(RecordKind.CLOSED)] == [Status.NO_JOB] * 3

    run(main())


def test_plain_tcp_when_activate_secure_conn_is_false(pki: Pki) -> None:
    async def main() -> None:
        plain_server = dataclasses.replace(SERVER_ANY, ActivateSecureConn=False)
        plain_client = dataclasses.replace(STANDARD_CLIENT, ActivateSecureConn=False)
        server, client, _, _ = await connected_pair(
            pki,
            behaviour=echo(),
            server_options={"block": plain_server},
            client_options={"block": plain_client},
        )
        try:
            assert client.info is not None and not client.info.secure
            await client.send(SEND_DATA)
            assert await client.receive(timeout=WAIT) == SEND_DATA
        finally:
            await client.close()
            await server.stop()

    run(main())


def test_iso_on_tcp_delivers_one_message_per_receive() -> None:
    """TCON_IP_RFC: the CR/CC exchange with TSAP check, then one TSEND = one message."""
    passive = dataclasses.replace(ISO_ON_TCP_EXAMPLE, RemoteAddress="0.0.0.0")
    active = dataclasses.replace(
        ISO_ON_TCP_EXAMPLE,
        ActiveEstablished=True,
        RemoteAddress="192.168.0.1",
        RemoteTSelector=TSelector.of("OUC-SRV"),
        LocalTSelector=TSelector.of("OUC-CLI"),
    )

    async def main() -> None:
        frames = Frames(lambda data: data)
        server = AsyncPassiveEndpoint(
            EndpointSpec.from_block(passive, receive_len=4096, check_block=False),
            behaviour=frames,
            listen=("127.0.0.1", 0),
        )
        async with server:
            client = AsyncActiveEndpoint(
                EndpointSpec.from_block(active, receive_len=4096, check_block=False),
                connect_to=("127.0.0.1", server.port),
            )
            async with client:
                message = os.urandom(3000)  # more than one 1024-byte TPDU
                await client.send(message)
                assert await client.receive(timeout=WAIT) == message
                assert [f.rcvd_len for f in frames.frames] == [3000]
                connection = client.connection
                assert connection is not None and connection.tpdu_size == 1024

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


def test_bulk_echo_with_backpressure_keeps_every_byte_in_order(pki: Pki) -> None:
    """32 MiB of 16 KiB frames echoed while the client reads behind a 64 KiB receive queue:
    reading pauses and resumes; nothing is lost, duplicated or reordered, and the client keeps
    reading while its own writes are blocked (else both sides would wait for ever)."""

    async def main() -> None:
        size, count = 16384, 2048
        server, client, _, _ = await connected_pair(
            pki,
            behaviour=echo(),
            server_options={"receive_len": size, "adhoc": False},
            client_options={"receive_len": size, "adhoc": False},
            endpoint_options={"max_buffered": 65536},
        )
        frames = [os.urandom(size) for _ in range(8)]

        async def sender() -> None:
            for i in range(count):
                await client.send(frames[i % 8])

        try:
            sending = asyncio.create_task(sender())
            got = [await client.receive(timeout=WAIT) for _ in range(count)]
            await asyncio.wait_for(sending, WAIT)
        finally:
            await client.close()
            await server.stop()
        assert got == [frames[i % 8] for i in range(count)]
        assert client.read_pauses > 0  # the receive queue did fill up

    run(main())


def test_a_client_that_never_reads_stops_the_server_reading_and_its_own_send(pki: Pki) -> None:
    """TCP flow control end to end: the client's receive queue fills (it stops reading), the
    echo server's answers cannot be written so it stops reading, the client's writes back up,
    and send() gives up after send_timeout with 16#80C5."""

    async def main() -> None:
        size = 16384
        fixed = {"receive_len": size, "adhoc": False}
        server, client, _, _ = await connected_pair(
            pki,
            behaviour=echo(),
            server_options=fixed,
            client_options=fixed,
            endpoint_options={"max_buffered": 65536, "send_timeout": 0.5, "reconnect": False},
        )
        payload = os.urandom(size)
        sent = 0
        try:
            with pytest.raises(OucConnectionError) as exc_info:
                while sent < 256 << 20:  # far more than any socket buffers hold
                    await client.send(payload)
                    sent += size
        finally:
            await client.close()
            await server.stop()
        assert exc_info.value.status == Status.PARTNER_CLOSED
        assert client.read_pauses > 0 and server.read_pauses > 0
        assert sent < 256 << 20

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
