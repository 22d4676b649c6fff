"""The sans-I/O TLS engine: wire bytes in, events and wire bytes out, over libssl memory BIOs.

:class:`TLSEngine` implements :class:`ouc.transport.Transport` for one connection of a
:class:`~ouc.tls.TLSContext`. It never touches a socket or a clock: the driver feeds what it read
(``receive_data``), writes what the engine produced (``data_to_send``) and asks for events
(``next_event``); the PLC clock comes in through ``now``.

Every failure becomes one ``Failed(status, reason, reset)`` event with the PLC's 16#80Ex code;
nothing escapes as an exception except misuse of the API (sending before the handshake, a
verifier that is itself broken). The engine owns its libssl ``SSL`` object directly, through
the cffi binding pyOpenSSL and cryptography share (no pyOpenSSL ``Connection``); on the
record path that means one ``BIO_write`` + one ``SSL_read`` per record received, one
``SSL_write`` per send, one ``BIO_read`` per ``data_to_send`` — no WantRead exceptions, no
fixed-size buffers held by idle connections (small reads use a few module-wide scratch
buffers, taken from a list so that each belongs to one thread while libssl runs without the
GIL). In the data phase the connection takes plaintext through
:meth:`TLSEngine.set_plaintext_sink` rather than one event per chunk. What a handshake learns
(the peer's verdict, the negotiated :class:`SessionInfo`) is kept in :mod:`ouc.tls._engine_hs`.
Layer 2: no sockets, threads or clocks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from enum import Enum
from typing import Any

from OpenSSL import SSL

from ouc.device import Role
from ouc.errors import ConfigError, OucConnectionError, Status, TLSError
from ouc.tls import _libssl as _lib
from ouc.tls._context import ENGINES, TLSContext, TLSProfile, TLSSession
from ouc.tls._engine_hs import Handshake, build_info, reject, session_of, verify_peer
from ouc.tls._libssl import ffi as _ffi
from ouc.tls._peercheck import offered_cert_valid, resumed_client_problem
from ouc.tls._ssl import free_bios, get1_session
from ouc.tls._status import map_error_queue
from ouc.transport import (
    Closed,
    EventQueue,
    Failed,
    HandshakeComplete,
    PlaintextReceived,
    QueuedEvents,
    SessionInfo,
    TransportEvent,
)

__all__ = ["TLSEngine", "TLSState"]


class TLSState(Enum):
    """Where a connection's TLS layer is; the transition table below is the only way between."""

    IDLE = "idle"  # created, start() not called yet
    HANDSHAKING = "handshaking"
    ESTABLISHED = "established"  # application data flows both ways
    CLOSING = "closing"  # we sent close_notify; the peer may still send data
    CLOSED = "closed"  # the peer closed (close_notify or EOF), or we closed before the handshake
    FAILED = "failed"  # a Failed event was emitted; nothing more happens

    # Members are singletons compared by identity; hashing by identity too keeps the state
    # checks of every handshake and frame in C (Enum's own __hash__ is a Python call).
    __hash__ = object.__hash__


_TRANSITIONS: dict[TLSState, frozenset[TLSState]] = {
    TLSState.IDLE: frozenset({TLSState.HANDSHAKING, TLSState.CLOSED, TLSState.FAILED}),
    TLSState.HANDSHAKING: frozenset({TLSState.ESTABLISHED, TLSState.CLOSED, TLSState.FAILED}),
    TLSState.ESTABLISHED: frozenset({TLSState.CLOSING, TLSState.CLOSED, TLSState.FAILED}),
    TLSState.CLOSING: frozenset({TLSState.CLOSED, TLSState.FAILED}),
    TLSState.CLOSED: frozenset(),
    TLSState.FAILED: frozenset(),
}

