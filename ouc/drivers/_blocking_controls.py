"""The PLC program's controls on the blocking endpoints: CONT, REQ, EN_R, COM_RST and the
CPU's STOP/RUN, callable from any thread.

:class:`ActiveControls` (TSEND_C side): the thread that holds the connection carries a control
out — the caller itself, or a thread blocked in ``receive()``, woken for it — and COM_RST and
RUN establish the connection again at once. ``deliver()`` is TRCV_C called in every cycle: the
watcher thread reads and hands each frame on, so no thread blocks in ``receive()``.

:class:`PassiveControls` (TRCV_C side): each accepted connection has a serving thread, which
holds the connection's guard except while it waits in ``recv``. EN_R and REQ take the guard and
act on the :class:`~ouc.conn.Connection` at once, from the caller's thread: the frames EN_R 0→1
hands on are answered and REQ's frame is sent before the call returns, whether or not the
partner sends anything. An action that ends the connection (COM_RST, STOP, CONT 1→0) is left in
the connection's ``stopping`` slot (the one the record path tests anyway) and wakes the thread
by shutting the socket's read side — which the peer does not see. Listening follows the CPU:
STOP closes the port, RUN opens it again on the same address.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ouc.conn import Connection, ConnState, FrameReceived, ReceiveFailed
from ouc.drivers._passive_common import LISTENING_STATUS
from ouc.drivers._records import Recorder, RecordKind, sequences_of
from ouc.drivers._setup import EndpointSpec, PeerContext
from ouc.drivers._sockio import shutdown_quietly
from ouc.errors import FramingError, OucConnectionError, OucError, Status, WaitTimeoutError

__all__ = ["CONTROL_WAIT", "ActiveControls", "PassiveControls", "Served"]

#: Seconds a passive endpoint's COM_RST, STOP or CONT 1→0 waits for the connections it ends to
#: record their ends (a serving thread stuck in ``sendall`` to a partner that does not read
#: holds it up to its ``send_timeout``).
CONTROL_WAIT = 5.0

log = logging.getLogger("ouc.drivers")

_CONNECTED = ConnState.CONNECTED

ReceivedEvent = FrameReceived | ReceiveFailed


class Served:
    """One accepted TCP connection of :class:`~ouc.drivers.PassiveEndpoint` and its sans-I/O
    machine, owned by its serving thread; the controls act on it through its guard."""

    __slots__ = (
        "aborted",
        "conn",
        "done",
        "guard",
        "local",
        "peer",
        "peer_text",
        "serial",
        "slot",
        "sock",
        "stopping",
        "thread",
    )

    def __init__(
        self, sock: socket.socket, conn: Connection, peer: PeerContext, serial: int, local: str
    ) -> None:
        self.sock = sock
        self.conn = conn
        self.peer = peer
        self.peer_text = f"{peer.address}:{peer.port}"
        self.serial = serial
        self.local = local
        # False, or why the serving thread must end the connection: "endpoint" (stop()),
        # "com_rst", "cpu_stop" or "cont_off" (the PLC controls), "ended" (a control's own
        # work ended it). One slot: the record path tests it once. Written under the
        # endpoint's lock, and only ever from False to a reason.
        self.stopping: str | bool = False
        # Held by the serving thread except while it waits in recv: a control (EN_R, REQ)
        # takes it to act on the connection at once, from its own thread.
        self.guard = threading.Lock()
        self.aborted = False  # a behaviour raised ResetConnection: reset the socket
        self.slot = False  # holds a slot of the endpoint's shared ConnectionSlots
        # Set by the serving thread (the one that made this object) once the connection's
        # end is recorded and its socket closed: a control that ended it waits for that.
        self.done = threading.Event()
        self.thread = threading.get_ident()


class PassiveControls:
    """Mixed into :class:`~ouc.drivers.PassiveEndpoint`."""

    if TYPE_CHECKING:
        _lock: threading.Lock
        _served: dict[int, Served]
        _lsock: socket.socket | None
        _stopped: bool
        _address: tuple[str, int] | None
        _recorder: Recorder

        def _open_listener(self, address: tuple[str, int]) -> None: ...
        def _local_text(self) -> str | None: ...
        def _pump_quietly(self, served: Served) -> None: ...
        def _pump(self, served: Served) -> bool: ...
        def _flush(self, served: Served) -> bool: ...
        def _listening_reason(self) -> str: ...

    def _init_controls(self) -> None:
        self.cpu_running = True  # the CPU's operating state: RUN (True) or STOP
        self.cont = True  # CONT of the endpoint's block: listening and serving
        self.en_r = True  # TRCV_C's EN_R on every connection

    # ------------------------------------------------------------------------------ controls

    def com_rst(self) -> int:
        """COM_RST 0→1: reset every established connection (the peer sees a reset unless the
        spec says ``com_rst="fin"``); the passive side then waits for the partner again.
        Connections not yet established are left alone (TIA help). Returns how many, once
        their ends are recorded."""
        return self._signal("com_rst", established_only=True)

    def cpu_stop(self) -> None:
        """The CPU goes to STOP: every connection ends (``stop="fin"``: close_notify and FIN,
        inference) and the port is closed until :meth:`cpu_run`.

        Returns once the connections' ends are recorded (at most :data:`CONTROL_WAIT`
        seconds), so the records read ``stopped``, ``closed`` ..., and a :meth:`cpu_run` that
        follows adds its ``listening`` after them, as on the asyncio driver.
        """
        with self._lock:
            if not self.cpu_running or self._stopped:
                return
            self.cpu_running = False
        self._close_port("the CPU went to STOP")
        self._signal("cpu_stop")

    def cpu_run(self) -> None:
        """The CPU goes to RUN: listening again on the same address (while CONT = 1)."""
        with self._lock:
            if self.cpu_running or self._stopped:
                return
            self.cpu_running = True
        self._reopen_port("the CPU went to RUN")

    def set_cont(self, on: bool) -> None:
        """CONT of the passive block: 1→0 closes every connection in order (7003 → 0003) and
        the port; 0→1 listens again."""
        with self._lock:
            if on == self.cont or self._stopped:
                return
            self.cont = on
        if on:
            self._reopen_port("CONT 0→1")
        else:
            self._close_port("CONT 1→0")
            self._signal("cont_off")

    def enable_receive(self, on: bool) -> None:
        """EN_R of TRCV_C on every connection, at once. With EN_R = 0 received frames wait
        (TRCV_C shows 7004); 0→1 hands them on (and the behaviour answers them) before this
        returns."""
        self.en_r = on
        with self._lock:
            targets = list(self._served.values())
        for served in targets:
            with served.guard:
                if served.stopping or served.conn.ended:
                    continue
                served.conn.enable_receive(on, time.monotonic())
                self._pump_control(served)

    def send(self, data: bytes, length: int = 0) -> int:
        """REQ of the server's TSEND_C: send ``length`` bytes of ``data`` (LEN; 0: all of
        it) to every established connection, at once. Returns to how many it was sent.

        Raises:
            FramingError: LEN beyond the device's limit (16#8085) or beyond DATA (16#8088);
                nothing is sent.
            OucConnectionError: 16#80A3 when no connection is established.
        """
        with self._lock:
            targets = [s for s in self._served.values() if s.conn.state is _CONNECTED]
        if not targets:
            raise OucConnectionError(
                "no connection is established to send to", status=Status.NO_SUCH_CONNECTION
            )
        data = bytes(data)
        sent = 0
        for served in targets:
            with served.guard:
                conn: Connection = served.conn
                if served.stopping or conn.state is not _CONNECTED:
                    continue  # ended since
                try:
                    conn.send(data, length, now=time.monotonic())
                except FramingError:
                    raise  # LEN is the caller's: the same on every connection
                except OucError as exc:
                    self._recorder.send_failed(
                        exc,
                        conn,
                        len(data) if length == 0 else length,
                        peer=served.peer_text,
                        local=served.local,
                        serial=served.serial,
                        answer=False,
                    )
                    continue
                self._pump_control(served)
                sent += 1
        return sent

    # ------------------------------------------------------------------------------ plumbing

    def _prepare(self, conn: Connection) -> None:
        """A new connection: EN_R as the endpoint has it now."""
        if not self.en_r:
            conn.enable_receive(False, time.monotonic())

    def _signal(self, action: str, *, established_only: bool = False) -> int:
        """Leave ``action`` for each serving thread and wake it: its connection ends. Returns
        how many, once their serving threads recorded the ends (bounded by
        :data:`CONTROL_WAIT`; a behaviour calling a control does not wait for its own)."""
        with self._lock:
            targets = [
                s
                for s in self._served.values()
                if not established_only or s.conn.state is _CONNECTED
            ]
            for served in targets:
                if served.stopping:
                    continue  # already ending
                served.stopping = action
                shutdown_quietly(served.sock, socket.SHUT_RD)
        deadline = time.monotonic() + CONTROL_WAIT
        me = threading.get_ident()
        for served in targets:
            if served.thread != me and not served.done.wait(max(0.0, deadline - time.monotonic())):
                log.warning(
                    "%s: connection %s did not end within %g s of %s",
                    self._recorder.device,
                    served.serial,
                    CONTROL_WAIT,
                    action,
                )
                break
        return len(targets)

    def _pump_control(self, served: Served) -> None:
        """After a control acted on a connection (its guard held): handle the events and send
        what it produced; when that ended the connection, wake the serving thread to finish."""
        if self._pump(served):
            with self._lock:
                if not served.stopping:
                    served.stopping = "ended"
            shutdown_quietly(served.sock, socket.SHUT_RD)

    def _control_ended(self, served: Served) -> bool:
        """In the serving thread: end the connection for COM_RST, STOP or CONT 1→0; returns
        whether to reset the socket."""
        conn: Connection = served.conn
        now = time.monotonic()
        action = served.stopping
        if action == "com_rst":
            conn.reset(now)
        elif action == "cpu_stop":
            conn.stop(now)
        else:
            conn.close(now)
            if not conn.ended:
                conn.receive_data(b"", now)  # the socket goes now: the close is complete
        try:
            data = conn.data_to_send()
            if data:
                served.sock.sendall(data)
        except OSError:
            pass  # the peer is gone already; ending is all that is left
        self._pump_quietly(served)
        if action == "cont_off":
            self._recorder.emit(
                RecordKind.CLOSED,
                Status.NO_JOB,
                peer=served.peer_text,
                local=served.local,
                reason="CONT 1→0",
                sequences=sequences_of(conn),
                connection=served.serial,
            )
        end = conn.disconnect
        return end is not None and end.reset

    def _close_port(self, reason: str) -> None:
        with self._lock:
            lsock, self._lsock = self._lsock, None
        if lsock is None:
            return
        shutdown_quietly(lsock, socket.SHUT_RDWR)  # wakes the acceptors (EINVAL on Linux)
        lsock.close()
        self._recorder.emit(
            RecordKind.STOPPED, Status.NO_JOB, local=self._local_text(), reason=reason
        )

    def _reopen_port(self, reason: str) -> None:
        with self._lock:
            if self._lsock is not None or not (self.cpu_running and self.cont):
                return
            if self._address is None:
                return  # never started: start() listens
            self._open_listener(self._address)
        self._recorder.emit(
            RecordKind.LISTENING,
            LISTENING_STATUS,
            local=self._local_text(),
            reason=f"{reason}; {self._listening_reason()}",
        )


class ActiveControls:
    """Mixed into :class:`~ouc.drivers.ActiveEndpoint`: COM_RST, STOP/RUN, CONT and EN_R."""

    if TYPE_CHECKING:
        _io: threading.RLock
        _link: Any
        _wanted: bool
        _started: bool
        cpu_running: bool
        en_r: bool
        connect_timeout: float
        _pending_control: str | None
        _control_done: threading.Event
        _control_turn: threading.Lock
        _control_take: threading.Lock
        _reader_waker: Any
        _deliver: Callable[[ReceivedEvent], None] | None
        _frames: deque[ReceivedEvent]
        spec: EndpointSpec

        @property
        def connection(self) -> Connection | None: ...

        def _read_available(self, link: Any) -> None: ...
        def connect(self, timeout: float | None = None) -> Any: ...
        def disconnect(self) -> None: ...
        def _interrupt_reader(self, link: Any = None) -> None: ...
        def _wake(self) -> None: ...
        def _process(self, link: Any) -> None: ...
        def _drop(self, link: Any, *, reset: bool) -> None: ...
        def _attempt(self, deadline: float) -> Any: ...
        def _backoff(self, exc: OucError) -> None: ...

    def com_rst(self) -> None:
        """COM_RST 0→1: reset the established connection (the peer sees a reset unless the
        spec says ``com_rst="fin"``) and establish it again at once (7002 → 0001). No effect
        without an established connection. Safe from any thread: a blocked :meth:`receive`
        is woken and carries on over the new connection."""
        self._control("com_rst")

    def cpu_stop(self) -> None:
        """The CPU goes to STOP: the connection ends (``stop="fin"``: close_notify and FIN,
        inference) and is not re-established until :meth:`cpu_run`."""
        self._control("cpu_stop")

    def cpu_run(self) -> None:
        """The CPU goes to RUN: while CONT = 1 the connection is established again (from the
        initial call, 7001: the startup initialises the blocks)."""
        with self._io:
            if self.cpu_running:
                return
            self.cpu_running = True
            self._started = False
            if self._wanted:
                self._reestablish_now()

    def set_cont(self, on: bool) -> None:
        """CONT: 0→1 is :meth:`connect`, 1→0 :meth:`disconnect`."""
        if on:
            self.connect()
        else:
            self.disconnect()

    def enable_receive(self, on: bool) -> None:
        """EN_R of TRCV_C: with 0 received frames wait (7004) until it is 1 again.

        Safe from any thread and never waits for a :meth:`receive`: the thread holding the
        connection applies EN_R before it handles further bytes, and a receive() waiting
        while EN_R = 0 is woken for it (so EN_R 0→1 hands held frames to it at once)."""
        self.en_r = on
        if self._io.acquire(blocking=False):
            try:
                link = self._link
                if link is not None and not link.conn.ended:
                    self._apply_en_r(link)
            finally:
                self._io.release()
            return
        waker = self._reader_waker
        if waker is not None:
            waker.wake()
        self._wake()  # the watcher applies it when no receive() does

    def deliver(self, callback: Callable[[ReceivedEvent], None] | None) -> None:
        """Receive continuously: each frame (or failed receive) goes to ``callback`` as soon as
        it is complete, with no :meth:`receive` call — TRCV_C with EN_R = 1 called in every
        cycle of the PLC program, as under ``ouc connect --control``.

        The watcher thread then reads whatever arrives (otherwise it only watches for the
        partner's close), holding the connection only for that moment, so :meth:`send` and the
        controls from other threads go out at once. EN_R = 0 still holds frames (TRCV_C 16#7004)
        until EN_R is 1 again. Frames already waiting go to ``callback`` now; it is called from
        the thread that read the frame (keep it quick). None: frames wait for :meth:`receive`
        again. Never waits for a :meth:`receive` in another thread (that one takes the frames it
        is reading; the watcher hands on the rest).
        """
        self._deliver = callback
        if self._io.acquire(blocking=False):
            try:
                if callback is not None:
                    self._hand_on(callback)
            finally:
                self._io.release()
        else:
            waker = self._reader_waker
            if waker is not None:
                waker.wake()
        self._wake()

    def unread(self) -> int:
        """Bytes received and not handed out: frames waiting for :meth:`receive`, an incomplete
        frame, bytes held while EN_R = 0 — what a close drops, as TRCV_C does. What has arrived
        is read first, without blocking."""
        with self._io:
            link = self._link
            if link is not None and not link.conn.ended:
                self._read_available(link)
            waiting = sum(e.rcvd_len for e in self._frames if type(e) is FrameReceived)
            conn = self.connection
            return waiting + (conn.buffered if conn is not None else 0)

    def _hand_on(self, callback: Callable[[ReceivedEvent], None]) -> None:
        """Hand the waiting frames to :meth:`deliver`'s callback (with ``_io`` held)."""
        frames = self._frames
        while frames:
            event = frames.popleft()
            try:
                callback(event)
            except Exception:  # the user's callback must not end the connection
                log.exception("the deliver() callback of %s failed", self.spec.name)

    def _apply_en_r(self, link: Any) -> None:
        """With ``_io`` held: the connection takes EN_R as the endpoint has it now."""
        link.conn.enable_receive(self.en_r, time.monotonic())
        self._process(link)

    def _control(self, action: str) -> None:
        """Leave ``action`` for whoever holds the connection: this thread when the lock is
        free (or held only for a moment, by the watcher), else the thread blocked in
        :meth:`receive`, woken for it. One control at a time; bounded by ``connect_timeout``.

        Raises:
            WaitTimeoutError: the connection stayed busy until the deadline (no PLC status); the
                control is then not carried out at all.
        """
        with self._control_turn:
            link = self._link  # only this connection's reader is woken, never a newer one's
            done = self._control_done = threading.Event()
            self._pending_control = action
            deadline = time.monotonic() + self.connect_timeout + 2.0
            while not done.is_set():
                if self._io.acquire(timeout=0.05):
                    try:
                        self._run_control()
                    finally:
                        self._io.release()
                    return
                if time.monotonic() >= deadline:
                    with self._control_take:
                        taken = self._pending_control is None
                        self._pending_control = None
                    if taken:
                        return  # a reader took it just now and carries it out
                    raise WaitTimeoutError(
                        f"{action}: the connection stayed busy; the control was not carried out"
                    )
                if link is not None and not done.is_set():
                    self._interrupt_reader(link)

    def _run_control(self) -> None:
        """Carry out a pending COM_RST or STOP (with ``_io`` held, by whoever gets it first)."""
        with self._control_take:
            action, self._pending_control = self._pending_control, None
            self._control_done.set()
        if action is None:
            return
        link = self._link
        now = time.monotonic()
        if action == "cpu_stop":
            if not self.cpu_running:
                return
            self.cpu_running = False
            if link is not None and not link.conn.ended:
                link.conn.stop(now)
                self._process(link)
            if self._link is not None:
                self._drop(self._link, reset=False)
            return
        if link is None or link.conn.state is not _CONNECTED:
            return  # COM_RST without a connection has no effect
        link.conn.reset(now)
        self._process(link)
        if self._link is link:
            self._drop(link, reset=True)
        self._reestablish_now()

    def _reestablish_now(self) -> None:
        """Establish again at once; on failure the watcher (or the next call) retries."""
        try:
            self._attempt(time.monotonic() + self.connect_timeout)
        except OucError as exc:
            self._backoff(exc)
