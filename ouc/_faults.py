"""Fault injection for mock endpoints: a PLC partner that misbehaves on purpose.

Software that talks to PLCs has to survive a partner that hangs up right after the handshake,
dies in the middle of a frame, answers late, answers with the wrong number of bytes, stops
reading, presents an expired certificate, or accepts anybody. :class:`Faults` switches those on
per endpoint; the pytest fixtures (``ouc_passive(faults=Faults(...))``,
``ouc_active(faults=...)``) apply them. Each fault is real, not simulated: the peer under test
sees exactly the bytes, TCP resets and certificates it would see from a broken device.

===========================  ==============================================================
fault                        what the peer under test sees
===========================  ==============================================================
``close_after_handshake``    passive: close_notify + FIN as soon as the handshake completed;
                             active: connect, then disconnect in order (CONT 1→0).
``reset_mid_frame``          passive: the first half of each answer frame, then a TCP reset
                             (RST). Passive side only.
``delay=S``                  passive: each answer S seconds late; active: each send S late.
``wrong_length=N``           each answer (passive) / each sent frame (active) N bytes longer
                             (zeros appended) or, for negative N, shorter.
``pause_receiving=S``        passive: after the handshake TRCV_C runs with EN_R FALSE for S
                             seconds (``math.inf``: until the endpoint stops): nothing is
                             read, so the peer's frames fill the TCP window and its sends
                             block; then it receives (and answers) what is waiting. Passive
                             side only.
``expired_certificate``      the endpoint's own certificate (9 / 11 in the standard example),
                             renewed in the store to a validity that ended a day ago (it
                             stays so for the rest of the test): the peer must refuse it
                             (16#80E5).
``handshake_abort=POINT``    the handshake fails at POINT (``after_client_hello``,
                             ``after_server_flight``, ``before_finished``; both roles) as
                             the endpoint's TLS profile fails one: ``compatible`` (default)
                             sends a fatal alert, then FIN; ``strict`` a TCP reset (RST).
``handshake_stall=POINT``    the handshake stops at POINT: silence until the peer gives up
                             or the endpoint's handshake timeout (16#80C4, then FIN).
``accept_any_client_cert``   peer verification off (``insecure=True``: a WARNING for every
                             endpoint built, INSECURE on every connection): any client
                             certificate (passive) / server certificate (active) passes.
===========================  ==============================================================

Faults can change from connection to connection, so a peer's retry and back-off logic can be
tested: ``Faults.first(2, Faults(close_after_handshake=True))`` (the first two connections
fail, the third works), ``Faults.script([Faults(reset_mid_frame=True), Faults()])`` (one per
connection, then ``then=``), ``Faults.when(lambda connection, frame: frame == 3,
Faults(delay=1.0))`` (a predicate on the connection number, from 1, and the frame number within
it, from 1; 0 when the fault is decided at the handshake). Scripts are for the passive side, and
hold no certificate faults (those belong to the endpoint, not to one connection).

This module holds only the switch: the pytest plugin imports it at the start of every test run,
which must stay cheap. The drivers apply it in ``ouc.drivers._faults``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ouc.errors import ConfigError

__all__ = ["HANDSHAKE_POINTS", "FaultScript", "Faults"]

#: Where ``handshake_abort`` / ``handshake_stall`` stop the handshake (in handshake order).
HANDSHAKE_POINTS = ("after_client_hello", "after_server_flight", "before_finished")


_KINDS = {
    "bool": "True or False",
    "int": "a whole number of bytes",
    "float": "a number of seconds",
    "str": "None or a handshake point",
}


@dataclass(frozen=True)
class Faults:
    """Which faults an endpoint injects (all off by default); see the module docstring.

    Args:
        close_after_handshake: hang up right after the TLS handshake.
        reset_mid_frame: send half of each answer frame, then reset (RST); passive side only.
        delay: seconds to wait before each answer (passive) or send (active).
        wrong_length: bytes to add to (negative: remove from) each frame sent.
        pause_receiving: seconds after the handshake without receiving (EN_R FALSE); passive
            side only.
        expired_certificate: present the own certificate expired (renewed so in the store).
        accept_any_client_cert: accept any peer certificate (verification off, loudly).
        handshake_abort: the handshake point where the endpoint fails the handshake (alert or
            reset, as its TLS profile says); see ``ouc.drivers._handshake_faults``.
        handshake_stall: the handshake point where the endpoint goes silent.

    Raises:
        ConfigError: a value of the wrong type (``wrong_length="3"``, ``delay="1"``), a
            negative or infinite delay, a negative pause, an unknown handshake point.
    """

    close_after_handshake: bool = False
    reset_mid_frame: bool = False
    delay: float = 0.0
    wrong_length: int = 0
    pause_receiving: float = 0.0
    expired_certificate: bool = False
    accept_any_client_cert: bool = False
    handshake_abort: str | None = None
    handshake_stall: str | None = None

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            value = getattr(self, item.name)
            if item.name.startswith("handshake_"):
                ok = value is None or isinstance(value, str)
            elif isinstance(item.default, bool):
                ok = isinstance(value, bool)
            elif isinstance(item.default, int):
                ok = isinstance(value, int) and not isinstance(value, bool)
            else:
                ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok:
                kind = type(item.default).__name__ if item.default is not None else "str"
                raise ConfigError(
                    f"{item.name} must be {_KINDS[kind]}, got {type(value).__name__} {value!r}",
                    path=item.name,
                )
        points = HANDSHAKE_POINTS
        for name in ("handshake_abort", "handshake_stall"):
            value = getattr(self, name)
            if value is not None and value not in points:
                raise ConfigError(
                    f"{name} must be one of {', '.join(points)}, got {value!r}", path=name
                )
        if self.handshake_abort and self.handshake_stall:
            raise ConfigError(
                "handshake_abort and handshake_stall exclude each other: a handshake stops once",
                path="handshake_stall",
            )
        if not 0.0 <= self.delay < float("inf"):
            raise ConfigError(f"delay must be 0 or more seconds, got {self.delay}", path="delay")
        if not self.pause_receiving >= 0.0:  # NaN fails too; inf means "until stopped"
            raise ConfigError(
                f"pause_receiving must be 0 or more seconds, got {self.pause_receiving}",
                path="pause_receiving",
            )

    @property
    def names(self) -> tuple[str, ...]:
        """The faults switched on, e.g. ``("delay", "wrong_length")``."""
        return tuple(f.name for f in dataclasses.fields(self) if getattr(self, f.name) != f.default)

    def __bool__(self) -> bool:
        return bool(self.names)

    def shape(self, answer: bytes) -> bytes:
        """``answer`` with ``wrong_length`` applied (zeros appended, or bytes cut off)."""
        change = self.wrong_length
        if change > 0:
            return answer + bytes(change)
        if change < 0:
            return answer[: max(0, len(answer) + change)]
        return answer

    def wait(self) -> None:
        """Sleep ``delay`` seconds (in the connection's own thread: that is the fault)."""
        if self.delay:
            time.sleep(self.delay)

    @staticmethod
    def script(per_connection: Sequence[Faults], *, then: Faults | None = None) -> FaultScript:
        """Connection n (from 1) gets ``per_connection[n - 1]``; later ones get ``then``."""
        steps, rest = tuple(per_connection), then or Faults()
        return FaultScript(
            lambda connection, frame: steps[connection - 1] if connection <= len(steps) else rest,
            (*steps, rest),
        )

    @staticmethod
    def first(count: int, faults: Faults) -> FaultScript:
        """The first ``count`` connections get ``faults``, the later ones none."""
        if count < 0:
            raise ConfigError(f"count must be 0 or more, got {count}", path="count")
        return Faults.script([faults] * count)

    @staticmethod
    def when(predicate: Callable[[int, int], bool], faults: Faults) -> FaultScript:
        """``faults`` where ``predicate(connection, frame)`` is true (frame 0: at the handshake,
        for ``close_after_handshake`` and ``pause_receiving``; 1, 2, ...: each answer)."""
        none = Faults()
        return FaultScript(
            lambda connection, frame: faults if predicate(connection, frame) else none,
            (faults, none),
        )


_CONNECTION_ONLY = ("expired_certificate", "accept_any_client_cert")


@dataclass(frozen=True)
class FaultScript:
    """Faults per connection and frame, made by :meth:`Faults.script`, :meth:`Faults.first`
    or :meth:`Faults.when`.

    Attributes:
        pick: ``(connection, frame) -> Faults``; connection from 1, frame from 1 (0 at the
            handshake).
        choices: every Faults the script can give (to refuse certificate faults up front).
    """

    pick: Callable[[int, int], Faults]
    choices: tuple[Faults, ...]

    def __post_init__(self) -> None:
        for faults in self.choices:
            for name in _CONNECTION_ONLY:
                if getattr(faults, name):
                    raise ConfigError(
                        f"{name} applies to the endpoint's certificate, not to one connection; "
                        "pass it as Faults(...) without a script",
                        path=f"faults.{name}",
                    )

    def __bool__(self) -> bool:
        return True

    @property
    def names(self) -> tuple[str, ...]:
        """Every fault some connection of the script gets."""
        return tuple(sorted({name for faults in self.choices for name in faults.names}))
