"""The event loop of ``ouc serve`` (:mod:`ouc.drivers._aio_loop`): the lean selector's
``select()`` next to asyncio's own readers and writers, failing callbacks, the listener's
accept path, unregistration, and asyncio's default loop where Python lacks an internal.

Real sockets on 127.0.0.1 port 0 (and socket pairs); every wait is bounded, none is a sleep.
"""

from __future__ import annotations

import asyncio
import logging
import os
import selectors
import socket
import struct
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from aio_kit import LIMIT, SEND_DATA, WAIT, Pki, connected_pair, make_pki

from ouc.drivers import _aio_loop
from ouc.drivers._aio_loop import IN, OUT, Acceptor, LeanSelector, lean_event_loop
from ouc.drivers._aio_sock import LeanServer, LeanTransport, Poller
from ouc.drivers._setup import echo

T = TypeVar("T")
EVERYTHING = [
    "socket.socket._accept",
    "selectors.EpollSelector._selector.poll",
    "selectors.EpollSelector._fd_to_key",
]


def run_lean(coro: Coroutine[Any, Any, T]) -> T:
    """Run on the loop ``ouc serve`` runs on, bounded in time."""
    with asyncio.Runner(loop_factory=lean_event_loop) as runner:
        return runner.run(asyncio.wait_for(coro, LIMIT))


def lean_selector() -> LeanSelector:
    selector = getattr(asyncio.get_running_loop(), "_selector", None)
    assert isinstance(selector, LeanSelector)
    return selector


class Echo(asyncio.BufferedProtocol):
    """Echoes what arrives; raises from ``buffer_updated`` on bytes that start with boom."""

    def __init__(self) -> None:
        self.transport: LeanTransport | None = None
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
        self._buffer = bytearray(1024)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, LeanTransport)
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self._buffer)

    def buffer_updated(self, nbytes: int) -> None:
        data = bytes(self._buffer[:nbytes])
        if data.startswith(b"boom"):
            raise ValueError("boom from the protocol")
        assert self.transport is not None
        self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)


async def echo_server(made: list[Echo]) -> tuple[LeanServer, int]:
    def factory() -> Echo:
        made.append(Echo())
        return made[-1]

    server = await LeanServer.create(factory, "127.0.0.1", 0, backlog=16)
    return server, server.sockets[0].getsockname()[1]


async def round_trip(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes
) -> bytes:
    writer.write(data)
    return await asyncio.wait_for(reader.readexactly(len(data)), WAIT)


async def echoing(
    made: list[Echo],
) -> tuple[LeanServer, asyncio.StreamReader, asyncio.StreamWriter]:
    """An echo server with one connection that has answered once."""
    server, port = await echo_server(made)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    assert await round_trip(reader, writer, b"first") == b"first"
    return server, reader, writer


class Handled(list[dict[str, Any]]):
    """The loop's exception handler: keeps each context; ``wait`` for the n-th."""

    def __init__(self) -> None:
        super().__init__()
        self.changed = asyncio.Event()
        asyncio.get_running_loop().set_exception_handler(self)

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.append(context)
        self.changed.set()

    async def wait(self, count: int = 1) -> dict[str, Any]:
        async with asyncio.timeout(WAIT):
            while len(self) < count:  # bounded by the timeout
                self.changed.clear()
                await self.changed.wait()
        return self[count - 1]


class Target:
    """A stand-in for a lean transport in the selector: records its calls, may raise."""

    def __init__(self, mask: int, *, fail: bool = False) -> None:
        self._mask = mask
        self.fail = fail
        self.calls: list[str] = []

    def _read_ready(self) -> None:
        self.calls.append("read")
        if self.fail:
            raise RuntimeError("lean callback failed on purpose")

    def _write_ready(self) -> None:
        self.calls.append("write")


def accept_queue(listener: socket.socket) -> int:
    """Connections waiting in a listening socket's accept queue (Linux: TCP_INFO's unacked)."""
    info = listener.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    return struct.unpack_from("8B6I", info)[12]


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


# ---------------------------------------------------------------------------- select() itself


