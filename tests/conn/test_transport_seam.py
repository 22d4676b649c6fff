"""What the connection asks of its transport, seen from a transport that records each call.

The contract (``ouc.transport``): during the TCP data phase the connection hands the transport
its stream receiver as the plaintext sink (the record path's one call per chunk) and takes it
back when the phase ends or EN_R = 0 holds data; it asks for an orderly close only once the
handshake is done and never after the transport itself failed; a transport that cannot say
goodbye changes nothing the blocks report; an error a transport raises ends the connection
with the error's own status and message.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ouc.conn import (
    Connection,
    ConnectionConfig,
    ConnState,
    Disconnected,
    Established,
    FrameReceived,
    IsoConfig,
)
from ouc.device import Role
from ouc.errors import OucError, Status, TLSError
from ouc.framing import ConnectionRequest
from ouc.transport import Failed, PlainTransport, SessionInfo


class _Recording(PlainTransport):
    """Plain TCP that records what the connection asks of it (a test double)."""

    def __init__(
        self,
        *,
        handshake: bool = True,
        fail_start: OucError | None = None,
        fail_send: OucError | None = None,
        fail_close: OucError | None = None,
    ) -> None:
        super().__init__()
        self.handshake = handshake
        self.fail_start, self.fail_send, self.fail_close = fail_start, fail_send, fail_close
        self.sinks: list[str] = []
        self.closes = 0

    def start(self) -> None:
        if self.fail_start is not None:
            raise self.fail_start
        if self.handshake:
            super().start()

    def set_plaintext_sink(self, sink: Callable[[bytes], None] | None) -> None:
        self.sinks.append("none" if sink is None else getattr(sink, "__name__", "?"))
        super().set_plaintext_sink(sink)

    def send(self, data: bytes) -> None:
        if self.fail_send is not None:
            raise self.fail_send
        super().send(data)

    def close(self) -> None:
        self.closes += 1
        if self.fail_close is not None:
            raise self.fail_close

    def fail(self, status: int) -> None:
        """The transport fails on its own, as the TLS engine does on a bad record."""
        self._events.append(Failed(status, "bad record"))


def _conn(transport: _Recording, role: Role = Role.PASSIVE, **config: Any) -> Connection:
    return Connection(ConnectionConfig(role, 4, **config), transport)


def _ends(conn: Connection) -> list[Disconnected]:
    return [e for e in iter(conn.next_event, None) if isinstance(e, Disconnected)]


# ---------------------------------------------------------------------------- the plaintext sink


def test_the_data_phase_gets_the_stream_receiver_as_sink_until_it_ends() -> None:
    transport = _Recording()
    conn = _conn(transport)
    conn.connect(0.0)
    assert transport.sinks == ["_on_stream_data"]
    conn.receive_data(b"abcd", 1.0)
    assert FrameReceived(b"abcd", 4) in list(iter(conn.next_event, None))
    conn.close(2.0)
    assert transport.sinks == ["_on_stream_data", "none"]


def test_en_r_0_points_the_sink_at_the_hold_and_en_r_1_back() -> None:
    transport = _Recording()
    conn = _conn(transport, enable_receive=False)
    conn.connect(0.0)
    conn.enable_receive(True, 1.0)
    conn.enable_receive(False, 2.0)
    assert transport.sinks == ["_hold", "_on_stream_data", "_hold"]


def test_iso_on_tcp_takes_the_queued_path() -> None:
    """The ISO-on-TCP handler calls back into the transport (a CC, a DR), so no sink."""
    transport = _Recording()
    conn = _conn(transport, iso=IsoConfig(b"TCP-1"))
    conn.connect(0.0)
    conn.receive_data(ConnectionRequest(called_tsap=b"TCP-1").encode(), 1.0)
    assert conn.state is ConnState.CONNECTED
    assert transport.sinks == ["none"]


# ---------------------------------------------------------------------------- asking to close


def test_no_close_is_asked_before_the_handshake_is_done() -> None:
    transport = _Recording(handshake=False)
    conn = _conn(transport)
    conn.connect(0.0)
    conn.stop(1.0)
    assert transport.closes == 0
    assert _ends(conn) == [Disconnected(0, "the CPU went to STOP")]


def test_a_failed_transport_is_not_asked_to_close() -> None:
    transport = _Recording()
    conn = _conn(transport)
    conn.connect(0.0)
    transport.fail(Status.TLS_CERT_EXPIRED)
    conn.receive_data(b"x", 1.0)
    assert _ends(conn) == [Disconnected(Status.TLS_CERT_EXPIRED, "bad record")]
    assert transport.closes == 0


def test_a_transport_that_raised_is_not_asked_to_close() -> None:
    error = TLSError("record overflow", status=Status.TLS_HANDSHAKE_FAILURE)
    transport = _Recording(fail_send=error)
    conn = _conn(transport, role=Role.ACTIVE)
    conn.connect(0.0)
    with pytest.raises(TLSError):
        conn.send(b"abcd", now=1.0)
    assert _ends(conn) == [Disconnected(Status.TLS_HANDSHAKE_FAILURE, "record overflow")]
    assert transport.closes == 0


def test_a_transport_that_cannot_say_goodbye_changes_nothing() -> None:
    transport = _Recording(fail_close=TLSError("no", status=Status.TLS_HANDSHAKE_FAILURE))
    conn = _conn(transport)
    conn.connect(0.0)
    conn.close(1.0)
    assert transport.closes == 1
    assert conn.state is ConnState.DISCONNECTING
    assert conn.format_sequence("TSEND_C").endswith("7004 → 7003")


# ---------------------------------------------------------------------------- errors it raises


def test_a_start_that_raises_ends_the_connection_with_its_message() -> None:
    transport = _Recording(fail_start=OucError("no route to the partner"))
    conn = _conn(transport)
    conn.connect(0.0)
    assert _ends(conn) == [Disconnected(Status.NETWORK_ERROR, "no route to the partner")]
    assert conn.trcv.STATUS == Status.NETWORK_ERROR


def test_a_cr_that_cannot_be_sent_ends_the_connection_with_its_message() -> None:
    error = TLSError("write failed", status=Status.TLS_HANDSHAKE_FAILURE)
    transport = _Recording(fail_send=error)
    conn = _conn(transport, role=Role.ACTIVE, iso=IsoConfig(b"\x01\x00", b"TCP-1"))
    conn.connect(0.0)
    assert _ends(conn) == [Disconnected(Status.TLS_HANDSHAKE_FAILURE, "write failed")]


class _Minimal:
    """A transport with the three verbs and nothing optional: no plaintext sink, no
    half-open (``ouc.transport``: any such object qualifies)."""

    def __init__(self) -> None:
        self._plain = PlainTransport()
        self.receive_data = self._plain.receive_data
        self.next_event = self._plain.next_event
        self.send = self._plain.send
        self.data_to_send = self._plain.data_to_send

    def start(self) -> None:
        self._plain.start()

    def close(self) -> None:
        """Nothing to say on plain TCP."""


def test_a_transport_without_the_optional_calls_carries_a_whole_connection() -> None:
    conn = Connection(ConnectionConfig(Role.PASSIVE, 4, half_close="answer"), _Minimal())
    conn.connect(0.0)
    assert conn.state is ConnState.CONNECTED  # start()'s event taken by connect() itself
    conn.receive_data(b"pingpo", 1.0)
    conn.enable_receive(False, 2.0)
    conn.receive_data(b"ng", 3.0)
    conn.enable_receive(True, 4.0)
    conn.receive_data(b"", 5.0)
    assert conn.next_event() == Established(SessionInfo())
    assert conn.next_event() == FrameReceived(b"ping", 4)
    assert conn.next_event() == FrameReceived(b"pong", 4)
    conn.send(b"PONG", now=5.0)  # answered after the partner's close ("answer")
    assert conn.data_to_send() == b"PONG"
    assert conn.next_event() == Disconnected(0x80C5, "the partner closed the connection")


class _Counting(_Recording):
    """Plain TCP that shows its queue and counts the calls of next_event() (a test double)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked = 0

    def next_event(self) -> Any:
        self.asked += 1
        return super().next_event()


def test_a_transport_that_shows_its_queue_is_not_asked_for_events() -> None:
    """``ouc.transport``: the connection looks at a transport's ``events`` queue and takes its
    events from there (an empty queue, the common case, costs no next_event() call)."""
    transport = _Counting()
    conn = _conn(transport)
    conn.connect(0.0)  # start() queues the handshake's end
    conn.receive_data(b"pingpong", 1.0)
    transport.fail(Status.TLS_INTEGRITY)
    conn.receive_data(b"po", 2.0)
    assert list(iter(conn.next_event, None)) == [
        Established(SessionInfo()),
        FrameReceived(b"ping", 4),
        FrameReceived(b"pong", 4),
        Disconnected(Status.TLS_INTEGRITY, "bad record"),
    ]
    assert transport.asked == 0
