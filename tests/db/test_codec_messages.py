"""What a user reads when a value or a byte image does not fit a type: every codec's error,
word for word with the variable's path, on encode and on (strict) decode, next to the value
just inside each limit that is accepted."""

from __future__ import annotations

import datetime as dt
import math
import struct
from typing import Any

import pytest

from ouc.db import Literal, Nanoseconds, parse_scl
from ouc.db._codecs import scalar_codec, string_codec
from ouc.errors import DataBlockError

# (declaration, value, the error's text)
ENCODE_ERRORS: list[tuple[str, Any, str]] = [
    ("Int", 1.5, "v: Int expects a whole number, got 1.5"),
    ("Int", True, "v: Int expects a whole number, got True"),
    ("Int", Nanoseconds(5), "v: Int expects a whole number, got 5"),
    ("Int", 32768, "v: 32768 is outside the Int range -32768..32767"),
    ("USInt", -1, "v: -1 is outside the USInt range 0..255"),
    ("Int", Literal("x"), "v: 'x' is not a valid Int value (expected a value, found 'x')"),
    ("Real", "1.0", "v: Real expects a number, got '1.0'"),
    ("Real", True, "v: Real expects a number, got True"),
    ("Real", 1e39, "v: 1e+39 is too large for Real"),
    ("Real", Literal("x"), "v: 'x' is not a valid Real value (expected a value, found 'x')"),
    ("Char", "ab", "v: Char expects exactly one character, got 'ab'"),
    ("Char", "", "v: Char expects exactly one character, got ''"),
    ("Char", 65, "v: Char expects exactly one character, got 65"),
    ("Char", "Ā", "v: 'Ā' is not a Latin-1 character"),
    ("WChar", "😀", "v: '😀' is not a UTF-16 code unit"),
    ("String[3]", 5, "v: String[3] expects text, got 5"),
    ("String[3]", "abcd", "v: text of 4 characters is longer than String[3] holds"),
    ("String[3]", "€", "v: '€' cannot be stored in a String (Latin-1)"),
    ("WString[2]", "😀x", "v: text of 3 characters is longer than WString[2] holds"),
    (
        "String[3]",
        Literal("'a$Qb'"),
        "v: \"'a$Qb'\" is not a string literal (unknown escape $Q in a string)",
    ),
    ("Date", "2000-01-01", "v: Date expects a datetime.date, got '2000-01-01'"),
    (
        "Date",
        dt.datetime(2000, 1, 1),
        "v: Date expects a datetime.date, got datetime.datetime(2000, 1, 1, 0, 0)",
    ),
    ("Date", dt.date(1989, 12, 31), "v: 1989-12-31 is outside D#1990-01-01..D#2168-12-31"),
    ("Date", dt.date(2169, 1, 1), "v: 2169-01-01 is outside D#1990-01-01..D#2168-12-31"),
    ("Date", Literal("x"), "v: 'x' is not a valid Date value (expected a value, found 'x')"),
    ("Time", 1.5, "v: Time expects a duration (datetime.timedelta or a number), got 1.5"),
    ("LTime", "x", "v: LTime expects a duration (datetime.timedelta or a number), got 'x'"),
    (
        "Time",
        dt.timedelta(microseconds=1500),
        "v: datetime.timedelta(microseconds=1500) is finer than the millisecond resolution of Time",
    ),
    ("Time", 2**31, "v: 2147483648 is outside the Time range"),
    ("LTime", 2**63, "v: 9223372036854775808 is outside the LTime range"),
    ("Time", Literal("x"), "v: 'x' is not a valid Time value (expected a value, found 'x')"),
    ("Time_Of_Day", dt.time(0, 0, 0, 1), "v: 00:00:00.000001 is finer than a millisecond"),
    ("Time_Of_Day", -1, "v: -1 ms is outside a day (0..86399999)"),
    ("Time_Of_Day", 86_400_000, "v: 86400000 ms is outside a day (0..86399999)"),
    ("Time_Of_Day", "12:00", "v: Time_Of_Day expects a datetime.time or milliseconds, got '12:00'"),
    (
        "Time_Of_Day",
        Nanoseconds(5),
        "v: Time_Of_Day expects a datetime.time or milliseconds, got 5",
    ),
    (
        "Time_Of_Day",
        Literal("x"),
        "v: 'x' is not a valid Time_Of_Day value (expected a value, found 'x')",
    ),
    (
        "DTL",
        dt.datetime(1969, 12, 31, 23, 59, 59),
        "v: 1969-12-31T23:59:59 is outside the DTL range 1970..2262",
    ),
    ("DTL", Literal("x"), "v: 'x' is not a valid DTL value (expected a value, found 'x')"),
    (
        "DT",
        dt.datetime(2000, 1, 1, 0, 0, 0, 1),
        "v: 2000-01-01T00:00:00.000001 is finer than the millisecond of DT",
    ),
    ("DT", dt.date(2000, 1, 1), "v: DT expects a datetime.datetime, got datetime.date(2000, 1, 1)"),
    ("DT", Literal("x"), "v: 'x' is not a valid Date_And_Time value (expected a value, found 'x')"),
    (
        "LDT",
        dt.datetime(2262, 4, 12),
        "v: 2262-04-12T00:00:00 is outside the LDT range 1970..2262",
    ),
    ("LDT", Literal("x"), "v: 'x' is not a valid LDT value (expected a value, found 'x')"),
    ("LTOD", 1, "v: 1 ns is finer than the microsecond LTime_Of_Day keeps"),
    ("LTOD", -1, "v: -1 ns is outside a day (0..86399999999999)"),
    ("LTOD", 86_400 * 10**9, "v: 86400000000000 ns is outside a day (0..86399999999999)"),
    ("LTOD", "x", "v: LTime_Of_Day expects a datetime.time or nanoseconds, got 'x'"),
    ("LTOD", Nanoseconds(5000), "v: LTime_Of_Day expects a datetime.time or nanoseconds, got 5000"),
    (
        "LTOD",
        Literal("x"),
        "v: 'x' is not a valid LTime_Of_Day value (expected a value, found 'x')",
    ),
]


