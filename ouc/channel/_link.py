"""The sans-I/O core of one channel connection: its state, control values, change rules, trust.

A :class:`Link` holds everything one connection of the PC-side channel decides: where it is
(:class:`~ouc.channel.LinkState`, moved by a table that decides the next state), its three
control values, the connection-change rules (which address, which access point, whether the
firmware rule lets the change be secured), the trust decisions (the peer verifier and the own
client certificate of each attempt) and its retry timer. It does no I/O and reads no clock of
its own: each event carries ``now`` (monotonic seconds, for the timer), certificate validity is
checked against the injected certificate clock (the emulated plant time), the way aioquic's
``QuicConnection`` takes ``now`` and leaves sockets to its driver.

A runner feeds it events and asks :meth:`Link.poll` what to do:

- :class:`Connect`: establish the connection as described (block, target, bind address, verifier,
  own certificate), then report :meth:`Link.connected` or :meth:`Link.failed`;
- :class:`Drop`: close the endpoint of that attempt, then report :meth:`Link.released`;
- :class:`Wait`: nothing to do before ``until`` (None: before the next event);
- :class:`Stop`: the channel closed this connection; nothing more happens.

The endpoint's own end (the PLC closed, the network failed) is :meth:`Link.dropped`; the control
values change with :meth:`Link.set`; :meth:`Link.start` and :meth:`Link.restart` hand in the
certificates the channel loaded (:class:`~ouc.channel.CertSnapshot`); :meth:`Link.shutdown`
closes. Each event may add :class:`~ouc.channel.ChannelEvent` lines, taken with
:meth:`Link.take_events`.

The rules, each from the WinCC note "Secure PLC Communication with TLS Protocol" (domain.md §8):

- a connection change is ForceConnectionState 0, UseAlternativeAddress 1, ForceConnectionState
  1; the address values apply at the next establishment and never drop a connection that is up;
- firmware: when both CPUs of a change run firmware below V2.9 (S7-1200: V4.5), the change works
  and the connection is established without TLS; from V2.9 both must run V2.9 or later, so a
  change between an older and a newer CPU is refused (:func:`firmware_rule`);
- trust: manual trust through the device certificate store, imported CAs, CRLs
  (:class:`~ouc.channel.ChannelVerifier`); certificates imported while the channel runs apply
  at its next start (:meth:`Link.restart`); an established connection stays up when a
  certificate expires.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from enum import Enum

from cryptography import x509

from ouc.certs import CertStore, DeviceCertStore, ResolvedEndpoint
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
    parse_flag,
    tag_name,
)
from ouc.channel._trust import CertSnapshot, ChannelVerifier, client_identity
from ouc.device import Device, TLSVersion
from ouc.errors import ConfigError, OucConnectionError, OucError, Status, TLSError

__all__ = [
    "Action",
    "Connect",
    "Drop",
    "Link",
    "LinkRules",
    "Stop",
    "Wait",
    "check_access_point",
    "firmware_rule",
    "likely_refusal",
]

CertClock = Callable[[], dt.datetime]


# ---------------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class Connect:
    """Establish attempt ``attempt``: ``block`` to the plant ``target``.

    Attributes:
        attempt: the attempt's number (the runner reports its outcome with it).
        block: the block for this establishment (the alternative address and the firmware rule
            applied).
        target: the plant ``address:port`` connected to.
        bind: the local address of the AccessPoint named by the AlternativeAddress, or None.
        identity: the own client certificate and the checks (None for a plain block).
        verifier: the peer verifier (device certificate store and imported CAs).
        unsecured: why a secure block connects without TLS ("" when it does not; then the
            block is the plain one).
    """

    attempt: int
    block: ChannelBlock
    target: str
    bind: tuple[str, int] | None
    identity: ResolvedEndpoint | None
    verifier: ChannelVerifier
    unsecured: str = ""


@dataclass(frozen=True)
class Drop:
    """Close the endpoint of attempt ``attempt`` in order, then report :meth:`Link.released`."""

    attempt: int


@dataclass(frozen=True)
class Wait:
    """Nothing to do before monotonic time ``until`` (None: before the next event)."""

    until: float | None = None


@dataclass(frozen=True)
class Stop:
    """The channel closed this connection: the runner's work for it is done."""


