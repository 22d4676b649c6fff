"""The JSON form and :func:`load_layout`: files, names, and errors that name file and line."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from ouc.db import Layout, load_layout, parse_scl
from ouc.errors import ConfigError, DataBlockError

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def test_to_dict_shape_and_round_trip() -> None:
    layout = parse_scl(
        "Var1 : Bool := TRUE; Var2 : String[20] := 'x';"
        "Delay : Time := T#5s; Speeds : Array[1..3] of Real := [1.5];"
        "Cells : Array[1..2] of Struct On : Bool; END_STRUCT; Stamp : DTL;",
        "Send_Data",
    )
    doc = layout.to_dict()
    assert doc == {
        "name": "Send_Data",
        "vars": [
            {"name": "Var1", "type": "Bool", "start": True},
            {"name": "Var2", "type": "String[20]", "start": "x"},
            {"name": "Delay", "type": "Time", "start": "T#5S"},
            {"name": "Speeds", "type": "Array[1..3] of Real", "start": [1.5]},
            {
                "name": "Cells",
                "type": "Array[1..2] of Struct",
                "members": [{"name": "On", "type": "Bool"}],
            },
            {"name": "Stamp", "type": "DTL"},
        ],
    }
    assert Layout.from_dict(json.loads(json.dumps(doc))) == layout


def test_from_dict_reads_literals_for_non_text_types() -> None:
    layout = Layout.from_dict(
        {
            "vars": [
                {"name": "d", "type": "Date", "start": "D#2024-01-31"},
                {"name": "t", "type": "Time", "start": 250},
                {"name": "s", "type": "String[4]", "start": "T#5s"},  # text stays text
                {"name": "g", "type": "Array[1..2, 1..2] of Int", "start": [[1, 2], [3, 4]]},
                {"name": "m", "type": "Struct", "members": [{"name": "x", "type": "Byte"}]},
                {"name": "c", "type": "Char", "start": "A", "comment": "a letter"},
            ]
        }
    )
    assert layout.defaults() == {
        "d": dt.date(2024, 1, 31),
        "t": dt.timedelta(milliseconds=250),
        "s": "T#5s",
        "g": [[1, 2], [3, 4]],
        "m": {"x": 0},
        "c": "A",
    }
    assert layout.members[-1].comment == "a letter"
    assert "// a letter" in layout.to_scl()


@pytest.mark.parametrize(
    ("doc", "path", "fragment"),
    [
        ({"vars": "x"}, None, "list of variables"),
        ({"vars": [], "extra": 1}, None, "unknown key"),
        ({"vars": [{"type": "Int"}]}, None, "'name'"),
        ({"vars": [{"name": "a"}]}, "a", "needs a 'type'"),
        ({"vars": [{"name": "a", "type": "Itn"}]}, "a", "not an elementary data type"),
        ({"vars": [{"name": "a", "type": "Int", "colour": 1}]}, "a", "unknown key"),
        ({"vars": [{"name": "a", "type": "Int", "members": []}]}, "a", "belongs to a Struct"),
        ({"vars": [{"name": "a", "type": "Struct"}]}, "a", "list of variables"),
        ({"vars": [{"name": "a", "type": "Int", "start": 1e6}]}, "a", "whole number"),
        ({"vars": [{"name": "a", "type": "Time", "start": "soon"}]}, "a", "not a valid Time value"),
        (
            {"vars": [{"name": "m", "type": "Struct", "members": [{"name": "x", "type": "?"}]}]},
            "m.x",
            "unexpected character",
        ),
        ({"name": 5, "vars": []}, None, "'name' must be text"),
    ],
)
def test_from_dict_errors(doc: dict[str, object], path: str | None, fragment: str) -> None:
    with pytest.raises(DataBlockError) as err:
        Layout.from_dict(doc)
    assert err.value.path == path
    assert fragment in err.value.message


def test_samples_load() -> None:
    send = load_layout(SAMPLES / "send_data.scl")
    assert (send.name, send.size) == ("Send_Data", 258)
    assert load_layout(SAMPLES / "send_data.db.json") == send
    received = load_layout(SAMPLES / "received_data.scl")
    assert received.size == 258 and received.decode(send.encode())["Var2"] == "Hello World!"
    machine = load_layout(SAMPLES / "machine_data.scl")
    assert machine.entry("Motor.Speed").start == 3000  # set in the BEGIN section
    assert machine.size == 144


def test_unnamed_layouts_take_the_file_stem(tmp_path: Path) -> None:
    file = tmp_path / "plain.scl"
    file.write_text("\ufeffa : Int;", encoding="utf-8")  # a BOM, as some editors write
    assert load_layout(file).name == "plain"


def test_load_errors_name_file_and_line(tmp_path: Path) -> None:
    scl = tmp_path / "bad.scl"
    scl.write_text("a : Int;\nb : String[20] := 'x';\nc : Int := 99999;\n", encoding="utf-8")
    with pytest.raises(DataBlockError) as err:
        load_layout(scl)
    assert err.value.path == f"{scl}:3"
    assert err.value.message.startswith("c: 99999 is outside")

    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"vars": [\n  {"name": "a", "type": "Int"},\n  oops\n]}', encoding="utf-8")
    with pytest.raises(DataBlockError) as err:
        load_layout(bad_json)
    assert err.value.path == f"{bad_json}:3"

    bad_value = tmp_path / "value.json"
    bad_value.write_text(
        json.dumps(
            {"vars": [{"name": "a", "type": "Int"}, {"name": "b", "type": "Byte", "start": 256}]},
            indent=2,
        ),
        encoding="utf-8",
    )
    with pytest.raises(DataBlockError) as err:
        load_layout(bad_value)
    assert err.value.path == f"{bad_value}:8"  # the line of "name": "b"
    assert err.value.message.startswith("b: 256 is outside")

    with pytest.raises(ConfigError) as missing:
        load_layout(tmp_path / "missing.scl")
    assert missing.value.path == str(tmp_path / "missing.scl")

    latin = tmp_path / "latin.scl"
    latin.write_bytes(b"a : String := '\xe4';")
    with pytest.raises(DataBlockError, match="UTF-8"):
        load_layout(latin)


def test_deeply_nested_json_is_refused(tmp_path: Path) -> None:
    member: dict[str, object] = {"name": "x", "type": "Int"}
    for _ in range(100):
        member = {"name": "s", "type": "Struct", "members": [member]}
    with pytest.raises(DataBlockError, match="deeper than 24 levels"):
        Layout.from_dict({"vars": [member]})
    hostile = tmp_path / "deep.json"
    hostile.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(DataBlockError, match="nested too deeply"):
        load_layout(hostile)
