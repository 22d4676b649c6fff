"""The passive asyncio endpoint's lean listener and transport, on 127.0.0.1 port 0.

Each test runs a :class:`LeanServer` with a small recording protocol against a plain socket
client driven by asyncio's own streams; waits are bounded and event-driven (futures the
protocol resolves), never sleeps.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from ouc.drivers._aio_sock import LeanServer, LeanTransport

T = TypeVar("T")
LIMIT = 20.0  # seconds any one test may run
WAIT = 10.0  # seconds any one wait may take (generous for a loaded 2-core machine)


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, LIMIT))


class Recorder(asyncio.BufferedProtocol):
    """Keeps what arrives and the callbacks' order; futures for made, eof and lost."""

    def __init__(self, *, keep_open: bool = True) -> None:
        loop = asyncio.get_running_loop()
        self.made: asyncio.Future[LeanTransport] = loop.create_future()
        self.eof: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[Exception | None] = loop.create_future()
        self.resumed: asyncio.Future[None] = loop.create_future()
        self.data = bytearray()
        self.arrived = asyncio.Event()  # set whenever bytes arrive
        self.calls: list[str] = []
        self.keep_open = keep_open
        self._buffer = bytearray(1024)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, LeanTransport)
        self.calls.append("made")
        self.made.set_result(transport)

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self._buffer)

    def buffer_updated(self, nbytes: int) -> None:
        self.data += self._buffer[:nbytes]
        self.arrived.set()

    def eof_received(self) -> bool:
        self.calls.append("eof")
        self.eof.set_result(None)
        return self.keep_open

    def pause_writing(self) -> None:
        self.calls.append("pause")

    def resume_writing(self) -> None:
        self.calls.append("resume")
        self.resumed.set_result(None)

    def connection_lost(self, exc: Exception | None) -> None:
        self.calls.append("lost")
        self.lost.set_result(exc)


async def serve(**options: Any) -> tuple[LeanServer, Made, int]:
    made = Made()

    def factory() -> Recorder:
        made.append(Recorder(**options))
        if not made.first.done():
            made.first.set_result(made[-1])
        return made[-1]

    server = await LeanServer.create(factory, "127.0.0.1", 0, backlog=16)
    return server, made, server.sockets[0].getsockname()[1]


async def accepted(made: list[Recorder]) -> tuple[Recorder, LeanTransport]:
    """The first accepted connection's protocol and transport (bounded wait)."""
    assert isinstance(made, Made)
    first = made.first
    protocol = await asyncio.wait_for(first, WAIT)
    return protocol, await asyncio.wait_for(protocol.made, WAIT)


class Made(list[Recorder]):
    """The protocols the server made; ``first`` resolves with the first one."""

    def __init__(self) -> None:
        super().__init__()
        self.first: asyncio.Future[Recorder] = asyncio.get_running_loop().create_future()


def test_bytes_both_ways_then_the_partner_closes() -> None:
    async def main() -> None:
        server, made, port = await serve(keep_open=False)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        protocol, transport = await accepted(made)
        assert transport.get_extra_info("peername") == writer.get_extra_info("sockname")
        assert transport.get_extra_info("socket").fileno() >= 0
        writer.write(b"ping")
        transport.write(b"pong")
        assert await asyncio.wait_for(reader.readexactly(4), WAIT) == b"pong"
        writer.write_eof()
        await asyncio.wait_for(protocol.eof, WAIT)
        assert await asyncio.wait_for(protocol.lost, WAIT) is None
        assert protocol.data == b"ping"
        assert protocol.calls == ["made", "eof", "lost"]
        assert transport.get_extra_info("socket").fileno() == -1  # closed after lost
        assert await asyncio.wait_for(reader.read(), WAIT) == b""
        writer.close()
        server.close()

    run(main())


