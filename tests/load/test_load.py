"""``ouc load HOST:PORT`` against real PassiveEndpoints on 127.0.0.1 port 0 (never timing).

The peers are the standard example's server PLC (mutual TLS 1.3, echo), made per test on a
store with fresh certificates. Runs are bounded by ``--max-ops`` and ``--seconds``; assertions
are on counts and statuses: what the peer accepted, and what it refused, by status.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ouc.certs import CertStore
from ouc.cli import main
from ouc.drivers import (
    AddressMap,
    EndpointSpec,
    PassiveEndpoint,
    echo,
    standard_example,
)
from ouc.errors import OucError
from ouc.load import LoadClient
from ouc.load._target import TargetRecipe
from ouc.params import STANDARD_CLIENT, dump_json

NOW = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
TINY = ["--seconds", "2", "--max-ops", "6", "--concurrency", "2", "--timeout", "10"]


def _server(store: CertStore, **options: Any) -> PassiveEndpoint:
    """PLC_1 of the standard example (echo), reached from 127.0.0.1 as PLC_2's plant address."""
    setup = standard_example(store, receive_len=258, server_options=options or None)
    return PassiveEndpoint(
        setup.server,
        behaviour=echo(),
        listen=("127.0.0.1", 0),
        address_map=AddressMap.parse(["192.168.0.2=127.0.0.1"]),
    )


@pytest.fixture
def accepting(store: CertStore) -> Iterator[PassiveEndpoint]:
    with _server(store) as endpoint:
        yield endpoint


def _load(
    capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, dict[str, Any], dict[str, dict[str, Any]]]:
    status = main(["load", *args, *TINY, "--json"])
    out = capsys.readouterr().out
    doc = json.loads(out)
    return status, doc, {row["name"]: row for row in doc["rows"]}


