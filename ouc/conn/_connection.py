"""The sans-I/O TSEND_C/TRCV_C connection: bytes in, events out, bytes to send.

One :class:`Connection` lives for one TCP connection, from the moment the driver has it (it
calls :meth:`Connection.connect`, which is CONT 0→1 for the blocks) to its end (a
:class:`Disconnected` event). Under it sits an :class:`ouc.transport.Transport`: plain TCP or the
TLS engine; the connection never knows which. Over it the driver moves bytes:

    conn.connect(now)                          # TCP is up
    conn.receive_data(chunk)                   # b"" when the peer closed its side
    while (event := conn.next_event()) is not None: ...
    sock.sendall(conn.data_to_send())
    deadline = conn.next_timer(); conn.handle_timer(now)

After ``close()`` the driver sends what :meth:`data_to_send` returns and half-closes; once the
state is CLOSED or FAILED it sends what remains and closes the socket (resets it when the
:class:`Disconnected` event says ``reset``). Re-establishing after a drop means a new TCP
connection and so a new :class:`Connection`.

Phases hand off rather than branch on flags (style.md rule 3): ``_on_plaintext`` points at the
handler of the current phase — nothing before the handshake, the TPDU handler for ISO-on-TCP, the
stream receiver for TCP — so the record path is one receiver call per chunk.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import suppress
from typing import Any

from ouc.conn._config import ConnectionConfig
from ouc.conn._events import (
    ENDED,
    TRANSITIONS,
    BlockOutputs,
    ConnectionEvent,
    ConnState,
    Disconnected,
    Established,
    FrameReceived,
    ReceiveFailed,
)
from ouc.device import Role
from ouc.errors import FramingError, OucConnectionError, OucError, Status
from ouc.framing import (
    DR_TSAP_UNKNOWN,
    MALFORMED,
    AdHocReceiver,
    ConnectionConfirm,
    ConnectionRequest,
    DataTPDU,
    DisconnectRequest,
    ErrorTPDU,
    FixedReceiver,
    MessageAssembler,
    Receiver,
    Tpdu,
    TpduDecoder,
    encode_message,
)
from ouc.transport import (
    Closed,
    EventQueue,
    Failed,
    HandshakeComplete,
    PlaintextReceived,
    SessionInfo,
    Transport,
    TransportEvent,
)

__all__ = ["TRCV_C", "TSEND_C", "Connection", "StatusEntry", "format_sequence"]

TSEND_C = "TSEND_C"
TRCV_C = "TRCV_C"

#: One line of :attr:`Connection.status_history`: (time, block name, STATUS).
StatusEntry = tuple[float, str, int]

_RECEIVING = int(Status.RECEIVING)
_SENDING = int(Status.SENDING)
_DONE = int(Status.DONE)
_NO_JOB = int(Status.NO_JOB)
# STATUS values as shared plain ints: above 256 CPython makes a new int object per int() call,
# and each history entry of thousands of idle connections would hold one.
_SHARED_INTS: dict[int, int] = {int(status): int(status) for status in Status}
_TRIM_AT: dict[int, int] = {}


def _shared_int(status: int) -> int:
    shared = _SHARED_INTS.get(status)
    return shared if shared is not None else int(status)


_WIDTH = 3  # list items per STATUS history entry (time, block, status)


def _trim_at(limit: int) -> int:
    """The flat history's length at twice ``limit`` entries, one shared int per limit."""
    return _TRIM_AT.setdefault(limit, 2 * _WIDTH * limit)


_CONNECTED = ConnState.CONNECTED


def _tsap_text(tsap: bytes | None) -> str:
    if tsap is None:
        return "none"
    if tsap and all(0x20 <= b < 0x7F for b in tsap):
        return f"'{tsap.decode('ascii')}'"
    return tsap.hex(" ").upper() or "empty"


def format_sequence(history: Iterable[StatusEntry], block: str) -> str:
    """``block``'s STATUS values in ``history`` as a PLC engineer writes them:
    ``7000 → 7001 → 7004 → 0000``."""
    return " → ".join(f"{status:04X}" for _, name, status in history if name == block)


