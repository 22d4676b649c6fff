"""The ``AlternativeAddress`` control tag of a connection change (domain.md §8).

The WinCC note gives the alternative CPU of a connection change as text such as
``AccessPoint=abc; IPAddress=111.111.111.111;``. This module turns that text into an
:class:`AlternativeAddress` and back. It is tolerant where people are sloppy (spaces anywhere,
key case, a missing final ``;``, an empty ``;;``) and strict where a typo would connect to the
wrong place: an unknown key, a repeated key, a missing or malformed IP address is a
:class:`~ouc.errors.ConfigError` that quotes the bad part. Pure text handling, no I/O.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ouc.errors import ConfigError, Status

__all__ = ["AlternativeAddress"]

_FIELD = "AlternativeAddress"
_ACCESS_POINT = "AccessPoint"
_IP_ADDRESS = "IPAddress"
_BROADCAST = ipaddress.IPv4Address("255.255.255.255")
_KEYS = {_ACCESS_POINT.lower(): _ACCESS_POINT, _IP_ADDRESS.lower(): _IP_ADDRESS}


def _bad(message: str, status: int | None = None) -> ConfigError:
    return ConfigError(message, status=status, path=_FIELD)


def _check_ip(value: str) -> str:
    """The dotted IPv4 address ``value``, or a ConfigError saying what is wrong with it."""
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError:
        raise _bad(
            f"IPAddress {value!r} is not an IPv4 address like 192.168.0.3",
            Status.REMOTE_ADDRESS_INVALID,
        ) from None
    if address.is_unspecified or address.is_multicast or address == _BROADCAST:
        raise _bad(
            f"IPAddress {value} cannot be a partner CPU (unspecified, broadcast or multicast)",
            Status.REMOTE_ADDRESS_INVALID,
        )
    return str(address)


@dataclass(frozen=True)
class AlternativeAddress:
    """The alternative CPU of a connection: its IP address and the PC access point to use.

    Attributes:
        ip_address: the alternative CPU's (plant) IPv4 address; the port stays the block's
            RemotePort.
        access_point: the PC's access point (its network interface) named in the text, or None
            when the text names none.
    """

    ip_address: str
    access_point: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ip_address", _check_ip(self.ip_address))
        point = self.access_point
        if point is not None:
            point = point.strip()
            if not point:
                raise _bad("AccessPoint is empty")
            if ";" in point or "=" in point:
                raise _bad(f"AccessPoint {point!r} contains ';' or '='")
            object.__setattr__(self, "access_point", point)

    @classmethod
    def parse(cls, text: str) -> AlternativeAddress | None:
        """Parse ``AccessPoint=abc; IPAddress=111.111.111.111;``; blank text gives None.

        Raises:
            ConfigError: a part that is not ``KEY=VALUE``, an unknown or repeated key, an
                empty value, no IPAddress, an IPAddress that is not a usable IPv4 address
                (the latter with 16#80A4). The message quotes the offending part.
        """
        if not isinstance(text, str):
            raise _bad(f"must be text, not {type(text).__name__}")
        values: dict[str, str] = {}
        for raw in text.split(";"):
            part = raw.strip()
            if not part:
                continue  # the final ';' is optional, and ';;' is harmless
            key, sep, value = part.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or not key:
                raise _bad(
                    f"{part!r} is not KEY=VALUE; expected text like "
                    "'AccessPoint=abc; IPAddress=111.111.111.111;'"
                )
            name = _KEYS.get(key.lower())
            if name is None:
                raise _bad(
                    f"unknown key {key!r} in {part!r}; the keys are AccessPoint and IPAddress"
                )
            if name in values:
                raise _bad(f"{name} is given twice ({part!r})")
            if not value:
                raise _bad(f"{name} has no value in {part!r}")
            values[name] = value
        if not values:
            return None
        if _IP_ADDRESS not in values:
            raise _bad(f"{text.strip()!r} names no IPAddress (e.g. 'IPAddress=192.168.0.3;')")
        return cls(ip_address=values[_IP_ADDRESS], access_point=values.get(_ACCESS_POINT))

    @property
    def text(self) -> str:
        """The canonical text: ``AccessPoint=abc; IPAddress=111.111.111.111;``."""
        parts = [] if self.access_point is None else [f"{_ACCESS_POINT}={self.access_point}"]
        parts.append(f"{_IP_ADDRESS}={self.ip_address}")
        return "; ".join(parts) + ";"

    def __str__(self) -> str:
        return self.text
