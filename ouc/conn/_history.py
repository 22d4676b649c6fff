"""The STATUS history of a connection and the table's outputs written into it.

:class:`StatusHistory` is the part of :class:`~ouc.conn.Connection` that shows what the table
of :mod:`ouc.conn._table` decides: :meth:`StatusHistory._apply` moves the state and writes the
STATUS values both blocks go through, :meth:`StatusHistory._set` one value. The history is a
flat list of times and entries: each write stores its time once, then one shared
``(block, STATUS)`` tuple per value (:func:`entry`), so ``[t0, (TSEND_C, 7000), (TRCV_C, 7000),
t1, (TSEND_C, 7001)]``. Once it holds ``4 * history_limit`` items it is cut back to the newest
half by one slice (at least ``history_limit`` entries remain, each with its time). A mock PLC
holds thousands of idle connections: a tuple per entry would cost 64 B, (time, block, status)
slots 24 B, this 8 B plus 8 B per write (an idle server connection's ten STATUS changes:
~180 B instead of ~340 B; a deque with maxlen ~700 B); :attr:`StatusHistory.status_history`
builds the (time, block, status) tuples when asked.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ouc.conn._events import BlockOutputs, ConnState
from ouc.conn._table import EVENT_STATUS, TABLE, BlockEvent, LocalProtocolError
from ouc.errors import Status

__all__ = ["TRCV_C", "TSEND_C", "StatusEntry", "StatusHistory", "format_sequence"]

TSEND_C = "TSEND_C"
TRCV_C = "TRCV_C"

#: One line of :attr:`Connection.status_history`: (time, block name, STATUS).
StatusEntry = tuple[float, str, int]

E = BlockEvent
_CONNECTED = ConnState.CONNECTED
# STATUS values as shared plain ints: above 256 CPython makes a new int object per int() call,
# and each history entry of thousands of idle connections would hold one.
SHARED_INTS: dict[int, int] = {int(status): int(status) for status in Status}
_TRIM_AT: dict[int, int] = {}
WIDTH = 2  # list items per STATUS history entry at most: its time and its (block, status)

# The shared (block, STATUS) tuples of the history, per block; bounded, should a transport
# report statuses beyond the table's (each is then its own tuple).
_ENTRIES: dict[str, dict[int, tuple[str, int]]] = {TSEND_C: {}, TRCV_C: {}}
_ENTRY_LIMIT = 512


def entry(block: str, status: int) -> tuple[str, int]:
    """The history's shared ``(block, status)`` tuple (``block`` is TSEND_C or TRCV_C)."""
    known = _ENTRIES[block]
    found = known.get(status)
    if found is None:
        found = (block, SHARED_INTS.get(status) or int(status))
        if len(known) < _ENTRY_LIMIT:
            known[found[1]] = found
    return found


# The record path writes what the table decides for REQ and a received frame, read once here:
# TSEND_C 7004 → 7005 → 0000 (7004 only after a completed job: DONE lasts one call), TRCV_C
# 7006 → 0000.
IDLE, SENDING, DONE = (SHARED_INTS[s] for s in TABLE[(_CONNECTED, E.REQ)].tsend)
RECEIVING, RECEIVED = (SHARED_INTS[s] for s in TABLE[(_CONNECTED, E.RECEIVED)].trcv)
NO_JOB = SHARED_INTS[Status.NO_JOB]
TSEND_IDLE, TSEND_SENDING, TSEND_DONE = (entry(TSEND_C, s) for s in (IDLE, SENDING, DONE))
TRCV_RECEIVING, TRCV_RECEIVED = entry(TRCV_C, RECEIVING), entry(TRCV_C, RECEIVED)
TSEND_NO_JOB, TRCV_NO_JOB = entry(TSEND_C, NO_JOB), entry(TRCV_C, NO_JOB)


def _steps(block: str, values: Iterable[int]) -> tuple[tuple[int, tuple[str, int] | None], ...]:
    """Each STATUS value of a transition with its history entry (None: the event's status)."""
    return tuple(
        (v, None) if v == EVENT_STATUS else (SHARED_INTS.get(v, v), entry(block, v)) for v in values
    )


