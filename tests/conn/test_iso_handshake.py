"""ISO-on-TCP's CR/CC exchange at its edges: the COTP class a CC may pick, the DR that refuses a
CR (its references and reason), the messages that name the TSAPs, and EN_R on a connection
that came up through CR/CC.

Source: domain.md §6 — COTP class 0 only (CR 0xE0, CC 0xD0, DR 0x80); RFC 1006 §5 / ISO 8073
§13.3.4 for the class/option octet (high nibble: the class; the option bits mean nothing in
class 0, so a CC's low nibble is not checked).
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
    FrameReceived,
    IsoConfig,
    ReceiveFailed,
)
from ouc.device import Role
from ouc.errors import Status
from ouc.framing import (
    MALFORMED,
    ConnectionConfirm,
    ConnectionRequest,
    DataTPDU,
    DisconnectRequest,
    decode_packet,
    encode_message,
)
from ouc.transport import PlainTransport

Factory = Callable[..., Any]
CLIENT_TSAP, SERVER_TSAP = b"\x01\x00", b"TCP-1"


def _events(conn: Connection) -> list[object]:
    return list(iter(conn.next_event, None))


def _client(conn_id: int = 1, **config: Any) -> Connection:
    """An active ISO-on-TCP side whose CR went out; it waits for the CC."""
    iso = IsoConfig(CLIENT_TSAP, SERVER_TSAP)
    conn = Connection(
        ConnectionConfig(Role.ACTIVE, 100, iso=iso, conn_id=conn_id, **config), PlainTransport()
    )
    conn.connect(0.0)
    conn.data_to_send()
    return conn


def _server(local: bytes = SERVER_TSAP, remote: bytes = b"", **config: Any) -> Connection:
    """A passive ISO-on-TCP side (ID 9) that waits for a CR."""
    iso = IsoConfig(local, remote)
    conn = Connection(
        ConnectionConfig(Role.PASSIVE, 100, iso=iso, conn_id=9, **config), PlainTransport()
    )
    conn.connect(0.0)
    return conn


# ---------------------------------------------------------------------------- the CC's class


@pytest.mark.parametrize("class_option", [0x10, 0x20, 0x40])
def test_a_cc_that_picks_another_class_is_refused(class_option: int) -> None:
    client = _client()
    client.receive_data(ConnectionConfirm(dst_ref=1, class_option=class_option).encode(), 1.0)
    expected = f"the partner chose COTP class {class_option >> 4}, not 0"
    assert _events(client) == [Disconnected(MALFORMED, expected)]
    assert client.state is ConnState.FAILED
    assert client.tsend.STATUS == MALFORMED


@pytest.mark.parametrize("class_option", [0x00, 0x01, 0x02, 0x0F])
def test_a_class_0_cc_is_accepted_whatever_its_option_bits(class_option: int) -> None:
    client = _client()
    client.receive_data(ConnectionConfirm(dst_ref=1, class_option=class_option).encode(), 1.0)
    assert client.state is ConnState.CONNECTED
    assert client.format_sequence("TSEND_C").endswith("7002 → 0001 → 7004")


def test_a_cc_for_another_cr_names_both_references() -> None:
    client = _client(conn_id=5)
    client.receive_data(ConnectionConfirm(dst_ref=77).encode(), 1.0)
    assert _events(client) == [Disconnected(MALFORMED, "CC answers reference 77, our CR had 5")]


# ---------------------------------------------------------------------------- refusing a CR


@pytest.mark.parametrize(
    ("request_", "remote", "reason"),
    [
        (
            ConnectionRequest(calling_tsap=CLIENT_TSAP, called_tsap=b"TCP-2", src_ref=4),
            b"",
            "called TSAP 'TCP-2' is not the local TSAP 'TCP-1'",
        ),
        (
            ConnectionRequest(calling_tsap=CLIENT_TSAP, src_ref=4),
            b"",
            "called TSAP none is not the local TSAP 'TCP-1'",
        ),
        (
            ConnectionRequest(calling_tsap=b"\x09\xab", called_tsap=SERVER_TSAP, src_ref=4),
            CLIENT_TSAP,
            "calling TSAP 09 AB is not the partner TSAP 01 00",
        ),
        (
            ConnectionRequest(calling_tsap=b"", called_tsap=SERVER_TSAP, src_ref=4),
            CLIENT_TSAP,
            "calling TSAP empty is not the partner TSAP 01 00",
        ),
    ],
    ids=["called-ascii", "called-absent", "calling-hex", "calling-empty"],
)
def test_a_refused_cr_gets_a_dr_and_the_reason_names_the_tsaps(
    request_: ConnectionRequest, remote: bytes, reason: str
) -> None:
    server = _server(remote=remote)
    server.receive_data(request_.encode(), 1.0)
    wire = server.data_to_send()
    answer, used = decode_packet(wire)
    assert used == len(wire)
    assert answer == DisconnectRequest(dst_ref=4, src_ref=9, reason=0x02)
    assert _events(server) == [
        Disconnected(Status.PARTNER_REFUSED, f"refused an ISO-on-TCP connection: {reason}")
    ]


@pytest.mark.parametrize(
    ("tsap", "text"),
    [
        (b" ~", "' ~'"),  # 0x20 and 0x7E: the printable ends
        (b"A\x7f", "41 7F"),
        (b"\x1fA", "1F 41"),
        (b"\x80", "80"),
        (b"\xab\xcd", "AB CD"),
    ],
)
def test_a_tsap_is_named_as_text_only_when_every_byte_is_printable(tsap: bytes, text: str) -> None:
    server = _server(local=tsap)
    server.receive_data(ConnectionRequest(called_tsap=b"X").encode(), 1.0)
    (end,) = _events(server)
    assert isinstance(end, Disconnected)
    assert end.reason.endswith(f"is not the local TSAP {text}")


def test_a_dr_before_the_cc_names_its_reason() -> None:
    client = _client()
    client.receive_data(DisconnectRequest(reason=0x85).encode(), 1.0)
    assert _events(client) == [
        Disconnected(
            Status.TEMPORARY,
            "the partner refused the ISO-on-TCP connection (DR reason 16#85); check the TSAPs",
        )
    ]


def test_a_dr_on_an_open_connection_names_its_reason(pair_factory: Factory) -> None:
    iso = (IsoConfig(CLIENT_TSAP, SERVER_TSAP), IsoConfig(SERVER_TSAP, CLIENT_TSAP))
    pair = pair_factory(100, iso=iso)
    pair.start()
    pair.server.receive_data(DisconnectRequest(reason=0x80).encode(), 1.0)
    assert _events(pair.server) == [
        Disconnected(Status.PARTNER_CLOSED, "the partner disconnected (DR reason 16#80)")
    ]


# ---------------------------------------------------------------------------- after CR/CC


@pytest.mark.parametrize("side", ["client", "server"])
def test_en_r_0_holds_iso_messages_on_either_side(pair_factory: Factory, side: str) -> None:
    """The CC (active side) and the CR (passive side) both start the data phase that EN_R
    controls: with EN_R = 0 a message waits until EN_R = 1."""
    iso = (IsoConfig(CLIENT_TSAP, SERVER_TSAP), IsoConfig(SERVER_TSAP, CLIENT_TSAP))
    pair = pair_factory(100, iso=iso, enable_receive=False)
    pair.start()
    conn = getattr(pair, side)
    peer = pair.server if side == "client" else pair.client
    assert conn.trcv.STATUS == Status.CONNECTED_IDLE
    peer.send(b"message", now=1.0)
    conn.receive_data(peer.data_to_send(), 1.0)
    assert _events(conn) == []
    conn.enable_receive(True, 2.0)
    assert _events(conn) == [FrameReceived(b"message", 7)]


def test_a_message_in_several_tpdus_shows_7006_after_a_completed_one(
    pair_factory: Factory,
) -> None:
    iso = (IsoConfig(CLIENT_TSAP, SERVER_TSAP, 128), IsoConfig(SERVER_TSAP, CLIENT_TSAP, 128))
    pair = pair_factory(1000, iso=iso)
    pair.start()
    server = pair.server
    server.receive_data(encode_message(b"one", 128), 1.0)
    assert server.trcv.STATUS == Status.DONE
    server.receive_data(DataTPDU(b"first part", eot=False).encode(), 2.0)
    assert server.trcv.STATUS == Status.RECEIVING
    server.receive_data(DataTPDU(b", end").encode(), 3.0)
    assert [e for e in _events(server) if isinstance(e, FrameReceived)] == [
        FrameReceived(b"one", 3),
        FrameReceived(b"first part, end", 15),
    ]
    assert server.format_sequence("TRCV_C").endswith("7006 → 0000 → 7006 → 0000")


def test_a_message_too_large_names_its_size(pair_factory: Factory) -> None:
    iso = (IsoConfig(CLIENT_TSAP, SERVER_TSAP), IsoConfig(SERVER_TSAP, CLIENT_TSAP))
    pair = pair_factory(10, iso=iso)
    pair.start()
    pair.server.receive_data(encode_message(bytes(11), 1024), 1.0)
    assert _events(pair.server) == [
        ReceiveFailed(
            0x8088, "ISO-on-TCP message of 11 bytes does not fit the 10-byte receive area"
        )
    ]
