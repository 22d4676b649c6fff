"""The table that decides: (state, event) → (next state, the STATUS values both blocks show).

Modelled on h11's ``EVENT_TRIGGERED_TRANSITIONS``: the connection feeds every block input
(CONT, REQ, EN_R, COM_RST, the CPU's STOP) and every observation (handshake done, partner
closed, failure, timer) into :func:`decide`, and moves wherever the table says. A pair that the
table does not list is a misuse of the core and raises :class:`LocalProtocolError`; nothing else
chooses a state or a STATUS.

Source: TIA Portal help, "TSEND_C"/"TRCV_C: Establishing a connection and …" (S7-1200 ≥ V4.0,
S7-1500, instruction version 3.x) and "TCON"/"T_RESET" — the codes in domain.md §4. The help
gives the codes, not their order; each order chosen here is marked *inference* below and tested
in ``tests/conn/test_table.py``.

One :class:`~ouc.conn.Connection` lives for one TCP connection, so re-establishment (CONT = 1
after a drop, COM_RST, RUN after STOP) is a new connection that starts with the
``REESTABLISH`` event: 7002 without the initial call's 7001.

DONE, BUSY and ERROR are a function of STATUS, as the blocks define them (:func:`block_flags`):
DONE for 0000/0001/0003, BUSY for 7001/7002/7003/7005/7006, ERROR for 16#8xxx.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

from ouc.conn._events import BUSY_STATUS, DONE_STATUS, ConnState
from ouc.errors import OucConnectionError, Status

__all__ = [
    "ALLOWED_STATUS",
    "EVENT_STATUS",
    "TABLE",
    "TRANSITIONS",
    "BlockEvent",
    "LocalProtocolError",
    "Transition",
    "block_flags",
    "decide",
]


class LocalProtocolError(OucConnectionError):
    """The program misused the sans-I/O core (a call the current state does not allow, such as
    ``receive_data()`` before ``connect()``); never a PLC status, so ``status`` is None."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


class BlockEvent(Enum):
    """What can happen to a connection: the blocks' inputs and what the transport reports."""

    CONT_ON = "CONT 0→1"  # the initial call with CONT = 1: establishment starts
    REESTABLISH = "re-establish"  # CONT still 1: TCON establishes the connection again
    TRANSPORT_UP = "transport up"  # TLS handshake done (or plain TCP ready)
    ISO_START = "ISO-on-TCP CR/CC"  # the transport is up; the RFC 1006 connect runs
    ESTABLISHED = "established"  # frames may flow
    REQ = "REQ"  # TSEND_C: a send job (record path; 7005 → 0000 in one call)
    RECEIVED = "frame received"  # TRCV_C: a receive job completed
    RECEIVING = "bytes of a frame"  # TRCV_C: part of a frame arrived
    EN_R_ON = "EN_R 0→1"
    EN_R_OFF = "EN_R 1→0"
    CONT_OFF = "CONT 1→0"  # close (TDISCON)
    CLOSE_DONE = "close done"  # after CONT 1→0: the partner closed too, or the wait ran out
    PARTNER_CLOSED = "partner closed"  # FIN / close_notify / DR while the connection was up
    HALF_CLOSE = "partner half-closed"  # half_close="answer": its frames are answered first
    FAILED = "failed"  # TLS, framing, timeout, refused: the event carries the status
    COM_RST = "COM_RST 0→1"  # T_RESET: abort, then establish again
    STOP = "CPU STOP"  # the CPU ends every OUC connection

    # Identity hashing keeps the table lookup in C (Enum's own __hash__ is a Python call).
    __hash__ = object.__hash__


#: In a transition's STATUS tuple: the status the event carries (a failure's 16#80xx).
EVENT_STATUS = -1


class Transition(NamedTuple):
    """Where an event leads and what each block shows, in order, on the way.

    Attributes:
        next: the connection's next state.
        tsend: TSEND_C's STATUS values, in order (empty: unchanged).
        trcv: TRCV_C's STATUS values with EN_R = 1.
        trcv_off: TRCV_C's STATUS values with EN_R = 0 (None: the same as ``trcv``).
    """

    next: ConnState
    tsend: tuple[int, ...] = ()
    trcv: tuple[int, ...] = ()
    trcv_off: tuple[int, ...] | None = None

    def trcv_for(self, enable_receive: bool) -> tuple[int, ...]:
        """TRCV_C's STATUS values for this EN_R."""
        if enable_receive or self.trcv_off is None:
            return self.trcv
        return self.trcv_off


