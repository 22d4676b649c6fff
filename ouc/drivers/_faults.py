"""How the blocking driver's endpoints inject the faults of :class:`ouc._faults.Faults`.

The switch itself lives in ``ouc._faults`` (cheap to import: the pytest plugin loads it in every
test run); this module applies it, mostly through the endpoints' public hooks:

* answer faults (``delay``, ``wrong_length``, ``reset_mid_frame``) wrap the behaviour; a reset
  is the behaviour raising :class:`~ouc.drivers._setup.ResetConnection`, which the blocking
  driver turns into "send what there is, then RST";
* ``close_after_handshake`` is an ``on_event`` hook: the CONNECTED record is emitted in the
  connection's own serving thread, so closing the connection there is closing it from the
  thread that owns it; ``pause_receiving`` is one too, which holds that thread (so nothing is
  read) for its seconds or until the endpoint stops;
* ``expired_certificate`` renews the own certificate in the store and hands the endpoint a
  resolution made while it was valid; ``accept_any_client_cert`` is ``insecure=True``;
* the active side's send faults live in :class:`FaultyActiveEndpoint`.
"""

from __future__ import annotations

import datetime as dt
import math
import time
from collections.abc import Callable
from typing import Any

from ouc._faults import Faults, FaultScript
from ouc.certs import CertStore, ResolvedEndpoint, resolve
from ouc.conn import FrameReceived
from ouc.device import Role
from ouc.drivers._blocking import PassiveEndpoint
from ouc.drivers._blocking_active import ActiveEndpoint
from ouc.drivers._records import EndpointRecord, EventCallback, RecordKind
from ouc.drivers._setup import Behaviour, PeerContext, ResetConnection
from ouc.errors import CertError, ConfigError
from ouc.params import Block
from ouc.transport import SessionInfo

__all__ = [
    "EXPIRED_AGO",
    "FaultyActiveEndpoint",
    "apply_active",
    "apply_passive",
    "expire_own_certificate",
]

#: How long ago an ``expired_certificate`` stopped being valid (it was valid for 19 days).
EXPIRED_AGO = dt.timedelta(days=1)
_EXPIRED_FROM = dt.timedelta(days=20)


# --------------------------------------------------------------------------- certificates


def _own_cert_id(block: Block) -> int:
    passive = block.role is Role.PASSIVE
    field = "TLSServerCertRef" if passive else "TLSClientCertRef"
    ref = getattr(block, field, 0)
    if not block.secure or not ref:
        raise ConfigError(
            f"expired_certificate needs a secure block that names its own certificate in {field}",
            path="faults.expired_certificate",
        )
    return int(ref)


def expire_own_certificate(
    store: CertStore, block: Block, *, device_name: str, now: dt.datetime
) -> ResolvedEndpoint:
    """Renew the block's own certificate in ``store`` to a validity that ended
    :data:`EXPIRED_AGO` before ``now``, and resolve the block as it was while that certificate
    was valid, so the endpoint presents it (its clock for checking the peer stays the real one).

    Raises:
        ConfigError: the block names no own certificate, or its CA is too young to have issued a
            certificate that already expired (the pytest plugin's store starts 30 days back).
    """
    cert_id = _own_cert_id(block)
    start = now - _EXPIRED_FROM
    try:
        store.renew(cert_id, now=start, days=(_EXPIRED_FROM - EXPIRED_AGO).days)
        return resolve(store, block, device=device_name, now=now - _EXPIRED_FROM / 2)  # type: ignore[arg-type]
    except CertError as exc:
        raise ConfigError(
            f"cannot present certificate {cert_id} expired: {exc.message} (its CA must be "
            f"valid from {start:%Y-%m-%d})",
            path="faults.expired_certificate",
        ) from exc


