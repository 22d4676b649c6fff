"""One vocabulary across the command line.

Walks every command and sub-command of ``ouc`` as ``ouc ... --help`` prints them (plain text: no
reStructuredText markup, no internal references; one clock option, one device option) and runs
every command that has ``--json`` once, checking its output against the shared field list
(``ouc/cli/_vocabulary.py``): STATUS as ``16#7004`` (text too), STATUS sequences as JSON lists,
times as ISO 8601 UTC, no synonym of a known field, JSON alone on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ouc.channel import ChannelEvent, ChannelRow, LinkState
from ouc.cli import build_parser, main
from ouc.cli._vocabulary import problems as vocabulary_problems

WAIT = 30.0


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    yield path
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, (*path, name))


def parser_for(path: tuple[str, ...]) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in path:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    return parser


ALL = sorted(commands(build_parser()))


def test_every_command_is_walked() -> None:
    names = {path[0] for path in ALL if path}
    assert {"certs", "db", "params", "demo", "serve", "connect", "channel", "plc"} <= names
    assert len(ALL) > 30  # the sub-commands too


@pytest.mark.parametrize("path", ALL, ids=lambda p: " ".join(p) or "ouc")
def test_help_is_plain_text(path: tuple[str, ...]) -> None:
    text = parser_for(path).format_help()  # what --help prints
    assert "``" not in text
    assert not re.search(r":(class|func|meth|data|mod|attr):", text)
    assert not re.search(r"\((issue|session) \d+\)", text, flags=re.I)
    assert not re.search(r"(?<![\w`])`[^`\n]+`(?![\w`])", text)
    assert not BARE_STATUS.search(text), BARE_STATUS.search(text)  # STATUS is 16#7004 here too


# A STATUS code the blocks show, written without 16# (a port number after ":" is not one).
BARE_STATUS = re.compile(r"(?<![#:\w])(0000|0001|0003|700[0-6]|80[A-E][0-9A-F])(?!\w)")


def test_the_bare_status_check_can_fail() -> None:
    assert BARE_STATUS.search("TRCV_C 192.168.0.2:51234 0001 connected")
    assert BARE_STATUS.search("closes in order (7003 → 0003)")
    assert not BARE_STATUS.search("16#7003 → 16#0003 on 127.0.0.1:7001, port 2000, LEN 8192")


CLOCKS = {"now", "plc_time", "time"}


def test_one_clock_option_for_every_command() -> None:
    seen = []
    for path in ALL:
        for action in parser_for(path)._actions:
            if action.dest in CLOCKS and action.option_strings:
                seen.append(path)
                assert action.option_strings[0] == "--now", (path, action.option_strings)
    assert {p[0] for p in seen} >= {"certs", "serve", "connect", "channel"}


@pytest.mark.parametrize(
    ("argv", "old"),
    [
        (["serve", "--plc-time", "2026-01-02T03:04:05+00:00"], "--plc-time"),
        (["connect", "--plc-time", "2026-01-02T03:04:05+00:00"], "--plc-time"),
        (["channel", "run", "x.toml", "--time", "2026-01-02T03:04:05+00:00"], "--time"),
    ],
)
def test_old_clock_spellings_still_work_with_a_note(
    argv: list[str], old: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = build_parser().parse_args(argv)
    new = build_parser().parse_args([a if a != old else "--now" for a in argv])
    assert vars(args) == vars(new)
    assert f"{old} is deprecated, use --now" in capsys.readouterr().err


def test_one_device_option_for_every_command() -> None:
    seen = []
    for path in ALL:
        for action in parser_for(path)._actions:
            if action.dest in ("device", "device_name") and action.option_strings:
                seen.append(path)
                assert action.option_strings[0] == "--device", (path, action.option_strings)
    assert {p[0] for p in seen} >= {"serve", "connect", "load"}


# --------------------------------------------------------------------------- --json output

STATUS = re.compile(r"16#[0-9A-F]{4}")
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
# A STATUS word without its 16#: 7xxx, 80xx, 000x standing alone (ports here are not 7xxx).
BARE_STATUS = re.compile(r"(?<![#\w.:])(?:7[0-9A-F]{3}|80[0-9A-F]{2}|000[0-9A-F])(?![\w])")
SAMPLES = Path(__file__).parents[2] / "samples"


def run(argv: list[str]) -> tuple[int, str, str]:
    """``ouc ARGV`` in this process: exit status, stdout, stderr."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    return status, out.getvalue(), err.getvalue()


