"""The event loop of ``ouc serve``: asyncio's epoll selector whose epoll also serves the lean
transports of :mod:`ouc.drivers._aio_sock` (:class:`LeanSelector`), or, where this Python
lacks the internals that needs, asyncio's default loop (:func:`lean_event_loop` decides).

:class:`LeanSelector` reads two private attributes of ``selectors.EpollSelector`` (the epoll
object ``_selector`` and the ``_fd_to_key`` map) and :class:`~ouc.drivers._aio_sock.LeanServer`
accepts through ``socket.socket._accept``; CPython 3.11 to 3.13 have them all.
:func:`missing_internals` checks for them, so a Python that renamed one serves on asyncio's
default loop (the connections then sit in a :class:`~ouc.drivers._aio_sock.Poller`'s own epoll,
one reader of the loop) and accepts with ``socket.accept()``: slower, never broken. While the
loop has neither a timer nor a ready handle, ``select()`` also reads the loop's ``_ready``,
``_scheduled`` and ``_stopping`` to wait again by itself (where a loop lacks them it returns
after every wake-up).
"""

from __future__ import annotations

import asyncio
import logging
import math
import select
import selectors
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ouc.drivers._aio_sock import LeanTransport

__all__ = ["LeanEventLoop", "LeanSelector", "lean_event_loop", "missing_internals"]

log = logging.getLogger("ouc.drivers")

IN = select.EPOLLIN
OUT = select.EPOLLOUT
READABLE = IN | select.EPOLLERR | select.EPOLLHUP
WRITABLE = OUT | select.EPOLLERR | select.EPOLLHUP
POLL_BATCH = 1024  # events taken per wake-up of the loop
RAW_ACCEPT = "socket.socket._accept"


def missing_internals(
    selector: object | None = None, sock_class: type = socket.socket
) -> list[str]:
    """The private attributes the lean loop relies on that are missing here ([]: none).

    ``sock_class`` must have ``_accept`` (accept without building a socket object); the
    ``selector``, if given, an epoll ``_selector`` with ``poll`` and an ``_fd_to_key`` map.
    """
    missing = [] if hasattr(sock_class, "_accept") else [RAW_ACCEPT]
    if selector is not None:
        if not callable(getattr(getattr(selector, "_selector", None), "poll", None)):
            missing.append("selectors.EpollSelector._selector.poll")
        if not callable(getattr(getattr(selector, "_fd_to_key", None), "get", None)):
            missing.append("selectors.EpollSelector._fd_to_key")
    return missing


def raw_accept() -> bool:
    """Whether listeners may accept through ``socket.socket._accept``."""
    return RAW_ACCEPT not in missing_internals()


if TYPE_CHECKING:
    _EpollSelector = selectors.EpollSelector
else:  # gevent's monkey-patching (Locust) takes epoll out of selectors
    _EpollSelector = getattr(selectors, "EpollSelector", selectors.DefaultSelector)


