"""The control surface: the control socket, ``ouc channel set/restart/status`` in process,
``ouc channel run`` once through a subprocess (Ctrl-C ends it cleanly), and the help text."""

from __future__ import annotations

import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ouc.channel import (
    Channel,
    ChannelRow,
    ControlServer,
    LinkState,
    control_request,
)
from ouc.cli import main
from ouc.cli._vocabulary import problems as vocabulary_problems
from ouc.errors import ConfigError, Status

Plant = Any  # the fixture's class lives in conftest (importlib mode: not importable)
WAIT = 10.0  # the conftest's bound of every wait (its module is not importable either)


@pytest.fixture
def running(plant: Plant) -> Iterator[tuple[Channel, Path]]:
    """PLC1 up, a channel connected to it, its control socket served."""
    plant.import_known_ca()
    plant.start_plc("PLC_1", plant.PLC1_IP, 9)
    channel = plant.channel(plant.connection(alternative_address=plant.ALTERNATIVE))
    channel.wait_for("PLC1", LinkState.CONNECTED, timeout=plant.WAIT)
    path = plant.tmp_path / "c.ouc.sock"
    with ControlServer(channel, path):
        yield channel, path
    assert not path.exists()  # stop() removes the socket file


def test_control_socket_status_and_set(running: tuple[Channel, Path], plant: Plant) -> None:
    channel, path = running
    (row,) = control_request(path, {"op": "status"})["rows"]
    assert ChannelRow.from_json(row) == channel.row("PLC1")
    assert row["state"] == "connected" and row["status"] == "16#7004"

    request = {
        "op": "set",
        "connection": "PLC1",
        "variable": "ForceConnectionState",
        "value": "0",
        "wait": plant.WAIT,
    }
    answer = control_request(path, request, timeout=plant.WAIT + 5)
    assert answer["row"]["state"] == "disconnected"
    assert channel.row("PLC1").state is LinkState.DISCONNECTED
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_control_errors_come_back_as_the_same_exception(running: tuple[Channel, Path]) -> None:
    _, path = running
    set_ = {"op": "set", "connection": "PLC9", "variable": "ForceConnectionState", "value": 1}
    with pytest.raises(ConfigError) as info:
        control_request(path, set_)
    assert info.value.status == Status.NO_SUCH_CONNECTION
    with pytest.raises(ConfigError, match="'IPAdress'"):
        control_request(
            path,
            {**set_, "connection": "PLC1", "variable": "AlternativeAddress", "value": "IPAdress=1"},
        )
    with pytest.raises(ConfigError, match="unknown operation"):
        control_request(path, {"op": "reboot"})
    with pytest.raises(ConfigError, match="wait"):
        control_request(path, {**set_, "connection": "PLC1", "wait": -1})
    with socket.socket(socket.AF_UNIX) as raw:  # not JSON: an answer, not a crash
        raw.settimeout(5)
        raw.connect(str(path))
        raw.sendall(b"hello\n")
        answer = json.loads(raw.makefile("rb").readline())
    assert answer["ok"] is False and "not JSON" in answer["message"]


def test_a_live_socket_is_not_taken_over_and_a_stale_one_is(
    running: tuple[Channel, Path], tmp_path: Path
) -> None:
    channel, path = running
    with pytest.raises(ConfigError, match="already running"):
        ControlServer(channel, path).start()
    stale = tmp_path / "stale.sock"
    leftover = socket.socket(socket.AF_UNIX)
    leftover.bind(str(stale))
    leftover.close()  # the file stays: a channel that died
    with ControlServer(channel, stale):
        assert control_request(stale, {"op": "status"})["ok"]
    regular = tmp_path / "file.sock"
    regular.write_text("mine")
    with pytest.raises(ConfigError, match="not a socket"):
        ControlServer(channel, regular).start()
    assert regular.read_text() == "mine"
    with pytest.raises(ConfigError, match="107"):
        ControlServer(channel, tmp_path / ("x" * 120)).start()


