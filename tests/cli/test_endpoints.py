"""``ouc serve`` and ``ouc connect``: in-process against both drivers, and ``ouc serve`` as a
subprocess (its first line tells the port; it stops by itself after ``--count`` frames, and
cleanly on SIGTERM). Every wait is bounded; subprocesses are always killed at the end (the
``serve`` fixture, tests/cli/conftest.py).
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import socket
import struct
import threading
from pathlib import Path
from typing import Any

import pytest

from ouc.certs import CertStore
from ouc.cli import main
from ouc.drivers import (
    ActiveEndpoint,
    AsyncPassiveEndpoint,
    PassiveEndpoint,
    RecordKind,
    RecordLog,
    echo,
    example_pem,
    standard_example,
)

WAIT = 20.0


@pytest.mark.parametrize("driver", ["asyncio", "blocking"])
def test_serve_subprocess_and_connect_in_process(
    store: CertStore, serve: Any, capsys: pytest.CaptureFixture[str], driver: str
) -> None:
    proc, lines, port = serve.start(
        "--json", "--echo", "--count", "1", "--map", "192.168.0.2=127.0.0.2", "--driver", driver
    )
    status = main(
        [
            "connect",
            "--store",
            str(store.path),
            "--to",
            f"127.0.0.1:{port}",
            "--bind",
            "127.0.0.2",
            "--set",
            "Var2=Hi PLC",
            "--expect-reply",
            "--json",
        ]
    )
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert status == 0
    events = [doc["event"] for doc in out]
    # The server stops after its one frame, so its close may come in the same read as the
    # echo: "closed" is then recorded before the frame is taken out and printed.
    assert events[:3] == ["connecting", "connected", "sent"] and events[-1] == "sequences"
    assert sorted(events[3:5]) == ["closed", "frame"]
    assert out[1]["tls"]["version"] == "TLSv1.3" and out[1]["tls"]["peer_subject"] == "CN=PLC_1"
    frame = next(doc for doc in out if doc["event"] == "frame")
    assert frame["values"] == {"Var1": True, "Var2": "Hi PLC"}
    assert out[-1]["sequences"]["TSEND_C"][:7] == [
        "16#7000", "16#7001", "16#7002", "16#0001", "16#7004", "16#7005", "16#0000"
    ]  # fmt: skip
    assert proc.wait(WAIT) == 0  # --count 1: it stops by itself
    served = [json.loads(line) for line in lines.rest()]
    kinds = [doc["event"] for doc in served]
    assert kinds[:2] == ["connected", "frame"] and kinds[-1] == "stopped"
    assert served[0]["peer"].startswith("192.168.0.2:")  # the plant address, via --map
    assert served[0]["tls"]["peer_subject"] == "CN=PLC_2"
    assert served[1]["values"] == {"Var1": True, "Var2": "Hi PLC"}


@pytest.mark.parametrize("driver", ["asyncio", "blocking"])
def test_serve_reports_answers_to_a_partner_that_closed_as_lost_sends(
    store: CertStore, serve: Any, raw_tls: Any, tmp_path: Path, driver: str
) -> None:
    """A client that sends two frames and closes at once (one segment): ``ouc serve --echo``
    prints each lost answer as send-failed 16#80A3 with what was lost, not as a behaviour
    failure."""
    proc, lines, port = serve.start(
        "--json", "--echo", "--count", "2", "--map", "192.168.0.2=127.0.0.2", "--driver", driver
    )
    pem = example_pem(store, tmp_path / "pem")
    ctx = raw_tls.context(pem.ca, pem.client_cert, pem.client_key)
    assert raw_tls.send_then_close(ctx, ("127.0.0.1", port), bytes(258) * 2) == b""
    assert proc.wait(WAIT) == 0  # --count 2: both frames arrived
    served = [json.loads(line) for line in lines.rest()]
    lost = [doc for doc in served if doc["event"] == "send-failed"]
    assert [(doc["status"], doc["reason"]) for doc in lost] == [
        (
            "16#80A3",
            "answer of 258 bytes not sent: the connection had ended (the partner closed the "
            "connection)",
        )
    ] * 2
    assert "behaviour-failed" not in [doc["event"] for doc in served]


@pytest.mark.parametrize("driver", ["asyncio", "blocking"])
def test_serve_says_when_the_partner_reset_the_connection(
    store: CertStore, serve: Any, raw_tls: Any, tmp_path: Path, driver: str
) -> None:
    """A client that completes the handshake and then closes with SO_LINGER 0 (RST): the
    line's status is 16#80C5 as for a FIN, its reason says reset."""
    proc, lines, port = serve.start("--json", "--map", "192.168.0.2=127.0.0.2", "--driver", driver)
    pem = example_pem(store, tmp_path / "pem")
    ctx = raw_tls.context(pem.ca, pem.client_cert, pem.client_key)
    raw = socket.create_connection(
        ("127.0.0.1", port), timeout=WAIT, source_address=("127.0.0.2", 0)
    )
    tls = ctx.wrap_socket(raw)
    assert json.loads(lines.next())["event"] == "connected"
    tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    tls.close()
    ended = json.loads(lines.next())
    assert (ended["status"], ended["reason"]) == (
        "16#80C5",
        "the partner reset the connection (TCP RST)",
    ), ended
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(WAIT) == 0


