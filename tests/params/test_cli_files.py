"""``ouc params`` with files as the commands write them: hex text read back, ``-o -`` for raw
bytes on stdout, an output that is the input refused, JSON nested too deeply refused; and
``check --udt65-lengths``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ouc.cli import main
from ouc.errors import ParamError, Status
from ouc.params import (
    SIZES,
    STANDARD_CLIENT,
    STANDARD_SERVER,
    Block,
    BoolForm,
    TconParam,
    build,
    dump_json,
    loads,
    parse,
)
from ouc.strategies import valid_blocks

SAMPLES = Path(__file__).parents[2] / "samples"
SERVER_JSON = SAMPLES / "standard_server.json"
HEX_TEXT_BYTES = b"0123456789abcdefABCDEF \t\r\n:"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["params", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_exit_2(code: int, out: str, err: str) -> None:
    assert (code, out) == (2, "")
    assert err.startswith("ouc: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err


def test_encode_to_a_hex_file_then_decode_and_check_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """``ouc params encode s.json > s.hex; ouc params decode s.hex``: the hex encode prints
    (57 bytes with its newline) is read back as the 28-byte block."""
    code, hexed, _ = run(capsys, "encode", str(SERVER_JSON))
    assert code == 0
    file = tmp_path / "s.hex"
    file.write_text(hexed)
    code, out, err = run(capsys, "decode", str(file))
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == "TCON_IP_V4_SEC, 28 bytes, Bools as bytes 16 and 17"
    code, out, _ = run(capsys, "check", str(file))
    assert code == 0 and "OK, no findings" in out
    code, out, _ = run(capsys, "encode", str(file))
    assert bytes.fromhex(out) == build(STANDARD_SERVER)


def test_hex_text_of_a_block_size_is_hex_not_a_block(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A 14-byte block's hex without a newline is 28 characters, a TCON_IP_V4_SEC's size: it is
    the 14-byte block, not a false 16#8089."""
    image = build(STANDARD_SERVER.ConnPara)
    file = tmp_path / "conn.hex"
    file.write_bytes(image.hex().encode())
    assert len(file.read_bytes()) == 28
    code, out, err = run(capsys, "decode", str(file))
    assert (code, err) == (0, "")
    assert out.splitlines()[0] == "TCON_IP_V4, 14 bytes"


@pytest.mark.parametrize("block", [STANDARD_SERVER, STANDARD_CLIENT])
def test_binary_files_still_decode(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, block: Block
) -> None:
    file = tmp_path / "block.bin"
    file.write_bytes(build(block, BoolForm.BITS))
    code, out, err = run(capsys, "decode", str(file))
    assert (code, err) == (0, "")
    assert out.startswith("TCON_IP_V4_SEC, 28 bytes")


def test_lenient_hex_digits_of_a_block_size_are_refused_as_ambiguous(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    file = tmp_path / "conn.hex"
    file.write_bytes(build(STANDARD_SERVER.ConnPara).hex().encode())
    _one_line_exit_2(*run(capsys, "decode", "--lenient", str(file)))
    _, _, err = run(capsys, "decode", "--lenient", str(file))
    assert "holds only hex digits" in err and "--hex" in err and "16#8089" in err
    file.write_text("0040 0")
    code, out, err = run(capsys, "decode", str(file))
    _one_line_exit_2(code, out, err)
    assert "5 digits, an odd number" in err
    file.write_text("1234\n")  # Hex text of no block's size: the error says it was hex.
    code, out, err = run(capsys, "decode", str(file))
    _one_line_exit_2(code, out, err)
    assert "holds hex text: 2 bytes are no connection description" in err and "16#809A" in err


@settings(max_examples=60, database=None)
@given(valid_blocks(), st.sampled_from(["", "\n", "\r\n"]), st.sampled_from(["", " ", ":"]))
def test_loads_reads_the_hex_of_every_valid_block(block: Block, end: str, sep: str) -> None:
    image = build(block)
    assert loads((image.hex(sep) if sep else image.hex()).encode() + end.encode()) == block
    assert loads(image) == block


@settings(max_examples=200, database=None)
@given(st.sampled_from(sorted(SIZES)).flatmap(lambda n: st.binary(min_size=n, max_size=n)))
def test_no_block_of_hex_digits_parses_strictly(data: bytes) -> None:
    """Why hex text cannot be a binary block: byte 5 of every type is a Bool (16#00/16#01)."""
    text = bytes(HEX_TEXT_BYTES[b % len(HEX_TEXT_BYTES)] for b in data)
    with pytest.raises(ParamError):
        parse(text)


def test_encode_dash_o_dash_writes_raw_bytes_to_stdout(
    capsysbinary: pytest.CaptureFixture[bytes], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code = main(["params", "encode", str(SERVER_JSON), "-o", "-", "--bool-form", "bits"])
    out, err = capsysbinary.readouterr()
    assert (code, err) == (0, b"")
    assert out == build(STANDARD_SERVER, BoolForm.BITS)
    assert not (tmp_path / "-").exists()


def test_encode_refuses_an_output_that_is_the_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "s.json"
    source.write_bytes(SERVER_JSON.read_bytes())
    monkeypatch.chdir(tmp_path)
    for output in (str(source), "s.json", "./s.json"):
        code, out, err = run(capsys, "encode", "s.json", "-o", output)
        _one_line_exit_2(code, out, err)
        assert "is the input (FILE)" in err
    link = tmp_path / "link.json"
    os.symlink(source, link)
    _one_line_exit_2(*run(capsys, "encode", str(link), "-o", str(source)))
    assert source.read_bytes() == SERVER_JSON.read_bytes()
    code, _, _ = run(capsys, "encode", "s.json", "-o", "s.bin")
    assert code == 0 and parse((tmp_path / "s.bin").read_bytes()) == STANDARD_SERVER


DEEP = ["[" * 200_000 + "]" * 200_000, "[" * 100_000, '{"a":' * 100_000]


@pytest.mark.parametrize("action", ["decode", "check", "encode"])
def test_deeply_nested_json_is_one_line_8089(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, action: str
) -> None:
    file = tmp_path / "deep.json"
    file.write_text(DEEP[0])
    code, out, err = run(capsys, action, str(file))
    _one_line_exit_2(code, out, err)
    assert "nested too deeply" in err and "16#8089" in err and str(file) in err


@pytest.mark.parametrize("text", DEEP)
def test_loads_deeply_nested_json_is_a_param_error(text: str) -> None:
    with pytest.raises(ParamError, match="nested too deeply") as info:
        loads(text.encode())
    assert info.value.status == Status.CONNECT_INVALID


def test_check_applies_the_udt65_table_only_when_asked(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    block = TconParam(64, 2, 17, False, 1, 2, 1, 0, 0, 0, local_tsap_id=b"\x07\xd0")
    file = tmp_path / "legacy.json"
    file.write_text(dump_json(block))
    code, out, _ = run(capsys, "check", str(file))
    assert code == 0 and "OK, no findings" in out
    code, out, _ = run(capsys, "check", str(file), "--udt65-lengths", "--json")
    findings = json.loads(out)["findings"]
    assert code == 1
    assert [(f["status"], f["path"], f["rule"]) for f in findings] == [
        ("16#80B7", "rem_subnet_id_len", "udt65_length")
    ]
