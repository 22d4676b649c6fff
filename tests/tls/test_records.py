"""Application data after the handshake: any split of the wire bytes, large payloads, closing,
session resumption."""

from __future__ import annotations

import datetime as dt
import gc
import itertools
import weakref
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ouc.errors import ConfigError, Status
from ouc.tls import TLSContext, TLSEngine, TLSState
from ouc.tls._context import ENGINES
from ouc.transport import Closed, Failed, HandshakeComplete, PlaintextReceived

Kit = Any  # the kit fixture's type lives in conftest (importlib mode: not importable)


def plaintext(engine: TLSEngine, kit: Kit) -> bytes:
    events = list(kit.drain(engine))
    assert all(isinstance(e, PlaintextReceived) for e in events), events
    return b"".join(e.data for e in events)


def feed_split(engine: TLSEngine, data: bytes, cuts: list[int]) -> None:
    """Feed ``data`` cut at the given offsets (sorted, deduplicated, inside the data)."""
    edges = [0, *sorted({c for c in cuts if 0 < c < len(data)}), len(data)]
    for start, end in itertools.pairwise(edges):
        engine.receive_data(data[start:end])


@pytest.fixture(scope="module")
def contexts(kit: Kit, pki: Any) -> dict[str, tuple[TLSContext, TLSContext]]:
    return {
        version: (
            TLSContext.build(kit.server_endpoint(pki), device),
            TLSContext.build(kit.client_endpoint(pki), device),
        )
        for version, device in (("tls13", kit.V31), ("tls12", kit.V28))
    }


def established(kit: Kit, contexts: dict[str, Any], version: str = "tls13") -> Any:
    pair = kit.engines(*contexts[version])
    pair.pump()
    assert isinstance(pair.client_events[0], HandshakeComplete)
    assert isinstance(pair.server_events[0], HandshakeComplete)
    return pair


@pytest.mark.parametrize("version", ["tls13", "tls12"])
def test_round_trip_whole_and_byte_by_byte(kit: Kit, contexts: Any, version: str) -> None:
    pair = established(kit, contexts, version)
    message = b"\x01\x00\xfe\x0cHello World!" + bytes(244)  # a 258-byte Send_Data frame
    pair.client.send(message)
    pair.server.receive_data(pair.client.data_to_send())
    assert plaintext(pair.server, kit) == message
    pair.server.send(message[::-1])
    wire = pair.server.data_to_send()
    for index in range(len(wire)):
        pair.client.receive_data(wire[index : index + 1])
    assert plaintext(pair.client, kit) == message[::-1]


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    messages=st.lists(st.binary(min_size=1, max_size=3000), min_size=1, max_size=6),
    cuts=st.lists(st.integers(min_value=0, max_value=20_000), max_size=12),
)
def test_plaintext_survives_random_splits(
    kit: Kit, contexts: Any, messages: list[bytes], cuts: list[int]
) -> None:
    pair = established(kit, contexts)
    for message in messages:
        pair.client.send(message)
    feed_split(pair.server, pair.client.data_to_send(), cuts)
    assert plaintext(pair.server, kit) == b"".join(messages)