# The table once more, its STATUS values as the shared ints with their history entries, and
# TRCV_C's for EN_R = 1 and 0 side by side: _apply() writes a whole transition without a call
# per STATUS.
_STEPS = {
    key: (
        move,
        _steps(TSEND_C, move.tsend),
        _steps(TRCV_C, move.trcv_for(True)),
        _steps(TRCV_C, move.trcv_for(False)),
    )
    for key, move in TABLE.items()
}


def trim_at(limit: int) -> int:
    """The flat history's length that triggers a cut (``2 * WIDTH * limit`` items), one shared
    int per limit."""
    return _TRIM_AT.setdefault(limit, 2 * WIDTH * limit)


def format_sequence(history: Iterable[StatusEntry], block: str) -> str:
    """``block``'s STATUS values in ``history`` as a PLC engineer writes them:
    ``7000 → 7001 → 7002 → 0001 → 7004``."""
    return " → ".join(f"{status:04X}" for _, name, status in history if name == block)


class StatusHistory:
    """The blocks' outputs and their STATUS history (mixed into the connection, whose slots
    hold the state)."""

    __slots__ = ()

    if TYPE_CHECKING:
        tsend: BlockOutputs
        trcv: BlockOutputs
        enable_receive_input: bool
        _state: ConnState
        _now: float
        _history: list[float | tuple[str, int]]
        _history_limit: int
        _trim_at: int

    @property
    def status_history(self) -> list[StatusEntry]:
        """The newest ``history_limit`` STATUS changes as (now, block, status), oldest first."""
        entries: list[StatusEntry] = []
        now: Any = None
        for item in self._history:
            if type(item) is tuple:
                entries.append((now, item[0], item[1]))
            else:
                now = item
        return entries[-self._history_limit :]

    def status_sequence(self, block: str) -> list[int]:
        """The STATUS values ``block`` (``"TSEND_C"`` or ``"TRCV_C"``) went through, in order."""
        return [status for _, name, status in self.status_history if name == block]

    def format_sequence(self, block: str) -> str:
        """The STATUS sequence as a PLC engineer writes it: ``7000 → 7001 → 7002 → 0001``."""
        return format_sequence(self.status_history, block)

    def _set(self, outputs: BlockOutputs, status: int) -> None:
        if outputs._status != status:
            item = entry(outputs.name, status)
            outputs._status = item[1]
            history = self._history
            history += (self._now, item)
            if len(history) > self._trim_at:
                self._trim_history()

    def _trim_history(self) -> None:
        """Cut the history back to its newest ``WIDTH * history_limit`` items, from a time on:
        at least ``history_limit`` entries (amortised: once per limit; a slice, no loop over
        the entries, as this runs on the record path)."""
        history = self._history
        start = len(history) - WIDTH * self._history_limit
        if start <= 0 or self._history_limit <= 0:
            return  # nothing to cut, or no limit
        while start > 0 and type(history[start]) is tuple:
            start -= 1  # back to the time of the oldest kept entry (a few items at most)
        del history[:start]

    def _apply(self, event: BlockEvent, status: int = 0) -> Any:
        """Feed ``event`` into the table: move, and show the STATUS values it decides.

        Raises:
            LocalProtocolError: the table has no transition for the current state.
        """
        step = _STEPS.get((self._state, event))
        if step is None:
            raise LocalProtocolError(f"{event.value} is not possible in state {self._state.value}")
        transition, tsend_values, trcv_on, trcv_off = step
        self._state = transition.next  # type: ignore[misc]  # a slot of the connection
        # What _set() does per value, inline: only changes are recorded, after one time.
        history = self._history
        written = len(history)
        history += (self._now,)
        for outputs, values in (
            (self.tsend, tsend_values),
            (self.trcv, trcv_on if self.enable_receive_input else trcv_off),
        ):
            current = outputs._status
            for value, item in values:
                if item is None:  # EVENT_STATUS: the status the event came with
                    item = entry(outputs.name, status)
                    value = item[1]
                if value != current:
                    history += (item,)
                    current = value
            outputs._status = current
        if len(history) == written + 1:
            del history[written]  # nothing changed: no time either
        elif len(history) > self._trim_at:
            self._trim_history()
        return transition
