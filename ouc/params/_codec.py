"""Bytes ↔ blocks: :func:`parse` and :func:`build`, the only users of the construct schemas.

Decisions a PLC manual leaves open, made here once:

* **Length.** A block must have exactly its type's size. With ``type_name`` given, fewer bytes
  (truncated) and more bytes (trailing) are both 16#809A, "wrong length": a CONNECT parameter
  points at exactly one structure, so extra bytes are not "the next thing" but a wrong pointer.
  Without ``type_name`` the type is the one whose size equals ``len(data)`` (14, 28, 64, 80, 266,
  284 bytes are all distinct); any other length is 16#809A. So a 14-byte block followed by 14
  more bytes is read as a 28-byte ``TCON_IP_V4_SEC`` (or refused) — say the type to be strict.
* **Bools** (byte 5, ``active_est``) must be 16#00 or 16#01. On the SEC types the two Bools at
  byte 16/17 (QDN_SEC: 272/273) are accepted in the byte form (16#00/16#01 each) or bit-packed
  (bits 16.0 and 16.1, byte 17 zero); :class:`BoolForm` records which, and ``BYTES`` when the two
  forms give the same bytes. Anything else, e.g. 16#FF, is 16#8089.
* **Reserved bytes** (SEC 14..15, QDN_SEC 266..271, RFC 6..7) must be zero: ouc refuses what it
  could not write back byte for byte (16#8089). The same goes for the characters after the
  current length of ``RemoteQDN`` and for a maximum length other than 254.
* ``strict=False`` relaxes those three for dumps of real PLC memory (a PLC leaves stale
  characters after a shortened String): Bools are read from bit 0, reserved bytes and stale
  characters are ignored. Then ``build(parse(b)) == b`` no longer holds.

Every failure is a :class:`~ouc.errors.ParamError` carrying the status and the field path.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from ouc.errors import ParamError, Status
from ouc.params._schema import pack, unpack
from ouc.params._types import (
    BLOCK_TYPES,
    QDN_MAX_LEN,
    SIZES,
    Block,
    BoolForm,
    TconIpRfc,
    TconIpV4,
    TconIpV4Sec,
    TconParam,
    TconQdn,
    TconQdnSec,
    TSelector,
    canonical_type_name,
)

__all__ = ["build", "detect_type", "parse"]


def detect_type(size: int) -> str:
    """The type name whose block has ``size`` bytes.

    Raises:
        ParamError: 16#809A when no type has that size.
    """
    try:
        return SIZES[size]
    except KeyError:
        sizes = ", ".join(f"{n} ({s} bytes)" for s, n in sorted(SIZES.items()))
        raise ParamError(
            f"{size} bytes are no connection description; the types are {sizes}",
            status=Status.CONNECT_LENGTH,
        ) from None


def parse(data: bytes, type_name: str | None = None, *, strict: bool = True) -> Block:
    """Parse one connection description.

    Args:
        data: exactly one block's bytes (bytes, bytearray or memoryview).
        type_name: ``"TCON_IP_V4_SEC"`` etc. (any case); None detects the type from the length.
        strict: refuse bytes that would not be written back identically (see the module doc).

    Returns:
        The block; SEC blocks carry the :class:`BoolForm` seen at byte 16/17.

    Raises:
        ParamError: 16#809A wrong length or unknown type; 16#8089 bytes that are no valid block.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ParamError(
            f"a connection description is bytes, not {type(data).__name__}",
            status=Status.CONNECT_INVALID,
        )
    raw = bytes(data)
    name = detect_type(len(raw)) if type_name is None else canonical_type_name(type_name)
    size = BLOCK_TYPES[name].size
    if len(raw) != size:
        what = "truncated" if len(raw) < size else f"{len(raw) - size} trailing bytes"
        raise ParamError(
            f"{name} is {size} bytes, got {len(raw)} ({what})",
            status=Status.CONNECT_LENGTH,
        )
    return _READERS[name](unpack(name, raw), _Reader(strict))


