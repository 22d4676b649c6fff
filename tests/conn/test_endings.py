"""How each ending looks: the Disconnected event (status, reason, reset) and what the partner
receives, over the real TLS engine wired in memory.

An ending after the TLS handshake says goodbye with close_notify (RFC 8446 §6.1) unless it is
a reset: the partner receives one encrypted alert record and reports 16#80C5 without waiting
for TCP's FIN. A reset (``Disconnected.reset``) sends nothing; the driver resets TCP. What
COM_RST and the CPU's STOP put on the wire is configurable (inference, ``ConnectionConfig``).
The ISO-on-TCP cases run COTP over the TLS engine: the core does not care which transport it
has, and TLS is the one that shows whether it said goodbye.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ouc.conn import Connection, ConnectionConfig, Disconnected, FrameReceived, IsoConfig
from ouc.device import Role
from ouc.errors import OucError, Status, TLSError
from ouc.framing import MALFORMED, ConnectionRequest, DataTPDU, ErrorTPDU
from ouc.transport import PlainTransport

Factory = Callable[..., Any]

#: TLS 1.3 close_notify as the partner receives it: one application_data record (type 23,
#: legacy version 3.3) with 2 alert bytes, the inner content type and a 16-byte tag.
CLOSE_NOTIFY_RECORD = (b"\x17\x03\x03\x00\x13", 24)
PARTNER_CLOSED = Disconnected(0x80C5, "the partner closed the connection")


def _ends(conn: Connection) -> list[Disconnected]:
    return [e for e in iter(conn.next_event, None) if isinstance(e, Disconnected)]


def _assert_close_notify(
    wire: bytes, peer: Connection, now: float, end: Disconnected = PARTNER_CLOSED
) -> None:
    """``wire`` is one close_notify record, and ``peer`` ends on it alone (no FIN)."""
    header, size = CLOSE_NOTIFY_RECORD
    assert (wire[:5], len(wire)) == (header, size)
    peer.receive_data(wire, now)
    assert _ends(peer) == [end]


@pytest.fixture
def tls_pair(pair_factory: Factory, tls_engines: Callable[[], Any]) -> Callable[..., Any]:
    """``tls_pair(receive_len=4, **config)``: a started pair over TLS, events collected."""

    def make(receive_len: int = 4, **config: Any) -> Any:
        pair = pair_factory(receive_len, transports=tls_engines(), **config)
        pair.start(0.0)
        assert pair.client.info is not None and pair.server.info is not None
        return pair

    return make


# ---------------------------------------------------------------------------- timeouts


def test_idle_timeout_sends_close_notify(tls_pair: Callable[..., Any]) -> None:
    pair = tls_pair(idle_timeout=5.0)
    pair.server.handle_timer(5.0)
    assert _ends(pair.server) == [
        Disconnected(Status.NETWORK_ERROR, "no data in either direction for 5 s", False)
    ]
    assert (pair.server.tsend.STATUS, pair.server.trcv.STATUS) == (0x80C6, 0x80C6)
    _assert_close_notify(pair.server.data_to_send(), pair.client, 5.0)


def test_iso_handshake_timeout_sends_close_notify(tls_pair: Callable[..., Any]) -> None:
    """The TLS handshake is done but no CC comes (the partner speaks plain TCP over TLS)."""
    pair = tls_pair(100, iso=(IsoConfig(b"\x01\x00", b"TCP-1"), None), handshake_timeout=3.0)
    assert pair.client.state.value == "iso-connecting"
    pair.client.handle_timer(3.0)
    assert _ends(pair.client) == [
        Disconnected(Status.TEMPORARY, "connection not established within 3 s", False)
    ]
    assert pair.client.tsend.STATUS == 0x80C4
    # The partner had buffered the CR as the start of a 100-byte TCP frame.
    cr = ConnectionRequest(
        calling_tsap=b"\x01\x00", called_tsap=b"TCP-1", tpdu_size=1024, src_ref=1
    ).encode()
    assert pair.server.buffered == len(cr) == 25
    dropped = f"{PARTNER_CLOSED.reason} (25 bytes of an incomplete frame were dropped)"
    wire = pair.client.data_to_send()
    _assert_close_notify(wire, pair.server, 3.0, Disconnected(0x80C5, dropped))


# ---------------------------------------------------------------------------- framing errors


def _raw_iso_partner(tls_pair: Callable[..., Any], connect: bool) -> Any:
    """A passive ISO-on-TCP side over TLS whose partner is a TCP connection sending COTP by
    hand (so it can send what a well-behaved COTP side never would)."""
    pair = tls_pair(200, adhoc=True, iso=(None, IsoConfig(b"TCP-1")))
    if connect:
        pair.client.send(ConnectionRequest(called_tsap=b"TCP-1", src_ref=3).encode(), now=1.0)
        pair.pump()
        assert pair.server.state.value == "connected"
    return pair


@pytest.mark.parametrize(
    ("connect", "packet", "reason"),
    [
        (True, b"\x03\x00\x00\x03", "TPKT length 3 is below the minimum of 7"),
        (True, ErrorTPDU(cause=1).encode(), "the partner rejected a TPDU (ER cause 16#01)"),
        (
            True,
            ConnectionRequest(called_tsap=b"TCP-1").encode(),
            "unexpected COTP ConnectionRequest after the connection was up",
        ),
        (
            False,
            DataTPDU(b"early").encode(),
            "unexpected COTP DataTPDU before the connection was up",
        ),
    ],
    ids=["bad-tpkt", "er", "cr-when-up", "dt-before-cr"],
)
def test_framing_errors_send_close_notify(
    tls_pair: Callable[..., Any], connect: bool, packet: bytes, reason: str
) -> None:
    pair = _raw_iso_partner(tls_pair, connect)
    pair.client.send(packet, now=2.0)
    pair.server.receive_data(pair.client.data_to_send(), 2.0)
    (end,) = _ends(pair.server)
    assert end == Disconnected(MALFORMED, reason, False)
    assert pair.server.trcv.STATUS == MALFORMED
    _assert_close_notify(pair.server.data_to_send(), pair.client, 2.0)


# ---------------------------------------------------------------------------- COM_RST and STOP


@pytest.mark.parametrize("wire", ["rst", "fin"])
def test_com_rst_wire(tls_pair: Callable[..., Any], wire: str) -> None:
    pair = tls_pair(com_rst=wire)
    assert pair.client.reset(1.0) is True
    assert _ends(pair.client) == [
        Disconnected(0x80C4, "COM_RST: the connection was reset", reset=wire == "rst")
    ]
    out = pair.client.data_to_send()
    if wire == "rst":
        assert out == b""
    else:
        _assert_close_notify(out, pair.server, 1.0)


@pytest.mark.parametrize("wire", ["rst", "fin"])
def test_stop_wire(tls_pair: Callable[..., Any], wire: str) -> None:
    pair = tls_pair(stop=wire)
    pair.server.stop(1.0)
    assert _ends(pair.server) == [Disconnected(0, "the CPU went to STOP", reset=wire == "rst")]
    out = pair.server.data_to_send()
    if wire == "rst":
        assert out == b""
    else:
        _assert_close_notify(out, pair.client, 1.0)


def test_partner_close_is_answered_with_close_notify(tls_pair: Callable[..., Any]) -> None:
    pair = tls_pair()
    pair.client.close(1.0)
    _assert_close_notify(pair.client.data_to_send(), pair.server, 1.0)
    _assert_close_notify(pair.server.data_to_send(), pair.client, 1.0, Disconnected(0, "closed"))


# ---------------------------------------------------------------------------- transport errors


class _Raising(PlainTransport):
    """Plain TCP whose receive_data raises ``error`` (a test double for a transport that
    refuses its input outright)."""

    def __init__(self, error: OucError) -> None:
        super().__init__()
        self.error = error

    def receive_data(self, data: bytes) -> None:
        raise self.error


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (TLSError("record overflow", status=Status.TLS_HANDSHAKE_FAILURE), 0x80E1),
        (OucError("the stack failed"), Status.NETWORK_ERROR),
    ],
)
def test_a_transport_error_ends_with_its_message_and_status(error: OucError, status: int) -> None:
    conn = Connection(ConnectionConfig(Role.PASSIVE, 4), _Raising(error))
    conn.connect(0.0)
    conn.next_event()
    conn.receive_data(b"\x16", 1.0)
    assert _ends(conn) == [Disconnected(status, error.message, False)]
    assert status == conn.trcv.STATUS


@pytest.mark.parametrize("mode", ["drop", "answer"])
def test_half_close_over_tls(tls_pair: Callable[..., Any], mode: str) -> None:
    """The partner's frame and its close_notify arrive in one read. "answer" (inference, an
    option) lets the TLS engine send after the partner's close_notify (RFC 8446 §6.1) and
    answers the frame; "drop" refuses the answer with 16#80A3."""
    pair = tls_pair(half_close=mode)
    pair.client.send(b"ping", now=1.0)
    pair.client.close(1.0)
    pair.server.receive_data(pair.client.data_to_send(), 1.0)
    assert pair.server.next_event() == FrameReceived(b"ping", 4)
    if mode == "answer":
        pair.server.send(b"pong", now=1.0)
        assert len(pair.server.data_to_send()) == 5 + 4 + 1 + 16  # one record: b"pong"
    else:
        with pytest.raises(OucError) as info:
            pair.server.send(b"pong", now=1.0)
        assert info.value.status == Status.NO_SUCH_CONNECTION
    assert _ends(pair.server) == [PARTNER_CLOSED]


