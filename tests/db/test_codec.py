"""Encode and decode: exact bytes per type (big-endian, written by hand), range checks, errors."""

from __future__ import annotations

import datetime as dt
import math
import struct
from pathlib import Path
from typing import Any

import pytest

from ouc.db import (
    Layout,
    Literal,
    Member,
    Nanoseconds,
    ScalarType,
    format_value,
    parse_scl,
    to_json,
)
from ouc.errors import DataBlockError, Status

VECTORS = Path(__file__).parent / "vectors"


def one(decl: str, value: Any) -> bytes:
    """The image of a one-variable block ``v : decl`` holding ``value``."""
    return parse_scl(f"v : {decl};").encode({"v": value})


@pytest.mark.parametrize(
    ("decl", "value", "expected"),
    [
        ("Byte", 0xAB, "ab00"),
        ("SInt", -1, "ff00"),
        ("USInt", 255, "ff00"),
        ("Char", "A", "4100"),
        ("Word", 0xABCD, "abcd"),
        ("Int", -2, "fffe"),
        ("UInt", 65535, "ffff"),
        ("WChar", "€", "20ac"),
        ("DWord", 0x01020304, "01020304"),
        ("DInt", -(2**31), "80000000"),
        ("UDInt", 2**32 - 1, "ffffffff"),
        ("Real", 1.5, "3fc00000"),
        ("LWord", 0x0102030405060708, "0102030405060708"),
        ("LInt", -1, "ffffffffffffffff"),
        ("ULInt", 2**64 - 1, "ffffffffffffffff"),
        ("LReal", 1.5, "3ff8000000000000"),
        ("Date", dt.date(1990, 1, 2), "0001"),
        ("Time", dt.timedelta(seconds=1), "000003e8"),
        ("Time", dt.timedelta(milliseconds=-1), "ffffffff"),
        ("Time", 1000, "000003e8"),  # an int is milliseconds
        ("LTime", 1, "0000000000000001"),  # an int is nanoseconds
        ("LTime", dt.timedelta(microseconds=1), "00000000000003e8"),
        ("Time_Of_Day", dt.time(12, 0), "02932e00"),  # 43 200 000 ms
        ("Time_Of_Day", dt.time(0, 0, 0, 1000), "00000001"),
        ("String[5]", "ab", "0502616200000000"),  # max 5, current 2, padded to even
        ("WString[2]", "é", "0002000100e90000"),  # max 2 words, current 1
        ("Array[1..3] of Int", [1, -1, 2], "0001ffff0002"),
        ("Array[0..9] of Bool", [True] + [False] * 8 + [True], "0102"),
        ("Array[1..2, 1..3] of Bool", [[True, False, True], [False, True, False]], "0502"),
    ],
)
def test_exact_bytes(decl: str, value: Any, expected: str) -> None:
    data = one(decl, value)
    assert data.hex() == expected
    layout = parse_scl(f"v : {decl};")
    back = layout.decode(data)["v"]
    assert layout.encode({"v": back}) == data


def test_dtl_bytes_and_weekday() -> None:
    # 2024-01-31 was a Wednesday: weekday 4 when Sunday is 1.
    value = dt.datetime(2024, 1, 31, 12, 34, 56, 500000)
    expected = bytes([0x07, 0xE8, 1, 31, 4, 12, 34, 56]) + (500_000_000).to_bytes(4, "big")
    assert one("DTL", value) == expected
    assert parse_scl("v : DTL;").decode(expected)["v"] == value


def test_bools_share_a_byte_lsb_first() -> None:
    layout = parse_scl("a : Bool; b : Bool; c : Bool;")
    assert layout.encode({"a": True, "c": True}) == b"\x05\x00"
    assert layout.decode(b"\x06\x00") == {"a": False, "b": True, "c": True}


def test_standard_example_bytes_match_the_vector() -> None:
    layout = parse_scl("Var1 : Bool := TRUE; Var2 : String := 'Hello World!';")
    by_hand = b"\x01\x00" + bytes([254, 12]) + b"Hello World!" + bytes(254 - 12)
    assert len(by_hand) == 258
    assert layout.encode() == by_hand
    vector = (VECTORS / "send_data.bin").read_bytes()
    assert vector == by_hand
    assert layout.encode(layout.decode(vector)) == vector


