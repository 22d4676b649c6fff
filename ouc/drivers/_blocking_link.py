"""The socket-level steps of the blocking active endpoint: one TCP connection, its handshake,
and the wake-up pipe of the watcher thread.

:class:`Link` is one TCP connection with its sans-I/O :class:`~ouc.conn.Connection`;
:func:`open_link` connects it (bind, connect, TCP_NODELAY, kernel timeouts) and
:meth:`Link.handshake` pumps the transport handshake until the connection is established. The
endpoint (``_blocking_active``) decides when to open, what to do with events, and when to give up;
this module only moves bytes and says what failed, with the PLC's status.
"""

from __future__ import annotations

import select
import socket
import time
from contextlib import suppress

from ouc.conn import Connection, Disconnected, Established
from ouc.drivers._keepalive import apply_keepalive
from ouc.drivers._setup import EndpointSpec
from ouc.drivers._sockio import (
    RecvTimeout,
    close_socket,
    configure_stream,
    connection_error,
    partner_reset,
)
from ouc.errors import OucConnectionError, OucError, Status, TLSError
from ouc.tls import TLSEngine, TLSSession

__all__ = ["HANGUP", "Link", "Waker", "error_for", "open_link"]

_RDHUP = getattr(select, "POLLRDHUP", 0)  # Linux: the peer's FIN, without waking on data
#: What the watcher waits for on a connection: the partner's FIN or RST, never its data.
HANGUP = _RDHUP | select.POLLHUP | select.POLLERR
# A handshake that did not finish within the attempt's time, or whose flights the peer did not
# take: 16#80C4, "cannot be established now" (inference; the help has no timeout code).
_STALLED = int(Status.TEMPORARY)


# Reads of a failed socket's leftovers: its receive buffer (a few MB at most) in 256 KiB reads.
_LEFT_READS = 64


def error_for(status: int, reason: str) -> OucError:
    """The exception for a connection that ended with ``status``: TLSError for 16#80Ex."""
    if 0x80E0 <= status <= 0x80EF:
        return TLSError(reason, status=status)
    return OucConnectionError(reason, status=status or Status.NO_SUCH_CONNECTION)


class Link:
    """One TCP connection of an active endpoint and its sans-I/O machine."""

    __slots__ = ("conn", "cut", "engine", "local", "poller", "serial", "sock", "timer")

    def __init__(
        self, sock: socket.socket, conn: Connection, engine: TLSEngine | None, serial: int
    ) -> None:
        self.sock = sock
        self.conn = conn
        self.engine = engine
        self.serial = serial
        self.timer = RecvTimeout(sock)
        self.poller: select.poll | None = None
        # True while bytes are between the socket and the connection (read and not yet fed,
        # or a record made and not yet sent): an exception that is not an error (Ctrl-C)
        # leaving it True has cut the TLS stream.
        self.cut = False
        host, port = sock.getsockname()[:2]
        self.local = f"{host}:{port}"

    def readable(self) -> bool:
        """Whether bytes (or a FIN) wait to be read, without blocking."""
        poller = self.poller
        if poller is None:
            poller = self.poller = select.poll()
            poller.register(self.sock, select.POLLIN)
        return bool(poller.poll(0))

    def read_available(self, buffer: bytearray, view: memoryview) -> OSError | None:
        """Feed the connection whatever has arrived, without blocking; the socket's error."""
        sock, conn = self.sock, self.conn
        while not conn.ended:
            try:
                n = sock.recv_into(buffer, len(buffer), socket.MSG_DONTWAIT)
            except BlockingIOError:
                return None
            except OSError as exc:
                return exc
            self.cut = True
            conn.receive_data(view[:n] if n else b"", time.monotonic())  # type: ignore[arg-type]
            self.cut = False
            if not n:
                return None
        return None

    def read_left(self, buffer: bytearray, view: memoryview) -> None:
        """Feed the connection what is still readable on a socket that failed (a TLS alert
        that came before the partner's reset), without the end of the stream: saying how it
        ended is the caller's. Bounded: at most what the receive buffer held."""
        sock, conn = self.sock, self.conn
        for _ in range(_LEFT_READS):
            try:
                n = sock.recv_into(buffer, len(buffer), socket.MSG_DONTWAIT)
            except OSError:
                return
            if not n:
                return
            conn.receive_data(view[:n], time.monotonic())  # type: ignore[arg-type]
            if conn.ended:
                return

    def handshake(
        self,
        buffer: bytearray,
        view: memoryview,
        deadline: float,
        limit: float,
        *,
        reestablish: bool = False,
    ) -> Established:
        """Start the connection and pump until Established (returned) or its end (raised).

        ``reestablish``: CONT stayed 1 since the last connection (7002 without 7001).

        Events after Established stay queued in the connection for the caller.

        Raises:
            TLSError / OucConnectionError: the status the connection ended with; 16#80C4 at
                ``deadline`` (``limit`` seconds, for the message) or when our sending stalled
                (inference: "cannot be established now"), 16#80C5 when TCP broke.
        """
        conn, sock = self.conn, self.sock
        conn.connect(time.monotonic(), reestablish=reestablish)
        while True:
            try:
                out = conn.data_to_send()
                if out:
                    sock.sendall(out)
            except OSError as exc:
                self._reset_or_raise(exc)
            event = conn.next_event()
            while event is not None:
                if type(event) is Established:
                    return event
                if isinstance(event, Disconnected):
                    raise error_for(event.status, event.reason)
                event = conn.next_event()
            now = time.monotonic()
            if now >= deadline:
                raise OucConnectionError(
                    f"connection not established within {limit:g} s", status=_STALLED
                )
            timer_at = conn.next_timer()
            self.timer.arm_within((deadline if timer_at is None else min(deadline, timer_at)) - now)
            try:
                n = sock.recv_into(buffer)
            except BlockingIOError:
                conn.handle_timer(time.monotonic())
                continue
            except OSError as exc:
                self._reset_or_raise(exc)
                continue
            conn.receive_data(view[:n] if n else b"", time.monotonic())  # type: ignore[arg-type]

    def _reset_or_raise(self, exc: OSError) -> None:
        """A socket error during the handshake: the partner's TCP reset goes to the connection,
        which ends as the asyncio driver's does (16#80C5, "the partner reset the connection
        (TCP RST) during the TLS handshake", in the blocks' STATUS history) and is raised from
        the event loop above; any other error (or a reset the connection already ended on) is
        raised here."""
        conn = self.conn
        if partner_reset(exc) and not conn.ended:
            conn.receive_reset(time.monotonic())
            if conn.ended:
                return
        raise connection_error(
            exc, "the connection broke during the handshake", timed_out=_STALLED
        ) from exc


