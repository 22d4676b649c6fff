"""TCP keep-alive on every connection, as the CPU arms it.

The seed capture (domain.md §4, the application example "Using Certificates with TIA Portal"):
an idle OUC connection carries TCP keep-alives from both sides after about 30 s without traffic
(31 s in the capture). So both drivers arm keep-alive by default on accepted and connected
sockets with 30 s idle. What the CPU does when probes go unanswered is not in the capture: the
interval (10 s) and the count (3 probes) are an inference, and configurable.

On Linux a socket ``accept()`` returns inherits the listening socket's keep-alive settings, so a
passive endpoint sets them once on its listener (no system call per connection); elsewhere, and
on the active side, each socket is set up on its own.
"""

from __future__ import annotations

import _socket
import socket
import sys
from dataclasses import dataclass

from ouc.errors import ConfigError

__all__ = [
    "ACCEPT_INHERITS_KEEPALIVE",
    "DEFAULT_KEEPALIVE",
    "KeepAlive",
    "apply_keepalive",
    "parse_keepalive",
]

#: Linux copies SO_KEEPALIVE and the TCP_KEEP* values of a listener to its accepted sockets.
ACCEPT_INHERITS_KEEPALIVE = sys.platform.startswith("linux")

# Linux's limits (MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL, MAX_TCP_KEEPCNT).
_MAX_SECONDS = 32767
_MAX_COUNT = 127


@dataclass(frozen=True)
class KeepAlive:
    """TCP keep-alive settings of an endpoint's sockets.

    Args:
        idle: seconds without traffic before the first probe (30: the seed capture).
        interval: seconds between unanswered probes (10, an inference).
        count: unanswered probes before the connection is dropped (3, an inference); the
            driver then sees a reset (16#80C5/16#80C6 by the errno).
    """

    idle: int = 30
    interval: int = 10
    count: int = 3

    def __post_init__(self) -> None:
        for name, top in (
            ("idle", _MAX_SECONDS),
            ("interval", _MAX_SECONDS),
            ("count", _MAX_COUNT),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= top:
                raise ConfigError(
                    f"keep-alive {name} must be a whole number from 1 to {top}, not {value!r}",
                    path="keepalive",
                )

    def __str__(self) -> str:
        return f"{self.idle},{self.interval},{self.count}"

    def apply(self, sock: _socket.socket) -> None:
        """Arm keep-alive on ``sock`` (a listener: its accepted sockets inherit it on Linux)."""
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        if hasattr(socket, "TCP_KEEPIDLE"):  # Linux, BSD
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, self.idle)
        elif hasattr(socket, "TCP_KEEPALIVE"):  # macOS: the same option, another name
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPALIVE, self.idle)
        if hasattr(socket, "TCP_KEEPINTVL"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, self.interval)
        if hasattr(socket, "TCP_KEEPCNT"):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, self.count)


#: What every endpoint arms unless told otherwise: 30 s idle, 10 s interval, 3 probes.
DEFAULT_KEEPALIVE = KeepAlive()


def apply_keepalive(sock: _socket.socket, keepalive: KeepAlive | None) -> None:
    """:meth:`KeepAlive.apply`, or nothing when keep-alive is off (None)."""
    if keepalive is not None:
        keepalive.apply(sock)


def parse_keepalive(text: str | KeepAlive | None, option: str = "--keepalive") -> KeepAlive | None:
    """``"30"``, ``"30,10,3"`` (IDLE[,INTERVAL,COUNT] seconds/probes) or ``"off"`` → settings.

    A missing INTERVAL or COUNT keeps its default. A :class:`KeepAlive` or None passes through.

    Raises:
        ConfigError: naming ``option``, when the text is neither ``off`` nor 1-3 whole numbers
            in range.
    """
    if text is None or isinstance(text, KeepAlive):
        return text
    cleaned = text.strip().lower()
    if cleaned in ("off", "no", "0", "false"):
        return None
    if cleaned in ("on", "yes", "true", "default"):
        return DEFAULT_KEEPALIVE
    parts = [p.strip() for p in cleaned.split(",")]
    names = ("idle", "interval", "count")
    if not 1 <= len(parts) <= 3:
        raise ConfigError(
            f"{text!r} is not IDLE[,INTERVAL,COUNT] (e.g. 30 or 30,10,3) or 'off'", path=option
        )
    values: dict[str, int] = {}
    for name, part in zip(names, parts, strict=False):
        try:
            values[name] = int(part)
        except ValueError:
            raise ConfigError(
                f"keep-alive {name} {part!r} is not a whole number (IDLE[,INTERVAL,COUNT], "
                "e.g. 30,10,3, or 'off')",
                path=option,
            ) from None
    try:
        return KeepAlive(**values)
    except ConfigError as exc:
        raise ConfigError(exc.message, path=option) from None
