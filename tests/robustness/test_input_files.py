"""What users give ouc in files: a size cap on every read, JSON that refuses a key given twice,
and time spans that are finite (``ouc._input``, used by blocks, layouts and channel files)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from ouc import db, params
from ouc._input import (
    BLOCK_FILE_LIMIT,
    CERT_FILE_LIMIT,
    MAX_SECONDS,
    load_json,
    read_capped,
    read_stream_capped,
    seconds,
)
from ouc.channel import TrustedCAs
from ouc.errors import ConfigError, DataBlockError, ParamError, Status
from ouc.params import STANDARD_SERVER, dump_json


def test_a_read_stops_after_the_cap_and_names_the_file(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 101)
    with pytest.raises(ConfigError, match="larger than 100 bytes, too large for a thing") as info:
        read_capped(big, 100, "a thing")
    assert info.value.path == str(big)
    assert read_capped(big, 101, "a thing") == b"x" * 101
    with pytest.raises(ConfigError, match="larger than 3 bytes") as info:
        read_stream_capped(io.BytesIO(b"abcd"), 3, "a reply")
    assert info.value.path == "<stdin>"
    assert read_stream_capped(io.BytesIO(b"abc"), 3, "a reply") == b"abc"


def test_dev_zero_is_refused_not_read_to_the_end() -> None:
    zero = Path("/dev/zero")
    if not zero.exists():
        pytest.skip("no /dev/zero on this system")
    with pytest.raises(ConfigError, match="too large for a connection description"):
        params.load(zero)
    with pytest.raises(ConfigError, match="too large for a data-block layout"):
        db.load_layout(zero)


def test_a_block_file_above_the_cap_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "block.json"
    text = dump_json(STANDARD_SERVER)
    path.write_text(text + " " * (BLOCK_FILE_LIMIT - len(text)))
    assert params.load(path) == STANDARD_SERVER  # exactly at the cap: read
    path.write_text(text + " " * (BLOCK_FILE_LIMIT - len(text) + 1))
    with pytest.raises(ConfigError, match=f"larger than {BLOCK_FILE_LIMIT} bytes"):
        params.load(path)


def test_a_key_given_twice_is_refused_with_its_name_and_lines() -> None:
    with pytest.raises(ConfigError, match=r'"a" is given twice in one object \(lines 1 and 2\)'):
        load_json('{"a": 1,\n "a": 2}', where="f.json")
    with pytest.raises(ConfigError, match=r'"a" is given twice in one object \(line 1\);'):
        load_json('{"a": 1, "a": 2}', where="f.json")
    with pytest.raises(ConfigError, match='"a" is given twice') as info:
        load_json('[{"a": 1}, {"b": {"a": 1, "a": 1}}]', where="f.json")
    assert info.value.path == "f.json"
    assert "lines" not in str(info.value)  # three "a" in the text: no guess at the lines
    assert load_json('{"a": {"a": 1}, "b": [{"a": 2}]}', where=None) == {
        "a": {"a": 1},
        "b": [{"a": 2}],
    }


def test_a_block_naming_a_field_twice_is_refused_with_8089(tmp_path: Path) -> None:
    doc = dump_json(STANDARD_SERVER)
    assert '"LocalPort": 2000' in doc
    path = tmp_path / "twice.json"
    path.write_text(doc.replace('"LocalPort": 2000', '"LocalPort": 2000, "LocalPort": 3000'))
    with pytest.raises(ParamError, match='"LocalPort" is given twice') as info:
        params.load(path)
    assert info.value.status == Status.CONNECT_INVALID
    assert str(path) in str(info.value)


def test_a_layout_naming_a_key_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "layout.json"
    path.write_text(json.dumps({"name": "D", "vars": [{"name": "x", "type": "Int"}]}))
    assert db.load_layout(path).members  # the well-formed layout loads
    path.write_text(path.read_text().replace('"type": "Int"', '"type": "Int", "type": "Real"'))
    with pytest.raises(DataBlockError, match='"type" is given twice') as info:
        db.load_layout(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize(
    "value",
    [float("nan"), float("inf"), -float("inf"), 0, -1, MAX_SECONDS + 1, 10**400, True, "5"],
    ids=["nan", "inf", "-inf", "0", "-1", "above", "10**400", "bool", "text"],
)
def test_seconds_refuses_what_no_timer_can_wait(value: object) -> None:
    with pytest.raises(ConfigError, match="retry_delay: must be a number of seconds"):
        seconds(value, "retry_delay")


def test_seconds_takes_what_a_timer_can_wait() -> None:
    assert seconds(0.05, "x") == 0.05
    assert seconds(MAX_SECONDS, "x") == MAX_SECONDS
    assert isinstance(seconds(3, "x"), float)


def test_a_ca_file_above_the_cap_is_refused_naming_it(tmp_path: Path) -> None:
    big = tmp_path / "ca.pem"
    big.write_bytes(b"\n" * (CERT_FILE_LIMIT + 1))
    with pytest.raises(ConfigError, match="too large for a certificate file") as info:
        TrustedCAs([big])
    assert info.value.path == str(big)
    folder = tmp_path / "cas"
    folder.mkdir()
    (folder / "x.pem").write_bytes(big.read_bytes())
    with pytest.raises(ConfigError, match="too large for a certificate file") as info:
        TrustedCAs(folder=folder).certificates()
    assert info.value.path == str(folder / "x.pem")


def test_the_command_line_refuses_dev_zero_with_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every file the CLI reads (``decode``, ``--block``, ``--reply``, ``--values``) goes through
    one capped read: ``/dev/zero`` ends in one line and exit 2, not in running out of memory."""
    from ouc.cli import main

    assert main(["params", "decode", "/dev/zero"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "/dev/zero" in err[0] and "too large" in err[0], err
