"""The connection over plain TCP: establishment, fixed and ad hoc framing, LEN checks, STATUS."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ouc.conn import (
    TRANSITIONS,
    Connection,
    ConnectionConfig,
    ConnState,
    Disconnected,
    Established,
    FrameReceived,
    LocalProtocolError,
)
from ouc.device import Device, Family, Role
from ouc.errors import ConfigError, FramingError, OucConnectionError, Status
from ouc.transport import PlainTransport, SessionInfo

Factory = Callable[..., Any]

# Send_Data {Var1 := TRUE; Var2 := 'Hello World!'}: Bool + pad + String[254] = 258 bytes.
SEND_DATA = b"\x01\x00\xfe\x0c" + b"Hello World!" + bytes(242)


def _byte_by_byte(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


def test_both_sides_establish_over_plain_tcp(pair_factory: Factory) -> None:
    pair = pair_factory()
    pair.start()
    for name in ("client", "server"):
        (established,) = pair.events[name]
        assert established == Established(SessionInfo(), None)
    assert pair.client.state is ConnState.CONNECTED
    assert pair.server.state is ConnState.CONNECTED
    assert pair.client.info == SessionInfo(secure=False)


def test_status_sequences_of_one_send_and_receive(pair_factory: Factory) -> None:
    pair = pair_factory(258)
    pair.start()
    pair.client.send(SEND_DATA, now=0.0)
    pair.pump()
    assert pair.of("server", FrameReceived) == [FrameReceived(SEND_DATA, 258)]
    assert (
        pair.client.format_sequence("TSEND_C") == "7000 → 7001 → 7002 → 0001 → 7004 → 7005 → 0000"
    )
    assert pair.server.format_sequence("TRCV_C") == "7000 → 7001 → 7002 → 0001 → 7006 → 0000"
    trcv = pair.server.trcv
    assert (trcv.DONE, trcv.BUSY, trcv.ERROR, trcv.STATUS, trcv.RCVD_LEN) == (
        True,
        False,
        False,
        0,
        258,
    )
    tsend = pair.client.tsend
    assert (tsend.DONE, tsend.BUSY, tsend.ERROR) == (True, False, False)
    assert repr(trcv) == "<TRCV_C STATUS=16#0000 DONE RCVD_LEN=258>"


@pytest.mark.parametrize("split", [None, _byte_by_byte], ids=["whole", "byte-by-byte"])
def test_fixed_frames(pair_factory: Factory, split: Callable[[bytes], list[bytes]] | None) -> None:
    pair = pair_factory(258, **({"split": split} if split else {}))
    pair.start()
    frames = [bytes([n]) * 258 for n in range(3)]
    for frame in frames:
        pair.client.send(frame, now=0.0)
    pair.pump()
    assert [e.data for e in pair.of("server", FrameReceived)] == frames
    assert pair.server.trcv.RCVD_LEN == 258


def test_partial_frame_shows_7006_until_complete() -> None:
    conn = Connection(ConnectionConfig(Role.PASSIVE, 10), PlainTransport())
    conn.connect(0.0)
    conn.next_event()
    conn.receive_data(b"12345", now=1.0)
    assert conn.next_event() is None
    assert (conn.trcv.STATUS, conn.trcv.BUSY) == (Status.RECEIVING, True)
    assert conn.buffered == 5
    conn.receive_data(b"67890abc", now=2.0)
    assert conn.next_event() == FrameReceived(b"1234567890", 10)
    assert conn.trcv.STATUS == Status.RECEIVING  # "abc" starts the next frame
    # With EN_R = 1 the receive job waits (7006) from the moment the connection is up.
    assert list(conn.status_history)[-3:] == [
        (0.0, "TRCV_C", 0x7006),
        (2.0, "TRCV_C", 0x0000),
        (2.0, "TRCV_C", 0x7006),
    ]


@given(
    sizes=st.lists(st.integers(1, 300), min_size=1, max_size=6),
    length=st.integers(1, 100),
    cuts=st.lists(st.integers(0, 2000), max_size=15),
    adhoc=st.booleans(),
)
def test_any_split_of_the_stream(
    pair_factory: Factory, sizes: list[int], length: int, cuts: list[int], adhoc: bool
) -> None:
    stream = b"".join(bytes([i % 251]) * size for i, size in enumerate(sizes))
    edges = [0, *sorted(min(c, len(stream)) for c in cuts), len(stream)]
    # b"" means end of stream to receive_data, so empty cuts are left out.
    chunks = [stream[a:b] for a, b in itertools.pairwise(edges) if b > a]
    pair = pair_factory(length, adhoc=adhoc)
    pair.start()
    for chunk in chunks:
        pair.server.receive_data(chunk, 0.0)
    pair.collect()
    received = pair.of("server", FrameReceived)
    if adhoc:
        assert b"".join(e.data for e in received) == stream
        assert all(1 <= e.rcvd_len == len(e.data) <= length for e in received)
    else:
        whole = len(stream) // length
        assert [e.data for e in received] == [
            stream[i * length : (i + 1) * length] for i in range(whole)
        ]
        assert pair.server.buffered == len(stream) % length


def test_adhoc_larger_than_len_arrives_in_pieces(pair_factory: Factory) -> None:
    pair = pair_factory(100, adhoc=True)
    pair.start()
    pair.client.send(bytes(250), now=0.0)
    pair.pump()
    assert [e.rcvd_len for e in pair.of("server", FrameReceived)] == [100, 100, 50]
    assert pair.server.trcv.RCVD_LEN == 50


class TestLen:
    @pytest.mark.parametrize(
        ("length", "frame"), [(0, b"abcd"), (4, b"abcd"), (2, b"ab")], ids=["0", "all", "prefix"]
    )
    def test_len_zero_is_the_whole_data_area_else_a_prefix(
        self, pair_factory: Factory, length: int, frame: bytes
    ) -> None:
        pair = pair_factory(len(frame))
        pair.start()
        pair.client.send(b"abcd", length, now=0.0)
        pair.pump()
        assert pair.of("server", FrameReceived) == [FrameReceived(frame, len(frame))]

    @pytest.mark.parametrize(
        ("family", "data", "length"),
        [
            (Family.S7_1500, bytes(65537), 0),
            (Family.S7_1500, bytes(70000), 65537),
            (Family.S7_1200, bytes(8193), 0),
            (Family.S7_1200, bytes(9000), 8193),
            (Family.S7_1500, b"", 0),
            (Family.S7_1500, b"abc", -1),
        ],
    )
    def test_8085(self, pair_factory: Factory, family: Family, data: bytes, length: int) -> None:
        pair = pair_factory(4, device=Device(family=family))
        pair.start()
        with pytest.raises(FramingError) as info:
            pair.client.send(data, length, now=0.0)
        assert info.value.status == Status.LEN_INVALID
        assert (pair.client.tsend.ERROR, pair.client.tsend.STATUS) == (True, 0x8085)
        assert pair.client.data_to_send() == b""
        # The connection stays up and the next job works.
        pair.client.send(b"abcd", now=0.0)
        assert pair.client.tsend.STATUS == Status.DONE

    def test_largest_len_passes(self, pair_factory: Factory) -> None:
        pair = pair_factory(8192, device=Device(family=Family.S7_1200, firmware=(4, 5)))
        pair.start()
        pair.client.send(bytes(8192), now=0.0)
        pair.pump()
        assert [e.rcvd_len for e in pair.of("server", FrameReceived)] == [8192]

    def test_len_beyond_data_is_8088(self, pair_factory: Factory) -> None:
        pair = pair_factory()
        pair.start()
        with pytest.raises(FramingError) as info:
            pair.client.send(b"abc", 4, now=0.0)
        assert info.value.status == Status.RECEIVE_AREA_TOO_SMALL

    def test_receive_len_is_checked_against_the_device(self) -> None:
        with pytest.raises(ConfigError) as info:
            ConnectionConfig(Role.PASSIVE, 8193, device=Device(family=Family.S7_1200))
        assert (info.value.status, info.value.path) == (Status.LEN_INVALID, "receive_len")


class TestLifecycle:
    def test_partner_close_is_80c5_and_our_close_is_7003_then_7000(
        self, pair_factory: Factory
    ) -> None:
        pair = pair_factory()
        pair.start()
        pair.client.close(0.0)
        assert pair.client.state is ConnState.DISCONNECTING
        assert (pair.client.tsend.STATUS, pair.client.tsend.BUSY) == (0x7003, True)
        pair.pump()
        (server_end,) = pair.of("server", Disconnected)
        assert server_end.status == Status.PARTNER_CLOSED
        # 80C5, then 80C4 on every later call while EN_R stays 1 (the sequence below).
        assert (pair.server.trcv.ERROR, pair.server.trcv.STATUS) == (True, 0x80C4)
        assert pair.server.state is ConnState.CLOSED
        (client_end,) = pair.of("client", Disconnected)
        assert client_end == Disconnected(0, "closed", False)
        assert pair.client.state is ConnState.CLOSED
        assert pair.client.format_sequence("TSEND_C") == (
            "7000 → 7001 → 7002 → 0001 → 7004 → 7003 → 0003 → 7000"
        )
        assert pair.server.format_sequence("TRCV_C") == (
            "7000 → 7001 → 7002 → 0001 → 7006 → 80C5 → 80C4"
        )

    def test_partner_close_reports_a_lost_partial_frame(self, pair_factory: Factory) -> None:
        pair = pair_factory(10)
        pair.start()
        pair.server.receive_data(b"abc", 0.0)
        pair.server.receive_data(b"", 0.0)
        pair.collect()
        (end,) = pair.of("server", Disconnected)
        assert end.status == Status.PARTNER_CLOSED
        assert "3 bytes" in end.reason

    def test_data_after_close_is_not_delivered(self, pair_factory: Factory) -> None:
        pair = pair_factory(3)
        pair.start()
        pair.server.close(0.0)
        pair.server.receive_data(b"abc", 0.0)
        pair.collect()
        assert pair.of("server", FrameReceived) == []

    def test_close_twice_and_after_the_end_does_nothing(self, pair_factory: Factory) -> None:
        pair = pair_factory()
        pair.start()
        pair.client.close(0.0)
        pair.client.close(0.0)
        pair.pump()
        pair.client.close(0.0)
        pair.collect()
        assert len(pair.of("client", Disconnected)) == 1
        pair.client.receive_data(b"late", 0.0)  # ignored after the end
        assert pair.client.next_event() is None

    def test_close_before_connect(self) -> None:
        conn = Connection(ConnectionConfig(Role.ACTIVE, 4), PlainTransport())
        conn.close(0.0)
        assert conn.state is ConnState.CLOSED
        assert conn.next_event() == Disconnected(0, "closed before the connection was established")

    def test_receive_before_connect_is_a_usage_error(self) -> None:
        conn = Connection(ConnectionConfig(Role.PASSIVE, 4), PlainTransport())
        with pytest.raises(LocalProtocolError) as info:
            conn.receive_data(b"x", 0.0)
        assert isinstance(info.value, OucConnectionError)
        assert info.value.status is None  # a misuse of the core, not a PLC status

    def test_connect_twice_is_a_usage_error(self) -> None:
        conn = Connection(ConnectionConfig(Role.PASSIVE, 4), PlainTransport())
        conn.connect(0.0)
        with pytest.raises(LocalProtocolError):
            conn.connect(1.0)

    @pytest.mark.parametrize("when", ["before", "after"])
    def test_send_without_connection_is_80a3(self, pair_factory: Factory, when: str) -> None:
        pair = pair_factory()
        if when == "after":
            pair.start()
            pair.client.close(0.0)
            pair.pump()
        with pytest.raises(OucConnectionError) as info:
            pair.client.send(b"x", now=0.0)
        assert info.value.status == Status.NO_SUCH_CONNECTION
        assert pair.client.tsend.STATUS == Status.NO_SUCH_CONNECTION

    def test_ended_states_have_no_exit(self) -> None:
        assert TRANSITIONS[ConnState.CLOSED] == frozenset()
        assert TRANSITIONS[ConnState.FAILED] == frozenset()
        assert set(TRANSITIONS) == set(ConnState)

    def test_history_is_bounded(self) -> None:
        conn = Connection(ConnectionConfig(Role.PASSIVE, 1), PlainTransport(), history_limit=8)
        conn.connect(0.0)
        conn.receive_data(bytes(100), 0.0)
        assert len(conn.status_history) == 8
        assert conn.trcv.STATUS == Status.DONE
        unbounded = Connection(ConnectionConfig(Role.PASSIVE, 1), PlainTransport())
        unbounded.connect(0.0)
        unbounded.receive_data(bytes(100), 0.0)
        for n in range(50):
            conn.receive_data(bytes(1), float(n + 1))
            unbounded.receive_data(bytes(1), float(n + 1))
            # Trimmed in bulk, never more than twice the limit (a time and an entry each).
            assert len(conn._history) <= 2 * 2 * 8
            # The newest eight, each with its own time, whenever the trim happened.
            assert conn.status_history == unbounded.status_history[-8:]
        history = conn.status_history
        assert len(history) == 8 and history[-1] == (50.0, "TRCV_C", Status.DONE)
        assert [t for t, _, _ in history] == sorted(t for t, _, _ in history)

    def test_an_idle_connection_keeps_its_history_compact(self) -> None:
        """Each write stores its time once and shared (block, STATUS) tuples after it: the ten
        STATUS changes of connecting and establishing take 13 list items (three writes), not
        30, and every connection's entries are the same tuple objects."""
        server = Connection(ConnectionConfig(Role.PASSIVE, 1), PlainTransport())
        server.connect(1.5)
        history = server.status_history
        assert [(block, status) for _, block, status in history][:2] == [
            ("TSEND_C", Status.NO_JOB),
            ("TRCV_C", Status.NO_JOB),
        ]
        assert {t for t, _, _ in history} == {1.5}
        assert len(history) == 10 and len(server._history) == 13
        assert all(type(item) is tuple or item == 1.5 for item in server._history)
        other = Connection(ConnectionConfig(Role.PASSIVE, 1), PlainTransport())
        other.connect(2.5)
        shared = [a is b for a, b in zip(server._history, other._history, strict=True)]
        assert shared == [type(item) is tuple for item in server._history]


