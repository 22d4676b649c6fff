"""The sans-I/O TSEND_C/TRCV_C connection state machine (layer 2: no sockets, no clocks).

:class:`Connection` takes a :class:`ConnectionConfig` (built from a CONNECT block with
:meth:`ConnectionConfig.from_block`) and an :class:`ouc.transport.Transport` (plain TCP or the
TLS engine). The driver feeds it wire bytes (:meth:`Connection.receive_data`), pulls events
(:class:`Established`, :class:`FrameReceived`, :class:`ReceiveFailed`, :class:`Disconnected`),
writes :meth:`Connection.data_to_send`, and runs :meth:`Connection.handle_timer` at
:meth:`Connection.next_timer`. The blocks' outputs are :attr:`Connection.tsend` and
:attr:`Connection.trcv` (:class:`BlockOutputs`), their history :attr:`Connection.status_history`.
The blocks' inputs (REQ, CONT, EN_R, COM_RST, the CPU's STOP) are calls with ``now``; the table
``TABLE`` decides what each does (:func:`decide`, h11's ``EVENT_TRIGGERED_TRANSITIONS`` style).
"""

from ouc.conn._config import BlockLike, ConnectionConfig, IsoConfig, TSelectorLike
from ouc.conn._connection import TRCV_C, TSEND_C, Connection, StatusEntry, format_sequence
from ouc.conn._events import (
    BlockOutputs,
    ConnectionEvent,
    ConnState,
    Disconnected,
    Established,
    FrameReceived,
    ReceiveFailed,
    partner_gone,
)
from ouc.conn._table import (
    ALLOWED_STATUS,
    TABLE,
    TRANSITIONS,
    BlockEvent,
    LocalProtocolError,
    Transition,
    block_flags,
    decide,
)

__all__ = [
    "ALLOWED_STATUS",
    "TABLE",
    "TRANSITIONS",
    "TRCV_C",
    "TSEND_C",
    "BlockEvent",
    "BlockLike",
    "BlockOutputs",
    "ConnState",
    "Connection",
    "ConnectionConfig",
    "ConnectionEvent",
    "Disconnected",
    "Established",
    "FrameReceived",
    "IsoConfig",
    "LocalProtocolError",
    "ReceiveFailed",
    "StatusEntry",
    "TSelectorLike",
    "Transition",
    "block_flags",
    "decide",
    "format_sequence",
    "partner_gone",
]
