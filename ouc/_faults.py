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
``accept_any_client_cert``   peer verification off (``insecure=True``: a WARNING for every
                             endpoint built, INSECURE on every connection): any client
                             certificate (passive) / server certificate (active) passes.
===========================  ==============================================================

This module holds only the switch: the pytest plugin imports it at the start of every test run,
which must stay cheap. The drivers apply it in ``ouc.drivers._faults``.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

from ouc.errors import ConfigError

__all__ = ["Faults"]


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

    Raises:
        ConfigError: a negative or infinite delay, a negative pause.
    """

    close_after_handshake: bool = False
    reset_mid_frame: bool = False
    delay: float = 0.0
    wrong_length: int = 0
    pause_receiving: float = 0.0
    expired_certificate: bool = False
    accept_any_client_cert: bool = False

    def __post_init__(self) -> None:
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
