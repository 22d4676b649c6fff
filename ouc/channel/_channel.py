"""The channel's runner: threads and blocking endpoints around the sans-I/O links.

:class:`Channel` holds one :class:`~ouc.channel._link.Link` per connection (the rules, the
state, the timer) and does only what the links ask: it opens a fresh
:class:`~ouc.drivers.ActiveEndpoint` (TSEND_C side, TLS client, no session resumption) for each
:class:`~ouc.channel._link.Connect`, closes it for a :class:`~ouc.channel._link.Drop`, sleeps
until a :class:`~ouc.channel._link.Wait` runs out or an event arrives, and reports the outcome
back to the link. One worker thread per connection (so a slow or unreachable PLC never delays
another) and the driver's watcher thread per live connection, which reports a drop and reads
what the PLC sends as it arrives; one lock and condition for the whole channel, held only while
a link decides.

Everything that is a rule lives in the link and is tested without sockets or threads
(``tests/channel/test_link.py``); the tests of this module are about the runner.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import overload

from ouc._input import seconds
from ouc.certs import CertStore, DeviceCertStore
from ouc.channel._cas import TrustedCAs
from ouc.channel._link import Connect, Drop, Link, LinkRules, Stop, Wait, likely_refusal
from ouc.channel._settings import ChannelConnection
from ouc.channel._state import (
    ALTERNATIVE_ADDRESS,
    FORCE_CONNECTION_STATE,
    ChannelEvent,
    ChannelRow,
    LinkState,
    canonical_variable,
    parse_tag,
)
from ouc.channel._trust import CertSnapshot
from ouc.conn import FrameReceived, ReceiveFailed
from ouc.device import Device
from ouc.drivers import (
    ActiveEndpoint,
    AddressMap,
    Clock,
    EndpointRecord,
    EndpointSpec,
    RecordKind,
    system_clock,
)
from ouc.errors import ConfigError, OucConnectionError, OucError, Status, WaitTimeoutError
from ouc.tls import TLSProfile
from ouc.transport import SessionInfo

__all__ = ["Channel"]

log = logging.getLogger("ouc.channel")

_HISTORY = 1000  # channel events kept for events()
_ENDED = (RecordKind.CLOSED, RecordKind.FAILED)
_KEPT_FRAMES = 256  # frames kept for receive() (all are counted and logged)


class Channel:
    """A PC-side channel holding named Secure OUC connections to PLCs.

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
        allow_unsecured: a change between a CPU below V2.9 and one from V2.9, which the WinCC
            note does not allow, connects without TLS instead of being refused with 16#80E1.
            (A change between two CPUs below V2.9 connects without TLS anyway, as the note
            says.)
        access_points: AccessPoint name → local address to bind for it. When given, an
            AlternativeAddress naming another access point is refused.
        clock: the channel's clock, which PLC certificates are checked against.
        profile: TLS profile ("compatible" alerts, "strict" resets).
        connect_timeout: seconds for one TCP connect plus handshake.
        retry_delay / max_retry_delay: back-off between failed attempts (seconds). Each of the
            three is finite, more than 0 and at most 30 days (else ConfigError naming it).
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
        self.device = device if device is not None else Device(name="PC")
        self.address_map = address_map if address_map is not None else AddressMap({})
        self.clock = clock
        self.profile = TLSProfile.parse(profile)
        self.connect_timeout = seconds(connect_timeout, "connect_timeout")
        retry_delay = seconds(retry_delay, "retry_delay")
        max_retry_delay = seconds(max_retry_delay, "max_retry_delay")
        self.rules = LinkRules(
            device=self.device,
            project_store=project_store,
            cpus=dict(cpus or {}),
            default_cpu=default_cpu if default_cpu is not None else Device(),
            allow_unsecured=bool(allow_unsecured),
            access_points=dict(access_points or {}),
            clock=clock,
            retry_delay=retry_delay,
            max_retry_delay=max(retry_delay, max_retry_delay),
        )
        self._on_event = on_event
        self._cond = threading.Condition(threading.RLock())
        self._history: deque[ChannelEvent] = deque(maxlen=_HISTORY)
        self._started = False
        self._stores: dict[Path, DeviceCertStore] = {}
        default = None if device_store is None else self._store(device_store)
        self._links: dict[str, Link] = {}
        self._endpoints: dict[str, ActiveEndpoint] = {}
        self._threads: dict[str, threading.Thread] = {}
        self._establishing: set[str] = set()  # connections inside a TCP connect + handshake
        # The frames received and not yet taken by receive(); the oldest go when nobody takes.
        self._inboxes: dict[str, deque[bytes]] = {}
        for settings in connections:
            if settings.name in self._links:
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
            self._links[settings.name] = Link(settings, store, self.rules)
            self._inboxes[settings.name] = deque(maxlen=_KEPT_FRAMES)
        if not self._links:
            raise ConfigError("a channel needs at least one connection", path="connections")

    def _store(self, store: DeviceCertStore | str | Path) -> DeviceCertStore:
        """One open DeviceCertStore per folder, shared by the connections that name it."""
        if isinstance(store, DeviceCertStore):
            return self._stores.setdefault(store.path.resolve(), store)
        key = Path(store).resolve()
        if key not in self._stores:
            self._stores[key] = DeviceCertStore(key)
        return self._stores[key]

    @property
    def project_store(self) -> CertStore | None:
        """The project store of the PC station's own certificates."""
        return self.rules.project_store

    # ------------------------------------------------------------------------------ lifecycle

    def _snapshot(self) -> CertSnapshot:
        """The imported CAs and the PC station's certificate IDs, as they are now."""
        return CertSnapshot.take(self.trust, self.rules.project_store, self.device.name)

    def start(self) -> Channel:
        """Load the certificates and start the workers: ForceConnectionState 1 connects now.

        Certificates imported later (CAs, own certificate IDs) apply after :meth:`restart`.
        """
        with self._cond:
            if self._started:
                raise OucConnectionError(
                    "the channel was already started", status=Status.IN_PROGRESS
                )
            snapshot = self._snapshot()
            self._started = True
            for link in self._links.values():
                link.start(snapshot)
                thread = threading.Thread(
                    target=self._work, args=(link,), name=f"ouc-channel-{link.name}", daemon=True
                )
                self._threads[link.name] = thread
                thread.start()
        return self

    def close(self, timeout: float | None = None) -> None:
        """Close every connection in order and stop the workers; safe to call twice.

        A worker inside a TCP connect or TLS handshake is not waited for: the blocking attempt
        cannot be cut short, it ends by ``connect_timeout`` at the latest and its worker then
        closes what it opened and stops (a daemon thread, so it never holds the process).

        Args:
            timeout: seconds to wait for the workers (default: connect_timeout + 5).
        """
        with self._cond:
            for link in self._links.values():
                link.shutdown()
                if not self._started:  # no worker: the link closes here
                    link.poll(time.monotonic())
                    self._flush(link)
            self._cond.notify_all()
            threads = [
                thread for name, thread in self._threads.items() if name not in self._establishing
            ]
        deadline = time.monotonic() + (self.connect_timeout + 5.0 if timeout is None else timeout)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))
                if thread.is_alive():
                    log.error("channel worker %s did not stop", thread.name)

    def restart(self, *, keep_values: bool = False, wait: float | None = None) -> list[ChannelRow]:
        """Restart the channel as a Runtime restart does; the rows.

        Every connection is closed in order, the certificates imported since the start apply,
        the control values go back to their start values (``keep_values`` keeps them), and the
        connections with ForceConnectionState 1 connect again. Manual trust in the device
        certificate store needs no restart.

        Args:
            wait: wait up to this many seconds until each connection with ForceConnectionState
                1 is up or has failed an attempt made after the restart.

        Raises:
            OucConnectionError: the channel is not running (16#80A3).
            WaitTimeoutError: ``wait`` ran out (no PLC status).
        """
        with self._cond:
            if not self._started or any(
                link.state is LinkState.CLOSED for link in self._links.values()
            ):
                raise OucConnectionError(
                    "the channel is not running: start it", status=Status.NO_SUCH_CONNECTION
                )
            snapshot = self._snapshot()
            before = {}
            for link in self._links.values():
                before[link.name] = link.attempts - (link.state is LinkState.CONNECTING)
                link.restart(snapshot, keep_values=keep_values)
                self._flush(link)
        if wait is not None:
            deadline = time.monotonic() + wait
            for name, attempts in before.items():
                link = self._links[name]

                def done(row: ChannelRow, link: Link = link, attempts: int = attempts) -> bool:
                    return not link.restart_pending and _settled(None, attempts)(row)

                self.wait_for(name, done, timeout=max(0.0, deadline - time.monotonic()))
        return self.status()

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
        up = sum(link.state is LinkState.CONNECTED for link in self._links.values())
        return f"<Channel {self.device.name} {up}/{len(self._links)} connected>"

    # ------------------------------------------------------------------------------ control

    @property
    def names(self) -> list[str]:
        """The connections' names, in configuration order."""
        return list(self._links)

    def device_store(self, name: str) -> DeviceCertStore:
        """The device certificate store of connection ``name``."""
        return self._link(name).store

    @overload
    def set(self, tag: str, value: object, /, *, wait: float | None = None) -> ChannelRow: ...

    @overload
    def set(
        self, connection: str, variable: str, value: object, /, *, wait: float | None = None
    ) -> ChannelRow: ...

    def set(self, *args: object, wait: float | None = None) -> ChannelRow:
        """Write a control tag: ``set("@PLC_1@ForceConnectionState", 1)``; the row after it.

        The older form ``set("PLC_1", "ForceConnectionState", 1)`` is the same. Force 1
        connects, 0 disconnects; the address values apply at the next establishment (see
        :meth:`Link.set`).

        Args:
            wait: for ForceConnectionState, wait up to this many seconds for the outcome (up, or
                an attempt that failed; down) and return that row.

        Raises:
            ConfigError: a bad tag name, an unknown connection (16#80A3) or control value, a
                bad value (an AlternativeAddress error names the bad part).
            WaitTimeoutError: ``wait`` ran out (no PLC status).
        """
        name, variable, (value,) = self._address(args, 1)
        with self._cond:
            link = self._link(name)
            # An attempt already running counts as the outcome to wait for.
            attempts = link.attempts - (link.state is LinkState.CONNECTING)
            shown = link.set(variable, value, time.monotonic())
            self._flush(link)
        if wait is None or variable != FORCE_CONNECTION_STATE:
            return self.row(name)
        return self.wait_for(name, _settled(shown == "1", attempts), timeout=wait)

    @overload
    def get(self, tag: str, /) -> int | str: ...

    @overload
    def get(self, connection: str, variable: str, /) -> int | str: ...

    def get(self, *args: str) -> int | str:
        """Read a control tag: 1/0, or the AlternativeAddress text ("" when unset).

        ``get("@PLC_1@UseAlternativeAddress")``, or ``get("PLC_1", "UseAlternativeAddress")``.
        """
        name, variable, _ = self._address(args, 0)
        row = self.row(name)
        if variable == FORCE_CONNECTION_STATE:
            return row.force
        if variable == ALTERNATIVE_ADDRESS:
            return row.alternative_address
        return row.use_alternative

    @staticmethod
    def _address(args: tuple[object, ...], values: int) -> tuple[str, str, tuple[object, ...]]:
        """(connection, control value, the rest) from a tag name or the two older names."""
        if len(args) == values + 1:
            try:
                name, variable = parse_tag(str(args[0]))
            except ConfigError as exc:
                older = "CONNECTION VARIABLE" + (" VALUE" if values else "")
                raise ConfigError(f"{exc.message} (or give {older})", path="tag") from exc
        elif len(args) == values + 2:
            name, variable = str(args[0]), canonical_variable(str(args[1]))
        else:
            raise ConfigError(
                "give a tag name like '@PLC_1@ForceConnectionState' (or the connection and "
                "the control value's name)" + (" and the value" if values else ""),
                path="tag",
            )
        return name, variable, args[len(args) - values :]

    def status(self) -> list[ChannelRow]:
        """One row per connection, in configuration order."""
        with self._cond:
            return [link.row() for link in self._links.values()]

    def row(self, name: str) -> ChannelRow:
        """The row of connection ``name``."""
        with self._cond:
            return self._link(name).row()

    def events(self) -> list[ChannelEvent]:
        """The channel's recent events, oldest first."""
        with self._cond:
            return list(self._history)

    def wait_for(
        self,
        name: str,
        condition: LinkState | Callable[[ChannelRow], bool],
        *,
        timeout: float,
    ) -> ChannelRow:
        """Wait until connection ``name`` is in a state (or its row passes a test); its row.

        Raises:
            WaitTimeoutError: not within ``timeout`` seconds (the message has the last row; no PLC
                status: the connection itself carries on).
        """
        test = (
            (lambda row: row.state is condition) if isinstance(condition, LinkState) else condition
        )
        deadline = time.monotonic() + timeout
        with self._cond:
            link = self._link(name)
            while True:
                row = link.row()
                if test(row):
                    return row
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    what = condition.value if isinstance(condition, LinkState) else "the condition"
                    raise WaitTimeoutError(
                        f"connection {name} did not reach {what} within {timeout:g} s; it is "
                        f"{row.state.value} ({row.status_text}) {row.reason}".rstrip()
                    )
                self._cond.wait(remaining)

    # ------------------------------------------------------------------------------ data

    def send(
        self, name: str, data: bytes, length: int = 0, *, timeout: float | None = None
    ) -> None:
        """TSEND_C on connection ``name`` (see :meth:`ActiveEndpoint.send`)."""
        self._endpoint(name).send(data, length, timeout=timeout)

    def receive(self, name: str, *, timeout: float | None = None) -> bytes:
        """TRCV_C on connection ``name``: the oldest frame received and not yet taken.

        The channel reads every frame as it arrives (and logs a ``received`` line); it keeps
        the last 256 for this call.

        Raises:
            WaitTimeoutError: none arrived within ``timeout`` seconds (None: wait for ever).
            OucConnectionError: the connection is not up and nothing is kept.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            inbox = self._inboxes[self._link(name).name]
            while True:
                if inbox:
                    return inbox.popleft()
                self._endpoint(name)  # raises when the connection is not up
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise WaitTimeoutError(f"no frame received on {name} within {timeout:g} s")
                self._cond.wait(remaining)

    def request(self, name: str, data: bytes, *, timeout: float = 5.0) -> bytes:
        """Send ``data`` and return the next frame received after it (a PLC that answers);
        frames that arrived before are discarded (they were logged)."""
        endpoint = self._endpoint(name)
        with self._cond:
            self._inboxes[name].clear()
        endpoint.send(data, timeout=timeout)
        return self.receive(name, timeout=timeout)

    def _endpoint(self, name: str) -> ActiveEndpoint:
        with self._cond:
            link = self._link(name)
            endpoint = self._endpoints.get(name)
            if link.state is not LinkState.CONNECTED or endpoint is None:
                status = link.status if link.status >= 0x8000 else Status.NO_SUCH_CONNECTION
                raise OucConnectionError(
                    f"connection {name} is {link.state.value}"
                    + (f": {link.reason}" if link.reason else ""),
                    status=status,
                )
            return endpoint

    # ------------------------------------------------------------------------------ the runner

    def _link(self, name: str) -> Link:
        link = self._links.get(name)
        if link is None:
            raise ConfigError(
                f"no connection {name!r} in this channel (it has {', '.join(self._links)})",
                status=Status.NO_SUCH_CONNECTION,
                path="connection",
            )
        return link

    def _flush(self, link: Link) -> None:
        """Log and hand out the link's new event lines; wake every waiter (lock held)."""
        for new in link.take_events():
            event = dataclasses.replace(new, time=time.time())
            self._history.append(event)
            level = logging.WARNING if event.kind in ("failed", "dropped") else logging.INFO
            log.log(level, "%s", event.line())
            if self._on_event is not None:
                try:
                    self._on_event(event)
                except Exception:
                    log.exception("channel on_event callback failed for: %s", event.line())
        self._cond.notify_all()

    def _work(self, link: Link) -> None:
        """One connection's worker: do what the link asks until it says stop."""
        try:
            while True:
                with self._cond:
                    action = link.poll(time.monotonic())
                    self._flush(link)
                    if isinstance(action, Stop):
                        return
                    if isinstance(action, Wait):
                        until = action.until
                        self._cond.wait(None if until is None else until - time.monotonic())
                        continue
                    endpoint = (
                        self._endpoints.pop(link.name, None) if isinstance(action, Drop) else None
                    )
                    if isinstance(action, Connect):  # close() need not wait for it
                        self._establishing.add(link.name)
                if isinstance(action, Drop):
                    if endpoint is not None:
                        endpoint.close()
                    with self._cond:
                        link.released(action.attempt)
                        self._flush(link)
                else:
                    self._establish(link, action)
        except Exception as exc:  # a bug: the connection stops, visibly (a failed line, closed)
            log.exception("channel worker of %s failed", link.name)
            with self._cond:
                endpoint = self._endpoints.pop(link.name, None)
                self._establishing.discard(link.name)
                link.broken(f"internal error ({type(exc).__name__}: {exc}); run the channel again")
                self._flush(link)
            if endpoint is not None:
                endpoint.close()

    def _establish(self, link: Link, action: Connect) -> None:
        # Until the establishment is confirmed, the end of the connection is the attempt's
        # failure (``early``); from then on it is a drop the link re-establishes.
        early: list[EndpointRecord] = []
        confirmed = False

        def on_record(record: EndpointRecord) -> None:
            if record.kind not in _ENDED:
                return
            with self._cond:
                if not confirmed:
                    early.append(record)
                    self._cond.notify_all()
                    return
            reason = record.reason or record.kind.value
            self._report_drop(link, action.attempt, record.status, reason)

        try:
            endpoint = self._open(link, action, on_record)
            try:
                info = endpoint.connect()
            except BaseException:
                endpoint.close()
                raise
        except OucError as exc:
            with self._cond:
                link.failed(action.attempt, exc.status, exc.message, time.monotonic())
                self._flush(link)
            return
        finally:
            with self._cond:
                self._establishing.discard(link.name)
        with self._cond:
            refused = self._confirm(link, info, early)
            if refused is None:
                confirmed = True
                self._endpoints[link.name] = endpoint
                version = (info.version or "TLS") if info.secure else None
                link.connected(action.attempt, version, info.peer_cert_der)
                self._flush(link)
                self._inboxes[link.name].clear()
        if refused is None:
            # Outside the channel's lock: the endpoint calls back with its own lock held.
            endpoint.deliver(lambda event: self._received(link, endpoint, event))
        if refused is not None:
            endpoint.close()
            with self._cond:
                status, reason = refused
                if early:
                    reason = f"{reason} {likely_refusal(action)}"
                link.failed(action.attempt, status, reason, time.monotonic())
                self._flush(link)
            return
        if not endpoint.connected:  # it ended before its records counted
            error = endpoint.last_error
            self._report_drop(
                link,
                action.attempt,
                None if error is None else error.status,
                None if error is None else error.message,
            )

    def _confirm(
        self, link: Link, info: SessionInfo, early: list[EndpointRecord]
    ) -> tuple[int | None, str] | None:
        """Wait (lock held) until a TLS 1.3 establishment has lived ``retry_delay`` seconds;
        None when it did, else the failure (status, reason).

        Under TLS 1.3 the client's handshake is complete before the PLC has checked the client
        certificate (RFC 8446 §4.4.4: the client's Finished comes after its Certificate and
        CertificateVerify, and the server answers a refusal with an alert or a reset after
        that), so a PLC that refuses the PC's certificate ends the connection right after a
        handshake that looked complete. Counting that as an establishment would reset the
        back-off and reconnect at once, flooding the PLC. The confirmation is by time only:
        a PLC need not send anything (a session ticket, data) after accepting. TLS 1.2 and plain
        TCP need none: the PLC's Finished (or nothing to check) comes after its checks.
        """
        if not (info.secure and info.version == "TLSv1.3"):
            return None
        until = time.monotonic() + self.rules.retry_delay
        while not early and link.wanted:
            remaining = until - time.monotonic()
            if remaining <= 0:
                return None
            self._cond.wait(remaining)
        if early:
            record = early[0]
            return record.status, record.reason or "the PLC closed the connection"
        return None, "closed before the establishment was confirmed"

    def _open(
        self, link: Link, action: Connect, on_record: Callable[[EndpointRecord], None]
    ) -> ActiveEndpoint:
        """A fresh endpoint for one establishment, built from what the link decided."""
        spec = EndpointSpec.from_block(
            action.block,
            device=self.device,
            device_name=self.device.name,
            resolved=action.identity,
            verifier=action.verifier,
            clock=self.clock,
            receive_len=link.settings.receive_len,
            profile=self.profile,
            handshake_timeout=self.connect_timeout,
            session_tickets=False,
        )
        return ActiveEndpoint(
            spec,
            address_map=self.address_map,
            bind=action.bind,
            connect_timeout=self.connect_timeout,
            reconnect=False,
            session_reuse=False,
            on_event=on_record,
        )

    def _received(
        self, link: Link, endpoint: ActiveEndpoint, event: FrameReceived | ReceiveFailed
    ) -> None:
        """A frame the PLC sent (or a failed receive, 16#8088): counted, logged, kept.

        The endpoint's watcher reads what arrives as it arrives (``deliver``: TRCV_C with EN_R
        = 1 in every cycle), so a PLC sending by itself never fills the socket.
        """
        with self._cond:
            if self._endpoints.get(link.name) is not endpoint:
                return  # an endpoint being closed
            if isinstance(event, FrameReceived):
                self._inboxes[link.name].append(event.data)
                link.received(len(event.data))
            else:
                link.received(0, status=event.status, failure=event.reason)
            self._flush(link)

    def _report_drop(
        self, link: Link, attempt: int, status: int | None, reason: str | None
    ) -> None:
        with self._cond:
            link.dropped(
                attempt,
                status,
                reason or "the partner closed the connection",
                time.monotonic(),
            )
            self._flush(link)


def _settled(flag: bool | None, attempts: int) -> Callable[[ChannelRow], bool]:
    """The outcome of ForceConnectionState ``flag`` (None: the value it has) after ``attempts``:
    down for 0; up, or an attempt after those that failed, for 1."""

    def test(row: ChannelRow) -> bool:
        force = bool(row.force) if flag is None else flag
        if not force:
            return row.state in (LinkState.DISCONNECTED, LinkState.CLOSED)
        if row.state is LinkState.CONNECTED:
            return row.attempts > attempts or flag is not None
        return row.state is LinkState.RETRYING and row.attempts > attempts

    return test