@pytest.mark.parametrize("size", [16384, 16385, 65536, 1 << 20])
def test_large_payloads_span_records(kit: Kit, contexts: Any, size: int) -> None:
    pair = established(kit, contexts)
    payload = bytes(range(256)) * (size // 256) + b"\x07" * (size % 256)
    pair.client.send(payload)
    wire = pair.client.data_to_send()
    assert len(wire) > size  # record headers and tags: it went through TLS
    pair.server.receive_data(wire)
    events = list(kit.drain(pair.server))
    assert len(events) == 1  # one event per receive_data, however many records
    assert events[0].data == payload


def test_buffer_types_are_accepted(kit: Kit, contexts: Any) -> None:
    pair = established(kit, contexts)
    pair.client.send(bytearray(b"from a bytearray"))
    pair.client.send(memoryview(b"xx and a memoryview")[2:])
    wire = pair.client.data_to_send()
    pair.server.receive_data(memoryview(bytearray(wire)))
    assert plaintext(pair.server, kit) == b"from a bytearray and a memoryview"


def test_empty_send_produces_nothing(kit: Kit, contexts: Any) -> None:
    pair = established(kit, contexts)
    pair.client.send(b"")
    assert pair.client.data_to_send() == b""


def test_close_notify_is_closed_on_the_peer(kit: Kit, contexts: Any) -> None:
    pair = established(kit, contexts)
    pair.client.send(b"last words")
    pair.client.close()
    assert pair.client.state is TLSState.CLOSING
    pair.client.close()  # idempotent
    pair.server.receive_data(pair.client.data_to_send())
    events = list(kit.drain(pair.server))
    assert events == [PlaintextReceived(b"last words"), Closed()]
    assert pair.server.state is TLSState.CLOSED
    pair.server.close()  # answers with its own close_notify
    pair.client.receive_data(pair.server.data_to_send())
    assert list(kit.drain(pair.client)) == [Closed()]
    assert pair.client.state is TLSState.CLOSED


def test_peer_can_still_send_after_our_close_notify(kit: Kit, contexts: Any) -> None:
    pair = established(kit, contexts)
    pair.client.close()
    notify = pair.client.data_to_send()
    # The partner sent data before it saw our close_notify: it still arrives.
    pair.server.send(b"answer")
    pair.client.receive_data(pair.server.data_to_send())
    assert plaintext(pair.client, kit) == b"answer"
    assert pair.client.state is TLSState.CLOSING
    pair.server.receive_data(notify)
    assert list(kit.drain(pair.server)) == [Closed()]


def test_tcp_eof_after_the_handshake_is_closed(kit: Kit, contexts: Any) -> None:
    pair = established(kit, contexts)
    pair.server.receive_data(b"")
    assert list(kit.drain(pair.server)) == [Closed()]
    pair.server.receive_data(b"ignored")
    assert pair.server.next_event() is None


def test_close_during_the_handshake_sends_nothing(kit: Kit, contexts: Any) -> None:
    pair = kit.engines(*contexts["tls13"])
    pair.client.data_to_send()
    pair.client.close()
    assert pair.client.state is TLSState.CLOSED
    assert pair.client.data_to_send() == b""
    pair.client.receive_data(b"\x16\x03\x03")
    assert pair.client.next_event() is None


# -- session resumption ----------------------------------------------------------------------


@pytest.mark.parametrize("version", ["tls13", "tls12"])
@pytest.mark.parametrize("mutual", [True, False], ids=["mutual", "server-auth"])
def test_resumption(kit: Kit, pki: Any, version: str, mutual: bool) -> None:
    device = kit.V31 if version == "tls13" else kit.V28
    sctx = TLSContext.build(kit.server_endpoint(pki, require_client_cert=mutual), device)
    cctx = TLSContext.build(kit.client_endpoint(pki), device)
    first = kit.engines(sctx, cctx)
    first.pump()
    session = first.client.session
    assert session is not None and session.peer_anchor_id == 3
    assert first.server.session is None  # servers do not resume from objects
    second = kit.engines(sctx, cctx, session=session)
    second.pump()
    client = second.client_events[0].info
    server = second.server_events[0].info
    assert client.resumed and server.resumed
    assert client.peer_subject == "CN=PLC_1 server" and client.peer_anchor_id == 3
    assert server.peer_subject == ("CN=PLC_2 client" if mutual else None)
    assert client.own_cert_id == (11 if mutual else None)
    # A resumed handshake carries no certificates: far fewer bytes than the full one.
    assert sum(map(len, second.to_client)) < sum(map(len, first.to_client)) / 2


def test_tls13_session_needs_the_ticket(kit: Kit, pki: Any) -> None:
    sctx = TLSContext.build(kit.server_endpoint(pki), kit.V31)
    cctx = TLSContext.build(kit.client_endpoint(pki), kit.V31)
    pair = kit.engines(sctx, cctx)
    pair.server.receive_data(pair.client.data_to_send())
    pair.client.receive_data(pair.server.data_to_send())
    assert isinstance(pair.client.next_event(), HandshakeComplete)
    assert pair.client.session is None  # the server's NewSessionTicket has not arrived yet
    pair.server.receive_data(pair.client.data_to_send())
    pair.client.receive_data(pair.server.data_to_send())
    assert pair.client.session is not None


def test_no_tickets_no_resumption(kit: Kit, pki: Any) -> None:
    sctx = TLSContext.build(kit.server_endpoint(pki), kit.V31, session_tickets=False)
    cctx = TLSContext.build(kit.client_endpoint(pki), kit.V31, session_tickets=False)
    pair = kit.engines(sctx, cctx)
    pair.pump()
    assert pair.client.session is None


def test_session_of_another_context_is_refused(kit: Kit, pki: Any) -> None:
    sctx = TLSContext.build(kit.server_endpoint(pki), kit.V31)
    cctx = TLSContext.build(kit.client_endpoint(pki), kit.V31)
    pair = kit.engines(sctx, cctx)
    pair.pump()
    session = pair.client.session
    other = TLSContext.build(kit.client_endpoint(pki), kit.V31)
    with pytest.raises(ConfigError, match="another TLS context"):
        TLSEngine(other, now=kit.clock(), session=session)
    with pytest.raises(ConfigError, match="only a TLS client"):
        TLSEngine(sctx, now=kit.clock(), session=session)


def resume_later(kit: Kit, pki: Any, **clock: dt.datetime) -> Any:
    """A full handshake, then a resumption with one side's PLC clock set 400 days later."""
    sctx = TLSContext.build(kit.server_endpoint(pki), kit.V31)
    cctx = TLSContext.build(kit.client_endpoint(pki), kit.V31)
    first = kit.engines(sctx, cctx)
    first.pump()
    later = kit.NOW + dt.timedelta(days=400)
    moved = {f"{side}_now": later for side in clock}
    second = kit.engines(sctx, cctx, session=first.client.session, **moved)
    second.pump()
    return second


def test_session_is_not_offered_once_the_server_cert_expired(kit: Kit, pki: Any) -> None:
    second = resume_later(kit, pki, client=kit.NOW)
    (event,) = second.client_events
    assert isinstance(event, Failed) and event.status == Status.TLS_CERT_EXPIRED
    assert "resumed" not in event.reason  # a full handshake found it


def test_resumed_server_rechecks_the_client_cert_against_its_clock(kit: Kit, pki: Any) -> None:
    second = resume_later(kit, pki, server=kit.NOW)
    (event,) = second.server_events
    assert isinstance(event, Failed) and event.status == Status.TLS_CERT_EXPIRED
    assert "resumed session" in event.reason
    # The compatible server closed politely: the client sees close_notify.
    assert [type(e) for e in second.client_events] == [HandshakeComplete, Closed]


@pytest.mark.parametrize("version", ["tls13", "tls12"])
def test_a_dropped_engine_is_freed_at_once(kit: Kit, contexts: Any, version: str) -> None:
    """The engines own their libssl objects without reference cycles: dropping a connection
    frees it (and its SSL object) without the cyclic collector. The map OpenSSL's callbacks
    use to find an engine holds it only during the handshake."""
    pair = kit.engines(*contexts[version])
    refs = [weakref.ref(pair.client), weakref.ref(pair.server)]
    keys = [pair.client._ssl, pair.server._ssl]
    assert all(ENGINES.get(key) is ref() for key, ref in zip(keys, refs, strict=True))
    pair.pump()
    assert pair.client.state is TLSState.ESTABLISHED
    assert [ENGINES.get(key) for key in keys] == [None, None]
    gc.disable()
    try:
        del pair
        assert [ref() for ref in refs] == [None, None]
    finally:
        gc.enable()


@pytest.mark.parametrize("version", ["tls13", "tls12"])
def test_idle_connections_hold_no_memory_bios(kit: Kit, contexts: Any, version: str) -> None:
    """Once the handshake is over and its bytes are out, each engine gives its memory BIOs
    back (an idle connection keeps no buffers, not even empty ones); the first record in
    either direction brings a fresh pair, and records flow as before."""
    pair = kit.engines(*contexts[version])
    pair.pump()
    for engine in (pair.client, pair.server):
        assert (engine._bio_in, engine._bio_out) == (None, None)
        assert engine.data_to_send() == b""
    for size in (1, 258, 70_000):
        payload = bytes(range(256)) * (size // 256) + bytes(size % 256)
        pair.client.send(payload)
        pair.pump()
        assert (
            b"".join(e.data for e in pair.server_events if isinstance(e, PlaintextReceived))
            == payload
        )
        pair.server_events.clear()
        pair.server.send(payload[::-1])
        pair.pump()
        assert (
            b"".join(e.data for e in pair.client_events if isinstance(e, PlaintextReceived))
            == payload[::-1]
        )
        pair.client_events.clear()
    assert pair.server._bio_in is not None and pair.client._bio_out is not None


def test_a_large_first_write_after_the_handshake_still_gives_the_bios_back(
    kit: Kit, contexts: Any
) -> None:
    """The first output after the handshake parks the BIOs once it is out, whether it fits
    the scratch buffer or not: a server that writes 70,000 bytes before its tickets were
    taken sends tickets and data in one piece and then holds no BIOs, like one that wrote a
    small frame; the client gets every byte."""
    pair = kit.engines(*contexts["tls13"])
    pair.server.receive_data(pair.client.data_to_send())  # ClientHello
    pair.client.receive_data(pair.server.data_to_send())  # the server's flight
    pair.server.receive_data(pair.client.data_to_send())  # Finished: the server is up
    assert pair.server.state is TLSState.ESTABLISHED
    payload = bytes(range(256)) * 273 + bytes(112)  # 70,000 bytes
    pair.server.send(payload)
    out = pair.server.data_to_send()
    assert len(out) > len(payload)  # tickets and records, taken at once
    assert (pair.server._bio_in, pair.server._bio_out) == (None, None)
    pair.client.receive_data(out)
    got = b"".join(e.data for e in kit.drain(pair.client) if isinstance(e, PlaintextReceived))
    assert got == payload


@pytest.mark.parametrize("first", ["receive", "send", "close"])
def test_a_parked_connection_wakes_up_for_whatever_comes_first(
    kit: Kit, contexts: Any, first: str
) -> None:
    """An idle server (no BIOs since the handshake) answers data from the client, sends
    first, or closes with close_notify, each time from a fresh pair of BIOs."""
    pair = kit.engines(*contexts["tls13"])
    pair.pump()
    assert pair.server._bio_in is None and pair.client._bio_in is None
    if first == "receive":
        pair.client.send(b"ping")
        pair.pump()
        assert [e.data for e in pair.server_events if isinstance(e, PlaintextReceived)] == [b"ping"]
    elif first == "send":
        pair.server.send(b"pong")
        pair.pump()
        assert [e.data for e in pair.client_events if isinstance(e, PlaintextReceived)] == [b"pong"]
    else:
        pair.server.close()
        pair.pump()
        assert pair.server.state is TLSState.CLOSING
        assert any(isinstance(e, Closed) for e in pair.client_events)


def test_equal_session_infos_are_one_object(kit: Kit, contexts: Any) -> None:
    """Every server-auth connection of a context negotiates the same: the engines hand out one
    shared SessionInfo (a mock PLC keeps one per connection), equal to a freshly built one."""
    first, second = kit.engines(*contexts["tls13"]), kit.engines(*contexts["tls13"])
    first.pump()
    second.pump()
    assert first.server.info is not None and first.server.info.version == "TLSv1.3"
    assert first.server.info is second.server.info
    assert first.client.info is second.client.info
    assert first.server.info != first.client.info  # the client's own view is its own object
