"""Timeouts through injected time, and transport failures turned into block errors."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from ouc.conn import (
    ALLOWED_STATUS,
    Connection,
    ConnectionConfig,
    ConnState,
    Disconnected,
    IsoConfig,
)
from ouc.device import Role
from ouc.errors import OucConnectionError, Status, TLSError
from ouc.transport import Failed, PlainTransport

Factory = Callable[..., Any]


def _ends(conn: Connection) -> list[Disconnected]:
    events = []
    while (event := conn.next_event()) is not None:
        if isinstance(event, Disconnected):
            events.append(event)
    return events


class _Silent(PlainTransport):
    """A transport whose handshake never completes (a TLS peer that stays silent)."""

    def start(self) -> None:
        pass


def _codes(conn: Connection, block: str) -> set[int]:
    return {status for _, name, status in conn.status_history if name == block}


class TestHandshakeTimeout:
    """No table of the help has a timeout code: a handshake that does not finish in time is
    16#80C4, "cannot be established now" (inference, domain.md §4), never 16#80C7."""

    def test_passive_iso_side_without_a_cr_times_out_with_80c4(self) -> None:
        config = ConnectionConfig(
            Role.PASSIVE, 100, iso=IsoConfig(b"\x01\x02"), handshake_timeout=10.0
        )
        conn = Connection(config, PlainTransport())
        conn.connect(100.0)
        assert conn.state is ConnState.ISO_CONNECTING
        assert conn.next_timer() == 110.0
        conn.handle_timer(109.9)
        assert conn.state is ConnState.ISO_CONNECTING
        conn.handle_timer(110.0)
        (end,) = _ends(conn)
        assert end.status == Status.TEMPORARY
        assert "10 s" in end.reason
        assert (conn.tsend.STATUS, conn.trcv.STATUS) == (0x80C4, 0x80C4)
        assert conn.next_timer() is None

    @pytest.mark.parametrize("role", [Role.ACTIVE, Role.PASSIVE])
    def test_a_stalled_tls_handshake_ends_with_80c4(self, role: Role) -> None:
        conn = Connection(ConnectionConfig(role, 4, handshake_timeout=3.0), _Silent())
        conn.connect(0.0)
        assert conn.state is ConnState.HANDSHAKING
        conn.handle_timer(3.0)
        (end,) = _ends(conn)
        assert (end.status, conn.state) == (Status.TEMPORARY, ConnState.FAILED)
        assert conn.format_sequence("TSEND_C") == "7000 → 7001 → 7002 → 80C4"
        assert conn.format_sequence("TRCV_C") == "7000 → 7001 → 7002 → 80C4"
        for block in ("TSEND_C", "TRCV_C"):
            assert 0x80C7 not in _codes(conn, block)
            assert _codes(conn, block) <= ALLOWED_STATUS

    def test_send_while_still_connecting_is_80c4(self) -> None:
        config = ConnectionConfig(Role.ACTIVE, 100, iso=IsoConfig(b"\x01\x00", b"\x01\x02"))
        conn = Connection(config, PlainTransport())
        conn.connect(0.0)
        with pytest.raises(OucConnectionError) as info:
            conn.send(b"early", now=0.0)
        assert info.value.status == Status.TEMPORARY

    def test_no_handshake_limit(self) -> None:
        config = ConnectionConfig(
            Role.PASSIVE, 100, iso=IsoConfig(b"\x01\x02"), handshake_timeout=None
        )
        conn = Connection(config, PlainTransport())
        conn.connect(0.0)
        assert conn.next_timer() is None
        conn.handle_timer(1e9)
        assert conn.state is ConnState.ISO_CONNECTING


