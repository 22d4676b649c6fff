"""Handshake faults: a TLS endpoint that aborts or stalls at a named point of the handshake.

:class:`HandshakeFault` sits between a connection and its TLS engine (both sans-I/O) and watches
the TLS records crossing; at the chosen point it stops the handshake:

==========================  ====================================================================
point                       where the faulty endpoint stops
==========================  ====================================================================
``after_client_hello``      the ClientHello went across, nothing after it: a server never
                            answers it; a client never processes the server's answer.
``after_server_flight``     the server's first flight went across (ServerHello ... ServerHello
                            Done in TLS 1.2; ServerHello ... Finished in TLS 1.3): a server
                            never processes the client's answer; a client processes all of the
                            server's flight but its last record, and never answers.
``before_finished``         the client's last flight went across but its Finished: a server
                            never processes the client's Finished (TLS 1.2: the server's own
                            Finished never comes); a client sends its last flight without the
                            Finished.
==========================  ====================================================================

What the endpoint does there:

* ``abort`` — it fails the handshake as its TLS profile fails one: ``compatible`` (the default)
  sends OpenSSL's fatal alert (the engine is fed one broken record instead of the peer's next
  one, so the alert carries the protection the handshake has reached), then closes (FIN);
  ``strict`` sends nothing more and resets the TCP connection (RST), like the firmware. A client
  aborting before its Finished has no alert to send: it closes (compatible) or resets (strict).
* ``stall`` — it goes silent: nothing the peer sends is processed, nothing more is sent, until
  the peer gives up or the endpoint's handshake timeout ends the connection (16#80C4, then as the
  profile says).

Records are found by their 5-byte headers only (nothing is decrypted). The last record of a flight
is the last complete record of the bytes received so far: TLS stacks write a flight at once, so on
loopback it arrives in one piece; were it split at a record boundary, the fault happens one record
earlier, still before the named point's next message.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable

from ouc._faults import HANDSHAKE_POINTS, Faults, FaultScript
from ouc.device import Role
from ouc.drivers._setup import EndpointSpec
from ouc.errors import ConfigError, Status
from ouc.tls import TLSEngine, TLSProfile
from ouc.transport import Failed, HandshakeComplete, Transport, TransportEvent

__all__ = ["HANDSHAKE_POINTS", "HandshakeFault", "check_point", "with_handshake_fault"]

_HEADER = 5
# A handshake record of message type 255 (none exists), empty: OpenSSL refuses it in any state
# of the handshake with its fatal alert (unexpected_message, or bad_record_mac once the peer's
# records are protected).
_BROKEN_RECORD = bytes((22, 3, 3, 0, 4, 255, 0, 0, 0))


def check_point(point: str, field: str) -> str:
    """``point`` if it names a handshake point, else ConfigError naming ``field``."""
    if point not in HANDSHAKE_POINTS:
        raise ConfigError(
            f"{field} must be one of {', '.join(HANDSHAKE_POINTS)}, got {point!r}", path=field
        )
    return point


def _split_records(buffer: bytearray) -> list[bytes]:
    """Take the complete TLS records off the front of ``buffer``."""
    records = []
    while len(buffer) >= _HEADER:
        size = _HEADER + int.from_bytes(buffer[3:5], "big")
        if len(buffer) < size:
            break
        records.append(bytes(buffer[:size]))
        del buffer[:size]
    return records


class HandshakeFault:
    """A :class:`~ouc.transport.Transport` around a TLS engine that aborts or stalls the
    handshake at ``point`` (see the module docstring).

    Args:
        engine: the connection's fresh TLS engine.
        point: one of :data:`HANDSHAKE_POINTS`.
        action: ``"abort"`` or ``"stall"``.
        server: the engine is the TLS server (passive endpoint).
        strict: the endpoint's TLS profile is ``strict`` (abort = reset, not alert).
    """

    def __init__(
        self, engine: Transport, *, point: str, action: str, server: bool, strict: bool
    ) -> None:
        self._engine = engine
        self.point = check_point(point, "point")
        if action not in ("abort", "stall"):
            raise ConfigError(f"action must be abort or stall, got {action!r}", path="action")
        self.action = action
        self._server = server
        self._strict = strict
        self._inbound = bytearray()
        self._flights_out = 0  # wire chunks this endpoint produced during the handshake
        self._tripped = False
        self._done = False  # the handshake completed before the point (nothing to do any more)
        self._events: list[TransportEvent] = []
        self._pending = b""  # output taken from the engine early, to go out next

    # ------------------------------------------------------------------------------ the verbs

    def start(self) -> None:
        self._engine.start()

    def set_plaintext_sink(self, sink: Callable[[bytes], None] | None) -> None:
        setter = getattr(self._engine, "set_plaintext_sink", None)
        if setter is not None:
            setter(sink)

    def allow_half_open(self) -> None:
        allow = getattr(self._engine, "allow_half_open", None)
        if allow is not None:
            allow()

    def send(self, data: bytes) -> None:
        self._engine.send(data)

    def close(self) -> None:
        if not self._tripped:
            self._engine.close()

    def receive_data(self, data: bytes) -> None:
        if self._done:
            if self._inbound:  # a record's first part, held while looking for the point
                data = bytes(self._inbound) + data
                self._inbound.clear()
            self._engine.receive_data(data)
            return
        if not data:  # the peer closed: the engine reports it, whatever the fault
            self._engine.receive_data(data)
            return
        if self._tripped:
            return  # stalled (or aborted): nothing the peer sends is processed
        self._inbound += data
        records = _split_records(self._inbound)
        if not records:
            return
        trigger = self._trigger_index(records)
        if trigger is None:  # a part of a record stays in _inbound for the next bytes
            self._engine.receive_data(b"".join(records))
            if not self._server and self.point == "before_finished":
                self._hold_finished()
            return
        if trigger:
            self._engine.receive_data(b"".join(records[:trigger]))
        self._trip()

    def receive_reset(self) -> None:
        """The peer reset the TCP connection: the engine reports it, whatever the fault."""
        reset = getattr(self._engine, "receive_reset", None)
        if reset is not None:
            reset()
        else:
            self._engine.receive_data(b"")

    def next_event(self) -> TransportEvent | None:
        if self._events:
            return self._events.pop(0)
        event = self._engine.next_event()
        if event is None:
            return None
        if isinstance(event, HandshakeComplete) and not self._tripped:
            self._done = True
        if self._tripped and isinstance(event, HandshakeComplete):
            return self.next_event()  # the handshake is not over for this endpoint
        if self._tripped and isinstance(event, Failed):
            return Failed(event.status, self._reason(), event.reset)
        return event

    def data_to_send(self) -> bytes:
        pending, self._pending = self._pending, b""
        data = self._engine.data_to_send()
        if self._tripped and not self._done and self.action == "stall":
            return pending  # a client's last flight without its Finished, then silence
        data = pending + data
        if data and not self._tripped and not self._done:
            self._flights_out += 1
        return data

    # ------------------------------------------------------------------------------ the fault

    def _trigger_index(self, records: list[bytes]) -> int | None:
        """Index of the received record the fault replaces (records before it are processed),
        or None: all of them are processed."""
        point = self.point
        if self._server:
            if point == "after_client_hello":
                return 0
            if self._flights_out == 0:
                return None  # still the ClientHello (in pieces)
            if point == "after_server_flight":
                return 0
            return len(records) - 1 if not self._inbound else None  # before_finished
        # A client: its first flight (the ClientHello) went out in start().
        if point == "after_client_hello":
            return 0
        if point == "after_server_flight" and self._flights_out < 2:
            return len(records) - 1 if not self._inbound else None
        return None

    def _hold_finished(self) -> None:
        """A client's last flight: let everything out but its Finished (the last record)."""
        data = self._engine.data_to_send()
        if not data:
            return
        if self._flights_out == 0:  # the ClientHello, not taken yet
            self._pending = data
            return
        records = _split_records(bytearray(data))
        self._pending = b"".join(records[:-1])
        self._trip()

    def _trip(self) -> None:
        self._tripped = True
        self._inbound.clear()
        if self.action == "stall":
            return
        if self._strict or (not self._server and self.point == "before_finished"):
            self._engine.data_to_send()  # nothing more from the engine goes out
            status = int(Status.TLS_HANDSHAKE_FAILURE)
            self._events.append(Failed(status, self._reason(), self._strict))
            return
        # compatible: OpenSSL refuses a broken record with its own fatal alert.
        self._engine.receive_data(_BROKEN_RECORD)

    def _reason(self) -> str:
        return f"fault: handshake {self.action} {self.point.replace('_', ' ')}"


