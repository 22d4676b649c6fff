"""The same connection over the TLS engine instead of plain TCP: nothing in it may care.

Real certificates (ouc.certs) and the real engine (ouc.tls), wired in memory. This checks the
seam between the state machine and the TLS transport; the TLS failure mapping itself is tested
with the engine.
"""

from __future__ import annotations

import datetime as dt
import gc
import itertools
import weakref
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ouc.conn import Connection, ConnectionConfig, Disconnected, Established, FrameReceived
from ouc.device import Role
from ouc.tls import TLSContext, TLSEngine

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)  # the certificates' time (conftest)
SERVER_IP = "192.168.0.1"
SEND_DATA = b"\x01\x00\xfe\x0c" + b"Hello World!" + bytes(242)


def _tls_pair(
    pair_type: Any,
    contexts: tuple[TLSContext, TLSContext],
    receive_len: int = 258,
    split: Callable[[bytes], list[bytes]] | None = None,
    server_now: dt.datetime = NOW,
) -> Any:
    client_ctx, server_ctx = contexts
    client = Connection(
        ConnectionConfig(Role.ACTIVE, receive_len, secure=True),
        TLSEngine(client_ctx, now=lambda: NOW, peer_address=SERVER_IP),
    )
    server = Connection(
        ConnectionConfig(Role.PASSIVE, receive_len, secure=True),
        TLSEngine(server_ctx, now=lambda: server_now),
    )
    return pair_type(client, server, split) if split else pair_type(client, server)


def test_mutual_tls_frame_and_status_sequences(
    pair_type: Any, contexts: tuple[TLSContext, TLSContext]
) -> None:
    pair = _tls_pair(pair_type, contexts)
    pair.start()
    (client_up,) = pair.of("client", Established)
    assert client_up.info.secure
    assert client_up.info.version == "TLSv1.3"
    assert (client_up.info.own_cert_id, client_up.info.peer_anchor_id) == (11, 3)
    pair.client.send(SEND_DATA, now=0.0)
    pair.pump()
    assert pair.of("server", FrameReceived) == [FrameReceived(SEND_DATA, 258)]
    assert (
        pair.client.format_sequence("TSEND_C") == "7000 → 7001 → 7002 → 0001 → 7004 → 7005 → 0000"
    )
    assert pair.server.format_sequence("TRCV_C") == "7000 → 7001 → 7002 → 0001 → 7006 → 0000"
    pair.client.close(0.0)
    pair.pump()
    (end,) = pair.of("server", Disconnected)
    assert end.status == 0x80C5
    # TIA help: CONT 1→0 shows 7003 while terminating and 0003 when done; the partner's
    # TSEND_C (idle) hears of the close from T_DIAG (80A3), its TRCV_C with EN_R = 1 reports
    # 80C5 and then 80C4.
    assert pair.client.format_sequence("TSEND_C").endswith("0000 → 7003 → 0003 → 7000")
    assert pair.server.format_sequence("TRCV_C").endswith("0000 → 80C5 → 80C4")
    assert pair.server.format_sequence("TSEND_C").endswith("7004 → 80A3")


@settings(max_examples=15)
@given(cuts=st.lists(st.integers(1, 400), min_size=1, max_size=6))
def test_tls_records_in_random_splits(
    pair_type: Any, contexts: tuple[TLSContext, TLSContext], cuts: list[int]
) -> None:
    def split(data: bytes) -> list[bytes]:
        edges = [0, *sorted({c for c in cuts if c < len(data)}), len(data)]
        return [data[a:b] for a, b in itertools.pairwise(edges)]

    pair = _tls_pair(pair_type, contexts, receive_len=100, split=split)
    pair.start()
    frames = [bytes([n]) * 100 for n in range(3)]
    for frame in frames:
        pair.client.send(frame, now=0.0)
    pair.pump()
    assert [e.data for e in pair.of("server", FrameReceived)] == frames


def test_tls_failure_becomes_a_tls_status(
    pair_type: Any, contexts: tuple[TLSContext, TLSContext]
) -> None:
    # The server's PLC clock says the client certificate is not valid yet.
    pair = _tls_pair(pair_type, contexts, server_now=NOW - dt.timedelta(days=3650))
    pair.start()
    (end,) = pair.of("server", Disconnected)
    assert 0x80E0 <= end.status <= 0x80E7
    assert pair.server.trcv.ERROR
    assert end.status == pair.server.trcv.STATUS
    assert pair.of("server", Established) == []


def test_close_during_the_tls_handshake_ends_at_once(
    pair_type: Any, contexts: tuple[TLSContext, TLSContext]
) -> None:
    pair = _tls_pair(pair_type, contexts)
    pair.client.connect(0.0)
    assert pair.client.data_to_send()  # the ClientHello
    assert pair.client.state.value == "handshaking"
    pair.client.close(0.0)
    pair.collect()
    assert pair.events["client"] == [
        Disconnected(0, "closed before the connection was established")
    ]
    assert pair.client.tsend.STATUS == 0x7000


def _pump_quiet(client: Connection, server: Connection, now: float) -> None:
    for _ in range(50):  # bounded: a handshake or a close takes a few flights
        to_server, to_client = client.data_to_send(), server.data_to_send()
        if to_server:
            server.receive_data(to_server, now)
        if to_client:
            client.receive_data(to_client, now)
        if not to_server and not to_client:
            return
    raise AssertionError("the pair did not go quiet")


def test_a_closed_connection_and_its_engine_are_freed_without_the_cyclic_collector(
    contexts: tuple[TLSContext, TLSContext],
) -> None:
    """A mock PLC churns through connections: each one's engine (and OpenSSL's ~16 KB SSL)
    must go when the driver drops it, not wait for a garbage-collector pass."""
    client_ctx, server_ctx = contexts
    client = Connection(
        ConnectionConfig(Role.ACTIVE, 258, secure=True),
        TLSEngine(client_ctx, now=lambda: NOW, peer_address=SERVER_IP),
    )
    server = Connection(
        ConnectionConfig(Role.PASSIVE, 258, secure=True), TLSEngine(server_ctx, now=lambda: NOW)
    )

    client.connect(1.0)
    server.connect(1.0)
    _pump_quiet(client, server, 1.0)
    client.send(SEND_DATA, now=2.0)
    client.close(now=3.0)
    _pump_quiet(client, server, 3.0)
    ends = [
        [e for e in iter(conn.next_event, None) if isinstance(e, Disconnected)]
        for conn in (client, server)
    ]
    assert [len(e) for e in ends] == [1, 1]
    refs = [weakref.ref(obj) for obj in (client, server, client._transport, server._transport)]
    gc.collect()
    gc.disable()
    try:
        del client, server, ends
        assert [ref() for ref in refs] == [None] * 4
    finally:
        gc.enable()