def test_select_reports_asyncio_masks_and_calls_lean_targets_for_what_they_want() -> None:
    """``select()`` turns epoll events into asyncio's READ/WRITE masks (only the events a key
    asked for, hang-up as readable) and hands lean sockets' events to their targets, gated by
    the target's own mask; those never appear in the list asyncio gets."""
    selector = LeanSelector()
    a, b = socket.socketpair()
    c, d = socket.socketpair()
    try:
        key = selector.register(a, selectors.EVENT_READ)
        assert selector.select(0) == []  # writable, but only READ was asked for
        b.send(b"x")
        assert selector.select(0) == [(key, selectors.EVENT_READ)]
        key = selector.modify(a, selectors.EVENT_READ | selectors.EVENT_WRITE)
        assert selector.select(0) == [(key, selectors.EVENT_READ | selectors.EVENT_WRITE)]
        assert a.recv(16) == b"x"
        assert selector.select(0) == [(key, selectors.EVENT_WRITE)]

        target = Target(OUT)  # registered for both, but wants only writing now
        selector.epoll.register(c.fileno(), IN | OUT)
        selector.lean[c.fileno()] = target  # type: ignore[assignment]
        d.send(b"y")
        assert selector.select(0) == [(key, selectors.EVENT_WRITE)]
        assert target.calls == ["write"]
        target._mask = IN
        selector.select(0)
        assert target.calls == ["write", "read"]
        target._mask = IN | OUT
        selector.select(0)
        assert target.calls == ["write", "read", "read", "write"]

        key = selector.modify(a, selectors.EVENT_READ)
        b.close()  # hang-up: asyncio's reader must see it as readable
        del selector.lean[c.fileno()]
        selector.epoll.unregister(c.fileno())
        assert selector.select(0) == [(key, selectors.EVENT_READ)]
    finally:
        selector.close()
        for sock in (a, b, c, d):
            sock.close()


def test_a_lean_callback_that_raises_is_reported_and_the_rest_of_the_batch_runs(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """One failing target in a ready list: its exception goes to the loop's exception handler
    (or, with no loop, the log); the other lean target and asyncio's key in the same
    ``select()`` call are still served."""
    selector = LeanSelector()
    loop = asyncio.new_event_loop()
    reports: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reports.append(context))
    selector.loop = loop
    pairs = [socket.socketpair() for _ in range(3)]
    try:
        failing, fine = Target(IN, fail=True), Target(IN)
        for (mine, _), target in zip(pairs, (failing, fine), strict=False):
            selector.epoll.register(mine.fileno(), IN)
            selector.lean[mine.fileno()] = target  # type: ignore[assignment]
        key = selector.register(pairs[2][0], selectors.EVENT_READ)
        for _, theirs in pairs:
            theirs.send(b"z")
        assert selector.select(0) == [(key, selectors.EVENT_READ)]
        assert failing.calls == ["read"] and fine.calls == ["read"]
        assert [r["message"] for r in reports] == ["lean transport callback failed"]
        assert str(reports[0]["exception"]) == "lean callback failed on purpose"

        selector.loop = None
        with caplog.at_level(logging.ERROR, logger="ouc.drivers"):
            selector.select(0)
        assert "lean transport callback failed" in caplog.text
        assert "lean callback failed on purpose" in caplog.text
        assert len(reports) == 1
    finally:
        selector.close()
        loop.close()
        for pair in pairs:
            for sock in pair:
                sock.close()


# ---------------------------------------------------------------------------- on the loop


def test_the_loop_of_ouc_serve_is_over_a_lean_selector_that_reports_to_it() -> None:
    async def main() -> None:
        selector = lean_selector()
        assert selector.loop is asyncio.get_running_loop()
        assert _aio_loop.missing_internals(selector) == []

    run_lean(main())