# Hot-path names bound once (attribute lookups on the cffi lib cost as much as the calls).
_ESTABLISHED = TLSState.ESTABLISHED
_CLOSING = TLSState.CLOSING
_HANDSHAKING = TLSState.HANDSHAKING
_NULL = _ffi.NULL
_alloc = _ffi.new_allocator(should_clear_after_alloc=False)
_unpack = _ffi.unpack
_from_buffer = _ffi.from_buffer
_BIO_write = _lib.BIO_write
_BIO_read = _lib.BIO_read
_BIO_pending = _lib.BIO_get_mem_data  # BIO_CTRL_INFO: bytes held by a memory BIO
_BIO_S_MEM = _lib.BIO_s_mem()
_SSL_read = _lib.SSL_read
_SSL_write = _lib.SSL_write
_SSL_pending = _lib.SSL_pending
_SSL_get_error = _lib.SSL_get_error
_ERR_clear = _lib.ERR_clear_error
_WANT_READ = _lib.SSL_ERROR_WANT_READ
_WANT_WRITE = _lib.SSL_ERROR_WANT_WRITE
_ZERO_RETURN = _lib.SSL_ERROR_ZERO_RETURN
_SYSCALL = _lib.SSL_ERROR_SYSCALL
_SENT_SHUTDOWN = SSL.SENT_SHUTDOWN
_CHAR = "char[]"
# data_to_send() reads output of up to _SCRATCH bytes into a pooled buffer; a send() larger than
# _SMALL_SEND (whose records might not fit) takes the exact-size path instead.
_SCRATCH = 4096
_SMALL_SEND = _SCRATCH - 512
_SCRATCH_POOL = 8  # buffers kept: about the number of threads inside data_to_send() at once
_scratch: list[Any] = []