class _Reader:
    """Turns raw schema values into typed ones, refusing (strict) what cannot be written back."""

    def __init__(self, strict: bool) -> None:
        self.strict = strict

    def flag(self, value: int, path: str) -> bool:
        if value in (0, 1):
            return value == 1
        if self.strict:
            raise ParamError(
                f"a Bool byte must be 16#00 or 16#01, found 16#{value:02X}",
                status=Status.CONNECT_INVALID,
                path=path,
            )
        return bool(value & 1)

    def reserved(self, value: bytes, path: str) -> None:
        if self.strict and any(value):
            raise ParamError(
                f"reserved bytes must be zero, found {value.hex(' ').upper()}",
                status=Status.CONNECT_INVALID,
                path=path,
            )

    def bools_16(self, first: int, second: int, prefix: str) -> tuple[bool, bool, BoolForm]:
        """ActivateSecureConn / TLSServerReqClientCert in byte form or bit-packed in one byte."""
        if first in (0, 1) and second in (0, 1):
            return first == 1, second == 1, BoolForm.BYTES
        if second == 0 and first in (2, 3):
            return bool(first & 1), bool(first & 2), BoolForm.BITS
        if not self.strict:
            if second == 0 and first & 2:
                return bool(first & 1), True, BoolForm.BITS
            return bool(first & 1), bool(second & 1), BoolForm.BYTES
        raise ParamError(
            f"bytes {prefix} are 16#{first:02X} 16#{second:02X}: neither two Bool bytes "
            "(16#00/16#01 each) nor two Bools packed in bits .0 and .1 of the first byte",
            status=Status.CONNECT_INVALID,
            path="ActivateSecureConn",
        )

    def string_254(self, box: Any, path: str) -> str:
        length = box.Length
        if length > QDN_MAX_LEN:
            raise ParamError(
                f"current length {length} is longer than the String[254] can hold",
                status=Status.CONNECT_INVALID,
                path=path,
            )
        if self.strict and box.MaxLength != QDN_MAX_LEN:
            raise ParamError(
                f"maximum length byte is {box.MaxLength}; a String[254] stores 254",
                status=Status.CONNECT_INVALID,
                path=path,
            )
        if self.strict and any(box.Chars[length:]):
            raise ParamError(
                "characters after the current length must be zero (strict parse)",
                status=Status.CONNECT_INVALID,
                path=path,
            )
        text: str = box.Chars[:length].decode("latin-1")
        return text


def _ipv4(raw: bytes) -> str:
    return str(ipaddress.IPv4Address(raw))


def _conn_para_args(box: Any, rd: _Reader, prefix: str) -> dict[str, Any]:
    return {
        "InterfaceId": box.InterfaceId,
        "ID": box.ID,
        "ConnectionType": box.ConnectionType,
        "ActiveEstablished": rd.flag(box.ActiveEstablished, prefix + "ActiveEstablished"),
        "RemotePort": box.RemotePort,
        "LocalPort": box.LocalPort,
    }


def _read_ip_v4(box: Any, rd: _Reader, prefix: str = "") -> TconIpV4:
    return TconIpV4(RemoteAddress=_ipv4(box.RemoteAddress), **_conn_para_args(box, rd, prefix))


def _read_qdn(box: Any, rd: _Reader, prefix: str = "") -> TconQdn:
    qdn = rd.string_254(box.RemoteQDN, prefix + "RemoteQDN")
    return TconQdn(RemoteQDN=qdn, **_conn_para_args(box, rd, prefix))


def _tls_args(box: Any, rd: _Reader, prefix: str) -> dict[str, Any]:
    activate, req_cert, form = rd.bools_16(
        box.ActivateSecureConn, box.TLSServerReqClientCert, prefix
    )
    return {
        "ActivateSecureConn": activate,
        "TLSServerReqClientCert": req_cert,
        "ExtTLSCapabilities": box.ExtTLSCapabilities,
        "TLSServerCertRef": box.TLSServerCertRef,
        "TLSClientCertRef": box.TLSClientCertRef,
        "bool_form": form,
    }


def _read_ip_v4_sec(box: Any, rd: _Reader) -> TconIpV4Sec:
    rd.reserved(box.Reserved, "Reserved[14..15]")
    conn = _read_ip_v4(box.ConnPara, rd, "ConnPara.")
    return TconIpV4Sec(ConnPara=conn, **_tls_args(box, rd, "16/17"))


def _read_qdn_sec(box: Any, rd: _Reader) -> TconQdnSec:
    rd.reserved(box.Reserved, "Reserved[266..271]")
    conn = _read_qdn(box.ConnPara, rd, "ConnPara.")
    return TconQdnSec(ConnPara=conn, **_tls_args(box, rd, "272/273"))


