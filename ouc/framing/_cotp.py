"""ISO-on-TCP packets (RFC 1006): the TPKT header and the COTP class 0 TPDUs it carries.

Wire format (domain.md §6)::

    TPKT   03 00 LL LL               version 3, reserved 0, length incl. these 4 bytes (7..65535)
    COTP   LI CODE ...               LI = header length after the LI byte itself
      CR   LI E0 DST(2) SRC(2) CLASS params     connection request
      CC   LI D0 DST(2) SRC(2) CLASS params     connection confirm
      DR   LI 80 DST(2) SRC(2) REASON params    disconnect request (refuses a CR in class 0)
      DT   02 F0 EOT|NR user-data               data; bit 7 of the third byte = end of message
      ER   LI 70 DST(2) CAUSE params            TPDU error
    params (CR/CC): C0 01 n  (TPDU size 2**n, n 7..13), C1 len calling-TSAP, C2 len called-TSAP

The codecs are hand-written with :mod:`struct` rather than construct: DT packets are on the
ISO-on-TCP record path, and these layouts are a handful of fixed fields. Every decoding problem
raises :class:`~ouc.errors.FramingError` with status :data:`MALFORMED` (16#80C6, "network
error": the block sees a transport that broke its protocol; the PLC documents no closer code).

Round trip: ``decode_packet(t.encode()) == (t, t.size)`` for every TPDU object. ``encode`` emits
CR/CC parameters in the canonical order C0, C1, C2, then any others; ``decode_packet`` accepts any
order, so ``encode(decode(b)) == b`` holds for canonically ordered input.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar, TypeVar

from ouc.errors import FramingError, Status

__all__ = [
    "DEFAULT_TPDU_SIZE",
    "DR_NORMAL",
    "DR_PROTOCOL_ERROR",
    "DR_TSAP_UNKNOWN",
    "MALFORMED",
    "TPDU_SIZES",
    "TPKT_HEADER_LEN",
    "TPKT_MAX_LEN",
    "ConnectionConfirm",
    "ConnectionRequest",
    "DataTPDU",
    "DisconnectRequest",
    "ErrorTPDU",
    "Tpdu",
    "decode_packet",
    "parse_cotp",
]

#: Status for a malformed TPKT/COTP packet: 16#80C6 (network error).
MALFORMED: int = Status.NETWORK_ERROR

TPKT_VERSION = 3
TPKT_HEADER_LEN = 4
TPKT_MIN_LEN = 7
TPKT_MAX_LEN = 65535

#: TPDU sizes class 0 may negotiate (parameter C0 carries log2 of the size).
TPDU_SIZES: frozenset[int] = frozenset(1 << n for n in range(7, 14))
#: The class 0 default when a CR/CC carries no TPDU-size parameter (ISO 8073).
DEFAULT_TPDU_SIZE = 128

#: DR reasons (ISO 8073 §13.5.3) that ouc sends.
DR_NORMAL = 0x80  # normal disconnect initiated by the session entity
DR_TSAP_UNKNOWN = 0x02  # session entity not attached to TSAP: the called TSAP is not ours
DR_PROTOCOL_ERROR = 0x85

_CR, _CC, _DR, _DT, _ER = 0xE0, 0xD0, 0x80, 0xF0, 0x70
_P_TPDU_SIZE, _P_CALLING, _P_CALLED = 0xC0, 0xC1, 0xC2
_KNOWN_PARAMS = frozenset({_P_TPDU_SIZE, _P_CALLING, _P_CALLED})

_TPKT = struct.Struct(">BBH")
_REFS = struct.Struct(">HH")
#: A whole DT header: TPKT (03 00 LLLL) + COTP DT (02 F0 EOT|NR).
DT_HEADER = struct.Struct(">BBHBBB")
DT_HEADER_LEN = DT_HEADER.size
_DT_LI = 2
MAX_DT_DATA = TPKT_MAX_LEN - DT_HEADER_LEN

Params = tuple[tuple[int, bytes], ...]


def _bad(message: str, path: str | None = None) -> FramingError:
    return FramingError(message, status=MALFORMED, path=path)


def _check_range(value: int, high: int, path: str) -> None:
    if not 0 <= value <= high:
        raise FramingError(f"{value} is outside 0..{high}", path=path)


def _check_params(params: Params, path: str) -> None:
    for code, value in params:
        _check_range(code, 0xFF, path)
        _check_range(len(value), 0xFF, f"{path} length")


def _encode_params(params: Params) -> bytes:
    return b"".join(bytes((code, len(value))) + value for code, value in params)


def _params_size(params: Params) -> int:
    return sum(2 + len(value) for _, value in params)


def _tpkt(cotp: bytes) -> bytes:
    return _TPKT.pack(TPKT_VERSION, 0, TPKT_HEADER_LEN + len(cotp)) + cotp


def _check_header(
    obj: object, limits: tuple[tuple[str, int], ...], params: Params, fixed: int, path: str
) -> None:
    """Check a CR/CC/DR/ER object: field ranges, parameter sizes, LI at most 254."""
    for name, high in limits:
        _check_range(getattr(obj, name), high, name)
    _check_params(params, path)
    if 1 + fixed + _params_size(params) > 254:
        raise FramingError("COTP header longer than 254 bytes", path="extra")


def _header_size(fixed: int, params: Params) -> int:
    """Packet length of a CR/CC/DR/ER: TPKT, LI, code, ``fixed`` bytes, parameters."""
    return TPKT_HEADER_LEN + 2 + fixed + _params_size(params)


def _header_packet(code: int, fixed: bytes, params: Params) -> bytes:
    encoded = _encode_params(params)
    return _tpkt(bytes((1 + len(fixed) + len(encoded), code)) + fixed + encoded)


_REF_LIMITS = (("src_ref", 0xFFFF), ("dst_ref", 0xFFFF))


@dataclass(frozen=True, slots=True)
class _Connect:
    """Fields shared by CR and CC (class 0): references, class, and the three parameters.

    Attributes:
        calling_tsap: TSAP of the side that sent the CR (C1), None when absent.
        called_tsap: TSAP the CR is addressed to (C2), None when absent.
        tpdu_size: maximum TPDU size in bytes (C0: 128..8192, a power of two), None when absent.
        src_ref / dst_ref: connection references (DST is 0 in a CR).
        class_option: class (high nibble) and options (low nibble); 0 for class 0.
        extra: further parameters as (code, value), in wire order.
    """

    code: ClassVar[int]
    calling_tsap: bytes | None = None
    called_tsap: bytes | None = None
    tpdu_size: int | None = None
    src_ref: int = 0
    dst_ref: int = 0
    class_option: int = 0
    extra: Params = ()

    def __post_init__(self) -> None:
        if self.tpdu_size is not None and self.tpdu_size not in TPDU_SIZES:
            raise FramingError(
                f"TPDU size {self.tpdu_size} is not a power of two in 128..8192", path="tpdu_size"
            )
        if any(code in _KNOWN_PARAMS for code, _ in self.extra):
            raise FramingError("C0/C1/C2 belong in their own fields", path="extra")
        limits = (*_REF_LIMITS, ("class_option", 0xFF))
        _check_header(self, limits, self._params(), 5, "params")

    def _params(self) -> Params:
        params: list[tuple[int, bytes]] = []
        if self.tpdu_size is not None:
            params.append((_P_TPDU_SIZE, bytes((self.tpdu_size.bit_length() - 1,))))
        if self.calling_tsap is not None:
            params.append((_P_CALLING, self.calling_tsap))
        if self.called_tsap is not None:
            params.append((_P_CALLED, self.called_tsap))
        return (*params, *self.extra)

    @property
    def negotiated_size(self) -> int:
        """The TPDU size this packet stands for: its C0 value, else the class 0 default 128."""
        return DEFAULT_TPDU_SIZE if self.tpdu_size is None else self.tpdu_size

    @property
    def size(self) -> int:
        """Length of :meth:`encode`'s result, computed without encoding."""
        return _header_size(5, self._params())

    def encode(self) -> bytes:
        """The whole packet: TPKT header + COTP header with parameters."""
        fixed = _REFS.pack(self.dst_ref, self.src_ref) + bytes((self.class_option,))
        return _header_packet(self.code, fixed, self._params())


