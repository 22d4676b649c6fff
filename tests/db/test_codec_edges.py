"""Edges of the data-block codecs: each type's limits on both sides, arrays of the 64-bit time
types and WString, and the checks of strict decoding that a wrong value would also pass."""

from __future__ import annotations

import datetime as dt
import struct
from typing import Any

import pytest

from ouc.db import parse_scl
from ouc.db._codecs import (
    CodecError,
    _DtCodec,
    _DtlCodec,
    _LdtCodec,
    scalar_codec,
)
from ouc.errors import DataBlockError

INTS = {
    "Byte": ("B", False),
    "Word": ("H", False),
    "DWord": ("I", False),
    "LWord": ("Q", False),
    "SInt": ("b", True),
    "USInt": ("B", False),
    "Int": ("h", True),
    "UInt": ("H", False),
    "DInt": ("i", True),
    "UDInt": ("I", False),
    "LInt": ("q", True),
    "ULInt": ("Q", False),
}


def _encode(codec: Any, value: Any) -> Any:
    fields: list[Any] = [None] * codec.nfields
    codec.encode(value, fields, 0)
    return fields[0] if codec.nfields == 1 else fields


@pytest.mark.parametrize("name", sorted(INTS))
def test_integer_codecs_take_exactly_their_range(name: str) -> None:
    code, signed = INTS[name]
    bits = struct.calcsize(code) * 8
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    for codec in (scalar_codec(name, False), scalar_codec(name, True)):
        assert (codec.text, codec.fmt, codec.size, codec.lo, codec.hi) == (
            name,
            code,
            bits // 8,
            lo,
            hi,
        )
        assert _encode(codec, lo) == lo and _encode(codec, hi) == hi
        for outside in (lo - 1, hi + 1):
            with pytest.raises(CodecError, match=f"outside the {name} range {lo}..{hi}"):
                _encode(codec, outside)
        assert codec.decode([hi], 0) == hi


@pytest.mark.parametrize(
    ("wide", "limit", "text"), [(False, 0xFF, "Char"), (True, 0xFFFF, "WChar")]
)
def test_char_codecs_take_up_to_their_last_code(wide: bool, limit: int, text: str) -> None:
    for codec in (scalar_codec(text, False), scalar_codec(text, True)):
        assert (codec.text, codec.size, codec.limit, codec.wide) == (
            text,
            2 if wide else 1,
            limit,
            wide,
        )
        assert codec.fmt == ("H" if wide else "B")
        assert _encode(codec, chr(limit)) == limit
        what = "a UTF-16 code unit" if wide else "a Latin-1 character"
        with pytest.raises(CodecError, match=what):
            _encode(codec, chr(limit + 1))
        assert codec.decode([limit], 0) == chr(limit)
    # Through a layout: the highest code unit is the last bytes of the image.
    assert parse_scl(f"c : {text};").encode({"c": chr(limit)}) == (
        limit.to_bytes(2, "big") if wide else bytes([limit, 0])
    )


@pytest.mark.parametrize(
    ("long", "text", "fmt", "size", "unit", "limit"),
    [(False, "Time", "i", 4, 10**6, 2**31), (True, "LTime", "q", 8, 1, 2**63)],
)
def test_time_codecs_take_exactly_their_range(
    long: bool, text: str, fmt: str, size: int, unit: int, limit: int
) -> None:
    for codec in (scalar_codec(text, False), scalar_codec(text, True)):
        assert (codec.text, codec.fmt, codec.size, codec.unit, codec.limit, codec.long) == (
            text,
            fmt,
            size,
            unit,
            limit,
            long,
        )
        assert _encode(codec, limit - 1) == limit - 1
        assert _encode(codec, -limit) == -limit
        with pytest.raises(CodecError, match=f"outside the {text} range"):
            _encode(codec, limit)
        with pytest.raises(CodecError, match=f"outside the {text} range"):
            _encode(codec, -limit - 1)
    assert scalar_codec("Time", False).decode([1500], 0) == dt.timedelta(milliseconds=1500)
    assert scalar_codec("LTime", False).decode([1500], 0) == 1500
    with pytest.raises(CodecError, match="finer than the millisecond"):
        _encode(scalar_codec("Time", False), dt.timedelta(microseconds=1))


def test_strict_flags_come_from_the_constructor() -> None:
    for cls in (_DtlCodec, _DtCodec, _LdtCodec):
        assert cls(strict=True).strict is True and cls(strict=False).strict is False
        assert scalar_codec(cls.text, True).strict is True
        assert scalar_codec(cls.text, False).strict is False