class Connection:
    """One TSEND_C/TRCV_C connection over a transport, as a sans-I/O state machine.

    Args:
        config: what the CONNECT block and the block inputs say.
        transport: plain TCP (:class:`ouc.transport.PlainTransport`) or the TLS engine, fresh.
        history_limit: how many STATUS changes :attr:`status_history` keeps (the newest).

    Attributes:
        tsend / trcv: the outputs of TSEND_C and TRCV_C (DONE, BUSY, ERROR, STATUS, RCVD_LEN).
        status_history: the newest STATUS changes as (now, block, status), oldest first (a
            copy, at most ``history_limit`` of them).
        info: the transport's :class:`SessionInfo` once the handshake completed.
        tpdu_size: the negotiated ISO-on-TCP TPDU size once connected (None for TCP).
    """

    # Slots: a mock PLC holds thousands of idle connections (an instance dict is ~250 B more).
    __slots__ = (
        "__weakref__",
        "_assembler",
        "_deadline",
        "_decoder",
        "_events",
        "_history",
        "_history_limit",
        "_last_activity",
        "_now",
        "_on_plaintext",
        "_receiver",
        "_send_limit",
        "_state",
        "_touched",
        "_transport",
        "_trim_at",
        "config",
        "disconnect",
        "info",
        "tpdu_size",
        "trcv",
        "tsend",
    )

    def __init__(
        self, config: ConnectionConfig, transport: Transport, *, history_limit: int = 256
    ) -> None:
        self.config = config
        self._transport = transport
        self._state = ConnState.IDLE
        self._events: EventQueue[ConnectionEvent] = EventQueue()
        self.tsend = BlockOutputs(TSEND_C)
        self.trcv = BlockOutputs(TRCV_C)
        # A flat list (time, block, status, time, block, ...), cut back to the newest
        # history_limit entries whenever it has grown to twice that. Flat because a mock PLC
        # holds thousands of idle connections: a tuple per entry costs 64 B, three list slots
        # 24 B (and a deque with maxlen ~700 B per connection); status_history builds tuples.
        self._history: list[float | str | int] = []
        self._history_limit = history_limit
        self._trim_at = _trim_at(history_limit)
        self.info: SessionInfo | None = None
        self.tpdu_size: int | None = None
        self.disconnect: Disconnected | None = None
        self._now = 0.0
        self._last_activity = 0.0
        # Set when bytes moved at a time the caller did not pass; handle_timer() then counts the
        # idle period from its own now (never early, at most one timer period late).
        self._touched = False
        self._deadline: float | None = None
        self._on_plaintext = self._discard
        self._receiver: Receiver | None = None
        self._decoder: TpduDecoder | None = None
        self._assembler: MessageAssembler | None = None
        self._send_limit = config.device.max_send_len

    # ----------------------------------------------------------------- public state

    @property
    def state(self) -> ConnState:
        return self._state

    @property
    def ended(self) -> bool:
        """True once CLOSED or FAILED: a :class:`Disconnected` event was queued."""
        return self._state in ENDED

    @property
    def buffered(self) -> int:
        """Received bytes of an incomplete frame or message."""
        part = self._receiver or self._assembler
        held = part.buffered if part is not None else 0
        return held + (self._decoder.buffered if self._decoder is not None else 0)

    @property
    def status_history(self) -> list[StatusEntry]:
        """The newest ``history_limit`` STATUS changes as (now, block, status), oldest first."""
        flat: list[Any] = self._history[-_WIDTH * self._history_limit :]
        return list(zip(flat[0::_WIDTH], flat[1::_WIDTH], flat[2::_WIDTH], strict=True))

    def status_sequence(self, block: str) -> list[int]:
        """The STATUS values ``block`` (``"TSEND_C"`` or ``"TRCV_C"``) went through, in order."""
        return [status for _, name, status in self.status_history if name == block]

    def format_sequence(self, block: str) -> str:
        """The STATUS sequence as a PLC engineer writes it: ``7000 → 7001 → 7004 → 0000``."""
        return format_sequence(self.status_history, block)

    # ----------------------------------------------------------------- the three verbs

    def receive_data(self, data: bytes, now: float | None = None) -> None:
        """Feed bytes from the wire; ``b""`` means the partner closed its sending side.

        Args:
            data: the bytes as they arrived (any split).
            now: monotonic seconds, when the driver has it (keeps the idle timer exact).

        Raises:
            OucConnectionError: when called before :meth:`connect`.
        """
        if now is None:
            self._touched = True
        else:
            self._now = self._last_activity = now
        state = self._state
        if state is not _CONNECTED:
            # Identity tests only: an Enum hashes in Python, too slow for this path.
            if state is ConnState.IDLE:
                raise OucConnectionError(
                    "receive_data() before connect()", status=Status.NO_SUCH_CONNECTION
                )
            if state is ConnState.CLOSED or state is ConnState.FAILED:
                return
        try:
            self._transport.receive_data(data)
        except OucError as exc:
            self._fail_from(exc)
        # _drain(), inline: with the plaintext sink set, this finds the queue empty at once.
        next_event = self._transport.next_event
        while (event := next_event()) is not None:
            if type(event) is PlaintextReceived:
                self._on_plaintext(event.data)
            else:
                self._on_transport_event(event)

    def next_event(self) -> ConnectionEvent | None:
        """The next event, or None when more bytes (or a timer) are needed."""
        return self._events.take()

    def data_to_send(self) -> bytes:
        """The bytes to write to the wire now (may be empty)."""
        return self._transport.data_to_send()

    # ----------------------------------------------------------------- block actions

    def connect(self, now: float) -> None:
        """CONT 0→1, called once the TCP connection exists: start the transport handshake.

        Raises:
            OucConnectionError: when called twice.
        """
        if self._state is not ConnState.IDLE:
            raise OucConnectionError(
                f"connect() in state {self._state.value}", status=Status.IN_PROGRESS
            )
        self._now = self._last_activity = now
        for outputs in (self.tsend, self.trcv):
            self._history.extend((now, outputs.name, _NO_JOB))
            self._set(outputs, Status.CONNECTING)
        self._move(ConnState.HANDSHAKING)
        timeout = self.config.handshake_timeout
        self._deadline = None if timeout is None else now + timeout
        try:
            self._transport.start()
        except OucError as exc:
            self._fail_from(exc)
        self._drain()

    def send(self, data: bytes, length: int = 0, *, now: float | None = None) -> None:
        """TSEND_C with a rising edge at REQ: send ``length`` bytes of ``data`` as one frame.

        Args:
            data: the DATA area.
            length: LEN; 0 sends the whole DATA area.
            now: monotonic seconds, when the driver has it.

        Raises:
            FramingError: 16#8085 when LEN exceeds the device's limit, is negative, or is 0 with
                empty DATA; 16#8088 when LEN exceeds DATA. TSEND_C shows the same error.
            OucConnectionError: 16#80C4 while the connection is still being established,
                16#80A3 when it is not (or no longer) there.
        """
        if now is None:
            self._touched = True
        else:
            self._now = self._last_activity = now
        if self._state is not _CONNECTED:
            self._refuse_send()
        size = len(data)
        if length == 0:
            length = size
        if not 0 < length <= self._send_limit or length > size:
            self._refuse_len(length, size)
        payload = data if length == size else data[:length]
        if self.tpdu_size is not None:
            payload = encode_message(payload, self.tpdu_size)
        # The record path: STATUS 7005 then 0000, written directly rather than through _set().
        tsend = self.tsend
        record = self._history.extend
        now = self._now
        if tsend._status != _SENDING:
            record((now, TSEND_C, _SENDING))
        tsend._status = _SENDING
        try:
            self._transport.send(payload)
        except OucError as exc:
            self._fail_from(exc)
            raise
        tsend._status = _DONE
        record((now, TSEND_C, _DONE))
        if len(self._history) > self._trim_at:
            self._trim_history()

    def _refuse_len(self, length: int, size: int) -> None:
        if not 0 < length <= self._send_limit:
            status, why = Status.LEN_INVALID, f"LEN {length} is outside 1..{self._send_limit}"
        else:
            status = Status.RECEIVE_AREA_TOO_SMALL
            why = f"LEN {length} is larger than the {size}-byte DATA area"
        self._set(self.tsend, status)
        raise FramingError(why, status=status, path="LEN")

    def close(self, *, now: float | None = None) -> None:
        """CONT 1→0: close the connection (TLS close_notify; the driver then half-closes).

        Closing during the transport handshake ends at once; afterwards the connection waits
        in DISCONNECTING for the partner's end, at most ``close_timeout`` seconds.
        """
        if now is not None:
            self._now = now
        state = self._state
        if state in ENDED or state is ConnState.DISCONNECTING:
            return
        if state in (ConnState.IDLE, ConnState.HANDSHAKING):
            self._finish(ConnState.CLOSED, _DONE, "closed before the connection was established")
            return
        self._notify_close()
        self._move(ConnState.DISCONNECTING)
        self._on_plaintext = self._discard
        self._set_sink(None)
        self._deadline = self._now + self.config.close_timeout
        for outputs in (self.tsend, self.trcv):
            self._set(outputs, Status.DISCONNECTING)

    # ----------------------------------------------------------------- timers

    def next_timer(self) -> float | None:
        """When :meth:`handle_timer` must run next (monotonic seconds), or None."""
        state = self._state
        if state is ConnState.CONNECTED:
            idle = self.config.idle_timeout
            return None if idle is None else self._last_activity + idle
        if state in ENDED or state is ConnState.IDLE:
            return None
        return self._deadline

    def handle_timer(self, now: float) -> None:
        """Act on the clock: handshake timeout, idle timeout (both 16#80C7), close timeout."""
        self._now = now
        if self._touched:
            self._last_activity = now
            self._touched = False
        state = self._state
        if state is ConnState.CONNECTED:
            idle = self.config.idle_timeout
            if idle is not None and now >= self._last_activity + idle:
                self._fail(Status.TIMEOUT, f"no data in either direction for {idle:g} s")
            return
        deadline = self._deadline
        if deadline is None or now < deadline:
            return
        if state is ConnState.DISCONNECTING:
            self._finish(ConnState.CLOSED, _DONE, "closed; the partner did not close its side")
        elif state in (ConnState.HANDSHAKING, ConnState.ISO_CONNECTING):
            self._fail(
                Status.TIMEOUT,
                f"connection not established within {self.config.handshake_timeout:g} s",
            )

    # ----------------------------------------------------------------- transport events

    def _drain(self) -> None:
        next_event = self._transport.next_event
        while (event := next_event()) is not None:
            if type(event) is PlaintextReceived:
                self._on_plaintext(event.data)
            else:
                self._on_transport_event(event)

    def _on_transport_event(self, event: TransportEvent) -> None:
        if isinstance(event, PlaintextReceived):
            self._on_plaintext(event.data)
        elif isinstance(event, HandshakeComplete):
            self._on_handshake(event.info)
        elif isinstance(event, Closed):
            self._on_closed()
        elif isinstance(event, Failed):
            self._fail(event.status, event.reason, reset=event.reset, notify=False)

    def _on_handshake(self, info: SessionInfo) -> None:
        if self._state is not ConnState.HANDSHAKING:
            return
        self.info = info
        iso = self.config.iso
        if iso is None:
            receive_len = self.config.receive_len
            self._receiver = (
                AdHocReceiver(receive_len) if self.config.adhoc else FixedReceiver(receive_len)
            )
            # One bound method for both (each binding is an object an idle connection keeps).
            self._on_plaintext = on_stream = self._on_stream_data
            self._establish()
            self._set_sink(on_stream)
            return
        self._decoder = TpduDecoder()
        self._assembler = MessageAssembler(self.config.receive_len)
        self._on_plaintext = self._on_iso_data
        self._move(ConnState.ISO_CONNECTING)
        if self.config.role is Role.ACTIVE:
            request = ConnectionRequest(
                calling_tsap=iso.local_tsap,
                called_tsap=iso.remote_tsap,
                tpdu_size=iso.tpdu_size,
                src_ref=self.config.conn_id,
            )
            self._send_raw(request.encode())

    def _establish(self) -> None:
        self._move(ConnState.CONNECTED)
        self._deadline = None
        self._last_activity = self._now
        for outputs in (self.tsend, self.trcv):
            self._set(outputs, Status.CONNECTED_IDLE)
        assert self.info is not None
        self._events.append(Established(self.info, self.tpdu_size))

    def _on_closed(self) -> None:
        state = self._state
        if state in ENDED:
            return
        if state is ConnState.DISCONNECTING:
            self._finish(ConnState.CLOSED, _DONE, "closed")
            return
        lost = self.buffered
        reason = "the partner closed the connection"
        if lost:
            reason += f" ({lost} bytes of an incomplete frame were dropped)"
        # Answer the partner's close (TLS close_notify) before the driver closes the socket.
        self._notify_close()
        self._finish(ConnState.CLOSED, Status.PARTNER_CLOSED, reason)

    # ----------------------------------------------------------------- framing

    @staticmethod
    def _discard(data: bytes) -> None:
        """Plaintext outside the data phase (after close()): TRCV_C no longer receives.
        Static: stored as a bound method, it would make every connection a reference cycle."""

    def _on_stream_data(self, data: bytes) -> None:
        """TCP (plain or TLS) in the data phase: the record path."""
        receiver = self._receiver
        assert receiver is not None
        frames = receiver.feed(data)
        if frames:
            self._deliver(frames)
            if receiver.buffered:
                self._set(self.trcv, Status.RECEIVING)
        elif data and self.trcv._status != _RECEIVING:
            self._set(self.trcv, Status.RECEIVING)

    def _deliver(self, frames: list[bytes]) -> None:
        """TRCV_C completes once per frame: STATUS 7006 → 0000 with RCVD_LEN, one event each."""
        trcv = self.trcv
        record = self._history.extend
        append = self._events.append
        now = self._now
        status = trcv._status
        for frame in frames:
            size = len(frame)
            if status != _RECEIVING:
                record((now, TRCV_C, _RECEIVING))
            record((now, TRCV_C, _DONE))
            status = _DONE
            append(FrameReceived(frame, size))
        trcv._status = _DONE
        trcv._rcvd_len = size
        if len(self._history) > self._trim_at:
            self._trim_history()

    def _on_iso_data(self, data: bytes) -> None:
        """ISO-on-TCP: CR/CC while connecting, DT messages once connected."""
        decoder = self._decoder
        assert decoder is not None
        decoder.feed(data)
        while self._state in (ConnState.ISO_CONNECTING, ConnState.CONNECTED):
            try:
                tpdu = decoder.next_tpdu()
            except FramingError as exc:
                self._fail(exc.status or MALFORMED, exc.message)
                return
            if tpdu is None:
                return
            self._on_tpdu(tpdu)

    def _on_tpdu(self, tpdu: Tpdu) -> None:
        connected = self._state is ConnState.CONNECTED
        active = self.config.role is Role.ACTIVE
        if isinstance(tpdu, DataTPDU) and connected:
            self._on_dt(tpdu)
        elif isinstance(tpdu, ConnectionRequest) and not connected and not active:
            self._on_cr(tpdu)
        elif isinstance(tpdu, ConnectionConfirm) and not connected and active:
            self._on_cc(tpdu)
        elif isinstance(tpdu, DisconnectRequest):
            if connected:
                self._finish(
                    ConnState.CLOSED,
                    Status.PARTNER_CLOSED,
                    f"the partner disconnected (DR reason 16#{tpdu.reason:02X})",
                )
            else:
                self._fail(
                    Status.TEMPORARY,
                    f"the partner refused the ISO-on-TCP connection (DR reason "
                    f"16#{tpdu.reason:02X}); check the TSAPs",
                )
        elif isinstance(tpdu, ErrorTPDU):
            self._fail(MALFORMED, f"the partner rejected a TPDU (ER cause 16#{tpdu.cause:02X})")
        else:
            phase = "after" if connected else "before"
            self._fail(
                MALFORMED, f"unexpected COTP {type(tpdu).__name__} {phase} the connection was up"
            )

    def _on_dt(self, tpdu: DataTPDU) -> None:
        assembler = self._assembler
        assert assembler is not None
        try:
            message = assembler.add(tpdu.data, tpdu.eot)
        except FramingError as exc:
            status = exc.status or Status.RECEIVE_AREA_TOO_SMALL
            self._set(self.trcv, status)
            self._events.append(ReceiveFailed(int(status), exc.message))
            return
        if message is not None:
            self._deliver([message])
        elif self.trcv._status != _RECEIVING:
            self._set(self.trcv, Status.RECEIVING)

    def _on_cr(self, request: ConnectionRequest) -> None:
        iso = self.config.iso
        assert iso is not None
        refusal = None
        if request.called_tsap != iso.local_tsap:
            refusal = (
                f"called TSAP {_tsap_text(request.called_tsap)} is not the local TSAP "
                f"{_tsap_text(iso.local_tsap)}"
            )
        elif iso.remote_tsap and request.calling_tsap != iso.remote_tsap:
            refusal = (
                f"calling TSAP {_tsap_text(request.calling_tsap)} is not the partner TSAP "
                f"{_tsap_text(iso.remote_tsap)}"
            )
        if refusal is not None:
            refuse = DisconnectRequest(
                dst_ref=request.src_ref, src_ref=self.config.conn_id, reason=DR_TSAP_UNKNOWN
            )
            self._send_raw(refuse.encode())
            self._fail(Status.PARTNER_REFUSED, f"refused an ISO-on-TCP connection: {refusal}")
            return
        self.tpdu_size = min(request.negotiated_size, iso.tpdu_size)
        confirm = ConnectionConfirm(
            calling_tsap=request.calling_tsap,
            called_tsap=request.called_tsap,
            tpdu_size=self.tpdu_size,
            src_ref=self.config.conn_id,
            dst_ref=request.src_ref,
        )
        self._send_raw(confirm.encode())
        if self._state is ConnState.ISO_CONNECTING:
            self._establish()

    def _on_cc(self, confirm: ConnectionConfirm) -> None:
        iso = self.config.iso
        assert iso is not None
        if confirm.dst_ref != self.config.conn_id:
            self._fail(
                MALFORMED,
                f"CC answers reference {confirm.dst_ref}, our CR had {self.config.conn_id}",
            )
            return
        if confirm.class_option >> 4:
            self._fail(
                MALFORMED, f"the partner chose COTP class {confirm.class_option >> 4}, not 0"
            )
            return
        self.tpdu_size = min(confirm.negotiated_size, iso.tpdu_size)
        self._establish()

    # ----------------------------------------------------------------- helpers

    def _set_sink(self, sink: Callable[[bytes], None] | None) -> None:
        """Let a transport that can (the TLS engine) hand plaintext straight to ``sink``.

        Only the TCP data phase uses it: the stream receiver never calls back into the
        transport. Cleared when the data phase ends, which also breaks the reference cycle
        connection → engine → bound method.
        """
        set_sink = getattr(self._transport, "set_plaintext_sink", None)
        if set_sink is not None:
            set_sink(sink)

    def _send_raw(self, data: bytes) -> None:
        try:
            self._transport.send(data)
        except OucError as exc:
            self._fail_from(exc)

    def _refuse_send(self) -> None:
        state = self._state
        if state in (ConnState.HANDSHAKING, ConnState.ISO_CONNECTING):
            status, why = Status.TEMPORARY, "is still being established"
        else:
            status, why = Status.NO_SUCH_CONNECTION, f"is not up ({state.value})"
        self._set(self.tsend, status)
        raise OucConnectionError(f"cannot send: the connection {why}", status=status)

    def _set(self, outputs: BlockOutputs, status: int) -> None:
        if outputs._status != status:
            outputs._status = status = _shared_int(status)
            self._history.extend((self._now, outputs.name, status))
            if len(self._history) > self._trim_at:
                self._trim_history()

    def _trim_history(self) -> None:
        """Keep the newest ``history_limit`` STATUS changes (amortised: once per limit)."""
        del self._history[: -_WIDTH * self._history_limit]

    def _move(self, new: ConnState) -> None:
        if new not in TRANSITIONS[self._state]:
            raise OucConnectionError(
                f"internal error: no transition {self._state.value} → {new.value}"
            )
        self._state = new

    def _notify_close(self) -> None:
        """Ask the transport to close in order (TLS close_notify), when its handshake is done."""
        if self.info is None:
            return
        # The connection is ending anyway; a transport that cannot say goodbye changes nothing
        # the blocks report.
        with suppress(OucError):
            self._transport.close()

    def _fail_from(self, exc: OucError) -> None:
        self._fail(exc.status or Status.NETWORK_ERROR, exc.message, notify=False)

    def _fail(self, status: int, reason: str, *, reset: bool = False, notify: bool = True) -> None:
        if self._state in ENDED:
            return
        if notify:
            self._notify_close()
        self._finish(ConnState.FAILED, status, reason, reset=reset)

    def _finish(self, state: ConnState, status: int, reason: str, *, reset: bool = False) -> None:
        """End the connection: both blocks show ``status`` (7000 after our own close)."""
        self._move(state)
        self._deadline = None
        self._on_plaintext = self._discard
        self._set_sink(None)
        shown = Status.NO_JOB if status == _DONE else status
        for outputs in (self.tsend, self.trcv):
            self._set(outputs, shown)
        self.disconnect = Disconnected(int(status), reason, reset)
        self._events.append(self.disconnect)

    def __repr__(self) -> str:
        role = self.config.role.value
        return f"<Connection {role} {self._state.value} {self.tsend!r} {self.trcv!r}>"
