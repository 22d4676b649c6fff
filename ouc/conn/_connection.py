"""The sans-I/O TSEND_C/TRCV_C connection: bytes in, events out, bytes to send.

One :class:`Connection` lives for one TCP connection, from the moment the driver has it (it
calls :meth:`Connection.connect`, which is CONT 0→1 for the blocks) to its end (a
:class:`Disconnected` event). Under it sits an :class:`ouc.transport.Transport`: plain TCP or the
TLS engine; the connection never knows which. Over it the driver moves bytes:

    conn.connect(now)                          # TCP is up (reestablish=True after a drop)
    conn.receive_data(chunk, now)              # b"" on FIN; conn.receive_reset(now) on RST
    while (event := conn.next_event()) is not None: ...
    sock.sendall(conn.data_to_send())
    deadline = conn.next_timer(); conn.handle_timer(now)

The blocks' inputs are calls too: :meth:`send` (REQ), :meth:`close` (CONT 1→0),
:meth:`enable_receive` (EN_R), :meth:`reset` (COM_RST) and :meth:`stop` (the CPU's STOP). Every
call that changes anything takes ``now``. Each feeds an event into the table of
``ouc.conn._table``, which decides the next state and the STATUS both blocks show.

After ``close()`` the driver sends what :meth:`data_to_send` returns and half-closes; once the
state is CLOSED, FAILED or ABORTED it sends what remains and closes the socket (resets it when
the :class:`Disconnected` event says ``reset``). Re-establishing after a drop means a new TCP
connection and so a new :class:`Connection`, connected with ``reestablish=True``.

Phases hand off rather than branch on flags (style.md rule 3): ``_on_plaintext`` points at the
handler of the current phase — nothing before the handshake, the TPDU handler for ISO-on-TCP, the
stream receiver for TCP — so the record path is one receiver call per chunk.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress

from ouc.conn._config import ConnectionConfig
from ouc.conn._events import (
    ENDED,
    BlockOutputs,
    ConnectionEvent,
    ConnState,
    Disconnected,
    Established,
    FrameReceived,
    partner_gone,
)
from ouc.conn._history import (
    DONE,
    IDLE,
    RECEIVED,
    RECEIVING,
    SENDING,
    TRCV_C,
    TRCV_NO_JOB,
    TRCV_RECEIVED,
    TRCV_RECEIVING,
    TSEND_C,
    TSEND_DONE,
    TSEND_IDLE,
    TSEND_NO_JOB,
    TSEND_SENDING,
    StatusEntry,
    StatusHistory,
    format_sequence,
    trim_at,
)
from ouc.conn._iso import IsoPhase
from ouc.conn._table import BlockEvent, LocalProtocolError
from ouc.errors import FramingError, OucConnectionError, OucError, Status
from ouc.framing import (
    AdHocReceiver,
    FixedReceiver,
    MessageAssembler,
    Receiver,
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

E = BlockEvent


_CONNECTED = ConnState.CONNECTED
_HALF_CLOSED = ConnState.HALF_CLOSED
_IDLE, _SENDING, _DONE = IDLE, SENDING, DONE
_RECEIVING, _RECEIVED = RECEIVING, RECEIVED


class _NoReceiver:
    """Stands in for the stream receiver before the data phase (never fed)."""

    buffered = 0

    @staticmethod
    def feed(data: bytes) -> list[bytes]:
        raise LocalProtocolError("stream data before the data phase")


_NO_RECEIVER: Receiver = _NoReceiver()


class Connection(IsoPhase, StatusHistory):
    """One TSEND_C/TRCV_C connection over a transport, as a sans-I/O state machine.

    Args:
        config: what the CONNECT block and the block inputs say.
        transport: plain TCP (:class:`ouc.transport.PlainTransport`) or the TLS engine, fresh.
        history_limit: how many STATUS changes :attr:`status_history` keeps (the newest; 0
            keeps all of them).

    Attributes:
        tsend / trcv: the outputs of TSEND_C and TRCV_C (DONE, BUSY, ERROR, STATUS, RCVD_LEN).
        status_history: the newest STATUS changes as (now, block, status), oldest first (a
            copy, at most ``history_limit`` of them).
        info: the transport's :class:`SessionInfo` once the handshake completed.
        tpdu_size: the negotiated ISO-on-TCP TPDU size once connected (None for TCP).
        enable_receive_input: TRCV_C's EN_R (set with :meth:`enable_receive`).
    """

    # Slots: a mock PLC holds thousands of idle connections (an instance dict is ~250 B more).
    __slots__ = (
        "__weakref__",
        "_data_handler",
        "_deadline",
        "_events",
        "_held",
        "_history",
        "_history_limit",
        "_last_activity",
        "_now",
        "_on_plaintext",
        "_receiver",
        "_send_limit",
        "_state",
        "_tevents",
        "_transport",
        "_trim_at",
        "config",
        "disconnect",
        "enable_receive_input",
        "info",
        "trcv",
        "tsend",
    )

    def __init__(
        self, config: ConnectionConfig, transport: Transport, *, history_limit: int = 256
    ) -> None:
        self.config = config
        self._transport = transport
        # The transport's queue when it shows it (both of ouc's do): looked at before asking
        # next_event(), which an empty queue makes a call for nothing on every chunk.
        self._tevents: EventQueue[TransportEvent] | None = getattr(transport, "events", None)
        self._state = ConnState.IDLE
        self._events: EventQueue[ConnectionEvent] = EventQueue()
        self.tsend = BlockOutputs(TSEND_C)
        self.trcv = BlockOutputs(TRCV_C)
        # A flat list of times and shared (block, status) tuples, cut back by one slice once
        # it holds four times history_limit items (ouc.conn._history says why: a mock PLC
        # holds thousands of idle connections); status_history builds the tuples.
        self._history: list[float | tuple[str, int]] = []
        self._history_limit = history_limit
        self._trim_at = trim_at(history_limit)
        self.info: SessionInfo | None = None
        self.tpdu_size: int | None = None
        self.disconnect: Disconnected | None = None
        self.enable_receive_input = config.enable_receive
        self._now = 0.0
        self._last_activity = 0.0
        self._deadline: float | None = None
        self._on_plaintext: Callable[[bytes], None] = self._discard
        # The data phase's handler while EN_R = 0 holds received bytes back (None outside it).
        self._data_handler: Callable[[bytes], None] | None = None
        self._held: bytearray | None = None
        self._receiver: Receiver = _NO_RECEIVER
        self._decoder: TpduDecoder | None = None
        self._assembler: MessageAssembler | None = None
        self._send_limit = config.device.max_send_len

    # ----------------------------------------------------------------- public state

    @property
    def state(self) -> ConnState:
        return self._state

    @property
    def ended(self) -> bool:
        """True once CLOSED, FAILED or ABORTED: a :class:`Disconnected` event was queued."""
        return self._state in ENDED

    @property
    def buffered(self) -> int:
        """Received bytes of an incomplete frame or message (and bytes held while EN_R = 0)."""
        held = self._receiver.buffered + (len(self._held) if self._held is not None else 0)
        if self._assembler is not None:
            held += self._assembler.buffered
        return held + (self._decoder.buffered if self._decoder is not None else 0)

    # ----------------------------------------------------------------- the three verbs

    def receive_data(self, data: bytes, now: float) -> None:
        """Feed bytes from the wire; ``b""`` means the partner closed its sending side.

        Args:
            data: the bytes as they arrived (any split).
            now: monotonic seconds (the idle timer counts from here).

        Raises:
            LocalProtocolError: when called before :meth:`connect`.
        """
        self._now = self._last_activity = now
        state = self._state
        if state is not _CONNECTED:
            # Identity tests only: an Enum hashes in Python, too slow for this path.
            if state is ConnState.IDLE:
                raise LocalProtocolError("receive_data() before connect()")
            if state is ConnState.CLOSED or state is ConnState.FAILED:
                return
            if state is ConnState.ABORTED:
                return
        try:
            self._transport.receive_data(data)
        except OucError as exc:
            self._fail_from(exc)
        # With the plaintext sink set, the transport's queue is empty: no _drain() call.
        events = self._tevents
        if events is None or events:
            self._drain()

    def receive_reset(self, now: float) -> None:
        """The partner reset the TCP connection (the driver saw ECONNRESET): the end of the
        stream as ``receive_data(b"", now)``, 16#80C5 all the same, with a reason that says
        reset. After our own close() it ends as "closed", as an EOF would."""
        reset = getattr(self._transport, "receive_reset", None)
        state = self._state
        if reset is None or state is ConnState.IDLE or state in ENDED:
            self.receive_data(b"", now)  # refused before connect(), ignored once ended
            return
        self._now = self._last_activity = now
        try:
            reset()
        except OucError as exc:
            self._fail_from(exc)
        self._drain()

    def next_event(self) -> ConnectionEvent | None:
        """The next event, or None when more bytes (or a timer) are needed."""
        events = self._events
        if events:
            return events.take()
        if self._state is _HALF_CLOSED:
            # half_close="answer": every frame that came before the partner's close_notify
            # was handed out (and answered); now the close completes.
            self._partner_closed()
            return events.take()
        return None

    @property
    def events(self) -> EventQueue[ConnectionEvent]:
        """The pending events (read-only): truthy while one waits; a driver may ``take()``
        them while it is, then must ask :meth:`next_event` (which also completes a
        half-close once the last frame before it was taken)."""
        return self._events

    def data_to_send(self) -> bytes:
        """The bytes to write to the wire now (may be empty)."""
        return self._transport.data_to_send()

    # ----------------------------------------------------------------- block inputs

    def connect(self, now: float, *, reestablish: bool = False) -> None:
        """CONT 0→1, called once the TCP connection exists: start the transport handshake.

        Args:
            now: monotonic seconds.
            reestablish: CONT stayed 1 and the connection is established again (after a drop,
                COM_RST or the partner's close): 7002 without the initial call's 7001.

        Raises:
            LocalProtocolError: when called twice.
        """
        if self._state is not ConnState.IDLE:
            raise LocalProtocolError(f"connect() in state {self._state.value}")
        self._now = self._last_activity = now
        if not reestablish:
            self._history += (now, TSEND_NO_JOB, TRCV_NO_JOB)
        self._apply(E.REESTABLISH if reestablish else E.CONT_ON)
        timeout = self.config.handshake_timeout
        self._deadline = None if timeout is None else now + timeout
        try:
            self._transport.start()
        except OucError as exc:
            self._fail_from(exc)
        events = self._tevents
        if events is None or events:
            self._drain()

    def send(self, data: bytes, length: int = 0, *, now: float) -> None:
        """TSEND_C with a rising edge at REQ: send ``length`` bytes of ``data`` as one frame.

        Args:
            data: the DATA area.
            length: LEN; 0 sends the whole DATA area.
            now: monotonic seconds.

        Raises:
            FramingError: 16#8085 when LEN exceeds the device's limit, is negative, or is 0 with
                empty DATA; 16#8088 when LEN exceeds DATA. TSEND_C shows the same error.
            OucConnectionError: 16#80C4 while the connection is still being established,
                16#80A3 when it is not (or no longer) there.
        """
        self._now = self._last_activity = now
        state = self._state
        if state is not _CONNECTED and state is not _HALF_CLOSED:
            self._refuse_send()
        size = len(data)
        if length == 0:
            length = size
        if not 0 < length <= self._send_limit or length > size:
            self._refuse_len(length, size)
        payload = data if length == size else data[:length]
        if self.tpdu_size is not None:
            payload = encode_message(payload, self.tpdu_size)
        # The record path: the table's REQ statuses, written directly rather than through _set().
        # 7004 only after a completed job; 7005 is written with 0000 once the transport took
        # the bytes (before a failure's statuses when it did not).
        tsend = self.tsend
        history = self._history
        again = tsend._status != _IDLE
        tsend._status = _SENDING
        try:
            self._transport.send(payload)
        except OucError as exc:
            history += (now, TSEND_IDLE, TSEND_SENDING) if again else (now, TSEND_SENDING)
            self._fail_from(exc)
            raise
        tsend._status = _DONE
        if again:
            history += (now, TSEND_IDLE, TSEND_SENDING, TSEND_DONE)
        else:
            history += (now, TSEND_SENDING, TSEND_DONE)
        if len(history) > self._trim_at:
            self._trim_history()

    def _refuse_len(self, length: int, size: int) -> None:
        if not 0 < length <= self._send_limit:
            status, why = Status.LEN_INVALID, f"LEN {length} is outside 1..{self._send_limit}"
        else:
            status = Status.RECEIVE_AREA_TOO_SMALL
            why = f"LEN {length} is larger than the {size}-byte DATA area"
        self._set(self.tsend, status)
        raise FramingError(why, status=status, path="LEN")

    def close(self, now: float) -> None:
        """CONT 1→0: close the connection (TLS close_notify; the driver then half-closes).

        Closing during the transport handshake ends at once; afterwards the connection waits
        in DISCONNECTING (7003) for the partner's end, at most ``close_timeout`` seconds, and
        ends with 0003 → 7000.
        """
        self._now = now
        state = self._state
        if state is _HALF_CLOSED:
            self._partner_closed()
            return
        if state is ConnState.IDLE or state is ConnState.HANDSHAKING:
            self._end(E.CONT_OFF, 0, "closed before the connection was established")
            return
        if state is not _CONNECTED and state is not ConnState.ISO_CONNECTING:
            self._apply(E.CONT_OFF)  # ended or already closing: no effect
            return
        self._notify_close()
        self._apply(E.CONT_OFF)
        self._leave_data_phase()
        self._deadline = now + self.config.close_timeout

    def enable_receive(self, on: bool, now: float) -> None:
        """TRCV_C's EN_R. With EN_R = 0 TRCV_C shows 7004 and received bytes wait (as in the
        CPU's receive buffer) until EN_R is 1 again; then they are delivered."""
        self._now = now
        if on == self.enable_receive_input:
            return
        self.enable_receive_input = on
        self._apply(E.EN_R_ON if on else E.EN_R_OFF)
        if self._data_handler is not None:
            self._route_data()

    def reset(self, now: float) -> bool:
        """COM_RST 0→1 (T_RESET): abort an established connection; the driver then establishes
        a new one (``connect(now, reestablish=True)``). Both blocks report 16#80C4 while the
        reset runs. Without an established connection it has no effect (TIA help).

        The wire (inference, ``ConnectionConfig.com_rst``): "rst" resets the TCP connection,
        "fin" sends close_notify and closes it in order.

        Returns:
            True when a connection was reset.
        """
        self._now = now
        state = self._state
        if self._apply(E.COM_RST).next is state:
            return False
        if self.config.com_rst == "fin":
            self._notify_close()
        self._ended(
            int(Status.TEMPORARY), "COM_RST: the connection was reset", self._rst("com_rst")
        )
        return True

    def stop(self, now: float) -> None:
        """The CPU goes to STOP: the connection ends (both blocks 7000, inference: the startup
        after RUN initialises them). The wire (inference, ``ConnectionConfig.stop``): "fin"
        sends close_notify and closes in order, "rst" resets."""
        self._now = now
        state = self._state
        if state in ENDED:
            return
        if self.config.stop == "fin":
            self._notify_close()
        self._apply(E.STOP)
        self._ended(0, "the CPU went to STOP", self._rst("stop"))

    def abandon(self, now: float, reason: str) -> None:
        """The driver lost track of the byte stream under the connection (an interruption such
        as Ctrl-C between a TLS record and the socket): nothing more can be said on it, not
        even close_notify, so the connection ends at once with a TCP reset. Both blocks show
        7000, as when the program stops calling them (inference: a CPU is never interrupted
        there)."""
        self._now = now
        if self._state in ENDED:
            return
        self._apply(E.STOP)
        self._ended(0, reason, True)

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
        """Act on the clock: handshake timeout (16#80C4), idle timeout (16#80C6), close timeout.

        The help has no timeout code. Handshake (inference): 80C4 is its code for a connection
        that cannot be established now. Idle (inference): a CPU notices a silent partner only
        through TCP keep-alive, which the stack reports as a network error, partner unreachable.
        """
        self._now = now
        state = self._state
        if state is ConnState.CONNECTED:
            idle = self.config.idle_timeout
            if idle is not None and now >= self._last_activity + idle:
                self._fail(Status.NETWORK_ERROR, f"no data in either direction for {idle:g} s")
            return
        deadline = self._deadline
        if deadline is None or now < deadline:
            return
        if state is ConnState.DISCONNECTING:
            self._end(E.CLOSE_DONE, 0, "closed; the partner did not close its side")
        elif state in (ConnState.HANDSHAKING, ConnState.ISO_CONNECTING):
            self._fail(
                Status.TEMPORARY,
                f"connection not established within {self.config.handshake_timeout:g} s",
            )

    # ----------------------------------------------------------------- transport events

    def _drain(self) -> None:
        events = self._tevents
        if events is not None:  # the queue itself: no next_event() call that finds it empty
            while events:
                self._on_transport_event(events.take())  # type: ignore[arg-type]
            return
        next_event = self._transport.next_event
        while (event := next_event()) is not None:
            self._on_transport_event(event)

    def _on_transport_event(self, event: TransportEvent) -> None:
        kind = type(event)  # the four event classes are final: no isinstance() calls
        if kind is PlaintextReceived:
            self._on_plaintext(event.data)  # type: ignore[union-attr]
        elif kind is HandshakeComplete:
            self._on_handshake(event.info)  # type: ignore[union-attr]
        elif kind is Closed:
            self._on_closed(event.reset)  # type: ignore[union-attr]
        elif kind is Failed:
            self._fail(event.status, event.reason, reset=event.reset, notify=False)  # type: ignore[union-attr]

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
            self._establish(E.TRANSPORT_UP, self._on_stream_data)
            return
        self._on_plaintext = self._on_iso_data
        self._apply(E.ISO_START)
        self._start_iso()

    def _establish(self, event: BlockEvent, handler: Callable[[bytes], None]) -> None:
        """The connection is up: 0001, then 7004 (TRCV_C 7006 with EN_R = 1); data flows."""
        self._apply(event)
        self._deadline = None
        self._last_activity = self._now
        self._data_handler = handler
        self._route_data()
        self._events.append(Established(self.info or SessionInfo(), self.tpdu_size))

    def _route_data(self) -> None:
        """Point received data at the data phase's handler, or hold it while EN_R = 0."""
        handler = self._data_handler
        if handler is None:
            return
        if not self.enable_receive_input:
            if self._held is None:
                self._held = bytearray()
            self._on_plaintext = self._hold
            # == and not "is": each attribute access makes a new bound method.
            self._set_sink(self._hold if handler == self._on_stream_data else None)
            return
        self._on_plaintext = handler
        # The TCP data phase lets the TLS engine hand plaintext straight to the receiver; the
        # ISO-on-TCP handler calls back into the transport, so it takes the queued path.
        self._set_sink(handler if handler == self._on_stream_data else None)
        held, self._held = self._held, None
        if held:
            handler(bytes(held))

    def _hold(self, data: bytes) -> None:
        """EN_R = 0: the bytes wait, like data in the CPU's receive buffer."""
        if self._held is not None:
            self._held += data

    def _leave_data_phase(self) -> None:
        self._on_plaintext = self._discard
        self._data_handler = None
        self._set_sink(None)

    def _on_closed(self, reset: bool = False) -> None:
        state = self._state
        if state in ENDED:
            return
        if state is ConnState.DISCONNECTING:
            self._end(E.CLOSE_DONE, 0, "closed")
            return
        if state is _CONNECTED and self.config.half_close == "answer" and self._events:
            # The partner half-closed with frames still to hand out: they are answered
            # (RFC 8446 §6.1 lets our side keep sending), then next_event() completes the close.
            # A reset is no half-close: nothing can be answered on it.
            if reset:
                self._partner_closed(reset)
                return
            self._apply(E.HALF_CLOSE)
            self._leave_data_phase()
            allow = getattr(self._transport, "allow_half_open", None)
            if allow is not None:
                allow()
            return
        self._partner_closed(reset)

    def _partner_closed(self, reset: bool = False) -> None:
        """The partner closed (FIN, close_notify) or ``reset`` the TCP connection (RST): 16#80C5
        for both, as the TIA help gives no other code; the reason tells them apart and says
        which received bytes went unread.

        Bytes received while EN_R = 0 are whole frames the program never read, not an incomplete
        frame, and are named so. That they are lost with the connection is an inference (the
        TIA help gives 80C5, not what becomes of the receive buffer).
        """
        unread = len(self._held) if self._held is not None else 0
        reason = partner_gone(reset, unread, self.buffered - unread)
        # Answer the partner's close (TLS close_notify) before the driver closes the socket.
        self._notify_close()
        self._end(E.PARTNER_CLOSED, int(Status.PARTNER_CLOSED), reason)

    # ----------------------------------------------------------------- framing

    @staticmethod
    def _discard(data: bytes) -> None:
        """Plaintext outside the data phase (after close()): TRCV_C no longer receives.
        Static: stored as a bound method, it would make every connection a reference cycle."""

    def _on_stream_data(self, data: bytes) -> None:
        """TCP (plain or TLS) in the data phase: the record path."""
        receiver = self._receiver
        frames = receiver.feed(data)
        if frames:
            self._deliver(frames)
            if receiver.buffered:
                self._set(self.trcv, _RECEIVING)
        elif data and self.trcv._status != _RECEIVING:
            self._set(self.trcv, _RECEIVING)

    def _deliver(self, frames: list[bytes]) -> None:
        """TRCV_C completes once per frame: STATUS 7006 → 0000 with RCVD_LEN, one event each."""
        trcv = self.trcv
        history = self._history
        append = self._events.append
        now = self._now
        status = trcv._status
        for frame in frames:
            size = len(frame)
            # list += tuple extends without a method call.
            if status != _RECEIVING:
                history += (now, TRCV_RECEIVING, TRCV_RECEIVED)
            else:
                history += (now, TRCV_RECEIVED)
            status = _RECEIVED
            append(FrameReceived(frame, size))
        trcv._status = _RECEIVED
        trcv._rcvd_len = size
        if len(history) > self._trim_at:
            self._trim_history()

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

    def _rst(self, which: str) -> bool:
        """Whether COM_RST / STOP reset the TCP connection (the configured wire, inference)."""
        return bool(getattr(self.config, which) == "rst")

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
        self._end(E.FAILED, int(status), reason, reset=reset)

    def _end(self, event: BlockEvent, status: int, reason: str, *, reset: bool = False) -> None:
        """End the connection through ``event``; queue :class:`Disconnected` with ``status``."""
        self._apply(event, status)
        self._ended(status, reason, reset)

    def _ended(self, status: int, reason: str, reset: bool) -> None:
        self._deadline = None
        self._leave_data_phase()
        self._held = None
        self.disconnect = Disconnected(int(status), reason, reset)
        self._events.append(self.disconnect)

    def __repr__(self) -> str:
        role = self.config.role.value
        return f"<Connection {role} {self._state.value} {self.tsend!r} {self.trcv!r}>"
