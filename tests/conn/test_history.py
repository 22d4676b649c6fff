"""The STATUS history (``ouc.conn._history``): what each send writes, the shared entries, the
table's STATUS values read once at import, and the cut back to the newest entries.

The history shows what TSEND_C and TRCV_C went through: per send job 7004 → 7005 → 0000, 7004
again after a completed job (domain.md §4: the codes are the TIA help's, the sequence read from
them is an inference). Its storage is compact (a time per write, shared ``(block, STATUS)``
tuples), and a cut may land inside a write: every kept entry must still carry its own time, and
at least ``history_limit`` of them remain. The cut's checks compare a bounded connection with an
unbounded twin fed the same calls at the same times, or crafted histories with what they keep.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ouc.conn import Connection, ConnectionConfig, ConnState, _history
from ouc.conn._history import (
    SHARED_INTS,
    TRCV_C,
    TRCV_RECEIVED,
    TSEND_C,
    TSEND_DONE,
    TSEND_IDLE,
    TSEND_SENDING,
    WIDTH,
    _steps,
    entry,
    trim_at,
)
from ouc.conn._table import EVENT_STATUS, TABLE
from ouc.device import Role
from ouc.errors import OucError, Status, TLSError
from ouc.transport import PlainTransport

FAILURE = TLSError("write failed", status=Status.TLS_HANDSHAKE_FAILURE)


class _SendFails(PlainTransport):
    """Plain TCP whose ``send`` raises ``error`` once it is set (a test double)."""

    error: OucError | None = None

    def send(self, data: bytes) -> None:
        if self.error is not None:
            raise self.error
        super().send(data)


def _server(transport: PlainTransport | None = None, **kwargs: int) -> Connection:
    """A passive connection over plain TCP with RCVD_LEN 1, established at time 0."""
    conn = Connection(ConnectionConfig(Role.PASSIVE, 1), transport or PlainTransport(), **kwargs)
    conn.connect(0.0)
    return conn


def _tsend(conn: Connection) -> list[tuple[float, int]]:
    return [(t, status) for t, block, status in conn.status_history if block == TSEND_C]


# ----------------------------------------------------------------- what a send writes


def test_every_send_after_the_first_shows_7004_again() -> None:
    """Established leaves TSEND_C at 7004; each job is 7005 → 0000, and a job after a completed
    one starts at 7004 again (DONE lasts one call), all at the time of the send."""
    conn = _server()
    conn.send(b"a", now=1.0)
    conn.send(b"b", now=2.0)
    conn.send(b"c", now=3.0)
    assert _tsend(conn)[4:] == [
        (0.0, 0x7004),
        (1.0, 0x7005),
        (1.0, 0x0000),
        (2.0, 0x7004),
        (2.0, 0x7005),
        (2.0, 0x0000),
        (3.0, 0x7004),
        (3.0, 0x7005),
        (3.0, 0x0000),
    ]
    assert conn.data_to_send() == b"abc"


@pytest.mark.parametrize("completed_before", [0, 1])
def test_a_send_the_transport_refuses_shows_its_job_then_the_error(completed_before: int) -> None:
    """The failing job is still written (7005, and 7004 first when a job completed before it),
    then the transport's status ends both blocks."""
    transport = _SendFails()
    conn = _server(transport)
    for n in range(completed_before):
        conn.send(b"a", now=1.0 + n)
    transport.error = FAILURE
    with pytest.raises(TLSError):
        conn.send(b"b", now=5.0)
    job = [(5.0, 0x7004)] if completed_before else []
    done = [(1.0, 0x7005), (1.0, 0x0000)] if completed_before else []
    assert _tsend(conn)[4:] == [
        (0.0, 0x7004),
        *done,
        *job,
        (5.0, 0x7005),
        (5.0, Status.TLS_HANDSHAKE_FAILURE),
    ]
    assert conn.state is ConnState.FAILED