Action = Connect | Drop | Wait | Stop


# ---------------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class LinkRules:
    """What every connection of a channel shares: the PC station, its stores, the CPUs.

    Attributes:
        device: the PC station (its name is whose certificates the project store assigns).
        project_store: where TLSClientCertRef is looked up; None presents no certificate.
        cpus / default_cpu: the partner CPUs' profiles for the firmware rule.
        allow_unsecured: connect without TLS where the firmware rule would refuse.
        access_points: AccessPoint name → local address to bind (empty: any AccessPoint).
        clock: the certificate clock (plant time) own certificates are checked against.
        retry_delay / max_retry_delay: the back-off between failed attempts (seconds).
    """

    device: Device
    project_store: CertStore | None
    cpus: Mapping[str, Device]
    default_cpu: Device
    allow_unsecured: bool
    access_points: Mapping[str, str]
    clock: CertClock
    retry_delay: float = 1.0
    max_retry_delay: float = 10.0


def check_access_point(alternative: AlternativeAddress, access_points: Mapping[str, str]) -> None:
    """Refuse an AlternativeAddress naming an AccessPoint this PC does not have.

    Raises:
        ConfigError: ``access_points`` is not empty and does not name the AccessPoint.
    """
    point = alternative.access_point
    if access_points and point is not None and point not in access_points:
        raise ConfigError(
            f"AccessPoint {point!r} is not one of this PC's access points "
            f"({', '.join(sorted(access_points))})",
            path=ALTERNATIVE_ADDRESS,
        )


def firmware_rule(original: str, alternative: str, rules: LinkRules) -> str:
    """Why a secure change between these CPUs connects without TLS ("" when it stays secure).

    The WinCC note (domain.md §8): "if both CPUs run firmware below V2.9 the change works and
    the connection is simply established without TLS; from V2.9 both CPUs must run V2.9 or
    later". Below V2.9 means without TLS 1.3 (S7-1500 V2.9 / S7-1200 V4.5, §3).

    - both CPUs from V2.9: "" (the change is secured);
    - both below V2.9: the reason, and the change connects without TLS (no option needed);
    - one below, one from V2.9: refused with 16#80E1 — the status is an inference (handshake
      failure: "version, security too low", §3); the note names none. ``allow_unsecured``
      connects without TLS instead, beyond what the note describes.

    Raises:
        TLSError: one CPU below V2.9, one from V2.9, and ``allow_unsecured`` is off (16#80E1).
    """
    old: list[str] = []
    new: list[str] = []
    for address in (original, alternative):
        cpu = rules.cpus.get(address, rules.default_cpu)
        text = f"{address} runs {cpu.family.value} {cpu.firmware_text}"
        (new if TLSVersion.TLS1_3 in cpu.tls_versions else old).append(text)
    if not old:
        return ""
    if not new:
        return f"both CPUs below V2.9: {', '.join(old)}"
    why = f"{old[0]}, below V2.9, and {new[0]}"
    if not rules.allow_unsecured:
        raise TLSError(
            f"a connection change from V2.9 on needs V2.9 or later (S7-1200: V4.5) on both "
            f"CPUs, but {why}: the change is refused (allow_unsecured connects without TLS)",
            status=Status.TLS_HANDSHAKE_FAILURE,
        )
    return f"allow_unsecured: {why}"


def likely_refusal(action: Connect) -> str:
    """The likely cause of a TLS 1.3 connection the PLC ended right after the handshake."""
    identity = action.identity
    own = None if identity is None else identity.own_id
    if own is None:
        return (
            "right after the TLS 1.3 handshake: the PLC likely requires a client certificate "
            "(the block's TLSClientCertRef is 0)"
        )
    return (
        "right after the TLS 1.3 handshake: the PLC likely refused the PC's certificate "
        f"{own} (is the PLC's TLSClientCertRef the CA that issued it?)"
    )


# ---------------------------------------------------------------------------------- the table