class LeanSelector(_EpollSelector):
    """The selector of :func:`lean_event_loop`: asyncio's epoll selector whose epoll also holds
    the sockets of :class:`~ouc.drivers._aio_sock.LeanTransport` objects and calls them from
    ``select()``.

    asyncio's own readers and writers are kept and reported as usual; an event on a lean
    socket goes straight to its transport instead (as the
    :class:`~ouc.drivers._aio_sock.Poller` would call it from its handle), so ``select()``
    returns only asyncio's events.
    """

    def __init__(self) -> None:
        super().__init__()
        self.lean: dict[int, LeanTransport] = {}  # fd -> transport, while it wants events
        self.loop: asyncio.AbstractEventLoop | None = None  # reports callback failures
        # The loop whose _ready, _scheduled and _stopping select() may look at (None: return
        # after every wake-up, as any selector does).
        self.idle: asyncio.AbstractEventLoop | None = None

    def _report(self, exc: Exception) -> None:
        """A lean callback raised: to the loop's exception handler, as a handle's would go."""
        context = {"message": "lean transport callback failed", "exception": exc}
        if self.loop is not None:
            self.loop.call_exception_handler(context)
        else:
            log.error(context["message"], exc_info=exc)

    @property
    def epoll(self) -> select.epoll:
        return self._selector  # type: ignore[attr-defined]

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        # EpollSelector.select, with the lean sockets taken out of the ready list.
        if timeout is None:
            timeout = -1
        elif timeout <= 0:
            timeout = 0
        else:  # epoll_wait() counts milliseconds: wait at least ``timeout``
            timeout = math.ceil(timeout * 1e3) * 1e-3
        lean = self.lean
        fd_to_key = self._fd_to_key  # type: ignore[attr-defined]
        poll = self._selector.poll  # type: ignore[attr-defined]
        # Waiting without a deadline means the loop has no timer and nothing ready: while the
        # lean callbacks leave it so (no handle, no timer, no stop, no asyncio event), wait
        # again right here instead of returning into a whole iteration of the loop for nothing
        # (an established connection's record round trip is then one pass of this loop).
        loop = self.idle if timeout == -1 else None
        ready: list[tuple[selectors.SelectorKey, int]] = []
        while True:
            try:
                # A fixed batch rather than asyncio's count of registered descriptors (four
                # calls per wake-up): epoll_wait costs the same either way.
                events = poll(timeout, POLL_BATCH)
            except InterruptedError:
                return ready
            for fd, event in events:
                transport = lean.get(fd)
                if transport is not None:
                    try:
                        if event & READABLE and transport._mask & IN:
                            transport._read_ready()
                        if event & WRITABLE and transport._mask & OUT:
                            transport._write_ready()
                    except Exception as exc:  # as a loop handle would: report, go on
                        self._report(exc)
                    continue
                key = fd_to_key.get(fd)
                if key is not None:
                    mask = 0
                    if event & ~IN:
                        mask |= selectors.EVENT_WRITE
                    if event & ~OUT:
                        mask |= selectors.EVENT_READ
                    ready.append((key, mask & key.events))
            if (
                ready
                or loop is None
                or loop._ready  # type: ignore[attr-defined]
                or loop._scheduled  # type: ignore[attr-defined]
                or loop._stopping  # type: ignore[attr-defined]
            ):
                return ready


class LeanEventLoop(asyncio.SelectorEventLoop):
    """asyncio's selector loop whose ``time()`` is ``time.monotonic`` itself, as
    ``BaseEventLoop.time`` returns it, without a Python call around it (the loop reads the
    clock twice per iteration, the links once per event)."""

    time = staticmethod(time.monotonic)


def lean_event_loop() -> asyncio.AbstractEventLoop:
    """A new event loop over a :class:`LeanSelector` (``asyncio.Runner(loop_factory=...)``);
    asyncio's default loop where selectors has no epoll or this Python lacks an internal the
    lean selector needs (:func:`missing_internals`). The one place that decides."""
    if not hasattr(selectors, "EpollSelector"):
        missing = ["selectors.EpollSelector"]
    else:
        selector = LeanSelector()
        missing = missing_internals(selector)
        if not missing:
            loop = LeanEventLoop(selector)
            selector.loop = loop
            if all(hasattr(loop, name) for name in ("_ready", "_scheduled", "_stopping")):
                selector.idle = loop
            return loop
        selector.close()
    log.info("asyncio's default event loop: this Python lacks %s", ", ".join(missing))
    return asyncio.new_event_loop()


class Acceptor:
    """A listening socket among the lean transports of a :class:`LeanSelector`: readable
    means connections wait to be accepted (no handle of the loop per accept)."""

    __slots__ = ("_read_ready",)

    _mask = IN

    def __init__(self, accept: Callable[[], None]) -> None:
        self._read_ready = accept

    def _write_ready(self) -> None:  # never wanted
        pass