def test_a_call_that_changes_no_status_adds_nothing() -> None:
    """COM_RST without an established connection has no effect (TIA help): not even a time is
    stored for it."""
    conn = _server()
    conn.stop(1.0)
    assert conn.ended
    stored, shown = list(conn._history), conn.status_history
    assert conn.reset(2.0) is False
    assert conn._history == stored and conn.status_history == shown
    fresh = Connection(ConnectionConfig(Role.PASSIVE, 1), PlainTransport())
    assert fresh.reset(3.0) is False
    assert fresh._history == [] and fresh.status_history == []


# ----------------------------------------------------------------- shared entries


Entries = dict[str, dict[int, tuple[str, int]]]


@pytest.fixture
def fresh_entries(monkeypatch: pytest.MonkeyPatch) -> Entries:
    """An empty cache of shared entries, so that ``entry`` makes and keeps tuples in this test
    (the module's own cache was filled at import, and by every test before this one)."""
    known: Entries = {TSEND_C: {}, TRCV_C: {}}
    monkeypatch.setattr(_history, "_ENTRIES", known)
    return known


def test_entries_are_shared_with_the_shared_status_ints(fresh_entries: Entries) -> None:
    status = int("80C4", 16)  # an int object of its own, not the shared one
    first = entry(TSEND_C, status)
    assert first == (TSEND_C, 0x80C4)
    assert first[1] is SHARED_INTS[0x80C4] and type(first[1]) is int
    assert entry(TSEND_C, status) is first
    assert entry(TSEND_C, Status.TEMPORARY) is first  # the enum member finds the same tuple
    assert entry(TRCV_C, status) == (TRCV_C, 0x80C4) and entry(TRCV_C, status) is not first
    assert fresh_entries == {TSEND_C: {0x80C4: first}, TRCV_C: {0x80C4: (TRCV_C, 0x80C4)}}


