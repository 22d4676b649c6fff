"""The asyncio driver's active endpoint: the TSEND_C side (TLS client) on an event loop.

:class:`AsyncActiveEndpoint` is the blocking :class:`~ouc.drivers.ActiveEndpoint` in async form,
with the same arguments, properties and status records: it connects to the block's
RemoteAddress:RemotePort (through the address map), completes the TLS handshake, sends frames
(``send``) and hands out received ones (``receive``). Once the connection was up it
re-establishes it by itself after a drop, as the blocks do (domain.md §4): the first attempt at
once, then with a doubling back-off, offering the previous TLS session for resumption. One task
runs while re-establishing; none per frame. Received frames wait in a queue for ``receive()``;
with more than ``max_buffered`` bytes waiting, reading pauses (TCP flow control then holds the
partner), and ``send()`` waits while the socket's write buffer is full (``pause_writing``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from contextlib import suppress
from types import TracebackType

from ouc.conn import (
    Connection,
    ConnectionEvent,
    ConnState,
    Disconnected,
    Established,
    FrameReceived,
    ReceiveFailed,
    StatusEntry,
)
from ouc.drivers import _args as args
from ouc.drivers._active_common import CONT_HINT, RUN_HINT, ActiveCommon, remote_of
from ouc.drivers._aio_link import Link, shared_receive_buffer
from ouc.drivers._blocking_active import ReceiveEvent
from ouc.drivers._keepalive import apply_keepalive
from ouc.drivers._records import EventCallback, Recorder
from ouc.drivers._setup import AddressMap, EndpointSpec
from ouc.drivers._sockio import connection_error
from ouc.errors import (
    FramingError,
    OucConnectionError,
    OucError,
    Status,
    TLSError,
    WaitTimeoutError,
)
from ouc.tls import TLSEngine, TLSSession
from ouc.transport import SessionInfo

__all__ = ["AsyncActiveEndpoint"]

_HISTORY = 1024  # STATUS entries kept from connections that ended


def _error_for(status: int, reason: str) -> OucError:
    """The exception that reports how a connection ended (TLS codes get TLSError)."""
    if 0x80E0 <= status <= 0x80ED:
        return TLSError(reason, status=status)
    return OucConnectionError(reason, status=status)


class _ClientLink(Link):
    """One TCP connection of an :class:`AsyncActiveEndpoint` (a new one per establishment)."""

    __slots__ = ("endpoint", "engine", "local", "serial", "up")

    # Reading is held by the receive queue (max_buffered) only: see the base class.
    pause_reading_while_writes_block = False

    def __init__(
        self,
        endpoint: AsyncActiveEndpoint,
        loop: asyncio.AbstractEventLoop,
        conn: Connection,
        engine: TLSEngine | None,
        serial: int,
    ) -> None:
        super().__init__(loop, endpoint._view, endpoint._tasks)
        self.endpoint = endpoint
        self.conn = conn
        self.engine = engine
        self.serial = serial
        self.local: str | None = None
        self.up: asyncio.Future[SessionInfo] = loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if self.closed:  # disconnect() came while TCP was still connecting
            transport.abort()
            return
        sockname = transport.get_extra_info("sockname")
        if sockname:
            self.local = f"{sockname[0]}:{sockname[1]}"
        keepalive = self.endpoint.spec.keepalive
        if keepalive is not None:
            # OSError: the peer already reset it; the transport reports that next.
            with contextlib.suppress(OSError):
                apply_keepalive(transport.get_extra_info("socket"), keepalive)
        self.start()

    def on_frame(self, frame: FrameReceived, now: float) -> None:
        self.endpoint._frame(self, frame)

    def on_event(self, event: ConnectionEvent) -> None:
        self.endpoint._event(self, event)

    def on_lost(self) -> None:
        self.endpoint._lost(self)

    def on_pause(self) -> None:
        self.endpoint.read_pauses += 1


class AsyncActiveEndpoint(ActiveCommon[_ClientLink]):
    """An active Secure OUC endpoint (TSEND_C, TLS client) on asyncio.

    Args:
        spec: the endpoint's setup (an active block: ActiveEstablished TRUE).
        address_map: plant ↔ local addresses: where RemoteAddress:RemotePort really runs, and
            (when the device's own plant address is mapped) which local address to bind, so a
            passive endpoint's partner check sees our plant address.
        connect_to: ``(host, port)`` to connect to instead (the SAN check still uses the plant
            address of the block, which is what the server certificate carries).
        bind: ``(host, port)`` to bind before connecting (default: see ``address_map``; the
            block's LocalPort when it is not 0).
        connect_timeout: seconds for one TCP connect plus handshake attempt.
        reconnect: re-establish by itself after a drop once the connection was up.
        retry_delay / max_retry_delay: back-off between re-establishment attempts (the first
            attempt after a drop is immediate).
        send_timeout: seconds ``send()`` may wait for a partner that does not read; then the
            connection ends (16#80C5). None waits for ever.
        session_reuse: offer the previous connection's TLS session when re-establishing.
        max_buffered: received bytes waiting for :meth:`receive` before reading pauses.
        on_event: called with each :class:`~ouc.drivers.EndpointRecord`, in the event loop.

    ``async with`` connects and closes.
    """

    def __init__(
        self,
        spec: EndpointSpec,
        *,
        address_map: AddressMap | None = None,
        connect_to: tuple[str, int] | None = None,
        bind: tuple[str, int] | None = None,
        connect_timeout: float = 5.0,
        reconnect: bool = True,
        retry_delay: float = 0.1,
        max_retry_delay: float = 5.0,
        send_timeout: float | None = 30.0,
        session_reuse: bool = True,
        max_buffered: int = 1 << 20,
        on_event: EventCallback | None = None,
    ) -> None:
        remote = remote_of(spec, "AsyncPassiveEndpoint")
        self.spec = spec
        self.address_map = address_map if address_map is not None else AddressMap({})
        self.connect_to = args.address(connect_to, "connect_to", low_port=1)
        self.remote_plant: str = remote
        self.remote_port: int = spec.block.remote_port or 0
        self.connect_timeout = args.seconds(connect_timeout, "connect_timeout")
        self.reconnect = reconnect
        self.retry_delay = args.seconds(retry_delay, "retry_delay")
        self.max_retry_delay = args.seconds(max_retry_delay, "max_retry_delay")
        self.send_timeout = args.optional_seconds(send_timeout, "send_timeout")
        self.session_reuse = session_reuse
        self.max_buffered = args.count(max_buffered, "max_buffered")
        self._bind = args.address(bind, "bind")
        self._recorder = Recorder(spec.name, spec.block_name, on_event)
        self._view = memoryview(b"")
        self._tasks: set[asyncio.Task[None]] = set()
        self._link: _ClientLink | None = None  # the established link, None while down
        self._pending: _ClientLink | None = None  # connecting or handshaking
        self._last_conn: Connection | None = None
        self._history: deque[StatusEntry] = deque(maxlen=_HISTORY)
        self._frames: deque[ReceiveEvent] = deque()
        self._buffered = 0
        self._rx_waiters: list[asyncio.Future[None]] = []
        self._rx_timer: asyncio.TimerHandle | None = None
        self._rx_timer_at = 0.0
        self._up = asyncio.Event()
        self._lost_waiter: asyncio.Future[None] | None = None
        self._reconnector: asyncio.Task[None] | None = None
        self._wanted = False  # CONT: True after connect(), False after disconnect()/close()
        self._closed = False
        self._ever_up = False
        self._session: TLSSession | None = None
        self._last_error: OucError | None = None
        self._serial = 0
        self.loop: asyncio.AbstractEventLoop | None = None  # the loop of connect()
        self.cpu_running = True  # the CPU's operating state: RUN (True) or STOP
        self.en_r = True  # TRCV_C's EN_R
        self.reconnects = 0  # re-establishments after a drop
        self.connections = 0  # TCP connections established (handshake complete)
        self.read_pauses = 0  # times reading paused because max_buffered bytes were waiting

    # ------------------------------------------------------------------------------ the blocks

    async def connect(self, timeout: float | None = None) -> SessionInfo:
        """CONT 0→1: connect and complete the handshake (one attempt); returns what was
        negotiated. With ``reconnect`` the endpoint re-establishes by itself from then on.

        Raises:
            OucConnectionError: refused or the handshake not done in time (16#80C4), no answer
                to the connect in time or unreachable (16#80C6), reset (16#80C5), ...
            TLSError: the handshake failed (16#80E0..16#80E7).
        """
        if timeout is not None:
            timeout = args.seconds(timeout, "timeout")
        self._check_open()
        self.loop = asyncio.get_running_loop()
        self._cont_on()
        self._wanted = True
        link = self._link
        if link is None:
            limit = self.connect_timeout if timeout is None else timeout
            reconnector = self._reconnector
            if reconnector is not None and not reconnector.done():
                link = await self._ensure_up(limit)
            else:
                link = await self._attempt(limit)
        info = link.conn.info
        assert info is not None
        return info

    async def send(self, data: bytes, length: int = 0, *, timeout: float | None = None) -> None:
        """TSEND_C with REQ: send ``length`` bytes of ``data`` (0: all) as one frame.

        DONE means handed to the TCP stack, as on the PLC. When the connection is down and
        re-establishment is on, waits up to ``timeout`` seconds (default ``connect_timeout``)
        for it; while the socket's write buffer is full, waits up to ``send_timeout``.

        Raises:
            FramingError: 16#8085 / 16#8088 for a bad LEN (TSEND_C shows it too).
            OucConnectionError / TLSError: no connection, or it broke while sending.
        """
        if timeout is not None:
            timeout = args.seconds(timeout, "timeout")
        link = self._link
        if link is None:
            link = await self._ensure_up(self.connect_timeout if timeout is None else timeout)
        link.conn.send(data, length, now=link.loop.time())
        link.flush()
        if link.write_paused:
            await self._drain(link)

    async def receive(self, timeout: float | None = None) -> bytes:
        """TRCV_C: the next received frame (fixed LEN, or ad hoc up to LEN).

        Frames received before a drop stay readable; while re-establishing this waits on.

        Raises:
            WaitTimeoutError: no frame arrived within ``timeout`` seconds (None: wait for ever); no
                PLC status, TRCV_C would keep waiting in 16#7006. The connection stays.
            OucConnectionError: the connection's failure when it is down and stays down.
            FramingError: an ISO-on-TCP message larger than the receive area (16#8088).
        """
        if not self._frames:
            await self._wait_frame(timeout)
        event = self._take()
        if type(event) is FrameReceived:
            return event.data
        assert isinstance(event, ReceiveFailed)
        raise FramingError(event.reason, status=event.status)

    async def receive_event(self, timeout: float | None = None) -> ReceiveEvent:
        """Like :meth:`receive`, but returns the event (with RCVD_LEN), a failed receive too."""
        if not self._frames:
            await self._wait_frame(timeout)
        return self._take()

    def _take(self) -> ReceiveEvent:
        """The oldest queued event; resumes reading once half the receive queue is free."""
        event = self._frames.popleft()
        if type(event) is FrameReceived:
            self._buffered -= event.rcvd_len
            link = self._link
            if link is not None and link.hold and self._buffered <= self.max_buffered // 2:
                link.hold = False
                link.update_reading()
        return event

    async def disconnect(self) -> None:
        """CONT 1→0: close in order (close_notify and FIN, then the socket is released
        without waiting for the partner's answer, like the CPU); no re-establishment until
        :meth:`connect`."""
        self._wanted = False
        reconnector = self._reconnector
        if reconnector is not None:
            self._reconnector = None
            reconnector.cancel()
            with suppress(asyncio.CancelledError):
                await reconnector
        for link in (self._pending, self._link):
            if link is None or link.closed:
                continue
            if not link.started:  # TCP still connecting: nothing to say goodbye on
                link.close()
                continue
            self._lost_waiter = waiter = link.loop.create_future()
            link.shutdown()
            try:
                await asyncio.wait_for(waiter, self.spec.config.close_timeout + 1.0)
            except TimeoutError:
                link.abort(reset=True)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._wake_receiver()

    async def close(self) -> None:
        """Disconnect and release everything. Safe to call twice."""
        if self._closed:
            return
        await self.disconnect()
        self._closed = True

    # ------------------------------------------------------------------------------ PLC controls

    async def com_rst(self) -> None:
        """COM_RST 0→1: reset the established connection (the peer sees a reset unless the
        spec says ``com_rst="fin"``); it is established again at once (7002 → 0001), as after
        a drop. No effect without an established connection."""
        link = self._link
        if link is None or not link.control("com_rst"):
            return
        if self._wanted and self.cpu_running:
            await self._restart()

    async def cpu_stop(self) -> None:
        """The CPU goes to STOP: the connection ends (``stop="fin"``: close_notify and FIN,
        inference) and is not re-established until :meth:`cpu_run`."""
        if not self.cpu_running:
            return
        self.cpu_running = False
        reconnector, self._reconnector = self._reconnector, None
        if reconnector is not None:
            reconnector.cancel()
            with suppress(asyncio.CancelledError):
                await reconnector
        for link in (self._pending, self._link):
            if link is not None:
                link.control("cpu_stop")
        self._wake_receiver()

    async def cpu_run(self) -> None:
        """The CPU goes to RUN: while CONT = 1 the connection is established again (from the
        initial call, 7001: the startup initialises the blocks)."""
        if self.cpu_running:
            return
        self.cpu_running = True
        self._started = False
        if self._wanted:
            await self._restart()

    async def set_cont(self, on: bool) -> None:
        """CONT: 0→1 is :meth:`connect`, 1→0 :meth:`disconnect`."""
        if on:
            await self.connect()
        else:
            await self.disconnect()

    async def enable_receive(self, on: bool) -> None:
        """EN_R of TRCV_C: with 0 received frames wait (7004) until it is 1 again."""
        self.en_r = on
        link = self._link
        if link is not None:
            link.control("en_r", on)

    async def _restart(self) -> None:
        """Establish again now; on failure the reconnect loop keeps trying."""
        if self._link is not None or self._pending is not None:
            return
        reconnector = self._reconnector
        if reconnector is None or reconnector.done():
            loop = asyncio.get_running_loop()
            self._reconnector = loop.create_task(self._reconnect_loop())

    async def __aenter__(self) -> AsyncActiveEndpoint:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __repr__(self) -> str:
        state = "connected" if self.connected else "not connected"
        host, port = self.target()
        return f"<AsyncActiveEndpoint {self.spec.name} → {host}:{port} {state}>"

    # ------------------------------------------------------------------------------ establishing

    def _check_open(self) -> None:
        if self._closed:
            raise OucConnectionError("the endpoint is closed", status=Status.NO_SUCH_CONNECTION)

    async def _attempt(self, limit: float) -> _ClientLink:
        """One TCP connect + handshake within ``limit`` seconds; the new link or raises."""
        host, port = self.target()
        self._record_attempt(host, port)
        try:
            # asyncio.timeout, not wait_for: no task of its own per attempt (a loop iteration
            # and a Task less per connection).
            async with asyncio.timeout(limit):
                link = await self._open(host, port)
        except TimeoutError:
            # _open retired the link: its connection left IDLE once TCP was up. A handshake
            # that stalled is 16#80C4, "cannot be established now"; a connect nobody answered
            # 16#80C6, partner unreachable (inferences: the help has no timeout code).
            last = self._last_conn
            tcp_up = last is not None and last.state is not ConnState.IDLE
            error: OucError = OucConnectionError(
                f"connection to {host}:{port} not established within {limit:g} s"
                + ("" if tcp_up else ": no answer to the TCP connect"),
                status=Status.TEMPORARY if tcp_up else Status.NETWORK_ERROR,
            )
        except OucError as exc:
            error = exc
        else:
            return link
        self._attempt_failed(error)
        raise error

    async def _open(self, host: str, port: int) -> _ClientLink:
        loop = asyncio.get_running_loop()
        if not self._view:
            self._view = shared_receive_buffer(loop)
        conn, engine = self.spec.new_connection_and_engine(
            peer_address=self.remote_plant,
            session=self._session if self.session_reuse else None,
        )
        self._serial += 1
        link = _ClientLink(self, loop, conn, engine, self._serial)
        link.reestablish = self._next_reestablishes()
        if not self.en_r:
            conn.enable_receive(False, loop.time())
        self._pending = link
        try:
            try:
                await loop.create_connection(
                    lambda: link, host, port, local_addr=self._bind_address()
                )
            except OSError as exc:
                raise connection_error(
                    exc, f"cannot connect to {host}:{port}", timed_out=Status.NETWORK_ERROR
                ) from exc
            # Not shielded (a shield costs a loop iteration per connection): a timeout in
            # _attempt cancels link.up too, and the link is aborted just below.
            await link.up
            return link
        except BaseException:
            link.abort(reset=True)
            self._retire(link)
            raise
        finally:
            if self._pending is link:
                self._pending = None

    async def _ensure_up(self, limit: float) -> _ClientLink:
        """The established link, waiting up to ``limit`` seconds while it is re-established."""
        self._check_open()
        if not self._wanted:
            raise OucConnectionError(
                f"not connected ({CONT_HINT})", status=Status.NO_SUCH_CONNECTION
            )
        if not self.cpu_running:
            raise OucConnectionError(
                f"the CPU is in STOP ({RUN_HINT})", status=Status.NO_SUCH_CONNECTION
            )
        if not (self.reconnect and self._ever_up):
            raise self._last_error or OucConnectionError(
                "the connection is down", status=Status.NO_SUCH_CONNECTION
            )
        try:
            await asyncio.wait_for(self._up.wait(), limit)
        except TimeoutError:
            raise self._down_error() from None
        link = self._link
        if link is None:  # pragma: no cover - _up is set together with _link
            raise self._down_error()
        return link

    async def _reconnect_loop(self) -> None:
        """Re-establish after a drop: at once, then with a doubling back-off, until it works
        or the user disconnects."""
        delay = 0.0
        while self._wanted:
            if delay:
                await asyncio.sleep(delay)  # back-off between attempts, not synchronisation
                if not self._wanted:
                    return
            try:
                await self._attempt(self.connect_timeout)
            except OucError as exc:
                delay = self._next_delay(delay)
                self._record_retry(exc, delay)
                continue
            return

    async def _drain(self, link: _ClientLink) -> None:
        try:
            await asyncio.wait_for(link.drain(), self.send_timeout)
        except TimeoutError:
            link.abort(reset=True)
            raise OucConnectionError(
                f"the partner did not take the data within {self.send_timeout:g} s",
                status=Status.PARTNER_CLOSED,
            ) from None

    # ------------------------------------------------------------------------------ receiving

    async def _wait_frame(self, timeout: float | None) -> None:
        """Wait until a frame is queued (bounded by ``timeout``), or raise why none can come.

        Each call waits on a future of its own (a cancelled receive() cannot disturb another
        one), woken by the next frame or change of state. Timeouts share one lazily re-armed
        timer, like the links' timers: in a send/receive loop it is armed once per timeout
        period rather than once per frame, which is what ``wait_for`` would cost.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + args.wait(timeout)
        waiters = self._rx_waiters
        while not self._frames:
            if self._link is None and self._pending is None:
                reconnecting = self._reconnector is not None and not self._reconnector.done()
                if not reconnecting:
                    raise self._not_up_error()
            if deadline is not None:
                if loop.time() >= deadline:
                    raise WaitTimeoutError(f"no frame received within {timeout:g} s")
                timer = self._rx_timer
                if timer is None or deadline < self._rx_timer_at:
                    if timer is not None:
                        timer.cancel()
                    self._rx_timer_at = deadline
                    self._rx_timer = loop.call_at(deadline, self._rx_timeout)
            waiter: asyncio.Future[None] = loop.create_future()
            waiters.append(waiter)
            try:
                await waiter
            finally:
                if not waiter.done() and waiter in waiters:  # cancelled from outside
                    waiters.remove(waiter)

    def _rx_timeout(self) -> None:
        """The receive timer fired: every waiter looks at its own deadline again."""
        self._rx_timer = None
        self._wake_receiver()

    def _not_up_error(self) -> OucError:
        if not self._wanted:
            return OucConnectionError(
                f"not connected ({CONT_HINT})", status=Status.NO_SUCH_CONNECTION
            )
        return self._last_error or OucConnectionError(
            "the connection is down", status=Status.NO_SUCH_CONNECTION
        )

    def _wake_receiver(self) -> None:
        waiters = self._rx_waiters
        if waiters:
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
            waiters.clear()

    # ------------------------------------------------------------------------------ link callbacks

    def _frame(self, link: _ClientLink, frame: FrameReceived) -> None:
        self._frames.append(frame)
        self._buffered += frame.rcvd_len
        if self._rx_waiters:
            self._wake_receiver()
        if self._buffered > self.max_buffered and not link.hold:
            link.hold = True
            link.update_reading()

    def _event(self, link: _ClientLink, event: ConnectionEvent) -> None:
        if type(event) is Established:
            self._established(link, event)  # first: the record's reader sees the new counts
        if type(event) is not Disconnected or link.conn.info is not None:
            # A handshake that fails (or is abandoned on timeout) is reported once, as the
            # failed attempt (_attempt); a link that was established reports its end.
            self._record(link, event)
        if type(event) is ReceiveFailed:
            self._frames.append(event)
            self._wake_receiver()
        elif type(event) is Disconnected:
            self._ended(link, event)

    def _established(self, link: _ClientLink, event: Established) -> None:
        self._link = link
        self._last_error = None
        self.connections += 1
        if self._ever_up:
            self.reconnects += 1
        self._ever_up = True
        self._up.set()
        if not link.up.done():
            link.up.set_result(event.info)

    def _capture_session(self, link: _ClientLink) -> None:
        engine = link.engine
        if engine is not None and self.session_reuse:
            session = engine.session
            if session is not None:
                self._session = session

    def _ended(self, link: _ClientLink, event: Disconnected) -> None:
        self._capture_session(link)
        self._last_error = _error_for(event.status, event.reason) if event.status else None
        if not link.up.done():
            link.up.set_exception(_error_for(event.status, event.reason))
            link.up.exception()  # retrieved: an attempt abandoned on timeout logs nothing
        self._retire(link)
        if self._link is not link:
            return
        self._link = None
        self._up.clear()
        idle = self._reconnector is None or self._reconnector.done()
        if self._wanted and self.reconnect and self._ever_up and idle and self.cpu_running:
            self._reconnector = link.loop.create_task(self._reconnect_loop())
        self._wake_receiver()

    def _history_link(self) -> _ClientLink | None:
        return self._link or self._pending  # a handshake in progress has a history too

    def _retire(self, link: _ClientLink) -> None:
        """Keep the link's STATUS history in the endpoint's (it outlives the connection)."""
        if self._last_conn is link.conn:
            return
        self._history.extend(link.conn.status_history)
        self._last_conn = link.conn

    def _lost(self, link: _ClientLink) -> None:
        waiter = self._lost_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