def test_decode_rejects_wrong_lengths_with_the_receive_area_status() -> None:
    layout = parse_scl("Var1 : Bool; Var2 : String;", "Received_Data")
    data = layout.encode()
    with pytest.raises(DataBlockError) as longer:
        layout.decode(data + b"\x00")
    assert longer.value.status == Status.RECEIVE_AREA_TOO_SMALL
    assert longer.value.path == "Received_Data"
    with pytest.raises(DataBlockError) as shorter:
        layout.decode(data[:-1])
    assert shorter.value.status is None
    assert "short" in shorter.value.message
    assert layout.decode(bytearray(data)) == layout.decode(memoryview(data))


@pytest.mark.parametrize(
    ("decl", "value", "fragment"),
    [
        ("Int", 32768, "outside the Int range"),
        ("Int", -32769, "outside the Int range"),
        ("USInt", -1, "outside the USInt range"),
        ("ULInt", 2**64, "outside the ULInt range"),
        ("Int", 1.5, "whole number"),
        ("Int", True, "whole number"),
        ("Int", "5", "whole number"),
        ("Real", 1e39, "too large for Real"),
        ("Real", "1.0", "expects a number"),
        ("Bool", 2, "TRUE or FALSE"),
        ("Char", "ab", "exactly one character"),
        ("Char", "€", "Latin-1"),
        ("WChar", "😀", "UTF-16 code unit"),
        ("String[3]", "abcd", "longer than String[3]"),
        ("String", "€", "Latin-1"),
        ("String", 5, "expects text"),
        ("WString[2]", "a😀", "longer than WString[2]"),  # the emoji takes two UTF-16 units
        ("Date", dt.date(1989, 12, 31), "outside D#1990-01-01"),
        ("Date", dt.date(2169, 1, 1), "outside D#1990-01-01"),
        ("Date", dt.datetime(2000, 1, 1), "datetime.date"),
        ("Time", dt.timedelta(microseconds=1500), "finer than the millisecond"),
        ("Time", dt.timedelta(days=25), "outside the Time range"),
        ("Time", Nanoseconds(1), "finer than the millisecond"),
        ("LTime", 2**63, "outside the LTime range"),
        ("Time_Of_Day", 86_400_000, "outside a day"),
        ("Time_Of_Day", dt.time(0, 0, 0, 1), "finer than a millisecond"),
        ("DTL", dt.datetime(1969, 12, 31), "outside the DTL range"),
        ("DTL", dt.date(2000, 1, 1), "datetime.datetime"),
        ("Array[1..2] of Int", [1], "needs 2 values"),
        ("Array[1..2] of Int", 5, "list of values"),
        ("Struct a : Int; END_STRUCT", [1], "mapping"),
    ],
)
def test_encode_range_errors_name_the_variable(decl: str, value: Any, fragment: str) -> None:
    with pytest.raises(DataBlockError) as err:
        one(decl, value)
    assert err.value.path == "v"
    assert fragment in err.value.message


def test_error_paths_point_into_structs_and_arrays() -> None:
    layout = parse_scl(
        "Motor : Struct Speeds : Array[1..4] of Real; Name : String[4]; END_STRUCT;"
        "Grid : Array[1..2, 0..1] of Int;"
    )
    cases: list[tuple[dict[str, Any], str]] = [
        ({"Motor": {"Speeds": [0.0, 0.0, 1e40, 0.0]}}, "Motor.Speeds[3]"),
        ({"Motor.Speeds[2]": "x"}, "Motor.Speeds[2]"),
        ({"Motor": {"Name": "too long"}}, "Motor.Name"),
        ({"Grid": [[1, 2], [3, 99999]]}, "Grid[2,1]"),
        ({"Grid": [[1, 2], [3]]}, "Grid[2]"),
        ({"Grid[1,1]": 70000}, "Grid[1,1]"),
        ({"Grid[3,1]": 0}, "Grid"),
        ({"Motor.Nope": 0}, "Motor"),
    ]
    for values, path in cases:
        with pytest.raises(DataBlockError) as err:
            layout.encode(values)
        assert err.value.path == path, values
    with pytest.raises(DataBlockError, match="no variable 'Nope'"):
        layout.encode({"Nope": 1})