@dataclass(frozen=True, slots=True)
class ConnectionRequest(_Connect):
    """COTP CR (0xE0): the active side asks for a connection to ``called_tsap``."""

    code: ClassVar[int] = _CR


@dataclass(frozen=True, slots=True)
class ConnectionConfirm(_Connect):
    """COTP CC (0xD0): the passive side accepts; ``tpdu_size`` is the negotiated size."""

    code: ClassVar[int] = _CC


@dataclass(frozen=True, slots=True)
class DisconnectRequest:
    """COTP DR (0x80). In class 0 it only refuses a CR; an open connection ends with TCP FIN.

    Attributes:
        reason: ISO 8073 reason code (:data:`DR_TSAP_UNKNOWN`, :data:`DR_NORMAL`, ...).
        extra: parameters as (code, value), e.g. E0 additional information.
    """

    dst_ref: int = 0
    src_ref: int = 0
    reason: int = DR_NORMAL
    extra: Params = ()

    def __post_init__(self) -> None:
        _check_header(self, (*_REF_LIMITS, ("reason", 0xFF)), self.extra, 5, "extra")

    @property
    def size(self) -> int:
        """Length of :meth:`encode`'s result."""
        return _header_size(5, self.extra)

    def encode(self) -> bytes:
        """The whole packet: TPKT header + COTP DR."""
        fixed = _REFS.pack(self.dst_ref, self.src_ref) + bytes((self.reason,))
        return _header_packet(_DR, fixed, self.extra)