class TestIdleTimeout:
    def test_idle_timer_follows_data_with_exact_times(self, pair_factory: Factory) -> None:
        pair = pair_factory(4, idle_timeout=5.0)
        pair.start(0.0)
        server = pair.server
        assert server.next_timer() == 5.0
        server.receive_data(b"abcd", now=3.0)
        assert server.next_timer() == 8.0
        server.handle_timer(7.9)
        assert server.state is ConnState.CONNECTED
        server.handle_timer(8.0)
        (end,) = [e for e in _ends(server)]
        # Inference: a CPU sees a silent partner only through keep-alive, a network error.
        assert end.status == Status.NETWORK_ERROR
        assert server.trcv.STATUS == server.tsend.STATUS == 0x80C6
        assert "5 s" in end.reason
        for block in ("TSEND_C", "TRCV_C"):
            assert _codes(server, block) <= ALLOWED_STATUS and 0x80C7 not in _codes(server, block)

    def test_sending_counts_as_activity(self, pair_factory: Factory) -> None:
        pair = pair_factory(4, idle_timeout=5.0)
        pair.start(0.0)
        pair.client.send(b"abcd", now=4.0)
        assert pair.client.next_timer() == 9.0

    def test_activity_moves_the_idle_deadline(self, pair_factory: Factory) -> None:
        pair = pair_factory(4, idle_timeout=5.0)
        pair.start(0.0)
        server = pair.server
        server.receive_data(b"ab", 3.0)  # every call carries its time: no guessing
        server.handle_timer(5.0)  # the old deadline: activity since, so no timeout
        assert server.state is ConnState.CONNECTED
        assert server.next_timer() == 8.0
        server.handle_timer(8.0)
        assert [e.status for e in _ends(server)] == [Status.NETWORK_ERROR]

    def test_no_idle_limit_means_no_timer(self, pair_factory: Factory) -> None:
        pair = pair_factory(4)
        pair.start(0.0)
        assert pair.server.next_timer() is None
        pair.server.handle_timer(1e9)
        assert pair.server.state is ConnState.CONNECTED


def test_close_timeout_ends_the_wait_for_the_partner(pair_factory: Factory) -> None:
    pair = pair_factory(4, close_timeout=2.0)
    pair.start(0.0)
    client = pair.client
    client.close(now=1.0)
    assert client.next_timer() == 3.0
    client.handle_timer(2.9)
    assert client.state is ConnState.DISCONNECTING
    client.handle_timer(3.0)
    (end,) = _ends(client)
    assert end.status == 0
    assert "did not close" in end.reason
    assert client.tsend.STATUS == Status.NO_JOB


@dataclass
class FailingTransport(PlainTransport):
    """Plain TCP whose first received bytes fail like a TLS certificate check (a test double)."""

    send_error: TLSError | None = None

    def receive_data(self, data: bytes) -> None:
        self._events.append(Failed(Status.TLS_CERT_EXPIRED, "certificate expired", reset=True))

    def send(self, data: bytes) -> None:
        if self.send_error is not None:
            raise self.send_error
        super().send(data)


def test_transport_failure_becomes_the_blocks_error() -> None:
    conn = Connection(ConnectionConfig(Role.ACTIVE, 4), FailingTransport())
    conn.connect(0.0)
    conn.receive_data(b"\x16\x03\x03", 0.0)
    ends = _ends(conn)
    assert ends == [Disconnected(0x80E5, "certificate expired", True)]
    assert conn.state is ConnState.FAILED
    assert (conn.tsend.ERROR, conn.tsend.STATUS) == (True, 0x80E5)
    assert (conn.trcv.ERROR, conn.trcv.STATUS) == (True, 0x80E5)
    assert conn.disconnect == ends[0]


def test_transport_send_error_fails_the_connection_and_is_raised() -> None:
    error = TLSError("handshake not complete", status=Status.TLS_HANDSHAKE_FAILURE)
    conn = Connection(ConnectionConfig(Role.ACTIVE, 4), FailingTransport(send_error=error))
    conn.connect(0.0)
    with pytest.raises(TLSError):
        conn.send(b"abcd", now=0.0)
    assert [e.status for e in _ends(conn)] == [Status.TLS_HANDSHAKE_FAILURE]
    assert conn.tsend.STATUS == Status.TLS_HANDSHAKE_FAILURE
