"""``ouc params``: in-process through ``main(argv)``, and once through ``python -m ouc``."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

from ouc.cli import main
from ouc.params import (
    STANDARD_CLIENT,
    STANDARD_SERVER,
    BoolForm,
    TconIpV4Sec,
    build,
    dump_json,
    parse,
    to_dict,
)

ROOT = Path(__file__).parents[2]
SAMPLES = ROOT / "samples"
SERVER_JSON = str(SAMPLES / "standard_server.json")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(["params", *argv])
    except SystemExit as exc:  # argparse's own exits (usage errors, --help).
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_decode_prints_the_tia_table(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "decode", str(SAMPLES / "standard_server.bin"))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "TCON_IP_V4_SEC, 28 bytes, Bools as bytes 16 and 17"
    assert lines[1].split() == ["offset", "field", "type", "value"]
    assert any(line.split() == ["16.0", "ActivateSecureConn", "Bool", "TRUE"] for line in lines)
    assert any(line.split() == ["6.0", "RemoteAddress", "IP_V4", "192.168.0.2"] for line in lines)
    assert any(line.split() == ["18.0", "ExtTLSCapabilities", "Word", "16#0000"] for line in lines)


def test_decode_hex_bits_form(capsys: pytest.CaptureFixture[str]) -> None:
    hexed = build(STANDARD_SERVER, BoolForm.BITS).hex(" ")
    code, out, _ = run(capsys, "decode", "--hex", hexed, "--type", "TCON_IP_V4_SEC")
    assert code == 0
    assert "bit-packed in byte 16" in out.splitlines()[0]
    assert any(line.split()[:2] == ["16.1", "TLSServerReqClientCert"] for line in out.splitlines())


def test_decode_hex_as_xxd_prints_it_over_lines(capsys: pytest.CaptureFixture[str]) -> None:
    """``--hex "$(xxd -p FILE)"``: line breaks and tabs are white space like the blanks."""
    raw = build(STANDARD_SERVER, BoolForm.BITS).hex()
    hexed = raw[:20] + "\n" + raw[20:40] + "\t" + raw[40:] + "\n"
    code, out, err = run(capsys, "decode", "--hex", hexed, "--type", "TCON_IP_V4_SEC")
    assert (code, err) == (0, "")
    assert any(line.split()[:2] == ["16.1", "TLSServerReqClientCert"] for line in out.splitlines())


def test_decode_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "decode", SERVER_JSON, "--json")
    assert code == 0 and json.loads(out) == to_dict(STANDARD_SERVER)


def test_encode_prints_hex_or_writes_a_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "encode", str(SAMPLES / "standard_client.json"))
    assert code == 0 and bytes.fromhex(out.strip()) == build(STANDARD_CLIENT)
    target = tmp_path / "server.bin"
    code, out, _ = run(capsys, "encode", SERVER_JSON, "-o", str(target), "--bool-form", "bits")
    assert code == 0 and "wrote 28 bytes" in out
    assert target.read_bytes() == build(STANDARD_SERVER, BoolForm.BITS)
    assert parse(target.read_bytes()) == STANDARD_SERVER


def test_check_clean_and_with_findings(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", SERVER_JSON, "--own-ip", "192.168.0.1")
    assert code == 0 and "OK, no findings" in out
    code, out, _ = run(
        capsys,
        "check",
        SERVER_JSON,
        "--family",
        "S7-1200",
        "--firmware",
        "V4.5",
        "--ports-in-use",
        "2000, 2001",
        "--cert-ids",
        "3",
        "--id",
        "2",
    )
    assert code == 1
    assert "3 findings" in out
    assert "16#80B8  ConnPara.ID:" in out
    assert "16#80A1  ConnPara.LocalPort:" in out
    assert "16#80ED  TLSServerCertRef:" in out


def test_check_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    client = tmp_path / "client.json"
    client.write_text(dump_json(STANDARD_CLIENT))
    code, out, _ = run(capsys, "check", str(client), "--own-ip", "192.168.0.1", "--json")
    report = json.loads(out)
    assert code == 1
    assert (report["family"], report["firmware"]) == ("S7-1500", "V3.1")
    assert report["type"] == "TCON_IP_V4_SEC"
    assert report["findings"] == [
        {
            "path": "ConnPara.RemoteAddress",
            "status": "16#80A4",
            "rule": "remote_address_own",
            "message": "RemoteAddress 192.168.0.1 is this CPU's own address; enter the partner's "
            "address.",
        }
    ]


def test_check_follows_the_device_settings_and_lists_the_system_ports(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    block = tmp_path / "web.json"
    block.write_text(dump_json(_with_local_port(STANDARD_SERVER, 443)))
    code, out, _ = run(capsys, "check", str(block))
    assert code == 1 and "16#80A2  ConnPara.LocalPort: LocalPort 443" in out
    code, out, _ = run(capsys, "check", str(block), "--no-web-server")
    assert code == 0 and "OK, no findings" in out
    rows = {line.split()[0].rstrip(","): line for line in out.splitlines() if line[:2] == "  "}
    assert "always" in rows["102"] and "off (--no-web-server)" in rows["80"]
    assert "on (--opc-ua)" in rows["4840"] and "[inferred]" in rows["34962"]
    code, out, _ = run(capsys, "check", str(block), "--no-web-server", "--no-profinet", "--json")
    report = json.loads(out)
    assert code == 0 and report["findings"] == []
    held = {tuple(r["ports"]): (r["on"], r["inferred"]) for r in report["system_ports"]}
    assert held == {
        (102,): (True, False),
        (80, 443): (False, False),
        (4840,): (True, False),
        (34962, 34963, 34964): (False, True),
    }


def _with_local_port(block: TconIpV4Sec, port: int) -> TconIpV4Sec:
    return dataclasses.replace(block, ConnPara=dataclasses.replace(block.ConnPara, LocalPort=port))


@pytest.mark.parametrize(
    "argv",
    [
        ["decode", "no/such/file.json"],
        ["decode", "--hex", "zz"],
        ["decode", "--hex", "0040"],
        ["decode", "--hex", "00", "--type", "TCON_IP_V6"],
        ["decode", str(SAMPLES / "standard_server.bin"), "--type", "TCON_QDN"],
        ["decode"],
        ["decode", SERVER_JSON, "--hex", "00"],
        ["encode"],
        ["encode", SERVER_JSON, "--bool-form", "nibbles"],
        ["encode", SERVER_JSON, "-o", "/no/such/dir/out.bin"],
        ["check", SERVER_JSON, "--family", "S7-300"],
        ["check", SERVER_JSON, "--firmware", "three"],
        ["check", SERVER_JSON, "--own-ip", "192.168.0.999"],
        ["check", SERVER_JSON, "--ports-in-use", "2000,x"],
        ["check", SERVER_JSON, "--id", "1,2"],
        ["check", SERVER_JSON, "--web-server=no"],
        ["check", str(ROOT / "samples")],
    ],
)
def test_bad_input_is_one_line_on_stderr_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert len(err.strip().splitlines()) == 1, err
    assert "Traceback" not in err and "error" in err


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--ports-in-use", "-1,99999", "--ports-in-use: a port must be 1..65535, got -1"),
        ("--ports-in-use", "2000,99999", "--ports-in-use: a port must be 1..65535, got 99999"),
        ("--ports-in-use", "0", "--ports-in-use: a port must be 1..65535, got 0"),
        ("--cert-ids", "-5,9", "--cert-ids: a certificate ID must be 1..4294967295, got -5"),
        ("--cert-ids", "9,99999999999", "must be 1..4294967295, got 99999999999"),
        ("--id", "-7", "--id: the ID must be 1..4095, got -7"),
        ("--id", "99999999", "--id: the ID must be 1..4095, got 99999999"),
        ("--id", "16#1000", "--id: the ID must be 1..4095, got 16#1000"),
    ],
)
def test_check_refuses_numbers_out_of_their_range(
    capsys: pytest.CaptureFixture[str], option: str, value: str, expected: str
) -> None:
    """A port, connection ID or certificate ID nothing can have is bad input (exit 2), neither
    "OK" nor a finding: ports 1..65535, the ID (CONN_OUC, Word) 1..4095 as domain.md §2 says,
    certificate IDs 1..2**32-1 (UDInt, the store's limit)."""
    code, out, err = run(capsys, "check", SERVER_JSON, f"{option}={value}")
    assert (code, out) == (2, "")
    assert err.startswith("ouc: error: ") and expected in err and err.count("\n") == 1, err


def test_check_takes_the_ends_of_each_range(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--ports-in-use", "1,65535", "--id", "16#FFF", "--cert-ids", "3,9,4294967295"]
    code, out, _ = run(capsys, "check", SERVER_JSON, *argv)
    assert code == 1 and "instruction's ID input is 4095" in out  # the block's ID is 1


def test_decode_hex_names_the_flag_once(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "decode", "--hex", "zz")
    assert (code, out) == (2, "")
    assert err.count("--hex") == 1 and "argument --hex: 'zz' is not hex bytes" in err, err


def test_unknown_action_exits_2_without_a_traceback(capsys: pytest.CaptureFixture[str]) -> None:
    # The "params" parser itself comes from the dispatcher's parser class, which prints usage
    # before the error line; the actions' own parsers print the error line alone.
    code, _, err = run(capsys, "explode")
    assert code == 2 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("ouc params: error: argument ACTION")


def test_bad_json_file_names_the_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**to_dict(STANDARD_SERVER), "TLSServerCertRef": -1}))
    code, _, err = run(capsys, "check", str(bad))
    assert code == 2
    assert err.strip() == (
        f"ouc: error: {bad}: TLSServerCertRef: -1 does not fit: the field holds 0..4294967295 "
        "(16#8089)"
    )


def test_python_dash_m_ouc_in_a_subprocess() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ouc", "params", "decode", SERVER_JSON],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("TCON_IP_V4_SEC, 28 bytes")
    failed = subprocess.run(
        [sys.executable, "-m", "ouc", "params", "decode", "--hex", "00"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert failed.returncode == 2 and failed.stderr.count("\n") == 1
    assert "16#809A" in failed.stderr
