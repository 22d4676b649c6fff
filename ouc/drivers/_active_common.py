"""What the blocking and asyncio active endpoints (TSEND_C, TLS client) have in common.

:class:`ActiveEndpoint <ouc.drivers.ActiveEndpoint>` and :class:`AsyncActiveEndpoint
<ouc.drivers.AsyncActiveEndpoint>` differ in how they do I/O, not in what they report: the
read-out properties (``connected``, ``info``, ``status_history()`` ...), where the next attempt
goes, which local address to bind, and the records of attempts and retries are the same, so
they live once here in :class:`ActiveCommon`. The I/O (and so the link type) stays with each
driver; this module does none.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Generic, Protocol, TypeVar

from ouc.conn import BlockOutputs, Connection, ConnectionEvent, ConnState, StatusEntry
from ouc.device import Role
from ouc.drivers._records import Recorder, RecordKind
from ouc.drivers._setup import AddressMap, EndpointSpec
from ouc.errors import ConfigError, OucConnectionError, OucError, Status
from ouc.tls import TLSSession
from ouc.transport import SessionInfo

__all__ = ["CONT_HINT", "RUN_HINT", "ActiveCommon", "LinkView", "remote_of"]

#: How the active endpoints' errors name the call that brings the connection back: after the
#: CPU's STOP (:meth:`cpu_run`), after CONT 1→0 (:meth:`connect`). ``ouc plc`` puts its own
#: command in their place (``run``, ``cont 1``).
RUN_HINT = "cpu_run() brings it back"
CONT_HINT = "call connect()"


class LinkView(Protocol):
    """What :class:`ActiveCommon` reads of a driver's link (one TCP connection)."""

    @property
    def conn(self) -> Connection: ...

    @property
    def local(self) -> str | None: ...

    @property
    def serial(self) -> int: ...


L = TypeVar("L", bound=LinkView)


def remote_of(spec: EndpointSpec, passive_class: str) -> str:
    """The plant address an active block connects to; ConfigError for a passive block.

    Args:
        spec: the endpoint's setup.
        passive_class: what the error names as the class to use for a passive block.
    """
    if spec.role is not Role.ACTIVE:
        raise ConfigError(
            f"the block has ActiveEstablished FALSE: that is the passive side, use {passive_class}",
            path="ActiveEstablished",
        )
    remote = spec.block.remote_address or getattr(spec.block, "remote_qdn", None)
    if not remote:
        raise ConfigError("the block names no partner to connect to", path="RemoteAddress")
    return remote


