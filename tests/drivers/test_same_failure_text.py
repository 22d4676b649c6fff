"""One failure, one text, on both drivers: the exception a call raises carries what the
connection's records say, not the raw errno text of whichever socket call noticed it first.

- A TLS 1.3 server that refuses ouc's client certificate sends an alert (unknown_ca) and then
  resets; ``send()`` raises the alert's reason and 16#80E4, as the records and the asyncio
  driver say it, not "Connection reset by peer (16#80C5)".
- A reset without an alert reads "the partner reset the connection (TCP RST)", the words of
  the records (``ouc.conn.partner_gone``).
- A refused connect reads "Connection refused" on both drivers (asyncio's own text is
  "Connect call failed ('127.0.0.1', 1)").

The partner is Python's ``ssl`` over real sockets on 127.0.0.1; certificates are made per test.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import socket
import ssl
import struct
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from aio_kit import client_spec, make_pki

from ouc.certs import CertStore, PrivateKey
from ouc.drivers import (
    ActiveEndpoint,
    AsyncActiveEndpoint,
    ExamplePem,
    RecordKind,
    RecordLog,
    example_pem,
    example_store,
    standard_example,
)
from ouc.errors import OucConnectionError, Status, TLSError

FRAME = bytes(258)
NOW = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
SHORT = 5.0  # seconds any one step may take


@contextmanager
def resetting_server(
    pem: ExamplePem, client_ca: Path
) -> Iterator[tuple[tuple[str, int], threading.Event]]:
    """A TLS 1.3 server (certificate 9) that requires a client certificate from ``client_ca``
    and resets (SO_LINGER 0) its one connection right after the handshake, failed or not. The
    event is set once it was reset."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(pem.server_cert, pem.server_key)
    ctx.load_verify_locations(client_ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    reset = threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as lsock:
        lsock.settimeout(SHORT)

        def serve() -> None:
            try:
                raw, _ = lsock.accept()
            except OSError:
                return
            raw.settimeout(SHORT)
            tls = ctx.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
            # TLS 1.3: the client's certificate is judged after the client's Finished, when
            # the client has already reported its connection established.
            with contextlib.suppress(OSError):
                tls.do_handshake()  # refused: the alert has gone out
            tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            tls.close()
            reset.set()

        thread = threading.Thread(target=serve)
        thread.start()
        try:
            yield lsock.getsockname()[:2], reset
        finally:
            thread.join(SHORT + 1)


@pytest.fixture
def pem(store: CertStore, tmp_path: Path) -> ExamplePem:
    return example_pem(store, tmp_path / "pem")


@pytest.fixture
def stranger_ca(tmp_path: Path, ca_keys: tuple[PrivateKey, PrivateKey]) -> Path:
    """CA 3 of another project: it does not know ouc's certificate 11."""
    other = example_store(tmp_path / "other", now=NOW, default_ca_keys=ca_keys)
    return example_pem(other, tmp_path / "other-pem").ca


def blocking_client(
    store: CertStore, address: tuple[str, int], log: RecordLog, *, session_reuse: bool
) -> ActiveEndpoint:
    """The example's TLS client; no watcher, so ``send()`` is the first to find the failure:
    with ``session_reuse`` while it looks for a session ticket before sending, without it in
    ``sendall`` (ECONNRESET)."""
    setup = standard_example(store)
    return ActiveEndpoint(
        setup.client,
        address_map=setup.address_map,
        connect_to=address,
        reconnect=False,
        watch=False,
        session_reuse=session_reuse,
        on_event=log,
    )


@pytest.mark.parametrize("session_reuse", [False, True])
def test_send_raises_the_alert_the_partner_sent_before_its_reset(
    store: CertStore, pem: ExamplePem, stranger_ca: Path, session_reuse: bool
) -> None:
    log = RecordLog()
    with resetting_server(pem, stranger_ca) as (address, reset):
        client = blocking_client(store, address, log, session_reuse=session_reuse)
        try:
            client.connect(timeout=SHORT)  # TLS 1.3: done for the client before the verdict
            assert reset.wait(SHORT)
            with pytest.raises(TLSError) as info:
                client.send(FRAME)
        finally:
            client.close()
    error = info.value
    assert error.status == Status.TLS_NO_VALID_CA
    assert str(error).endswith("peer sent TLS alert unknown_ca (16#80E4)")
    failed = [r for r in log.records if r.kind is RecordKind.FAILED]
    assert [(r.status, r.reason) for r in failed] == [
        (Status.TLS_NO_VALID_CA, "peer sent TLS alert unknown_ca")
    ]


@pytest.mark.parametrize("session_reuse", [False, True])
def test_send_to_a_partner_that_reset_says_so_in_the_records_words(
    store: CertStore, pem: ExamplePem, session_reuse: bool
) -> None:
    log = RecordLog()
    with resetting_server(pem, pem.ca) as (address, reset):  # knows certificate 11: no alert
        client = blocking_client(store, address, log, session_reuse=session_reuse)
        try:
            client.connect(timeout=SHORT)
            assert reset.wait(SHORT)
            with pytest.raises(OucConnectionError) as info:
                client.send(FRAME)
        finally:
            client.close()
    assert info.value.status == Status.PARTNER_CLOSED
    assert str(info.value).endswith("the partner reset the connection (TCP RST) (16#80C5)")
    assert "Connection reset by peer" not in str(info.value)


@pytest.fixture
def refusing() -> Iterator[tuple[str, int]]:
    """A bound port nobody listens on: a connect to it is refused (RST)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[:2]


@pytest.mark.parametrize("driver", ["blocking", "asyncio"])
def test_a_refused_connect_reads_the_same_on_both_drivers(
    driver: str, refusing: tuple[str, int]
) -> None:
    spec = client_spec(make_pki())
    host, port = refusing
    if driver == "blocking":
        client = ActiveEndpoint(spec, connect_to=refusing, watch=False)
        try:
            with pytest.raises(OucConnectionError) as info:
                client.connect(timeout=SHORT)
        finally:
            client.close()
        error = info.value
    else:

        async def main() -> OucConnectionError:
            aclient = AsyncActiveEndpoint(spec, connect_to=refusing)
            try:
                with pytest.raises(OucConnectionError) as caught:
                    await aclient.connect(timeout=SHORT)
            finally:
                await aclient.close()
            return caught.value

        error = asyncio.run(asyncio.wait_for(main(), SHORT * 2))
    assert str(error) == f"cannot connect to {host}:{port}: Connection refused (16#80C4)"
    assert error.status == Status.TEMPORARY
