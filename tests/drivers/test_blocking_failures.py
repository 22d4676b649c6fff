"""The blocking driver when things go wrong: timeouts, TLS failures, resets, re-establishment.

Short timeouts (0.2-0.3 s) keep these fast; every wait is bounded and wakes on the event it
waits for (``RecordLog.wait_for``), never on a sleep.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import socket
import ssl
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ouc.certs import BadCertFactory, CertStore, resolve
from ouc.conn import ALLOWED_STATUS, FrameReceived
from ouc.device import Device
from ouc.drivers import (
    ActiveEndpoint,
    EndpointRecord,
    EndpointSpec,
    ExampleSetup,
    PassiveEndpoint,
    PeerContext,
    RecordKind,
    RecordLog,
    echo,
    example_pem,
    standard_example,
)
from ouc.errors import OucConnectionError, OucError, Status, TLSError, WaitTimeoutError
from ouc.params import STANDARD_CLIENT, STANDARD_SERVER

WAIT = 10.0
NOW = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
CLOSE = 0xFF  # a frame starting with this byte makes the test server close the connection


@pytest.fixture
def setup(store: CertStore) -> ExampleSetup:
    return standard_example(store)


def echo_or_close(frame: FrameReceived, peer: PeerContext) -> bytes | None:
    """Echo, except that a frame starting with CLOSE closes the connection (CONT 1→0)."""
    if frame.data[0] == CLOSE:
        peer.connection.close(time.monotonic())
        return None
    return frame.data


def test_handshake_timeout_frees_the_slot(store: CertStore) -> None:
    log = RecordLog()
    setup = standard_example(store, server_options={"handshake_timeout": 0.2})
    with PassiveEndpoint(
        setup.server, address_map=setup.address_map, on_event=log, max_connections=1
    ) as server:
        where = ("127.0.0.1", server.port)
        with socket.create_connection(where, WAIT, ("127.0.0.2", 0)) as silent:
            failed = log.wait_for(RecordKind.FAILED, timeout=WAIT)
            assert silent.recv(100) == b""  # closed by the server, no TLS byte ever sent
        # The slot is free again: a real client is served.
        with ActiveEndpoint(setup.client, address_map=setup.address_map):
            log.wait_for(RecordKind.CONNECTED, timeout=WAIT)
    # Inference (no timeout code in the help): 80C4, "cannot be established now".
    assert failed.status == Status.TEMPORARY
    assert "not established within 0.2 s" in failed.reason
    assert failed.sequences["TRCV_C"] == "7000 → 7001 → 7002 → 80C4"


def test_idle_timeout_drops_a_silent_partner(store: CertStore) -> None:
    server_log, client_log = RecordLog(), RecordLog()
    setup = standard_example(store, server_options={"idle_timeout": 0.3})
    with PassiveEndpoint(setup.server, address_map=setup.address_map, on_event=server_log):
        client = ActiveEndpoint(
            setup.client, address_map=setup.address_map, reconnect=False, on_event=client_log
        )
        with client:
            # Traffic keeps the connection alive past one idle period ...
            client.send(bytes(258))
            failed = server_log.wait_for(RecordKind.FAILED, timeout=WAIT)
            # ... and the client, not reading, still learns of the drop (its watcher).
            closed = client_log.wait_for(RecordKind.CLOSED, timeout=WAIT)
    # Inference: a silent partner is a network error, partner unreachable (80C6).
    assert failed.status == Status.NETWORK_ERROR and "no data" in failed.reason
    assert failed.sequences["TRCV_C"].endswith("0001 → 7006 → 0000 → 80C6")
    assert closed.status == Status.PARTNER_CLOSED
    assert not client.connected


def test_client_idle_timeout_without_reading(store: CertStore) -> None:
    """The active side's own idle timer runs in its watcher thread."""
    client_log = RecordLog()
    setup = standard_example(store, client_options={"idle_timeout": 0.2})
    with PassiveEndpoint(setup.server, address_map=setup.address_map):
        client = ActiveEndpoint(
            setup.client, address_map=setup.address_map, reconnect=False, on_event=client_log
        )
        with client:
            failed = client_log.wait_for(RecordKind.FAILED, timeout=WAIT)
    assert failed.status == Status.NETWORK_ERROR
    assert failed.sequences["TSEND_C"].endswith("0001 → 7004 → 80C6")