class ActiveCommon(Generic[L]):
    """The read-out state and the records shared by both active endpoints.

    The subclass's ``__init__`` sets the attributes declared here; ``_link`` is the established
    link (None while down), ``_history`` keeps the STATUS entries of links that ended.
    """

    spec: EndpointSpec
    address_map: AddressMap
    connect_to: tuple[str, int] | None
    remote_plant: str
    remote_port: int
    retry_delay: float
    max_retry_delay: float
    reconnects: int
    connections: int
    _bind: tuple[str, int] | None
    _recorder: Recorder
    _link: L | None
    _last_conn: Connection | None
    _history: deque[StatusEntry]
    _session: TLSSession | None
    _wanted: bool
    _last_error: OucError | None
    # CONT stayed 1 since a connection was last set up: the next one is a re-establishment
    # (7002 without the initial call's 7001).
    _started: bool = False

    # ------------------------------------------------------------------------------ public state

    @property
    def connected(self) -> bool:
        """True while a connection is established (STATUS 7004 and data may flow)."""
        link = self._link
        return link is not None and link.conn.state is ConnState.CONNECTED

    @property
    def cont(self) -> bool:
        """CONT: True from :meth:`connect` until :meth:`disconnect` (the endpoint then keeps
        the connection up, re-establishing it when it drops)."""
        return self._wanted

    @property
    def connection(self) -> Connection | None:
        """The current (or last) sans-I/O connection."""
        link = self._link
        return link.conn if link is not None else self._last_conn

    @property
    def info(self) -> SessionInfo | None:
        """What the current (or last) connection negotiated: TLS version, cipher, peer."""
        conn = self.connection
        return conn.info if conn is not None else None

    @property
    def session(self) -> TLSSession | None:
        """The TLS session offered on the next connection (None until a ticket arrived)."""
        return self._session

    @property
    def last_error(self) -> OucError | None:
        """Why the last connection attempt or connection failed."""
        return self._last_error

    @property
    def local_address(self) -> str | None:
        """Our ``host:port`` of the current connection."""
        link = self._link
        return link.local if link is not None else None

    @property
    def serial(self) -> int:
        """The current connection's number within the endpoint (``connection`` in its records);
        0 while down."""
        link = self._link
        return link.serial if link is not None else 0

    @property
    def peer_text(self) -> str:
        """The partner as the records name it: ``plant-address:port``."""
        return f"{self.remote_plant}:{self.remote_port}"

    def target(self) -> tuple[str, int]:
        """Where the next connection attempt goes (after the address map)."""
        if self.connect_to is not None:
            return self.connect_to
        return self.address_map.to_local(self.remote_plant, self.remote_port)

    @property
    def tsend(self) -> BlockOutputs | None:
        """TSEND_C's outputs (DONE, BUSY, ERROR, STATUS) on the current (or last) connection."""
        conn = self.connection
        return conn.tsend if conn is not None else None

    @property
    def trcv(self) -> BlockOutputs | None:
        """TRCV_C's outputs (with RCVD_LEN) on the current (or last) connection."""
        conn = self.connection
        return conn.trcv if conn is not None else None

    def status_history(self) -> list[StatusEntry]:
        """Every STATUS change of every connection so far, oldest first.

        Safe from any thread without waiting for a blocked ``receive()``: copying a deque is
        one step under the GIL, and a link moves its history here before it is dropped.
        """
        entries = list(self._history)
        link = self._history_link()
        if link is not None:
            entries += list(link.conn.status_history)
        return entries

    def status_sequence(self, block: str = "TSEND_C") -> list[int]:
        """The STATUS values ``block`` went through across connections (repeats folded)."""
        values: list[int] = []
        for _, name, status in self.status_history():
            if name == block and (not values or values[-1] != status):
                values.append(status)
        return values

    def format_sequence(self, block: str = "TSEND_C") -> str:
        """``7000 → 7001 → 7004 → 7005 → 0000`` across connections."""
        return " → ".join(f"{status:04X}" for status in self.status_sequence(block))

    # ------------------------------------------------------------------------------ shared steps

    def _cont_on(self) -> None:
        """CONT 0→1 (connect() while not connected): the next connection starts with 7001."""
        if not self._wanted:
            self._started = False

    def _next_reestablishes(self) -> bool:
        """Whether the connection about to be set up re-establishes (CONT stayed 1)."""
        started, self._started = self._started, True
        return started

    def _history_link(self) -> L | None:
        """The link whose live STATUS history :meth:`status_history` appends."""
        return self._link

    def _bind_address(self) -> tuple[str, int] | None:
        """The local address to bind before connecting, or None for the system's choice."""
        if self._bind is not None:
            return self._bind
        # ISO-on-TCP's port 102 is the partner's (the listener's); its own side is ephemeral
        # like a PC's.
        port = 0 if self.spec.config.iso is not None else self.spec.block.local_port or 0
        own = self.spec.plant_address
        if own is not None:
            host, _ = self.address_map.to_local(own, port)
            if host != own:
                return host, port
        return ("0.0.0.0", port) if port else None

    def _down_error(self) -> OucError:
        """The error for a connection that was not re-established in time."""
        last = self._last_error
        why = f": {last.message}" if last is not None else ""
        return OucConnectionError(
            f"the connection is down and was not re-established in time{why}",
            status=(last.status if last is not None else None) or Status.TEMPORARY,
        )

    def _record(self, link: L, event: ConnectionEvent) -> None:
        """Record a connection event of ``link`` (7004, the end, a failed receive)."""
        self._recorder.connection_event(
            event, link.conn, peer=self.peer_text, local=link.local, serial=link.serial
        )

    def _record_attempt(self, host: str, port: int) -> None:
        """Record that a TCP connection attempt to ``host:port`` starts.

        While CONT stays 1 after a connection, each attempt shows 7002 on both blocks (TCON
        establishing again), also when it fails before a connection exists to report it; the
        ``connecting`` record carries the same code (TIA help, TSEND_C STATUS table: 7001 is
        only the initial call).
        """
        status = Status.CONNECTING
        if self._started and self._link is None:
            now = time.monotonic()
            status = Status.IN_PROGRESS
            waiting = int(status)
            self._history.extend(((now, "TSEND_C", waiting), (now, "TRCV_C", waiting)))
        self._recorder.emit(
            RecordKind.CONNECTING,
            status,
            peer=self.peer_text,
            reason=f"to {host}:{port}",
        )

    def _attempt_failed(self, error: OucError) -> None:
        """Keep ``error`` as :attr:`last_error` and record the failed attempt.

        While CONT stays 1 the initial call is over: the next attempt, also one that follows a
        connect refused before any TCP connection, establishes again with 7002, not a second
        7001 (TIA help, TSEND_C STATUS table: 7001 is only the initial call).
        """
        self._last_error = error
        if self._wanted:
            self._started = True
        self._recorder.emit(
            RecordKind.FAILED,
            error.status or Status.NETWORK_ERROR,
            peer=self.peer_text,
            reason=error.message,
        )

    def _next_delay(self, delay: float) -> float:
        """The back-off after a failed re-establishment: doubling, within the bounds."""
        return min(self.max_retry_delay, max(self.retry_delay, delay * 2))

    def _record_retry(self, exc: OucError, delay: float) -> None:
        """Record a failed re-establishment and when the next attempt comes."""
        self._recorder.emit(
            RecordKind.RETRYING,
            exc.status or Status.TEMPORARY,
            peer=self.peer_text,
            reason=f"next attempt in {delay:g} s",
        )