def test_cli_status_and_set_in_process(
    running: tuple[Channel, Path], plant: Plant, capsys: pytest.CaptureFixture[str]
) -> None:
    channel, path = running
    assert main(["channel", "status", "--control", str(path)]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split()[:3] == ["CONNECTION", "STATE", "STATUS"]
    assert "PLC1" in out and "connected" in out and "CN=PLC_1" in out

    assert main(["channel", "status", "--control", str(path), "--json"]) == 0
    (doc,) = json.loads(capsys.readouterr().out)
    assert doc["peer_subject"] == "CN=PLC_1"

    wait = str(plant.WAIT)
    assert (
        main(
            [
                "channel",
                "set",
                "PLC1",
                "forceconnectionstate",
                "0",
                "--control",
                str(path),
                "--wait",
                wait,
            ]
        )
        == 0
    )
    assert "disconnected" in capsys.readouterr().out
    assert (
        main(["channel", "set", "PLC1", "UseAlternativeAddress", "1", "--control", str(path)]) == 0
    )
    capsys.readouterr()
    # PLC2 does not run: the attempt fails, and --wait says so with exit status 1.
    code = main(
        [
            "channel",
            "set",
            "@PLC1@ForceConnectionState",
            "1",
            "--control",
            str(path),
            "--wait",
            wait,
            "--json",
        ]
    )
    assert code == 1
    row = json.loads(capsys.readouterr().out)
    assert row["state"] == "retrying" and row["via_alternative"] is True
    assert channel.row("PLC1").target == f"{plant.PLC2_IP}:2000"


def test_tags_and_restart_through_the_control_socket_and_the_cli(
    running: tuple[Channel, Path], plant: Plant, capsys: pytest.CaptureFixture[str]
) -> None:
    channel, path = running
    tag = {"op": "set", "tag": "@PLC1@UseAlternativeAddress", "value": 1}
    assert control_request(path, tag)["row"]["UseAlternativeAddress"] == 1
    older = {"op": "set", "connection": "PLC1", "variable": "UseAlternativeAddress", "value": 0}
    assert control_request(path, older)["row"]["UseAlternativeAddress"] == 0
    with pytest.raises(ConfigError, match="tag name like"):
        control_request(path, {**tag, "tag": "PLC1.UseAlternativeAddress"})

    argv = ["channel", "set", "@PLC1@UseAlternativeAddress", "1", "--control", str(path)]
    assert main(argv) == 0
    capsys.readouterr()
    assert channel.get("@PLC1@UseAlternativeAddress") == 1
    # A restart gives the tags their start values again (UseAlternativeAddress 0): PLC1.
    argv = ["channel", "restart", "--control", str(path), "--wait", str(plant.WAIT), "--json"]
    assert main(argv) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["state"] == "connected" and row["UseAlternativeAddress"] == 0
    assert row["established"] == 2 and row["target"] == f"{plant.PLC1_IP}:2000"
    kinds = [e.kind for e in channel.events()]
    assert kinds[-3:] == ["restart", "connecting", "connected"]


def test_help_says_what_it_is_and_claims_no_emulation_of_wincc_or_s7(
    capsys: pytest.CaptureFixture[str],
) -> None:
    texts = []
    commands = [["channel", command] for command in ("run", "set", "restart", "status")]
    for argv in [[], ["channel"], *commands]:
        argv = [*argv, "--help"]
        try:
            code = main(argv)
        except SystemExit as done:  # argparse's own exit, where main lets it through
            code = int(done.code or 0)
        assert code == 0
        out = capsys.readouterr().out
        if not argv[:-1]:  # ouc --help: the channel's line only
            out = next(line for line in out.splitlines() if line.strip().startswith("channel"))
        texts.append(" ".join(out.split()))
    assert "Secure OUC client" in texts[0]
    channel = texts[1]
    assert "Secure OUC client" in channel
    for rule in ("certificate store", "manual trust", "certificate lifetime", "connection-change"):
        assert rule in channel
    denial = "It is not an emulation of WinCC or of S7 communication"
    assert denial in channel
    for text in texts:
        claims = text.replace(denial, "")
        for claim in ("emulat", "WinCC-style", "WinCC channel", "models WinCC", "S7 channel"):
            assert claim not in claims, (claim, text)


def test_cli_finds_the_socket_from_env_or_the_folder(
    running: tuple[Channel, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, path = running
    monkeypatch.setenv("OUC_CHANNEL_CONTROL", str(path))
    assert main(["channel", "status"]) == 0
    assert "PLC1" in capsys.readouterr().out
    monkeypatch.delenv("OUC_CHANNEL_CONTROL")
    monkeypatch.chdir(path.parent)
    assert main(["channel", "status"]) == 0
    assert "PLC1" in capsys.readouterr().out


def test_cli_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("OUC_CHANNEL_CONTROL", raising=False)
    monkeypatch.chdir(tmp_path)
    cases = [
        ["channel", "status"],
        ["channel", "status", "--control", str(tmp_path / "none.sock")],
        ["channel", "set", "PLC1", "ForceConnectionState", "1", "--control", "x", "--wait", "0"],
        ["channel", "run", str(tmp_path / "missing.toml")],
    ]
    for argv in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err
        # A bad --wait is argparse's line (its type refuses it): "ouc channel set: error:".
        assert err.startswith(("ouc: error:", "ouc channel set: error:")), err
        assert err.count("\n") == 1, err


class _Output:
    """A subprocess's stdout read line by line with a bounded wait (raw reads, no buffering
    that a select() could not see)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self.fd = proc.stdout.fileno()
        self.buffer = b""
        self.lines: list[str] = []

    def until(self, text: str, timeout: float) -> list[str]:
        """The lines so far, once one contains ``text``; AssertionError after ``timeout`` s."""
        deadline = time.monotonic() + timeout
        with selectors.DefaultSelector() as sel:
            sel.register(self.fd, selectors.EVENT_READ)
            while not any(text in line for line in self.lines):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not sel.select(remaining):
                    raise AssertionError(f"no {text!r} within {timeout:g} s; got {self.lines}")
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    raise AssertionError(f"the process ended; it printed {self.lines}")
                self.buffer += chunk
                *complete, self.buffer = self.buffer.split(b"\n")
                self.lines += [line.decode() for line in complete]
        return self.lines


# A fresh interpreter imports cryptography and pyOpenSSL before it connects: on a loaded 2-core
# machine that alone can take several seconds, so a subprocess's first line gets a longer bound.
START_WAIT = 6 * WAIT


def _ctrl_c(proc: subprocess.Popen[bytes], sig: int = signal.SIGINT) -> tuple[bytes, bytes]:
    """Ctrl-C (or ``sig``), then the rest of the output; a process that does not stop within
    WAIT is killed (never left running) and the test fails."""
    proc.send_signal(sig)
    try:
        return proc.communicate(timeout=WAIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate(timeout=WAIT)
        raise AssertionError(f"ouc channel run did not stop within {WAIT:g} s of Ctrl-C") from None


def test_run_through_a_subprocess_until_ctrl_c(
    plant: Plant, capsys: pytest.CaptureFixture[str]
) -> None:
    plant.start_plc("PLC_1", plant.PLC1_IP, 9)
    config = plant.write_config(plant.tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ouc", "channel", "run", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    output = _Output(proc)
    try:
        lines = output.until("connected", START_WAIT)
        assert any("control socket" in line for line in lines)
        assert main(["channel", "status", "--config", str(config), "--json"]) == 0
        (row,) = json.loads(capsys.readouterr().out)
        assert row["state"] == "connected" and row["peer_subject"] == "CN=PLC_1"
        wait = str(plant.WAIT)
        argv = ["channel", "set", "--config", str(config), "PLC1", "ForceConnectionState", "0"]
        assert main([*argv, "--wait", wait]) == 0
        output.until("disconnected", plant.WAIT)
    finally:
        out, err = _ctrl_c(proc)
    assert proc.returncode == 130, err  # Ctrl-C, as a shell reports it
    assert "stopping (Ctrl-C)" in out.decode()
    assert not (plant.tmp_path / "channel.ouc.sock").exists()


def test_sigterm_says_stopping_and_closes_each_connection(plant: Plant) -> None:
    plant.start_plc("PLC_1", plant.PLC1_IP, 9)
    config = plant.write_config(plant.tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ouc", "channel", "run", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    output = _Output(proc)
    try:
        output.until("connected", START_WAIT)
    finally:
        out, err = _ctrl_c(proc, signal.SIGTERM)
    assert proc.returncode == 0, err  # a stop that was asked for
    lines = (output.buffer + out).decode().splitlines()
    assert lines[0] == "ouc channel: stopping (SIGTERM)", lines
    assert "PLC1 16#7000 closed - the channel closed the connection" in lines
    assert not any("next attempt" in line for line in lines)


def test_run_json_speaks_the_command_lines_vocabulary(
    plant: Plant, capsys: pytest.CaptureFixture[str]
) -> None:
    """``channel run --json``: every stdout line is one JSON event in the shared vocabulary
    (16# STATUS, ISO times, the field list of ``ouc/cli/_vocabulary.py``), as are the rows of
    ``status``, ``set`` and ``restart --json``; Ctrl-C ends it with 130."""
    plant.start_plc("PLC_1", plant.PLC1_IP, 9)
    config = plant.write_config(plant.tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ouc", "channel", "run", str(config), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    output = _Output(proc)
    docs: list[Any] = []
    try:
        output.until('"connected"', START_WAIT)
        wait = str(plant.WAIT)
        for argv in (
            ["status"],
            ["set", "PLC1", "UseAlternativeAddress", "0", "--wait", wait],
            ["restart", "--wait", wait],
        ):
            assert main(["channel", *argv, "--config", str(config), "--json"]) == 0
            docs.append(json.loads(capsys.readouterr().out))
    finally:
        out, err = _ctrl_c(proc)
    assert proc.returncode == 130, err
    lines = output.lines + [line for line in (output.buffer + out).decode().splitlines() if line]
    events = [json.loads(line) for line in lines]  # stdout is JSON only
    assert {"started", "connecting", "connected", "stopping"} <= {e["event"] for e in events}
    assert [p for doc in events + docs for p in vocabulary_problems(doc, "channel")] == []
    assert all(e["name"] == "PLC1" for e in events if e["event"] == "connected")


def test_run_reads_its_configuration_from_stdin(
    plant: Plant, capsys: pytest.CaptureFixture[str]
) -> None:
    """``ouc channel run -``: the configuration on stdin (TOML or JSON by content), its relative
    paths and the control socket (``channel.ouc.sock``) in the current folder."""
    plant.start_plc("PLC_1", plant.PLC1_IP, 9)
    config = plant.write_config(plant.tmp_path, suffix=".json")
    with config.open("rb") as stdin:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ouc", "channel", "run", "-"],
            stdin=stdin,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=plant.tmp_path,
        )
    output = _Output(proc)
    socket_path = plant.tmp_path / "channel.ouc.sock"
    try:
        output.until("connected", START_WAIT)
        assert main(["channel", "status", "--control", str(socket_path), "--json"]) == 0
        (row,) = json.loads(capsys.readouterr().out)
        assert row["state"] == "connected" and row["peer_subject"] == "CN=PLC_1"
    finally:
        _out, err = _ctrl_c(proc)
    assert proc.returncode == 130, err
    assert not socket_path.exists()


def test_a_broken_configuration_on_stdin_is_one_line(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ouc", "channel", "run", "-"],
        input=b'{"device": "PC", "connections": ',
        capture_output=True,
        cwd=tmp_path,
        timeout=START_WAIT,
        check=False,
    )
    err = done.stderr.decode()
    assert done.returncode == 2 and err.count("\n") == 1, err
    assert "<stdin>" in err and "not valid JSON" in err
