"""Every transition of the connection table, written out from its source and checked row by row.

``ouc.conn._table`` builds ``TABLE`` once, at import. This module states the table on its own —
each row with the TIA help passage it follows (TSEND_C/TRCV_C, T_RESET; the codes of domain.md §4)
or the inference ``_table`` documents — and checks both the module's ``TABLE`` and a table built
afresh by ``_build()`` against it: a changed STATUS, a changed order, a missing or an extra
transition fails and names its row. The fresh build is what mutation testing sees (a change to
the builder never reaches the table made at import).
"""

from __future__ import annotations

import pytest

from ouc.conn import TABLE, BlockEvent, ConnState, Transition
from ouc.conn._table import EVENT_STATUS, _build

S = ConnState
E = BlockEvent
EV = EVENT_STATUS  # the failure's own 16#80xx
_FAILED = Transition(S.FAILED, (EV,), (EV,))
_STOP = Transition(S.ABORTED, (0x7000,), (0x7000,))  # inference: RUN's startup shows 7000
_UP = Transition(S.CONNECTED, (0x0001, 0x7004), (0x0001, 0x7006), (0x0001, 0x7004))
_PARTNER_GONE = Transition(S.CLOSED, (0x80A3,), (0x80C5, 0x80C4), (0x80C5,))
_CLOSE_DONE = Transition(S.CLOSED, (0x0003, 0x7000), (0x0003, 0x7000))

#: Transitions that move or show something.
MOVES: dict[tuple[ConnState, BlockEvent], Transition] = {
    # TSEND_C/TRCV_C help: the initial call with CONT = 1 shows 7001, then 7002 while the
    # connection is established; TCON re-establishing (CONT still 1) shows 7002 only.
    (S.IDLE, E.CONT_ON): Transition(S.HANDSHAKING, (0x7001, 0x7002), (0x7001, 0x7002)),
    (S.IDLE, E.REESTABLISH): Transition(S.HANDSHAKING, (0x7002,), (0x7002,)),
    (S.IDLE, E.CONT_OFF): Transition(S.CLOSED),
    (S.IDLE, E.STOP): _STOP,
    # Help: 0001 "connection established" (DONE for one call), then 7004; TRCV_C with EN_R = 1
    # waits for data (7006), with EN_R = 0 it shows 7004.
    (S.HANDSHAKING, E.TRANSPORT_UP): _UP,
    (S.HANDSHAKING, E.ISO_START): Transition(S.ISO_CONNECTING),
    (S.ISO_CONNECTING, E.ESTABLISHED): _UP,
    # Inference: CONT 1→0 before the connection is up abandons it without 0003.
    (S.HANDSHAKING, E.CONT_OFF): Transition(S.CLOSED, (0x7000,), (0x7000,)),
    # Help: 7003 while the connection is terminated (the CR already went out).
    (S.ISO_CONNECTING, E.CONT_OFF): Transition(S.DISCONNECTING, (0x7003,), (0x7003,)),
    (S.HANDSHAKING, E.PARTNER_CLOSED): Transition(S.CLOSED, (0x80C5,), (0x80C5,)),
    (S.ISO_CONNECTING, E.PARTNER_CLOSED): Transition(S.CLOSED, (0x80C5,), (0x80C5,)),
    # Help: REQ → 7005 while sending, 0000 done; 7004 first after a completed job.
    (S.CONNECTED, E.REQ): Transition(S.CONNECTED, (0x7004, 0x7005, 0x0000)),
    # Help: TRCV_C 7006 while the job waits, 0000 with RCVD_LEN per frame.
    (S.CONNECTED, E.RECEIVED): Transition(S.CONNECTED, (), (0x7006, 0x0000)),
    (S.CONNECTED, E.RECEIVING): Transition(S.CONNECTED, (), (0x7006,), (0x7006,)),
    (S.CONNECTED, E.EN_R_ON): Transition(S.CONNECTED, (), (0x7006,)),
    (S.CONNECTED, E.EN_R_OFF): Transition(S.CONNECTED, (), (0x7004,), (0x7004,)),
    # Help: CONT 1→0 shows 7003 while terminating, 0003 (DONE) when done, then 7000.
    (S.CONNECTED, E.CONT_OFF): Transition(S.DISCONNECTING, (0x7003,), (0x7003,)),
    (S.DISCONNECTING, E.CLOSE_DONE): _CLOSE_DONE,
    (S.DISCONNECTING, E.PARTNER_CLOSED): _CLOSE_DONE,
    # Help: TRCV_C reports 80C5, then 80C4 with EN_R = 1; TSEND_C hears of it from T_DIAG
    # (80A3). The order and 80A3 without 80C5: inference.
    (S.CONNECTED, E.PARTNER_CLOSED): _PARTNER_GONE,
    (S.HALF_CLOSED, E.PARTNER_CLOSED): _PARTNER_GONE,
    # Inference (half_close="answer"): frames before the partner's close are answered first.
    (S.CONNECTED, E.HALF_CLOSE): Transition(S.HALF_CLOSED),
    # T_RESET help: 80C4 on both blocks while an established connection is reset.
    (S.CONNECTED, E.COM_RST): Transition(S.ABORTED, (0x80C4,), (0x80C4,)),
    (S.HALF_CLOSED, E.COM_RST): Transition(S.ABORTED, (0x80C4,), (0x80C4,)),
    **{(state, E.FAILED): _FAILED for state in (S.HANDSHAKING, S.ISO_CONNECTING)},
    **{(state, E.FAILED): _FAILED for state in (S.CONNECTED, S.HALF_CLOSED, S.DISCONNECTING)},
    **{(state, E.STOP): _STOP for state in (S.HANDSHAKING, S.ISO_CONNECTING)},
    **{(state, E.STOP): _STOP for state in (S.CONNECTED, S.HALF_CLOSED, S.DISCONNECTING)},
}