class _Step(Enum):
    """What happened, as the transition table knows it."""

    ATTEMPT = "attempt"  # an establishment starts
    SUCCEED = "succeed"  # it succeeded
    FAIL = "fail"  # it failed
    DROP = "drop"  # the connection ended by itself
    RELEASE = "release"  # close it in order (ForceConnectionState 0, channel closing)
    RELEASED = "released"  # the endpoint is closed
    OFF = "off"  # ForceConnectionState 0 with nothing open
    SHUT = "shut"  # the channel closed
    BREAK = "break"  # the runner's worker died of a bug: the connection stops for good


_S = LinkState
#: (state, step) → the next state and the STATUS it shows (None: keep the status given).
_NEXT: dict[tuple[LinkState, _Step], tuple[LinkState, int | None]] = {
    (_S.DISCONNECTED, _Step.ATTEMPT): (_S.CONNECTING, Status.CONNECTING),
    # 7001 is the initial call, 7002 every re-establishment (domain.md §4).
    (_S.RETRYING, _Step.ATTEMPT): (_S.CONNECTING, Status.IN_PROGRESS),
    (_S.CONNECTING, _Step.SUCCEED): (_S.CONNECTED, Status.CONNECTED_IDLE),
    (_S.CONNECTING, _Step.FAIL): (_S.RETRYING, None),
    (_S.CONNECTED, _Step.DROP): (_S.RETRYING, None),
    (_S.CONNECTED, _Step.RELEASE): (_S.DISCONNECTING, Status.DISCONNECTING),
    (_S.CONNECTING, _Step.RELEASE): (_S.DISCONNECTING, Status.DISCONNECTING),
    (_S.RETRYING, _Step.RELEASE): (_S.DISCONNECTING, Status.DISCONNECTING),
    (_S.RETRYING, _Step.RELEASED): (_S.RETRYING, None),
    (_S.RETRYING, _Step.OFF): (_S.DISCONNECTED, Status.NO_JOB),
    (_S.DISCONNECTING, _Step.RELEASED): (_S.DISCONNECTED, Status.NO_JOB),
    (_S.DISCONNECTED, _Step.SHUT): (_S.CLOSED, None),
    (_S.RETRYING, _Step.SHUT): (_S.CLOSED, None),
    **{(state, _Step.BREAK): (_S.CLOSED, None) for state in _S if state is not _S.CLOSED},
}


@dataclass(frozen=True)
class _Values:
    """The three control values of a connection."""

    force: bool
    alternative: AlternativeAddress | None
    use_alternative: bool


@dataclass(frozen=True)
class _Shown:
    """What the row shows of the current (or last) establishment."""

    target: str = ""
    via_alternative: bool = False
    security: str = ""
    peer: x509.Certificate | None = None


# ---------------------------------------------------------------------------------- the link


