"""The blocking driver's active endpoint: TSEND_C (TLS client) with automatic re-establishment.

:class:`ActiveEndpoint` does its I/O in the calling thread — ``send()`` writes, ``receive()``
reads until a frame is complete — so a request/response loop costs what a plain socket loop
costs, with no hand-off between threads. What a PLC does by itself happens in one small watcher
thread that reads no application data unless :meth:`ActiveEndpoint.deliver` asks it to: it
waits (``poll``) only for the partner's FIN or RST and for the connection's timers. When the
connection drops while the program is not inside ``send()``/``receive()``, the watcher
notices, records the drop (16#80C5, ...) and re-establishes the connection with backoff,
offering the previous TLS session for resumption — the active side re-establishes by itself
once the connection was up (domain.md §4). A drop seen inside ``receive()`` is re-established
there, and ``send()`` waits for a connection that is down.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from types import TracebackType

from ouc.conn import (
    Connection,
    ConnState,
    Disconnected,
    Established,
    FrameReceived,
    ReceiveFailed,
    StatusEntry,
)
from ouc.drivers import _args as args
from ouc.drivers._active_common import CONT_HINT, RUN_HINT, ActiveCommon, remote_of
from ouc.drivers._blocking_controls import ActiveControls
from ouc.drivers._blocking_link import Link, Waker, error_for, open_link
from ouc.drivers._records import EventCallback, Recorder
from ouc.drivers._setup import AddressMap, EndpointSpec
from ouc.drivers._sockio import (
    RECEIVE_BUFFER,
    close_socket,
    connection_error,
    own_timeout,
    partner_reset,
    shutdown_quietly,
)
from ouc.errors import (
    FramingError,
    OucConnectionError,
    OucError,
    Status,
    WaitTimeoutError,
)
from ouc.tls import TLSSession
from ouc.transport import SessionInfo

__all__ = ["ActiveEndpoint", "ReceiveEvent"]

log = logging.getLogger("ouc.drivers")

ReceiveEvent = FrameReceived | ReceiveFailed
"""What :meth:`ActiveEndpoint.receive_event` returns: a frame, or a failed receive (16#8088)."""

_CONNECTED = ConnState.CONNECTED
_HISTORY = 1024


class ActiveEndpoint(ActiveControls, ActiveCommon[Link]):
    """An active Secure OUC endpoint (TSEND_C, TLS client) over a blocking socket.

    Args:
        spec: the endpoint's setup (an active block: ActiveEstablished TRUE).
        address_map: plant ↔ local addresses: where RemoteAddress:RemotePort really runs, and
            (when the device's own plant address is mapped) which local address to bind, so a
            passive endpoint's partner check sees our plant address.
        connect_to: ``(host, port)`` to connect to instead (the SAN check still uses the plant
            address of the block, which is what the server certificate carries).
        bind: ``(host, port)`` to bind before connecting (default: see ``address_map``; the
            block's LocalPort when it is not 0).
        connect_timeout: seconds for one TCP connect plus handshake attempt.
        reconnect: re-establish by itself after a drop once the connection was up.
        retry_delay / max_retry_delay: backoff between re-establishment attempts (the first
            attempt after a drop is immediate).
        send_timeout: seconds a send may block on a partner that does not read.
        session_reuse: offer the previous connection's TLS session when re-establishing.
        watch: run the watcher thread (started by the first :meth:`connect`): it notices drops
            and runs the idle timer while the program is not reading, and re-establishes. Without
            it a drop is noticed, and the connection re-established, at the next send/receive.
        on_event: called with each :class:`~ouc.drivers.EndpointRecord` (from the calling
            thread or the watcher thread: keep it quick and thread-safe).
    """

    def __init__(
        self,
        spec: EndpointSpec,
        *,
        address_map: AddressMap | None = None,
        connect_to: tuple[str, int] | None = None,
        bind: tuple[str, int] | None = None,
        connect_timeout: float = 5.0,
        reconnect: bool = True,
        retry_delay: float = 0.1,
        max_retry_delay: float = 5.0,
        send_timeout: float | None = 30.0,
        session_reuse: bool = True,
        watch: bool = True,
        on_event: EventCallback | None = None,
    ) -> None:
        remote = remote_of(spec, "PassiveEndpoint (ouc serve)")
        self.spec = spec
        self.address_map = address_map if address_map is not None else AddressMap({})
        self.connect_to = args.address(connect_to, "connect_to", low_port=1)
        self.remote_plant: str = remote
        self.remote_port: int = spec.block.remote_port or 0
        self.connect_timeout = args.seconds(connect_timeout, "connect_timeout")
        self.reconnect = reconnect
        self.retry_delay = args.seconds(retry_delay, "retry_delay")
        self.max_retry_delay = args.seconds(max_retry_delay, "max_retry_delay")
        self.send_timeout = args.optional_seconds(send_timeout, "send_timeout")
        self.session_reuse = session_reuse
        self.watch = watch
        self._bind = args.address(bind, "bind")
        self._recorder = Recorder(spec.name, spec.block_name, on_event)
        self._io = threading.RLock()
        self._readers = 0  # threads in receive(), the only ones _interrupt_reader wakes
        self._closed = threading.Event()
        self._link: Link | None = None
        self._serial = 0
        self._wanted = False  # CONT: True after connect(), False after disconnect()/close()
        self._ever_up = False
        self._session: TLSSession | None = None
        self._want_ticket = False
        self._frames: deque[FrameReceived | ReceiveFailed] = deque()
        self._history: deque[StatusEntry] = deque(maxlen=_HISTORY)
        self._last_conn: Connection | None = None
        self._last_error: OucError | None = None
        self._delay = 0.0
        self._next_attempt = 0.0
        self._buffer = bytearray(RECEIVE_BUFFER)
        self._view = memoryview(self._buffer)
        self._watcher: threading.Thread | None = None
        # The watcher's wake-up pipe, made with the watcher (an endpoint never connected holds
        # no descriptor, so forgetting close() on it leaks nothing).
        self._waker: Waker | None = None
        self.cpu_running = True  # the CPU's operating state: RUN (True) or STOP
        self.en_r = True  # TRCV_C's EN_R
        self._pending_control: str | None = None  # COM_RST / STOP asked from another thread
        self._control_done = threading.Event()
        self._control_turn = threading.Lock()  # one control at a time
        self._control_take = threading.Lock()  # taking a pending control vs giving it up
        self._reader_waker: Waker | None = None  # wakes a receive() waiting while EN_R = 0
        self.reconnects = 0  # re-establishments after a drop
        self.connections = 0  # TCP connections established (handshake complete)
        self._deliver: Callable[[ReceiveEvent], None] | None = None  # see deliver()

    # ------------------------------------------------------------------------------ the blocks

    def connect(self, timeout: float | None = None) -> SessionInfo:
        """CONT 0→1: connect and complete the handshake (one attempt); returns what was negotiated.

        Args:
            timeout: seconds for the attempt (default ``connect_timeout``).

        Raises:
            OucConnectionError: refused or the handshake not done in time (16#80C4), no answer
                to the connect in time or unreachable (16#80C6), reset (16#80C5), ...
            TLSError: the handshake failed (16#80E0..16#80E7).
        """
        if timeout is not None:
            timeout = args.seconds(timeout, "timeout")
        with self._io:
            self._check_open()
            self._cont_on()
            self._wanted = True
            link = self._link
            if link is None or link.conn.ended:
                limit = self.connect_timeout if timeout is None else timeout
                link = self._attempt(time.monotonic() + limit)
            if self.watch:
                self._start_watcher()
            info = link.conn.info
            assert info is not None
            return info

    def send(self, data: bytes, length: int = 0, *, timeout: float | None = None) -> None:
        """TSEND_C with REQ: send ``length`` bytes of ``data`` (0: all) as one frame.

        DONE means handed to the TCP stack, as on the PLC. When the connection is down and
        re-establishment is on, waits up to ``timeout`` seconds (default ``connect_timeout``)
        for it.

        Raises:
            FramingError: 16#8085 / 16#8088 for a bad LEN (TSEND_C shows it too).
            OucConnectionError / TLSError: no connection, or it broke while sending.
        """
        if timeout is not None:
            timeout = args.seconds(timeout, "timeout")
        with self._io:
            link = self._intact(self._link)
            if link is None or link.conn.state is not _CONNECTED:
                wait = self.connect_timeout if timeout is None else timeout
                link = self._ensure_up(time.monotonic() + wait)
            if self._want_ticket:
                self._poll_ticket(link)
                if link.conn.ended:
                    link = self._ensure_up(time.monotonic() + self.connect_timeout)
            conn = link.conn
            link.cut = True  # until the record is out (see _intact())
            try:
                conn.send(data, length, now=time.monotonic())
            except Exception:
                link.cut = False  # refused (LEN, not bytes): nothing was made
                raise
            out = conn.data_to_send()
            try:
                link.sock.sendall(out)
            except OSError as exc:
                self._lost(link, exc)
                raise self._send_error(link, exc) from exc
            link.cut = False

    def receive(self, timeout: float | None = None) -> bytes:
        """TRCV_C: the next received frame (fixed LEN, or ad hoc up to LEN).

        Raises:
            WaitTimeoutError: no frame arrived within ``timeout`` seconds (None: wait for ever); no
                PLC status, TRCV_C would keep waiting in 7006. The connection stays.
            OucConnectionError: the connection's failure when it is down and stays down.
            FramingError: an ISO-on-TCP message larger than the receive area (16#8088).
        """
        event = self.receive_event(timeout)
        if type(event) is FrameReceived:
            return event.data
        assert isinstance(event, ReceiveFailed)
        raise FramingError(event.reason, status=event.status)

    def receive_event(self, timeout: float | None = None) -> ReceiveEvent:
        """Like :meth:`receive`, but returns the event (with RCVD_LEN), a failed receive too."""
        deadline = None if timeout is None else time.monotonic() + args.wait(timeout)
        frames = self._frames
        self._readers += 1  # before the lock: a reader about to block is one to wake
        try:
            with self._io:
                while True:
                    if frames:
                        return frames.popleft()
                    link = self._intact(self._link)
                    if link is None or (link.conn.state is not _CONNECTED and link.conn.ended):
                        link = self._ensure_up(deadline)
                        continue
                    if self.en_r != link.conn.enable_receive_input:
                        self._apply_en_r(link)  # EN_R changed from another thread
                        continue
                    self._read_once(link, deadline)
        finally:
            self._readers -= 1

    def disconnect(self) -> None:
        """CONT 1→0: close the connection in order; no re-establishment until :meth:`connect`."""
        self._wanted = False
        self._interrupt_reader()
        with self._io:
            link = self._link
            if link is not None:
                self._close_link(link)

    def close(self) -> None:
        """Disconnect and release everything (the watcher thread, sockets). Safe to call twice."""
        if self._closed.is_set():
            return
        self._wanted = False
        self._closed.set()
        self._wake()
        self._interrupt_reader()
        with self._io:
            link = self._link
            if link is not None:
                self._close_link(link)
        watcher = self._watcher
        if watcher is not None and watcher is not threading.current_thread():
            watcher.join(self.connect_timeout + 2.0)
            if watcher.is_alive():
                log.error("the watcher thread of %s did not stop", self.spec.name)
        if self._waker is not None:
            self._waker.close()
        if self._reader_waker is not None:
            self._reader_waker.close()

    def __enter__(self) -> ActiveEndpoint:
        self.connect()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "connected" if self.connected else "closed" if self._closed.is_set() else "down"
        plant = f"{self.remote_plant}:{self.remote_port}"
        return f"<ActiveEndpoint {self.spec.name} → {plant} {state}>"

    # ------------------------------------------------------------------------------ connecting

    def _check_open(self) -> None:
        if self._closed.is_set():
            raise OucConnectionError("the endpoint is closed", status=Status.NO_SUCH_CONNECTION)

    def _attempt(self, deadline: float) -> Link:
        """One TCP connect + handshake, bounded by ``deadline``; the new link or raises."""
        host, port = self.target()
        self._record_attempt(host, port)
        try:
            link = self._open(host, port, deadline)
        except OucError as exc:
            self._attempt_failed(exc)
            raise
        self._last_error = None
        return link

    def _open(self, host: str, port: int, deadline: float) -> Link:
        self._serial += 1
        link = open_link(
            self.spec,
            host,
            port,
            serial=self._serial,
            deadline=deadline,
            bind=self._bind_address(),
            send_timeout=self.send_timeout,
            peer_address=self.remote_plant,
            session=self._session if self.session_reuse else None,
        )
        if not self.en_r:
            link.conn.enable_receive(False, time.monotonic())
        try:
            event = link.handshake(
                self._buffer,
                self._view,
                deadline,
                self.connect_timeout,
                reestablish=self._next_reestablishes(),
            )
        except BaseException:
            disconnect = link.conn.disconnect
            self._retire(link)
            close_socket(link.sock, reset=disconnect is not None and disconnect.reset)
            raise
        self._established(link, event)
        return link

    def _established(self, link: Link, event: Established) -> None:
        self._link = link
        self.connections += 1
        self._delay = 0.0
        engine = link.engine
        self._want_ticket = (
            engine is not None and self.session_reuse and engine.context.session_tickets
        )
        self._capture_session(link)
        if self._ever_up:
            self.reconnects += 1
        self._ever_up = True
        self._record(link, event)  # after the counts: whoever the record wakes sees them
        self._wake()  # the watcher polls the new socket from now on
        # The rest of the handshake flight (a TLS 1.3 ticket) may have come with it.
        self._process(link)

    def _ensure_up(self, deadline: float | None) -> Link:
        """The established link; re-establishes (with backoff) when that is allowed."""
        while True:
            self._check_open()
            link = self._link
            if link is not None and not link.conn.ended:
                return link
            if not self._wanted:
                raise OucConnectionError(
                    f"not connected ({CONT_HINT})", status=Status.NO_SUCH_CONNECTION
                )
            if not self.cpu_running:
                raise OucConnectionError(
                    f"the CPU is in STOP ({RUN_HINT})",
                    status=Status.NO_SUCH_CONNECTION,
                )
            if not (self.reconnect and self._ever_up):
                raise self._last_error or OucConnectionError(
                    "the connection is down", status=Status.NO_SUCH_CONNECTION
                )
            now = time.monotonic()
            if now < self._next_attempt:
                wait = self._next_attempt - now
                if deadline is not None and now + wait > deadline:
                    raise self._down_error()
                self._closed.wait(wait)
                continue
            if deadline is not None and now >= deadline:
                raise self._down_error()
            limit = now + self.connect_timeout
            if deadline is not None:
                limit = min(limit, deadline)
            try:
                return self._attempt(limit)
            except OucError as exc:
                self._backoff(exc)

    def _backoff(self, exc: OucError) -> None:
        self._delay = self._next_delay(self._delay)
        self._next_attempt = time.monotonic() + self._delay
        self._record_retry(exc, self._delay)

    # ------------------------------------------------------------------------------ reading

    def _read_once(self, link: Link, deadline: float | None) -> None:
        """One blocking read (bounded by ``deadline`` and the connection's timer), processed."""
        conn = link.conn
        now = time.monotonic()
        timer_at = conn.next_timer()
        if timer_at is None:
            limit = deadline
        else:
            limit = timer_at if deadline is None else min(deadline, timer_at)
        link.timer.arm_within(None if limit is None else limit - now)
        try:
            if not conn.enable_receive_input and not self._readable(link, limit):
                raise BlockingIOError  # woken for EN_R, or the time is up
            n = link.sock.recv_into(self._buffer)
        except BlockingIOError:
            now = time.monotonic()
            if self.en_r != conn.enable_receive_input:
                self._apply_en_r(link)
            conn.handle_timer(now)
            self._process(link)
            if deadline is not None and now >= deadline and not self._frames:
                raise WaitTimeoutError("no frame received in time") from None
            return
        except OSError as exc:
            self._check_open()
            self._lost(link, exc)
            return
        if not n:
            # close(), disconnect() or a control from another thread woke this read: not the
            # partner.
            self._check_open()
            if self._pending_control is not None:
                self._run_control()
                return
            if not self._wanted:
                raise OucConnectionError("disconnected", status=Status.NO_SUCH_CONNECTION)
        link.cut = True  # read and not yet fed (see _intact())
        if self.en_r != conn.enable_receive_input:
            conn.enable_receive(self.en_r, time.monotonic())  # changed while this thread read
        conn.receive_data(self._view[:n] if n else b"", time.monotonic())  # type: ignore[arg-type]
        self._process(link)
        link.cut = False

    def _readable(self, link: Link, limit: float | None) -> bool:
        """While EN_R = 0: wait for bytes (True), or for EN_R to change or ``limit`` (False)."""
        waker = self._reader_waker
        if waker is None:
            waker = self._reader_waker = Waker()
        if self.en_r != link.conn.enable_receive_input:
            return False  # changed before the waker was there to say so
        return waker.readable(link.sock, None if limit is None else limit - time.monotonic())

    def _read_available(self, link: Link) -> None:
        """Read whatever has arrived without blocking (tickets, a FIN, frames), processed."""
        error = link.read_available(self._buffer, self._view)
        self._process(link)
        if error is not None:
            self._lost(link, error)

    def _poll_ticket(self, link: Link) -> None:
        """Before a send, until a TLS 1.3 session ticket arrived: pick it up if it is there."""
        if link.readable():
            self._read_available(link)

    def _process(self, link: Link) -> None:
        """Queue frames, record connection events, send what the connection produced."""
        conn = link.conn
        frames = self._frames
        event = conn.next_event()
        while event is not None:
            if type(event) is FrameReceived or type(event) is ReceiveFailed:
                frames.append(event)
                if type(event) is ReceiveFailed:
                    self._record(link, event)
            elif isinstance(event, Disconnected):
                if self._deliver is not None:
                    self._hand_on(self._deliver)  # the frames before the end's record
                self._ended(link, event)
            event = conn.next_event()
        deliver = self._deliver
        if deliver is not None and frames:
            self._hand_on(deliver)
        if self._want_ticket:
            self._capture_session(link)
        self._flush(link)

    def _flush(self, link: Link) -> None:
        out = link.conn.data_to_send()
        if out:
            try:
                link.sock.sendall(out)
            except OSError as exc:
                self._lost(link, exc)

    def _capture_session(self, link: Link) -> None:
        engine = link.engine
        if engine is None or not self.session_reuse:
            self._want_ticket = False
            return
        session = engine.session
        if session is not None:
            self._session = session
            self._want_ticket = False

    # ------------------------------------------------------------------------------ ending

    def _send_error(self, link: Link, exc: OSError) -> OucError:
        """What :meth:`send` raises when the socket failed under it (after :meth:`_lost`):
        the reason and status the connection ended with, as the records and the asyncio
        driver say it (a TLS alert the partner sent before its reset: "peer sent TLS alert
        unknown_ca", 16#80E4)."""
        end = link.conn.disconnect
        if own_timeout(exc) or end is None or not end.status:
            # A partner that takes nothing until the send timeout is dropped as gone
            # (16#80C5), as the asyncio driver does (inference: TSEND_C would stay busy).
            return connection_error(exc, "sending failed", timed_out=Status.PARTNER_CLOSED)
        return error_for(end.status, f"sending failed: {end.reason}")

    def _lost(self, link: Link, exc: OSError) -> None:
        """The socket failed under the connection: end it (16#80C5) and drop the link.

        What the partner sent before the failure is fed first: a TLS alert that came before
        its reset ends the connection with the alert's status (as the asyncio driver, which
        reads it before it hears of the reset), frames before it are still received.
        """
        conn = link.conn
        if not conn.ended:
            if not own_timeout(exc):
                link.read_left(self._buffer, self._view)
            if not conn.ended:
                log.info("%s: %s", self.spec.name, connection_error(exc, "the connection broke"))
                if partner_reset(exc):
                    conn.receive_reset(time.monotonic())
                else:
                    conn.receive_data(b"", time.monotonic())
            while (event := conn.next_event()) is not None:
                if isinstance(event, Disconnected):
                    if self._deliver is not None:
                        self._hand_on(self._deliver)  # the frames before the end's record
                    self._ended(link, event)
                elif type(event) is FrameReceived or type(event) is ReceiveFailed:
                    self._frames.append(event)
            conn.data_to_send()  # the socket is broken: nothing more goes out
        if self._link is link:
            self._drop(link, reset=False)

    def _ended(self, link: Link, event: Disconnected) -> None:
        """The connection reported its end: record it and drop the link."""
        self._flush_quietly(link)
        self._last_error = error_for(event.status, event.reason) if event.status else None
        self._record(link, event)
        if self._link is link:
            self._drop(link, reset=event.reset)

    def _flush_quietly(self, link: Link) -> None:
        out = link.conn.data_to_send()
        if out:
            # The partner may be gone; what was left for it does not matter then.
            with suppress(OSError):
                link.sock.sendall(out)

    def _drop(self, link: Link, *, reset: bool) -> None:
        self._capture_session(link)
        self._retire(link)
        self._link = None
        close_socket(link.sock, reset=reset)  # an orderly close sends the FIN
        self._next_attempt = time.monotonic() + self._delay
        self._wake()

    def _retire(self, link: Link) -> None:
        """Keep the link's STATUS history in the endpoint's (it outlives the connection)."""
        self._history.extend(link.conn.status_history)
        self._last_conn = link.conn

    def _intact(self, link: Link | None) -> Link | None:
        """``link``, unless an interruption (Ctrl-C, an exception that is not an error) came
        between one of its TLS records and the socket: then nothing more can go over it, not a
        record (the partner would read it after the lost one as an integrity error, 16#80E6)
        and not a close_notify, so it is reset and dropped (None)."""
        if link is None or not link.cut:
            return link
        link.cut = False
        conn = link.conn
        if not conn.ended:
            conn.abandon(time.monotonic(), "interrupted between a TLS record and the socket: reset")
            conn.data_to_send()  # nothing goes out on a cut stream
            while (event := conn.next_event()) is not None:
                if isinstance(event, Disconnected):
                    self._ended(link, event)
        if self._link is link:
            self._drop(link, reset=True)
        return None

    def _close_link(self, link: Link) -> None:
        """CONT 1→0 on the current link: close_notify and FIN, then release the socket.

        Like the CPU's TSEND_C, the close does not wait for the partner's answer (its
        close_notify and FIN): what the partner sends after our close is discarded by TRCV_C
        anyway, and waiting would cost every connection a round trip. What has already arrived
        (say a TLS 1.3 session ticket) is still read, without blocking.
        """
        if self._intact(link) is None:
            return
        conn = link.conn
        if not conn.ended:
            now = time.monotonic()
            conn.close(now=now)
            self._flush_quietly(link)
            error = link.read_available(self._buffer, self._view)
            if error is not None:
                self._lost(link, error)
            else:
                if not conn.ended:
                    conn.receive_data(b"", now)  # our socket goes now: the transport ended
                self._process(link)
        if self._link is link:
            self._drop(link, reset=False)

    def _interrupt_reader(self, link: Link | None = None) -> None:
        """Wake a thread blocked in receive() on ``link``'s socket (default: the current one)
        — a close or control from elsewhere.

        Only a receive() is woken: the watcher holds the lock for a moment at a time, and
        shutting the socket's read side under it would look like the partner's close (80C5).
        """
        if not self._readers:
            return
        if self._io.acquire(blocking=False):
            self._io.release()
            return
        if link is None:
            link = self._link
        if link is not None:
            shutdown_quietly(link.sock, socket.SHUT_RD)

    # ------------------------------------------------------------------------------ the watcher

    def _wake(self) -> None:
        waker = self._waker
        if waker is not None:
            waker.wake()

    def _start_watcher(self) -> None:
        if self._watcher is not None and self._watcher.is_alive():
            return
        if self._waker is None:
            self._waker = Waker()
        self._watcher = threading.Thread(
            target=self._watch, args=(self._waker,), name=f"ouc-{self.spec.name}-watcher"
        )
        self._watcher.daemon = True
        self._watcher.start()

    def _watch(self, waker: Waker) -> None:
        """Notice drops and timers while the program is not reading; re-establish."""
        try:
            while not self._closed.is_set():
                wait = self._watch_once(waker)
                if wait is None:
                    continue
                waker.sleep(None, wait)
        except Exception:  # a bug here must not pass silently, nor kill the process
            log.exception("the watcher of %s failed", self.spec.name)

    def _watch_once(self, waker: Waker) -> float | None:
        """One round; returns seconds to sleep on the wake pipe, or None to go on at once."""
        with self._io:
            if self._closed.is_set():
                return 0.0
            link = self._link
            if link is None or link.conn.ended:
                if not (self._wanted and self._ever_up and self.reconnect and self.cpu_running):
                    return 3600.0
                now = time.monotonic()
                if now < self._next_attempt:
                    return self._next_attempt - now
                try:
                    self._attempt(now + self.connect_timeout)
                except OucError as exc:
                    self._backoff(exc)
                return None
            timer_at = link.conn.next_timer()
            sock = link.sock
        wait = None if timer_at is None else max(0.0, timer_at - time.monotonic())
        # Delivering (deliver()): data wakes the watcher too, not only the partner's close.
        ready = waker.sleep(sock, wait) if self._deliver is None else waker.readable(sock, wait)
        with self._io:
            if self._link is not link or self._closed.is_set():
                return None
            now = time.monotonic()
            timer_at = link.conn.next_timer()
            if timer_at is not None and now >= timer_at:
                link.conn.handle_timer(now)
                self._process(link)
            if ready and self._link is link:
                self._read_available(link)
            if self._link is link and self.en_r != link.conn.enable_receive_input:
                self._apply_en_r(link)
        return None