@pytest.mark.parametrize(("decl", "value", "text"), ENCODE_ERRORS)
def test_each_encode_error_reads_as_written(decl: str, value: Any, text: str) -> None:
    with pytest.raises(DataBlockError) as info:
        parse_scl(f"v : {decl};").encode({"v": value})
    assert str(info.value) == text


# (declaration, image, strict, the error's text)
DECODE_ERRORS: list[tuple[str, str, bool, str]] = [
    ("String[3]", "030461626364", False, "v: current length 4 is larger than the String[3] holds"),
    (
        "String[3]",
        "020161000000",
        True,
        "v: maximum-length header says 2, the layout declares String[3]",
    ),
    (
        "WString[1]",
        "000100020041",
        False,
        "v: current length 2 is larger than the WString[1] holds",
    ),
    ("Date", "ff63", False, "v: day number 65379 is after D#2168-12-31, the last valid Date"),
    ("Time_Of_Day", "05265c00", False, "v: 86400000 ms is past midnight, not a Time_Of_Day"),
    (
        "LTOD",
        "00004e94914f0000",
        False,
        "v: 86400000000000 ns is past midnight, not an LTime_Of_Day",
    ),
    ("LTOD", "0000000000000001", True, "v: LTime_Of_Day 1 ns is finer than a microsecond"),
    (
        "DTL",
        "07b20101050000003b9aca00",
        False,
        "v: nanosecond field 1000000000 is not below one second",
    ),
    (
        "DTL",
        "07b101010500000000000000",
        False,
        "v: 1969-01-01T00:00:00 is outside the DTL range 1970..2262",
    ),
    (
        "DTL",
        "07b2021e0500000000000000",  # 1970-02-30
        False,
        "v: is not a valid date and time (day is out of range for month)",
    ),
    ("DTL", "07b201010400000000000000", True, "v: weekday field 4 does not match 1970-01-01"),
    ("DTL", "07b201010500000000000001", True, "v: nanosecond field 1 is finer than a microsecond"),
    ("DT", "9a01010000000002", False, "v: byte 16#9A is not a BCD number"),
    ("DT", "a001010000000002", False, "v: byte 16#A0 is not a BCD number"),
    ("DT", "90010100000000a2", False, "v: byte 16#A2 does not hold a BCD millisecond digit"),
    (
        "DT",
        "9002300000000002",
        False,
        "v: is not a valid date and time (day is out of range for month)",
    ),
    ("DT", "9001010000000003", True, "v: weekday field 3 does not match 1990-01-01"),
    (
        "LDT",
        "8000000000000000",
        False,
        "v: 9223372036854775808 ns is after LDT#2262-04-11-23:47:16.854775807",
    ),
    ("LDT", "0000000000000001", True, "v: LDT 1 ns is finer than a microsecond"),
]


@pytest.mark.parametrize(("decl", "image", "strict", "text"), DECODE_ERRORS)
def test_each_decode_error_reads_as_written(decl: str, image: str, strict: bool, text: str) -> None:
    with pytest.raises(DataBlockError) as info:
        parse_scl(f"v : {decl};").decode(bytes.fromhex(image), strict=strict)
    assert str(info.value) == text


