"""A mock PLC under hostile peers: it stays up, serves the next client, leaks nothing, says why.

Each test points one kind of misbehaving peer at the passive endpoint (the sample server block:
mutual TLS, echo, 258-byte fixed frames) on both drivers, then asserts the same four things:
the endpoint logged the status a PLC would show for that connection, a well-behaved client
(the sample client block) is still served, and after stopping no thread and no file descriptor
is left over. Timeouts are short (0.3 s) so the suite stays fast; waits wake on records.
"""

from __future__ import annotations

import os
import socket
import ssl
import struct
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from OpenSSL import SSL

from ouc.drivers import RecordKind
from ouc.errors import Status
from ouc.framing import ConnectionConfirm, ConnectionRequest, DataTPDU, TpduDecoder, encode_message
from ouc.params import ISO_ON_TCP_EXAMPLE
from ouc.pytest_plugin import ActiveFactory
from ouc.strategies import client_hello, tls_garbage

FRAME = 258
SHORT = 0.3  # seconds: handshake and idle timeouts of these tests
WAIT = 10.0
ALERT, PROTOCOL_VERSION = 0x15, 0x46
# What ending a connection that never completed a handshake may be reported as: a record the
# server could not parse (80E0), a handshake it refused (80E1, 80E7), or the partner closing
# before a whole record arrived (80C5).
HANDSHAKE_ENDINGS = {0x80E0, 0x80E1, 0x80E7, 0x80C5}
HYPOTHESIS = settings(
    max_examples=12,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


def _not_a_record(data: bytes) -> bool:
    # Content types 20..24 start a TLS record, bit 7 an SSLv2 hello, and OpenSSL takes any
    # header with major version 3 in its second byte for a record whose body is to come:
    # anything else is garbage the server can tell from the first two bytes.
    return not (0x14 <= data[0] <= 0x18 or data[0] & 0x80 or data[1] == 3)


def test_random_bytes_instead_of_a_client_hello(
    server: Any, hostile: Any, ouc_active: ActiveFactory
) -> None:
    plc = server(handshake_timeout=2.0)

    @HYPOTHESIS
    @given(st.binary(min_size=5, max_size=600).filter(_not_a_record))
    def run(garbage: bytes) -> None:
        with hostile.raw(plc.address) as sock:
            sock.sendall(garbage)
            record = hostile.ended(plc.log, hostile.peer_text(sock))
            assert record.kind is RecordKind.FAILED
            assert record.status == Status.TLS_BAD_MESSAGE, record.line()
            reply = hostile.read_to_eof(sock)
        # No handshake answer: at most an alert (OpenSSL sends none for a first record whose
        # version it does not know), then the close.
        assert reply[:1] in (b"", bytes([ALERT]))

    run()
    hostile.finish(ouc_active, plc)


def test_tls_garbage_of_every_kind(server: Any, hostile: Any, ouc_active: ActiveFactory) -> None:
    plc = server(handshake_timeout=2.0)

    @HYPOTHESIS
    @given(tls_garbage())
    def run(garbage: bytes) -> None:
        with hostile.raw(plc.address) as sock:
            sock.sendall(garbage)
            sock.shutdown(socket.SHUT_WR)  # and nothing more: a truncated hello ends here
            record = hostile.ended(plc.log, hostile.peer_text(sock))
            hostile.read_to_eof(sock)
        assert record.status in HANDSHAKE_ENDINGS, record.line()

    run()
    hostile.finish(ouc_active, plc)


def test_a_handshake_that_stops_halfway_times_out(
    server: Any, hostile: Any, ouc_active: ActiveFactory
) -> None:
    plc = server(handshake_timeout=SHORT)
    with hostile.raw(plc.address) as sock:
        sock.sendall(client_hello(0x0304))  # a real TLS 1.3 hello, then never a Finished
        first = sock.recv(5)
        assert first[:1] == b"\x16"  # the server answered with its handshake flight
        record = hostile.ended(plc.log, hostile.peer_text(sock))
        hostile.read_to_eof(sock)
    # Inference: the help has no timeout code; 80C4 "cannot be established now".
    assert (record.kind, record.status) == (RecordKind.FAILED, Status.TEMPORARY), record.line()
    assert record.sequences["TRCV_C"].endswith("7002 → 80C4"), record.line()
    hostile.finish(ouc_active, plc)


def test_a_peer_that_connects_and_never_sends(
    server: Any, hostile: Any, ouc_active: ActiveFactory
) -> None:
    plc = server(handshake_timeout=SHORT)
    with hostile.raw(plc.address) as sock:
        record = hostile.ended(plc.log, hostile.peer_text(sock))
        assert hostile.read_to_eof(sock) == b""  # dropped without a byte
    assert (record.kind, record.status) == (RecordKind.FAILED, Status.TEMPORARY)
    hostile.finish(ouc_active, plc)


def test_an_established_peer_that_goes_silent_hits_the_idle_timeout(
    server: Any, hostile: Any, ouc_active: ActiveFactory
) -> None:
    plc = server(idle_timeout=SHORT)
    with hostile.tls(plc.address) as tls:
        peer = hostile.peer_text(tls)
        plc.log.wait_for(lambda r: r.peer == peer and r.kind is RecordKind.CONNECTED, timeout=WAIT)
        record = hostile.ended(plc.log, peer)
        tls.settimeout(WAIT)
        with _Closing():
            assert tls.recv(100) == b""  # close_notify, then FIN
    # Inference: a silent partner is a network error, partner unreachable (80C6).
    assert (record.kind, record.status) == (RecordKind.FAILED, Status.NETWORK_ERROR)
    assert record.sequences["TRCV_C"].endswith("7006 → 80C6"), record.line()
    hostile.finish(ouc_active, plc)


class _Closing:
    """Context manager: the idle drop may reach the client as close_notify or as EOF."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool:
        return exc_type is not None and issubclass(exc_type, ssl.SSLEOFError | ConnectionError)


# --------------------------------------------------------------------------- resets


def test_abrupt_reset_mid_handshake(server: Any, hostile: Any, ouc_active: ActiveFactory) -> None:
    plc = server(handshake_timeout=5.0)
    sock = hostile.raw(plc.address)
    peer = hostile.peer_text(sock)
    sock.sendall(client_hello(0x0304))
    assert sock.recv(5)[:1] == b"\x16"  # mid-handshake: the server flight is on its way
    hostile.reset(sock)
    record = hostile.ended(plc.log, peer)
    assert record.status in (Status.PARTNER_CLOSED, Status.NETWORK_ERROR), record.line()
    assert "within" not in record.reason  # seen at once, not at the handshake timeout
    hostile.finish(ouc_active, plc)


def test_abrupt_reset_mid_frame(server: Any, hostile: Any, ouc_active: ActiveFactory) -> None:
    plc = server()
    tls = hostile.tls(plc.address)
    peer = hostile.peer_text(tls)
    plc.log.wait_for(lambda r: r.peer == peer and r.kind is RecordKind.CONNECTED, timeout=WAIT)
    tls.sendall(os.urandom(FRAME // 2))  # half a frame, then the cable is pulled
    hostile.reset(tls)
    record = hostile.ended(plc.log, peer)
    assert record.status in (Status.PARTNER_CLOSED, Status.NETWORK_ERROR), record.line()
    # The half frame was never delivered as a frame (nothing failed a receive either).
    assert not [r for r in plc.log.records if r.kind is RecordKind.RECEIVE_FAILED]
    hostile.finish(ouc_active, plc)


# --------------------------------------------------------------------------- old TLS, renegotiation


@pytest.mark.parametrize("version", [0x0300, 0x0301, 0x0302], ids=["SSLv3", "TLS1.0", "TLS1.1"])
@pytest.mark.parametrize("profile", ["compatible", "strict"])
def test_an_old_protocol_hello_is_refused(
    server: Any, hostile: Any, ouc_active: ActiveFactory, version: int, profile: str
) -> None:
    plc = server(profile=profile)
    with hostile.raw(plc.address) as sock:
        sock.sendall(client_hello(version))
        record = hostile.ended(plc.log, hostile.peer_text(sock))
        reply = hostile.read_to_eof(sock)
    assert (record.kind, record.status) == (RecordKind.FAILED, Status.TLS_HANDSHAKE_FAILURE)
    if profile == "compatible":
        # A fatal protocol_version alert, in the version the client asked for.
        assert reply[0] == ALERT and reply[5:7] == bytes([2, PROTOCOL_VERSION]), reply.hex()
    else:
        assert reply == b"" and record.reset  # the firmware's way: a TCP reset, no alert
    hostile.finish(ouc_active, plc)


def test_a_tls11_client_of_the_system_openssl_is_refused(
    server: Any, hostile: Any, ouc_active: ActiveFactory
) -> None:
    plc = server()
    context = hostile.tls_context(
        minimum_version=ssl.TLSVersion.TLSv1, maximum_version=ssl.TLSVersion.TLSv1_1
    )
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let OpenSSL 3.0 offer TLS 1.0/1.1 at all
    sock = hostile.raw(plc.address)
    peer = hostile.peer_text(sock)
    with pytest.raises(ssl.SSLError, match=r"(?i)protocol version|unsupported protocol"):
        context.wrap_socket(sock)
    sock.close()
    record = hostile.ended(plc.log, peer)
    assert (record.kind, record.status) == (RecordKind.FAILED, Status.TLS_HANDSHAKE_FAILURE)
    hostile.finish(ouc_active, plc)


def test_a_client_that_renegotiates_is_refused(
    server: Any, hostile: Any, ouc_active: ActiveFactory
) -> None:
    plc = server()
    context = SSL.Context(SSL.TLS_CLIENT_METHOD)
    context.set_max_proto_version(SSL.TLS1_2_VERSION)  # TLS 1.3 has no renegotiation
    context.use_certificate_file(str(hostile.pem.client_cert))
    context.use_privatekey_file(str(hostile.pem.client_key))
    context.load_verify_locations(str(hostile.pem.ca))
    context.set_verify(SSL.VERIFY_PEER)
    sock = hostile.raw(plc.address)
    sock.settimeout(None)  # pyOpenSSL wants a blocking socket; bound it with SO_RCVTIMEO
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", int(WAIT), 0))
    peer = hostile.peer_text(sock)
    tls = SSL.Connection(context, sock)
    tls.set_connect_state()
    try:
        tls.do_handshake()
        assert tls.get_protocol_version_name() == "TLSv1.2"
        frame = os.urandom(FRAME)
        tls.sendall(frame)
        assert _recv_exactly(tls, FRAME) == frame
        assert tls.renegotiate()
        with pytest.raises(SSL.Error, match="no renegotiation"):
            tls.do_handshake()
    finally:
        sock.close()
    record = hostile.ended(plc.log, peer)
    assert (record.kind, record.status) == (RecordKind.FAILED, Status.TLS_HANDSHAKE_FAILURE)
    hostile.finish(ouc_active, plc)


def _recv_exactly(tls: SSL.Connection, size: int) -> bytes:
    data = b""
    for _ in range(size):  # at least one byte per read: bounded
        if len(data) >= size:
            break
        data += tls.recv(size - len(data))
    return data


# --------------------------------------------------------------------------- floods


def test_500_connections_at_once(server: Any, hostile: Any, ouc_active: ActiveFactory) -> None:
    limit, total = 64, 500
    # A backlog above the flood: the test is about the endpoint's limit, not the kernel's
    # SYN queue (with the default of 128 the kernel would drop SYNs and the flood would take
    # a retransmission second longer; it would still be served).
    plc = server(max_connections=limit, handshake_timeout=WAIT, backlog=1024)
    socks = []
    try:
        for _ in range(total):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            socks.append(sock)
            sock.setblocking(False)
            sock.connect_ex(plc.address)  # all 500 in flight at once
        # Every connection past the limit is refused: wait until each refused peer has its
        # LIMIT record (bounded by WAIT; one peer may be recorded twice, so count peers).
        deadline = time.monotonic() + WAIT
        want = total - limit
        while True:
            refused = plc.log.wait_for(
                RecordKind.LIMIT, timeout=max(0.0, deadline - time.monotonic()), count=want
            )
            limited = {r.peer for r in plc.log.of(RecordKind.LIMIT)}
            if len(limited) >= total - limit:
                break
            want = len(plc.log.of(RecordKind.LIMIT)) + 1
        assert refused.status == Status.CONNECTION_LIMIT
        assert len(limited) == total - limit
        admitted = [s for s in socks if hostile.peer_text(s) not in limited]
        assert len(admitted) == limit
        for sock in socks:
            sock.setblocking(True)
        for sock in socks:
            if sock not in admitted:
                assert hostile.read_to_eof(sock) == b""  # reset (or closed) without a byte
        # The 64 within the limit are served: a full mutual-TLS handshake and an echo each.
        context = hostile.tls_context()
        for sock in admitted:
            sock.settimeout(WAIT)
            with context.wrap_socket(sock) as tls:
                frame = os.urandom(FRAME)
                tls.sendall(frame)
                assert _ssl_recv_exactly(tls, FRAME) == frame
    finally:
        for sock in socks:
            sock.close()
    assert len(plc.log.of(RecordKind.CONNECTED)) == limit
    hostile.finish(ouc_active, plc)


def _ssl_recv_exactly(tls: ssl.SSLSocket, size: int) -> bytes:
    data = b""
    for _ in range(size):
        if len(data) >= size:
            break
        chunk = tls.recv(size - len(data))
        if not chunk:
            break
        data += chunk
    return data


# --------------------------------------------------------------------------- frames too large


def _next_tpdu(sock: socket.socket, decoder: TpduDecoder) -> Any:
    for _ in range(1000):  # bounded: each round reads at least one byte or fails
        tpdu = decoder.next_tpdu()
        if tpdu is not None:
            return tpdu
        chunk = sock.recv(65536)
        assert chunk, "the endpoint closed the ISO-on-TCP connection"
        decoder.feed(chunk)
    raise AssertionError("no TPDU")


def test_an_iso_message_larger_than_the_receive_area_fails_that_receive_only(
    server: Any, hostile: Any, ouc_active: ActiveFactory
) -> None:
    area = 100
    plc = server(ISO_ON_TCP_EXAMPLE, receive_len=area, check_block=False)
    with hostile.raw(plc.address) as sock:
        peer = hostile.peer_text(sock)
        decoder = TpduDecoder()
        sock.sendall(ConnectionRequest(b"OUC-CLI", b"OUC-SRV", 1024, src_ref=7).encode())
        assert isinstance(_next_tpdu(sock, decoder), ConnectionConfirm)
        sock.sendall(encode_message(os.urandom(area + 50), 128))  # two DT TPDUs, too large
        failed = plc.log.wait_for(
            lambda r: r.peer == peer and r.kind is RecordKind.RECEIVE_FAILED, timeout=WAIT
        )
        assert failed.status == Status.RECEIVE_AREA_TOO_SMALL
        # TRCV_C failed that one job; the connection stays and the next message is echoed.
        message = os.urandom(area)
        sock.sendall(encode_message(message, 1024))
        echoed = _next_tpdu(sock, decoder)
        assert isinstance(echoed, DataTPDU) and echoed.eot and echoed.data == message
    record = hostile.ended(plc.log, peer)
    assert record.kind is RecordKind.CLOSED
    hostile.assert_clean(ouc_active.close_all, plc.stop)


def test_more_than_len_bytes_on_tcp_are_just_more_frames(
    server: Any, hostile: Any, ouc_active: ActiveFactory
) -> None:
    """On TCP (TLS or not) there is no message to be too large: TRCV_C with ADHOC FALSE cuts
    the stream into LEN-byte frames, so 600 bytes are two frames now and 84 bytes that wait for
    the rest of a third (and TRCV_C never reports 16#8088 for it)."""
    plc = server()
    with hostile.tls(plc.address) as tls:
        stream = os.urandom(3 * FRAME)
        tls.sendall(stream[:600])
        assert _ssl_recv_exactly(tls, 2 * FRAME) == stream[: 2 * FRAME]
        tls.sendall(stream[600:])
        assert _ssl_recv_exactly(tls, FRAME) == stream[2 * FRAME :]
        peer = hostile.peer_text(tls)
    hostile.ended(plc.log, peer)
    assert not plc.log.of(RecordKind.RECEIVE_FAILED)
    hostile.finish(ouc_active, plc)