class Link:
    """One channel connection, sans-I/O (see the module docstring).

    Args:
        settings: the connection's name, block and start values.
        store: its device certificate store.
        rules: what the channel's connections share.
    """

    def __init__(
        self, settings: ChannelConnection, store: DeviceCertStore, rules: LinkRules
    ) -> None:
        alternative = settings.alternative
        if alternative is not None:
            check_access_point(alternative, rules.access_points)
        self.settings = settings
        self.block = check_channel_block(settings.block)
        self.store = store
        self.rules = rules
        self.verifier = ChannelVerifier(store)  # nothing imported before start()
        self.snapshot: CertSnapshot | None = None
        self.values = self._start_values()
        self.state = LinkState.DISCONNECTED
        self.status: int = Status.NO_JOB
        self.reason = ""
        self.attempts = 0
        self.connections = 0
        self.frames_received = 0  # by the connection that is up (or was last)
        self.bytes_received = 0
        self.shown = _Shown()
        self._open: int | None = None  # the attempt whose endpoint the runner holds
        self._releasing: int | None = None  # the attempt whose endpoint the runner closes
        self._dropped = False  # the open endpoint ended by itself
        self._closing = False
        self._kick = True  # attempt at once instead of waiting for the timer
        self._next_attempt = 0.0
        self._delay = 0.0
        self._unsecured = ""  # why the running attempt connects without TLS
        self._restart: tuple[CertSnapshot, bool] | None = None  # a restart to apply
        self._events: list[ChannelEvent] = []

    @property
    def name(self) -> str:
        return self.settings.name

    def __repr__(self) -> str:
        return f"<Link {self.name} {self.state.value} {self.status:04X}>"

    def _start_values(self) -> _Values:
        settings = self.settings
        return _Values(bool(settings.force), settings.alternative, bool(settings.use_alternative))

    # -- events ----------------------------------------------------------------------------------

    def start(self, snapshot: CertSnapshot) -> None:
        """The channel starts with the certificates of ``snapshot``."""
        self.snapshot = snapshot
        self.verifier = ChannelVerifier(self.store, snapshot.anchors, imports=snapshot.imports)

    def restart(self, snapshot: CertSnapshot, *, keep_values: bool = False) -> None:
        """Restart, as a Runtime restart does: close, load ``snapshot``, connect again.

        The connection (if up) is closed in order; then the certificates of ``snapshot`` apply
        and the control values go back to their start values (a Runtime start gives the tags
        their start values — an inference, the note says nothing of it; ``keep_values`` keeps
        the current ones); then it connects when ForceConnectionState is 1.
        """
        self._restart = (snapshot, keep_values)

    def set(self, variable: str, value: object, now: float) -> str:
        """Set a control value (WinCC's tag write); returns the value as shown.

        ``ForceConnectionState`` 1 connects (at once, also when an attempt is pending), 0
        disconnects. ``AlternativeAddress`` (text, "" clears) and ``UseAlternativeAddress``
        apply at the next establishment; they never disconnect a connection that is up.

        Raises:
            ConfigError: an unknown control value or a bad value (nothing changes).
        """
        variable = canonical_variable(variable)
        values = self.values
        if variable == ALTERNATIVE_ADDRESS:
            if value is None or isinstance(value, AlternativeAddress):
                alternative = value
            else:
                alternative = AlternativeAddress.parse(str(value))
            if alternative is not None:
                check_access_point(alternative, self.rules.access_points)
            self.values = replace(values, alternative=alternative)
            shown = "" if alternative is None else alternative.text
        else:
            flag = parse_flag(value, variable)
            if variable == FORCE_CONNECTION_STATE:
                if flag and (not values.force or self.state is LinkState.RETRYING):
                    self._kick, self._delay = True, 0.0  # now, not after the back-off
                self.values = replace(values, force=flag)
            else:
                self.values = replace(values, use_alternative=flag)
            shown = str(int(flag))
        self._emit("set", self.status, f"{tag_name(self.name, variable)} = {shown}")
        return shown

    def connected(self, attempt: int, version: str | None, peer_der: bytes | None) -> None:
        """Attempt ``attempt`` established the connection (``version`` None: no TLS)."""
        self._expect_attempt(attempt)
        peer = None if peer_der is None else x509.load_der_x509_certificate(peer_der)
        unsecured = self._unsecured
        security = f"without TLS ({unsecured})" if unsecured else version or "plain TCP"
        self._open, self._delay = attempt, 0.0
        self.connections += 1
        self.frames_received = self.bytes_received = 0
        self.shown = replace(self.shown, security=security, peer=peer)
        self._step(_Step.SUCCEED, reason="")
        who = "" if peer is None else f", peer {peer.subject.rfc4514_string()}"
        self._emit("connected", self.status, f"to {self.shown.target}, {security}{who}")

    def received(self, size: int, *, status: int = Status.DONE, failure: str = "") -> None:
        """The PLC's data arrived: a frame of ``size`` bytes (TRCV_C DONE, 16#0000), or a
        failed receive (``failure``, e.g. 16#8088 a message larger than the receive area)."""
        if failure:
            self._emit("received", status, failure)
            return
        self.frames_received += 1
        self.bytes_received += size
        self._emit(
            "received",
            Status.DONE,
            f"{size} bytes (frame {self.frames_received}, {self.bytes_received} bytes on this "
            "connection)",
        )

    def failed(self, attempt: int, status: int | None, reason: str, now: float) -> None:
        """Attempt ``attempt`` failed: retry after the back-off (doubling up to the maximum)."""
        self._expect_attempt(attempt)
        rules = self.rules
        self._delay = min(rules.max_retry_delay, max(rules.retry_delay, self._delay * 2))
        self._next_attempt = now + self._delay
        self._step(_Step.FAIL, status or Status.TEMPORARY, reason)
        if self.wanted:
            self._emit("failed", self.status, f"{reason} (next attempt in {self._delay:g} s)")
        else:  # closing, or ForceConnectionState 0: no attempt follows
            self._emit("failed", self.status, reason)

    def dropped(self, attempt: int, status: int | None, reason: str, now: float) -> None:
        """The endpoint of ``attempt`` ended by itself; re-establish at once.

        A report about an endpoint already being closed (or a stale one) changes nothing.
        """
        if attempt != self._open or self._dropped or self.state is not LinkState.CONNECTED:
            return
        self._dropped = True
        self._next_attempt, self._delay = now, 0.0
        self._step(_Step.DROP, status or Status.PARTNER_CLOSED, reason)
        self._forget_session()
        self._emit("dropped", self.status, reason)

    def released(self, attempt: int) -> None:
        """The endpoint of ``attempt`` (a :class:`Drop`) is closed."""
        if attempt != self._releasing:
            raise AssertionError(f"{self.name}: released {attempt}, but {self._releasing} closes")
        self._releasing, self._dropped = None, False
        self._forget_session()
        if self.state is LinkState.DISCONNECTING:
            self._step(_Step.RELEASED, reason="")
            if not self._closing:
                why = (
                    "restart"
                    if self._restart
                    else f"{tag_name(self.name, FORCE_CONNECTION_STATE)} = 0"
                )
                self._emit("disconnected", Status.NO_JOB, why)
                self._kick = self.values.force  # set to 1 again while closing: connect now
        else:
            self._step(_Step.RELEASED)

    @property
    def wanted(self) -> bool:
        """Whether the connection should be up: ForceConnectionState 1, not closing, no
        restart waiting to be applied."""
        return self.values.force and not self._closing and self._restart is None

    def broken(self, reason: str) -> None:
        """The runner can no longer work on this connection (its worker died of a bug): it is
        closed for good, with a ``failed`` event line saying why."""
        if self.state is LinkState.CLOSED:
            return
        self._open = self._releasing = None
        self._forget_session()
        self._step(_Step.BREAK, reason=reason)
        self._emit("failed", self.status, reason)

    def shutdown(self) -> None:
        """The channel closes: release what is open, then stop."""
        self._closing = True

    # -- what to do ------------------------------------------------------------------------------

    def poll(self, now: float) -> Action:
        """What the runner does next for this connection (at monotonic time ``now``)."""
        if self.state is LinkState.CLOSED:
            return Stop()
        force = self.values.force and not self._closing
        if self._open is not None and (not force or self._dropped or self._restart):
            attempt, self._open = self._open, None
            if self.state is LinkState.CONNECTED or not force:
                self._step(_Step.RELEASE)
            self._releasing = attempt
            return Drop(attempt)
        if self._releasing is not None or self.state is LinkState.CONNECTING:
            return Wait()  # the runner reports the outcome
        if self._closing:
            self._step(_Step.SHUT)
            self._emit("closed", Status.NO_JOB, "the channel closed the connection")
            return Stop()
        if self._restart is not None:
            self._apply_restart(*self._restart)
            force = self.values.force
        if not force:
            if self.state is LinkState.RETRYING:
                self._step(_Step.OFF, reason="")
                why = f"{tag_name(self.name, FORCE_CONNECTION_STATE)} = 0; no more attempts"
                self._emit("disconnected", Status.NO_JOB, why)
            return Wait()
        if self.state in (LinkState.DISCONNECTED, LinkState.RETRYING):
            if self._kick or now >= self._next_attempt:
                return self._attempt(now)
            return Wait(self._next_attempt)
        return Wait()

    def _apply_restart(self, snapshot: CertSnapshot, keep_values: bool) -> None:
        self._restart = None
        self.start(snapshot)
        if not keep_values:
            self.values = self._start_values()
        self._kick, self._delay = True, 0.0
        values = "kept" if keep_values else "back to their start values"
        self._emit("restart", self.status, f"certificates reloaded; control values {values}")

    def _attempt(self, now: float) -> Action:
        self._kick = False
        self.attempts += 1
        attempt = self.attempts
        values = self.values
        original = self.block.remote_address or self.block.remote_qdn or ""
        host = original or "?"
        alternative = values.alternative if values.use_alternative else None
        if alternative is not None:
            host = alternative.ip_address
        # The row shows this attempt, not the last one.
        self.shown = _Shown(
            target=f"{host}:{self.block.remote_port}", via_alternative=values.use_alternative
        )
        self._step(_Step.ATTEMPT, reason="")
        self._unsecured = ""
        try:
            action = self._plan(attempt, original)
        except OucError as exc:
            self._emit("connecting", self.status, f"to {self.shown.target}")
            self.failed(attempt, exc.status, exc.message, now)
            return Wait(self._next_attempt)
        self._unsecured = action.unsecured
        how = f", without TLS ({action.unsecured})" if action.unsecured else ""
        self._emit("connecting", self.status, f"to {self.shown.target}{how}")
        return action

    def _plan(self, attempt: int, original: str) -> Connect:
        """The establishment of ``attempt``: the change rules and the own certificate."""
        rules, values = self.rules, self.values
        block = self.block
        bind: tuple[str, int] | None = None
        unsecured = ""
        if values.use_alternative:
            alternative = values.alternative
            if alternative is None:
                raise OucConnectionError(
                    "UseAlternativeAddress is 1 but AlternativeAddress is empty",
                    status=Status.REMOTE_ADDRESS_INVALID,
                )
            point = alternative.access_point
            if point is not None and point in rules.access_points:
                bind = (rules.access_points[point], 0)
            block = with_remote(block, alternative.ip_address)
            if block.secure:
                unsecured = firmware_rule(original, alternative.ip_address, rules)
                if unsecured:
                    block = without_tls(block)
        identity = None
        if block.secure:
            identity = client_identity(
                block,
                store=rules.project_store,
                device=rules.device.name,
                now=rules.clock(),
                own_ids=None if self.snapshot is None else self.snapshot.own_ids,
            )
        return Connect(
            attempt=attempt,
            block=block,
            target=self.shown.target,
            bind=bind,
            identity=identity,
            verifier=self.verifier,
            unsecured=unsecured,
        )

    # -- reports ---------------------------------------------------------------------------------

    @property
    def restart_pending(self) -> bool:
        """A restart was asked for and has not been applied yet."""
        return self._restart is not None

    def take_events(self) -> list[ChannelEvent]:
        """The event lines since the last call, oldest first."""
        events, self._events = self._events, []
        return events

    def row(self) -> ChannelRow:
        """The connection as ``ouc channel status`` shows it (peer expiry by the cert clock)."""
        shown, values = self.shown, self.values
        peer = shown.peer
        return ChannelRow(
            name=self.name,
            state=self.state,
            status=int(self.status),
            force=int(values.force),
            use_alternative=int(values.use_alternative),
            alternative_address="" if values.alternative is None else values.alternative.text,
            target=shown.target,
            via_alternative=shown.via_alternative,
            security=shown.security,
            peer=None if peer is None else peer.subject.rfc4514_string(),
            peer_valid_to=None if peer is None else peer.not_valid_after_utc,
            peer_expired=peer is not None and self.rules.clock() > peer.not_valid_after_utc,
            attempts=self.attempts,
            connections=self.connections,
            reason=self.reason,
        )

    # -- internals -------------------------------------------------------------------------------

    def _expect_attempt(self, attempt: int) -> None:
        if self.state is not LinkState.CONNECTING or attempt != self.attempts:
            raise AssertionError(
                f"{self.name}: outcome of attempt {attempt} while {self.state.value} "
                f"(attempt {self.attempts})"
            )

    def _step(self, step: _Step, status: int | None = None, reason: str | None = None) -> None:
        """Move by the table; ``status`` is used where the table gives none."""
        found = _NEXT.get((self.state, step))
        if found is None:
            raise AssertionError(f"{self.name}: {step.value} is not possible {self.state.value}")
        self.state, table_status = found
        if table_status is not None:
            self.status = table_status
        elif status is not None:
            self.status = status
        if reason is not None:
            self.reason = reason

    def _forget_session(self) -> None:
        """The connection ended: the row no longer shows its TLS version and PLC certificate
        (they described a connection that is gone)."""
        self.shown = replace(self.shown, security="", peer=None)

    def _emit(self, kind: str, status: int, text: str) -> None:
        self._events.append(ChannelEvent(self.name, kind, int(status), text))
