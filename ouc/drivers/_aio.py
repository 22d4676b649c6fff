"""The asyncio driver's passive endpoint: a mock PLC serving thousands of TLS connections.

:class:`AsyncPassiveEndpoint` is the TRCV_C side (TLS server) of the blocking driver's
:class:`~ouc.drivers.PassiveEndpoint`, on one event loop: the same constructor arguments, the
same :class:`~ouc.drivers.EndpointRecord` status log, the same rules — partners other than the
block's RemoteAddress are reset (16#80C9), so are connections beyond ``max_connections``
(16#8087), silent peers are dropped after the handshake timeout (16#80C4) or the idle timeout
(16#80C6), the strict profile resets instead of alerting. Behaviours may be ``async``: reading
from that peer pauses until the answer is out, frames are handled in order.

Each connection is one :class:`~ouc.drivers._aio_link.Link` (a ``BufferedProtocol``) over one
sans-I/O :class:`~ouc.conn.Connection`, over a lean transport
(:mod:`ouc.drivers._aio_sock`), not ``asyncio.start_server(ssl=...)``: ~25-31 KB instead of
~280 KB per idle TLS connection, most of it OpenSSL's (see the link module for where the bytes
go).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
from collections.abc import Awaitable, Callable
from contextlib import suppress
from types import TracebackType

from ouc.conn import ConnectionEvent, ConnState, Disconnected, FrameReceived
from ouc.device import Role
from ouc.drivers import _args as args
from ouc.drivers._aio_link import Link, shared_receive_buffer
from ouc.drivers._aio_loop import TimerSource, timer_source
from ouc.drivers._aio_sock import LeanServer
from ouc.drivers._passive_common import LISTENING_STATUS, ConnectionSlots, PassiveCommon
from ouc.drivers._records import EventCallback, Recorder, RecordKind
from ouc.drivers._reuseport import attach_spread, check_spread
from ouc.drivers._setup import AddressMap, Behaviour, EndpointSpec, PeerContext, receive_only
from ouc.drivers._sockio import listen_error
from ouc.errors import ConfigError, FramingError, OucConnectionError, OucError, Status

__all__ = ["AsyncBehaviour", "AsyncPassiveEndpoint"]

log = logging.getLogger("ouc.drivers")

_CONNECTED = ConnState.CONNECTED

AsyncBehaviour = Callable[[FrameReceived, PeerContext], Awaitable[bytes | None]]
"""A behaviour that has to wait (a database, another PLC): reading pauses until it answers."""


class _ServerLink(Link):
    """One connection accepted by an :class:`AsyncPassiveEndpoint`."""

    __slots__ = ("_context", "behaviour", "counted", "endpoint", "peer", "port", "serial")

    def __init__(self, endpoint: AsyncPassiveEndpoint, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop, endpoint._view, endpoint._tasks, endpoint._timers)
        self.endpoint = endpoint
        self.behaviour = endpoint.behaviour
        self.peer = "?"  # the plant address once connection_made ran
        self.port = 0
        self.serial = 0
        self.counted = False  # holds a place in the connection limit (and a shared slot)
        self._context: PeerContext | None = None  # made with the first frame: idle ones save it

    @property
    def peer_text(self) -> str:
        return f"{self.peer}:{self.port}"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        peername = transport.get_extra_info("peername")
        if peername:
            # Interned: thousands of links from a few hosts keep one str each.
            self.peer, self.port = sys.intern(str(peername[0])), int(peername[1])
        self.endpoint._admit(self)

    def on_frame(self, frame: FrameReceived, now: float) -> Awaitable[bytes | None] | None:
        context = self._context
        if context is None:
            context = self._context = PeerContext(self.peer, self.port, self.conn, self.serial)
        try:
            answer = self.behaviour(frame, context)
        except Exception as exc:
            self.on_failure(exc)
            return None
        if answer is None:
            return None
        if type(answer) is bytes:
            try:
                self.conn.send(answer, 0, now=now)
            except OucError as exc:
                if not self.closed:
                    self.on_send_failed(exc, len(answer))
            return None
        if inspect.isawaitable(answer):
            return answer
        self.send_answer(answer, now)
        return None

    def on_failure(self, exc: Exception) -> None:
        self.endpoint._behaviour_failed(self, exc)

    def on_send_failed(self, exc: OucError, size: int) -> None:
        endpoint = self.endpoint
        endpoint._recorder.send_failed(
            exc,
            self.conn,
            size,
            peer=self.peer_text,
            local=endpoint._local_text(),
            serial=self.serial,
        )

    def on_pause(self) -> None:
        self.endpoint.read_pauses += 1

    def on_event(self, event: ConnectionEvent) -> None:
        endpoint = self.endpoint
        recorder = endpoint._recorder
        if type(event) is Disconnected:
            # Free the place before telling anyone: whoever reads this record may connect
            # anew, before this transport's connection_lost has run (as the blocking driver).
            endpoint._uncount(self)
        if recorder.skips(event):
            return
        recorder.connection_event(
            event, self.conn, peer=self.peer_text, local=endpoint._local_text(), serial=self.serial
        )

    def on_lost(self) -> None:
        self.endpoint._lost(self)


class AsyncPassiveEndpoint(PassiveCommon):
    """A passive Secure OUC endpoint (TRCV_C, TLS server) serving many connections on asyncio.

    Args:
        spec: the endpoint's setup (a passive block: ActiveEstablished FALSE); its TLS context
            serves every connection, its timeouts apply to each.
        behaviour: what to do with each received frame (default: receive only). A plain
            :data:`~ouc.drivers.Behaviour` returns the bytes to send back or None; a callable
            returning an awaitable (``async def``) pauses reading from that peer until it
            answered.
        listen: ``(host, port)`` to bind. Default: where the address map puts the device's
            plant address and the block's LocalPort, else ``127.0.0.1`` and LocalPort. Port 0
            picks a free port; once bound the endpoint adds ``plant:LocalPort → host:port`` to
            the map so an active endpoint sharing the map finds it.
        address_map: plant ↔ local addresses; the partner check sees a peer's plant address.
        max_connections: connections served at once (None: as many as the process can open);
            further peers are reset (16#8087).
        on_event: called with each :class:`~ouc.drivers.EndpointRecord`, in the event loop.
        backlog: the listen queue length.
        slots: a connection limit shared with other endpoints on the same port (16#8087 when
            it is reached), on top of ``max_connections``.
        reuse_port: listen with SO_REUSEPORT, next to other processes on the same port.
        spread_by_cpu: with ``reuse_port``, how many processes share the port: each connection
            goes to the one of the CPU that received it, so a client on this host stays with
            one process (:mod:`ouc.drivers._reuseport`); 0: the kernel's hash of addresses and
            ports.

    Use ``async with AsyncPassiveEndpoint(...) as server:`` or ``await start()`` /
    ``await stop()``. Refused peers are reset (RST), as a CPU's stack answers a connection for
    which nothing is configured (an inference; the manuals only name 16#80C9 and 16#8087).
    """

    def __init__(
        self,
        spec: EndpointSpec,
        *,
        behaviour: Behaviour | AsyncBehaviour | None = None,
        listen: tuple[str, int] | None = None,
        address_map: AddressMap | None = None,
        max_connections: int | None = 64,
        on_event: EventCallback | None = None,
        backlog: int = 4096,
        slots: ConnectionSlots | None = None,
        reuse_port: bool = False,
        spread_by_cpu: int = 0,
    ) -> None:
        if spec.role is not Role.PASSIVE:
            raise ConfigError(
                "the block has ActiveEstablished TRUE: that is the active side, use "
                "AsyncActiveEndpoint",
                path="ActiveEstablished",
            )
        if max_connections is not None:
            max_connections = args.count(max_connections, "max_connections")
        self.spec = spec
        self.behaviour: Behaviour | AsyncBehaviour = (
            behaviour if behaviour is not None else receive_only()
        )
        self.address_map = address_map if address_map is not None else AddressMap({})
        self.max_connections = max_connections
        self._listen = args.address(listen, "listen") or self._default_listen()
        self._backlog = args.count(backlog, "backlog", low=0)
        self._slots = slots
        self._reuse_port = reuse_port
        self._spread_by_cpu = check_spread(spread_by_cpu, reuse_port)
        self._recorder = Recorder(spec.name, spec.block_name, on_event)
        self._links: set[_ServerLink] = set()
        self._counted = 0  # links whose connection has not ended (the connection limit)
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: LeanServer | None = None
        self._address: tuple[str, int] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._view = memoryview(b"")
        self._timers: TimerSource | None = None  # the loop's (timer_source), once started
        self._idle: asyncio.Future[None] | None = None
        self._stopping = False
        self._serial = 0
        self.cpu_running = True  # the CPU's operating state: RUN (True) or STOP
        self.cont = True  # CONT of the endpoint's block: listening and serving
        self.en_r = True  # TRCV_C's EN_R on every connection
        self.refused = 0  # peers refused by the partner check (16#80C9) or the limit (16#8087)
        self.served_total = 0  # connections served (accepted and handed a Connection)
        # Times a connection stopped reading because its answers could not be written or an
        # async behaviour was still busy (backpressure), for monitoring.
        self.read_pauses = 0

    # ------------------------------------------------------------------------------ lifecycle

    async def start(self) -> AsyncPassiveEndpoint:
        """Bind, listen and start accepting; returns self.

        Raises:
            OucConnectionError: the address cannot be bound (16#80A1 when the port is taken).
        """
        if self._server is not None or self._stopping:
            raise OucConnectionError("the endpoint was already started", status=Status.IN_PROGRESS)
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._view = shared_receive_buffer(loop)
        self._timers = timer_source(loop)
        # Not loop.create_server: its transport costs ~1 KB more per idle connection.
        server = await self._open_server(*self._listen)
        self._server = server
        self._address = server.sockets[0].getsockname()[:2]
        self._register_address()
        self._recorder.emit(
            RecordKind.LISTENING,
            LISTENING_STATUS,
            local=self._local_text(),
            reason=self._listening_reason(),
        )
        return self

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the endpoint runs on (after :meth:`start`)."""
        return self._loop

    @property
    def connection_count(self) -> int:
        """Connections being served right now (handshaking or established)."""
        return len(self._links)

    def peers(self) -> list[PeerContext]:
        """The partners of the connections being served right now."""
        return [
            PeerContext(link.peer, link.port, link.conn, link.serial)
            for link in self._links
            if link.started
        ]

    async def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting and close every connection (close_notify, then FIN), bounded by
        ``timeout`` seconds after which the rest are reset. Returns when every socket is closed
        and no task of the endpoint is left. Safe to call twice."""
        server = self._server
        if self._stopping or (server is None and self._address is None):
            return
        self._stopping = True
        if server is not None:
            server.close()
        loop = asyncio.get_running_loop()
        for link in list(self._links):
            link.shutdown()
        if self._links and not await self._all_lost(loop, timeout):
            for link in list(self._links):
                link.abort(reset=True)
            await self._all_lost(loop, 1.0)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._links:
            log.error("%d connections still open after stop()", len(self._links))
        self._recorder.emit(RecordKind.STOPPED, Status.NO_JOB, local=self._local_text())

    # ------------------------------------------------------------------------------ PLC controls

    async def com_rst(self) -> int:
        """COM_RST 0→1: reset every established connection (the peer sees a reset unless the
        spec says ``com_rst="fin"``); then the partner is awaited again. Returns how many."""
        return sum(link.control("com_rst") for link in list(self._links))

    async def cpu_stop(self) -> None:
        """The CPU goes to STOP: every connection ends (``stop="fin"``: close_notify and FIN,
        inference) and the port is closed until :meth:`cpu_run`."""
        if not self.cpu_running or self._stopping:
            return
        self.cpu_running = False
        self._close_port("the CPU went to STOP")
        for link in list(self._links):
            link.control("cpu_stop")

    async def cpu_run(self) -> None:
        """The CPU goes to RUN: listening again on the same address (while CONT = 1)."""
        if self.cpu_running or self._stopping:
            return
        self.cpu_running = True
        await self._reopen_port("the CPU went to RUN")

    async def set_cont(self, on: bool) -> None:
        """CONT of the passive block: 1→0 closes every connection in order (7003 → 0003) and
        the port; 0→1 listens again."""
        if on == self.cont or self._stopping:
            return
        self.cont = on
        if on:
            await self._reopen_port("CONT 0→1")
            return
        self._close_port("CONT 1→0")
        for link in list(self._links):
            link.shutdown()

    async def enable_receive(self, on: bool) -> None:
        """EN_R of TRCV_C on every connection, at once. With EN_R = 0 received frames wait
        (TRCV_C 7004); EN_R 0→1 hands them to the behaviour."""
        self.en_r = on
        for link in list(self._links):
            link.control("en_r", on)

    async def send(self, data: bytes, length: int = 0) -> int:
        """REQ of the server's TSEND_C: send ``length`` bytes of ``data`` (LEN; 0: all of it)
        on every established connection. Returns on how many it was sent.

        Raises:
            FramingError: LEN beyond the device's limit (16#8085) or beyond DATA (16#8088);
                nothing is sent.
            OucConnectionError: 16#80A3 when no connection is established.
        """
        links = [link for link in self._links if link.started and link.conn.state is _CONNECTED]
        if not links:
            raise OucConnectionError(
                "no connection is established to send to", status=Status.NO_SUCH_CONNECTION
            )
        data = bytes(data)
        sent = 0
        for link in links:
            try:
                link.conn.send(data, length, now=link.loop.time())
            except FramingError:
                raise  # LEN is the caller's: the same on every connection
            except OucError as exc:
                self._recorder.send_failed(
                    exc,
                    link.conn,
                    len(data) if length == 0 else length,
                    peer=link.peer_text,
                    local=self._local_text(),
                    serial=link.serial,
                    answer=False,
                )
                continue
            link.process(link.loop.time())
            sent += 1
        return sent

    def _close_port(self, reason: str) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        self._recorder.emit(
            RecordKind.STOPPED, Status.NO_JOB, local=self._local_text(), reason=reason
        )

    async def _reopen_port(self, reason: str) -> None:
        if self._server is not None or not (self.cpu_running and self.cont):
            return
        self._server = await self._open_server(*self.address)
        self._recorder.emit(
            RecordKind.LISTENING, LISTENING_STATUS, local=self._local_text(), reason=reason
        )

    async def _open_server(self, host: str, port: int) -> LeanServer:
        """Bind and listen (SO_REUSEPORT and the CPU spread as configured, also when RUN
        reopens the port beside other processes)."""
        try:
            server = await LeanServer.create(
                self._make_link,
                host,
                port,
                backlog=self._backlog,
                keepalive=self.spec.keepalive,
                reuse_port=self._reuse_port,
            )
        except OSError as exc:
            raise listen_error(exc, host, port) from exc
        try:
            for sock in server.sockets:
                attach_spread(sock, self._spread_by_cpu)
        except ConfigError:
            server.close()
            raise
        return server

    async def _all_lost(self, loop: asyncio.AbstractEventLoop, timeout: float) -> bool:
        """Wait (bounded) until every link's connection_lost ran; True when they all did."""
        if not self._links:
            return True
        idle = self._idle = loop.create_future()
        with suppress(TimeoutError):
            await asyncio.wait_for(idle, timeout)
        self._idle = None
        return not self._links

    async def __aenter__(self) -> AsyncPassiveEndpoint:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def __repr__(self) -> str:
        where = self._local_text() or "not started"
        return (
            f"<AsyncPassiveEndpoint {self.spec.name} {where} connections={self.connection_count}>"
        )

    # ------------------------------------------------------------------------------ links

    def _make_link(self) -> _ServerLink:
        assert self._loop is not None
        return _ServerLink(self, self._loop)

    def _admit(self, link: _ServerLink) -> None:
        """A TCP connection arrived: partner check, connection limit, then the handshake."""
        link.peer = plant = self._peer_plant(link.peer)
        spec = self.spec
        if self._stopping:
            link.abort(reset=True)
            return
        if not spec.partner_allowed(plant):
            self._refuse(link, RecordKind.REFUSED, Status.PARTNER_REFUSED, self._not_partner(plant))
            return
        limit = self.max_connections
        slots = self._slots
        if (limit is not None and self._counted >= limit) or (
            slots is not None and not slots.take()
        ):
            reason = f"connection limit of {limit} reached"
            self._refuse(link, RecordKind.LIMIT, Status.CONNECTION_LIMIT, reason)
            return
        try:
            link.conn = spec.new_connection(peer_address=plant)
        except OucError as exc:
            if slots is not None:
                slots.give()
            self._refuse(link, RecordKind.FAILED, exc.status or Status.TEMPORARY, str(exc))
            return
        self._serial += 1
        link.serial = self._serial
        self.served_total += 1
        self._links.add(link)
        link.counted = True
        self._counted += 1
        if not self.en_r:
            link.conn.enable_receive(False, link.loop.time())
        link.start()

    def _refuse(self, link: _ServerLink, kind: RecordKind, status: int, reason: str) -> None:
        self.refused += 1
        link.abort(reset=True)
        self._recorder.emit(
            kind, status, peer=link.peer_text, local=self._local_text(), reason=reason, reset=True
        )

    def _behaviour_failed(self, link: _ServerLink, exc: Exception) -> None:
        self._recorder.behaviour_failed(
            exc, peer=link.peer_text, local=self._local_text(), serial=link.serial
        )

    def _uncount(self, link: _ServerLink) -> None:
        """The connection ended: its place in the limit (and its shared slot) is free."""
        if link.counted:
            link.counted = False
            self._counted -= 1
            if self._slots is not None:
                self._slots.give()

    def _lost(self, link: _ServerLink) -> None:
        links = self._links
        if link in links:
            links.remove(link)
            self._uncount(link)
        idle = self._idle
        if idle is not None and not links and not idle.done():
            idle.set_result(None)
