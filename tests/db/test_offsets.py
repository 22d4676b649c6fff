"""Offsets and sizes, written by hand from the standard-access rules (domain.md §5).

Rules applied by hand below: a Bool takes the next bit; Byte/Char/SInt/USInt the next whole
byte; every other type, every String/WString, every Struct and every array the next even byte;
Structs and arrays end on an even byte; Bool arrays pack bits, and each row of the last
dimension of a multi-dimensional Bool array starts on a new byte (STEP 7 rule); elements of an
array of odd-sized Strings each start on an even byte. The block itself ends on an even byte.
"""

from __future__ import annotations

import pytest

from ouc.db import ScalarType, StringType, parse_scl


def offsets(text: str) -> tuple[list[tuple[str, str]], int]:
    layout = parse_scl(text)
    return [(e.path, e.offset) for e in layout.entries()], layout.size


def test_standard_example_is_258_bytes() -> None:
    rows, size = offsets("Var1 : Bool; Var2 : String;")
    assert rows == [("Var1", "0.0"), ("Var2", "2.0")]
    assert size == 258


EVERY_TYPE = """
b0 : Bool; v_byte : Byte; b1 : Bool; v_char : Char; b2 : Bool; v_sint : SInt;
b3 : Bool; v_usint : USInt; b4 : Bool; v_word : Word; b5 : Bool; v_int : Int;
b6 : Bool; v_uint : UInt; b7 : Bool; v_wchar : WChar; b8 : Bool; v_date : Date;
b9 : Bool; v_dword : DWord; b10 : Bool; v_dint : DInt; b11 : Bool; v_udint : UDInt;
b12 : Bool; v_real : Real; b13 : Bool; v_time : Time; b14 : Bool; v_tod : Time_Of_Day;
b15 : Bool; v_lword : LWord; b16 : Bool; v_lint : LInt; b17 : Bool; v_ulint : ULInt;
b18 : Bool; v_lreal : LReal; b19 : Bool; v_ltime : LTime; b20 : Bool; v_dtl : DTL;
b21 : Bool; v_str : String[5]; b22 : Bool; v_wstr : WString[3]; b23 : Bool;
"""

EVERY_TYPE_OFFSETS = [
    ("b0", "0.0"), ("v_byte", "1.0"),  # byte types take the next byte
    ("b1", "2.0"), ("v_char", "3.0"),
    ("b2", "4.0"), ("v_sint", "5.0"),
    ("b3", "6.0"), ("v_usint", "7.0"),
    ("b4", "8.0"), ("v_word", "10.0"),  # word types skip to the next even byte
    ("b5", "12.0"), ("v_int", "14.0"),
    ("b6", "16.0"), ("v_uint", "18.0"),
    ("b7", "20.0"), ("v_wchar", "22.0"),
    ("b8", "24.0"), ("v_date", "26.0"),
    ("b9", "28.0"), ("v_dword", "30.0"),  # 4 bytes: 30..33
    ("b10", "34.0"), ("v_dint", "36.0"),
    ("b11", "40.0"), ("v_udint", "42.0"),
    ("b12", "46.0"), ("v_real", "48.0"),
    ("b13", "52.0"), ("v_time", "54.0"),
    ("b14", "58.0"), ("v_tod", "60.0"),
    ("b15", "64.0"), ("v_lword", "66.0"),  # 8 bytes: 66..73
    ("b16", "74.0"), ("v_lint", "76.0"),
    ("b17", "84.0"), ("v_ulint", "86.0"),
    ("b18", "94.0"), ("v_lreal", "96.0"),
    ("b19", "104.0"), ("v_ltime", "106.0"),
    ("b20", "114.0"), ("v_dtl", "116.0"),  # DTL is 12 bytes: 116..127
    ("b21", "128.0"), ("v_str", "130.0"),  # String[5] is 7 bytes: 130..136
    ("b22", "137.0"), ("v_wstr", "138.0"),  # WString[3] is 5 words: 138..147
    ("b23", "148.0"),
]  # fmt: skip


def test_every_type_after_a_bool() -> None:
    rows, size = offsets(EVERY_TYPE)
    assert rows == EVERY_TYPE_OFFSETS
    assert size == 150  # 149 bytes used, the block ends on an even byte


