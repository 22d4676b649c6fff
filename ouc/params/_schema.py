"""The byte layouts of the TCON blocks as construct schemas (private: callers get dataclasses).

Standard-access layout, big-endian (domain.md §2). Every field is fixed-size, so each schema has a
static ``sizeof()`` and no construct expressions are needed; all checks that give a PLC status code
live in :mod:`ouc.params._codec`, which words them for a PLC engineer and names the field.
The docstring attached to each field (``* "HW_ANY"``) is its TIA data type: the decode table reads
offsets, sizes and types from these schemas, so the layout is declared exactly once.

Bools are read as whole bytes (``Int8ub``) so that the codec can tell the byte form from the
bit-packed form and refuse stray bits instead of silently dropping them. Reserved bytes are kept
as ``Reserved...`` fields for the same reason. Never ``.compile()`` these: they parse untrusted
input, and the compiled parsers skip some checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from construct import Bytes, Construct, ConstructError, Int8ub, Int16ub, Int32ub, Renamed, Struct

from ouc.errors import ParamError, Status

__all__ = ["SCHEMAS", "FieldLayout", "layout", "pack", "unpack"]

_TLS_FIELDS = (
    "ActivateSecureConn" / Int8ub * "Bool",
    "TLSServerReqClientCert" / Int8ub * "Bool",
    "ExtTLSCapabilities" / Int16ub * "Word",
    "TLSServerCertRef" / Int32ub * "UDInt",
    "TLSClientCertRef" / Int32ub * "UDInt",
)

# The fields every TCON type starts with, and the ports the IP and QDN types end with.
_HEAD = (
    "InterfaceId" / Int16ub * "HW_ANY",
    "ID" / Int16ub * "CONN_OUC",
    "ConnectionType" / Int8ub * "Byte",
    "ActiveEstablished" / Int8ub * "Bool",
)
_PORTS = (
    "RemotePort" / Int16ub * "UInt",
    "LocalPort" / Int16ub * "UInt",
)

TCON_IP_V4 = Struct(*_HEAD, "RemoteAddress" / Bytes(4) * "IP_V4", *_PORTS)

# Siemens' table puts the TLS fields at byte 16: two reserved bytes follow the 14-byte ConnPara.
TCON_IP_V4_SEC = Struct(
    "ConnPara" / TCON_IP_V4 * "TCON_IP_v4",
    "Reserved" / Bytes(2) * "(reserved)",
    *_TLS_FIELDS,
)

# String[254]: maximum length, current length, then 254 characters (domain.md §5).
_STRING_254 = Struct(
    "MaxLength" / Int8ub * "USInt",
    "Length" / Int8ub * "USInt",
    "Chars" / Bytes(254) * "Array[1..254] of Char",
)

TCON_QDN = Struct(*_HEAD, "RemoteQDN" / _STRING_254 * "String[254]", *_PORTS)

# Siemens' table gives ConnPara 0..271: six reserved bytes follow the 266-byte TCON_QDN.
TCON_QDN_SEC = Struct(
    "ConnPara" / TCON_QDN * "TCON_QDN",
    "Reserved" / Bytes(6) * "(reserved)",
    *_TLS_FIELDS,
)

_TSELECTOR = Struct(
    "TSelLength" / Int16ub * "UInt",
    "TSel" / Bytes(32) * "Array[1..32] of Byte",
)

# domain.md §2: bytes 6..7 are reserved, RemoteAddress starts at byte 8 (80 bytes in all).
TCON_IP_RFC = Struct(
    *_HEAD,
    "Reserved" / Bytes(2) * "(reserved)",
    "RemoteAddress" / Bytes(4) * "IP_V4",
    "RemoteTSelector" / _TSELECTOR * "TSelector",
    "LocalTSelector" / _TSELECTOR * "TSelector",
)

# UDT 65 as documented for S7-300/400 and kept by the S7-1200 (64 bytes, fixed).
TCON_PARAM = Struct(
    "block_length" / Int16ub * "Word",
    "id" / Int16ub * "Word",
    "connection_type" / Int8ub * "Byte",
    "active_est" / Int8ub * "Bool",
    "local_device_id" / Int8ub * "Byte",
    "local_tsap_id_len" / Int8ub * "Byte",
    "rem_subnet_id_len" / Int8ub * "Byte",
    "rem_staddr_len" / Int8ub * "Byte",
    "rem_tsap_id_len" / Int8ub * "Byte",
    "next_staddr_len" / Int8ub * "Byte",
    "local_tsap_id" / Bytes(16) * "Array[1..16] of Byte",
    "rem_subnet_id" / Bytes(6) * "Array[1..6] of Byte",
    "rem_staddr" / Bytes(6) * "Array[1..6] of Byte",
    "rem_tsap_id" / Bytes(16) * "Array[1..16] of Byte",
    "next_staddr" / Bytes(6) * "Array[1..6] of Byte",
    "spare" / Int16ub * "Word",
)

SCHEMAS: dict[str, Struct] = {
    "TCON_IP_V4": TCON_IP_V4,
    "TCON_IP_V4_SEC": TCON_IP_V4_SEC,
    "TCON_QDN": TCON_QDN,
    "TCON_QDN_SEC": TCON_QDN_SEC,
    "TCON_IP_RFC": TCON_IP_RFC,
    "TCON_PARAM": TCON_PARAM,
}


def unpack(type_name: str, data: bytes) -> Any:
    """The raw field values of ``data`` (exactly one block), attribute-accessible by TIA name.

    Raises:
        ParamError: 16#8089 when construct cannot parse the bytes (the caller checks the
            length first, so this is the boundary rather than an expected path).
    """
    try:
        return SCHEMAS[type_name].parse(data)
    except ConstructError as exc:
        raise ParamError(
            f"{type_name} does not parse: {exc}", status=Status.CONNECT_INVALID, path=exc.path
        ) from exc


def pack(type_name: str, values: dict[str, Any]) -> bytes:
    """The bytes of raw field values (nested dicts for structures).

    Raises:
        ParamError: 16#8089 when a value does not fit its field (the dataclasses check ranges
            first, so this too is only the boundary).
    """
    try:
        data: bytes = SCHEMAS[type_name].build(values)
    except ConstructError as exc:
        raise ParamError(
            f"{type_name} does not build: {exc}", status=Status.CONNECT_INVALID, path=exc.path
        ) from exc
    return data


@dataclass(frozen=True)
class FieldLayout:
    """One field of a block's byte image: where it sits, its TIA path and data type.

    ``leaf`` is False for a structure (``ConnPara``, a TSelector) whose members follow as rows
    of their own; a ``String[254]`` is one leaf.
    """

    offset: int
    size: int
    path: str
    tia_type: str
    leaf: bool


def _unwrap(con: Construct) -> tuple[Construct, str]:
    docs = ""
    while isinstance(con, Renamed):
        docs = docs or con.docs
        con = con.subcon
    return con, docs


def _walk(struct: Struct, offset: int, prefix: str) -> list[FieldLayout]:
    rows: list[FieldLayout] = []
    for sub in struct.subcons:
        inner, tia = _unwrap(sub)
        size = sub.sizeof()
        nested = isinstance(inner, Struct) and tia != "String[254]"
        rows.append(FieldLayout(offset, size, prefix + sub.name, tia, not nested))
        if nested:
            rows.extend(_walk(inner, offset, prefix + sub.name + "."))
        offset += size
    return rows


_LAYOUTS = {name: tuple(_walk(schema, 0, "")) for name, schema in SCHEMAS.items()}


def layout(type_name: str) -> tuple[FieldLayout, ...]:
    """Every field of ``type_name`` in byte order, structures before their members."""
    return _LAYOUTS[type_name]