def test_serve_stops_cleanly_on_sigterm(serve: Any) -> None:
    proc, lines, _ = serve.start("--json")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(WAIT) == 0
    assert "stopped" in lines.rest()[-1]


@pytest.mark.parametrize("driver", ["asyncio", "blocking"])
def test_serve_in_process_refuses_the_wrong_partner_with_a_hint(
    store: CertStore,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    driver: str,
) -> None:
    """``ouc serve`` in a thread, on either driver with the same lines: a client from
    127.0.0.1 is not partner 192.168.0.2."""
    started = threading.Event()
    ports: list[int] = []
    if driver == "blocking":
        real_start = PassiveEndpoint.start

        def start(self: PassiveEndpoint) -> PassiveEndpoint:
            real_start(self)
            ports.append(self.port)
            started.set()
            return self

        monkeypatch.setattr(PassiveEndpoint, "start", start)
    else:
        real_astart = AsyncPassiveEndpoint.start

        async def astart(self: AsyncPassiveEndpoint) -> AsyncPassiveEndpoint:
            await real_astart(self)
            ports.append(self.port)
            started.set()
            return self

        monkeypatch.setattr(AsyncPassiveEndpoint, "start", astart)
    result: list[int] = []
    args = ["serve", "--store", str(store.path), "--port", "0", "--count", "1"]
    args += ["--map", "192.168.0.2=127.0.0.2", "--driver", driver]
    server = threading.Thread(target=lambda: result.append(main(args)))
    server.start()
    try:
        assert started.wait(WAIT)
        to = f"127.0.0.1:{ports[0]}"
        wrong = main(["connect", "--store", str(store.path), "--to", to])
        right = main(["connect", "--store", str(store.path), "--to", to, "--bind", "127.0.0.2"])
    finally:
        server.join(WAIT)
    out, err = capsys.readouterr()
    assert (wrong, right) == (2, 0)
    assert not server.is_alive() and result == [0]  # --count 1 reached by the right partner
    # The refused client sees only a reset; its error says what would get it accepted (the
    # plant address comes from its own certificate 11's IP SAN).
    assert (
        "if the partner is at its connection limit (16#8087 on its side), close one; "
        "if it refused this device as its partner (16#80C9 on its side), connect "
        "from the plant address it expects: against a mock PLC on this host --own-ip "
        "192.168.0.2 --map 192.168.0.2=127.0.0.2, against a real one from the address its "
        "RemoteAddress names (16#80C5)"
    ) in err
    assert (
        "80C9 refused - partner 127.0.0.1 is not RemoteAddress 192.168.0.2 (reset); "
        "to accept it as the partner: --map 192.168.0.2=127.0.0.1"
    ) in out
    assert "received 258 bytes (RCVD_LEN 258)\n  Var1 = TRUE\n  Var2 = 'Hello World!'" in out


def connect_to(store: CertStore, port: int, *options: str) -> int:
    """``ouc connect`` from 127.0.0.2 (where the example's client PLC runs) to ``port``."""
    where = ["--to", f"127.0.0.1:{port}", "--bind", "127.0.0.2"]
    return main(["connect", "--store", str(store.path), *where, *options])


def test_connect_to_the_driver_with_hex_and_adhoc_reply(
    store: CertStore, capsys: pytest.CaptureFixture[str]
) -> None:
    setup = standard_example(store, receive_len=4)
    with PassiveEndpoint(setup.server, behaviour=echo(), address_map=setup.address_map) as srv:
        status = connect_to(
            store, srv.port, "--hex", "de:ad:be:ef", "--count", "2", "--expect-reply", "--adhoc"
        )
    out = capsys.readouterr().out
    assert status == 0
    assert out.count("received 4 bytes (RCVD_LEN 4)") == 2
    assert "de ad be ef" in out
    assert (
        "TSEND_C STATUS: 16#7000 → 16#7001 → 16#7002 → 16#0001 → 16#7004 → 16#7005 → 16#0000 → "
        "16#7004 → 16#7005" in out
    )