def test_values_nested_dotted_and_partial() -> None:
    layout = parse_scl(
        "Motor : Struct Speeds : Array[1..3] of Real := [1.0, 2.0]; On : Bool; END_STRUCT;"
        "Grid : Array[1..2, 0..1] of Int; Flags : Array[0..1, 0..1] of Bool;"
    )
    nested = layout.encode({"Motor": {"Speeds": [1.0, 5.0, 0.0], "On": True}})
    dotted = layout.encode({"Motor.Speeds[2]": 5.0, "motor.on": True})
    partial = layout.encode({"Motor": {"Speeds": {2: 5.0}, "On": True}})
    assert nested == dotted == partial
    grid_nested = layout.encode({"Grid": [[1, 2], [3, 4]], "Flags": [[True, False], [False, True]]})
    grid_flat = layout.encode({"Grid": [1, 2, 3, 4], "Flags[0,0]": True, "Flags[1,1]": True})
    assert grid_nested == grid_flat
    assert layout.decode(grid_flat)["Grid"] == [[1, 2], [3, 4]]


def test_literals_are_read_by_the_target_type() -> None:
    layout = parse_scl(
        "a : Bool; b : Byte; t : Time; lt : LTime; d : Date; tod : Time_Of_Day;"
        "s : String[10]; c : Char; w : WString[2]; arr : Array[1..3] of Int; stamp : DTL;"
    )
    values = layout.decode(
        layout.encode(
            {
                "a": Literal("TRUE"),
                "b": Literal("16#FF"),
                "t": Literal("T#1m_30s"),
                "lt": Literal("LT#1ms5ns"),
                "d": Literal("D#2024-02-29"),
                "tod": Literal("TOD#23:59:59.999"),
                "s": Literal("it's"),  # text as it is...
                "c": Literal("'$$'"),  # ...unless quoted, then SCL escapes apply
                "w": Literal("WSTRING#'$N'"),
                "arr": Literal("[1, 2(7)]"),
                "stamp": Literal("DTL#2000-01-01-00:00:00"),
            }
        )
    )
    assert values == {
        "a": True,
        "b": 255,
        "t": dt.timedelta(seconds=90),
        "lt": 1_000_005,
        "d": dt.date(2024, 2, 29),
        "tod": dt.time(23, 59, 59, 999000),
        "s": "it's",
        "c": "$",
        "w": "\n",
        "arr": [1, 7, 7],
        "stamp": dt.datetime(2000, 1, 1),
    }
    with pytest.raises(DataBlockError, match="not a valid Time value") as err:
        layout.encode({"t": Literal("5 seconds")})
    assert err.value.path == "t"


def invalid(decl: str, data: bytes, *, strict: bool = False) -> DataBlockError:
    layout = parse_scl(f"v : {decl};")
    with pytest.raises(DataBlockError) as err:
        layout.decode(data, strict=strict)
    assert err.value.path == "v"
    return err.value


