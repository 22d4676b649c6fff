"""ISO-on-TCP connections: CR/CC with TSAP check, messages, 16#8088, garbage never escapes."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ouc.conn import (
    Connection,
    ConnectionConfig,
    ConnState,
    Disconnected,
    Established,
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
    ErrorTPDU,
    TpduDecoder,
    decode_packet,
    encode_message,
)
from ouc.transport import PlainTransport

Factory = Callable[..., Any]

CLIENT_TSAP, SERVER_TSAP = b"\x01\x00", b"TCP-1"
MATCHING = (IsoConfig(CLIENT_TSAP, SERVER_TSAP), IsoConfig(SERVER_TSAP, CLIENT_TSAP))


def _server(receive_len: int = 1000, remote_tsap: bytes = b"", tpdu_size: int = 1024) -> Connection:
    """A passive ISO-on-TCP side that has its TCP connection and waits for a CR."""
    config = ConnectionConfig(
        Role.PASSIVE, receive_len, iso=IsoConfig(SERVER_TSAP, remote_tsap, tpdu_size), conn_id=9
    )
    conn = Connection(config, PlainTransport())
    conn.connect(0.0)
    return conn


def _events(conn: Connection) -> list[object]:
    events = []
    while (event := conn.next_event()) is not None:
        events.append(event)
    return events


def test_connect_and_accept_negotiates_the_smaller_tpdu_size(pair_factory: Factory) -> None:
    iso = (IsoConfig(CLIENT_TSAP, SERVER_TSAP, 1024), IsoConfig(SERVER_TSAP, CLIENT_TSAP, 512))
    pair = pair_factory(1000, iso=iso)
    pair.start()
    assert pair.events["client"] == [Established(pair.client.info, 512)]  # type: ignore[arg-type]
    assert pair.events["server"] == [Established(pair.server.info, 512)]  # type: ignore[arg-type]
    assert pair.client.tpdu_size == pair.server.tpdu_size == 512
    assert pair.client.format_sequence("TSEND_C") == "7000 → 7001 → 7002 → 0001 → 7004"


def test_the_cr_carries_our_tsaps_and_the_cc_echoes_them() -> None:
    config = ConnectionConfig(Role.ACTIVE, 100, iso=IsoConfig(CLIENT_TSAP, SERVER_TSAP), conn_id=5)
    client = Connection(config, PlainTransport())
    client.connect(0.0)
    request, _ = decode_packet(client.data_to_send())
    assert request == ConnectionRequest(
        calling_tsap=CLIENT_TSAP, called_tsap=SERVER_TSAP, tpdu_size=1024, src_ref=5
    )
    server = _server()
    server.receive_data(request.encode(), 0.0)
    confirm, _ = decode_packet(server.data_to_send())
    assert confirm == ConnectionConfirm(
        calling_tsap=CLIENT_TSAP, called_tsap=SERVER_TSAP, tpdu_size=1024, src_ref=9, dst_ref=5
    )


def test_cr_without_tpdu_size_gets_the_class_0_default() -> None:
    server = _server()
    server.receive_data(ConnectionRequest(called_tsap=SERVER_TSAP, src_ref=1).encode(), 0.0)
    assert server.tpdu_size == 128
    assert server.state is ConnState.CONNECTED


@pytest.mark.parametrize(
    ("request_", "remote", "words"),
    [
        (ConnectionRequest(calling_tsap=CLIENT_TSAP, called_tsap=b"TCP-2"), b"", "called TSAP"),
        (ConnectionRequest(calling_tsap=CLIENT_TSAP), b"", "called TSAP none"),
        (ConnectionRequest(calling_tsap=b"\x09", called_tsap=SERVER_TSAP), CLIENT_TSAP, "calling"),
    ],
)
def test_tsap_mismatch_is_refused_with_dr(
    request_: ConnectionRequest, remote: bytes, words: str
) -> None:
    server = _server(remote_tsap=remote)
    server.receive_data(request_.encode(), 0.0)
    answer, _ = decode_packet(server.data_to_send())
    assert isinstance(answer, DisconnectRequest)
    assert answer.reason == 0x02
    (end,) = _events(server)
    assert isinstance(end, Disconnected)
    assert end.status == Status.PARTNER_REFUSED
    assert words in end.reason
    assert server.state is ConnState.FAILED


def test_active_side_refused_by_dr_reports_80c4(pair_factory: Factory) -> None:
    iso = (IsoConfig(CLIENT_TSAP, b"TCP-9"), IsoConfig(SERVER_TSAP))
    pair = pair_factory(100, iso=iso)
    pair.start()
    (client_end,) = pair.of("client", Disconnected)
    assert client_end.status == Status.TEMPORARY
    assert "DR reason 16#02" in client_end.reason
    assert pair.client.tsend.STATUS == Status.TEMPORARY
    (server_end,) = pair.of("server", Disconnected)
    assert server_end.status == Status.PARTNER_REFUSED


def test_multi_tpdu_messages_in_random_order_of_sizes(pair_factory: Factory) -> None:
    iso = (IsoConfig(CLIENT_TSAP, SERVER_TSAP, 128), IsoConfig(SERVER_TSAP, CLIENT_TSAP, 128))
    pair = pair_factory(2000, iso=iso)
    pair.start()
    messages = [bytes([n]) * size for n, size in enumerate([1, 125, 126, 1000, 2000])]
    for message in messages:
        pair.client.send(message, now=0.0)
    pair.pump()
    received = pair.of("server", FrameReceived)
    assert [e.data for e in received] == messages
    assert [e.rcvd_len for e in received] == [len(m) for m in messages]
    assert pair.server.trcv.RCVD_LEN == 2000


@settings(max_examples=40)
@given(
    sizes=st.lists(st.integers(1, 700), min_size=1, max_size=4),
    cuts=st.lists(st.integers(0, 3000), max_size=12),
)
def test_messages_survive_any_split(sizes: list[int], cuts: list[int]) -> None:
    server = _server(receive_len=700, tpdu_size=256)
    server.receive_data(ConnectionRequest(called_tsap=SERVER_TSAP, tpdu_size=256).encode(), 0.0)
    messages = [bytes([n + 1]) * size for n, size in enumerate(sizes)]
    wire = b"".join(encode_message(m, 256) for m in messages)
    edges = [0, *sorted(min(c, len(wire)) for c in cuts), len(wire)]
    for a, b in itertools.pairwise(edges):
        if b > a:
            server.receive_data(wire[a:b], 0.0)
    received = [e for e in _events(server) if isinstance(e, FrameReceived)]
    assert [e.data for e in received] == messages


def test_message_larger_than_receive_area_is_8088_and_the_connection_stays(
    pair_factory: Factory,
) -> None:
    iso = (IsoConfig(CLIENT_TSAP, SERVER_TSAP, 128), IsoConfig(SERVER_TSAP, CLIENT_TSAP, 128))
    pair = pair_factory(200, iso=iso)
    pair.start()
    pair.client.send(bytes(500), now=0.0)
    pair.client.send(b"fits", now=0.0)
    pair.pump()
    (failed,) = pair.of("server", ReceiveFailed)
    assert failed.status == Status.RECEIVE_AREA_TOO_SMALL
    assert pair.of("server", FrameReceived) == [FrameReceived(b"fits", 4)]
    assert pair.server.state is ConnState.CONNECTED
    assert "7006 → 8088 → 7006 → 0000" in pair.server.format_sequence("TRCV_C")


def test_send_encodes_dt_packets_by_the_negotiated_size(pair_factory: Factory) -> None:
    iso = (IsoConfig(CLIENT_TSAP, SERVER_TSAP, 128), IsoConfig(SERVER_TSAP, CLIENT_TSAP, 8192))
    pair = pair_factory(1000, iso=iso)
    pair.start()
    pair.client.send(bytes(300), now=0.0)
    tpdus = TpduDecoder().decode(pair.client.data_to_send())
    assert [len(t.data) for t in tpdus if isinstance(t, DataTPDU)] == [125, 125, 50]


@pytest.mark.parametrize(
    ("packet", "status"),
    [
        (ConnectionConfirm(dst_ref=1).encode(), MALFORMED),  # CC sent to the passive side
        (DataTPDU(b"early").encode(), MALFORMED),  # data before the CR
        (ErrorTPDU(cause=1).encode(), MALFORMED),
        (b"\x03\x00\x00\x03", MALFORMED),  # TPKT length 3
    ],
)
def test_protocol_errors_while_connecting(packet: bytes, status: int) -> None:
    server = _server()
    server.receive_data(packet, 0.0)
    (end,) = _events(server)
    assert isinstance(end, Disconnected)
    assert end.status == status
    assert status == server.trcv.STATUS


def test_cc_with_wrong_reference_or_class_is_malformed() -> None:
    for confirm in (
        ConnectionConfirm(dst_ref=77),
        ConnectionConfirm(dst_ref=1, class_option=0x20),
    ):
        config = ConnectionConfig(Role.ACTIVE, 100, iso=IsoConfig(CLIENT_TSAP, SERVER_TSAP))
        client = Connection(config, PlainTransport())
        client.connect(0.0)
        client.receive_data(confirm.encode(), 0.0)
        (end,) = _events(client)
        assert isinstance(end, Disconnected)
        assert end.status == MALFORMED


def test_dr_and_cr_after_the_connection_is_up(pair_factory: Factory) -> None:
    pair = pair_factory(100, iso=MATCHING)
    pair.start()
    pair.server.receive_data(DisconnectRequest(reason=0x80).encode(), 0.0)
    pair.collect()
    (end,) = pair.of("server", Disconnected)
    assert end.status == Status.PARTNER_CLOSED

    pair = pair_factory(100, iso=MATCHING)
    pair.start()
    pair.server.receive_data(ConnectionRequest(called_tsap=SERVER_TSAP).encode(), 0.0)
    pair.collect()
    (end,) = pair.of("server", Disconnected)
    assert end.status == MALFORMED


def test_message_then_garbage_delivers_the_message_first(pair_factory: Factory) -> None:
    pair = pair_factory(100, iso=MATCHING)
    pair.start()
    pair.server.receive_data(encode_message(b"good", 1024) + b"\xff" * 8, 0.0)
    pair.collect()
    kinds = [type(e).__name__ for e in pair.events["server"]]
    assert kinds == ["Established", "FrameReceived", "Disconnected"]
    assert pair.server.disconnect is not None
    assert pair.server.disconnect.status == MALFORMED


@settings(max_examples=150)
@given(garbage=st.binary(min_size=1, max_size=120), connected=st.booleans())
def test_random_garbage_gives_a_framing_status_never_an_exception(
    garbage: bytes, connected: bool
) -> None:
    server = _server(receive_len=50)
    if connected:
        server.receive_data(ConnectionRequest(called_tsap=SERVER_TSAP).encode(), 0.0)
    server.receive_data(garbage, 0.0)
    for event in _events(server):
        if isinstance(event, Disconnected):
            assert event.status in {MALFORMED, Status.PARTNER_REFUSED, Status.PARTNER_CLOSED}
        elif isinstance(event, ReceiveFailed):
            assert event.status == Status.RECEIVE_AREA_TOO_SMALL
        else:
            assert isinstance(event, Established | FrameReceived)
    if server.ended:
        assert server.trcv.ERROR


def _connected_server(refuse: bool) -> Connection:
    """A passive side that negotiated a 128-byte TPDU size."""
    iso = IsoConfig(SERVER_TSAP, b"", 1024, refuse_oversized_dt=refuse)
    conn = Connection(ConnectionConfig(Role.PASSIVE, 1000, iso=iso, conn_id=9), PlainTransport())
    conn.connect(0.0)
    request = ConnectionRequest(calling_tsap=CLIENT_TSAP, called_tsap=SERVER_TSAP, src_ref=1)
    conn.receive_data(request.encode(), 0.0)  # No TPDU size: the class 0 default, 128.
    assert conn.tpdu_size == 128 and conn.state is ConnState.CONNECTED
    _events(conn)
    return conn


@pytest.mark.parametrize("data_len", [125, 126, 500])
def test_a_dt_larger_than_the_tpdu_size_is_accepted_by_default(data_len: int) -> None:
    """domain.md §6 says nothing about a DT above the negotiated size: accepted by default."""
    server = _connected_server(refuse=False)
    server.receive_data(DataTPDU(b"x" * data_len).encode(), 0.0)
    (event,) = _events(server)
    assert isinstance(event, FrameReceived) and event.data == b"x" * data_len


def test_a_dt_larger_than_the_tpdu_size_is_refused_with_the_option() -> None:
    """Inference from ISO 8073: the negotiated size bounds every TPDU (3-byte DT header + data),
    so with refuse_oversized_dt a 129-byte DT on a 128-byte connection ends it."""
    server = _connected_server(refuse=True)
    server.receive_data(DataTPDU(b"y" * 125).encode(), 0.0)  # 128 bytes: allowed.
    (event,) = _events(server)
    assert isinstance(event, FrameReceived) and event.data == b"y" * 125
    server.receive_data(DataTPDU(b"z" * 126).encode(), 0.0)
    (end,) = _events(server)
    assert isinstance(end, Disconnected) and end.status == MALFORMED
    assert "DT TPDU of 129 bytes, more than the negotiated TPDU size of 128" in end.reason
    assert server.state is ConnState.FAILED