def open_link(
    spec: EndpointSpec,
    host: str,
    port: int,
    *,
    serial: int,
    deadline: float,
    bind: tuple[str, int] | None,
    send_timeout: float | None,
    peer_address: str,
    session: TLSSession | None,
) -> Link:
    """Connect TCP to ``host:port`` (from ``bind``) and give it a fresh sans-I/O connection.

    Raises:
        OucConnectionError: the connect failed (16#80C4 refused, 16#80C6 no answer within
            ``deadline`` or unreachable, ...).
        OucError: the connection could not be set up (the TLS engine refused the session, ...).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if bind is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(bind)
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        apply_keepalive(sock, spec.keepalive)
        sock.connect((host, port))
        configure_stream(sock, send_timeout=send_timeout)
        conn, engine = spec.new_connection_and_engine(peer_address=peer_address, session=session)
    except OSError as exc:
        sock.close()
        # Nobody answered the SYN in time: partner unreachable (16#80C6).
        raise connection_error(
            exc, f"cannot connect to {host}:{port}", timed_out=Status.NETWORK_ERROR
        ) from exc
    except BaseException:
        close_socket(sock, reset=True)
        raise
    return Link(sock, conn, engine, serial)


class Waker:
    """A wake-up pipe (a socket pair) and the blocking waits it ends: the watcher's, and a
    ``receive()``'s while EN_R = 0 (so EN_R 0→1 from another thread reaches it)."""

    def __init__(self) -> None:
        self._r, self._w = socket.socketpair()
        self._r.setblocking(False)
        self._w.setblocking(False)

    def wake(self) -> None:
        # The pipe may be full (a wake-up is pending anyway) or closed (shutting down).
        with suppress(OSError):
            self._w.send(b"\0")

    def sleep(self, sock: socket.socket | None, wait: float | None) -> bool:
        """Wait for a wake-up, ``sock`` hanging up, or ``wait`` seconds; True on hang-up."""
        poller = select.poll()
        poller.register(self._r, select.POLLIN)
        fd = -1
        if sock is not None:
            try:
                fd = sock.fileno()
                poller.register(fd, HANGUP)
            except (OSError, ValueError):
                return False  # closed under us: the caller looks at the new state
        timeout_ms = None if wait is None else max(0, int(wait * 1000) + 1)
        hangup = False
        for ready_fd, _ in poller.poll(timeout_ms):
            if ready_fd == fd:
                hangup = True
            else:
                self._drain()
        return hangup

    def readable(self, sock: socket.socket, wait: float | None) -> bool:
        """Wait until ``sock`` has bytes (True), or a wake-up or ``wait`` seconds (False)."""
        poller = select.poll()
        poller.register(self._r, select.POLLIN)
        try:
            fd = sock.fileno()
            poller.register(fd, select.POLLIN | HANGUP)
        except (OSError, ValueError):
            return True  # closed under us: the read that follows says so
        timeout_ms = None if wait is None else max(0, int(wait * 1000) + 1)
        readable = False
        for ready_fd, _ in poller.poll(timeout_ms):
            if ready_fd == fd:
                readable = True
            else:
                self._drain()
        return readable

    def _drain(self) -> None:
        with suppress(OSError):  # drained (EAGAIN) or closed
            while self._r.recv(4096):
                pass

    def close(self) -> None:
        self._r.close()
        self._w.close()
