"""Handshake faults as a peer's test suite uses them: a Python ``ssl`` client (and server) facing
a mock PLC that aborts or stalls its TLS handshake at a named point."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import threading

import pytest

from ouc.drivers import RecordKind
from ouc.errors import ConfigError, OucError
from ouc.pytest_plugin import Faults, PemFiles

POINTS = ("after_client_hello", "after_server_flight", "before_finished")
WAIT = 10.0


def client_context(pem: PemFiles, version: str) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pem.ca)
    context.load_cert_chain(pem.client_cert, pem.client_key)
    if version == "1.2":
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


def exchange(address: tuple[str, int], pem: PemFiles, version: str, timeout: float = WAIT) -> bytes:
    """The peer's blocking client: handshake, one frame out; returns what came back (b"": the
    connection ended, ``ssl`` reports an end without close_notify so by default)."""
    with socket.create_connection(address, timeout=timeout) as raw:
        tls = client_context(pem, version).wrap_socket(
            raw, server_hostname="192.168.0.1", do_handshake_on_connect=False
        )
        with tls:
            tls.do_handshake()
            tls.sendall(b"\x01" * 258)
            return tls.recv(258)


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_abort_sends_an_alert_under_the_compatible_profile(
    ouc_passive, ouc_pem: PemFiles, point: str, version: str
) -> None:
    plc = ouc_passive(faults=Faults(handshake_abort=point))
    with pytest.raises(ssl.SSLError) as info:
        exchange(plc.address, ouc_pem, version)
    # An alert from the PLC's TLS stack, not an EOF or a reset.
    assert not isinstance(info.value, ssl.SSLEOFError)
    assert info.value.reason is not None and "ALERT" in info.value.reason
    failed = ouc_passive.log(plc).wait_for(RecordKind.FAILED, timeout=WAIT)
    assert failed.reason == f"fault: handshake abort {point.replace('_', ' ')}"
    assert not failed.reset


@pytest.mark.parametrize("point", POINTS)
def test_abort_resets_under_the_strict_profile_tls12(
    ouc_passive, ouc_pem: PemFiles, point: str
) -> None:
    plc = ouc_passive(faults=Faults(handshake_abort=point), profile="strict")
    with pytest.raises(ConnectionResetError):
        exchange(plc.address, ouc_pem, "1.2")
    assert ouc_passive.log(plc).wait_for(RecordKind.FAILED, timeout=WAIT).reset


@pytest.mark.parametrize("point", ["after_server_flight", "before_finished"])
def test_strict_reset_after_a_tls13_client_finished_its_handshake(
    ouc_passive, ouc_pem: PemFiles, point: str
) -> None:
    # TLS 1.3: the client is done after its own Finished, before the PLC accepted it. The reset
    # reaches the client's first send or receive: SSLEOFError or ConnectionResetError, or an
    # empty receive (ssl's suppress_ragged_eofs), by timing. All three mean "the PLC hung up".
    plc = ouc_passive(faults=Faults(handshake_abort=point), profile="strict")
    try:
        answer = exchange(plc.address, ouc_pem, "1.3")
    except (ssl.SSLEOFError, ConnectionResetError, BrokenPipeError):
        pass
    else:
        assert answer == b""
    assert ouc_passive.log(plc).wait_for(RecordKind.FAILED, timeout=WAIT).reset


@pytest.mark.parametrize("point", POINTS)
def test_stall_leaves_the_client_waiting(ouc_passive, ouc_pem: PemFiles, point: str) -> None:
    plc = ouc_passive(faults=Faults(handshake_stall=point), handshake_timeout=30)
    with pytest.raises(TimeoutError):
        exchange(plc.address, ouc_pem, "1.2", timeout=0.5)  # the client's own timeout fires
    assert not ouc_passive.log(plc).of(RecordKind.CONNECTED)


def test_stall_ends_at_the_plc_handshake_timeout(ouc_passive, ouc_pem: PemFiles) -> None:
    plc = ouc_passive(faults=Faults(handshake_stall="after_client_hello"), handshake_timeout=0.5)
    with pytest.raises(ssl.SSLEOFError):  # the PLC closed (FIN) without a word
        exchange(plc.address, ouc_pem, "1.3")
    failed = ouc_passive.log(plc).wait_for(RecordKind.FAILED, timeout=WAIT)
    assert failed.status == 0x80C4  # inference: "cannot be established now"; no timeout code
    assert failed.sequences["TRCV_C"] == "7000 → 7001 → 7002 → 80C4"


def test_connections_after_the_faulty_one_fail_too(ouc_passive, ouc_pem: PemFiles) -> None:
    plc = ouc_passive(faults=Faults(handshake_abort="after_client_hello"))
    for _ in range(2):
        with pytest.raises(ssl.SSLError):
            exchange(plc.address, ouc_pem, "1.3")


@pytest.mark.asyncio
async def test_asyncio_client_sees_the_alert(ouc_async_passive, ouc_pem: PemFiles) -> None:
    plc = await ouc_async_passive(faults=Faults(handshake_abort="after_client_hello"))
    with pytest.raises(ssl.SSLError) as info:
        await asyncio.open_connection(
            *plc.address, ssl=client_context(ouc_pem, "1.3"), server_hostname="192.168.0.1"
        )
    assert info.value.reason is not None and "ALERT" in info.value.reason


class PeerServer:
    """The peer's own TLS server (Python ``ssl``), for the mock client PLC's faults."""

    def __init__(self, pem: PemFiles, version: str) -> None:
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(pem.server_cert, pem.server_key)
        self.context.load_verify_locations(pem.ca)
        self.context.verify_mode = ssl.CERT_REQUIRED
        if version == "1.2":
            self.context.maximum_version = ssl.TLSVersion.TLSv1_2
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(WAIT)
        self.address = self.listener.getsockname()
        self.seen: BaseException | None = None
        self.thread = threading.Thread(target=self._serve)
        self.thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(TimeoutError):
            conn, _ = self.listener.accept()
            conn.settimeout(WAIT)
            try:
                with self.context.wrap_socket(conn, server_side=True) as tls:
                    tls.recv(1)
            except (OSError, ssl.SSLError) as exc:
                self.seen = exc

    def close(self) -> None:
        self.thread.join(WAIT)
        self.listener.close()


@pytest.mark.parametrize(
    ("profile", "point", "expected"),
    [
        ("compatible", "after_server_flight", ssl.SSLError),
        ("strict", "after_server_flight", ConnectionResetError),
        ("strict", "before_finished", ConnectionResetError),
        ("compatible", "before_finished", ssl.SSLEOFError),
    ],
)
@pytest.mark.parametrize("version", ["1.2", "1.3"])
def test_a_peer_server_sees_the_client_plc_abort(
    ouc_active, ouc_pem: PemFiles, profile: str, point: str, expected: type, version: str
) -> None:
    server = PeerServer(ouc_pem, version)
    try:
        with pytest.raises(OucError):
            ouc_active(
                server.address,
                faults=Faults(handshake_abort=point),
                profile=profile,
                reconnect=False,
            )
    finally:
        server.close()
    assert isinstance(server.seen, expected)


def test_unknown_points_are_refused() -> None:
    with pytest.raises(ConfigError, match="handshake_abort must be one of after_client_hello"):
        Faults(handshake_abort="after_hello")
    with pytest.raises(ConfigError, match="exclude each other"):
        Faults(handshake_abort="before_finished", handshake_stall="before_finished")


def test_the_first_two_handshakes_fail_then_the_retry_works(ouc_passive, ouc_pem: PemFiles) -> None:
    # A client's retry logic: two refused handshakes, then a working connection.
    plc = ouc_passive(faults=Faults.first(2, Faults(handshake_abort="after_client_hello")))
    for _ in range(2):
        with pytest.raises(ssl.SSLError):
            exchange(plc.address, ouc_pem, "1.3")
    assert exchange(plc.address, ouc_pem, "1.3") == b"\x01" * 258
