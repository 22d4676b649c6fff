"""``ouc connect`` against a partner whose reply does not have --reply-len bytes, and the fields
of its "sent" and "frame" events (and of ``ouc serve``'s "frame").

Too long: the bytes beyond the frame are still unread when ``ouc connect`` closes, and the close
drops them, as TRCV_C's would: a line (and an "unread" event) says how many. Too short: TRCV_C
waits for the rest (16#7006); when --timeout runs out the error says how much arrived and what
to change, and ``--json`` gets a "timeout" event. The partner is a real PassiveEndpoint.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from ouc.certs import CertStore
from ouc.cli import main
from ouc.drivers import PassiveEndpoint, reply, standard_example

WAIT = 20.0
COMMON = ("event", "device", "block", "status", "peer", "local", "connection", "time")


def connect(store: CertStore, answer: bytes, *options: str) -> int:
    """``ouc connect --hex 414243 --expect-reply`` from 127.0.0.2 to a partner that answers
    every 3-byte frame with ``answer``."""
    setup = standard_example(store, receive_len=3)
    with PassiveEndpoint(
        setup.server, behaviour=reply(answer), address_map=setup.address_map
    ) as server:
        where = ["--to", f"127.0.0.1:{server.port}", "--bind", "127.0.0.2"]
        return main(
            [
                "connect",
                "--store",
                str(store.path),
                *where,
                "--hex",
                "414243",
                "--expect-reply",
                *list(options),
            ]
        )


def events(out: str) -> dict[str, dict[str, Any]]:
    return {doc["event"]: doc for doc in map(json.loads, out.splitlines())}


def test_a_reply_longer_than_reply_len_says_what_the_close_dropped(
    store: CertStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert connect(store, bytes(range(12)), "--reply-len", "7", "--json") == 0
    docs = events(capsys.readouterr().out)
    assert docs["frame"]["rcvd_len"] == 7
    unread = docs["unread"]
    assert (unread["block"], unread["size"]) == ("TRCV_C", 5), unread
    assert "--reply-len 7" in unread["reason"]
    assert set(COMMON) <= set(unread)

    assert connect(store, bytes(range(12)), "--reply-len", "7") == 0
    lines = capsys.readouterr().out.splitlines()
    (line,) = [x for x in lines if " unread " in x]
    assert line.startswith("PLC_2 TRCV_C 192.168.0.1:2000 16#")
    assert "5 bytes received and not read are dropped by the close" in line


def test_a_reply_of_the_right_length_leaves_nothing_unread(
    store: CertStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert connect(store, bytes(7), "--reply-len", "7", "--json") == 0
    assert "unread" not in events(capsys.readouterr().out)


def test_a_reply_shorter_than_reply_len_says_how_much_arrived(
    store: CertStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert connect(store, bytes(3), "--reply-len", "7", "--timeout", "3", "--json") == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert err.startswith("ouc: error: 3 of 7 bytes of the reply arrived in 3 s"), err
    assert "--reply-len 3" in err and "--adhoc" in err and "16#7006" in err
    docs = events(captured.out)
    assert "unread" not in docs  # the 3 bytes are the error's, not "a reply too long"
    timeout = docs["timeout"]
    assert (timeout["block"], timeout["status"], timeout["size"]) == ("TRCV_C", "16#7006", 3)
    assert timeout["seconds"] == 3.0 and set(COMMON) <= set(timeout)


def test_sent_and_frame_events_carry_the_common_fields(
    store: CertStore, capsys: pytest.CaptureFixture[str]
) -> None:
    assert connect(store, b"abc", "--reply-len", "3", "--json") == 0
    docs = events(capsys.readouterr().out)
    connected = docs["connected"]
    for name, block, size in (
        ("sent", "TSEND_C", ("len", 3)),
        ("frame", "TRCV_C", ("rcvd_len", 3)),
    ):
        doc = docs[name]
        assert set(COMMON) <= set(doc), doc
        assert (doc["block"], doc["status"], doc[size[0]]) == (block, "16#0000", size[1])
        assert (doc["peer"], doc["local"]) == (connected["peer"], connected["local"])
        assert doc["connection"] == connected["connection"] == 1
        assert dt.datetime.fromisoformat(doc["time"]) >= dt.datetime.fromisoformat(
            connected["time"]
        )


@pytest.mark.parametrize("driver", ["asyncio", "blocking"])
def test_serve_frame_events_carry_status_time_and_connection(
    store: CertStore, serve: Any, capsys: pytest.CaptureFixture[str], driver: str
) -> None:
    proc, lines, port = serve.start(
        "--json", "--echo", "--count", "1", "--map", "192.168.0.2=127.0.0.2", "--driver", driver
    )
    where = ["--to", f"127.0.0.1:{port}", "--bind", "127.0.0.2"]
    assert main(["connect", "--store", str(store.path), *where, "--expect-reply"]) == 0
    capsys.readouterr()
    assert proc.wait(WAIT) == 0
    served = {doc["event"]: doc for doc in map(json.loads, lines.rest())}
    frame, connected = served["frame"], served["connected"]
    assert (frame["block"], frame["status"]) == ("TRCV_C", "16#0000")
    assert frame["connection"] == connected["connection"] >= 1
    assert dt.datetime.fromisoformat(frame["time"]) >= dt.datetime.fromisoformat(connected["time"])


def test_without_expect_reply_replies_are_not_read_and_not_reported(
    store: CertStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """Replies the user did not ask for are left unread by design: no "unread" line, however
    many of them arrived before the close."""
    setup = standard_example(store, receive_len=3)
    with PassiveEndpoint(
        setup.server, behaviour=reply(bytes(range(12))), address_map=setup.address_map
    ) as server:
        where = ["--to", f"127.0.0.1:{server.port}", "--bind", "127.0.0.2"]
        argv = ["connect", "--store", str(store.path), *where, "--hex", "414243", "--json"]
        assert main([*argv, "--count", "3"]) == 0
    assert "unread" not in events(capsys.readouterr().out)
