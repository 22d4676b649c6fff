"""The byte-transform contract between the connection state machine and what lies under it.

The sans-I/O connection (``ouc.conn``) speaks TSEND_C/TRCV_C framing over a *transport*: either
plain TCP (bytes pass through unchanged) or the TLS engine (``ouc.tls``), which turns wire bytes
into plaintext and back. Both follow the h11-style three verbs: feed wire bytes in, pull events
out, take wire bytes to send. Nothing here does I/O; the drivers move the bytes.

A transport may also offer ``set_plaintext_sink(sink)`` (both here do): the connection's data
phase then receives plaintext through ``sink(data)`` during ``receive_data`` instead of one
:class:`PlaintextReceived` event per chunk, the record path's cheapest hand-off; and ``events``,
its :class:`EventQueue`, which the connection looks at before calling ``next_event`` (an empty
queue is the common case); and ``receive_reset()``, the end of the stream when the driver saw
a TCP reset (ECONNRESET) rather than a FIN: the events then say "reset". All three are
optional, not part of :class:`Transport`, so that any object with the three verbs still
qualifies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, TypeVar, runtime_checkable

__all__ = [
    "Closed",
    "EventQueue",
    "Failed",
    "HandshakeComplete",
    "PlainTransport",
    "PlaintextReceived",
    "QueuedEvents",
    "SessionInfo",
    "Transport",
    "TransportEvent",
]


_T = TypeVar("_T")


class EventQueue(list[_T]):
    """Pending events in arrival order: ``append`` adds, :meth:`take` returns the oldest.

    A list taken by index and emptied once everything was taken: O(1) per event however many
    one chunk of bytes produced, and an empty queue costs a list (56 bytes) where a ``deque``
    costs ~700 — a mock PLC holds thousands of idle connections with three queues each. Truthy
    exactly while something waits. One consumer at a time.
    """

    __slots__ = ("_head",)

    def __init__(self) -> None:
        super().__init__()
        self._head = 0

    def take(self) -> _T | None:
        """The oldest pending event, or None."""
        if not self:
            return None
        head = self._head
        item = self[head]
        head += 1
        if head == len(self):
            self.clear()
            head = 0
        self._head = head
        return item


@dataclass(frozen=True, slots=True)
class SessionInfo:
    """What a PLC engineer wants to see about an established connection.

    For plain TCP every TLS field is None and ``secure`` is False.
    """

    secure: bool = False
    version: str | None = None  # "TLSv1.3"
    cipher: str | None = None  # "TLS_AES_256_GCM_SHA384"
    group: str | None = None  # "x25519"
    peer_subject: str | None = None  # RFC 4514 subject of the peer's end-entity certificate
    peer_cert_der: bytes | None = None
    resumed: bool = False
    own_cert_id: int | None = None  # certificate-manager ID of the certificate we presented
    peer_anchor_id: int | None = None  # ID of the store certificate that validated the peer
    insecure: bool = False  # verification was switched off explicitly


@dataclass(frozen=True)
class HandshakeComplete:
    """The transport is ready for application data."""

    info: SessionInfo


@dataclass(frozen=True)
class PlaintextReceived:
    """Application bytes from the peer (any split; framing is the connection's job)."""

    data: bytes


@dataclass(frozen=True)
class Closed:
    """The peer ended the stream (TCP FIN, TLS close_notify), or reset it (``reset``: a TCP
    RST the driver saw, told through ``receive_reset``)."""

    reset: bool = False


@dataclass(frozen=True)
class Failed:
    """The transport failed; ``status`` is the PLC code (16#80E0..16#80E7, 16#80C5, ...)."""

    status: int
    reason: str
    # True when the firmware-like "strict" profile wants the TCP connection reset rather than
    # closed after an alert: the driver then closes with SO_LINGER 0.
    reset: bool = False


TransportEvent = HandshakeComplete | PlaintextReceived | Closed | Failed


class QueuedEvents:
    """``next_event`` and ``events`` of a transport that queues its events in ``_events``."""

    __slots__ = ()

    _events: EventQueue[TransportEvent]

    def next_event(self) -> TransportEvent | None:
        """The next event, or None when more wire bytes are needed."""
        events = self._events
        return events.take() if events else None

    @property
    def events(self) -> EventQueue[TransportEvent]:
        """The pending events (read-only; truthy while :meth:`next_event` has one)."""
        return self._events


@runtime_checkable
class Transport(Protocol):
    """Sans-I/O byte transform under the connection state machine."""

    def start(self) -> None:
        """Begin: a TLS client produces its ClientHello here; plain TCP is ready at once."""

    def receive_data(self, data: bytes) -> None:
        """Feed bytes from the wire; ``b""`` means the peer closed its sending side."""

    def next_event(self) -> TransportEvent | None:
        """Pull the next event, or None when more wire bytes are needed."""

    def send(self, data: bytes) -> None:
        """Queue application bytes (only after HandshakeComplete)."""

    def data_to_send(self) -> bytes:
        """Take the bytes to write to the wire now (may be empty)."""

    def close(self) -> None:
        """Start an orderly close (TLS close_notify); the driver then half-closes the socket."""


@dataclass
class PlainTransport(QueuedEvents):
    """Plain TCP (``ActivateSecureConn`` FALSE): bytes pass through unchanged."""

    _events: EventQueue[TransportEvent] = field(default_factory=EventQueue)
    _out: bytearray = field(default_factory=bytearray)
    _closed: bool = False
    _sink: Callable[[bytes], None] | None = None

    def start(self) -> None:
        self._events.append(HandshakeComplete(SessionInfo()))

    def set_plaintext_sink(self, sink: Callable[[bytes], None] | None) -> None:
        """Hand received bytes to ``sink`` while no event waits (see the module docstring)."""
        self._sink = sink

    def receive_data(self, data: bytes) -> None:
        if self._closed:
            return
        if data:
            sink = self._sink
            if sink is None or self._events:
                self._events.append(PlaintextReceived(bytes(data)))
            else:
                sink(bytes(data))
        else:
            self._closed = True
            self._events.append(Closed())

    def receive_reset(self) -> None:
        """The peer reset the TCP connection (RST): the end of the stream, said as a reset."""
        if not self._closed:
            self._closed = True
            self._events.append(Closed(reset=True))

    def send(self, data: bytes) -> None:
        self._out += data

    def data_to_send(self) -> bytes:
        out = bytes(self._out)
        self._out.clear()
        return out

    def close(self) -> None:
        """Plain TCP has no close message: the driver's half-close is the whole story."""
