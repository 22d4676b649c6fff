"""The lean selector's own timers and deferred calls, and its waiting without loop iterations
(:mod:`ouc.drivers._aio_loop`): deadlines run in order and never early, cancelled ones never
and are compacted, deferred calls run after the events at hand with failures reported, asyncio's
own handles and timers still run at once, and an established connection's round trips need no
iteration of the loop.

Real sockets on 127.0.0.1 port 0; every wait is bounded, none is a sleep.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from aio_kit import WAIT, run_lean

from ouc.drivers import _aio_loop
from ouc.drivers._aio_loop import LeanSelector
from ouc.drivers._aio_sock import LeanServer

# A lean timer's work reaches asyncio at once, not when asyncio's own next timer (this bound,
# armed by wait_for) makes the poll return: waits on what lean timers do use this, not WAIT.
PROMPT = 2.0


def lean_selector() -> LeanSelector:
    selector = getattr(asyncio.get_running_loop(), "_selector", None)
    assert isinstance(selector, LeanSelector)
    return selector


def test_deadlines_run_in_order_never_early_and_cancelled_ones_never() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        selector = lean_selector()
        done = loop.create_future()
        ran: list[tuple[str, float, float]] = []

        def at(name: str, when: float) -> Any:
            def fire() -> None:
                ran.append((name, when, loop.time()))
                if name == "last":
                    done.set_result(None)

            return selector.call_at(when, fire)

        now = loop.time()
        at("last", now + 0.06)
        at("first", now + 0.02)
        at("second", now + 0.04)
        at("cancelled", now + 0.03).cancel()
        await asyncio.wait_for(done, PROMPT)
        assert [name for name, _, _ in ran] == ["first", "second", "last"]
        resolution = _aio_loop._RESOLUTION
        assert all(fired >= when - resolution for _, when, fired in ran)

    run_lean(main())


def test_many_cancelled_deadlines_are_dropped_before_they_are_due() -> None:
    """As asyncio does with cancelled timer handles: a heap mostly of cancelled deadlines is
    rebuilt, so an established connection's cancelled handshake deadline is not held until it
    would have fired."""

    async def main() -> None:
        loop = asyncio.get_running_loop()
        selector = lean_selector()
        for _ in range(300):
            selector.call_at(loop.time() + 3600, lambda: None).cancel()
        done = loop.create_future()
        selector.call_at(loop.time() + 0.01, lambda: done.set_result(None))
        await asyncio.wait_for(done, PROMPT)
        assert len(selector._timers) < 300

    run_lean(main())


@pytest.mark.parametrize("how", ["call_soon", "call_at"])
def test_a_failing_deferred_call_or_timer_is_reported_and_the_next_one_runs(how: str) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        selector = lean_selector()
        handled: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _, context: handled.append(context))
        done = loop.create_future()

        def fail() -> None:
            raise ValueError(f"{how} failed on purpose")

        if how == "call_soon":
            selector.call_soon(fail)
            selector.call_soon(done.set_result, "after the failure")
        else:
            selector.call_at(loop.time(), fail)
            selector.call_at(loop.time() + 0.01, lambda: done.set_result("after the failure"))
        assert await asyncio.wait_for(done, PROMPT) == "after the failure"
        assert [type(context["exception"]) for context in handled] == [ValueError]

    run_lean(main())


class Echo(asyncio.BufferedProtocol):
    """Echoes; on b"later" it arms an asyncio timer from inside the lean callback."""

    def __init__(self, later: asyncio.Future[str]) -> None:
        self.later = later
        self.buffer = bytearray(256)
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def get_buffer(self, sizehint: int) -> memoryview:
        return memoryview(self.buffer)

    def buffer_updated(self, nbytes: int) -> None:
        data = bytes(self.buffer[:nbytes])
        if data == b"later":
            asyncio.get_running_loop().call_later(0.01, self.later.set_result, "fired")
        assert self.transport is not None
        self.transport.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        pass


def round_trips(port: int, count: int, last: bytes = b"") -> int:
    """A blocking client outside the loop: ``count`` one-byte round trips, then ``last``."""
    with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as sock:
        for _ in range(count):
            sock.sendall(b"x")
            assert sock.recv(1) == b"x"
        if last:
            sock.sendall(last)
            assert sock.recv(len(last)) == last
    return count


@pytest.mark.parametrize("trips", [200])
def test_round_trips_need_no_loop_iteration_and_asyncio_timers_still_run(
    monkeypatch: pytest.MonkeyPatch, trips: int
) -> None:
    """While asyncio has nothing to do, select() serves the lean sockets by itself: 200 round
    trips take far fewer than 200 iterations of the loop. An asyncio timer armed from a lean
    callback still fires (select() returns to the loop for it)."""
    iterations = [0]
    run_once = _aio_loop.LeanEventLoop._run_once  # type: ignore[attr-defined]

    def counted(self: asyncio.AbstractEventLoop) -> None:
        iterations[0] += 1
        run_once(self)

    monkeypatch.setattr(_aio_loop.LeanEventLoop, "_run_once", counted, raising=False)

    async def main() -> str:
        loop = asyncio.get_running_loop()
        later: asyncio.Future[str] = loop.create_future()
        server = await LeanServer.create(lambda: Echo(later), "127.0.0.1", 0, backlog=4)
        port = server.sockets[0].getsockname()[1]
        try:
            start = iterations[0]
            await asyncio.wait_for(asyncio.to_thread(round_trips, port, trips), WAIT)
            assert iterations[0] - start < trips // 4
            await asyncio.wait_for(asyncio.to_thread(round_trips, port, 1, b"later"), WAIT)
            return await asyncio.wait_for(later, PROMPT)
        finally:
            server.close()

    assert run_lean(main()) == "fired"
