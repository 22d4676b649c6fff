"""Bad values on the command line: one line naming the flag, exit 2, and the store still works.

Each case is one a new user ran into: ports out of range, clocks and validities beyond what a
certificate can hold, negative counts and timeouts, firmware no CPU runs, bytes that are not
UTF-8, a folder that does not exist, a cut-off SCL file, Ctrl-C while ouc starts, and a bug in
ouc itself (which must still be one line, with the traceback only on request).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ouc.certs import CertStore, PrivateKey
from ouc.cli import main
from ouc.drivers import example_store

NOW = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
ROOT = Path(__file__).parents[2]
#: An error line of ouc: the top level's or a sub-command's usage line, never a traceback.
ONE_LINE = re.compile(r"^ouc( [a-z-]+)*: (error|internal error): \S")


@pytest.fixture
def store(tmp_path: Path, ca_keys: tuple[PrivateKey, PrivateKey]) -> str:
    return str(example_store(tmp_path / "store", now=NOW, default_ca_keys=ca_keys).path)


def refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run ``ouc ARGV``; it must exit 2 with one error line and nothing on stdout."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 2, (code, out, err)
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert ONE_LINE.match(lines[0]), lines[0]
    assert "Traceback" not in err
    return lines[0]


def still_usable(capsys: pytest.CaptureFixture[str], store: str) -> None:
    """The store lists and shows as before."""
    assert main(["certs", "list", "--store", store, "--json"]) == 0
    assert main(["certs", "show", "9", "--store", store]) == 0
    out, err = capsys.readouterr()
    assert "PLC_1" in out and err == ""


@pytest.mark.parametrize("value", ["-1", "70000", "80x", "1e3"])
def test_serve_port_out_of_range(capsys: pytest.CaptureFixture[str], value: str) -> None:
    line = refused(capsys, "serve", "--port", value)
    assert "argument --port" in line


@pytest.mark.parametrize(
    "argv",
    [
        ["connect", "--timeout", "-1"],
        ["connect", "--timeout", "nan"],
        ["connect", "--timeout", "inf"],
        ["connect", "--count", "-1"],
        ["connect", "--count", "0"],
        ["connect", "--reply-len", "0"],
        ["serve", "--count", "-1"],
        ["serve", "--max-connections", "0"],
        ["serve", "--handshake-timeout", "0"],
        ["serve", "--idle-timeout", "-5"],
        ["serve", "--len", "99999999"],
        ["demo", "--timeout", "-1"],
    ],
)
def test_counts_and_timeouts(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    line = refused(capsys, *argv)
    assert f"argument {argv[1]}" in line


@pytest.mark.parametrize("command", ["serve", "connect"])
def test_firmware_no_cpu_runs(capsys: pytest.CaptureFixture[str], command: str) -> None:
    line = refused(capsys, command, "--firmware", "V9.9")
    assert "argument --firmware" in line and "V9.9" in line


def test_firmware_of_the_other_family_names_the_flag(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # V4.5 is an S7-1200 firmware; on an S7-1500 it is refused when both are known.
    block = str(ROOT / "samples" / "standard_server.json")
    line = refused(capsys, "params", "check", block, "--family", "S7-1500", "--firmware", "V4.5")
    assert line.startswith("ouc: error: --firmware: S7-1500 has no firmware 'V4.5'")


def test_params_check_bad_family(capsys: pytest.CaptureFixture[str]) -> None:
    block = str(ROOT / "samples" / "standard_server.json")
    assert "argument --family" in refused(capsys, "params", "check", block, "--family", "S7-300")


@pytest.mark.parametrize(
    "argv",
    [
        ["create", "--cn", "X", "--template", "tls", "--ip", "192.168.0.5", "--days", "99999999"],
        ["create", "--cn", "X", "--template", "tls", "--ip", "192.168.0.5", "--days", "0"],
        ["create", "--cn", "X", "--template", "tls", "--now", "9999-12-31T23:00:00"],
        ["create", "--cn", "X", "--template", "tls", "--key", "EC-P999"],
        ["create", "--cn", "X", "--template", "tls", "--hash", "MD5"],
        ["create", "--cn", "X" * 65, "--template", "tls"],
        ["create", "--cn", "PLC_\udcff", "--template", "tls"],
        ["create", "--cn", "X", "--template", "tls", "--dns", "a\udcffb"],
        ["create", "--cn", "X", "--template", "tls", "--issuer", "-3"],
        ["renew", "9", "--days", "99999999"],
        ["renew", "9", "--now", "9999-12-31"],
        ["renew", "99999999999"],
        ["list", "--now", "banana"],
        ["list", "--device", "PLC_\udcff"],
        ["assign", "", "3"],
        ["show", "0"],
    ],
)
def test_certs_values(capsys: pytest.CaptureFixture[str], store: str, argv: list[str]) -> None:
    line = refused(capsys, "certs", *argv, "--store", store)
    assert "argument " in line
    # Python argument names never reach the user.
    assert not re.search(r"\b(not_after|key_type|common_name|hash_name|cert_id):", line)
    still_usable(capsys, store)


@pytest.mark.parametrize("action", [["show", "99"], ["delete", "99"], ["export", "99", "x.pem"]])
def test_an_unknown_id_is_named_once_with_where_to_look(
    capsys: pytest.CaptureFixture[str], store: str, tmp_path: Path, action: list[str]
) -> None:
    if action[0] == "export":
        action = [*action[:2], str(tmp_path / action[2])]
    line = refused(capsys, "certs", *action, "--store", store)
    assert line.count("99") == 1, line
    assert line.endswith(
        "ID 99: no certificate with this ID in the store (ouc certs list shows the IDs)"
    )
    still_usable(capsys, store)


@pytest.mark.parametrize("command", ["serve", "connect"])
def test_a_certificate_the_block_names_and_the_store_lacks_says_what_to_do(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    store = str(tmp_path / "store")
    assert main(["certs", "init", "--store", store]) == 0
    capsys.readouterr()
    own, device = ("9", "PLC_1") if command == "serve" else ("11", "PLC_2")
    where = ["--port", "0"] if command == "serve" else ["--to", "127.0.0.1:1"]
    line = refused(capsys, command, "--store", store, *where)
    assert f"certificate ID {own} is not in the store; 'ouc certs list --store {store}'" in line
    assert f"--id {own} --assign {device}'" in line and line.endswith("(16#80ED)")
    argv = ["certs", "create", "--cn", device, "--template", "tls", "--issuer", "2"]
    assert main([*argv, "--ip", "192.168.0.1", "--id", own, "--store", store]) == 0
    capsys.readouterr()
    line = refused(capsys, command, "--store", store, *where)
    assert f"assign it with 'ouc certs assign {device} {own} --store {store}' (16#80ED)" in line


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--len", "300"], "LEN 300 is larger than the 258 bytes of data to send (16#8088)"),
        (["--hex", "01", "--len", "5"], "LEN 5 is larger than the 1 byte of data"),
        (["--len", "9000", "--family", "S7-1200"], "LEN 9000 is outside 1..8192 on an S7-1200"),
        (["--hex", ""], "--hex: gives no bytes to send; TSEND_C sends 1 byte at least"),
        (["--file", "/dev/null"], "--file: gives no bytes to send"),
    ],
)
def test_connect_checks_len_before_it_connects(
    capsys: pytest.CaptureFixture[str], store: str, argv: list[str], expected: str
) -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.setblocking(False)
        to = f"127.0.0.1:{listener.getsockname()[1]}"
        line = refused(capsys, "connect", "--store", store, "--to", to, *argv)
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected
    assert expected.removesuffix(" (16#8088)") in line
    if expected.endswith("(16#8088)"):
        assert line.endswith("or more data (16#8088)")


@pytest.mark.parametrize("command", ["serve", "connect"])
def test_a_control_socket_that_cannot_be_made_is_refused_before_anything_starts(
    capsys: pytest.CaptureFixture[str], store: str, tmp_path: Path, command: str
) -> None:
    where = ["--port", "0"] if command == "serve" else ["--to", "127.0.0.1:1"]
    missing = tmp_path / "none" / "plc.sock"
    line = refused(capsys, command, "--store", store, *where, "--control", str(missing))
    assert f"--control: {missing}: folder " in line and "does not exist" in line
    taken = tmp_path / "plc.sock"
    taken.write_text("not a socket")
    line = refused(capsys, command, "--store", store, *where, "--control", str(taken))
    assert line.endswith("exists and is not a socket; not replacing it")
    assert taken.read_text() == "not a socket"


@pytest.mark.parametrize(("command", "flag"), [("connect", "--hex"), ("serve", "--reply-hex")])
def test_hex_bytes_that_are_not_hex_name_their_flag_once(
    capsys: pytest.CaptureFixture[str], command: str, flag: str
) -> None:
    line = refused(capsys, command, flag, "zz")
    assert line.count(flag) == 1 and f"argument {flag}: 'zz' is not hex bytes" in line


def test_export_refuses_a_missing_folder(
    capsys: pytest.CaptureFixture[str], store: str, tmp_path: Path
) -> None:
    target = tmp_path / "missing" / "x.pem"
    line = refused(capsys, "certs", "export", "9", str(target), "--store", store)
    assert "does not exist" in line and "argument file" in line
    assert not target.parent.exists()
    existed = Path("/nonexistent").exists()
    refused(capsys, "certs", "export", "9", "/nonexistent/x.pem", "--store", store)
    assert Path("/nonexistent").exists() == existed
    still_usable(capsys, store)


def test_output_files_refuse_a_missing_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    scl = tmp_path / "send.scl"
    scl.write_text("Var1 : Bool := TRUE;\n")
    missing = str(tmp_path / "none" / "out.bin")
    assert "argument -o/--output" in refused(capsys, "db", "encode", str(scl), "-o", missing)
    block = str(ROOT / "samples" / "standard_server.json")
    assert "argument -o/--output" in refused(capsys, "params", "encode", block, "-o", missing)
    assert not (tmp_path / "none").exists()


@pytest.mark.parametrize(
    "source",
    ['DATA_BLOCK""{S:=', 'DATA_BLOCK "x"\nSTRUCT\nA : Int :=', "A : Array[", "A : String["],
)
def test_cut_off_scl(capsys: pytest.CaptureFixture[str], tmp_path: Path, source: str) -> None:
    scl = tmp_path / "cut.scl"
    scl.write_text(source)
    line = refused(capsys, "db", "layout", str(scl))
    assert line.startswith("ouc: error: ")


def test_send_longer_than_any_len_names_the_file(
    capsys: pytest.CaptureFixture[str], store: str, tmp_path: Path
) -> None:
    # 70000 bytes is beyond every CPU's TSEND_C LEN: the --file is refused with the device's
    # limit before the reply's LEN is derived from it (not blamed on --reply-len, never given).
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(70000))
    line = refused(capsys, "connect", "--file", str(big), "--store", store, "--to", "127.0.0.1:9")
    assert "receive_len" not in line and "--reply-len" not in line
    assert "--file" in line and "LEN 1..65536" in line and "16#8085" in line


def test_ctrl_c_while_starting(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import ouc.cli

    def interrupted(name: str) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(ouc.cli, "_load", interrupted)
    assert main(["certs", "list"]) == 130
    assert capsys.readouterr().err == "ouc: interrupted\n"


def test_a_bug_is_one_line_and_the_traceback_only_with_debug(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, store: str
) -> None:
    from ouc.certs import CertStore

    def broken(self: CertStore) -> list[object]:
        raise ZeroDivisionError("planted")

    monkeypatch.setattr(CertStore, "rows", broken)
    line = refused(capsys, "certs", "list", "--store", store)
    assert line.startswith("ouc: internal error: ZeroDivisionError: planted;")
    assert "report" in line and "--debug" in line
    assert main(["--debug", "certs", "list", "--store", store]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError: planted" in err
    assert err.strip().splitlines()[-1].startswith("ouc: internal error:")


def test_os_errors_name_the_file(
    capsys: pytest.CaptureFixture[str], store: str, tmp_path: Path
) -> None:
    folder = tmp_path / "a-folder.pem"
    folder.mkdir()
    line = refused(capsys, "certs", "import", str(folder), "--store", store)
    assert str(folder) in line
    still_usable(capsys, store)


def test_undecodable_argv_through_a_real_process(store: str) -> None:
    # Bytes that are not UTF-8 reach Python as lone surrogates; the line must still be one.
    env = dict(os.environ, PYTHONPATH=str(ROOT), LC_ALL="C.UTF-8")
    argv = [sys.executable, "-m", "ouc", "certs", "create", "--store", store]
    done = subprocess.run(
        [*argv, "--cn", b"PLC_\xff\xfe", "--template", "tls", "--ip", "192.168.0.7"],
        capture_output=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 2
    err = done.stderr.decode("utf-8", "replace")
    assert len(err.strip().splitlines()) == 1 and "argument --cn" in err
    assert "not valid UTF-8" in err and "Traceback" not in err
    assert CertStore(store).ids() == [1, 2, 3, 9, 11]