def test_many_frames_from_one_chunk_come_out_in_order() -> None:
    """One chunk holding 20,000 one-byte frames: every FrameReceived, in order, and the queue
    is empty afterwards (events are taken by index: no quadratic cost for a flood)."""
    conn = Connection(ConnectionConfig(Role.PASSIVE, 1), PlainTransport())
    conn.connect(0.0)
    assert isinstance(conn.next_event(), Established)
    stream = bytes(n % 251 for n in range(20_000))
    conn.receive_data(stream, 0.0)
    frames = []
    for _ in range(20_001):
        event = conn.next_event()
        if event is None:
            break
        frames.append(event)
    assert b"".join(f.data for f in frames) == stream and len(frames) == 20_000
    assert conn.next_event() is None
    conn.receive_data(b"\x07", 0.0)  # the emptied queue is used again
    last = conn.next_event()
    assert isinstance(last, FrameReceived) and last.data == b"\x07"


def test_event_queue_takes_in_order_and_reuses_its_list() -> None:
    """``EventQueue``: FIFO by index, truthy exactly while something waits, emptied and reused
    once everything was taken, interleaved adds and takes keep the order."""
    from ouc.transport import EventQueue

    queue: EventQueue[int] = EventQueue()
    assert not queue and queue.take() is None
    queue.extend([1, 2, 3])
    assert queue.take() == 1 and queue  # two still wait
    queue.append(4)
    assert [queue.take() for _ in range(3)] == [2, 3, 4]
    assert not queue and len(queue) == 0 and queue.take() is None
    queue.append(5)
    assert queue.take() == 5 and queue.take() is None
