"""A WinCC-style channel: one PC program holding named secure connections to many PLCs (§8).

:class:`Channel` is layer 3, built on the blocking driver: every establishment is one
:class:`~ouc.drivers.ActiveEndpoint` (TSEND_C side, TLS client) made fresh from the connection's
block, so that whatever changed since the last establishment applies to the next one and never
to a connection that is up (domain.md §8):

- trust: the device certificate store (manual trust, ``trusted/crl/``) and the imported CAs are
  read at every handshake; the channel never resumes a TLS session, so every establishment
  verifies the PLC certificate in full;
- its own client certificate is looked up in the project store at every establishment;
- an established connection stays up when a certificate expires by the (injected) clock.

Each connection has one worker thread that owns its establishment and teardown (so a slow or
unreachable PLC never delays another), and the driver's watcher thread per live connection that
notices drops. The driver's own re-establishment is off: the worker re-establishes instead (at
once after a drop, then with a doubling back-off), with a fresh endpoint each time.

The control values ``ForceConnectionState``, ``AlternativeAddress`` and
``UseAlternativeAddress`` are set with :meth:`Channel.set`; the address values apply at the next
establishment, so the documented change is: force 0, use-alternative 1, force 1.

Firmware rule (§8 "both CPUs must run firmware ≥ V2.9 for a secure change"): an establishment
through the alternative address of a secure block checks both CPUs' profiles (``cpus``; default
S7-1500 V3.1). When either is older than S7-1500 V2.9 / S7-1200 V4.5 (the firmware with TLS 1.3
and secure HMI communication), the attempt is refused with 16#80E1 — unless the channel was made
with ``allow_unsecured=True``, which connects plain TCP and reports the connection as
``not secured``. Insecure modes are explicit, never a silent fallback (style rule 6).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from cryptography import x509

from ouc.certs import CertStore, DeviceCertStore
from ouc.channel._address import AlternativeAddress
from ouc.channel._settings import (
    ChannelBlock,
    ChannelConnection,
    check_channel_block,
    with_remote,
    without_tls,
)
from ouc.channel._state import (
    ALTERNATIVE_ADDRESS,
    FORCE_CONNECTION_STATE,
    ChannelEvent,
    ChannelRow,
    LinkState,
    canonical_variable,
    check_transition,
    parse_flag,
)
from ouc.channel._trust import ChannelVerifier, TrustedCAs, client_identity
from ouc.device import Device, TLSVersion
from ouc.drivers import (
    ActiveEndpoint,
    AddressMap,
    Clock,
    EndpointRecord,
    EndpointSpec,
    RecordKind,
    system_clock,
)
from ouc.errors import ConfigError, OucConnectionError, OucError, Status, TLSError
from ouc.tls import TLSProfile
from ouc.transport import SessionInfo

__all__ = ["Channel"]

log = logging.getLogger("ouc.channel")

_HISTORY = 1000  # channel events kept for events()
_ENDED = (RecordKind.CLOSED, RecordKind.FAILED)


@dataclass
class _Conn:
    """A connection's live state; every field is guarded by the channel's condition."""

    settings: ChannelConnection
    block: ChannelBlock
    verifier: ChannelVerifier
    force: bool
    alternative: AlternativeAddress | None
    use_alternative: bool
    state: LinkState = LinkState.DISCONNECTED
    status: int = Status.NO_JOB
    reason: str = ""
    endpoint: ActiveEndpoint | None = None
    token: object | None = None  # identifies the endpoint whose records count
    dropped: bool = False
    kick: bool = True  # attempt at once instead of waiting for next_attempt
    next_attempt: float = 0.0
    delay: float = 0.0
    target: str = ""
    via_alternative: bool = False
    security: str = ""
    peer: x509.Certificate | None = None
    attempts: int = 0
    connections: int = 0
    thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.settings.name


@dataclass(frozen=True)
class _Plan:
    """What one establishment uses: the control values as they were when it started."""

    alternative: AlternativeAddress | None
    use_alternative: bool


class Channel:
    """A PC-side channel holding named connections to PLCs (WinCC S7-1200/S7-1500 channel).

    Args:
        connections: the connections, names unique.
        device_store: the device certificate store (folder or open store) of connections that
            name none; required unless every connection names its own.
        trust: the imported CAs (the PC's certificate store); default: none imported.
        project_store: the project certificate store holding the PC station's own client
            certificates (the blocks' TLSClientCertRef); None when they present none.
        device: the PC station: its name (whose certificates the project store assigns), its
            plant address (``own_addresses[0]``, bound through the address map so a PLC's
            partner check sees it). TLS versions follow its profile (default: S7-1500 V3.1).
        address_map: plant addresses → where they run (loopback in tests and demos).
        cpus: plant address (or QDN) → the partner CPU's profile, for the firmware rule;
            addresses not listed count as ``default_cpu``.
        default_cpu: the profile of CPUs not in ``cpus`` (default S7-1500 V3.1).
        allow_unsecured: when the firmware rule says a change cannot be secured, connect plain
            TCP instead of refusing with 16#80E1.
        access_points: AccessPoint name → local address to bind for it. When given, an
            AlternativeAddress naming another access point is refused.
        clock: the channel's clock, which PLC certificates are checked against.
        profile: TLS profile ("compatible" alerts, "strict" resets).
        connect_timeout: seconds for one TCP connect plus handshake.
        retry_delay / max_retry_delay: back-off between failed attempts (seconds).
        on_event: called with each :class:`ChannelEvent` (from worker threads, under the
            channel's lock: keep it quick).
    """

    def __init__(
        self,
        connections: Iterable[ChannelConnection],
        *,
        device_store: DeviceCertStore | str | Path | None = None,
        trust: TrustedCAs | None = None,
        project_store: CertStore | None = None,
        device: Device | None = None,
        address_map: AddressMap | None = None,
        cpus: Mapping[str, Device] | None = None,
        default_cpu: Device | None = None,
        allow_unsecured: bool = False,
        access_points: Mapping[str, str] | None = None,
        clock: Clock = system_clock,
        profile: TLSProfile | str = TLSProfile.COMPATIBLE,
        connect_timeout: float = 5.0,
        retry_delay: float = 1.0,
        max_retry_delay: float = 10.0,
        on_event: Callable[[ChannelEvent], None] | None = None,
    ) -> None:
        self.trust = trust if trust is not None else TrustedCAs()
        self.project_store = project_store
        self.device = device if device is not None else Device(name="PC")
        self.address_map = address_map if address_map is not None else AddressMap({})
        self.cpus = dict(cpus or {})
        self.default_cpu = default_cpu if default_cpu is not None else Device()
        self.allow_unsecured = bool(allow_unsecured)
        self.access_points = dict(access_points or {})
        self.clock = clock
        self.profile = TLSProfile.parse(profile)
        self.connect_timeout = connect_timeout
        self.retry_delay = retry_delay
        self.max_retry_delay = max(retry_delay, max_retry_delay)
        self._on_event = on_event
        self._cond = threading.Condition(threading.RLock())
        self._events: deque[ChannelEvent] = deque(maxlen=_HISTORY)
        self._started = False
        self._closing = False
        self._stores: dict[Path, DeviceCertStore] = {}
        default = None if device_store is None else self._store(device_store)
        self._conns: dict[str, _Conn] = {}
        for settings in connections:
            if settings.name in self._conns:
                raise ConfigError(f"connection {settings.name!r} is named twice", path="name")
            if settings.device_store is not None:
                store = self._store(settings.device_store)
            elif default is not None:
                store = default
            else:
                raise ConfigError(
                    f"connection {settings.name!r} has no device certificate store "
                    "(give the channel one, or the connection its own)",
                    path=f"{settings.name}.device_store",
                )
            alternative = settings.alternative_address
            assert alternative is None or isinstance(alternative, AlternativeAddress)
            if alternative is not None:
                self._check_access_point(alternative)
            self._conns[settings.name] = _Conn(
                settings=settings,
                block=check_channel_block(settings.block),
                verifier=ChannelVerifier(store, self.trust),
                force=settings.force,
                alternative=alternative,
                use_alternative=settings.use_alternative,
            )
        if not self._conns:
            raise ConfigError("a channel needs at least one connection", path="connections")

    def _store(self, store: DeviceCertStore | str | Path) -> DeviceCertStore:
        """One open DeviceCertStore per folder, shared by the connections that name it."""
        if isinstance(store, DeviceCertStore):
            return self._stores.setdefault(store.path.resolve(), store)
        key = Path(store).resolve()
        if key not in self._stores:
            self._stores[key] = DeviceCertStore(key)
        return self._stores[key]

    def _check_access_point(self, alternative: AlternativeAddress) -> None:
        point = alternative.access_point
        if self.access_points and point is not None and point not in self.access_points:
            raise ConfigError(
                f"AccessPoint {point!r} is not one of this PC's access points "
                f"({', '.join(sorted(self.access_points))})",
                path=ALTERNATIVE_ADDRESS,
            )

    # ------------------------------------------------------------------------------ lifecycle

    def start(self) -> Channel:
        """Start the connections' workers: those with ForceConnectionState 1 connect now."""
        with self._cond:
            if self._started:
                raise OucConnectionError(
                    "the channel was already started", status=Status.IN_PROGRESS
                )
            self._started = True
            for conn in self._conns.values():
                conn.thread = threading.Thread(
                    target=self._work, args=(conn,), name=f"ouc-channel-{conn.name}", daemon=True
                )
                conn.thread.start()
        return self

    def close(self, timeout: float | None = None) -> None:
        """Close every connection in order and stop the workers; safe to call twice.

        Args:
            timeout: seconds to wait for the workers (default: connect_timeout + 5).
        """
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            threads = [c.thread for c in self._conns.values() if c.thread is not None]
        deadline = time.monotonic() + (self.connect_timeout + 5.0 if timeout is None else timeout)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
                if thread.is_alive():
                    log.error("channel worker %s did not stop", thread.name)

    def __enter__(self) -> Channel:
        if not self._started:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        up = sum(c.state is LinkState.CONNECTED for c in self._conns.values())
        return f"<Channel {self.device.name} {up}/{len(self._conns)} connected>"

    # ------------------------------------------------------------------------------ control

    @property
    def names(self) -> list[str]:
        """The connections' names, in configuration order."""
        return list(self._conns)

    def device_store(self, name: str) -> DeviceCertStore:
        """The device certificate store of connection ``name``."""
        return self._conn(name).verifier.store

    def set(
        self, name: str, variable: str, value: object, *, wait: float | None = None
    ) -> ChannelRow:
        """Set a control value of connection ``name``, as WinCC's tags do.

        ``ForceConnectionState`` 1 connects (at once, also when an attempt is pending), 0
        disconnects. ``AlternativeAddress`` (text, "" clears) and ``UseAlternativeAddress``
        (1/0) apply at the next establishment; they never disconnect a connection that is up.

        Args:
            wait: for ForceConnectionState, wait up to this many seconds for the outcome (up, or
                an attempt that failed; down) and return that row.

        Raises:
            ConfigError: an unknown connection (16#80A3) or control value, a bad value (an
                AlternativeAddress error names the bad part).
            OucConnectionError: ``wait`` ran out (16#80C7).
        """
        variable = canonical_variable(variable)
        if variable == ALTERNATIVE_ADDRESS:
            if value is None or isinstance(value, AlternativeAddress):
                alternative = value
            else:
                alternative = AlternativeAddress.parse(str(value))
            if alternative is not None:
                self._check_access_point(alternative)
        else:
            flag = parse_flag(value, variable)
        with self._cond:
            conn = self._conn(name)
            # An attempt already running counts as the outcome to wait for.
            attempts = conn.attempts - (conn.state is LinkState.CONNECTING)
            if variable == ALTERNATIVE_ADDRESS:
                conn.alternative = alternative
                shown = "" if alternative is None else alternative.text
            elif variable == FORCE_CONNECTION_STATE:
                if flag and (not conn.force or conn.state is LinkState.RETRYING):
                    conn.kick, conn.delay = True, 0.0  # connect now, not after the back-off
                conn.force = flag
                shown = str(int(flag))
            else:
                conn.use_alternative = flag
                shown = str(int(flag))
            self._emit(conn, "set", conn.status, f"{variable} = {shown}")
            self._cond.notify_all()
        if wait is None or variable != FORCE_CONNECTION_STATE:
            return self.row(name)

        def settled(row: ChannelRow) -> bool:
            if not flag:
                return row.state in (LinkState.DISCONNECTED, LinkState.CLOSED)
            if row.state is LinkState.CONNECTED:
                return True
            return row.state is LinkState.RETRYING and row.attempts > attempts

        return self.wait_for(name, settled, timeout=wait)

    def get(self, name: str, variable: str) -> int | str:
        """The current control value: 1/0, or the AlternativeAddress text ("" when unset)."""
        variable = canonical_variable(variable)
        row = self.row(name)
        if variable == FORCE_CONNECTION_STATE:
            return row.force
        if variable == ALTERNATIVE_ADDRESS:
            return row.alternative_address
        return row.use_alternative

    def status(self) -> list[ChannelRow]:
        """One row per connection, in configuration order."""
        with self._cond:
            return [self._row(conn) for conn in self._conns.values()]

    def row(self, name: str) -> ChannelRow:
        """The row of connection ``name``."""
        with self._cond:
            return self._row(self._conn(name))

    def events(self) -> list[ChannelEvent]:
        """The channel's recent events, oldest first."""
        with self._cond:
            return list(self._events)

    def wait_for(
        self,
        name: str,
        condition: LinkState | Callable[[ChannelRow], bool],
        *,
        timeout: float,
    ) -> ChannelRow:
        """Wait until connection ``name`` is in a state (or its row passes a test); its row.

        Raises:
            OucConnectionError: not within ``timeout`` seconds (16#80C7, with the last row).
        """
        test = (
            (lambda row: row.state is condition) if isinstance(condition, LinkState) else condition
        )
        deadline = time.monotonic() + timeout
        with self._cond:
            conn = self._conn(name)
            while True:
                row = self._row(conn)
                if test(row):
                    return row
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    what = condition.value if isinstance(condition, LinkState) else "the condition"
                    raise OucConnectionError(
                        f"connection {name} did not reach {what} within {timeout:g} s; it is "
                        f"{row.state.value} ({row.status_text}) {row.reason}".rstrip(),
                        status=Status.TIMEOUT,
                    )
                self._cond.wait(remaining)

    # ------------------------------------------------------------------------------ data

    def send(
        self, name: str, data: bytes, length: int = 0, *, timeout: float | None = None
    ) -> None:
        """TSEND_C on connection ``name`` (see :meth:`ActiveEndpoint.send`)."""
        self._endpoint(name).send(data, length, timeout=timeout)

    def receive(self, name: str, *, timeout: float | None = None) -> bytes:
        """TRCV_C on connection ``name``: the next frame (see :meth:`ActiveEndpoint.receive`)."""
        return self._endpoint(name).receive(timeout)

    def request(self, name: str, data: bytes, *, timeout: float = 5.0) -> bytes:
        """Send ``data`` and return the next frame received (a PLC that answers)."""
        endpoint = self._endpoint(name)
        endpoint.send(data, timeout=timeout)
        return endpoint.receive(timeout)

    def _endpoint(self, name: str) -> ActiveEndpoint:
        with self._cond:
            conn = self._conn(name)
            if conn.state is not LinkState.CONNECTED or conn.endpoint is None:
                status = conn.status if conn.status >= 0x8000 else Status.NO_SUCH_CONNECTION
                raise OucConnectionError(
                    f"connection {name} is {conn.state.value}"
                    + (f": {conn.reason}" if conn.reason else ""),
                    status=status,
                )
            return conn.endpoint

    # ------------------------------------------------------------------------------ internals

    def _conn(self, name: str) -> _Conn:
        conn = self._conns.get(name)
        if conn is None:
            raise ConfigError(
                f"no connection {name!r} in this channel (it has {', '.join(self._conns)})",
                status=Status.NO_SUCH_CONNECTION,
                path="connection",
            )
        return conn

    def _row(self, conn: _Conn) -> ChannelRow:
        peer = conn.peer
        expired = False
        if peer is not None:
            now = self.clock()
            expired = now > peer.not_valid_after_utc
        return ChannelRow(
            name=conn.name,
            state=conn.state,
            status=int(conn.status),
            force=int(conn.force),
            use_alternative=int(conn.use_alternative),
            alternative_address="" if conn.alternative is None else conn.alternative.text,
            target=conn.target,
            via_alternative=conn.via_alternative,
            security=conn.security,
            peer=None if peer is None else peer.subject.rfc4514_string(),
            peer_valid_to=None if peer is None else peer.not_valid_after_utc,
            peer_expired=expired,
            attempts=conn.attempts,
            connections=conn.connections,
            reason=conn.reason,
        )

    def _move(self, conn: _Conn, state: LinkState, status: int, reason: str | None = None) -> None:
        """Change state and status (call with the lock held); wakes every waiter."""
        check_transition(conn.state, state)
        conn.state = state
        conn.status = status
        if reason is not None:
            conn.reason = reason
        self._cond.notify_all()

    def _emit(self, conn: _Conn, kind: str, status: int, text: str) -> None:
        event = ChannelEvent(conn.name, kind, int(status), text)
        self._events.append(event)
        level = logging.WARNING if kind in ("failed", "dropped") else logging.INFO
        log.log(level, "%s", event.line())
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception:
                log.exception("channel on_event callback failed for: %s", event.line())

    # -- the worker: one thread per connection ---------------------------------------------------

    def _work(self, conn: _Conn) -> None:
        try:
            while True:
                job = self._next_job(conn)
                if job is None:
                    return
                job()
        except Exception:  # a bug must not pass silently; the connection stops
            log.exception("channel worker of %s failed", conn.name)

    def _next_job(self, conn: _Conn) -> Callable[[], None] | None:
        """Wait for something to do; returns it (run without the lock), None to stop."""
        with self._cond:
            while True:
                endpoint = conn.endpoint
                if endpoint is not None and (self._closing or not conn.force or conn.dropped):
                    conn.endpoint, conn.token = None, None
                    if self._closing or not conn.force:
                        self._move(conn, LinkState.DISCONNECTING, Status.DISCONNECTING)
                    return lambda: self._close_endpoint(conn, endpoint)
                if self._closing:
                    self._move(conn, LinkState.CLOSED, conn.status)
                    return None
                if not conn.force:
                    if conn.state is LinkState.RETRYING:
                        self._move(conn, LinkState.DISCONNECTED, Status.NO_JOB, "")
                    self._cond.wait()
                    continue
                if conn.state in (LinkState.DISCONNECTED, LinkState.RETRYING):
                    wait = conn.next_attempt - time.monotonic()
                    if conn.kick or wait <= 0:
                        return self._begin_attempt(conn)
                    self._cond.wait(wait)
                    continue
                self._cond.wait()

    def _begin_attempt(self, conn: _Conn) -> Callable[[], None]:
        conn.kick = False
        conn.attempts += 1
        plan = _Plan(conn.alternative, conn.use_alternative)
        conn.via_alternative = plan.use_alternative
        conn.target = self._target(conn, plan)
        conn.security, conn.peer = "", None  # the row shows this attempt, not the last one
        self._move(conn, LinkState.CONNECTING, Status.CONNECTING, "")
        self._emit(conn, "connecting", Status.CONNECTING, f"to {conn.target}")
        return lambda: self._establish(conn, plan)

    def _target(self, conn: _Conn, plan: _Plan) -> str:
        block = conn.block
        host = block.remote_address or block.remote_qdn or "?"
        if plan.use_alternative and plan.alternative is not None:
            host = plan.alternative.ip_address
        return f"{host}:{block.remote_port}"

    def _establish(self, conn: _Conn, plan: _Plan) -> None:
        token = object()
        try:
            endpoint, info, security = self._open(conn, plan, token)
        except OucError as exc:
            with self._cond:
                conn.delay = min(self.max_retry_delay, max(self.retry_delay, conn.delay * 2))
                conn.next_attempt = time.monotonic() + conn.delay
                status = exc.status or Status.TEMPORARY
                self._move(conn, LinkState.RETRYING, status, exc.message)
                self._emit(
                    conn, "failed", status, f"{exc.message} (next attempt in {conn.delay:g} s)"
                )
            return
        peer = (
            None
            if info.peer_cert_der is None
            else x509.load_der_x509_certificate(info.peer_cert_der)
        )
        with self._cond:
            conn.endpoint, conn.token = endpoint, token
            conn.delay = 0.0
            conn.connections += 1
            conn.security, conn.peer = security, peer
            self._move(conn, LinkState.CONNECTED, Status.CONNECTED_IDLE, "")
            who = "" if peer is None else f", peer {peer.subject.rfc4514_string()}"
            self._emit(
                conn, "connected", Status.CONNECTED_IDLE, f"to {conn.target}, {security}{who}"
            )
        if not endpoint.connected:  # it dropped before its records counted
            error = endpoint.last_error
            self._dropped(
                conn,
                token,
                (error.status if error is not None else None) or Status.PARTNER_CLOSED,
                error.message if error is not None else "the partner closed the connection",
            )

    def _open(
        self, conn: _Conn, plan: _Plan, token: object
    ) -> tuple[ActiveEndpoint, SessionInfo, str]:
        """One establishment: the block for this attempt, a fresh endpoint, connect."""
        block = conn.block
        bind: tuple[str, int] | None = None
        unsecured = ""
        if plan.use_alternative:
            alternative = plan.alternative
            if alternative is None:
                raise OucConnectionError(
                    "UseAlternativeAddress is 1 but AlternativeAddress is empty",
                    status=Status.REMOTE_ADDRESS_INVALID,
                )
            if (
                alternative.access_point is not None
                and alternative.access_point in self.access_points
            ):
                bind = (self.access_points[alternative.access_point], 0)
            original = block.remote_address or block.remote_qdn or ""
            block = with_remote(block, alternative.ip_address)
            if block.secure:
                unsecured = self._firmware_rule(original, alternative.ip_address)
                if unsecured:
                    block = without_tls(block)
        resolved = None
        if block.secure:
            resolved = client_identity(
                block, store=self.project_store, device=self.device.name, now=self.clock()
            )
        spec = EndpointSpec.from_block(
            block,
            device=self.device,
            device_name=self.device.name,
            resolved=resolved,
            verifier=conn.verifier,
            clock=self.clock,
            receive_len=conn.settings.receive_len,
            profile=self.profile,
            handshake_timeout=self.connect_timeout,
            session_tickets=False,
        )

        def on_record(record: EndpointRecord) -> None:
            if record.kind in _ENDED:
                self._dropped(conn, token, record.status, record.reason or record.kind.value)

        endpoint = ActiveEndpoint(
            spec,
            address_map=self.address_map,
            bind=bind,
            connect_timeout=self.connect_timeout,
            reconnect=False,
            session_reuse=False,
            on_event=on_record,
        )
        try:
            info = endpoint.connect()
        except BaseException:
            endpoint.close()
            raise
        if unsecured:
            security = f"not secured ({unsecured})"
        else:
            security = (info.version or "TLS") if info.secure else "plain TCP"
        return endpoint, info, security

    def _firmware_rule(self, original: str, alternative: str) -> str:
        """Why a change between these CPUs cannot be secured ("" when it can).

        Raises:
            TLSError: it cannot, and ``allow_unsecured`` is off (16#80E1).
        """
        old = []
        for address in (original, alternative):
            cpu = self.cpus.get(address, self.default_cpu)
            if TLSVersion.TLS1_3 not in cpu.tls_versions:
                old.append(f"{address} runs {cpu.family.value} {cpu.firmware_text}")
        if not old:
            return ""
        why = "; ".join(old)
        if not self.allow_unsecured:
            raise TLSError(
                f"a secure connection change needs firmware V2.9 or later (S7-1200: V4.5) on "
                f"both CPUs, but {why}: the connection cannot be secured "
                "(allow_unsecured connects without TLS)",
                status=Status.TLS_HANDSHAKE_FAILURE,
            )
        return why

    def _dropped(self, conn: _Conn, token: object, status: int, reason: str) -> None:
        """The endpoint of ``token`` ended by itself: mark it, re-establish at once."""
        with self._cond:
            if conn.token is not token or conn.dropped or conn.state is not LinkState.CONNECTED:
                return
            conn.dropped = True
            conn.next_attempt, conn.delay = time.monotonic(), 0.0
            self._move(conn, LinkState.RETRYING, status or Status.PARTNER_CLOSED, reason)
            self._emit(conn, "dropped", conn.status, reason)

    def _close_endpoint(self, conn: _Conn, endpoint: ActiveEndpoint) -> None:
        endpoint.close()
        with self._cond:
            conn.dropped = False
            if self._closing:
                self._move(conn, LinkState.CLOSED, Status.NO_JOB)
            elif conn.state is LinkState.DISCONNECTING:
                self._move(conn, LinkState.DISCONNECTED, Status.NO_JOB, "")
                self._emit(conn, "disconnected", Status.NO_JOB, "ForceConnectionState 0")
                conn.kick = conn.force  # set to 1 again while closing: connect at once