def test_expired_server_certificate_is_80e5_on_the_client(store: CertStore) -> None:
    ca_key = store.private_key(3)
    assert ca_key is not None
    factory = BadCertFactory(
        store.certificate(3), ca_key, now=dt.datetime.now(dt.UTC), address="192.168.0.1"
    )
    expired = factory.expired()
    resolved = dataclasses.replace(
        resolve(store, STANDARD_SERVER, device="PLC_1", now=NOW),
        own_cert=expired.cert,
        own_key=expired.key,
    )
    server_spec = EndpointSpec.from_block(
        STANDARD_SERVER,
        resolved=resolved,
        device=Device(name="PLC_1", own_addresses=("192.168.0.1",)),
        receive_len=258,
    )
    setup = standard_example(store)
    server_log = RecordLog()
    with PassiveEndpoint(server_spec, address_map=setup.address_map, on_event=server_log):
        client = ActiveEndpoint(setup.client, address_map=setup.address_map)
        with pytest.raises(TLSError) as caught:
            client.connect()
        client.close()
        alerted = server_log.wait_for(RecordKind.FAILED, timeout=WAIT)
    assert caught.value.status == Status.TLS_CERT_EXPIRED
    assert alerted.status == Status.TLS_CERT_EXPIRED  # the client's certificate_expired alert


def _no_client_cert(store: CertStore) -> EndpointSpec:
    block = dataclasses.replace(STANDARD_CLIENT, TLSClientCertRef=0)
    return EndpointSpec.from_block(
        block,
        store=store,
        device=Device(name="PLC_2", own_addresses=("192.168.0.2",)),
        device_name="PLC_2",
        receive_len=258,
    )


def _client_error(client: ActiveEndpoint) -> OucError:
    """Connect (TLS 1.3: the client finishes before the server checks it) and read: the error."""
    with pytest.raises(OucError) as caught:
        client.connect()
        client.receive(timeout=WAIT)
    client.close()
    return caught.value


@pytest.mark.parametrize("profile", ["compatible", "strict"])
def test_missing_client_certificate_is_80e2_on_the_server(store: CertStore, profile: str) -> None:
    """Compatible: a certificate_required alert; strict: a reset, as the firmware does."""
    setup = standard_example(store, server_options={"profile": profile})
    server_log = RecordLog()
    with PassiveEndpoint(setup.server, address_map=setup.address_map, on_event=server_log):
        client = ActiveEndpoint(
            _no_client_cert(store), address_map=setup.address_map, reconnect=False
        )
        error = _client_error(client)
        failed = server_log.wait_for(RecordKind.FAILED, timeout=WAIT)
    assert failed.status == Status.TLS_CERT_INVALID
    if profile == "compatible":
        assert not failed.reset
        assert error.status == Status.TLS_CERT_INVALID  # from the alert
    else:
        assert failed.reset and "(reset)" in failed.line()
        # No alert reached the client: it saw the TCP connection reset (16#80C5).
        assert isinstance(error, OucConnectionError) and error.status == Status.PARTNER_CLOSED