def test_a_partner_that_does_not_read_pauses_writing_and_everything_arrives_in_order() -> None:
    async def main() -> None:
        server, made, port = await serve()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        protocol, transport = await accepted(made)
        chunk = 64 * 1024
        total = 0
        for number in range(200):  # bounded: far more than the socket buffers hold
            transport.write(struct.pack(">I", number) * (chunk // 4))
            total += chunk
            if "pause" in protocol.calls:
                break
        assert "pause" in protocol.calls
        assert transport.get_write_buffer_size() > 0
        transport.write_eof()  # FIN only after the buffered bytes
        transport.close()  # closes once they are out
        received = await asyncio.wait_for(reader.read(), WAIT * 2)
        assert len(received) == total
        numbers = struct.unpack(f">{total // 4}I", received)
        assert numbers == tuple(n for n in range(total // chunk) for _ in range(chunk // 4))
        await asyncio.wait_for(protocol.resumed, WAIT)
        assert await asyncio.wait_for(protocol.lost, WAIT) is None
        assert protocol.calls[-2:] == ["resume", "lost"]
        writer.close()
        server.close()

    run(main())


def test_abort_with_linger_zero_resets_the_partner() -> None:
    async def main() -> None:
        server, made, port = await serve()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        protocol, transport = await accepted(made)
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.write(b"dropped?")  # sent already: the socket had room
        transport.abort()
        transport.abort()  # twice is harmless: one connection_lost
        assert await asyncio.wait_for(protocol.lost, WAIT) is None
        with pytest.raises(ConnectionResetError):
            async with asyncio.timeout(WAIT):
                while await reader.read(1024):  # bounded by the timeout
                    pass
        assert protocol.calls == ["made", "lost"]
        writer.close()
        server.close()

    run(main())


def test_paused_reading_holds_the_bytes_until_resumed() -> None:
    async def main() -> None:
        server, made, port = await serve()
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        protocol, transport = await accepted(made)
        transport.pause_reading()
        assert not transport.is_reading()
        writer.write(b"held")
        await writer.drain()
        # The loop turns while reading is paused: nothing may be taken from the socket.
        for _ in range(20):
            await asyncio.sleep(0)
        assert protocol.data == b""
        transport.resume_reading()
        await asyncio.wait_for(protocol.arrived.wait(), WAIT)
        assert protocol.data == b"held"
        transport.close()
        assert await asyncio.wait_for(protocol.lost, WAIT) is None
        writer.close()
        server.close()

    run(main())


def test_a_closed_server_accepts_no_more() -> None:
    async def main() -> None:
        server, made, port = await serve()
        server.close()
        server.close()
        assert server.sockets == ()
        with pytest.raises(ConnectionRefusedError):
            await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), WAIT)
        assert made == []

    run(main())


def test_a_taken_port_raises_the_bind_error() -> None:
    async def main() -> None:
        server, _, port = await serve()
        with contextlib.ExitStack() as stack:
            stack.callback(server.close)
            with pytest.raises(OSError):
                await LeanServer.create(Recorder, "127.0.0.1", port, backlog=1)

    run(main())


class Raising(Recorder):
    """buffer_updated raises (as a broken peer verifier's exception comes out of the link)."""

    def buffer_updated(self, nbytes: int) -> None:
        super().buffer_updated(nbytes)
        raise RuntimeError("broken protocol")


def test_a_raising_protocol_callback_closes_the_connection_and_is_reported() -> None:
    """Like asyncio's transport: the loop's exception handler hears of it, the connection is
    closed at once with ``connection_lost(exc)``, nothing more is read."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        reported: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _loop, context: reported.append(context))
        made: list[Raising] = []
        first: asyncio.Future[Raising] = loop.create_future()

        def factory() -> Raising:
            made.append(Raising())
            if not first.done():
                first.set_result(made[-1])
            return made[-1]

        server = await LeanServer.create(factory, "127.0.0.1", 0, backlog=4)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"boom")
        await writer.drain()
        protocol = await asyncio.wait_for(first, WAIT)
        lost = await asyncio.wait_for(protocol.lost, WAIT)
        assert isinstance(lost, RuntimeError) and str(lost) == "broken protocol"
        assert [c["message"] for c in reported] == ["protocol.buffer_updated() call failed"]
        assert protocol.calls == ["made", "lost"] and made == [protocol]
        with contextlib.suppress(ConnectionResetError):
            assert await asyncio.wait_for(reader.read(), WAIT) == b""
        writer.close()
        server.close()

    run(main())


class Refilling(Recorder):
    """A producer that writes again from inside resume_writing (as a stream writer would)."""

    block = 1 << 20

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        assert isinstance(transport, LeanTransport)
        self.transport = transport
        sock = transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        self.sent = 0
        self.rounds = 0
        self._refill()

    def _refill(self) -> None:
        self.transport.write(bytes([self.rounds]) * self.block)
        self.sent += self.block

    def resume_writing(self) -> None:
        self.rounds += 1
        if self.rounds < 3:
            self._refill()
        else:
            self.transport.close()


def test_a_write_from_inside_resume_writing_is_not_lost() -> None:
    async def main() -> None:
        made: list[Refilling] = []

        def factory() -> Refilling:
            made.append(Refilling())
            return made[-1]

        server = await LeanServer.create(factory, "127.0.0.1", 0, backlog=4)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 24)
        received = await asyncio.wait_for(reader.read(-1), WAIT * 2)  # until the close
        protocol = made[0]
        assert protocol.sent == 3 * Refilling.block
        assert received == b"".join(bytes([n]) * Refilling.block for n in range(3))
        assert await asyncio.wait_for(protocol.lost, WAIT) is None
        writer.close()
        server.close()

    run(main())


def test_connections_share_one_reader_of_the_loop() -> None:
    """Thirty connections add one reader to the loop (the server's poller), not thirty; each
    still gets its own bytes, accepted sockets inherit TCP_NODELAY from the listener, and once
    the server closed and the last connection is gone the poller leaves the loop too."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        selector = loop._selector  # type: ignore[attr-defined]
        before = len(selector.get_map())
        protocols: list[Recorder] = []
        all_made: asyncio.Future[None] = loop.create_future()

        def factory() -> Recorder:
            protocols.append(Recorder(keep_open=False))
            if len(protocols) == 30:
                all_made.set_result(None)
            return protocols[-1]

        server = await LeanServer.create(factory, "127.0.0.1", 0, backlog=64)
        port = server.sockets[0].getsockname()[1]
        with_server = len(selector.get_map())
        assert with_server == before + 2  # the listening socket and the poller
        clients = [await asyncio.open_connection("127.0.0.1", port) for _ in range(30)]
        await asyncio.wait_for(all_made, WAIT)
        # The thirty clients' own readers are there; the server's thirty are not.
        assert len(selector.get_map()) == with_server + 30
        transport = await asyncio.wait_for(protocols[0].made, WAIT)
        sock = transport.get_extra_info("socket")
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        for index, (_, writer) in enumerate(clients):
            writer.write(f"{index:03d}".encode())
            writer.write_eof()
        await asyncio.wait_for(asyncio.gather(*(p.eof for p in protocols)), WAIT)
        assert sorted(bytes(p.data) for p in protocols) == [
            f"{index:03d}".encode() for index in range(30)
        ]
        server.close()
        await asyncio.wait_for(asyncio.gather(*(p.lost for p in protocols)), WAIT)
        for _, writer in clients:
            writer.close()
            await asyncio.wait_for(writer.wait_closed(), WAIT)
        assert len(selector.get_map()) == before  # the poller left with its last connection

    run(main())
