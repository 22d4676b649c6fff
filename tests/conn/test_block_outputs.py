"""The blocks' outputs and their history as a PLC program and a log read them: the values before
the first call, the times each change carries, how much history is kept, the text forms, and
the inputs (EN_R, CONT, timers) at the edges of the connection's phases.

TIA help, TSEND_C/TRCV_C: 7000 before the first call, DONE ⇔ 0000/0001/0003, ERROR ⇔ 16#8xxx,
BUSY during 7001/7002/7003/7005/7006; RCVD_LEN only on TRCV_C.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ouc.conn import (
    BlockEvent,
    Connection,
    ConnectionConfig,
    ConnState,
    Disconnected,
    FrameReceived,
    IsoConfig,
    LocalProtocolError,
    block_flags,
    decide,
)
from ouc.device import Role
from ouc.errors import Status
from ouc.transport import Failed, PlainTransport

Factory = Callable[..., Any]


# ---------------------------------------------------------------------------- before connect()


def test_before_the_first_call() -> None:
    conn = Connection(ConnectionConfig(Role.PASSIVE, 4), PlainTransport())
    assert (conn.tsend.STATUS, conn.trcv.STATUS) == (0x7000, 0x7000)
    assert (conn.tsend.RCVD_LEN, conn.trcv.RCVD_LEN) == (0, 0)
    assert (conn.disconnect, conn.info, conn.buffered) == (None, None, 0)
    assert conn.next_timer() is None
    conn.handle_timer(1e9)  # no connection, no timer: nothing happens
    assert conn.state is ConnState.IDLE
    assert conn.status_history == []


def test_misuse_says_what_was_called_when() -> None:
    conn = Connection(ConnectionConfig(Role.PASSIVE, 4), PlainTransport())
    with pytest.raises(LocalProtocolError) as info:
        conn.receive_data(b"x", 0.0)
    assert info.value.message == "receive_data() before connect()"
    conn.connect(0.0)
    with pytest.raises(LocalProtocolError) as info:
        conn.connect(1.0)
    assert str(info.value) == "connect() in state connected"
    with pytest.raises(LocalProtocolError) as info:
        decide(ConnState.IDLE, BlockEvent.REQ)
    assert str(info.value) == "REQ is not possible in state idle"


def test_error_flag_covers_all_of_16_8xxx() -> None:
    assert block_flags(0x8000) == (False, False, True)
    assert block_flags(0x7FFF) == (False, False, False)


# ---------------------------------------------------------------------------- the history


def test_each_change_carries_the_time_of_the_call_that_made_it(
    up: Factory, pair_factory: Factory
) -> None:
    pair = pair_factory(4)
    pair.start(1.0)
    server = pair.server
    server.enable_receive(False, 2.0)
    server.enable_receive(True, 3.0)
    server.close(4.0)
    assert [(t, s) for t, name, s in server.status_history if name == "TRCV_C"] == [
        (1.0, 0x7000),
        (1.0, 0x7001),
        (1.0, 0x7002),
        (1.0, 0x0001),
        (1.0, 0x7006),
        (2.0, 0x7004),
        (3.0, 0x7006),
        (4.0, 0x7003),
    ]
    for when, call in ((5.0, "reset"), (6.0, "stop"), (7.0, "handle_timer")):
        conn = up(idle_timeout=1.0)
        getattr(conn, call)(when)
        assert conn.ended
        assert conn.status_history[-1][0] == when


def test_status_sequence_is_one_blocks_values(pair_factory: Factory) -> None:
    pair = pair_factory(4)
    pair.start()
    pair.client.send(b"abcd", now=1.0)
    assert pair.client.status_sequence("TSEND_C") == [
        0x7000,
        0x7001,
        0x7002,
        0x0001,
        0x7004,
        0x7005,
        0x0000,
    ]
    assert pair.client.status_sequence("TRCV_C")[-1] == 0x7006


@pytest.mark.parametrize("limit", [256, 5])
def test_the_history_keeps_the_newest_changes(pair_factory: Factory, limit: int) -> None:
    kwargs = {} if limit == 256 else {"history_limit": limit}
    server = Connection(ConnectionConfig(Role.PASSIVE, 4), PlainTransport(), **kwargs)
    server.connect(0.0)
    for n in range(200):  # 400 TRCV_C changes: 7006 → 0000 per frame
        server.receive_data(b"abcd", float(n))
    history = server.status_history
    assert len(history) == limit
    assert history[-1] == (199.0, "TRCV_C", 0x0000)
    assert history[0][2] == (0x7006 if limit % 2 == 0 else 0x0000)


class _FailsOnData(PlainTransport):
    """Plain TCP that fails with ``status`` on the first bytes (a test double)."""

    def __init__(self, status: int) -> None:
        super().__init__()
        self.status = status

    def receive_data(self, data: bytes) -> None:
        self._events.append(Failed(self.status, "failed"))


def test_status_values_are_shared_between_connections() -> None:
    """A mock PLC holds thousands of idle connections; STATUS values above 256 are one shared
    int object each rather than one per history entry."""
    conns = []
    for _ in range(2):
        # A failure status made at run time, as a transport makes it: a new int object each.
        conn = Connection(ConnectionConfig(Role.PASSIVE, 4), _FailsOnData(int("80E5", 16)))
        conn.connect(0.0)
        conn.receive_data(b"x", 1.0)
        conns.append(conn)
    first, second = conns
    assert first.trcv.STATUS == second.trcv.STATUS == 0x80E5
    for (_, _, a), (_, _, b) in zip(first.status_history, second.status_history, strict=True):
        assert a is b


def test_a_status_outside_the_known_codes_is_shown_as_given() -> None:
    conn = Connection(ConnectionConfig(Role.PASSIVE, 4), _FailsOnData(0x80FE))
    conn.connect(0.0)
    conn.receive_data(b"x", 1.0)
    assert conn.trcv.STATUS == 0x80FE
    assert conn.status_history[-1] == (1.0, "TRCV_C", 0x80FE)


# ---------------------------------------------------------------------------- text forms


def test_reprs_show_status_flags_and_rcvd_len(pair_factory: Factory) -> None:
    pair = pair_factory(4)
    pair.start()
    pair.client.send(b"abcd", now=1.0)
    pair.pump()
    server = pair.server
    assert repr(pair.client.tsend) == "<TSEND_C STATUS=16#0000 DONE>"
    assert repr(server.trcv) == "<TRCV_C STATUS=16#0000 DONE RCVD_LEN=4>"
    server.receive_data(b"ab", 2.0)
    assert repr(server.trcv) == "<TRCV_C STATUS=16#7006 BUSY RCVD_LEN=4>"
    assert repr(server) == (
        "<Connection passive connected <TSEND_C STATUS=16#7004> "
        "<TRCV_C STATUS=16#7006 BUSY RCVD_LEN=4>>"
    )
    server.reset(3.0)
    assert repr(server.tsend) == "<TSEND_C STATUS=16#80C4 ERROR>"


# ---------------------------------------------------------------------------- EN_R


def test_en_r_1_after_0_shows_7006_with_nothing_held(up: Factory) -> None:
    conn = up(enable_receive=False)
    conn.enable_receive(True, 1.0)
    assert conn.trcv.STATUS == Status.RECEIVING
    assert conn.format_sequence("TRCV_C").endswith("0001 → 7004 → 7006")


def test_en_r_0_holds_every_chunk(up: Factory) -> None:
    conn = up(enable_receive=False)
    conn.receive_data(b"ab", 1.0)
    conn.receive_data(b"cdef", 2.0)
    conn.receive_data(b"gh", 3.0)
    assert conn.buffered == 8
    conn.enable_receive(True, 4.0)
    assert list(iter(conn.next_event, None)) == [
        FrameReceived(b"abcd", 4),
        FrameReceived(b"efgh", 4),
    ]


def test_bytes_and_en_r_before_the_handshake_is_done_are_harmless(
    establishing: Factory,
) -> None:
    conn = establishing(Role.PASSIVE)
    conn.enable_receive(False, 1.0)
    conn.enable_receive(True, 2.0)
    conn.receive_data(b"early", 3.0)  # the transport hands it on; nothing takes it yet
    assert conn.next_event() is None
    assert conn.state is ConnState.HANDSHAKING
    assert conn.trcv.STATUS == 0x7002


def test_en_r_while_closing_and_data_after_it_are_harmless(pair_factory: Factory) -> None:
    pair = pair_factory(4)
    pair.start()
    server = pair.server
    server.close(1.0)
    server.enable_receive(False, 2.0)
    server.enable_receive(True, 3.0)
    server.receive_data(b"late", 4.0)
    assert server.state is ConnState.DISCONNECTING
    assert pair.of("server", FrameReceived) == []
    server.receive_data(b"", 5.0)
    assert server.next_event() == Disconnected(0, "closed")


def test_a_partial_frame_after_a_complete_one_shows_7006(pair_factory: Factory) -> None:
    pair = pair_factory(4)
    pair.start()
    server = pair.server
    server.receive_data(b"abcd", 1.0)
    assert server.trcv.STATUS == Status.DONE
    server.receive_data(b"ef", 2.0)
    assert server.trcv.STATUS == Status.RECEIVING
    assert server.format_sequence("TRCV_C").endswith("7006 → 0000 → 7006")


# ---------------------------------------------------------------------------- CONT 1→0 and timers


def test_a_second_close_does_not_extend_the_wait(pair_factory: Factory) -> None:
    pair = pair_factory(4, close_timeout=2.0)
    pair.start()
    client = pair.client
    client.close(1.0)
    client.close(2.5)
    assert client.next_timer() == 3.0
    client.handle_timer(3.0)
    assert client.next_event() == Disconnected(0, "closed; the partner did not close its side")
    assert client.format_sequence("TSEND_C").endswith("7004 → 7003 → 0003 → 7000")


def test_close_while_the_cr_is_unanswered_waits_for_the_partner() -> None:
    config = ConnectionConfig(
        Role.ACTIVE, 100, iso=IsoConfig(b"\x01\x00", b"TCP-1"), close_timeout=2.0
    )
    conn = Connection(config, PlainTransport())
    conn.connect(0.0)
    conn.close(1.0)
    assert conn.state is ConnState.DISCONNECTING
    assert conn.next_timer() == 3.0
    assert conn.format_sequence("TSEND_C") == "7000 → 7001 → 7002 → 7003"


def test_a_half_closed_connection_has_no_timer(up: Factory) -> None:
    conn = up(half_close="answer", idle_timeout=5.0)
    conn.receive_data(b"ping", 1.0)
    conn.receive_data(b"", 1.0)
    assert conn.state is ConnState.HALF_CLOSED
    assert conn.next_timer() is None
    conn.handle_timer(100.0)
    assert conn.state is ConnState.HALF_CLOSED
    assert conn.next_event() == FrameReceived(b"ping", 4)


@pytest.mark.parametrize(
    ("chunks", "reason"),
    [
        ([b"abcdefgh"], "8 bytes received while EN_R = 0 were never read"),
        ([b"a"], "1 byte received while EN_R = 0 was never read"),
    ],
)
def test_a_partner_close_names_bytes_held_while_en_r_0_as_unread_not_incomplete(
    pair_factory: Factory, chunks: list[bytes], reason: str
) -> None:
    """Two whole 4-byte frames held while EN_R = 0 are not "an incomplete frame"."""
    pair = pair_factory(4)
    pair.start(1.0)
    server = pair.server
    server.enable_receive(False, 2.0)
    for chunk in chunks:
        server.receive_data(chunk, 3.0)
    server.receive_data(b"", 4.0)
    end = [e for e in iter(server.next_event, None) if isinstance(e, Disconnected)]
    assert end == [Disconnected(0x80C5, f"the partner closed the connection ({reason})")]


def test_a_partner_close_names_a_partial_frame_in_singular(pair_factory: Factory) -> None:
    pair = pair_factory(4)
    pair.start(1.0)
    server = pair.server
    server.receive_data(b"abcde", 2.0)  # one frame and 1 byte of the next
    server.receive_data(b"", 3.0)
    end = [e for e in iter(server.next_event, None) if isinstance(e, Disconnected)]
    reason = "the partner closed the connection (1 byte of an incomplete frame was dropped)"
    assert end == [Disconnected(0x80C5, reason)]