def test_entries_beyond_the_bound_are_made_each_time(
    fresh_entries: Entries, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A transport reporting statuses beyond the table's cannot grow the cache without bound
    (two per block here)."""
    monkeypatch.setattr(_history, "_ENTRY_LIMIT", 2)
    unknown = 0x1234  # no Status: its own int
    assert entry(TRCV_C, unknown) == (TRCV_C, 0x1234)
    assert entry(TRCV_C, 0x7006) is entry(TRCV_C, 0x7006)
    assert len(fresh_entries[TRCV_C]) == 2  # full now
    beyond = entry(TRCV_C, 0x80C5)
    assert beyond == (TRCV_C, 0x80C5) and entry(TRCV_C, 0x80C5) is not beyond
    assert set(fresh_entries[TRCV_C]) == {0x1234, 0x7006}


def test_each_transition_s_steps_are_its_statuses_with_their_entries(
    fresh_entries: Entries,
) -> None:
    """``_steps`` pairs each STATUS of a transition with its shared entry, EVENT_STATUS with
    None (the event brings it); ``_apply`` writes from the table read once so at import."""
    for key, move in TABLE.items():
        for block, values in (
            (TSEND_C, move.tsend),
            (TRCV_C, move.trcv_for(True)),
            (TRCV_C, move.trcv_for(False)),
        ):
            steps = _steps(block, values)
            assert [v for v, _ in steps] == list(values), key
            for value, item in steps:
                if value == EVENT_STATUS:
                    assert item is None
                else:
                    assert value is SHARED_INTS[value]
                    assert item is entry(block, value) and item == (block, value)
        assert _history._STEPS[key] == (
            move,
            _steps(TSEND_C, move.tsend),
            _steps(TRCV_C, move.trcv_for(True)),
            _steps(TRCV_C, move.trcv_for(False)),
        )
    assert any(EVENT_STATUS in move.tsend for move in TABLE.values())
    # A value outside Status keeps its own int.
    assert _steps(TSEND_C, [0x1234, EVENT_STATUS]) == ((0x1234, (TSEND_C, 0x1234)), (-1, None))


# ----------------------------------------------------------------- the cut


def test_the_cut_length_is_four_items_per_kept_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    """``trim_at`` with an empty cache (the module's was filled before this test): 2 x WIDTH
    items per entry kept, the same int for every connection with that limit."""
    monkeypatch.setattr(_history, "_TRIM_AT", {})
    assert WIDTH == 2
    assert trim_at(8) == 32 and trim_at(3) == 12 and trim_at(8) is trim_at(8)
    conn = Connection(ConnectionConfig(Role.PASSIVE, 1), PlainTransport(), history_limit=8)
    conn.connect(0.0)
    lengths = []
    for n in range(40):
        conn.receive_data(b"x", float(n + 1))  # a time, 7006 and 0000: three items
        lengths.append(len(conn._history))
    assert 30 <= max(lengths) <= 32  # cut only once it holds more than 32
    assert min(lengths[3:]) >= WIDTH * 8


Step = Callable[[Connection, float], None]


def _frame(conn: Connection, now: float) -> None:
    conn.receive_data(b"x", now)  # TRCV_C: a time and 0000, or 7006 and 0000


def _send(conn: Connection, now: float) -> None:
    conn.send(b"y", now=now)  # TSEND_C: a time and 7004 7005 0000 (three entries)


def _en_r(conn: Connection, now: float) -> None:
    conn.enable_receive(not conn.enable_receive_input, now)


def _pattern(seed: int) -> list[Step]:
    """A fixed sequence of writes of 2 to 4 items, so that cuts land inside writes."""
    steps: list[Step] = [_frame, _send, _frame, _frame, _en_r, _send, _en_r, _send, _frame]
    return [steps[(seed * 7 + n * (seed + 3)) % len(steps)] for n in range(90)]


@pytest.mark.parametrize("limit", [1, 2, 3, 4, 5, 7, 8, 9])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_cut_keeps_the_newest_entries_each_with_its_time(limit: int, seed: int) -> None:
    bounded = _server(history_limit=limit)
    twin = _server(history_limit=10**6)
    before = len(bounded._history)
    cuts = 0
    for n, step in enumerate(_pattern(seed)):
        now = float(n + 1)
        step(bounded, now)
        step(twin, now)
        history = bounded.status_history
        assert history == twin.status_history[-limit:]
        assert all(type(t) is float for t, _, _ in history)
        stored = len(bounded._history)
        assert stored <= 2 * WIDTH * limit
        if stored < before:  # cut: from a time on, at least limit entries
            cuts += 1
            assert type(bounded._history[0]) is float
            assert stored >= WIDTH * limit
        before = stored
    assert cuts > 0 and bounded.state is ConnState.CONNECTED


T = float  # a write's time in the crafted histories below
A, B, C, D = TSEND_IDLE, TSEND_SENDING, TSEND_DONE, TRCV_RECEIVED


@pytest.mark.parametrize(
    ("history", "kept"),
    [
        # The newest 4 items start with an entry: back to the time of its write.
        ([T(0), A, T(1), B, C, D, T(2), A, B], [T(1), B, C, D, T(2), A, B]),
        # They start on a time: cut there.
        ([T(0), A, B, T(1), C, T(2), D], [T(1), C, T(2), D]),
        # They start inside the first write: back to its time, nothing cut.
        ([T(0), A, B, C, D, T(1), A], [T(0), A, B, C, D, T(1), A]),
    ],
)
def test_the_cut_goes_back_to_the_time_of_the_oldest_kept_entry(
    history: list[float | tuple[str, int]], kept: list[float | tuple[str, int]]
) -> None:
    """history_limit 2: the newest WIDTH x 2 = 4 items, extended back to a time."""
    conn = Connection(ConnectionConfig(Role.PASSIVE, 1), PlainTransport(), history_limit=2)
    conn._history = list(history)
    conn._trim_history()
    assert conn._history == kept


def test_a_limit_of_0_keeps_every_change() -> None:
    everything = _server(history_limit=0)
    twin = _server(history_limit=10**6)
    for n in range(100):
        _frame(everything, float(n + 1))
        _frame(twin, float(n + 1))
    assert everything.status_history == twin.status_history
    # 7006 and 0000 per frame; established shows the first 7006 already.
    assert len(everything.status_history) == 10 + 2 * 100 - 1
    assert everything._history == twin._history
