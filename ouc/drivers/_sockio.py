"""Socket helpers of the blocking driver: OSError → PLC status, resets, kernel-side timeouts.

Timeouts come from the kernel (``SO_RCVTIMEO``/``SO_SNDTIMEO``) on sockets that Python treats as
blocking, not from ``socket.settimeout``: a Python timeout makes every ``recv`` a ``poll`` plus a
``recv``, two system calls per read on the record path. With the kernel timer a read that times
out raises ``BlockingIOError`` (EAGAIN), which the driver turns into a ``handle_timer`` call, and
the timer is re-armed only when the connection's deadline needs it (:class:`RecvTimeout`).
"""

from __future__ import annotations

import errno
import os
import socket
import struct
import sys
from contextlib import suppress

from ouc.conn import partner_gone
from ouc.errors import OucConnectionError, OucError, Status, WaitTimeoutError

__all__ = [
    "RECEIVE_BUFFER",
    "RecvTimeout",
    "close_socket",
    "configure_listener",
    "configure_stream",
    "connection_error",
    "listen_error",
    "os_error_status",
    "os_error_text",
    "own_timeout",
    "partner_reset",
    "receive_buffer_size",
    "shutdown_quietly",
]

#: Bytes one ``recv_into`` may take at most: room for a 64 KiB frame's records in one read.
RECEIVE_BUFFER = 256 * 1024
#: At least one full TLS record (16 KiB of plaintext, its header and the AEAD expansion).
_SMALLEST_BUFFER = 16 * 1024 + 512
_PER_RECORD = 5 + 256  # a TLS record's header and at most its expansion (RFC 8446 5.2)


def receive_buffer_size(frame_len: int) -> int:
    """A receive buffer sized to one frame as it arrives (in TLS records, on ISO-on-TCP too),
    at least one full TLS record, at most :data:`RECEIVE_BUFFER`. A thread per connection that
    keeps a 256 KiB buffer for 258-byte frames wastes what the frame never needs."""
    wire = frame_len + (frame_len // (16 * 1024) + 1) * _PER_RECORD
    size = max(_SMALLEST_BUFFER, wire)
    return min(RECEIVE_BUFFER, (size + 4095) // 4096 * 4096)


# SO_LINGER on with 0 seconds: close() sends RST instead of FIN (the firmware's strict reset).
_LINGER_RESET = struct.pack("ii", 1, 0)
_NO_TIMEOUT = struct.pack("ll", 0, 0)

_REFUSED = frozenset({errno.ECONNREFUSED})
_CLOSED = frozenset({errno.ECONNRESET, errno.EPIPE, errno.ECONNABORTED, errno.ESHUTDOWN})
# A limit ouc set itself ran out: SO_RCVTIMEO/SO_SNDTIMEO (EAGAIN), a Python socket timeout, a
# connect still in progress. ETIMEDOUT is not among them: that is the kernel giving up.
_OWN_TIMEOUT = frozenset({errno.EAGAIN, errno.EWOULDBLOCK, errno.EINPROGRESS})
_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
_IN_USE = frozenset({errno.EADDRINUSE})


def own_timeout(exc: OSError) -> bool:
    """Whether ``exc`` is a time limit ouc set on the socket running out (a Python socket
    timeout, EAGAIN from SO_RCVTIMEO/SO_SNDTIMEO, EINPROGRESS) rather than a network event.

    Such a limit is not a PLC status: each caller says what it means there (see
    :func:`os_error_status`'s ``timed_out``).
    """
    if isinstance(exc, OucError):  # ouc's own WaitTimeoutError: already the API's answer
        return False
    code = exc.errno
    if code == errno.ETIMEDOUT:
        return False
    return code in _OWN_TIMEOUT or (code is None and isinstance(exc, TimeoutError))


def partner_reset(exc: BaseException | None) -> bool:
    """Whether a socket error is the partner's TCP reset (RST: ECONNRESET from a read or a
    write, asyncio's ``connection_lost`` with ConnectionResetError): the connection is told
    with ``receive_reset``, so that its reason says reset rather than closed."""
    return isinstance(exc, ConnectionResetError)


def os_error_status(exc: OSError, *, timed_out: int = Status.NETWORK_ERROR) -> int:
    """The PLC status for a socket error: refused 16#80C4, reset/closed 16#80C5, out of
    descriptors/buffers 16#80C4 too (cannot be established now: inference), local port taken
    16#80A1, anything else 16#80C6 (network error, partner unreachable) — ETIMEDOUT too: the
    kernel gave up on unanswered retransmissions or keep-alive probes.

    Args:
        timed_out: the status when a limit ouc set itself ran out (:func:`own_timeout`), as
            the caller means it: 16#80C6 (the default) for a connect nobody answered, 16#80C4
            for a handshake that stalled. No table of the help has a timeout code.
    """
    if own_timeout(exc):
        return int(timed_out)
    code = exc.errno
    if code in _REFUSED:
        return int(Status.TEMPORARY)
    if code in _CLOSED:
        return int(Status.PARTNER_CLOSED)
    if code in _RESOURCES:
        return int(Status.TEMPORARY)
    if code in _IN_USE:
        return int(Status.LOCAL_PORT_IN_USE)
    return int(Status.NETWORK_ERROR)


def connection_error(
    exc: OSError, what: str, *, timed_out: int = Status.NETWORK_ERROR
) -> OucConnectionError:
    """An OucConnectionError for ``exc`` (raise it ``from exc``): ``what`` failed, and why;
    ``timed_out`` as in :func:`os_error_status`. ouc's own :class:`WaitTimeoutError` (an
    OSError through TimeoutError) stays one: an API wait that ran out is no PLC status."""
    if isinstance(exc, WaitTimeoutError):
        return WaitTimeoutError(f"{what}: {exc.message}", path=exc.path)
    return OucConnectionError(
        f"{what}: {os_error_text(exc)}", status=os_error_status(exc, timed_out=timed_out)
    )


def os_error_text(exc: OSError) -> str:
    """Why a socket call failed, the same on both drivers: the partner's reset in the words of
    the connection's records ("the partner reset the connection (TCP RST)"), other errors by
    their errno's text ("Connection refused"), not asyncio's own ("Connect call failed
    ('127.0.0.1', 1)", which says nothing the message does not already)."""
    if partner_reset(exc):
        return partner_gone(True, 0, 0)
    code = exc.errno
    # Only the builtin OSError family: socket.gaierror and ssl.SSLError number differently.
    if code is not None and code in errno.errorcode and type(exc).__module__ == "builtins":
        return os.strerror(code)
    why = exc.strerror or str(exc) or type(exc).__name__
    if isinstance(exc, TimeoutError) and not exc.strerror:
        why = "timed out"
    return why


def listen_error(exc: OSError, host: str, port: int) -> OucConnectionError:
    """Listening on ``host:port`` failed (raise it ``from exc``); a port in use (16#80A1) says
    what to do: the holder is another endpoint or program on this host, not the PLC's peer."""
    error = connection_error(exc, f"cannot listen on {host}:{port}")
    if exc.errno == errno.EADDRINUSE:
        error = OucConnectionError(
            f"{error.message}; another endpoint or program on this host holds the port: stop "
            "it, or listen on another port",
            status=error.status,
        )
    return error


def close_socket(sock: socket.socket, *, reset: bool = False) -> None:
    """Close ``sock``; with ``reset`` send RST (SO_LINGER 0) instead of an orderly FIN."""
    if reset:
        # Already broken: a plain close is all that is left.
        with suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RESET)
    sock.close()


def shutdown_quietly(sock: socket.socket, how: int) -> None:
    """``sock.shutdown(how)``, ignoring a socket that is already closed or disconnected."""
    # Not connected any more, or closed by its owner: nothing left to wake.
    with suppress(OSError):
        sock.shutdown(how)


def _timeval(seconds: float) -> bytes:
    # Round up to whole milliseconds and never 0 (which means "no timeout" to the kernel).
    micros = max(1000, int(seconds * 1000 + 0.999) * 1000)
    return struct.pack("ll", micros // 1_000_000, micros % 1_000_000)


def configure_stream(sock: socket.socket, *, send_timeout: float | None) -> None:
    """Prepare a connected socket for the record path: blocking, TCP_NODELAY, send timeout.

    ``send_timeout`` bounds a ``sendall`` to a peer that stopped reading (EAGAIN then ends
    the connection as if the partner were gone) instead of holding the thread forever.
    """
    if sock.gettimeout() is not None:
        sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if send_timeout is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(send_timeout))


# Linux copies a listening socket's options (TCP_NODELAY, SO_SNDTIMEO, SO_RCVTIMEO) to every
# socket accept() returns; elsewhere each accepted socket is configured on its own.
_ACCEPT_INHERITS = sys.platform.startswith("linux")


def configure_listener(
    lsock: socket.socket, *, send_timeout: float | None, receive_timeout: float | None
) -> bool:
    """Set the record-path options once on the listening socket, where accepted sockets
    inherit them (Linux): three system calls fewer per connection.

    Returns True when they are inherited (each accepted socket then starts with
    ``receive_timeout`` armed); False when accepted sockets need :func:`configure_stream`.
    """
    if not _ACCEPT_INHERITS:
        return False
    configure_stream(lsock, send_timeout=send_timeout)
    if receive_timeout is not None:
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(receive_timeout))
    return True