_ENDED = (S.CLOSED, S.FAILED, S.ABORTED)
_EN_R = (E.EN_R_ON, E.EN_R_OFF)

#: Inputs the table accepts that change nothing: (state, event) pairs.
NO_EFFECT: set[tuple[ConnState, BlockEvent]] = {
    # T_RESET help: COM_RST without an established connection has no effect.
    (S.IDLE, E.COM_RST),
    (S.HANDSHAKING, E.COM_RST),
    (S.ISO_CONNECTING, E.COM_RST),
    (S.DISCONNECTING, E.COM_RST),
    # EN_R matters only while frames can arrive (the connection's data phase).
    *((state, event) for state in (S.IDLE, S.HANDSHAKING, S.ISO_CONNECTING) for event in _EN_R),
    *((state, event) for state in (S.HALF_CLOSED, S.DISCONNECTING) for event in _EN_R),
    # CONT 1→0 again while closing.
    (S.DISCONNECTING, E.CONT_OFF),
    # An ended connection ignores every block input: its TCP connection is gone.
    *(
        (state, event)
        for state in _ENDED
        for event in (E.CONT_OFF, E.COM_RST, E.STOP, E.EN_R_ON, E.EN_R_OFF)
    ),
}

SPEC = {**MOVES, **{(state, event): Transition(state) for state, event in NO_EFFECT}}
_ROWS = sorted(
    SPEC, key=lambda key: (list(ConnState).index(key[0]), list(BlockEvent).index(key[1]))
)


@pytest.fixture(params=["module", "fresh"])
def table(request: pytest.FixtureRequest) -> dict[tuple[ConnState, BlockEvent], Transition]:
    """The table made at import, and one built afresh for each test (so that each test is
    seen calling the builder)."""
    return TABLE if request.param == "module" else _build()


def test_the_spec_lists_each_row_once() -> None:
    assert not set(MOVES) & NO_EFFECT


def test_the_table_has_exactly_the_specified_rows(
    table: dict[tuple[ConnState, BlockEvent], Transition],
) -> None:
    missing = sorted(f"{s.name}/{e.name}" for s, e in set(SPEC) - set(table))
    extra = sorted(f"{s.name}/{e.name}" for s, e in set(table) - set(SPEC))
    assert (missing, extra) == ([], [])


@pytest.mark.parametrize("key", _ROWS, ids=[f"{s.name}-{e.name}" for s, e in _ROWS])
def test_each_row(
    table: dict[tuple[ConnState, BlockEvent], Transition], key: tuple[ConnState, BlockEvent]
) -> None:
    assert table.get(key) == SPEC[key]
