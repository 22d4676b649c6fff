"""``ouc db layout|encode|decode``: in-process through ``main()``, and once as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ouc.cli import main

SEND = str(Path(__file__).resolve().parents[2] / "samples" / "send_data.scl")
MACHINE = str(Path(__file__).resolve().parents[2] / "samples" / "machine_data.scl")
STANDARD_HEX = ("0100fe0c" + b"Hello World!".hex()).ljust(258 * 2, "0")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["db", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_layout_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "layout", SEND)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].split() == ["Offset", "Name", "Data", "type", "Start", "value"]
    assert lines[1].split() == ["0.0", "Var1", "Bool", "TRUE"]
    assert lines[2].split(None, 3) == ["2.0", "Var2", "String", "'Hello World!'"]
    assert lines[-1] == "Total size: 258 bytes (LEN = 258)"


def test_layout_json_and_nesting(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "layout", MACHINE, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["size"] == 144 and doc["name"] == "Machine_Data"
    rows = {e["path"]: e for e in doc["entries"]}
    assert rows["Motor.Speed"] == {
        "path": "Motor.Speed",
        "type": "Int",
        "offset": "8.0",
        "bits": 16,
        "start": 3000,
    }
    assert rows["Flags[1,0]"]["offset"] == "83.0"
    assert rows["Delay"]["start"] == "T#1S_500MS"
    code, out, _ = run(capsys, "layout", MACHINE, "--no-elements")
    assert "Grid[1,0]" not in out and "Grid" in out


def test_encode_hex_set_and_files(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "encode", SEND)
    assert (code, out.strip()) == (0, STANDARD_HEX)
    code, out, _ = run(capsys, "encode", SEND, "--set", "Var2=Hello", "--set", "Var1=FALSE")
    assert out.strip() == ("0000fe05" + b"Hello".hex()).ljust(516, "0")
    raw = tmp_path / "out.bin"
    code, out, _ = run(capsys, "encode", SEND, "--set", "Var2='it$'s'", "-o", str(raw))
    assert code == 0 and out == f"wrote 258 bytes (Send_Data) to {raw}\n"  # as params encode
    assert raw.read_bytes()[:8] == b"\x01\x00\xfe\x04it's"
    hex_file = tmp_path / "out.hex"
    run(capsys, "encode", SEND, "--hex", "-o", str(hex_file))
    assert hex_file.read_text().strip() == STANDARD_HEX
    values = tmp_path / "values.json"
    values.write_text(json.dumps({"Var2": "from json"}))
    code, out, _ = run(capsys, "encode", SEND, "--values", str(values))
    assert bytes.fromhex(out.strip())[4:13] == b"from json"


def test_decode_file_hex_and_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = tmp_path / "in.bin"
    data.write_bytes(bytes.fromhex(STANDARD_HEX))
    code, out, _ = run(capsys, "decode", SEND, str(data))
    assert code == 0
    assert [line.split(None, 3) for line in out.splitlines()[1:]] == [
        ["0.0", "Var1", "Bool", "TRUE"],
        ["2.0", "Var2", "String", "'Hello World!'"],
    ]
    code, out, _ = run(capsys, "decode", SEND, "--hex", STANDARD_HEX, "--json")
    assert json.loads(out) == {"Var1": True, "Var2": "Hello World!"}
    as_xxd = "\n".join(STANDARD_HEX[i : i + 60] for i in range(0, len(STANDARD_HEX), 60))
    code, out, _ = run(capsys, "decode", SEND, "--hex", as_xxd, "--json")  # xxd -p lines
    assert code == 0 and json.loads(out) == {"Var1": True, "Var2": "Hello World!"}
    code, out, _ = run(
        capsys, "encode", MACHINE, "--set", "Grid[2,3]=-7", "--set", "Flags[1,2]=TRUE"
    )
    code, out, _ = run(capsys, "decode", MACHINE, "--hex", out.strip())
    rows = {line.split()[1]: line.split()[-1] for line in out.splitlines()[1:]}
    assert rows["Grid[2,3]"] == "-7" and rows["Flags[1,2]"] == "TRUE"
    assert rows["Stamp"] == "DTL#2024-01-31-12:00:00"


def test_encode_to_a_hex_file_then_decode_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``ouc db encode send.scl > d.hex; ouc db decode send.scl d.hex``: DATA that is hex text
    (and not the layout's size) is read as hex, with or without its newline, from stdin too."""
    code, out, _ = run(capsys, "encode", SEND, "--set", "Var2=round trip")
    hex_file = tmp_path / "d.hex"
    for text in (out, out.strip(), out.upper(), out[:40] + "\n" + out[40:]):
        hex_file.write_text(text)
        code, decoded, err = run(capsys, "decode", SEND, str(hex_file), "--json")
        assert (code, err) == (0, "")
        assert json.loads(decoded) == {"Var1": True, "Var2": "round trip"}
    hex_file.write_text(out[:-2])  # one digit short: an odd number
    code, decoded, err = run(capsys, "decode", SEND, str(hex_file))
    assert (code, decoded) == (2, "") and "515 digits, an odd number" in err