class RecvTimeout:
    """The kernel receive timer of one socket, changed only when a deadline needs it.

    :meth:`arm` sets how long the next ``recv`` may block (None: forever). Setting the same
    value twice costs nothing; the record path arms once per idle period, not per frame.
    """

    __slots__ = ("_current", "_seconds", "_sock")

    def __init__(self, sock: socket.socket, armed: float | None = None) -> None:
        """``armed``: the receive timeout ``sock`` already has (inherited from its listener)."""
        self._sock = sock
        self._current = _NO_TIMEOUT if armed is None else _timeval(armed)
        self._seconds: float | None = armed

    def arm(self, seconds: float | None) -> None:
        """The next read returns after about ``seconds`` (None: no limit)."""
        value = _NO_TIMEOUT if seconds is None else _timeval(seconds)
        if value != self._current:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, value)
            self._current = value
            self._seconds = seconds

    def arm_within(self, seconds: float | None) -> None:
        """Like :meth:`arm`, but keep the current timer when it is close enough.

        A read may then return up to 10 % (at least 5 ms) late, or early (the caller loops and
        re-arms): a caller that waits "up to T" on every call sets the timer once, not per call.
        """
        current = self._seconds
        if seconds is None:
            if current is not None:
                self.arm(None)
            return
        if current is not None and seconds * 0.5 <= current <= seconds * 1.1 + 0.005:
            return
        self.arm(seconds)

    def until(self, deadline: float | None, now: float) -> None:
        """Arm for the monotonic ``deadline`` (None: no deadline), within :meth:`arm_within`'s
        tolerance: the reads of one handshake keep the timer its first read set."""
        self.arm_within(None if deadline is None else deadline - now)
