"""SCL declarations: every accepted form, literals, errors with line numbers, writing SCL back."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ouc.db import (
    ArrayType,
    Member,
    Nanoseconds,
    ScalarType,
    StringType,
    StructType,
    format_value,
    json_text,
    parse_literal,
    parse_scl,
    parse_type,
)
from ouc.errors import DataBlockError

STANDARD = [Member("Var1", ScalarType("Bool"), True), Member("Var2", StringType(), "Hello World!")]


@pytest.mark.parametrize(
    "text",
    [
        "Var1 : Bool := TRUE; Var2 : String := 'Hello World!';",
        "VAR\n  Var1 : Bool := TRUE;\n  Var2 : String := 'Hello World!';\nEND_VAR",
        "STRUCT Var1 : Bool := TRUE; Var2 : String := 'Hello World!'; END_STRUCT;",
        "VAR Var1 : Bool := TRUE; END_VAR VAR Var2 : String := 'Hello World!'; END_VAR",
        "var1 : bool := true; var2 : string[254] := 'Hello World!';",
        # What the engineering tool's "Generate source from blocks" writes:
        """DATA_BLOCK "Send_Data"
        TITLE = Send data (it's the standard example)
        { S7_Optimized_Access := 'FALSE' }
        AUTHOR : Siemens
        FAMILY : Demo
        VERSION : 0.1
        NON_RETAIN
           VAR
              Var1 { ExternalAccessible := 'False'; ExternalWritable := 'False'} : Bool := TRUE;
              Var2 : String := 'Hello World!';   // the payload
           END_VAR

        BEGIN

        END_DATA_BLOCK
        """,
        # Start values given in the BEGIN section instead:
        """DATA_BLOCK "Send_Data"
        { S7_Optimized_Access := 'FALSE' }
        VERSION : 0.1
        VAR Var1 : Bool; Var2 : String; END_VAR
        BEGIN
           Var1 := TRUE;
           Var2 := 'Hello World!';
        END_DATA_BLOCK""",
        # A block declared as a UDT:
        """TYPE "Payload"
        VERSION : 0.1
           STRUCT
              Var1 : Bool := TRUE;   (* set *)
              Var2 : String;         /* text */
           END_STRUCT;
        END_TYPE
        DATA_BLOCK "Send_Data"
        { S7_Optimized_Access := 'FALSE' }
        VERSION : 0.1
        NON_RETAIN
        "Payload"
        BEGIN
           Var2 := 'Hello World!';
        END_DATA_BLOCK""",
    ],
)
def test_accepted_forms_give_the_same_layout(text: str) -> None:
    layout = parse_scl(text)
    assert [(m.name.lower(), m.type, m.start) for m in layout.members] == [
        (m.name.lower(), m.type, m.start) for m in STANDARD
    ]
    assert layout.size == 258


def test_names_come_from_the_block_or_the_argument() -> None:
    assert parse_scl("a : Int;").name is None
    assert parse_scl("a : Int;", "Given").name == "Given"
    block = 'DATA_BLOCK "Inside" VAR a : Int; END_VAR BEGIN END_DATA_BLOCK'
    assert parse_scl(block, "Given").name == "Inside"
    two = block + ' DATA_BLOCK "Other" VAR b : Byte; END_VAR BEGIN END_DATA_BLOCK'
    assert parse_scl(two, "Other").members[0].name == "b"
    with pytest.raises(DataBlockError, match="several data blocks"):
        parse_scl(two)


def test_types_nesting_udts_and_quoted_names() -> None:
    text = """
    TYPE "Axis" STRUCT pos : LReal; END_STRUCT; END_TYPE
    "my var" : Int;
    Type : Byte;          // a variable may be called like a keyword
    axes : Array[1..2] of "Axis";
    m : Struct inner : Array[-1..1, 0..1] of Struct x : Bool; END_STRUCT; END_STRUCT;
    w : WString[5];
    t : TOD;
    """
    layout = parse_scl(text)
    types = {m.name: m.type for m in layout.members}
    axis = StructType((Member("pos", ScalarType("LReal")),))
    assert types["my var"] == ScalarType("Int")
    assert types["Type"] == ScalarType("Byte")
    assert types["axes"] == ArrayType(((1, 2),), axis)
    inner = types["m"]
    assert isinstance(inner, StructType)
    assert inner.members[0].type == ArrayType(
        ((-1, 1), (0, 1)), StructType((Member("x", ScalarType("Bool")),))
    )
    assert types["w"] == StringType(5, wide=True)
    assert types["t"] == ScalarType("Time_Of_Day")


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("TRUE", True),
        ("false", False),
        ("BOOL#1", True),
        ("42", 42),
        ("-42", -42),
        ("1_000", 1000),
        ("16#FF", 255),
        ("2#1010", 10),
        ("8#17", 15),
        ("B#16#0F", 15),
        ("W#16#ABCD", 0xABCD),
        ("DW#16#0001_0000", 65536),
        ("INT#-5", -5),
        ("1.5", 1.5),
        ("-1.5e3", -1500.0),
        ("REAL#2.5", 2.5),
        ("'it$'s $$5$N$0A'", "it's $5\n\n"),
        ("STRING#'x'", "x"),
        ("WSTRING#'€'", "€"),
        ("CHAR#65", "A"),
        ("T#1d2h3m4s5ms", dt.timedelta(days=1, hours=2, minutes=3, seconds=4, milliseconds=5)),
        ("T#-1.5s", dt.timedelta(seconds=-1.5)),
        ("TIME#1H_30M", dt.timedelta(minutes=90)),
        ("-T#5s", dt.timedelta(seconds=-5)),
        ("LT#1s5ns", Nanoseconds(1_000_000_005)),
        ("LTIME#2us", Nanoseconds(2000)),
        ("-LT#1ns", Nanoseconds(-1)),
        ("D#2024-01-31", dt.date(2024, 1, 31)),
        ("DATE#1990-1-1", dt.date(1990, 1, 1)),
        ("TOD#12:34:56.789", dt.time(12, 34, 56, 789000)),
        ("TIME_OF_DAY#1:02", dt.time(1, 2)),
        ("DTL#2024-01-31-12:00:00.123456", dt.datetime(2024, 1, 31, 12, 0, 0, 123456)),
        ("DTL#2024-01-31-12:00:00.5", dt.datetime(2024, 1, 31, 12, 0, 0, 500000)),
        ("[1, 2, 3]", [1, 2, 3]),
        ("[2(0), 1]", [0, 0, 1]),
        ("[3(TRUE, FALSE)]", [True, False] * 3),
        ("[]", []),
    ],
)
def test_literals(text: str, value: Any) -> None:
    got = parse_literal(text)
    assert got == value
    assert type(got) is type(value)


@pytest.mark.parametrize(
    "text",
    ["T#5", "T#1us", "D#2024-13-01", "TOD#25:00:00", "DTL#2024-01-01-00:00:00.0000000001",
     "16#XYZ", "FOO#1", "[1, 2", "'open", "-'x'", "1 2", "0(1)", "STRING#5", "BOOL#2", "$"],
)  # fmt: skip
def test_bad_literals(text: str) -> None:
    with pytest.raises(DataBlockError):
        parse_literal(text)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("a : Int;\nb : Bol;", 2, "'Bol' is not an elementary data type"),
        ("a : Int\nb : Int;", 2, "expected ';'"),
        ("a : Int;\n\nb : Int := 70000;", 3, "b: 70000 is outside the Int range"),
        ("a : Int;\nb : String[300];", 2, "outside 1..254"),
        ("a : Int;\nb : Array[1..2] of Array[1..2] of Int;", 2, "multi-dimensional"),
        ("a : Int;\nb : Array[2..1] of Int;", 2, "empty"),
        ("a : Int;\nb : Array[0..70000] of Byte;", 2, "larger than a data block"),
        ("a : Int;\nb : Struct\n  c : Int := 'x';\nEND_STRUCT;", 3, "b.c: Int expects a whole"),
        ("a : Int;\nb : \"Nope\";", 2, 'type "Nope" is not declared'),
        ("VAR\n a : Int;\n", 3, "expected END_VAR"),
        ("a : Int; (* never closed", 1, "never closed"),
        ("a : String := 'x\n';", 1, "past the end of the line"),
        ("a : Int;\nb @ Int;", 2, "unexpected character '@'"),
        ('DATA_BLOCK "D"\n{ S7_Optimized_Access := \'TRUE\' }\nVAR a : Int; END_VAR\n'
         "BEGIN END_DATA_BLOCK", 1, "optimized access"),
        ('DATA_BLOCK "D" VAR a : Int; END_VAR BEGIN\n  b := 1;\nEND_DATA_BLOCK', 2,
         "b: is not declared"),
        ("a : Struct END_STRUCT;", 1, "at least one member"),
        ("a : Int;\nA : Int;", 2, "A is declared twice"),
        ("", 1, "declares no variables"),
    ],
)  # fmt: skip
def test_errors_name_the_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(DataBlockError) as err:
        parse_scl(text)
    assert err.value.path == f"line {line}"
    assert fragment in err.value.message


def test_begin_section_sets_elements_and_members() -> None:
    layout = parse_scl(
        'DATA_BLOCK "D" VAR m : Struct s : Int; END_STRUCT; a : Array[1..4] of Int := [1];'
        " g : Array[1..2, 1..2] of Bool; END_VAR"
        " BEGIN m.s := 5; a[3] := 7; g[2,1] := TRUE; END_DATA_BLOCK"
    )
    assert layout.defaults() == {
        "m": {"s": 5},
        "a": [1, 0, 7, 0],
        "g": [[False, False], [True, False]],
    }
    with pytest.raises(DataBlockError, match="Struct array"):
        parse_scl(
            'DATA_BLOCK "D" VAR c : Array[1..2] of Struct x : Int; END_STRUCT; END_VAR'
            " BEGIN c[1].x := 1; END_DATA_BLOCK"
        )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Int", ScalarType("Int")),
        ("string", StringType()),
        ("String[20]", StringType(20)),
        ("WString[3]", StringType(3, wide=True)),
        ("Array[1..2, 0..3] of Int", ArrayType(((1, 2), (0, 3)), ScalarType("Int"))),
        ("Array[-5..-1] of String[2]", ArrayType(((-5, -1),), StringType(2))),
    ],
)
def test_parse_type(text: str, expected: Any) -> None:
    assert parse_type(text) == expected
    assert parse_type(expected.text) == expected


def test_parse_type_refuses_structs_and_trailing_text() -> None:
    for text in ("Struct", "Int Int", "Array[1..2]", "String[x]", "Array[*] of Int"):
        with pytest.raises(DataBlockError):
            parse_type(text)


def test_to_scl_writes_what_it_reads() -> None:
    text = """
    a : Bool := TRUE; b : Byte := 16#0F; w : Word := 16#ABCD; i : Int := -5;
    r : Real := 1.5; lr : LReal := -2.0E-300; c : Char := '$$'; wc : WChar := WCHAR#'€';
    s : String[8] := 'it''s'; ws : WString[4] := WSTRING#'ä$N';
    d : Date := D#2024-02-29; t : Time := T#-1d_2h_3ms; lt : LTime := LT#5us_1ns;
    tod : Time_Of_Day := TOD#23:59:59.999; stamp : DTL := DTL#2262-04-11-23:47:16.854775;
    arr : Array[1..5] of Int := [3(7), 1]; g : Array[0..1, 0..1] of Bool := [TRUE, FALSE, TRUE];
    m : Struct x : Int := 3; y : Array[1..2] of Struct z : Bool := TRUE; END_STRUCT; END_STRUCT;
    "odd name" : Byte;
    """.replace("'it''s'", "'it$'s'")
    layout = parse_scl(text, "Round_Trip")
    source = layout.to_scl()
    assert source.startswith("DATA_BLOCK \"Round_Trip\"\n{ S7_Optimized_Access := 'FALSE' }")
    assert "arr : Array[1..5] of Int := [3(7), 1];" in source
    assert '"odd name" : Byte;' in source
    assert parse_scl(source) == layout
    unnamed = parse_scl("a : Int := 1;")
    assert unnamed.to_scl().startswith("   VAR\n")
    assert parse_scl(unnamed.to_scl()) == unnamed


def test_deep_nesting_is_refused_before_recursion_could_overflow() -> None:
    deep = "a : " + "Struct b : " * 100 + "Int;" + " END_STRUCT;" * 100
    with pytest.raises(DataBlockError, match="deeper than 24 levels"):
        parse_scl(deep)
    with pytest.raises(DataBlockError, match="deeper than 24 levels"):
        parse_scl("a : " + "Array[1..1] of " * 100 + "Int;")
    with pytest.raises(DataBlockError, match="nested too deeply"):
        parse_literal("[" * 50 + "]" * 50)
    with pytest.raises(DataBlockError, match="nested too deeply"):
        parse_literal("-" * 50 + "1")


WIDE = StringType(8, wide=True)


@pytest.mark.parametrize(
    ("dtype", "value", "text"),
    [
        (WIDE, "\ud83d", "WSTRING#'$D83D'"),  # a lone high surrogate, as a peer may send it
        (WIDE, "a\udc00b", "WSTRING#'a$DC00b'"),
        (WIDE, "\ud83d\ude00", "WSTRING#'$D83D$DE00'"),  # a pair stays two code units
        (WIDE, "\n12", "WSTRING#'$000A12'"),  # four digits: '$0A12' would be U+0A12
        (WIDE, "ä€$'", "WSTRING#'ä€$$$''"),
        (ScalarType("WChar"), "\udfff", "WCHAR#'$DFFF'"),
        (StringType(8), "\n12\x7f", "'$0A12$7F'"),  # String keeps two-digit escapes
    ],
)
def test_strings_with_surrogates_and_controls_print_and_read_back(
    dtype: Any, value: str, text: str
) -> None:
    assert format_value(dtype, value) == text
    text.encode("utf-8")  # printable on any UTF-8 stream: no lone surrogate left
    assert parse_literal(text) == value


def test_wide_escapes_take_four_digits_and_still_read_two() -> None:
    assert parse_literal("WSTRING#'$0A12'") == "\u0a12"
    assert parse_literal("WSTRING#'$0D$0A'") == "\r\n"  # two digits where four do not follow
    assert parse_literal("WCHAR#'$d83d'") == "\ud83d"
    assert parse_literal("'$0A12'") == "\n12"  # plain and STRING# strings: $hh only
    assert parse_literal("STRING#'$0A12'") == "\n12"


# Plain integers(0, 0xFFFF) almost never draw a surrogate or a control character: ask for them.
CODE_UNITS = st.one_of(
    st.integers(0xD800, 0xDFFF),
    st.integers(0, 0x9F),
    st.sampled_from([0x24, 0x27]),
    st.integers(0, 0xFFFF),
)


@settings(max_examples=200)
@given(st.lists(CODE_UNITS, max_size=12).map(lambda units: "".join(map(chr, units))))
def test_any_utf16_code_units_round_trip_as_a_literal_and_as_json(value: str) -> None:
    text = format_value(WIDE, value)
    text.encode("utf-8")
    assert parse_literal(text) == value
    doc = json_text({"W": value})
    doc.encode("utf-8")
    # JSON reads an escaped pair as one character: compare the UTF-16 the PLC holds.
    assert utf16(json.loads(doc)["W"]) == utf16(value)


def utf16(text: str) -> bytes:
    return text.encode("utf-16-be", "surrogatepass")
