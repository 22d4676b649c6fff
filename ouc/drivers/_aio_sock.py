"""A lean asyncio listener and stream transport for the passive endpoint's thousands of links.

asyncio's own ``create_server`` transport costs ~1.6 KB of Python objects per connection (the
transport with its instance dict and ``extra`` table, a ``TransportSocket``, a write
``bytearray``, the loop's weak transport map, address tuples); a mock PLC holds ten thousand
idle connections. :class:`LeanTransport` is the subset of :class:`asyncio.Transport` the links
use (write with a buffer and high/low-water marks, half-close, close, abort, pause/resume
reading, ``BufferedProtocol`` delivery), driven by ``loop.add_reader``/``add_writer`` on the
socket, with ``__slots__`` and nothing allocated until it is needed. :class:`LeanServer` accepts
on one listening socket the same way. The client side keeps asyncio's ``create_connection``.

The connections of one server are not registered with the loop one by one either: a
:class:`Poller` keeps them in an epoll of its own, registered with the loop as one reader, and
calls the transports straight from its ready list. asyncio's ``add_reader`` keeps a selector
key, a handle and its argument tuple per connection (~0.4 KB) and runs each ready socket
through a handle, a context and the ready queue (~15 % of the CPU of a small echo); the poller
keeps one dict entry per socket and makes one call per event. On a loop made by
:func:`lean_event_loop` (``ouc serve``, :mod:`ouc.drivers._aio_loop`) the poller needs no epoll of
its own either: its sockets sit in the loop's own epoll (:class:`LeanSelector`), whose
``select()`` calls their transports directly while it hands the loop's other events back to
asyncio — one ``epoll_wait`` per iteration of the loop instead of two, and no handle per ready
poller. TCP_NODELAY is set on the listening socket, which accepted sockets inherit on Linux (no
system call per connection).
"""

from __future__ import annotations

import _socket
import asyncio
import errno
import functools
import logging
import select
import socket
from collections.abc import Callable
from typing import Any

from ouc.drivers import _aio_loop
from ouc.drivers._aio_loop import (
    IN,
    OUT,
    POLL_BATCH,
    READABLE,
    WRITABLE,
    Acceptor,
    LeanSelector,
    lean_event_loop,
)
from ouc.drivers._keepalive import ACCEPT_INHERITS_KEEPALIVE, KeepAlive, apply_keepalive

__all__ = ["LeanSelector", "LeanServer", "LeanTransport", "Poller", "lean_event_loop"]

log = logging.getLogger("ouc.drivers")

_HIGH_WATER = 64 * 1024  # asyncio's default for socket transports
_LOW_WATER = _HIGH_WATER // 4
_ACCEPT_BATCH = 100  # connections taken per readiness callback (asyncio's backlog loop)
_ACCEPT_RETRY = 1.0  # seconds without accepting after running out of descriptors
_OUT_OF_FDS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)
_IN = IN
_OUT = OUT


def _dispatch(
    events: list[tuple[int, int]],
    targets: dict[int, LeanTransport],
    loop: asyncio.AbstractEventLoop,
) -> None:
    """Hand each ``(fd, event)`` of a transport in ``targets`` to it."""
    for fd, event in events:
        transport = targets.get(fd)
        if transport is None:
            continue  # unregistered by an earlier callback of this batch
        try:
            if event & READABLE and transport._mask & _IN:
                transport._read_ready()
            if event & WRITABLE and transport._mask & _OUT:
                transport._write_ready()
        except Exception as exc:  # as a loop handle would: report, go on with the rest
            loop.call_exception_handler(
                {"message": "lean transport callback failed", "exception": exc}
            )