# (declaration, image, the value a lenient decode gives where a strict one refuses)
LENIENT: list[tuple[str, str, Any]] = [
    ("String[3]", "020161000000", "a"),
    ("LTOD", "0000000000000001", dt.time(0)),
    ("DTL", "07b201010400000000000000", dt.datetime(1970, 1, 1)),
    ("DTL", "07b201010500000000000001", dt.datetime(1970, 1, 1)),
    ("DT", "9001010000000003", dt.datetime(1990, 1, 1)),
    ("LDT", "00000000000003e9", dt.datetime(1970, 1, 1, 0, 0, 0, 1)),
]


@pytest.mark.parametrize(("decl", "image", "value"), LENIENT)
def test_a_lenient_decode_keeps_what_a_strict_one_refuses(
    decl: str, image: str, value: Any
) -> None:
    assert parse_scl(f"v : {decl};").decode(bytes.fromhex(image)) == {"v": value}


# Values just inside the limits, with their bytes.
ACCEPTED: list[tuple[str, Any, str]] = [
    ("Date", dt.date(2168, 12, 31), "ff62"),
    ("Time_Of_Day", 86_399_999, "05265bff"),
    ("Time", Nanoseconds(10**6), "00000001"),  # LT#1ms is a whole millisecond
    ("LTOD", dt.time(0, 0, 0, 1), "00000000000003e8"),
    # A time zone is dropped, the wall-clock time kept: 2000-01-01 was a Saturday (7).
    (
        "DTL",
        dt.datetime(2000, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5))),
        "07d001010700000000000000",
    ),
    ("WString[2]", "😀", "00020002d83dde00"),  # one character, two UTF-16 units
    # Text that only looks like the start of a quoted literal is taken as it is; '' is empty.
    ("String[3]", Literal("'ab"), "030327616200"),
    ("String[3]", Literal("''"), "030000000000"),
    ("Real", Literal(" -INF "), "ff800000"),
    ("LReal", Literal("+infinity"), "7ff0000000000000"),
    ("LReal", 1e300, "7e37e43c8800759c"),
]


@pytest.mark.parametrize(("decl", "value", "image"), ACCEPTED)
def test_values_just_inside_the_limits(decl: str, value: Any, image: str) -> None:
    assert parse_scl(f"v : {decl};").encode({"v": value}).hex() == image


def test_nan_literal_reads_back_as_nan() -> None:
    layout = parse_scl("v : LReal;")
    assert math.isnan(layout.decode(layout.encode({"v": Literal("NaN")}))["v"])


def test_dt_milliseconds_come_from_both_bcd_digits() -> None:
    """12:34:56.123 on Monday 2024-01-01: 16#12 in byte 6, then 3 and weekday 2 in byte 7."""
    image = bytes.fromhex("2401011234561232")
    moment = dt.datetime(2024, 1, 1, 12, 34, 56, 123_000)
    layout = parse_scl("v : DT;")
    assert layout.decode(image, strict=True) == {"v": moment}
    assert layout.encode({"v": moment}) == image


def test_a_lone_utf16_surrogate_round_trips_through_wstring() -> None:
    """A WString holds UTF-16 code units, paired or not: what decodes encodes back the same."""
    image = bytes.fromhex("00020001d83d0000")
    layout = parse_scl("v : WString[2];")
    assert layout.decode(image) == {"v": "\ud83d"}
    assert layout.encode({"v": "\ud83d"}) == image


ELEMENTARY = [
    "Byte",
    "Word",
    "DWord",
    "LWord",
    "SInt",
    "USInt",
    "Int",
    "UInt",
    "DInt",
    "UDInt",
    "LInt",
    "ULInt",
    "Real",
    "LReal",
    "Char",
    "WChar",
    "Date",
    "Time",
    "LTime",
    "Time_Of_Day",
    "DTL",
    "Date_And_Time",
    "LDT",
    "LTime_Of_Day",
]


@pytest.mark.parametrize("strict", [False, True])
def test_every_codec_s_format_covers_its_size_and_fields(strict: bool) -> None:
    """The Codec contract the containers build on: ``fmt`` is ``size`` bytes in ``nfields``
    fields, and the default value fills exactly those fields."""
    codecs = [scalar_codec(name, strict) for name in ELEMENTARY]
    codecs += [string_codec(n, wide, strict) for n in (0, 1, 254) for wide in (False, True)]
    for codec in codecs:
        layout = struct.Struct(">" + codec.fmt)
        assert layout.size == codec.size, codec.text
        assert len(layout.unpack(bytes(codec.size))) == codec.nfields == len(codec.defaults())
