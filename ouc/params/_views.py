"""Blocks as the TIA data-block view: dicts/JSON, files, and the decode table.

The dict mirrors what TIA Portal shows for a data block of the system data type, with ouc's
canonical type name under ``"type"``::

    {"type": "TCON_IP_V4_SEC",
     "ConnPara": {"InterfaceId": 64, "ID": 1, "ConnectionType": 11, "ActiveEstablished": false,
                  "RemoteAddress": "192.168.0.2", "RemotePort": 0, "LocalPort": 2000},
     "ActivateSecureConn": true, "TLSServerReqClientCert": true,
     "ExtTLSCapabilities": "16#0000", "TLSServerCertRef": 9, "TLSClientCertRef": 3}

Written: IP addresses dotted, Words (``ExtTLSCapabilities``, ``block_length``, ``spare``) as
``"16#0000"``, HW_ANY/CONN_OUC/UInt/UDInt/Byte as ints, Bools as JSON booleans, byte arrays as
lists of ints, and ``"bool_form": "BITS"`` only when a SEC block uses the bit-packed form.
Read: every integer as an int or as text ``"16#40"``, ``"W#16#0040"``, ``"0x40"``, ``"64"``;
Bools also as ``"TRUE"``/``"FALSE"`` or 0/1; an IP address also as a list of four bytes; byte
arrays also as a hex string (``"E0 02"``), shorter arrays padded with zeros. Every TIA field must
be present and no other key is allowed, so a typo is an error rather than a silent default.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ouc._input import BLOCK_FILE_LIMIT, load_json, read_capped
from ouc._notation import hex_digits
from ouc.errors import ConfigError, OucError, ParamError, Status
from ouc.params._codec import build, parse
from ouc.params._schema import layout
from ouc.params._types import (
    BLOCK_TYPES,
    SIZES,
    Block,
    BoolForm,
    TconIpV4,
    TconIpV4Sec,
    TconQdn,
    TconQdnSec,
    TSelector,
    canonical_type_name,
)

__all__ = ["FieldRow", "describe", "dump_json", "from_dict", "load", "loads", "to_dict"]

# Structures inside a block, by their TIA type name, and the class that holds them.
_STRUCTS: dict[str, type] = {"TCON_IP_v4": TconIpV4, "TCON_QDN": TconQdn, "TSelector": TSelector}
_INT_TYPES = {"HW_ANY", "CONN_OUC", "UInt", "UDInt", "USInt", "Byte", "Word"}


def _tia_types(type_name: str) -> dict[str, str]:
    return {row.path: row.tia_type for row in layout(type_name)}


def _data_fields(obj: object) -> list[str]:
    return [f.name for f in dataclasses.fields(obj) if f.name != "bool_form"]  # type: ignore[arg-type]


# --------------------------------------------------------------------------- block → dict


def to_dict(block: Block) -> dict[str, Any]:
    """The block as a JSON-ready dict in the TIA data-block view (see the module doc)."""
    if not isinstance(block, tuple(BLOCK_TYPES.values())):
        raise ParamError(f"{type(block).__name__} is not a connection description")
    out: dict[str, Any] = {"type": block.type_name}
    out.update(_encode_struct(block, _tia_types(block.type_name), ""))
    if isinstance(block, TconIpV4Sec | TconQdnSec) and block.bool_form is BoolForm.BITS:
        out["bool_form"] = BoolForm.BITS.value
    return out


def _encode_struct(obj: object, types: dict[str, str], prefix: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _data_fields(obj):
        value = getattr(obj, name)
        path = prefix + name
        if dataclasses.is_dataclass(value):
            out[name] = _encode_struct(value, types, path + ".")
        elif types[path] == "Word":
            out[name] = f"16#{value:04X}"
        elif isinstance(value, bytes):
            out[name] = list(value)
        else:
            out[name] = value
    return out


def dump_json(block: Block) -> str:
    """The block as indented JSON text ending in a newline (what ``samples/*.json`` hold)."""
    return json.dumps(to_dict(block), indent=2) + "\n"


# --------------------------------------------------------------------------- dict → block


def from_dict(data: Mapping[str, Any]) -> Block:
    """The block a TIA-view dict describes (the inverse of :func:`to_dict`, more lenient).

    Raises:
        ParamError: with the field path, for a missing, unknown or ill-typed field (16#8089),
            an unknown ``"type"`` (16#809A), or a value the field cannot hold.
    """
    if not isinstance(data, Mapping):
        raise _bad("", f"a connection description is a JSON object, not {type(data).__name__}")
    if "type" not in data:
        raise _bad("type", 'missing: say which block this is, e.g. "type": "TCON_IP_V4_SEC"')
    name = canonical_type_name(data["type"])
    body = {k: v for k, v in data.items() if k not in ("type", "bool_form")}
    cls = BLOCK_TYPES[name]
    kwargs = _decode_struct(cls, body, _tia_types(name), "")
    if "bool_form" in data:
        if cls not in (TconIpV4Sec, TconQdnSec):
            raise _bad("bool_form", f"only SEC blocks have a bool_form, not {name}")
        kwargs["bool_form"] = _decode_bool_form(data["bool_form"])
    block: Block = _make(cls, kwargs, "")
    return block


def _bad(path: str, message: str) -> ParamError:
    return ParamError(message, status=Status.CONNECT_INVALID, path=path or None)


def _make(cls: type, kwargs: dict[str, Any], prefix: str) -> Any:
    try:
        return cls(**kwargs)
    except ParamError as exc:
        raise ParamError(exc.message, status=exc.status, path=prefix + (exc.path or "")) from exc


def _decode_struct(
    cls: type, body: Mapping[str, Any], types: dict[str, str], prefix: str
) -> dict[str, Any]:
    if not isinstance(body, Mapping):
        raise _bad(prefix.rstrip("."), f"must be an object, not {type(body).__name__}")
    names = [f.name for f in dataclasses.fields(cls) if f.name != "bool_form"]
    unknown = sorted(set(body) - set(names))
    if unknown:
        raise _bad(prefix + unknown[0], f"unknown field; {cls.__name__} has {', '.join(names)}")
    kwargs: dict[str, Any] = {}
    for name in names:
        path = prefix + name
        if name not in body:
            raise _bad(path, "missing")
        tia = types[path]
        if tia in _STRUCTS:
            inner = _decode_struct(_STRUCTS[tia], body[name], types, path + ".")
            kwargs[name] = _make(_STRUCTS[tia], inner, path + ".")
        else:
            kwargs[name] = _decode_value(body[name], tia, path)
    return kwargs


def _decode_value(value: Any, tia: str, path: str) -> Any:
    if tia == "Bool":
        return _decode_bool(value, path)
    if tia == "IP_V4":
        if isinstance(value, list):
            return ".".join(str(b) for b in _decode_bytes(value, path, 4))
        return value  # The dataclass checks and canonicalises the dotted text.
    if tia.startswith("Array["):
        return _decode_bytes(value, path, int(tia.split("..")[1].split("]")[0]))
    if tia in _INT_TYPES:
        return _decode_int(value, path)
    return value


def _decode_int(value: Any, path: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().upper().replace("_", "")
        for prefix in ("DW#16#", "W#16#", "B#16#", "16#", "0X"):
            if text.startswith(prefix):
                try:
                    return int(text[len(prefix) :], 16)
                except ValueError:
                    break
        else:
            if text.isdigit():
                return int(text)
    raise _bad(path, f'{value!r} is not an integer (write 64, "16#0040" or "W#16#40")')


def _decode_bool(value: Any, path: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return value == 1
    if isinstance(value, str) and value.strip().upper() in ("TRUE", "FALSE"):
        return value.strip().upper() == "TRUE"
    raise _bad(path, f'{value!r} is not a Bool (write true/false or "TRUE"/"FALSE")')


def _decode_bool_form(value: Any) -> BoolForm:
    try:
        return BoolForm(str(value).strip().upper())
    except ValueError:
        raise _bad("bool_form", f'{value!r} is neither "BYTES" nor "BITS"') from None


def _decode_bytes(value: Any, path: str, size: int) -> bytes:
    if isinstance(value, str):
        try:
            raw = bytes.fromhex(value.replace(":", " "))
        except ValueError:
            raise _bad(path, f'{value!r} is not hex bytes such as "E0 02"') from None
    elif isinstance(value, list):
        items = [_decode_int(item, f"{path}[{i + 1}]") for i, item in enumerate(value)]
        bad = [i for i, b in enumerate(items) if not 0 <= b <= 0xFF]
        if bad:
            raise _bad(f"{path}[{bad[0] + 1}]", f"{items[bad[0]]} is not a byte (0..255)")
        raw = bytes(items)
    else:
        raise _bad(path, f"must be a list of bytes or a hex string, not {type(value).__name__}")
    if len(raw) > size:
        raise _bad(path, f"has {len(raw)} bytes; the array holds {size}")
    return raw


# --------------------------------------------------------------------------- files


def load(
    path: str | os.PathLike[str], type_name: str | None = None, *, strict: bool = True
) -> Block:
    """Read a block from a file: JSON (TIA view), hex text or the binary image, told apart by
    content.

    As :func:`loads`, with errors naming the file: ``samples/x.json: ConnPara.RemotePort: ...``.

    Raises:
        ConfigError: the file cannot be read, or is larger than any block file
            (``BLOCK_FILE_LIMIT``).
        ParamError: the content is no valid block (see :func:`loads`).
    """
    file = Path(path)
    try:
        raw = read_capped(file, BLOCK_FILE_LIMIT, "a connection description")
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror or exc}", path=str(file)) from exc
    return loads(raw, type_name, strict=strict, name=str(file))


def loads(
    data: bytes, type_name: str | None = None, *, strict: bool = True, name: str | None = None
) -> Block:
    """A block from bytes: JSON (TIA view), hex text or the binary image, told apart by content.

    Text whose first non-blank byte (after a UTF-8 BOM) is ``{`` or ``[`` is JSON, always: a
    broken JSON text is an error naming its line and column, never decoded as a binary block
    that happens to have a block's size. Anything else is the binary image, including a block
    whose first byte is ``{`` (InterfaceId 16#7Bxx): a binary block holds control bytes (its
    zero bytes at least), text does not. Nothing but hex digits, white space and colons (what
    ``ouc params encode`` prints) is hex text: a binary block never is, since byte 5 of every
    type is a Bool, 16#00 or 16#01. With ``strict=False``, which reads any byte 5, hex-digit-only
    bytes of a block's size are refused as ambiguous (16#8089). ``type_name`` and
    ``strict`` are as for :func:`parse`; for JSON, ``type_name`` must match its ``"type"``.

    Args:
        name: where the bytes came from (a file name, ``<stdin>``), put in front of errors.

    Raises:
        ParamError: the content is no valid block (status and field as :func:`parse` /
            :func:`from_dict` give them; broken or too deeply nested JSON, or a key given twice
            in one object: 16#8089, with ``line L, column C`` where the parser names one).
    """
    try:
        return _load_bytes(data, type_name, strict)
    except OucError as exc:
        if name is None:
            raise
        where = f"{name}: {exc.path}" if exc.path else name
        raise type(exc)(exc.message, status=exc.status, path=where) from exc


# A byte no JSON text holds outside a string, and no JSON string holds unescaped.
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _load_bytes(raw: bytes, type_name: str | None, strict: bool) -> Block:
    text = raw[3:] if raw.startswith(b"\xef\xbb\xbf") else raw
    if text.lstrip()[:1] not in (b"{", b"[") or _CONTROL.search(text):
        digits = hex_digits(text)
        if digits is None:
            return parse(raw, type_name, strict=strict)
        try:
            return parse(_from_hex(digits, len(raw), strict), type_name, strict=strict)
        except ParamError as exc:  # Say that the bytes were hex text: "14 bytes" is not the file.
            message = (
                exc.message if exc.message.startswith("holds") else f"holds hex text: {exc.message}"
            )
            raise ParamError(message, status=exc.status, path=exc.path) from exc
    try:
        data = load_json(
            text.decode("utf-8"), where=None, error=ParamError, status=Status.CONNECT_INVALID
        )
    except RecursionError as exc:
        raise ParamError(
            "the JSON is nested too deeply to be a block object",
            status=Status.CONNECT_INVALID,
        ) from exc
    except UnicodeDecodeError as exc:
        raise ParamError(
            f"starts like JSON but byte {exc.start} is not UTF-8; a block file that starts with "
            "'{' or '[' is read as JSON: fix the file",
            status=Status.CONNECT_INVALID,
        ) from exc
    except json.JSONDecodeError as exc:
        raise ParamError(
            f"not valid JSON ({exc.msg}); a block file that starts with '{{' or '[' is read as "
            "JSON: fix the JSON there",
            status=Status.CONNECT_INVALID,
            path=f"line {exc.lineno}, column {exc.colno}",
        ) from exc
    if not isinstance(data, dict):
        raise ParamError(
            f"the JSON holds a {type(data).__name__}, not a block object "
            '({"type": "TCON_IP_V4_SEC", ...})',
            status=Status.CONNECT_INVALID,
        )
    block = from_dict(data)
    if type_name is not None and canonical_type_name(type_name) != block.type_name:
        raise ParamError(
            f"the file holds a {block.type_name}, not a {canonical_type_name(type_name)}",
            status=Status.CONNECT_LENGTH,
            path="type",
        )
    return block


def _from_hex(digits: str, size: int, strict: bool) -> bytes:
    """The bytes of hex text (what ``ouc params encode`` prints), refusing what could also be a
    binary image: only with ``strict=False`` and a block's size, since strictly read every block
    has a Bool byte (byte 5, 16#00 or 16#01) that is no hex digit."""
    if not strict and size in SIZES:
        raise ParamError(
            f"holds only hex digits: hex text, or a {size}-byte {SIZES[size]} image whose every "
            "byte is a hex digit; read leniently both would parse: give the hex as text "
            "(ouc params decode --hex) or read it strictly",
            status=Status.CONNECT_INVALID,
        )
    if len(digits) % 2:
        raise ParamError(
            f"holds hex text of {len(digits)} digits, an odd number: two digits per byte",
            status=Status.CONNECT_INVALID,
        )
    return bytes.fromhex(digits)


# --------------------------------------------------------------------------- decode table


@dataclasses.dataclass(frozen=True)
class FieldRow:
    """One row of the TIA-style table: ``offset`` like ``"16.0"``, the field path, its TIA
    type, and the value as TIA shows it (``TRUE``, ``16#0000``, ``192.168.0.2``, ``'name.'``).
    Structures get a row of their own with an empty value, before their members."""

    offset: str
    path: str
    tia_type: str
    value: str


def describe(block: Block, bool_form: BoolForm | None = None) -> list[FieldRow]:
    """The rows of the block's byte image, as :func:`build` with ``bool_form`` would write it."""
    image = build(block, bool_form)
    form = bool_form or getattr(block, "bool_form", BoolForm.BYTES)
    rows: list[FieldRow] = []
    for item in layout(block.type_name):
        offset = f"{item.offset}.0"
        value = ""
        if item.leaf:
            raw = image[item.offset : item.offset + item.size]
            value = _show(_lookup(block, item.path), item.tia_type, raw)
        if form is BoolForm.BITS and item.path == "TLSServerReqClientCert":
            offset = f"{item.offset - 1}.1"
        rows.append(FieldRow(offset, item.path, item.tia_type, value))
    return rows


def _lookup(block: object, path: str) -> Any:
    value: Any = block
    for part in path.split("."):
        value = getattr(value, part, None)
    return value


def _show(value: Any, tia: str, raw: bytes) -> str:
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if tia == "Word":
        return f"16#{value:04X}"
    if isinstance(value, str) and tia == "String[254]":
        return repr(value)
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    # Byte arrays and reserved bytes: the significant hex, the zero tail summarised.
    data = raw if value is None else bytes(value)
    used = data.rstrip(b"\x00")
    text = used.hex(" ").upper() or "00"
    if len(used) < len(data) and used:
        text += f" (+{len(data) - len(used)} × 00)"
    elif not used:
        text = f"{len(data)} × 00"
    if used and all(0x20 <= b < 0x7F for b in used):
        text += f"  '{used.decode('ascii')}'"
    return text
