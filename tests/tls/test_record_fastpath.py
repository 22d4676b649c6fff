"""The record path's shortcuts: plaintext sink, pooled scratch buffers, early stop.

Each shortcut must be invisible: the same bytes in the same order, the same events, whatever
the split of the wire bytes. Real certificates (the ``pki`` fixture) and the real engine, wired
in memory.
"""

from __future__ import annotations

import datetime as dt
import itertools
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ouc.conn import Connection, ConnectionConfig, Disconnected, FrameReceived
from ouc.device import Role
from ouc.tls import TLSContext, TLSEngine
from ouc.transport import Closed, HandshakeComplete, PlaintextReceived, PlainTransport

MAX_ROUNDS = 20
NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)  # inside every certificate's validity
SERVER_IP = "192.168.0.1"  # the server certificate's IP SAN


@pytest.fixture(scope="module")
def contexts(kit: Any, pki: Any) -> tuple[TLSContext, TLSContext]:
    """Client and server contexts of the sample blocks (CA 3, certificates 9 and 11)."""
    client = TLSContext.build(kit.client_endpoint(pki), kit.V31)
    server = TLSContext.build(kit.server_endpoint(pki), kit.V31)
    return client, server


def _engines(contexts: tuple[TLSContext, TLSContext]) -> tuple[TLSEngine, TLSEngine]:
    """An established client/server pair; the handshake events are drained."""
    client = TLSEngine(contexts[0], now=lambda: NOW, peer_address=SERVER_IP)
    server = TLSEngine(contexts[1], now=lambda: NOW)
    client.start()
    server.start()
    for _ in range(MAX_ROUNDS):
        moved = False
        for a, b in ((client, server), (server, client)):
            data = a.data_to_send()
            if data:
                b.receive_data(data)
                moved = True
        _events(client)
        _events(server)
        if not moved:
            break
    else:
        raise AssertionError("the handshake did not settle")
    assert client.info is not None and server.info is not None
    return client, server


def _events(engine: Any) -> list[Any]:
    events = []
    for _ in range(10_000):
        event = engine.next_event()
        if event is None:
            return events
        events.append(event)
    raise AssertionError("more than 10,000 events")


def _plaintext(events: list[Any]) -> bytes:
    return b"".join(e.data for e in events if isinstance(e, PlaintextReceived))


def test_sink_receives_plaintext_instead_of_events(
    contexts: tuple[TLSContext, TLSContext],
) -> None:
    client, server = _engines(contexts)
    got: list[bytes] = []
    server.set_plaintext_sink(got.append)
    client.send(b"a" * 258)
    server.receive_data(client.data_to_send())
    assert got == [b"a" * 258]
    assert type(got[0]) is bytes
    assert _events(server) == []
    server.set_plaintext_sink(None)
    client.send(b"b" * 10)
    server.receive_data(client.data_to_send())
    assert got == [b"a" * 258]
    assert _plaintext(_events(server)) == b"b" * 10


def test_sink_keeps_order_with_close_notify_in_the_same_chunk(
    contexts: tuple[TLSContext, TLSContext],
) -> None:
    client, server = _engines(contexts)
    order: list[object] = []
    server.set_plaintext_sink(order.append)
    client.send(b"last words")
    client.close()
    server.receive_data(client.data_to_send())
    order.extend(_events(server))
    assert order == [b"last words", Closed()]


def test_sink_waits_behind_queued_events(contexts: tuple[TLSContext, TLSContext]) -> None:
    """Plaintext that arrives with the handshake's last flight queues behind HandshakeComplete."""
    client = TLSEngine(contexts[0], now=lambda: NOW, peer_address=SERVER_IP)
    server = TLSEngine(contexts[1], now=lambda: NOW)
    sunk: list[bytes] = []
    server.set_plaintext_sink(sunk.append)
    client.start()
    server.receive_data(client.data_to_send())
    client.receive_data(server.data_to_send())
    assert isinstance(_events(client)[0], HandshakeComplete)
    client.send(b"early")  # TLS 1.3: the client may send right after its Finished
    server.receive_data(client.data_to_send())
    events = _events(server)
    assert isinstance(events[0], HandshakeComplete)
    assert _plaintext(events) == b"early"
    assert sunk == []


@settings(max_examples=25)
@given(
    sizes=st.lists(st.integers(1, 20_000), min_size=1, max_size=5),
    cuts=st.lists(st.integers(1, 60_000), max_size=6),
)
def test_any_split_of_any_records_delivers_every_byte_in_order(
    contexts: tuple[TLSContext, TLSContext], sizes: list[int], cuts: list[int]
) -> None:
    """Covers the scratch buffer, the exact-size buffer and the refill branch (a record whose
    start arrived earlier completes in a chunk smaller than its plaintext)."""
    client, server = _engines(contexts)
    sunk: list[bytes] = []
    server.set_plaintext_sink(sunk.append)
    sent = b""
    for n, size in enumerate(sizes):
        chunk = bytes([n % 251]) * size
        client.send(chunk)
        sent += chunk
    wire = client.data_to_send()
    edges = [0, *sorted({c for c in cuts if c < len(wire)}), len(wire)]
    for a, b in itertools.pairwise(edges):
        server.receive_data(memoryview(wire)[a:b])
    assert b"".join(sunk) == sent
    assert _events(server) == []


