"""The connection's states, the events it emits, and the block outputs a PLC programmer reads.

State lives in one :class:`ConnState`; the table in ``ouc.conn._table`` decides every move and
every STATUS from (state, event) (style.md rule 2).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ouc.errors import Status, format_status
from ouc.transport import SessionInfo

__all__ = [
    "BlockOutputs",
    "ConnState",
    "ConnectionEvent",
    "Disconnected",
    "Established",
    "FrameReceived",
    "ReceiveFailed",
    "partner_gone",
]


class ConnState(Enum):
    """Where one connection stands (one TCP connection from ``connect()`` to its end)."""

    IDLE = "idle"  # CONT is 0: nothing started (STATUS 7000)
    HANDSHAKING = "handshaking"  # TCP is up, the transport handshake runs (TLS; none for plain)
    ISO_CONNECTING = "iso-connecting"  # ISO-on-TCP: CR sent / awaited, CC pending
    CONNECTED = "connected"  # frames flow (STATUS 7004 when idle)
    HALF_CLOSED = "half-closed"  # the partner closed; frames before its close are answered
    DISCONNECTING = "disconnecting"  # close() sent; waiting for the partner's end (7003)
    CLOSED = "closed"  # ended in order: closed by us, or by the partner (16#80C5)
    FAILED = "failed"  # ended by an error: TLS, framing, timeout, refused
    ABORTED = "aborted"  # ended by COM_RST or the CPU's STOP (the driver resets or closes TCP)

    # Members are singletons compared by identity; hashing by identity too keeps the state
    # checks of every handshake and frame in C (Enum's own __hash__ is a Python call).
    __hash__ = object.__hash__


ENDED = frozenset({ConnState.CLOSED, ConnState.FAILED, ConnState.ABORTED})


@dataclass(frozen=True, slots=True)
class Established:
    """The connection is up: TSEND_C/TRCV_C show 7004.

    Attributes:
        info: what the transport negotiated (TLS version, cipher, peer certificate; all None
            for plain TCP).
        tpdu_size: the negotiated ISO-on-TCP TPDU size, None for TCP.
    """

    info: SessionInfo
    tpdu_size: int | None = None


# Not frozen: a frozen dataclass costs three times as much to create, and this event is made once
# per received frame on the record path. Treat it as read-only all the same.
@dataclass(slots=True)
class FrameReceived:
    """TRCV_C completed (DONE, STATUS 0000): one frame, ad hoc piece or ISO message.

    Attributes:
        data: the received bytes.
        rcvd_len: RCVD_LEN, always ``len(data)``.
    """

    data: bytes
    rcvd_len: int


@dataclass(frozen=True, slots=True)
class ReceiveFailed:
    """One receive failed but the connection stays up (ISO-on-TCP message too large: 16#8088)."""

    status: int
    reason: str


@dataclass(frozen=True, slots=True)
class Disconnected:
    """The connection ended; no event follows.

    Attributes:
        status: 0 when we closed it; otherwise the PLC code (16#80C5 partner closed, 16#80C4
            handshake timeout, 16#80C6 idle timeout or malformed ISO-on-TCP, 16#80E0..16#80E7
            TLS, 16#80C9/16#80C4 refused, 16#80C4 COM_RST; 0 after the CPU's STOP).
        reason: one sentence for the log.
        reset: the driver should reset the TCP connection (SO_LINGER 0) instead of closing it,
            as the firmware's "strict" TLS profile does.
    """

    status: int
    reason: str
    reset: bool = False


ConnectionEvent = Established | FrameReceived | ReceiveFailed | Disconnected

# STATUS values during which the block reports BUSY, and those that are DONE (TIA help,
# TSEND_C/TRCV_C: 0001 "connection established" and 0003 "connection closed" are DONE too).
BUSY_STATUS = frozenset(
    {
        Status.CONNECTING,
        Status.IN_PROGRESS,
        Status.DISCONNECTING,
        Status.SENDING,
        Status.RECEIVING,
    }
)
DONE_STATUS = frozenset({Status.DONE, Status.ESTABLISHED, Status.CLOSED})


class BlockOutputs:
    """The outputs of one block (TSEND_C or TRCV_C) as the PLC program sees them.

    Only STATUS and RCVD_LEN are stored; DONE, BUSY and ERROR follow from STATUS exactly as the
    blocks define them (DONE ⇔ 0000/0001/0003, ERROR ⇔ 16#8xxx, BUSY during
    7001/7002/7003/7005/7006).
    The connection updates these in place; read them, do not write them.
    """

    __slots__ = ("_rcvd_len", "_status", "name")

    def __init__(self, name: str) -> None:
        self.name = name
        self._status: int = Status.NO_JOB
        self._rcvd_len = 0

    @property
    def STATUS(self) -> int:
        return self._status

    @property
    def DONE(self) -> bool:
        return self._status in DONE_STATUS

    @property
    def BUSY(self) -> bool:
        return self._status in BUSY_STATUS

    @property
    def ERROR(self) -> bool:
        return self._status >= 0x8000

    @property
    def RCVD_LEN(self) -> int:
        """Bytes of the last completed receive (TRCV_C; stays 0 on TSEND_C)."""
        return self._rcvd_len

    @property
    def status_text(self) -> str:
        """STATUS the way TIA Portal shows it: ``16#7004``."""
        return format_status(self._status)

    def __repr__(self) -> str:
        flags = "".join(
            name
            for name, on in ((" DONE", self.DONE), (" BUSY", self.BUSY), (" ERROR", self.ERROR))
            if on
        )
        rcvd = f" RCVD_LEN={self._rcvd_len}" if self.name == "TRCV_C" else ""
        return f"<{self.name} STATUS={self.status_text}{flags}{rcvd}>"


def _bytes(count: int, rest: str) -> str:
    """``1 byte ... was ...`` or ``2 bytes ... were ...``: ``rest`` is said with {were}."""
    return (
        f"{count} byte {rest.format(were='was')}"
        if count == 1
        else (f"{count} bytes {rest.format(were='were')}")
    )


def partner_gone(reset: bool, unread: int, partial: int) -> str:
    """The reason of a 16#80C5 end: the partner closed (FIN, close_notify) or ``reset`` the
    connection (TCP RST), and which received bytes were lost with it: ``unread`` bytes held
    while EN_R = 0, ``partial`` bytes of an incomplete frame."""
    reason = (
        "the partner reset the connection (TCP RST)"
        if reset
        else "the partner closed the connection"
    )
    lost = []
    if unread:
        lost.append(_bytes(unread, "received while EN_R = 0 {were} never read"))
    if partial:
        lost.append(_bytes(partial, "of an incomplete frame {were} dropped"))
    return f"{reason} ({'; '.join(lost)})" if lost else reason