def certificate_options(
    faults: Faults | FaultScript,
    *,
    spec_options: dict[str, Any],
    store: CertStore,
    block: Block,
    device_name: str,
    now: dt.datetime,
) -> None:
    """Put the certificate faults into ``EndpointSpec.from_block`` options (in place)."""
    if isinstance(faults, FaultScript):
        return  # a script holds no certificate faults (FaultScript refuses them)
    if faults.expired_certificate:
        spec_options["resolved"] = expire_own_certificate(
            store, block, device_name=device_name, now=now
        )
    if faults.accept_any_client_cert:
        spec_options["insecure"] = True


# --------------------------------------------------------------------------- passive side


def _answer_faults(behaviour: Behaviour, faults: Faults) -> Behaviour:
    """Wrap ``behaviour``: delay, wrong length and reset mid-frame on each answer."""

    def faulty(frame: FrameReceived, peer: PeerContext) -> bytes | None:
        answer = behaviour(frame, peer)
        if answer is None:
            return None
        faults.wait()
        answer = faults.shape(answer)
        if faults.reset_mid_frame:
            raise ResetConnection(answer[: len(answer) // 2], reason="fault: reset mid-frame")
        return answer

    return faulty


def _every(connection: int) -> bool:
    return True


class _CloseAfterHandshake:
    """``on_event`` hook: close each connection (for which ``applies(number)``) the moment it is
    established."""

    def __init__(self, applies: Callable[[int], bool] = _every) -> None:
        self.endpoint: PassiveEndpoint | None = None
        self.applies = applies

    def __call__(self, record: EndpointRecord) -> None:
        endpoint = self.endpoint
        if record.kind is not RecordKind.CONNECTED or endpoint is None:
            return
        if not self.applies(record.connection):
            return
        for peer in endpoint.peers():
            if f"{peer.address}:{peer.port}" == record.peer:
                peer.connection.close(time.monotonic())


class _PauseReceiving:
    """``on_event`` hook: hold each connection's serving thread after the handshake (TRCV_C
    with EN_R FALSE), ``seconds`` long or until the endpoint stops, so nothing is read."""

    def __init__(self, seconds: float | Callable[[int], float]) -> None:
        self.seconds_for = seconds if callable(seconds) else (lambda connection: seconds)
        self.endpoint: PassiveEndpoint | None = None

    def __call__(self, record: EndpointRecord) -> None:
        endpoint = self.endpoint
        if record.kind is not RecordKind.CONNECTED or endpoint is None:
            return
        seconds = self.seconds_for(record.connection)
        if not seconds:
            return
        # TRCV_C shows EN_R = 0 (7004) while it does not receive. The hook runs in the serving
        # thread, the one thread that drives this connection.
        conns = [p.connection for p in endpoint.peers() if f"{p.address}:{p.port}" == record.peer]
        for conn in conns:
            conn.enable_receive(False, time.monotonic())
        endpoint.wait_stopped(None if math.isinf(seconds) else seconds)
        for conn in conns:
            conn.enable_receive(True, time.monotonic())


def chain(*callbacks: EventCallback | None) -> EventCallback:
    """One ``on_event`` callback that calls each given one in turn."""
    chosen = [c for c in callbacks if c is not None]

    def on_event(record: EndpointRecord) -> None:
        for callback in chosen:
            callback(record)

    return on_event


class _Numbering:
    """``on_event`` hook: each peer's connection number (from its CONNECTED record) and how
    many frames it sent, for scripted faults."""

    def __init__(self) -> None:
        self.connection: dict[str, int] = {}
        self.frames: dict[str, int] = {}

    def __call__(self, record: EndpointRecord) -> None:
        if record.kind is RecordKind.CONNECTED and record.peer:
            self.connection[record.peer] = record.connection
            self.frames[record.peer] = 0

    def next_frame(self, peer: PeerContext) -> tuple[int, int]:
        """(connection number, frame number) of the frame ``peer`` just sent."""
        key = f"{peer.address}:{peer.port}"
        frame = self.frames[key] = self.frames.get(key, 0) + 1
        return self.connection.get(key, 0), frame


def _apply_script(
    script: FaultScript, behaviour: Behaviour, on_event: EventCallback | None
) -> tuple[Behaviour, EventCallback, Callable[[PassiveEndpoint], None]]:
    """:func:`apply_passive` for faults that change per connection and frame."""
    numbering = _Numbering()
    closer = _CloseAfterHandshake(lambda n: script.pick(n, 0).close_after_handshake)
    pauser = _PauseReceiving(lambda n: script.pick(n, 0).pause_receiving)

    def scripted(frame: FrameReceived, peer: PeerContext) -> bytes | None:
        faults = script.pick(*numbering.next_frame(peer))
        if not faults:
            return behaviour(frame, peer)
        return _answer_faults(behaviour, faults)(frame, peer)

    def bind(endpoint: PassiveEndpoint) -> None:
        closer.endpoint = pauser.endpoint = endpoint

    return scripted, chain(numbering, closer, on_event, pauser), bind


def apply_passive(
    faults: Faults | FaultScript | None,
    *,
    behaviour: Behaviour,
    on_event: EventCallback | None,
) -> tuple[Behaviour, EventCallback, Callable[[PassiveEndpoint], None]]:
    """The behaviour and ``on_event`` a passive endpoint with ``faults`` uses, and a function to
    call with the endpoint once it exists (certificate faults: :func:`certificate_options`)."""
    if not faults:
        return behaviour, chain(on_event), lambda endpoint: None
    if isinstance(faults, FaultScript):
        return _apply_script(faults, behaviour, on_event)
    closer = _CloseAfterHandshake() if faults.close_after_handshake else None
    pauser = _PauseReceiving(faults.pause_receiving) if faults.pause_receiving else None

    def bind(endpoint: PassiveEndpoint) -> None:
        for hook in (closer, pauser):
            if hook is not None:
                hook.endpoint = endpoint

    # The pause goes last: the records of the connection reach the other callbacks first.
    return _answer_faults(behaviour, faults), chain(closer, on_event, pauser), bind


# --------------------------------------------------------------------------- active side


def apply_active(faults: Faults | FaultScript | None) -> None:
    """Refuse what an active endpoint cannot inject (a reset mid-frame, a receive pause,
    faults that change per connection)."""
    if isinstance(faults, FaultScript):
        raise ConfigError(
            "scripted faults are for the passive side (a mock server PLC whose connections "
            "fail in turn); a mock client PLC connects when you call connect()",
            path="faults",
        )
    if faults and faults.pause_receiving:
        raise ConfigError(
            "pause_receiving is a passive-side fault (TRCV_C with EN_R FALSE); a mock client "
            "PLC reads only when you call receive()",
            path="faults.pause_receiving",
        )
    if faults and faults.reset_mid_frame:
        raise ConfigError(
            "reset_mid_frame is a passive-side fault (the mock server cuts its answer short); "
            "to test a server against a client that resets, close a socket with SO_LINGER 0",
            path="faults.reset_mid_frame",
        )


class FaultyActiveEndpoint(ActiveEndpoint):
    """An :class:`~ouc.drivers.ActiveEndpoint` whose sends and connects misbehave.

    ``delay``/``wrong_length`` apply to each :meth:`send`; ``close_after_handshake`` makes
    :meth:`connect` disconnect (CONT 1→0) right after the handshake. The certificate faults
    are in the endpoint's spec (:func:`certificate_options`).
    """

    def __init__(self, *args: Any, faults: Faults, **kwargs: Any) -> None:
        apply_active(faults)
        super().__init__(*args, **kwargs)
        self.faults = faults

    def connect(self, timeout: float | None = None) -> SessionInfo:
        info = super().connect(timeout)
        if self.faults.close_after_handshake:
            self.disconnect()
        return info

    def send(self, data: bytes, length: int = 0, *, timeout: float | None = None) -> None:
        self.faults.wait()
        frame = bytes(data[:length] if length else data)
        super().send(self.faults.shape(frame), timeout=timeout)