S = ConnState
E = BlockEvent
_DONE = int(Status.DONE)
_UP = int(Status.ESTABLISHED)  # 0001
_CLOSED = int(Status.CLOSED)  # 0003
_NO_JOB = int(Status.NO_JOB)  # 7000
_START = int(Status.CONNECTING)  # 7001
_WAIT = int(Status.IN_PROGRESS)  # 7002
_DISC = int(Status.DISCONNECTING)  # 7003
_IDLE = int(Status.CONNECTED_IDLE)  # 7004
_SENDING = int(Status.SENDING)  # 7005
_RECEIVING = int(Status.RECEIVING)  # 7006
_NOT_UP = int(Status.NO_SUCH_CONNECTION)  # 80A3
_TEMP = int(Status.TEMPORARY)  # 80C4
_PARTNER = int(Status.PARTNER_CLOSED)  # 80C5

_ESTABLISHING = (S.HANDSHAKING, S.ISO_CONNECTING)
_LIVE = (S.HANDSHAKING, S.ISO_CONNECTING, S.CONNECTED, S.HALF_CLOSED, S.DISCONNECTING)
_ENDED = (S.CLOSED, S.FAILED, S.ABORTED)

_up = Transition(S.CONNECTED, (_UP, _IDLE), (_UP, _RECEIVING), (_UP, _IDLE))
_failed = Transition(S.FAILED, (EVENT_STATUS,), (EVENT_STATUS,))
# CPU STOP (inference for the order): the program stops calling the blocks and the startup after
# RUN initialises their instance data, so both show 7000 until they run again (7001 → 7002).
_stop = Transition(S.ABORTED, (_NO_JOB,), (_NO_JOB,))


def _build() -> dict[tuple[ConnState, BlockEvent], Transition]:
    table: dict[tuple[ConnState, BlockEvent], Transition] = {
        # CONT 0→1: the initial call (7001), then "being established" (7002) — passive: waiting
        # for the partner, active: connecting. A re-establishment skips the initial call.
        (S.IDLE, E.CONT_ON): Transition(S.HANDSHAKING, (_START, _WAIT), (_START, _WAIT)),
        (S.IDLE, E.REESTABLISH): Transition(S.HANDSHAKING, (_WAIT,), (_WAIT,)),
        (S.IDLE, E.CONT_OFF): Transition(S.CLOSED),
        (S.IDLE, E.STOP): _stop,
        (S.IDLE, E.COM_RST): Transition(S.IDLE),  # no connection: no effect (TIA help)
        # Establishing: the TLS handshake, then (ISO-on-TCP) the CR/CC exchange. 0001 is DONE for
        # one call; the next call shows 7004, or 7006 for a TRCV_C with EN_R = 1 (its receive job
        # waits for data).
        (S.HANDSHAKING, E.TRANSPORT_UP): _up,
        (S.HANDSHAKING, E.ISO_START): Transition(S.ISO_CONNECTING),
        (S.ISO_CONNECTING, E.ESTABLISHED): _up,
        # CONT 1→0 before the connection was up abandons the establishment: there was no
        # connection to close, so no 0003 (inference).
        (S.HANDSHAKING, E.CONT_OFF): Transition(S.CLOSED, (_NO_JOB,), (_NO_JOB,)),
        (S.ISO_CONNECTING, E.CONT_OFF): Transition(S.DISCONNECTING, (_DISC,), (_DISC,)),
        # The partner's end before the connection was up: 80C5 on both blocks.
        (S.HANDSHAKING, E.PARTNER_CLOSED): Transition(S.CLOSED, (_PARTNER,), (_PARTNER,)),
        (S.ISO_CONNECTING, E.PARTNER_CLOSED): Transition(S.CLOSED, (_PARTNER,), (_PARTNER,)),
        # Jobs. REQ: 7005 while sending, 0000 when handed to the stack (DONE means that, not read
        # by the partner); a job after a completed one passes through 7004 first, as DONE lasts
        # one call. TRCV_C: 7006 while the job waits, 0000 per frame; with EN_R = 1 the next
        # job waits again and shows 7006 at the next call (when bytes arrive, or a close).
        # The connection writes these two on the record path, read from here once.
        (S.CONNECTED, E.REQ): Transition(S.CONNECTED, (_IDLE, _SENDING, _DONE)),
        (S.CONNECTED, E.RECEIVED): Transition(S.CONNECTED, (), (_RECEIVING, _DONE)),
        (S.CONNECTED, E.RECEIVING): Transition(S.CONNECTED, (), (_RECEIVING,), (_RECEIVING,)),
        (S.CONNECTED, E.EN_R_ON): Transition(S.CONNECTED, (), (_RECEIVING,)),
        (S.CONNECTED, E.EN_R_OFF): Transition(S.CONNECTED, (), (_IDLE,), (_IDLE,)),
        # CONT 1→0: 7003 while the connection is terminated, 0003 (DONE) when it is, then 7000.
        (S.CONNECTED, E.CONT_OFF): Transition(S.DISCONNECTING, (_DISC,), (_DISC,)),
        (S.DISCONNECTING, E.CLOSE_DONE): Transition(
            S.CLOSED, (_CLOSED, _NO_JOB), (_CLOSED, _NO_JOB)
        ),
        (S.DISCONNECTING, E.PARTNER_CLOSED): Transition(
            S.CLOSED, (_CLOSED, _NO_JOB), (_CLOSED, _NO_JOB)
        ),
        # The partner closed an established connection. TSEND_C (idle: sends are handed over
        # within one call) hears it from T_DIAG: 80A3, and TCON re-establishes (the next
        # connection's 7002). TRCV_C reports 80C5; with EN_R = 1 it then returns 80C4 on every
        # call until the connection is back (the help advises EN_R = 0 after 80C5). Order
        # 80C5 → 80C4 and 80A3 without 80C5 on TSEND_C: inference.
        (S.CONNECTED, E.PARTNER_CLOSED): Transition(
            S.CLOSED, (_NOT_UP,), (_PARTNER, _TEMP), (_PARTNER,)
        ),
        # COM_RST on an established connection: T_RESET aborts it; while the reset runs both
        # blocks report 80C4, then the connection is established again (7002 → 0001 on the next
        # connection). 80A7 (a send job running) cannot occur here: a job is handed over within
        # one call. COM_RST without an established connection has no effect (TIA help).
        (S.CONNECTED, E.COM_RST): Transition(S.ABORTED, (_TEMP,), (_TEMP,)),
        # half_close="answer" (inference, an option): the partner's close_notify came after
        # frames not yet handed out; they are answered, then the close completes as above.
        (S.CONNECTED, E.HALF_CLOSE): Transition(S.HALF_CLOSED),
        (S.HALF_CLOSED, E.PARTNER_CLOSED): Transition(
            S.CLOSED, (_NOT_UP,), (_PARTNER, _TEMP), (_PARTNER,)
        ),
        (S.HALF_CLOSED, E.COM_RST): Transition(S.ABORTED, (_TEMP,), (_TEMP,)),
    }
    for state in _ESTABLISHING:
        table[(state, E.COM_RST)] = Transition(state)
        table[(state, E.EN_R_ON)] = Transition(state)
        table[(state, E.EN_R_OFF)] = Transition(state)
    for state in _LIVE:
        table[(state, E.FAILED)] = _failed
        table[(state, E.STOP)] = _stop
    table[(S.DISCONNECTING, E.COM_RST)] = Transition(S.DISCONNECTING)
    table[(S.DISCONNECTING, E.CONT_OFF)] = Transition(S.DISCONNECTING)
    for state in (S.IDLE, S.HALF_CLOSED, S.DISCONNECTING):
        table[(state, E.EN_R_ON)] = Transition(state)
        table[(state, E.EN_R_OFF)] = Transition(state)
    # An ended connection ignores every block input: its TCP connection is gone.
    for state in _ENDED:
        for event in (E.CONT_OFF, E.COM_RST, E.STOP, E.EN_R_ON, E.EN_R_OFF):
            table[(state, event)] = Transition(state)
    return table


