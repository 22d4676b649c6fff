"""A partner that resets the connection (TCP RST) is told apart from one that closes it (FIN).

A real S7 CPU resets on COM_RST and on its strict failures; a peer closing with SO_LINGER 0 does
the same. ouc reports both ends with 16#80C5 (the TIA help has no other code for a partner that
went away) and the same record kind and STATUS sequences; only the reason differs: "the partner
reset the connection (TCP RST)" instead of "the partner closed the connection". Each test runs
one FIN peer and one RST peer against ouc, on both drivers, over plain TCP and over TLS, on real
sockets on 127.0.0.1; every wait is bounded and wakes on a record or a socket event.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import select
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from ouc.drivers import EndpointRecord, RecordKind
from ouc.errors import OucError, Status
from ouc.params import STANDARD_CLIENT, STANDARD_SERVER
from ouc.pytest_plugin import ActiveFactory, PemFiles
from ouc.strategies import client_hello

FRAME = 258
WAIT = 10.0
ENDED = (RecordKind.FAILED, RecordKind.CLOSED)
CLOSED = "the partner closed the connection"
RESET = "the partner reset the connection (TCP RST)"
HALF = FRAME // 2
DROPPED = f" ({HALF} bytes of an incomplete frame were dropped)"
BLOCKS = {
    "tcp": (
        dataclasses.replace(STANDARD_SERVER, ActivateSecureConn=False),
        dataclasses.replace(STANDARD_CLIENT, ActivateSecureConn=False),
    ),
    "tls": (STANDARD_SERVER, STANDARD_CLIENT),
}


def _same_end_but_the_reason(closed: EndpointRecord, reset: EndpointRecord) -> None:
    assert closed.status == reset.status == Status.PARTNER_CLOSED, (closed.line(), reset.line())
    assert closed.kind is reset.kind
    assert dict(closed.sequences) == dict(reset.sequences)
    assert not reset.reset  # the partner reset it; ouc did not


def _tickets_arrived(tls: ssl.SSLSocket) -> None:
    """Wait until the server's TLS 1.3 session tickets have arrived (bounded by WAIT).

    The server records CONNECTED and only then writes its tickets, its last bytes before it
    waits for frames. A reset that reaches it before that write makes the write fail, and the
    server ends the connection there without reading what came before the reset (the half
    frame): a race between the test's thread and the server's, not the end the test is
    about. Once the tickets are here, the server writes nothing more and reads what comes."""
    tls.setblocking(False)
    deadline = time.monotonic() + WAIT
    try:
        while not (tls.session is not None and tls.session.has_ticket):
            remaining = deadline - time.monotonic()
            assert remaining > 0, "the server's session tickets did not arrive"
            select.select([tls], [], [], remaining)
            with contextlib.suppress(ssl.SSLWantReadError):
                tls.recv(1)  # handles the tickets; no application data comes
    finally:
        tls.settimeout(WAIT)


# --------------------------------------------------------------------------- ouc is the server


@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_the_server_tells_a_partner_reset_from_a_close(
    server: Any, hostile: Any, ouc_active: ActiveFactory, transport: str
) -> None:
    """Half a frame, then FIN (one peer) or RST (another): 16#80C5 both times, and the reason
    says which, with the dropped half frame named as before."""
    plc = server(block=BLOCKS[transport][0])
    ends = {}
    for how in ("fin", "rst"):
        sock = hostile.tls(plc.address) if transport == "tls" else hostile.raw(plc.address)
        peer = hostile.peer_text(sock)
        plc.log.wait_for(
            lambda r, peer=peer: r.peer == peer and r.kind is RecordKind.CONNECTED, timeout=WAIT
        )
        if transport == "tls":
            _tickets_arrived(sock)
        sock.sendall(os.urandom(HALF))  # on loopback it is queued before the FIN or RST
        if how == "rst":
            hostile.reset(sock)
        else:
            # FIN alone (no close_notify), and read to the end before closing: a socket closed
            # with unread bytes (the server's TLS 1.3 tickets) makes the kernel send RST.
            sock.shutdown(socket.SHUT_WR)
            hostile.read_to_eof(sock)
            sock.close()
        ends[how] = hostile.ended(plc.log, peer)
    assert ends["fin"].reason == CLOSED + DROPPED, ends["fin"].line()
    assert ends["rst"].reason == RESET + DROPPED, ends["rst"].line()
    _same_end_but_the_reason(ends["fin"], ends["rst"])
    plc.stop()


def test_a_reset_during_the_tls_handshake_says_reset(server: Any, hostile: Any) -> None:
    """The ClientHello, the server's flight on its way, then RST: 16#80C5 at once (not at the
    handshake timeout), and the reason says the partner reset it during the handshake."""
    plc = server(handshake_timeout=5.0)
    sock = hostile.raw(plc.address)
    peer = hostile.peer_text(sock)
    sock.sendall(client_hello(0x0304))
    assert sock.recv(5)[:1] == b"\x16"  # the server's flight has begun
    hostile.reset(sock)
    record = hostile.ended(plc.log, peer)
    assert record.status == Status.PARTNER_CLOSED, record.line()
    assert record.reason == RESET + " during the TLS handshake", record.line()
    plc.stop()


# --------------------------------------------------------------------------- ouc is the client


class _Peer:
    """A partner server on 127.0.0.1 port 0 for one connection: it accepts (and completes the
    TLS handshake as certificate 9), waits until told, then closes with FIN or resets."""

    def __init__(self, pem: PemFiles, transport: str, how: str) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(WAIT)
        self.address = self.listener.getsockname()
        self.context: ssl.SSLContext | None = None
        if transport == "tls":
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(pem.server_cert, pem.server_key)
        self.how = how
        self.go = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, name="reset-peer")
        self.thread.start()

    def _serve(self) -> None:
        try:
            sock, _ = self.listener.accept()
            sock.settimeout(WAIT)
            if self.context is not None:
                sock = self.context.wrap_socket(sock, server_side=True)
            assert self.go.wait(WAIT), "never told to end the connection"
            if self.how == "rst":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # an ssl socket closes without close_notify: FIN or RST alone
        except BaseException as exc:  # handed to the test, which fails with it
            self.error = exc

    def end(self) -> None:
        self.go.set()

    def join(self) -> None:
        self.go.set()
        self.thread.join(WAIT)
        self.listener.close()
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error


@pytest.fixture
def peer(ouc_pem: PemFiles) -> Any:
    made: list[_Peer] = []

    def make(transport: str, how: str) -> _Peer:
        made.append(_Peer(ouc_pem, transport, how))
        return made[-1]

    yield make
    for item in made:
        item.join()


def _client_end(how: str, record: EndpointRecord) -> None:
    assert record.status == Status.PARTNER_CLOSED, record.line()
    assert record.reason == (RESET if how == "rst" else CLOSED), record.line()
    assert not record.reset


@pytest.mark.parametrize("how", ["fin", "rst"])
@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_the_blocking_client_tells_a_partner_reset_from_a_close(
    ouc_active: ActiveFactory, peer: Callable[[str, str], _Peer], transport: str, how: str
) -> None:
    partner = peer(transport, how)
    client = ouc_active(partner.address, block=BLOCKS[transport][1], reconnect=False)
    log = ouc_active.log(client)
    log.wait_for(RecordKind.CONNECTED, timeout=WAIT)
    partner.end()
    _client_end(how, log.wait_for(lambda r: r.kind in ENDED, timeout=WAIT))
    partner.join()


@pytest.mark.asyncio
@pytest.mark.parametrize("how", ["fin", "rst"])
@pytest.mark.parametrize("transport", ["tcp", "tls"])
async def test_the_asyncio_client_tells_a_partner_reset_from_a_close(
    ouc_async_active: Any, peer: Callable[[str, str], _Peer], transport: str, how: str
) -> None:
    partner = peer(transport, how)
    client = await ouc_async_active(partner.address, block=BLOCKS[transport][1], reconnect=False)
    log = ouc_async_active.log(client)
    await log.wait_for(RecordKind.CONNECTED, timeout=WAIT)
    partner.end()
    _client_end(how, await log.wait_for(lambda r: r.kind in ENDED, timeout=WAIT))


class _HelloResetter:
    """A partner server on 127.0.0.1 port 0 that accepts one connection, reads the start of
    the ClientHello and resets (SO_LINGER 0): a TLS handshake the partner breaks off by RST."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(WAIT)
        self.address = self.listener.getsockname()
        self.first: bytes = b""
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._serve, name="hello-resetter")
        self.thread.start()

    def _serve(self) -> None:
        try:
            sock, _ = self.listener.accept()
            sock.settimeout(WAIT)
            self.first = sock.recv(5)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        except BaseException as exc:  # handed to the test, which fails with it
            self.error = exc

    def join(self) -> None:
        self.thread.join(WAIT)
        self.listener.close()
        assert not self.thread.is_alive()
        if self.error is not None:
            raise self.error
        assert self.first[:1] == b"\x16"  # it reset a TLS handshake, not a silent socket