def test_bytes_after_the_end_put_nothing_on_the_wire(tls_pair: Callable[..., Any]) -> None:
    pair = tls_pair(stop="rst")
    pair.client.close(1.0)
    pair.pump()
    pair.server.stop(1.0)  # already closed: no effect
    for conn in (pair.client, pair.server):
        assert conn.ended
        conn.receive_data(b"\x17\x03\x03\x00\x05junk!", 2.0)
        conn.receive_data(b"\x15\x03\x03\x00\x02\x02\x0a", 2.0)  # a fatal alert
        assert conn.data_to_send() == b""
        assert conn.next_event() is None


# ---------------------------------------------------------------------------- partner reset


def _plain_pair(pair_factory: Factory, **config: Any) -> Any:
    pair = pair_factory(4, **config)
    pair.start(0.0)
    return pair


@pytest.mark.parametrize("transport", ["plain", "tls"])
def test_a_partner_reset_says_reset_and_keeps_80c5(
    pair_factory: Factory, tls_pair: Callable[..., Any], transport: str
) -> None:
    """The driver saw ECONNRESET: the same end as the partner's FIN (16#80C5, the same block
    outputs and STATUS history, no reset of our own), with a reason that says reset and keeps
    the suffix about the dropped bytes."""
    ends: dict[str, list[Disconnected]] = {}
    histories: dict[str, Any] = {}
    for how in ("fin", "rst"):
        pair = tls_pair() if transport == "tls" else _plain_pair(pair_factory)
        pair.client.send(b"pi", length=2, now=1.0)  # half of a 4-byte frame
        pair.server.receive_data(pair.client.data_to_send(), 1.0)
        if how == "fin":
            pair.server.receive_data(b"", 2.0)
        else:
            pair.server.receive_reset(2.0)
        ends[how] = _ends(pair.server)
        histories[how] = (
            pair.server.tsend.STATUS,
            pair.server.trcv.STATUS,
            pair.server.status_history,
        )
    dropped = " (2 bytes of an incomplete frame were dropped)"
    assert ends["fin"] == [Disconnected(0x80C5, "the partner closed the connection" + dropped)]
    assert ends["rst"] == [
        Disconnected(0x80C5, "the partner reset the connection (TCP RST)" + dropped)
    ]
    assert histories["rst"] == histories["fin"]


