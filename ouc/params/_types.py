"""The connection descriptions as frozen, typed dataclasses whose field names are the TIA names.

Each class mirrors one system data type of the S7-1200/S7-1500 (domain.md §2): ``TconIpV4``
(``TCON_IP_v4``), ``TconIpV4Sec``, ``TconQdn``, ``TconQdnSec``, ``TconIpRfc`` and the legacy
``TconParam``. A value that the type cannot hold at all (a port above 65535, an address that is not
dotted IPv4, a QDN longer than 254 characters) is refused when the object is made, with a
:class:`~ouc.errors.ParamError` naming the field; a value the type can hold but a PLC would refuse
(port 0, ID 5000) is allowed here and reported by :func:`ouc.params.validate`, because users fuzz
exactly those blocks.

Besides the TIA fields every block answers the same questions, so that code above this layer need
not care which type it got: ``type_name``, ``role``, ``secure``, ``conn_id``, ``protocol``,
``remote_address``, ``remote_qdn``, ``remote_port``, ``local_port``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import Enum
from typing import ClassVar

from ouc.device import Role
from ouc.errors import ParamError, Status

__all__ = [
    "BLOCK_TYPES",
    "ISO_ON_TCP_PORT",
    "SIZES",
    "Block",
    "BoolForm",
    "Protocol",
    "TSelector",
    "TconIpRfc",
    "TconIpV4",
    "TconIpV4Sec",
    "TconParam",
    "TconQdn",
    "TconQdnSec",
    "canonical_type_name",
]

# ISO-on-TCP (RFC 1006) always runs on TCP port 102 on both sides; the TSAPs tell connections apart.
ISO_ON_TCP_PORT = 102

_WORD = 0xFFFF
_BYTE = 0xFF
_UDINT = 0xFFFF_FFFF
QDN_MAX_LEN = 254
TSEL_SIZE = 32


class BoolForm(Enum):
    """How the two Bools of a SEC block (byte 16/17, on QDN_SEC byte 272/273) are stored.

    ``BYTES``: one byte each, ActivateSecureConn in byte 16 and TLSServerReqClientCert in byte 17
    (Siemens' table; what ouc emits). ``BITS``: both packed into byte 16 as bits 16.0 and 16.1,
    byte 17 zero (standard-DB packing). When both forms give the same bytes (both Bools FALSE, or
    only ActivateSecureConn TRUE), parse reports ``BYTES``.
    """

    BYTES = "BYTES"
    BITS = "BITS"


class Protocol(Enum):
    """The transport a ConnectionType selects."""

    TCP = "TCP"
    UDP = "UDP"
    ISO_ON_TCP = "ISO-on-TCP"


# ConnectionType values (domain.md §2): 11 TCP, 17 TCP (compatibility), 19 UDP for the IP and QDN
# types; 12 and 18 ISO-on-TCP for TCON_IP_RFC; 17, 18, 19 for the legacy TCON_Param. A value not
# listed for a type gives protocol None (and 16#80B6 from the validator).
_IP_PROTOCOLS = {11: Protocol.TCP, 17: Protocol.TCP, 19: Protocol.UDP}
_RFC_PROTOCOLS = {12: Protocol.ISO_ON_TCP, 18: Protocol.ISO_ON_TCP}
_LEGACY_PROTOCOLS = {17: Protocol.TCP, 18: Protocol.ISO_ON_TCP, 19: Protocol.UDP}


def _fail(path: str, message: str, status: int = Status.CONNECT_INVALID) -> ParamError:
    return ParamError(message, status=status, path=path)


def _check_int(obj: object, name: str, high: int) -> None:
    value = getattr(obj, name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise _fail(name, f"must be an integer, not {type(value).__name__}")
    if not 0 <= value <= high:
        raise _fail(name, f"{value} does not fit: the field holds 0..{high}")


def _check_bool(obj: object, name: str) -> None:
    if not isinstance(getattr(obj, name), bool):
        raise _fail(name, f"must be TRUE or FALSE, not {getattr(obj, name)!r}")


def _check_ipv4(obj: object, name: str) -> None:
    value = getattr(obj, name)
    try:
        text = str(ipaddress.IPv4Address(value))
    except (ValueError, TypeError) as exc:
        raise _fail(
            name, f"{value!r} is not a dotted IPv4 address", Status.REMOTE_ADDRESS_INVALID
        ) from exc
    if not isinstance(value, str) or text != value:
        # Keep the canonical dotted form so that equal addresses compare equal.
        object.__setattr__(obj, name, text)


def _check_array(obj: object, name: str, size: int) -> None:
    """Byte arrays are stored at their full TIA size: shorter input is padded with zeros."""
    value = getattr(obj, name)
    if not isinstance(value, bytes | bytearray | memoryview):
        raise _fail(name, f"must be bytes (Array[1..{size}] of Byte), not {type(value).__name__}")
    raw = bytes(value)
    if len(raw) > size:
        raise _fail(name, f"has {len(raw)} bytes; the array holds {size}")
    object.__setattr__(obj, name, raw.ljust(size, b"\x00"))


def _ip_protocol(connection_type: int) -> Protocol | None:
    return _IP_PROTOCOLS.get(connection_type)


class _Plain:
    """What the types without TLS fields answer the same way: role, secure, conn_id."""

    ID: int
    ActiveEstablished: bool

    @property
    def role(self) -> Role:
        """ACTIVE (TSEND_C side, connects out) when ActiveEstablished is TRUE, else PASSIVE."""
        return Role.ACTIVE if self.ActiveEstablished else Role.PASSIVE

    @property
    def secure(self) -> bool:
        """Always False: this type has no TLS fields."""
        return False

    @property
    def conn_id(self) -> int:
        return self.ID


def _check_conn_para(obj: object) -> None:
    for name in ("InterfaceId", "ID", "RemotePort", "LocalPort"):
        _check_int(obj, name, _WORD)
    _check_int(obj, "ConnectionType", _BYTE)
    _check_bool(obj, "ActiveEstablished")


@dataclass(frozen=True)
class TconIpV4(_Plain):
    """``TCON_IP_v4`` (14 bytes): a TCP or UDP connection to an IPv4 partner."""

    InterfaceId: int
    ID: int
    ConnectionType: int
    ActiveEstablished: bool
    RemoteAddress: str
    RemotePort: int
    LocalPort: int

    type_name: ClassVar[str] = "TCON_IP_V4"
    size: ClassVar[int] = 14

    def __post_init__(self) -> None:
        _check_conn_para(self)
        _check_ipv4(self, "RemoteAddress")

    @property
    def protocol(self) -> Protocol | None:
        """TCP or UDP from ConnectionType; None when the value names no such protocol."""
        return _ip_protocol(self.ConnectionType)

    @property
    def remote_address(self) -> str | None:
        return self.RemoteAddress

    @property
    def remote_qdn(self) -> str | None:
        return None

    @property
    def remote_port(self) -> int:
        return self.RemotePort

    @property
    def local_port(self) -> int:
        return self.LocalPort


@dataclass(frozen=True)
class TconQdn(_Plain):
    """``TCON_QDN`` (266 bytes): like ``TCON_IP_v4`` but the partner is a fully qualified name."""

    InterfaceId: int
    ID: int
    ConnectionType: int
    ActiveEstablished: bool
    RemoteQDN: str
    RemotePort: int
    LocalPort: int

    type_name: ClassVar[str] = "TCON_QDN"
    size: ClassVar[int] = 266

    def __post_init__(self) -> None:
        _check_conn_para(self)
        if not isinstance(self.RemoteQDN, str):
            raise _fail("RemoteQDN", f"must be a string, not {type(self.RemoteQDN).__name__}")
        if len(self.RemoteQDN) > QDN_MAX_LEN:
            raise _fail("RemoteQDN", f"has {len(self.RemoteQDN)} characters; String[254] holds 254")
        try:
            self.RemoteQDN.encode("latin-1")
        except UnicodeEncodeError as exc:
            raise _fail(
                "RemoteQDN", "holds a character a PLC String cannot store (one byte per character)"
            ) from exc

    @property
    def protocol(self) -> Protocol | None:
        return _ip_protocol(self.ConnectionType)

    @property
    def remote_address(self) -> str | None:
        """None: the partner is named by :attr:`remote_qdn` and resolved at connect time."""
        return None

    @property
    def remote_qdn(self) -> str | None:
        return self.RemoteQDN

    @property
    def remote_port(self) -> int:
        return self.RemotePort

    @property
    def local_port(self) -> int:
        return self.LocalPort


@dataclass(frozen=True)
class _Sec:
    """The five TLS fields shared by TCON_IP_V4_SEC and TCON_QDN_SEC (domain.md §3), and the
    questions every block answers, delegated to ``ConnPara``.

    ``bool_form`` records how the two Bools were stored when parsed (and how :func:`build` stores
    them by default); it takes no part in equality, since both forms mean the same block.
    """

    ConnPara: TconIpV4 | TconQdn
    ActivateSecureConn: bool
    TLSServerReqClientCert: bool
    ExtTLSCapabilities: int
    TLSServerCertRef: int
    TLSClientCertRef: int
    bool_form: BoolForm = field(default=BoolForm.BYTES, compare=False)

    def __post_init__(self) -> None:
        expected = TconIpV4 if isinstance(self, TconIpV4Sec) else TconQdn
        if not isinstance(self.ConnPara, expected):
            raise _fail(
                "ConnPara", f"must be a {expected.__name__}, not {type(self.ConnPara).__name__}"
            )
        _check_bool(self, "ActivateSecureConn")
        _check_bool(self, "TLSServerReqClientCert")
        _check_int(self, "ExtTLSCapabilities", _WORD)
        _check_int(self, "TLSServerCertRef", _UDINT)
        _check_int(self, "TLSClientCertRef", _UDINT)
        if not isinstance(self.bool_form, BoolForm):
            raise _fail("bool_form", f"must be BoolForm.BYTES or BITS, not {self.bool_form!r}")

    @property
    def secure(self) -> bool:
        """ActivateSecureConn: TRUE runs TLS, FALSE plain TCP/UDP (the TLS fields are ignored)."""
        return self.ActivateSecureConn

    @property
    def role(self) -> Role:
        return self.ConnPara.role

    @property
    def conn_id(self) -> int:
        return self.ConnPara.ID

    @property
    def protocol(self) -> Protocol | None:
        return self.ConnPara.protocol

    @property
    def remote_address(self) -> str | None:
        return self.ConnPara.remote_address

    @property
    def remote_qdn(self) -> str | None:
        return self.ConnPara.remote_qdn

    @property
    def remote_port(self) -> int:
        return self.ConnPara.RemotePort

    @property
    def local_port(self) -> int:
        return self.ConnPara.LocalPort


# The subclasses narrow ConnPara's type; a dataclass field redeclared in a subclass keeps its
# place, so ConnPara stays first, as in TIA.
@dataclass(frozen=True)
class TconIpV4Sec(_Sec):
    """``TCON_IP_V4_SEC`` (28 bytes): ``TCON_IP_v4`` plus the TLS fields (Bools at 16/17)."""

    ConnPara: TconIpV4

    type_name: ClassVar[str] = "TCON_IP_V4_SEC"
    size: ClassVar[int] = 28


@dataclass(frozen=True)
class TconQdnSec(_Sec):
    """``TCON_QDN_SEC`` (284 bytes): ``TCON_QDN`` (padded to 272 bytes) plus the TLS fields."""

    ConnPara: TconQdn

    type_name: ClassVar[str] = "TCON_QDN_SEC"
    size: ClassVar[int] = 284


@dataclass(frozen=True)
class TSelector:
    """A T selector (TSAP) of ``TCON_IP_RFC``: TSelLength (UInt) and TSel (Array[1..32] of Byte).

    ``TSel`` is kept at its full 32 bytes (shorter input is padded with zeros), as the data block
    holds it; :attr:`value` is the part that counts. ``TSelLength`` may exceed 32 here so that such
    a block can be represented; the validator reports it (16#80B7).
    """

    TSelLength: int
    TSel: bytes = b""

    def __post_init__(self) -> None:
        _check_int(self, "TSelLength", _WORD)
        _check_array(self, "TSel", TSEL_SIZE)

    @classmethod
    def of(cls, value: bytes | str) -> TSelector:
        """A selector holding ``value`` (bytes, or text stored as ASCII), length set to match."""
        raw = value.encode("ascii") if isinstance(value, str) else bytes(value)
        return cls(len(raw), raw)

    @property
    def value(self) -> bytes:
        """The significant bytes: the first ``TSelLength`` (at most 32) bytes of ``TSel``."""
        return self.TSel[: min(self.TSelLength, TSEL_SIZE)]


@dataclass(frozen=True)
class TconIpRfc(_Plain):
    """``TCON_IP_RFC`` (80 bytes): an ISO-on-TCP (RFC 1006) connection; never secure."""

    InterfaceId: int
    ID: int
    ConnectionType: int
    ActiveEstablished: bool
    RemoteAddress: str
    RemoteTSelector: TSelector
    LocalTSelector: TSelector

    type_name: ClassVar[str] = "TCON_IP_RFC"
    size: ClassVar[int] = 80

    def __post_init__(self) -> None:
        for name in ("InterfaceId", "ID"):
            _check_int(self, name, _WORD)
        _check_int(self, "ConnectionType", _BYTE)
        _check_bool(self, "ActiveEstablished")
        _check_ipv4(self, "RemoteAddress")
        for name in ("RemoteTSelector", "LocalTSelector"):
            if not isinstance(getattr(self, name), TSelector):
                raise _fail(name, f"must be a TSelector, not {type(getattr(self, name)).__name__}")

    @property
    def protocol(self) -> Protocol | None:
        return _RFC_PROTOCOLS.get(self.ConnectionType)

    @property
    def remote_address(self) -> str | None:
        return self.RemoteAddress

    @property
    def remote_qdn(self) -> str | None:
        return None

    @property
    def remote_port(self) -> int:
        """ISO-on-TCP always connects to port 102."""
        return ISO_ON_TCP_PORT

    @property
    def local_port(self) -> int:
        return ISO_ON_TCP_PORT

    @property
    def local_tsap(self) -> bytes:
        return self.LocalTSelector.value

    @property
    def remote_tsap(self) -> bytes:
        return self.RemoteTSelector.value


@dataclass(frozen=True)
class TconParam:
    """Legacy ``TCON_Param`` (UDT 65, 64 bytes) with the Siemens field names.

    With connection_type 17 (TCP) or 19 (UDP) a port is the first two bytes of ``local_tsap_id``
    / ``rem_tsap_id``, high byte first, and counts only when its length field is 2; with 18
    (ISO-on-TCP) those arrays hold the TSAPs. ``rem_staddr[1..4]`` is the partner's IP address
    when ``rem_staddr_len`` is 4.
    """

    block_length: int
    id: int
    connection_type: int
    active_est: bool
    local_device_id: int
    local_tsap_id_len: int
    rem_subnet_id_len: int
    rem_staddr_len: int
    rem_tsap_id_len: int
    next_staddr_len: int
    local_tsap_id: bytes = b""
    rem_subnet_id: bytes = b""
    rem_staddr: bytes = b""
    rem_tsap_id: bytes = b""
    next_staddr: bytes = b""
    spare: int = 0

    type_name: ClassVar[str] = "TCON_PARAM"
    size: ClassVar[int] = 64
    ARRAYS: ClassVar[dict[str, int]] = {
        "local_tsap_id": 16,
        "rem_subnet_id": 6,
        "rem_staddr": 6,
        "rem_tsap_id": 16,
        "next_staddr": 6,
    }

    def __post_init__(self) -> None:
        for name in ("block_length", "id", "spare"):
            _check_int(self, name, _WORD)
        for name in (
            "connection_type",
            "local_device_id",
            "local_tsap_id_len",
            "rem_subnet_id_len",
            "rem_staddr_len",
            "rem_tsap_id_len",
            "next_staddr_len",
        ):
            _check_int(self, name, _BYTE)
        _check_bool(self, "active_est")
        for name, size in self.ARRAYS.items():
            _check_array(self, name, size)

    @property
    def role(self) -> Role:
        return Role.ACTIVE if self.active_est else Role.PASSIVE

    @property
    def secure(self) -> bool:
        return False

    @property
    def conn_id(self) -> int:
        return self.id

    @property
    def protocol(self) -> Protocol | None:
        return _LEGACY_PROTOCOLS.get(self.connection_type)

    @property
    def remote_address(self) -> str | None:
        """The partner's address, ``0.0.0.0`` when unspecified (rem_staddr_len 0)."""
        if self.rem_staddr_len != 4:
            return "0.0.0.0"
        return str(ipaddress.IPv4Address(self.rem_staddr[:4]))

    @property
    def remote_qdn(self) -> str | None:
        return None

    @property
    def remote_port(self) -> int:
        """The partner's port (ISO-on-TCP: 102); 0 when rem_tsap_id_len is not 2."""
        if self.connection_type == 18:
            return ISO_ON_TCP_PORT
        return int.from_bytes(self.rem_tsap_id[:2], "big") if self.rem_tsap_id_len == 2 else 0

    @property
    def local_port(self) -> int:
        """The local port (ISO-on-TCP: 102); 0 when local_tsap_id_len is not 2."""
        if self.connection_type == 18:
            return ISO_ON_TCP_PORT
        return int.from_bytes(self.local_tsap_id[:2], "big") if self.local_tsap_id_len == 2 else 0

    @property
    def local_tsap(self) -> bytes:
        return self.local_tsap_id[: min(self.local_tsap_id_len, 16)]

    @property
    def remote_tsap(self) -> bytes:
        return self.rem_tsap_id[: min(self.rem_tsap_id_len, 16)]


Block = TconIpV4 | TconIpV4Sec | TconQdn | TconQdnSec | TconIpRfc | TconParam
"""Any connection description ouc knows."""

BLOCK_TYPES: dict[str, type[Block]] = {
    cls.type_name: cls for cls in (TconIpV4, TconIpV4Sec, TconQdn, TconQdnSec, TconIpRfc, TconParam)
}
"""Type name (``"TCON_IP_V4_SEC"``) → class."""

SIZES: dict[int, str] = {cls.size: name for name, cls in BLOCK_TYPES.items()}
"""Block size in bytes → type name; the sizes are distinct, which is what lets parse detect."""


def canonical_type_name(name: str) -> str:
    """``"TCON_IP_v4"``, ``"tcon_param"`` → ``"TCON_IP_V4"``, ``"TCON_PARAM"``.

    Raises:
        ParamError: 16#809A when the name is no TCON type ouc knows.
    """
    canonical = name.strip().upper() if isinstance(name, str) else ""
    if canonical not in BLOCK_TYPES:
        known = ", ".join(BLOCK_TYPES)
        raise ParamError(
            f"{name!r} is not a connection description type; use one of {known}",
            status=Status.CONNECT_LENGTH,
            path="type",
        )
    return canonical