def test_counts_what_a_mutual_tls_peer_accepted_with_the_blocks_certificate(
    store: CertStore, accepting: PassiveEndpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    """No certificate options: the standard client block's TLSClientCertRef 11 from the store."""
    where = f"127.0.0.1:{accepting.port}"
    status, doc, rows = _load(capsys, where, "--store", str(store.path))
    assert status == 0, rows
    assert doc["ok"] is True and doc["target"] == where
    assert list(rows) == ["handshake", "handshake-concurrent", "echo-258"]
    for row in rows.values():
        assert row["failed"] == 0 and row["failures"] == []
        assert row["accepted"] >= 1 and row["rate"] > 0
    assert rows["handshake-concurrent"]["clients"] == 2
    echo = rows["echo-258"]
    # MB/s is the payload in each direction, not both added up: 258 bytes a round trip
    assert echo["mb_s"] > 0 and abs(echo["mb_s"] - echo["rate"] * 258 / 1e6) <= 0.011
    handshakes = rows["handshake"]["accepted"] + rows["handshake-concurrent"]["accepted"]
    # every counted handshake, and the echo connection, was served to the end by the peer
    assert accepting.served_total >= handshakes + 1


def test_a_peer_refusing_the_client_certificate_is_all_failures_by_status_and_exit_1(
    tmp_path: Path,
    store: CertStore,
    accepting: PassiveEndpoint,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The client presents no certificate (TLSClientCertRef 0): TLS 1.3 completes on the client,
    the server refuses with certificate_required afterwards. Nothing may count as accepted."""
    block = tmp_path / "no_cert.json"
    block.write_text(dump_json(dataclasses.replace(STANDARD_CLIENT, TLSClientCertRef=0)))
    where = f"127.0.0.1:{accepting.port}"
    status, doc, rows = _load(capsys, where, "--store", str(store.path), "--block", str(block))
    assert status == 1 and doc["ok"] is False
    for name in ("handshake", "handshake-concurrent"):
        row = rows[name]
        assert row["accepted"] == 0 and row["rate"] is None and row["p50_ms"] is None, row
        assert row["failed"] >= 1
        assert [f["status"] for f in row["failures"]] == ["16#80E2"], row["failures"]
        assert row["failures"][0]["count"] == row["failed"]
        assert "certificate_required" in row["failures"][0]["reason"]
    assert rows["echo-258"]["accepted"] == 0 and rows["echo-258"]["failed"] >= 1


def test_the_table_shows_the_refusals_in_the_row(
    tmp_path: Path,
    store: CertStore,
    accepting: PassiveEndpoint,
    capsys: pytest.CaptureFixture[str],
) -> None:
    block = tmp_path / "no_cert.json"
    block.write_text(dump_json(dataclasses.replace(STANDARD_CLIENT, TLSClientCertRef=0)))
    status = main(["load", f"127.0.0.1:{accepting.port}", "--store", str(store.path),
                   "--block", str(block), "--only", "handshake", *TINY])  # fmt: skip
    out = capsys.readouterr().out
    assert status == 1
    line = next(x for x in out.splitlines() if x.startswith("handshake "))
    assert "16#80E2" in line and "certificate_required" in line
    assert line.split()[1:5] == ["0", "-", "-", "-"]  # accepted, no rate, no MB/s, no p50


def test_client_confirm_raises_the_refusal_after_the_client_side_handshake(
    store: CertStore, accepting: PassiveEndpoint
) -> None:
    """The API under the rows: connect() completes, confirm() carries the peer's verdict."""
    recipe = TargetRecipe("127.0.0.1", accepting.port, store=str(store.path))
    target = recipe.build()
    refused = dataclasses.replace(
        target,
        spec=EndpointSpec.from_block(
            dataclasses.replace(STANDARD_CLIENT, TLSClientCertRef=0),
            store=store,
            device=recipe.device_model(),
            device_name="PLC_2",
        ),
    )
    client = LoadClient(refused)
    client.connect()  # TLS 1.3: the client's side is done before the server checked anything
    with pytest.raises(OucError) as info:
        client.confirm()
    assert info.value.status == 0x80E2
    ok = LoadClient(target)
    ok.connect()
    ok.send(b"\x01" * 258)
    assert ok.receive(258) == b"\x01" * 258
    ok.confirm()


def test_only_runs_what_it_names(store: CertStore, capsys: pytest.CaptureFixture[str]) -> None:
    with _server(store, adhoc=True) as adhoc:  # echoes each frame as it came: any size
        _only_runs_what_it_names(store, f"127.0.0.1:{adhoc.port}", capsys)


def _only_runs_what_it_names(
    store: CertStore, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    status, _, rows = _load(capsys, where, "--store", str(store.path), "--only", "echo-*",
                            "--size", "16", "--size", "258")  # fmt: skip
    assert status == 0 and list(rows) == ["echo-16", "echo-258"]
    status, _, rows = _load(capsys, where, "--store", str(store.path), "--only", "handshake")
    assert status == 0 and list(rows) == ["handshake"]  # a row's own name: that row alone
    status, _, rows = _load(capsys, where, "--store", str(store.path), "--only", "hand")
    assert status == 0 and list(rows) == ["handshake", "handshake-concurrent"]  # substring
    assert main(["load", where, "--only", "no-such-row"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "matches no row" in err and "echo-258" in err


def test_a_closed_port_is_counted_as_16_80C4_and_the_clients_back_off(
    store: CertStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """Refused connects: each client pauses 10 ms, doubling to 1 s, between attempts, so 4
    clients make a handful of attempts in a second (thousands without), and the row says why."""
    with socket.socket() as sock:  # a port nobody listens on (held: nobody can meanwhile)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        status = main(["load", f"127.0.0.1:{port}", "--store", str(store.path), "--only",
                       "hand", "--seconds", "1", "--concurrency", "4", "--json"])  # fmt: skip
    rows = json.loads(capsys.readouterr().out)["rows"]
    assert status == 1
    for row in rows:
        assert row["accepted"] == 0 and row["failures"][0]["status"] == "16#80C4"
        assert "the peer refused connections" in row["failures"][0]["reason"]
        # 10 + 20 + 40 + 80 + 160 + 320 ms > 0.6 s: at most 7 attempts a client in a second
        assert 1 <= row["failed"] <= 7 * row["clients"], row


def test_a_reset_before_any_reply_names_the_partner_check_and_bind(
    store: CertStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """A peer whose partner check expects 192.168.0.2 resets 127.0.0.1 (16#80C9 on its side,
    16#80C5 here): the row says how to connect from the plant address, as ouc connect does."""
    setup = standard_example(store, receive_len=258)
    with PassiveEndpoint(setup.server, behaviour=echo(), listen=("127.0.0.1", 0)) as checking:
        status, _, rows = _load(capsys, f"127.0.0.1:{checking.port}", "--store",
                                str(store.path), "--only", "handshake")  # fmt: skip
    assert status == 1
    (failure,) = rows["handshake"]["failures"]
    assert failure["status"] == "16#80C5", failure
    for text in ("16#80C9 on its side", "16#8087", "--bind 127.0.0.2",
                 "--map 192.168.0.2=127.0.0.2"):  # fmt: skip
        assert text in failure["reason"], failure["reason"]


def test_bind_with_a_port_says_to_leave_the_port_out(
    store: CertStore, accepting: PassiveEndpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    """A local port in use fails the connect with 16#80A1. With a fixed --bind port that is the
    usual case after the first connection (its port waits in TCP TIME_WAIT); here a socket holds
    the port so every attempt fails alike. The row says to leave the port out of --bind."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        local = holder.getsockname()[1]
        status, _, rows = _load(capsys, f"127.0.0.1:{accepting.port}", "--store",
                                str(store.path), "--only", "handshake", "--bind",
                                f"127.0.0.1:{local}")  # fmt: skip
    assert status == 1
    row = rows["handshake"]
    assert row["accepted"] == 0, row
    (failure,) = row["failures"]
    assert failure["status"] == "16#80A1" and failure["count"] == 6
    assert f"--bind 127.0.0.1:{local} names a local port" in failure["reason"]
    assert "leave the port out (--bind 127.0.0.1)" in failure["reason"]


def test_a_peer_that_never_answers_is_counted_as_timeout_in_the_table_and_json(
    store: CertStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """The client's own limit ran out: no PLC status exists for that (the help lists no
    timeout code), so the failure is counted as "timeout", not under a made-up code."""
    with socket.socket() as silent:  # the kernel accepts; nothing ever answers the hello
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        where = f"127.0.0.1:{silent.getsockname()[1]}"
        args = ["load", where, "--store", str(store.path), "--only", "handshake", "--seconds",
                "2", "--max-ops", "2", "--concurrency", "1", "--timeout", "0.3"]  # fmt: skip
        assert main([*args, "--json"]) == 1
        doc = json.loads(capsys.readouterr().out)
        assert main(args) == 1
        table = capsys.readouterr().out
    (row,) = doc["rows"]
    assert row["accepted"] == 0 and row["failed"] >= 1
    assert [(f["status"], f["kind"]) for f in row["failures"]] == [(None, "timeout")]
    assert "no answer within 0.3 s to the TLS handshake" in row["failures"][0]["reason"]
    line = next(x for x in table.splitlines() if x.startswith("handshake "))
    assert "x timeout (no answer within 0.3 s" in line and "16#80C7" not in line


def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, store: CertStore, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = [
        (["127.0.0.1:0"], "outside 1..65535"),
        (["nohost"], "is not HOST:PORT"),
        (["127.0.0.1:2000", "--store", str(tmp_path / "none")], "no certificate store"),
        (
            [
                "127.0.0.1:1",
                "--store",
                str(store.path),
                "--size",
                "9000",
                "--family",
                "S7-1200",
                "--firmware",
                "V4.5",
            ],
            "16#8085",
        ),
    ]
    for args, text in cases:
        assert main(["load", *args]) == 2, args
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and text in err, (args, err)
    for args, text in [
        (["127.0.0.1:1", "--processes", "0"], "--processes"),
        (["127.0.0.1:1", "--seconds", "-1"], "--seconds"),
    ]:  # argparse's usage errors
        assert main(["load", *args]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and text in err, (args, err)


def test_processes_merge_through_a_subprocess(store: CertStore, accepting: PassiveEndpoint) -> None:
    """``--processes 2`` (spawned workers), run as users run it: the ``ouc`` command."""
    done = subprocess.run(
        [sys.executable, "-m", "ouc", "load", f"127.0.0.1:{accepting.port}", "--store",
         str(store.path), "--processes", "2", "--only", "handshake,echo", *TINY, "--json"],
        capture_output=True, text=True, timeout=180, check=False, env=dict(os.environ),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)["rows"]}
    for row in rows.values():
        assert row["processes"] == 2 and row["failed"] == 0
        assert row["accepted"] >= 2  # both processes contributed
    assert "handshake" in done.stderr  # progress goes to stderr, the JSON alone to stdout


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--seconds", "inf"),
        ("--timeout", "inf"),
        ("--max-ops", "99999999999"),
        ("--concurrency", "100000"),
    ],
)
def test_numbers_out_of_range_are_one_line_and_exit_2(
    flag: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["load", "127.0.0.1:1", flag, value]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and flag in err[0], err


class _NoOptions(socket.socket):
    """A connected socket on which setting an option fails (as on a peer that already left)."""

    def setsockopt(self, *args: Any) -> None:
        raise OSError(22, "Invalid argument")


def test_connect_failing_to_set_up_the_socket_is_an_ouc_error_and_closes_it(
    store: CertStore, accepting: PassiveEndpoint, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[socket.socket] = []

    def create_connection(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        sock = _NoOptions(socket.AF_INET, socket.SOCK_STREAM)
        made.append(sock)
        sock.connect(address)
        return sock

    monkeypatch.setattr("ouc.load._client.socket.create_connection", create_connection)
    client = LoadClient(TargetRecipe("127.0.0.1", accepting.port, store=str(store.path)).build())
    with pytest.raises(OucError) as info:
        client.connect()
    assert "Invalid argument" in str(info.value)
    (sock,) = made
    assert sock.fileno() == -1  # closed, not leaked


def test_a_row_where_nothing_ran_is_not_a_pass_in_json_table_and_exit_status(
    store: CertStore, accepting: PassiveEndpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    """A budget spent before the first operation started: 0 accepted and 0 failed is no pass."""
    args = ["load", f"127.0.0.1:{accepting.port}", "--store", str(store.path), "--only", "hand",
            "--seconds", "0.000000001", "--max-ops", "6", "--concurrency", "2"]  # fmt: skip
    assert main([*args, "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert main(args) == 1
    table = capsys.readouterr().out
    assert doc["ok"] is False
    assert [row["name"] for row in doc["rows"]] == ["handshake", "handshake-concurrent"]
    for row in doc["rows"]:
        assert (row["accepted"], row["failed"], row["ok"]) == (0, 0, False), row
        assert "nothing ran" in row["reason"] and "1e-09 s" in row["reason"]
        line = next(x for x in table.splitlines() if x.startswith(f"{row['name']} "))
        assert "nothing ran" in line and "not a pass" in line, line
    assert "every operation accepted" not in table
    assert "nothing ran in handshake, handshake-concurrent" in table
    assert accepting.served_total == 0  # the peer saw no connection either


def test_max_ops_is_exact_for_the_row_however_many_clients(
    store: CertStore, accepting: PassiveEndpoint, capsys: pytest.CaptureFixture[str]
) -> None:
    """--max-ops 3 with 8 clients: 3 handshakes in all (the clients share the count), 3 clients."""
    status = main(["load", f"127.0.0.1:{accepting.port}", "--store", str(store.path), "--only",
                   "handshake-concurrent", "--max-ops", "3", "--concurrency", "8",
                   "--seconds", "60", "--json"])  # fmt: skip
    (row,) = json.loads(capsys.readouterr().out)["rows"]
    assert status == 0, row
    assert (row["accepted"], row["failed"], row["clients"], row["ok"]) == (3, 0, 3, True), row
    assert "3 clients" in row["description"]


def test_concurrency_is_bounded_in_the_library_too() -> None:
    from ouc.errors import ConfigError
    from ouc.load._run import MAX_CONCURRENCY, LoadSettings

    assert LoadSettings(concurrency=MAX_CONCURRENCY).concurrency == MAX_CONCURRENCY
    with pytest.raises(ConfigError) as info:
        LoadSettings(concurrency=MAX_CONCURRENCY + 1)
    assert info.value.path == "--concurrency"


def test_output_is_checked_before_any_row_runs(
    tmp_path: Path, store: CertStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """A file that cannot be written is one line naming -o/--output, and no connection is made."""
    (tmp_path / "a-file").write_text("")
    cases = [
        (str(tmp_path / "missing" / "x.json"), "does not exist"),
        (str(tmp_path / "a-file" / "x.json"), "does not exist"),
        (str(tmp_path), "is a folder"),
        ("-", "--json"),
        ("/proc/ouc-load.json", "--output: cannot write"),  # a folder that takes no files
        (str(tmp_path / ("x" * 300)), "File name too long"),  # names the file, not the flag
    ]
    with socket.socket() as peer:  # the kernel would accept any connection into the backlog
        peer.bind(("127.0.0.1", 0))
        peer.listen(8)
        where = f"127.0.0.1:{peer.getsockname()[1]}"
        for path, text in cases:
            status = main(["load", where, "--store", str(store.path), "-o", path, "--seconds",
                           "2", "--max-ops", "1", "--timeout", "0.3"])  # fmt: skip
            err = capsys.readouterr().err.strip().splitlines()
            assert status == 2, (path, err)
            assert len(err) == 1 and text in err[0], (path, err)
            assert "--output" in err[0] or path in err[0], (path, err)
        peer.setblocking(False)
        with pytest.raises(BlockingIOError):
            peer.accept()  # nothing connected: no row ran
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a-file", "ouc-store"]  # none left


def test_output_file_holds_the_json_printed(
    tmp_path: Path,
    store: CertStore,
    accepting: PassiveEndpoint,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "load.json"
    status = main(["load", f"127.0.0.1:{accepting.port}", "--store", str(store.path), "--only",
                   "handshake", *TINY, "--json", "-o", str(out)])  # fmt: skip
    printed = json.loads(capsys.readouterr().out)
    assert status == 0 and json.loads(out.read_text()) == printed
    assert printed["rows"][0]["accepted"] >= 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["load.json", "ouc-store"]


def test_list_needs_no_target_and_a_run_does(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["load", "--list"]) == 0
    assert capsys.readouterr().out.split() == ["handshake", "handshake-concurrent", "echo-258"]
    assert main(["load", "--list", "--size", "16", "--size", "64", "--only", "echo"]) == 0
    assert capsys.readouterr().out.split() == ["echo-16", "echo-64"]
    assert main(["load", "--only", "handshake"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "HOST:PORT" in err[0] and "--list" in err[0], err


def test_help_says_what_every_column_means(capsys: pytest.CaptureFixture[str]) -> None:
    with contextlib.suppress(SystemExit):
        main(["load", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for column in ("accepted", "rate/s", "MB/s", "p50, p99", "failed"):
        assert f" {column} " in text, column
    for meaning in (
        "accepted operations per second of the row's wall time",
        "the processes' rates added up",
        "the payload in each direction",
        "1e6 bytes",
        "latency of accepted operations only",
        "by nearest rank",
        "pooled over all clients and processes",
        "Handshake rows time TCP connect, TLS handshake and the close_notify round trip",
        "echo rows time TSEND_C until the last byte of the reply",
        "An echo: its reply is the frame sent, byte for byte",
        "wrong-reply",
        "extra-bytes",
    ):
        assert meaning in text, meaning