def test_a_reset_during_the_tls_handshake_says_reset(
    pair_factory: Factory, tls_engines: Callable[[], Any]
) -> None:
    pair = pair_factory(4, transports=tls_engines())
    pair.server.connect(0.0)
    pair.client.connect(0.0)
    pair.server.receive_data(pair.client.data_to_send(), 0.0)  # the ClientHello, answered
    pair.server.receive_reset(1.0)
    assert _ends(pair.server) == [
        Disconnected(0x80C5, "the partner reset the connection (TCP RST) during the TLS handshake")
    ]


@pytest.mark.parametrize("transport", ["plain", "tls"])
def test_a_reset_after_our_own_close_is_still_a_close(
    pair_factory: Factory, tls_pair: Callable[..., Any], transport: str
) -> None:
    pair = tls_pair() if transport == "tls" else _plain_pair(pair_factory)
    pair.server.close(1.0)
    pair.server.receive_reset(2.0)
    assert _ends(pair.server) == [Disconnected(0, "closed")]


def test_a_reset_is_no_half_close(pair_factory: Factory) -> None:
    """half_close="answer" answers frames before the partner's FIN; after a reset nothing can
    be answered: the frame is handed out and the connection has already ended."""
    pair = _plain_pair(pair_factory, half_close="answer")
    pair.server.receive_data(b"ping", 1.0)
    pair.server.receive_reset(1.0)
    assert pair.server.ended
    assert pair.server.next_event() == FrameReceived(b"ping", 4)
    assert _ends(pair.server) == [
        Disconnected(0x80C5, "the partner reset the connection (TCP RST)")
    ]


def test_a_reset_before_connect_is_refused_and_after_the_end_ignored(
    pair_factory: Factory,
) -> None:
    conn = Connection(ConnectionConfig(Role.PASSIVE, 4), PlainTransport())
    with pytest.raises(OucError):
        conn.receive_reset(0.0)
    conn.connect(0.0)
    conn.next_event()
    conn.receive_data(b"", 1.0)
    conn.receive_reset(2.0)
    assert _ends(conn) == [PARTNER_CLOSED]
