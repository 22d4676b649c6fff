"""Files are read from stdin with ``-`` and told apart by content.

Every command that reads a block, a layout, values or a payload from a file takes ``-`` for
stdin; a block file whose first non-blank byte is ``{`` or ``[`` is JSON, and broken JSON is one
line naming the file, line and column (exit 2), never decoded as a binary block.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ouc.cli import main

SAMPLES = Path(__file__).parents[2] / "samples"
BLOCK_JSON = SAMPLES / "standard_server.json"
BLOCK_BIN = SAMPLES / "standard_server.bin"
LAYOUT = SAMPLES / "send_data.scl"


def feed(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    """Make ``data`` what the command reads from stdin."""
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def out_of(argv: list[str], capsys: pytest.CaptureFixture[str], status: int = 0) -> str:
    assert main(argv) == status
    return capsys.readouterr().out


@pytest.mark.parametrize("source", [BLOCK_JSON, BLOCK_BIN], ids=["json", "binary"])
def test_params_decode_check_and_encode_read_stdin(
    source: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from_file = out_of(["params", "decode", str(source), "--json"], capsys)
    feed(monkeypatch, source.read_bytes())
    assert out_of(["params", "decode", "-", "--json"], capsys) == from_file
    feed(monkeypatch, source.read_bytes())
    report = json.loads(out_of(["params", "check", "-", "--json"], capsys))
    assert report["file"] == "<stdin>" and report["findings"] == []
    feed(monkeypatch, source.read_bytes())
    assert bytes.fromhex(out_of(["params", "encode", "-"], capsys)) == BLOCK_BIN.read_bytes()


def test_db_layout_values_and_data_read_stdin(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from_file = out_of(["db", "layout", str(LAYOUT), "--json"], capsys)
    feed(monkeypatch, LAYOUT.read_bytes())
    assert out_of(["db", "layout", "-", "--json"], capsys) == from_file

    feed(monkeypatch, b'{"Var2": "from stdin"}')
    data = bytes.fromhex(out_of(["db", "encode", str(LAYOUT), "--values", "-"], capsys))
    feed(monkeypatch, data)
    values = json.loads(out_of(["db", "decode", str(LAYOUT), "-", "--json"], capsys))
    assert values == {"Var1": True, "Var2": "from stdin"}


@pytest.mark.parametrize(
    "argv",
    [
        ["connect", "--block", "-", "--file", "-"],
        ["serve", "--block", "-", "--reply", "-"],
        ["db", "decode", "-", "-"],
        ["db", "encode", "-", "--values", "-"],
    ],
)
def test_two_inputs_from_stdin_are_refused(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    feed(monkeypatch, b"")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "both read stdin" in err and "give files" in err


def test_a_truncated_json_block_is_broken_json_not_a_binary_block(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """28 bytes, the size of a TCON_IP_V4_SEC: still JSON text, so a JSON error."""
    truncated = tmp_path / "server.json"
    text = BLOCK_JSON.read_text()
    truncated.write_text(text[:28])
    assert len(truncated.read_bytes()) == 28
    for argv in (
        ["params", "decode", str(truncated)],
        ["params", "check", str(truncated)],
        ["serve", "--block", str(truncated)],
    ):
        assert main(argv) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        line = captured.err
        assert line.count("\n") == 1 and "Traceback" not in line
        assert f"{truncated}: line " in line and ", column " in line
        assert "not valid JSON" in line and "fix the JSON" in line and "16#8089" in line


def test_a_json_list_is_json_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    listed = tmp_path / "blocks.json"
    listed.write_text("  [" + BLOCK_JSON.read_text() + "]")
    assert main(["params", "decode", str(listed)]) == 2
    err = capsys.readouterr().err
    assert "holds a list, not a block object" in err and str(listed) in err


def test_stdin_through_a_real_pipe() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ouc", "params", "decode", "-", "--json"],
        input=BLOCK_BIN.read_bytes(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["type"] == "TCON_IP_V4_SEC"


def test_load_reads_its_block_from_stdin_once_for_every_process(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The block is read before any process starts: the server block from stdin is refused
    as the passive side, as the same file would be."""
    feed(monkeypatch, BLOCK_JSON.read_bytes())
    assert main(["load", "127.0.0.1:1", "--block", "-", "--processes", "2"]) == 2
    assert "--block: the block has ActiveEstablished FALSE" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [["certs", "list"], ["certs", "show", "3"], ["serve"], ["load", "127.0.0.1:1"]],
    ids=" ".join,
)
def test_a_missing_store_is_made_with_the_store_the_user_gave(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The suggested commands carry ``--store``: without it they would act on ./ouc-store."""
    where = str(tmp_path / "nostore")
    assert main([*argv, "--store", where]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"ouc: error: --store: no certificate store at {where}"), err
    assert f"'ouc certs init --store {where}'" in err, err
    assert f"'ouc demo --keep-store {where}'" in err and err.count("\n") == 1
    assert not (tmp_path / "nostore").exists()  # nothing made on the way


@pytest.mark.parametrize(
    ("argv", "written"),
    [
        (["db", "encode", str(LAYOUT)], "wrote 258 bytes (Send_Data) to "),
        (["db", "encode", str(LAYOUT), "--hex"], "wrote 258 bytes (Send_Data) as hex text to "),
        (["params", "encode", str(BLOCK_JSON)], "wrote 28 bytes (TCON_IP_V4_SEC) to "),
    ],
)
def test_encode_to_a_file_says_what_it_wrote(
    argv: list[str], written: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``db encode -o`` and ``params encode -o`` agree: one line naming the bytes and file."""
    target = tmp_path / "out"
    assert main([*argv, "-o", str(target)]) == 0
    assert capsys.readouterr().out == f"{written}{target}\n"
    assert target.stat().st_size > 0


def test_counted_nouns_are_singular_for_one() -> None:
    from ouc.cli._words import counted

    assert [counted(n, "byte") for n in (0, 1, 2)] == ["0 bytes", "1 byte", "2 bytes"]
    assert counted(1, "connection") == "1 connection"
    assert counted(3, "entry", "entries") == "3 entries"
