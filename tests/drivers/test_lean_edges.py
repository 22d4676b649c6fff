"""Edges of the lean selector and transports (:mod:`ouc.drivers._aio_loop`,
:mod:`ouc.drivers._aio_sock`) where a shortcut would be wrong:

* a reset connection's socket leaves the epoll even when another descriptor still holds the
  socket (a forked child, here a ``dup``): closing alone would leave it reporting a hung-up
  peer on every poll, and the idle loop would spin;
* deferred calls queued in every pass do not starve the lean timers;
* a KeyboardInterrupt from one deferred call keeps the rest of its batch for a later pass.

Real sockets on 127.0.0.1 port 0; every wait is bounded, none is a sleep.
"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from typing import Any

import pytest
from aio_kit import WAIT, run_lean

from ouc.drivers._aio_loop import LeanSelector, lean_event_loop
from ouc.drivers._aio_sock import LeanServer


def lean_selector(loop: asyncio.AbstractEventLoop) -> LeanSelector:
    selector = getattr(loop, "_selector", None)
    assert isinstance(selector, LeanSelector)
    return selector


class _Lost(asyncio.BufferedProtocol):
    def __init__(self, made: asyncio.Queue[_Lost]) -> None:
        self.made = made
        self.buffer = bytearray(4096)
        self.lost: asyncio.Future[Exception | None] = asyncio.get_running_loop().create_future()
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.made.put_nowait(self)

    def get_buffer(self, sizehint: int) -> bytearray:
        return self.buffer

    def buffer_updated(self, nbytes: int) -> None:
        pass

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost.set_result(exc)


def test_a_reset_socket_leaves_the_epoll_while_a_duplicate_keeps_it_open() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        epoll = lean_selector(loop).epoll
        made: asyncio.Queue[_Lost] = asyncio.Queue()
        server = await LeanServer.create(lambda: _Lost(made), "127.0.0.1", 0, backlog=4)
        port = server.sockets[0].getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        proto = await asyncio.wait_for(made.get(), WAIT)
        duplicate = os.dup(proto.transport.get_extra_info("socket").fileno())
        try:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            client.close()  # RST: the server's recv fails and the transport closes its socket
            assert isinstance(await asyncio.wait_for(proto.lost, WAIT), ConnectionResetError)
            # Nothing left that reports: the reset socket is not in the epoll any more.
            assert epoll.poll(0) == []
        finally:
            os.close(duplicate)
            server.close()

    run_lean(main())


def test_deferred_calls_in_every_pass_do_not_starve_the_timers() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        selector = lean_selector(loop)
        fired = loop.create_future()
        selector.call_at(loop.time() + 0.02, lambda: fired.set_result(loop.time()))
        end = loop.time() + WAIT
        for _ in range(1_000_000):  # bounded in count and time
            if fired.done() or loop.time() > end:
                break
            selector.call_soon(lambda: None)  # as a transport closed from a task every pass
            await asyncio.sleep(0)
        assert fired.done(), "a due lean timer did not run while deferred calls kept coming"

    run_lean(main())


def test_an_interrupt_in_a_deferred_call_keeps_the_rest_for_later() -> None:
    loop = lean_event_loop()
    try:
        selector = lean_selector(loop)
        ran: list[int] = []

        def interrupt() -> None:
            raise KeyboardInterrupt

        selector.call_soon(ran.append, 1)
        selector.call_soon(interrupt)
        selector.call_soon(ran.append, 3)  # e.g. another transport's connection_lost
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(asyncio.sleep(0.01))
        assert ran == [1]
        loop.run_until_complete(asyncio.sleep(0))  # the loop runs again, as asyncio.run's end
        assert ran == [1, 3]
    finally:
        loop.close()