class Poller:
    """One epoll for the transports of a :class:`LeanServer`, one reader of the loop.

    Level-triggered like asyncio's selector: a transport wants ``EPOLLIN`` while it reads and
    ``EPOLLOUT`` while bytes wait for the socket. The poller closes itself once its server
    closed and its last transport is gone. On a loop over a :class:`LeanSelector` it uses the
    loop's epoll and registers nothing with the loop.
    """

    __slots__ = ("_epoll", "_loop", "_own", "_retired", "_targets", "_transports", "call_soon")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._transports = 0  # transports alive (registered or not)
        self._retired = False
        selector = getattr(loop, "_selector", None)
        self._own = not isinstance(selector, LeanSelector)
        if isinstance(selector, LeanSelector):
            selector.loop = loop
            # Deferred calls of the transports (connection_lost) run from select() too.
            self.call_soon: Callable[..., object] = selector.call_soon
            self._epoll = selector.epoll
            # fd -> transport, while it wants events (shared by the loop's pollers)
            self._targets: dict[int, LeanTransport] = selector.lean
            return
        self.call_soon = loop.call_soon
        self._epoll = select.epoll()
        self._targets = {}
        loop.add_reader(self._epoll.fileno(), self._ready)

    def watch(self, sock: socket.socket, accept: Callable[[], None]) -> None:
        """Call ``accept`` whenever listening socket ``sock`` is readable: from the shared
        epoll on a :class:`LeanSelector` loop, else as a reader of the loop."""
        if self._own:
            self._loop.add_reader(sock.fileno(), accept)
        else:
            self.want(sock.fileno(), Acceptor(accept), _IN)  # type: ignore[arg-type]

    def unwatch(self, sock: socket.socket) -> None:
        if self._own:
            self._loop.remove_reader(sock.fileno())
        else:
            self.want(sock.fileno(), None, 0)  # type: ignore[arg-type]

    def attach(self) -> None:
        self._transports += 1

    def detach(self) -> None:
        self._transports -= 1
        if self._retired and not self._transports:
            self._close()

    def retire(self) -> None:
        """The server stopped accepting: close once the last transport is gone."""
        self._retired = True
        if not self._transports:
            self._close()

    def _close(self) -> None:
        epoll = self._epoll
        if self._own and not epoll.closed:
            self._loop.remove_reader(epoll.fileno())
            epoll.close()

    def want(self, fd: int, transport: LeanTransport, mask: int) -> None:
        """Deliver the events of ``mask`` on ``fd`` to ``transport`` (0: none)."""
        targets = self._targets
        if mask:
            if fd in targets:
                self._epoll.modify(fd, mask)
            else:
                self._epoll.register(fd, mask)
                targets[fd] = transport
        else:
            self.forget(fd)

    def forget(self, fd: int) -> None:
        """No more events of ``fd`` for its transport, which closes it soon. Taken out of the
        epoll here rather than left to the close: closing drops the epoll entry only when no
        other descriptor holds the socket, and a forked child (a behaviour that starts a
        process) would keep it there, reporting a hung-up peer on every poll for ever."""
        if self._targets.pop(fd, None) is not None:
            # suppress() would cost three calls per connection. OSError: closed already, the
            # kernel dropped it with the socket.
            try:  # noqa: SIM105
                self._epoll.unregister(fd)
            except OSError:
                pass

    def _ready(self) -> None:
        try:
            events = self._epoll.poll(0, POLL_BATCH)
        except InterruptedError:
            return
        _dispatch(events, self._targets, self._loop)