def test_decode_refuses_values_no_plc_holds() -> None:
    assert "larger than the String[3]" in invalid("String[3]", b"\x03\x04abc\x00").message
    assert "after D#2168-12-31" in invalid("Date", (65379).to_bytes(2, "big")).message
    assert "past midnight" in invalid("Time_Of_Day", (86_400_000).to_bytes(4, "big")).message
    month13 = bytes([0x07, 0xE8, 13, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    assert "not a valid date" in invalid("DTL", month13).message
    too_many_ns = bytes([0x07, 0xE8, 1, 1, 2, 0, 0, 0]) + (10**9).to_bytes(4, "big")
    assert "below one second" in invalid("DTL", too_many_ns).message
    parse = parse_scl("v : Date;").decode
    assert parse((65378).to_bytes(2, "big"))["v"] == dt.date(2168, 12, 31)


def test_strict_decode_checks_headers_and_weekdays() -> None:
    string = parse_scl("v : String[3];")
    zero_header = b"\x00\x02ab\x00\x00"  # a PC peer that leaves the max-length byte 0
    assert string.decode(zero_header) == {"v": "ab"}
    assert "maximum-length header says 0" in invalid("String[3]", zero_header, strict=True).message
    wrong_day = bytes([0x07, 0xE8, 1, 31, 1, 0, 0, 0, 0, 0, 0, 0])  # says Sunday, was Wednesday
    dtl = parse_scl("v : DTL;")
    assert dtl.decode(wrong_day)["v"] == dt.datetime(2024, 1, 31)
    assert "weekday field 1" in invalid("DTL", wrong_day, strict=True).message
    sub_micro = bytes([0x07, 0xE8, 1, 31, 4, 0, 0, 0]) + (1500).to_bytes(4, "big")
    assert dtl.decode(sub_micro)["v"].microsecond == 1  # nanoseconds below 1 µs are dropped
    assert "finer than a microsecond" in invalid("DTL", sub_micro, strict=True).message


def test_real_round_trips_as_float32() -> None:
    layout = parse_scl("r : Real; l : LReal;")
    back = layout.decode(layout.encode({"r": 0.1, "l": 0.1}))
    assert back["r"] == struct.unpack(">f", struct.pack(">f", 0.1))[0] != 0.1
    assert back["l"] == 0.1
    special = layout.decode(layout.encode({"r": math.inf, "l": math.nan}))
    assert special["r"] == math.inf and math.isnan(special["l"])


def test_start_values_are_defaults_and_normalized() -> None:
    layout = parse_scl(
        "r : Real := 0.1; t : Time := 1500; c : Char; w : WChar; s : String[2];"
        "arr : Array[1..3] of Int := [5]; stamp : DTL;"
    )
    by_name = {m.name: m for m in layout.members}
    assert by_name["r"].start == struct.unpack(">f", struct.pack(">f", 0.1))[0]
    assert by_name["t"].start == dt.timedelta(milliseconds=1500)
    assert by_name["arr"].start == (5,)
    assert layout.defaults() == {
        "r": by_name["r"].start,
        "t": dt.timedelta(milliseconds=1500),
        "c": " ",  # the engineering tool's default Char start value
        "w": " ",
        "s": "",
        "arr": [5, 0, 0],
        "stamp": dt.datetime(1970, 1, 1),  # DTL#1970-01-01-00:00:00
    }
    assert layout.encode() == layout.encode(layout.defaults())
    assert layout == parse_scl(
        "r : Real := 0.10000000149011612; t : Time := T#1S_500MS; c : Char; w : WChar;"
        "s : String[2]; arr : Array[1..3] of Int := [5]; stamp : DTL;"
    )


def test_layout_construction_errors() -> None:
    with pytest.raises(DataBlockError, match="no variables"):
        Layout(())
    with pytest.raises(DataBlockError, match="declared twice"):
        parse_scl("a : Int; A : Bool;")
    with pytest.raises(DataBlockError, match="larger than a data block"):
        parse_scl("a : Array[0..40000] of Int;")
    with pytest.raises(DataBlockError, match="grows past 65536"):
        parse_scl("a : Array[0..30000] of Int; b : Array[0..30000] of Int;")
    with pytest.raises(DataBlockError, match="finite"):
        Layout((Member("r", ScalarType("Real"), math.inf),))
    with pytest.raises(DataBlockError, match="start values for 2 elements"):
        parse_scl("a : Array[1..2] of Int := [1, 2, 3];")
    with pytest.raises(DataBlockError, match="a Struct takes no start value"):
        Layout((Member("s", parse_scl("x : Int;").struct_type, {"x": 1}),))


def test_paths_reach_names_with_spaces() -> None:
    layout = parse_scl('"my motor" : Struct "top speed" : Int; END_STRUCT;')
    image = layout.encode({"my motor.top speed": 7})
    assert image == layout.encode({'"my motor"."top speed"': 7}) == b"\x00\x07"
    assert layout.entry("my motor.top speed").offset == "0.0"
    with pytest.raises(DataBlockError, match="not a variable path"):
        layout.encode({"my motor..top speed": 7})


# -- Date_And_Time (DT), LDT and LTime_Of_Day (LTOD) ------------------------------------------


def test_dt_is_eight_bcd_bytes_with_the_weekday_in_the_last_nibble() -> None:
    # Siemens' layout: year (2 digits), month, day, hour, minute, second in BCD, then the two
    # high millisecond digits, then the last millisecond digit (high nibble) and the weekday
    # (low nibble, 1 = Sunday). 2024-01-31 was a Wednesday (4).
    value = dt.datetime(2024, 1, 31, 12, 34, 56, 789000)
    expected = bytes([0x24, 0x01, 0x31, 0x12, 0x34, 0x56, 0x78, 0x94])
    assert one("DT", value) == expected
    assert parse_scl("v : Date_And_Time;").decode(expected)["v"] == value
    # Two-digit years: 90..99 are the 1990s, 00..89 the years 2000..2089.
    assert one("DT", dt.datetime(1999, 12, 31))[:1] == b"\x99"
    assert one("DT", dt.datetime(2089, 12, 31, 23, 59, 59, 999000)).hex() == "8912312359599997"
    decoded = parse_scl("v : DT;").decode(bytes.fromhex("9001010000000002"))["v"]
    assert decoded == dt.datetime(1990, 1, 1)  # the default, a Monday (2)
    assert parse_scl("v : DT;").encode({}) == bytes.fromhex("9001010000000002")


def test_an_ltod_start_value_shows_what_the_bytes_hold() -> None:
    layout = parse_scl("g : LTOD := 5000;")  # 5 µs
    assert layout.encode({}) == (5000).to_bytes(8, "big")
    assert [format_value(e.dtype, e.start) for e in layout.entries()] == ["LTOD#00:00:00.000005"]
    assert layout.decode(layout.encode({}), strict=True) == {"g": dt.time(0, 0, 0, 5)}
    with pytest.raises(DataBlockError, match="finer than the microsecond"):
        parse_scl("g : LTOD := 5;")


def test_ldt_and_ltod_count_nanoseconds() -> None:
    day_ns = 86_400 * 10**9
    assert one("LDT", dt.datetime(1970, 1, 2)) == day_ns.to_bytes(8, "big")
    assert one("LDT", dt.datetime(1970, 1, 1, 0, 0, 0, 1)) == (1000).to_bytes(8, "big")
    assert one("Date_And_LTime", Literal("LDT#1970-01-02-00:00:00")) == day_ns.to_bytes(8, "big")
    noon = (43_200 * 10**9).to_bytes(8, "big")
    assert one("LTOD", dt.time(12, 0)) == noon
    assert one("LTime_Of_Day", 43_200 * 10**9) == noon  # an int is nanoseconds
    assert one("LTOD", Literal("LTOD#00:00:00.000001")) == (1000).to_bytes(8, "big")
    assert parse_scl("v : LTOD;").decode(noon)["v"] == dt.time(12, 0)
    last = (2**63 - 1).to_bytes(8, "big")
    assert parse_scl("v : LDT;").decode(last)["v"] == dt.datetime(2262, 4, 11, 23, 47, 16, 854775)


@pytest.mark.parametrize(
    ("decl", "value", "message"),
    [
        ("DT", dt.datetime(1989, 12, 31, 23, 59, 59), "outside the DT range 1990..2089"),
        ("DT", dt.datetime(2090, 1, 1), "outside the DT range 1990..2089"),
        ("DT", dt.datetime(2000, 1, 1, 0, 0, 0, 1500), "finer than the millisecond"),
        ("DT", dt.date(2000, 1, 1), "datetime.datetime"),
        ("LDT", dt.datetime(1969, 12, 31), "outside the LDT range"),
        ("LDT", "2024-01-01", "datetime.datetime"),
        ("LTOD", 86_400 * 10**9, "outside a day"),
        ("LTOD", -1, "outside a day"),
        ("LTOD", dt.timedelta(seconds=1), "datetime.time or nanoseconds"),
        ("LTOD", Literal("LT#2H"), "datetime.time or nanoseconds"),  # a duration, not a time
        ("LTOD", 5, "finer than the microsecond"),  # a time value could not keep it
    ],
)
def test_dt_ldt_ltod_refuse_values_out_of_range(decl: str, value: Any, message: str) -> None:
    with pytest.raises(DataBlockError, match=message) as err:
        one(decl, value)
    assert err.value.path == "v"


def test_dt_ldt_ltod_decode_refuses_what_no_plc_holds() -> None:
    assert "not a BCD number" in invalid("DT", bytes.fromhex("2A01010000000002")).message
    assert "BCD millisecond digit" in invalid("DT", bytes.fromhex("24013100000000A4")).message
    assert "not a valid date" in invalid("DT", bytes.fromhex("2402300000000006")).message
    too_late = (2**63).to_bytes(8, "big")
    assert "after LDT#2262-04-11" in invalid("LDT", too_late).message
    assert "past midnight" in invalid("LTOD", (86_400 * 10**9).to_bytes(8, "big")).message


def test_strict_decode_of_dt_ldt_ltod() -> None:
    wrong_day = bytes.fromhex("2401311234567891")  # says Sunday; 2024-01-31 was a Wednesday
    stamp = dt.datetime(2024, 1, 31, 12, 34, 56, 789000)
    assert parse_scl("v : DT;").decode(wrong_day)["v"] == stamp
    assert "weekday field 1" in invalid("DT", wrong_day, strict=True).message
    sub_micro = (1500).to_bytes(8, "big")
    assert parse_scl("v : LDT;").decode(sub_micro)["v"] == dt.datetime(1970, 1, 1, 0, 0, 0, 1)
    assert "finer than a microsecond" in invalid("LDT", sub_micro, strict=True).message
    assert parse_scl("v : LTOD;").decode(sub_micro)["v"] == dt.time(0, 0, 0, 1)
    assert "finer than a microsecond" in invalid("LTOD", sub_micro, strict=True).message


def test_dt_ldt_ltod_literals_keep_their_prefix() -> None:
    layout = parse_scl(
        "a : DT := DT#2024-01-31-12:34:56.789; b : LDT := LDT#2024-01-31-12:34:56.123456;"
        " c : LTOD := LTOD#23:59:59.999999; d : TOD := TOD#01:02:03.004;"
    )
    shown = {e.path: format_value(e.dtype, e.start) for e in layout.entries()}
    assert shown == {
        "a": "DT#2024-01-31-12:34:56.789",
        "b": "LDT#2024-01-31-12:34:56.123456",
        "c": "LTOD#23:59:59.999999",
        "d": "TOD#01:02:03.004",
    }
    values = layout.decode(layout.encode({}))
    assert to_json(values, layout.struct_type) == {
        "a": "DT#2024-01-31-12:34:56.789",
        "b": "LDT#2024-01-31-12:34:56.123456",
        "c": "LTOD#23:59:59.999999",
        "d": "TOD#01:02:03.004",
    }
    # Without the type the Python value decides; the text reads back to the same bytes.
    untyped = to_json(values)
    assert untyped["a"] == "DTL#2024-01-31-12:34:56.789"
    again = {k: Literal(v) for k, v in untyped.items()}
    assert layout.encode(again) == layout.encode({})


@pytest.mark.parametrize("text", ["Infinity", "-Infinity", "NaN", "inf", "-inf", "+inf"])
def test_real_reads_back_the_non_finite_values_it_writes(text: str) -> None:
    """JSON output writes "Infinity"/"NaN", the tables write repr's "inf": both read back."""
    layout = parse_scl("r : Real; l : LReal;")
    data = layout.encode({"r": Literal(text), "l": Literal(text)})
    back = layout.decode(data)
    expected = float(text)
    for value in back.values():
        assert (math.isnan(value) and math.isnan(expected)) or value == expected
    assert layout.encode({k: Literal(v) for k, v in to_json(back).items()}) == data