@pytest.mark.parametrize(
    ("name", "bits"),
    [
        ("Bool", 1), ("Byte", 8), ("Char", 8), ("SInt", 8), ("USInt", 8), ("Word", 16),
        ("Int", 16), ("UInt", 16), ("WChar", 16), ("Date", 16), ("DWord", 32), ("DInt", 32),
        ("UDInt", 32), ("Real", 32), ("Time", 32), ("Time_Of_Day", 32), ("TOD", 32),
        ("LWord", 64), ("LInt", 64), ("ULInt", 64), ("LReal", 64), ("LTime", 64), ("DTL", 96),
        ("Date_And_Time", 64), ("DT", 64), ("LDT", 64), ("Date_And_LTime", 64),
        ("LTime_Of_Day", 64), ("LTOD", 64),
    ],
)  # fmt: skip
def test_scalar_sizes(name: str, bits: int) -> None:
    assert ScalarType(name).bits == bits


@pytest.mark.parametrize(
    ("dtype", "nbytes"),
    [
        (StringType(), 256),
        (StringType(20), 22),
        (StringType(1), 3),
        (StringType(wide=True), 512),
        (StringType(10, wide=True), 24),
    ],
)
def test_string_sizes(dtype: StringType, nbytes: int) -> None:
    assert dtype.bits == nbytes * 8


def test_bools_pack_into_bits_then_bytes() -> None:
    text = "".join(f"b{i} : Bool; " for i in range(9)) + "after : Int;"
    rows, size = offsets(text)
    expected = [(f"b{i}", f"0.{i}") for i in range(8)] + [("b8", "1.0"), ("after", "2.0")]
    assert rows == expected
    assert size == 4


def test_bool_after_a_byte_and_byte_after_bools() -> None:
    rows, size = offsets("a : Byte; b : Bool; c : Bool; d : Byte; e : Bool;")
    assert rows == [("a", "0.0"), ("b", "1.0"), ("c", "1.1"), ("d", "2.0"), ("e", "3.0")]
    assert size == 4


def test_bools_at_struct_boundaries() -> None:
    text = """
    a : Bool;
    s : Struct x : Bool; y : Bool; END_STRUCT;
    b : Bool;
    t : Struct c : Byte; END_STRUCT;
    d : Byte;
    """
    rows, size = offsets(text)
    assert rows == [
        ("a", "0.0"),
        ("s", "2.0"),  # a Struct starts on an even byte
        ("s.x", "2.0"),
        ("s.y", "2.1"),
        ("b", "4.0"),  # ...and ends on one: the Bool after it does not share its byte
        ("t", "6.0"),
        ("t.c", "6.0"),
        ("d", "8.0"),  # a 1-byte Struct still takes 2 bytes
    ]
    assert size == 10


def test_bools_at_array_boundaries() -> None:
    text = """
    a : Bool;
    flags : Array[0..9] of Bool;
    b : Bool;
    eight : Array[1..8] of Bool;
    c : Byte;
    one : Array[1..1] of Bool;
    d : Bool;
    """
    rows, size = offsets(text)
    flags = [(f"flags[{i}]", f"{2 + i // 8}.{i % 8}") for i in range(10)]
    eight = [(f"eight[{i}]", f"6.{i - 1}") for i in range(1, 9)]
    assert rows == [
        ("a", "0.0"),
        ("flags", "2.0"),
        *flags,  # 2.0 .. 3.1, padded to 4
        ("b", "4.0"),
        ("eight", "6.0"),
        *eight,  # one byte of bits, padded to a word
        ("c", "8.0"),
        ("one", "10.0"),
        ("one[1]", "10.0"),
        ("d", "12.0"),
    ]
    assert size == 14


