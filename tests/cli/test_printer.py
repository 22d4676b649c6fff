"""The status printer of ``ouc serve``/``ouc connect`` with text a stream cannot encode.

A WString from a peer may hold any UTF-16 code unit, a lone surrogate (U+D800..DFFF) too,
which no UTF-8 stream can encode. ``ouc serve --db`` must still print that frame's record, and
one line that cannot be encoded must never cost the other lines of its batch. The peer is a
real TLS client (Python's ``ssl``, the example's client certificate 11) connecting from
127.0.0.2, which ``--map`` makes the partner's plant address 192.168.0.2; every wait is bounded
and the server subprocess is killed at the end (the ``serve`` fixture).
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import socket
import ssl
import sys
from pathlib import Path
from typing import Any

import pytest

from ouc.certs import CertStore
from ouc.cli._printer import Printer, whole_lines
from ouc.drivers import example_pem

WAIT = 20.0
LONE_SURROGATE = bytes.fromhex("00020001d83d0000")  # WString[2] holding U+D83D alone


def send_frame(store: CertStore, folder: Path, port: int, frame: bytes) -> None:
    """Connect like the client PLC over TLS, send ``frame`` and close."""
    pem = example_pem(store, folder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # certificate 9 names 192.168.0.1, we reach it on loopback
    context.load_verify_locations(pem.ca)
    context.load_cert_chain(pem.client_cert, pem.client_key)
    sock = socket.create_connection(
        ("127.0.0.1", port), timeout=WAIT, source_address=("127.0.0.2", 0)
    )
    with context.wrap_socket(sock) as tls:
        tls.sendall(frame)


@pytest.mark.parametrize("as_json", [False, True])
def test_serve_db_prints_a_frame_holding_a_lone_surrogate(
    store: CertStore,
    serve: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    as_json: bool,
) -> None:
    monkeypatch.setenv("PYTHONIOENCODING", "utf-8")  # strict UTF-8 stdout, whatever the locale
    layout = tmp_path / "w.scl"
    layout.write_text("W : WString[2];\n")
    args = ["--port", "0", "--db", str(layout), "--count", "1", "--map", "192.168.0.2=127.0.0.2"]
    proc, lines = serve.popen(*args, *(["--json"] if as_json else []))
    first = lines.next()
    found = re.search(r"listening on 127\.0\.0\.1:(\d+)", first)
    port = json.loads(first)["local"].rsplit(":", 1)[1] if as_json else found and found[1]
    assert port, first
    send_frame(store, tmp_path / "pem", int(port), LONE_SURROGATE)
    assert proc.wait(WAIT) == 0  # --count 1: it stops after the frame
    out = lines.rest()
    assert proc.stderr is not None
    assert proc.stderr.read() == ""  # no "Exception in callback Printer.flush()" traceback
    if as_json:
        docs = [json.loads(line) for line in out]
        frames = [doc for doc in docs if doc["event"] == "frame"]
        assert [doc["values"] for doc in frames] == [{"W": "\ud83d"}]
        assert [doc["event"] for doc in docs][-1] == "stopped"
        return
    text = "".join(out)
    assert "16#0000 received 8 bytes (RCVD_LEN 8)\n  W = WSTRING#'$D83D'\n" in text
    assert "16#0001 connected" in text and out[-1].endswith("stopped\n")


@pytest.mark.parametrize("merged", [False, True])
@pytest.mark.parametrize("encoding", ["utf-8", "ascii"])
def test_one_line_that_cannot_be_encoded_costs_no_other_line(
    monkeypatch: pytest.MonkeyPatch, merged: bool, encoding: str
) -> None:
    """A batch of three lines through a real pipe: the bad one is escaped, none is lost."""
    read_fd, write_fd = os.pipe()
    with open(read_fd, "rb") as reader, open(write_fd, "wb") as raw:
        stdout = io.TextIOWrapper(raw, encoding=encoding)  # strict, like a UTF-8 terminal's
        monkeypatch.setattr(sys, "stdout", stdout)
        errors: list[dict[str, Any]] = []
        loop = asyncio.new_event_loop()
        try:
            loop.set_exception_handler(lambda _, context: errors.append(context))
            printer = Printer(as_json=False, merged=merged)
            printer.batch(loop)
            for text in ("first", "bad \ud83d ä", "third"):
                printer.line(text)
            loop.call_soon(loop.stop)  # after the flush the lines scheduled
            loop.run_forever()
        finally:
            loop.close()
        assert errors == []
        stdout.flush()
        stdout.detach()
        raw.close()
        # Strict: only encodable text was written (a merged stream is written as UTF-8).
        got = reader.read().decode("utf-8" if merged else encoding)
    bad = "bad \\ud83d ä" if encoding == "utf-8" or merged else "bad \\ud83d \\xe4"
    assert got == f"first\n{bad}\nthird\n"


def test_merged_chunks_escape_a_bad_line_instead_of_failing() -> None:
    chunks = list(whole_lines(["a\n", "b \udc80\n", "c\n"], 512))
    assert b"".join(chunks) == b"a\nb \\udc80\nc\n"