class TLSEngine(QueuedEvents):
    """One TLS connection, sans-I/O; implements :class:`ouc.transport.Transport`.

    Args:
        context: the endpoint's :class:`TLSContext` (its role makes this a client or a server).
        now: the emulated PLC clock; peer certificates are checked against it.
        peer_address: the address connected to, for the SAN check (``ExtTLSCapabilities`` bit 0);
            required when the resolved endpoint asks for that check.
        session: a :class:`TLSSession` from an earlier connection of the same context, offered
            for resumption (clients only). A session whose server certificate is outside its
            validity at ``now()`` is not offered.

    Raises:
        ConfigError: a SAN check without ``peer_address``; a session from another context or
            given to a server.
    """

    __slots__ = (
        "__weakref__",
        "_bio_in",
        "_bio_out",
        "_context",
        "_discard",
        "_events",
        "_failure",
        "_half_open",
        "_hs",
        "_info",
        "_large",
        "_now",
        "_park",
        "_session_at_handshake",
        "_sink",
        "_ssl",
        "_state",
        "peer_address",
    )

    def __init__(
        self,
        context: TLSContext,
        *,
        now: Callable[[], dt.datetime],
        peer_address: str | None = None,
        session: TLSSession | None = None,
    ) -> None:
        resolved = context.resolved
        if resolved.check_san and peer_address is None and not context.insecure:
            raise ConfigError(
                "the subjectAltName check (ExtTLSCapabilities bit 0) needs the peer address",
                path="ExtTLSCapabilities",
            )
        self._context = context
        self._now = now
        self.peer_address = peer_address
        # libssl directly, without pyOpenSSL's Connection wrapper: a pyOpenSSL memory-BIO loop
        # costs ~1.3x this engine's CPU per handshake and ~1.8x per 258-byte record, and a
        # Connection ~0.4 KB more per connection (pyOpenSSL 26.4). The SSL object is freed
        # with this engine (__del__; an ffi.gc wrapper would be 80 B more per connection),
        # and frees the BIOs it owns.
        ssl = _lib.SSL_new(_lib.context_ptr(context._ctx))
        if ssl == _NULL:
            raise TLSError("out of memory creating a TLS connection", status=Status.TEMPORARY)
        self._ssl = ssl
        bio_in = self._bio_in = _lib.BIO_new(_BIO_S_MEM)
        bio_out = self._bio_out = _lib.BIO_new(_BIO_S_MEM)
        if bio_in == _NULL or bio_out == _NULL:
            free_bios(bio_in, bio_out)
            raise TLSError("out of memory creating a TLS connection", status=Status.TEMPORARY)
        _lib.SSL_set_bio(ssl, bio_in, bio_out)
        # Like pyOpenSSL: retry transparently after a non-application record (a ticket).
        _lib.SSL_set_mode(ssl, _lib.SSL_MODE_AUTO_RETRY)
        # The callbacks (if any can run) find the engine by its SSL pointer; the map holds it
        # weakly, so a dropped connection is freed at once rather than by the cyclic collector.
        if context._callbacks:
            ENGINES[ssl] = self
        self._state = TLSState.IDLE
        self._events: EventQueue[TransportEvent] = EventQueue()
        self._sink: Callable[[bytes], None] | None = None
        self._hs: Handshake | None = Handshake()  # None once the handshake completed
        self._info: SessionInfo | None = None
        self._failure: Failed | None = None
        self._discard = self._half_open = False  # _half_open: see allow_half_open()
        self._large = False  # send() queued more than a scratch buffer holds
        self._park = False  # handshake done: give back the memory BIOs once both are empty
        self._session_at_handshake: Any = None  # the SSL_SESSION after the handshake
        if context.role is Role.ACTIVE:
            _lib.SSL_set_connect_state(self._ssl)
        else:
            _lib.SSL_set_accept_state(self._ssl)
        if session is not None:
            self._offer(session)

    def __del__(self, _free: Any = _lib.SSL_free) -> None:
        # _free is bound at definition: at interpreter exit the module's globals may be gone.
        # CPython calls __del__ once per object; SSL_free also frees the BIOs the SSL owns.
        try:
            ssl = self._ssl
        except AttributeError:  # __init__ failed before SSL_new returned
            return
        _free(ssl)

    # -- public state ------------------------------------------------------------------------

    @property
    def context(self) -> TLSContext:
        return self._context

    @property
    def state(self) -> TLSState:
        return self._state

    @property
    def info(self) -> SessionInfo | None:
        """What was negotiated, once the handshake is complete (else None)."""
        return self._info

    @property
    def failure(self) -> Failed | None:
        """The Failed event, once the connection failed (else None)."""
        return self._failure

    @property
    def session(self) -> TLSSession | None:
        """A session to offer on the next connection to the same peer (clients only).

        None on a server, before the handshake, when tickets are off, and on TLS 1.3 until the
        server's NewSessionTicket has been received (it follows the handshake).
        """
        return session_of(self)

    # -- Transport ---------------------------------------------------------------------------

    def start(self) -> None:
        """Begin the handshake; a client queues its ClientHello (take it with data_to_send)."""
        if self._state is not TLSState.IDLE:
            return
        self._set_state(TLSState.HANDSHAKING)
        if self._context.role is Role.ACTIVE:
            self._handshake()

    def receive_data(self, data: bytes) -> None:
        """Feed wire bytes (bytes, bytearray or memoryview); ``b""`` means the peer closed."""
        state = self._state
        if state is _ESTABLISHED or state is _CLOSING:
            if data:
                size = len(data)
                buffer = data if type(data) is bytes else _from_buffer(data)
                bio = self._bio_in
                if bio is None:  # parked since the handshake: the first record after it
                    if not self._unpark():
                        return
                    bio = self._bio_in
                if _BIO_write(bio, buffer, size) == size:
                    self._read_records(size)
                else:
                    self._out_of_memory()
            else:
                self._set_state(TLSState.CLOSED)
                self._events.append(Closed())
            return
        if state is TLSState.IDLE:
            self.start()
            state = self._state
        if state is _HANDSHAKING:
            if not data:
                self._ended_in_handshake(reset=False)
                return
            if self._feed(data):
                self._handshake()

    def receive_reset(self) -> None:
        """The peer reset the TCP connection (RST): the end of the stream as with
        ``receive_data(b"")``, but the events say reset (16#80C5 all the same)."""
        state = self._state
        if state is _ESTABLISHED or state is _CLOSING:
            self._set_state(TLSState.CLOSED)
            self._events.append(Closed(reset=True))
            return
        if state is TLSState.IDLE:
            self.start()
        if self._state is _HANDSHAKING:
            self._ended_in_handshake(reset=True)

    def _ended_in_handshake(self, *, reset: bool) -> None:
        """The stream ended during the handshake: by a FIN, or by a TCP ``reset`` (RST)."""
        what = "reset the connection (TCP RST)" if reset else "closed the connection"
        reason = f"the partner {what} during the TLS handshake"
        self._fail(Status.PARTNER_CLOSED, reason, reset=False)

    def set_plaintext_sink(self, sink: Callable[[bytes], None] | None) -> None:
        """Hand received plaintext straight to ``sink`` instead of queueing PlaintextReceived.

        The record path of a connection in its data phase: no event object per chunk and no
        ``next_event`` round trip. Plaintext still goes through the queue while other events
        wait there, so the order of everything the engine reports is unchanged. ``sink`` runs
        inside :meth:`receive_data` and must not call back into the engine; ``None`` restores
        the queue. Events other than plaintext (Closed, Failed) are always queued.
        """
        self._sink = sink

    def allow_half_open(self) -> None:
        """Let :meth:`send` go on after the partner's close_notify (RFC 8446 §6.1)."""
        self._half_open = True

    def send(self, data: bytes) -> None:
        """Encrypt application bytes; raises when the connection cannot carry data (see below).

        Raises:
            TLSError: before the handshake completed (16#80A3, no connection yet: TCON's table
                has no TLS code for it) or after a failure (its status).
            OucConnectionError: after the connection was closed (16#80C5 by the partner,
                16#80A3 by us), unless :meth:`allow_half_open` was called.
        """
        if self._state is not _ESTABLISHED:
            self._refuse_send()
        size = len(data)
        if not size:
            return
        if size > _SMALL_SEND:
            self._large = True
        if self._bio_out is None and not self._unpark():
            self._refuse_send()  # no memory for the BIOs: the connection failed (16#80C4)
        written = _SSL_write(self._ssl, data if type(data) is bytes else _from_buffer(data), size)
        if written != size:
            self._write_rest(data, written)

    def data_to_send(self) -> bytes:
        """Take the wire bytes produced so far (may be empty)."""
        if self._large:
            self._large = False
            data = self._take_output()
            if self._park:
                self._park_bios()
            return data
        bio = self._bio_out
        if bio is None:
            return b""  # parked: nothing was written since the handshake
        # Small output (a frame of a few hundred bytes, an alert, a ticket): one BIO_read into
        # a pooled scratch buffer, without asking the BIO for its size first. The pool is a
        # list so that a buffer is owned by one thread while libssl fills it without the GIL.
        try:  # not "if _scratch": another thread may take the last buffer in between
            scratch = _scratch.pop()
        except IndexError:
            scratch = _alloc(_CHAR, _SCRATCH)
        got = _BIO_read(bio, scratch, _SCRATCH)
        data = _unpack(scratch, got) if got > 0 else b""
        if len(_scratch) < _SCRATCH_POOL:
            _scratch.append(scratch)
        if got == _SCRATCH:
            data += self._take_output()  # a handshake flight larger than the buffer
        if self._park:
            self._park_bios()
        return b"" if self._discard else data

    def _park_bios(self) -> None:
        """After the handshake, once both are empty: give the memory BIOs back to libssl.

        A memory BIO keeps the capacity of its largest content (the handshake flights and
        tickets, a few KB), and even an empty pair is ~0.5 KB of C heap; a mock PLC holds
        thousands of connections that stay idle after the handshake. A parked connection has
        no BIOs at all; the first record in or out gives it a fresh pair (:meth:`_unpark`).
        Whatever the connection does, that is as many ``BIO_new`` calls as swapping in fresh
        BIOs here would be. ``SSL_set_bio`` frees the old pair.
        """
        if _BIO_pending(self._bio_in, _NULL) > 0 or _BIO_pending(self._bio_out, _NULL) > 0:
            return  # bytes in flight: try again at the next data_to_send()
        self._park = False
        _lib.SSL_set_bio(self._ssl, _NULL, _NULL)
        self._bio_in = self._bio_out = None

    def _unpark(self) -> bool:
        """A fresh pair of memory BIOs for a parked connection; False (and Failed) without
        memory."""
        bio_in = _lib.BIO_new(_BIO_S_MEM)
        bio_out = _lib.BIO_new(_BIO_S_MEM)
        if bio_in == _NULL or bio_out == _NULL:
            free_bios(bio_in, bio_out)
            self._fail(Status.TEMPORARY, "out of memory for a TLS connection's buffers", reset=True)
            return False
        _lib.SSL_set_bio(self._ssl, bio_in, bio_out)
        self._bio_in = bio_in
        self._bio_out = bio_out
        return True

    def _take_output(self) -> bytes:
        """Everything the output BIO holds, read in one piece of exactly its size."""
        bio = self._bio_out
        if bio is None:
            return b""
        size = _BIO_pending(bio, _NULL)
        if size <= 0:
            return b""
        buf = _alloc(_CHAR, size)
        _BIO_read(bio, buf, size)
        if self._discard:
            return b""
        return _unpack(buf, size)

    def close(self) -> None:
        """Send close_notify (once established); before that, just stop."""
        state = self._state
        if state is TLSState.IDLE or state is _HANDSHAKING:
            self._set_state(TLSState.CLOSED)
            return
        if state is TLSState.FAILED or state is _CLOSING:
            return
        if _lib.SSL_get_shutdown(self._ssl) & _SENT_SHUTDOWN:
            return
        if self._bio_out is None and not self._unpark():
            return
        if _lib.SSL_shutdown(self._ssl) < 0:
            _lib.ERR_clear_error()
        if state is _ESTABLISHED:
            self._set_state(_CLOSING)

    # -- internals ---------------------------------------------------------------------------

    def _set_state(self, new: TLSState) -> None:
        if new not in _TRANSITIONS[self._state]:
            raise TLSError(
                f"internal TLS state error: {self._state.value} -> {new.value}",
                status=Status.TLS_HANDSHAKE_FAILURE,
            )
        self._state = new

    def _offer(self, session: TLSSession) -> None:
        if self._context.role is not Role.ACTIVE:
            raise ConfigError("only a TLS client (active side) offers a session", path="session")
        if session.context is not self._context:
            raise ConfigError("the session belongs to another TLS context", path="session")
        peer = session.peer_cert
        if peer is not None and not offered_cert_valid(peer, self._now()):
            return  # a full handshake will report the expired certificate properly
        if _lib.SSL_set_session(self._ssl, session._session) != 1:
            _ERR_clear()
            return  # not resumable here: a full handshake instead
        if self._hs is not None:
            self._hs.offered = session

    def _feed(self, data: Any) -> bool:
        """Append received bytes to the input BIO; False (and Failed) when memory ran out."""
        size = len(data)
        buffer = data if type(data) is bytes else _from_buffer(data)
        if _BIO_write(self._bio_in, buffer, size) == size:
            return True
        self._out_of_memory()
        return False

    def _out_of_memory(self) -> None:
        self._fail(Status.TEMPORARY, "out of memory buffering received TLS bytes", reset=True)

    def _handshake(self) -> None:
        ssl = self._ssl
        # SSL_get_error() reads the thread's error queue: it must start empty.
        _ERR_clear()
        result = _lib.SSL_do_handshake(ssl)
        if result == 1:
            self._complete()
            return
        error = _SSL_get_error(ssl, result)
        if error in (_WANT_READ, _WANT_WRITE):
            return
        self._fail_openssl(error, handshaking=True)

    def _complete(self) -> None:
        self._set_state(_ESTABLISHED)
        self._park = True
        context = self._context
        # OpenSSL's verify and certificate callbacks run only during the handshake, and
        # renegotiation is off: the engine leaves their map (~130 B per idle connection).
        # Not with a key log: OpenSSL logs the new secret of every TLS 1.3 KeyUpdate, either
        # side's (CLIENT/SERVER_TRAFFIC_SECRET_N), long after the handshake.
        if context._keylog_ref is None and context._callbacks:
            ENGINES.pop(self._ssl, None)
        if context.role is Role.ACTIVE and context.session_tickets:
            # Hold a reference so that its address cannot be reused: a TLS 1.3 ticket arriving
            # later replaces the connection's session object, which is how `session` tells.
            self._session_at_handshake = get1_session(self._ssl)
        info = self._build_info()
        self._info = info
        self._hs = None  # the DER in info is all that stays of the peer per connection
        if info.resumed and not self._resumed_peer_still_valid(info):
            return
        self._events.append(HandshakeComplete(info))
        self._read_pending()

    def _resumed_peer_still_valid(self, info: SessionInfo) -> bool:
        """A resumed server side re-checks the client certificate against the PLC clock."""
        problem = resumed_client_problem(self._context, info, self._now())
        if problem is None:
            return True
        # The handshake is over, so there is no alert to send: close politely, or reset.
        self.close()
        self._fail(*problem, reset=None)
        return False

    def _read_pending(self) -> None:
        """Read whatever the input BIO holds (after the handshake completed).

        Reads even when nothing is pending: libssl's record layer keeps the previous key
        epoch's buffer BIO until its first read under the new keys, ~0.25 KB that an idle
        connection would otherwise hold for good. One ``SSL_read`` that wants more data costs
        about a microsecond per handshake.
        """
        self._read_records(_BIO_pending(self._bio_in, _NULL) + _SSL_pending(self._ssl))

    def _read_records(self, size: int) -> None:
        """Decrypt every complete record the input BIO holds; ``size`` bounds the plaintext.

        ``size`` is the number of bytes just fed (or pending): plaintext never exceeds the
        ciphertext it came from, so one buffer of that size (a pooled scratch buffer when that
        is large enough) holds everything, read with one ``SSL_read`` per record. The refill
        branch is the safety net for a record whose start arrived in an earlier chunk. OpenSSL
        reads records from the memory BIO one at a time (no read-ahead), so once a record was
        read and the BIO is empty nothing more can come out: the loop stops there instead of
        paying for a failing ``SSL_read``.
        """
        ssl = self._ssl
        bio = self._bio_in
        # SSL_get_error() reads the thread's error queue: it must start empty.
        _ERR_clear()
        pooled = size <= _SCRATCH
        if pooled:
            try:
                buf = _scratch.pop()
            except IndexError:
                buf = _alloc(_CHAR, _SCRATCH)
            size = _SCRATCH
        else:
            buf = _alloc(_CHAR, size)
        got = 0
        while True:
            n = _SSL_read(ssl, buf + got if got else buf, size - got)
            if n > 0:
                got += n
                if got < size:
                    if _BIO_pending(bio, _NULL) > 0:
                        continue  # more records, or an alert, wait in the BIO
                    # The read was not cut short by the buffer, so nothing waits inside SSL.
                    data = _unpack(buf, got)
                    if pooled and len(_scratch) < _SCRATCH_POOL:
                        _scratch.append(buf)
                    sink = self._sink
                    if sink is not None and not self._events:
                        sink(data)  # the record path: straight to the connection
                    else:
                        self._events.append(PlaintextReceived(data))
                    return
                self._emit(_unpack(buf, got))
                if pooled:
                    pooled = False
                    if len(_scratch) < _SCRATCH_POOL:
                        _scratch.append(buf)
                size = _BIO_pending(bio, _NULL) + _SSL_pending(ssl)
                if size <= 0:
                    return
                buf = _alloc(_CHAR, size)
                got = 0
                continue
            error = _SSL_get_error(ssl, n)
            break
        if got:
            self._emit(_unpack(buf, got))
        if pooled and len(_scratch) < _SCRATCH_POOL:
            _scratch.append(buf)
        if error == _WANT_READ:
            if pooled and not got and _BIO_pending(bio, _NULL) <= 0:
                # Records without application data (a client's TLS 1.3 tickets after the
                # handshake, a KeyUpdate): the connection is as idle as before, so its BIOs
                # go back once they are empty.
                self._park = True
            return
        if error == _ZERO_RETURN:
            self._set_state(TLSState.CLOSED)
            self._events.append(Closed())
            return
        self._fail_openssl(error, handshaking=False)

    def _emit(self, data: bytes) -> None:
        """Plaintext out: to the sink when one is set and nothing waits in the queue."""
        sink = self._sink
        if sink is None or self._events:
            self._events.append(PlaintextReceived(data))
        else:
            sink(data)

    def _write_rest(self, data: Any, written: int) -> None:
        view = memoryview(data)
        done = 0
        while written > 0:
            done += written
            if done == len(view):
                return
            rest = view[done:]
            written = _SSL_write(self._ssl, _from_buffer(rest), len(rest))
        self._fail_openssl(_SSL_get_error(self._ssl, written), handshaking=False)

    def _refuse_send(self) -> None:
        state = self._state
        if state is TLSState.IDLE or state is _HANDSHAKING:
            raise TLSError(
                "cannot send before the TLS handshake is complete",
                status=Status.NO_SUCH_CONNECTION,
            )
        if state is TLSState.FAILED and self._failure is not None:
            raise TLSError(
                f"the TLS connection failed: {self._failure.reason}", status=self._failure.status
            )
        if state is _CLOSING:
            raise OucConnectionError(
                "the connection is being closed", status=Status.NO_SUCH_CONNECTION
            )
        if self._half_open and _lib.SSL_get_shutdown(self._ssl) == SSL.RECEIVED_SHUTDOWN:
            return  # half-closed by the partner, and answering was asked for
        raise OucConnectionError("the partner closed the connection", status=Status.PARTNER_CLOSED)

    def _fail_openssl(self, error: int, *, handshaking: bool) -> None:
        hs = self._hs
        bug = hs.bug if hs is not None else None
        if hs is not None and bug is not None:
            hs.bug = None
            _lib.ERR_clear_error()
            self._fail(Status.TLS_CERT_INVALID, f"the peer verifier raised {bug!r}")
            raise bug
        cert_error = hs.cert_error if hs is not None else None
        if cert_error is not None:
            _lib.ERR_clear_error()
            status = cert_error.status or Status.TLS_CERT_INVALID
            self._fail(status, f"peer certificate refused: {cert_error.message}")
            return
        if error == _SYSCALL and _lib.ERR_peek_error() == 0:
            self._fail(Status.PARTNER_CLOSED, "the partner closed the connection", reset=False)
            return
        status, reason = map_error_queue(handshaking)
        self._fail(status, reason)

    def _fail(self, status: int, reason: str, *, reset: bool | None = None) -> None:
        """Emit Failed; ``reset`` None means "as the profile says" (strict resets)."""
        if reset is None:
            reset = self._context.profile is TLSProfile.STRICT
        if reset:
            # Like the firmware: not a single byte more (no alert), the driver resets.
            self._discard = True
            self._take_output()
        self._set_state(TLSState.FAILED)
        if self._context._callbacks:
            ENGINES.pop(self._ssl, None)
        failure = Failed(int(status), reason, reset)
        self._failure = failure
        self._events.append(failure)

    # The handshake's bookkeeping, bound from ouc.tls._engine_hs (the context's callbacks call
    # _reject and _verify_peer).
    _build_info = build_info
    _reject = reject
    _verify_peer = verify_peer

    def __repr__(self) -> str:
        return f"<TLSEngine {self._context.role.value} {self._state.value}>"
