"""The emulated device: CPU family, firmware and what follows from them.

Many rules depend on the device that runs the block (domain.md §2–§4): the allowed port range,
the TLS versions, the key types, the largest LEN. :class:`Device` keeps those facts in one place so
the parameter validator, the certificate store and the TLS engine all ask the same object.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from enum import Enum

from ouc.errors import ConfigError

__all__ = [
    "DEFAULT_FIRMWARE",
    "SYSTEM_PORTS",
    "SYSTEM_SERVICES",
    "Device",
    "Family",
    "Role",
    "SystemService",
    "TLSVersion",
    "known_firmware",
]


class Role(Enum):
    """Which side of a connection an endpoint plays."""

    ACTIVE = "active"  # TSEND_C side, TLS client, connects out
    PASSIVE = "passive"  # TRCV_C side, TLS server, listens


class Family(Enum):
    """CPU families whose Secure OUC behaviour ouc emulates."""

    S7_1200 = "S7-1200"
    S7_1500 = "S7-1500"


class TLSVersion(Enum):
    """TLS protocol versions a firmware may speak (TLS 1.2 is the floor, always)."""

    TLS1_2 = "TLSv1.2"
    TLS1_3 = "TLSv1.3"


@dataclass(frozen=True)
class SystemService:
    """A service of the CPU that holds local ports, so a TCON block using one gets 16#80A2.

    Args:
        name: what an engineer knows the service as.
        ports: the ports it holds.
        setting: the :class:`Device` field that switches it on, or None when always on.
        source: where the port list comes from; starts with "inference" when it is one.
    """

    name: str
    ports: tuple[int, ...]
    setting: str | None
    source: str

    @property
    def inferred(self) -> bool:
        return self.source.startswith("inference")


# The ports the system holds depend on what the CPU has switched on; TIA's help names no fixed
# list (domain.md §2, the 16#80A2 row and the paragraph on ports).
SYSTEM_SERVICES: tuple[SystemService, ...] = (
    SystemService(
        "S7 communication / ISO-on-TCP",
        (102,),
        None,
        "domain.md §2: port 102 (ISO-on-TCP, RFC 1006), held by every CPU",
    ),
    SystemService(
        "web server (HTTP, HTTPS)",
        (80, 443),
        "web_server",
        "domain.md §2: 80/443 only while the web server is switched on",
    ),
    SystemService(
        "OPC UA server",
        (4840,),
        "opc_ua",
        "domain.md §2: 4840 only while the OPC UA server is switched on (inference that the "
        "server keeps its default port; TIA lets it be changed)",
    ),
    SystemService(
        "PROFINET",
        (34962, 34963, 34964),
        "profinet",
        "inference: the PROFINET RT and context-manager ports (IANA), named by domain.md §2 "
        "without a source in the help",
    ),
)

# Every port some setting may hold: what a block must avoid to be valid on any device.
SYSTEM_PORTS: frozenset[int] = frozenset(p for s in SYSTEM_SERVICES for p in s.ports)

# Firmware versions released per family, from the CPUs' firmware histories as TIA Portal's
# hardware catalogue lists them (inference: domain.md names only some of them).
_RELEASED: dict[Family, frozenset[tuple[int, int]]] = {
    Family.S7_1500: frozenset(
        {(1, 0), (1, 1), (1, 5), (1, 6), (1, 7), (1, 8), (2, 0), (2, 1), (2, 5), (2, 6)}
        | {(2, 8), (2, 9), (3, 0), (3, 1), (4, 0)}
    ),
    Family.S7_1200: frozenset(
        {(1, 0), (2, 0), (2, 1), (2, 2), (3, 0), (4, 0), (4, 1), (4, 2), (4, 3), (4, 4)}
        | {(4, 5), (4, 6), (4, 7)}
    ),
}


def known_firmware(family: Family) -> frozenset[tuple[int, int]]:
    """The (major, minor) firmware versions released for ``family``.

    ``Device(...)`` and :meth:`Device.from_text` refuse versions the family never ran, so a
    typo such as V9.9 (or an S7-1200 with an S7-1500's V3.1) does not pass silently.
    """
    return _RELEASED[family]


_FIRMWARE = re.compile(r"^[Vv]?(\d+)\.(\d+)(?:\.(\d+))?$")


def _parse_firmware(text: str) -> tuple[int, int]:
    match = _FIRMWARE.match(text.strip())
    if not match:
        raise ConfigError(f"firmware {text!r} is not a version like V3.1", path="firmware")
    return int(match.group(1)), int(match.group(2))


#: The firmware a :class:`Device` of each family runs when none is given (as the CLI's
#: ``--family`` without ``--firmware``).
DEFAULT_FIRMWARE: dict[Family, tuple[int, int]] = {
    Family.S7_1500: (3, 1),
    Family.S7_1200: (4, 6),
}


def _family(value: object) -> Family:
    """A :class:`Family` from itself or its name (``"S7-1500"``, ``"s7_1200"``)."""
    if isinstance(value, Family):
        return value
    if isinstance(value, str):
        try:
            return Family(value.strip().upper().replace("S7_", "S7-"))
        except ValueError:
            pass
    known = " or ".join(f.value for f in Family)
    raise ConfigError(f"unknown CPU family {value!r}; use {known}", path="family")


def _firmware(family: Family, value: object, *, shown: str | None = None) -> tuple[int, int]:
    """``value`` as a (major, minor) firmware that ``family`` was released with.

    ``shown``: how the error shows the value (the user's text, ``'V9.9'``).
    """
    if (
        not isinstance(value, tuple | list)
        or len(value) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in value)
    ):
        raise ConfigError(
            f"firmware must be (major, minor) such as (3, 1), got {value!r}", path="firmware"
        )
    version = (value[0], value[1])
    if version not in _RELEASED[family]:
        known = ", ".join(f"V{major}.{minor}" for major, minor in sorted(_RELEASED[family]))
        text = shown or f"V{version[0]}.{version[1]}"
        raise ConfigError(f"{family.value} has no firmware {text}; known: {known}", path="firmware")
    return version


@dataclass(frozen=True)
class Device:
    """An emulated CPU.

    Args:
        family: S7-1200 or S7-1500 (a :class:`Family` or its name, ``"S7-1200"``).
        firmware: (major, minor), e.g. (3, 1) for V3.1: one the family was released with
            (:func:`known_firmware`). Default: V3.1 on S7-1500, V4.6 on S7-1200.
        own_addresses: the device's own IPv4 addresses (a block naming one as partner is 16#80A4).
        name: the device name used by the certificate store's assignments.
        web_server, opc_ua, profinet: which services the CPU has switched on; each holds its
            ports (:data:`SYSTEM_SERVICES`, 16#80A2). All on by default, so a block that passes
            is valid whatever the CPU has switched on (the strict choice; an inference).
    """

    family: Family = Family.S7_1500
    # None (the default) becomes the family's default firmware in __post_init__.
    firmware: tuple[int, int] = None  # type: ignore[assignment]
    own_addresses: tuple[str, ...] = ()
    name: str = "PLC_1"
    web_server: bool = True
    opc_ua: bool = True
    profinet: bool = True
    _own: frozenset[ipaddress.IPv4Address] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        family = _family(self.family)
        object.__setattr__(self, "family", family)
        firmware = DEFAULT_FIRMWARE[family] if self.firmware is None else self.firmware
        object.__setattr__(self, "firmware", _firmware(family, firmware))
        if isinstance(self.own_addresses, str):
            raise ConfigError(
                f"own_addresses must be a tuple of addresses such as ({self.own_addresses!r},), "
                "not one string",
                path="own_addresses",
            )
        try:
            own = frozenset(ipaddress.IPv4Address(a) for a in self.own_addresses)
        except ValueError as exc:
            raise ConfigError(f"own address is not IPv4: {exc}", path="own_addresses") from exc
        object.__setattr__(self, "_own", own)

    @classmethod
    def from_text(cls, family: str = "S7-1500", firmware: str = "V3.1", **kwargs: object) -> Device:
        """Build from user text such as ``("S7-1200", "V4.5")``; raises ConfigError when unknown."""
        fam = _family(family)
        version = _parse_firmware(firmware)
        _firmware(fam, version, shown=repr(firmware))
        return cls(family=fam, firmware=version, **kwargs)  # type: ignore[arg-type]

    @property
    def firmware_text(self) -> str:
        return f"V{self.firmware[0]}.{self.firmware[1]}"

    @property
    def max_port(self) -> int:
        """Highest port number a TCON block may use: 65535 from S7-1500 V3.0, else 49151."""
        if self.family is Family.S7_1500 and self.firmware >= (3, 0):
            return 65535
        return 49151

    @property
    def services(self) -> tuple[SystemService, ...]:
        """The port-holding services switched on for this device, always-on ones first."""
        return tuple(s for s in SYSTEM_SERVICES if s.setting is None or getattr(self, s.setting))

    def system_service(self, port: int) -> SystemService | None:
        """The switched-on service holding ``port`` (16#80A2), or None when the port is free."""
        return next((s for s in self.services if port in s.ports), None)

    @property
    def loads_certificates_at_runtime(self) -> bool:
        """True when the CPU takes renewed or replaced certificates while running.

        domain.md §7: loading new certificates into a running CPU needs firmware V3.1 or later
        (an S7-1500 version); before that they reach the CPU with a download. For the S7-1200's
        firmware line (V4.x) the sources say nothing: False, an inference.
        """
        return self.family is Family.S7_1500 and self.firmware >= (3, 1)

    @property
    def tls_versions(self) -> tuple[TLSVersion, ...]:
        """TLS versions the firmware speaks; empty when it has no Secure OUC at all."""
        v12, v13 = (2, 0), (2, 9)
        if self.family is Family.S7_1200:
            v12, v13 = (4, 4), (4, 5)
        versions: list[TLSVersion] = []
        if self.firmware >= v12:
            versions.append(TLSVersion.TLS1_2)
        if self.firmware >= v13:
            versions.append(TLSVersion.TLS1_3)
        return tuple(versions)

    @property
    def supports_secure_ouc(self) -> bool:
        return bool(self.tls_versions)

    @property
    def rsa_key_sizes(self) -> frozenset[int]:
        """RSA key sizes the device accepts: 1024 (legacy) and 2048, 4096 only on S7-1500
        (domain.md §3, which names no 3072)."""
        sizes = {1024, 2048}
        if self.family is Family.S7_1500:
            sizes.add(4096)
        return frozenset(sizes)

    @property
    def ec_curves(self) -> frozenset[str]:
        """EC curves the device accepts, by OpenSSL short name."""
        return frozenset({"secp256r1", "secp384r1"})

    @property
    def max_send_len(self) -> int:
        """Largest LEN for TSEND_C/TRCV_C: 65536 on S7-1500, 8192 on S7-1200."""
        return 65536 if self.family is Family.S7_1500 else 8192

    @property
    def max_certificates(self) -> int:
        """A device holds at most 64 certificates/keys (domain.md §7)."""
        return 64

    def is_own_address(self, address: str) -> bool:
        try:
            return ipaddress.IPv4Address(address) in self._own
        except ValueError:
            return False
