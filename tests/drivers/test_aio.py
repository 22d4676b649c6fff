"""Socket tests of the asyncio driver on 127.0.0.1 port 0: real TLS, real certificates.

Each test runs its own event loop (``asyncio.run`` under a time limit) with an
:class:`AsyncPassiveEndpoint` and :class:`AsyncActiveEndpoint` (or a raw TCP peer for what our
own client never does). Waits are bounded and event-driven: the endpoints' status records, the
behaviours' frames and the clients' futures — never a sleep.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aio_kit import (
    SEND_DATA,
    SERVER_ANY,
    WAIT,
    Frames,
    Pki,
    Records,
    client_spec,
    connected_pair,
    make_pki,
    run,
    server_spec,
    wait_until,
)

from ouc.certs import CertStore
from ouc.conn import FrameReceived
from ouc.drivers import example_pem, standard_example
from ouc.drivers._aio import AsyncPassiveEndpoint
from ouc.drivers._aio_active import AsyncActiveEndpoint
from ouc.drivers._records import RecordKind
from ouc.drivers._setup import AddressMap, EndpointSpec, PeerContext, echo, reply
from ouc.errors import (
    OucConnectionError,
    Status,
    WaitTimeoutError,
)
from ouc.params import ISO_ON_TCP_EXAMPLE, STANDARD_CLIENT, STANDARD_SERVER, TSelector


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


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


async def _echo_later(frame: FrameReceived, peer: PeerContext) -> bytes:
    return frame.data  # an asynchronous behaviour: the answer goes out through send_answer


@pytest.mark.parametrize("behaviour", [echo(), _echo_later], ids=["bytes", "awaitable"])
def test_an_answer_to_a_partner_that_closed_is_a_lost_send_not_a_behaviour_failure(
    behaviour: Any, store: CertStore, tmp_path: Path, raw_tls: Any
) -> None:
    """Two frames and the partner's close_notify in one segment: the connection has ended
    (16#80C5, half_close "drop") before the behaviour answers, so TSEND_C refuses each answer
    with 16#80A3 (TIA help: no connection). The behaviour worked: send-failed, not
    behaviour-failed, and the reason names what was lost."""
    setup = standard_example(store)
    pem = example_pem(store, tmp_path / "pem")
    ctx = raw_tls.context(pem.ca, pem.client_cert, pem.client_key)

    async def main() -> None:
        records = Records()
        server = AsyncPassiveEndpoint(
            setup.server, behaviour=behaviour, address_map=setup.address_map, on_event=records
        )
        async with server:
            frames = b"\x01" * 258 + b"\x02" * 258
            echoed = await asyncio.to_thread(raw_tls.send_then_close, ctx, server.address, frames)
            await records.wait(RecordKind.CLOSED)
            lost = await records.wait(RecordKind.SEND_FAILED, count=2)
        assert echoed == b""
        statuses = [r.status for r in records.of(RecordKind.SEND_FAILED)]
        assert statuses == [Status.NO_SUCH_CONNECTION] * 2
        assert lost.reason == (
            "answer of 258 bytes not sent: the connection had ended (the partner closed the "
            "connection)"
        )
        assert lost.line().endswith(f"16#80A3 send-failed - {lost.reason}")
        assert not records.of(RecordKind.BEHAVIOUR_FAILED)

    run(main())


def test_stop_closes_every_socket_and_leaves_no_task(
    pki: Pki, open_sockets: Callable[[], set[str]]
) -> None:
    async def main() -> None:
        before = open_sockets()
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
        raw_inode = os.fstat(raw.get_extra_info("socket").fileno()).st_ino
        assert open_sockets() - before == {f"socket:[{raw_inode}]"}
        raw.close()
        await raw.wait_closed()
        for client in clients:
            await client.close()
        assert open_sockets() - before == set()
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