def _read_rfc(box: Any, rd: _Reader) -> TconIpRfc:
    rd.reserved(box.Reserved, "Reserved[6..7]")
    return TconIpRfc(
        InterfaceId=box.InterfaceId,
        ID=box.ID,
        ConnectionType=box.ConnectionType,
        ActiveEstablished=rd.flag(box.ActiveEstablished, "ActiveEstablished"),
        RemoteAddress=_ipv4(box.RemoteAddress),
        RemoteTSelector=TSelector(box.RemoteTSelector.TSelLength, box.RemoteTSelector.TSel),
        LocalTSelector=TSelector(box.LocalTSelector.TSelLength, box.LocalTSelector.TSel),
    )


def _read_param(box: Any, rd: _Reader) -> TconParam:
    args = {k: v for k, v in box.items() if not k.startswith("_")}
    args["active_est"] = rd.flag(box.active_est, "active_est")
    return TconParam(**args)


_READERS: dict[str, Any] = {
    "TCON_IP_V4": _read_ip_v4,
    "TCON_IP_V4_SEC": _read_ip_v4_sec,
    "TCON_QDN": _read_qdn,
    "TCON_QDN_SEC": _read_qdn_sec,
    "TCON_IP_RFC": _read_rfc,
    "TCON_PARAM": _read_param,
}


def build(block: Block, bool_form: BoolForm | None = None) -> bytes:
    """The block's bytes.

    Args:
        block: any block type.
        bool_form: how a SEC block stores its two Bools; None uses ``block.bool_form`` (BYTES
            unless the block was parsed from the bit-packed form). Ignored by other types.

    Raises:
        ParamError: 16#8089 when ``block`` is not a block, or ``bool_form`` is neither a
            :class:`BoolForm` nor None (a typo such as ``"BITS"`` must not pass unnoticed).
    """
    name = getattr(block, "type_name", None)
    if not isinstance(block, tuple(BLOCK_TYPES.values())) or name is None:
        raise ParamError(
            f"cannot build {type(block).__name__}: not a connection description",
            status=Status.CONNECT_INVALID,
        )
    if bool_form is not None and not isinstance(bool_form, BoolForm):
        raise ParamError(
            f"must be BoolForm.BYTES, BoolForm.BITS or None, not {bool_form!r}",
            status=Status.CONNECT_INVALID,
            path="bool_form",
        )
    return pack(name, _container(block, bool_form))


def _conn_para_values(conn: TconIpV4 | TconQdn) -> dict[str, Any]:
    values: dict[str, Any] = {
        "InterfaceId": conn.InterfaceId,
        "ID": conn.ID,
        "ConnectionType": conn.ConnectionType,
        "ActiveEstablished": int(conn.ActiveEstablished),
        "RemotePort": conn.RemotePort,
        "LocalPort": conn.LocalPort,
    }
    if isinstance(conn, TconIpV4):
        values["RemoteAddress"] = ipaddress.IPv4Address(conn.RemoteAddress).packed
    else:
        text = conn.RemoteQDN.encode("latin-1")
        values["RemoteQDN"] = {
            "MaxLength": QDN_MAX_LEN,
            "Length": len(text),
            "Chars": text.ljust(QDN_MAX_LEN, b"\x00"),
        }
    return values


def _container(block: Block, bool_form: BoolForm | None) -> dict[str, Any]:
    if isinstance(block, TconIpV4 | TconQdn):
        return _conn_para_values(block)
    if isinstance(block, TconIpV4Sec | TconQdnSec):
        form = block.bool_form if bool_form is None else bool_form
        first, second = int(block.ActivateSecureConn), int(block.TLSServerReqClientCert)
        if form is BoolForm.BITS:
            first, second = first | (second << 1), 0
        return {
            "ConnPara": _conn_para_values(block.ConnPara),
            "Reserved": bytes(6 if isinstance(block, TconQdnSec) else 2),
            "ActivateSecureConn": first,
            "TLSServerReqClientCert": second,
            "ExtTLSCapabilities": block.ExtTLSCapabilities,
            "TLSServerCertRef": block.TLSServerCertRef,
            "TLSClientCertRef": block.TLSClientCertRef,
        }
    if isinstance(block, TconIpRfc):
        return {
            "InterfaceId": block.InterfaceId,
            "ID": block.ID,
            "ConnectionType": block.ConnectionType,
            "ActiveEstablished": int(block.ActiveEstablished),
            "Reserved": bytes(2),
            "RemoteAddress": ipaddress.IPv4Address(block.RemoteAddress).packed,
            "RemoteTSelector": vars(block.RemoteTSelector),
            "LocalTSelector": vars(block.LocalTSelector),
        }
    values = dict(vars(block))
    values["active_est"] = int(block.active_est)
    return values