@dataclass(frozen=True, slots=True)
class ErrorTPDU:
    """COTP ER (0x70): the partner rejected a TPDU of ours (``cause`` per ISO 8073)."""

    dst_ref: int = 0
    cause: int = 0
    extra: Params = ()

    def __post_init__(self) -> None:
        _check_header(self, (("dst_ref", 0xFFFF), ("cause", 0xFF)), self.extra, 3, "extra")

    @property
    def size(self) -> int:
        """Length of :meth:`encode`'s result."""
        return _header_size(3, self.extra)

    def encode(self) -> bytes:
        """The whole packet: TPKT header + COTP ER."""
        fixed = self.dst_ref.to_bytes(2, "big") + bytes((self.cause,))
        return _header_packet(_ER, fixed, self.extra)


@dataclass(frozen=True, slots=True)
class DataTPDU:
    """COTP DT (0xF0, class 0): one piece of a message; ``eot`` marks the last piece.

    Attributes:
        data: the user data this TPDU carries (at most 65528 bytes per packet).
        eot: end of TSDU: this piece completes the message.
        nr: TPDU sequence number (always 0 in class 0).
    """

    data: bytes = b""
    eot: bool = True
    nr: int = 0

    def __post_init__(self) -> None:
        _check_range(self.nr, 0x7F, "nr")
        _check_range(len(self.data), MAX_DT_DATA, "data length")

    @property
    def size(self) -> int:
        """Length of :meth:`encode`'s result."""
        return DT_HEADER_LEN + len(self.data)

    def encode(self) -> bytes:
        """The whole packet: TPKT header + ``02 F0 EOT|NR`` + data."""
        flags = (0x80 if self.eot else 0) | self.nr
        header = DT_HEADER.pack(TPKT_VERSION, 0, self.size, _DT_LI, _DT, flags)
        return header + self.data


Tpdu = ConnectionRequest | ConnectionConfirm | DisconnectRequest | DataTPDU | ErrorTPDU


def _parse_params(body: bytes, start: int) -> Params:
    params: list[tuple[int, bytes]] = []
    pos, end = start, len(body)
    while pos < end:
        if end - pos < 2:
            raise _bad(f"parameter at COTP byte {pos} is cut off", "params")
        code, length = body[pos], body[pos + 1]
        if pos + 2 + length > end:
            raise _bad(f"parameter 16#{code:02X} runs past the COTP header", "params")
        params.append((code, body[pos + 2 : pos + 2 + length]))
        pos += 2 + length
    return tuple(params)