def test_multidimensional_arrays() -> None:
    text = """
    grid : Array[1..2, 0..3] of Int;
    cube : Array[1..3, 1..2, 1..2] of Byte;
    bits : Array[1..2, 1..3] of Bool;
    wide : Array[0..1, 0..8] of Bool;
    odd : Array[1..3] of Byte;
    x : Byte;
    """
    layout = parse_scl(text)
    got = {e.path: e.offset for e in layout.entries()}
    expected = {
        "grid": "0.0", "grid[1,0]": "0.0", "grid[1,1]": "2.0", "grid[1,3]": "6.0",
        "grid[2,0]": "8.0", "grid[2,3]": "14.0",
        "cube": "16.0", "cube[1,1,1]": "16.0", "cube[1,1,2]": "17.0", "cube[1,2,1]": "18.0",
        "cube[2,1,1]": "20.0", "cube[3,2,2]": "27.0",
        "bits": "28.0", "bits[1,1]": "28.0", "bits[1,3]": "28.2",
        "bits[2,1]": "29.0", "bits[2,3]": "29.2",  # each row starts on a new byte
        "wide": "30.0", "wide[0,7]": "30.7", "wide[0,8]": "31.0",
        "wide[1,0]": "32.0", "wide[1,8]": "33.0",
        "odd": "34.0", "odd[3]": "36.0",
        "x": "38.0",  # an array ends on an even byte
    }  # fmt: skip
    assert {k: got[k] for k in expected} == expected
    assert layout.size == 40


def test_nested_structs() -> None:
    text = """
    outer : Struct
        a : Bool;
        inner : Struct
            b : Bool;
            deep : Struct c : Byte; END_STRUCT;
            d : Bool;
        END_STRUCT;
        e : Byte;
    END_STRUCT;
    f : Bool;
    """
    rows, size = offsets(text)
    assert rows == [
        ("outer", "0.0"),
        ("outer.a", "0.0"),
        ("outer.inner", "2.0"),
        ("outer.inner.b", "2.0"),
        ("outer.inner.deep", "4.0"),
        ("outer.inner.deep.c", "4.0"),
        ("outer.inner.d", "6.0"),
        ("outer.e", "8.0"),
        ("f", "10.0"),
    ]
    assert size == 12


def test_strings_and_arrays_of_odd_strings() -> None:
    text = """
    s1 : String[1];
    c : Char;
    s2 : String[2];
    b : Bool;
    s3 : String;
    w : WString[1];
    arr : Array[1..3] of String[3];
    y : Byte;
    """
    rows, size = offsets(text)
    assert rows == [
        ("s1", "0.0"),  # 3 bytes
        ("c", "3.0"),  # a Char fits the odd byte after it
        ("s2", "4.0"),  # 4 bytes
        ("b", "8.0"),
        ("s3", "10.0"),  # 256 bytes
        ("w", "266.0"),  # 3 words
        ("arr", "272.0"),
        ("arr[1]", "272.0"),  # String[3] is 5 bytes, each element starts on an even byte
        ("arr[2]", "278.0"),
        ("arr[3]", "284.0"),
        ("y", "290.0"),
    ]
    assert size == 292


def test_arrays_of_structs_and_dtl() -> None:
    text = """
    cells : Array[0..2] of Struct on : Bool; v : Byte; END_STRUCT;
    stamps : Array[1..2] of DTL;
    z : Bool;
    """
    layout = parse_scl(text)
    got = {e.path: e.offset for e in layout.entries()}
    assert got == {
        "cells": "0.0",
        "cells[0]": "0.0",
        "cells[0].on": "0.0",
        "cells[0].v": "1.0",
        "cells[1]": "2.0",
        "cells[1].on": "2.0",
        "cells[1].v": "3.0",
        "cells[2]": "4.0",
        "cells[2].on": "4.0",
        "cells[2].v": "5.0",
        "stamps": "6.0",
        "stamps[1]": "6.0",
        "stamps[2]": "18.0",
        "z": "30.0",
    }
    assert layout.size == 32


def test_entries_report_sizes_types_and_depth() -> None:
    layout = parse_scl("m : Struct s : Array[1..2] of Real; END_STRUCT; t : String[4];")
    rows = {e.path: e for e in layout.entries()}
    assert (rows["m"].type, rows["m"].bits, rows["m"].depth) == ("Struct", 64, 0)
    assert (rows["m.s"].type, rows["m.s"].size, rows["m.s"].depth) == ("Array[1..2] of Real", 8, 1)
    assert (rows["m.s[2]"].byte, rows["m.s[2]"].depth) == (4, 2)
    assert (rows["t"].type, rows["t"].size) == ("String[4]", 6)
    assert [e.path for e in layout.entries(expand_arrays=False)] == ["m", "m.s", "t"]
    assert layout.entry("M.S[2]").offset == "4.0"  # names are case-insensitive
