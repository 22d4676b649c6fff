"""The asyncio protocol that moves bytes between one TCP connection and one sans-I/O Connection.

This is deliberately *not* ``asyncio.start_server(ssl=...)``: asyncio's own TLS keeps a 256 KiB
read buffer and a stack of Python objects per connection (~280 KB, perf-anchors.md). Here a plain
:class:`asyncio.BufferedProtocol` receives into one buffer shared by every connection of the
event loop (callbacks of one loop never overlap, and the TLS engine copies what it is fed into
its memory BIO), feeds :meth:`ouc.conn.Connection.receive_data`, drains the events and writes
:meth:`~ouc.conn.Connection.data_to_send` with one ``transport.write`` per batch. A link has
``__slots__``, creates no task and no closure per frame, and arms at most one timer.

Timers are lazy: the handle stays armed while the connection's deadline only moves later (the
idle deadline moves on every frame); when it fires, ``handle_timer`` decides and the handle is
re-armed at the current ``next_timer()``. So a busy connection costs one timer per idle period
rather than one per frame. It is re-armed at once only when a deadline moves earlier, and
cancelled when there is none (an established connection without idle timeout holds no timer).

Backpressure: reading pauses while an asynchronous behaviour is still working on a frame,
(passive side) while the transport's write buffer is above its high-water mark
(``pause_writing``), and (active side) while too many received frames wait for ``receive()``.

Where the bytes of an idle TLS connection go (server side, server auth, 10,000 connections:
24.2 KB RSS): OpenSSL 4.0 ~22.5 KB (two record layers with 32-pipeline arrays 8.8 KB,
``SSL_new`` 6.3 KB, the cipher contexts 2.3 KB, the sessions 1.9 KB; the engine gives its
memory BIOs back after the handshake and takes a fresh pair with the first record, so an idle
connection holds none), ~4 KB more for the parsed client certificate kept in the session with
mutual TLS; Python ~1.5 KB: the ``Connection`` (slots, a STATUS history of shared entries),
the engine (its own ``SSL`` object, no pyOpenSSL wrapper, no handshake state once
established, out of the callback map, one shared ``SessionInfo`` per context), this link, and
on the passive side the lean transport of :mod:`ouc.drivers._aio_sock` instead of asyncio's
(~1 KB less). Event queues are lists: an empty deque costs ~700 B. benchmarks/RESULTS.md has
the whole breakdown.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import socket
import struct
import weakref
from collections.abc import Awaitable
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from ouc.conn import ConnectionEvent, ConnState, Disconnected, FrameReceived
from ouc.drivers._aio_loop import Cancellable, TimerSource
from ouc.drivers._sockio import partner_reset
from ouc.errors import OucError

if TYPE_CHECKING:
    from ouc.conn import Connection

__all__ = ["RECEIVE_BUFFER", "Link", "shared_receive_buffer"]

log = logging.getLogger("ouc.drivers")

#: Bytes one ``recv_into`` may take: asyncio's own ``max_size``, so 64 KiB frames arrive in bulk.
RECEIVE_BUFFER = 256 * 1024

# SO_LINGER on, 0 seconds: close() then sends RST instead of FIN (the "strict" reset).
_LINGER_RESET = struct.pack("ii", 1, 0)
_DISCONNECTING = ConnState.DISCONNECTING

_buffers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, memoryview] = (
    weakref.WeakKeyDictionary()
)


def shared_receive_buffer(loop: asyncio.AbstractEventLoop) -> memoryview:
    """The one receive buffer of ``loop``, shared by all its links (allocated on first use)."""
    view = _buffers.get(loop)
    if view is None:
        view = _buffers[loop] = memoryview(bytearray(RECEIVE_BUFFER))
    return view


def reset_transport(transport: asyncio.BaseTransport) -> None:
    """Close with RST (SO_LINGER 0), as the firmware's strict profile and a refusing stack do."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        # The socket may already be gone; a plain close is then all that is left to do.
        with suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    transport.abort()  # type: ignore[attr-defined]


