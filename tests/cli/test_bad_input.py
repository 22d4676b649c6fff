"""Bad input is refused up front: one line naming the option or file, the PLC status where one
applies, what to do next, exit 2 — never blamed on the peer, never an internal error after the
work is done, never silently ignored.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ouc.certs import CertStore
from ouc.cli import build_parser, main

SAMPLES = Path(__file__).parents[2] / "samples"
BLOCK_JSON = SAMPLES / "standard_server.json"
WAIT = 60.0


def refused(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line of ``argv``, which must exit 2 without an internal error."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error" not in err, err
    return err


# -- --bind and targets ----------------------------------------------------------------------


@pytest.mark.parametrize("command", ["connect", "load"])
def test_a_bind_that_is_no_ipv4_address_is_the_binds_error(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    target = ["--to", "127.0.0.1:1"] if command == "connect" else ["127.0.0.1:1"]
    err = refused([command, "--bind", "300.0.0.1", *target], capsys)
    assert "argument --bind: '300.0.0.1' is not an IPv4 address" in err, err


def test_a_bind_address_this_host_lacks_is_refused_before_any_attempt(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 192.0.2.1 (TEST-NET-1, RFC 5737) is on no host's interface: the trial bind fails.
    err = refused(["load", "--bind", "192.0.2.1", "127.0.0.1:1"], capsys)
    assert "--bind: 192.0.2.1 is not an address of this host" in err, err
    assert "16#80C6" not in err


@pytest.mark.parametrize("name", ["nohost", "300.1.1.1"])
def test_targets_are_ipv4_addresses_not_names_to_look_up(
    name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused(["connect", "--to", f"{name}:2000"], capsys)
    assert f"argument --to: '{name}' is not an IPv4 address" in err, err
    err = refused(["load", f"{name}:2000"], capsys)
    assert f"HOST:PORT: '{name}' is not an IPv4 address" in err, err


# -- output of file names that are not UTF-8 ---------------------------------------------------


@pytest.mark.parametrize("command", ["encode", "check"])
def test_a_file_name_that_is_not_utf8_is_printed_escaped_with_strict_stdout(
    command: str, tmp_path: Path
) -> None:
    name = os.fsencode(tmp_path) + b"/e\xff.bin"
    if command == "encode":
        argv = [b"params", b"encode", os.fsencode(BLOCK_JSON), b"-o", name]
    else:
        Path(os.fsdecode(name)).write_bytes(BLOCK_JSON.read_bytes())
        argv = [b"params", b"check", name]
    done = subprocess.run(
        [os.fsencode(sys.executable), b"-m", b"ouc", *argv],
        capture_output=True,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
        timeout=WAIT,
    )
    assert done.returncode == 0, done.stderr
    assert b"e\\udcff.bin" in done.stdout and not done.stderr, (done.stdout, done.stderr)
    assert Path(os.fsdecode(name)).stat().st_size > 0


def test_a_stream_without_reconfigure_is_left_as_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Plain(io.StringIO):
        reconfigure = None  # as a stream some embedder put in place of sys.stdout

    out = Plain()
    monkeypatch.setattr(sys, "stdout", out)
    assert main(["params", "decode", str(BLOCK_JSON), "--json"]) == 0
    assert '"ActiveEstablished"' in out.getvalue()


# -- seconds --------------------------------------------------------------------------------


@pytest.mark.parametrize("wait", ["nan", "inf", "0", "-1"])
@pytest.mark.parametrize("action", ["set", "restart"])
def test_channel_wait_takes_seconds_as_every_other_command(
    action: str, wait: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["channel", action, "--control", "x.sock", "--wait", wait]
    if action == "set":
        argv[2:2] = ["@PLC1@ForceConnectionState", "1"]
    err = refused(argv, capsys)
    assert "argument --wait: must be more than 0" in err, err


def _actions(parser: argparse.ArgumentParser) -> Iterator[tuple[str, argparse.Action]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _actions(sub)
        else:
            yield parser.prog, action


def test_no_option_is_a_plain_float() -> None:
    """A plain float takes nan and inf; seconds go through the seconds type."""
    floats = [f"{prog} {a.dest}" for prog, a in _actions(build_parser()) if a.type is float]
    assert floats == []


# -- serve's replies and connect's data --------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "size", "family", "said"),
    [
        ("--reply", 0, "S7-1500", "gives no bytes to send"),
        ("--reply-hex", 0, "S7-1500", "gives no bytes to send"),
        ("--reply", 65537, "S7-1500", "65537 bytes, more than TSEND_C sends in one job on an "
         "S7-1500 (LEN 1..65536)"),
        ("--reply-hex", 8193, "S7-1200", "(LEN 1..8192)"),
    ],
)  # fmt: skip
def test_serve_refuses_a_reply_its_tsend_c_could_not_send(
    option: str, size: int, family: str, said: str, tmp_path: Path
) -> None:
    """Refused before it listens (no store is even opened), not 16#8085 on every frame. In a
    subprocess: the old serve listened for ever."""
    value = "00" * size
    if option == "--reply":
        (tmp_path / "reply.bin").write_bytes(bytes(size))
        value = str(tmp_path / "reply.bin")
    done = subprocess.run(
        [sys.executable, "-m", "ouc", "serve", "--family", family, option, value, "--port", "0"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=WAIT,
    )
    assert done.returncode == 2, done
    assert done.stderr.startswith(f"ouc: error: {option}: ") and said in done.stderr, done.stderr
    assert done.stderr.rstrip().endswith("(16#8085)") and not done.stdout


def test_connect_blames_a_file_too_large_to_send_not_the_reply_len(
    store: CertStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(bytes(65537))
    argv = ["connect", "--store", str(store.path), "--to", "127.0.0.1:1", "--file", str(big)]
    err = refused(argv, capsys)
    assert err.startswith("ouc: error: --file: gives 65537 bytes, more than TSEND_C sends"), err
    assert "LEN 1..65536" in err and "16#8085" in err and "--reply-len" not in err, err


def test_serve_takes_the_port_in_listen_or_port_not_both(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ouc", "serve", "--listen", "127.0.0.1:5555", "--port", "0"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=WAIT,
    )
    assert done.returncode == 2, done
    assert done.stderr.startswith("ouc: error: --port: --listen 127.0.0.1:5555 names the port")
    assert "--listen 127.0.0.1 --port 0" in done.stderr


# -- empty and malformed values ------------------------------------------------------------


@pytest.mark.parametrize("option", ["--own-ip", "--ports-in-use", "--id"])
def test_params_check_refuses_an_empty_value(
    option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    err = refused(["params", "check", str(BLOCK_JSON), option, ""], capsys)
    assert f"ouc: error: {option}: is empty" in err, err


@pytest.mark.parametrize("uri", ["::::", "urn:", "1x:y", "a b:c", ""])
def test_certs_create_refuses_what_is_no_uri(
    uri: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["certs", "create", "--store", str(tmp_path), "--cn", "x", "--template", "opcua"]
    err = refused([*argv, "--uri", uri], capsys)
    assert "argument --uri:" in err and "is not a URI" in err, err


# -- wording ----------------------------------------------------------------------------------


def test_an_unknown_flag_is_reported_before_a_missing_argument(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = refused(["params", "decode", "--frob"], capsys)
    assert "unrecognized arguments: --frob" in err and "required" not in err, err
    # Nothing unknown: the missing argument is the error still.
    err = refused(["params", "decode"], capsys)
    assert "one of the arguments file --hex is required" in err, err


def test_values_from_stdin_that_are_not_json_name_the_option(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"{")))
    err = refused(["db", "encode", str(SAMPLES / "send_data.scl"), "--values", "-"], capsys)
    assert err.startswith("ouc: error: --values <stdin>: is not JSON"), err