def test_data_of_the_layouts_size_is_raw_even_when_it_is_hex_digits(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    layout = tmp_path / "chars.scl"
    layout.write_text("Code : Array[0..3] of Char;\n")
    data = tmp_path / "code.bin"
    data.write_bytes(b"beef")
    code, out, err = run(capsys, "decode", str(layout), str(data), "--json")
    assert (code, err) == (0, "")
    assert json.loads(out) == {"Code": ["b", "e", "e", "f"]}
    data.write_bytes(b"62656566\n")  # not the layout's size: hex text
    code, out, _ = run(capsys, "decode", str(layout), str(data), "--json")
    assert code == 0 and json.loads(out) == {"Code": ["b", "e", "e", "f"]}


def test_encode_refuses_an_output_that_is_an_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    layout = tmp_path / "send.scl"
    layout.write_bytes(Path(SEND).read_bytes())
    values = tmp_path / "values.json"
    values.write_text(json.dumps({"Var2": "x"}))
    for output, option in ((layout, "FILE"), (values, "--values")):
        argv = ["encode", str(layout), "--values", str(values), "-o", str(output)]
        code, out, err = run(capsys, *argv)
        assert (code, out) == (2, "") and err.count("\n") == 1
        assert f"is the input ({option})" in err
    assert layout.read_bytes() == Path(SEND).read_bytes()
    assert json.loads(values.read_text()) == {"Var2": "x"}


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["encode", SEND, "--set", "Var1=7"], "Var1: Bool expects TRUE or FALSE"),
        (["encode", SEND, "--set", "Var3=1"], "no variable 'Var3'"),
        (["encode", SEND, "--set", "novalue"], "is not PATH=VALUE"),
        (["decode", SEND, "--hex", "00"], "short of the 258-byte block"),
        (["decode", SEND, "--hex", "00" * 259], "(16#8088)"),
        (["decode", SEND, "--hex", "zz"], "argument --hex: 'zz' is not hex bytes"),
        (["decode", SEND], "give the received bytes"),
        (["layout", "/nonexistent/x.scl"], "cannot read the layout"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert err.startswith(("ouc: error: ", f"ouc db {argv[0]}: error: "))
    assert fragment in err


def test_bad_layout_file_names_file_and_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.scl"
    bad.write_text("a : Int;\nb : Strng;\n")
    code, _, err = run(capsys, "layout", str(bad))
    assert code == 2
    assert err == f"ouc: error: {bad}:2: 'Strng' is not an elementary data type\n"


def test_subprocess_round_trip(tmp_path: Path) -> None:
    out = tmp_path / "send.bin"
    encode = [sys.executable, "-m", "ouc", "db", "encode", SEND, "--set", "Var2=Hi", "-o", str(out)]
    subprocess.run(encode, check=True, timeout=60, capture_output=True)
    decode = [sys.executable, "-m", "ouc", "db", "decode", SEND, str(out), "--json"]
    done = subprocess.run(decode, check=True, timeout=60, capture_output=True, text=True)
    assert json.loads(done.stdout) == {"Var1": True, "Var2": "Hi"}
    failed = subprocess.run(
        [sys.executable, "-m", "ouc", "db", "decode", SEND, "--hex", "00"],
        timeout=60,
        capture_output=True,
        text=True,
    )
    assert failed.returncode == 2 and "Traceback" not in failed.stderr


def test_usage_errors_exit_2_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "encode"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "FILE" in err


def test_date_and_time_types_through_the_cli(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    decl = tmp_path / "stamps.scl"
    decl.write_text("Logged : DT;\nPrecise : LDT;\nShift : Array[1..2] of LTOD;\n")
    code, out, err = run(
        capsys,
        "encode",
        str(decl),
        "--set",
        "Logged=DT#2024-01-31-12:34:56.789",
        "--set",
        "Shift[2]=LTOD#06:00:00.000001",
        "--hex",
    )
    assert (code, err) == (0, "")
    image = bytes.fromhex(out.strip())
    assert image[:8].hex() == "2401311234567894"  # BCD; Wednesday (4) in the last nibble
    assert image[24:] == (6 * 3600 * 10**9 + 1000).to_bytes(8, "big")
    code, out, _ = run(capsys, "decode", str(decl), "--hex", image.hex(), "--json")
    assert code == 0
    assert json.loads(out) == {
        "Logged": "DT#2024-01-31-12:34:56.789",
        "Precise": "LDT#1970-01-01-00:00:00",
        "Shift": ["LTOD#00:00:00.000", "LTOD#06:00:00.000001"],
    }
    code, _, err = run(capsys, "encode", str(decl), "--set", "Logged=DT#2090-01-01-00:00:00")
    assert code == 2
    assert (
        err.strip() == "ouc: error: Logged: 2090-01-01T00:00:00 is outside the DT range 1990..2089"
    )


LONE_SURROGATE = "00020001d83d0000"  # WString[2]: max 2, length 1, U+D83D alone, one unused


@pytest.mark.parametrize("as_json", [False, True])
def test_decode_prints_a_lone_surrogate_escaped(tmp_path: Path, as_json: bool) -> None:
    """A peer may send any UTF-16 code unit; stdout is a real pipe that UTF-8 encodes."""
    decl = tmp_path / "w.scl"
    decl.write_text("W : WString[2];\n")
    decode = [sys.executable, "-m", "ouc", "db", "decode", str(decl), "--hex", LONE_SURROGATE]
    done = subprocess.run(
        decode + (["--json"] if as_json else []),
        timeout=60,
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    assert (done.returncode, done.stderr) == (0, b"")
    out = done.stdout.decode("utf-8")  # strict: what was printed is valid UTF-8
    if as_json:
        assert json.loads(out) == {"W": "\ud83d"} and '"\\ud83d"' in out
        return
    assert out.splitlines()[1].split() == ["0.0", "W", "WString[2]", "WSTRING#'$D83D'"]
    # The printed literal sets the same bytes again.
    encode = [sys.executable, "-m", "ouc", "db", "encode", str(decl), "--hex"]
    again = subprocess.run(
        [*encode, "--set", "W=WSTRING#'$D83D'"], timeout=60, capture_output=True, text=True
    )
    assert (again.returncode, again.stdout.strip()) == (0, LONE_SURROGATE)


def test_decode_json_keeps_other_characters_readable(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    decl = tmp_path / "w.scl"
    decl.write_text("W : WString[3];\nC : WChar;\n")
    code, out, err = run(capsys, "decode", str(decl), "--hex", "0003000200e4dc000000d800", "--json")
    assert (code, err) == (0, "")
    assert '"W": "ä\\udc00"' in out and '"C": "\\ud800"' in out
    assert json.loads(out) == {"W": "ä\udc00", "C": "\ud800"}


def test_values_naming_a_variable_twice_are_refused(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """JSON keeps the last of two equal keys silently; ``--values`` refuses them instead."""
    values = tmp_path / "values.json"
    values.write_text('{"Var2": "first",\n "Var2": "second"}')
    code, out, err = run(capsys, "encode", SEND, "--values", str(values))
    assert (code, out) == (2, "")
    assert f'{values}: the key "Var2" is given twice in one object (lines 1 and 2)' in err
    assert err.count("\n") == 1 and "Traceback" not in err