TABLE: dict[tuple[ConnState, BlockEvent], Transition] = _build()
"""Every (state, event) pair the core accepts, with what follows."""

TRANSITIONS: dict[ConnState, frozenset[ConnState]] = {
    state: frozenset(t.next for (s, _), t in TABLE.items() if s is state and t.next is not state)
    for state in ConnState
}
"""The moves the table makes: state → the states it can lead to (derived, for reading)."""

# The codes of domain.md §4 (the blocks' table) and §2/§3 (TCON's parameter and TLS codes) —
# nothing else: no timeout code, since no table of the help lists one (16#80C7 is in none), and
# no 16#80C3 (an S7-300/400 code for a lack of resources; running out of memory or descriptors
# is 16#80C4, "cannot be established now", inference).
ALLOWED_STATUS: frozenset[int] = frozenset(
    {0x0000, 0x0001, 0x0003, *range(0x7000, 0x7007)}
    | {0x80A3, 0x80A7, 0x80C4, 0x80C5, 0x80C6, 0x8085, 0x8087, 0x8088}
    | {0x8086, 0x80B8, 0x8089, 0x809A, 0x809B, 0x80B6, 0x80B5, 0x80B7, 0x80A4, 0x80A2}
    | {0x80A1, 0x80B4, 0x80D0, 0x80D1, 0x80D3, 0x80C9, *range(0x80E0, 0x80E8)}
    | {*range(0x80E9, 0x80EE)}
)
"""Every STATUS the blocks may show: domain.md §2–§4, nothing else."""


def decide(state: ConnState, event: BlockEvent) -> Transition:
    """What ``event`` does in ``state``.

    Raises:
        LocalProtocolError: the table has no such transition (a misuse of the core).
    """
    transition = TABLE.get((state, event))
    if transition is None:
        raise LocalProtocolError(f"{event.value} is not possible in state {state.value}")
    return transition


def block_flags(status: int) -> tuple[bool, bool, bool]:
    """DONE, BUSY and ERROR for a STATUS, as TSEND_C/TRCV_C define them."""
    return status in DONE_STATUS, status in BUSY_STATUS, status >= 0x8000