def test_a_protocol_that_raises_is_reported_and_closed_while_the_others_are_served() -> None:
    async def main() -> None:
        handled = Handled()
        made: list[Echo] = []
        server, port = await echo_server(made)
        r1, w1 = await asyncio.open_connection("127.0.0.1", port)
        r2, w2 = await asyncio.open_connection("127.0.0.1", port)
        assert await round_trip(r1, w1, b"one") == b"one"
        assert await round_trip(r2, w2, b"two") == b"two"
        w1.write(b"boom!")
        context = await handled.wait()
        assert context["message"] == "protocol.buffer_updated() call failed"
        assert str(context["exception"]) == "boom from the protocol"
        assert context["transport"] is made[0].transport
        assert await asyncio.wait_for(r1.read(), WAIT) == b""  # that connection is closed
        assert isinstance(await asyncio.wait_for(made[0].lost, WAIT), ValueError)
        assert await round_trip(r2, w2, b"still") == b"still"  # the other one is served
        r3, w3 = await asyncio.open_connection("127.0.0.1", port)
        assert await round_trip(r3, w3, b"new") == b"new"  # and new ones are accepted
        assert len(handled) == 1
        for writer in (w1, w2, w3):
            writer.close()
        server.close()

    run_lean(main())


def test_asyncio_readers_and_writers_fire_next_to_lean_sockets() -> None:
    """``add_reader`` and ``add_writer`` on one socket of a pair, on the loop whose epoll
    also serves a lean echo connection: both fire, and the echo keeps answering."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        selector = lean_selector()
        made: list[Echo] = []
        server, reader, writer = await echoing(made)
        a, b = socket.socketpair()
        a.setblocking(False)
        readable: asyncio.Future[bytes] = loop.create_future()
        writable: asyncio.Future[None] = loop.create_future()

        def on_readable() -> None:
            data = a.recv(64)
            if not readable.done():
                readable.set_result(data)
            loop.remove_reader(a.fileno())

        def on_writable() -> None:
            if not writable.done():
                writable.set_result(None)
            loop.remove_writer(a.fileno())

        loop.add_reader(a.fileno(), on_readable)
        loop.add_writer(a.fileno(), on_writable)
        both = selectors.EVENT_READ | selectors.EVENT_WRITE
        assert selector.get_key(a.fileno()).events == both
        assert a.fileno() not in selector.lean
        assert made[0].transport is not None and made[0].transport._fd in selector.lean
        await asyncio.wait_for(writable, WAIT)  # an empty socket is writable at once
        assert not readable.done()  # nothing to read yet
        b.send(b"asyncio")
        assert await round_trip(reader, writer, b"between") == b"between"
        assert await asyncio.wait_for(readable, WAIT) == b"asyncio"
        assert a.fileno() not in selector.get_map()
        writer.close()
        server.close()
        a.close()
        b.close()

    run_lean(main())


def test_one_wake_up_of_the_listener_accepts_every_waiting_connection() -> None:
    """Five connections wait in the accept queue before the server watches its listener: the
    acceptor is called once and takes all five."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        selector = lean_selector()
        listener = socket.create_server(("127.0.0.1", 0), backlog=16)
        clients = [socket.create_connection(listener.getsockname(), WAIT) for _ in range(5)]
        assert accept_queue(listener) == 5
        made: list[Echo] = []
        all_made: asyncio.Future[None] = loop.create_future()

        def factory() -> Echo:
            made.append(Echo())
            if len(made) == len(clients):
                all_made.set_result(None)
            return made[-1]

        server = LeanServer(loop, [listener], factory)
        acceptor = selector.lean[listener.fileno()]
        assert isinstance(acceptor, Acceptor)
        wakeups: list[int] = []
        accept = acceptor._read_ready

        def counted() -> None:
            wakeups.append(len(made))
            accept()

        acceptor._read_ready = counted  # type: ignore[method-assign]
        await asyncio.wait_for(all_made, WAIT)
        assert wakeups == [0]
        fds = {protocol.transport._fd for protocol in made if protocol.transport is not None}
        assert len(fds) == 5 and fds <= selector.lean.keys()
        client = clients[3]
        client.setblocking(False)
        await loop.sock_sendall(client, b"fourth")
        assert await asyncio.wait_for(loop.sock_recv(client, 64), WAIT) == b"fourth"
        server.close()
        assert listener.fileno() == -1 and len(selector.lean) == 5
        for sock in clients:
            sock.close()

    run_lean(main())