@pytest.mark.parametrize(
    ("decl", "first", "last"),
    [
        ("DTL", dt.datetime(1970, 1, 1), dt.datetime(2262, 4, 11, 23, 47, 16, 854775)),
        ("LDT", dt.datetime(1970, 1, 1), dt.datetime(2262, 4, 11, 23, 47, 16, 854775)),
        ("DT", dt.datetime(1990, 1, 1), dt.datetime(2089, 12, 31, 23, 59, 59, 999000)),
    ],
)
def test_datetime_types_take_their_first_and_last_moment_only(
    decl: str, first: dt.datetime, last: dt.datetime
) -> None:
    layout = parse_scl(f"v : {decl};")
    for moment in (first, last):
        assert layout.decode(layout.encode({"v": moment}))["v"] == moment
    step = dt.timedelta(milliseconds=1) if decl == "DT" else dt.timedelta(microseconds=1)
    for outside in (first - step, last + step):
        with pytest.raises(DataBlockError, match=f"outside the {decl} range"):
            layout.encode({"v": outside})


def test_dtl_error_names_the_type() -> None:
    with pytest.raises(DataBlockError, match=r"DTL expects a datetime\.datetime"):
        parse_scl("v : DTL;").encode({"v": "2024-01-01"})


def test_empty_string_literal() -> None:
    layout = parse_scl("s : String[4] := '';")
    assert layout.encode({}) == bytes([4, 0, 0, 0, 0, 0])
    assert layout.decode(layout.encode({}))["s"] == ""


def test_arrays_of_ldt_ltod_and_wstring() -> None:
    layout = parse_scl(
        "a : Array[0..1] of LDT; b : Array[1..2] of LTOD; c : Array[1..2] of WString[2];"
    )
    values = {
        "a": [dt.datetime(1970, 1, 2), dt.datetime(2000, 1, 1, 0, 0, 0, 1)],
        "b": [dt.time(0, 0, 0, 1), dt.time(23, 59, 59, 999999)],
        "c": ["é", "ab"],
    }
    image = layout.encode(values)
    day_ns = 86_400 * 10**9
    assert image[:8] == day_ns.to_bytes(8, "big")
    assert image[16:24] == (1000).to_bytes(8, "big")
    assert image[32:44] == bytes.fromhex("0002000100e9000000020002")[:12]
    assert layout.decode(image) == values


def test_strict_dt_weekday_must_be_the_right_one() -> None:
    """2024-01-01 is a Monday: weekday 2 (1 = Sunday). 1 and 3 are refused by a strict decode."""
    good = bytes([0x24, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00, 0x02])
    strict = parse_scl("v : DT;")
    assert strict.decode(good, strict=True)["v"] == dt.datetime(2024, 1, 1)
    for wrong in (1, 3):
        with pytest.raises(
            DataBlockError, match=f"weekday field {wrong} does not match 2024-01-01"
        ):
            strict.decode(good[:7] + bytes([wrong]), strict=True)
    assert strict.decode(good[:7] + bytes([3]))["v"] == dt.datetime(2024, 1, 1)


@pytest.mark.parametrize(
    ("decl", "image", "value"),
    [
        ("Byte", "0000", 0),
        ("LInt", "0000000000000000", 0),
        ("Real", "00000000", 0.0),
        ("LReal", "0000000000000000", 0.0),
        ("Char", "2000", " "),  # TIA Portal's default start value of Char (inference)
        ("WChar", "0020", " "),
        ("Date", "0000", dt.date(1990, 1, 1)),
        ("Time", "00000000", dt.timedelta(0)),
        ("LTime", "0000000000000000", 0),
        ("Time_Of_Day", "00000000", dt.time(0)),
        ("DTL", "07b2010105000000" + "00000000", dt.datetime(1970, 1, 1)),  # a Thursday (5)
        ("DT", "9001010000000002", dt.datetime(1990, 1, 1)),  # a Monday (2)
        ("LDT", "0000000000000000", dt.datetime(1970, 1, 1)),
        ("LTOD", "0000000000000000", dt.time(0)),
        ("String[2]", "02000000", ""),
        ("WString[2]", "0002000000000000", ""),
    ],
)
def test_each_type_s_default_value(decl: str, image: str, value: Any) -> None:
    """A variable without a start value: its bytes, and what they decode to (strictly)."""
    layout = parse_scl(f"v : {decl};")
    assert layout.encode().hex() == image
    assert layout.decode(bytes.fromhex(image), strict=True) == {"v": value}