_C = TypeVar("_C", bound=_Connect)


def _parse_connect(cls: type[_C], body: bytes) -> _C:
    if len(body) < 7:
        raise _bad(f"{cls.__name__} header shorter than 7 bytes")
    dst_ref, src_ref = _REFS.unpack_from(body, 2)
    known: dict[int, bytes] = {}
    extra: list[tuple[int, bytes]] = []
    for code, value in _parse_params(body, 7):
        if code not in _KNOWN_PARAMS:
            extra.append((code, value))
        elif code in known:
            raise _bad(f"parameter 16#{code:02X} appears twice", "params")
        else:
            known[code] = value
    tpdu_size = None
    if _P_TPDU_SIZE in known:
        value = known[_P_TPDU_SIZE]
        if len(value) != 1 or not 7 <= value[0] <= 13:
            raise _bad(f"TPDU-size parameter {value.hex()} is not one byte 07..0D", "tpdu_size")
        tpdu_size = 1 << value[0]
    return cls(
        calling_tsap=known.get(_P_CALLING),
        called_tsap=known.get(_P_CALLED),
        tpdu_size=tpdu_size,
        src_ref=src_ref,
        dst_ref=dst_ref,
        class_option=body[6],
        extra=tuple(extra),
    )


def parse_cotp(payload: bytes) -> Tpdu:
    """Decode one COTP TPDU (the TPKT payload).

    Raises:
        FramingError: 16#80C6 for anything that is not a well-formed class 0 CR, CC, DR, DT or ER.
    """
    if len(payload) < 2:
        raise _bad("COTP TPDU shorter than 2 bytes")
    li, code = payload[0], payload[1]
    if li == 0 or li == 0xFF or li + 1 > len(payload):
        raise _bad(f"COTP length indicator {li} does not fit a {len(payload)}-byte TPDU")
    if code == _DT:
        if li != _DT_LI:
            raise _bad(f"class 0 DT needs length indicator 2, got {li}")
        flags = payload[2]
        return DataTPDU(payload[3:], bool(flags & 0x80), flags & 0x7F)
    if len(payload) != li + 1:
        raise _bad(f"COTP TPDU 16#{code:02X} carries user data, which class 0 forbids")
    header = bytes(payload)
    if code == _CR:
        return _parse_connect(ConnectionRequest, header)
    if code == _CC:
        return _parse_connect(ConnectionConfirm, header)
    if code == _DR:
        if li < 6:
            raise _bad("DR header shorter than 7 bytes")
        dst_ref, src_ref = _REFS.unpack_from(header, 2)
        return DisconnectRequest(dst_ref, src_ref, header[6], _parse_params(header, 7))
    if code == _ER:
        if li < 4:
            raise _bad("ER header shorter than 5 bytes")
        return ErrorTPDU(int.from_bytes(header[2:4], "big"), header[4], _parse_params(header, 5))
    raise _bad(f"unknown COTP TPDU code 16#{code:02X}")


def check_tpkt_header(version: int, reserved: int, length: int) -> None:
    """Raise FramingError (16#80C6) unless this is a valid TPKT header."""
    if version != TPKT_VERSION or reserved != 0:
        raise _bad(f"TPKT header starts {version:02X} {reserved:02X}, expected 03 00")
    if length < TPKT_MIN_LEN:
        raise _bad(f"TPKT length {length} is below the minimum of 7")


def decode_packet(data: bytes) -> tuple[Tpdu, int]:
    """Decode the one packet at the start of ``data``; trailing bytes are left alone.

    Returns:
        The TPDU and the number of bytes it took (the TPKT length).

    Raises:
        FramingError: 16#80C6 when the packet is malformed or ``data`` holds less than one packet.
    """
    if len(data) < TPKT_HEADER_LEN:
        raise _bad(f"{len(data)} bytes are too few for a TPKT header")
    version, reserved, length = _TPKT.unpack_from(data)
    check_tpkt_header(version, reserved, length)
    if len(data) < length:
        raise _bad(f"TPKT announces {length} bytes, only {len(data)} present")
    return parse_cotp(bytes(data[TPKT_HEADER_LEN:length])), length