def test_a_closed_transport_leaves_the_epoll_and_its_number_serves_again() -> None:
    """close() takes the socket out of the shared epoll at once (before the socket closes);
    the freed descriptor number then works for an asyncio reader and for a lean transport."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        selector = lean_selector()
        made: list[Echo] = []
        server, reader, writer = await echoing(made)
        transport = made[0].transport
        assert transport is not None
        fd = transport._fd
        assert fd in selector.lean
        transport.close()
        assert fd not in selector.lean
        with pytest.raises(FileNotFoundError):  # not in the epoll, though the socket is open
            selector.epoll.modify(fd, IN)
        assert await asyncio.wait_for(made[0].lost, WAIT) is None
        assert await asyncio.wait_for(reader.read(), WAIT) == b""
        with pytest.raises(OSError):
            os.fstat(fd)  # the number is free: nothing else holds it

        a, b = socket.socketpair()  # the lowest free number: usually ``fd`` itself
        if a.fileno() == fd:
            reused = a
        else:
            reused = socket.socket(fileno=os.dup2(a.fileno(), fd))
            a.close()
        assert reused.fileno() == fd
        reused.setblocking(False)
        b.setblocking(False)
        got: asyncio.Future[bytes] = loop.create_future()
        loop.add_reader(fd, lambda: got.done() or got.set_result(reused.recv(64)))
        await loop.sock_sendall(b, b"asyncio again")
        assert await asyncio.wait_for(got, WAIT) == b"asyncio again"
        assert loop.remove_reader(fd)

        poller = Poller(loop)
        again = Echo()
        LeanTransport(loop, reused, again, None, poller).start()
        assert selector.lean[fd] is again.transport
        await loop.sock_sendall(b, b"lean again")
        assert await asyncio.wait_for(loop.sock_recv(b, 64), WAIT) == b"lean again"
        assert again.transport is not None
        again.transport.close()
        assert await asyncio.wait_for(again.lost, WAIT) is None
        assert fd not in selector.lean and reused.fileno() == -1
        poller.retire()
        writer.close()
        server.close()
        b.close()

    run_lean(main())


# ---------------------------------------------------------------------------- the fallback


def test_missing_internals_names_what_is_missing() -> None:
    selector = LeanSelector()
    try:
        assert _aio_loop.missing_internals(selector) == []
    finally:
        selector.close()
    assert _aio_loop.missing_internals(object(), sock_class=object) == EVERYTHING
    assert _aio_loop.missing_internals(sock_class=object) == EVERYTHING[:1]


def test_without_the_internals_serve_runs_on_asyncios_loop_and_still_serves_tls(
    pki: Pki, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Forced fallback: ``lean_event_loop`` gives asyncio's default loop, the connections sit in
    the Poller's own epoll, the listener accepts with ``socket.accept()``; a mutual TLS
    connection exchanges a Send_Data frame through it."""
    monkeypatch.setattr(_aio_loop, "missing_internals", lambda *_a, **_k: list(EVERYTHING))
    accepts: list[int] = []
    public_accept = socket.socket.accept

    def counting_accept(self: socket.socket) -> tuple[socket.socket, Any]:
        accepted = public_accept(self)
        accepts.append(self.fileno())
        return accepted

    monkeypatch.setattr(socket.socket, "accept", counting_accept)

    async def main() -> None:
        assert not isinstance(getattr(asyncio.get_running_loop(), "_selector", None), LeanSelector)
        server, client, _, _ = await connected_pair(pki, behaviour=echo())
        try:
            assert client.info is not None and client.info.version in ("TLSv1.2", "TLSv1.3")
            await client.send(SEND_DATA)
            assert await client.receive(timeout=WAIT) == SEND_DATA
        finally:
            await client.close()
            await server.stop()

    with caplog.at_level(logging.INFO, logger="ouc.drivers"):
        run_lean(main())
    assert len(accepts) == 1
    assert "asyncio's default event loop: this Python lacks socket.socket._accept" in caplog.text