class Link(asyncio.BufferedProtocol):
    """One TCP connection of an endpoint: asyncio callbacks in, Connection calls out.

    Subclasses say what a frame means (:meth:`on_frame`) and what the other events mean
    (:meth:`on_event`); everything else (buffers, flushing, timers, closing, resetting, pausing)
    lives here. ``conn`` is set by the subclass before :meth:`start`.
    """

    __slots__ = (
        "_busy",
        "_closed",
        "_ending",
        "_eof_sent",
        "_events",
        "_read_paused",
        "_tasks",
        "_timer",
        "_timer_at",
        "_timers",
        "_view",
        "_write_paused",
        "_write_waiter",
        "conn",
        "hold",
        "loop",
        "reestablish",
        "transport",
    )

    conn: Connection
    transport: asyncio.Transport

    #: Stop reading while our writes are blocked. Right for a server, whose answers come from
    #: what it reads; wrong for a client that sends and receives at once (an echo partner):
    #: both sides would stop reading and neither write could ever drain.
    pause_reading_while_writes_block = True

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        view: memoryview,
        tasks: set[asyncio.Task[None]],
        timers: TimerSource | None = None,
    ) -> None:
        self.loop = loop
        # Where the timer is armed: the loop, or the lean selector under it (timer_source()).
        self._timers: TimerSource = loop if timers is None else timers
        self._view = view
        self._tasks = tasks  # the endpoint's: stop() waits for the ones still running
        self._timer: Cancellable | None = None
        self._timer_at = 0.0
        self._ending: Disconnected | None = None
        self._closed = False
        self._eof_sent = False
        self._busy: asyncio.Task[None] | None = None
        self._write_paused = False
        self._read_paused = False
        self._write_waiter: asyncio.Future[None] | None = None
        self.reestablish = False  # CONT stayed 1 since the last connection: 7002 without 7001
        self.hold = False  # the owner wants reading paused (active side: receive queue full)

    # ------------------------------------------------------------------ hooks

    def on_frame(self, frame: FrameReceived, now: float) -> Awaitable[bytes | None] | None:
        """Handle one received frame; return an awaitable to pause until it is done."""
        raise NotImplementedError

    def on_event(self, event: ConnectionEvent) -> None:
        """Handle Established, ReceiveFailed or Disconnected (called before the bytes go out)."""
        raise NotImplementedError

    def on_lost(self) -> None:
        """The TCP connection is gone and the link is finished: forget it."""
        raise NotImplementedError

    def on_pause(self) -> None:
        """Reading was paused (backpressure): counted by the endpoints for monitoring."""

    def on_failure(self, exc: Exception) -> None:
        """A behaviour raised or returned something that is not bytes: the connection stays."""
        log.error("behaviour failed: %s", exc, exc_info=exc)

    def on_send_failed(self, exc: OucError, size: int) -> None:
        """A behaviour's answer of ``size`` bytes could not be sent (TSEND_C refused it:
        16#80A3 once the connection is gone): the answer is lost, the behaviour did its part."""
        log.warning("answer of %d bytes not sent: %s", size, exc)

    # ------------------------------------------------------------------ state

    @property
    def started(self) -> bool:
        """The connection exists and ``connect()`` ran (refused peers never get that far)."""
        conn: Connection | None = getattr(self, "conn", None)
        return conn is not None and conn.state is not ConnState.IDLE

    @property
    def closed(self) -> bool:
        """The transport is closed (or closing): nothing more goes out."""
        return self._closed

    @property
    def write_paused(self) -> bool:
        return self._write_paused

    # ------------------------------------------------------------------ asyncio callbacks

    def get_buffer(self, sizehint: int) -> memoryview:
        return self._view

    def buffer_updated(self, nbytes: int) -> None:
        now = self.loop.time()
        # The engine copies into its BIO (plain TCP copies too), so the shared buffer is free
        # again when this returns. Connection accepts any buffer; its signature says bytes.
        self.conn.receive_data(self._view[:nbytes], now)  # type: ignore[arg-type]
        if self._busy is None:  # process(), inline: the record path
            self._drain_events(now)
        self.flush()

    def eof_received(self) -> bool:
        if self.started:
            now = self.loop.time()
            self.conn.receive_data(b"", now)
            self.process(now)
        # Keep the transport: the link closes it once the connection has ended (after the
        # close_notify answer went out).
        return True

    def pause_writing(self) -> None:
        self._write_paused = True
        self.update_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        self._wake_writer()
        self.update_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        timer = self._timer
        if timer is not None:
            timer.cancel()
            self._timer = None
        busy = self._busy
        if busy is not None:
            self._busy = None
            busy.cancel()
        if self.started and self._ending is None:
            # The peer vanished (FIN after our close, RST, network error): the connection
            # reports how it ended (16#80C5 for the partner, 0 after our own close()); a
            # reset says so in the reason.
            now = self.loop.time()
            if partner_reset(exc):
                self.conn.receive_reset(now)
            else:
                self.conn.receive_data(b"", now)
            self._drain_events(now)
        self._wake_writer()
        self.on_lost()

    # ------------------------------------------------------------------ driving the connection

    def start(self) -> None:
        """CONT 0→1 now that TCP is up: start the handshake and arm the handshake timer."""
        now = self.loop.time()
        self._events = self.conn.events
        self.conn.connect(now, reestablish=self.reestablish)
        self.process(now)

    def process(self, now: float) -> None:
        """Drain the connection's events, then write what it produced and re-arm the timer."""
        if self._busy is None:
            self._drain_events(now)
        self.flush()

    def _drain_events(self, now: float) -> None:
        try:
            events = self._events
        except AttributeError:  # drained before start(): a connection closed while IDLE
            events = self._events = self.conn.events
        on_frame = self.on_frame
        while True:
            # The queue while it holds events; then next_event() once: None, or the close
            # that completes a half-close after its last frame.
            event = events.take() if events else self.conn.next_event()
            if event is None:
                return
            if type(event) is FrameReceived:
                pending = on_frame(event, now)
                if pending is not None:
                    self._wait_for(pending)
                    return
            else:
                if type(event) is Disconnected:
                    self._ending = event
                self.on_event(event)

    def flush(self) -> None:
        """Write pending bytes; close or reset once the connection ended; keep the timer."""
        if self._closed:
            return
        conn = self.conn
        out = conn.data_to_send()
        if out:
            self.transport.write(out)
        ending = self._ending
        if ending is not None:
            self._close_transport(ending.reset)
            return
        deadline = conn.next_timer()
        timer = self._timer
        if deadline is None:
            if timer is not None:
                # Established without an idle timeout: drop the handshake timer now rather
                # than hold its handle (and its heap slot) until it fires for nothing, or
                # its deadline (a float of 24 B per idle connection).
                timer.cancel()
                self._timer = None
                self._timer_at = 0.0
            return
        # DISCONNECTING always has a deadline (the close timeout), so the state is looked at
        # only here, off the common record path.
        if not self._eof_sent and conn.state is _DISCONNECTING:
            # We closed (CONT 1→0): close_notify is out, half-close and wait for the partner.
            self._eof_sent = True
            if self.transport.can_write_eof():
                self.transport.write_eof()
        if timer is not None:
            if self._timer_at <= deadline:
                return
            timer.cancel()
        self._timer_at = deadline
        self._timer = self._timers.call_at(deadline, self._on_timer)

    def close(self) -> None:
        """CONT 1→0 (close_notify, half-close; the link ends when the partner closes too)."""
        if self._closed:
            return
        self.conn.close(now=self.loop.time())
        self.process(self.loop.time())

    def control(self, action: str, on: bool = True) -> bool:
        """A PLC control on this connection, at once: ``"com_rst"`` (True when it reset an
        established connection), ``"cpu_stop"`` or ``"en_r"`` (EN_R = ``on``)."""
        if self._closed:
            return False
        if not self.started:
            if action == "cpu_stop":
                self.abort(reset=True)  # TCP only: no connection to end yet
            return False
        now = self.loop.time()
        conn = self.conn
        done = True
        if action == "com_rst":
            done = conn.reset(now)
        elif action == "cpu_stop":
            conn.stop(now)
        else:
            conn.enable_receive(on, now)
        busy = self._busy
        if busy is not None and conn.ended:
            self._busy = None  # its answer can no longer be sent
            busy.cancel()
        self.process(now)
        return done

    def shutdown(self) -> None:
        """Close at once without waiting for the partner: close_notify, then FIN."""
        if self._closed:
            return
        if self.started:
            self.conn.close(now=self.loop.time())
        self.abort()

    def abort(self, *, reset: bool = False) -> None:
        """Close the transport now (after writing what is pending), or reset it."""
        if self._closed:
            return
        out = self.conn.data_to_send() if self.started else b""
        if out and not reset:
            self.transport.write(out)  # started implies connection_made ran
        self._close_transport(reset)

    def _close_transport(self, reset: bool) -> None:
        self._closed = True
        transport: asyncio.Transport | None = getattr(self, "transport", None)
        if transport is None:
            return  # the TCP connection was never made
        if reset:
            reset_transport(transport)
        else:
            transport.close()

    # ------------------------------------------------------------------ timers

    def _on_timer(self) -> None:
        self._timer = None
        if self._closed:
            return
        now = self.loop.time()
        conn = self.conn
        conn.handle_timer(now)
        busy = self._busy
        if busy is not None and conn.ended:
            # The connection timed out while a behaviour was still working: its answer can no
            # longer be sent, so stop waiting for it.
            self._busy = None
            busy.cancel()
        self.process(now)

    # ------------------------------------------------------------------ backpressure

    def update_reading(self) -> None:
        """Pause reading while something downstream is full; resume when it drained."""
        pause = (
            (self._write_paused and self.pause_reading_while_writes_block)
            or self._busy is not None
            or self.hold
        )
        if pause is self._read_paused or self._closed:
            return
        self._read_paused = pause
        if pause:
            self.on_pause()
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its low-water mark again."""
        if not self._write_paused or self._closed:
            return
        waiter = self._write_waiter
        if waiter is None or waiter.done():
            waiter = self._write_waiter = self.loop.create_future()
        # Shared by every sender waiting here: one giving up (send_timeout) must not cancel it
        # for the others.
        await asyncio.shield(waiter)

    def _wake_writer(self) -> None:
        waiter = self._write_waiter
        if waiter is not None:
            self._write_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # ------------------------------------------------------------------ asynchronous behaviours

    def _wait_for(self, pending: Awaitable[bytes | None]) -> None:
        if self._closed:
            if inspect.iscoroutine(pending):
                pending.close()  # never started: no "never awaited" warning
            return
        task = self._busy = self.loop.create_task(self._finish_frame(pending))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        self.update_reading()

    async def _finish_frame(self, pending: Awaitable[bytes | None]) -> None:
        try:
            answer = await pending
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.on_failure(exc)
            answer = None
        self._busy = None
        if self._closed:
            return
        now = self.loop.time()
        if answer is not None:
            self.send_answer(answer, now)
        self.process(now)
        self.update_reading()

    def send_answer(self, answer: Any, now: float) -> None:
        """TSEND_C with what a behaviour returned (bytes-like), logging what cannot be sent."""
        if type(answer) is not bytes:
            if inspect.isawaitable(answer) or not isinstance(answer, bytearray | memoryview):
                if inspect.iscoroutine(answer):
                    answer.close()  # never awaited: no RuntimeWarning about it
                self.on_failure(
                    TypeError(
                        f"the behaviour returned {type(answer).__name__}; return bytes, None "
                        "or an awaitable of those"
                    )
                )
                return
            answer = bytes(answer)
        try:
            self.conn.send(answer, 0, now=now)
        except OucError as exc:
            if not self._closed:
                self.on_send_failed(exc, len(answer))
