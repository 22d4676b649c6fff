"""The wire strategies keep their promises: splits rejoin, garbage is refused, hellos are real."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ouc.certs import ResolvedEndpoint, Template, create_certificate, generate_key
from ouc.device import Device, Family, Role
from ouc.errors import FramingError, Status
from ouc.framing import FixedReceiver, TpduDecoder
from ouc.strategies import (
    GARBAGE_KINDS,
    client_hello,
    client_hellos,
    frames_split,
    split_points,
    tls_garbage,
    tpkt_garbage,
)
from ouc.tls import TLSContext, TLSEngine
from ouc.transport import Failed

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(scope="module")
def server_context() -> TLSContext:
    """A TLS 1.2+1.3 server context (S7-1500 V3.1) with a throw-away EC certificate."""
    key = generate_key("EC-P256")
    cert = create_certificate(
        common_name="PLC_1",
        template=Template.TLS_CLIENT_SERVER,
        key=key,
        not_before=NOW - dt.timedelta(days=1),
        not_after=NOW + dt.timedelta(days=30),
        ip_sans=["192.168.0.1"],
    )
    resolved = ResolvedEndpoint(
        role=Role.PASSIVE,
        own_id=9,
        own_cert=cert,
        own_key=key,
        chain=(),
        anchor_ids=(),
        anchors=(),
        require_peer_cert=False,
    )
    return TLSContext.build(resolved, Device(Family.S7_1500, (3, 1)))


def _engine(context: TLSContext) -> TLSEngine:
    engine = TLSEngine(context, now=lambda: NOW)
    engine.start()
    return engine


def _events(engine: TLSEngine) -> list[object]:
    events = []
    while (event := engine.next_event()) is not None:
        events.append(event)
    return events


@settings(max_examples=60)
@given(st.binary(max_size=600).flatmap(lambda data: st.tuples(st.just(data), split_points(data))))
def test_split_points_rejoin_to_the_input(item: tuple[bytes, list[bytes]]) -> None:
    data, chunks = item
    assert b"".join(chunks) == data
    assert all(chunks)  # never an empty chunk: b"" means end of stream


@settings(max_examples=30)
@given(split_points(bytes(range(10)), max_chunks=3))
def test_max_chunks_is_respected(chunks: list[bytes]) -> None:
    assert 1 <= len(chunks) <= 3


def test_split_points_covers_whole_and_bytewise() -> None:
    seen: set[int] = set()

    @settings(max_examples=80, database=None)
    @given(split_points(b"abcdef"))
    def run(chunks: list[bytes]) -> None:
        seen.add(len(chunks))

    run()
    assert {1, 6} <= seen


@settings(max_examples=40)
@given(frames_split([b"A" * 258, b"B" * 258, b"C" * 258]))
def test_frames_split_feeds_a_fixed_receiver(chunks: list[bytes]) -> None:
    receiver = FixedReceiver(258)
    frames = [frame for chunk in chunks for frame in receiver.feed(chunk)]
    assert frames == [b"A" * 258, b"B" * 258, b"C" * 258]
    assert receiver.buffered == 0


def test_frames_split_favours_frame_edges() -> None:
    edges_hit = []

    @settings(max_examples=60, database=None)
    @given(frames_split([b"x" * 50, b"y" * 50]))
    def run(chunks: list[bytes]) -> None:
        ends = set()
        offset = 0
        for chunk in chunks[:-1]:
            offset += len(chunk)
            ends.add(offset)
        edges_hit.append(bool(ends & {49, 50, 51}))

    run()
    assert any(edges_hit)


@pytest.mark.parametrize("version", [0x0303, 0x0304])
def test_a_current_hello_gets_a_server_hello(server_context: TLSContext, version: int) -> None:
    engine = _engine(server_context)
    engine.receive_data(client_hello(version, server_name="plc.example"))
    out = engine.data_to_send()
    assert out[:1] == b"\x16" and out[5] == 2  # handshake record, ServerHello
    assert not [e for e in _events(engine) if isinstance(e, Failed)]


@pytest.mark.parametrize("version", [0x0300, 0x0301, 0x0302])
def test_an_old_hello_gets_a_protocol_version_alert(
    server_context: TLSContext, version: int
) -> None:
    engine = _engine(server_context)
    engine.receive_data(client_hello(version))
    assert engine.data_to_send()[-2:] == b"\x02\x46"  # fatal protocol_version
    [failed] = [e for e in _events(engine) if isinstance(e, Failed)]
    assert failed.status == Status.TLS_HANDSHAKE_FAILURE


@settings(max_examples=30)
@given(client_hellos(versions=(0x0303, 0x0304)))
def test_generated_current_hellos_are_accepted(server_context: TLSContext, hello: bytes) -> None:
    engine = _engine(server_context)
    engine.receive_data(hello)
    assert engine.data_to_send()[:1] == b"\x16"


@settings(max_examples=200)
@given(tls_garbage())
def test_garbage_never_completes_a_handshake(server_context: TLSContext, data: bytes) -> None:
    engine = _engine(server_context)
    try:
        engine.receive_data(data)
        engine.receive_data(b"")
    except Exception as exc:  # the engine reports failures as events, never raises here
        raise AssertionError(f"{type(exc).__name__} escaped the TLS engine") from exc
    for event in _events(engine):
        if isinstance(event, Failed):
            assert 0x80C0 <= event.status <= 0x80E7
        assert type(event).__name__ != "HandshakeComplete"


@pytest.mark.parametrize("kind", GARBAGE_KINDS)
def test_each_garbage_kind_can_be_drawn_alone(kind: str) -> None:
    @settings(max_examples=10)
    @given(tls_garbage([kind]))
    def run(data: bytes) -> None:
        assert data

    run()


def test_unknown_garbage_kinds_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown garbage kinds"):
        tls_garbage(["ssl4"])


@settings(max_examples=150)
@given(tpkt_garbage())
def test_tpkt_garbage_decodes_or_fails_as_framing_error(data: bytes) -> None:
    decoder = TpduDecoder()
    try:
        decoder.decode(data)
    except FramingError as exc:
        assert exc.status == Status.NETWORK_ERROR