def test_a_record_completed_by_a_tiny_chunk_uses_the_refill_branch(
    contexts: tuple[TLSContext, TLSContext],
) -> None:
    client, server = _engines(contexts)
    client.send(b"z" * 16_000)
    wire = client.data_to_send()
    server.receive_data(wire[:-10])
    assert _events(server) == []
    server.receive_data(wire[-10:])  # 10 bytes in, 16,000 bytes of plaintext out
    assert _plaintext(_events(server)) == b"z" * 16_000


def test_output_larger_than_the_scratch_buffer_is_taken_whole(
    contexts: tuple[TLSContext, TLSContext],
) -> None:
    """Several small sends before one data_to_send: more wire bytes than a scratch buffer."""
    client, server = _engines(contexts)
    payload = bytes(range(256)) * 12  # 3,072 bytes: each send is "small"
    for _ in range(4):
        client.send(payload)
    wire = client.data_to_send()
    assert len(wire) > 4 * len(payload)
    assert client.data_to_send() == b""
    server.receive_data(wire)
    assert _plaintext(_events(server)) == payload * 4


def test_engines_in_threads_do_not_share_buffers(
    contexts: tuple[TLSContext, TLSContext],
) -> None:
    """libssl runs without the GIL: a pooled buffer must belong to one thread at a time."""
    pairs = [_engines(contexts) for _ in range(4)]
    errors: list[str] = []

    def run(index: int, client: TLSEngine, server: TLSEngine) -> None:
        try:
            for round_ in range(1500):
                payload = bytes([index]) * (200 + round_ % 50)
                client.send(payload)
                server.receive_data(client.data_to_send())
                echoed = _plaintext(_events(server))
                server.send(echoed)
                client.receive_data(server.data_to_send())
                if _plaintext(_events(client)) != payload:
                    errors.append(f"thread {index} round {round_}: wrong bytes")
                    return
        except Exception as exc:  # reported below: a thread's exception would be lost
            errors.append(f"thread {index}: {exc!r}")

    threads = [
        threading.Thread(target=run, args=(i, c, s)) for i, (c, s) in enumerate(pairs, start=1)
    ]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: widen every race
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        sys.setswitchinterval(interval)
    assert not any(thread.is_alive() for thread in threads)
    assert errors == []


def _connections(
    contexts: tuple[TLSContext, TLSContext], receive_len: int
) -> tuple[Connection, Connection, Callable[[], None]]:
    client = Connection(
        ConnectionConfig(Role.ACTIVE, receive_len, secure=True),
        TLSEngine(contexts[0], now=lambda: NOW, peer_address=SERVER_IP),
    )
    server = Connection(
        ConnectionConfig(Role.PASSIVE, receive_len, secure=True),
        TLSEngine(contexts[1], now=lambda: NOW),
    )

    def pump() -> None:
        for _ in range(MAX_ROUNDS):
            moved = False
            for a, b in ((client, server), (server, client)):
                data = a.data_to_send()
                if data:
                    b.receive_data(data, 1.0)
                    moved = True
            if not moved:
                return
        raise AssertionError("the pair did not settle")

    server.connect(0.0)
    client.connect(0.0)
    pump()
    return client, server, pump


def test_connection_frames_and_status_through_the_sink(
    contexts: tuple[TLSContext, TLSContext],
) -> None:
    client, server, pump = _connections(contexts, 100)
    _events(server)
    frames = [bytes([n]) * 100 for n in range(3)]
    client.send(frames[0], now=0.0)
    client.send(frames[1] + frames[2][:40], now=0.0)
    pump()
    assert server.buffered == 40
    assert server.trcv.STATUS == 0x7006
    client.send(frames[2][40:], now=0.0)
    pump()
    received = [e for e in _events(server) if isinstance(e, FrameReceived)]
    assert [(e.data, e.rcvd_len) for e in received] == [(f, 100) for f in frames]
    assert server.trcv.STATUS == 0 and server.trcv.RCVD_LEN == 100
    assert server.format_sequence("TRCV_C").endswith("7006 → 0000 → 7006 → 0000 → 7006 → 0000")


def test_connection_after_close_drops_plaintext_and_unhooks_the_sink(
    contexts: tuple[TLSContext, TLSContext],
) -> None:
    client, server, pump = _connections(contexts, 10)
    _events(server)
    server.close(now=1.0)
    client.send(b"x" * 10, now=1.0)
    pump()
    events = _events(server)
    assert [e for e in events if isinstance(e, FrameReceived)] == []
    (end,) = [e for e in events if isinstance(e, Disconnected)]
    assert end.status == 0  # we closed; the partner answered
    assert server._transport._sink is None  # type: ignore[attr-defined]


def test_plain_transport_sink() -> None:
    transport = PlainTransport()
    got: list[bytes] = []
    transport.start()
    transport.set_plaintext_sink(got.append)
    transport.receive_data(b"queued behind the handshake event")
    assert got == []
    assert isinstance(transport.next_event(), HandshakeComplete)
    transport.receive_data(b"still queued: an event waits")
    assert got == []
    assert transport.next_event() == PlaintextReceived(b"queued behind the handshake event")
    assert transport.next_event() == PlaintextReceived(b"still queued: an event waits")
    assert transport.next_event() is None
    transport.receive_data(memoryview(b"direct"))
    assert got == [b"direct"] and type(got[0]) is bytes
    assert transport.next_event() is None
    transport.receive_data(b"")
    assert transport.next_event() == Closed()
