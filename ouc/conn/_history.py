"""The STATUS history of a connection and the table's outputs written into it.

:class:`StatusHistory` is the part of :class:`~ouc.conn.Connection` that shows what the table
of :mod:`ouc.conn._table` decides: :meth:`StatusHistory._apply` moves the state and writes the
STATUS values both blocks go through, :meth:`StatusHistory._set` one value. The history is a
flat list (time, block, status, time, ...), cut back to the newest ``history_limit`` entries
whenever it has grown to twice that: a mock PLC holds thousands of idle connections, and a
tuple per entry costs 64 B where three list slots cost 24 B (a deque with maxlen ~700 B per
connection); :attr:`StatusHistory.status_history` builds the tuples when asked.
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
WIDTH = 3  # list items per STATUS history entry (time, block, status)

# The record path writes what the table decides for REQ and a received frame, read once here:
# TSEND_C 7004 → 7005 → 0000 (7004 only after a completed job: DONE lasts one call), TRCV_C
# 7006 → 0000.
IDLE, SENDING, DONE = (SHARED_INTS[s] for s in TABLE[(_CONNECTED, E.REQ)].tsend)
RECEIVING, RECEIVED = (SHARED_INTS[s] for s in TABLE[(_CONNECTED, E.RECEIVED)].trcv)
NO_JOB = SHARED_INTS[Status.NO_JOB]

# The table once more, its STATUS values as the shared ints and TRCV_C's for EN_R = 1 and 0
# side by side: _apply() writes a whole transition without a call per STATUS.
_STEPS = {
    key: (
        move,
        tuple(SHARED_INTS.get(v, v) for v in move.tsend),
        tuple(SHARED_INTS.get(v, v) for v in move.trcv_for(True)),
        tuple(SHARED_INTS.get(v, v) for v in move.trcv_for(False)),
    )
    for key, move in TABLE.items()
}


def trim_at(limit: int) -> int:
    """The flat history's length at twice ``limit`` entries, one shared int per limit."""
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
        _history: list[float | str | int]
        _history_limit: int
        _trim_at: int

    @property
    def status_history(self) -> list[StatusEntry]:
        """The newest ``history_limit`` STATUS changes as (now, block, status), oldest first."""
        flat: list[Any] = self._history[-WIDTH * self._history_limit :]
        return list(zip(flat[0::WIDTH], flat[1::WIDTH], flat[2::WIDTH], strict=True))

    def status_sequence(self, block: str) -> list[int]:
        """The STATUS values ``block`` (``"TSEND_C"`` or ``"TRCV_C"``) went through, in order."""
        return [status for _, name, status in self.status_history if name == block]

    def format_sequence(self, block: str) -> str:
        """The STATUS sequence as a PLC engineer writes it: ``7000 → 7001 → 7002 → 0001``."""
        return format_sequence(self.status_history, block)

    def _set(self, outputs: BlockOutputs, status: int) -> None:
        if outputs._status != status:
            shared = SHARED_INTS.get(status)
            outputs._status = status = shared if shared is not None else int(status)
            self._history.extend((self._now, outputs.name, status))
            if len(self._history) > self._trim_at:
                self._trim_history()

    def _trim_history(self) -> None:
        """Keep the newest ``history_limit`` STATUS changes (amortised: once per limit)."""
        del self._history[: -WIDTH * self._history_limit]

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
        # What _set() does per value, inline: only changes are recorded (list += tuple).
        now = self._now
        history = self._history
        for outputs, values in (
            (self.tsend, tsend_values),
            (self.trcv, trcv_on if self.enable_receive_input else trcv_off),
        ):
            current = outputs._status
            for value in values:
                if value == EVENT_STATUS:
                    value = SHARED_INTS.get(status) or int(status)
                if value != current:
                    history += (now, outputs.name, value)
                    current = value
            outputs._status = current
        if len(history) > self._trim_at:
            self._trim_history()
        return transition