class LeanTransport(asyncio.Transport):
    """One accepted TCP connection for an :class:`asyncio.BufferedProtocol`."""

    __slots__ = (
        "_buffer",
        "_closing",
        "_eof_pending",
        "_fd",
        "_loop",
        "_lost_scheduled",
        "_mask",
        "_paused",
        "_peer",
        "_poller",
        "_protocol",
        "_sock",
        "_write_paused",
    )

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        sock: _socket.socket,
        protocol: asyncio.BufferedProtocol,
        peer: Any,
        poller: Poller,
    ) -> None:
        self._loop = loop
        self._poller = poller
        poller.attach()
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        self._peer = peer
        self._buffer: bytearray | None = None  # unsent bytes, only while the socket is full
        self._closing = False
        self._lost_scheduled = False  # connection_lost is on its way (or done)
        self._eof_pending = False
        self._paused = False  # reading paused by the protocol
        self._mask = 0  # the epoll events wanted: EPOLLIN while reading, EPOLLOUT while full
        self._write_paused = False  # protocol told to pause writing

    def start(self) -> None:
        """connection_made, then reading (unless the protocol paused or closed it there)."""
        try:
            self._protocol.connection_made(self)
        except Exception as exc:
            self._protocol_failed(exc, "connection_made")
            return
        # The address the protocol has read by now; asked again later, the socket answers.
        # Ten thousand idle connections save the accept() tuple and its host string each.
        self._peer = None
        if not self._closing and not self._paused:
            self._start_reading()

    # -- asyncio.BaseTransport --------------------------------------------------------------

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "socket":
            return self._sock
        if name == "peername":
            if self._peer is not None:
                return self._peer
            try:
                return self._sock.getpeername()
            except OSError:
                return default
        if name == "sockname":
            try:
                return self._sock.getsockname()
            except OSError:
                return default
        return default

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        """Stop reading; close once the buffered bytes are out."""
        if self._closing:
            return
        self._closing = True
        self._stop_reading()
        if not self._buffer:
            self._schedule_lost(None)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        assert isinstance(protocol, asyncio.BufferedProtocol)
        self._protocol = protocol

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    # -- reading ----------------------------------------------------------------------------

    def is_reading(self) -> bool:
        return bool(self._mask & _IN)

    def pause_reading(self) -> None:
        self._paused = True
        self._stop_reading()

    def resume_reading(self) -> None:
        self._paused = False
        if not self._closing:
            self._start_reading()

    def _start_reading(self) -> None:
        mask = self._mask
        if not mask & _IN:
            self._mask = mask = mask | _IN
            self._poller.want(self._fd, self, mask)

    def _stop_reading(self) -> None:
        mask = self._mask
        if mask & _IN:
            self._mask = mask = mask & ~_IN
            self._poller.want(self._fd, self, mask)

    def _read_ready(self) -> None:
        protocol = self._protocol
        try:
            buffer = protocol.get_buffer(-1)  # an empty one is refused below, on 0 bytes read
        except Exception as exc:
            self._protocol_failed(exc, "get_buffer")
            return
        try:
            count = self._sock.recv_into(buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            # Called from the selector, not from inside the protocol: connection_lost can run
            # now rather than through a handle in the next iteration (a reset peer, e.g. every
            # `openssl s_time` connection, costs no extra wake-up of the loop).
            self._buffer = None
            self._closing = self._lost_scheduled = True
            self._lost(exc)
            return
        if count:
            try:
                protocol.buffer_updated(count)
            except Exception as exc:
                self._protocol_failed(exc, "buffer_updated")
            return
        if not len(buffer):  # type: ignore[arg-type]  # a memoryview or bytearray
            self._protocol_failed(
                RuntimeError("get_buffer() returned an empty buffer"), "get_buffer"
            )
            return
        self._stop_reading()
        try:
            keep_open = protocol.eof_received()
        except Exception as exc:
            self._protocol_failed(exc, "eof_received")
            return
        if not keep_open:
            self.close()

    # -- writing ----------------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._closing or self._eof_pending or not data:
            return
        buffer = self._buffer
        if buffer:
            buffer += data
        else:
            try:
                sent = self._sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._fatal(exc)
                return
            if sent == len(data):
                return
            self._buffer = buffer = bytearray(memoryview(data)[sent:])
            self._mask |= _OUT
            self._poller.want(self._fd, self, self._mask)
        if not self._write_paused and len(buffer) > _HIGH_WATER:
            self._write_paused = True
            try:
                self._protocol.pause_writing()
            except Exception as exc:
                self._protocol_failed(exc, "pause_writing")

    def _write_ready(self) -> None:
        buffer = self._buffer
        assert buffer is not None
        try:
            sent = self._sock.send(buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fatal(exc)
            return
        del buffer[:sent]
        if not buffer:  # before resume_writing: a write from inside it starts afresh
            self._buffer = None
            self._mask &= ~_OUT
            self._poller.want(self._fd, self, self._mask)
        if self._write_paused and len(buffer) <= _LOW_WATER:
            self._write_paused = False
            try:
                self._protocol.resume_writing()
            except Exception as exc:
                self._protocol_failed(exc, "resume_writing")
                return
        if self._buffer is not None:
            return  # still (or again) bytes waiting for the socket
        if self._closing:
            self._schedule_lost(None)
        elif self._eof_pending:
            self._shutdown_write()

    def get_write_buffer_size(self) -> int:
        return len(self._buffer) if self._buffer else 0

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return _LOW_WATER, _HIGH_WATER

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        """Half-close (FIN) once the buffered bytes are out."""
        if self._closing or self._eof_pending:
            return
        self._eof_pending = True
        if not self._buffer:
            self._shutdown_write()

    def _shutdown_write(self) -> None:
        try:
            self._sock.shutdown(socket.SHUT_WR)
        except OSError as exc:
            self._fatal(exc)

    # -- ending -----------------------------------------------------------------------------

    def abort(self) -> None:
        """Close now, dropping unsent bytes (a reset when SO_LINGER 0 is set)."""
        self._force_close(None)

    def _fatal(self, exc: OSError) -> None:
        self._force_close(exc)

    def _protocol_failed(self, exc: Exception, call: str) -> None:
        """A protocol callback raised: report it to the loop and close, as asyncio does."""
        self._loop.call_exception_handler(
            {
                "message": f"protocol.{call}() call failed",
                "exception": exc,
                "transport": self,
                "protocol": self._protocol,
            }
        )
        self._force_close(exc)

    def _force_close(self, exc: Exception | None) -> None:
        self._buffer = None
        self._closing = True
        if self._mask:
            # No more events for it; it leaves the epoll now, and _lost() closes it in this
            # pass of the lean selector.
            self._mask = 0
            self._poller.forget(self._fd)
        self._schedule_lost(exc)

    def _schedule_lost(self, exc: Exception | None) -> None:
        """connection_lost once, soon, never from inside the caller (as asyncio does): after
        the events at hand of the lean selector's pass, or in the loop's next iteration."""
        if not self._lost_scheduled:
            self._lost_scheduled = True
            self._poller.call_soon(self._lost, exc)

    def _lost(self, exc: Exception | None) -> None:
        try:
            self._protocol.connection_lost(exc)
        finally:
            if self._mask:  # e.g. closed with bytes still buffered: nothing more to wait for
                self._mask = 0
                self._poller.forget(self._fd)
            self._sock.close()
            self._poller.detach()
            self._protocol = None  # type: ignore[assignment]  # no cycle with the protocol

    def __repr__(self) -> str:
        state = "closing" if self._closing else "open"
        return f"<LeanTransport fd={self._fd} {state}>"


def _accept_fd(lsock: socket.socket) -> tuple[int, Any]:
    """``socket.accept()`` as ``socket.socket._accept`` answers: the descriptor and address."""
    conn, peer = lsock.accept()
    return conn.detach(), peer


class LeanServer:
    """Accepts on its listening sockets (one per resolved address), a :class:`LeanTransport`
    per connection."""

    __slots__ = ("_factory", "_keepalive", "_loop", "_poller", "_raw", "_retry", "_socks")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        socks: list[socket.socket],
        factory: Callable[[], asyncio.BufferedProtocol],
        keepalive: KeepAlive | None = None,
    ) -> None:
        self._loop = loop
        self._socks = socks
        self._factory = factory
        # Armed on the listeners; accepted sockets inherit it where the kernel copies it.
        self._keepalive = None if ACCEPT_INHERITS_KEEPALIVE else keepalive
        self._retry: dict[socket.socket, asyncio.TimerHandle] = {}
        self._raw = _aio_loop.raw_accept()  # socket.socket._accept is there
        self._poller = Poller(loop)
        for sock in socks:
            sock.setblocking(False)
            self._watch(sock)

    @classmethod
    async def create(
        cls,
        factory: Callable[[], asyncio.BufferedProtocol],
        host: str,
        port: int,
        *,
        backlog: int,
        keepalive: KeepAlive | None = None,
        reuse_port: bool = False,
    ) -> LeanServer:
        """Bind every address ``host`` resolves to (like ``loop.create_server``: SO_REUSEADDR,
        IPV6_V6ONLY on IPv6; SO_REUSEPORT with ``reuse_port``, so several processes listen on
        one port and the kernel spreads the connections) and listen; OSError as bind raises it
        (nothing stays bound). ``keepalive``: TCP keep-alive for every accepted socket (None:
        off)."""
        loop = asyncio.get_running_loop()
        flags = socket.AI_PASSIVE
        try:  # an address literal needs no resolver (and no executor thread)
            infos = socket.getaddrinfo(
                host or None, port, type=socket.SOCK_STREAM, flags=flags | socket.AI_NUMERICHOST
            )
        except socket.gaierror:
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=flags)
        socks: list[socket.socket] = []
        try:
            for family, kind, proto, _, address in dict.fromkeys(infos):
                sock = socket.socket(family, kind, proto)
                socks.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if reuse_port:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                if family == socket.AF_INET6:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                sock.bind(address)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted inherit
                sock.listen(backlog)
                apply_keepalive(sock, keepalive)
        except OSError:
            for sock in socks:
                sock.close()
            raise
        return cls(loop, socks, factory, keepalive)

    @property
    def sockets(self) -> tuple[socket.socket, ...]:
        return tuple(sock for sock in self._socks if sock.fileno() >= 0)

    def _watch(self, sock: socket.socket) -> None:
        kind = (int(sock.family), int(sock.type), sock.proto)
        self._poller.watch(sock, functools.partial(self._accept_ready, sock, kind))

    def close(self) -> None:
        """Stop accepting (connections already accepted are not touched)."""
        for retry in self._retry.values():
            retry.cancel()
        self._retry.clear()
        for sock in self._socks:
            if sock.fileno() >= 0:
                self._poller.unwatch(sock)
                sock.close()
        self._poller.retire()

    def _accept_ready(self, lsock: socket.socket, kind: tuple[int, int, int]) -> None:
        loop = self._loop
        # socket.accept() without its wrapper, which asks the listener for its family and type
        # (two enum conversions) and for timeouts on every call: ``kind`` is the listener's
        # (family, type, proto), read once. The accepted socket is made non-blocking at once.
        # A Python without ``_accept``: the wrapper, its socket taken apart again.
        raw = lsock._accept if self._raw else None  # type: ignore[attr-defined]
        accept = raw or functools.partial(_accept_fd, lsock)
        for _ in range(_ACCEPT_BATCH):
            try:
                fd, peer = accept()
            except (BlockingIOError, InterruptedError, ConnectionAbortedError):
                return
            except OSError as exc:
                if exc.errno not in _OUT_OF_FDS:
                    return  # that peer is gone; the next one is what counts
                log.warning("accept() failed (%s); retrying in %g s", exc, _ACCEPT_RETRY)
                self._poller.unwatch(lsock)
                self._retry[lsock] = loop.call_later(_ACCEPT_RETRY, self._resume, lsock)
                return
            # The C socket type: socket.socket's Python __init__ and close() wrappers add
            # nothing a transport uses (the fd is ours, no makefile()).
            conn = _socket.socket(*kind, fileno=fd)
            conn.setblocking(False)
            if self._keepalive is not None:
                apply_keepalive(conn, self._keepalive)
            try:
                protocol = self._factory()
            except Exception:
                log.exception("setting up an accepted connection failed")
                conn.close()
                continue
            LeanTransport(loop, conn, protocol, peer, self._poller).start()

    def _resume(self, lsock: socket.socket) -> None:
        self._retry.pop(lsock, None)
        if lsock.fileno() >= 0:
            self._watch(lsock)