def _handshake_reset(error: OucError, record: EndpointRecord, sequence: str) -> None:
    """What a partner's reset during the handshake looks like from ouc's client side: the
    same on both drivers (the exception, its record, and TSEND_C's STATUS sequence)."""
    assert error.status == Status.PARTNER_CLOSED, error
    assert RESET + " during the TLS handshake" in error.message, error
    assert record.status == Status.PARTNER_CLOSED, record.line()
    assert record.reason == RESET + " during the TLS handshake", record.line()
    assert sequence.endswith("80C5"), sequence


def test_the_blocking_client_says_reset_when_the_partner_resets_its_handshake(
    ouc_active: ActiveFactory,
) -> None:
    partner = _HelloResetter()
    client = ouc_active(partner.address, connect=False, reconnect=False, connect_timeout=WAIT)
    with pytest.raises(OucError) as caught:
        client.connect()
    partner.join()
    (record,) = ouc_active.log(client).of(RecordKind.FAILED)
    _handshake_reset(caught.value, record, client.format_sequence("TSEND_C"))


@pytest.mark.asyncio
async def test_the_asyncio_client_says_reset_when_the_partner_resets_its_handshake(
    ouc_async_active: Any,
) -> None:
    partner = _HelloResetter()
    client = await ouc_async_active(
        partner.address, connect=False, reconnect=False, connect_timeout=WAIT
    )
    with pytest.raises(OucError) as caught:
        await client.connect()
    partner.join()
    (record,) = ouc_async_active.log(client).of(RecordKind.FAILED)
    _handshake_reset(caught.value, record, client.format_sequence("TSEND_C"))