def with_handshake_fault(spec: EndpointSpec, faults: Faults | FaultScript | None) -> EndpointSpec:
    """``spec`` whose connections carry the handshake faults of ``faults`` (if any); for a
    :class:`~ouc._faults.FaultScript`, connection n (from 1, in the order the endpoint set them
    up) gets the handshake fault of ``pick(n, 0)``.

    Raises:
        ConfigError: a handshake fault on an endpoint without TLS.
    """
    if isinstance(faults, FaultScript):
        choices: tuple[Faults, ...] = faults.choices
    else:
        choices = (faults,) if faults else ()
    wanted = [f for f in choices if f.handshake_abort or f.handshake_stall]
    if not wanted:
        return spec
    tls = spec.tls
    if tls is None:
        action = "abort" if wanted[0].handshake_abort else "stall"
        raise ConfigError(
            f"handshake_{action} needs a secure block (ActivateSecureConn TRUE)",
            path=f"faults.handshake_{action}",
        )
    server = spec.role is Role.PASSIVE
    strict = tls.profile is TLSProfile.STRICT
    numbers = itertools.count(1)

    def wrap(engine: TLSEngine) -> Transport:
        chosen = faults.pick(next(numbers), 0) if isinstance(faults, FaultScript) else faults
        if not chosen or not (chosen.handshake_abort or chosen.handshake_stall):
            return engine
        action = "abort" if chosen.handshake_abort else "stall"
        point = chosen.handshake_abort or chosen.handshake_stall or ""
        return HandshakeFault(engine, point=point, action=action, server=server, strict=strict)

    return dataclasses.replace(spec, wrap_transport=wrap)