def test_connect_refused_is_one_line_80c4(
    store: CertStore, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        status = main(["connect", "--store", str(store.path), "--to", f"127.0.0.1:{port}"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1 and "16#80C4" in err and "Traceback" not in err


@pytest.mark.parametrize("as_json", [False, True])
def test_a_refused_connect_still_prints_the_status_sequences(
    store: CertStore, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    """No TCP connection, so no connection of the core: the sequences are the table's initial
    call and the failure, 16#7000 → 16#7001 → 16#7002 → 16#80C4 on both blocks."""
    expected = ["16#7000", "16#7001", "16#7002", "16#80C4"]
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
        argv = ["connect", "--store", str(store.path), "--to", f"127.0.0.1:{port}"]
        assert main([*argv, "--json"] if as_json else argv) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and "16#80C4" in err
    if as_json:
        last = json.loads(out.splitlines()[-1])
        assert last["event"] == "sequences"
        assert last["sequences"] == {"TSEND_C": expected, "TRCV_C": expected}
    else:
        assert out.splitlines()[-2:] == [
            f"PLC_2 {block} STATUS: {' → '.join(expected)}" for block in ("TSEND_C", "TRCV_C")
        ]


def test_missing_store_says_how_to_make_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["serve", "--store", str(tmp_path / "nowhere")])
    err = capsys.readouterr().err
    assert status == 2
    assert "ouc certs init" in err and "ouc demo --keep-store" in err


def test_wrong_side_blocks_and_bad_options(
    store: CertStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client_block = Path(__file__).parents[2] / "samples" / "standard_client.json"
    assert main(["serve", "--store", str(store.path), "--block", str(client_block)]) == 2
    assert "use 'ouc connect'" in capsys.readouterr().err
    server_block = Path(__file__).parents[2] / "samples" / "standard_server.json"
    assert main(["connect", "--store", str(store.path), "--block", str(server_block)]) == 2
    assert "use 'ouc serve'" in capsys.readouterr().err
    assert main(["connect", "--store", str(store.path), "--hex", "zz"]) == 2
    assert "--hex" in capsys.readouterr().err
    assert main(["connect", "--store", str(store.path), "--hex", "00", "--file", "x"]) == 2
    assert "give one of" in capsys.readouterr().err
    assert main(["serve", "--store", str(store.path), "--plc-time", "yesterday"]) == 2
    assert "--plc-time" in capsys.readouterr().err


def test_plc_clock_after_expiry_refuses_the_own_certificate(
    store: CertStore, capsys: pytest.CaptureFixture[str]
) -> None:
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3 * 365)).isoformat()
    assert main(["serve", "--store", str(store.path), "--plc-time", later]) == 2
    assert "16#80E5" in capsys.readouterr().err


def test_insecure_is_loud(store: CertStore, capsys: pytest.CaptureFixture[str]) -> None:
    log = RecordLog()
    setup = standard_example(store)
    with PassiveEndpoint(setup.server, address_map=setup.address_map, on_event=log) as srv:
        status = connect_to(store, srv.port, "--insecure")
        log.wait_for(RecordKind.CLOSED, timeout=WAIT)
    captured = capsys.readouterr()
    assert status == 0
    assert "NOT verified" in captured.err
    assert "INSECURE" in captured.out


def test_a_partner_at_its_limit_is_named_in_the_reset_hint(
    store: CertStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """A mock PLC with --max-connections 1 and one connection held resets the next partner
    before any TLS byte (16#8087 on its side): the client's error names the limit too."""
    log = RecordLog()
    setup = standard_example(store)
    with PassiveEndpoint(
        setup.server, address_map=setup.address_map, on_event=log, max_connections=1
    ) as srv:
        held = ActiveEndpoint(setup.client, address_map=setup.address_map, reconnect=False)
        held.connect()
        try:
            status = connect_to(store, srv.port, "--own-ip", "192.168.0.2")
            log.wait_for(RecordKind.LIMIT, timeout=WAIT)
        finally:
            held.close()
    err = capsys.readouterr().err
    assert status == 2
    assert "if the partner is at its connection limit (16#8087 on its side), close one" in err
    assert "16#80C9" not in err  # --own-ip given: the partner check is not the suspect


@pytest.mark.parametrize(
    "how", [["--driver", "asyncio"], ["--driver", "blocking"], ["--processes", "2"]]
)
def test_a_port_another_program_holds_is_80a1_with_what_to_do(
    store: CertStore, capsys: pytest.CaptureFixture[str], how: list[str]
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        args = ["serve", "--store", str(store.path), "--port", str(port), *how]
        assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert f"cannot listen on 127.0.0.1:{port}: Address already in use" in err
    assert "another endpoint or program on this host holds the port" in err
    assert err.rstrip().endswith("(16#80A1)")


@pytest.mark.parametrize("driver", ["asyncio", "blocking"])
def test_an_own_ip_without_its_map_is_named_when_the_partner_check_refuses(
    store: CertStore, serve: Any, capsys: pytest.CaptureFixture[str], driver: str
) -> None:
    """The likeliest slip: ``--own-ip 192.168.0.2`` without ``--map 192.168.0.2=127.0.0.2``.
    The mock PLC refuses the peer from 127.0.0.1 (16#80C9 on its side, a reset on this one);
    the error names the missing --map, then the same command with it gets through."""
    _, lines, port = serve.start("--json", "--map", "192.168.0.2=127.0.0.2", "--driver", driver)
    base = ["connect", "--store", str(store.path), "--to", f"127.0.0.1:{port}"]
    assert main([*base, "--own-ip", "192.168.0.2"]) == 2
    err = capsys.readouterr().err
    assert "16#80C9 on its side" in err and err.count("\n") == 1, err
    assert "--own-ip 192.168.0.2 is not run on this host by a --map" in err
    assert "--map 192.168.0.2=127.0.0.2" in err
    refused = json.loads(lines.next())
    assert (refused["event"], refused["status"]) == ("refused", "16#80C9")
    fixed = [*base, "--own-ip", "192.168.0.2", "--map", "192.168.0.2=127.0.0.2"]
    assert main(fixed) == 0, capsys.readouterr().err


def test_the_len_help_says_what_serve_receives_without_len(
    store: CertStore, serve: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --len, --db and --block, TRCV_C's LEN is Received_Data's 258 bytes, as the help
    says: 516 bytes sent at once arrive as two frames of 258 (ad hoc would not split them)."""
    assert main(["serve", "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "without --db and --block, the standard example's Received_Data, 258 bytes" in help_text
    proc, lines, port = serve.start("--json", "--count", "2", "--map", "192.168.0.2=127.0.0.2")
    assert connect_to(store, port, "--hex", "ab" * 516) == 0
    assert proc.wait(WAIT) == 0
    frames = [doc for doc in map(json.loads, lines.rest()) if doc["event"] == "frame"]
    assert [doc["rcvd_len"] for doc in frames] == [258, 258]


def test_serve_insecure_says_so_in_its_first_line_and_keeps_the_partner_check(
    store: CertStore, serve: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """--insecure switches off certificate verification, loudly (the listening line, as the
    connected lines), and not the partner check: a peer from an unmapped address is still
    refused with 16#80C9, as the warning says."""
    proc, lines = serve.popen("--port", "0", "--insecure")
    listening = lines.next()
    assert " listening on " in listening and listening.rstrip().endswith(
        "INSECURE (verification off)"
    ), listening
    proc.terminate()
    _, err = proc.communicate(timeout=WAIT)
    assert "the partner's certificate is NOT verified" in err
    assert "The partner check on RemoteAddress stays on (16#80C9)" in err
    assert "any partner is accepted" not in err

    proc, lines, port = serve.start("--json", "--insecure")  # 192.168.0.2 is not mapped
    assert connect_to(store, port, "--insecure") == 2  # from 127.0.0.2: not RemoteAddress
    refused = json.loads(lines.next())
    assert (refused["event"], refused["status"]) == ("refused", "16#80C9")
    warning = next(line for line in capsys.readouterr().err.splitlines() if "WARNING" in line)
    assert "NOT verified" in warning and "RemoteAddress" not in warning  # none on this side


def test_serve_insecure_json_listening_line_has_insecure(serve: Any) -> None:
    proc, lines = serve.popen("--port", "0", "--insecure", "--json")
    listening = json.loads(lines.next())
    assert listening["event"] == "listening" and listening["insecure"] is True
    proc.terminate()
    proc.communicate(timeout=WAIT)


def test_one_byte_is_one_byte_in_every_line(
    store: CertStore, serve: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """LEN 1 is a valid TSEND_C job: its lines say "1 byte", on both sides."""
    proc, lines = serve.popen(
        "--port", "0", "--adhoc", "--echo", "--count", "1", "--map", "192.168.0.2=127.0.0.2"
    )
    port = int(lines.next().split(" listening on ")[1].split()[0].rsplit(":", 1)[1])
    assert connect_to(store, port, "--hex", "ab", "--expect-reply", "--adhoc") == 0
    out = capsys.readouterr().out
    assert "16#0000 sent 1 byte (LEN 1)" in out and "received 1 byte (RCVD_LEN 1)" in out
    assert proc.wait(WAIT) == 0
    served = "".join(lines.rest())
    assert "received 1 byte (RCVD_LEN 1)" in served and "1 bytes" not in served + out
