"""Arguments of the endpoint classes, checked where they are given.

The CLI checks its flags with ``argparse`` types (``ouc.cli._types``) before any socket is
opened; these are the same checks for the Python API, so that ``connect_timeout=-1`` or
``listen=("127.0.0.1", 70000)`` is refused by the constructor with a :class:`ConfigError` that
names the argument, instead of failing later with a made-up PLC status or a foreign exception.
Both drivers use them. This module does no I/O.
"""

from __future__ import annotations

from ouc._input import MAX_SECONDS
from ouc._input import seconds as _seconds
from ouc.errors import ConfigError

__all__ = ["MAX_SECONDS", "address", "count", "optional_seconds", "seconds", "wait"]


def seconds(value: object, name: str) -> float:
    """``value`` as seconds greater than 0 and at most :data:`MAX_SECONDS` (as every setting
    that names a time span, :func:`ouc._input.seconds`).

    Raises:
        ConfigError: not a number (a bool or a string is none), 0 or less, NaN, too long.
    """
    return _seconds(value, name)


def optional_seconds(value: object, name: str) -> float | None:
    """Like :func:`seconds`, and None (no limit) stays None."""
    return None if value is None else seconds(value, name)


def wait(value: float, name: str = "timeout") -> float:
    """A call's own ``timeout`` (not None: the caller checks that, the call is on the record
    path): seconds of 0 (do not wait) or more, at most :data:`MAX_SECONDS`.

    Raises:
        ConfigError: not a number, negative, NaN or too long.
    """
    kind = type(value)  # exact types: True is no timeout
    if (kind is float or kind is int) and 0 <= value <= MAX_SECONDS:
        return value  # checked inline: receive(timeout=) runs once per frame
    if (kind is float or kind is int) and value < 0:
        raise ConfigError(f"must be 0 or more seconds, not {value!r}", path=name)
    return seconds(value, name)


def count(value: object, name: str, *, low: int = 1) -> int:
    """``value`` as a whole number of at least ``low``.

    Raises:
        ConfigError: not an int (a bool or a string is none), or below ``low``.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(
            f"{name} must be a whole number, got {type(value).__name__} {value!r}", path=name
        )
    if value < low:
        raise ConfigError(f"{name} must be at least {low}, got {value}", path=name)
    return value


def address(value: object, name: str, *, low_port: int = 0) -> tuple[str, int] | None:
    """``value`` as a ``(host, port)`` pair with a port in ``low_port``..65535; None stays None.

    Raises:
        ConfigError: not a pair of a host string and an int port, or the port out of range
            (naming the port and the range).
    """
    if value is None:
        return None
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise ConfigError(
            f"{name} must be a (host, port) pair such as ('127.0.0.1', 2000), got {value!r}",
            path=name,
        )
    host, port = value
    if not isinstance(host, str):
        raise ConfigError(
            f"{name}: the host must be a string such as '127.0.0.1', got {host!r}", path=name
        )
    if isinstance(port, bool) or not isinstance(port, int):
        raise ConfigError(f"{name}: the port must be a whole number, got {port!r}", path=name)
    if not low_port <= port <= 65535:
        zero = " (0: any free port)" if low_port == 0 else ""
        raise ConfigError(f"{name}: port {port} is outside {low_port}..65535{zero}", path=name)
    return host, port