def json_out(argv: list[str], ok: tuple[int, ...] = (0,)) -> list[Any]:
    """Run a --json command; everything on its stdout is JSON (a document or JSON lines)."""
    status, out, err = run(argv)
    assert status in ok, (argv, err)
    try:
        return [json.loads(out)]
    except json.JSONDecodeError:
        return [json.loads(line) for line in out.splitlines()]  # JSON lines, or it fails


class Walk:
    """Every command's output, --json and text, from one example store and one serve."""

    def __init__(self) -> None:
        self.docs: dict[str, list[Any]] = {}
        self.texts: dict[str, str] = {}
        self.serve_stderr = ""
        self.serve_status: int | None = None


@pytest.fixture(scope="module")
def walk(tmp_path_factory: pytest.TempPathFactory, lines_until: Any) -> Walk:
    tmp = tmp_path_factory.mktemp("vocabulary")
    store = tmp / "store"
    result = Walk()
    result.docs["demo"] = json_out(["demo", "--json", "--keep-store", str(store)])
    result.texts["demo"] = run(["demo"])[1]
    on = ["--store", str(store), "--json"]
    pem = str(tmp / "x.pem")
    certs = [
        ["init", "--store", str(tmp / "other"), "--json"],
        ["list", *on],
        ["show", "9", *on],
        ["create", "--cn", "X", "--template", "tls", "--issuer", "3", "--ip", "192.168.0.9", *on],
        ["renew", "12", *on],
        ["assign", "PLC_1", *on],
        ["export", "12", pem, *on],
        ["revoke", "12", *on],
        ["replace", "12", pem, *on],
        ["delete", "12", *on],
        ["import", pem, *on],
    ]
    for argv in certs:
        result.docs[f"certs {argv[0]}"] = json_out(["certs", *argv])
    block = str(SAMPLES / "standard_server.json")
    result.docs["params decode"] = json_out(["params", "decode", block, "--json"])
    result.docs["params check"] = json_out(["params", "check", block, "--json"])
    layout = str(SAMPLES / "send_data.scl")
    result.docs["db layout"] = json_out(["db", "layout", layout, "--json"])
    hex_data = run(["db", "encode", layout])[1].strip()
    # The whole document is the data block's values: the user's names.
    values = json_out(["db", "decode", layout, "--hex", hex_data, "--json"])
    result.docs["db decode"] = [{"values": doc} for doc in values]

    control = tmp / "plc.sock"
    argv = ["serve", "--store", str(store), "--port", "0", "--json", "--echo"]
    argv += ["--control", str(control), "--map", "192.168.0.2=127.0.0.1"]
    serve = subprocess.Popen(
        [sys.executable, "-m", "ouc", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        first = lines_until(serve, '"listening"')
        port = json.loads(first[-1])["local"].rsplit(":", 1)[1]
        connect = ["connect", "--store", str(store), "--to", f"127.0.0.1:{port}"]
        connect += ["--bind", "127.0.0.1", "--expect-reply"]
        result.docs["connect"] = json_out([*connect, "--json"])
        result.texts["connect"] = run(connect)[1]
        # A TCP connection that has not begun its handshake is one of the endpoint's
        # connections: plc status shows its blocks' STATUS.
        with socket.create_connection(("127.0.0.1", int(port)), timeout=WAIT):
            plc = ["plc", "--control", str(control), "status"]
            deadline = time.monotonic() + WAIT
            for _ in range(10_000):  # until the endpoint has accepted it (bounded)
                result.docs["plc"] = json_out([*plc, "--json"])
                if result.docs["plc"][0]["connections"] or time.monotonic() > deadline:
                    break
            result.texts["plc"] = run(plc)[1]
        load = ["load", f"127.0.0.1:{port}", "--store", str(store), "--bind", "127.0.0.1"]
        # Exit 1 when an operation failed (a loaded machine may time one out): the document
        # is the same, its failures listed by STATUS.
        load += ["--seconds", "0.2", "--only", "handshake", "--json"]
        result.docs["load"] = json_out(load, ok=(0, 1))
        serve.send_signal(signal.SIGINT)
        out, err = serve.communicate(timeout=WAIT)
    finally:
        if serve.poll() is None:
            serve.kill()
            serve.communicate(timeout=WAIT)
    result.docs["serve"] = [json.loads(line) for line in [*first, *out.decode().splitlines()]]
    result.serve_stderr, result.serve_status = err.decode(), serve.returncode

    # ouc channel prints these objects (run: events; status/set/restart: rows). A real
    # channel run needs tests/channel's plant: its test_cli walks that output with the same
    # checker.
    row = ChannelRow(
        name="PLC1",
        state=LinkState.CONNECTED,
        status=0x7004,
        force=1,
        use_alternative=0,
        alternative_address="",
        target="192.168.0.1:2000",
        via_alternative=False,
        security="TLSv1.3",
        peer="CN=PLC_1",
        peer_valid_to=dt.datetime(2028, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
        peer_expired=False,
        attempts=1,
        connections=1,
        reason="",
    )
    event = ChannelEvent("PLC1", "failed", 0x80E4, "no trusted CA", time=1_796_546_079.278)
    result.docs["channel"] = [row.to_json(), event.to_json()]
    assert ChannelRow.from_json(row.to_json()) == row
    return result


JSON_COMMANDS = sorted(
    " ".join(path)
    for path in ALL
    if any("--json" in a.option_strings for a in parser_for(path)._actions)
)


def test_every_json_command_is_walked(walk: Walk) -> None:
    walked = {name.split(" ")[0] if name.startswith("channel") else name for name in walk.docs}
    missing = [c for c in JSON_COMMANDS if c not in walked and c.split(" ")[0] not in walked]
    assert missing == []


@pytest.mark.parametrize("command", JSON_COMMANDS)
def test_json_speaks_the_shared_vocabulary(walk: Walk, command: str) -> None:
    docs = walk.docs.get(command) or walk.docs[command.split(" ")[0]]
    assert docs
    problems = [p for doc in docs for p in vocabulary_problems(doc, command)]
    assert problems == []


def test_the_checker_fails_each_dialect() -> None:
    """Each rule of the walk can fail: a synonym, an unknown name, a bare or arrow-joined
    STATUS, an epoch time."""
    bad = {
        "own_certificate_id": 9,
        "text": "x",
        "brand_new": 1,
        "status": "7004",
        "sequences": {"TSEND_C": "16#7000 → 16#7001"},
        "time": 1_796_546_079.2,
        "valid_to": "2026-12-06T08:30:00+00:00",
        "tls": {"TRCV_C": "80C5"},
        "tls_text": "16#7000 → 16#7001",
    }
    problems = vocabulary_problems(bad, "doc")
    for key in ("own_certificate_id", "text", "brand_new", "status", "time", "valid_to"):
        assert any(p.startswith(f"doc.{key}:") for p in problems), key
    assert any("arrow-joined" in p for p in problems)
    assert any("not a list" in p for p in problems)
    assert any(p.startswith("doc.tls.TRCV_C:") for p in problems)
    assert vocabulary_problems({"sequences": "16#7000"}, "d") == [
        "d.sequences: not block -> list of 16#xxxx: '16#7000'"
    ]
    assert vocabulary_problems({"status": "16#7004", "time": "2026-12-06T08:30:00.123Z"}, "d") == []


def test_sequences_in_json_are_lists(walk: Walk) -> None:
    (doc,) = walk.docs["demo"]
    tsend = doc["client"]["sequences"]["TSEND_C"]
    assert tsend[:4] == ["16#7000", "16#7001", "16#7002", "16#0001"]
    closed = [d for d in walk.docs["connect"] if d.get("event") == "closed"]
    assert closed and isinstance(closed[0]["sequences"]["TSEND_C"], list)
    assert walk.docs["connect"][-1]["sequences"]["TSEND_C"][0] == "16#7000"


def test_times_are_iso_utc_everywhere(walk: Walk) -> None:
    times = [d.get("time") for docs in (walk.docs["serve"], walk.docs["connect"]) for d in docs]
    times = [t for t in times if t is not None]
    assert times and all(ISO.fullmatch(t) for t in times)
    (listing,) = walk.docs["certs list"]
    assert all(ISO.fullmatch(row["valid_to"]) for row in listing)
    assert ISO.fullmatch(walk.docs["channel"][1]["time"])


@pytest.mark.parametrize("command", ["demo", "connect", "plc"])
def test_status_in_text_is_16_notation(walk: Walk, command: str) -> None:
    text = walk.texts[command]
    assert STATUS.search(text)
    assert BARE_STATUS.findall(text) == []


def test_the_text_check_sees_a_bare_status() -> None:
    assert BARE_STATUS.findall("PLC_1 TRCV_C 0001 connected; 7000 → 80C5 → 16#80C4") == [
        "0001",
        "7000",
        "80C5",
    ]


def test_serve_json_on_stdout_and_human_lines_on_stderr(walk: Walk) -> None:
    """Every stdout line of ``serve --json`` is JSON (the walk parsed them all); the stop line
    for humans went to stderr; Ctrl-C is exit 130."""
    assert [d["event"] for d in walk.docs["serve"]][-1] == "stopped"
    assert "PLC_1 TRCV_C stopping" in walk.serve_stderr
    assert walk.serve_status == 130
