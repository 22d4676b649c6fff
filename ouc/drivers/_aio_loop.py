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
import heapq
import logging
import math
import select
import selectors
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ouc.drivers._aio_sock import LeanTransport

__all__ = [
    "Deadline",
    "LeanEventLoop",
    "LeanSelector",
    "TimerSource",
    "lean_event_loop",
    "missing_internals",
    "timer_source",
]

log = logging.getLogger("ouc.drivers")

IN = select.EPOLLIN
OUT = select.EPOLLOUT
READABLE = IN | select.EPOLLERR | select.EPOLLHUP
WRITABLE = OUT | select.EPOLLERR | select.EPOLLHUP
POLL_BATCH = 1024  # events taken per wake-up of the loop
_RESOLUTION = time.get_clock_info("monotonic").resolution  # asyncio's _clock_resolution
_COMPACT_AT = 100  # cancelled deadlines before the heap is rebuilt (asyncio's threshold)
_monotonic = time.monotonic
_heappop = heapq.heappop
_heappush = heapq.heappush
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


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class TimerSource(Protocol):
    """What a link arms its timer with: an event loop, or the :class:`LeanSelector` under
    one (:func:`timer_source`)."""

    def call_at(self, when: float, callback: Callable[[], Any]) -> Cancellable: ...


class Deadline(list[Any]):
    """A timer of a :class:`LeanSelector`: ``[when, sequence, callback, selector]``, ordered
    by time then arming order in the selector's heap; a list, so made without a Python call."""

    __slots__ = ()

    def cancel(self) -> None:
        if self[2] is not None:
            self[2] = None
            self[3]._cancelled += 1


class LeanSelector(_EpollSelector):
    """The selector of :func:`lean_event_loop`: asyncio's epoll selector whose epoll also holds
    the sockets of :class:`~ouc.drivers._aio_sock.LeanTransport` objects and calls them from
    ``select()``.

    asyncio's own readers and writers are kept and reported as usual; an event on a lean
    socket goes straight to its transport instead (as the
    :class:`~ouc.drivers._aio_sock.Poller` would call it from its handle), so ``select()``
    returns only asyncio's events. The links' timers (handshake, idle, close) and the lean
    transports' deferred calls run here too (:meth:`call_at`, :meth:`call_soon`): no handle,
    context copy or heap entry of the loop per connection, and while asyncio itself has
    nothing to do, ``select()`` serves the lean sockets and timers without returning.
    """

    def __init__(self) -> None:
        super().__init__()
        self.lean: dict[int, LeanTransport] = {}  # fd -> transport, while it wants events
        self.loop: asyncio.AbstractEventLoop | None = None  # reports callback failures
        # The loop whose _ready, _scheduled and _stopping select() may look at (None: return
        # after every wake-up, as any selector does).
        self.idle: asyncio.AbstractEventLoop | None = None
        self._timers: list[Deadline] = []  # a heap
        self._sequence = 0
        self._cancelled = 0  # cancelled deadlines still in the heap
        self._soon: list[tuple[Callable[..., Any], tuple[Any, ...]]] = []

    def call_at(self, when: float, callback: Callable[[], Any]) -> Deadline:
        """Call ``callback`` from :meth:`select` once ``loop.time()`` reaches ``when``."""
        self._sequence += 1
        deadline = Deadline((when, self._sequence, callback, self))
        _heappush(self._timers, deadline)
        return deadline

    def call_soon(self, callback: Callable[..., Any], *args: Any) -> None:
        """Call ``callback(*args)`` from :meth:`select`, after the events at hand."""
        self._soon.append((callback, args))

    def _due(self, timeout: float) -> float:
        """Run the timers that are due; the poll timeout that wakes up for the next one (0
        once a timer ran: what it scheduled with the loop must not wait for the poll)."""
        timers = self._timers
        now = _monotonic()
        end = now + _RESOLUTION  # as asyncio: due within the clock's resolution
        ran = False
        while timers:
            head = timers[0]
            callback = head[2]
            if callback is None:
                _heappop(timers)
                self._cancelled -= 1
                continue
            if head[0] >= end:
                break
            _heappop(timers)
            head[2] = None
            ran = True
            try:
                callback()
            except Exception as exc:  # as a loop handle would: report, go on
                self._report(exc)
        if self._cancelled > _COMPACT_AT and 2 * self._cancelled > len(timers):
            timers[:] = [deadline for deadline in timers if deadline[2] is not None]
            heapq.heapify(timers)
            self._cancelled = 0
        if ran:
            return 0
        if not timers:
            return timeout
        wait = max(0.0, _ms(timers[0][0] - now))
        return wait if timeout < 0 or wait < timeout else timeout

    def _run_soon(self) -> None:
        batch, self._soon = self._soon, []
        done = 0
        try:
            for callback, args in batch:
                done += 1
                try:
                    callback(*args)
                except Exception as exc:
                    self._report(exc)
        except BaseException:  # KeyboardInterrupt, SystemExit: the rest runs in a later pass
            self._soon[:0] = batch[done:]
            raise

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
            timeout = _ms(timeout)
        lean = self.lean
        fd_to_key = self._fd_to_key  # type: ignore[attr-defined]
        poll = self._selector.poll  # type: ignore[attr-defined]
        timers = self._timers
        # While the lean callbacks give asyncio nothing to do (no event of its own, no ready
        # handle, no earlier timer, no stop) and its next timer is not due, wait again right
        # here instead of returning into a whole iteration of the loop for nothing: accepts,
        # handshakes, records and the lean timers are then passes of this loop.
        loop = self.idle if timeout else None
        if loop is not None:
            scheduled = loop._scheduled  # type: ignore[attr-defined]
            head = scheduled[0] if scheduled else None
            end = _monotonic() + timeout if timeout > 0 else 0.0
        ready: list[tuple[selectors.SelectorKey, int]] = []
        while True:
            wait = timeout
            if timers:  # _due() only when one is due: else the poll wakes up for the first
                now = _monotonic()
                first = timers[0]
                if first[2] is None or first[0] < now + _RESOLUTION:
                    wait = self._due(timeout)
                else:
                    wait = math.ceil((first[0] - now) * 1e3) * 1e-3
                    if 0 <= timeout < wait:
                        wait = timeout
            if self._soon:  # after the timers: a deferred call in every pass must not starve them
                wait = 0
            try:
                # A fixed batch rather than asyncio's count of registered descriptors (four
                # calls per wake-up): epoll_wait costs the same either way.
                events = poll(wait, POLL_BATCH)
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
            if self._soon:
                self._run_soon()
            if (
                ready
                or loop is None
                or loop._ready  # type: ignore[attr-defined]
                or loop._stopping  # type: ignore[attr-defined]
            ):
                return ready
            if scheduled or head is not None:
                if not scheduled or scheduled[0] is not head:
                    return ready  # a timer armed meanwhile may be due earlier
                timeout = end - _monotonic()
                if timeout <= 0:
                    return ready  # asyncio's own timer is due
                timeout = _ms(timeout)


def _ms(seconds: float) -> float:
    """``seconds`` rounded up to what epoll_wait() counts: wait at least that long."""
    return math.ceil(seconds * 1e3) * 1e-3


def timer_source(loop: asyncio.AbstractEventLoop) -> TimerSource:
    """Where the links of ``loop`` arm their timers: the :class:`LeanSelector` under it, else
    the loop itself."""
    selector = getattr(loop, "_selector", None)
    return selector if isinstance(selector, LeanSelector) else loop


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