def test_a_client_key_the_cpu_does_not_support_is_80e2_on_the_server(
    store: CertStore, tmp_path: Path
) -> None:
    """The example's client certificate 11 again, with a P-521 key (a CPU supports P-256 and
    P-384, domain.md §3), from a Python ``ssl`` client: the mock PLC refuses it (16#80E2,
    rule key-type); the same client with certificate 11 itself is served."""
    ca_key = store.private_key(3)
    assert ca_key is not None
    eleven = store.certificate(11)
    key = ec.generate_private_key(ec.SECP521R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(eleven.subject)
        .issuer_name(eleven.issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(eleven.not_valid_before_utc)
        .not_valid_after(eleven.not_valid_after_utc)
    )
    for extension in eleven.extensions:
        if extension.oid != x509.oid.ExtensionOID.SUBJECT_KEY_IDENTIFIER:
            builder = builder.add_extension(extension.value, extension.critical)
    odd = builder.sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    pem = example_pem(store, tmp_path)
    cert_file, key_file = tmp_path / "p521.pem", tmp_path / "p521.key"
    cert_file.write_bytes(odd.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    setup = standard_example(store)
    log = RecordLog()
    with PassiveEndpoint(setup.server, address_map=setup.address_map, on_event=log) as server:
        for cert, key_path in ((pem.client_cert, pem.client_key), (cert_file, key_file)):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(pem.ca)
            ctx.check_hostname = False
            ctx.load_cert_chain(cert, key_path)
            # From 127.0.0.2: the example's map makes that PLC_2's plant address 192.168.0.2.
            plc2 = ("127.0.0.2", 0)
            with socket.create_connection(server.address, WAIT, source_address=plc2) as raw:
                try:
                    with ctx.wrap_socket(raw) as tls:
                        tls.sendall(bytes(258))
                        if cert == pem.client_cert:  # served
                            log.wait_for(RecordKind.CONNECTED, timeout=WAIT)
                        else:  # refused after the client's Finished (TLS 1.3): an alert
                            tls.recv(1)
                except (ssl.SSLError, OSError):
                    pass
        failed = log.wait_for(RecordKind.FAILED, timeout=WAIT)
    assert len(log.of(RecordKind.CONNECTED)) == 1  # certificate 11 itself was served
    assert failed.status == Status.TLS_CERT_INVALID
    assert "has key type EC-secp521r1" in (failed.reason or "")


class _InterruptedSend:
    """The link's real socket, except that the next ``sendall`` raises KeyboardInterrupt before
    sending: Ctrl-C landing between a TLS record and the socket."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self.armed = True

    def sendall(self, data: bytes, *args: int) -> None:
        if self.armed:
            self.armed = False
            raise KeyboardInterrupt
        self._sock.sendall(data, *args)

    def __getattr__(self, name: str) -> object:
        return getattr(self._sock, name)


@pytest.mark.parametrize("again", [False, True])
def test_ctrl_c_between_a_record_and_the_socket_resets_the_connection(
    setup: ExampleSetup, again: bool
) -> None:
    """A record was made and never sent: a close_notify after it would reach the partner as a
    bad record MAC (16#80E6, an integrity error that never happened). The connection is reset
    instead: the partner sees its peer gone (16#80C5), the client records 7000 and why."""
    server_log, client_log = RecordLog(), RecordLog()
    with PassiveEndpoint(
        setup.server, behaviour=echo(), address_map=setup.address_map, on_event=server_log
    ):
        client = ActiveEndpoint(setup.client, address_map=setup.address_map, on_event=client_log)
        client.connect()
        client.send(bytes(258))
        assert client.receive(timeout=WAIT) == bytes(258)
        link = client._link
        assert link is not None
        link.sock = _InterruptedSend(link.sock)  # type: ignore[assignment]
        with pytest.raises(KeyboardInterrupt):
            client.send(bytes(258))
        if again:  # the caller goes on: the cut connection is reset, a new one carries it
            client.send(bytes(258))
            assert client.receive(timeout=WAIT) == bytes(258)
            assert client.connection is not None and client.connection is not link.conn
        client.close()
        ended = server_log.wait_for(RecordKind.CLOSED, timeout=WAIT, count=1 + again)
    assert ended.status == Status.PARTNER_CLOSED
    assert not server_log.of(RecordKind.FAILED)
    assert len(server_log.of(RecordKind.CONNECTED)) == 1 + again
    closed = client_log.of(RecordKind.CLOSED)
    assert [r.status for r in closed] == [Status.NO_JOB] * (1 + again)
    assert "interrupted between a TLS record and the socket" in (closed[0].reason or "")


def test_a_send_refused_for_its_argument_leaves_the_connection_intact(setup: ExampleSetup) -> None:
    """Nothing was made, so nothing was cut: the close afterwards is the orderly one."""
    client_log = RecordLog()
    with PassiveEndpoint(setup.server, behaviour=echo(), address_map=setup.address_map):
        client = ActiveEndpoint(setup.client, address_map=setup.address_map, on_event=client_log)
        client.connect()
        with pytest.raises(TypeError):
            client.send(None)  # type: ignore[arg-type]
        client.close()
    assert [(r.status, r.reason) for r in client_log.of(RecordKind.CLOSED)] == [
        (Status.NO_JOB, "closed")
    ]


def test_connection_refused_is_80c4(setup: ExampleSetup) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: connecting is refused
        client = ActiveEndpoint(setup.client, connect_to=("127.0.0.1", port))
        with pytest.raises(OucConnectionError) as caught:
            client.connect()
        client.close()
    assert caught.value.status == Status.TEMPORARY
    assert client.last_error is caught.value


def test_a_refused_connect_tried_again_while_cont_stays_1_is_7002(setup: ExampleSetup) -> None:
    """TIA help, TSEND_C STATUS table: 7001 is the initial call only. connect() again after a
    refused one (CONT never went to 0: how ``ouc connect --control`` keeps trying) establishes
    again, 7002 on its line, not a second 7001."""
    log = RecordLog()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound, never listening: connecting is refused
        client = ActiveEndpoint(setup.client, connect_to=("127.0.0.1", port), on_event=log)
        for _ in range(2):
            with pytest.raises(OucConnectionError):
                client.connect()
        client.close()
    statuses = [r.status for r in log.of(RecordKind.CONNECTING)]
    assert statuses == [Status.CONNECTING, Status.IN_PROGRESS], log.records


def test_receive_timeout_has_no_plc_status_and_the_connection_stays(setup: ExampleSetup) -> None:
    """TRCV_C would keep waiting in 7006: the caller's limit is no PLC code."""
    with (
        PassiveEndpoint(setup.server, address_map=setup.address_map),
        ActiveEndpoint(setup.client, address_map=setup.address_map) as client,
    ):
        with pytest.raises(TimeoutError) as caught:
            client.receive(timeout=0.2)
        assert isinstance(caught.value, WaitTimeoutError) and caught.value.status is None
        assert client.connected
        assert client.trcv is not None and client.trcv.STATUS == Status.RECEIVING
        assert {status for _, _, status in client.status_history()} <= ALLOWED_STATUS
        client.send(bytes(258))


def test_reestablished_by_itself_with_session_resumption(setup: ExampleSetup) -> None:
    client_log = RecordLog()
    with PassiveEndpoint(setup.server, behaviour=echo_or_close, address_map=setup.address_map):
        client = ActiveEndpoint(setup.client, address_map=setup.address_map, on_event=client_log)
        with client:
            client.send(bytes(258))
            assert client.receive(timeout=WAIT) == bytes(258)  # the ticket came before this
            assert client.session is not None
            client.send(bytes([CLOSE]) * 258)  # the server closes; nobody reads here
            client_log.wait_for(RecordKind.CONNECTED, timeout=WAIT, count=2)
            assert client.reconnects == 1
            info = client.info
            assert info is not None and info.resumed
            assert info.peer_subject == "CN=PLC_1"  # still reported on a resumed connection
            client.send(b"\x07" * 258)
            assert client.receive(timeout=WAIT) == b"\x07" * 258
    closed = client_log.of(RecordKind.CLOSED)[0]
    assert closed.status == Status.PARTNER_CLOSED
    sequence = client.format_sequence("TSEND_C")
    assert sequence.startswith("7000 → 7001 → 7002 → 0001 → 7004 → 7005 → 0000")
    # The partner closed: an idle TSEND_C hears it from T_DIAG (80A3), and with CONT still 1
    # the connection is re-established without a new initial call (7002 → 0001, no 7001).
    assert "80A3 → 7002 → 0001 → 7004" in sequence
    assert sequence.count("7001") == 1


def test_a_connected_record_comes_after_the_endpoint_counted_the_connection(
    setup: ExampleSetup,
) -> None:
    """Whoever a CONNECTED record reaches (the on_event callback, a thread it wakes) sees the
    connection counted in ``connections`` and ``reconnects`` — also for a re-establishment
    by the watcher thread, which a test waiting for the record would otherwise race."""
    log = RecordLog()
    counted: list[tuple[int, int]] = []
    client: ActiveEndpoint | None = None

    def on_event(record: EndpointRecord) -> None:
        if record.kind is RecordKind.CONNECTED and client is not None:
            counted.append((client.connections, client.reconnects))
        log(record)

    with PassiveEndpoint(setup.server, behaviour=echo_or_close, address_map=setup.address_map):
        client = ActiveEndpoint(setup.client, address_map=setup.address_map, on_event=on_event)
        with client:
            client.send(bytes([CLOSE]) * 258)  # the server closes; the watcher re-establishes
            log.wait_for(RecordKind.CONNECTED, timeout=WAIT, count=2)
    assert counted[:2] == [(1, 0), (2, 1)]


def test_drop_seen_inside_receive_is_reestablished_there(setup: ExampleSetup) -> None:
    client_log = RecordLog()
    with PassiveEndpoint(setup.server, behaviour=echo_or_close, address_map=setup.address_map):
        client = ActiveEndpoint(setup.client, address_map=setup.address_map, on_event=client_log)
        with client:
            client.send(bytes([CLOSE]) * 258)
            # The drop and the new connection happen in here; on a loaded machine they may
            # take more than one receive's second (bounded: WAIT in all).
            deadline = time.monotonic() + WAIT
            for _ in range(int(WAIT) + 1):
                with pytest.raises(WaitTimeoutError) as caught:
                    client.receive(timeout=1.0)
                assert caught.value.status is None
                if client.reconnects or time.monotonic() > deadline:
                    break
            assert client.connected and client.reconnects == 1
    assert [r.kind for r in client_log.records][:4] == [
        RecordKind.CONNECTING,
        RecordKind.CONNECTED,
        RecordKind.CLOSED,
        RecordKind.CONNECTING,
    ]
    # The first attempt is the initial call (7001); the re-establishment while CONT stays 1
    # shows 7002 on its line as in the STATUS sequence (TIA help, TSEND_C STATUS table).
    first, again = client_log.of(RecordKind.CONNECTING)[:2]
    assert (first.status, again.status) == (Status.CONNECTING, Status.IN_PROGRESS)
    assert "80A3 → 7002" in client.format_sequence("TSEND_C")


def test_server_restart_on_the_same_port(setup: ExampleSetup) -> None:
    """A PLC that reboots: the client retries with backoff until the server is back."""
    client_log = RecordLog()
    first = PassiveEndpoint(setup.server, behaviour=echo(), address_map=setup.address_map)
    first.start()
    port = first.port
    client = ActiveEndpoint(
        setup.client, address_map=setup.address_map, retry_delay=0.05, on_event=client_log
    )
    try:
        client.connect()
        first.stop()
        client_log.wait_for(RecordKind.RETRYING, timeout=WAIT)  # refused while it is down
        second = PassiveEndpoint(
            setup.server,
            behaviour=echo(),
            listen=("127.0.0.1", port),
            address_map=setup.address_map,
        )
        with second:
            client_log.wait_for(RecordKind.CONNECTED, timeout=WAIT, count=2)
            client.send(b"\x09" * 258)
            assert client.receive(timeout=WAIT) == b"\x09" * 258
    finally:
        client.close()
        first.stop()
    # Refused (16#80C4) while nothing listens; reset (16#80C5) if it came while stopping.
    retry = client_log.of(RecordKind.RETRYING)[0]
    assert retry.status in (Status.TEMPORARY, Status.PARTNER_CLOSED)


def test_send_waits_for_reestablishment_and_disconnect_stops_it(setup: ExampleSetup) -> None:
    with PassiveEndpoint(setup.server, behaviour=echo_or_close, address_map=setup.address_map):
        client = ActiveEndpoint(setup.client, address_map=setup.address_map)
        with client:
            client.send(bytes([CLOSE]) * 258)
            client.send(b"\x01" * 258, timeout=WAIT)  # on the old or on the new connection
            client.disconnect()
            assert not client.connected
            with pytest.raises(OucConnectionError) as caught:
                client.send(bytes(258))
            assert caught.value.status == Status.NO_SUCH_CONNECTION
            client.connect()
            client.send(b"\x02" * 258)
            # The echo of \x01 is there first when \x01 went out on the new connection.
            frames = [client.receive(timeout=WAIT)]
            if frames[0] != b"\x02" * 258:
                frames.append(client.receive(timeout=WAIT))
            assert frames[-1] == b"\x02" * 258
            assert frames[:-1] in ([], [b"\x01" * 258])


def test_close_from_another_thread_wakes_a_blocked_receive(setup: ExampleSetup) -> None:
    import threading

    with PassiveEndpoint(setup.server, address_map=setup.address_map):
        client = ActiveEndpoint(setup.client, address_map=setup.address_map)
        client.connect()
        errors: list[OucError] = []
        started = threading.Event()

        def wait_forever() -> None:
            started.set()
            try:
                client.receive()
            except OucError as exc:
                errors.append(exc)

        reader = threading.Thread(target=wait_forever)
        reader.start()
        started.wait(WAIT)
        client.close()
        reader.join(WAIT)
        assert not reader.is_alive()
    assert errors and errors[0].status == Status.NO_SUCH_CONNECTION
