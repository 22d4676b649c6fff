"""The blocking driver's passive endpoint: a mock PLC's TRCV_C side (TLS server) on threads.

:class:`PassiveEndpoint` listens on one socket and serves every accepted TCP connection with
one sans-I/O :class:`~ouc.conn.Connection` in a thread of its own — the fastest shape for the
record path (a blocking ``recv_into`` per read, no selector round trip, no hand-off between
threads). Threads are not created per connection either: acceptor threads take turns in
``accept()`` (leader/follower), the thread that accepted a connection serves it and then goes
back to ``accept()``, and a new thread is started only when no thread is left waiting. So a
sequential handshake loop runs on two threads that never change, and concurrency costs one
thread per live connection, up to ``max_connections`` (further peers are reset with 16#8087).

Timeouts (handshake, idle, close) come from ``Connection.next_timer()``; the driver arms the
kernel receive timer for them (:class:`~ouc.drivers._sockio.RecvTimeout`) and calls
``handle_timer(time.monotonic())`` when a read times out.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from types import TracebackType

from ouc.conn import (
    ConnectionEvent,
    ConnState,
    Disconnected,
    Established,
    FrameReceived,
)
from ouc.device import Role
from ouc.drivers import _args as args
from ouc.drivers._blocking_controls import PassiveControls, Served
from ouc.drivers._keepalive import apply_keepalive
from ouc.drivers._passive_common import LISTENING_STATUS, ConnectionSlots, PassiveCommon
from ouc.drivers._records import EventCallback, Recorder, RecordKind, sequences_of
from ouc.drivers._reuseport import attach_spread, check_spread
from ouc.drivers._setup import (
    AddressMap,
    Behaviour,
    EndpointSpec,
    PeerContext,
    ResetConnection,
    receive_only,
)
from ouc.drivers._sockio import (
    RecvTimeout,
    close_socket,
    configure_listener,
    configure_stream,
    connection_error,
    listen_error,
    partner_reset,
    receive_buffer_size,
    shutdown_quietly,
)
from ouc.errors import ConfigError, OucConnectionError, OucError, Status

__all__ = ["PassiveEndpoint", "sequences_of"]

log = logging.getLogger("ouc.drivers")

_CONNECTED = ConnState.CONNECTED
_DISCONNECTING = ConnState.DISCONNECTING
_ACCEPT_RETRY = 0.05  # seconds to wait after accept() ran out of descriptors
_STOP_GRACE = 0.5  # seconds stop() lets connections send close_notify before cutting them


class PassiveEndpoint(PassiveControls, PassiveCommon):
    """A passive Secure OUC endpoint (TRCV_C, TLS server) serving many connections on threads.

    Args:
        spec: the endpoint's setup (a passive block: ActiveEstablished FALSE).
        behaviour: what to do with each received frame (default: receive only); it runs in the
            connection's thread and returns the bytes to send back, or None.
        listen: ``(host, port)`` to bind. Default: where the address map puts the device's
            plant address and the block's LocalPort, else ``127.0.0.1`` and LocalPort. Port 0
            picks a free port (see :attr:`port`).
        address_map: plant ↔ local addresses. The partner check sees a peer's plant address
            through it; once bound, the endpoint adds ``plant:LocalPort → host:real port`` so an
            active endpoint sharing the map finds it.
        max_connections: connections served at once; further peers are reset (16#8087).
        on_event: called with each :class:`~ouc.drivers.EndpointRecord` (from the serving
            threads: keep it quick and thread-safe).
        send_timeout: seconds a send may block on a peer that does not read (then 16#80C5 and
            the connection ends); None waits forever.
        backlog: the listen queue length.
        spare_threads: idle acceptor threads kept for the next connections.
        slots: a connection limit shared with other endpoints on the same port (16#8087 when
            it is reached), on top of ``max_connections``.
        reuse_port: listen with SO_REUSEPORT, next to other processes on the same port.
        spread_by_cpu: with ``reuse_port``, how many processes share the port (as for
            :class:`~ouc.drivers.AsyncPassiveEndpoint`); 0: the kernel's hash.

    Each serving thread receives into a buffer sized to the block's frame (at least one TLS
    record), not a fixed 256 KiB.
    """

    def __init__(
        self,
        spec: EndpointSpec,
        *,
        behaviour: Behaviour | None = None,
        listen: tuple[str, int] | None = None,
        address_map: AddressMap | None = None,
        max_connections: int = 64,
        on_event: EventCallback | None = None,
        send_timeout: float | None = 30.0,
        backlog: int = 128,
        spare_threads: int = 4,
        slots: ConnectionSlots | None = None,
        reuse_port: bool = False,
        spread_by_cpu: int = 0,
    ) -> None:
        if spec.role is not Role.PASSIVE:
            raise ConfigError(
                "the block has ActiveEstablished TRUE: that is the active side, use "
                "ActiveEndpoint (ouc connect)",
                path="ActiveEstablished",
            )
        self.spec = spec
        self.behaviour: Behaviour = behaviour if behaviour is not None else receive_only()
        self.address_map = address_map if address_map is not None else AddressMap({})
        self.max_connections: int = args.count(max_connections, "max_connections")
        self.send_timeout = args.optional_seconds(send_timeout, "send_timeout")
        self._listen = args.address(listen, "listen") or self._default_listen()
        self._backlog = args.count(backlog, "backlog", low=0)
        self._spare = max(1, spare_threads)
        self._slots = slots
        self._reuse_port = reuse_port
        self._spread_by_cpu = check_spread(spread_by_cpu, reuse_port)
        self._buffer_size = receive_buffer_size(spec.config.receive_len)
        self._recorder = Recorder(spec.name, spec.block_name, on_event)
        self._lock = threading.Lock()
        self._stop_event = threading.Event()
        self._lsock: socket.socket | None = None
        self._inherited = False  # accepted sockets inherit the listener's options (Linux)
        self._handshake_limit = spec.config.handshake_timeout
        self._address: tuple[str, int] | None = None
        self._threads: set[threading.Thread] = set()
        self._served: dict[int, Served] = {}
        self._idle = 0
        self._admitting = 0  # slots reserved by acceptors still setting their connection up
        self._serial = 0
        self._thread_serial = 0
        self._stopping = False
        self._stopped = False
        self._init_controls()
        self.refused = 0  # peers refused by the partner check (16#80C9) or the limit (16#8087)
        self.served_total = 0  # connections served (accepted and handed a Connection)

    # ------------------------------------------------------------------------------ lifecycle

    def start(self) -> PassiveEndpoint:
        """Bind, listen and start accepting; returns self.

        Raises:
            OucConnectionError: the address cannot be bound (16#80A1 when the port is taken).
        """
        with self._lock:
            if self._lsock is not None or self._stopped:
                raise OucConnectionError(
                    "the endpoint was already started", status=Status.IN_PROGRESS
                )
            self._open_listener(self._listen)
        self._register_address()
        self._recorder.emit(
            RecordKind.LISTENING,
            LISTENING_STATUS,
            local=f"{self.address[0]}:{self.address[1]}",
            reason=self._listening_reason(),
        )
        return self

    def _open_listener(self, address: tuple[str, int]) -> None:
        """Bind and listen on ``address`` and start an acceptor (call with the lock held)."""
        host, port = address
        lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if self._reuse_port:
                lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            lsock.bind((host, port))
            lsock.listen(self._backlog)
            attach_spread(lsock, self._spread_by_cpu)
        except (OSError, ConfigError) as exc:
            lsock.close()
            if isinstance(exc, ConfigError):
                raise
            raise listen_error(exc, host, port) from exc
        self._inherited = configure_listener(
            lsock, send_timeout=self.send_timeout, receive_timeout=self._handshake_limit
        )
        apply_keepalive(lsock, self.spec.keepalive)  # accepted sockets inherit it (Linux)
        self._lsock = lsock
        self._address = lsock.getsockname()[:2]
        self._spawn_acceptor()

    @property
    def connection_count(self) -> int:
        """Connections being served right now."""
        with self._lock:
            return len(self._served)

    def peers(self) -> list[PeerContext]:
        """The partners of the connections being served right now."""
        with self._lock:
            return [served.peer for served in self._served.values()]

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, close every connection (close_notify where possible), join every
        thread and close every socket. Safe to call twice; bounded by ``timeout`` seconds."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = self._stopping = True
            lsock = self._lsock
            served = list(self._served.values())
            for item in served:
                if not item.stopping:
                    item.stopping = "endpoint"
                shutdown_quietly(item.sock, socket.SHUT_RD)
        self._stop_event.set()
        if lsock is not None:
            # On Linux this wakes every thread blocked in accept() (EINVAL).
            shutdown_quietly(lsock, socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        self._join(min(deadline, time.monotonic() + _STOP_GRACE))
        with self._lock:
            for item in self._served.values():
                shutdown_quietly(item.sock, socket.SHUT_RDWR)  # e.g. stuck in sendall
        self._join(deadline)
        if lsock is not None:
            lsock.close()
        with self._lock:
            alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            log.error("threads still running after stop(): %s", ", ".join(alive))
        if lsock is not None:
            self._recorder.emit(RecordKind.STOPPED, Status.NO_JOB, local=self._local_text())

    def wait_stopped(self, timeout: float | None = None) -> bool:
        """Block until :meth:`stop` was called (at most ``timeout`` seconds); True if it was."""
        return self._stop_event.wait(timeout)

    def _join(self, deadline: float) -> None:
        while True:
            with self._lock:
                threads = [t for t in self._threads if t is not threading.current_thread()]
            alive = [t for t in threads if t.is_alive()]
            if not alive:
                return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            alive[0].join(remaining)

    def __enter__(self) -> PassiveEndpoint:
        if self._lsock is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        where = self._local_text() or "not started"
        return f"<PassiveEndpoint {self.spec.name} {where} {len(self._served)} connections>"

    # ------------------------------------------------------------------------------ accepting

    def _spawn_acceptor(self) -> None:
        """Start one more acceptor thread (call with the lock held)."""
        self._thread_serial += 1
        thread = threading.Thread(
            target=self._acceptor,
            name=f"ouc-{self.spec.name}-{self._thread_serial}",
            daemon=True,
        )
        self._threads.add(thread)
        thread.start()

    def _acceptor(self) -> None:
        """Leader/follower: accept one connection, serve it, come back; exit when spare."""
        lsock = self._lsock
        assert lsock is not None
        buffer = bytearray(self._buffer_size)
        me = threading.current_thread()
        try:
            while True:
                with self._lock:
                    if self._stopping:
                        return
                    self._idle += 1
                try:
                    sock, addr = lsock.accept()
                except OSError as exc:
                    with self._lock:
                        self._idle -= 1
                    if self._stopping or lsock is not self._lsock:
                        return  # stopped, or the CPU went to STOP (a new listener at RUN)
                    self._accept_failed(exc)
                    continue
                with self._lock:
                    self._idle -= 1
                    if self._stopping:
                        close_socket(sock, reset=True)
                        return
                    if self._idle == 0 and len(self._threads) <= self.max_connections:
                        self._spawn_acceptor()
                self._serve(sock, addr, buffer)
                with self._lock:
                    if self._idle >= self._spare:
                        return
        finally:
            with self._lock:
                self._threads.discard(me)

    def _accept_failed(self, exc: OSError) -> None:
        if exc.errno in (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM):
            log.warning("accept() failed (%s); retrying in %g s", exc, _ACCEPT_RETRY)
            self._stop_event.wait(_ACCEPT_RETRY)  # back off; the pending peer stays queued
        # ECONNABORTED and friends: that peer is gone, the next one is what counts.

    def _admit(self, sock: socket.socket, addr: tuple[str, int]) -> Served | None:
        """Partner check (16#80C9) and connection limit (16#8087); the served connection or None."""
        plant = self._peer_plant(addr[0])
        peer_text = f"{plant}:{addr[1]}"
        if not self.spec.partner_allowed(plant):
            self._refuse(
                sock,
                RecordKind.REFUSED,
                Status.PARTNER_REFUSED,
                peer_text,
                self._not_partner(plant),
            )
            return None
        with self._lock:
            # The slot is reserved here, under the same lock as the check: two acceptors
            # admitting at once must not both take the last slot (all threads would then be
            # serving, none accepting, and no further peer would be refused).
            slots = self._slots
            if len(self._served) + self._admitting >= self.max_connections or (
                slots is not None and not slots.take()
            ):
                full = True
            else:
                full = False
                self._admitting += 1
                self._serial += 1
                serial = self._serial
        if full:
            self._refuse(
                sock,
                RecordKind.LIMIT,
                Status.CONNECTION_LIMIT,
                peer_text,
                f"connection limit of {self.max_connections} reached",
            )
            return None
        try:
            conn = self.spec.new_connection(peer_address=plant)
            self._prepare(conn)
        except OucError as exc:
            with self._lock:
                self._admitting -= 1
            self._give_slot()
            self._refuse(
                sock, RecordKind.FAILED, exc.status or Status.TEMPORARY, peer_text, str(exc)
            )
            return None
        except BaseException:
            with self._lock:
                self._admitting -= 1
            self._give_slot()
            raise
        served = Served(
            sock, conn, PeerContext(plant, addr[1], conn, serial), serial, self._local_text() or ""
        )
        served.slot = self._slots is not None
        with self._lock:
            self._admitting -= 1
            if self._stopping:
                close_socket(sock, reset=True)
                self._give_slot()
                return None
            self._served[serial] = served
            self.served_total += 1
        return served

    def _give_slot(self) -> None:
        if self._slots is not None:
            self._slots.give()

    def _release(self, served: Served) -> None:
        """Free the connection's slot(s) (call with the lock held); idempotent."""
        self._served.pop(served.serial, None)
        if served.slot:
            served.slot = False
            self._give_slot()

    def _refuse(
        self, sock: socket.socket, kind: RecordKind, status: int, peer: str, reason: str
    ) -> None:
        close_socket(sock, reset=True)
        with self._lock:
            self.refused += 1
        self._recorder.emit(
            kind, status, peer=peer, local=self._local_text(), reason=reason, reset=True
        )

    # ------------------------------------------------------------------------------ serving

    def _serve(self, sock: socket.socket, addr: tuple[str, int], buffer: bytearray) -> None:
        served = self._admit(sock, addr)
        if served is None:
            return
        reset = False
        try:
            if not self._inherited:
                configure_stream(sock, send_timeout=self.send_timeout)
                apply_keepalive(sock, self.spec.keepalive)
            reset = self._run(served, buffer)
        except OSError as exc:  # setsockopt on a peer that already left
            self._end_by_os_error(served, exc)
        finally:
            with self._lock:
                self._release(served)
                close_socket(sock, reset=reset)
            served.done.set()

    def _run(self, served: Served, buffer: bytearray) -> bool:
        """The connection's loop (holding its guard except in recv); returns True when the
        socket must be reset, not closed."""
        with served.guard:
            return self._run_guarded(served, buffer)

    def _run_guarded(self, served: Served, buffer: bytearray) -> bool:
        sock, conn = served.sock, served.conn
        release, acquire = served.guard.release, served.guard.acquire
        timer = RecvTimeout(sock, self._handshake_limit if self._inherited else None)
        monotonic = time.monotonic
        now = monotonic()
        conn.connect(now)
        if self._pump(served):
            return self._finish(served)
        view = memoryview(buffer)
        recv_into = sock.recv_into
        receive_data = conn.receive_data
        timed_connected = False  # the timer was armed for the CONNECTED state
        half_closed = False
        timer.until(conn.next_timer(), now)
        while True:
            try:
                release()  # a control may act on the connection while this thread waits
                try:
                    n = recv_into(buffer)
                finally:
                    acquire()
            except BlockingIOError:
                now = monotonic()
                conn.handle_timer(now)
                if self._pump(served):
                    return self._finish(served)
                timer.until(conn.next_timer(), now)
                continue
            except OSError as exc:
                if served.stopping:
                    return self._stop_connection(served)
                self._end_by_os_error(served, exc)
                return self._finish(served)
            if served.stopping:
                return self._stop_connection(served)
            now = monotonic()
            receive_data(view[:n] if n else b"", now)  # type: ignore[arg-type]
            if self._pump(served):
                return self._finish(served)
            state = conn.state
            if state is _CONNECTED:
                if not timed_connected:
                    timed_connected = True
                    deadline = conn.next_timer()
                    if deadline is not None:
                        timer.until(deadline, now)
                    # Else the handshake's timer may stay armed (a system call less per
                    # connection): when it fires, the BlockingIOError branch disarms it.
            else:
                # Handshake, ISO connect or close: a peer trickling bytes must not outlive the
                # deadline, so check it on every read here (a few reads per connection).
                timed_connected = False
                if state is _DISCONNECTING and not half_closed:
                    half_closed = True  # close() (e.g. by a behaviour): our side is done
                    shutdown_quietly(sock, socket.SHUT_WR)
                deadline = conn.next_timer()
                if deadline is not None and now >= deadline:
                    conn.handle_timer(now)
                    if self._pump(served):
                        return self._finish(served)
                    deadline = conn.next_timer()
                timer.until(deadline, now)

    def _pump(self, served: Served) -> bool:
        """Handle the connection's events and send what it produced; True once it ended."""
        conn = served.conn
        next_event = conn.next_event
        behaviour = self.behaviour
        event = next_event()
        while event is not None:
            if type(event) is FrameReceived:
                try:
                    answer = behaviour(event, served.peer)
                except ResetConnection as exc:
                    self._abort(served, exc)
                    return True
                except Exception as exc:
                    answer = None
                    self._behaviour_failed(served, exc)
                if answer is not None and type(answer) is not bytes:
                    if isinstance(answer, bytearray | memoryview):
                        answer = bytes(answer)
                    else:
                        self._behaviour_failed(
                            served,
                            TypeError(
                                f"the behaviour returned {type(answer).__name__}; return bytes "
                                "or None"
                            ),
                        )
                        answer = None
                if answer is not None:
                    try:
                        conn.send(answer, now=time.monotonic())
                    except OucError as exc:
                        self._recorder.send_failed(
                            exc,
                            conn,
                            len(answer),
                            peer=served.peer_text,
                            local=served.local,
                            serial=served.serial,
                        )
            else:
                self._on_event(served, event)
            event = next_event()
        if not self._flush(served):
            return True
        # An identity test first: ``ended`` hashes an Enum member, a Python-level call.
        return conn.state is not _CONNECTED and conn.ended

    def _flush(self, served: Served) -> bool:
        """Send what the connection produced; False (and the connection ended) if that failed."""
        conn = served.conn
        data = conn.data_to_send()
        if data:
            try:
                served.sock.sendall(data)
            except OSError as exc:
                if not conn.ended:
                    self._end_by_os_error(served, exc)
                return False
        return True

    def _on_event(self, served: Served, event: ConnectionEvent) -> None:
        if type(event) is Established:
            # The handshake's last flight (a TLS 1.2 server's Finished, an ISO-on-TCP CC) goes
            # out before anyone hears of the connection: a listener may hold this thread.
            self._flush(served)
        elif type(event) is Disconnected:
            # Free the slot before telling anyone: whoever reads this record may connect anew.
            with self._lock:
                self._release(served)
        self._recorder.connection_event(
            event, served.conn, peer=served.peer_text, local=served.local, serial=served.serial
        )

    def _behaviour_failed(self, served: Served, exc: Exception) -> None:
        self._recorder.behaviour_failed(
            exc, peer=served.peer_text, local=served.local, serial=served.serial
        )

    def _end_by_os_error(self, served: Served, exc: OSError) -> None:
        """The socket failed under a live connection: end it as a partner close (16#80C5)."""
        conn = served.conn
        if conn.ended:
            return
        if conn.state is ConnState.IDLE:
            error = connection_error(exc, "the connection failed before it started")
            self._recorder.emit(
                RecordKind.FAILED,
                error.status or Status.NETWORK_ERROR,
                peer=served.peer_text,
                local=served.local,
                reason=error.message,
                connection=served.serial,
            )
            return
        log.info(
            "%s %s: %s", self.spec.name, served.peer_text, connection_error(exc, "socket error")
        )
        if partner_reset(exc):
            conn.receive_reset(time.monotonic())
        else:
            conn.receive_data(b"", time.monotonic())
        self._pump_quietly(served)

    def _pump_quietly(self, served: Served) -> None:
        conn = served.conn
        while (event := conn.next_event()) is not None:
            if not isinstance(event, FrameReceived):
                self._on_event(served, event)
        conn.data_to_send()  # the socket is gone: drop what the close produced

    def _stop_connection(self, served: Served) -> bool:
        """stop(): CONT 1→0 for this connection — close_notify, then close the socket.
        COM_RST and the CPU's STOP end it as the connection decides (reset or close)."""
        conn = served.conn
        if conn.ended:  # a control's own work ended it (its behaviour, a failed send)
            return self._finish(served)
        if served.stopping != "endpoint":
            return self._control_ended(served)
        if not conn.ended:
            conn.close(now=time.monotonic())
            try:
                data = conn.data_to_send()
                if data:
                    served.sock.sendall(data)
            except OSError:
                pass  # the peer is gone already; closing is all that is left
            self._pump_quietly(served)
            self._recorder.emit(
                RecordKind.CLOSED,
                Status.NO_JOB,
                peer=served.peer_text,
                local=served.local,
                reason="the endpoint stopped",
                sequences=sequences_of(conn),
                connection=served.serial,
            )
        return False

    def _abort(self, served: Served, exc: ResetConnection) -> None:
        """A behaviour asked for a hard end: send its partial answer, then reset (RST)."""
        conn = served.conn
        served.aborted = True
        try:
            if exc.partial:
                conn.send(exc.partial, now=time.monotonic())
            data = conn.data_to_send()
            if data:
                served.sock.sendall(data)
        except (OucError, OSError):
            pass  # the peer may be gone already; the reset is what was asked for
        with self._lock:
            self._release(served)
        self._recorder.emit(
            RecordKind.FAILED,
            exc.status or Status.NETWORK_ERROR,
            peer=served.peer_text,
            local=served.local,
            reason=exc.message,
            reset=True,
            sequences=sequences_of(conn),
            connection=served.serial,
        )

    def _finish(self, served: Served) -> bool:
        """The connection ended: whether to reset the socket (strict profile) or close it."""
        if served.aborted:
            return True
        disconnect: Disconnected | None = served.conn.disconnect
        # The caller closes the socket next: an orderly close sends the FIN.
        return disconnect is not None and disconnect.reset
