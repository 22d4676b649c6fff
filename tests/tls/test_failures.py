"""Every TLS failure maps to the PLC's status code, on both sides, in both profiles."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from OpenSSL import SSL

from ouc.errors import OucConnectionError, Status, TLSError
from ouc.tls import TLSContext, TLSEngine, TLSState
from ouc.tls._libssl import binding
from ouc.transport import Closed, Failed, HandshakeComplete

Kit = Any  # the kit fixture's type lives in conftest (importlib mode: not importable)
DAY = dt.timedelta(days=1)


def failed(events: list[Any]) -> Failed:
    """The one Failed event of a side (after an optional HandshakeComplete, TLS 1.3 client)."""
    fails = [e for e in events if isinstance(e, Failed)]
    assert len(fails) == 1, events
    assert all(isinstance(e, HandshakeComplete | Failed) for e in events), events
    return fails[0]


def no_handshake(events: list[Any]) -> None:
    assert not any(isinstance(e, HandshakeComplete) for e in events), events


# -- certificate verification, both directions -----------------------------------------------

# (scenario, client status, server status) in the compatible profile. The refusing side reports
# what its verifier found; the other side reports the alert it received.
CASES = [
    ("server cert expired (client clock)", Status.TLS_CERT_EXPIRED, Status.TLS_CERT_EXPIRED),
    ("server cert not yet valid", Status.TLS_CERT_INVALID, Status.TLS_CERT_INVALID),
    ("server cert from unknown CA", Status.TLS_NO_VALID_CA, Status.TLS_NO_VALID_CA),
    ("SAN mismatch", Status.TLS_HANDSHAKE_FAILURE, Status.TLS_CERT_INVALID),
    ("client cert expired (server clock)", Status.TLS_CERT_EXPIRED, Status.TLS_CERT_EXPIRED),
    ("client cert from unknown CA", Status.TLS_NO_VALID_CA, Status.TLS_NO_VALID_CA),
]


CASE_IDS = [case[0] for case in CASES]


def scenario(kit: Kit, pki: Any, name: str, **kwargs: Any) -> Any:
    stranger = kit.make_pki("EC-P256", "Stranger CA")
    server, client = kit.server_endpoint(pki), kit.client_endpoint(pki)
    later, earlier = kit.NOW + 400 * DAY, kit.NOW - 100 * DAY
    options: dict[str, Any] = {
        "server cert expired (client clock)": {"client_now": later},
        "server cert not yet valid": {"client_now": earlier},
        "server cert from unknown CA": {"client": replace(client, anchors=(stranger.ca,))},
        "SAN mismatch": {
            "client": replace(client, check_san=True),
            "peer_address": "192.168.0.99",
        },
        "client cert expired (server clock)": {"server_now": later},
        "client cert from unknown CA": {"server": replace(server, anchors=(stranger.ca,))},
    }[name]
    server = options.pop("server", server)
    client = options.pop("client", client)
    return kit.make_pair(server, client, **options, **kwargs)


@pytest.mark.parametrize(
    ("name", "client_status", "server_status"), CASES, ids=[c[0] for c in CASES]
)
@pytest.mark.parametrize("firmware", [(3, 1), (2, 8)], ids=["tls13", "tls12"])
def test_certificate_failures_map_to_status(
    kit: Kit,
    pki: Any,
    name: str,
    client_status: int,
    server_status: int,
    firmware: tuple[int, int],
) -> None:
    device = kit.V31 if firmware == (3, 1) else kit.V28
    pair = scenario(kit, pki, name, server_device=device, client_device=device)
    pair.pump()
    client, server = failed(pair.client_events), failed(pair.server_events)
    assert (hex(client.status), hex(server.status)) == (hex(client_status), hex(server_status))
    assert not client.reset and not server.reset
    no_handshake(pair.server_events)
    assert pair.client.state is TLSState.FAILED is pair.server.state


def test_refusal_reason_names_the_certificate(kit: Kit, pki: Any) -> None:
    pair = scenario(kit, pki, "server cert expired (client clock)")
    pair.pump()
    reason = failed(pair.client_events).reason
    assert "PLC_1 server" in reason and "expired" in reason
    assert failed(pair.server_events).reason == "peer sent TLS alert certificate_expired"


@pytest.mark.parametrize(
    ("name", "client_status", "server_status"), CASES, ids=[c[0] for c in CASES]
)
def test_strict_profile_sends_no_alert_and_resets(
    kit: Kit, pki: Any, name: str, client_status: int, server_status: int
) -> None:
    strict = {"profile": "strict"}
    pair = scenario(kit, pki, name, server_kwargs=strict, client_kwargs=strict)
    pair.pump()
    refusing_client = name.startswith(("server", "SAN"))
    refuser, victim = (pair.client, pair.server) if refusing_client else (pair.server, pair.client)
    status = client_status if refusing_client else server_status
    failure = refuser.failure
    assert failure is not None and failure.status == status and failure.reset is True
    assert refuser.data_to_send() == b""
    # The partner got no alert at all: it is still waiting (TLS 1.3 client: it finished).
    assert victim.failure is None
    sent = pair.to_server if refusing_client else pair.to_client
    received = pair.to_client if refusing_client else pair.to_server
    assert len(sent) == 1  # only the handshake flight, no alert
    assert received  # the refuser did receive the victim's flight


def test_compatible_profile_sends_the_alert_bytes(kit: Kit, pki: Any) -> None:
    pair = scenario(kit, pki, "server cert from unknown CA")
    pair.pump()
    # ClientHello, then a 7-byte plaintext alert record: 21, version, length 2, fatal, unknown_ca.
    assert len(pair.to_server) == 2
    assert pair.to_server[1][0] == 21 and pair.to_server[1][-2:] == bytes([2, 48])


# -- client certificate required / missing ---------------------------------------------------


@pytest.mark.parametrize("firmware", [(3, 1), (2, 8)], ids=["tls13", "tls12"])
def test_client_certificate_required_but_missing(
    kit: Kit, pki: Any, firmware: tuple[int, int]
) -> None:
    device = kit.V31 if firmware == (3, 1) else kit.V28
    pair = kit.make_pair(
        kit.server_endpoint(pki, require_client_cert=True),
        kit.client_endpoint(pki, with_cert=False),
        server_device=device,
        client_device=device,
    )
    pair.pump()
    server = failed(pair.server_events)
    assert server.status == Status.TLS_CERT_INVALID
    assert "did not return a certificate" in server.reason
    client = failed(pair.client_events)
    # TLS 1.3 says certificate_required (16#80E2); TLS 1.2 OpenSSL says handshake_failure.
    expected = Status.TLS_CERT_INVALID if firmware == (3, 1) else Status.TLS_HANDSHAKE_FAILURE
    assert client.status == expected


# -- version mismatch between firmware profiles ----------------------------------------------


def against_raw(kit: Kit, pki: Any, ours: str, **raw_options: Any) -> tuple[Any, Any, list[Any]]:
    """Our V2.8 (TLS 1.2 only) engine in role ``ours`` against a raw pyOpenSSL peer."""
    if ours == "client":
        ctx = TLSContext.build(kit.client_endpoint(pki), kit.V28)
        engine = TLSEngine(ctx, now=kit.clock(), peer_address=kit.SERVER_IP)
    else:
        ctx = TLSContext.build(kit.server_endpoint(pki, require_client_cert=False), kit.V28)
        engine = TLSEngine(ctx, now=kit.clock())
    engine.start()
    raw = kit.RawPeer(pki, server=ours == "client", **raw_options)
    events: list[Any] = []
    kit.pump_raw(engine, raw, events)
    return engine, raw, events


@pytest.mark.parametrize(
    ("ours", "our_reason", "raw_reason"),
    [
        ("client", "protocol_version", "unsupported protocol"),
        ("server", "unsupported protocol", "protocol version"),
    ],
)
def test_tls12_only_firmware_against_a_tls13_only_peer(
    kit: Kit, pki: Any, ours: str, our_reason: str, raw_reason: str
) -> None:
    _, raw, events = against_raw(kit, pki, ours, min_version=SSL.TLS1_3_VERSION)
    failure = failed(events)
    assert failure.status == Status.TLS_HANDSHAKE_FAILURE
    assert our_reason in failure.reason
    assert raw.errors and raw_reason in raw.errors[0]


def test_strict_server_resets_on_version_mismatch(kit: Kit, pki: Any) -> None:
    ctx = TLSContext.build(
        kit.server_endpoint(pki, require_client_cert=False), kit.V28, profile="strict"
    )
    engine = TLSEngine(ctx, now=kit.clock())
    raw = kit.RawPeer(pki, server=False, min_version=SSL.TLS1_3_VERSION)
    raw.step()
    engine.receive_data(raw.wire_out())  # start() is implicit on the first bytes
    event = engine.next_event()
    assert isinstance(event, Failed) and event.reset and event.status == 0x80E1
    assert engine.data_to_send() == b""


# -- bytes that are not TLS, integrity, EOF --------------------------------------------------


@pytest.mark.parametrize(
    "garbage",
    [
        b"GET / HTTP/1.1\r\nHost: plc\r\n\r\n",
        b"\x03\x00\x00\x16\x11\xe0" + bytes(16),
        b"\x00" * 64,
        # A handshake record header claiming 65535 bytes, above TLS's maximum record size:
        # OpenSSL says "data length too long; record layer failure" - not TLS, so 16#80E0.
        b"\x16\x03\x01\xff\xff" + bytes(64),
    ],
    ids=["http", "iso-on-tcp-cr", "zeros", "oversized-record"],
)
@pytest.mark.parametrize("role", ["server", "client"])
def test_garbage_is_a_bad_tls_message(kit: Kit, pki: Any, garbage: bytes, role: str) -> None:
    resolved = kit.server_endpoint(pki) if role == "server" else kit.client_endpoint(pki)
    engine = TLSEngine(TLSContext.build(resolved, kit.V31), now=kit.clock())
    engine.start()
    engine.data_to_send()
    engine.receive_data(garbage)
    event = engine.next_event()
    assert isinstance(event, Failed) and event.status == Status.TLS_BAD_MESSAGE
    assert engine.next_event() is None
    engine.receive_data(b"more")  # ignored once failed
    assert engine.next_event() is None


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(chunks=st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=5))
def test_random_bytes_never_raise(kit: Kit, pki: Any, chunks: list[bytes]) -> None:
    """Whatever arrives, the engine answers with events, and EOF always ends it with Failed."""
    for resolved in (kit.server_endpoint(pki), kit.client_endpoint(pki)):
        ctx = _cached_context(kit, resolved)
        engine = TLSEngine(ctx, now=kit.clock())
        engine.start()
        for chunk in [*chunks, b""]:
            engine.receive_data(chunk)
            engine.data_to_send()
        events = list(kit.drain(engine))
        assert len(events) == 1 and isinstance(events[0], Failed)
        assert events[0].status == 0x80C5 or 0x80E0 <= events[0].status <= 0x80E7


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(garbage=st.binary(min_size=1, max_size=400))
def test_random_bytes_after_the_handshake_never_raise(kit: Kit, pki: Any, garbage: bytes) -> None:
    server = _cached_context(kit, kit.server_endpoint(pki))
    client = _cached_context(kit, kit.client_endpoint(pki))
    pair = kit.engines(server, client)
    pair.pump()
    pair.server.receive_data(garbage)
    pair.server.receive_data(b"")
    events = list(kit.drain(pair.server))
    assert len(events) == 1, events  # one ending: Failed, or Closed for an unfinished record
    (event,) = events
    if isinstance(event, Failed):
        assert event.status in (Status.TLS_BAD_MESSAGE, Status.TLS_INTEGRITY), event
    else:
        assert isinstance(event, Closed), event


_CONTEXTS: dict[int, TLSContext] = {}


def _cached_context(kit: Kit, resolved: Any) -> TLSContext:
    key = id(resolved.own_cert)
    if key not in _CONTEXTS:
        _CONTEXTS[key] = TLSContext.build(resolved, kit.V31)
    return _CONTEXTS[key]


def test_eof_during_the_handshake_is_partner_closed(kit: Kit, pki: Any) -> None:
    pair = kit.make_pair(kit.server_endpoint(pki), kit.client_endpoint(pki))
    pair.server.receive_data(pair.client.data_to_send())
    pair.client.receive_data(b"")
    event = pair.client.next_event()
    assert isinstance(event, Failed)
    assert event.status == Status.PARTNER_CLOSED and not event.reset
    assert pair.client.data_to_send() == b""


def test_eof_before_any_byte_on_the_server(kit: Kit, pki: Any) -> None:
    engine = TLSEngine(TLSContext.build(kit.server_endpoint(pki), kit.V31), now=kit.clock())
    engine.receive_data(b"")
    event = engine.next_event()
    assert isinstance(event, Failed) and event.status == Status.PARTNER_CLOSED


@pytest.mark.parametrize("firmware", [(3, 1), (2, 8)], ids=["tls13", "tls12"])
def test_tampered_record_is_an_integrity_error(
    kit: Kit, pki: Any, firmware: tuple[int, int]
) -> None:
    device = kit.V31 if firmware == (3, 1) else kit.V28
    pair = kit.make_pair(
        kit.server_endpoint(pki),
        kit.client_endpoint(pki),
        server_device=device,
        client_device=device,
    )
    pair.pump()
    pair.client.send(b"Hello World!")
    record = bytearray(pair.client.data_to_send())
    record[-1] ^= 0x01  # flip one bit of the AEAD tag
    pair.server.receive_data(bytes(record))
    event = pair.server.next_event()
    assert isinstance(event, Failed) and event.status == Status.TLS_INTEGRITY
    pair.client.receive_data(pair.server.data_to_send())  # the bad_record_mac alert
    event = pair.client.next_event()
    assert isinstance(event, Failed) and event.status == Status.TLS_INTEGRITY
    assert "bad_record_mac" in event.reason


def test_strict_tampered_record_resets_without_alert(kit: Kit, pki: Any) -> None:
    strict = {"profile": "strict"}
    pair = kit.make_pair(kit.server_endpoint(pki), kit.client_endpoint(pki), server_kwargs=strict)
    pair.pump()
    pair.client.send(b"Hello World!")
    record = bytearray(pair.client.data_to_send())
    record[-1] ^= 0x01
    pair.server.receive_data(bytes(record))
    event = pair.server.next_event()
    assert isinstance(event, Failed) and event.status == Status.TLS_INTEGRITY and event.reset
    assert pair.server.data_to_send() == b""


# -- renegotiation ---------------------------------------------------------------------------


@pytest.mark.parametrize("ours", ["server", "client"])
def test_renegotiation_is_refused(kit: Kit, pki: Any, ours: str) -> None:
    engine, raw, events = against_raw(kit, pki, ours, max_version=SSL.TLS1_2_VERSION)
    assert [type(e) for e in events] == [HandshakeComplete]
    assert raw.conn.renegotiate()  # a ClientHello, or a HelloRequest from a server
    kit.pump_raw(engine, raw, events)
    # We answer no_renegotiation (a warning); the peer gives up with a fatal handshake_failure.
    assert raw.errors and "no renegotiation" in raw.errors[0]
    assert [type(e) for e in events] == [HandshakeComplete, Failed]
    assert events[1].status == Status.TLS_HANDSHAKE_FAILURE
    assert binding().SSL_total_renegotiations(engine._ssl) == 0


# -- API misuse ------------------------------------------------------------------------------


def test_send_before_the_handshake_is_80A3(kit: Kit, pki: Any) -> None:
    """No connection to send over yet; TCON's table has no TLS code for it (no 16#80EE)."""
    engine = TLSEngine(TLSContext.build(kit.server_endpoint(pki), kit.V31), now=kit.clock())
    with pytest.raises(TLSError) as info:
        engine.send(b"too early")
    assert info.value.status == Status.NO_SUCH_CONNECTION


def test_send_after_failure_repeats_the_failure(kit: Kit, pki: Any) -> None:
    pair = scenario(kit, pki, "server cert from unknown CA")
    pair.pump()
    with pytest.raises(TLSError) as info:
        pair.client.send(b"x")
    assert info.value.status == Status.TLS_NO_VALID_CA


def test_send_after_close_is_a_connection_error(kit: Kit, pki: Any) -> None:
    pair = kit.make_pair(kit.server_endpoint(pki), kit.client_endpoint(pki))
    pair.pump()
    pair.client.close()
    with pytest.raises(OucConnectionError) as info:
        pair.client.send(b"x")
    assert info.value.status == Status.NO_SUCH_CONNECTION
    pair.pump()
    with pytest.raises(OucConnectionError) as info:
        pair.server.send(b"x")
    assert info.value.status == Status.PARTNER_CLOSED
